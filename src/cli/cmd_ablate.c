/* cmd_ablate.c: `ijepa ablate`: a grid of short pretrainings that differ from a
 * base configuration in one thing each (masking strategy, EMA, target
 * LayerNorm, context / target scales, number of targets, predictor size).
 *
 * Every run is `ijepa train` (the same code path, in-process) with the base
 * flags, then the variant's flags, then OUT/<variant> as its folder, so every
 * run gets the same budget (--steps or --minutes in the base flags). Each run
 * ends with the online probe (a fit / held-out split of the TRAINING set; the
 * test set is never used to compare variants) and the collapse diagnostics;
 * --full-probe also runs `ijepa probe` (test split, for reporting only).
 * Results: OUT/ablate.md (a table in the style of the paper's Tables 6-10),
 * OUT/ablate.json and OUT/ablate_curves.png. A run folder holding
 * ablate_done is reused, so an interrupted grid continues where it stopped.
 */
#include "cli/commands.h"

#include "cli/options.h"
#include "core/error.h"
#include "io/curves.h"
#include "io/fsutil.h"
#include "train/train_config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ijepa ablate --out DIR [--grid LIST] [--variants 'NAME=FLAGS;...'] [options] -- TRAIN FLAGS...\n\n"
    "Run short pretrainings that each change one thing from a base configuration (the train\n"
    "flags after '--', e.g. --config docs/fmnist_recipe.yaml --steps 200), score each with the\n"
    "online probe on held-out TRAINING images and the collapse diagnostics, and write\n"
    "DIR/ablate.md, DIR/ablate.json, DIR/ablate_curves.png and one run folder per variant.\n"
    "The train flags after '--' are those of `ijepa train --help` (--threads N among them).\n"
    "--grid takes variant names and group names (comma separated): see the lists below.\n";

typedef struct {
    const char *name, *what, *flags;
} Variant;

/* Named variants: "what" is the table's "what changed" column. */
static const Variant known[] = {
    {"base", "nothing (the base configuration)", ""},
    {"official", "masks: official multi-block collator (4 targets, batch-wide sizes, truncation)", "--masks official"},
    {"fixed", "masks: corrected multi-block (4 targets of 0.15-0.2, context block 0.85-1)", "--masks fixed"},
    {"block", "masks: one target block of 60%, context = the rest", "--masks block"},
    {"random", "masks: 60% random tokens as target, context = the rest", "--masks random"},
    {"raster", "masks: one quadrant as context, the other three as targets", "--masks raster"},
    {"ema-off", "no EMA: target = copy of the encoder after each step", "--ema off"},
    {"target-norm-off", "no LayerNorm on the targets", "--target-norm off"},
    {"ema-off-target-norm-off", "no EMA and no target LayerNorm", "--ema off --target-norm off"},
    {"context-1", "context scale (1.0, 1.0): the whole image minus the targets", "--context-scale 1,1"},
    {"context-0.4", "context scale (0.4, 0.6)", "--context-scale 0.4,0.6"},
    {"targets-1", "1 target block", "--num-targets 1"},
    {"targets-2", "2 target blocks", "--num-targets 2"},
    {"target-scale-small", "target scale (0.075, 0.1)", "--target-scale 0.075,0.1"},
    {"target-scale-large", "target scale (0.3, 0.4)", "--target-scale 0.3,0.4"},
    {"pred-depth-1", "predictor depth 1", "--pred-depth 1"},
    {"pred-depth-8", "predictor depth 8", "--pred-depth 8"},
    {"pred-dim-48", "predictor width 48", "--pred-dim 48"},
    {"pred-dim-192", "predictor width 192", "--pred-dim 192"},
};
static const struct {
    const char *name, *members;
} groups[] = {
    {"masks", "official,fixed,block,random,raster"},
    {"ema", "base,ema-off"},
    {"target-norm", "base,target-norm-off"},
    {"collapse", "base,ema-off,target-norm-off,ema-off-target-norm-off"},
    {"context", "base,context-1,context-0.4"},
    {"targets", "targets-1,targets-2,base"},
    {"target-scale", "target-scale-small,base,target-scale-large"},
    {"predictor", "pred-depth-1,base,pred-depth-8,pred-dim-48,pred-dim-192"},
};
#define NKNOWN (int)(sizeof known / sizeof known[0])
#define NGROUPS (int)(sizeof groups / sizeof groups[0])
enum { MAX_RUNS = 64, MAX_ARGS = 256 };

