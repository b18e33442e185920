/* probe.h: evaluation of frozen features: linear probe, k-NN, low-shot subsets.
 *
 * Features are float32 row-major [n, d]; labels are ints in [0, C).
 *
 * Linear probe: features standardized with statistics of the training rows only, then
 * multinomial logistic regression (mean cross-entropy + lambda * ||W||^2, bias not penalised)
 * trained by full-batch preconditioned L-BFGS, over the grid lambda = 1e-1 .. 1e-6 (one per
 * decade, largest first, each fit warm-started from the previous one). lambda is chosen on a
 * class-stratified validation split carved from the TRAINING set; the model is then refit on the
 * whole training set with that lambda and evaluated once on the test set. The test set plays no part in any choice.
 *
 * k-NN (DINO protocol): cosine similarity, the k most similar training rows vote with weight
 * exp(sim / T) per class, argmax; 1-NN accuracy is reported beside it.
 *
 * Everything is deterministic for a given seed and thread count: OpenMP only over independent
 * rows, reductions in a fixed order, BLAS never called from inside an OpenMP region. Nothing here
 * prints; long calls report through an optional progress callback.
 */
#ifndef IJEPA_EVAL_PROBE_H
#define IJEPA_EVAL_PROBE_H

#include "core/progress.h"

#include <stdint.h>

/* ---- standardization ------------------------------------------------------------------- */

/* Per-feature mean and scale of X[n, d] (computed in double). scale = standard deviation, or 1
 * where that is below 1e-6 (a constant feature is only centred). n >= 1. */
void ij_feature_stats(const float *X, int n, int d, float *mean, float *scale);
/* X[i, j] = (X[i, j] - mean[j]) / scale[j], in place. */
void ij_standardize_rows(float *X, int n, int d, const float *mean, const float *scale);
/* Statistics of the training rows Xtr[ntr, d] applied to Xtr, Xva[nva, d] and Xte[nte, d]
 * (either of the latter may be NULL with 0 rows). ntr >= 1. */
void ij_standardize(float *Xtr, int ntr, float *Xva, int nva, float *Xte, int nte, int d);

/* ---- L-BFGS ---------------------------------------------------------------------------- */

typedef struct {
    int history;      /* pairs (s, y) kept: 10 */
    int max_iter;     /* 300 */
    double gtol;      /* stop when max |g_i| <= gtol: 1e-4 (ij_logreg_fit: min(gtol, 0.2 lambda)) */
    double ftol;      /* stop when (f_old - f) <= ftol * max(1, |f|) over one iteration: 1e-10 */
    int max_ls;       /* function evaluations per line search: 30 */
    /* Called after every iteration (may be NULL). */
    void (*on_iter)(void *ctx, int iter, double f, double gmax);
    void *ctx;
    /* Optional preconditioner: v <- M^{-1} v in place, M symmetric positive definite and close to the
     * Hessian; the initial inverse Hessian becomes gamma M^{-1}. NULL: M = I. */
    void (*precond)(void *pctx, double *v);
    void *pctx;
} IjLbfgsOptions;

typedef enum {
    IJ_LBFGS_GTOL = 0,      /* gradient small enough */
    IJ_LBFGS_FTOL = 1,      /* no more progress in f */
    IJ_LBFGS_MAXITER = 2,   /* iteration budget used up */
    IJ_LBFGS_LINESEARCH = 3 /* no step decreased f (the objective's rounding noise was reached) */
} IjLbfgsStatus;

typedef struct {
    int iters, evals;
    double f, gmax;   /* at the returned x */
    IjLbfgsStatus status;
} IjLbfgsInfo;

void ij_lbfgs_default_options(IjLbfgsOptions *o);
/* f(x) and its gradient g (n doubles); returns f. */
typedef double (*IjObjective)(void *ctx, const double *x, double *g);
/* Minimises fg from x (n entries, updated in place) with L-BFGS: two-loop recursion, initial inverse
 * Hessian gamma M^{-1} with gamma = s'y / y'M^{-1}y, backtracking Armijo line search (c1 = 1e-4,
 * safeguarded quadratic interpolation; first step 1/||g|| without history or preconditioner, 1
 * otherwise); pairs with s'y <= 1e-12 ||s|| ||y|| are not stored. Returns 0 (any status; see info),
 * or -1 with an error when f or g is not finite at the starting point or the options are invalid. */
int ij_lbfgs(IjObjective fg, void *ctx, int n, double *x, const IjLbfgsOptions *opt, IjLbfgsInfo *info);

/* ---- multinomial logistic regression ---------------------------------------------------- */

/* theta = [W (C x d, row-major) | b (C)], ij_logreg_nparams(d, C) = C * d + C doubles.
 * Logits z_i = W x_i + b and the gradient's products in float; softmax, loss and bias sums in double. */
static inline int ij_logreg_nparams(int d, int C) { return C * d + C; }

/* Mean cross-entropy over X[n, d], y[n] plus lambda * ||W||^2; its gradient into grad (may be NULL).
 * One fused pass over X (OpenMP over rows) while C * d <= 65536, else the reference. */
double ij_logreg_loss(const float *X, const int *y, int n, int d, int C, double lambda, const double *theta,
                      double *grad);
/* The same through two cblas_sgemm calls (the plain reference the fused pass is tested against). */
double ij_logreg_loss_ref(const float *X, const int *y, int n, int d, int C, double lambda, const double *theta,
                          double *grad);
