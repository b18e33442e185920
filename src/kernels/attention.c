/* attention.c: softmax self-attention per (sequence, head) on a ragged batch.
 *
 * Each (sequence, head) pair is independent and owns disjoint output columns,
 * so the pairs are spread over OpenMP threads with no atomics; the result does
 * not depend on the thread count. The L x L probability matrix of every pair
 * is kept for the backward pass. The products are small sgemm calls on the
 * strided head slices (no copies); the backward pass needs one L x L scratch
 * matrix per thread.
 */
#include "kernels/kernels.h"

#include "kernels/vecmath.h"
#include "kernels/work_time.h"

#include <cblas.h>
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

size_t att_scratch_size(const int *seg_off, int nseg, int D, int heads)
{
    size_t max_len = 0;
    for (int s = 0; s < nseg; s++)
        if ((size_t)(seg_off[s + 1] - seg_off[s]) > max_len) max_len = (size_t)(seg_off[s + 1] - seg_off[s]);
    (void)D;
    (void)heads;
    return (size_t)omp_get_max_threads() * (max_len * max_len > 0 ? max_len * max_len : 1);
}

/* FLOPs of the products of one pass (forward: 2 per head and sequence, backward: 4), 2 L^2 hd each. */
static double att_flops(const int *seg_off, int nseg, int D, int products)
{
    double n = 0;
    for (int s = 0; s < nseg; s++) n += (double)(seg_off[s + 1] - seg_off[s]) * (seg_off[s + 1] - seg_off[s]);
    return 2.0 * products * n * D;
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

/* Softmax of each of the L rows of P[L, L], in place. The loops vectorise: the row maximum as a
 * max-reduction (exact in any order), expf as glibc's 16-wide libmvec variant (simdlen(16): GCC's
 * default 256-bit vectors on AVX-512 machines would call the 8-wide one). */
static void softmax_rows(float *P, int L)
{
    for (int i = 0; i < L; i++) {
        float *Pr = P + (size_t)i * L;
        float mx = Pr[0];
#pragma omp simd reduction(max : mx)
        for (int j = 1; j < L; j++) mx = Pr[j] > mx ? Pr[j] : mx;
        float sum = 0.0f;
#pragma omp simd simdlen(16) reduction(+ : sum)
        for (int j = 0; j < L; j++) {
            Pr[j] = expf(Pr[j] - mx);
            sum += Pr[j];
        }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j < L; j++) Pr[j] *= inv;
    }
}

/* Per (sequence, head): S = scale Q K^T, P = softmax(S), Y = P V, each product
 * one single-threaded sgemm on the strided [L, hd] slices of qkv (inside the
 * parallel loop OpenBLAS's OpenMP build runs single-threaded, so threads never
 * nest). */
void attention_forward(float *out, float *probs, const float *qkv, const int *seg_off, int nseg,
                       int D, int heads)
{
    int hd = D / heads;
    float scale = 1.0f / sqrtf((float)hd);
    const int D3 = 3 * D;
    double t0 = ij_work_begin();
#pragma omp parallel for schedule(dynamic, 1)
    for (int sh = 0; sh < nseg * heads; sh++) {
        int s = sh / heads, h = sh % heads;
        int o = seg_off[s], L = seg_off[s + 1] - o;
        if (L == 0) continue;
        float *P = probs + probs_offset(seg_off, s, heads) + (size_t)h * L * L;
        const float *q = qkv + (size_t)o * D3 + (size_t)h * hd;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, hd, scale, q, D3, q + D, D3, 0.0f, P, L);
        softmax_rows(P, L);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, hd, L, 1.0f, P, L, q + 2 * D, D3, 0.0f,
                    out + (size_t)o * D + (size_t)h * hd, D);
    }
    ij_work_end(IJ_WORK_ATTENTION, t0, att_flops(seg_off, nseg, D, 2));
}

/* Per (sequence, head), with dY the head's slice of dout:
 *   dV = P^T dY,  dP = dY V^T,  dS = P * (dP - rowsum(P * dP)) * scale,
 *   dQ = dS K,    dK = dS^T Q   (sgemm each, written straight into dqkv). */
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs,
                        const int *seg_off, int nseg, int D, int heads, float *scratch)
{
    int hd = D / heads;
    float scale = 1.0f / sqrtf((float)hd);
    const int D3 = 3 * D;
    size_t per_thread = att_scratch_size(seg_off, nseg, D, heads) / (size_t)omp_get_max_threads();
    /* Called from inside a parallel region (a chunk of the training stack's backward pass) this loop runs
     * on one thread, number 0: the caller passes that thread's own scratch. */
    double t0 = ij_work_begin();
#pragma omp parallel for schedule(dynamic, 1)
    for (int sh = 0; sh < nseg * heads; sh++) {
        int s = sh / heads, h = sh % heads;
        int o = seg_off[s], L = seg_off[s + 1] - o;
        if (L == 0) continue;
        const float *P = probs + probs_offset(seg_off, s, heads) + (size_t)h * L * L;
        const float *q = qkv + (size_t)o * D3 + (size_t)h * hd;
        const float *dy = dout + (size_t)o * D + (size_t)h * hd;
        float *dq = dqkv + (size_t)o * D3 + (size_t)h * hd;
        float *dS = scratch + (size_t)omp_get_thread_num() * per_thread;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, hd, L, 1.0f, P, L, dy, D, 0.0f, dq + 2 * D, D3);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, hd, 1.0f, dy, D, q + 2 * D, D3, 0.0f, dS, L);
        for (int i = 0; i < L; i++) {
            const float *Pr = P + (size_t)i * L;
            float *r = dS + (size_t)i * L;
            float rowdot = 0.0f;
#pragma omp simd reduction(+ : rowdot)
            for (int j = 0; j < L; j++) rowdot += Pr[j] * r[j];
#pragma omp simd
            for (int j = 0; j < L; j++) r[j] = Pr[j] * (r[j] - rowdot) * scale;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, hd, L, 1.0f, dS, L, q + D, D3, 0.0f, dq, D3);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, hd, L, 1.0f, dS, L, q, D3, 0.0f, dq + D, D3);
    }
    ij_work_end(IJ_WORK_ATTENTION, t0, att_flops(seg_off, nseg, D, 4));
}
