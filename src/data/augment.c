/* augment.c: RandomResizedCrop, bilinear resize, flip, normalisation (see augment.h).
 *
 * The resize mirrors PyTorch's CPU upsample_bilinear2d for float input: the
 * scale in/out and the source coordinates are computed in float, the two
 * weights per axis are clamped to [0, 1], and the four taps are combined as
 * wy0 * (wx0 * a + wx1 * b) + wy1 * (wx0 * c + wx1 * d).
 */
#include "data/augment.h"

#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const float IJ_IMAGENET_MEAN[3] = {0.485f, 0.456f, 0.406f};
const float IJ_IMAGENET_STD[3] = {0.229f, 0.224f, 0.225f};

void ij_augment_defaults(IjAugment *cfg, int channels, int out_size)
{
    IJ_ASSERT(channels == 1 || channels == 3);
    *cfg = (IjAugment){
        .out_size = out_size,
        .random_crop = 1,
        .scale = {0.3, 1.0},
        .ratio = {3.0 / 4.0, 4.0 / 3.0},
        .hflip = 0,
    };
    for (int c = 0; c < 3; c++) {
        cfg->mean[c] = channels == 3 ? IJ_IMAGENET_MEAN[c] : IJ_FMNIST_MEAN;
        cfg->std[c] = channels == 3 ? IJ_IMAGENET_STD[c] : IJ_FMNIST_STD;
    }
}

int ij_augment_check(const IjAugment *cfg, int channels)
{
    if (channels != 1 && channels != 3)
        return ij_error("augmentation: images must have 1 or 3 channels, not %d", channels);
    if (cfg->out_size < 1) return ij_error("augmentation: output size %d must be at least 1", cfg->out_size);
    if (!(cfg->scale[0] > 0.0 && cfg->scale[0] <= cfg->scale[1] && cfg->scale[1] <= 1.0))
        return ij_error("augmentation: crop scale [%g, %g] must satisfy 0 < lo <= hi <= 1", cfg->scale[0],
                        cfg->scale[1]);
    if (!(cfg->ratio[0] > 0.0 && cfg->ratio[0] <= cfg->ratio[1] && isfinite(cfg->ratio[1])))
        return ij_error("augmentation: crop ratio [%g, %g] must satisfy 0 < lo <= hi", cfg->ratio[0],
                        cfg->ratio[1]);
    for (int c = 0; c < channels; c++) {
        if (!(cfg->std[c] > 0.0f) || !isfinite(cfg->std[c]) || !isfinite(cfg->mean[c]))
            return ij_error("augmentation: channel %d has mean %g std %g; std must be positive and both finite",
                            c, (double)cfg->mean[c], (double)cfg->std[c]);
    }
    return 0;
}

/* Python's round() to int: half to even (nearbyint in the default rounding mode). */
static int round_half_even(double x) { return (int)nearbyint(x); }

