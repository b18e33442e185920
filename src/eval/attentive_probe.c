/* attentive_probe.c: see attentive_probe.h. */
#include "eval/attentive_probe.h"

#include "core/error.h"
#include "core/rng.h"
#include "eval/probe.h"
#include "kernels/kernels.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LN_EPS 1e-5f
#define RNG_INIT 0x61747470u  /* purposes of the random streams */
#define RNG_ORDER 0x6f726472u

/* ---- parameters ------------------------------------------------------------------------ */

static void param_shape(int D, int C, IjAttnParam t, size_t *rows, size_t *cols)
{
    size_t d = (size_t)D;
    static const int rows_of[IJ_AP_NTENSORS] = {
        [IJ_AP_WQ] = 1, [IJ_AP_WK] = 1, [IJ_AP_WV] = 1, [IJ_AP_WP] = 1, [IJ_AP_W1] = 1, [IJ_AP_W2] = 4,
        [IJ_AP_WC] = 1};
    *rows = rows_of[t] ? (size_t)rows_of[t] * d : 1;
    *cols = t == IJ_AP_W1 || t == IJ_AP_B1 ? 4 * d : t == IJ_AP_WC || t == IJ_AP_BC ? (size_t)C : d;
}

size_t ij_attnprobe_param(const IjAttnProbe *p, IjAttnParam t, size_t *len, int *decay)
{
    size_t off = 0, r, c;
    for (int i = 0; i < (int)t; i++) {
        param_shape(p->D, p->C, (IjAttnParam)i, &r, &c);
        off += r * c;
    }
    if (t == IJ_AP_NTENSORS) r = c = 0; /* the end: off is the total */
    else param_shape(p->D, p->C, t, &r, &c);
    if (len) *len = r * c;
    if (decay) *decay = r > 1;
    return off;
}

int ij_attnprobe_default_heads(int D) { return D % 64 == 0 ? D / 64 : 1; }

int ij_attnprobe_init(IjAttnProbe *p, int D, int heads, int C, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    if (D < 1 || C < 2 || heads < 1 || D % heads)
        return ij_error("attentive probe: %d heads do not divide the %d features", heads, D);
    p->D = D, p->heads = heads, p->C = C;
    p->nparams = ij_attnprobe_param(p, IJ_AP_NTENSORS, NULL, NULL);
    p->params = ij_calloc(p->nparams, sizeof(float));
    for (int t = 0; t < IJ_AP_NTENSORS; t++) {
        size_t len;
        int decay;
        float *x = p->params + ij_attnprobe_param(p, (IjAttnParam)t, &len, &decay);
        if (t == IJ_AP_LN1W || t == IJ_AP_LN2W) {
            for (size_t i = 0; i < len; i++) x[i] = 1.0f;
        } else if (decay || t == IJ_AP_Q0) {
            IjRng r = ij_rng(seed, RNG_INIT, (uint64_t)t);
            double scale = t == IJ_AP_WP || t == IJ_AP_W2 ? 0.02 / sqrt(2.0) : 0.02;
            for (size_t i = 0; i < len; i++) x[i] = (float)(scale * ij_rng_normal(&r));
        }
    }
    return 0;
}

void ij_attnprobe_free(IjAttnProbe *p)
{
    free(p->params);
    p->params = NULL;
}

void ij_attnprobe_normalize_tokens(float *x, size_t n, int D)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float *r = x + i * (size_t)D;
        double s = 0, s2 = 0;
        for (int d = 0; d < D; d++) s += r[d];
        float mean = (float)(s / D);
        for (int d = 0; d < D; d++) s2 += (double)(r[d] - mean) * (r[d] - mean);
        float rstd = 1.0f / sqrtf((float)(s2 / D) + LN_EPS);
        for (int d = 0; d < D; d++) r[d] = (r[d] - mean) * rstd;
    }
}

void ij_attnprobe_work_free(IjAttnProbeWork *w)
{
    for (size_t i = 0; i < sizeof w->b / sizeof w->b[0]; i++) ij_buf_free(&w->b[i]);
}

/* ---- forward and backward -------------------------------------------------------------- */

