/* test_diagnostics.c: collapse diagnostics on matrices whose answers are known by construction:
 * identical rows (rank 1, cosine 1, std 0), orthonormal rows (rank d, cosine 0), rank-k data,
 * singular values fixed by exactly representable Hadamard rotations (effective rank by the hand
 * formula), hand-computed std and cosine, the Jacobi eigen-solver against known spectra, and
 * ij_diagnostics on a tiny model (finite, in range, parameters untouched). */
#include "core/error.h"
#include "core/rng.h"
#include "eval/diagnostics.h"
#include "eval/embed.h"
#include "testlib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double *gaussian_d(int n, int d, uint64_t seed)
{
    double *X = malloc(sizeof(double) * (size_t)n * d);
    IjRng r = ij_rng(seed, 1, 0);
    for (size_t i = 0; i < (size_t)n * d; i++) X[i] = ij_rng_normal(&r);
    return X;
}

/* Orthonormal rows (modified Gram-Schmidt on Gaussian rows), in double: Q [k, d], k <= d. */
static double *orthonormal_rows(int k, int d, uint64_t seed)
{
    double *Q = gaussian_d(k, d, seed);
    for (int i = 0; i < k; i++) {
        double *qi = Q + (size_t)i * d;
        for (int j = 0; j < i; j++) {
            const double *qj = Q + (size_t)j * d;
            double dot = 0;
            for (int t = 0; t < d; t++) dot += qi[t] * qj[t];
            for (int t = 0; t < d; t++) qi[t] -= dot * qj[t];
        }
        double nrm = 0;
        for (int t = 0; t < d; t++) nrm += qi[t] * qi[t];
        nrm = sqrt(nrm);
        for (int t = 0; t < d; t++) qi[t] /= nrm;
    }
    return Q;
}

static float *to_float(const double *X, size_t n)
{
    float *f = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) f[i] = (float)X[i];
    return f;
}

/* exp(entropy) of s / sum(s), the hand formula */
static double erank_formula(const double *s, int k)
{
    double tot = 0, h = 0;
    for (int i = 0; i < k; i++) tot += s[i];
    for (int i = 0; i < k; i++) h -= s[i] / tot * log(s[i] / tot);
    return exp(h);
}

static void test_identical_rows(void)
{
    enum { N = 10, D = 16 };
    float X[N * D];
    IjRng r = ij_rng(5, 2, 0);
    float v[D];
    for (int j = 0; j < D; j++) v[j] = (float)ij_rng_normal(&r);
    for (int i = 0; i < N; i++) memcpy(X + i * D, v, sizeof v);
    double er = ij_effective_rank(X, N, D);
    CHECKF(fabs(er - 1) < 1e-6, "erank %.12f", er);
    double cs = ij_mean_pairwise_cosine(X, N, D);
    CHECKF(fabs(cs - 1) < 1e-12, "cosine %.17g", cs);
    double sd = ij_mean_feature_std(X, N, D);
    CHECKF(sd < 1e-12, "std %g", sd);

    /* positive multiples of one vector: still one direction (std no longer 0) */
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) X[i * D + j] = v[j] * (float)(i + 1);
    er = ij_effective_rank(X, N, D);
    CHECKF(fabs(er - 1) < 1e-6, "erank %.12f", er);
    cs = ij_mean_pairwise_cosine(X, N, D);
    CHECKF(fabs(cs - 1) < 1e-12, "cosine %.17g", cs);
    CHECK(ij_mean_feature_std(X, N, D) > 0.1);

    /* fewer rows than columns, and a single row */
    er = ij_effective_rank(X, 3, D);
    CHECKF(fabs(er - 1) < 1e-6, "erank (n < d) %.12f", er);
    er = ij_effective_rank(X, 1, D);
    CHECKF(fabs(er - 1) < 1e-12, "erank (one row) %.12f", er);
    CHECK(ij_mean_pairwise_cosine(X, 1, D) == 0);

    /* all zeros: rank 0, cosine 0 (zero rows have cosine 0 with everything) */
    memset(X, 0, sizeof X);
    CHECK(ij_effective_rank(X, N, D) == 0);
    CHECK(ij_mean_pairwise_cosine(X, N, D) == 0);
    CHECK(ij_mean_feature_std(X, N, D) == 0);
}

