#!/usr/bin/env bash
# The Python package (python/ijepa over libijepa.so, src/api/api.h): `pip install .` into a fresh
# virtual environment (offline: --no-build-isolation, the system's setuptools), then, from there:
#  - embed_folder on the CIFAR-10 shard gives the CLI's `ijepa embed` features, bit for bit;
#  - embed on a numpy array gives the features of the same images written as PNG files and read back;
#  - train(config, out, max_steps=3) writes the checkpoint `ijepa train --config --steps 3` writes;
#  - a bad checkpoint raises IjepaError with the library's one-line message.
. "$(dirname "$0")/lib.sh"
ij=build/ijepa   # the package is built from the normal build (setup.py runs make)
data=../shared/data/cifar10/train-004.tar
[ -f "$data" ] || { echo "FAIL: $data is missing"; exit 1; }
$py -m venv --system-site-packages "$dir/venv" > "$dir/log" 2>&1 || { cat "$dir/log"; echo "FAIL: python3 -m venv"; exit 1; }
"$dir/venv/bin/pip" install --no-build-isolation --no-deps --no-index --quiet . > "$dir/log" 2>&1 ||
    { tail -20 "$dir/log"; echo "FAIL: pip install ."; exit 1; }
rm -rf build/lib build/bdist* python/ijepa.egg-info 2> /dev/null  # what setuptools leaves in the tree
fx=tests/fixtures/official_tiny_expected.safetensors
"$ij" embed --checkpoint "$fx" --data "$data" --out "$dir/cli" > /dev/null 2>&1 || fail "ijepa embed"
cat > "$dir/tiny.yaml" <<'YAML'
data:
  dataset: fashion-mnist
  batch_size: 16
meta:
  embed_dim: 32
  depth: 2
  num_heads: 2
  pred_emb_dim: 16
  pred_depth: 1
optimization:
  epochs: 2
  warmup: 1
logging:
  threads: 2
  log_every: 1
YAML
"$ij" train --config "$dir/tiny.yaml" --steps 3 --out "$dir/cli_run" > /dev/null 2>&1 || fail "ijepa train"
cd "$dir" && "$dir/venv/bin/python" - "$OLDPWD/$fx" "$OLDPWD/$data" "$dir" <<'PY' || fail "the Python checks"
import os, struct, sys, zlib
import numpy as np
import ijepa
assert os.path.dirname(ijepa.__file__).startswith(sys.argv[3] + "/venv"), ijepa.__file__  # the installed one
fx, data, tmp = sys.argv[1:4]
m = ijepa.Model(fx)
feats, files, labels, classes = m.embed_folder(data)
cli = np.load(tmp + "/cli_features.npy")
assert feats.shape == cli.shape and np.array_equal(feats, cli), "embed_folder differs from ijepa embed"
assert files[0].endswith("train-004.tar:airplane/4000.jpg") and classes[0] == "airplane" and labels[0] == 0
print("embed_folder: %d images, the CLI's features bit for bit" % len(files))
# an array, and the same images as PNG files
rng = np.random.default_rng(1)
imgs = rng.integers(0, 256, (6, 32, 40, 3), dtype=np.uint8)
def png(path, a):
    h, w, _ = a.shape
    raw = b"".join(b"\0" + a[y].tobytes() for y in range(h))
    ck = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + ck(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                           + ck(b"IDAT", zlib.compress(raw)) + ck(b"IEND", b""))
os.makedirs(tmp + "/pngs")
for i, a in enumerate(imgs):
    png(tmp + "/pngs/%d.png" % i, a)
x = m.embed(imgs)
y, files, labels, _ = m.embed_folder(tmp + "/pngs")
assert labels is None and [os.path.basename(f) for f in files] == ["%d.png" % i for i in range(6)], files
assert np.array_equal(x, y), "embed(array) differs from the same images read from PNG files"
print("embed: an array gives the features of the same images as files")
# a training run
assert ijepa.train(tmp + "/tiny.yaml", tmp + "/py_run", max_steps=3) == 0
def tensors(p):
    raw = open(p, "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
    import json
    h = json.loads(raw[8:8 + n]); h.pop("__metadata__")
    return {k: raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()}
assert tensors(tmp + "/py_run/checkpoint.safetensors") == tensors(tmp + "/cli_run/checkpoint.safetensors")
print("train: the checkpoint of ijepa train, bit for bit")
try:
    ijepa.Model(tmp + "/nope.safetensors")
    raise SystemExit("no error for a missing checkpoint")
except ijepa.IjepaError as e:
    assert "nope.safetensors" in str(e), e
print("errors: IjepaError with the library's message")
PY
[ $fails -eq 0 ] && echo "test_python: all passed"
