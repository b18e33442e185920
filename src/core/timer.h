/* timer.h: monotonic wall-clock time in seconds. */
#ifndef IJEPA_CORE_TIMER_H
#define IJEPA_CORE_TIMER_H

#include <time.h>

static inline double ij_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif
