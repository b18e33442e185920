/* simd.h: the vector type and operations of the register-tiled kernels (gemm.c, attention.c).
 *
 * One vector vf of VW floats: 16 with AVX-512, 8 with AVX2 + FMA; only defined when gemm.h gives a
 * vector kernel (IJ_GEMM_NR != 0), i.e. in -march=native builds on such machines. Loads and stores
 * are unaligned. A vmask selects the first n lanes of a vector, for the partial last vector of a
 * row whose length is not a multiple of VW: masked loads read nothing past the row's end (zero in
 * the lanes that are off), masked stores write nothing there. vtranspose transposes a VW x VW block
 * held in VW vectors.
 */
#ifndef IJEPA_KERNELS_SIMD_H
#define IJEPA_KERNELS_SIMD_H

#include "kernels/gemm.h"

#if IJ_GEMM_NR

#include <immintrin.h>

#if defined(__AVX512F__)
typedef __m512 vf;
typedef __mmask16 vmask;
#define VW 16
#define vzero() _mm512_setzero_ps()
#define vload(p) _mm512_loadu_ps(p)
#define vstore(p, v) _mm512_storeu_ps(p, v)
#define vbcast(x) _mm512_set1_ps(x)
#define vfma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define vadd(a, b) _mm512_add_ps(a, b)
#define vsub(a, b) _mm512_sub_ps(a, b)
#define vmul(a, b) _mm512_mul_ps(a, b)
#define vmax(a, b) _mm512_max_ps(a, b)
#define vhsum(v) _mm512_reduce_add_ps(v)
#define vhmax(v) _mm512_reduce_max_ps(v)
/* the first n lanes, 0 <= n <= VW */
static inline vmask vmask_first(int n) { return (vmask)(n >= VW ? 0xffffu : (1u << n) - 1u); }
#define vload_mask(p, m) _mm512_maskz_loadu_ps(m, p)
#define vstore_mask(p, m, v) _mm512_mask_storeu_ps(p, m, v)
/* a where m is on, b elsewhere */
#define vselect(m, a, b) _mm512_mask_blend_ps(m, b, a)
/* The final step of vtranspose: r[4g + c] holds, in 128-bit block b, rows 4g .. 4g+3 of column 4b + c;
 * column 4b + c is block b of r[c], r[4 + c], r[8 + c] and r[12 + c]. */
static inline __attribute__((always_inline)) void vtranspose_blocks(vf r[VW])
{
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        vf u = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44), v = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xee);
        vf w = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44), x = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xee);
        r[c] = _mm512_shuffle_f32x4(u, w, 0x88), r[4 + c] = _mm512_shuffle_f32x4(u, w, 0xdd);
        r[8 + c] = _mm512_shuffle_f32x4(v, x, 0x88), r[12 + c] = _mm512_shuffle_f32x4(v, x, 0xdd);
    }
}
#define vunpacklo(a, b) _mm512_unpacklo_ps(a, b)
#define vunpackhi(a, b) _mm512_unpackhi_ps(a, b)
#define vunpacklo2(a, b) _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)))
#define vunpackhi2(a, b) _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)))
#else
typedef __m256 vf;
typedef __m256i vmask;
#define VW 8
#define vzero() _mm256_setzero_ps()
#define vload(p) _mm256_loadu_ps(p)
#define vstore(p, v) _mm256_storeu_ps(p, v)
#define vbcast(x) _mm256_set1_ps(x)
#define vfma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define vadd(a, b) _mm256_add_ps(a, b)
#define vsub(a, b) _mm256_sub_ps(a, b)
#define vmul(a, b) _mm256_mul_ps(a, b)
#define vmax(a, b) _mm256_max_ps(a, b)
static inline float vhsum(vf v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
static inline float vhmax(vf v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}
static inline vmask vmask_first(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#define vload_mask(p, m) _mm256_maskload_ps(p, m)
#define vstore_mask(p, m, v) _mm256_maskstore_ps(p, m, v)
#define vselect(m, a, b) _mm256_blendv_ps(b, a, _mm256_castsi256_ps(m))
static inline __attribute__((always_inline)) void vtranspose_blocks(vf r[VW])
{
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        vf u = _mm256_permute2f128_ps(r[c], r[4 + c], 0x20), v = _mm256_permute2f128_ps(r[c], r[4 + c], 0x31);
        r[c] = u, r[4 + c] = v;
    }
}
#define vunpacklo(a, b) _mm256_unpacklo_ps(a, b)
#define vunpackhi(a, b) _mm256_unpackhi_ps(a, b)
#define vunpacklo2(a, b) _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(a), _mm256_castps_pd(b)))
#define vunpackhi2(a, b) _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(a), _mm256_castps_pd(b)))
#endif

/* r[VW] (row i in r[i]) becomes its transpose (column c in r[c]): pairs of rows interleaved, then pairs
 * of pairs, within each 128-bit block, then the blocks moved into place (4 VW shuffles in all). */
static inline __attribute__((always_inline)) void vtranspose(vf r[VW])
{
    vf t[VW];
#pragma GCC unroll 8
    for (int i = 0; i < VW; i += 2) t[i] = vunpacklo(r[i], r[i + 1]), t[i + 1] = vunpackhi(r[i], r[i + 1]);
    /* t[2i]: rows 2i, 2i+1 at columns 4b, 4b+1 of block b; t[2i+1]: at columns 4b+2, 4b+3 */
#pragma GCC unroll 4
    for (int g = 0; g < VW; g += 4) {
        r[g] = vunpacklo2(t[g], t[g + 2]), r[g + 1] = vunpackhi2(t[g], t[g + 2]);
        r[g + 2] = vunpacklo2(t[g + 1], t[g + 3]), r[g + 3] = vunpackhi2(t[g + 1], t[g + 3]);
    }
    vtranspose_blocks(r);
}

#endif /* IJ_GEMM_NR */

#endif
