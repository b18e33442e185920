/* splits.c: see splits.h. */
#include "eval/splits.h"

#include "core/error.h"
#include "core/rng.h"
#include "eval/inputs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PURPOSE_VAL_SPLIT 0x76616c73706c6974ull /* "valsplit" */
#define PURPOSE_LOWSHOT 0x6c6f7773686f7400ull   /* "lowshot" */

/* Row indices grouped by class: order[start[c] .. start[c+1]) are class c's rows, increasing. */
static void group_by_class(const int *labels, int n, int C, int *order, int *start)
{
    memset(start, 0, sizeof(int) * (size_t)(C + 1));
    for (int i = 0; i < n; i++) start[labels[i] + 1]++;
    for (int c = 0; c < C; c++) start[c + 1] += start[c];
    int *fill = ij_malloc(sizeof(int) * (size_t)C);
    memcpy(fill, start, sizeof(int) * (size_t)C);
    for (int i = 0; i < n; i++) order[fill[labels[i]]++] = i;
    free(fill);
}

/* Moves k randomly chosen entries of a[0..cnt) to the front (partial Fisher-Yates). */
static void pick_front(int *a, int cnt, int k, uint64_t seed, uint64_t purpose, int c)
{
    IjRng r = ij_rng(seed, purpose, (uint64_t)c);
    for (int j = 0; j < k; j++) {
        int p = j + (int)ij_rng_below(&r, (uint64_t)(cnt - j));
        int t = a[j];
        a[j] = a[p];
        a[p] = t;
    }
}

static int round_count(double fraction, int cnt) { return (int)floor(fraction * cnt + 0.5); }

int ij_stratified_split(const int *labels, int n, int C, double fraction, uint64_t seed, int *fit_idx, int *nfit,
                        int *val_idx, int *nval)
{
    if (n < 0 || C < 1) return ij_error("stratified split: invalid sizes n=%d C=%d", n, C);
    if (!(fraction > 0 && fraction < 1))
        return ij_error("stratified split: validation fraction %g is not in (0, 1)", fraction);
    if (ij_check_labels("stratified split", "training", labels, n, C)) return -1;
    int *order = ij_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1)), *start = ij_malloc(sizeof(int) * (size_t)(C + 1));
    unsigned char *is_val = ij_calloc((size_t)(n > 0 ? n : 1), 1);
    group_by_class(labels, n, C, order, start);
    for (int c = 0; c < C; c++) {
        int cnt = start[c + 1] - start[c], k = 0;
        if (cnt >= 2) {
            k = round_count(fraction, cnt);
            k = k < 1 ? 1 : k > cnt - 1 ? cnt - 1 : k;
        }
        pick_front(order + start[c], cnt, k, seed, PURPOSE_VAL_SPLIT, c);
        for (int j = 0; j < k; j++) is_val[order[start[c] + j]] = 1;
    }
    *nfit = *nval = 0;
    for (int i = 0; i < n; i++) {
        if (is_val[i]) val_idx[(*nval)++] = i;
        else fit_idx[(*nfit)++] = i;
    }
    free(order);
    free(start);
    free(is_val);
    return 0;
}

int ij_lowshot_subset(const int *labels, int n, int C, double fraction, uint64_t seed, int *out_idx)
{
    if (n < 0 || C < 1) return ij_error("low-shot subset: invalid sizes n=%d C=%d", n, C);
    if (!(fraction > 0 && fraction <= 1))
        return ij_error("low-shot subset: fraction %g is not in (0, 1]", fraction);
    if (ij_check_labels("low-shot subset", "training", labels, n, C)) return -1;
    int *order = ij_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1)), *start = ij_malloc(sizeof(int) * (size_t)(C + 1));
    unsigned char *keep = ij_calloc((size_t)(n > 0 ? n : 1), 1);
    group_by_class(labels, n, C, order, start);
    for (int c = 0; c < C; c++) {
        int cnt = start[c + 1] - start[c];
        if (cnt == 0) continue;
        int k = round_count(fraction, cnt);
        k = k < 1 ? 1 : k > cnt ? cnt : k;
        pick_front(order + start[c], cnt, k, seed, PURPOSE_LOWSHOT, c);
        for (int j = 0; j < k; j++) keep[order[start[c] + j]] = 1;
    }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (keep[i]) out_idx[m++] = i;
    free(order);
    free(start);
    free(keep);
    return m;
}
