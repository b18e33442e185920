/* targets.h: what each fuzz target does with one input. Shared by the libFuzzer
 * harnesses (tests/fuzz/fuzz_*.c, built with clang by scripts/fuzz.sh) and the
 * CI regression test (tests/test_fuzz_regress.c, built by the Makefile), so a
 * saved crash replays through exactly the calls that found it.
 *
 * Each driver returns 0 when the library accepted the input, -1 when it
 * rejected it with a message, and FUZZ_BROKEN when the library broke its own
 * contract (an error without a message, or success with output that is not
 * what the header promises); the harnesses abort on FUZZ_BROKEN, the test
 * fails. Crashes, leaks and UB are left to the sanitizers. The functions are
 * static: include this file in one source file per program.
 */
#ifndef IJEPA_TESTS_FUZZ_TARGETS_H
#define IJEPA_TESTS_FUZZ_TARGETS_H

#include "core/error.h"
#include "data/idx.h"
#include "data/image_decode.h"
#include "data/tar.h"
#include "io/checkpoint.h"
#include "io/npy.h"
#include "io/safetensors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { FUZZ_BROKEN = -2 };

/* rc of a library call that should leave a message when it fails. */
static inline int fuzz_rc(int rc)
{
    if (rc == 0) return 0;
    if (rc != -1 || !ij_last_error()[0]) {
        fprintf(stderr, "fuzz: entry point returned %d with message '%s'\n", rc, ij_last_error());
        return FUZZ_BROKEN;
    }
    return -1;
}

/* Worst of two driver results: FUZZ_BROKEN, then 0 (accepted), then -1. */
static inline int fuzz_merge(int a, int b)
{
    if (a == FUZZ_BROKEN || b == FUZZ_BROKEN) return FUZZ_BROKEN;
    return a == 0 || b == 0 ? 0 : -1;
}

/* A copy of a PNG with every chunk's CRC made right (malloc'ed), else NULL.
 * libpng rejects a chunk with a bad CRC before looking inside, and it is not
 * instrumented, so without this nearly every mutation would only test that. */
static inline uint8_t *fuzz_png_fix_crcs(const uint8_t *data, size_t size)
{
    if (ij_image_format(data, size) != IJ_IMAGE_PNG) return NULL;
    uint8_t *p = malloc(size);
    if (!p) abort();
    memcpy(p, data, size);
    for (size_t at = 8; size - at >= 12;) {
        size_t len = (size_t)p[at] << 24 | (size_t)p[at + 1] << 16 | (size_t)p[at + 2] << 8 | p[at + 3];
        if (len > size - at - 12) break;
        uint32_t crc = (uint32_t)crc32(crc32(0, NULL, 0), p + at + 4, (uInt)(len + 4));
        for (int i = 0; i < 4; i++) p[at + 8 + len + (size_t)i] = (uint8_t)(crc >> (24 - 8 * i));
        at += len + 12;
    }
    return p;
}

/* JPEG or PNG from memory (a PNG with its CRCs fixed): full size as RGB, then
 * as gray with a reduced-size JPEG decode allowed (min_side 8). */
static inline int fuzz_image(const uint8_t *input, size_t size)
{
    static const int channels[2] = {3, 1}, min_side[2] = {0, 8};
    uint8_t *fixed = fuzz_png_fix_crcs(input, size);
    const uint8_t *data = fixed ? fixed : input;
    int result = -1;
    for (int k = 0; k < 2; k++) {
        IjImage im;
        ij_clear_error();
        int rc = fuzz_rc(ij_image_decode(&im, data, size, channels[k], min_side[k], "fuzz"));
        if (rc == 0 && (im.width < 1 || im.height < 1 || im.channels != channels[k] || !im.pixels)) rc = FUZZ_BROKEN;
        if (rc == 0) {
            /* touch every byte, so a short buffer shows under ASan */
            size_t n = (size_t)im.width * (size_t)im.height * (size_t)im.channels;
            unsigned sum = 0;
            for (size_t i = 0; i < n; i++) sum += im.pixels[i];
            if (sum == 0xffffffffu) fprintf(stderr, "fuzz: (sum)\n");
        }
        if (rc == -1 && im.pixels) rc = FUZZ_BROKEN; /* failure must leave *out zeroed */
        ij_image_free(&im);
        result = fuzz_merge(result, rc);
    }
    free(fixed);
    return result;
}

