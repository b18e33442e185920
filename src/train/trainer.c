/* trainer.c: see trainer.h. */
#include "train/trainer.h"

#include "core/error.h"
#include "core/rng.h"
#include "core/timer.h"
#include "io/checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PURPOSE_PERMUTATION = 0x9e37 };

int ij_trainer_init(IjTrainer *t, const IjTrainConfig *cfg, const IjImageSet *data)
{
    memset(t, 0, sizeof *t);
    t->cfg = *cfg;
    t->data = data;
    if (ij_train_config_validate(cfg) || ij_train_config_model(cfg, &t->mcfg)) return -1;
    if (data->channels != t->mcfg.channels)
        return ij_error("%s: images have %d channel(s), the model expects %d (--channels)",
                        data->source, data->channels, t->mcfg.channels);
    if (data->count < cfg->batch_size)
        return ij_error("%s: %d images are fewer than one batch of %d", data->source, data->count,
                        cfg->batch_size);
    if (ij_model_init(&t->model, &t->mcfg, (uint64_t)cfg->seed)) return -1;
    t->model.loss_kind = strcmp(cfg->loss, "l2") == 0 ? IJ_LOSS_L2 : IJ_LOSS_SMOOTH_L1;
    t->adam_m = ij_alloc_aligned(sizeof(float) * t->model.tab.n_total);
    t->adam_v = ij_alloc_aligned(sizeof(float) * t->model.tab.n_total);

    IjMaskParams mp;
    ij_mask_params_default(&mp, ij_grid(&t->mcfg), cfg->batch_size);
    mp.mode = strcmp(cfg->masks, "fixed") == 0 ? IJ_MASKS_FIXED : IJ_MASKS_OFFICIAL;
    mp.num_targets = cfg->num_pred_masks;
    memcpy(mp.tgt_scale, cfg->pred_mask_scale, sizeof mp.tgt_scale);
    memcpy(mp.tgt_aspect, cfg->aspect_ratio, sizeof mp.tgt_aspect);
    memcpy(mp.ctx_scale, cfg->enc_mask_scale, sizeof mp.ctx_scale);
    mp.min_keep = cfg->min_keep;
    mp.allow_overlap = cfg->allow_overlap;
    mp.seed = (uint64_t)cfg->seed;
    if (ij_mask_sampler_init(&t->sampler, &mp)) return -1;

    t->ipe = data->count / cfg->batch_size;
    t->sched = (IjSchedule){cfg->start_lr, cfg->lr, cfg->final_lr, cfg->weight_decay,
                            cfg->final_weight_decay, cfg->ema[0], cfg->ema[1],
                            (int64_t)(cfg->ipe_scale * cfg->epochs * t->ipe),
                            (int64_t)(cfg->warmup * t->ipe)};
    t->total_steps = (int64_t)cfg->epochs * t->ipe;
    if (cfg->max_steps > 0 && cfg->max_steps < t->total_steps) t->total_steps = cfg->max_steps;

    ij_augment_defaults(&t->aug, t->mcfg.channels, t->mcfg.img_size);
    memcpy(t->aug.scale, cfg->crop_scale, sizeof t->aug.scale);
    memcpy(t->aug.ratio, cfg->crop_ratio, sizeof t->aug.ratio);
    t->aug.hflip = cfg->use_horizontal_flip;
    t->perm = ij_malloc(sizeof(int) * (size_t)data->count);
    t->perm_epoch = -1;
    size_t img = (size_t)t->mcfg.channels * t->mcfg.img_size * t->mcfg.img_size;
    t->batch = ij_alloc_aligned(sizeof(float) * img * (size_t)cfg->batch_size);
    return 0;
}

void ij_trainer_free(IjTrainer *t)
{
    ij_model_free(&t->model);
    ij_mask_sampler_free(&t->sampler);
    free(t->adam_m);
    free(t->adam_v);
    free(t->perm);
    free(t->batch);
    memset(t, 0, sizeof *t);
}

/* The epoch's order: a Fisher-Yates shuffle from (seed, epoch). */
static void epoch_permutation(IjTrainer *t, int64_t epoch)
{
    if (t->perm_epoch == epoch) return;
    int n = t->data->count;
    for (int i = 0; i < n; i++) t->perm[i] = i;
    IjRng r = ij_rng((uint64_t)t->cfg.seed, PURPOSE_PERMUTATION, (uint64_t)epoch);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)ij_rng_below(&r, (uint64_t)i + 1);
        int tmp = t->perm[i];
        t->perm[i] = t->perm[j];
        t->perm[j] = tmp;
    }
    t->perm_epoch = epoch;
}

