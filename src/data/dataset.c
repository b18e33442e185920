/* dataset.c: in-memory image sets from IDX files, image folders or tar shards
 * (see dataset.h). JPEG/PNG sources go through one builder: each file is
 * decoded as it is met, its pixels appended to a growing buffer and its class
 * name looked up in a list kept in order of first appearance; at the end the
 * names are sorted and the labels renumbered, so labels follow sorted names
 * whatever order the files came in. */
#include "data/dataset.h"

#include "core/error.h"
#include "data/idx.h"
#include "data/image_decode.h"
#include "data/shard_list.h"
#include "data/tar.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- the builder ---- */


typedef struct {
    IjImageSet *s;
    int channels, strict, keep_files;
    size_t cap;            /* images the pixel buffer (or file_off / file_hw) holds */
    size_t files_cap;      /* bytes s->files holds (keep_files) */
    size_t image_bytes;    /* h * w * c, set by the first image */
    char first[1024];      /* the first image's name, for size mismatch messages */
    char **classes;        /* names in order of first appearance */
    int nclasses, cap_classes, last_class;
    int *raw;              /* [cap] index into classes, -1 unlabeled */
    int cap_raw;
    int labeled;           /* -1 not known yet, 0 top-level images, 1 class folders */
    const char *where;     /* the source, for the "mixes" message */
} Builder;

static void builder_free(Builder *b)
{
    for (int i = 0; i < b->nclasses; i++) free(b->classes[i]);
    free(b->classes);
    free(b->raw);
    ij_imageset_free(b->s);
}

/* Index of class `name` (n bytes), added when new. Files come grouped by class,
 * so the last one found is tried first. */
static int class_index(Builder *b, const char *name, size_t n)
{
    if (b->last_class >= 0 && strlen(b->classes[b->last_class]) == n && !memcmp(b->classes[b->last_class], name, n))
        return b->last_class;
    for (int i = 0; i < b->nclasses; i++)
        if (strlen(b->classes[i]) == n && !memcmp(b->classes[i], name, n)) return b->last_class = i;
    if (b->nclasses == b->cap_classes) {
        b->cap_classes = b->cap_classes ? 2 * b->cap_classes : 16;
        b->classes = ij_realloc(b->classes, sizeof(char *) * (size_t)b->cap_classes);
    }
    char *copy = ij_malloc(n + 1);
    memcpy(copy, name, n);
    copy[n] = '\0';
    b->classes[b->nclasses] = copy;
    return b->last_class = b->nclasses++;
}

/* Decodes one file and appends it. cls: its class name (n bytes), or NULL for
 * a top-level image. Returns -1 on an error that ends the load. */
