/* test_attentive_probe.c: the attentive probe (SPEC section 10).
 *
 * - Its fast forward pass (LN1 normalised once, the keys folded onto the query, the values applied after
 *   the pooling) against the direct computation in double: k and v for every token, per-head softmax.
 * - Every parameter's gradient against central finite differences (the same metric and negative control
 *   as test_gradcheck.c): per tensor ||g - g_fd|| / ||g_fd||. The loss is a float32 computation of depth
 *   ~10 (rounding ~1e-6 relative on a loss of ~1) divided by 2h = 2e-2 gives ~1e-4 of gradient entries of
 *   ~1e-2; truncation h^2 ~1e-4. Bound 5e-3; measured worst is printed.
 * - The protocol on synthetic tokens where one token per image carries the class at a random position
 *   (so an average pool dilutes it T-fold): test accuracy near 100%, the lr chosen on the validation
 *   split only, bit-identical on a rerun.
 */
#include "core/error.h"
#include "core/rng.h"
#include "eval/attentive_probe.h"
#include "testlib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { D = 8, H = 2, C = 3, T = 5, B = 4 };

static void fill(float *x, size_t n, double std, uint64_t purpose)
{
    IjRng r = ij_rng(77, purpose, 0);
    for (size_t i = 0; i < n; i++) x[i] = (float)(std * ij_rng_normal(&r));
}

/* A probe whose every parameter is random and O(0.3..1) (not the init's zeros and ones), so that each
 * path carries signal. */
static void random_probe(IjAttnProbe *p)
{
    CHECK(ij_attnprobe_init(p, D, H, C, 5) == 0);
    for (int t = 0; t < IJ_AP_NTENSORS; t++) {
        size_t len;
        float *x = p->params + ij_attnprobe_param(p, (IjAttnParam)t, &len, NULL);
        fill(x, len, t == IJ_AP_LN1W || t == IJ_AP_LN2W ? 0.3 : 0.5, 100 + (uint64_t)t);
        if (t == IJ_AP_LN1W || t == IJ_AP_LN2W)
            for (size_t i = 0; i < len; i++) x[i] += 1.0f;
    }
}

static double gelu_d(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }

/* logits[B, C] of raw tokens x[B, T, D], computed directly in double. */
static void direct_logits(const IjAttnProbe *p, const float *x, double *logits)
{
#define PR(t) (p->params + ij_attnprobe_param(p, (t), NULL, NULL))
    const float *q0 = PR(IJ_AP_Q0), *Wq = PR(IJ_AP_WQ), *bq = PR(IJ_AP_BQ), *Wk = PR(IJ_AP_WK), *bk = PR(IJ_AP_BK);
    const float *Wv = PR(IJ_AP_WV), *bv = PR(IJ_AP_BV), *Wp = PR(IJ_AP_WP), *bp = PR(IJ_AP_BP);
    const float *g1 = PR(IJ_AP_LN1W), *be1 = PR(IJ_AP_LN1B), *g2 = PR(IJ_AP_LN2W), *be2 = PR(IJ_AP_LN2B);
    const float *W1 = PR(IJ_AP_W1), *b1 = PR(IJ_AP_B1), *W2 = PR(IJ_AP_W2), *b2 = PR(IJ_AP_B2);
    const float *Wc = PR(IJ_AP_WC), *bc = PR(IJ_AP_BC);
    const int hd = D / H;
    double q[D];
    for (int j = 0; j < D; j++) {
        q[j] = bq[j];
        for (int i = 0; i < D; i++) q[j] += q0[i] * Wq[i * D + j];
    }
    for (int b = 0; b < B; b++) {
        double ln[T][D], k[T][D], v[T][D], yv[D], q1[D], n2[D], hid[4 * D], q2[D];
        for (int t = 0; t < T; t++) {
            const float *r = x + ((size_t)b * T + t) * D;
            double mu = 0, var = 0;
            for (int d = 0; d < D; d++) mu += r[d] / (double)D;
            for (int d = 0; d < D; d++) var += (r[d] - mu) * (r[d] - mu) / D;
            for (int d = 0; d < D; d++) ln[t][d] = (r[d] - mu) / sqrt(var + 1e-5) * g1[d] + be1[d];
            for (int j = 0; j < D; j++) {
                k[t][j] = bk[j], v[t][j] = bv[j];
                for (int d = 0; d < D; d++) k[t][j] += ln[t][d] * Wk[d * D + j], v[t][j] += ln[t][d] * Wv[d * D + j];
            }
        }
        for (int h = 0; h < H; h++) {
            double s[T], mx = -1e300, sum = 0;
            for (int t = 0; t < T; t++) {
                s[t] = 0;
                for (int j = h * hd; j < (h + 1) * hd; j++) s[t] += q[j] * k[t][j];
                s[t] /= sqrt((double)hd);
                mx = s[t] > mx ? s[t] : mx;
            }
            for (int t = 0; t < T; t++) sum += s[t] = exp(s[t] - mx);
            for (int j = h * hd; j < (h + 1) * hd; j++) {
                yv[j] = 0;
                for (int t = 0; t < T; t++) yv[j] += s[t] / sum * v[t][j];
            }
        }
        double mu = 0, var = 0;
        for (int j = 0; j < D; j++) {
            q1[j] = q0[j] + bp[j];
            for (int i = 0; i < D; i++) q1[j] += yv[i] * Wp[i * D + j];
            mu += q1[j] / D;
        }
        for (int j = 0; j < D; j++) var += (q1[j] - mu) * (q1[j] - mu) / D;
        for (int j = 0; j < D; j++) n2[j] = (q1[j] - mu) / sqrt(var + 1e-5) * g2[j] + be2[j];
        for (int j = 0; j < 4 * D; j++) {
            hid[j] = b1[j];
            for (int i = 0; i < D; i++) hid[j] += n2[i] * W1[i * 4 * D + j];
            hid[j] = gelu_d(hid[j]);
        }
        for (int j = 0; j < D; j++) {
            q2[j] = q1[j] + b2[j];
            for (int i = 0; i < 4 * D; i++) q2[j] += hid[i] * W2[i * D + j];
        }
        for (int c = 0; c < C; c++) {
            logits[b * C + c] = bc[c];
            for (int j = 0; j < D; j++) logits[b * C + c] += q2[j] * Wc[j * C + c];
        }
    }
#undef PR
}

