/* bench_kernels.h: `ijepa bench --kernels` (see bench_kernels.c). */
#ifndef IJEPA_CLI_BENCH_KERNELS_H
#define IJEPA_CLI_BENCH_KERNELS_H

#include "kernels/bf16.h"
#include "model/config.h"

/* Times each of the model's block products on `rows` rows, one thread, our kernel against OpenBLAS,
 * and prints one line per product; -1 (with the error printed) when this build has no kernel. */
int bench_kernels(const IjConfig *c, int rows);
/* GFLOP/s of an n^3 sgemm through OpenBLAS with its current thread count (the practical peak). */
double bench_sgemm_peak(int n);
/* GFLOP/s of an n^3 bf16 product by the own kernel on path, all threads (the bf16 peak). */
double bench_bf16_peak(IjBf16Path path, int n);

#endif
