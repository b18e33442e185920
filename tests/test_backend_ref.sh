#!/usr/bin/env bash
# test_backend_ref.sh BUILD: the ref backend (src/backend/ref_*.c) on its own, chosen the way a user
# chooses it:
#  - IJ_BACKEND=ref: the PyTorch parity test and the gradient check pass on it;
#  - `ijepa train --backend ref` trains a tiny model 3 steps to what --backend cpu gives (within
#    1e-4 per tensor: Adam turns noise-level gradient differences into steps of lr; see
#    tests/test_backend.c for the tolerances of single operations and steps);
#  - an unknown backend (variable or flag) is a one-line error and a non-zero exit.
. "$(dirname "$0")/lib.sh"

for t in test_parity test_gradcheck; do
    if out=$(IJ_BACKEND=ref "$build/tests/$t" 2>&1); then
        echo "$out" | grep -q '^backend ref$' || fail "$t did not run on the ref backend"
        echo "$t (ref): $(echo "$out" | tail -n 1)"
    else
        echo "$out" | grep FAIL | head -n 10
        fail "$t on the ref backend"
    fi
done

tiny=(--data fashion-mnist "${tiny_model[@]}" --batch-size 8 --epochs 2 --warmup 1 --threads 2 --steps 3)
for be in cpu ref; do
    "$ij" train "${tiny[@]}" --backend "$be" --out "$dir/$be" > "$dir/$be.log" 2>&1 ||
        fail "train --backend $be: $(tail -n 2 "$dir/$be.log")"
    grep -q "^backend: $be;" "$dir/$be.log" || fail "train --backend $be does not say so"
done
if d=$(close_tensors "$dir/cpu/checkpoint.safetensors" "$dir/ref/checkpoint.safetensors" 1e-4); then
    echo "train, 3 steps: cpu against ref: $d"
else
    fail "train: cpu and ref checkpoints differ: $d"
fi

if err=$(IJ_BACKEND=gpu "$ij" info 2>&1); then fail "IJ_BACKEND=gpu was accepted"; fi
[ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q "IJ_BACKEND=gpu" || fail "IJ_BACKEND=gpu: $err"
if err=$("$ij" bench --backend tpu 2>&1); then fail "--backend tpu was accepted"; fi
[ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q "unknown backend 'tpu'" || fail "--backend tpu: $err"
[ $fails -eq 0 ] && echo "test_backend_ref: all passed"
