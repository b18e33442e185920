/* cmd_info.c: `ijepa info`: a model's shape, parameter counts per tensor group,
 * FLOPs per image, and a timed forward pass of the encoder on random images. */
#include "cli/commands.h"

#include "cli/model_args.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/timer.h"
#include "io/checkpoint.h"
#include "kernels/gemm.h"
#include "model/flops.h"
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* Parameter count of the tensors whose name starts with prefix (trainable only). */
static size_t count(const IjTable *tab, int part, const char *prefix)
{
    size_t n = 0;
    for (int i = 0; i < tab->n; i++)
        if (tab->t[i].part == part && tab->t[i].trainable &&
            strncmp(tab->t[i].name, prefix, strlen(prefix)) == 0)
            n += tab->t[i].numel;
    return n;
}

int cmd_info(int argc, char **argv)
{
    ModelArgs ma;
    model_args_defaults(&ma, "vit_tiny", 28, 1, 4, 96, 6);
    const char *checkpoint = NULL, *save = NULL;
    int seed = 0, batch = 8, threads = 0;
    Option opts[MODEL_ARGS_COUNT + 5];
    int n = model_args_options(opts, &ma);
    opts[n++] = (Option){"checkpoint", OPT_STRING, &checkpoint, "read the configuration and weights from a safetensors checkpoint", 0, -1, NULL};
    opts[n++] = (Option){"save", OPT_STRING, &save, "write the (initialised or loaded) model to this safetensors file", 0, -1, NULL};
    opts[n++] = (Option){"seed", OPT_INT, &seed, "initialisation seed", 0, 2147483647, NULL};
    opts[n++] = (Option){"batch", OPT_INT, &batch, "images in the timed forward pass", 1, 4096, NULL};
    opts[n++] = (Option)OPT_THREADS(threads);
    int rc = opt_parse(opts, n, argc, argv, 2, "usage: ijepa info [options]\n\n"
                       "Print a model's shape, parameters per tensor group and FLOPs per image, and time\n"
                       "a forward pass of its target encoder on random images.");
    if (rc) return rc < 0 ? -1 : 0;
    opt_apply_threads(threads);

    IjConfig c;
    if (checkpoint ? ij_checkpoint_config(checkpoint, &c) : model_args_config(&ma, &c)) return -1;
    /* the whole model for --save; the target encoder alone (as embed builds it) for the timed pass */
    IjModel m, e;
    if (save && ij_model_init(&m, &c, (uint64_t)seed)) return -1;
    if (save && checkpoint && ij_checkpoint_load(&m, checkpoint, NULL, 0) < 0) {
        ij_model_free(&m);
        return -1;
    }
    if (checkpoint ? ij_model_init_encoder_unset(&e, &c) : ij_model_init_encoder(&e, &c, (uint64_t)seed)) {
        if (save) ij_model_free(&m);
        return -1;
    }
    StFile file = {0};
    if (checkpoint && (ij_st_open(&file, checkpoint) || ij_checkpoint_load_encoder(&e, &file, 1))) {
        ij_st_close(&file);
        ij_model_free(&e);
        if (save) ij_model_free(&m);
        return -1;
    }
    ij_st_close(&file);
    model_config_print(&c);
    const IjTable *t = &e.tab;
    size_t enc = count(t, IJ_PART_ENCODER, ""), pred = count(t, IJ_PART_PREDICTOR, "");
    printf("parameters (trainable):\n");
    printf("  encoder            %12zu  (patch embed %zu, blocks %zu, norm %zu)\n", enc,
           count(t, IJ_PART_ENCODER, "patch_embed"), count(t, IJ_PART_ENCODER, "blocks"),
           count(t, IJ_PART_ENCODER, "norm"));
    printf("  predictor          %12zu  (embed %zu, mask token %zu, blocks %zu, norm %zu, proj %zu)\n",
           pred, count(t, IJ_PART_PREDICTOR, "predictor_embed"), count(t, IJ_PART_PREDICTOR, "mask_token"),
           count(t, IJ_PART_PREDICTOR, "predictor_blocks"), count(t, IJ_PART_PREDICTOR, "predictor_norm"),
           count(t, IJ_PART_PREDICTOR, "predictor_proj"));
    printf("  target encoder     %12zu  (EMA copy of the encoder, not trained)\n", enc);
    printf("tensors: %d in the table, %zu floats per buffer\n", t->n, t->n_total);
    double f = ij_encoder_image_flops(&c);
    printf("encoder forward: %.3f GFLOP per image (matrix products)\n", f * 1e-9);
    if (IJ_GEMM_NR)
        printf("products: the blocks' own %d x %d kernel (%s), weight gradients included: a training "
               "step's result does not depend on the thread count\n",
               IJ_GEMM_MR, IJ_GEMM_NR, IJ_GEMM_NR == 32 ? "AVX-512" : "AVX2 + FMA");
    else
        printf("products: OpenBLAS (no AVX2 + FMA in this build): the thread count can change the weight "
               "gradients' summation order\n");

    IjBf16Path best;
    if (ij_bf16_path_choose(&best)) best = IJ_BF16_EMULATED;
    printf("cpu: %s\nbf16 (--bf16): %s\n", ij_cpu_flags(),
           best == IJ_BF16_AVX512 ? "AVX512_BF16 (vdpbf16ps), float32 sums"
                                  : "emulated: float32 FMAs on operands rounded to bf16 (no AVX512_BF16 here)");
    int N = ij_num_patches(&c);
    size_t img = (size_t)c.channels * c.img_size * c.img_size;
    float *x = ij_malloc(sizeof(float) * img * (size_t)batch);
    IjRng r = ij_rng((uint64_t)seed, 77, 0);
    for (size_t i = 0; i < img * (size_t)batch; i++) x[i] = (float)ij_rng_normal(&r);
    double t0 = ij_now();
    float *out = ij_encoder_forward_full(&e, &e.tenc, x, batch);
    double dt = ij_now() - t0;
    double s = 0, s2 = 0;
    size_t cnt = (size_t)batch * N * c.embed_dim;
    for (size_t i = 0; i < cnt; i++) {
        s += out[i];
        s2 += (double)out[i] * out[i];
    }
    printf("forward of %d random images: %.1f ms (%.1f images/s, %.1f GFLOP/s); features mean %.4f, rms %.4f\n",
           batch, dt * 1e3, batch / dt, f * batch / dt * 1e-9, s / cnt, sqrt(s2 / (double)cnt));
    IjModelMemory mem = ij_model_memory(&e);
    const double MiB = 1 << 20;
    printf("memory of feature extraction (one encoder, as embed holds it): weights %.1f MiB (bf16 would be %.1f), "
           "packed for the products %.1f MiB%s, activations %.1f MiB at batch %d (%.2f MiB per image)\n",
           mem.weights / MiB, mem.weights / 2 / MiB, mem.packed / MiB,
           e.tgt_stack.pack_blocks < c.depth ? " (one block at a time)" : "", mem.activations / MiB, batch,
           mem.activations / MiB / batch);
    printf("memory of training (ijepa train): weights %.1f MiB (encoder, predictor, target copy), gradients %.1f MiB, "
           "AdamW moments %.1f MiB, then the activations of a step\n",
           sizeof(float) * (double)(t->n_total + t->n_encoder) / MiB, sizeof(float) * (double)t->n_total / MiB,
           2 * sizeof(float) * (double)t->n_total / MiB);
    free(x);
    rc = 0;
    if (save) {
        rc = ij_checkpoint_save(&m, save, NULL, 0, NULL, 0);
        if (!rc) printf("wrote %s\n", save);
    }
    if (save) ij_model_free(&m);
    ij_model_free(&e);
    return rc;
}
