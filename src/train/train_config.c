/* train_config.c: the training settings table (one row per setting: YAML key, flag, field, bounds,
 * help), the defaults, the flags the command line is built from, and validation. The YAML reader and
 * writer (config_yaml.c) walk the same table, so every key that is read is also written.
 */
#include "train/train_config.h"

#include "core/error.h"
#include "train/masks.h"
#include "train/settings_table.h"

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F(field) offsetof(IjTrainConfig, field), sizeof(((IjTrainConfig *)0)->field)
#define NOAUG "not supported: only RandomResizedCrop and horizontal flip are implemented"
#define NOLOAD "not supported: resume a run with --resume"
#define NOFLAG NULL, 1, 0, NULL, 0, NULL
#define FLAG(name, lo, hi, help) name, lo, hi, NULL, 0, help
#define SHAPE_FLAG(name, shape, preset0, help) name, 1, 0, shape, preset0, help
#define BIG (1 << 30)

const IjSettingRow ij_settings[] = {
    {"data", "batch_size", K_INT, F(batch_size), 0, NULL, FLAG("batch-size", 1, 1 << 20, "images per step")},
    {"data", "color_jitter_strength", K_ZERO, 0, 0, 0, NOAUG, NOFLAG},
    {"data", "crop_scale", K_PAIR, F(crop_scale), 0, NULL, FLAG("crop-scale", 0, 1, "RandomResizedCrop area range")},
    {"data", "crop_size", K_INT, F(crop_size), 0, NULL,
     SHAPE_FLAG("img-size", "img_size", 0, "crop side in pixels (model input)")},
    {"data", "image_folder", K_FOLDER, 0, 0, 0, NULL, NOFLAG},
    {"data", "num_workers", K_ANY, 0, 0, 0, "0", NOFLAG},
    {"data", "pin_mem", K_ANY, 0, 0, 0, "false", NOFLAG},
    {"data", "root_path", K_ROOT, 0, 0, 0, NULL, NOFLAG},
    {"data", "use_color_distortion", K_OFF, 0, 0, 0, NOAUG, NOFLAG},
    {"data", "use_gaussian_blur", K_OFF, 0, 0, 0, NOAUG, NOFLAG},
    {"data", "use_horizontal_flip", K_BOOL, F(use_horizontal_flip), 0, NULL, FLAG("hflip", 1, 0, "random horizontal flips")},
    {"data", "dataset", K_STR, F(data), 1, NULL,
     FLAG("data", 1, 0, "fashion-mnist, a folder of IDX files, a folder of class folders of JPEG/PNG, or tar shards "
                        "(a.tar,b.tar or 'train-*.tar')")},
    {"data", "crop_ratio", K_PAIR, F(crop_ratio), 1, NULL, FLAG("crop-ratio", 0.01, 100, "RandomResizedCrop aspect range")},
    {"data", "channels", K_INT, F(channels), 1, NULL, SHAPE_FLAG("channels", "channels", 1, "image channels: 1 or 3 (0: the images' own: IDX 1, JPEG/PNG 3)")},
    {"data", "decode", K_STR, F(decode), 1, NULL,
     FLAG("decode", 1, 0, "once: decode images at load, keep pixels; per-batch: keep the files, decode in the loader "
                          "(less memory, any image sizes)")},
    {"data", "loader_threads", K_INT, F(loader_threads), 1, NULL,
     FLAG("loader-threads", 0, 64, "background threads building the next batches (0: build in the training thread)")},

    {"logging", "folder", K_STR, F(folder), 0, NULL, FLAG("out", 1, 0, "run folder")},
    {"logging", "write_tag", K_ANY, 0, 0, 0, "jepa", NOFLAG},
    {"logging", "max_steps", K_INT, F(max_steps), 1, NULL,
     FLAG("steps", 0, INT_MAX, "stop after this many steps in total (0: run all epochs)")},
    {"logging", "max_minutes", K_DBL, F(max_minutes), 1, NULL,
     FLAG("minutes", 0, 1e9, "stop cleanly after this much wall time (0: no limit)")},
    {"logging", "log_every", K_INT, F(log_every), 1, NULL, FLAG("log-every", 1, BIG, "steps between metric lines")},
    {"logging", "checkpoint_every", K_INT, F(checkpoint_every), 1, NULL,
     FLAG("checkpoint-every", 1, BIG, "steps between checkpoints")},
    {"logging", "probe_every", K_INT, F(probe_every), 1, NULL,
     FLAG("probe-every", 0, BIG, "steps between online probes of the target encoder (0: off)")},
    {"logging", "probe_fit", K_INT, F(probe_fit), 1, NULL,
     FLAG("probe-fit", 10, 1 << 24, "online probe: training images it fits on")},
    {"logging", "probe_held", K_INT, F(probe_held), 1, NULL,
     FLAG("probe-held", 10, 1 << 24, "online probe: other training images it is scored on")},
    {"logging", "probe_pool", K_STR, F(probe_pool), 1, NULL,
     FLAG("probe-pool", 1, 0, "online probe features: last (average of the final tokens) or last4 (average pools of "
                              "the 4 last blocks)")},
    {"logging", "probe_at_start", K_BOOL, F(probe_at_start), 1, NULL,
     FLAG("probe-start", 1, 0, "online probe also at step 0 (the random-init encoder)")},
    {"logging", "diag_every", K_INT, F(diag_every), 1, NULL,
     FLAG("diag-every", 0, BIG, "steps between collapse diagnostics on one held-out batch (0: only with the probes)")},
    {"logging", "save_every_epochs", K_INT, F(save_every_epochs), 1, NULL,
     FLAG("save-every-epochs", 0, 1 << 20, "also keep checkpoint-epochN every N epochs (0: no)")},
    {"logging", "threads", K_INT, F(threads), 1, NULL, FLAG("threads", 0, 4096, "CPU threads (0: all cores)")},

    {"mask", "allow_overlap", K_BOOL, F(allow_overlap), 0, NULL,
     FLAG("allow-overlap", 1, 0, "the context may include target tokens")},
    {"mask", "aspect_ratio", K_PAIR, F(aspect_ratio), 0, NULL, FLAG("target-aspect", 0.01, 100, "target block aspect range")},
    {"mask", "enc_mask_scale", K_PAIR, F(enc_mask_scale), 0, NULL, FLAG("context-scale", 0, 1, "context block area range")},
    {"mask", "min_keep", K_INT, F(min_keep), 0, NULL, FLAG("min-keep", 0, 1 << 20, "least context tokens")},
    {"mask", "num_enc_masks", K_INT, F(num_enc_masks), 0, NULL, NOFLAG}, /* only 1: validate says so */
    {"mask", "num_pred_masks", K_INT, F(num_pred_masks), 0, NULL, FLAG("num-targets", 1, 64, "target blocks per image")},
    {"mask", "patch_size", K_INT, F(patch_size), 0, NULL, SHAPE_FLAG("patch-size", "patch_size", 0, "patch side in pixels")},
    {"mask", "pred_mask_scale", K_PAIR, F(pred_mask_scale), 0, NULL, FLAG("target-scale", 0, 1, "target block area range")},
    {"mask", "mode", K_STR, F(masks), 1, NULL,
     FLAG("masks", 1, 0, NULL)}, /* help: the modes of train/masks.c (ij_train_config_flags) */
    {"mask", "target_ratio", K_DBL, F(target_ratio), 1, NULL,
     FLAG("target-ratio", 0, 1, "block / random masks: target area fraction")},

    {"meta", "copy_data", K_ANY, 0, 0, 0, "false", NOFLAG},
    {"meta", "load_checkpoint", K_OFF, 0, 0, 0, NOLOAD, NOFLAG},
    {"meta", "model_name", K_STR, F(model_name), 0, NULL, FLAG("model", 1, 0, "encoder preset (vit_tiny ... vit_giant)")},
    {"meta", "pred_depth", K_INT, F(pred_depth), 0, NULL, SHAPE_FLAG("pred-depth", "pred_depth", 0, "predictor blocks")},
    {"meta", "pred_emb_dim", K_INT, F(pred_emb_dim), 0, NULL, SHAPE_FLAG("pred-dim", "pred_embed_dim", 0, "predictor width")},
    {"meta", "read_checkpoint", K_NULL, 0, 0, 0, NOLOAD, NOFLAG},
    {"meta", "use_bfloat16", K_BOOL, F(use_bfloat16), 0, NULL,
     FLAG("bf16", 1, 0, "bf16 operands in the matrix products, float32 sums and weights (IJEPA_BF16_PATH=emulated|"
                        "avx512bf16 forces a path)")},
    {"meta", "seed", K_INT, F(seed), 1, NULL,
     FLAG("seed", 0, INT_MAX, "seed of init, data order, crops and mask positions")},
    {"meta", "loss", K_STR, F(loss), 1, NULL, FLAG("loss", 1, 0, "smooth_l1 or l2")},
    {"meta", "embed_dim", K_INT, F(embed_dim), 1, NULL, SHAPE_FLAG("embed-dim", "embed_dim", 1, "encoder width (0: preset)")},
    {"meta", "depth", K_INT, F(depth), 1, NULL, SHAPE_FLAG("depth", "depth", 1, "encoder blocks (0: preset)")},
    {"meta", "num_heads", K_INT, F(num_heads), 1, NULL, SHAPE_FLAG("heads", "num_heads", 1, "attention heads (0: preset)")},
    {"meta", "mlp_dim", K_INT, F(mlp_dim), 1, NULL,
     SHAPE_FLAG("mlp-dim", "mlp_dim", 1, "encoder MLP width (0: 4 x width, or the preset's)")},
    {"meta", "target_norm", K_BOOL, F(target_norm), 1, NULL,
     FLAG("target-norm", 1, 0, "LayerNorm (no affine) on the targets")},

    {"optimization", "ema", K_PAIR, F(ema), 0, NULL, NULL, 0, 1, NULL, 0, "EMA momentum start, end"},
    {"optimization", "epochs", K_INT, F(epochs), 0, NULL, FLAG("epochs", 1, 1 << 20, "epochs (sets the schedule length)")},
    {"optimization", "final_lr", K_DBL, F(final_lr), 0, NULL, FLAG("final-lr", 0, 10, "learning rate at the end")},
    {"optimization", "final_weight_decay", K_DBL, F(final_weight_decay), 0, NULL,
     FLAG("final-weight-decay", 0, 10, "weight decay at the end")},
    {"optimization", "ipe_scale", K_DBL, F(ipe_scale), 0, NULL, FLAG("ipe-scale", 1e-6, 1e6, "schedule length scale")},
    {"optimization", "lr", K_DBL, F(lr), 0, NULL, FLAG("lr", 0, 1e9, "peak learning rate")},
    {"optimization", "start_lr", K_DBL, F(start_lr), 0, NULL, FLAG("start-lr", 0, 1e9, "learning rate at step 1")},
    {"optimization", "warmup", K_DBL, F(warmup), 0, NULL, FLAG("warmup", 0, 1e6, "warmup length in epochs")},
    {"optimization", "weight_decay", K_DBL, F(weight_decay), 0, NULL,
     FLAG("weight-decay", 0, 10, "weight decay at the start")},
    {"optimization", "use_ema", K_BOOL, F(use_ema), 1, NULL, NULL, 1, 0, NULL, 0, "EMA target encoder"},
    {NULL, NULL, K_EMA, 0, 0, 0, NULL,
     FLAG("ema", 1, 0, "EMA momentum start,end; off: no EMA (the target is a copy of the encoder after each step)")},
};
const size_t ij_settings_count = sizeof ij_settings / sizeof ij_settings[0];
_Static_assert(sizeof ij_settings / sizeof ij_settings[0] <= IJ_SETTINGS_MAX, "raise IJ_SETTINGS_MAX");

