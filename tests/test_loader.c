/* test_loader.c: the background batch loader (train/loader.h).
 *  - its batches equal a direct computation (permutation, ij_augment_image,
 *    ij_mask_sample) and are bit-identical with 0, 1 and 3 threads and any
 *    depth, across an epoch boundary;
 *  - a loader started at step k (a resumed run) gives batch k;
 *  - a slice [lo, hi) is that part of the whole batch;
 *  - a keep_files set (decoded per batch) gives the same batches as the decoded
 *    set on the CIFAR-10 shard ../shared/data/cifar10/train-004.tar;
 *  - large JPEGs decoded at reduced DCT scale stay close to a full decode;
 *  - a file that fails to decode in a loader thread is an error naming it. */
#include "core/error.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "train/loader.h"
#include "testlib.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h> /* before jpeglib.h */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>

enum { N_IMAGES = 70, SIDE = 40, OUT = 32, BATCH = 16 };

/* A synthetic set of N_IMAGES gray SIDE x SIDE images. */
static void synthetic_set(IjImageSet *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->source, sizeof s->source, "synthetic");
    s->count = N_IMAGES;
    s->height = s->width = SIDE;
    s->channels = 1;
    s->pixels = malloc((size_t)N_IMAGES * SIDE * SIDE);
    IjRng r = ij_rng(7, 1, 0);
    for (int i = 0; i < N_IMAGES * SIDE * SIDE; i++) s->pixels[i] = (uint8_t)ij_rng_below(&r, 256);
}

static IjLoaderConfig config(const IjImageSet *d, int threads, int depth, int channels, int out)
{
    IjLoaderConfig c = {0};
    c.data = d;
    ij_augment_defaults(&c.aug, channels, out);
    c.aug.hflip = 1;
    ij_mask_params_default(&c.masks, out / 4, BATCH);
    c.masks.mode = IJ_MASKS_FIXED;
    c.masks.min_keep = 4;
    c.masks.seed = 5;
    c.seed = 11;
    c.lo = 0;
    c.hi = BATCH;
    c.threads = threads;
    c.depth = depth;
    return c;
}

static int masks_equal(const IjMasks *a, const IjMasks *b)
{
    int B = a->batch, T = a->num_targets;
    if (B != b->batch || T != b->num_targets) return 0;
    if (memcmp(a->ctx_off, b->ctx_off, sizeof(int) * (size_t)(B + 1))) return 0;
    if (memcmp(a->tgt_off, b->tgt_off, sizeof(int) * (size_t)(T * B + 1))) return 0;
    return !memcmp(a->ctx_idx, b->ctx_idx, sizeof(int) * (size_t)a->ctx_off[B]) &&
           !memcmp(a->tgt_idx, b->tgt_idx, sizeof(int) * (size_t)a->tgt_off[T * B]);
}

