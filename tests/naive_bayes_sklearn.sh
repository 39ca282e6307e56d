#!/usr/bin/env bash
# `ftune baseline` (eval/naive_bayes) against scikit-learn's CountVectorizer() + MultinomialNB() on the
# SpamAssassin demo: the split comes from `ftune data --recipe recipes/demo-spam.yaml --splits-out`
# (the rows `ftune train` and `ftune baseline` use), sklearn is fitted on its training rows, and the
# vocabulary size, class counts and all ten classification numbers on validation and test must agree
# (to 1e-12: the same predictions). A second run with alpha 0.1 checks the smoothing is passed through.
# Skipped (77) without sklearn or the fetched corpus (scripts/fetch-spam.sh).
set -euo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
FT_BIN=${FT_BIN:-$FT_SRC/build/ftune}
SPAM_JSONL=${SPAM_JSONL:-$FT_SRC/.cache/spam/spam.jsonl}
PY=/usr/bin/python3
"$PY" -c "import sklearn" 2>/dev/null || { echo "naive_bayes_sklearn: no sklearn for $PY, skipped"; exit 77; }
[ -s "$SPAM_JSONL" ] || { echo "naive_bayes_sklearn: no $SPAM_JSONL (scripts/fetch-spam.sh), skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$FT_SRC"
"$FT_BIN" data --recipe recipes/demo-spam.yaml --splits-out "$work/split" "data.train=$SPAM_JSONL" > /dev/null
for a in 1 0.1; do
  "$FT_BIN" baseline --recipe recipes/demo-spam.yaml "data.train=$SPAM_JSONL" --alpha "$a" --json > "$work/ft-$a.json"
done
"$PY" - "$work" <<'PY'
import json, sys
from sklearn import metrics as M
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB
work = sys.argv[1]
rd = lambda k: [json.loads(l) for l in open(f"{work}/split.{k}.jsonl", encoding="utf-8") if l.strip()]
tr, va, te = rd("train"), rd("validation"), rd("test")
bad = 0
for alpha in ("1", "0.1"):
    ft = json.load(open(f"{work}/ft-{alpha}.json"))
    cv = CountVectorizer()
    X = cv.fit_transform([r["text"] for r in tr])
    nb = MultinomialNB(alpha=float(alpha)).fit(X, [r["label"] for r in tr])
    want = {"documents": len(tr), "vocabulary": len(cv.vocabulary_),
            "classes": {c: int(n) for c, n in zip(nb.classes_, nb.class_count_)}}
    for k, v in want.items():
        if ft["train"][k] != v:
            print(f"alpha {alpha}: train {k}: ftune {ft['train'][k]} sklearn {v}")
            bad += 1
    for name, rows in (("validation", va), ("test", te)):
        y = [r["label"] for r in rows]
        p = nb.predict(cv.transform([r["text"] for r in rows]))
        ref = {"n": len(rows), "accuracy": M.accuracy_score(y, p)}
        for avg in ("macro", "micro", "weighted"):
            pr, rc, f1, _ = M.precision_recall_fscore_support(y, p, average=avg, zero_division=0)
            ref.update({f"precision_{avg}": pr, f"recall_{avg}": rc, f"f1_{avg}": f1})
        for k, v in ref.items():
            if abs(ft[name][k] - v) > 1e-12:
                print(f"alpha {alpha}: {name} {k}: ftune {ft[name][k]} sklearn {v}")
                bad += 1
        print(f"naive_bayes_sklearn: alpha {alpha} {name}: accuracy {ref['accuracy']:.4f} "
              f"f1_macro {ref['f1_macro']:.4f} (ftune {ft[name]['accuracy']:.4f} {ft[name]['f1_macro']:.4f}), "
              f"vocabulary {len(cv.vocabulary_)}")
sys.exit(1 if bad else 0)
PY
