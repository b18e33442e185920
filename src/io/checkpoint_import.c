/* checkpoint_import.c: see checkpoint_import.h. */
#include "io/checkpoint_import.h"

#include "core/error.h"
#include "io/checkpoint.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "" or "ijepa." before the transformers names, or NULL if the file is not in that layout. */
static const char *hf_prefix(const StFile *f)
{
    if (ij_st_find(f, "embeddings.patch_embeddings.projection.weight")) return "";
    if (ij_st_find(f, "ijepa.embeddings.patch_embeddings.projection.weight")) return "ijepa.";
    return NULL;
}

IjCheckpointLayout ij_checkpoint_layout(const StFile *f)
{
    if (hf_prefix(f)) return IJ_LAYOUT_HF;
    if (ij_st_find(f, "patch_embed.proj.weight") || ij_st_find(f, "module.patch_embed.proj.weight"))
        return IJ_LAYOUT_ENCODER;
    return IJ_LAYOUT_IJEPA;
}

const char *ij_checkpoint_layout_name(IjCheckpointLayout l)
{
    static const char *const n[] = {"ijepa.c", "bare encoder (official names; timm)", "transformers (IJepaModel)"};
    return n[l];
}

int ij_checkpoint_foreign_extra(IjCheckpointLayout l, const char *name)
{
    if (l == IJ_LAYOUT_ENCODER) return !strncmp(name, "head.", 5) || !strncmp(name, "module.head.", 12);
    if (l == IJ_LAYOUT_HF)
        return !strncmp(name, "classifier.", 11) || !strncmp(name, "pooler.", 7) || !strncmp(name, "ijepa.pooler.", 13);
    return 0;
}

/* The transformers name of official encoder tensor `name` into out; for the qkv tensors, `which`
 * (0, 1, 2) picks query, key or value. 0, or -1 when the name has no counterpart. */
static int hf_name(char *out, size_t size, const char *prefix, const char *name, int which)
{
    static const struct {
        const char *from, *to;
    } block[] = {{"norm1.", "layernorm_before."},        {"attn.proj.", "attention.output.dense."},
                 {"norm2.", "layernorm_after."},         {"mlp.fc1.", "intermediate.dense."},
                 {"mlp.fc2.", "output.dense."}};
    static const char *const qkv[] = {"query", "key", "value"};
    int layer, n = 0;
    if (!strcmp(name, "pos_embed")) return snprintf(out, size, "%sembeddings.position_embeddings", prefix), 0;
    if (!strncmp(name, "patch_embed.proj.", 17))
        return snprintf(out, size, "%sembeddings.patch_embeddings.projection.%s", prefix, name + 17), 0;
    if (!strncmp(name, "norm.", 5)) return snprintf(out, size, "%slayernorm.%s", prefix, name + 5), 0;
    if (sscanf(name, "blocks.%d.%n", &layer, &n) != 1 || !n) return -1;
    const char *rest = name + n;
    if (!strncmp(rest, "attn.qkv.", 9))
        return snprintf(out, size, "%sencoder.layer.%d.attention.attention.%s.%s", prefix, layer, qkv[which], rest + 9),
               0;
    for (size_t i = 0; i < sizeof block / sizeof block[0]; i++) {
        size_t k = strlen(block[i].from);
        if (!strncmp(rest, block[i].from, k))
            return snprintf(out, size, "%sencoder.layer.%d.%s%s", prefix, layer, block[i].to, rest + k), 0;
    }
    return -1;
}

int ij_checkpoint_load_hf(const StFile *f, const IjTable *tab, float *buf, char *used)
{
    const char *prefix = hf_prefix(f);
    for (int i = 0; i < tab->n; i++) {
        const IjTensor *x = &tab->t[i];
        if (x->part != IJ_PART_ENCODER) continue;
        int parts = strstr(x->name, "attn.qkv.") ? 3 : 1; /* q, k and v are three tensors there */
        size_t each = x->numel / (size_t)parts;
        for (int k = 0; k < parts; k++) {
            char hf[192];
            if (hf_name(hf, sizeof hf, prefix, x->name, k))
                return ij_error("%s: no transformers name for '%s'", f->path, x->name);
            const StTensor *s = ij_st_find(f, hf);
            if (!s) return ij_error("%s: missing tensor '%s'", f->path, hf);
            if (ij_st_numel(s) != each)
                return ij_error("%s: tensor '%s' has %zu values, expected %zu for this configuration", f->path, hf,
                                ij_st_numel(s), each);
            if (ij_st_read_f32(f, s, buf + x->offset + (size_t)k * each, each)) return -1;
            used[s - f->tensors] = 1;
        }
    }
    return 0;
}

