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

void ij_adamw_ema_step(const IjBackend *be, float *params, const float *grads, float *m, float *v,
                       const IjTable *tab, const IjAdamW *opt, double lr, double wd, int64_t t, float *target,
                       size_t n_target, double momentum)
{
    /* scalars rounded to float the way torch passes them to its float kernels */
    double bc1 = 1.0 - pow(opt->beta1, (double)t), bc2 = 1.0 - pow(opt->beta2, (double)t);
    const IjAdamScalars k = {(float)opt->beta1, (float)opt->beta2, (float)(1.0 - opt->beta1),
                             (float)(1.0 - opt->beta2), (float)sqrt(bc2), (float)opt->eps, (float)(lr / bc1),
                             (float)momentum, (float)(1.0 - momentum), (float)(1.0 - lr * wd)};
    be->adamw_ema(params, grads, m, v, tab->ranges, tab->n, target, target ? n_target : 0, &k);
}
