/* plot.c: line charts rendered into an RGB buffer and written as PNG with libpng; see plot.h.
 *
 * Layout: the chart title on top, then the panels in equal horizontal bands. In a panel the frame
 * sits at pixel columns L..R and rows T..B; the margins hold the panel title, tick labels and the
 * axis labels (the y label rotated). Series are stroked into a per-series coverage buffer
 * (distance to each segment, so joins do not darken) and blended once, which gives 2-px
 * anti-aliased lines; the legend then goes to the corner of the plot with the fewest line pixels.
 */
#include "io/plot.h"

#include "core/error.h"
#include "io/font5x7.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_SCALE 2
#define TITLE_SCALE 3
#define TICK_LEN 5
#define MAX_TICKS IJ_PLOT_MAX_TICKS
#define LINE_WIDTH 2.0

#define COLOR_TEXT 0x202020u
#define COLOR_FRAME 0x000000u
#define COLOR_GRID 0xe4e4e4u
#define COLOR_LEGEND_FRAME 0xa0a0a0u
#define COLOR_WHITE 0xffffffu

/* ---- axes: ranges, ticks, labels --------------------------------------------------------------- */

double ij_plot_map(const IjPlotAxis *a, double v)
{
    double t = a->log ? (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo)) : (v - a->lo) / (a->hi - a->lo);
    return a->p_lo + t * (a->p_hi - a->p_lo);
}

typedef struct {
    int n;
    double v[MAX_TICKS];
    char label[MAX_TICKS][24];
} Ticks;

/* The range of one axis of panel p: data extent (finite values, > 0 on a log axis) with a 4%
 * margin at automatic ends; see IjPanel for which bounds are fixed. */
static int axis_range(const char *who, int index, const IjPanel *p, int is_y, double *lo_out, double *hi_out)
{
    const char *name = is_y ? "y" : "x";
    int logscale = is_y && p->log_y;
    double fmin = is_y ? p->ymin : p->xmin, fmax = is_y ? p->ymax : p->xmax;
    int fix_lo = fmin != fmax && isfinite(fmin), fix_hi = fmin != fmax && isfinite(fmax);
    if (logscale && ((fix_lo && fmin <= 0) || (fix_hi && fmax <= 0)))
        return ij_error("%s: panel %d: a log-scale %s axis needs bounds above 0", who, index + 1, name);

    double dmin = INFINITY, dmax = -INFINITY;
    for (int s = 0; s < p->nseries; s++) {
        const IjSeries *ser = &p->series[s];
        for (int i = 0; i < ser->n; i++) {
            double v = is_y ? ser->y[i] : ser->x[i], other = is_y ? ser->x[i] : ser->y[i];
            if (!isfinite(v) || !isfinite(other) || (logscale && v <= 0) || (!is_y && p->log_y && other <= 0)) continue;
            if (v < dmin) dmin = v;
            if (v > dmax) dmax = v;
        }
    }
    if (dmin > dmax) dmin = dmax = fix_lo ? fmin : fix_hi ? fmax : logscale ? 1 : 0; /* no data */
    /* Work in log10 space for a log axis. */
    if (logscale) dmin = log10(dmin), dmax = log10(dmax);
    if (dmin == dmax) {
        double d = logscale ? log10(2.0) : (dmin != 0 ? 0.1 * fabs(dmin) : 1);
        dmin -= d, dmax += d;
    }
    double pad = 0.04 * (dmax - dmin);
    double lo = dmin - pad, hi = dmax + pad;
    if (logscale) lo = pow(10, lo), hi = pow(10, hi);
    if (fix_lo) lo = fmin;
    if (fix_hi) hi = fmax;
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi))
        return ij_error("%s: panel %d: the %s range [%g, %g] is empty or not finite", who, index + 1, name, lo, hi);
    *lo_out = lo, *hi_out = hi;
    return 0;
}

/* Multiples of the smallest 1-2-5 step that puts at most max_ticks of them in [lo, hi]. */
static void linear_ticks(double lo, double hi, int max_ticks, Ticks *t)
{
    static const double mult[3] = {1, 2, 5};
    double step = pow(10, floor(log10((hi - lo) / max_ticks)));
    double s = step;
    long i0 = 0, i1 = -1;
    for (int k = 0; k < 60; k++) {
        s = step * mult[k % 3] * pow(10, k / 3);
        i0 = (long)ceil(lo / s - 1e-9);
        i1 = (long)floor(hi / s + 1e-9);
        if (i1 - i0 + 1 <= max_ticks) break;
    }
    int decimals = s >= 1 ? 0 : (int)ceil(-log10(s) - 1e-9);
    t->n = 0;
    for (long i = i0; i <= i1 && t->n < MAX_TICKS; i++) {
        double v = (double)i * s;
        if (fabs(v) < s * 1e-9) v = 0;
        t->v[t->n] = v;
        if (decimals > 6 || fabs(v) >= 1e6) snprintf(t->label[t->n], sizeof t->label[0], "%.3g", v);
        else snprintf(t->label[t->n], sizeof t->label[0], "%.*f", decimals, v);
        t->n++;
    }
}

