/* cmd_train.c: `ijepa train`: I-JEPA pretraining with a run folder, metrics,
 * atomic checkpoints, a progress line and exact resume. */
#include "cli/commands.h"

#include "cli/options.h"
#include "core/error.h"
#include "core/timer.h"
#include "data/dataset.h"
#include "dist/dist.h"
#include "eval/diagnostics.h"
#include "eval/online_probe.h"
#include "io/fsutil.h"
#include "io/curves.h"
#include "io/metrics.h"
#include "train/trainer.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: ijepa train [--config FILE.yaml] [--resume RUN_DIR] [options]\n\n"
    "Pretrain an I-JEPA model (context encoder, predictor, EMA target encoder) on unlabeled\n"
    "images. Settings come from the defaults, then --config (the official YAML layout), then\n"
    "the options below. The run folder gets config.yaml, metrics.jsonl and checkpoint.safetensors.\n"
    "--resume RUN_DIR continues a run exactly where its last checkpoint left it.";

/* String options are parsed into pointers, then copied into the config's arrays. */
typedef struct {
    const char *data, *masks, *model, *loss, *folder, *ema, *decode, *probe_pool;
} StringArgs;

/* --ema: "on", "off" (momentum 0: the target is a copy of the encoder after each step) or "A,B". */
static int parse_ema(IjTrainConfig *c, const char *v)
{
    if (!v) return 0;
    if (!strcmp(v, "on") || !strcmp(v, "off")) return c->use_ema = !strcmp(v, "on"), 0;
    char *end;
    double a = strtod(v, &end), b = -1;
    if (end != v && *end == ',') {
        const char *second = end + 1;
        b = strtod(second, &end);
        if (end == second) b = -1;
    }
    if (*end || !(a >= 0 && a <= b && b <= 1))
        return ij_error("--ema: '%s' is not on, off or a pair A,B with 0 <= A <= B <= 1", v);
    c->ema[0] = a, c->ema[1] = b, c->use_ema = 1;
    return 0;
}

