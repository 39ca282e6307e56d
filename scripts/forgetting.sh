#!/usr/bin/env bash
# Catastrophic forgetting, measured (docs/forgetting.md): continued pre-training of models/ftune-tiny
# on Moby-Dick (recipes/forgetting-moby.yaml, half an epoch of its training chapters) with full
# fine-tuning and with LoRA, each without and with data.replay (a quarter of the training blocks drawn
# from general English the base was pre-trained on: Brown and WordNet training documents). Perplexity
# of the base and of every run on held-out Moby-Dick chapters (the domain), held-out State of the Union
# addresses (general text that no run trains on, replay included) and held-out Brown texts (general,
# the replay's kind). Table on stdout and in out/forgetting/forgetting.md; rerun-safe (finished runs
# are kept: delete out/forgetting to start over).
#   scripts/forgetting.sh [key=value ...]     (overrides for every run, e.g. train.epochs=0.2 for a quick look)
# env: FT_BIN (build/ftune), OUT (out/forgetting), PRETRAIN_DIR (.cache/pretrain), RUNS ("full lora
#      full+replay lora+replay"), EVAL_BYTES (40000: text per held-out set)
set -euo pipefail
cd "$(dirname "$0")/.."
FT_BIN=${FT_BIN:-build/ftune}
OUT=${OUT:-out/forgetting}
P=${PRETRAIN_DIR:-.cache/pretrain}
RUNS=${RUNS:-full lora full+replay lora+replay}
EVAL_BYTES=${EVAL_BYTES:-40000}
SETS=(moby_dick sotu brown)
[ -x "$FT_BIN" ] || scripts/build.sh
[ -s "$P/summary.tsv" ] || PRETRAIN_DIR="$P" FT_BIN="$FT_BIN" scripts/fetch-pretrain-corpus.sh > /dev/null
mkdir -p "$OUT"
log() { printf '[forgetting %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# held-out evaluation sets: each source's first held-out documents up to EVAL_BYTES of text
for s in "${SETS[@]}"; do
  [ -s "$OUT/eval-$s.jsonl" ] && continue
  /usr/bin/python3 - "$P/$s.heldout.jsonl" "$EVAL_BYTES" > "$OUT/eval-$s.jsonl.tmp" <<'PY'
import json, sys
n, cap = 0, int(sys.argv[2])
for line in open(sys.argv[1], encoding="utf-8"):
    if n >= cap or not line.strip():
        continue
    d = json.loads(line)
    n += len(d["text"].encode())
    print(json.dumps({"text": d["text"]}, ensure_ascii=False))
PY
  mv "$OUT/eval-$s.jsonl.tmp" "$OUT/eval-$s.jsonl"
done
# replay stream: general English from the base model's pre-training mix (training documents only)
[ -s "$OUT/replay.jsonl" ] || cat "$P/brown.train.jsonl" "$P/wordnet.train.jsonl" > "$OUT/replay.jsonl"

# perplexity of a model (or a LoRA output directory) on every set: "ppl ppl ppl"
ppl() {
  local row="" s
  for s in "${SETS[@]}"; do
    row+=" $("$FT_BIN" eval "$@" --data "$OUT/eval-$s.jsonl" --task causal_lm --seq-len 256 --pack --json --threads 2 |
      /usr/bin/python3 -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["perplexity"])')"
  done
  echo "$row"
}

[ -s "$OUT/base.ppl" ] || { log "base model"; ppl --model models/ftune-tiny > "$OUT/base.ppl"; }
for r in $RUNS; do
  dir="$OUT/${r/+/-}"
  if [ ! -s "$dir.ppl" ]; then
    method=${r%%+*}
    extra=()
    [ "$method" = lora ] && extra+=(optim.lr=2e-3)
    [[ $r == *+replay ]] && extra+=(data.replay="$OUT/replay.jsonl")
    log "train $r"
    rm -rf "$dir"
    t0=$(date +%s)
    "$FT_BIN" train recipes/forgetting-moby.yaml method="$method" output_dir="$dir" \
      data.validation="$OUT/eval-moby_dick.jsonl" "${extra[@]}" "$@" > "$dir.log" 2>&1 ||
      { echo "forgetting: $r failed, see $dir.log" >&2; exit 1; }
    echo $(( $(date +%s) - t0 )) > "$dir.seconds"
    log "evaluate $r"
    ppl --model "$dir" > "$dir.ppl"
  fi
done

# the table
/usr/bin/python3 - "$OUT" "$RUNS" "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" "$(nproc)" <<'PY' | tee "$OUT/forgetting.md"
import os, re, sys, datetime
out, runs, cpu, ncpu = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4]
def ppl(name):
    return [float(x) for x in open(os.path.join(out, name + ".ppl")).read().split()]
base = ppl("base")
print(f"Perplexity on held-out text before and after half an epoch of continued pre-training on Moby-Dick "
      f"({datetime.date.today()}, {cpu}, {ncpu} vCPU; scripts/forgetting.sh):\n")
print("| model | trainable | replay | wall s | Moby-Dick (domain) | State of the Union (general) | Brown (general) |")
print("|---|---|---|---|---|---|---|")
print(f"| ftune-tiny (base) | | | | {base[0]:.1f} | {base[1]:.1f} | {base[2]:.1f} |")
for r in runs:
    d = os.path.join(out, r.replace("+", "-"))
    p = ppl(r.replace("+", "-"))
    log = open(d + ".log").read()
    m = re.search(r"([\d,]+) trainable \(([\d.]+)%\)", log) or re.search(r"(\d+) trainable \(([\d.]+)%\)", log)
    tr = f"{m.group(2)} %" if m else "?"
    rp = re.search(r"replay: (\d+) of", log)
    sec = open(d + ".seconds").read().strip()
    cells = [f"{v:.1f} ({100 * (v / b - 1):+.0f} %)" for v, b in zip(p, base)]
    print(f"| {r.split('+')[0]} | {tr} | {'25 % (' + rp.group(1) + ' blocks)' if rp else 'no'} | {sec} | "
          + " | ".join(cells) + " |")
PY
