#!/usr/bin/python3
"""Writes tests/fixtures/parity.safetensors: a small I-JEPA model, ragged masks, and the
float64 reference forward, gradients and one training step (see tests/reference/README.md).

  /usr/bin/python3 tests/reference/make_fixture.py            # (re)generate
  /usr/bin/python3 tests/reference/make_fixture.py --check    # reload and verify round trip

Weights are drawn in float32 and the computation is done in float64 on exactly those
values, so a float32 program that reads the file sees the same weights. Deterministic:
two runs give a byte-identical file.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ijepa_ref as R  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.normpath(os.path.join(HERE, "..", "fixtures", "parity.safetensors"))

CFG = dict(img_size=16, channels=3, patch_size=4, embed_dim=24, depth=2, num_heads=2,
           mlp_ratio=4, pred_embed_dim=16, pred_depth=2, batch=2, num_targets=3)
STEP_LR, STEP_WD, STEP_MOMENTUM = 0.01, 0.05, 0.9
CTX_LEN = [7, 5]          # ragged context lengths per sample
TGT_LEN_RANGE = (2, 4)    # inclusive range of target block lengths


def build_models():
    c = CFG
    enc = R.VisionTransformer(c["img_size"], c["patch_size"], c["channels"], c["embed_dim"],
                              c["depth"], c["num_heads"], c["mlp_ratio"])
    tgt = R.VisionTransformer(c["img_size"], c["patch_size"], c["channels"], c["embed_dim"],
                              c["depth"], c["num_heads"], c["mlp_ratio"])
    pred = R.Predictor(enc.num_patches, c["embed_dim"], c["pred_embed_dim"], c["pred_depth"],
                       c["num_heads"], c["mlp_ratio"])
    return enc, pred, tgt


def _randn(shape, std, mean=0.0):
    return torch.randn(*shape, dtype=torch.float32) * np.float32(std) + np.float32(mean)


@torch.no_grad()
def init_weights(enc, pred, tgt):
    """Random float32 weights far from the 0.02 init (so gradients are O(1e-3..1) and the
    check is sensitive): Linear/conv W ~ N(0, 1/fan_in), biases N(0, 0.1^2), LayerNorm
    weight 1 + N(0, 0.1^2), bias N(0, 0.1^2), mask_token N(0, 1). The target encoder is
    the encoder plus N(0, 0.01^2). Fixed pos embeddings are left as computed."""
    for model in (enc, pred):
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            leaf = name.split(".")[-1]
            is_norm = ("norm" in name.split(".")[-2]) if "." in name else False
            if name == "mask_token":
                v = _randn(p.shape, 1.0)
            elif is_norm and leaf == "weight":
                v = _randn(p.shape, 0.1, 1.0)
            elif leaf == "bias":
                v = _randn(p.shape, 0.1)
            else:                                   # Linear / conv weight
                fan_in = int(np.prod(p.shape[1:]))
                v = _randn(p.shape, 1.0 / np.sqrt(fan_in))
            p.copy_(v)
    src = dict(enc.named_parameters())
    for name, p in tgt.named_parameters():
        if p.requires_grad:
            p.copy_(src[name] + _randn(p.shape, 0.01))
        else:
            p.copy_(src[name])


def make_masks(rng, N, B, num_targets):
    ctx = [np.sort(rng.choice(N, size=CTX_LEN[b], replace=False)) for b in range(B)]
    tgt = []
    for _ in range(num_targets):
        blocks = []
        for b in range(B):
            free = np.setdiff1d(np.arange(N), ctx[b])
            k = int(rng.integers(TGT_LEN_RANGE[0], TGT_LEN_RANGE[1] + 1))
            blocks.append(np.sort(rng.choice(free, size=k, replace=False)))
        tgt.append(blocks)
    return ctx, tgt


def f32(t):
    return t.detach().cpu().numpy().astype(np.float32)


def build():
    """Returns (ordered tensors dict, metadata, info dict) -- everything deterministic."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    c = CFG
    B, T_BLK = c["batch"], c["num_targets"]
    enc, pred, tgt = build_models()
    init_weights(enc, pred, tgt)
    images32 = torch.randn(B, c["channels"], c["img_size"], c["img_size"], dtype=torch.float32)
    ctx_np, tgt_np = make_masks(rng, enc.num_patches, B, T_BLK)

    tensors = {}
    for prefix, m in (("encoder", enc), ("predictor", pred), ("target_encoder", tgt)):
        for name, v in m.state_dict().items():
            tensors[f"{prefix}.{name}"] = f32(v)
    tensors["input.images"] = images32.numpy().copy()
    tensors["masks.context"] = np.concatenate(ctx_np).astype(np.int32)
    tensors["masks.context_len"] = np.array([len(x) for x in ctx_np], dtype=np.int32)
    flat_t = [tgt_np[i][b] for i in range(T_BLK) for b in range(B)]
    tensors["masks.target"] = np.concatenate(flat_t).astype(np.int32)
    tensors["masks.target_len"] = np.array([len(x) for x in flat_t], dtype=np.int32)

    # ---- float64 reference on the float32 weights ----
    enc.double(); pred.double(); tgt.double()
    images = images32.double()
    ctx = [torch.from_numpy(x.astype(np.int64)) for x in ctx_np]
    tg = [[torch.from_numpy(x.astype(np.int64)) for x in blk] for blk in tgt_np]

    out = R.ijepa_forward(enc, pred, tgt, images, ctx, tg)
    out["loss"].backward()
    tensors["out.context"] = f32(torch.cat(out["context"], dim=0))
    tensors["out.target"] = f32(out["target"])
    tensors["out.pred"] = f32(out["pred"])
    tensors["out.loss"] = np.array([out["loss"].item()], dtype=np.float32)
    tensors["out.loss_l2"] = np.array([out["loss_l2"].item()], dtype=np.float32)
    grads = {}
    for prefix, m in (("encoder", enc), ("predictor", pred)):
        for name, p in m.named_parameters():
            if p.requires_grad:
                assert p.grad is not None, name
                grads[f"{prefix}.{name}"] = p.grad.detach().clone()
                tensors[f"grad.{prefix}.{name}"] = f32(p.grad)

    # ---- one training step (recomputes the forward; same weights, same loss) ----
    loss_step, _ = R.train_step(enc, pred, tgt, images, ctx, tg, STEP_LR, STEP_WD, STEP_MOMENTUM)
    assert loss_step.item() == out["loss"].item()
    for prefix, m in (("encoder", enc), ("predictor", pred), ("target_encoder", tgt)):
        for name, v in m.state_dict().items():
            tensors[f"step.{prefix}.{name}"] = f32(v)

    meta = {k: str(v) for k, v in CFG.items()}
    meta.update({"step_lr": repr(STEP_LR), "step_wd": repr(STEP_WD),
                 "step_momentum": repr(STEP_MOMENTUM),
                 "generator": "tests/reference/make_fixture.py"})
    info = {"loss": out["loss"].item(), "loss_l2": out["loss_l2"].item(), "grads": grads,
            "ctx": ctx_np, "tgt": tgt_np}
    return tensors, meta, info