static int copy_str(char *dst, size_t size, const char *src, const char *name)
{
    if (!src) return 0;
    if (strlen(src) >= size) return ij_error("--%s: value too long", name);
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

static int build_options(Option *o, IjTrainConfig *c, StringArgs *s, const char **config,
                         const char **resume)
{
    int n = 0;
    o[n++] = (Option){"config", OPT_STRING, config, "YAML file in the official layout (data, mask, meta, optimization, logging)", 0, -1, NULL};
    o[n++] = (Option){"resume", OPT_STRING, resume, "continue the run in this folder from its checkpoint", 0, -1, NULL};
    o[n++] = (Option){"data", OPT_STRING, &s->data, "fashion-mnist, a folder of IDX files, a folder of class folders of JPEG/PNG, or tar shards (a.tar,b.tar or 'train-*.tar')", 0, -1, NULL};
    o[n++] = (Option){"out", OPT_STRING, &s->folder, "run folder", 0, -1, NULL};
    o[n++] = (Option){"model", OPT_STRING, &s->model, "encoder preset (vit_tiny ... vit_giant)", 0, -1, NULL};
    o[n++] = (Option){"img-size", OPT_INT, &c->crop_size, "crop side in pixels (model input)", 1, 4096, NULL};
    o[n++] = (Option){"channels", OPT_INT, &c->channels, "image channels: 1 or 3", 1, 3, NULL};
    o[n++] = (Option){"patch-size", OPT_INT, &c->patch_size, "patch side in pixels", 1, 256, NULL};
    o[n++] = (Option){"embed-dim", OPT_INT, &c->embed_dim, "encoder width (0: preset)", 0, 16384, NULL};
    o[n++] = (Option){"depth", OPT_INT, &c->depth, "encoder blocks (0: preset)", 0, 256, NULL};
    o[n++] = (Option){"heads", OPT_INT, &c->num_heads, "attention heads (0: preset)", 0, 256, NULL};
    o[n++] = (Option){"pred-dim", OPT_INT, &c->pred_emb_dim, "predictor width", 4, 16384, NULL};
    o[n++] = (Option){"pred-depth", OPT_INT, &c->pred_depth, "predictor blocks", 1, 256, NULL};
    o[n++] = (Option){"batch-size", OPT_INT, &c->batch_size, "images per step", 1, 1 << 20, NULL};
    o[n++] = (Option){"epochs", OPT_INT, &c->epochs, "epochs (sets the schedule length)", 1, 1 << 20, NULL};
    o[n++] = (Option){"steps", OPT_INT, &c->max_steps, "stop after this many steps in total (0: run all epochs)", 0, 2147483647, NULL};
    o[n++] = (Option){"minutes", OPT_FLOAT, &c->max_minutes, "stop cleanly after this much wall time (0: no limit)", 0, 1e9, NULL};
    o[n++] = (Option){"lr", OPT_FLOAT, &c->lr, "peak learning rate", 0, 1e9, NULL};
    o[n++] = (Option){"start-lr", OPT_FLOAT, &c->start_lr, "learning rate at step 1", 0, 1e9, NULL};
    o[n++] = (Option){"final-lr", OPT_FLOAT, &c->final_lr, "learning rate at the end", 0, 10, NULL};
    o[n++] = (Option){"warmup", OPT_FLOAT, &c->warmup, "warmup length in epochs", 0, 1e6, NULL};
    o[n++] = (Option){"weight-decay", OPT_FLOAT, &c->weight_decay, "weight decay at the start", 0, 10, NULL};
    o[n++] = (Option){"final-weight-decay", OPT_FLOAT, &c->final_weight_decay, "weight decay at the end", 0, 10, NULL};
    o[n++] = (Option){"ema", OPT_STRING, &s->ema, "EMA momentum start,end; off: no EMA (the target is a copy of the encoder after each step)", 0, -1, NULL};
    o[n++] = (Option){"target-norm", OPT_SWITCH, &c->target_norm, "LayerNorm (no affine) on the targets", 0, -1, NULL};
    o[n++] = (Option){"bf16", OPT_SWITCH, &c->use_bfloat16, "bf16 operands in the matrix products, float32 sums and weights (meta.use_bfloat16; IJEPA_BF16_PATH=emulated|avx512bf16 forces a path)", 0, -1, NULL};
    o[n++] = (Option){"ipe-scale", OPT_FLOAT, &c->ipe_scale, "schedule length scale", 1e-6, 1e6, NULL};
    o[n++] = (Option){"loss", OPT_STRING, &s->loss, "smooth_l1 or l2", 0, -1, NULL};
    o[n++] = (Option){"masks", OPT_STRING, &s->masks, "official (reference collator), fixed (no artefacts), block, random or raster", 0, -1, NULL};
    o[n++] = (Option){"target-ratio", OPT_FLOAT, &c->target_ratio, "block / random masks: target area fraction", 0, 1, NULL};
    o[n++] = (Option){"num-targets", OPT_INT, &c->num_pred_masks, "target blocks per image", 1, 64, NULL};
    o[n++] = (Option){"target-scale", OPT_PAIR, c->pred_mask_scale, "target block area range", 0, 1, NULL};
    o[n++] = (Option){"target-aspect", OPT_PAIR, c->aspect_ratio, "target block aspect range", 0.01, 100, NULL};
    o[n++] = (Option){"context-scale", OPT_PAIR, c->enc_mask_scale, "context block area range", 0, 1, NULL};
    o[n++] = (Option){"min-keep", OPT_INT, &c->min_keep, "least context tokens", 0, 1 << 20, NULL};
    o[n++] = (Option){"allow-overlap", OPT_INT, &c->allow_overlap, "1: context may include target tokens", 0, 1, NULL};
    o[n++] = (Option){"crop-scale", OPT_PAIR, c->crop_scale, "RandomResizedCrop area range", 0, 1, NULL};
    o[n++] = (Option){"crop-ratio", OPT_PAIR, c->crop_ratio, "RandomResizedCrop aspect range", 0.01, 100, NULL};
    o[n++] = (Option){"hflip", OPT_INT, &c->use_horizontal_flip, "1: random horizontal flips", 0, 1, NULL};
    o[n++] = (Option){"seed", OPT_INT, &c->seed, "seed of init, data order, crops and mask positions", 0, 2147483647, NULL};
    o[n++] = (Option){"log-every", OPT_INT, &c->log_every, "steps between metric lines", 1, 1 << 30, NULL};
    o[n++] = (Option){"checkpoint-every", OPT_INT, &c->checkpoint_every, "steps between checkpoints", 1, 1 << 30, NULL};
    o[n++] = (Option){"save-every-epochs", OPT_INT, &c->save_every_epochs, "also keep checkpoint-epochN every N epochs (0: no)", 0, 1 << 20, NULL};
    o[n++] = (Option){"probe-every", OPT_INT, &c->probe_every, "steps between online probes of the target encoder (0: off)", 0, 1 << 30, NULL};
    o[n++] = (Option){"probe-fit", OPT_INT, &c->probe_fit, "online probe: training images it fits on", 10, 1 << 24, NULL};
    o[n++] = (Option){"diag-every", OPT_INT, &c->diag_every, "steps between collapse diagnostics on one held-out batch (0: only with the probes)", 0, 1 << 30, NULL};
    o[n++] = (Option){"probe-start", OPT_SWITCH, &c->probe_at_start, "online probe also at step 0 (the random-init encoder)", 0, -1, NULL};
    o[n++] = (Option){"probe-pool", OPT_STRING, &s->probe_pool, "online probe features: last (average of the final tokens) or last4 (average pools of the 4 last blocks)", 0, -1, NULL};
    o[n++] = (Option){"probe-held", OPT_INT, &c->probe_held, "online probe: other training images it is scored on", 10, 1 << 24, NULL};
    o[n++] = (Option){"threads", OPT_INT, &c->threads, "CPU threads (0: all cores)", 0, 4096, NULL};
    o[n++] = (Option){"decode", OPT_STRING, &s->decode, "once: decode images at load, keep pixels; per-batch: keep the files, decode in the loader (less memory, any image sizes)", 0, -1, NULL};
    o[n++] = (Option){"loader-threads", OPT_INT, &c->loader_threads, "background threads building the next batches (0: build in the training thread)", 0, 64, NULL};
    return n;
}

static void format_eta(char *buf, size_t size, double s)
{
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

/* Data parallel: every rank checks that the replicas agree, then rank 0 alone writes. */
static int save(const IjTrainer *t, const char *folder, const char *name)
{
    if (ij_trainer_check_replicas(t)) return -1;
    if (ij_dist_rank() > 0) return 0;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", folder, name);
    return ij_trainer_save(t, path);
}

/* Probe the target encoder on held-out training images; one metrics line. */
/* Collapse diagnostics on a fixed batch: the first images of the probe's held-out set,
 * resized whole, with the masks of batch counter 0. */
static int diagnose(IjOnlineProbe *probe, IjTrainer *t, IjDiagnostics *d)
{
    const IjImageSet *h = &probe->held;
    const IjConfig *c = &t->mcfg;
    int B = t->cfg.batch_size;
    if (h->count < B)
        return ij_error("--probe-held %d must be at least the batch size %d (diagnostics use one batch of it)",
                        h->count, B);
    IjAugment aug;
    ij_augment_defaults(&aug, c->channels, c->img_size);
    aug.random_crop = 0;
    size_t img = (size_t)c->channels * c->img_size * c->img_size;
    for (int b = 0; b < B; b++)
        ij_augment_image(t->batch + (size_t)b * img, ij_imageset_image(h, b), h->height, h->width,
                         h->channels, &aug, 0, 0, (uint64_t)b);
    if (ij_mask_sample(&t->sampler, 0)) return -1;
    IjMasks mk = t->sampler.masks;
    return ij_diagnostics(&t->model, t->batch, &mk, d);
}

static int online_probe(IjOnlineProbe *probe, IjTrainer *t, IjMetrics *metrics, int held, int tty,
                        double *seconds)
{
    IjOnlineProbeResult pr;
    IjDiagnostics dg;
    if (ij_online_probe_run(probe, &t->model, &pr) || diagnose(probe, t, &dg)) return -1;
    const char *keys[] = {"step", "epoch", "minutes", "probe_linear", "probe_knn", "probe_seconds",
                          "target_std", "pred_std", "erank", "cosine"};
    double v[] = {(double)t->step, (double)((t->step - 1) / t->ipe), t->train_seconds / 60, pr.linear,
                  pr.knn, pr.seconds, dg.target_std, dg.pred_std, dg.erank, dg.cosine};
    if (ij_metrics_write(metrics, keys, v, 10)) return -1;
    printf("%sonline probe at step %lld (%.1f min of training): linear %.2f%%, k-NN %.2f%% on %d held-out "
           "training images (%.1f s); effective rank %.1f, mean cosine %.3f, target std %.3f, pred std %.3f\n",
           tty ? "\n" : "", (long long)t->step, t->train_seconds / 60, 100 * pr.linear, 100 * pr.knn, held,
           pr.seconds, dg.erank, dg.cosine, dg.target_std, dg.pred_std);
    fflush(stdout);
    *seconds = pr.seconds;
    return 0;
}

/* Collapse diagnostics alone (no probe): one metrics line. */
static int diagnostics_line(IjOnlineProbe *probe, IjTrainer *t, IjMetrics *metrics, double *seconds)
{
    double t0 = ij_now();
    IjDiagnostics dg;
    if (diagnose(probe, t, &dg)) return -1;
    const char *keys[] = {"step", "epoch", "minutes", "target_std", "pred_std", "erank", "cosine"};
    double v[] = {(double)t->step, (double)((t->step > 0 ? t->step - 1 : 0) / t->ipe), t->train_seconds / 60,
                  dg.target_std, dg.pred_std, dg.erank, dg.cosine};
    *seconds = ij_now() - t0;
    return ij_metrics_write(metrics, keys, v, 7);
}

int cmd_train(int argc, char **argv)
{
    IjTrainConfig c;
    ij_train_config_defaults(&c);
    StringArgs s = {0};
    const char *config = NULL, *resume = NULL;
    int strict = 0;
    Option opts[64];
    int n = build_options(opts, &c, &s, &config, &resume);
    /* data-parallel settings (mpirun -np N): how the run is executed, not what it computes */
    double bucket_mb = 4, dist_timeout = 0;
    int check_every = 100;
    opts[n++] = (Option){"bucket-mb", OPT_FLOAT, &bucket_mb, "mpirun: gradient allreduce bucket size in MiB; buckets start during the backward pass (0: one allreduce after it)", 0, 1 << 20, NULL};
    opts[n++] = (Option){"check-every", OPT_INT, &check_every, "mpirun: steps between checks that all ranks hold identical weights (0: only at checkpoints)", 0, 1 << 30, NULL};
    opts[n++] = (Option){"dist-timeout", OPT_FLOAT, &dist_timeout, "mpirun: seconds a rank waits for the others before it stops the job (0: no limit)", 0, 1e9, NULL};
    static const char strict_help[] = "stop at the first corrupt image instead of skipping it with a warning";
    opts[n++] = (Option){"strict", OPT_FLAG, &strict, strict_help, 0, -1, NULL};
    /* First pass: only --config / --resume, so that files load before flags override them. */
    IjTrainConfig scratch = c;
    StringArgs scratch_s = {0};
    Option pre[64];
    int scratch_strict = 0;
    build_options(pre, &scratch, &scratch_s, &config, &resume);
    memcpy(pre + n - 4, opts + n - 4, 3 * sizeof *pre);  /* the mpirun settings, parsed twice alike */
    pre[n - 1] = (Option){"strict", OPT_FLAG, &scratch_strict, strict_help, 0, -1, NULL};
    int rc = opt_parse(pre, n, argc, argv, 2, usage);
    if (rc) return rc < 0 ? -1 : 0;
    char path[1200];
    /* Data parallel: rank 0 alone reads files and writes the run folder; the others get
     * the configuration from it (below), so other machines need only the data. */
    int lead = ij_dist_rank() == 0;
    if (resume && lead) {
        snprintf(path, sizeof path, "%s/config.yaml", resume);
        if (ij_train_config_load_yaml(&c, path)) return -1;
    } else if (config && lead && ij_train_config_load_yaml(&c, config)) {
        return -1;
    }
    if (opt_parse(opts, n, argc, argv, 2, usage) < 0) return -1;
    if (copy_str(c.data, sizeof c.data, s.data, "data") || copy_str(c.masks, sizeof c.masks, s.masks, "masks") ||
        copy_str(c.model_name, sizeof c.model_name, s.model, "model") ||
        copy_str(c.loss, sizeof c.loss, s.loss, "loss") || copy_str(c.folder, sizeof c.folder, s.folder, "out") ||
        copy_str(c.decode, sizeof c.decode, s.decode, "decode") ||
        copy_str(c.probe_pool, sizeof c.probe_pool, s.probe_pool, "probe-pool") ||
        parse_ema(&c, s.ema))
        return -1;
    if (resume && s.folder && strcmp(s.folder, resume) != 0)
        return ij_error("--out and --resume name different folders; a resumed run stays in its folder");
    if (resume) copy_str(c.folder, sizeof c.folder, resume, "resume");
    if (ij_dist_bcast(&c, sizeof c)) return -1;  /* homogeneous machines: the struct's bytes */
    ij_dist_set_timeout(dist_timeout);
    if (!lead) c.probe_every = 0;                /* rank 0 alone probes */
    if (ij_train_config_validate(&c)) return -1;
    if (c.threads > 0) {
        omp_set_num_threads(c.threads);
        openblas_set_num_threads(c.threads);
    }

    IjImageSet data;
    /* images are converted to the model's channel count as they are decoded */
    IjLoadOptions lo = {.channels = c.channels, .strict = strict, .keep_files = !strcmp(c.decode, "per-batch")};
    if (ij_imageset_load_opts(&data, c.data, 1, &lo)) return -1;
    IjTrainer t;
    if (ij_trainer_init(&t, &c, &data)) {
        ij_imageset_free(&data);
        return -1;
    }
    t.grad_bucket = (size_t)(bucket_mb * (1 << 20) / sizeof(float));
    rc = -1;
    IjMetrics metrics = {0};
    IjOnlineProbe probe = {0};
    if (lead && ij_mkdirs(c.folder)) goto done;
    if (!lead) c.diag_every = 0;
    if ((c.probe_every > 0 || c.diag_every > 0) &&
        ij_online_probe_init(&probe, &data, c.probe_fit, c.probe_held, (uint64_t)c.seed,
                             strcmp(c.probe_pool, "last4") ? IJ_POOL_LAST : IJ_POOL_LAST4))
        goto done;
    snprintf(path, sizeof path, "%s/config.yaml", c.folder);
    if (lead && ij_train_config_save_yaml(&c, path)) goto done;
    if (resume) {
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", c.folder);
        if ((lead && ij_trainer_load(&t, path)) || ij_trainer_broadcast(&t)) goto done;
    }
    snprintf(path, sizeof path, "%s/metrics.jsonl", c.folder);
    if (lead && ij_metrics_open(&metrics, path)) goto done;

    printf("# effective configuration (saved as %s/config.yaml)\n", c.folder);
    ij_train_config_print(&c);
    printf("data: %s: %d images ", data.source, data.count);
    if (data.height) printf("%dx%dx%d", data.height, data.width, data.channels);
    else printf("of several sizes, %d channel%s", data.channels, data.channels > 1 ? "s" : "");
    printf("%s; %d undecodable file%s skipped; %lld steps per epoch of %d\n", data.pixels ? "" : " (kept as files)",
           data.skipped, data.skipped == 1 ? "" : "s", (long long)t.ipe, c.batch_size);
    printf("loader: %d background thread%s, decoding %s\n", c.loader_threads, c.loader_threads == 1 ? "" : "s",
           data.pixels ? "once at load" : "each batch (JPEG at reduced DCT scale where the crop allows)");
    const IjMaskParams *mp = &t.sampler.p;
    printf("masks: %s (%s); %d target%s per image\n", c.masks, ij_mask_mode_describe(mp->mode), mp->num_targets,
           mp->num_targets == 1 ? "" : "s");
    if (c.use_ema) printf("EMA: on, momentum %g -> %g\n", c.ema[0], c.ema[1]);
    else printf("EMA: off (ablation): the target encoder is a copy of the encoder after each step\n");
    printf("target LayerNorm: %s\n", c.target_norm ? "on" : "off (ablation): raw target-encoder outputs are the targets");
    printf("matrix products: %s (cpu: %s)\n",
           t.model.bf16 ? (t.model.bf16 == IJ_BF16_AVX512 ? "bf16 operands, float32 sums: AVX512_BF16"
                                                          : "bf16 operands, float32 sums: emulated")
                        : "float32",
           ij_cpu_flags());
    if (ij_dist_size() > 1)
        printf("data parallel: %s; rank 0 trains images [%d, %d) of every batch of %d; gradients summed in "
               "buckets of %.3g MiB; replicas compared every %d steps\n", ij_dist_describe(), t.batch_lo,
               t.batch_hi, c.batch_size, t.grad_bucket * sizeof(float) / 1048576.0, check_every);
    printf("threads: %d OpenMP, %d BLAS; %s step %lld of %lld\n", omp_get_max_threads(),
           openblas_get_num_threads(), resume ? "resuming at" : "starting at", (long long)t.step,
           (long long)t.total_steps);
    fflush(stdout);

    int tty = isatty(STDOUT_FILENO);
    int64_t last_probe = -1;
    double start = ij_now(), window_start = start, loss_sum = 0;
    int64_t window_steps = 0, start_step = t.step;
    IjStepStats st = {0};
    const char *keys[] = {"step", "epoch", "minutes", "loss", "lr", "wd", "momentum", "images_per_s",
                          "ms_per_step", "ms_wait", "ms_data", "ms_masks", "ms_model", "ms_optim", "ctx_tokens",
                          "tgt_tokens", "skipped_images", "ms_comm"};
    /* the curve starts from the random-init encoder */
    if (c.probe_every > 0 && c.probe_at_start && t.step == 0) {
        double ps;
        if (online_probe(&probe, &t, &metrics, c.probe_held, tty, &ps)) goto done;
        start += ps;
        window_start += ps;
    } else if (c.diag_every > 0 && t.step == 0) {
        double ds;
        if (diagnostics_line(&probe, &t, &metrics, &ds)) goto done;
        start += ds;
        window_start += ds;
    }
    while (t.step < t.total_steps) {
        int stop = c.max_minutes > 0 && ij_now() - start >= c.max_minutes * 60;
        if (c.max_minutes > 0 && ij_dist_any(stop, &stop)) goto done;  /* every rank stops at the same step */
        if (stop) {
            printf("%stime limit of %g minutes reached at step %lld\n", tty ? "\n" : "", c.max_minutes,
                   (long long)t.step);
            break;
        }
        if (ij_trainer_step(&t, &st)) {
            char why[512];
            snprintf(why, sizeof why, "%s", ij_last_error());
            ij_error("%s (last good checkpoint: %s/checkpoint.safetensors)", why, c.folder);
            goto done;
        }
        loss_sum += st.loss;
        window_steps++;
        double now = ij_now();
        double ips = (double)(t.step - start_step) * c.batch_size / (now - start);
        char eta[32];
        format_eta(eta, sizeof eta, (double)(t.total_steps - t.step) * c.batch_size / ips);
        int log_now = t.step % c.log_every == 0 || t.step == t.total_steps;
        if (log_now) {
            double wips = window_steps * c.batch_size / (now - window_start);
            double vals[] = {(double)st.step, (double)st.epoch, t.train_seconds / 60, loss_sum / window_steps, st.lr, st.wd,
                             st.momentum, wips, 1e3 * (now - window_start) / window_steps, st.ms_wait,
                             st.ms_data, st.ms_masks, st.ms_model, st.ms_optim, st.ctx_tokens, st.tgt_tokens,
                             data.skipped, st.ms_comm};
            if (lead && ij_metrics_write(&metrics, keys, vals, (int)(sizeof vals / sizeof vals[0]))) goto done;
        }
        if (tty || log_now) {
            printf("%sepoch %lld step %lld/%lld loss %.5f lr %.2e %.1f img/s ETA %s%s",
                   tty ? "\r" : "", (long long)st.epoch + 1, (long long)t.step, (long long)t.total_steps,
                   log_now ? loss_sum / window_steps : st.loss, st.lr, ips, eta,
                   tty && !log_now ? "   " : "\n");
            fflush(stdout);
        }
        if (log_now) {
            loss_sum = 0;
            window_steps = 0;
            window_start = now;
        }
        if (c.probe_every > 0 && (t.step % c.probe_every == 0 || t.step == t.total_steps)) {
            double ps;
            if (online_probe(&probe, &t, &metrics, c.probe_held, tty, &ps)) goto done;
            last_probe = t.step;
            start += ps; /* throughput and ETA count training only */
            window_start += ps;
        }
        if (c.diag_every > 0 && t.step % c.diag_every == 0 && last_probe != t.step) {
            double ds;
            if (diagnostics_line(&probe, &t, &metrics, &ds)) goto done;
            start += ds;
            window_start += ds;
        }
        if (check_every > 0 && t.step % check_every == 0 && ij_trainer_check_replicas(&t)) goto done;
        if (t.step % c.checkpoint_every == 0 && save(&t, c.folder, "checkpoint.safetensors")) goto done;
        if (c.save_every_epochs > 0 && t.step % t.ipe == 0 && (t.step / t.ipe) % c.save_every_epochs == 0) {
            char name[64];
            snprintf(name, sizeof name, "checkpoint-epoch%lld.safetensors", (long long)(t.step / t.ipe));
            if (save(&t, c.folder, name)) goto done;
        }
    }
    /* a run stopped by --minutes still ends with a probe point */
    double probe_s;
    if (c.probe_every > 0 && last_probe != t.step &&
        online_probe(&probe, &t, &metrics, c.probe_held, tty, &probe_s))
        goto done;
    if (save(&t, c.folder, "checkpoint.safetensors")) goto done;
    snprintf(path, sizeof path, "%s/curves.png", c.folder);
    char mpath[1200];
    snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", c.folder);
    if (lead && ij_curves_png(mpath, path, c.folder)) goto done;
    printf("done: %lld steps in %.1f s; checkpoint %s/checkpoint.safetensors\n",
           (long long)(t.step - start_step), ij_now() - start, c.folder);
    rc = 0;
done:
    ij_online_probe_free(&probe);
    ij_metrics_close(&metrics);
    ij_trainer_free(&t);
    ij_imageset_free(&data);
    return rc;
}
