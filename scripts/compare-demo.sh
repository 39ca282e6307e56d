#!/usr/bin/env bash
# The README's method comparison on a real task: `ftune compare` trains spam/ham classification from
# ftune's pre-trained base model (models/ftune-tiny) with full fine-tuning, LoRA, DoRA, bottleneck
# adapters, prompt tuning and IA3 (BitFit is refused on it: a Llama has no bias terms to train) — the same data, steps and batch (recipes/demo-spam-compare.yaml),
# each with its own learning rate — and prints one table with validation and test accuracy.
# out/compare/spam/compare.html has the curves. Extra arguments are overrides (plain or METHOD:key=value).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/ftune ] || scripts/build.sh
[ -s .cache/spam/spam.jsonl ] || scripts/fetch-spam.sh > /dev/null
echo "compare-demo: $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) vCPU"
T=q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,embed_tokens   # the main job's LoRA targets (DoRA: the linear layers; ftune has no DoRA on embeddings yet)
build/ftune compare recipes/demo-spam-compare.yaml --methods full,lora,dora,adapter,prompt,ia3 \
  lora:lora.target_modules=$T dora:lora.target_modules=all-linear full:optim.lr=1e-3 lora:optim.lr=2e-3 dora:optim.lr=2e-3 adapter:optim.lr=2e-3 \
  prompt:optim.lr=3e-2 ia3:optim.lr=1e-2 "$@"
