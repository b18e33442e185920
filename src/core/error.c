/* error.c: thread-local error messages, assertions and checked allocation. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static _Thread_local char last_error[1024];

int ij_error(const char *fmt, ...)
{
    /* Formatted aside first: an argument may be ij_last_error() itself
     * (ij_error("%s: %s", path, ij_last_error()) adds a prefix), and
     * vsnprintf into its own source is undefined. */
    char msg[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_error, msg, sizeof msg);
    return -1;
}

const char *ij_last_error(void) { return last_error; }

void ij_clear_error(void) { last_error[0] = '\0'; }

void ij_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "ijepa: internal error: %s:%d: assertion '%s' failed\n", file, line, expr);
    abort();
}

void *ij_malloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "ijepa: out of memory allocating %zu bytes\n", bytes);
        exit(1);
    }
    return p;
}

void *ij_realloc(void *p, size_t bytes)
{
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) {
        fprintf(stderr, "ijepa: out of memory allocating %zu bytes\n", bytes);
        exit(1);
    }
    return q;
}

void *ij_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "ijepa: out of memory allocating %zu x %zu bytes\n", count, size);
        exit(1);
    }
    return p;
}

#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_MIN ((size_t)4 << 20)

void *ij_alloc_aligned(size_t bytes)
{
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p;
    if (rounded >= HUGE_MIN) {
        /* the step's large buffers on 2 MiB pages where the kernel allows them (transparent huge
         * pages in madvise mode): fewer TLB misses as the products stream through them (config 1:
         * +1.6-7.0% images/s in interleaved `ijepa bench` pairs; peak memory +18-26 MiB) */
        rounded = (rounded + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        p = aligned_alloc(HUGE_PAGE, rounded);
#ifdef MADV_HUGEPAGE
        if (p) madvise(p, rounded, MADV_HUGEPAGE);
#endif
    } else {
        p = aligned_alloc(64, rounded ? rounded : 64);
    }
    if (!p) {
        fprintf(stderr, "ijepa: out of memory allocating %zu bytes\n", bytes);
        exit(1);
    }
    memset(p, 0, rounded ? rounded : 64);
    return p;
}
