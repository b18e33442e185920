/* bench_peak.h: the sgemm peak that `ijepa bench` divides by, read several times over a run, and
 * the run's peak resident memory without the readings' own matrices (see bench_peak.c). */
#ifndef IJEPA_CLI_BENCH_PEAK_H
#define IJEPA_CLI_BENCH_PEAK_H

#include "kernels/bf16.h"

#define BENCH_PEAK_MAX 40 /* readings kept: one before the model, at most 32 between steps, one after */

typedef struct {
    double reading[BENCH_PEAK_MAX]; /* GFLOP/s of each 2048^3 sgemm reading, in order */
    int n;
    int between;    /* whether readings between the timed steps are taken (see bench_peak_begin) */
    double rss_mib; /* the highest resident memory seen outside the readings */
    int rss_frozen; /* a reset failed after a reading: rss_mib is final (never happened here) */
    IjBf16Path bf16; /* what a reading measures: OpenBLAS sgemm (IJ_BF16_OFF) or the own bf16 kernel on that path */
} BenchPeak;

/* The first reading, before the model exists (set p->bf16 first). Readings between steps are taken only where the
 * kernel lets the process reset its memory high-water mark (/proc/self/clear_refs), so that the
 * readings' 48 MiB of matrices never count as the run's memory. */
void bench_peak_begin(BenchPeak *p);
/* After `done` of `steps` timed steps: a reading after each step but the last, spaced so that at
 * most 32 fall between the steps (nothing where bench_peak_begin found no reset). */
void bench_peak_between(BenchPeak *p, int done, int steps);
/* The last reading, after the timed steps; the peak memory is read before it. */
void bench_peak_end(BenchPeak *p);
/* The lowest, median and highest reading. */
void bench_peak_summary(const BenchPeak *p, double *lowest, double *median, double *highest);

#endif
