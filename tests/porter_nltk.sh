#!/usr/bin/env bash
# The Porter stemmer against NLTK's PorterStemmer in its default NLTK_EXTENSIONS mode (what
# rouge-score uses) on a word list: /usr/share/dict/words when present, plus generated words built
# from common English stems and suffixes. Skips (77) without nltk.
set -euo pipefail
PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c "from nltk.stem import porter" 2>/dev/null || { echo "skip: no nltk for $PY"; exit 77; }
: "${FT_BIN:?FT_BIN must point to the built ftune}"
stem_bin="$(dirname "$FT_BIN")/test_metrics"
[ -x "$stem_bin" ] || { echo "missing $stem_bin"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$PY" - "$dir/words" <<'PYEOF'
import os, random, re, sys
words = set()
for path in ("/usr/share/dict/words", "/usr/share/dict/american-english", "/usr/share/dict/british-english"):
    if os.path.exists(path):
        for w in open(path, encoding="utf-8", errors="ignore"):
            w = w.strip().lower()
            if re.fullmatch(r"[a-z0-9]+", w):
                words.add(w)
rng = random.Random(7)
stems = ("relat condit ration valen digit conform radic differ vile analog vietnam predic oper feud decis hope "
         "callous formal sensit sensib triplic form electr good reviv allow infer airlin gyroscop adjust defens "
         "irrit replac depend adopt homolog commun activ angular effect bowdler probat rate ceas control roll "
         "happ sky die lie tie fly spy enjoy toy agree feed bleed plaster motor sing conflat troubl siz hop tan "
         "fall hiss fizz fail fil generous archaeolog geolog syzyg y yy a e i o u b c d s t z l w x").split()
suffixes = ("", "s", "es", "ies", "sses", "ss", "ed", "ied", "eed", "ing", "y", "ational", "tional", "enci", "anci",
            "izer", "bli", "abli", "alli", "entli", "eli", "ousli", "ization", "ation", "ator", "alism", "iveness",
            "fulness", "ousness", "aliti", "iviti", "biliti", "fulli", "logi", "icate", "ative", "alize", "iciti",
            "ical", "ful", "ness", "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent",
            "sion", "tion", "ou", "ism", "ate", "iti", "ous", "ive", "ize", "e", "ll", "at", "bl", "iz")
for s in stems:
    for a in suffixes:
        words.add(s + a)
        for b in rng.sample(suffixes, 4):
            words.add(s + a + b)
letters = "aeiouybcdlstzwx"
for _ in range(20000):  # random letter strings stress the consonant/vowel rules
    words.add("".join(rng.choice(letters) for _ in range(rng.randint(1, 12))))
words.update(["sky", "skies", "dying", "lying", "tying", "news", "innings", "inning", "outings", "outing",
              "cannings", "canning", "howe", "proceed", "exceed", "succeed", "123", "4th", "mp3s"])
open(sys.argv[1], "w").write("\n".join(sorted(words)) + "\n")
print(len(words), "words")
PYEOF
"$stem_bin" --stem < "$dir/words" > "$dir/ours"
"$PY" - "$dir/words" "$dir/ours" <<'PYEOF'
import sys
from nltk.stem import porter
st = porter.PorterStemmer()  # default mode: NLTK_EXTENSIONS, as rouge-score
words = open(sys.argv[1]).read().split("\n")[:-1]
ours = open(sys.argv[2]).read().split("\n")[:-1]
assert len(words) == len(ours), (len(words), len(ours))
bad = [(w, o, st.stem(w)) for w, o in zip(words, ours) if st.stem(w) != o]
for w, o, n in bad[:20]:
    print(f"{w}: ours {o} nltk {n}")
print(f"porter_nltk: {len(words) - len(bad)}/{len(words)} agree")
sys.exit(1 if bad else 0)
PYEOF
