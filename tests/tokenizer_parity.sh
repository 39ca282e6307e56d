#!/usr/bin/env bash
# Parity with Hugging Face `tokenizers` (npm binding) on tests/tok/corpus.jsonl for GPT-2 (legacy
# encoder.json + vocab.bpe), Llama-3, Qwen3, Gemma-3, Mistral (SentencePiece-style BPE) and BERT
# (vocab.txt), plus the variants tests/tok/variants.js builds from them (RoBERTa-style byte-level BPE
# with trim_offsets, Metaspace, WordPiece behind NFC/NFKD/Replace/... normalizers): ids and tokens, ids
# with special tokens, decode with and without special tokens, and character offsets (without and with
# special tokens, and for pairs: line i with line i+1), and those pairs cut to 12 and 40 tokens by
# truncation (longest_first, `ftune tokenize --max-length`), as ftune cuts text pairs for training.
# Unigram: ALBERT's real SentencePiece model (albert: Precompiled charsmap, NFKD, Lowercase, Metaspace,
# [CLS]/[SEP]) and two Unigram models trained by the binding on half of the corpus (tests/tok/unigram.js:
# uni-t5 with T5's layout and ALBERT's charsmap, uni-bf with byte_fallback), unknown characters included.
# FT_TOK_ONLY="roberta bert" limits the run to those tokenizers; FT_TOK_CORPUS=FILE.jsonl replaces the corpus.
set -euo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
FT_BIN=${FT_BIN:-$FT_SRC/build/ftune}
TOK_DIR=$("$FT_SRC/scripts/fetch-fixtures.sh")
NPM_DIR="$FT_SRC/.cache/npm"
corpus="${FT_TOK_CORPUS:-$FT_SRC/tests/tok/corpus.jsonl}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
node "$FT_SRC/tests/tok/variants.js" "$TOK_DIR" "$work/var"
node "$FT_SRC/tests/tok/unigram.js" "$NPM_DIR" "$TOK_DIR" "$corpus" "$work/var" 2>/dev/null
node -e 'const t = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(l => l).map(l => JSON.parse(l).text);
  t.forEach((x, i) => console.log(JSON.stringify({text: x, text_pair: t[(i + 1) % t.length]})))' "$corpus" > "$work/pairs.jsonl"
for spec in gpt2:gpt2 llama3:json qwen3:json gemma3:json mistral:json bert:bert roberta:var roberta-aps:var \
            metaspace:var wp-nfc:var wp-nfkd:var albert:json uni-t5:var uni-bf:var wl-nmt:var wl-ws:var; do
  name=${spec%%:*}; kind=${spec#*:}; dir="$TOK_DIR/$name"
  case " ${FT_TOK_ONLY:-$name} " in *" $name "*) ;; *) continue ;; esac
  if [ "$kind" = var ]; then dir="$work/var/$name"; kind=json; fi
  node "$FT_SRC/tests/tok/reference.js" "$NPM_DIR" "$dir" "$kind" "$corpus" "$work/$name.ref"
  "$FT_BIN" tokenize --tokenizer "$dir" --jsonl < "$corpus" > "$work/$name.enc"
  "$FT_BIN" tokenize --tokenizer "$dir" --jsonl --special < "$corpus" > "$work/$name.encs"
  node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n")) if (l) console.log(JSON.stringify({ids: JSON.parse(l).ids_special}))' "$work/$name.ref" > "$work/$name.ids"
  "$FT_BIN" tokenize --tokenizer "$dir" --jsonl --decode < "$work/$name.ids" > "$work/$name.dec"
  "$FT_BIN" tokenize --tokenizer "$dir" --jsonl --decode --skip-special < "$work/$name.ids" > "$work/$name.decs"
  "$FT_BIN" tokenize --tokenizer "$dir" --jsonl --offsets < "$corpus" > "$work/$name.off"
  "$FT_BIN" tokenize --tokenizer "$dir" --jsonl --offsets --special < "$corpus" > "$work/$name.offs"
  "$FT_BIN" tokenize --tokenizer "$dir" --jsonl --offsets --special < "$work/pairs.jsonl" > "$work/$name.offp"
  for L in 12 40; do
    "$FT_BIN" tokenize --tokenizer "$dir" --jsonl --offsets --special --max-length $L < "$work/pairs.jsonl" > "$work/$name.offt$L"
  done
  node "$FT_SRC/tests/tok/compare.js" "$name" "$work/$name.ref" "$corpus" "$work/$name.enc" "$work/$name.encs" \
    "$work/$name.dec" "$work/$name.decs" "$work/$name.off" "$work/$name.offs" "$work/$name.offp" \
    12="$work/$name.offt12" 40="$work/$name.offt40" || status=1
done
exit $status
