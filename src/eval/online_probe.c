/* online_probe.c: see online_probe.h. */
#include "eval/online_probe.h"

#include "core/error.h"
#include "core/rng.h"
#include "core/timer.h"
#include "eval/embed.h"
#include "eval/probe.h"

#include <stdlib.h>
#include <string.h>

/* Copies images idx[0..n) of src as pixels (decoding a keep_files set). */
static int take(IjImageSet *dst, const IjImageSet *src, const int *idx, int n)
{
    *dst = *src;
    dst->class_names = NULL; /* owned by src */
    dst->files = NULL;
    dst->file_off = NULL;
    dst->file_hw = NULL;
    size_t img = (size_t)src->height * src->width * src->channels;
    dst->count = n;
    dst->pixels = ij_malloc(img * (size_t)n);
    dst->labels = ij_malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
        dst->labels[i] = src->labels[idx[i]];
        if (src->pixels) {
            memcpy(dst->pixels + img * i, ij_imageset_image(src, idx[i]), img);
            continue;
        }
        IjImage im;
        if (ij_imageset_decode(src, idx[i], 0, &im)) return -1;
        memcpy(dst->pixels + img * i, im.pixels, img);
        ij_image_free(&im);
    }
    return 0;
}

int ij_online_probe_init(IjOnlineProbe *p, const IjImageSet *train, int n_fit, int n_held, uint64_t seed,
                         IjPool pool)
{
    memset(p, 0, sizeof *p);
    p->pool = pool;
    if (!train->labels) return ij_error("%s: the online probe needs labels", train->source);
    if (n_fit + n_held > train->count)
        return ij_error("online probe wants %d + %d images, the data has %d", n_fit, n_held, train->count);
    if (train->height == 0)
        return ij_error("%s: images differ in size; the online probe needs one size", train->source);
    int *perm = ij_malloc(sizeof(int) * (size_t)train->count);
    for (int i = 0; i < train->count; i++) perm[i] = i;
    IjRng r = ij_rng(seed, 0x0b5e, 0);
    for (int i = train->count - 1; i > 0; i--) {
        int j = (int)ij_rng_below(&r, (uint64_t)i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int rc = take(&p->fit, train, perm, n_fit);
    if (!rc) rc = take(&p->held, train, perm + n_fit, n_held);
    free(perm);
    if (rc) ij_online_probe_free(p);
    return rc;
}

void ij_online_probe_free(IjOnlineProbe *p)
{
    ij_imageset_free(&p->fit);
    ij_imageset_free(&p->held);
    free(p->xfit);
    free(p->xheld);
    memset(p, 0, sizeof *p);
}

int ij_online_probe_run(IjOnlineProbe *p, IjModel *m, IjOnlineProbeResult *r)
{
    double t0 = ij_now();
    int d = ij_embed_dim(&m->cfg, p->pool), C = p->fit.num_classes;
    if (!p->xfit) {
        p->xfit = ij_malloc(sizeof(float) * (size_t)p->fit.count * d);
        p->xheld = ij_malloc(sizeof(float) * (size_t)p->held.count * d);
    }
    if (ij_embed_dataset(m, &m->tenc, &p->fit, NULL, p->pool, 256, p->xfit, NULL, NULL, NULL) ||
        ij_embed_dataset(m, &m->tenc, &p->held, NULL, p->pool, 256, p->xheld, NULL, NULL, NULL))
        return -1;
    IjProbeOptions po;
    ij_probe_default_options(&po);
    IjProbeResult pr;
    if (ij_linear_probe(p->xfit, p->fit.labels, p->fit.count, p->xheld, p->held.labels, p->held.count, d,
                        C, &po, &pr))
        return -1;
    IjKnnOptions ko;
    ij_knn_default_options(&ko);
    IjKnnResult kr;
    if (ij_knn(p->xfit, p->fit.labels, p->fit.count, p->xheld, p->held.labels, p->held.count, d, C, &ko, &kr))
        return -1;
    r->linear = pr.test_acc;
    r->knn = kr.acc_knn;
    r->seconds = ij_now() - t0;
    return 0;
}
