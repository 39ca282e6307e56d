#!/usr/bin/env bash
# ftune eval / classify / generate / compare on tiny models trained by `ftune train`: eval --json keys,
# accuracy equal to `ftune score` on classify's predictions, eval of an adapter dir, deterministic greedy
# and seeded generation, stop strings, generation metrics, compare's table and files; and bad input
# (no ftune_train.json, an unknown label, an adapter for another base).
set -euo pipefail
FT=${FT_BIN:?}
TESTS=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/ft_evalcli.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
export OMP_NUM_THREADS=1
fail=0
# a check runs without pipefail: `producer | grep -q x` would fail at random when grep exits
# before the producer has written everything (SIGPIPE, status 141)
ck() { if (set +o pipefail; eval "$1"); then :; else echo "FAIL: $2"; fail=1; fi; }
expect_fail() { local want=$1; shift
  if out=$("$@" 2>&1); then echo "FAIL: '$*' succeeded"; fail=1; return; fi
  grep -qF -- "$want" <<<"$out" || { echo "FAIL: '$*' said: $out (wanted: $want)"; fail=1; }; }

# a WordPiece vocabulary and sentences of positive/negative/neutral words; 15% of the labels flipped so
# accuracy stays below 1 (the equality with `ftune score` is then not trivially 1 = 1)
. "$TESTS/lib/sentiment.sh"
sentiment_vocab vocab.txt
gen() { sentiment_gen "$@"; }
gen 200 1 0 > train.jsonl; gen 40 2 0 > val.jsonl; gen 60 3 0.15 > test.jsonl
echo '{"vocab_size": 32, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 32}' > g.json
"$FT" init --arch gpt2 --config g.json --out base --seed 3 > /dev/null
cp vocab.txt base/
cat > cls.yaml <<'Y'
model: base
task: classification
output_dir: out_cls
data: {train: train.jsonl, validation: val.jsonl}
train: {max_steps: 60, batch_size: 8, seq_len: 16}
optim: {lr: 3e-3}
report: {progress: quiet, tensorboard: false}
Y
"$FT" train cls.yaml > /dev/null

# ---- eval ----
"$FT" eval --model out_cls --data test.jsonl --json > ev.json
for k in accuracy f1_macro f1_micro f1_weighted precision_macro recall_macro precision_weighted recall_weighted \
         loss confusion_matrix labels; do
  ck "grep -q '\"$k\":' ev.json" "eval --json lacks $k"
done
acc=$(sed 's/.*"accuracy":\([0-9.e-]*\).*/\1/' ev.json)
ck "awk -v a=$acc 'BEGIN { exit !(a > 0.6 && a < 1) }'" "accuracy $acc not in (0.6, 1): the model did not learn or the noise is gone"
"$FT" eval --model out_cls --data test.jsonl > ev.txt
ck "grep -q 'confusion matrix' ev.txt && grep -q '^macro' ev.txt" "eval table"
# classify on the same texts; ftune score on its predictions gives eval's accuracy
sed 's/.*"text": "\([^"]*\)".*/\1/' test.jsonl > texts.txt
sed 's/.*"label": "\([^"]*\)".*/\1/' test.jsonl > gold.txt
"$FT" classify --model out_cls < texts.txt > cls.tsv
ck '[ "$(wc -l < cls.tsv)" = 60 ]' "classify: one line per input"
ck "awk -F'\t' '(\$1 != \"pos\" && \$1 != \"neg\") || \$2 < 0.5 || \$2 > 1 { bad = 1 } END { exit bad }' cls.tsv" \
   "classify: label and probability in [0.5, 1] per line"
cut -f1 cls.tsv > pred.txt
sacc=$("$FT" score --metric classification --pred pred.txt --ref gold.txt --json | sed 's/.*"accuracy":\([0-9.e-]*\).*/\1/')
ck "awk -v a=$acc -v b=$sacc 'BEGIN { exit !((a - b)^2 < 1e-18) }'" "eval accuracy $acc != score on classify's predictions $sacc"
# data.append_eos: training, eval and classify all end each text with the eos token (here the
# vocabulary's "</s>"), so classify's predictions still give exactly eval's accuracy
"$FT" train cls.yaml data.append_eos=true output_dir=out_eos train.max_steps=30 > /dev/null
eacc=$("$FT" eval --model out_eos --data test.jsonl --json | sed 's/.*"accuracy":\([0-9.e-]*\).*/\1/')
"$FT" classify --model out_eos < texts.txt | cut -f1 > epred.txt
esacc=$("$FT" score --metric classification --pred epred.txt --ref gold.txt --json | sed 's/.*"accuracy":\([0-9.e-]*\).*/\1/')
ck "awk -v a=$eacc -v b=$esacc 'BEGIN { exit !((a - b)^2 < 1e-18 && a > 0.5) }'" "append_eos: eval accuracy $eacc != classify's $esacc"
# data.max_windows: texts longer than seq_len are cut into overlapping windows (6 tokens: [CLS], 3 words,
# [SEP], </s>; most texts need 2 or 3); eval scores each text once from the mean of its windows' logits
# (the confusion matrix counts 60 texts, not windows) and classify, averaging the same windows, agrees
"$FT" train cls.yaml data.append_eos=true data.max_windows=4 data.window_overlap=1 train.seq_len=6 \
  output_dir=out_win train.max_steps=60 > win.log
