/* eval_common.c: see eval_common.h. */
#include "cli/eval_common.h"

#include "cli/options.h"
#include "core/error.h"
#include "core/timer.h"
#include "io/checkpoint.h"
#include "io/checkpoint_import.h"
#include "io/fsutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int eval_load_model(IjModel *m, const char *checkpoint, int heads, const char *encoder, int *seed)
{
    if (encoder && strcmp(encoder, "target") && strcmp(encoder, "context"))
        return opt_usage_error("--encoder must be 'target' or 'context', got '%s'", encoder);
    StFile f = {0};
    if (ij_st_open(&f, checkpoint)) return -1;
    IjConfig c;
    int rc = ij_checkpoint_config_any(&f, heads, &c);
    IjCheckpointLayout layout = ij_checkpoint_layout(&f);
    if (!rc && layout != IJ_LAYOUT_IJEPA)
        fprintf(stderr, "%s: %s, %dx%dx%d images, patch %d, %d wide, %d deep, %d heads\n", checkpoint,
                ij_checkpoint_layout_name(layout), c.img_size, c.img_size, c.channels, c.patch_size, c.embed_dim,
                c.depth, c.num_heads);
    const char *s = ij_st_meta(&f, "seed");
    char *end = NULL;
    long sv = s ? strtol(s, &end, 10) : 0;
    if (!rc && s && seed && *end == 0 && sv >= 0 && sv <= 2147483647) *seed = (int)sv;
    if (!rc && encoder) { /* the encoder alone: its weights once, nothing for training */
        rc = ij_model_init_encoder_unset(m, &c);
        if (!rc && ij_checkpoint_load_encoder(m, &f, !strcmp(encoder, "target"))) {
            ij_model_free(m);
            rc = -1;
        }
    } else if (!rc) {
        rc = ij_model_init(m, &c, seed ? (uint64_t)*seed : 0);
        /* a training checkpoint also holds AdamW moments: allow them here */
        const char *ignore[] = {"adam_m.", "adam_v."};
        if (!rc && ij_checkpoint_load_file(m, &f, NULL, 0, ignore, 2) < 0) {
            ij_model_free(m);
            rc = -1;
        }
    }
    ij_st_close(&f);
    return rc;
}

long long eval_checkpoint_step(const char *checkpoint)
{
    StFile f = {0};
    if (ij_st_open(&f, checkpoint)) return -1;
    const char *s = ij_st_meta(&f, "step");
    char *end = NULL;
    long long step = s ? strtoll(s, &end, 10) : -1;
    if (!s || *end || step < 0) step = -1;
    ij_st_close(&f);
    return step;
}

int eval_pick_encoder(const IjModel *m, const char *which, const IjEncoderW **w)
{
    if (m->encoder_only) return *w = &m->tenc, 0; /* loaded as `which` (eval_load_model) */
    if (strcmp(which, "target") == 0) *w = &m->tenc;
    else if (strcmp(which, "context") == 0) *w = &m->enc;
    else return opt_usage_error("--encoder must be 'target' or 'context', got '%s'", which);
    return 0;
}

int eval_parse_pool(const char *s, IjPool *pool)
{
    if (strcmp(s, "last") == 0) *pool = IJ_POOL_LAST;
    else if (strcmp(s, "last4") == 0) *pool = IJ_POOL_LAST4;
    else return opt_usage_error("--pool must be 'last' or 'last4', got '%s'", s);
    return 0;
}

void eval_progress(void *ctx, const char *what, double fraction)
{
    static double last;
    if (!isatty(STDERR_FILENO)) return;
    double now = ij_now();
    if (fraction < 1.0 && now - last < 0.2) return;
    last = now;
    fprintf(stderr, "\r%s: %s %5.1f%%   %s", (const char *)ctx, what, 100 * fraction, fraction >= 1.0 ? "\r" : "");
    fflush(stderr);
}

float *eval_embed(IjModel *m, const IjEncoderW *w, const IjImageSet *set, const IjEvalTransform *tf, IjPool pool,
                  int batch, const char *label, float **tokens)
{
    float *out = ij_malloc(sizeof(float) * (size_t)set->count * ij_embed_dim(&m->cfg, pool));
    if (tokens)
        *tokens = ij_malloc(sizeof(float) * (size_t)set->count * ij_num_patches(&m->cfg) * m->cfg.embed_dim);
    double t0 = ij_now();
    if (ij_embed_dataset(m, w, set, tf, pool, batch, out, tokens ? *tokens : NULL, eval_progress, (void *)label)) {
        free(out);
        if (tokens) free(*tokens), *tokens = NULL;
        return NULL;
    }
    double dt = ij_now() - t0;
    if (isatty(STDERR_FILENO)) fprintf(stderr, "\r%60s\r", "");
    printf("%s: embedded %d images in %.1f s (%.0f images/s)\n", label, set->count, dt, set->count / dt);
    fflush(stdout);
    return out;
}

