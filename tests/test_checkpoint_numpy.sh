#!/usr/bin/env bash
# A checkpoint written by ijepa loads in Python with plain json + numpy, with the
# official names and shapes (vit_tiny, patch 16 at 224), and its pos_embed is
# the SPEC's 2-D sin-cos table. Run by tests/run.sh with the build folder.
set -euo pipefail
build=${1:-build}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$build/ijepa" info --model vit_tiny --img-size 224 --patch-size 16 --channels 3 \
    --pred-dim 384 --pred-depth 12 --batch 1 --save "$dir/tiny.safetensors" > /dev/null
/usr/bin/python3 - "$dir/tiny.safetensors" <<'PY'
import json, struct, sys
import numpy as np
path = sys.argv[1]
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
meta = header.pop("__metadata__")
def tensor(name):
    h = header[name]
    assert h["dtype"] == "F32", name
    b, e = h["data_offsets"]
    return np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").reshape(h["shape"])
fails = 0
def check(cond, what):
    global fails
    if not cond:
        fails += 1
        print("FAIL:", what)
check(header["encoder.blocks.11.attn.qkv.weight"]["shape"] == [576, 192], "qkv shape")
check(header["encoder.pos_embed"]["shape"] == [1, 196, 192], "pos_embed shape")
check(header["encoder.patch_embed.proj.weight"]["shape"] == [192, 3, 16, 16], "patch conv shape")
check(header["predictor.mask_token"]["shape"] == [1, 1, 384], "mask token shape")
check(header["predictor.predictor_blocks.11.mlp.fc2.weight"]["shape"] == [384, 1536], "predictor fc2")
check(header["target_encoder.norm.bias"]["shape"] == [192], "target norm")
check(meta["embed_dim"] == "192" and meta["num_heads"] == "3" and meta["depth"] == "12", "metadata")
names = [k for k in header if k.startswith("encoder.")]
check(len(names) == 2 + 1 + 12 * 12 + 2, "encoder tensor count %d" % len(names))
check(all(np.array_equal(tensor(k), tensor("target_encoder." + k[8:])) for k in names), "target = encoder")
# SPEC section 1: first half encodes the column
Q = 192 // 4
w = 10000.0 ** (-np.arange(Q) / Q)
pos = np.zeros((196, 192))
for r in range(14):
    for c in range(14):
        pos[r * 14 + c] = np.concatenate([np.sin(c * w), np.cos(c * w), np.sin(r * w), np.cos(r * w)])
check(np.abs(tensor("encoder.pos_embed")[0] - pos).max() < 1e-6, "pos_embed values")
std = tensor("encoder.blocks.0.mlp.fc1.weight").std()
check(abs(std - 0.02) < 0.001, "init std %.4f" % std)
check(np.all(tensor("encoder.blocks.0.norm1.weight") == 1) and np.all(tensor("encoder.blocks.0.attn.qkv.bias") == 0), "LN/bias init")
print("test_checkpoint_numpy: %d failed" % fails)
sys.exit(1 if fails else 0)
PY
