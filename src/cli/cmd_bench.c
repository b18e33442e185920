/* cmd_bench.c: `ijepa bench`: throughput of the training step (or of feature
 * extraction with --embed) on synthetic images, split by phase, with the
 * achieved GFLOP/s (counted from the matrix products run; also per phase), this machine's
 * sgemm peak measured on the spot, peak resident memory, and where the thread time went
 * (kernels/work_time.h). */
#include "cli/commands.h"

#include "backend/backend.h"
#include "backend/stack.h"
#include "cli/bench_kernels.h"
#include "cli/bench_peak.h"
#include "cli/model_args.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/timer.h"
#include "dist/dist.h"
#include "eval/embed.h"
#include "kernels/work_time.h"
#include "model/flops.h"
#include "train/loader.h"
#include "train/masks.h"
#include "train/optim.h"
#include "train/trainer.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ijepa bench [options]\n\n"
    "Time warm-up + N training steps (forward, backward, AdamW, EMA) of a model on random\n"
    "images with masks sampled as in training; print images/s, ms and GFLOP/s per step by phase,\n"
    "GFLOP/s of the matrix products, the fraction of this machine's sgemm peak (the median of\n"
    "2048^3 readings before, between and after the timed steps), peak memory, and\n"
    "the thread time by kind of work (row products, weight gradients, attention, the rest).\n"
    "--embed times feature extraction (target encoder, no gradients) instead.\n"
    "--bf16 runs the matrix products with bf16 operands (float32 sums) on the fastest path this\n"
    "CPU has (AVX512_BF16, else emulated; IJEPA_BF16_PATH=emulated|avx512bf16 forces one), and\n"
    "divides by the bf16 peak instead: the own bf16 kernel on a 2048^3 product on all threads.\n"
    "--kernels times each of the blocks' matrix products alone on one chunk of rows, one thread,\n"
    "the blocks' own kernel against OpenBLAS (ours also with the operands out of cache, as in a\n"
    "training step), then the weight gradients over 8 chunks' rows.\n"
    "--data SOURCE first times the data loader alone on real images (decode, crop, masks)\n"
    "with --loader-threads threads, then the training step, and prints their ratio.\n"
    "Under mpirun -np N (the MPI build), --batch-size is per rank: rank 0 first trains alone,\n"
    "then all N ranks train together with the gradient allreduce; it prints both rates, the\n"
    "scaling efficiency, and the allreduce of the gradient buffer alone.";

/* Images/s the loader alone delivers on `spec` (the consumer takes batches
 * and does nothing else), or -1 on error. */
static double bench_loader(const char *spec, const char *decode, int lthreads, const IjConfig *c,
                           const IjMaskParams *mp, int batches)
{
    IjLoadOptions lo = {.channels = c->channels, .keep_files = !strcmp(decode, "per-batch")};
    IjImageSet d;
    double t0 = ij_now();
    if (ij_imageset_load_opts(&d, spec, 1, &lo)) return -1;
    double t_load = ij_now() - t0;
    printf("data: %s: %d images, %s; loaded in %.1f s (%.0f images/s%s)\n", d.source, d.count,
           d.pixels ? "decoded once at load" : "kept as files, decoded per batch", t_load, d.count / t_load,
           d.pixels ? "" : ", a decode each to check them");
    IjLoaderConfig lc = {&d, {0}, *mp, 0, 0, mp->batch, lthreads, 0};
    ij_augment_defaults(&lc.aug, c->channels, c->img_size);
    IjLoader l;
    if (ij_loader_init(&l, &lc, 0)) {
        ij_imageset_free(&d);
        return -1;
    }
    double ms_data = 0, ms_masks = 0, ips = -1;
    t0 = ij_now();
    int i = 0;
    for (; i < batches; i++) {
        const IjBatch *b = ij_loader_next(&l);
        if (!b) break;
        ms_data += b->ms_data;
        ms_masks += b->ms_masks;
        ij_loader_release(&l);
    }
    double dt = ij_now() - t0;
    if (i == batches) {
        ips = (double)batches * mp->batch / dt;
        printf("loader: %d thread%s%s: %.0f images/s (%d batches of %d in %.2f s); per batch %.2f ms "
               "decode+crop+resize, %.2f ms masks\n",
               lthreads, lthreads == 1 ? "" : "s", lthreads ? "" : " (in the caller, OpenMP over images)", ips,
               batches, mp->batch, dt, ms_data / batches, ms_masks / batches);
    }
    ij_loader_free(&l);
    ij_imageset_free(&d);
    return ips;
}

