/* test_checkpoint.c: model checkpoints: round trip, accepted layouts, and a
 * one-line error (naming the file) for each kind of mismatch. */
#include "testlib.h"

#include "core/error.h"
#include "io/checkpoint.h"
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

static IjConfig tiny(void)
{
    IjConfig c = {8, 3, 4, 8, 2, 2, 32, 8, 1, 32};
    return c;
}

static void path_in_tmp(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", test_tmpdir(), name);
}

/* Write the model's tensors with one change: drop `drop`, rename prefixes, or add an extra. */
static void write_variant(const IjModel *m, const char *path, const char *drop, const char *prefix_from,
                          const char *prefix_to, int add_extra, int bad_shape_of)
{
    StWriteTensor t[600];
    static char names[600][160];
    int n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < m->tab.n; i++) {
            const IjTensor *x = &m->tab.t[i];
            if (pass == 1 && x->part != IJ_PART_ENCODER) continue;
            char full[128];
            ij_tensor_full_name(full, sizeof full, x, pass);
            if (drop && strcmp(full, drop) == 0) continue;
            if (prefix_from && strncmp(full, prefix_from, strlen(prefix_from)) == 0)
                snprintf(names[n], sizeof names[n], "%s%s", prefix_to, full + strlen(prefix_from));
            else if (prefix_from)
                continue; /* only the renamed part is written */
            else
                snprintf(names[n], sizeof names[n], "%s", full);
            t[n] = (StWriteTensor){names[n], ST_F32, x->ndim, {0}, (pass ? m->target : m->params) + x->offset};
            memcpy(t[n].shape, x->shape, sizeof x->shape);
            if (i == bad_shape_of && pass == 0) t[n].shape[0] = 1, t[n].shape[1] *= x->shape[0];
            n++;
        }
    if (add_extra) {
        t[n] = (StWriteTensor){"encoder.blocks.9.attn.qkv.weight", ST_F32, 1, {4}, m->params};
        n++;
    }
    const char *meta[] = {"img_size", "8", "channels", "3", "patch_size", "4", "embed_dim", "8",
                          "depth", "2", "num_heads", "2", "mlp_dim", "32", "pred_embed_dim", "8",
                          "pred_depth", "1"};
    CHECK(ij_st_write(path, t, n, meta, 9) == 0);
}

static void expect_error(IjModel *m, const char *path, const char *words)
{
    ij_clear_error();
    int rc = ij_checkpoint_load(m, path, NULL, 0);
    const char *e = ij_last_error();
    CHECKF(rc == -1 && strstr(e, path) && strstr(e, words), "expected '%s' error, got rc %d: %s",
           words, rc, e);
    CHECKF(strchr(e, '\n') == NULL, "error is not one line: %s", e);
}