/* C[M, N] = alpha op(A) op(B) + beta C, row-major. */
static void mm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
                lda, B, ldb, beta, C, ldc);
}

/* out[r, :] = bias (each of n rows of m floats). */
static void rows_set(float *out, const float *bias, int n, int m)
{
    for (int r = 0; r < n; r++) memcpy(out + (size_t)r * m, bias, sizeof(float) * (size_t)m);
}

/* g[j] = sum over n rows of x[r, j] (m columns), in row order. */
static void col_sums(float *g, const float *x, int n, int m)
{
    memset(g, 0, sizeof(float) * (size_t)m);
    for (int r = 0; r < n; r++)
        for (int j = 0; j < m; j++) g[j] += x[(size_t)r * m + j];
}

enum { W_XP, W_P, W_U, W_Z, W_Y, W_Q1, W_N2, W_M2, W_R2, W_H1, W_G, W_Q2, W_LOG, W_DLOG, W_DQ2, W_DG, W_DN2,
       W_DQ1, W_DY, W_DZ, W_DXP, W_DU, W_Q, W_DQ, W_DS };

double ij_attnprobe_loss(const IjAttnProbe *p, IjAttnProbeWork *w, const float *xhat, const int *y, int B, int T,
                         float *logits_out, float *grad)
{
    const int D = p->D, H = p->heads, hd = D / H, C = p->C, D4 = 4 * D, BT = B * T;
    const float scale = 1.0f / sqrtf((float)hd);
#define PRM(t) (p->params + ij_attnprobe_param(p, (t), NULL, NULL))
#define GRD(t) (grad + ij_attnprobe_param(p, (t), NULL, NULL))
    const float *q0 = PRM(IJ_AP_Q0), *Wq = PRM(IJ_AP_WQ), *bq = PRM(IJ_AP_BQ), *Wk = PRM(IJ_AP_WK);
    const float *Wv = PRM(IJ_AP_WV), *bv = PRM(IJ_AP_BV), *Wp = PRM(IJ_AP_WP), *bp = PRM(IJ_AP_BP);
    const float *g1 = PRM(IJ_AP_LN1W), *be1 = PRM(IJ_AP_LN1B), *g2 = PRM(IJ_AP_LN2W), *be2 = PRM(IJ_AP_LN2B);
    const float *W1 = PRM(IJ_AP_W1), *b1 = PRM(IJ_AP_B1), *W2 = PRM(IJ_AP_W2), *b2 = PRM(IJ_AP_B2);
    const float *Wc = PRM(IJ_AP_WC), *bc = PRM(IJ_AP_BC);
    float *Xp = IJ_BUF_F(&w->b[W_XP], (size_t)BT * D), *P = IJ_BUF_F(&w->b[W_P], (size_t)BT * H);
    float *U = IJ_BUF_F(&w->b[W_U], (size_t)D * H), *Z = IJ_BUF_F(&w->b[W_Z], (size_t)B * H * D);
    float *Y = IJ_BUF_F(&w->b[W_Y], (size_t)B * D), *Q1 = IJ_BUF_F(&w->b[W_Q1], (size_t)B * D);
    float *N2 = IJ_BUF_F(&w->b[W_N2], (size_t)B * D), *mean2 = IJ_BUF_F(&w->b[W_M2], B);
    float *rstd2 = IJ_BUF_F(&w->b[W_R2], B), *H1 = IJ_BUF_F(&w->b[W_H1], (size_t)B * D4);
    float *G = IJ_BUF_F(&w->b[W_G], (size_t)B * D4), *Q2 = IJ_BUF_F(&w->b[W_Q2], (size_t)B * D);
    float *L = logits_out ? logits_out : IJ_BUF_F(&w->b[W_LOG], (size_t)B * C);
    float *q = IJ_BUF_F(&w->b[W_Q], D);

    /* q = q0 Wq + bq; U[:, h] = Wk_h q_h (the keys' weights folded onto the query) */
    memcpy(q, bq, sizeof(float) * (size_t)D);
    cblas_sgemv(CblasRowMajor, CblasTrans, D, D, 1.0f, Wq, D, q0, 1, 1.0f, q, 1);
    for (int d = 0; d < D; d++)
        for (int h = 0; h < H; h++) {
            float s = 0;
            for (int j = h * hd; j < (h + 1) * hd; j++) s += Wk[(size_t)d * D + j] * q[j];
            U[(size_t)d * H + h] = s;
        }
    /* X' = LN1's affine on the normalised tokens; scores S = scale X' U, softmax over each image's tokens per head,
     * Z[b, h] = sum_t P[b, t, h] X'[b, t] */
#pragma omp parallel for schedule(static)
    for (int r = 0; r < BT; r++)
        for (int d = 0; d < D; d++) Xp[(size_t)r * D + d] = xhat[(size_t)r * D + d] * g1[d] + be1[d];
    mm(0, 0, BT, H, D, scale, Xp, D, U, H, 0.0f, P, H);
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        float *Pb = P + (size_t)b * T * H, *Zb = Z + (size_t)b * H * D;
        for (int h = 0; h < H; h++) {
            float mx = Pb[h], sum = 0;
            for (int t = 1; t < T; t++) mx = fmaxf(mx, Pb[(size_t)t * H + h]);
            for (int t = 0; t < T; t++) sum += Pb[(size_t)t * H + h] = expf(Pb[(size_t)t * H + h] - mx);
            for (int t = 0; t < T; t++) Pb[(size_t)t * H + h] /= sum;
        }
        memset(Zb, 0, sizeof(float) * (size_t)H * D);
        for (int t = 0; t < T; t++) {
            const float *x = Xp + ((size_t)b * T + t) * D;
            for (int h = 0; h < H; h++) {
                float pt = Pb[(size_t)t * H + h];
                for (int d = 0; d < D; d++) Zb[(size_t)h * D + d] += pt * x[d];
            }
        }
    }
    /* y_h = Z_h Wv_h + bv_h; q1 = q0 + y Wp + bp; q2 = q1 + GELU(LN2(q1) W1 + b1) W2 + b2; logits */
    rows_set(Y, bv, B, D);
    for (int h = 0; h < H; h++) mm(0, 0, B, hd, D, 1.0f, Z + (size_t)h * D, H * D, Wv + h * hd, D, 1.0f, Y + h * hd, D);
    for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++) Q1[(size_t)b * D + d] = q0[d] + bp[d];
    mm(0, 0, B, D, D, 1.0f, Y, D, Wp, D, 1.0f, Q1, D);
    ij_layernorm_forward(N2, mean2, rstd2, Q1, g2, be2, B, D, LN_EPS);
    rows_set(H1, b1, B, D4);
    mm(0, 0, B, D4, D, 1.0f, N2, D, W1, D4, 1.0f, H1, D4);
    ij_gelu_forward(G, H1, (size_t)B * D4);
    for (int i = 0; i < B * D; i++) Q2[i] = Q1[i] + b2[i % D];
    mm(0, 0, B, D, D4, 1.0f, G, D4, W2, D, 1.0f, Q2, D);
    rows_set(L, bc, B, C);
    mm(0, 0, B, C, D, 1.0f, Q2, D, Wc, C, 1.0f, L, C);
    if (!y) return 0;

    /* the mean cross-entropy and dlogits = (softmax - onehot) / B */
    float *dL = IJ_BUF_F(&w->b[W_DLOG], (size_t)B * C);
    double loss = 0;
    for (int b = 0; b < B; b++) {
        const float *l = L + (size_t)b * C;
        double mx = l[0], s = 0;
        for (int c = 1; c < C; c++) mx = l[c] > mx ? l[c] : mx;
        for (int c = 0; c < C; c++) s += exp(l[c] - mx);
        loss += mx + log(s) - l[y[b]];
        for (int c = 0; c < C; c++) dL[(size_t)b * C + c] = (float)((exp(l[c] - mx) / s - (c == y[b])) / B);
    }
    loss /= B;
    if (!grad) return loss;

    float *dQ2 = IJ_BUF_F(&w->b[W_DQ2], (size_t)B * D), *dG = IJ_BUF_F(&w->b[W_DG], (size_t)B * D4);
    float *dN2 = IJ_BUF_F(&w->b[W_DN2], (size_t)B * D), *dQ1 = IJ_BUF_F(&w->b[W_DQ1], (size_t)B * D);
    float *dY = IJ_BUF_F(&w->b[W_DY], (size_t)B * D), *dZ = IJ_BUF_F(&w->b[W_DZ], (size_t)B * H * D);
    float *dXp = IJ_BUF_F(&w->b[W_DXP], (size_t)BT * D), *dU = IJ_BUF_F(&w->b[W_DU], (size_t)D * H);
    float *dq = IJ_BUF_F(&w->b[W_DQ], D);
    memset(grad, 0, sizeof(float) * p->nparams);
    /* classifier, MLP, LN2 */
    mm(1, 0, D, C, B, 1.0f, Q2, D, dL, C, 0.0f, GRD(IJ_AP_WC), C);
    col_sums(GRD(IJ_AP_BC), dL, B, C);
    mm(0, 1, B, D, C, 1.0f, dL, C, Wc, C, 0.0f, dQ2, D);
    mm(1, 0, D4, D, B, 1.0f, G, D4, dQ2, D, 0.0f, GRD(IJ_AP_W2), D);
    col_sums(GRD(IJ_AP_B2), dQ2, B, D);
    mm(0, 1, B, D4, D, 1.0f, dQ2, D, W2, D, 0.0f, dG, D4);
    ij_gelu_backward(dG, dG, H1, (size_t)B * D4);
    mm(1, 0, D, D4, B, 1.0f, N2, D, dG, D4, 0.0f, GRD(IJ_AP_W1), D4);
    col_sums(GRD(IJ_AP_B1), dG, B, D4);
    mm(0, 1, B, D, D4, 1.0f, dG, D4, W1, D4, 0.0f, dN2, D);
    memcpy(dQ1, dQ2, sizeof(float) * (size_t)B * D);
    ij_layernorm_backward_acc(dQ1, GRD(IJ_AP_LN2W), GRD(IJ_AP_LN2B), dN2, Q1, mean2, rstd2, g2, B, D);
    /* proj and the residual into q0 */
    mm(1, 0, D, D, B, 1.0f, Y, D, dQ1, D, 0.0f, GRD(IJ_AP_WP), D);
    col_sums(GRD(IJ_AP_BP), dQ1, B, D);
    col_sums(GRD(IJ_AP_Q0), dQ1, B, D);
    mm(0, 1, B, D, D, 1.0f, dQ1, D, Wp, D, 0.0f, dY, D);
    /* values: dWv_h = Z_h^T dy_h, dZ_h = dy_h Wv_h^T */
    col_sums(GRD(IJ_AP_BV), dY, B, D);
    for (int h = 0; h < H; h++) {
        mm(1, 0, D, hd, B, 1.0f, Z + (size_t)h * D, H * D, dY + h * hd, D, 0.0f, GRD(IJ_AP_WV) + h * hd, D);
        mm(0, 1, B, D, hd, 1.0f, dY + h * hd, D, Wv + h * hd, D, 0.0f, dZ + (size_t)h * D, H * D);
    }
    /* through the pooling: dX' = sum_h P_h dZ_h; through the softmax: dS = P (dP - sum_t P dP), dP = X' dZ_h */
    float *dS = IJ_BUF_F(&w->b[W_DS], (size_t)BT * H);
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const float *Pb = P + (size_t)b * T * H, *dZb = dZ + (size_t)b * H * D;
        float *dSb = dS + (size_t)b * T * H;
        for (int t = 0; t < T; t++) {
            const float *x = Xp + ((size_t)b * T + t) * D;
            float *dx = dXp + ((size_t)b * T + t) * D;
            memset(dx, 0, sizeof(float) * (size_t)D);
            for (int h = 0; h < H; h++) {
                const float *dz = dZb + (size_t)h * D;
                float pt = Pb[(size_t)t * H + h], dp = 0;
                for (int d = 0; d < D; d++) {
                    dp += x[d] * dz[d];
                    dx[d] += pt * dz[d];
                }
                dSb[(size_t)t * H + h] = dp;
            }
        }
        for (int h = 0; h < H; h++) {
            float dot = 0;
            for (int t = 0; t < T; t++) dot += Pb[(size_t)t * H + h] * dSb[(size_t)t * H + h];
            for (int t = 0; t < T; t++) dSb[(size_t)t * H + h] = Pb[(size_t)t * H + h] * (dSb[(size_t)t * H + h] - dot);
        }
    }
    /* through the scores S = scale X' U: dX' += scale dS U^T, dU = scale X'^T dS */
    mm(0, 1, BT, D, H, scale, dS, H, U, H, 1.0f, dXp, D);
    mm(1, 0, D, H, BT, scale, Xp, D, dS, H, 0.0f, dU, H);
    /* U = Wk_h q_h: dWk[d, j] = dU[d, h(j)] q[j], dq[j] = sum_d Wk[d, j] dU[d, h(j)]; bk's gradient is 0 */
    float *dWk = GRD(IJ_AP_WK);
    memset(dq, 0, sizeof(float) * (size_t)D);
    for (int d = 0; d < D; d++)
        for (int j = 0; j < D; j++) {
            float u = dU[(size_t)d * H + j / hd];
            dWk[(size_t)d * D + j] = u * q[j];
            dq[j] += Wk[(size_t)d * D + j] * u;
        }
    /* q = q0 Wq + bq */
    float *dWq = GRD(IJ_AP_WQ), *dq0 = GRD(IJ_AP_Q0);
    memcpy(GRD(IJ_AP_BQ), dq, sizeof(float) * (size_t)D);
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) dWq[(size_t)i * D + j] = q0[i] * dq[j];
    cblas_sgemv(CblasRowMajor, CblasNoTrans, D, D, 1.0f, Wq, D, dq, 1, 1.0f, dq0, 1);
    /* LN1's affine: dgamma = sum dX' xhat, dbeta = sum dX' over every token (columns in parallel) */
    float *dg1 = GRD(IJ_AP_LN1W), *db1 = GRD(IJ_AP_LN1B);
