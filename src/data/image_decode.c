/* image_decode.c: JPEG (libjpeg API, libjpeg-turbo) and PNG (libpng) decoding
 * from memory (see image_decode.h). Both libraries report fatal errors by
 * calling a handler that must not return; ours longjmp back to the decode
 * call, which frees what it allocated and returns -1 with the library's
 * message. Everything that changes after setjmp lives in a context struct
 * owned by the caller of the function that calls setjmp, so it is still valid
 * after longjmp. Sides are limited to 65535 (JPEG's own limit is 65500), the
 * area to IJ_IMAGE_MAX_PIXELS. */
#include "data/image_decode.h"

#include "core/error.h"

#include <setjmp.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

IjImageFormat ij_image_format(const uint8_t *data, size_t size)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) return IJ_IMAGE_JPEG;
    if (size >= 8 && !memcmp(data, png_sig, 8)) return IJ_IMAGE_PNG;
    return IJ_IMAGE_UNKNOWN;
}

void ij_rgb_to_gray(uint8_t *dst, const uint8_t *rgb, size_t npix)
{
    for (size_t i = 0; i < npix; i++, rgb += 3)
        dst[i] = (uint8_t)(((uint32_t)rgb[0] * 19595u + (uint32_t)rgb[1] * 38470u + (uint32_t)rgb[2] * 7471u + 0x8000u) >> 16);
}

void ij_gray_to_rgb(uint8_t *dst, const uint8_t *gray, size_t npix)
{
    for (size_t i = 0; i < npix; i++, dst += 3) dst[0] = dst[1] = dst[2] = gray[i];
}

void ij_image_free(IjImage *im)
{
    free(im->pixels);
    memset(im, 0, sizeof *im);
}

/* Decoder state shared by both formats. `pixels` is the output [h, w, channels];
 * when the file's own channel count `native` differs, rows go through `tmp`
 * ([h, w, native]) and are converted at the end. */
typedef struct {
    const char *name;
    int channels, native, height, width;
    uint8_t *pixels, *tmp, *row;
    char msg[JMSG_LENGTH_MAX + 64];
} DecodeCtx;

static void ctx_free(DecodeCtx *c)
{
    free(c->pixels);
    free(c->tmp);
    free(c->row);
    c->pixels = c->tmp = c->row = NULL;
}

/* 1 (with the message) when the header declares more than IJ_IMAGE_MAX_PIXELS. */
static int ctx_too_big(DecodeCtx *c, unsigned long w, unsigned long h)
{
    if ((unsigned long long)w * h <= IJ_IMAGE_MAX_PIXELS) return 0;
    snprintf(c->msg, sizeof c->msg, "header declares %lu x %lu pixels, more than the limit of %llu", w, h,
             IJ_IMAGE_MAX_PIXELS);
    return 1;
}

/* Allocates the output (and tmp when a conversion is needed). */
static void ctx_alloc(DecodeCtx *c)
{
    size_t npix = (size_t)c->height * (size_t)c->width;
    c->pixels = ij_malloc(npix * (size_t)c->channels);
    if (c->native != c->channels) c->tmp = ij_malloc(npix * (size_t)c->native);
}

/* Where decoded row y (native channels) goes. */
static uint8_t *ctx_row(DecodeCtx *c, int y)
{
    uint8_t *base = c->tmp ? c->tmp : c->pixels;
    return base + (size_t)y * (size_t)c->width * (size_t)c->native;
}

static void ctx_finish(DecodeCtx *c)
{
    size_t npix = (size_t)c->height * (size_t)c->width;
    if (c->native == 3 && c->channels == 1) ij_rgb_to_gray(c->pixels, c->tmp, npix);
    if (c->native == 1 && c->channels == 3) ij_gray_to_rgb(c->pixels, c->tmp, npix);
    free(c->tmp);
    c->tmp = NULL;
}

/* ---- JPEG ---- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    DecodeCtx *ctx;
} JpegErr;

static void jpeg_fail(j_common_ptr cinfo)
{
    JpegErr *e = (JpegErr *)cinfo->err;
    char buf[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, buf);
    snprintf(e->ctx->msg, sizeof e->ctx->msg, "%s", buf);
    longjmp(e->jump, 1);
}

/* libjpeg reports damaged data as warnings (level -1) and carries on, filling
 * with gray; we stop instead, except for warnings that lose no pixels. Trace
 * messages (level >= 0) are ignored. */
