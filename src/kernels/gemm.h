/* gemm.h: the transformer blocks' products without BLAS's per-call packing.
 *
 * OpenBLAS copies both operands into its own panel layout on every call. The blocks run their
 * products on chunks of at most a few hundred rows, so it re-packed every weight matrix once per
 * chunk (17% of a training step in the profile). Here the activations are read in place (row-major,
 * each value broadcast against a row of weights) and the weights are packed into panels of
 * IJ_GEMM_NR columns once per pass over all chunks (forward: w[Cout,Cin] transposed; input gradient:
 * w[Cout,Cin] as it is, cut into column panels), each chunk's product on one thread. The weight
 * gradients (dout^T @ in over all rows) read both operands in place, threaded inside. The
 * register tile is IJ_GEMM_MR rows by IJ_GEMM_NR columns of fused multiply-adds: 14 x 32 with
 * AVX-512, 6 x 16 with AVX2 + FMA. Without either (IJ_GEMM_NR == 0) the callers keep using BLAS.
 *
 * Each output element is one sum over k = 0 .. K-1 in order (in blocks of K, each block's partial sum
 * added in order), on one thread: the result does not depend on the thread count or on how the rows
 * are split into chunks.
 */
#ifndef IJEPA_KERNELS_GEMM_H
#define IJEPA_KERNELS_GEMM_H

#include <stddef.h>

#if defined(__AVX512F__)
#define IJ_GEMM_NR 32
#define IJ_GEMM_MR 14
#elif defined(__AVX2__) && defined(__FMA__)
#define IJ_GEMM_NR 16
#define IJ_GEMM_MR 6
#else
#define IJ_GEMM_NR 0
#define IJ_GEMM_MR 0
#endif

/* Floats of the panels of a [K,N] right operand: ceil(N / NR) panels of K x NR (0 without a kernel). */
size_t ij_gemm_packed_size(int N, int K);
/* B = w^T for w[N,K] (a forward product in @ w^T): panel p row k = w[p*NR + j][k], j < NR, zero past N. */
void ij_gemm_pack_wt(float *wp, const float *w, int N, int K);
/* B = w for w[K,N] (an input gradient dout @ w): panel p row k = w[k][p*NR + j], zero past N. */
void ij_gemm_pack_w(float *wp, const float *w, int K, int N);

/* C[M,N] = A[M,K] @ B[K,N] (+ bias[N]) (+ R[M,N]), B as packed by ij_gemm_pack_wt / ij_gemm_pack_w;
 * bias and R may be NULL; C may alias neither A nor R. */
void ij_gemm_rows(float *C, int ldc, const float *A, int lda, const float *wp, int M, int N, int K,
               const float *bias, const float *R, int ldr);
/* C[M,N] = (A[M,K] @ B[K,N]) * S[M,N] elementwise (S at row stride lds), the multiply in the
 * last K block's epilogue (a GELU backward, S = gelu'(h)). C may alias neither A nor S. */
void ij_gemm_rows_scaled(float *C, int ldc, const float *A, int lda, const float *wp, int M, int N, int K,
                      const float *S, int lds);

/* C[M,N] += A^T @ B for A[K,M] and B[K,N] (row strides lda, ldb), both read in place: a weight
 * gradient dout^T @ in over all rows. From K = 128 on, while C fits in 1 MiB, K is cut into two
 * halves at a fixed row: the first half is summed into C, the second into a partial that is added
 * last. Threaded inside (OpenMP) over the (half, row tile, column panel) jobs, a contiguous share per
 * thread, each job summing over its half of K in order: the result does not depend on the thread
 * count. */
void ij_gemm_at_acc(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K);

/* ij_gemm_at_acc's split of the work over the threads (the halves of K, contiguous shares of the (half,
 * row tile, column panel) jobs), shared with the bf16 products: pairs(..., first, last, add, ctx) runs
 * the (row tile of mr rows, column panel of nr columns) pairs [first, last) over k = 0 .. K-1 into C
 * (add: C += ..., else C = ...). K's halves are cut at a multiple of 32 rows. */
typedef void (*GemmAtPairs)(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N,
                            int K, int first, int last, int add, void *ctx);
void ij_gemm_at_acc_split(GemmAtPairs pairs, void *ctx, int mr, int nr, float *C, int ldc, const float *A, int lda,
                       const float *B, int ldb, int M, int N, int K);

#endif
