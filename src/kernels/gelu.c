/* gelu.c: the exact (erf) GELU used by the reference ViT, gelu(x) = x Phi(x) with
 * Phi(x) = (1 + erf(x / sqrt 2)) / 2 and gelu'(x) = Phi(x) + x phi(x). erf is erf_approx.h's
 * polynomial (within 1e-7 of erf, inline: the loops vectorise with no call), phi's exp glibc's
 * libmvec expf (<= 4 ulp).
 * simdlen(16): GCC's default for -march=native on AVX-512 machines is 256-bit vectors, which calls
 * libmvec's 8-lane expf; asking for 16 lanes reaches the 512-bit variant there (and 512-bit vectors
 * for erf). With only AVX2 (checked with -march=haswell) the main loop still calls the 8-lane
 * variant; only the loop's remainder changes (scalar instead of 4-lane calls).
 * Infinities give the limits, gelu(+inf) = +inf, gelu(-inf) = -0, gelu'(+inf) = 1, gelu'(-inf) = 0,
 * where the plain formula gives inf * 0 = NaN; NaN gives NaN.
 *
 * With AVX-512 the kernels take Phi and gelu' from gelu_table.h instead: 32 intervals of |x|, a
 * degree-4 polynomial each, its coefficients picked per lane by two-source permutes from register
 * tables, in place of erf's two polynomials and the exp. Same bounds (tests/test_gelu.c); one thread,
 * values in cache (throw-away harness): the inference form 0.32 -> 0.20 ns per value, the training
 * form (value and slope) 0.68 -> 0.32. */
#include "kernels/kernels.h"

#include <float.h>

#include "kernels/erf_approx.h"
#include "kernels/gemm.h"
#include "kernels/simd.h"
#include "kernels/vecmath.h"

#if IJ_GEMM_NR && VW == 16
#define GELU_TABLE 1
#include "kernels/gelu_table.h"
#else
#define GELU_TABLE 0
#endif

/* const: otherwise GCC takes expf as writing errno (-fmath-errno) and, at least up to GCC 12, does
 * not if-convert a loop that calls it, so the infinity selects below would keep the slope loops
 * scalar. Nothing reads errno after these calls. */
#if defined(__GNUC__) && !defined(__clang__)
float expf(float) __attribute__((const));
#endif

static inline __attribute__((always_inline)) float gelu_cdf(float x)
{
    return 0.5f * (1.0f + erf_approx(x * 0.70710678118654752f));
}

/* x with -inf replaced by -FLT_MAX: x * Phi(x) is then -0 there rather than -inf*0 */
static inline __attribute__((always_inline)) float no_minus_inf(float x)
{
    return x < -FLT_MAX ? -FLT_MAX : x;
}

/* phi(x) = exp(-x^2 / 2) / sqrt(2 pi) */
static inline __attribute__((always_inline)) float gelu_pdf(float x)
{
    return 0.39894228040143268f * expf(-0.5f * x * x);
}

/* Phi(x) + x * phi(x); x clamped to +-FLT_MAX, where phi is 0, so +-inf give 1 and 0 */
static inline __attribute__((always_inline)) float gelu_slope(float x, float cdf, float pdf)
{
    return cdf + no_minus_inf(x > FLT_MAX ? FLT_MAX : x) * pdf;
}

#if GELU_TABLE
/* One of the tables' 32 entries per lane. */
#define GELU_LOOKUP(tab, idx) _mm512_permutex2var_ps(_mm512_load_ps(tab), idx, _mm512_load_ps((tab) + 16))

/* x's interval (trunc(5 |x|), |x| clamped to 6.4, at most 31), t = |x| - its centre, and x's sign bit.
 * min(6.4, NaN) is NaN (vminps returns its second operand then): t stays NaN and so do the results. */
static inline __attribute__((always_inline)) void gelu_locate(vf x, __m512i *idx, vf *t, __m512i *sign)
{
    const __m512i xi = _mm512_castps_si512(x), sign_bit = _mm512_set1_epi32((int)0x80000000u);
    *sign = _mm512_and_si512(xi, sign_bit);
    vf a = _mm512_min_ps(vbcast(6.4f), _mm512_castsi512_ps(_mm512_andnot_si512(sign_bit, xi)));
    *idx = _mm512_min_epi32(_mm512_cvttps_epi32(vmul(a, vbcast(5.0f))), _mm512_set1_epi32(31));
    *t = vsub(a, GELU_LOOKUP(gelu_tab_centre, *idx));
}