static void jpeg_message(j_common_ptr cinfo, int level)
{
    if (level >= 0) return;
    switch (cinfo->err->msg_code) {
    case JWRN_EXTRANEOUS_DATA:
    case JWRN_JFIF_MAJOR:
    case JWRN_ADOBE_XFORM:
        return;
    default:
        break;
    }
    const char *text = cinfo->err->msg_code == JWRN_JPEG_EOF ? "truncated: " : "";
    JpegErr *e = (JpegErr *)cinfo->err;
    char buf[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, buf);
    snprintf(e->ctx->msg, sizeof e->ctx->msg, "%s%s", text, buf);
    longjmp(e->jump, 1);
}

static void jpeg_silent(j_common_ptr cinfo) { (void)cinfo; }

/* CMYK as libjpeg gives it (Adobe files store it inverted) -> RGB. */
static void cmyk_to_rgb(uint8_t *dst, const uint8_t *src, int n, int inverted)
{
    for (int i = 0; i < n; i++, src += 4, dst += 3) {
        unsigned k = inverted ? src[3] : 255u - src[3];
        for (int j = 0; j < 3; j++) {
            unsigned v = inverted ? src[j] : 255u - src[j];
            dst[j] = (uint8_t)((v * k + 127) / 255);
        }
    }
}

static int decode_jpeg(DecodeCtx *c, struct jpeg_decompress_struct *cinfo, JpegErr *err, const uint8_t *data,
                       size_t size, int min_side)
{
    cinfo->err = jpeg_std_error(&err->pub);
    err->pub.error_exit = jpeg_fail;
    err->pub.emit_message = jpeg_message;
    err->pub.output_message = jpeg_silent;
    err->ctx = c;
    if (setjmp(err->jump)) {
        jpeg_destroy_decompress(cinfo);
        return -1;
    }
    jpeg_create_decompress(cinfo);
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    jpeg_read_header(cinfo, TRUE);
    if (ctx_too_big(c, cinfo->image_width, cinfo->image_height)) {
        jpeg_destroy_decompress(cinfo);
        return -1;
    }
    int cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
    if (cinfo->jpeg_color_space == JCS_GRAYSCALE)
        cinfo->out_color_space = JCS_GRAYSCALE;
    else if (cmyk)
        cinfo->out_color_space = JCS_CMYK;
    else
        cinfo->out_color_space = JCS_RGB;
    if (min_side > 0) {
        unsigned side = cinfo->image_width < cinfo->image_height ? cinfo->image_width : cinfo->image_height;
        for (unsigned denom = 8; denom >= 2; denom /= 2)
            if ((side + denom - 1) / denom >= (unsigned)min_side) {
                cinfo->scale_num = 1;
                cinfo->scale_denom = denom;
                break;
            }
    }
    jpeg_start_decompress(cinfo);
    c->width = (int)cinfo->output_width;
    c->height = (int)cinfo->output_height;
    c->native = cmyk ? 3 : cinfo->output_components;
    if (c->native != 1 && c->native != 3) {
        snprintf(c->msg, sizeof c->msg, "unsupported JPEG with %d components", cinfo->output_components);
        jpeg_destroy_decompress(cinfo);
        return -1;
    }
    ctx_alloc(c);
    if (cmyk) c->row = ij_malloc((size_t)c->width * 4);
    while (cinfo->output_scanline < cinfo->output_height) {
        int y = (int)cinfo->output_scanline;
        JSAMPROW row = cmyk ? c->row : ctx_row(c, y);
        if (jpeg_read_scanlines(cinfo, &row, 1) != 1) {
            snprintf(c->msg, sizeof c->msg, "decoder returned no row %d", y);
            jpeg_destroy_decompress(cinfo);
            return -1;
        }
        if (cmyk) cmyk_to_rgb(ctx_row(c, y), c->row, c->width, cinfo->saw_Adobe_marker);
    }
    jpeg_finish_decompress(cinfo);
    jpeg_destroy_decompress(cinfo);
    return 0;
}

/* ---- PNG ---- */

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    DecodeCtx *ctx;
} PngSrc;

static void png_fail(png_structp p, png_const_charp msg)
{
    PngSrc *s = png_get_error_ptr(p);
    snprintf(s->ctx->msg, sizeof s->ctx->msg, "%s", msg);
    png_longjmp(p, 1);
}

static void png_warn(png_structp p, png_const_charp msg)
{
    (void)p;
    (void)msg; /* ancillary-chunk trouble (bad iCCP, CRC in tEXt, ...): not worth a line per image */
}

