/* probe.c: linear probe (standardize + multinomial logistic regression by preconditioned L-BFGS, lambda
 * chosen on a validation split of the training set), k-NN (cosine, weighted vote) and low-shot
 * subsets; see probe.h.
 *
 * Costs on Fashion-MNIST pixels (54k x 784, 10 classes, 2 cores): one loss+gradient is one fused pass
 * over the features (~25 ms; the two-sgemm reference ~48 ms); the whole probe (6 lambdas + refit,
 * ~1000 iterations, the small lambdas stopping at max_iter) ~30 s; k-NN of 10k queries against 60k
 * rows ~4 s (one sgemm per block of query rows, then a top-k scan per row, OpenMP over rows).
 * Assumes the training features fit in memory twice (the probe works on a gathered, standardized copy).
 */
#include "eval/probe.h"

#include "core/error.h"
#include "core/rng.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PURPOSE_VAL_SPLIT 0x76616c73706c6974ull /* "valsplit" */
#define PURPOSE_LOWSHOT 0x6c6f7773686f7400ull   /* "lowshot" */
#define SCALE_FLOOR 1e-6                        /* below this std a feature is only centred */
#define PREDICT_BLOCK 4096                      /* rows per block when predicting */
#define KNN_BLOCK_BYTES (64u << 20)             /* similarity block budget */

static const double default_lambdas[] = {1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6};

/* ---- input checks ----------------------------------------------------------------------- */

/* First row of X[n, d] with a NaN or Inf, or -1. */
static int first_nonfinite_row(const float *X, int n, int d)
{
    int bad = n;
#pragma omp parallel for schedule(static) reduction(min : bad)
    for (int i = 0; i < n; i++) {
        const float *r = X + (size_t)i * d;
        int ok = 1;
        for (int j = 0; j < d; j++) ok &= isfinite(r[j]) != 0;
        if (!ok && i < bad) bad = i;
    }
    return bad < n ? bad : -1;
}

static int check_features(const char *who, const char *which, const float *X, int n, int d)
{
    if (n > 0 && !X) return ij_error("%s: no %s features given", who, which);
    int r = n > 0 ? first_nonfinite_row(X, n, d) : -1;
    if (r >= 0) return ij_error("%s: %s features contain NaN or Inf (row %d)", who, which, r);
    return 0;
}

static int check_labels(const char *who, const char *which, const int *y, int n, int C)
{
    if (n > 0 && !y) return ij_error("%s: no %s labels given", who, which);
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= C)
            return ij_error("%s: %s label %d at row %d is outside [0, %d)", who, which, y[i], i, C);
    return 0;
}

/* ---- standardization -------------------------------------------------------------------- */

void ij_feature_stats(const float *X, int n, int d, float *mean, float *scale)
{
    IJ_ASSERT(n >= 1 && d >= 1);
    enum { CB = 64 }; /* columns per task: each column is summed by one thread, in row order */
    int nb = (d + CB - 1) / CB;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < nb; b++) {
        int j0 = b * CB, j1 = j0 + CB < d ? j0 + CB : d;
        double s[CB] = {0}, q[CB] = {0};
        for (int i = 0; i < n; i++) {
            const float *r = X + (size_t)i * d;
            for (int j = j0; j < j1; j++) s[j - j0] += r[j];
        }
        for (int j = j0; j < j1; j++) s[j - j0] /= n;
        for (int i = 0; i < n; i++) {
            const float *r = X + (size_t)i * d;
            for (int j = j0; j < j1; j++) {
                double t = r[j] - s[j - j0];
                q[j - j0] += t * t;
            }
        }
        for (int j = j0; j < j1; j++) {
            double sd = sqrt(q[j - j0] / n);
            mean[j] = (float)s[j - j0];
            scale[j] = sd >= SCALE_FLOOR ? (float)sd : 1.0f;
        }
    }
}

void ij_standardize_rows(float *X, int n, int d, const float *mean, const float *scale)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        float *r = X + (size_t)i * d;
        for (int j = 0; j < d; j++) r[j] = (r[j] - mean[j]) / scale[j];
    }
}

void ij_standardize(float *Xtr, int ntr, float *Xva, int nva, float *Xte, int nte, int d)
{
    float *mean = ij_malloc(sizeof(float) * (size_t)d), *scale = ij_malloc(sizeof(float) * (size_t)d);
    ij_feature_stats(Xtr, ntr, d, mean, scale);
    ij_standardize_rows(Xtr, ntr, d, mean, scale);
    if (Xva && nva > 0) ij_standardize_rows(Xva, nva, d, mean, scale);
    if (Xte && nte > 0) ij_standardize_rows(Xte, nte, d, mean, scale);
    free(mean);
    free(scale);
}

/* ---- L-BFGS ----------------------------------------------------------------------------- */

void ij_lbfgs_default_options(IjLbfgsOptions *o)
{
    memset(o, 0, sizeof *o);
    o->history = 10;
    o->max_iter = 300;
    o->gtol = 1e-4;
    o->ftol = 1e-10;
    o->max_ls = 30;
}

static int check_lbfgs_options(const char *who, const IjLbfgsOptions *o)
{
    if (o->history < 1 || o->history > 1000)
        return ij_error("%s: L-BFGS history %d is outside [1, 1000]", who, o->history);
    if (o->max_iter < 0) return ij_error("%s: L-BFGS max_iter %d is negative", who, o->max_iter);
    if (!(o->gtol >= 0) || !(o->ftol >= 0) || !isfinite(o->gtol) || !isfinite(o->ftol))
        return ij_error("%s: L-BFGS tolerances must be finite and >= 0", who);
    if (o->max_ls < 1) return ij_error("%s: L-BFGS max_ls %d must be >= 1", who, o->max_ls);
    return 0;
}

