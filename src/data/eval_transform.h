/* eval_transform.h: how an image of any size becomes the model's square input for evaluation.
 *
 *   crop    timm's and torchvision's eval transform: resize the shorter side to int(size / fraction)
 *           (the longer one in proportion, as torchvision's Resize(int) rounds it down), then the
 *           centre size x size crop (offsets rounded as torchvision's CenterCrop);
 *   squash  the whole image resized to size x size (aspect ratio not kept);
 *   auto    squash where the image already has the model's size (then it is copied exactly: CIFAR-10,
 *           Fashion-MNIST), crop anywhere else (photos).
 *
 * Resizing is PIL's antialiased bicubic (a = -0.5; the filter widened by the downscale factor, so
 * every covered source pixel counts; weights normalised per output pixel), separable, horizontal
 * pass first, each pass clipped and rounded to the uint8 grid as PIL stores it (so the two agree but
 * for PIL's fixed-point weights: tests/test_eval_transform.c). Values stay in [0, 1] (uint8 / 255),
 * not normalised: the caller normalises (the encoder) or not (the raw-pixel baseline). */
#ifndef IJEPA_DATA_EVAL_TRANSFORM_H
#define IJEPA_DATA_EVAL_TRANSFORM_H

#include "data/dataset.h"

typedef enum { IJ_EVAL_AUTO = 0, IJ_EVAL_CROP = 1, IJ_EVAL_SQUASH = 2 } IjEvalResize;

typedef struct {
    IjEvalResize resize;
    double crop_fraction; /* crop: the centre crop's share of the resized shorter side, (0, 1] */
    int size;             /* output side in pixels (the model's input) */
} IjEvalTransform;

/* auto, crop fraction 0.875 (timm's and torchvision's 224 / 256), the given size. */
void ij_eval_transform_defaults(IjEvalTransform *t, int size);
/* "auto", "crop" or "squash"; -1 with a message otherwise. */
int ij_eval_resize_parse(const char *name, IjEvalResize *r);
const char *ij_eval_resize_name(IjEvalResize r);

/* Image i of set as planar floats [channels, size, size] in [0, 1]: decoded first if the set keeps
 * files (images of any size). -1 with a message naming the image when it cannot be decoded. */
int ij_eval_image(float *dst, const IjImageSet *set, int i, const IjEvalTransform *t);

/* The transform on one decoded image: src uint8 [h, w, c] interleaved, dst [c, size, size]. */
void ij_eval_transform_apply(float *dst, const uint8_t *src, int h, int w, int c, const IjEvalTransform *t);

/* dst [c, oh, ow] = PIL's antialiased bicubic resize of the box (y0, x0, bh, bw) of src [c, sh, sw]
 * (planar float). Allocates its intermediate row buffer. */
void ij_resize_bicubic_aa(float *dst, int oh, int ow, const float *src, int sh, int sw, int c, double y0, double x0,
                          double bh, double bw);

#endif