ck "grep -q 'train: 180 rows -> 4[0-9][0-9] examples' win.log" "windows: 180 training texts should give 400-499 windows"
"$FT" eval --model out_win --data test.jsonl --json > wev.json
wacc=$(sed 's/.*"accuracy":\([0-9.e-]*\).*/\1/' wev.json)
ck "[ \"\$(/usr/bin/python3 -c 'import json,sys; print(sum(map(sum, json.load(open(sys.argv[1]))[\"confusion_matrix\"])))' wev.json)\" = 60 ]" \
   "windows: eval's confusion matrix does not count 60 texts"
"$FT" classify --model out_win < texts.txt | cut -f1 > wpred.txt
wsacc=$("$FT" score --metric classification --pred wpred.txt --ref gold.txt --json | sed 's/.*"accuracy":\([0-9.e-]*\).*/\1/')
ck "awk -v a=$wacc -v b=$wsacc 'BEGIN { exit !((a - b)^2 < 1e-18 && a > 0.6) }'" "windows: eval accuracy $wacc != classify's $wsacc"
expect_fail "data.window_overlap 4" "$FT" train cls.yaml data.max_windows=4 data.window_overlap=4 train.seq_len=6 output_dir=out_bad
sed -i 's#</s>#x_eos#' vocab.txt
cp vocab.txt base_noeos_vocab.txt
mkdir -p base_noeos && cp base/config.json base/model.safetensors base_noeos/ && cp base_noeos_vocab.txt base_noeos/vocab.txt
expect_fail "no end-of-sequence token" "$FT" train cls.yaml model=base_noeos data.append_eos=true output_dir=out_noeos
sed -i 's#x_eos#</s>#' vocab.txt
"$FT" classify --model out_cls --json < texts.txt > call.json; head -1 call.json > c1.json
ck "grep -q '\"probs\":{\"neg\":' c1.json" "classify --json has probs"

# ---- errors ----
expect_fail "no ftune_train.json" "$FT" eval --model base --data test.jsonl
expect_fail "test2.jsonl:2: label 'meh' is not one the model was trained on (neg, pos)" \
  sh -c "sed '2s/\"label\": \"[a-z]*\"/\"label\": \"meh\"/' test.jsonl > test2.jsonl; \"$FT\" eval --model out_cls --data test2.jsonl"
echo '{"vocab_size": 32, "n_embd": 48, "n_layer": 2, "n_head": 4, "n_positions": 32}' > g2.json
"$FT" init --arch gpt2 --config g2.json --out base2 --seed 3 > /dev/null

# ---- compare (LoRA's output is an adapter dir, used below) ----
"$FT" compare cls.yaml output_dir=cmp train.max_steps=20 --methods full,lora,bitfit > cmp.txt 2> cmp.err
ck "grep -Eq '^full +27584 +100.000%' cmp.txt" "compare: full trains every parameter"
ck "[ \$(grep -Ec '^(full|lora|bitfit) +[0-9]+ +[0-9.]+% +[0-9.]+ +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+$' cmp.txt) = 3 ]" "compare: three table rows"
ck "grep -Eq '^method .* test acc +test F1$' cmp.txt" "compare: test accuracy and F1 columns (the recipe has a test split)"
ck "[ -s cmp/compare.html ] && grep -q '<svg' cmp/compare.html && [ -s cmp/compare.json ]" "compare: report files"
ck "grep -q 'test accuracy' cmp/compare.html" "compare: the html names each method's test accuracy"
ck "[ -s cmp/lora/adapter_model.safetensors ] && [ -s cmp/full/model.safetensors ]" "compare: each method's output"
lt=$(sed -n 's/^lora *\([0-9]*\) .*/\1/p' cmp.txt); bt=$(sed -n 's/^bitfit *\([0-9]*\) .*/\1/p' cmp.txt)
ck "[ '$lt' -gt 0 ] && [ '$lt' -lt 27584 ] && [ '$bt' -gt 0 ] && [ '$bt' -lt '$lt' ]" "compare: trainable counts (lora $lt, bitfit $bt)"
"$FT" compare cls.yaml output_dir=cmp2 train.max_steps=5 --methods bitfit --json > cj.json 2> /dev/null
ck "grep -q '\"peak_mb\":' cj.json && grep -q '\"method\":\"bitfit\"' cj.json" "compare --json"
expect_fail "unknown method 'qlora'" "$FT" compare cls.yaml output_dir=cmp3 --methods full,qlora
# method-scoped overrides and dora (LoRA with use_dora): each run's recipe.yaml records what it got
"$FT" compare cls.yaml output_dir=cmp4 train.max_steps=3 optim.lr=1e-3 --methods lora,dora lora:optim.lr=0.02 \
  dora:lora.r=4 --json > cj4.json 2> /dev/null
