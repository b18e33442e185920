/* optim.c: see optim.h. */
#include "train/optim.h"

#include <math.h>

IjScheduleValues ij_schedule_at(const IjSchedule *s, int64_t step)
{
    IjScheduleValues v;
    /* learning rate: linear warmup, then cosine to final_lr over T - W steps */
    if (step < s->warmup) {
        double progress = (double)step / (double)s->warmup;
        v.lr = s->start_lr + progress * (s->lr - s->start_lr);
    } else {
        int64_t t_max = s->total - s->warmup;
        double progress = (double)(step - s->warmup) / (double)(t_max > 1 ? t_max : 1);
        v.lr = s->final_lr + (s->lr - s->final_lr) * 0.5 * (1.0 + cos(M_PI * progress));
        if (v.lr < s->final_lr) v.lr = s->final_lr;
    }
    /* weight decay: cosine from wd to final_wd over T steps, clamped at final_wd */
    double progress = (double)step / (double)(s->total > 0 ? s->total : 1);
    v.wd = s->final_wd + (s->wd - s->final_wd) * 0.5 * (1.0 + cos(M_PI * progress));
    if (s->final_wd <= s->wd ? v.wd < s->final_wd : v.wd > s->final_wd) v.wd = s->final_wd;
    /* EMA momentum: linear over T steps; step s uses index s-1 */
    v.momentum = s->ema0 + (double)(step - 1) * (s->ema1 - s->ema0) / (double)(s->total > 0 ? s->total : 1);
    if (s->ema_off) v.momentum = 0; /* tgt = 0 * tgt + 1 * enc: an exact copy */
    return v;
}

void ij_adamw_step(float *params, const float *grads, float *m, float *v, const IjTable *tab,
                   const IjAdamW *opt, double lr, double wd, int64_t t)
{
    /* scalars rounded to float the way torch passes them to its float kernels */
    float b1 = (float)opt->beta1, b2 = (float)opt->beta2;
    float one_b1 = (float)(1.0 - opt->beta1), one_b2 = (float)(1.0 - opt->beta2);
    double bc1 = 1.0 - pow(opt->beta1, (double)t), bc2 = 1.0 - pow(opt->beta2, (double)t);
    float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2), eps = (float)opt->eps;
    for (int i = 0; i < tab->n; i++) {
        const IjTensor *x = &tab->t[i];
        if (!x->trainable) continue;
        float decay = x->decay ? (float)(1.0 - lr * wd) : 1.0f;
        float *p = params + x->offset, *mm = m + x->offset, *vv = v + x->offset;
        const float *g = grads + x->offset;
        size_t n = x->numel;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (size_t j = 0; j < n; j++) {
            p[j] *= decay;
            mm[j] = mm[j] * b1 + g[j] * one_b1;
            vv[j] = vv[j] * b2 + g[j] * g[j] * one_b2;
            float denom = sqrtf(vv[j]) / bc2_sqrt + eps;
            p[j] -= step_size * (mm[j] / denom);
        }
    }
}

void ij_ema_update(float *target, const float *encoder, size_t n, double momentum)
{
    float mo = (float)momentum, one_minus = (float)(1.0 - momentum);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) target[i] = target[i] * mo + one_minus * encoder[i];
}
