/* masks.h: the multi-block mask sampler (SPEC section 4).
 *
 * Per sample: num_targets target blocks (may overlap each other) and one
 * context block minus the union of the targets (unless allow_overlap). Output
 * is an IjMasks view: context and target lists in ascending raster order,
 * target sequence (i, b) at number i*batch + b. Arrays are allocated once at
 * init for the largest possible batch; sampling allocates nothing.
 *
 * Two modes:
 *  IJ_MASKS_OFFICIAL  the reference collator (facebookresearch/ijepa,
 *      src/masks/multiblock.py). Block sizes are shared by the whole batch and
 *      drawn exactly as PyTorch does: two torch.rand(1) from a generator
 *      seeded with the batch counter (they ignore `seed`, as the original).
 *      h, w are at most G-1 and the top-left corner is uniform in [0, G-h-1]
 *      (so the last row and column are never covered). The context is
 *      resampled while it keeps <= min_keep patches; after 20 failures the
 *      constraint of the last target is dropped (then the next one...), which
 *      may let context and targets overlap (counted in `relaxed`). Finally
 *      every context list is cut to the batch's shortest, every target list to
 *      the shortest target (keeping the lowest raster indices).
 *      The original draws positions from torch's global RNG, which no run can
 *      reproduce; here they come from ij_rng streams of (seed, counter, sample)
 *      with the same distribution.
 *  IJ_MASKS_FIXED  the corrected sampler: sizes drawn PER SAMPLE (one r for
 *      its targets, one for its context, same formulas), h, w at most G, the
 *      corner uniform over every valid position [0, G-h], no truncation
 *      (ragged lists). Context and targets never overlap (unless
 *      allow_overlap): when 20 context positions all keep <= min_keep, the
 *      targets are placed anew instead of dropping a constraint.
 *
 * Three more strategies of the paper's Table 6, each with the context = the
 * complement of the targets (so never overlapping them), sampled per image,
 * ragged lists, no truncation. They ignore num_targets, tgt_scale, ctx_scale
 * and ctx_aspect (allow_overlap must be 0):
 *  IJ_MASKS_BLOCK   one target block of area target_ratio * N (0.6 in the
 *      paper; keep = int(N * ratio), aspect drawn from tgt_aspect, the same
 *      size formula as above), corner uniform over [0, G-h] x [0, G-w].
 *  IJ_MASKS_RANDOM  one target of int(N * target_ratio) tokens drawn
 *      uniformly without replacement (selection sampling, so already sorted).
 *  IJ_MASKS_RASTER  the grid cut into quadrants at row G/2 and column G/2
 *      (rounded down: for odd G the bottom/right quadrants are one patch
 *      larger); one quadrant, uniform per image, is the context and the other
 *      three are the targets, in quadrant order (top-left, top-right,
 *      bottom-left, bottom-right).
 * min_keep applies to every context and every target (each must keep more).
 *
 * Everything is a pure function of (params, counter): resuming is exact.
 */
#ifndef IJEPA_TRAIN_MASKS_H
#define IJEPA_TRAIN_MASKS_H

#include "model/model.h"

#include <stdint.h>

typedef enum {
    IJ_MASKS_OFFICIAL = 0,
    IJ_MASKS_FIXED = 1,
    IJ_MASKS_BLOCK = 2,
    IJ_MASKS_RANDOM = 3,
    IJ_MASKS_RASTER = 4,
} IjMaskMode;
#define IJ_MASK_MODES 5

typedef struct {
    IjMaskMode mode;
    int grid;                 /* G: patches per side (N = G*G) */
    int batch;
    int num_targets;          /* 4 */
    double tgt_scale[2];      /* (0.15, 0.2) */
    double tgt_aspect[2];     /* (0.75, 1.5) */
    double ctx_scale[2];      /* (0.85, 1.0) */
    double ctx_aspect[2];     /* (1, 1) */
    int min_keep;             /* 10 (4 for small grids such as 28x28 / patch 4) */
    int allow_overlap;        /* 0: context excludes the targets */
    uint64_t seed;            /* block positions (and fixed-mode sizes) */
    double target_ratio;      /* block and random modes: target area / N (0.6) */
} IjMaskParams;

typedef struct {
    IjMaskParams p;             /* as given, except num_targets: 1 for block and random, 3 for raster */
    IjMasks masks;              /* the last sampled batch: views of the arrays below */
    int *ctx_idx, *ctx_off;     /* [batch*N], [batch+1] */
    int *tgt_idx, *tgt_off;     /* [T*batch*N], [T*batch+1] */
    int *rects;                 /* [T][4] top, left, h, w of the current sample's targets */
    /* Facts about the last batch (for logs and tests). */
    int relaxed;                /* samples whose placement was relaxed (see modes above) */
    int64_t ctx_dropped, tgt_dropped;  /* tokens removed by the official truncation */
} IjMaskSampler;

/* "official", "fixed", "block", "random", "raster" (NULL for an unknown mode). */
const char *ij_mask_mode_name(IjMaskMode mode);
/* One line on what the mode does (for a run's printed settings). */
const char *ij_mask_mode_describe(IjMaskMode mode);
/* "'official', 'fixed', 'block', 'random' or 'raster'": the modes of the table in masks.c, for
 * help texts and messages (the one list of them). */
const char *ij_mask_mode_list(void);
/* Name -> mode; -1 (with a message listing the modes) for an unknown name. */
int ij_mask_mode_parse(const char *name, IjMaskMode *mode);

/* Official defaults for a grid and batch (mode official, seed 0). */
void ij_mask_params_default(IjMaskParams *p, int grid, int batch);

/* Validates the parameters and allocates for them. Returns -1 on bad ones. */
int ij_mask_sampler_init(IjMaskSampler *s, const IjMaskParams *p);
void ij_mask_sampler_free(IjMaskSampler *s);

/* Samples batch number `counter` (0, 1, 2, ... as the official collator's
 * step() counts) into s->masks. Returns -1 when the parameters make a block
 * that can never keep more than min_keep patches (the official collator would
 * loop forever). */
int ij_mask_sample(IjMaskSampler *s, uint64_t counter);

/* Block size for one uniform draw r: s = smin + r(smax-smin), a = amin +
 * r(amax-amin), keep = int(N*s), h = round(sqrt(keep*a)), w =
 * round(sqrt(keep/a)) (half to even), each then lowered to at most `cap`. */
void ij_mask_block_size(int *h, int *w, double r, const double scale[2], const double aspect[2], int grid,
                        int cap);

/* The official batch block sizes for `counter`: {target h, target w, context h, context w}. */
void ij_mask_official_sizes(int sizes[4], const IjMaskParams *p, uint64_t counter);

#endif
