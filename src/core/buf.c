/* buf.c: see buf.h. */
#include "core/buf.h"

#include "core/error.h"

#include <stdlib.h>

void *ij_buf_reserve(IjBuf *b, size_t bytes)
{
    if (bytes > b->cap || !b->p) {
        free(b->p);
        b->cap = bytes + bytes / 4 + 64;
        b->p = ij_alloc_aligned(b->cap);
    }
    return b->p;
}

void ij_buf_free(IjBuf *b)
{
    free(b->p);
    b->p = NULL;
    b->cap = 0;
}
