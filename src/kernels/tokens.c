/* tokens.c: moving token rows around: patch extraction, gather, scatter-add. */
#include "kernels/kernels.h"

#include <string.h>

void ij_patchify(float *rows, const float *images, const int *sample_of, const int *tok, int nrows,
              int C, int S, int p)
{
    int G = S / p, K = C * p * p;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < nrows; r++) {
        const float *img = images + (size_t)sample_of[r] * C * S * S;
        int pr = tok[r] / G, pc = tok[r] % G;
        float *dst = rows + (size_t)r * K;
        for (int c = 0; c < C; c++)
            for (int i = 0; i < p; i++)
                memcpy(dst + (size_t)(c * p + i) * p,
                       img + (size_t)c * S * S + (size_t)(pr * p + i) * S + (size_t)pc * p,
                       sizeof(float) * (size_t)p);
    }
}

void ij_gather_rows(float *dst, const float *src, const int *idx, int n, int C)
{
#pragma omp parallel for schedule(static) if (n > 256)
    for (int i = 0; i < n; i++)
        memcpy(dst + (size_t)i * C, src + (size_t)idx[i] * C, sizeof(float) * (size_t)C);
}

void ij_scatter_add_rows(float *dst, const float *src, const int *idx, int n, int C)
{
    for (int i = 0; i < n; i++) {
        float *d = dst + (size_t)idx[i] * C;
        const float *s = src + (size_t)i * C;
        for (int c = 0; c < C; c++) d[c] += s[c];
    }
}
