/* test_gradcheck.c: every backward pass against central finite differences.
 *
 * Each kernel is reduced to a scalar objective L = sum(out * R) with a fixed
 * random R (accumulated in double), so dL/dout = R is what the backward pass
 * receives. The analytic gradient from the backward function is compared, for
 * EVERY element of small random tensors, with
 *     g_fd[i] = (L(x + h e_i) - L(x - h e_i)) / (x_i^+ - x_i^-)
 * where x_i^+/- are the perturbed values as actually stored in float32.
 * The metric is per tensor: ||g - g_fd|| / max(||g_fd||, tiny).
 *
 * Tolerances. The kernels compute in float32 (unit roundoff u = 2^-24 ~ 6e-8),
 * so one evaluation of L carries an absolute error of about k * u * S, with
 * S = sum |out * R| (tens here) and k the depth of the computation (a few for a
 * kernel, tens for a transformer stack or the whole model). The difference
 * quotient turns that into ~ k u S / h per gradient element; truncation adds
 * h^2/6 |L'''| (zero for the linear maps: linear, gather, scatter, and for the
 * loss, piecewise quadratic, while no difference crosses |d| = 1). With
 * h = 1e-2 on O(1) inputs and O(1) gradient entries both terms are ~1e-5..1e-4
 * relative. The model's loss is a mean (gradient entries ~1e-2) returned as a
 * float (~3e-8 absolute, ~3e-6 after dividing by 2h); there h = 5e-3 balances
 * rounding (~1/h: qkv weights 1.3e-3 at h = 3e-3) against truncation (~h^2:
 * patch weights 4e-4, 2e-3, 2e-2 at h = 3e-3, 1e-2, 3e-2).
 * Measured worst errors: kernels <= 7e-5, stack 1e-4, model 8e-4. The bounds,
 * 1e-3 for kernels and the stack and 1e-2 for the model, leave a margin of
 * 10x or more, while a gradient off by 10% is caught: as a built-in negative
 * control every check also requires that the analytic gradient times 1.1 FAILS
 * the same bound, and test_checker() shows that wrong gradients (x1.1, negated,
 * zero, one element off) are rejected on a function with a known gradient.
 */
#include "testlib.h"

#include "core/error.h"
#include "core/rng.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "backend/stack.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEED 20240611u

/* ---------------------------------------------------------------- helpers */

/* The backend whose operations are checked (IJ_BACKEND: cpu by default, ref in tests/test_backend_ref.sh);
 * the cpu-only variants (the _rows and _slope kernels) are checked directly. */
static const IjBackend *be;

static void fill_normal(float *x, size_t n, double mean, double std, uint64_t purpose)
{
    IjRng r = ij_rng(SEED, purpose, 0);
    for (size_t i = 0; i < n; i++) x[i] = (float)(mean + std * ij_rng_normal(&r));
}

static void fill_const(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++) x[i] = v;
}

static float *fnew(size_t n) { return ij_calloc(n ? n : 1, sizeof(float)); }
static double *dnew(size_t n) { return ij_calloc(n ? n : 1, sizeof(double)); }

static double dot_obj(const float *out, const float *R, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)out[i] * R[i];
    return s;
}

static double norm2(const double *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i] * x[i];
    return sqrt(s);
}

/* ||scale * g - fd|| / max(||fd||, tiny) */
static double grad_rel_err(const float *g, const double *fd, size_t n, double scale)
{
    double num = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = scale * g[i] - fd[i];
        num += d * d;
    }
    return sqrt(num) / fmax(norm2(fd, n), 1e-30);
}

typedef double (*ObjFn)(void *ctx);

/* Central differences of f with respect to every element of x (restored after). */
static void fd_grad(double *g, float *x, size_t n, float h, ObjFn f, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i];
        x[i] = x0 + h;
        float xp = x[i];
        double fp = f(ctx);
        x[i] = x0 - h;
        float xm = x[i];
        double fm = f(ctx);
        x[i] = x0;
        g[i] = (fp - fm) / ((double)xp - (double)xm);
    }
}

/* The check proper: the analytic gradient must be within tol of the FD one, the
 * FD gradient must not vanish (a check of two zero vectors proves nothing), and
 * the same gradient scaled by 1.1 must fail the bound (so this bound can fail). */
static double check_grad(const char *op, const char *tensor, const float *g, const double *fd,
                         size_t n, double tol)
{
    double e = grad_rel_err(g, fd, n, 1.0), bad = grad_rel_err(g, fd, n, 1.1);
    double nfd = norm2(fd, n);
    printf("    %-12s %-34s n=%-5zu |g_fd| %.3e  rel err %.2e  (x1.1: %.2e)\n", op, tensor, n, nfd, e,
           bad);
    CHECKF(e <= tol, "%s %s: relative error %.3g > %.3g", op, tensor, e, tol);
    CHECKF(nfd > 1e-6, "%s %s: finite-difference gradient vanishes (%.3g)", op, tensor, nfd);
    CHECKF(bad > tol, "%s %s: a 10%% wrong gradient passes (%.3g <= %.3g)", op, tensor, bad, tol);
    return e;
}

/* FD over x, then check_grad; returns the error. */
static double fd_check(const char *op, const char *tensor, float *x, size_t n, const float *g,
                       float h, double tol, ObjFn f, void *ctx)
{
    double *fd = dnew(n);
    fd_grad(fd, x, n, h, f, ctx);
    double e = check_grad(op, tensor, g, fd, n, tol);
    free(fd);
    return e;
}

