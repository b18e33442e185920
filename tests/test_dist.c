/* test_dist.c: the pieces of data-parallel training that need no second process.
 *
 *  - ij_dist_slice: contiguous slices in rank order covering the batch;
 *  - ij_mask_slice: the slice of the global masks, renumbered, equals the
 *    global lists of its samples (official and fixed masks, every split);
 *  - the loss normalisation: the model run on slices of a batch, each with
 *    loss_denom = the whole batch's element count, gives losses and gradients
 *    that SUM to the whole batch's (what the allreduce computes), also with
 *    ragged masks where the slices hold different numbers of target tokens;
 *  - the grads_ready hook: suffixes that shrink from the predictor to block 0,
 *    and every gradient in a reported suffix already has its final value;
 *  - the replica hash; the single-process reducer leaves gradients alone.
 * tests/mpi/test_mpi.sh checks the same sums across real MPI processes.
 */
#include "testlib.h"

#include "core/error.h"
#include "core/rng.h"
#include "dist/dist.h"
#include "dist/mask_slice.h"
#include "model/model.h"
#include "train/masks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_slices(void)
{
    for (int size = 1; size <= 5; size++) {
        for (int batch = size; batch <= 13; batch++) {
            int prev = 0, ok = 1;
            for (int r = 0; r < size; r++) {
                int lo, hi;
                ij_dist_slice(batch, r, size, &lo, &hi);
                ok &= lo == prev && hi > lo && hi - lo >= batch / size && hi - lo <= batch / size + 1;
                prev = hi;
            }
            CHECKF(ok && prev == batch, "batch %d over %d ranks", batch, size);
        }
    }
}

/* Compares slice [lo, hi) with the global masks. */
static int slice_matches(const IjMasks *s, const IjMasks *g, int lo, int hi)
{
    int L = hi - lo, T = g->num_targets;
    if (s->batch != L || s->num_targets != T || s->ctx_off[0] != 0 || s->tgt_off[0] != 0) return 0;
    for (int j = 0; j < L; j++) {
        int n = s->ctx_off[j + 1] - s->ctx_off[j];
        if (n != g->ctx_off[lo + j + 1] - g->ctx_off[lo + j]) return 0;
        if (memcmp(s->ctx_idx + s->ctx_off[j], g->ctx_idx + g->ctx_off[lo + j], sizeof(int) * (size_t)n)) return 0;
        for (int i = 0; i < T; i++) {
            int q = i * L + j, qg = i * g->batch + lo + j;
            n = s->tgt_off[q + 1] - s->tgt_off[q];
            if (n != g->tgt_off[qg + 1] - g->tgt_off[qg]) return 0;
            if (memcmp(s->tgt_idx + s->tgt_off[q], g->tgt_idx + g->tgt_off[qg], sizeof(int) * (size_t)n)) return 0;
        }
    }
    return 1;
}

static void sampler(IjMaskSampler *s, IjMaskMode mode, int grid, int batch)
{
    IjMaskParams p;
    ij_mask_params_default(&p, grid, batch);
    p.mode = mode;
    p.min_keep = 0;  /* tiny grids: blocks of 1-2 patches */
    p.seed = 7;
    IJ_ASSERT(ij_mask_sampler_init(s, &p) == 0);
}

