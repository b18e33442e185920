/* safetensors.c: read (mmap + validated JSON header via jansson) and atomically
 * write safetensors files.
 *
 * ij_st_open checks everything a malformed or hostile file could get wrong before
 * any tensor pointer is handed out: header length against the file size, JSON
 * syntax, every entry's dtype/shape/data_offsets, byte counts (overflow-checked)
 * and overlaps, so callers can memcpy t->nbytes from t->data without further
 * checks. Gaps between tensors are allowed; overlaps are not. Assumes a
 * little-endian host (the data is copied as is).
 */
#include "io/safetensors.h"

#include "core/error.h"
#include "io/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#define ST_MAX_HEADER 100000000ull /* bytes; real headers are a few hundred KB */

static const struct { const char *name; size_t size; } dtypes[ST_NDTYPES] = {
    [ST_F32] = {"F32", 4}, [ST_F64] = {"F64", 8},   [ST_I32] = {"I32", 4},  [ST_I64] = {"I64", 8},
    [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2}, [ST_U8] = {"U8", 1},    [ST_I8] = {"I8", 1},
    [ST_BOOL] = {"BOOL", 1}, [ST_I16] = {"I16", 2}, [ST_U16] = {"U16", 2}, [ST_U32] = {"U32", 4},
    [ST_U64] = {"U64", 8},
};

size_t ij_st_dtype_size(StDtype d) { return (unsigned)d < ST_NDTYPES ? dtypes[d].size : 0; }

const char *ij_st_dtype_name(StDtype d) { return (unsigned)d < ST_NDTYPES ? dtypes[d].name : "?"; }

int ij_st_dtype_parse(const char *s, StDtype *out)
{
    for (int i = 0; i < ST_NDTYPES; i++)
        if (strcmp(s, dtypes[i].name) == 0) {
            *out = (StDtype)i;
            return 0;
        }
    return -1;
}

size_t ij_st_numel(const StTensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(ij_malloc(n), s, n);
}

/* Bytes of a tensor of the given shape (entries >= 0) and dtype; -1 if that overflows size_t
 * (a zero dimension makes any shape valid). */
