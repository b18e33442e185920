#!/usr/bin/env bash
# The run folder cannot be corrupted (issue 25), on a tiny model and 512 Fashion-MNIST images:
#  - kill -9 soak: 20 kills at random moments of a run that checkpoints every step, then resume:
#    no temporary file left, every step once in metrics.jsonl, final tensors identical to an
#    uninterrupted run;
#  - one process per folder (a second train or --resume is refused, naming the holder's pid);
#  - SIGTERM saves a checkpoint at the step it arrived and exits with 143;
#  - --out into a folder holding a run is refused unless --force; a rejected --resume writes
#    nothing; --resume of a folder without a checkpoint says what to do; stale temporary files go;
#  - checkpoints carry a crc32 of their tensors: a flipped byte is a one-line error;
#  - embed refuses non-finite features and an unwritable --out before it computes.
. "$(dirname "$0")/lib.sh"
trap 'kill -9 $(jobs -p) 2> /dev/null; rm -rf "$dir"' EXIT

# the first 512 training images and labels of Fashion-MNIST as an IDX folder
mkdir -p "$dir/data"
$py - "$dir/data" <<'PY' || { echo "cannot build the small data set"; exit 1; }
import gzip, struct, sys
src, dst, n = "/usr/share/datasets/fashion-mnist", sys.argv[1], 512
img = gzip.open(src + "/train-images-idx3-ubyte.gz").read()
lab = gzip.open(src + "/train-labels-idx1-ubyte.gz").read()
open(dst + "/train-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 2051, n, 28, 28) + img[16:16 + n * 784])
open(dst + "/train-labels-idx1-ubyte", "wb").write(struct.pack(">II", 2049, n) + lab[8:8 + n])
PY
tiny=(--data "$dir/data" "${tiny_model[@]}" --batch-size 16
      --epochs 40 --warmup 1 --threads 1 --log-every 1 --checkpoint-every 1)
meta() {  # file key
    $py - "$1" "$2" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
print(json.loads(raw[8:8 + n])["__metadata__"].get(sys.argv[2], ""))
PY
}
# every "loss" line's step once, and steps 1..N all there
steps_once() {  # metrics N
    $py - "$1" "$2" <<'PY'
import json, sys
steps = [json.loads(l)["step"] for l in open(sys.argv[1]) if '"loss"' in l]
sys.exit(0 if steps == list(range(1, int(sys.argv[2]) + 1)) else 1)
PY
}
one_line() {  # stderr file, pattern
    [ "$(wc -l < "$1")" = 1 ] && grep -q -- "$2" "$1"
}
N=400
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# ---- the uninterrupted reference, timed
t0=$(now_ms)
"$ij" train "${tiny[@]}" --steps $N --out "$dir/ref" > "$dir/ref.log" 2>&1 || fail "reference run: $(tail -n 2 "$dir/ref.log")"
run_ms=$(( $(now_ms) - t0 ))

# ---- kill -9 soak: 20 kills at random moments (startup, steps, checkpoint and metrics writes),
# each within the first 1/12 of a whole run's time, so that they land on any machine
RANDOM=7
kills=0
for i in $(seq 1 20); do
    if [ -f "$dir/soak/checkpoint.safetensors" ]; then args=(--resume "$dir/soak" --steps $N)
    else args=("${tiny[@]}" --steps $N --out "$dir/soak" --force); fi
    "$ij" train "${args[@]}" > "$dir/soak.log" 2>&1 &
    pid=$!
    ms=$(( RANDOM % (run_ms / 12 + 1) + 1 ))
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    if kill -9 $pid 2> /dev/null; then kills=$((kills+1)); fi
    wait $pid 2> /dev/null
    [ "$(meta "$dir/soak/checkpoint.safetensors" step 2> /dev/null)" = $N ] && break
done
echo "soak: $kills kills (a whole run takes $run_ms ms); resumed from step $(meta "$dir/soak/checkpoint.safetensors" step 2> /dev/null)"
[ $kills -ge 15 ] || fail "soak: only $kills kills landed before the run ended"
if [ -f "$dir/soak/checkpoint.safetensors" ]; then args=(--resume "$dir/soak" --steps $N)
else args=("${tiny[@]}" --steps $N --out "$dir/soak" --force); fi
"$ij" train "${args[@]}" > "$dir/soak.log" 2>&1 || fail "soak: the last resume failed: $(tail -n 2 "$dir/soak.log")"
same_tensors "$dir/ref/checkpoint.safetensors" "$dir/soak/checkpoint.safetensors" ||
    fail "soak: the final tensors differ from the uninterrupted run's"
ls "$dir/soak" | grep -q '\.tmp\.' && fail "soak: temporary files left: $(ls "$dir/soak")"
steps_once "$dir/soak/metrics.jsonl" $N || fail "soak: metrics.jsonl does not hold steps 1..$N once each"

# ---- stale temporary files of dead processes are removed at start
dead=$(sh -c 'echo $$')
touch "$dir/soak/checkpoint.safetensors.tmp.$dead"
"$ij" train --resume "$dir/soak" --steps $((N + 1)) > "$dir/stale.log" 2>&1 || fail "resume with a stale file"
[ -e "$dir/soak/checkpoint.safetensors.tmp.$dead" ] && fail "stale temporary file not removed"
grep -q "removed 1 temporary file" "$dir/stale.log" || fail "stale file removal not reported"

# ---- --out into a folder that holds a run
cp "$dir/ref/metrics.jsonl" "$dir/ref.metrics"
"$ij" train "${tiny[@]}" --steps 2 --out "$dir/ref" > /dev/null 2> "$dir/err" && fail "--out over a run accepted"
one_line "$dir/err" "already holds a run" || fail "--out over a run: $(cat "$dir/err")"
cmp -s "$dir/ref.metrics" "$dir/ref/metrics.jsonl" || fail "refused --out changed metrics.jsonl"
"$ij" train "${tiny[@]}" --steps 2 --out "$dir/ref" --force > /dev/null 2>&1 || fail "--force refused"
steps_once "$dir/ref/metrics.jsonl" 2 || fail "--force kept the old run's metrics"

# ---- a rejected --resume writes nothing
cp "$dir/soak/config.yaml" "$dir/soak.config"
"$ij" train --resume "$dir/soak" --depth 3 --steps $((N + 2)) > /dev/null 2> "$dir/err" && fail "--resume --depth 3 accepted"
one_line "$dir/err" "differs from the run" || fail "--resume --depth 3: $(cat "$dir/err")"
cmp -s "$dir/soak.config" "$dir/soak/config.yaml" || fail "rejected --resume rewrote config.yaml"
"$ij" train --resume "$dir/soak" --steps $((N + 2)) > /dev/null 2> "$dir/err" || fail "plain --resume after a rejected one: $(cat "$dir/err")"

# ---- --resume where there is nothing to resume
mkdir -p "$dir/empty"
"$ij" train --resume "$dir/empty" > /dev/null 2> "$dir/err" && fail "--resume of an empty folder accepted"
one_line "$dir/err" "start a run there with --out" || fail "--resume of an empty folder: $(cat "$dir/err")"
cp "$dir/soak/config.yaml" "$dir/empty/"
"$ij" train --resume "$dir/empty" > /dev/null 2> "$dir/err" && fail "--resume without a checkpoint accepted"
one_line "$dir/err" "no checkpoint.safetensors to resume from" || fail "--resume without a checkpoint: $(cat "$dir/err")"

# ---- one process per folder, and SIGTERM
"$ij" train "${tiny[@]}" --epochs 1000 --checkpoint-every 100000 --out "$dir/term" > "$dir/term.log" 2> "$dir/term.err" &
pid=$!
for i in $(seq 1 100); do
    n=$(grep -c loss "$dir/term/metrics.jsonl" 2> /dev/null || true)
    [ "${n:-0}" -ge 3 ] && break
    sleep 0.1
done
"$ij" train --resume "$dir/term" > /dev/null 2> "$dir/err" && fail "a second process resumed a running run"
one_line "$dir/err" "in use by another ijepa train (pid $pid)" || fail "second process: $(cat "$dir/err")"
"$ij" train "${tiny[@]}" --out "$dir/term" --force > /dev/null 2> "$dir/err" && fail "--force over a running run accepted"
one_line "$dir/err" "in use by another ijepa train" || fail "--force over a running run: $(cat "$dir/err")"
kill -TERM $pid
wait $pid
rc=$?
[ $rc -eq 143 ] || fail "SIGTERM: exit code $rc, expected 143"
one_line "$dir/term.err" "stopped by SIGTERM at step" || fail "SIGTERM message: $(cat "$dir/term.err")"
last=$($py -c 'import json,sys; print([json.loads(l)["step"] for l in open(sys.argv[1]) if "loss" in l][-1])' "$dir/term/metrics.jsonl")
[ "$(meta "$dir/term/checkpoint.safetensors" step)" = "$last" ] ||
    fail "SIGTERM: checkpoint at step $(meta "$dir/term/checkpoint.safetensors" step), last step $last"
grep -q "step $last;" "$dir/term.err" || fail "SIGTERM: the message names another step: $(cat "$dir/term.err")"

# ---- checksums: a flipped byte in the tensor data is found
ck="$dir/ref/checkpoint.safetensors"
[ -n "$(meta "$ck" data_crc32)" ] || fail "no data_crc32 in the checkpoint metadata"
cp "$ck" "$dir/flipped.safetensors"
$py -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(-5, 2); b = f.read(1); f.seek(-5, 2); f.write(bytes([b[0] ^ 1]))' "$dir/flipped.safetensors"
"$ij" embed --checkpoint "$dir/flipped.safetensors" --data "$dir/data" --out "$dir/e" > /dev/null 2> "$dir/err" &&
    fail "a checkpoint with a flipped byte loaded"
one_line "$dir/err" "flipped.safetensors: the tensor data does not match its checksum" || fail "flipped byte: $(cat "$dir/err")"

# ---- embed: non-finite features and an unwritable --out
$py - "$ck" "$dir/nan.safetensors" <<'PY'
import json, struct, sys, zlib
raw = bytearray(open(sys.argv[1], "rb").read()); n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n]); begin = 8 + n + h["target_encoder.norm.weight"]["data_offsets"][0]
raw[begin:begin + 4] = struct.pack("<f", float("nan"))
old = h["__metadata__"]["data_crc32"].encode(); new = b"%08x" % zlib.crc32(bytes(raw[8 + n:]))
i = raw.index(old, 8, 8 + n); raw[i:i + 8] = new
open(sys.argv[2], "wb").write(raw)
PY
"$ij" embed --checkpoint "$dir/nan.safetensors" --data "$dir/data" --out "$dir/e" > /dev/null 2> "$dir/err" &&
    fail "embed of a NaN checkpoint exited 0"
one_line "$dir/err" "nan.safetensors: its features are not finite" || fail "NaN features: $(cat "$dir/err")"
[ -e "$dir/e_features.npy" ] && fail "NaN features were written"
"$ij" embed --checkpoint "$ck" --data "$dir/data" --out "$dir/no/such/dir/e" > "$dir/out" 2> "$dir/err" &&
    fail "embed into a missing folder exited 0"
one_line "$dir/err" "cannot be written" || fail "unwritable --out: $(cat "$dir/err")"
grep -q embedded "$dir/out" && fail "embed computed the features before finding that --out cannot be written"

echo "test_run_folder: $fails failed"
[ $fails -eq 0 ]
