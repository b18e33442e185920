#!/usr/bin/python3
"""PyTorch baseline for `ijepa bench`: the same I-JEPA training step, batched the way the
official release computes it (facebookresearch/ijepa), float32 on the CPU, or with the official
`use_bfloat16: true` (torch.autocast("cpu", dtype=torch.bfloat16) around the forward passes).

  /usr/bin/python3 tests/reference/bench_torch.py --config fmnist [--steps 5 --threads 1,2 --json OUT]
  /usr/bin/python3 tests/reference/bench_torch.py --config imagenet
  VENV/bin/python tests/reference/bench_torch.py --config fmnist --precision both --also /usr/bin/python3
      a current PyTorch (from PyPI, in a virtual environment) in float32 and with bf16 autocast, then the
      same script under Debian's python3-torch (float32; --also-precision for more), then `ijepa bench`
      in float32 and with --bf16; every figure in one table with the ratios.

Then, unless --ijepa none, it runs `build/ijepa bench` (and `bench --embed`) on the same
configuration and prints the ratios of the images/s and both peak memories, side by side.
  /usr/bin/python3 tests/reference/bench_torch.py --selftest      # seconds: parity + loss decreases

Official mode masks (SPEC 4): one target/context block size per batch, every context list
truncated to the batch minimum, every target list to the shortest target, so the context
encoder runs on [B, Kc] tokens (torch.gather) and the predictor on num_targets*B sequences of
Kc+Kt tokens (context embedding repeated per target, rows ordered (target i, sample b)).
Masks are sampled before timing (the official collator runs in DataLoader workers).
The modules (Block, Attention, MLP, ...) are those of ijepa_ref.py; only the masked forward
of the encoder and the predictor are re-written here in batched form.

GFLOP counts follow src/model/flops.c (2 FLOPs per multiply-add; linear layers + QK^T + PV;
backward = patch weight gradient + 2x the context-encoder blocks and the predictor). Like the
C count, the context encoder's patch embedding is counted for the kept tokens only, although
PyTorch (as the official code) embeds all N patches and gathers afterwards.
"""
import argparse
import json
import math
import os
import random
import re
import resource
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ijepa_ref as R  # noqa: E402

CONFIGS = {
    "fmnist": dict(img=28, chans=1, patch=4, dim=192, depth=12, heads=3, pred_dim=96,
                   pred_depth=6, batch=128, targets=4, min_keep=4, embed_batch=256),
    "imagenet": dict(img=224, chans=3, patch=16, dim=384, depth=12, heads=6, pred_dim=192,
                     pred_depth=6, batch=16, targets=4, min_keep=10, embed_batch=64),
    "selftest": dict(img=28, chans=3, patch=4, dim=24, depth=2, heads=2, pred_dim=16,
                     pred_depth=2, batch=3, targets=4, min_keep=4, embed_batch=4),
}
LR, WD, MOMENTUM = 1e-4, 0.04, 0.996   # as `ijepa bench`


# ---------------------------------------------------------------- masks (official collator)
def block_size(r, G, scale, aspect):
    s = scale[0] + r * (scale[1] - scale[0])
    a = aspect[0] + r * (aspect[1] - aspect[0])
    keep = int(G * G * s)
    h, w = int(round(math.sqrt(keep * a))), int(round(math.sqrt(keep / a)))
    return min(h, G - 1), min(w, G - 1)


def block_mask(rng, G, hw, min_keep, allowed=None):
    """Official _sample_block_mask: random top-left in [0, G-h), [0, G-w); when a context
    keeps <= min_keep tokens retry, and after 20 failures drop the last constraint."""
    h, w = hw
    tries, timeout = 0, 20
    while True:
        top, left = rng.randrange(G - h), rng.randrange(G - w)
        cells = {r * G + c for r in range(top, top + h) for c in range(left, left + w)}
        if allowed is not None:
            for comp in allowed[:max(len(allowed) - tries, 0)]:
                cells -= comp
        if len(cells) > min_keep:
            return sorted(cells), cells
        timeout -= 1
        if timeout == 0:
            tries, timeout = tries + 1, 20


