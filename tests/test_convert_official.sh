#!/usr/bin/env bash
# tools/convert_official.py on tests/fixtures/official_tiny.pth.tar (written by torch.save in the
# authors' layout, see tests/reference/make_official_fixture.py), with torch made unimportable:
# every tensor must equal tests/fixtures/official_tiny_expected.safetensors bit for bit, the
# metadata must give the model configuration, and `ijepa info --checkpoint` must load the full
# and the --encoder-only conversions. Damaged inputs must fail with a one-line error and leave
# an existing output alone. Run by tests/run.sh with the build folder.
set -u
build=${1:-build}
build=$(cd "$build" 2> /dev/null && pwd || echo "$build")
cd "$(dirname "$0")/.."
py=/usr/bin/python3
[ -x "$py" ] || py=python3
fix=tests/fixtures/official_tiny.pth.tar
expected=tests/fixtures/official_tiny_expected.safetensors
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
checks=0; fails=0
ok() { checks=$((checks+1)); }
bad() { checks=$((checks+1)); fails=$((fails+1)); echo "FAIL: $*"; }

# the converter with `import torch` made to fail, so a hidden torch dependency shows up
convert() {
    "$py" -c 'import runpy, sys
sys.modules["torch"] = None
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")' tools/convert_official.py "$@"
}

# compare.py CONVERTED EXPECTED MODE: MODE full (all three parts), or bare:target|bare:encoder
cat > "$dir/compare.py" <<'PY'
import json, struct, sys
import numpy as np
def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    assert n % 8 == 0, "header length %d not a multiple of 8" % n
    h = json.loads(raw[8:8 + n])
    meta = h.pop("__metadata__", {})
    data = raw[8 + n:]
    spans = sorted(tuple(v["data_offsets"]) for v in h.values())
    pos = 0
    for b, e in spans:
        assert b == pos, "hole or overlap in the data section"
        pos = e
    assert pos == len(data), "trailing bytes"
    out = {}
    for k, v in h.items():
        b, e = v["data_offsets"]
        assert v["dtype"] == "F32", (k, v["dtype"])
        out[k] = np.frombuffer(data[b:e], dtype="<f4").reshape(v["shape"])
    return out, meta
got, gmeta = load(sys.argv[1])
exp, emeta = load(sys.argv[2])
mode = sys.argv[3]
if mode != "full":
    part = "target_encoder." if mode == "bare:target" else "encoder."
    exp = {k[len(part):]: v for k, v in exp.items() if k.startswith(part)}
fails = 0
def check(cond, what):
    global fails
    if not cond:
        fails += 1
        print("FAIL:", what)
check(sorted(got) == sorted(exp), "tensor names differ: %s" % sorted(set(got) ^ set(exp))[:5])
for k, v in exp.items():
    if k in got:
        check(got[k].shape == v.shape and got[k].tobytes() == v.tobytes(), "tensor %s differs" % k)
keys = ["format", "img_size", "channels", "patch_size", "embed_dim", "depth", "num_heads",
        "mlp_dim", "pred_embed_dim", "pred_depth", "pred_mlp_dim"]
for k in keys:
    check(gmeta.get(k) == emeta[k], "metadata %s: %r, expected %r" % (k, gmeta.get(k), emeta[k]))
check(gmeta.get("source_epoch") == "300", "metadata source_epoch %r" % gmeta.get("source_epoch"))
check(len(got) == {"full": 90}.get(mode, 29), "%d tensors" % len(got))
if mode == "full":
    check(not np.array_equal(got["encoder.norm.weight"], got["target_encoder.norm.weight"]),
          "encoder and target encoder should differ")
print("%s: %d tensors compared, %d failed" % (mode, len(exp), fails))
sys.exit(1 if fails else 0)
PY

# ---- full conversion ----
if convert "$fix" "$dir/full.safetensors" --num-heads 2 > "$dir/out.txt" 2> "$dir/err.txt"; then
    ok
    grep -q "encoder + predictor + target_encoder, 90 tensors" "$dir/out.txt" \
        && [ "$(wc -l < "$dir/out.txt")" -eq 1 ] && ok || bad "summary line: $(cat "$dir/out.txt")"
    "$py" "$dir/compare.py" "$dir/full.safetensors" "$expected" full && ok || bad "full conversion differs"
else
    bad "conversion failed: $(cat "$dir/err.txt")"
