/* dataset.h: a set of images held in memory as uint8, with optional labels.
 *
 * Sources (the spec string):
 *   "fashion-mnist"          Debian's dataset-fashion-mnist (IDX files);
 *   a folder of IDX files    {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz];
 *   a folder of images       root/<class>/<file>.{jpg,jpeg,png}: labels are the
 *                            indices of the class folder names in sorted order
 *                            (every subfolder is a class, even an empty one;
 *                            files in root itself are then ignored, as with
 *                            torchvision's ImageFolder), files sorted by name;
 *                            with no subfolders, root/<file> images, unlabeled;
 *   tar shards               "a.tar", "a.tar,b.tar", "train-00[0-3].tar" or
 *                            "shards/train-*.tar" (comma list, each item a path or a
 *                            glob(3) pattern; glob matches in sorted order),
 *                            entries "<class>/<file>" (the class is the entry's
 *                            parent folder name; labels index the sorted set of
 *                            class names over all shards), read in archive order;
 *                            entries at the top level give an unlabeled set.
 * For folders and tar shards `train` is ignored: the caller picks the files.
 * Image files are chosen by extension (.jpg .jpeg .png, any case; others are
 * ignored) and decoded by their magic bytes; all must have the same size (no
 * resizing here). A file that cannot be decoded (corrupt, truncated, empty, not
 * an image) is left out with a warning on stderr and counted in `skipped`,
 * unless options.strict. A missing or empty source is an error. Pixels are
 * interleaved HWC.
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
    char **class_names;   /* [num_classes], owned; NULL for IDX data and unlabeled sets */
    int skipped;          /* undecodable image files left out (0 under strict) */
} IjImageSet;

typedef struct {
    int channels;  /* 1 or 3; 0 = the source's own (IDX: 1, JPEG/PNG: 3). IDX as 3 replicates gray */
    int strict;    /* an undecodable image file is an error, not a warning and a skip */
} IjLoadOptions;

/* train: 1 = training split, 0 = test split (IDX sources only). On failure
 * returns -1 with *s zeroed. */
int ij_imageset_load_opts(IjImageSet *s, const char *spec, int train, const IjLoadOptions *o);
/* The same with default options ({0, 0}). */
int ij_imageset_load(IjImageSet *s, const char *spec, int train);
void ij_imageset_free(IjImageSet *s);
static inline const uint8_t *ij_imageset_image(const IjImageSet *s, int i)
{
    return s->pixels + (size_t)i * s->height * s->width * s->channels;
}

#endif
