#!/usr/bin/env bash
# Merge check: `ftune merge --model DIR --adapter ADIR --out MDIR` folds a LoRA / IA3 adapter into
# the base weights. Then `ftune dump --model MDIR` must give the logits (and loss) of
# `ftune dump --model DIR --adapter ADIR` to 1e-5 x max(1, max |logit|) (max abs; float32 rounding of
# the merged weights alone moves these tiny models' logits, |logit| up to ~9, by 1-2e-5), MDIR/config.json must equal the base's
# (as JSON), MDIR must hold the base's tensor names and shapes (a LoRA on a tied token embedding unties the
# head: then config.json differs only by tie_word_embeddings false and lm_head.weight is added, as the
# reference merge writes them; see docs/peft.md), and its weights must match the
# reference merge (tests/ref/peft_ref.py --merge-out: W + s B A, transposed for GPT-2's Conv1D;
# IA3 scaling along the input or output) to 1e-5 relative. See docs/parity.md.
# Exit 77 = skipped (no torch, no `ftune merge`, no `dump --adapter`, or every case unsupported).
# Env: FT_BIN, FT_SRC, FT_PYTHON, FT_PEFT_KINDS ("gpt2 llama qwen2"), FT_MERGE_ATOL (1e-5), FT_PARITY_KEEP=1.
set -u
PY=${FT_PYTHON:-/usr/bin/python3}
SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
REF=$SRC/tests/ref
FT=${FT_BIN:-$SRC/build/ftune}
KINDS=${FT_PEFT_KINDS:-gpt2 llama qwen2}
ATOL=${FT_MERGE_ATOL:-1e-5}

if ! "$PY" -c "import torch, numpy" >/dev/null 2>&1; then
    echo "peft_merge: skipped: $PY cannot import torch and numpy (install python3-torch)"
    exit 77
fi
if ! "$FT" merge --help >/dev/null 2>&1; then
    echo "peft_merge: skipped: '$FT merge --help' fails (no merge command yet)"
    exit 77
fi
if ! "$FT" dump --help 2>&1 | grep -- "--adapter" >/dev/null; then
    echo "peft_merge: skipped: '$FT dump --help' does not mention --adapter yet"
    exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ftune-peft-merge.XXXXXX")
if [ "${FT_PARITY_KEEP:-0}" = 1 ]; then echo "peft_merge: work directory $work"; else trap 'rm -rf "$work"' EXIT; fi
passed=0 failed=0 skipped=0
UNSUPPORTED='unsupported|not supported|not implemented'
fail() { echo "peft_merge: FAIL $1"; failed=$((failed + 1)); }

# Compares the two dumps' logits and loss, the configs, and the merged weights with the reference's.
check_py='
import json, os, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import st
merged_dump, adapter_dump, base, mdir, rdir, atol = sys.argv[2:8]
atol = float(atol)
bad = []
a, _ = st.load(merged_dump)
b, _ = st.load(adapter_dump)
for k in ("logits", "loss"):
    if k not in a or k not in b or a[k].shape != b[k].shape:
        bad.append(f"{k}: missing or shapes differ")
        continue
    e = float(np.max(np.abs(a[k].astype(np.float64) - b[k])))
    lim = atol * max(1.0, float(np.max(np.abs(b["logits"]))))
    if not (e <= lim):
        bad.append(f"{k}: merged vs adapter max abs diff {e:.3e} > {lim:.2e}")
cb = json.load(open(os.path.join(base, "config.json")))
cm = json.load(open(os.path.join(mdir, "config.json")))
wb, _ = st.load(os.path.join(base, "model.safetensors"))
wm, _ = st.load(os.path.join(mdir, "model.safetensors"))
wr, _ = st.load(os.path.join(rdir, "model.safetensors"))
if "lm_head.weight" in wr and "lm_head.weight" not in wb:  # untied by an embedding LoRA
    cb = dict(cb, tie_word_embeddings=False)
    wb = dict(wb, **{"lm_head.weight": wr["lm_head.weight"]})
if cb != cm:
    bad.append("config.json differs from the base: " + ", ".join(sorted(k for k in set(cb) | set(cm) if cb.get(k) != cm.get(k))))
if sorted(wb) != sorted(wm):
    bad.append(f"merged tensor names differ from the base: only merged {sorted(set(wm) - set(wb))[:3]}, only base {sorted(set(wb) - set(wm))[:3]}")
for k in sorted(set(wm) & set(wr)):
    if wm[k].shape != wr[k].shape:
        bad.append(f"{k}: shape {list(wm[k].shape)}, base {list(wr[k].shape)}")
        continue
    e = float(np.max(np.abs(wm[k].astype(np.float64) - wr[k]))) / max(float(np.max(np.abs(wr[k]))), 1e-30)
    if not (e <= 1e-5):
        bad.append(f"{k}: differs from the reference merge (rel {e:.3e})")
