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

#endif
