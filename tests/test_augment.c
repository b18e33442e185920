/* test_augment.c: the training augmentation (src/data/augment.h).
 * Bilinear resize against PyTorch values, RandomResizedCrop box statistics and
 * its fallback, flip, normalisation, uint8 layout, and determinism of the
 * (seed, epoch, index) streams. */
#include "testlib.h"

#include "core/rng.h"
#include "data/augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The input of the PyTorch references: 2 channels, 5 x 7. */
static void fill_input(float *x)
{
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 7; c++) {
            x[r * 7 + c] = (float)(((r * 7 + c) * 37) % 23) * 0.25f;
            x[35 + r * 7 + c] = (float)(r * 7 + c) * 0.5f - 0.125f * (float)(r * r);
        }
}

/* Generated with torch 1.13 (an independent implementation):
 * /usr/bin/python3 -c "
 * import torch, torch.nn.functional as F
 * x = torch.tensor([[[((r*7+c)*37 % 23)*0.25 for c in range(7)] for r in range(5)],
 *                   [[(r*7+c)*0.5 - 0.125*r*r for c in range(7)] for r in range(5)]])[None]
 * def out(box, size):
 *     t, l, h, w = box
 *     print(F.interpolate(x[:, :, t:t+h, l:l+w], size=size, mode='bilinear', align_corners=False)[0].flatten().tolist())
 * out((1, 2, 3, 4), (9, 9)); out((1, 1, 4, 5), (4, 4)); out((0, 0, 5, 7), (3, 4))"
 * Box = (top, left, height, width); output [2, H, W] flattened. */
static const float REF_UP_9x9[162] = {
    2.75f,      2.375f,     1.375f,     0.69444448f, 2.25f,      3.8055556f, 3.125f,     2.125f,     1.75f,
    2.75f,      2.375f,     1.375f,     0.69444454f, 2.25f,      3.8055556f, 3.125f,     2.125f,     1.75f,
    3.25f,      2.875f,     1.875f,     1.1944445f,  2.75f,      4.3055558f, 3.625f,     2.625f,     2.25f,
    3.75f,      3.375f,     2.375f,     1.6944444f,  3.25f,      4.8055558f, 4.125f,     3.125f,     2.75f,
    4.2499995f, 3.8749998f, 2.875f,     2.1944444f,  3.75f,      5.3055553f, 4.625f,     3.625f,     3.25f,
    2.8333333f, 2.7777777f, 2.6296296f, 2.5879629f,  3.2916665f, 3.9953704f, 3.9537036f, 3.8055558f, 3.75f,
    1.4166663f, 1.6805553f, 2.3842592f, 2.9814816f,  2.8333333f, 2.685185f,  3.2824073f, 3.9861114f, 4.25f,
    0.0f,       0.58333337f, 2.1388888f, 3.375f,     2.375f,     1.3749999f, 2.6111112f, 4.166667f,  4.75f,
    0.0f,       0.58333337f, 2.1388888f, 3.375f,     2.375f,     1.3749999f, 2.6111112f, 4.166667f,  4.75f,
    4.375f,     4.458333f,  4.6805558f, 4.9027777f,  5.125f,     5.3472219f, 5.5694447f, 5.7916665f, 5.875f,
    4.375f,     4.458333f,  4.6805558f, 4.9027777f,  5.125f,     5.3472219f, 5.5694447f, 5.7916665f, 5.875f,
    5.4166665f, 5.4999995f, 5.7222223f, 5.9444447f,  6.1666665f, 6.3888884f, 6.6111116f, 6.8333335f, 6.916667f,
    6.458333f,  6.541666f,  6.7638888f, 6.9861112f,  7.208333f,  7.4305549f, 7.6527781f, 7.875f,     7.958333f,
    7.5f,       7.583333f,  7.8055553f, 8.0277777f,  8.25f,      8.4722214f, 8.6944447f, 8.916667f,  9.0f,
    8.458333f,  8.541666f,  8.7638884f, 8.9861107f,  9.208333f,  9.4305553f, 9.6527777f, 9.875f,     9.958333f,
    9.416667f,  9.5f,       9.7222223f, 9.9444447f,  10.166667f, 10.388889f, 10.611112f, 10.833334f, 10.916667f,
    10.375f,    10.458333f, 10.680555f, 10.902778f,  11.125f,    11.347222f, 11.569445f, 11.791667f, 11.875f,
    10.375f,    10.458333f, 10.680555f, 10.902778f,  11.125f,    11.347222f, 11.569445f, 11.791667f, 11.875f,
};
static const float REF_CROP_4x4[32] = {
    4.71875f, 1.90625f, 2.6875f,  2.03125f, 1.1875f,  3.40625f, 4.1875f,   3.53125f,
    1.96875f, 1.3125f,  2.09375f, 4.3125f,  3.46875f, 2.8125f,  3.59375f,  0.78125f,
    3.9375f,  4.5625f,  5.1875f,  5.8125f,  7.0625f,  7.6875f,  8.3125f,   8.9375f,
    9.9375f,  10.5625f, 11.1875f, 11.8125f, 12.5625f, 13.1875f, 13.8125f,  14.4375f,
};
static const float REF_DOWN_3x4[24] = {
    1.8125f,    1.9479166f, 3.0416665f, 2.9375f,    2.15625f,  3.96875f,  5.0624995f, 1.8437501f,
    2.260417f,  1.4374999f, 2.5312498f, 2.90625f,   1.3124999f, 2.1875f,  3.0625f,    3.9374998f,
    6.6874995f, 7.5625f,    8.437499f,  9.312499f,  11.3125f,  12.1875f,  13.0625f,   13.937499f,
};

