/* dataset.h: a set of images held in memory as uint8, with optional labels.
 *
 * Sources: "fashion-mnist" (Debian's dataset-fashion-mnist), or a folder or
 * file prefix holding MNIST-family IDX files. Pixels are interleaved HWC.
 */
#ifndef IJEPA_DATA_DATASET_H
#define IJEPA_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char source[1024];
    int count, height, width, channels;
    uint8_t *pixels;      /* [count, height, width, channels] */
    int *labels;          /* [count] or NULL */
    int num_classes;      /* 0 when unlabeled */
} IjImageSet;

/* split: 1 = training split, 0 = test split. */
int ij_imageset_load(IjImageSet *s, const char *spec, int train);
void ij_imageset_free(IjImageSet *s);
static inline const uint8_t *ij_imageset_image(const IjImageSet *s, int i)
{
    return s->pixels + (size_t)i * s->height * s->width * s->channels;
}

#endif
