/* cmd_viz.c: `ijepa viz`: pictures of a training run (eval/pictures.h):
 * masks.png (every masking strategy over sample images), pca.png (first 3
 * principal components of the target encoder's patch features as RGB),
 * nearest.png (nearest training patches to the predictor's outputs) and
 * curves.png redrawn from metrics.jsonl. Images: the LAST --images images of
 * the training split are shown, the FIRST --bank ones fit the PCA and form
 * the patch bank, so shown images are never in the bank. */
#include "cli/commands.h"

#include "cli/eval_common.h"
#include "cli/options.h"
#include "core/error.h"
#include "eval/diagnostics.h"
#include "eval/pictures.h"
#include "io/curves.h"
#include "io/fsutil.h"
#include "train/train_config.h"

#include <cblas.h>
#include <glob.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ijepa viz --run RUN_DIR [--what masks,pca,nearest,curves,learning] [options]\n\n"
    "Pictures of a run (its config.yaml and checkpoint.safetensors): masks.png (each masking\n"
    "strategy drawn over sample images), pca.png (first 3 principal components of the target\n"
    "encoder's patch features as RGB, beside the images), nearest.png (for the target patches\n"
    "of a few images, the training patch whose target feature is nearest to the predictor's\n"
    "output) and curves.png (loss, online probe, collapse diagnostics). Written to --out.\n"
    "--what learning (not in the default set) draws learning.png: the linear, attentive and\n"
    "k-NN test accuracies of `ijepa probe` runs on the run's checkpoints (--probes) against\n"
    "hours of training, with the random-init and raw-pixel levels as lines.";

/* learning.png from the probe.json files that the pattern(s) in probes match (comma separated globs). */
static int draw_learning(const char *run, const char *out, const char *probes, const char *title)
{
    char metrics[1200], png[1300], pat[1200];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", run);
    snprintf(png, sizeof png, "%s/learning.png", out);
    if (!probes) {
        snprintf(pat, sizeof pat, "%s/probes/*/probe.json", run);
        probes = pat;
    }
    glob_t g = {0};
    char *list = strdup(probes);
    int flags = 0;
    for (char *save = NULL, *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        glob(p, flags, NULL, &g);
        flags = GLOB_APPEND;
    }
    free(list);
    int rc = g.gl_pathc ? ij_learning_png(metrics, (const char *const *)g.gl_pathv, (int)g.gl_pathc, png,
                                                      title ? title : run)
                        : ij_error("--probes '%s' matches no file", probes);
    if (!rc) printf("wrote %s (%zu probe results)\n", png, g.gl_pathc);
    globfree(&g);
    return rc;
}

