// Compare ftune's JSONL outputs with the reference's; prints "NAME MODE equal/total" and the first
// differences; exit 1 on any difference.
// usage: node compare.js NAME REF CORPUS ENC ENC_SPECIAL DEC DEC_SKIP
'use strict';
const fs = require('fs');
const [name, refP, corpusP, encP, encsP, decP, decsP] = process.argv.slice(2);
const rd = p => fs.readFileSync(p, 'utf8').split('\n').filter(l => l.length).map(l => JSON.parse(l));
const ref = rd(refP), corpus = rd(corpusP);
const modes = [
  ['ids+tokens', rd(encP), (r, g) => JSON.stringify([r.ids, r.tokens]) === JSON.stringify([g.ids, g.tokens])],
  ['special', rd(encsP), (r, g) => JSON.stringify(r.ids_special) === JSON.stringify(g.ids)],
  ['decode', rd(decP), (r, g) => r.dec === g.text],
  ['decode-skip', rd(decsP), (r, g) => r.dec_skip === g.text],
];
let bad = 0;
for (const [mode, got, eq] of modes) {
  let ok = 0, shown = 0;
  for (let i = 0; i < ref.length; i++) {
    if (got[i] && eq(ref[i], got[i])) { ok++; continue; }
    if (shown++ < 3) {
      const t = JSON.stringify(corpus[i].text);
      console.log(`  ${name} ${mode} line ${i + 1} ${t.length > 80 ? t.slice(0, 80) + '...' : t}`);
      console.log(`    ref: ${JSON.stringify(mode.startsWith('dec') ? (mode === 'decode' ? ref[i].dec : ref[i].dec_skip) : mode === 'special' ? ref[i].ids_special : ref[i].ids).slice(0, 300)}`);
      console.log(`    got: ${String(JSON.stringify(got[i] ? (mode.startsWith('dec') ? got[i].text : got[i].ids) : null)).slice(0, 300)}`);
    }
  }
  console.log(`${name} ${mode}: ${ok}/${ref.length} equal`);
  if (ok !== ref.length || got.length !== ref.length) bad = 1;
}
process.exit(bad);
