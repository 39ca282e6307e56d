#!/usr/bin/env bash
# `ftune score` from the command line: several --ref files (sacreBLEU's README example), JSONL lists,
# exit codes and the messages for bad input.
set -uo pipefail
: "${FT_BIN:?FT_BIN must point to the built ftune}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
check() { # check NAME EXPECTED_RC EXPECTED_SUBSTRING -- command...
    local name=$1 rc=$2 want=$3; shift 4
    out=$("$@" 2>&1); got=$?
    if [ "$got" != "$rc" ] || [[ "$out" != *"$want"* ]]; then
        echo "FAIL $name: rc $got (want $rc), output: $out (want: $want)"; fail=1
    else
        echo "ok $name"
    fi
}
printf '%s\n' "The dog bit the man." "It wasn't surprising." "The man had just bitten him." > "$dir/hyp.txt"
printf '%s\n' "The dog bit the man." "It was not unexpected." "The man bit him first." > "$dir/r1.txt"
printf '%s\n' "The dog had bit the man." "No one was surprised." "The man had bitten the dog." > "$dir/r2.txt"
# the same references as one JSONL file of lists
printf '%s\n' '["The dog bit the man.", "The dog had bit the man."]' \
    '["It was not unexpected.", "No one was surprised."]' \
    '["The man bit him first.", "The man had bitten the dog."]' > "$dir/refs.jsonl"
check bleu_two_ref_files 0 '"bleu":48.5308270' -- "$FT_BIN" score --metric bleu --pred "$dir/hyp.txt" --ref "$dir/r1.txt" --ref "$dir/r2.txt" --json
check bleu_jsonl_lists 0 '"bleu":48.5308270' -- "$FT_BIN" score --metric bleu --pred "$dir/hyp.txt" --ref "$dir/refs.jsonl" --json
check bleu_text 0 'BLEU = 48.53' -- "$FT_BIN" score --metric bleu --pred "$dir/hyp.txt" --ref "$dir/r1.txt" --ref "$dir/r2.txt"
check rouge_keys 0 '"rougeLsum":' -- "$FT_BIN" score --metric rouge --stemmer --pred "$dir/hyp.txt" --ref "$dir/r1.txt" --json
check squad_exact 0 '"exact_match":100' -- "$FT_BIN" score --metric squad --pred "$dir/r1.txt" --ref "$dir/refs.jsonl" --json
check help 0 'usage: ftune score' -- "$FT_BIN" score --help
check unknown_metric 2 "unknown metric 'blue' (known: bleu, rouge, squad, classification, regression)" -- \
    "$FT_BIN" score --metric blue --pred "$dir/hyp.txt" --ref "$dir/r1.txt"
check missing_ref 2 'at least one --ref' -- "$FT_BIN" score --metric bleu --pred "$dir/hyp.txt"
printf 'a\nb\n' > "$dir/two.txt"
check lengths 1 "hyp.txt has 3 examples but $dir/two.txt has 2" -- "$FT_BIN" score --metric bleu --pred "$dir/hyp.txt" --ref "$dir/two.txt"
printf '"ok"\n"broken\n"ok"\n' > "$dir/bad.jsonl"
check malformed_jsonl 1 "bad.jsonl:2: not a JSON value" -- "$FT_BIN" score --metric rouge --pred "$dir/hyp.txt" --ref "$dir/bad.jsonl"
: > "$dir/empty.txt"
check empty_file 1 "empty.txt: empty file" -- "$FT_BIN" score --metric bleu --pred "$dir/empty.txt" --ref "$dir/r1.txt"
printf '1\n2\nthree\n' > "$dir/nums.txt"
printf '1\n2\n3\n' > "$dir/good.txt"
check non_numeric 1 "nums.txt:3: not a number: 'three'" -- "$FT_BIN" score --metric regression --pred "$dir/good.txt" --ref "$dir/nums.txt"
check regression_ok 0 '"mse":0,' -- "$FT_BIN" score --metric regression --pred "$dir/good.txt" --ref "$dir/good.txt" --json
exit $fail
