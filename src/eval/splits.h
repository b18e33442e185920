/* splits.h: class-stratified validation splits and class-balanced low-shot subsets of a labelled
 * set, drawn at random from a seed (deterministic).
 */
#ifndef IJEPA_EVAL_SPLITS_H
#define IJEPA_EVAL_SPLITS_H

#include <stdint.h>

/* Splits each class of labels[n] at random (from seed) into a validation part of round(fraction *
 * count) rows -- at least 1 and at most count - 1 when the class has 2 or more rows, none when it
 * has 1 -- and a fit part. fit_idx and val_idx (n ints each) receive sorted indices; returns 0 and
 * sets *nfit, *nval, or -1 with an error (label out of range, fraction not in (0, 1)). */
int ij_stratified_split(const int *labels, int n, int C, double fraction, uint64_t seed, int *fit_idx, int *nfit,
                        int *val_idx, int *nval);
/* A class-balanced subset of labels[n]: from each class c with count_c rows, max(1, round(fraction *
 * count_c)) rows (all of them when that exceeds count_c), chosen at random from seed. Writes the
 * sorted indices to out_idx (room for n) and returns their number, or -1 with an error. */
int ij_lowshot_subset(const int *labels, int n, int C, double fraction, uint64_t seed, int *out_idx);

#endif