/* Every regular file of a tar held in memory; each entry must lie inside it. */
static inline int fuzz_tar(const uint8_t *data, size_t size)
{
    IjTar t;
    IjTarEntry e;
    ij_tar_open_memory(&t, data, size, "fuzz.tar");
    int r, rc = 0;
    ij_clear_error();
    while ((r = ij_tar_next(&t, &e)) == 1) {
        if (e.data < data || e.size > size || (size_t)(e.data - data) > size - e.size || e.offset >= size ||
            !memchr(e.name, '\0', sizeof e.name)) {
            rc = FUZZ_BROKEN;
            break;
        }
    }
    if (rc == 0 && r == -1) rc = fuzz_rc(-1);
    if (rc == 0 && r == -1 && ij_tar_next(&t, &e) != 0) rc = FUZZ_BROKEN; /* 0 after an error */
    ij_tar_close(&t);
    return rc;
}

static inline int fuzz_idx_check(const IjIdx *d, int labels)
{
    if (d->count < 1 || d->rows < 1 || d->cols < 1 || !d->pixels || (labels && !d->labels)) return FUZZ_BROKEN;
    return 0;
}

/* An IDX file (raw or gzip) read as images, then as labels for the single
 * 1x1 image in tiny_images (see fuzz_write_tiny_images). */
static inline int fuzz_idx(const char *path, const char *tiny_images)
{
    IjIdx d;
    ij_clear_error();
    int a = fuzz_rc(ij_idx_load(&d, path, NULL));
    if (a == 0) a = fuzz_idx_check(&d, 0);
    ij_idx_free(&d);
    ij_clear_error();
    int b = fuzz_rc(ij_idx_load(&d, tiny_images, path));
    if (b == 0) b = fuzz_idx_check(&d, 1);
    ij_idx_free(&d);
    return fuzz_merge(a, b);
}

/* The images file fuzz_idx pairs labels with: one 1x1 image. */
static inline int fuzz_write_tiny_images(const char *path)
{
    static const uint8_t tiny[17] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 42};
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = fwrite(tiny, 1, sizeof tiny, f);
    return fclose(f) == 0 && n == sizeof tiny ? 0 : -1;
}

/* A safetensors file: opened, every tensor found by name and read (float types
 * as float32, I32/I64 as int32), then the model configuration read from its
 * metadata (as ij_checkpoint_config does). */
static inline int fuzz_safetensors(const char *path)
{
    StFile f;
    ij_clear_error();
    int rc = fuzz_rc(ij_st_open(&f, path));
    if (rc != 0) return rc;
    for (int i = 0; i < f.n && rc == 0; i++) {
        const StTensor *t = &f.tensors[i];
        if (ij_st_find(&f, t->name) == NULL || t->nbytes > f.size) {
            rc = FUZZ_BROKEN;
            break;
        }
        size_t n = ij_st_numel(t);
        int is_float = t->dtype == ST_F32 || t->dtype == ST_F64 || t->dtype == ST_F16 || t->dtype == ST_BF16;
        int is_int = t->dtype == ST_I32 || t->dtype == ST_I64;
        if (!is_float && !is_int) continue;
        /* numel * itemsize == nbytes, so this is at most twice the file */
        void *dst = malloc(n ? n * 4 : 1);
        if (!dst) abort();
        ij_clear_error();
        int r = is_float ? ij_st_read_f32(&f, t, dst, n) : ij_st_read_i32(&f, t, dst, n);
        free(dst);
        if (r != 0 && fuzz_rc(r) == FUZZ_BROKEN) rc = FUZZ_BROKEN;
        if (r != 0 && t->dtype != ST_I64) rc = FUZZ_BROKEN; /* only an I64 out of int32 range may fail */
    }
    IjConfig c;
    ij_clear_error();
    if (rc == 0 && fuzz_rc(ij_config_from_meta(&f, &c)) == FUZZ_BROKEN) rc = FUZZ_BROKEN;
    ij_st_close(&f);
    return rc;
}

/* An npy file read as float32 and as int32 (exactly one can succeed). */
static inline int fuzz_npy(const char *path)
{
    int result = -1;
    for (int k = 0; k < 2; k++) {
        float *f = NULL;
        int32_t *i = NULL;
        int ndim = 0;
        int64_t shape[2] = {0, 0};
        ij_clear_error();
        int rc = fuzz_rc(k == 0 ? ij_npy_read_f32(path, &f, &ndim, shape) : ij_npy_read_i32(path, &i, &ndim, shape));
        void *data = k == 0 ? (void *)f : (void *)i;
        if (rc == 0 && (!data || (ndim != 1 && ndim != 2) || shape[0] < 0 || shape[1] < 0)) rc = FUZZ_BROKEN;
        if (rc == -1 && data) rc = FUZZ_BROKEN;
        free(data);
        result = fuzz_merge(result, rc);
    }
    return result;
}

#endif
