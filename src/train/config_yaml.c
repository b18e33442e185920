/* config_yaml.c: the training settings as YAML in the official I-JEPA layout (train_config.h).
 *
 * One table of keys {section, key, type, offset} drives both the loader and the
 * writer, so every key that is read is also written, in the same place. The
 * layout is that of the facebookresearch/ijepa configs (sections data, logging,
 * mask, meta, optimization; keys sorted), with this program's
 * extension keys listed after the official ones of their section.
 *
 * Official keys with no meaning here are still accepted, as long as they keep
 * a harmless value: num_workers, pin_mem, copy_data, write_tag take any value;
 * use_bfloat16 is honoured: the model's matrix products take bf16 operands
 * (kernels/bf16.h; parameters and optimizer state stay float32, as in the
 * official run); color distortion, blur and jitter must stay off; checkpoint loading
 * must stay off (resume is `--resume`).
 *
 * YAML is parsed by libyaml into a node tree; node marks give the line numbers
 * in error messages. Numbers are written with the fewest of 15..17 significant
 * digits that read back to the same double, so save + load is bit-exact.
 */
#include "train/train_config.h"

#include "core/error.h"
#include "io/fsutil.h"
#include "train/settings_table.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

static int is_key(const IjSettingRow *k, const char *section, const char *key)
{
    return k->section && !strcmp(k->section, section) && !strcmp(k->key, key);
}

/* ---- loading ---- */

typedef struct {
    const char *path;
    yaml_document_t doc;
    char root[512], image_folder[512];
    unsigned char seen[IJ_SETTINGS_MAX];
} Loader;

static size_t line_of(const yaml_node_t *n) { return n->start_mark.line + 1; }

static const char *scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static int is_null(const yaml_node_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    for (size_t i = 0; is_plain(n) && i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp(scalar(n), nulls[i]) == 0) return 1;
    return 0;
}

static int to_int(const yaml_node_t *n, int *out)
{
    if (!is_plain(n)) return -1;
    const char *s = scalar(n);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno == ERANGE || v < INT_MIN || v > INT_MAX) return -1;
    *out = (int)v;
    return 0;
}

