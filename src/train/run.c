/* run.c: see run.h. */
#include "train/run.h"

#include "core/error.h"
#include "core/stop_signal.h"
#include "core/timer.h"
#include "dist/dist.h"
#include "io/curves.h"
#include "io/fsutil.h"
#include "io/run_folder.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int ij_train_run(const IjTrainConfig *cfg, const IjRunOptions *o, const IjRunHooks *h)
{
    IjTrainConfig c = *cfg;
    int lead = ij_dist_rank() == 0, rc;
    const char *resume = o->resume ? c.folder : NULL;
    char path[1200];
    if (o->resume && o->force) return ij_error("--force replaces a run; --resume continues one: give one of them");
    /* The run folder (rank 0's): locked for the whole run before anything is loaded or written. */
    IjRunLock lock = {-1};
    if (lead && open_run_folder(&lock, c.folder, o->resume, o->force)) return -1;

    IjImageSet data;
    /* the images' own channels (IDX 1, JPEG/PNG 3): the model's unless the configuration says, and then
     * they must agree (RGB photos trained as grayscale, or the reverse, is an error, not a conversion) */
    IjLoadOptions lo = {.channels = 0, .strict = o->strict, .keep_files = !strcmp(c.decode, "per-batch")};
    if (ij_imageset_load_opts(&data, c.data, 1, &lo)) {
        ij_run_unlock(&lock);
        return -1;
    }
    if (c.channels && c.channels != data.channels) {
        ij_error("%s: the images have %d channel%s, the configuration says data.channels %d (--channels): set it to "
                 "%d or leave it unset", data.source, data.channels, data.channels == 1 ? "" : "s", c.channels,
                 data.channels);
        ij_imageset_free(&data);
        ij_run_unlock(&lock);
        return -1;
    }
    c.channels = data.channels;
    IjTrainer t;
    if (ij_trainer_init(&t, &c, &data)) {
        ij_imageset_free(&data);
        ij_run_unlock(&lock);
        return -1;
    }
    t.grad_bucket = (size_t)(o->bucket_mb * (1 << 20) / sizeof(float));
    rc = -1;
    IjMetrics metrics = {0};
    if (!lead) c.diag_every = 0;
    if (!h || !h->probe) c.probe_every = 0;
    if (!h || !h->diagnose) c.diag_every = 0;
    if ((c.probe_every > 0 || c.diag_every > 0) && h->start && h->start(h->ctx, &data, &t)) goto done;
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
    printf("backend: %s; matrix products: %s (cpu: %s)\n", t.model.be->name,
           t.model.bf16 ? (t.model.bf16 == IJ_BF16_AVX512 ? "bf16 operands, float32 sums: AVX512_BF16"
                                                          : "bf16 operands, float32 sums: emulated")
                        : "float32",
           ij_cpu_flags());
    if (ij_dist_size() > 1)
        printf("data parallel: %s; rank 0 trains images [%d, %d) of every batch of %d; gradients summed in "
               "buckets of %.3g MiB; replicas compared every %d steps\n", ij_dist_describe(), t.batch_lo,
               t.batch_hi, c.batch_size, t.grad_bucket * sizeof(float) / 1048576.0, o->check_every);
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
        if (h->probe(h->ctx, &t, &metrics, tty, &ps)) goto done;
        start += ps;
        window_start += ps;
    } else if (c.diag_every > 0 && t.step == 0) {
        double ds;
        if (h->diagnose(h->ctx, &t, &metrics, &ds)) goto done;
        start += ds;
        window_start += ds;
    }
    while (t.step < t.total_steps) {
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
            if (h->probe(h->ctx, &t, &metrics, tty, &ps)) goto done;
            last_probe = t.step;
            start += ps; /* throughput and ETA count training only */
            window_start += ps;
        }
        if (c.diag_every > 0 && t.step % c.diag_every == 0 && last_probe != t.step) {
            double ds;
            if (h->diagnose(h->ctx, &t, &metrics, &ds)) goto done;
            start += ds;
            window_start += ds;
        }
        if (o->check_every > 0 && t.step % o->check_every == 0 && ij_trainer_check_replicas(&t)) goto done;
        if (t.step % c.checkpoint_every == 0 && save(&t, c.folder, "checkpoint.safetensors")) goto done;
        if (c.save_every_epochs > 0 && t.step % t.ipe == 0 && (t.step / t.ipe) % c.save_every_epochs == 0) {
            char name[64];
            snprintf(name, sizeof name, "checkpoint-epoch%lld.safetensors", (long long)(t.step / t.ipe));
            if (save(&t, c.folder, name)) goto done;
        }
        /* Stop here? After the step's metrics line (a checkpoint is at the last line's step): on a signal
         * (2) or at the time limit (1); every rank stops at the same step, agreed in one reduction. */
        int sig = ij_stop_signal();
        int stop = sig ? 2 : c.max_minutes > 0 && ij_now() - start >= c.max_minutes * 60 ? 1 : 0;
        if (ij_dist_max(&stop)) goto done;
        if (stop == 2) {
            rc = stop_on_signal(&t, c.folder, sig ? sig : SIGTERM, tty);
            goto done;
        }
        if (stop == 1 && t.step < t.total_steps) {
            printf("%stime limit of %g minutes reached at step %lld\n", tty ? "\n" : "", c.max_minutes,
                   (long long)t.step);
            break;
        }
    }
    /* a run stopped by --minutes still ends with a probe point */
    double probe_s;
    if (c.probe_every > 0 && last_probe != t.step &&
        h->probe(h->ctx, &t, &metrics, tty, &probe_s))
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
    if (h && h->finish) h->finish(h->ctx);
    ij_metrics_close(&metrics);
    ij_trainer_free(&t);
    ij_imageset_free(&data);
    ij_run_unlock(&lock);
    return rc;
}
