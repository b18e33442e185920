/* gemm_bf16.c: register-tiled products with bf16 operands (see gemm_bf16.h and bf16.h).
 *
 * The blocking is gemm.c's: row products in blocks of K (GEMM_KC, even here) and of N, each row tile's
 * rows of A rounded into pairs once per block and passed over the block's panels; weight gradients in
 * blocks of 32 rows of K, split over the threads by ij_gemm_at_acc_split. A tile is m <= mr rows by one
 * panel of NR columns (two vectors); per pair of k each row takes one 32-bit broadcast of A:
 *   AVX512_BF16: two vdpbf16ps (14 rows: 28 accumulators, 2 of B, 1 of A in 32 zmm);
 *   emulated: the pair's halves widened to float32 (a shift, a mask) and two FMAs per vector, the odd k
 *     first, as vdpbf16ps sums them (12 rows with AVX-512, 4 with AVX2);
 *   scalar (no vector kernel in the build): the same sums one element at a time.
 */
#include "kernels/gemm_bf16.h"

#include "core/error.h"
#include "kernels/gemm_tile.h"
#include "kernels/simd.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define NR IJ_GEMM_BF16_NR
#define GEMM_KC 256 /* K block of the row products: an even number of rows */
#define GEMM_NC 512
#define AT_KC 64    /* rows of K per block of the weight gradients (even: the split's halves are cut at multiples of 32) */
#define MR_MAX 16

typedef uint16_t __attribute__((may_alias)) u16_alias;

size_t ij_gemm_bf16_packed_size(int N, int K) { return (size_t)((N + NR - 1) / NR) * NR * (size_t)((K + 1) / 2); }

static inline uint32_t pair_of(float lo, float hi)
{
    return (uint32_t)ij_bf16_from_float(lo) | (uint32_t)ij_bf16_from_float(hi) << 16;
}

#if IJ_GEMM_NR && VW == 16
/* The float32 bits u rounded to bf16 (to nearest even) in their upper 16 bits, the lower 16 bits
 * garbage; a NaN stays a NaN (ij_bf16_from_float's rule, lane by lane). */
static inline __m512i round_hi(__m512i u)
{
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                                                     _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))));
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    return _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x00400000)));
}

/* 32 consecutive floats as 16 pairs */
static inline __m512i pairs16(const float *src)
{
    __m512i a = _mm512_srli_epi32(round_hi(_mm512_loadu_si512((const void *)src)), 16);
    __m512i b = _mm512_srli_epi32(round_hi(_mm512_loadu_si512((const void *)(src + 16))), 16);
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(a)), _mm512_cvtepi32_epi16(b), 1);
}
#endif

void ij_bf16_pair_rows(uint32_t *dst, const float *r0, const float *r1, int n, int n_pad)
{
#if IJ_GEMM_NR && VW == 16
    int j = 0;
    const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
    if (r1)
        for (; j + 16 <= n; j += 16) {
            __m512i lo = _mm512_srli_epi32(round_hi(_mm512_loadu_si512((const void *)(r0 + j))), 16);
            __m512i up = _mm512_and_si512(round_hi(_mm512_loadu_si512((const void *)(r1 + j))), hi);
            _mm512_storeu_si512((void *)(dst + j), _mm512_or_si512(lo, up));
        }
    else
        for (; j + 16 <= n; j += 16)
            _mm512_storeu_si512((void *)(dst + j),
                                _mm512_srli_epi32(round_hi(_mm512_loadu_si512((const void *)(r0 + j))), 16));
    dst += j, r0 += j, r1 = r1 ? r1 + j : NULL, n -= j, n_pad -= j;
#endif
    if (r1) {
#pragma omp simd
        for (int i = 0; i < n; i++) dst[i] = pair_of(r0[i], r1[i]);
    } else {
#pragma omp simd
        for (int i = 0; i < n; i++) dst[i] = ij_bf16_from_float(r0[i]);
    }
    for (int i = n; i < n_pad; i++) dst[i] = 0;
}

/* n consecutive values as ceil(n/2) pairs (the last one's high half zero when n is odd). */
static void round_row(uint32_t *dst, const float *src, int n)
{
    u16_alias *d = (u16_alias *)dst;
#pragma omp simd
    for (int k = 0; k < n; k++) d[k] = ij_bf16_from_float(src[k]);
    if (n & 1) d[n] = 0;
}

