#!/usr/bin/python3
"""Writes tests/fixtures/official_tiny.pth.tar (a tiny I-JEPA checkpoint in the authors' layout,
saved with torch.save) and tests/fixtures/official_tiny_expected.safetensors (the same weights,
exported by the reference's own safetensors writer in ijepa.c's layout: "encoder.<name>",
"predictor.<name>", "target_encoder.<name>" float32 and the configuration in __metadata__).
tests/test_convert_official.sh converts the first with tools/convert_official.py (numpy only)
and compares with the second.

  /usr/bin/python3 tests/reference/make_official_fixture.py            # (re)generate
  /usr/bin/python3 tests/reference/make_official_fixture.py --check    # torch.load vs expected
  /usr/bin/python3 tests/reference/make_official_fixture.py --selftest # converter vs torch on
      float16 / bfloat16 / float64 storages, non-contiguous views, shared storages, offsets

Model: the parity fixture's configuration (16x16x3 images, patch 4, D 24, depth 2, 2 heads,
MLP 96, predictor 16 wide and 2 deep), random float32 weights (make_fixture.init_weights with
its own seed), target encoder = encoder + noise. Deterministic: two runs give byte-identical
files (torch.save's zip has fixed timestamps; the archive folder is named after the file).
"""
import argparse
import collections
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ijepa_ref as R  # noqa: E402
import make_fixture as MF  # noqa: E402

FIX = os.path.normpath(os.path.join(HERE, "..", "fixtures"))
PTH = os.path.join(FIX, "official_tiny.pth.tar")
EXPECTED = os.path.join(FIX, "official_tiny_expected.safetensors")
CONVERTER = os.path.normpath(os.path.join(HERE, "..", "..", "tools", "convert_official.py"))
SEED = 20230101
EPOCH = 300
C = MF.CFG
META = collections.OrderedDict(
    format="ijepa.c", img_size=C["img_size"], channels=C["channels"], patch_size=C["patch_size"],
    embed_dim=C["embed_dim"], depth=C["depth"], num_heads=C["num_heads"],
    mlp_dim=C["mlp_ratio"] * C["embed_dim"], pred_embed_dim=C["pred_embed_dim"],
    pred_depth=C["pred_depth"], pred_mlp_dim=C["mlp_ratio"] * C["pred_embed_dim"])


def build():
    torch.manual_seed(SEED)
    enc, pred, tgt = MF.build_models()
    MF.init_weights(enc, pred, tgt)
    return enc, pred, tgt


def expected_tensors(enc, pred, tgt):
    out = collections.OrderedDict()
    for prefix, m in (("encoder", enc), ("predictor", pred), ("target_encoder", tgt)):
        for name, v in m.state_dict().items():
            out["%s.%s" % (prefix, name)] = v.detach().to(torch.float32).numpy().copy()
    return out


def generate():
    enc, pred, tgt = build()
    os.makedirs(FIX, exist_ok=True)
    # optimizer without state (no step taken): the file stays small
    R.save_official_checkpoint(PTH, enc, pred, tgt, epoch=EPOCH, loss=0.4731, batch_size=2048,
                               world_size=16, lr=1e-3)
    R.save_safetensors(EXPECTED, expected_tensors(enc, pred, tgt),
                       dict(META, generator="tests/reference/make_official_fixture.py"))
    for p in (PTH, EXPECTED):
        print("wrote %s (%d bytes)" % (p, os.path.getsize(p)))


def check():
    """torch.load of the checkpoint equals the expected file and a fresh build."""
    enc_sd, pred_sd, tgt_sd = R.load_official_checkpoint(PTH)
    ck = torch.load(PTH, map_location="cpu")
    assert all(k.startswith("module.") for p in ("encoder", "predictor", "target_encoder")
               for k in ck[p]), "keys without module."
    assert ck["epoch"] == EPOCH
    loaded, meta = R.load_safetensors(EXPECTED)
    fresh = expected_tensors(*build())
    assert list(loaded) == list(fresh), "expected file: names/order differ"
    for prefix, sd in (("encoder", enc_sd), ("predictor", pred_sd), ("target_encoder", tgt_sd)):
        for name, v in sd.items():
            k = "%s.%s" % (prefix, name)
            assert np.array_equal(v.numpy(), loaded[k]) and np.array_equal(fresh[k], loaded[k]), k
    assert len(loaded) == sum(len(sd) for sd in (enc_sd, pred_sd, tgt_sd))
    assert not np.array_equal(loaded["encoder.norm.weight"], loaded["target_encoder.norm.weight"])
    for k, v in META.items():
        assert meta[k] == str(v), k
    print("check: %s and %s agree (%d tensors)" % (PTH, EXPECTED, len(loaded)))


