#!/usr/bin/env bash
# The main job: pretrain on Fashion-MNIST for a bounded time, then print the evaluation
# table (linear probe, k-NN, low-shot) of the target encoder beside raw pixels and a
# random-init encoder of the same shape. About 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/main}
rm -rf "$run"
build/ijepa train --out "$run" --depth 6 --pred-depth 4 --batch-size 64 --epochs 1 --warmup 0.1 \
    --lr 2e-4 --start-lr 5e-5 --masks fixed --minutes 7 --log-every 100 --probe-every 500
build/ijepa probe --checkpoint "$run/checkpoint.safetensors"
