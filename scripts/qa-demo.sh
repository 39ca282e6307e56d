#!/usr/bin/env bash
# Extractive QA demo on GENERATED data (scripts/gen_qa_data.py; no real QA data is reachable here): makes
# the SQuAD-format set and a tiny BERT with its vocabulary, trains recipes/qa-generated.yaml (SQuAD 2.0
# style), evaluates on the test file (EM / F1, HasAns / NoAns) and answers one question with ftune predict.
# Extra arguments are recipe overrides (key=value).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/ftune ] || scripts/build.sh
D=out/qa-demo
/usr/bin/python3 scripts/gen_qa_data.py $D/data --train 4000 --validation 200 --test 500 --people-min 1 \
  --people-max 2 --negatives 0.2
V=$(wc -l < $D/data/vocab.txt)
echo "{\"vocab_size\": $V, \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,
  \"intermediate_size\": 128, \"max_position_embeddings\": 64, \"type_vocab_size\": 2}" > $D/bert.json
build/ftune init --arch bert --config $D/bert.json --out $D/base --seed 3 > /dev/null
cp $D/data/vocab.txt $D/base/
echo "qa-demo: $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) vCPU"
build/ftune train recipes/qa-generated.yaml "$@"
build/ftune eval --model $D/run --data $D/data/test.json
build/ftune predict --model $D/run --question "Where does Ada Keller work?" \
  --context "Ada Keller was born in Paris in 1950. Ada Keller works as a pilot in Oslo. Ben Novak is a baker who works in Rome."