#pragma omp parallel for schedule(static)
    for (int d0 = 0; d0 < D; d0 += 16) {
        int d1 = d0 + 16 < D ? d0 + 16 : D;
        for (size_t r = 0; r < (size_t)BT; r++)
            for (int d = d0; d < d1; d++) {
                dg1[d] += dXp[r * D + d] * xhat[r * D + d];
                db1[d] += dXp[r * D + d];
            }
    }
    return loss;
#undef PRM
#undef GRD
}

/* ---- training -------------------------------------------------------------------------- */

void ij_attnprobe_default_options(IjAttnProbeOptions *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 20;
    o->batch = 256;
    o->nlrs = 3;
    o->lrs[0] = 3e-4, o->lrs[1] = 1e-3, o->lrs[2] = 3e-3;
    o->weight_decay = 0.01;
    o->warmup = 0.1;
    o->val_fraction = 0.1;
}

/* The images idx[n] of X (T * D floats each) copied into dst, their labels into ydst. */
static void gather_images(float *dst, int *ydst, const float *X, const int *y, const int *idx, int n, size_t per)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) memcpy(dst + (size_t)i * per, X + (size_t)idx[i] * per, sizeof(float) * per);
    for (int i = 0; i < n; i++) ydst[i] = y[idx[i]];
}

