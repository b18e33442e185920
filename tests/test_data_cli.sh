#!/usr/bin/env bash
# Real images through the CLI, on the CIFAR-10 shard ../shared/data/cifar10/train-004.tar
# (CI has it beside the repository; without it this test fails):
#  - `train --decode once` and `--decode per-batch`, with 0 and 2 loader threads, give
#    bit-identical losses, and metrics.jsonl counts skipped images;
#  - a corrupt file inside a folder source is skipped with a warning naming it, or
#    stops the run under --strict;
#  - `bench --data` prints the loader's throughput and its ratio to training, and GFLOP/s per phase;
#  - `probe` and `embed` refuse to invent a test split for tar shards;
#  - WebDataset shards: .cls labels, a .tar.gz, a brace range; a cut-short .tar.gz is a one-line error;
#  - channels: the images' own unless set, and a setting that disagrees is an error;
#  - embed and probe on photos of many sizes (PNG and JPEG): files.txt, classes.txt, --resize;
#  - probe --save-head and ijepa predict (the probe's accuracy again), embed --tokens;
#  - `probe` on class folders prints and writes the attentive probe for every row and the checkpoint's
#    step, and `viz --what learning` draws learning.png from that probe.json.
. "$(dirname "$0")/lib.sh"
shard=../shared/data/cifar10/train-004.tar
[ -f "$shard" ] || { echo "FAIL: $shard is missing"; exit 1; }
tiny=(--embed-dim 32 --depth 2 --heads 2 --pred-dim 16 --pred-depth 1 --channels 3 --img-size 32
      --batch-size 16 --steps 4 --log-every 1 --masks fixed --threads 2)
losses() { /usr/bin/python3 -c "import json,sys; print(' '.join('%.9g' % json.loads(l)['loss'] for l in open(sys.argv[1]) if '\"loss\"' in l))" "$1"; }
for v in "once 0" "once 2" "per-batch 0" "per-batch 2"; do
    set -- $v
    "$build/ijepa" train --data "$shard" "${tiny[@]}" --decode "$1" --loader-threads "$2" --out "$dir/run-$1-$2" \
        > "$dir/log" 2>&1 || fail "train --decode $1 --loader-threads $2: $(tail -1 "$dir/log")"
done
ref=$(losses "$dir/run-once-0/metrics.jsonl")
[ -n "$ref" ] || fail "no losses in metrics.jsonl"
for v in once-2 per-batch-0 per-batch-2; do
    [ "$(losses "$dir/run-$v/metrics.jsonl")" = "$ref" ] || fail "losses of $v differ: $(losses "$dir/run-$v/metrics.jsonl") vs $ref"
done
grep -q '"skipped_images":0' "$dir/run-per-batch-2/metrics.jsonl" || fail "metrics lack skipped_images"
grep -q "kept as files" "$dir/log" || fail "per-batch run does not say it keeps files"

# channels: the images' own unless set; a configuration that disagrees with the images is an error
"$build/ijepa" train --data "$shard" --embed-dim 32 --depth 2 --heads 2 --pred-dim 16 --pred-depth 1 --img-size 32 \
    --batch-size 16 --steps 1 --threads 2 --out "$dir/run-own" > "$dir/log" 2>&1 || fail "train without --channels: $(tail -1 "$dir/log")"
grep -q "^  channels: 3$" "$dir/run-own/config.yaml" || fail "RGB shard without --channels: $(grep channels "$dir/run-own/config.yaml")"
"$build/ijepa" train --data "$shard" --embed-dim 32 --depth 2 --heads 2 --pred-dim 16 --pred-depth 1 --img-size 32 \
    --channels 1 --steps 1 --out "$dir/run-gray" > /dev/null 2> "$dir/err" && fail "--channels 1 on RGB images accepted"
[ "$(wc -l < "$dir/err")" = 1 ] && grep -q "the images have 3 channels" "$dir/err" || fail "channel mismatch: $(cat "$dir/err")"

