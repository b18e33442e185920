#!/usr/bin/env bash
# Encoders saved by other programs load as they are (src/io/checkpoint_import.c): the same tiny
# target encoder in ijepa.c's layout (tests/fixtures/official_tiny_expected.safetensors), timm's
# (timm_tiny.safetensors: official names, a classifier head) and transformers' (hf_tiny/: IJepaModel
# names, q/k/v split, config.json) gives the same features, bit for bit, on the CIFAR-10 shard
# (tests/reference/make_foreign_fixtures.py writes the two foreign files). timm's file does not say
# its number of heads: without --heads that is a one-line error naming the option.
. "$(dirname "$0")/lib.sh"
fx=tests/fixtures
data=../shared/data/cifar10/train-004.tar
[ -f "$data" ] || { echo "FAIL: $data is missing"; exit 1; }

"$ij" embed --checkpoint "$fx/official_tiny_expected.safetensors" --data "$data" --out "$dir/ijepa" --pool last \
    > "$dir/log" 2>&1 || fail "embed (ijepa.c layout): $(tail -2 "$dir/log")"
"$ij" embed --checkpoint "$fx/timm_tiny.safetensors" --heads 2 --data "$data" --out "$dir/timm" > "$dir/log" 2>&1 ||
    fail "embed (timm layout): $(tail -2 "$dir/log")"
grep -q "bare encoder (official names; timm), 16x16x3 images, patch 4, 24 wide, 2 deep, 2 heads" "$dir/log" ||
    fail "timm layout not reported: $(head -3 "$dir/log")"
"$ij" embed --checkpoint "$fx/hf_tiny/model.safetensors" --data "$data" --out "$dir/hf" > "$dir/log" 2>&1 ||
    fail "embed (transformers layout): $(tail -2 "$dir/log")"
grep -q "transformers (IJepaModel), 16x16x3 images, patch 4, 24 wide, 2 deep, 2 heads" "$dir/log" ||
    fail "transformers layout not reported: $(head -3 "$dir/log")"
for v in timm hf; do
    cmp -s "$dir/ijepa_features.npy" "$dir/${v}_features.npy" && echo "$v: the same features as the ijepa.c layout" ||
        fail "$v features differ from the ijepa.c layout's"
done
"$ij" embed --checkpoint "$fx/timm_tiny.safetensors" --data "$data" --out "$dir/x" > /dev/null 2> "$dir/err" &&
    fail "a 24-wide timm encoder loaded without --heads"
[ "$(wc -l < "$dir/err")" = 1 ] && grep -q "give --heads" "$dir/err" || fail "no --heads: $(cat "$dir/err")"
[ $fails -eq 0 ] && echo "test_foreign_checkpoints: all passed"
