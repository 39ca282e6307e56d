#!/usr/bin/env bash
# `ftune tokenizer train` against Hugging Face `tokenizers` (npm binding, .cache/npm):
#  1. a tokenizer trained by ftune (special tokens, min frequency 2) encodes tests/tok/corpus.jsonl to the
#     same ids/tokens (with and without special tokens) and decodes the same in ftune and in `tokenizers`
#     loading the written tokenizer.json;
#  2. on the same files, ftune learns exactly the merges, in the same order, that the binding's BpeTrainer
#     learns (its defaults: min_frequency 0, alphabet = characters seen) — all of them, down to the
#     merges of pairs seen once, where ties decide the order.
# Training text: the repository's docs and README and the licences Debian ships (/usr/share/common-licenses).
set -euo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
FT_BIN=${FT_BIN:-$FT_SRC/build/ftune}
NPM_DIR="$FT_SRC/.cache/npm"
[ -d "$NPM_DIR/node_modules/tokenizers" ] || "$FT_SRC/scripts/fetch-fixtures.sh" > /dev/null
command -v node > /dev/null || { echo "tokenizer_train_parity: node missing, skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
files=("$FT_SRC"/docs/*.md "$FT_SRC/README.md")
for f in /usr/share/common-licenses/GPL-3 /usr/share/common-licenses/Apache-2.0; do [ -f "$f" ] && files+=("$f"); done
corpus="$FT_SRC/tests/tok/corpus.jsonl"
status=0

# 1. encode/decode parity of a trained tokenizer (tests/tok/corpus.jsonl also as JSONL training input)
"$FT_BIN" tokenizer train --files "${files[@]}" --jsonl "$corpus" --field text --vocab-size 3000 \
  --min-frequency 2 --special '<|endoftext|>,<pad>,<s>' --add-bos --out "$work/tok" > "$work/train.log"
cat "$work/train.log"
name=trained
node "$FT_SRC/tests/tok/reference.js" "$NPM_DIR" "$work/tok" json "$corpus" "$work/$name.ref"
"$FT_BIN" tokenize --tokenizer "$work/tok" --jsonl < "$corpus" > "$work/$name.enc"
"$FT_BIN" tokenize --tokenizer "$work/tok" --jsonl --special < "$corpus" > "$work/$name.encs"
node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n")) if (l) console.log(JSON.stringify({ids: JSON.parse(l).ids_special}))' "$work/$name.ref" > "$work/$name.ids"
"$FT_BIN" tokenize --tokenizer "$work/tok" --jsonl --decode < "$work/$name.ids" > "$work/$name.dec"
"$FT_BIN" tokenize --tokenizer "$work/tok" --jsonl --decode --skip-special < "$work/$name.ids" > "$work/$name.decs"
node "$FT_SRC/tests/tok/compare.js" "$name" "$work/$name.ref" "$corpus" "$work/$name.enc" "$work/$name.encs" \
  "$work/$name.dec" "$work/$name.decs" || status=1
# decoding the ids of the text (no special tokens added) gives the text back: byte-level BPE loses nothing
node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n")) if (l) console.log(JSON.stringify({ids: JSON.parse(l).ids}))' "$work/$name.enc" > "$work/$name.plain"
"$FT_BIN" tokenize --tokenizer "$work/tok" --jsonl --decode < "$work/$name.plain" > "$work/$name.rt"
node -e '
const fs = require("fs");
const rd = p => fs.readFileSync(p, "utf8").split("\n").filter(l => l).map(l => JSON.parse(l));
const c = rd(process.argv[1]), d = rd(process.argv[2]);
let ok = 0;
c.forEach((x, i) => { if (d[i] && d[i].text === x.text) ok++; });
console.log(`trained round-trip: ${ok}/${c.length} equal`);
process.exit(ok === c.length ? 0 : 1);' "$corpus" "$work/$name.rt" || status=1

# 2. the merges equal the BpeTrainer's
train_set=("${files[@]}")
node "$FT_SRC/tests/tok/train_ref.js" "$NPM_DIR" "$work/ref.json" "${train_set[@]}"
vs=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).ftune_vocab_size)' "$work/ref.json")
"$FT_BIN" tokenizer train --files "${train_set[@]}" --vocab-size "$vs" --min-frequency 0 --out "$work/tok2" > "$work/train2.log"
cat "$work/train2.log"
node "$FT_SRC/tests/tok/train_compare.js" "$work/ref.json" "$work/tok2/tokenizer.json" || status=1
exit $status
