#!/usr/bin/env bash
# ViT parity: `ftune dump` (one forward + backward) of ViTForImageClassification models against the independent
# PyTorch reference tests/ref/vit_ref.py, on tiny checkpoints written by `ftune init --arch vit` (biases and
# norms then moved off 0/1 by the reference): full fine-tuning at the checkpoint's image size and at two others
# (the position embeddings resized bicubically, HF interpolate_pos_encoding), LoRA (+ merged), DoRA, IA3
# (+ merged), BitFit, bottleneck adapters, a 1-channel regression model without q/k/v biases, and a bare-named
# ViTModel (with its pooler) under a LoRA adapter that brings the classifier. Bad input is refused by name: a
# missing tensor, pixel_values with the wrong channel count, an image size the patches do not tile, prompt
# tuning. See docs/vision.md. Exit 77 = skipped (no torch).
# The driver is tests/ref/dump_parity.sh (its environment variables: FT_BIN, FT_PYTHON, FT_PARITY_KEEP, ...).
set -u
. "$(dirname "$0")/ref/dump_parity.sh"
parity_run vit_parity vit_ref.py
[ -f "$work/vit/preprocessor_config.json" ] || fail "ftune init --arch vit wrote no preprocessor_config.json"
# bad input, refused by name
expect_fail() { # name, expected text, command...
    local name=$1 want=$2
    shift 2
    if "$@" >"$work/bad.log" 2>&1 || ! grep -qF -- "$want" "$work/bad.log"; then
        fail "$name is not refused with '$want':"; sed 's/^/    /' "$work/bad.log"
    fi
}
cp -r "$work/vit-p" "$work/bad-missing"
"$PY" -c "
import sys; sys.path.insert(0, '$REF'); import st
p = '$work/bad-missing/model.safetensors'; t, m = st.load(p)
del t['vit.encoder.layer.1.attention.attention.key.weight']; st.save(p, t, metadata=m)" || fail "bad checkpoint"
expect_fail "a missing tensor" "vit.encoder.layer.1.attention.attention.key.weight" \
    "$FT" dump --model "$work/bad-missing" --batch "$work/batch-sq.json" --out "$work/x.safetensors"
expect_fail "1-channel pixels for a 3-channel model" "pixel_values have 1 channels, the model's config has num_channels 3" \
    "$FT" dump --model "$work/vit-p" --batch "$work/batch-gray.json" --out "$work/x.safetensors"
"$PY" -c "
import json; b = json.load(open('$work/batch-sq.json'))
b['pixel_values'] = [[[r[:10] for r in ch[:10]] for ch in im] for im in json.load(open('$work/batch-sq.json'))['pixel_values']]
json.dump(b, open('$work/batch-10.json', 'w'))" || fail "bad batch"
expect_fail "a 10x10 image with 4x4 patches" "image size 10x10 is not a multiple of the patch size 4" \
    "$FT" dump --model "$work/vit-p" --batch "$work/batch-10.json" --out "$work/x.safetensors"
mkdir -p "$work/bad-prompt"
cat >"$work/bad-prompt/adapter_config.json" <<'JSON'
{"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 2, "task_type": "SEQ_CLS"}
JSON
"$PY" -c "
import sys; sys.path.insert(0, '$REF'); import st, numpy as np
st.save('$work/bad-prompt/adapter_model.safetensors', {'prompt_embeddings': np.zeros((2, 32), np.float32)})" || fail "bad adapter"
expect_fail "prompt tuning" "prompt tuning is not supported for vit" \
    "$FT" dump --model "$work/vit-p" --adapter "$work/bad-prompt" --batch "$work/batch-sq.json" --out "$work/x.safetensors"

parity_done
