/* loader.c: see loader.h. A ring of `depth` slots, each with its images and
 * its own mask sampler. Producers claim batch numbers in order; a batch goes
 * to slot (number % depth) once the batch `depth` before it was released. */
#include "train/loader.h"

#include "core/error.h"
#include "core/rng.h"
#include "core/timer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PURPOSE_PERMUTATION = 0x9e37 };
enum { SLOT_FREE, SLOT_BUILDING, SLOT_READY };

typedef struct {
    IjBatch batch;
    IjMaskSampler sampler;
    int state;
    int failed;
    char error[1024];
} Slot;

typedef struct {
    IjLoader *owner;
    int *perm;
    int64_t perm_epoch;
    pthread_t thread;
} Worker;

struct IjLoaderState {
    Slot *slots;
    Worker *workers;
    int started;               /* threads running */
    int64_t next_build;        /* first batch number no producer has claimed */
    int64_t next_out;          /* batch number ij_loader_next hands out next */
    int out;                   /* a batch is handed out and not released */
    int stop;
    pthread_mutex_t mu;
    pthread_cond_t ready, freed;
};

/* The epoch's order: a Fisher-Yates shuffle from (seed, epoch). */
static void epoch_permutation(const IjLoaderConfig *c, int64_t epoch, int *perm, int64_t *perm_epoch)
{
    if (*perm_epoch == epoch) return;
    int n = c->data->count;
    for (int i = 0; i < n; i++) perm[i] = i;
    IjRng r = ij_rng(c->seed, PURPOSE_PERMUTATION, (uint64_t)epoch);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)ij_rng_below(&r, (uint64_t)i + 1);
        int tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    *perm_epoch = epoch;
}

/* One training view of image idx into dst. */
static int build_image(const IjLoaderConfig *c, int64_t epoch, int idx, float *dst)
{
    const IjImageSet *d = c->data;
    int h, w;
    ij_imageset_size(d, idx, &h, &w);
    IjCropBox box;
    IjRng rest;
    ij_augment_crop(&c->aug, h, w, c->seed, (uint64_t)epoch, (uint64_t)idx, &box, &rest);
    if (d->pixels) {
        ij_augment_apply(dst, ij_imageset_image(d, idx), h, w, d->channels, &c->aug, &box, &rest);
        return 0;
    }
    /* Decode at the smallest scale that keeps the crop >= the output size. */
    int side = h < w ? h : w, crop = box.height < box.width ? box.height : box.width;
    int min_side = (int)(((int64_t)c->aug.out_size * side + crop - 1) / crop);
    IjImage im;
    if (ij_imageset_decode(d, idx, min_side, &im)) return -1;
    if (im.height != h || im.width != w) { /* reduced: the same box in its pixels, rounded */
        int top = (int)(((int64_t)2 * box.top * im.height + h) / (2 * h));
        int left = (int)(((int64_t)2 * box.left * im.width + w) / (2 * w));
        int bottom = (int)(((int64_t)2 * (box.top + box.height) * im.height + h) / (2 * h));
        int right = (int)(((int64_t)2 * (box.left + box.width) * im.width + w) / (2 * w));
        if (bottom > im.height) bottom = im.height;
        if (right > im.width) right = im.width;
        if (bottom <= top) bottom = top + 1;
        if (right <= left) right = left + 1;
        box = (IjCropBox){top, left, bottom - top, right - left};
    }
    ij_augment_apply(dst, im.pixels, im.height, im.width, im.channels, &c->aug, &box, &rest);
    ij_image_free(&im);
    return 0;
}

int ij_loader_build(const IjLoaderConfig *c, int64_t ipe, int64_t step, int *perm, int64_t *perm_epoch,
                    float *images, int parallel)
{
    int64_t epoch = step / ipe, k = step % ipe;
    int B = c->masks.batch;
    const size_t img = (size_t)c->data->channels * (size_t)c->aug.out_size * (size_t)c->aug.out_size;
    epoch_permutation(c, epoch, perm, perm_epoch);
    int failed = 0;
    if (parallel) {
        char first_error[1024] = "";
#pragma omp parallel for schedule(dynamic, 4)
        for (int b = c->lo; b < c->hi; b++) {
            if (build_image(c, epoch, perm[k * B + b], images + (size_t)(b - c->lo) * img)) {
#pragma omp critical(ij_loader_error)
                if (!failed++) snprintf(first_error, sizeof first_error, "%s", ij_last_error());
            }
        }
        if (failed) return ij_error("%s", first_error);
    } else {
        for (int b = c->lo; b < c->hi && !failed; b++)
            failed = build_image(c, epoch, perm[k * B + b], images + (size_t)(b - c->lo) * img);
        if (failed) return -1;
    }
    return 0;
}

