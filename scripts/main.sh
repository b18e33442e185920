#!/usr/bin/env bash
# The main job: pretrain on Fashion-MNIST for a bounded time (about 10 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/main}
build/ijepa train --out "$run" --depth 6 --pred-depth 4 --batch-size 64 --epochs 10 --warmup 1 \
    --minutes 10 --log-every 50
