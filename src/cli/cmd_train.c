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
#include "io/metrics.h"
#include "train/run.h"
#include "train/trainer.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The online probe and the collapse diagnostics: ij_train_run's hooks (train/run.h). */
typedef struct {
    IjOnlineProbe probe;
} ProbeHooks;

static int hook_start(void *ctx, const IjImageSet *data, IjTrainer *t)
{
    ProbeHooks *p = ctx;
    const IjTrainConfig *c = &t->cfg;
    return ij_online_probe_init(&p->probe, data, c->probe_fit, c->probe_held, (uint64_t)c->seed,
                                strcmp(c->probe_pool, "last4") ? IJ_POOL_LAST : IJ_POOL_LAST4);
}

static int hook_probe(void *ctx, IjTrainer *t, IjMetrics *metrics, int tty, double *seconds)
{
    ProbeHooks *p = ctx;
    return online_probe(&p->probe, t, metrics, t->cfg.probe_held, tty, seconds);
}

static int hook_diagnose(void *ctx, IjTrainer *t, IjMetrics *metrics, double *seconds)
{
    return diagnostics_line(&((ProbeHooks *)ctx)->probe, t, metrics, seconds);
}

static void hook_finish(void *ctx) { ij_online_probe_free(&((ProbeHooks *)ctx)->probe); }

int train_parse_args(int argc, char **argv, IjTrainConfig *out, IjRunOptions *ro)
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
    if (rc) return rc;
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
    *ro = (IjRunOptions){resume != NULL, force, strict, bucket_mb, check_every};
    *out = c;
    return 0;
}

int train_run_with_probes(const IjTrainConfig *c, const IjRunOptions *ro)
{
    ProbeHooks ph = {0};
    IjRunHooks hooks = {&ph, hook_start, hook_probe, hook_diagnose, hook_finish};
    return ij_train_run(c, ro, &hooks);
}

int cmd_train(int argc, char **argv)
{
    IjTrainConfig c;
    IjRunOptions ro;
    int rc = train_parse_args(argc, argv, &c, &ro);
    if (rc) return rc < 0 ? -1 : 0;
    return train_run_with_probes(&c, &ro);
}
