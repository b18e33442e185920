/* embed.h: frozen features of an encoder for evaluation.
 *
 * Images become the model's input by the evaluation transform (data/eval_transform.h: images of the
 * model's size as they are, others resized and centre-cropped as timm does; any size, decoded per
 * image when the set keeps files) and are normalised as in training; the encoder (target by default) runs on every
 * token without gradients. Pooling: the average of the final (normed) tokens,
 * or the concatenation of the average pools of the last 4 blocks' outputs,
 * each passed through the encoder's final LayerNorm (the usual "last 4
 * layers" protocol), giving 4*D features.
 */
#ifndef IJEPA_EVAL_EMBED_H
#define IJEPA_EVAL_EMBED_H

#include "core/progress.h"
#include "data/dataset.h"
#include "data/eval_transform.h"
#include "model/model.h"

typedef enum { IJ_POOL_LAST = 0, IJ_POOL_LAST4 = 1 } IjPool;

static inline int ij_embed_dim(const IjConfig *c, IjPool pool)
{
    return pool == IJ_POOL_LAST4 ? 4 * c->embed_dim : c->embed_dim;
}


/* Features [n, ij_embed_dim] of images [n, C, S, S] (already preprocessed). */
void ij_embed_batch(IjModel *m, const IjEncoderW *w, const float *images, int n, IjPool pool, float *out);
/* Features of every image of a set, batch by batch (batch images at a time); and, unless tokens is NULL,
 * the final (normed) tokens [n, N, D] of every image (for the attentive probe). tf: the evaluation
 * transform (NULL: ij_eval_transform_defaults at the model's input size; tf->size must be that size). */
int ij_embed_dataset(IjModel *m, const IjEncoderW *w, const IjImageSet *set, const IjEvalTransform *tf, IjPool pool,
                     int batch, float *out, float *tokens, IjProgress progress, void *ctx);

#endif
