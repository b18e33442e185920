#!/usr/bin/python3
"""Fits the coefficients of erf_approx() in src/kernels/erf_approx.h (numpy only; not run by CI).

  /usr/bin/python3 tests/reference/fit_erf.py           # fit, print the C lines and the errors
  /usr/bin/python3 tests/reference/fit_erf.py --check   # also require the header's constants to match

erf(x) for float in two pieces, both evaluated branch-free and one selected per lane:
  |x| < 1:     erf(x) = x + x*Q(x^2),  Q of degree 5 in s = x^2 on [0, 1], absolute error in erf
               (weight |x| on Q's error) minimised.
  |x| >= 1:    erf(x) = copysign(P(u), x),  u = min(|x|, 3.92) - 2.46875, P of degree 12 on
               [1 - 2.46875, 3.92 - 2.46875], absolute error minimised, under the constraint
               P(3.92 - 2.46875) = 1 so that every |x| >= 3.92 gives exactly +-1 (erf rounds to 1 in
               float above 3.9192; erfc(3.92) = 3.0e-8). u is exact in float: |x| in [1, 3.92] and
               2.46875 are multiples of 2^-23 and |u| < 2.
Each polynomial is a near-minimax fit in double (Lawson's iteratively reweighted least squares on
3000 Chebyshev points, monomial basis, 400 iterations). The coefficients are then rounded to float
one at a time, lowest degree first, refitting the remaining ones after each rounding, so the
rounding of the large low-order coefficients is absorbed by the small high-order ones.
The last lines printed simulate the float evaluation (Horner with fma, and without) on a float grid;
the exhaustive check over every float is tests/test_gelu.c.
"""
import math
import os
import re
import sys

import numpy as np

A = 1.0            # |x| < A: small piece
X_CLAMP = 3.92     # |x| clamped here; P(X_CLAMP - C) = 1
C = 2.46875        # centre of the large piece (a short binary fraction: u = t - C is exact)
DEG_SMALL, DEG_LARGE = 5, 12
N_POINTS, N_ITERS = 3000, 400

erf_d = np.vectorize(math.erf)
HEADER = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                       "src", "kernels", "erf_approx.h"))


def fit(f, w, lo, hi, n, fixed, constraint=None):
    """Near-minimax p (monomials c_0..c_n in v) of max |w(v) (p(v) - f(v))| on [lo, hi], with the
    coefficients in `fixed` ({k: c_k}) held; constraint (vc, yc) imposes p(vc) = yc by eliminating
    the highest free coefficient."""
    free = [k for k in range(n + 1) if k not in fixed]
    v = lo + (hi - lo) * (1 - np.cos(np.pi * (np.arange(N_POINTS) + 0.5) / N_POINTS)) / 2
    fv, wv = f(v), w(v)
    held = lambda z: sum(c * z ** k for k, c in fixed.items())  # noqa: E731
    if constraint is None:
        cols = free
        rhs = fv - held(v)
        basis = [v ** k for k in cols]
    else:
        vc, yc = constraint
        j, cols = free[-1], free[:-1]
        # p = held + sum_k c_k v^k + c_j v^j with c_j = (yc - held(vc) - sum_k c_k vc^k) / vc^j
        rhs = fv - held(v) - (yc - held(vc)) * (v / vc) ** j
        basis = [v ** k - vc ** k * (v / vc) ** j for k in cols]
    sol = np.zeros(len(cols))
    if cols:
        V = np.stack(basis, axis=1)
        lw = np.full(N_POINTS, 1.0 / N_POINTS)
        for _ in range(N_ITERS):
            sw = np.sqrt(lw) * wv
            sol = np.linalg.lstsq(V * sw[:, None], rhs * sw, rcond=None)[0]
            e = np.abs(wv * (V @ sol - rhs))
            lw = lw * e
            lw /= lw.sum()
    c = dict(fixed)
    c.update({k: sol[i] for i, k in enumerate(cols)})
    if constraint is not None:
        c[j] = (yc - held(vc) - sum(sol[i] * vc ** k for i, k in enumerate(cols))) / vc ** j
    return [c[k] for k in range(n + 1)]


