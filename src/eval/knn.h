/* knn.h: k-NN evaluation of frozen features (DINO protocol): cosine similarity, the k most similar
 * training rows vote with weight exp(sim / T) per class, argmax; 1-NN accuracy beside it.
 * Deterministic for a given thread count: OpenMP only over independent rows, reductions in a fixed
 * order, BLAS never called from inside an OpenMP region. Nothing here prints.
 */
#ifndef IJEPA_EVAL_KNN_H
#define IJEPA_EVAL_KNN_H

#include "core/progress.h"

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
