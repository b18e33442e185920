/* cpu_stack.c: the cpu backend's stack of ViT blocks: chunks of whole sequences through a block on one
 * thread, weights packed for the register-tiled products (see stack.h for the plan and backend.h). */
#include "backend/cpu_stack.h"

#include "core/error.h"
#include "kernels/colsum.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "kernels/kernels.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define LN_EPS 1e-6f

/* Floats for w[rows, cols] packed either way: w^T for the forward, w for the input gradient (the two
 * differ in their zero padding), as float32 or as bf16 pairs (a pair in a float's room). */
static size_t pack_slot(int rows, int cols)
{
    size_t fwd = ij_gemm_packed_size(rows, cols), bwd = ij_gemm_packed_size(cols, rows);
    size_t fwd16 = ij_gemm_bf16_packed_size(rows, cols), bwd16 = ij_gemm_bf16_packed_size(cols, rows);
    size_t most = fwd > bwd ? fwd : bwd, most16 = fwd16 > bwd16 ? fwd16 : bwd16;
    return most > most16 ? most : most16;
}
/* A chunk's column sums in the backward pass: where each one sits in its 9D + H floats. */
enum { PART_FC2_B, PART_FC1_B, PART_NORM2_W, PART_NORM2_B, PART_PROJ_B, PART_QKV_B, PART_NORM1_W, PART_NORM1_B,
       PART_COUNT };

static void part_layout(size_t off[PART_COUNT + 1], int D, int H)
{
    const int width[PART_COUNT] = {D, H, D, D, D, 3 * D, D, D};
    off[0] = 0;
    for (int i = 0; i < PART_COUNT; i++) off[i + 1] = off[i] + (size_t)width[i];
}

size_t ij_cpu_stack_colsum_floats(int D, int H)
{
    size_t off[PART_COUNT + 1];
    part_layout(off, D, H);
    return off[PART_COUNT];
}

/* Room for either layout of every one of a block's four matrices (see packed_block). */
size_t ij_cpu_stack_pack_floats(int D, int H)
{
    return pack_slot(3 * D, D) + pack_slot(D, D) + pack_slot(H, D) + pack_slot(D, H);
}
/* A block's four matrices in the packed buffer (float32 or bf16 pairs; all NULL where the float32
 * products go through BLAS). */
typedef struct {
    const void *qkv, *proj, *fc1, *fc2;
} PackedBlock;

static PackedBlock packed_block(const IjStack *s, int l)
{
    PackedBlock pb = {0};
    if (!s->wpack || (!s->bf16 && !IJ_GEMM_NR)) return pb;
    int D = s->D, H = s->H;
    if (s->prepacked) { /* bf16 forward layout only, back to back */
        size_t q = ij_gemm_bf16_packed_size(3 * D, D), pr = ij_gemm_bf16_packed_size(D, D);
        size_t f1 = ij_gemm_bf16_packed_size(H, D), f2 = ij_gemm_bf16_packed_size(D, H);
        const float *p = s->wpack + (size_t)l * (q + pr + f1 + f2);
        pb.qkv = p, pb.proj = p + q, pb.fc1 = p + q + pr, pb.fc2 = p + q + pr + f1;
        return pb;
    }
    const float *p = s->wpack + (size_t)(s->pack_blocks == s->depth ? l : 0) * ij_cpu_stack_pack_floats(s->D, s->H);
    pb.qkv = p;
    pb.proj = p += pack_slot(3 * D, D);
    pb.fc1 = p += pack_slot(D, D);
    pb.fc2 = p + pack_slot(H, D);
    return pb;
}

/* Pack the blocks' matrices for the forward (w^T) or backward (w) products: every block's (only < 0),
 * or block `only`'s (a stack that packs one block at a time); threaded over them. In a bf16 stack this
 * is where the weights are rounded: once per pass, never per product. */