static int add_image(Builder *b, const uint8_t *data, size_t size, const char *name, const char *cls, size_t n)
{
    int labeled = cls != NULL;
    if (b->labeled < 0) b->labeled = labeled;
    if (b->labeled != labeled)
        return ij_error("%s: mixes images at the top level with images in class folders (at %s)", b->where, name);
    IjImage im;
    if (ij_image_decode(&im, data, size, b->channels, 0, name)) {
        if (b->strict) return -1;
        fprintf(stderr, "ijepa: warning: %s; skipped\n", ij_last_error());
        ij_clear_error();
        b->s->skipped++;
        return 0;
    }
    IjImageSet *s = b->s;
    if (s->count == 0) {
        s->height = im.height;
        s->width = im.width;
        s->channels = im.channels;
        b->image_bytes = (size_t)im.height * (size_t)im.width * (size_t)im.channels;
        snprintf(b->first, sizeof b->first, "%s", name);
    } else if (im.height != s->height || im.width != s->width) {
        int h = im.height, w = im.width;
        if (b->keep_files) {
            s->height = s->width = 0; /* sizes differ: fine when decoding on use */
        } else {
            ij_image_free(&im);
            return ij_error("%s: image is %dx%d (width x height) but %s is %dx%d; all images must have the same "
                            "size (or decode per batch: train --decode per-batch)",
                            name, w, h, b->first, s->width, s->height);
        }
    }
    if (s->count == 0x7fffffff) {
        ij_image_free(&im);
        return ij_error("%s: more than %d images", b->where, 0x7fffffff);
    }
    if ((size_t)s->count == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 256;
        b->raw = ij_realloc(b->raw, sizeof(int) * b->cap);
        s->names = ij_realloc(s->names, sizeof(char *) * b->cap);
        if (b->keep_files) {
            s->file_off = ij_realloc(s->file_off, sizeof(size_t) * (b->cap + 1));
            s->file_hw = ij_realloc(s->file_hw, sizeof(int) * 2 * b->cap);
            if (s->count == 0) s->file_off[0] = 0;
        } else {
            s->pixels = ij_realloc(s->pixels, b->cap * b->image_bytes);
        }
    }
    if (b->keep_files) {
        size_t at = s->file_off[s->count];
        if (at + size > b->files_cap) {
            b->files_cap = 2 * (at + size) + 4096;
            s->files = ij_realloc(s->files, b->files_cap);
        }
        memcpy(s->files + at, data, size);
        s->file_off[s->count + 1] = at + size;
        s->file_hw[2 * s->count] = im.height;
        s->file_hw[2 * s->count + 1] = im.width;
    } else {
        memcpy(s->pixels + (size_t)s->count * b->image_bytes, im.pixels, b->image_bytes);
    }
    b->raw[s->count] = labeled ? class_index(b, cls, n) : -1;
    size_t len = strlen(name) + 1;
    s->names[s->count] = memcpy(ij_malloc(len), name, len);
    s->count++;
    ij_image_free(&im);
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A class name that is a whole non-negative number (WebDataset .cls labels, folders named 0..9). */
static int is_number(const char *s)
{
    if (!*s || strlen(s) > 18) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

static int cmp_num(const void *a, const void *b)
{
    long long x = atoll(*(char *const *)a), y = atoll(*(char *const *)b);
    return (x > y) - (x < y);
}

/* Sorts the class names (numerically when all are numbers), renumbers the labels, hands both to the set. */
static int builder_finish(Builder *b)
{
    IjImageSet *s = b->s;
    if (s->count == 0) {
        if (s->skipped)
            return ij_error("%s: none of its %d image files could be decoded", b->where, s->skipped);
        return ij_error("%s: no .jpg/.jpeg/.png images", b->where);
    }
    if (b->cap > (size_t)s->count && s->pixels) {
        uint8_t *shrunk = realloc(s->pixels, (size_t)s->count * b->image_bytes);
        if (shrunk) s->pixels = shrunk;
    }
    if (s->files && b->files_cap > s->file_off[s->count]) {
        uint8_t *shrunk = realloc(s->files, s->file_off[s->count]);
        if (shrunk) s->files = shrunk;
    }
    if (b->labeled == 1) {
        int n = b->nclasses;
        char **sorted = ij_malloc(sizeof(char *) * (size_t)n);
        memcpy(sorted, b->classes, sizeof(char *) * (size_t)n);
        int numbers = 1; /* numbers sort as numbers ("2" before "10"), names as strings */
        for (int i = 0; i < n; i++) numbers &= is_number(sorted[i]);
        qsort(sorted, (size_t)n, sizeof(char *), numbers ? cmp_num : cmp_str);
        int *renum = ij_malloc(sizeof(int) * (size_t)n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (b->classes[j] == sorted[i]) renum[j] = i;
        s->labels = ij_malloc(sizeof(int) * (size_t)s->count);
        for (int i = 0; i < s->count; i++) s->labels[i] = renum[b->raw[i]];
        free(renum);
        free(b->classes);
        s->class_names = sorted;
        s->num_classes = n;
    } else {
        for (int i = 0; i < b->nclasses; i++) free(b->classes[i]);
        free(b->classes);
    }
    b->classes = NULL;
    b->nclasses = 0;
    free(b->raw);
    b->raw = NULL;
    return 0;
}

/* ---- files and folders ---- */

static int has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    const char *slash = strrchr(name, '/');
    if (!dot || (slash && dot < slash)) return 0;
    return !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png");
}

/* Reads a whole file into a new buffer (*data NULL for an empty file). */
static int read_file(const char *path, uint8_t **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ij_error("%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st)) {
        int e = errno;
        fclose(f);
        return ij_error("%s: cannot stat (%s)", path, strerror(e));
    }
    size_t n = (size_t)st.st_size;
    if (n) {
        *data = ij_malloc(n);
        if (fread(*data, 1, n, f) != n) {
            int e = ferror(f) ? errno : 0;
            fclose(f);
            free(*data);
            *data = NULL;
            return ij_error("%s: read failed (%s)", path, e ? strerror(e) : "file shrank while reading");
        }
    }
    fclose(f);
    *size = n;
    return 0;
}

typedef struct {
    char **names;
    int n, cap;
} NameList;

static void names_free(NameList *l)
{
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

static void names_add(NameList *l, const char *name)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->names = ij_realloc(l->names, sizeof(char *) * (size_t)l->cap);
    }
    size_t len = strlen(name) + 1;
    l->names[l->n] = ij_malloc(len);
    memcpy(l->names[l->n++], name, len);
}

/* Lists dir (hidden entries left out), sorted: subfolders into dirs (may be
 * NULL), image files into files. */
static int list_dir(const char *dir, NameList *dirs, NameList *files)
{
    DIR *d = opendir(dir);
    if (!d) return ij_error("%s: cannot open folder (%s)", dir, strerror(errno));
    struct dirent *ent;
    char path[4096];
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.') continue;
        int n = snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        if (n < 0 || (size_t)n >= sizeof path) {
            closedir(d);
            return ij_error("%s/%s: path too long", dir, ent->d_name);
        }
        struct stat st;
        if (stat(path, &st)) continue; /* a dangling link */
        if (S_ISDIR(st.st_mode)) {
            if (dirs) names_add(dirs, ent->d_name);
        } else if (S_ISREG(st.st_mode) && has_image_ext(ent->d_name)) {
            names_add(files, ent->d_name);
        }
    }
    closedir(d);
    if (dirs && dirs->n > 1) qsort(dirs->names, (size_t)dirs->n, sizeof(char *), cmp_str);
    if (files->n > 1) qsort(files->names, (size_t)files->n, sizeof(char *), cmp_str);
    return 0;
}