/* Minimises ij_logreg_loss from theta (the initial point, e.g. zeros or a warm start). opt may be NULL
 * for the defaults (its precond is ignored); info may be NULL. precondition = 1 uses, for each class's
 * (w_c, b_c), the preconditioner M = kappa E[x' x'^T] + max(2 lambda, kappa) I (I on w_c only),
 * x' = (x, 1), kappa = (C - 1) / C^2: the block-diagonal Gauss-Newton matrix at p = 1/C, from up to
 * max(4096, 2d) evenly spaced rows, its smallest directions damped. It makes correlated features
 * (raw pixels) several times cheaper.
 * The gradient tolerance is min(opt->gtol, 0.2 lambda), so that a warm start from a nearby lambda
 * (gradient 2 (lambda' - lambda) W) is not taken for convergence.
 * Returns 0, or -1 with an error. */
int ij_logreg_fit(const float *X, const int *y, int n, int d, int C, double lambda, double *theta,
                  const IjLbfgsOptions *opt, int precondition, IjLbfgsInfo *info);
/* argmax_c of the logits of each row (lowest class on ties) into pred[n]. */
void ij_logreg_predict(const float *X, int n, int d, int C, const double *theta, int *pred);

/* ---- linear probe --------------------------------------------------------------------- */

#define IJ_PROBE_MAX_LAMBDAS 32

typedef struct {
    double val_fraction;   /* share of each class held out for lambda selection: 0.1 */
    uint64_t seed;         /* validation split (and low-shot subset): 0 */
    int nlambdas;          /* 0: the default grid 1e-1, 1e-2, ..., 1e-6 */
    double lambdas[IJ_PROBE_MAX_LAMBDAS];
    int standardize;       /* 1: standardize features with training statistics */
    int precondition;      /* 1: preconditioned L-BFGS (see ij_logreg_fit) */
    IjLbfgsOptions lbfgs;  /* defaults of ij_lbfgs_default_options (on_iter is ignored) */
    IjProgress progress;   /* may be NULL */
    void *progress_ctx;
} IjProbeOptions;

typedef struct {
    double lambda;                                  /* chosen */
    double train_acc, val_acc, test_acc;            /* in [0, 1]; val_acc of the chosen lambda */
    int nlambdas;                                   /* the grid, in the order it was tried (descending) */
    double lambdas[IJ_PROBE_MAX_LAMBDAS], val_accs[IJ_PROBE_MAX_LAMBDAS];
    int ntrain, nfit, nval, ntest;                  /* nfit + nval = ntrain */
    int iters;                                      /* L-BFGS iterations of the final fit */
    IjLbfgsStatus status;                           /* and how it stopped */
    double loss;                                    /* its final objective */
} IjProbeResult;

void ij_probe_default_options(IjProbeOptions *o);

/* Splits each class of labels[n] at random (from seed) into a validation part of round(fraction *
 * count) rows -- at least 1 and at most count - 1 when the class has 2 or more rows, none when it
 * has 1 -- and a fit part. fit_idx and val_idx (n ints each) receive sorted indices; returns 0 and
 * sets *nfit, *nval, or -1 with an error (label out of range, fraction not in (0, 1)). */
int ij_stratified_split(const int *labels, int n, int C, double fraction, uint64_t seed, int *fit_idx, int *nfit,
                        int *val_idx, int *nval);

/* The linear probe described at the top. opt may be NULL for the defaults. Returns 0 and fills res,
 * or -1 with an error (bad sizes, labels out of range, non-finite features, empty validation split). */
int ij_linear_probe(const float *Xtr, const int *ytr, int ntr, const float *Xte, const int *yte, int nte, int d,
                    int C, const IjProbeOptions *opt, IjProbeResult *res);

/* ---- low-shot ------------------------------------------------------------------------- */

/* A class-balanced subset of labels[n]: from each class c with count_c rows, max(1, round(fraction *
 * count_c)) rows (all of them when that exceeds count_c), chosen at random from seed. Writes the
 * sorted indices to out_idx (room for n) and returns their number, or -1 with an error. */
int ij_lowshot_subset(const int *labels, int n, int C, double fraction, uint64_t seed, int *out_idx);
/* ij_linear_probe trained on ij_lowshot_subset(ytr, ..., fraction, opt->seed) only (its validation
 * split carved from that subset), evaluated on the whole test set. res->ntrain = subset size. */
int ij_lowshot_probe(const float *Xtr, const int *ytr, int ntr, const float *Xte, const int *yte, int nte, int d,
                     int C, double fraction, const IjProbeOptions *opt, IjProbeResult *res);

/* ---- k-NN ----------------------------------------------------------------------------- */

typedef struct {
    int k;               /* neighbours that vote: 20 (capped at the number of training rows) */
    double temperature;  /* vote weight exp(sim / T): 0.07 */
    int block_rows;      /* query rows per similarity block; 0: as many as fit in 64 MB (at most 1024) */
    IjProgress progress; /* may be NULL */
    void *progress_ctx;
} IjKnnOptions;

typedef struct {
    double acc_knn, acc_1nn; /* in [0, 1] */
    int k;                   /* k actually used */
} IjKnnResult;

void ij_knn_default_options(IjKnnOptions *o);
/* Predictions for queries Xq[nq, d] from training rows Xtr[ntr, d], ytr[ntr]: the weighted k-NN vote
 * (lowest class on ties) into pred_knn and the nearest row's label into pred_1nn (either may be NULL).
 * Rows are L2-normalised implicitly (an all-zero row has similarity 0 to everything); among equal
 * similarities the lower training index ranks first. Returns 0, or -1 with an error. */
int ij_knn_predict(const float *Xtr, const int *ytr, int ntr, const float *Xq, int nq, int d, int C,
                   const IjKnnOptions *opt, int *pred_knn, int *pred_1nn);
/* Accuracies of ij_knn_predict on a labelled test set. opt may be NULL for the defaults. */
int ij_knn(const float *Xtr, const int *ytr, int ntr, const float *Xte, const int *yte, int nte, int d, int C,
           const IjKnnOptions *opt, IjKnnResult *res);

#endif
