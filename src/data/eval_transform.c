/* eval_transform.c: see eval_transform.h. */
#include "data/eval_transform.h"

#include "core/error.h"
#include "data/image_decode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ij_eval_transform_defaults(IjEvalTransform *t, int size)
{
    t->resize = IJ_EVAL_AUTO;
    t->crop_fraction = 0.875;
    t->size = size;
}

static const char *const names[] = {"auto", "crop", "squash"};

int ij_eval_resize_parse(const char *name, IjEvalResize *r)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, names[i])) return *r = (IjEvalResize)i, 0;
    return ij_error("--resize must be 'auto', 'crop' or 'squash', got '%s'", name);
}

const char *ij_eval_resize_name(IjEvalResize r) { return names[r]; }

/* PIL's bicubic kernel (a = -0.5), support 2. */
static double bicubic(double x)
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
}

/* PIL's precompute_coeffs for one axis: output pixel o reads inputs first[o] .. first[o] + count[o] - 1
 * with weights w[o * kmax + k]. The box is [b0, b0 + blen) of an axis of `in` pixels. */
static int axis_coeffs(int in, int out, double b0, double blen, int **first, int **count, double **w)
{
    double scale = blen / out, fscale = scale > 1 ? scale : 1, support = 2 * fscale;
    int kmax = (int)ceil(support) * 2 + 1;
    *first = ij_malloc(sizeof(int) * (size_t)out);
    *count = ij_malloc(sizeof(int) * (size_t)out);
    *w = ij_calloc((size_t)out * (size_t)kmax, sizeof(double));
    for (int o = 0; o < out; o++) {
        double center = b0 + (o + 0.5) * scale, total = 0;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        int n = hi - lo;
        if (n > kmax) n = kmax;
        double *wo = *w + (size_t)o * kmax;
        for (int k = 0; k < n; k++) total += wo[k] = bicubic((k + lo - center + 0.5) / fscale);
        for (int k = 0; k < n; k++) wo[k] = total != 0 ? wo[k] / total : 0;
        (*first)[o] = lo, (*count)[o] = n;
    }
    return kmax;
}

/* As PIL stores each pass: clipped to [0, 1] and rounded to a multiple of 1/255 (bicubic overshoots
 * at edges; an unclipped intermediate would carry the overshoot into the second pass). */
static inline float to_u8_grid(double v) { return (float)(nearbyint((v < 0 ? 0 : v > 1 ? 1 : v) * 255) / 255); }

void ij_resize_bicubic_aa(float *dst, int oh, int ow, const float *src, int sh, int sw, int c, double y0, double x0,
                          double bh, double bw)
{
    int *fx, *nx, *fy, *ny;
    double *wx, *wy;
    int kx = axis_coeffs(sw, ow, x0, bw, &fx, &nx, &wx), ky = axis_coeffs(sh, oh, y0, bh, &fy, &ny, &wy);
    /* the rows the vertical pass reads */
    int r0 = fy[0], r1 = fy[oh - 1] + ny[oh - 1];
    float *tmp = ij_malloc(sizeof(float) * (size_t)c * (size_t)(r1 - r0) * ow);
    for (int ch = 0; ch < c; ch++)
        for (int y = r0; y < r1; y++) {
            const float *row = src + ((size_t)ch * sh + y) * sw;
            float *t = tmp + ((size_t)ch * (r1 - r0) + (y - r0)) * ow;
            for (int o = 0; o < ow; o++) {
                const double *wo = wx + (size_t)o * kx;
                double s = 0;
                for (int k = 0; k < nx[o]; k++) s += wo[k] * row[fx[o] + k];
                t[o] = to_u8_grid(s);
            }
        }
    for (int ch = 0; ch < c; ch++)
        for (int o = 0; o < oh; o++) {
            const double *wo = wy + (size_t)o * ky;
            float *d = dst + ((size_t)ch * oh + o) * ow;
            for (int x = 0; x < ow; x++) {
                double s = 0;
                for (int k = 0; k < ny[o]; k++) s += wo[k] * tmp[((size_t)ch * (r1 - r0) + fy[o] + k - r0) * ow + x];
                d[x] = to_u8_grid(s);
            }
        }
    free(tmp);
    free(fx), free(nx), free(wx), free(fy), free(ny), free(wy);
}

void ij_eval_transform_apply(float *dst, const uint8_t *src, int h, int w, int c, const IjEvalTransform *t)
{
    const int S = t->size;
    float *planar = ij_malloc(sizeof(float) * (size_t)c * h * w);
    for (int ch = 0; ch < c; ch++)
        for (size_t i = 0; i < (size_t)h * w; i++) planar[(size_t)ch * h * w + i] = src[i * c + ch] / 255.0f;
    IjEvalResize mode = t->resize;
    if (mode == IJ_EVAL_AUTO) mode = h == S && w == S ? IJ_EVAL_SQUASH : IJ_EVAL_CROP;
    if (mode == IJ_EVAL_SQUASH && h == S && w == S) {
        memcpy(dst, planar, sizeof(float) * (size_t)c * S * S); /* the resize would copy it exactly */
    } else if (mode == IJ_EVAL_SQUASH) {
        ij_resize_bicubic_aa(dst, S, S, planar, h, w, c, 0, 0, h, w);
    } else {
        /* torchvision Resize(int(S / fraction)): the shorter side to r, the longer to int(r * long / short) */
        int r = (int)(S / t->crop_fraction), rh, rw;
        if (h <= w) rh = r, rw = (int)((long long)r * w / h);
        else rw = r, rh = (int)((long long)r * h / w);
        if (rh < S) rh = S;
        if (rw < S) rw = S;
        float *mid = ij_malloc(sizeof(float) * (size_t)c * rh * rw);
        ij_resize_bicubic_aa(mid, rh, rw, planar, h, w, c, 0, 0, h, w);
        int top = (int)nearbyint((rh - S) / 2.0), left = (int)nearbyint((rw - S) / 2.0); /* round half to even, as CenterCrop */
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < S; y++)
                memcpy(dst + ((size_t)ch * S + y) * S, mid + ((size_t)ch * rh + top + y) * rw + left, sizeof(float) * S);
        free(mid);
    }
    free(planar);
}

int ij_eval_image(float *dst, const IjImageSet *set, int i, const IjEvalTransform *t)
{
    if (set->pixels) {
        ij_eval_transform_apply(dst, ij_imageset_image(set, i), set->height, set->width, set->channels, t);
        return 0;
    }
    IjImage im;
    if (ij_imageset_decode(set, i, 0, &im)) return -1;
    ij_eval_transform_apply(dst, im.pixels, im.height, im.width, im.channels, t);
    ij_image_free(&im);
    return 0;
}