static int shape_bytes(const int64_t *shape, int ndim, StDtype dtype, size_t *out)
{
    size_t n = ij_st_dtype_size(dtype);
    int overflow = 0;
    for (int i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (d == 0) {
            *out = 0;
            return 0;
        }
        if (d > SIZE_MAX / n) overflow = 1;
        else n *= (size_t)d;
    }
    if (overflow) return -1;
    *out = n;
    return 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

/* One header entry into *t (all but name and data); datalen = bytes in the data section. */
static int parse_tensor(const char *path, const char *name, json_t *v, size_t datalen, StTensor *t)
{
    if (!json_is_object(v)) return ij_error("%s: tensor '%s' is not an object", path, name);
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape");
    json_t *off = json_object_get(v, "data_offsets");
    if (!dt || !sh || !off)
        return ij_error("%s: tensor '%s' is missing %s", path, name,
                        !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (!json_is_string(dt)) return ij_error("%s: dtype of tensor '%s' is not a string", path, name);
    if (ij_st_dtype_parse(json_string_value(dt), &t->dtype))
        return ij_error("%s: unknown dtype '%s' for tensor '%s'", path, json_string_value(dt), name);

    if (!json_is_array(sh)) return ij_error("%s: shape of tensor '%s' is not an array", path, name);
    if (json_array_size(sh) > ST_MAX_DIMS)
        return ij_error("%s: tensor '%s' has %zu dims (at most %d)", path, name, json_array_size(sh),
                        ST_MAX_DIMS);
    t->ndim = (int)json_array_size(sh);
    for (int i = 0; i < t->ndim; i++) {
        json_t *d = json_array_get(sh, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return ij_error("%s: shape of tensor '%s' has an entry that is not a non-negative integer",
                            path, name);
        t->shape[i] = json_integer_value(d);
    }

    if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(json_array_get(off, 0)) ||
        !json_is_integer(json_array_get(off, 1)))
        return ij_error("%s: data_offsets of tensor '%s' is not a pair of integers", path, name);
    json_int_t b = json_integer_value(json_array_get(off, 0)), e = json_integer_value(json_array_get(off, 1));
    if (b < 0 || b > e)
        return ij_error("%s: data_offsets of tensor '%s' are [%lld, %lld]: need 0 <= begin <= end", path,
                        name, (long long)b, (long long)e);
    if ((uint64_t)e > datalen)
        return ij_error("%s: truncated: tensor '%s' ends at byte %lld of the data section but the file has "
                        "only %zu data bytes",
                        path, name, (long long)e, datalen);
    t->offset = (size_t)b;
    t->nbytes = (size_t)(e - b);

    size_t want;
    if (shape_bytes(t->shape, t->ndim, t->dtype, &want))
        return ij_error("%s: shape of tensor '%s' overflows the element count", path, name);
    if (want != t->nbytes)
        return ij_error("%s: tensor '%s' has %zu bytes in data_offsets but its shape and dtype %s need %zu",
                        path, name, t->nbytes, ij_st_dtype_name(t->dtype), want);
    return 0;
}

static int parse_meta(StFile *f, json_t *v)
{
    if (!json_is_object(v)) return ij_error("%s: __metadata__ is not an object", f->path);
    size_t m = json_object_size(v);
    f->meta_keys = ij_calloc(m, sizeof *f->meta_keys);
    f->meta_vals = ij_calloc(m, sizeof *f->meta_vals);
    const char *k;
    json_t *s;
    json_object_foreach(v, k, s) {
        if (!json_is_string(s)) return ij_error("%s: __metadata__ value of '%s' is not a string", f->path, k);
        f->meta_keys[f->nmeta] = xstrdup(k);
        f->meta_vals[f->nmeta] = xstrdup(json_string_value(s));
        f->nmeta++;
    }
    return 0;
}

static int by_offset(const void *pa, const void *pb)
{
    const StTensor *a = pa, *b = pb;
    if (a->offset != b->offset) return a->offset < b->offset ? -1 : 1;
    return (a->nbytes > b->nbytes) - (a->nbytes < b->nbytes);
}

/* Everything after the 8-byte length: hlen bytes of JSON, then the data section. */
static int parse_header(StFile *f, size_t hlen)
{
    json_error_t jerr;
    const unsigned char *data = (const unsigned char *)f->map + 8 + hlen;
    size_t datalen = f->size - 8 - hlen;
    json_t *root = json_loadb((const char *)f->map + 8, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ij_error("%s: invalid JSON header: %s (line %d, column %d, byte %d)", f->path, jerr.text,
                        jerr.line, jerr.column, jerr.position);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = ij_error("%s: header is not a JSON object", f->path);
        goto done;
    }
    f->tensors = ij_calloc(json_object_size(root), sizeof *f->tensors);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((rc = parse_meta(f, v))) goto done;
            continue;
        }
        StTensor *t = &f->tensors[f->n];
        if ((rc = parse_tensor(f->path, key, v, datalen, t))) goto done;
        t->name = xstrdup(key);
        t->data = data + t->offset;
        f->n++;
    }
    qsort(f->tensors, (size_t)f->n, sizeof *f->tensors, by_offset);
    /* Sorted by begin, so a non-empty tensor overlaps something iff it starts before the end of the
     * previous non-empty one. Empty tensors occupy no bytes and never overlap. */
    const StTensor *prev = NULL;
    for (int i = 0; i < f->n; i++) {
        const StTensor *t = &f->tensors[i];
        if (t->nbytes == 0) continue;
        if (prev && t->offset < prev->offset + prev->nbytes) {
            rc = ij_error("%s: tensors '%s' and '%s' overlap in the data section", f->path, prev->name, t->name);
            goto done;
        }
        prev = t;
    }
done:
    json_decref(root);
    return rc;
}

/* Maps the file read-only into f->map/f->size. */
static int map_file(StFile *f)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ij_error("%s: cannot open: %s", f->path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) rc = ij_error("%s: cannot stat: %s", f->path, strerror(errno));
    else if (!S_ISREG(st.st_mode)) rc = ij_error("%s: not a regular file", f->path);
    else if (st.st_size < 8)
        rc = ij_error("%s: file is too short (%lld bytes) to hold the 8-byte header length", f->path,
                      (long long)st.st_size);
    else if ((uint64_t)st.st_size > SIZE_MAX) rc = ij_error("%s: file is too large to map", f->path);
    if (rc == 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) rc = ij_error("%s: cannot map: %s", f->path, strerror(errno));
        else {
            f->map = m;
            f->size = (size_t)st.st_size;
        }
    }
    close(fd);
    return rc;
}

int ij_st_open(StFile *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = xstrdup(path);
    if (map_file(f)) goto fail;
    const unsigned char *p = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
    if (hlen == 0) {
        ij_error("%s: header length is 0", path);
        goto fail;
    }
    if (hlen > f->size - 8) {
        ij_error("%s: header length %llu is past the end of the file (%zu bytes)", path,
                 (unsigned long long)hlen, f->size);
        goto fail;
    }
    if (hlen > ST_MAX_HEADER) {
        ij_error("%s: header length %llu is absurdly large (limit %llu bytes)", path, (unsigned long long)hlen,
                 ST_MAX_HEADER);
        goto fail;
    }
    if (parse_header(f, (size_t)hlen)) goto fail;
    return 0;
fail:
    ij_st_close(f);
    return -1;
}

