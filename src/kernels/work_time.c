/* work_time.c: thread time by kind of work (see work_time.h). */
#include "kernels/work_time.h"

#include <omp.h>
#include <string.h>

#define SLOTS 256 /* threads beyond this are not counted (bench runs with far fewer) */

/* one cache line per thread: the threads never write the same line */
typedef struct {
    double seconds[IJ_WORK_KINDS], flops[IJ_WORK_KINDS];
} __attribute__((aligned(64))) Slot;

static Slot slots[SLOTS];
int ij_work_time_on;

void ij_work_time_start(void)
{
    memset(slots, 0, sizeof slots);
    ij_work_time_on = 1;
}

void ij_work_time_stop(void) { ij_work_time_on = 0; }

void ij_work_add(IjWorkKind kind, double t0, double flops)
{
    double dt = ij_now() - t0;
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    int tid = omp_get_thread_num();
    if (tid >= SLOTS) return;
    Slot *s = &slots[tid];
    s->seconds[kind] += dt * threads;
    s->flops[kind] += flops;
}

void ij_work_time_read(IjWorkKind kind, double *thread_seconds, double *flops)
{
    double t = 0, f = 0;
    for (int i = 0; i < SLOTS; i++) t += slots[i].seconds[kind], f += slots[i].flops[kind];
    *thread_seconds = t;
    *flops = f;
}