static void pack_weights(IjStack *s, const IjBlockW *w, int backward, int only)
{
    if (!s->wpack || (!s->bf16 && !IJ_GEMM_NR) || s->prepacked) return;
    const int D = s->D, H = s->H, first = only < 0 ? 0 : only, nblocks = only < 0 ? s->depth : 1;
#pragma omp parallel for schedule(dynamic, 1)
    for (int job = 0; job < 4 * nblocks; job++) {
        int l = first + job / 4, which = job % 4;
        PackedBlock pb = packed_block(s, l);
        const float *src[4] = {w[l].qkv_w, w[l].proj_w, w[l].fc1_w, w[l].fc2_w};
        void *dst[4] = {(void *)pb.qkv, (void *)pb.proj, (void *)pb.fc1, (void *)pb.fc2};
        const int rows[4] = {3 * D, D, H, D}, cols[4] = {D, D, D, H}; /* w[rows, cols] */
        if (s->bf16 && backward) ij_gemm_bf16_pack_w(dst[which], src[which], rows[which], cols[which]);
        else if (s->bf16) ij_gemm_bf16_pack_wt(dst[which], src[which], rows[which], cols[which]);
        else if (backward) ij_gemm_pack_w(dst[which], src[which], rows[which], cols[which]);
        else ij_gemm_pack_wt(dst[which], src[which], rows[which], cols[which]);
    }
}

static void block_forward(float *out, IjLayerCache *c, const IjBlockW *w, const PackedBlock *pb, const float *x,
                          const int *seg_off, int nseg, int D, int H, int heads, IjBf16Path bf16)
{
    int T = seg_off[nseg];
    ij_layernorm_forward(c->ln1, c->mean1, c->rstd1, x, w->norm1_w, w->norm1_b, T, D, LN_EPS);
    ij_linear_forward_rows(c->qkv, c->ln1, w->qkv_w, pb->qkv, w->qkv_b, NULL, T, D, 3 * D, bf16);
    if (bf16) ij_bf16_round_inplace(c->qkv, (size_t)T * 3 * D); /* attention's operands */
    ij_attention_forward(c->att, c->probs, c->qkv, seg_off, nseg, D, heads, bf16);
    ij_linear_forward_rows(c->x1, c->att, w->proj_w, pb->proj, w->proj_b, x, T, D, D, bf16);
    ij_layernorm_forward(c->ln2, c->mean2, c->rstd2, c->x1, w->norm2_w, w->norm2_b, T, D, LN_EPS);
    ij_linear_forward_rows(c->h, c->ln2, w->fc1_w, pb->fc1, w->fc1_b, NULL, T, D, H, bf16);
    if (c->g == c->h) ij_gelu_forward(c->g, c->h, (size_t)T * H); /* inference: in place */
    else ij_gelu_forward_keep_slope(c->g, c->h, (size_t)T * H);
    ij_linear_forward_rows(out, c->g, w->fc2_w, pb->fc2, w->fc2_b, c->x1, T, H, D, bf16);
}

/* Threads for a chunked loop: as many as asked for now, at most as many as have workspaces. */
static int chunk_threads(const IjStack *s)
{
    return omp_get_max_threads() < s->chunk_threads ? omp_get_max_threads() : s->chunk_threads;
}

/* Chunk k on thread tid: its first sequence q0, sequence count n, first row base; returns its sequence
 * offsets relative to base (n + 1 entries, in the thread's own list). */
static int *chunk_begin(const IjStack *s, const int *seg_off, int k, int tid, int *q0, int *n, int *base)
{
    int *seg = s->chunk_seg + (size_t)tid * (s->chunk_nseg + 1);
    *q0 = s->chunk_seq[k], *n = s->chunk_seq[k + 1] - *q0, *base = seg_off[*q0];
    for (int j = 0; j <= *n; j++) seg[j] = seg_off[*q0 + j] - *base;
    return seg;
}

/* A training stack block by block, each block's chunks spread over the threads: the chunks' rows of
 * every layer's cache and of the per-block inputs, where the backward pass reads them. One block's
 * weights are read by every chunk while they are in cache; chunk by chunk through all blocks they came
 * from L3 once per chunk and block (`ijepa bench`, config 2: context forward 159-161 -> 140-142 ms per
 * step; config 1 within the noise). */
