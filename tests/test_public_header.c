/* test_public_header.c: a program that includes only include/ijepa.h builds a model from a
 * preset, saves it, loads it back through the checkpoint functions, and gets the same features
 * from both (the public interface is enough to use a checkpoint); every global symbol of the
 * library starts with ij_ (tests/test_symbols.sh checks the archive itself). */
#include "ijepa.h"

#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    IjConfig c;
    CHECK(ij_config_preset(&c, "vit_tiny") == 0);
    c.img_size = 16, c.channels = 3, c.patch_size = 4, c.depth = 2, c.pred_depth = 1, c.pred_dim = 48,
    c.pred_mlp_dim = 192;
    CHECKF(ij_config_validate(&c) == 0, "%s", ij_last_error());
    IjModel a, b;
    CHECKF(ij_model_init(&a, &c, 7) == 0, "%s", ij_last_error());
    char path[512];
    snprintf(path, sizeof path, "%s/public.safetensors", test_tmpdir());
    CHECKF(ij_checkpoint_save(&a, path, NULL, 0, NULL, 0) == 0, "%s", ij_last_error());

    IjConfig c2;
    CHECKF(ij_checkpoint_config(path, &c2) == 0 && memcmp(&c, &c2, sizeof c) == 0, "%s", ij_last_error());
    CHECKF(ij_model_init(&b, &c2, 99) == 0, "%s", ij_last_error());
    CHECKF(ij_checkpoint_load(&b, path, NULL, 0) == 0, "%s", ij_last_error());

    enum { N = 3 };
    size_t img = (size_t)c.channels * c.img_size * c.img_size;
    float *images = malloc(sizeof(float) * img * N);
    for (size_t i = 0; i < img * N; i++) images[i] = sinf(0.1f * (float)i);
    int d = ij_embed_dim(&c, IJ_POOL_LAST);
    float *fa = malloc(sizeof(float) * (size_t)d * N), *fb = malloc(sizeof(float) * (size_t)d * N);
    ij_embed_batch(&a, &a.tenc, images, N, IJ_POOL_LAST, fa);
    ij_embed_batch(&b, &b.tenc, images, N, IJ_POOL_LAST, fb);
    CHECK(memcmp(fa, fb, sizeof(float) * (size_t)d * N) == 0);
    int finite = 1;
    for (int i = 0; i < d * N; i++) finite &= isfinite(fa[i]) != 0;
    CHECK(finite);

    free(images), free(fa), free(fb);
    ij_model_free(&a);
    ij_model_free(&b);
    return test_exit_code("test_public_header");
}
