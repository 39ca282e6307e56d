#!/usr/bin/env bash
# The pre-training corpus (scripts/fetch-pretrain-corpus.sh) holds no SpamAssassin mail of the demo's
# validation or test split: the split is recomputed here with `ftune data --recipe
# recipes/demo-spam.yaml --splits-out` (the rows `ftune train` uses) and every validation/test text is
# looked up among the corpus documents (train and held-out). As a control that the comparison can
# match, every spamassassin_ham document must be a ham text of the training split, all of them present.
# Skipped (77) when the corpus has not been fetched.
set -euo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
FT_BIN=${FT_BIN:-$FT_SRC/build/ftune}
OUT=${PRETRAIN_DIR:-$FT_SRC/.cache/pretrain}
SPAM_JSONL=${SPAM_JSONL:-$FT_SRC/.cache/spam/spam.jsonl}
if [ ! -f "$OUT/spamassassin_ham.train.jsonl" ] || [ ! -s "$SPAM_JSONL" ]; then
  echo "pretrain_corpus: no corpus in $OUT (scripts/fetch-pretrain-corpus.sh), skipped"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$FT_SRC" && "$FT_BIN" data --recipe recipes/demo-spam.yaml --splits-out "$work/split" "data.train=$SPAM_JSONL") > /dev/null
/usr/bin/python3 - "$work/split" "$OUT" <<'PY'
import glob, json, sys
split, out = sys.argv[1:3]
rd = lambda p: [json.loads(l) for l in open(p, encoding='utf-8') if l.strip()]
norm = lambda t: ' '.join(t.split())
held = {norm(r['text']) for k in ('validation', 'test') for r in rd(f'{split}.{k}.jsonl')}
train_ham = {norm(r['text']) for r in rd(f'{split}.train.jsonl') if r.get('label') == 'ham'}
assert held and train_ham, 'empty split'
corpus = [(p, norm(r['text'])) for p in sorted(glob.glob(f'{out}/*.train.jsonl') + glob.glob(f'{out}/*.heldout.jsonl'))
          if not p.split('/')[-1].startswith('spam-split') for r in rd(p)]
leaks = [(p, t[:80]) for p, t in corpus if t in held]
for p, t in leaks[:5]:
    print(f'LEAK: {p}: a validation/test mail: {t!r}')
spam_docs = {t for p, t in corpus if '/spamassassin_ham.' in p}
stray = spam_docs - train_ham
print(f'pretrain_corpus: {len(corpus)} documents, {len(held)} validation/test mails, {len(leaks)} found in the corpus')
print(f'pretrain_corpus: spamassassin_ham {len(spam_docs)} documents, {len(spam_docs & train_ham)}/{len(train_ham)} training-split ham texts, {len(stray)} from elsewhere')
sys.exit(1 if leaks or stray or spam_docs != train_ham else 0)
PY