void ij_rrc_params(IjRng *r, int src_h, int src_w, double scale_lo, double scale_hi, double ratio_lo,
                   double ratio_hi, IjCropBox *box)
{
    IJ_ASSERT(src_h > 0 && src_w > 0);
    IJ_ASSERT(0.0 <= scale_lo && scale_lo <= scale_hi);
    IJ_ASSERT(0.0 < ratio_lo && ratio_lo <= ratio_hi);
    const double area = (double)src_h * (double)src_w;
    const double log_lo = log(ratio_lo), log_hi = log(ratio_hi);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target_area = area * (scale_lo + (scale_hi - scale_lo) * ij_rng_uniform(r));
        double aspect = exp(log_lo + (log_hi - log_lo) * ij_rng_uniform(r));
        double wf = sqrt(target_area * aspect), hf = sqrt(target_area / aspect);
        if (!(wf < (double)src_w + 1.0 && hf < (double)src_h + 1.0)) continue; /* also keeps the int cast safe */
        int w = round_half_even(wf), h = round_half_even(hf);
        if (0 < w && w <= src_w && 0 < h && h <= src_h) {
            box->top = (int)ij_rng_below(r, (uint64_t)(src_h - h + 1));
            box->left = (int)ij_rng_below(r, (uint64_t)(src_w - w + 1));
            box->height = h;
            box->width = w;
            return;
        }
    }
    /* Fallback: centre crop, aspect ratio clamped to [ratio_lo, ratio_hi]. */
    double in_ratio = (double)src_w / (double)src_h;
    int w = src_w, h = src_h;
    if (in_ratio < ratio_lo) {
        h = round_half_even((double)w / ratio_lo);
    } else if (in_ratio > ratio_hi) {
        w = round_half_even((double)h * ratio_hi);
    }
    /* With in_ratio outside the range the clamped side is at most the image's;
     * it can round to 0 only for a degenerate range (a 1-pixel-wide image and
     * ratio_lo > 2), where torchvision would fail: keep one pixel. */
    if (h < 1) h = 1;
    if (w < 1) w = 1;
    IJ_ASSERT(h >= 1 && h <= src_h && w >= 1 && w <= src_w);
    box->top = (src_h - h) / 2;
    box->left = (src_w - w) / 2;
    box->height = h;
    box->width = w;
}

/* PyTorch area_pixel_compute_source_index + the linear weights, for one axis:
 * output index `o` of `out` samples input indices i0, i0 + step with weights w0, w1. */