static int to_double(const yaml_node_t *n, double *out)
{
    if (!is_plain(n)) return -1;
    const char *s = scalar(n);
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int to_bool(const yaml_node_t *n, int *out)
{
    static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False", "FALSE"};
    for (int i = 0; is_plain(n) && i < 3; i++) {
        if (strcmp(scalar(n), t[i]) == 0) return *out = 1, 0;
        if (strcmp(scalar(n), f[i]) == 0) return *out = 0, 0;
    }
    return -1;
}

/* The value as the user wrote it, for messages. */
static const char *describe(const yaml_node_t *n, char *buf, size_t size)
{
    int items = n->type == YAML_SEQUENCE_NODE ? (int)(n->data.sequence.items.top - n->data.sequence.items.start) : 0;
    if (n->type == YAML_SEQUENCE_NODE) snprintf(buf, size, "a list of %d item%s", items, items == 1 ? "" : "s");
    else if (n->type == YAML_MAPPING_NODE) snprintf(buf, size, "a mapping");
    else snprintf(buf, size, is_plain(n) ? "'%.200s'" : "the quoted string '%.200s'", scalar(n));
    return buf;
}

/* "<file>:<line>: <section>.<key>: <problem>" */
IJ_PRINTF(4, 5)
static int key_error(const Loader *L, const IjSettingRow *k, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ij_error("%s:%zu: %s.%s: %s", L->path, line_of(n), k->section, k->key, msg);
}

static int set_key(Loader *L, IjTrainConfig *c, const IjSettingRow *k, yaml_node_t *v)
{
    char *field = (char *)c + k->off, d[256], range[128];
    const char *bad;
    int b;
    double x;
    describe(v, d, sizeof d);
    switch (k->type) {
    case K_INT:
        if (to_int(v, (int *)field)) return key_error(L, k, v, "expected an integer, got %s", d);
        if ((bad = ij_setting_out_of_range(k, c, range, sizeof range))) return key_error(L, k, v, "%s", bad);
        return 0;
    case K_DBL:
        if (to_double(v, (double *)field)) return key_error(L, k, v, "expected a number, got %s", d);
        if ((bad = ij_setting_out_of_range(k, c, range, sizeof range))) return key_error(L, k, v, "%s", bad);
        return 0;
    case K_BOOL:
        if (to_bool(v, (int *)field)) return key_error(L, k, v, "expected true or false, got %s", d);
        return 0;
    case K_PAIR: {
        double pair[2];
        yaml_node_item_t *it = v->type == YAML_SEQUENCE_NODE ? v->data.sequence.items.start : NULL;
        if (!it || v->data.sequence.items.top - it != 2 ||
            to_double(yaml_document_get_node(&L->doc, it[0]), &pair[0]) ||
            to_double(yaml_document_get_node(&L->doc, it[1]), &pair[1]))
            return key_error(L, k, v, "expected a list of 2 numbers, got %s", d);
        memcpy(field, pair, sizeof pair);
        if ((bad = ij_setting_out_of_range(k, c, range, sizeof range))) return key_error(L, k, v, "%s", bad);
        return 0;
    }
    case K_STR:
    case K_ROOT:
    case K_FOLDER: {
        char *dst = k->type == K_ROOT ? L->root : k->type == K_FOLDER ? L->image_folder : field;
        size_t size = k->type == K_STR ? k->size : sizeof L->root;
        if (!scalar(v) || is_null(v)) return key_error(L, k, v, "expected a string, got %s", d);
        if (ij_setting_set_text(dst, size, scalar(v))) return key_error(L, k, v, "longer than %zu characters", size - 1);
        return 0;
    }
    case K_ANY:
        return 0;
    case K_OFF:
        if (to_bool(v, &b)) return key_error(L, k, v, "expected true or false, got %s", d);
        return b ? key_error(L, k, v, "%s is %s", d, k->note) : 0;
    case K_ZERO:
        if (to_double(v, &x)) return key_error(L, k, v, "expected a number, got %s", d);
        return x != 0 ? key_error(L, k, v, "%s is %s", d, k->note) : 0;
    case K_NULL:
        return is_null(v) ? 0 : key_error(L, k, v, "%s is %s", d, k->note);
    case K_EMA:
        return 0;
    }
    return 0;
}

static int load_section(Loader *L, IjTrainConfig *c, const char *section, yaml_node_t *map)
{
    if (is_null(map)) return 0; /* "logging:" with nothing under it */
    if (map->type != YAML_MAPPING_NODE)
        return ij_error("%s:%zu: section '%s' must hold 'key: value' lines", L->path, line_of(map), section);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&L->doc, p->key), *vn = yaml_document_get_node(&L->doc, p->value);
        const char *name = scalar(kn);
        size_t i = 0;
        while (name && i < ij_settings_count && !is_key(&ij_settings[i], section, name)) i++;
        if (!name || i == ij_settings_count)
            return ij_error("%s:%zu: unknown key '%s.%s'", L->path, line_of(kn), section, name ? name : "?");
        if (L->seen[i]++) return ij_error("%s:%zu: duplicate key '%s.%s'", L->path, line_of(kn), section, name);
        if (set_key(L, c, &ij_settings[i], vn)) return -1;
    }
    return 0;
}

static int load_doc(Loader *L, IjTrainConfig *c)
{
    yaml_node_t *root = yaml_document_get_root_node(&L->doc);
    if (!root) return ij_error("%s: holds no settings (an empty file is most likely a mistake)", L->path);
    if (root->type != YAML_MAPPING_NODE)
        return ij_error("%s:%zu: expected sections (data, logging, mask, meta, optimization) at the top level",
                        L->path, line_of(root));
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&L->doc, p->key);
        const char *name = scalar(kn);
        size_t i = 0;
        while (name && i < ij_settings_count && !(ij_settings[i].section && !strcmp(ij_settings[i].section, name))) i++;
        if (!name || i == ij_settings_count)
            return ij_error("%s:%zu: unknown section '%s' (expected data, logging, mask, meta or optimization)",
                            L->path, line_of(kn), name ? name : "?");
        if (load_section(L, c, name, yaml_document_get_node(&L->doc, p->value))) return -1;
    }
    return 0;
}

static size_t key_index(const char *section, const char *key)
{
    size_t i = 0;
    while (!is_key(&ij_settings[i], section, key)) i++;
    return i;
}

