/* test_ablation.c: the pieces behind `ijepa ablate` and `ijepa viz` that the CLI test cannot see:
 * the target LayerNorm switch (on: every target row has mean 0 and variance 1; off: the rows are
 * the target encoder's own tokens), the RGB canvas (PNG written and decoded back pixel for pixel),
 * and the pictures on a tiny model (each a PNG of the expected size; masks drawn where the
 * sampler put them). */
#include "core/error.h"
#include "core/rng.h"
#include "data/image_decode.h"
#include "eval/pictures.h"
#include "io/curves.h"
#include "io/plot.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const IjConfig tiny = {.img_size = 8, .channels = 1, .patch_size = 2, .embed_dim = 8, .depth = 1,
                              .num_heads = 2, .mlp_dim = 16, .pred_dim = 8, .pred_depth = 1, .pred_mlp_dim = 16};

static float *random_images(int n, uint64_t seed)
{
    size_t img = (size_t)tiny.channels * tiny.img_size * tiny.img_size;
    float *x = malloc(sizeof(float) * img * (size_t)n);
    IjRng r = ij_rng(seed, 7, 0);
    for (size_t i = 0; i < img * (size_t)n; i++) x[i] = (float)ij_rng_normal(&r);
    return x;
}

/* Decodes a PNG file (RGB); NULL on failure. */
static uint8_t *read_png(const char *path, int *w, int *h)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    IjImage im;
    int rc = got == (size_t)n ? ij_image_decode(&im, buf, (size_t)n, 3, 0, path) : -1;
    free(buf);
    if (rc) return NULL;
    *w = im.width, *h = im.height;
    return im.pixels;
}

static void test_target_norm_switch(void)
{
    IjModel m;
    CHECK(ij_model_init(&m, &tiny, 5) == 0);
    enum { B = 2 };
    const int N = 16, D = tiny.embed_dim;
    float *images = random_images(B, 3);
    const int ctx_idx[8] = {0, 1, 2, 3, 4, 5, 6, 7}, ctx_off[3] = {0, 4, 8};
    const int tgt_idx[6] = {9, 10, 15, 12, 13, 14}, tgt_off[3] = {0, 3, 6};
    IjMasks mk = {B, 1, ctx_idx, ctx_off, tgt_idx, tgt_off};
    /* on (the default): LayerNorm without affine on every target row */
    CHECK(m.target_norm == 1);
    ij_model_step(&m, images, &mk, 0);
    double worst = 0;
    for (int j = 0; j < 6; j++) {
        double mean = 0, var = 0;
        for (int d = 0; d < D; d++) mean += m.targets[j * D + d] / D;
        for (int d = 0; d < D; d++) var += pow(m.targets[j * D + d] - mean, 2) / D;
        worst = fmax(worst, fmax(fabs(mean), fabs(var - 1)));
    }
    CHECKF(worst < 1e-3, "normalised targets: worst |mean| or |var - 1| %g", worst);
    /* off: the rows are the target encoder's tokens at the target positions, untouched */
    m.target_norm = 0;
    ij_model_step(&m, images, &mk, 0);
    float *saved = malloc(sizeof(float) * 6 * D);
    memcpy(saved, m.targets, sizeof(float) * 6 * D);
    const float *full = ij_encoder_forward_full(&m, &m.tenc, images, B);
    int bad = 0;
    for (int j = 0; j < 6; j++) {
        int b = j / 3;
        bad += memcmp(saved + j * D, full + ((size_t)b * N + tgt_idx[j]) * D, sizeof(float) * D) != 0;
    }
    CHECK(bad == 0);
    free(saved);
    free(images);
    ij_model_free(&m);
}

static void test_canvas(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/canvas.png", test_tmpdir());
    IjCanvas cv = ij_canvas_new(40, 30, 0x102030u);
    ij_canvas_fill(&cv, 5, 5, 15, 10, 0xff0000u, 1);
    ij_canvas_fill(&cv, 20, 0, 50, 40, 0x000000u, 0.5); /* clipped to the picture */
    ij_canvas_text(&cv, 0, 20, "Hi", 1, 0xffffffu);
    CHECK(ij_canvas_text_width("Hi", 1) == 11);
    CHECKF(ij_canvas_png(path, &cv) == 0, "%s", ij_last_error());
    int w = 0, h = 0;
    uint8_t *px = read_png(path, &w, &h);
    CHECK(px && w == 40 && h == 30);
    if (px) {
        CHECK(memcmp(px, cv.px, (size_t)w * h * 3) == 0);
        const uint8_t *red = px + (7 * 40 + 10) * 3, *bg = px + (2 * 40 + 2) * 3, *half = px + (2 * 40 + 30) * 3;
        CHECK(red[0] == 255 && red[1] == 0 && red[2] == 0);
        CHECK(bg[0] == 0x10 && bg[1] == 0x20 && bg[2] == 0x30);
        CHECK(half[0] == 8 && half[1] == 16 && half[2] == 24);
    }
    free(px);
    ij_canvas_free(&cv);
}