/* Batch `step` computed without the loader. */
static void reference_batch(const IjLoaderConfig *c, int64_t step, float *images, IjMaskSampler *ms)
{
    const IjImageSet *d = c->data;
    int64_t ipe = d->count / BATCH, epoch = step / ipe, k = step % ipe;
    int perm[N_IMAGES];
    for (int i = 0; i < d->count; i++) perm[i] = i;
    IjRng r = ij_rng(c->seed, 0x9e37, (uint64_t)epoch); /* the trainer's permutation stream */
    for (int i = d->count - 1; i > 0; i--) {
        int j = (int)ij_rng_below(&r, (uint64_t)i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    size_t img = (size_t)c->aug.out_size * c->aug.out_size * d->channels;
    for (int b = 0; b < BATCH; b++) {
        int idx = perm[k * BATCH + b];
        ij_augment_image(images + img * b, ij_imageset_image(d, idx), d->height, d->width, d->channels, &c->aug,
                         c->seed, (uint64_t)epoch, (uint64_t)idx);
    }
    CHECK(ij_mask_sample(ms, (uint64_t)step) == 0);
}

static void test_threads_and_reference(void)
{
    IjImageSet d;
    synthetic_set(&d);
    const int steps = 10; /* 4 batches per epoch: crosses two epoch boundaries */
    size_t img = (size_t)OUT * OUT;
    float *ref = malloc(sizeof(float) * img * BATCH);
    IjLoaderConfig base = config(&d, 0, 0, 1, OUT);
    IjMaskSampler ms;
    CHECKF(ij_mask_sampler_init(&ms, &base.masks) == 0, "%s", ij_last_error());
    const int threads[] = {0, 1, 3, 3}, depth[] = {0, 0, 0, 7};
    for (int v = 0; v < 4; v++) {
        IjLoaderConfig c = config(&d, threads[v], depth[v], 1, OUT);
        IjLoader l;
        CHECK(ij_loader_init(&l, &c, 0) == 0);
        int same = 1;
        for (int s = 0; s < steps; s++) {
            const IjBatch *b = ij_loader_next(&l);
            CHECK(b != NULL);
            if (!b) break;
            reference_batch(&c, s, ref, &ms);
            same &= b->step == s && b->epoch == s / (N_IMAGES / BATCH);
            same &= !memcmp(b->images, ref, sizeof(float) * img * BATCH);
            same &= masks_equal(b->masks, &ms.masks);
            ij_loader_release(&l);
        }
        CHECKF(same, "threads %d depth %d: batches differ from the direct computation", threads[v], depth[v]);
        ij_loader_free(&l);
    }

    /* resumed at step 6 */
    IjLoader l;
    IjLoaderConfig c = config(&d, 2, 0, 1, OUT);
    CHECK(ij_loader_init(&l, &c, 6) == 0);
    const IjBatch *b = ij_loader_next(&l);
    reference_batch(&c, 6, ref, &ms);
    CHECK(b && b->step == 6 && !memcmp(b->images, ref, sizeof(float) * img * BATCH));
    ij_loader_release(&l);
    ij_loader_free(&l);

    /* a slice [5, 12) of the batch */
    c = config(&d, 1, 0, 1, OUT);
    c.lo = 5;
    c.hi = 12;
    CHECK(ij_loader_init(&l, &c, 3) == 0);
    b = ij_loader_next(&l);
    reference_batch(&c, 3, ref, &ms);
    CHECK(b && !memcmp(b->images, ref + 5 * img, sizeof(float) * img * 7) && masks_equal(b->masks, &ms.masks));
    ij_loader_release(&l);
    ij_loader_free(&l);

    /* bad slices and depths are errors */
    c = config(&d, 1, 0, 1, OUT);
    c.hi = BATCH + 1;
    CHECK(ij_loader_init(&l, &c, 0) != 0);
    c = config(&d, 4, 2, 1, OUT);
    CHECK(ij_loader_init(&l, &c, 0) != 0);

    ij_mask_sampler_free(&ms);
    free(ref);
    ij_imageset_free(&d);
}

/* Decoded once vs kept as files: the same batches. */
static void test_files_equal_pixels(void)
{
    const char *shard = "../shared/data/cifar10/train-004.tar";
    IjImageSet px, files;
    IjLoadOptions lo = {.channels = 3};
    CHECKF(ij_imageset_load_opts(&px, shard, 1, &lo) == 0, "%s", ij_last_error());
    lo.keep_files = 1;
    CHECKF(ij_imageset_load_opts(&files, shard, 1, &lo) == 0, "%s", ij_last_error());
    if (!px.count || !files.count) return;
    CHECK(files.pixels == NULL && files.files != NULL && files.count == px.count);
    CHECK(files.height == 32 && files.width == 32 && files.channels == 3);
    CHECK(!memcmp(files.labels, px.labels, sizeof(int) * (size_t)px.count));
    IjLoaderConfig a = config(&px, 1, 0, 3, 32), b = config(&files, 2, 0, 3, 32);
    a.masks.grid = b.masks.grid = 8;
    IjLoader la, lb;
    CHECK(ij_loader_init(&la, &a, 0) == 0 && ij_loader_init(&lb, &b, 0) == 0);
    int same = 1;
    for (int s = 0; s < 5; s++) {
        const IjBatch *x = ij_loader_next(&la), *y = ij_loader_next(&lb);
        same &= x && y && !memcmp(x->images, y->images, sizeof(float) * 3 * 32 * 32 * BATCH);
        ij_loader_release(&la);
        ij_loader_release(&lb);
    }
    CHECK(same);
    ij_loader_free(&la);
    ij_loader_free(&lb);

    /* a file corrupted after the load fails in the loader thread, named */
    IjImageSet *f = &files;
    for (size_t i = f->file_off[0] + 2; i < f->file_off[f->count]; i++) f->files[i] = 0;
    b = config(f, 1, 0, 3, 32);
    b.masks.grid = 8;
    CHECK(ij_loader_init(&lb, &b, 0) == 0);
    ij_clear_error();
    CHECK(ij_loader_next(&lb) == NULL);
    CHECKF(strstr(ij_last_error(), shard) != NULL, "got '%s'", ij_last_error());
    ij_loader_release(&lb);
    ij_loader_free(&lb);
    ij_imageset_free(&px);
    ij_imageset_free(&files);
}

/* Writes a smooth (periods of 350 px and more) W x H RGB JPEG of quality 95 to path. */
static void write_jpeg(const char *path, int w, int h, int seed)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    CHECKF(f != NULL, "%s", path);
    if (!f) return;
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * 3);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++)
                row[3 * x + k] = (uint8_t)(127.5 + 120 * sin(0.006 * (x + seed * 7) * (k + 1) + 0.005 * y * (2 - k)));
        JSAMPROW rp = row;
        jpeg_write_scanlines(&c, &rp, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(row);
}