int ij_st_take_map(StFile *f, void **map, size_t *size)
{
    if (!f->map) return -1;
    *map = f->map, *size = f->size;
    f->map = NULL; /* ij_st_close leaves it mapped: the caller unmaps it */
    return 0;
}

void ij_st_close(StFile *f)
{
    if (!f) return;
    if (f->map) munmap(f->map, f->size);
    for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < f->nmeta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const StTensor *ij_st_find(const StFile *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *ij_st_meta(const StFile *f, const char *key)
{
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_vals[i];
    return NULL;
}

static float half_to_float(uint16_t h)
{
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    float v;
    if (exp == 0) v = ldexpf((float)man, -24); /* zero and subnormals */
    else {
        u = (exp == 31 ? 0x7f800000u : (exp + 112) << 23) | man << 13; /* inf/nan, or rebias 15 -> 127 */
        memcpy(&v, &u, 4);
    }
    return (h & 0x8000) ? -v : v;
}

static int check_count(const StFile *f, const StTensor *t, size_t count)
{
    if (ij_st_numel(t) != count)
        return ij_error("%s: tensor '%s' has %zu elements, expected %zu", f->path, t->name, ij_st_numel(t), count);
    return 0;
}

int ij_st_read_f32(const StFile *f, const StTensor *t, float *dst, size_t count)
{
    if (t->dtype != ST_F32 && t->dtype != ST_F64 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return ij_error("%s: tensor '%s' has dtype %s, expected a float type", f->path, t->name,
                        ij_st_dtype_name(t->dtype));
    if (check_count(f, t, count)) return -1;
    const unsigned char *src = t->data;
    if (t->dtype == ST_F32) {
        if (count) memcpy(dst, src, count * 4);
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        if (t->dtype == ST_F64) {
            double x;
            memcpy(&x, src + 8 * i, 8);
            /* out-of-range double -> float is undefined in C; saturate to +-inf as IEEE does */
            dst[i] = x > FLT_MAX ? INFINITY : x < -FLT_MAX ? -INFINITY : (float)x;
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            if (t->dtype == ST_F16) dst[i] = half_to_float(h);
            else {
                uint32_t u = (uint32_t)h << 16; /* bf16 is the top half of a float32 */
                memcpy(&dst[i], &u, 4);
            }
        }
    }
    return 0;
}

int ij_st_read_i32(const StFile *f, const StTensor *t, int32_t *dst, size_t count)
{
    if (t->dtype != ST_I32 && t->dtype != ST_I64)
        return ij_error("%s: tensor '%s' has dtype %s, expected an integer type (I32 or I64)", f->path, t->name,
                        ij_st_dtype_name(t->dtype));
    if (check_count(f, t, count)) return -1;
    const unsigned char *src = t->data;
    if (t->dtype == ST_I32) {
        if (count) memcpy(dst, src, count * 4);
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        int64_t v;
        memcpy(&v, src + 8 * i, 8);
        if (v < INT32_MIN || v > INT32_MAX)
            return ij_error("%s: tensor '%s' element %zu is %lld, which does not fit in int32", f->path,
                            t->name, i, (long long)v);
        dst[i] = (int32_t)v;
    }
    return 0;
}

/* ---- writing ---------------------------------------------------------------------------- */

/* The JSON header, space-padded to a multiple of 8 bytes (malloc'ed, *hlen bytes, not
 * NUL-terminated); nbytes[i] = size of tensor i. NULL and an error on bad input. */
static char *build_header(const char *path, const StWriteTensor *ts, int n, const char *const *meta, int nmeta,
                          size_t *nbytes, size_t *hlen)
{
    json_t *root = json_object();
    char *text = NULL, *out = NULL;
    if (nmeta > 0) {
        json_t *m = json_object();
        json_object_set_new(root, "__metadata__", m);
        for (int i = 0; i < nmeta; i++) {
            const char *k = meta[2 * i], *v = meta[2 * i + 1];
            if (!k || !v || json_object_set_new(m, k, json_string(v))) {
                ij_error("%s: metadata entry %d is NULL or not valid UTF-8", path, i);
                goto done;
            }
        }
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const StWriteTensor *t = &ts[i];
        const char *name = t->name ? t->name : "(null)";
        if (!t->name || strcmp(t->name, "__metadata__") == 0 || json_object_get(root, t->name)) {
            ij_error("%s: tensor %d has a missing, reserved or duplicate name '%s'", path, i, name);
            goto done;
        }
        int bad_dim = (unsigned)t->dtype >= ST_NDTYPES || t->ndim < 0 || t->ndim > ST_MAX_DIMS;
        for (int d = 0; !bad_dim && d < t->ndim; d++) bad_dim = t->shape[d] < 0;
        if (bad_dim) {
            ij_error("%s: tensor '%s' has an invalid dtype, ndim or shape", path, name);
            goto done;
        }
        if (shape_bytes(t->shape, t->ndim, t->dtype, &nbytes[i]) || nbytes[i] > (size_t)INT64_MAX - off) {
            ij_error("%s: tensor '%s' is too large", path, name);
            goto done;
        }
        if (nbytes[i] && !t->data) {
            ij_error("%s: tensor '%s' has no data", path, name);
            goto done;
        }
        json_t *obj = json_object(), *shape = json_array(), *offs = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + nbytes[i])));
        json_object_set_new(obj, "dtype", json_string(ij_st_dtype_name(t->dtype)));
        json_object_set_new(obj, "shape", shape);
        json_object_set_new(obj, "data_offsets", offs);
        if (json_object_set_new(root, t->name, obj)) {
            ij_error("%s: tensor name '%s' is not valid UTF-8", path, name);
            goto done;
        }
        off += nbytes[i];
    }
    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text) {
        ij_error("%s: cannot encode the JSON header", path);
        goto done;
    }
    size_t len = strlen(text);
    *hlen = (len + 7) / 8 * 8;
    out = ij_malloc(*hlen);
    memcpy(out, text, len);
    memset(out + len, ' ', *hlen - len);
