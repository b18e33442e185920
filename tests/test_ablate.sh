#!/usr/bin/env bash
# `ijepa ablate` and `ijepa viz` end to end on Fashion-MNIST with a tiny model:
#  - the ablation switches reach config.yaml and the printed mode; with --ema off the target
#    encoder is an exact copy of the encoder after the last step;
#  - a grid of 3 variants (one custom) writes ablate.md / ablate.json / ablate_curves.png with one
#    row per variant plus the random-init row, and a second call reuses the finished runs;
#  - viz writes masks.png, pca.png, nearest.png and curves.png;
#  - a variant that cannot run becomes a row saying why; unknown variants and bad switch values
#    are one-line errors.
. "$(dirname "$0")/lib.sh"
tiny=(--data fashion-mnist --embed-dim 32 --depth 2 --heads 2 --pred-dim 16 --pred-depth 1
      --batch-size 16 --epochs 1 --warmup 0 --threads 2 --log-every 2 --steps 4
      --probe-fit 100 --probe-held 50)

"$ij" ablate --out "$dir/grid" --grid raster,ema-off-target-norm-off --variants 'ctx1=--context-scale 1,1' \
    --diag-every 2 -- "${tiny[@]}" > "$dir/grid.log" 2>&1 || fail "ablate: $(tail -n 3 "$dir/grid.log")"
for f in ablate.md ablate.json ablate_curves.png raster/config.yaml ctx1/metrics.jsonl; do
    [ -s "$dir/grid/$f" ] || fail "missing $f"
done
rows=$(grep -c '^| \(random init\|raster\|ema-off-target-norm-off\|ctx1\) |' "$dir/grid/ablate.md")
[ "$rows" = 4 ] || fail "ablate.md should have 4 rows, has $rows"
grep -q 'masks: raster (rasterized' "$dir/grid.log" || fail "raster mode not printed"
grep -q 'EMA: off' "$dir/grid.log" && grep -q 'target LayerNorm: off' "$dir/grid.log" || fail "switches not printed"
grep -q '  use_ema: false' "$dir/grid/ema-off-target-norm-off/config.yaml" &&
    grep -q '  target_norm: false' "$dir/grid/ema-off-target-norm-off/config.yaml" || fail "switches not in config.yaml"
grep -q '  mode: raster' "$dir/grid/raster/config.yaml" || fail "mask mode not in config.yaml"
grep -q '  enc_mask_scale: \[1.0, 1.0\]' "$dir/grid/ctx1/config.yaml" || fail "context scale 1 not in config.yaml"
grep -q '"momentum":0,' "$dir/grid/ema-off-target-norm-off/metrics.jsonl" || fail "momentum should be 0 without EMA"
grep -q '"erank"' "$dir/grid/raster/metrics.jsonl" || fail "no diagnostics in metrics.jsonl"
/usr/bin/python3 - "$dir/grid/ema-off-target-norm-off/checkpoint.safetensors" \
    "$dir/grid/raster/checkpoint.safetensors" <<'PY' || fail "no-EMA target encoder is not a copy of the encoder"
import json, struct, sys
def load(p):
    raw = open(p, "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n]); h.pop("__metadata__", None)
    return {k: raw[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]] for k, v in h.items()}
off, on = load(sys.argv[1]), load(sys.argv[2])
tgt = [k for k in off if k.startswith("target_encoder.")]
assert tgt and all(off[k] == off["encoder." + k[len("target_encoder."):]] for k in tgt)
# with EMA the target lags the encoder (pos_embed is fixed, so look at the trained tensors)
assert any(on[k] != on["encoder." + k[len("target_encoder."):]] for k in tgt)
PY
/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert len(d['runs']) == 4 and \
    all(r['erank'] is not None and r['probe_linear'] is not None for r in d['runs'])" "$dir/grid/ablate.json" ||
    fail "ablate.json runs"

"$ij" ablate --out "$dir/grid" --grid raster -- "${tiny[@]}" > "$dir/again.log" 2>&1 || fail "ablate again"
grep -q 'reusing the finished run' "$dir/again.log" || fail "a finished run was not reused"

"$ij" viz --run "$dir/grid/raster" --out "$dir/viz" --images 3 --bank 40 > "$dir/viz.log" 2>&1 ||
    fail "viz: $(tail -n 3 "$dir/viz.log")"
for f in masks.png pca.png nearest.png curves.png; do
    [ "$(head -c 8 "$dir/viz/$f" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "viz $f is not a PNG"
done

"$ij" ablate --out "$dir/bad" --grid nosuch -- "${tiny[@]}" > "$dir/bad.log" 2>&1 && fail "unknown variant accepted"
grep -q "unknown variant or group 'nosuch'" "$dir/bad.log" || fail "unknown variant message: $(cat "$dir/bad.log")"
# a variant that cannot run is a row that says why; the grid goes on
"$ij" ablate --out "$dir/grid" --grid raster --variants 'broken=--masks nosuch' -- "${tiny[@]}" > "$dir/broken.log" 2>&1 ||
    fail "ablate with a broken variant: $(tail -n 3 "$dir/broken.log")"
grep -q "^| broken | --masks nosuch (\*\*stopped\*\*: mask.mode must be" "$dir/grid/ablate.md" || fail "broken row: $(grep broken "$dir/grid/ablate.md")"
"$ij" train "${tiny[@]}" --out "$dir/x" --ema sometimes > "$dir/bad2.log" 2>&1 && fail "--ema sometimes accepted"
grep -q "not on, off or a pair" "$dir/bad2.log" || fail "--ema message: $(cat "$dir/bad2.log")"
"$ij" train "${tiny[@]}" --out "$dir/x" --target-norm maybe > "$dir/bad3.log" 2>&1 && fail "--target-norm maybe accepted"
"$ij" train "${tiny[@]}" --out "$dir/x" --masks raster --allow-overlap 1 > "$dir/bad4.log" 2>&1 &&
    fail "raster with allow_overlap accepted"

[ "$fails" -eq 0 ] && echo "test_ablate: all checks passed"
exit $((fails > 0))