int main(void)
{
    IjConfig c = tiny();
    IjModel a, b;
    CHECK(ij_model_init(&a, &c, 1) == 0);
    CHECK(ij_model_init(&b, &c, 2) == 0);
    for (size_t i = 0; i < a.tab.n_encoder; i++) a.target[i] = a.params[i] * 0.5f + 0.25f;
    char path[512];

    /* round trip: params, target and an extra section come back bit-exact */
    float *extra_a = ij_calloc(a.tab.n_total, sizeof(float)), *extra_b = ij_calloc(a.tab.n_total, sizeof(float));
    for (size_t i = 0; i < a.tab.n_total; i++) extra_a[i] = (float)i;
    IjExtraSection ea = {"adam_m", extra_a}, eb = {"adam_m", extra_b};
    path_in_tmp(path, sizeof path, "full.safetensors");
    const char *meta[] = {"step", "17"};
    CHECK(ij_checkpoint_save(&a, path, &ea, 1, meta, 1) == 0);
    IjConfig c2;
    CHECK(ij_checkpoint_config(path, &c2) == 0);
    CHECK(memcmp(&c, &c2, sizeof c) == 0);
    CHECK(ij_checkpoint_load(&b, path, &eb, 1) == 0);
    CHECK(memcmp(a.params, b.params, sizeof(float) * a.tab.n_total) == 0);
    CHECK(memcmp(a.target, b.target, sizeof(float) * a.tab.n_encoder) == 0);
    for (int i = 0; i < a.tab.n; i++) {
        const IjTensor *t = &a.tab.t[i];
        if (t->trainable)
            CHECK(memcmp(extra_a + t->offset, extra_b + t->offset, sizeof(float) * t->numel) == 0);
    }
    /* without the extra section the file has unexpected tensors */
    expect_error(&b, path, "unexpected tensor 'adam_m.");

    /* official layout: "encoder.module.*" etc. */
    path_in_tmp(path, sizeof path, "module.safetensors");
    write_variant(&a, path, NULL, "encoder.", "encoder.module.", 0, -1);
    memset(b.params, 0, sizeof(float) * b.tab.n_encoder);
    CHECK(ij_checkpoint_load(&b, path, NULL, 0) == -1); /* predictor missing */
    CHECK(strstr(ij_last_error(), "missing tensor 'predictor.") != NULL);

    /* a bare encoder with "module." names fills encoder and target */
    path_in_tmp(path, sizeof path, "bare.safetensors");
    write_variant(&a, path, NULL, "encoder.", "module.", 0, -1);
    memset(b.params, 0, sizeof(float) * b.tab.n_encoder);
    CHECK(ij_checkpoint_load(&b, path, NULL, 0) == 1);
    CHECK(memcmp(a.params, b.params, sizeof(float) * a.tab.n_encoder) == 0);
    CHECK(memcmp(a.params, b.target, sizeof(float) * a.tab.n_encoder) == 0);

    /* errors, each naming the file and the problem */
    path_in_tmp(path, sizeof path, "missing.safetensors");
    write_variant(&a, path, "encoder.blocks.1.mlp.fc2.bias", NULL, NULL, 0, -1);
    expect_error(&b, path, "missing tensor 'encoder.blocks.1.mlp.fc2.bias'");
    path_in_tmp(path, sizeof path, "extra.safetensors");
    write_variant(&a, path, NULL, NULL, NULL, 1, -1);
    expect_error(&b, path, "unexpected tensor 'encoder.blocks.9.attn.qkv.weight'");
    path_in_tmp(path, sizeof path, "shape.safetensors");
    int qkv = ij_table_find(&a.tab, IJ_PART_ENCODER, "blocks.0.attn.qkv.weight");
    write_variant(&a, path, NULL, NULL, NULL, 0, qkv);
    expect_error(&b, path, "has shape [1, 192], expected [24, 8]");
    path_in_tmp(path, sizeof path, "nonexistent.safetensors");
    expect_error(&b, path, "No such file");

    /* a configuration that does not match the file */
    IjConfig big = c;
    big.embed_dim = 12;
    big.mlp_dim = 48;
    IjModel w;
    CHECK(ij_model_init(&w, &big, 1) == 0);
    path_in_tmp(path, sizeof path, "full.safetensors");
    CHECK(ij_checkpoint_save(&a, path, NULL, 0, NULL, 0) == 0);
    expect_error(&w, path, "expected [1, 4, 12] for this configuration");
    ij_model_free(&w);

    /* bad metadata */
    path_in_tmp(path, sizeof path, "meta.safetensors");
    StWriteTensor one = {"x", ST_F32, 1, {1}, a.params};
    const char *bad[] = {"img_size", "28x", "channels", "1"};
    CHECK(ij_st_write(path, &one, 1, bad, 2) == 0);
    ij_clear_error();
    CHECK(ij_checkpoint_config(path, &c2) == -1);
    CHECK(strstr(ij_last_error(), "'img_size' = '28x' is not an integer") != NULL);

    free(extra_a);
    free(extra_b);
    ij_model_free(&a);
    ij_model_free(&b);
    return test_exit_code("test_checkpoint");
}
