/* test_probe.c: evaluation on frozen features, on synthetic data whose answers are known:
 * standardization statistics, the logistic-regression gradient (finite differences; fused pass against
 * the sgemm reference), L-BFGS against known optima (a quadratic, and a long gradient descent),
 * separable clusters (100% everywhere), k-NN planted neighbour and hand-computed weighted vote,
 * lambda selection blind to the test set, chance accuracy on random labels, stratified splits and
 * low-shot subsets. */
#include "core/error.h"
#include "core/rng.h"
#include "eval/probe.h"
#include "testlib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *gaussian(int n, int d, uint64_t seed)
{
    float *X = malloc(sizeof(float) * (size_t)n * d);
    IjRng r = ij_rng(seed, 1, 0);
    for (size_t i = 0; i < (size_t)n * d; i++) X[i] = (float)ij_rng_normal(&r);
    return X;
}

/* n rows of C Gaussian clusters in d dims: class i % C, mean sep * e_class (+ an offset), unit noise. */
static void clusters(int n, int d, int C, double sep, uint64_t seed, float **X, int **y)
{
    *X = gaussian(n, d, seed);
    *y = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
        int c = (int)((uint64_t)ij_hash3(seed, 7, (uint64_t)i) % (uint64_t)C);
        (*y)[i] = c;
        (*X)[(size_t)i * d + c] += (float)sep;
        (*X)[(size_t)i * d + d - 1] += 3.0f; /* a shared offset: standardization and bias must cope */
    }
}

static void test_standardize(void)
{
    /* train: column 0 = 1, 3 (mean 2, std 1); column 1 constant 5; column 2 = 0, 10 (mean 5, std 5) */
    float tr[6] = {1, 5, 0, 3, 5, 10};
    float te[3] = {4, 6, 20};
    float mean[3], scale[3];
    ij_feature_stats(tr, 2, 3, mean, scale);
    CHECK(mean[0] == 2 && scale[0] == 1);
    CHECK(mean[1] == 5 && scale[1] == 1); /* constant: centred only */
    CHECK(mean[2] == 5 && scale[2] == 5);
    ij_standardize(tr, 2, NULL, 0, te, 1, 3);
    CHECK(tr[0] == -1 && tr[3] == 1 && tr[1] == 0 && tr[4] == 0 && tr[2] == -1 && tr[5] == 1);
    /* the test row uses the TRAINING statistics */
    CHECK(te[0] == 2 && te[1] == 1 && te[2] == 3);

    /* many rows: standardized training columns have mean 0 and std 1 */
    enum { N = 1000, D = 70 }; /* D > 64: more than one column block */
    float *X = gaussian(N, D, 3);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) X[(size_t)i * D + j] = X[(size_t)i * D + j] * (float)(j + 1) + (float)j;
    ij_standardize(X, N, NULL, 0, NULL, 0, D);
    double worst = 0;
    for (int j = 0; j < D; j++) {
        double s = 0, q = 0;
        for (int i = 0; i < N; i++) s += X[(size_t)i * D + j];
        for (int i = 0; i < N; i++) q += (X[(size_t)i * D + j] - s / N) * (X[(size_t)i * D + j] - s / N);
        worst = fmax(worst, fmax(fabs(s / N), fabs(sqrt(q / N) - 1)));
    }
    CHECKF(worst < 1e-5, "worst deviation %g", worst);
    free(X);
}

static void random_theta(double *theta, int P, uint64_t seed, double scale)
{
    IjRng r = ij_rng(seed, 2, 0);
    for (int i = 0; i < P; i++) theta[i] = scale * ij_rng_normal(&r);
}

