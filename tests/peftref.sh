#!/usr/bin/env bash
# Tests the PEFT reference itself: tests/ref/peft_selftest.py (identities, merges, prompt tuning as
# extra vocabulary, finite differences, PEFT's matching rules, file format, errors), then
# tests/peft_parity.sh and tests/peft_merge.sh driven by the stand-in tests/ref/fake_ftune.py: a
# faithful stand-in passes, deliberate defects fail, an "unsupported" method is counted as skipped,
# and a build without `dump --adapter` / `merge` is skipped (77). Exit 77 = skipped (no torch).
set -u
PY=${FT_PYTHON:-/usr/bin/python3}
SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
if ! "$PY" -c "import torch, numpy" >/dev/null 2>&1; then
    echo "peftref: skipped: $PY cannot import torch and numpy (install python3-torch)"
    exit 77
fi
"$PY" "$SRC/tests/ref/peft_selftest.py" || exit 1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ftune-peftref.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
printf '#!/bin/sh\nexec "%s" "%s/tests/ref/fake_ftune.py" "$@"\n' "$PY" "$SRC" >"$tmp/ftune"
chmod +x "$tmp/ftune"
fails=0
# expect SCRIPT BUG KINDS METHODS EXPECTED_STATUS WHAT [EXPECTED_SUMMARY] [ENV=VALUE]
expect() {
    local script=$1 bug=$2 kinds=$3 methods=$4 want=$5 what=$6 summary=${7:-} extra=${8:-X_UNUSED=}
    env "$extra" FAKE_FTUNE_BUG="$bug" FT_PEFT_KINDS="$kinds" FT_PEFT_METHODS="$methods" FT_BIN="$tmp/ftune" \
        FT_SRC="$SRC" bash "$SRC/tests/$script" >"$tmp/log" 2>&1
    local rc=$?
    if [ "$rc" -eq "$want" ] && { [ -z "$summary" ] || grep "$summary" >/dev/null "$tmp/log"; }; then
        echo "ok   $script $what (status $rc)"
    else
        echo "FAIL $script $what: status $rc, expected $want${summary:+ and '$summary'}"
        sed 's/^/    /' "$tmp/log"
        fails=$((fails + 1))
    fi
}
expect peft_parity.sh "" "gpt2" "ia3 prompt bitfit" 0 "passes a faithful stand-in" "5 passed, 0 failed, 0 skipped"
expect peft_parity.sh "" "llama" "adapter" 0 "passes a faithful stand-in (llama adapters)" "3 passed, 0 failed, 0 skipped"
expect peft_parity.sh rslora "llama" "lora" 1 "catches use_rslora ignored (also with rank/alpha patterns)" \
    "1 passed, 2 failed, 0 skipped" "FT_PEFT_CASES=-lora-regex$|rslora"
expect peft_parity.sh ia3bias "gpt2" "ia3" 1 "catches an IA3 output scale that skips the bias"
expect peft_parity.sh prompt0 "qwen2" "prompt" 1 "catches prompt tuning dropping labels[0]"
expect peft_parity.sh noadapter "gpt2" "prompt adapter" 0 "counts an unsupported method as skipped" \
    "1 passed, 0 failed, 2 skipped"
expect peft_parity.sh "" "gpt2" "lora" 77 "skips a build whose dump has no --adapter" "" FAKE_FTUNE_NO_ADAPTER=1
expect peft_merge.sh "" "gpt2" "" 0 "passes a faithful merge" "7 passed, 0 failed, 0 skipped"
expect peft_merge.sh mergeia3 "llama" "" 1 "catches a merge that drops IA3 feed-forward scaling" "5 passed, 1 failed"
expect peft_merge.sh "" "gpt2" "" 77 "skips a build without merge" "" FAKE_FTUNE_NO_MERGE=1
echo "peftref: $fails failure(s)"
[ "$fails" -eq 0 ]
