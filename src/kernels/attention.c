/* attention.c: softmax self-attention per (sequence, head) on a ragged batch.
 *
 * Each (sequence, head) pair is independent and owns disjoint output columns,
 * so the pairs are spread over OpenMP threads with no atomics; the result does
 * not depend on the thread count. The L x L probability matrix of every pair
 * is kept for the backward pass; the backward pass needs one L x L scratch
 * matrix per thread.
 *
 * The products of one pair are tiny (L = 5 .. 50 tokens in the training step,
 * hd = 32 or 64): as sgemm calls, the call overhead and the scalar remainders
 * of the softmax cost more than the arithmetic. With a vector kernel (gemm.h)
 * and hd a multiple of the vector width, each pair runs through the
 * register-tiled products below instead, on the head slices of qkv in place:
 * only the products that contract over the head features (Q K^T, dY V^T) need
 * a transposed copy (K^T or V^T, zero-padded to whole vectors, on the stack); from
 * ATT_COPY_MIN tokens on, the other right operands are read from contiguous copies.
 * Other shapes, and builds without a vector kernel, keep the sgemm calls
 * (head_forward_blas / head_backward_blas, also the reference the fused path
 * is tested against in tests/test_attention.c).
 */
#include "kernels/kernels.h"

#include "kernels/simd.h"
#include "kernels/vecmath.h"
#include "kernels/work_time.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>

size_t ij_att_probs_size(const int *seg_off, int nseg, int heads)
{
    size_t n = 0;
    for (int s = 0; s < nseg; s++) {
        size_t L = (size_t)(seg_off[s + 1] - seg_off[s]);
        n += L * L;
    }
    return n * (size_t)heads;
}

size_t ij_att_scratch_size(const int *seg_off, int nseg, int D, int heads)
{
    size_t max_len = 0;
    for (int s = 0; s < nseg; s++)
        if ((size_t)(seg_off[s + 1] - seg_off[s]) > max_len) max_len = (size_t)(seg_off[s + 1] - seg_off[s]);
    (void)D;
    (void)heads;
    /* the tiled path keeps its rows at a whole number of vectors (16 floats covers AVX2 and AVX-512) */
    size_t padded = (max_len + 15) / 16 * 16;
    return (size_t)omp_get_max_threads() * (max_len > 0 ? max_len * padded : 1);
}

/* FLOPs of the products of one pass (forward: 2 per head and sequence, backward: 4), 2 L^2 hd each. */
static double att_flops(const int *seg_off, int nseg, int D, int products)
{
    double n = 0;
    for (int s = 0; s < nseg; s++) n += (double)(seg_off[s + 1] - seg_off[s]) * (seg_off[s + 1] - seg_off[s]);
    return 2.0 * products * n * D;
}

/* Offsets of each sequence's probabilities, computed on the fly (cheap: nseg adds). */
static size_t probs_offset(const int *seg_off, int s, int heads)
{
    size_t n = 0;
    for (int j = 0; j < s; j++) {
        size_t L = (size_t)(seg_off[j + 1] - seg_off[j]);
        n += L * L;
    }
    return n * (size_t)heads;
}

/* Softmax of each of the L rows of P[L, L], in place. The loops vectorise: the row maximum as a
 * max-reduction (exact in any order), expf as glibc's 16-wide libmvec variant (simdlen(16): GCC's
 * default 256-bit vectors on AVX-512 machines would call the 8-wide one). */
static void softmax_rows(float *P, int L, int round)
{
    for (int i = 0; i < L; i++) {
        float *Pr = P + (size_t)i * L;
        float mx = Pr[0];
#pragma omp simd reduction(max : mx)
        for (int j = 1; j < L; j++) mx = Pr[j] > mx ? Pr[j] : mx;
        float sum = 0.0f;
#pragma omp simd simdlen(16) reduction(+ : sum)
        for (int j = 0; j < L; j++) {
            Pr[j] = expf(Pr[j] - mx);
            sum += Pr[j];
        }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j < L; j++) Pr[j] = round ? ij_bf16_round(Pr[j] * inv) : Pr[j] * inv;
    }
}

