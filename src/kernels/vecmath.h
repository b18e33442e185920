/* vecmath.h: lets `#pragma omp simd` loops call glibc's vector math (libmvec:
 * expf in 8/16 lanes, at most 4 ulp error) instead of one scalar call per
 * element. glibc declares these SIMD variants only under -ffast-math, which we
 * do not use; re-declaring the function with the simd attribute is the
 * documented way to reach it without changing any other semantics. (erf is
 * kernels/erf_approx.h, inline.) */
#ifndef IJEPA_KERNELS_VECMATH_H
#define IJEPA_KERNELS_VECMATH_H

#include <math.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
float expf(float) __attribute__((simd("notinbranch")));
#endif

#endif
