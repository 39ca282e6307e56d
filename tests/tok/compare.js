// Compare ftune's JSONL outputs with the reference's; prints "NAME MODE equal/total" and the first
// differences; exit 1 on any difference.
// usage: node compare.js NAME REF CORPUS ENC ENC_SPECIAL DEC DEC_SKIP [OFF OFF_SPECIAL OFF_PAIR [L=OFF_TRUNC
// ...]]
//   OFF*: `ftune tokenize --jsonl --offsets` without / with --special, and on the pairs; L=FILE: the pairs
//   with --max-length L (compared with the reference's trunc[L])
'use strict';
const fs = require('fs');
const [name, refP, corpusP, encP, encsP, decP, decsP, offP, offsP, offpP, ...truncArgs] =
    process.argv.slice(2);
const rd = p => fs.readFileSync(p, 'utf8').split('\n').filter(l => l.length).map(l => JSON.parse(l));
const ref = rd(refP), corpus = rd(corpusP);
// Tokens: HF's encoding.tokens shows an added token with lstrip/rstrip as the text it matched, the
// whitespace it took included (" <mask>"); ftune prints the token itself. Only that difference is let
// through: same id, and the reference token is ours with whitespace around it.
// (Rust's whitespace: JS's \s plus U+0085.)
// A Unigram model's unknown piece: HF's token is the text the piece covers (fused unknowns as one), ftune
// prints the unk piece itself ("<unk>"); let through where the ids are equal.
const unpad = t => t.replace(/^[\s\u0085]+|[\s\u0085]+$/g, '');
const unigram = /^(albert|uni-)/.test(name);
const sameTokens = (r, g) => JSON.stringify(r.ids) === JSON.stringify(g.ids) && r.tokens.length === g.tokens.length &&
  r.tokens.every((t, k) => t === g.tokens[k] || (unpad(t) === g.tokens[k] && g.tokens[k].length > 0) ||
                           (unigram && g.tokens[k] === '<unk>'));
const modes = [
  ['ids+tokens', rd(encP), sameTokens],
  ['special', rd(encsP), (r, g) => JSON.stringify(r.ids_special) === JSON.stringify(g.ids)],
  ['decode', rd(decP), (r, g) => r.dec === g.text],
  ['decode-skip', rd(decsP), (r, g) => r.dec_skip === g.text],
];
const J = JSON.stringify;
if (offP) {
  modes.push(['offsets', rd(offP), (r, g) => J([r.ids, r.offsets]) === J([g.ids, g.offsets])],
             ['offsets-special', rd(offsP), (r, g) => J([r.ids_special, r.offsets_special]) === J([g.ids, g.offsets])],
             ['offsets-pair', rd(offpP), (r, g) => J([r.pair.ids, r.pair.type_ids, r.pair.offsets]) === J([g.ids, g.type_ids, g.offsets])]);
}
// Truncated pairs: equal for byte-level BPE, SentencePiece-style BPE and Metaspace. For WordPiece, WordLevel
// and Unigram the npm binding sometimes gives the odd token of a pair cut on both sides to the other text (the
// library's algorithm, which ftune follows, gives it to the longer one): there the same total length, each
// text cut to a prefix of its untruncated pair tokens, and the split differing by at most one token is
// accepted and counted ("odd token elsewhere"); anything else fails.
const wordPiece = /^(bert|wp-|wl-|albert|uni-)/.test(name);
let oddElsewhere = 0;
const segs =
    x => [0, 1].map(k => x.ids.map((id, j) => [id, x.type_ids[j], J(x.offsets[j])]).filter(v => v[1] === k));
const truncOk = (r, g, L) => {
    const t = r.trunc[L];
    if (J([ t.ids, t.type_ids, t.offsets ]) === J([ g.ids, g.type_ids, g.offsets ]))
        return true;
    if (!wordPiece || g.ids.length !== t.ids.length || !g.type_ids)
        return false;
    const full = segs(r.pair), mine = segs(g), theirs = segs(t);
    // [CLS] A [SEP] | B [SEP]: each side's tokens minus its specials must be a prefix of the full pair's side
    const prefix = (cut, all, tail) => cut.slice(0, cut.length - tail).every((v, j) => J(v) === J(all[j]));
    const ok = prefix(mine[0], full[0], 1) && prefix(mine[1], full[1], 1) &&
               Math.abs(mine[0].length - theirs[0].length) <= 1;
    if (ok)
        oddElsewhere++;
    return ok;
};
for (const a of truncArgs) {
    const [L, p] = a.split('=');
    modes.push([ `pair-truncated-${L}`, rd(p), (r, g) => truncOk(r, g, L) ]);
}
const shownRef = (mode, r) => mode.startsWith('pair-truncated-')
                                  ? (t => [t.ids, t.type_ids, t.offsets])(r.trunc[mode.slice(15)])
                              : mode === 'decode'          ? r.dec
                              : mode === 'decode-skip'     ? r.dec_skip
                              : mode === 'special'         ? r.ids_special
                              : mode === 'offsets'         ? [ r.ids, r.offsets ]
                              : mode === 'offsets-special' ? [ r.ids_special, r.offsets_special ]
                              : mode === 'offsets-pair'    ? [ r.pair.ids, r.pair.type_ids, r.pair.offsets ]
                                                           : r.ids;
const shownGot = (mode, g) => mode.startsWith('dec') ? g.text
                              : mode === 'offsets-pair' || mode.startsWith('pair-truncated-')
                                  ? [ g.ids, g.type_ids, g.offsets ]
                              : mode.startsWith('offsets') ? [ g.ids, g.offsets ]
                                                           : g.ids;
let bad = 0;
for (const [mode, got, eq] of modes) {
  let ok = 0, shown = 0;
  for (let i = 0; i < ref.length; i++) {
    if (got[i] && eq(ref[i], got[i])) { ok++; continue; }
    if (shown++ < 3) {
      const t = JSON.stringify(corpus[i].text);
      console.log(`  ${name} ${mode} line ${i + 1} ${t.length > 80 ? t.slice(0, 80) + '...' : t}`);
      console.log(`    ref: ${J(shownRef(mode, ref[i])).slice(0, 600)}`);
      console.log(`    got: ${String(J(got[i] ? shownGot(mode, got[i]) : null)).slice(0, 600)}`);
    }
  }
  console.log(`${name} ${mode}: ${ok}/${ref.length} equal` +
              (oddElsewhere ? ` (${oddElsewhere} with the odd token elsewhere)` : ''));
  oddElsewhere = 0;
  if (ok !== ref.length || got.length !== ref.length) bad = 1;
}
process.exit(bad);
