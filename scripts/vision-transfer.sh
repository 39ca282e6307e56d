#!/usr/bin/env bash
# Transfer learning for images (issue 15, docs/vision.md "Transfer learning"), with ftune alone:
#   1. a small ViT from `ftune init --arch vit --config recipes/fashion-vit-init.json` pre-trained on
#      Fashion-MNIST (recipes/fashion-vit-pretrain.yaml; Debian's dataset-fashion-mnist);
#   2. that model fine-tuned on sklearn's 8x8 digits (Debian's python3-sklearn) with full fine-tuning, LoRA,
#      BitFit and a linear probe, and the same ViT trained from scratch on the digits
#      (recipes/digits-vit-{full,lora,bitfit,probe,scratch}.yaml): test accuracy, trainable parameters, time.
# The pre-training is skipped when out/vision/fashion already holds its model (--pretrain forces it). Extra
# arguments are overrides for every recipe (e.g. threads=1). Prints a Markdown table (also in
# out/vision/results.md).
set -euo pipefail
cd "$(dirname "$0")/.."
FT=${FT_BIN:-build/ftune}
pre=0
if [ "${1:-}" = --pretrain ]; then pre=1; shift; fi
for f in /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \
         /usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz; do
  [ -f "$f" ] || { echo "vision-transfer: $f is missing (scripts/install-deps.sh installs it)"; exit 1; }
done
mkdir -p out/vision
cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
if [ $pre = 1 ] || [ ! -f out/vision/fashion/model.safetensors ]; then
  rm -rf out/vision/init out/vision/fashion
  "$FT" init --arch vit --config recipes/fashion-vit-init.json --out out/vision/init --seed 42
  s=$(date +%s)
  "$FT" train recipes/fashion-vit-pretrain.yaml "$@" 2>&1 | tee out/vision/pretrain.log
  echo "pretrain took $(( $(date +%s) - s )) s" | tee -a out/vision/pretrain.log
fi
row() { # name log seconds
  local acc f1 tr
  acc=$(sed -n 's/^test: loss [0-9.]* accuracy \([0-9.]*\).*/\1/p' "$2")
  f1=$(sed -n 's/^test: .* f1_macro \([0-9.]*\).*/\1/p' "$2")
  tr=$(sed -n 's/.* parameters, \([0-9]*\) trainable (\([0-9.]*%\)).*/\1 (\2)/p' "$2")
  printf '| %s | %s | %s | %s | %s s |\n' "$1" "$acc" "$f1" "$tr" "$3"
}
{
  echo "Fashion-MNIST pre-training: $(sed -n 's/^test: \(.*\)/\1/p' out/vision/pretrain.log)"
  echo
  echo "Digits (359 test images), $cpu, $(nproc) threads:"
  echo
  echo "| run | test accuracy | macro-F1 | trainable parameters | time |"
  echo "|---|---|---|---|---|"
} > out/vision/results.md
for r in scratch full lora bitfit probe; do
  s=$(date +%s)
  "$FT" train recipes/digits-vit-$r.yaml "$@" > out/vision/digits-$r.log 2>&1 || { cat out/vision/digits-$r.log; exit 1; }
  row "$r" out/vision/digits-$r.log $(( $(date +%s) - s )) >> out/vision/results.md
done
# few labels: 10 training images per digit (data.train_limit 100, stratified), the same validation and test
# images, 300 steps
{
  echo
  echo "Digits with 100 training images (10 per class), 300 steps:"
  echo
  echo "| run | test accuracy | macro-F1 | trainable parameters | time |"
  echo "|---|---|---|---|---|"
} >> out/vision/results.md
for r in scratch full lora bitfit probe; do
  s=$(date +%s)
  "$FT" train recipes/digits-vit-$r.yaml data.train_limit=100 train.max_steps=300 eval.every=50 \
    output_dir=out/vision/few-$r "$@" > out/vision/few-$r.log 2>&1 || { cat out/vision/few-$r.log; exit 1; }
  row "$r" out/vision/few-$r.log $(( $(date +%s) - s )) >> out/vision/results.md
done
cat out/vision/results.md
