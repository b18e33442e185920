/* bench_kernels.c: `ijepa bench --kernels`: the blocks' products one at a time, on one thread, through
 * our register-tiled kernel (kernels/gemm.h, weights packed beforehand) and through cblas_sgemm, on
 * the shapes of the given model and a chunk of rows, and the weight gradients (ij_gemm_at_acc) over eight
 * chunks' rows; plus one thread's sgemm peak. What the kernel is worth on this machine, apart from
 * the rest of a training step. Also the sgemm peak that both benchmarks compare with. */
#include "cli/bench_kernels.h"

#include "core/error.h"
#include "core/rng.h"
#include "core/timer.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "model/config.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

/* Best of `reps` timings of fn, in seconds. */
#define BEST_OF(reps, best, stmt)                      \
    do {                                               \
        best = 1e30;                                   \
        for (int r_ = 0; r_ < (reps); r_++) {          \
            double t0_ = ij_now();                     \
            stmt;                                      \
            double dt_ = ij_now() - t0_;               \
            if (dt_ < best) best = dt_;                \
        }                                              \
    } while (0)

static float *random_floats(size_t n, uint64_t seed)
{
    float *x = ij_alloc_aligned(sizeof(float) * (n ? n : 1));
    IjRng r = ij_rng(seed, 7, 0);
    for (size_t i = 0; i < n; i++) x[i] = (float)ij_rng_uniform(&r) - 0.5f;
    return x;
}

/* Operands of the cold runs: well past L2 (2 MiB per core here), inside L3. */
#define COLD_BYTES ((size_t)48 << 20)

/* One product out[M,N] = in[M,K] @ B with B = w^T (forward, w[N,K]) or B = w (input gradient, w[K,N]). */
static void bench_product(const char *name, int M, int K, int N, int transposed)
{
    float *in = random_floats((size_t)M * K, 1), *w = random_floats((size_t)K * N, 2);
    float *out = ij_alloc_aligned(sizeof(float) * (size_t)M * N);
    float *wp = ij_alloc_aligned(sizeof(float) * (ij_gemm_packed_size(N, K) + 1));
    double flop = 2.0 * M * N * (double)K, t_pack, t_ours, t_blas;
    int reps = (int)(2e9 / flop) + 3;
    if (transposed) {
        BEST_OF(reps, t_pack, ij_gemm_pack_wt(wp, w, N, K));
        BEST_OF(reps, t_ours, ij_gemm_rows(out, N, in, K, wp, M, N, K, NULL, NULL, 0));
        BEST_OF(reps, t_blas, cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, in, K, w, K, 0.0f,
                                          out, N));
    } else {
        BEST_OF(reps, t_pack, ij_gemm_pack_w(wp, w, K, N));
        BEST_OF(reps, t_ours, ij_gemm_rows(out, N, in, K, wp, M, N, K, NULL, NULL, 0));
        BEST_OF(reps, t_blas, cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, in, K, w, N,
                                          0.0f, out, N));
    }
    printf("  %-23s %d x %d x %d: ours %.1f, OpenBLAS %.1f GFLOP/s; packing the weights %.1f us\n", name, M, K, N,
           flop / t_ours * 1e-9, flop / t_blas * 1e-9, t_pack * 1e6);
    /* Inside a training step the rows come from L3, not L1/L2: the same product cycled over copies of
     * in and out that together span COLD_BYTES, each call finding its operands out of cache. */
    size_t per_copy = sizeof(float) * (size_t)M * (size_t)(K + N), copies = COLD_BYTES / per_copy + 1;
    float *cin = ij_alloc_aligned(sizeof(float) * (size_t)M * K * copies);
    float *cout = ij_alloc_aligned(sizeof(float) * (size_t)M * N * copies);
    double t0 = ij_now();
    for (size_t i = 0; i < 2 * copies; i++) {
        size_t c = i % copies;
        ij_gemm_rows(cout + c * (size_t)M * N, N, cin + c * (size_t)M * K, K, wp, M, N, K, NULL, NULL, 0);
    }
    double t_cold = (ij_now() - t0) / (double)(2 * copies);
    printf("    operands from memory (%zu MiB): ours %.1f GFLOP/s\n", (copies * per_copy) >> 20, flop / t_cold * 1e-9);
    free(in), free(w), free(out), free(wp), free(cin), free(cout);
}

/* One weight gradient dw[Cout,Cin] += dout[T,Cout]^T @ in[T,Cin] (both read in place, no packing). */
static void bench_weight_gradient(const char *name, int T, int Cin, int Cout)
{
    float *dout = random_floats((size_t)T * Cout, 3), *in = random_floats((size_t)T * Cin, 4);
    float *dw = ij_alloc_aligned(sizeof(float) * (size_t)Cout * Cin);
    double flop = 2.0 * T * Cin * (double)Cout, t_ours, t_blas;
    int reps = (int)(2e9 / flop) + 3;
    BEST_OF(reps, t_ours, ij_gemm_at_acc(dw, Cin, dout, Cout, in, Cin, Cout, Cin, T));
    BEST_OF(reps, t_blas, cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Cout, Cin, T, 1.0f, dout, Cout, in,
                                      Cin, 1.0f, dw, Cin));
    printf("  %-23s %d x %d x %d: ours %.1f, OpenBLAS %.1f GFLOP/s\n", name, Cout, T, Cin, flop / t_ours * 1e-9,
           flop / t_blas * 1e-9);
    free(dout), free(in), free(dw);
}

