/* colsum.h: column sums of a row-major [T, C] matrix for the bias and LayerNorm-parameter
 * gradients (reductions over token rows). Every column is summed over the rows in order 0..T-1, so
 * the result does not depend on the thread count; the inner loops run across adjacent columns and
 * vectorise. */
#ifndef IJEPA_KERNELS_COLSUM_H
#define IJEPA_KERNELS_COLSUM_H

#include <stddef.h>

#define IJ_COLSUM_BLOCK 16

/* On the calling thread: acc[n] += sum_t dy[t, 0..n-1], or with x given, sum_t dy[t, :] *
 * (x[t, :] - mean[t]) * rstd[t] (the LayerNorm weight gradient: dy times the normalised input);
 * rows ld floats apart. Used directly for a chunk of rows inside a parallel loop. */
static inline void colsum_rows(float *acc, const float *dy, const float *x, const float *mean, const float *rstd,
                               int T, int n, int ld)
{
    for (int t = 0; t < T; t++) {
        const float *r = dy + (size_t)t * ld;
        if (x) {
            const float *xr = x + (size_t)t * ld;
            float m = mean[t], rs = rstd[t];
#pragma omp simd
            for (int j = 0; j < n; j++) acc[j] += r[j] * (xr[j] - m) * rs;
        } else {
#pragma omp simd
            for (int j = 0; j < n; j++) acc[j] += r[j];
        }
    }
}

/* The same over all T rows of [T, C], threaded over blocks of 16 columns (one thread per column). */
static inline void colsum_xhat_acc(float *acc, const float *dy, const float *x, const float *mean,
                                   const float *rstd, int T, int C)
{
    int nblk = (C + IJ_COLSUM_BLOCK - 1) / IJ_COLSUM_BLOCK;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < nblk; k++) {
        int c0 = k * IJ_COLSUM_BLOCK, n = C - c0 < IJ_COLSUM_BLOCK ? C - c0 : IJ_COLSUM_BLOCK;
        float s[IJ_COLSUM_BLOCK] = {0};
        colsum_rows(s, dy + c0, x ? x + c0 : NULL, mean, rstd, T, n, C);
        for (int j = 0; j < n; j++) acc[c0 + j] += s[j];
    }
}

/* acc[C] += sum_t x[t, :]. */
static inline void colsum_acc(float *acc, const float *x, int T, int C)
{
    colsum_xhat_acc(acc, x, NULL, NULL, NULL, T, C);
}

#endif
