#!/usr/bin/env bash
# `ijepa bench --kernels` times each block product alone: with a vector kernel it prints the
# one-thread sgemm peak and one line per product with both rates (the weight gradients too); a
# build without one (no AVX2 + FMA) refuses with a one-line error and a non-zero exit.
. "$(dirname "$0")/lib.sh"
if "$build/ijepa" bench --kernels --embed-dim 32 --depth 1 --heads 2 --pred-dim 32 --pred-depth 1 \
    > "$dir/out" 2> "$dir/err"; then
    grep -Eq "^one thread: sgemm peak \(2048\^3, OpenBLAS\) [0-9.]+ GFLOP/s; register tile [0-9]+ x [0-9]+$" "$dir/out" ||
        fail "no peak line: $(head -3 "$dir/out")"
    n=$(grep -Ec "^  [a-z0-9 ()]+[a-z0-9)] +256 x [0-9]+ x [0-9]+: ours [0-9.]+, OpenBLAS [0-9.]+ GFLOP/s; packing the weights [0-9.]+ us$" "$dir/out")
    [ "$n" = 10 ] || fail "expected 10 product lines, got $n: $(cat "$dir/out")"
    grep -q "encoder qkv  *256 x 32 x 96:" "$dir/out" || fail "the encoder qkv line has the wrong shape"
    n=$(grep -Ec "^    operands from memory \([0-9]+ MiB\): ours [0-9.]+ GFLOP/s$" "$dir/out")
    [ "$n" = 10 ] || fail "expected 10 operands-from-memory lines, got $n: $(cat "$dir/out")"
    n=$(grep -Ec "^  [a-z]+ d\([a-z0-9]+ weight\) +[0-9]+ x 2048 x [0-9]+: ours [0-9.]+, OpenBLAS [0-9.]+ GFLOP/s$" "$dir/out")
    [ "$n" = 5 ] || fail "expected 5 weight-gradient lines, got $n: $(cat "$dir/out")"
    grep -q "encoder d(fc1 weight)  *128 x 2048 x 32:" "$dir/out" || fail "the fc1 weight-gradient line has the wrong shape"
else
    [ "$(wc -l < "$dir/err")" = 1 ] && grep -q "no vector kernel" "$dir/err" ||
        fail "bench --kernels failed: $(cat "$dir/err")"
fi
echo "test_bench_kernels: $fails failed"
[ "$fails" = 0 ]