void ij_train_config_defaults(IjTrainConfig *c)
{
    memset(c, 0, sizeof *c);
    ij_setting_set_text(c->data, sizeof c->data, "fashion-mnist");
    c->batch_size = 128;
    c->crop_scale[0] = 0.3, c->crop_scale[1] = 1.0;
    c->crop_ratio[0] = 0.75, c->crop_ratio[1] = 4.0 / 3.0;
    c->crop_size = 28;
    c->use_horizontal_flip = 0;
    ij_setting_set_text(c->masks, sizeof c->masks, "official");
    c->num_enc_masks = 1;
    c->num_pred_masks = 4;
    c->enc_mask_scale[0] = 0.85, c->enc_mask_scale[1] = 1.0;
    c->pred_mask_scale[0] = 0.15, c->pred_mask_scale[1] = 0.2;
    c->aspect_ratio[0] = 0.75, c->aspect_ratio[1] = 1.5;
    c->min_keep = 4; /* the official value for 32x32 images (10 for 224) */
    c->allow_overlap = 0;
    c->patch_size = 4;
    c->target_ratio = 0.6;
    ij_setting_set_text(c->model_name, sizeof c->model_name, "vit_tiny");
    c->pred_depth = 6, c->pred_emb_dim = 96;
    c->channels = 0; /* the images' own (ij_train_run resolves it) */
    ij_setting_set_text(c->decode, sizeof c->decode, "once");
    c->loader_threads = 1;
    c->seed = 0;
    ij_setting_set_text(c->loss, sizeof c->loss, "smooth_l1");
    ij_setting_set_text(c->probe_pool, sizeof c->probe_pool, "last");
    c->target_norm = 1;
    c->ema[0] = 0.996, c->ema[1] = 1.0;
    c->use_ema = 1;
    c->epochs = 300;
    c->final_lr = 1e-6, c->final_weight_decay = 0.4, c->lr = 1e-3, c->start_lr = 2e-4;
    c->weight_decay = 0.04;
    c->warmup = 40;
    c->ipe_scale = 1.0;
    ij_setting_set_text(c->folder, sizeof c->folder, "runs/ijepa");
    c->log_every = 50;
    c->checkpoint_every = 500;
    c->probe_every = 0;
    c->probe_fit = 5000;
    c->probe_held = 2000;
    c->probe_at_start = 1;
}