static void report(const char *op, double worst, double tol)
{
    printf("%-28s worst relative error %.2e (bound %.0e)\n", op, worst, tol);
}

/* ------------------------------------------------ self-test of the checker */

typedef struct {
    float *x, *R;
    size_t n;
} SinCtx;

static double sin_obj(void *p)
{
    SinCtx *c = p;
    double s = 0.0;
    for (size_t i = 0; i < c->n; i++) s += sin((double)c->x[i]) * c->R[i];
    return s;
}

/* L = sum R sin(x) with its exact gradient R cos(x): the right gradient passes,
 * and wrong ones (x1.1, one element off, sign flipped, zero) fail. */
static void test_checker(void)
{
    enum { N = 20 };
    float x[N], R[N], g[N];
    double fd[N];
    fill_normal(x, N, 0.0, 1.0, 100);
    fill_normal(R, N, 0.0, 1.0, 101);
    for (int i = 0; i < N; i++) g[i] = (float)(R[i] * cos((double)x[i]));
    SinCtx c = {x, R, N};
    fd_grad(fd, x, N, 1e-2f, sin_obj, &c);
    double tol = 1e-3;
    double ok = grad_rel_err(g, fd, N, 1.0);
    CHECKF(ok <= tol, "checker: exact gradient rejected (%.3g)", ok);
    CHECKF(grad_rel_err(g, fd, N, 1.1) > tol, "checker: gradient x1.1 accepted");
    CHECKF(grad_rel_err(g, fd, N, -1.0) > tol, "checker: negated gradient accepted");
    CHECKF(grad_rel_err(g, fd, N, 0.0) > tol, "checker: zero gradient accepted");
    float g1[N];
    memcpy(g1, g, sizeof g);
    g1[7] += 0.05f * (float)norm2(fd, N); /* one element off by 5% of the norm */
    CHECKF(grad_rel_err(g1, fd, N, 1.0) > tol, "checker: one wrong element accepted");
    report("checker self-test", ok, tol);
}

/* ------------------------------------------------------------------ linear */

typedef struct {
    int T, Cin, Cout;
    float *in, *w, *b, *out, *R;
} LinCtx;

static double lin_obj(void *p)
{
    LinCtx *c = p;
    be->linear_forward(c->out, c->in, c->w, c->b, c->T, c->Cin, c->Cout, IJ_BF16_OFF);
    return dot_obj(c->out, c->R, (size_t)c->T * c->Cout);
}

static void test_linear(void)
{
    const int T = 5, Cin = 7, Cout = 6;
    const double tol = 1e-3;
    const float h = 1e-2f;
    LinCtx c = {T, Cin, Cout, fnew((size_t)T * Cin), fnew((size_t)Cout * Cin), fnew(Cout),
                fnew((size_t)T * Cout), fnew((size_t)T * Cout)};
    fill_normal(c.in, (size_t)T * Cin, 0.0, 1.0, 200);
    fill_normal(c.w, (size_t)Cout * Cin, 0.0, 1.0, 201);
    fill_normal(c.b, Cout, 0.0, 1.0, 202);
    fill_normal(c.R, (size_t)T * Cout, 0.0, 1.0, 203);

    /* din is overwritten (pre-filled with junk), dw and db accumulate (pre-filled with 0.25) */
    float *din = fnew((size_t)T * Cin), *dw = fnew((size_t)Cout * Cin), *db = fnew(Cout);
    fill_const(din, (size_t)T * Cin, 1e3f);
    fill_const(dw, (size_t)Cout * Cin, 0.25f);
    fill_const(db, Cout, 0.25f);
    be->linear_backward(din, dw, db, c.R, c.in, c.w, T, Cin, Cout, IJ_BF16_OFF);
    for (int i = 0; i < Cout * Cin; i++) dw[i] -= 0.25f;
    for (int i = 0; i < Cout; i++) db[i] -= 0.25f;

    double worst = 0.0;
    worst = fmax(worst, fd_check("linear", "din", c.in, (size_t)T * Cin, din, h, tol, lin_obj, &c));
    worst = fmax(worst, fd_check("linear", "dw (accumulated)", c.w, (size_t)Cout * Cin, dw, h, tol, lin_obj, &c));
    worst = fmax(worst, fd_check("linear", "db (accumulated)", c.b, Cout, db, h, tol, lin_obj, &c));

    /* din == NULL (the patch embedding's call) gives the same dw, db */
    float *dw2 = fnew((size_t)Cout * Cin), *db2 = fnew(Cout);
    be->linear_backward(NULL, dw2, db2, c.R, c.in, c.w, T, Cin, Cout, IJ_BF16_OFF);
    double diff = 0.0;
    for (int i = 0; i < Cout * Cin; i++) diff = fmax(diff, fabs((double)dw2[i] - dw[i]));
    for (int i = 0; i < Cout; i++) diff = fmax(diff, fabs((double)db2[i] - db[i]));
    CHECKF(diff <= 1e-5, "ij_linear_backward with din NULL differs by %.3g", diff);
    report("ij_linear_backward", worst, tol);
    free(c.in); free(c.w); free(c.b); free(c.out); free(c.R);
    free(din); free(dw); free(db); free(dw2); free(db2);
}

/* --------------------------------------------------------------- layernorm */

typedef struct {
    int T, C;
    float *x, *w, *b, *y, *R;
} LnCtx;

static double ln_obj(void *p)
{
    LnCtx *c = p;
    be->layernorm_forward(c->y, NULL, NULL, c->x, c->w, c->b, c->T, c->C, 1e-5f);
    return dot_obj(c->y, c->R, (size_t)c->T * c->C);
}