static double dot(const double *a, const double *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static double maxabs(const double *a, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

static int all_finite(const double *a, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(a[i])) return 0;
    return 1;
}

/* dir = -(M^{-1}) g, the steepest descent direction in the preconditioner's metric. */
static void descent_start(const IjLbfgsOptions *o, const double *g, double *dir, int n)
{
    memcpy(dir, g, sizeof(double) * (size_t)n);
    if (o->precond) o->precond(o->pctx, dir);
    for (int i = 0; i < n; i++) dir[i] = -dir[i];
}

int ij_lbfgs(IjObjective fg, void *ctx, int n, double *x, const IjLbfgsOptions *opt, IjLbfgsInfo *info)
{
    IjLbfgsOptions o;
    if (opt) o = *opt;
    else ij_lbfgs_default_options(&o);
    if (check_lbfgs_options("lbfgs", &o)) return -1;
    if (n < 1) return ij_error("lbfgs: %d parameters", n);
    const double c1 = 1e-4;
    int m = o.history;
    double *g = ij_malloc(sizeof(double) * (size_t)n), *xn = ij_malloc(sizeof(double) * (size_t)n);
    double *gn = ij_malloc(sizeof(double) * (size_t)n), *dir = ij_malloc(sizeof(double) * (size_t)n);
    double *tmp = ij_malloc(sizeof(double) * (size_t)n), *snew = ij_malloc(sizeof(double) * (size_t)n);
    double *ynew = ij_malloc(sizeof(double) * (size_t)n);
    double *S = ij_malloc(sizeof(double) * (size_t)n * (size_t)m);
    double *Y = ij_malloc(sizeof(double) * (size_t)n * (size_t)m);
    double *rho = ij_malloc(sizeof(double) * (size_t)m), *alpha = ij_malloc(sizeof(double) * (size_t)m);
    IjLbfgsInfo st = {0};
    int rc = 0;

    double f = fg(ctx, x, g);
    st.evals = 1;
    if (!isfinite(f) || !all_finite(g, n)) {
        rc = ij_error("lbfgs: the objective or its gradient is not finite at the starting point");
        goto done;
    }
    st.gmax = maxabs(g, n);
    st.status = IJ_LBFGS_MAXITER;
    if (st.gmax <= o.gtol) {
        st.status = IJ_LBFGS_GTOL;
        goto done;
    }
    int k = 0, head = 0; /* stored pairs; the slot the next pair goes to (a ring of m) */
    double gamma = 1.0;
    descent_start(&o, g, dir, n);
    while (st.iters < o.max_iter) {
        double gd = dot(g, dir, n);
        if (!(gd < 0)) { /* not a descent direction (rounding): forget the history */
            k = 0;
            descent_start(&o, g, dir, n);
            gd = dot(g, dir, n);
            if (!(gd < 0)) {
                st.status = IJ_LBFGS_LINESEARCH;
                break;
            }
        }
        /* Without curvature information or a preconditioner the scale of dir is unknown: the first
         * step has length <= 1. */
        double t = k == 0 && !o.precond ? fmin(1.0, 1.0 / sqrt(-gd)) : 1.0, fn = 0;
        int accepted = 0;
        for (int ls = 0; ls < o.max_ls; ls++) {
            for (int i = 0; i < n; i++) xn[i] = x[i] + t * dir[i];
            fn = fg(ctx, xn, gn);
            st.evals++;
            if (isfinite(fn) && fn <= f + c1 * t * gd && all_finite(gn, n)) {
                accepted = 1;
                break;
            }
            double tn = 0.1 * t;
            if (isfinite(fn)) { /* minimiser of the quadratic through f, f'(0) = gd and fn */
                double den = 2.0 * (fn - f - gd * t);
                tn = den > 0 ? -gd * t * t / den : 0.5 * t;
                tn = fmax(0.1 * t, fmin(0.5 * t, tn));
            }
            t = tn;
        }
        if (!accepted) {
            st.status = IJ_LBFGS_LINESEARCH;
            break;
        }
        st.iters++;
        /* the new pair goes to slot head (the oldest one once the ring is full) only if it is kept */
        for (int i = 0; i < n; i++) {
            snew[i] = xn[i] - x[i];
            ynew[i] = gn[i] - g[i];
        }
        double sy = dot(snew, ynew, n), yy = dot(ynew, ynew, n), ss = dot(snew, snew, n);
        if (sy > 1e-12 * sqrt(ss * yy) && yy > 0) { /* keep only pairs with positive curvature */
            double yhy = yy;
            if (o.precond) {
                memcpy(tmp, ynew, sizeof(double) * (size_t)n);
                o.precond(o.pctx, tmp);
                yhy = dot(ynew, tmp, n);
            }
            if (yhy > 0) {
                memcpy(S + (size_t)head * n, snew, sizeof(double) * (size_t)n);
                memcpy(Y + (size_t)head * n, ynew, sizeof(double) * (size_t)n);
                rho[head] = 1.0 / sy;
                gamma = sy / yhy;
                head = (head + 1) % m;
                if (k < m) k++;
            }
        }
        double fold = f;
        memcpy(x, xn, sizeof(double) * (size_t)n);
        memcpy(g, gn, sizeof(double) * (size_t)n);
        f = fn;
        st.gmax = maxabs(g, n);
        if (o.on_iter) o.on_iter(o.ctx, st.iters, f, st.gmax);
        if (st.gmax <= o.gtol) {
            st.status = IJ_LBFGS_GTOL;
            break;
        }
        if (fold - f <= o.ftol * fmax(1.0, fabs(f))) {
            st.status = IJ_LBFGS_FTOL;
            break;
        }
        if (k == 0) {
            descent_start(&o, g, dir, n);
            continue;
        }
        /* two-loop recursion: dir = -H g, newest pair first */
        memcpy(dir, g, sizeof(double) * (size_t)n);
        for (int j = 0; j < k; j++) {
            int slot = (head - 1 - j + m) % m;
            alpha[slot] = rho[slot] * dot(S + (size_t)slot * n, dir, n);
            const double *ys = Y + (size_t)slot * n;
            for (int i = 0; i < n; i++) dir[i] -= alpha[slot] * ys[i];
        }
        if (o.precond) o.precond(o.pctx, dir);
        for (int i = 0; i < n; i++) dir[i] *= gamma;
        for (int j = k - 1; j >= 0; j--) {
            int slot = (head - 1 - j + m) % m;
            double beta = rho[slot] * dot(Y + (size_t)slot * n, dir, n);
            const double *sv = S + (size_t)slot * n;
            for (int i = 0; i < n; i++) dir[i] += (alpha[slot] - beta) * sv[i];
        }
        for (int i = 0; i < n; i++) dir[i] = -dir[i];
    }
done:
    st.f = f;
    if (info) *info = st;
    free(g);
    free(xn);
    free(gn);
    free(dir);
    free(tmp);
    free(snew);
    free(ynew);
    free(S);
    free(Y);
    free(rho);
    free(alpha);
    return rc;
}

/* ---- logistic regression ---------------------------------------------------------------- */

/* Two implementations of the same loss and gradient:
 *  - reference: Z = X W^T and G = dZ^T X as two cblas_sgemm calls, softmax in between;
 *  - fused: one pass over X (OpenMP over groups of 4 rows): the 4 rows' logits, softmax and
 *    gradient contribution while the rows are in cache, W and G (per thread) staying in L2.
 * The fused pass reads X once instead of twice and keeps one thread pool busy instead of
 * alternating BLAS and OpenMP threads; on Fashion-MNIST sizes (54k x 784, C = 10) it is ~1.3x
 * faster on one core and ~1.9x on two. It is used while C * d <= FUSED_MAX_CD, where
 * W and G fit in L2; beyond that (many classes) sgemm's cache blocking wins. Per-thread gradients
 * are summed in thread order, so results are deterministic for a given thread count. */
#define FUSED_MAX_CD 65536

typedef struct {
    const float *X; /* [n, d] */
    const int *y;   /* [n] */
    int n, d, C;
    double lambda;
    int fused;
    float *W;        /* [C, d] float copy of theta's weights */
    float *Z;        /* reference: [n, C] logits, then dloss/dlogits */
    float *G;        /* reference: [C, d]; fused: [threads, C, d] */
    double *gb;      /* fused: [threads, C] bias gradients */
    double *rowloss; /* [n] */
    int threads;
} LogReg;

static void logreg_init(LogReg *L, const float *X, const int *y, int n, int d, int C, double lambda, int fused)
{
    memset(L, 0, sizeof *L);
    L->X = X;
    L->y = y;
    L->n = n;
    L->d = d;
    L->C = C;
    L->lambda = lambda;
    L->fused = fused;
    L->threads = fused ? omp_get_max_threads() : 1;
    L->W = ij_malloc(sizeof(float) * (size_t)C * d);
    L->G = ij_malloc(sizeof(float) * (size_t)L->threads * C * d);
    L->gb = ij_malloc(sizeof(double) * (size_t)L->threads * C);
    if (!fused) L->Z = ij_malloc(sizeof(float) * (size_t)n * C);
    L->rowloss = ij_malloc(sizeof(double) * (size_t)n);
}

static void logreg_free(LogReg *L)
{
    free(L->W);
    free(L->G);
    free(L->gb);
    free(L->Z);
    free(L->rowloss);
}

/* Softmax cross-entropy of one row of logits z[C] (+ b) with label y: returns the loss; with want_grad,
 * overwrites z with dloss/dz = (p - onehot(y)) * inv_n. The loss is the same either way. */
static double softmax_row(float *z, const double *b, int C, int y, double inv_n, int want_grad)
{
    double mx = -INFINITY, s = 0, zy = (double)z[y] + b[y];
    for (int c = 0; c < C; c++) mx = fmax(mx, (double)z[c] + b[c]);
    for (int c = 0; c < C; c++) { /* float exp: probabilities need no more, and it is cheaper */
        float e = expf((float)((double)z[c] + b[c] - mx));
        s += e;
        if (want_grad) z[c] = e;
    }
    if (want_grad) {
        double inv_s = 1.0 / s;
        for (int c = 0; c < C; c++) {
            double g = ((double)z[c] * inv_s - (c == y)) * inv_n;
            /* flush what would be a subnormal float: once the model is confident, subnormal operands in
             * the gradient's products slowed a whole pass down ~2x (x86 microcode assists) */
            z[c] = fabs(g) < 1e-30 ? 0.0f : (float)g;
        }
    }
    return log(s) + mx - zy;
}

/* Reference: two sgemm calls; the softmax in between is serial (an OpenMP team between two BLAS calls
 * makes the two thread pools fight over the cores). */
static void logreg_pass_ref(LogReg *L, const double *b, int want_grad)
{
    const int n = L->n, d = L->d, C = L->C;
    const double inv_n = 1.0 / n;
    /* Z[n, C] = X[n, d] W[C, d]^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, C, d, 1.0f, L->X, d, L->W, d, 0.0f, L->Z, C);
    for (int i = 0; i < n; i++) {
        float *z = L->Z + (size_t)i * C;
        L->rowloss[i] = softmax_row(z, b, C, L->y[i], inv_n, want_grad);
    }
    if (!want_grad) return;
    /* G[C, d] = dZ[n, C]^T X[n, d] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, d, n, 1.0f, L->Z, C, L->X, d, 0.0f, L->G, d);
    for (int c = 0; c < C; c++) L->gb[c] = 0;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < C; c++) L->gb[c] += L->Z[(size_t)i * C + c];
}

/* Fused: per thread, G_t[C, d] and gb_t[C] over a static share of the 4-row groups. */
static void logreg_pass_fused(LogReg *L, const double *b, int want_grad)
{
    const int n = L->n, d = L->d, C = L->C, groups = (n + 3) / 4;
    const double inv_n = 1.0 / n;
    const float *X = L->X, *W = L->W;
    int used = 1;
#pragma omp parallel
    {
        const int tid = omp_get_thread_num();
#pragma omp single
        used = omp_get_num_threads();
        float *g = L->G + (size_t)tid * C * d;
        double *gb = L->gb + (size_t)tid * C;
        if (want_grad) {
            memset(g, 0, sizeof(float) * (size_t)C * d);
            for (int c = 0; c < C; c++) gb[c] = 0;
        }
        float *zs = ij_malloc(sizeof(float) * 4 * (size_t)C); /* logits, then dz, of the group's rows */
#pragma omp for schedule(static)
        for (int gi = 0; gi < groups; gi++) {
            const int r0 = 4 * gi, nr = n - r0 < 4 ? n - r0 : 4;
            const float *x0 = X + (size_t)r0 * d, *x1 = x0 + d, *x2 = x1 + d, *x3 = x2 + d;
            for (int c = 0; c < C; c++) {
                const float *w = W + (size_t)c * d;
                if (nr == 4) {
                    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
                    for (int j = 0; j < d; j++) {
                        s0 += w[j] * x0[j];
                        s1 += w[j] * x1[j];
                        s2 += w[j] * x2[j];
                        s3 += w[j] * x3[j];
                    }
                    zs[c] = s0;
                    zs[C + c] = s1;
                    zs[2 * C + c] = s2;
                    zs[3 * C + c] = s3;
                } else {
                    for (int r = 0; r < nr; r++) {
                        const float *x = x0 + (size_t)r * d;
                        float s = 0;
#pragma omp simd reduction(+ : s)
                        for (int j = 0; j < d; j++) s += w[j] * x[j];
                        zs[r * C + c] = s;
                    }
                }
            }
            for (int r = 0; r < nr; r++) {
                float *z = zs + (size_t)r * C;
                L->rowloss[r0 + r] = softmax_row(z, b, C, L->y[r0 + r], inv_n, want_grad);
            }
            if (!want_grad) continue;
            for (int r = 0; r < nr; r++)
                for (int c = 0; c < C; c++) gb[c] += zs[r * C + c];
            for (int c = 0; c < C; c++) {
                float *gc = g + (size_t)c * d;
                if (nr == 4) {
                    const float a0 = zs[c], a1 = zs[C + c], a2 = zs[2 * C + c], a3 = zs[3 * C + c];
#pragma omp simd
                    for (int j = 0; j < d; j++) gc[j] += a0 * x0[j] + a1 * x1[j] + a2 * x2[j] + a3 * x3[j];
                } else {
                    for (int r = 0; r < nr; r++) {
                        const float a = zs[r * C + c], *x = x0 + (size_t)r * d;
#pragma omp simd
                        for (int j = 0; j < d; j++) gc[j] += a * x[j];
                    }
                }
            }
        }
        free(zs);
    }
    if (!want_grad) return;
    /* thread 0's partial sums absorb the others', in thread order */
    for (int t = 1; t < used; t++) {
        const float *gt = L->G + (size_t)t * C * d;
        for (size_t i = 0; i < (size_t)C * d; i++) L->G[i] += gt[i];
        for (int c = 0; c < C; c++) L->gb[c] += L->gb[(size_t)t * C + c];
    }
}

/* The objective for ij_lbfgs: mean cross-entropy + lambda ||W||^2 and its gradient. */
static double logreg_eval(void *ctx, const double *theta, double *grad)
{
    LogReg *L = ctx;
    const size_t CD = (size_t)L->C * L->d;
    const double *b = theta + CD;
    for (size_t i = 0; i < CD; i++) L->W[i] = (float)theta[i];
    if (L->fused) logreg_pass_fused(L, b, grad != NULL);
    else logreg_pass_ref(L, b, grad != NULL);
    double loss = 0, reg = 0;
    for (int i = 0; i < L->n; i++) loss += L->rowloss[i];
    loss /= L->n;
    for (size_t i = 0; i < CD; i++) reg += theta[i] * theta[i];
    loss += L->lambda * reg;
    if (grad) {
        for (size_t i = 0; i < CD; i++) grad[i] = (double)L->G[i] + 2.0 * L->lambda * theta[i];
        for (int c = 0; c < L->C; c++) grad[CD + c] = L->gb[c];
    }
    return loss;
}

static double logreg_loss(const float *X, const int *y, int n, int d, int C, double lambda, const double *theta,
                          double *grad, int fused)
{
    IJ_ASSERT(n >= 1 && d >= 1 && C >= 1);
    for (int i = 0; i < n; i++) IJ_ASSERT(y[i] >= 0 && y[i] < C);
    LogReg L;
    logreg_init(&L, X, y, n, d, C, lambda, fused);
    double f = logreg_eval(&L, theta, grad);
    logreg_free(&L);
    return f;
}

double ij_logreg_loss(const float *X, const int *y, int n, int d, int C, double lambda, const double *theta,
                      double *grad)
{
    return logreg_loss(X, y, n, d, C, lambda, theta, grad, (size_t)C * d <= FUSED_MAX_CD);
}

double ij_logreg_loss_ref(const float *X, const int *y, int n, int d, int C, double lambda, const double *theta,
                          double *grad)
{
    return logreg_loss(X, y, n, d, C, lambda, theta, grad, 0);
}

/* ---- preconditioner -------------------------------------------------------------------- */

/* In-place lower Cholesky factor of A[n, n] (row-major; the lower triangle is read and written):
 * right-looking, 64-column panels with BLAS for the panel solve and the trailing update.
 * Returns -1 if A is not (numerically) positive definite. */
static int cholesky(double *A, int n)
{
    enum { NB = 64 };
    for (int k = 0; k < n; k += NB) {
        int nb = n - k < NB ? n - k : NB;
        for (int j = k; j < k + nb; j++) {
            double *aj = A + (size_t)j * n;
            double s = aj[j];
            for (int p = k; p < j; p++) s -= aj[p] * aj[p];
            if (!(s > 0)) return -1;
            aj[j] = sqrt(s);
            for (int i = j + 1; i < k + nb; i++) {
                double *ai = A + (size_t)i * n, t = ai[j];
                for (int p = k; p < j; p++) t -= ai[p] * aj[p];
                ai[j] = t / aj[j];
            }
        }
        int rest = n - k - nb;
        if (rest > 0) {
            double *a11 = A + (size_t)k * n + k, *a21 = A + (size_t)(k + nb) * n + k;
            cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, rest, nb, 1.0, a11, n, a21, n);
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, rest, nb, -1.0, a21, n, 1.0, a21 + nb, n);
        }
    }
    return 0;
}

