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

/* Reads every line of a metrics file into pts[NMETRIC], x = the value of xkey. */
static int read_points(const char *path, const char *xkey, Points *pts)
{
    FILE *f = fopen(path, "r");
    if (!f) return ij_error("%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o) continue; /* a torn last line of a killed run */
        double x, v;
        for (int k = 0; k < NMETRIC && number(o, xkey, &x); k++)
            if (number(o, metric_key[k], &v)) push(&pts[k], x, k == M_LINEAR || k == M_KNN ? 100 * v : v);
        json_decref(o);
    }
    free(line);
    fclose(f);
    return 0;
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
