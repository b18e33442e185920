/* run_folder.c: see run_folder.h. */
#include "io/run_folder.h"

#include "core/error.h"
#include "io/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static const char *const run_files[] = {"config.yaml", "metrics.jsonl", "checkpoint.safetensors"};

int ij_run_lock(IjRunLock *l, const char *folder)
{
    l->fd = -1;
    if (ij_mkdirs(folder)) return -1;
    char path[1100];
    snprintf(path, sizeof path, "%s/train.lock", folder);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ij_error("%s: cannot open: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char buf[32] = {0};
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
        close(fd);
        if (err == EWOULDBLOCK && pid > 0)
            return ij_error("%s: in use by another ijepa train (pid %ld)", folder, pid);
        if (err == EWOULDBLOCK) return ij_error("%s: in use by another ijepa train", folder);
        return ij_error("%s: cannot lock: %s", path, strerror(err));
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        int err = errno;
        close(fd);
        return ij_error("%s: cannot write: %s", path, strerror(err));
    }
    l->fd = fd;
    return 0;
}

void ij_run_unlock(IjRunLock *l)
{
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
}

const char *ij_run_existing(const char *folder)
{
    char path[1100];
    for (size_t i = 0; i < sizeof run_files / sizeof run_files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", folder, run_files[i]);
        if (ij_exists(path)) return run_files[i];
    }
    return NULL;
}

/* "checkpoint-epoch<digits>.safetensors" */
static int is_epoch_checkpoint(const char *name)
{
    const char *p = name + strlen("checkpoint-epoch");
    if (strncmp(name, "checkpoint-epoch", strlen("checkpoint-epoch")) || !(*p >= '0' && *p <= '9')) return 0;
    while (*p >= '0' && *p <= '9') p++;
    return strcmp(p, ".safetensors") == 0;
}

/* The pid of "<name>.tmp.<pid>", or 0 if name is not such a file. */
static long tmp_pid(const char *name)
{
    const char *t = strstr(name, ".tmp.");
    while (t && strstr(t + 1, ".tmp.")) t = strstr(t + 1, ".tmp.");
    if (!t || t == name) return 0;
    char *end;
    long pid = strtol(t + 5, &end, 10);
    return *end || pid <= 0 || t[5] < '0' || t[5] > '9' ? 0 : pid;
}

static int remove_matching(const char *folder, int stale_only, int *removed)
{
    DIR *d = opendir(folder);
    if (!d) return errno == ENOENT ? 0 : ij_error("%s: cannot list: %s", folder, strerror(errno));
    struct dirent *e;
    char path[1400];
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        long pid = tmp_pid(e->d_name);
        int hit = stale_only ? pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH
                             : is_epoch_checkpoint(e->d_name) || !strcmp(e->d_name, "curves.png");
        if (!hit) continue;
        snprintf(path, sizeof path, "%s/%s", folder, e->d_name);
        if (remove(path) != 0) rc = ij_error("%s: cannot remove: %s", path, strerror(errno));
        else (*removed)++;
    }
    closedir(d);
    return rc;
}

int ij_run_clear(const char *folder)
{
    char path[1100];
    for (size_t i = 0; i < sizeof run_files / sizeof run_files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", folder, run_files[i]);
        if (remove(path) != 0 && errno != ENOENT) return ij_error("%s: cannot remove: %s", path, strerror(errno));
    }
    int removed = 0;
    return remove_matching(folder, 0, &removed);
}

int ij_run_remove_stale(const char *folder)
{
    int removed = 0;
    remove_matching(folder, 1, &removed); /* best effort: a leftover file is harmless */
    return removed;
}
