/* train_config.h: everything a training run is configured by.
 *
 * Defaults are the official ones (SPEC section 5) except where a small CPU run
 * needs its own (the Fashion-MNIST recipe sets those). Sources, in order:
 * defaults, then a YAML file in the official layout (--config), then flags.
 * The effective configuration is written to the run folder as config.yaml in
 * the same layout, so `--config RUN/config.yaml` reproduces a run.
 */
#ifndef IJEPA_TRAIN_TRAIN_CONFIG_H
#define IJEPA_TRAIN_TRAIN_CONFIG_H

#include "model/config.h"
#include "train/masks.h"

typedef struct {
    /* data */
    char data[512];            /* "fashion-mnist" or a path */
    int batch_size;            /* global batch */
    double crop_scale[2];      /* RandomResizedCrop area range (0.3, 1.0) */
    double crop_ratio[2];      /* aspect range (3/4, 4/3) */
    int crop_size;             /* = model img_size */
    int use_horizontal_flip;   /* 0 */
    char decode[16];           /* "once" (at load, keep pixels) or "per-batch" (keep files, decode in the loader) */
    int loader_threads;        /* background threads building batches (0: in the training thread) */
    /* mask */
    char masks[16];            /* "official", "fixed", "block", "random" or "raster" (train/masks.h) */
    int num_enc_masks;         /* 1 (only 1 is supported) */
    int num_pred_masks;        /* 4 */
    double enc_mask_scale[2];  /* (0.85, 1.0) */
    double pred_mask_scale[2]; /* (0.15, 0.2) */
    double aspect_ratio[2];    /* (0.75, 1.5) */
    int min_keep;              /* 10 */
    int allow_overlap;         /* 0 */
    int patch_size;            /* model patch size */
    double target_ratio;       /* block / random masks: target area fraction (0.6) */
    /* meta */
    char model_name[32];       /* preset, e.g. "vit_tiny" */
    int pred_depth, pred_emb_dim;
    int embed_dim, depth, num_heads; /* 0 = preset */
    int mlp_dim;               /* encoder MLP width; 0 = 4 x embed_dim, or the preset's */
    int channels;              /* 1 or 3; 0 = the images' own (IDX 1, JPEG/PNG 3), resolved by ij_train_run */
    int seed;
    char loss[16];             /* "smooth_l1" or "l2" */
    int target_norm;           /* 1: LayerNorm (no affine) on the targets (official); 0: ablation */
    int use_bfloat16;          /* 1: the matrix products take bf16 operands (kernels/bf16.h); 0: float32 */
    /* optimization */
    double ema[2];             /* (0.996, 1.0) */
    int use_ema;               /* 1: EMA target (official); 0: target = copy of the encoder after each step */
    int epochs;
    double final_lr, final_weight_decay, lr, start_lr, weight_decay;
    double warmup;             /* epochs */
    double ipe_scale;          /* schedule length scale (1.0) */
    /* run control (section "logging" in the YAML) */
    char folder[512];          /* run folder */
    int max_steps;             /* 0 = no limit beyond epochs */
    double max_minutes;        /* 0 = no limit */
    int log_every;             /* steps between metric lines */
    int checkpoint_every;      /* steps between "latest" checkpoints */
    int save_every_epochs;     /* 0 = only latest */
    int probe_every;           /* steps between online probes (0 = off) */
    int probe_fit, probe_held; /* online probe: training images to fit on / score on */
    char probe_pool[8];        /* online probe features: "last" or "last4" (eval/embed.h) */
    int probe_at_start;        /* 1: also probe the random-init encoder at step 0 (when probing) */
    int diag_every;            /* steps between collapse diagnostics alone (0: only with the probes) */
    int threads;               /* 0 = all cores */
} IjTrainConfig;

void ij_train_config_defaults(IjTrainConfig *c);

/* The settings table (train_config.c) holds one row per setting: its YAML key, its flag, its
 * type, its bounds and its help line. The YAML loader and writer, ij_train_config_validate and
 * the command line (through ij_train_config_flags) all read it, so a bound is written once.
 * Settings of the model's shape take their bounds from model/config.h's table, which checkpoint
 * metadata is checked against too. */
typedef enum {
    IJ_SETTING_INT,    /* int */
    IJ_SETTING_DOUBLE, /* double */
    IJ_SETTING_BOOL,   /* int 0/1: a switch (on|off) */
    IJ_SETTING_PAIR,   /* double[2] */
    IJ_SETTING_TEXT,   /* char[size] */
    IJ_SETTING_EMA,    /* "on", "off" or "A,B": ij_train_config_set_ema */
} IjSettingType;
typedef struct {
    const char *flag;           /* without "--" */
    const char *section, *key;  /* YAML, or NULL */
    IjSettingType type;
    size_t off, size;           /* the field in IjTrainConfig */
    double min, max;            /* inclusive (pairs: both ends); min > max: none */
    const char *help;
} IjSettingFlag;
/* The settings that have a flag, in table order: how many (-1 if more than cap). */
int ij_train_config_flags(IjSettingFlag *out, int cap);
/* --ema: "on", "off" (momentum 0: the target is a copy of the encoder after each step) or "A,B". */
int ij_train_config_set_ema(IjTrainConfig *c, const char *v);
/* Merge a YAML file (official layout) into c. Unknown sections/keys and bad
 * values are errors naming the file, the line, the key and the problem (c may
 * then be partly updated). data.dataset takes precedence over the official
 * data.root_path + data.image_folder (joined with '/'). */
int ij_train_config_load_yaml(IjTrainConfig *c, const char *path);
/* Write c as YAML in the same layout (atomically). */
int ij_train_config_save_yaml(const IjTrainConfig *c, const char *path);
/* Print c (the same YAML) to stdout. */
void ij_train_config_print(const IjTrainConfig *c);
/* Every setting within its bounds, then what depends on several (patch divides crop, ...). */
int ij_train_config_validate(const IjTrainConfig *c);
/* The model configuration the run trains. */
int ij_train_config_model(const IjTrainConfig *c, IjConfig *m);
/* The mask sampler parameters of the run, for a grid of G patches per side and a batch. */
int ij_train_config_masks(const IjTrainConfig *c, int grid, int batch, IjMaskParams *mp);

#endif
