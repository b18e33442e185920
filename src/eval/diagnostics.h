/* diagnostics.h: collapse diagnostics for joint-embedding training.
 *
 * JEPA-style training has a trivial solution: encoder and predictor output
 * the same vector for every input and the loss is zero. These numbers show
 * whether the representations are drifting there:
 *   - mean feature std: the per-dimension standard deviation across samples,
 *     averaged over dimensions (0 for a complete collapse);
 *   - effective rank (RankMe, Garrido et al. 2023): exp of the entropy of the
 *     normalised singular values; 1 when every row points the same way (or is
 *     a multiple of one vector), min(n, d) when the rows use every direction
 *     equally (dimensional collapse shows as a small rank);
 *   - mean pairwise cosine: near 1 when every sample maps to the same
 *     direction.
 * The matrix functions take X [n, d] row-major (one sample per row) and
 * accumulate in double; they are pure functions of their input.
 */
#ifndef IJEPA_EVAL_DIAGNOSTICS_H
#define IJEPA_EVAL_DIAGNOSTICS_H

#include "model/model.h"

/* Mean over the d columns of X [n, d] of the population standard deviation of
 * the column (divide by n). 0 when n < 1 or d < 1. O(n d). */
double ij_mean_feature_std(const float *X, int n, int d);

/* Effective rank of X [n, d] (RankMe; X is not centred): with s_i the
 * singular values of X and p_i = s_i / sum_j s_j, returns exp(-sum p_i log p_i)
 * (0 log 0 = 0), a number in [1, min(n, d)]; 0 for an all-zero X.
 * RankMe adds a small epsilon to p_i; it is left out here because it biases
 * the result upwards by about d * eps * log(1/eps) (exactly rank-1 data would
 * not give 1). Instead singular values below 1e-6 of the largest count as
 * zero: float inputs resolve nothing finer, and this keeps rounding noise of
 * exactly rank-deficient data from being counted as extra directions.
 * Method: the s_i^2 are the eigenvalues of the m x m Gram matrix in double
 * (X^T X when n >= d, else X X^T; m = min(n, d)), found with cyclic Jacobi
 * (ij_jacobi_eigenvalues). Cost O(n d m) for the Gram matrix (BLAS dsyrk) plus
 * O(sweeps * m^3) for Jacobi (single-threaded, sweeps typically 6-10), and
 * n d + m^2 doubles of memory. Measured on one busy core: 0.05 s for n = 128
 * rows of d = 768, 0.7 s for m = 256, 9 s for m = 512; m = 1024 would take
 * minutes. The batch size usually bounds m: keep it at or below ~256 rows. */
double ij_effective_rank(const float *X, int n, int d);

/* Mean cosine similarity over all ordered pairs i != j of rows of X [n, d],
 * from the sum of the unit rows: (|sum u_i|^2 - sum |u_i|^2) / (n (n - 1)).
 * An all-zero row has cosine 0 with everything. 0 when n < 2. O(n d). */
double ij_mean_pairwise_cosine(const float *X, int n, int d);

/* Eigenvalues of the symmetric matrix A [m, m] (row-major; full storage, both
 * triangles set) by cyclic Jacobi rotations in double. A is overwritten. The
 * eigenvalues go to w [m] in decreasing order. Sweeps stop once every
 * off-diagonal entry is below 1e-18 of the Frobenius norm of A (or after 100
 * sweeps). Returns the number of sweeps, or -1 if it did not converge (w then
 * holds the current diagonal). O(sweeps * m^3) time, no extra memory. */
int ij_jacobi_eigenvalues(double *A, int m, double *w);

typedef struct {
    double target_std;  /* ij_mean_feature_std of m->targets [n_tgt, D] (normalised targets) */
    double pred_std;    /* ij_mean_feature_std of m->preds [n_tgt, D] */
    double erank;       /* ij_effective_rank of the pooled target-encoder features [B, D] */
    double cosine;      /* ij_mean_pairwise_cosine of the same features */
} IjDiagnostics;

/* Runs ij_model_step(m, images, masks, 0) on images [B, C, S, S] (B =
 * masks->batch; no gradients, parameters untouched) and fills *out from the
 * step's targets and predictions and from the average-pooled target-encoder
 * features of the B images. m->targets and m->preds still hold the step's
 * values afterwards. Returns -1 (with a message) if B < 2. */
int ij_diagnostics(IjModel *m, const float *images, const IjMasks *masks, IjDiagnostics *out);

#endif
