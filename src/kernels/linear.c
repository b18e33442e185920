/* linear.c: fully connected layers: the own register-tiled products (gemm.h) where this machine has
 * a vector kernel, BLAS sgemm calls elsewhere. */
#include "kernels/kernels.h"

#include "core/error.h"
#include "kernels/colsum.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "kernels/work_time.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* The calling thread's buffer for a packed weight matrix (float32 or bf16 pairs); grows once per larger
 * shape, never in a steady state. */
static void *pack_scratch(size_t bytes)
{
    static _Thread_local void *buf;
    static _Thread_local size_t cap;
    if (bytes > cap) {
        free(buf);
        buf = ij_alloc_aligned(bytes);
        cap = bytes;
    }
    return buf;
}

#if IJ_GEMM_NR

/* C[M,N] = A[M,K] @ packed B (+ bias) on all threads: each takes a contiguous share of whole register
 * tiles of rows. A row's sums do not depend on the split, so neither does the result. */
static void rows_on_threads(float *C, const float *A, const float *wp, const float *bias, int M, int N, int K)
{
    const int tiles = (M + IJ_GEMM_MR - 1) / IJ_GEMM_MR;
#pragma omp parallel if (tiles > 1)
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int r0 = (int)((long)tiles * id / nt) * IJ_GEMM_MR, r1 = (int)((long)tiles * (id + 1) / nt) * IJ_GEMM_MR;
        r1 = r1 < M ? r1 : M;
        if (r1 > r0) ij_gemm_rows(C + (size_t)r0 * N, N, A + (size_t)r0 * K, K, wp, r1 - r0, N, K, bias, NULL, 0);
    }
}

/* C[M,N] = A[M,K] @ B (+ bias) on all threads, with B = w^T for w[N,K] (transposed) or B = w for
 * w[K,N], w packed into the calling thread's scratch first. Inside the training step OpenBLAS took
 * ~10x longer on these calls (the patch embedding's K = 16, the predictor's input and output
 * projections: ~20 ms per step on config 1 with its bias copy and beta = 1 pass; throw-away timers). */
static void product_on_threads(float *C, const float *A, const float *w, int transposed, const float *bias, int M,
                               int N, int K)
{
    double t0 = ij_work_begin();
    float *wp = pack_scratch(sizeof(float) * ij_gemm_packed_size(N, K));
    if (transposed) ij_gemm_pack_wt(wp, w, N, K);
    else ij_gemm_pack_w(wp, w, K, N);
    rows_on_threads(C, A, wp, bias, M, N, K);
    ij_work_end(IJ_WORK_ROW_PRODUCTS, t0, 2.0 * M * N * K);
}
#endif

/* product_on_threads with bf16 operands: w rounded into pairs once, the rows split over the threads. */
static void product_on_threads_bf16(IjBf16Path bf16, float *C, const float *A, const float *w, int transposed,
                                    const float *bias, int M, int N, int K)
{
    double t0 = ij_work_begin();
    uint32_t *wp = pack_scratch(sizeof(uint32_t) * ij_gemm_bf16_packed_size(N, K));
    if (transposed) ij_gemm_bf16_pack_wt(wp, w, N, K);
    else ij_gemm_bf16_pack_w(wp, w, K, N);
    const int tile = 16, tiles = (M + tile - 1) / tile;
#pragma omp parallel if (tiles > 1)
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int r0 = (int)((long)tiles * id / nt) * tile, r1 = (int)((long)tiles * (id + 1) / nt) * tile;
        r1 = r1 < M ? r1 : M;
        if (r1 > r0)
            ij_gemm_bf16_rows(bf16, C + (size_t)r0 * N, N, A + (size_t)r0 * K, K, wp, r1 - r0, N, K, bias, NULL, 0, NULL,
                           0);
    }
    ij_work_end(IJ_WORK_ROW_PRODUCTS, t0, 2.0 * M * N * K);
}

void ij_linear_forward(float *out, const float *in, const float *w, const float *b, int T, int Cin, int Cout,
                    IjBf16Path bf16)
{
    if (T == 0) return;
    if (bf16) {
        product_on_threads_bf16(bf16, out, in, w, 1, b, T, Cout, Cin);
        return;
    }
#if IJ_GEMM_NR
    product_on_threads(out, in, w, 1, b, T, Cout, Cin);
#else
    if (b) {
#pragma omp parallel for schedule(static)
        for (int t = 0; t < T; t++) memcpy(out + (size_t)t * Cout, b, sizeof(float) * (size_t)Cout);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, Cout, Cin, 1.0f, in, Cin, w, Cin,
                b ? 1.0f : 0.0f, out, Cout);
#endif
}