void ij_gemm_bf16_pack_w(uint32_t *wp, const float *w, int K, int N)
{
    const int KP = (K + 1) / 2;
    for (int p = 0; p * NR < N; p++) {
        int n = N - p * NR < NR ? N - p * NR : NR;
        for (int kk = 0; kk < KP; kk++) {
            const float *r0 = w + (size_t)(2 * kk) * N + (size_t)p * NR;
            ij_bf16_pair_rows(wp + ((size_t)p * KP + kk) * NR, r0, 2 * kk + 1 < K ? r0 + N : NULL, n, NR);
        }
    }
}

/* The pairs k0/2 .. of column j of a panel from w's row (K floats): ceil((K - k0) / 2) pairs, K - k0
 * rounded values in pieces through a stack buffer. */
static void pack_column(uint32_t *dst, const float *row, int K, int k0, int j)
{
    uint32_t buf[512];
    for (; k0 < K; k0 += 1024) {
        int n = K - k0 < 1024 ? K - k0 : 1024;
        round_row(buf, row + k0, n);
        for (int kk = 0; kk < (n + 1) / 2; kk++) dst[(size_t)(k0 / 2 + kk) * NR + j] = buf[kk];
    }
}

void ij_gemm_bf16_pack_wt(uint32_t *wp, const float *w, int N, int K)
{
    const int KP = (K + 1) / 2;
    for (int p = 0; p * NR < N; p++) {
        uint32_t *dst = wp + (size_t)p * KP * NR;
        int k = 0;
#if IJ_GEMM_NR && VW == 16
        if (N - p * NR >= NR) /* a full panel: 16 x 16 blocks of pairs transposed in registers */
            for (; k + 32 <= K; k += 32)
                for (int j0 = 0; j0 < NR; j0 += 16) {
                    vf r[16];
#pragma GCC unroll 16
                    for (int i = 0; i < 16; i++)
                        r[i] = _mm512_castsi512_ps(pairs16(w + (size_t)(p * NR + j0 + i) * K + k));
                    vtranspose(r);
#pragma GCC unroll 16
                    for (int c = 0; c < 16; c++) vstore((float *)(dst + (size_t)(k / 2 + c) * NR + j0), r[c]);
                }
#endif
        for (int j = 0; j < NR; j++) { /* the rest: columns past N are zero */
            int n = p * NR + j;
            if (n < N) pack_column(dst, w + (size_t)n * K, K, k, j);
            else
                for (int kk = k / 2; kk < KP; kk++) dst[(size_t)kk * NR + j] = 0;
        }
    }
}

/* A tile's runner: C[m, n] (=, or += with add) A-pairs[m, KP] @ panel[KP, NR] (+ bias, + R, then * S),
 * A's pair (r, kk) at A[r * lda + kk], or A[kk * lda + r] for the transposed runner. */
typedef void (*TilesFn)(int m, float *C, int ldc, const uint32_t *A, int lda, const uint32_t *b, int ldb, int KP,
                        int n, const float *bias, const float *R, int ldr, int add, const float *S, int lds);
typedef struct {
    TilesFn rows, rows_t;
    int mr;
} Kern;

static inline float f_of(uint32_t u)
{
    float x;
    memcpy(&x, &u, 4);
    return x;
}

#if IJ_GEMM_NR

_Static_assert(NR == 2 * VW, "a panel is two vectors");

/* The row tiles of a runner: one full tile of MR rows, or tiles of 8, 4, 2 and 1 rows. */
#define ROW_TILES(name, tile, MR, at)                                                                           \
    static void name(int m, float *C, int ldc, const uint32_t *A, int lda, const uint32_t *b, int ldb, int KP,  \
                     int n, const float *bias, const float *R, int ldr, int add, const float *S, int lds)       \
    {                                                                                                           \
        if (m == (MR)) {                                                                                        \
            tile((MR), C, ldc, A, lda, at, b, ldb, KP, n, bias, R, ldr, add, S, lds);                           \
            return;                                                                                             \
        }                                                                                                       \
        int r0 = 0;                                                                                             \
        REST(8, tile, MR, at) REST(4, tile, MR, at) REST(2, tile, MR, at) REST(1, tile, MR, at)                 \
    }
#define REST(h, tile, MR, at)                                                                                   \
    if (m & (h)) {                                                                                              \
        tile((h) < (MR) ? (h) : (MR), C + (size_t)r0 * ldc, ldc, at ? A + r0 : A + (size_t)r0 * lda, lda, at,   \
             b, ldb, KP, n, bias, R ? R + (size_t)r0 * ldr : NULL, ldr, add, S ? S + (size_t)r0 * lds : NULL,   \
             lds);                                                                                              \
        r0 += (h);                                                                                              \
    }

