/* loss.c: the I-JEPA regression loss between predicted and target features.
 * Smooth L1 (Huber, beta 1) as in the reference code, or the paper's L2 as the
 * mean squared difference; both averaged over every element. */
#include "model/model.h"

#include <math.h>

float ij_loss(IjLossKind kind, const float *pred, const float *target, float *dpred, size_t n)
{
    return ij_loss_part(kind, pred, target, dpred, n, n);
}

float ij_loss_part(IjLossKind kind, const float *pred, const float *target, float *dpred, size_t n,
                   size_t denom)
{
    double sum = 0.0;
    float inv_n = 1.0f / (float)denom;
    for (size_t i = 0; i < n; i++) {
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
    return (float)(sum / (double)denom);
}
