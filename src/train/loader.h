/* loader.h: the training batches, built ahead on background threads.
 *
 * Batch number s (0, 1, 2, ...: the step it feeds) is a pure function of
 * (seed, s): images perm_e[k*B .. k*B + B) of epoch e = s / ipe, k = s % ipe,
 * where perm_e is the epoch's Fisher-Yates shuffle of (seed, e); each image
 * cropped by ij_augment_crop/apply with (seed, e, image index); masks sampled
 * for counter s. So the output is the same whatever the number of threads and
 * their timing, and a resumed run continues where it stopped.
 *
 * `threads` background threads build batches s+1, s+2, ... (at most `depth`
 * held at once: bounded memory) while the caller trains on batch s. With
 * threads 0 the caller builds each batch itself when it asks (OpenMP over the
 * images). A keep_files image set is decoded here, JPEG at the smallest
 * reduced DCT scale (1/2, 1/4, 1/8) that still gives the crop at least the
 * output size.
 *
 * A process may build only images [lo, hi) of every global batch of B (data
 * parallel training); the masks are always the whole batch's.
 */
#ifndef IJEPA_TRAIN_LOADER_H
#define IJEPA_TRAIN_LOADER_H

#include "data/augment.h"
#include "data/dataset.h"
#include "train/masks.h"

#include <stdint.h>

typedef struct {
    const IjImageSet *data;
    IjAugment aug;
    IjMaskParams masks;  /* .batch is the global batch */
    uint64_t seed;       /* permutation and crops (masks use masks.seed) */
    int lo, hi;          /* images of each batch built here: 0 <= lo < hi <= masks.batch */
    int threads;         /* background threads; 0: build in the caller */
    int depth;           /* batches held at once, >= max(threads, 1); 0: threads + 1 */
} IjLoaderConfig;

typedef struct {
    int64_t step;          /* 0-based number of the batch */
    int64_t epoch;
    float *images;         /* [hi - lo, C, S, S] */
    const IjMasks *masks;  /* of the global batch */
    double ms_data;        /* time to build it: decode, crop, resize */
    double ms_masks;       /* time to sample its masks */
} IjBatch;

typedef struct IjLoaderState IjLoaderState;

typedef struct {
    IjLoaderConfig cfg;
    int64_t ipe;           /* batches per epoch: count / batch (drop last) */
    IjLoaderState *st;
} IjLoader;

/* Checks the configuration, allocates every buffer, starts the threads; the
 * first batch handed out is number first_step. */
int ij_loader_init(IjLoader *l, const IjLoaderConfig *cfg, int64_t first_step);
/* The next batch, waiting for it if needed. NULL (ij_error set) when building
 * it failed. Valid until ij_loader_release. */
const IjBatch *ij_loader_next(IjLoader *l);
/* Gives the batch from the last ij_loader_next back for reuse. */
void ij_loader_release(IjLoader *l);
void ij_loader_free(IjLoader *l);

/* Builds the images of batch number `step` synchronously (no loader needed):
 * what each loader thread runs before sampling the masks. perm: [data->count]
 * scratch whose epoch is *perm_epoch (-1: none yet); parallel: OpenMP over the
 * images. Returns -1 (ij_error set) on failure. */
int ij_loader_build(const IjLoaderConfig *cfg, int64_t ipe, int64_t step, int *perm, int64_t *perm_epoch,
                    float *images, int parallel);

#endif
