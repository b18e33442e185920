/* npy.c: write (atomically) and read (strictly validated) numpy .npy files; see npy.h.
 *
 * The header dict is parsed by a small hand-written scanner that accepts what numpy writes
 * (any key order, single or double quotes, optional trailing commas, spaces) and nothing else:
 * exactly the keys descr, fortran_order and shape, a tuple of non-negative integers for the shape.
 */
#include "io/npy.h"

#include "core/error.h"
#include "io/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_HEADER (1u << 20) /* bytes; numpy's own default limit is 10000 */

/* ---- writing ---------------------------------------------------------------------------- */

static int write_npy(const char *path, const char *descr, size_t itemsize, const void *data, int ndim,
                     const int64_t *shape)
{
    if (!path) return ij_error("npy: no path given");
    if (ndim < 1 || ndim > 4 || !shape)
        return ij_error("%s: can only write arrays of 1 to 4 dimensions (got ndim %d)", path, ndim);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return ij_error("%s: negative dimension %lld", path, (long long)shape[i]);
        if (shape[i] != 0 && count != 0 && (uint64_t)shape[i] > SIZE_MAX / itemsize / count)
            return ij_error("%s: array is too large", path);
        count *= (size_t)shape[i];
    }
    if (count && !data) return ij_error("%s: no data to write", path);

    /* magic(6) + version(2) + length(2) = 10 bytes, then the header; pad so the data starts at 64k. */
    char dict[256], dims[128] = "";
    for (int i = 0, k = 0; i < ndim; i++) /* "(n,)" for one dimension, "(a, b, c)" for more */
        k += snprintf(dims + k, sizeof dims - (size_t)k, "%s%lld%s", i ? " " : "", (long long)shape[i],
                      ndim == 1 ? "," : i + 1 < ndim ? "," : "");
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
    IJ_ASSERT(n > 0 && (size_t)n < sizeof dict);
    size_t hlen = ((10 + (size_t)n + 1) + 63) / 64 * 64 - 10; /* +1 for the '\n' */
    unsigned char head[512];
    IJ_ASSERT(10 + hlen <= sizeof head);
    memcpy(head, NPY_MAGIC, 6);
    head[6] = 1;
    head[7] = 0;
    head[8] = (unsigned char)(hlen & 0xff);
    head[9] = (unsigned char)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)n);
    memset(head + 10 + n, ' ', hlen - (size_t)n - 1);
    head[10 + hlen - 1] = '\n';

    IjAtomicFile af;
    if (ij_atomic_open(&af, path)) return -1;
    int ok = fwrite(head, 1, 10 + hlen, af.f) == 10 + hlen;
    ok = ok && (count == 0 || fwrite(data, itemsize, count, af.f) == count);
    return ij_atomic_commit(&af, ok);
}

int ij_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape)
{
    return write_npy(path, "<f4", 4, data, ndim, shape);
}

int ij_npy_write_i32(const char *path, const int32_t *data, int ndim, const int64_t *shape)
{
    return write_npy(path, "<i4", 4, data, ndim, shape);
}

/* ---- header parsing --------------------------------------------------------------------- */

typedef struct {
    const char *path;
    const char *p, *end;
    char descr[16];
    int fortran;
    int ndim;
    int64_t shape[2];
} Header;

static void skip_ws(Header *h)
{
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r')) h->p++;
}

static int expect(Header *h, char c, const char *where)
{
    skip_ws(h);
    if (h->p >= h->end || *h->p != c) return ij_error("%s: malformed header: expected '%c' %s", h->path, c, where);
    h->p++;
    return 0;
}

