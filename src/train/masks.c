/* masks.c: mask sampler: multi-block (official, fixed), single block, random
 * tokens and rasterized quadrants (see masks.h).
 *
 * Lists are first written at a stride of N per sequence (context of sample b
 * at b*N, target (i, b) at (i*batch + b)*N), then packed in place: a packed
 * sequence never starts after its staged copy, so one forward pass of
 * memmove is safe.
 */
#include "train/masks.h"

#include "core/error.h"
#include "core/rng.h"
#include "train/mt19937.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

enum {
    CTX_TRIES = 20,        /* context positions tried per level (official og_timeout) */
    FIXED_ROUNDS = 1000,   /* fixed mode: target placements tried before giving up */
    RNG_MASKS = 0x6d61736b /* "mask": purpose word of the position streams */
};

void ij_mask_params_default(IjMaskParams *p, int grid, int batch)
{
    *p = (IjMaskParams){
        .mode = IJ_MASKS_OFFICIAL,
        .grid = grid,
        .batch = batch,
        .num_targets = 4,
        .tgt_scale = {0.15, 0.2},
        .tgt_aspect = {0.75, 1.5},
        .ctx_scale = {0.85, 1.0},
        .ctx_aspect = {1.0, 1.0},
        .min_keep = 10,
        .allow_overlap = 0,
        .seed = 0,
        .target_ratio = 0.6,
    };
}

static const struct {
    const char *name, *what;
} modes[IJ_MASK_MODES] = {
    {"official", "reference collator: block sizes per batch, last row/column never masked, lists truncated to "
                 "the batch minimum"},
    {"fixed", "corrected multi-block sampler: sizes per image, every row and column reachable, ragged lists"},
    {"block", "one large target block (target_ratio of the image), context = the rest"},
    {"random", "one target of random tokens (target_ratio of the image), context = the rest"},
    {"raster", "rasterized: one quadrant is the context, the other three quadrants are three targets"},
};

const char *ij_mask_mode_name(IjMaskMode mode)
{
    return (int)mode >= 0 && (int)mode < IJ_MASK_MODES ? modes[mode].name : NULL;
}

const char *ij_mask_mode_describe(IjMaskMode mode)
{
    return (int)mode >= 0 && (int)mode < IJ_MASK_MODES ? modes[mode].what : "unknown mode";
}

const char *ij_mask_mode_list(void)
{
    static char list[128];
    if (!list[0]) {
        size_t k = 0;
        for (int i = 0; i < IJ_MASK_MODES; i++)
            k += (size_t)snprintf(list + k, sizeof list - k, "%s'%s'", i == 0 ? "" : i == IJ_MASK_MODES - 1 ? " or " : ", ",
                                  modes[i].name);
    }
    return list;
}

int ij_mask_mode_parse(const char *name, IjMaskMode *mode)
{
    for (int i = 0; i < IJ_MASK_MODES; i++)
        if (strcmp(name, modes[i].name) == 0) return *mode = (IjMaskMode)i, 0;
    return ij_error("unknown mask mode '%s' (%s)", name, ij_mask_mode_list());
}

static int check_range(const char *what, const double v[2], double lo, double hi)
{
    if (!(v[0] > lo && v[0] <= v[1] && v[1] <= hi))
        return ij_error("masks: %s (%g, %g) must satisfy %g < min <= max <= %g", what, v[0], v[1], lo, hi);
    return 0;
}

static int too_small(const char *what, int h, int w, int min_keep)
{
    return ij_error("masks: a %s block of %dx%d patches is not larger than min_keep %d (the official "
                    "collator would loop forever); lower min_keep or raise the %s scale",
                    what, h, w, min_keep, what);
}

/* Scans 2^16 draws r in [0, 1) for a block that is too small. */
static int smallest_block(const char *what, const double scale[2], const double aspect[2], int grid, int cap,
                          int min_keep)
{
    for (int k = 0; k < 65536; k++) {
        int h, w;
        ij_mask_block_size(&h, &w, k / 65536.0, scale, aspect, grid, cap);
        if (h * w <= min_keep) return too_small(what, h, w, min_keep);
    }
    return 0;
}