static void test_gradient(void)
{
    /* n = 7: one full group of 4 rows and a remainder of 3 in the fused pass */
    enum { N = 7, D = 4, C = 3, P = C * D + C };
    float *X = gaussian(N, D, 11);
    int y[N] = {0, 1, 2, 2, 1, 0, 1};
    double theta[P], g[P], gref[P];
    random_theta(theta, P, 5, 0.7);
    const double lambda = 0.05;
    double f = ij_logreg_loss(X, y, N, D, C, lambda, theta, g);
    double fref = ij_logreg_loss_ref(X, y, N, D, C, lambda, theta, gref);
    CHECKF(fabs(f - fref) < 1e-6, "fused %.9f ref %.9f", f, fref);
    CHECK(f == ij_logreg_loss(X, y, N, D, C, lambda, theta, NULL));
    double worst = 0, worst_ref = 0;
    for (int i = 0; i < P; i++) {
        const double h = 5e-3;
        double tp[P], tm[P];
        memcpy(tp, theta, sizeof tp);
        memcpy(tm, theta, sizeof tm);
        tp[i] += h;
        tm[i] -= h;
        double fd = (ij_logreg_loss_ref(X, y, N, D, C, lambda, tp, NULL) -
                     ij_logreg_loss_ref(X, y, N, D, C, lambda, tm, NULL)) / (2 * h);
        worst = fmax(worst, fabs(fd - g[i]) / fmax(1.0, fabs(fd)));
        worst_ref = fmax(worst_ref, fabs(fd - gref[i]) / fmax(1.0, fabs(fd)));
    }
    CHECKF(worst < 5e-4, "fused gradient vs finite differences: %g", worst);
    CHECKF(worst_ref < 5e-4, "reference gradient vs finite differences: %g", worst_ref);
    /* a hand value: theta = 0 gives log(C) */
    double zero[P] = {0};
    CHECK(fabs(ij_logreg_loss(X, y, N, D, C, lambda, zero, NULL) - log(3.0)) < 1e-6);
    free(X);

    /* a larger case: fused and reference agree (many rows, d not a multiple of the vector width) */
    enum { N2 = 1001, D2 = 37, C2 = 5, P2 = C2 * D2 + C2 };
    float *X2 = gaussian(N2, D2, 12);
    int *y2 = malloc(sizeof(int) * N2);
    for (int i = 0; i < N2; i++) y2[i] = (i * 7) % C2;
    double *t2 = malloc(sizeof(double) * P2), *g2 = malloc(sizeof(double) * P2), *g2r = malloc(sizeof(double) * P2);
    random_theta(t2, P2, 6, 0.3);
    double f2 = ij_logreg_loss(X2, y2, N2, D2, C2, 1e-3, t2, g2);
    double f2r = ij_logreg_loss_ref(X2, y2, N2, D2, C2, 1e-3, t2, g2r);
    double dg = 0;
    for (int i = 0; i < P2; i++) dg = fmax(dg, fabs(g2[i] - g2r[i]));
    CHECKF(fabs(f2 - f2r) < 1e-6 && dg < 1e-6, "fused vs reference: df %g dg %g", f2 - f2r, dg);
    free(X2);
    free(y2);
    free(t2);
    free(g2);
    free(g2r);
}

/* f(x) = 1/2 sum a_i (x_i - c_i)^2 with a_i from 1 to 1000 (condition number 1000). */
typedef struct { int n; } Quad;
static double quad_fg(void *ctx, const double *x, double *g)
{
    int n = ((Quad *)ctx)->n;
    double f = 0;
    for (int i = 0; i < n; i++) {
        double a = pow(1000.0, (double)i / (n - 1)), c = sin(i + 1.0);
        f += 0.5 * a * (x[i] - c) * (x[i] - c);
        g[i] = a * (x[i] - c);
    }
    return f;
}
static void quad_precond(void *ctx, double *v)
{
    int n = ((Quad *)ctx)->n;
    for (int i = 0; i < n; i++) v[i] /= pow(1000.0, (double)i / (n - 1));
}

static void test_lbfgs_quadratic(void)
{
    Quad q = {50};
    double x[50] = {0};
    IjLbfgsOptions o;
    ij_lbfgs_default_options(&o);
    o.gtol = 1e-10;
    o.ftol = 0;
    o.max_iter = 1000;
    IjLbfgsInfo info;
    CHECK(ij_lbfgs(quad_fg, &q, 50, x, &o, &info) == 0);
    double err = 0;
    for (int i = 0; i < 50; i++) err = fmax(err, fabs(x[i] - sin(i + 1.0)));
    CHECKF(info.status == IJ_LBFGS_GTOL && err < 1e-9, "status %d err %g iters %d", info.status, err, info.iters);
    CHECKF(info.iters < 400, "%d iterations", info.iters);
    /* with the exact Hessian as preconditioner: one Newton step */
    double x2[50] = {0};
    o.precond = quad_precond;
    o.pctx = &q;
    CHECK(ij_lbfgs(quad_fg, &q, 50, x2, &o, &info) == 0);
    err = 0;
    for (int i = 0; i < 50; i++) err = fmax(err, fabs(x2[i] - sin(i + 1.0)));
    CHECKF(info.iters <= 2 && err < 1e-9, "preconditioned: %d iterations, err %g", info.iters, err);
    /* invalid options are rejected with a message */
    o.history = 0;
    CHECK(ij_lbfgs(quad_fg, &q, 50, x2, &o, &info) == -1 && strstr(ij_last_error(), "history"));
}

