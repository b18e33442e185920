/* fsutil.c: see fsutil.h. */
#include "io/fsutil.h"

#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int ij_mkdirs(const char *path)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return ij_error("%s: path too long", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) && errno != EEXIST) return ij_error("%s: cannot create folder: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST) return ij_error("%s: cannot create folder: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) || !S_ISDIR(st.st_mode)) return ij_error("%s: exists and is not a folder", buf);
    return 0;
}

int ij_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

void ij_fsync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1;
    char *dir = ij_malloc(len + 1);
    memcpy(dir, slash ? path : ".", len);
    dir[len] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int ij_atomic_open(IjAtomicFile *a, const char *path)
{
    size_t len = strlen(path) + 32;
    a->path = path;
    a->tmp = ij_malloc(len);
    snprintf(a->tmp, len, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(a->tmp, "wb");
    if (a->f) return 0;
    int err = errno;
    free(a->tmp);
    a->tmp = NULL;
    return ij_error("%s: cannot create temporary file: %s", path, strerror(err));
}

int ij_atomic_commit(IjAtomicFile *a, int wrote_ok)
{
    int ok = wrote_ok && !ferror(a->f) && fflush(a->f) == 0 && fsync(fileno(a->f)) == 0;
    int err = ok ? 0 : errno;
    const char *what = "write failed";
    if (fclose(a->f) != 0 && ok) ok = 0, err = errno;
    if (ok && rename(a->tmp, a->path) != 0) ok = 0, err = errno, what = "cannot rename the temporary file";
    if (ok) ij_fsync_parent_dir(a->path);
    else remove(a->tmp);
    free(a->tmp);
    a->f = NULL;
    a->tmp = NULL;
    return ok ? 0 : ij_error("%s: %s: %s", a->path, what, strerror(err ? err : EIO));
}

int ij_check_writable(const char *path)
{
    char tmp[1200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return ij_error("%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return ij_error("%s: cannot be written: %s", path, strerror(errno));
    fclose(f);
    remove(tmp);
    return 0;
}
