/* test_npy.c: .npy writer/reader: round trips, the exact header numpy writes (data at a multiple of 64),
 * '<f8'/'<i8' conversion, and one-line errors naming the file for every malformed input. */
#include "core/error.h"
#include "io/npy.h"
#include "testlib.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *path_of(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", test_tmpdir(), name);
    return p;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, fp);
    fclose(fp);
    return b;
}

/* A version 1.0 file with the given dict text (padded like numpy) followed by nbytes of data. */
static void write_raw(const char *path, const char *dict, const void *data, size_t nbytes, int pad)
{
    size_t n = strlen(dict);
    size_t hlen = pad ? ((10 + n + 1) + 63) / 64 * 64 - 10 : n;
    unsigned char head[1024] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                                (unsigned char)(hlen >> 8)};
    memcpy(head + 10, dict, n);
    if (pad) {
        memset(head + 10 + n, ' ', hlen - n - 1);
        head[10 + hlen - 1] = '\n';
    }
    FILE *fp = fopen(path, "wb");
    fwrite(head, 1, 10 + hlen, fp);
    if (nbytes) fwrite(data, 1, nbytes, fp);
    fclose(fp);
}

/* Reading path as float fails with a one-line message that names the file and contains `what`. */
static void expect_f32_error(const char *path, const char *what)
{
    float *d = (float *)1;
    int ndim;
    int64_t shape[2];
    ij_clear_error();
    int rc = ij_npy_read_f32(path, &d, &ndim, shape);
    const char *e = ij_last_error();
    CHECKF(rc == -1, "%s: expected failure", path);
    CHECK(d == NULL);
    CHECKF(strstr(e, path) == e && strstr(e, what) && !strchr(e, '\n'), "message '%s' (want '%s')", e, what);
}

static void expect_i32_error(const char *path, const char *what)
{
    int32_t *d = (int32_t *)1;
    int ndim;
    int64_t shape[2];
    ij_clear_error();
    int rc = ij_npy_read_i32(path, &d, &ndim, shape);
    const char *e = ij_last_error();
    CHECKF(rc == -1, "%s: expected failure", path);
    CHECK(d == NULL);
    CHECKF(strstr(e, path) == e && strstr(e, what) && !strchr(e, '\n'), "message '%s' (want '%s')", e, what);
}

