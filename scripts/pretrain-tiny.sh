#!/usr/bin/env bash
# Make ftune-tiny (models/ftune-tiny) from nothing, reproducibly: corpus -> tokenizer -> random init ->
# pre-training stage 1 (recipes/ftune-tiny-pretrain.yaml) -> stage 2, continued from stage 1's bf16 model
# (recipes/ftune-tiny-pretrain-2.yaml) -> per-source held-out perplexity of each stage -> bf16 model in
# Hugging Face layout + model card. Each stage is skipped when its output exists, so a rerun after an
# interruption continues (the training stage resumes from the run's latest checkpoint).
#   scripts/pretrain-tiny.sh [key=value ...]     (overrides passed to both stages' `ftune train`, e.g.
#                                                 train.max_steps=20 for a quick check)
# env: FT_BIN (build/ftune); WORK (out/ftune-tiny: every intermediate file); DEST (models/ftune-tiny);
#      PRETRAIN_DIR (.cache/pretrain, made by scripts/fetch-pretrain-corpus.sh when missing);
#      TINY_CARD_NOTE (a remark for the model card's machine line, e.g. that the machine was shared).
# Threads are fixed at 2 (recipe key `threads`): at a fixed thread count the trainer is deterministic,
# so the same inputs give the same weights, bit for bit.
set -euo pipefail
FT_SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$FT_SRC"
FT_BIN=${FT_BIN:-$FT_SRC/build/ftune}
WORK=${WORK:-out/ftune-tiny}
DEST=${DEST:-models/ftune-tiny}
P=${PRETRAIN_DIR:-.cache/pretrain}
SOURCES=(brown sotu moby_dick wordnet spamassassin_ham)
RECIPE=recipes/ftune-tiny-pretrain.yaml
RECIPE2=recipes/ftune-tiny-pretrain-2.yaml
log() { printf '[pretrain-tiny %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
[ -x "$FT_BIN" ] || { echo "pretrain-tiny: $FT_BIN missing (scripts/build.sh)" >&2; exit 1; }
mkdir -p "$WORK" "$DEST"
T0=$(date +%s)

# 1. corpus (docs/pretraining.md)
if [ ! -s "$P/summary.tsv" ]; then
  log "corpus: scripts/fetch-pretrain-corpus.sh"
  PRETRAIN_DIR="$P" FT_BIN="$FT_BIN" scripts/fetch-pretrain-corpus.sh > /dev/null
fi
for s in "${SOURCES[@]}"; do
  for split in train heldout; do
    [ -s "$P/$s.$split.jsonl" ] || { echo "pretrain-tiny: $P/$s.$split.jsonl missing" >&2; exit 1; }
  done
done
if [ ! -s "$WORK/validation.jsonl" ]; then
  for s in "${SOURCES[@]}"; do cat "$P/$s.train.jsonl"; done > "$WORK/train.jsonl.tmp.$$"
  mv "$WORK/train.jsonl.tmp.$$" "$WORK/train.jsonl"
  # validation during training: each source's first held-out documents up to 24 KB of text
  /usr/bin/python3 - "$WORK/validation.jsonl" "${SOURCES[@]/#/$P/}" <<'PY'
import json, os, sys
out, bases = sys.argv[1], sys.argv[2:]
with open(out + ".tmp", "w", encoding="utf-8") as f:
    for b in bases:
        n = 0
        for line in open(b + ".heldout.jsonl", encoding="utf-8"):
            if n >= 24000:
                break
            n += len(json.loads(line)["text"].encode("utf-8"))
            f.write(line)
os.replace(out + ".tmp", out)
PY
fi

# 2. tokenizer: byte-level BPE, 8192 tokens, Llama-style specials, trained on the training files only
if [ ! -s "$WORK/tokenizer/tokenizer.json" ]; then
  log "tokenizer"
  TRAIN_FILES=()
  for s in "${SOURCES[@]}"; do TRAIN_FILES+=("$P/$s.train.jsonl"); done
  "$FT_BIN" tokenizer train --jsonl "${TRAIN_FILES[@]}" --out "$WORK/tokenizer" \
    --vocab-size 8192 --min-frequency 2 --special "<unk>,<s>,</s>,<pad>" --add-bos \
    --model-max-length 512 --threads 2
fi 2>&1 | sed "s|^|  |"

# 3. random initialization (Hugging Face LlamaForCausalLM layout)
if [ ! -s "$WORK/init/model.safetensors" ]; then
  log "init"
  "$FT_BIN" init --arch llama --config recipes/ftune-tiny-init.json --out "$WORK/init" --seed 42
fi

# 4-5. pre-training in two stages, each resumed from its latest checkpoint after an interruption:
#      stage 1 from the random init, stage 2 continued from stage 1's bf16 model (fresh optimizer, order
#      and warm-up)
train_stage() { # NAME RECIPE MODEL RUN_DIR SECONDS_FILE [overrides...]
  local name=$1 recipe=$2 model=$3 run=$4 secs=$5
  shift 5
  [ -s "$run/model.safetensors" ] && return 0
  local resume=()
  [ -e "$run/checkpoints/latest" ] && resume=("resume=$run")
  log "train $name ${resume[*]:-from step 0}"
  local t
  t=$(date +%s)
  "$FT_BIN" train "$recipe" "model=$model" "tokenizer=$WORK/tokenizer" "output_dir=$run" \
    "data.train=$WORK/train.jsonl" "data.validation=$WORK/validation.jsonl" "${resume[@]}" "$@"
  echo $(( $(date +%s) - t )) >> "$secs"
}
RUN=$WORK/run
RUN2=$WORK/run2
train_stage "stage 1" "$RECIPE" "$WORK/init" "$RUN" "$WORK/train_seconds" "$@"
train_stage "stage 2" "$RECIPE2" "$RUN" "$RUN2" "$WORK/train2_seconds" "$@"

# 6. per-source held-out perplexity of each stage's saved (bf16) model: heldout1.tsv (stage 1),
#    heldout.tsv (stage 2, the shipped model)
heldout() { # MODEL_DIR OUT_TSV
  [ -s "$2" ] && return 0
  log "held-out evaluation of $1"
  printf 'source\tdocuments\tbytes\ttokens\tloss\tperplexity\n' > "$2.tmp"
  for s in "${SOURCES[@]}"; do
    "$FT_BIN" eval --model "$1" --data "$P/$s.heldout.jsonl" --json --threads 2 > "$2.$s.json"
    /usr/bin/python3 - "$s" "$P/$s.heldout.jsonl" "$2.$s.json" >> "$2.tmp" <<'PY'
import json, sys
src, data, res = sys.argv[1:]
docs = [json.loads(l)["text"] for l in open(data, encoding="utf-8") if l.strip()]
m = json.load(open(res))
print(f"{src}\t{len(docs)}\t{sum(len(d.encode()) for d in docs)}\t{m['n_tokens']}\t{m['loss']:.4f}\t{m['perplexity']:.2f}")
PY
  done
  mv "$2.tmp" "$2"
  sed 's/^/  /' "$2"
}
heldout "$RUN" "$WORK/heldout1.tsv"
heldout "$RUN2" "$WORK/heldout.tsv"

# 7. the shipped model: bf16 weights, config, tokenizer, generation config, model card
log "export to $DEST"
for f in config.json model.safetensors tokenizer.json tokenizer_config.json; do
  cp "$RUN2/$f" "$DEST/$f"
done
cat > "$DEST/generation_config.json" <<'JSON'
{
  "bos_token_id": 1,
  "eos_token_id": 2,
  "pad_token_id": 3,
  "do_sample": true,
  "temperature": 0.8,
  "top_k": 50,
  "max_new_tokens": 64
}
JSON
/usr/bin/python3 scripts/tiny_model_card.py "$WORK" "$DEST" "$P" "$FT_BIN" > "$DEST/README.md.tmp"
mv "$DEST/README.md.tmp" "$DEST/README.md"
log "done in $(( $(date +%s) - T0 )) s: $DEST"