static void test_lbfgs_vs_gradient_descent(void)
{
    enum { N = 60, D = 5, C = 3, P = C * D + C };
    float *X;
    int *y;
    clusters(N, D, C, 1.0, 21, &X, &y); /* overlapping: a non-trivial optimum */
    const double lambda = 1e-2;
    /* plain gradient descent with a safe fixed step, run to a tiny gradient */
    double gd[P] = {0}, g[P];
    double L = 0; /* Lipschitz bound: 0.5 * max ||x'||^2 + 2 lambda */
    for (int i = 0; i < N; i++) {
        double s = 1;
        for (int j = 0; j < D; j++) s += (double)X[i * D + j] * X[i * D + j];
        L = fmax(L, s);
    }
    L = 0.5 * L + 2 * lambda;
    int it = 0;
    for (; it < 200000; it++) {
        ij_logreg_loss_ref(X, y, N, D, C, lambda, gd, g);
        double gm = 0;
        for (int i = 0; i < P; i++) gm = fmax(gm, fabs(g[i]));
        if (gm < 1e-7) break;
        for (int i = 0; i < P; i++) gd[i] -= g[i] / L;
    }
    CHECKF(it < 200000, "gradient descent did not converge");
    for (int pre = 0; pre < 2; pre++) {
        double th[P] = {0};
        IjLbfgsOptions o;
        ij_lbfgs_default_options(&o);
        o.gtol = 1e-7;
        IjLbfgsInfo info;
        CHECK(ij_logreg_fit(X, y, N, D, C, lambda, th, &o, pre, &info) == 0);
        /* the bias is defined up to a common shift (softmax): compare centred biases */
        double mb = 0, mg = 0, err = 0;
        for (int c = 0; c < C; c++) mb += th[C * D + c] / C, mg += gd[C * D + c] / C;
        for (int i = 0; i < C * D; i++) err = fmax(err, fabs(th[i] - gd[i]));
        for (int c = 0; c < C; c++) err = fmax(err, fabs((th[C * D + c] - mb) - (gd[C * D + c] - mg)));
        CHECKF(err < 1e-4, "precondition %d: L-BFGS vs gradient descent: %g (%d iterations, status %d)", pre, err,
               info.iters, info.status);
        CHECKF(info.iters < 100, "precondition %d: %d iterations", pre, info.iters);
    }
    free(X);
    free(y);
}

