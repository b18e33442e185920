/* report.h: the evaluation report: linear probe, k-NN and low-shot probes for
 * several feature sets (the model and its baselines), measured the same way in
 * the same run, as a terminal table, JSON and Markdown. */
#ifndef IJEPA_EVAL_REPORT_H
#define IJEPA_EVAL_REPORT_H

#include "eval/attentive_probe.h"
#include "eval/probe.h"

typedef struct {
    char name[64];          /* "I-JEPA (target encoder)", "random init", "raw pixels" */
    int dim;
    IjProbeResult linear, low1, low10;
    IjKnnResult knn;
    int has_attentive;      /* 0: no tokens for this row, or the attentive probe was not asked for */
    IjAttnProbeResult attentive;
    double seconds;
} IjReportRow;

typedef struct {
    char title[512];
    char checkpoint[512];   /* the checkpoint evaluated ("" if none) */
    long long step;         /* its training step; -1 when it records none */
    IjReportRow rows[8];
    int nrows;
} IjReport;

/* All evaluations of one feature set (features are not modified). head: NULL, or it gets the linear
 * probe's classifier (eval/linear_head.h). */
int ij_report_evaluate(IjReportRow *row, const char *name, const float *Xtr, const int *ytr, int ntr,
                       const float *Xte, const int *yte, int nte, int d, int C, uint64_t seed,
                       struct IjLinearHead *head, IjProgress progress, void *ctx);
/* The attentive probe on the row's tokens [ntr, T, D] and [nte, T, D] (normalised in place), epochs
 * as given; adds its seconds to the row's. */
int ij_report_attentive(IjReportRow *row, float *Xtr, const int *ytr, int ntr, float *Xte, const int *yte, int nte,
                        int T, int D, int C, uint64_t seed, int epochs, IjProgress progress, void *ctx);
void ij_report_print(const IjReport *r);
int ij_report_write_markdown(const IjReport *r, const char *path);
int ij_report_write_json(const IjReport *r, const char *path);

#endif
