/* attention.c: softmax self-attention per (sequence, head) on a ragged batch.
 *
 * Each (sequence, head) pair is independent and owns disjoint output columns,
 * so the pairs are spread over OpenMP threads with no atomics; the result does
 * not depend on the thread count. The L x L probability matrix of every pair
 * is kept for the backward pass.
 */
#include "kernels/kernels.h"

#include <math.h>
#include <omp.h>
#include <string.h>

size_t att_probs_size(const int *seg_off, int nseg, int heads)
{
    size_t n = 0;
    for (int s = 0; s < nseg; s++) {
        size_t L = (size_t)(seg_off[s + 1] - seg_off[s]);
        n += L * L;
    }
    return n * (size_t)heads;
}

/* Offsets of each sequence's probabilities, computed on the fly (cheap: nseg adds). */
static size_t probs_offset(const int *seg_off, int s, int heads)
{
    size_t n = 0;
    for (int j = 0; j < s; j++) {
        size_t L = (size_t)(seg_off[j + 1] - seg_off[j]);
        n += L * L;
    }
    return n * (size_t)heads;
}

void attention_forward(float *out, float *probs, const float *qkv, const int *seg_off, int nseg,
                       int D, int heads)
{
    int hd = D / heads;
    float scale = 1.0f / sqrtf((float)hd);
    size_t D3 = (size_t)3 * D;
#pragma omp parallel for schedule(dynamic, 1)
    for (int sh = 0; sh < nseg * heads; sh++) {
        int s = sh / heads, h = sh % heads;
        int o = seg_off[s], L = seg_off[s + 1] - o;
        float *P = probs + probs_offset(seg_off, s, heads) + (size_t)h * L * L;
        const float *base = qkv + (size_t)o * D3 + (size_t)h * hd;
        for (int i = 0; i < L; i++) {
            const float *q = base + (size_t)i * D3;
            float *Pr = P + (size_t)i * L;
            float mx = -INFINITY;
            for (int j = 0; j < L; j++) {
                const float *k = base + (size_t)j * D3 + D;
                float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                for (int d = 0; d < hd; d++) dot += q[d] * k[d];
                Pr[j] = dot * scale;
                if (Pr[j] > mx) mx = Pr[j];
            }
            float sum = 0.0f;
            for (int j = 0; j < L; j++) {
                Pr[j] = expf(Pr[j] - mx);
                sum += Pr[j];
            }
            float inv = 1.0f / sum;
            float *y = out + (size_t)(o + i) * D + (size_t)h * hd;
            memset(y, 0, sizeof(float) * (size_t)hd);
            for (int j = 0; j < L; j++) {
                Pr[j] *= inv;
                const float *v = base + (size_t)j * D3 + 2 * (size_t)D;
                for (int d = 0; d < hd; d++) y[d] += Pr[j] * v[d];
            }
        }
    }
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs,
                        const int *seg_off, int nseg, int D, int heads, float *scratch)
{
    int hd = D / heads;
    float scale = 1.0f / sqrtf((float)hd);
    size_t D3 = (size_t)3 * D;
    int max_len = 0;
    for (int s = 0; s < nseg; s++)
        if (seg_off[s + 1] - seg_off[s] > max_len) max_len = seg_off[s + 1] - seg_off[s];
#pragma omp parallel for schedule(dynamic, 1)
    for (int sh = 0; sh < nseg * heads; sh++) {
        int s = sh / heads, h = sh % heads;
        int o = seg_off[s], L = seg_off[s + 1] - o;
        const float *P = probs + probs_offset(seg_off, s, heads) + (size_t)h * L * L;
        const float *base = qkv + (size_t)o * D3 + (size_t)h * hd;
        float *dbase = dqkv + (size_t)o * D3 + (size_t)h * hd;
        float *dP = scratch + (size_t)omp_get_thread_num() * max_len;
        for (int i = 0; i < L; i++) {
            float *dq = dbase + (size_t)i * D3;
            memset(dq, 0, sizeof(float) * (size_t)hd);
            memset(dq + D, 0, sizeof(float) * (size_t)hd);
            memset(dq + 2 * (size_t)D, 0, sizeof(float) * (size_t)hd);
        }
        for (int i = 0; i < L; i++) {
            const float *Pr = P + (size_t)i * L;
            const float *dy = dout + (size_t)(o + i) * D + (size_t)h * hd;
            const float *q = base + (size_t)i * D3;
            float *dq = dbase + (size_t)i * D3;
            float rowdot = 0.0f;
            for (int j = 0; j < L; j++) {
                const float *v = base + (size_t)j * D3 + 2 * (size_t)D;
                float *dv = dbase + (size_t)j * D3 + 2 * (size_t)D;
                float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                for (int d = 0; d < hd; d++) {
                    dot += dy[d] * v[d];
                    dv[d] += Pr[j] * dy[d];
                }
                dP[j] = dot;
                rowdot += Pr[j] * dot;
            }
            for (int j = 0; j < L; j++) {
                float dS = Pr[j] * (dP[j] - rowdot) * scale;
                const float *k = base + (size_t)j * D3 + D;
                float *dk = dbase + (size_t)j * D3 + D;
                for (int d = 0; d < hd; d++) {
                    dq[d] += dS * k[d];
                    dk[d] += dS * q[d];
                }
            }
        }
    }
}