int ij_trainer_step(IjTrainer *t, IjStepStats *st)
{
    const IjImageSet *d = t->data;
    int B = t->cfg.batch_size;
    int64_t s = t->step + 1;
    int64_t epoch = t->step / t->ipe, k = t->step % t->ipe;
    IjScheduleValues v = ij_schedule_at(&t->sched, s);
    double t0 = ij_now();

    epoch_permutation(t, epoch);
    size_t img = (size_t)t->mcfg.channels * t->mcfg.img_size * t->mcfg.img_size;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        int idx = t->perm[k * B + b];
        ij_augment_image(t->batch + (size_t)b * img, ij_imageset_image(d, idx), d->height, d->width,
                         d->channels, &t->aug, (uint64_t)t->cfg.seed, (uint64_t)epoch, (uint64_t)idx);
    }
    double t1 = ij_now();
    if (ij_mask_sample(&t->sampler, (uint64_t)t->step)) return -1;
    const IjMasks *mk = &t->sampler.masks;
    double t2 = ij_now();

    float loss = ij_model_step(&t->model, t->batch, mk, 1);
    double t3 = ij_now();
    if (!isfinite(loss))
        return ij_error("step %lld: the loss is %s; stopping before the update (lower --lr, or check the data)",
                        (long long)s, isnan(loss) ? "NaN" : "infinite");
    IjAdamW opt = IJ_ADAMW_DEFAULT;
    ij_adamw_step(t->model.params, t->model.grads, t->adam_m, t->adam_v, &t->model.tab, &opt, v.lr,
                  v.wd, s);
    ij_ema_update(t->model.target, t->model.params, t->model.tab.n_encoder, v.momentum);
    double t4 = ij_now();

    t->step = s;
    t->train_seconds += t4 - t0;
    if (st) {
        *st = (IjStepStats){loss, v.lr, v.wd, v.momentum, s, epoch,
                            1e3 * (t1 - t0), 1e3 * (t2 - t1), 1e3 * (t3 - t2), 1e3 * (t4 - t3),
                            1e3 * (t4 - t0), mk->ctx_off[B] / B, mk->tgt_off[mk->num_targets * B] / B};
    }
    return 0;
}

int ij_trainer_save(const IjTrainer *t, const char *path)
{
    IjExtraSection ex[2] = {{"adam_m", t->adam_m}, {"adam_v", t->adam_v}};
    char step[32], epoch[32], seed[32], secs[40];
    snprintf(step, sizeof step, "%lld", (long long)t->step);
    snprintf(secs, sizeof secs, "%.17g", t->train_seconds);
    snprintf(seed, sizeof seed, "%d", t->cfg.seed);
    snprintf(epoch, sizeof epoch, "%lld", (long long)(t->step / t->ipe));
    const char *meta[] = {"step", step, "epoch", epoch, "seed", seed, "masks", t->cfg.masks,
                          "loss", t->cfg.loss, "train_seconds", secs};
    return ij_checkpoint_save(&t->model, path, ex, 2, meta, 6);
}

int ij_trainer_load(IjTrainer *t, const char *path)
{
    StFile f = {0};
    if (st_open(&f, path)) return -1;
    IjConfig c;
    int rc = ij_config_from_meta(&f, &c);
    if (!rc && memcmp(&c, &t->mcfg, sizeof c) != 0)
        rc = ij_error("%s: the checkpoint's model configuration differs from the run's", path);
    IjExtraSection ex[2] = {{"adam_m", t->adam_m}, {"adam_v", t->adam_v}};
    if (!rc && ij_checkpoint_load_file(&t->model, &f, ex, 2, NULL, 0) != 0) rc = -1;
    const char *step = st_meta(&f, "step");
    char *end = NULL;
    long long sv = step ? strtoll(step, &end, 10) : -1;
    if (!rc && (!step || *end || sv < 0))
        rc = ij_error("%s: metadata has no valid 'step' (not a training checkpoint?)", path);
    if (!rc) t->step = sv;
    const char *secs = st_meta(&f, "train_seconds");
    if (!rc && secs) t->train_seconds = strtod(secs, NULL);
    st_close(&f);
    return rc;
}
