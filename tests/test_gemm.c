/* test_gemm.c: the blocks' single-threaded products (kernels/gemm.c through ij_linear_forward_rows and
 * ij_linear_backward_input_rows) against a double-precision reference: row counts that leave partial
 * register tiles (1 .. MR + 3 and larger), column counts that leave a partial panel, K and N larger
 * than the cache blocks, with and without bias and residual; and the same calls with wp = NULL
 * (the BLAS path every machine without AVX2 + FMA takes) against the same reference. The weight
 * gradients (ij_gemm_at_acc through ij_linear_backward_params, threaded inside): accumulated into the
 * existing values, every row remainder, partial column panels, K over several blocks, and with
 * the kernel bit-identical for 1, 2 and 3 threads (K from 128 on is cut in two halves). The input
 * gradient scaled in the epilogue (ij_linear_backward_input_scaled_rows, GELU's backward), and the
 * products outside the blocks (ij_linear_forward, ij_linear_backward_input: rows split over the threads),
 * bit-identical for 1, 2 and 3 threads. */
#include "core/error.h"
#include "core/rng.h"
#include "kernels/gemm.h"
#include "kernels/kernels.h"
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

/* max |got - want| / (max |want| + 1) over an M x N result */
static double rel_err(const float *got, const double *want, size_t n)
{
    double e = 0, s = 1;
    for (size_t i = 0; i < n; i++) s = fmax(s, fabs(want[i]));
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(got[i] - want[i]));
    return e / s;
}

static void check_shape(IjRng *r, int M, int Cin, int Cout, int with_bias, int with_res, int packed)
{
    float *in = randn(r, (size_t)M * Cin), *w = randn(r, (size_t)Cout * Cin), *b = randn(r, (size_t)Cout);
    float *res = randn(r, (size_t)M * Cout), *dout = randn(r, (size_t)M * Cout);
    float *out = ij_malloc(sizeof(float) * (size_t)M * Cout), *din = ij_malloc(sizeof(float) * (size_t)M * Cin);
    double *want = ij_malloc(sizeof(double) * (size_t)M * (Cout > Cin ? Cout : Cin));
    size_t np = ij_gemm_packed_size(Cout, Cin), nq = ij_gemm_packed_size(Cin, Cout);
    float *wp = packed && np ? ij_alloc_aligned(sizeof(float) * np) : NULL;
    float *wq = packed && nq ? ij_alloc_aligned(sizeof(float) * nq) : NULL;
    if (wp) ij_gemm_pack_wt(wp, w, Cout, Cin);
    if (wq) ij_gemm_pack_w(wq, w, Cout, Cin);

    /* out = in @ w^T (+ b) (+ res) */
    memset(out, 0xff, sizeof(float) * (size_t)M * Cout); /* NaN: every element must be written */
    ij_linear_forward_rows(out, in, w, wp, with_bias ? b : NULL, with_res ? res : NULL, M, Cin, Cout, IJ_BF16_OFF);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < Cout; j++) {
            double s = (with_bias ? b[j] : 0.0) + (with_res ? res[(size_t)i * Cout + j] : 0.0);
            for (int k = 0; k < Cin; k++) s += (double)in[(size_t)i * Cin + k] * w[(size_t)j * Cin + k];
            want[(size_t)i * Cout + j] = s;
        }
    double e = rel_err(out, want, (size_t)M * Cout);
    CHECKF(e < 1e-5, "forward M %d Cin %d Cout %d bias %d res %d packed %d: relative error %.2e", M, Cin, Cout,
           with_bias, with_res, packed, e);

    /* din = dout @ w */
    memset(din, 0xff, sizeof(float) * (size_t)M * Cin);
    ij_linear_backward_input_rows(din, dout, w, wq, M, Cin, Cout, IJ_BF16_OFF);
    for (int i = 0; i < M; i++)
        for (int k = 0; k < Cin; k++) {
            double s = 0;
            for (int j = 0; j < Cout; j++) s += (double)dout[(size_t)i * Cout + j] * w[(size_t)j * Cin + k];
            want[(size_t)i * Cin + k] = s;
        }
    e = rel_err(din, want, (size_t)M * Cin);
    CHECKF(e < 1e-5, "input gradient M %d Cin %d Cout %d packed %d: relative error %.2e", M, Cin, Cout, packed, e);

    /* din = (dout @ w) * scale, the multiply in the epilogue (after the last K block) */
    float *scale = randn(r, (size_t)M * Cin);
    memset(din, 0xff, sizeof(float) * (size_t)M * Cin);
    ij_linear_backward_input_scaled_rows(din, dout, w, wq, scale, M, Cin, Cout, IJ_BF16_OFF);
    for (size_t i = 0; i < (size_t)M * Cin; i++) want[i] *= scale[i];
    e = rel_err(din, want, (size_t)M * Cin);
    CHECKF(e < 1e-5, "scaled input gradient M %d Cin %d Cout %d packed %d: relative error %.2e", M, Cin, Cout,
           packed, e);
    free(scale);

    free(in), free(w), free(b), free(res), free(dout), free(out), free(din), free(want), free(wp), free(wq);
}