static void test_forward_matches_direct(void)
{
    IjAttnProbe p;
    random_probe(&p);
    float x[B * T * D], logits[B * C];
    fill(x, B * T * D, 1.0, 1);
    for (int i = 0; i < B * T; i++) x[i * D] += 3.0f; /* a mean offset that LN1 must remove */
    double ref[B * C], err = 0, mag = 0;
    direct_logits(&p, x, ref);
    ij_attnprobe_normalize_tokens(x, B * T, D);
    IjAttnProbeWork w = {0};
    ij_attnprobe_loss(&p, &w, x, NULL, B, T, logits, NULL);
    for (int i = 0; i < B * C; i++) {
        err = fmax(err, fabs(logits[i] - ref[i]));
        mag = fmax(mag, fabs(ref[i]));
    }
    printf("forward vs direct: max |logit error| %.2e (logits up to %.2f)\n", err, mag);
    CHECK(mag > 0.5);
    CHECK(err < 1e-4 * mag);
    ij_attnprobe_work_free(&w);
    ij_attnprobe_free(&p);
}

static void test_gradients(void)
{
    IjAttnProbe p;
    random_probe(&p);
    float x[B * T * D];
    int y[B] = {0, 2, 1, 2};
    fill(x, B * T * D, 1.0, 2);
    ij_attnprobe_normalize_tokens(x, B * T, D);
    IjAttnProbeWork w = {0};
    float *g = malloc(sizeof(float) * p.nparams);
    ij_attnprobe_loss(&p, &w, x, y, B, T, NULL, g);
    const float h = 1e-2f;
    double worst = 0;
    for (int t = 0; t < IJ_AP_NTENSORS; t++) {
        size_t len, off = ij_attnprobe_param(&p, (IjAttnParam)t, &len, NULL);
        double e2 = 0, f2 = 0, e2_wrong = 0;
        for (size_t i = off; i < off + len; i++) {
            float keep = p.params[i];
            p.params[i] = keep + h;
            double lp = ij_attnprobe_loss(&p, &w, x, y, B, T, NULL, NULL);
            float up = p.params[i];
            p.params[i] = keep - h;
            double lm = ij_attnprobe_loss(&p, &w, x, y, B, T, NULL, NULL);
            double fd = (lp - lm) / ((double)up - p.params[i]);
            p.params[i] = keep;
            e2 += (g[i] - fd) * (g[i] - fd);
            e2_wrong += (1.1 * g[i] - fd) * (1.1 * g[i] - fd);
            f2 += fd * fd;
        }
        if (t == IJ_AP_BK) { /* softmax ignores a shift shared by every token: no gradient at all */
            for (size_t i = off; i < off + len; i++) CHECK(g[i] == 0.0f);
            CHECKF(sqrt(f2) < 1e-4, "bk: finite differences %.2e", sqrt(f2));
            continue;
        }
        double rel = sqrt(e2 / f2), rel_wrong = sqrt(e2_wrong / f2);
        worst = fmax(worst, rel);
        CHECKF(f2 > 1e-10, "tensor %d carries no gradient", t);
        CHECKF(rel < 5e-3, "tensor %d: relative gradient error %.2e", t, rel);
        CHECKF(rel_wrong > 5e-3, "tensor %d: the gradient x1.1 passes too (%.2e)", t, rel_wrong);
    }
    printf("gradients vs finite differences: worst relative error %.2e over %d tensors\n", worst,
           IJ_AP_NTENSORS - 1);
    free(g);
    ij_attnprobe_work_free(&w);
    ij_attnprobe_free(&p);
}

