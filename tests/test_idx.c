/* test_idx.c: IDX reader on files built here (raw and gzip, good and broken)
 * and on the real Fashion-MNIST files, which must be installed (Debian
 * package dataset-fashion-mnist): without them this test fails. */
#include "core/error.h"
#include "data/idx.h"
#include "testlib.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

enum { COUNT = 50, ROWS = 6, COLS = 5 };

static uint8_t pixels[COUNT * ROWS * COLS], labels[COUNT];

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static const char *tmp_path(const char *name)
{
    static char path[256][512]; /* every path made by this program stays valid */
    static int next;
    char *p = path[next++ % 256];
    snprintf(p, sizeof path[0], "%s/%s", test_tmpdir(), name);
    return p;
}

/* Writes magic, ndim sizes, then `n` data bytes (raw, or gzip when gz). */
static const char *write_idx(const char *name, int gz, uint32_t magic, const uint32_t *dims, int ndim,
                             const uint8_t *data, size_t n)
{
    const char *path = tmp_path(name);
    uint8_t hdr[16];
    put32(hdr, magic);
    for (int d = 0; d < ndim; d++) put32(hdr + 4 + 4 * d, dims[d]);
    size_t nh = 4 + 4 * (size_t)ndim;
    if (gz) {
        gzFile f = gzopen(path, "wb");
        CHECK(f != NULL);
        CHECK(gzwrite(f, hdr, (unsigned)nh) == (int)nh);
        if (n) CHECK(gzwrite(f, data, (unsigned)n) == (int)n);
        CHECK(gzclose(f) == Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        CHECK(f != NULL);
        CHECK(fwrite(hdr, 1, nh, f) == nh);
        if (n) CHECK(fwrite(data, 1, n, f) == n);
        CHECK(fclose(f) == 0);
    }
    return path;
}

static const char *good_images(const char *name, int gz)
{
    return write_idx(name, gz, 0x803, (uint32_t[]){COUNT, ROWS, COLS}, 3, pixels, sizeof pixels);
}

static const char *good_labels(const char *name, int gz)
{
    return write_idx(name, gz, 0x801, (uint32_t[]){COUNT}, 1, labels, sizeof labels);
}

/* Loading must fail with a message naming `file` and containing `what`. */
static void expect_error(const char *images, const char *labels_path, const char *file, const char *what)
{
    IjIdx d;
    ij_clear_error();
    int rc = ij_idx_load(&d, images, labels_path);
    const char *msg = ij_last_error();
    CHECKF(rc == -1 && d.pixels == NULL && d.labels == NULL, "%s: loaded", file);
    CHECKF(strstr(msg, file) && strstr(msg, what), "want '%s' naming %s, got '%s'", what, file, msg);
}

static void test_good(int gz)
{
    const char *im = good_images(gz ? "good-images.gz" : "good-images", gz);
    const char *lb = good_labels(gz ? "good-labels.gz" : "good-labels", gz);
    IjIdx d;
    CHECK(ij_idx_load(&d, im, lb) == 0);
    CHECK(d.count == COUNT && d.rows == ROWS && d.cols == COLS);
    CHECK(d.pixels && memcmp(d.pixels, pixels, sizeof pixels) == 0);
    CHECK(d.labels && memcmp(d.labels, labels, sizeof labels) == 0);
    CHECK(d.classes == 13);  /* labels go up to 12: any byte is allowed */
    ij_idx_free(&d);
    CHECK(d.pixels == NULL && d.labels == NULL);
    CHECK(ij_idx_load(&d, im, NULL) == 0);
    CHECK(d.count == COUNT && d.labels == NULL && d.classes == 0);
    ij_idx_free(&d);
}

static void test_bad(int gz)
{
    const char *lb = good_labels(gz ? "labels.gz" : "labels", gz);
    const char *im = good_images(gz ? "images.gz" : "images", gz);
    const char *p;
    p = write_idx("magic", gz, 0x12345678, (uint32_t[]){COUNT, ROWS, COLS}, 3, pixels, sizeof pixels);
    expect_error(p, lb, p, "wrong magic 0x12345678");
    p = write_idx("type", gz, 0x0D03, (uint32_t[]){COUNT, ROWS, COLS}, 3, pixels, sizeof pixels);
    expect_error(p, lb, p, "wrong magic 0x00000d03");
    p = write_idx("ndim", gz, 0x802, (uint32_t[]){COUNT, ROWS * COLS}, 2, pixels, sizeof pixels);
    expect_error(p, lb, p, "2 dimensions, want 3");
    expect_error(lb, NULL, lb, "1 dimensions, want 3");  /* labels given as images */
    expect_error(im, im, im, "3 dimensions, want 1");    /* images given as labels */
    p = write_idx("zero", gz, 0x803, (uint32_t[]){COUNT, 0, COLS}, 3, pixels, 0);
    expect_error(p, NULL, p, "rows 0 is out of range");
    p = write_idx("zero-count", gz, 0x803, (uint32_t[]){0, ROWS, COLS}, 3, pixels, 0);
    expect_error(p, NULL, p, "count 0 is out of range");
    p = write_idx("huge", gz, 0x803, (uint32_t[]){COUNT, ROWS, 100000}, 3, pixels, sizeof pixels);
    expect_error(p, NULL, p, "cols 100000 is out of range");
    p = write_idx("huge-total", gz, 0x803, (uint32_t[]){1u << 30, 65535, 65535}, 3, pixels, sizeof pixels);
    expect_error(p, NULL, p, "more than this reader accepts");
    p = write_idx("few-labels", gz, 0x801, (uint32_t[]){COUNT - 1}, 1, labels, COUNT - 1);
    expect_error(im, p, p, "49 labels for the 50 images");
    p = write_idx("short", gz, 0x803, (uint32_t[]){COUNT, ROWS, COLS}, 3, pixels, sizeof pixels - 1);
    expect_error(p, lb, p, "file too short: 1499 of 1500 bytes of pixels");
    p = write_idx("short-header", gz, 0x803, (uint32_t[]){COUNT}, 1, NULL, 0);
    expect_error(p, lb, p, "file too short: 8 of 16 bytes of header");
    p = write_idx("short-labels", gz, 0x801, (uint32_t[]){COUNT}, 1, labels, COUNT - 3);
    expect_error(im, p, p, "file too short: 47 of 50 bytes of labels");
    uint8_t more[sizeof pixels + 1];
    memcpy(more, pixels, sizeof pixels);
    more[sizeof pixels] = 7;
    p = write_idx("trailing", gz, 0x803, (uint32_t[]){COUNT, ROWS, COLS}, 3, more, sizeof more);
    expect_error(p, lb, p, "trailing data");
    expect_error(tmp_path("missing"), NULL, "missing", "cannot open");
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(1 << 20);
    *n = f ? fread(buf, 1, 1 << 20, f) : 0;
    if (f) fclose(f);
    return buf;
}

static void spit(const char *path, const uint8_t *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(buf, 1, n, f) == n);
    if (f) fclose(f);
}

