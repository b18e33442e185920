/* optim.h: AdamW, the EMA target update, and the official schedules.
 *
 * Schedules are pure functions of the 1-based step s (SPEC section 5), with
 * T = int(ipe_scale * epochs * iters_per_epoch) and W = int(warmup * iters_per_epoch),
 * exactly as the reference's WarmupCosineSchedule, CosineWDSchedule and
 * momentum generator compute them.
 */
#ifndef IJEPA_TRAIN_OPTIM_H
#define IJEPA_TRAIN_OPTIM_H

#include "model/params.h"

#include <stdint.h>

typedef struct {
    double start_lr, lr, final_lr;
    double wd, final_wd;
    double ema0, ema1;
    int64_t total;   /* T */
    int64_t warmup;  /* W */
    int ema_off;     /* 1: momentum 0 at every step (ablation: the target is a copy of the encoder) */
} IjSchedule;

typedef struct { double lr, wd, momentum; } IjScheduleValues;

/* Values for step s = 1, 2, ... */
IjScheduleValues ij_schedule_at(const IjSchedule *s, int64_t step);

typedef struct { double beta1, beta2, eps; } IjAdamW;
#define IJ_ADAMW_DEFAULT ((IjAdamW){0.9, 0.999, 1e-8})

/* One AdamW step (torch.optim.AdamW semantics) over every trainable tensor of the table: decoupled
 * decay lr*wd on tensors with decay set, then the Adam update with bias correction for step t
 * (1-based); m, v: [n_total]. Then, when target != NULL, the EMA of the first n_target values (the
 * encoder's): target = momentum * target + (1 - momentum) * params, from the updated params.
 * Computed by the backend be (backend.h: one pass over the values, threaded, on cpu). */
void ij_adamw_ema_step(const IjBackend *be, float *params, const float *grads, float *m, float *v,
                       const IjTable *tab, const IjAdamW *opt, double lr, double wd, int64_t t, float *target,
                       size_t n_target, double momentum);

#endif
