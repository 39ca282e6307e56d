# Sourced by tests/enc_parity.sh and tests/vit_parity.sh: the shared driver of a `ftune dump` parity test.
# parity_run NAME REF ARCHS_OK: skips (exit 77) without torch; makes $work (kept with FT_PARITY_KEEP=1);
# `REF configs` writes partial configs and kinds.tsv (kind, --arch), `ftune init` makes each kind; `REF prepare`
# writes the fixtures, references and cases.tsv (name, model, adapter or -, batch); `ftune dump` runs every case,
# and for *-lora / *-lora-* / *-ia3 cases also `ftune merge` + dump; `REF compare` judges. Sets fails, fail().
# Env: FT_BIN, FT_SRC, FT_PYTHON (/usr/bin/python3), FT_PARITY_LOGITS_ATOL (1e-4), FT_PARITY_GRAD_RTOL (1e-3),
#      FT_PARITY_KEEP=1 (keep the work directory).
fail() { echo "$NAME: FAIL $1"; fails=$((fails + 1)); }

# parity_setup NAME: sets NAME, PY, SRC, REF, FT, work (removed at exit unless FT_PARITY_KEEP=1) and fails=0;
# exits 77 without torch. Also the start of tests that drive a reference their own way (tests/t5_beam.sh).
parity_setup() {
    NAME=$1
    PY=${FT_PYTHON:-/usr/bin/python3}
    SRC=${FT_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
    REF=$SRC/tests/ref
    FT=${FT_BIN:-$SRC/build/ftune}
    if ! "$PY" -c "import torch, numpy" >/dev/null 2>&1; then
        echo "$NAME: skipped: $PY cannot import torch and numpy (install python3-torch)"
        exit 77
    fi
    work=$(mktemp -d "${TMPDIR:-/tmp}/ftune-$NAME.XXXXXX")
    if [ "${FT_PARITY_KEEP:-0}" = 1 ]; then echo "$NAME: work directory $work"; else trap 'rm -rf "$work"' EXIT; fi
    fails=0
}

parity_run() {
    parity_setup "$1"
    local ref=$2
    local atol=${FT_PARITY_LOGITS_ATOL:-1e-4} rtol=${FT_PARITY_GRAD_RTOL:-1e-3}
    "$PY" "$REF/$ref" configs --work "$work" || exit 1
    while IFS=$'\t' read -r kind arch; do
        if ! "$FT" init --arch "$arch" --config "$work/cfg-$kind.json" --out "$work/$kind" --seed 5 \
            >"$work/init-$kind.log" 2>&1; then
            fail "ftune init --arch $arch ($kind):"
            sed 's/^/    /' "$work/init-$kind.log"
        fi
    done <"$work/kinds.tsv"
    [ "$fails" -eq 0 ] || exit 1
    "$PY" "$REF/$ref" prepare --work "$work" || exit 1
    while IFS=$'\t' read -r name model adapter batch; do
        local extra=()
        [ "$adapter" = - ] || extra=(--adapter "$adapter")
        if ! "$FT" dump --model "$model" "${extra[@]}" --batch "$batch" --out "$work/$name.ftune.safetensors" \
            >"$work/$name.ftune.log" 2>&1; then
            fail "$name: ftune dump failed:"
            sed 's/^/    /' "$work/$name.ftune.log"
        fi
        case $name in *-lora | *-lora-* | *-ia3) # merged into the base, the same logits without the adapter
            if ! "$FT" merge --model "$model" --adapter "$adapter" --out "$work/$name.merged" >"$work/$name.merge.log" 2>&1 ||
                ! "$FT" dump --model "$work/$name.merged" --batch "$batch" --out "$work/$name.merged.safetensors" \
                    >>"$work/$name.merge.log" 2>&1; then
                fail "$name: ftune merge + dump failed:"
                sed 's/^/    /' "$work/$name.merge.log"
            fi ;;
        esac
    done <"$work/cases.tsv"
    "$PY" "$REF/$ref" compare --work "$work" --logits-atol "$atol" --grad-rtol "$rtol" || fails=$((fails + 1))
}

# The end of a parity test: its verdict line and exit status.
parity_done() {
    if [ "$fails" -eq 0 ]; then echo "$NAME: all passed"; else echo "$NAME: $fails failure(s)"; fi
    [ "$fails" -eq 0 ]
}
