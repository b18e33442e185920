/* metrics.h: a JSON-lines metrics file (one object per line, flushed each line). */
#ifndef IJEPA_IO_METRICS_H
#define IJEPA_IO_METRICS_H

#include <stdio.h>

typedef struct {
    FILE *f;
    char path[1024];
} IjMetrics;

/* Open for appending (creating it). */
int ij_metrics_open(IjMetrics *m, const char *path);
/* Write one line from alternating key/value pairs: n numeric fields. */
int ij_metrics_write(IjMetrics *m, const char *const *keys, const double *values, int n);
void ij_metrics_close(IjMetrics *m);
/* Resuming from a checkpoint at `step`: drop every line past it (written before a kill, they
 * would come again) and any partial line, so no step appears twice. The file is rewritten
 * atomically, and only when something is dropped. Returns the number of lines dropped (0 when
 * the file does not exist), or -1 with "<path>: ...". */
int ij_metrics_cut(const char *path, long long step);

#endif