done:
    free(text);
    json_decref(root);
    return out;
}

static uint32_t crc_bytes(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n > 0) { /* zlib takes the length as uInt */
        uInt chunk = n > (1u << 30) ? 1u << 30 : (uInt)n;
        crc = (uint32_t)crc32(crc, p, chunk);
        p += chunk, n -= chunk;
    }
    return crc;
}

int ij_st_write(const char *path, const StWriteTensor *tensors, int n, const char *const *meta, int nmeta)
{
    if (n < 0 || nmeta < 0 || (n > 0 && !tensors) || (nmeta > 0 && !meta))
        return ij_error("%s: ij_st_write called with invalid arguments", path);
    size_t *nbytes = ij_calloc((size_t)n, sizeof *nbytes), hlen = 0;
    /* the header is built twice: first to check the tensors and size them, then with the
     * checksum of their bytes added to the metadata */
    char *header = build_header(path, tensors, n, meta, nmeta, nbytes, &hlen);
    if (!header) {
        free(nbytes);
        return -1;
    }
    free(header);
    uint32_t crc = (uint32_t)crc32(0, Z_NULL, 0);
    for (int i = 0; i < n; i++) crc = crc_bytes(crc, tensors[i].data, nbytes[i]);
    const char **kv = ij_calloc((size_t)(2 * nmeta + 2), sizeof *kv);
    char crc_hex[16];
    snprintf(crc_hex, sizeof crc_hex, "%08x", (unsigned)crc);
    for (int i = 0; i < 2 * nmeta; i++) kv[i] = meta[i];
    kv[2 * nmeta] = ST_CRC_KEY;
    kv[2 * nmeta + 1] = crc_hex;
    header = build_header(path, tensors, n, kv, nmeta + 1, nbytes, &hlen);
    free(kv);
    if (!header) {
        free(nbytes);
        return -1;
    }
    IjAtomicFile af;
    int rc = ij_atomic_open(&af, path);
    if (rc == 0) {
        unsigned char len8[8];
        for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
        int ok = fwrite(len8, 1, 8, af.f) == 8 && fwrite(header, 1, hlen, af.f) == hlen;
        for (int i = 0; ok && i < n; i++)
            ok = nbytes[i] == 0 || fwrite(tensors[i].data, 1, nbytes[i], af.f) == nbytes[i];
        rc = ij_atomic_commit(&af, ok);
    }
    free(header);
    free(nbytes);
    return rc;
}

int ij_st_verify(const StFile *f)
{
    const char *want = ij_st_meta(f, ST_CRC_KEY);
    if (!want) return 1;
    const unsigned char *p = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
    /* 64 MiB at a time, each range given back to the page cache once summed: reading a large file does
     * not make the process hold it (a ViT-H checkpoint with AdamW moments is 12 GB) */
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), step = (size_t)64 << 20;
    uint32_t crc = (uint32_t)crc32(0, Z_NULL, 0);
    for (size_t at = 8 + (size_t)hlen; at < f->size;) {
        size_t end = at + step < f->size ? (at + step) / page * page : f->size;
        if (end <= at) end = f->size;
        crc = crc_bytes(crc, p + at, end - at);
        size_t lo = at / page * page;
        madvise((void *)(p + lo), end - lo, MADV_DONTNEED); /* pages still to be read are refaulted */
        at = end;
    }
    char got[16];
    snprintf(got, sizeof got, "%08x", (unsigned)crc);
    if (strcmp(got, want) != 0)
        return ij_error("%s: the tensor data does not match its checksum (crc32 %s, expected %s): the file is "
                        "damaged", f->path, got, want);
    return 0;
}
