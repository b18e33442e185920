/* bf16.h: the precision of the model's matrix products, and how this machine computes bf16 ones.
 *
 * IJ_BF16_OFF: float32 operands (the default). The bf16 modes round both operands of every matrix
 * product of the encoders and the predictor to bfloat16 (round to nearest even) and accumulate in
 * float32; everything else (LayerNorm, softmax, GELU, the loss, AdamW, the EMA, the master weights,
 * checkpoints) stays float32: the split PyTorch's CPU autocast makes, except that a product's output
 * stays float32 where autocast rounds it to bf16.
 *
 * Each bf16 product sums pairs of k: c = (c + a[2i+1] b[2i+1]) + a[2i] b[2i], each addition rounded
 * to float32 (a product of two bf16 values is exact in float32). That is what vdpbf16ps computes
 * (Intel's pseudo-code; checked on Zen 4 with sums where the order shows), so the two paths give the
 * same bits except where a denormal is flushed by the instruction:
 *   IJ_BF16_AVX512: vdpbf16ps on zmm registers (AVX512_BF16: Zen 4, Cooper Lake, Sapphire Rapids);
 *   IJ_BF16_EMULATED: the same pairs as two float32 FMAs on the operands rounded to bf16 (any machine:
 *     same numerics, no speedup), so the mode runs and is tested everywhere.
 * AMX-BF16 tiles are not used (no machine here has them to test on).
 */
#ifndef IJEPA_KERNELS_BF16_H
#define IJEPA_KERNELS_BF16_H

#include <stdint.h>
#include <string.h>

typedef enum { IJ_BF16_OFF = 0, IJ_BF16_EMULATED = 1, IJ_BF16_AVX512 = 2 } IjBf16Path;

/* "off", "emulated", "avx512bf16" */
const char *ij_bf16_path_name(IjBf16Path p);
/* Whether this build and this CPU (CPUID) can run path p. */
int ij_bf16_path_supported(IjBf16Path p);
/* The path a bf16 run takes here: the environment variable IJEPA_BF16_PATH (emulated or
 * avx512bf16) if set, else the fastest this machine has. -1 with a message if the variable names an
 * unknown path or one this machine cannot run. */
int ij_bf16_path_choose(IjBf16Path *p);
/* The CPU's flags that matter here, e.g. "avx2 fma avx512f avx512bw avx512_bf16" (static storage). */
const char *ij_cpu_flags(void);

/* float -> bf16, round to nearest even (a NaN stays a NaN); bf16 -> float is exact. */
static inline uint16_t ij_bf16_from_float(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static inline float ij_bf16_to_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}
/* x rounded to the nearest bf16, as a float */
static inline float ij_bf16_round(float x) { return ij_bf16_to_float(ij_bf16_from_float(x)); }

#endif
