/* layernorm.c: LayerNorm over the last dimension (biased variance), with and without affine. */
#include "kernels/kernels.h"

#include "kernels/colsum.h"

#include <math.h>
#include <omp.h>

/* Sum of x[0..n), in 16 interleaved float partial sums (so the loop vectorises
 * without reassociation flags; the order is fixed, so results are reproducible). */
static float row_sum(const float *x, int n)
{
    float acc[16] = {0};
    int c = 0;
    for (; c + 16 <= n; c += 16)
        for (int k = 0; k < 16; k++) acc[k] += x[c + k];
    float s = 0.0f;
    for (; c < n; c++) s += x[c];
    for (int k = 0; k < 16; k++) s += acc[k];
    return s;
}

static float row_sumsq(const float *x, int n, float m)
{
    float acc[16] = {0};
    int c = 0;
    for (; c + 16 <= n; c += 16)
        for (int k = 0; k < 16; k++) acc[k] += (x[c + k] - m) * (x[c + k] - m);
    float s = 0.0f;
    for (; c < n; c++) s += (x[c] - m) * (x[c] - m);
    for (int k = 0; k < 16; k++) s += acc[k];
    return s;
}

void layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, int T, int C, float eps)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * C;
        float *yr = y + (size_t)t * C;
        /* two passes (mean, then squared deviations): no cancellation */
        float mf = row_sum(xr, C) / (float)C;
        float rs = 1.0f / sqrtf(row_sumsq(xr, C, mf) / (float)C + eps);
        if (w) {
#pragma omp simd
            for (int c = 0; c < C; c++) yr[c] = (xr[c] - mf) * rs * w[c] + b[c];
        } else {
#pragma omp simd
            for (int c = 0; c < C; c++) yr[c] = (xr[c] - mf) * rs;
        }
        if (mean) mean[t] = mf;
        if (rstd) rstd[t] = rs;
    }
}

/* dx = res + dLN/dx for rows [t0, t1) (dx may alias res). */
static void backward_rows(float *dx, const float *res, const float *dy, const float *x, const float *mean,
                          const float *rstd, const float *w, int t0, int t1, int C)
{
    for (int t = t0; t < t1; t++) {
        const float *xr = x + (size_t)t * C, *dyr = dy + (size_t)t * C, *rr = res + (size_t)t * C;
        float *dxr = dx + (size_t)t * C;
        float m = mean[t], rs = rstd[t];
        /* mean(dxhat) and mean(dxhat * xhat), dxhat = dy * w, in 16 interleaved partial sums */
        float a1[16] = {0}, a2[16] = {0};
        int c = 0;
        for (; c + 16 <= C; c += 16)
            for (int k = 0; k < 16; k++) {
                float g = w ? dyr[c + k] * w[c + k] : dyr[c + k];
                a1[k] += g;
                a2[k] += g * (xr[c + k] - m) * rs;
            }
        float s1 = 0.0f, s2 = 0.0f;
        for (; c < C; c++) {
            float g = w ? dyr[c] * w[c] : dyr[c];
            s1 += g;
            s2 += g * (xr[c] - m) * rs;
        }
        for (int k = 0; k < 16; k++) {
            s1 += a1[k];
            s2 += a2[k];
        }
        s1 /= C;
        s2 /= C;
#pragma omp simd
        for (int j = 0; j < C; j++) {
            float g = w ? dyr[j] * w[j] : dyr[j];
            float xh = (xr[j] - m) * rs;
            dxr[j] = rr[j] + rs * (g - s1 - xh * s2);
        }
    }
}

void layernorm_backward_acc(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *mean, const float *rstd, const float *w, int T, int C)
{
    /* Parameter gradients: reductions over rows, threaded over blocks of 16 columns, each column summed
     * over the rows in order by one thread (independent of the thread count). */
    if (db) colsum_acc(db, dy, T, C);
    if (dw) colsum_xhat_acc(dw, dy, x, mean, rstd, T, C);
    if (!dx) return;
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        backward_rows(dx, dx, dy, x, mean, rstd, w, (int)((long)T * id / nt), (int)((long)T * (id + 1) / nt), C);
    }
}

void layernorm_backward_rows(float *dx, const float *res, const float *dy, const float *x, const float *mean,
                             const float *rstd, const float *w, int T, int C)
{
    backward_rows(dx, res, dy, x, mean, rstd, w, 0, T, C);
}