void ij_linear_forward_residual(float *out, const float *in, const float *w, const float *b, const float *res,
                             int T, int Cin, int Cout)
{
    if (T == 0) return;
    /* The residual and bias are the product's initial C (beta = 1): no separate pass to add them. */
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *r = res + (size_t)t * Cout;
        float *o = out + (size_t)t * Cout;
#pragma omp simd
        for (int c = 0; c < Cout; c++) o[c] = b ? r[c] + b[c] : r[c];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, Cout, Cin, 1.0f, in, Cin, w, Cin, 1.0f, out, Cout);
}

void ij_linear_backward_input(float *din, const float *dout, const float *w, int T, int Cin, int Cout, IjBf16Path bf16)
{
    if (T == 0) return;
    if (bf16) {
        product_on_threads_bf16(bf16, din, dout, w, 0, NULL, T, Cin, Cout);
        return;
    }
#if IJ_GEMM_NR
    product_on_threads(din, dout, w, 0, NULL, T, Cin, Cout);
#else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, Cin, Cout, 1.0f, dout, Cout, w, Cin, 0.0f, din,
                Cin);
#endif
}

void ij_linear_backward_params(float *dw, float *db, const float *dout, const float *in, int T, int Cin, int Cout,
                            IjBf16Path bf16)
{
    if (T == 0) return;
    double t0 = ij_work_begin();
    /* dw[Cout,Cin] += dout^T[Cout,T] @ in[T,Cin]: the own kernel where there is one (OpenBLAS re-packs
     * both operands, a large part of the work when Cout and Cin are small, and splits by thread) */
    if (bf16) ij_gemm_bf16_at_acc(bf16, dw, Cin, dout, Cout, in, Cin, Cout, Cin, T);
    else if (IJ_GEMM_NR) ij_gemm_at_acc(dw, Cin, dout, Cout, in, Cin, Cout, Cin, T);
    else cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Cout, Cin, T, 1.0f, dout, Cout, in, Cin, 1.0f, dw, Cin);
    ij_work_end(IJ_WORK_WEIGHT_GRADIENTS, t0, 2.0 * T * Cin * Cout);
    if (db) colsum_acc(db, dout, T, Cout);
}

void ij_linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, int T, int Cin, int Cout, IjBf16Path bf16)
{
    if (din) ij_linear_backward_input(din, dout, w, T, Cin, Cout, bf16);
    ij_linear_backward_params(dw, db, dout, in, T, Cin, Cout, bf16);
}

void ij_linear_forward_rows(float *out, const float *in, const float *w, const void *wp, const float *b,
                         const float *res, int T, int Cin, int Cout, IjBf16Path bf16)
{
    if (T == 0) return;
    double t0 = ij_work_begin();
    if (bf16) ij_gemm_bf16_rows(bf16, out, Cout, in, Cin, wp, T, Cout, Cin, b, res, Cout, NULL, 0);
    else if (wp) ij_gemm_rows(out, Cout, in, Cin, wp, T, Cout, Cin, b, res, Cout);
    else if (res) ij_linear_forward_residual(out, in, w, b, res, T, Cin, Cout);
    else ij_linear_forward(out, in, w, b, T, Cin, Cout, IJ_BF16_OFF);
    ij_work_end(IJ_WORK_ROW_PRODUCTS, t0, 2.0 * T * Cin * Cout);
}

void ij_linear_backward_input_scaled_rows(float *din, const float *dout, const float *w, const void *wp,
                                       const float *scale, int T, int Cin, int Cout, IjBf16Path bf16)
{
    if (!wp) { /* BLAS, then the multiply as a pass of its own */
        ij_linear_backward_input_rows(din, dout, w, NULL, T, Cin, Cout, IJ_BF16_OFF);
        ij_gelu_backward_slope(din, din, scale, (size_t)T * Cin);
        return;
    }
    if (T == 0) return;
    double t0 = ij_work_begin();
    if (bf16) ij_gemm_bf16_rows(bf16, din, Cin, dout, Cout, wp, T, Cin, Cout, NULL, NULL, 0, scale, Cin);
    else ij_gemm_rows_scaled(din, Cin, dout, Cout, wp, T, Cin, Cout, scale, Cin);
    ij_work_end(IJ_WORK_ROW_PRODUCTS, t0, 2.0 * T * Cin * Cout);
}

void ij_linear_backward_input_rows(float *din, const float *dout, const float *w, const void *wp, int T, int Cin,
                                int Cout, IjBf16Path bf16)
{
    if (T == 0) return;
    double t0 = ij_work_begin();
    if (bf16) ij_gemm_bf16_rows(bf16, din, Cin, dout, Cout, wp, T, Cin, Cout, NULL, NULL, 0, NULL, 0);
    else if (wp) ij_gemm_rows(din, Cin, dout, Cout, wp, T, Cin, Cout, NULL, NULL, 0);
    else ij_linear_backward_input(din, dout, w, T, Cin, Cout, IJ_BF16_OFF);
    ij_work_end(IJ_WORK_ROW_PRODUCTS, t0, 2.0 * T * Cin * Cout);
}
