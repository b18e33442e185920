/* dist.c: see dist.h. With IJ_MPI the MPI implementation, otherwise the
 * single-process one (rank 0 of 1, nothing to communicate). */
#include "dist/dist.h"

#include "core/error.h"
#include "core/timer.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if IJ_MPI
#include <mpi.h>
#endif

static double g_timeout;   /* seconds; 0: wait forever */
static char g_describe[200] = "1 process (built without MPI)";

void ij_dist_set_timeout(double seconds) { g_timeout = seconds; }
const char *ij_dist_describe(void) { return g_describe; }

void ij_dist_slice(int batch, int rank, int size, int *lo, int *hi)
{
    IJ_ASSERT(size > 0 && rank >= 0 && rank < size);
    *lo = (int)((int64_t)batch * rank / size);
    *hi = (int)((int64_t)batch * (rank + 1) / size);
}

/* FNV-1a over 32-bit words in 4 interleaved lanes (so the multiplies pipeline),
 * then folded together. Equal bits give equal hashes; any changed bit changes
 * its lane. */
uint64_t ij_dist_hash(const float *x, size_t n, uint64_t h)
{
    const uint64_t prime = 0x100000001b3ull;
    uint64_t lane[4];
    for (int j = 0; j < 4; j++) lane[j] = (h ^ 0xcbf29ce484222325ull) + (uint64_t)j;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        for (int j = 0; j < 4; j++) {
            uint32_t u;
            memcpy(&u, x + i + j, sizeof u);
            lane[j] = (lane[j] ^ u) * prime;
        }
    }
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        lane[0] = (lane[0] ^ u) * prime;
    }
    uint64_t out = (uint64_t)n;
    for (int j = 0; j < 4; j++) out = (out ^ lane[j]) * prime;
    return out;
}

#if IJ_MPI

/* Bucket k (0 = the last floats of the buffer): [lo, hi). */
static void bucket_range(const IjGradReducer *r, int k, size_t *lo, size_t *hi)
{
    *hi = r->n - (size_t)k * r->bucket;
    *lo = *hi > r->bucket ? *hi - r->bucket : 0;
}

static int g_started;      /* MPI_Init_thread returned */
static int g_rank, g_size = 1;

static int mpi_fail(int code, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error code %d", code);
    return ij_error("%s failed: %s", what, msg);
}

/* MPI_Wait for n requests, polling so that a deadline can end it. After 1 ms it
 * sleeps 20 us between polls: a rank waiting long (for one that probes or writes a
 * checkpoint, or on an oversubscribed machine) leaves its core to others. */
static int wait_all(int n, MPI_Request *req, const char *what)
{
    double t0 = ij_now();
    for (;;) {
        int done = 0;
        int rc = MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, what);
        if (done) return 0;
        double waited = ij_now() - t0;
        if (waited > 1e-3) nanosleep(&(struct timespec){0, 20000}, NULL);
        if (g_timeout > 0 && waited > g_timeout)
            return ij_error("%s: no answer from the other ranks for %g s (one of them died, hangs or is far "
                            "behind; see --dist-timeout)", what, g_timeout);
    }
}

int ij_dist_init(int *argc, char ***argv)
{
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return ij_error("MPI_Init_thread failed");
    g_started = 1;
    /* failed calls return codes, checked everywhere, instead of aborting inside MPI */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    if (provided < MPI_THREAD_FUNNELED)
        return ij_error("this MPI library does not support MPI_THREAD_FUNNELED (OpenMP threads beside MPI)");
    /* hosts: ranks that share memory form one group; count the groups' first ranks */
    MPI_Comm node;
    int node_rank = 0, hosts = 1, rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0,
                                                           MPI_INFO_NULL, &node);
    if (rc == MPI_SUCCESS) {
        MPI_Comm_rank(node, &node_rank);
        MPI_Comm_free(&node);
        int first = node_rank == 0;
        rc = MPI_Allreduce(&first, &hosts, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    }
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "counting the hosts of the job");
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(lib, &len);
    lib[strcspn(lib, ",\n")] = 0;  /* "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4" */
    snprintf(g_describe, sizeof g_describe, "%d rank%s on %d host%s (%.100s)", g_size, g_size > 1 ? "s" : "",
             hosts, hosts > 1 ? "s" : "", lib);
    return 0;
}

