/* test_gemm_bf16.c: the bf16 products (kernels/gemm_bf16.c) on every path this machine runs.
 *
 * - rounding: ij_bf16_from_float rounds to nearest even (ties both ways, the carry into the exponent,
 *   infinities, NaN) and agrees with vcvtneps2bf16 where the CPU has it;
 * - row products (forward w^T and input-gradient w layouts, bias, residual, the scaled epilogue) and
 *   weight gradients (accumulated, K over several blocks and odd) against a double-precision sum of
 *   the bf16-rounded operands: the only error left is the float32 accumulation, bounded by
 *   (K + 2) 2^-24 sum |a b|; and against the float32 product within the bf16 bound 2^-8 sum |a b|
 *   (so the operands were rounded, not left as they were, nor truncated);
 * - the paths agree bit for bit (the emulation sums the pairs in vdpbf16ps's order), and a result
 *   does not depend on the thread count. */
#include "core/error.h"
#include "core/rng.h"
#include "kernels/bf16.h"
#include "kernels/gemm_bf16.h"
#include "testlib.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static float *randn(IjRng *r, size_t n)
{
    float *x = ij_malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) x[i] = (float)ij_rng_normal(r);
    return x;
}

static float bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static void check_rounding(void)
{
    CHECK(ij_bf16_from_float(1.0f) == 0x3f80);
    CHECK(ij_bf16_from_float(bits(0x3f808000u)) == 0x3f80); /* tie, even below */
    CHECK(ij_bf16_from_float(bits(0x3f818000u)) == 0x3f82); /* tie, even above */
    CHECK(ij_bf16_from_float(bits(0x3f808001u)) == 0x3f81); /* above the tie */
    CHECK(ij_bf16_from_float(bits(0x3fffffffu)) == 0x4000); /* the carry reaches the exponent */
    CHECK(ij_bf16_from_float(-2.5f) == 0xc020);
    CHECK(ij_bf16_from_float(INFINITY) == 0x7f80);
    CHECK(ij_bf16_from_float(bits(0x7f7fffffu)) == 0x7f80); /* FLT_MAX rounds to infinity */
    uint16_t nan = ij_bf16_from_float(bits(0x7f800001u));   /* a NaN that would round to infinity */
    CHECK((nan & 0x7f80) == 0x7f80 && (nan & 0x7f) != 0);
    CHECK(ij_bf16_round(3.14159265f) == 3.140625f);
}

/* want[i,j] = sum_k bf16(a(i,k)) bf16(b(k,j)) in double, and mag = sum |.|; a(i,k) = A[i*sai + k*sak] */
static void reference(double *want, double *mag, const float *A, size_t sai, size_t sak, const float *B, size_t sbk,
                      size_t sbj, int M, int N, int K, int rounded)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0, m = 0;
            for (int k = 0; k < K; k++) {
                float a = A[i * sai + k * sak], b = B[k * sbk + j * sbj];
                if (rounded) a = ij_bf16_round(a), b = ij_bf16_round(b);
                s += (double)a * b;
                m += fabs((double)a * b);
            }
            want[(size_t)i * N + j] = s;
            mag[(size_t)i * N + j] = m;
        }
}

/* got - base against want within tol * mag (+ an absolute floor); returns the worst ratio */
static double worst(const float *got, const float *base, const double *want, const double *mag, size_t n, double tol)
{
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (base ? base[i] : 0.0) - want[i]) / (tol * mag[i] + 1e-30);
        w = e > w ? e : w;
    }
    return w;
}

static IjBf16Path paths[2];
static int npaths;

static void check_rows(IjRng *r, int M, int N, int K, int transposed)
{
    /* transposed: B = w^T for w[N,K] (forward); else B = w for w[K,N] (input gradient) */
    float *A = randn(r, (size_t)M * K), *w = randn(r, (size_t)N * K), *bias = randn(r, (size_t)N);
    float *R = randn(r, (size_t)M * N), *S = randn(r, (size_t)M * N);
    uint32_t *wp = ij_alloc_aligned(sizeof(uint32_t) * ij_gemm_bf16_packed_size(N, K));
    if (transposed) ij_gemm_bf16_pack_wt(wp, w, N, K);
    else ij_gemm_bf16_pack_w(wp, w, K, N);
    double *want = ij_malloc(sizeof(double) * (size_t)M * N), *mag = ij_malloc(sizeof(double) * (size_t)M * N);
    double *want32 = ij_malloc(sizeof(double) * (size_t)M * N), *mag32 = ij_malloc(sizeof(double) * (size_t)M * N);
    size_t sbk = transposed ? 1 : (size_t)N, sbj = transposed ? (size_t)K : 1;
    reference(want, mag, A, (size_t)K, 1, w, sbk, sbj, M, N, K, 1);
    reference(want32, mag32, A, (size_t)K, 1, w, sbk, sbj, M, N, K, 0);
    float *C[2], *plain = ij_malloc(sizeof(float) * (size_t)M * N), *scaled = ij_malloc(sizeof(float) * (size_t)M * N);
    for (int p = 0; p < npaths; p++) {
        C[p] = ij_malloc(sizeof(float) * (size_t)M * N);
        memset(C[p], 0xff, sizeof(float) * (size_t)M * N); /* NaN: every element must be written */
        ij_gemm_bf16_rows(paths[p], C[p], N, A, K, wp, M, N, K, bias, R, N, NULL, 0);
        for (size_t i = 0; i < (size_t)M * N; i++) C[p][i] -= bias[i % N] + R[i];
        double e = worst(C[p], NULL, want, mag, (size_t)M * N, (K + 4) * 0x1p-24);
        CHECKF(e <= 1, "%s %s M=%d N=%d K=%d: %.3g of the float32 accumulation bound", ij_bf16_path_name(paths[p]),
               transposed ? "w^T" : "w", M, N, K, e);
        double e8 = worst(C[p], NULL, want32, mag32, (size_t)M * N, 0x1p-8);
        CHECKF(e8 <= 1, "%s M=%d N=%d K=%d: %.3g of the bf16 bound against float32", ij_bf16_path_name(paths[p]), M,
               N, K, e8);
        /* the scaled epilogue: (A @ B) * S, no bias */
        ij_gemm_bf16_rows(paths[p], plain, N, A, K, wp, M, N, K, NULL, NULL, 0, NULL, 0);
        ij_gemm_bf16_rows(paths[p], scaled, N, A, K, wp, M, N, K, NULL, NULL, 0, S, N);
        int same = 1;
        for (size_t i = 0; i < (size_t)M * N; i++) same &= scaled[i] == plain[i] * S[i];
        CHECKF(same, "%s M=%d N=%d K=%d: scaled epilogue", ij_bf16_path_name(paths[p]), M, N, K);
    }
    if (npaths == 2) CHECKF(!memcmp(C[0], C[1], sizeof(float) * (size_t)M * N), "paths differ M=%d N=%d K=%d", M, N, K);
    for (int p = 0; p < npaths; p++) free(C[p]);
    free(A), free(w), free(bias), free(R), free(S), free(wp), free(want), free(mag), free(want32), free(mag32);
    free(plain), free(scaled);
}