static void test_separable(void)
{
    enum { NTR = 500, NTE = 200, D = 16, C = 5 };
    float *Xtr, *Xte;
    int *ytr, *yte;
    clusters(NTR, D, C, 12.0, 31, &Xtr, &ytr);
    clusters(NTE, D, C, 12.0, 32, &Xte, &yte);
    IjProbeResult r;
    CHECK(ij_linear_probe(Xtr, ytr, NTR, Xte, yte, NTE, D, C, NULL, &r) == 0);
    CHECKF(r.train_acc == 1.0 && r.val_acc == 1.0 && r.test_acc == 1.0, "train %g val %g test %g", r.train_acc,
           r.val_acc, r.test_acc);
    CHECK(r.nlambdas == 6 && r.lambdas[0] == 1e-1 && r.lambdas[5] == 1e-6);
    CHECK(r.lambda == 1e-1); /* every lambda ties at 100%: the largest is kept */
    CHECK(r.ntrain == NTR && r.nfit + r.nval == NTR && r.ntest == NTE);
    CHECKF(abs(r.nval - NTR / 10) <= C, "nval %d", r.nval);

    IjKnnResult k;
    CHECK(ij_knn(Xtr, ytr, NTR, Xte, yte, NTE, D, C, NULL, &k) == 0);
    CHECKF(k.acc_knn == 1.0 && k.acc_1nn == 1.0 && k.k == 20, "knn %g 1nn %g", k.acc_knn, k.acc_1nn);
    /* tiny similarity blocks give the same predictions */
    IjKnnOptions ko;
    ij_knn_default_options(&ko);
    ko.block_rows = 3;
    int *p1 = malloc(sizeof(int) * NTE), *p2 = malloc(sizeof(int) * NTE);
    int *q1 = malloc(sizeof(int) * NTE), *q2 = malloc(sizeof(int) * NTE);
    CHECK(ij_knn_predict(Xtr, ytr, NTR, Xte, NTE, D, C, &ko, p1, q1) == 0);
    ko.block_rows = 0;
    CHECK(ij_knn_predict(Xtr, ytr, NTR, Xte, NTE, D, C, &ko, p2, q2) == 0);
    CHECK(memcmp(p1, p2, sizeof(int) * NTE) == 0 && memcmp(q1, q2, sizeof(int) * NTE) == 0);

    /* low-shot: 10% of each class, still perfect on such clusters */
    IjProbeResult l;
    CHECK(ij_lowshot_probe(Xtr, ytr, NTR, Xte, yte, NTE, D, C, 0.1, NULL, &l) == 0);
    CHECKF(l.ntrain >= 45 && l.ntrain <= 55 && l.test_acc == 1.0, "low-shot n %d test %g", l.ntrain, l.test_acc);
    CHECK(!l.left_out);
    /* 1% of ~50 images per class is one image per class: no validation split, the row is left out */
    CHECK(ij_lowshot_probe(Xtr, ytr, NTR, Xte, yte, NTE, D, C, 0.01, NULL, &l) == 0);
    CHECKF(l.left_out && l.ntrain == C && l.test_acc == 0, "1%%: left_out %d n %d", l.left_out, l.ntrain);

    /* deterministic: the same call twice gives the same numbers */
    IjProbeResult r2;
    CHECK(ij_linear_probe(Xtr, ytr, NTR, Xte, yte, NTE, D, C, NULL, &r2) == 0);
    CHECK(memcmp(r.val_accs, r2.val_accs, sizeof r.val_accs) == 0 && r.loss == r2.loss && r.iters == r2.iters);
    free(Xtr);
    free(Xte);
    free(ytr);
    free(yte);
    free(p1);
    free(p2);
    free(q1);
    free(q2);
}

static void test_knn_planted(void)
{
    /* 60 training rows of classes 1..3 scattered closely around direction u, and one class-0 row at
     * exactly u (scaled by 7: cosine ignores norms). The query is u: its nearest row is the class-0
     * one; the weighted vote of 20 goes to the crowd. */
    enum { N = 61, D = 8 };
    float *X = gaussian(N, D, 41);
    int y[N];
    float u[D] = {1, 2, -1, 0.5f, 3, -2, 1, 0};
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) X[i * D + j] = u[j] + 0.05f * X[i * D + j];
        y[i] = i < 40 ? 2 : 1 + i % 3; /* class 2 dominates the crowd */
    }
    const int planted = 37;
    for (int j = 0; j < D; j++) X[planted * D + j] = 7 * u[j];
    y[planted] = 0;
    int pk, p1;
    CHECK(ij_knn_predict(X, y, N, u, 1, D, 4, NULL, &pk, &p1) == 0);
    CHECKF(p1 == 0, "1-NN predicted %d", p1);
    CHECKF(pk == 2, "k-NN predicted %d", pk);
    free(X);
}

