#!/usr/bin/python3
"""Fits the piecewise polynomials of GELU's AVX-512 path, src/kernels/gelu_table.h (numpy only; not
run by CI).

  /usr/bin/python3 tests/reference/fit_gelu_table.py           # fit, print the errors
  /usr/bin/python3 tests/reference/fit_gelu_table.py --write   # and write the header
  /usr/bin/python3 tests/reference/fit_gelu_table.py --check   # require the header to match the fit

gelu(x) = x Phi(x) and gelu'(x) = Phi(x) + x phi(x) are odd around 1/2 in this sense:
  Phi(x)   = 1/2 + sign(x) P(|x|),  P(a) = Phi(a) - 1/2 = erf(a / sqrt 2) / 2,
  gelu'(x) = 1/2 + sign(x) S(|x|),  S(a) = P(a) + a phi(a)    (gelu'(-x) = 1 - gelu'(x)).
P and S are tabulated on 32 intervals of width 0.2 covering [0, 6.4) (|x| is clamped to 6.4), each a
degree-4 polynomial in t = a - c_i, c_i the interval's centre as a float (0 for the first interval,
whose polynomials have no constant term: P(0) = S(0) = 0 exactly, so gelu(0) = 0 and gelu'(0) = 1/2). A lane's interval is
found by truncating 5 a, and its five coefficients come from five 32-entry register tables (one
two-source permute each) instead of evaluating erf's two long polynomials and an exp per value.
P is exactly 1/2 from a = 5.6 on (Phi(5.6) = 1 - 1.1e-8 rounds to 1, so gelu(x) = x exactly there)
and S from a = 6.0 on (the slope is exactly 1 and 0 beyond +-6; its true distance from them,
6 phi(6) = 3.6e-8, is below half a float step at 1).
Each interval is a near-minimax fit in double (Lawson's reweighted least squares on Chebyshev
points); the coefficients are rounded to float one at a time, lowest degree first, refitting the
higher ones after each rounding. The last lines printed simulate the float evaluation (Horner with
fma) on a float grid; the kernels themselves are checked by tests/test_gelu.c.
"""
import math
import os
import sys

import numpy as np

N_INT, WIDTH, DEG = 32, 0.2, 4
P_CONST_FROM, S_CONST_FROM = 28, 30   # intervals [5.6, ...) and [6.0, ...)
N_POINTS, N_ITERS = 400, 60
HEADER = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                       "src", "kernels", "gelu_table.h"))

erf_d = np.vectorize(math.erf)


def p_half(a):
    return 0.5 * erf_d(a / math.sqrt(2.0))


def s_half(a):
    return p_half(a) + a * np.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)


# interval 0 is expanded around a = 0 with no constant term: P(0) = S(0) = 0 exactly, so
# gelu(0) = 0 and gelu'(0) = 1/2 exactly
CENTRES = np.array([0.0] + [(i + 0.5) * WIDTH for i in range(1, N_INT)], dtype=np.float32)


def fit_interval(f, i):
    c = float(CENTRES[i])
    t = np.cos(np.linspace(0.0, math.pi, N_POINTS)) * WIDTH / 2 + ((i + 0.5) * WIDTH - c)
    y = f(c + t)
    V = np.vander(t, DEG + 1, increasing=True)
    k0 = 1 if i == 0 else 0  # interval 0: the constant term stays 0
    w = np.ones_like(t)
    coef = np.zeros(DEG + 1)
    for _ in range(N_ITERS):
        coef[k0:] = np.linalg.lstsq(V[:, k0:] * w[:, None], y * w, rcond=None)[0]
        e = np.abs(V @ coef - y)
        w = w * np.sqrt(e / e.max() + 1e-6)
        w /= w.max()
    out = np.zeros(DEG + 1, dtype=np.float32)
    for k in range(k0, DEG + 1):  # round the lowest remaining, refit the higher ones on what is left
        out[k] = np.float32(coef[k])
        if k < DEG:
            rest = y - V[:, :k + 1] @ out[:k + 1].astype(np.float64)
            coef[k + 1:] = np.linalg.lstsq(V[:, k + 1:] * w[:, None], rest * w, rcond=None)[0]
    return out


def fit(f, const_from):
    tab = np.zeros((DEG + 1, N_INT), dtype=np.float32)
    for i in range(N_INT):
        if i >= const_from:
            tab[0, i] = 0.5
        else:
            tab[:, i] = fit_interval(f, i)
    return tab


def evaluate(tab, a):
    """The kernel's float arithmetic: clamp, index, t, Horner with fma (emulated in double, rounded)."""
    a = np.minimum(np.float32(6.4), a.astype(np.float32))
    idx = np.minimum((a * np.float32(5.0)).astype(np.int32), N_INT - 1)
    t = (a - CENTRES[idx]).astype(np.float32)
    p = tab[DEG, idx]
    for k in range(DEG - 1, -1, -1):
        p = (p.astype(np.float64) * t + tab[k, idx]).astype(np.float32)
    return p


def header(tp, ts):
    def values(v, indent):  # 6 to a line
        lines = [", ".join("%.9ef" % x for x in v[j:j + 6]) for j in range(0, len(v), 6)]
        return (",\n" + indent).join(lines)

    def table(name, tab):
        rows = ",\n".join("    {" + values(tab[k], "     ") + "}" for k in range(DEG + 1))
        return "static const float %s[%d][%d] __attribute__((aligned(64))) = {\n%s};\n" % (name, DEG + 1, N_INT, rows)
    centres = "static const float gelu_tab_centre[%d] __attribute__((aligned(64))) = {\n    %s};\n" % (
        N_INT, values(CENTRES, "    "))
    return ("/* gelu_table.h: GELU's piecewise polynomials for the AVX-512 path of gelu.c, written by\n"
            " * tests/reference/fit_gelu_table.py (which says how they are fitted; --check compares).\n"
            " * Phi(x) = 1/2 + sign(x) P(|x|), gelu'(x) = 1/2 + sign(x) S(|x|); interval i = trunc(5 |x|)\n"
            " * (|x| clamped to 6.4, i to 31), t = |x| - centre[i], P = sum_k gelu_tab_p[k][i] t^k, S likewise. */\n"
            "#ifndef IJEPA_KERNELS_GELU_TABLE_H\n#define IJEPA_KERNELS_GELU_TABLE_H\n\n"
            + centres + table("gelu_tab_p", tp) + table("gelu_tab_s", ts) + "\n#endif\n")


def main():
    tp, ts = fit(p_half, P_CONST_FROM), fit(s_half, S_CONST_FROM)
    a = np.linspace(0.0, 8.0, 4000001).astype(np.float32)
    ad = a.astype(np.float64)
    ep = np.abs(evaluate(tp, a) - p_half(ad)).max()
    es = np.abs(evaluate(ts, a) - s_half(ad)).max()
    print("max |P error| %.3g, max |S error| %.3g on %d floats in [0, 8] (float Horner with fma)" % (ep, es, a.size))
    text = header(tp, ts)
    if "--write" in sys.argv:
        with open(HEADER, "w") as f:
            f.write(text)
        print("wrote", HEADER)
    if "--check" in sys.argv:
        with open(HEADER) as f:
            same = f.read() == text
        print("header matches the fit" if same else "header DIFFERS from the fit")
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
