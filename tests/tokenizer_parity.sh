#!/usr/bin/env bash
# Parity with Hugging Face `tokenizers` (npm binding) on tests/tok/corpus.jsonl for GPT-2 (legacy
# encoder.json + vocab.bpe), Llama-3, Qwen3, Gemma-3, Mistral (SentencePiece-style BPE) and BERT
# (vocab.txt): ids and tokens, ids with special tokens, decode with and without special tokens.
set -euo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
FT_BIN=${FT_BIN:-$FT_SRC/build/ftune}
TOK_DIR=$("$FT_SRC/scripts/fetch-fixtures.sh")
NPM_DIR="$FT_SRC/.cache/npm"
corpus="$FT_SRC/tests/tok/corpus.jsonl"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for spec in gpt2:gpt2 llama3:json qwen3:json gemma3:json mistral:json bert:bert; do
  name=${spec%%:*}; kind=${spec#*:}; dir="$TOK_DIR/$name"
  node "$FT_SRC/tests/tok/reference.js" "$NPM_DIR" "$dir" "$kind" "$corpus" "$work/$name.ref"
  "$FT_BIN" tokenize --tokenizer "$dir" --jsonl < "$corpus" > "$work/$name.enc"
  "$FT_BIN" tokenize --tokenizer "$dir" --jsonl --special < "$corpus" > "$work/$name.encs"
  node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n")) if (l) console.log(JSON.stringify({ids: JSON.parse(l).ids_special}))' "$work/$name.ref" > "$work/$name.ids"
  "$FT_BIN" tokenize --tokenizer "$dir" --jsonl --decode < "$work/$name.ids" > "$work/$name.dec"
  "$FT_BIN" tokenize --tokenizer "$dir" --jsonl --decode --skip-special < "$work/$name.ids" > "$work/$name.decs"
  node "$FT_SRC/tests/tok/compare.js" "$name" "$work/$name.ref" "$corpus" "$work/$name.enc" "$work/$name.encs" \
    "$work/$name.dec" "$work/$name.decs" || status=1
done
exit $status
