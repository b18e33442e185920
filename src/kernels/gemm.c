/* gemm.c: register-tiled single-threaded products (see gemm.h). */
#include "kernels/gemm.h"

#include <string.h>

#if IJ_GEMM_NR

#include <immintrin.h>

#if defined(__AVX512F__)
typedef __m512 vf;
#define VW 16
#define vzero() _mm512_setzero_ps()
#define vload(p) _mm512_loadu_ps(p)
#define vstore(p, v) _mm512_storeu_ps(p, v)
#define vbcast(x) _mm512_set1_ps(x)
#define vfma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define vadd(a, b) _mm512_add_ps(a, b)
#else
typedef __m256 vf;
#define VW 8
#define vzero() _mm256_setzero_ps()
#define vload(p) _mm256_loadu_ps(p)
#define vstore(p, v) _mm256_storeu_ps(p, v)
#define vbcast(x) _mm256_set1_ps(x)
#define vfma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define vadd(a, b) _mm256_add_ps(a, b)
#endif

#define NR IJ_GEMM_NR
#define MR IJ_GEMM_MR
_Static_assert(NR == 2 * VW, "a register tile row is two vectors");

size_t gemm_packed_size(int N, int K) { return (size_t)((N + NR - 1) / NR) * NR * (size_t)K; }

void gemm_pack_wt(float *wp, const float *w, int N, int K)
{
    for (int p = 0; p * NR < N; p++) {
        float *dst = wp + (size_t)p * K * NR;
        int n = N - p * NR < NR ? N - p * NR : NR;
        const float *src = w + (size_t)p * NR * K;
        /* k outer: contiguous writes; the NR source rows are each read in order */
        for (int k = 0; k < K; k++) {
            float *d = dst + (size_t)k * NR;
            for (int j = 0; j < n; j++) d[j] = src[(size_t)j * K + k];
            for (int j = n; j < NR; j++) d[j] = 0.0f;
        }
    }
}

void gemm_pack_w(float *wp, const float *w, int K, int N)
{
    for (int p = 0; p * NR < N; p++) {
        float *dst = wp + (size_t)p * K * NR;
        int n = N - p * NR < NR ? N - p * NR : NR;
        for (int k = 0; k < K; k++) {
            memcpy(dst + (size_t)k * NR, w + (size_t)k * N + (size_t)p * NR, sizeof(float) * (size_t)n);
            for (int j = n; j < NR; j++) dst[(size_t)k * NR + j] = 0.0f;
        }
    }
}

/* One tile of m <= MR rows (a constant once inlined, so the accumulators live in registers) and
 * n <= NR columns: acc = A[m,K] @ panel, then C = acc + bias + R, or C += acc when add is set. */
static inline __attribute__((always_inline)) void tile(const int m, float *C, int ldc, const float *A, int lda,
                                                        const float *b, int ldb, int K, int n,
                                                        const float *bias, const float *R, int ldr, int add)
{
    vf c0[MR], c1[MR];
#pragma GCC unroll 16
    for (int r = 0; r < m; r++) c0[r] = c1[r] = vzero();
    if (add) bias = NULL, R = C, ldr = ldc;
    for (int k = 0; k < K; k++) {
        vf b0 = vload(b + (size_t)k * ldb), b1 = vload(b + (size_t)k * ldb + VW);
#pragma GCC unroll 16
        for (int r = 0; r < m; r++) {
            vf a = vbcast(A[(size_t)r * lda + k]);
            c0[r] = vfma(a, b0, c0[r]);
            c1[r] = vfma(a, b1, c1[r]);
        }
    }
    if (n == NR) {
        vf z0 = bias ? vload(bias) : vzero(), z1 = bias ? vload(bias + VW) : vzero();
#pragma GCC unroll 16
        for (int r = 0; r < m; r++) {
            vf v0 = vadd(c0[r], z0), v1 = vadd(c1[r], z1);
            if (R) v0 = vadd(v0, vload(R + (size_t)r * ldr)), v1 = vadd(v1, vload(R + (size_t)r * ldr + VW));
            vstore(C + (size_t)r * ldc, v0);
            vstore(C + (size_t)r * ldc + VW, v1);
        }
        return;
    }
    float t[NR];
    for (int r = 0; r < m; r++) { /* the last panel's valid columns only */
        vstore(t, c0[r]);
        vstore(t + VW, c1[r]);
        for (int j = 0; j < n; j++) {
            float v = t[j] + (bias ? bias[j] : 0.0f);
            C[(size_t)r * ldc + j] = R ? v + R[(size_t)r * ldr + j] : v;
        }
    }
}