/* ---- emulated: float32 FMAs on the widened halves ---- */
#if VW == 16
#define MR_EMU 12
typedef __m512i vi;
#define vi_load(p) _mm512_loadu_si512((const void *)(p))
#define vi_bcast(p) _mm512_set1_epi32((int)*(p))
#define vi_lo(x) _mm512_castsi512_ps(_mm512_slli_epi32(x, 16))
#define vi_hi(x) _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32((int)0xffff0000u)))
#else
#define MR_EMU 4
typedef __m256i vi;
#define vi_load(p) _mm256_loadu_si256((const __m256i *)(p))
#define vi_bcast(p) _mm256_set1_epi32((int)*(p))
#define vi_lo(x) _mm256_castsi256_ps(_mm256_slli_epi32(x, 16))
#define vi_hi(x) _mm256_castsi256_ps(_mm256_and_si256(x, _mm256_set1_epi32((int)0xffff0000u)))
#endif

static inline __attribute__((always_inline)) void tile_emu(const int m, float *C, int ldc, const uint32_t *A, int lda,
                                                            const int at, const uint32_t *b, int ldb, int KP, int n,
                                                            const float *bias, const float *R, int ldr, int add,
                                                            const float *S, int lds)
{
    vf c0[MR_EMU], c1[MR_EMU];
#pragma GCC unroll 16
    for (int r = 0; r < m; r++) c0[r] = c1[r] = vzero();
    for (int kk = 0; kk < KP; kk++) {
        vi p0 = vi_load(b + (size_t)kk * ldb), p1 = vi_load(b + (size_t)kk * ldb + VW);
        vf b0l = vi_lo(p0), b0h = vi_hi(p0), b1l = vi_lo(p1), b1h = vi_hi(p1);
#pragma GCC unroll 16
        for (int r = 0; r < m; r++) {
            vi a = vi_bcast(at ? A + (size_t)kk * lda + r : A + (size_t)r * lda + kk);
            vf al = vi_lo(a), ah = vi_hi(a);
            c0[r] = vfma(al, b0l, vfma(ah, b0h, c0[r]));
            c1[r] = vfma(al, b1l, vfma(ah, b1h, c1[r]));
        }
    }
    tile_store(m, c0, c1, C, ldc, n, bias, R, ldr, add, S, lds);
}
ROW_TILES(rows_emu, tile_emu, MR_EMU, 0)
ROW_TILES(rows_t_emu, tile_emu, MR_EMU, 1)
static const Kern kern_emu = {rows_emu, rows_t_emu, MR_EMU};

/* ---- AVX512_BF16: vdpbf16ps, compiled for it whatever the build's -march ---- */
#if VW == 16
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512bf16")
#define MR_HW 14
static inline __attribute__((always_inline)) void tile_hw(const int m, float *C, int ldc, const uint32_t *A, int lda,
                                                           const int at, const uint32_t *b, int ldb, int KP, int n,
                                                           const float *bias, const float *R, int ldr, int add,
                                                           const float *S, int lds)
{
    __m512 c0[MR_HW], c1[MR_HW];
#pragma GCC unroll 16
    for (int r = 0; r < m; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int kk = 0; kk < KP; kk++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void *)(b + (size_t)kk * ldb));
        __m512bh b1 = (__m512bh)_mm512_loadu_si512((const void *)(b + (size_t)kk * ldb + 16));
#pragma GCC unroll 16
        for (int r = 0; r < m; r++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)(at ? A[(size_t)kk * lda + r] : A[(size_t)r * lda + kk]));
            c0[r] = _mm512_dpbf16_ps(c0[r], a, b0);
            c1[r] = _mm512_dpbf16_ps(c1[r], a, b1);
        }
    }
    tile_store(m, c0, c1, C, ldc, n, bias, R, ldr, add, S, lds);
}
ROW_TILES(rows_hw, tile_hw, MR_HW, 0)
ROW_TILES(rows_t_hw, tile_hw, MR_HW, 1)
#pragma GCC pop_options
static const Kern kern_hw = {rows_hw, rows_t_hw, MR_HW};
#endif

#undef REST
#undef ROW_TILES

static const Kern *kern_of(IjBf16Path path)
{
#if VW == 16
    if (path == IJ_BF16_AVX512) return &kern_hw;
#endif
    (void)path;
    return &kern_emu;
}

#else /* no vector kernel: scalar tiles */