/* C[M,N] += A[K,M]^T B[K,N], on 1, 2 and 3 threads */
static void check_at(IjRng *r, int M, int N, int K)
{
    float *A = randn(r, (size_t)K * M), *B = randn(r, (size_t)K * N), *C0 = randn(r, (size_t)M * N);
    double *want = ij_malloc(sizeof(double) * (size_t)M * N), *mag = ij_malloc(sizeof(double) * (size_t)M * N);
    reference(want, mag, A, 1, (size_t)M, B, (size_t)N, 1, M, N, K, 1);
    for (size_t i = 0; i < (size_t)M * N; i++) mag[i] += fabs(C0[i]);
    float *C[2][3];
    for (int p = 0; p < npaths; p++)
        for (int t = 0; t < 3; t++) {
            C[p][t] = ij_malloc(sizeof(float) * (size_t)M * N);
            memcpy(C[p][t], C0, sizeof(float) * (size_t)M * N);
            omp_set_num_threads(t + 1);
            ij_gemm_bf16_at_acc(paths[p], C[p][t], N, A, M, B, N, M, N, K);
        }
    omp_set_num_threads(2);
    for (int p = 0; p < npaths; p++) {
        double e = worst(C[p][0], C0, want, mag, (size_t)M * N, (K + 4) * 0x1p-24);
        CHECKF(e <= 1, "%s at M=%d N=%d K=%d: %.3g of the bound", ij_bf16_path_name(paths[p]), M, N, K, e);
        for (int t = 1; t < 3; t++)
            CHECKF(!memcmp(C[p][0], C[p][t], sizeof(float) * (size_t)M * N), "%s at M=%d N=%d K=%d: %d threads differ",
                   ij_bf16_path_name(paths[p]), M, N, K, t + 1);
    }
    if (npaths == 2) CHECKF(!memcmp(C[0][0], C[1][0], sizeof(float) * (size_t)M * N), "at paths differ M=%d N=%d K=%d", M, N, K);
    for (int p = 0; p < npaths; p++)
        for (int t = 0; t < 3; t++) free(C[p][t]);
    free(A), free(B), free(C0), free(want), free(mag);
}

int main(void)
{
    check_rounding();
    paths[npaths++] = IJ_BF16_EMULATED;
    if (ij_bf16_path_supported(IJ_BF16_AVX512)) paths[npaths++] = IJ_BF16_AVX512;
    printf("paths: %s%s (cpu: %s)\n", ij_bf16_path_name(paths[0]), npaths > 1 ? ", avx512bf16" : "", ij_cpu_flags());
    IjRng r = ij_rng(7, 0, 0);
    const int rows[] = {1, 3, 5, 12, 14, 15, 29, 64};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        check_rows(&r, rows[i], 40, 17, 1);
        check_rows(&r, rows[i], 64, 48, 0);
    }
    check_rows(&r, 30, 600, 530, 1); /* N past one block of columns, K over three blocks */
    check_rows(&r, 17, 96, 301, 0);
    check_rows(&r, 14, 64, 64, 1);    /* whole panels and whole blocks of 32 k: the packing's transposes only */
    check_rows(&r, 9, 96, 100, 1);    /* transposes, then the pairs past the last block of 32 */
    check_at(&r, 20, 40, 7);
    check_at(&r, 48, 96, 200);   /* K in two halves */
    check_at(&r, 37, 33, 131);   /* odd K, partial panels and tiles */
    check_at(&r, 600, 500, 70);  /* C past the halves' limit: the pairs split */
    return test_exit_code("test_gemm_bf16");
}
