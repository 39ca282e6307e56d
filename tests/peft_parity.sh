#!/usr/bin/env bash
# PEFT parity: `ftune dump --adapter` (one forward + backward through a frozen base and a PEFT
# adapter) against the independent reference tests/ref/peft_ref.py, for tiny gpt2 / llama / qwen2
# (and llama_bias for BitFit) checkpoints x every method and its variants. Adapters are written by
# tests/ref/make_adapter.py in PEFT's exact file format with non-trivial values. See docs/parity.md.
# A case that ftune refuses with "unsupported" / "not supported" / "not implemented" is SKIPPED (not
# passed); only real mismatches and other failures fail. Last line: "N passed, N failed, N skipped".
# Exit 77 = skipped (no torch, or `$FT_BIN dump --help` does not mention --adapter, or every case skipped).
# Env: FT_BIN, FT_SRC, FT_PYTHON (/usr/bin/python3), FT_PEFT_KINDS ("gpt2 llama qwen2"),
#      FT_PEFT_METHODS ("lora ia3 prompt bitfit adapter"), FT_PEFT_DTYPES ("f32"; "f32 bf16" adds a BF16
#      base), FT_PEFT_CASES (a bash regex: run only the cases whose name matches, e.g. "pattern|layers"),
#      FT_PARITY_LOGITS_ATOL (1e-4), FT_PARITY_GRAD_RTOL (1e-3), FT_PARITY_KEEP=1.
set -u
PY=${FT_PYTHON:-/usr/bin/python3}
SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
REF=$SRC/tests/ref
FT=${FT_BIN:-$SRC/build/ftune}
ATOL=${FT_PARITY_LOGITS_ATOL:-1e-4}
RTOL=${FT_PARITY_GRAD_RTOL:-1e-3}
KINDS=${FT_PEFT_KINDS:-gpt2 llama qwen2}
METHODS=${FT_PEFT_METHODS:-lora ia3 prompt bitfit adapter}
DTYPES=${FT_PEFT_DTYPES:-f32}

if ! "$PY" -c "import torch, numpy" >/dev/null 2>&1; then
    echo "peft_parity: skipped: $PY cannot import torch and numpy (install python3-torch)"
    exit 77
fi
if ! "$FT" dump --help 2>&1 | grep -- "--adapter" >/dev/null; then
    echo "peft_parity: skipped: '$FT dump --help' does not mention --adapter yet"
    exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ftune-peft-parity.XXXXXX")
if [ "${FT_PARITY_KEEP:-0}" = 1 ]; then echo "peft_parity: work directory $work"; else trap 'rm -rf "$work"' EXIT; fi
passed=0 failed=0 skipped=0
UNSUPPORTED='unsupported|not supported|not implemented'

fail() { echo "peft_parity: FAIL $1"; failed=$((failed + 1)); }

# run_case NAME MODEL_DIR METHOD [make_adapter options...]
run_case() {
    local name=$1 dir=$2 method=$3
    shift 3
    local ad=$work/$name.adapter a=$work/$name.ftune.safetensors b=$work/$name.ref.safetensors
    seed=$((seed + 1))
    [ -z "${FT_PEFT_CASES:-}" ] || [[ $name =~ $FT_PEFT_CASES ]] || return 0
    if ! "$PY" "$REF/make_adapter.py" --model "$dir" --method "$method" --seed "$seed" --out "$ad" "$@" \
        >"$work/$name.make.log" 2>&1; then
        fail "$name: make_adapter.py failed:"
        sed 's/^/    /' "$work/$name.make.log"
        return
    fi
    if ! "$FT" dump --model "$dir" --adapter "$ad" --batch "$work/batch.json" --out "$a" >"$work/$name.ftune.log" 2>&1; then
        if grep -qiE "$UNSUPPORTED" "$work/$name.ftune.log"; then
            skipped=$((skipped + 1))
            echo "peft_parity: SKIPPED $name: $(grep -iE "$UNSUPPORTED" "$work/$name.ftune.log" | tail -n 1)"
            return
        fi
        fail "$name: ftune dump --adapter failed:"
        sed 's/^/    /' "$work/$name.ftune.log"
        return
    fi
    if ! "$PY" "$REF/peft_ref.py" --model "$dir" --adapter "$ad" --batch "$work/batch.json" --out "$b" \
        >"$work/$name.ref.log" 2>&1; then
        fail "$name: peft_ref.py failed:"
        sed 's/^/    /' "$work/$name.ref.log"
        return
    fi
    if "$PY" "$REF/compare.py" "$a" "$b" --logits-atol "$ATOL" --grad-rtol "$RTOL" >"$work/$name.cmp.log" 2>&1; then
        passed=$((passed + 1))
        echo "peft_parity: ok   $name ($(tail -n 1 "$work/$name.cmp.log" | sed 's/^compare: //'))"
    else
        fail "$name: ftune differs from the reference (A = ftune, B = reference):"
        grep -v '^ok ' "$work/$name.cmp.log" | sed 's/^/    /'
    fi
}