def sample_masks(seed, G, B, num_targets, min_keep):
    """Returns ctx [B, Kc] and tgt [num_targets, B, Kt] LongTensors (official mode)."""
    g = torch.Generator().manual_seed(seed)         # official: sizes from MT19937(batch counter)
    t_hw = block_size(torch.rand(1, generator=g).item(), G, (0.15, 0.2), (0.75, 1.5))
    c_hw = block_size(torch.rand(1, generator=g).item(), G, (0.85, 1.0), (1.0, 1.0))
    rng = random.Random(seed)                        # positions (official: torch global RNG)
    ctx, tgt = [], []
    for _ in range(B):
        blocks = [block_mask(rng, G, t_hw, min_keep) for _ in range(num_targets)]
        tgt.append([idx for idx, _ in blocks])
        ctx.append(block_mask(rng, G, c_hw, min_keep, allowed=[cells for _, cells in blocks])[0])
    kc = min(len(c) for c in ctx)
    kt = min(len(t) for ts in tgt for t in ts)
    ctx_t = torch.tensor([c[:kc] for c in ctx])
    tgt_t = torch.tensor([[tgt[b][i][:kt] for b in range(B)] for i in range(num_targets)])
    return ctx_t, tgt_t


# ---------------------------------------------------------------- batched model
def build(cfg, seed=0):
    torch.manual_seed(seed)
    enc = R.VisionTransformer(cfg["img"], cfg["patch"], cfg["chans"], cfg["dim"], cfg["depth"],
                              cfg["heads"])
    pred = R.Predictor(enc.num_patches, cfg["dim"], cfg["pred_dim"], cfg["pred_depth"], cfg["heads"])
    with torch.no_grad():               # SPEC 5 init
        for m in list(enc.modules()) + list(pred.modules()):
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight.normal_(0.0, 0.02)
                m.bias.zero_()
        pred.mask_token.normal_(0.0, 0.02)
    tenc = R.VisionTransformer(cfg["img"], cfg["patch"], cfg["chans"], cfg["dim"], cfg["depth"],
                               cfg["heads"])
    tenc.load_state_dict(enc.state_dict())
    for p in tenc.parameters():
        p.requires_grad_(False)
    return enc, pred, tenc


def gather(x, idx):                     # x [B, N, D], idx [B, K] -> [B, K, D]
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def encode_context(enc, images, ctx):
    x = enc.patch_embed(images) + enc.pos_embed     # all N patches, then apply_masks
    return enc._run(gather(x, ctx))                  # blocks + norm over [B, Kc, D]


def predict(pred, z, ctx, tgt):
    """z [B, Kc, D]; tgt [T, B, Kt] -> [T*B, Kt, D], rows (target i, sample b)."""
    T, B, Kt = tgt.shape
    pos = pred.predictor_pos_embed.expand(B, -1, -1)
    x = pred.predictor_embed(z) + gather(pos, ctx)
    x = x.repeat(T, 1, 1)                            # official x.repeat(len(masks), 1, 1)
    tok = pred.mask_token + gather(pred.predictor_pos_embed.expand(T * B, -1, -1),
                                   tgt.reshape(T * B, Kt))
    x = torch.cat([x, tok], dim=1)
    for blk in pred.predictor_blocks:
        x = blk(x)
    return pred.predictor_proj(pred.predictor_norm(x)[:, z.shape[1]:])


@torch.no_grad()
def targets(tenc, images, tgt):
    h = tenc(images)
    h = F.layer_norm(h, (h.shape[-1],), eps=R.TARGET_LN_EPS)
    T, B, Kt = tgt.shape
    return gather(h.repeat(T, 1, 1), tgt.reshape(T * B, Kt))


