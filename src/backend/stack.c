/* stack.c: a stack's memory (activations, backward scratch, the chunk plan) and the calls that go to
 * its backend (see stack.h). */
#include "backend/stack.h"

#include "backend/cpu_stack.h"
#include "core/error.h"
#include "kernels/kernels.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

void ij_stack_init(IjStack *s, int depth, int D, int H, int heads, int train)
{
    memset(s, 0, sizeof *s);
    s->depth = depth;
    s->layers = train ? depth : 1;
    s->D = D;
    s->H = H;
    s->heads = heads;
    s->train = train;
    s->be = ij_backend_default();
    s->lc = ij_calloc((size_t)s->layers, sizeof *s->lc);
    /* packed weights for every block, or, for a large inference stack, for one block at a time */
    size_t per_block = ij_cpu_stack_pack_floats(D, H);
    s->pack_blocks = !train && per_block * depth * sizeof(float) > IJ_PACK_ALL_MAX_BYTES ? 1 : depth;
    s->wpack_floats = per_block * (size_t)s->pack_blocks;
    if (s->wpack_floats) s->wpack = ij_alloc_aligned(sizeof(float) * s->wpack_floats);
}

void ij_stack_free(IjStack *s)
{
    free(s->chunk_seq);
    free(s->chunk_mem);
    free(s->chunk_seg);
    free(s->colsum_part);
    free(s->mem);
    free(s->lc);
    if (!s->wpack_shared) free(s->wpack);
    memset(s, 0, sizeof *s);
}

int ij_stack_prepack_bf16_begin(IjStack *s)
{
    if (s->train || !s->bf16 || s->be != &ij_backend_cpu) return -1;
    ij_cpu_stack_prepack_bf16_begin(s);
    return 0;
}

void ij_stack_prepack_bf16_block(IjStack *s, const IjBlockW *w, int l) { ij_cpu_stack_prepack_bf16_block(s, w, l); }

void ij_stack_share_pack(IjStack *s, const IjStack *owner)
{
    if (!owner->wpack || owner->wpack_floats < s->wpack_floats) return;
    if (!s->wpack_shared) free(s->wpack);
    s->wpack = owner->wpack;
    s->wpack_shared = 1;
}

/* Chunks: consecutive sequences, greedily up to `limit` rows (a longer sequence is a chunk of its own);
 * limit = ceil(T / 8) clamped to [32, IJ_CHUNK_ROWS] (inference: IJ_CHUNK_ROWS_INFER), so a small batch
 * still gives the threads several chunks each. It depends on the sequence lengths only, never on the
 * thread count. Inference stacks also get per-thread workspaces big enough for the largest chunk. */
