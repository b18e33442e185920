/* test_safetensors.c: round trips through ij_st_write/ij_st_open, hand-built files in the
 * Python writer's layout, float/int conversions, one malformed file per validation
 * rule (error names the file and the problem), and atomic-write failure handling. */
#include "core/error.h"
#include "io/safetensors.h"
#include "testlib.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tmp_path(const char *name)
{
    static char path[4][512];
    static int slot;
    slot = (slot + 1) % 4;
    snprintf(path[slot], sizeof path[slot], "%s/%s", test_tmpdir(), name);
    return path[slot];
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Number of "*.tmp.*" entries left in the temporary directory. */
static int count_tmp_files(void)
{
    DIR *d = opendir(test_tmpdir());
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

/* A file: 8-byte little-endian length `hlen`, then `header` (strlen bytes), then `data`. */
static const char *write_raw(const char *name, uint64_t hlen, const char *header, const void *data, size_t ndata)
{
    const char *path = tmp_path(name);
    FILE *fp = fopen(path, "wb");
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(hlen >> (8 * i));
    CHECK(fp && fwrite(len8, 1, 8, fp) == 8);
    if (fp && header) CHECK(fwrite(header, 1, strlen(header), fp) == strlen(header));
    if (fp && ndata) CHECK(fwrite(data, 1, ndata, fp) == ndata);
    if (fp) CHECK(fclose(fp) == 0);
    return path;
}

/* ij_st_open on `path` fails with a message containing the file name and `word`. */
static void expect_bad_path(const char *path, const char *word)
{
    StFile f;
    ij_clear_error();
    int rc = ij_st_open(&f, path);
    const char *err = ij_last_error();
    CHECKF(rc == -1, "%s opened", path);
    CHECKF(strstr(err, path) != NULL, "error '%s' does not name %s", err, path);
    CHECKF(strstr(err, path) && strstr(strstr(err, path) + strlen(path), word), "error '%s' lacks '%s'", err,
           word); /* after the file name, so a name cannot match */
    CHECK(f.map == NULL && f.tensors == NULL && f.path == NULL); /* cleaned up */
    ij_st_close(&f);
}

/* A file with this JSON header (unpadded) and `ndata` zero bytes of data must be rejected. */
static void expect_bad(const char *name, const char *header, size_t ndata, const char *word)
{
    unsigned char zeros[64] = {0};
    CHECK(ndata <= sizeof zeros);
    expect_bad_path(write_raw(name, strlen(header), header, zeros, ndata), word);
}

static void test_round_trip(void)
{
    const char *path = tmp_path("rt.safetensors");
    float w[6] = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, -7.0f};
    int32_t idx[4] = {0, -1, 2147483647, -2147483647 - 1};
    float scalar = 42.0f;
    StWriteTensor ts[] = {
        {.name = "enc.w", .dtype = ST_F32, .ndim = 2, .shape = {2, 3}, .data = w},
        {.name = "idx", .dtype = ST_I32, .ndim = 1, .shape = {4}, .data = idx},
        {.name = "step", .dtype = ST_F32, .ndim = 0, .data = &scalar},
        {.name = "empty", .dtype = ST_F32, .ndim = 2, .shape = {0, 5}, .data = NULL},
    };
    const char *meta[] = {"format", "pt", "note", "ünïcode \"quoted\""};
    CHECK(ij_st_write(path, ts, 4, meta, 2) == 0);
    CHECK(count_tmp_files() == 0);

    StFile f;
    CHECKF(ij_st_open(&f, path) == 0, "%s", ij_last_error());
    CHECK(f.n == 4 && f.nmeta == 3); /* the two given and the checksum */
    CHECK(ij_st_meta(&f, ST_CRC_KEY) && strlen(ij_st_meta(&f, ST_CRC_KEY)) == 8);
    CHECKF(ij_st_verify(&f) == 0, "%s", ij_last_error());
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | ((const unsigned char *)f.map)[i];
    CHECK(hlen % 8 == 0);
    CHECK(file_size(path) == (long)(8 + hlen + sizeof w + sizeof idx + sizeof scalar));
    CHECK(ij_st_meta(&f, "format") && strcmp(ij_st_meta(&f, "format"), "pt") == 0);
    CHECK(ij_st_meta(&f, "note") && strcmp(ij_st_meta(&f, "note"), meta[3]) == 0);
    CHECK(ij_st_meta(&f, "missing") == NULL);
    CHECK(ij_st_find(&f, "nope") == NULL);

    const StTensor *t = ij_st_find(&f, "enc.w");
    CHECK(t && t->dtype == ST_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    CHECK(t && t->nbytes == sizeof w && ij_st_numel(t) == 6);
    float got[6] = {0};
    CHECK(t && ij_st_read_f32(&f, t, got, 6) == 0 && memcmp(got, w, sizeof w) == 0);
    CHECK(t && ij_st_read_f32(&f, t, got, 5) == -1 && strstr(ij_last_error(), "elements"));
    CHECK(t && ij_st_read_i32(&f, t, idx, 6) == -1 && strstr(ij_last_error(), "integer type"));

    t = ij_st_find(&f, "idx");
    int32_t gi[4] = {0};
    CHECK(t && t->dtype == ST_I32 && t->ndim == 1 && t->shape[0] == 4);
    CHECK(t && ij_st_read_i32(&f, t, gi, 4) == 0 && memcmp(gi, idx, sizeof idx) == 0);
    CHECK(t && ij_st_read_f32(&f, t, got, 4) == -1 && strstr(ij_last_error(), "has dtype I32, expected a float type") &&
          strstr(ij_last_error(), path));

    t = ij_st_find(&f, "step");
    CHECK(t && t->ndim == 0 && t->nbytes == 4 && ij_st_numel(t) == 1);
    float s = 0;
    CHECK(t && ij_st_read_f32(&f, t, &s, 1) == 0 && s == 42.0f);

    t = ij_st_find(&f, "empty");
    CHECK(t && t->ndim == 2 && t->nbytes == 0 && ij_st_numel(t) == 0 && ij_st_read_f32(&f, t, NULL, 0) == 0);

    for (int i = 1; i < f.n; i++) CHECK(f.tensors[i - 1].offset <= f.tensors[i].offset);
    ij_st_close(&f);
    ij_st_close(&f); /* idempotent */
    CHECK(f.map == NULL && f.n == 0);

    /* the checksum finds one flipped bit anywhere in the data section, and names the file */
    long size = file_size(path);
    for (long at = size - 1; at >= size - (long)(sizeof w + sizeof idx + sizeof scalar); at -= 13) {
        FILE *fp = fopen(path, "r+b");
        int c = (fseek(fp, at, SEEK_SET), fgetc(fp));
        fseek(fp, at, SEEK_SET), fputc(c ^ 0x10, fp), fclose(fp);
        CHECK(ij_st_open(&f, path) == 0);
        ij_clear_error();
        CHECKF(ij_st_verify(&f) == -1 && strstr(ij_last_error(), "does not match its checksum") &&
                   strstr(ij_last_error(), path), "byte %ld: %s", at, ij_last_error());
        ij_st_close(&f);
        fp = fopen(path, "r+b");
        fseek(fp, at, SEEK_SET), fputc(c, fp), fclose(fp);
    }
    CHECK(ij_st_open(&f, path) == 0 && ij_st_verify(&f) == 0);
    ij_st_close(&f);
}

/* Conversions to float: F64, F16 (normal, subnormal, inf), BF16; I64 with a range check. */
static void test_conversions(void)
{
    const char *path = tmp_path("conv.safetensors");
    double d[3] = {0.1, -3.0, 1e300};
    uint16_t h[5] = {0x3c00, 0xc000, 0x0001, 0x7c00, 0x8000}; /* 1, -2, 2^-24, inf, -0 */
    uint16_t b[2] = {0x3f80, 0xc0a0};                          /* 1, -5 */
    int64_t ok64[3] = {5, -7, 2147483647}, bad64[2] = {1, 4294967296LL};
    StWriteTensor ts[] = {
        {.name = "d", .dtype = ST_F64, .ndim = 1, .shape = {3}, .data = d},
        {.name = "h", .dtype = ST_F16, .ndim = 1, .shape = {5}, .data = h},
        {.name = "b", .dtype = ST_BF16, .ndim = 1, .shape = {2}, .data = b},
        {.name = "ok64", .dtype = ST_I64, .ndim = 1, .shape = {3}, .data = ok64},
        {.name = "bad64", .dtype = ST_I64, .ndim = 1, .shape = {2}, .data = bad64},
        {.name = "u8", .dtype = ST_U8, .ndim = 1, .shape = {2}, .data = "ab"},
    };
    CHECK(ij_st_write(path, ts, 6, NULL, 0) == 0);
    StFile f;
    CHECKF(ij_st_open(&f, path) == 0, "%s", ij_last_error());
    float x[5];
    int32_t k[3];
    CHECK(ij_st_read_f32(&f, ij_st_find(&f, "d"), x, 3) == 0 && x[0] == 0.1f && x[1] == -3.0f && isinf(x[2]));
    CHECK(ij_st_read_f32(&f, ij_st_find(&f, "h"), x, 5) == 0);
    CHECK(x[0] == 1.0f && x[1] == -2.0f && x[2] == ldexpf(1.0f, -24) && isinf(x[3]) && x[3] > 0);
    CHECK(x[4] == 0.0f && signbit(x[4]));
    CHECK(ij_st_read_f32(&f, ij_st_find(&f, "b"), x, 2) == 0 && x[0] == 1.0f && x[1] == -5.0f);
    CHECK(ij_st_read_i32(&f, ij_st_find(&f, "ok64"), k, 3) == 0 && k[0] == 5 && k[1] == -7 && k[2] == 2147483647);
    CHECK(ij_st_read_i32(&f, ij_st_find(&f, "bad64"), k, 2) == -1 && strstr(ij_last_error(), "does not fit"));
    CHECK(ij_st_read_f32(&f, ij_st_find(&f, "u8"), x, 2) == -1 && strstr(ij_last_error(), "dtype U8"));
    CHECK(ij_st_find(&f, "u8") && memcmp(ij_st_find(&f, "u8")->data, "ab", 2) == 0);
    ij_st_close(&f);
}

/* Python's writer: no padding requirement honoured here, metadata last, keys not in offset order. */
static void test_python_layout(void)
{
    const char *hdr = "{\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"z\":{\"dtype\":\"BOOL\",\"shape\":[0],\"data_offsets\":[16,16]},"
                      "\"__metadata__\":{\"format\":\"pt\"}}";
    unsigned char data[16];
    float a[2] = {0.5f, -1.0f};
    int64_t bv = 123456789012LL;
    memcpy(data, a, 8);
    memcpy(data + 8, &bv, 8);
    CHECK(strlen(hdr) % 8 != 0);
    const char *path = write_raw("python.safetensors", strlen(hdr), hdr, data, sizeof data);
    StFile f;
    CHECKF(ij_st_open(&f, path) == 0, "%s", ij_last_error());
    CHECK(f.n == 3 && strcmp(f.tensors[0].name, "a") == 0 && strcmp(f.tensors[1].name, "b") == 0);
    CHECK(ij_st_meta(&f, "format") && strcmp(ij_st_meta(&f, "format"), "pt") == 0);
    float got[2];
    CHECK(ij_st_read_f32(&f, ij_st_find(&f, "a"), got, 2) == 0 && got[0] == 0.5f && got[1] == -1.0f);
    int64_t gb = 0;
    CHECK(ij_st_find(&f, "b") && (memcpy(&gb, ij_st_find(&f, "b")->data, 8), gb == bv));
    CHECK(ij_st_verify(&f) == 1); /* written elsewhere: no checksum to verify */
    ij_st_close(&f);

    /* A header of only "{}" (no tensors) padded with spaces is a valid empty file. */
    path = write_raw("empty.safetensors", 8, "{}      ", NULL, 0);
    CHECKF(ij_st_open(&f, path) == 0 && f.n == 0 && f.nmeta == 0, "%s", ij_last_error());
    ij_st_close(&f);
}

static void test_bad_files(void)
{
    const char *T = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
    char buf[512];

    expect_bad_path(tmp_path("does-not-exist.safetensors"), "No such file");
    expect_bad_path(test_tmpdir(), "not a regular file");
    {
        const char *p = tmp_path("short3.safetensors");
        FILE *fp = fopen(p, "wb");
        CHECK(fp && fwrite("abc", 1, 3, fp) == 3 && fclose(fp) == 0);
        expect_bad_path(p, "too short");
    }
    expect_bad_path(write_raw("len0.safetensors", 0, "{}", NULL, 0), "header length is 0");
    expect_bad_path(write_raw("pastend.safetensors", 1000, "{}", NULL, 0),
                    "header length 1000 is past the end of the file (10 bytes)");
    expect_bad_path(write_raw("huge.safetensors", UINT64_MAX, "{}", NULL, 0), "past the end");
    {   /* a header length within a (sparse) 150 MB file but over the 100 MB limit */
        const char *p = write_raw("absurd.safetensors", 120000000, "{}", NULL, 0);
        CHECK(truncate(p, 150000000) == 0);
        expect_bad_path(p, "absurdly large");
        CHECK(unlink(p) == 0);
    }
    expect_bad("badjson.safetensors", "{\"t\": {", 0, "invalid JSON");
    expect_bad("badjson2.safetensors", "{\"t\": 1} x", 0, "column");
    expect_bad("dupkey.safetensors", "{\"a\":{},\"a\":{}}", 0, "duplicate");
    expect_bad("array.safetensors", "[1, 2]", 0, "not a JSON object");
    expect_bad("notobj.safetensors", "{\"t\": 5}", 0, "tensor 't' is not an object");
    expect_bad("nodtype.safetensors", "{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "missing dtype");
    expect_bad("noshape.safetensors", "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing shape");
    expect_bad("nooffs.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing data_offsets");
    expect_bad("dtypenum.safetensors", "{\"t\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
               "dtype of tensor 't' is not a string");
    expect_bad("dtype.safetensors", "{\"t\":{\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
               "unknown dtype 'F128' for tensor 't'");
    expect_bad("shape1.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8,
               "shape of tensor 't' is not an array");
    expect_bad("shape2.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
               "non-negative integer");
    expect_bad("shape3.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
               "non-negative integer");
    expect_bad("shape4.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
               "non-negative integer");
    expect_bad("ndim.safetensors",
               "{\"t\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
               "9 dims (at most 8)");
    expect_bad("offs1.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8,
               "data_offsets of tensor 't' is not a pair");
    expect_bad("offs2.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8,
               "not a pair");
    expect_bad("offs3.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":\"0,8\"}}", 8,
               "not a pair");
    expect_bad("offs4.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8,
               "begin <= end");
    expect_bad("offs5.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[-4,-4]}}", 8,
               "begin <= end");
    expect_bad("trunc.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 7,
               "truncated: tensor 't' ends at byte 8 of the data section but the file has only 7");
    expect_bad("trunc2.safetensors",
               "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,9223372036854775807]}}", 8,
               "truncated");
    expect_bad("nbytes.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
               "need 12");
    expect_bad("overflow.safetensors",
               "{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,8]}}", 8,
               "overflow");
    expect_bad("overflow2.safetensors",
               "{\"t\":{\"dtype\":\"F64\",\"shape\":[9223372036854775807],\"data_offsets\":[0,8]}}", 8,
               "overflow");
    snprintf(buf, sizeof buf, "%s,\"u\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", T);
    expect_bad("overlap.safetensors", buf, 12, "tensors 't' and 'u' overlap");
    snprintf(buf, sizeof buf, "%s,\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[3,4]}}", T);
    expect_bad("overlap2.safetensors", buf, 8, "overlap"); /* contained in 't' */
    snprintf(buf, sizeof buf, "%s,\"__metadata__\":[\"a\"]}", T);
    expect_bad("meta1.safetensors", buf, 8, "__metadata__ is not an object");
    snprintf(buf, sizeof buf, "%s,\"__metadata__\":{\"k\":\"v\",\"n\":1}}", T);
    expect_bad("meta2.safetensors", buf, 8, "__metadata__ value of 'n' is not a string");

    /* Sanity: the shared prefix itself is fine, and an empty tensor inside another one is allowed. */
    snprintf(buf, sizeof buf, "%s,\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", T);
    StFile f;
    const char *path = write_raw("good.safetensors", strlen(buf), buf, "12345678", 8);
    CHECKF(ij_st_open(&f, path) == 0 && f.n == 2, "%s", ij_last_error());
    ij_st_close(&f);
}

/* The file at path opens and holds tensor "x" with n elements, the first equal to first. */
static int file_holds_x(const char *path, float first, size_t n)
{
    StFile f;
    if (ij_st_open(&f, path) != 0) return 0;
    const StTensor *t = ij_st_find(&f, "x");
    float v = 0;
    if (t && ij_st_numel(t) == n) memcpy(&v, t->data, sizeof v);
    ij_st_close(&f);
    return v == first;
}

static void test_write_failures(void)
{
    float one = 1.0f, big[4096];
    for (int i = 0; i < 4096; i++) big[i] = 2.0f;
    StWriteTensor small = {.name = "x", .dtype = ST_F32, .ndim = 0, .data = &one};
    StWriteTensor large = {.name = "x", .dtype = ST_F32, .ndim = 1, .shape = {4096}, .data = big};

    /* missing directory: fails, names the path, leaves nothing behind */
    const char *bad = tmp_path("no-such-dir/out.safetensors");
    CHECK(ij_st_write(bad, &small, 1, NULL, 0) == -1);
    CHECK(strstr(ij_last_error(), bad) && strstr(ij_last_error(), "No such file"));
    CHECK(file_size(tmp_path("no-such-dir")) == -1);

    /* replacing an existing file; a reader that still has the old file mapped keeps the old data */
    const char *path = tmp_path("replace.safetensors");
    CHECK(ij_st_write(path, &small, 1, NULL, 0) == 0);
    StFile old;
    CHECK(ij_st_open(&old, path) == 0);
    CHECK(ij_st_write(path, &large, 1, NULL, 0) == 0);
    CHECK(file_holds_x(path, 2.0f, 4096));
    float v = 0;
    CHECK(ij_st_read_f32(&old, ij_st_find(&old, "x"), &v, 1) == 0 && v == 1.0f);
    ij_st_close(&old);
    CHECK(count_tmp_files() == 0);

    /* a write error midway ("disk full", simulated with a file size limit): -1 with the errno text,
     * the temporary file removed, the existing file untouched */
    struct rlimit saved, lim;
    CHECK(getrlimit(RLIMIT_FSIZE, &saved) == 0);
    lim = saved;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    CHECK(ij_st_write(tmp_path("fresh.safetensors"), &small, 1, NULL, 0) == 0); /* small still fits */
    int rc = ij_st_write(path, &large, 1, NULL, 0);
    CHECK(setrlimit(RLIMIT_FSIZE, &saved) == 0);
    signal(SIGXFSZ, prev);
    CHECK(rc == -1 && strstr(ij_last_error(), path) && strstr(ij_last_error(), "write failed"));
    CHECK(strstr(ij_last_error(), "too large")); /* strerror(EFBIG) */
    CHECK(count_tmp_files() == 0);
    CHECK(file_holds_x(path, 2.0f, 4096));

    /* bad arguments are rejected before anything is created */
    StWriteTensor dup[2] = {small, small};
    CHECK(ij_st_write(tmp_path("dup.safetensors"), dup, 2, NULL, 0) == -1 && strstr(ij_last_error(), "duplicate"));
    StWriteTensor neg = {.name = "n", .dtype = ST_F32, .ndim = 1, .shape = {-1}, .data = &one};
    CHECK(ij_st_write(tmp_path("neg.safetensors"), &neg, 1, NULL, 0) == -1 && strstr(ij_last_error(), "shape"));
    StWriteTensor nodata = {.name = "n", .dtype = ST_F32, .ndim = 1, .shape = {2}, .data = NULL};
    CHECK(ij_st_write(tmp_path("nodata.safetensors"), &nodata, 1, NULL, 0) == -1);
    const char *meta[2] = {"k", NULL};
    CHECK(ij_st_write(tmp_path("meta.safetensors"), &small, 1, meta, 1) == -1);
    CHECK(file_size(tmp_path("dup.safetensors")) == -1 && file_size(tmp_path("neg.safetensors")) == -1);
    CHECK(file_size(tmp_path("nodata.safetensors")) == -1 && file_size(tmp_path("meta.safetensors")) == -1);
    CHECK(count_tmp_files() == 0);
}

int main(void)
{
    CHECK(ij_st_dtype_size(ST_BF16) == 2 && ij_st_dtype_size(ST_U64) == 8 && strcmp(ij_st_dtype_name(ST_BOOL), "BOOL") == 0);
    StDtype d;
    CHECK(ij_st_dtype_parse("I16", &d) == 0 && d == ST_I16 && ij_st_dtype_parse("f32", &d) == -1);
    StFile zero = {0};
    ij_st_close(&zero);
    test_round_trip();
    test_conversions();
    test_python_layout();
    test_bad_files();
    test_write_failures();
    return test_exit_code("test_safetensors");
}
