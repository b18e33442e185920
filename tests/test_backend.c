/* test_backend.c: the cpu backend held to the ref backend (backend.h), operation by operation and on
 * whole training steps, in float32 and with bf16 operands.
 *
 * The error metric is per output tensor: ||cpu - ref|| / ||ref||. Tolerances, derived: the ref sums
 * in double, the cpu in float32 (unit roundoff u = 6e-8); a sum of K terms in float32 is off by about
 * sqrt(K) u relative to sum |terms| when the rounding errors are independent, K u at worst. For the
 * operations here K <= 256, so about 1e-6 to 1.5e-5: the bound for an operation in float32 is 1e-5
 * (measured: see the printed worst errors). GELU: the cpu evaluates erf by a fitted polynomial
 * (kernels/erf_approx.h, max error a few ulp), so the same 1e-5. With bf16 operands both backends
 * round the same float32 operands the same way, and only the sums differ, so 1e-5 holds for a single
 * product. Where a bf16 rounding happens on a computed value (attention's probabilities and their
 * gradient, q k v, a block's d(attention output)), two values a few float32 ulp apart may round to
 * neighbouring bf16 numbers (2^-8 apart), in a fraction of about ulp/bf16-ulp = 2^-16 of the
 * elements; a tensor then moves by about 2^-9 sqrt(fraction): 1e-4 is the bound for bf16 attention.
 * AdamW and the EMA: the same float32 formula per element in both, so bit-identical.
 * A whole training step (two, from the parity fixture's weights, masks and images): the loss within
 * 1e-5 (bf16 1e-4); every gradient within 1e-4 (float32: a chain of ~40 products, each ~1e-6) or 1e-3
 * (bf16: ~40 products, each with a few roundings that may flip); after AdamW every parameter within
 * 1e-4 (bf16 1e-3) of max(|p|, 1e-3) except where a gradient is below 1e-6 in size (Adam moves a
 * weight by about lr times the gradient's sign: a noise-level gradient may flip it), held to lr. A
 * wrong gradient moves a weight by lr = 1e-3 against |p| ~ 0.02: 5e-2, far outside. */
#include "testlib.h"

#include "backend/backend.h"
#include "core/error.h"
#include "core/rng.h"
#include "kernels/kernels.h"
#include "io/checkpoint.h"
#include "model/model.h"
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const IjBackend *cpu = &ij_backend_cpu, *ref = &ij_backend_ref;

static float *fnew(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static void fill(float *x, size_t n, double mean, double sd, uint64_t seed)
{
    IjRng r = ij_rng(seed, 7, 0);
    for (size_t i = 0; i < n; i++) x[i] = (float)(mean + sd * ij_rng_normal(&r));
}

static double rel_err(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num) / (sqrt(den) + 1e-30);
}

/* Every check also prints its error, so the measured margins stay visible in the log. */
static void expect_close(const char *what, const float *got, const float *want, size_t n, double tol)
{
    double e = rel_err(got, want, n);
    printf("  %-44s relative error %.2e (bound %.0e)\n", what, e, tol);
    CHECKF(e <= tol, "%s: cpu against ref %.3g > %.3g", what, e, tol);
}

static void test_linear(IjBf16Path bf16)
{
    const int T = 37, Cin = 96, Cout = 80;
    float *in = fnew((size_t)T * Cin), *w = fnew((size_t)Cout * Cin), *b = fnew(Cout), *dout = fnew((size_t)T * Cout);
    fill(in, (size_t)T * Cin, 0, 1, 1), fill(w, (size_t)Cout * Cin, 0, 0.1, 2), fill(b, Cout, 0, 0.1, 3);
    fill(dout, (size_t)T * Cout, 0, 1, 4);
    float *o[2], *din[2], *dw[2], *db[2];
    const IjBackend *be[2] = {cpu, ref};
    for (int k = 0; k < 2; k++) {
        o[k] = fnew((size_t)T * Cout), din[k] = fnew((size_t)T * Cin), dw[k] = fnew((size_t)Cout * Cin);
        db[k] = fnew(Cout);
        fill(dw[k], (size_t)Cout * Cin, 0, 1, 5), fill(db[k], Cout, 0, 1, 6); /* backward accumulates */
        be[k]->linear_forward(o[k], in, w, b, T, Cin, Cout, bf16);
        be[k]->linear_backward(din[k], dw[k], db[k], dout, in, w, T, Cin, Cout, bf16);
    }
    const char *p = bf16 ? "bf16" : "f32";
    char name[64];
    snprintf(name, sizeof name, "linear forward (%s)", p);
    expect_close(name, o[0], o[1], (size_t)T * Cout, 1e-5);
    snprintf(name, sizeof name, "linear backward: input (%s)", p);
    expect_close(name, din[0], din[1], (size_t)T * Cin, 1e-5);
    snprintf(name, sizeof name, "linear backward: weight, accumulated (%s)", p);
    expect_close(name, dw[0], dw[1], (size_t)Cout * Cin, 1e-5);
    snprintf(name, sizeof name, "linear backward: bias, accumulated (%s)", p);
    expect_close(name, db[0], db[1], Cout, 1e-5);
    for (int k = 0; k < 2; k++) free(o[k]), free(din[k]), free(dw[k]), free(db[k]);
    free(in), free(w), free(b), free(dout);
}