static void test_mask_slices(void)
{
    const int G = 7, B = 6;
    IjMaskMode modes[2] = {IJ_MASKS_OFFICIAL, IJ_MASKS_FIXED};
    for (int mi = 0; mi < 2; mi++) {
        IjMaskSampler ms;
        sampler(&ms, modes[mi], G, B);
        IjMaskSlice sl;
        ij_mask_slice_init(&sl, B, ms.masks.num_targets > 0 ? ms.masks.num_targets : 4, G * G);
        int bad = 0, ragged = 0;
        for (uint64_t step = 0; step < 5; step++) {
            CHECK(ij_mask_sample(&ms, step) == 0);
            const IjMasks *g = &ms.masks;
            for (int lo = 0; lo < B; lo++)
                for (int hi = lo + 1; hi <= B; hi++) bad += !slice_matches(ij_mask_slice(&sl, g, lo, hi), g, lo, hi);
            ragged |= g->tgt_off[1] - g->tgt_off[0] != g->tgt_off[2] - g->tgt_off[1];
        }
        CHECKF(bad == 0, "mode %d: %d slices differ from the global masks", mi, bad);
        if (modes[mi] == IJ_MASKS_FIXED) CHECKF(ragged, "fixed masks should give ragged target lists");
        ij_mask_slice_free(&sl);
        ij_mask_sampler_free(&ms);
    }
}

/* Records the grads_ready calls and checks each reported suffix against the final gradients later. */
typedef struct {
    const IjModel *m;
    size_t lo[64];
    float *copy;   /* [n_total]: each suffix as it was when reported */
    int calls;
} Hook;

static void hook(void *ctx, size_t lo)
{
    Hook *h = ctx;
    IJ_ASSERT(h->calls < 64);
    h->lo[h->calls++] = lo;
    size_t n = h->m->tab.n_total;
    memcpy(h->copy + lo, h->m->grads + lo, sizeof(float) * (n - lo));
}

static double max_abs(const float *x, size_t n)
{
    double w = 0;
    for (size_t i = 0; i < n; i++) w = fmax(w, fabs(x[i]));
    return w;
}

