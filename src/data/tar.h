/* tar.h: a reader for POSIX ustar archives (what `tar --format=ustar`, GNU tar
 * and Python's tarfile write), over a memory-mapped file or a memory buffer.
 *
 * The archive is a run of 512-byte headers, each followed by its data padded
 * to 512 bytes; two zero blocks end it. Every header's checksum is verified
 * and its size field parsed strictly (octal digits, or GNU base-256). Names are
 * prefix + "/" + name for ustar headers; GNU 'L' long names and pax 'x' path
 * and size records apply to the next entry; pax 'g' global headers, GNU 'K'
 * long link names, directories, links and devices are skipped, so only regular
 * files come out. An archive that simply stops at a block boundary without
 * its end blocks is accepted; a header cut short, or an entry whose data runs
 * past the end of the file (a shard cut short), is an error naming the archive
 * and the entry. A gzip-compressed archive (.tar.gz, .tgz: found by its magic bytes) is inflated
 * into memory first; damaged or cut-short gzip data is an error naming the archive.
 */
#ifndef IJEPA_DATA_TAR_H
#define IJEPA_DATA_TAR_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char path[1024];      /* the archive, for messages */
    const uint8_t *data;  /* whole archive */
    size_t size;
    size_t pos;           /* offset of the next header */
    int mapped;           /* data is an mmap of `size` bytes */
    int owned;            /* data is a malloc'd buffer (an inflated .tar.gz) */
    int done;
    char long_name[4096]; /* from a GNU 'L' or pax 'x' header, for the next entry ("" if none) */
    int64_t pax_size;     /* from a pax 'x' header, for the next entry (-1 if none) */
} IjTar;

typedef struct {
    char name[4096];      /* path inside the archive, without a leading "./" */
    const uint8_t *data;  /* its bytes, inside the archive (valid until close) */
    size_t size;
    size_t offset;        /* of its header in the archive */
} IjTarEntry;

/* Maps the file read-only. Returns -1 (message naming it) when it cannot be
 * opened or read. An empty file is a valid archive with no entries. */
int ij_tar_open(IjTar *t, const char *path);
/* Reads from a caller-owned buffer (kept until close); `name` is for messages. */
void ij_tar_open_memory(IjTar *t, const void *data, size_t size, const char *name);
/* The next regular file: returns 1 with *e filled, 0 at the end of the
 * archive, -1 on a damaged archive (and 0 on every later call). */
int ij_tar_next(IjTar *t, IjTarEntry *e);
void ij_tar_close(IjTar *t);

#endif
