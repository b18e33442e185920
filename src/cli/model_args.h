/* model_args.h: the model-shape options shared by every subcommand. */
#ifndef IJEPA_CLI_MODEL_ARGS_H
#define IJEPA_CLI_MODEL_ARGS_H

#include "cli/options.h"
#include "model/config.h"

typedef struct {
    const char *model;
    int img_size, channels, patch_size, embed_dim, depth, heads, mlp_dim, pred_dim, pred_depth;
} ModelArgs;

/* Defaults: the preset's values are used for every field left at 0. */
void model_args_defaults(ModelArgs *a, const char *preset, int img_size, int channels, int patch,
                         int pred_dim, int pred_depth);
/* Appends the options to opts (room for MODEL_ARGS_COUNT); returns how many. */
#define MODEL_ARGS_COUNT 10
int model_args_options(Option *opts, ModelArgs *a);
/* Preset, then overrides, then validation. */
int model_args_config(const ModelArgs *a, IjConfig *c);
/* One-paragraph description of a configuration. */
void model_config_print(const IjConfig *c);

#endif