/* ij_linear_forward and ij_linear_backward_input, the products outside the blocks (rows split over the
 * threads with a vector kernel, BLAS otherwise): against the double reference, and with the kernel
 * bit-identical for 1, 2 and 3 threads. */
static void check_threaded(IjRng *r, int M, int Cin, int Cout)
{
    float *in = randn(r, (size_t)M * Cin), *w = randn(r, (size_t)Cout * Cin), *b = randn(r, (size_t)Cout);
    float *dout = randn(r, (size_t)M * Cout);
    float *out = ij_malloc(sizeof(float) * (size_t)M * Cout), *out1 = ij_malloc(sizeof(float) * (size_t)M * Cout);
    float *din = ij_malloc(sizeof(float) * (size_t)M * Cin), *din1 = ij_malloc(sizeof(float) * (size_t)M * Cin);
    double *want = ij_malloc(sizeof(double) * (size_t)M * (Cout > Cin ? Cout : Cin));
    int threads = omp_get_max_threads();
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        memset(out, 0xff, sizeof(float) * (size_t)M * Cout);
        memset(din, 0xff, sizeof(float) * (size_t)M * Cin);
        ij_linear_forward(out, in, w, b, M, Cin, Cout, IJ_BF16_OFF);
        ij_linear_backward_input(din, dout, w, M, Cin, Cout, IJ_BF16_OFF);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < Cout; j++) {
                double acc = b[j];
                for (int k = 0; k < Cin; k++) acc += (double)in[(size_t)i * Cin + k] * w[(size_t)j * Cin + k];
                want[(size_t)i * Cout + j] = acc;
            }
        double e = rel_err(out, want, (size_t)M * Cout);
        CHECKF(e < 1e-5, "ij_linear_forward M %d Cin %d Cout %d, %d threads: relative error %.2e", M, Cin, Cout, nt, e);
        for (int i = 0; i < M; i++)
            for (int k = 0; k < Cin; k++) {
                double acc = 0;
                for (int j = 0; j < Cout; j++) acc += (double)dout[(size_t)i * Cout + j] * w[(size_t)j * Cin + k];
                want[(size_t)i * Cin + k] = acc;
            }
        e = rel_err(din, want, (size_t)M * Cin);
        CHECKF(e < 1e-5, "ij_linear_backward_input M %d Cin %d Cout %d, %d threads: relative error %.2e", M, Cin, Cout,
               nt, e);
        if (nt == 1) {
            memcpy(out1, out, sizeof(float) * (size_t)M * Cout);
            memcpy(din1, din, sizeof(float) * (size_t)M * Cin);
        } else if (IJ_GEMM_NR) {
            CHECKF(memcmp(out, out1, sizeof(float) * (size_t)M * Cout) == 0 &&
                       memcmp(din, din1, sizeof(float) * (size_t)M * Cin) == 0,
                   "ij_linear_forward / ij_linear_backward_input M %d: %d threads differ from 1", M, nt);
        }
    }
    omp_set_num_threads(threads);
    free(in), free(w), free(b), free(dout), free(out), free(out1), free(din), free(din1), free(want);
}