static void test_layernorm_gelu(void)
{
    const int T = 29, C = 96;
    const size_t n = (size_t)T * C;
    float *x = fnew(n), *w = fnew(C), *b = fnew(C), *dy = fnew(n);
    fill(x, n, 0.3, 2, 11), fill(w, C, 1, 0.2, 12), fill(b, C, 0, 0.2, 13), fill(dy, n, 0, 1, 14);
    float *y[2], *mean[2], *rstd[2], *dx[2], *dw[2], *db[2], *g[2], *dg[2];
    const IjBackend *be[2] = {cpu, ref};
    for (int k = 0; k < 2; k++) {
        y[k] = fnew(n), mean[k] = fnew(T), rstd[k] = fnew(T), dx[k] = fnew(n), dw[k] = fnew(C), db[k] = fnew(C);
        g[k] = fnew(n), dg[k] = fnew(n);
        fill(dx[k], n, 0, 1, 15); /* accumulates */
        be[k]->layernorm_forward(y[k], mean[k], rstd[k], x, w, b, T, C, 1e-6f);
        be[k]->layernorm_backward_acc(dx[k], dw[k], db[k], dy, x, mean[k], rstd[k], w, T, C);
        be[k]->gelu_forward(g[k], x, n);
        be[k]->gelu_backward(dg[k], dy, x, n);
    }
    expect_close("layernorm forward", y[0], y[1], n, 1e-5);
    expect_close("layernorm forward: mean", mean[0], mean[1], T, 1e-5);
    expect_close("layernorm forward: 1/std", rstd[0], rstd[1], T, 1e-5);
    expect_close("layernorm backward: input, accumulated", dx[0], dx[1], n, 1e-5);
    expect_close("layernorm backward: weight", dw[0], dw[1], C, 1e-5);
    expect_close("layernorm backward: bias", db[0], db[1], C, 1e-5);
    expect_close("gelu forward", g[0], g[1], n, 1e-5);
    expect_close("gelu backward", dg[0], dg[1], n, 1e-5);
    for (int k = 0; k < 2; k++) free(y[k]), free(mean[k]), free(rstd[k]), free(dx[k]), free(dw[k]), free(db[k]), free(g[k]), free(dg[k]);
    free(x), free(w), free(b), free(dy);
}

/* Ragged sequences (1 to 40 tokens); head width 32 takes the cpu's fused kernel, 12 its BLAS path. */
static void test_attention(int D, int heads, IjBf16Path bf16)
{
    static const int seg[] = {0, 5, 22, 23, 63, 70};
    const int nseg = 5, T = seg[nseg];
    size_t nq = (size_t)T * 3 * D, np = ij_att_probs_size(seg, nseg, heads);
    size_t ns = ij_att_scratch_size(seg, nseg, D, heads);
    float *qkv = fnew(nq), *dout = fnew((size_t)T * D), *scratch = fnew(ns);
    fill(qkv, nq, 0, 1, 21), fill(dout, (size_t)T * D, 0, 1, 22);
    if (bf16) /* the callers hand attention bf16 operands (kernels.h) */
        for (size_t i = 0; i < nq; i++) qkv[i] = ij_bf16_round(qkv[i]);
    if (bf16)
        for (size_t i = 0; i < (size_t)T * D; i++) dout[i] = ij_bf16_round(dout[i]);
    float *out[2], *probs[2], *dqkv[2];
    const IjBackend *be[2] = {cpu, ref};
    for (int k = 0; k < 2; k++) {
        out[k] = fnew((size_t)T * D), probs[k] = fnew(np), dqkv[k] = fnew(nq);
        be[k]->attention_forward(out[k], probs[k], qkv, seg, nseg, D, heads, bf16);
        be[k]->attention_backward(dqkv[k], dout, qkv, probs[k], seg, nseg, D, heads, scratch, bf16);
    }
    double tol = bf16 ? 1e-4 : 1e-5;
    char name[64];
    snprintf(name, sizeof name, "attention forward (head %d, %s)", D / heads, bf16 ? "bf16" : "f32");
    expect_close(name, out[0], out[1], (size_t)T * D, tol);
    snprintf(name, sizeof name, "attention probabilities (head %d, %s)", D / heads, bf16 ? "bf16" : "f32");
    expect_close(name, probs[0], probs[1], np, tol);
    snprintf(name, sizeof name, "attention backward (head %d, %s)", D / heads, bf16 ? "bf16" : "f32");
    expect_close(name, dqkv[0], dqkv[1], nq, tol);
    for (int k = 0; k < 2; k++) free(out[k]), free(probs[k]), free(dqkv[k]);
    free(qkv), free(dout), free(scratch);
}

