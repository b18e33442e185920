/* checkpoint.c: see checkpoint.h. */
#include "io/checkpoint.h"

#include "core/error.h"
#include "io/checkpoint_import.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* A metadata integer: 0 and *out set, 1 when absent and not required, -1 with an error naming the
 * file otherwise (lo..hi: the bounds it must lie in). */
static int meta_int(const StFile *f, const char *key, int *out, int required, int lo, int hi)
{
    const char *v = ij_st_meta(f, key);
    if (!v) return required ? ij_error("%s: metadata has no '%s' (needed for the model configuration)", f->path, key) : 1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) return ij_error("%s: metadata '%s' = '%s' is not an integer", f->path, key, v);
    if (x < lo || x > hi)
        return ij_error("%s: metadata '%s' = %s is out of range [%d, %d]", f->path, key, v, lo, hi);
    *out = (int)x;
    return 0;
}

static int meta_shape(const StFile *f, IjConfig *c, const char *key, int required)
{
    const IjShapeField *s = ij_shape_field(key);
    return meta_int(f, key, (int *)((char *)c + s->off), required, s->min, s->max);
}

int ij_config_from_meta(const StFile *f, IjConfig *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < IJ_SHAPE_NFIELDS; i++) { /* the MLP widths are optional (below) */
        const char *key = ij_shape_fields[i].key;
        if (strcmp(key, "mlp_dim") && strcmp(key, "pred_mlp_dim") && meta_shape(f, c, key, 1)) return -1;
    }
    int ratio = 4, r;
    if ((r = meta_shape(f, c, "mlp_dim", 0)) < 0) return -1;
    if (r == 1) {
        if (meta_int(f, "mlp_ratio", &ratio, 0, 1, 64) < 0) return -1;
        c->mlp_dim = ratio * c->embed_dim;
    }
    if ((r = meta_shape(f, c, "pred_mlp_dim", 0)) < 0) return -1;
    if (r == 1) c->pred_mlp_dim = 4 * c->pred_dim;
    if (ij_config_validate(c)) {
        char why[512];
        snprintf(why, sizeof why, "%s", ij_last_error()); /* ij_error must not read its own buffer */
        return ij_error("%s: %s", f->path, why);
    }
    return 0;
}

int ij_checkpoint_config(const char *path, IjConfig *c)
{
    StFile f = {0};
    if (ij_st_open(&f, path)) return -1;
    int rc = ij_checkpoint_config_any(&f, 0, c);
    ij_st_close(&f);
    return rc;
}

int ij_checkpoint_save(const IjModel *m, const char *path, const IjExtraSection *extra, int n_extra,
                       const char *const *meta, int nmeta)
{
    const IjTable *tab = &m->tab;
    const IjConfig *c = &m->cfg;
    int cap = tab->n * (2 + n_extra);
    StWriteTensor *t = ij_calloc((size_t)cap, sizeof *t);
    char (*names)[160] = ij_calloc((size_t)cap, sizeof *names);
    int n = 0;
    for (int pass = 0; pass < 2 + n_extra; pass++) {
        for (int i = 0; i < tab->n; i++) {
            const IjTensor *x = &tab->t[i];
            const float *buf;
            if (pass == 0) buf = m->params;
            else if (pass == 1) {
                if (x->part != IJ_PART_ENCODER) continue;
                buf = m->target;
            } else {
                if (!x->trainable) continue;
                buf = extra[pass - 2].buf;
            }
            char full[128];
            ij_tensor_full_name(full, sizeof full, x, pass == 1);
            if (pass >= 2) snprintf(names[n], sizeof names[n], "%s.%s", extra[pass - 2].prefix, full);
            else snprintf(names[n], sizeof names[n], "%s", full);
            t[n].name = names[n];
            t[n].dtype = ST_F32;
            t[n].ndim = x->ndim;
            memcpy(t[n].shape, x->shape, sizeof x->shape);
            t[n].data = buf + x->offset;
            n++;
        }
    }
    char v[IJ_SHAPE_NFIELDS][24];
    const char **kv = ij_calloc((size_t)(2 * (IJ_SHAPE_NFIELDS + 1 + nmeta)), sizeof *kv);
    int nkv = 0;
    kv[2 * nkv] = "format";
    kv[2 * nkv++ + 1] = "ijepa.c";
    for (int i = 0; i < IJ_SHAPE_NFIELDS; i++) {
        snprintf(v[i], sizeof v[i], "%d", *(const int *)((const char *)c + ij_shape_fields[i].off));
        kv[2 * nkv] = ij_shape_fields[i].key;
        kv[2 * nkv++ + 1] = v[i];
    }
    for (int i = 0; i < nmeta; i++) {
        kv[2 * nkv] = meta[2 * i];
        kv[2 * nkv++ + 1] = meta[2 * i + 1];
    }
    int rc = ij_st_write(path, t, n, kv, nkv);
    free(kv);
    free(names);
    free(t);
    return rc;
}

