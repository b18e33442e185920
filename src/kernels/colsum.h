/* colsum.h: column sums of a row-major [T, C] matrix, threaded over blocks of 16
 * columns. Each column is summed over the rows in order 0..T-1 by one thread, so
 * the result does not depend on the thread count; the inner loop runs across 16
 * adjacent columns and vectorises. Used for the bias and LayerNorm-parameter
 * gradients (reductions over all token rows). */
#ifndef IJEPA_KERNELS_COLSUM_H
#define IJEPA_KERNELS_COLSUM_H

#define IJ_COLSUM_BLOCK 16

/* acc[C] += sum_t dy[t, :], or with x given, sum_t dy[t, :] * (x[t, :] - mean[t]) * rstd[t]
 * (the LayerNorm weight gradient: dy times the normalised input). */
static inline void colsum_xhat_acc(float *acc, const float *dy, const float *x, const float *mean,
                                   const float *rstd, int T, int C)
{
    int nblk = (C + IJ_COLSUM_BLOCK - 1) / IJ_COLSUM_BLOCK;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < nblk; k++) {
        int c0 = k * IJ_COLSUM_BLOCK, n = C - c0 < IJ_COLSUM_BLOCK ? C - c0 : IJ_COLSUM_BLOCK;
        float s[IJ_COLSUM_BLOCK] = {0};
        for (int t = 0; t < T; t++) {
            const float *r = dy + (size_t)t * C + c0;
            if (x) {
                const float *xr = x + (size_t)t * C + c0;
                float m = mean[t], rs = rstd[t];
#pragma omp simd
                for (int j = 0; j < n; j++) s[j] += r[j] * (xr[j] - m) * rs;
            } else {
#pragma omp simd
                for (int j = 0; j < n; j++) s[j] += r[j];
            }
        }
        for (int j = 0; j < n; j++) acc[c0 + j] += s[j];
    }
}

/* acc[C] += sum_t x[t, :]. */
static inline void colsum_acc(float *acc, const float *x, int T, int C)
{
    colsum_xhat_acc(acc, x, NULL, NULL, NULL, T, C);
}

/* colsum_xhat_acc on the calling thread only, over the rows in order (a chunk of rows inside a
 * parallel loop). */
static inline void colsum_rows(float *acc, const float *dy, const float *x, const float *mean, const float *rstd,
                               int T, int C)
{
    for (int t = 0; t < T; t++) {
        const float *r = dy + (size_t)t * C;
        if (x) {
            const float *xr = x + (size_t)t * C;
            float m = mean[t], rs = rstd[t];
#pragma omp simd
            for (int j = 0; j < C; j++) acc[j] += r[j] * (xr[j] - m) * rs;
        } else {
#pragma omp simd
            for (int j = 0; j < C; j++) acc[j] += r[j];
        }
    }
}

#endif
