/* test_attention.c: ij_attention_forward and ij_attention_backward against a double-precision reference.
 *
 * Each (sequence, head) pair's output rows, probabilities and q/k/v gradients are compared with the
 * reference, the error relative to the pair's largest value of the same sums over absolute values
 * (the probabilities: relative to the largest one). The shapes cover every
 * remainder of the vector width and of the register tiles: single sequences of every length
 * L = 1 .. 70 and ragged batches of the same lengths in shuffled order (with empty sequences),
 * hd = 32 and 64 (the tiled path of a build with a vector kernel, see kernels/gemm.h), hd = 24 and
 * sequences too long for the tiled path (the sgemm path), lengths either side of the one from which
 * the tiled path copies its right operands, scores from near-uniform to peaked. Every
 * output element must be written (the outputs start as NaN) and nothing past the end of any
 * buffer (guard values after each); the results must be bit-identical on 1 and 2 threads and when
 * called from inside a parallel region.
 */
#include "core/error.h"
#include "core/rng.h"
#include "kernels/kernels.h"
#include "testlib.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define GUARD 64          /* floats after each output buffer that must stay untouched */
#define GUARD_VALUE 1234.5f

/* Relative error tolerances (float sums of at most 260 terms; measured worst: 4e-6 forward, 2e-6 backward). */
#define TOL_FWD 2e-5
#define TOL_BWD 2e-5

static float *randn(IjRng *r, size_t n, double sd)
{
    float *x = ij_malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) x[i] = (float)(sd * ij_rng_normal(r));
    return x;
}

/* n floats of NaN followed by GUARD guard values. */
static float *poisoned(size_t n)
{
    float *x = ij_malloc(sizeof(float) * (n + GUARD));
    memset(x, 0xff, sizeof(float) * n);
    for (int i = 0; i < GUARD; i++) x[n + i] = GUARD_VALUE;
    return x;
}

static int guard_intact(const float *x, size_t n)
{
    for (int i = 0; i < GUARD; i++)
        if (x[n + i] != GUARD_VALUE) return 0;
    return 1;
}

/* The reference for one pair of length L: q, k, v rows at stride 3D (as in qkv), dy at stride D.
 * Writes y[L, hd], P[L, L], and dq, dk, dv [L, hd] each, and in a* the same sums over absolute
 * values (the scale of the rounding errors a float computation makes: dq and dk are differences of
 * nearly equal terms when a row of P is peaked, so their own size would be no measure). */
typedef struct {
    double *y, *P, *dq, *dk, *dv, *ay, *adq, *adk, *adv;
} Ref;

static void reference_pair(const Ref *R, const float *q, const float *dy, int L, int hd, int D)
{
    const float *k = q + D, *v = q + 2 * D;
    const size_t D3 = 3 * (size_t)D;
    double scale = 1.0 / sqrt((double)hd), *P = R->P;
    double *dS = ij_malloc(sizeof(double) * (size_t)L * L), *adS = ij_malloc(sizeof(double) * (size_t)L * L);
    for (int i = 0; i < L; i++) {
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < L; j++) {
            double s = 0;
            for (int c = 0; c < hd; c++) s += (double)q[i * D3 + c] * k[j * D3 + c];
            P[(size_t)i * L + j] = s * scale;
            mx = fmax(mx, s * scale);
        }
        for (int j = 0; j < L; j++) sum += P[(size_t)i * L + j] = exp(P[(size_t)i * L + j] - mx);
        for (int j = 0; j < L; j++) P[(size_t)i * L + j] /= sum;
        for (int c = 0; c < hd; c++) {
            double s = 0, a = 0;
            for (int j = 0; j < L; j++) {
                s += P[(size_t)i * L + j] * v[j * D3 + c];
                a += P[(size_t)i * L + j] * fabs(v[j * D3 + c]);
            }
            R->y[(size_t)i * hd + c] = s, R->ay[(size_t)i * hd + c] = a;
        }
    }
    for (int i = 0; i < L; i++) {
        double rowdot = 0, arowdot = 0;
        for (int j = 0; j < L; j++) {
            double s = 0;
            for (int c = 0; c < hd; c++) s += (double)dy[(size_t)i * D + c] * v[j * D3 + c];
            dS[(size_t)i * L + j] = s;
            rowdot += s * P[(size_t)i * L + j];
            arowdot += fabs(s) * P[(size_t)i * L + j];
        }
        for (int j = 0; j < L; j++) {
            double p = P[(size_t)i * L + j], dp = dS[(size_t)i * L + j];
            dS[(size_t)i * L + j] = p * (dp - rowdot) * scale;
            adS[(size_t)i * L + j] = p * (fabs(dp) + arowdot) * scale;
        }
    }
    for (int i = 0; i < L; i++)
        for (int c = 0; c < hd; c++) {
            double sv = 0, sq = 0, sk = 0, av = 0, aq = 0, ak = 0;
            for (int j = 0; j < L; j++) {
                sv += P[(size_t)j * L + i] * dy[(size_t)j * D + c];
                sq += dS[(size_t)i * L + j] * k[j * D3 + c];
                sk += dS[(size_t)j * L + i] * q[j * D3 + c];
                av += P[(size_t)j * L + i] * fabs(dy[(size_t)j * D + c]);
                aq += adS[(size_t)i * L + j] * fabs(k[j * D3 + c]);
                ak += adS[(size_t)j * L + i] * fabs(q[j * D3 + c]);
            }
            size_t e = (size_t)i * hd + c;
            R->dv[e] = sv, R->dq[e] = sq, R->dk[e] = sk, R->adv[e] = av, R->adq[e] = aq, R->adk[e] = ak;
        }
    free(dS), free(adS);
}