static int shape_matches(const StTensor *s, const IjTensor *x)
{
    if (s->ndim != x->ndim) return 0;
    for (int d = 0; d < x->ndim; d++)
        if (s->shape[d] != x->shape[d]) return 0;
    return 1;
}

static void shape_str(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && k < size; d++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < size) snprintf(buf + k, size - k, "]");
}

/* Find prefix + name or prefix + "module." + name ("" prefix for a bare encoder). */
static const StTensor *find_named(const StFile *f, const char *prefix, const char *name)
{
    char full[192];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const StTensor *s = ij_st_find(f, full);
    if (s) return s;
    snprintf(full, sizeof full, "%smodule.%s", prefix, name);
    return ij_st_find(f, full);
}

/* Load one part of the table from tensors named prefix+name into buf; marks used tensors. */
static int load_part(const StFile *f, const IjTable *tab, int part, int trainable_only,
                     const char *prefix, float *buf, char *used)
{
    for (int i = 0; i < tab->n; i++) {
        const IjTensor *x = &tab->t[i];
        if (x->part != part || (trainable_only && !x->trainable)) continue;
        const StTensor *s = find_named(f, prefix, x->name);
        if (!s) return ij_error("%s: missing tensor '%s%s'", f->path, prefix, x->name);
        if (!shape_matches(s, x)) {
            char got[96], want[96];
            shape_str(got, sizeof got, s->ndim, s->shape);
            shape_str(want, sizeof want, x->ndim, x->shape);
            return ij_error("%s: tensor '%s' has shape %s, expected %s for this configuration",
                            f->path, s->name, got, want);
        }
        if (ij_st_read_f32(f, s, buf + x->offset, x->numel)) return -1;
        used[s - f->tensors] = 1;
    }
    return 0;
}

int ij_checkpoint_load_file(IjModel *m, const StFile *f, const IjExtraSection *extra, int n_extra,
                            const char *const *ignore, int n_ignore)
{
    int verified = ij_st_verify(f);
    if (verified < 0) return -1;
    if (verified == 1)
        fprintf(stderr, "ijepa: note: %s has no checksum (written by another program or an older ijepa.c): its "
                        "tensor data cannot be verified\n", f->path);
    const IjTable *tab = &m->tab;
    char *used = ij_calloc((size_t)f->n + 1, 1);
    IjCheckpointLayout layout = ij_checkpoint_layout(f);
    int bare = layout != IJ_LAYOUT_IJEPA || (!find_named(f, "encoder.", "norm.weight") && find_named(f, "", "norm.weight"));
    int rc = 0;
    if (bare) {
        rc = layout == IJ_LAYOUT_HF ? ij_checkpoint_load_hf(f, tab, m->params, used)
                                    : load_part(f, tab, IJ_PART_ENCODER, 0, "", m->params, used);
        if (!rc) ij_model_sync_target(m);
        for (int i = 0; i < f->n; i++) used[i] |= ij_checkpoint_foreign_extra(layout, f->tensors[i].name);
    } else {
        rc = load_part(f, tab, IJ_PART_ENCODER, 0, "encoder.", m->params, used);
        if (!rc) rc = load_part(f, tab, IJ_PART_PREDICTOR, 0, "predictor.", m->params, used);
        if (!rc) rc = load_part(f, tab, IJ_PART_ENCODER, 0, "target_encoder.", m->target, used);
        for (int e = 0; e < n_extra && !rc; e++) {
            char p[96];
            snprintf(p, sizeof p, "%s.encoder.", extra[e].prefix);
            rc = load_part(f, tab, IJ_PART_ENCODER, 1, p, extra[e].buf, used);
            snprintf(p, sizeof p, "%s.predictor.", extra[e].prefix);
            if (!rc) rc = load_part(f, tab, IJ_PART_PREDICTOR, 1, p, extra[e].buf, used);
        }
    }
    for (int i = 0; i < f->n && !rc; i++) {
        if (used[i]) continue;
        int ignored = 0;
        for (int k = 0; k < n_ignore; k++)
            if (strncmp(f->tensors[i].name, ignore[k], strlen(ignore[k])) == 0) ignored = 1;
        if (!ignored)
            rc = ij_error("%s: unexpected tensor '%s' (not part of this model configuration)",
                          f->path, f->tensors[i].name);
    }
    free(used);
    return rc ? -1 : bare;
}