typedef struct {
    int d, C, D;  /* D = d + 1: (w_c, b_c) */
    double *Minv; /* [D, D] M^{-1}, both triangles */
    double *V;    /* [2, C, D] scratch */
} Precond;

/* v (theta layout) <- M^{-1} v, class by class on the rows V[c] = (w_c, b_c). An explicit inverse and
 * OpenMP over its rows (each streamed once for all classes) rather than BLAS triangular solves: this
 * runs twice per iteration between fused passes, where a BLAS thread pool would fight OpenMP's. */
static void precond_apply(void *ctx, double *v)
{
    Precond *P = ctx;
    const int d = P->d, C = P->C, D = P->D;
    double *V = P->V, *out = P->V + (size_t)C * D;
    for (int c = 0; c < C; c++) {
        memcpy(V + (size_t)c * D, v + (size_t)c * d, sizeof(double) * (size_t)d);
        V[(size_t)c * D + d] = v[(size_t)C * d + c];
    }
#pragma omp parallel for schedule(static)
    for (int i = 0; i < D; i++) {
        const double *m = P->Minv + (size_t)i * D;
        for (int c = 0; c < C; c++) {
            const double *vc = V + (size_t)c * D;
            double s = 0;
#pragma omp simd reduction(+ : s)
            for (int j = 0; j < D; j++) s += m[j] * vc[j];
            out[(size_t)c * D + i] = s;
        }
    }
    for (int c = 0; c < C; c++) {
        memcpy(v + (size_t)c * d, out + (size_t)c * D, sizeof(double) * (size_t)d);
        v[(size_t)C * d + c] = out[(size_t)c * D + d];
    }
}