void ij_dist_finalize(void)
{
    if (g_started) MPI_Finalize();
    g_started = 0;
}

void ij_dist_abort(int code)
{
    if (g_started && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

int ij_dist_rank(void) { return g_rank; }
int ij_dist_size(void) { return g_size; }
int ij_dist_compiled(void) { return 1; }

int ij_dist_sum(double *x, int n)
{
    if (g_size == 1) return 0;
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &req);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Iallreduce (sum)");
    return wait_all(1, &req, "MPI_Iallreduce (sum)");
}

int ij_dist_max(int *x)
{
    if (g_size == 1) return 0;
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, x, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &req);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Iallreduce (max)");
    return wait_all(1, &req, "MPI_Iallreduce (max)");
}

int ij_dist_any(int flag, int *any)
{
    *any = flag != 0;
    return ij_dist_max(any);
}

int ij_dist_bcast(void *buf, size_t bytes)
{
    if (g_size == 1) return 0;
    const size_t chunk = (size_t)1 << 30;  /* MPI counts are int */
    for (size_t off = 0; off < bytes; off += chunk) {
        size_t len = bytes - off < chunk ? bytes - off : chunk;
        MPI_Request req;
        int rc = MPI_Ibcast((char *)buf + off, (int)len, MPI_BYTE, 0, MPI_COMM_WORLD, &req);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Ibcast");
        if (wait_all(1, &req, "MPI_Ibcast")) return -1;
    }
    return 0;
}

int ij_dist_check_replicas(const float *const *bufs, const size_t *n, const char *const *names, int k,
                           int64_t step)
{
    if (g_size == 1) return 0;
    enum { MAX_BUFS = 8 };
    IJ_ASSERT(k > 0 && k <= MAX_BUFS);
    uint64_t mine[MAX_BUFS];
    for (int i = 0; i < k; i++) mine[i] = ij_dist_hash(bufs[i], n[i], 0);
    uint64_t *all = ij_malloc(sizeof(uint64_t) * (size_t)k * (size_t)g_size);
    MPI_Request req;
    int rc = MPI_Iallgather(mine, k, MPI_UINT64_T, all, k, MPI_UINT64_T, MPI_COMM_WORLD, &req);
    if (rc != MPI_SUCCESS) rc = mpi_fail(rc, "MPI_Iallgather (replica check)");
    else rc = wait_all(1, &req, "MPI_Iallgather (replica check)");
    for (int i = 0; !rc && i < k; i++) {
        char ranks[256] = "";
        size_t len = 0;
        int differ = 0;
        for (int r = 1; r < g_size; r++) {
            if (all[(size_t)r * k + i] == all[i]) continue;
            if (differ++ < 8 && len < sizeof ranks)
                len += (size_t)snprintf(ranks + len, sizeof ranks - len, " %d", r);
        }
        if (differ)
            rc = ij_error("step %lld: the %s differ between the ranks (hash of rank 0 %016llx; "
                          "%d rank(s) differ:%s%s); data-parallel replicas must stay identical",
                          (long long)step, names[i], (unsigned long long)all[i], differ, ranks,
                          differ > 8 ? " ..." : "");
    }
    free(all);
    return rc;
}

