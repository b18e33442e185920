/* train_config.c: defaults, YAML load/save in the official I-JEPA layout, validation.
 *
 * One table of keys {section, key, type, offset} drives both the loader and the
 * writer, so every key that is read is also written, in the same place. The
 * layout is that of the facebookresearch/ijepa configs (sections data, logging,
 * mask, meta, optimization; keys sorted), with this program's
 * extension keys listed after the official ones of their section.
 *
 * Official keys with no meaning here are still accepted, as long as they keep
 * a harmless value: num_workers, pin_mem, copy_data, write_tag take any value;
 * use_bfloat16 is honoured: the model's matrix products take bf16 operands
 * (kernels/bf16.h; parameters and optimizer state stay float32, as in the
 * official run); color distortion, blur and jitter must stay off; checkpoint loading
 * must stay off (resume is `--resume`).
 *
 * YAML is parsed by libyaml into a node tree; node marks give the line numbers
 * in error messages. Numbers are written with the fewest of 15..17 significant
 * digits that read back to the same double, so save + load is bit-exact.
 */
#include "train/train_config.h"

#include "core/error.h"
#include "io/fsutil.h"
#include "train/masks.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

typedef enum {
    K_INT,    /* int */
    K_DBL,    /* double */
    K_BOOL,   /* int 0/1, YAML true/false */
    K_PAIR,   /* double[2], YAML list of 2 numbers */
    K_STR,    /* char[size] */
    K_ROOT,   /* data.root_path: joined with image_folder after loading */
    K_FOLDER, /* data.image_folder */
    K_ANY,    /* accepted, no effect; `note` is the value written */
    K_OFF,    /* must be false; `note` says why */
    K_ZERO,   /* must be 0; `note` says why */
    K_NULL,   /* must be null; `note` says why */
    K_EMA,    /* a flag alone (no YAML key): --ema on|off|A,B sets optimization.ema and use_ema */
} KeyType;

/* One setting: its YAML key (section NULL: a flag alone), its flag (NULL: YAML alone), where it
 * lives, its bounds and its help. A row with `shape` sets that field of the model and takes its
 * bounds from model/config.h (0 allowed as well when `preset0`: "the preset's"). */
typedef struct {
    const char *section, *key;
    KeyType type;
    size_t off, size;
    int ext; /* 1: this program's extension, not in the official configs */
    const char *note;
    const char *flag;
    double min, max; /* numbers and both ends of pairs, inclusive; min > max: unbounded */
    const char *shape;
    int preset0;
    const char *help;
} Key;

#define F(field) offsetof(IjTrainConfig, field), sizeof(((IjTrainConfig *)0)->field)
#define NOAUG "not supported: only RandomResizedCrop and horizontal flip are implemented"
#define NOLOAD "not supported: resume a run with --resume"
#define NOFLAG NULL, 1, 0, NULL, 0, NULL
#define FLAG(name, lo, hi, help) name, lo, hi, NULL, 0, help
#define SHAPE_FLAG(name, shape, preset0, help) name, 1, 0, shape, preset0, help
#define BIG (1 << 30)

