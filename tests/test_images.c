/* test_images.c: JPEG/PNG decoding, the tar reader and image-folder / tar-shard
 * datasets, on fixtures written here (PNGs with libpng's simplified writer,
 * JPEGs with libjpeg, tars by hand), then on the real CIFAR-10 shard
 * ../shared/data/cifar10/train-004.tar, which CI has beside the repository:
 * without it this test fails. */
#include "core/error.h"
#include "data/dataset.h"
#include "data/image_decode.h"
#include "data/tar.h"
#include "testlib.h"

#include <stdint.h>
#include <stdio.h> /* before jpeglib.h */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>

typedef struct {
    uint8_t *p;
    size_t n, cap;
} Buf;

static void buf_put(Buf *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 1024;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}

static const char *tmp_path(const char *name)
{
    static char path[256][512]; /* every path made here stays valid */
    static int next;
    char *p = path[next++ % 256];
    snprintf(p, sizeof path[0], "%s/%s", test_tmpdir(), name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECKF(f != NULL, "%s", path);
    if (!f) return;
    if (n) CHECK(fwrite(data, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

static void make_dir(const char *path) { CHECKF(mkdir(path, 0755) == 0, "mkdir %s", path); }

/* True when the last error names `who` and contains `what`. */
static int error_says(const char *who, const char *what)
{
    const char *msg = ij_last_error();
    int ok = strstr(msg, who) && strstr(msg, what);
    if (!ok) fprintf(stderr, "  (want '%s' naming '%s', got '%s')\n", what, who, msg);
    return ok;
}

/* ---- fixtures: PNG ---- */

/* Writes a PNG of `format` (simplified API) into b. */
static void png_encode(Buf *b, int w, int h, png_uint_32 format, const void *pixels, const void *colormap, int ncolors)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = format;
    im.colormap_entries = (png_uint_32)ncolors;
    png_alloc_size_t size = 0;
    CHECK(png_image_write_to_memory(&im, NULL, &size, 0, pixels, 0, colormap));
    b->p = realloc(b->p, size);
    if (!b->p) abort();
    b->cap = size;
    CHECKF(png_image_write_to_memory(&im, b->p, &size, 0, pixels, 0, colormap), "%s", im.message);
    b->n = size;
}

enum { PW = 5, PH = 4 };

static uint8_t pat(int x, int y, int c) { return (uint8_t)(x * 37 + y * 71 + c * 101 + 13); }

static int decode_ok(IjImage *im, const Buf *b, int channels, const char *what)
{
    int rc = ij_image_decode(im, b->p, b->n, channels, 0, what);
    CHECKF(rc == 0, "%s: %s", what, ij_last_error());
    return rc == 0;
}

static void test_png(void)
{
    Buf b = {0};
    IjImage im;
    uint8_t gray[PH * PW], rgb[PH * PW * 3], rgba[PH * PW * 4];
    uint16_t g16[PH * PW], rgb16[PH * PW * 3];
    for (int y = 0; y < PH; y++)
        for (int x = 0; x < PW; x++) {
            int i = y * PW + x;
            gray[i] = pat(x, y, 0);
            g16[i] = (uint16_t)(pat(x, y, 0) << 8 | x * 40); /* high byte = pat */
            for (int c = 0; c < 3; c++) {
                rgb[3 * i + c] = pat(x, y, c);
                rgb16[3 * i + c] = (uint16_t)(pat(x, y, c) << 8 | (uint8_t)(y * 50 + c));
                rgba[4 * i + c] = pat(x, y, c + 1);
            }
            rgba[4 * i + 3] = (uint8_t)(i * 13); /* alpha 0 included: colors must survive */
        }

    png_encode(&b, PW, PH, PNG_FORMAT_GRAY, gray, NULL, 0);
    CHECK(ij_image_format(b.p, b.n) == IJ_IMAGE_PNG);
    if (decode_ok(&im, &b, 1, "gray.png")) {
        CHECK(im.width == PW && im.height == PH && im.channels == 1 && !memcmp(im.pixels, gray, sizeof gray));
        ij_image_free(&im);
    }
    if (decode_ok(&im, &b, 3, "gray.png as rgb")) {
        int ok = im.channels == 3;
        for (int i = 0; i < PW * PH && ok; i++)
            ok = im.pixels[3 * i] == gray[i] && im.pixels[3 * i + 1] == gray[i] && im.pixels[3 * i + 2] == gray[i];
        CHECKF(ok, "gray PNG as RGB must replicate");
        ij_image_free(&im);
    }

    png_encode(&b, PW, PH, PNG_FORMAT_RGB, rgb, NULL, 0);
    if (decode_ok(&im, &b, 3, "rgb.png")) {
        CHECK(im.channels == 3 && !memcmp(im.pixels, rgb, sizeof rgb));
        ij_image_free(&im);
    }
    if (decode_ok(&im, &b, 1, "rgb.png as gray")) {
        int ok = im.channels == 1;
        for (int i = 0; i < PW * PH && ok; i++) {
            double l = 0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2];
            ok = im.pixels[i] >= l - 0.51 && im.pixels[i] <= l + 0.51;
        }
        CHECKF(ok, "RGB PNG as gray: ITU-R 601 luma");
        ij_image_free(&im);
    }

    png_encode(&b, PW, PH, PNG_FORMAT_RGBA, rgba, NULL, 0);
    if (decode_ok(&im, &b, 3, "rgba.png")) {
        int ok = im.channels == 3;
        for (int i = 0; i < PW * PH && ok; i++)
            for (int c = 0; c < 3; c++) ok = ok && im.pixels[3 * i + c] == rgba[4 * i + c];
        CHECKF(ok, "RGBA PNG: alpha must be dropped, colors kept");
        ij_image_free(&im);
    }

    /* palette: 4 entries (a 2-bit PNG), and with transparency (tRNS) */
    static const uint8_t cmap[4 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30};
    static const uint8_t cmap_a[4 * 4] = {255, 0, 0, 255, 0, 255, 0, 0, 0, 0, 255, 128, 10, 20, 30, 255};
    uint8_t idx[PH * PW];
    for (int i = 0; i < PH * PW; i++) idx[i] = (uint8_t)(i * 7 % 4);
    png_encode(&b, PW, PH, PNG_FORMAT_RGB_COLORMAP, idx, cmap, 4);
    CHECK(b.n > 25 && b.p[24] == 2 && b.p[25] == 3); /* IHDR: bit depth 2, colour type 3 (palette) */
    if (decode_ok(&im, &b, 3, "palette.png")) {
        int ok = 1;
        for (int i = 0; i < PW * PH; i++) ok = ok && !memcmp(im.pixels + 3 * i, cmap + 3 * idx[i], 3);
        CHECKF(ok, "palette PNG");
        ij_image_free(&im);
    }
    if (decode_ok(&im, &b, 1, "palette.png as gray")) {
        /* Pillow's convert('L') of pure red, green, blue: 76, 150, 29 */
        static const uint8_t want[4] = {76, 150, 29, 18};
        int ok = 1;
        for (int i = 0; i < PW * PH; i++) ok = ok && im.pixels[i] == want[idx[i]];
        CHECKF(ok, "palette PNG as gray: want Pillow's values");
        ij_image_free(&im);
    }
    png_encode(&b, PW, PH, PNG_FORMAT_RGBA_COLORMAP, idx, cmap_a, 4);
    if (decode_ok(&im, &b, 3, "palette-trns.png")) {
        int ok = 1;
        for (int i = 0; i < PW * PH; i++)
            for (int c = 0; c < 3; c++) ok = ok && im.pixels[3 * i + c] == cmap_a[4 * idx[i] + c];
        CHECKF(ok, "palette PNG with tRNS: alpha dropped");
        ij_image_free(&im);
    }

    /* 16-bit: the high byte of each sample */
    png_encode(&b, PW, PH, PNG_FORMAT_LINEAR_Y, g16, NULL, 0);
    CHECK(b.n > 25 && b.p[24] == 16);
    if (decode_ok(&im, &b, 1, "gray16.png")) {
        CHECK(im.channels == 1 && !memcmp(im.pixels, gray, sizeof gray));
        ij_image_free(&im);
    }
    png_encode(&b, PW, PH, PNG_FORMAT_LINEAR_RGB, rgb16, NULL, 0);
    CHECK(b.n > 25 && b.p[24] == 16);
    if (decode_ok(&im, &b, 3, "rgb16.png")) {
        CHECK(im.channels == 3 && !memcmp(im.pixels, rgb, sizeof rgb));
        ij_image_free(&im);
    }

    /* damaged PNGs: truncated, a flipped byte in the image data (CRC error) */
    png_encode(&b, PW, PH, PNG_FORMAT_RGB, rgb, NULL, 0);
    ij_clear_error();
    CHECK(ij_image_decode(&im, b.p, b.n / 2, 3, 0, "half.png") == -1 && im.pixels == NULL);
    CHECK(error_says("half.png", "PNG"));
    b.p[b.n - 20] ^= 0x55;
    CHECK(ij_image_decode(&im, b.p, b.n, 3, 0, "flipped.png") == -1 && error_says("flipped.png", "PNG"));
    free(b.p);
}

/* ---- fixtures: JPEG ---- */

/* Encodes w x h pixels (components 1, 3, or 4 for CMYK) at quality 100; subsample: 4:2:0
 * chroma (libjpeg's default) instead of 4:4:4. */
static void jpeg_encode(Buf *b, int w, int h, int components, const uint8_t *pixels, int subsample)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &out, &size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = components;
    c.in_color_space = components == 1 ? JCS_GRAYSCALE : components == 4 ? JCS_CMYK : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    if (components == 3 && !subsample) c.comp_info[0].h_samp_factor = c.comp_info[0].v_samp_factor = 1;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline * w * components);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    b->n = 0;
    buf_put(b, out, size);
    free(out);
}

