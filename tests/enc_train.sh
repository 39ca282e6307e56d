#!/usr/bin/env bash
# Encoders end to end: `ftune init --arch bert|roberta|distilbert` + a WordPiece vocab, `ftune train` with
# task classification on text pairs (data.text_pair_field → token types) in full and with LoRA, activation
# checkpointing giving the same run, bf16 compute, regression, `ftune eval` and `ftune classify`; the accuracy must rise
# well above chance. See docs/encoders.md.
set -euo pipefail
FT=${FT_BIN:?}
W=$(mktemp -d /tmp/ft_enctrain.XXXXXX)
trap "rm -rf \"$W\"" EXIT
cd "$W"
export OMP_NUM_THREADS=1
fail=0
# a check runs without pipefail: `producer | grep -q x` would fail at random when grep exits
# before the producer has written everything (SIGPIPE, status 141)
ck() { if (set +o pipefail; eval "$1"); then :; else echo "FAIL: $2"; fail=1; fi; }

pos="good great fine nice happy love best super"; neg="bad awful poor sad hate worst ugly evil"
neu="the a it is was very so and"
{ printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n'; for w in $pos $neg $neu; do echo "$w"; done; } > vocab.txt
V=$(wc -l < vocab.txt)
# pairs: the label is the polarity of the SECOND text (the first is noise of either polarity); the pair's
# regression target is the number of positive words in the second text
gen() { awk -v n="$1" -v seed="$2" -v pos="$pos" -v neg="$neg" -v neu="$neu" 'BEGIN { srand(seed);
  np = split(pos, P, " "); nn = split(neg, N, " "); nu = split(neu, U, " ");
  for (i = 0; i < n; i++) { for (k = 0; k < 2; k++) { c[k] = int(rand()*2); s[k] = ""; np2[k] = 0; L = 3 + int(rand()*3);
      for (t = 0; t < L; t++) { if (rand() < 0.4) w = U[1+int(rand()*nu)]; else if (c[k]) w = N[1+int(rand()*nn)];
        else { w = P[1+int(rand()*np)]; np2[k]++ } s[k] = s[k] (t ? " " : "") w } }
    printf "{\"text\": \"%s\", \"second\": \"%s\", \"label\": \"%s\", \"score\": %d}\n", s[0], s[1], (c[1] ? "neg" : "pos"), np2[1] } }'; }
gen 240 1 > train.jsonl; gen 40 2 > val.jsonl; gen 60 3 > test.jsonl

for arch in bert roberta distilbert; do
  case $arch in
    distilbert) echo "{\"vocab_size\": $V, \"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"hidden_dim\": 64, \"max_position_embeddings\": 40, \"pad_token_id\": 0}" > $arch.json ;;
    *) echo "{\"vocab_size\": $V, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 64, \"max_position_embeddings\": 40, \"pad_token_id\": 0, \"type_vocab_size\": 2}" > $arch.json ;;
  esac
  "$FT" init --arch $arch --config $arch.json --out base-$arch --seed 3 > /dev/null
  cp vocab.txt base-$arch/
done
ck "grep -q '\"architectures\": \[\"DistilBertModel\"\]' base-distilbert/config.json || grep -A1 architectures base-distilbert/config.json | grep -q DistilBertModel" "init: DistilBertModel architecture"

recipe() { # NAME ARCH METHOD [STEPS LR]
  cat > $1.yaml <<Y
model: base-$2
task: classification
output_dir: out-$1
data: {train: train.jsonl, validation: val.jsonl, text_pair_field: second}
train: {max_steps: ${4:-80}, batch_size: 8, seq_len: 24}
optim: {lr: ${5:-2e-3}}
method: $3
report: {progress: quiet, tensorboard: false}
seed: 7
Y
}
acc_of() { "$FT" eval --model "$1" --data test.jsonl --json | sed 's/.*"accuracy":\([0-9.e-]*\).*/\1/'; }

recipe bert bert full
"$FT" train bert.yaml > bert.log
a=$(acc_of out-bert)
ck "awk -v a=$a 'BEGIN { exit !(a >= 0.8) }'" "bert full on pairs: test accuracy $a < 0.8"
ck "grep -q BertForSequenceClassification out-bert/config.json && grep -q '\"text_pair_field\": \"second\"' out-bert/ftune_train.json" "bert: HF head config and the pair field kept"

# activation checkpointing: the same losses step for step
recipe bertck bert full
sed -i 's/^train: {\(.*\)}$/train: {\1, activation_checkpointing: true}/; /^train.activation/d' bertck.yaml
"$FT" train bertck.yaml > bertck.log
grep -o '"train/loss":[^,]*' out-bert/metrics.jsonl > l1 || true; grep -o '"train/loss":[^,]*' out-bertck/metrics.jsonl > l2 || true
ck '[ "$(wc -l < l1)" -ge 10 ] && cmp -s l1 l2' "activation checkpointing changed the losses (or none were logged)"

# bf16 compute (falls back to fp32 with a note where the CPU has no bf16)
recipe bertbf bert full
echo "precision: bf16" >> bertbf.yaml
"$FT" train bertbf.yaml > bertbf.log 2>&1
a=$(acc_of out-bertbf)
ck "awk -v a=$a 'BEGIN { exit !(a >= 0.8) }'" "bert full in bf16: test accuracy $a < 0.8"

recipe roblora roberta lora 120 1e-2
"$FT" train roblora.yaml > roblora.log
ck "[ -s out-roblora/adapter_model.safetensors ] && grep -q '\"query\"' out-roblora/adapter_config.json" "roberta LoRA: adapter with PEFT's default targets"
a=$(acc_of out-roblora)
ck "awk -v a=$a 'BEGIN { exit !(a >= 0.7) }'" "roberta LoRA on pairs: test accuracy $a < 0.7"

recipe distil distilbert full 80 5e-3
sed -i 's/text_pair_field: second/text_field: second/' distil.yaml   # single texts: the second ones
"$FT" train distil.yaml > distil.log
sed 's/.*"second": "\([^"]*\)".*/\1/' test.jsonl > texts.txt
sed 's/.*"label": "\([^"]*\)".*/\1/' test.jsonl > gold.txt
"$FT" classify --model out-distil < texts.txt > cls.tsv
ck '[ "$(wc -l < cls.tsv)" = 60 ] && awk -F"\t" "\$1 != \"pos\" && \$1 != \"neg\" { bad = 1 } END { exit bad }" cls.tsv' "distilbert classify: a label per line"
right=$(cut -f1 cls.tsv | paste - gold.txt | awk '$1 == $2' | wc -l)
ck "[ $right -ge 48 ]" "distilbert classify: only $right of 60 right"

# regression on pairs
cat > reg.yaml <<Y
model: base-bert
task: regression
output_dir: out-reg
data: {train: train.jsonl, validation: val.jsonl, text_pair_field: second, label_field: score}
train: {max_steps: 80, batch_size: 8, seq_len: 24}
optim: {lr: 5e-3}
report: {progress: quiet, tensorboard: false}
Y
"$FT" train reg.yaml > reg.log
ck "grep -q '\"problem_type\": \"regression\"' out-reg/config.json" "regression: problem_type in config.json"
r2=$("$FT" eval --model out-reg --data test.jsonl --json | sed 's/.*"r2":\([0-9.e-]*\).*/\1/')
ck "awk -v a=$r2 'BEGIN { exit !(a >= 0.6) }'" "bert regression on pairs: r2 $r2 < 0.6"
[ $fail -eq 0 ] && echo "enc_train: all passed"
exit $fail
