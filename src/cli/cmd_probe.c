/* cmd_probe.c: `ijepa probe`: frozen-feature evaluation of a checkpoint beside
 * its two baselines (raw pixels and a random-init encoder of the same shape
 * and seed), all measured the same way in the same run. */
#include "cli/commands.h"

#include "cli/eval_common.h"
#include "cli/options.h"
#include "core/error.h"
#include "eval/linear_head.h"
#include "eval/report.h"
#include "io/fsutil.h"
#include "io/npy.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ijepa probe --checkpoint FILE [options]\n\n"
    "Evaluate the frozen encoder of a checkpoint (target encoder by default): linear probe\n"
    "(L2 strength chosen on a validation split of the training set), k-NN (cosine, k=20,\n"
    "T=0.07) and 1-NN, and low-shot linear probes with 1% and 10% of the labels; beside it\n"
    "the same evaluations of raw pixels and of a random-init encoder of the same shape and\n"
    "seed. With --attentive (on by default) also an attentive probe on the final tokens (one\n"
    "learned query cross-attending to them, then a linear layer; pixels: patches as tokens).\n"
    "Prints a table and writes probe.json, probe.md and the features (.npy) to --out.";

/* The attentive probe's settings (--attentive, --attentive-epochs, --attentive-max-gb). */
typedef struct {
    int on, epochs;
    double max_gb;
} AttnSettings;

/* Whether tokens [n, T, D] of both splits fit in the memory allowed to them; says so when not. */
static int tokens_fit(const AttnSettings *a, const char *name, size_t ntok, int D)
{
    double gb = (double)ntok * D * sizeof(float) / (1 << 30);
    if (!a->on) return 0;
    if (gb <= a->max_gb) return 1;
    printf("%s: attentive probe skipped: its tokens would take %.1f GB (--attentive-max-gb %.1f)\n", name, gb,
           a->max_gb);
    return 0;
}

static int save_features(const char *dir, const char *name, const float *X, int n, int d)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    int64_t shape[2] = {n, d};
    return ij_npy_write_f32(path, X, 2, shape);
}

static int save_labels(const char *dir, const char *name, const int *y, int n)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    int64_t shape[1] = {n};
    return ij_npy_write_i32(path, (const int32_t *)y, 1, shape);
}

/* Embed train and test with one encoder, save the features, evaluate. */
static int evaluate_encoder(IjReportRow *row, const char *name, const char *source, const char *file, IjModel *m,
                            const IjEncoderW *w, const IjImageSet *tr, const IjImageSet *te, const IjEvalTransform *tf,
                            IjPool pool, int batch, const char *fdir, int C, int seed, const AttnSettings *a,
                            IjLinearHead *head)
{
    int d = ij_embed_dim(&m->cfg, pool), rc = -1, T = ij_num_patches(&m->cfg), D = m->cfg.embed_dim;
    int attn = tokens_fit(a, name, (size_t)(tr->count + te->count) * T, D);
    float *Ttr = NULL, *Tte = NULL;
    float *Xtr = eval_embed(m, w, tr, tf, pool, batch, name, attn ? &Ttr : NULL);
    float *Xte = Xtr ? eval_embed(m, w, te, tf, pool, batch, name, attn ? &Tte : NULL) : NULL;
    char fn[128];
    if (!Xte || eval_check_finite(Xtr, (size_t)tr->count * d, source) ||
        eval_check_finite(Xte, (size_t)te->count * d, source))
        goto out;
    snprintf(fn, sizeof fn, "%s_train", file);
    if (save_features(fdir, fn, Xtr, tr->count, d)) goto out;
    snprintf(fn, sizeof fn, "%s_test", file);
    if (save_features(fdir, fn, Xte, te->count, d)) goto out;
    rc = ij_report_evaluate(row, name, Xtr, tr->labels, tr->count, Xte, te->labels, te->count, d, C,
                            (uint64_t)seed, head, eval_progress, (void *)name);
    if (rc == 0 && attn)
        rc = ij_report_attentive(row, Ttr, tr->labels, tr->count, Tte, te->labels, te->count, T, D, C,
                                 (uint64_t)seed, a->epochs, eval_progress, (void *)name);
out:
    free(Xtr);
    free(Xte);
    free(Ttr);
    free(Tte);
    return rc;
}

