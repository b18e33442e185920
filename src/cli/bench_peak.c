/* bench_peak.c: sgemm peak readings over a bench run (see bench_peak.h).
 *
 * This machine's speed drifts (its sgemm rate moved by 10% between runs minutes apart), so one
 * reading before and one after the timed steps can miss what the machine could do while the steps
 * ran. Readings between the steps follow the drift; bench divides by their median (one reading
 * slowed by a hiccup moves it little) and shows the fraction of the highest beside it. */
#include "cli/bench_peak.h"

#include "cli/bench_kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

/* The high-water mark of this process's resident memory: VmHWM, which clear_refs resets. Not
 * getrusage's ru_maxrss: it also covers the process before its exec, i.e. a parent's memory at the
 * fork (run from bench_torch.py's Python process, bench reported 1215 MiB for its 1015). */
static double peak_rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lf kB", &kib) == 1) break;
    if (f) fclose(f);
    if (kib >= 0) return kib / 1024.0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* Reset the high-water mark of resident memory to what is resident now; 0 on success. */
static int reset_rss_mark(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int bad = fputs("5", f) < 0;
    return fclose(f) != 0 || bad ? -1 : 0;
}

static void take(BenchPeak *p)
{
    if (p->n < BENCH_PEAK_MAX) p->reading[p->n++] = p->bf16 ? bench_bf16_peak(p->bf16, 2048) : bench_sgemm_peak(2048);
}

void bench_peak_begin(BenchPeak *p)
{
    p->n = 0; /* p->bf16 stays as the caller set it */
    p->rss_mib = 0;
    p->rss_frozen = 0;
    take(p);
    p->between = reset_rss_mark() == 0; /* the reading's matrices are freed: the mark drops back */
}

void bench_peak_between(BenchPeak *p, int done, int steps)
{
    if (!p->between || done >= steps || done % ((steps + 31) / 32)) return;
    if (p->n >= BENCH_PEAK_MAX - 1) return; /* the last slot is bench_peak_end's */
    double rss = peak_rss_mib();
    if (rss > p->rss_mib) p->rss_mib = rss;
    take(p);
    if (reset_rss_mark()) p->between = 0, p->rss_frozen = 1; /* the mark now holds the matrices */
}

void bench_peak_end(BenchPeak *p)
{
    double rss = peak_rss_mib();
    if (!p->rss_frozen && rss > p->rss_mib) p->rss_mib = rss;
    take(p);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_peak_summary(const BenchPeak *p, double *lowest, double *median, double *highest)
{
    double v[BENCH_PEAK_MAX];
    for (int i = 0; i < p->n; i++) v[i] = p->reading[i];
    qsort(v, (size_t)p->n, sizeof v[0], by_value);
    *lowest = v[0];
    *median = p->n % 2 ? v[p->n / 2] : 0.5 * (v[p->n / 2 - 1] + v[p->n / 2]);
    *highest = v[p->n - 1];
}