/* Decodes dir/<each file> into the builder, with class cls (NULL: none). */
static int add_files(Builder *b, const char *dir, const NameList *files, const char *cls)
{
    char path[4096];
    for (int i = 0; i < files->n; i++) {
        int n = snprintf(path, sizeof path, "%s/%s", dir, files->names[i]);
        if (n < 0 || (size_t)n >= sizeof path) return ij_error("%s/%s: path too long", dir, files->names[i]);
        uint8_t *data;
        size_t size;
        if (read_file(path, &data, &size)) return -1;
        int rc = add_image(b, data, size, path, cls, cls ? strlen(cls) : 0);
        free(data);
        if (rc) return -1;
    }
    return 0;
}

static int load_folder(Builder *b, const char *root)
{
    NameList dirs = {0}, files = {0};
    int rc = list_dir(root, &dirs, &files);
    if (!rc && dirs.n) {
        b->labeled = 1;
        for (int c = 0; c < dirs.n; c++) class_index(b, dirs.names[c], strlen(dirs.names[c])); /* empty ones too */
        char sub[4096];
        for (int c = 0; c < dirs.n && !rc; c++) {
            int n = snprintf(sub, sizeof sub, "%s/%s", root, dirs.names[c]);
            if (n < 0 || (size_t)n >= sizeof sub) {
                rc = ij_error("%s/%s: path too long", root, dirs.names[c]);
                break;
            }
            NameList in_class = {0};
            rc = list_dir(sub, NULL, &in_class);
            if (!rc) rc = add_files(b, sub, &in_class, dirs.names[c]);
            names_free(&in_class);
        }
    } else if (!rc) {
        b->labeled = 0;
        rc = add_files(b, root, &files, NULL);
    }
    names_free(&dirs);
    names_free(&files);
    return rc;
}

/* ---- tar shards ---- */

/* An entry's key, WebDataset's way: its path up to the first '.' of the file name ("a/b/0001.jpg" and
 * "a/b/0001.cls": "a/b/0001"); its length. */
static size_t entry_key(const char *name)
{
    const char *slash = strrchr(name, '/'), *base = slash ? slash + 1 : name, *dot = strchr(base, '.');
    return dot ? (size_t)(dot - name) : strlen(name);
}

typedef struct {
    const char *key, *label; /* malloc'd copies */
    size_t key_len, label_len;
} ClsLabel;

