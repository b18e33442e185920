/* gelu.c: the exact (erf) GELU used by the reference ViT.
 * simdlen(16): GCC's default for -march=native on AVX-512 machines is 256-bit vectors, which calls
 * libmvec's 8-lane erff/expf; asking for 16 lanes reaches the 512-bit variants there. With only AVX2
 * (checked with -march=haswell) the main loop still calls the 8-lane variants; only the loop's
 * remainder changes (scalar instead of 4-lane calls). */
#include "kernels/kernels.h"

#include "kernels/vecmath.h"

void gelu_forward(float *y, const float *x, size_t n)
{
    const float inv_sqrt2 = 0.70710678118654752f;
#pragma omp parallel for simd simdlen(16) schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * inv_sqrt2));
}

void gelu_forward_keep_slope(float *y, float *x_to_slope, size_t n)
{
    const float inv_sqrt2 = 0.70710678118654752f;
    const float inv_sqrt2pi = 0.39894228040143268f;
#pragma omp parallel for simd simdlen(16) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float xi = x_to_slope[i];
        float cdf = 0.5f * (1.0f + erff(xi * inv_sqrt2));
        float pdf = inv_sqrt2pi * expf(-0.5f * xi * xi);
        y[i] = xi * cdf;
        x_to_slope[i] = cdf + xi * pdf;
    }
}

void gelu_backward_slope(float *dx, const float *dy, const float *slope, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * slope[i];
}

void gelu_backward(float *dx, const float *dy, const float *x, size_t n)
{
    const float inv_sqrt2 = 0.70710678118654752f;
    const float inv_sqrt2pi = 0.39894228040143268f;
#pragma omp parallel for simd simdlen(16) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float xi = x[i];
        float cdf = 0.5f * (1.0f + erff(xi * inv_sqrt2));
        float pdf = inv_sqrt2pi * expf(-0.5f * xi * xi);
        dx[i] = dy[i] * (cdf + xi * pdf);
    }
}
