/* make_seeds.c: writes the seed corpus for scripts/fuzz.sh, small valid files
 * of each kind the entry points read, into DIR/<target>/ (jpeg, png, tar, idx,
 * safetensors, npy). The committed copy lives in tests/fixtures/fuzz/seeds/;
 * `scripts/fuzz.sh --seeds` rewrites it with this program.
 *   JPEG: gray, RGB 4:2:0 and 4:4:4, progressive, arithmetic-coded, restart
 *         markers, CMYK (Adobe).
 *   PNG:  gray 1/2/4/8/16-bit, gray+alpha, RGB 8/16-bit, RGBA, palette with
 *         tRNS, Adam7-interlaced RGB.
 *   tar:  ustar with a prefix, a directory, GNU long name, pax path/size,
 *         pax global header, base-256 size, no end blocks.
 *   IDX:  images and labels, raw and gzip.
 *   safetensors: float/int tensors with model metadata, an empty tensor.
 *   npy:  <f4 and <i4 via the project's writers, <f8 and <i8 by hand, v2.0. */
#include "io/npy.h"
#include "io/safetensors.h"

#include <stdint.h>
#include <stdio.h> /* before jpeglib.h */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

static const char *dir;

static const char *path_of(const char *target, const char *name)
{
    static char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, target);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/%s", dir, target, name);
    return p;
}

static void put(const char *target, const char *name, const void *data, size_t n)
{
    const char *p = path_of(target, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        perror(p);
        exit(1);
    }
}

static uint8_t pat(int x, int y, int c) { return (uint8_t)(x * 37 + y * 71 + c * 101 + 13); }

/* ---- JPEG ---- */

enum { J_SUB = 1, J_PROG = 2, J_ARITH = 4, J_RESTART = 8 };

static void jpeg_seed(const char *name, int w, int h, int comps, int flags)
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
    c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 4 ? JCS_CMYK : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 75, TRUE);
    if (comps == 3 && !(flags & J_SUB)) c.comp_info[0].h_samp_factor = c.comp_info[0].v_samp_factor = 1;
    if (flags & J_PROG) jpeg_simple_progression(&c);
    if (flags & J_ARITH) c.arith_code = TRUE;
    if (flags & J_RESTART) c.restart_in_rows = 1;
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * comps);
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < w; x++)
            for (int k = 0; k < comps; k++) row[x * comps + k] = pat(x, (int)c.next_scanline, k);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    put("jpeg", name, out, size);
    free(row);
    free(out);
}

/* ---- PNG (libpng's full API: bit depths, palettes and interlacing) ---- */

typedef struct { uint8_t *p; size_t n; } Mem;

static void mem_write(png_structp p, png_bytep data, size_t n)
{
    Mem *m = png_get_io_ptr(p);
    m->p = realloc(m->p, m->n + n);
    memcpy(m->p + m->n, data, n);
    m->n += n;
}

static void mem_flush(png_structp p) { (void)p; }

static void png_seed(const char *name, int w, int h, int color, int depth, int interlace)
{
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    Mem m = {0};
    if (setjmp(png_jmpbuf(p))) {
        fprintf(stderr, "libpng failed on %s\n", name);
        exit(1);
    }
    png_set_write_fn(p, &m, mem_write, mem_flush);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, depth, color,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (color == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {10, 20, 30}};
        png_byte trns[2] = {0, 128};
        png_set_PLTE(p, info, pal, 4);
        png_set_tRNS(p, info, trns, 2, NULL);
    }
    png_write_info(p, info);
    int chans = color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_PALETTE ? 1
                : color == PNG_COLOR_TYPE_GRAY_ALPHA                           ? 2
                : color == PNG_COLOR_TYPE_RGB                                  ? 3
                                                                               : 4;
    size_t rowbytes = ((size_t)w * chans * depth + 7) / 8;
    uint8_t *img = calloc((size_t)h, rowbytes);
    png_bytep *rows = malloc(sizeof *rows * (size_t)h);
    for (int y = 0; y < h; y++) {
        rows[y] = img + (size_t)y * rowbytes;
        for (size_t i = 0; i < rowbytes; i++) rows[y][i] = pat((int)i, y, 0);
        if (color == PNG_COLOR_TYPE_PALETTE) /* indices 0..3 at 2 bits */
            for (size_t i = 0; i < rowbytes; i++) rows[y][i] &= 0x55;
    }
    png_write_image(p, rows);
    png_write_end(p, info);
    png_destroy_write_struct(&p, &info);
    put("png", name, m.p, m.n);
    free(m.p);
    free(rows);
    free(img);
}