def selftest():
    """The converter against torch on storages the fixture does not have: float16, bfloat16 and
    float64 storages, transposed / sliced views, tensors sharing one storage, bare state dicts,
    and the legacy (non-zip) format (refused)."""
    enc, pred, tgt = build()
    tmp = tempfile.mkdtemp()
    cases = 0

    def run(path, extra=()):
        out = path + ".safetensors"
        r = subprocess.run([sys.executable, CONVERTER, path, out, "--num-heads", "2"] + list(extra),
                           capture_output=True, text=True)
        return r, out

    def assert_same(out, want):
        got, _ = R.load_safetensors(out)
        assert set(got) == set(want), sorted(set(got) ^ set(want))[:4]
        for k, v in want.items():
            assert got[k].dtype == np.float32 and np.array_equal(got[k], v), k

    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        sds = {}
        for prefix, m in (("encoder", enc), ("predictor", pred), ("target_encoder", tgt)):
            sd = collections.OrderedDict()
            for i, (name, v) in enumerate(m.state_dict().items()):
                v = v.detach().to(dtype)
                if v.dim() == 2 and i % 2 == 0:      # a transposed (non-contiguous) copy
                    v = v.t().contiguous().t()
                elif v.dim() == 1 and i % 3 == 0:    # a view into a larger storage at an offset
                    big = torch.zeros(v.numel() * 2 + 5, dtype=dtype)
                    big[5:5 + 2 * v.numel():2] = v
                    v = big[5::2][:v.numel()]
                sd["module." + name] = v
            sds[prefix] = sd
        # qkv weight and bias of block 0 as views of one shared storage
        w = sds["encoder"]["module.blocks.0.attn.qkv.weight"]
        b = sds["encoder"]["module.blocks.0.attn.qkv.bias"]
        flat = torch.cat([w.reshape(-1), b])
        sds["encoder"]["module.blocks.0.attn.qkv.weight"] = flat[:w.numel()].view(w.shape)
        sds["encoder"]["module.blocks.0.attn.qkv.bias"] = flat[w.numel():]
        path = os.path.join(tmp, "ck_%s.pth.tar" % str(dtype).split(".")[-1])
        torch.save(dict(sds, opt={"state": {0: {"exp_avg": torch.ones(3)}}}, scaler=None,
                        epoch=3, loss=1.0, lr=0.1), path)
        want = {"%s.%s" % (p, k[len("module."):]): v.to(torch.float32).numpy()
                for p, sd in sds.items() for k, v in sd.items()}
        r, out = run(path)
        assert r.returncode == 0, r.stderr
        assert_same(out, want)
        cases += 1
        # a bare encoder state dict (no "module.")
        bare = os.path.join(tmp, "bare_%s.pth" % str(dtype).split(".")[-1])
        torch.save({k[len("module."):]: v for k, v in sds["encoder"].items()}, bare)
        r, out = run(bare)
        assert r.returncode == 0, r.stderr
        assert_same(out, {k[len("encoder."):]: v for k, v in want.items() if k.startswith("encoder.")})
        cases += 1
    legacy = os.path.join(tmp, "legacy.pth")
    torch.save({"encoder": enc.state_dict()}, legacy, _use_new_zipfile_serialization=False)
    r, _ = run(legacy)
    assert r.returncode == 1 and "legacy" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    cases += 1
    print("selftest: %d cases passed (float16, bfloat16, float64, views, shared storage, bare, "
          "legacy refused)" % cases)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="verify the committed files with torch")
    ap.add_argument("--selftest", action="store_true",
                    help="check tools/convert_official.py against torch on other storage types")
    a = ap.parse_args()
    if a.check:
        check()
    elif a.selftest:
        selftest()
    else:
        generate()


if __name__ == "__main__":
    main()