/* Timed training steps (after `warmup` untimed ones) on images x with the masks of
 * steps 0, 1, ...; with red, the gradients are summed over the ranks (buckets start
 * during the backward pass). Returns the seconds of the timed steps (-1 on error);
 * adds their matrix-product FLOPs to *flops and the allreduce waits to *wait. */
static double dp_steps(IjModel *m, const float *x, IjMaskSampler *ms, int warmup, int steps, float *adam_m,
                       float *adam_v, IjGradReducer *red, double *flops, double *wait)
{
    IjAdamW opt = IJ_ADAMW_DEFAULT;
    m->grads_ready = red ? ij_grad_reducer_ready : NULL;
    m->grads_ready_ctx = red;
    double total = 0;
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = ij_now();
        if (ij_mask_sample(ms, (uint64_t)s)) return -1;
        ij_model_step(m, x, &ms->masks, 1);
        if (red && ij_grad_reducer_finish(red)) return -1;
        ij_adamw_ema_step(m->be, m->params, m->grads, adam_m, adam_v, &m->tab, &opt, 1e-4, 0.04, s + 1, m->target,
                          m->tab.n_encoder, 0.996);
        if (s < warmup) continue;
        total += ij_now() - t0;
        *flops += ij_model_step_flops(m, &ms->masks, 1).total;
        if (red) *wait += red->ms_wait;
    }
    m->grads_ready = NULL;
    return total;
}

/* Under mpirun -np N (weak scaling: every rank trains on `batch` images per step):
 * rank 0 alone while the others wait, then all ranks with the gradient allreduce;
 * then the allreduce of the whole gradient buffer alone. Rank 0 prints. */
static int bench_data_parallel(IjModel *m, const float *x, IjMaskSampler *ms, int batch, int warmup, int steps,
                               size_t bucket, double *flops, double *total)
{
    int N = ij_dist_size(), any, rc = -1;
    size_t n = m->tab.n_total;
    float *adam_m = ij_alloc_aligned(sizeof(float) * n), *adam_v = ij_alloc_aligned(sizeof(float) * n);
    IjGradReducer red;
    ij_grad_reducer_init(&red, m->grads, n, bucket);
    double solo = 0, scratch = 0, wait = 0, t[2];
    if (ij_dist_rank() == 0 && (solo = dp_steps(m, x, ms, warmup, steps, adam_m, adam_v, NULL, &scratch, &scratch)) < 0)
        goto out;
    if (ij_dist_any(0, &any)) goto out;  /* a barrier: the others waited for rank 0 */
    if ((*total = dp_steps(m, x, ms, warmup, steps, adam_m, adam_v, &red, flops, &wait)) < 0) goto out;
    /* the allreduce alone, 5 times, after a barrier */
    if (ij_dist_any(0, &any)) goto out;
    double c0 = ij_now();
    for (int k = 0; k < 5; k++) {
        ij_grad_reducer_ready(&red, 0);
        if (ij_grad_reducer_finish(&red)) goto out;
    }
    double comm = (ij_now() - c0) / 5;
    t[0] = *total;
    t[1] = comm;
    if (ij_dist_sum(t, 2)) goto out;  /* means over the ranks */
    double ips1 = steps * batch / solo, ipsN = (double)N * steps * batch / (t[0] / N), bytes = 4.0 * (double)n;
    printf("data parallel: %s; %d images per rank and step (global batch %d); allreduce in %d bucket%s%s\n",
           ij_dist_describe(), batch, N * batch, red.nbuckets, red.nbuckets > 1 ? "s" : "",
           red.nbuckets > 1 ? ", started during the backward pass" : " after the backward pass");
    printf("1 rank alone: %.1f images/s, %.1f ms per step\n", ips1, 1e3 * solo / steps);
    printf("%d ranks with the gradient allreduce: %.1f images/s in all (%.1f per rank), %.1f ms per step, of "
           "which %.1f waiting for the allreduce after the backward pass\n", N, ipsN, ipsN / N,
           1e3 * t[0] / N / steps, wait / steps);
    printf("scaling efficiency: %.1f%% (%d-rank images/s over %d x the 1-rank images/s)\n", 100 * ipsN / (N * ips1),
           N, N);
    printf("allreduce of the gradients alone: %zu floats (%.1f MB) in %.2f ms: %.2f GB/s algorithm bandwidth, "
           "%.2f GB/s bus bandwidth (x 2(N-1)/N)\n", n, bytes * 1e-6, 1e3 * t[1] / N, bytes / (t[1] / N) * 1e-9,
           bytes * 2.0 * (N - 1) / N / (t[1] / N) * 1e-9);
    rc = 0;
out:
    ij_grad_reducer_free(&red);
    free(adam_m);
    free(adam_v);
    return rc;
}