typedef struct {
    Variant v;
    /* end-of-run results (NAN when missing) */
    double steps, minutes, loss, linear, knn, target_std, pred_std, erank, cosine, test_linear, test_knn;
    char failed[256];  /* why the run stopped early ("" when it finished) */
} Run;

static int add_run(Run *runs, int *n, const Variant *v)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(runs[i].v.name, v->name)) return 0; /* listed twice: run once */
    if (*n == MAX_RUNS) return ij_error("more than %d variants", MAX_RUNS);
    runs[(*n)++].v = *v;
    return 0;
}

/* One item of --grid: a variant or a group name. */
static int add_item(Run *runs, int *n, const char *item, int depth)
{
    for (int i = 0; i < NKNOWN; i++)
        if (!strcmp(item, known[i].name)) return add_run(runs, n, &known[i]);
    for (int g = 0; g < NGROUPS && depth == 0; g++) {
        if (strcmp(item, groups[g].name)) continue;
        char buf[256];
        snprintf(buf, sizeof buf, "%s", groups[g].members);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
            if (add_item(runs, n, t, 1)) return -1;
        return 0;
    }
    return ij_error("--grid: unknown variant or group '%s' (see ijepa ablate --help)", item);
}

/* Splits s in place at runs of `sep` characters; returns the count or -1 past max. */
static int split(char *s, const char *sep, char **out, int max)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(s, sep, &save); t; t = strtok_r(NULL, sep, &save)) {
        if (n == max) return -1;
        out[n++] = t;
    }
    return n;
}

static double num(json_t *o, const char *key)
{
    json_t *x = json_object_get(o, key);
    return x && json_is_number(x) ? json_number_value(x) : NAN;
}

/* The last value of each field in the run's metrics.jsonl; the random-init point
 * (the step-0 probe, if any) into *init. */
static int read_metrics(const char *dir, Run *r, Run *init)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return ij_error("%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o) continue;
        double step = num(o, "step");
        Run *dst = step == 0 && init ? init : r;
        if (!isnan(num(o, "loss"))) dst->loss = num(o, "loss"), r->steps = step, r->minutes = num(o, "minutes");
        if (!isnan(num(o, "probe_linear"))) dst->linear = num(o, "probe_linear"), dst->knn = num(o, "probe_knn");
        if (!isnan(num(o, "erank"))) {
            dst->target_std = num(o, "target_std"), dst->pred_std = num(o, "pred_std");
            dst->erank = num(o, "erank"), dst->cosine = num(o, "cosine");
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    return 0;
}

static int read_full_probe(const char *dir, Run *r)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/probe.json", dir);
    json_t *doc = json_load_file(path, 0, NULL);
    json_t *row = doc ? json_array_get(json_object_get(doc, "rows"), 0) : NULL;
    if (!row) {
        json_decref(doc);
        return ij_error("%s: no probe rows", path);
    }
    r->test_linear = num(json_object_get(row, "linear"), "test_acc");
    r->test_knn = num(json_object_get(row, "knn"), "acc_knn");
    json_decref(doc);
    return 0;
}

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f) fclose(f);
    return f != NULL;
}

/* The run of `ijepa train BASE... VARIANT... --out DIR --probe-every P --probe-start S`: the flags are
 * parsed as train parses them, then the library runs it (train/run.h). */