static const Key keys[] = {
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
    {"data", "channels", K_INT, F(channels), 1, NULL, SHAPE_FLAG("channels", "channels", 0, "image channels: 1 or 3")},
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
#define NKEYS (sizeof keys / sizeof keys[0])

/* Copy s into a char[size] field, zero-filling the rest (so structs compare with memcmp). */
static int set_str(char *dst, size_t size, const char *s)
{
    size_t n = strlen(s);
    if (n >= size) return -1;
    memset(dst, 0, size);
    memcpy(dst, s, n);
    return 0;
}

void ij_train_config_defaults(IjTrainConfig *c)
{
    memset(c, 0, sizeof *c);
    set_str(c->data, sizeof c->data, "fashion-mnist");
    c->batch_size = 128;
    c->crop_scale[0] = 0.3, c->crop_scale[1] = 1.0;
    c->crop_ratio[0] = 0.75, c->crop_ratio[1] = 4.0 / 3.0;
    c->crop_size = 28;
    c->use_horizontal_flip = 0;
    set_str(c->masks, sizeof c->masks, "official");
    c->num_enc_masks = 1;
    c->num_pred_masks = 4;
    c->enc_mask_scale[0] = 0.85, c->enc_mask_scale[1] = 1.0;
    c->pred_mask_scale[0] = 0.15, c->pred_mask_scale[1] = 0.2;
    c->aspect_ratio[0] = 0.75, c->aspect_ratio[1] = 1.5;
    c->min_keep = 4; /* the official value for 32x32 images (10 for 224) */
    c->allow_overlap = 0;
    c->patch_size = 4;
    c->target_ratio = 0.6;
    set_str(c->model_name, sizeof c->model_name, "vit_tiny");
    c->pred_depth = 6, c->pred_emb_dim = 96;
    c->channels = 1;
    set_str(c->decode, sizeof c->decode, "once");
    c->loader_threads = 1;
    c->seed = 0;
    set_str(c->loss, sizeof c->loss, "smooth_l1");
    set_str(c->probe_pool, sizeof c->probe_pool, "last");
    c->target_norm = 1;
    c->ema[0] = 0.996, c->ema[1] = 1.0;
    c->use_ema = 1;
    c->epochs = 300;
    c->final_lr = 1e-6, c->final_weight_decay = 0.4, c->lr = 1e-3, c->start_lr = 2e-4;
    c->weight_decay = 0.04;
    c->warmup = 40;
    c->ipe_scale = 1.0;
    set_str(c->folder, sizeof c->folder, "runs/ijepa");
    c->log_every = 50;
    c->checkpoint_every = 500;
    c->probe_every = 0;
    c->probe_fit = 5000;
    c->probe_held = 2000;
    c->probe_at_start = 1;
}

/* ---- the table ---- */

static int is_key(const Key *k, const char *section, const char *key)
{
    return k->section && !strcmp(k->section, section) && !strcmp(k->key, key);
}

/* The bounds of a number or pair setting; 0 when it has none. */
static int bounds(const Key *k, double *lo, double *hi)
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
static const char *out_of_range(const Key *k, const IjTrainConfig *c, char *buf, size_t size)
{
    double lo, hi;
    if (!bounds(k, &lo, &hi)) return NULL;
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
    for (size_t i = 0; i < NKEYS; i++) {
        const Key *k = &keys[i];
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
        bounds(k, &f->min, &f->max);
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

/* ---- loading ---- */

typedef struct {
    const char *path;
    yaml_document_t doc;
    char root[512], image_folder[512];
    unsigned char seen[NKEYS];
} Loader;

static size_t line_of(const yaml_node_t *n) { return n->start_mark.line + 1; }

static const char *scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static int is_null(const yaml_node_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    for (size_t i = 0; is_plain(n) && i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp(scalar(n), nulls[i]) == 0) return 1;
    return 0;
}

static int to_int(const yaml_node_t *n, int *out)
{
    if (!is_plain(n)) return -1;
    const char *s = scalar(n);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno == ERANGE || v < INT_MIN || v > INT_MAX) return -1;
    *out = (int)v;
    return 0;
}

static int to_double(const yaml_node_t *n, double *out)
{
    if (!is_plain(n)) return -1;
    const char *s = scalar(n);
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int to_bool(const yaml_node_t *n, int *out)
{
    static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False", "FALSE"};
    for (int i = 0; is_plain(n) && i < 3; i++) {
        if (strcmp(scalar(n), t[i]) == 0) return *out = 1, 0;
        if (strcmp(scalar(n), f[i]) == 0) return *out = 0, 0;
    }
    return -1;
}

/* The value as the user wrote it, for messages. */
static const char *describe(const yaml_node_t *n, char *buf, size_t size)
{
    int items = n->type == YAML_SEQUENCE_NODE ? (int)(n->data.sequence.items.top - n->data.sequence.items.start) : 0;
    if (n->type == YAML_SEQUENCE_NODE) snprintf(buf, size, "a list of %d item%s", items, items == 1 ? "" : "s");
    else if (n->type == YAML_MAPPING_NODE) snprintf(buf, size, "a mapping");
    else snprintf(buf, size, is_plain(n) ? "'%.200s'" : "the quoted string '%.200s'", scalar(n));
    return buf;
}

/* "<file>:<line>: <section>.<key>: <problem>" */
IJ_PRINTF(4, 5)
static int key_error(const Loader *L, const Key *k, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ij_error("%s:%zu: %s.%s: %s", L->path, line_of(n), k->section, k->key, msg);
}

static int set_key(Loader *L, IjTrainConfig *c, const Key *k, yaml_node_t *v)
{
    char *field = (char *)c + k->off, d[256], range[128];
    const char *bad;
    int b;
    double x;
    describe(v, d, sizeof d);
    switch (k->type) {
    case K_INT:
        if (to_int(v, (int *)field)) return key_error(L, k, v, "expected an integer, got %s", d);
        if ((bad = out_of_range(k, c, range, sizeof range))) return key_error(L, k, v, "%s", bad);
        return 0;
    case K_DBL:
        if (to_double(v, (double *)field)) return key_error(L, k, v, "expected a number, got %s", d);
        if ((bad = out_of_range(k, c, range, sizeof range))) return key_error(L, k, v, "%s", bad);
        return 0;
    case K_BOOL:
        if (to_bool(v, (int *)field)) return key_error(L, k, v, "expected true or false, got %s", d);
        return 0;
    case K_PAIR: {
        double pair[2];
        yaml_node_item_t *it = v->type == YAML_SEQUENCE_NODE ? v->data.sequence.items.start : NULL;
        if (!it || v->data.sequence.items.top - it != 2 ||
            to_double(yaml_document_get_node(&L->doc, it[0]), &pair[0]) ||
            to_double(yaml_document_get_node(&L->doc, it[1]), &pair[1]))
            return key_error(L, k, v, "expected a list of 2 numbers, got %s", d);
        memcpy(field, pair, sizeof pair);
        if ((bad = out_of_range(k, c, range, sizeof range))) return key_error(L, k, v, "%s", bad);
        return 0;
    }
    case K_STR:
    case K_ROOT:
    case K_FOLDER: {
        char *dst = k->type == K_ROOT ? L->root : k->type == K_FOLDER ? L->image_folder : field;
        size_t size = k->type == K_STR ? k->size : sizeof L->root;
        if (!scalar(v) || is_null(v)) return key_error(L, k, v, "expected a string, got %s", d);
        if (set_str(dst, size, scalar(v))) return key_error(L, k, v, "longer than %zu characters", size - 1);
        return 0;
    }
    case K_ANY:
        return 0;
    case K_OFF:
        if (to_bool(v, &b)) return key_error(L, k, v, "expected true or false, got %s", d);
        return b ? key_error(L, k, v, "%s is %s", d, k->note) : 0;
    case K_ZERO:
        if (to_double(v, &x)) return key_error(L, k, v, "expected a number, got %s", d);
        return x != 0 ? key_error(L, k, v, "%s is %s", d, k->note) : 0;
    case K_NULL:
        return is_null(v) ? 0 : key_error(L, k, v, "%s is %s", d, k->note);
    case K_EMA:
        return 0;
    }
    return 0;
}

static int load_section(Loader *L, IjTrainConfig *c, const char *section, yaml_node_t *map)
{
    if (is_null(map)) return 0; /* "logging:" with nothing under it */
    if (map->type != YAML_MAPPING_NODE)
        return ij_error("%s:%zu: section '%s' must hold 'key: value' lines", L->path, line_of(map), section);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&L->doc, p->key), *vn = yaml_document_get_node(&L->doc, p->value);
        const char *name = scalar(kn);
        size_t i = 0;
        while (name && i < NKEYS && !is_key(&keys[i], section, name)) i++;
        if (!name || i == NKEYS)
            return ij_error("%s:%zu: unknown key '%s.%s'", L->path, line_of(kn), section, name ? name : "?");
        if (L->seen[i]++) return ij_error("%s:%zu: duplicate key '%s.%s'", L->path, line_of(kn), section, name);
        if (set_key(L, c, &keys[i], vn)) return -1;
    }
    return 0;
}

static int load_doc(Loader *L, IjTrainConfig *c)
{
    yaml_node_t *root = yaml_document_get_root_node(&L->doc);
    if (!root) return ij_error("%s: holds no settings (an empty file is most likely a mistake)", L->path);
    if (root->type != YAML_MAPPING_NODE)
        return ij_error("%s:%zu: expected sections (data, logging, mask, meta, optimization) at the top level",
                        L->path, line_of(root));
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&L->doc, p->key);
        const char *name = scalar(kn);
        size_t i = 0;
        while (name && i < NKEYS && !(keys[i].section && !strcmp(keys[i].section, name))) i++;
        if (!name || i == NKEYS)
            return ij_error("%s:%zu: unknown section '%s' (expected data, logging, mask, meta or optimization)",
                            L->path, line_of(kn), name ? name : "?");
        if (load_section(L, c, name, yaml_document_get_node(&L->doc, p->value))) return -1;
    }
    return 0;
}