static void axis_weights(int o, float scale, int in, int *i0, int *step, float *w0, float *w1)
{
    float src = scale * ((float)o + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    int i = (int)src;
    if (i > in - 1) i = in - 1;
    float l1 = src - (float)i;
    if (l1 < 0.0f) l1 = 0.0f;
    if (l1 > 1.0f) l1 = 1.0f;
    *i0 = i;
    *step = i < in - 1 ? 1 : 0;
    *w1 = l1;
    *w0 = 1.0f - l1;
}

void ij_resize_bilinear(float *dst, int out_h, int out_w, const float *src, int src_h, int src_w, int channels,
                        const IjCropBox *box)
{
    IJ_ASSERT(out_h > 0 && out_w > 0 && channels > 0);
    IJ_ASSERT(box->height > 0 && box->width > 0 && box->top >= 0 && box->left >= 0);
    IJ_ASSERT(box->top + box->height <= src_h && box->left + box->width <= src_w);
    const int in_h = box->height, in_w = box->width;
    const float sy = (float)in_h / (float)out_h, sx = (float)in_w / (float)out_w;
    const size_t plane = (size_t)src_h * (size_t)src_w;
    for (int c = 0; c < channels; c++) {
        const float *s = src + (size_t)c * plane + (size_t)box->top * (size_t)src_w + (size_t)box->left;
        float *d = dst + (size_t)c * (size_t)out_h * (size_t)out_w;
        for (int y = 0; y < out_h; y++) {
            int y0, dy;
            float wy0, wy1;
            axis_weights(y, sy, in_h, &y0, &dy, &wy0, &wy1);
            const float *r0 = s + (size_t)y0 * (size_t)src_w;
            const float *r1 = r0 + (size_t)dy * (size_t)src_w;
            for (int x = 0; x < out_w; x++) {
                int x0, dx;
                float wx0, wx1;
                axis_weights(x, sx, in_w, &x0, &dx, &wx0, &wx1);
                d[(size_t)y * (size_t)out_w + (size_t)x] =
                    wy0 * (wx0 * r0[x0] + wx1 * r0[x0 + dx]) + wy1 * (wx0 * r1[x0] + wx1 * r1[x0 + dx]);
            }
        }
    }
}

void ij_hflip(float *img, int c, int h, int w)
{
    const size_t rows = (size_t)c * (size_t)h;
    for (size_t r = 0; r < rows; r++) {
        float *row = img + r * (size_t)w;
        for (int a = 0, b = w - 1; a < b; a++, b--) {
            float t = row[a];
            row[a] = row[b];
            row[b] = t;
        }
    }
}

void ij_normalize(float *img, int c, int hw, const float *mean, const float *std)
{
    for (int ch = 0; ch < c; ch++) {
        float *p = img + (size_t)ch * (size_t)hw;
        const float m = mean[ch], s = std[ch];
        for (int i = 0; i < hw; i++) p[i] = (p[i] - m) / s;
    }
}

IjRng ij_augment_rng(uint64_t seed, uint64_t epoch, uint64_t sample_index)
{
    return ij_rng(ij_hash3(seed, IJ_RNG_AUGMENT, epoch), sample_index, IJ_RNG_AUGMENT);
}

void ij_augment_crop(const IjAugment *cfg, int src_h, int src_w, uint64_t seed, uint64_t epoch,
                     uint64_t sample_index, IjCropBox *box, IjRng *rest)
{
    IJ_ASSERT(src_h > 0 && src_w > 0 && cfg->out_size > 0);
    IjRng r = ij_augment_rng(seed, epoch, sample_index);
    *box = (IjCropBox){0, 0, src_h, src_w};
    if (cfg->random_crop)
        ij_rrc_params(&r, src_h, src_w, cfg->scale[0], cfg->scale[1], cfg->ratio[0], cfg->ratio[1], box);
    *rest = r;
}

void ij_augment_apply(float *dst, const uint8_t *src, int src_h, int src_w, int src_c, const IjAugment *cfg,
                      const IjCropBox *box, IjRng *rest)
{
    IJ_ASSERT(src_c == 1 || src_c == 3);
    IJ_ASSERT(box->height > 0 && box->width > 0 && box->top >= 0 && box->left >= 0);
    IJ_ASSERT(box->top + box->height <= src_h && box->left + box->width <= src_w);
    /* Bilinear taps read the uint8 pixels in place (value / 255, the same
     * arithmetic as converting the crop first), so no scratch is needed. */
    const int n = cfg->out_size, in_h = box->height, in_w = box->width;
    const float sy = (float)in_h / (float)n, sx = (float)in_w / (float)n;
    const size_t cc = (size_t)src_c, stride = (size_t)src_w * cc;
    const uint8_t *base = src + (size_t)box->top * stride + (size_t)box->left * cc;
    for (int c = 0; c < src_c; c++) {
        float *d = dst + (size_t)c * (size_t)n * (size_t)n;
        for (int y = 0; y < n; y++) {
            int y0, dy;
            float wy0, wy1;
            axis_weights(y, sy, in_h, &y0, &dy, &wy0, &wy1);
            const uint8_t *r0 = base + (size_t)y0 * stride + (size_t)c;
            const uint8_t *r1 = r0 + (size_t)dy * stride;
            for (int x = 0; x < n; x++) {
                int x0, dx;
                float wx0, wx1;
                axis_weights(x, sx, in_w, &x0, &dx, &wx0, &wx1);
                size_t a = (size_t)x0 * cc, b = (size_t)(x0 + dx) * cc;
                d[(size_t)y * (size_t)n + (size_t)x] =
                    wy0 * (wx0 * (r0[a] / 255.0f) + wx1 * (r0[b] / 255.0f)) +
                    wy1 * (wx0 * (r1[a] / 255.0f) + wx1 * (r1[b] / 255.0f));
            }
        }
    }

    if (cfg->hflip && ij_rng_uniform(rest) < 0.5) ij_hflip(dst, src_c, n, n);
    ij_normalize(dst, src_c, n * n, cfg->mean, cfg->std);
}

void ij_augment_image(float *dst, const uint8_t *src, int src_h, int src_w, int src_c, const IjAugment *cfg,
                      uint64_t seed, uint64_t epoch, uint64_t sample_index)
{
    IjCropBox box;
    IjRng rest;
    ij_augment_crop(cfg, src_h, src_w, seed, epoch, sample_index, &box, &rest);
    ij_augment_apply(dst, src, src_h, src_w, src_c, cfg, &box, &rest);
}
