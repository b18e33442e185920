/* pictures.c: see pictures.h. Drawing goes through io/plot's canvas (5x7 font, libpng). */
#include "eval/pictures.h"

#include "core/error.h"
#include "io/plot.h"
#include "kernels/kernels.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TARGET_LN_EPS 1e-5f /* the model's target LayerNorm (model.c) */
#define COLOR_TEXT 0x202020u
#define COLOR_CONTEXT 0x1f77b4u
#define PCA_ITERS 300
enum { FWD_BATCH = 64, GAP = 6, LABEL_SCALE = 2 };

float *ij_pictures_prepare(const IjImageSet *set, const int *idx, int n, int channels, int size, IjAugment *aug)
{
    ij_augment_defaults(aug, channels, size);
    aug->random_crop = 0;
    size_t img = (size_t)channels * size * size;
    float *out = ij_malloc(sizeof(float) * img * (size_t)n);
    for (int i = 0; i < n; i++)
        ij_augment_image(out + img * i, ij_imageset_image(set, idx[i]), set->height, set->width, set->channels, aug,
                         0, 0, (uint64_t)idx[i]);
    return out;
}

/* Target-block colours: the palette after the context's blue. */
static uint32_t target_color(int t) { return ij_plot_color(1 + t % 9); }

/* Pixels [r0, r0+h) x [c0, c0+w) of image img [C, S, S] drawn with their top-left
 * at image position (dr, dc) of a picture placed at (x0, y0), un-normalised. */
static void draw_region(IjCanvas *cv, int x0, int y0, const float *img, int C, int S, const IjAugment *aug, int scale,
                        int r0, int c0, int h, int w, int dr, int dc)
{
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            uint32_t rgb = 0;
            for (int k = 0; k < 3; k++) {
                int ch = C == 1 ? 0 : k;
                double v = (img[((size_t)ch * S + r0 + r) * S + c0 + c] * aug->std[ch] + aug->mean[ch]) * 255.0;
                rgb = rgb << 8 | (uint32_t)(v < 0 ? 0 : v > 255 ? 255 : lrint(v));
            }
            int x = x0 + (dc + c) * scale, y = y0 + (dr + r) * scale;
            ij_canvas_fill(cv, x, y, x + scale, y + scale, rgb, 1);
        }
}

static void tint_patch(IjCanvas *cv, int x0, int y0, int patch, int scale, int G, int k, uint32_t rgb, double alpha)
{
    int x = x0 + (k % G) * patch * scale, y = y0 + (k / G) * patch * scale;
    ij_canvas_fill(cv, x, y, x + patch * scale, y + patch * scale, rgb, alpha);
}

/* state[k] for sample b: -2 neither, -1 context, t >= 0 the first target block holding k. */
static void patch_states(int *state, const IjMasks *mk, int b, int N)
{
    for (int k = 0; k < N; k++) state[k] = -2;
    for (int j = mk->ctx_off[b]; j < mk->ctx_off[b + 1]; j++) state[mk->ctx_idx[j]] = -1;
    for (int t = mk->num_targets - 1; t >= 0; t--) {
        int q = t * mk->batch + b;
        for (int j = mk->tgt_off[q]; j < mk->tgt_off[q + 1]; j++) state[mk->tgt_idx[j]] = t;
    }
}

static void draw_states(IjCanvas *cv, int x0, int y0, const int *state, int patch, int scale, int G)
{
    for (int k = 0; k < G * G; k++) {
        if (state[k] == -2) tint_patch(cv, x0, y0, patch, scale, G, k, 0x000000u, 0.65);
        else if (state[k] == -1) tint_patch(cv, x0, y0, patch, scale, G, k, COLOR_CONTEXT, 0.35);
        else tint_patch(cv, x0, y0, patch, scale, G, k, target_color(state[k]), 0.6);
    }
}

