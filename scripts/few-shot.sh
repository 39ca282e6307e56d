#!/usr/bin/env bash
# Few-shot spam/ham (docs/few-shot.md): ftune-tiny fine-tuned on 8, 32 and 128 labelled mails
# (recipes/few-shot-spam.yaml; data.train_limit draws them stratified by label and seeded) with LoRA
# and with full fine-tuning, next to the naive-Bayes baseline on the same mails; every cell is the mean
# (and spread) of test accuracy over several draws of the N mails (data.train_limit_seed); the split is the
# main job's (seed 42), so the test mails are ones ftune-tiny's pre-training never saw. Table on stdout
# and in out/few-shot/few-shot.md; rerun-safe (finished cells are kept).
#   scripts/few-shot.sh [key=value ...]          (overrides for every training run)
# Steps: 5 epochs of batch 8, but at least 30 (8 mails: 30 epochs; 32: 7.5; 128: 5).
# env: FT_BIN (build/ftune), OUT (out/few-shot), SIZES ("8 32 128"), SEEDS ("1 2"),
#      FULL_LR (1e-3), LORA_LR (2e-3)
set -euo pipefail
cd "$(dirname "$0")/.."
FT_BIN=${FT_BIN:-build/ftune}
OUT=${OUT:-out/few-shot}
SIZES=${SIZES:-8 32 128}
SEEDS=${SEEDS:-1 2}
FULL_LR=${FULL_LR:-1e-3}
LORA_LR=${LORA_LR:-2e-3}
R=recipes/few-shot-spam.yaml
[ -x "$FT_BIN" ] || scripts/build.sh
[ -s .cache/spam/spam.jsonl ] || scripts/fetch-spam.sh > /dev/null
mkdir -p "$OUT"
log() { printf '[few-shot %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
acc() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); t=d.get("test",d); print("%.4f %.4f" % (t["accuracy"], t["f1_macro"]))'; }
for seed in $SEEDS; do
  for n in $SIZES; do
    cell="$OUT/n$n-s$seed"
    [ -s "$cell.nb" ] || "$FT_BIN" baseline --recipe "$R" data.train_limit_seed="$seed" data.train_limit="$n" --json | acc > "$cell.nb"
    for m in lora full; do
      [ -s "$cell.$m" ] && continue
      lr=$LORA_LR; [ $m = full ] && lr=$FULL_LR
      log "n=$n seed=$seed $m"
      rm -rf "$cell-$m"
      steps=$(( n * 5 / 8 > 30 ? n * 5 / 8 : 30 ))   # 5 epochs of batch 8, at least 30 steps
      "$FT_BIN" train "$R" method=$m train.max_steps=$steps optim.lr="$lr" data.train_limit_seed="$seed" data.train_limit="$n" output_dir="$cell-$m" "$@" \
        > "$cell-$m.log" 2>&1 || { echo "few-shot: n=$n seed=$seed $m failed: see $cell-$m.log" >&2; exit 1; }
      sed -n 's/^test: loss [0-9.]* accuracy \([0-9.]*\) f1_macro \([0-9.]*\).*/\1 \2/p' "$cell-$m.log" > "$cell.$m"
      [ -s "$cell.$m" ] || { echo "few-shot: no test line in $cell-$m.log" >&2; exit 1; }
    done
  done
done
/usr/bin/python3 - "$OUT" "$SIZES" "$SEEDS" "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" "$(nproc)" <<'PY' | tee "$OUT/few-shot.md"
import os, sys, statistics, datetime
out, sizes, seeds, cpu, ncpu = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4], sys.argv[5]
print(f"Test accuracy (macro-F1) on SpamAssassin with N labelled training mails, mean ± standard deviation "
      f"over draws {', '.join(seeds)} ({datetime.date.today()}, {cpu}, {ncpu} vCPU; scripts/few-shot.sh):\n")
print("| N | naive Bayes | ftune-tiny + LoRA | ftune-tiny full fine-tuning |")
print("|---|---|---|---|")
for n in sizes:
    cells = []
    for m in ("nb", "lora", "full"):
        a, f = zip(*[tuple(map(float, open(os.path.join(out, f"n{n}-s{s}.{m}")).read().split())) for s in seeds])
        sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
        cells.append(f"{statistics.mean(a):.3f} ± {sd(a):.3f} ({statistics.mean(f):.3f})")
    print(f"| {n} | " + " | ".join(cells) + " |")
PY
