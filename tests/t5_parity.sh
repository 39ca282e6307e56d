#!/usr/bin/env bash
# T5 parity: `ftune dump` (one forward + backward) of T5ForConditionalGeneration models against the independent
# PyTorch reference tests/ref/t5_ref.py, on tiny checkpoints written by `ftune init --arch t5|mt5` (norms moved
# off 1 by the reference): v1.0 (relu, tied head), v1.1 (gated-gelu, untied lm_head, heads x d_kv != d_model)
# and mT5 (gated-silu); full fine-tuning with the decoder ids derived from the labels and given with a decoder
# mask, LoRA (q, v; + merged), DoRA, IA3 (k, v, wo; + merged), prompt tuning on the encoder input (PEFT's
# seq2seq table of 2n rows), bottleneck adapters (houlsby, pfeiffer). Bad input is refused by name: a missing
# tensor, a wrong shape, labels outside the vocabulary, a batch with neither labels nor decoder ids, BitFit (T5
# has no biases), a prompt table of the wrong shape. See docs/seq2seq.md.
# Exit 77 = skipped (no torch). The driver is tests/ref/dump_parity.sh.
set -u
. "$(dirname "$0")/ref/dump_parity.sh"
parity_run t5_parity t5_ref.py
expect_fail() { # name, expected text, command...
    local name=$1 want=$2
    shift 2
    if "$@" >"$work/bad.log" 2>&1 || ! grep -qF -- "$want" "$work/bad.log"; then
        fail "$name is not refused with '$want':"; sed 's/^/    /' "$work/bad.log"
    fi
}
B="$work/batch-t5-lab.json"
cp -r "$work/t5-p" "$work/bad-missing"
cp -r "$work/t5-p" "$work/bad-shape"
"$PY" -c "
import sys; sys.path.insert(0, '$REF'); import st, numpy as np
p = '$work/bad-missing/model.safetensors'; t, m = st.load(p)
del t['decoder.block.1.layer.1.EncDecAttention.k.weight']; st.save(p, t, metadata=m)
p = '$work/bad-shape/model.safetensors'; t, m = st.load(p)
t['encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight'] = np.zeros((7, 4), np.float32)
st.save(p, t, metadata=m)" || fail "bad checkpoints"
expect_fail "a missing tensor" "tensor 'decoder.block.1.layer.1.EncDecAttention.k.weight' is missing" \
    "$FT" dump --model "$work/bad-missing" --batch "$B" --out "$work/x.safetensors"
expect_fail "a wrong shape" "tensor 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight' has shape [7, 4], expected [8, 4]" \
    "$FT" dump --model "$work/bad-shape" --batch "$B" --out "$work/x.safetensors"
echo '{"input_ids": [[3, 4, 5]], "labels": [[2, 77]]}' >"$work/batch-oov.json"
expect_fail "a label outside the vocabulary" "labels[0][1] = 77 is outside the vocabulary [0, 40)" \
    "$FT" dump --model "$work/t5-p" --batch "$work/batch-oov.json" --out "$work/x.safetensors"
echo '{"input_ids": [[3, 4, 5]]}' >"$work/batch-nolab.json"
expect_fail "a batch without labels" "t5: the batch needs labels [B][T_dec] or decoder_input_ids" \
    "$FT" dump --model "$work/t5-p" --batch "$work/batch-nolab.json" --out "$work/x.safetensors"
mkdir -p "$work/bad-bitfit" "$work/bad-prompt"
echo '{"peft_type": "BITFIT", "task_type": "SEQ_2_SEQ_LM"}' >"$work/bad-bitfit/adapter_config.json"
echo '{"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 2, "task_type": "SEQ_2_SEQ_LM"}' >"$work/bad-prompt/adapter_config.json"
"$PY" -c "
import sys; sys.path.insert(0, '$REF'); import st, numpy as np
st.save('$work/bad-bitfit/adapter_model.safetensors', {'base_model.model.shared.weight': np.zeros((40, 32), np.float32)})
st.save('$work/bad-prompt/adapter_model.safetensors', {'prompt_embeddings': np.zeros((2, 32), np.float32)})" || fail "bad adapters"
expect_fail "BitFit" "BitFit trains bias terms, and this t5 model has none (its projections and RMS norms are bias-free)" \
    "$FT" dump --model "$work/t5-p" --adapter "$work/bad-bitfit" --batch "$B" --out "$work/x.safetensors"
expect_fail "a prompt table without PEFT's decoder half" "tensor 'prompt_embeddings' has shape [2, 32], the model expects [4, 32]" \
    "$FT" dump --model "$work/t5-p" --adapter "$work/bad-prompt" --batch "$B" --out "$work/x.safetensors"
parity_done