/* ---- the table ---- */

/* The bounds of a number or pair setting; 0 when it has none. */
int ij_setting_bounds(const IjSettingRow *k, double *lo, double *hi)
{
    if (k->shape) {
        const IjShapeField *f = ij_shape_field(k->shape);
        *lo = k->preset0 ? 0 : f->min, *hi = f->max;
        return 1;
    }
    *lo = k->min, *hi = k->max;
    return (k->type == K_INT || k->type == K_DBL || k->type == K_PAIR) && k->min <= k->max;
}

/* "out of range [lo, hi]" when the field of k in c is outside its bounds, else NULL. */
const char *ij_setting_out_of_range(const IjSettingRow *k, const IjTrainConfig *c, char *buf, size_t size)
{
    double lo, hi;
    if (!ij_setting_bounds(k, &lo, &hi)) return NULL;
    const char *field = (const char *)c + k->off;
    double v[2] = {0, 0};
    int n = 1;
    if (k->type == K_INT) v[0] = *(const int *)field;
    else if (k->type == K_DBL) v[0] = *(const double *)field;
    else memcpy(v, field, sizeof v), n = 2;
    for (int i = 0; i < n; i++) {
        if (v[i] >= lo && v[i] <= hi) continue; /* NaN fails */
        char a[3][32];
        const double x[3] = {v[i], lo, hi};
        for (int j = 0; j < 3; j++) /* integers in full, other numbers short */
            snprintf(a[j], sizeof a[j], x[j] == (long long)x[j] ? "%.0f" : "%g", x[j]);
        snprintf(buf, size, "%s is out of range [%s, %s]", a[0], a[1], a[2]);
        return buf;
    }
    return NULL;
}

