#!/usr/bin/env bash
# The command line's contract: `ijepa --version`; exit status 2 for a wrong command line (unknown
# option, bad value, missing required option), 1 for work that failed (a missing file), each with one
# line on stderr; every command takes --threads.
. "$(dirname "$0")/lib.sh"

"$ij" --version | grep -Eq '^ijepa\.c [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version: $("$ij" --version 2>&1)"
expect() {  # status, pattern, command...
    local want=$1 pat=$2
    shift 2
    "$@" > /dev/null 2> "$dir/err"
    local rc=$?
    [ $rc -eq "$want" ] || fail "$*: exit $rc, expected $want"
    [ "$(wc -l < "$dir/err")" = 1 ] && grep -q -- "$pat" "$dir/err" || fail "$*: $(cat "$dir/err")"
}
expect 2 "unknown option '--bogus'" "$ij" probe --bogus
expect 2 "not an integer" "$ij" train --batch-size many
expect 2 "out of range" "$ij" bench --steps 0
expect 2 "are required" "$ij" embed --checkpoint x.safetensors
expect 2 "unknown command" "$ij" frobnicate
expect 1 "nonexist.safetensors" "$ij" probe --checkpoint "$dir/nonexist.safetensors"
expect 1 "nonexist" "$ij" embed --checkpoint "$dir/nonexist.safetensors" --out "$dir/x"
for cmd in train embed probe bench ablate viz info predict; do
    "$ij" "$cmd" --help > "$dir/help" 2>&1 || fail "$cmd --help"  # (not piped to grep -q: SIGPIPE)
    grep -q -- "--threads" "$dir/help" || fail "$cmd --help has no --threads"
done
"$ij" info --threads 1 > /dev/null || fail "info --threads 1"
[ $fails -eq 0 ] && echo "test_cli_exit: all passed"
