/* attention.c: softmax self-attention per (sequence, head) on a ragged batch.
 *
 * Each (sequence, head) pair is independent and owns disjoint output columns,
 * so the pairs are spread over OpenMP threads with no atomics; the result does
 * not depend on the thread count. The L x L probability matrix of every pair
 * is kept for the backward pass. Keys (and, in the backward pass, values) are
 * first copied transposed into per-thread scratch, so that every inner loop is
 * a contiguous multiply-add the compiler vectorises.
 */
#include "kernels/kernels.h"

#include "kernels/vecmath.h"

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

size_t att_scratch_size(const int *seg_off, int nseg, int D, int heads)
{
    size_t max_len = 0;
    for (int s = 0; s < nseg; s++)
        if ((size_t)(seg_off[s + 1] - seg_off[s]) > max_len) max_len = (size_t)(seg_off[s + 1] - seg_off[s]);
    return (size_t)omp_get_max_threads() * (max_len * (size_t)(D / heads) + 2 * max_len);
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

/* dst[d][j] = src row j, features d (rows of stride ld): an [L, hd] slice transposed. */
static void transpose_in(float *dst, const float *src, size_t ld, int L, int hd)
{
    for (int j = 0; j < L; j++)
        for (int d = 0; d < hd; d++) dst[(size_t)d * L + j] = src[(size_t)j * ld + d];
}

/* row[j] = sum_d a[d] * t[d][j] over j < L. */
static void row_times_t(float *row, const float *a, const float *t, int L, int hd, float scale)
{
    memset(row, 0, sizeof(float) * (size_t)L);
    for (int d = 0; d < hd; d++) {
        float ad = a[d] * scale;
        const float *td = t + (size_t)d * L;
#pragma omp simd
        for (int j = 0; j < L; j++) row[j] += ad * td[j];
    }
}

void attention_forward(float *out, float *probs, const float *qkv, const int *seg_off, int nseg,
                       int D, int heads, float *scratch)
{
    int hd = D / heads;
    float scale = 1.0f / sqrtf((float)hd);
    size_t D3 = (size_t)3 * D;
    size_t per_thread = att_scratch_size(seg_off, nseg, D, heads) / (size_t)omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1)
    for (int sh = 0; sh < nseg * heads; sh++) {
        int s = sh / heads, h = sh % heads;
        int o = seg_off[s], L = seg_off[s + 1] - o;
        float *P = probs + probs_offset(seg_off, s, heads) + (size_t)h * L * L;
        const float *base = qkv + (size_t)o * D3 + (size_t)h * hd;
        float *kt = scratch + (size_t)omp_get_thread_num() * per_thread;
        transpose_in(kt, base + D, D3, L, hd);
        for (int i = 0; i < L; i++) {
            float *Pr = P + (size_t)i * L;
            row_times_t(Pr, base + (size_t)i * D3, kt, L, hd, scale);
            float mx = Pr[0];
            for (int j = 1; j < L; j++) mx = Pr[j] > mx ? Pr[j] : mx;
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
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
                float p = Pr[j];
#pragma omp simd
                for (int d = 0; d < hd; d++) y[d] += p * v[d];
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
    size_t per_thread = att_scratch_size(seg_off, nseg, D, heads) / (size_t)omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1)
    for (int sh = 0; sh < nseg * heads; sh++) {
        int s = sh / heads, h = sh % heads;
        int o = seg_off[s], L = seg_off[s + 1] - o;
        const float *P = probs + probs_offset(seg_off, s, heads) + (size_t)h * L * L;
        const float *base = qkv + (size_t)o * D3 + (size_t)h * hd;
        float *dbase = dqkv + (size_t)o * D3 + (size_t)h * hd;
        float *vt = scratch + (size_t)omp_get_thread_num() * per_thread;
        float *dP = vt + (size_t)hd * L;
        transpose_in(vt, base + 2 * (size_t)D, D3, L, hd);
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
            row_times_t(dP, dy, vt, L, hd, 1.0f);  /* dP[j] = dy . v_j */
            float rowdot = 0.0f;
#pragma omp simd reduction(+ : rowdot)
            for (int j = 0; j < L; j++) rowdot += Pr[j] * dP[j];
            for (int j = 0; j < L; j++) {
                float p = Pr[j], dS = p * (dP[j] - rowdot) * scale;
                const float *k = base + (size_t)j * D3 + D;
                float *dk = dbase + (size_t)j * D3 + D, *dv = dk + D;
#pragma omp simd
                for (int d = 0; d < hd; d++) {
                    dv[d] += p * dy[d];
                    dq[d] += dS * k[d];
                    dk[d] += dS * q[d];
                }
            }
        }
    }
}
