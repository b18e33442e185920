/* npy.h: numpy .npy files for features and labels (1-D and 2-D, C order).
 *
 * Layout (format 1.0): the magic "\x93NUMPY", version bytes 1 0, a little-endian
 * uint16 header length n, n bytes of an ASCII Python dict
 * "{'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }" padded with
 * spaces and ending in '\n' so that the data starts at a multiple of 64 bytes,
 * then the raw little-endian data. Versions 2.0 and 3.0 (uint32 header length)
 * are read too; we always write 1.0. Assumes a little-endian host.
 *
 * Readers accept only C-order arrays with 1 or 2 dimensions, check the header
 * strictly (keys, quoting, tuple syntax, no unknown or duplicate keys) and
 * require the file size to equal header + data exactly; every failure is one
 * line "<path>: <problem>" through ij_error.
 */
#ifndef IJEPA_IO_NPY_H
#define IJEPA_IO_NPY_H

#include <stdint.h>

/* Write data (ndim 1 to 4, shape[i] >= 0, C order) atomically: "<path>.tmp.<pid>", checked fwrite,
 * fflush + fsync, rename over path, fsync of the directory. On failure the temporary file is removed,
 * an existing file at path is left untouched, and -1 is returned. */
int ij_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape);
int ij_npy_write_i32(const char *path, const int32_t *data, int ndim, const int64_t *shape);

/* Read a float array: dtype '<f4' (copied as is) or '<f8' (converted, saturating to +-inf).
 * On success *data is malloc'ed (free with free(); never NULL, even for 0 elements), *ndim is 1 or 2,
 * shape[0] = rows, shape[1] = columns (1 for a 1-D array). On failure nothing is allocated. */
int ij_npy_read_f32(const char *path, float **data, int *ndim, int64_t shape[2]);
/* Read an integer array: dtype '<i4', or '<i8' with every value checked to fit in int32.
 * Same conventions as ij_npy_read_f32. */
int ij_npy_read_i32(const char *path, int32_t **data, int *ndim, int64_t shape[2]);

#endif
