#!/usr/bin/env bash
# Encoder parity: `ftune dump` (one forward + backward) of BERT / RoBERTa / XLM-RoBERTa / DistilBERT sequence
# classifiers (and a BERT regressor) against the independent PyTorch reference tests/ref/enc_ref.py, on tiny
# checkpoints written by `ftune init` (biases and norms then moved off 0/1 by the reference, same layout),
# batches with padding and token types; full fine-tuning, LoRA, IA3 and BitFit; an old-style BERT file (bare
# names, LayerNorm gamma/beta, stray position_ids / cls.predictions). Also: a missing tensor and an
# unsupported config are refused by name. See docs/encoders.md. Exit 77 = skipped (no torch).
# Env: FT_BIN, FT_SRC, FT_PYTHON (/usr/bin/python3), FT_PARITY_LOGITS_ATOL (1e-4), FT_PARITY_GRAD_RTOL (1e-3),
#      FT_PARITY_KEEP=1 (keep the work directory).
set -u
PY=${FT_PYTHON:-/usr/bin/python3}
SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
REF=$SRC/tests/ref
FT=${FT_BIN:-$SRC/build/ftune}
ATOL=${FT_PARITY_LOGITS_ATOL:-1e-4}
RTOL=${FT_PARITY_GRAD_RTOL:-1e-3}

if ! "$PY" -c "import torch, numpy" >/dev/null 2>&1; then
    echo "enc_parity: skipped: $PY cannot import torch and numpy (install python3-torch)"
    exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/ftune-enc-parity.XXXXXX")
if [ "${FT_PARITY_KEEP:-0}" = 1 ]; then echo "enc_parity: work directory $work"; else trap 'rm -rf "$work"' EXIT; fi
fails=0
fail() { echo "enc_parity: FAIL $1"; fails=$((fails + 1)); }

"$PY" "$REF/enc_ref.py" configs --work "$work" || exit 1
while IFS=$'\t' read -r kind arch; do
    if ! "$FT" init --arch "$arch" --config "$work/cfg-$kind.json" --out "$work/$kind" --seed 5 >"$work/init-$kind.log" 2>&1; then
        fail "ftune init --arch $arch:"
        sed 's/^/    /' "$work/init-$kind.log"
    fi
done <"$work/kinds.tsv"
[ "$fails" -eq 0 ] || exit 1
"$PY" "$REF/enc_ref.py" prepare --work "$work" || exit 1
while IFS=$'\t' read -r name model adapter batch; do
    extra=()
    [ "$adapter" = - ] || extra=(--adapter "$adapter")
    if ! "$FT" dump --model "$model" "${extra[@]}" --batch "$batch" --out "$work/$name.ftune.safetensors" \
        >"$work/$name.ftune.log" 2>&1; then
        fail "$name: ftune dump failed:"
        sed 's/^/    /' "$work/$name.ftune.log"
    fi
    case $name in *-lora | *-ia3) # merged into the base, the same logits without the adapter
        if ! "$FT" merge --model "$model" --adapter "$adapter" --out "$work/$name.merged" >"$work/$name.merge.log" 2>&1 ||
            ! "$FT" dump --model "$work/$name.merged" --batch "$batch" --out "$work/$name.merged.safetensors" \
                >>"$work/$name.merge.log" 2>&1; then
            fail "$name: ftune merge + dump failed:"
            sed 's/^/    /' "$work/$name.merge.log"
        fi ;;
    esac
done <"$work/cases.tsv"
"$PY" "$REF/enc_ref.py" compare --work "$work" --logits-atol "$ATOL" --grad-rtol "$RTOL" || fails=$((fails + 1))

# bad input: a missing tensor and an unsupported position_embedding_type are refused by name
cp -r "$work/bert" "$work/bad-missing"
"$PY" -c "
import sys; sys.path.insert(0, '$REF'); import st
p = '$work/bad-missing/model.safetensors'; t, m = st.load(p)
del t['bert.encoder.layer.1.attention.self.key.weight']; st.save(p, t, metadata=m)" || fail "bad checkpoint"
if "$FT" dump --model "$work/bad-missing" --batch "$work/batch-pair.json" --out "$work/x.safetensors" >"$work/bad1.log" 2>&1 ||
    ! grep -q "bert.encoder.layer.1.attention.self.key.weight" "$work/bad1.log"; then
    fail "a missing tensor is not refused by name:"; sed 's/^/    /' "$work/bad1.log"
fi
cp -r "$work/bert" "$work/bad-pos"
sed -i 's/"absolute"/"relative_key"/' "$work/bad-pos/config.json"
if "$FT" inspect "$work/bad-pos" >"$work/bad2.log" 2>&1 || ! grep -q "position_embedding_type 'relative_key'" "$work/bad2.log"; then
    fail "position_embedding_type relative_key is not refused by name:"; sed 's/^/    /' "$work/bad2.log"
fi

if [ "$fails" -eq 0 ]; then echo "enc_parity: all passed"; else echo "enc_parity: $fails failure(s)"; fi
[ "$fails" -eq 0 ]