fi
ls "$dir"/*.tmp.* > /dev/null 2>&1 && bad "temporary file left behind" || ok

if [ -x "$build/ijepa" ]; then
    if "$build/ijepa" info --checkpoint "$dir/full.safetensors" --batch 1 > "$dir/info.txt" 2>&1; then
        grep -q "16x16x3 images, patch 4 (16 tokens); encoder 24 wide, 2 deep, 2 heads, MLP 96; predictor 16 wide, 2 deep, MLP 64" \
            "$dir/info.txt" && ok || bad "ijepa info output: $(head -n 2 "$dir/info.txt")"
    else
        bad "ijepa info --checkpoint full: $(tail -n 1 "$dir/info.txt")"
    fi
else
    bad "$build/ijepa not built (run make first)"
fi

# ---- one encoder, bare names: the target encoder (default) and the context encoder ----
for which in target context; do
    out="$dir/bare_$which.safetensors"
    if convert "$fix" "$out" --num-heads 2 --patch-size 4 --img-size 16 --channels 3 \
            --encoder-only --encoder "$which" > "$dir/out.txt" 2> "$dir/err.txt"; then
        ok
        part=$([ "$which" = target ] && echo target_encoder || echo encoder)
        grep -q "bare $part, 29 tensors" "$dir/out.txt" && ok || bad "summary: $(cat "$dir/out.txt")"
        "$py" "$dir/compare.py" "$out" "$expected" "bare:$which" && ok || bad "--encoder-only $which differs"
        if [ -x "$build/ijepa" ]; then
            "$build/ijepa" info --checkpoint "$out" --batch 1 > "$dir/info.txt" 2>&1 \
                && grep -q "encoder 24 wide, 2 deep, 2 heads" "$dir/info.txt" && ok \
                || bad "ijepa info --checkpoint bare $which: $(tail -n 1 "$dir/info.txt")"
        fi
    else
        bad "--encoder-only $which failed: $(cat "$dir/err.txt")"
    fi
done

# ---- errors: non-zero exit, exactly one line on stderr, the existing output untouched ----
expect_error() {  # description, pattern in the message, converter arguments...
    local what=$1 pattern=$2; shift 2
    cp "$dir/full.safetensors" "$dir/keep.safetensors" 2> /dev/null
    if convert "$@" "$dir/keep.safetensors" > "$dir/out.txt" 2> "$dir/err.txt"; then
        bad "$what: exit status 0"; return
    fi
    local lines; lines=$(wc -l < "$dir/err.txt")
    if [ "$lines" -ne 1 ] || ! grep -q "^convert_official: error: .*$pattern" "$dir/err.txt"; then
        bad "$what: expected one line matching '$pattern', got $lines: $(head -c 600 "$dir/err.txt")"
        return
    fi
    cmp -s "$dir/full.safetensors" "$dir/keep.safetensors" && ok || bad "$what: output file changed"
    ls "$dir"/*.tmp.* > /dev/null 2>&1 && bad "$what: temporary file left behind" || ok
}
size=$(stat -c %s "$fix")
head -c $((size / 2)) "$fix" > "$dir/truncated.pth.tar"
expect_error "truncated zip" "not a zip archive" "$dir/truncated.pth.tar" --num-heads 2
head -c $((size - 30)) "$fix" > "$dir/cut.pth.tar"
expect_error "zip without its end record" "not a zip archive" "$dir/cut.pth.tar" --num-heads 2
cp "$fix" "$dir/flipped.pth.tar"
"$py" - "$dir/flipped.pth.tar" <<'PY'
import sys, zipfile
path = sys.argv[1]
zf = zipfile.ZipFile(path)
info = next(i for i in zf.infolist() if i.filename.endswith("/data/1"))
zf.close()
buf = bytearray(open(path, "rb").read())
# the data of storage 1 starts after its local header (30 bytes + name + extra field)
n, x = int.from_bytes(buf[info.header_offset + 26:info.header_offset + 28], "little"), \
       int.from_bytes(buf[info.header_offset + 28:info.header_offset + 30], "little")
buf[info.header_offset + 30 + n + x + 100] ^= 0x40
open(path, "wb").write(bytes(buf))
PY
expect_error "corrupted storage (CRC)" "CRC" "$dir/flipped.pth.tar" --num-heads 2
expect_error "missing input" "no such file" "$dir/absent.pth.tar" --num-heads 2
printf 'not a checkpoint\n' > "$dir/text.pth"
expect_error "text file" "not a zip archive" "$dir/text.pth" --num-heads 2
"$py" -c 'import pickle, sys; sys.stdout.buffer.write(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19" + pickle.dumps({}, 2))' > "$dir/legacy.pth"
expect_error "legacy format" "legacy (non-zip, torch < 1.6)" "$dir/legacy.pth" --num-heads 2
"$py" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1], "w").writestr("a/readme.txt", "hi")' "$dir/other.zip"
expect_error "zip without data.pkl" "data.pkl" "$dir/other.zip" --num-heads 2
expect_error "no head count" "cannot be inferred.*--num-heads" "$fix"
expect_error "wrong preset" "--model vit_base has embed_dim 768, the checkpoint has 24" "$fix" --model vit_base
expect_error "wrong patch size" "--patch-size 8 does not match the checkpoint (patch_size 4)" "$fix" --num-heads 2 --patch-size 8
expect_error "heads not dividing the width" "multiple of 4 and of the head count 5" "$fix" --num-heads 5
# a checkpoint whose encoder lacks a tensor / has a wrong shape: rewrite data.pkl's names
"$py" - "$fix" "$dir" <<'PY'
import sys, zipfile
src, d = sys.argv[1], sys.argv[2]
def rewrite(out, old, new):
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(out, "w") as zo:
        for i in zi.infolist():
            data = zi.read(i.filename)
            if i.filename.endswith("/data.pkl"):
                assert data.count(old) >= 1, old
                data = data.replace(old, new)
            zo.writestr(i, data)
# rename predictor.predictor_norm.bias -> a name that is not in the layout
rewrite(d + "/renamed.pth.tar", b"module.predictor_norm.bias", b"module.predictor_norm.bia_")
PY
expect_error "missing tensor" "missing tensor 'predictor.predictor_norm.bias'" "$dir/renamed.pth.tar" --num-heads 2

echo "test_convert_official: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
