/* idx.h: MNIST-family IDX files (MNIST, Fashion-MNIST), raw or gzip-compressed.
 *
 * Images: magic 0x00000803 (unsigned bytes, 3 dimensions), then count, rows,
 * cols as big-endian u32, then count*rows*cols pixels in row-major order.
 * Labels: magic 0x00000801, count, then count bytes. Everything is checked:
 * magic, type, dimension count, sizes, truncation, trailing data, gzip errors,
 * image/label count agreement; each failure is a one-line error naming the file.
 */
#ifndef IJEPA_DATA_IDX_H
#define IJEPA_DATA_IDX_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int count, rows, cols;
    int classes;        /* max label + 1 (labels are not limited to 0..9); 0 without labels */
    uint8_t *pixels;    /* [count, rows, cols] */
    uint8_t *labels;    /* [count], or NULL when no labels file was given */
} IjIdx;

/* Loads images (and labels, when labels_path is not NULL). On failure returns
 * -1 with *out zeroed and nothing allocated. */
int ij_idx_load(IjIdx *out, const char *images_path, const char *labels_path);
void ij_idx_free(IjIdx *d);

/* Finds {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] in a directory, or,
 * for a bare name such as "fashion-mnist" that is not a directory here, in
 * /usr/share/datasets/<name> (Debian's dataset-fashion-mnist package). Writes
 * the paths (size bytes each); labels may be NULL, and is set to "" when the
 * directory has no labels file. Returns -1 when no images file is found. */
int ij_idx_find_dataset(char *images, char *labels, size_t size, const char *name_or_dir, int train);

#endif
