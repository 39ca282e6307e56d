#!/usr/bin/env bash
# Encoder parity: `ftune dump` (one forward + backward) of BERT / RoBERTa / XLM-RoBERTa / DistilBERT sequence
# classifiers (and a BERT regressor) against the independent PyTorch reference tests/ref/enc_ref.py, on tiny
# checkpoints written by `ftune init` (biases and norms then moved off 0/1 by the reference, same layout),
# batches with padding and token types; full fine-tuning, LoRA, IA3 and BitFit; an old-style BERT file (bare
# names, LayerNorm gamma/beta, stray position_ids / cls.predictions). Also: a missing tensor and an
# unsupported config are refused by name. See docs/encoders.md. Exit 77 = skipped (no torch).
# The driver is tests/ref/dump_parity.sh (its environment variables: FT_BIN, FT_PYTHON, FT_PARITY_KEEP, ...).
set -u
. "$(dirname "$0")/ref/dump_parity.sh"
parity_run enc_parity enc_ref.py

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

parity_done