#define MR_SCALAR 4
static void tiles_scalar(int m, float *C, int ldc, const uint32_t *A, int lda, int at, const uint32_t *b, int ldb,
                         int KP, int n, const float *bias, const float *R, int ldr, int add, const float *S, int lds)
{
    for (int r = 0; r < m; r++)
        for (int j = 0; j < n; j++) {
            float c = 0.0f;
            for (int kk = 0; kk < KP; kk++) {
                uint32_t pa = at ? A[(size_t)kk * lda + r] : A[(size_t)r * lda + kk], pb = b[(size_t)kk * ldb + j];
                c = fmaf(f_of(pa & 0xffff0000u), f_of(pb & 0xffff0000u), c);
                c = fmaf(f_of(pa << 16), f_of(pb << 16), c);
            }
            float *o = C + (size_t)r * ldc + j;
            float v = add ? *o + c : c + (bias ? bias[j] : 0.0f) + (R ? R[(size_t)r * ldr + j] : 0.0f);
            *o = S ? v * S[(size_t)r * lds + j] : v;
        }
}
static void rows_scalar(int m, float *C, int ldc, const uint32_t *A, int lda, const uint32_t *b, int ldb, int KP,
                        int n, const float *bias, const float *R, int ldr, int add, const float *S, int lds)
{
    tiles_scalar(m, C, ldc, A, lda, 0, b, ldb, KP, n, bias, R, ldr, add, S, lds);
}
static void rows_t_scalar(int m, float *C, int ldc, const uint32_t *A, int lda, const uint32_t *b, int ldb, int KP,
                          int n, const float *bias, const float *R, int ldr, int add, const float *S, int lds)
{
    tiles_scalar(m, C, ldc, A, lda, 1, b, ldb, KP, n, bias, R, ldr, add, S, lds);
}
static const Kern kern_scalar = {rows_scalar, rows_t_scalar, MR_SCALAR};
static const Kern *kern_of(IjBf16Path path)
{
    (void)path;
    return &kern_scalar;
}

#endif

void ij_gemm_bf16_rows(IjBf16Path path, float *C, int ldc, const float *A, int lda, const uint32_t *wp, int M, int N,
                    int K, const float *bias, const float *R, int ldr, const float *S, int lds)
{
    const Kern *kr = kern_of(path);
    const int KP = (K + 1) / 2, mr = kr->mr;
    const size_t panel_stride = (size_t)KP * NR;
    int nk = (K + GEMM_KC - 1) / GEMM_KC, kc = (K + nk - 1) / nk;
    kc += kc & 1;
    uint32_t abuf[MR_MAX * (GEMM_KC / 2)] __attribute__((aligned(64)));
    for (int k0 = 0; k0 < K; k0 += kc) {
        int kn = K - k0 < kc ? K - k0 : kc, kp = (kn + 1) / 2;
        const float *Sk = S && k0 + kn == K ? S : NULL; /* the scale in the last K block's epilogue */
        for (int n0 = 0; n0 < N; n0 += GEMM_NC) {
            int nn = N - n0 < GEMM_NC ? N - n0 : GEMM_NC;
            for (int i = 0; i < M; i += mr) {
                int m = M - i < mr ? M - i : mr, next = M - i - m < mr ? M - i - m : mr;
                int npanels = (nn + NR - 1) / NR, per_panel = next > 0 ? (next + npanels - 1) / npanels : 0;
                for (int r = 0; r < m; r++) round_row(abuf + (size_t)r * kp, A + (size_t)(i + r) * lda + k0, kn);
                for (int j = 0, p = 0; j < nn; j += NR, p++) {
                    int n = nn - j < NR ? nn - j : NR, col = n0 + j;
                    /* the next tile's rows of A (this block of K) and of C go into L2 meanwhile, spread
                     * over this tile's panels (as gemm.c's gemm_block) */
                    for (int r = p * per_panel; r < (p + 1) * per_panel && r < next; r++) {
                        const char *a = (const char *)(A + (size_t)(i + m + r) * lda + k0);
                        const char *c = (const char *)(C + (size_t)(i + m + r) * ldc + n0);
                        for (size_t l = 0; l < sizeof(float) * (size_t)kn; l += 64) __builtin_prefetch(a + l, 0, 2);
                        for (size_t l = 0; l < sizeof(float) * (size_t)nn; l += 64) __builtin_prefetch(c + l, 1, 2);
                    }
                    const uint32_t *bp = wp + (size_t)(col / NR) * panel_stride + (size_t)(k0 / 2) * NR;
                    kr->rows(m, C + (size_t)i * ldc + col, ldc, abuf, kp, bp, NR, kp, n, bias ? bias + col : NULL,
                             R ? R + (size_t)i * ldr + col : NULL, ldr, k0 > 0, Sk ? Sk + (size_t)i * lds + col : NULL,
                             lds);
                }
            }
        }
    }
}