/* max |got - want| / max bound over rows x cols values (got at row stride ldg). */
static double block_err(const float *got, size_t ldg, const double *want, const double *bound, int rows, int cols)
{
    double e = 0, s = 1e-30;
    for (int i = 0; i < rows; i++)
        for (int c = 0; c < cols; c++) {
            double w = want[(size_t)i * cols + c], g = got[(size_t)i * ldg + c];
            s = fmax(s, bound[(size_t)i * cols + c]);
            e = isnan(g) ? INFINITY : fmax(e, fabs(g - w)); /* NaN: an element never written */
        }
    return e / s;
}

static double worst_fwd, worst_bwd;

/* One ragged batch: lengths len[0 .. nseg-1], hd features per head; spread scales q, k and v. With
 * shift set, every score is moved down by about `shift` (a to every k feature, -a to every q
 * feature): no score of a row is anywhere near 0, as the softmax's maximum must not assume; the
 * rounding errors of scores that large are in proportion, so the tolerance is `slack` times
 * the usual. */
static void check_batch(IjRng *r, const int *len, int nseg, int hd, int heads, double spread, double shift,
                        double slack)
{
    const int D = hd * heads;
    int *seg = ij_malloc(sizeof(int) * (size_t)(nseg + 1));
    seg[0] = 0;
    for (int s = 0; s < nseg; s++) seg[s + 1] = seg[s] + len[s];
    const int T = seg[nseg];
    size_t nq = (size_t)T * 3 * D, no = (size_t)T * D, np = ij_att_probs_size(seg, nseg, heads);
    size_t ns = ij_att_scratch_size(seg, nseg, D, heads);
    float *qkv = randn(r, nq, spread), *dout = randn(r, no, 1.0);
    float a = (float)sqrt(shift / sqrt((double)hd)); /* q . k / sqrt(hd) moves by -a^2 hd / sqrt(hd) */
    for (size_t t = 0; t < (size_t)T; t++)
        for (int c = 0; c < D; c++) qkv[t * 3 * D + c] -= a, qkv[t * 3 * D + D + c] += a;
    float *out = poisoned(no), *probs = poisoned(np), *dqkv = poisoned(nq), *scratch = poisoned(ns);
    ij_attention_forward(out, probs, qkv, seg, nseg, D, heads, IJ_BF16_OFF);
    ij_attention_backward(dqkv, dout, qkv, probs, seg, nseg, D, heads, scratch, IJ_BF16_OFF);
    CHECKF(guard_intact(out, no) && guard_intact(probs, np) && guard_intact(dqkv, nq) && guard_intact(scratch, ns),
           "hd %d heads %d nseg %d (first length %d): a write past the end of a buffer", hd, heads, nseg, len[0]);

    int maxL = 0;
    for (int s = 0; s < nseg; s++) maxL = len[s] > maxL ? len[s] : maxL;
    size_t Lh = (size_t)(maxL ? maxL : 1) * hd, LL = (size_t)maxL * maxL + 1;
    Ref R;
    double **field[] = {&R.y, &R.dq, &R.dk, &R.dv, &R.ay, &R.adq, &R.adk, &R.adv};
    for (int i = 0; i < 8; i++) *field[i] = ij_malloc(sizeof(double) * Lh);
    R.P = ij_malloc(sizeof(double) * LL);
    size_t poff = 0;
    for (int s = 0; s < nseg; s++) {
        int L = len[s], o = seg[s];
        for (int h = 0; h < heads; h++) {
            if (L == 0) continue;
            const float *q = qkv + (size_t)o * 3 * D + (size_t)h * hd;
            reference_pair(&R, q, dout + (size_t)o * D + (size_t)h * hd, L, hd, D);
            double ef = fmax(block_err(out + (size_t)o * D + (size_t)h * hd, (size_t)D, R.y, R.ay, L, hd),
                             block_err(probs + poff + (size_t)h * L * L, (size_t)L, R.P, R.P, L, L));
            const float *g = dqkv + (size_t)o * 3 * D + (size_t)h * hd;
            size_t ld = 3 * (size_t)D;
            double eb = fmax(fmax(block_err(g, ld, R.dq, R.adq, L, hd), block_err(g + D, ld, R.dk, R.adk, L, hd)),
                             block_err(g + 2 * D, ld, R.dv, R.adv, L, hd));
            CHECKF(ef < TOL_FWD * slack, "forward L %d hd %d head %d/%d spread %.2f shift %.0f: relative error %.2e",
                   L, hd, h, heads, spread, shift, ef);
            CHECKF(eb < TOL_BWD * slack, "backward L %d hd %d head %d/%d spread %.2f shift %.0f: relative error %.2e",
                   L, hd, h, heads, spread, shift, eb);
            worst_fwd = fmax(worst_fwd, ef / slack), worst_bwd = fmax(worst_bwd, eb / slack);
        }
        poff += (size_t)L * L * heads;
    }

    /* the same on one thread, and from inside a parallel region (as the training stack calls them:
     * the pairs in order on the calling thread, with its own scratch): bit-identical */
    int threads = omp_get_max_threads();
    for (int nested = 0; nested < 2; nested++) {
        float *out1 = poisoned(no), *probs1 = poisoned(np), *dqkv1 = poisoned(nq);
        if (nested) {
#pragma omp parallel num_threads(2)
            if (omp_get_thread_num() == omp_get_num_threads() - 1) {
                ij_attention_forward(out1, probs1, qkv, seg, nseg, D, heads, IJ_BF16_OFF);
                ij_attention_backward(dqkv1, dout, qkv, probs1, seg, nseg, D, heads, scratch, IJ_BF16_OFF);
            }
        } else {
            omp_set_num_threads(1);
            ij_attention_forward(out1, probs1, qkv, seg, nseg, D, heads, IJ_BF16_OFF);
            ij_attention_backward(dqkv1, dout, qkv, probs1, seg, nseg, D, heads, scratch, IJ_BF16_OFF);
            omp_set_num_threads(threads);
        }
        CHECKF(memcmp(out, out1, sizeof(float) * no) == 0 && memcmp(probs, probs1, sizeof(float) * np) == 0 &&
                   memcmp(dqkv, dqkv1, sizeof(float) * nq) == 0,
               "hd %d heads %d nseg %d: %s differs from %d threads", hd, heads, nseg,
               nested ? "a call inside a parallel region" : "1 thread", threads);
        CHECK(guard_intact(out1, no) && guard_intact(probs1, np) && guard_intact(dqkv1, nq) &&
              guard_intact(scratch, ns));
        free(out1), free(probs1), free(dqkv1);
    }

    free(seg), free(qkv), free(dout), free(out), free(probs), free(dqkv), free(scratch);
    free(R.P);
    for (int i = 0; i < 8; i++) free(*field[i]);
}

