/* trainer.h: the I-JEPA training iteration and its state (SPEC section 5).
 *
 * One iteration: set lr/wd/momentum for step s; take the batch (epoch
 * permutation, RandomResizedCrop per image) and its masks from the loader,
 * which built them ahead on its own thread (train/loader.h); target forward,
 * context + predictor forward, loss, backward; AdamW; EMA of the target.
 * Everything random is a pure function of (seed, step, sample index), so a run
 * resumed from a checkpoint continues bit-exactly.
 */
#ifndef IJEPA_TRAIN_TRAINER_H
#define IJEPA_TRAIN_TRAINER_H

#include "data/augment.h"
#include "data/dataset.h"
#include "dist/dist.h"
#include "dist/mask_slice.h"
#include "model/flops.h"
#include "model/model.h"
#include "train/loader.h"
#include "train/masks.h"
#include "train/optim.h"
#include "train/train_config.h"

#include <stdint.h>

typedef struct {
    double loss, lr, wd, momentum;
    int64_t step;         /* 1-based step just done */
    int64_t epoch;        /* 0-based epoch it belonged to */
    double ms_wait;                 /* waiting for the loader (0 when it keeps ahead) */
    double ms_data, ms_masks;       /* building this batch (on a loader thread, or in ms_wait) */
    double ms_model, ms_optim, ms_total;
    int ctx_tokens, tgt_tokens;  /* per image, average over the batch */
    double ms_comm;       /* data parallel: waiting for the gradient allreduce after the backward pass */
    IjStepFlops flops;    /* the matrix products this process ran (model/flops.h) */
} IjStepStats;

typedef struct {
    IjTrainConfig cfg;
    IjConfig mcfg;
    IjModel model;
    float *adam_m, *adam_v;     /* [n_total] */
    IjMaskSampler sampler;      /* the run's mask parameters; scratch for diagnostics */
    IjLoader loader;            /* started by the first step */
    int batch_lo, batch_hi;     /* the part of each global batch this process trains on */
    /* Data parallelism (src/dist; untouched with one process): batch_lo/hi come from the
     * rank; its slice of the global masks; the gradient allreduce, in buckets of
     * grad_bucket floats (set before the first step; 0: one bucket after the backward). */
    IjMaskSlice slice;
    IjGradReducer reducer;
    size_t grad_bucket;
    IjSchedule sched;
    IjAugment aug;
    const IjImageSet *data;
    int64_t step;               /* completed steps */
    double train_seconds;       /* wall time spent in steps, over all resumed parts */
    int64_t ipe;                /* iterations per epoch (drop_last) */
    int64_t total_steps;        /* epochs * ipe, or max_steps if smaller */
    float *batch;               /* [B, C, S, S] scratch for diagnostics */
} IjTrainer;

int ij_trainer_init(IjTrainer *t, const IjTrainConfig *cfg, const IjImageSet *data);
void ij_trainer_free(IjTrainer *t);
/* One iteration. Returns 0, or -1 (ij_error set) if the loss is not finite;
 * the parameters are then left as they were before the step. */
int ij_trainer_step(IjTrainer *t, IjStepStats *st);
/* Checkpoint with optimizer state and the step counter (atomic write). */
int ij_trainer_save(const IjTrainer *t, const char *path);
/* Load a checkpoint written by ij_trainer_save into an initialised trainer. */
int ij_trainer_load(IjTrainer *t, const char *path);
/* Data parallel: rank 0's state (weights, target, AdamW moments, step) to every rank, after
 * rank 0 alone loaded a checkpoint (so the other machines need no copy of it). */
int ij_trainer_broadcast(IjTrainer *t);
/* Data parallel: error unless weights, target and AdamW moments are bit-identical on every
 * rank (a hash of each, compared; every rank must call it at the same step). */
int ij_trainer_check_replicas(const IjTrainer *t);

#endif
