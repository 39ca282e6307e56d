#!/usr/bin/env bash
# End to end: `ftune init` tiny gpt2 and llama models, full fine-tuning on a learnable synthetic task
# (arithmetic progressions mod V), held-out loss must fall clearly; the saved model loads and inspects;
# CLI errors are clear and non-zero.
set -euo pipefail
FT=${FT_BIN:?}
W=$(mktemp -d /tmp/ft_e2e.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
gen() { # gen N SEED > file: sequences a, a+d, a+2d, ... mod 50
  awk -v n="$1" -v seed="$2" 'BEGIN { srand(seed); for (i = 0; i < n; i++) { a = int(rand()*50); d = 1 + int(rand()*3);
    printf "{\"input_ids\": ["; for (t = 0; t < 24; t++) printf "%s%d", (t ? "," : ""), (a + t*d) % 50; print "]}" } }'
}
gen 256 1 > train.jsonl
gen 48 2 > eval.jsonl
echo '{"vocab_size": 50, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 32, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}' > g.json
echo '{"vocab_size": 50, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 32}' > l.json
fail=0
for arch in gpt2 llama; do
  cfg=$([ $arch = gpt2 ] && echo g.json || echo l.json)
  "$FT" init --arch $arch --config $cfg --out base_$arch --seed 3 > /dev/null
  "$FT" train --model base_$arch --data train.jsonl --eval-data eval.jsonl --out tuned_$arch \
      --steps 150 --batch-size 8 --seq-len 24 --lr 3e-3 --warmup 10 --quiet > log_$arch.txt
  before=$(awk '/^eval loss:/ {print $3}' log_$arch.txt | tr -d ,)
  after=$(awk '/^eval loss:/ {print $5}' log_$arch.txt)
  echo "$arch: held-out loss $before -> $after"
  if ! awk -v b="$before" -v a="$after" 'BEGIN { exit !(a < b - 1.0) }'; then
    echo "FAIL: $arch held-out loss did not fall by 1 nat"; fail=1
  fi
  "$FT" inspect tuned_$arch | grep "architecture: $arch" >/dev/null || { echo "FAIL: inspect tuned_$arch"; fail=1; }
  grep -q '"torch_dtype": "float32"' tuned_$arch/config.json || { echo "FAIL: config torch_dtype"; fail=1; }
done
# bad input: each a clear one-line error and a non-zero exit
expect_fail() { # expect_fail "substring" cmd...
  local want=$1; shift
  if out=$("$@" 2>&1); then echo "FAIL: '$*' succeeded"; fail=1; return; fi
  if ! grep -qF -- "$want" <<<"$out"; then echo "FAIL: '$*' said: $out (wanted: $want)"; fail=1; fi
}
echo '{"model_type": "bloom", "vocab_size": 5}' > bad.json
expect_fail "unknown model_type 'bloom'" "$FT" init --arch gpt2 --config bad.json --out x
mkdir -p badmodel && cp base_gpt2/model.safetensors badmodel/ && echo '{"model_type": "gpt2"}' > badmodel/config.json
expect_fail "badmodel/config.json: missing required field 'vocab_size'" "$FT" inspect badmodel
echo '{"input_ids": [[1, 2, 99]]}' > oob.json
expect_fail "input_ids[0][2] = 99 is outside the vocabulary" "$FT" dump --model base_gpt2 --batch oob.json --out o.st
echo '{"input_ids": [1, 2, 3]}' > notrows.json
expect_fail "row 0" "$FT" dump --model base_gpt2 --batch notrows.json --out o.st
printf '{"input_ids": [1,2,3]}\n{"input_ids": [1,2,\n' > broken.jsonl
expect_fail "broken.jsonl:2: not a JSON object" "$FT" train --model base_gpt2 --data broken.jsonl --out o --steps 1
expect_fail "seq-len 64 exceeds the model's 32 positions" "$FT" train --model base_gpt2 --data train.jsonl --out o --seq-len 64 --steps 1
head -c 300 base_gpt2/model.safetensors > badmodel/model.safetensors && cp base_gpt2/config.json badmodel/
expect_fail "badmodel/model.safetensors" "$FT" inspect badmodel
expect_fail "unknown option '--nope'" "$FT" train --nope
[ $fail = 0 ] && echo "train_e2e: all checks passed"
exit $fail
