/* knn.c: see knn.h. k-NN of 10k queries against 60k rows of 784 takes ~4 s on 2 cores: one sgemm
 * per block of query rows, then a top-k scan per row (OpenMP over rows). */
#include "eval/knn.h"

#include "core/error.h"
#include "eval/inputs.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define KNN_BLOCK_BYTES (64u << 20) /* similarity block budget */

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
    if (ij_check_labels(who, "training", ytr, ntr, C) || ij_check_features(who, "training", Xtr, ntr, d) ||
        ij_check_features(who, "query", Xq, nq, d))
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
    if (ij_check_labels("k-NN", "test", yte, nte, C)) return -1;
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
