/* attentive_probe.h: the attentive probe, V-JEPA's readout of frozen tokens (SPEC section 10).
 *
 * One learned query q0 cross-attends to the frozen tokens x [T, D] of an image:
 *   k, v = LN1(x) Wk + bk, LN1(x) Wv + bv;  q = q0 Wq + bq
 *   y    = concat_h softmax(q_h k_h^T / sqrt(D/H)) v_h;  q1 = q0 + y Wp + bp
 *   q2   = q1 + GELU(LN2(q1) W1 + b1) W2 + b2;            logits = q2 Wc + bc
 * trained with AdamW on the mean cross-entropy. Weights are stored [in, out] (x W).
 *
 * Two identities make it cheap without changing what it computes (up to float32 rounding):
 *   - the tokens are frozen, so LN1's normalisation (before its affine) is done once, in place;
 *   - with one query, q_h k_t^T = LN1(x_t) (Wk_h q_h) + bk_h q_h, and the second term is the same
 *     for every token, so softmax ignores it (bk's gradient is zero); and sum_t p_t v_t =
 *     (sum_t p_t LN1(x_t)) Wv_h + bv_h. So an image costs O(T D H), not the O(T D^2) of k and v.
 * tests/test_attentive_probe.c holds this against the direct computation and finite differences.
 *
 * The protocol matches the linear probe's: the learning rate is chosen on a class-stratified
 * validation split of the training set, the probe is refit on the whole training set with it and
 * scored once on the test set. Deterministic for a seed and thread count.
 */
#ifndef IJEPA_EVAL_ATTENTIVE_PROBE_H
#define IJEPA_EVAL_ATTENTIVE_PROBE_H

#include "core/buf.h"
#include "core/progress.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int D, heads, C;
    size_t nparams;
    float *params; /* all parameters, laid out as below (ij_attnprobe_param) */
} IjAttnProbe;

/* The parameter tensors, in their order in params. */
typedef enum {
    IJ_AP_Q0, IJ_AP_WQ, IJ_AP_BQ, IJ_AP_WK, IJ_AP_BK, IJ_AP_WV, IJ_AP_BV, IJ_AP_WP, IJ_AP_BP,
    IJ_AP_LN1W, IJ_AP_LN1B, IJ_AP_LN2W, IJ_AP_LN2B, IJ_AP_W1, IJ_AP_B1, IJ_AP_W2, IJ_AP_B2,
    IJ_AP_WC, IJ_AP_BC, IJ_AP_NTENSORS
} IjAttnParam;

/* Offset and length (floats) of one tensor; decay = 1 for the matrices AdamW's weight decay applies to. */
size_t ij_attnprobe_param(const IjAttnProbe *p, IjAttnParam t, size_t *len, int *decay);
/* Heads for width D: D / 64 when D is a multiple of 64 (V-JEPA's head width), else 1. */
int ij_attnprobe_default_heads(int D);
/* SPEC's initialisation from seed: q0 and the weights N(0, 0.02^2), Wp and W2 then divided by sqrt 2,
 * biases 0, LayerNorms 1 / 0. Returns 0, or -1 with an error (heads must divide D). */
int ij_attnprobe_init(IjAttnProbe *p, int D, int heads, int C, uint64_t seed);
void ij_attnprobe_free(IjAttnProbe *p);

/* LN1's normalisation without its affine, in place over n tokens of D features (eps 1e-5). */
void ij_attnprobe_normalize_tokens(float *x, size_t n, int D);

typedef struct {
    IjBuf b[26];
} IjAttnProbeWork;
void ij_attnprobe_work_free(IjAttnProbeWork *w);

/* Mean cross-entropy of images xhat [B, T, D] (normalised tokens) with labels y[B] (y may be NULL:
 * forward only, returns 0). logits [B, C] may be NULL; grad (nparams floats, overwritten) may be NULL. */
double ij_attnprobe_loss(const IjAttnProbe *p, IjAttnProbeWork *w, const float *xhat, const int *y, int B, int T,
                         float *logits, float *grad);

#define IJ_ATTN_MAX_LRS 8

typedef struct {
    int epochs;           /* 20 */
    int batch;            /* images per step: 256 */
    int nlrs;             /* peak learning rates tried: 3e-4, 1e-3, 3e-3 */
    double lrs[IJ_ATTN_MAX_LRS];
    double weight_decay;  /* on the matrices: 0.01 */
    double warmup;        /* share of the steps with a linear warm-up, then cosine to 0: 0.1 */
    double val_fraction;  /* 0.1 */
    int heads;            /* 0: ij_attnprobe_default_heads */
    uint64_t seed;        /* init, split and batch order: 0 */
    IjProgress progress;  /* may be NULL */
    void *progress_ctx;
} IjAttnProbeOptions;

typedef struct {
    double lr;                        /* chosen */
    double val_acc, test_acc;         /* in [0, 1]; val_acc of the chosen lr */
    int nlrs;
    double lrs[IJ_ATTN_MAX_LRS], val_accs[IJ_ATTN_MAX_LRS];
    int heads, epochs, ntrain, nfit, nval, ntest;
    double final_loss;                /* mean training loss of the refit's last epoch */
} IjAttnProbeResult;

void ij_attnprobe_default_options(IjAttnProbeOptions *o);
/* The protocol above on tokens [ntr, T, D] and [nte, T, D], normalised IN PLACE first.
 * opt may be NULL. Returns 0, or -1 with an error (sizes, labels, non-finite tokens). */
int ij_attentive_probe(float *Xtr, const int *ytr, int ntr, float *Xte, const int *yte, int nte, int T, int D,
                       int C, const IjAttnProbeOptions *opt, IjAttnProbeResult *res);

#endif