void ij_bf16_round_inplace(float *x, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) x[i] = ij_bf16_round(x[i]);
}

/* One pair through sgemm: S = scale Q K^T, P = softmax(S), Y = P V on the strided [L, hd] slices of
 * qkv (q at qkv row stride 3D, k at +D, v at +2D); y[L, hd] at row stride D. Inside the parallel
 * loop OpenBLAS's OpenMP build runs single-threaded, so threads never nest. */
static void head_forward_blas(float *y, float *P, const float *q, int L, int hd, int D, float scale, int round)
{
    const int D3 = 3 * D;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, hd, scale, q, D3, q + D, D3, 0.0f, P, L);
    softmax_rows(P, L, round);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, hd, L, 1.0f, P, L, q + 2 * D, D3, 0.0f, y, D);
}

/* dS = P * (dP - rowsum(P * dP)) * scale, in place over dP[L, L]. */
static void softmax_backward_rows(float *dS, const float *P, int L, float scale, int round)
{
    for (int i = 0; i < L; i++) {
        const float *Pr = P + (size_t)i * L;
        float *r = dS + (size_t)i * L;
        float rowdot = 0.0f;
#pragma omp simd reduction(+ : rowdot)
        for (int j = 0; j < L; j++) rowdot += Pr[j] * r[j];
#pragma omp simd
        for (int j = 0; j < L; j++) r[j] = round ? ij_bf16_round(Pr[j] * (r[j] - rowdot) * scale)
                                                 : Pr[j] * (r[j] - rowdot) * scale;
    }
}

/* One pair's gradients through sgemm, written straight into dq[L, 3 hd] (dq, dk at +D, dv at +2D, row
 * stride 3D) from dy[L, hd] (row stride D); dS[L, L] is scratch:
 *   dV = P^T dY,  dP = dY V^T,  dS = P * (dP - rowsum(P * dP)) * scale,  dQ = dS K,  dK = dS^T Q. */
static void head_backward_blas(float *dq, float *dS, const float *dy, const float *q, const float *P, int L, int hd,
                               int D, float scale, int round)
{
    const int D3 = 3 * D;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, hd, L, 1.0f, P, L, dy, D, 0.0f, dq + 2 * D, D3);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, hd, 1.0f, dy, D, q + 2 * D, D3, 0.0f, dS, L);
    softmax_backward_rows(dS, P, L, scale, round);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, hd, L, 1.0f, dS, L, q + D, D3, 0.0f, dq, D3);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, hd, L, 1.0f, dS, L, q, D3, 0.0f, dq + D, D3);
}

#if IJ_GEMM_NR

/* Floats of the transposed copy (K^T or V^T, hd x Lp) on the stack: 64 KiB (OpenMP's threads get
 * megabytes of stack). Pairs whose copy would not fit (hd = 64 with L > 256) take the sgemm path,
 * where the per-call overhead no longer matters. */
#define ATT_T_MAX 16384

/* A register tile is m rows by nv vectors of columns: m * nv accumulators, nv vectors of a row of B
 * and one broadcast value of A within the 32 (AVX-512) or 16 (AVX2) vector registers. A product's
 * columns are cut into blocks of at most ATT_NV vectors (64 or 16 floats), each block's rows into
 * tiles of at most ATT_ROWS(nv) rows. */
#if VW == 16
#define ATT_NV 4
#define ATT_ROWS(nv) ((nv) <= 2 ? 14 : (nv) == 3 ? 8 : 6)
#define ATT_MAXROWS 14
#else
#define ATT_NV 2
#define ATT_ROWS(nv) ((nv) == 1 ? 12 : 6)
#define ATT_MAXROWS 12
#endif

