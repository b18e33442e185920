/* transformer.h: a stack of pre-norm ViT blocks over a ragged batch of sequences.
 *
 *   x = x + proj(attn(LN1(x)));  x = x + fc2(gelu(fc1(LN2(x))))
 *
 * The encoder, the target encoder and the predictor all run through this code.
 * A stack keeps what its backward pass needs in an IjStack (activations per
 * layer, sized by ij_stack_reserve, reused from step to step).
 */
#ifndef IJEPA_MODEL_TRANSFORMER_H
#define IJEPA_MODEL_TRANSFORMER_H

#include "model/params.h"

#include <stddef.h>

typedef struct {
    float *ln1, *mean1, *rstd1;  /* [T,D], [T], [T] */
    float *qkv;                  /* [T,3D] */
    float *probs;                /* attention probabilities, att_probs_size() floats */
    float *att;                  /* [T,D] heads concatenated, before proj */
    float *x1;                   /* [T,D] residual stream after attention */
    float *ln2, *mean2, *rstd2;  /* [T,D], [T], [T] */
    float *h, *g;                /* [T,H] fc1 output, GELU output */
} IjLayerCache;

typedef struct {
    int layers;        /* depth; 1 for an inference-only stack that reuses one layer's buffers */
    int depth;         /* blocks actually run */
    int D, H, heads;
    size_t cap_rows, cap_probs;
    float *x;          /* [(layers + 1) or 2][cap_rows * D]: inputs of each block, then the output */
    IjLayerCache *lc;  /* [layers] */
    /* backward scratch */
    float *dln, *datt, *dqkv, *dh, *att_scratch;
    size_t att_scratch_cap;
    float *mem;        /* one allocation behind all of the above */
    size_t mem_floats;
    int train;         /* keeps every layer (1) or only the running one (0) */
} IjStack;

void ij_stack_init(IjStack *s, int depth, int D, int H, int heads, int train);
/* Make room for T rows in sequences with the given lengths; allocates only
 * when the previous capacity is too small (so never in steady state). */
void ij_stack_reserve(IjStack *s, const int *seg_off, int nseg);
void ij_stack_free(IjStack *s);

/* Input rows in ij_stack_input(s) [T,D]; returns the output rows [T,D]. */
static inline float *ij_stack_input(IjStack *s) { return s->x; }
float *ij_stack_forward(IjStack *s, const IjBlockW *w, const int *seg_off, int nseg);
/* The same, calling observe(ctx, l, x) with the output rows [T,D] of each block l. */
typedef void (*IjLayerObserver)(void *ctx, int layer, const float *x);
float *ij_stack_forward_observed(IjStack *s, const IjBlockW *w, const int *seg_off, int nseg,
                                 IjLayerObserver observe, void *ctx);
/* dx: in: gradient w.r.t. the stack output [T,D]; out: w.r.t. its input.
 * Parameter gradients are accumulated into gw. Needs a train stack. */
void ij_stack_backward(IjStack *s, const IjBlockW *w, IjBlockW *gw, float *dx, const int *seg_off,
                       int nseg);
/* The same, calling observe(ctx, l, dx) after block l, when gw[l] is final and dx holds the
 * gradient w.r.t. block l's input. */
void ij_stack_backward_observed(IjStack *s, const IjBlockW *w, IjBlockW *gw, float *dx, const int *seg_off,
                                int nseg, IjLayerObserver observe, void *ctx);

#endif