/* dw += dout^T @ in and db += column sums of dout, over T rows. */
static void check_weight_gradient(IjRng *r, int T, int Cin, int Cout)
{
    float *in = randn(r, (size_t)T * Cin), *dout = randn(r, (size_t)T * Cout);
    float *dw0 = randn(r, (size_t)Cout * Cin), *db0 = randn(r, (size_t)Cout);
    float *dw = ij_malloc(sizeof(float) * (size_t)Cout * Cin), *db = ij_malloc(sizeof(float) * (size_t)Cout);
    float *dw1 = ij_malloc(sizeof(float) * (size_t)Cout * Cin);
    double *want = ij_malloc(sizeof(double) * (size_t)Cout * Cin), *want_b = ij_malloc(sizeof(double) * (size_t)Cout);
    for (int o = 0; o < Cout; o++) {
        double sb = db0[o];
        for (int t = 0; t < T; t++) sb += dout[(size_t)t * Cout + o];
        want_b[o] = sb;
        for (int i = 0; i < Cin; i++) {
            double sw = dw0[(size_t)o * Cin + i];
            for (int t = 0; t < T; t++) sw += (double)dout[(size_t)t * Cout + o] * in[(size_t)t * Cin + i];
            want[(size_t)o * Cin + i] = sw;
        }
    }
    int threads = omp_get_max_threads();
    for (int nt = 1; nt <= 3; nt++) { /* 3: a thread's share spans both halves of K */
        omp_set_num_threads(nt);
        memcpy(dw, dw0, sizeof(float) * (size_t)Cout * Cin);
        memcpy(db, db0, sizeof(float) * (size_t)Cout);
        ij_linear_backward_params(dw, db, dout, in, T, Cin, Cout, IJ_BF16_OFF);
        double e = rel_err(dw, want, (size_t)Cout * Cin), eb = rel_err(db, want_b, (size_t)Cout);
        CHECKF(e < 1e-5 && eb < 1e-5, "weight gradient T %d Cin %d Cout %d, %d threads: relative error %.2e, bias %.2e",
               T, Cin, Cout, nt, e, eb);
        if (nt == 1) memcpy(dw1, dw, sizeof(float) * (size_t)Cout * Cin);
#if IJ_GEMM_NR
        else
            CHECKF(memcmp(dw, dw1, sizeof(float) * (size_t)Cout * Cin) == 0,
                   "weight gradient T %d Cin %d Cout %d: 1 and %d threads differ", T, Cin, Cout, nt);
#endif
    }
    omp_set_num_threads(threads);
    free(in), free(dout), free(dw0), free(db0), free(dw), free(db), free(dw1), free(want), free(want_b);
}

/* The packed panels hold exactly w^T (forward) and w (input gradient), zero past the last column. */
#if IJ_GEMM_NR
/* ij_gemm_pack_wt on w[N, K]: panel p row k = w[p * NR + j][k], zero past N */
static void check_pack_wt(int N, int K)
{
    float *w = ij_malloc(sizeof(float) * (size_t)N * K);
    for (int i = 0; i < N * K; i++) w[i] = (float)(i + 1);
    int panels = (N + IJ_GEMM_NR - 1) / IJ_GEMM_NR;
    size_t np = ij_gemm_packed_size(N, K);
    CHECK(np == (size_t)panels * IJ_GEMM_NR * K);
    float *wp = ij_alloc_aligned(sizeof(float) * np);
    ij_gemm_pack_wt(wp, w, N, K);
    int bad = 0;
    for (int p = 0; p < panels; p++)
        for (int k = 0; k < K; k++)
            for (int j = 0; j < IJ_GEMM_NR; j++) {
                int n = p * IJ_GEMM_NR + j;
                float want = n < N ? w[(size_t)n * K + k] : 0.0f;
                bad += wp[((size_t)p * K + k) * IJ_GEMM_NR + j] != want;
            }
    CHECKF(bad == 0, "ij_gemm_pack_wt N %d K %d: %d misplaced values", N, K, bad);
    free(wp), free(w);
}