/* C[m, nv VW] = A[m, K] @ B[K, nv VW] for m rows and nv vectors known at compile time once inlined (so
 * the accumulators live in registers), the last vector of each C row stored through the mask tail.
 * A's element (r, k) is A[r * lda + k], or A[k * lda + r] when at is set (A stored transposed);
 * B's rows are whole vectors at row stride ldb. Each element is one sum over k in order. */
static inline __attribute__((always_inline)) void att_tile(const int m, const int nv, float *C, int ldc,
                                                            const float *A, int lda, const int at, const float *B,
                                                            int ldb, int K, vmask tail)
{
    vf c[ATT_MAXROWS][ATT_NV];
#pragma GCC unroll 16
    for (int r = 0; r < m; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) c[r][v] = vzero();
    for (int k = 0; k < K; k++) {
        vf b[ATT_NV];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) b[v] = vload(B + (size_t)k * ldb + v * VW);
#pragma GCC unroll 16
        for (int r = 0; r < m; r++) {
            vf a = vbcast(at ? A[(size_t)k * lda + r] : A[(size_t)r * lda + k]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) c[r][v] = vfma(a, b[v], c[r][v]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < m; r++) {
#pragma GCC unroll 4
        for (int v = 0; v < nv - 1; v++) vstore(C + (size_t)r * ldc + v * VW, c[r][v]);
        vstore_mask(C + (size_t)r * ldc + (nv - 1) * VW, tail, c[r][nv - 1]);
    }
}

/* One tile of m <= ATT_ROWS(nv) rows by nv <= ATT_NV vectors: a switch to the compiled shape. The
 * shapes past ATT_ROWS(nv) are never called; they compile as 1-row tiles (the code is dead) so that
 * no accumulator index runs past ATT_MAXROWS. */
static inline __attribute__((always_inline)) void att_tile_any(int m, int nv, float *C, int ldc, const float *A,
                                                                int lda, const int at, const float *B, int ldb, int K,
                                                                vmask tail)
{
#define M_CASE(mm, nn)                                                                                 \
    case mm:                                                                                           \
        if ((mm) <= ATT_ROWS(nn))                                                                      \
            att_tile((mm) <= ATT_ROWS(nn) ? (mm) : 1, nn, C, ldc, A, lda, at, B, ldb, K, tail);        \
        break;
#define NV_CASE(nn)                                                                                    \
    case nn:                                                                                           \
        switch (m) {                                                                                   \
            M_CASE(1, nn) M_CASE(2, nn) M_CASE(3, nn) M_CASE(4, nn) M_CASE(5, nn) M_CASE(6, nn)         \
            M_CASE(7, nn) M_CASE(8, nn) M_CASE(9, nn) M_CASE(10, nn) M_CASE(11, nn) M_CASE(12, nn)      \
            M_CASE(13, nn) M_CASE(14, nn)                                                              \
        }                                                                                              \
        break;
    switch (nv) {
        NV_CASE(1)
        NV_CASE(2)
#if ATT_NV > 2
        NV_CASE(3)
        NV_CASE(4)
#endif
    }
#undef NV_CASE
#undef M_CASE
}

/* C[M, N] = A[M, K] @ B[K, N] on one thread (A as in att_tile; B's rows readable up to N rounded up to
 * whole vectors; exactly N columns of C written). The column blocks and, in each, the row tiles are
 * cut evenly (49 rows in tiles of at most 6: five of 5 and four of 6 rows, not eight of 6 and one of
 * 1), so that no tile is left with too few accumulators to hide the latency of its chain of FMAs. */
static inline __attribute__((always_inline)) void att_product(float *C, int ldc, const float *A, int lda,
                                                               const int at, const float *B, int ldb, int M, int N,
                                                               int K)
{
    const int nvec = (N + VW - 1) / VW, nblk = (nvec + ATT_NV - 1) / ATT_NV;
    for (int blk = 0, v0 = 0; blk < nblk; blk++) {
        int nv = (nvec - v0 + (nblk - blk) - 1) / (nblk - blk);
        vmask tail = vmask_first(N - (v0 + nv - 1) * VW);
        int rows = ATT_ROWS(nv), ntile = (M + rows - 1) / rows;
        for (int t = 0, i0 = 0; t < ntile; t++) {
            int m = (M - i0 + (ntile - t) - 1) / (ntile - t);
            att_tile_any(m, nv, C + (size_t)i0 * ldc + v0 * VW, ldc, at ? A + i0 : A + (size_t)i0 * lda, lda, at,
                         B + v0 * VW, ldb, K, tail);
            i0 += m;
        }
        v0 += nv;
    }
}

/* The two variants, each compiled once. */
static void att_product_n(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K)
{
    att_product(C, ldc, A, lda, 0, B, ldb, M, N, K);
}
static void att_product_t(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K)
{
    att_product(C, ldc, A, lda, 1, B, ldb, M, N, K);
}

/* From this sequence length on, a product whose right operand is a head slice of qkv or dout (L rows
 * of hd floats at row stride 3D or D) reads a contiguous copy of it instead: every row tile passes over
 * all L rows of it, and in place they span L strided rows. One thread, operands in cache (throw-away
 * harness over the heads of 8-16 sequences, GFLOP/s forward / backward, in place -> copied): L = 196,
 * hd = 64: 122 / 139 -> 138 / 167; L = 128: 125 / 145 -> 136 / 166; L = 100: 118 / 136 -> 125 / 150;
 * L = 61: 121 / 139 -> 121 / 133; L = 49 (hd 64) and 16 (hd 32): 1-5% slower. */
#define ATT_COPY_MIN 80

/* dst[L, hd] (contiguous) = the L rows of hd floats at x (row stride ld); hd a multiple of VW. */
static void copy_rows(float *dst, const float *x, int ld, int L, int hd)
{
    for (int i = 0; i < L; i++)
        for (int c = 0; c < hd; c += VW) vstore(dst + (size_t)i * hd + c, vload(x + (size_t)i * ld + c));
}

/* Zero rows for the transposes' last block of rows (hd <= ATT_T_MAX / VW). */
static const float zero_row[ATT_T_MAX / VW] __attribute__((aligned(64)));

/* xt[hd, Lp] = x[L, hd]^T (x at row stride ld), columns L .. Lp - 1 zero (stack garbage there could
 * hold denormals, whose products cost microcode assists). VW x VW blocks transposed in registers:
 * element by element the copy took as long as the product it serves. Rows past L are read from
 * zero_row, so that every block is the same branch-free code. */
static void transpose_padded(float *xt, const float *x, int ld, int L, int Lp, int hd)
{
    for (int j0 = 0; j0 < Lp; j0 += VW) {
        const float *row[VW];
        for (int j = 0; j < VW; j++) row[j] = j0 + j < L ? x + (size_t)(j0 + j) * ld : zero_row;
        for (int c0 = 0; c0 < hd; c0 += VW) {
            vf r[VW];
#pragma GCC unroll 16
            for (int j = 0; j < VW; j++) r[j] = vload(row[j] + c0);
            vtranspose(r);
#pragma GCC unroll 16
            for (int c = 0; c < VW; c++) vstore(xt + (size_t)(c0 + c) * Lp + j0, r[c]);
        }
    }
}

/* P[L, L] = softmax(scale S) row by row, in place over S, in blocks of rows whose exponentials fit in
 * the aligned buffer e (cap floats, at least Lp). Each block's exponentials go through one
 * whole-vector `omp simd` loop, i.e. glibc's vector expf with no scalar remainder; the lanes past L
 * are computed on 0 (exp(0) = 1, nowhere near expf's slow special-case path) and left out of the sum
 * and the store. A block's rows are independent between the passes (no call in between), so the
 * horizontal reductions of one row overlap with the work of the next. */
/* v rounded to the nearest bf16 (to nearest even; the operands here are finite), as float32 lanes */
static inline vf vround_bf16(vf v)
{
#if VW == 16
    __m512i u = _mm512_castps_si512(v);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    u = _mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff)));
    return _mm512_castsi512_ps(_mm512_and_si512(u, _mm512_set1_epi32((int)0xffff0000u)));
