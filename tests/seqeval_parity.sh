#!/usr/bin/env bash
# Token-classification metrics against an independent Python reference of seqeval's default mode
# (tests/ref/seqeval_ref.py): ~2000 random tag sequences over BIO, IOBES, dashed-type, IOB1-like, POS and
# mixed tag sets, plus hand-picked edge cases (I- after O, type switches, empty sentences, all 'O').
# Word accuracy, entity precision / recall / F1 (micro and per type) or the tags' macro-F1 must agree to
# 1e-12. See docs/encoders.md. Exit 77 = skipped (no python3).
set -u
PY=${FT_PYTHON:-/usr/bin/python3}
SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=$(dirname "${FT_BIN:-$SRC/build/ftune}")/test_tagging
if ! "$PY" -c "import json" >/dev/null 2>&1; then
    echo "seqeval_parity: skipped: no $PY"
    exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/ftune-seqeval.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$PY" "$SRC/tests/ref/seqeval_ref.py" gen --out "$work/cases.jsonl" --n 2000 --seed 14 || exit 1
"$BIN" --cases "$work/cases.jsonl" >"$work/got.jsonl" || { echo "seqeval_parity: FAIL test_tagging --cases"; exit 1; }
"$PY" "$SRC/tests/ref/seqeval_ref.py" compare --cases "$work/cases.jsonl" --got "$work/got.jsonl"