static int cmp_cls(const void *a, const void *b)
{
    const ClsLabel *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* The WebDataset labels of a shard: every "KEY.cls" entry (its text, trimmed), sorted by key; keys and
 * labels are copies (the archive is closed before the images are read). */
static int shard_cls_labels(const char *path, ClsLabel **out, int *n)
{
    IjTar t;
    if (ij_tar_open(&t, path)) return -1;
    IjTarEntry e;
    int rc, cap = 0;
    *out = NULL, *n = 0;
    while ((rc = ij_tar_next(&t, &e)) == 1) {
        size_t len = strlen(e.name), k = entry_key(e.name);
        if (len < 4 || strcasecmp(e.name + len - 4, ".cls") || k != len - 4) continue;
        const char *txt = (const char *)e.data;
        size_t a = 0, b = e.size;
        while (a < b && isspace((unsigned char)txt[a])) a++;
        while (b > a && isspace((unsigned char)txt[b - 1])) b--;
        if (a == b) {
            rc = ij_error("%s:%s: empty class label", path, e.name);
            break;
        }
        if (*n == cap) *out = ij_realloc(*out, sizeof(ClsLabel) * (size_t)(cap = cap ? 2 * cap : 256));
        char *key = ij_malloc(k + 1), *label = ij_malloc(b - a + 1); /* copies: the archive is closed after */
        memcpy(key, e.name, k);
        key[k] = '\0';
        memcpy(label, txt + a, b - a);
        label[b - a] = '\0';
        (*out)[(*n)++] = (ClsLabel){key, label, k, b - a};
    }
    if (rc == 0 && *n > 1) qsort(*out, (size_t)*n, sizeof(ClsLabel), cmp_cls);
    ij_tar_close(&t);
    return rc < 0 ? -1 : 0;
}

static void cls_labels_free(ClsLabel *l, int n)
{
    for (int i = 0; i < n; i++) free((char *)l[i].key), free((char *)l[i].label);
    free(l);
}

static int load_shard(Builder *b, const char *path)
{
    ClsLabel *cls_labels;
    int ncls;
    if (shard_cls_labels(path, &cls_labels, &ncls)) return -1;
    IjTar t;
    if (ij_tar_open(&t, path)) {
        cls_labels_free(cls_labels, ncls);
        return -1;
    }
    IjTarEntry e;
    int rc, images = 0;
    char name[sizeof t.path + sizeof e.name + 2];
    while ((rc = ij_tar_next(&t, &e)) == 1) {
        if (!has_image_ext(e.name)) continue;
        images++;
        snprintf(name, sizeof name, "%s:%s", path, e.name);
        /* class: the sample's .cls label (WebDataset), else the name of the folder holding the file */
        const char *slash = strrchr(e.name, '/'), *cls = NULL;
        size_t n = 0;
        ClsLabel want = {e.name, NULL, entry_key(e.name), 0};
        const ClsLabel *hit = ncls ? bsearch(&want, cls_labels, (size_t)ncls, sizeof want, cmp_cls) : NULL;
        if (hit) {
            cls = hit->label, n = hit->label_len;
        } else if (ncls) {
            rc = ij_error("%s: has .cls labels, but not for %s", path, e.name);
            break;
        } else if (slash) {
            const char *start = slash;
            while (start > e.name && start[-1] != '/') start--;
            cls = start;
            n = (size_t)(slash - start);
            if (n == 0) cls = NULL; /* "/file.jpg" or "a//file.jpg" */
        }
        if (add_image(b, e.data, e.size, name, cls, n)) {
            rc = -1;
            break;
        }
    }
    ij_tar_close(&t);
    cls_labels_free(cls_labels, ncls);
    if (rc < 0) return -1;
    if (images == 0) return ij_error("%s: no .jpg/.jpeg/.png entries", path);
    return 0;
}

static int load_shards(Builder *b, const char *spec)
{
    char **shards;
    int n;
    if (ij_shard_list(spec, &shards, &n)) return -1;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) rc = load_shard(b, shards[i]);
    ij_shard_list_free(shards, n);
    return rc;
}

/* ---- IDX ---- */

