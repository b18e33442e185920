"""Feature extraction with the released ViT-H/14 shape (224x224x3, patch 14, 1280 wide, 32 deep, 16 heads;
IN1K-vit.h.14-300e): images/s and peak resident memory of PyTorch (the encoder alone, no_grad, float32
and CPU autocast to bf16) and of `ijepa bench --embed` (float32 and --bf16), batch 8, each in a process
of its own so that every peak is its own. Random weights: the speed and memory do not depend on them.
  /root/torchenv/bin/python tests/reference/bench_embed_vith.py [--batch 8 --steps 2 --warmup 1 --threads 2]"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPE = dict(img=224, patch=14, chans=3, dim=1280, depth=32, heads=16)


def torch_run(precision, batch, steps, warmup, threads):
    import torch
    sys.path.insert(0, HERE)
    import ijepa_ref as R
    torch.set_num_threads(threads)
    enc = R.VisionTransformer(SHAPE["img"], SHAPE["patch"], SHAPE["chans"], SHAPE["dim"], SHAPE["depth"],
                              SHAPE["heads"]).eval()
    x = torch.randn(batch, 3, 224, 224)
    total = 0.0
    with torch.no_grad():
        for s in range(warmup + steps):
            t0 = time.perf_counter()
            if precision == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    enc(x).mean(1)
            else:
                enc(x).mean(1)
            if s >= warmup:
                total += time.perf_counter() - t0
    return {"images_per_s": steps * batch / total,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "torch": torch.__version__}


def ijepa_run(binary, precision, batch, steps, warmup, threads):
    cmd = [binary, "bench", "--embed", "--model", "vit_huge", "--img-size", "224", "--patch-size", "14",
           "--channels", "3", "--batch-size", str(batch), "--steps", str(steps), "--warmup", str(warmup),
           "--threads", str(threads)] + (["--bf16"] if precision == "bf16" else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    m = re.search(r"^embed: [0-9.]+ images/s, ([0-9.]+) ms per batch of ([0-9]+)", out, re.M)
    ips = int(m.group(2)) / (float(m.group(1)) / 1e3)  # from the ms per batch: more digits than the images/s line
    rss = float(re.search(r"^peak resident memory: ([0-9]+) MiB", out, re.M).group(1))
    return {"images_per_s": ips, "peak_rss_mib": rss, "command": " ".join(cmd)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ijepa", default=os.path.join(HERE, "..", "..", "build", "ijepa"))
    ap.add_argument("--one", help=argparse.SUPPRESS)   # internal: torch-fp32 / torch-bf16 in this process
    a = ap.parse_args()
    if a.one:
        print(json.dumps(torch_run(a.one.split("-")[1], a.batch, a.steps, a.warmup, a.threads)))
        return
    weights_mib = 632.0e6 * 4 / 2 ** 20
    rows = []
    for prec in ("fp32", "bf16"):
        cmd = [sys.executable, os.path.abspath(__file__), "--one", "torch-" + prec, "--batch", str(a.batch),
               "--steps", str(a.steps), "--warmup", str(a.warmup), "--threads", str(a.threads)]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        rows.append(("PyTorch %s %s" % (r["torch"].split("+")[0], "float32" if prec == "fp32" else "bf16 autocast"), r))
        rows.append(("ijepa.c %s" % ("float32" if prec == "fp32" else "--bf16"),
                     ijepa_run(a.ijepa, prec, a.batch, a.steps, a.warmup, a.threads)))
    print("ViT-H/14 feature extraction, batch %d, %d threads (float32 weights: %.0f MiB):" % (a.batch, a.threads,
                                                                                            weights_mib))
    print("| program | images/s | peak RSS MiB | RSS / float32 weights |")
    print("|---|---:|---:|---:|")
    for name, r in rows:
        print("| %s | %.3f | %.0f | %.2f |" % (name, r["images_per_s"], r["peak_rss_mib"], r["peak_rss_mib"] / weights_mib))


if __name__ == "__main__":
    main()