static void test_round_trip(void)
{
    enum { N = 37, D = 13 };
    float *x = malloc(sizeof(float) * N * D);
    for (int i = 0; i < N * D; i++) x[i] = (float)i * 0.25f - 17.0f;
    x[5] = -0.0f;
    x[6] = 1e-40f; /* subnormal survives */
    const char *p = path_of("x.npy");
    int64_t shape[2] = {N, D};
    CHECK(ij_npy_write_f32(p, x, 2, shape) == 0);

    size_t len;
    unsigned char *raw = slurp(p, &len);
    CHECK(raw != NULL);
    if (raw) {
        size_t hlen = (size_t)raw[8] | (size_t)raw[9] << 8;
        CHECK(memcmp(raw, "\x93NUMPY\x01\x00", 8) == 0);
        CHECKF((10 + hlen) % 64 == 0, "data offset %zu", 10 + hlen);
        CHECK(raw[10 + hlen - 1] == '\n');
        const char *want = "{'descr': '<f4', 'fortran_order': False, 'shape': (37, 13), }";
        CHECK(memcmp(raw + 10, want, strlen(want)) == 0);
        for (size_t i = 10 + strlen(want); i < 10 + hlen - 1; i++) CHECK(raw[i] == ' ');
        CHECK(len == 10 + hlen + sizeof(float) * N * D);
        CHECK(memcmp(raw + 10 + hlen, x, sizeof(float) * N * D) == 0);
        free(raw);
    }

    float *y = NULL;
    int ndim = 0;
    int64_t got[2] = {0, 0};
    CHECK(ij_npy_read_f32(p, &y, &ndim, got) == 0);
    CHECK(ndim == 2 && got[0] == N && got[1] == D);
    CHECK(y && memcmp(x, y, sizeof(float) * N * D) == 0);
    free(y);

    /* 1-D float, overwriting the same path (atomic replace) */
    int64_t s1 = 5;
    CHECK(ij_npy_write_f32(p, x, 1, &s1) == 0);
    CHECK(ij_npy_read_f32(p, &y, &ndim, got) == 0);
    CHECK(ndim == 1 && got[0] == 5 && got[1] == 1);
    CHECK(y && memcmp(x, y, sizeof(float) * 5) == 0);
    free(y);
    raw = slurp(p, &len);
    if (raw) {
        const char *want = "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }";
        CHECK(memcmp(raw + 10, want, strlen(want)) == 0);
        free(raw);
    }
    free(x);

    /* int32 labels, 1-D and 2-D */
    int32_t lab[7] = {0, 1, 2, -3, 2147483647, -2147483647 - 1, 9};
    const char *q = path_of("labels.npy");
    int64_t s7 = 7;
    CHECK(ij_npy_write_i32(q, lab, 1, &s7) == 0);
    int32_t *l2 = NULL;
    CHECK(ij_npy_read_i32(q, &l2, &ndim, got) == 0);
    CHECK(ndim == 1 && got[0] == 7 && l2 && memcmp(l2, lab, sizeof lab) == 0);
    free(l2);
    raw = slurp(q, &len);
    if (raw) {
        size_t hlen = (size_t)raw[8] | (size_t)raw[9] << 8;
        CHECK((10 + hlen) % 64 == 0);
        CHECK(memcmp(raw + 10, "{'descr': '<i4',", 16) == 0);
        free(raw);
    }
    int64_t s23[2] = {2, 3};
    CHECK(ij_npy_write_i32(q, lab, 2, s23) == 0);
    CHECK(ij_npy_read_i32(q, &l2, &ndim, got) == 0);
    CHECK(ndim == 2 && got[0] == 2 && got[1] == 3 && l2 && memcmp(l2, lab, 6 * 4) == 0);
    free(l2);

    /* empty arrays */
    int64_t s0[2] = {0, 4};
    CHECK(ij_npy_write_f32(p, NULL, 2, s0) == 0);
    CHECK(ij_npy_read_f32(p, &y, &ndim, got) == 0);
    CHECK(y != NULL && ndim == 2 && got[0] == 0 && got[1] == 4);
    free(y);

    /* no temporary files left behind */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);
}