int ij_picture_masks(const char *path, const float *images, int n, int channels, const IjAugment *aug, int patch,
                     const IjMaskParams *base, const IjMaskMode *modes, int nmodes, uint64_t counter, int scale)
{
    const int C = channels, S = aug->out_size, G = S / patch, N = G * G, cell = S * scale;
    if (n < 1 || nmodes < 1 || G != base->grid) return ij_error("%s: bad picture arguments", path);
    int label_w = 0;
    for (int i = 0; i < nmodes; i++) {
        int w = ij_canvas_text_width(ij_mask_mode_name(modes[i]), LABEL_SCALE);
        label_w = w > label_w ? w : label_w;
    }
    label_w += 2 * GAP;
    IjCanvas cv = ij_canvas_new(label_w + n * (cell + GAP), 40 + nmodes * (cell + GAP), 0xffffffu);
    ij_canvas_text(&cv, GAP, 10, "context: blue; target blocks: one colour each; dark: in neither", LABEL_SCALE,
                   COLOR_TEXT);
    int *state = ij_malloc(sizeof(int) * (size_t)N), rc = 0;
    for (int i = 0; i < nmodes && !rc; i++) {
        IjMaskParams p = *base;
        p.mode = modes[i];
        p.batch = n;
        if (p.mode >= IJ_MASKS_BLOCK) p.allow_overlap = 0;
        IjMaskSampler s;
        if (ij_mask_sampler_init(&s, &p) || ij_mask_sample(&s, counter)) {
            rc = -1;
            break;
        }
        int y0 = 40 + i * (cell + GAP);
        ij_canvas_text(&cv, GAP, y0 + cell / 2 - 7, ij_mask_mode_name(modes[i]), LABEL_SCALE, COLOR_TEXT);
        for (int b = 0; b < n; b++) {
            int x0 = label_w + b * (cell + GAP);
            draw_region(&cv, x0, y0, images + (size_t)b * C * S * S, C, S, aug, scale, 0, 0, S, S, 0, 0);
            patch_states(state, &s.masks, b, N);
            draw_states(&cv, x0, y0, state, patch, scale, G);
        }
        ij_mask_sampler_free(&s);
    }
    if (!rc) rc = ij_canvas_png(path, &cv);
    free(state);
    ij_canvas_free(&cv);
    return rc;
}

/* Target-encoder tokens [n*N, D] of images [n] (in batches), into out. */
static void tokens(IjModel *m, const float *images, int n, float *out)
{
    const int N = ij_num_patches(&m->cfg), D = m->cfg.embed_dim;
    size_t img = (size_t)m->cfg.channels * m->cfg.img_size * m->cfg.img_size;
    for (int s = 0; s < n; s += FWD_BATCH) {
        int b = n - s < FWD_BATCH ? n - s : FWD_BATCH;
        const float *f = ij_encoder_forward_full(m, &m->tenc, images + img * s, b);
        memcpy(out + (size_t)s * N * D, f, sizeof(float) * (size_t)b * N * D);
    }
}

/* Top 3 eigenvectors Q [3][D] of the symmetric A [D, D] by orthogonal iteration. */
static void top3(const double *A, int D, double *Q)
{
    double *Z = ij_malloc(sizeof(double) * 3 * (size_t)D);
    for (int k = 0; k < 3; k++)
        for (int d = 0; d < D; d++) Q[k * D + d] = d % 3 == k ? 1.0 : 0.5 / (1 + d); /* any full-rank start */
    for (int it = 0; it < PCA_ITERS; it++) {
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < D; i++) {
                double acc = 0;
                for (int j = 0; j < D; j++) acc += A[(size_t)i * D + j] * Q[k * D + j];
                Z[k * D + i] = acc;
            }
        for (int k = 0; k < 3; k++) { /* Gram-Schmidt */
            for (int j = 0; j < k; j++) {
                double dot = 0;
                for (int d = 0; d < D; d++) dot += Z[k * D + d] * Z[j * D + d];
                for (int d = 0; d < D; d++) Z[k * D + d] -= dot * Z[j * D + d];
            }
            double nrm = 0;
            for (int d = 0; d < D; d++) nrm += Z[k * D + d] * Z[k * D + d];
            nrm = nrm > 0 ? 1 / sqrt(nrm) : 0;
            for (int d = 0; d < D; d++) Z[k * D + d] *= nrm;
        }
        memcpy(Q, Z, sizeof(double) * 3 * (size_t)D);
    }
    free(Z);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Mean rows of X [T, D] by position: center [period, D], row t counted in center[t % period]. */
