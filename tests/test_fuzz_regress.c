/* test_fuzz_regress.c: replays the fuzzing corpus through the entry points the
 * fuzzers drive (tests/fuzz/targets.h: the same calls scripts/fuzz.sh makes).
 *   tests/fixtures/fuzz/seeds/<t>/  small valid files (tests/fuzz/make_seeds.c):
 *                                   each must be accepted;
 *   tests/fixtures/fuzz/<t>/        inputs that once crashed, hung, leaked or
 *                                   asked for a huge allocation: each must be
 *                                   accepted or rejected without breaking the
 *                                   library's contract (the sanitizer build of
 *                                   this test checks memory safety);
 * and the known-bad cases in `bad` below must be rejected with a message that
 * names the problem. Run from the repository root (IJEPA_FIXTURES overrides). */
#include "fuzz/targets.h"
#include "testlib.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PATH_MAX_ = 4096 };

static const char *const targets[] = {"jpeg", "png", "tar", "idx", "safetensors", "npy"};

static char tiny_images[PATH_MAX_];

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    *n = 0;
    if (!f) return NULL;
    size_t cap = 0;
    for (;;) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *p = realloc(buf, cap);
            if (!p) abort();
            buf = p;
        }
        size_t r = fread(buf + *n, 1, cap - *n, f);
        *n += r;
        if (r == 0) break;
    }
    fclose(f);
    return buf;
}

/* Runs one file through target t's driver; returns its result. */
static int run_one(const char *t, const char *path)
{
    if (!strcmp(t, "idx")) return fuzz_idx(path, tiny_images);
    if (!strcmp(t, "safetensors")) return fuzz_safetensors(path);
    if (!strcmp(t, "npy")) return fuzz_npy(path);
    size_t n;
    uint8_t *data = slurp(path, &n);
    CHECKF(data != NULL, "cannot read %s", path);
    if (!data) return FUZZ_BROKEN;
    int rc = !strcmp(t, "tar") ? fuzz_tar(data, n) : fuzz_image(data, n);
    free(data);
    return rc;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every file in tests/fixtures/<sub>/<t>/, in sorted order; returns how many.
 * must_accept: seeds, each of which must be accepted. */
static int run_dir(const char *sub, const char *t, int must_accept)
{
    char dir[PATH_MAX_];
    snprintf(dir, sizeof dir, "%s", test_fixture(sub));
    size_t len = strlen(dir);
    snprintf(dir + len, sizeof dir - len, "/%s", t);
    DIR *d = opendir(dir);
    if (!d) return 0;
    char *names[512];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 512)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX_ + 256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int rc = run_one(t, path);
        CHECKF(rc != FUZZ_BROKEN, "%s: broke the library's contract", path);
        if (must_accept) CHECKF(rc == 0, "%s: a valid seed was rejected: %s", path, ij_last_error());
        free(names[i]);
    }
    return n;
}

/* Known-bad inputs: the entry point must fail with a message containing `says`. */
typedef struct {
    const char *target, *file, *says;
} Bad;

