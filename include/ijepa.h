/* ijepa.h: the public interface of libijepa (build/libijepa.a), for programs that use ijepa.c as
 * a library rather than through the `ijepa` command. Compile with -Iinclude -Isrc, link with
 * build/libijepa.a and the libraries of the Makefile's LDLIBS. Every exported symbol starts with
 * ij_ (types with Ij, constants with IJ_); errors are -1 (or NULL) with ij_last_error() set.
 *
 * The pieces, from the bottom up:
 *   model/config.h      the shape of a model (IjConfig), the presets, the bounds of each field
 *   model/model.h       a model's weights and one training step (ij_model_init, ij_model_step)
 *   io/checkpoint.h     safetensors checkpoints with the official tensor names
 *   data/dataset.h      labelled or unlabelled image sets (IDX, folders, tar shards)
 *   eval/embed.h        frozen features of a set (ij_embed_dataset)
 *   eval/probe.h        the linear probe, low-shot probes; eval/knn.h k-NN
 *   train/train_config.h  every training setting (the settings table) and its YAML form
 *   train/trainer.h     a training run's state and step (ij_trainer_init, ij_trainer_step)
 *
 * A minimal use: the frozen features of a checkpoint's target encoder.
 *
 *   IjConfig c; IjModel m; IjImageSet set;
 *   if (ij_checkpoint_config("ckpt.safetensors", &c) || ij_model_init(&m, &c, 0) ||
 *       ij_checkpoint_load(&m, "ckpt.safetensors", NULL, 0) < 0 ||
 *       ij_imageset_load_opts(&set, "images/", 1, &(IjLoadOptions){.channels = c.channels, .keep_files = 1}))
 *       fprintf(stderr, "%s\n", ij_last_error());
 *   float *x = malloc(sizeof(float) * set.count * ij_embed_dim(&c, IJ_POOL_LAST));
 *   ij_embed_dataset(&m, &m.tenc, &set, NULL, IJ_POOL_LAST, 256, x, NULL, NULL, NULL);
 */
#ifndef IJEPA_H
#define IJEPA_H

#include "core/error.h"
#include "core/version.h"
#include "data/dataset.h"
#include "eval/embed.h"
#include "eval/knn.h"
#include "eval/probe.h"
#include "io/checkpoint.h"
#include "model/config.h"
#include "model/model.h"
#include "train/train_config.h"
#include "train/trainer.h"

#endif
