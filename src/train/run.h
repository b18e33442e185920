/* run.h: a whole training run from a configuration (what `ijepa train` does once its flags are
 * parsed): the run folder (lock, checks, resume; io/run_folder.h), the data, the trainer, the loop
 * with its metrics lines, progress line, checkpoints and stop signals, and the final checkpoint
 * and curves.png. The online probe and the collapse diagnostics come in as hooks, so that train/
 * needs nothing from eval/ or cli/. Progress and settings are printed to stdout.
 */
#ifndef IJEPA_TRAIN_RUN_H
#define IJEPA_TRAIN_RUN_H

#include "data/dataset.h"
#include "io/metrics.h"
#include "train/train_config.h"
#include "train/trainer.h"

typedef struct {
    int resume;          /* continue the run in cfg->folder from its checkpoint */
    int force;           /* replace the run cfg->folder holds */
    int strict;          /* a corrupt image stops the run (else it is skipped with a warning) */
    double bucket_mb;    /* mpirun: gradient allreduce bucket size in MiB */
    int check_every;     /* mpirun: steps between replica checks (0: at checkpoints only) */
} IjRunOptions;

typedef struct {
    void *ctx;
    /* Once the data and the trainer exist, when probes or diagnostics are due (may be NULL). */
    int (*start)(void *ctx, const IjImageSet *data, IjTrainer *t);
    /* The online probe at t->step: one metrics line; *seconds its time (not counted as training).
     * NULL: no probes (logging.probe_every is ignored). tty: the progress line is on a terminal. */
    int (*probe)(void *ctx, IjTrainer *t, IjMetrics *metrics, int tty, double *seconds);
    /* The collapse diagnostics alone: one metrics line. NULL: none (logging.diag_every is ignored). */
    int (*diagnose)(void *ctx, IjTrainer *t, IjMetrics *metrics, double *seconds);
    void (*finish)(void *ctx); /* may be NULL */
} IjRunHooks;

/* Runs the training of cfg (validated) with options o and hooks h (NULL: none). Returns 0 when
 * it ends (all steps, or logging.max_minutes), 128 + the signal when SIGTERM or SIGINT stopped it
 * (with a checkpoint at that step), or -1 with ij_error set. */
int ij_train_run(const IjTrainConfig *cfg, const IjRunOptions *o, const IjRunHooks *h);

#endif
