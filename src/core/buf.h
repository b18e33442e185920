/* buf.h: a growable scratch buffer. Steps reserve what they need; memory is
 * (re)allocated only when a step needs more than any step before it. */
#ifndef IJEPA_CORE_BUF_H
#define IJEPA_CORE_BUF_H

#include <stddef.h>

typedef struct {
    void *p;
    size_t cap;  /* bytes */
} IjBuf;

/* Returns a pointer to at least `bytes` bytes (64-byte aligned, contents not kept). */
void *ij_buf_reserve(IjBuf *b, size_t bytes);
void ij_buf_free(IjBuf *b);

#define IJ_BUF_F(b, n) ((float *)ij_buf_reserve((b), sizeof(float) * (size_t)(n)))
#define IJ_BUF_I(b, n) ((int *)ij_buf_reserve((b), sizeof(int) * (size_t)(n)))

#endif
