# Sourced by tests/*.sh (not a test itself): a tiny sentiment task for CLI and API tests.
# sentiment_vocab FILE: a WordPiece vocabulary ([PAD] [UNK] [CLS] [SEP], the words, </s>).
# sentiment_gen N SEED [FLIP]: N JSONL rows {"text", "label": pos|neg} of 4-7 words, half of them neutral,
# the others positive or negative by the label; a share FLIP (default 0) of the labels flipped.
SENT_POS="good great fine nice happy love best super"
SENT_NEG="bad awful poor sad hate worst ugly evil"
SENT_NEU="the a it is was very so and"
sentiment_vocab() {
  { printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n'; for w in $SENT_POS $SENT_NEG $SENT_NEU; do echo "$w"; done; echo '</s>'; } > "$1"
}
sentiment_gen() {
  awk -v n="$1" -v seed="$2" -v flip="${3:-0}" -v pos="$SENT_POS" -v neg="$SENT_NEG" -v neu="$SENT_NEU" 'BEGIN { srand(seed);
  np = split(pos, P, " "); nn = split(neg, N, " "); nu = split(neu, U, " ");
  for (i = 0; i < n; i++) { c = int(rand()*2); s = ""; L = 4 + int(rand()*4);
    for (t = 0; t < L; t++) { if (rand() < 0.5) w = U[1+int(rand()*nu)]; else w = (c ? N[1+int(rand()*nn)] : P[1+int(rand()*np)]);
      s = s (t ? " " : "") w }
    if (rand() < flip) c = 1 - c;
    printf "{\"text\": \"%s\", \"label\": \"%s\"}\n", s, (c ? "neg" : "pos") } }'
}