static size_t key_index(const char *section, const char *key)
{
    size_t i = 0;
    while (!is_key(&keys[i], section, key)) i++;
    return i;
}

int ij_train_config_load_yaml(IjTrainConfig *c, const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return ij_error("%s: cannot open the config file: %s", path, strerror(errno));
    Loader *L = ij_calloc(1, sizeof *L);
    L->path = path;
    yaml_parser_t parser;
    int rc = -1;
    if (!yaml_parser_initialize(&parser)) {
        ij_error("%s: cannot initialise the YAML parser", path);
        goto out_file;
    }
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &L->doc)) {
        ij_error("%s:%zu: YAML syntax error: %s%s%s", path, parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "unknown problem", parser.context ? " " : "",
                 parser.context ? parser.context : "");
        goto out_parser;
    }
    rc = load_doc(L, c);
    yaml_document_delete(&L->doc);
    if (rc == 0) { /* a second document would be silently ignored: refuse it */
        if (!yaml_parser_load(&parser, &L->doc)) {
            rc = ij_error("%s:%zu: YAML syntax error: %s", path, parser.problem_mark.line + 1,
                          parser.problem ? parser.problem : "unknown problem");
            goto out_parser;
        }
        if (yaml_document_get_root_node(&L->doc))
            rc = ij_error("%s:%zu: only one YAML document is allowed", path, L->doc.start_mark.line + 1);
        yaml_document_delete(&L->doc);
    }
    /* data.dataset wins over the official root_path + image_folder pair. */
    size_t iroot = key_index("data", "root_path"), ifold = key_index("data", "image_folder");
    if (rc == 0 && (L->seen[iroot] || L->seen[ifold]) && !L->seen[key_index("data", "dataset")]) {
        size_t n = strlen(L->root);
        const char *sep = n && L->root[n - 1] != '/' && L->image_folder[0] ? "/" : "";
        int len = snprintf(c->data, sizeof c->data, "%s%s%s", L->root, sep, L->image_folder);
        if (len < 0 || (size_t)len >= sizeof c->data)
            rc = ij_error("%s: data.root_path joined with data.image_folder is longer than %zu characters", path,
                          sizeof c->data - 1);
        else
            memset(c->data + len, 0, sizeof c->data - (size_t)len);
    }