/* Log-axis ticks: {1,2,5} x 10^k, or powers of ten (thinned) when those are too many, or
 * {1..9} x 10^k when they are too few; linear ticks when even those give fewer than two. */
static void log_ticks(double lo, double hi, int max_ticks, Ticks *t)
{
    static const int sets[3][10] = {{1, 0}, {1, 2, 5, 0}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 0}};
    int k0 = (int)floor(log10(lo)), k1 = (int)ceil(log10(hi));
    int count[3];
    for (int s = 0; s < 3; s++) {
        count[s] = 0;
        for (int k = k0; k <= k1; k++)
            for (int m = 0; sets[s][m]; m++) {
                double v = sets[s][m] * pow(10, k);
                if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) count[s]++;
            }
    }
    int set = 1, every = 1;
    if (count[1] > max_ticks) {
        set = 0;
        every = (count[0] + max_ticks - 1) / max_ticks;
    } else if (count[1] < 3 && count[2] <= max_ticks) {
        set = 2;
    }
    if (count[set] < 2) {
        linear_ticks(lo, hi, max_ticks, t);
        return;
    }
    t->n = 0;
    for (int k = k0; k <= k1; k++) {
        if (set == 0 && ((k % every) + every) % every != 0) continue;
        for (int m = 0; sets[set][m] && t->n < MAX_TICKS; m++) {
            double v = sets[set][m] * pow(10, k);
            if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
            t->v[t->n] = v;
            snprintf(t->label[t->n], sizeof t->label[0], "%g", v);
            t->n++;
        }
    }
}

static void make_ticks(const IjPlotAxis *a, int max_ticks, Ticks *t)
{
    if (max_ticks < 2) max_ticks = 2;
    if (max_ticks > MAX_TICKS) max_ticks = MAX_TICKS;
    if (a->log) log_ticks(a->lo, a->hi, max_ticks, t);
    else linear_ticks(a->lo, a->hi, max_ticks, t);
}

int ij_plot_ticks(const IjPlotAxis *a, int max_ticks, double *values)
{
    if (!(a->lo < a->hi) || !isfinite(a->lo) || !isfinite(a->hi) || (a->log && a->lo <= 0)) return 0;
    Ticks t;
    make_ticks(a, max_ticks, &t);
    memcpy(values, t.v, (size_t)t.n * sizeof(double));
    return t.n;
}

static int max_label_width(const Ticks *t)
{
    int w = 0;
    for (int i = 0; i < t->n; i++) {
        int tw = ij_canvas_text_width(t->label[i], TEXT_SCALE);
        if (tw > w) w = tw;
    }
    return w;
}

/* ---- layout ----------------------------------------------------------------------------------- */

typedef struct {
    int L, R, T, B;     /* frame columns and rows */
    int top, bottom;    /* the panel's band of rows [top, bottom) */
    IjPlotAxis x, y;
    Ticks xt, yt;
} Layout;

#define TEXT_H (IJ_FONT_H * TEXT_SCALE)          /* a line of text, descenders included */
#define CAP_H (IJ_FONT_ASCENT * TEXT_SCALE)      /* capitals and digits */

static int chart_top(const char *title)
{
    return title && *title ? 10 + IJ_FONT_H * TITLE_SCALE + 10 : 4;
}

static int check_chart(const char *who, const IjPanel *panels, int npanels, int width, int height)
{
    if (width < 320 || width > 8192 || height < 120 || height > 8192)
        return ij_error("%s: image size %dx%d is out of range (320..8192 x 120..8192)", who, width, height);
    if (!panels || npanels < 1) return ij_error("%s: no panels to plot", who);
    for (int p = 0; p < npanels; p++) {
        if (panels[p].nseries < 0 || (panels[p].nseries > 0 && !panels[p].series))
            return ij_error("%s: panel %d: bad series list", who, p + 1);
        for (int s = 0; s < panels[p].nseries; s++) {
            const IjSeries *ser = &panels[p].series[s];
            if (ser->n < 0 || (ser->n > 0 && (!ser->x || !ser->y)))
                return ij_error("%s: panel %d, series %d: no data for %d points", who, p + 1, s + 1, ser->n);
        }
    }
    return 0;
}

