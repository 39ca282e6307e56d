#!/usr/bin/env bash
# Token classification end to end (docs/encoders.md): `ftune init` + a WordPiece vocab whose words split into
# several pieces, generated person/location tagging data (JSONL and CoNLL columns), `ftune train` with task
# token_classification (BERT full, DistilBERT LoRA on CoNLL, label_all_tokens), `ftune eval --json` (word
# accuracy, seqeval entity F1), `ftune predict --text / --jsonl`, the most-frequent-tag `ftune baseline`,
# and bad input: a tag list of the wrong length (file:line), unknown tags at evaluation, prompt tuning refused.
set -uo pipefail
FT=${FT_BIN:?}
W=$(mktemp -d /tmp/ft_tokcls.XXXXXX)
trap "rm -rf \"$W\"" EXIT
cd "$W"
export OMP_NUM_THREADS=1
fail=0
# a check runs without pipefail: `producer | grep -q x` would fail at random when grep exits
# before the producer has written everything (SIGPIPE, status 141)
ck() { if (set +o pipefail; eval "$1"); then :; else echo "FAIL: $2"; fail=1; fi; }
num() { sed "s/.*\"$1\":\([0-9.e-]*\).*/\1/"; }

per="alice bob carol dave erin frank"; sur="smith jones johnson"; loc="paris london berlin rome madrid"
oth="the a met in at visited saw with and from lives works"
{ printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n'; for w in $per $loc $oth smith jones john; do echo $w; done; printf "##son\n"; } > vocab.txt
V=$(wc -l < vocab.txt)
# sentences of names (B-PER, then I-PER for a surname), places (B-LOC) and other words (O); "johnson" and
# "parisian" split into two pieces, so only their first piece is labelled
gen() { awk -v n="$1" -v seed="$2" -v per="$per" -v sur="$sur" -v loc="$loc" -v oth="$oth" -v conll="${3:-}" 'BEGIN { srand(seed);
  np=split(per,P," "); ns=split(sur,S," "); nl=split(loc,L," "); no=split(oth,O," ");
  for (i=0;i<n;i++) { k=0; delete w; delete t; len=4+int(rand()*6);
    while (k<len) { r=rand();
      if (r<0.2) { w[k]=P[1+int(rand()*np)]; t[k++]="B-PER"; if (rand()<0.6) { w[k]=S[1+int(rand()*ns)]; t[k++]="I-PER" } }
      else if (r<0.35) { w[k]=L[1+int(rand()*nl)]; t[k++]="B-LOC" }
      else { w[k]=O[1+int(rand()*no)]; t[k++]="O" } }
    if (conll) { for (j=0;j<k;j++) print w[j] " X " t[j]; print ""; continue }
    s="{\"tokens\": ["; u="\"tags\": [";
    for (j=0;j<k;j++) { s=s (j?", ":"") "\"" w[j] "\""; u=u (j?", ":"") "\"" t[j] "\"" }
    print s "], " u "]}" } }'; }
gen 300 1 > train.jsonl; gen 50 2 > val.jsonl; gen 60 3 > test.jsonl
{ echo "-DOCSTART- -X- O"; echo; gen 300 1 conll; } > train.conll; gen 60 3 conll > test.conll

echo "{\"vocab_size\": $V, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 64, \"max_position_embeddings\": 40}" > bert.json
echo "{\"vocab_size\": $V, \"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"hidden_dim\": 64, \"max_position_embeddings\": 40}" > distilbert.json
for a in bert distilbert; do "$FT" init --arch $a --config $a.json --out base-$a --seed 3 > /dev/null; cp vocab.txt base-$a/; done
cat > r.yaml <<Y
model: base-bert
task: token_classification
output_dir: out
data: {train: train.jsonl, validation: val.jsonl, test: test.jsonl}
train: {max_steps: 60, batch_size: 8, seq_len: 24}
optim: {lr: 3e-3}
report: {progress: quiet, tensorboard: false}
seed: 7
Y

"$FT" train r.yaml > train.log
ev=$("$FT" eval --model out --data test.jsonl --json)
acc=$(echo "$ev" | num accuracy); f1=$(echo "$ev" | num f1)
ck "awk -v a=$acc -v f=$f1 'BEGIN { exit !(a >= 0.9 && f >= 0.8) }'" "bert full: test word accuracy $acc < 0.9 or entity f1 $f1 < 0.8"
ck "echo '$ev' | grep -q '\"per_type\":{\"LOC\"' && echo '$ev' | grep -q '\"unknown_tags\":0'" "eval --json: per-type scores"
ck "grep -q 'entities     precision' train.log" "train prints the test entity scores"
ck "grep -q BertForTokenClassification out/config.json && grep -q '\"3\": \"O\"' out/config.json && ! grep -q problem_type out/config.json" "config: BertForTokenClassification, id2label"
ck "! \"$FT\" inspect out --tensors | grep -q pooler" "a BERT token classifier has no pooler"
"$FT" predict --model out --text "alice johnson visited paris" > pred.txt
ck "[ \"\$(cut -f2 pred.txt | tr '\n' ' ')\" = 'B-PER I-PER O B-LOC  ' ]" "predict --text: $(tr '\n' ' ' < pred.txt)"
head -3 test.jsonl > p.jsonl
"$FT" predict --model out --jsonl p.jsonl --json > pred.jsonl
ck "[ \$(wc -l < pred.jsonl) = 3 ] && head -1 pred.jsonl | grep -q '\"tags\":\[\"'" "predict --jsonl --json: one object per row"

# the most-frequent-tag baseline on the same recipe: unambiguous words, so it is exact here
bl=$("$FT" baseline --recipe r.yaml --json)
ck "echo '$bl' | grep -q '\"test\":{\"accuracy\":1,'" "baseline: $bl"

# CoNLL columns (tag = last column), DistilBERT with LoRA: the head is modules_to_save in a TOKEN_CLS adapter
"$FT" train r.yaml model=base-distilbert data.train=train.conll data.validation=test.conll data.test=test.conll \
  method=lora optim.lr=1e-2 train.max_steps=30 output_dir=out-lora > lora.log
ck "grep -q '\"task_type\": \"TOKEN_CLS\"' out-lora/adapter_config.json && grep -A1 modules_to_save out-lora/adapter_config.json | grep -q classifier" "LoRA adapter: TOKEN_CLS with the classifier saved"
ck "\"$FT\" eval --model out-lora --data test.conll --json | grep -q '\"accuracy\"'" "eval of the LoRA token classifier on CoNLL"
# label_all_tokens trains too (every piece labelled)
"$FT" train r.yaml data.label_all_tokens=true train.max_steps=20 output_dir=out-all > all.log
ck "grep -q 'test: loss' all.log" "label_all_tokens run"

# bad input
printf '{"tokens": ["a", "b"], "tags": ["O", "B-PER"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n' > bad.jsonl
ck "! \"$FT\" train r.yaml data.train=bad.jsonl output_dir=out-bad > bad.log 2>&1 && grep -q 'bad.jsonl:2: 2 tokens but 1 tags' bad.log" "length mismatch named by file:line (see bad.log)"
printf '{"tokens": ["alice", "met", "bob"], "tags": ["B-PER", "O", "B-ORG"]}\n' > unk.jsonl
ck "\"$FT\" eval --model out --data unk.jsonl --json 2> unk.err | grep -q '\"unknown_tags\":1' && grep -q '1 word(s) carry a tag the model does not know' unk.err" "unknown tags at evaluation are counted"
ck "! \"$FT\" train r.yaml method=prompt output_dir=out-p > p.log 2>&1 && grep -q 'prompt tuning with a token-classification head is not supported' p.log" "prompt tuning refused by name"
rc=0; echo alice | "$FT" classify --model out > cl.out 2> cl.err || rc=$?
ck "[ $rc = 1 ] && [ ! -s cl.out ] && grep -q 'task token_classification: ftune classify takes a classification or regression model' cl.err" \
   "classify refuses a token classifier by its task (rc $rc: $(cat cl.err))"
printf '\n\n' > empty.jsonl
ck "! \"$FT\" train r.yaml data.train=empty.jsonl output_dir=out-e > e.log 2>&1 && grep -q 'no sentence' e.log" "empty training data refused"

[ $fail = 0 ] && echo "tokcls_train: all passed"
exit $fail