int ij_train_config_flags(IjSettingFlag *out, int cap)
{
    int n = 0;
    for (size_t i = 0; i < ij_settings_count; i++) {
        const IjSettingRow *k = &ij_settings[i];
        if (!k->flag) continue;
        if (n == cap) return -1;
        IjSettingFlag *f = &out[n++];
        static const IjSettingType types[] = {[K_INT] = IJ_SETTING_INT, [K_DBL] = IJ_SETTING_DOUBLE,
                                              [K_BOOL] = IJ_SETTING_BOOL, [K_PAIR] = IJ_SETTING_PAIR,
                                              [K_STR] = IJ_SETTING_TEXT, [K_EMA] = IJ_SETTING_EMA};
        *f = (IjSettingFlag){k->flag, k->section, k->key, types[k->type], k->off, k->size, 1, 0, k->help};
        if (!k->help) { /* mask.mode: the list of the sampler's table */
            static char help[160];
            snprintf(help, sizeof help, "mask sampler: %s (train/masks.h)", ij_mask_mode_list());
            f->help = help;
        }
        ij_setting_bounds(k, &f->min, &f->max);
    }
    return n;
}

int ij_train_config_set_ema(IjTrainConfig *c, const char *v)
{
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

/* ---- checks ---- */

/* 0 < lo <= hi <= 1 (written so that NaN fails). */
static int unit_pair(const double v[2]) { return v[0] > 0 && v[0] <= v[1] && v[1] <= 1; }

int ij_train_config_validate(const IjTrainConfig *c)
{
    /* every setting within its bounds (the table's), then what depends on several */
    for (size_t i = 0; i < ij_settings_count; i++) {
        char range[128];
        const char *bad = ij_settings[i].section ? ij_setting_out_of_range(&ij_settings[i], c, range, sizeof range) : NULL;
        if (bad && ij_settings[i].flag) return ij_error("%s.%s (--%s): %s", ij_settings[i].section, ij_settings[i].key, ij_settings[i].flag, bad);
        if (bad) return ij_error("%s.%s: %s", ij_settings[i].section, ij_settings[i].key, bad);
    }
#define NEED(cond, ...) \
    do { \
        if (!(cond)) return ij_error(__VA_ARGS__); \
    } while (0)
#define UNIT(name, v) NEED(unit_pair(v), "%s (%g, %g) must satisfy 0 < min <= max <= 1", name, (v)[0], (v)[1])
#define POS(name, v) NEED((v)[0] > 0 && (v)[0] <= (v)[1] && isfinite((v)[1]), \
                          "%s (%g, %g) must satisfy 0 < min <= max", name, (v)[0], (v)[1])
    NEED(c->data[0], "data.dataset is empty");
    UNIT("data.crop_scale", c->crop_scale);
    POS("data.crop_ratio", c->crop_ratio);
    NEED(c->channels == 0 || c->channels == 1 || c->channels == 3, "data.channels must be 0 (the images' own), 1 or 3, got %d", c->channels);
    NEED(!strcmp(c->decode, "once") || !strcmp(c->decode, "per-batch"),
         "data.decode must be 'once' or 'per-batch', got '%s'", c->decode);
    NEED(c->crop_size >= c->patch_size && c->crop_size % c->patch_size == 0,
         "data.crop_size %d is not a positive multiple of mask.patch_size %d", c->crop_size, c->patch_size);
    IjMaskMode mode;
    NEED(ij_mask_mode_parse(c->masks, &mode) == 0, "mask.mode must be %s, got '%s'", ij_mask_mode_list(), c->masks);
    NEED(c->target_ratio > 0 && c->target_ratio < 1, "mask.target_ratio must be in (0, 1), got %g", c->target_ratio);
    NEED(mode < IJ_MASKS_BLOCK || !c->allow_overlap,
         "mask.allow_overlap has no meaning with mask.mode %s (its context is the complement of the targets)",
         c->masks);
    NEED(c->num_enc_masks == 1, "mask.num_enc_masks %d is not supported: only 1 context block", c->num_enc_masks);
    UNIT("mask.enc_mask_scale", c->enc_mask_scale);
    UNIT("mask.pred_mask_scale", c->pred_mask_scale);
    POS("mask.aspect_ratio", c->aspect_ratio);
    NEED(!strcmp(c->probe_pool, "last") || !strcmp(c->probe_pool, "last4"),
         "logging.probe_pool must be 'last' or 'last4', got '%s'", c->probe_pool);
    NEED(!strcmp(c->loss, "smooth_l1") || !strcmp(c->loss, "l2"), "meta.loss must be 'smooth_l1' or 'l2', got '%s'",
         c->loss);
    NEED(c->warmup <= c->epochs, "optimization.warmup %g must be in [0, epochs = %d]", c->warmup, c->epochs);
    NEED(c->ema[0] <= c->ema[1], "optimization.ema (%g, %g) must satisfy 0 <= start <= end <= 1", c->ema[0],
         c->ema[1]);
    NEED(c->folder[0], "logging.folder is empty");
#undef NEED
#undef UNIT
#undef POS
    IjTrainConfig shape = *c; /* the model's shape; channels 0 (the images' own) is settled by the run */
    if (!shape.channels) shape.channels = 1;
    IjConfig m;
    return ij_train_config_model(&shape, &m);
}

