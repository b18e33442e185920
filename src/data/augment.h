/* augment.h: the training augmentation (SPEC section 5): RandomResizedCrop
 * (scale 0.3-1.0, ratio 3/4-4/3, bilinear), optional horizontal flip, then
 * mean/std normalisation. Images are float, planar [C, H, W].
 *
 * Semantics follow torchvision / PyTorch:
 *  - ij_rrc_params is RandomResizedCrop.get_params (10 tries, then a centre
 *    crop with the aspect ratio clamped to the range). Rounding is Python's
 *    round(): half to even.
 *  - ij_resize_bilinear is F.interpolate(mode='bilinear', align_corners=False)
 *    applied to the cropped region: source coordinate (i + 0.5) * in/out - 0.5,
 *    negative coordinates clamped to 0, the far neighbour clamped to the last
 *    row/column. There is NO antialiasing. For upscaling (the Fashion-MNIST and
 *    CIFAR case: a crop of a 28x28 or 32x32 image resized to the model's input
 *    size) antialiasing makes no difference -- PIL's bilinear filter then
 *    reduces to this same two-tap, edge-clamped interpolation. When
 *    downscaling, torchvision's PIL path (what the official I-JEPA uses)
 *    widens the filter to average every covered source pixel; this code
 *    samples only the two nearest, so large downscales alias.
 *  - ij_augment_image converts uint8 to float (x / 255, as ToTensor) BEFORE
 *    resizing, so interpolated values are not re-quantised to uint8 as the
 *    PIL path does.
 *
 * Randomness: ij_augment_image draws from ij_augment_rng(seed, epoch, index),
 * a pure function of its arguments (see IJ_RNG_AUGMENT), so any sample of any
 * epoch can be reproduced without RNG state.
 */
#ifndef IJEPA_DATA_AUGMENT_H
#define IJEPA_DATA_AUGMENT_H

#include "core/rng.h"

#include <stdint.h>

/* Purpose word of the augmentation streams ("augm"). The stream of sample
 * `index` in epoch `epoch` is
 *     ij_rng(ij_hash3(seed, IJ_RNG_AUGMENT, epoch), index, IJ_RNG_AUGMENT)
 * and is consumed in this order: the crop (ij_rrc_params: 2 uniforms per try,
 * then 2 bounded integers; nothing when random_crop is 0), then one uniform
 * for the flip (only when hflip is on; flip when u < 0.5). */
#define IJ_RNG_AUGMENT 0x6175676dULL

/* Normalisation constants. ImageNet (RGB) as in the official configs;
 * Fashion-MNIST training-set statistics for grayscale. */
extern const float IJ_IMAGENET_MEAN[3]; /* 0.485, 0.456, 0.406 */
extern const float IJ_IMAGENET_STD[3];  /* 0.229, 0.224, 0.225 */
#define IJ_FMNIST_MEAN 0.2860f
#define IJ_FMNIST_STD 0.3530f

/* A crop box in source pixels: rows [top, top+height), columns [left, left+width). */
typedef struct {
    int top, left, height, width;
} IjCropBox;

typedef struct {
    int out_size;      /* output is [C, out_size, out_size] */
    int random_crop;   /* 1: RandomResizedCrop; 0: resize the whole image (evaluation) */
    double scale[2];   /* crop area as a fraction of the image area, [lo, hi] */
    double ratio[2];   /* crop aspect ratio width/height, [lo, hi] (log-uniform) */
    int hflip;         /* 1: flip horizontally with probability 0.5 */
    float mean[3];     /* per channel (only mean[0] for grayscale) */
    float std[3];
} IjAugment;

/* Defaults for `channels` (1 or 3): the SPEC crop (scale 0.3-1.0, ratio
 * 3/4-4/3), random_crop 1, no flip, ImageNet mean/std for 3 channels,
 * Fashion-MNIST mean/std (in every slot) for 1. */
void ij_augment_defaults(IjAugment *cfg, int channels, int out_size);
/* Validate a configuration built from user options for images of `channels`
 * channels: out_size >= 1, 0 < scale lo <= hi <= 1, 0 < ratio lo <= hi, std > 0.
 * Returns 0, or -1 with a message (ij_last_error). */
int ij_augment_check(const IjAugment *cfg, int channels);

/* torchvision RandomResizedCrop.get_params for a src_h x src_w image.
 * Requires 0 <= scale_lo <= scale_hi and 0 < ratio_lo <= ratio_hi (a scale
 * above 1 is allowed, as in torchvision; it just leads to the fallback). */
void ij_rrc_params(IjRng *r, int src_h, int src_w, double scale_lo, double scale_hi, double ratio_lo,
                   double ratio_hi, IjCropBox *box);

/* dst [channels, out_h, out_w] = bilinear resize of the box of src
 * [channels, src_h, src_w] (align_corners=False, no antialias). The box must
 * lie inside the image. Resizing a whole image to its own size copies it
 * exactly. */
void ij_resize_bilinear(float *dst, int out_h, int out_w, const float *src, int src_h, int src_w, int channels,
                        const IjCropBox *box);

/* Mirror each row of img [c, h, w] in place. */
void ij_hflip(float *img, int c, int h, int w);

/* img [c, hw] = (img - mean[c]) / std[c], as torchvision Normalize. */
void ij_normalize(float *img, int c, int hw, const float *mean, const float *std);

/* The stream used by ij_augment_image for (seed, epoch, sample_index). */
IjRng ij_augment_rng(uint64_t seed, uint64_t epoch, uint64_t sample_index);

/* One training (or, with random_crop 0, evaluation) view:
 * src is uint8, interleaved [H, W, 3] for src_c 3 or [H, W] for src_c 1;
 * dst is float [src_c, out_size, out_size]: crop (or whole image), bilinear
 * resize, optional flip, normalisation with cfg mean/std. cfg must pass
 * ij_augment_check (asserted loosely). Allocates nothing. It is
 * ij_augment_crop followed by ij_augment_apply: */
void ij_augment_image(float *dst, const uint8_t *src, int src_h, int src_w, int src_c, const IjAugment *cfg,
                      uint64_t seed, uint64_t epoch, uint64_t sample_index);
/* The crop box of (seed, epoch, sample_index) for an image of src_h x src_w,
 * and the stream left for what follows (the flip). Needs no pixels, so a
 * decoder can pick its scale from the box first. */
void ij_augment_crop(const IjAugment *cfg, int src_h, int src_w, uint64_t seed, uint64_t epoch,
                     uint64_t sample_index, IjCropBox *box, IjRng *rest);
/* Resize of `box` of src to dst, the flip (drawn from *rest), normalisation. */
void ij_augment_apply(float *dst, const uint8_t *src, int src_h, int src_w, int src_c, const IjAugment *cfg,
                      const IjCropBox *box, IjRng *rest);

#endif
