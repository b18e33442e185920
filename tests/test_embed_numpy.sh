#!/usr/bin/env bash
# `ijepa embed` writes .npy files that numpy loads with the right shape and dtype (with --bf16:
# features within bf16's precision of the float32 ones, and not equal to them), and `ijepa probe`
# rejects bad arguments with one-line errors.
. "$(dirname "$0")/lib.sh"
"$build/ijepa" info --embed-dim 32 --depth 4 --heads 2 --pred-dim 16 --pred-depth 1 --batch 2 \
    --save "$dir/tiny.safetensors" > /dev/null || fail "info --save"
"$build/ijepa" embed --checkpoint "$dir/tiny.safetensors" --split test --out "$dir/test" > "$dir/log" 2>&1 || fail "embed: $(cat "$dir/log")"
"$build/ijepa" embed --checkpoint "$dir/tiny.safetensors" --split test --pool last4 --encoder context \
    --out "$dir/last4" > "$dir/log" 2>&1 || fail "embed last4: $(cat "$dir/log")"
# --bf16: bf16 operands in the encoder's products; the features move by about bf16's precision
"$build/ijepa" embed --checkpoint "$dir/tiny.safetensors" --split test --bf16 --out "$dir/bf" > "$dir/log" 2>&1 || fail "embed --bf16: $(cat "$dir/log")"
grep -q "^matrix products: bf16 operands" "$dir/log" || fail "embed --bf16 does not say so: $(cat "$dir/log")"
/usr/bin/python3 - "$dir" <<'PY' || fail "numpy check"
import sys, numpy as np
d = sys.argv[1]
f = np.load(d + "/test_features.npy"); y = np.load(d + "/test_labels.npy")
g = np.load(d + "/last4_features.npy")
b = np.load(d + "/bf_features.npy")
rel = np.linalg.norm(b - f) / np.linalg.norm(f)
assert b.shape == f.shape and 1e-5 < rel < 0.05, (b.shape, rel)
print("bf16 features: relative difference %.3g from float32" % rel)
assert f.shape == (10000, 32) and f.dtype == np.float32, (f.shape, f.dtype)
assert g.shape == (10000, 128) and g.dtype == np.float32, (g.shape, g.dtype)
assert y.shape == (10000,) and y.dtype == np.int32 and y.min() == 0 and y.max() == 9, (y.shape, y.dtype)
assert np.isfinite(f).all() and f.std() > 0
print("numpy: features", f.shape, f.dtype, "labels", y.shape, y.dtype)
PY
expect_error() {  # pattern, args...
    local pat=$1; shift
    "$build/ijepa" "$@" > /dev/null 2> "$dir/err"; local rc=$?
    if [ $rc -eq 0 ] || [ "$(wc -l < "$dir/err")" != 1 ] || ! grep -q -- "$pat" "$dir/err"; then
        fail "expected '$pat' from '$*', got rc $rc: $(cat "$dir/err")"
    fi
}
expect_error "checkpoint is required" probe
expect_error "No such file" probe --checkpoint "$dir/missing.safetensors"
expect_error "must be 'last' or 'last4'" probe --checkpoint "$dir/tiny.safetensors" --pool mean
expect_error "must be 'target' or 'context'" embed --checkpoint "$dir/tiny.safetensors" --out "$dir/x" --encoder student
echo "test_embed_numpy: $fails failed"
[ $fails -eq 0 ]