static double test_layernorm_case(int affine, int T, int C)
{
    const double tol = 1e-3;
    const float h = 1e-2f;
    size_t n = (size_t)T * C;
    LnCtx c = {T, C, fnew(n), affine ? fnew(C) : NULL, affine ? fnew(C) : NULL, fnew(n), fnew(n)};
    fill_normal(c.x, n, 0.0, 1.0, 300);
    for (int t = 0; t < T; t++) /* rows with different means and spreads */
        for (int i = 0; i < C; i++) c.x[t * C + i] = c.x[t * C + i] * (0.7f + 0.3f * (float)t) + (float)t - 1.5f;
    if (affine) {
        fill_normal(c.w, C, 1.0, 0.3, 301);
        fill_normal(c.b, C, 0.0, 0.3, 302);
    }
    fill_normal(c.R, n, 0.0, 1.0, 303);
    float *mean = fnew(T), *rstd = fnew(T);
    be->layernorm_forward(c.y, mean, rstd, c.x, c.w, c.b, T, C, 1e-5f);

    /* every gradient accumulates: pre-fill with a known value, subtract it after */
    const float pre = 0.75f;
    float *dx = fnew(n), *dw = affine ? fnew(C) : NULL, *db = affine ? fnew(C) : NULL;
    fill_const(dx, n, pre);
    if (affine) {
        fill_const(dw, C, pre);
        fill_const(db, C, pre);
    }
    be->layernorm_backward_acc(dx, dw, db, c.R, c.x, mean, rstd, c.w, T, C);
    for (size_t i = 0; i < n; i++) dx[i] -= pre;
    const char *op = affine ? "layernorm" : "layernorm/na";
    double worst = fd_check(op, "dx (accumulated)", c.x, n, dx, h, tol, ln_obj, &c);
    if (affine) {
        for (int i = 0; i < C; i++) {
            dw[i] -= pre;
            db[i] -= pre;
        }
        worst = fmax(worst, fd_check(op, "dw (accumulated)", c.w, C, dw, h, tol, ln_obj, &c));
        worst = fmax(worst, fd_check(op, "db (accumulated)", c.b, C, db, h, tol, ln_obj, &c));
    }
    report(affine ? "ij_layernorm_backward_acc" : "ij_layernorm_backward_acc (w=NULL)", worst, tol);
    free(c.x); free(c.w); free(c.b); free(c.y); free(c.R);
    free(mean); free(rstd); free(dx); free(dw); free(db);
    return worst;
}

/* The forward values against double precision at the widths with a register path (96, 192, 384 with
 * AVX-512) and one without (100): mean, rstd and y, affine or not. */
static void test_layernorm_values(int C)
{
    const int T = 37;
    float *x = fnew((size_t)T * C), *y = fnew((size_t)T * C), *w = fnew((size_t)C), *b = fnew((size_t)C);
    float *mean = fnew((size_t)T), *rstd = fnew((size_t)T);
    fill_normal(x, (size_t)T * C, 3.0, 2.0, 31);
    fill_normal(w, (size_t)C, 1.0, 0.3, 32);
    fill_normal(b, (size_t)C, 0.0, 0.5, 33);
    for (int affine = 0; affine <= 1; affine++) {
        be->layernorm_forward(y, mean, rstd, x, affine ? w : NULL, affine ? b : NULL, T, C, 1e-6f);
        double worst = 0, worst_stat = 0;
        for (int t = 0; t < T; t++) {
            const float *xr = x + (size_t)t * C;
            double m = 0, v = 0;
            for (int c = 0; c < C; c++) m += xr[c];
            m /= C;
            for (int c = 0; c < C; c++) v += (xr[c] - m) * (xr[c] - m);
            double rs = 1.0 / sqrt(v / C + 1e-6);
            worst_stat = fmax(worst_stat, fmax(fabs(mean[t] - m) / fabs(m), fabs(rstd[t] - rs) / rs));
            for (int c = 0; c < C; c++) {
                double want = (xr[c] - m) * rs * (affine ? w[c] : 1.0) + (affine ? b[c] : 0.0);
                worst = fmax(worst, fabs(y[(size_t)t * C + c] - want));
            }
        }
        CHECKF(worst < 2e-5 && worst_stat < 1e-5, "ij_layernorm_forward C %d affine %d: |y error| %.3g, stats %.3g", C,
               affine, worst, worst_stat);
    }
    free(x); free(y); free(w); free(b); free(mean); free(rstd);
}

static void test_layernorm(void)
{
    test_layernorm_case(1, 4, 6);
    test_layernorm_case(0, 4, 6);
    /* the widths whose backward rows run in registers with AVX-512 */
    test_layernorm_case(1, 3, 96);
    test_layernorm_case(0, 2, 192);
    test_layernorm_values(96);
    test_layernorm_values(192);
    test_layernorm_values(384);
    test_layernorm_values(100);
}

/* -------------------------------------------------------------------- gelu */

typedef struct {
    size_t n;
    float *x, *y, *R;
} GeluCtx;

static double gelu_obj(void *p)
{
    GeluCtx *c = p;
    be->gelu_forward(c->y, c->x, c->n);
    return dot_obj(c->y, c->R, c->n);
}

