/* fsutil.h: small file-system helpers with checked errors. */
#ifndef IJEPA_IO_FSUTIL_H
#define IJEPA_IO_FSUTIL_H

/* mkdir -p; -1 with "<path>: <reason>" on failure. */
int ij_mkdirs(const char *path);
/* Best effort: fsync the folder holding path, so a rename into it is durable
 * (some filesystems refuse to fsync folders; that is not an error). */
void ij_fsync_parent_dir(const char *path);
/* 1 if path exists (any type), 0 otherwise. */
int ij_exists(const char *path);

#endif