def check(path):
    """Reloads the file: exact equality with a fresh build, metadata, and the stored outputs
    reproduced by the float64 reference run from the stored float32 tensors."""
    loaded, meta = R.load_safetensors(path)
    tensors, meta_ref, _ = build()
    assert meta == meta_ref, "metadata differs"
    assert list(loaded.keys()) == list(tensors.keys()), "tensor names/order differ"
    for k, v in tensors.items():
        assert loaded[k].dtype == v.dtype and loaded[k].shape == v.shape, k
        assert np.array_equal(loaded[k], v), k

    # rebuild the models from the file alone and recompute
    enc, pred, tgt = build_models()
    for prefix, m in (("encoder", enc), ("predictor", pred), ("target_encoder", tgt)):
        m.load_state_dict({n: torch.from_numpy(loaded[f"{prefix}.{n}"]) for n in m.state_dict()})
        m.double()
    B, T_BLK = int(meta["batch"]), int(meta["num_targets"])
    cl, tl = loaded["masks.context_len"], loaded["masks.target_len"]
    cs = np.concatenate([[0], np.cumsum(cl)])
    ts = np.concatenate([[0], np.cumsum(tl)])
    ctx = [torch.from_numpy(loaded["masks.context"][cs[b]:cs[b + 1]].astype(np.int64))
           for b in range(B)]
    tg = [[torch.from_numpy(loaded["masks.target"][ts[i * B + b]:ts[i * B + b + 1]].astype(np.int64))
           for b in range(B)] for i in range(T_BLK)]
    out = R.ijepa_forward(enc, pred, tgt, torch.from_numpy(loaded["input.images"]).double(), ctx, tg)
    assert np.array_equal(f32(torch.cat(out["context"])), loaded["out.context"])
    assert np.array_equal(f32(out["pred"]), loaded["out.pred"])
    assert np.array_equal(f32(out["target"]), loaded["out.target"])
    assert np.float32(out["loss"].item()) == loaded["out.loss"][0]
    print(f"check: {path} round-trips ({len(loaded)} tensors, {os.path.getsize(path)} bytes)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="reload the file and verify it")
    ap.add_argument("--out", default=OUT_PATH)
    args = ap.parse_args()
    if args.check:
        check(args.out)
        return
    tensors, meta, info = build()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    R.save_safetensors(args.out, tensors, meta)
    print(f"masks: context {[x.tolist() for x in info['ctx']]}")
    for i, blk in enumerate(info["tgt"]):
        print(f"       target {i}: {[x.tolist() for x in blk]}")
    for k in ("out.context", "out.target", "out.pred"):
        print(f"{k:12s} {str(list(tensors[k].shape)):10s} max|v| {np.abs(tensors[k]).max():.6g}")
    print(f"out.loss     (smooth L1) {info['loss']:.10g}")
    print(f"out.loss_l2  (L2)        {info['loss_l2']:.10g}")
    gmax = max(float(np.abs(v).max()) for k, v in tensors.items() if k.startswith("grad."))
    print(f"grad.*       max|g| {gmax:.6g}")
    print(f"wrote {args.out}: {len(tensors)} tensors, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