ck "grep -Eq 'lr: 0?\.02\b|lr: 2e-0?2' cmp4/lora/recipe.yaml && grep -Eq 'lr: 0?\.001\b|lr: 1e-0?3' cmp4/dora/recipe.yaml" "compare: lora:optim.lr reaches the lora run only"
ck "grep -Eq 'use_dora: true' cmp4/dora/recipe.yaml && grep -Eq 'use_dora: false' cmp4/lora/recipe.yaml && grep -Eq '\br: 4\b' cmp4/dora/recipe.yaml && grep -Eq '\br: 8\b' cmp4/lora/recipe.yaml" "compare: dora = lora + use_dora, its own overrides"
ck "grep -q '\"use_dora\": *true' cmp4/dora/adapter_config.json" "compare: the dora run saves a DoRA adapter"
expect_fail "ia3 is not among --methods" "$FT" compare cls.yaml output_dir=cmp5 --methods lora ia3:optim.lr=1
expect_fail "'x' is not a method" "$FT" compare cls.yaml output_dir=cmp5 --methods lora x:optim.lr=1
expect_fail "unknown key" "$FT" compare cls.yaml output_dir=cmp5 --methods lora lora:optim.lrr=1

# eval of an adapter directory, alone and as --adapter on its base: the same numbers
"$FT" eval --model cmp/lora --data test.jsonl --json > ea.json
"$FT" eval --model base --adapter cmp/lora --data test.jsonl --json > eb.json
ck "cmp -s ea.json eb.json && grep -q '\"accuracy\":' ea.json" "adapter dir vs --model base --adapter"
expect_fail "does not belong to this gpt2 model" "$FT" eval --model base2 --adapter cmp/lora --data test.jsonl

# ---- generate ----
sed 's/, "label": "[a-z]*"//' train.jsonl > lm.jsonl
cat > lm.yaml <<'Y'
model: base
task: causal_lm
output_dir: out_lm
data: {train: lm.jsonl, val_ratio: 0.1, test_ratio: 0}
train: {max_steps: 40, batch_size: 8, seq_len: 16}
optim: {lr: 3e-3}
report: {progress: quiet, tensorboard: false}
Y
"$FT" train lm.yaml > /dev/null
"$FT" eval --model out_lm --data lm.jsonl --json > el.json
ck "grep -q '\"perplexity\":' el.json && grep -q '\"loss\":' el.json" "causal LM eval keys"
g1=$("$FT" generate --model out_lm --prompt "good great" --max-new-tokens 8)
g2=$("$FT" generate --model out_lm --prompt "good great" --max-new-tokens 8)
ck '[ -n "$g1" ] && [ "$g1" = "$g2" ]' "greedy generation deterministic ('$g1' vs '$g2')"
s1=$("$FT" generate --model out_lm --prompt "good great" --do-sample --seed 5 --max-new-tokens 12)
s2=$("$FT" generate --model out_lm --prompt "good great" --do-sample --seed 5 --max-new-tokens 12)
s3=$("$FT" generate --model out_lm --prompt "good great" --do-sample --seed 6 --max-new-tokens 12)
ck '[ "$s1" = "$s2" ]' "seeded sampling reproducible"
ck '[ "$s1" != "$s3" ]' "another seed gives another text ('$s1' vs '$s3')"
# stop string: cut before the first occurrence of a word the unstopped text has
word=$(echo "$s1" | awk '{ print $3 }')
st=$("$FT" generate --model out_lm --prompt "good great" --do-sample --seed 5 --max-new-tokens 12 --stop "$word" --json)
want=${s1%%"$word"*}
ck "grep -qF '\"text\":\"$want\",\"finish\":\"stop\"' <<<'$st'" "stop string '$word': got $st, wanted text '$want'"
printf '{"prompt": "good great", "response": "fine nice"}\n{"prompt": "bad", "response": "so sad"}\n' > gen.jsonl
"$FT" generate --model out_lm --data gen.jsonl --max-new-tokens 4 --out gen_out.jsonl --json > gm.json
ck '[ "$(wc -l < gen_out.jsonl)" = 2 ] && grep -q "\"reference\":\"so sad\"" gen_out.jsonl' "generate --data rows"
for k in bleu rouge1 rougeL exact_match; do ck "grep -q '\"$k\":' gm.json" "generation metrics lack $k"; done
expect_fail "top_p" "$FT" generate --model out_lm --prompt x --top-p 0
expect_fail "needs a causal LM" "$FT" generate --model out_cls --prompt "good"

[ $fail = 0 ] && echo "eval_cli: all checks passed"
exit $fail