/* Where the timed steps' thread time went (see work_time.h), with each kind's GFLOP/s per thread. */
static void print_work_time(double wall, double peak, const char *peak_name)
{
    static const char *name[IJ_WORK_KINDS] = {"row products", "weight gradients", "attention"};
    int threads = omp_get_max_threads();
    double all = wall * threads, rest = all;
    printf("thread time (%d x %.2f s): ", threads, wall);
    for (int k = 0; k < IJ_WORK_KINDS; k++) {
        double sec, fl;
        ij_work_time_read((IjWorkKind)k, &sec, &fl);
        if (sec <= 0) continue; /* a kind that did not run (no weight gradients in feature extraction) */
        rest -= sec;
        printf("%s %.1f%% at %.1f GFLOP/s | ", name[k], 100 * sec / all, fl / sec * 1e-9);
    }
    printf("the rest %.1f%% (LayerNorm, GELU, loss, packing, AdamW+EMA); %s peak per thread %.1f "
           "GFLOP/s\n", 100 * rest / all, peak_name, peak / threads);
}

/* What the timed training steps add up to (seconds, FLOPs, tokens per image: sums over the steps). */
typedef struct {
    double total, wait, target, context, predictor, backward, optim, ctx_tokens, tgt_tokens;
    IjStepFlops flops;
} StepTimes;

/* The library's training step, ij_trainer_step (the loader thread with its crops and masks, the model,
 * AdamW, the EMA), on synthetic images: two batches of random pixels, cropped as in training. */
static int bench_train(const IjTrainConfig *tc0, int warmup, int steps, BenchPeak *peak, StepTimes *tm)
{
    IjTrainConfig tc = *tc0;
    const int B = tc.batch_size, S = tc.crop_size, C = tc.channels;
    IjImageSet set = {.count = 2 * B, .height = S, .width = S, .channels = C};
    snprintf(set.source, sizeof set.source, "synthetic");
    set.pixels = ij_malloc((size_t)set.count * S * S * C);
    IjRng r = ij_rng(0, 99, 0);
    for (size_t i = 0; i < (size_t)set.count * S * S * C; i++) set.pixels[i] = (uint8_t)(ij_rng_uniform(&r) * 256);
    tc.epochs = (warmup + steps) / 2 + 1;
    tc.warmup = 1;
    IjTrainer t = {0};
    int rc = ij_trainer_init(&t, &tc, &set);
    memset(tm, 0, sizeof *tm);
    for (int s = 0; !rc && s < warmup + steps; s++) {
        if (s == warmup) ij_work_time_start();
        IjStepStats st;
        if ((rc = ij_trainer_step(&t, &st))) break;
        if (s < warmup) continue;
        tm->total += st.ms_total / 1e3;
        tm->wait += st.ms_wait / 1e3;
        tm->target += t.model.time.target;
        tm->context += t.model.time.context;
        tm->predictor += t.model.time.predictor;
        tm->backward += t.model.time.backward;
        tm->optim += st.ms_optim / 1e3;
        tm->ctx_tokens += st.ctx_tokens;
        tm->tgt_tokens += st.tgt_tokens;
        tm->flops.target += st.flops.target, tm->flops.context += st.flops.context;
        tm->flops.predictor += st.flops.predictor, tm->flops.backward += st.flops.backward;
        tm->flops.total += st.flops.total;
        bench_peak_between(peak, s + 1 - warmup, steps);
    }
    ij_trainer_free(&t); /* after a failed init: already freed and zeroed */
    free(set.pixels);
    return rc;
}

/* Feature extraction (embed) or, under mpirun, the data-parallel steps, on a model of its own and
 * `batch` random images. */
