/* eval_common.h: pieces shared by `ijepa embed` and `ijepa probe`. */
#ifndef IJEPA_CLI_EVAL_COMMON_H
#define IJEPA_CLI_EVAL_COMMON_H

#include "data/dataset.h"
#include "eval/embed.h"
#include "model/model.h"

/* Build a model from a checkpoint's configuration and load its weights
 * (a full checkpoint or a bare encoder). *seed gets the run's seed when the
 * checkpoint records one (else it is left alone). */
int eval_load_model(IjModel *m, const char *checkpoint, int *seed);
/* The training step a checkpoint records, or -1. */
long long eval_checkpoint_step(const char *checkpoint);
/* `--bf16`: the model's products with bf16 operands on this machine's path (printed), or float32. */
int eval_set_precision(IjModel *m, int bf16);
/* "target" or "context" -> the encoder's weights in m. */
int eval_pick_encoder(const IjModel *m, const char *which, const IjEncoderW **w);
int eval_parse_pool(const char *s, IjPool *pool);
/* Features [n, F] of a whole set; the caller frees the result. Unless tokens is NULL, *tokens gets the
 * final tokens [n, N, D] (the caller frees them too). */
float *eval_embed(IjModel *m, const IjEncoderW *w, const IjImageSet *set, IjPool pool, int batch,
                  const char *label, float **tokens);
/* -1 with "<source>: its features are not finite (NaN or infinity) ..." unless every X[i] is finite. */
int eval_check_finite(const float *X, size_t n, const char *source);
/* Raw pixels in [0, 1] as features [n, H*W*C]. */
float *eval_pixels(const IjImageSet *set);
/* Raw pixels in [0, 1] as tokens: the (H/p)(W/p) patches of p x p x C pixels, [n, (H/p)(W/p), p*p*C]
 * (rows and columns past the last whole patch are left out). */
float *eval_pixel_patches(const IjImageSet *set, int p);
/* A progress line on a terminal: "label: 45% ..." (ctx is the label). */
void eval_progress(void *ctx, const char *what, double fraction);

#endif