static void forward_training(IjStack *s, const IjBlockW *w, const int *seg_off, IjChunkObserver observe, void *ctx)
{
    size_t stride = s->cap_rows * (size_t)s->D;
    const int D = s->D, H = s->H, heads = s->heads;
    for (int l = 0; l < s->depth; l++) {
        PackedBlock pb = packed_block(s, l);
#pragma omp parallel for schedule(dynamic, 1) num_threads(chunk_threads(s))
        for (int k = 0; k < s->nchunks; k++) {
            int tid = omp_get_thread_num(), q0, n, base;
            int *seg = chunk_begin(s, seg_off, k, tid, &q0, &n, &base);
            size_t b = (size_t)base, poff = ij_att_probs_size(seg_off, q0, heads);
            IjLayerCache c = s->lc[l];
            c.ln1 += b * D, c.mean1 += b, c.rstd1 += b, c.qkv += b * 3 * D, c.probs += poff;
            c.att += b * D, c.x1 += b * D, c.ln2 += b * D, c.mean2 += b, c.rstd2 += b;
            c.h += b * H, c.g += b * H;
            float *out = s->x + (size_t)(l + 1) * stride + b * D;
            block_forward(out, &c, &w[l], &pb, s->x + (size_t)l * stride + b * D, seg, n, D, H, heads, s->bf16);
            if (observe) observe(ctx, l, out, base, seg[n]);
        }
    }
}

/* A chunk's views into the thread's workspace (an inference stack's): what a block makes on the way. */
static IjLayerCache chunk_cache(const IjStack *s, float *p)
{
    const size_t R = s->chunk_rows, D = (size_t)s->D, H = (size_t)s->H;
    IjLayerCache c = {0};
    c.ln1 = c.ln2 = p + 2 * R * D; /* LN1's output is dead once qkv is computed */
    c.qkv = p + 3 * R * D;
    c.att = p + 6 * R * D;
    c.x1 = p + 7 * R * D;
    c.h = c.g = p + 8 * R * D;
    c.probs = p + 8 * R * D + R * H;
    return c;
}

/* An inference stack whose packed weights are too large to hold for every block (ViT-L and wider):
 * block by block, each packed just before it runs, its chunks spread over the threads; the rows go
 * back and forth between the stack's two slots. Returns the slot that holds the output. */
static float *forward_inference_by_block(IjStack *s, const IjBlockW *w, const int *seg_off, IjChunkObserver observe,
                                         void *ctx)
{
    const int D = s->D, H = s->H, heads = s->heads;
    float *slot[2] = {s->x, s->x + s->cap_rows * (size_t)D};
    for (int l = 0; l < s->depth; l++) {
        pack_weights(s, w, 0, l);
        PackedBlock pb = packed_block(s, l);
        const float *in = slot[l & 1];
        float *out = slot[(l + 1) & 1];
#pragma omp parallel for schedule(dynamic, 1) num_threads(chunk_threads(s))
        for (int k = 0; k < s->nchunks; k++) {
            int tid = omp_get_thread_num(), q0, n, base;
            int *seg = chunk_begin(s, seg_off, k, tid, &q0, &n, &base);
            IjLayerCache c = chunk_cache(s, s->chunk_mem + (size_t)tid * s->chunk_floats);
            float *o = out + (size_t)base * D;
            block_forward(o, &c, &w[l], &pb, in + (size_t)base * D, seg, n, D, H, heads, s->bf16);
            if (observe) observe(ctx, l, o, base, seg[n]);
        }
    }
    return slot[s->depth & 1];
}

/* An inference stack chunk by chunk, each chunk through all blocks on one thread: input rows s->x,
 * output rows in the second slot, activations in the thread's workspace (in that core's cache). */
static void forward_inference(IjStack *s, const IjBlockW *w, const int *seg_off, IjChunkObserver observe, void *ctx)
{
    const float *gin = s->x;
    float *gout = s->x + s->cap_rows * (size_t)s->D;
    const int D = s->D, H = s->H, heads = s->heads, depth = s->depth;
#pragma omp parallel for schedule(dynamic, 1) num_threads(chunk_threads(s))
    for (int k = 0; k < s->nchunks; k++) {
        int tid = omp_get_thread_num(), q0, n, base;
        int *seg = chunk_begin(s, seg_off, k, tid, &q0, &n, &base);
        float *p = s->chunk_mem + (size_t)tid * s->chunk_floats;
        size_t R = s->chunk_rows;
        float *buf[2] = {p, p + R * D};
        IjLayerCache c = chunk_cache(s, p);
        for (int l = 0; l < depth; l++) {
            const float *in = l == 0 ? gin + (size_t)base * D : buf[(l - 1) & 1];
            float *out = l == depth - 1 ? gout + (size_t)base * D : buf[l & 1];
            PackedBlock pb = packed_block(s, l);
            block_forward(out, &c, &w[l], &pb, in, seg, n, D, H, heads, s->bf16);
            if (observe) observe(ctx, l, out, base, seg[n]);
        }
    }
}

