/* loss.c: the I-JEPA regression loss between predicted and target features.
 * Smooth L1 (Huber, beta 1) as in the reference code, or the paper's L2 as the
 * mean squared difference; both averaged over every element. */
#include "model/model.h"

#include <math.h>

float ij_loss(IjLossKind kind, const float *pred, const float *target, float *dpred, size_t n)
{
    return ij_loss_part(kind, pred, target, dpred, n, n);
}

/* The sum over [lo, hi), and the gradient there. */
static double loss_range(IjLossKind kind, const float *pred, const float *target, float *dpred, size_t lo, size_t hi,
                         float inv_n)
{
    double sum = 0.0;
    for (size_t i = lo; i < hi; i++) {
        float d = pred[i] - target[i];
        if (kind == IJ_LOSS_L2) {
            sum += (double)d * d;
            if (dpred) dpred[i] = 2.0f * d * inv_n;
        } else {
            float a = fabsf(d);
            sum += a < 1.0f ? 0.5 * (double)d * d : a - 0.5;
            if (dpred) dpred[i] = (a < 1.0f ? d : (d > 0 ? 1.0f : -1.0f)) * inv_n;
        }
    }
    return sum;
}

float ij_loss_part(IjLossKind kind, const float *pred, const float *target, float *dpred, size_t n,
                   size_t denom)
{
    /* threaded over at most LOSS_BLOCKS blocks whose size depends on n only, the blocks' sums added
     * in order: the same value on any number of threads */
    enum { LOSS_BLOCKS = 256 };
    double part[LOSS_BLOCKS];
    float inv_n = 1.0f / (float)denom;
    size_t bs = (n + LOSS_BLOCKS - 1) / LOSS_BLOCKS;
    bs = bs < 4096 ? 4096 : bs;
    int nb = (int)((n + bs - 1) / bs);
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int b = 0; b < nb; b++) {
        size_t lo = (size_t)b * bs, hi = lo + bs < n ? lo + bs : n;
        part[b] = loss_range(kind, pred, target, dpred, lo, hi, inv_n);
    }
    double sum = 0.0;
    for (int b = 0; b < nb; b++) sum += part[b];
    return (float)(sum / (double)denom);
}
