/* api.c: see api.h. */
#include "api/api.h"

#include "core/error.h"
#include "core/version.h"
#include "data/dataset.h"
#include "data/eval_transform.h"
#include "eval/embed.h"
#include "io/checkpoint.h"
#include "io/checkpoint_import.h"
#include "kernels/bf16.h"
#include "train/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct IjApiModel {
    IjModel m;
    const IjEncoderW *w;
    IjEvalTransform tf;
};

struct IjApiData {
    IjImageSet set;
};

const char *ij_api_version(void) { return IJ_VERSION; }

IjApiModel *ij_api_load(const char *checkpoint, int heads, const char *encoder)
{
    if (!encoder || (strcmp(encoder, "target") && strcmp(encoder, "context"))) {
        ij_error("encoder must be 'target' or 'context', got '%s'", encoder ? encoder : "");
        return NULL;
    }
    StFile f = {0};
    if (ij_st_open(&f, checkpoint)) return NULL;
    IjConfig c;
    IjApiModel *a = ij_calloc(1, sizeof *a);
    int rc = ij_checkpoint_config_any(&f, heads, &c);
    if (!rc) rc = ij_model_init_encoder_unset(&a->m, &c);
    if (!rc) {
        rc = ij_checkpoint_load_encoder(&a->m, &f, !strcmp(encoder, "target"));
        if (rc) ij_model_free(&a->m);
    }
    ij_st_close(&f);
    if (rc) {
        free(a);
        return NULL;
    }
    a->w = &a->m.tenc;
    ij_eval_transform_defaults(&a->tf, c.img_size);
    return a;
}

void ij_api_free(IjApiModel *a)
{
    if (!a) return;
    ij_model_free(&a->m);
    free(a);
}

void ij_api_shape(const IjApiModel *a, int out[6])
{
    const IjConfig *c = &a->m.cfg;
    const int v[6] = {c->img_size, c->channels, c->patch_size, c->embed_dim, c->depth, c->num_heads};
    memcpy(out, v, sizeof v);
}

int ij_api_feature_dim(const IjApiModel *a, int pool) { return ij_embed_dim(&a->m.cfg, pool ? IJ_POOL_LAST4 : IJ_POOL_LAST); }

int ij_api_set_options(IjApiModel *a, int bf16, const char *resize, double crop_fraction)
{
    IjBf16Path path = IJ_BF16_OFF;
    if (bf16 && ij_bf16_path_choose(&path)) return -1;
    if (a->m.held_bf16 && !bf16) return ij_error("this model holds its weights in bf16 now: load it again for float32");
    ij_model_set_bf16(&a->m, path);
    if (bf16 && !a->m.held_bf16 && ij_model_hold_bf16(&a->m)) return -1;
    if (ij_eval_resize_parse(resize, &a->tf.resize)) return -1;
    if (!(crop_fraction > 0 && crop_fraction <= 1)) return ij_error("crop fraction %g is not in (0, 1]", crop_fraction);
    a->tf.crop_fraction = crop_fraction;
    return 0;
}

int ij_api_embed_images(IjApiModel *a, const uint8_t *images, int n, int h, int w, int channels, int pool, float *out)
{
    if (n < 0 || h < 1 || w < 1 || (channels != 1 && channels != 3))
        return ij_error("images: %d of %dx%dx%d (need n >= 0, a positive size, 1 or 3 channels)", n, h, w, channels);
    if (n == 0) return 0;
    IjImageSet set = {.count = n, .height = h, .width = w, .channels = channels, .pixels = (uint8_t *)images};
    snprintf(set.source, sizeof set.source, "images");
    return ij_embed_dataset(&a->m, a->w, &set, &a->tf, pool ? IJ_POOL_LAST4 : IJ_POOL_LAST, 256, out, NULL, NULL,
                            NULL);
}

IjApiData *ij_api_data_open(const char *spec, const IjApiModel *a)
{
    IjApiData *d = ij_calloc(1, sizeof *d);
    IjLoadOptions lo = {.channels = a->m.cfg.channels, .keep_files = 1};
    if (ij_imageset_load_opts(&d->set, spec, 1, &lo)) {
        free(d);
        return NULL;
    }
    return d;
}

int ij_api_data_count(const IjApiData *d) { return d->set.count; }

const char *ij_api_data_file(const IjApiData *d, int i)
{
    return d->set.names && i >= 0 && i < d->set.count ? d->set.names[i] : "";
}

int ij_api_data_label(const IjApiData *d, int i) { return d->set.labels && i >= 0 && i < d->set.count ? d->set.labels[i] : -1; }

const char *ij_api_data_class(const IjApiData *d, int k)
{
    return d->set.class_names && k >= 0 && k < d->set.num_classes ? d->set.class_names[k] : NULL;
}

void ij_api_data_free(IjApiData *d)
{
    if (!d) return;
    ij_imageset_free(&d->set);
    free(d);
}

int ij_api_embed_data(IjApiModel *a, const IjApiData *d, int pool, float *out)
{
    return ij_embed_dataset(&a->m, a->w, &d->set, &a->tf, pool ? IJ_POOL_LAST4 : IJ_POOL_LAST, 256, out, NULL, NULL,
                            NULL);
}

int ij_api_train(const char *config_yaml, const char *out, int max_steps)
{
    IjTrainConfig c;
    ij_train_config_defaults(&c);
    if (config_yaml && *config_yaml && ij_train_config_load_yaml(&c, config_yaml)) return -1;
    if (out && *out) snprintf(c.folder, sizeof c.folder, "%s", out);
    if (max_steps > 0) c.max_steps = max_steps;
    if (ij_train_config_validate(&c)) return -1;
    IjRunOptions o = {.bucket_mb = 4};
    int rc = ij_train_run(&c, &o, NULL);
    fflush(stdout);
    return rc;
}
