/* tar.c: ustar reader (see tar.h). Header fields (offset, length): name 0/100,
 * size 124/12, chksum 148/8, typeflag 156/1, magic 257/6 ("ustar\0" for POSIX,
 * "ustar " + " \0" for GNU, whose bytes 345.. are not a prefix), prefix 345/155. */
#include "data/tar.h"

#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

enum { BLOCK = 512 };

/* A gzip-compressed archive (.tar.gz, .tgz): inflated whole into memory (zlib), which the entries then
 * point into; the mapping of the compressed file goes. Concatenated gzip members are read as one. */
static int gunzip(IjTar *t)
{
    z_stream z = {0};
    if (inflateInit2(&z, 15 + 32) != Z_OK) return ij_error("%s: cannot start zlib", t->path);
    size_t cap = t->size * 4 + (1 << 16), n = 0;
    uint8_t *out = ij_malloc(cap);
    z.next_in = (Bytef *)t->data;
    z.avail_in = (uInt)(t->size < UINT_MAX ? t->size : UINT_MAX);
    size_t consumed = 0;
    int rc = Z_OK;
    for (;;) {
        if (n == cap) out = ij_realloc(out, cap *= 2);
        z.next_out = out + n;
        size_t room = cap - n;
        z.avail_out = (uInt)(room < UINT_MAX ? room : UINT_MAX);
        uInt in0 = z.avail_in, out0 = z.avail_out;
        rc = inflate(&z, Z_NO_FLUSH);
        consumed += in0 - z.avail_in;
        n += out0 - z.avail_out;
        if (rc == Z_STREAM_END) {
            if (consumed == t->size) break;
            inflateReset(&z); /* another member follows */
            rc = Z_OK;
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            break;
        } else if (rc == Z_BUF_ERROR && z.avail_in == 0 && consumed == t->size) {
            break; /* the input ended inside a member */
        }
        if (z.avail_in == 0 && consumed < t->size) {
            size_t left = t->size - consumed;
            z.next_in = (Bytef *)t->data + consumed;
            z.avail_in = (uInt)(left < UINT_MAX ? left : UINT_MAX);
        }
    }
    inflateEnd(&z);
    munmap((void *)t->data, t->size);
    t->mapped = 0;
    if (rc != Z_STREAM_END) {
        free(out);
        t->data = NULL, t->size = 0;
        return ij_error("%s: %s", t->path, rc == Z_BUF_ERROR || rc == Z_OK ? "gzip data cut short"
                                                                          : "damaged gzip data");
    }
    t->data = out;
    t->size = n;
    t->owned = 1;
    return 0;
}

int ij_tar_open(IjTar *t, const char *path)
{
    memset(t, 0, sizeof *t);
    t->pax_size = -1;
    snprintf(t->path, sizeof t->path, "%s", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ij_error("%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return ij_error("%s: cannot stat (%s)", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ij_error("%s: not a regular file", path);
    }
    t->size = (size_t)st.st_size;
    if (t->size > 0) {
        void *p = mmap(NULL, t->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return ij_error("%s: cannot map (%s)", path, strerror(e));
        }
        madvise(p, t->size, MADV_SEQUENTIAL);
        t->data = p;
        t->mapped = 1;
    }
    close(fd);
    if (t->size >= 2 && t->data[0] == 0x1f && t->data[1] == 0x8b) return gunzip(t);
    return 0;
}

void ij_tar_open_memory(IjTar *t, const void *data, size_t size, const char *name)
{
    memset(t, 0, sizeof *t);
    t->pax_size = -1;
    snprintf(t->path, sizeof t->path, "%s", name);
    t->data = data;
    t->size = size;
}

void ij_tar_close(IjTar *t)
{
    if (t->mapped) munmap((void *)t->data, t->size);
    if (t->owned) free((void *)t->data);
    memset(t, 0, sizeof *t);
}

static int is_zero_block(const uint8_t *b)
{
    for (int i = 0; i < BLOCK; i++)
        if (b[i]) return 0;
    return 1;
}

/* An octal field: optional leading spaces, at least one digit 0-7, then only
 * NULs and spaces. GNU base-256 (first byte 0x80, big-endian after it) is
 * accepted when allow_b256. Returns -1 on a malformed field or overflow. */
static int64_t parse_number(const uint8_t *f, int len, int allow_b256)
{
    if (allow_b256 && f[0] == 0x80) {
        uint64_t v = 0;
        for (int i = 1; i < len; i++) {
            if (v >> 55) return -1;
            v = v << 8 | f[i];
        }
        return v > (uint64_t)INT64_MAX ? -1 : (int64_t)v;
    }
    int i = 0;
    while (i < len && f[i] == ' ') i++;
    int start = i;
    int64_t v = 0;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60) return -1;
        v = v * 8 + (f[i] - '0');
    }
    if (i == start) return -1;
    for (; i < len; i++)
        if (f[i] != 0 && f[i] != ' ') return -1;
    return v;
}

/* Checksum: the header's bytes with the checksum field read as spaces, as
 * unsigned sums (POSIX) or signed sums (some old writers). */
static int checksum_ok(const uint8_t *h)
{
    int64_t want = parse_number(h + 148, 8, 0);
    if (want < 0) return 0;
    int64_t u = 0, s = 0;
    for (int i = 0; i < BLOCK; i++) {
        int c = (i >= 148 && i < 156) ? ' ' : h[i];
        u += c;
        s += (signed char)c;
    }
    return want == u || want == s;
}

