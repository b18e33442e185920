/* run_folder.h: the rules of a training run's folder.
 *
 * One process at a time: `train` holds an advisory lock (flock) on <folder>/train.lock for the
 * whole run, so a second `train` or `--resume` on the folder fails at once, naming the holder.
 * A new run never lands on top of an old one by accident (ij_run_existing), and files that a
 * killed process left half-written ("<name>.tmp.<pid>", see fsutil.h) are removed at start.
 */
#ifndef IJEPA_IO_RUN_FOLDER_H
#define IJEPA_IO_RUN_FOLDER_H

typedef struct {
    int fd; /* -1: not held */
} IjRunLock;

/* Create folder (mkdir -p) and take its lock, writing this process's pid into train.lock.
 * -1 with "<folder>: in use by another ijepa train (pid N)" if another process holds it. */
int ij_run_lock(IjRunLock *l, const char *folder);
/* Release (also done by the kernel when the process ends, even by kill -9). Safe twice. */
void ij_run_unlock(IjRunLock *l);
/* The first of config.yaml, metrics.jsonl, checkpoint.safetensors that folder holds, or NULL. */
const char *ij_run_existing(const char *folder);
/* Remove the files of a previous run (the three above, checkpoint-epoch*.safetensors,
 * curves.png): `train --force`. -1 with "<path>: cannot remove: ..." */
int ij_run_clear(const char *folder);
/* Remove "<name>.tmp.<pid>" files in folder whose process no longer runs; the number removed. */
int ij_run_remove_stale(const char *folder);

#endif
