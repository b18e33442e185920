/* checkpoint_import.h: encoders saved by other programs, read as they are.
 *
 *   ijepa.c      "encoder.", "predictor.", "target_encoder." + the official names, the shape in the
 *                metadata (checkpoint.h; official state dicts converted by tools/convert_official.py);
 *   encoder      the official names with no part prefix ("module." allowed): a bare encoder, as timm
 *                saves vit_huge_patch14_gap_224.in1k_ijepa (its "head." left out);
 *   transformers Hugging Face's IJepaModel: "embeddings.", "encoder.layer.N." with q, k and v as three
 *                matrices ("ijepa." before them in IJepaForImageClassification; its "classifier." and
 *                "pooler." left out), the shape in config.json beside the file.
 *
 * A foreign encoder fills the encoder and the target encoder; the predictor (no one publishes it) is a
 * small random one. The shape comes from the metadata, else config.json, else the tensors; the heads,
 * which no tensor shows, from config.json, else the caller, else the preset of that width. */
#ifndef IJEPA_IO_CHECKPOINT_IMPORT_H
#define IJEPA_IO_CHECKPOINT_IMPORT_H

#include "io/safetensors.h"
#include "model/model.h"

typedef enum { IJ_LAYOUT_IJEPA = 0, IJ_LAYOUT_ENCODER = 1, IJ_LAYOUT_HF = 2 } IjCheckpointLayout;

IjCheckpointLayout ij_checkpoint_layout(const StFile *f);
const char *ij_checkpoint_layout_name(IjCheckpointLayout l);
/* The model configuration of any layout (heads: what the caller knows, 0 if nothing). */
int ij_checkpoint_config_any(const StFile *f, int heads, IjConfig *c);
/* Fill buf's encoder part from a transformers (HF) file, marking the tensors used. */
int ij_checkpoint_load_hf(const StFile *f, const IjTable *tab, float *buf, char *used);
/* Tensors of a foreign layout that are not the encoder's (a classifier head, a pooler). */
int ij_checkpoint_foreign_extra(IjCheckpointLayout l, const char *name);

#endif
