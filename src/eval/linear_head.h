/* linear_head.h: the linear probe's classifier, kept: saved beside a checkpoint (`probe --save-head`)
 * and applied to new images (`ijepa predict`).
 *
 * A head is the standardisation of the features (mean, scale from the training rows) and the
 * multinomial logistic regression on them: logits = W x_std + b, probabilities = softmax(logits).
 * Its file is safetensors: "weight" [C, d], "bias" [C], "mean" [d], "scale" [d] (float32), and in
 * the metadata what made the features (checkpoint, encoder, pooling, evaluation transform), the class
 * names (one per line under "classes") and how well it did (lambda, val_acc, test_acc). */
#ifndef IJEPA_EVAL_LINEAR_HEAD_H
#define IJEPA_EVAL_LINEAR_HEAD_H

#include <stddef.h>

typedef struct IjLinearHead {
    int d, C;
    double *theta;      /* [C * d + C]: W row-major, then b (eval/logreg.h) */
    float *mean, *scale; /* [d] */
    double lambda;
} IjLinearHead;

/* Copy a fit into h (h's old contents freed). mean/scale NULL: no standardisation (0 and 1). */
void ij_linear_head_set(IjLinearHead *h, int d, int C, const double *theta, const float *mean, const float *scale,
                        double lambda);
void ij_linear_head_free(IjLinearHead *h);
/* pred[n] (argmax) and, unless prob is NULL, prob[n, C] (softmax) of features X[n, d]. */
void ij_linear_head_apply(const IjLinearHead *h, const float *X, int n, int *pred, float *prob);
/* meta: nmeta key/value pairs (written as they are). Atomic, like every file this program writes. */
int ij_linear_head_save(const IjLinearHead *h, const char *path, const char *const *meta, int nmeta);
/* Load a head (h zeroed or freed before); -1 with a message naming the file. */
int ij_linear_head_load(IjLinearHead *h, const char *path);
/* A metadata value of a head file, malloc'd (the caller frees it), or NULL when absent. */
char *ij_linear_head_meta(const char *path, const char *key);

#endif
