/* optim.c: see optim.h. */
#include "train/optim.h"

#include <math.h>
#include <omp.h>

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

/* Values [a, b) of one tensor: AdamW when adam is set (decay: its decoupled decay factor), then the
 * EMA of the target from the updated values when ema is set. */
static inline __attribute__((always_inline)) void update_range(float *p, const float *g, float *mm, float *vv,
                                                                float *tgt, size_t a, size_t b, int adam, int ema,
                                                                float decay, const float *k)
{
    const float b1 = k[0], b2 = k[1], one_b1 = k[2], one_b2 = k[3], bc2_sqrt = k[4], eps = k[5];
    const float step_size = k[6], mo = k[7], one_minus = k[8];
#pragma omp simd
    for (size_t j = a; j < b; j++) {
        if (adam) {
            p[j] *= decay;
            mm[j] = mm[j] * b1 + g[j] * one_b1;
            vv[j] = vv[j] * b2 + g[j] * g[j] * one_b2;
            float denom = sqrtf(vv[j]) / bc2_sqrt + eps;
            p[j] -= step_size * (mm[j] / denom);
        }
        if (ema) tgt[j] = tgt[j] * mo + one_minus * p[j];
    }
}

void ij_adamw_ema_step(float *params, const float *grads, float *m, float *v, const IjTable *tab,
                       const IjAdamW *opt, double lr, double wd, int64_t t, float *target, size_t n_target,
                       double momentum)
{
    /* scalars rounded to float the way torch passes them to its float kernels */
    double bc1 = 1.0 - pow(opt->beta1, (double)t), bc2 = 1.0 - pow(opt->beta2, (double)t);
    const float k[9] = {(float)opt->beta1, (float)opt->beta2, (float)(1.0 - opt->beta1), (float)(1.0 - opt->beta2),
                        (float)sqrt(bc2), (float)opt->eps, (float)(lr / bc1), (float)momentum,
                        (float)(1.0 - momentum)};
    const size_t total = tab->n_total, n_ema = target ? n_target : 0;
    /* one region for all tensors, an equal share of the values per thread (per tensor, the small ones
     * ran on one thread while the other waited) */
#pragma omp parallel if (total > 65536)
    {
        size_t nt = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num();
        size_t lo = total / nt * id + (id < total % nt ? id : total % nt);
        size_t hi = lo + total / nt + (id < total % nt);
        for (int i = 0; i < tab->n; i++) {
            const IjTensor *x = &tab->t[i];
            size_t a = x->offset > lo ? x->offset : lo, b = x->offset + x->numel < hi ? x->offset + x->numel : hi;
            if (a >= b) continue;
            size_t c = b < n_ema ? b : a > n_ema ? a : n_ema; /* [a, c) also gets the EMA */
            float decay = x->decay ? (float)(1.0 - lr * wd) : 1.0f;
            if (x->trainable) {
                update_range(params, grads, m, v, target, a, c, 1, 1, decay, k);
                update_range(params, grads, m, v, target, c, b, 1, 0, decay, k);
            } else {
                update_range(params, grads, m, v, target, a, c, 0, 1, decay, k);
            }
        }
    }
}
