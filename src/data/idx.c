/* idx.c: IDX reader (see idx.h). zlib's gzread reads gzip and raw files alike.
 * Limits on sizes: count 1..2^30, rows and cols 1..65535, at most 2^36 pixel bytes. */
#include "data/idx.h"

#include "core/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* zlib's message for the last error, without the "path: " it puts in front. */
static const char *gz_message(gzFile f, const char *path, int *err)
{
    const char *msg = gzerror(f, err);
    size_t n = strlen(path);
    if (msg && !strncmp(msg, path, n) && msg[n] == ':' && msg[n + 1] == ' ') msg += n + 2;
    return msg && msg[0] ? msg : "unknown error";
}

/* Reads up to n bytes into buf, *got of them (fewer only at the end of the
 * data); -1 with a message on gzip corruption. */
static int read_upto(gzFile f, const char *path, void *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        size_t left = n - *got;
        unsigned chunk = left > (1u << 30) ? (1u << 30) : (unsigned)left;
        int r = gzread(f, (char *)buf + *got, chunk);
        int err;
        if (r < 0) return ij_error("%s: corrupt gzip data (%s)", path, gz_message(f, path, &err));
        if (r == 0) break;
        *got += (size_t)r;
    }
    return 0;
}

/* The error for a file that ended after `got` of the n bytes of `what`. */
static int short_read(gzFile f, const char *path, size_t got, size_t n, const char *what)
{
    int err;
    const char *msg = gz_message(f, path, &err);
    if (err == Z_BUF_ERROR)
        return ij_error("%s: truncated gzip stream (%s) after %zu of %zu bytes of %s", path, msg, got, n, what);
    return ij_error("%s: file too short: %zu of %zu bytes of %s", path, got, n, what);
}

/* Reads exactly n bytes of `what`; errors for gzip corruption and short files. */
static int read_exact(gzFile f, const char *path, void *buf, size_t n, const char *what)
{
    size_t got;
    if (read_upto(f, path, buf, n, &got)) return -1;
    return got < n ? short_read(f, path, got, n, what) : 0;
}

/* Reads the n bytes of `what` into a new buffer *data that grows (doubling
 * from 1 MiB) with the bytes actually read: a header cannot make us allocate
 * more than about twice what the file holds (16 bytes announcing 2^36 bytes of
 * pixels cost 1 MiB before they are found short). */
