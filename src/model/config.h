/* config.h: the shape of an I-JEPA model (encoder + predictor) and the named presets. */
#ifndef IJEPA_MODEL_CONFIG_H
#define IJEPA_MODEL_CONFIG_H

#include <stddef.h>

typedef struct {
    int img_size;       /* square crop side in pixels */
    int channels;       /* 1 (grayscale) or 3 (RGB) */
    int patch_size;     /* p; img_size must be a multiple */
    int embed_dim;      /* D */
    int depth;          /* encoder blocks */
    int num_heads;      /* encoder and predictor heads */
    int mlp_dim;        /* encoder MLP hidden width (4*D except vit_giant) */
    int pred_dim;       /* Dp */
    int pred_depth;     /* predictor blocks */
    int pred_mlp_dim;   /* predictor MLP hidden width (4*Dp) */
} IjConfig;

/* The fields of IjConfig with their bounds, one row each, under the names that checkpoint
 * metadata uses: every route to a configuration (flags, YAML, metadata) is held to them by
 * ij_config_validate, and the training settings that set a field take its bounds from here. */
typedef struct {
    const char *key;  /* metadata key: img_size, channels, patch_size, embed_dim, depth, num_heads, mlp_dim,
                       * pred_embed_dim, pred_depth, pred_mlp_dim */
    size_t off;       /* of the int field in IjConfig */
    int min, max;     /* inclusive */
    const char *what; /* for messages */
} IjShapeField;
#define IJ_SHAPE_NFIELDS 10
extern const IjShapeField ij_shape_fields[IJ_SHAPE_NFIELDS];
/* The row of a metadata key, or NULL. */
const IjShapeField *ij_shape_field(const char *key);

/* Fill *c with a preset's encoder shape ("vit_tiny" ... "vit_giant") and the
 * official predictor (Dp 384, depth 12); image 224, 3 channels, patch 16.
 * Returns -1 (with an error listing the presets) if the name is unknown. */
int ij_config_preset(IjConfig *c, const char *name);
/* The heads of the preset with this width (vit_huge: 1280 -> 16), 0 if no preset has it. */
int ij_config_preset_heads(int embed_dim);
/* Check every field against its bounds and for consistency; -1 with a message naming the bad field. */
int ij_config_validate(const IjConfig *c);

static inline int ij_grid(const IjConfig *c) { return c->img_size / c->patch_size; }
static inline int ij_num_patches(const IjConfig *c) { return ij_grid(c) * ij_grid(c); }
static inline int ij_patch_dim(const IjConfig *c) { return c->channels * c->patch_size * c->patch_size; }

#endif
