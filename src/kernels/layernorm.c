/* layernorm.c: LayerNorm over the last dimension (biased variance), with and without affine. */
#include "kernels/kernels.h"

#include "kernels/colsum.h"
#include "kernels/simd.h"

#include <math.h>
#include <omp.h>

#if IJ_GEMM_NR
/* With vectors (simd.h): two vector partial sums, then a fixed reduction of their lanes. The scalar
 * form below ends in one chain of 16 dependent adds per row, and its backward accumulation loop
 * did not vectorise: one thread, rows in cache (throw-away harness), backward 200 -> 62 ns per row
 * of 192 (100 -> 30 at 96), forward 52 -> 48 (35 -> 30). */
static float row_sum(const float *x, int n)
{
    vf s0 = vzero(), s1 = vzero();
    int c = 0;
    for (; c + 2 * VW <= n; c += 2 * VW) s0 = vadd(s0, vload(x + c)), s1 = vadd(s1, vload(x + c + VW));
    for (; c < n; c += VW) s0 = vadd(s0, vload_mask(x + c, vmask_first(n - c)));
    return vhsum(vadd(s0, s1));
}

static float row_sumsq(const float *x, int n, float m)
{
    vf s0 = vzero(), s1 = vzero(), mv = vbcast(m);
    int c = 0;
    for (; c + 2 * VW <= n; c += 2 * VW) {
        vf d0 = vsub(vload(x + c), mv), d1 = vsub(vload(x + c + VW), mv);
        s0 = vadd(s0, vmul(d0, d0)), s1 = vadd(s1, vmul(d1, d1));
    }
    for (; c < n; c += VW) {
        vmask k = vmask_first(n - c);
        vf d = vselect(k, vsub(vload_mask(x + c, k), mv), vzero());
        s0 = vadd(s0, vmul(d, d));
    }
    return vhsum(vadd(s0, s1));
}

/* sum of g and of g * xhat over a row, g = dy * w (or dy), xhat = (x - m) * rs */
static void row_sums_backward(const float *dy, const float *x, const float *w, float m, float rs, int n, float *s1,
                              float *s2)
{
    vf a1 = vzero(), a2 = vzero(), mv = vbcast(m), rv = vbcast(rs);
    for (int c = 0; c < n; c += VW) {
        vmask k = vmask_first(n - c); /* off lanes load 0: g = 0 adds nothing */
        vf g = vload_mask(dy + c, k);
        if (w) g = vmul(g, vload_mask(w + c, k));
        vf xh = vmul(vsub(vload_mask(x + c, k), mv), rv);
        a1 = vadd(a1, g);
        a2 = vadd(a2, vmul(g, xh));
    }
    *s1 = vhsum(a1), *s2 = vhsum(a2);
}
#else
/* Sum of x[0..n), in 16 interleaved float partial sums (so the loop vectorises
 * without reassociation flags; the order is fixed, so results are reproducible). */
static float row_sum(const float *x, int n)
{
    float acc[16] = {0};
    int c = 0;
    for (; c + 16 <= n; c += 16)
        for (int k = 0; k < 16; k++) acc[k] += x[c + k];
    float s = 0.0f;
    for (; c < n; c++) s += x[c];
    for (int k = 0; k < 16; k++) s += acc[k];
    return s;
}

static float row_sumsq(const float *x, int n, float m)
{
    float acc[16] = {0};
    int c = 0;
    for (; c + 16 <= n; c += 16)
        for (int k = 0; k < 16; k++) acc[k] += (x[c + k] - m) * (x[c + k] - m);
    float s = 0.0f;
    for (; c < n; c++) s += (x[c] - m) * (x[c] - m);
    for (int k = 0; k < 16; k++) s += acc[k];
    return s;
}