#else
    __m256i u = _mm256_castps_si256(v);
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    u = _mm256_add_epi32(u, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff)));
    return _mm256_castsi256_ps(_mm256_and_si256(u, _mm256_set1_epi32((int)0xffff0000u)));
#endif
}

static void softmax_rows_vec(float *P, int L, float scale, float *e, int cap, int round)
{
    const int nv = (L + VW - 1) / VW, Lp = nv * VW, last = Lp - VW, rows = cap / Lp;
    const vmask tail = vmask_first(L - last);
    const vf sc = vbcast(scale);
    for (int i0 = 0; i0 < L; i0 += rows) {
        const int n = L - i0 < rows ? L - i0 : rows;
        for (int i = 0; i < n; i++) {
            const float *Pr = P + (size_t)(i0 + i) * L;
            float *er = e + (size_t)i * Lp;
            vf mx = vload_mask(Pr + last, tail);
            mx = vselect(tail, mx, vbcast(Pr[0])); /* a lane past L must not raise the maximum */
            for (int v = 0; v < nv - 1; v++) mx = vmax(mx, vload(Pr + v * VW));
            vf m = vbcast(vhmax(mx));
            for (int v = 0; v < nv - 1; v++) vstore(er + v * VW, vmul(vsub(vload(Pr + v * VW), m), sc));
            vstore(er + last, vselect(tail, vmul(vsub(vload_mask(Pr + last, tail), m), sc), vzero()));
        }
#pragma omp simd simdlen(VW) aligned(e : 64)
        for (int j = 0; j < n * Lp; j++) e[j] = expf(e[j]);
        for (int i = 0; i < n; i++) {
            float *Pr = P + (size_t)(i0 + i) * L;
            const float *er = e + (size_t)i * Lp;
            vf sum = vload_mask(er + last, tail);
            for (int v = 0; v < nv - 1; v++) sum = vadd(sum, vload(er + v * VW));
            vf inv = vbcast(1.0f / vhsum(sum));
            if (round) {
                for (int v = 0; v < nv - 1; v++) vstore(Pr + v * VW, vround_bf16(vmul(vload(er + v * VW), inv)));
                vstore_mask(Pr + last, tail, vround_bf16(vmul(vload(er + last), inv)));
                continue;
            }
            for (int v = 0; v < nv - 1; v++) vstore(Pr + v * VW, vmul(vload(er + v * VW), inv));
            vstore_mask(Pr + last, tail, vmul(vload(er + last), inv));
        }
    }
}