static void test_sliced_gradients(void)
{
    IjConfig c = {16, 1, 4, 16, 2, 2, 64, 8, 2, 32};  /* 4x4 patches, 2 + 2 blocks */
    const int B = 5, N = ij_num_patches(&c);
    IjModel m;
    CHECK(ij_model_init(&m, &c, 3) == 0);
    size_t n = m.tab.n_total, img = (size_t)c.channels * c.img_size * c.img_size;
    float *x = ij_malloc(sizeof(float) * img * B), *full = ij_malloc(sizeof(float) * n);
    double *sum = ij_malloc(sizeof(double) * n);
    IjRng r = ij_rng(11, 1, 0);
    for (size_t i = 0; i < img * B; i++) x[i] = (float)ij_rng_normal(&r);
    /* the hook: suffixes from the predictor down to encoder block 0, each final when reported */
    Hook h = {&m, {0}, ij_calloc(n, sizeof(float)), 0};
    m.grads_ready = hook;
    m.grads_ready_ctx = &h;
    IjMaskSampler ms;
    sampler(&ms, IJ_MASKS_FIXED, ij_grid(&c), B);
    CHECK(ij_mask_sample(&ms, 0) == 0);
    float loss = ij_model_step(&m, x, &ms.masks, 1);
    CHECKF(h.calls == 1 + c.depth, "grads_ready called %d times, expected %d", h.calls, 1 + c.depth);
    int order = h.lo[0] == m.tab.n_encoder && h.lo[h.calls - 1] == m.tab.t[ij_table_find(&m.tab, 0, "blocks.0.norm1.weight")].offset;
    for (int k = 1; k < h.calls; k++) order &= h.lo[k] < h.lo[k - 1];
    CHECK(order);
    CHECKF(memcmp(h.copy + h.lo[h.calls - 1], m.grads + h.lo[h.calls - 1], sizeof(float) * (n - h.lo[h.calls - 1])) == 0,
           "a gradient changed after grads_ready reported it final");
    m.grads_ready = NULL;
    free(h.copy);

    IjMaskMode modes[2] = {IJ_MASKS_FIXED, IJ_MASKS_OFFICIAL};
    int splits[3][4] = {{0, 2, 5, -1}, {0, 1, 3, 5}, {0, 5, -1, -1}};
    IjMaskSlice sl;
    ij_mask_slice_init(&sl, B, 4, N);
    for (int mi = 0; mi < 2; mi++) {
        ij_mask_sampler_free(&ms);
        sampler(&ms, modes[mi], ij_grid(&c), B);
        CHECK(ij_mask_sample(&ms, 3) == 0);
        const IjMasks *g = &ms.masks;
        m.loss_denom = 0;
        loss = ij_model_step(&m, x, g, 1);
        memcpy(full, m.grads, sizeof(float) * n);
        size_t denom = (size_t)g->tgt_off[g->num_targets * B] * c.embed_dim;
        for (int si = 0; si < 3; si++) {
            memset(sum, 0, sizeof(double) * n);
            double lsum = 0;
            int counts_differ = 0, prev_count = -1;
            for (int k = 0; k < 3 && splits[si][k + 1] >= 0; k++) {
                int lo = splits[si][k], hi = splits[si][k + 1];
                const IjMasks *s = ij_mask_slice(&sl, g, lo, hi);
                m.loss_denom = denom;
                lsum += ij_model_step(&m, x + (size_t)lo * img, s, 1);
                for (size_t i = 0; i < n; i++) sum[i] += m.grads[i];
                int count = s->tgt_off[s->num_targets * s->batch];
                counts_differ |= prev_count >= 0 && count != prev_count;
                prev_count = count;
            }
            double worst = 0, scale = max_abs(full, n);
            for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(sum[i] - full[i]));
            /* float32 sums in a different grouping: a few units of 2^-24 of the largest gradient */
            CHECKF(worst <= 1e-5 * scale, "mode %d split %d: gradients of the slices sum to %.3g off (scale %.3g)",
                   mi, si, worst, scale);
            CHECKF(fabs(lsum - loss) <= 1e-6 * fabs(loss), "mode %d split %d: losses sum to %.9g, whole batch %.9g",
                   mi, si, lsum, loss);
            if (mi == 0 && si == 0) CHECKF(counts_differ, "fixed masks: slices should hold different token counts");
        }
    }
    m.loss_denom = 0;
    /* one process: the reducer communicates nothing and changes nothing */
    IjGradReducer red;
    ij_grad_reducer_init(&red, m.grads, n, 1000);
    memcpy(full, m.grads, sizeof(float) * n);
    ij_grad_reducer_ready(&red, 0);
    CHECK(ij_grad_reducer_finish(&red) == 0);
    CHECK(memcmp(full, m.grads, sizeof(float) * n) == 0);
    ij_grad_reducer_free(&red);
    ij_mask_slice_free(&sl);
    ij_mask_sampler_free(&ms);
    free(x);
    free(full);
    free(sum);
    ij_model_free(&m);
}

static void test_hash(void)
{
    float a[37], b[37];
    for (int i = 0; i < 37; i++) a[i] = b[i] = 0.1f * (float)i;
    CHECK(ij_dist_hash(a, 37, 0) == ij_dist_hash(b, 37, 0));
    b[36] = nextafterf(b[36], 10.0f);
    CHECK(ij_dist_hash(a, 37, 0) != ij_dist_hash(b, 37, 0));
    b[36] = a[36];
    b[3] = a[4];
    b[4] = a[3];
    CHECK(ij_dist_hash(a, 37, 0) != ij_dist_hash(b, 37, 0));      /* order matters */
    CHECK(ij_dist_hash(a, 36, 0) != ij_dist_hash(a, 37, 0));
    CHECK(ij_dist_hash(a, 37, 0) != ij_dist_hash(a, 37, 1));
    const float *bufs[1] = {a};
    size_t ns[1] = {37};
    const char *names[1] = {"parameters"};
    CHECK(ij_dist_check_replicas(bufs, ns, names, 1, 1) == 0);  /* one process: nothing to compare */
}

int main(void)
{
    CHECK(ij_dist_rank() == 0 && ij_dist_size() == 1);
    test_slices();
    test_mask_slices();
    test_sliced_gradients();
    test_hash();
    return test_exit_code("test_dist");
}
