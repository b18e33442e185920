/* gelu.c: the exact (erf) GELU used by the reference ViT, gelu(x) = x Phi(x) with
 * Phi(x) = (1 + erf(x / sqrt 2)) / 2 and gelu'(x) = Phi(x) + x phi(x). erf is erf_approx.h's
 * polynomial (within 1e-7 of erf, inline: the loops vectorise with no call), phi's exp glibc's
 * libmvec expf (<= 4 ulp).
 * simdlen(16): GCC's default for -march=native on AVX-512 machines is 256-bit vectors, which calls
 * libmvec's 8-lane expf; asking for 16 lanes reaches the 512-bit variant there (and 512-bit vectors
 * for erf). With only AVX2 (checked with -march=haswell) the main loop still calls the 8-lane
 * variant; only the loop's remainder changes (scalar instead of 4-lane calls).
 * Infinities give the limits, gelu(+inf) = +inf, gelu(-inf) = -0, gelu'(+inf) = 1, gelu'(-inf) = 0,
 * where the plain formula gives inf * 0 = NaN; NaN gives NaN. */
#include "kernels/kernels.h"

#include <float.h>

#include "kernels/erf_approx.h"
#include "kernels/vecmath.h"

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

void gelu_forward(float *y, const float *x, size_t n)
{
#pragma omp parallel for simd simdlen(16) schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = no_minus_inf(x[i]) * gelu_cdf(x[i]);
}

void gelu_forward_keep_slope(float *y, float *x_to_slope, size_t n)
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

void gelu_backward_slope(float *dx, const float *dy, const float *slope, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * slope[i];
}

void gelu_backward(float *dx, const float *dy, const float *x, size_t n)
{
#pragma omp parallel for simd simdlen(16) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float pdf = gelu_pdf(x[i]);
        dx[i] = dy[i] * gelu_slope(x[i], gelu_cdf(x[i]), pdf);
    }
}
