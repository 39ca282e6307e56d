#!/usr/bin/env bash
# Masked-LM continued pre-training end to end (docs/encoders.md "Masked-LM"): `ftune init` a bare tiny BERT +
# a WordPiece vocab, `ftune train` task masked_lm lowers the held-out masked-token loss; the saved
# BertForMaskedLM (head under HF names, tied decoder not stored, no pooler) evaluates to the same loss with
# `ftune eval --json` (fixed masks) twice; a resumed run ends bit for bit as the uninterrupted one (masks from
# the step); then the domain-adaptation flow: the MLM output fine-tuned with task classification (head dropped,
# pooler initialized, with notes) beats chance; LoRA continues masked_lm on the MLM output (task_type null);
# RoBERTa with packing and whole-word masking; bad input refused by name.
set -euo pipefail
FT=${FT_BIN:?}
W=$(mktemp -d /tmp/ft_mlmtrain.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
export OMP_NUM_THREADS=1
fail=0
# a check runs without pipefail: `producer | grep -q x` would fail at random when grep exits
# before the producer has written everything (SIGPIPE, status 141)
ck() { if (set +o pipefail; eval "$1"); then :; else echo "FAIL: $2"; fail=1; fi; }

# a tiny language: "<animal> eats <its food>" / "<fruit> is <its colour>", so a masked word is predictable
animals="cat dog cow hen"; foods="fish bone grass corn"; fruits="apple lemon plum lime"; colours="red yellow purple green"
{ printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n'; for w in $animals $foods $fruits $colours the eats is very and un "##ripe" "##happy"; do
  echo "$w"; done; } > vocab.txt
V=$(wc -l < vocab.txt)
gen() { awk -v n="$1" -v seed="$2" -v A="$animals" -v F="$foods" -v R="$fruits" -v C="$colours" -v json="${3:-}" 'BEGIN {
  srand(seed); split(A, a, " "); split(F, f, " "); split(R, r, " "); split(C, c, " ");
  for (i = 0; i < n; i++) { k = 1 + int(rand() * 4); animal = rand() < 0.5;
    s = animal ? "the " a[k] " eats " f[k] : "the " r[k] " is " (rand() < 0.3 ? "very " : "") c[k];
    if (rand() < 0.3) s = s " and the " (animal ? "cat is unhappy" : "plum is unripe");
    if (json) printf "{\"text\": \"%s\", \"label\": \"%s\"}\n", s, (animal ? "animal" : "fruit"); else print s } }'; }
gen 400 1 > train.txt; gen 60 2 > val.txt; gen 120 3 cls > cls.jsonl; gen 60 4 cls > cls_test.jsonl

echo "{\"vocab_size\": $V, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 64, \"max_position_embeddings\": 40}" > bert.json
"$FT" init --arch bert --config bert.json --out base --seed 3 > /dev/null
cp vocab.txt base/

cat > mlm.yaml <<Y
model: base
task: masked_lm
output_dir: out-mlm
data: {train: train.txt, validation: val.txt, format: text}
train: {max_steps: 60, batch_size: 16, seq_len: 24}
optim: {lr: 3e-3}
report: {progress: quiet, tensorboard: false}
seed: 5
Y
"$FT" train mlm.yaml > mlm.log
ck "grep -q 'no masked-LM head (cls.predictions.transform.dense.weight...): initialized' mlm.log" "mlm: no note on the initialized head"
read -r before after < <(sed -n 's/^eval loss: \([0-9.]*\) before, \([0-9.]*\) after$/\1 \2/p' mlm.log)
ck "awk -v b=${before:-0} -v a=${after:-9} 'BEGIN { exit !(a < b - 1.0) }'" "mlm: held-out masked loss ${before:-?} -> ${after:-?} did not drop by 1"
ck "grep -q BertForMaskedLM out-mlm/config.json" "mlm: architectures BertForMaskedLM"
hdr=$(head -c 8192 out-mlm/model.safetensors | tr -c '[:print:]' ' ')
ck "grep -q '\"cls.predictions.bias\"' <<<\"\$hdr\" && grep -q 'cls.predictions.transform.LayerNorm.weight' <<<\"\$hdr\"" "mlm: head saved under HF names"
ck "! grep -q 'cls.predictions.decoder' <<<\"\$hdr\" && ! grep -q 'bert.pooler' <<<\"\$hdr\"" "mlm: tied decoder or a pooler saved"
e1=$("$FT" eval --model out-mlm --data val.txt --json); e2=$("$FT" eval --model out-mlm --data val.txt --json)
ck '[ "$e1" = "$e2" ]' "mlm eval: two evaluations differ ($e1 / $e2)"
l=$(sed 's/.*"loss":\([0-9.e-]*\).*/\1/' <<<"$e1"); p=$(sed 's/.*"perplexity":\([0-9.e-]*\).*/\1/' <<<"$e1")
ck "awk -v l=$l -v p=$p -v a=${after:-0} 'BEGIN { exit !(l > 0 && (p - exp(l))^2 < 1e-6 * p * p && (l - a)^2 < 1e-6) }'" "mlm eval: loss $l / perplexity $p / training's final eval ${after:-?}"

if echo "the cat" | "$FT" classify --model out-mlm > cl.log 2>&1 || ! grep -q "masked_lm has no classes to predict" cl.log; then
  echo "FAIL: classify on a masked-LM model not refused"; cat cl.log; fail=1
fi

# resume: stopped at step 30 and resumed, the run ends as the uninterrupted one, bit for bit
"$FT" train mlm.yaml output_dir=out-a checkpoint.every=30 checkpoint.keep_last=0 > a.log
"$FT" train mlm.yaml output_dir=out-b resume=out-a/checkpoints/step-00000030 > b.log
ck "grep -q 'resuming from' b.log && cmp -s out-a/model.safetensors out-b/model.safetensors" "mlm resume: the models differ"

# domain adaptation: fine-tune the MLM output for classification
cat > cls.yaml <<Y
model: out-mlm
task: classification
output_dir: out-cls
data: {train: cls.jsonl, validation: cls_test.jsonl}
train: {max_steps: 40, batch_size: 8, seq_len: 24}
optim: {lr: 2e-3}
report: {progress: quiet, tensorboard: false}
Y
"$FT" train cls.yaml > cls.log
ck "grep -q \"masked-LM head (cls.predictions.transform.dense.weight...) is not used by task classification: dropped\" cls.log" "cls: no note on the dropped head"
ck "grep -q 'bert.pooler.dense is not in out-mlm' cls.log" "cls: no note on the initialized pooler"
acc=$("$FT" eval --model out-cls --data cls_test.jsonl --json | sed 's/.*"accuracy":\([0-9.e-]*\).*/\1/')
ck "awk -v a=$acc 'BEGIN { exit !(a >= 0.9) }'" "cls after mlm: test accuracy $acc < 0.9"
ck "grep -q BertForSequenceClassification out-cls/config.json && ! grep -q cls.predictions <(head -c 8192 out-cls/model.safetensors | tr -c '[:print:]' ' ')" "cls: saved as a classifier without the MLM head"

# LoRA continues masked_lm on the MLM output (the head is base, frozen); not on a bare encoder
"$FT" train mlm.yaml model=out-mlm output_dir=out-lora method=lora train.max_steps=10 > lora.log
ck "grep -q '\"task_type\": null' out-lora/adapter_config.json && [ -s out-lora/adapter_model.safetensors ]" "mlm lora: adapter with task_type null"
ck "\"$FT\" eval --model out-lora --data val.txt --json | grep -q perplexity" "mlm lora: eval of the adapter"
if "$FT" train mlm.yaml output_dir=out-bad method=lora > bad.log 2>&1 || ! grep -q "base has no masked-LM head: under method lora" bad.log; then
  echo "FAIL: lora masked_lm on a bare encoder not refused by name"; cat bad.log; fail=1
fi

# RoBERTa, packed, whole-word masking
echo "{\"vocab_size\": $V, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 64, \"max_position_embeddings\": 40, \"pad_token_id\": 0}" > rob.json
"$FT" init --arch roberta --config rob.json --out base-rob --seed 3 > /dev/null
cp vocab.txt base-rob/
"$FT" train mlm.yaml model=base-rob output_dir=out-rob data.pack=true data.whole_word_mask=true train.max_steps=80 > rob.log
read -r before after < <(sed -n 's/^eval loss: \([0-9.]*\) before, \([0-9.]*\) after$/\1 \2/p' rob.log)
ck "awk -v b=${before:-0} -v a=${after:-9} 'BEGIN { exit !(a < b - 0.5) }'" "roberta whole-word packed: loss ${before:-?} -> ${after:-?}"
ck "grep -q RobertaForMaskedLM out-rob/config.json && grep -q 'lm_head.bias' <(head -c 8192 out-rob/model.safetensors | tr -c '[:print:]' ' ')" "roberta: lm_head saved"

# a vocabulary without a mask token: refused naming the tokenizer
mkdir nomask && cp base/config.json base/model.safetensors nomask/ && sed 's/^\[MASK\]$/zzz/' vocab.txt > nomask/vocab.txt
if "$FT" train mlm.yaml model=nomask output_dir=out-nm > nm.log 2>&1 || ! grep -q "nomask: the tokenizer has no mask token" nm.log; then
  echo "FAIL: a tokenizer without a mask token not refused by name"; cat nm.log; fail=1
fi
[ $fail -eq 0 ] && echo "mlm_train: all passed"
exit $fail
