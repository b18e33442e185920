/* config.c: presets with the official ViT shapes, and validation of any configuration. */
#include "model/config.h"

#include "core/error.h"

#include <stddef.h>
#include <string.h>

static const struct {
    const char *name;
    int dim, depth, heads, mlp;
} presets[] = {
    {"vit_tiny", 192, 12, 3, 768},    {"vit_small", 384, 12, 6, 1536},
    {"vit_base", 768, 12, 12, 3072},  {"vit_large", 1024, 24, 16, 4096},
    {"vit_huge", 1280, 32, 16, 5120}, {"vit_giant", 1408, 40, 16, 6144},
};

int ij_config_preset(IjConfig *c, const char *name)
{
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(presets[i].name, name) == 0) {
            c->img_size = 224;
            c->channels = 3;
            c->patch_size = 16;
            c->embed_dim = presets[i].dim;
            c->depth = presets[i].depth;
            c->num_heads = presets[i].heads;
            c->mlp_dim = presets[i].mlp;
            c->pred_dim = 384;
            c->pred_depth = 12;
            c->pred_mlp_dim = 4 * 384;
            return 0;
        }
    }
    return ij_error("unknown model '%s' (expected vit_tiny, vit_small, vit_base, vit_large, "
                    "vit_huge or vit_giant)", name);
}

int ij_config_preset_heads(int embed_dim)
{
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (presets[i].dim == embed_dim) return presets[i].heads;
    return 0;
}

#define SHAPE(key, field, lo, hi, what) {key, offsetof(IjConfig, field), lo, hi, what}
const IjShapeField ij_shape_fields[IJ_SHAPE_NFIELDS] = {
    SHAPE("img_size", img_size, 1, 4096, "image size"),
    SHAPE("channels", channels, 1, 3, "channels"),
    SHAPE("patch_size", patch_size, 1, 256, "patch size"),
    SHAPE("embed_dim", embed_dim, 4, 16384, "width"),
    SHAPE("depth", depth, 1, 256, "depth"),
    SHAPE("num_heads", num_heads, 1, 256, "heads"),
    SHAPE("mlp_dim", mlp_dim, 1, 65536, "MLP width"),
    SHAPE("pred_embed_dim", pred_dim, 4, 16384, "predictor width"),
    SHAPE("pred_depth", pred_depth, 1, 256, "predictor depth"),
    SHAPE("pred_mlp_dim", pred_mlp_dim, 1, 65536, "predictor MLP width"),
};

const IjShapeField *ij_shape_field(const char *key)
{
    for (int i = 0; i < IJ_SHAPE_NFIELDS; i++)
        if (strcmp(ij_shape_fields[i].key, key) == 0) return &ij_shape_fields[i];
    return NULL;
}

int ij_config_validate(const IjConfig *c)
{
    for (int i = 0; i < IJ_SHAPE_NFIELDS; i++) {
        const IjShapeField *f = &ij_shape_fields[i];
        int v = *(const int *)((const char *)c + f->off);
        if (v < f->min || v > f->max)
            return ij_error("%s %d is out of range [%d, %d]", f->what, v, f->min, f->max);
    }
    if (c->channels != 1 && c->channels != 3)
        return ij_error("channels must be 1 or 3, got %d", c->channels);
    if (c->patch_size < 1 || c->img_size < c->patch_size || c->img_size % c->patch_size)
        return ij_error("image size %d is not a positive multiple of patch size %d", c->img_size,
                        c->patch_size);
    if (c->patch_size > 4096 || ij_grid(c) > 4096) /* keeps ij_num_patches and ij_patch_dim inside int */
        return ij_error("image size %d with patch %d is too large (at most 4096 pixels per patch side and 4096 "
                        "patches per image side)", c->img_size, c->patch_size);
    if (ij_num_patches(c) < 2) return ij_error("image size %d with patch %d gives fewer than 2 patches", c->img_size, c->patch_size);
    if (c->num_heads < 1) return ij_error("heads must be positive, got %d", c->num_heads);
    if (c->embed_dim < 4 || c->embed_dim % 4 || c->embed_dim % c->num_heads)
        return ij_error("width %d must be a multiple of 4 and of the head count %d", c->embed_dim,
                        c->num_heads);
    if (c->pred_dim < 4 || c->pred_dim % 4 || c->pred_dim % c->num_heads)
        return ij_error("predictor width %d must be a multiple of 4 and of the head count %d",
                        c->pred_dim, c->num_heads);
    if (c->depth < 1 || c->pred_depth < 1)
        return ij_error("depths must be positive (encoder %d, predictor %d)", c->depth, c->pred_depth);
    if (c->mlp_dim < 1 || c->pred_mlp_dim < 1)
        return ij_error("MLP widths must be positive (encoder %d, predictor %d)", c->mlp_dim, c->pred_mlp_dim);
    return 0;
}
