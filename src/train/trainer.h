/* trainer.h: the I-JEPA training iteration and its state (SPEC section 5).
 *
 * One iteration: set lr/wd/momentum for step s; build the batch (epoch
 * permutation, RandomResizedCrop per image) and its masks; target forward,
 * context + predictor forward, loss, backward; AdamW; EMA of the target.
 * Everything random is a pure function of (seed, step, sample index), so a run
 * resumed from a checkpoint continues bit-exactly.
 */
#ifndef IJEPA_TRAIN_TRAINER_H
#define IJEPA_TRAIN_TRAINER_H

#include "data/augment.h"
#include "data/dataset.h"
#include "model/model.h"
#include "train/masks.h"
#include "train/optim.h"
#include "train/train_config.h"

#include <stdint.h>

typedef struct {
    double loss, lr, wd, momentum;
    int64_t step;         /* 1-based step just done */
    int64_t epoch;        /* 0-based epoch it belonged to */
    double ms_data, ms_masks, ms_model, ms_optim, ms_total;
    int ctx_tokens, tgt_tokens;  /* per image, average over the batch */
} IjStepStats;

typedef struct {
    IjTrainConfig cfg;
    IjConfig mcfg;
    IjModel model;
    float *adam_m, *adam_v;     /* [n_total] */
    IjMaskSampler sampler;
    IjSchedule sched;
    IjAugment aug;
    const IjImageSet *data;
    int64_t step;               /* completed steps */
    double train_seconds;       /* wall time spent in steps, over all resumed parts */
    int64_t ipe;                /* iterations per epoch (drop_last) */
    int64_t total_steps;        /* epochs * ipe, or max_steps if smaller */
    int *perm;                  /* permutation of the current epoch */
    int64_t perm_epoch;
    float *batch;               /* [B, C, S, S] */
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

#endif