/* M = kappa E[x' x'^T] + max(2 lambda, kappa) I_d (+ a tiny ridge), x' = (x, 1), kappa = (C - 1) / C^2
 * (the softmax curvature p (1 - p) at p = 1/C), over evenly spaced rows of X; see ij_logreg_fit.
 * M does not depend on the starting point: weighting rows by their curvature at a warm start (confident
 * rows weigh ~0) made later fits of a lambda path backtrack ~3x more often. Returns -1 (no error
 * message) when M cannot be factored; the fit then runs without it. */
static int precond_build(Precond *P, const float *X, int n, int d, int C, double lambda)
{
    const int D = d + 1;
    const double kappa = (double)(C - 1) / ((double)C * C);
    int want = 2 * d > 4096 ? 2 * d : 4096;
    int stride = n > want ? n / want : 1, m = n / stride; /* rows i * stride, i < m */
    const size_t lda = (size_t)stride * d;
    float *S = ij_malloc(sizeof(float) * (size_t)d * d);
    /* S[d, d] (lower) = kappa X_s^T X_s / m */
    cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, d, m, (float)(kappa / m), X, (int)lda, 0.0f, S, d);
    double *mean = ij_calloc((size_t)d, sizeof(double)); /* kappa E[x] */
    for (int i = 0; i < m; i++) {
        const float *r = X + (size_t)i * lda;
        for (int j = 0; j < d; j++) mean[j] += r[j];
    }
    for (int j = 0; j < d; j++) mean[j] *= kappa / m;
    const double ew = kappa;

    P->d = d;
    P->C = C;
    P->D = D;
    double *M = ij_malloc(sizeof(double) * (size_t)D * D);
    double trace = ew;
    /* The penalty on W, floored at kappa (the diagonal of kappa E[x x^T] for standardized features): with
     * a small lambda, M^{-1} would otherwise trust the sampled second moment's smallest directions, where
     * the subsample and the frozen curvature are least accurate (measured: the floor reaches a given
     * loss in ~3x fewer iterations than lambda alone or no preconditioner on Fashion-MNIST pixels). */
    double pen = fmax(2 * lambda, ew);
    for (int j = 0; j < d; j++) trace += S[(size_t)j * d + j] + pen;
    int rc = -1;
    for (double ridge = 1e-10 * trace / D; rc && ridge < trace; ridge *= 1000) {
        for (int i = 0; i < d; i++) {
            for (int j = 0; j <= i; j++) M[(size_t)i * D + j] = S[(size_t)i * d + j];
            M[(size_t)i * D + i] += pen + ridge;
        }
        for (int j = 0; j < d; j++) M[(size_t)d * D + j] = mean[j];
        M[(size_t)d * D + d] = ew + ridge;
        rc = cholesky(M, D);
    }
    free(S);
    free(mean);
    if (rc) {
        free(M);
        return -1;
    }
    /* M^{-1} = L^-T L^-1: Linv from L X = I, then its Gram matrix (lower), mirrored */
    double *Linv = ij_calloc((size_t)D * D, sizeof(double));
    for (int i = 0; i < D; i++) Linv[(size_t)i * D + i] = 1;
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, D, D, 1.0, M, D, Linv, D);
    P->Minv = M; /* L is no longer needed */
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, D, D, 1.0, Linv, D, 0.0, P->Minv, D);
    for (int i = 0; i < D; i++)
        for (int j = i + 1; j < D; j++) P->Minv[(size_t)i * D + j] = P->Minv[(size_t)j * D + i];
    free(Linv);
    P->V = ij_malloc(sizeof(double) * 2 * (size_t)C * D);
    return 0;
}

