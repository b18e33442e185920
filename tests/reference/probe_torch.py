#!/usr/bin/python3
"""An independent check of `ijepa probe`'s linear probe: the same multinomial logistic regression
(features standardized with the training rows' mean and std; mean cross-entropy + lambda ||W||^2,
bias not penalised) fitted by PyTorch's L-BFGS (strong-Wolfe line search) on the features that
`ijepa probe` saved, for a fixed lambda (the one the C probe chose on its validation split).

  /usr/bin/python3 tests/reference/probe_torch.py --features runs/recipe/features --kind ijepa \\
      --lam 1e-6 --iters 300,1000,3000

Prints train and test accuracy after each iteration budget. Not part of CI (needs PyTorch).
"""
import argparse
import time

import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--features", required=True, help="folder with KIND_train.npy, KIND_test.npy, labels_*.npy")
    ap.add_argument("--kind", default="ijepa", help="ijepa, random or pixels")
    ap.add_argument("--lam", type=float, default=1e-6)
    ap.add_argument("--iters", default="300,1000", help="comma-separated L-BFGS iteration budgets")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    load = lambda name: np.load(f"{a.features}/{name}.npy")
    xtr, xte = load(f"{a.kind}_train").astype(np.float32), load(f"{a.kind}_test").astype(np.float32)
    ytr, yte = load("labels_train").astype(np.int64), load("labels_test").astype(np.int64)
    mean, std = xtr.mean(0), xtr.std(0)
    std[std < 1e-6] = 1.0
    xtr, xte = torch.tensor((xtr - mean) / std), torch.tensor((xte - mean) / std)
    ytr, yte = torch.tensor(ytr), torch.tensor(yte)
    classes = int(ytr.max()) + 1
    for iters in [int(s) for s in a.iters.split(",")]:
        w = torch.zeros(xtr.shape[1], classes, requires_grad=True)
        b = torch.zeros(classes, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1, max_iter=iters, history_size=10, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-9, tolerance_change=1e-12)

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(xtr @ w + b, ytr) + a.lam * (w * w).sum()
            loss.backward()
            return loss

        t0 = time.time()
        opt.step(closure)
        with torch.no_grad():
            acc = lambda x, y: ((x @ w + b).argmax(1) == y).float().mean().item() * 100
            print(f"{a.kind} lambda {a.lam:g}, {iters} iterations: train {acc(xtr, ytr):.2f}%, "
                  f"test {acc(xte, yte):.2f}% ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