/* Builds batch `step` into slot s, timing both parts. */
static void fill_slot(IjLoader *l, Worker *w, Slot *s, int64_t step, int parallel)
{
    double t0 = ij_now();
    s->failed = ij_loader_build(&l->cfg, l->ipe, step, w->perm, &w->perm_epoch, s->batch.images, parallel);
    double t1 = ij_now();
    if (!s->failed) s->failed = ij_mask_sample(&s->sampler, (uint64_t)step);
    double t2 = ij_now();
    if (s->failed) snprintf(s->error, sizeof s->error, "%s", ij_last_error());
    s->batch.step = step;
    s->batch.epoch = step / l->ipe;
    s->batch.ms_data = 1e3 * (t1 - t0);
    s->batch.ms_masks = 1e3 * (t2 - t1);
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    IjLoader *l = w->owner;
    IjLoaderState *st = l->st;
    int depth = l->cfg.depth;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        /* slot of next_build is free once the batch `depth` before it is released */
        while (!st->stop && st->slots[st->next_build % depth].state != SLOT_FREE)
            pthread_cond_wait(&st->freed, &st->mu);
        if (st->stop) break;
        int64_t step = st->next_build++;
        Slot *s = &st->slots[step % depth];
        s->state = SLOT_BUILDING;
        pthread_mutex_unlock(&st->mu);
        fill_slot(l, w, s, step, 0);
        pthread_mutex_lock(&st->mu);
        s->state = SLOT_READY;
        pthread_cond_broadcast(&st->ready);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

int ij_loader_init(IjLoader *l, const IjLoaderConfig *cfg, int64_t first_step)
{
    memset(l, 0, sizeof *l);
    IjLoaderConfig c = *cfg;
    int B = c.masks.batch;
    if (c.threads < 0 || c.threads > 64) return ij_error("loader threads %d out of range 0..64", c.threads);
    if (c.depth == 0) c.depth = c.threads + 1;
    if (c.depth < 1 || c.depth < c.threads) return ij_error("loader depth %d is below its %d threads", c.depth, c.threads);
    if (B < 1 || c.lo < 0 || c.hi <= c.lo || c.hi > B)
        return ij_error("loader slice [%d, %d) is not inside a batch of %d", c.lo, c.hi, B);
    if (c.data->count < B)
        return ij_error("%s: %d images are fewer than one batch of %d", c.data->source, c.data->count, B);
    if (ij_augment_check(&c.aug, c.data->channels)) return -1;
    l->cfg = c;
    l->ipe = c.data->count / B;
    IjLoaderState *st = l->st = calloc(1, sizeof *st);
    if (!st) return ij_error("out of memory");
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->ready, NULL);
    pthread_cond_init(&st->freed, NULL);
    st->slots = calloc((size_t)c.depth, sizeof *st->slots);
    int nw = c.threads > 0 ? c.threads : 1;
    st->workers = calloc((size_t)nw, sizeof *st->workers);
    if (!st->slots || !st->workers) {
        ij_loader_free(l);
        return ij_error("out of memory");
    }
    const size_t img = (size_t)c.data->channels * (size_t)c.aug.out_size * (size_t)c.aug.out_size;
    for (int i = 0; i < c.depth; i++) {
        Slot *s = &st->slots[i];
        s->batch.images = ij_alloc_aligned(sizeof(float) * img * (size_t)(c.hi - c.lo));
        if (ij_mask_sampler_init(&s->sampler, &c.masks)) {
            ij_loader_free(l);
            return -1;
        }
        s->batch.masks = &s->sampler.masks;
        s->batch.step = -1;
    }
    for (int i = 0; i < nw; i++) {
        st->workers[i] = (Worker){l, ij_malloc(sizeof(int) * (size_t)c.data->count), -1, 0};
    }
    st->next_build = st->next_out = first_step;
    for (int i = 0; i < c.threads; i++) {
        if (pthread_create(&st->workers[i].thread, NULL, worker_main, &st->workers[i])) {
            ij_loader_free(l);
            return ij_error("cannot start loader thread %d", i);
        }
        st->started++;
    }
    return 0;
}

const IjBatch *ij_loader_next(IjLoader *l)
{
    IjLoaderState *st = l->st;
    IJ_ASSERT(!st->out);
    int64_t step = st->next_out;
    Slot *s = &st->slots[step % l->cfg.depth];
    if (l->cfg.threads == 0) {
        fill_slot(l, &st->workers[0], s, step, 1);
    } else {
        pthread_mutex_lock(&st->mu);
        while (!(s->state == SLOT_READY && s->batch.step == step)) pthread_cond_wait(&st->ready, &st->mu);
        pthread_mutex_unlock(&st->mu);
    }
    st->out = 1;
    if (s->failed) {
        ij_error("%s", s->error);
        return NULL;
    }
    return &s->batch;
}

void ij_loader_release(IjLoader *l)
{
    IjLoaderState *st = l->st;
    IJ_ASSERT(st->out);
    pthread_mutex_lock(&st->mu);
    st->slots[st->next_out % l->cfg.depth].state = SLOT_FREE;
    st->next_out++;
    st->out = 0;
    pthread_cond_broadcast(&st->freed);
    pthread_mutex_unlock(&st->mu);
}

void ij_loader_free(IjLoader *l)
{
    IjLoaderState *st = l->st;
    if (!st) return;
    if (st->started) {
        pthread_mutex_lock(&st->mu);
        st->stop = 1;
        pthread_cond_broadcast(&st->freed);
        pthread_mutex_unlock(&st->mu);
        for (int i = 0; i < st->started; i++) pthread_join(st->workers[i].thread, NULL);
    }
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->ready);
    pthread_cond_destroy(&st->freed);
    int nw = l->cfg.threads > 0 ? l->cfg.threads : 1;
    for (int i = 0; st->workers && i < nw; i++) free(st->workers[i].perm);
    for (int i = 0; st->slots && i < l->cfg.depth; i++) {
        free(st->slots[i].batch.images);
        ij_mask_sampler_free(&st->slots[i].sampler);
    }
    free(st->slots);
    free(st->workers);
    free(st);
    memset(l, 0, sizeof *l);
}
