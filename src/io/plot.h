/* plot.h: line charts (training curves) written as PNG files with libpng.
 *
 * A chart is a title and one or more panels stacked vertically. Each panel is a framed plot with
 * 1-2-5 ticks and numeric labels, optional log-scale y, axis labels, a panel title and a legend,
 * its series drawn as 2-px anti-aliased polylines. NaN points (and values <= 0 on a log axis) are
 * skipped and break the line; a lone point is a dot. The legend goes to the corner of the plot
 * that covers the fewest line pixels (and is left out when it does not fit). Text uses an
 * embedded 5x7 bitmap font (printable ASCII, others drawn as '?') at scale 2.
 */
#ifndef IJEPA_IO_PLOT_H
#define IJEPA_IO_PLOT_H

#include "io/canvas.h"

#include <stdint.h>

typedef struct {
    const char *label;  /* legend text; NULL: not in the legend */
    const double *x;    /* (n) */
    const double *y;    /* (n) */
    int n;
    uint32_t rgb;       /* 0xRRGGBB */
} IjSeries;

/* Axis ranges: when xmin != xmax, each finite bound is fixed and a NaN bound is automatic;
 * xmin == xmax (e.g. both 0 in a zero-initialised panel) makes both automatic. The same for y.
 * Automatic ranges span the data plus a 4% margin. */
typedef struct {
    const char *title, *xlabel, *ylabel;  /* each may be NULL */
    const IjSeries *series;
    int nseries;
    int log_y;          /* 1: log10 y axis */
    double xmin, xmax;
    double ymin, ymax;
} IjPanel;

/* Renders the chart (width x height pixels, 320..8192 x 120..8192) and writes it to path
 * atomically (a temporary file, then rename). title may be NULL. Returns 0, or -1 with
 * "<path>: <problem>" (bad panel options, a chart too small for its panels, I/O or libpng errors). */
int ij_plot_png(const char *path, const char *title, const IjPanel *panels, int npanels, int width,
                int height);

/* One axis of a laid-out panel: data value lo maps to pixel coordinate p_lo, hi to p_hi
 * (for y, p_lo > p_hi). Pixel (i, j) covers [i, i+1) x [j, j+1). */
typedef struct {
    double lo, hi;
    int log;
    double p_lo, p_hi;
} IjPlotAxis;

/* The continuous pixel coordinate of v on the axis (row floor(result) for a y axis). */
double ij_plot_map(const IjPlotAxis *a, double v);

#define IJ_PLOT_MAX_TICKS 16

/* The tick values ij_plot_png puts on axis a given room for max_ticks (2..IJ_PLOT_MAX_TICKS):
 * multiples of a 1-2-5 step; on a log axis {1,2,5} x 10^k (or powers of ten, or {1..9} x 10^k).
 * Writes them to values (IJ_PLOT_MAX_TICKS) in increasing order and returns how many. */
int ij_plot_ticks(const IjPlotAxis *a, int max_ticks, double *values);

/* The axes that ij_plot_png gives panel `index` of the same chart. Returns 0 or -1 (message). */
int ij_plot_panel_axes(const char *title, const IjPanel *panels, int npanels, int width, int height,
                       int index, IjPlotAxis *x, IjPlotAxis *y);

/* A ten-colour palette for series (matplotlib's "tab10"); i wraps around. */
uint32_t ij_plot_color(int i);

#endif