typedef struct {
    const IjAttnProbeOptions *o;
    int pass, npasses; /* progress: this training among all of them */
} FitProgress;

/* AdamW (betas 0.9, 0.999, eps 1e-8; decoupled weight decay on the matrices) for o->epochs epochs over the
 * images idx[n] of X, from a fresh init; peak lr with a linear warm-up, then cosine to 0. Returns the mean
 * loss of the last epoch. */
static double fit(IjAttnProbe *p, const float *X, const int *y, const int *idx, int n, int T, double lr,
                  const IjAttnProbeOptions *o, const FitProgress *fp)
{
    const size_t per = (size_t)T * p->D, np = p->nparams;
    const int bs = o->batch < n ? o->batch : n, spe = (n + bs - 1) / bs, total = spe * o->epochs;
    const int warm = (int)(o->warmup * total) > 0 ? (int)(o->warmup * total) : 1;
    float *m = ij_calloc(np, sizeof(float)), *v = ij_calloc(np, sizeof(float)), *g = ij_malloc(sizeof(float) * np);
    float *xb = ij_alloc_aligned(sizeof(float) * per * (size_t)bs);
    int *yb = ij_malloc(sizeof(int) * (size_t)bs), *order = ij_malloc(sizeof(int) * (size_t)n);
    unsigned char *decay = ij_calloc(np, 1);
    for (int t = 0; t < IJ_AP_NTENSORS; t++) {
        size_t len;
        int dec;
        size_t off = ij_attnprobe_param(p, (IjAttnParam)t, &len, &dec);
        memset(decay + off, dec, len);
    }
    IjAttnProbeWork w = {0};
    double epoch_loss = 0;
    for (int e = 0, step = 0; e < o->epochs; e++) {
        memcpy(order, idx, sizeof(int) * (size_t)n);
        IjRng r = ij_rng(o->seed, RNG_ORDER, (uint64_t)e);
        for (int i = n - 1; i > 0; i--) {
            int j = (int)ij_rng_below(&r, (uint64_t)i + 1), tmp = order[i];
            order[i] = order[j], order[j] = tmp;
        }
        epoch_loss = 0;
        for (int s = 0; s < spe; s++, step++) {
            int b0 = s * bs, nb = n - b0 < bs ? n - b0 : bs;
            gather_images(xb, yb, X, y, order + b0, nb, per);
            epoch_loss += ij_attnprobe_loss(p, &w, xb, yb, nb, T, NULL, g) * nb;
            double a = step < warm ? lr * (step + 1) / warm
                                   : lr * 0.5 * (1 + cos(3.14159265358979323846 * (step - warm) / (double)(total - warm)));
            double b1c = 1 - pow(0.9, step + 1), b2c = 1 - pow(0.999, step + 1);
            float *x = p->params;
#pragma omp parallel for schedule(static)
            for (size_t i = 0; i < np; i++) {
                m[i] = 0.9f * m[i] + 0.1f * g[i];
                v[i] = 0.999f * v[i] + 0.001f * g[i] * g[i];
                if (decay[i]) x[i] -= (float)(a * o->weight_decay) * x[i];
                x[i] -= (float)(a * (m[i] / b1c) / (sqrt(v[i] / b2c) + 1e-8));
            }
        }
        epoch_loss /= n;
        if (o->progress)
            o->progress(o->progress_ctx, "attentive probe",
                        (fp->pass + (e + 1.0) / o->epochs) / fp->npasses);
    }
    ij_attnprobe_work_free(&w);
    free(m), free(v), free(g), free(xb), free(yb), free(order), free(decay);
    return epoch_loss;
}