/* dS = P * (dP - rowsum(P * dP)) * scale, in place over dP[L, Lp] (row stride Lp, whole vectors: a
 * masked store that ends a row at stride L would overlap the next row's first load, which then waits
 * for the store to reach the cache instead of being forwarded). P at row stride L; dS is 0 past L. */
static void softmax_backward_rows_vec(float *dS, const float *P, int L, float scale, int round)
{
    const int nv = (L + VW - 1) / VW, Lp = nv * VW, last = Lp - VW;
    const vmask tail = vmask_first(L - last);
    const vf sc = vbcast(scale);
    for (int i = 0; i < L; i++) {
        const float *Pr = P + (size_t)i * L;
        float *r = dS + (size_t)i * Lp;
        vf pl = vload_mask(Pr + last, tail), dot = vmul(pl, vload(r + last));
        for (int v = 0; v < nv - 1; v++) dot = vfma(vload(Pr + v * VW), vload(r + v * VW), dot);
        vf rd = vbcast(vhsum(dot));
        if (round) {
            for (int v = 0; v < nv - 1; v++)
                vstore(r + v * VW, vround_bf16(vmul(vmul(vload(Pr + v * VW), vsub(vload(r + v * VW), rd)), sc)));
            vstore(r + last, vround_bf16(vmul(vmul(pl, vsub(vload(r + last), rd)), sc)));
            continue;
        }
        for (int v = 0; v < nv - 1; v++)
            vstore(r + v * VW, vmul(vmul(vload(Pr + v * VW), vsub(vload(r + v * VW), rd)), sc));
        vstore(r + last, vmul(vmul(pl, vsub(vload(r + last), rd)), sc));
    }
}