static void test_gelu(void)
{
    const size_t n = 41;
    const double tol = 1e-3;
    const float h = 1e-2f;
    GeluCtx c = {n, fnew(n), fnew(n), fnew(n)};
    for (size_t i = 0; i < n; i++) c.x[i] = -4.0f + 8.0f * (float)i / (float)(n - 1) + 0.013f; /* spans the bend */
    fill_normal(c.R, n, 0.0, 1.0, 400);
    float *dx = fnew(n), *dd = fnew(n);
    be->gelu_backward(dx, c.R, c.x, n);
    double worst = fd_check("gelu", "dx", c.x, n, dx, h, tol, gelu_obj, &c);
    /* in place (dx aliases dy), as the transformer calls it */
    memcpy(dd, c.R, sizeof(float) * n);
    be->gelu_backward(dd, dd, c.x, n);
    CHECK(memcmp(dd, dx, sizeof(float) * n) == 0);
    report("ij_gelu_backward", worst, tol);
    /* the cpu kernels' training form: the same outputs, the slope kept in place of x, the backward as a
     * product */
    float *y2 = fnew(n), *slope = fnew(n);
    memcpy(slope, c.x, sizeof(float) * n);
    ij_gelu_forward(c.y, c.x, n);
    ij_gelu_backward(dx, c.R, c.x, n);
    ij_gelu_forward_keep_slope(y2, slope, n);
    CHECK(memcmp(y2, c.y, sizeof(float) * n) == 0);
    memcpy(dd, c.R, sizeof(float) * n);
    ij_gelu_backward_slope(dd, dd, slope, n);
    double worst_slope = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)dd[i] - dx[i]) / (1e-6 + fabs((double)dx[i]));
        if (e > worst_slope) worst_slope = e;
    }
    CHECK(worst_slope < 1e-6);
    report("ij_gelu_backward_slope vs ij_gelu_backward", worst_slope, 1e-6);
    free(y2); free(slope);
    free(c.x); free(c.y); free(c.R); free(dx); free(dd);
}

/* --------------------------------------------------------------- attention */

typedef struct {
    const int *seg;
    int nseg, D, heads;
    float *qkv, *out, *probs, *R, *scratch;
} AttCtx;

static double att_obj(void *p)
{
    AttCtx *c = p;
    be->attention_forward(c->out, c->probs, c->qkv, c->seg, c->nseg, c->D, c->heads, IJ_BF16_OFF);
    return dot_obj(c->out, c->R, (size_t)c->seg[c->nseg] * c->D);
}

static void test_attention(void)
{
    static const int seg[] = {0, 1, 5, 11}; /* lengths 1, 4, 6 */
    const int nseg = 3, D = 8, heads = 2, T = seg[nseg];
    const double tol = 1e-3;
    const float h = 1e-2f;
    size_t n = (size_t)T * 3 * D;
    AttCtx c = {seg, nseg, D, heads, fnew(n), fnew((size_t)T * D),
                fnew(ij_att_probs_size(seg, nseg, heads)), fnew((size_t)T * D),
                fnew(ij_att_scratch_size(seg, nseg, D, heads))};
    fill_normal(c.qkv, n, 0.0, 1.0, 500);
    fill_normal(c.R, (size_t)T * D, 0.0, 1.0, 501);
    att_obj(&c);
    float *dqkv = fnew(n), *scratch = c.scratch;
    fill_const(dqkv, n, 1e3f); /* overwritten, not accumulated */
    be->attention_backward(dqkv, c.R, c.qkv, c.probs, seg, nseg, D, heads, scratch, IJ_BF16_OFF);
    double worst = fd_check("attention", "dqkv (lengths 1,4,6)", c.qkv, n, dqkv, h, tol, att_obj, &c);
    /* a length-1 sequence attends only to itself: its q and k get exactly zero gradient */
    int zero = 1;
    for (int i = 0; i < 2 * D; i++) zero &= dqkv[i] == 0.0f;
    CHECK(zero);
    report("ij_attention_backward", worst, tol);
    free(c.qkv); free(c.out); free(c.probs); free(c.R); free(dqkv); free(scratch);
}

/* ------------------------------------------------------- patch embedding */

typedef struct {
    const float *images;
    const int *sample_of, *tok;
    int nrows, C, S, p, D;
    float *rows, *w, *b, *out, *R;
} PatchCtx;

static double patch_obj(void *p)
{
    PatchCtx *c = p;
    int K = c->C * c->p * c->p;
    ij_patchify(c->rows, c->images, c->sample_of, c->tok, c->nrows, c->C, c->S, c->p);
    be->linear_forward(c->out, c->rows, c->w, c->b, c->nrows, K, c->D, IJ_BF16_OFF);
    return dot_obj(c->out, c->R, (size_t)c->nrows * c->D);
}