static void test_pictures(void)
{
    IjModel m;
    CHECK(ij_model_init(&m, &tiny, 9) == 0);
    enum { NB = 6, NQ = 3, SCALE = 2 };
    float *bank = random_images(NB, 11), *query = random_images(NQ, 12);
    IjAugment aug;
    ij_augment_defaults(&aug, 1, tiny.img_size);
    aug.random_crop = 0;
    IjMaskParams mp;
    ij_mask_params_default(&mp, 4, NQ);
    mp.mode = IJ_MASKS_FIXED;
    mp.min_keep = 0;
    mp.num_targets = 2;
    mp.tgt_scale[0] = 0.1, mp.tgt_scale[1] = 0.2;
    char path[512];
    int w, h;

    /* masks: with only the raster mode every patch is tinted: context blue, targets their colour */
    snprintf(path, sizeof path, "%s/masks.png", test_tmpdir());
    IjMaskMode modes[2] = {IJ_MASKS_RASTER, IJ_MASKS_BLOCK};
    CHECKF(ij_picture_masks(path, query, NQ, 1, &aug, 2, &mp, modes, 2, 0, SCALE) == 0, "%s", ij_last_error());
    uint8_t *px = read_png(path, &w, &h);
    CHECK(px && h == 40 + 2 * (16 + 6));
    if (px) { /* raster row, first image: every patch tinted, none left dark (all of it is context or target) */
        int x0 = w - NQ * (16 + 6), dark = 0;
        for (int y = 40; y < 40 + 16; y++)
            for (int x = x0; x < x0 + 16; x++) {
                const uint8_t *q = px + ((size_t)y * w + x) * 3;
                dark += q[0] < 8 && q[1] < 8 && q[2] < 8;
            }
        CHECK(dark == 0);
    }
    free(px);
    /* parameters the sampler refuses (an empty context block) are an error, not a picture */
    IjMaskMode fixed_only = IJ_MASKS_FIXED;
    mp.ctx_scale[0] = 0.01, mp.ctx_scale[1] = 0.01;
    CHECK(ij_picture_masks(path, query, NQ, 1, &aug, 2, &mp, &fixed_only, 1, 0, SCALE) == -1);
    mp.ctx_scale[0] = 0.85, mp.ctx_scale[1] = 1.0;

    snprintf(path, sizeof path, "%s/pca.png", test_tmpdir());
    CHECKF(ij_picture_pca(path, &m, bank, NB, query, NQ, &aug, "pca", SCALE) == 0, "%s", ij_last_error());
    px = read_png(path, &w, &h);
    CHECK(px && h == 56 + 16 + 12);
    free(px);

    /* nearest: 4 picture columns, one row per query image */
    snprintf(path, sizeof path, "%s/nearest.png", test_tmpdir());
    double agree = -1;
    CHECKF(ij_picture_nearest(path, &m, query, NQ, query, NQ, &aug, &mp, 1, "nearest", SCALE, &agree) == 0, "%s",
           ij_last_error());
    CHECK(agree >= 0 && agree <= 1);
    px = read_png(path, &w, &h);
    CHECK(px && h == 60 + NQ * (16 + 6));
    free(px);
    free(bank);
    free(query);
    ij_model_free(&m);
}

static void test_compare_curves(void)
{
    char m1[512], m2[512], png[512];
    snprintf(m1, sizeof m1, "%s/a.jsonl", test_tmpdir());
    snprintf(m2, sizeof m2, "%s/b.jsonl", test_tmpdir());
    snprintf(png, sizeof png, "%s/cmp.png", test_tmpdir());
    FILE *f = fopen(m1, "w");
    fputs("{\"step\":0,\"minutes\":0,\"erank\":1.5,\"cosine\":0.9,\"target_std\":0.3}\n"
          "{\"step\":10,\"minutes\":0.5,\"loss\":0.4}\n{\"step\":20,\"minutes\":1,\"loss\":0.2,\"erank\":3,"
          "\"cosine\":0.5,\"target_std\":0.4,\"probe_linear\":0.7,\"probe_knn\":0.6}\n", f);
    fclose(f);
    f = fopen(m2, "w");
    fputs("{\"step\":10,\"minutes\":0.5,\"loss\":0.1}\n{\"step\":20,\"minutes\":1,\"loss\":0.01,\"erank\":1}\n", f);
    fclose(f);
    const char *paths[2] = {m1, m2}, *labels[2] = {"a", "b"};
    CHECKF(ij_curves_compare_png(paths, labels, 2, png, "cmp") == 0, "%s", ij_last_error());
    int w, h;
    uint8_t *px = read_png(png, &w, &h);
    CHECK(px && w == 1000 && h == 60 + 3 * 380);
    free(px);
    CHECK(ij_curves_png(m1, png, "one run") == 0);
    px = read_png(png, &w, &h);
    CHECK(px && w == 1000 && h == 60 + 4 * 380); /* loss, probe, rank, cosine/std */
    free(px);
    paths[1] = "/nonexistent/metrics.jsonl";
    CHECK(ij_curves_compare_png(paths, labels, 2, png, "cmp") == -1 && strstr(ij_last_error(), "nonexistent"));
}

int main(void)
{
    test_target_norm_switch();
    test_canvas();
    test_pictures();
    test_compare_curves();
    return test_exit_code("test_ablation");
}
