/* probe.h: the linear probe protocol on frozen features, and its low-shot variant.
 *
 * Features are float32 row-major [n, d]; labels are ints in [0, C).
 *
 * The pieces: eval/lbfgs.h (the optimiser), eval/logreg.h (the classifier), eval/splits.h (the
 * validation split and low-shot subsets), eval/knn.h (k-NN, the other readout).
 *
 * Linear probe: features standardized with statistics of the training rows only, then
 * multinomial logistic regression (mean cross-entropy + lambda * ||W||^2, bias not penalised)
 * trained by full-batch preconditioned L-BFGS, over the grid lambda = 1e-1 .. 1e-6 (one per
 * decade, largest first, each fit warm-started from the previous one). lambda is chosen on a
 * class-stratified validation split carved from the TRAINING set; the model is then refit on the
 * whole training set with that lambda and evaluated once on the test set. The test set plays no part in any choice.
 *
 * Everything is deterministic for a given seed and thread count: OpenMP only over independent
 * rows, reductions in a fixed order, BLAS never called from inside an OpenMP region. Nothing here
 * prints; long calls report through an optional progress callback.
 */
#ifndef IJEPA_EVAL_PROBE_H
#define IJEPA_EVAL_PROBE_H

#include "core/progress.h"
#include "eval/knn.h"
#include "eval/logreg.h"
#include "eval/splits.h"

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
    struct IjLinearHead *head; /* NULL, or filled with the final fit (eval/linear_head.h) */
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
    int left_out;   /* low-shot only: 1 when no class of the subset has 2 rows (no validation split can be
                     * held out): nothing was fitted, the accuracies are 0 and the report shows "-" */
} IjProbeResult;

void ij_probe_default_options(IjProbeOptions *o);


/* The linear probe described at the top. opt may be NULL for the defaults. Returns 0 and fills res,
 * or -1 with an error (bad sizes, labels out of range, non-finite features, empty validation split). */
int ij_linear_probe(const float *Xtr, const int *ytr, int ntr, const float *Xte, const int *yte, int nte, int d,
                    int C, const IjProbeOptions *opt, IjProbeResult *res);

/* ---- low-shot ------------------------------------------------------------------------- */

/* ij_linear_probe trained on ij_lowshot_subset(ytr, ..., fraction, opt->seed) only (its validation
 * split carved from that subset), evaluated on the whole test set. res->ntrain = subset size. A subset
 * too small for a validation split (no class with 2 rows: 1% of 30 images per class) is left out:
 * returns 0 with res->left_out set. */
int ij_lowshot_probe(const float *Xtr, const int *ytr, int ntr, const float *Xte, const int *yte, int nte, int d,
                     int C, double fraction, const IjProbeOptions *opt, IjProbeResult *res);

#endif