# a folder with one corrupt JPEG among good ones
mkdir -p "$dir/imgs/a" "$dir/imgs/b"
tar -xf "$shard" -C "$dir" airplane/4000.jpg airplane/4001.jpg airplane/4002.jpg
n=0
for f in "$dir"/airplane/*.jpg; do cp "$f" "$dir/imgs/a/$n.jpg"; cp "$f" "$dir/imgs/b/$n.jpg"; n=$((n+1)); done
[ $n -ge 2 ] || fail "could not extract images from $shard"
head -c 300 "$dir/imgs/a/0.jpg" > "$dir/imgs/a/zz_truncated.jpg"
for k in 1 2 3 4 5 6 7 8; do cp "$dir/imgs/b/0.jpg" "$dir/imgs/b/c$k.jpg"; done
"$build/ijepa" train --data "$dir/imgs" "${tiny[@]}" --batch-size 4 --steps 1 --decode per-batch \
    --out "$dir/run-bad" > "$dir/log" 2> "$dir/err" || fail "train on a folder with a bad file: $(cat "$dir/err")"
grep -q "zz_truncated.jpg.*skipped" "$dir/err" || fail "no warning naming the truncated file: $(cat "$dir/err")"
grep -q '"skipped_images":1' "$dir/run-bad/metrics.jsonl" || fail "skipped image not counted in metrics"
"$build/ijepa" train --data "$dir/imgs" "${tiny[@]}" --batch-size 4 --steps 1 --strict \
    --out "$dir/run-strict" > /dev/null 2> "$dir/err" && fail "--strict accepted a truncated file"
[ "$(wc -l < "$dir/err")" = 1 ] && grep -q "zz_truncated.jpg" "$dir/err" || fail "--strict error: $(cat "$dir/err")"

"$build/ijepa" bench --data "$shard" --channels 3 --img-size 32 --embed-dim 32 --depth 2 --heads 2 \
    --pred-dim 16 --pred-depth 1 --batch-size 16 --steps 2 --warmup 1 --decode per-batch --loader-batches 20 \
    > "$dir/bench" 2>&1 || fail "bench --data: $(tail -1 "$dir/bench")"
grep -q "^loader: 1 thread: [0-9]* images/s" "$dir/bench" || fail "bench --data prints no loader line"
grep -q "the loader delivers [0-9.]*x the images/s that training consumes" "$dir/bench" || fail "bench --data prints no ratio"
grep -Eq "^GFLOP/s by phase: target fwd [0-9.]+ \| context fwd [0-9.]+ \| predictor fwd \+ loss [0-9.]+ \| backward [0-9.]+$" \
    "$dir/bench" || fail "bench prints no per-phase GFLOP/s"
# thread time by kind of work: every kind ran in a training step, and the shares add up to 100%
awk '/^thread time/ {
        n = split($0, part, "|"); sum = 0; ok = n == 4
        for (i = 1; i <= n; i++) {
            if (!match(part[i], /[0-9.]+%/)) { ok = 0; continue }
            pct = substr(part[i], RSTART, RLENGTH - 1) + 0; sum += pct
            if (i < n && (pct <= 0 || !match(part[i], /at [0-9.]+ GFLOP/) || substr(part[i], RSTART + 3) + 0 <= 0)) ok = 0
        }
        found = ok && sum >= 97 && sum <= 103
     } END { exit !found }' "$dir/bench" || fail "bench thread-time line: $(grep '^thread time' "$dir/bench")"

"$build/ijepa" info --embed-dim 32 --depth 2 --heads 2 --pred-dim 16 --pred-depth 1 --channels 3 --img-size 32 \
    --save "$dir/tiny.safetensors" > /dev/null || fail "info --save"
"$build/ijepa" probe --checkpoint "$dir/tiny.safetensors" --data "$shard" > /dev/null 2> "$dir/err" &&
    fail "probe on shards without --test-data succeeded"
grep -q "no test split.*--test-data" "$dir/err" || fail "probe error: $(cat "$dir/err")"
"$build/ijepa" embed --checkpoint "$dir/tiny.safetensors" --data "$shard" --split test --out "$dir/e" \
    > /dev/null 2> "$dir/err" && fail "embed --split test on shards succeeded"
grep -q "no test split" "$dir/err" || fail "embed error: $(cat "$dir/err")"
# WebDataset shards (KEY.jpg + KEY.cls), one gzip-compressed, named by a brace range: 24 images, labels
# 0..11 (numbers sort as numbers: class "10" after "9")
/usr/bin/python3 - "$shard" "$dir" <<'PY' || fail "cannot write the WebDataset shards"
import gzip, io, sys, tarfile
src = tarfile.open(sys.argv[1])
jpgs = [m for m in src.getmembers() if m.name.endswith(".jpg")][:24]
for k in range(2):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as out:
        for i, m in enumerate(jpgs[12 * k:12 * (k + 1)]):
            key = "sample%04d" % (12 * k + i)
            for ext, data in ((".jpg", src.extractfile(m).read()), (".cls", b"%d\n" % (i % 12))):
                info = tarfile.TarInfo(key + ext); info.size = len(data)
                out.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    if k == 0: open(sys.argv[2] + "/wds-000.tar.gz", "wb").write(gzip.compress(data))
    else: open(sys.argv[2] + "/wds-001.tar", "wb").write(data)
PY
"$build/ijepa" embed --checkpoint "$dir/tiny.safetensors" --data "$dir/wds-{000..001}.tar*" --out "$dir/wds" \
    > "$dir/log" 2>&1 || fail "embed on WebDataset shards: $(tail -2 "$dir/log")"
/usr/bin/python3 - "$dir/wds_labels.npy" <<'PY' || fail "WebDataset labels"
import ast, struct, sys
raw = open(sys.argv[1], "rb").read(); n = struct.unpack("<H", raw[8:10])[0]
hdr = ast.literal_eval(raw[10:10 + n].decode()); labels = struct.unpack("<%di" % hdr["shape"][0], raw[10 + n:])
assert list(labels) == [i % 12 for i in range(24)], labels
PY
head -c 1000 "$dir/wds-001.tar" | gzip > "$dir/cut.tar.gz"
head -c 300 "$dir/cut.tar.gz" > "$dir/cut2.tar.gz"
"$build/ijepa" embed --checkpoint "$dir/tiny.safetensors" --data "$dir/cut2.tar.gz" --out "$dir/cut" \
    > /dev/null 2> "$dir/err" && fail "a cut-short .tar.gz was accepted"
[ "$(wc -l < "$dir/err")" = 1 ] && grep -q "cut2.tar.gz: gzip data cut short" "$dir/err" || fail "cut .tar.gz: $(cat "$dir/err")"

# photos of many sizes (PNG written here, CIFAR-10 JPEGs): embed and probe take them as they are
/usr/bin/python3 - "$dir/photos" "$dir/photos_test" <<'PY' || fail "cannot write the mixed-size photos"
import os, struct, sys, zlib
def png(path, w, h, seed):
    rows = b"".join(b"\0" + bytes(((x * 7 + y * 13 + c * 50 + seed * 31) % 256) for x in range(w) for c in range(3))
                    for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
sizes = [(32, 32), (224, 224), (300, 200), (64, 48), (100, 500), (45, 33)]
for root, off in ((sys.argv[1], 0), (sys.argv[2], 100)):
    for cls in ("cats", "dogs"):
        os.makedirs(os.path.join(root, cls), exist_ok=True)
        for i, (w, h) in enumerate(sizes):
            png(os.path.join(root, cls, "p%d.png" % i), w, h, off + i + (cls == "dogs") * 7)
PY
tar -xf "$shard" -C "$dir" airplane/4010.jpg airplane/4011.jpg && mv "$dir"/airplane/4010.jpg "$dir"/airplane/4011.jpg "$dir/photos/cats/"
"$build/ijepa" embed --checkpoint "$dir/tiny.safetensors" --data "$dir/photos" --out "$dir/ph" > "$dir/log" 2>&1 ||
    fail "embed on mixed-size photos: $(tail -2 "$dir/log")"
[ "$(wc -l < "$dir/ph_files.txt")" = 14 ] && grep -q "photos/dogs/p4.png$" "$dir/ph_files.txt" ||
    fail "ph_files.txt: $(head -3 "$dir/ph_files.txt")"
[ "$(tr '\n' ' ' < "$dir/ph_classes.txt")" = "cats dogs " ] || fail "ph_classes.txt: $(cat "$dir/ph_classes.txt")"
"$build/ijepa" embed --checkpoint "$dir/tiny.safetensors" --data "$dir/photos" --out "$dir/phs" --resize squash \
    > /dev/null 2>&1 || fail "embed --resize squash"
cmp -s "$dir/ph_features.npy" "$dir/phs_features.npy" && fail "--resize squash gave the same features as crop"
"$build/ijepa" probe --checkpoint "$dir/tiny.safetensors" --data "$dir/photos" --test-data "$dir/photos_test" \
    --attentive-epochs 2 --out "$dir/phprobe" > "$dir/log" 2>&1 || fail "probe on mixed-size photos: $(tail -3 "$dir/log")"
grep -q "^Low-shot: 1% and 10% left out" "$dir/log" || fail "probe on 7 images per class: no note on the left-out low-shot columns"
[ -s "$dir/phprobe/features/test_files.txt" ] || fail "probe wrote no features/test_files.txt"

# probe with the attentive column on two small class folders cut from the shard (200 + 20 images per class: 1% of the labels must leave 2 per class)
for c in airplane automobile bird cat deer dog frog horse ship truck; do
    mkdir -p "$dir/ptr/$c" "$dir/pte/$c"
    tar -tf "$shard" | grep "^$c/" | head -220 > "$dir/list"
    tar -xf "$shard" -C "$dir" -T "$dir/list"
    head -200 "$dir/list" | while read -r f; do mv "$dir/$f" "$dir/ptr/$c/"; done
    tail -20 "$dir/list" | while read -r f; do mv "$dir/$f" "$dir/pte/$c/"; done
done
"$build/ijepa" probe --checkpoint "$dir/run-once-0/checkpoint.safetensors" --data "$dir/ptr" --test-data "$dir/pte" \
    --attentive-epochs 2 --out "$dir/probe" > "$dir/log" 2>&1 || fail "probe on folders: $(tail -3 "$dir/log")"
grep -q "| attentive (test) | attentive (val) |" "$dir/log" || fail "probe prints no attentive column"
/usr/bin/python3 - "$dir/probe/probe.json" <<'PY' || fail "probe.json lacks the attentive probe or the step"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["step"] == 4, d["step"]
assert [r["features"] for r in d["rows"]] == ["I-JEPA (target encoder)", "random-init encoder", "raw pixels"]
for r in d["rows"]:
    a = r["attentive"]
    assert 0 <= a["test_acc"] <= 1 and a["epochs"] == 2 and a["ntrain"] == 2000 and a["ntest"] == 200, a
    assert a["lr"] in [g["lr"] for g in a["lr_grid"]] and len(a["lr_grid"]) == 3, a
PY
# the linear head kept (--save-head) and applied to the test folder by `ijepa predict`: its accuracy is the
# probe's test accuracy (the head is stored in float32: at most one of the 200 images may move)
"$build/ijepa" probe --checkpoint "$dir/run-once-0/checkpoint.safetensors" --data "$dir/ptr" --test-data "$dir/pte" \
    --attentive off --baselines 0 --save-head "$dir/head.safetensors" --out "$dir/probe-head" > "$dir/log" 2>&1 ||
    fail "probe --save-head: $(tail -3 "$dir/log")"
"$build/ijepa" predict --head "$dir/head.safetensors" --data "$dir/pte" --out "$dir/pred.csv" > "$dir/plog" 2>&1 ||
    fail "predict: $(tail -3 "$dir/plog")"
/usr/bin/python3 - "$dir/probe-head/probe.json" "$dir/plog" "$dir/pred.csv" <<'PY' || fail "predict disagrees with probe: $(cat "$dir/plog")"
import json, re, sys
probe = 100 * json.load(open(sys.argv[1]))["rows"][0]["linear"]["test_acc"]
acc = float(re.search(r"^accuracy: ([0-9.]+)%", open(sys.argv[2]).read(), re.M).group(1))
assert abs(acc - probe) <= 0.5 + 1e-9, (acc, probe)
rows = open(sys.argv[3]).read().splitlines()
assert rows[0] == "file,class,probability" and len(rows) == 201, rows[:3]
assert rows[1].startswith('"' + sys.argv[3].rsplit("/", 1)[0] + "/pte/airplane/"), rows[1]
PY
"$build/ijepa" embed --checkpoint "$dir/run-once-0/checkpoint.safetensors" --data "$dir/pte" --tokens --out "$dir/tok" \
    > "$dir/log" 2>&1 || fail "embed --tokens: $(tail -2 "$dir/log")"
grep -q "tok_tokens.npy \[200, 64, 32\] float32" "$dir/log" || fail "embed --tokens: $(cat "$dir/log")"
"$build/ijepa" probe --checkpoint "$dir/run-once-0/checkpoint.safetensors" --data "$dir/ptr" --test-data "$dir/pte" \
    --attentive off --baselines 0 --out "$dir/probe-off" > "$dir/log" 2>&1 || fail "probe --attentive off: $(tail -3 "$dir/log")"
/usr/bin/python3 -c "import json,sys; assert json.load(open(sys.argv[1]))['rows'][0]['attentive'] is None" \
    "$dir/probe-off/probe.json" || fail "--attentive off still ran the attentive probe"
"$build/ijepa" probe --checkpoint "$dir/run-once-0/checkpoint.safetensors" --data "$dir/ptr" --test-data "$dir/pte" \
    --attentive-max-gb 0 --baselines 0 --out "$dir/probe-big" > "$dir/log" 2>&1 || fail "probe --attentive-max-gb 0: $(tail -3 "$dir/log")"
grep -q "attentive probe skipped: its tokens would take" "$dir/log" || fail "no note when the tokens do not fit"
/usr/bin/python3 -c "import json,sys; assert json.load(open(sys.argv[1]))['rows'][0]['attentive'] is None" \
    "$dir/probe-big/probe.json" || fail "the attentive probe ran past --attentive-max-gb"
"$build/ijepa" viz --run "$dir/run-once-0" --what learning --probes "$dir/probe/probe.json" > "$dir/log" 2>&1 ||
    fail "viz --what learning: $(cat "$dir/log")"
[ "$(head -c 4 "$dir/run-once-0/learning.png" | tail -c 3)" = "PNG" ] || fail "learning.png is not a PNG"
"$build/ijepa" probe --checkpoint "$dir/tiny.safetensors" --data "$dir/ptr" --test-data "$dir/pte" --attentive off \
    --baselines 0 --out "$dir/probe-nostep" > /dev/null 2>&1 || fail "probe of a bare checkpoint"
"$build/ijepa" viz --run "$dir/run-once-0" --what learning --probes "$dir/probe-nostep/probe.json" \
    > /dev/null 2> "$dir/err" && fail "viz --what learning accepted a probe without a step"
grep -q "records no training step" "$dir/err" || fail "learning error: $(cat "$dir/err")"

echo "test_data_cli: $fails failed"
[ $fails -eq 0 ]
