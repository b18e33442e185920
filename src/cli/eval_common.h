/* eval_common.h: pieces shared by `ijepa embed` and `ijepa probe`. */
#ifndef IJEPA_CLI_EVAL_COMMON_H
#define IJEPA_CLI_EVAL_COMMON_H

#include "cli/options.h"
#include "data/dataset.h"
#include "eval/embed.h"
#include "model/model.h"

/* Build a model from a checkpoint's configuration and load its weights (any layout). With encoder
 * "target" or "context": that encoder alone (ij_model_init_encoder: no predictor, gradients or second
 * copy); NULL: the whole model. *seed gets the run's seed when the checkpoint records one (else it is
 * left alone). */
int eval_load_model(IjModel *m, const char *checkpoint, int heads, const char *encoder, int *seed);
/* --heads: for an encoder whose file does not say (timm's). */
#define EVAL_HEADS_OPTION(var)                                                                                  \
    {"heads", OPT_INT, &(var), "attention heads of an encoder whose file does not say (timm's; 0: the preset of " \
                               "its width)", 0, 256, NULL}
/* The training step a checkpoint records, or -1. */
long long eval_checkpoint_step(const char *checkpoint);
/* `--bf16`: the model's products with bf16 operands on this machine's path (printed), or float32. */
int eval_set_precision(IjModel *m, int bf16);
/* "target" or "context" -> the encoder's weights in m. */
int eval_pick_encoder(const IjModel *m, const char *which, const IjEncoderW **w);
int eval_parse_pool(const char *s, IjPool *pool);
/* Features [n, F] of a whole set; the caller frees the result. Unless tokens is NULL, *tokens gets the
 * final tokens [n, N, D] (the caller frees them too). */
float *eval_embed(IjModel *m, const IjEncoderW *w, const IjImageSet *set, const IjEvalTransform *tf, IjPool pool,
                  int batch, const char *label, float **tokens);
/* -1 with "<source>: its features are not finite (NaN or infinity) ..." unless every X[i] is finite. */
int eval_check_finite(const float *X, size_t n, const char *source);
/* Raw pixels in [0, 1] after the evaluation transform (S = tf->size) as features [n, S*S*C] (row-major
 * pixels, channels interleaved); NULL with a message if an image cannot be decoded. */
float *eval_pixels(const IjImageSet *set, const IjEvalTransform *tf);
/* The same as tokens: the (S/p)^2 patches of p x p x C pixels, [n, (S/p)^2, p*p*C]. */
float *eval_pixel_patches(const IjImageSet *set, const IjEvalTransform *tf, int p);
/* --resize and --crop-fraction (the evaluation transform, data/eval_transform.h) as options. */
#define EVAL_TRANSFORM_OPTIONS(resize, fraction)                                                              \
    {"resize", OPT_STRING, &(resize), "images to the model's size: auto (as they are when they have it, else crop), "\
                                      "crop (shorter side to size / fraction, centre crop; timm's) or squash",    \
     0, -1, NULL},                                                                                             \
    {"crop-fraction", OPT_FLOAT, &(fraction), "--resize crop: the centre crop's share of the resized shorter side", \
     0.05, 1, NULL}
/* The transform those options name, at the model's input size (and printed when it resizes). */
int eval_transform(IjEvalTransform *tf, const char *resize, double fraction, int size);
/* PREFIX_files.txt (one file name per row of the features) and, for labelled sets, PREFIX_classes.txt
 * (the class name of each label, one per line). */
int eval_write_names(const IjImageSet *set, const char *prefix);
/* A progress line on a terminal: "label: 45% ..." (ctx is the label). */
void eval_progress(void *ctx, const char *what, double fraction);

#endif
