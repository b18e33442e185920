/* test_eval_transform.c: the evaluation transform against torchvision + PIL
 * (tests/fixtures/eval_transform.bin, written by tests/reference/make_eval_transform_fixture.py):
 * squash (downscale 37x53 -> 16x16), timm's crop transform on the same image (resize the shorter side
 * to 18, centre crop 16) and on an upscaled 9x7 image. Both round each pass to uint8; PIL's weights are
 * fixed-point (22 bits), so a value may land one step away: every value within 1/255, the mean within
 * 0.05/255 (measured: 0 and 0 on the downscales, 1 and 0.023 on the upscale). Then: auto
 * copies an image of the model's size exactly, and squash of a constant image stays constant. */
#include "testlib.h"

#include "data/eval_transform.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_image(uint8_t *p, int h, int w) /* the fixture script's formula */
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) p[(y * w + x) * 3 + c] = (uint8_t)((x * 37 + y * 91 + c * 53 + (x * y) % 7 * 19) % 256);
}

static void compare(const char *what, const float *got, const uint8_t *want) /* got planar, want [16,16,3] */
{
    double worst = 0, sum = 0;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 256; i++) {
            double d = fabs(got[c * 256 + i] * 255.0 - want[i * 3 + c]);
            worst = fmax(worst, d);
            sum += d;
        }
    printf("  %-40s max |diff| %.2f / 255, mean %.3f / 255\n", what, worst, sum / 768);
    CHECKF(worst <= 1.001 && sum / 768 <= 0.05, "%s: max %.2f mean %.3f (x 1/255)", what, worst, sum / 768);
}

int main(void)
{
    FILE *f = fopen(test_fixture("eval_transform.bin"), "rb");
    uint8_t want[3][768];
    CHECK(f && fread(want, 1, sizeof want, f) == sizeof want);
    if (f) fclose(f);
    uint8_t big[37 * 53 * 3], small[9 * 7 * 3];
    test_image(big, 37, 53);
    test_image(small, 9, 7);
    float out[3 * 16 * 16];
    IjEvalTransform t;
    ij_eval_transform_defaults(&t, 16);
    printf("against torchvision + PIL (bicubic):\n");
    t.resize = IJ_EVAL_SQUASH;
    ij_eval_transform_apply(out, big, 37, 53, 3, &t);
    compare("squash 37x53 -> 16x16", out, want[0]);
    t.resize = IJ_EVAL_AUTO; /* not 16x16: crop */
    ij_eval_transform_apply(out, big, 37, 53, 3, &t);
    compare("crop 0.875: 37x53 -> 18x25 -> 16x16", out, want[1]);
    t.resize = IJ_EVAL_CROP;
    ij_eval_transform_apply(out, small, 9, 7, 3, &t);
    compare("crop 0.875: 9x7 -> 23x18 -> 16x16", out, want[2]);

    /* auto on an image of the model's size: copied exactly (CIFAR-10, Fashion-MNIST) */
    uint8_t same[16 * 16 * 3];
    test_image(same, 16, 16);
    t.resize = IJ_EVAL_AUTO;
    ij_eval_transform_apply(out, same, 16, 16, 3, &t);
    int exact = 1;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 256; i++) exact &= out[c * 256 + i] == same[i * 3 + c] / 255.0f;
    CHECK(exact);
    /* a constant image stays constant through the resampler (weights sum to 1) */
    uint8_t flat[37 * 53 * 3];
    memset(flat, 200, sizeof flat);
    t.resize = IJ_EVAL_SQUASH;
    ij_eval_transform_apply(out, flat, 37, 53, 3, &t);
    double dev = 0;
    for (int i = 0; i < 768; i++) dev = fmax(dev, fabs(out[i] - 200 / 255.0));
    CHECKF(dev < 1e-6, "constant image: %g", dev);
    IjEvalResize r;
    CHECK(ij_eval_resize_parse("crop", &r) == 0 && r == IJ_EVAL_CROP && ij_eval_resize_parse("zoom", &r) == -1);
    return test_exit_code("test_eval_transform");
}
