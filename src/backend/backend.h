/* backend.h: the seam between the model's mathematics and the machine that computes it.
 *
 * The model files (encoder, predictor, model) say in which order the operations run; a backend says
 * how each one is computed, over the same flat float32 buffers and with the same conventions as
 * kernels/kernels.h (row-major, T token rows, ragged batches as seg_off lists, backward passes that
 * accumulate into parameter gradients). Two backends:
 *
 *   cpu  the fast kernels (kernels/): register-tiled and bf16 products, the fused attention, chunks of
 *        whole sequences through a block on one thread, packed weights (backend/cpu_stack.c).
 *   ref  plain loops that read like SPEC: one loop nest per operation, sums in double, no threads,
 *        no packing (backend/ref_ops.c, backend/ref_stack.c): an executable specification that the
 *        cpu backend is tested against (tests/test_backend.c) and that passes the PyTorch parity
 *        test and the gradient check by itself.
 *
 * A run picks one with `--backend` or the environment variable IJ_BACKEND (cpu by default). A new
 * backend (CUDA) fills in the same table.
 */
#ifndef IJEPA_BACKEND_BACKEND_H
#define IJEPA_BACKEND_BACKEND_H

#include "kernels/bf16.h"

#include <stddef.h>
#include <stdint.h>

struct IjStack;
struct IjBlockW;
/* A tensor's values in the flat buffers, as the optimizer sees them (model/params.h builds the list). */
typedef struct {
    size_t offset, numel;
    int trainable, decay;
} IjParamRange;
/* One AdamW step's scalars, rounded to float the way torch passes them to its float kernels. */
typedef struct {
    float beta1, beta2, one_minus_beta1, one_minus_beta2, sqrt_bias2, eps, step_size, momentum, one_minus_momentum;
    float decay; /* 1 - lr * wd, for the ranges with decay set */
} IjAdamScalars;
typedef void (*IjChunkObserver)(void *ctx, int layer, const float *x, int row0, int nrows);
typedef void (*IjLayerObserver)(void *ctx, int layer, const float *x);

typedef struct IjBackend {
    const char *name;
    /* out[T,Cout] = in[T,Cin] @ w[Cout,Cin]^T + b (b may be NULL); with bf16 set both operands are
     * rounded to bf16 and the sums stay float32 (kernels/bf16.h). */
    void (*linear_forward)(float *out, const float *in, const float *w, const float *b, int T, int Cin, int Cout,
                           IjBf16Path bf16);
    /* din = dout @ w (skipped if din NULL); dw += dout^T @ in; db += column sums of dout (db may be NULL) */
    void (*linear_backward)(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                            int T, int Cin, int Cout, IjBf16Path bf16);
    /* y = (x - mean) * rstd * w + b per row, biased variance; mean, rstd [T] may be NULL, w, b may be NULL */
    void (*layernorm_forward)(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                              int T, int C, float eps);
    /* dx += dLN/dx; dw += sum dy * xhat; db += sum dy (any of dx, dw, db, w may be NULL) */
    void (*layernorm_backward_acc)(float *dx, float *dw, float *db, const float *dy, const float *x,
                                   const float *mean, const float *rstd, const float *w, int T, int C);
    /* y = 0.5 x (1 + erf(x / sqrt 2)); dx = dy * gelu'(x) (dx may alias dy) */
    void (*gelu_forward)(float *y, const float *x, size_t n);
    void (*gelu_backward)(float *dx, const float *dy, const float *x, size_t n);
    /* softmax(q k^T / sqrt(hd)) v per sequence and head on qkv [T,3D]; probs as kernels.h lays them out */
    void (*attention_forward)(float *out, float *probs, const float *qkv, const int *seg_off, int nseg, int D,
                              int heads, IjBf16Path bf16);
    void (*attention_backward)(float *dqkv, const float *dout, const float *qkv, const float *probs,
                               const int *seg_off, int nseg, int D, int heads, float *scratch, IjBf16Path bf16);
    /* AdamW on the trainable ranges (decay on those with decay set), then, for values below n_ema, the
     * EMA of the target from the updated values (train/optim.h says which scalars) */
    void (*adamw_ema)(float *params, const float *grads, float *m, float *v, const IjParamRange *r, int nr,
                      float *target, size_t n_ema, const IjAdamScalars *k);
    /* A stack of pre-norm ViT blocks (backend/stack.h): forward into the stack's caches, returning the
     * output rows; backward from d(output) in dx to d(input) in dx, accumulating into gw. */
    float *(*stack_forward)(struct IjStack *s, const struct IjBlockW *w, const int *seg_off, int nseg,
                            IjChunkObserver observe, void *ctx);
    void (*stack_backward)(struct IjStack *s, const struct IjBlockW *w, struct IjBlockW *gw, float *dx,
                           const int *seg_off, int nseg, IjLayerObserver observe, void *ctx);
} IjBackend;

extern const IjBackend ij_backend_cpu, ij_backend_ref;

/* The backend with this name ("cpu", "ref"), or NULL with ij_last_error() set. */
const IjBackend *ij_backend_find(const char *name);
/* What new models and stacks use: the last ij_backend_set_default, else IJ_BACKEND from the
 * environment, else cpu. An unknown IJ_BACKEND is an error the CLI reports before anything runs
 * (ij_backend_check_env); a library caller that skips the check gets cpu and one line on stderr. */
const IjBackend *ij_backend_default(void);
/* -1 with ij_last_error() set if IJ_BACKEND is set to an unknown name. */
int ij_backend_check_env(void);
/* Make the named backend the default; -1 with ij_last_error() set for an unknown name. */
int ij_backend_set_default(const char *name);

#endif
