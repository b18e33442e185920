/* cmd_embed.c: `ijepa embed`: frozen features of a checkpoint's encoder as .npy files. */
#include "cli/commands.h"

#include "cli/eval_common.h"
#include "cli/options.h"
#include "core/error.h"
#include "io/fsutil.h"
#include "io/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ijepa embed --checkpoint FILE --out PREFIX [options]\n\n"
    "Write PREFIX_features.npy (float32 [n, dim]) and PREFIX_labels.npy (int32 [n]) with the\n"
    "frozen features of a checkpoint's target (default) or context encoder, for every image\n"
    "of a data split, with PREFIX_files.txt (the file of each row) and PREFIX_classes.txt (the\n"
    "class name of each label). Images may have any size (--resize). --random-init embeds with a\n"
    "freshly initialised encoder of the same shape.";

int cmd_embed(int argc, char **argv)
{
    const char *checkpoint = NULL, *data = "fashion-mnist", *encoder = "target", *pool_s = "last";
    const char *split = "train", *out = NULL, *resize = "auto";
    int batch = 256, random_init = 0, seed = 0, bf16 = 0, threads = 0, heads = 0, want_tokens = 0;
    double crop_fraction = 0.875;
    Option o[] = {
        {"checkpoint", OPT_STRING, &checkpoint, "safetensors checkpoint (a training run's, or a bare encoder)", 0, -1, NULL},
        {"data", OPT_STRING, &data, "data source", 0, -1, NULL},
        {"split", OPT_STRING, &split, "train or test", 0, -1, NULL},
        {"encoder", OPT_STRING, &encoder, "target or context", 0, -1, NULL},
        {"pool", OPT_STRING, &pool_s, "last or last4", 0, -1, NULL},
        {"out", OPT_STRING, &out, "output prefix", 0, -1, NULL},
        {"batch", OPT_INT, &batch, "images per forward pass", 1, 65536, NULL},
        {"random-init", OPT_FLAG, &random_init, "use a random-init encoder of the checkpoint's shape", 0, -1, NULL},
        {"seed", OPT_INT, &seed, "seed of --random-init", 0, 2147483647, NULL},
        {"bf16", OPT_SWITCH, &bf16, "bf16 operands in the matrix products, float32 sums", 0, -1, NULL},
        EVAL_TRANSFORM_OPTIONS(resize, crop_fraction),
        EVAL_HEADS_OPTION(heads),
        {"tokens", OPT_FLAG, &want_tokens, "also write PREFIX_tokens.npy: every image's final (normed) patch features [n, N, D]", 0, -1, NULL},
        OPT_THREADS(threads),
    };
    int rc = opt_parse(o, (int)(sizeof o / sizeof o[0]), argc, argv, 2, usage);
    if (rc) return rc < 0 ? -1 : 0;
    if (!checkpoint || !out) return opt_usage_error("--checkpoint and --out are required (see --help)");
    opt_apply_threads(threads);
    int train = strcmp(split, "train") == 0;
    if (!train && strcmp(split, "test") != 0) return opt_usage_error("--split must be 'train' or 'test', got '%s'", split);
    IjPool pool;
    if (eval_parse_pool(pool_s, &pool)) return -1;
    char path[1100];
    snprintf(path, sizeof path, "%s_features.npy", out);
    if (ij_check_writable(path)) return -1; /* before the work, not after it */
    IjModel m;
    if (eval_load_model(&m, checkpoint, heads, encoder, NULL)) return -1;
    if (random_init) {
        IjConfig c = m.cfg;
        ij_model_free(&m);
        if (ij_model_init_encoder(&m, &c, (uint64_t)seed)) return -1;
    }
    if (eval_set_precision(&m, bf16)) {
        ij_model_free(&m);
        return -1;
    }
    const IjEncoderW *w;
    IjImageSet set = {0};
    float *X = NULL, *tokens = NULL;
    rc = -1;
    IjLoadOptions lo = {.channels = m.cfg.channels, .keep_files = 1}; /* images of any size, decoded one by one */
    IjEvalTransform tf;
    if (eval_transform(&tf, resize, crop_fraction, m.cfg.img_size) || eval_pick_encoder(&m, encoder, &w) ||
        ij_imageset_load_opts(&set, data, train, &lo))
        goto done;
    if (!train && !set.has_splits) {
        ij_error("%s: class folders / tar shards have no test split: pass the held-out data as --data", data);
        goto done;
    }
    X = eval_embed(&m, w, &set, &tf, pool, batch, "embed", want_tokens ? &tokens : NULL);
    int64_t shape[2] = {set.count, ij_embed_dim(&m.cfg, pool)};
    if (!X || eval_check_finite(X, (size_t)shape[0] * (size_t)shape[1], checkpoint)) goto done;
    snprintf(path, sizeof path, "%s_features.npy", out);
    if (ij_npy_write_f32(path, X, 2, shape)) goto done;
    printf("wrote %s [%lld, %lld] float32\n", path, (long long)shape[0], (long long)shape[1]);
    if (set.labels) {
        snprintf(path, sizeof path, "%s_labels.npy", out);
        if (ij_npy_write_i32(path, (const int32_t *)set.labels, 1, shape)) goto done;
        printf("wrote %s [%lld] int32\n", path, (long long)shape[0]);
    }
    if (tokens) {
        int64_t tshape[3] = {set.count, ij_num_patches(&m.cfg), m.cfg.embed_dim};
        snprintf(path, sizeof path, "%s_tokens.npy", out);
        if (eval_check_finite(tokens, (size_t)tshape[0] * tshape[1] * tshape[2], checkpoint) ||
            ij_npy_write_f32(path, tokens, 3, tshape))
            goto done;
        printf("wrote %s [%lld, %lld, %lld] float32\n", path, (long long)tshape[0], (long long)tshape[1],
               (long long)tshape[2]);
    }
    if (eval_write_names(&set, out)) goto done;
    if (set.names) printf("wrote %s_files.txt (the file of each row)\n", out);
    if (set.labels) printf("wrote %s_classes.txt (the class of each label)\n", out);
    rc = 0;
done:
    free(X);
    free(tokens);
    ij_imageset_free(&set);
    ij_model_free(&m);
    return rc;
}