/* Raw pixels: the linear, k-NN and low-shot probes on whole images, the attentive probe on p x p patches. */
static int evaluate_pixels(IjReportRow *row, const IjImageSet *tr, const IjImageSet *te, const IjEvalTransform *tf,
                           int p, const char *fdir, int C, int seed, const AttnSettings *a)
{
    const char *name = "raw pixels";
    float *ptr = eval_pixels(tr, tf), *pte = ptr ? eval_pixels(te, tf) : NULL;
    if (!pte) {
        free(ptr);
        return -1;
    }
    int S = tf->size, d = S * S * tr->channels, T = (S / p) * (S / p), D = p * p * tr->channels;
    int e = save_features(fdir, "pixels_train", ptr, tr->count, d) ||
            save_features(fdir, "pixels_test", pte, te->count, d) ||
            ij_report_evaluate(row, name, ptr, tr->labels, tr->count, pte, te->labels, te->count, d, C,
                               (uint64_t)seed, NULL, eval_progress, (void *)name);
    free(ptr);
    free(pte);
    if (!e && T > 0 && tokens_fit(a, name, (size_t)(tr->count + te->count) * T, D)) {
        ptr = eval_pixel_patches(tr, tf, p);
        pte = ptr ? eval_pixel_patches(te, tf, p) : NULL;
        if (!pte) {
            free(ptr);
            return -1;
        }
        e = ij_report_attentive(row, ptr, tr->labels, tr->count, pte, te->labels, te->count, T, D, C,
                                (uint64_t)seed, a->epochs, eval_progress, (void *)name);
        free(ptr);
        free(pte);
    }
    return e ? -1 : 0;
}

/* --save-head: the classifier, with what `ijepa predict` needs to make the same features. */
static int write_head(const char *path, const IjLinearHead *h, const IjReportRow *row, const char *checkpoint,
                      const char *encoder, const char *pool, int heads, const IjEvalTransform *tf, const IjImageSet *tr)
{
    size_t len = 1;
    for (int c = 0; c < tr->num_classes; c++) len += (tr->class_names ? strlen(tr->class_names[c]) : 11) + 1;
    char *classes = ij_calloc(len, 1), num[5][32];
    for (int c = 0, k = 0; c < tr->num_classes; c++) {
        if (tr->class_names) k += snprintf(classes + k, len - (size_t)k, "%s%s", c ? "\n" : "", tr->class_names[c]);
        else k += snprintf(classes + k, len - (size_t)k, "%s%d", c ? "\n" : "", c);
    }
    snprintf(num[0], sizeof num[0], "%d", heads);
    snprintf(num[1], sizeof num[1], "%.17g", tf->crop_fraction);
    snprintf(num[2], sizeof num[2], "%.17g", row->linear.lambda);
    snprintf(num[3], sizeof num[3], "%.6f", row->linear.val_acc);
    snprintf(num[4], sizeof num[4], "%.6f", row->linear.test_acc);
    const char *meta[] = {"format", "ijepa.c linear head", "checkpoint", checkpoint, "encoder", encoder, "pool", pool,
                          "heads", num[0], "resize", ij_eval_resize_name(tf->resize), "crop_fraction", num[1],
                          "classes", classes, "lambda", num[2], "val_acc", num[3], "test_acc", num[4]};
    int rc = ij_linear_head_save(h, path, meta, (int)(sizeof meta / sizeof meta[0] / 2));
    free(classes);
    if (!rc) printf("wrote %s (the linear classifier: ijepa predict --head %s --data ...)\n", path, path);
    return rc;
}