static void test_adamw(void)
{
    const IjParamRange r[] = {{0, 100, 1, 1}, {100, 40, 1, 0}, {140, 60, 0, 0}, {200, 90000, 1, 1}};
    const size_t n = 90200, n_ema = 150;
    const IjAdamScalars k = {0.9f, 0.999f, 0.1f, 0.001f, 0.0447f, 1e-8f, 0.01f, 0.996f, 0.004f, 0.9996f};
    float *g = fnew(n), *p[2], *m[2], *v[2], *t[2];
    fill(g, n, 0, 1e-3, 31);
    const IjBackend *be[2] = {cpu, ref};
    for (int j = 0; j < 2; j++) {
        p[j] = fnew(n), m[j] = fnew(n), v[j] = fnew(n), t[j] = fnew(n);
        fill(p[j], n, 0, 0.02, 32), fill(m[j], n, 0, 1e-4, 33), fill(t[j], n, 0, 0.02, 34);
        for (size_t i = 0; i < n; i++) v[j][i] = 1e-6f * (float)(i % 13);
        be[j]->adamw_ema(p[j], g, m[j], v[j], r, 4, t[j], n_ema, &k);
    }
    CHECKF(memcmp(p[0], p[1], sizeof(float) * n) == 0, "AdamW: parameters differ");
    CHECKF(memcmp(m[0], m[1], sizeof(float) * n) == 0 && memcmp(v[0], v[1], sizeof(float) * n) == 0,
           "AdamW: moments differ");
    CHECKF(memcmp(t[0], t[1], sizeof(float) * n) == 0, "EMA: targets differ");
    printf("  %-44s bit-identical\n", "AdamW + EMA (threaded over 90200 values)");
    for (int j = 0; j < 2; j++) free(p[j]), free(m[j]), free(v[j]), free(t[j]);
    free(g);
}

/* The parity fixture's model, weights, images and ragged masks. */
typedef struct {
    StFile f;
    IjConfig c;
    float *images;
    int *co, *ci, *to, *ti;
    IjMasks mk;
} Fixture;

static int *read_ints(StFile *f, const char *name, size_t *n)
{
    const StTensor *t = ij_st_find(f, name);
    *n = ij_st_numel(t);
    int *p = calloc(*n + 1, sizeof(int));
    CHECK(ij_st_read_i32(f, t, p, *n) == 0);
    return p;
}

static int fixture_open(Fixture *x)
{
    memset(x, 0, sizeof *x);
    if (ij_st_open(&x->f, test_fixture("parity.safetensors"))) {
        CHECKF(0, "%s", ij_last_error());
        return -1;
    }
    CHECK(ij_config_from_meta(&x->f, &x->c) == 0);
    const StTensor *t = ij_st_find(&x->f, "input.images");
    x->images = fnew(ij_st_numel(t));
    CHECK(ij_st_read_f32(&x->f, t, x->images, ij_st_numel(t)) == 0);
    size_t B, nq, n;
    int *cl = read_ints(&x->f, "masks.context_len", &B), *tl = read_ints(&x->f, "masks.target_len", &nq);
    x->co = calloc(B + 1, sizeof(int)), x->to = calloc(nq + 1, sizeof(int));
    for (size_t i = 0; i < B; i++) x->co[i + 1] = x->co[i] + cl[i];
    for (size_t i = 0; i < nq; i++) x->to[i + 1] = x->to[i] + tl[i];
    x->ci = read_ints(&x->f, "masks.context", &n);
    x->ti = read_ints(&x->f, "masks.target", &n);
    x->mk = (IjMasks){(int)B, (int)(nq / B), x->ci, x->co, x->ti, x->to};
    free(cl), free(tl);
    return 0;
}

