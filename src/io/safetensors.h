/* safetensors.h: read and write Hugging Face safetensors files.
 *
 * Layout: an 8-byte little-endian header length n, n bytes of JSON
 * ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {..}}),
 * then the raw little-endian tensor data; offsets are relative to byte 8+n.
 * ij_st_open maps the file read-only and validates the whole header, so every
 * StTensor it returns lies inside the file. Assumes a little-endian host.
 */
#ifndef IJEPA_IO_SAFETENSORS_H
#define IJEPA_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { ST_F32, ST_F64, ST_I32, ST_I64, ST_F16, ST_BF16, ST_U8, ST_I8, ST_BOOL, ST_I16, ST_U16, ST_U32, ST_U64 } StDtype;
#define ST_NDTYPES 13
#define ST_MAX_DIMS 8

typedef struct {
    char *name;            /* owned */
    StDtype dtype;
    int ndim;              /* 0..8 */
    int64_t shape[8];
    size_t nbytes;
    const void *data;      /* points into the mapped file; may be unaligned: copy with memcpy */
    size_t offset;         /* begin of data_offsets (relative to the data section) */
} StTensor;

typedef struct {
    char *path;            /* owned copy, used in error messages */
    void *map; size_t size;/* the file, mmap'ed read-only */
    StTensor *tensors; int n;   /* in order of increasing data offset */
    char **meta_keys, **meta_vals; int nmeta;
} StFile;

int  ij_st_open(StFile *f, const char *path);   /* 0 ok; -1 and ij_error("<path>: <problem>") */
void ij_st_close(StFile *f);                     /* safe on a zeroed or failed StFile */
/* Keep the file's mapping past ij_st_close (tensor data used in place): the caller munmaps map, size.
 * The tensors' data pointers stay valid; everything else of f goes with ij_st_close. */
int ij_st_take_map(StFile *f, void **map, size_t *size);
const StTensor *ij_st_find(const StFile *f, const char *name);      /* NULL if absent */
const char *ij_st_meta(const StFile *f, const char *key);           /* NULL if absent */
size_t ij_st_dtype_size(StDtype d);              /* 0 for an invalid value */
const char *ij_st_dtype_name(StDtype d);         /* "F32", ...; "?" for an invalid value */
/* The dtype named s ("F32", "BF16", ...): 0 ok, -1 if unknown (no error message set). */
int ij_st_dtype_parse(const char *s, StDtype *out);
/* Number of elements (product of shape; 1 for a 0-dim tensor). */
size_t ij_st_numel(const StTensor *t);

/* Copy a tensor's data as float32 into dst (count elements). Accepts F32 directly and converts
 * F64, F16, BF16 to float. -1 with "<path>: tensor '<name>' has dtype X, expected a float type"
 * otherwise, or if count != number of elements. */
int ij_st_read_f32(const StFile *f, const StTensor *t, float *dst, size_t count);
/* Same for integer index data into int32 (accepts I32, I64 with range check). */
int ij_st_read_i32(const StFile *f, const StTensor *t, int32_t *dst, size_t count);

typedef struct { const char *name; StDtype dtype; int ndim; int64_t shape[8]; const void *data; } StWriteTensor;
/* Write atomically: to "<path>.tmp.<pid>", fwrite checked, fflush + fsync, fclose checked, then rename over path
 * (and fsync the directory). On any failure (e.g. disk full: ENOSPC), remove the temporary file, leave any
 * existing file at path untouched, and return -1 with "<path>: <strerror>" style message.
 * meta: nmeta key/value pairs as meta[2*i], meta[2*i+1] (may be NULL when nmeta==0).
 * Tensors are laid out contiguously in the order given; the header is space-padded to a multiple of 8. */
int ij_st_write(const char *path, const StWriteTensor *tensors, int n, const char *const *meta, int nmeta);
/* ij_st_write also stores the crc32 (zlib's) of the data section in the metadata under this key,
 * as 8 hex digits; ij_st_verify checks it: 0 it matches, 1 the file has none (written elsewhere),
 * -1 with "<path>: the tensor data does not match its checksum ..." */
#define ST_CRC_KEY "data_crc32"
int ij_st_verify(const StFile *f);

#endif