int ij_train_config_load_yaml(IjTrainConfig *c, const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return ij_error("%s: cannot open the config file: %s", path, strerror(errno));
    Loader *L = ij_calloc(1, sizeof *L);
    L->path = path;
    yaml_parser_t parser;
    int rc = -1;
    if (!yaml_parser_initialize(&parser)) {
        ij_error("%s: cannot initialise the YAML parser", path);
        goto out_file;
    }
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &L->doc)) {
        ij_error("%s:%zu: YAML syntax error: %s%s%s", path, parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "unknown problem", parser.context ? " " : "",
                 parser.context ? parser.context : "");
        goto out_parser;
    }
    rc = load_doc(L, c);
    yaml_document_delete(&L->doc);
    if (rc == 0) { /* a second document would be silently ignored: refuse it */
        if (!yaml_parser_load(&parser, &L->doc)) {
            rc = ij_error("%s:%zu: YAML syntax error: %s", path, parser.problem_mark.line + 1,
                          parser.problem ? parser.problem : "unknown problem");
            goto out_parser;
        }
        if (yaml_document_get_root_node(&L->doc))
            rc = ij_error("%s:%zu: only one YAML document is allowed", path, L->doc.start_mark.line + 1);
        yaml_document_delete(&L->doc);
    }
    /* data.dataset wins over the official root_path + image_folder pair. */
    size_t iroot = key_index("data", "root_path"), ifold = key_index("data", "image_folder");
    if (rc == 0 && (L->seen[iroot] || L->seen[ifold]) && !L->seen[key_index("data", "dataset")]) {
        size_t n = strlen(L->root);
        const char *sep = n && L->root[n - 1] != '/' && L->image_folder[0] ? "/" : "";
        int len = snprintf(c->data, sizeof c->data, "%s%s%s", L->root, sep, L->image_folder);
        if (len < 0 || (size_t)len >= sizeof c->data)
            rc = ij_error("%s: data.root_path joined with data.image_folder is longer than %zu characters", path,
                          sizeof c->data - 1);
        else
            memset(c->data + len, 0, sizeof c->data - (size_t)len);
    }
out_parser:
    yaml_parser_delete(&parser);
out_file:
    fclose(fp);
    free(L);
    return rc;
}

/* ---- writing ---- */

/* Fewest digits (15..17) that read back to the same double; always with a '.' so
 * that PyYAML (YAML 1.1) reads a float: 1e-06 -> 1.0e-06, 40 -> 40.0. */
static void write_double(FILE *fp, double x)
{
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    if (strpbrk(buf, ".n")) return (void)fputs(buf, fp); /* has a point, or inf/nan */
    char *e = strchr(buf, 'e');
    if (e) fprintf(fp, "%.*s.0%s", (int)(e - buf), buf, e);
    else fprintf(fp, "%s.0", buf);
}

/* Plain when unambiguous, otherwise double-quoted with escapes. */
static void write_string(FILE *fp, const char *s)
{
    static const char *const reserved[] = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"};
    int plain = isalpha((unsigned char)s[0]) || s[0] == '/' || s[0] == '_';
    for (const char *p = s; *p && plain; p++) plain = isalnum((unsigned char)*p) || strchr("_./+-", *p);
    for (size_t i = 0; plain && i < sizeof reserved / sizeof reserved[0]; i++) plain = strcasecmp(s, reserved[i]) != 0;
    if (plain) return (void)fputs(s, fp);
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(fp, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f) fprintf(fp, "\\x%02x", *p);
        else fputc(*p, fp);
    }
    fputc('"', fp);
}

static void write_yaml(FILE *fp, const IjTrainConfig *c)
{
    fputs("# ijepa.c training configuration: the layout of the official I-JEPA configs\n"
          "# (facebookresearch/ijepa), this program's own keys last in each section.\n",
          fp);
    const char *section = "";
    int in_ext = 0;
    for (size_t i = 0; i < ij_settings_count; i++) {
        const IjSettingRow *k = &ij_settings[i];
        const char *field = (const char *)c + k->off;
        if (!k->section) continue; /* a flag alone */
        if (strcmp(section, k->section)) fprintf(fp, "%s:\n", section = k->section), in_ext = 0;
        if (k->ext && !in_ext) fputs("  # ijepa.c extensions\n", fp), in_ext = 1;
        fprintf(fp, "  %s: ", k->key);
        switch (k->type) {
        case K_INT: fprintf(fp, "%d", *(const int *)field); break;
        case K_DBL: write_double(fp, *(const double *)field); break;
        case K_BOOL: fputs(*(const int *)field ? "true" : "false", fp); break;
        case K_PAIR:
            fputc('[', fp), write_double(fp, ((const double *)field)[0]);
            fputs(", ", fp), write_double(fp, ((const double *)field)[1]), fputc(']', fp);
            break;
        case K_STR: write_string(fp, field); break;
        case K_ROOT: fputs("''  # data.dataset takes precedence", fp); break;
        case K_FOLDER: fputs("''", fp); break;
        case K_ANY: fputs(k->note, fp); break;
        case K_OFF: fputs("false", fp); break;
        case K_ZERO: fputs("0.0", fp); break;
        case K_NULL: fputs("null", fp); break;
        case K_EMA: break;
        }
        fputc('\n', fp);
    }
}

void ij_train_config_print(const IjTrainConfig *c) { write_yaml(stdout, c); }

int ij_train_config_save_yaml(const IjTrainConfig *c, const char *path)
{
    IjAtomicFile af;
    if (ij_atomic_open(&af, path)) return -1;
    write_yaml(af.f, c);
    return ij_atomic_commit(&af, 1);
}