/* Checks of the complement modes; the number of targets they make into *T. */
static int complement_check(const IjMaskParams *p, int *T)
{
    const int G = p->grid, N = G * G;
    if (p->allow_overlap)
        return ij_error("masks: allow_overlap has no meaning in %s mode (the context is the complement of the "
                        "targets)", ij_mask_mode_name(p->mode));
    *T = p->mode == IJ_MASKS_RASTER ? 3 : 1;
    if (p->mode == IJ_MASKS_RASTER) {
        int small = (G / 2) * (G / 2);
        if (small <= p->min_keep)
            return ij_error("masks: raster mode: the smallest quadrant of a %dx%d grid has %d patches, not more "
                            "than min_keep %d", G, G, small, p->min_keep);
        return 0;
    }
    if (!(p->target_ratio > 0 && p->target_ratio < 1))
        return ij_error("masks: target ratio %g must be in (0, 1)", p->target_ratio);
    for (int k = 0; k < (p->mode == IJ_MASKS_BLOCK ? 65536 : 1); k++) {
        int h = 0, w = 0, n = (int)((double)N * p->target_ratio);
        if (p->mode == IJ_MASKS_BLOCK) {
            double ratio[2] = {p->target_ratio, p->target_ratio};
            ij_mask_block_size(&h, &w, k / 65536.0, ratio, p->tgt_aspect, G, G);
            n = h * w;
        }
        if (n <= p->min_keep || N - n <= p->min_keep)
            return ij_error("masks: %s mode: a target of %d of %d patches leaves the target or its complement "
                            "(the context) with no more than min_keep %d patches; change the target ratio %g or "
                            "min_keep", ij_mask_mode_name(p->mode), n, N, p->min_keep, p->target_ratio);
    }
    return 0;
}

int ij_mask_sampler_init(IjMaskSampler *s, const IjMaskParams *p)
{
    memset(s, 0, sizeof *s);
    if (!ij_mask_mode_name(p->mode)) return ij_error("masks: unknown mode %d", p->mode);
    if (p->grid < 2 || p->grid > 1024) return ij_error("masks: grid %d must be in [2, 1024]", p->grid);
    if (p->batch < 1) return ij_error("masks: batch %d must be at least 1", p->batch);
    if (p->num_targets < 1 || p->num_targets > 64)
        return ij_error("masks: number of targets %d must be in [1, 64]", p->num_targets);
    if (p->min_keep < 0) return ij_error("masks: min_keep %d must not be negative", p->min_keep);
    if (check_range("target scale", p->tgt_scale, 0, 1) || check_range("context scale", p->ctx_scale, 0, 1) ||
        check_range("target aspect", p->tgt_aspect, 0, 1e6) || check_range("context aspect", p->ctx_aspect, 0, 1e6))
        return -1;
    /* Fail early when some draw would make a block that never keeps more than
     * min_keep patches (ij_mask_sample still checks every block it makes). */
    int cap = p->mode == IJ_MASKS_OFFICIAL ? p->grid - 1 : p->grid, T = p->num_targets;
    if (p->mode >= IJ_MASKS_BLOCK) {
        if (complement_check(p, &T)) return -1;
    } else if (smallest_block("target", p->tgt_scale, p->tgt_aspect, p->grid, cap, p->min_keep) ||
               smallest_block("context", p->ctx_scale, p->ctx_aspect, p->grid, cap, p->min_keep)) {
        return -1;
    }
    size_t n = (size_t)p->grid * (size_t)p->grid;
    size_t seqs = (size_t)T * (size_t)p->batch;
    if (seqs * n > INT_MAX) return ij_error("masks: %zu target sequences of %zu patches overflow int offsets", seqs, n);
    s->p = *p;
    s->p.num_targets = T;
    p = &s->p;
    s->ctx_idx = ij_malloc(sizeof(int) * (size_t)p->batch * n);
    s->ctx_off = ij_malloc(sizeof(int) * ((size_t)p->batch + 1));
    s->tgt_idx = ij_malloc(sizeof(int) * seqs * n);
    s->tgt_off = ij_malloc(sizeof(int) * (seqs + 1));
    s->rects = ij_malloc(sizeof(int) * 4 * (size_t)p->num_targets);
    return 0;
}

void ij_mask_sampler_free(IjMaskSampler *s)
{
    free(s->ctx_idx);
    free(s->ctx_off);
    free(s->tgt_idx);
    free(s->tgt_off);
    free(s->rects);
    memset(s, 0, sizeof *s);
}

void ij_mask_block_size(int *h, int *w, double r, const double scale[2], const double aspect[2], int grid, int cap)
{
    /* Same operations, in the same order and in double, as the Python original;
     * rint() rounds half to even like Python's round(). */
    double sc = scale[0] + r * (scale[1] - scale[0]);
    double keep = (double)(int64_t)((double)grid * grid * sc);
    double a = aspect[0] + r * (aspect[1] - aspect[0]);
    int hh = (int)rint(sqrt(keep * a)), ww = (int)rint(sqrt(keep / a));
    *h = hh > cap ? cap : hh;
    *w = ww > cap ? cap : ww;
}

