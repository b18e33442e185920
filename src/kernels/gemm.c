/* gemm.c: register-tiled products (see gemm.h). */
#include "kernels/gemm.h"
#include "kernels/gemm_tile.h"
#include "kernels/simd.h"

#include "core/error.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Weight gradients: K in blocks of GEMM_AT_KC rows (see at_pairs); K cut in halves up to this size of C */
#define GEMM_AT_KC 32
#define GEMM_AT_HALVES_MAX (1u << 20) /* bytes of C up to which K is cut in halves (see ij_gemm_at_acc) */

#if IJ_GEMM_NR

#define NR IJ_GEMM_NR
#define MR IJ_GEMM_MR
_Static_assert(NR == 2 * VW, "a register tile row is two vectors");

size_t ij_gemm_packed_size(int N, int K) { return (size_t)((N + NR - 1) / NR) * NR * (size_t)K; }

void ij_gemm_pack_wt(float *wp, const float *w, int N, int K)
{
    for (int p = 0; p * NR < N; p++) {
        float *dst = wp + (size_t)p * K * NR;
        int n = N - p * NR < NR ? N - p * NR : NR, k = 0;
        const float *src = w + (size_t)p * NR * K;
        /* a full panel by VW x VW blocks transposed in registers (one value at a time took 1% of a
         * training step: every weight matrix is packed once per pass) */
        if (n == NR)
            for (; k + VW <= K; k += VW)
                for (int j0 = 0; j0 < NR; j0 += VW) {
                    vf r[VW];
#pragma GCC unroll 16
                    for (int i = 0; i < VW; i++) r[i] = vload(src + (size_t)(j0 + i) * K + k);
                    vtranspose(r);
#pragma GCC unroll 16
                    for (int i = 0; i < VW; i++) vstore(dst + (size_t)(k + i) * NR + j0, r[i]);
                }
        /* the rest (a partial panel, or K past the last whole block), k outer: contiguous writes */
        for (; k < K; k++) {
            float *d = dst + (size_t)k * NR;
            for (int j = 0; j < n; j++) d[j] = src[(size_t)j * K + k];
            for (int j = n; j < NR; j++) d[j] = 0.0f;
        }
    }
}

void ij_gemm_pack_w(float *wp, const float *w, int K, int N)
{
    for (int p = 0; p * NR < N; p++) {
        float *dst = wp + (size_t)p * K * NR;
        int n = N - p * NR < NR ? N - p * NR : NR;
        if (n == NR) { /* whole vectors: a memcpy call per row of NR floats was 2-3x slower (`bench --kernels`) */
            for (int k = 0; k < K; k++) {
                const float *src = w + (size_t)k * N + (size_t)p * NR;
                vstore(dst + (size_t)k * NR, vload(src));
                vstore(dst + (size_t)k * NR + VW, vload(src + VW));
            }
            continue;
        }
        for (int k = 0; k < K; k++) {
            memcpy(dst + (size_t)k * NR, w + (size_t)k * N + (size_t)p * NR, sizeof(float) * (size_t)n);
            for (int j = n; j < NR; j++) dst[(size_t)k * NR + j] = 0.0f;
        }
    }
}

/* One tile of m <= MR rows (a constant once inlined, so the accumulators live in registers) and
 * n <= NR columns: acc = A[m,K] @ panel, then C = acc + bias + R, or C += acc when add is set; then,
 * with S, C = C * S elementwise (S at row stride lds).
 * A's element (r, k) is A[r * lda + k], or A[k * lda + r] when at is set (A stored transposed). */
static inline __attribute__((always_inline)) void tile(const int m, float *C, int ldc, const float *A, int lda,
                                                        const int at, const float *b, int ldb, int K, int n,
                                                        const float *bias, const float *R, int ldr, int add,
                                                        const float *S, int lds)
{
    vf c0[MR], c1[MR];
#pragma GCC unroll 16
    for (int r = 0; r < m; r++) c0[r] = c1[r] = vzero();
    for (int k = 0; k < K; k++) {
        vf b0 = vload(b + (size_t)k * ldb), b1 = vload(b + (size_t)k * ldb + VW);
#pragma GCC unroll 16
        for (int r = 0; r < m; r++) {
            vf a = vbcast(at ? A[(size_t)k * lda + r] : A[(size_t)r * lda + k]);
            c0[r] = vfma(a, b0, c0[r]);
            c1[r] = vfma(a, b1, c1[r]);
        }
    }
    tile_store(m, c0, c1, C, ldc, n, bias, R, ldr, add, S, lds);
}