int ij_logreg_fit(const float *X, const int *y, int n, int d, int C, double lambda, double *theta,
                  const IjLbfgsOptions *opt, int precondition, IjLbfgsInfo *info)
{
    if (n < 1 || d < 1 || C < 2)
        return ij_error("logistic regression: need n >= 1, d >= 1, C >= 2 (got %d, %d, %d)", n, d, C);
    if (!(lambda >= 0) || !isfinite(lambda))
        return ij_error("logistic regression: lambda %g must be finite and >= 0", lambda);
    if (check_labels("logistic regression", "training", y, n, C)) return -1;
    IjLbfgsOptions o;
    if (opt) o = *opt;
    else ij_lbfgs_default_options(&o);
    o.precond = NULL;
    /* A warm start from a nearby lambda has a gradient of only 2 (lambda' - lambda) W, which a fixed
     * tolerance would take for convergence; with strong convexity 2 lambda, |g| <= 0.2 lambda keeps the
     * weights within ~0.1 of the optimum. */
    if (lambda > 0) o.gtol = fmin(o.gtol, 0.2 * lambda);
    Precond P = {0};
    if (precondition && precond_build(&P, X, n, d, C, lambda) == 0) {
        o.precond = precond_apply;
        o.pctx = &P;
    }
    LogReg L;
    logreg_init(&L, X, y, n, d, C, lambda, (size_t)C * d <= FUSED_MAX_CD);
    int rc = ij_lbfgs(logreg_eval, &L, ij_logreg_nparams(d, C), theta, &o, info);
    logreg_free(&L);
    free(P.Minv);
    free(P.V);
    return rc;
}

void ij_logreg_predict(const float *X, int n, int d, int C, const double *theta, int *pred)
{
    const size_t CD = (size_t)C * d;
    float *W = ij_malloc(sizeof(float) * CD);
    for (size_t i = 0; i < CD; i++) W[i] = (float)theta[i];
    const double *b = theta + CD;
    int blk = n < PREDICT_BLOCK ? n : PREDICT_BLOCK;
    float *Z = ij_malloc(sizeof(float) * (size_t)(blk > 0 ? blk : 1) * C);
    for (int r0 = 0; r0 < n; r0 += blk) {
        int nb = n - r0 < blk ? n - r0 : blk;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, C, d, 1.0f, X + (size_t)r0 * d, d, W, d, 0.0f, Z,
                    C);
        for (int i = 0; i < nb; i++) {
            const float *z = Z + (size_t)i * C;
            int best = 0;
            double bv = (double)z[0] + b[0];
            for (int c = 1; c < C; c++)
                if ((double)z[c] + b[c] > bv) bv = (double)z[c] + b[c], best = c;
            pred[r0 + i] = best;
        }
    }
    free(W);
    free(Z);
}

