#!/usr/bin/env bash
# The accuracy cost of precision=bf16 on a real task: the demo job (spam/ham classification of the
# SpamAssassin corpus, small GPT-2-layout model, full fine-tuning; scripts/demo.sh) trained twice from
# the same initial weights, fp32 and bf16, then the loss curves (train loss averaged over windows of
# 25 steps, eval loss/accuracy at each evaluation) side by side and the final test metrics.
# Extra arguments are recipe overrides for both runs, e.g. train.max_steps=100; --report only prints the
# table from the last runs' out/prec-{fp32,bf16}/metrics.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
report_only=0
if [ "${1:-}" = "--report" ]; then report_only=1; shift; fi
[ $report_only = 1 ] || for p in fp32 bf16; do
  scripts/demo.sh output_dir=out/prec-$p precision=$p report.progress=quiet "$@" > out/prec-$p.log 2>&1 ||
    { echo "precision_curves: the $p run failed, see out/prec-$p.log" >&2; exit 1; }
done
grep -h "^precision" out/prec-fp32.log out/prec-bf16.log 2>/dev/null || true
/usr/bin/python3 - "$@" <<'PY'
import json
def load(p):
    rows = [json.loads(l) for l in open(f"out/prec-{p}/metrics.jsonl")]
    tr = [(r["step"], r["train/loss"]) for r in rows if "train/loss" in r]
    ev = {r["step"]: r for r in rows if "eval/loss" in r}
    te = [r for r in rows if any(k.startswith("test/") for k in r)]
    return tr, ev, te[-1] if te else {}
a, b = load("fp32"), load("bf16")
print(f"{'steps':>9} | {'fp32 train loss':>15} | {'bf16 train loss':>15} | {'rel diff':>8}")
W = 25
for s0 in range(0, max(s for s, _ in a[0]), W):
    fa = [l for s, l in a[0] if s0 < s <= s0 + W]; fb = [l for s, l in b[0] if s0 < s <= s0 + W]
    if fa and fb:
        ma, mb = sum(fa) / len(fa), sum(fb) / len(fb)
        print(f"{s0+1:4}-{s0+W:<4} | {ma:15.4f} | {mb:15.4f} | {(mb-ma)/ma:+8.2%}")
print(f"{'eval step':>9} | {'fp32 loss':>9} {'acc':>6} | {'bf16 loss':>9} {'acc':>6}")
for s in sorted(set(a[1]) & set(b[1])):
    ra, rb = a[1][s], b[1][s]
    print(f"{s:9} | {ra['eval/loss']:9.4f} {ra.get('eval/accuracy', float('nan')):6.3f} | {rb['eval/loss']:9.4f} {rb.get('eval/accuracy', float('nan')):6.3f}")
for name, t in (("fp32", a[2]), ("bf16", b[2])):
    print(f"test {name}: " + "  ".join(f"{k[5:]} {v:.4f}" for k, v in t.items() if k.startswith("test/")))
PY