static int layout_panel(const char *who, const char *title, const IjPanel *panels, int npanels, int width,
                        int height, int index, Layout *lay)
{
    const IjPanel *p = &panels[index];
    int top = chart_top(title);
    int band = (height - top) / npanels;
    lay->top = top + index * band;
    lay->bottom = lay->top + band;

    lay->T = lay->top + 8 + (p->title && *p->title ? TEXT_H + 8 : 0);
    lay->B = lay->bottom - 1 - (TICK_LEN + 4 + TEXT_H + (p->xlabel && *p->xlabel ? 8 + TEXT_H : 0) + 10);
    if (lay->B - lay->T < 40)
        return ij_error("%s: a %dx%d image is too small for %d panels", who, width, height, npanels);

    double lo, hi;
    if (axis_range(who, index, p, 1, &lo, &hi) != 0) return -1;
    lay->y = (IjPlotAxis){lo, hi, p->log_y != 0, lay->B + 0.5, lay->T + 0.5};
    make_ticks(&lay->y, (lay->B - lay->T) / 32 + 1, &lay->yt);

    lay->L = 10 + (p->ylabel && *p->ylabel ? TEXT_H + 10 : 0) + max_label_width(&lay->yt) + 6 + TICK_LEN;
    lay->R = width - 1 - 24;
    if (lay->R - lay->L < 40)
        return ij_error("%s: a %dx%d image is too narrow for its tick labels", who, width, height);

    if (axis_range(who, index, p, 0, &lo, &hi) != 0) return -1;
    lay->x = (IjPlotAxis){lo, hi, 0, lay->L + 0.5, lay->R + 0.5};
    /* Fewer ticks until the labels leave at least 2 characters of space between them. */
    for (int m = (lay->R - lay->L) / 90 + 1; m >= 2; m--) {
        make_ticks(&lay->x, m, &lay->xt);
        double gap = (lay->R - lay->L) * (lay->xt.n > 1 ? (lay->xt.v[1] - lay->xt.v[0]) / (hi - lo) : 1);
        if (gap >= max_label_width(&lay->xt) + 6 * 2 * TEXT_SCALE) break;
    }
    return 0;
}

int ij_plot_panel_axes(const char *title, const IjPanel *panels, int npanels, int width, int height, int index,
                       IjPlotAxis *x, IjPlotAxis *y)
{
    if (check_chart("plot", panels, npanels, width, height) != 0) return -1;
    if (index < 0 || index >= npanels) return ij_error("plot: no panel %d (of %d)", index + 1, npanels);
    Layout lay;
    if (layout_panel("plot", title, panels, npanels, width, height, index, &lay) != 0) return -1;
    *x = lay.x, *y = lay.y;
    return 0;
}

/* ---- series ----------------------------------------------------------------------------------- */

/* A coverage buffer over the frame rectangle: columns L..R, rows T..B. */
typedef struct {
    float *a;
    int x0, y0, w, h;
} Coverage;

static void cover(Coverage *c, int x, int y, float alpha)
{
    if (x < c->x0 || y < c->y0 || x >= c->x0 + c->w || y >= c->y0 + c->h) return;
    float *q = &c->a[(size_t)(y - c->y0) * (size_t)c->w + (size_t)(x - c->x0)];
    if (alpha > *q) *q = alpha;
}

/* Coverage of a stroke of half-width r along the segment, from each pixel centre's distance to
 * it. Visits only the pixels within reach of the segment, column by column along its major axis
 * (the roles of x and y swap for steep segments). */
