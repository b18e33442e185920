#!/usr/bin/env bash
# Interleaved before/after speed pairs of two builds of ijepa on this machine (docs/performance.md):
#   git worktree add /tmp/old <commit> && make -C /tmp/old build/ijepa
#   scripts/bench_pairs.sh /tmp/old/build/ijepa build/ijepa [rounds]
# For each round and each binary: `train` 80 steps of config 1 in float32 and with --bf16 (images/s
# of steps 41-80, from metrics.jsonl) and `bench --embed` (config 1, batch 128).
set -euo pipefail
old=$1 new=$2 rounds=${3:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in $(seq "$rounds"); do
    for v in old new; do
        bin=$old; [ $v = new ] && bin=$new
        for bf in off on; do
            "$bin" train --steps 80 --log-every 40 --batch-size 128 --threads 2 --bf16 $bf --out "$out/run" --force \
                > "$out/log" 2>&1
            ips=$(grep '"step":80' "$out/run/metrics.jsonl" | sed 's/.*"images_per_s":\([0-9.]*\).*/\1/')
            printf 'train config 1 --bf16 %-3s %s round %d: %.1f images/s (steps 41-80)\n' $bf $v "$round" "$ips"
        done
        "$bin" bench --embed --steps 10 --warmup 3 --batch-size 128 > "$out/log" 2>&1
        echo "bench --embed config 1 $v round $round: $(grep '^embed:' "$out/log")"
    done
done
