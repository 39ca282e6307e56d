#!/usr/bin/env bash
# Tests the parity reference itself (tests/ref/): the self-test (second forward in loops, finite
# differences, gradcheck, padding / window / tying semantics, SGD, compare.py and error paths), then
# tests/parity.sh driven by a stand-in ftune (tests/ref/fake_ftune.py): a faithful stand-in must
# pass, and stand-ins with deliberate defects must fail. Exit 77 = skipped (no torch).
set -u
PY=${FT_PYTHON:-/usr/bin/python3}
SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
if ! "$PY" -c "import torch, numpy" >/dev/null 2>&1; then
    echo "torchref: skipped: $PY cannot import torch and numpy (install python3-torch)"
    exit 77
fi
"$PY" "$SRC/tests/ref/selftest.py" || exit 1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ftune-torchref.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
printf '#!/bin/sh\nexec "%s" "%s/tests/ref/fake_ftune.py" "$@"\n' "$PY" "$SRC" >"$tmp/ftune"
chmod +x "$tmp/ftune"
fails=0
# parity BUG KINDS EXPECTED_STATUS WHAT [DTYPES]
parity() {
    FAKE_FTUNE_BUG=$1 FT_PARITY_KINDS=$2 FT_PARITY_DTYPES=${5:-f32} FT_BIN=$tmp/ftune FT_SRC=$SRC bash "$SRC/tests/parity.sh" >"$tmp/log" 2>&1
    local rc=$?
    if [ "$rc" -eq "$3" ]; then
        echo "ok   parity.sh $4 (status $rc)"
    else
        echo "FAIL parity.sh $4: status $rc, expected $3"
        sed 's/^/    /' "$tmp/log"
        fails=$((fails + 1))
    fi
}
parity "" "llama_bias qwen2" 0 "passes a faithful stand-in" "f32 bf16"
parity swa "mistral_swa" 0 "accepts a clear refusal of sliding_window"
parity nomask "gpt2" 1 "catches an ignored attention_mask"
parity rope "llama" 1 "catches RoPE on adjacent pairs"
parity tie "qwen2" 1 "catches a tied embedding grad without the head's share"
echo "torchref: $fails failure(s)"
[ "$fails" -eq 0 ]
