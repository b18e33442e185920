#!/usr/bin/env bash
# `ijepa bench` reads the sgemm peak before, between and after the timed steps and divides by the
# readings' median: the line names the count of readings (one before, one after each timed step but
# the last, one after) and the median lies within their range; the readings' 48 MiB of matrices never
# count as the run's memory, so the peak memory of 12 timed steps (13 readings) is close to that of 2
# (3): within 64 MiB (before the matrices were mapped and unmapped directly, glibc kept them: +29 MiB
# per reading on this model, +288 MiB in all; the sanitizer build grows by ~17 MiB, its allocator's
# quarantine). Run from a parent process holding 512 MiB, it reports its own memory, not the parent's.
. "$(dirname "$0")/lib.sh"
model=(--embed --batch-size 64 --warmup 1)
for steps in 2 12; do
    "$build/ijepa" bench "${model[@]}" --steps $steps > "$dir/out$steps" 2>&1 || fail "bench --steps $steps: $(tail -1 "$dir/out$steps")"
done
line=$(grep "^achieved" "$dir/out12")
echo "$line" | grep -Eq "^achieved [0-9.]+ GFLOP/s; sgemm peak \(2048\^3, best of 3 runs\), 13 readings before, between and after the timed steps: median [0-9.]+ GFLOP/s \([0-9.]+-[0-9.]+\); [0-9]+% of peak \([0-9]+% of the highest reading\)$" ||
    fail "peak line: $line"
echo "$line" | awk '{ match($0, /median [0-9.]+/); med = substr($0, RSTART + 7, RLENGTH - 7) + 0
                      match($0, /\([0-9.]+-[0-9.]+\)/); split(substr($0, RSTART + 1, RLENGTH - 2), r, "-")
                      exit !(r[1] + 0 <= med && med <= r[2] + 0 && r[1] > 0) }' || fail "median outside the range: $line"
grep -q "3 readings before, between and after" "$dir/out2" || fail "2 steps: $(grep '^achieved' "$dir/out2")"
rss() { sed -n 's/^peak resident memory: \([0-9]*\) MiB (without the peak readings. matrices)$/\1/p' "$1"; }
a=$(rss "$dir/out2") b=$(rss "$dir/out12")
[ -n "$a" ] && [ -n "$b" ] && [ $((b - a)) -lt 64 ] || fail "peak memory after 3 readings ${a:-?} MiB, after 13 ${b:-?} MiB"
# run from a parent that holds 512 MiB: bench reports its own memory (getrusage's maximum carries the
# parent's over the fork and exec; /proc/self/status's VmHWM does not)
c=$(/usr/bin/python3 -c '
import subprocess, sys
hold = bytearray(512 << 20)
for i in range(0, len(hold), 4096): hold[i] = 1
sys.stdout.write(subprocess.run(sys.argv[1:], capture_output=True, text=True).stdout)' \
    "$build/ijepa" bench "${model[@]}" --steps 2 | sed -n 's/^peak resident memory: \([0-9]*\) MiB.*/\1/p')
[ -n "$c" ] && [ -n "$a" ] && [ $((c - a)) -lt 64 ] && [ $((a - c)) -lt 64 ] ||
    fail "peak memory under a 512 MiB parent ${c:-?} MiB, alone ${a:-?} MiB"
echo "test_bench_peak: $fails failed"
[ "$fails" = 0 ]