/* m <= MR rows: one full tile, or tiles of 8, 4, 2 and 1 rows (m < MR <= 16). */
static inline __attribute__((always_inline)) void row_tiles(int m, float *C, int ldc, const float *A, int lda,
                                                             const int at, const float *b, int ldb, int K, int n,
                                                             const float *bias, const float *R, int ldr, int add,
                                                             const float *S, int lds)
{
    if (m == MR) {
        tile(MR, C, ldc, A, lda, at, b, ldb, K, n, bias, R, ldr, add, S, lds);
        return;
    }
    int r0 = 0;
#define REST(h)                                                                                          \
    if (m & (h)) {                                                                                       \
        tile((h) < MR ? (h) : MR, C + (size_t)r0 * ldc, ldc, at ? A + r0 : A + (size_t)r0 * lda, lda, at, b, \
             ldb, K, n, bias, R ? R + (size_t)r0 * ldr : NULL, ldr, add, S ? S + (size_t)r0 * lds : NULL, lds); \
        r0 += (h);                                                                                       \
    }
    REST(8) REST(4) REST(2) REST(1)
#undef REST
}

/* Prefetch the cache lines of bytes at p into L2. */
static inline void prefetch_l2(const void *p, size_t bytes)
{
    for (size_t l = 0; l < bytes; l += 64) _mm_prefetch((const char *)p + l, _MM_HINT_T1);
}

/* The rows of C against k = k0 .. k0 + K - 1 (add: into C). */
static void gemm_block(float *C, int ldc, const float *A, int lda, const float *b, size_t panel_stride,
                       int M, int N, int K, const float *bias, const float *R, int ldr, int add, const float *S,
                       int lds)
{
    /* row tiles outer: a tile's rows stay in L1 while it passes over the panels (measured: 3-6% faster
     * steps than with the panels outer) */
    for (int i = 0; i < M; i += MR) {
        int m = M - i < MR ? M - i : MR, next = M - i - m < MR ? M - i - m : MR;
        int npanels = (N + NR - 1) / NR, per_panel = next > 0 ? (next + npanels - 1) / npanels : 0;
        float *Ci = C + (size_t)i * ldc;
        const float *Ai = A + (size_t)i * lda, *Ri = R ? R + (size_t)i * ldr : NULL;
        const float *Si = S ? S + (size_t)i * lds : NULL;
        for (int j = 0, p = 0; j < N; j += NR, p++) {
            int n = N - j < NR ? N - j : NR;
            /* Inside the step A and C come from L3 (a tile of either in cache: in-cache products ran 15-25%
             * faster than from a 50 MB working set): the next tile's rows of A and C go into L2 meanwhile,
             * spread evenly over this tile's panels. */
            for (int r = p * per_panel; r < (p + 1) * per_panel && r < next; r++) {
                prefetch_l2(A + (size_t)(i + m + r) * lda, sizeof(float) * (size_t)K);
                prefetch_l2(C + (size_t)(i + m + r) * ldc, sizeof(float) * (size_t)N);
            }
            const float *bp = b + (size_t)p * panel_stride, *bj = bias ? bias + j : NULL, *Rj = Ri ? Ri + j : NULL;
            row_tiles(m, Ci + j, ldc, Ai, lda, 0, bp, NR, K, n, bj, Rj, ldr, add, Si ? Si + j : NULL, lds);
        }
    }
}

/* K in blocks of at most GEMM_KC and N in blocks of at most GEMM_NC, so that one block of the
 * weights (K_c x N_c, 512 KiB) stays in L2 while every row tile passes over it, and a row tile's K_c
 * values stay in L1. */
#define GEMM_KC 256
#define GEMM_NC 512

/* ij_gemm_rows, and with S the product scaled elementwise in the last K block's epilogue */
static void rows_blocked(float *C, int ldc, const float *A, int lda, const float *wp, int M, int N, int K,
                         const float *bias, const float *R, int ldr, const float *S, int lds)
{
    size_t panel_stride = (size_t)K * NR;
    int nk = (K + GEMM_KC - 1) / GEMM_KC, kc = (K + nk - 1) / nk;
    for (int k0 = 0; k0 < K; k0 += kc) {
        int kn = K - k0 < kc ? K - k0 : kc;
        for (int n0 = 0; n0 < N; n0 += GEMM_NC) {
            int nn = N - n0 < GEMM_NC ? N - n0 : GEMM_NC;
            gemm_block(C + n0, ldc, A + k0, lda, wp + (size_t)(n0 / NR) * panel_stride + (size_t)k0 * NR,
                       panel_stride, M, nn, kn, bias ? bias + n0 : NULL, R ? R + n0 : NULL, ldr, k0 > 0,
                       S && k0 + kn == K ? S + n0 : NULL, lds);
        }
    }
}