/* Accuracy of theta on X[n, d] (standardized on the fly with mean/scale unless mean is NULL). */
static double accuracy(const float *X, const int *y, int n, int d, int C, const double *theta, const float *mean,
                       const float *scale)
{
    if (n == 0) return 0;
    int blk = n < PREDICT_BLOCK ? n : PREDICT_BLOCK;
    int *pred = ij_malloc(sizeof(int) * (size_t)blk);
    float *buf = mean ? ij_malloc(sizeof(float) * (size_t)blk * d) : NULL;
    long correct = 0;
    for (int r0 = 0; r0 < n; r0 += blk) {
        int nb = n - r0 < blk ? n - r0 : blk;
        const float *src = X + (size_t)r0 * d;
        if (mean) {
            memcpy(buf, src, sizeof(float) * (size_t)nb * d);
            ij_standardize_rows(buf, nb, d, mean, scale);
            src = buf;
        }
        ij_logreg_predict(src, nb, d, C, theta, pred);
        for (int i = 0; i < nb; i++) correct += pred[i] == y[r0 + i];
    }
    free(pred);
    free(buf);
    return (double)correct / n;
}

/* ---- splits and subsets ----------------------------------------------------------------- */

/* Row indices grouped by class: order[start[c] .. start[c+1]) are class c's rows, increasing. */
static void group_by_class(const int *labels, int n, int C, int *order, int *start)
{
    memset(start, 0, sizeof(int) * (size_t)(C + 1));
    for (int i = 0; i < n; i++) start[labels[i] + 1]++;
    for (int c = 0; c < C; c++) start[c + 1] += start[c];
    int *fill = ij_malloc(sizeof(int) * (size_t)C);
    memcpy(fill, start, sizeof(int) * (size_t)C);
    for (int i = 0; i < n; i++) order[fill[labels[i]]++] = i;
    free(fill);
}

/* Moves k randomly chosen entries of a[0..cnt) to the front (partial Fisher-Yates). */
static void pick_front(int *a, int cnt, int k, uint64_t seed, uint64_t purpose, int c)
{
    IjRng r = ij_rng(seed, purpose, (uint64_t)c);
    for (int j = 0; j < k; j++) {
        int p = j + (int)ij_rng_below(&r, (uint64_t)(cnt - j));
        int t = a[j];
        a[j] = a[p];
        a[p] = t;
    }
}

static int round_count(double fraction, int cnt) { return (int)floor(fraction * cnt + 0.5); }

int ij_stratified_split(const int *labels, int n, int C, double fraction, uint64_t seed, int *fit_idx, int *nfit,
                        int *val_idx, int *nval)
{
    if (n < 0 || C < 1) return ij_error("stratified split: invalid sizes n=%d C=%d", n, C);
    if (!(fraction > 0 && fraction < 1))
        return ij_error("stratified split: validation fraction %g is not in (0, 1)", fraction);
    if (check_labels("stratified split", "training", labels, n, C)) return -1;
    int *order = ij_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1)), *start = ij_malloc(sizeof(int) * (size_t)(C + 1));
    unsigned char *is_val = ij_calloc((size_t)(n > 0 ? n : 1), 1);
    group_by_class(labels, n, C, order, start);
    for (int c = 0; c < C; c++) {
        int cnt = start[c + 1] - start[c], k = 0;
        if (cnt >= 2) {
            k = round_count(fraction, cnt);
            k = k < 1 ? 1 : k > cnt - 1 ? cnt - 1 : k;
        }
        pick_front(order + start[c], cnt, k, seed, PURPOSE_VAL_SPLIT, c);
        for (int j = 0; j < k; j++) is_val[order[start[c] + j]] = 1;
    }
    *nfit = *nval = 0;
    for (int i = 0; i < n; i++) {
        if (is_val[i]) val_idx[(*nval)++] = i;
        else fit_idx[(*nfit)++] = i;
    }
    free(order);
    free(start);
    free(is_val);
    return 0;
}

int ij_lowshot_subset(const int *labels, int n, int C, double fraction, uint64_t seed, int *out_idx)
{
    if (n < 0 || C < 1) return ij_error("low-shot subset: invalid sizes n=%d C=%d", n, C);
    if (!(fraction > 0 && fraction <= 1))
        return ij_error("low-shot subset: fraction %g is not in (0, 1]", fraction);
    if (check_labels("low-shot subset", "training", labels, n, C)) return -1;
    int *order = ij_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1)), *start = ij_malloc(sizeof(int) * (size_t)(C + 1));
    unsigned char *keep = ij_calloc((size_t)(n > 0 ? n : 1), 1);
    group_by_class(labels, n, C, order, start);
    for (int c = 0; c < C; c++) {
        int cnt = start[c + 1] - start[c];
        if (cnt == 0) continue;
        int k = round_count(fraction, cnt);
        k = k < 1 ? 1 : k > cnt ? cnt : k;
        pick_front(order + start[c], cnt, k, seed, PURPOSE_LOWSHOT, c);
        for (int j = 0; j < k; j++) keep[order[start[c] + j]] = 1;
    }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (keep[i]) out_idx[m++] = i;
    free(order);
    free(start);
    free(keep);
    return m;
}

/* ---- linear probe ----------------------------------------------------------------------- */

void ij_probe_default_options(IjProbeOptions *o)
{
    memset(o, 0, sizeof *o);
    o->val_fraction = 0.1;
    o->seed = 0;
    o->nlambdas = 0;
    o->standardize = 1;
    o->precondition = 1;
    ij_lbfgs_default_options(&o->lbfgs);
}

typedef struct {
    const IjProbeOptions *o;
    int fit, nfits; /* which fit of how many */
    double lambda;
    int max_iter;
} ProbeProgress;

static void probe_on_iter(void *ctx, int iter, double f, double gmax)
{
    ProbeProgress *p = ctx;
    char what[160];
    if (p->fit < p->nfits - 1)
        snprintf(what, sizeof what, "linear probe: lambda %.0e (%d/%d), iteration %d, loss %.4f", p->lambda,
                 p->fit + 1, p->nfits - 1, iter, f);
    else snprintf(what, sizeof what, "linear probe: refit, lambda %.0e, iteration %d, loss %.4f", p->lambda, iter, f);
    double within = p->max_iter > 0 ? (double)iter / p->max_iter : 1.0;
    p->o->progress(p->o->progress_ctx, what, (p->fit + fmin(1.0, within)) / p->nfits);
}

/* Rows idx[0..m) of X[., d] into dst[m, d]. */
static void gather_rows(float *dst, const float *X, const int *idx, int m, int d)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < m; i++) memcpy(dst + (size_t)i * d, X + (size_t)idx[i] * d, sizeof(float) * (size_t)d);
}

