/* canvas.h: plain RGB pictures (charts, image grids, overlays): blended pixels, 5x7 text and an
 * atomic PNG writer. */
#ifndef IJEPA_IO_CANVAS_H
#define IJEPA_IO_CANVAS_H

#include <stdint.h>

typedef struct {
    uint8_t *px;  /* (h, w, 3) */
    int w, h;
} IjCanvas;

/* A w x h picture filled with bg (0xRRGGBB). */
IjCanvas ij_canvas_new(int w, int h, uint32_t bg);
void ij_canvas_free(IjCanvas *im);
/* Blends rgb over pixel (x, y) with coverage alpha in [0, 1]; outside the picture does nothing. */
void ij_canvas_blend(IjCanvas *im, int x, int y, uint32_t rgb, double alpha);
/* Blends rgb over columns x0..x1-1, rows y0..y1-1 with opacity alpha in [0, 1] (clipped). */
void ij_canvas_fill(IjCanvas *im, int x0, int y0, int x1, int y1, uint32_t rgb, double alpha);
/* Text with its top-left corner at (x, y), 5x7 glyphs in 6-px cells times scale. */
void ij_canvas_text(IjCanvas *im, int x, int y, const char *s, int scale, uint32_t rgb);
/* Text rotated 90 degrees counter-clockwise (read bottom to top); the glyph tops face column x and
 * the text starts at row y (its bottom end). */
void ij_canvas_text_up(IjCanvas *im, int x, int y, const char *s, int scale, uint32_t rgb);
/* Width in pixels of s at this scale (no trailing gap). */
int ij_canvas_text_width(const char *s, int scale);
/* Written to a temporary file, synced, renamed; -1 with a message naming path. */
int ij_canvas_png(const char *path, const IjCanvas *im);

#endif
