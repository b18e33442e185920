/* embed.c: see embed.h. */
#include "eval/embed.h"

#include "core/error.h"
#include "data/augment.h"
#include "kernels/kernels.h"

#include <stdlib.h>
#include <string.h>

#define LN_EPS 1e-6f

typedef struct {
    const IjModel *m;
    const IjEncoderW *w;
    int n, N, D;
    float *out, *normed; /* out [n, 4D]; normed scratch [n*N, D] */
} Last4;

/* Average-pool rows of x [n*N, D] per image into out + offset (row stride ld). */
static void pool_rows(float *out, int ld, const float *x, int n, int N, int D)
{
#pragma omp parallel for schedule(static)
    for (int b = 0; b < n; b++) {
        float *o = out + (size_t)b * ld;
        memset(o, 0, sizeof(float) * (size_t)D);
        for (int t = 0; t < N; t++) {
            const float *r = x + ((size_t)b * N + t) * D;
            for (int d = 0; d < D; d++) o[d] += r[d];
        }
        for (int d = 0; d < D; d++) o[d] /= (float)N;
    }
}

/* Rows row0 .. row0 + nrows - 1 of block `layer`'s output: whole images, possibly on several threads
 * at once (each writes only its own images' rows of normed and out). */
static void observe_last4(void *ctx, int layer, const float *x, int row0, int nrows)
{
    Last4 *c = ctx;
    int first = c->m->cfg.depth - 4;
    if (layer < first) return;
    float *normed = c->normed + (size_t)row0 * c->D;
    c->m->be->layernorm_forward(normed, NULL, NULL, x, c->w->norm_w, c->w->norm_b, nrows, c->D, LN_EPS);
    pool_rows(c->out + (size_t)(row0 / c->N) * 4 * c->D + (size_t)(layer - first) * c->D, 4 * c->D, normed,
              nrows / c->N, c->N, c->D);
}

/* ij_embed_batch, and the final (normed) tokens [n, N, D] copied to tokens unless it is NULL. */
static void embed_batch(IjModel *m, const IjEncoderW *w, const float *images, int n, IjPool pool, float *out,
                        float *tokens)
{
    const IjConfig *c = &m->cfg;
    int N = ij_num_patches(c), D = c->embed_dim;
    const float *final;
    if (pool == IJ_POOL_LAST4 && c->depth >= 4) {
        Last4 ctx = {m, w, n, N, D, out, IJ_BUF_F(&m->b_embed, (size_t)n * N * D)};
        ij_encoder_forward_full_observed(m, w, images, n, observe_last4, &ctx);
        final = ctx.normed; /* the last block's rows through the final LayerNorm */
    } else {
        IJ_ASSERT(pool == IJ_POOL_LAST);
        final = ij_encoder_forward_full(m, w, images, n);
        pool_rows(out, D, final, n, N, D);
    }
    if (tokens) memcpy(tokens, final, sizeof(float) * (size_t)n * N * D);
}

void ij_embed_batch(IjModel *m, const IjEncoderW *w, const float *images, int n, IjPool pool, float *out)
{
    embed_batch(m, w, images, n, pool, out, NULL);
}

int ij_embed_dataset(IjModel *m, const IjEncoderW *w, const IjImageSet *set, const IjEvalTransform *tf, IjPool pool,
                     int batch, float *out, float *tokens, IjProgress progress, void *pctx)
{
    const IjConfig *c = &m->cfg;
    if (set->channels != c->channels)
        return ij_error("%s: images have %d channel(s), the model expects %d", set->source,
                        set->channels, c->channels);
    if (pool == IJ_POOL_LAST4 && c->depth < 4)
        return ij_error("last-4 pooling needs at least 4 blocks; the encoder has %d", c->depth);
    IjEvalTransform def;
    if (!tf) ij_eval_transform_defaults(&def, c->img_size), tf = &def;
    if (tf->size != c->img_size)
        return ij_error("evaluation transform to %d pixels, the model takes %d", tf->size, c->img_size);
    IjAugment aug; /* the training normalisation */
    ij_augment_defaults(&aug, c->channels, c->img_size);
    size_t img = (size_t)c->channels * c->img_size * c->img_size;
    float *x = ij_alloc_aligned(sizeof(float) * img * (size_t)batch);
    int F = ij_embed_dim(c, pool), rc = 0;
    for (int start = 0; start < set->count && !rc; start += batch) {
        int nb = set->count - start < batch ? set->count - start : batch, bad = -1;
#pragma omp parallel for schedule(dynamic, 4)
        for (int b = 0; b < nb; b++) {
            float *xb = x + (size_t)b * img;
            if (ij_eval_image(xb, set, start + b, tf)) {
#pragma omp critical(ij_embed_bad)
                bad = bad < 0 || start + b < bad ? start + b : bad;
                continue;
            }
            ij_normalize(xb, c->channels, c->img_size * c->img_size, aug.mean, aug.std);
        }
        if (bad >= 0) { /* the message was set on the thread that decoded it: once more here */
            float *scratch = ij_malloc(sizeof(float) * img);
            if (!ij_eval_image(scratch, set, bad, tf)) ij_error("%s: image %d could not be decoded", set->source, bad);
            free(scratch);
            rc = -1;
            break;
        }
        embed_batch(m, w, x, nb, pool, out + (size_t)start * F,
                    tokens ? tokens + (size_t)start * ij_num_patches(c) * c->embed_dim : NULL);
        if (progress) progress(pctx, "embed", (double)(start + nb) / set->count);
    }
    free(x);
    return rc;
}
