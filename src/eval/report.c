/* report.c: see report.h. */
#include "eval/report.h"

#include "core/error.h"
#include "core/timer.h"
#include "eval/linear_head.h"
#include "io/fsutil.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

int ij_report_evaluate(IjReportRow *row, const char *name, const float *Xtr, const int *ytr, int ntr,
                       const float *Xte, const int *yte, int nte, int d, int C, uint64_t seed,
                       IjLinearHead *head, IjProgress progress, void *ctx)
{
    memset(row, 0, sizeof *row);
    snprintf(row->name, sizeof row->name, "%s", name);
    row->dim = d;
    double t0 = ij_now();
    IjProbeOptions po;
    ij_probe_default_options(&po);
    po.seed = seed;
    po.progress = progress;
    po.progress_ctx = ctx;
    IjKnnOptions ko;
    ij_knn_default_options(&ko);
    ko.progress = progress;
    ko.progress_ctx = ctx;
    po.head = head;
    if (ij_linear_probe(Xtr, ytr, ntr, Xte, yte, nte, d, C, &po, &row->linear)) return -1;
    po.head = NULL;
    if (ij_knn(Xtr, ytr, ntr, Xte, yte, nte, d, C, &ko, &row->knn)) return -1;
    if (ij_lowshot_probe(Xtr, ytr, ntr, Xte, yte, nte, d, C, 0.01, &po, &row->low1)) return -1;
    if (ij_lowshot_probe(Xtr, ytr, ntr, Xte, yte, nte, d, C, 0.10, &po, &row->low10)) return -1;
    row->seconds = ij_now() - t0;
    return 0;
}

int ij_report_attentive(IjReportRow *row, float *Xtr, const int *ytr, int ntr, float *Xte, const int *yte, int nte,
                        int T, int D, int C, uint64_t seed, int epochs, IjProgress progress, void *ctx)
{
    double t0 = ij_now();
    IjAttnProbeOptions o;
    ij_attnprobe_default_options(&o);
    o.seed = seed;
    o.epochs = epochs;
    o.progress = progress;
    o.progress_ctx = ctx;
    if (ij_attentive_probe(Xtr, ytr, ntr, Xte, yte, nte, T, D, C, &o, &row->attentive)) return -1;
    row->has_attentive = 1;
    row->seconds += ij_now() - t0;
    return 0;
}

static const char *header =
    "| features | dim | linear (test) | linear (val) | lambda | attentive (test) | attentive (val) | k-NN k=20 | 1-NN "
    "| 1%% labels | 10%% labels |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";

static void row_markdown(FILE *f, const IjReportRow *r)
{
    char at[32] = "-", av[32] = "-";
    if (r->has_attentive) {
        snprintf(at, sizeof at, "%.2f", 100 * r->attentive.test_acc);
        snprintf(av, sizeof av, "%.2f", 100 * r->attentive.val_acc);
    }
    char l1[32] = "-", l10[32] = "-";
    if (!r->low1.left_out) snprintf(l1, sizeof l1, "%.2f", 100 * r->low1.test_acc);
    if (!r->low10.left_out) snprintf(l10, sizeof l10, "%.2f", 100 * r->low10.test_acc);
    fprintf(f, "| %s | %d | %.2f | %.2f | %.0e | %s | %s | %.2f | %.2f | %s | %s |\n", r->name, r->dim,
            100 * r->linear.test_acc, 100 * r->linear.val_acc, r->linear.lambda, at, av, 100 * r->knn.acc_knn,
            100 * r->knn.acc_1nn, l1, l10);
}

/* A note under the table when a low-shot column was left out. */
static void left_out_note(FILE *f, const IjReport *r)
{
    for (int i = 0; i < r->nrows; i++) {
        const IjReportRow *x = &r->rows[i];
        if (!x->low1.left_out && !x->low10.left_out) continue;
        fprintf(f, "\nLow-shot: %s%s%s left out: the class-balanced subset (%d training images) has no class "
                   "with the 2 images that a validation split needs.\n",
                x->low1.left_out ? "1%" : "", x->low1.left_out && x->low10.left_out ? " and 10%" : "",
                !x->low1.left_out ? "10%" : "", x->low1.left_out ? x->low1.ntrain : x->low10.ntrain);
        return;
    }
}

