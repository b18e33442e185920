/* erf_approx.h: erf for float as plain arithmetic, with no libm call and no branch, so that the
 * `#pragma omp simd` loops of gelu.c vectorise it inline (PyTorch's CPU GELU also takes erf from a
 * vectorised approximation, not from libm). Two polynomial pieces, both computed for every lane:
 *   |x| < 1:   erf(x) = x + x Q(x^2), Q of degree 5 in x^2 on [0, 1];
 *   |x| >= 1:  erf(x) = copysign(P(u), x), u = min(|x|, 3.92) - 2.46875 (exact in float), P of
 *              degree 12 with P(3.92 - 2.46875) = 1: every |x| >= 3.92 gives exactly +-1, as float
 *              erf does from 3.9192 on (erfc(3.92) = 3.0e-8).
 * The coefficients are near-minimax fits of the absolute error, computed in double (Lawson's
 * reweighted least squares) and rounded to float one at a time, refitting the rest after each;
 * tests/reference/fit_erf.py reproduces them (--check compares them with this file). Fit error
 * 1.9e-8 (Q) and 3.4e-8 (P). Measured at every float in [-6, 6] against double erf
 * (tests/test_gelu.c --all): max |error| 8.3e-8 with fma, 9.9e-8 without; |erf_approx| <= 1, odd
 * bit for bit, NaN gives NaN, +-inf give +-1.
 * fmaf only where the target has FMA (FP_FAST_FMAF, e.g. -march=native); elsewhere it would be a
 * library call per step, and a * b + c is used (the error above without fma is that case). */
#ifndef IJEPA_KERNELS_ERF_APPROX_H
#define IJEPA_KERNELS_ERF_APPROX_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef FP_FAST_FMAF
#define ERF_MAD(a, b, c) fmaf(a, b, c)
#else
#define ERF_MAD(a, b, c) ((a) * (b) + (c))
#endif

/* always_inline: past GCC's -O2 inlining limits it stays a call, and a loop calling it does not
 * vectorise */
static inline __attribute__((always_inline)) float erf_approx(float x)
{
    const float s = x * x;
    float q = -5.46474534e-04f;
    q = ERF_MAD(q, s, 4.87125386e-03f);
    q = ERF_MAD(q, s, -2.66644340e-02f);
    q = ERF_MAD(q, s, 1.12780966e-01f);
    q = ERF_MAD(q, s, -3.76119465e-01f);
    q = ERF_MAD(q, s, 1.28378928e-01f);
    const float small = ERF_MAD(x, q, x);

    /* u from |x| clamped to 3.92 as integers (the bit patterns of non-negative floats are ordered
     * like them; +inf and NaN clamp to 3.92 too). A float ?: here becomes a branch in GCC 12 when
     * there is no fma (P folded to a constant on one side), and a loop with a branch vectorises
     * only with AVX-512's masks. */
    const float a = fabsf(x);
    uint32_t ab;
    memcpy(&ab, &a, sizeof ab);
    const uint32_t clamp_bits = 0x407ae148u; /* 3.92f */
    ab = ab < clamp_bits ? ab : clamp_bits;
    float t;
    memcpy(&t, &ab, sizeof t);
    const float u = t - 2.46875f;
    float p = -9.05850993e-06f;
    p = ERF_MAD(p, u, 2.44601179e-05f);
    p = ERF_MAD(p, u, 5.37303458e-05f);
    p = ERF_MAD(p, u, -2.97022518e-04f);
    p = ERF_MAD(p, u, 3.68119217e-04f);
    p = ERF_MAD(p, u, 4.88627586e-04f);
    p = ERF_MAD(p, u, -2.93466379e-03f);
    p = ERF_MAD(p, u, 6.64295722e-03f);
    p = ERF_MAD(p, u, -9.61092301e-03f);
    p = ERF_MAD(p, u, 9.49141569e-03f);
    p = ERF_MAD(p, u, -6.28205063e-03f);
    p = ERF_MAD(p, u, 2.54406361e-03f);
    p = ERF_MAD(p, u, 9.99519408e-01f);
    const float large = copysignf(p, x);

    /* the select as a bit mask: with a ?: GCC sinks each piece into a branch of its own, the same
     * problem; NaN takes the small piece, which keeps it NaN */
    uint32_t bs, bl;
    memcpy(&bs, &small, sizeof bs);
    memcpy(&bl, &large, sizeof bl);
    const uint32_t m = -(uint32_t)!(a >= 1.0f);
    const uint32_t b = (bs & m) | (bl & ~m);
    float r;
    memcpy(&r, &b, sizeof r);
    return r;
}

#undef ERF_MAD

#endif