static void test_orthonormal(void)
{
    enum { D = 16 };
    float I[2 * D * D];
    memset(I, 0, sizeof I);
    for (int i = 0; i < 2 * D; i++) I[i * D + i % D] = 1;
    double er = ij_effective_rank(I, D, D);
    CHECKF(fabs(er - D) < 1e-6, "erank identity %.12f", er);
    CHECK(ij_mean_pairwise_cosine(I, D, D) == 0);
    /* one 1 and 15 zeros per column: mean 1/16, std sqrt(15)/16 */
    double sd = ij_mean_feature_std(I, D, D);
    CHECKF(fabs(sd - sqrt(15.0) / 16) < 1e-12, "std %.17g", sd);
    /* the identity twice (n > d) and its first 8 rows (n < d: the X X^T path) */
    er = ij_effective_rank(I, 2 * D, D);
    CHECKF(fabs(er - D) < 1e-6, "erank identity twice %.12f", er);
    er = ij_effective_rank(I, 8, D);
    CHECKF(fabs(er - 8) < 1e-6, "erank 8 rows %.12f", er);

    /* a random orthogonal matrix (rounded to float) */
    enum { M = 24 };
    double *Q = orthonormal_rows(M, M, 17);
    float *Qf = to_float(Q, (size_t)M * M);
    er = ij_effective_rank(Qf, M, M);
    CHECKF(fabs(er - M) < 1e-6, "erank orthogonal %.12f", er);
    double cs = ij_mean_pairwise_cosine(Qf, M, M);
    CHECKF(fabs(cs) < 1e-6, "cosine orthogonal %g", cs); /* 0 up to float rounding */
    /* 10 orthonormal rows in 24 dimensions */
    double *Q10 = orthonormal_rows(10, M, 18);
    float *Q10f = to_float(Q10, (size_t)10 * M);
    er = ij_effective_rank(Q10f, 10, M);
    CHECKF(fabs(er - 10) < 1e-6, "erank 10 orthonormal rows %.12f", er);
    free(Q);
    free(Qf);
    free(Q10);
    free(Q10f);
}

static void test_rank_k(void)
{
    enum { N = 40, D = 20, K = 3 };
    double *V = gaussian_d(K, D, 21);  /* K random directions */
    double *C = gaussian_d(N, K, 22);  /* coefficients */
    float X[N * D], R[N * D];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += C[i * K + k] * V[k * D + j];
            X[i * D + j] = (float)s;                   /* rank K up to float rounding */
            R[i * D + j] = (float)V[(i % K) * D + j];  /* the K directions repeated exactly */
        }
    double er = ij_effective_rank(X, N, D);
    CHECKF(er > 1.5 && er <= K + 1e-6, "erank combinations %.12f", er);
    er = ij_effective_rank(R, N, D);
    CHECKF(er > 1.5 && er <= K + 1e-6, "erank repeated %.12f", er);
    er = ij_effective_rank(X, 10, D); /* n < d */
    CHECKF(er > 1.5 && er <= K + 1e-6, "erank combinations, 10 rows %.12f", er);
    free(V);
    free(C);
}

/* X = U diag(s) V^T with U, V = H/2 (H the 4x4 Hadamard matrix): orthogonal with entries +-1/2,
 * so every entry of X is exact in float and the singular values are exactly s. */
