/* probe.c: the linear probe protocol (standardize, choose lambda on a validation split of the
 * training set, refit, score the test set once) and its low-shot variant; see probe.h.
 *
 * Costs on Fashion-MNIST pixels (54k x 784, 10 classes, 2 cores): one loss+gradient is one fused pass
 * over the features (~25 ms; the two-sgemm reference ~48 ms); the whole probe (6 lambdas + refit,
 * ~1000 iterations, the small lambdas stopping at max_iter) ~30 s.
 * Assumes the training features fit in memory twice (the probe works on a gathered, standardized copy).
 */
#include "eval/probe.h"

#include "core/error.h"
#include "eval/inputs.h"
#include "eval/linear_head.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCALE_FLOOR 1e-6     /* below this std a feature is only centred */
#define ACCURACY_BLOCK 4096  /* rows per block when scoring */

static const double default_lambdas[] = {1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6};

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

/* Accuracy of theta on X[n, d] (standardized on the fly with mean/scale unless mean is NULL). */
static double accuracy(const float *X, const int *y, int n, int d, int C, const double *theta, const float *mean,
                       const float *scale)
{
    if (n == 0) return 0;
    int blk = n < ACCURACY_BLOCK ? n : ACCURACY_BLOCK;
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
    if (ij_lbfgs_check_options(who, &o.lbfgs)) return -1;
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
    if (ij_check_labels(who, "training", ytr, ntr, C) || ij_check_labels(who, "test", yte, nte, C) ||
        ij_check_features(who, "training", Xtr, ntr, d) || ij_check_features(who, "test", Xte, nte, d))
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
    ij_gather_rows(B, Xtr, fit_idx, nfit, d);
    ij_gather_rows(B + (size_t)nfit * d, Xtr, val_idx, nval, d);
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
        if (o.head) ij_linear_head_set(o.head, d, C, best, mean, scale, res->lambda);
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
    int *y = ij_malloc(sizeof(int) * (size_t)(m > 0 ? m : 1)), *count = ij_calloc((size_t)C, sizeof(int));
    int splittable = 0;
    for (int i = 0; i < m; i++) {
        y[i] = ytr[idx[i]];
        splittable |= ++count[y[i]] >= 2;
    }
    free(count);
    if (!splittable) {
        res->left_out = 1;
        res->ntrain = m;
        free(idx);
        free(y);
        return 0;
    }
    float *X = ij_malloc(sizeof(float) * (size_t)m * d);
    ij_gather_rows(X, Xtr, idx, m, d);
    int rc = ij_linear_probe(X, y, m, Xte, yte, nte, d, C, &o, res);
    free(idx);
    free(X);
    free(y);
    return rc;
}