static void test_patch_embed(void)
{
    const int B = 2, C = 3, S = 6, p = 2, D = 5, G = S / p, N = G * G, K = C * p * p;
    const double tol = 1e-3;
    const float h = 1e-2f;
    float *images = fnew((size_t)B * C * S * S);
    fill_normal(images, (size_t)B * C * S * S, 0.0, 1.0, 600);
    /* a random set of distinct tokens per sample (4 and 3), the rows of the two
     * samples interleaved (0 1 0 1 0 1 0) so that sample_of matters */
    int so2[7], tk2[7], nrows = 0;
    const int count[2] = {4, 3};
    IjRng r = ij_rng(SEED, 601, 0);
    for (int b = 0; b < B; b++) {
        int perm[9];
        for (int i = 0; i < N; i++) perm[i] = i;
        for (int i = N - 1; i > 0; i--) {
            int j = (int)ij_rng_below(&r, (uint64_t)i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (int i = 0; i < count[b]; i++) {
            so2[2 * i + b] = b;
            tk2[2 * i + b] = perm[i];
            nrows++;
        }
    }
    PatchCtx c = {images, so2, tk2, nrows, C, S, p, D, fnew((size_t)nrows * K), fnew((size_t)D * K),
                  fnew(D), fnew((size_t)nrows * D), fnew((size_t)nrows * D)};
    fill_normal(c.w, (size_t)D * K, 0.0, 0.5, 602);
    fill_normal(c.b, D, 0.0, 0.5, 603);
    fill_normal(c.R, (size_t)nrows * D, 0.0, 1.0, 604);
    patch_obj(&c);

    /* layout: the patch rows times the weight equal the convolution written out */
    double err = 0.0;
    for (int i = 0; i < nrows; i++) {
        const float *img = images + (size_t)so2[i] * C * S * S;
        int pr = tk2[i] / G, pc = tk2[i] % G;
        for (int d = 0; d < D; d++) {
            double s = c.b[d];
            for (int ch = 0; ch < C; ch++)
                for (int y = 0; y < p; y++)
                    for (int x = 0; x < p; x++)
                        s += (double)c.w[(size_t)d * K + (size_t)(ch * p + y) * p + x] *
                             img[(size_t)ch * S * S + (size_t)(pr * p + y) * S + (size_t)(pc * p + x)];
            err = fmax(err, fabs(s - c.out[(size_t)i * D + d]));
        }
    }
    CHECKF(err <= 1e-5, "ij_patchify + linear differs from the convolution by %.3g", err);

    float *dw = fnew((size_t)D * K), *db = fnew(D);
    be->linear_backward(NULL, dw, db, c.R, c.rows, c.w, nrows, K, D, IJ_BF16_OFF);
    double worst = fd_check("patch_embed", "dw", c.w, (size_t)D * K, dw, h, tol, patch_obj, &c);
    worst = fmax(worst, fd_check("patch_embed", "db", c.b, D, db, h, tol, patch_obj, &c));
    report("ij_patchify + ij_linear_backward", worst, tol);
    free(images); free(c.rows); free(c.w); free(c.b); free(c.out); free(c.R); free(dw); free(db);
}

/* ------------------------------------------------------ gather / scatter */

typedef struct {
    const int *idx;
    int n, nsrc, C;
    float *x, *y, *tmp, *R, *base;
} GsCtx;

static double gather_obj(void *p)
{
    GsCtx *c = p;
    ij_gather_rows(c->tmp, c->x, c->idx, c->n, c->C);
    return dot_obj(c->tmp, c->R, (size_t)c->n * c->C);
}

static double scatter_obj(void *p)
{
    GsCtx *c = p;
    memcpy(c->tmp, c->base, sizeof(float) * (size_t)c->nsrc * c->C);
    ij_scatter_add_rows(c->tmp, c->y, c->idx, c->n, c->C);
    return dot_obj(c->tmp, c->R, (size_t)c->nsrc * c->C);
}

static void test_gather_scatter(void)
{
    static const int idx[] = {3, 0, 3, 4, 1, 3, 0, 1}; /* repeats; row 2 never used */
    const int n = 8, nsrc = 5, C = 3;
    const double tol = 1e-3;
    const float h = 1e-2f;
    float *x = fnew((size_t)nsrc * C), *y = fnew((size_t)n * C), *gx = fnew((size_t)n * C);
    float *sy = fnew((size_t)nsrc * C);
    fill_normal(x, (size_t)nsrc * C, 0.0, 1.0, 700);
    fill_normal(y, (size_t)n * C, 0.0, 1.0, 701);

    /* adjoint identity <gather(x), y> == <x, scatter(y)> */
    ij_gather_rows(gx, x, idx, n, C);
    ij_scatter_add_rows(sy, y, idx, n, C);
    double lhs = dot_obj(gx, y, (size_t)n * C), rhs = dot_obj(x, sy, (size_t)nsrc * C);
    double adj = fabs(lhs - rhs) / fmax(fabs(lhs), 1e-30);
    printf("    gather/scatter <gather(x),y> = %.9f, <x,scatter(y)> = %.9f\n", lhs, rhs);
    CHECKF(adj <= 1e-6, "gather/scatter are not adjoint: %.3g", adj);

    /* scatter accumulates into what dst held */
    float *acc = fnew((size_t)nsrc * C);
    fill_const(acc, (size_t)nsrc * C, 2.0f);
    ij_scatter_add_rows(acc, y, idx, n, C);
    double accerr = 0.0;
    for (int i = 0; i < nsrc * C; i++) accerr = fmax(accerr, fabs((double)acc[i] - 2.0 - sy[i]));
    CHECKF(accerr <= 1e-6, "ij_scatter_add_rows does not accumulate (%.3g)", accerr);

    /* gradients: gather's backward is scatter, scatter's backward is gather */
    GsCtx cg = {idx, n, nsrc, C, x, NULL, fnew((size_t)n * C), fnew((size_t)n * C), NULL};
    fill_normal(cg.R, (size_t)n * C, 0.0, 1.0, 702);
    float *dx = fnew((size_t)nsrc * C);
    ij_scatter_add_rows(dx, cg.R, idx, n, C);
    double worst = fd_check("gather", "dx = scatter(R)", x, (size_t)nsrc * C, dx, h, tol, gather_obj, &cg);

    GsCtx cs = {idx, n, nsrc, C, NULL, y, fnew((size_t)nsrc * C), fnew((size_t)nsrc * C),
                fnew((size_t)nsrc * C)};
    fill_normal(cs.R, (size_t)nsrc * C, 0.0, 1.0, 703);
    fill_normal(cs.base, (size_t)nsrc * C, 0.0, 1.0, 704);
    float *dy = fnew((size_t)n * C);
    ij_gather_rows(dy, cs.R, idx, n, C);
    worst = fmax(worst, fd_check("scatter_add", "dy = gather(R)", y, (size_t)n * C, dy, h, tol, scatter_obj, &cs));
    report("ij_gather_rows / scatter_add", fmax(worst, adj), tol);
    free(x); free(y); free(gx); free(sy); free(acc); free(dx); free(dy);
    free(cg.tmp); free(cg.R); free(cs.tmp); free(cs.R); free(cs.base);
}

/* ------------------------------------------------------ transformer stack */

/* Floats in one block of width D and MLP width H. */
static size_t block_numel(int D, int H)
{
    return (size_t)(2 * D + 3 * D * D + 3 * D + D * D + D + 2 * D + H * D + H + D * H + D);
}

/* Points depth blocks of (D, H) into a flat buffer, in the table's order. */
static void bind_blocks(IjBlockW *w, float *base, int depth, int D, int H)
{
    float *p = base;
#define TAKE(n) (p += (n), p - (n))
    for (int l = 0; l < depth; l++) {
        w[l].norm1_w = TAKE(D);
        w[l].norm1_b = TAKE(D);
        w[l].qkv_w = TAKE((size_t)3 * D * D);
        w[l].qkv_b = TAKE((size_t)3 * D);
        w[l].proj_w = TAKE((size_t)D * D);
        w[l].proj_b = TAKE(D);
        w[l].norm2_w = TAKE(D);
        w[l].norm2_b = TAKE(D);
        w[l].fc1_w = TAKE((size_t)H * D);
        w[l].fc1_b = TAKE(H);
        w[l].fc2_w = TAKE((size_t)D * H);
        w[l].fc2_b = TAKE(D);
    }
#undef TAKE
    IJ_ASSERT((size_t)(p - base) == (size_t)depth * block_numel(D, H));
}

typedef struct {
    IjStack *s;
    const IjBlockW *w;
    const int *seg;
    int nseg, D;
    float *x0, *R;
} StackCtx;

static double stack_obj(void *p)
{
    StackCtx *c = p;
    size_t n = (size_t)c->seg[c->nseg] * c->D;
    memcpy(ij_stack_input(c->s), c->x0, sizeof(float) * n);
    const float *out = ij_stack_forward(c->s, c->w, c->seg, c->nseg);
    return dot_obj(out, c->R, n);
}

static void test_stack(void)
{
    static const int seg[] = {0, 3, 4, 9}; /* lengths 3, 1, 5 */
    const int nseg = 3, depth = 2, D = 8, H = 16, heads = 2, T = seg[nseg];
    const double tol = 1e-3;
    const float h = 1e-2f;
    size_t nw = (size_t)depth * block_numel(D, H), nx = (size_t)T * D;
    float *wbuf = fnew(nw), *gbuf = fnew(nw);
    IjBlockW w[2], gw[2];
    bind_blocks(w, wbuf, depth, D, H);
    bind_blocks(gw, gbuf, depth, D, H);
    fill_normal(wbuf, nw, 0.0, 0.3, 800);
    for (int l = 0; l < depth; l++) {
        fill_normal(w[l].norm1_w, D, 1.0, 0.2, 801 + 10 * l);
        fill_normal(w[l].norm2_w, D, 1.0, 0.2, 802 + 10 * l);
    }
    IjStack s;
    ij_stack_init(&s, depth, D, H, heads, 1);
    ij_stack_reserve(&s, seg, nseg);
    StackCtx c = {&s, w, seg, nseg, D, fnew(nx), fnew(nx)};
    fill_normal(c.x0, nx, 0.0, 1.0, 820);
    fill_normal(c.R, nx, 0.0, 1.0, 821);

    stack_obj(&c);
    float *dx = fnew(nx);
    memcpy(dx, c.R, sizeof(float) * nx);
    const float pre = 0.5f; /* parameter gradients accumulate */
    fill_const(gbuf, nw, pre);
    ij_stack_backward(&s, w, gw, dx, seg, nseg);
    for (size_t i = 0; i < nw; i++) gbuf[i] -= pre;

    double worst = fd_check("stack", "d input (lengths 3,1,5)", c.x0, nx, dx, h, tol, stack_obj, &c);
    for (int l = 0; l < depth; l++) {
        struct {
            const char *name;
            float *p, *g;
            size_t n;
        } t[] = {
            {"norm1.weight", w[l].norm1_w, gw[l].norm1_w, (size_t)D},
            {"norm1.bias", w[l].norm1_b, gw[l].norm1_b, (size_t)D},
            {"attn.qkv.weight", w[l].qkv_w, gw[l].qkv_w, (size_t)3 * D * D},
            {"attn.qkv.bias", w[l].qkv_b, gw[l].qkv_b, (size_t)3 * D},
            {"attn.proj.weight", w[l].proj_w, gw[l].proj_w, (size_t)D * D},
            {"attn.proj.bias", w[l].proj_b, gw[l].proj_b, (size_t)D},
            {"norm2.weight", w[l].norm2_w, gw[l].norm2_w, (size_t)D},
            {"norm2.bias", w[l].norm2_b, gw[l].norm2_b, (size_t)D},
            {"mlp.fc1.weight", w[l].fc1_w, gw[l].fc1_w, (size_t)H * D},
            {"mlp.fc1.bias", w[l].fc1_b, gw[l].fc1_b, (size_t)H},
            {"mlp.fc2.weight", w[l].fc2_w, gw[l].fc2_w, (size_t)D * H},
            {"mlp.fc2.bias", w[l].fc2_b, gw[l].fc2_b, (size_t)D},
        };
        for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
            char name[64];
            snprintf(name, sizeof name, "blocks.%d.%s", l, t[k].name);
            worst = fmax(worst, fd_check("stack", name, t[k].p, t[k].n, t[k].g, h, tol, stack_obj, &c));
        }
    }
    report("ij_stack_backward (2 blocks)", worst, tol);
    ij_stack_free(&s);
    free(wbuf); free(gbuf); free(c.x0); free(c.R); free(dx);
}

/* -------------------------------------------------------------------- loss */

typedef struct {
    IjLossKind kind;
    float *pred, *target;
    size_t n;
} LossCtx;

static double loss_obj(void *p)
{
    LossCtx *c = p;
    return ij_loss(c->kind, c->pred, c->target, NULL, c->n);
}

static void test_loss(void)
{
    const size_t n = 48;
    const double tol = 1e-3;
    const float h = 5e-2f; /* piecewise quadratic: no truncation error while the kink stays outside */
    double worst = 0.0;
    LossCtx c = {IJ_LOSS_L2, fnew(n), fnew(n), n};
    fill_normal(c.target, n, 0.0, 1.0, 900);
    /* differences spread over [-3, 3] but never within 3h of the smooth-L1 kink at |d| = 1 */
    for (size_t i = 0; i < n; i++) {
        float d = -3.0f + 6.0f * (float)i / (float)(n - 1);
        float a = fabsf(d);
        if (fabsf(a - 1.0f) < 3 * h) d = copysignf(a < 1.0f ? 1.0f - 3 * h : 1.0f + 3 * h, d);
        c.pred[i] = c.target[i] + d;
    }
    float *dp = fnew(n);
    for (int k = 0; k < 2; k++) {
        c.kind = k ? IJ_LOSS_L2 : IJ_LOSS_SMOOTH_L1;
        float l = ij_loss(c.kind, c.pred, c.target, dp, n);
        CHECK(l == ij_loss(c.kind, c.pred, c.target, NULL, n));
        /* the loss itself against a double-precision evaluation */
        double ref = 0.0;
        for (size_t i = 0; i < n; i++) {
            double d = (double)c.pred[i] - c.target[i], a = fabs(d);
            ref += c.kind == IJ_LOSS_L2 ? d * d : (a < 1.0 ? 0.5 * d * d : a - 0.5);
        }
        ref /= (double)n;
        CHECKF(fabs(l - ref) <= 1e-6 * ref, "ij_loss %d = %.8g, expected %.8g", k, l, ref);
        worst = fmax(worst, fd_check("loss", k ? "L2 dpred" : "smooth L1 dpred", c.pred, n, dp, h, tol,
                                     loss_obj, &c));
    }
    report("ij_loss", worst, tol);
    free(c.pred); free(c.target); free(dp);
}

/* ----------------------------------------------------------- whole model */

/* Side of the smooth-L1 kink for every prediction element: 1 inside |d| < 1. */
static void kink_sides(const IjModel *m, unsigned char *side, size_t n)
{
    for (size_t i = 0; i < n; i++) side[i] = fabsf(m->preds[i] - m->targets[i]) < 1.0f;
}

/* ij_model_step(..., 1) gradients against finite differences of the loss that
 * ij_model_step(..., 0) returns, for every element of every trainable tensor
 * (perturbing m->params one entry at a time; m->target stays fixed). */
static double test_model_kind(IjModel *m, const float *images, const IjMasks *mk, IjLossKind kind,
                              float h, double tol)
{
    m->loss_kind = kind;
    const char *op = kind == IJ_LOSS_L2 ? "model/L2" : "model/sL1";
    float loss = ij_model_step(m, images, mk, 1);
    size_t np = m->tab.n_total, n = (size_t)m->n_tgt * m->cfg.embed_dim;
    float *g = fnew(np);
    memcpy(g, m->grads, sizeof(float) * np);
    unsigned char *side0 = ij_calloc(n, 1), *side = ij_calloc(n, 1);
    kink_sides(m, side0, n);
    size_t inside = 0;
    for (size_t i = 0; i < n; i++) inside += side0[i];
    printf("    %s: loss %.6f, %zu of %zu differences inside |d| < 1\n", op, loss, inside, n);
    if (kind == IJ_LOSS_SMOOTH_L1) CHECK(inside > n / 5 && inside < n - n / 5); /* both branches in play */

    double worst = 0.0;
    size_t skipped = 0, checked = 0;
    for (int ti = 0; ti < m->tab.n; ti++) {
        const IjTensor *t = &m->tab.t[ti];
        float *p = m->params + t->offset, *gt = g + t->offset;
        if (!t->trainable) {
            int zero = 1;
            for (size_t i = 0; i < t->numel; i++) zero &= gt[i] == 0.0f;
            CHECKF(zero, "%s: gradient of a fixed tensor is not zero", t->name);
            continue;
        }
        double *fd = dnew(t->numel);
        float *ga = fnew(t->numel);
        memcpy(ga, gt, sizeof(float) * t->numel);
        for (size_t i = 0; i < t->numel; i++) {
            float x0 = p[i];
            int crossed = 0;
            p[i] = x0 + h;
            float xp = p[i];
            double fp = ij_model_step(m, images, mk, 0);
            if (kind == IJ_LOSS_SMOOTH_L1) {
                kink_sides(m, side, n);
                crossed |= memcmp(side, side0, n) != 0;
            }
            p[i] = x0 - h;
            float xm = p[i];
            double fm = ij_model_step(m, images, mk, 0);
            if (kind == IJ_LOSS_SMOOTH_L1) {
                kink_sides(m, side, n);
                crossed |= memcmp(side, side0, n) != 0;
            }
            p[i] = x0;
            fd[i] = (fp - fm) / ((double)xp - (double)xm);
            /* a difference crossing |d| = 1 puts the kink of smooth L1 inside the
             * stencil (O(h) error instead of O(h^2)): leave that element out */
            if (crossed) {
                fd[i] = 0.0;
                ga[i] = 0.0f;
                skipped++;
            }
        }
        checked += t->numel;
        char name[128];
        ij_tensor_full_name(name, sizeof name, t, 0);
        worst = fmax(worst, check_grad(op, name, ga, fd, t->numel, tol));
        free(fd);
        free(ga);
    }
    printf("    %s: %zu parameters checked, %zu left out (kink crossed)\n", op, checked, skipped);
    CHECKF(skipped * 50 <= checked, "%s: %zu of %zu elements cross the kink", op, skipped, checked);
    /* the sweep left the parameters as they were: the loss is reproduced exactly */
    CHECK(ij_model_step(m, images, mk, 0) == loss);
    free(g);
    free(side0);
    free(side);
    return worst;
}

static void test_model(void)
{
    /* distinct widths everywhere (D 8, Dp 12, MLP 16 and 24) so that a mixed-up dimension shows */
    IjConfig cfg = {.img_size = 8, .channels = 3, .patch_size = 2, .embed_dim = 8, .depth = 2,
                    .num_heads = 2, .mlp_dim = 16, .pred_dim = 12, .pred_depth = 2, .pred_mlp_dim = 24};
    const double tol = 1e-2;
    const float h = 5e-3f;
    IjModel m;
    int rc = ij_model_init(&m, &cfg, 7);
    CHECKF(rc == 0, "ij_model_init: %s", ij_last_error());
    if (rc) return;
    /* weights with std 0.3, LayerNorm weights near 1, nonzero biases; positions stay sin-cos */
    for (int i = 0; i < m.tab.n; i++) {
        const IjTensor *t = &m.tab.t[i];
        if (!t->trainable) continue;
        if (t->init == IJ_INIT_ONES) fill_normal(m.params + t->offset, t->numel, 1.0, 0.2, 1000 + i);
        else fill_normal(m.params + t->offset, t->numel, 0.0, 0.3, 1000 + i);
    }
    ij_model_sync_target(&m); /* then fixed: no gradient flows into the target encoder */

    const int B = 2, N = ij_num_patches(&cfg), nt = 2;
    float *images = fnew((size_t)B * cfg.channels * cfg.img_size * cfg.img_size);
    fill_normal(images, (size_t)B * cfg.channels * cfg.img_size * cfg.img_size, 0.0, 1.0, 1100);
    /* ragged masks: context 6 and 3 tokens; target blocks (i, b) of 3, 2, 4, 1 tokens
     * drawn from the tokens outside the sample's context (blocks may overlap) */
    const int ctx_len[2] = {6, 3}, tgt_len[4] = {3, 2, 4, 1};
    int ctx_idx[9], ctx_off[3] = {0}, tgt_idx[10], tgt_off[5] = {0};
    int perm[2][16];
    IjRng r = ij_rng(SEED, 1101, 0);
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < N; i++) perm[b][i] = i;
        for (int i = N - 1; i > 0; i--) {
            int j = (int)ij_rng_below(&r, (uint64_t)i + 1), t = perm[b][i];
            perm[b][i] = perm[b][j];
            perm[b][j] = t;
        }
        ctx_off[b + 1] = ctx_off[b] + ctx_len[b];
        for (int k = 0; k < ctx_len[b]; k++) ctx_idx[ctx_off[b] + k] = perm[b][k];
    }
    for (int q = 0; q < nt * B; q++) {
        int b = q % B, avail = N - ctx_len[b];
        tgt_off[q + 1] = tgt_off[q] + tgt_len[q];
        int start = (int)ij_rng_below(&r, (uint64_t)avail);
        for (int k = 0; k < tgt_len[q]; k++)
            tgt_idx[tgt_off[q] + k] = perm[b][ctx_len[b] + (start + k) % avail];
    }
    IjMasks mk = {B, nt, ctx_idx, ctx_off, tgt_idx, tgt_off};

    double w1 = test_model_kind(&m, images, &mk, IJ_LOSS_SMOOTH_L1, h, tol);
    report("ij_model_step, smooth L1", w1, tol);
    double w2 = test_model_kind(&m, images, &mk, IJ_LOSS_L2, h, tol);
    report("ij_model_step, L2", w2, tol);
    free(images);
    ij_model_free(&m);
}

int main(void)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    be = ij_backend_default();
    printf("backend %s\n", be->name);
    test_checker();
    test_linear();
    test_layernorm();
    test_gelu();
    test_attention();
    test_patch_embed();
    test_gather_scatter();
    test_stack();
    test_loss();
    test_model();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("test_gradcheck: %.2f s\n", (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return test_exit_code("test_gradcheck");
}