out_parser:
    yaml_parser_delete(&parser);
out_file:
    fclose(fp);
    free(L);
    return rc;
}

/* ---- writing ---- */

/* Fewest digits (15..17) that read back to the same double; always with a '.' so
 * that PyYAML (YAML 1.1) reads a float: 1e-06 -> 1.0e-06, 40 -> 40.0. */
static void write_double(FILE *fp, double x)
{
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    if (strpbrk(buf, ".n")) return (void)fputs(buf, fp); /* has a point, or inf/nan */
    char *e = strchr(buf, 'e');
    if (e) fprintf(fp, "%.*s.0%s", (int)(e - buf), buf, e);
    else fprintf(fp, "%s.0", buf);
}

/* Plain when unambiguous, otherwise double-quoted with escapes. */
static void write_string(FILE *fp, const char *s)
{
    static const char *const reserved[] = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"};
    int plain = isalpha((unsigned char)s[0]) || s[0] == '/' || s[0] == '_';
    for (const char *p = s; *p && plain; p++) plain = isalnum((unsigned char)*p) || strchr("_./+-", *p);
    for (size_t i = 0; plain && i < sizeof reserved / sizeof reserved[0]; i++) plain = strcasecmp(s, reserved[i]) != 0;
    if (plain) return (void)fputs(s, fp);
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(fp, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f) fprintf(fp, "\\x%02x", *p);
        else fputc(*p, fp);
    }
    fputc('"', fp);
}

