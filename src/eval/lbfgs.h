/* lbfgs.h: limited-memory BFGS for smooth objectives in double precision (the linear probe's
 * optimiser), with an optional preconditioner.
 * Deterministic for a given thread count: OpenMP only over independent rows, reductions in a fixed
 * order, BLAS never called from inside an OpenMP region. Nothing here prints.
 */
#ifndef IJEPA_EVAL_LBFGS_H
#define IJEPA_EVAL_LBFGS_H

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
/* -1 with "<who>: ..." when the options are out of range (history, iterations, tolerances). */
int ij_lbfgs_check_options(const char *who, const IjLbfgsOptions *o);
/* f(x) and its gradient g (n doubles); returns f. */
typedef double (*IjObjective)(void *ctx, const double *x, double *g);
/* Minimises fg from x (n entries, updated in place) with L-BFGS: two-loop recursion, initial inverse
 * Hessian gamma M^{-1} with gamma = s'y / y'M^{-1}y, backtracking Armijo line search (c1 = 1e-4,
 * safeguarded quadratic interpolation; first step 1/||g|| without history or preconditioner, 1
 * otherwise); pairs with s'y <= 1e-12 ||s|| ||y|| are not stored. Returns 0 (any status; see info),
 * or -1 with an error when f or g is not finite at the starting point or the options are invalid. */
int ij_lbfgs(IjObjective fg, void *ctx, int n, double *x, const IjLbfgsOptions *opt, IjLbfgsInfo *info);

#endif
