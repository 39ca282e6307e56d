#!/usr/bin/env bash
# ftune tokenize: the output forms (offsets included), and bad input: invalid UTF-8, malformed JSONL,
# unknown tokenizer types, a gigantic line.
set -uo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
FT_BIN=${FT_BIN:-$FT_SRC/build/ftune}
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\n' > "$d/vocab.txt"
out=$(printf 'Hello world\n' | "$FT_BIN" tokenize --tokenizer "$d" --special) || fail "encode"
[ "$out" = "2 4 5 3" ] || fail "encode gave '$out'"
out=$(printf '2 4 5 3\n' | "$FT_BIN" tokenize --tokenizer "$d" --decode --skip-special) || fail "decode"
[ "$out" = "hello world" ] || fail "decode gave '$out'"
out=$(printf '{"text": "hello\\u0000 world"}\n' | "$FT_BIN" tokenize --tokenizer "$d" --jsonl) || fail "jsonl"
[ "$out" = '{"ids": [4, 5], "tokens": ["hello", "world"]}' ] || fail "jsonl gave '$out'"
# --offsets: plain form ID@START:END (characters; [CLS]/[SEP] at 0:0), bytes, --tokens, JSONL and pairs
out=$(printf 'H\xc3\xa9llo  world\n' | "$FT_BIN" tokenize --tokenizer "$d" --special --offsets) || fail "offsets"
[ "$out" = "2@0:0 4@0:5 5@7:12 3@0:0" ] || fail "offsets gave '$out'"
out=$(printf 'H\xc3\xa9llo  world\n' | "$FT_BIN" tokenize --tokenizer "$d" --byte-offsets --tokens) || fail "byte offsets"
[ "$out" = "hello@0:6 world@8:13" ] || fail "byte offsets gave '$out'"
out=$(printf '{"text": "hello", "text_pair": " world"}\n' | "$FT_BIN" tokenize --tokenizer "$d" --jsonl --special --offsets) ||
  fail "pair offsets"
[ "$out" = '{"ids": [2, 4, 3, 5, 3], "tokens": ["[CLS]", "hello", "[SEP]", "world", "[SEP]"], "type_ids": [0, 0, 0, 1, 1], "offsets": [[0, 0], [0, 5], [0, 0], [1, 6], [0, 0]]}' ] ||
  fail "pair offsets gave '$out'"
err=$(printf 'ok\n\xff\xfe bad\n' | "$FT_BIN" tokenize --tokenizer "$d" 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [[ "$err" == *"line 2"*"UTF-8"* ]] || fail "invalid UTF-8: rc=$rc '$err'"
err=$(printf '{"text": \n' | "$FT_BIN" tokenize --tokenizer "$d" --jsonl 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [[ "$err" == *"line 1"* ]] || fail "malformed JSONL: rc=$rc '$err'"
err=$(printf '{"text": "\\ud800"}\n' | "$FT_BIN" tokenize --tokenizer "$d" --jsonl 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [[ "$err" == *"surrogate"* ]] || fail "lone surrogate: rc=$rc '$err'"
err=$(printf '9999\n' | "$FT_BIN" tokenize --tokenizer "$d" --decode 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [[ "$err" == *"9999"* ]] || fail "bad id: rc=$rc '$err'"
echo '{"model": {"type": "Unigram", "vocab": []}}' > "$d/tokenizer.json"
err=$(echo x | "$FT_BIN" tokenize --tokenizer "$d" 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [[ "$err" == *"Unigram"* ]] || fail "unknown model: rc=$rc '$err'"
rm "$d/tokenizer.json"
# a 20 MB line
out=$(head -c 20000000 /dev/zero | tr '\0' 'h' | "$FT_BIN" tokenize --tokenizer "$d" | wc -w) || fail "giant line"
[ "$out" = 1 ] || fail "giant line gave $out ids"   # one over-long word -> [UNK]
"$FT_BIN" tokenize --help | grep -- --jsonl >/dev/null || fail "help"
"$FT_BIN" tokenize --help | grep -- --offsets >/dev/null || fail "help --offsets"
echo "tokenizer_cli: ok"
