/* pictures.h: what I-JEPA sees and learns, as PNG pictures.
 *
 *  - masks: sample images with each strategy's masks drawn over them (context
 *    tinted blue, each target block its own colour, patches in neither
 *    darkened), one row per masking strategy;
 *  - PCA of patch features: the first 3 principal components of the target
 *    encoder's patch tokens over a set of images, mapped to RGB per patch
 *    (2nd..98th percentile of each component to 0..255), beside the images;
 *    twice: tokens centred by their overall mean, and by the mean of their
 *    position over the images (which removes what every image has at that
 *    position, e.g. the positional embedding, and leaves the content);
 *  - nearest patches: for the target positions of a few images, the patch of
 *    a bank of other images whose target feature (target encoder, then the
 *    target LayerNorm when the model uses it) is nearest (L2) to the
 *    predictor's output, shown in place of the hidden patch; beside it the
 *    same retrieval from the true target features (what a perfect predictor
 *    would retrieve).
 *
 * Images come in as the model sees them: float [n, C, S, S] normalised with
 * aug's mean/std (ij_pictures_prepare); they are shown un-normalised, each
 * pixel `scale` screen pixels wide. Nothing here is in the training step.
 */
#ifndef IJEPA_EVAL_PICTURES_H
#define IJEPA_EVAL_PICTURES_H

#include "data/augment.h"
#include "data/dataset.h"
#include "model/model.h"
#include "train/masks.h"

/* Images idx[0..n) of set, resized whole to size x size with channels
 * channels and normalised (aug gets the settings used). Caller frees. */
float *ij_pictures_prepare(const IjImageSet *set, const int *idx, int n, int channels, int size, IjAugment *aug);

/* One row per mode in modes[0..nmodes): the n images with the masks of batch
 * `counter` of a sampler with params `base` (its mode replaced, batch n). */
int ij_picture_masks(const char *path, const float *images, int n, int channels, const IjAugment *aug, int patch,
                     const IjMaskParams *base, const IjMaskMode *modes, int nmodes, uint64_t counter,
                     int scale);

/* PCA fitted on the patch tokens of fit [nfit] images, shown for show [nshow]. */
int ij_picture_pca(const char *path, IjModel *m, const float *fit, int nfit, const float *show, int nshow,
                   const IjAugment *aug, const char *title, int scale);

/* Nearest bank patches to the predictions for the targets of the masks of batch
 * `counter` (params mp, batch nq) on query [nq] images; bank [nbank] images.
 * *agree gets the fraction of predicted patches whose nearest bank patch is
 * the one nearest to the true target (may be NULL). */
int ij_picture_nearest(const char *path, IjModel *m, const float *bank, int nbank, const float *query, int nq,
                       const IjAugment *aug, const IjMaskParams *mp, uint64_t counter, const char *title,
                       int scale, double *agree);

#endif