static double *row_means(const float *X, size_t T, int D, int period)
{
    double *c = ij_calloc((size_t)period * D, sizeof(double));
    for (size_t t = 0; t < T; t++)
        for (int d = 0; d < D; d++) c[(t % (size_t)period) * D + d] += X[t * D + d];
    for (int k = 0; k < period * D; k++) c[k] /= (double)(T / (size_t)period);
    return c;
}

/* PCA of X [T, D] with row t centred by center[t % period] (X is overwritten); projects Y [Ts, D],
 * centred the same way, on the first 3 components; each component mapped to [0, 1] by its 2nd..98th
 * percentile over Y: out [Ts, 3]. */
static void pca3(float *X, size_t T, const float *Y, size_t Ts, int D, const double *center, int period, float *out)
{
    for (size_t t = 0; t < T; t++)
        for (int d = 0; d < D; d++) X[t * D + d] -= (float)center[(t % (size_t)period) * D + d];
    float *Cf = ij_calloc((size_t)D * D, sizeof(float));
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, D, (int)T, 1.0f / (float)T, X, D, 0.0f, Cf, D);
    double *A = ij_malloc(sizeof(double) * (size_t)D * D), *Q = ij_malloc(sizeof(double) * 3 * (size_t)D);
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) A[(size_t)i * D + j] = i <= j ? Cf[(size_t)i * D + j] : Cf[(size_t)j * D + i];
    top3(A, D, Q);
    float *sorted = ij_malloc(sizeof(float) * Ts);
    for (int k = 0; k < 3; k++) {
        for (size_t t = 0; t < Ts; t++) {
            double acc = 0;
            for (int d = 0; d < D; d++) acc += (Y[t * D + d] - center[(t % (size_t)period) * D + d]) * Q[k * D + d];
            out[t * 3 + k] = sorted[t] = (float)acc;
        }
        qsort(sorted, Ts, sizeof(float), cmp_float);
        float lo = sorted[(size_t)(0.02 * (double)(Ts - 1))], hi = sorted[(size_t)(0.98 * (double)(Ts - 1))];
        for (size_t t = 0; t < Ts; t++) {
            double v = (out[t * 3 + k] - lo) / (hi - lo > 0 ? hi - lo : 1);
            out[t * 3 + k] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
        }
    }
    free(sorted), free(Cf), free(A), free(Q);
}

