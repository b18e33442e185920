/* cmd_train.c: `ijepa train`: I-JEPA pretraining with a run folder, metrics,
 * atomic checkpoints, a progress line and exact resume. */
#include "cli/commands.h"

#include "cli/options.h"
#include "core/error.h"
#include "core/stop_signal.h"
#include "core/timer.h"
#include "data/dataset.h"
#include "dist/dist.h"
#include "eval/diagnostics.h"
#include "eval/online_probe.h"
#include "io/fsutil.h"
#include "io/curves.h"
#include "io/metrics.h"
#include "io/run_folder.h"
#include "train/trainer.h"

#include <cblas.h>
#include <math.h>
#include <signal.h>
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
    "--resume RUN_DIR continues a run exactly where its last checkpoint left it. One process at a\n"
    "time may use a run folder. SIGTERM or Ctrl-C ends the current step, writes a checkpoint and\n"
    "exits with 128 + the signal (a second one exits at once).";

/* --config and --resume, then one option per setting of the table (train/train_config.h), whose
 * flag, bounds, help and YAML key it carries, in the YAML's order; --ema is parsed after.
 * Returns how many. */
static int build_options(Option *o, IjTrainConfig *c, const char **ema, const char **config, const char **resume)
{
    IjSettingFlag f[96];
    int nf = ij_train_config_flags(f, 96), n = 0;
    IJ_ASSERT(nf > 0);
    o[n++] = (Option){"config", OPT_STRING, config, "YAML file in the official layout (data, mask, meta, optimization, logging)", 0, -1, NULL};
    o[n++] = (Option){"resume", OPT_STRING, resume, "continue the run in this folder from its checkpoint", 0, -1, NULL};
    for (int i = 0; i < nf; i++) {
        static const OptType types[] = {[IJ_SETTING_INT] = OPT_INT, [IJ_SETTING_DOUBLE] = OPT_FLOAT,
                                        [IJ_SETTING_BOOL] = OPT_SWITCH, [IJ_SETTING_PAIR] = OPT_PAIR,
                                        [IJ_SETTING_TEXT] = OPT_TEXT, [IJ_SETTING_EMA] = OPT_STRING};
        static char helps[96][400]; /* the help line with the YAML key the flag sets */
        if (f[i].section) snprintf(helps[i], sizeof helps[i], "%s [%s.%s]", f[i].help, f[i].section, f[i].key);
        else snprintf(helps[i], sizeof helps[i], "%s", f[i].help);
        Option x = {f[i].flag, types[f[i].type], (char *)c + f[i].off, helps[i], f[i].min, f[i].max, NULL};
        if (f[i].type == IJ_SETTING_TEXT) x.min = 0, x.max = (double)f[i].size;
        if (f[i].type == IJ_SETTING_EMA) x.value = ema;
        o[n++] = x;
    }
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

/* Lock the run folder, then hold it to the run-folder rules (io/run_folder.h): a new run needs
 * an empty folder or --force, a resumed one a checkpoint; stale temporary files go. */
static int open_run_folder(IjRunLock *lock, const char *folder, int resume, int force)
{
    if (ij_run_lock(lock, folder)) return -1;
    char path[1200];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", folder);
    const char *held = ij_run_existing(folder);
    int rc = 0;
    if (resume && !ij_exists(path))
        rc = ij_error("%s: no checkpoint.safetensors to resume from (%s)", folder,
                      held ? "the run stopped before its first checkpoint: start it again with --out and --force"
                           : "start a run there with --out");
    else if (!resume && held && !force)
        rc = ij_error("%s already holds a run (%s): continue it with --resume %s, or replace it with --force",
                      folder, held, folder);
    else if (!resume && held && ij_run_clear(folder))
        rc = -1;
    if (rc) {
        ij_run_unlock(lock);
        return -1;
    }
    int stale = ij_run_remove_stale(folder);
    if (stale > 0)
        printf("%s: removed %d temporary file%s left by a killed run\n", folder, stale, stale == 1 ? "" : "s");
    return 0;
}

/* SIGTERM / SIGINT: the step in flight has finished; save it and report. 128 + sig. */
static int stop_on_signal(const IjTrainer *t, const char *folder, int sig, int tty)
{
    ij_stop_signal_disarm(); /* a second signal now ends the process at once */
    if (save(t, folder, "checkpoint.safetensors")) return -1;
    if (tty) printf("\n");
    fflush(stdout);
    fprintf(stderr, "ijepa train: stopped by %s at step %lld; checkpoint %s/checkpoint.safetensors written "
                    "(continue with --resume %s)\n", ij_stop_signal_name(sig), (long long)t->step, folder, folder);
    return 128 + sig;
}

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
    const char *config = NULL, *resume = NULL, *ema = NULL;
    int strict = 0;
    Option opts[128];
    int n = build_options(opts, &c, &ema, &config, &resume);
    /* data-parallel settings (mpirun -np N): how the run is executed, not what it computes */
    double bucket_mb = 4, dist_timeout = 0;
    int check_every = 100;
    opts[n++] = (Option){"bucket-mb", OPT_FLOAT, &bucket_mb, "mpirun: gradient allreduce bucket size in MiB; buckets start during the backward pass (0: one allreduce after it)", 0, 1 << 20, NULL};
    opts[n++] = (Option){"check-every", OPT_INT, &check_every, "mpirun: steps between checks that all ranks hold identical weights (0: only at checkpoints)", 0, 1 << 30, NULL};
    opts[n++] = (Option){"dist-timeout", OPT_FLOAT, &dist_timeout, "mpirun: seconds a rank waits for the others before it stops the job (0: no limit)", 0, 1e9, NULL};
    static const char force_help[] = "replace the run that --out already holds (its config, metrics and checkpoints)";
    int force = 0, scratch_force = 0;
    opts[n++] = (Option){"force", OPT_FLAG, &force, force_help, 0, -1, NULL};
    static const char strict_help[] = "stop at the first corrupt image instead of skipping it with a warning";
    opts[n++] = (Option){"strict", OPT_FLAG, &strict, strict_help, 0, -1, NULL};
    /* First pass: only --config / --resume, so that files load before flags override them. */
    IjTrainConfig scratch = c;
    const char *scratch_ema = NULL;
    Option pre[128];
    int scratch_strict = 0;
    build_options(pre, &scratch, &scratch_ema, &config, &resume);
    memcpy(pre + n - 5, opts + n - 5, 3 * sizeof *pre);  /* the mpirun settings, parsed twice alike */
    pre[n - 2] = (Option){"force", OPT_FLAG, &scratch_force, force_help, 0, -1, NULL};
    pre[n - 1] = (Option){"strict", OPT_FLAG, &scratch_strict, strict_help, 0, -1, NULL};
    int rc = opt_parse(pre, n, argc, argv, 2, usage);
    if (rc) return rc < 0 ? -1 : 0;
    char path[1200];
    /* Data parallel: rank 0 alone reads files and writes the run folder; the others get
     * the configuration from it (below), so other machines need only the data. */
    int lead = ij_dist_rank() == 0;
    if (resume && lead) {
        snprintf(path, sizeof path, "%s/config.yaml", resume);
        if (!ij_exists(path))
            return ij_error("%s: not a run folder (no config.yaml): start a run there with --out", resume);
        if (ij_train_config_load_yaml(&c, path)) return -1;
    } else if (config && lead && ij_train_config_load_yaml(&c, config)) {
        return -1;
    }
    char folder[sizeof c.folder];
    memcpy(folder, c.folder, sizeof folder);
    if (opt_parse(opts, n, argc, argv, 2, usage) < 0 || (ema && ij_train_config_set_ema(&c, ema))) return -1;
    int out_given = memcmp(folder, c.folder, sizeof folder) != 0;
    if (resume && out_given && strcmp(c.folder, resume) != 0)
        return ij_error("--out and --resume name different folders; a resumed run stays in its folder");
    if (resume) {
        if (strlen(resume) >= sizeof c.folder) return ij_error("--resume: folder name too long");
        memset(c.folder, 0, sizeof c.folder);
        memcpy(c.folder, resume, strlen(resume));
    }
    if (ij_dist_bcast(&c, sizeof c)) return -1;  /* homogeneous machines: the struct's bytes */
    ij_dist_set_timeout(dist_timeout);
    if (!lead) c.probe_every = 0;                /* rank 0 alone probes */
    if (ij_train_config_validate(&c)) return -1;
    if (c.threads > 0) {
        omp_set_num_threads(c.threads);
        openblas_set_num_threads(c.threads);
    }
    if (resume && force) return ij_error("--force replaces a run; --resume continues one: give one of them");
    /* The run folder (rank 0's): locked for the whole run before anything is loaded or written. */
    IjRunLock lock = {-1};
    if (lead && open_run_folder(&lock, c.folder, resume != NULL, force)) return -1;

    IjImageSet data;
    /* images are converted to the model's channel count as they are decoded */
    IjLoadOptions lo = {.channels = c.channels, .strict = strict, .keep_files = !strcmp(c.decode, "per-batch")};
    if (ij_imageset_load_opts(&data, c.data, 1, &lo)) {
        ij_run_unlock(&lock);
        return -1;
    }
    IjTrainer t;
    if (ij_trainer_init(&t, &c, &data)) {
        ij_imageset_free(&data);
        ij_run_unlock(&lock);
        return -1;
    }
    t.grad_bucket = (size_t)(bucket_mb * (1 << 20) / sizeof(float));
    rc = -1;
    IjMetrics metrics = {0};
    IjOnlineProbe probe = {0};
    if (!lead) c.diag_every = 0;
    if ((c.probe_every > 0 || c.diag_every > 0) &&
        ij_online_probe_init(&probe, &data, c.probe_fit, c.probe_held, (uint64_t)c.seed,
                             strcmp(c.probe_pool, "last4") ? IJ_POOL_LAST : IJ_POOL_LAST4))
        goto done;
    /* Everything is checked (a resumed checkpoint included) before the folder is written to. */
    if (resume) {
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", c.folder);
        if ((lead && ij_trainer_load(&t, path)) || ij_trainer_broadcast(&t)) goto done;
    }
    snprintf(path, sizeof path, "%s/metrics.jsonl", c.folder);
    int dropped = lead && resume ? ij_metrics_cut(path, (long long)t.step) : 0;
    if (dropped < 0) goto done;
    if (dropped > 0)
        printf("metrics.jsonl: %d line%s past the checkpoint's step %lld removed (they will be written again)\n",
               dropped, dropped == 1 ? "" : "s", (long long)t.step);
    if (lead && ij_metrics_open(&metrics, path)) goto done;
    snprintf(path, sizeof path, "%s/config.yaml", c.folder);
    if (lead && ij_train_config_save_yaml(&c, path)) goto done;

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
    ij_stop_signal_arm();
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
        int sig = ij_stop_signal(); /* after the step's metrics line: the checkpoint is at the last line's step */
        if (ij_dist_size() > 1) {   /* every rank stops at the same step */
            int any;
            if (ij_dist_any(sig != 0, &any)) goto done;
            if (any && !sig) sig = SIGTERM;
        }
        if (sig) {
            rc = stop_on_signal(&t, c.folder, sig, tty);
            goto done;
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
    ij_stop_signal_disarm();
    ij_online_probe_free(&probe);
    ij_metrics_close(&metrics);
    ij_trainer_free(&t);
    ij_imageset_free(&data);
    ij_run_unlock(&lock);
    return rc;
}
