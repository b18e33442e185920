/* layernorm.c: LayerNorm over the last dimension (biased variance), with and without affine. */
#include "kernels/kernels.h"

#include <math.h>

void layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, int T, int C, float eps)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * C;
        float *yr = y + (size_t)t * C;
        double m = 0.0, v = 0.0;
        for (int c = 0; c < C; c++) m += xr[c];
        m /= C;
        for (int c = 0; c < C; c++) {
            double d = xr[c] - m;
            v += d * d;
        }
        v /= C;
        float mf = (float)m, rs = (float)(1.0 / sqrt(v + eps));
        for (int c = 0; c < C; c++) {
            float n = (xr[c] - mf) * rs;
            yr[c] = w ? n * w[c] + b[c] : n;
        }
        if (mean) mean[t] = mf;
        if (rstd) rstd[t] = rs;
    }
}

void layernorm_backward_acc(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *mean, const float *rstd, const float *w, int T, int C)
{
    /* Parameter gradients: a reduction over rows, kept sequential per column
     * block so the summation order is fixed. */
    if (dw || db) {
        for (int t = 0; t < T; t++) {
            const float *xr = x + (size_t)t * C, *dyr = dy + (size_t)t * C;
            float m = mean[t], rs = rstd[t];
            for (int c = 0; c < C; c++) {
                if (dw) dw[c] += dyr[c] * (xr[c] - m) * rs;
                if (db) db[c] += dyr[c];
            }
        }
    }
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * C, *dyr = dy + (size_t)t * C;
        float *dxr = dx + (size_t)t * C;
        float m = mean[t], rs = rstd[t];
        float s1 = 0.0f, s2 = 0.0f; /* mean(dxhat), mean(dxhat * xhat) */
        for (int c = 0; c < C; c++) {
            float g = w ? dyr[c] * w[c] : dyr[c];
            s1 += g;
            s2 += g * (xr[c] - m) * rs;
        }
        s1 /= C;
        s2 /= C;
        for (int c = 0; c < C; c++) {
            float g = w ? dyr[c] * w[c] : dyr[c];
            float xh = (xr[c] - m) * rs;
            dxr[c] += rs * (g - s1 - xh * s2);
        }
    }
}