/* Flat 8x8 blocks: block (bx, by) has color block_color(bx, by, c). */
static uint8_t block_color(int bx, int by, int c) { return (uint8_t)(40 + 50 * ((bx + 2 * by + c) % 4)); }

static void flat_blocks(uint8_t *px, int w, int h, int components)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < components; c++)
                px[((size_t)y * w + x) * components + c] = block_color(x / 8, y / 8, components == 1 ? 0 : c);
}

static int max_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > m) m = d;
    }
    return m;
}

static void test_jpeg(void)
{
    enum { S = 32 };
    uint8_t gray[S * S], rgb[S * S * 3];
    flat_blocks(gray, S, S, 1);
    flat_blocks(rgb, S, S, 3);
    Buf b = {0};
    IjImage im;

    jpeg_encode(&b, S, S, 1, gray, 0);
    CHECK(ij_image_format(b.p, b.n) == IJ_IMAGE_JPEG);
    if (decode_ok(&im, &b, 1, "gray.jpg")) {
        CHECK(im.width == S && im.height == S && im.channels == 1);
        CHECKF(max_diff(im.pixels, gray, sizeof gray) <= 1, "gray JPEG off by %d", max_diff(im.pixels, gray, sizeof gray));
        ij_image_free(&im);
    }
    if (decode_ok(&im, &b, 3, "gray.jpg as rgb")) {
        uint8_t want[S * S * 3];
        ij_gray_to_rgb(want, gray, S * S);
        CHECK(im.channels == 3 && max_diff(im.pixels, want, sizeof want) <= 1);
        ij_image_free(&im);
    }

    jpeg_encode(&b, S, S, 3, rgb, 0);
    IjImage im3 = {0};
    if (decode_ok(&im3, &b, 3, "rgb444.jpg")) {
        int d = max_diff(im3.pixels, rgb, sizeof rgb);
        CHECKF(im3.channels == 3 && d <= 2, "RGB 4:4:4 JPEG off by %d", d);
    }
    if (decode_ok(&im, &b, 1, "rgb444.jpg as gray") && im3.pixels) {
        uint8_t want[S * S];
        ij_rgb_to_gray(want, im3.pixels, S * S);
        CHECKF(im.channels == 1 && !memcmp(im.pixels, want, sizeof want), "JPEG as gray = luma of the RGB decode");
        uint8_t ideal[S * S];
        ij_rgb_to_gray(ideal, rgb, S * S);
        CHECK(max_diff(im.pixels, ideal, sizeof ideal) <= 2);
    }
    ij_image_free(&im);
    ij_image_free(&im3);

    /* 4:2:0: chroma is upsampled with interpolation, so compare block centres */
    jpeg_encode(&b, S, S, 3, rgb, 1);
    if (decode_ok(&im, &b, 3, "rgb420.jpg")) {
        int worst = 0;
        for (int by = 0; by < S / 16; by++)
            for (int bx = 0; bx < S / 16; bx++) {
                size_t o = ((size_t)(by * 16 + 4) * S + bx * 16 + 4) * 3;
                int d = max_diff(im.pixels + o, rgb + o, 3);
                if (d > worst) worst = d;
            }
        CHECKF(worst <= 4, "RGB 4:2:0 JPEG off by %d at block centres", worst);
        ij_image_free(&im);
    }

    /* reduced-size decoding: 64x48 with flat 8x8 blocks; 1/8 scale gives one
     * pixel per block, with the block's colour */
    enum { BW = 64, BH = 48 };
    uint8_t big[BW * BH * 3];
    flat_blocks(big, BW, BH, 3);
    jpeg_encode(&b, BW, BH, 3, big, 0);
    static const struct { int min_side, w, h; } scales[] = {{0, 64, 48}, {6, 8, 6}, {7, 16, 12}, {12, 16, 12},
                                                           {13, 32, 24}, {24, 32, 24}, {25, 64, 48}, {100, 64, 48}};
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++) {
        if (ij_image_decode(&im, b.p, b.n, 3, scales[k].min_side, "big.jpg")) {
            CHECKF(0, "min_side %d: %s", scales[k].min_side, ij_last_error());
            continue;
        }
        CHECKF(im.width == scales[k].w && im.height == scales[k].h, "min_side %d gave %dx%d, want %dx%d",
               scales[k].min_side, im.width, im.height, scales[k].w, scales[k].h);
        if (im.width == BW / 8) {
            int worst = 0;
            for (int y = 0; y < im.height; y++)
                for (int x = 0; x < im.width; x++)
                    for (int c = 0; c < 3; c++) {
                        int d = abs(im.pixels[(y * im.width + x) * 3 + c] - block_color(x, y, c));
                        if (d > worst) worst = d;
                    }
            CHECKF(worst <= 2, "1/8-scale JPEG off by %d", worst);
        }
        ij_image_free(&im);
    }

    /* CMYK: libjpeg writes an Adobe marker and the values as given, which
     * readers take as inverted (255 = no ink): R = C' K' / 255 */
    uint8_t cmyk[16 * 16 * 4];
    for (int i = 0; i < 16 * 16; i++) memcpy(cmyk + 4 * i, i < 128 ? "\xff\x00\x80\xff" : "\xc8\x64\x32\x80", 4);
    jpeg_encode(&b, 16, 16, 4, cmyk, 0);
    if (decode_ok(&im, &b, 3, "cmyk.jpg")) {
        static const uint8_t top[3] = {255, 0, 128}, bottom[3] = {100, 50, 25};
        CHECKF(max_diff(im.pixels + 3 * 20, top, 3) <= 2 && max_diff(im.pixels + 3 * 200, bottom, 3) <= 2,
               "CMYK JPEG: %d %d %d / %d %d %d", im.pixels[60], im.pixels[61], im.pixels[62], im.pixels[600],
               im.pixels[601], im.pixels[602]);
        ij_image_free(&im);
    }

    /* damaged JPEGs */
    jpeg_encode(&b, S, S, 3, rgb, 1);
    ij_clear_error();
    CHECK(ij_image_decode(&im, b.p, b.n * 2 / 3, 3, 0, "cut.jpg") == -1 && im.pixels == NULL);
    CHECK(error_says("cut.jpg", "truncated"));
    CHECK(ij_image_decode(&im, b.p, 200, 3, 0, "head.jpg") == -1 && error_says("head.jpg", "JPEG"));
    CHECK(ij_image_decode(&im, b.p, 0, 3, 0, "empty.jpg") == -1 && error_says("empty.jpg", "empty"));
    static const char text[] = "just some text, not an image\n";
    CHECK(ij_image_decode(&im, (const uint8_t *)text, sizeof text - 1, 3, 0, "text.jpg") == -1);
    CHECK(error_says("text.jpg", "not a JPEG or PNG"));
    CHECK(ij_image_decode(&im, b.p, b.n, 2, 0, "two.jpg") == -1 && error_says("two.jpg", "channels"));
    free(b.p);
}