/* n images of T2 tokens of D2 features: noise, plus at one random token the class's direction * 8. */
static void planted(int n, int T2, int D2, int C2, uint64_t seed, float **X, int **y)
{
    *X = malloc(sizeof(float) * (size_t)n * T2 * D2);
    *y = malloc(sizeof(int) * (size_t)n);
    IjRng r = ij_rng(seed, 3, 0);
    for (size_t i = 0; i < (size_t)n * T2 * D2; i++) (*X)[i] = (float)ij_rng_normal(&r);
    for (int i = 0; i < n; i++) {
        int c = (int)ij_rng_below(&r, (uint64_t)C2), t = (int)ij_rng_below(&r, (uint64_t)T2);
        (*y)[i] = c;
        (*X)[((size_t)i * T2 + t) * D2 + c] += 8.0f;
    }
}

static void test_protocol(void)
{
    enum { NTR = 1200, NTE = 400, T2 = 16, D2 = 16, C2 = 4 };
    float *Xtr, *Xte, *Xtr2, *Xte2;
    int *ytr, *yte;
    planted(NTR, T2, D2, C2, 1, &Xtr, &ytr);
    planted(NTE, T2, D2, C2, 2, &Xte, &yte);
    Xtr2 = malloc(sizeof(float) * NTR * T2 * D2), Xte2 = malloc(sizeof(float) * NTE * T2 * D2);
    memcpy(Xtr2, Xtr, sizeof(float) * NTR * T2 * D2);
    memcpy(Xte2, Xte, sizeof(float) * NTE * T2 * D2);
    IjAttnProbeOptions o;
    ij_attnprobe_default_options(&o);
    o.epochs = 40, o.batch = 64, o.heads = 2, o.lrs[0] = 1e-3, o.lrs[1] = 3e-3, o.lrs[2] = 1e-2;
    IjAttnProbeResult r1, r2;
    CHECK(ij_attentive_probe(Xtr, ytr, NTR, Xte, yte, NTE, T2, D2, C2, &o, &r1) == 0);
    printf("planted token: attentive probe test %.2f%%, val %.2f%% (lr %g), final loss %.4f\n", 100 * r1.test_acc,
           100 * r1.val_acc, r1.lr, r1.final_loss);
    CHECK(r1.test_acc > 0.93);
    CHECK(r1.nfit + r1.nval == NTR && r1.nval > 0 && r1.ntest == NTE && r1.nlrs == 3);
    int chosen = 0;
    for (int k = 0; k < r1.nlrs; k++) {
        CHECK(r1.val_accs[k] <= r1.val_acc);
        chosen += r1.lrs[k] == r1.lr && r1.val_accs[k] == r1.val_acc;
    }
    CHECK(chosen >= 1);
    CHECK(ij_attentive_probe(Xtr2, ytr, NTR, Xte2, yte, NTE, T2, D2, C2, &o, &r2) == 0);
    CHECK(r1.test_acc == r2.test_acc && r1.final_loss == r2.final_loss && r1.lr == r2.lr);

    /* bad input: a NaN token, a label out of range, heads that do not divide the width */
    Xte[5] = NAN;
    CHECK(ij_attentive_probe(Xtr, ytr, NTR, Xte, yte, NTE, T2, D2, C2, &o, &r2) == -1);
    CHECK(strstr(ij_last_error(), "non-finite") != NULL);
    Xte[5] = 0;
    yte[3] = C2;
    CHECK(ij_attentive_probe(Xtr, ytr, NTR, Xte, yte, NTE, T2, D2, C2, &o, &r2) == -1);
    yte[3] = 0;
    o.heads = 3;
    CHECK(ij_attentive_probe(Xtr, ytr, NTR, Xte, yte, NTE, T2, D2, C2, &o, &r2) == -1);
    CHECK(strstr(ij_last_error(), "heads") != NULL);
    free(Xtr), free(Xte), free(Xtr2), free(Xte2), free(ytr), free(yte);
}

int main(void)
{
    CHECK(ij_attnprobe_default_heads(192) == 3 && ij_attnprobe_default_heads(48) == 1);
    test_forward_matches_direct();
    test_gradients();
    test_protocol();
    return test_exit_code("test_attentive_probe");
}
