/* curves.c: see curves.h. */
#include "io/curves.h"

#include "core/error.h"
#include "io/plot.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double *x, *y;
    int n, cap;
} Points;

static void push(Points *p, double x, double y)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 256;
        p->x = realloc(p->x, sizeof(double) * (size_t)p->cap);
        p->y = realloc(p->y, sizeof(double) * (size_t)p->cap);
        IJ_ASSERT(p->x && p->y);
    }
    p->x[p->n] = x;
    p->y[p->n++] = y;
}

static int number(json_t *o, const char *key, double *v)
{
    json_t *x = json_object_get(o, key);
    if (!x || !json_is_number(x)) return 0;
    *v = json_number_value(x);
    return 1;
}

/* The metrics a picture shows; probe accuracies are drawn in %. */
enum { M_LOSS, M_LINEAR, M_KNN, M_ERANK, M_COSINE, M_TSTD, NMETRIC };
static const char *const metric_key[NMETRIC] = {"loss", "probe_linear", "probe_knn", "erank", "cosine",
                                                "target_std"};

/* Calls each(o, ctx) on every line of a metrics file that parses (a killed run may leave a torn last line). */
static int each_line(const char *path, void (*each)(json_t *o, void *ctx), void *ctx)
{
    FILE *f = fopen(path, "r");
    if (!f) return ij_error("%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (o) each(o, ctx);
        json_decref(o);
    }
    free(line);
    fclose(f);
    return 0;
}

typedef struct {
    const char *xkey;
    Points *pts;
} MetricLines;

static void metric_line(json_t *o, void *ctx)
{
    const MetricLines *c = ctx;
    double x, v;
    for (int k = 0; k < NMETRIC && number(o, c->xkey, &x); k++)
        if (number(o, metric_key[k], &v)) push(&c->pts[k], x, k == M_LINEAR || k == M_KNN ? 100 * v : v);
}

/* Reads every line of a metrics file into pts[NMETRIC], x = the value of xkey. */
static int read_points(const char *path, const char *xkey, Points *pts)
{
    MetricLines c = {xkey, pts};
    return each_line(path, metric_line, &c);
}

static void free_points(Points *pts, int n)
{
    for (int k = 0; k < n; k++) free(pts[k].x), free(pts[k].y);
}

int ij_curves_png(const char *metrics_path, const char *png_path, const char *title)
{
    Points p[NMETRIC] = {{0}};
    if (read_points(metrics_path, "minutes", p)) return -1;
    IjSeries s_loss[] = {{"loss (mean per log interval)", p[M_LOSS].x, p[M_LOSS].y, p[M_LOSS].n, ij_plot_color(0)}};
    IjSeries s_acc[] = {{"linear probe", p[M_LINEAR].x, p[M_LINEAR].y, p[M_LINEAR].n, ij_plot_color(1)},
                        {"k-NN (k=20)", p[M_KNN].x, p[M_KNN].y, p[M_KNN].n, ij_plot_color(2)}};
    IjSeries s_rank[] = {{"effective rank", p[M_ERANK].x, p[M_ERANK].y, p[M_ERANK].n, ij_plot_color(3)}};
    IjSeries s_cos[] = {{"mean pairwise cosine", p[M_COSINE].x, p[M_COSINE].y, p[M_COSINE].n, ij_plot_color(4)},
                        {"target std", p[M_TSTD].x, p[M_TSTD].y, p[M_TSTD].n, ij_plot_color(5)}};
    IjPanel panels[4] = {{"Training loss", "minutes of training", "loss", s_loss, 1, 1, NAN, NAN, 0, 0}};
    int np = 1;
    if (p[M_LINEAR].n || p[M_KNN].n)
        panels[np++] = (IjPanel){"Online probe of the target encoder (held-out training images)",
                                 "minutes of training", "accuracy %", s_acc, 2, 0, NAN, NAN, 0, 0};
    if (p[M_ERANK].n) {
        panels[np++] = (IjPanel){"Collapse check: effective rank of pooled target features (held-out batch)",
                                 "minutes of training", "effective rank", s_rank, 1, 0, NAN, NAN, 0, NAN};
        panels[np++] = (IjPanel){"Collapse check: mean cosine of pooled features, std of the targets", "minutes of training", NULL,
                                 s_cos, 2, 0, NAN, NAN, 0, NAN};
    }
    int rc = ij_plot_png(png_path, title, panels, np, 1000, 60 + 380 * np);
    free_points(p, NMETRIC);
    return rc;
}

