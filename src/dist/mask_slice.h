/* mask_slice.h: the masks of samples [lo, hi) of a global batch.
 *
 * Data-parallel ranks sample the masks of the WHOLE global batch (the official
 * collator truncates every list to the batch's shortest, so the masks of a
 * sample depend on the others; sampling is a pure function of (seed, step) and
 * costs little) and train on a slice of it. The slice is renumbered as the
 * model expects: target sequence (i, j) of target block i and local sample j
 * at number i*(hi-lo) + j, offsets from 0.
 */
#ifndef IJEPA_DIST_MASK_SLICE_H
#define IJEPA_DIST_MASK_SLICE_H

#include "model/model.h"

typedef struct {
    IjMasks masks;           /* the last slice (views of the arrays below and of the global masks) */
    int cap_batch, cap_targets, cap_patches;
    int *ctx_off;            /* [cap_batch + 1] */
    int *tgt_off;            /* [cap_targets * cap_batch + 1] */
    int *tgt_idx;            /* [cap_targets * cap_batch * cap_patches] */
} IjMaskSlice;

/* Room for slices of batches up to `batch` samples, `num_targets` target
 * blocks and `num_patches` tokens per image; slicing then allocates nothing. */
void ij_mask_slice_init(IjMaskSlice *s, int batch, int num_targets, int num_patches);
void ij_mask_slice_free(IjMaskSlice *s);

/* Samples [lo, hi) of the global masks g (0 <= lo < hi <= g->batch). The
 * result points into g's context list: valid while g is. */
const IjMasks *ij_mask_slice(IjMaskSlice *s, const IjMasks *g, int lo, int hi);

#endif
