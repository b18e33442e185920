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
 * resizing here) unless options.keep_files. A file that cannot be decoded (corrupt, truncated, empty, not
 * an image) is left out with a warning on stderr and counted in `skipped`,
 * unless options.strict. A missing or empty source is an error. Pixels are
 * interleaved HWC.
 *
 * With options.keep_files, every file is still decoded once at load (so a bad
 * one is found and skipped up front), but the set keeps the file bytes, not
 * the pixels: memory is the encoded size, images may differ in size, and a
 * consumer decodes with ij_imageset_decode (JPEG at reduced DCT scale when it
 * will shrink the image anyway). IDX sources always hold pixels.
 */
#ifndef IJEPA_DATA_DATASET_H
#define IJEPA_DATA_DATASET_H

#include "data/image_decode.h"

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
    int has_splits;       /* 1 for IDX sources (a train and a test split); folders and shards hold one set */
    char **names;         /* [count]: each image's file ("folder/class/x.jpg", "shard.tar:class/x.jpg"); NULL for IDX */
    /* keep_files sets only (pixels is NULL; height/width are 0 when sizes differ): */
    uint8_t *files;       /* the file bytes, concatenated */
    size_t *file_off;     /* [count + 1]: image i is files[file_off[i] .. file_off[i+1]) */
    int *file_hw;         /* [count][2]: height, width of each image */
} IjImageSet;

typedef struct {
    int channels;  /* 1 or 3; 0 = the source's own (IDX: 1, JPEG/PNG: 3). IDX as 3 replicates gray */
    int strict;    /* an undecodable image file is an error, not a warning and a skip */
    int keep_files;/* keep file bytes, decode on use (JPEG/PNG sources; see above) */
} IjLoadOptions;

/* train: 1 = training split, 0 = test split (IDX sources only). On failure
 * returns -1 with *s zeroed. */
int ij_imageset_load_opts(IjImageSet *s, const char *spec, int train, const IjLoadOptions *o);
/* The same with default options ({0, 0}). */
int ij_imageset_load(IjImageSet *s, const char *spec, int train);
void ij_imageset_free(IjImageSet *s);
/* Pixels of image i of a set that holds pixels (not keep_files). */
static inline const uint8_t *ij_imageset_image(const IjImageSet *s, int i)
{
    return s->pixels + (size_t)i * s->height * s->width * s->channels;
}

/* Size of image i (either kind of set). */
static inline void ij_imageset_size(const IjImageSet *s, int i, int *height, int *width)
{
    *height = s->pixels ? s->height : s->file_hw[2 * i];
    *width = s->pixels ? s->width : s->file_hw[2 * i + 1];
}

/* Decodes image i of a keep_files set into *out with the set's channels;
 * min_side as for ij_image_decode. Returns -1 (ij_error set) on failure. */
int ij_imageset_decode(const IjImageSet *s, int i, int min_side, IjImage *out);

#endif
