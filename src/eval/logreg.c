/* logreg.c: see logreg.h. */
#include "eval/logreg.h"

#include "core/error.h"
#include "eval/inputs.h"

#include <cblas.h>
#include <f77blas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREDICT_BLOCK 4096 /* rows per block when predicting */

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
 * LAPACK's dpotrf from the OpenBLAS already linked, on the upper triangle of the column-major view
 * (the same numbers). Returns -1 if A is not (numerically) positive definite. */
static int cholesky(double *A, int n)
{
    char uplo = 'U';
    blasint nn = n, lda = n, info = 0;
    BLASFUNC(dpotrf)(&uplo, &nn, A, &lda, &info);
    return info == 0 ? 0 : -1;
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
    if (ij_check_labels("logistic regression", "training", y, n, C)) return -1;
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