/* Large images of two sizes, crops resized to 32: reduced-scale decoding
 * stays close to decoding at full size. */
static void test_reduced_dct(void)
{
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/big", test_tmpdir());
    CHECK(mkdir(dir, 0755) == 0);
    for (int i = 0; i < BATCH; i++) {
        snprintf(path, sizeof path, "%s/img%02d.jpg", dir, i);
        write_jpeg(path, i % 2 ? 320 : 256, 240, i);
    }
    IjImageSet d;
    IjLoadOptions lo = {.channels = 3, .keep_files = 1};
    CHECKF(ij_imageset_load_opts(&d, dir, 1, &lo) == 0, "%s", ij_last_error());
    if (!d.count) return;
    CHECK(d.count == BATCH && d.height == 0); /* sizes differ */
    IjLoaderConfig c = config(&d, 1, 0, 3, OUT);
    IjLoader l;
    CHECK(ij_loader_init(&l, &c, 0) == 0);
    const IjBatch *b = ij_loader_next(&l);
    CHECK(b != NULL);
    int perm[BATCH];
    int64_t pe = -1;
    size_t img = 3 * OUT * OUT;
    float *full = malloc(sizeof(float) * img * BATCH);
    double worst = 0;
    if (b) {
        /* the same crops from full-size decodes */
        CHECK(ij_loader_build(&c, 1, 0, perm, &pe, full, 0) == 0); /* fills perm */
        for (int k = 0; k < BATCH; k++) {
            IjImage im;
            CHECK(ij_imageset_decode(&d, perm[k], 0, &im) == 0);
            ij_augment_image(full + img * k, im.pixels, im.height, im.width, 3, &c.aug, c.seed, 0, (uint64_t)perm[k]);
            ij_image_free(&im);
            double sum = 0;
            for (size_t i = 0; i < img; i++) sum += fabs(full[img * k + i] - b->images[img * k + i]);
            if (sum / img > worst) worst = sum / img;
        }
    }
    /* normalised units (std ~0.22 of [0, 1]): 0.06 is ~0.013 of the pixel range, 3.4 of 255 */
    CHECKF(worst < 0.06, "mean |reduced - full| per image up to %.4f", worst);
    printf("reduced-DCT decode vs full decode: worst mean abs difference %.4f (normalised units)\n", worst);
    ij_loader_release(&l);
    ij_loader_free(&l);
    free(full);
    ij_imageset_free(&d);
}

int main(void)
{
    test_threads_and_reference();
    test_files_equal_pixels();
    test_reduced_dct();
    return test_exit_code("test_loader");
}