static void fixture_close(Fixture *x)
{
    free(x->images), free(x->co), free(x->ci), free(x->to), free(x->ti);
    ij_st_close(&x->f);
}

/* Two training steps (model step, AdamW, EMA) on each backend from the fixture's weights. */
static void test_training_step(const Fixture *x, IjBf16Path bf16)
{
    IjModel m[2];
    float *am[2], *av[2];
    float loss[2][2];
    const IjBackend *be[2] = {cpu, ref};
    const char *ignore[] = {"input.", "masks.", "out.", "grad.", "step."};
    const double lr = 1e-3, wd = 0.04;
    for (int k = 0; k < 2; k++) {
        CHECK(ij_model_init(&m[k], &x->c, 0) == 0);
        CHECK(ij_checkpoint_load_file(&m[k], &x->f, NULL, 0, ignore, 5) == 0);
        ij_model_set_backend(&m[k], be[k]);
        ij_model_set_bf16(&m[k], bf16);
        am[k] = fnew(m[k].tab.n_total), av[k] = fnew(m[k].tab.n_total);
    }
    const char *p = bf16 ? "bf16" : "f32";
    const double gtol = bf16 ? 1e-3 : 1e-4;
    IjAdamW opt = IJ_ADAMW_DEFAULT;
    for (int step = 1; step <= 2; step++) {
        for (int k = 0; k < 2; k++) loss[k][step - 1] = ij_model_step(&m[k], x->images, &x->mk, 1);
        double le = fabs((double)loss[0][step - 1] - loss[1][step - 1]) / fabs((double)loss[1][step - 1]);
        printf("  step %d (%s): loss cpu %.7f ref %.7f, relative difference %.1e\n", step, p, loss[0][step - 1],
               loss[1][step - 1], le);
        CHECKF(le <= (bf16 ? 1e-4 : 1e-5), "step %d loss: %g", step, le);
        double worst = 0;
        const char *worst_name = "";
        for (int i = 0; i < m[0].tab.n; i++) {
            const IjTensor *t = &m[0].tab.t[i];
            if (!t->trainable) continue;
            double e = rel_err(m[0].grads + t->offset, m[1].grads + t->offset, t->numel);
            if (e > worst) worst = e, worst_name = t->name;
            CHECKF(e <= gtol, "step %d (%s) gradient of %s: %g", step, p, t->name, e);
        }
        printf("  step %d (%s): worst gradient relative error %.2e (%s; bound %.0e)\n", step, p, worst, worst_name,
               gtol);
        /* the update from the same gradients on both sides: the gradients' differences are the only ones */
        for (int k = 0; k < 2; k++)
            ij_adamw_ema_step(be[k], m[k].params, m[k].grads, am[k], av[k], &m[k].tab, &opt, lr, wd, step,
                              m[k].target, m[k].tab.n_encoder, 0.996);
        size_t held = 0, off = 0;
        double pworst = 0;
        for (size_t j = 0; j < m[0].tab.n_total; j++) {
            double d = fabs((double)m[0].params[j] - m[1].params[j]);
            if (fabsf(m[1].grads[j]) < 1e-6f) {
                held++;
                off += d > lr * 1.001;
                continue;
            }
            double r = d / (fabs((double)m[1].params[j]) + 1e-3);
            if (r > pworst) pworst = r;
        }
        double ptol = bf16 ? 1e-3 : 1e-4;
        printf("  step %d (%s): parameters after AdamW within %.1e (bound %.0e; %zu near-zero gradients held to lr)\n",
               step, p, pworst, ptol, held);
        CHECKF(pworst <= ptol && off == 0, "step %d (%s) parameters: %g, %zu past lr", step, p, pworst, off);
        double te = rel_err(m[0].target, m[1].target, m[0].tab.n_encoder);
        CHECKF(te <= ptol, "step %d (%s) target encoder: %g", step, p, te);
    }
    for (int k = 0; k < 2; k++) {
        ij_model_free(&m[k]);
        free(am[k]), free(av[k]);
    }
}

int main(void)
{
    printf("cpu against ref:\n");
    test_linear(IJ_BF16_OFF);
    test_linear(IJ_BF16_EMULATED);
    test_layernorm_gelu();
    test_attention(64, 2, IJ_BF16_OFF);
    test_attention(36, 3, IJ_BF16_OFF);
    test_attention(64, 2, IJ_BF16_EMULATED);
    test_adamw();
    Fixture x;
    if (fixture_open(&x) == 0) {
        test_training_step(&x, IJ_BF16_OFF);
        test_training_step(&x, IJ_BF16_EMULATED);
        fixture_close(&x);
    }
    return test_exit_code("test_backend");
}