int ij_linear_probe(const float *Xtr, const int *ytr, int ntr, const float *Xte, const int *yte, int nte, int d,
                    int C, const IjProbeOptions *opt, IjProbeResult *res)
{
    const char *who = "linear probe";
    IjProbeOptions o;
    if (opt) o = *opt;
    else ij_probe_default_options(&o);
    memset(res, 0, sizeof *res);
    if (ntr < 2 || nte < 0 || d < 1 || C < 2)
        return ij_error("%s: need at least 2 training rows, 1 feature and 2 classes (got %d rows, %d features, "
                        "%d classes)",
                        who, ntr, d, C);
    if ((size_t)ntr * d > SIZE_MAX / sizeof(float) / 2) return ij_error("%s: training set is too large", who);
    if (!(o.val_fraction > 0 && o.val_fraction < 1))
        return ij_error("%s: validation fraction %g is not in (0, 1)", who, o.val_fraction);
    if (o.nlambdas < 0 || o.nlambdas > IJ_PROBE_MAX_LAMBDAS)
        return ij_error("%s: %d lambdas (at most %d)", who, o.nlambdas, IJ_PROBE_MAX_LAMBDAS);
    if (check_lbfgs_options(who, &o.lbfgs)) return -1;
    o.lbfgs.on_iter = NULL;
    double grid[IJ_PROBE_MAX_LAMBDAS];
    int nl = o.nlambdas ? o.nlambdas : (int)(sizeof default_lambdas / sizeof *default_lambdas);
    for (int i = 0; i < nl; i++) {
        grid[i] = o.nlambdas ? o.lambdas[i] : default_lambdas[i];
        if (!(grid[i] >= 0) || !isfinite(grid[i]))
            return ij_error("%s: lambda %g must be finite and >= 0", who, grid[i]);
    }
    /* descending: a regularisation path, each fit warm-started from the previous, stronger one */
    for (int i = 1; i < nl; i++)
        for (int j = i; j > 0 && grid[j] > grid[j - 1]; j--) {
            double t = grid[j];
            grid[j] = grid[j - 1];
            grid[j - 1] = t;
        }
    if (check_labels(who, "training", ytr, ntr, C) || check_labels(who, "test", yte, nte, C) ||
        check_features(who, "training", Xtr, ntr, d) || check_features(who, "test", Xte, nte, d))
        return -1;

    int *fit_idx = ij_malloc(sizeof(int) * (size_t)ntr), *val_idx = ij_malloc(sizeof(int) * (size_t)ntr);
    int nfit, nval;
    if (ij_stratified_split(ytr, ntr, C, o.val_fraction, o.seed, fit_idx, &nfit, val_idx, &nval)) {
        free(fit_idx);
        free(val_idx);
        return -1;
    }
    if (nval == 0) {
        free(fit_idx);
        free(val_idx);
        return ij_error("%s: no class has 2 training rows, so no validation split can be held out", who);
    }
    const int P = ij_logreg_nparams(d, C);
    float *B = ij_malloc(sizeof(float) * (size_t)ntr * d); /* fit rows, then validation rows */
    int *yb = ij_malloc(sizeof(int) * (size_t)ntr);
    float *mean = NULL, *scale = NULL;
    double *theta = ij_calloc((size_t)P, sizeof(double)), *best = ij_calloc((size_t)P, sizeof(double));
    gather_rows(B, Xtr, fit_idx, nfit, d);
    gather_rows(B + (size_t)nfit * d, Xtr, val_idx, nval, d);
    for (int i = 0; i < nfit; i++) yb[i] = ytr[fit_idx[i]];
    for (int i = 0; i < nval; i++) yb[nfit + i] = ytr[val_idx[i]];
    if (o.standardize) {
        mean = ij_malloc(sizeof(float) * (size_t)d);
        scale = ij_malloc(sizeof(float) * (size_t)d);
        ij_feature_stats(B, nfit, d, mean, scale);
        ij_standardize_rows(B, ntr, d, mean, scale);
    }

    ProbeProgress pp = {&o, 0, nl + 1, 0, o.lbfgs.max_iter};
    if (o.progress) {
        o.lbfgs.on_iter = probe_on_iter;
        o.lbfgs.ctx = &pp;
    }
    IjLbfgsInfo info;
    int rc = 0, best_k = -1;
    double best_acc = -1;
    res->nlambdas = nl;
    for (int k = 0; k < nl && rc == 0; k++) {
        pp.fit = k;
        pp.lambda = grid[k];
        rc = ij_logreg_fit(B, yb, nfit, d, C, grid[k], theta, &o.lbfgs, o.precondition, &info);
        if (rc) break;
        double acc = accuracy(B + (size_t)nfit * d, yb + nfit, nval, d, C, theta, NULL, NULL);
        res->lambdas[k] = grid[k];
        res->val_accs[k] = acc;
        if (acc > best_acc) { /* ties keep the larger lambda (tried first) */
            best_acc = acc;
            best_k = k;
            memcpy(best, theta, sizeof(double) * (size_t)P);
        }
    }
    if (rc == 0) {
        /* refit on the whole training set, warm-started from the chosen model */
        memcpy(B, Xtr, sizeof(float) * (size_t)ntr * d);
        if (o.standardize) {
            ij_feature_stats(B, ntr, d, mean, scale);
            ij_standardize_rows(B, ntr, d, mean, scale);
        }
        pp.fit = nl;
        pp.lambda = grid[best_k];
        rc = ij_logreg_fit(B, ytr, ntr, d, C, grid[best_k], best, &o.lbfgs, o.precondition, &info);
    }
    if (rc == 0) {
        res->lambda = grid[best_k];
        res->val_acc = best_acc;
        res->ntrain = ntr;
        res->nfit = nfit;
        res->nval = nval;
        res->ntest = nte;
        res->iters = info.iters;
        res->status = info.status;
        res->loss = info.f;
        res->train_acc = accuracy(B, ytr, ntr, d, C, best, NULL, NULL);
        /* the test set is used here and only here */
        res->test_acc = accuracy(Xte, yte, nte, d, C, best, mean, scale);
        if (o.progress) o.progress(o.progress_ctx, "linear probe: done", 1.0);
    }
    free(fit_idx);
    free(val_idx);
    free(B);
    free(yb);
    free(mean);
    free(scale);
    free(theta);
    free(best);
    return rc;
}

