/* metrics.c: see metrics.h. Lines are built and written with jansson. */
#include "io/metrics.h"

#include "core/error.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

int ij_metrics_open(IjMetrics *m, const char *path)
{
    snprintf(m->path, sizeof m->path, "%s", path);
    m->f = fopen(path, "a");
    if (!m->f) return ij_error("%s: cannot open for writing: %s", path, strerror(errno));
    return 0;
}

int ij_metrics_write(IjMetrics *m, const char *const *keys, const double *values, int n)
{
    json_t *o = json_object();
    for (int i = 0; i < n; i++) {
        double v = values[i];
        json_t *x = (v == floor(v) && fabs(v) < 9e15) ? json_integer((json_int_t)v)
                    : isfinite(v)                     ? json_real(v)
                                                      : json_null();
        json_object_set_new(o, keys[i], x);
    }
    int rc = json_dumpf(o, m->f, JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(o);
    if (rc || fputc('\n', m->f) == EOF || fflush(m->f))
        return ij_error("%s: write failed: %s", m->path, strerror(errno));
    return 0;
}

void ij_metrics_close(IjMetrics *m)
{
    if (m->f) fclose(m->f);
    m->f = NULL;
}
