/* dataset.c: in-memory image sets; for now from MNIST-family IDX files. */
#include "data/dataset.h"

#include "core/error.h"
#include "data/idx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ij_imageset_load(IjImageSet *s, const char *spec, int train)
{
    memset(s, 0, sizeof *s);
    char images[1024], labels[1024];
    if (ij_idx_find_dataset(images, labels, sizeof images, spec, train)) return -1;
    IjIdx d;
    if (ij_idx_load(&d, images, labels[0] ? labels : NULL)) return -1;
    snprintf(s->source, sizeof s->source, "%s", images);
    s->count = d.count;
    s->height = d.rows;
    s->width = d.cols;
    s->channels = 1;
    s->pixels = d.pixels;
    s->num_classes = d.classes;
    if (d.labels) {
        s->labels = ij_malloc(sizeof(int) * (size_t)d.count);
        for (int i = 0; i < d.count; i++) s->labels[i] = d.labels[i];
        free(d.labels);
    }
    return 0;
}

void ij_imageset_free(IjImageSet *s)
{
    free(s->pixels);
    free(s->labels);
    memset(s, 0, sizeof *s);
}