static void test_knn_vote(void)
{
    /* Query q = (1, 0). Training rows (cosine to q): a = 5 * (1, 0) class 0 (sim 1); b, c at angle
     * acos(0.9) class 1 (sim 0.9 each); d = (-1, 0) class 2 (sim -1). With k = 3:
     *   T = 1:   class 0: e^1 = 2.718;      class 1: 2 e^0.9 = 4.919  -> 1
     *   T = 0.1: class 0: e^10 = 22026;     class 1: 2 e^9 = 16206    -> 0
     * and the nearest row is a (class 0) either way. k = 4 adds d's tiny weight to class 2. */
    float s = (float)sqrt(1 - 0.81);
    float X[8] = {5, 0, 0.9f, s, 0.9f, -s, -1, 0};
    int y[4] = {0, 1, 1, 2};
    float q[2] = {1, 0};
    IjKnnOptions o;
    ij_knn_default_options(&o);
    o.k = 3;
    o.temperature = 1.0;
    int pk = -1, p1 = -1;
    CHECK(ij_knn_predict(X, y, 4, q, 1, 2, 3, &o, &pk, &p1) == 0);
    CHECKF(pk == 1 && p1 == 0, "T=1: knn %d 1nn %d", pk, p1);
    o.temperature = 0.1;
    CHECK(ij_knn_predict(X, y, 4, q, 1, 2, 3, &o, &pk, &p1) == 0);
    CHECKF(pk == 0 && p1 == 0, "T=0.1: knn %d 1nn %d", pk, p1);
    /* k = 1: the weighted vote is the nearest neighbour */
    o.k = 1;
    o.temperature = 1.0;
    CHECK(ij_knn_predict(X, y, 4, q, 1, 2, 3, &o, &pk, &p1) == 0);
    CHECK(pk == 0 && p1 == 0);
    /* k larger than the training set is capped; accuracy through ij_knn */
    o.k = 20;
    IjKnnResult r;
    int yq = 1;
    CHECK(ij_knn(X, y, 4, q, &yq, 1, 2, 3, &o, &r) == 0);
    CHECK(r.k == 4 && r.acc_knn == 1.0 && r.acc_1nn == 0.0);
    /* a tiny temperature does not overflow: the vote goes to the top neighbour */
    o.temperature = 1e-4;
    CHECK(ij_knn_predict(X, y, 4, q, 1, 2, 3, &o, &pk, &p1) == 0);
    CHECK(pk == 0);
    /* errors */
    o.k = 0;
    CHECK(ij_knn_predict(X, y, 4, q, 1, 2, 3, &o, &pk, &p1) == -1 && strstr(ij_last_error(), "k = 0"));
    o.k = 3;
    int bad[4] = {0, 1, 3, 2};
    CHECK(ij_knn_predict(X, bad, 4, q, 1, 2, 3, &o, &pk, &p1) == -1 && strstr(ij_last_error(), "label 3"));
}

static void test_selection_blind_to_test(void)
{
    enum { NTR = 400, NTE = 300, D = 10, C = 4 };
    float *Xtr, *Xte;
    int *ytr, *yte;
    clusters(NTR, D, C, 2.0, 51, &Xtr, &ytr); /* overlapping: the lambdas differ on validation */
    clusters(NTE, D, C, 2.0, 52, &Xte, &yte);
    IjProbeOptions o;
    ij_probe_default_options(&o);
    o.seed = 9;
    IjProbeResult a, b;
    CHECK(ij_linear_probe(Xtr, ytr, NTR, Xte, yte, NTE, D, C, &o, &a) == 0);
    /* poison the test set: garbage features, rotated labels */
    for (int i = 0; i < NTE * D; i++) Xte[i] = (float)(i % 13) * 100.0f - 600.0f;
    for (int i = 0; i < NTE; i++) yte[i] = (yte[i] + 1) % C;
    CHECK(ij_linear_probe(Xtr, ytr, NTR, Xte, yte, NTE, D, C, &o, &b) == 0);
    CHECK(a.lambda == b.lambda && a.val_acc == b.val_acc && a.train_acc == b.train_acc && a.loss == b.loss);
    CHECK(memcmp(a.val_accs, b.val_accs, sizeof a.val_accs) == 0);
    CHECKF(a.test_acc > 0.6 && a.test_acc != b.test_acc, "clean test %g poisoned %g", a.test_acc, b.test_acc);
    /* a different split seed changes the validation split */
    o.seed = 10;
    IjProbeResult c;
    CHECK(ij_linear_probe(Xtr, ytr, NTR, Xte, yte, NTE, D, C, &o, &c) == 0);
    CHECK(memcmp(a.val_accs, c.val_accs, sizeof a.val_accs) != 0);
    /* a custom grid, given in any order, is tried in descending order */
    o.nlambdas = 3;
    o.lambdas[0] = 1e-4;
    o.lambdas[1] = 1.0;
    o.lambdas[2] = 1e-2;
    CHECK(ij_linear_probe(Xtr, ytr, NTR, Xte, yte, NTE, D, C, &o, &c) == 0);
    CHECK(c.nlambdas == 3 && c.lambdas[0] == 1.0 && c.lambdas[1] == 1e-2 && c.lambdas[2] == 1e-4);
    free(Xtr);
    free(Xte);
    free(ytr);
    free(yte);
}

