/* error.h: how the library reports failure.
 *
 * Library functions that can fail on user input (files, options, data) return
 * -1 (or NULL) and leave a one-line message in a thread-local buffer; the CLI
 * prints it as "ijepa: <message>" and exits non-zero. Messages name the file
 * and the problem ("model.safetensors: header length 9999 is past the end of
 * the file"). Programming errors (broken invariants) use IJ_ASSERT, which is
 * always on and aborts with file:line.
 */
#ifndef IJEPA_CORE_ERROR_H
#define IJEPA_CORE_ERROR_H

#include <stddef.h>

#if defined(__GNUC__)
#define IJ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define IJ_PRINTF(a, b)
#endif

/* Set the current thread's error message (printf-style); returns -1 so that
 * `return ij_error("...")` reads naturally. */
int ij_error(const char *fmt, ...) IJ_PRINTF(1, 2);
/* The last message set on this thread ("" if none). */
const char *ij_last_error(void);
/* Forget the last message. */
void ij_clear_error(void);

/* Always-on assertion for invariants the code itself guarantees. */
void ij_assert_fail(const char *expr, const char *file, int line);
#define IJ_ASSERT(e) ((e) ? (void)0 : ij_assert_fail(#e, __FILE__, __LINE__))

/* malloc/calloc that abort with a message on failure (sizes are size_t). */
void *ij_malloc(size_t bytes);
void *ij_calloc(size_t count, size_t size);
/* realloc that aborts with a message on failure. */
void *ij_realloc(void *p, size_t bytes);
/* 64-byte aligned, zeroed; free with free(). */
void *ij_alloc_aligned(size_t bytes);

#endif
