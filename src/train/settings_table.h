/* settings_table.h: the training settings table (train_config.c) as the YAML reader and writer
 * (config_yaml.c) see it: one row per setting, {section, key, type, field, bounds, flag, help}. */
#ifndef IJEPA_TRAIN_SETTINGS_TABLE_H
#define IJEPA_TRAIN_SETTINGS_TABLE_H

#include "train/train_config.h"

#include <stddef.h>
#include <string.h>


typedef enum {
    K_INT,    /* int */
    K_DBL,    /* double */
    K_BOOL,   /* int 0/1, YAML true/false */
    K_PAIR,   /* double[2], YAML list of 2 numbers */
    K_STR,    /* char[size] */
    K_ROOT,   /* data.root_path: joined with image_folder after loading */
    K_FOLDER, /* data.image_folder */
    K_ANY,    /* accepted, no effect; `note` is the value written */
    K_OFF,    /* must be false; `note` says why */
    K_ZERO,   /* must be 0; `note` says why */
    K_NULL,   /* must be null; `note` says why */
    K_EMA,    /* a flag alone (no YAML key): --ema on|off|A,B sets optimization.ema and use_ema */
} IjKeyType;

/* One setting: its YAML key (section NULL: a flag alone), its flag (NULL: YAML alone), where it
 * lives, its bounds and its help. A row with `shape` sets that field of the model and takes its
 * bounds from model/config.h (0 allowed as well when `preset0`: "the preset's"). */
typedef struct {
    const char *section, *key;
    IjKeyType type;
    size_t off, size;
    int ext; /* 1: this program's extension, not in the official configs */
    const char *note;
    const char *flag;
    double min, max; /* numbers and both ends of pairs, inclusive; min > max: unbounded */
    const char *shape;
    int preset0;
    const char *help;
} IjSettingRow;

extern const IjSettingRow ij_settings[];
extern const size_t ij_settings_count;
#define IJ_SETTINGS_MAX 128 /* at least ij_settings_count (train_config.c checks) */

/* The bounds of a number or pair setting; 0 when it has none. */
int ij_setting_bounds(const IjSettingRow *k, double *lo, double *hi);
/* "... is out of range [lo, hi]" (in buf) when the field of k in c is outside its bounds, else NULL. */
const char *ij_setting_out_of_range(const IjSettingRow *k, const IjTrainConfig *c, char *buf, size_t size);

/* Copy s into a char[size] field, zero-filling the rest (so structs compare with memcmp); -1 if too long. */
static inline int ij_setting_set_text(char *dst, size_t size, const char *s)
{
    size_t n = strlen(s);
    if (n >= size) return -1;
    memset(dst, 0, size);
    memcpy(dst, s, n);
    return 0;
}

#endif