/* Copies a field that is NUL-terminated or fills its length. */
static size_t field(char *dst, const uint8_t *f, size_t len)
{
    size_t n = strnlen((const char *)f, len);
    memcpy(dst, f, n);
    dst[n] = '\0';
    return n;
}

/* A pax extended header: records "<len> <key>=<value>\n". Takes path and size. */
static int parse_pax(IjTar *t, const uint8_t *p, size_t n, size_t at)
{
    size_t i = 0;
    while (i < n) {
        if (p[i] == 0) break; /* padding some writers leave */
        size_t len = 0, j = i;
        while (j < n && p[j] >= '0' && p[j] <= '9' && len < (1u << 30)) len = len * 10 + (size_t)(p[j++] - '0');
        if (j == i || j >= n || p[j] != ' ' || len <= j - i || len > n - i || p[i + len - 1] != '\n')
            return ij_error("%s: malformed pax header at offset %zu", t->path, at);
        const uint8_t *kv = p + j + 1, *end = p + i + len - 1;
        const uint8_t *eq = memchr(kv, '=', (size_t)(end - kv));
        if (!eq) return ij_error("%s: malformed pax record at offset %zu", t->path, at);
        size_t klen = (size_t)(eq - kv), vlen = (size_t)(end - eq - 1);
        if (klen == 4 && !memcmp(kv, "path", 4)) {
            if (vlen >= sizeof t->long_name)
                return ij_error("%s: pax path longer than %zu bytes at offset %zu", t->path, sizeof t->long_name - 1, at);
            memcpy(t->long_name, eq + 1, vlen);
            t->long_name[vlen] = '\0';
        } else if (klen == 4 && !memcmp(kv, "size", 4)) {
            int64_t v = 0;
            for (const uint8_t *c = eq + 1; c < end; c++) {
                if (*c < '0' || *c > '9' || v > INT64_MAX / 16)
                    return ij_error("%s: bad pax size at offset %zu", t->path, at);
                v = v * 10 + (*c - '0');
            }
            if (vlen == 0) return ij_error("%s: bad pax size at offset %zu", t->path, at);
            t->pax_size = v;
        }
        i += len;
    }
    return 0;
}

/* Marks the archive finished after an error; returns rc (-1). */
static int fail(IjTar *t, int rc)
{
    t->done = 1;
    return rc;
}

int ij_tar_next(IjTar *t, IjTarEntry *e)
{
    for (;;) {
        if (t->done) return 0;
        if (t->pos >= t->size) { /* no end blocks: accepted */
            t->done = 1;
            return 0;
        }
        size_t at = t->pos, left = t->size - at;
        if (left < BLOCK)
            return fail(t, ij_error("%s: truncated header at offset %zu (%zu of 512 bytes; a shard cut short?)",
                                    t->path, at, left));
        const uint8_t *h = t->data + at;
        if (is_zero_block(h)) {
            /* Two zero blocks (or one at the very end) end the archive; a lone
             * zero block inside it is skipped, as GNU tar does. */
            if (left < 2 * BLOCK || is_zero_block(h + BLOCK)) {
                t->done = 1;
                return 0;
            }
            t->pos += BLOCK;
            continue;
        }
        char raw[101];
        field(raw, h, 100);
        if (!checksum_ok(h))
            return fail(t, ij_error("%s: bad header checksum at offset %zu (not a tar file, or damaged)", t->path, at));
        char type = (char)h[156];
        int regular = type == '0' || type == '\0' || type == '7';
        int64_t size = parse_number(h + 124, 12, 1);
        if (size < 0) return fail(t, ij_error("%s: entry '%s' at offset %zu: bad size field", t->path, raw, at));
        if (regular && t->pax_size >= 0) size = t->pax_size;
        /* the entry's full name (for a regular file; the raw name otherwise) */
        char *name = e->name;
        if (regular && t->long_name[0]) {
            snprintf(name, sizeof e->name, "%s", t->long_name);
        } else if (regular && !memcmp(h + 257, "ustar\0", 6) && h[345]) {
            size_t n = field(name, h + 345, 155);
            name[n++] = '/';
            field(name + n, h, 100);
        } else {
            memcpy(name, raw, sizeof raw);
        }
        while (name[0] == '.' && name[1] == '/') memmove(name, name + 2, strlen(name + 2) + 1);
        size_t data_at = at + BLOCK;
        if ((uint64_t)size > t->size - data_at)
            return fail(t, ij_error("%s: entry '%s' is cut short: %lld bytes of data at offset %zu, the file ends at %zu "
                                    "(a shard cut short?)",
                                    t->path, name, (long long)size, data_at, t->size));
        size_t padded = ((size_t)size + BLOCK - 1) / BLOCK * BLOCK;
        t->pos = padded > t->size - data_at ? t->size : data_at + padded; /* missing padding: accepted */
        const uint8_t *data = t->data + data_at;
        if (type == 'L') { /* GNU long name for the next entry */
            size_t n = strnlen((const char *)data, (size_t)size);
            if (n >= sizeof t->long_name)
                return fail(t, ij_error("%s: GNU long name longer than %zu bytes at offset %zu", t->path,
                                        sizeof t->long_name - 1, at));
            memcpy(t->long_name, data, n);
            t->long_name[n] = '\0';
            continue;
        }
        if (type == 'x') {
            if (parse_pax(t, data, (size_t)size, at)) return fail(t, -1);
            continue;
        }
        if (type == 'g' || type == 'K') continue;
        t->long_name[0] = '\0';
        t->pax_size = -1;
        if (!regular) continue; /* directory, link, device, fifo, ...: its long name is used up */
        e->data = data;
        e->size = (size_t)size;
        e->offset = at;
        return 1;
    }
}