/* HF's config.json beside the file: the shape it gives (fields left 0 where it says nothing). */
static int hf_config_json(const StFile *f, IjConfig *c, int *found)
{
    *found = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s", f->path);
    char *slash = strrchr(path, '/');
    if (slash) snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "config.json");
    else snprintf(path, sizeof path, "config.json");
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    fclose(fp);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j) return ij_error("%s:%d: not valid JSON (%s)", path, err.line, err.text);
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {{"hidden_size", offsetof(IjConfig, embed_dim)},    {"num_hidden_layers", offsetof(IjConfig, depth)},
                {"num_attention_heads", offsetof(IjConfig, num_heads)}, {"intermediate_size", offsetof(IjConfig, mlp_dim)},
                {"image_size", offsetof(IjConfig, img_size)},    {"patch_size", offsetof(IjConfig, patch_size)},
                {"num_channels", offsetof(IjConfig, channels)}};
    int rc = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !rc; i++) {
        json_t *v = json_object_get(j, keys[i].key);
        if (!v) continue;
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65536)
            rc = ij_error("%s: '%s' is not a positive integer", path, keys[i].key);
        else *(int *)((char *)c + keys[i].off) = (int)json_integer_value(v);
    }
    json_decref(j);
    *found = rc == 0;
    return rc;
}

/* The shape of the encoder from its tensors (official names after `prefix`, or the HF ones). */
static int shape_from_tensors(const StFile *f, IjCheckpointLayout l, IjConfig *c)
{
    const char *hp = l == IJ_LAYOUT_HF ? hf_prefix(f) : "";
    const char *mod = l == IJ_LAYOUT_ENCODER && !ij_st_find(f, "pos_embed") ? "module." : "";
    char name[192];
#define TENSOR(official)                                                                                \
    (l == IJ_LAYOUT_HF ? (hf_name(name, sizeof name, hp, official, 0), ij_st_find(f, name))            \
                       : (snprintf(name, sizeof name, "%s%s", mod, official), ij_st_find(f, name)))
    const StTensor *pos = TENSOR("pos_embed");
    const StTensor *pw = TENSOR("patch_embed.proj.weight");
    const StTensor *fc1 = TENSOR("blocks.0.mlp.fc1.weight");
    if (!pos || !pw || !fc1 || pos->ndim != 3 || pw->ndim != 4 || fc1->ndim != 2)
        return ij_error("%s: no encoder found (pos_embed [1, N, D], patch_embed.proj.weight [D, C, p, p], "
                        "blocks.0.mlp.fc1.weight)", f->path);
    int depth = 0;
    for (;; depth++) {
        char b[64];
        snprintf(b, sizeof b, "blocks.%d.norm1.weight", depth);
        if (!TENSOR(b)) break;
    }
#undef TENSOR
    int grid = (int)lround(sqrt((double)pos->shape[1]));
    if ((int64_t)grid * grid != pos->shape[1])
        return ij_error("%s: %lld position embeddings are not a square grid", f->path, (long long)pos->shape[1]);
    c->embed_dim = (int)pw->shape[0];
    c->channels = (int)pw->shape[1];
    c->patch_size = (int)pw->shape[2];
    c->img_size = grid * c->patch_size;
    c->depth = depth;
    c->mlp_dim = (int)fc1->shape[0];
    return 0;
}

int ij_checkpoint_config_any(const StFile *f, int heads, IjConfig *c)
{
    IjCheckpointLayout l = ij_checkpoint_layout(f);
    if (l == IJ_LAYOUT_IJEPA || ij_st_meta(f, "embed_dim")) return ij_config_from_meta(f, c);
    memset(c, 0, sizeof *c);
    IjConfig js = {0};
    int found;
    if (shape_from_tensors(f, l, c) || hf_config_json(f, &js, &found)) return -1;
    if (found) { /* config.json must agree with the tensors */
        for (int i = 0; i < IJ_SHAPE_NFIELDS; i++) {
            const IjShapeField *s = &ij_shape_fields[i];
            int a = *(const int *)((const char *)c + s->off), b = *(const int *)((const char *)&js + s->off);
            if (a && b && a != b)
                return ij_error("%s: config.json gives %s %d, the tensors %d", f->path, s->what, b, a);
        }
        if (js.num_heads) c->num_heads = js.num_heads;
    }
    if (!c->num_heads) c->num_heads = heads ? heads : ij_config_preset_heads(c->embed_dim);
    if (!c->num_heads)
        return ij_error("%s: a %d-wide encoder without a config.json: its number of heads is not in the file (give "
                        "--heads)", f->path, c->embed_dim);
    /* no one publishes the predictor: a small one (random; only training would use it) */
    c->pred_dim = 8 * c->num_heads;
    c->pred_depth = 1;
    c->pred_mlp_dim = 4 * c->pred_dim;
    if (ij_config_validate(c)) {
        char why[512];
        snprintf(why, sizeof why, "%s", ij_last_error());
        return ij_error("%s: %s", f->path, why);
    }
    return 0;
}