/* 1/2 + sign(x) * sum_k tab[k][idx] t^k: Phi(x) from gelu_tab_p, gelu'(x) from gelu_tab_s */
static inline __attribute__((always_inline)) vf gelu_half_plus(const float (*tab)[32], __m512i idx, vf t,
                                                                __m512i sign)
{
    vf p = GELU_LOOKUP(tab[4], idx);
    p = vfma(p, t, GELU_LOOKUP(tab[3], idx));
    p = vfma(p, t, GELU_LOOKUP(tab[2], idx));
    p = vfma(p, t, GELU_LOOKUP(tab[1], idx));
    p = vfma(p, t, GELU_LOOKUP(tab[0], idx));
    return vadd(vbcast(0.5f), _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(p), sign)));
}

/* x * Phi(x), -inf taken as -FLT_MAX (so -0 there); NaN stays NaN (vmaxps returns x then) */
static inline __attribute__((always_inline)) vf gelu_value(vf x, vf cdf)
{
    return vmul(_mm512_max_ps(vbcast(-FLT_MAX), x), cdf);
}

/* The lanes of the vector at i that are below n (the kernels run by whole vectors, the last masked). */
static inline vmask gelu_lanes(size_t n, size_t i) { return vmask_first(n - i < VW ? (int)(n - i) : VW); }

void ij_gelu_forward(float *y, const float *x, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += VW) {
        vmask k = gelu_lanes(n, i);
        vf xv = vload_mask(x + i, k), t;
        __m512i idx, sign;
        gelu_locate(xv, &idx, &t, &sign);
        vstore_mask(y + i, k, gelu_value(xv, gelu_half_plus(gelu_tab_p, idx, t, sign)));
    }
}

void ij_gelu_forward_keep_slope(float *y, float *x_to_slope, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += VW) {
        vmask k = gelu_lanes(n, i);
        vf xv = vload_mask(x_to_slope + i, k), t;
        __m512i idx, sign;
        gelu_locate(xv, &idx, &t, &sign);
        vstore_mask(y + i, k, gelu_value(xv, gelu_half_plus(gelu_tab_p, idx, t, sign)));
        vstore_mask(x_to_slope + i, k, gelu_half_plus(gelu_tab_s, idx, t, sign));
    }
}

void ij_gelu_backward(float *dx, const float *dy, const float *x, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += VW) {
        vmask k = gelu_lanes(n, i);
        vf t;
        __m512i idx, sign;
        gelu_locate(vload_mask(x + i, k), &idx, &t, &sign);
        vstore_mask(dx + i, k, vmul(vload_mask(dy + i, k), gelu_half_plus(gelu_tab_s, idx, t, sign)));
    }
}

#else /* erf_approx.h and libmvec's expf */

void ij_gelu_forward(float *y, const float *x, size_t n)
{
#pragma omp parallel for simd simdlen(16) schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = no_minus_inf(x[i]) * gelu_cdf(x[i]);
}

void ij_gelu_forward_keep_slope(float *y, float *x_to_slope, size_t n)
{
#pragma omp parallel for simd simdlen(16) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float xi = x_to_slope[i];
        float pdf = gelu_pdf(xi);
        float cdf = gelu_cdf(xi);
        y[i] = no_minus_inf(xi) * cdf;
        x_to_slope[i] = gelu_slope(xi, cdf, pdf);
    }
}

void ij_gelu_backward(float *dx, const float *dy, const float *x, size_t n)
{
#pragma omp parallel for simd simdlen(16) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float pdf = gelu_pdf(x[i]);
        dx[i] = dy[i] * gelu_slope(x[i], gelu_cdf(x[i]), pdf);
    }
}

#endif

void ij_gelu_backward_slope(float *dx, const float *dy, const float *slope, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * slope[i];
}
