/* gemm_tile.h: the epilogue of a register tile, shared by the float32 (gemm.c) and bf16 (gemm_bf16.c)
 * kernels: m rows of two vectors of accumulators into C[m, n], n <= IJ_GEMM_NR. Only with a vector
 * kernel (IJ_GEMM_NR != 0). */
#ifndef IJEPA_KERNELS_GEMM_TILE_H
#define IJEPA_KERNELS_GEMM_TILE_H

#include "kernels/simd.h"

#if IJ_GEMM_NR

/* C = acc (+ bias + R), or C += acc; then * S. The last panel stores its valid columns only. */
static inline __attribute__((always_inline)) void tile_store(const int m, const vf *c0, const vf *c1, float *C,
                                                              int ldc, int n, const float *bias, const float *R,
                                                              int ldr, int add, const float *S, int lds)
{
    if (add) bias = NULL, R = C, ldr = ldc;
    if (n == IJ_GEMM_NR) {
        vf z0 = bias ? vload(bias) : vzero(), z1 = bias ? vload(bias + VW) : vzero();
#pragma GCC unroll 16
        for (int r = 0; r < m; r++) {
            vf v0 = vadd(c0[r], z0), v1 = vadd(c1[r], z1);
            if (R) v0 = vadd(v0, vload(R + (size_t)r * ldr)), v1 = vadd(v1, vload(R + (size_t)r * ldr + VW));
            if (S) v0 = vmul(v0, vload(S + (size_t)r * lds)), v1 = vmul(v1, vload(S + (size_t)r * lds + VW));
            vstore(C + (size_t)r * ldc, v0);
            vstore(C + (size_t)r * ldc + VW, v1);
        }
        return;
    }
    float t[IJ_GEMM_NR];
    for (int r = 0; r < m; r++) {
        vstore(t, c0[r]);
        vstore(t + VW, c1[r]);
        for (int j = 0; j < n; j++) {
            float v = t[j] + (bias ? bias[j] : 0.0f);
            v = R ? v + R[(size_t)r * ldr + j] : v;
            C[(size_t)r * ldc + j] = S ? v * S[(size_t)r * lds + j] : v;
        }
    }
}

#endif

#endif
