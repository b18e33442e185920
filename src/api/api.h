/* api.h: a small C interface for other languages (the Python package, python/ijepa, reaches it
 * through ctypes): opaque handles, plain arrays, 0 or -1 (NULL) with ij_last_error() set.
 *
 *   IjApiModel *m = ij_api_load("ckpt.safetensors", 0, "target"); the target encoder, float32
 *   ij_api_embed_images(m, pixels, n, h, w, 3, IJ_POOL_LAST, out);   uint8 [n, h, w, c] -> [n, dim]
 *   IjApiData *d = ij_api_data_open("photos/", m);               any --data source, any image sizes
 *   ij_api_embed_data(m, d, IJ_POOL_LAST, out);                   [count, dim]
 *   ij_api_train("recipe.yaml", "runs/x", 0);                      a training run, as `ijepa train`
 */
#ifndef IJEPA_API_API_H
#define IJEPA_API_API_H

#include <stdint.h>

typedef struct IjApiModel IjApiModel;
typedef struct IjApiData IjApiData;

const char *ij_api_version(void);
/* One encoder ("target" or "context") of a checkpoint of any layout ijepa.c reads, alone in memory
 * (heads: for a file that does not say; 0 otherwise). */
IjApiModel *ij_api_load(const char *checkpoint, int heads, const char *encoder);
void ij_api_free(IjApiModel *m);
/* img_size, channels, patch_size, embed_dim, depth, num_heads into out[6]. */
void ij_api_shape(const IjApiModel *m, int out[6]);
/* Features per image for pool 0 (last: the average final token) or 1 (last4). */
int ij_api_feature_dim(const IjApiModel *m, int pool);
/* bf16 0/1; resize "auto", "crop" or "squash" and its crop fraction. */
int ij_api_set_options(IjApiModel *m, int bf16, const char *resize, double crop_fraction);
/* Images uint8 [n, h, w, channels] (channels interleaved, one size for all) -> out [n, dim]. */
int ij_api_embed_images(IjApiModel *m, const uint8_t *images, int n, int h, int w, int channels, int pool,
                        float *out);
/* A data source (`--data`: a folder, shards, IDX) with the model's channel count; images of any size. */
IjApiData *ij_api_data_open(const char *spec, const IjApiModel *m);
int ij_api_data_count(const IjApiData *d);
/* The file of image i ("" for IDX), its label (-1 unlabelled), and the class names (NULL past the end). */
const char *ij_api_data_file(const IjApiData *d, int i);
int ij_api_data_label(const IjApiData *d, int i);
const char *ij_api_data_class(const IjApiData *d, int k);
void ij_api_data_free(IjApiData *d);
int ij_api_embed_data(IjApiModel *m, const IjApiData *d, int pool, float *out);
/* A training run from a YAML configuration (the official layout, as `ijepa train --config`) into the
 * run folder out (created; refused if it holds a run), at most max_steps steps (0: the configuration's).
 * 0 when it ends, 128 + N when signal N stopped it (with a checkpoint), -1 with a message. Progress
 * goes to stdout as in `ijepa train`. */
int ij_api_train(const char *config_yaml, const char *out, int max_steps);

#endif