static void test_conversions(void)
{
    double f8[4] = {1.5, -2.25, 1e300, -1e300};
    const char *p = path_of("f8.npy");
    write_raw(p, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", f8, sizeof f8, 1);
    float *y = NULL;
    int ndim;
    int64_t shape[2];
    CHECK(ij_npy_read_f32(p, &y, &ndim, shape) == 0);
    CHECK(y && ndim == 2 && shape[0] == 2 && shape[1] == 2);
    if (y) CHECK(y[0] == 1.5f && y[1] == -2.25f && y[2] > 3e38f && y[3] < -3e38f);
    free(y);
    expect_i32_error(p, "not an integer type");

    int64_t i8[3] = {4, -5, 6};
    const char *q = path_of("i8.npy");
    /* double quotes, other key order, no trailing comma: also what numpy accepts */
    write_raw(q, "{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"<i8\"}", i8, sizeof i8, 1);
    int32_t *l = NULL;
    CHECK(ij_npy_read_i32(q, &l, &ndim, shape) == 0);
    CHECK(l && ndim == 1 && shape[0] == 3 && l[0] == 4 && l[1] == -5 && l[2] == 6);
    free(l);
    expect_f32_error(q, "not a float type");

    i8[1] = (int64_t)1 << 40;
    write_raw(q, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", i8, sizeof i8, 1);
    expect_i32_error(q, "does not fit in int32");
}

static void test_errors(void)
{
    float data[12] = {0};
    const char *p = path_of("bad.npy");
    int64_t s34[2] = {3, 4};
    CHECK(ij_npy_write_f32(p, data, 2, s34) == 0);

    /* truncated: drop the last 4 bytes */
    size_t len;
    unsigned char *raw = slurp(p, &len);
    CHECK(truncate(p, (off_t)len - 4) == 0);
    expect_f32_error(p, "truncated");
    /* truncated inside the header */
    CHECK(truncate(p, 40) == 0);
    expect_f32_error(p, "truncated");
    CHECK(truncate(p, 5) == 0);
    expect_f32_error(p, "truncated");
    /* trailing data */
    FILE *fp = fopen(p, "wb");
    fwrite(raw, 1, len, fp);
    fwrite("xxxx", 1, 4, fp);
    fclose(fp);
    expect_f32_error(p, "trailing");
    /* bad magic */
    raw[1] = 'X';
    fp = fopen(p, "wb");
    fwrite(raw, 1, len, fp);
    fclose(fp);
    expect_f32_error(p, "magic");
    raw[1] = 'N';
    raw[6] = 4; /* version 4.0 */
    fp = fopen(p, "wb");
    fwrite(raw, 1, len, fp);
    fclose(fp);
    expect_f32_error(p, "version");
    free(raw);

    write_raw(p, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }", data, 48, 1);
    expect_f32_error(p, "Fortran");
    write_raw(p, "{'descr': '>f4', 'fortran_order': False, 'shape': (3, 4), }", data, 48, 1);
    expect_f32_error(p, "unsupported dtype '>f4'");
    write_raw(p, "{'descr': '|u1', 'fortran_order': False, 'shape': (12,), }", data, 12, 1);
    expect_i32_error(p, "unsupported dtype '|u1'");
    write_raw(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 3), }", data, 48, 1);
    expect_f32_error(p, "more than 2 dimensions");
    write_raw(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", data, 4, 1);
    expect_f32_error(p, "0-d");
    write_raw(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (12), }", data, 48, 1);
    expect_f32_error(p, "(n,)");
    write_raw(p, "{'descr': '<f4', 'fortran_order': False, }", data, 48, 1);
    expect_f32_error(p, "missing key 'shape'");
    write_raw(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (12,), 'x': 1}", data, 48, 1);
    expect_f32_error(p, "unknown key 'x'");
    write_raw(p, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (12,)}", data, 48, 1);
    expect_f32_error(p, "duplicate key");
    write_raw(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 4), }", data, 48, 1);
    expect_f32_error(p, "non-negative");
    write_raw(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 4), }", data, 48, 1);
    expect_f32_error(p, "too large");
    write_raw(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", data, 48, 1);
    expect_f32_error(p, "too large");
    write_raw(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4) } junk", data, 48, 1);
    expect_f32_error(p, "after the dict");
    write_raw(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), ", data, 48, 1);
    expect_f32_error(p, "malformed header");
    /* header length pointing past the end of the file */
    unsigned char head[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0xff};
    fp = fopen(p, "wb");
    fwrite(head, 1, 10, fp);
    fclose(fp);
    expect_f32_error(p, "truncated");
    expect_f32_error(path_of("does-not-exist.npy"), "cannot open");

    /* writer errors */
    ij_clear_error();
    int64_t s5[5] = {1, 1, 1, 2, 3};
    CHECK(ij_npy_write_f32(p, data, 5, s5) == -1);
    CHECK(strstr(ij_last_error(), p) == ij_last_error());
    /* 3-D (embed --tokens): numpy's header "(1, 2, 3)" */
    int64_t s3[3] = {1, 2, 3};
    CHECK(ij_npy_write_f32(p, data, 3, s3) == 0);
    FILE *f3 = fopen(p, "rb");
    char h3[128] = "";
    CHECK(f3 && fread(h3, 1, sizeof h3 - 1, f3) > 0);
    if (f3) fclose(f3);
    CHECKF(strstr(h3 + 10, "'shape': (1, 2, 3), }") != NULL, "header: %s", h3 + 10);
    int64_t neg[2] = {-1, 2};
    CHECK(ij_npy_write_f32(p, data, 2, neg) == -1);
    const char *nodir = path_of("no/such/dir/x.npy");
    ij_clear_error();
    CHECK(ij_npy_write_f32(nodir, data, 2, s34) == -1);
    CHECKF(strstr(ij_last_error(), nodir) && strstr(ij_last_error(), "temporary"), "%s", ij_last_error());
}

int main(void)
{
    test_round_trip();
    test_conversions();
    test_errors();
    return test_exit_code("test_npy");
}
