#!/usr/bin/env bash
# Task seq2seq end to end (docs/seq2seq.md "Task: seq2seq"): a tiny T5 from `ftune init --arch t5` with a
# character-level Unigram tokenizer in T5's layout learns to reverse short strings ("ab cde" -> "edc ba") far
# above its untrained score (exact match, ROUGE-L of greedy generations); `ftune eval --json` has the seq2seq
# keys and the loss training printed for the same file; `ftune predict` / `ftune generate` write what eval
# generated; a run resumed from its checkpoint ends bit for bit as the uninterrupted one (dropout on); LoRA,
# IA3, prompt tuning and bottleneck adapters train and evaluate; the fields, prefix and truncation counts; bad
# input refused by name.
set -euo pipefail
FT=${FT_BIN:?}
PY=/usr/bin/python3
W=$(mktemp -d /tmp/ft_s2s.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
export OMP_NUM_THREADS=2
fail=0
ck() { if (set +o pipefail; eval "$1"); then :; else echo "FAIL: $2"; fail=1; fi; }
expect_fail() { local want=$1; shift
  if out=$("$@" 2>&1); then echo "FAIL: '$*' succeeded"; fail=1; return; fi
  grep -qF -- "$want" <<<"$out" || { echo "FAIL: '$*' said: $out (wanted: $want)"; fail=1; }; }
jget() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# tokenizer: <pad> </s> <unk> first (T5's ids 0, 1, 2), one piece per letter, Metaspace, "$A </s>"; data:
# 1-2 words of 2-4 letters from a-h, the target the whole string reversed
"$PY" - <<'EOF'
import json, os, random
sp = ["<pad>", "</s>", "<unk>"]
vocab = [[t, 0.0] for t in sp] + [["\u2581", -2.0]] + [[c, -3.0] for c in "abcdefghijklmnopqrstuvwxyz"]
meta = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
seq, eos = {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}
tok = {"version": "1.0", "truncation": None, "padding": None, "normalizer": None,
       "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                         "normalized": False, "special": True} for i, t in enumerate(sp)],
       "pre_tokenizer": meta, "decoder": meta,
       "post_processor": {"type": "TemplateProcessing", "single": [seq, eos],
                          "pair": [seq, eos, {"Sequence": {"id": "B", "type_id": 0}}, eos],
                          "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
       "model": {"type": "Unigram", "unk_id": 2, "vocab": vocab, "byte_fallback": False}}
os.makedirs("tok")
json.dump(tok, open("tok/tokenizer.json", "w"))
json.dump({"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}, open("tok/tokenizer_config.json", "w"))
r = random.Random(11)
def row():
    s = " ".join("".join(r.choice("abcdefgh") for _ in range(r.randint(2, 4))) for _ in range(r.randint(1, 2)))
    return {"source": s, "target": s[::-1]}
for name, n in (("train", 1500), ("test", 100)):
    with open(name + ".jsonl", "w") as f:
        for _ in range(n):
            f.write(json.dumps(row()) + "\n")
EOF
echo '{"vocab_size": 32, "d_model": 64, "d_kv": 16, "d_ff": 128, "num_layers": 2, "num_heads": 4,
       "relative_attention_num_buckets": 16, "relative_attention_max_distance": 32}' > t5.json
"$FT" init --arch t5 --config t5.json --out base --seed 3 > /dev/null
cp tok/* base/ # the untrained model, evaluated with the same tokenizer
cat > r.yaml <<Y
model: base
tokenizer: tok
task: seq2seq
output_dir: out
seed: 5
data: {train: train.jsonl, test: test.jsonl, val_ratio: 0.1, max_source_length: 16, max_target_length: 16}
train: {max_steps: 700, batch_size: 16}
dropout: {resid: 0, embd: 0, attn: 0}
optim: {lr: 3e-3, warmup_steps: 20, schedule: linear}
eval: {every: 350, generate_limit: 30}
checkpoint: {every: 0}
report: {progress: quiet, tensorboard: false, html: false}
Y
"$FT" train r.yaml > full.log 2>&1 || { cat full.log; exit 1; }
ck "grep -q 'targets: .* 0 truncated to 16; 0 rows skipped' full.log" "seq2seq summary line"
ck "grep -q 'test: loss .*(100 generated) rouge1' full.log" "test line with the generated scores"
ck "grep -q '\"eval/rougeL\"' out/metrics.jsonl && grep -q '\"test/exact_match\"' out/metrics.jsonl" \
   "metrics.jsonl: eval/rougeL, test/exact_match"
ck "[ \"\$(jget out/ftune_train.json task)\" = seq2seq ] && [ \"\$(jget out/ftune_train.json max_target_length)\" = 16 ]" \
   "ftune_train.json: task, max_target_length"

# before and after, on the test file
"$FT" eval --model base --task seq2seq --data test.jsonl --seq-len 16 --max-new-tokens 16 --json > before.json
"$FT" eval --model out --data test.jsonl --json --predictions preds.jsonl > after.json
for k in task n_examples loss perplexity n_tokens n_generated bleu rouge1 rouge2 rougeL rougeLsum exact_match f1; do
  ck "jget after.json $k > /dev/null" "eval --json lacks '$k'"
done
echo "before: EM $(jget before.json exact_match) rougeL $(jget before.json rougeL); after: EM $(jget after.json exact_match) rougeL $(jget after.json rougeL)"
ck "$PY -c 'import json; b, a = json.load(open(\"before.json\")), json.load(open(\"after.json\")); \
    assert b[\"exact_match\"] <= 5 and a[\"exact_match\"] >= 60 and a[\"rougeL\"] > b[\"rougeL\"] + 0.5, (b, a)'" \
   "the trained model reverses far better than the untrained one"
ck "[ \"\$(jget after.json n_generated)\" = 100 ] && [ \$(wc -l < preds.jsonl) = 100 ]" "100 generations, 100 lines"
# beam search (HF generate(num_beams=3)) scores too, on the same references
"$FT" eval --model out --data test.jsonl --json --num-beams 3 --predictions beam.jsonl > beam.json
ck "[ \"\$(jget beam.json n_generated)\" = 100 ] && $PY -c 'import json; assert json.load(open(\"beam.json\"))[\"exact_match\"] >= 60'" \
   "beam search evaluation"
# eval runs the trainer's evaluation: the test loss training printed
ck "[ \"\$(grep -o 'test: loss [0-9.]*' full.log | cut -d' ' -f3)\" = \"\$($PY -c 'import json; print(\"%.4f\" % json.load(open(\"after.json\"))[\"loss\"])')\" ]" \
   "eval's loss equals the training run's test loss"
# predict and generate write what eval generated (the same source encoding and greedy decoding)
src1=$(head -1 test.jsonl | $PY -c 'import json,sys; print(json.loads(sys.stdin.read())["source"])')
pred1=$(head -1 preds.jsonl | $PY -c 'import json,sys; print(json.loads(sys.stdin.read())["prediction"])')
ck "[ \"\$($FT predict --model out --text '$src1')\" = '$pred1' ]" "predict --text = eval's prediction"
ck "[ \"\$($FT generate --model out --prompt '$src1')\" = '$pred1' ]" "generate --prompt = eval's prediction"
"$FT" generate --model out --data test.jsonl --json > gen.jsonl
ck "[ \"\$(tail -1 gen.jsonl | $PY -c 'import json,sys; print(json.loads(sys.stdin.read())[\"exact_match\"])')\" = \"\$(jget after.json exact_match)\" ]" \
   "generate --data scores the targets as eval does"

# with dropout on (T5's 0.1), a run resumed from its step-20 checkpoint ends as the straight one, bit for bit
drop="dropout.resid=0.1 dropout.embd=0.1 dropout.attn=0.1 train.max_steps=40 eval.every=20 checkpoint.every=20
      eval.generate=false"
"$FT" train r.yaml $drop output_dir=out-d > d.log 2>&1 || { cat d.log; fail=1; }
"$FT" train r.yaml $drop output_dir=out-res resume=out-d/checkpoints/step-00000020 > res.log 2>&1 || { cat res.log; fail=1; }
ck "grep -q 'resuming from out-d/checkpoints/step-00000020' res.log" "no resume line"
ck "cmp -s out-d/model.safetensors out-res/model.safetensors" "resumed seq2seq run differs from the straight one"

# gradient accumulation: 2 micro-batches of 8 take the step of one batch of 16 (the mean over every target
# token of the step, whatever each micro-batch holds): the same losses and the same weights up to rounding
acc="train.max_steps=4 eval.every=0 eval.generate=false checkpoint.every=0 optim.schedule=constant optim.warmup_steps=0"
"$FT" train r.yaml $acc output_dir=out-b16 > b16.log 2>&1 || { cat b16.log; fail=1; }
"$FT" train r.yaml $acc output_dir=out-b8 train.batch_size=8 train.grad_accum=2 > b8.log 2>&1 || { cat b8.log; fail=1; }
ck "$PY -c 'import json; f = lambda d: [json.loads(l)[\"eval/loss\"] for l in open(d + \"/metrics.jsonl\") if \"eval/loss\" in l]; a, b = f(\"out-b16\"), f(\"out-b8\"); assert len(a) == 2 and abs(a[1] - b[1]) < 1e-5 * a[1] and a[1] < a[0], (a, b)'" \
   "16 x 1 and 8 x 2 end at the same validation loss"

# the PEFT methods of T5 (PEFT's SEQ_2_SEQ_LM adapters), each evaluated from its output directory
for m in lora ia3 prompt adapter; do
  "$FT" train r.yaml method=$m output_dir=out-$m train.max_steps=60 optim.lr=1e-2 eval.every=0 \
      checkpoint.every=0 eval.generate=false prompt.num_virtual_tokens=4 > $m.log 2>&1 || { cat $m.log; fail=1; continue; }
  ck "grep -q SEQ_2_SEQ_LM out-$m/adapter_config.json" "$m: task_type SEQ_2_SEQ_LM"
  ck "$PY -c 'import re,sys; b, a = map(float, re.search(r\"eval loss: ([0-9.]+) before, ([0-9.]+) after\", open(\"$m.log\").read()).groups()); assert a < b, (b, a)'" \
     "$m: the validation loss went down"
  "$FT" eval --model out-$m --data test.jsonl --json > $m.json 2>&1 || { cat $m.json; fail=1; }
  ck "[ \"\$(jget $m.json n_generated)\" = 100 ]" "$m: eval generates from the adapter"
done
expect_fail "BitFit trains bias terms" "$FT" train r.yaml method=bitfit output_dir=out-x

# fields, prefix, truncation counted, empty rows skipped and counted
"$PY" - <<'EOF'
import json
rows = [json.loads(l) for l in open("train.jsonl")][:200]
with open("fields.jsonl", "w") as f:
    for r in rows:
        f.write(json.dumps({"src": r["source"], "tgt": r["target"]}) + "\n")
    f.write(json.dumps({"src": "  ", "tgt": "ab"}) + "\n" + json.dumps({"src": "ab", "tgt": ""}) + "\n")
# a target of n letters is n + 2 tokens (the word piece, the letters, the eos): over 6 when n + 2 > 6
words = lambda s: s.split()
print(sum(1 for r in rows if len(r["target"]) + len(words(r["target"])) + 1 > 6), file=open("long.txt", "w"))
EOF
"$FT" train r.yaml data.train=fields.jsonl data.test=null data.val_ratio=0 data.test_ratio=0 \
    data.source_field=src data.target_field=tgt "data.prefix=reverse: " data.max_target_length=6 \
    output_dir=out-f train.max_steps=5 eval.every=0 \
    checkpoint.every=0 > f.log 2>&1 || { cat f.log; fail=1; }
# the blank source is an empty row for the cleaning (counted there), the empty target is skipped by seq2seq
ck "grep -q 'removed: empty/garbled 1,' f.log" "the blank source counted by the cleaning"
ck "grep -q \"^train: .* \$(cat long.txt) truncated to 6; 1 rows skipped (empty source or target)\" f.log" \
   "targets cut to 6 and the empty target counted ($(cat long.txt) expected: $(grep '^train:' f.log))"
ck "[ \"\$(jget out-f/ftune_train.json source_field)\" = src ] && [ \"\$(jget out-f/ftune_train.json prefix)\" = 'reverse: ' ]" \
   "ftune_train.json: source_field, prefix"

# CSV: the same fields as columns
"$PY" -c 'import csv, json, sys; w = csv.writer(open("pairs.csv", "w", newline="")); w.writerow(["target", "source"]); [w.writerow([r["target"], r["source"]]) for r in map(json.loads, list(open("train.jsonl"))[:40])]'
"$FT" train r.yaml data.train=pairs.csv data.test=null output_dir=out-csv train.max_steps=2 eval.every=0 \
    checkpoint.every=0 eval.generate=false > csv.log 2>&1 || { cat csv.log; fail=1; }
ck "grep -q '^train: 32 rows -> 32 examples' csv.log" "CSV pairs read ($(grep '^train:' csv.log))"

printf '{"source": "ab", "target": "ba"}\n{"source": "cd", "target": "dc"}\n{"source": "ef"}\n' > bad.jsonl
expect_fail "bad.jsonl:3: missing field 'target'" "$FT" train r.yaml data.train=bad.jsonl data.test=null output_dir=out-x
: > empty.jsonl
expect_fail "empty.jsonl: no rows" "$FT" train r.yaml data.train=empty.jsonl data.test=null output_dir=out-x
echo '{"vocab_size": 32, "n_embd": 16, "n_layer": 1, "n_head": 2, "n_positions": 64}' > gpt2.json
"$FT" init --arch gpt2 --config gpt2.json --out gpt2 --seed 3 > /dev/null
cp tok/* gpt2/
expect_fail "task seq2seq needs an encoder-decoder model (t5, mt5); this is a gpt2" \
    "$FT" train r.yaml model=gpt2 output_dir=out-x
expect_fail "trains on source -> target pairs: set task seq2seq" "$FT" train r.yaml task=causal_lm output_dir=out-x
expect_fail "data.pack: not with task seq2seq" "$FT" train r.yaml data.pack=true output_dir=out-x
expect_fail "must be at least 2 (a token and the eos)" "$FT" train r.yaml data.max_target_length=1 output_dir=out-x
expect_fail "task seq2seq needs an encoder-decoder model (t5, mt5), not a gpt2" \
    "$FT" eval --model gpt2 --task seq2seq --data test.jsonl
expect_fail "--predictions is for a seq2seq model" "$FT" eval --model gpt2 --task causal_lm --data test.jsonl --predictions p.jsonl
exit $fail
