/* options.c: see options.h. */
#include "cli/options.h"

#include "core/error.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void opt_print_help(const Option *opts, int nopts, const char *usage)
{
    printf("%s\n\nOptions:\n", usage);
    for (int i = 0; i < nopts; i++) {
        const Option *o = &opts[i];
        char left[64], def[64] = "";
        snprintf(left, sizeof left, "--%s%s", o->name,
                 o->type == OPT_INT ? " N" : o->type == OPT_FLOAT ? " X" : o->type == OPT_STRING || o->type == OPT_TEXT ? " S" : o->type == OPT_PAIR ? " A,B" : o->type == OPT_SWITCH ? " [on|off]" : "");
        if (o->type == OPT_INT) snprintf(def, sizeof def, " (default %d)", *(int *)o->value);
        if (o->type == OPT_FLOAT) snprintf(def, sizeof def, " (default %g)", *(double *)o->value);
        if (o->type == OPT_PAIR)
            snprintf(def, sizeof def, " (default %g,%g)", ((double *)o->value)[0], ((double *)o->value)[1]);
        if (o->type == OPT_SWITCH) snprintf(def, sizeof def, " (default %s)", *(int *)o->value ? "on" : "off");
        if (o->type == OPT_STRING && *(const char **)o->value)
            snprintf(def, sizeof def, " (default %s)", *(const char **)o->value);
        if (o->type == OPT_TEXT && *(const char *)o->value)
            snprintf(def, sizeof def, " (default %.40s)", (const char *)o->value);
        printf("  %-24s %s%s\n", left, o->help, def);
    }
    printf("  %-24s %s\n", "--help", "show this help");
}

static int set_value(const Option *o, const char *v)
{
    char *end;
    errno = 0;
    if (o->type == OPT_INT) {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end) return ij_error("--%s: '%s' is not an integer", o->name, v);
        if (o->min <= o->max && (x < o->min || x > o->max))
            return ij_error("--%s: %ld is out of range [%g, %g]", o->name, x, o->min, o->max);
        *(int *)o->value = (int)x;
    } else if (o->type == OPT_FLOAT) {
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x)) return ij_error("--%s: '%s' is not a number", o->name, v);
        if (o->min <= o->max && (x < o->min || x > o->max))
            return ij_error("--%s: %g is out of range [%g, %g]", o->name, x, o->min, o->max);
        *(double *)o->value = x;
    } else if (o->type == OPT_PAIR) {
        double a = strtod(v, &end), b;
        if (errno || end == v || *end != ',') return ij_error("--%s: '%s' is not a pair A,B", o->name, v);
        const char *second = end + 1;
        b = strtod(second, &end);
        if (errno || end == second || *end || !isfinite(a) || !isfinite(b))
            return ij_error("--%s: '%s' is not a pair A,B", o->name, v);
        if (a > b) return ij_error("--%s: %g,%g is not ordered (A <= B)", o->name, a, b);
        if (o->min <= o->max && (a < o->min || b > o->max))
            return ij_error("--%s: %g,%g is out of range [%g, %g]", o->name, a, b, o->min, o->max);
        ((double *)o->value)[0] = a;
        ((double *)o->value)[1] = b;
    } else if (o->type == OPT_SWITCH) {
        int on = !strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1");
        if (!on && strcmp(v, "off") && strcmp(v, "false") && strcmp(v, "0"))
            return ij_error("--%s: '%s' is not on or off", o->name, v);
        *(int *)o->value = on;
    } else if (o->type == OPT_STRING) {
        if (!*v) return ij_error("--%s: empty value", o->name);
        *(const char **)o->value = v;
    } else if (o->type == OPT_TEXT) {
        if (!*v) return ij_error("--%s: empty value", o->name);
        size_t n = strlen(v);
        if (n >= (size_t)o->max) return ij_error("--%s: value longer than %d characters", o->name, (int)o->max - 1);
        memset(o->value, 0, (size_t)o->max); /* zero-filled, as the config's strings are */
        memcpy(o->value, v, n);
    }
    if (o->seen) *o->seen = 1;
    return 0;
}

static int is_switch_word(const char *v)
{
    static const char *w[] = {"on", "off", "true", "false", "1", "0"};
    for (size_t k = 0; k < sizeof w / sizeof *w; k++)
        if (!strcmp(v, w[k])) return 1;
    return 0;
}

static int usage_failed;

int opt_usage_failed(void) { return usage_failed; }

int opt_usage_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    usage_failed = 1;
    return ij_error("%s", msg);
}

void opt_apply_threads(int threads)
{
    if (threads <= 0) return;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
}

static int parse(const Option *opts, int nopts, int argc, char **argv, int first, const char *usage);

int opt_parse(const Option *opts, int nopts, int argc, char **argv, int first, const char *usage)
{
    int rc = parse(opts, nopts, argc, argv, first, usage);
    if (rc < 0) usage_failed = 1;
    return rc;
}

static int parse(const Option *opts, int nopts, int argc, char **argv, int first, const char *usage)
{
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            opt_print_help(opts, nopts, usage);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) return ij_error("unexpected argument '%s' (see --help)", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const Option *o = NULL;
        for (int k = 0; k < nopts; k++)
            if (strlen(opts[k].name) == len && strncmp(opts[k].name, name, len) == 0) o = &opts[k];
        if (!o) return ij_error("unknown option '--%.*s' (see --help)", (int)len, name);
        if (o->type == OPT_FLAG) {
            if (eq) return ij_error("--%s takes no value", o->name);
            *(int *)o->value = 1;
            if (o->seen) *o->seen = 1;
            continue;
        }
        if (o->type == OPT_SWITCH && !eq && !(i + 1 < argc && is_switch_word(argv[i + 1]))) {
            *(int *)o->value = 1; /* a bare switch turns it on */
            if (o->seen) *o->seen = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) return ij_error("--%s needs a value", o->name);
        if (set_value(o, v)) return -1;
    }
    return 0;
}