int ij_curves_compare_png(const char *const *metrics_paths, const char *const *labels, int n,
                          const char *png_path, const char *title)
{
    if (n < 1 || n > 64) return ij_error("%s: %d runs to compare (1..64)", png_path, n);
    Points *p = ij_calloc((size_t)n * NMETRIC, sizeof(Points));
    IjSeries *s = ij_calloc((size_t)n * 4, sizeof(IjSeries));
    int rc = 0, probes = 0;
    static const int shown[4] = {M_LOSS, M_ERANK, M_COSINE, M_LINEAR};
    for (int r = 0; r < n && !rc; r++) {
        rc = read_points(metrics_paths[r], "step", p + (size_t)r * NMETRIC);
        probes |= p[(size_t)r * NMETRIC + M_LINEAR].n > 2; /* more than the start and end points */
        for (int k = 0; k < 4; k++) {
            const Points *q = &p[(size_t)r * NMETRIC + shown[k]];
            s[(size_t)k * n + r] = (IjSeries){labels[r], q->x, q->y, q->n, ij_plot_color(r)};
        }
    }
    IjPanel panels[4] = {
        {"Training loss", "step", "loss", s, n, 1, NAN, NAN, NAN, NAN},
        {"Effective rank of pooled target features (held-out batch)", "step", "effective rank", s + n, n, 0,
         NAN, NAN, 0, NAN},
        {"Mean pairwise cosine of pooled target features", "step", "cosine", s + 2 * n, n, 0, NAN, NAN, NAN, NAN},
        {"Online probe, linear (held-out training images)", "step", "accuracy %", s + 3 * n, n, 0, NAN, NAN, NAN,
         NAN},
    };
    int np = probes ? 4 : 3;
    if (!rc) rc = ij_plot_png(png_path, title, panels, np, 1000, 60 + 380 * np);
    for (int r = 0; r < n; r++) free_points(p + (size_t)r * NMETRIC, NMETRIC);
    free(p);
    free(s);
    return rc;
}

/* Minutes of training at `step`, interpolated between the logged steps of a metrics file (step 0: 0). */
static double minutes_at(const Points *steps_minutes, double step)
{
    const Points *p = steps_minutes;
    double s0 = 0, m0 = 0;
    for (int i = 0; i < p->n; i++) {
        if (p->x[i] >= step) {
            double s1 = p->x[i], m1 = p->y[i];
            return s1 == s0 ? m1 : m0 + (m1 - m0) * (step - s0) / (s1 - s0);
        }
        s0 = p->x[i], m0 = p->y[i];
    }
    return NAN; /* past the last logged step */
}

/* Row `prefix`'s accuracy `which` ("linear", "attentive", "knn") in a probe.json document, in %, or NaN. */
static double row_acc(json_t *doc, const char *prefix, const char *which)
{
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(doc, "rows"), i, row) {
        const char *name = json_string_value(json_object_get(row, "features"));
        if (!name || strncmp(name, prefix, strlen(prefix))) continue;
        json_t *o = json_object_get(row, which);
        double v;
        if (json_is_object(o) && number(o, strcmp(which, "knn") ? "test_acc" : "acc_knn", &v)) return 100 * v;
    }
    return NAN;
}

static void step_minutes(json_t *o, void *ctx)
{
    double s, m;
    if (number(o, "step", &s) && number(o, "minutes", &m)) push(ctx, s, m);
}

static int by_x(const void *a, const void *b)
{
    double d = ((const double *)a)[0] - ((const double *)b)[0];
    return (d > 0) - (d < 0);
}