static int bench_model(const IjConfig *c, const IjMaskParams *mp, int batch, int warmup, int steps, int embed,
                       double bucket_mb, BenchPeak *peak, double *flops, double *total)
{
    IjModel m; /* feature extraction needs the encoder alone, as embed builds it (--bf16: held as bf16) */
    if (embed && peak->bf16 ? ij_model_init_encoder_bf16(&m, c, 0, peak->bf16)
        : embed             ? ij_model_init_encoder(&m, c, 0)
                            : ij_model_init(&m, c, 0))
        return -1;
    ij_model_set_bf16(&m, peak->bf16);
    size_t img = (size_t)c->channels * c->img_size * c->img_size;
    float *x = ij_alloc_aligned(sizeof(float) * img * (size_t)batch), *feat = NULL;
    IjRng r = ij_rng(0, 99, 0);
    for (size_t i = 0; i < img * (size_t)batch; i++) x[i] = (float)ij_rng_normal(&r);
    IjMaskSampler ms = {0};
    int rc = ij_mask_sampler_init(&ms, mp);
    if (rc == 0 && embed) {
        feat = ij_malloc(sizeof(float) * (size_t)batch * c->embed_dim);
        for (int s = 0; s < warmup + steps; s++) {
            if (s == warmup) ij_work_time_start();
            double t0 = ij_now();
            ij_embed_batch(&m, &m.tenc, x, batch, IJ_POOL_LAST, feat);
            if (s >= warmup) {
                *total += ij_now() - t0;
                *flops += batch * ij_encoder_image_flops(c);
                bench_peak_between(peak, s + 1 - warmup, steps);
            }
        }
        printf("embed: %.1f images/s, %.1f ms per batch of %d\n", steps * batch / *total, 1e3 * *total / steps, batch);
    } else if (rc == 0) {
        size_t bucket = (size_t)(bucket_mb * (1 << 20) / sizeof(float));
        rc = bench_data_parallel(&m, x, &ms, batch, warmup, steps, bucket, flops, total);
    }
    ij_mask_sampler_free(&ms);
    free(x);
    free(feat);
    ij_model_free(&m);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    ModelArgs ma;
    model_args_defaults(&ma, "vit_tiny", 28, 1, 4, 96, 6);
    int batch = 128, steps = 10, warmup = 5, embed = 0, kernels = 0, threads = 0, num_targets = 4, min_keep = 4;
    int bf16 = 0;
    const char *masks = "official", *data = NULL, *decode = "once";
    int loader_threads = 1, loader_batches = 200;
    double bucket_mb = 4;
    Option o[MODEL_ARGS_COUNT + 15];
    int n = model_args_options(o, &ma);
    o[n++] = (Option){"batch-size", OPT_INT, &batch, "images per step", 1, 1 << 20, NULL};
    o[n++] = (Option){"steps", OPT_INT, &steps, "timed steps", 1, 1 << 20, NULL};
    o[n++] = (Option){"warmup", OPT_INT, &warmup, "untimed steps first (ragged mask sizes grow the scratch buffers during the first steps)", 0, 1 << 20, NULL};
    o[n++] = (Option){"embed", OPT_FLAG, &embed, "time feature extraction instead of training", 0, -1, NULL};
    o[n++] = (Option){"kernels", OPT_FLAG, &kernels, "time the blocks' products alone (one thread, own kernel vs OpenBLAS)", 0, -1, NULL};
    o[n++] = (Option)OPT_THREADS(threads);
    o[n++] = (Option){"bf16", OPT_SWITCH, &bf16, "bf16 operands in the matrix products, float32 sums (meta.use_bfloat16)", 0, -1, NULL};
    char masks_help[160];
    snprintf(masks_help, sizeof masks_help, "mask sampler: %s (train/masks.h)", ij_mask_mode_list());
    o[n++] = (Option){"masks", OPT_STRING, &masks, masks_help, 0, -1, NULL};
    o[n++] = (Option){"num-targets", OPT_INT, &num_targets, "target blocks", 1, 64, NULL};
    o[n++] = (Option){"min-keep", OPT_INT, &min_keep, "least context tokens", 0, 1 << 20, NULL};
    o[n++] = (Option){"data", OPT_STRING, &data, "also time the data loader on this source (see train --data)", 0, -1, NULL};
    o[n++] = (Option){"decode", OPT_STRING, &decode, "with --data: once or per-batch (see train --decode)", 0, -1, NULL};
    o[n++] = (Option){"loader-threads", OPT_INT, &loader_threads, "with --data: loader threads", 0, 64, NULL};
    o[n++] = (Option){"loader-batches", OPT_INT, &loader_batches, "with --data: batches the loader is timed on", 1, 1 << 20, NULL};
    o[n++] = (Option){"bucket-mb", OPT_FLOAT, &bucket_mb, "mpirun: gradient allreduce bucket in MiB (0: one allreduce after the backward pass)", 0, 1 << 20, NULL};
    int rc = opt_parse(o, n, argc, argv, 2, usage);
    if (rc) return rc < 0 ? -1 : 0;
    IjMaskMode mode;
    if (ij_mask_mode_parse(masks, &mode)) return -1;
    if (strcmp(decode, "once") && strcmp(decode, "per-batch"))
        return opt_usage_error("--decode must be 'once' or 'per-batch', got '%s'", decode);
    opt_apply_threads(threads);
    IjConfig c;
    if (model_args_config(&ma, &c)) return -1;
    if (kernels) {
        model_config_print(&c);
        return bench_kernels(&c, IJ_CHUNK_ROWS);
    }
    /* The sgemm peak: read before the model exists, between the timed steps and after them (see
     * bench_peak.h; rank 0 only under mpirun, before and after) */
    BenchPeak peak = {0};
    if (bf16 && ij_bf16_path_choose(&peak.bf16)) return -1;
    printf("cpu: %s; backend: %s; matrix products: %s\n", ij_cpu_flags(), ij_backend_default()->name,
           peak.bf16 ? (peak.bf16 == IJ_BF16_AVX512 ? "bf16 operands, AVX512_BF16 (vdpbf16ps)" : "bf16 operands, emulated (float32 FMAs on rounded operands)")
                     : "float32");
    const int root = ij_dist_rank() == 0;
    if (root) bench_peak_begin(&peak);
    if (ij_dist_size() > 1) peak.between = 0;
    model_config_print(&c);
    IjMaskParams mp;
    ij_mask_params_default(&mp, ij_grid(&c), batch);
    mp.mode = mode;
    mp.num_targets = num_targets;
    mp.min_keep = min_keep;
    double loader_ips = 0;
    if (data && (loader_ips = bench_loader(data, decode, loader_threads, &c, &mp, loader_batches)) < 0) return -1;
    printf("threads: %d OpenMP, %d BLAS; batch %d; %d warm-up + %d timed steps\n", omp_get_max_threads(),
           openblas_get_num_threads(), batch, warmup, steps);
    double flops = 0, total = 0;
    if (embed || ij_dist_size() > 1) {
        if (bench_model(&c, &mp, batch, warmup, steps, embed, bucket_mb, &peak, &flops, &total)) return -1;
    } else {
        IjTrainConfig tc = ma.tc;
        tc.batch_size = batch;
        snprintf(tc.masks, sizeof tc.masks, "%s", masks);
        tc.num_pred_masks = num_targets;
        tc.min_keep = min_keep;
        tc.use_bfloat16 = peak.bf16 != 0;
        tc.threads = threads;
        StepTimes tm;
        if (bench_train(&tc, warmup, steps, &peak, &tm)) return -1;
        flops = tm.flops.total, total = tm.total;
        const double ips = steps * batch / total, ms = 1e3 / steps;
        printf("train: %.1f images/s, %.1f ms per step (ij_trainer_step; masks %s: %.1f context, %.1f target "
               "tokens per image)\n", ips, ms * total, masks, tm.ctx_tokens / steps, tm.tgt_tokens / steps);
        printf("ms per step: waiting for the loader %.1f | target fwd %.1f | context fwd %.1f | predictor fwd + loss "
               "%.1f | backward %.1f | AdamW+EMA %.1f\n",
               ms * tm.wait, ms * tm.target, ms * tm.context, ms * tm.predictor, ms * tm.backward, ms * tm.optim);
        printf("GFLOP per image: %.3f (matrix products actually run)\n", flops / steps / batch * 1e-9);
        printf("GFLOP/s by phase: target fwd %.1f | context fwd %.1f | predictor fwd + loss %.1f | backward %.1f\n",
               tm.flops.target / tm.target * 1e-9, tm.flops.context / tm.context * 1e-9,
               tm.flops.predictor / tm.predictor * 1e-9, tm.flops.backward / tm.backward * 1e-9);
        if (data)
            printf("the loader delivers %.1fx the images/s that training consumes (%.0f vs %.1f)\n", loader_ips / ips,
                   loader_ips, ips);
    }
    ij_work_time_stop();
    double achieved = flops / total * 1e-9;
    if (root) { /* the other ranks finish meanwhile */
        bench_peak_end(&peak);
        double lo, med, hi;
        bench_peak_summary(&peak, &lo, &med, &hi);
        printf("achieved %.1f GFLOP/s; %s peak (2048^3, best of 3 runs), %d readings %s: median %.1f GFLOP/s "
               "(%.1f-%.1f); %.0f%% of peak (%.0f%% of the highest reading)\n",
               achieved, peak.bf16 ? "bf16" : "sgemm", peak.n, peak.n > 2 ? "before, between and after the timed steps" : "before and after the timed steps",
               med, lo, hi, 100 * achieved / med, 100 * achieved / hi);
        if (ij_dist_size() == 1) print_work_time(total, med, peak.bf16 ? "bf16" : "sgemm");
        printf("peak resident memory: %.0f MiB (without the peak readings' matrices)\n", peak.rss_mib);
    }
    return 0;
}