int ij_picture_pca(const char *path, IjModel *m, const float *fit, int nfit, const float *show, int nshow,
                   const IjAugment *aug, const char *title, int scale)
{
    const int N = ij_num_patches(&m->cfg), D = m->cfg.embed_dim, G = ij_grid(&m->cfg), p = m->cfg.patch_size;
    const int C = m->cfg.channels, S = m->cfg.img_size, cell = S * scale;
    if (nfit < 1 || nshow < 1) return ij_error("%s: no images", path);
    size_t T = (size_t)nfit * N, Ts = (size_t)nshow * N;
    float *X = ij_malloc(sizeof(float) * T * D), *X2 = ij_malloc(sizeof(float) * T * D);
    float *Y = ij_malloc(sizeof(float) * Ts * D);
    tokens(m, fit, nfit, X);
    tokens(m, show, nshow, Y);
    memcpy(X2, X, sizeof(float) * T * D);
    /* all tokens centred by one mean; then by each position's own mean, which takes out
     * what every image has at that position (the positional part) and leaves the content */
    double *mean = row_means(X, T, D, 1), *pos_mean = row_means(X, T, D, N);
    float *P1 = ij_malloc(sizeof(float) * Ts * 3), *P2 = ij_malloc(sizeof(float) * Ts * 3);
    pca3(X, T, Y, Ts, D, mean, 1, P1);
    pca3(X2, T, Y, Ts, D, pos_mean, N, P2);

    static const char *const heads[3] = {"image", "PCA", "pos. removed"};
    int per_row = nshow < 4 ? nshow : 4, rows = (nshow + per_row - 1) / per_row;
    int group = 3 * cell + GAP + 4 * GAP;
    int width = GAP + per_row * group, tw = ij_canvas_text_width(title, LABEL_SCALE) + 2 * GAP;
    IjCanvas cv = ij_canvas_new(width > tw ? width : tw, 56 + rows * (cell + 2 * GAP), 0xffffffu);
    ij_canvas_text(&cv, GAP, 8, title, LABEL_SCALE, COLOR_TEXT);
    for (int c = 0; c < per_row; c++)
        for (int k = 0; k < 3; k++)
            ij_canvas_text(&cv, GAP + c * group + k * (cell + GAP / 2), 38, heads[k], 1, COLOR_TEXT);
    for (int i = 0; i < nshow; i++) {
        int x0 = GAP + (i % per_row) * group, y0 = 52 + (i / per_row) * (cell + 2 * GAP);
        draw_region(&cv, x0, y0, show + (size_t)i * C * S * S, C, S, aug, scale, 0, 0, S, S, 0, 0);
        for (int v = 0; v < 2; v++) {
            const float *src = v == 0 ? P1 : P2;
            int x1 = x0 + (v + 1) * (cell + GAP / 2);
            for (int k = 0; k < N; k++) {
                const float *q = src + ((size_t)i * N + k) * 3;
                uint32_t rgb = (uint32_t)lrint(255 * q[0]) << 16 | (uint32_t)lrint(255 * q[1]) << 8 |
                               (uint32_t)lrint(255 * q[2]);
                tint_patch(&cv, x1, y0, p, scale, G, k, rgb, 1);
            }
        }
    }
    int rc = ij_canvas_png(path, &cv);
    ij_canvas_free(&cv);
    free(X), free(X2), free(Y), free(P1), free(P2), free(mean), free(pos_mean);
    return rc;
}

/* For each row of Q [nq, D]: the index of the nearest row (L2) of B [nb, D] with norms bn. */
static void nearest_rows(const float *Q, int nq, const float *B, const float *bn, int nb, int D, int *best)
{
    enum { CHUNK = 64 };
    float *S = ij_malloc(sizeof(float) * CHUNK * (size_t)nb);
    for (int s = 0; s < nq; s += CHUNK) {
        int r = nq - s < CHUNK ? nq - s : CHUNK;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, nb, D, 1.0f, Q + (size_t)s * D, D, B, D, 0.0f, S,
                    nb);
        for (int i = 0; i < r; i++) {
            float bestd = FLT_MAX;
            for (int j = 0; j < nb; j++) {
                float d = bn[j] - 2 * S[(size_t)i * nb + j];
                if (d < bestd) bestd = d, best[s + i] = j;
            }
        }
    }
    free(S);
}

