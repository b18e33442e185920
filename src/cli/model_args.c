/* model_args.c: see model_args.h. */
#include "cli/model_args.h"

#include <stdio.h>

void model_args_defaults(ModelArgs *a, const char *preset, int img_size, int channels, int patch,
                         int pred_dim, int pred_depth)
{
    *a = (ModelArgs){preset, img_size, channels, patch, 0, 0, 0, 0, pred_dim, pred_depth};
}

int model_args_options(Option *o, ModelArgs *a)
{
    int n = 0;
    o[n++] = (Option){"model", OPT_STRING, &a->model, "encoder preset: vit_tiny|vit_small|vit_base|vit_large|vit_huge|vit_giant", 0, -1, NULL};
    o[n++] = (Option){"img-size", OPT_INT, &a->img_size, "image side in pixels", 1, 4096, NULL};
    o[n++] = (Option){"channels", OPT_INT, &a->channels, "1 (grayscale) or 3 (RGB)", 1, 3, NULL};
    o[n++] = (Option){"patch-size", OPT_INT, &a->patch_size, "patch side in pixels", 1, 256, NULL};
    o[n++] = (Option){"embed-dim", OPT_INT, &a->embed_dim, "encoder width (0: preset)", 0, 16384, NULL};
    o[n++] = (Option){"depth", OPT_INT, &a->depth, "encoder blocks (0: preset)", 0, 256, NULL};
    o[n++] = (Option){"heads", OPT_INT, &a->heads, "attention heads (0: preset)", 0, 256, NULL};
    o[n++] = (Option){"mlp-dim", OPT_INT, &a->mlp_dim, "encoder MLP width (0: preset)", 0, 65536, NULL};
    o[n++] = (Option){"pred-dim", OPT_INT, &a->pred_dim, "predictor width", 4, 16384, NULL};
    o[n++] = (Option){"pred-depth", OPT_INT, &a->pred_depth, "predictor blocks", 1, 256, NULL};
    return n;
}

int model_args_config(const ModelArgs *a, IjConfig *c)
{
    if (ij_config_preset(c, a->model)) return -1;
    c->img_size = a->img_size;
    c->channels = a->channels;
    c->patch_size = a->patch_size;
    if (a->embed_dim) {
        c->embed_dim = a->embed_dim;
        c->mlp_dim = 4 * a->embed_dim;
    }
    if (a->depth) c->depth = a->depth;
    if (a->heads) c->num_heads = a->heads;
    if (a->mlp_dim) c->mlp_dim = a->mlp_dim;
    c->pred_dim = a->pred_dim;
    c->pred_depth = a->pred_depth;
    c->pred_mlp_dim = 4 * a->pred_dim;
    return ij_config_validate(c);
}

void model_config_print(const IjConfig *c)
{
    printf("model: %dx%dx%d images, patch %d (%d tokens); encoder %d wide, %d deep, %d heads, MLP %d; "
           "predictor %d wide, %d deep, MLP %d\n",
           c->img_size, c->img_size, c->channels, c->patch_size, ij_num_patches(c), c->embed_dim,
           c->depth, c->num_heads, c->mlp_dim, c->pred_dim, c->pred_depth, c->pred_mlp_dim);
}