/* The rows of C against k = k0 .. k0 + K - 1 (add: into C). */
static void gemm_block(float *C, int ldc, const float *A, int lda, const float *b, size_t panel_stride,
                       int M, int N, int K, const float *bias, const float *R, int ldr, int add)
{
    /* row tiles outer: a tile's rows stay in L1 while it passes over the panels (measured: 3-6% faster
     * steps than with the panels outer) */
    for (int i = 0; i < M; i += MR) {
        int m = M - i < MR ? M - i : MR;
        float *Ci = C + (size_t)i * ldc;
        const float *Ai = A + (size_t)i * lda, *Ri = R ? R + (size_t)i * ldr : NULL;
        for (int j = 0, p = 0; j < N; j += NR, p++) {
            int n = N - j < NR ? N - j : NR;
            const float *bp = b + (size_t)p * panel_stride, *bj = bias ? bias + j : NULL, *Rj = Ri ? Ri + j : NULL;
            if (m == MR) {
                tile(MR, Ci + j, ldc, Ai, lda, bp, NR, K, n, bj, Rj, ldr, add);
                continue;
            }
            /* the last rows: tiles of 8, 4, 2 and 1 rows (m < MR <= 16) */
            int r0 = 0;
#define REST(h)                                                                                          \
    if (m & (h)) {                                                                                       \
        tile((h) < MR ? (h) : MR, Ci + (size_t)r0 * ldc + j, ldc, Ai + (size_t)r0 * lda, lda, bp, NR, K, n, \
             bj, Rj ? Rj + (size_t)r0 * ldr : NULL, ldr, add);                                            \
        r0 += (h);                                                                                       \
    }
            REST(8) REST(4) REST(2) REST(1)
#undef REST
        }
    }
}

/* K in blocks of at most GEMM_KC and N in blocks of at most GEMM_NC, so that one block of the
 * weights (K_c x N_c, 512 KiB) stays in L2 while every row tile passes over it, and a row tile's K_c
 * values stay in L1. */
#define GEMM_KC 256
#define GEMM_NC 512

void gemm_rows(float *C, int ldc, const float *A, int lda, const float *wp, int M, int N, int K,
               const float *bias, const float *R, int ldr)
{
    size_t panel_stride = (size_t)K * NR;
    int nk = (K + GEMM_KC - 1) / GEMM_KC, kc = (K + nk - 1) / nk;
    for (int k0 = 0; k0 < K; k0 += kc) {
        int kn = K - k0 < kc ? K - k0 : kc;
        for (int n0 = 0; n0 < N; n0 += GEMM_NC) {
            int nn = N - n0 < GEMM_NC ? N - n0 : GEMM_NC;
            gemm_block(C + n0, ldc, A + k0, lda, wp + (size_t)(n0 / NR) * panel_stride + (size_t)k0 * NR,
                       panel_stride, M, nn, kn, bias ? bias + n0 : NULL, R ? R + n0 : NULL, ldr, k0 > 0);
        }
    }
}

#else /* no vector kernel: the callers use BLAS */

size_t gemm_packed_size(int N, int K) { (void)N, (void)K; return 0; }
void gemm_pack_wt(float *wp, const float *w, int N, int K) { (void)wp, (void)w, (void)N, (void)K; }
void gemm_pack_w(float *wp, const float *w, int K, int N) { (void)wp, (void)w, (void)K, (void)N; }
void gemm_rows(float *C, int ldc, const float *A, int lda, const float *wp, int M, int N, int K,
               const float *bias, const float *R, int ldr)
{
    (void)C, (void)ldc, (void)A, (void)lda, (void)wp;
    (void)M, (void)N, (void)K, (void)bias, (void)R, (void)ldr;
}

#endif
