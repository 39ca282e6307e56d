#!/usr/bin/env bash
# T5 decoding against an independent Python implementation of Hugging Face generate()'s rules
# (tests/ref/beam_ref.py over the PyTorch T5 of tests/ref/t5_ref.py): `ftune generate --prompt-ids ... --json`
# on tiny v1.0 (relu, tied) and v1.1 (gated-gelu, untied) checkpoints written by `ftune init`, three sources,
# greedy and beam search (num_beams 2 and 4; length_penalty 0.6 / 1 / 2; early_stopping false / true / never;
# no_repeat_ngram_size 0 / 2; min_new_tokens 0 / 2 / 3; a repetition penalty): the same ids, the same finish
# and the same final beam score (1e-5). Bad options are refused by name. See docs/seq2seq.md ("Decoding").
# Exit 77 = skipped (no torch). Env: FT_BIN, FT_SRC, FT_PYTHON, FT_PARITY_KEEP=1 (keep the work directory).
set -u
NAME=t5_beam
PY=${FT_PYTHON:-/usr/bin/python3}
SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
REF=$SRC/tests/ref
FT=${FT_BIN:-$SRC/build/ftune}
if ! "$PY" -c "import torch, numpy" >/dev/null 2>&1; then
    echo "$NAME: skipped: $PY cannot import torch and numpy (install python3-torch)"
    exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/ftune-$NAME.XXXXXX")
if [ "${FT_PARITY_KEEP:-0}" = 1 ]; then echo "$NAME: work directory $work"; else trap 'rm -rf "$work"' EXIT; fi
fails=0
fail() { echo "$NAME: FAIL $1"; fails=$((fails + 1)); }

"$PY" "$REF/beam_ref.py" configs --work "$work" || exit 1
while IFS=$'\t' read -r kind arch; do
    "$FT" init --arch "$arch" --config "$work/cfg-$kind.json" --out "$work/$kind" --seed 5 >"$work/init.log" 2>&1 ||
        { fail "ftune init $kind"; cat "$work/init.log"; exit 1; }
done <"$work/kinds.tsv"
"$PY" "$REF/beam_ref.py" prepare --work "$work" || exit 1
while IFS=$'\t' read -r name model ids opts; do
    # shellcheck disable=SC2086  # the options are words
    if ! "$FT" generate --model "$model" --prompt-ids "$ids" $opts --threads 1 --json >"$work/$name.out" 2>"$work/$name.err"; then
        fail "$name: ftune generate failed: $(cat "$work/$name.err")"
    fi
done < <(awk -F'\t' '{ o = $4; for (i = 5; i <= NF; i++) o = o " " $i; print $1 "\t" $2 "\t" $3 "\t" o }' "$work/cases.tsv")
"$PY" "$REF/beam_ref.py" compare --work "$work" || fails=$((fails + 1))

# bad options, refused by name
M="$work/t5-b"
expect_fail() { # expected text, arguments...
    local want=$1
    shift
    if "$FT" generate --model "$M" --prompt-ids "3 4 1" "$@" >"$work/bad.log" 2>&1 || ! grep -qF -- "$want" "$work/bad.log"; then
        fail "'$*' is not refused with '$want':"
        sed 's/^/    /' "$work/bad.log"
    fi
}
expect_fail "num_beams 41 is larger than the vocabulary (40 ids)" --num-beams 41
expect_fail "min_new_tokens 9 must be in [0, max_new_tokens 8]" --max-new-tokens 8 --min-new-tokens 9
expect_fail "early_stopping 'sometimes' must be true, false or never" --num-beams 2 --early-stopping sometimes
expect_fail "num_return_sequences 3 must be in [1, num_beams 2]" --num-beams 2 --num-return-sequences 3
expect_fail "beam sampling is not supported" --num-beams 2 --do-sample
expect_fail "source token 40 (position 1) is outside the vocabulary [0, 40)" --prompt-ids "3 40"
# the 3 best hypotheses, best first, the first equal to the single answer
"$FT" generate --model "$M" --prompt-ids "5 9 3 1" --num-beams 4 --num-return-sequences 3 --max-new-tokens 12 \
    --json >"$work/nret.out" 2>&1 || fail "num_return_sequences: $(cat "$work/nret.out")"
"$FT" generate --model "$M" --prompt-ids "5 9 3 1" --num-beams 4 --max-new-tokens 12 --json >"$work/n1.out" 2>&1 ||
    fail "num_beams 4: $(cat "$work/n1.out")"
