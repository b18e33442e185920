/* canvas.c: RGB pictures: pixels blended with coverage, 5x7 text (also rotated), and the PNG writer
 * (libpng, written to a temporary file, synced, renamed); see canvas.h. */
#include "io/canvas.h"

#include "core/error.h"
#include "io/fsutil.h"
#include "io/font5x7.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Blends rgb over pixel (x, y) with coverage alpha in [0, 1]; outside the image does nothing. */
void ij_canvas_blend(IjCanvas *im, int x, int y, uint32_t rgb, double alpha)
{
    if (x < 0 || y < 0 || x >= im->w || y >= im->h || alpha <= 0) return;
    uint8_t *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
    const int c[3] = {(int)(rgb >> 16) & 255, (int)(rgb >> 8) & 255, (int)rgb & 255};
    for (int k = 0; k < 3; k++) {
        if (alpha >= 1) p[k] = (uint8_t)c[k];
        else p[k] = (uint8_t)lrint(p[k] + (c[k] - p[k]) * alpha);
    }
}

int ij_canvas_text_width(const char *s, int scale)
{
    size_t n = s ? strlen(s) : 0;
    return n ? (int)n * 6 * scale - scale : 0;
}

static const uint8_t *glyph(char c)
{
    unsigned char u = (unsigned char)c;
    return IJ_FONT5X7[(u >= 32 && u <= 126 ? u : '?') - 32];
}

void ij_canvas_text(IjCanvas *im, int x, int y, const char *s, int scale, uint32_t rgb)
{
    for (; s && *s; s++, x += 6 * scale) {
        const uint8_t *g = glyph(*s);
        for (int r = 0; r < IJ_FONT_H; r++)
            for (int c = 0; c < IJ_FONT_W; c++)
                if (g[r] >> (IJ_FONT_W - 1 - c) & 1)
                    ij_canvas_fill(im, x + c * scale, y + r * scale, x + (c + 1) * scale, y + (r + 1) * scale, rgb, 1);
    }
}

void ij_canvas_text_up(IjCanvas *im, int x, int y, const char *s, int scale, uint32_t rgb)
{
    for (int u = 0; s && *s; s++, u += 6 * scale) {
        const uint8_t *g = glyph(*s);
        for (int r = 0; r < IJ_FONT_H; r++)
            for (int c = 0; c < IJ_FONT_W; c++)
                if (g[r] >> (IJ_FONT_W - 1 - c) & 1) {
                    int px = x + r * scale, py = y - u - (c + 1) * scale;
                    ij_canvas_fill(im, px, py, px + scale, py + scale, rgb, 1);
                }
    }
}

typedef struct {
    char msg[256];
} PngErr;

static void on_png_error(png_structp png, png_const_charp msg)
{
    PngErr *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "libpng: %s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg;
}

/* Encodes im into fp; -1 with e->msg set on a libpng error (write errors included). */
static int encode_png(FILE *fp, const IjCanvas *im, PngErr *e)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, e, on_png_error, on_png_warning);
    if (!png) {
        snprintf(e->msg, sizeof e->msg, "libpng: cannot create a writer");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(e->msg, sizeof e->msg, "libpng: cannot create an info struct");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)im->w, (png_uint_32)im->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < im->h; y++) png_write_row(png, im->px + (size_t)y * (size_t)im->w * 3);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int ij_canvas_png(const char *path, const IjCanvas *im)
{
    size_t tlen = strlen(path) + 32;
    char *tmp = ij_malloc(tlen);
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    PngErr e = {{0}};
    int rc = 0;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        rc = ij_error("%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
    } else {
        int ok = encode_png(fp, im, &e) == 0;
        int err = 0;
        if (ok && (fflush(fp) != 0 || fsync(fileno(fp)) != 0)) ok = 0, err = errno;
        if (fclose(fp) != 0 && ok) ok = 0, err = errno;
        if (!ok && e.msg[0]) rc = ij_error("%s: %s", path, e.msg);
        else if (!ok) rc = ij_error("%s: write failed: %s", path, strerror(err ? err : EIO));
        else if (rename(tmp, path) != 0) rc = ij_error("%s: cannot rename the temporary file: %s", path, strerror(errno));
        if (rc != 0) remove(tmp);
        else ij_fsync_parent_dir(path);
    }
    free(tmp);
    return rc;
}

IjCanvas ij_canvas_new(int w, int h, uint32_t bg)
{
    IJ_ASSERT(w > 0 && h > 0);
    IjCanvas im = {ij_malloc((size_t)w * (size_t)h * 3), w, h};
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        im.px[3 * i] = (uint8_t)(bg >> 16), im.px[3 * i + 1] = (uint8_t)(bg >> 8), im.px[3 * i + 2] = (uint8_t)bg;
    }
    return im;
}

void ij_canvas_free(IjCanvas *im)
{
    free(im->px);
    im->px = NULL;
}

void ij_canvas_fill(IjCanvas *im, int x0, int y0, int x1, int y1, uint32_t rgb, double alpha)
{
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < im->h; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < im->w; x++) ij_canvas_blend(im, x, y, rgb, alpha);
}