static void stroke_segment(Coverage *c, double x0, double y0, double x1, double y1, double r)
{
    double reach = r + 0.5;
    int steep = fabs(y1 - y0) > fabs(x1 - x0);
    /* u: major axis, v: minor axis */
    double u0 = steep ? y0 : x0, v0 = steep ? x0 : y0, u1 = steep ? y1 : x1, v1 = steep ? x1 : y1;
    if (u0 > u1) {
        double t = u0; u0 = u1; u1 = t;
        t = v0; v0 = v1; v1 = t;
    }
    double du = u1 - u0, dv = v1 - v0, len2 = du * du + dv * dv;
    int i0 = (int)floor(u0 - reach), i1 = (int)floor(u1 + reach);
    for (int i = i0; i <= i1; i++) {
        double cu = i + 0.5;
        /* The segment's minor coordinate over the major window [cu - reach, cu + reach]. */
        double va = v0, vb = v1;
        if (du > 0) {
            double ta = (cu - reach - u0) / du, tb = (cu + reach - u0) / du;
            ta = ta < 0 ? 0 : ta > 1 ? 1 : ta;
            tb = tb < 0 ? 0 : tb > 1 ? 1 : tb;
            va = v0 + ta * dv, vb = v0 + tb * dv;
        }
        int j0 = (int)floor(fmin(va, vb) - reach), j1 = (int)floor(fmax(va, vb) + reach);
        for (int j = j0; j <= j1; j++) {
            double cv = j + 0.5;
            double t = len2 > 0 ? ((cu - u0) * du + (cv - v0) * dv) / len2 : 0;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            double eu = cu - (u0 + t * du), ev = cv - (v0 + t * dv);
            double alpha = reach - sqrt(eu * eu + ev * ev);
            if (alpha <= 0) continue;
            if (alpha > 1) alpha = 1;
            if (steep) cover(c, j, i, (float)alpha);
            else cover(c, i, j, (float)alpha);
        }
    }
}

/* Liang-Barsky: clips the segment to [xa, xb] x [ya, yb]; 0 when nothing is left. Keeps the
 * rasteriser's work bounded when a fixed range puts points far outside the plot. */
static int clip_segment(double *x0, double *y0, double *x1, double *y1, double xa, double xb, double ya, double yb)
{
    double t0 = 0, t1 = 1, dx = *x1 - *x0, dy = *y1 - *y0;
    const double p[4] = {-dx, dx, -dy, dy};
    const double q[4] = {*x0 - xa, xb - *x0, *y0 - ya, yb - *y0};
    for (int k = 0; k < 4; k++) {
        if (p[k] == 0) {
            if (q[k] < 0) return 0;
            continue;
        }
        double t = q[k] / p[k];
        if (p[k] < 0) {
            if (t > t1) return 0;
            if (t > t0) t0 = t;
        } else {
            if (t < t0) return 0;
            if (t < t1) t1 = t;
        }
    }
    double nx0 = *x0 + t0 * dx, ny0 = *y0 + t0 * dy;
    *x1 = *x0 + t1 * dx, *y1 = *y0 + t1 * dy;
    *x0 = nx0, *y0 = ny0;
    return 1;
}

static int point_ok(const Layout *lay, double x, double y)
{
    return isfinite(x) && isfinite(y) && (!lay->y.log || y > 0);
}

/* Pixel coordinates far outside the image (a fixed range, values like 1e300) are clamped to
 * +-1e7, which moves the visible part of a segment by well under a pixel and keeps it finite. */
static double map_clamped(const IjPlotAxis *a, double v)
{
    double p = ij_plot_map(a, v);
    return p < -1e7 ? -1e7 : p > 1e7 ? 1e7 : p;
}

/* Strokes one series into c (cleared first); a point with no usable neighbour becomes a dot. */
static void stroke_series(const Layout *lay, const IjSeries *s, Coverage *c)
{
    memset(c->a, 0, (size_t)c->w * (size_t)c->h * sizeof(float));
    double m = 4; /* clip a little outside the buffer so stroke ends stay round at its edges */
    double xa = c->x0 - m, xb = c->x0 + c->w + m, ya = c->y0 - m, yb = c->y0 + c->h + m;
    for (int i = 0; i < s->n; i++) {
        if (!point_ok(lay, s->x[i], s->y[i])) continue;
        double px = map_clamped(&lay->x, s->x[i]), py = map_clamped(&lay->y, s->y[i]);
        int next = i + 1 < s->n && point_ok(lay, s->x[i + 1], s->y[i + 1]);
        int prev = i > 0 && point_ok(lay, s->x[i - 1], s->y[i - 1]);
        double qx = px, qy = py;
        if (next) qx = map_clamped(&lay->x, s->x[i + 1]), qy = map_clamped(&lay->y, s->y[i + 1]);
        else if (prev) continue; /* the end of a run: drawn with the previous segment */
        /* a lone point is a dot a little wider than the line */
        double r = next ? LINE_WIDTH / 2 : LINE_WIDTH;
        if (clip_segment(&px, &py, &qx, &qy, xa, xb, ya, yb)) stroke_segment(c, px, py, qx, qy, r);
    }
}