static int train_one(const Run *r, char **base, int nbase, const char *dir, int probe_every, int probe_start,
                     int diag_every)
{
    char *args[MAX_ARGS], flags[1024], pe[32], de[32];
    int n = 0;
    args[n++] = "ijepa";
    args[n++] = "train";
    if (nbase > MAX_ARGS - 16) return ij_error("more than %d train flags", MAX_ARGS - 16);
    for (int i = 0; i < nbase; i++) args[n++] = base[i];
    snprintf(flags, sizeof flags, "%s", r->v.flags);
    int nf = split(flags, " ", args + n, MAX_ARGS - 16 - n);
    if (nf < 0) return ij_error("%s: too many flags", r->v.name);
    n += nf;
    snprintf(pe, sizeof pe, "%d", probe_every);
    snprintf(de, sizeof de, "%d", diag_every);
    /* --force: a variant that did not finish is trained again from the start */
    const char *tail[] = {"--out", dir, "--probe-every", pe, "--probe-start", probe_start ? "on" : "off",
                          "--diag-every", de, "--force"};
    for (int i = 0; i < 9; i++) args[n++] = (char *)tail[i];
    printf("\n== ablate: %s (%s)\n   ijepa train", r->v.name, r->v.what);
    for (int i = 2; i < n; i++) printf(" %s", args[i]);
    printf("\n");
    fflush(stdout);
    IjTrainConfig c;
    IjRunOptions ro;
    int rc = train_parse_args(n, args, &c, &ro);
    if (rc) return rc < 0 ? -1 : ij_error("--help is not a train flag here");
    return train_run_with_probes(&c, &ro); /* the library's run, with the same hooks as `train` */
}

static void cell(FILE *f, double v, const char *fmt, double scale)
{
    if (isnan(v)) fputs(" | -", f);
    else fprintf(f, " | "), fprintf(f, fmt, v * scale);
}

static void write_md(FILE *f, const Run *runs, int n, const Run *init, const char *base, int full)
{
    fprintf(f, "Base: `ijepa train %s`; online probe on held-out training images (linear / k-NN, k=20);\n"
               "diagnostics at the end of each run on one held-out batch (target std: per-dimension std of the\n"
               "targets across tokens; effective rank and mean cosine of the average-pooled target-encoder\n"
               "features).\n\n", base);
    fprintf(f, "| variant | what changed | steps | linear %% | k-NN %% |%s final loss | target std | pred std | "
               "eff. rank | mean cos |\n|---|---|---:|---:|---:|%s---:|---:|---:|---:|---:|\n",
            full ? " test linear % | test k-NN % |" : "", full ? "---:|---:|" : "");
    for (int i = -1; i < n; i++) {
        const Run *r = i < 0 ? init : &runs[i];
        if (i < 0 && isnan(init->linear)) continue;
        fprintf(f, "| %s | %s%s%s%s", i < 0 ? "random init" : r->v.name, i < 0 ? "step 0 (no training)" : r->v.what,
                r->failed[0] ? " (**stopped**: " : "", r->failed, r->failed[0] ? ")" : "");
        cell(f, i < 0 ? 0 : r->steps, "%.0f", 1);
        cell(f, r->linear, "%.2f", 100);
        cell(f, r->knn, "%.2f", 100);
        if (full) cell(f, r->test_linear, "%.2f", 100), cell(f, r->test_knn, "%.2f", 100);
        cell(f, r->loss, "%.4f", 1);
        cell(f, r->target_std, "%.3f", 1);
        cell(f, r->pred_std, "%.3f", 1);
        cell(f, r->erank, "%.2f", 1);
        cell(f, r->cosine, "%.4f", 1);
        fputs(" |\n", f);
    }
}

static json_t *run_json(const Run *r, const char *name, const char *what)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "variant", name, "what", what, "flags", r->v.flags ? r->v.flags : "",
                          "stopped", r->failed);
    const char *keys[] = {"steps", "minutes", "final_loss", "probe_linear", "probe_knn", "target_std", "pred_std",
                          "erank", "cosine", "test_linear", "test_knn"};
    const double v[] = {r->steps, r->minutes, r->loss, r->linear, r->knn, r->target_std, r->pred_std, r->erank,
                        r->cosine, r->test_linear, r->test_knn};
    for (int i = 0; i < 11; i++) json_object_set_new(o, keys[i], isnan(v[i]) ? json_null() : json_real(v[i]));
    return o;
}