/* What at_pairs_bf16 needs besides the operands: the tile runner, and per thread a buffer for one
 * block of rounded pairs (allocated by the calling thread: buffers made inside the parallel region
 * would belong to the pool's threads). */
typedef struct {
    const Kern *kr;
    uint32_t *buf;
    size_t per_thread;
} AtCtx;

/* ij_gemm_at_acc_split's pairs [first, last): per block of AT_KC rows of K, the columns of A that the
 * thread's row tiles read and all of B rounded into pairs of rows, then the tiles over them. */
static void at_pairs_bf16(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K,
                          int first, int last, int add, void *ctx)
{
    const AtCtx *x = ctx;
    const Kern *kr = x->kr;
    const int mr = kr->mr, npanels = (N + NR - 1) / NR, Np = npanels * NR;
    const int t0 = first / npanels, t1 = (last - 1) / npanels;
    const int c0 = t0 * mr, c1 = (t1 + 1) * mr < M ? (t1 + 1) * mr : M, mc = (t1 - t0 + 1) * mr;
    uint32_t *ap = x->buf + (size_t)omp_get_thread_num() * x->per_thread, *bp = ap + (size_t)(AT_KC / 2) * mc;
    IJ_ASSERT((size_t)(AT_KC / 2) * ((size_t)mc + (size_t)Np) <= x->per_thread);
    for (int k0 = 0; k0 < K; k0 += AT_KC) {
        int kn = K - k0 < AT_KC ? K - k0 : AT_KC, kp = (kn + 1) / 2;
        for (int kk = 0; kk < kp; kk++) {
            const float *a0 = A + (size_t)(k0 + 2 * kk) * lda + c0, *b0 = B + (size_t)(k0 + 2 * kk) * ldb;
            int odd = 2 * kk + 1 < kn;
            ij_bf16_pair_rows(ap + (size_t)kk * mc, a0, odd ? a0 + lda : NULL, c1 - c0, mc);
            ij_bf16_pair_rows(bp + (size_t)kk * Np, b0, odd ? b0 + ldb : NULL, N, Np);
        }
        /* the next block's rows of A (the thread's columns) and B come from memory: their lines go into
         * L2 meanwhile, spread over this block's pairs (as gemm.c's at_pairs) */
        int k1 = k0 + kn, kn1 = K - k1 < AT_KC ? K - k1 : AT_KC;
        size_t la = (size_t)(c1 - c0) * sizeof(float) / 64 + 1, lb = (size_t)N * sizeof(float) / 64 + 1;
        size_t lines = kn1 > 0 ? (size_t)kn1 * (la + lb) : 0, done = 0, npair = (size_t)(last - first);
        size_t per_pair = (lines + npair - 1) / npair;
        for (int pair = first; pair < last; pair++) {
            for (size_t l = done; l < done + per_pair && l < lines; l++) {
                size_t row = l / (la + lb), at = l % (la + lb);
                const char *p = at < la ? (const char *)(A + (size_t)(k1 + row) * lda + c0) + at * 64
                                        : (const char *)(B + (size_t)(k1 + row) * ldb) + (at - la) * 64;
                __builtin_prefetch(p, 0, 2);
            }
            done += per_pair;
            int i = pair / npanels * mr, j = pair % npanels * NR;
            int m = M - i < mr ? M - i : mr, n = N - j < NR ? N - j : NR;
            kr->rows_t(m, C + (size_t)i * ldc + j, ldc, ap + (i - c0), mc, bp + j, Np, kp, n, NULL, NULL, 0,
                       add || k0 > 0, NULL, 0);
        }
    }
}

void ij_gemm_bf16_at_acc(IjBf16Path path, float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M,
                      int N, int K)
{
    static _Thread_local uint32_t *buf;
    static _Thread_local size_t cap;
    const Kern *kr = kern_of(path);
    const int mr = kr->mr, threads = omp_get_max_threads();
    /* a thread's row tiles span at most all of M's, rounded up to whole tiles */
    size_t per_thread = (size_t)(AT_KC / 2) * ((size_t)(M + mr - 1) / mr * mr + (size_t)(N + NR - 1) / NR * NR);
    per_thread = (per_thread + 15) & ~(size_t)15;
    if (per_thread * (size_t)threads > cap) { /* grows once per larger shape */
        free(buf);
        cap = per_thread * (size_t)threads;
        buf = ij_alloc_aligned(sizeof(uint32_t) * cap);
    }
    AtCtx x = {kr, buf, per_thread};
    ij_gemm_at_acc_split(at_pairs_bf16, &x, mr, NR, C, ldc, A, lda, B, ldb, M, N, K);
}