static void composite(IjCanvas *im, const Coverage *c, uint32_t rgb, uint8_t *occupied)
{
    for (int j = 0; j < c->h; j++)
        for (int i = 0; i < c->w; i++) {
            float a = c->a[(size_t)j * (size_t)c->w + (size_t)i];
            if (a <= 0) continue;
            ij_canvas_blend(im, c->x0 + i, c->y0 + j, rgb, a);
            if (a > 0.25f) occupied[(size_t)j * (size_t)c->w + (size_t)i] = 1;
        }
}

/* ---- panel rendering -------------------------------------------------------------------------- */

#define LEGEND_SAMPLE 28
#define LEGEND_ROW (TEXT_H + 4)

static void draw_legend(IjCanvas *im, const Layout *lay, const IjPanel *p, const uint8_t *occupied)
{
    int n = 0, textw = 0;
    for (int s = 0; s < p->nseries; s++)
        if (p->series[s].label && *p->series[s].label) {
            n++;
            int tw = ij_canvas_text_width(p->series[s].label, TEXT_SCALE);
            if (tw > textw) textw = tw;
        }
    if (n == 0) return;
    int bw = 10 + LEGEND_SAMPLE + 8 + textw + 10, bh = 6 + n * LEGEND_ROW;
    int inset = 10;
    if (bw > lay->R - lay->L - 2 * inset || bh > lay->B - lay->T - 2 * inset) return; /* no room */
    /* upper right, upper left, lower right, lower left: the first with the fewest line pixels */
    const int cx[4] = {lay->R - inset - bw, lay->L + inset + 1, lay->R - inset - bw, lay->L + inset + 1};
    const int cy[4] = {lay->T + inset + 1, lay->T + inset + 1, lay->B - inset - bh, lay->B - inset - bh};
    int cw = lay->R - lay->L + 1;
    long best = -1;
    int bx = cx[0], by = cy[0];
    for (int k = 0; k < 4; k++) {
        long count = 0;
        for (int y = cy[k] - 3; y < cy[k] + bh + 3; y++)
            for (int x = cx[k] - 3; x < cx[k] + bw + 3; x++)
                if (x >= lay->L && x <= lay->R && y >= lay->T && y <= lay->B)
                    count += occupied[(size_t)(y - lay->T) * (size_t)cw + (size_t)(x - lay->L)];
        if (best < 0 || count < best) best = count, bx = cx[k], by = cy[k];
    }
    ij_canvas_fill(im, bx, by, bx + bw, by + bh, COLOR_WHITE, 1);
    ij_canvas_fill(im, bx, by, bx + bw, by + 1, COLOR_LEGEND_FRAME, 1);
    ij_canvas_fill(im, bx, by + bh - 1, bx + bw, by + bh, COLOR_LEGEND_FRAME, 1);
    ij_canvas_fill(im, bx, by, bx + 1, by + bh, COLOR_LEGEND_FRAME, 1);
    ij_canvas_fill(im, bx + bw - 1, by, bx + bw, by + bh, COLOR_LEGEND_FRAME, 1);
    int row = 0;
    for (int s = 0; s < p->nseries; s++) {
        const IjSeries *ser = &p->series[s];
        if (!ser->label || !*ser->label) continue;
        int ty = by + 6 + row * LEGEND_ROW + 1;
        ij_canvas_fill(im, bx + 10, ty + CAP_H / 2 - 1, bx + 10 + LEGEND_SAMPLE, ty + CAP_H / 2 + 1, ser->rgb, 1);
        ij_canvas_text(im, bx + 10 + LEGEND_SAMPLE + 8, ty, ser->label, TEXT_SCALE, COLOR_TEXT);
        row++;
    }
}

