/* cmd_predict.c: `ijepa predict`: a linear head saved by `probe --save-head` applied to new images. */
#include "cli/commands.h"

#include "cli/eval_common.h"
#include "cli/options.h"
#include "core/error.h"
#include "eval/linear_head.h"
#include "io/fsutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ijepa predict --head HEAD.safetensors --data IMAGES [--out predictions.csv] [options]\n\n"
    "Classify images with a linear head that `ijepa probe --save-head` wrote: the images go through the\n"
    "same encoder, pooling and evaluation transform as when the head was fitted (all recorded in the\n"
    "head's file; --checkpoint points elsewhere if the checkpoint moved), then the head. Writes one line\n"
    "per image: file, predicted class, its probability; prints the class counts, and the accuracy when\n"
    "the images are labelled with the head's classes.";

/* The head's class names (one per line in its metadata), in a malloc'd array of n pointers into text. */
static char **split_classes(char *text, int C)
{
    char **names = ij_calloc((size_t)C, sizeof(char *));
    char *p = text;
    for (int c = 0; c < C && p; c++) {
        names[c] = p;
        p = strchr(p, '\n');
        if (p) *p++ = '\0';
    }
    return names;
}

/* A CSV field, quoted, its quotes doubled (RFC 4180). */
static void csv_field(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int cmd_predict(int argc, char **argv)
{
    const char *head_path = NULL, *data = NULL, *out = NULL, *checkpoint = NULL;
    int batch = 256, threads = 0, bf16 = 0;
    Option o[] = {
        {"head", OPT_STRING, &head_path, "linear head from `ijepa probe --save-head`", 0, -1, NULL},
        {"data", OPT_STRING, &data, "images: a folder (of class folders or not), tar shards, IDX", 0, -1, NULL},
        {"out", OPT_STRING, &out, "CSV of the predictions (file,class,probability); default: none", 0, -1, NULL},
        {"checkpoint", OPT_STRING, &checkpoint, "the encoder's checkpoint (default: the one the head records)", 0, -1, NULL},
        {"batch", OPT_INT, &batch, "images per forward pass", 1, 65536, NULL},
        {"bf16", OPT_SWITCH, &bf16, "bf16 operands in the matrix products, float32 sums", 0, -1, NULL},
        OPT_THREADS(threads),
    };
    int rc = opt_parse(o, (int)(sizeof o / sizeof o[0]), argc, argv, 2, usage);
    if (rc) return rc < 0 ? -1 : 0;
    if (!head_path || !data) return opt_usage_error("--head and --data are required (see --help)");
    opt_apply_threads(threads);
    if (out && ij_check_writable(out)) return -1;
    IjLinearHead head;
    if (ij_linear_head_load(&head, head_path)) return -1;
    char *meta[6] = {ij_linear_head_meta(head_path, "checkpoint"), ij_linear_head_meta(head_path, "encoder"),
                     ij_linear_head_meta(head_path, "pool"), ij_linear_head_meta(head_path, "resize"),
                     ij_linear_head_meta(head_path, "crop_fraction"), ij_linear_head_meta(head_path, "classes")};
    char *heads_s = ij_linear_head_meta(head_path, "heads");
    IjModel m = {0};
    IjImageSet set = {0};
    float *X = NULL, *prob = NULL;
    int *pred = NULL, *count = NULL;
    char **classes = NULL;
    rc = -1;
    for (int i = 0; i < 6; i++)
        if (!meta[i]) {
            ij_error("%s: not a head from `ijepa probe --save-head` (its metadata lacks what made the features)",
                     head_path);
            goto done;
        }
    if (!checkpoint) checkpoint = meta[0];
    IjPool pool;
    IjEvalTransform tf;
    const IjEncoderW *w;
    if (eval_parse_pool(meta[2], &pool) || eval_load_model(&m, checkpoint, heads_s ? atoi(heads_s) : 0, meta[1], NULL) ||
        eval_set_precision(&m, bf16) || eval_pick_encoder(&m, meta[1], &w) ||
        eval_transform(&tf, meta[3], atof(meta[4]), m.cfg.img_size))
        goto done;
    if (ij_embed_dim(&m.cfg, pool) != head.d) {
        ij_error("%s: the head takes %d features, %s with %s pooling gives %d", head_path, head.d, checkpoint,
                 meta[2], ij_embed_dim(&m.cfg, pool));
        goto done;
    }
    IjLoadOptions lo = {.channels = m.cfg.channels, .keep_files = 1};
    if (ij_imageset_load_opts(&set, data, 1, &lo)) goto done;
    X = eval_embed(&m, w, &set, &tf, pool, batch, "predict", NULL);
    if (!X || eval_check_finite(X, (size_t)set.count * head.d, checkpoint)) goto done;
    pred = ij_malloc(sizeof(int) * (size_t)set.count);
    prob = ij_malloc(sizeof(float) * (size_t)set.count * head.C);
    ij_linear_head_apply(&head, X, set.count, pred, prob);
    classes = split_classes(meta[5], head.C);
    count = ij_calloc((size_t)head.C, sizeof(int));
    for (int i = 0; i < set.count; i++) count[pred[i]]++;
    printf("%d images:", set.count);
    for (int c = 0; c < head.C; c++) printf(" %s %d%s", classes[c] ? classes[c] : "?", count[c], c + 1 < head.C ? "," : "\n");
    /* labelled images whose class names are the head's: the accuracy */
    if (set.labels && set.class_names) {
        int *map = ij_malloc(sizeof(int) * (size_t)set.num_classes), known = 1, correct = 0;
        for (int k = 0; k < set.num_classes; k++) {
            map[k] = -1;
            for (int c = 0; c < head.C; c++)
                if (classes[c] && !strcmp(classes[c], set.class_names[k])) map[k] = c;
            known &= map[k] >= 0;
        }
        for (int i = 0; known && i < set.count; i++) correct += pred[i] == map[set.labels[i]];
        if (known) printf("accuracy: %.2f%% (%d of %d; the images' folders name the head's classes)\n",
                          100.0 * correct / set.count, correct, set.count);
        free(map);
    }
    if (out) {
        IjAtomicFile af;
        if (ij_atomic_open(&af, out)) goto done;
        fprintf(af.f, "file,class,probability\n");
        for (int i = 0; i < set.count; i++) {
            char idx[32];
            snprintf(idx, sizeof idx, "%d", i);
            csv_field(af.f, set.names ? set.names[i] : idx);
            fputc(',', af.f);
            csv_field(af.f, classes[pred[i]] ? classes[pred[i]] : "?");
            fprintf(af.f, ",%.6f\n", prob[(size_t)i * head.C + pred[i]]);
        }
        if (ij_atomic_commit(&af, 1)) goto done;
        printf("wrote %s\n", out);
    }
    rc = 0;
done:
    for (int i = 0; i < 6; i++) free(meta[i]);
    free(heads_s);
    free(classes);
    free(count);
    free(pred);
    free(prob);
    free(X);
    ij_imageset_free(&set);
    ij_model_free(&m);
    ij_linear_head_free(&head);
    return rc;
}
