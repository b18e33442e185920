/* cpu_ops.h: what the cpu backend adds to the kernels (kernels/kernels.h) to fill its table. */
#ifndef IJEPA_BACKEND_CPU_OPS_H
#define IJEPA_BACKEND_CPU_OPS_H

#include "backend/backend.h"

void ij_cpu_adamw_ema(float *params, const float *grads, float *m, float *v, const IjParamRange *r, int nr,
                      float *target, size_t n_ema, const IjAdamScalars *k);

#endif
