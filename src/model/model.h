/* model.h: the I-JEPA model: context encoder, predictor, EMA target encoder, loss.
 *
 * Parameters, gradients and the target encoder are flat buffers laid out by
 * the tensor table (params.h). Masks come in as index lists (IjMasks), so the
 * model does not care how they were sampled, and lists may have different
 * lengths per sample (a ragged batch: no padding, no truncation needed).
 */
#ifndef IJEPA_MODEL_MODEL_H
#define IJEPA_MODEL_MODEL_H

#include "core/buf.h"
#include "model/config.h"
#include "model/params.h"
#include "backend/stack.h"

#include <stdint.h>

/* Context and target token lists of one batch. Sequence (i, b) of target block
 * i and sample b is number i*batch + b. Indices are row-major patch numbers. */
typedef struct {
    int batch, num_targets;
    const int *ctx_idx, *ctx_off;  /* ctx_off[batch + 1] */
    const int *tgt_idx, *tgt_off;  /* tgt_off[num_targets * batch + 1] */
} IjMasks;

typedef enum { IJ_LOSS_SMOOTH_L1 = 0, IJ_LOSS_L2 = 1 } IjLossKind;

typedef struct {
    IjConfig cfg;
    IjTable tab;
    float *params;   /* [n_total] */
    float *grads;    /* [n_total] */
    float *target;   /* [n_encoder] EMA target encoder */
    IjEncoderW enc, genc, tenc;    /* params, grads, target views of the encoder */
    IjPredictorW pred, gpred;      /* params, grads views of the predictor */
    IjLossKind loss_kind;
    int target_norm;               /* LayerNorm (no affine, eps 1e-5) on targets; 1 = official */
    IjBf16Path bf16;               /* the products' operands (kernels/bf16.h); set with ij_model_set_bf16 */
    int encoder_only;              /* made by ij_model_init_encoder */
    int held_bf16;                 /* ij_model_hold_bf16: the float32 matrices are gone */
    void *map;                     /* params point into this read-only mapping of a checkpoint (map_size bytes) */
    size_t map_size;
    const IjBackend *be;           /* who computes it (backend.h): ij_backend_default() at init, or set */
    /* Data parallelism (src/dist). loss_denom: how many elements the loss is averaged over;
     * 0 = this step's own (n_tgt * D). A rank holding part of a global batch sets the
     * batch's total, so that the sum of the ranks' losses and gradients is the loss and
     * gradient of the whole batch (exactly, however ragged the masks). grads_ready, when
     * set, is called from the calling thread during backward each time the suffix
     * grads[lo, n_total) is final: after the predictor, then after each encoder block
     * (so an allreduce of those gradients can overlap the rest of the backward pass). */
    size_t loss_denom;
    void (*grads_ready)(void *ctx, size_t lo);
    void *grads_ready_ctx;
    /* Wall time of the phases of the last step, in seconds. */
    struct { double target, context, predictor, backward; } time;

    /* Activations of the last step (valid until the next one). */
    IjStack ctx_stack, pred_stack, tgt_stack;
    int n_ctx, n_tgt, n_pred;      /* rows: context tokens, target tokens, predictor tokens */
    float *ctx_out;                /* [n_ctx, D] context encoder output */
    float *targets;                /* [n_tgt, D] normalised target features */
    float *preds;                  /* [n_tgt, D] predictor outputs */
    IjBuf b_patches, b_rows, b_ctx_out, b_ctx_mean, b_ctx_rstd, b_targets, b_full_out, b_full_seg, b_full_rows,
          b_pred_seg, b_pred_tgt_row, b_embed, b_pn_in, b_pn_out, b_pn_mean, b_pn_rstd,
          b_preds, b_dpreds, b_dtmp, b_dpred_x, b_dpn_in, b_dembed, b_dctx;
} IjModel;