static void write_yaml(FILE *fp, const IjTrainConfig *c)
{
    fputs("# ijepa.c training configuration: the layout of the official I-JEPA configs\n"
          "# (facebookresearch/ijepa), this program's own keys last in each section.\n",
          fp);
    const char *section = "";
    int in_ext = 0;
    for (size_t i = 0; i < NKEYS; i++) {
        const Key *k = &keys[i];
        const char *field = (const char *)c + k->off;
        if (!k->section) continue; /* a flag alone */
        if (strcmp(section, k->section)) fprintf(fp, "%s:\n", section = k->section), in_ext = 0;
        if (k->ext && !in_ext) fputs("  # ijepa.c extensions\n", fp), in_ext = 1;
        fprintf(fp, "  %s: ", k->key);
        switch (k->type) {
        case K_INT: fprintf(fp, "%d", *(const int *)field); break;
        case K_DBL: write_double(fp, *(const double *)field); break;
        case K_BOOL: fputs(*(const int *)field ? "true" : "false", fp); break;
        case K_PAIR:
            fputc('[', fp), write_double(fp, ((const double *)field)[0]);
            fputs(", ", fp), write_double(fp, ((const double *)field)[1]), fputc(']', fp);
            break;
        case K_STR: write_string(fp, field); break;
        case K_ROOT: fputs("''  # data.dataset takes precedence", fp); break;
        case K_FOLDER: fputs("''", fp); break;
        case K_ANY: fputs(k->note, fp); break;
        case K_OFF: fputs("false", fp); break;
        case K_ZERO: fputs("0.0", fp); break;
        case K_NULL: fputs("null", fp); break;
        case K_EMA: break;
        }
        fputc('\n', fp);
    }
}

void ij_train_config_print(const IjTrainConfig *c) { write_yaml(stdout, c); }

int ij_train_config_save_yaml(const IjTrainConfig *c, const char *path)
{
    IjAtomicFile af;
    if (ij_atomic_open(&af, path)) return -1;
    write_yaml(af.f, c);
    return ij_atomic_commit(&af, 1);
}

/* ---- checks ---- */

/* 0 < lo <= hi <= 1 (written so that NaN fails). */
static int unit_pair(const double v[2]) { return v[0] > 0 && v[0] <= v[1] && v[1] <= 1; }

int ij_train_config_validate(const IjTrainConfig *c)
{
    /* every setting within its bounds (the table's), then what depends on several */
    for (size_t i = 0; i < NKEYS; i++) {
        char range[128];
        const char *bad = keys[i].section ? out_of_range(&keys[i], c, range, sizeof range) : NULL;
        if (bad && keys[i].flag) return ij_error("%s.%s (--%s): %s", keys[i].section, keys[i].key, keys[i].flag, bad);
        if (bad) return ij_error("%s.%s: %s", keys[i].section, keys[i].key, bad);
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
    NEED(c->channels == 1 || c->channels == 3, "data.channels must be 1 or 3, got %d", c->channels);
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
    IjConfig m;
    return ij_train_config_model(c, &m);
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
