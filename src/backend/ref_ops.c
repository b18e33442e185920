/* ref_ops.c: the ref backend's operations (backend.h), one loop nest each, in the words of SPEC
 * sections 2-5: sums in double, one thread, no packing, no tiling. With bf16 set a product's two
 * operands are rounded to bf16 (kernels/bf16.h) and everything else stays as it is. */
#include "backend/ref_ops.h"

#include "kernels/bf16.h"

#include <math.h>
#include <string.h>

/* an operand of a product: itself, or rounded to bf16 */
static inline double op(float x, IjBf16Path bf16) { return bf16 ? (double)ij_bf16_round(x) : (double)x; }

/* out[t, o] = b[o] + sum_k in[t, k] w[o, k] */
void ij_ref_linear_forward(float *out, const float *in, const float *w, const float *b, int T, int Cin, int Cout,
                           IjBf16Path bf16)
{
    for (int t = 0; t < T; t++)
        for (int o = 0; o < Cout; o++) {
            double sum = 0;
            for (int k = 0; k < Cin; k++) sum += op(in[(size_t)t * Cin + k], bf16) * op(w[(size_t)o * Cin + k], bf16);
            out[(size_t)t * Cout + o] = (float)(sum + (b ? b[o] : 0.0));
        }
}

/* din[t, k] = sum_o dout[t, o] w[o, k];  dw[o, k] += sum_t dout[t, o] in[t, k];  db[o] += sum_t dout[t, o] */
void ij_ref_linear_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                            int T, int Cin, int Cout, IjBf16Path bf16)
{
    if (din)
        for (int t = 0; t < T; t++)
            for (int k = 0; k < Cin; k++) {
                double sum = 0;
                for (int o = 0; o < Cout; o++)
                    sum += op(dout[(size_t)t * Cout + o], bf16) * op(w[(size_t)o * Cin + k], bf16);
                din[(size_t)t * Cin + k] = (float)sum;
            }
    for (int o = 0; o < Cout; o++) {
        for (int k = 0; dw && k < Cin; k++) {
            double sum = 0;
            for (int t = 0; t < T; t++) sum += op(dout[(size_t)t * Cout + o], bf16) * op(in[(size_t)t * Cin + k], bf16);
            dw[(size_t)o * Cin + k] += (float)sum;
        }
        if (db) {
            double sum = 0;
            for (int t = 0; t < T; t++) sum += dout[(size_t)t * Cout + o];
            db[o] += (float)sum;
        }
    }
}

/* y = (x - mean) / sqrt(var + eps) * w + b per row, var the biased variance */
void ij_ref_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                              int T, int C, float eps)
{
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * C;
        double m = 0, var = 0;
        for (int c = 0; c < C; c++) m += xr[c];
        m /= C;
        for (int c = 0; c < C; c++) var += (xr[c] - m) * (xr[c] - m);
        var /= C;
        double rs = 1.0 / sqrt(var + eps);
        for (int c = 0; c < C; c++) {
            double v = (xr[c] - m) * rs;
            y[(size_t)t * C + c] = (float)(v * (w ? w[c] : 1.0) + (b ? b[c] : 0.0));
        }
        if (mean) mean[t] = (float)m;
        if (rstd) rstd[t] = (float)rs;
    }
}

/* With xhat = (x - mean) rstd and g = dy w: dx += rstd (g - mean(g) - xhat mean(g xhat));
 * dw += sum_t dy xhat; db += sum_t dy */
void ij_ref_layernorm_backward_acc(float *dx, float *dw, float *db, const float *dy, const float *x,
                                   const float *mean, const float *rstd, const float *w, int T, int C)
{
    for (int t = 0; t < T; t++) {
        const float *dyr = dy + (size_t)t * C, *xr = x + (size_t)t * C;
        double m = mean[t], rs = rstd[t], g_mean = 0, gx_mean = 0;
        for (int c = 0; c < C; c++) {
            double g = dyr[c] * (w ? w[c] : 1.0), xhat = (xr[c] - m) * rs;
            g_mean += g;
            gx_mean += g * xhat;
        }
        g_mean /= C;
        gx_mean /= C;
        for (int c = 0; c < C && dx; c++) {
            double g = dyr[c] * (w ? w[c] : 1.0), xhat = (xr[c] - m) * rs;
            dx[(size_t)t * C + c] += (float)(rs * (g - g_mean - xhat * gx_mean));
        }
    }
    for (int c = 0; c < C; c++) {
        double sw = 0, sb = 0;
        for (int t = 0; t < T; t++) {
            double d = dy[(size_t)t * C + c];
            sw += d * (x[(size_t)t * C + c] - mean[t]) * rstd[t];
            sb += d;
        }
        if (dw) dw[c] += (float)sw;
        if (db) db[c] += (float)sb;
    }
}

/* gelu(x) = x Phi(x), Phi the standard normal CDF; gelu'(x) = Phi(x) + x phi(x) */
void ij_ref_gelu_forward(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = (float)(0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0))));
}

void ij_ref_gelu_backward(float *dx, const float *dy, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double cdf = 0.5 * (1.0 + erf(x[i] / sqrt(2.0))), pdf = exp(-0.5 * (double)x[i] * x[i]) / sqrt(2.0 * M_PI);
        dx[i] = (float)(dy[i] * (cdf + x[i] * pdf));
    }
}

/* Sequence s, head h: its probabilities start at the sum of heads L^2 over the earlier sequences
 * (kernels.h's layout) plus h L^2. */
