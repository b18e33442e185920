/* online_probe.h: a small frozen-feature probe run during training, so a run
 * shows its learning curve. Both of its sets come from the TRAINING split
 * (fixed, disjoint, class-balanced by construction of a seeded shuffle): a fit
 * set for the classifiers and a held-out set they are scored on. The test
 * split is never touched; final numbers come from `ijepa probe`. */
#ifndef IJEPA_EVAL_ONLINE_PROBE_H
#define IJEPA_EVAL_ONLINE_PROBE_H

#include "data/dataset.h"
#include "eval/embed.h"
#include "model/model.h"

typedef struct {
    IjImageSet fit, held;   /* views with their own pixel/label copies */
    float *xfit, *xheld;    /* features */
    IjPool pool;            /* which features (eval/embed.h) */
} IjOnlineProbe;

typedef struct { double linear, knn; double seconds; } IjOnlineProbeResult;

/* Take n_fit + n_held images of `train` (a seeded random subset). */
int ij_online_probe_init(IjOnlineProbe *p, const IjImageSet *train, int n_fit, int n_held, uint64_t seed,
                         IjPool pool);
void ij_online_probe_free(IjOnlineProbe *p);
/* Embed both sets with the target encoder and score a linear probe (lambda
 * chosen on a split of the fit set) and k-NN on the held-out set. */
int ij_online_probe_run(IjOnlineProbe *p, IjModel *m, IjOnlineProbeResult *r);

#endif
