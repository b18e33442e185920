/* cmd_bench.c: `ijepa bench`: throughput of the training step (or of feature
 * extraction with --embed) on synthetic images, split by phase, with the
 * achieved GFLOP/s (counted from the matrix products run), this machine's
 * sgemm peak measured on the spot, and peak resident memory. */
#include "cli/commands.h"

#include "cli/model_args.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/timer.h"
#include "eval/embed.h"
#include "model/flops.h"
#include "train/masks.h"
#include "train/optim.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char usage[] =
    "usage: ijepa bench [options]\n\n"
    "Time warm-up + N training steps (forward, backward, AdamW, EMA) of a model on random\n"
    "images with masks sampled as in training; print images/s, ms per step by phase, GFLOP/s\n"
    "of the matrix products, the fraction of this machine's sgemm peak, and peak memory.\n"
    "--embed times feature extraction (target encoder, no gradients) instead.";

/* GFLOP/s of a large square sgemm (the machine's practical peak). */
static double sgemm_peak(int n)
{
    float *a = ij_alloc_aligned(sizeof(float) * (size_t)n * n);
    float *b = ij_alloc_aligned(sizeof(float) * (size_t)n * n);
    float *c = ij_alloc_aligned(sizeof(float) * (size_t)n * n);
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = 1e-3f * (float)(i % 97);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = ij_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double g = 2.0 * n * n * (double)n / (ij_now() - t0) * 1e-9;
        if (g > best) best = g;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

int cmd_bench(int argc, char **argv)
{
    ModelArgs ma;
    model_args_defaults(&ma, "vit_tiny", 28, 1, 4, 96, 6);
    int batch = 128, steps = 10, warmup = 2, embed = 0, threads = 0, num_targets = 4, min_keep = 4;
    const char *masks = "official";
    Option o[MODEL_ARGS_COUNT + 8];
    int n = model_args_options(o, &ma);
    o[n++] = (Option){"batch-size", OPT_INT, &batch, "images per step", 1, 1 << 20, NULL};
    o[n++] = (Option){"steps", OPT_INT, &steps, "timed steps", 1, 1 << 20, NULL};
    o[n++] = (Option){"warmup", OPT_INT, &warmup, "untimed steps first", 0, 1 << 20, NULL};
    o[n++] = (Option){"embed", OPT_FLAG, &embed, "time feature extraction instead of training", 0, -1, NULL};
    o[n++] = (Option){"threads", OPT_INT, &threads, "CPU threads (0: all cores)", 0, 4096, NULL};
    o[n++] = (Option){"masks", OPT_STRING, &masks, "official or fixed", 0, -1, NULL};
    o[n++] = (Option){"num-targets", OPT_INT, &num_targets, "target blocks", 1, 64, NULL};
    o[n++] = (Option){"min-keep", OPT_INT, &min_keep, "least context tokens", 0, 1 << 20, NULL};
    int rc = opt_parse(o, n, argc, argv, 2, usage);
    if (rc) return rc < 0 ? -1 : 0;
    if (strcmp(masks, "official") && strcmp(masks, "fixed"))
        return ij_error("--masks must be 'official' or 'fixed', got '%s'", masks);
    if (threads > 0) {
        omp_set_num_threads(threads);
        openblas_set_num_threads(threads);
    }
    IjConfig c;
    if (model_args_config(&ma, &c)) return -1;
    IjModel m;
    if (ij_model_init(&m, &c, 0)) return -1;
    model_config_print(&c);
    size_t img = (size_t)c.channels * c.img_size * c.img_size;
    float *x = ij_alloc_aligned(sizeof(float) * img * (size_t)batch);
    IjRng r = ij_rng(0, 99, 0);
    for (size_t i = 0; i < img * (size_t)batch; i++) x[i] = (float)ij_rng_normal(&r);
    IjMaskParams mp;
    ij_mask_params_default(&mp, ij_grid(&c), batch);
    mp.mode = strcmp(masks, "fixed") == 0 ? IJ_MASKS_FIXED : IJ_MASKS_OFFICIAL;
    mp.num_targets = num_targets;
    mp.min_keep = min_keep;
    IjMaskSampler ms;
    float *adam_m = NULL, *adam_v = NULL, *feat = NULL;
    if (ij_mask_sampler_init(&ms, &mp)) {
        ij_model_free(&m);
        free(x);
        return -1;
    }
    printf("threads: %d OpenMP, %d BLAS; batch %d; %d warm-up + %d timed steps\n", omp_get_max_threads(),
           openblas_get_num_threads(), batch, warmup, steps);
    double t_target = 0, t_ctx = 0, t_pred = 0, t_back = 0, t_opt = 0, t_masks = 0, flops = 0, total = 0;
    if (embed) {
        feat = ij_malloc(sizeof(float) * (size_t)batch * c.embed_dim);
        for (int s = 0; s < warmup + steps; s++) {
            double t0 = ij_now();
            ij_embed_batch(&m, &m.tenc, x, batch, IJ_POOL_LAST, feat);
            if (s >= warmup) {
                total += ij_now() - t0;
                flops += batch * ij_encoder_image_flops(&c);
            }
        }
        printf("embed: %.1f images/s, %.1f ms per batch of %d\n", steps * batch / total, 1e3 * total / steps, batch);
    } else {
        adam_m = ij_alloc_aligned(sizeof(float) * m.tab.n_total);
        adam_v = ij_alloc_aligned(sizeof(float) * m.tab.n_total);
        IjAdamW opt = IJ_ADAMW_DEFAULT;
        double ctx_tok = 0, tgt_tok = 0;
        for (int s = 0; s < warmup + steps; s++) {
            double t0 = ij_now();
            ij_mask_sample(&ms, (uint64_t)s);
            double t1 = ij_now();
            ij_model_step(&m, x, &ms.masks, 1);
            double t2 = ij_now();
            ij_adamw_step(m.params, m.grads, adam_m, adam_v, &m.tab, &opt, 1e-4, 0.04, s + 1);
            ij_ema_update(m.target, m.params, m.tab.n_encoder, 0.996);
            double t3 = ij_now();
            if (s < warmup) continue;
            t_masks += t1 - t0;
            t_target += m.time.target;
            t_ctx += m.time.context;
            t_pred += m.time.predictor;
            t_back += m.time.backward;
            t_opt += t3 - t2;
            total += t3 - t0;
            flops += ij_model_step_flops(&m, &ms.masks, 1).total;
            ctx_tok += (double)ms.masks.ctx_off[batch] / batch;
            tgt_tok += (double)ms.masks.tgt_off[num_targets * batch] / batch;
        }
        printf("train: %.1f images/s, %.1f ms per step (masks %s: %.1f context, %.1f target tokens per image)\n",
               steps * batch / total, 1e3 * total / steps, masks, ctx_tok / steps, tgt_tok / steps);
        printf("ms per step: data+masks %.1f | target fwd %.1f | context fwd %.1f | predictor fwd + loss %.1f"
               " | backward %.1f | AdamW+EMA %.1f\n",
               1e3 * t_masks / steps, 1e3 * t_target / steps, 1e3 * t_ctx / steps, 1e3 * t_pred / steps,
               1e3 * t_back / steps, 1e3 * t_opt / steps);
        printf("GFLOP per image: %.3f (matrix products actually run)\n", flops / steps / batch * 1e-9);
    }
    double achieved = flops / total * 1e-9;
    double peak = sgemm_peak(2048);
    printf("achieved %.1f GFLOP/s; sgemm peak (2048^3) %.1f GFLOP/s; %.0f%% of peak\n", achieved, peak,
           100 * achieved / peak);
    printf("peak resident memory: %.0f MiB\n", peak_rss_mib());
    free(x);
    free(adam_m);
    free(adam_v);
    free(feat);
    ij_mask_sampler_free(&ms);
    ij_model_free(&m);
    return 0;
}