int ij_lowshot_probe(const float *Xtr, const int *ytr, int ntr, const float *Xte, const int *yte, int nte, int d,
                     int C, double fraction, const IjProbeOptions *opt, IjProbeResult *res)
{
    IjProbeOptions o;
    if (opt) o = *opt;
    else ij_probe_default_options(&o);
    memset(res, 0, sizeof *res);
    if (ntr < 1 || d < 1) return ij_error("low-shot probe: no training rows or features");
    if (!Xtr) return ij_error("low-shot probe: no training features given");
    int *idx = ij_malloc(sizeof(int) * (size_t)ntr);
    int m = ij_lowshot_subset(ytr, ntr, C, fraction, o.seed, idx);
    if (m < 0) {
        free(idx);
        return -1;
    }
    float *X = ij_malloc(sizeof(float) * (size_t)m * d);
    int *y = ij_malloc(sizeof(int) * (size_t)(m > 0 ? m : 1));
    gather_rows(X, Xtr, idx, m, d);
    for (int i = 0; i < m; i++) y[i] = ytr[idx[i]];
    int rc = ij_linear_probe(X, y, m, Xte, yte, nte, d, C, &o, res);
    free(idx);
    free(X);
    free(y);
    return rc;
}

/* ---- k-NN ------------------------------------------------------------------------------- */

void ij_knn_default_options(IjKnnOptions *o)
{
    memset(o, 0, sizeof *o);
    o->k = 20;
    o->temperature = 0.07;
    o->block_rows = 0;
}

/* 1/||row|| for each row of X[n, d] (0 for an all-zero row), in double. */
static void inverse_norms(const float *X, int n, int d, float *inv)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        const float *r = X + (size_t)i * d;
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)r[j] * r[j];
        inv[i] = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
    }
}

int ij_knn_predict(const float *Xtr, const int *ytr, int ntr, const float *Xq, int nq, int d, int C,
                   const IjKnnOptions *opt, int *pred_knn, int *pred_1nn)
{
    const char *who = "k-NN";
    IjKnnOptions o;
    if (opt) o = *opt;
    else ij_knn_default_options(&o);
    if (ntr < 1 || nq < 0 || d < 1 || C < 1)
        return ij_error("%s: need training rows, features and classes (got %d rows, %d features, %d classes)", who,
                        ntr, d, C);
    if (o.k < 1) return ij_error("%s: k = %d must be >= 1", who, o.k);
    if (!(o.temperature > 0) || !isfinite(o.temperature))
        return ij_error("%s: temperature %g must be finite and > 0", who, o.temperature);
    if (o.block_rows < 0) return ij_error("%s: block_rows %d is negative", who, o.block_rows);
    if (check_labels(who, "training", ytr, ntr, C) || check_features(who, "training", Xtr, ntr, d) ||
        check_features(who, "query", Xq, nq, d))
        return -1;
    if (nq == 0) return 0;
    const int k = o.k < ntr ? o.k : ntr;
    int blk = o.block_rows;
    if (blk == 0) {
        size_t rows = KNN_BLOCK_BYTES / ((size_t)ntr * sizeof(float));
        blk = rows < 1 ? 1 : rows > 1024 ? 1024 : (int)rows;
    }
    if (blk > nq) blk = nq;
    const double invT = 1.0 / o.temperature;
    float *inv_tr = ij_malloc(sizeof(float) * (size_t)ntr), *inv_q = ij_malloc(sizeof(float) * (size_t)nq);
    inverse_norms(Xtr, ntr, d, inv_tr);
    inverse_norms(Xq, nq, d, inv_q);
    float *S = ij_malloc(sizeof(float) * (size_t)blk * ntr);
    float *topv = ij_malloc(sizeof(float) * (size_t)blk * k);
    int *topi = ij_malloc(sizeof(int) * (size_t)blk * k);
    double *votes = ij_malloc(sizeof(double) * (size_t)blk * C);
    for (int q0 = 0; q0 < nq; q0 += blk) {
        int nb = nq - q0 < blk ? nq - q0 : blk;
        /* S[nb, ntr] = Xq[q0 .. q0+nb) Xtr^T (raw dot products; normalised in the scan) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, ntr, d, 1.0f, Xq + (size_t)q0 * d, d, Xtr, d, 0.0f,
                    S, ntr);
#pragma omp parallel for schedule(static)
        for (int r = 0; r < nb; r++) {
            const float *s = S + (size_t)r * ntr;
            const float iq = inv_q[q0 + r];
            float *tv = topv + (size_t)r * k;
            int *ti = topi + (size_t)r * k;
            int m = 0; /* sorted descending; equal similarities keep the lower index first */
            for (int j = 0; j < ntr; j++) {
                float v = s[j] * iq * inv_tr[j];
                if (m == k && !(v > tv[k - 1])) continue;
                int p = m < k ? m++ : k - 1;
                while (p > 0 && v > tv[p - 1]) {
                    tv[p] = tv[p - 1];
                    ti[p] = ti[p - 1];
                    p--;
                }
                tv[p] = v;
                ti[p] = j;
            }
            if (pred_1nn) pred_1nn[q0 + r] = ytr[ti[0]];
            if (pred_knn) {
                double *w = votes + (size_t)r * C;
                for (int c = 0; c < C; c++) w[c] = 0;
                /* exp(sim/T) relative to the top similarity: same argmax, no overflow for small T */
                for (int j = 0; j < m; j++) w[ytr[ti[j]]] += exp(((double)tv[j] - tv[0]) * invT);
                int best = 0;
                for (int c = 1; c < C; c++)
                    if (w[c] > w[best]) best = c;
                pred_knn[q0 + r] = best;
            }
        }
        if (o.progress) o.progress(o.progress_ctx, "k-NN", (double)(q0 + nb) / nq);
    }
    free(inv_tr);
    free(inv_q);
    free(S);
    free(topv);
    free(topi);
    free(votes);
    return 0;
}

int ij_knn(const float *Xtr, const int *ytr, int ntr, const float *Xte, const int *yte, int nte, int d, int C,
           const IjKnnOptions *opt, IjKnnResult *res)
{
    IjKnnOptions o;
    if (opt) o = *opt;
    else ij_knn_default_options(&o);
    memset(res, 0, sizeof *res);
    if (check_labels("k-NN", "test", yte, nte, C)) return -1;
    size_t np = (size_t)(nte > 0 ? nte : 1);
    int *pk = ij_malloc(sizeof(int) * np), *p1 = ij_malloc(sizeof(int) * np);
    int rc = ij_knn_predict(Xtr, ytr, ntr, Xte, nte, d, C, &o, pk, p1);
    if (rc == 0) {
        long ck = 0, c1 = 0;
        for (int i = 0; i < nte; i++) {
            ck += pk[i] == yte[i];
            c1 += p1[i] == yte[i];
        }
        res->acc_knn = nte ? (double)ck / nte : 0;
        res->acc_1nn = nte ? (double)c1 / nte : 0;
        res->k = o.k < ntr ? o.k : ntr;
    }
    free(pk);
    free(p1);
    return rc;
}