static void row_sums_backward(const float *dyr, const float *xr, const float *w, float m, float rs, int C, float *s1,
                              float *s2)
{
    /* mean(dxhat) and mean(dxhat * xhat), dxhat = dy * w, in 16 interleaved partial sums */
    float a1[16] = {0}, a2[16] = {0};
    int c = 0;
    for (; c + 16 <= C; c += 16)
        for (int k = 0; k < 16; k++) {
            float g = w ? dyr[c + k] * w[c + k] : dyr[c + k];
            a1[k] += g;
            a2[k] += g * (xr[c + k] - m) * rs;
        }
    float t1 = 0.0f, t2 = 0.0f;
    for (; c < C; c++) {
        float g = w ? dyr[c] * w[c] : dyr[c];
        t1 += g;
        t2 += g * (xr[c] - m) * rs;
    }
    for (int k = 0; k < 16; k++) {
        t1 += a1[k];
        t2 += a2[k];
    }
    *s1 = t1, *s2 = t2;
}
#endif

#if IJ_GEMM_NR && VW == 16
/* Rows of nv whole vectors (a constant once inlined) held in registers: loaded once for the two sums
 * and the normalisation, where the passes above load each row three times. The same operations in
 * the same order, so the same bits. One thread, 784 rows in L2 (throw-away harness): 44 -> 31 ns per
 * row of 192, 18 at 96. */
static inline __attribute__((always_inline)) void forward_row_in_registers(float *y, float *mean, float *rstd,
                                                                           const float *x, const float *w,
                                                                           const float *b, int t, const int nv,
                                                                           float eps)
{
    const int C = nv * VW;
    const float *xr = x + (size_t)t * C;
    float *yr = y + (size_t)t * C;
    vf v[24], s0 = vzero(), s1 = vzero();
#pragma GCC unroll 24
    for (int i = 0; i < nv; i++) {
        v[i] = vload(xr + i * VW);
        if (i & 1) s1 = vadd(s1, v[i]);
        else s0 = vadd(s0, v[i]);
    }
    const float mf = vhsum(vadd(s0, s1)) / (float)C;
    const vf mv = vbcast(mf);
    s0 = s1 = vzero();
#pragma GCC unroll 24
    for (int i = 0; i < nv; i++) {
        v[i] = vsub(v[i], mv);
        if (i & 1) s1 = vadd(s1, vmul(v[i], v[i]));
        else s0 = vadd(s0, vmul(v[i], v[i]));
    }
    const float rs = 1.0f / sqrtf(vhsum(vadd(s0, s1)) / (float)C + eps);
    const vf rv = vbcast(rs);
#pragma GCC unroll 24
    for (int i = 0; i < nv; i++) {
        vf n = vmul(v[i], rv);
        vstore(yr + i * VW, w ? vadd(vmul(n, vload(w + i * VW)), vload(b + i * VW)) : n);
    }
    if (mean) mean[t] = mf;
    if (rstd) rstd[t] = rs;
}

/* the parallel loop per width, so that nv is a constant inside the outlined region */
#define LN_REGISTER_WIDTH(width)                                                                       \
    case width:                                                                                        \
        _Pragma("omp parallel for schedule(static)") for (int t = 0; t < T; t++)                       \
            forward_row_in_registers(y, mean, rstd, x, w, b, t, (width) / VW, eps);                    \
        return;
#endif

void ij_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, int T, int C, float eps)
{
#if IJ_GEMM_NR && VW == 16
    switch (C) { /* the models' widths: predictors 96 and 192, encoders 192 and 384 */
        LN_REGISTER_WIDTH(96)
        LN_REGISTER_WIDTH(192)
        LN_REGISTER_WIDTH(384)
    }
#endif
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * C;
        float *yr = y + (size_t)t * C;
        /* two passes (mean, then squared deviations): no cancellation */
        float mf = row_sum(xr, C) / (float)C;
        float rs = 1.0f / sqrtf(row_sumsq(xr, C, mf) / (float)C + eps);
        if (w) {
#pragma omp simd
            for (int c = 0; c < C; c++) yr[c] = (xr[c] - mf) * rs * w[c] + b[c];
        } else {
#pragma omp simd
            for (int c = 0; c < C; c++) yr[c] = (xr[c] - mf) * rs;
        }
        if (mean) mean[t] = mf;
        if (rstd) rstd[t] = rs;
    }
}

