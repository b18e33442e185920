#!/usr/bin/env bash
# One CIFAR-10 recipe variant (issue 23): docs/cifar10_recipe.yaml with a shorter schedule and the
# given changes, trained on shards 000-003, then probed on held-out shard 004 the way every row of
# docs/cifar10_recipe.md is (`ijepa probe --pool last4 --bf16`). Resumable: run it again with the
# same arguments and it continues from the run's checkpoint, then probes.
#   scripts/cifar10_variant.sh NAME EPOCHS [train flags...]
#   scripts/cifar10_variant.sh base10 10
#   scripts/cifar10_variant.sh lr1e-3 10 --lr 1e-3
# Writes runs/c10v_NAME/ (the run, with checkpoint-epochN every 5 epochs) and runs/c10v_NAME/probe.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 epochs=$2
shift 2
run=runs/c10v_$name
if [ -f "$run/checkpoint.safetensors" ]; then
    build/ijepa train --resume "$run"
else
    build/ijepa train --config docs/cifar10_recipe.yaml --out "$run" --epochs "$epochs" --minutes 0 \
        --probe-every 0 "$@"   # keeps checkpoint-epochN every 5 epochs (the recipe's): the curve
fi
build/ijepa probe --checkpoint "$run/checkpoint.safetensors" --data '../shared/data/cifar10/train-00[0-3].tar' \
    --test-data ../shared/data/cifar10/train-004.tar --pool last4 --bf16 | tee "$run/probe.txt"
