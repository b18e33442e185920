/* fuzz_file.h: for harnesses whose entry point takes a path. The input is
 * written to an in-memory file (memfd) and handed over as /proc/self/fd/N, so
 * each run costs no disk I/O and leaves nothing behind. Linux only; harness use
 * only (one file per program: the functions are static). */
#ifndef IJEPA_TESTS_FUZZ_FILE_H
#define IJEPA_TESTS_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Slot k (0..3) now holds data[0..size); returns its path. Aborts on a
 * failing system call: that is the harness's problem, not a finding. */
static inline const char *fuzz_file(int k, const uint8_t *data, size_t size)
{
    static int fd[4] = {-1, -1, -1, -1};
    static char path[4][64];
    if (fd[k] < 0) {
        fd[k] = memfd_create("ijepa-fuzz", 0);
        if (fd[k] < 0) { perror("memfd_create"); abort(); }
        snprintf(path[k], sizeof path[k], "/proc/self/fd/%d", fd[k]);
    }
    if (ftruncate(fd[k], 0) != 0) { perror("ftruncate"); abort(); }
    for (size_t done = 0; done < size;) {
        ssize_t w = pwrite(fd[k], data + done, size - done, (off_t)done);
        if (w <= 0) { perror("pwrite"); abort(); }
        done += (size_t)w;
    }
    return path[k];
}

#endif
