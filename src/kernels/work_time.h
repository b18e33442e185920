/* work_time.h: optional accounting of thread time by kind of work, for `ijepa bench`.
 *
 * Off by default (one branch per call). When on, each timed call adds its wall time times the threads
 * it ran on (1 inside a parallel region, all of them outside one) and its FLOPs to the calling thread's
 * slot; ij_work_time_read sums the slots. The kinds are the large products on one thread per chunk
 * (ij_gemm_rows, or BLAS without a vector kernel), the weight-gradient products (ij_gemm_at_acc threaded
 * inside, or threaded BLAS) and
 * attention (small products and softmax per sequence and head). The forward and input-gradient
 * products outside the blocks (patch embedding, the predictor's input and output projections) count
 * as row products where the own kernel runs them, in the rest with BLAS. The rest of a step's thread
 * time is the elementwise passes (LayerNorm, GELU, loss), weight packing, AdamW and EMA.
 */
#ifndef IJEPA_KERNELS_WORK_TIME_H
#define IJEPA_KERNELS_WORK_TIME_H

#include "core/timer.h"

typedef enum { IJ_WORK_ROW_PRODUCTS, IJ_WORK_WEIGHT_GRADIENTS, IJ_WORK_ATTENTION, IJ_WORK_KINDS } IjWorkKind;

extern int ij_work_time_on;

void ij_work_time_start(void); /* zero the sums and count from now */
void ij_work_time_stop(void);  /* stop counting; the sums stay */
/* Thread seconds and FLOPs of one kind between start and stop. */
void ij_work_time_read(IjWorkKind kind, double *thread_seconds, double *flops);

/* The out-of-line half of ij_work_end. */
void ij_work_add(IjWorkKind kind, double t0, double flops);

static inline double ij_work_begin(void) { return ij_work_time_on ? ij_now() : 0.0; }
/* After a call that began at t0 (from ij_work_begin): no-op while off. */
static inline void ij_work_end(IjWorkKind kind, double t0, double flops)
{
    if (ij_work_time_on) ij_work_add(kind, t0, flops);
}

#endif