static int load_idx(IjImageSet *s, const char *spec, int train, int channels)
{
    char images[1024], labels[1024];
    if (ij_idx_find_dataset(images, labels, sizeof images, spec, train)) return -1;
    IjIdx d;
    if (ij_idx_load(&d, images, labels[0] ? labels : NULL)) return -1;
    snprintf(s->source, sizeof s->source, "%s", images);
    s->count = d.count;
    s->height = d.rows;
    s->width = d.cols;
    s->channels = 1;
    s->has_splits = 1;
    s->pixels = d.pixels;
    s->num_classes = d.classes;
    if (channels == 3) {
        size_t npix = (size_t)d.count * (size_t)d.rows * (size_t)d.cols;
        s->pixels = ij_malloc(npix * 3);
        ij_gray_to_rgb(s->pixels, d.pixels, npix);
        free(d.pixels);
        s->channels = 3;
    }
    if (d.labels) {
        s->labels = ij_malloc(sizeof(int) * (size_t)d.count);
        for (int i = 0; i < d.count; i++) s->labels[i] = d.labels[i];
        free(d.labels);
    }
    return 0;
}

/* Does folder dir hold an IDX images file? */
static int holds_idx(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *ent;
    int found = 0;
    while (!found && (ent = readdir(d))) found = strstr(ent->d_name, "-images-idx3-ubyte") != NULL;
    closedir(d);
    return found;
}

static int ends_with_tar(const char *s)
{
    size_t n = strlen(s);
    return (n >= 4 && !strcasecmp(s + n - 4, ".tar")) || (n >= 7 && !strcasecmp(s + n - 7, ".tar.gz")) ||
           (n >= 4 && !strcasecmp(s + n - 4, ".tgz"));
}

/* A file with the ustar magic at offset 257. */
static int looks_like_tar(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    uint8_t h[263];
    int ok = fread(h, 1, sizeof h, f) == sizeof h && !memcmp(h + 257, "ustar", 5);
    fclose(f);
    return ok;
}

int ij_imageset_load_opts(IjImageSet *s, const char *spec, int train, const IjLoadOptions *o)
{
    memset(s, 0, sizeof *s);
    IjLoadOptions def = {0, 0, 0};
    if (!o) o = &def;
    if (o->channels != 0 && o->channels != 1 && o->channels != 3)
        return ij_error("%s: asked for %d channels (1 or 3)", spec, o->channels);
    if (!spec[0]) return ij_error("empty data source");
    struct stat st;
    int exists = stat(spec, &st) == 0;
    int tar = ij_shard_spec_is_list(spec) ||
              (exists ? S_ISREG(st.st_mode) && (ends_with_tar(spec) || looks_like_tar(spec)) : ends_with_tar(spec));
    int folder = !tar && exists && S_ISDIR(st.st_mode) && !holds_idx(spec);
    if (!tar && !folder) {
        if (!exists && strchr(spec, '/')) return ij_error("%s: no such file or directory", spec);
        if (load_idx(s, spec, train, o->channels)) {
            ij_imageset_free(s);
            return -1;
        }
        return 0;
    }
    Builder b = {.s = s, .channels = o->channels ? o->channels : 3, .strict = o->strict,
                 .keep_files = o->keep_files, .last_class = -1, .labeled = -1, .where = spec};
    int rc = tar ? load_shards(&b, spec) : load_folder(&b, spec);
    if (!rc) rc = builder_finish(&b);
    if (rc) {
        builder_free(&b);
        return -1;
    }
    snprintf(s->source, sizeof s->source, "%s", spec);
    return 0;
}

int ij_imageset_load(IjImageSet *s, const char *spec, int train) { return ij_imageset_load_opts(s, spec, train, NULL); }

int ij_imageset_decode(const IjImageSet *s, int i, int min_side, IjImage *out)
{
    IJ_ASSERT(s->files && i >= 0 && i < s->count);
    char name[1100];
    snprintf(name, sizeof name, "%s: image %d", s->source, i);
    return ij_image_decode(out, s->files + s->file_off[i], s->file_off[i + 1] - s->file_off[i], s->channels,
                           min_side, name);
}

void ij_imageset_free(IjImageSet *s)
{
    free(s->pixels);
    free(s->files);
    free(s->file_off);
    free(s->file_hw);
    free(s->labels);
    for (int i = 0; s->names && i < s->count; i++) free(s->names[i]);
    free(s->names);
    if (s->class_names)
        for (int i = 0; i < s->num_classes; i++) free(s->class_names[i]);
    free(s->class_names);
    memset(s, 0, sizeof *s);
}