int eval_check_finite(const float *X, size_t n, const char *source)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(X[i]))
            return ij_error("%s: its features are not finite (%s at value %zu of %zu): the weights hold NaN or "
                            "infinity, or overflow", source, isnan(X[i]) ? "NaN" : "infinity", i, n);
    return 0;
}

/* Image i after the transform, channels interleaved (the layout of the decoded pixels): out [S, S, C]. */
static int pixels_hwc(float *out, float *planar, const IjImageSet *set, int i, const IjEvalTransform *tf)
{
    const int S = tf->size, C = set->channels;
    if (ij_eval_image(planar, set, i, tf)) return -1;
    for (int c = 0; c < C; c++)
        for (int k = 0; k < S * S; k++) out[(size_t)k * C + c] = planar[(size_t)c * S * S + k];
    return 0;
}

float *eval_pixels(const IjImageSet *set, const IjEvalTransform *tf)
{
    size_t d = (size_t)tf->size * tf->size * set->channels;
    float *out = ij_malloc(sizeof(float) * d * (size_t)set->count), *planar = ij_malloc(sizeof(float) * d);
    for (int i = 0; i < set->count; i++)
        if (pixels_hwc(out + (size_t)i * d, planar, set, i, tf)) {
            free(out), out = NULL;
            break;
        }
    free(planar);
    return out;
}

float *eval_pixel_patches(const IjImageSet *set, const IjEvalTransform *tf, int p)
{
    const int S = tf->size, C = set->channels, n = S / p, tok = p * p * C;
    size_t d = (size_t)S * S * C;
    float *out = ij_malloc(sizeof(float) * (size_t)set->count * n * n * tok), *img = ij_malloc(sizeof(float) * d);
    float *planar = ij_malloc(sizeof(float) * d);
    for (int i = 0; i < set->count; i++) {
        if (pixels_hwc(img, planar, set, i, tf)) {
            free(out), out = NULL;
            break;
        }
        float *o = out + (size_t)i * n * n * tok;
        for (int ty = 0; ty < n; ty++)
            for (int tx = 0; tx < n; tx++, o += tok)
                for (int y = 0; y < p; y++)
                    memcpy(o + y * p * C, img + ((size_t)(ty * p + y) * S + tx * p) * C, sizeof(float) * p * C);
    }
    free(img);
    free(planar);
    return out;
}

int eval_transform(IjEvalTransform *tf, const char *resize, double fraction, int size)
{
    ij_eval_transform_defaults(tf, size);
    if (ij_eval_resize_parse(resize, &tf->resize)) return opt_usage_error("%s", ij_last_error());
    tf->crop_fraction = fraction;
    return 0;
}

int eval_write_names(const IjImageSet *set, const char *prefix)
{
    char path[1200];
    if (set->names) {
        snprintf(path, sizeof path, "%s_files.txt", prefix);
        IjAtomicFile af;
        if (ij_atomic_open(&af, path)) return -1;
        for (int i = 0; i < set->count; i++) fprintf(af.f, "%s\n", set->names[i]);
        if (ij_atomic_commit(&af, 1)) return -1;
    }
    if (set->labels) {
        snprintf(path, sizeof path, "%s_classes.txt", prefix);
        IjAtomicFile af;
        if (ij_atomic_open(&af, path)) return -1;
        for (int c = 0; c < set->num_classes; c++) {
            if (set->class_names) fprintf(af.f, "%s\n", set->class_names[c]);
            else fprintf(af.f, "%d\n", c);
        }
        if (ij_atomic_commit(&af, 1)) return -1;
    }
    return 0;
}

int eval_set_precision(IjModel *m, int bf16)
{
    IjBf16Path path = IJ_BF16_OFF;
    if (bf16 && ij_bf16_path_choose(&path)) return -1;
    ij_model_set_bf16(m, path);
    if (bf16) fprintf(stderr, "matrix products: bf16 operands, float32 sums (%s)\n", ij_bf16_path_name(path));
    if (bf16 && m->encoder_only && ij_model_hold_bf16(m)) return -1; /* its weights in bf16: half the memory */
    return 0;
}
