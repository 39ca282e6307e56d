#!/usr/bin/env bash
# How the main job's window settings (recipes/demo-spam.yaml: data.max_windows, data.window_overlap) were
# chosen: the recipe run with a few settings, each scored on the validation split (the choice) and on the
# test split (shown, not used to choose). Table on stdout and in out/demo-windows/windows.md; rerun-safe
# (finished runs are kept: delete out/demo-windows to start over).
#   scripts/demo-windows.sh [key=value ...]   (overrides for every run)
set -euo pipefail
cd "$(dirname "$0")/.."
FT_BIN=${FT_BIN:-build/ftune}
OUT=${OUT:-out/demo-windows}
[ -x "$FT_BIN" ] || scripts/build.sh
[ -s .cache/spam/spam.jsonl ] || scripts/fetch-spam.sh > /dev/null
mkdir -p "$OUT"
# name | overrides
VARIANTS=(
  "none|data.max_windows=0"
  "w4-o32|data.max_windows=4 data.window_overlap=32"
  "w8-o32|data.max_windows=8 data.window_overlap=32"
  "w16-o32|data.max_windows=16 data.window_overlap=32"
  "w8-o0|data.max_windows=8 data.window_overlap=0"
  "w8-o32-500|data.max_windows=8 data.window_overlap=32 train.max_steps=500"
)
{
  echo "Main job variants (recipes/demo-spam.yaml + overrides), accuracy on the validation and test splits ($(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) vCPU; scripts/demo-windows.sh):"
  echo
  echo "| variant | overrides | validation | test | test macro-F1 |"
  echo "|---|---|---|---|---|"
} > "$OUT/windows.md"
for v in "${VARIANTS[@]}"; do
  name=${v%%|*}; ov=${v#*|}
  if [ ! -s "$OUT/$name.line" ]; then
    echo "[demo-windows $(date -u +%H:%M:%S)] $name: $ov" >&2
    # shellcheck disable=SC2086
    "$FT_BIN" train recipes/demo-spam.yaml output_dir="$OUT/$name" $ov "$@" > "$OUT/$name.log" 2>&1 \
      || { echo "demo-windows: $name failed: see $OUT/$name.log" >&2; exit 1; }
    val=$(sed -n 's/^eval step [0-9]*: .* accuracy \([0-9.]*\) .*/\1/p' "$OUT/$name.log" | tail -1)
    test=$(sed -n 's/^test: loss [0-9.]* accuracy \([0-9.]*\) f1_macro \([0-9.]*\).*/\1 \2/p' "$OUT/$name.log")
    [ -n "$val" ] && [ -n "$test" ] || { echo "demo-windows: no validation/test line in $OUT/$name.log" >&2; exit 1; }
    echo "| $name | \`$ov\` | $val | ${test% *} | ${test#* } |" > "$OUT/$name.line"
  fi
  cat "$OUT/$name.line" >> "$OUT/windows.md"
done
cat "$OUT/windows.md"
