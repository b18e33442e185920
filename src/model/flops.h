/* flops.h: floating-point operations of the matrix products the model runs
 * (2 per multiply-add), computed from the token counts of a step. Elementwise
 * work (LayerNorm, GELU, softmax) is not counted, as is usual for MFU. */
#ifndef IJEPA_MODEL_FLOPS_H
#define IJEPA_MODEL_FLOPS_H

#include "model/model.h"

/* Forward FLOPs of a block stack over sequences with lengths seg_off. */
double ij_stack_flops(const int *seg_off, int nseg, int depth, int D, int H);
/* Forward FLOPs of the target encoder on one full image. */
double ij_encoder_image_flops(const IjConfig *c);
/* All FLOPs of the last ij_model_step: target forward, context and predictor
 * forward, and (if backward) their backward passes (twice the forward products
 * of trainable layers; the patch embedding needs no input gradient). */
typedef struct { double target, context, predictor, backward, total; } IjStepFlops;
IjStepFlops ij_model_step_flops(const IjModel *m, const IjMasks *mk, int backward);

#endif
