/* metrics.c: see metrics.h. Lines are built and written with jansson. */
#include "io/metrics.h"

#include "core/error.h"
#include "io/fsutil.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
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

/* 1 if line (without its newline) is a JSON object whose "step" is at most step. */
static int keep_line(const char *line, size_t len, long long step)
{
    json_t *o = json_loadb(line, len, 0, NULL);
    json_t *s = o ? json_object_get(o, "step") : NULL;
    int keep = s && json_is_integer(s) && json_integer_value(s) <= step;
    json_decref(o);
    return keep;
}

int ij_metrics_cut(const char *path, long long step)
{
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? 0 : ij_error("%s: cannot open: %s", path, strerror(errno));
    char *text = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 > cap) text = ij_realloc(text, cap = 2 * cap + 65536);
        size_t got = fread(text + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(text);
        return ij_error("%s: read failed", path);
    }
    /* keep the kept lines in place, compacting the text */
    size_t out = 0;
    int dropped = 0;
    for (size_t at = 0; at < n;) {
        char *nl = memchr(text + at, '\n', n - at);
        size_t len = nl ? (size_t)(nl - (text + at)) : n - at;
        if (nl && keep_line(text + at, len, step)) {
            memmove(text + out, text + at, len + 1);
            out += len + 1;
        } else {
            dropped++;
        }
        at += len + 1;
    }
    int rc = dropped;
    if (dropped) {
        IjAtomicFile af;
        if (ij_atomic_open(&af, path)) rc = -1;
        else if (ij_atomic_commit(&af, fwrite(text, 1, out, af.f) == out)) rc = -1;
    }
    free(text);
    return rc;
}
