/* params.c: builds the tensor table for a configuration and binds named pointers. */
#include "model/params.h"

#include "core/error.h"
#include "core/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One block's tensors: field, official suffix, rows, cols (0 for 1-D). D is the
 * block width and H its MLP width, taken from the scope where this is expanded. */
#define IJ_BLOCK_TENSORS(X)                  \
    X(norm1_w, "norm1.weight", D, 0)         \
    X(norm1_b, "norm1.bias", D, 0)           \
    X(qkv_w, "attn.qkv.weight", 3 * D, D)    \
    X(qkv_b, "attn.qkv.bias", 3 * D, 0)      \
    X(proj_w, "attn.proj.weight", D, D)      \
    X(proj_b, "attn.proj.bias", D, 0)        \
    X(norm2_w, "norm2.weight", D, 0)         \
    X(norm2_b, "norm2.bias", D, 0)           \
    X(fc1_w, "mlp.fc1.weight", H, D)         \
    X(fc1_b, "mlp.fc1.bias", H, 0)           \
    X(fc2_w, "mlp.fc2.weight", D, H)         \
    X(fc2_b, "mlp.fc2.bias", D, 0)

static void add(IjTable *tab, int part, const char *name, int ndim, const int64_t *shape,
                int trainable, IjInit init)
{
    IjTensor *t = &tab->t[tab->n++];
    memset(t, 0, sizeof *t);
    int len = snprintf(t->name, sizeof t->name, "%s", name);
    IJ_ASSERT(len > 0 && (size_t)len < sizeof t->name);
    t->part = part;
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->numel *= (size_t)shape[i];
    }
    t->offset = tab->n_total;
    tab->n_total += t->numel;
    if (part == IJ_PART_ENCODER) tab->n_encoder = tab->n_total;
    t->trainable = trainable;
    t->decay = trainable && ndim > 1 && !strstr(name, "bias");
    t->init = init;
}

/* A tensor whose init follows from its name, as in the official script. */
static void add_auto(IjTable *tab, int part, const char *name, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    IjInit init = strstr(name, "bias") ? IJ_INIT_ZEROS : cols ? IJ_INIT_NORMAL : IJ_INIT_ONES;
    add(tab, part, name, cols ? 2 : 1, shape, 1, init);
}

static void add_blocks(IjTable *tab, int part, const char *prefix, int depth, int D, int H)
{
    char name[96];
    for (int i = 0; i < depth; i++) {
#define X(field, suffix, rows, cols)                                       \
    snprintf(name, sizeof name, "%s.%d.%s", prefix, i, suffix);          \
    add_auto(tab, part, name, rows, cols);
        IJ_BLOCK_TENSORS(X)
#undef X
    }
}

int ij_table_build(IjTable *tab, const IjConfig *c)
{
    if (ij_config_validate(c)) return -1;
    memset(tab, 0, sizeof *tab);
    int cap = 16 + 12 * (c->depth + c->pred_depth);
    tab->t = ij_calloc((size_t)cap, sizeof *tab->t);
    int64_t N = ij_num_patches(c), D = c->embed_dim, Dp = c->pred_dim, p = c->patch_size;

    int64_t pos[3] = {1, N, D};
    add(tab, IJ_PART_ENCODER, "pos_embed", 3, pos, 0, IJ_INIT_SINCOS);
    int64_t conv[4] = {D, c->channels, p, p};
    add(tab, IJ_PART_ENCODER, "patch_embed.proj.weight", 4, conv, 1, IJ_INIT_NORMAL);
    add_auto(tab, IJ_PART_ENCODER, "patch_embed.proj.bias", D, 0);
    add_blocks(tab, IJ_PART_ENCODER, "blocks", c->depth, c->embed_dim, c->mlp_dim);
    add_auto(tab, IJ_PART_ENCODER, "norm.weight", D, 0);
    add_auto(tab, IJ_PART_ENCODER, "norm.bias", D, 0);

    int64_t mt[3] = {1, 1, Dp};
    add(tab, IJ_PART_PREDICTOR, "mask_token", 3, mt, 1, IJ_INIT_NORMAL);
    int64_t ppos[3] = {1, N, Dp};
    add(tab, IJ_PART_PREDICTOR, "predictor_pos_embed", 3, ppos, 0, IJ_INIT_SINCOS);
    add_auto(tab, IJ_PART_PREDICTOR, "predictor_embed.weight", Dp, D);
    add_auto(tab, IJ_PART_PREDICTOR, "predictor_embed.bias", Dp, 0);
    add_blocks(tab, IJ_PART_PREDICTOR, "predictor_blocks", c->pred_depth, c->pred_dim,
               c->pred_mlp_dim);
    add_auto(tab, IJ_PART_PREDICTOR, "predictor_norm.weight", Dp, 0);
    add_auto(tab, IJ_PART_PREDICTOR, "predictor_norm.bias", Dp, 0);
    add_auto(tab, IJ_PART_PREDICTOR, "predictor_proj.weight", D, Dp);
    add_auto(tab, IJ_PART_PREDICTOR, "predictor_proj.bias", D, 0);
    IJ_ASSERT(tab->n <= cap);
    tab->ranges = ij_malloc(sizeof *tab->ranges * (size_t)tab->n);
    for (int i = 0; i < tab->n; i++)
        tab->ranges[i] = (IjParamRange){tab->t[i].offset, tab->t[i].numel, tab->t[i].trainable, tab->t[i].decay};
    return 0;
}