void ij_cpu_stack_prepack_bf16_begin(IjStack *s)
{
    const int D = s->D, H = s->H;
    size_t per = ij_gemm_bf16_packed_size(3 * D, D) + ij_gemm_bf16_packed_size(D, D) + ij_gemm_bf16_packed_size(H, D) +
                 ij_gemm_bf16_packed_size(D, H);
    if (!s->wpack_shared) free(s->wpack);
    s->wpack_floats = per * (size_t)s->depth;
    s->wpack = ij_alloc_aligned(sizeof(float) * s->wpack_floats);
    s->wpack_shared = 0;
    s->prepacked = 1; /* packed_block's compact layout from here on */
    s->pack_blocks = s->depth;
}

void ij_cpu_stack_prepack_bf16_block(IjStack *s, const IjBlockW *w, int l)
{
    const int D = s->D, H = s->H;
    PackedBlock pb = packed_block(s, l);
    const float *src[4] = {w[l].qkv_w, w[l].proj_w, w[l].fc1_w, w[l].fc2_w};
    void *dst[4] = {(void *)pb.qkv, (void *)pb.proj, (void *)pb.fc1, (void *)pb.fc2};
    const int rows[4] = {3 * D, D, H, D}, cols[4] = {D, D, D, H};
#pragma omp parallel for schedule(dynamic, 1)
    for (int which = 0; which < 4; which++) ij_gemm_bf16_pack_wt(dst[which], src[which], rows[which], cols[which]);
}

float *ij_cpu_stack_forward(IjStack *s, const IjBlockW *w, const int *seg_off, int nseg, IjChunkObserver observe,
                           void *ctx)
{
    (void)nseg; /* the chunk plan of the last ij_stack_reserve covers the sequences */
    if (!s->train && !s->prepacked && s->pack_blocks < s->depth)
        return forward_inference_by_block(s, w, seg_off, observe, ctx);
    pack_weights(s, w, 0, -1);
    if (s->train) forward_training(s, w, seg_off, observe, ctx);
    else forward_inference(s, w, seg_off, observe, ctx);
    return s->x + (s->train ? (size_t)s->depth : 1) * s->cap_rows * (size_t)s->D;
}

/* One block's backward pass in two phases.
 * A: the input gradients, by chunks of whole sequences, each chunk through the whole block on one
 *    thread (single-threaded products): dx = d(block input) from dout = d(block output), which stays
 *    as it is; what the weight gradients need is kept for all rows (dout, dh, dln2, dx1, dqkv, dln),
 *    and the bias and LayerNorm-parameter gradients are summed over the chunk's rows while they are
 *    in cache.
 * B: the weight gradients over all rows at once (products with K = T, threaded inside BLAS), and the
 *    chunks' column sums added up in chunk order: every sum runs in an order fixed by the sequence
 *    lengths, never by the thread count. */