int cmd_viz(int argc, char **argv)
{
    const char *run = NULL, *out = NULL, *what = "masks,pca,nearest,curves", *checkpoint = NULL, *title = NULL;
    const char *probes = NULL;
    int nshow = 8, nbank = 1000, scale = 3, counter = 0, threads = 0;
    Option o[] = {
        {"run", OPT_STRING, &run, "run folder (config.yaml, checkpoint.safetensors, metrics.jsonl)", 0, -1, NULL},
        {"checkpoint", OPT_STRING, &checkpoint, "another checkpoint of the same shape (default: RUN/checkpoint.safetensors)", 0, -1, NULL},
        {"out", OPT_STRING, &out, "folder for the pictures (default: the run folder)", 0, -1, NULL},
        {"what", OPT_STRING, &what, "pictures to draw: masks, pca, nearest, curves, learning (comma separated)", 0, -1, NULL},
        {"probes", OPT_STRING, &probes, "learning: probe.json files, comma separated globs (default: RUN/probes/*/probe.json)", 0, -1, NULL},
        {"title", OPT_STRING, &title, "title line of pca.png, nearest.png and learning.png (default: the run folder)", 0, -1, NULL},
        {"images", OPT_INT, &nshow, "images shown", 1, 64, NULL},
        {"bank", OPT_INT, &nbank, "training images that fit the PCA and form the patch bank", 1, 20000, NULL},
        {"scale", OPT_INT, &scale, "screen pixels per image pixel", 1, 32, NULL},
        {"counter", OPT_INT, &counter, "batch counter of the masks drawn", 0, 2147483647, NULL},
        OPT_THREADS(threads),
    };
    int rc = opt_parse(o, (int)(sizeof o / sizeof o[0]), argc, argv, 2, usage);
    if (rc) return rc < 0 ? -1 : 0;
    if (!run) return opt_usage_error("--run is required (see --help)");
    opt_apply_threads(threads);
    if (!out) out = run;
    if (!title) title = run;
    int want_masks = !!strstr(what, "masks"), want_pca = !!strstr(what, "pca");
    int want_near = !!strstr(what, "nearest"), want_curves = !!strstr(what, "curves");
    int want_learning = !!strstr(what, "learning");
    if (!(want_masks || want_pca || want_near || want_curves || want_learning))
        return ij_error("--what '%s' names no picture (masks, pca, nearest, curves, learning)", what);
    if (want_learning && (ij_mkdirs(out) || draw_learning(run, out, probes, title))) return -1;
    if (!(want_masks || want_pca || want_near || want_curves)) return 0;
    char path[1200], ckpt[1200];
    IjTrainConfig c;
    ij_train_config_defaults(&c);
    snprintf(path, sizeof path, "%s/config.yaml", run);
    if (ij_train_config_load_yaml(&c, path) || ij_train_config_validate(&c) || ij_mkdirs(out)) return -1;
    if (want_curves) {
        char png[1300];
        snprintf(path, sizeof path, "%s/metrics.jsonl", run);
        snprintf(png, sizeof png, "%s/curves.png", out);
        if (ij_curves_png(path, png, run)) return -1;
        printf("wrote %s\n", png);
    }
    if (!(want_masks || want_pca || want_near)) return 0;

    IjConfig mc;
    if (ij_train_config_model(&c, &mc)) return -1;
    IjImageSet data;
    IjLoadOptions lo = {.channels = c.channels};
    if (ij_imageset_load_opts(&data, c.data, 1, &lo)) return -1;
    IjModel m = {0};
    int loaded = 0, *idx = NULL;
    float *show = NULL, *bank = NULL;
    rc = -1;
    if (data.count < nshow + nbank || !data.pixels) {
        ij_error("%s: %d images (decoded) are fewer than --images %d + --bank %d", c.data, data.count, nshow, nbank);
        goto done;
    }
    IjAugment aug;
    idx = ij_malloc(sizeof(int) * (size_t)(nshow > nbank ? nshow : nbank));
    for (int i = 0; i < nshow; i++) idx[i] = data.count - nshow + i;
    show = ij_pictures_prepare(&data, idx, nshow, c.channels, c.crop_size, &aug);
    IjMaskParams mp;
    if (ij_train_config_masks(&c, ij_grid(&mc), nshow, &mp)) goto done;
    if (want_masks) {
        static const IjMaskMode modes[] = {IJ_MASKS_OFFICIAL, IJ_MASKS_FIXED, IJ_MASKS_BLOCK, IJ_MASKS_RANDOM,
                                           IJ_MASKS_RASTER};
        snprintf(path, sizeof path, "%s/masks.png", out);
        if (ij_picture_masks(path, show, nshow, c.channels, &aug, c.patch_size, &mp, modes, 5, (uint64_t)counter,
                             scale + 1))
            goto done;
        printf("wrote %s\n", path);
    }
    if (want_pca || want_near) {
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", run);
        if (eval_load_model(&m, checkpoint ? checkpoint : ckpt, 0, NULL, NULL)) goto done;
        loaded = 1;
        if (memcmp(&m.cfg, &mc, sizeof mc) != 0) {
            ij_error("%s: the checkpoint's model differs from the run's config.yaml", checkpoint ? checkpoint : ckpt);
            goto done;
        }
        m.target_norm = c.target_norm;
        for (int i = 0; i < nbank; i++) idx[i] = i;
        bank = ij_pictures_prepare(&data, idx, nbank, c.channels, c.crop_size, &aug);
        /* the collapse diagnostics of this checkpoint, on the first (up to 128) bank images */
        IjMaskParams dp = mp;
        dp.batch = nbank < 128 ? nbank : 128;
        IjMaskSampler ds;
        IjDiagnostics dg;
        if (dp.batch >= 2) {
            if (ij_mask_sampler_init(&ds, &dp)) goto done;
            int e = ij_mask_sample(&ds, (uint64_t)counter) || ij_diagnostics(&m, bank, &ds.masks, &dg);
            ij_mask_sampler_free(&ds);
            if (e) goto done;
            printf("diagnostics on %d training images: effective rank %.2f, mean cosine %.4f, target std %.3f, "
                   "pred std %.3f\n", dp.batch, dg.erank, dg.cosine, dg.target_std, dg.pred_std);
        }
    }
    if (want_pca) {
        char t[512];
        snprintf(t, sizeof t, "%.400s: PCA of target-encoder patch features (RGB = PC 1-3)", title);
        snprintf(path, sizeof path, "%s/pca.png", out);
        if (ij_picture_pca(path, &m, bank, nbank < 1000 ? nbank : 1000, show, nshow, &aug, t, scale)) goto done;
        printf("wrote %s\n", path);
    }
    if (want_near) {
        char t[512];
        double agree;
        snprintf(t, sizeof t, "%.400s: nearest of %d training images' patches", title, nbank);
        snprintf(path, sizeof path, "%s/nearest.png", out);
        if (ij_picture_nearest(path, &m, bank, nbank, show, nshow, &aug, &mp, (uint64_t)counter, t, scale + 1,
                               &agree))
            goto done;
        printf("wrote %s (%.1f%% of predicted patches retrieve the same bank patch as their true target)\n", path,
               100 * agree);
    }
    rc = 0;
done:
    if (loaded) ij_model_free(&m);
    free(idx), free(show), free(bank);
    ij_imageset_free(&data);
    return rc;
}