/* The encoder part of the table, F32, back to back in the table's order after `prefix`: where it starts
 * in the file (the weights can be used in place), else NULL. */
static const float *encoder_in_place(const StFile *f, const IjTable *tab, const char *prefix)
{
    const char *first = NULL;
    for (int i = 0; i < tab->n; i++) {
        const IjTensor *x = &tab->t[i];
        if (x->part != IJ_PART_ENCODER) continue;
        const StTensor *s = find_named(f, prefix, x->name);
        if (!s || s->dtype != ST_F32 || s->nbytes != x->numel * sizeof(float) || !shape_matches(s, x)) return NULL;
        if (!first) first = (const char *)s->data - x->offset * sizeof(float);
        if ((const char *)s->data != first + x->offset * sizeof(float)) return NULL;
    }
    return (const float *)first;
}

int ij_checkpoint_load_encoder(IjModel *m, StFile *f, int target)
{
    IJ_ASSERT(m->encoder_only);
    int verified = ij_st_verify(f);
    if (verified < 0) return -1;
    if (verified == 1)
        fprintf(stderr, "ijepa: note: %s has no checksum (written by another program or an older ijepa.c): its "
                        "tensor data cannot be verified\n", f->path);
    char *used = ij_calloc((size_t)f->n + 1, 1);
    IjCheckpointLayout layout = ij_checkpoint_layout(f);
    int rc;
    if (layout == IJ_LAYOUT_HF) rc = ij_checkpoint_load_hf(f, &m->tab, m->params, used);
    else if (layout == IJ_LAYOUT_ENCODER || (!find_named(f, "encoder.", "norm.weight") && find_named(f, "", "norm.weight")))
        rc = load_part(f, &m->tab, IJ_PART_ENCODER, 0, "", m->params, used);
    else {
        const char *prefix = target ? "target_encoder." : "encoder.";
        const float *in_place = getenv("IJ_NO_MMAP") ? NULL : encoder_in_place(f, &m->tab, prefix);
        void *map;
        size_t size;
        if (in_place && !ij_st_take_map(f, &map, &size)) {
            /* the file's pages are the weights: nothing copied, shared with other processes reading it */
            if (m->map) munmap(m->map, m->map_size); /* the reserved weights (never written) */
            else free(m->params);
            m->params = (float *)in_place;
            m->map = map, m->map_size = size;
            ij_unbind_encoder(&m->enc);
            ij_unbind_encoder(&m->tenc);
            ij_bind_encoder(&m->enc, m->params, &m->tab, &m->cfg);
            ij_bind_encoder(&m->tenc, m->params, &m->tab, &m->cfg);
            rc = 0;
        } else {
            rc = load_part(f, &m->tab, IJ_PART_ENCODER, 0, prefix, m->params, used);
        }
    }
    free(used);
    return rc ? -1 : 0;
}

int ij_checkpoint_load(IjModel *m, const char *path, const IjExtraSection *extra, int n_extra)
{
    StFile f = {0};
    if (ij_st_open(&f, path)) return -1;
    int rc = ij_checkpoint_load_file(m, &f, extra, n_extra, NULL, 0);
    ij_st_close(&f);
    return rc;
}
