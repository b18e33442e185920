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

static int trainer_init(IjTrainer *t, const IjTrainConfig *cfg, const IjImageSet *data);

int ij_trainer_init(IjTrainer *t, const IjTrainConfig *cfg, const IjImageSet *data)
{
    memset(t, 0, sizeof *t);
    if (trainer_init(t, cfg, data) == 0) return 0;
    ij_trainer_free(t); /* whatever was allocated before the failure */
    return -1;
}

static int trainer_init(IjTrainer *t, const IjTrainConfig *cfg, const IjImageSet *data)
{
    t->cfg = *cfg;
    t->data = data;
    if (ij_train_config_validate(cfg) || ij_train_config_model(cfg, &t->mcfg)) return -1;
    if (data->channels != t->mcfg.channels)
        return ij_error("%s: images have %d channel(s), the model expects %d (--channels)",
                        data->source, data->channels, t->mcfg.channels);
    if (data->count < cfg->batch_size)
        return ij_error("%s: %d images are fewer than one batch of %d", data->source, data->count,
                        cfg->batch_size);
    IjBf16Path bf16 = IJ_BF16_OFF;
    if (cfg->use_bfloat16 && ij_bf16_path_choose(&bf16)) return -1;
    if (ij_model_init(&t->model, &t->mcfg, (uint64_t)cfg->seed)) return -1;
    ij_model_set_bf16(&t->model, bf16);
    t->model.loss_kind = strcmp(cfg->loss, "l2") == 0 ? IJ_LOSS_L2 : IJ_LOSS_SMOOTH_L1;
    t->model.target_norm = cfg->target_norm;
    t->adam_m = ij_alloc_aligned(sizeof(float) * t->model.tab.n_total);
    t->adam_v = ij_alloc_aligned(sizeof(float) * t->model.tab.n_total);

    IjMaskParams mp;
    if (ij_train_config_masks(cfg, ij_grid(&t->mcfg), cfg->batch_size, &mp) ||
        ij_mask_sampler_init(&t->sampler, &mp))
        return -1;

    t->ipe = data->count / cfg->batch_size;
    t->sched = (IjSchedule){cfg->start_lr, cfg->lr, cfg->final_lr, cfg->weight_decay,
                            cfg->final_weight_decay, cfg->ema[0], cfg->ema[1],
                            (int64_t)(cfg->ipe_scale * cfg->epochs * t->ipe),
                            (int64_t)(cfg->warmup * t->ipe), !cfg->use_ema};
    t->total_steps = (int64_t)cfg->epochs * t->ipe;
    if (cfg->max_steps > 0 && cfg->max_steps < t->total_steps) t->total_steps = cfg->max_steps;

    ij_augment_defaults(&t->aug, t->mcfg.channels, t->mcfg.img_size);
    memcpy(t->aug.scale, cfg->crop_scale, sizeof t->aug.scale);
    memcpy(t->aug.ratio, cfg->crop_ratio, sizeof t->aug.ratio);
    t->aug.hflip = cfg->use_horizontal_flip;
    /* data parallel: this rank's slice of every batch; the masks are the global batch's */
    int ranks = ij_dist_size();
    if (cfg->batch_size < ranks)
        return ij_error("--batch-size %d is smaller than the %d ranks (each needs a part of every batch)",
                        cfg->batch_size, ranks);
    ij_dist_slice(cfg->batch_size, ij_dist_rank(), ranks, &t->batch_lo, &t->batch_hi);
    if (ranks > 1)
        ij_mask_slice_init(&t->slice, cfg->batch_size, t->sampler.p.num_targets, ij_num_patches(&t->mcfg));
    t->grad_bucket = (size_t)1 << 20;  /* 4 MiB */
    size_t img = (size_t)t->mcfg.channels * t->mcfg.img_size * t->mcfg.img_size;
    t->batch = ij_alloc_aligned(sizeof(float) * img * (size_t)cfg->batch_size);
    return 0;
}

void ij_trainer_free(IjTrainer *t)
{
    ij_model_free(&t->model);
    ij_mask_sampler_free(&t->sampler);
    ij_loader_free(&t->loader);
    ij_mask_slice_free(&t->slice);
    ij_grad_reducer_free(&t->reducer);
    free(t->adam_m);
    free(t->adam_v);
    free(t->batch);
    memset(t, 0, sizeof *t);
}

/* The loader starts at the first step, once a resumed run knows its step and
 * a data-parallel one its slice of the batch. */
static int start_loader(IjTrainer *t)
{
    IjLoaderConfig lc = {t->data, t->aug, t->sampler.p, (uint64_t)t->cfg.seed, t->batch_lo, t->batch_hi,
                         t->cfg.loader_threads, 0};
    return ij_loader_init(&t->loader, &lc, t->step);
}