/* Damaged gzip files: a changed byte, a cut stream, a cut CRC trailer. */
static void test_gzip_damage(void)
{
    const char *lb = good_labels("labels.gz", 1);
    size_t n;
    uint8_t *buf = slurp(good_images("images.gz", 1), &n);
    CHECK(n > 60);
    const char *p = tmp_path("flipped.gz");
    buf[n / 2] ^= 0x55;
    spit(p, buf, n);
    expect_error(p, lb, p, "corrupt gzip data");
    buf[n / 2] ^= 0x55;
    p = tmp_path("cut.gz");
    spit(p, buf, n / 2);
    expect_error(p, lb, p, "truncated gzip stream");
    p = tmp_path("cut-trailer.gz");
    spit(p, buf, n - 4);  /* all the data, but no length field */
    expect_error(p, lb, p, "truncated gzip stream");
    p = tmp_path("crc.gz");
    buf[n - 6] ^= 1;      /* CRC-32 of the data */
    spit(p, buf, n);
    expect_error(p, lb, p, "corrupt gzip data");
    free(buf);
}

static void test_find(void)
{
    char im[4096], lb[4096];
    const char *dir = tmp_path("ds");
    CHECK(mkdir(dir, 0755) == 0);
    CHECK(ij_idx_find_dataset(im, lb, sizeof im, dir, 1) == -1 && strstr(ij_last_error(), "train-images-idx3"));
    good_images("ds/train-images-idx3-ubyte.gz", 1);
    good_images("ds/t10k-images-idx3-ubyte", 0);
    good_labels("ds/t10k-labels-idx1-ubyte", 0);
    CHECK(ij_idx_find_dataset(im, lb, sizeof im, dir, 1) == 0);
    CHECK(strstr(im, "/ds/train-images-idx3-ubyte.gz") && lb[0] == '\0');
    CHECK(ij_idx_find_dataset(im, lb, sizeof im, dir, 0) == 0);
    CHECK(strstr(im, "/ds/t10k-images-idx3-ubyte") && strstr(lb, "/ds/t10k-labels-idx1-ubyte"));
    IjIdx d;
    CHECK(ij_idx_load(&d, im, lb) == 0 && d.count == COUNT);
    ij_idx_free(&d);
    CHECK(ij_idx_find_dataset(im, NULL, sizeof im, dir, 0) == 0);
    CHECK(ij_idx_find_dataset(im, lb, 8, dir, 0) == -1);  /* buffers too small */
    CHECK(ij_idx_find_dataset(im, lb, sizeof im, "./no/such/dir", 0) == -1 && strstr(ij_last_error(), "not a directory"));
}

