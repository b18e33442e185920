/* shard_list.c: see shard_list.h. */
#include "data/shard_list.h"

#include "core/error.h"

#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PATHS 1000000 /* a brace expansion larger than this is a mistake, not a data set */
#define MAX_PATH_LEN 4096

typedef struct {
    char **p;
    int n, cap;
} List;

static int add(List *l, const char *s, size_t len)
{
    if (l->n >= MAX_PATHS) return ij_error("more than %d shard paths", MAX_PATHS);
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->p = ij_realloc(l->p, sizeof(char *) * (size_t)l->cap);
    }
    l->p[l->n] = ij_malloc(len + 1);
    memcpy(l->p[l->n], s, len);
    l->p[l->n++][len] = '\0';
    return 0;
}

/* The '}' that closes the '{' at s[open] (nested braces counted), or -1. */
static long closing(const char *s, size_t open)
{
    int depth = 0;
    for (size_t i = open; s[i]; i++) {
        if (s[i] == '{') depth++;
        else if (s[i] == '}' && --depth == 0) return (long)i;
    }
    return -1;
}

/* "A..B" with A, B integers: 1 and the range; 0 otherwise. */
static int parse_range(const char *s, size_t len, long *a, long *b, int *width)
{
    char buf[64];
    if (len >= sizeof buf) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *dots = strstr(buf, "..");
    if (!dots || dots == buf || !dots[2]) return 0;
    *dots = '\0';
    const char *x = buf, *y = dots + 2;
    for (const char *q = x + (*x == '-'); *q; q++)
        if (!isdigit((unsigned char)*q)) return 0;
    for (const char *q = y + (*y == '-'); *q; q++)
        if (!isdigit((unsigned char)*q)) return 0;
    *a = strtol(x, NULL, 10), *b = strtol(y, NULL, 10);
    size_t lx = strlen(x), ly = strlen(y);
    int padded = (lx > 1 && x[0] == '0') || (ly > 1 && y[0] == '0');
    *width = padded ? (int)(lx > ly ? lx : ly) : 0;
    return 1;
}

/* Appends every expansion of the braces in s to out (in order). */
static int expand(const char *s, List *out)
{
    const char *open = strchr(s, '{');
    long close = open ? closing(s, (size_t)(open - s)) : -1;
    if (!open || close < 0) return add(out, s, strlen(s));
    size_t pre = (size_t)(open - s), body = (size_t)close - pre - 1;
    const char *in = open + 1, *post = s + close + 1;
    char piece[MAX_PATH_LEN];
    long a, b;
    int width;
    if (parse_range(in, body, &a, &b, &width)) {
        if (labs(b - a) >= MAX_PATHS) return ij_error("%s: the range {%.*s} is too large", s, (int)body, in);
        for (long v = a;; v += a <= b ? 1 : -1) {
            int n = snprintf(piece, sizeof piece, "%.*s%0*ld%s", (int)pre, s, width, v, post);
            if (n < 0 || (size_t)n >= sizeof piece) return ij_error("%s: path too long", s);
            if (expand(piece, out)) return -1;
            if (v == b) break;
        }
        return 0;
    }
    /* alternatives, split at the commas of this level */
    int depth = 0;
    size_t start = 0;
    for (size_t i = 0; i <= body; i++) {
        char c = i < body ? in[i] : ',';
        if (c == '{') depth++;
        else if (c == '}') depth--;
        if (c != ',' || depth) continue;
        int n = snprintf(piece, sizeof piece, "%.*s%.*s%s", (int)pre, s, (int)(i - start), in + start, post);
        if (n < 0 || (size_t)n >= sizeof piece) return ij_error("%s: path too long", s);
        if (expand(piece, out)) return -1;
        start = i + 1;
    }
    return 0;
}

int ij_shard_spec_is_list(const char *spec) { return strpbrk(spec, ",{*?[") != NULL; }

void ij_shard_list_free(char **paths, int n)
{
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
}

int ij_shard_list(const char *spec, char ***paths, int *n)
{
    List items = {0}, out = {0};
    int rc = 0, depth = 0;
    size_t start = 0, len = strlen(spec);
    for (size_t i = 0; i <= len && !rc; i++) { /* the top-level commas */
        char c = i < len ? spec[i] : ',';
        if (c == '{') depth++;
        else if (c == '}') depth--;
        if (c != ',' || depth) continue;
        if (i == start) rc = ij_error("%s: empty item in the list of shards", spec);
        else if (i - start >= MAX_PATH_LEN) rc = ij_error("%s: path too long", spec);
        else rc = add(&items, spec + start, i - start);
        start = i + 1;
    }
    if (!rc && depth) rc = ij_error("%s: unbalanced braces", spec);
    List expanded = {0};
    for (int i = 0; i < items.n && !rc; i++) rc = expand(items.p[i], &expanded);
    for (int i = 0; i < expanded.n && !rc; i++) {
        const char *item = expanded.p[i];
        if (!strpbrk(item, "*?[")) {
            rc = add(&out, item, strlen(item));
            continue;
        }
        glob_t g;
        int grc = glob(item, 0, NULL, &g);
        if (grc == GLOB_NOMATCH) rc = ij_error("%s: no file matches", item);
        else if (grc) rc = ij_error("%s: glob failed (%s)", item, grc == GLOB_NOSPACE ? "out of memory" : "read error");
        for (size_t k = 0; !grc && !rc && k < g.gl_pathc; k++) rc = add(&out, g.gl_pathv[k], strlen(g.gl_pathv[k]));
        if (!grc) globfree(&g);
    }
    ij_shard_list_free(items.p, items.n);
    ij_shard_list_free(expanded.p, expanded.n);
    if (rc) {
        ij_shard_list_free(out.p, out.n);
        return -1;
    }
    *paths = out.p;
    *n = out.n;
    return 0;
}
