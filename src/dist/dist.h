/* dist.h: data-parallel training across processes and machines (MPI), or the
 * single-process no-ops.
 *
 * Built with MPI (`make MPI=1`: mpicc, -DIJ_MPI=1), `mpirun -np N ijepa train`
 * runs N ranks; each trains on a slice of every global batch (ij_dist_slice)
 * and the gradients are summed with MPI_Allreduce over the flat gradient
 * buffer, in buckets that start while the backward pass is still running
 * (IjGradReducer). Built without MPI, or run as one rank, every function here
 * is the single-process case (rank 0 of 1) and communicates nothing.
 *
 * Only the thread that called ij_dist_init calls MPI (MPI_THREAD_FUNNELED):
 * hooks run between the OpenMP regions of the backward pass.
 *
 * Failures: MPI calls return their error codes (MPI_ERRORS_RETURN on
 * MPI_COMM_WORLD), which become ij_error messages; a rank that fails calls
 * ij_dist_abort, which ends the whole job (MPI_Abort). When a rank dies
 * (killed, crashed), mpirun ends the job itself. Every wait for the other
 * ranks gives up after ij_dist_set_timeout seconds (0: never) with a message
 * naming what it waited for, which covers a rank that hangs.
 */
#ifndef IJEPA_DIST_DIST_H
#define IJEPA_DIST_DIST_H

#include <stddef.h>
#include <stdint.h>

/* Starts MPI (no-op without it). Call once, first thing in main. */
int ij_dist_init(int *argc, char ***argv);
/* Ends MPI after a successful run. */
void ij_dist_finalize(void);
/* After a failure on this rank: ends every rank of the job (MPI_Abort) when
 * there are others; returns when this is the only one. */
void ij_dist_abort(int code);

int ij_dist_rank(void);
int ij_dist_size(void);
/* 1 when built with MPI. */
int ij_dist_compiled(void);
/* One line for a run's header: "1 process (built without MPI)", "2 ranks on 1 host (Open MPI v4.1.4)". */
const char *ij_dist_describe(void);
/* Seconds any wait for the other ranks may last before it is an error (0: no limit). */
void ij_dist_set_timeout(double seconds);

/* Samples [lo, hi) of a global batch of `batch` for `rank` of `size`: contiguous
 * slices in rank order whose sizes differ by at most one. */
void ij_dist_slice(int batch, int rank, int size, int *lo, int *hi);

/* Collectives over every rank (no-ops with one). Each returns 0, or -1 with
 * ij_error set. */
int ij_dist_sum(double *x, int n);           /* x[i] = sum over ranks, in place */
int ij_dist_any(int flag, int *any);         /* *any = 1 when flag != 0 on some rank */
int ij_dist_max(int *x);                     /* *x = the largest over ranks, in place */
int ij_dist_bcast(void *buf, size_t bytes);  /* rank 0's bytes to every rank */

/* A 64-bit hash of the bits of n floats, continuing from h (start with 0). */
uint64_t ij_dist_hash(const float *x, size_t n, uint64_t h);
/* Error unless each of the k buffers hashes the same on every rank; the message
 * names the buffer, the step and the ranks that differ from rank 0. */
int ij_dist_check_replicas(const float *const *bufs, const size_t *n, const char *const *names, int k,
                           int64_t step);

/* Sums a gradient buffer over the ranks in buckets of `bucket` floats, counted
 * from the END of the buffer (the predictor and the last encoder blocks, whose
 * gradients are final first). ij_grad_reducer_ready(r, lo) says grads[lo, n)
 * are final: every bucket inside that suffix starts (MPI_Iallreduce, in place)
 * and the ones in flight are driven on (MPI_Testall), so communication overlaps
 * the rest of the backward pass. ij_grad_reducer_finish starts the rest and
 * waits for all. The request array is allocated at init; steps allocate nothing
 * (beyond what MPI does inside). */
typedef struct {
    float *grads;
    size_t n, bucket;
    int nbuckets;
    int started;          /* buckets started this step */
    void *reqs;           /* MPI_Request[nbuckets] */
    int failed;           /* an MPI error inside a hook, reported by finish */
    double ms_wait;       /* last step: time finish spent waiting */
} IjGradReducer;

/* bucket: floats per bucket (0: the whole buffer in one). */
void ij_grad_reducer_init(IjGradReducer *r, float *grads, size_t n, size_t bucket);
void ij_grad_reducer_free(IjGradReducer *r);
/* Signature of IjModel.grads_ready; ctx is the IjGradReducer. */
void ij_grad_reducer_ready(void *ctx, size_t lo);
/* Starts what is left, waits for every bucket, resets for the next step. */
int ij_grad_reducer_finish(IjGradReducer *r);

#endif