int ij_learning_png(const char *metrics_path, const char *const *probe_paths, int n, const char *png_path,
                    const char *title)
{
    if (n < 1) return ij_error("%s: no probe results to draw", png_path);
    Points sm = {0};
    if (each_line(metrics_path, step_minutes, &sm)) return -1;
    /* rows of pts: hours, then the model's linear, attentive, k-NN; base: random-init and pixels, linear and k-NN */
    enum { LIN, ATT, KNN, NACC };
    double *pts = ij_calloc((size_t)n * (1 + NACC), sizeof(double)), base[2][2] = {{NAN, NAN}, {NAN, NAN}};
    static const char *const which[NACC] = {"linear", "attentive", "knn"};
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        json_error_t err;
        json_t *doc = json_load_file(probe_paths[i], 0, &err);
        double step;
        if (!doc) {
            rc = ij_error("%s: not a probe.json: %s (line %d)", probe_paths[i], err.text, err.line);
        } else if (!number(doc, "step", &step)) {
            rc = ij_error("%s: records no training step (probe a training checkpoint)", probe_paths[i]);
        } else if (isnan(pts[(size_t)i * (1 + NACC)] = minutes_at(&sm, step) / 60)) {
            rc = ij_error("%s: step %.0f is past the last step of %s", probe_paths[i], step, metrics_path);
        } else {
            for (int k = 0; k < NACC; k++) pts[(size_t)i * (1 + NACC) + 1 + k] = row_acc(doc, "I-JEPA", which[k]);
            for (int b = 0; b < 2; b++) {
                const char *row = b ? "raw pixels" : "random-init";
                if (!isnan(row_acc(doc, row, "linear"))) base[b][0] = row_acc(doc, row, "linear");
                if (!isnan(row_acc(doc, row, "knn"))) base[b][1] = row_acc(doc, row, "knn");
            }
        }
        json_decref(doc);
    }
    free(sm.x), free(sm.y);
    if (rc) {
        free(pts);
        return rc;
    }
    qsort(pts, (size_t)n, sizeof(double) * (1 + NACC), by_x);
    double *x = ij_malloc(sizeof(double) * (size_t)n), *y = ij_malloc(sizeof(double) * (size_t)n * NACC);
    for (int i = 0; i < n; i++) {
        x[i] = pts[(size_t)i * (1 + NACC)];
        for (int k = 0; k < NACC; k++) y[(size_t)k * n + i] = pts[(size_t)i * (1 + NACC) + 1 + k];
    }
    double bx[2] = {0, x[n - 1] > 0 ? x[n - 1] : 1}, by[2][2][2];
    for (int b = 0; b < 2; b++)
        for (int m = 0; m < 2; m++) by[b][m][0] = by[b][m][1] = base[b][m];
    IjSeries lin[] = {{"I-JEPA, linear", x, y, n, ij_plot_color(0)},
                      {"I-JEPA, attentive", x, y + n, n, ij_plot_color(1)},
                      {"random-init encoder, linear", bx, by[0][0], 2, ij_plot_color(7)},
                      {"raw pixels, linear", bx, by[1][0], 2, ij_plot_color(2)}};
    IjSeries knn[] = {{"I-JEPA, k-NN", x, y + 2 * n, n, ij_plot_color(0)},
                      {"random-init encoder, k-NN", bx, by[0][1], 2, ij_plot_color(7)},
                      {"raw pixels, k-NN", bx, by[1][1], 2, ij_plot_color(2)}};
    IjPanel panels[2] = {
        {"Linear and attentive probes (test split)", "hours of training", "accuracy %", lin, 4, 0, 0, NAN, NAN, NAN},
        {"k-NN, k=20 (test split)", "hours of training", "accuracy %", knn, 3, 0, 0, NAN, NAN, NAN}};
    for (int k = 0; k < 2; k++) { /* room above the data for the legend, so that it hides no point */
        double lo = INFINITY, hi = -INFINITY;
        for (int s = 0; s < panels[k].nseries; s++)
            for (int i = 0; i < panels[k].series[s].n; i++) {
                double v = panels[k].series[s].y[i];
                if (isfinite(v)) lo = fmin(lo, v), hi = fmax(hi, v);
            }
        if (hi > lo) panels[k].ymin = lo - 0.05 * (hi - lo), panels[k].ymax = hi + 0.5 * (hi - lo);
    }
    rc = ij_plot_png(png_path, title, panels, 2, 1000, 60 + 380 * 2);
    free(pts), free(x), free(y);
    return rc;
}