static void test_random_labels(void)
{
    enum { NTR = 2000, NTE = 2000, D = 20, C = 4 };
    float *Xtr = gaussian(NTR, D, 61), *Xte = gaussian(NTE, D, 62);
    int *ytr = malloc(sizeof(int) * NTR), *yte = malloc(sizeof(int) * NTE);
    for (int i = 0; i < NTR; i++) ytr[i] = (int)(ij_hash3(63, 0, (uint64_t)i) % C);
    for (int i = 0; i < NTE; i++) yte[i] = (int)(ij_hash3(64, 0, (uint64_t)i) % C);
    IjProbeResult r;
    CHECK(ij_linear_probe(Xtr, ytr, NTR, Xte, yte, NTE, D, C, NULL, &r) == 0);
    /* chance is 0.25; the standard error on 2000 rows is ~0.01 */
    CHECKF(fabs(r.test_acc - 0.25) < 0.05, "linear test accuracy %g on random labels", r.test_acc);
    CHECKF(fabs(r.val_acc - 0.25) < 0.10, "validation accuracy %g on random labels", r.val_acc);
    IjKnnResult k;
    CHECK(ij_knn(Xtr, ytr, NTR, Xte, yte, NTE, D, C, NULL, &k) == 0);
    CHECKF(fabs(k.acc_knn - 0.25) < 0.05 && fabs(k.acc_1nn - 0.25) < 0.05, "k-NN %g 1-NN %g", k.acc_knn,
           k.acc_1nn);
    free(Xtr);
    free(Xte);
    free(ytr);
    free(yte);
}

static void count_classes(const int *labels, const int *idx, int m, int C, int *cnt)
{
    memset(cnt, 0, sizeof(int) * (size_t)C);
    for (int i = 0; i < m; i++) cnt[labels[idx[i]]]++;
}

static void test_splits_and_subsets(void)
{
    /* class sizes 100, 50, 7, 1, 0 */
    enum { N = 158, C = 5 };
    int y[N], idx[N], idx2[N], fit[N], val[N], cnt[C];
    for (int i = 0; i < N; i++) y[i] = i < 100 ? 0 : i < 150 ? 1 : i < 157 ? 2 : 3;
    for (int i = 0; i < N; i++) { /* interleave */
        int j = (int)(ij_hash3(71, 0, (uint64_t)i) % N), t = y[i];
        y[i] = y[j];
        y[j] = t;
    }
    int m = ij_lowshot_subset(y, N, C, 0.1, 1, idx);
    count_classes(y, idx, m, C, cnt);
    CHECKF(m == 17 && cnt[0] == 10 && cnt[1] == 5 && cnt[2] == 1 && cnt[3] == 1 && cnt[4] == 0,
           "m %d counts %d %d %d %d %d", m, cnt[0], cnt[1], cnt[2], cnt[3], cnt[4]);
    int sorted = 1;
    for (int i = 0; i < m; i++) sorted &= idx[i] >= 0 && idx[i] < N && (i == 0 || idx[i] > idx[i - 1]);
    CHECK(sorted);
    CHECK(ij_lowshot_subset(y, N, C, 0.1, 1, idx2) == m && memcmp(idx, idx2, sizeof(int) * (size_t)m) == 0);
    CHECK(ij_lowshot_subset(y, N, C, 0.1, 2, idx2) == m && memcmp(idx, idx2, sizeof(int) * (size_t)m) != 0);
    CHECK(ij_lowshot_subset(y, N, C, 1.0, 1, idx2) == N);
    CHECK(ij_lowshot_subset(y, N, C, 0.0, 1, idx2) == -1 && strstr(ij_last_error(), "fraction"));
    CHECK(ij_lowshot_subset(y, N, C, 1.5, 1, idx2) == -1);
    CHECK(ij_lowshot_subset(y, N, 3, 0.5, 1, idx2) == -1 && strstr(ij_last_error(), "outside [0, 3)"));
    /* 1% of 100: one row; 0.6% of 100 rounds to 1 as well; 1.6% to 2 */
    int big[1000];
    for (int i = 0; i < 1000; i++) big[i] = i % 10;
    CHECK(ij_lowshot_subset(big, 1000, 10, 0.01, 3, idx2) == 10);
    CHECK(ij_lowshot_subset(big, 1000, 10, 0.016, 3, idx2) == 20);

    int nfit, nval;
    CHECK(ij_stratified_split(y, N, C, 0.1, 5, fit, &nfit, val, &nval) == 0);
    CHECK(nfit + nval == N);
    count_classes(y, val, nval, C, cnt);
    CHECKF(cnt[0] == 10 && cnt[1] == 5 && cnt[2] == 1 && cnt[3] == 0, "val counts %d %d %d %d", cnt[0], cnt[1],
           cnt[2], cnt[3]);
    count_classes(y, fit, nfit, C, cnt);
    CHECK(cnt[0] == 90 && cnt[1] == 45 && cnt[2] == 6 && cnt[3] == 1);
    char seen[N] = {0};
    int ok = 1;
    for (int i = 0; i < nfit; i++) ok &= !seen[fit[i]]++ && (i == 0 || fit[i] > fit[i - 1]);
    for (int i = 0; i < nval; i++) ok &= !seen[val[i]]++ && (i == 0 || val[i] > val[i - 1]);
    CHECK(ok);
    /* 2 rows in a class: one each way even with a large fraction */
    int two[2] = {0, 0};
    CHECK(ij_stratified_split(two, 2, 1, 0.9, 5, fit, &nfit, val, &nval) == 0 && nfit == 1 && nval == 1);
    CHECK(ij_stratified_split(two, 2, 1, 1.0, 5, fit, &nfit, val, &nval) == -1);
}