static void test_known_singular_values(void)
{
    static const double H[4][4] = {{1, 1, 1, 1}, {1, -1, 1, -1}, {1, 1, -1, -1}, {1, -1, -1, 1}};
    const double cases[3][4] = {{3, 2, 1, 0}, {3, 2, 1, 0.5}, {7, 0.25, 0.25, 0.125}};
    for (int c = 0; c < 3; c++) {
        const double *s = cases[c];
        float X[4 * 4], Xw[4 * 8], Xt[8 * 4];
        memset(Xw, 0, sizeof Xw);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                double v = 0;
                for (int k = 0; k < 4; k++) v += H[i][k] * 0.5 * s[k] * H[j][k] * 0.5;
                X[i * 4 + j] = (float)v;
                CHECK((double)X[i * 4 + j] == v);
                /* the same 4 rows in 8 columns, with the columns spread out (still orthogonal V) */
                Xw[i * 8 + 2 * j + (j & 1)] = (float)v;
            }
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 8; j++) Xt[j * 4 + i] = Xw[i * 8 + j];
        int k = s[3] == 0 ? 3 : 4;
        double want = erank_formula(s, k);
        double got = ij_effective_rank(X, 4, 4);
        CHECKF(fabs(got - want) < 1e-9, "case %d: erank %.15f, want %.15f", c, got, want);
        got = ij_effective_rank(Xw, 4, 8);
        CHECKF(fabs(got - want) < 1e-9, "case %d, 4x8: erank %.15f, want %.15f", c, got, want);
        got = ij_effective_rank(Xt, 8, 4);
        CHECKF(fabs(got - want) < 1e-9, "case %d, 8x4: erank %.15f, want %.15f", c, got, want);
    }
    /* a generic rotation (random orthogonal U [12, 5], V [5, 9] rounded to float): within float accuracy */
    const double s[5] = {5, 3, 2, 1, 0.5};
    double *U = orthonormal_rows(5, 12, 31), *V = orthonormal_rows(5, 9, 32);
    float X[12 * 9];
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < 9; j++) {
            double v = 0;
            for (int k = 0; k < 5; k++) v += U[k * 12 + i] * s[k] * V[k * 9 + j];
            X[i * 9 + j] = (float)v;
        }
    double want = erank_formula(s, 5), got = ij_effective_rank(X, 12, 9);
    CHECKF(fabs(got - want) < 1e-5, "random rotation: erank %.12f, want %.12f", got, want);
    free(U);
    free(V);
}

static void test_std_by_hand(void)
{
    /* columns (1, 3): mean 2, std 1; (2, 6): mean 4, std 2; (5, 5): std 0 -> mean std 1 */
    const float X[6] = {1, 2, 5, 3, 6, 5};
    double sd = ij_mean_feature_std(X, 2, 3);
    CHECKF(fabs(sd - 1.0) < 1e-15, "std %.17g", sd);
    /* column-constant: every row the same */
    const float C[8] = {4, -1, 0.5f, 7, 4, -1, 0.5f, 7};
    CHECK(ij_mean_feature_std(C, 2, 4) == 0);
    /* one column 0, 1, 2, 3, 4: population std sqrt(2) */
    const float Y[5] = {0, 1, 2, 3, 4};
    CHECKF(fabs(ij_mean_feature_std(Y, 5, 1) - sqrt(2.0)) < 1e-15, "std %.17g", ij_mean_feature_std(Y, 5, 1));
}

static void test_cosine_by_hand(void)
{
    /* (1,0), (0,2), (-3,0): cosines 0, -1, 0 -> mean -1/3; a zero row adds 3 pairs of cosine 0 */
    const float X[8] = {1, 0, 0, 2, -3, 0, 0, 0};
    double cs = ij_mean_pairwise_cosine(X, 3, 2);
    CHECKF(fabs(cs + 1.0 / 3) < 1e-15, "cosine %.17g", cs);
    cs = ij_mean_pairwise_cosine(X, 4, 2);
    CHECKF(fabs(cs + 2.0 / 12) < 1e-15, "cosine with a zero row %.17g", cs);
    /* random rows against the pairwise loop */
    enum { N = 13, D = 7 };
    double *G = gaussian_d(N, D, 41);
    for (int i = 0; i < N * D; i++) G[i] += 0.7; /* a shared offset: positive mean cosine */
    float *F = to_float(G, (size_t)N * D);
    double want = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            if (i == j) continue;
            double dot = 0, ni = 0, nj = 0;
            for (int t = 0; t < D; t++) {
                dot += (double)F[i * D + t] * F[j * D + t];
                ni += (double)F[i * D + t] * F[i * D + t];
                nj += (double)F[j * D + t] * F[j * D + t];
            }
            want += dot / sqrt(ni * nj);
        }
    want /= N * (N - 1);
    cs = ij_mean_pairwise_cosine(F, N, D);
    CHECKF(fabs(cs - want) < 1e-12 && want > 0.1, "cosine %.17g, pairwise %.17g", cs, want);
    free(G);
    free(F);
}

