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

int ij_curves_png(const char *metrics_path, const char *png_path, const char *title)
{
    FILE *f = fopen(metrics_path, "r");
    if (!f) return ij_error("%s: cannot open: %s", metrics_path, strerror(errno));
    Points loss = {0}, lin = {0}, knn = {0};
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o) continue; /* a torn last line of a killed run */
        double m, v;
        if (number(o, "minutes", &m)) {
            if (number(o, "loss", &v)) push(&loss, m, v);
            if (number(o, "probe_linear", &v)) push(&lin, m, 100 * v);
            if (number(o, "probe_knn", &v)) push(&knn, m, 100 * v);
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    IjSeries s_loss[] = {{"loss (mean per log interval)", loss.x, loss.y, loss.n, ij_plot_color(0)}};
    IjSeries s_acc[] = {{"linear probe", lin.x, lin.y, lin.n, ij_plot_color(1)},
                        {"k-NN (k=20)", knn.x, knn.y, knn.n, ij_plot_color(2)}};
    IjPanel panels[2] = {
        {"Training loss", "minutes of training", "loss", s_loss, 1, 1, NAN, NAN, 0, 0},
        {"Online probe of the target encoder (held-out training images)", "minutes of training",
         "accuracy %", s_acc, 2, 0, NAN, NAN, 0, 0},
    };
    int np = lin.n || knn.n ? 2 : 1;
    int rc = ij_plot_png(png_path, title, panels, np, 1000, np == 2 ? 800 : 450);
    free(loss.x); free(loss.y); free(lin.x); free(lin.y); free(knn.x); free(knn.y);
    return rc;
}