void ij_table_free(IjTable *tab)
{
    free(tab->t);
    free(tab->ranges);
    memset(tab, 0, sizeof *tab);
}

int ij_table_find(const IjTable *tab, int part, const char *name)
{
    for (int i = 0; i < tab->n; i++)
        if (tab->t[i].part == part && strcmp(tab->t[i].name, name) == 0) return i;
    return -1;
}

void ij_tensor_full_name(char *buf, size_t size, const IjTensor *t, int target)
{
    const char *prefix = t->part == IJ_PART_PREDICTOR ? "predictor" : target ? "target_encoder" : "encoder";
    int len = snprintf(buf, size, "%s.%s", prefix, t->name);
    IJ_ASSERT(len > 0 && (size_t)len < size);
}

static float *at(float *base, const IjTable *tab, int part, const char *name)
{
    int i = ij_table_find(tab, part, name);
    IJ_ASSERT(i >= 0);
    return base + tab->t[i].offset;
}

static void bind_blocks(IjBlockW *blocks, float *base, const IjTable *tab, int part,
                        const char *prefix, int depth)
{
    char name[96];
    for (int i = 0; i < depth; i++) {
#define X(field, suffix, rows, cols)                              \
    snprintf(name, sizeof name, "%s.%d.%s", prefix, i, suffix); \
    blocks[i].field = at(base, tab, part, name);
        IJ_BLOCK_TENSORS(X)
#undef X
    }
}

void ij_bind_encoder(IjEncoderW *w, float *base, const IjTable *tab, const IjConfig *c)
{
    const int P = IJ_PART_ENCODER;
    w->pos_embed = at(base, tab, P, "pos_embed");
    w->patch_w = at(base, tab, P, "patch_embed.proj.weight");
    w->patch_b = at(base, tab, P, "patch_embed.proj.bias");
    w->blocks = ij_calloc((size_t)c->depth, sizeof *w->blocks);
    bind_blocks(w->blocks, base, tab, P, "blocks", c->depth);
    w->norm_w = at(base, tab, P, "norm.weight");
    w->norm_b = at(base, tab, P, "norm.bias");
}

void ij_bind_predictor(IjPredictorW *w, float *base, const IjTable *tab, const IjConfig *c)
{
    const int P = IJ_PART_PREDICTOR;
    w->mask_token = at(base, tab, P, "mask_token");
    w->pos_embed = at(base, tab, P, "predictor_pos_embed");
    w->embed_w = at(base, tab, P, "predictor_embed.weight");
    w->embed_b = at(base, tab, P, "predictor_embed.bias");
    w->blocks = ij_calloc((size_t)c->pred_depth, sizeof *w->blocks);
    bind_blocks(w->blocks, base, tab, P, "predictor_blocks", c->pred_depth);
    w->norm_w = at(base, tab, P, "predictor_norm.weight");
    w->norm_b = at(base, tab, P, "predictor_norm.bias");
    w->proj_w = at(base, tab, P, "predictor_proj.weight");
    w->proj_b = at(base, tab, P, "predictor_proj.bias");
}

void ij_unbind_encoder(IjEncoderW *w)
{
    free(w->blocks);
    memset(w, 0, sizeof *w);
}

void ij_unbind_predictor(IjPredictorW *w)
{
    free(w->blocks);
    memset(w, 0, sizeof *w);
}

void ij_sincos_pos_embed(float *out, int grid, int dim)
{
    int Q = dim / 4;
    for (int row = 0; row < grid; row++)
        for (int col = 0; col < grid; col++) {
            float *e = out + (size_t)(row * grid + col) * dim;
            for (int k = 0; k < Q; k++) {
                double w = pow(10000.0, -(double)k / Q);
                e[k] = (float)sin(col * w);
                e[Q + k] = (float)cos(col * w);
                e[2 * Q + k] = (float)sin(row * w);
                e[3 * Q + k] = (float)cos(row * w);
            }
        }
}

void ij_params_init(float *params, const IjTable *tab, const IjConfig *c, uint64_t seed)
{
    ij_params_init_part(params, tab, c, seed, -1);
}

void ij_params_init_part(float *params, const IjTable *tab, const IjConfig *c, uint64_t seed, int part)
{
    for (int i = 0; i < tab->n; i++) /* each tensor's stream is its index: a part alone gets the same values */
        if (part < 0 || tab->t[i].part == part) ij_params_init_tensor(params, tab, c, seed, i);
}

void ij_params_init_tensor(float *params, const IjTable *tab, const IjConfig *c, uint64_t seed, int i)
{
    {
        const IjTensor *t = &tab->t[i];
        float *p = params + t->offset;
        IjRng rng = ij_rng(seed, 0x1417, (uint64_t)i);
        switch (t->init) {
        case IJ_INIT_NORMAL:
            for (size_t j = 0; j < t->numel; j++) p[j] = (float)(0.02 * ij_rng_normal(&rng));
            break;
        case IJ_INIT_ONES:
            for (size_t j = 0; j < t->numel; j++) p[j] = 1.0f;
            break;
        case IJ_INIT_ZEROS:
            memset(p, 0, sizeof(float) * t->numel);
            break;
        case IJ_INIT_SINCOS:
            ij_sincos_pos_embed(p, ij_grid(c), (int)t->shape[2]);
            break;
        }
    }
}
