/* encoder.c: the ViT encoder on context tokens (with backward) and on all
 * tokens (the target encoder, forward only).
 *
 * Patch embedding is per token, so "embed every patch, add positions, then
 * drop tokens" equals "extract only the kept patches, embed, add positions";
 * the second does less work and is what runs here.
 */
#include "model/model.h"

#include "kernels/kernels.h"

#include <string.h>

#define LN_EPS 1e-6f

/* rows [T, C*p*p] of the listed tokens, embedded into x [T,D] with positions added. */
static void embed_tokens(float *x, IjModel *m, const IjEncoderW *w, const float *images,
                         const int *sample_of, const int *tok, int T)
{
    const IjConfig *c = &m->cfg;
    int K = ij_patch_dim(c), D = c->embed_dim;
    float *patches = IJ_BUF_F(&m->b_patches, (size_t)T * K);
    ij_patchify(patches, images, sample_of, tok, T, c->channels, c->img_size, c->patch_size);
    m->be->linear_forward(x, patches, w->patch_w, w->patch_b, T, K, D, m->bf16);
#pragma omp parallel for schedule(static) if (T > 256)
    for (int t = 0; t < T; t++) {
        float *xr = x + (size_t)t * D;
        const float *pe = w->pos_embed + (size_t)tok[t] * D;
        for (int d = 0; d < D; d++) xr[d] += pe[d];
    }
}

void ij_encoder_forward_context(IjModel *m, const float *images, const IjMasks *mk)
{
    const IjConfig *c = &m->cfg;
    int B = mk->batch, T = mk->ctx_off[B], D = c->embed_dim;
    m->n_ctx = T;
    int *sample_of = IJ_BUF_I(&m->b_rows, T);
    for (int b = 0; b < B; b++)
        for (int r = mk->ctx_off[b]; r < mk->ctx_off[b + 1]; r++) sample_of[r] = b;
    ij_stack_reserve(&m->ctx_stack, mk->ctx_off, B);
    embed_tokens(ij_stack_input(&m->ctx_stack), m, &m->enc, images, sample_of, mk->ctx_idx, T);
    float *xl = ij_stack_forward(&m->ctx_stack, m->enc.blocks, mk->ctx_off, B);
    m->ctx_out = IJ_BUF_F(&m->b_ctx_out, (size_t)T * D);
    m->be->layernorm_forward(m->ctx_out, IJ_BUF_F(&m->b_ctx_mean, T), IJ_BUF_F(&m->b_ctx_rstd, T), xl,
                      m->enc.norm_w, m->enc.norm_b, T, D, LN_EPS);
}

/* After block l's backward its gradients, and those of every later tensor, are final. */
static void block_grads_done(void *ctx, int l, const float *dx)
{
    IjModel *m = ctx;
    m->grads_ready(m->grads_ready_ctx, (size_t)(m->genc.blocks[l].norm1_w - m->grads));
}

void ij_encoder_backward_context(IjModel *m, float *dctx_out, const IjMasks *mk)
{
    const IjConfig *c = &m->cfg;
    int B = mk->batch, T = m->n_ctx, D = c->embed_dim, K = ij_patch_dim(c);
    IjStack *s = &m->ctx_stack;
    const float *xl = s->x + (size_t)s->depth * s->cap_rows * D;
    float *dx = IJ_BUF_F(&m->b_dtmp, (size_t)T * D);
    memset(dx, 0, sizeof(float) * (size_t)T * D);
    m->be->layernorm_backward_acc(dx, m->genc.norm_w, m->genc.norm_b, dctx_out, xl,
                           (const float *)m->b_ctx_mean.p, (const float *)m->b_ctx_rstd.p,
                           m->enc.norm_w, T, D);
    ij_stack_backward_observed(s, m->enc.blocks, m->genc.blocks, dx, mk->ctx_off, B,
                               m->grads_ready ? block_grads_done : NULL, m);
    /* The patches of the context tokens are still in b_patches (the target
     * encoder runs before the context encoder in a step). */
    m->be->linear_backward(NULL, m->genc.patch_w, m->genc.patch_b, dx, (const float *)m->b_patches.p,
                    m->enc.patch_w, T, K, D, m->bf16);
}

float *ij_encoder_forward_full(IjModel *m, const IjEncoderW *w, const float *images, int B)
{
    return ij_encoder_forward_full_observed(m, w, images, B, NULL, NULL);
}

float *ij_encoder_forward_full_observed(IjModel *m, const IjEncoderW *w, const float *images, int B,
                                        IjChunkObserver observe, void *ctx)
{
    const IjConfig *c = &m->cfg;
    int N = ij_num_patches(c), D = c->embed_dim, T = B * N;
    int *seg = IJ_BUF_I(&m->b_full_seg, B + 1);
    for (int b = 0; b <= B; b++) seg[b] = b * N;
    ij_stack_reserve(&m->tgt_stack, seg, B);
    int *rows = IJ_BUF_I(&m->b_full_rows, 2 * (size_t)T);
    int *sample_of = rows, *tok = rows + T;
    for (int t = 0; t < T; t++) {
        sample_of[t] = t / N;
        tok[t] = t % N;
    }
    embed_tokens(ij_stack_input(&m->tgt_stack), m, w, images, sample_of, tok, T);
    float *xl = ij_stack_forward_observed(&m->tgt_stack, w->blocks, seg, B, observe, ctx);
    float *out = IJ_BUF_F(&m->b_full_out, (size_t)T * D);
    m->be->layernorm_forward(out, NULL, NULL, xl, w->norm_w, w->norm_b, T, D, LN_EPS);
    return out;
}
