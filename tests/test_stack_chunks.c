/* test_stack_chunks.c: the chunked forward (each chunk of whole sequences through every block on one
 * thread): the chunk plans (short sequences grouped, one longer than a chunk alone); an inference
 * stack (activations in per-thread workspaces) and a training stack (activations in the per-layer
 * caches) give bit-identical outputs, on full images and on ragged sequences; bit-identical for 1
 * and 2 threads; last-4 pooling (observed per chunk) agrees with the plain pooled output. That the
 * forward is right is test_gradcheck's and test_parity's job (they run the same code). */
#include "core/rng.h"
#include "eval/embed.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "testlib.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static const IjConfig cfg = {.img_size = 28, .channels = 1, .patch_size = 4, .embed_dim = 48, .depth = 4,
                             .num_heads = 3, .mlp_dim = 192, .pred_dim = 24, .pred_depth = 1, .pred_mlp_dim = 96};

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst;
}

static void test_full_images(IjModel *m)
{
    enum { B = 40 }; /* 40 x 49 rows: chunks of at most 1960 / 8 = 245 rows, 5 images each */
    const int N = 49, D = cfg.embed_dim;
    size_t n = (size_t)B * N * D, npix = (size_t)B * 28 * 28;
    float *images = malloc(sizeof(float) * npix), *chunked = malloc(sizeof(float) * n);
    IjRng r = ij_rng(11, 0, 0);
    for (size_t i = 0; i < npix; i++) images[i] = (float)ij_rng_normal(&r);
    memcpy(chunked, ij_encoder_forward_full(m, &m->tenc, images, B), sizeof(float) * n);
    CHECK(m->tgt_stack.nchunks == 8);
    /* block by block, each block packed in turn (what a stack of ViT-L and wider does): the same bits */
    CHECK(m->tgt_stack.pack_blocks == cfg.depth);
    m->tgt_stack.pack_blocks = 1;
    CHECK(memcmp(ij_encoder_forward_full(m, &m->tenc, images, B), chunked, sizeof(float) * n) == 0);
    float *pooled[2] = {malloc(sizeof(float) * B * 4 * 48), malloc(sizeof(float) * B * 4 * 48)};
    ij_embed_batch(m, &m->tenc, images, B, IJ_POOL_LAST4, pooled[0]);
    m->tgt_stack.pack_blocks = cfg.depth;
    ij_embed_batch(m, &m->tenc, images, B, IJ_POOL_LAST4, pooled[1]);
    CHECK(memcmp(pooled[0], pooled[1], sizeof(float) * B * 4 * 48) == 0);
    free(pooled[0]), free(pooled[1]);
    /* the same input rows (still in the stack's input slot) through a training stack */
    IjStack train;
    ij_stack_init(&train, cfg.depth, D, cfg.mlp_dim, cfg.num_heads, 1);
    int seg[B + 1];
    for (int b = 0; b <= B; b++) seg[b] = b * N;
    ij_stack_reserve(&train, seg, B);
    memcpy(ij_stack_input(&train), ij_stack_input(&m->tgt_stack), sizeof(float) * n);
    const float *blocks = ij_stack_forward(&train, m->tenc.blocks, seg, B);
    float *plain = malloc(sizeof(float) * n);
    m->be->layernorm_forward(plain, NULL, NULL, blocks, m->tenc.norm_w, m->tenc.norm_b, B * N, D, 1e-6f);
    double d = max_abs_diff(chunked, plain, n);
    CHECKF(d == 0, "inference workspace vs training caches, target encoder: max |diff| %g", d);
    ij_stack_free(&train);
    free(plain);
    /* last-4 pooling observes the chunks; its last quarter is the pooled final output */
    float *f4 = malloc(sizeof(float) * B * 4 * D), *f1 = malloc(sizeof(float) * B * D);
    ij_embed_batch(m, &m->tenc, images, B, IJ_POOL_LAST4, f4);
    ij_embed_batch(m, &m->tenc, images, B, IJ_POOL_LAST, f1);
    int same = 1;
    for (int b = 0; b < B; b++) same &= memcmp(f4 + (size_t)b * 4 * D + 3 * D, f1 + (size_t)b * D, sizeof(float) * D) == 0;
    CHECK(same);
    omp_set_num_threads(1);
    float *f4one = malloc(sizeof(float) * B * 4 * D);
    ij_embed_batch(m, &m->tenc, images, B, IJ_POOL_LAST4, f4one);
    CHECK(memcmp(f4one, f4, sizeof(float) * B * 4 * D) == 0);
    omp_set_num_threads(2);
    free(f4);
    free(f4one);
    free(f1);
    omp_set_num_threads(1);
    const float *one = ij_encoder_forward_full(m, &m->tenc, images, B);
    CHECK(memcmp(one, chunked, sizeof(float) * n) == 0);
    omp_set_num_threads(2);
    const float *two = ij_encoder_forward_full(m, &m->tenc, images, B);
    CHECK(memcmp(two, chunked, sizeof(float) * n) == 0);
    free(images);
    free(chunked);
}

static void test_ragged(IjModel *m)
{
    /* 7 sequences, 584 rows: chunks of at most 73 rows; longer sequences alone */
    const int len[7] = {3, 120, 100, 300, 1, 60, 0};
    int seg[8] = {0};
    for (int q = 0; q < 7; q++) seg[q + 1] = seg[q] + len[q];
    const int T = seg[7], D = cfg.embed_dim;
    IjStack inf, train;
    ij_stack_init(&inf, cfg.depth, D, cfg.mlp_dim, cfg.num_heads, 0);
    ij_stack_init(&train, cfg.depth, D, cfg.mlp_dim, cfg.num_heads, 1);
    ij_stack_reserve(&inf, seg, 7);
    ij_stack_reserve(&train, seg, 7);
    CHECK(inf.nchunks == 5); /* {3} {120} {100} {300} {1, 60, 0} */
    IjRng r = ij_rng(12, 0, 0);
    for (int i = 0; i < T * D; i++) ij_stack_input(&inf)[i] = ij_stack_input(&train)[i] = (float)ij_rng_normal(&r);
    const float *a = ij_stack_forward(&inf, m->tenc.blocks, seg, 7);
    const float *b = ij_stack_forward(&train, m->tenc.blocks, seg, 7);
    double d = max_abs_diff(a, b, (size_t)T * D);
    CHECKF(d == 0, "inference workspace vs training caches, ragged sequences: max |diff| %g", d);
    ij_stack_free(&inf);
    ij_stack_free(&train);
}

int main(void)
{
    IjModel m;
    CHECK(ij_model_init(&m, &cfg, 4) == 0);
    omp_set_num_threads(2);
    test_full_images(&m);
    test_ragged(&m);
    ij_model_free(&m);
    return test_exit_code("test_stack_chunks");
}
