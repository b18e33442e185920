/* bf16.c: which bf16 path runs here (see bf16.h). */
#include "kernels/bf16.h"

#include "core/error.h"
#include "kernels/gemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ij_bf16_path_name(IjBf16Path p)
{
    return p == IJ_BF16_AVX512 ? "avx512bf16" : p == IJ_BF16_EMULATED ? "emulated" : "off";
}

/* The hardware path needs the AVX-512 build of the kernels (its panels are two zmm wide). */
static int cpu_has_avx512bf16(void)
{
#if defined(__x86_64__) && IJ_GEMM_NR == 32
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") != 0;
#else
    return 0;
#endif
}

int ij_bf16_path_supported(IjBf16Path p)
{
    if (p == IJ_BF16_OFF || p == IJ_BF16_EMULATED) return 1;
    return p == IJ_BF16_AVX512 && cpu_has_avx512bf16();
}

int ij_bf16_path_choose(IjBf16Path *p)
{
    const char *env = getenv("IJEPA_BF16_PATH");
    if (!env || !*env || !strcmp(env, "auto")) {
        *p = cpu_has_avx512bf16() ? IJ_BF16_AVX512 : IJ_BF16_EMULATED;
        return 0;
    }
    if (!strcmp(env, "emulated")) *p = IJ_BF16_EMULATED;
    else if (!strcmp(env, "avx512bf16")) *p = IJ_BF16_AVX512;
    else return ij_error("IJEPA_BF16_PATH must be auto, emulated or avx512bf16, got '%s'", env);
    if (!ij_bf16_path_supported(*p))
        return ij_error("IJEPA_BF16_PATH=%s: this machine (or this build) has no AVX512_BF16 instructions", env);
    return 0;
}

const char *ij_cpu_flags(void)
{
    static char buf[256];
    size_t len = 0;
    buf[0] = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    /* __builtin_cpu_supports takes string literals only: one line per flag */
#define FLAG(name)                                                                                     \
    if (__builtin_cpu_supports(name)) len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", len ? " " : "", name);
    FLAG("avx2") FLAG("fma") FLAG("avx512f") FLAG("avx512bw") FLAG("avx512vl") FLAG("avx512vnni")
    FLAG("avx512bf16") FLAG("amx-bf16")
#undef FLAG
#endif
    if (!len) snprintf(buf, sizeof buf, "none of avx2, avx512f, avx512bf16");
    return buf;
}