/* A quoted string without escapes ('...' or "...") into out (size bytes). */
static int parse_string(Header *h, char *out, size_t size, const char *what)
{
    skip_ws(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"'))
        return ij_error("%s: malformed header: expected a quoted %s", h->path, what);
    char q = *h->p++;
    const char *s = h->p;
    while (h->p < h->end && *h->p != q) h->p++;
    if (h->p >= h->end) return ij_error("%s: malformed header: unterminated string", h->path);
    size_t len = (size_t)(h->p - s);
    h->p++;
    if (len >= size) return ij_error("%s: malformed header: %s '%.*s' is too long", h->path, what, (int)len, s);
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

static int parse_shape(Header *h)
{
    if (expect(h, '(', "to open the shape tuple")) return -1;
    h->ndim = 0;
    int need_comma = 0; /* a 1-tuple is written "(n,)" */
    for (;;) {
        skip_ws(h);
        if (h->p < h->end && *h->p == ')') {
            h->p++;
            break;
        }
        if (h->p >= h->end || *h->p < '0' || *h->p > '9')
            return ij_error("%s: malformed header: shape must be a tuple of non-negative integers", h->path);
        uint64_t v = 0;
        while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
            if (v > ((uint64_t)INT64_MAX - 9) / 10) return ij_error("%s: shape entry is too large", h->path);
            v = v * 10 + (uint64_t)(*h->p++ - '0');
        }
        if (h->ndim >= 2) return ij_error("%s: arrays with more than 2 dimensions are not supported", h->path);
        h->shape[h->ndim++] = (int64_t)v;
        skip_ws(h);
        if (h->p < h->end && *h->p == ',') {
            h->p++;
            need_comma = 0;
        } else {
            need_comma = 1;
            skip_ws(h);
            if (h->p >= h->end || *h->p != ')')
                return ij_error("%s: malformed header: expected ',' or ')' in the shape tuple", h->path);
        }
    }
    if (h->ndim == 1 && need_comma)
        return ij_error("%s: malformed header: a 1-D shape must be written '(n,)'", h->path);
    if (h->ndim == 0) return ij_error("%s: 0-d (scalar) arrays are not supported", h->path);
    return 0;
}

/* Parses the dict in [p, end). */
static int parse_header(Header *h)
{
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
    if (expect(h, '{', "at the start of the header")) return -1;
    for (;;) {
        skip_ws(h);
        if (h->p < h->end && *h->p == '}') {
            h->p++;
            break;
        }
        char key[32];
        if (parse_string(h, key, sizeof key, "key")) return -1;
        if (expect(h, ':', "after a key")) return -1;
        if (strcmp(key, "descr") == 0) {
            if (seen_descr++) return ij_error("%s: malformed header: duplicate key 'descr'", h->path);
            if (parse_string(h, h->descr, sizeof h->descr, "descr")) return -1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (seen_fortran++) return ij_error("%s: malformed header: duplicate key 'fortran_order'", h->path);
            skip_ws(h);
            size_t left = (size_t)(h->end - h->p);
            if (left >= 4 && memcmp(h->p, "True", 4) == 0) h->fortran = 1, h->p += 4;
            else if (left >= 5 && memcmp(h->p, "False", 5) == 0) h->fortran = 0, h->p += 5;
            else return ij_error("%s: malformed header: fortran_order must be True or False", h->path);
        } else if (strcmp(key, "shape") == 0) {
            if (seen_shape++) return ij_error("%s: malformed header: duplicate key 'shape'", h->path);
            if (parse_shape(h)) return -1;
        } else {
            return ij_error("%s: malformed header: unknown key '%s'", h->path, key);
        }
        skip_ws(h);
        if (h->p < h->end && *h->p == ',') h->p++;
        else if (h->p >= h->end || *h->p != '}')
            return ij_error("%s: malformed header: expected ',' or '}' after the value of '%s'", h->path, key);
    }
    skip_ws(h);
    if (h->p != h->end) return ij_error("%s: malformed header: unexpected text after the dict", h->path);
    if (!seen_descr || !seen_fortran || !seen_shape)
        return ij_error("%s: malformed header: missing key '%s'", h->path,
                        !seen_descr ? "descr" : !seen_fortran ? "fortran_order" : "shape");
    if (h->fortran) return ij_error("%s: Fortran-order arrays are not supported (save with C order)", h->path);
    return 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

/* Opens path, validates magic, header and file size. On success *fp is positioned at the data,
 * h holds descr/ndim/shape and *count the element count for the given item size of h->descr. */
static int open_npy(const char *path, FILE **fp_out, Header *h, size_t *count, size_t *itemsize)
{
    memset(h, 0, sizeof *h);
    h->path = path;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ij_error("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    char *text = NULL;
    int rc = -1;
    if (fstat(fileno(fp), &st) != 0) {
        ij_error("%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        ij_error("%s: not a regular file", path);
        goto done;
    }
    uint64_t fsize = (uint64_t)st.st_size;
    unsigned char pre[12];
    if (fsize < 10 || fread(pre, 1, 10, fp) != 10) {
        ij_error("%s: truncated: too short for an npy header (%llu bytes)", path, (unsigned long long)fsize);
        goto done;
    }
    if (memcmp(pre, NPY_MAGIC, 6) != 0) {
        ij_error("%s: not an npy file (bad magic)", path);
        goto done;
    }
    uint64_t hlen, off;
    if (pre[6] == 1 && pre[7] == 0) {
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
        off = 10;
    } else if ((pre[6] == 2 || pre[6] == 3) && pre[7] == 0) {
        if (fsize < 12 || fread(pre + 10, 1, 2, fp) != 2) {
            ij_error("%s: truncated: too short for an npy header", path);
            goto done;
        }
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
        off = 12;
    } else {
        ij_error("%s: unsupported npy format version %d.%d", path, pre[6], pre[7]);
        goto done;
    }
    if (hlen > NPY_MAX_HEADER) {
        ij_error("%s: header length %llu is absurdly large", path, (unsigned long long)hlen);
        goto done;
    }
    if (off + hlen > fsize) {
        ij_error("%s: truncated: header of %llu bytes ends past the end of the file (%llu bytes)", path,
                 (unsigned long long)hlen, (unsigned long long)fsize);
        goto done;
    }
    text = ij_malloc((size_t)hlen + 1);
    if (fread(text, 1, (size_t)hlen, fp) != hlen) {
        ij_error("%s: read error in the header: %s", path, ferror(fp) ? strerror(errno) : "short read");
        goto done;
    }
    for (uint64_t i = 0; i < hlen; i++)
        if ((unsigned char)text[i] < 0x20 && text[i] != '\n' && text[i] != '\t' && text[i] != '\r') {
            ij_error("%s: malformed header: control character at byte %llu", path, (unsigned long long)i);
            goto done;
        } else if ((unsigned char)text[i] >= 0x80) {
            ij_error("%s: malformed header: non-ASCII byte at byte %llu", path, (unsigned long long)i);
            goto done;
        }
    h->p = text;
    h->end = text + hlen;
    if (parse_header(h)) goto done;

    size_t isz = strcmp(h->descr, "<f4") == 0 || strcmp(h->descr, "<i4") == 0   ? 4
                 : strcmp(h->descr, "<f8") == 0 || strcmp(h->descr, "<i8") == 0 ? 8
                                                                                  : 0;
    if (!isz) {
        ij_error("%s: unsupported dtype '%s' (need '<f4', '<f8', '<i4' or '<i8')", path, h->descr);
        goto done;
    }
    uint64_t n = 1;
    int overflow = 0;
    for (int i = 0; i < h->ndim; i++) {
        uint64_t d = (uint64_t)h->shape[i];
        if (d != 0 && n > (uint64_t)INT64_MAX / 8 / d) overflow = 1;
        n *= d;
    }
    if (h->ndim == 2 && (h->shape[0] == 0 || h->shape[1] == 0)) overflow = 0, n = 0;
    if (overflow || n > SIZE_MAX / isz) {
        ij_error("%s: shape is too large", path);
        goto done;
    }
    uint64_t want = off + hlen + n * isz;
    if (fsize < want) {
        ij_error("%s: truncated: shape and dtype need %llu data bytes but the file has %llu", path,
                 (unsigned long long)(n * isz), (unsigned long long)(fsize - off - hlen));
        goto done;
    }
    if (fsize > want) {
        ij_error("%s: %llu bytes of trailing data after the array", path, (unsigned long long)(fsize - want));
        goto done;
    }
    *count = (size_t)n;
    *itemsize = isz;
    rc = 0;
done:
    free(text);
    if (rc == 0) *fp_out = fp;
    else fclose(fp);
    return rc;
}

static int read_data(const char *path, FILE *fp, void *dst, size_t bytes)
{
    if (bytes && fread(dst, 1, bytes, fp) != bytes)
        return ij_error("%s: read error: %s", path, ferror(fp) ? strerror(errno) : "short read (truncated?)");
    return 0;
}

static void set_shape(const Header *h, int *ndim, int64_t shape[2])
{
    *ndim = h->ndim;
    shape[0] = h->shape[0];
    shape[1] = h->ndim == 2 ? h->shape[1] : 1;
}

int ij_npy_read_f32(const char *path, float **data, int *ndim, int64_t shape[2])
{
    *data = NULL;
    FILE *fp;
    Header h;
    size_t n, isz;
    if (open_npy(path, &fp, &h, &n, &isz)) return -1;
    int rc = 0;
    if (h.descr[1] != 'f') rc = ij_error("%s: dtype '%s' is not a float type (need '<f4' or '<f8')", path, h.descr);
    float *out = NULL;
    if (rc == 0) {
        out = ij_malloc(n * sizeof(float));
        if (isz == 4) rc = read_data(path, fp, out, n * 4);
        else {
            enum { CHUNK = 8192 };
            double buf[CHUNK];
            for (size_t i = 0; rc == 0 && i < n; i += CHUNK) {
                size_t m = n - i < CHUNK ? n - i : CHUNK;
                rc = read_data(path, fp, buf, m * 8);
                for (size_t j = 0; rc == 0 && j < m; j++) {
                    double x = buf[j];
                    out[i + j] = x > FLT_MAX ? INFINITY : x < -FLT_MAX ? -INFINITY : (float)x;
                }
            }
        }
    }
    fclose(fp);
    if (rc) {
        free(out);
        return -1;
    }
    *data = out;
    set_shape(&h, ndim, shape);
    return 0;
}

int ij_npy_read_i32(const char *path, int32_t **data, int *ndim, int64_t shape[2])
{
    *data = NULL;
    FILE *fp;
    Header h;
    size_t n, isz;
    if (open_npy(path, &fp, &h, &n, &isz)) return -1;
    int rc = 0;
    if (h.descr[1] != 'i')
        rc = ij_error("%s: dtype '%s' is not an integer type (need '<i4' or '<i8')", path, h.descr);
    int32_t *out = NULL;
    if (rc == 0) {
        out = ij_malloc(n * sizeof(int32_t));
        if (isz == 4) rc = read_data(path, fp, out, n * 4);
        else {
            enum { CHUNK = 8192 };
            int64_t buf[CHUNK];
            for (size_t i = 0; rc == 0 && i < n; i += CHUNK) {
                size_t m = n - i < CHUNK ? n - i : CHUNK;
                rc = read_data(path, fp, buf, m * 8);
                for (size_t j = 0; rc == 0 && j < m; j++) {
                    if (buf[j] < INT32_MIN || buf[j] > INT32_MAX)
                        rc = ij_error("%s: element %zu is %lld, which does not fit in int32", path, i + j,
                                      (long long)buf[j]);
                    else out[i + j] = (int32_t)buf[j];
                }
            }
        }
    }
    fclose(fp);
    if (rc) {
        free(out);
        return -1;
    }
    *data = out;
    set_shape(&h, ndim, shape);
    return 0;
}