static void test_jacobi(void)
{
    /* tridiagonal (2, 1): eigenvalues 2 + sqrt(2), 2, 2 - sqrt(2) */
    double A[9] = {2, 1, 0, 1, 2, 1, 0, 1, 2}, w[3];
    int sw = ij_jacobi_eigenvalues(A, 3, w);
    CHECKF(sw > 0 && sw < 10, "sweeps %d", sw);
    CHECKF(fabs(w[0] - (2 + sqrt(2.0))) < 1e-14 && fabs(w[1] - 2) < 1e-14 && fabs(w[2] - (2 - sqrt(2.0))) < 1e-14,
           "eigenvalues %.17g %.17g %.17g", w[0], w[1], w[2]);
    /* a repeated eigenvalue: J + I -> 4, 1, 1 */
    double B[9] = {2, 1, 1, 1, 2, 1, 1, 1, 2};
    sw = ij_jacobi_eigenvalues(B, 3, w);
    CHECKF(sw > 0 && fabs(w[0] - 4) < 1e-14 && fabs(w[1] - 1) < 1e-14 && fabs(w[2] - 1) < 1e-14,
           "sweeps %d, eigenvalues %.17g %.17g %.17g", sw, w[0], w[1], w[2]);
    /* negative and zero eigenvalues, already diagonal: no rotation, sorted */
    double Cm[9] = {-1, 0, 0, 0, 0, 0, 0, 0, 5};
    sw = ij_jacobi_eigenvalues(Cm, 3, w);
    CHECK(sw == 0 && w[0] == 5 && w[1] == 0 && w[2] == -1);
    /* a NaN does not loop: -1 and NaN eigenvalues */
    double Nm[4] = {1, NAN, NAN, 1};
    CHECK(ij_jacobi_eigenvalues(Nm, 2, w) == -1 && isnan(w[0]));

    /* Q diag(lambda) Q^T, 40 x 40, lambda = 20 - i (some negative, one repeated pair) */
    enum { M = 40 };
    double *Q = orthonormal_rows(M, M, 51), *S = calloc((size_t)M * M, sizeof(double)), lam[M], ev[M];
    for (int i = 0; i < M; i++) lam[i] = 20 - i;
    lam[M - 1] = lam[M - 2];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++) {
            double v = 0;
            for (int k = 0; k < M; k++) v += Q[k * M + i] * lam[k] * Q[k * M + j];
            S[i * M + j] = v;
        }
    for (int i = 0; i < M; i++) /* exactly symmetric */
        for (int j = 0; j < i; j++) S[i * M + j] = S[j * M + i];
    sw = ij_jacobi_eigenvalues(S, M, ev);
    double worst = 0;
    for (int i = 0; i < M; i++) worst = fmax(worst, fabs(ev[i] - lam[i]));
    CHECKF(sw > 0 && sw < 20 && worst < 1e-12, "40x40: sweeps %d, worst error %g", sw, worst);
    free(Q);
    free(S);
}

