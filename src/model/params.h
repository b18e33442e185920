/* params.h: the tensor table and the flat parameter buffers.
 *
 * All trainable state lives in flat float buffers with one layout: encoder
 * tensors first, then predictor tensors. The table lists every tensor with its
 * official name (SPEC section 6), shape, offset, whether it is trained and
 * whether it gets weight decay. Allocation, init, weight-decay masks,
 * checkpoint names and test labels are all walks over this table. The target
 * encoder uses the encoder's part of the layout (the first n_encoder floats).
 */
#ifndef IJEPA_MODEL_PARAMS_H
#define IJEPA_MODEL_PARAMS_H

#include "backend/stack.h"
#include "model/config.h"

#include <stddef.h>
#include <stdint.h>

enum { IJ_PART_ENCODER = 0, IJ_PART_PREDICTOR = 1 };
typedef enum { IJ_INIT_NORMAL, IJ_INIT_ONES, IJ_INIT_ZEROS, IJ_INIT_SINCOS } IjInit;

typedef struct {
    char name[96];      /* official name without prefix, e.g. "blocks.3.attn.qkv.weight" */
    int part;           /* IJ_PART_ENCODER or IJ_PART_PREDICTOR */
    int ndim;
    int64_t shape[4];
    size_t offset;      /* in floats, into a flat buffer */
    size_t numel;
    int trainable;      /* 0 for the fixed sin-cos position tables */
    int decay;          /* weight decay applies (ndim > 1 and no "bias" in the name) */
    IjInit init;
} IjTensor;

typedef struct {
    IjTensor *t;
    int n;
    size_t n_encoder;   /* floats in the encoder part (= size of the target encoder) */
    size_t n_total;     /* floats in encoder + predictor */
    IjParamRange *ranges; /* [n]: each tensor's values as the optimizer sees them (backend.h) */
} IjTable;


typedef struct {
    float *pos_embed;          /* [N, D] */
    float *patch_w, *patch_b;  /* [D, C*p*p], [D] */
    IjBlockW *blocks;          /* [depth] */
    float *norm_w, *norm_b;    /* [D] */
} IjEncoderW;

typedef struct {
    float *mask_token;         /* [Dp] */
    float *pos_embed;          /* [N, Dp] */
    float *embed_w, *embed_b;  /* [Dp, D], [Dp] */
    IjBlockW *blocks;          /* [pred_depth] */
    float *norm_w, *norm_b;    /* [Dp] */
    float *proj_w, *proj_b;    /* [D, Dp], [D] */
} IjPredictorW;

int ij_table_build(IjTable *tab, const IjConfig *c);
void ij_table_free(IjTable *tab);
/* Index of the tensor with this part and name, or -1. */
int ij_table_find(const IjTable *tab, int part, const char *name);
/* Full name with its part prefix ("encoder." / "predictor." / "target_encoder.") into buf. */
void ij_tensor_full_name(char *buf, size_t size, const IjTensor *t, int target);

/* Point the weight structs into a buffer laid out by the table (pred may be NULL,
 * e.g. for the target encoder buffer). The block arrays are allocated here. */
void ij_bind_encoder(IjEncoderW *w, float *base, const IjTable *tab, const IjConfig *c);
void ij_bind_predictor(IjPredictorW *w, float *base, const IjTable *tab, const IjConfig *c);
void ij_unbind_encoder(IjEncoderW *w);
void ij_unbind_predictor(IjPredictorW *w);

/* The fixed 2-D sin-cos table [G*G, dim] (SPEC section 1), computed in double. */
void ij_sincos_pos_embed(float *out, int grid, int dim);
/* Initialise every tensor of the table in params as the official training script does
 * (normal 0.02 weights, zero biases, unit LayerNorm weights, sin-cos positions), from seed. */
void ij_params_init(float *params, const IjTable *tab, const IjConfig *c, uint64_t seed);
/* The same for the tensors of one part only (params holds the whole layout's offsets of that part:
 * the encoder's are the first n_encoder floats); the values equal ij_params_init's. */
void ij_params_init_part(float *params, const IjTable *tab, const IjConfig *c, uint64_t seed, int part);
/* Tensor i alone (the values ij_params_init gives it). */
void ij_params_init_tensor(float *params, const IjTable *tab, const IjConfig *c, uint64_t seed, int i);

#endif
