/* lbfgs.c: see lbfgs.h. */
#include "eval/lbfgs.h"

#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ij_lbfgs_default_options(IjLbfgsOptions *o)
{
    memset(o, 0, sizeof *o);
    o->history = 10;
    o->max_iter = 300;
    o->gtol = 1e-4;
    o->ftol = 1e-10;
    o->max_ls = 30;
}

int ij_lbfgs_check_options(const char *who, const IjLbfgsOptions *o)
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
    if (ij_lbfgs_check_options("lbfgs", &o)) return -1;
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