static void check_resize(const char *label, IjCropBox box, int oh, int ow, const float *ref)
{
    float x[70], y[2 * 9 * 9];
    fill_input(x);
    ij_resize_bilinear(y, oh, ow, x, 5, 7, 2, &box);
    double worst = 0.0;
    for (int i = 0; i < 2 * oh * ow; i++) {
        double e = fabs((double)y[i] - (double)ref[i]);
        if (e > worst) worst = e;
    }
    CHECKF(worst <= 1e-5, "%s: max |C - torch| = %g", label, worst);
}

static void test_resize_reference(void)
{
    check_resize("crop 3x4 -> 9x9 (upscale)", (IjCropBox){1, 2, 3, 4}, 9, 9, REF_UP_9x9);
    check_resize("crop 4x5 -> 4x4", (IjCropBox){1, 1, 4, 5}, 4, 4, REF_CROP_4x4);
    check_resize("whole 5x7 -> 3x4 (downscale)", (IjCropBox){0, 0, 5, 7}, 3, 4, REF_DOWN_3x4);
}

static void test_resize_identity(void)
{
    float x[70], y[70];
    fill_input(x);
    IjCropBox whole = {0, 0, 5, 7};
    ij_resize_bilinear(y, 5, 7, x, 5, 7, 2, &whole);
    CHECK(memcmp(x, y, sizeof x) == 0);
    /* A crop resized to its own size is the crop, exactly. */
    IjCropBox box = {1, 2, 3, 4};
    float z[2 * 3 * 4];
    ij_resize_bilinear(z, 3, 4, x, 5, 7, 2, &box);
    int same = 1;
    for (int c = 0; c < 2; c++)
        for (int r = 0; r < 3; r++)
            for (int k = 0; k < 4; k++) same &= z[(c * 3 + r) * 4 + k] == x[c * 35 + (r + 1) * 7 + (k + 2)];
    CHECK(same);
    /* A constant image stays constant at any size. */
    float k1[12], k2[50];
    for (int i = 0; i < 12; i++) k1[i] = 0.375f;
    IjCropBox b34 = {0, 0, 3, 4};
    ij_resize_bilinear(k2, 5, 10, k1, 3, 4, 1, &b34);
    int flat = 1;
    for (int i = 0; i < 50; i++) flat &= k2[i] == 0.375f;
    CHECK(flat);
}

/* Bounds implied by rounding w = round(sqrt(t r)), h = round(sqrt(t / r)):
 * |w - sqrt(t r)| <= 1/2 and |h - sqrt(t / r)| <= 1/2. */