/* ---- tar ---- */

typedef struct { uint8_t b[16384]; size_t n; } Tar;

static void tar_header(Tar *t, const char *name, const char *prefix, char type, size_t size, int b256)
{
    uint8_t *h = t->b + t->n;
    memset(h, 0, 512);
    memcpy(h, name, strnlen(name, 100));
    snprintf((char *)h + 100, 8, "%07o", 0644);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    if (b256) {
        h[124] = 0x80;
        for (int i = 0; i < 8; i++) h[135 - i] = (uint8_t)(size >> (8 * i));
    } else {
        snprintf((char *)h + 124, 12, "%011zo", size);
    }
    snprintf((char *)h + 136, 12, "%011o", 1700000000);
    h[156] = (uint8_t)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    if (prefix) memcpy(h + 345, prefix, strlen(prefix));
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    t->n += 512;
}

static void tar_data(Tar *t, const void *data, size_t n)
{
    memcpy(t->b + t->n, data, n);
    t->n += (n + 511) / 512 * 512;
}

static void tar_file(Tar *t, const char *name, const char *prefix, const char *text, int b256)
{
    tar_header(t, name, prefix, '0', strlen(text), b256);
    tar_data(t, text, strlen(text));
}

static void tar_seeds(void)
{
    Tar *t = calloc(1, sizeof *t);
    tar_header(t, "cat/", NULL, '5', 0, 0);
    tar_file(t, "cat/a.png", NULL, "not really a png", 0);
    tar_file(t, "b.jpg", "dog", "jpeg bytes", 0);
    t->n += 1024;
    put("tar", "ustar.tar", t->b, t->n);

    memset(t, 0, sizeof *t);
    const char *longname = "a/very/long/directory/name/that/does/not/fit/in/the/hundred/bytes/of/a/ustar/name/field/x.png";
    tar_header(t, "././@LongLink", NULL, 'L', strlen(longname) + 1, 0);
    tar_data(t, longname, strlen(longname) + 1);
    tar_file(t, "a/very/long/directory/name/that/does/not/fit/in/the/hun", NULL, "png", 0);
    char pax[] = "26 path=pax/long/name.jpg\n13 size=4096\n";
    tar_header(t, "PaxHeaders/x", NULL, 'g', 0, 0);
    tar_header(t, "PaxHeaders/name.jpg", NULL, 'x', strlen(pax), 0);
    tar_data(t, pax, strlen(pax));
    tar_header(t, "name.jpg", NULL, '0', 4096, 0);
    t->n += 4096;
    tar_file(t, "big.bin", NULL, "base-256 size", 1);
    put("tar", "gnu_pax.tar", t->b, t->n); /* no end blocks: accepted */
    free(t);
}

/* ---- IDX ---- */

static void idx_seed(const char *name, int ndim, const uint32_t *dims, int gz)
{
    uint8_t b[256];
    size_t n = 0, total = 1;
    b[0] = b[1] = 0;
    b[2] = 8;
    b[3] = (uint8_t)ndim;
    n = 4;
    for (int d = 0; d < ndim; d++, n += 4) {
        for (int i = 0; i < 4; i++) b[n + i] = (uint8_t)(dims[d] >> (24 - 8 * i));
        total *= dims[d];
    }
    for (size_t i = 0; i < total; i++) b[n + i] = ndim == 1 ? (uint8_t)(i % 10) : pat((int)i, 0, 0);
    n += total;
    if (!gz) {
        put("idx", name, b, n);
        return;
    }
    gzFile f = gzopen(path_of("idx", name), "wb9");
    if (!f || gzwrite(f, b, (unsigned)n) != (int)n || gzclose(f) != Z_OK) {
        fprintf(stderr, "gzip failed on %s\n", name);
        exit(1);
    }
}

/* ---- safetensors and npy (the project's writers) ---- */