def autocast(precision):
    """The official training loop's `torch.cuda.amp.autocast(dtype=torch.bfloat16, enabled=use_bfloat16)`,
    on the CPU."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")


def train_step(enc, pred, tenc, opt, images, ctx, tgt, tm, precision="fp32"):
    t0 = time.perf_counter()
    with autocast(precision):
        target = targets(tenc, images, tgt)
        t1 = time.perf_counter()
        z = encode_context(enc, images, ctx)
        t2 = time.perf_counter()
        loss = F.smooth_l1_loss(predict(pred, z, ctx, tgt), target, beta=1.0)
    t3 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    t4 = time.perf_counter()
    opt.step()
    with torch.no_grad():               # EMA from the new encoder weights
        ep = [p for n, p in enc.named_parameters() if n != "pos_embed"]
        tp = [p for n, p in tenc.named_parameters() if n != "pos_embed"]
        torch._foreach_mul_(tp, MOMENTUM)
        torch._foreach_add_(tp, ep, alpha=1.0 - MOMENTUM)
    t5 = time.perf_counter()
    for k, dt in zip(("target", "context", "predictor", "backward", "adamw_ema"),
                     (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
        tm[k] = tm.get(k, 0.0) + dt
    return loss.item()


# ---------------------------------------------------------------- FLOP count (src/model/flops.c)
def stack_flops(nseq, L, depth, D, H):
    return depth * nseq * (2.0 * L * (4.0 * D * D + 2.0 * D * H) + 4.0 * L * L * D)


def step_flops(cfg, B, Kc, T, Kt):
    D, Dp, K = cfg["dim"], cfg["pred_dim"], cfg["chans"] * cfg["patch"] ** 2
    N = (cfg["img"] // cfg["patch"]) ** 2
    target = B * (2.0 * N * K * D + stack_flops(1, N, cfg["depth"], D, 4 * D))
    patch = 2.0 * B * Kc * K * D
    ctx_blocks = stack_flops(B, Kc, cfg["depth"], D, 4 * D)
    pred_lin = 2.0 * B * Kc * D * Dp + 2.0 * T * B * Kt * Dp * D
    pred_blocks = stack_flops(T * B, Kc + Kt, cfg["pred_depth"], Dp, 4 * Dp)
    return target + patch + ctx_blocks + pred_lin + pred_blocks + \
        patch + 2.0 * (ctx_blocks + pred_lin + pred_blocks)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------- benchmark
def bench_train(cfg, threads, steps, warmup, precision="fp32"):
    torch.set_num_threads(threads)
    enc, pred, tenc = build(cfg)
    opt = R.make_optimizer(enc, pred, LR, WD)       # two groups: decay (ndim>1, no bias) / none
    G, B = cfg["img"] // cfg["patch"], cfg["batch"]
    images = torch.randn(B, cfg["chans"], cfg["img"], cfg["img"], generator=torch.Generator().manual_seed(99))
    t0 = time.perf_counter()
    masks = [sample_masks(s, G, B, cfg["targets"], cfg["min_keep"]) for s in range(warmup + steps)]
    mask_ms = 1e3 * (time.perf_counter() - t0) / (warmup + steps)
    tm, flops, losses, kc, kt = {}, 0.0, [], 0.0, 0.0
    for s, (ctx, tgt) in enumerate(masks):
        if s == warmup:
            tm = {}
        losses.append(train_step(enc, pred, tenc, opt, images, ctx, tgt, tm, precision))
        if s >= warmup:
            flops += step_flops(cfg, B, ctx.shape[1], tgt.shape[0], tgt.shape[2])
            kc, kt = kc + ctx.shape[1], kt + tgt.shape[0] * tgt.shape[2]
    total = sum(tm.values())
    return {"threads": threads, "precision": precision, "images_per_s": steps * B / total,
            "ms_per_step": 1e3 * total / steps, "phase_ms": {k: 1e3 * v / steps for k, v in tm.items()}, "mask_sampling_ms": mask_ms,
            "context_tokens": kc / steps, "target_tokens": kt / steps,
            "gflop_per_image": flops / steps / B * 1e-9, "gflops": flops / total * 1e-9,
            "losses": losses, "peak_rss_mib": peak_rss_mib()}


@torch.no_grad()
def bench_embed(cfg, threads, steps, warmup, precision="fp32"):
    torch.set_num_threads(threads)
    tenc = build(cfg)[2].eval()
    B = cfg["embed_batch"]
    images = torch.randn(B, cfg["chans"], cfg["img"], cfg["img"])
    N = (cfg["img"] // cfg["patch"]) ** 2
    flops = B * (2.0 * N * cfg["chans"] * cfg["patch"] ** 2 * cfg["dim"] +
                 stack_flops(1, N, cfg["depth"], cfg["dim"], 4 * cfg["dim"]))
    total = 0.0
    for s in range(warmup + steps):
        t0 = time.perf_counter()
        with autocast(precision):
            tenc(images).mean(1)                      # last layer, average-pooled
        if s >= warmup:
            total += time.perf_counter() - t0
    return {"threads": threads, "precision": precision, "batch": B, "images_per_s": steps * B / total,
            "ms_per_batch": 1e3 * total / steps, "gflops": steps * flops / total * 1e-9,
            "peak_rss_mib": peak_rss_mib()}


def sgemm_peak(threads, n=2048):
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(3))
    return 2.0 * n ** 3 / best * 1e-9


def _timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


# ---------------------------------------------------------------- self-test
def selftest():
    torch.manual_seed(0)
    cfg = CONFIGS["selftest"]
    G = cfg["img"] // cfg["patch"]
    ctx, tgt = sample_masks(3, G, cfg["batch"], cfg["targets"], cfg["min_keep"])
    for b in range(cfg["batch"]):                   # context and targets never overlap
        assert not set(ctx[b].tolist()) & {n for i in range(tgt.shape[0]) for n in tgt[i, b].tolist()}
    enc, pred, tenc = build(cfg)
    with torch.no_grad():
        for p in list(enc.parameters()) + list(pred.parameters()):
            if p.requires_grad:
                p.add_(0.3 * torch.randn_like(p))
        tenc.load_state_dict(enc.state_dict())
    images = torch.randn(cfg["batch"], cfg["chans"], cfg["img"], cfg["img"])
    ref = R.ijepa_forward(enc, pred, tenc, images, list(ctx), [list(t) for t in tgt])
    ref["loss"].backward()
    g_ref = {n: p.grad.clone() for n, p in list(enc.named_parameters()) + list(pred.named_parameters())
             if p.grad is not None}
    enc.zero_grad(), pred.zero_grad()
    D = cfg["dim"]
    p = predict(pred, encode_context(enc, images, ctx), ctx, tgt)
    t = targets(tenc, images, tgt)
    loss = F.smooth_l1_loss(p, t, beta=1.0)
    loss.backward()
    err = {"pred": (p.reshape(-1, D) - ref["pred"]).abs().max().item(),
           "target": (t.reshape(-1, D) - ref["target"]).abs().max().item(),
           "loss": abs(loss.item() - ref["loss"].item()),
           "grad": max((q.grad - g_ref[n]).abs().max().item()
                       for n, q in list(enc.named_parameters()) + list(pred.named_parameters())
                       if q.grad is not None)}
    print("batched vs per-sequence ijepa_ref (max abs diff):", {k: "%.1e" % v for k, v in err.items()})
    assert all(v < 1e-5 for v in err.values()), err
    enc, pred, tenc = build(cfg)                    # loss decreases on a fixed batch
    opt = R.make_optimizer(enc, pred, 1e-3, WD)
    losses = [train_step(enc, pred, tenc, opt, images, ctx, tgt, {}) for _ in range(6)]
    print("losses on a fixed batch, lr 1e-3:", " ".join("%.5f" % v for v in losses))
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    print("selftest: passed")


# ---------------------------------------------------------------- ijepa.c side by side
def ijepa_args(cfg):
    """`ijepa bench` options for the same model, batch and masks (official masks are its default)."""
    return ["--model", {192: "vit_tiny", 384: "vit_small"}[cfg["dim"]], "--img-size", str(cfg["img"]),
            "--patch-size", str(cfg["patch"]), "--channels", str(cfg["chans"]), "--depth", str(cfg["depth"]),
            "--heads", str(cfg["heads"]), "--pred-dim", str(cfg["pred_dim"]), "--pred-depth",
            str(cfg["pred_depth"]), "--num-targets", str(cfg["targets"]), "--min-keep", str(cfg["min_keep"])]


def run_ijepa(binary, args):
    """Runs `binary bench ARGS`; returns its images/s, fraction of its sgemm peak (%) and peak RSS (MiB)."""
    cmd = [binary, "bench"] + args
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

    def grab(pattern):
        m = re.search(pattern, out, re.M)
        if not m:
            sys.exit("bench_torch.py: no match for %r in the output of %s" % (pattern, " ".join(cmd)))
        return float(m.group(1))
    return {"command": " ".join(cmd), "images_per_s": grab(r"^(?:train|embed): ([0-9.]+) images/s"),
            "fraction_of_peak": grab(r"; ([0-9]+)% of peak"), "peak_rss_mib": grab(r"^peak resident memory: ([0-9]+) MiB")}


def side_by_side(binary, cfg, torch_runs, bf16):
    """ijepa.c's training step (and feature extraction), float32 and with --bf16, on the same configuration
    right after PyTorch's; every PyTorch figure (torch_runs: label -> {"train", "embed"}) and the ratios."""
    base = ijepa_args(cfg)
    ours = {}
    for prec in ["fp32"] + (["bf16"] if bf16 else []):
        flag = ["--bf16"] if prec == "bf16" else []
        ours[prec] = {"train": run_ijepa(binary, base + flag + ["--batch-size", str(cfg["batch"])])}
        if cfg["embed_batch"] > 0:
            ours[prec]["embed"] = run_ijepa(binary, base + flag + ["--embed", "--batch-size", str(cfg["embed_batch"])])
    print("side by side (images/s; PyTorch at its best thread setting; ijepa.c: `%s` [--bf16]):" %
          ours["fp32"]["train"]["command"])
    for kind in ("train", "embed"):
        if kind == "embed" and cfg["embed_batch"] <= 0:
            continue
        print("  %s:" % ("training" if kind == "train" else "feature extraction"))
        for label, r in torch_runs.items():
            if kind in r:
                print("    %-40s %8.1f  (%d thread(s)%s)" % (label, r[kind]["images_per_s"], r[kind]["threads"],
                                                            ", peak RSS %.0f MiB" % r[kind]["peak_rss_mib"]))
        for prec, o in ours.items():
            t = o[kind]
            ratios = ", ".join("%.2fx %s" % (t["images_per_s"] / r[kind]["images_per_s"], label)
                               for label, r in torch_runs.items() if kind in r)
            print("    %-40s %8.1f  (%.0f%% of its %s peak, peak RSS %.0f MiB): %s" %
                  ("ijepa.c " + ("float32" if prec == "fp32" else "--bf16"), t["images_per_s"],
                   t["fraction_of_peak"], "sgemm" if prec == "fp32" else "bf16", t["peak_rss_mib"], ratios))
    return ours


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", choices=["fmnist", "imagenet"], default="fmnist")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--precision", choices=["fp32", "bf16", "both"], default="fp32",
                    help="PyTorch in float32, with bf16 autocast (the official use_bfloat16), or both; "
                         "with bf16, ijepa.c also runs with --bf16")
    ap.add_argument("--also", help="another Python (e.g. /usr/bin/python3 with Debian's torch): runs this "
                                   "script there too (--also-precision) and shows its figures beside")
    ap.add_argument("--also-precision", choices=["fp32", "bf16", "both"], default="fp32")
    ap.add_argument("--embed-batch", type=int, default=None, help="0 skips feature extraction")
    ap.add_argument("--json")
    ap.add_argument("--ijepa", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                    "build", "ijepa"),
                    help="ijepa binary to run `bench` on the same configuration afterwards, for the ratios "
                         "(default: build/ijepa; 'none' skips it)")
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args()
    if a.selftest:
        return selftest()
    cfg = dict(CONFIGS[a.config])
    if a.embed_batch is not None:
        cfg["embed_batch"] = a.embed_batch
    threads = [int(t) for t in a.threads.split(",")]
    precisions = ["fp32", "bf16"] if a.precision == "both" else [a.precision]
    print("torch %s, config %s: %s" % (torch.__version__, a.config, cfg))
    out = {"config": a.config, "model": cfg, "torch": torch.__version__, "runs": {}}
    for prec in precisions:
        runs = []
        for th in threads:
            r = bench_train(cfg, th, a.steps, a.warmup, prec)
            runs.append(r)
            print("train %s, %d thread(s): %.1f images/s, %.1f ms/step, %.3f GFLOP/image, %.1f GFLOP/s, "
                  "%.1f context + %.1f target tokens/image, peak RSS %.0f MiB" %
                  (prec, th, r["images_per_s"], r["ms_per_step"], r["gflop_per_image"], r["gflops"],
                   r["context_tokens"], r["target_tokens"], r["peak_rss_mib"]))
            print("  ms/step: " + " | ".join("%s %.1f" % kv for kv in r["phase_ms"].items()) +
                  " (mask sampling, untimed: %.1f)" % r["mask_sampling_ms"])
            print("  losses: " + " ".join("%.5f" % v for v in r["losses"]))
        res = {"train": max(runs, key=lambda r: r["images_per_s"]), "train_all": runs}
        if cfg["embed_batch"] > 0:
            emb = max((bench_embed(cfg, th, a.steps, a.warmup, prec) for th in threads),
                      key=lambda r: r["images_per_s"])
            res["embed"] = emb
            print("embed %s (target encoder, no grad, batch %d, %d thread(s)): %.1f images/s, %.1f ms/batch, "
                  "%.1f GFLOP/s, peak RSS %.0f MiB" % (prec, emb["batch"], emb["threads"], emb["images_per_s"],
                                                        emb["ms_per_batch"], emb["gflops"], emb["peak_rss_mib"]))
        out["runs"]["PyTorch %s %s" % (torch.__version__.split("+")[0], "float32" if prec == "fp32" else
                                       "bf16 autocast")] = res
    out["sgemm_peak_gflops"] = sgemm_peak(max(threads))
    print("torch sgemm 2048^3 peak (%d threads) %.1f GFLOP/s" % (max(threads), out["sgemm_peak_gflops"]))
    if a.also:
        tmp = (a.json or "bench_torch") + ".also.json"
        cmd = [a.also, os.path.abspath(__file__), "--config", a.config, "--steps", str(a.steps), "--warmup",
               str(a.warmup), "--threads", a.threads, "--precision", a.also_precision, "--ijepa", "none",
               "--json", tmp] + (["--embed-batch", str(cfg["embed_batch"])] if a.embed_batch is not None else [])
        print("running %s" % " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        with open(tmp) as f:
            also = json.load(f)
        os.remove(tmp)
        out["runs"].update(also["runs"])
    if a.ijepa != "none":
        if not os.path.exists(a.ijepa):
            sys.exit("bench_torch.py: %s not found (build it with make, or pass --ijepa PATH or none)" % a.ijepa)
        out["ijepa"] = side_by_side(a.ijepa, cfg, out["runs"], "bf16" in precisions)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