static void test_rrc_statistics(int H, int W)
{
    const double slo = 0.3, shi = 1.0, rlo = 3.0 / 4.0, rhi = 4.0 / 3.0;
    const double area = (double)H * W;
    int inside = 1, area_ok = 1, ratio_ok = 1;
    double fmin = 2.0, fmax = 0.0, rmin = 1e9, rmax = 0.0;
    int top0 = 0, topmax = 0, left0 = 0, leftmax = 0, full = 0;
    for (int i = 0; i < 10000; i++) {
        IjRng r = ij_rng(1234, 99, (uint64_t)i);
        IjCropBox b;
        ij_rrc_params(&r, H, W, slo, shi, rlo, rhi, &b);
        inside &= b.top >= 0 && b.left >= 0 && b.height >= 1 && b.width >= 1 && b.top + b.height <= H &&
                  b.left + b.width <= W;
        double w = b.width, h = b.height;
        area_ok &= (w - 0.5) * (h - 0.5) <= area * shi + 1e-9 && (w + 0.5) * (h + 0.5) >= area * slo - 1e-9;
        ratio_ok &= (w - 0.5) / (h + 0.5) <= rhi + 1e-12 && (w + 0.5) / (h - 0.5) >= rlo - 1e-12;
        double f = w * h / area, q = w / h;
        if (f < fmin) fmin = f;
        if (f > fmax) fmax = f;
        if (q < rmin) rmin = q;
        if (q > rmax) rmax = q;
        top0 |= b.top == 0;
        topmax |= b.height < H && b.top == H - b.height;
        left0 |= b.left == 0;
        leftmax |= b.width < W && b.left == W - b.width;
        full |= b.height == H && b.width == W;
    }
    CHECKF(inside, "%dx%d: a box left the image", H, W);
    CHECKF(area_ok, "%dx%d: area outside [0.3, 1] beyond rounding", H, W);
    CHECKF(ratio_ok, "%dx%d: aspect outside [3/4, 4/3] beyond rounding", H, W);
    /* The draws cover the range (deterministic streams: not flaky). A 32x48
     * image (ratio 1.5) holds at most a 32x43 crop of ratio <= 4/3: 0.896. */
    CHECKF(fmin < 0.33 && fmax > 0.85, "%dx%d: area fraction spans only [%g, %g]", H, W, fmin, fmax);
    CHECKF(rmin < 0.8 && rmax > 1.25, "%dx%d: aspect spans only [%g, %g]", H, W, rmin, rmax);
    CHECKF(top0 && topmax && left0 && leftmax, "%dx%d: corners do not reach both ends", H, W);
    (void)full;
}

static void test_rrc_fallback(void)
{
    IjRng r = ij_rng(5, 6, 7);
    IjCropBox b;
    /* Very wide: even the smallest crop is taller than 10 rows -> centre crop
     * with ratio clamped to 4/3: h = 10, w = round(13.33) = 13. */
    ij_rrc_params(&r, 10, 1000, 0.9, 1.0, 3.0 / 4.0, 4.0 / 3.0, &b);
    CHECKF(b.top == 0 && b.left == 493 && b.height == 10 && b.width == 13, "wide: %d %d %d %d", b.top, b.left,
           b.height, b.width);
    /* Very tall: w = 10, h = round(10 / 0.75) = 13, top = (1000 - 13) // 2. */
    ij_rrc_params(&r, 1000, 10, 0.9, 1.0, 3.0 / 4.0, 4.0 / 3.0, &b);
    CHECKF(b.top == 493 && b.left == 0 && b.height == 13 && b.width == 10, "tall: %d %d %d %d", b.top, b.left,
           b.height, b.width);
    /* Python rounding is half to even: w = round(10 * 1.25) = round(12.5) = 12. */
    ij_rrc_params(&r, 10, 1000, 0.9, 1.0, 0.8, 1.25, &b);
    CHECKF(b.top == 0 && b.left == 494 && b.height == 10 && b.width == 12, "half-even: %d %d %d %d", b.top,
           b.left, b.height, b.width);
    /* Ratio of the image inside the range and an impossible scale: whole image. */
    ij_rrc_params(&r, 10, 12, 1.5, 2.0, 3.0 / 4.0, 4.0 / 3.0, &b);
    CHECKF(b.top == 0 && b.left == 0 && b.height == 10 && b.width == 12, "whole: %d %d %d %d", b.top, b.left,
           b.height, b.width);
    /* scale (1, 1) on a square image with ratio exactly 1: the whole image from the first try. */
    ij_rrc_params(&r, 28, 28, 1.0, 1.0, 1.0, 1.0, &b);
    CHECK(b.top == 0 && b.left == 0 && b.height == 28 && b.width == 28);
}

