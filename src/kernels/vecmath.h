/* vecmath.h: lets `#pragma omp simd` loops call glibc's vector math (libmvec:
 * erff and expf in 8/16 lanes, at most 4 ulp error) instead of one scalar call
 * per element. glibc declares these SIMD variants only under -ffast-math,
 * which we do not use; re-declaring the functions with the simd attribute is
 * the documented way to reach them without changing any other semantics. */
#ifndef IJEPA_KERNELS_VECMATH_H
#define IJEPA_KERNELS_VECMATH_H

#include <math.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
float erff(float) __attribute__((simd("notinbranch")));
float expf(float) __attribute__((simd("notinbranch")));
#endif

#endif
