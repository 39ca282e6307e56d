#!/usr/bin/env bash
# Extractive QA end to end on the GENERATED SQuAD-format set (scripts/gen_qa_data.py; no real QA data is
# reachable here): `ftune init --arch bert` (tiny) + the set's WordPiece vocab, `ftune train` with task
# question_answering in full, exact match on the test file must rise from ~0 (the untrained model, the
# step-0 evaluation) to well above the trivial level (guessing one of the context's four facts: ~25%);
# `ftune eval --json` (EM/F1, counts), `ftune predict` (an answer span of the context). Then LoRA with the
# head as modules_to_save (PEFT's QUESTION_ANS adapter config), a SQuAD 2.0 run (unanswerable questions,
# HasAns/NoAns split), long contexts in several windows, and the bad inputs: an answer not at its
# answer_start (counted, skipped), a question with no room at max_length (error naming the example).
# See docs/encoders.md.
set -euo pipefail
FT=${FT_BIN:?}
SRC=${FT_SRC:?}
PY=/usr/bin/python3
W=$(mktemp -d /tmp/ft_qatrain.XXXXXX)
trap "rm -rf \"$W\"" EXIT
cd "$W"
export OMP_NUM_THREADS=1
fail=0
# a check runs without pipefail: `producer | grep -q x` would fail at random when grep exits
# before the producer has written everything (SIGPIPE, status 141)
ck() { if (set +o pipefail; eval "$1"); then :; else echo "FAIL: $2"; fail=1; fi; }
jget() { sed "s|.*\"$1\":\([0-9.e+-]*\).*|\1|"; }

# one person per context (its birth city and year, job, city of work), 4 question kinds in paraphrases
"$PY" "$SRC/scripts/gen_qa_data.py" d --train 1500 --validation 60 --test 200 --people-min 1 --people-max 1
V=$(wc -l < d/vocab.txt)
echo "{\"vocab_size\": $V, \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 128, \"max_position_embeddings\": 64, \"type_vocab_size\": 2}" > bert.json
"$FT" init --arch bert --config bert.json --out base --seed 3 > /dev/null
cp d/vocab.txt base/

recipe() { # NAME METHOD STEPS LR [extra yaml lines]
  cat > $1.yaml <<Y
model: base
task: question_answering
output_dir: out-$1
method: $2
data: {train: d/train.json, validation: d/validation.jsonl, test: d/test.json, doc_stride: 16}
train: {max_steps: $3, batch_size: 16, seq_len: 40}
optim: {lr: $4, warmup_ratio: 0.1}
eval: {every: 0, metric: exact_match}
report: {progress: quiet, tensorboard: false}
seed: 7
${5:-}
Y
}

recipe full full 600 1e-3
"$FT" train full.yaml > full.log
em0=$(grep '"step":0,' out-full/metrics.jsonl | jget eval/exact_match)
j=$("$FT" eval --model out-full --data d/test.json --json)
em=$(echo "$j" | jget exact_match); f1=$(echo "$j" | jget f1)
echo "qa_train: bert full, 600 steps: test exact_match $em f1 $f1 (untrained: validation exact_match $em0)"
ck "awk -v a=$em 'BEGIN { exit !(a >= 50) }'" "bert full: test exact_match $em < 50"
ck "awk -v a=$em0 'BEGIN { exit !(a <= 15) }'" "the untrained model's exact match $em0 is not near 0"
ck "echo '$j' | grep -q '\"n_examples\":200' && echo '$j' | grep -q '\"n_no_ans\":0'" "eval --json counts: $j"
ck "grep -q BertForQuestionAnswering out-full/config.json && grep -q 'test: loss [0-9.]* exact_match' full.log" \
  "saved config / test line"
ans=$("$FT" predict --model out-full --question "In which city was Ada Keller born?" \
  --context "Ada Keller was born in Paris in 1950. Ada Keller works as a pilot in Oslo." | sed -n 1p)