static void test_hflip_normalize(void)
{
    float x[70], y[70];
    fill_input(x);
    memcpy(y, x, sizeof x);
    ij_hflip(y, 2, 5, 7);
    CHECK(y[0] == x[6] && y[6] == x[0] && y[3] == x[3] && y[35 + 7 * 4 + 1] == x[35 + 7 * 4 + 5]);
    CHECK(memcmp(x, y, sizeof x) != 0);
    ij_hflip(y, 2, 5, 7);
    CHECK(memcmp(x, y, sizeof x) == 0);
    /* Even width too. */
    float e[6] = {1, 2, 3, 4, 5, 6};
    ij_hflip(e, 1, 1, 6);
    CHECK(e[0] == 6 && e[1] == 5 && e[2] == 4 && e[3] == 3 && e[4] == 2 && e[5] == 1);

    float m[3] = {0.5f, -1.0f, 0.25f}, s[3] = {2.0f, 0.5f, 0.25f};
    float v[3 * 4] = {0.5f, 2.5f, -1.5f, 1.0f, -1.0f, 0.0f, 1.0f, -2.0f, 0.25f, 0.5f, 1.25f, 0.0f};
    const float want[12] = {0.0f, 1.0f, -1.0f, 0.25f, 0.0f, 2.0f, 4.0f, -2.0f, 0.0f, 1.0f, 4.0f, -1.0f};
    ij_normalize(v, 3, 4, m, s);
    CHECK(memcmp(v, want, sizeof want) == 0);
    /* Matches torchvision Normalize: (x - mean) / std per channel. */
    float g = 0.6f;
    ij_normalize(&g, 1, 1, (const float[]){IJ_FMNIST_MEAN}, (const float[]){IJ_FMNIST_STD});
    CHECK(g == (0.6f - 0.2860f) / 0.3530f);
}

static void test_defaults_and_check(void)
{
    IjAugment a;
    ij_augment_defaults(&a, 3, 224);
    CHECK(a.out_size == 224 && a.random_crop == 1 && a.hflip == 0);
    CHECK(a.scale[0] == 0.3 && a.scale[1] == 1.0 && a.ratio[0] == 0.75 && a.ratio[1] == 4.0 / 3.0);
    CHECK(a.mean[0] == 0.485f && a.mean[1] == 0.456f && a.mean[2] == 0.406f);
    CHECK(a.std[0] == 0.229f && a.std[1] == 0.224f && a.std[2] == 0.225f);
    CHECK(ij_augment_check(&a, 3) == 0);
    ij_augment_defaults(&a, 1, 28);
    CHECK(a.mean[0] == IJ_FMNIST_MEAN && a.std[0] == IJ_FMNIST_STD);
    CHECK(ij_augment_check(&a, 1) == 0);
    IjAugment bad = a;
    bad.scale[0] = 0.0;
    CHECK(ij_augment_check(&bad, 1) == -1);
    bad = a;
    bad.scale[1] = 1.5;
    CHECK(ij_augment_check(&bad, 1) == -1);
    bad = a;
    bad.ratio[0] = 2.0;
    CHECK(ij_augment_check(&bad, 1) == -1);
    bad = a;
    bad.std[0] = 0.0f;
    CHECK(ij_augment_check(&bad, 1) == -1);
    bad = a;
    bad.out_size = 0;
    CHECK(ij_augment_check(&bad, 1) == -1);
    CHECK(ij_augment_check(&a, 2) == -1);
}

static void make_image(uint8_t *img, int h, int w, int c)
{
    for (int i = 0; i < h * w * c; i++) img[i] = (uint8_t)((i * 97 + 13) % 256);
}