/* Whether a pair of this shape takes the fused path. */
static int fused_fits(int L, int hd)
{
    return hd % VW == 0 && (size_t)hd * (size_t)((L + VW - 1) / VW * VW) <= ATT_T_MAX;
}

/* head_forward_blas through the tiled products. */
static void head_forward_fused(float *y, float *P, const float *q, int L, int hd, int D, float scale, int round)
{
    const int D3 = 3 * D, Lp = (L + VW - 1) / VW * VW;
    float kt[ATT_T_MAX] __attribute__((aligned(64)));
    transpose_padded(kt, q + D, D3, L, Lp, hd);
    att_product_n(P, L, q, D3, kt, Lp, L, L, hd); /* S = Q K^T (the scale comes in the softmax) */
    softmax_rows_vec(P, L, scale, kt, ATT_T_MAX, round); /* K^T is done with: its space holds the exponentials */
    if (L < ATT_COPY_MIN) {
        att_product_n(y, D, P, L, q + 2 * D, D3, L, hd, L); /* Y = P V */
        return;
    }
    copy_rows(kt, q + 2 * D, D3, L, hd); /* then V, once the exponentials are done with */
    att_product_n(y, D, P, L, kt, hd, L, hd, L);
}

/* head_backward_blas through the tiled products. */
static void head_backward_fused(float *dq, float *dS, const float *dy, const float *q, const float *P, int L,
                                int hd, int D, float scale, int round)
{
    const int D3 = 3 * D, Lp = (L + VW - 1) / VW * VW;
    float vt[ATT_T_MAX] __attribute__((aligned(64)));
    if (L < ATT_COPY_MIN) {
        att_product_t(dq + 2 * D, D3, P, L, dy, D, L, hd, L); /* dV = P^T dY */
    } else { /* vt holds each right operand in turn: dY, V^T, K, Q */
        copy_rows(vt, dy, D, L, hd);
        att_product_t(dq + 2 * D, D3, P, L, vt, hd, L, hd, L);
    }
    transpose_padded(vt, q + 2 * D, D3, L, Lp, hd);
    att_product_n(dS, Lp, dy, D, vt, Lp, L, Lp, hd); /* dP = dY V^T, at row stride Lp */
    softmax_backward_rows_vec(dS, P, L, scale, round);
    if (L < ATT_COPY_MIN) {
        att_product_n(dq, D3, dS, Lp, q + D, D3, L, hd, L); /* dQ = dS K */
        att_product_t(dq + D, D3, dS, Lp, q, D3, L, hd, L); /* dK = dS^T Q */
        return;
    }
    copy_rows(vt, q + D, D3, L, hd);
    att_product_n(dq, D3, dS, Lp, vt, hd, L, hd, L);
    copy_rows(vt, q, D3, L, hd);
    att_product_t(dq + D, D3, dS, Lp, vt, hd, L, hd, L);
}

#else /* no vector kernel: every pair through sgemm */

static int fused_fits(int L, int hd) { (void)L, (void)hd; return 0; }
static void head_forward_fused(float *y, float *P, const float *q, int L, int hd, int D, float scale, int round)
{
    head_forward_blas(y, P, q, L, hd, D, scale, round);
}
static void head_backward_fused(float *dq, float *dS, const float *dy, const float *q, const float *P, int L,
                                int hd, int D, float scale, int round)
{
    head_backward_blas(dq, dS, dy, q, P, L, hd, D, scale, round);
}

#endif

