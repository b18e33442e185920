/* cpu_optim.c: the cpu backend's AdamW and EMA update: one pass over all values, an equal share per
 * thread, the element loop vectorised (backend.h; the arithmetic is SPEC's, per element). */
#include "backend/cpu_ops.h"

#include <math.h>
#include <omp.h>

/* Values [a, b) of one range: AdamW when adam is set (decay: its decoupled decay factor), then the EMA
 * of the target from the updated values when ema is set. */
static inline __attribute__((always_inline)) void update_range(float *p, const float *g, float *mm, float *vv,
                                                                float *tgt, size_t a, size_t b, int adam, int ema,
                                                                float decay, const IjAdamScalars *k)
{
    const float b1 = k->beta1, b2 = k->beta2, one_b1 = k->one_minus_beta1, one_b2 = k->one_minus_beta2;
    const float bc2_sqrt = k->sqrt_bias2, eps = k->eps, step_size = k->step_size;
    const float mo = k->momentum, one_minus = k->one_minus_momentum;
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

void ij_cpu_adamw_ema(float *params, const float *grads, float *m, float *v, const IjParamRange *r, int nr,
                      float *target, size_t n_ema, const IjAdamScalars *k)
{
    size_t total = 0;
    for (int i = 0; i < nr; i++)
        if (r[i].offset + r[i].numel > total) total = r[i].offset + r[i].numel;
    if (!target) n_ema = 0;
    /* one region for all tensors, an equal share of the values per thread (per tensor, the small ones
     * ran on one thread while the other waited) */
#pragma omp parallel if (total > 65536)
    {
        size_t nt = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num();
        size_t lo = total / nt * id + (id < total % nt ? id : total % nt);
        size_t hi = lo + total / nt + (id < total % nt);
        for (int i = 0; i < nr; i++) {
            const IjParamRange *x = &r[i];
            size_t a = x->offset > lo ? x->offset : lo, b = x->offset + x->numel < hi ? x->offset + x->numel : hi;
            if (a >= b) continue;
            size_t c = b < n_ema ? b : a > n_ema ? a : n_ema; /* [a, c) also gets the EMA */
            float decay = x->decay ? k->decay : 1.0f;
            if (x->trainable) {
                update_range(params, grads, m, v, target, a, c, 1, 1, decay, k);
                update_range(params, grads, m, v, target, c, b, 1, 0, decay, k);
            } else {
                update_range(params, grads, m, v, target, a, c, 0, 1, decay, k);
            }
        }
    }
}