int ij_trainer_step(IjTrainer *t, IjStepStats *st)
{
    int B = t->cfg.batch_size;
    int64_t s = t->step + 1;
    IjScheduleValues v = ij_schedule_at(&t->sched, s);
    if (!t->loader.st && start_loader(t)) return -1;
    if (ij_dist_size() > 1 && !t->reducer.grads)
        ij_grad_reducer_init(&t->reducer, t->model.grads, t->model.tab.n_total, t->grad_bucket);
    double t0 = ij_now();
    const IjBatch *batch = ij_loader_next(&t->loader);
    if (!batch) return -1;
    IJ_ASSERT(batch->step == t->step);
    const IjMasks *mk = batch->masks;
    int64_t epoch = batch->epoch;
    double ms_data = batch->ms_data, ms_masks = batch->ms_masks;
    int ctx = mk->ctx_off[B] / B, tgt = mk->tgt_off[mk->num_targets * B] / B;
    double t2 = ij_now();

    /* Data parallel: the model sees this rank's images and their masks, with the loss
     * averaged over the WHOLE batch's target elements, so that the sums over the ranks
     * of losses and gradients are the single-process ones (however ragged the masks).
     * Gradient buckets start their allreduce during the backward pass. */
    const IjMasks *part = mk;
    if (t->batch_lo != 0 || t->batch_hi != B) {
        part = ij_mask_slice(&t->slice, mk, t->batch_lo, t->batch_hi);
        t->model.loss_denom = (size_t)mk->tgt_off[mk->num_targets * B] * (size_t)t->mcfg.embed_dim;
    }
    if (t->reducer.grads) {
        t->model.grads_ready = ij_grad_reducer_ready;
        t->model.grads_ready_ctx = &t->reducer;
    }
    float loss = ij_model_step(&t->model, batch->images, part, 1);
    IjStepFlops flops = st ? ij_model_step_flops(&t->model, part, 1) : (IjStepFlops){0};
    t->model.loss_denom = 0;  /* other uses of the model (diagnostics) see a plain model */
    t->model.grads_ready = NULL;
    ij_loader_release(&t->loader); /* batch and mk are gone from here on */
    double t3 = ij_now();
    double loss_sum = loss;
    if (ij_grad_reducer_finish(&t->reducer) || ij_dist_sum(&loss_sum, 1)) return -1;
    loss = (float)loss_sum;
    double tc = ij_now();
    if (!isfinite(loss))
        return ij_error("step %lld: the loss is %s; stopping before the update (lower --lr, or check the data)",
                        (long long)s, isnan(loss) ? "NaN" : "infinite");
    IjAdamW opt = IJ_ADAMW_DEFAULT;
    ij_adamw_ema_step(t->model.be, t->model.params, t->model.grads, t->adam_m, t->adam_v, &t->model.tab, &opt, v.lr, v.wd, s,
                      t->model.target, t->model.tab.n_encoder, v.momentum);
    double t4 = ij_now();

    t->step = s;
    t->train_seconds += t4 - t0;
    if (st) {
        *st = (IjStepStats){loss, v.lr, v.wd, v.momentum, s, epoch,
                            1e3 * (t2 - t0), ms_data, ms_masks, 1e3 * (t3 - t2), 1e3 * (t4 - tc),
                            1e3 * (t4 - t0), ctx, tgt, 1e3 * (tc - t3), flops};
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
                          "loss", t->cfg.loss, "train_seconds", secs,
                          "use_bfloat16", t->model.bf16 ? "true" : "false",
                          "matmul_path", t->model.bf16 ? ij_bf16_path_name(t->model.bf16) : "float32"};
    return ij_checkpoint_save(&t->model, path, ex, 2, meta, 8);
}

int ij_trainer_load(IjTrainer *t, const char *path)
{
    StFile f = {0};
    if (ij_st_open(&f, path)) return -1;
    IjConfig c;
    int rc = ij_config_from_meta(&f, &c);
    if (!rc && memcmp(&c, &t->mcfg, sizeof c) != 0)
        rc = ij_error("%s: the checkpoint's model configuration differs from the run's", path);
    IjExtraSection ex[2] = {{"adam_m", t->adam_m}, {"adam_v", t->adam_v}};
    if (!rc && ij_checkpoint_load_file(&t->model, &f, ex, 2, NULL, 0) != 0) rc = -1;
    const char *step = ij_st_meta(&f, "step");
    char *end = NULL;
    long long sv = step ? strtoll(step, &end, 10) : -1;
    if (!rc && (!step || *end || sv < 0))
        rc = ij_error("%s: metadata has no valid 'step' (not a training checkpoint?)", path);
    if (!rc) t->step = sv;
    const char *secs = ij_st_meta(&f, "train_seconds");
    if (!rc && secs) t->train_seconds = strtod(secs, NULL);
    ij_st_close(&f);
    return rc;
}

int ij_trainer_broadcast(IjTrainer *t)
{
    const IjTable *tab = &t->model.tab;
    double scalars[2] = {(double)t->step, t->train_seconds};
    if (ij_dist_bcast(t->model.params, sizeof(float) * tab->n_total) ||
        ij_dist_bcast(t->model.target, sizeof(float) * tab->n_encoder) ||
        ij_dist_bcast(t->adam_m, sizeof(float) * tab->n_total) ||
        ij_dist_bcast(t->adam_v, sizeof(float) * tab->n_total) || ij_dist_bcast(scalars, sizeof scalars))
        return -1;
    t->step = (int64_t)scalars[0];
    t->train_seconds = scalars[1];
    return 0;
}

int ij_trainer_check_replicas(const IjTrainer *t)
{
    const IjTable *tab = &t->model.tab;
    const float *bufs[4] = {t->model.params, t->model.target, t->adam_m, t->adam_v};
    size_t n[4] = {tab->n_total, tab->n_encoder, tab->n_total, tab->n_total};
    const char *names[4] = {"parameters", "target encoder weights", "AdamW first moments",
                            "AdamW second moments"};
    return ij_dist_check_replicas(bufs, n, names, 4, t->step);
}