def fit_float(f, w, lo, hi, n, constraint=None):
    """fit(), then round to float one coefficient at a time (lowest degree first), refitting the rest."""
    fixed = {}
    for k in range(n + 1):
        fixed[k] = float(np.float32(fit(f, w, lo, hi, n, fixed, constraint)[k]))
    return [fixed[k] for k in range(n + 1)]


def max_err(coef, f, w, lo, hi):
    v = np.linspace(lo, hi, 200001)
    return float(np.max(np.abs(w(v) * (np.polynomial.polynomial.polyval(v, coef) - f(v)))))


def horner32(coef, v, fused):
    """float Horner; fused: fma (the product is exact in double, then one rounding to float,
    which differs from a true fma only in rare double-rounding cases)."""
    r = np.full(v.shape, np.float32(coef[-1]))
    for c in coef[-2::-1]:
        if fused:
            r = (r.astype(np.float64) * v + np.float64(np.float32(c))).astype(np.float32)
        else:
            r = (r * v).astype(np.float32) + np.float32(c)
    return r


def erf32(x, small, large, fused):
    """the C code, simulated in numpy on float32 x >= 0"""
    s = x * x
    q = horner32(small, s, fused)
    lo = (x.astype(np.float64) * q + x).astype(np.float32) if fused else x * q + x
    t = np.minimum(x, np.float32(X_CLAMP))
    u = t - np.float32(C)
    hi = horner32(large, u, fused)
    return np.where(x < np.float32(A), lo, hi)


def c_lines(coef, var, acc):
    out = ["    float %s = %.8ef;" % (acc, coef[-1])]
    out += ["    %s = ERF_MAD(%s, %s, %.8ef);" % (acc, acc, var, c) for c in coef[-2::-1]]
    return out


def main():
    q_target = lambda s: erf_d(np.sqrt(s)) / np.sqrt(s) - 1  # noqa: E731  (s > 0 at the fit points)
    q_weight = np.sqrt
    small = fit_float(q_target, q_weight, 0.0, A * A, DEG_SMALL)
    p_target = lambda u: erf_d(u + C)  # noqa: E731
    p_weight = np.ones_like
    uc = float(np.float32(X_CLAMP)) - C
    large = fit_float(p_target, p_weight, A - C, uc, DEG_LARGE, (uc, 1.0))

    print("/* |x| < %g: Q(s), degree %d */" % (A, DEG_SMALL))
    print("\n".join(c_lines(small, "s", "q")))
    print("/* |x| >= %g: P(u), degree %d */" % (A, DEG_LARGE))
    print("\n".join(c_lines(large, "u", "p")))
    print("fit error (double evaluation of the float coefficients): small piece %.2e, large piece %.2e"
          % (max_err(small, q_target, q_weight, 1e-12, A * A), max_err(large, p_target, p_weight, A - C, uc)))
    x = np.linspace(0, 4.5, 2000001).astype(np.float32)
    ref = erf_d(x.astype(np.float64))
    for fused in (True, False):
        r = erf32(x, small, large, fused)
        err = np.abs(r.astype(np.float64) - ref)
        print("float evaluation %s fma on %d floats in [0, 4.5]: max |error| %.2e (|x| < %g: %.2e), "
              "max value %r, value at %g: %r" % ("with" if fused else "without", len(x), err.max(), A,
                                                 err[x < A].max(), float(r.max()), X_CLAMP,
                                                 float(r[x >= np.float32(X_CLAMP)][0])))

    if "--check" in sys.argv[1:]:
        with open(HEADER) as fh:
            text = fh.read()
        found = [float(m) for m in re.findall(r"([-+]?\d\.\d{8}e[-+]\d+)f", text)]
        want = [float(np.float32(c)) for c in small[::-1] + large[::-1]]
        got = [float(np.float32(c)) for c in found]
        if got != want:
            print("MISMATCH: %s has %d constants, the fit %d; first difference at %s" % (
                HEADER, len(got), len(want),
                next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))))
            sys.exit(1)
        print("ok: %s has the fitted constants" % HEADER)


if __name__ == "__main__":
    main()