int main(void)
{
    omp_set_num_threads(2);
    IjRng r = ij_rng(11, 0, 0);
    const int hds[] = {32, 64}, heads_of[] = {3, 2};
    for (int t = 0; t < 2; t++) {
        int hd = hds[t], heads = heads_of[t];
        /* one sequence of each length: every remainder of the vector width and of the row tiles */
        for (int L = 1; L <= 70; L++) check_batch(&r, &L, 1, hd, heads, 1.0, 0.0, 1.0);
        /* ragged batches: lengths 0 .. 70 shuffled, neighbours of every length */
        int len[71];
        for (int i = 0; i <= 70; i++) len[i] = i;
        for (int rep = 0; rep < 3; rep++) {
            for (int i = 70; i > 0; i--) {
                int j = (int)ij_rng_below(&r, (uint64_t)i + 1), x = len[i];
                len[i] = len[j], len[j] = x;
            }
            /* near-uniform and peaked softmax rows (score standard deviations ~0.3 and ~9), and scores
             * around -140, each of whose exponentials would underflow to 0 */
            if (rep < 2) check_batch(&r, len, 71, hd, heads, rep ? 3.0 : 0.55, 0.0, 1.0);
            else check_batch(&r, len, 71, hd, heads, 1.0, 140.0, 10.0);
        }
    }
    /* hd not a multiple of any vector width, and sequences past the tiled path's limit (hd 64,
     * L > 256): the sgemm path; L 196 (ImageNet's 14 x 14 patches) and 100: several column blocks */
    const int odd[] = {5, 17, 1, 33};
    check_batch(&r, odd, 4, 24, 2, 1.0, 0.0, 1.0);
    const int longer[] = {196, 3, 260, 100};
    check_batch(&r, longer, 4, 64, 2, 1.0, 0.0, 1.0);
    /* either side of the length from which the tiled path copies its right operands (79 in place) */
    const int around_copy[] = {79, 80, 81, 143};
    check_batch(&r, around_copy, 4, 32, 3, 1.0, 0.0, 1.0);
    printf("worst relative error / tolerance factor: forward %.2e, backward %.2e\n", worst_fwd, worst_bwd);
    return test_exit_code("test_attention");
}