print("\n".join(bad) if bad else "merged logits, loss, config and weights agree")
sys.exit(1 if bad else 0)
'

# case NAME MODEL_DIR [make_adapter options...]
run_case() {
    local name=$1 dir=$2
    shift 2
    local ad=$work/$name.adapter md=$work/$name.merged rd=$work/$name.refmerged
    seed=$((seed + 1))
    "$PY" "$REF/make_adapter.py" --model "$dir" --seed "$seed" --out "$ad" "$@" >"$work/$name.log" 2>&1 \
        || { fail "$name: make_adapter.py failed"; sed 's/^/    /' "$work/$name.log"; return; }
    if ! "$FT" merge --model "$dir" --adapter "$ad" --out "$md" >"$work/$name.merge.log" 2>&1; then
        if grep -qiE "$UNSUPPORTED" "$work/$name.merge.log"; then
            skipped=$((skipped + 1)); echo "peft_merge: SKIPPED $name: $(tail -n 1 "$work/$name.merge.log")"; return
        fi
        fail "$name: ftune merge failed:"; sed 's/^/    /' "$work/$name.merge.log"; return
    fi
    if ! "$FT" dump --model "$dir" --adapter "$ad" --batch "$work/batch.json" --out "$work/$name.a.st" \
        >"$work/$name.dump.log" 2>&1; then
        if grep -qiE "$UNSUPPORTED" "$work/$name.dump.log"; then
            skipped=$((skipped + 1)); echo "peft_merge: SKIPPED $name: $(tail -n 1 "$work/$name.dump.log")"; return
        fi
        fail "$name: ftune dump --adapter failed:"; sed 's/^/    /' "$work/$name.dump.log"; return
    fi
    if ! "$FT" dump --model "$md" --batch "$work/batch.json" --out "$work/$name.m.st" >"$work/$name.dumpm.log" 2>&1; then
        fail "$name: ftune dump of the merged checkpoint failed:"; sed 's/^/    /' "$work/$name.dumpm.log"; return
    fi
    "$PY" "$REF/peft_ref.py" --model "$dir" --adapter "$ad" --merge-out "$rd" >"$work/$name.ref.log" 2>&1 \
        || { fail "$name: peft_ref.py --merge-out failed"; sed 's/^/    /' "$work/$name.ref.log"; return; }
    if "$PY" -c "$check_py" "$REF" "$work/$name.m.st" "$work/$name.a.st" "$dir" "$md" "$rd" "$ATOL" \
        >"$work/$name.cmp.log" 2>&1; then
        passed=$((passed + 1)); echo "peft_merge: ok   $name ($(tail -n 1 "$work/$name.cmp.log"))"
    else
        fail "$name:"; sed 's/^/    /' "$work/$name.cmp.log"
    fi
}

"$PY" "$REF/make_batch.py" --vocab 67 --seq 12 --batch 3 --seed 31 --pad-id 0 --out "$work/batch.json" || exit 1
seed=700
for kind in $KINDS; do
    dir=$work/$kind
    seed=$((seed + 1))
    "$PY" "$REF/make_tiny.py" --kind "$kind" --seed "$seed" --out "$dir" || { fail "$kind: make_tiny"; continue; }
    if [ "$kind" = gpt2 ]; then
        wide="c_attn,c_proj,c_fc" rp='{"c_proj": 2, "h.0.attn.c_attn": 6}' ap='{"c_fc": 3}' excl=transformer.h.1.mlp.c_fc
    else
        wide="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj" excl=model.layers.0.mlp.up_proj
        rp='{"v_proj": 2, "layers.1.self_attn.q_proj": 6}' ap='{"down_proj": 3}'
    fi
    run_case "$kind-lora" "$dir" --method lora
    run_case "$kind-lora-wide-rslora" "$dir" --method lora --target "$wide" --rslora
    # per-module ranks and alphas (rank_pattern / alpha_pattern), one layer, an excluded module
    run_case "$kind-lora-patterns" "$dir" --method lora --target "$wide" --rank-pattern "$rp" --alpha-pattern "$ap" \
        --exclude "$excl"
    run_case "$kind-lora-patterns-layer" "$dir" --method lora --target "$wide" --rank-pattern "$rp" --rslora --layers 1
    run_case "$kind-ia3" "$dir" --method ia3
    # LoRA on the token embedding with linear targets: gpt2 and qwen2 tie it to the head, llama does not
    if [ "$kind" = gpt2 ]; then
        run_case "$kind-lora-emb" "$dir" --method lora --target c_attn,wte
        run_case "$kind-lora-emb-wpe" "$dir" --method lora --target-regex 'transformer\.(wte|wpe)'
    else
        run_case "$kind-lora-emb" "$dir" --method lora --target embed_tokens,q_proj,v_proj
    fi
done

echo "peft_merge: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -gt 0 ] && exit 1
[ "$passed" -eq 0 ] && exit 77
exit 0
