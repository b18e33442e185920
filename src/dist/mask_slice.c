/* mask_slice.c: see mask_slice.h. */
#include "dist/mask_slice.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

void ij_mask_slice_init(IjMaskSlice *s, int batch, int num_targets, int num_patches)
{
    IJ_ASSERT(batch > 0 && num_targets > 0 && num_patches > 0);
    memset(s, 0, sizeof *s);
    s->cap_batch = batch;
    s->cap_targets = num_targets;
    s->cap_patches = num_patches;
    size_t seqs = (size_t)num_targets * (size_t)batch;
    s->ctx_off = ij_malloc(sizeof(int) * ((size_t)batch + 1));
    s->tgt_off = ij_malloc(sizeof(int) * (seqs + 1));
    s->tgt_idx = ij_malloc(sizeof(int) * seqs * (size_t)num_patches);
}

void ij_mask_slice_free(IjMaskSlice *s)
{
    free(s->ctx_off);
    free(s->tgt_off);
    free(s->tgt_idx);
    memset(s, 0, sizeof *s);
}

const IjMasks *ij_mask_slice(IjMaskSlice *s, const IjMasks *g, int lo, int hi)
{
    int B = g->batch, T = g->num_targets, L = hi - lo;
    IJ_ASSERT(0 <= lo && lo < hi && hi <= B);
    IJ_ASSERT(B <= s->cap_batch && T <= s->cap_targets);
    /* context: one contiguous run of the global list, offsets rebased to 0 */
    int c0 = g->ctx_off[lo];
    for (int j = 0; j <= L; j++) s->ctx_off[j] = g->ctx_off[lo + j] - c0;
    /* targets: for each block i the sequences i*B + [lo, hi) are contiguous in
     * the global list; the blocks follow each other in the slice */
    int n = 0;
    s->tgt_off[0] = 0;
    for (int i = 0; i < T; i++) {
        int a = g->tgt_off[i * B + lo], e = g->tgt_off[i * B + hi];
        IJ_ASSERT(e - a <= (L * s->cap_patches));
        memcpy(s->tgt_idx + n, g->tgt_idx + a, sizeof(int) * (size_t)(e - a));
        for (int j = 1; j <= L; j++) s->tgt_off[i * L + j] = n + g->tgt_off[i * B + lo + j] - a;
        n += e - a;
    }
    s->masks = (IjMasks){L, T, g->ctx_idx + c0, s->ctx_off, s->tgt_idx, s->tgt_off};
    return &s->masks;
}
