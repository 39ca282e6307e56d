#!/usr/bin/env bash
# Time `ftune tokenizer train` on tens of MB: prints the CPU, the input size, seconds for reading and
# counting words, for the merges, in total, and MB/s over the whole run.
# usage: bench/tokenizer_train.sh [TEXT_FILE...]   (default: the text fields of the pre-training corpus,
#        .cache/pretrain/*.train.jsonl from scripts/fetch-pretrain-corpus.sh; PRETRAIN_DIR overrides)
# env: VOCAB (16000), THREADS (0 = all cores), FT_BIN (build/ftune)
set -euo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
FT_BIN=${FT_BIN:-$FT_SRC/build/ftune}
VOCAB=${VOCAB:-16000}
THREADS=${THREADS:-0}
files=("$@")
kind=--files
if [ ${#files[@]} -eq 0 ]; then
  kind=--jsonl
  for f in "${PRETRAIN_DIR:-$FT_SRC/.cache/pretrain}"/*.train.jsonl; do
    case "$f" in */spam-split.*) ;; *) [ -f "$f" ] && files+=("$f") ;; esac
  done
fi
[ ${#files[@]} -gt 0 ] || { echo "bench/tokenizer_train.sh: no input (run scripts/fetch-pretrain-corpus.sh or give files)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
bytes=$(cat "${files[@]}" | wc -c) # JSONL: the file size, a little above the text's
thr=$THREADS; [ "$thr" = 0 ] && thr=$(nproc)
t0=$(date +%s.%N)
"$FT_BIN" tokenizer train "$kind" "${files[@]}" --vocab-size "$VOCAB" --min-frequency 2 \
  --special '<|endoftext|>,<pad>' --threads "$THREADS" --out "$out" > "$out/log"
t1=$(date +%s.%N)
cat "$out/log"
awk -v b="$bytes" -v s="$(echo "$t1 - $t0" | bc)" -v cpu="$cpu" -v v="$VOCAB" -v t="$thr" 'BEGIN {
  printf "tokenizer train: %.1f MB, vocab %d, %d threads, %.2f s total, %.1f MB/s  (%s)\n", b / 1e6, v, t, s, b / 1e6 / s, cpu }'