static size_t probs_at(const int *seg_off, int s, int h, int heads)
{
    size_t n = 0;
    for (int j = 0; j < s; j++) n += (size_t)(seg_off[j + 1] - seg_off[j]) * (size_t)(seg_off[j + 1] - seg_off[j]);
    size_t L = (size_t)(seg_off[s + 1] - seg_off[s]);
    return n * (size_t)heads + (size_t)h * L * L;
}

/* Inside each sequence and head: S = q k^T / sqrt(hd), P = softmax over each row of S, out = P v.
 * q, k, v of row i, head h: qkv[i, h hd + d], qkv[i, D + h hd + d], qkv[i, 2D + h hd + d]. */
void ij_ref_attention_forward(float *out, float *probs, const float *qkv, const int *seg_off, int nseg, int D,
                              int heads, IjBf16Path bf16)
{
    const int hd = D / heads;
    const double scale = 1.0 / sqrt((double)hd);
    for (int s = 0; s < nseg; s++)
        for (int h = 0; h < heads; h++) {
            const int r0 = seg_off[s], L = seg_off[s + 1] - r0;
            float *P = probs + probs_at(seg_off, s, h, heads);
            for (int i = 0; i < L; i++) {
                const float *q = qkv + (size_t)(r0 + i) * 3 * D + h * hd;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < L; j++) {
                    const float *k = qkv + (size_t)(r0 + j) * 3 * D + D + h * hd;
                    double dot = 0;
                    for (int d = 0; d < hd; d++) dot += (double)q[d] * k[d];
                    P[(size_t)i * L + j] = (float)(dot * scale);
                    if (P[(size_t)i * L + j] > mx) mx = P[(size_t)i * L + j];
                }
                for (int j = 0; j < L; j++) sum += exp(P[(size_t)i * L + j] - mx);
                for (int j = 0; j < L; j++) {
                    float p = (float)(exp(P[(size_t)i * L + j] - mx) / sum);
                    P[(size_t)i * L + j] = bf16 ? ij_bf16_round(p) : p;
                }
                for (int d = 0; d < hd; d++) {
                    double acc = 0;
                    for (int j = 0; j < L; j++) acc += (double)P[(size_t)i * L + j] * qkv[(size_t)(r0 + j) * 3 * D + 2 * D + h * hd + d];
                    out[(size_t)(r0 + i) * D + h * hd + d] = (float)acc;
                }
            }
        }
}

/* dv = P^T dout;  dP = dout v^T;  dS = P (dP - rowsum(P dP)) / sqrt(hd);  dq = dS k;  dk = dS^T q.
 * scratch: one row of dS (L floats). */
void ij_ref_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *probs,
                               const int *seg_off, int nseg, int D, int heads, float *scratch, IjBf16Path bf16)
{
    const int hd = D / heads;
    const double scale = 1.0 / sqrt((double)hd);
    memset(dqkv, 0, sizeof(float) * (size_t)seg_off[nseg] * 3 * D);
    for (int s = 0; s < nseg; s++)
        for (int h = 0; h < heads; h++) {
            const int r0 = seg_off[s], L = seg_off[s + 1] - r0;
            const float *P = probs + probs_at(seg_off, s, h, heads);
#define Q(i) (qkv + (size_t)(r0 + (i)) * 3 * D + h * hd)
#define DQ(i) (dqkv + (size_t)(r0 + (i)) * 3 * D + h * hd)
#define DY(i) (dout + (size_t)(r0 + (i)) * D + h * hd)
            for (int i = 0; i < L; i++) {
                double rowdot = 0;
                for (int j = 0; j < L; j++) {
                    double dp = 0;
                    for (int d = 0; d < hd; d++) dp += (double)DY(i)[d] * Q(j)[2 * D + d];
                    scratch[j] = (float)dp;
                    rowdot += (double)P[(size_t)i * L + j] * scratch[j];
                }
                for (int j = 0; j < L; j++) {
                    float ds = (float)(P[(size_t)i * L + j] * (scratch[j] - rowdot) * scale);
                    scratch[j] = bf16 ? ij_bf16_round(ds) : ds;
                }
                for (int j = 0; j < L; j++)
                    for (int d = 0; d < hd; d++) {
                        DQ(i)[d] += scratch[j] * Q(j)[D + d];         /* dq_i += dS_ij k_j */
                        DQ(j)[D + d] += scratch[j] * Q(i)[d];         /* dk_j += dS_ij q_i */
                        DQ(j)[2 * D + d] += P[(size_t)i * L + j] * DY(i)[d]; /* dv_j += P_ij dy_i */
                    }
            }
#undef Q
#undef DQ
#undef DY
        }
}

/* torch.optim.AdamW per element, then the EMA from the updated value:
 *   p *= 1 - lr wd (decay);  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps);  target = mo target + (1 - mo) p */
void ij_ref_adamw_ema(float *params, const float *grads, float *m, float *v, const IjParamRange *r, int nr,
                      float *target, size_t n_ema, const IjAdamScalars *k)
{
    for (int i = 0; i < nr; i++)
        for (size_t j = r[i].offset; j < r[i].offset + r[i].numel; j++) {
            if (r[i].trainable) {
                if (r[i].decay) params[j] *= k->decay;
                m[j] = m[j] * k->beta1 + grads[j] * k->one_minus_beta1;
                v[j] = v[j] * k->beta2 + grads[j] * grads[j] * k->one_minus_beta2;
                params[j] -= k->step_size * (m[j] / (sqrtf(v[j]) / k->sqrt_bias2 + k->eps));
            }
            if (target && j < n_ema) target[j] = target[j] * k->momentum + k->one_minus_momentum * params[j];
        }
}