int cmd_ablate(int argc, char **argv)
{
    const char *out = NULL, *grid = "masks,collapse", *custom = NULL;
    int full = 0, redo = 0, probe_every = 0, diag_every = 0, reference = 1;
    Option o[] = {
        {"out", OPT_STRING, &out, "folder for the table, the figure and one run folder per variant", 0, -1, NULL},
        {"grid", OPT_STRING, &grid, "variants and groups to run, comma separated", 0, -1, NULL},
        {"variants", OPT_STRING, &custom, "extra variants 'NAME=TRAIN FLAGS;NAME2=...' (flags split at spaces)", 0, -1, NULL},
        {"probe-every", OPT_INT, &probe_every, "online probes during each run too (0: only at its end)", 0, 1 << 30, NULL},
        {"diag-every", OPT_INT, &diag_every, "collapse diagnostics every N steps (curves; 0: only at the end)", 0, 1 << 30, NULL},
        {"reference", OPT_SWITCH, &reference, "probe the random-init encoder at step 0 of the first run", 0, -1, NULL},
        {"full-probe", OPT_FLAG, &full, "also run `ijepa probe` (test split; reporting only) on each run", 0, -1, NULL},
        {"redo", OPT_FLAG, &redo, "train again even where a finished run folder exists", 0, -1, NULL},
    };
    int no = (int)(sizeof o / sizeof o[0]), sep = argc;
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--")) {
            sep = i;
            break;
        }
    int rc = opt_parse(o, no, sep, argv, 2, usage);
    if (rc == 1) {
        printf("\nvariants:\n");
        for (int i = 0; i < NKNOWN; i++) printf("  %-24s %s (%s)\n", known[i].name, known[i].what, known[i].flags);
        printf("groups:\n");
        for (int g = 0; g < NGROUPS; g++) printf("  %-24s %s\n", groups[g].name, groups[g].members);
        return 0;
    }
    if (rc) return -1;
    if (!out) return opt_usage_error("--out is required (see --help)");
    char **base = argv + (sep < argc ? sep + 1 : argc);
    int nbase = argc - (sep < argc ? sep + 1 : argc);
    char basestr[2048] = "";
    for (int i = 0; i < nbase; i++) {
        size_t len = strlen(basestr);
        snprintf(basestr + len, sizeof basestr - len, "%s%s", i ? " " : "", base[i]);
    }
    for (int i = 0; i < nbase; i++)
        if (!strcmp(base[i], "--out") || !strcmp(base[i], "--resume") || !strncmp(base[i], "--out=", 6))
            return ij_error("the train flags must not name --out or --resume: each variant gets OUT/NAME");

    Run *runs = ij_calloc(MAX_RUNS, sizeof(Run));
    Run init = {.v = {"random init", "", ""}, .loss = NAN, .linear = NAN, .knn = NAN, .target_std = NAN,
                .pred_std = NAN, .erank = NAN, .cosine = NAN, .test_linear = NAN, .test_knn = NAN};
    int n = 0;
    char gbuf[1024], cbuf[4096];
    char *items[MAX_RUNS], *cust[MAX_RUNS];
    snprintf(gbuf, sizeof gbuf, "%s", grid);
    snprintf(cbuf, sizeof cbuf, "%s", custom ? custom : "");
    int ni = split(gbuf, ",", items, MAX_RUNS), nc = split(cbuf, ";", cust, MAX_RUNS);
    rc = ni < 0 || nc < 0 ? ij_error("too many variants") : 0;
    for (int i = 0; !rc && i < ni; i++) rc = add_item(runs, &n, items[i], 0);
    for (int i = 0; !rc && i < nc; i++) {
        char *eq = strchr(cust[i], '=');
        if (!eq || eq == cust[i]) {
            rc = ij_error("--variants: '%s' is not NAME=FLAGS", cust[i]);
            break;
        }
        *eq = 0;
        rc = add_run(runs, &n, &(Variant){cust[i], eq + 1, eq + 1});
    }
    if (!rc && n == 0) rc = ij_error("no variants to run (--grid or --variants)");
    if (rc || ij_mkdirs(out)) goto done;

    for (int i = 0; i < n; i++) {
        Run *r = &runs[i];
        char dir[1200], path[1300];
        snprintf(dir, sizeof dir, "%s/%s", out, r->v.name);
        snprintf(path, sizeof path, "%s/ablate_done", dir);
        if (redo || !file_exists(path)) {
            /* a fresh metrics file: the run's own history only */
            snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
            if (remove(path) != 0 && errno != ENOENT) {
                rc = ij_error("%s: cannot remove: %s", path, strerror(errno));
                goto done;
            }
            int trc = train_one(r, base, nbase, dir, probe_every > 0 ? probe_every : 1 << 30, reference && i == 0,
                                diag_every);
            if (trc > 0) { /* stopped by a signal, with a checkpoint: the grid stops too */
                rc = trc;
                goto done;
            }
            if (trc) {
                /* e.g. a diverging variant: its row says so, the grid goes on */
                snprintf(r->failed, sizeof r->failed, "%s", ij_last_error());
                fprintf(stderr, "ijepa ablate: variant %s stopped: %s\n", r->v.name, r->failed);
            } else if (full) {
                char ckpt[1300], cfg[1300];
                IjTrainConfig c;
                ij_train_config_defaults(&c);
                snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
                snprintf(cfg, sizeof cfg, "%s/config.yaml", dir);
                char *pargs[] = {"ijepa", "probe", "--checkpoint", ckpt, "--baselines", "0", "--data", c.data};
                if (ij_train_config_load_yaml(&c, cfg) || cmd_probe(8, pargs)) {
                    char why[512];
                    snprintf(why, sizeof why, "%s", ij_last_error()); /* ij_error overwrites it */
                    rc = ij_error("variant %s: probe: %s", r->v.name, why);
                    goto done;
                }
            }
            snprintf(path, sizeof path, "%s/ablate_done", dir);
            FILE *f = r->failed[0] ? NULL : fopen(path, "w");
            if (!r->failed[0] && (!f || fclose(f) != 0)) {
                rc = ij_error("%s: cannot create: %s", path, strerror(errno));
                goto done;
            }
        } else {
            printf("== ablate: %s: reusing the finished run in %s (--redo to train again)\n", r->v.name, dir);
        }
        r->steps = r->minutes = r->loss = r->linear = r->knn = r->target_std = r->pred_std = r->erank = NAN;
        r->cosine = r->test_linear = r->test_knn = NAN;
        int bad = read_metrics(dir, r, i == 0 ? &init : NULL) != 0 && !r->failed[0];
        if (bad || (full && !r->failed[0] && read_full_probe(dir, r))) {
            rc = -1;
            goto done;
        }
    }

    char path[1200];
    snprintf(path, sizeof path, "%s/ablate.md", out);
    IjAtomicFile af;
    if ((rc = ij_atomic_open(&af, path))) goto done;
    write_md(af.f, runs, n, &init, basestr, full);
    if ((rc = ij_atomic_commit(&af, 1))) goto done;
    json_t *arr = json_array();
    if (!isnan(init.linear)) json_array_append_new(arr, run_json(&init, "random init", "step 0 (no training)"));
    for (int i = 0; i < n; i++) json_array_append_new(arr, run_json(&runs[i], runs[i].v.name, runs[i].v.what));
    json_t *doc = json_pack("{s:s, s:o}", "base_flags", basestr, "runs", arr);
    snprintf(path, sizeof path, "%s/ablate.json", out);
    rc = json_dump_file(doc, path, JSON_INDENT(2)) ? ij_error("%s: cannot write", path) : 0;
    json_decref(doc);
    if (rc) goto done;
    const char *mpaths[MAX_RUNS], *labels[MAX_RUNS];
    char (*mbuf)[1200] = ij_malloc(sizeof *mbuf * (size_t)n);
    int nm = 0; /* runs that left metrics (a variant that could not start has none) */
    for (int i = 0; i < n; i++) {
        snprintf(mbuf[nm], sizeof mbuf[nm], "%s/%s/metrics.jsonl", out, runs[i].v.name);
        if (!file_exists(mbuf[nm])) continue;
        mpaths[nm] = mbuf[nm];
        labels[nm++] = runs[i].v.name;
    }
    snprintf(path, sizeof path, "%s/ablate_curves.png", out);
    rc = nm ? ij_curves_compare_png(mpaths, labels, nm, path, "ijepa ablate") : 0;
    free(mbuf);
    if (rc) goto done;
    printf("\n");
    write_md(stdout, runs, n, &init, basestr, full);
    printf("\nwrote %s/ablate.md, %s/ablate.json, %s/ablate_curves.png\n", out, out, out);
done:
    free(runs);
    return rc;
}