static int read_data(gzFile f, const char *path, uint8_t **data, size_t n, const char *what)
{
    size_t got = 0, cap = 0;
    while (got == cap && cap < n) {
        cap = cap == 0 ? (n < ((size_t)1 << 20) ? n : (size_t)1 << 20) : cap > n / 2 ? n : 2 * cap;
        uint8_t *p = realloc(*data, cap);
        if (!p) return ij_error("%s: out of memory for %zu bytes of %s", path, cap, what);
        *data = p;
        size_t r;
        if (read_upto(f, path, *data + got, cap - got, &r)) return -1;
        got += r;
    }
    return got < n ? short_read(f, path, got, n, what) : 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Opens an IDX file of unsigned bytes with `ndim` dimensions, reads its
 * sizes into dims[] and its data into a new buffer *data. */
static int read_idx(const char *path, int ndim, uint32_t dims[3], uint8_t **data)
{
    static const char *const names[3] = {"count", "rows", "cols"};
    static const uint32_t max_dim[3] = {1u << 30, 65535, 65535};
    *data = NULL;
    gzFile f = gzopen(path, "rb");
    if (!f) return ij_error("%s: cannot open (%s)", path, errno ? strerror(errno) : "out of memory");
    gzbuffer(f, 1 << 17);
    uint8_t hdr[16], probe;
    size_t total = 1;
    int rc = -1;
    if (read_exact(f, path, hdr, 4 + 4 * (size_t)ndim, "header") != 0) goto done;
    uint32_t magic = be32(hdr), want = 0x800u | (uint32_t)ndim;
    if (magic != want) {
        if (hdr[0] || hdr[1] || hdr[2] != 0x08)
            ij_error("%s: wrong magic 0x%08x (want 0x%08x: an IDX file of unsigned bytes)", path, magic, want);
        else
            ij_error("%s: %d dimensions, want %d (magic 0x%08x, want 0x%08x)", path, hdr[3], ndim, magic, want);
        goto done;
    }
    for (int d = 0; d < ndim; d++) {
        dims[d] = be32(hdr + 4 + 4 * d);
        if (dims[d] == 0 || dims[d] > max_dim[d]) {
            ij_error("%s: %s %u is out of range [1, %u]", path, names[d], dims[d], max_dim[d]);
            goto done;
        }
        total *= dims[d];
    }
    if (total > ((size_t)1 << 36)) {
        ij_error("%s: %zu bytes of data is more than this reader accepts (2^36)", path, total);
        goto done;
    }
    if (read_data(f, path, data, total, ndim == 3 ? "pixels" : "labels") != 0) goto done;
    /* Nothing may follow the data (a 0-byte read also completes the gzip CRC check). */
    int r = gzread(f, &probe, 1), err;
    if (r < 0) {
        ij_error("%s: corrupt gzip data (%s)", path, gz_message(f, path, &err));
        goto done;
    }
    if (r > 0) {
        ij_error("%s: trailing data after the %zu bytes that the header announces", path, total);
        goto done;
    }
    gz_message(f, path, &err);
    if (err != Z_OK) {
        ij_error("%s: truncated gzip stream (%s)", path, gz_message(f, path, &err));
        goto done;
    }
    rc = 0;
done:
    if (gzclose(f) != Z_OK && rc == 0) rc = ij_error("%s: error while closing", path);
    if (rc != 0) {
        free(*data);
        *data = NULL;
    }
    return rc;
}

int ij_idx_load(IjIdx *out, const char *images_path, const char *labels_path)
{
    memset(out, 0, sizeof *out);
    uint32_t idims[3], ldims[3];
    uint8_t *pixels, *labels = NULL;
    if (read_idx(images_path, 3, idims, &pixels) != 0) return -1;
    if (labels_path) {
        if (read_idx(labels_path, 1, ldims, &labels) != 0) {
            free(pixels);
            return -1;
        }
        if (ldims[0] != idims[0]) {
            free(pixels);
            free(labels);
            return ij_error("%s: %u labels for the %u images of %s", labels_path, ldims[0], idims[0], images_path);
        }
        for (uint32_t i = 0; i < ldims[0]; i++)
            if (labels[i] + 1 > out->classes) out->classes = labels[i] + 1;
    }
    out->count = (int)idims[0];
    out->rows = (int)idims[1];
    out->cols = (int)idims[2];
    out->pixels = pixels;
    out->labels = labels;
    return 0;
}

void ij_idx_free(IjIdx *d)
{
    free(d->pixels);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

/* Writes dir/prefix-kind-ubyte[.gz] into buf if either exists; returns 1 if found. */
static int find_file(char *buf, size_t size, const char *dir, const char *prefix, const char *kind)
{
    static const char *const ext[2] = {".gz", ""};
    for (int e = 0; e < 2; e++) {
        struct stat st;
        int n = snprintf(buf, size, "%s/%s-%s-ubyte%s", dir, prefix, kind, ext[e]);
        if (n > 0 && (size_t)n < size && stat(buf, &st) == 0 && S_ISREG(st.st_mode)) return 1;
    }
    return 0;
}

int ij_idx_find_dataset(char *images, char *labels, size_t size, const char *name_or_dir, int train)
{
    char dir[4096];
    struct stat st;
    int n;
    if (stat(name_or_dir, &st) == 0 && S_ISDIR(st.st_mode))
        n = snprintf(dir, sizeof dir, "%s", name_or_dir);
    else if (!strchr(name_or_dir, '/') && name_or_dir[0] && name_or_dir[0] != '.')
        n = snprintf(dir, sizeof dir, "/usr/share/datasets/%s", name_or_dir);
    else
        return ij_error("%s: not a directory", name_or_dir);
    if (n < 0 || (size_t)n >= sizeof dir) return ij_error("%s: path too long", name_or_dir);
    const char *prefix = train ? "train" : "t10k";
    if (!find_file(images, size, dir, prefix, "images-idx3"))
        return ij_error("%s: no %s-images-idx3-ubyte[.gz] (for fashion-mnist: apt install dataset-fashion-mnist, "
                        "or give a directory with the IDX files)", dir, prefix);
    if (labels && !find_file(labels, size, dir, prefix, "labels-idx1")) labels[0] = '\0';
    return 0;
}
