#!/usr/bin/env bash
# `ftune score` classification and regression against scikit-learn (Debian's python3-sklearn) on
# random files: all ten classification numbers and mse/mae/r2 must agree to 1e-9. Skips (77)
# without sklearn.
set -euo pipefail
PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c "import sklearn" 2>/dev/null || { echo "skip: no sklearn for $PY"; exit 77; }
: "${FT_BIN:?FT_BIN must point to the built ftune}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$PY" - "$FT_BIN" "$dir" <<'PYEOF'
import json, random, subprocess, sys
from sklearn import metrics as M

ft, d = sys.argv[1], sys.argv[2]
rng = random.Random(1234)

def run(metric, pred, ref):
    out = subprocess.run([ft, "score", "--metric", metric, "--pred", pred, "--ref", ref, "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)

def close(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))

bad = 0
for trial in range(40):
    k = rng.randint(1, 12)
    n = rng.randint(1, 300)
    names = [f"c{i}" if trial % 2 else str(i) for i in range(k + 2)]
    # a few classes appear only in predictions or only in references
    yt = [rng.choice(names[:k]) for _ in range(n)]
    yp = [rng.choice(names[1:k + 2]) if rng.random() < 0.5 else t for t in yt]
    pred, ref = f"{d}/p{trial}.txt", f"{d}/r{trial}.txt"
    open(pred, "w").write("\n".join(yp) + "\n")
    open(ref, "w").write("\n".join(yt) + ("\n" if trial % 3 else ""))
    got = run("classification", pred, ref)
    want = {"accuracy": M.accuracy_score(yt, yp)}
    for avg in ("macro", "micro", "weighted"):
        p, r, f, _ = M.precision_recall_fscore_support(yt, yp, average=avg, zero_division=0)
        want[f"precision_{avg}"], want[f"recall_{avg}"], want[f"f1_{avg}"] = p, r, f
    if set(got) != set(want):
        print("classification keys differ:", sorted(got), sorted(want)); bad += 1; continue
    for key, w in want.items():
        if not close(got[key], float(w)):
            print(f"classification trial {trial} {key}: ftune {got[key]!r} sklearn {w!r}"); bad += 1

for trial in range(40):
    n = rng.randint(2, 300)
    yt = [round(rng.gauss(0, 10), rng.randint(0, 6)) for _ in range(n)]
    yp = [t + rng.gauss(0, rng.choice([0.01, 1, 30])) for t in yt]
    if trial == 0:
        yt = [3.0] * n  # constant truth: sklearn's force_finite gives r2 = 0
    if trial == 1:
        yp = list(yt)   # perfect: r2 = 1
    pred, ref = f"{d}/np{trial}.txt", f"{d}/nr{trial}.txt"
    open(pred, "w").write("\n".join(repr(x) for x in yp) + "\n")
    open(ref, "w").write("\n".join(repr(x) for x in yt) + "\n")
    got = run("regression", pred, ref)
    want = {"mse": M.mean_squared_error(yt, yp), "mae": M.mean_absolute_error(yt, yp), "r2": M.r2_score(yt, yp)}
    if set(got) != set(want):
        print("regression keys differ:", sorted(got)); bad += 1; continue
    for key, w in want.items():
        if not close(got[key], float(w)):
            print(f"regression trial {trial} {key}: ftune {got[key]!r} sklearn {w!r}"); bad += 1

print("score_sklearn:", "FAIL" if bad else "ok", f"({bad} mismatches)")
sys.exit(1 if bad else 0)
PYEOF
