#!/usr/bin/env bash
# QA post-processing against a plain Python re-implementation of HF run_qa's postprocess_qa_predictions
# (tests/ref/qa_post.py): 300 random cases (contexts with non-ASCII text, 1..n overlapping windows with
# masked non-context tokens, random float32 logits, n_best 1..20, max_answer_length 1..30, SQuAD 2.0 on
# and off with thresholds -2..1.5, strong null scores, windows with no context) through
# `test_qa --post-cases`; every answer text must be equal, probabilities and logits within 1e-5.
set -euo pipefail
PY=/usr/bin/python3
"$PY" -c 'import numpy' 2>/dev/null || { echo "python3-numpy not installed: skipping"; exit 77; }
T=$(dirname "${FT_BIN:?}")/test_qa
W=$(mktemp -d /tmp/ft_qapost.XXXXXX)
trap "rm -rf \"$W\"" EXIT
REF=${FT_SRC:?}/tests/ref/qa_post.py
for seed in 1 2; do
  "$PY" "$REF" cases "$W/cases.json" $seed
  "$PY" "$REF" ref "$W/cases.json" "$W/ref.json"
  "$T" --post-cases "$W/cases.json" "$W/ftune.json"
  "$PY" "$REF" compare "$W/ref.json" "$W/ftune.json"
done
