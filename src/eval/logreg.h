/* logreg.h: multinomial logistic regression on float32 features, fitted by preconditioned L-BFGS.
 * Deterministic for a given thread count: OpenMP only over independent rows, reductions in a fixed
 * order, BLAS never called from inside an OpenMP region. Nothing here prints.
 */
#ifndef IJEPA_EVAL_LOGREG_H
#define IJEPA_EVAL_LOGREG_H

#include "eval/lbfgs.h"

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

#endif
