/* model_args.c: see model_args.h. */
#include "cli/model_args.h"

#include "core/error.h"

#include <stdio.h>
#include <string.h>

void model_args_defaults(ModelArgs *a, const char *preset, int img_size, int channels, int patch,
                         int pred_dim, int pred_depth)
{
    memset(a, 0, sizeof *a);
    ij_train_config_defaults(&a->tc);
    snprintf(a->tc.model_name, sizeof a->tc.model_name, "%s", preset);
    a->tc.crop_size = img_size;
    a->tc.channels = channels;
    a->tc.patch_size = patch;
    a->tc.pred_emb_dim = pred_dim;
    a->tc.pred_depth = pred_depth;
}

int model_args_options(Option *o, ModelArgs *a)
{
    static const char *const names[] = {"model", "img-size", "channels", "patch-size", "embed-dim",
                                        "depth", "heads", "mlp-dim", "pred-dim", "pred-depth"};
    IjSettingFlag f[96];
    int nf = ij_train_config_flags(f, 96), n = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        int i = 0;
        while (i < nf && strcmp(f[i].flag, names[k])) i++;
        IJ_ASSERT(i < nf);
        int text = f[i].type == IJ_SETTING_TEXT;
        o[n++] = (Option){f[i].flag, text ? OPT_TEXT : OPT_INT, (char *)&a->tc + f[i].off, f[i].help,
                          text ? 0 : f[i].min, text ? (double)f[i].size : f[i].max, NULL};
    }
    return n;
}

int model_args_config(const ModelArgs *a, IjConfig *c)
{
    return ij_train_config_model(&a->tc, c);
}

void model_config_print(const IjConfig *c)
{
    printf("model: %dx%dx%d images, patch %d (%d tokens); encoder %d wide, %d deep, %d heads, MLP %d; "
           "predictor %d wide, %d deep, MLP %d\n",
           c->img_size, c->img_size, c->channels, c->patch_size, ij_num_patches(c), c->embed_dim,
           c->depth, c->num_heads, c->mlp_dim, c->pred_dim, c->pred_depth, c->pred_mlp_dim);
}
