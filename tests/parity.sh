#!/usr/bin/env bash
# Model parity: `ftune dump` (one forward + backward) against the independent PyTorch reference
# tests/ref/hf_ref.py, on tiny random checkpoints in exact Hugging Face layout written by
# tests/ref/make_tiny.py (F32 and BF16 weights) and, when `ftune init` exists, by ftune itself.
# See docs/parity.md. Exit 77 = skipped (no torch for $FT_PYTHON, or no `ftune dump` yet).
# Env: FT_BIN (ftune), FT_SRC (source root), FT_PYTHON (default /usr/bin/python3),
#      FT_PARITY_KINDS (space-separated subset of make_tiny kinds), FT_PARITY_LOGITS_ATOL (1e-4),
#      FT_PARITY_GRAD_RTOL (1e-3), FT_PARITY_DTYPES ("f32 bf16"), FT_PARITY_KEEP=1 (keep the work directory and print it).
set -u
PY=${FT_PYTHON:-/usr/bin/python3}
SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
REF=$SRC/tests/ref
FT=${FT_BIN:-$SRC/build/ftune}
ATOL=${FT_PARITY_LOGITS_ATOL:-1e-4}
RTOL=${FT_PARITY_GRAD_RTOL:-1e-3}
DTYPES=${FT_PARITY_DTYPES:-f32 bf16}

if ! "$PY" -c "import torch, numpy" >/dev/null 2>&1; then
    echo "parity: skipped: $PY cannot import torch and numpy (install python3-torch)"
    exit 77
fi
if ! "$FT" dump --help >/dev/null 2>&1; then
    echo "parity: skipped: '$FT dump --help' fails (no dump command yet)"
    exit 77
fi
KINDS=${FT_PARITY_KINDS:-$("$PY" "$REF/make_tiny.py" --list | tr '\n' ' ')}

work=$(mktemp -d "${TMPDIR:-/tmp}/ftune-parity.XXXXXX")
if [ "${FT_PARITY_KEEP:-0}" = 1 ]; then echo "parity: work directory $work"; else trap 'rm -rf "$work"' EXIT; fi
fails=0
passed=0

fail() { echo "parity: FAIL $1"; fails=$((fails + 1)); }

# case NAME MODEL_DIR BATCH [REJECT_OK_PATTERN]: dump with ftune and the reference, compare.
# With REJECT_OK_PATTERN, ftune may instead refuse the model with an error matching it.
run_case() {
    local name=$1 dir=$2 batch=$3 reject_ok=${4:-}
    local a=$work/$name.ftune.safetensors b=$work/$name.ref.safetensors
    if ! "$FT" dump --model "$dir" --batch "$batch" --out "$a" >"$work/$name.ftune.log" 2>&1; then
        if [ -n "$reject_ok" ] && grep -qiE "$reject_ok" "$work/$name.ftune.log"; then
            echo "parity: $name: ftune refuses it clearly (allowed): $(tail -n 1 "$work/$name.ftune.log")"
            return
        fi
        fail "$name: ftune dump failed:"
        sed 's/^/    /' "$work/$name.ftune.log"
        return
    fi
    if ! "$PY" "$REF/hf_ref.py" --model "$dir" --batch "$batch" --out "$b" >"$work/$name.ref.log" 2>&1; then
        fail "$name: hf_ref.py failed:"
        sed 's/^/    /' "$work/$name.ref.log"
        return
    fi
    if "$PY" "$REF/compare.py" "$a" "$b" --logits-atol "$ATOL" --grad-rtol "$RTOL" >"$work/$name.cmp.log" 2>&1; then
        passed=$((passed + 1))
        echo "parity: ok   $name ($(tail -n 1 "$work/$name.cmp.log" | sed 's/^compare: //'))"
    else
        fail "$name: ftune differs from the reference (A = ftune, B = reference):"
        grep -v '^ok ' "$work/$name.cmp.log" | sed 's/^/    /'
    fi
}

# One batch for every tiny model (vocab 67): 3 rows x 12 tokens, right padding with id 0 (the
# llama kind's pad_token_id), -100 labels, labels left under padding in one row.
"$PY" "$REF/make_batch.py" --vocab 67 --seq 12 --batch 3 --seed 11 --pad-id 0 --out "$work/batch.json" || exit 1
# Defaults: no attention_mask, no labels (labels = input_ids).
"$PY" "$REF/make_batch.py" --vocab 67 --seq 9 --batch 2 --seed 12 --no-mask --no-labels --out "$work/plain.json" || exit 1

seed=100
for kind in $KINDS; do
    for dt in $DTYPES; do
        seed=$((seed + 1))
        dir=$work/$kind-$dt
        "$PY" "$REF/make_tiny.py" --kind "$kind" --dtype "$dt" --seed "$seed" --out "$dir" || { fail "$kind-$dt: make_tiny"; continue; }
        reject=""
        [ "$kind" = mistral_swa ] && reject="sliding"
        run_case "$kind-$dt" "$dir" "$work/batch.json" "$reject"
    done
done
case " $KINDS " in *" gpt2 "*) run_case "gpt2-f32-nomask-nolabels" "$work/gpt2-f32" "$work/plain.json" ;; esac

# Checkpoints written by `ftune init` from the same configs (skipped when init does not exist yet).
if "$FT" init --help >/dev/null 2>&1; then
    for arch in gpt2 llama; do
        case " $KINDS " in *" $arch "*) ;; *) continue ;; esac
        "$PY" "$REF/make_tiny.py" --kind "$arch" --config-only --out "$work/cfg-$arch" || { fail "cfg-$arch"; continue; }
        for dt in $DTYPES; do
            dir=$work/init-$arch-$dt
            if ! "$FT" init --arch "$arch" --config "$work/cfg-$arch/config.json" --out "$dir" --seed 7 \
                --dtype "$dt" >"$work/init-$arch-$dt.log" 2>&1; then
                fail "init-$arch-$dt: ftune init failed:"
                sed 's/^/    /' "$work/init-$arch-$dt.log"
                continue
            fi
            run_case "init-$arch-$dt" "$dir" "$work/batch.json"
        done
    done
else
    echo "parity: note: no 'ftune init' yet; only make_tiny.py checkpoints were tested"
fi

echo "parity: $passed passed, $fails failed"
[ "$fails" -eq 0 ]
