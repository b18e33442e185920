/* fsutil.h: small file-system helpers with checked errors. */
#ifndef IJEPA_IO_FSUTIL_H
#define IJEPA_IO_FSUTIL_H

/* mkdir -p; -1 with "<path>: <reason>" on failure. */
int ij_mkdirs(const char *path);
/* Best effort: fsync the folder holding path, so a rename into it is durable
 * (some filesystems refuse to fsync folders; that is not an error). */
void ij_fsync_parent_dir(const char *path);
/* Writing a file so that readers see the old one or the complete new one, never
 * a part: write into "<path>.tmp.<pid>", then ij_atomic_commit flushes, fsyncs,
 * closes, renames over path and fsyncs the folder; on any failure it removes the
 * temporary file and leaves path as it was. */
#include <stdio.h>
typedef struct {
    FILE *f;
    char *tmp;
    const char *path;
} IjAtomicFile;
/* -1 with "<path>: cannot create temporary file: <reason>". */
int ij_atomic_open(IjAtomicFile *a, const char *path);
/* wrote_ok: whether every write succeeded. -1 with "<path>: write failed: ..." or
 * "<path>: cannot rename the temporary file: ...". Always releases a. */
int ij_atomic_commit(IjAtomicFile *a, int wrote_ok);

/* Before long work whose result goes to path: create and remove its temporary file.
 * -1 with "<path>: cannot be written: <reason>". */
int ij_check_writable(const char *path);

/* 1 if path exists (any type), 0 otherwise. */
int ij_exists(const char *path);

#endif
