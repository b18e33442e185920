/* diagnostics.c: see diagnostics.h. Everything accumulates in double in a
 * fixed order, so the numbers are reproducible for a given BLAS thread count
 * (only the Gram matrix goes through BLAS). */
#include "eval/diagnostics.h"

#include "core/error.h"
#include "eval/embed.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JACOBI_MAX_SWEEPS 100
#define JACOBI_TOL 1e-18       /* off-diagonal entries below this times |A|_F count as zero */
#define ERANK_EIG_FLOOR 1e-12  /* eigenvalues of the Gram matrix below this times the largest count as zero
                                  (singular values below 1e-6 of the largest) */

double ij_mean_feature_std(const float *X, int n, int d)
{
    if (n < 1 || d < 1) return 0.0;
    double *mean = ij_calloc((size_t)d, sizeof(double)), *var = ij_calloc((size_t)d, sizeof(double));
    for (int i = 0; i < n; i++) {
        const float *x = X + (size_t)i * d;
        for (int j = 0; j < d; j++) mean[j] += x[j];
    }
    for (int j = 0; j < d; j++) mean[j] /= n;
    for (int i = 0; i < n; i++) {
        const float *x = X + (size_t)i * d;
        for (int j = 0; j < d; j++) {
            double c = x[j] - mean[j];
            var[j] += c * c;
        }
    }
    double s = 0.0;
    for (int j = 0; j < d; j++) s += sqrt(var[j] / n);
    free(mean);
    free(var);
    return s / d;
}

double ij_mean_pairwise_cosine(const float *X, int n, int d)
{
    if (n < 2 || d < 1) return 0.0;
    double *sum = ij_calloc((size_t)d, sizeof(double));
    double units = 0.0; /* sum of |u_i|^2: the number of nonzero rows */
    for (int i = 0; i < n; i++) {
        const float *x = X + (size_t)i * d;
        double q = 0.0;
        for (int j = 0; j < d; j++) q += (double)x[j] * x[j];
        if (q == 0.0) continue;
        double inv = 1.0 / sqrt(q);
        for (int j = 0; j < d; j++) sum[j] += x[j] * inv;
        units += 1.0;
    }
    double s2 = 0.0;
    for (int j = 0; j < d; j++) s2 += sum[j] * sum[j];
    free(sum);
    return (s2 - units) / ((double)n * (n - 1));
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

int ij_jacobi_eigenvalues(double *A, int m, double *w)
{
    IJ_ASSERT(m >= 0);
    double fro = 0.0;
    for (size_t i = 0; i < (size_t)m * m; i++) fro += A[i] * A[i];
    fro = sqrt(fro);
    int sweeps = 0, converged = 0;
    if (!isfinite(fro)) {
        for (int i = 0; i < m; i++) w[i] = NAN;
        return -1;
    }
    double thr = JACOBI_TOL * fro;
    while (!converged && sweeps < JACOBI_MAX_SWEEPS) {
        int rotations = 0;
        for (int p = 0; p < m - 1; p++) {
            double *ap = A + (size_t)p * m;
            for (int q = p + 1; q < m; q++) {
                double *aq = A + (size_t)q * m;
                double apq = ap[q];
                if (fabs(apq) <= thr) {
                    ap[q] = aq[p] = 0.0;
                    continue;
                }
                rotations++;
                /* rotation angle that zeroes A[p][q] (Numerical Recipes, sec. 11.1) */
                double theta = (aq[q] - ap[p]) / (2.0 * apq);
                double t = 1.0 / (fabs(theta) + hypot(theta, 1.0));
                if (theta < 0.0) t = -t;
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c, tau = s / (1.0 + c);
                ap[p] -= t * apq;
                aq[q] += t * apq;
                ap[q] = aq[p] = 0.0;
                for (int j = 0; j < m; j++) {
                    if (j == p || j == q) continue;
                    double g = ap[j], h = aq[j];
                    double gn = g - s * (h + g * tau), hn = h + s * (g - h * tau);
                    ap[j] = A[(size_t)j * m + p] = gn;
                    aq[j] = A[(size_t)j * m + q] = hn;
                }
            }
        }
        if (rotations == 0) converged = 1;
        else sweeps++;
    }
    for (int i = 0; i < m; i++) w[i] = A[(size_t)i * m + i];
    qsort(w, (size_t)m, sizeof(double), cmp_desc);
    return converged ? sweeps : -1;
}

double ij_effective_rank(const float *X, int n, int d)
{
    if (n < 1 || d < 1) return 0.0;
    int m = n < d ? n : d;
    size_t nd = (size_t)n * d;
    double *Xd = ij_malloc(sizeof(double) * nd);
    for (size_t i = 0; i < nd; i++) Xd[i] = X[i]; /* products of floats are exact in double */
    double *G = ij_calloc((size_t)m * m, sizeof(double));
    if (n >= d) /* G = X^T X [d, d] */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, n, 1.0, Xd, d, 0.0, G, d);
    else        /* G = X X^T [n, n]: the same nonzero eigenvalues */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, d, 1.0, Xd, d, 0.0, G, n);
    free(Xd);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < i; j++) G[(size_t)i * m + j] = G[(size_t)j * m + i];
    double *w = ij_malloc(sizeof(double) * (size_t)m);
    ij_jacobi_eigenvalues(G, m, w);
    free(G);
    double result;
    if (!isfinite(w[0])) {
        result = NAN;
    } else if (w[0] <= 0.0) {
        result = 0.0; /* X is all zeros */
    } else {
        double cut = ERANK_EIG_FLOOR * w[0], total = 0.0, h = 0.0;
        for (int i = 0; i < m && w[i] > cut; i++) total += sqrt(w[i]);
        for (int i = 0; i < m && w[i] > cut; i++) {
            double p = sqrt(w[i]) / total;
            h -= p * log(p);
        }
        result = exp(h);
    }
    free(w);
    return result;
}

int ij_diagnostics(IjModel *m, const float *images, const IjMasks *masks, IjDiagnostics *out)
{
    int B = masks->batch, D = m->cfg.embed_dim;
    if (B < 2) return ij_error("collapse diagnostics need at least 2 images in the batch, got %d", B);
    ij_model_step(m, images, masks, 0);
    out->target_std = ij_mean_feature_std(m->targets, m->n_tgt, D);
    out->pred_std = ij_mean_feature_std(m->preds, m->n_tgt, D);
    /* ij_embed_batch reuses the full-forward scratch, not m->targets / m->preds */
    float *feat = ij_malloc(sizeof(float) * (size_t)B * D);
    ij_embed_batch(m, &m->tenc, images, B, IJ_POOL_LAST, feat);
    out->erank = ij_effective_rank(feat, B, D);
    out->cosine = ij_mean_pairwise_cosine(feat, B, D);
    free(feat);
    return 0;
}
