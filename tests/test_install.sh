#!/usr/bin/env bash
# `make install PREFIX=...` into a temporary folder: the program runs from there, and a C program
# built with `pkg-config --cflags --libs ijepa` against the installed header and shared library
# loads the tiny fixture checkpoint and embeds a batch of images through the C API (src/api/api.h).
. "$(dirname "$0")/lib.sh"
san=(); sanflags=()
[ "$build" = build-san ] && san=(SAN=1) && sanflags=(-fsanitize=address,undefined)
make -s install "${san[@]}" PREFIX="$dir/usr" > "$dir/log" 2>&1 || { cat "$dir/log"; fail "make install"; }
"$dir/usr/bin/ijepa" --version | grep -q "^ijepa.c " || fail "installed ijepa --version"
cat > "$dir/use.c" <<'C'
#include <ijepa.h>
#include <api/api.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv)
{
    IjApiModel *m = ij_api_load(argv[1], 0, "target");
    if (!m) return fprintf(stderr, "%s\n", ij_last_error()), 1;
    int s[6];
    ij_api_shape(m, s);
    int n = 4, d = ij_api_feature_dim(m, 0);
    unsigned char *px = malloc((size_t)n * s[0] * s[0] * s[1]);
    for (int i = 0; i < n * s[0] * s[0] * s[1]; i++) px[i] = (unsigned char)(i * 7);
    float *f = malloc(sizeof(float) * n * d);
    if (ij_api_embed_images(m, px, n, s[0], s[0], s[1], 0, f)) return fprintf(stderr, "%s\n", ij_last_error()), 1;
    printf("%s: %d x %d features, first %.4f\n", ij_api_version(), n, d, f[0]);
    ij_api_free(m);
    free(px), free(f);
    return 0;
}
C
export PKG_CONFIG_PATH="$dir/usr/lib/pkgconfig"
if ! command -v pkg-config > /dev/null; then
    fail "pkg-config is not installed (scripts/deps.sh installs it)"
elif cc "${sanflags[@]}" -o "$dir/use" "$dir/use.c" $(pkg-config --cflags --libs ijepa) -Wl,-rpath,"$dir/usr/lib" 2> "$dir/err"; then
    out=$("$dir/use" tests/fixtures/official_tiny_expected.safetensors 2>&1) || fail "the program: $out"
    echo "$out" | grep -Eq "^[0-9.]+: 4 x 24 features" || fail "the program printed: $out"
    ldd "$dir/use" | grep -q "$dir/usr/lib/libijepa.so.0" || fail "not linked to the installed libijepa.so"
else
    fail "compile against the installed library: $(head -5 "$dir/err")"
fi
[ $fails -eq 0 ] && echo "test_install: installed, and a program built with pkg-config embeds through it"