int ij_picture_nearest(const char *path, IjModel *m, const float *bank, int nbank, const float *query, int nq,
                       const IjAugment *aug, const IjMaskParams *mp, uint64_t counter, const char *title,
                       int scale, double *agree)
{
    const int N = ij_num_patches(&m->cfg), D = m->cfg.embed_dim, G = ij_grid(&m->cfg), p = m->cfg.patch_size;
    const int C = m->cfg.channels, S = m->cfg.img_size, cell = S * scale;
    const size_t img = (size_t)C * S * S;
    if (nbank < 1 || nq < 1) return ij_error("%s: no images", path);
    /* the bank first: the model step below reuses the full-forward scratch */
    size_t nb = (size_t)nbank * N;
    float *F = ij_malloc(sizeof(float) * nb * D), *bn = ij_malloc(sizeof(float) * nb);
    tokens(m, bank, nbank, F);
    if (m->target_norm) m->be->layernorm_forward(F, NULL, NULL, F, NULL, NULL, (int)nb, D, TARGET_LN_EPS);
    for (size_t j = 0; j < nb; j++) {
        double acc = 0;
        for (int d = 0; d < D; d++) acc += (double)F[j * D + d] * F[j * D + d];
        bn[j] = (float)acc;
    }
    IjMaskParams q = *mp;
    q.batch = nq;
    IjMaskSampler s;
    if (ij_mask_sampler_init(&s, &q) || ij_mask_sample(&s, counter)) {
        free(F), free(bn);
        return -1;
    }
    const IjMasks *mk = &s.masks;
    ij_model_step(m, query, mk, 0);
    int rows = m->n_tgt;
    int *bp = ij_malloc(sizeof(int) * (size_t)rows), *bt = ij_malloc(sizeof(int) * (size_t)rows);
    nearest_rows(m->preds, rows, F, bn, (int)nb, D, bp);
    nearest_rows(m->targets, rows, F, bn, (int)nb, D, bt);
    int same = 0;
    for (int j = 0; j < rows; j++) same += bp[j] == bt[j];
    if (agree) *agree = rows ? (double)same / rows : 0;

    static const char *const heads[4] = {"image", "context + targets", "nearest to prediction",
                                         "nearest to target"};
    int col_w = cell + 4 * GAP > ij_canvas_text_width(heads[2], 1) ? cell + 4 * GAP
                                                                    : ij_canvas_text_width(heads[2], 1) + GAP;
    int width = GAP + 4 * col_w, tw = ij_canvas_text_width(title, LABEL_SCALE) + 2 * GAP;
    IjCanvas cv = ij_canvas_new(width > tw ? width : tw, 60 + nq * (cell + GAP), 0xffffffu);
    ij_canvas_text(&cv, GAP, 8, title, LABEL_SCALE, COLOR_TEXT);
    for (int c = 0; c < 4; c++) ij_canvas_text(&cv, GAP + c * col_w, 40, heads[c], 1, COLOR_TEXT);
    int *state = ij_malloc(sizeof(int) * (size_t)N), *src_p = ij_malloc(sizeof(int) * (size_t)N),
        *src_t = ij_malloc(sizeof(int) * (size_t)N);
    for (int b = 0; b < nq; b++) {
        const float *qi = query + img * b;
        int y0 = 54 + b * (cell + GAP);
        patch_states(state, mk, b, N);
        for (int k = 0; k < N; k++) src_p[k] = src_t[k] = -1;
        for (int t = mk->num_targets - 1; t >= 0; t--) { /* the first block holding a patch wins */
            int sq = t * nq + b;
            for (int j = mk->tgt_off[sq]; j < mk->tgt_off[sq + 1]; j++)
                src_p[mk->tgt_idx[j]] = bp[j], src_t[mk->tgt_idx[j]] = bt[j];
        }
        draw_region(&cv, GAP, y0, qi, C, S, aug, scale, 0, 0, S, S, 0, 0);
        draw_region(&cv, GAP + col_w, y0, qi, C, S, aug, scale, 0, 0, S, S, 0, 0);
        draw_states(&cv, GAP + col_w, y0, state, p, scale, G);
        for (int c = 2; c < 4; c++) {
            const int *src = c == 2 ? src_p : src_t;
            int x0 = GAP + c * col_w;
            for (int k = 0; k < N; k++) {
                int r = k / G * p, cc = k % G * p;
                if (src[k] >= 0) {
                    int bi = src[k] / N, bk = src[k] % N;
                    draw_region(&cv, x0, y0, bank + img * bi, C, S, aug, scale, bk / G * p, bk % G * p, p, p, r, cc);
                } else {
                    draw_region(&cv, x0, y0, qi, C, S, aug, scale, r, cc, p, p, r, cc);
                    if (state[k] == -2) tint_patch(&cv, x0, y0, p, scale, G, k, 0x000000u, 0.65);
                }
            }
        }
    }
    int rc = ij_canvas_png(path, &cv);
    ij_canvas_free(&cv);
    ij_mask_sampler_free(&s);
    free(F), free(bn), free(bp), free(bt), free(state), free(src_p), free(src_t);
    return rc;
}