/* Share of the images idx[n] (NULL: 0 .. n-1) that the probe classifies correctly. */
static double accuracy(const IjAttnProbe *p, const float *X, const int *y, const int *idx, int n, int T)
{
    const size_t per = (size_t)T * p->D;
    const int bs = 256;
    float *xb = ij_alloc_aligned(sizeof(float) * per * bs), *logits = ij_malloc(sizeof(float) * bs * p->C);
    int *yb = ij_malloc(sizeof(int) * bs), *ib = ij_malloc(sizeof(int) * bs), correct = 0;
    IjAttnProbeWork w = {0};
    for (int b0 = 0; b0 < n; b0 += bs) {
        int nb = n - b0 < bs ? n - b0 : bs;
        for (int i = 0; i < nb; i++) ib[i] = idx ? idx[b0 + i] : b0 + i;
        gather_images(xb, yb, X, y, ib, nb, per);
        ij_attnprobe_loss(p, &w, xb, NULL, nb, T, logits, NULL);
        for (int i = 0; i < nb; i++) {
            int best = 0;
            for (int c = 1; c < p->C; c++)
                if (logits[(size_t)i * p->C + c] > logits[(size_t)i * p->C + best]) best = c;
            correct += best == yb[i];
        }
    }
    ij_attnprobe_work_free(&w);
    free(xb), free(logits), free(yb), free(ib);
    return n ? (double)correct / n : 0;
}