static void test_model_diagnostics(void)
{
    IjConfig cfg = {.img_size = 8, .channels = 1, .patch_size = 2, .embed_dim = 8, .depth = 1,
                    .num_heads = 2, .mlp_dim = 16, .pred_dim = 8, .pred_depth = 1, .pred_mlp_dim = 16};
    IjModel m;
    int rc = ij_model_init(&m, &cfg, 3);
    CHECKF(rc == 0, "ij_model_init: %s", ij_last_error());
    if (rc) return;
    enum { B = 2 };
    size_t img = (size_t)cfg.channels * cfg.img_size * cfg.img_size;
    double *G = gaussian_d(B, (int)img, 61);
    float *images = to_float(G, B * img);
    /* 4 x 4 patches; context 6 and 4 tokens, one target block of 4 tokens per sample */
    const int ctx_idx[10] = {0, 1, 2, 3, 4, 5, 8, 9, 10, 11}, ctx_off[3] = {0, 6, 10};
    const int tgt_idx[8] = {10, 11, 14, 15, 0, 1, 4, 5}, tgt_off[3] = {0, 4, 8};
    IjMasks mk = {B, 1, ctx_idx, ctx_off, tgt_idx, tgt_off};

    size_t np = sizeof(float) * m.tab.n_total, nt = sizeof(float) * m.tab.n_encoder;
    float *p0 = malloc(np), *t0 = malloc(nt);
    memcpy(p0, m.params, np);
    memcpy(t0, m.target, nt);
    IjDiagnostics dg;
    rc = ij_diagnostics(&m, images, &mk, &dg);
    CHECKF(rc == 0, "ij_diagnostics: %s", ij_last_error());
    CHECK(memcmp(p0, m.params, np) == 0);
    CHECK(memcmp(t0, m.target, nt) == 0);
    CHECKF(isfinite(dg.target_std) && dg.target_std > 0, "target_std %g", dg.target_std);
    CHECKF(isfinite(dg.pred_std) && dg.pred_std >= 0, "pred_std %g", dg.pred_std);
    CHECKF(isfinite(dg.erank) && dg.erank >= 1 - 1e-9 && dg.erank <= cfg.embed_dim, "erank %g", dg.erank);
    CHECKF(dg.erank <= B + 1e-9, "erank %g with %d rows", dg.erank, B);
    CHECKF(isfinite(dg.cosine) && dg.cosine >= -1 - 1e-9 && dg.cosine <= 1 + 1e-9, "cosine %g", dg.cosine);
    CHECK(m.n_tgt == 8);
    /* the step's targets and predictions are the ones measured */
    CHECK(dg.target_std == ij_mean_feature_std(m.targets, m.n_tgt, cfg.embed_dim));
    CHECK(dg.pred_std == ij_mean_feature_std(m.preds, m.n_tgt, cfg.embed_dim));
    /* erank and cosine come from the pooled target-encoder features */
    float feat[B * 8];
    ij_embed_batch(&m, &m.tenc, images, B, IJ_POOL_LAST, feat);
    CHECK(dg.erank == ij_effective_rank(feat, B, cfg.embed_dim));
    CHECK(dg.cosine == ij_mean_pairwise_cosine(feat, B, cfg.embed_dim));
    /* deterministic: a second call gives the same numbers */
    IjDiagnostics d2;
    CHECK(ij_diagnostics(&m, images, &mk, &d2) == 0);
    CHECK(memcmp(&dg, &d2, sizeof dg) == 0);

    /* one image is an error, not a number */
    const int ctx_off1[2] = {0, 6}, tgt_off1[2] = {0, 4};
    IjMasks one = {1, 1, ctx_idx, ctx_off1, tgt_idx, tgt_off1};
    ij_clear_error();
    CHECK(ij_diagnostics(&m, images, &one, &d2) == -1 && strstr(ij_last_error(), "2 images") != NULL);

    free(p0);
    free(t0);
    free(G);
    free(images);
    ij_model_free(&m);
}

int main(void)
{
    test_identical_rows();
    test_orthonormal();
    test_rank_k();
    test_known_singular_values();
    test_std_by_hand();
    test_cosine_by_hand();
    test_jacobi();
    test_model_diagnostics();
    return test_exit_code("test_diagnostics");
}