static void test_errors(void)
{
    enum { N = 20, D = 3, C = 2 };
    float *X = gaussian(N, D, 81);
    int y[N];
    for (int i = 0; i < N; i++) y[i] = i % C;
    IjProbeResult r;
    X[5 * D + 1] = NAN;
    CHECK(ij_linear_probe(X, y, N, X, y, N, D, C, NULL, &r) == -1);
    CHECKF(strstr(ij_last_error(), "NaN") && strstr(ij_last_error(), "row 5"), "%s", ij_last_error());
    X[5 * D + 1] = 0;
    y[3] = 7;
    CHECK(ij_linear_probe(X, y, N, X, y, N, D, C, NULL, &r) == -1 && strstr(ij_last_error(), "label 7"));
    y[3] = 1;
    CHECK(ij_linear_probe(X, y, N, X, y, N, D, 1, NULL, &r) == -1);
    IjProbeOptions o;
    ij_probe_default_options(&o);
    o.val_fraction = 0;
    CHECK(ij_linear_probe(X, y, N, X, y, N, D, C, &o, &r) == -1 && strstr(ij_last_error(), "fraction"));
    ij_probe_default_options(&o);
    o.nlambdas = 1;
    o.lambdas[0] = -1;
    CHECK(ij_linear_probe(X, y, N, X, y, N, D, C, &o, &r) == -1 && strstr(ij_last_error(), "lambda"));
    /* one row per class: no validation split possible */
    CHECK(ij_linear_probe(X, y, 2, X, y, N, D, C, NULL, &r) == -1 && strstr(ij_last_error(), "validation"));
    free(X);
}

static int progress_calls;
static double progress_last;
static void on_progress(void *ctx, const char *what, double fraction)
{
    (void)ctx;
    progress_calls += what != NULL && fraction >= progress_last - 1e-12;
    progress_last = fraction;
}

static void test_progress(void)
{
    enum { N = 200, D = 6, C = 3 };
    float *X;
    int *y;
    clusters(N, D, C, 2.0, 91, &X, &y);
    IjProbeOptions o;
    ij_probe_default_options(&o);
    o.progress = on_progress;
    IjProbeResult r;
    CHECK(ij_linear_probe(X, y, N, X, y, N, D, C, &o, &r) == 0);
    CHECK(progress_calls > 7 && progress_last == 1.0);
    free(X);
    free(y);
}

int main(void)
{
    test_standardize();
    test_gradient();
    test_lbfgs_quadratic();
    test_lbfgs_vs_gradient_descent();
    test_separable();
    test_knn_planted();
    test_knn_vote();
    test_selection_blind_to_test();
    test_random_labels();
    test_splits_and_subsets();
    test_errors();
    test_progress();
    return test_exit_code("test_probe");
}
