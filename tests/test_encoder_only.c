/* test_encoder_only.c: the model that embed, probe, predict and the Python package build
 * (ij_model_init_encoder + ij_checkpoint_load_encoder): one encoder's weights and nothing for training
 * (no gradients, no target copy, no predictor, no training stacks), and features equal, bit for bit,
 * to those of the whole model loaded from the same checkpoint (target and context encoder). */
#include "testlib.h"

#include "core/error.h"
#include "core/rng.h"
#include "eval/embed.h"
#include "io/checkpoint.h"
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

int main(void)
{
    StFile f = {0};
    CHECKF(ij_st_open(&f, test_fixture("official_tiny_expected.safetensors")) == 0, "%s", ij_last_error());
    IjConfig c;
    CHECK(ij_config_from_meta(&f, &c) == 0);
    IjModel full, enc[2];
    CHECK(ij_model_init(&full, &c, 0) == 0 && ij_checkpoint_load_file(&full, &f, NULL, 0, NULL, 0) >= 0);
    for (int t = 0; t < 2; t++) {
        CHECK(ij_model_init_encoder(&enc[t], &c, 0) == 0);
        CHECKF(ij_checkpoint_load_encoder(&enc[t], &f, t) == 0, "%s", ij_last_error());
        CHECK(enc[t].encoder_only && !enc[t].grads && !enc[t].target && !enc[t].pred.blocks);
        CHECK(!enc[t].ctx_stack.mem && !enc[t].pred_stack.mem && !enc[t].ctx_stack.wpack && !enc[t].pred_stack.wpack);
        /* its one buffer holds the encoder part of the layout */
        CHECK(enc[t].tenc.norm_b + c.embed_dim <= enc[t].params + enc[t].tab.n_encoder);
    }
    enum { B = 5 };
    size_t img = (size_t)c.channels * c.img_size * c.img_size;
    float *x = malloc(sizeof(float) * img * B);
    IjRng r = ij_rng(5, 1, 0);
    for (size_t i = 0; i < img * B; i++) x[i] = (float)ij_rng_normal(&r);
    int F = ij_embed_dim(&c, IJ_POOL_LAST);
    float *a = malloc(sizeof(float) * F * B), *b = malloc(sizeof(float) * F * B);
    const IjEncoderW *which[2] = {&full.enc, &full.tenc};
    for (int t = 0; t < 2; t++) {
        ij_embed_batch(&full, which[t], x, B, IJ_POOL_LAST, a);
        ij_embed_batch(&enc[t], &enc[t].tenc, x, B, IJ_POOL_LAST, b);
        CHECKF(memcmp(a, b, sizeof(float) * F * B) == 0, "%s encoder: features differ from the whole model's",
               t ? "target" : "context");
    }
    /* the two encoders of the fixture differ, so the check above can fail */
    ij_embed_batch(&enc[0], &enc[0].tenc, x, B, IJ_POOL_LAST, a);
    CHECK(memcmp(a, b, sizeof(float) * F * B) != 0);
    /* a file ijepa.c wrote holds each encoder in the table's order: used in place (its mapping) */
    char path[1024];
    snprintf(path, sizeof path, "%s/full.safetensors", test_tmpdir());
    CHECK(ij_checkpoint_save(&full, path, NULL, 0, NULL, 0) == 0);
    for (int mapped = 1; mapped >= 0; mapped--) {
        if (!mapped) setenv("IJ_NO_MMAP", "1", 1);
        StFile g = {0};
        IjModel e;
        CHECK(ij_st_open(&g, path) == 0 && ij_model_init_encoder(&e, &c, 0) == 0);
        CHECK(ij_checkpoint_load_encoder(&e, &g, 1) == 0);
        ij_st_close(&g); /* the mapping, when taken, lives on with the model */
        /* in place: the weights lie inside the file's mapping, after its header; copied: in the model's own */
        CHECKF(mapped ? (char *)e.params > (char *)e.map && (char *)e.params < (char *)e.map + e.map_size
                      : (void *)e.params == e.map,
               "in place: %d, map %p, params %p", mapped, e.map, (void *)e.params);
        ij_embed_batch(&full, &full.tenc, x, B, IJ_POOL_LAST, a);
        ij_embed_batch(&e, &e.tenc, x, B, IJ_POOL_LAST, b);
        CHECKF(memcmp(a, b, sizeof(float) * F * B) == 0, "%s: features differ", mapped ? "in place" : "copied");
        ij_model_free(&e);
    }
    unsetenv("IJ_NO_MMAP");
    /* bf16 weights held as packed bf16 only (ij_model_hold_bf16): the features of the float32-held bf16
     * model, bit for bit, and the weights' memory about halved */
    {
        IjModel h, k;
        StFile g = {0};
        CHECK(ij_st_open(&g, path) == 0);
        CHECK(ij_model_init_encoder(&h, &c, 0) == 0 && ij_checkpoint_load_encoder(&h, &g, 1) == 0);
        ij_st_close(&g);
        CHECK(ij_st_open(&g, path) == 0);
        CHECK(ij_model_init_encoder(&k, &c, 0) == 0 && ij_checkpoint_load_encoder(&k, &g, 1) == 0);
        ij_st_close(&g);
        ij_model_set_bf16(&h, IJ_BF16_EMULATED);
        ij_model_set_bf16(&k, IJ_BF16_EMULATED);
        IjModelMemory before = ij_model_memory(&h);
        CHECKF(ij_model_hold_bf16(&h) == 0, "%s", ij_last_error());
        CHECK(h.held_bf16 && h.tenc.blocks[0].qkv_w == NULL && h.tgt_stack.prepacked);
        ij_embed_batch(&h, &h.tenc, x, B, IJ_POOL_LAST, a);
        ij_embed_batch(&k, &k.tenc, x, B, IJ_POOL_LAST, b);
        CHECK(memcmp(a, b, sizeof(float) * F * B) == 0);
        IjModelMemory after = ij_model_memory(&h);
        printf("bf16 held: weights + packed %.1f KiB, before %.1f KiB\n", (after.weights + after.packed) / 1024.0,
               (before.weights + before.packed) / 1024.0);
        CHECK(after.weights + after.packed < before.weights);
        CHECK(ij_model_hold_bf16(&full) == -1); /* not for a training model */
        /* initialised block by block straight into bf16: the random init's values, held the same way */
        IjModel ib, fb;
        CHECK(ij_model_init_encoder_bf16(&ib, &c, 4, IJ_BF16_EMULATED) == 0 && ij_model_init_encoder(&fb, &c, 4) == 0);
        ij_model_set_bf16(&fb, IJ_BF16_EMULATED);
        CHECK(ib.held_bf16 && ib.tgt_stack.prepacked);
        ij_embed_batch(&ib, &ib.tenc, x, B, IJ_POOL_LAST, a);
        ij_embed_batch(&fb, &fb.tenc, x, B, IJ_POOL_LAST, b);
        CHECK(memcmp(a, b, sizeof(float) * F * B) == 0);
        ij_model_free(&ib);
        ij_model_free(&fb);
        ij_model_free(&h);
        ij_model_free(&k);
    }
    /* its random init is the whole model's */
    IjModel rf, re;
    CHECK(ij_model_init(&rf, &c, 9) == 0 && ij_model_init_encoder(&re, &c, 9) == 0);
    CHECK(memcmp(rf.params, re.params, sizeof(float) * rf.tab.n_encoder) == 0);
    ij_model_free(&rf);
    ij_model_free(&re);
    for (int t = 0; t < 2; t++) ij_model_free(&enc[t]);
    ij_model_free(&full);
    ij_st_close(&f);
    free(x), free(a), free(b);
    return test_exit_code("test_encoder_only");
}