static void draw_panel(IjCanvas *im, const Layout *lay, const IjPanel *p, Coverage *cov, uint8_t *occupied)
{
    int L = lay->L, R = lay->R, T = lay->T, B = lay->B;
    /* grid */
    for (int i = 0; i < lay->xt.n; i++) {
        int x = (int)floor(ij_plot_map(&lay->x, lay->xt.v[i]));
        ij_canvas_fill(im, x, T + 1, x + 1, B, COLOR_GRID, 1);
    }
    for (int i = 0; i < lay->yt.n; i++) {
        int y = (int)floor(ij_plot_map(&lay->y, lay->yt.v[i]));
        ij_canvas_fill(im, L + 1, y, R, y + 1, COLOR_GRID, 1);
    }
    /* series */
    memset(occupied, 0, (size_t)cov->w * (size_t)cov->h);
    for (int s = 0; s < p->nseries; s++) {
        stroke_series(lay, &p->series[s], cov);
        composite(im, cov, p->series[s].rgb, occupied);
    }
    draw_legend(im, lay, p, occupied);
    /* frame, ticks, tick labels */
    ij_canvas_fill(im, L, T, R + 1, T + 1, COLOR_FRAME, 1);
    ij_canvas_fill(im, L, B, R + 1, B + 1, COLOR_FRAME, 1);
    ij_canvas_fill(im, L, T, L + 1, B + 1, COLOR_FRAME, 1);
    ij_canvas_fill(im, R, T, R + 1, B + 1, COLOR_FRAME, 1);
    for (int i = 0; i < lay->xt.n; i++) {
        int x = (int)floor(ij_plot_map(&lay->x, lay->xt.v[i]));
        ij_canvas_fill(im, x, B + 1, x + 1, B + 1 + TICK_LEN, COLOR_FRAME, 1);
        int tw = ij_canvas_text_width(lay->xt.label[i], TEXT_SCALE);
        int tx = x - tw / 2;
        if (tx + tw > im->w - 2) tx = im->w - 2 - tw;
        ij_canvas_text(im, tx, B + 1 + TICK_LEN + 4, lay->xt.label[i], TEXT_SCALE, COLOR_TEXT);
    }
    for (int i = 0; i < lay->yt.n; i++) {
        int y = (int)floor(ij_plot_map(&lay->y, lay->yt.v[i]));
        ij_canvas_fill(im, L - TICK_LEN, y, L, y + 1, COLOR_FRAME, 1);
        int tw = ij_canvas_text_width(lay->yt.label[i], TEXT_SCALE);
        ij_canvas_text(im, L - TICK_LEN - 6 - tw, y - CAP_H / 2, lay->yt.label[i], TEXT_SCALE, COLOR_TEXT);
    }
    /* titles and axis labels */
    int mid = (L + R) / 2;
    if (p->title && *p->title)
        ij_canvas_text(im, mid - ij_canvas_text_width(p->title, TEXT_SCALE) / 2, lay->top + 8, p->title, TEXT_SCALE, COLOR_TEXT);
    if (p->xlabel && *p->xlabel)
        ij_canvas_text(im, mid - ij_canvas_text_width(p->xlabel, TEXT_SCALE) / 2, B + 1 + TICK_LEN + 4 + TEXT_H + 8, p->xlabel,
                  TEXT_SCALE, COLOR_TEXT);
    if (p->ylabel && *p->ylabel)
        ij_canvas_text_up(im, 10, (T + B) / 2 + ij_canvas_text_width(p->ylabel, TEXT_SCALE) / 2, p->ylabel, TEXT_SCALE, COLOR_TEXT);
}

/* ---- entry points ----------------------------------------------------------------------------- */

int ij_plot_png(const char *path, const char *title, const IjPanel *panels, int npanels, int width, int height)
{
    if (!path) return ij_error("plot: no path given");
    if (check_chart(path, panels, npanels, width, height) != 0) return -1;
    Layout *lays = ij_calloc((size_t)npanels, sizeof(Layout));
    for (int p = 0; p < npanels; p++)
        if (layout_panel(path, title, panels, npanels, width, height, p, &lays[p]) != 0) {
            free(lays);
            return -1;
        }

    IjCanvas im = {ij_malloc((size_t)width * (size_t)height * 3), width, height};
    memset(im.px, 255, (size_t)width * (size_t)height * 3);
    if (title && *title)
        ij_canvas_text(&im, (width - ij_canvas_text_width(title, TITLE_SCALE)) / 2, 10, title, TITLE_SCALE, COLOR_TEXT);
    for (int p = 0; p < npanels; p++) {
        const Layout *lay = &lays[p];
        Coverage cov = {NULL, lay->L, lay->T, lay->R - lay->L + 1, lay->B - lay->T + 1};
        cov.a = ij_malloc((size_t)cov.w * (size_t)cov.h * sizeof(float));
        uint8_t *occupied = ij_malloc((size_t)cov.w * (size_t)cov.h);
        draw_panel(&im, lay, &panels[p], &cov, occupied);
        free(occupied);
        free(cov.a);
    }
    free(lays);
    int rc = ij_canvas_png(path, &im);
    free(im.px);
    return rc;
}

uint32_t ij_plot_color(int i)
{
    static const uint32_t tab10[10] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                       0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};
    return tab10[((i % 10) + 10) % 10];
}