/* n x n floats mapped straight from the kernel, on 2 MiB pages where it allows them (as the step's own
 * large buffers, see ij_alloc_aligned): unmapped on release, so that readings between the timed steps
 * leave nothing resident (freed through malloc, glibc kept them in its heap once its mmap threshold
 * had risen past their size: `bench --embed` grew by ~40 MiB per reading). */
typedef struct {
    void *map;
    size_t len;
    float *m;
} Square;

static Square square(int n)
{
    const size_t huge = (size_t)2 << 20;
    Square q = {NULL, sizeof(float) * (size_t)n * n + huge, NULL};
    q.map = mmap(NULL, q.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q.map == MAP_FAILED) {
        fprintf(stderr, "ijepa: out of memory allocating %zu bytes\n", q.len);
        exit(1);
    }
    q.m = (float *)(((uintptr_t)q.map + huge - 1) & ~(uintptr_t)(huge - 1));
#ifdef MADV_HUGEPAGE
    madvise(q.m, sizeof(float) * (size_t)n * n, MADV_HUGEPAGE);
#endif
    return q;
}

/* GFLOP/s of a large square sgemm (the machine's practical peak). */
double bench_sgemm_peak(int n)
{
    Square A = square(n), B = square(n), C = square(n);
    float *a = A.m, *b = B.m, *c = C.m;
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = 1e-3f * (float)(i % 97);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = ij_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double g = 2.0 * n * n * (double)n / (ij_now() - t0) * 1e-9;
        if (g > best) best = g;
    }
    munmap(A.map, A.len);
    munmap(B.map, B.len);
    munmap(C.map, C.len);
    return best;
}

/* GFLOP/s of an n^3 bf16 product by the own kernel on path (gemm_bf16.h): the right operand packed
 * beforehand, the left one rounded into pairs inside, as in the step; rows split over the threads in
 * contiguous shares (the bf16 counterpart of bench_sgemm_peak). */
double bench_bf16_peak(IjBf16Path path, int n)
{
    Square A = square(n), B = square(n), C = square(n);
    float *a = A.m, *b = B.m, *c = C.m;
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = 1e-3f * (float)(i % 97);
    ij_gemm_bf16_pack_w((uint32_t *)B.m, b, n, n); /* in place: the packed pairs take half the floats' room */
    double best = 0;
    for (int r = 0; r < 4; r++) { /* the first run warms up */
        double t0 = ij_now();
#pragma omp parallel
        {
            int nt = omp_get_num_threads(), id = omp_get_thread_num();
            int r0 = (int)((long)n * id / nt), r1 = (int)((long)n * (id + 1) / nt);
            ij_gemm_bf16_rows(path, c + (size_t)r0 * n, n, a + (size_t)r0 * n, n, (const uint32_t *)B.m, r1 - r0, n, n,
                           NULL, NULL, 0, NULL, 0);
        }
        double g = 2.0 * n * n * (double)n / (ij_now() - t0) * 1e-9;
        if (r > 0 && g > best) best = g;
    }
    munmap(A.map, A.len);
    munmap(B.map, B.len);
    munmap(C.map, C.len);
    return best;
}

int bench_kernels(const IjConfig *c, int rows)
{
    if (!IJ_GEMM_NR)
        return ij_error("--kernels: this build has no vector kernel (needs AVX2 + FMA or AVX-512; "
                        "the blocks use BLAS)");
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    printf("one thread: sgemm peak (2048^3, OpenBLAS) %.1f GFLOP/s; register tile %d x %d\n", bench_sgemm_peak(2048),
           IJ_GEMM_MR, IJ_GEMM_NR);
    printf("the blocks' products on %d rows (rows x K x N), one thread, best of several runs:\n", rows);
    const int D = c->embed_dim, H = c->mlp_dim, Dp = c->pred_dim, Hp = c->pred_mlp_dim;
    const struct { const char *name; int K, N, transposed; } p[] = {
        {"encoder qkv", D, 3 * D, 1},        {"encoder proj", D, D, 1},
        {"encoder fc1", D, H, 1},            {"encoder fc2", H, D, 1},
        {"encoder d(qkv input)", 3 * D, D, 0}, {"encoder d(fc1 input)", H, D, 0},
        {"predictor qkv", Dp, 3 * Dp, 1},    {"predictor fc1", Dp, Hp, 1},
        {"predictor fc2", Hp, Dp, 1},        {"predictor d(fc1 input)", Hp, Dp, 0},
    };
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) bench_product(p[i].name, rows, p[i].K, p[i].N, p[i].transposed);
    /* the weight gradients run over all rows of a pass at once: 8 chunks' worth here (Cout x T x Cin) */
    printf("weight gradients over %d rows (Cout x rows x Cin), one thread, best of several runs:\n", 8 * rows);
    const struct { const char *name; int Cin, Cout; } g[] = {
        {"encoder d(qkv weight)", D, 3 * D}, {"encoder d(fc1 weight)", D, H}, {"encoder d(fc2 weight)", H, D},
        {"predictor d(fc1 weight)", Dp, Hp}, {"predictor d(fc2 weight)", Hp, Dp},
    };
    int omp_threads = omp_get_max_threads();
    omp_set_num_threads(1);
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) bench_weight_gradient(g[i].name, 8 * rows, g[i].Cin, g[i].Cout);
    omp_set_num_threads(omp_threads);
    openblas_set_num_threads(blas_threads);
    return 0;
}