void ij_mask_official_sizes(int sizes[4], const IjMaskParams *p, uint64_t counter)
{
    IjMt19937 mt;
    ij_mt_seed(&mt, counter);
    double r_tgt = ij_mt_torch_rand(&mt), r_ctx = ij_mt_torch_rand(&mt);
    ij_mask_block_size(&sizes[0], &sizes[1], r_tgt, p->tgt_scale, p->tgt_aspect, p->grid, p->grid - 1);
    ij_mask_block_size(&sizes[2], &sizes[3], r_ctx, p->ctx_scale, p->ctx_aspect, p->grid, p->grid - 1);
}

/* Patches of block (top, left, h, w) outside the first `nrect` rects, in
 * raster order; written to out (when not NULL); returns their number. */
static int block_minus(int *out, int grid, int top, int left, int h, int w, const int *rects, int nrect)
{
    int n = 0;
    for (int r = top; r < top + h; r++)
        for (int c = left; c < left + w; c++) {
            int inside = 0;
            for (int k = 0; k < nrect && !inside; k++) {
                const int *q = rects + 4 * k;
                inside = r >= q[0] && r < q[0] + q[2] && c >= q[1] && c < q[1] + q[3];
            }
            if (!inside) {
                if (out) out[n] = r * grid + c;
                n++;
            }
        }
    return n;
}

/* One sample b: places its targets and its context and writes their staged
 * lists (lengths into the *_off slots). Returns 1 if placement was relaxed,
 * 0 if not, -1 on error. */
static int sample_one(IjMaskSampler *s, IjRng *rng, int b, const int sz[4])
{
    const IjMaskParams *p = &s->p;
    const int G = p->grid, N = G * G, T = p->num_targets, fixed = p->mode == IJ_MASKS_FIXED;
    const int th = sz[0], tw = sz[1], ch = sz[2], cw = sz[3];
    const int constrain = p->allow_overlap ? 0 : T;
    if (th * tw <= p->min_keep) return too_small("target", th, tw, p->min_keep);
    if (ch * cw <= p->min_keep) return too_small("context", ch, cw, p->min_keep);

    /* Corner positions: [0, G-h) in official mode (its exclusive-bound artefact), [0, G-h] when fixed. */
    const uint64_t t_rows = (uint64_t)(G - th + fixed), t_cols = (uint64_t)(G - tw + fixed);
    const uint64_t c_rows = (uint64_t)(G - ch + fixed), c_cols = (uint64_t)(G - cw + fixed);
    int relaxed = 0, ctop = 0, cleft = 0, active = constrain;
    for (int round = 0;; round++) {
        if (round == FIXED_ROUNDS)
            return ij_error("masks: no placement of %d targets of %dx%d leaves more than min_keep %d patches of a "
                            "%dx%d context after %d tries; lower min_keep or the target scale",
                            T, th, tw, p->min_keep, ch, cw, FIXED_ROUNDS * CTX_TRIES);
        for (int i = 0; i < T; i++) {
            int *q = s->rects + 4 * i;
            q[0] = (int)ij_rng_below(rng, t_rows);
            q[1] = (int)ij_rng_below(rng, t_cols);
            q[2] = th;
            q[3] = tw;
        }
        int found = 0, dropped = 0;
        for (int timeout = CTX_TRIES; !found;) {
            ctop = (int)ij_rng_below(rng, c_rows);
            cleft = (int)ij_rng_below(rng, c_cols);
            active = constrain - dropped > 0 ? constrain - dropped : 0;
            found = block_minus(NULL, G, ctop, cleft, ch, cw, s->rects, active) > p->min_keep;
            if (!found && --timeout == 0) {
                if (fixed) break;  /* place the targets anew */
                dropped++;         /* official: give up the last remaining target constraint */
                timeout = CTX_TRIES;
            }
        }
        if (found) {
            relaxed = round > 0 || dropped > 0;
            break;
        }
    }
    /* Targets (unconstrained: all th*tw patches), then the context. */
    for (int i = 0; i < T; i++) {
        const int *q = s->rects + 4 * i;
        size_t seq = (size_t)i * (size_t)p->batch + (size_t)b;
        s->tgt_off[seq + 1] = block_minus(s->tgt_idx + seq * (size_t)N, G, q[0], q[1], th, tw, NULL, 0);
    }
    s->ctx_off[b + 1] = block_minus(s->ctx_idx + (size_t)b * (size_t)N, G, ctop, cleft, ch, cw, s->rects, active);
    return relaxed;
}

/* Complement modes, sample b: marks every patch with the target it belongs to
 * (-1: none), then writes the staged lists in raster order. No allocation:
 * the marks live in the sample's context slot, which is written last and
 * only at or below the position being read. */
