#!/usr/bin/env bash
# The main job on built-in data: build ftune, create a small GPT-2-layout model, fine-tune it on a
# learnable synthetic corpus (arithmetic progressions), report held-out loss before/after and save the
# result as a Hugging Face checkpoint in out/demo/tuned. Usage: scripts/demo.sh [extra ftune train options]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
FT=build/ftune
D=out/demo
mkdir -p "$D"
gen() { awk -v n="$1" -v seed="$2" 'BEGIN { srand(seed); for (i = 0; i < n; i++) { a = int(rand()*100); d = 1 + int(rand()*5);
  printf "{\"input_ids\": ["; for (t = 0; t < 32; t++) printf "%s%d", (t ? "," : ""), (a + t*d) % 100; print "]}" } }'; }
gen 2000 1 > "$D/train.jsonl"
gen 200 2 > "$D/eval.jsonl"
echo '{"vocab_size": 100, "n_embd": 128, "n_layer": 4, "n_head": 4, "n_positions": 64}' > "$D/small.json"
$FT init --arch gpt2 --config "$D/small.json" --out "$D/base" --seed 1
$FT inspect "$D/base"
$FT train --model "$D/base" --data "$D/train.jsonl" --eval-data "$D/eval.jsonl" --out "$D/tuned" \
  --steps 300 --batch-size 16 --seq-len 32 --lr 1e-3 --warmup 20 --min-lr-ratio 0.1 --eval-every 100 "$@"
echo "demo: fine-tuned checkpoint in $D/tuned (config.json + model.safetensors)"
