#!/usr/bin/env bash
# ctest fuzz_smoke: every libFuzzer target for a short smoke time (FT_FUZZ_SMOKE_S, default 10 s) on its
# seed corpus, when the fuzz build exists (fuzz/run.sh builds it: $FT_SRC/build-fuzz or FT_FUZZ_BUILD);
# skipped (77) otherwise. New inputs and findings go to a scratch directory, never to fuzz/corpus/.
set -euo pipefail
src="${FT_SRC:?FT_SRC unset}"
bdir="${FT_FUZZ_BUILD:-$src/build-fuzz}"
if [ ! -x "$bdir/fuzz/fuzz_safetensors" ]; then
  echo "fuzz_smoke: no fuzz build in $bdir (fuzz/run.sh all 10 makes one); skipped"
  exit 77
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
FT_FUZZ_NO_BUILD=1 FT_FUZZ_BUILD="$bdir" FT_FUZZ_OUT="$scratch" bash "$src/fuzz/run.sh" all "${FT_FUZZ_SMOKE_S:-10}"
