#!/usr/bin/env bash
# Fuzzes the file-format entry points with libFuzzer (clang), for a bounded time.
# Not part of CI (CI may have no clang); what it finds becomes a regression case
# that CI does run (tests/test_fuzz_regress.c).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   SECONDS per target (default 60);
#                                           targets: jpeg png tar idx safetensors npy (default all)
#   scripts/fuzz.sh --seeds                 rewrite tests/fixtures/fuzz/seeds/ (tests/fuzz/make_seeds.c)
#
# Needs clang with libFuzzer (Debian: clang). Builds into build-fuzz/fuzz/: the
# library with ASan + UBSan and coverage (through the Makefile, CC=clang), one
# harness per entry point (tests/fuzz/fuzz_*.c; jpeg and png share fuzz_image
# and differ by seeds). Each target starts from tests/fixtures/fuzz/seeds/<t>/
# and the saved regression cases tests/fixtures/fuzz/<t>/, and grows a working
# corpus in build-fuzz/fuzz/corpus/<t>/. One fuzzer runs at a time, under nice.
#
# A finding (crash, UB, leak, an allocation over 1 GiB, a run over 10 s, a
# contract broken: see tests/fuzz/targets.h) stops that target and is written
# to build-fuzz/fuzz/crashes/<t>/. To replay one: build-fuzz/fuzz/fuzz_<h> FILE.
# To keep it as a regression case once fixed: copy it (minimized:
# build-fuzz/fuzz/fuzz_<h> -minimize_crash=1 -runs=10000 FILE) to
# tests/fixtures/fuzz/<t>/<what-it-does> and, for a known-bad input, add a row
# to the table in tests/test_fuzz_regress.c with the message it must give.
set -euo pipefail
cd "$(dirname "$0")/.."

out=build-fuzz/fuzz
lib=$out/lib
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-std=c11 -O1 -g -fno-omit-frame-pointer $san -Iinclude -Isrc -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE"
blas_dir=/usr/lib/x86_64-linux-gnu/openblas-openmp
blas="-lopenblas"
[ -f $blas_dir/libopenblas.so ] && blas="-L$blas_dir -Wl,-rpath,$blas_dir -lopenblas"
libs="$blas -ljansson -lyaml -ljpeg -lpng -lz -lm -fopenmp"

command -v clang > /dev/null || { echo "fuzz.sh: needs clang with libFuzzer (apt install clang)" >&2; exit 1; }

harness_of() { case $1 in jpeg|png) echo image ;; *) echo "$1" ;; esac; }

build_lib() {
    echo "building the library with clang (ASan + UBSan + coverage) into $lib/"
    make -s -j2 CC=clang BUILD=$lib OPT="-O1 -g -fno-omit-frame-pointer -Wno-pass-failed $san -fsanitize=fuzzer-no-link" \
        "$lib/libijepa.a"
}

if [ "${1:-}" = "--seeds" ]; then
    build_lib
    clang $cflags tests/fuzz/make_seeds.c $lib/libijepa.a $libs -o $out/make_seeds
    rm -rf tests/fixtures/fuzz/seeds && mkdir -p tests/fixtures/fuzz
    $out/make_seeds tests/fixtures/fuzz/seeds
    du -sh tests/fixtures/fuzz/seeds
    exit 0
fi

secs=${1:-60}
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS must be a positive whole number, got '$secs'" >&2; exit 2; }
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(jpeg png tar idx safetensors npy)
for t in "${targets[@]}"; do
    case $t in jpeg|png|tar|idx|safetensors|npy) ;; *) echo "fuzz.sh: unknown target '$t'" >&2; exit 2 ;; esac
done

build_lib
for t in "${targets[@]}"; do
    h=$(harness_of "$t")
    bin=$out/fuzz_$h
    if [ ! -x "$bin" ] || [ -n "$(find tests/fuzz "$lib/libijepa.a" -newer "$bin" 2> /dev/null | head -n 1)" ]; then
        echo "building $bin"
        clang $cflags -fsanitize=fuzzer tests/fuzz/fuzz_$h.c $lib/libijepa.a $libs -o "$bin"
    fi
done

found=0
summary=()
for t in "${targets[@]}"; do
    h=$(harness_of "$t")
    corpus=$out/corpus/$t crashes=$out/crashes/$t log=$out/$t.log
    mkdir -p "$corpus" "$crashes" tests/fixtures/fuzz/$t
    echo "fuzzing $t for $secs s (log: $log)"
    before=$(find "$crashes" -type f | wc -l)
    rc=0
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        nice -n 10 "$out/fuzz_$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        -print_final_stats=1 -artifact_prefix="$crashes/" \
        "$corpus" tests/fixtures/fuzz/seeds/$t tests/fixtures/fuzz/$t > "$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1 || true)
    n=$(($(find "$crashes" -type f | wc -l) - before))
    summary+=("$t: ${execs:-?} runs, ${cov:-no coverage line}, corpus $(find "$corpus" -type f | wc -l) files, $n new findings (exit $rc)")
    if [ "$rc" -ne 0 ] || [ "$n" -gt 0 ]; then
        found=1
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -n 5 || true
    fi
done
echo "---"
printf '%s\n' "${summary[@]}"
[ "$found" -eq 0 ] || { echo "findings are in $out/crashes/ (replay: $out/fuzz_<harness> FILE)"; exit 1; }