#if IJ_GEMM_NR && VW == 16
/* backward_rows' row with g = dy * w and xhat held in registers between the sums and dx (nv <= 12
 * vectors): the same operations in the same order. */
static inline __attribute__((always_inline)) void backward_row_in_registers(float *dxr, const float *rr,
                                                                            const float *dyr, const float *xr,
                                                                            const float *w, float m, float rs,
                                                                            const int nv)
{
    vf g[12], xh[12], a1 = vzero(), a2 = vzero();
    const vf mv = vbcast(m), rv = vbcast(rs);
#pragma GCC unroll 12
    for (int v = 0; v < nv; v++) {
        g[v] = vload(dyr + v * VW);
        if (w) g[v] = vmul(g[v], vload(w + v * VW));
        xh[v] = vmul(vsub(vload(xr + v * VW), mv), rv);
        a1 = vadd(a1, g[v]);
        a2 = vadd(a2, vmul(g[v], xh[v]));
    }
    const vf s1 = vbcast(vhsum(a1) / (float)(nv * VW)), s2 = vbcast(vhsum(a2) / (float)(nv * VW));
#pragma GCC unroll 12
    for (int v = 0; v < nv; v++)
        vstore(dxr + v * VW, vadd(vload(rr + v * VW), vmul(rv, vsub(vsub(g[v], s1), vmul(xh[v], s2)))));
}
#endif

/* dx = res + dLN/dx for rows [t0, t1) (dx may alias res). */
static void backward_rows(float *dx, const float *res, const float *dy, const float *x, const float *mean,
                          const float *rstd, const float *w, int t0, int t1, int C)
{
#if IJ_GEMM_NR && VW == 16
    if (C == 96 || C == 192) { /* the widths of the models' predictors and of vit_tiny */
        for (int t = t0; t < t1; t++) {
            size_t o = (size_t)t * C;
            if (C == 96) backward_row_in_registers(dx + o, res + o, dy + o, x + o, w, mean[t], rstd[t], 6);
            else backward_row_in_registers(dx + o, res + o, dy + o, x + o, w, mean[t], rstd[t], 12);
        }
        return;
    }
#endif
    for (int t = t0; t < t1; t++) {
        const float *xr = x + (size_t)t * C, *dyr = dy + (size_t)t * C, *rr = res + (size_t)t * C;
        float *dxr = dx + (size_t)t * C;
        float m = mean[t], rs = rstd[t];
        float s1, s2;
        row_sums_backward(dyr, xr, w, m, rs, C, &s1, &s2);
        s1 /= C;
        s2 /= C;
        if (w) {
#pragma omp simd
            for (int j = 0; j < C; j++) dxr[j] = rr[j] + rs * (dyr[j] * w[j] - s1 - (xr[j] - m) * rs * s2);
        } else {
#pragma omp simd
            for (int j = 0; j < C; j++) dxr[j] = rr[j] + rs * (dyr[j] - s1 - (xr[j] - m) * rs * s2);
        }
    }
}

void ij_layernorm_backward_acc(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *mean, const float *rstd, const float *w, int T, int C)
{
    /* Parameter gradients: reductions over rows, threaded over blocks of 16 columns, each column summed
     * over the rows in order by one thread (independent of the thread count). */
    if (db) colsum_acc(db, dy, T, C);
    if (dw) colsum_xhat_acc(dw, dy, x, mean, rstd, T, C);
    if (!dx) return;
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        backward_rows(dx, dx, dy, x, mean, rstd, w, (int)((long)T * id / nt), (int)((long)T * (id + 1) / nt), C);
    }
}

void ij_layernorm_backward_rows(float *dx, const float *res, const float *dy, const float *x, const float *mean,
                             const float *rstd, const float *w, int T, int C)
{
    backward_rows(dx, res, dy, x, mean, rstd, w, 0, T, C);
}