static void png_read_mem(png_structp p, png_bytep out, size_t n)
{
    PngSrc *s = png_get_io_ptr(p);
    if (n > s->size - s->pos) png_error(p, "truncated file");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static int decode_png(DecodeCtx *c, PngSrc *src, png_structp *pp, png_infop *ip, png_bytep **rows)
{
    /* The size first, from the IHDR chunk that must follow the signature: libpng would refuse a
     * side over its user limit with only "Invalid IHDR data". */
    const uint8_t *d = src->data;
    if (src->size >= 24 && !memcmp(d + 12, "IHDR", 4)) {
        unsigned long w = (unsigned long)d[16] << 24 | (unsigned long)d[17] << 16 | (unsigned long)d[18] << 8 | d[19];
        unsigned long h = (unsigned long)d[20] << 24 | (unsigned long)d[21] << 16 | (unsigned long)d[22] << 8 | d[23];
        if (w > 65535 || h > 65535) {
            snprintf(c->msg, sizeof c->msg, "header declares %lu x %lu pixels, more than the limit of 65535 per side",
                     w, h);
            return -1;
        }
        if (ctx_too_big(c, w, h)) return -1;
    }
    *pp = png_create_read_struct(PNG_LIBPNG_VER_STRING, src, png_fail, png_warn);
    if (!*pp) {
        snprintf(c->msg, sizeof c->msg, "out of memory");
        return -1;
    }
    *ip = png_create_info_struct(*pp);
    if (!*ip) {
        png_destroy_read_struct(pp, NULL, NULL);
        snprintf(c->msg, sizeof c->msg, "out of memory");
        return -1;
    }
    if (setjmp(png_jmpbuf(*pp))) {
        png_destroy_read_struct(pp, ip, NULL);
        return -1;
    }
    png_set_user_limits(*pp, 65535, 65535);
    /* Ancillary chunks but tRNS (text, ICC, gAMA, sPLT, ...) are skipped
     * unread: nothing here uses them, and libpng would otherwise buffer one of
     * whatever length its header claims ("chunk data is too large" is only a
     * warning in release builds of libpng). */
    png_set_keep_unknown_chunks(*pp, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_set_read_fn(*pp, src, png_read_mem);
    png_read_info(*pp, *ip);
    if (ctx_too_big(c, png_get_image_width(*pp, *ip), png_get_image_height(*pp, *ip))) {
        png_destroy_read_struct(pp, ip, NULL);
        return -1;
    }
    png_set_expand(*pp);      /* palette -> RGB, 1/2/4-bit gray -> 8-bit, tRNS -> alpha */
    png_set_strip_16(*pp);    /* high byte, as Pillow */
    png_set_strip_alpha(*pp); /* dropped, not composited */
    png_set_interlace_handling(*pp);
    png_read_update_info(*pp, *ip);
    c->width = (int)png_get_image_width(*pp, *ip);
    c->height = (int)png_get_image_height(*pp, *ip);
    c->native = png_get_channels(*pp, *ip);
    if ((c->native != 1 && c->native != 3) || png_get_bit_depth(*pp, *ip) != 8)
        png_error(*pp, "unexpected channel count or bit depth after conversion");
    ctx_alloc(c);
    *rows = ij_malloc(sizeof(png_bytep) * (size_t)c->height);
    for (int y = 0; y < c->height; y++) (*rows)[y] = ctx_row(c, y);
    png_read_image(*pp, *rows);
    png_destroy_read_struct(pp, ip, NULL);
    return 0;
}

int ij_image_decode(IjImage *out, const uint8_t *data, size_t size, int channels, int min_side, const char *name)
{
    memset(out, 0, sizeof *out);
    if (channels != 1 && channels != 3) return ij_error("%s: asked for %d channels (1 or 3)", name, channels);
    if (size == 0) return ij_error("%s: empty file", name);
    DecodeCtx c = {.name = name, .channels = channels};
    IjImageFormat fmt = ij_image_format(data, size);
    int rc;
    const char *what;
    if (fmt == IJ_IMAGE_JPEG) {
        struct jpeg_decompress_struct cinfo;
        JpegErr err;
        what = "JPEG";
        rc = decode_jpeg(&c, &cinfo, &err, data, size, min_side);
    } else if (fmt == IJ_IMAGE_PNG) {
        PngSrc src = {.data = data, .size = size, .ctx = &c};
        png_structp p = NULL;
        png_infop info = NULL;
        png_bytep *rows = NULL;
        what = "PNG";
        rc = decode_png(&c, &src, &p, &info, &rows);
        free(rows);
    } else {
        return ij_error("%s: not a JPEG or PNG file (unknown leading bytes)", name);
    }
    if (rc) {
        ctx_free(&c);
        return ij_error("%s: cannot decode %s (%s)", name, what, c.msg);
    }
    ctx_finish(&c);
    free(c.row);
    out->height = c.height;
    out->width = c.width;
    out->channels = channels;
    out->pixels = c.pixels;
    return 0;
}
