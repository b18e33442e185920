#!/usr/bin/env bash
# Every global symbol that libijepa.a defines starts with ij_ (functions, data) or IJ_ (constant
# tables; OpenMP names its critical sections .gomp_critical_user_ij_*, AddressSanitizer adds __odr_asan.*), so that the library can be linked into other programs without clashes.
set -uo pipefail
build=${1:-build}
lib="$build/libijepa.a"
[ -f "$lib" ] || { echo "FAIL: no $lib"; exit 1; }
bad=$(nm -g --defined-only "$lib" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TDBRC]/ {print $3}' | grep -v '^ij_\|^IJ_\|^\.gomp_critical_user_ij_\|^__odr_asan\.' | sort -u)
total=$(nm -g --defined-only "$lib" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TDBRC]/' | wc -l)
if [ -n "$bad" ]; then
    echo "FAIL: symbols without the ij_ prefix: $(echo $bad)"
    exit 1
fi
echo "test_symbols: $total global symbols, all with the ij_ / IJ_ prefix"