int ij_train_config_masks(const IjTrainConfig *c, int grid, int batch, IjMaskParams *mp)
{
    ij_mask_params_default(mp, grid, batch);
    if (ij_mask_mode_parse(c->masks, &mp->mode)) return -1;
    mp->target_ratio = c->target_ratio;
    mp->num_targets = c->num_pred_masks;
    memcpy(mp->tgt_scale, c->pred_mask_scale, sizeof mp->tgt_scale);
    memcpy(mp->tgt_aspect, c->aspect_ratio, sizeof mp->tgt_aspect);
    memcpy(mp->ctx_scale, c->enc_mask_scale, sizeof mp->ctx_scale);
    mp->min_keep = c->min_keep;
    mp->allow_overlap = c->allow_overlap;
    mp->seed = (uint64_t)c->seed;
    return 0;
}

int ij_train_config_model(const IjTrainConfig *c, IjConfig *m)
{
    if (ij_config_preset(m, c->model_name)) return -1;
    m->img_size = c->crop_size;
    m->channels = c->channels;
    m->patch_size = c->patch_size;
    if (c->embed_dim) m->embed_dim = c->embed_dim, m->mlp_dim = 4 * c->embed_dim;
    if (c->depth) m->depth = c->depth;
    if (c->num_heads) m->num_heads = c->num_heads;
    if (c->mlp_dim) m->mlp_dim = c->mlp_dim;
    m->pred_dim = c->pred_emb_dim;
    m->pred_depth = c->pred_depth;
    m->pred_mlp_dim = 4 * c->pred_emb_dim;
    return ij_config_validate(m);
}