has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }

# 3 rows x 12 tokens, right padding with id 0, -100 labels (vocab 67 of every tiny kind).
"$PY" "$REF/make_batch.py" --vocab 67 --seq 12 --batch 3 --seed 21 --pad-id 0 --out "$work/batch.json" || exit 1

seed=500
for kind in $KINDS; do
    for dt in $DTYPES; do
        dir=$work/$kind-$dt
        seed=$((seed + 1))
        "$PY" "$REF/make_tiny.py" --kind "$kind" --dtype "$dt" --seed "$seed" --out "$dir" || { fail "$kind-$dt: make_tiny"; continue; }
        if [ "$kind" = gpt2 ]; then
            wide="c_attn,c_proj,c_fc"
            regex='transformer\.h\.1\.(attn\.c_attn|mlp\.c_fc)'
            emb=wte emb_mixed="c_attn,wte" emb_regex='transformer\.(wte|wpe|h\.0\.attn\.c_attn)'
            ia3_t="c_attn,c_fc,mlp.c_proj" ia3_ff="c_fc,mlp.c_proj"
            # keys in this order on purpose: "c_proj" comes before "attn.c_proj" and wins for both
            # c_proj modules (PEFT: the first key in the file's order); "h.0.attn.c_attn" hits layer 0 only
            rp='{"c_proj": 2, "h.0.attn.c_attn": 6, "attn.c_proj": 4}' ap='{"h.1.mlp.c_fc": 7, "c_fc": 3}'
            lay_t="c_attn,c_fc" lay_pat=h exact="transformer.h.0.attn.c_attn,c_fc"
            excl="mlp.c_proj,transformer.h.1.attn.c_attn" excl_re='.*\.h\.0\..*'
        else
            wide="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
            regex='model\.layers\.1\.(self_attn\.(q|o)_proj|mlp\.up_proj)'
            emb=embed_tokens emb_mixed="embed_tokens,q_proj,v_proj" emb_regex='model\.(embed_tokens|layers\.1\.self_attn\.v_proj)'
            ia3_t="q_proj,o_proj,up_proj,down_proj" ia3_ff="up_proj,down_proj"
            rp='{"proj": 2, "layers.1.self_attn.q_proj": 6, "v_proj": 5}' ap='{"layers.0.mlp.down_proj": 7, "q_proj": 3}'
            lay_t="q_proj,down_proj" lay_pat=layers exact="model.layers.0.self_attn.q_proj,down_proj"
            excl="down_proj,model.layers.1.self_attn.q_proj" excl_re='.*\.layers\.0\..*'
        fi
        p=$kind-$dt
        if has "$METHODS" lora; then
            run_case "$p-lora" "$dir" lora
            run_case "$p-lora-wide" "$dir" lora --target "$wide" --r 3 --alpha 5
            run_case "$p-lora-regex" "$dir" lora --target-regex "$regex"
            run_case "$p-lora-rslora" "$dir" lora --rslora --r 4 --alpha 6
            run_case "$p-lora-dora" "$dir" lora --dora --target "$wide" --r 3 --alpha 5
            run_case "$p-lora-bias-all" "$dir" lora --bias all
            # The same with a targeted layer's bias as <module>.bias instead of PEFT's .base_layer.bias.
            run_case "$p-lora-bias-all-plain" "$dir" lora --bias all --plain-bias-names
            # rank_pattern / alpha_pattern, layers_to_transform / layers_pattern, exclude_modules (PEFT 0.21)
            run_case "$p-lora-patterns" "$dir" lora --target "$wide" --r 3 --alpha 5 --rank-pattern "$rp" --alpha-pattern "$ap"
            run_case "$p-lora-patterns-rslora" "$dir" lora --target "$wide" --rslora --rank-pattern "$rp" --alpha-pattern "$ap"
            run_case "$p-lora-dora-patterns" "$dir" lora --dora --target "$wide" --r 3 --rank-pattern "$rp" --alpha-pattern "$ap"
            run_case "$p-lora-layers-int" "$dir" lora --target "$lay_t" --layers 1
            run_case "$p-lora-layers-list-pattern" "$dir" lora --target "$lay_t" --layers 0, --layers-pattern "$lay_pat"
            # an exact module name is targeted whatever layers_to_transform says (PEFT checks layers only
            # for a suffix match)
            run_case "$p-lora-layers-exact" "$dir" lora --target "$exact" --layers 1 --layers-pattern "$lay_pat,nomatch"
            run_case "$p-lora-exclude-list" "$dir" lora --target "$wide" --exclude "$excl"
            run_case "$p-lora-exclude-regex" "$dir" lora --target all-linear --exclude-regex "$excl_re" --r 2
            # LoRA on the embedding tables (lora_embedding_A/B): alone, with linear targets, as a regex (GPT-2's
            # regex also takes wpe). llama is untied with pad_token_id 0 (the batch's pad: A's pad column gets no
            # gradient), qwen2 tied. Llama-family files carry embed_tokens.base_layer.weight as PEFT saves them,
            # or not (-nobase).
            run_case "$p-lora-emb" "$dir" lora --target "$emb" --r 3 --alpha 6
            run_case "$p-lora-emb-mixed" "$dir" lora --target "$emb_mixed"
            run_case "$p-lora-emb-regex" "$dir" lora --target-regex "$emb_regex" --rslora
            [ "$kind" = gpt2 ] || run_case "$p-lora-emb-nobase" "$dir" lora --target "$emb" --no-base-table
            # per-module rank / alpha on an embedding (rank_pattern keys match embedding paths as any module's)
            run_case "$p-lora-emb-patterns" "$dir" lora --target "$emb_mixed" --r 3 --rank-pattern "{\"$emb\": 2}" --alpha-pattern "{\"$emb\": 5}"
        fi
        if has "$METHODS" ia3; then
            run_case "$p-ia3" "$dir" ia3
            run_case "$p-ia3-custom" "$dir" ia3 --target "$ia3_t" --ff "$ia3_ff"
            run_case "$p-ia3-exclude" "$dir" ia3 --target "$ia3_t" --ff "$ia3_ff" --exclude-regex "$excl_re"
        fi
        has "$METHODS" prompt && run_case "$p-prompt" "$dir" prompt --virtual 4
        if has "$METHODS" bitfit; then
            # Plain Llama has no bias: BitFit runs on the llama_bias kind instead.
            if [ "$kind" = llama ]; then
                bdir=$work/llama_bias-$dt
                "$PY" "$REF/make_tiny.py" --kind llama_bias --dtype "$dt" --seed "$seed" --out "$bdir" \
                    && run_case "llama_bias-$dt-bitfit" "$bdir" bitfit
            else
                run_case "$p-bitfit" "$dir" bitfit
            fi
        fi
        if has "$METHODS" adapter; then
            run_case "$p-adapter" "$dir" adapter --adapter-size 6 --act relu
            run_case "$p-adapter-pfeiffer" "$dir" adapter --placement pfeiffer --adapter-size 5 --act gelu
            [ "$kind" = gpt2 ] || run_case "$p-adapter-silu" "$dir" adapter --adapter-size 4 --act silu
        fi
    done
done

echo "peft_parity: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -gt 0 ] && exit 1
[ "$passed" -eq 0 ] && exit 77
exit 0