/* The installed Fashion-MNIST (Debian package dataset-fashion-mnist): 6000
 * training and 1000 test images per class. */
static void test_fashion_mnist(void)
{
    for (int train = 1; train >= 0; train--) {
        char im[4096], lb[4096];
        int found = ij_idx_find_dataset(im, lb, sizeof im, "fashion-mnist", train) == 0;
        CHECKF(found, "%s (install dataset-fashion-mnist)", ij_last_error());
        if (!found) continue;
        CHECK(strcmp(im, train ? "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
                               : "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") == 0);
        IjIdx d;
        int loaded = ij_idx_load(&d, im, lb) == 0;
        CHECKF(loaded, "%s", ij_last_error());
        if (!loaded) continue;
        int want = train ? 60000 : 10000;
        CHECK(d.count == want && d.rows == 28 && d.cols == 28 && d.classes == 10);
        int per_class[10] = {0}, bad = 0;
        for (int i = 0; i < d.count; i++) per_class[d.labels[i]]++;
        for (int c = 0; c < 10; c++) bad += per_class[c] != want / 10;
        CHECK(bad == 0);
        uint64_t sum = 0;
        for (size_t i = 0; i < (size_t)d.count * 28 * 28; i++) sum += d.pixels[i];
        printf("fashion-mnist %s: %d x %dx%d, %d classes, mean pixel %.2f\n", train ? "train" : "t10k", d.count,
               d.rows, d.cols, d.classes, (double)sum / ((double)d.count * 28 * 28));
        ij_idx_free(&d);
    }
}

int main(void)
{
    for (size_t i = 0; i < sizeof pixels; i++) pixels[i] = (uint8_t)((i * 2654435761u) >> 13);
    for (int i = 0; i < COUNT; i++) labels[i] = (uint8_t)(i % 13);
    test_good(0);
    test_good(1);
    test_bad(0);
    test_bad(1);
    test_gzip_damage();
    test_find();
    test_fashion_mnist();
    return test_exit_code("test_idx");
}