static void st_seeds(void)
{
    static const float w[6] = {1, -2, 3.5f, 0, 1e30f, -1e-30f};
    static const int64_t ids[3] = {0, 7, -3};
    static const uint16_t bf[2] = {0x3f80, 0xc000};
    StWriteTensor t[4] = {
        {"encoder.w", ST_F32, 2, {2, 3}, w},
        {"ids", ST_I64, 1, {3}, ids},
        {"half", ST_BF16, 1, {2}, bf},
        {"empty", ST_F16, 2, {0, 4}, NULL},
    };
    static const char *const meta[] = {"img_size", "32", "channels", "3", "patch_size", "8", "embed_dim", "16",
                                       "depth", "2", "num_heads", "2", "pred_embed_dim", "8", "pred_depth", "1",
                                       "mlp_ratio", "4"};
    if (ij_st_write(path_of("safetensors", "model.safetensors"), t, 4, meta, 9) ||
        ij_st_write(path_of("safetensors", "plain.safetensors"), t, 2, NULL, 0)) {
        fprintf(stderr, "ij_st_write failed\n");
        exit(1);
    }
}

static void npy_by_hand(const char *name, const char *descr, const char *shape, const void *data, size_t n, int v2)
{
    char dict[256];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    size_t pre = v2 ? 12 : 10, hlen = ((pre + (size_t)len + 1 + 63) / 64) * 64 - pre;
    uint8_t b[512];
    memcpy(b, "\x93NUMPY", 6);
    b[6] = v2 ? 2 : 1;
    b[7] = 0;
    for (size_t i = 0; i < pre - 8; i++) b[8 + i] = (uint8_t)(hlen >> (8 * i));
    memset(b + pre, ' ', hlen);
    memcpy(b + pre, dict, (size_t)len);
    b[pre + hlen - 1] = '\n';
    memcpy(b + pre + hlen, data, n);
    put("npy", name, b, pre + hlen + n);
}

static void npy_seeds(void)
{
    static const float f[6] = {1, 2, 3, 4, 5, 6};
    static const int32_t i[3] = {0, 1, 9};
    static const double d[2] = {1.5, -1e300};
    static const int64_t l[2] = {5, 1};
    int64_t s23[2] = {2, 3}, s3[1] = {3};
    if (ij_npy_write_f32(path_of("npy", "f4_2d.npy"), f, 2, s23) ||
        ij_npy_write_i32(path_of("npy", "i4_1d.npy"), i, 1, s3)) {
        fprintf(stderr, "npy write failed\n");
        exit(1);
    }
    npy_by_hand("f8_1d.npy", "<f8", "(2,)", d, sizeof d, 0);
    npy_by_hand("i8_v2.npy", "<i8", "(2, 1)", l, sizeof l, 1);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    dir = argv[1];
    mkdir(dir, 0755);
    jpeg_seed("gray.jpg", 9, 7, 1, 0);
    jpeg_seed("rgb420.jpg", 17, 10, 3, J_SUB);
    jpeg_seed("rgb444_restart.jpg", 12, 20, 3, J_RESTART);
    jpeg_seed("progressive.jpg", 16, 16, 3, J_SUB | J_PROG);
    jpeg_seed("arith.jpg", 10, 9, 3, J_SUB | J_ARITH);
    jpeg_seed("cmyk.jpg", 8, 8, 4, 0);
    png_seed("gray1.png", 13, 3, PNG_COLOR_TYPE_GRAY, 1, 0);
    png_seed("gray2.png", 5, 4, PNG_COLOR_TYPE_GRAY, 2, 0);
    png_seed("gray4.png", 5, 4, PNG_COLOR_TYPE_GRAY, 4, 0);
    png_seed("gray8.png", 6, 5, PNG_COLOR_TYPE_GRAY, 8, 0);
    png_seed("gray16.png", 4, 3, PNG_COLOR_TYPE_GRAY, 16, 0);
    png_seed("gray_alpha.png", 4, 4, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0);
    png_seed("rgb8.png", 5, 4, PNG_COLOR_TYPE_RGB, 8, 0);
    png_seed("rgb16.png", 3, 3, PNG_COLOR_TYPE_RGB, 16, 0);
    png_seed("rgba.png", 4, 5, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0);
    png_seed("palette_trns.png", 7, 3, PNG_COLOR_TYPE_PALETTE, 2, 0);
    png_seed("interlaced.png", 9, 9, PNG_COLOR_TYPE_RGB, 8, 1);
    tar_seeds();
    uint32_t img[3] = {3, 4, 5}, lab[1] = {1}; /* one label: pairs with the harness's 1-image file */
    idx_seed("images-idx3-ubyte", 3, img, 0);
    idx_seed("images-idx3-ubyte.gz", 3, img, 1);
    idx_seed("labels-idx1-ubyte", 1, lab, 0);
    idx_seed("labels-idx1-ubyte.gz", 1, lab, 1);
    st_seeds();
    npy_seeds();
    return 0;
}
