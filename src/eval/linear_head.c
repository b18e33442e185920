/* linear_head.c: see linear_head.h. */
#include "eval/linear_head.h"

#include "core/error.h"
#include "eval/logreg.h"
#include "eval/probe.h"
#include "io/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ij_linear_head_free(IjLinearHead *h)
{
    free(h->theta);
    free(h->mean);
    free(h->scale);
    memset(h, 0, sizeof *h);
}

void ij_linear_head_set(IjLinearHead *h, int d, int C, const double *theta, const float *mean, const float *scale,
                        double lambda)
{
    ij_linear_head_free(h);
    h->d = d, h->C = C, h->lambda = lambda;
    size_t P = (size_t)ij_logreg_nparams(d, C);
    h->theta = ij_malloc(sizeof(double) * P);
    memcpy(h->theta, theta, sizeof(double) * P);
    h->mean = ij_malloc(sizeof(float) * (size_t)d);
    h->scale = ij_malloc(sizeof(float) * (size_t)d);
    for (int j = 0; j < d; j++) h->mean[j] = mean ? mean[j] : 0.0f, h->scale[j] = scale ? scale[j] : 1.0f;
}

void ij_linear_head_apply(const IjLinearHead *h, const float *X, int n, int *pred, float *prob)
{
    const int d = h->d, C = h->C;
    float *row = ij_malloc(sizeof(float) * (size_t)d);
    double *z = ij_malloc(sizeof(double) * (size_t)C);
    for (int i = 0; i < n; i++) {
        memcpy(row, X + (size_t)i * d, sizeof(float) * (size_t)d);
        ij_standardize_rows(row, 1, d, h->mean, h->scale);
        double mx = -INFINITY, sum = 0;
        int best = 0;
        for (int c = 0; c < C; c++) {
            const double *w = h->theta + (size_t)c * d;
            double s = h->theta[(size_t)C * d + c];
            for (int j = 0; j < d; j++) s += w[j] * row[j];
            z[c] = s;
            if (s > mx) mx = s, best = c;
        }
        pred[i] = best;
        if (!prob) continue;
        for (int c = 0; c < C; c++) sum += exp(z[c] - mx);
        for (int c = 0; c < C; c++) prob[(size_t)i * C + c] = (float)(exp(z[c] - mx) / sum);
    }
    free(row);
    free(z);
}

int ij_linear_head_save(const IjLinearHead *h, const char *path, const char *const *meta, int nmeta)
{
    const int d = h->d, C = h->C;
    float *w = ij_malloc(sizeof(float) * ((size_t)C * d + C));
    for (size_t i = 0; i < (size_t)C * d + C; i++) w[i] = (float)h->theta[i];
    StWriteTensor t[4] = {{"weight", ST_F32, 2, {C, d}, w},
                          {"bias", ST_F32, 1, {C}, w + (size_t)C * d},
                          {"mean", ST_F32, 1, {d}, h->mean},
                          {"scale", ST_F32, 1, {d}, h->scale}};
    int rc = ij_st_write(path, t, 4, meta, nmeta);
    free(w);
    return rc;
}

int ij_linear_head_load(IjLinearHead *h, const char *path)
{
    memset(h, 0, sizeof *h);
    StFile f = {0};
    if (ij_st_open(&f, path)) return -1;
    const StTensor *w = ij_st_find(&f, "weight"), *b = ij_st_find(&f, "bias");
    const StTensor *m = ij_st_find(&f, "mean"), *s = ij_st_find(&f, "scale");
    int rc = 0;
    if (!w || !b || !m || !s || w->ndim != 2 || b->ndim != 1 || m->ndim != 1 || s->ndim != 1 ||
        b->shape[0] != w->shape[0] || m->shape[0] != w->shape[1] || s->shape[0] != w->shape[1] || w->shape[0] < 2)
        rc = ij_error("%s: not a linear head (weight [C, d], bias [C], mean [d], scale [d])", path);
    if (!rc && ij_st_verify(&f) < 0) rc = -1;
    if (!rc) {
        int C = (int)w->shape[0], d = (int)w->shape[1];
        float *wf = ij_malloc(sizeof(float) * ((size_t)C * d + C));
        h->d = d, h->C = C;
        h->mean = ij_malloc(sizeof(float) * (size_t)d);
        h->scale = ij_malloc(sizeof(float) * (size_t)d);
        rc = ij_st_read_f32(&f, w, wf, (size_t)C * d) || ij_st_read_f32(&f, b, wf + (size_t)C * d, (size_t)C) ||
             ij_st_read_f32(&f, m, h->mean, (size_t)d) || ij_st_read_f32(&f, s, h->scale, (size_t)d) ? -1 : 0;
        h->theta = ij_malloc(sizeof(double) * ((size_t)C * d + C));
        for (size_t i = 0; i < (size_t)C * d + C; i++) h->theta[i] = wf[i];
        free(wf);
        for (int j = 0; !rc && j < d; j++)
            if (!(h->scale[j] > 0) || !isfinite(h->mean[j])) rc = ij_error("%s: scale or mean %d is not valid", path, j);
        if (rc) ij_linear_head_free(h);
    }
    ij_st_close(&f);
    return rc;
}

char *ij_linear_head_meta(const char *path, const char *key)
{
    StFile f = {0};
    if (ij_st_open(&f, path)) return NULL;
    const char *v = ij_st_meta(&f, key);
    char *out = NULL;
    if (v) {
        size_t n = strlen(v) + 1;
        out = memcpy(ij_malloc(n), v, n);
    }
    ij_st_close(&f);
    return out;
}