"$PY" - "$work/nret.out" "$work/n1.out" <<'EOF' || fail "num_return_sequences"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
s = a["sequences"]
assert len(s) == 3, s
assert [x["score"] for x in s] == sorted((x["score"] for x in s), reverse=True), s
assert s[0]["ids"] == a["ids"] == b["ids"] and s[0]["score"] == b["score"], (a, b)
assert len({tuple(x["ids"]) for x in s}) == 3, s
EOF
# text in, text out: a T5 with a T5-layout Unigram tokenizer (tests/tok/unigram.js, needs node and the npm
# fixtures): --prompt reads the text as HF's tokenizer(text) does (</s> kept at the end), the answer is the
# same as from those ids, its text their decoding; a decoder start id past the tokenizer's vocabulary and a
# null decoder_start_token_id are refused
NPM_DIR="$SRC/.cache/npm"
if command -v node >/dev/null 2>&1 && [ -d "$NPM_DIR/node_modules/tokenizers" ] &&
    TOK_DIR=$("$SRC/scripts/fetch-fixtures.sh" 2>/dev/null) &&
    node "$SRC/tests/tok/unigram.js" "$NPM_DIR" "$TOK_DIR" "$SRC/tests/tok/corpus.jsonl" "$work/tok" 2>/dev/null; then
    V=$("$PY" -c "import json; print(len(json.load(open('$work/tok/uni-t5/tokenizer.json'))['model']['vocab']))")
    # the model's vocabulary 8 ids past the tokenizer's, as t5-small's 32128 past 32100
    echo "{\"vocab_size\": $((V + 8)), \"d_model\": 32, \"d_kv\": 8, \"d_ff\": 48, \"num_layers\": 2, \"num_heads\": 4}" >"$work/cfg-txt.json"
    "$FT" init --arch t5 --config "$work/cfg-txt.json" --out "$work/txt" --seed 3 >/dev/null 2>&1 || fail "ftune init (text)"
    cp "$work/tok/uni-t5/tokenizer.json" "$work/txt/"
    P="translate English to German: The house is wonderful."
    ids=$(echo "{\"text\": \"$P\"}" | "$FT" tokenize --tokenizer "$work/txt" --jsonl --special |
        "$PY" -c "import json, sys; print(' '.join(map(str, json.load(sys.stdin)['ids'])))")
    for nb in 1 3; do
        "$FT" generate --model "$work/txt" --prompt "$P" --num-beams $nb --max-new-tokens 10 --json \
            >"$work/txt$nb.json" 2>&1 || fail "generate --prompt (num_beams $nb): $(cat "$work/txt$nb.json")"
        "$FT" generate --model "$work/txt" --prompt-ids "$ids" --num-beams $nb --max-new-tokens 10 --json \
            >"$work/ids$nb.json" 2>&1 || fail "generate --prompt-ids (num_beams $nb): $(cat "$work/ids$nb.json")"
        "$PY" - "$work/txt$nb.json" "$work/ids$nb.json" "$ids" <<'PYEOF' || fail "text generation (num_beams $nb)"
import json, sys
t, i = (json.load(open(p)) for p in sys.argv[1:3])
assert sys.argv[3].split()[-1] == "1" and t["prompt_tokens"] == len(sys.argv[3].split()) == i["prompt_tokens"], (t, i)
assert t["text"] == i["text"] and t["new_tokens"] == len(i["ids"]) and t["finish"] == i["finish"], (t, i)
assert t.get("score") == i.get("score"), (t, i)
PYEOF
    done
    cfg="$work/txt/config.json"
    "$PY" -c "import json; c = json.load(open('$cfg')); c['decoder_start_token_id'] = $((V + 3)); json.dump(c, open('$cfg', 'w'))"
    M="$work/txt"
    expect_fail "t5: decoder_start_token_id $((V + 3)) is not in the tokenizer's vocabulary ($V ids)" --num-beams 2
    "$PY" -c "import json; c = json.load(open('$cfg')); c['decoder_start_token_id'] = None; json.dump(c, open('$cfg', 'w'))"
    expect_fail "t5: config.json has no decoder_start_token_id (null)" --num-beams 2
else
    echo "$NAME: text generation part skipped (no node or npm fixtures)"
fi
if [ "$fails" -eq 0 ]; then echo "$NAME: all passed"; else echo "$NAME: $fails failure(s)"; fi
[ "$fails" -eq 0 ]
