/* model_args.h: the model-shape options of the commands that build a model without training it
 * (bench, info). Flags, bounds and help come from the training settings table (train/train_config.h)
 * and the configuration from ij_train_config_model, as in `train`: one route from flags to a model. */
#ifndef IJEPA_CLI_MODEL_ARGS_H
#define IJEPA_CLI_MODEL_ARGS_H

#include "cli/options.h"
#include "model/config.h"
#include "train/train_config.h"

typedef struct {
    IjTrainConfig tc; /* the model's settings live here, as in a training run */
} ModelArgs;

/* The training defaults with these model settings. */
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
