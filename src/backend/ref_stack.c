/* ref_stack.c: the ref backend's stack of pre-norm ViT blocks (SPEC section 2), over all rows at once,
 * block by block, through the ref operations:
 *
 *   x1 = x + proj(attention(LN1(x)));  out = x1 + fc2(gelu(fc1(LN2(x1))))
 *
 * A training stack keeps each block's activations in its layer cache (h: fc1's output before GELU);
 * an inference stack runs the chunks of the stack's plan one after the other in the first workspace
 * (attention never looks across sequences, so chunks change nothing but the memory; LayerNorm's
 * statistics are not kept). */
#include "backend/ref_ops.h"

#include <string.h>

#define LN_EPS 1e-6f

static void block_forward(float *out, const IjLayerCache *c, const IjBlockW *w, const float *x, const int *seg_off,
                          int nseg, int D, int H, int heads, IjBf16Path bf16)
{
    const int T = seg_off[nseg];
    ij_ref_layernorm_forward(c->ln1, c->mean1, c->rstd1, x, w->norm1_w, w->norm1_b, T, D, LN_EPS);
    ij_ref_linear_forward(c->qkv, c->ln1, w->qkv_w, w->qkv_b, T, D, 3 * D, bf16);
    if (bf16) /* q, k and v are the operands of attention's products */
        for (size_t i = 0; i < (size_t)T * 3 * D; i++) c->qkv[i] = ij_bf16_round(c->qkv[i]);
    ij_ref_attention_forward(c->att, c->probs, c->qkv, seg_off, nseg, D, heads, bf16);
    ij_ref_linear_forward(c->x1, c->att, w->proj_w, w->proj_b, T, D, D, bf16);
    for (size_t i = 0; i < (size_t)T * D; i++) c->x1[i] += x[i];
    ij_ref_layernorm_forward(c->ln2, c->mean2, c->rstd2, c->x1, w->norm2_w, w->norm2_b, T, D, LN_EPS);
    ij_ref_linear_forward(c->h, c->ln2, w->fc1_w, w->fc1_b, T, D, H, bf16);
    ij_ref_gelu_forward(c->g, c->h, (size_t)T * H);
    ij_ref_linear_forward(out, c->g, w->fc2_w, w->fc2_b, T, H, D, bf16);
    for (size_t i = 0; i < (size_t)T * D; i++) out[i] += c->x1[i];
}

float *ij_ref_stack_forward(IjStack *s, const IjBlockW *w, const int *seg_off, int nseg, IjChunkObserver observe,
                            void *ctx)
{
    const int D = s->D, H = s->H;
    const size_t stride = s->cap_rows * (size_t)D;
    if (s->train) {
        for (int l = 0; l < s->depth; l++) {
            float *out = s->x + (size_t)(l + 1) * stride;
            block_forward(out, &s->lc[l], &w[l], s->x + (size_t)l * stride, seg_off, nseg, D, H, s->heads, s->bf16);
            if (observe) observe(ctx, l, out, 0, seg_off[nseg]);
        }
        return s->x + (size_t)s->depth * stride;
    }
    /* inference: the workspace of cpu_stack.c's forward_inference, on one thread; g = h (in place) */
    const size_t R = s->chunk_rows;
    float *p = s->chunk_mem, *buf[2] = {p, p + R * D};
    IjLayerCache c = {.ln1 = p + 2 * R * D, .ln2 = p + 2 * R * D, .qkv = p + 3 * R * D, .att = p + 6 * R * D, .x1 = p + 7 * R * D,
                      .h = p + 8 * R * D, .g = p + 8 * R * D, .probs = p + 8 * R * D + R * H};
    for (int k = 0; k < s->nchunks; k++) {
        int q0 = s->chunk_seq[k], n = s->chunk_seq[k + 1] - q0, base = seg_off[q0];
        int *seg = s->chunk_seg;
        for (int j = 0; j <= n; j++) seg[j] = seg_off[q0 + j] - base;
        for (int l = 0; l < s->depth; l++) {
            const float *in = l == 0 ? s->x + (size_t)base * D : buf[(l - 1) & 1];
            float *out = l == s->depth - 1 ? s->x + stride + (size_t)base * D : buf[l & 1];
            block_forward(out, &c, &w[l], in, seg, n, D, H, s->heads, s->bf16);
            if (observe) observe(ctx, l, out, base, seg[n]);
        }
    }
    return s->x + stride;
}

/* One block backward: dout = d(block output), dx = d(block input); the parameter gradients add into gl. */
static void block_backward(IjStack *s, const IjLayerCache *c, const IjBlockW *wl, IjBlockW *gl, const float *dout,
                           float *dx, const float *x, const int *seg_off, int nseg)
{
    const int T = seg_off[nseg], D = s->D, H = s->H;
    const IjBf16Path bf16 = s->bf16;
    /* out = x1 + fc2(gelu(fc1(LN2(x1)))) */
    ij_ref_linear_backward(s->dh, gl->fc2_w, gl->fc2_b, dout, c->g, wl->fc2_w, T, H, D, bf16);
    ij_ref_gelu_backward(s->dh, s->dh, c->h, (size_t)T * H);
    ij_ref_linear_backward(s->dln2, gl->fc1_w, gl->fc1_b, s->dh, c->ln2, wl->fc1_w, T, D, H, bf16);
    memcpy(s->dx1, dout, sizeof(float) * (size_t)T * D);
    ij_ref_layernorm_backward_acc(s->dx1, gl->norm2_w, gl->norm2_b, s->dln2, c->x1, c->mean2, c->rstd2, wl->norm2_w,
                                  T, D);
    /* x1 = x + proj(attention(qkv(LN1(x)))) */
    ij_ref_linear_backward(s->datt, gl->proj_w, gl->proj_b, s->dx1, c->att, wl->proj_w, T, D, D, bf16);
    if (bf16)
        for (size_t i = 0; i < (size_t)T * D; i++) s->datt[i] = ij_bf16_round(s->datt[i]);
    ij_ref_attention_backward(s->dqkv, s->datt, c->qkv, c->probs, seg_off, nseg, D, s->heads, s->att_scratch, bf16);
    ij_ref_linear_backward(s->dln, gl->qkv_w, gl->qkv_b, s->dqkv, c->ln1, wl->qkv_w, T, D, 3 * D, bf16);
    memcpy(dx, s->dx1, sizeof(float) * (size_t)T * D);
    ij_ref_layernorm_backward_acc(dx, gl->norm1_w, gl->norm1_b, s->dln, x, c->mean1, c->rstd1, wl->norm1_w, T, D);
}

void ij_ref_stack_backward(IjStack *s, const IjBlockW *w, IjBlockW *gw, float *dx, const int *seg_off, int nseg,
                           IjLayerObserver observe, void *ctx)
{
    const int T = seg_off[nseg];
    const size_t stride = s->cap_rows * (size_t)s->D;
    float *dcur = dx, *dnext = s->dout; /* d(out) and d(x) of a block, swapping roles */
    for (int l = s->depth - 1; l >= 0; l--) {
        block_backward(s, &s->lc[l], &w[l], &gw[l], dcur, dnext, s->x + (size_t)l * stride, seg_off, nseg);
        if (observe) observe(ctx, l, dnext);
        float *t = dcur;
        dcur = dnext, dnext = t;
    }
    if (dcur != dx) memcpy(dx, dcur, sizeof(float) * (size_t)T * s->D);
}