static void sample_complement(IjMaskSampler *s, IjRng *rng, int b)
{
    const IjMaskParams *p = &s->p;
    const int G = p->grid, N = G * G, B = p->batch;
    int *mark = s->ctx_idx + (size_t)b * (size_t)N;
    for (int k = 0; k < N; k++) mark[k] = -1;
    if (p->mode == IJ_MASKS_BLOCK) {
        int h, w;
        double ratio[2] = {p->target_ratio, p->target_ratio};
        ij_mask_block_size(&h, &w, ij_rng_uniform(rng), ratio, p->tgt_aspect, G, G);
        int top = (int)ij_rng_below(rng, (uint64_t)(G - h + 1)), left = (int)ij_rng_below(rng, (uint64_t)(G - w + 1));
        for (int r = top; r < top + h; r++)
            for (int c = left; c < left + w; c++) mark[r * G + c] = 0;
    } else if (p->mode == IJ_MASKS_RANDOM) {
        /* selection sampling (Knuth's algorithm S): exactly `want` tokens */
        int want = (int)((double)N * p->target_ratio);
        for (int k = 0; k < N && want > 0; k++)
            if (ij_rng_below(rng, (uint64_t)(N - k)) < (uint64_t)want) mark[k] = 0, want--;
    } else { /* raster: quadrant q = 2 * (row >= G/2) + (col >= G/2) */
        int ctx = (int)ij_rng_below(rng, 4);
        for (int k = 0; k < N; k++) {
            int q = 2 * (k / G >= G / 2) + (k % G >= G / 2);
            mark[k] = q == ctx ? -1 : q - (q > ctx);
        }
    }
    int len[3] = {0, 0, 0}, nctx = 0;
    for (int k = 0; k < N; k++) {
        int t = mark[k];
        if (t < 0) continue;
        s->tgt_idx[((size_t)t * (size_t)B + (size_t)b) * (size_t)N + (size_t)len[t]++] = k;
    }
    for (int k = 0; k < N; k++) /* nctx <= k: never overwrites a mark still to be read */
        if (mark[k] < 0) mark[nctx++] = k;
    for (int t = 0; t < p->num_targets; t++) s->tgt_off[(size_t)t * (size_t)B + (size_t)b + 1] = len[t];
    s->ctx_off[b + 1] = nctx;
}

/* Packs `count` staged sequences (stride n, lengths in off[1..count]) into
 * consecutive ones, each cut to at most `limit`; returns the tokens cut. */
static int64_t pack(int *idx, int *off, int count, int n, int limit)
{
    int64_t cut = 0;
    off[0] = 0;
    for (int k = 0; k < count; k++) {
        int len = off[k + 1];
        if (len > limit) {
            cut += len - limit;
            len = limit;
        }
        memmove(idx + off[k], idx + (size_t)k * (size_t)n, sizeof(int) * (size_t)len);
        off[k + 1] = off[k] + len;
    }
    return cut;
}

static int min_len(const int *off, int count)
{
    int m = INT_MAX;
    for (int k = 0; k < count; k++) m = off[k + 1] < m ? off[k + 1] : m;
    return m;
}

int ij_mask_sample(IjMaskSampler *s, uint64_t counter)
{
    const IjMaskParams *p = &s->p;
    const int G = p->grid, N = G * G, B = p->batch, seqs = p->num_targets * B;
    const int official = p->mode == IJ_MASKS_OFFICIAL;
    int sz[4];
    if (official) ij_mask_official_sizes(sz, p, counter);
    s->relaxed = 0;
    for (int b = 0; b < B; b++) {
        IjRng rng = ij_rng(ij_hash3(p->seed, RNG_MASKS, counter), (uint64_t)b, 0);
        if (p->mode >= IJ_MASKS_BLOCK) {
            sample_complement(s, &rng, b);
            continue;
        }
        if (!official) {
            double r_tgt = ij_rng_uniform(&rng), r_ctx = ij_rng_uniform(&rng);
            ij_mask_block_size(&sz[0], &sz[1], r_tgt, p->tgt_scale, p->tgt_aspect, G, G);
            ij_mask_block_size(&sz[2], &sz[3], r_ctx, p->ctx_scale, p->ctx_aspect, G, G);
        }
        int rc = sample_one(s, &rng, b, sz);
        if (rc < 0) return -1;
        s->relaxed += rc;
    }
    int ctx_limit = official ? min_len(s->ctx_off, B) : N;
    int tgt_limit = official ? min_len(s->tgt_off, seqs) : N;
    s->ctx_dropped = pack(s->ctx_idx, s->ctx_off, B, N, ctx_limit);
    s->tgt_dropped = pack(s->tgt_idx, s->tgt_off, seqs, N, tgt_limit);
    s->masks = (IjMasks){.batch = B, .num_targets = p->num_targets,
                         .ctx_idx = s->ctx_idx, .ctx_off = s->ctx_off,
                         .tgt_idx = s->tgt_idx, .tgt_off = s->tgt_off};
    return 0;
}
