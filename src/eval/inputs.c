/* inputs.c: see inputs.h. */
#include "eval/inputs.h"

#include "core/error.h"

#include <math.h>
#include <stddef.h>

/* First row of X[n, d] with a NaN or Inf, or -1. */
static int first_nonfinite_row(const float *X, int n, int d)
{
    int bad = n;
#pragma omp parallel for schedule(static) reduction(min : bad)
    for (int i = 0; i < n; i++) {
        const float *r = X + (size_t)i * d;
        int ok = 1;
        for (int j = 0; j < d; j++) ok &= isfinite(r[j]) != 0;
        if (!ok && i < bad) bad = i;
    }
    return bad < n ? bad : -1;
}

int ij_check_features(const char *who, const char *which, const float *X, int n, int d)
{
    if (n > 0 && !X) return ij_error("%s: no %s features given", who, which);
    int r = n > 0 ? first_nonfinite_row(X, n, d) : -1;
    if (r >= 0) return ij_error("%s: %s features contain NaN or Inf (row %d)", who, which, r);
    return 0;
}

int ij_check_labels(const char *who, const char *which, const int *y, int n, int C)
{
    if (n > 0 && !y) return ij_error("%s: no %s labels given", who, which);
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= C)
            return ij_error("%s: %s label %d at row %d is outside [0, %d)", who, which, y[i], i, C);
    return 0;
}