ck "case '$ans' in Paris|Oslo|1950|pilot) true ;; *) false ;; esac" "predict: '$ans' is not one of the context's facts"

# LoRA: PEFT's default targets, the head trained in full as modules_to_save
recipe lora lora 60 5e-3
"$FT" train lora.yaml > lora.log
ck "grep -q '\"task_type\": \"QUESTION_ANS\"' out-lora/adapter_config.json && grep -A1 modules_to_save out-lora/adapter_config.json | grep -q qa_outputs" \
  "lora: adapter_config QUESTION_ANS with modules_to_save qa_outputs"
ck "\"$FT\" eval --model out-lora --data d/test.json --json | grep -q exact_match" "lora: eval of the adapter"

# SQuAD 2.0: a fifth of the questions about someone the context does not mention; long contexts (two
# people) in several windows of 32 tokens
"$PY" "$SRC/scripts/gen_qa_data.py" d2 --train 200 --validation 20 --test 60 --people-min 2 --people-max 2 --negatives 0.2 --seed 5
recipe v2 full 20 2e-3 "qa: {version_2_with_negative: true, null_score_diff_threshold: 0.5}"
sed -i 's#d/#d2/#g; s/seq_len: 40/seq_len: 32/; s/doc_stride: 16/doc_stride: 8/' v2.yaml
# the second set's words: a model of its own vocabulary
V2=$(wc -l < d2/vocab.txt)
sed "s/\"vocab_size\": $V/\"vocab_size\": $V2/" bert.json > bert2.json
"$FT" init --arch bert --config bert2.json --out base2 --seed 3 > /dev/null
cp d2/vocab.txt base2/
sed -i 's/^model: base$/model: base2/' v2.yaml
"$FT" train v2.yaml > v2.log
ck "grep -q 'without an answer' v2.log && grep -q 'windows of at most 32 tokens' v2.log" "v2: data summary"
nw=$(sed -n 's/.*d2\/test.json: 60 questions ([0-9]* without an answer) in \([0-9]*\) windows.*/\1/p' v2.log)
ck "[ \"${nw:-0}\" -gt 60 ]" "v2: long contexts should need several windows ($nw windows for 60 questions)"
j=$("$FT" eval --model out-v2 --data d2/test.json --json)
ck "echo '$j' | grep -q '\"HasAns_exact\"' && echo '$j' | grep -q '\"NoAns_exact\"' && ! echo '$j' | grep -q '\"n_no_ans\":0'" \
  "v2: HasAns / NoAns split: $j"

# bad input: an answer not at its answer_start is counted and skipped; no room for the context
head -3 d/validation.jsonl > bad.jsonl
"$PY" - bad.jsonl <<'P'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows[1]["answers"]["answer_start"] = [rows[1]["answers"]["answer_start"][0] + 1]
open(sys.argv[1], "w").write("".join(json.dumps(r) + "\n" for r in rows))
P
"$FT" eval --model out-full --data bad.jsonl > bad.log
ck "grep -q 'is not at answer_start' bad.log && grep -q '1 answers not at their answer_start skipped' bad.log && grep -q '2 questions' bad.log" \
  "bad answer not reported / skipped: $(cat bad.log)"
rc=0; echo "who is it" | "$FT" classify --model out-full > cl.out 2> cl.err || rc=$?
ck "[ $rc = 1 ] && grep -q 'task question_answering: ftune classify takes a classification or regression model' cl.err" \
   "classify refuses a QA model by its task, no crash (rc $rc: $(cat cl.err))"
if "$FT" train full.yaml data.max_length=12 output_dir=out-bad > bad2.log 2>&1; then
  echo "FAIL: max_length 12 leaves no room for the context but training ran"; fail=1
else
  ck "grep -q 'd/train.json: data\[0\].paragraphs\[0\] (id gen-000000): the question takes' bad2.log" \
    "no-room error does not name the example: $(tail -1 bad2.log)"
fi
exit $fail