/* Allocate and initialise (official init from seed; target = copy of encoder). */
int ij_model_init(IjModel *m, const IjConfig *c, uint64_t seed);
/* For features only: one encoder (enc and tenc are the same weights: the first n_encoder floats of
 * params), no predictor, no gradients, no target copy, no training stacks; the encoder initialised as
 * ij_model_init initialises it. Load it with ij_checkpoint_load_encoder. Cannot take a step. */
int ij_model_init_encoder(IjModel *m, const IjConfig *c, uint64_t seed);
/* The same with the weights left unwritten (zero, and no memory used yet), for a model that
 * ij_checkpoint_load_encoder fills next: start-up does not spend time initialising what it replaces. */
int ij_model_init_encoder_unset(IjModel *m, const IjConfig *c);
void ij_model_free(IjModel *m);
/* The precision of every matrix product of the model from the next step on: float32 (IJ_BF16_OFF)
 * or bf16 operands on that path (meta.use_bfloat16, `--bf16`). */
void ij_model_set_bf16(IjModel *m, IjBf16Path path);
/* The backend of every operation from the next step on (its stacks' too). */
void ij_model_set_backend(IjModel *m, const IjBackend *be);
/* Feature extraction with bf16 operands (after ij_model_set_bf16 with a bf16 path) on a model of
 * ij_model_init_encoder: the blocks' matrices packed once as bf16, the float32 ones given back to the
 * system (half the weights' memory); the model stays on that path from then on. -1 (with a message)
 * when the model or the backend cannot. */
int ij_model_hold_bf16(IjModel *m);
/* ij_model_init_encoder and ij_model_hold_bf16 in one, block by block: the float32 weights are never
 * all resident (peak: the bf16 weights and one block's float32 matrices). The same values. */
int ij_model_init_encoder_bf16(IjModel *m, const IjConfig *c, uint64_t seed, IjBf16Path path);
/* The bytes a model holds: weights (parameters, and the target copy), training state (gradients; the
 * optimizer's moments are the trainer's), the packed weights of the products, and the activations and
 * scratch of the last step or forward pass. */
typedef struct { size_t weights, training, packed, activations; } IjModelMemory;
IjModelMemory ij_model_memory(const IjModel *m);
/* Copy the encoder into the target encoder. */
void ij_model_sync_target(IjModel *m);

/* One forward pass (and backward unless grads_wanted is 0) on images [B,C,S,S]:
 * target encoder, context encoder, predictor, loss. Gradients are zeroed and
 * then filled for every trainable tensor. Returns the loss. */
float ij_model_step(IjModel *m, const float *images, const IjMasks *masks, int grads_wanted);

/* Pieces, used by ij_model_step and by the tests. */
void ij_encoder_forward_context(IjModel *m, const float *images, const IjMasks *masks);
void ij_encoder_backward_context(IjModel *m, float *dctx_out, const IjMasks *masks);
/* Target encoder on all tokens of every image: returns [B*N, D] after its final LayerNorm. */
float *ij_encoder_forward_full(IjModel *m, const IjEncoderW *w, const float *images, int batch);
/* The same, calling observe with every block's output (for multi-layer features). */
float *ij_encoder_forward_full_observed(IjModel *m, const IjEncoderW *w, const float *images, int batch,
                                        IjChunkObserver observe, void *ctx);
void ij_predictor_forward(IjModel *m, const IjMasks *masks);
/* dpreds [n_tgt, D] -> accumulates predictor grads, returns d(ctx_out) [n_ctx, D]. */
float *ij_predictor_backward(IjModel *m, const float *dpreds, const IjMasks *masks);
/* Loss between m->preds and m->targets; writes d(loss)/d(preds) into dpreds when not NULL. */
float ij_loss(IjLossKind kind, const float *pred, const float *target, float *dpred, size_t n);
/* The same over n elements, but averaged over denom (the sum over denom/n-sized parts of a
 * batch is then the loss of the whole batch). ij_loss(..., n) == ij_loss_part(..., n, n). */
float ij_loss_part(IjLossKind kind, const float *pred, const float *target, float *dpred, size_t n,
                   size_t denom);

#endif