static int check_tokens(const float *X, size_t n, const char *which)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(X[i])) return ij_error("attentive probe: the %s tokens hold a non-finite value", which);
    return 0;
}

int ij_attentive_probe(float *Xtr, const int *ytr, int ntr, float *Xte, const int *yte, int nte, int T, int D,
                       int C, const IjAttnProbeOptions *opt, IjAttnProbeResult *res)
{
    IjAttnProbeOptions o;
    if (opt) o = *opt;
    else ij_attnprobe_default_options(&o);
    memset(res, 0, sizeof *res);
    if (ntr < 2 || nte < 1 || T < 1 || D < 1 || C < 2 || o.epochs < 1 || o.batch < 1 || o.nlrs < 1 ||
        o.nlrs > IJ_ATTN_MAX_LRS)
        return ij_error("attentive probe: bad sizes or options (%d train, %d test, %d tokens of %d, %d classes)",
                        ntr, nte, T, D, C);
    for (int i = 0; i < ntr; i++)
        if (ytr[i] < 0 || ytr[i] >= C) return ij_error("attentive probe: training label %d out of range", ytr[i]);
    for (int i = 0; i < nte; i++)
        if (yte[i] < 0 || yte[i] >= C) return ij_error("attentive probe: test label %d out of range", yte[i]);
    if (check_tokens(Xtr, (size_t)ntr * T * D, "training") || check_tokens(Xte, (size_t)nte * T * D, "test"))
        return -1;
    int heads = o.heads ? o.heads : ij_attnprobe_default_heads(D);
    IjAttnProbe p;
    if (ij_attnprobe_init(&p, D, heads, C, o.seed)) return -1;
    ij_attnprobe_normalize_tokens(Xtr, (size_t)ntr * T, D);
    ij_attnprobe_normalize_tokens(Xte, (size_t)nte * T, D);
    int *fit_idx = ij_malloc(sizeof(int) * (size_t)ntr), *val_idx = ij_malloc(sizeof(int) * (size_t)ntr);
    int *all = ij_malloc(sizeof(int) * (size_t)ntr), nfit, nval, rc = -1;
    for (int i = 0; i < ntr; i++) all[i] = i;
    if (ij_stratified_split(ytr, ntr, C, o.val_fraction, o.seed, fit_idx, &nfit, val_idx, &nval)) goto out;
    if (nval < 1 || nfit < 1) {
        ij_error("attentive probe: the validation split of %d training images is empty", ntr);
        goto out;
    }
    res->heads = heads, res->epochs = o.epochs, res->ntrain = ntr, res->nfit = nfit, res->nval = nval;
    res->ntest = nte, res->nlrs = o.nlrs;
    int best = 0;
    for (int k = 0; k < o.nlrs; k++) {
        FitProgress fp = {&o, k, o.nlrs + 1};
        ij_attnprobe_free(&p);
        ij_attnprobe_init(&p, D, heads, C, o.seed);
        fit(&p, Xtr, ytr, fit_idx, nfit, T, o.lrs[k], &o, &fp);
        res->lrs[k] = o.lrs[k];
        res->val_accs[k] = accuracy(&p, Xtr, ytr, val_idx, nval, T);
        if (res->val_accs[k] > res->val_accs[best]) best = k;
    }
    res->lr = o.lrs[best];
    res->val_acc = res->val_accs[best];
    FitProgress fp = {&o, o.nlrs, o.nlrs + 1};
    ij_attnprobe_free(&p);
    ij_attnprobe_init(&p, D, heads, C, o.seed);
    res->final_loss = fit(&p, Xtr, ytr, all, ntr, T, res->lr, &o, &fp);
    res->test_acc = accuracy(&p, Xte, yte, NULL, nte, T);
    rc = 0;
out:
    ij_attnprobe_free(&p);
    free(fit_idx), free(val_idx), free(all);
    return rc;
}