void ij_grad_reducer_init(IjGradReducer *r, float *grads, size_t n, size_t bucket)
{
    memset(r, 0, sizeof *r);
    r->grads = grads;
    r->n = n;
    if (bucket == 0 || bucket > n) bucket = n;
    if (bucket > (size_t)INT_MAX) bucket = (size_t)INT_MAX;  /* MPI counts are int */
    if (bucket == 0) bucket = 1;
    r->bucket = bucket;
    r->nbuckets = (int)((n + bucket - 1) / bucket);
    if (g_size > 1 && r->nbuckets > 0) {
        MPI_Request *req = ij_malloc(sizeof(MPI_Request) * (size_t)r->nbuckets);
        for (int k = 0; k < r->nbuckets; k++) req[k] = MPI_REQUEST_NULL;
        r->reqs = req;
    }
}

void ij_grad_reducer_free(IjGradReducer *r)
{
    free(r->reqs);
    memset(r, 0, sizeof *r);
}

static int start_bucket(IjGradReducer *r)
{
    size_t lo, hi;
    bucket_range(r, r->started, &lo, &hi);
    MPI_Request *req = r->reqs;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, r->grads + lo, (int)(hi - lo), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                            &req[r->started]);
    if (rc == MPI_SUCCESS) r->started++;
    return rc;
}

void ij_grad_reducer_ready(void *ctx, size_t lo)
{
    IjGradReducer *r = ctx;
    if (!r->reqs || r->failed) return;
    size_t blo, bhi;
    int rc = MPI_SUCCESS;
    while (rc == MPI_SUCCESS && r->started < r->nbuckets) {
        bucket_range(r, r->started, &blo, &bhi);
        if (blo < lo) break;
        rc = start_bucket(r);
    }
    int done = 0;
    if (rc == MPI_SUCCESS && r->started > 0) rc = MPI_Testall(r->started, r->reqs, &done, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) r->failed = rc;
}

int ij_grad_reducer_finish(IjGradReducer *r)
{
    r->ms_wait = 0;
    if (!r->reqs) return 0;
    double t0 = ij_now();
    int rc = r->failed ? mpi_fail(r->failed, "MPI_Iallreduce of the gradients") : 0;
    while (!rc && r->started < r->nbuckets) {
        int e = start_bucket(r);
        if (e != MPI_SUCCESS) rc = mpi_fail(e, "MPI_Iallreduce of the gradients");
    }
    if (!rc) rc = wait_all(r->started, r->reqs, "MPI_Iallreduce of the gradients");
    r->started = 0;
    r->failed = 0;
    r->ms_wait = 1e3 * (ij_now() - t0);
    return rc;
}

#else /* single process (parameters unused: the build has -Wno-unused-parameter) */

int ij_dist_init(int *argc, char ***argv) { return 0; }
void ij_dist_finalize(void) {}
void ij_dist_abort(int code) {}
int ij_dist_rank(void) { return 0; }
int ij_dist_size(void) { return 1; }
int ij_dist_compiled(void) { return 0; }
int ij_dist_sum(double *x, int n) { return 0; }
int ij_dist_bcast(void *buf, size_t bytes) { return 0; }

int ij_dist_max(int *x) { return 0; }

int ij_dist_any(int flag, int *any)
{
    *any = flag != 0;
    return 0;
}

int ij_dist_check_replicas(const float *const *bufs, const size_t *n, const char *const *names, int k,
                           int64_t step)
{
    return 0;
}

void ij_grad_reducer_init(IjGradReducer *r, float *grads, size_t n, size_t bucket)
{
    memset(r, 0, sizeof *r);
    r->grads = grads;
    r->n = n;
    r->bucket = bucket == 0 || bucket > n ? n : bucket;
    r->nbuckets = r->bucket ? (int)((n + r->bucket - 1) / r->bucket) : 0;
}

void ij_grad_reducer_free(IjGradReducer *r) { memset(r, 0, sizeof *r); }
void ij_grad_reducer_ready(void *ctx, size_t lo) {}

int ij_grad_reducer_finish(IjGradReducer *r)
{
    r->ms_wait = 0;
    return 0;
}

#endif
