#!/usr/bin/env bash
# The README's method comparison on a real task: after scripts/demo.sh has fetched the data and written
# the small model, (1) continue pre-training it as a causal LM on the SpamAssassin texts, then
# (2) `ftune compare` full fine-tuning, LoRA, adapters, prompt tuning, BitFit and IA3 on spam/ham
# classification from that base. Table on stdout; out/compare/spam/compare.html has the curves.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/ftune ] && [ -d out/demo/model ] && [ -s .cache/spam/spam.jsonl ] || { echo "run scripts/demo.sh first" >&2; exit 1; }
build/ftune train recipes/demo-spam-pretrain.yaml --quiet "$@"
cp .cache/tok/gpt2/encoder.json .cache/tok/gpt2/vocab.bpe out/compare/pretrained/ 2>/dev/null || true
build/ftune compare recipes/demo-spam-compare.yaml --methods full,lora,adapter,prompt,bitfit,ia3