/* A JPEG with bytes flipped in its entropy-coded data (after the SOS header). */
static void jpeg_flipped(Buf *b, const uint8_t *rgb, int s)
{
    jpeg_encode(b, s, s, 3, rgb, 1);
    size_t sos = 0;
    for (size_t i = 2; i + 1 < b->n; i++)
        if (b->p[i] == 0xff && b->p[i + 1] == 0xda) {
            sos = i;
            break;
        }
    CHECK(sos > 0);
    size_t start = sos + 2 + ((size_t)b->p[sos + 2] << 8 | b->p[sos + 3]);
    for (size_t i = start + 4; i + 2 < b->n; i += 3) b->p[i] ^= 0x5a;
}

static void test_jpeg_flipped(void)
{
    enum { S = 32 };
    uint8_t rgb[S * S * 3];
    flat_blocks(rgb, S, S, 3);
    Buf b = {0};
    jpeg_flipped(&b, rgb, S);
    IjImage im;
    ij_clear_error();
    CHECK(ij_image_decode(&im, b.p, b.n, 3, 0, "flipped.jpg") == -1 && im.pixels == NULL);
    CHECK(error_says("flipped.jpg", "Corrupt JPEG data"));
    free(b.p);
}

/* ---- fixtures: tar ---- */

static void octal(char *f, size_t len, uint64_t v) { snprintf(f, len, "%0*llo", (int)len - 1, (unsigned long long)v); }

