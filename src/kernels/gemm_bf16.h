/* gemm_bf16.h: the products of gemm.h with bf16 operands and float32 accumulation (see bf16.h for
 * the arithmetic and the paths).
 *
 * Layout: a bf16 "pair" is two consecutive k of one column packed in 32 bits (k even in the low half),
 * the operand vdpbf16ps takes. The weights are rounded and packed once per pass, like gemm.h's: a
 * panel of IJ_GEMM_BF16_NR columns holds ceil(K/2) rows of pairs (K padded with a zero row when odd,
 * columns past N zero). The activations are rounded while a row tile is copied into pairs (row
 * products) or while a block of 32 rows of both operands is (weight gradients); nothing is allocated
 * in a steady state (thread-local buffers grow once per larger shape).
 *
 * Results are the same for any thread count and chunking, as in gemm.h. Without a vector kernel
 * (IJ_GEMM_NR == 0, the sanitizer build) the same blocks run through scalar code.
 */
#ifndef IJEPA_KERNELS_GEMM_BF16_H
#define IJEPA_KERNELS_GEMM_BF16_H

#include "kernels/bf16.h"
#include "kernels/gemm.h"

#include <stddef.h>
#include <stdint.h>

/* Panel width in columns: two vectors of the build's kernel (32 with AVX-512, 16 with AVX2). */
#if IJ_GEMM_NR
#define IJ_GEMM_BF16_NR IJ_GEMM_NR
#else
#define IJ_GEMM_BF16_NR 32
#endif

/* Pairs (32-bit words) of the packed panels of a [K,N] right operand: ceil(N/NR) * NR * ceil(K/2). */
size_t ij_gemm_bf16_packed_size(int N, int K);
/* B = w^T for w[N,K] (a forward product) / B = w for w[K,N] (an input gradient), rounded to bf16. */
void ij_gemm_bf16_pack_wt(uint32_t *wp, const float *w, int N, int K);
void ij_gemm_bf16_pack_w(uint32_t *wp, const float *w, int K, int N);

/* C[M,N] = bf16(A[M,K]) @ B (+ bias[N]) (+ R[M,N]), then * S[M,N] elementwise when S is given (as
 * ij_gemm_rows and ij_gemm_rows_scaled), on the calling thread. bias, R, S may be NULL. */
void ij_gemm_bf16_rows(IjBf16Path path, float *C, int ldc, const float *A, int lda, const uint32_t *wp, int M, int N,
                    int K, const float *bias, const float *R, int ldr, const float *S, int lds);

/* C[M,N] += bf16(A)^T @ bf16(B) for A[K,M], B[K,N] (as ij_gemm_at_acc; threaded inside). */
void ij_gemm_bf16_at_acc(IjBf16Path path, float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M,
                      int N, int K);

/* Rows of pairs: dst[j] = bf16(r0[j]) | bf16(r1[j]) << 16 for j < n (r1 NULL: zeros), zero up to n_pad. */
void ij_bf16_pair_rows(uint32_t *dst, const float *r0, const float *r1, int n, int n_pad);

#endif