/* uint8 HWC / HW -> planar float / 255, no crop, identity resize. */
static void test_augment_layout(void)
{
    uint8_t rgb[4 * 4 * 3], gray[6 * 6];
    make_image(rgb, 4, 4, 3);
    make_image(gray, 6, 6, 1);
    IjAugment a;
    ij_augment_defaults(&a, 3, 4);
    a.random_crop = 0;
    for (int c = 0; c < 3; c++) a.mean[c] = 0.0f, a.std[c] = 1.0f;
    float out[3 * 4 * 4];
    ij_augment_image(out, rgb, 4, 4, 3, &a, 1, 2, 3);
    int ok = 1;
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 16; p++) ok &= out[c * 16 + p] == (float)rgb[p * 3 + c] / 255.0f;
    CHECK(ok);

    ij_augment_defaults(&a, 1, 6);
    a.random_crop = 0;
    float g[36];
    ij_augment_image(g, gray, 6, 6, 1, &a, 1, 2, 3);
    ok = 1;
    for (int p = 0; p < 36; p++) ok &= g[p] == ((float)gray[p] / 255.0f - IJ_FMNIST_MEAN) / IJ_FMNIST_STD;
    CHECK(ok);
}

/* ij_augment_image = documented stream -> crop -> resize -> flip -> normalise. */
static void test_augment_composition(void)
{
    enum { H = 20, W = 24, C = 3, N = 16 };
    uint8_t img[H * W * C];
    make_image(img, H, W, C);
    IjAugment a;
    ij_augment_defaults(&a, C, N);
    a.hflip = 1;
    int flips = 0;
    for (uint64_t idx = 0; idx < 16; idx++) {
        float got[C * N * N], want[C * N * N], planar[C * H * W];
        ij_augment_image(got, img, H, W, C, &a, 42, 3, idx);
        IjRng r = ij_augment_rng(42, 3, idx);
        IjCropBox b;
        ij_rrc_params(&r, H, W, a.scale[0], a.scale[1], a.ratio[0], a.ratio[1], &b);
        for (int c = 0; c < C; c++)
            for (int p = 0; p < H * W; p++) planar[c * H * W + p] = (float)img[p * C + c] / 255.0f;
        ij_resize_bilinear(want, N, N, planar, H, W, C, &b);
        if (ij_rng_uniform(&r) < 0.5) {
            ij_hflip(want, C, N, N);
            flips++;
        }
        ij_normalize(want, C, N * N, a.mean, a.std);
        CHECKF(memcmp(got, want, sizeof got) == 0, "sample %d", (int)idx);
    }
    CHECKF(flips > 0 && flips < 16, "%d of 16 flipped", flips);
}

static void test_augment_determinism(void)
{
    enum { H = 28, W = 28, N = 24 };
    uint8_t img[H * W];
    make_image(img, H, W, 1);
    IjAugment a;
    ij_augment_defaults(&a, 1, N);
    a.hflip = 1;
    float x[N * N], y[N * N];
    ij_augment_image(x, img, H, W, 1, &a, 7, 1, 100);
    ij_augment_image(y, img, H, W, 1, &a, 7, 1, 100);
    CHECK(memcmp(x, y, sizeof x) == 0);
    ij_augment_image(y, img, H, W, 1, &a, 7, 1, 101);
    CHECK(memcmp(x, y, sizeof x) != 0);
    ij_augment_image(y, img, H, W, 1, &a, 7, 2, 100);
    CHECK(memcmp(x, y, sizeof x) != 0);
    ij_augment_image(y, img, H, W, 1, &a, 8, 1, 100);
    CHECK(memcmp(x, y, sizeof x) != 0);
    /* The stream itself: a pure function of its three arguments, distinct across them. */
    IjRng r1 = ij_augment_rng(7, 1, 100), r2 = ij_augment_rng(7, 1, 100), r3 = ij_augment_rng(7, 100, 1);
    CHECK(r1.s == r2.s && r1.s != r3.s);
}

int main(void)
{
    test_resize_reference();
    test_resize_identity();
    test_rrc_statistics(28, 28);
    test_rrc_statistics(32, 48);
    test_rrc_statistics(375, 500);
    test_rrc_fallback();
    test_hflip_normalize();
    test_defaults_and_check();
    test_augment_layout();
    test_augment_composition();
    test_augment_determinism();
    return test_exit_code("test_augment");
}