static void plan_chunks(IjStack *s, const int *seg_off, int nseg)
{
    int limit = (seg_off[nseg] + 7) / 8, most = s->train ? IJ_CHUNK_ROWS : IJ_CHUNK_ROWS_INFER;
    limit = limit < 32 ? 32 : limit > most ? most : limit;
    if ((size_t)nseg + 1 > s->chunk_seq_cap) {
        free(s->chunk_seq);
        s->chunk_seq_cap = (size_t)nseg + nseg / 4 + 2;
        s->chunk_seq = ij_malloc(sizeof(int) * s->chunk_seq_cap);
    }
    size_t rows = 0, probs = 0, nsegs = 0;
    int k = 0;
    s->chunk_seq[0] = 0;
    for (int q = 0; q < nseg;) {
        int q1 = q, r = 0;
        size_t pr = 0;
        while (q1 < nseg) {
            int L = seg_off[q1 + 1] - seg_off[q1];
            if (q1 > q && r + L > limit) break;
            r += L;
            pr += (size_t)L * (size_t)L;
            q1++;
        }
        if ((size_t)r > rows) rows = (size_t)r;
        if (pr * (size_t)s->heads > probs) probs = pr * (size_t)s->heads;
        if ((size_t)(q1 - q) > nsegs) nsegs = (size_t)(q1 - q);
        s->chunk_seq[++k] = q1;
        q = q1;
    }
    s->nchunks = k;
    int threads = omp_get_max_threads();
    if (s->train) { /* the chunks write into the per-layer caches: only the offset lists are per thread */
        if (nsegs > s->chunk_nseg || threads > s->chunk_threads || !s->chunk_seg) {
            if (nsegs > s->chunk_nseg) s->chunk_nseg = nsegs + nsegs / 4 + 1;
            if (threads > s->chunk_threads) s->chunk_threads = threads;
            free(s->chunk_seg);
            s->chunk_seg = ij_malloc(sizeof(int) * (s->chunk_nseg + 1) * (size_t)s->chunk_threads);
        }
        return;
    }
    if (rows <= s->chunk_rows && probs <= s->chunk_probs && nsegs <= s->chunk_nseg && threads <= s->chunk_threads &&
        s->chunk_mem)
        return;
    if (rows > s->chunk_rows) s->chunk_rows = rows;
    if (probs > s->chunk_probs) s->chunk_probs = probs + probs / 4 + 1;
    if (nsegs > s->chunk_nseg) s->chunk_nseg = nsegs;
    if (threads > s->chunk_threads) s->chunk_threads = threads;
    size_t R = s->chunk_rows, D = (size_t)s->D, H = (size_t)s->H;
    /* two ping-pong residual streams, ln, qkv, att, x1, h (GELU in place) */
    s->chunk_floats = R * (2 * D + D + 3 * D + D + D + H) + s->chunk_probs;
    s->chunk_floats = (s->chunk_floats + 15) & ~(size_t)15; /* 64-byte aligned workspaces */
    free(s->chunk_mem);
    free(s->chunk_seg);
    s->chunk_mem = ij_alloc_aligned(sizeof(float) * s->chunk_floats * (size_t)s->chunk_threads);
    s->chunk_seg = ij_malloc(sizeof(int) * (s->chunk_nseg + 1) * (size_t)s->chunk_threads);
}
void ij_stack_reserve(IjStack *s, const int *seg_off, int nseg)
{
    plan_chunks(s, seg_off, nseg);
    size_t part = s->train ? (size_t)s->nchunks * ij_cpu_stack_colsum_floats(s->D, s->H) : 0;
    if (part > s->colsum_part_cap) {
        free(s->colsum_part);
        s->colsum_part_cap = part + part / 4 + 1;
        s->colsum_part = ij_malloc(sizeof(float) * s->colsum_part_cap);
    }
    size_t T = (size_t)seg_off[nseg];
    size_t probs = s->train ? ij_att_probs_size(seg_off, nseg, s->heads) : 0;
    /* attention backward: one L x L matrix (rows padded) per thread that runs chunks */
    size_t scratch = s->train ? ij_att_scratch_size(seg_off, nseg, s->D, s->heads) / (size_t)omp_get_max_threads() *
                                    (size_t)s->chunk_threads
                              : 0;
    if (T <= s->cap_rows && probs <= s->cap_probs && scratch <= s->att_scratch_cap && s->mem) return;
    /* Grow with headroom so slowly varying mask sizes settle after a few steps. */
    if (T > s->cap_rows) s->cap_rows = T + T / 4 + 1;
    if (probs > s->cap_probs) s->cap_probs = probs + probs / 4 + 1;
    if (scratch > s->att_scratch_cap) s->att_scratch_cap = scratch + scratch / 4 + 1;
    size_t R = s->cap_rows, D = (size_t)s->D, H = (size_t)s->H;
    /* inference stacks keep only their input and output rows (the chunks work in their own space) */
    size_t nx = s->train ? (size_t)s->layers + 1 : 2, nl = s->train ? (size_t)s->layers : 0;
    size_t per_layer = R * (D + 2 + 3 * D + D + D + D + 2 + 2 * H) + s->cap_probs;
    size_t back = s->train ? R * (D + D + 3 * D + H + 3 * D) + s->att_scratch_cap : 0;
    s->mem_floats = nx * R * D + nl * per_layer + back;
    free(s->mem);
    s->mem = ij_alloc_aligned(sizeof(float) * s->mem_floats);
    float *p = s->mem;
#define TAKE(n) (p += (n), p - (n))
    s->x = TAKE(nx * R * D);
    for (int l = 0; l < (int)nl; l++) {
        IjLayerCache *c = &s->lc[l];
        c->ln1 = TAKE(R * D);
        c->mean1 = TAKE(R);
        c->rstd1 = TAKE(R);
        c->qkv = TAKE(3 * R * D);
        c->probs = TAKE(s->cap_probs);
        c->att = TAKE(R * D);
        c->x1 = TAKE(R * D);
        c->ln2 = TAKE(R * D);
        c->mean2 = TAKE(R);
        c->rstd2 = TAKE(R);
        c->h = TAKE(R * H);
        c->g = TAKE(R * H);
    }
    if (s->train) {
        s->dln = TAKE(R * D);
        s->datt = TAKE(R * D);
        s->dqkv = TAKE(3 * R * D);
        s->dh = TAKE(R * H);
        s->dout = TAKE(R * D);
        s->dln2 = TAKE(R * D);
        s->dx1 = TAKE(R * D);
        s->att_scratch = TAKE(s->att_scratch_cap);
    }
#undef TAKE
    IJ_ASSERT((size_t)(p - s->mem) == s->mem_floats);
}

float *ij_stack_forward(IjStack *s, const IjBlockW *w, const int *seg_off, int nseg)
{
    return ij_stack_forward_observed(s, w, seg_off, nseg, NULL, NULL);
}

float *ij_stack_forward_observed(IjStack *s, const IjBlockW *w, const int *seg_off, int nseg,
                                 IjChunkObserver observe, void *ctx)
{
    if (s->depth == 0) return s->x;
    return s->be->stack_forward(s, w, seg_off, nseg, observe, ctx);
}

void ij_stack_backward(IjStack *s, const IjBlockW *w, IjBlockW *gw, float *dx, const int *seg_off,
                       int nseg)
{
    ij_stack_backward_observed(s, w, gw, dx, seg_off, nseg, NULL, NULL);
}

void ij_stack_backward_observed(IjStack *s, const IjBlockW *w, IjBlockW *gw, float *dx, const int *seg_off,
                                int nseg, IjLayerObserver observe, void *ctx)
{
    IJ_ASSERT(s->train);
    s->be->stack_backward(s, w, gw, dx, seg_off, nseg, observe, ctx);
}