/* One ustar header; name split into prefix/name when prefix_split. */
static void tar_header(Buf *t, const char *name, const char *prefix, char type, size_t size)
{
    char h[512];
    memset(h, 0, sizeof h);
    memcpy(h, name, strnlen(name, 100));
    octal(h + 100, 8, 0644);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    octal(h + 124, 12, size);
    octal(h + 136, 12, 1700000000);
    h[156] = type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    if (prefix) memcpy(h + 345, prefix, strlen(prefix));
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += (uint8_t)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    buf_put(t, h, sizeof h);
}

static void tar_data(Buf *t, const void *data, size_t n)
{
    static const char zeros[512];
    buf_put(t, data, n);
    if (n % 512) buf_put(t, zeros, 512 - n % 512);
}

static void tar_add(Buf *t, const char *name, const void *data, size_t n)
{
    tar_header(t, name, NULL, '0', n);
    tar_data(t, data, n);
}

static void tar_end(Buf *t)
{
    static const char zeros[1024];
    buf_put(t, zeros, sizeof zeros);
}

static void test_tar_reader(void)
{
    Buf t = {0};
    char longname[200];
    snprintf(longname, sizeof longname, "deep/%0150d/x.bin", 7);
    tar_header(&t, "dir/", NULL, '5', 0);
    tar_add(&t, "./a.txt", "hello", 5);
    tar_header(&t, "b.bin", "some/prefix", '0', 600);
    char big[600];
    for (int i = 0; i < 600; i++) big[i] = (char)i;
    tar_data(&t, big, 600);
    tar_header(&t, "././@LongLink", NULL, 'L', strlen(longname) + 1);
    tar_data(&t, longname, strlen(longname) + 1);
    tar_add(&t, "deep/000truncated", "L", 1);
    char pax[64];
    int plen = snprintf(pax, sizeof pax, "%d path=pax/name.dat\n", 21);
    CHECK(plen == 21);
    tar_header(&t, "PaxHeaders/x", NULL, 'x', (size_t)plen);
    tar_data(&t, pax, (size_t)plen);
    tar_add(&t, "short-name", "pax", 3);
    tar_header(&t, "link", NULL, '2', 0);
    tar_add(&t, "empty", "", 0);
    tar_end(&t);

    static const struct { const char *name; size_t size; } want[] = {
        {"a.txt", 5}, {"some/prefix/b.bin", 600}, {NULL, 1}, {"pax/name.dat", 3}, {"empty", 0}};
    IjTar r;
    IjTarEntry e;
    ij_tar_open_memory(&r, t.p, t.n, "mem.tar");
    int n = 0, rc;
    while ((rc = ij_tar_next(&r, &e)) == 1) {
        if (n < 5) {
            const char *name = want[n].name ? want[n].name : longname;
            CHECKF(!strcmp(e.name, name) && e.size == want[n].size, "entry %d: %s (%zu bytes)", n, e.name, e.size);
        }
        if (n == 1) CHECK(e.size == 600 && !memcmp(e.data, big, 600));
        if (n == 3) CHECK(!memcmp(e.data, "pax", 3));
        n++;
    }
    CHECKF(rc == 0 && n == 5, "rc %d, %d entries: %s", rc, n, ij_last_error());
    CHECK(ij_tar_next(&r, &e) == 0);
    ij_tar_close(&r);

    /* no end blocks: accepted */
    size_t without_end = t.n - 1024;
    ij_tar_open_memory(&r, t.p, without_end, "noend.tar");
    n = 0;
    while ((rc = ij_tar_next(&r, &e)) == 1) n++;
    CHECK(rc == 0 && n == 5);
    ij_tar_close(&r);

    /* a header cut short */
    ij_tar_open_memory(&r, t.p, 512 * 3 + 300, "cuthead.tar");
    ij_clear_error();
    CHECK(ij_tar_next(&r, &e) == 1);
    CHECK(ij_tar_next(&r, &e) == -1 && error_says("cuthead.tar", "truncated header"));
    CHECK(ij_tar_next(&r, &e) == 0);
    ij_tar_close(&r);

    /* entry data past the end */
    ij_tar_open_memory(&r, t.p, 512 * 4 + 100, "cutdata.tar");
    CHECK(ij_tar_next(&r, &e) == 1);
    CHECK(ij_tar_next(&r, &e) == -1 && error_says("cutdata.tar", "some/prefix/b.bin") && error_says("", "cut short"));
    ij_tar_close(&r);

    /* bad checksum, bad size field */
    Buf bad = {0};
    buf_put(&bad, t.p, t.n);
    bad.p[512 + 3] ^= 1; /* the name of a.txt */
    ij_tar_open_memory(&r, bad.p, bad.n, "sum.tar");
    CHECK(ij_tar_next(&r, &e) == -1 && error_says("sum.tar", "checksum"));
    ij_tar_close(&r);
    bad.n = 0;
    tar_header(&bad, "x", NULL, '0', 5);
    memcpy(bad.p + 124, "0000000009x\0", 12);
    memset(bad.p + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += bad.p[i];
    snprintf((char *)bad.p + 148, 8, "%06o", sum);
    tar_end(&bad);
    ij_tar_open_memory(&r, bad.p, bad.n, "size.tar");
    CHECK(ij_tar_next(&r, &e) == -1 && error_says("size.tar", "bad size"));
    ij_tar_close(&r);

    /* not a tar at all */
    const char *notar = tmp_path("not.tar");
    write_file(notar, big, sizeof big);
    CHECK(ij_tar_open(&r, notar) == 0);
    CHECK(ij_tar_next(&r, &e) == -1 && error_says("not.tar", "checksum"));
    ij_tar_close(&r);
    CHECK(ij_tar_open(&r, tmp_path("absent.tar")) == -1 && error_says("absent.tar", "cannot open"));
    free(bad.p);
    free(t.p);
}

/* ---- datasets ---- */

enum { DS = 8 }; /* fixture images are DS x DS */

/* A PNG whose pixels are a function of seed (exact after decoding). */
static void png_fixture(Buf *b, int seed, int w, int h)
{
    uint8_t px[64 * 64 * 3];
    for (int i = 0; i < w * h * 3; i++) px[i] = (uint8_t)(seed * 29 + i * 7);
    png_encode(b, w, h, PNG_FORMAT_RGB, px, NULL, 0);
}

typedef struct {
    const char *cls, *file;
    int seed; /* > 0: PNG with this seed; < 0: JPEG */
} Fixture;

static const Fixture good_files[] = {
    {"cat", "a.png", 1}, {"cat", "b.jpg", -1}, {"cat", "c.PNG", 2}, {"dog", "a.png", 3},
    {"eel", "z.jpeg", -2}, {"eel", "zz.png", 4},
};
enum { NGOOD = sizeof good_files / sizeof good_files[0] };

static void fixture_bytes(Buf *b, const Fixture *f)
{
    if (f->seed > 0) {
        png_fixture(b, f->seed, DS, DS);
    } else {
        uint8_t px[DS * DS * 3];
        for (int i = 0; i < DS * DS * 3; i++) px[i] = (uint8_t)(100 - 30 * f->seed + i % 3 * 20);
        jpeg_encode(b, DS, DS, 3, px, 0);
    }
}

/* Same images and labels; the same class names too when classes. */
static void check_same_set(const IjImageSet *a, const IjImageSet *b, int classes, const char *what)
{
    int same = a->count == b->count && a->height == b->height && a->width == b->width && a->channels == b->channels &&
               (!classes || a->num_classes == b->num_classes) && (a->labels == NULL) == (b->labels == NULL);
    CHECKF(same, "%s: shapes differ", what);
    if (!same) return;
    size_t img = (size_t)a->height * a->width * a->channels;
    CHECKF(!memcmp(a->pixels, b->pixels, img * a->count), "%s: pixels differ", what);
    if (a->labels) CHECKF(!memcmp(a->labels, b->labels, sizeof(int) * a->count), "%s: labels differ", what);
    for (int c = 0; classes && c < a->num_classes && a->class_names && b->class_names; c++)
        CHECK(!strcmp(a->class_names[c], b->class_names[c]));
}

static void test_folder_and_tar(void)
{
    const char *root = tmp_path("tree");
    make_dir(root);
    Buf t = {0}, f = {0};
    const char *made = "";
    for (int i = 0; i < NGOOD; i++) {
        char dir[512], path[600], entry[128];
        snprintf(dir, sizeof dir, "%s/%s", root, good_files[i].cls);
        if (strcmp(made, good_files[i].cls)) make_dir(dir);
        made = good_files[i].cls;
        snprintf(path, sizeof path, "%s/%s", dir, good_files[i].file);
        fixture_bytes(&f, &good_files[i]);
        write_file(path, f.p, f.n);
        snprintf(entry, sizeof entry, "%s/%s", good_files[i].cls, good_files[i].file);
        if (i == 0) tar_header(&t, "cat/", NULL, '5', 0);
        tar_add(&t, entry, f.p, f.n);
    }
    make_dir(tmp_path("tree/empty-class"));
    write_file(tmp_path("tree/README.txt"), "ignored", 7);
    write_file(tmp_path("tree/cat/notes.txt"), "ignored", 7);
    tar_add(&t, "README.txt", "ignored", 7);
    tar_end(&t);
    const char *tarpath = tmp_path("tree.tar");
    write_file(tarpath, t.p, t.n);

    IjImageSet a, b;
    CHECKF(ij_imageset_load(&a, root, 1) == 0, "%s", ij_last_error());
    CHECK(a.count == NGOOD && a.height == DS && a.width == DS && a.channels == 3 && a.skipped == 0);
    CHECK(a.num_classes == 4 && a.class_names && a.labels);
    if (a.class_names && a.num_classes == 4) {
        CHECK(!strcmp(a.class_names[0], "cat") && !strcmp(a.class_names[1], "dog"));
        CHECK(!strcmp(a.class_names[2], "eel") && !strcmp(a.class_names[3], "empty-class"));
    }
    static const int want_labels[NGOOD] = {0, 0, 0, 1, 2, 2};
    if (a.labels && a.count == NGOOD) CHECK(!memcmp(a.labels, want_labels, sizeof want_labels));
    /* PNG pixels exact: image 0 is cat/a.png (seed 1) */
    Buf p = {0};
    png_fixture(&p, 1, DS, DS);
    IjImage im;
    if (decode_ok(&im, &p, 3, "seed1") && a.count) {
        CHECK(!memcmp(ij_imageset_image(&a, 0), im.pixels, DS * DS * 3));
        ij_image_free(&im);
    }

    CHECKF(ij_imageset_load(&b, tarpath, 0) == 0, "%s", ij_last_error());
    CHECK(b.num_classes == 3 && b.class_names); /* no empty class in the tar */
    if (b.num_classes == 3 && b.class_names && a.num_classes == 4)
        for (int c = 0; c < 3; c++) CHECK(!strcmp(a.class_names[c], b.class_names[c]));
    check_same_set(&a, &b, 0, "folder vs tar");
    ij_imageset_free(&b);

    /* gray */
    IjLoadOptions gray = {.channels = 1};
    CHECKF(ij_imageset_load_opts(&b, tarpath, 1, &gray) == 0, "%s", ij_last_error());
    CHECK(b.channels == 1 && b.count == NGOOD);
    if (b.count == NGOOD && a.count == NGOOD) {
        uint8_t want[DS * DS];
        ij_rgb_to_gray(want, ij_imageset_image(&a, 3), DS * DS);
        CHECK(!memcmp(want, ij_imageset_image(&b, 3), sizeof want));
    }
    ij_imageset_free(&b);
    ij_imageset_free(&a);

    /* two shards, listed and globbed: classes are the union, sorted */
    Buf t2 = {0};
    png_fixture(&f, 9, DS, DS);
    tar_add(&t2, "train/ant/q.png", f.p, f.n);
    tar_add(&t2, "train/cat/q.png", f.p, f.n);
    tar_end(&t2);
    const char *tar2 = tmp_path("tree2.tar");
    write_file(tar2, t2.p, t2.n);
    char list[1200];
    snprintf(list, sizeof list, "%s,%s", tarpath, tar2);
    CHECKF(ij_imageset_load(&a, list, 1) == 0, "%s", ij_last_error());
    CHECK(a.count == NGOOD + 2 && a.num_classes == 4);
    if (a.num_classes == 4 && a.count == NGOOD + 2) {
        CHECK(!strcmp(a.class_names[0], "ant") && !strcmp(a.class_names[3], "eel"));
        CHECK(a.labels[0] == 1 && a.labels[3] == 2 && a.labels[NGOOD] == 0 && a.labels[NGOOD + 1] == 1);
    }
    char pattern[600];
    snprintf(pattern, sizeof pattern, "%s/tree*.tar", test_tmpdir());
    CHECKF(ij_imageset_load(&b, pattern, 1) == 0, "%s", ij_last_error());
    check_same_set(&a, &b, 1, "list vs glob");
    ij_imageset_free(&a);
    ij_imageset_free(&b);
    snprintf(pattern, sizeof pattern, "%s/nothing-*.tar", test_tmpdir());
    CHECK(ij_imageset_load(&a, pattern, 1) == -1 && error_says("nothing-", "no file matches"));

    /* unlabeled: images directly in the folder, or at the top of a tar */
    const char *flat = tmp_path("flat");
    make_dir(flat);
    write_file(tmp_path("flat/1.png"), p.p, p.n);
    write_file(tmp_path("flat/2.png"), p.p, p.n);
    CHECKF(ij_imageset_load(&a, flat, 1) == 0, "%s", ij_last_error());
    CHECK(a.count == 2 && a.labels == NULL && a.num_classes == 0 && a.class_names == NULL);
    ij_imageset_free(&a);
    Buf t3 = {0};
    tar_add(&t3, "1.png", p.p, p.n);
    tar_add(&t3, "cls/2.png", p.p, p.n);
    tar_end(&t3);
    const char *mixed = tmp_path("mixed.tar");
    write_file(mixed, t3.p, t3.n);
    CHECK(ij_imageset_load(&a, mixed, 1) == -1 && error_says("mixed.tar", "mixes"));

    free(t.p);
    free(t2.p);
    free(t3.p);
    free(f.p);
    free(p.p);
}

static void test_bad_sources(void)
{
    IjImageSet s;
    Buf f = {0}, t = {0};
    const char *root = tmp_path("bad");
    make_dir(root);
    make_dir(tmp_path("bad/c"));
    png_fixture(&f, 5, DS, DS);
    write_file(tmp_path("bad/c/0-good.png"), f.p, f.n);
    tar_add(&t, "c/0-good.png", f.p, f.n);
    uint8_t rgb[32 * 32 * 3];
    flat_blocks(rgb, 32, 32, 3);
    jpeg_flipped(&f, rgb, 32);
    write_file(tmp_path("bad/c/1-flipped.jpg"), f.p, f.n);
    tar_add(&t, "c/1-flipped.jpg", f.p, f.n);
    jpeg_encode(&f, 32, 32, 3, rgb, 1);
    write_file(tmp_path("bad/c/2-cut.jpg"), f.p, f.n / 2);
    tar_add(&t, "c/2-cut.jpg", f.p, f.n / 2);
    write_file(tmp_path("bad/c/3-empty.png"), "", 0);
    tar_add(&t, "c/3-empty.png", "", 0);
    write_file(tmp_path("bad/c/4-text.jpg"), "hello\n", 6);
    tar_add(&t, "c/4-text.jpg", "hello\n", 6);
    png_fixture(&f, 6, DS, DS);
    write_file(tmp_path("bad/c/5-good.png"), f.p, f.n);
    tar_add(&t, "c/5-good.png", f.p, f.n);
    tar_end(&t);
    const char *tarpath = tmp_path("bad.tar");
    write_file(tarpath, t.p, t.n);

    fprintf(stderr, "(four warnings expected next, twice)\n");
    CHECKF(ij_imageset_load(&s, root, 1) == 0, "%s", ij_last_error());
    CHECK(s.count == 2 && s.skipped == 4 && s.num_classes == 1);
    ij_imageset_free(&s);
    CHECKF(ij_imageset_load(&s, tarpath, 1) == 0, "%s", ij_last_error());
    CHECK(s.count == 2 && s.skipped == 4 && s.num_classes == 1);
    ij_imageset_free(&s);

    IjLoadOptions strict = {.strict = 1};
    CHECK(ij_imageset_load_opts(&s, root, 1, &strict) == -1 && error_says("1-flipped.jpg", "Corrupt JPEG"));
    CHECK(s.pixels == NULL && s.count == 0);
    CHECK(ij_imageset_load_opts(&s, tarpath, 1, &strict) == -1 && error_says("bad.tar:c/1-flipped.jpg", "JPEG"));

    /* every image bad: an error, not an empty set */
    const char *allbad = tmp_path("allbad");
    make_dir(allbad);
    write_file(tmp_path("allbad/x.png"), "", 0);
    fprintf(stderr, "(one warning expected next)\n");
    CHECK(ij_imageset_load(&s, allbad, 1) == -1 && error_says("allbad", "could be decoded"));

    /* a shard cut short inside an entry's data */
    const char *cut = tmp_path("cut.tar");
    write_file(cut, t.p, 512 + 40);
    CHECK(ij_imageset_load(&s, cut, 1) == -1 && error_says("cut.tar", "c/0-good.png") && error_says("", "cut short"));
    write_file(cut, t.p, t.n - 1024 - 512 + 10);
    fprintf(stderr, "(four warnings expected next, and four more for the list with a missing shard)\n");
    CHECK(ij_imageset_load(&s, cut, 1) == -1 && error_says("cut.tar", "5-good.png"));

    /* empty and missing sources */
    const char *empty = tmp_path("emptydir");
    make_dir(empty);
    CHECK(ij_imageset_load(&s, empty, 1) == -1 && error_says("emptydir", "no .jpg/.jpeg/.png"));
    make_dir(tmp_path("emptydir/cls"));
    CHECK(ij_imageset_load(&s, empty, 1) == -1 && error_says("emptydir", "no .jpg/.jpeg/.png"));
    const char *empty_tar = tmp_path("empty.tar");
    write_file(empty_tar, "", 0);
    CHECK(ij_imageset_load(&s, empty_tar, 1) == -1 && error_says("empty.tar", "no .jpg"));
    CHECK(ij_imageset_load(&s, tmp_path("missing"), 1) == -1 && error_says("missing", "no such file"));
    CHECK(ij_imageset_load(&s, tmp_path("missing.tar"), 1) == -1 && error_says("missing.tar", "cannot open"));
    char list[1200];
    snprintf(list, sizeof list, "%s,%s", tarpath, tmp_path("gone.tar"));
    CHECK(ij_imageset_load(&s, list, 1) == -1 && error_says("gone.tar", "cannot open"));
    snprintf(list, sizeof list, "%s,", tarpath);
    CHECK(ij_imageset_load(&s, list, 1) == -1 && error_says(list, "empty item"));
    IjLoadOptions two = {.channels = 2};
    CHECK(ij_imageset_load_opts(&s, tarpath, 1, &two) == -1 && error_says("bad.tar", "channels"));

    /* different sizes */
    const char *sizes = tmp_path("sizes");
    make_dir(sizes);
    png_fixture(&f, 1, DS, DS);
    write_file(tmp_path("sizes/a.png"), f.p, f.n);
    png_fixture(&f, 1, DS + 2, DS);
    write_file(tmp_path("sizes/b.png"), f.p, f.n);
    CHECK(ij_imageset_load(&s, sizes, 1) == -1 && error_says("sizes/b.png", "10x8") && error_says("a.png", "8x8"));
    free(f.p);
    free(t.p);
}

/* IDX folders still load as before (and as 3 channels on request). */
static void test_idx_still_works(void)
{
    const char *dir = tmp_path("idx");
    make_dir(dir);
    uint8_t img[16 + 2 * 3 * 4] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
    for (int i = 0; i < 24; i++) img[16 + i] = (uint8_t)(i * 10);
    uint8_t lab[8 + 2] = {0, 0, 8, 1, 0, 0, 0, 2, 7, 1};
    write_file(tmp_path("idx/train-images-idx3-ubyte"), img, sizeof img);
    write_file(tmp_path("idx/train-labels-idx1-ubyte"), lab, sizeof lab);
    IjImageSet s;
    CHECKF(ij_imageset_load(&s, dir, 1) == 0, "%s", ij_last_error());
    CHECK(s.count == 2 && s.height == 3 && s.width == 4 && s.channels == 1 && s.num_classes == 8);
    CHECK(s.labels && s.labels[0] == 7 && s.labels[1] == 1 && s.class_names == NULL);
    CHECK(s.pixels && s.pixels[5] == 50);
    ij_imageset_free(&s);
    IjLoadOptions rgb = {.channels = 3};
    CHECKF(ij_imageset_load_opts(&s, dir, 1, &rgb) == 0, "%s", ij_last_error());
    CHECK(s.channels == 3 && s.pixels && s.pixels[15] == 50 && s.pixels[16] == 50 && s.pixels[17] == 50);
    ij_imageset_free(&s);
}

static void test_cifar_shard(void)
{
    const char *path = "../shared/data/cifar10/train-004.tar";
    struct stat st;
    CHECKF(stat(path, &st) == 0, "%s is missing (CI keeps the CIFAR-10 shards beside the repository)", path);
    if (stat(path, &st)) return;
    IjImageSet s;
    IjLoadOptions strict = {.strict = 1};
    CHECKF(ij_imageset_load_opts(&s, path, 1, &strict) == 0, "%s", ij_last_error());
    CHECK(s.count == 10000 && s.height == 32 && s.width == 32 && s.channels == 3 && s.skipped == 0);
    static const char *const names[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                          "dog", "frog", "horse", "ship", "truck"};
    CHECK(s.num_classes == 10 && s.class_names && s.labels);
    if (s.num_classes == 10 && s.class_names && s.labels) {
        for (int c = 0; c < 10; c++) CHECKF(!strcmp(s.class_names[c], names[c]), "class %d: %s", c, s.class_names[c]);
        int per[10] = {0};
        for (int i = 0; i < s.count; i++)
            if (s.labels[i] >= 0 && s.labels[i] < 10) per[s.labels[i]]++;
        for (int c = 0; c < 10; c++) CHECKF(per[c] == 1000, "class %s: %d images", names[c], per[c]);
        /* real photographs: not all one colour */
        int lo = 255, hi = 0;
        for (size_t i = 0; i < (size_t)s.count * 32 * 32 * 3; i += 97) {
            if (s.pixels[i] < lo) lo = s.pixels[i];
            if (s.pixels[i] > hi) hi = s.pixels[i];
        }
        CHECK(lo < 20 && hi > 235);
    }
    ij_imageset_free(&s);
}

int main(void)
{
    test_png();
    test_jpeg();
    test_jpeg_flipped();
    test_tar_reader();
    test_folder_and_tar();
    test_bad_sources();
    test_idx_still_works();
    test_cifar_shard();
    return test_exit_code("test_images");
}