int cmd_probe(int argc, char **argv)
{
    const char *checkpoint = NULL, *data = "fashion-mnist", *encoder = "target", *pool_s = "last";
    const char *out = NULL, *test_data = NULL, *resize = "auto", *save_head = NULL;
    int seed = -1, batch = 256, baselines = 1, bf16 = 0, threads = 0, heads = 0;
    double crop_fraction = 0.875;
    AttnSettings attn = {1, 20, 8.0};
    Option o[] = {
        {"checkpoint", OPT_STRING, &checkpoint, "safetensors checkpoint (a training run's, or a bare encoder)", 0, -1, NULL},
        {"data", OPT_STRING, &data, "labelled training data: fashion-mnist or IDX files (with their test split), or class folders / tar shards", 0, -1, NULL},
        {"test-data", OPT_STRING, &test_data, "labelled test data (required for class folders and tar shards, e.g. a held-out shard)", 0, -1, NULL},
        {"encoder", OPT_STRING, &encoder, "target or context", 0, -1, NULL},
        {"pool", OPT_STRING, &pool_s, "last (average of the final tokens) or last4 (4 last blocks)", 0, -1, NULL},
        {"out", OPT_STRING, &out, "folder for probe.json, probe.md, features/ (default: the checkpoint's folder)", 0, -1, NULL},
        {"seed", OPT_INT, &seed, "seed of the random-init baseline and the splits (default: the run's seed)", -1, 2147483647, NULL},
        {"batch", OPT_INT, &batch, "images per forward pass", 1, 65536, NULL},
        {"baselines", OPT_INT, &baselines, "1: also evaluate raw pixels and a random-init encoder", 0, 1, NULL},
        {"bf16", OPT_SWITCH, &bf16, "bf16 operands in the encoders' matrix products, float32 sums", 0, -1, NULL},
        {"attentive", OPT_SWITCH, &attn.on, "attentive probe on the final tokens (pixels: patches as tokens)", 0, -1, NULL},
        {"attentive-epochs", OPT_INT, &attn.epochs, "attentive probe: epochs of each fit (one per learning rate 3e-4, 1e-3, 3e-3, then the refit)", 1, 10000, NULL},
        {"attentive-max-gb", OPT_FLOAT, &attn.max_gb, "attentive probe: most memory its tokens may take (else the column is left out, with a note)", 0, 1e6, NULL},
        EVAL_TRANSFORM_OPTIONS(resize, crop_fraction),
        EVAL_HEADS_OPTION(heads),
        {"save-head", OPT_STRING, &save_head, "write the I-JEPA row's linear classifier here (safetensors; for ijepa predict)", 0, -1, NULL},
        OPT_THREADS(threads),
    };
    int rc = opt_parse(o, (int)(sizeof o / sizeof o[0]), argc, argv, 2, usage);
    if (rc) return rc < 0 ? -1 : 0;
    if (!checkpoint) return opt_usage_error("--checkpoint is required (see --help)");
    opt_apply_threads(threads);
    IjPool pool;
    if (eval_parse_pool(pool_s, &pool)) return -1;
    char dirbuf[1024];
    if (!out) {
        snprintf(dirbuf, sizeof dirbuf, "%s", checkpoint);
        out = dirname(dirbuf);
    }
    char fdir[1100];
    snprintf(fdir, sizeof fdir, "%s/features", out);
    char path[1200];
    snprintf(path, sizeof path, "%s/probe.json", out);
    if (ij_mkdirs(fdir) || ij_check_writable(path) || (save_head && ij_check_writable(save_head)))
        return -1; /* before the work, not after it */

    int run_seed = 0;
    IjModel m, r;
    if (eval_load_model(&m, checkpoint, heads, encoder, &run_seed)) return -1;
    if (seed < 0) seed = run_seed;
    const IjEncoderW *w;
    if (eval_set_precision(&m, bf16) || eval_pick_encoder(&m, encoder, &w)) {
        ij_model_free(&m);
        return -1;
    }
    IjImageSet tr = {0}, te = {0};
    IjReport rep = {0};
    IjLinearHead head = {0};
    rc = -1;
    IjLoadOptions lo = {.channels = m.cfg.channels, .keep_files = 1}; /* images of any size, decoded one by one */
    IjEvalTransform tf;
    if (eval_transform(&tf, resize, crop_fraction, m.cfg.img_size) || ij_imageset_load_opts(&tr, data, 1, &lo))
        goto done;
    if (!test_data && !tr.has_splits) { /* folders and tar shards have no test split of their own */
        ij_error("%s: class folders / tar shards have no test split: name held-out data with --test-data", data);
        goto done;
    }
    if (ij_imageset_load_opts(&te, test_data ? test_data : data, 0, &lo)) goto done;
    if (!tr.labels || !te.labels) {
        ij_error("%s: probing needs labels for both splits", tr.labels ? te.source : data);
        goto done;
    }
    int same_classes = !tr.class_names == !te.class_names && tr.num_classes == te.num_classes;
    for (int i = 0; same_classes && tr.class_names && i < tr.num_classes; i++)
        same_classes = !strcmp(tr.class_names[i], te.class_names[i]);
    if (!same_classes) {
        ij_error("%s: its classes differ from those of %s", te.source, tr.source);
        goto done;
    }
    int C = tr.num_classes > te.num_classes ? tr.num_classes : te.num_classes;
    snprintf(rep.checkpoint, sizeof rep.checkpoint, "%s", checkpoint);
    rep.step = eval_checkpoint_step(checkpoint);
    snprintf(rep.title, sizeof rep.title, "%s: %s encoder, %s pooling; %d train images of %s / %d test images%s%s",
             checkpoint, encoder, pool_s, tr.count, data, te.count, test_data ? " of " : "",
             test_data ? test_data : "");
    char prefix[2][1200];
    snprintf(prefix[0], sizeof prefix[0], "%s/train", fdir);
    snprintf(prefix[1], sizeof prefix[1], "%s/test", fdir);
    if (save_labels(fdir, "labels_train", tr.labels, tr.count) ||
        save_labels(fdir, "labels_test", te.labels, te.count) || eval_write_names(&tr, prefix[0]) ||
        eval_write_names(&te, prefix[1]))
        goto done;
    char name[64];
    snprintf(name, sizeof name, "I-JEPA (%s encoder)", encoder);
    if (evaluate_encoder(&rep.rows[rep.nrows++], name, checkpoint, "ijepa", &m, w, &tr, &te, &tf, pool, batch, fdir, C,
                         seed, &attn, save_head ? &head : NULL))
        goto done;
    if (save_head && write_head(save_head, &head, &rep.rows[0], checkpoint, encoder, pool_s, heads, &tf, &tr)) goto done;
    if (baselines) {
        if (ij_model_init_encoder(&r, &m.cfg, (uint64_t)seed)) goto done;
        ij_model_set_bf16(&r, m.bf16);
        if (m.bf16 && ij_model_hold_bf16(&r)) goto done;
        int e = evaluate_encoder(&rep.rows[rep.nrows++], "random-init encoder", "random-init encoder", "random", &r,
                                 &r.tenc, &tr, &te, &tf, pool, batch, fdir, C, seed, &attn, NULL);
        ij_model_free(&r);
        if (e) goto done;
        if (evaluate_pixels(&rep.rows[rep.nrows++], &tr, &te, &tf, m.cfg.patch_size, fdir, C, seed, &attn)) goto done;
    }
    ij_report_print(&rep);
    snprintf(path, sizeof path, "%s/probe.json", out);
    if (ij_report_write_json(&rep, path)) goto done;
    snprintf(path, sizeof path, "%s/probe.md", out);
    if (ij_report_write_markdown(&rep, path)) goto done;
    printf("wrote %s/probe.json, %s/probe.md and features/*.npy\n", out, out);
    rc = 0;
done:
    ij_linear_head_free(&head);
    ij_imageset_free(&tr);
    ij_imageset_free(&te);
    ij_model_free(&m);
    return rc;
}
