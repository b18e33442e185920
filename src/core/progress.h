/* progress.h: how long-running library work reports progress without printing:
 * the caller passes a callback, the CLI draws the line. */
#ifndef IJEPA_CORE_PROGRESS_H
#define IJEPA_CORE_PROGRESS_H

/* what: a short label; fraction: 0..1 done. */
typedef void (*IjProgress)(void *ctx, const char *what, double fraction);

#endif