/* One (sequence, head) pair of each pass: its slices of the operands, its part of probs. */
static void forward_pair(float *out, float *probs, const float *qkv, const int *seg_off, int sh, int D, int heads,
                         int round)
{
    const int hd = D / heads, D3 = 3 * D, s = sh / heads, h = sh % heads;
    const int o = seg_off[s], L = seg_off[s + 1] - o;
    if (L == 0) return;
    const float scale = 1.0f / sqrtf((float)hd);
    float *P = probs + probs_offset(seg_off, s, heads) + (size_t)h * L * L;
    const float *q = qkv + (size_t)o * D3 + (size_t)h * hd;
    float *y = out + (size_t)o * D + (size_t)h * hd;
    if (fused_fits(L, hd)) head_forward_fused(y, P, q, L, hd, D, scale, round);
    else head_forward_blas(y, P, q, L, hd, D, scale, round);
}

static void backward_pair(float *dqkv, const float *dout, const float *qkv, const float *probs, const int *seg_off,
                          int sh, int D, int heads, float *dS, int round)
{
    const int hd = D / heads, D3 = 3 * D, s = sh / heads, h = sh % heads;
    const int o = seg_off[s], L = seg_off[s + 1] - o;
    if (L == 0) return;
    const float scale = 1.0f / sqrtf((float)hd);
    const float *P = probs + probs_offset(seg_off, s, heads) + (size_t)h * L * L;
    const float *q = qkv + (size_t)o * D3 + (size_t)h * hd;
    const float *dy = dout + (size_t)o * D + (size_t)h * hd;
    float *dq = dqkv + (size_t)o * D3 + (size_t)h * hd;
    if (fused_fits(L, hd)) head_backward_fused(dq, dS, dy, q, P, L, hd, D, scale, round);
    else head_backward_blas(dq, dS, dy, q, P, L, hd, D, scale, round);
}

/* Called from inside a parallel region (a chunk of the training stack), both passes run their pairs
 * in order on the calling thread: a nested region would get one thread anyway, and its dynamic
 * schedule cost a call into the OpenMP runtime per pair (6% of the time of pairs of 7 tokens).
 * Outside one, the pairs are spread over the threads. */

/* Per (sequence, head): S = scale Q K^T, P = softmax(S), Y = P V. */
void ij_attention_forward(float *out, float *probs, const float *qkv, const int *seg_off, int nseg,
                       int D, int heads, IjBf16Path bf16)
{
    const int round = bf16 != IJ_BF16_OFF;
    double t0 = ij_work_begin();
    if (omp_get_level() > 0) {
        for (int sh = 0; sh < nseg * heads; sh++) forward_pair(out, probs, qkv, seg_off, sh, D, heads, round);
    } else {
#pragma omp parallel for schedule(dynamic, 1)
        for (int sh = 0; sh < nseg * heads; sh++) forward_pair(out, probs, qkv, seg_off, sh, D, heads, round);
    }
    ij_work_end(IJ_WORK_ATTENTION, t0, att_flops(seg_off, nseg, D, 2));
}

/* Per (sequence, head), with dY the head's slice of dout:
 *   dV = P^T dY,  dP = dY V^T,  dS = P * (dP - rowsum(P * dP)) * scale,
 *   dQ = dS K,    dK = dS^T Q   (written straight into dqkv). */
void ij_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs,
                        const int *seg_off, int nseg, int D, int heads, float *scratch, IjBf16Path bf16)
{
    const int round = bf16 != IJ_BF16_OFF;
    double t0 = ij_work_begin();
    if (omp_get_level() > 0) { /* the caller passes its own thread's scratch */
        for (int sh = 0; sh < nseg * heads; sh++)
            backward_pair(dqkv, dout, qkv, probs, seg_off, sh, D, heads, scratch, round);
    } else {
        size_t per_thread = ij_att_scratch_size(seg_off, nseg, D, heads) / (size_t)omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1)
        for (int sh = 0; sh < nseg * heads; sh++)
            backward_pair(dqkv, dout, qkv, probs, seg_off, sh, D, heads,
                          scratch + (size_t)omp_get_thread_num() * per_thread, round);
    }
    ij_work_end(IJ_WORK_ATTENTION, t0, att_flops(seg_off, nseg, D, 4));
}
