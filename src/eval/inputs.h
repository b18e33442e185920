/* inputs.h: the checks every evaluation makes of its inputs before it computes. */
#ifndef IJEPA_EVAL_INPUTS_H
#define IJEPA_EVAL_INPUTS_H

/* -1 with "<who>: <which> features contain NaN or Inf (row r)" (or "no ... given"), else 0. */
int ij_check_features(const char *who, const char *which, const float *X, int n, int d);
/* -1 with "<who>: <which> label y at row i is outside [0, C)" (or "no ... given"), else 0. */
int ij_check_labels(const char *who, const char *which, const int *y, int n, int C);

#endif