static const Bad bad[] = {
    /* 19 bytes announcing 2^30 x 59143 x 1 pixels: read_idx used to malloc all 5.9 GB first */
    {"idx", "huge-count-header-only", "file too short: 3 of 5949957120 bytes of pixels"},
    /* SOF of 65282 x 11792, data cut short: decode_jpeg allocated 2.3 GB for the output first */
    {"jpeg", "huge-sof-truncated.jpg", "header declares 65282 x 11792 pixels, more than the limit"},
    /* sPLT chunk claiming 1.4 GB: libpng buffered it (its limit is only a warning) */
    {"png", "splt-huge-length.png", "truncated file"},
    /* hand-made: IHDR of 20000 x 20000 and a few bytes of IDAT */
    {"png", "huge-ihdr-short-idat.png", "header declares 20000 x 20000 pixels, more than the limit"},
    /* the same at 100000 x 100000: libpng said only "Invalid IHDR data" (issue 25) */
    {"png", "huge-ihdr-100000.png", "header declares 100000 x 100000 pixels, more than the limit of 65535 per side"},
    /* ij_config_from_meta prefixed ij_last_error() to itself (overlapping vsnprintf) */
    {"safetensors", "config-bad-channels.safetensors", "bad-channels.safetensors: metadata 'channels' = 5 is out of range [1, 3]"},
    /* img_size 2^20, patch 1: ij_num_patches overflowed int in ij_config_validate */
    {"safetensors", "config-grid-overflow.safetensors", "metadata 'img_size' = 1048576 is out of range [1, 4096]"},
    /* mlp_ratio * embed_dim overflowed int in ij_config_from_meta */
    {"safetensors", "config-mlp-ratio-overflow.safetensors", "metadata 'embed_dim' = 1048576 is out of range [4, 16384]"},
    /* depth 10^6 passed the old bound of 2^20: embed allocated 2 GB before failing (issue 25) */
    {"safetensors", "config-depth-million.safetensors", "metadata 'depth' = 1000000 is out of range [1, 256]"},
    /* "2e8" was "not a positive integer" (issue 25): it is not an integer */
    {"safetensors", "config-depth-2e8.safetensors", "metadata 'depth' = '2e8' is not an integer"},
};

static void test_bad(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const Bad *b = &bad[i];
        char path[PATH_MAX_];
        snprintf(path, sizeof path, "%s/%s/%s", test_fixture("fuzz"), b->target, b->file);
        ij_clear_error();
        int rc = -2;
        if (!strcmp(b->target, "idx")) {
            IjIdx d;
            rc = ij_idx_load(&d, path, NULL);
            if (rc == 0) ij_idx_free(&d);
        } else if (!strcmp(b->target, "safetensors")) {
            StFile f;
            rc = ij_st_open(&f, path);
            if (rc == 0) {
                IjConfig c;
                rc = ij_config_from_meta(&f, &c);
                ij_st_close(&f);
            }
        } else if (!strcmp(b->target, "npy")) {
            float *x = NULL;
            int ndim;
            int64_t shape[2];
            rc = ij_npy_read_f32(path, &x, &ndim, shape);
            free(x);
        } else {
            size_t n;
            uint8_t *data = slurp(path, &n);
            CHECKF(data != NULL, "cannot read %s", path);
            if (!strcmp(b->target, "tar")) {
                IjTar t;
                IjTarEntry e;
                ij_tar_open_memory(&t, data, n, path);
                while ((rc = ij_tar_next(&t, &e)) == 1) {
                }
                ij_tar_close(&t);
            } else { /* as the fuzzer saw it: PNG CRCs fixed */
                uint8_t *fixed = fuzz_png_fix_crcs(data, n);
                IjImage im;
                rc = ij_image_decode(&im, fixed ? fixed : data, n, 3, 0, path);
                ij_image_free(&im);
                free(fixed);
            }
            free(data);
        }
        CHECKF(rc == -1 && strstr(ij_last_error(), b->says) && strstr(ij_last_error(), b->file),
               "%s/%s: want -1 and a message with '%s', got %d '%s'", b->target, b->file, b->says, rc,
               ij_last_error());
    }
}

int main(void)
{
    snprintf(tiny_images, sizeof tiny_images, "%s/tiny-images-idx3-ubyte", test_tmpdir());
    CHECK(fuzz_write_tiny_images(tiny_images) == 0);
    int seeds = 0, cases = 0;
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        int s = run_dir("fuzz/seeds", targets[i], 1);
        CHECKF(s > 0, "no seeds for %s in %s/seeds/%s", targets[i], test_fixture("fuzz"), targets[i]);
        seeds += s;
        cases += run_dir("fuzz", targets[i], 0);
    }
    test_bad();
    printf("%d seeds, %d regression cases, %zu known-bad\n", seeds, cases, sizeof bad / sizeof bad[0]);
    return test_exit_code("test_fuzz_regress");
}