void ij_report_print(const IjReport *r)
{
    printf("\n%s\n\n", r->title);
    printf(header);
    for (int i = 0; i < r->nrows; i++) row_markdown(stdout, &r->rows[i]);
    left_out_note(stdout, r);
    printf("\nAccuracies in %% on the test split. The linear probe's L2 strength (lambda) and the attentive\n"
           "probe's learning rate are chosen on a validation split carved from the training set (val\n"
           "columns); the test set is used once.\n");
    fflush(stdout);
}

int ij_report_write_markdown(const IjReport *r, const char *path)
{
    IjAtomicFile af;
    if (ij_atomic_open(&af, path)) return -1;
    FILE *f = af.f;
    fprintf(f, "# %s\n\n", r->title);
    fprintf(f, header);
    for (int i = 0; i < r->nrows; i++) row_markdown(f, &r->rows[i]);
    left_out_note(f, r);
    fprintf(f, "\nAccuracies in %% on the test split. Linear probe: multinomial logistic regression on\n"
               "standardised features, L2 strength chosen on a class-stratified 10%% validation split of\n"
               "the training set. k-NN: cosine similarity, k=20, temperature 0.07 weighted vote.\n"
               "Low-shot: the linear probe trained on a class-balanced 1%% / 10%% subset of the labels.\n"
               "Attentive: one learned query cross-attending to the final tokens (pixels: patches as tokens),\n"
               "then a linear layer (V-JEPA's readout), AdamW, learning rate chosen on the same kind of split.\n");
    return ij_atomic_commit(&af, 1);
}

static json_t *attentive_json(const IjReportRow *r)
{
    if (!r->has_attentive) return json_null();
    const IjAttnProbeResult *a = &r->attentive;
    json_t *lrs = json_array();
    for (int k = 0; k < a->nlrs; k++)
        json_array_append_new(lrs, json_pack("{s:f, s:f}", "lr", a->lrs[k], "val_acc", a->val_accs[k]));
    return json_pack("{s:f, s:f, s:f, s:i, s:i, s:i, s:i, s:i, s:o}", "test_acc", a->test_acc, "val_acc", a->val_acc,
                     "lr", a->lr, "heads", a->heads, "epochs", a->epochs, "ntrain", a->ntrain, "nval", a->nval,
                     "ntest", a->ntest, "lr_grid", lrs);
}

static json_t *probe_json(const IjProbeResult *p)
{
    if (p->left_out) return json_null();
    return json_pack("{s:f, s:f, s:f, s:f, s:i, s:i, s:i}", "test_acc", p->test_acc, "val_acc",
                     p->val_acc, "train_acc", p->train_acc, "lambda", p->lambda, "ntrain", p->ntrain,
                     "nval", p->nval, "ntest", p->ntest);
}

int ij_report_write_json(const IjReport *r, const char *path)
{
    json_t *rows = json_array();
    for (int i = 0; i < r->nrows; i++) {
        const IjReportRow *x = &r->rows[i];
        json_array_append_new(rows, json_pack("{s:s, s:i, s:o, s:o, s:{s:f, s:f, s:i}, s:o, s:o, s:f}",
            "features", x->name, "dim", x->dim, "linear", probe_json(&x->linear), "attentive", attentive_json(x),
            "knn", "acc_knn",
            x->knn.acc_knn, "acc_1nn", x->knn.acc_1nn, "k", x->knn.k, "lowshot_1pct",
            probe_json(&x->low1), "lowshot_10pct", probe_json(&x->low10), "seconds", x->seconds));
    }
    json_t *doc = json_pack("{s:s, s:s, s:o, s:o}", "title", r->title, "checkpoint", r->checkpoint, "step",
                            r->step >= 0 ? json_integer(r->step) : json_null(), "rows", rows);
    IjAtomicFile af;
    int rc = ij_atomic_open(&af, path);
    if (rc == 0) rc = ij_atomic_commit(&af, json_dumpf(doc, af.f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0);
    json_decref(doc);
    return rc;
}