/* ij_gemm_pack_w on w[K, N]: panel p row k = w[k][p * NR + j], zero past N */
static void check_pack_w(int K, int N)
{
    float *w = ij_malloc(sizeof(float) * (size_t)K * N);
    for (int i = 0; i < K * N; i++) w[i] = (float)(i + 1);
    float *wp = ij_alloc_aligned(sizeof(float) * ij_gemm_packed_size(N, K));
    ij_gemm_pack_w(wp, w, K, N);
    int bad = 0;
    for (int p = 0; p * IJ_GEMM_NR < N; p++)
        for (int k = 0; k < K; k++)
            for (int j = 0; j < IJ_GEMM_NR; j++) {
                int n = p * IJ_GEMM_NR + j;
                float want = n < N ? w[(size_t)k * N + n] : 0.0f;
                bad += wp[((size_t)p * K + k) * IJ_GEMM_NR + j] != want;
            }
    CHECKF(bad == 0, "ij_gemm_pack_w K %d N %d: %d misplaced values", K, N, bad);
    free(wp), free(w);
}
#endif

static void check_packing(void)
{
    int N = 3 * IJ_GEMM_NR / 2 + 1, K = 5; /* a partial last panel when there is a kernel */
    float *w = ij_malloc(sizeof(float) * (size_t)N * K);
    for (int i = 0; i < N * K; i++) w[i] = (float)(i + 1);
    size_t np = ij_gemm_packed_size(N, K);
#if !IJ_GEMM_NR
    CHECK(np == 0); /* no kernel: the callers get wp = NULL and use BLAS */
    free(w);
#else
    /* full panels by transposed register blocks, K past the last whole block, partial panels */
    check_pack_wt(N, K);
    check_pack_wt(2 * IJ_GEMM_NR, 3 * IJ_GEMM_NR + 5);
    check_pack_wt(3 * IJ_GEMM_NR / 2 + 1, 2 * IJ_GEMM_NR);
    check_pack_wt(IJ_GEMM_NR, 1);
    check_pack_w(7, 2 * IJ_GEMM_NR + 3); /* two full panels as whole vectors, then a partial one */
    check_pack_w(3, IJ_GEMM_NR);
    float *wp;
    int bad;
    /* the same matrix read as w[K', N'] = [N, K]: panels of its K columns */
    np = ij_gemm_packed_size(K, N);
    wp = ij_alloc_aligned(sizeof(float) * np);
    ij_gemm_pack_w(wp, w, N, K);
    bad = 0;
    for (int k = 0; k < N; k++)
        for (int j = 0; j < IJ_GEMM_NR; j++) bad += wp[(size_t)k * IJ_GEMM_NR + j] != (j < K ? w[(size_t)k * K + j] : 0.0f);
    CHECKF(bad == 0, "ij_gemm_pack_w: %d misplaced values", bad);
    free(wp), free(w);
#endif
}

int main(void)
{
    IjRng r = ij_rng(7, 0, 0);
    check_packing();
    for (int packed = 0; packed <= 1; packed++) {
        /* every row remainder of the register tile, a partial column panel */
        for (int M = 1; M <= IJ_GEMM_MR + 3 || M <= 17; M++) check_shape(&r, M, 24, 40, 1, 1, packed);
        check_shape(&r, 37, 16, 48, 1, 0, packed);
        check_shape(&r, 29, 48, 16, 0, 1, packed);
        check_shape(&r, 30, 12, 8, 0, 0, packed);
        /* K above the 256-wide cache block (two and three blocks), N above the 512-column block */
        check_shape(&r, 20, 300, 64, 1, 1, packed);
        check_shape(&r, 17, 700, 40, 1, 0, packed);
        check_shape(&r, 9, 64, 600, 1, 1, packed);
        check_shape(&r, 45, 96, 1100, 0, 1, packed);
    }
    /* outside the blocks: fewer rows than threads' tiles, uneven shares, a partial panel, K past a block */
    check_threaded(&r, 5, 16, 40);
    check_threaded(&r, 43, 16, 192);
    check_threaded(&r, 300, 96, 70);
    check_threaded(&r, 61, 300, 96);
    /* weight gradients: every row remainder of the tile (Cout), partial panels (Cin), K over blocks */
    for (int Cout = 1; Cout <= IJ_GEMM_MR + 3 || Cout <= 17; Cout++) check_weight_gradient(&r, 70, 40, Cout);
    check_weight_gradient(&r, 1, 64, 30);
    check_weight_gradient(&r, 131, 16, 48);
    check_weight_gradient(&r, 300, 96, 100);
    check_weight_gradient(&r, 257, 200, 29);
    return test_exit_code("test_gemm");
}