void ij_gemm_rows(float *C, int ldc, const float *A, int lda, const float *wp, int M, int N, int K,
               const float *bias, const float *R, int ldr)
{
    rows_blocked(C, ldc, A, lda, wp, M, N, K, bias, R, ldr, NULL, 0);
}

void ij_gemm_rows_scaled(float *C, int ldc, const float *A, int lda, const float *wp, int M, int N, int K,
                      const float *S, int lds)
{
    rows_blocked(C, ldc, A, lda, wp, M, N, K, NULL, NULL, 0, S, lds);
}

/* K in blocks of GEMM_AT_KC rows. Inside the training step the operands come from memory, not cache:
 * each block's rows (contiguous in both A and B) are prefetched into L2 while the previous block is
 * multiplied, and a short block keeps a tile's rows of it in L1 across its passes. Measured on config 1
 * (`ijepa bench`, share of the thread time in the weight gradients): 32 rows 12.9-13.0%, 16 rows 13.8%,
 * 64 rows 13.8%, 128 rows 14.3-14.7%, 256 rows 15.7%; 32 rows without the prefetch 16.8%; prefetching
 * two or four blocks ahead instead of one: the same; OpenBLAS 15.2-15.7%. */

/* Prefetch lines [from, to) of the n_a lines at a followed by those at b into L2. */
static inline void prefetch_lines(const char *a, size_t n_a, const char *b, size_t from, size_t to)
{
    for (size_t l = from; l < to; l++) _mm_prefetch(l < n_a ? a + l * 64 : b + (l - n_a) * 64, _MM_HINT_T1);
}

/* Pairs [first, last) of the (row tile, column panel) pairs over k = 0 .. K - 1; into C (add: C += ...,
 * else the first block sets C). */
static void at_pairs(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K,
                     int first, int last, int add)
{
    const int npanels = (N + NR - 1) / NR;
    float edge[GEMM_AT_KC * NR]; /* the last, partial column panel, zero-padded to NR columns */
    for (int k0 = 0; k0 < K; k0 += GEMM_AT_KC) {
        int kn = K - k0 < GEMM_AT_KC ? K - k0 : GEMM_AT_KC, edge_at = -1;
        /* the next block: its lines spread over this block's pairs */
        int k1 = k0 + kn, kn1 = K - k1 < GEMM_AT_KC ? K - k1 : GEMM_AT_KC;
        size_t la = kn1 > 0 ? (size_t)kn1 * lda * sizeof(float) / 64 : 0;
        size_t lines = kn1 > 0 ? la + (size_t)kn1 * ldb * sizeof(float) / 64 : 0, done = 0;
        size_t per_pair = last > first ? (lines + (size_t)(last - first) - 1) / (size_t)(last - first) : 0;
        for (int pair = first; pair < last; pair++) {
            size_t upto = done + per_pair < lines ? done + per_pair : lines;
            prefetch_lines((const char *)(A + (size_t)k1 * lda), la, (const char *)(B + (size_t)k1 * ldb), done,
                           upto);
            done = upto;
            int i = pair / npanels * MR, j = pair % npanels * NR;
            int m = M - i < MR ? M - i : MR, n = N - j < NR ? N - j : NR;
            const float *Ai = A + (size_t)k0 * lda + i, *Bj = B + (size_t)k0 * ldb + j;
            int ldbj = ldb;
            if (n < NR) { /* reading NR columns in place would run past the end of B's rows */
                if (edge_at != j) {
                    for (int k = 0; k < kn; k++) {
                        memcpy(edge + (size_t)k * NR, Bj + (size_t)k * ldb, sizeof(float) * (size_t)n);
                        memset(edge + (size_t)k * NR + n, 0, sizeof(float) * (size_t)(NR - n));
                    }
                    edge_at = j;
                }
                Bj = edge, ldbj = NR;
            }
            /* two calls, so that add is a constant in each inlined copy */
            if (add || k0 > 0)
                row_tiles(m, C + (size_t)i * ldc + j, ldc, Ai, lda, 1, Bj, ldbj, kn, n, NULL, NULL, 0, 1, NULL, 0);
            else row_tiles(m, C + (size_t)i * ldc + j, ldc, Ai, lda, 1, Bj, ldbj, kn, n, NULL, NULL, 0, 0, NULL, 0);
        }
    }
}