static void block_backward(IjStack *s, const IjLayerCache *c, const IjBlockW *wl, const PackedBlock *pb,
                           IjBlockW *gl, const float *dout, float *dx, const float *x, const int *seg_off, int T)
{
    const int D = s->D, H = s->H, heads = s->heads;
    const IjBf16Path bf16 = s->bf16;
    size_t scratch_per_thread = s->att_scratch_cap / (size_t)s->chunk_threads;
    size_t off[PART_COUNT + 1];
    part_layout(off, D, H);
#pragma omp parallel for schedule(dynamic, 1) num_threads(chunk_threads(s))
    for (int k = 0; k < s->nchunks; k++) {
        int tid = omp_get_thread_num(), q0, n, base;
        int *seg = chunk_begin(s, seg_off, k, tid, &q0, &n, &base);
        int r = seg[n];
        size_t b = (size_t)base, poff = ij_att_probs_size(seg_off, q0, heads);
        const float *doutr = dout + b * D;
        float *dxr = dx + b * D, *dh = s->dh + b * H, *dln2 = s->dln2 + b * D, *dqkv = s->dqkv + b * 3 * D;
        float *datt = s->datt + b * D, *dln = s->dln + b * D, *dx1 = s->dx1 + b * D;
        float *part = s->colsum_part + (size_t)k * off[PART_COUNT];
        memset(part, 0, sizeof(float) * off[PART_COUNT]);
        /* MLP branch: d(x1) = d(out) from the residual plus the branch's part. */
        colsum_rows(part + off[PART_FC2_B], doutr, NULL, NULL, NULL, r, D, D);
        ij_linear_backward_input_scaled_rows(dh, doutr, wl->fc2_w, pb->fc2, c->h + b * H, r, H, D, bf16); /* GELU's too */
        colsum_rows(part + off[PART_FC1_B], dh, NULL, NULL, NULL, r, H, H);
        ij_linear_backward_input_rows(dln2, dh, wl->fc1_w, pb->fc1, r, D, H, bf16);
        colsum_rows(part + off[PART_NORM2_B], dln2, NULL, NULL, NULL, r, D, D);
        colsum_rows(part + off[PART_NORM2_W], dln2, c->x1 + b * D, c->mean2 + b, c->rstd2 + b, r, D, D);
        ij_layernorm_backward_rows(dx1, doutr, dln2, c->x1 + b * D, c->mean2 + b, c->rstd2 + b, wl->norm2_w, r, D);
        /* Attention branch: d(x) = d(x1) from the residual plus the branch's part. */
        colsum_rows(part + off[PART_PROJ_B], dx1, NULL, NULL, NULL, r, D, D);
        ij_linear_backward_input_rows(datt, dx1, wl->proj_w, pb->proj, r, D, D, bf16);
        if (bf16) ij_bf16_round_inplace(datt, (size_t)r * D); /* an operand of attention's products */
        ij_attention_backward(dqkv, datt, c->qkv + b * 3 * D, c->probs + poff, seg, n, D, heads,
                           s->att_scratch + (size_t)tid * scratch_per_thread, bf16);
        colsum_rows(part + off[PART_QKV_B], dqkv, NULL, NULL, NULL, r, 3 * D, 3 * D);
        ij_linear_backward_input_rows(dln, dqkv, wl->qkv_w, pb->qkv, r, D, 3 * D, bf16);
        colsum_rows(part + off[PART_NORM1_B], dln, NULL, NULL, NULL, r, D, D);
        colsum_rows(part + off[PART_NORM1_W], dln, x + b * D, c->mean1 + b, c->rstd1 + b, r, D, D);
        ij_layernorm_backward_rows(dxr, dx1, dln, x + b * D, c->mean1 + b, c->rstd1 + b, wl->norm1_w, r, D);
    }
    ij_linear_backward_params(gl->fc2_w, NULL, dout, c->g, T, H, D, bf16);
    ij_linear_backward_params(gl->fc1_w, NULL, s->dh, c->ln2, T, D, H, bf16);
    ij_linear_backward_params(gl->proj_w, NULL, s->dx1, c->att, T, D, D, bf16);
    ij_linear_backward_params(gl->qkv_w, NULL, s->dqkv, c->ln1, T, D, 3 * D, bf16);
    float *dst[PART_COUNT] = {gl->fc2_b, gl->fc1_b, gl->norm2_w, gl->norm2_b,
                              gl->proj_b, gl->qkv_b, gl->norm1_w, gl->norm1_b};
    for (int i = 0; i < PART_COUNT; i++) {
        size_t w = off[i + 1] - off[i];
        for (int k = 0; k < s->nchunks; k++) {
            const float *p = s->colsum_part + (size_t)k * off[PART_COUNT] + off[i];
#pragma omp simd
            for (size_t j = 0; j < w; j++) dst[i][j] += p[j];
        }
    }
}
void ij_cpu_stack_backward(IjStack *s, const IjBlockW *w, IjBlockW *gw, float *dx, const int *seg_off, int nseg,
                           IjLayerObserver observe, void *ctx)
{
    int T = seg_off[nseg], D = s->D;
    size_t stride = s->cap_rows * (size_t)D;
    pack_weights(s, w, 1, -1);
    /* d(out) and d(x) of a block in two buffers that swap roles: d(out) stays intact for the block's
     * weight gradients, with no copy of it */
    float *dcur = dx, *dnext = s->dout;
    for (int l = s->depth - 1; l >= 0; l--) {
        PackedBlock pb = packed_block(s, l);
        block_backward(s, &s->lc[l], &w[l], &pb, &gw[l], dcur, dnext, s->x + (size_t)l * stride, seg_off, T);
        if (observe) observe(ctx, l, dnext);
        float *t = dcur;
        dcur = dnext, dnext = t;
    }
    if (dcur != dx) memcpy(dx, dcur, sizeof(float) * (size_t)T * D);
}
