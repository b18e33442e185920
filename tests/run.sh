#!/usr/bin/env bash
# Runs every test program in BUILD/tests and every tests/test_*.sh, and prints
# "N passed, N failed". A program passes when it exits 0 (each C test prints
# "<name>: K checks, 0 failed" and exits non-zero on any failed check).
# tests/run.sh BUILD SCRIPT... runs only those scripts (the MPI build: make test MPI=1).
build=${1:-build}
[ $# -gt 0 ] && shift
scripts=("$@")
pass=0; fail=0; failed=()
run() {  # name, command...
    local name=$1 log="$build/$1.log"; shift
    local t0=$SECONDS
    if "$@" > "$log" 2>&1; then
        pass=$((pass+1)); echo "ok   $name ($((SECONDS-t0)) s): $(tail -n 1 "$log")"
    else
        fail=$((fail+1)); failed+=("$name"); echo "FAIL $name:"; tail -n 40 "$log"
    fi
}
if [ ${#scripts[@]} -eq 0 ]; then
    scripts=(tests/test_*.sh)
    for t in "$build"/tests/test_*; do
        [ -f "$t" ] && [ -x "$t" ] || continue
        run "$(basename "$t")" "$t"
    done
fi
for t in "${scripts[@]}"; do
    run "$(basename "$t" .sh)_sh" "$t" "$build"
done
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