#endif /* IJ_GEMM_NR */

void ij_gemm_at_acc_split(GemmAtPairs pairs, void *ctx, int mr, int nr, float *C, int ldc, const float *A, int lda,
                       const float *B, int ldb, int M, int N, int K)
{
    const int npairs = (M + mr - 1) / mr * ((N + nr - 1) / nr);
    /* K in two halves (from 4 blocks on, and while C and its partial fit in L2 together): the first into
     * C, the second into a partial of its own, added last. The threads take contiguous shares of the
     * 2 x npairs (half, pair) jobs: on two threads each reads only its half of the rows of A and B
     * (those come from memory; with the pairs split instead both threads read all of B), but each
     * passes over all of C once per block of rows, so a larger C keeps the pairs split (config 2, whose
     * 1152 x 384 and 1536 x 384 gradients are larger: backward 735-764 ms halved, 710-721 not) */
    static _Thread_local float *part;
    static _Thread_local size_t part_cap;
    const int halves = K >= 4 * GEMM_AT_KC && (size_t)M * N * sizeof(float) <= GEMM_AT_HALVES_MAX ? 2 : 1;
    const int k_half = halves == 2 ? (K / 2 + GEMM_AT_KC - 1) / GEMM_AT_KC * GEMM_AT_KC : K;
    if (halves == 2 && (size_t)M * N > part_cap) { /* grows once per shape: never in steady state */
        free(part);
        part_cap = (size_t)M * N;
        part = ij_alloc_aligned(sizeof(float) * part_cap);
    }
    float *P = part;
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        long jobs = (long)halves * npairs;
        int first = (int)(jobs * id / nt), last = (int)(jobs * (id + 1) / nt);
        for (int h = 0; h < halves; h++) {
            int f = first - h * npairs, l = last - h * npairs;
            f = f < 0 ? 0 : f;
            l = l > npairs ? npairs : l;
            if (f >= l) continue;
            size_t k0 = h ? (size_t)k_half : 0;
            if (h == 0) pairs(C, ldc, A, lda, B, ldb, M, N, k_half, f, l, 1, ctx);
            else pairs(P, N, A + k0 * lda, lda, B + k0 * ldb, ldb, M, N, K - k_half, f, l, 0, ctx);
        }
        if (halves == 2) {
#pragma omp barrier
            for (int r = M * id / nt; r < M * (id + 1) / nt; r++) {
                float *c = C + (size_t)r * ldc;
                const float *p = P + (size_t)r * N;
#pragma omp simd
                for (int j = 0; j < N; j++) c[j] += p[j];
            }
        }
    }
}

#if IJ_GEMM_NR
static void at_pairs_fp32(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K,
                          int first, int last, int add, void *ctx)
{
    (void)ctx;
    at_pairs(C, ldc, A, lda, B, ldb, M, N, K, first, last, add);
}

void ij_gemm_at_acc(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K)
{
    ij_gemm_at_acc_split(at_pairs_fp32, NULL, MR, NR, C, ldc, A, lda, B, ldb, M, N, K);
}

#else /* no vector kernel: the callers use BLAS */

size_t ij_gemm_packed_size(int N, int K) { (void)N, (void)K; return 0; }
void ij_gemm_pack_wt(float *wp, const float *w, int N, int K) { (void)wp, (void)w, (void)N, (void)K; }
void ij_gemm_pack_w(float *wp, const float *w, int K, int N) { (void)wp, (void)w, (void)K, (void)N; }
void ij_gemm_rows(float *C, int ldc, const float *A, int lda, const float *wp, int M, int N, int K,
               const float *bias, const float *R, int ldr)
{
    (void)C, (void)ldc, (void)A, (void)lda, (void)wp;
    (void)M, (void)N, (void)K, (void)bias, (void)R, (void)ldr;
}
void ij_gemm_rows_scaled(float *C, int ldc, const float *A, int lda, const float *wp, int M, int N, int K,
                      const float *S, int lds)
{
    (void)C, (void)ldc, (void)A, (void)lda, (void)wp, (void)M, (void)N, (void)K, (void)S, (void)lds;
}
void ij_gemm_at_acc(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K)
{
    (void)C, (void)ldc, (void)A, (void)lda, (void)B, (void)ldb, (void)M, (void)N, (void)K;
}

#endif
