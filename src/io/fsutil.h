/* fsutil.h: small file-system helpers with checked errors. */
#ifndef IJEPA_IO_FSUTIL_H
#define IJEPA_IO_FSUTIL_H

/* mkdir -p; -1 with "<path>: <reason>" on failure. */
int ij_mkdirs(const char *path);
/* 1 if path exists (any type), 0 otherwise. */
int ij_exists(const char *path);

#endif
