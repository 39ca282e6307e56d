#!/usr/bin/env bash
# Builds a portable ftune (FT_NATIVE=OFF: no -march=native, so it runs on any x86-64 CPU; the
# kernels still pick AVX-512/AMX at run time) in build-portable/ and packs it with the shared
# libraries it needs into one folder that can be copied to a machine without Debian's packages:
#   scripts/pack-portable.sh [OUTDIR]        (default out/ftune-portable)
# OUTDIR/bin/ftune, OUTDIR/lib/*.so* (libdnnl, libcjson, libpcre2-8, libutf8proc, libyaml, libgomp
# and what they pull in, e.g. libOpenCL, libstdc++, libgcc_s; glibc itself is not copied), and
# OUTDIR/ftune, a wrapper that sets LD_LIBRARY_PATH for ftune alone and runs bin/ftune (so FT_BIN
# can point at it without changing the environment of the Python process that calls it).
# The target needs glibc >= this machine's (Debian 12: 2.36). See docs/interop.md.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$SRC/out/ftune-portable}
cmake -S "$SRC" -B "$SRC/build-portable" -DCMAKE_BUILD_TYPE=Release -DFT_NATIVE=OFF >/dev/null
cmake --build "$SRC/build-portable" -j"$(nproc)" --target ftune
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib"
cp "$SRC/build-portable/ftune" "$OUT/bin/ftune"
# every resolved library but glibc's own (the target's loader and libc must match each other)
ldd "$OUT/bin/ftune" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r name path; do
    case "$name" in
    libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | ld-linux*) continue ;;
    esac
    cp -L "$path" "$OUT/lib/$name"
done
for want in libdnnl libcjson libpcre2-8 libutf8proc libyaml libgomp; do
    ls "$OUT/lib/$want"* >/dev/null 2>&1 || { echo "pack-portable: $want is missing from $(ldd "$OUT/bin/ftune")" >&2; exit 1; }
done
cat >"$OUT/ftune" <<'WRAP'
#!/bin/sh
# ftune with its packed shared libraries (scripts/pack-portable.sh)
here=$(dirname "$(readlink -f "$0")")
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/bin/ftune" "$@"
WRAP
chmod +x "$OUT/ftune"
"$OUT/ftune" version >/dev/null
echo "pack-portable: $OUT ($(du -sh "$OUT" | cut -f1)): FT_BIN=$OUT/ftune; libraries: $(ls "$OUT/lib" | tr '\n' ' ')"
