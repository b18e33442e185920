/* image_decode.h: JPEG and PNG from memory buffers into uint8 HWC pixels.
 *
 * The format is found from the first bytes (JPEG: FF D8 FF, PNG: the 8-byte
 * signature), never from a file name. Output has 1 (gray) or 3 (RGB) channels,
 * whatever the file holds:
 *   RGB -> gray  Pillow's convert('L'): ITU-R 601-2 luma in 16-bit fixed point,
 *                L = (19595 R + 38470 G + 7471 B + 32768) >> 16 (the weights
 *                0.299, 0.587, 0.114; a gray pixel keeps its exact value);
 *   gray -> RGB  the value replicated;
 *   alpha        dropped, not composited: RGBA (r, g, b, a) gives (r, g, b), as
 *                Pillow's convert('RGB') does;
 *   PNG          palette expanded, 1/2/4-bit gray widened to 0..255, 16-bit
 *                reduced to the high byte (as Pillow does); gAMA/iCCP ignored;
 *   JPEG         gray, YCbCr and RGB; CMYK/YCCK (Adobe) converted with
 *                R = (255 - C)(255 - K) / 255 (inverted Adobe storage handled).
 * Corrupt or truncated data is an error (-1, message naming `name`), never an
 * exit: libjpeg's "premature end" and corrupt-data warnings count as errors,
 * except "extraneous bytes before marker", which loses no pixels. So is a
 * header that declares more than IJ_IMAGE_MAX_PIXELS, checked before anything
 * is allocated: a few damaged bytes cannot ask for gigabytes.
 */
#ifndef IJEPA_DATA_IMAGE_DECODE_H
#define IJEPA_DATA_IMAGE_DECODE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { IJ_IMAGE_UNKNOWN = 0, IJ_IMAGE_JPEG, IJ_IMAGE_PNG } IjImageFormat;

/* Width x height above which a file is refused: Pillow's decompression-bomb
 * error threshold (2 * Image.MAX_IMAGE_PIXELS, about 13377 x 13377). */
#define IJ_IMAGE_MAX_PIXELS 178956970ull

typedef struct {
    int height, width, channels;
    uint8_t *pixels; /* [height, width, channels], malloc'd */
} IjImage;

/* The format from the magic bytes (IJ_IMAGE_UNKNOWN for anything else). */
IjImageFormat ij_image_format(const uint8_t *data, size_t size);

/* Decodes data[0..size) into *out with `channels` (1 or 3) channels. `name`
 * names the data in messages (a file, or "shard.tar:class/file.jpg").
 * min_side: 0 decodes at full size; > 0 lets a JPEG be decoded with libjpeg's
 * reduced-size DCT at 1/2, 1/4 or 1/8 scale, the smallest that keeps both sides
 * >= min_side (for a caller that will shrink the image anyway); PNG ignores it.
 * On failure returns -1 with *out zeroed. */
int ij_image_decode(IjImage *out, const uint8_t *data, size_t size, int channels, int min_side, const char *name);
void ij_image_free(IjImage *im);

/* Pixel conversions used above: dst and src may not overlap. */
void ij_rgb_to_gray(uint8_t *dst, const uint8_t *rgb, size_t npix);
void ij_gray_to_rgb(uint8_t *dst, const uint8_t *gray, size_t npix);

#endif
