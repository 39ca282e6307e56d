#!/usr/bin/env bash
# Classification from pre-tokenized JSONL (`ftune train --model M --data pretok.jsonl --task classification`):
# integer labels form the sorted label set (numerically: 3 before 10), string labels work as in text data,
# a non-integer label and an unknown label in the validation/eval file fail naming file:line; id2label in
# config.json, label_names in ftune_train.json, `ftune eval --json` on a pre-tokenized test file.
# And the flags --method / --task of `ftune train` (flag form and with a recipe; key=value wins) and
# --task / --method of `ftune compare`.
set -u
FT=${FT_BIN:?}
W=$(mktemp -d /tmp/ft_pretokcls.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
export OMP_NUM_THREADS=1
fail=0
# a check runs without pipefail: `producer | grep -q x` would fail at random when grep exits
# before the producer has written everything (SIGPIPE, status 141)
ck() { if (set +o pipefail; eval "$1"); then :; else echo "FAIL: $2"; fail=1; fi; }
expect_fail() { local want=$1; shift
  if out=$("$@" 2>&1); then echo "FAIL: '$*' succeeded"; fail=1; return; fi
  grep -qF -- "$want" <<<"$out" || { echo "FAIL: '$*' said: $out (wanted: $want)"; fail=1; }; }

# two classes told apart by their token ranges (ids 1-29 vs 35-65); 10% of the test labels flipped
gen() { awk -v n="$1" -v seed="$2" -v flip="$3" -v a="$4" -v b="$5" 'BEGIN { srand(seed);
  for (i = 0; i < n; i++) { c = int(rand()*2); L = 5 + int(rand()*5); s = "";
    for (t = 0; t < L; t++) s = s (t ? "," : "") (c ? 35 + int(rand()*31) : 1 + int(rand()*29));
    if (rand() < flip) c = 1 - c;
    printf "{\"input_ids\": [%s], \"label\": %s}\n", s, (c ? b : a) } }'; }
gen 64 1 0 3 10 > tr.jsonl; gen 16 2 0 3 10 > va.jsonl; gen 40 3 0.1 3 10 > te.jsonl
echo '{"vocab_size": 67, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 32}' > g.json
"$FT" init --arch gpt2 --config g.json --out base --seed 3 > /dev/null
common="--steps 30 --batch-size 8 --seq-len 16 --lr 3e-3 --quiet report.tensorboard=false report.html=false"

# ---- integer labels
"$FT" train --model base --data tr.jsonl --eval-data va.jsonl --out o1 --task classification $common > o1.log 2>&1 \
  || { echo "FAIL: pretok classification run:"; cat o1.log; fail=1; }
ck "tr -d ' \n' < o1/config.json | grep -q '\"id2label\":{\"0\":\"3\",\"1\":\"10\"}'" "id2label is not {0: 3, 1: 10}"
ck "tr -d ' \n' < o1/ftune_train.json | grep -q '\"label_names\":\[\"3\",\"10\"\]'" "label_names are not [3, 10]"
ck "grep -q '^task: \"classification\"' o1/recipe.yaml" "--task did not set the task key"
"$FT" eval --model o1 --data te.jsonl --json > ev.json 2>&1 || { echo "FAIL: eval:"; cat ev.json; fail=1; }
ck "grep -q '\"n_examples\":40' ev.json && grep -q '\"labels\":\[\"3\",\"10\"\]' ev.json" "eval --json: examples or labels"
acc=$(sed 's/.*"accuracy":\([0-9.e-]*\).*/\1/' ev.json)
ck "awk -v a=$acc 'BEGIN { exit !(a > 0.7 && a < 1) }'" "eval accuracy $acc not in (0.7, 1)"

# no tokenizer next to the model: classify says so (eval above needed none)
expect_fail "no tokenizer (the model was trained on pre-tokenized data)" sh -c "echo 1 2 | '$FT' classify --model o1"

# ---- string labels, ordered byte-wise
gen 64 1 0 '"spam"' '"ham"' > trs.jsonl
"$FT" train --model base --data trs.jsonl --out o2 --task classification $common > /dev/null 2>&1 || { echo "FAIL: string labels"; fail=1; }
ck "tr -d ' \n' < o2/ftune_train.json | grep -q '\"label_names\":\[\"ham\",\"spam\"\]'" "string label_names are not [ham, spam]"

# ---- bad labels fail naming file:line
{ head -1 tr.jsonl; echo '{"input_ids": [1, 2], "label": 1.5}'; } > bad.jsonl
expect_fail "bad.jsonl:2: 'label' 1.5 is not an integer" "$FT" train --model base --data bad.jsonl --out x1 --task classification $common
{ head -1 tr.jsonl; echo '{"input_ids": [1, 2], "label": [1]}'; } > bad2.jsonl
expect_fail "bad2.jsonl:2: 'label' must be an integer or a non-empty string" "$FT" train --model base --data bad2.jsonl --out x2 --task classification $common
{ head -2 va.jsonl; echo '{"input_ids": [1, 2], "label": 7}'; } > va7.jsonl
expect_fail "va7.jsonl:3: label '7' does not occur in the training data (3, 10)" \
  "$FT" train --model base --data tr.jsonl --eval-data va7.jsonl --out x3 --task classification $common
expect_fail "va7.jsonl:3: label '7' does not occur in the training data (3, 10)" "$FT" eval --model o1 --data va7.jsonl

# ---- --method in the flag form: a LoRA adapter with the head
"$FT" train --model base --data tr.jsonl --out o3 --task classification --method lora $common > o3.log 2>&1 \
  || { echo "FAIL: --method lora:"; cat o3.log; fail=1; }
ck "grep -q '\"peft_type\": \"LORA\"' o3/adapter_config.json" "--method lora did not write a LoRA adapter"
ck "grep -q 'method lora, task classification' o3.log" "--method/--task not in the run's summary line"
"$FT" eval --model o3 --data te.jsonl --json > ev3.json 2>&1 && grep -q '"accuracy"' ev3.json \
  || { echo "FAIL: eval of the pretok LoRA adapter:"; cat ev3.json; fail=1; }

# ---- --method / --task next to a recipe; a key=value override wins over the flag
cat > r.yaml <<'Y'
model: base
output_dir: o4
data: {train: tr.jsonl, format: pretokenized}
train: {max_steps: 2, batch_size: 8, seq_len: 16}
report: {progress: quiet, tensorboard: false, html: false}
Y
"$FT" train r.yaml --method lora --task classification > /dev/null 2>&1 || { echo "FAIL: recipe + --method"; fail=1; }
ck "grep -q '^method: \"lora\"' o4/recipe.yaml && grep -q '^task: \"classification\"' o4/recipe.yaml" "recipe + --method/--task"
"$FT" train r.yaml --method lora method=ia3 --task classification output_dir=o5 > /dev/null 2>&1 || { echo "FAIL: override"; fail=1; }
ck "grep -q '^method: \"ia3\"' o5/recipe.yaml" "method=ia3 did not win over --method lora"
expect_fail "method = 'lora2' is not one of" "$FT" train r.yaml --method lora2
expect_fail "task = 'cls' is not one of" "$FT" train r.yaml --task cls

# ---- compare: --task and --method (train's spelling of --methods)
"$FT" compare r.yaml --task classification --method lora,ia3 output_dir=oc > cmp.txt 2>&1 || { echo "FAIL: compare:"; cat cmp.txt; fail=1; }
ck "grep -q '^task: \"classification\"' oc/lora/recipe.yaml && grep -q '^method: \"ia3\"' oc/ia3/recipe.yaml" "compare --task/--method"
ck "[ ! -d oc/full ]" "compare --method lora,ia3 also ran full"

[ $fail = 0 ] && echo "pretok_cls: all passed"
exit $fail
