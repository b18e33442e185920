/* checkpoint.h: models in safetensors files with the official tensor names.
 *
 * Written layout: "encoder.<name>", "predictor.<name>", "target_encoder.<name>"
 * (names of SPEC section 6), the configuration in __metadata__, plus any
 * extra sections a caller adds (the trainer adds optimizer state).
 * Read layouts: the above; the same with "module." after the part prefix
 * (official state dicts); a bare encoder ("<name>" or "module.<name>": timm's too), and Hugging Face
 * transformers' IJepaModel (checkpoint_import.h), which fill both encoder and target encoder and
 * leave the predictor alone.
 */
#ifndef IJEPA_IO_CHECKPOINT_H
#define IJEPA_IO_CHECKPOINT_H

#include "io/safetensors.h"
#include "model/model.h"

/* Extra float tensors laid out like the parameters (e.g. AdamW moments):
 * written as "<prefix>.<full name>" for every trainable tensor. */
typedef struct {
    const char *prefix;
    float *buf;        /* [n_total] */
} IjExtraSection;

/* Read the model configuration of a checkpoint: from its metadata, or, for an encoder saved by another
 * program (timm, transformers: checkpoint_import.h), from config.json and its tensors. */
int ij_checkpoint_config(const char *path, IjConfig *c);
int ij_config_from_meta(const StFile *f, IjConfig *c);

/* Save params, target encoder and extras atomically; meta: extra key/value pairs. */
int ij_checkpoint_save(const IjModel *m, const char *path, const IjExtraSection *extra, int n_extra,
                       const char *const *meta, int nmeta);
/* Load into a model built with the checkpoint's configuration. Every tensor of
 * the file must be used and every expected tensor present, with the expected
 * shape. Returns 1 if the file was a bare encoder, 0 for a full model. */
int ij_checkpoint_load(IjModel *m, const char *path, const IjExtraSection *extra, int n_extra);
/* Into a model of ij_model_init_encoder: the target encoder (target 1) or the context encoder (0) of
 * a full checkpoint, or the encoder of a bare or foreign one; the rest of the file is not read. Where
 * the file holds that encoder as float32 in the table's order (ijepa.c's own files, bare encoders
 * written in it), the model uses the file's pages in place (it takes the mapping: f's tensors are not
 * readable after; IJ_NO_MMAP=1 copies instead): start-up does not grow with the model, and processes
 * reading one file share its memory. */
int ij_checkpoint_load_encoder(IjModel *m, StFile *f, int target);
/* The same on an open file; tensors whose names start with one of `ignore`
 * prefixes are allowed to be extra (used by the tests' fixtures). */
int ij_checkpoint_load_file(IjModel *m, const StFile *f, const IjExtraSection *extra, int n_extra,
                            const char *const *ignore, int n_ignore);

#endif
