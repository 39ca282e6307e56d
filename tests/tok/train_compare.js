// Compare ftune's trained tokenizer.json with train_ref.js's output: the same merges in the same order
// and the same merged tokens in the same id order. Prints "merges: N/M equal"; exit 1 on a difference.
// usage: node train_compare.js REF.json FTUNE_DIR/tokenizer.json
'use strict';
const fs = require('fs');
const [refP, gotP] = process.argv.slice(2);
const ref = JSON.parse(fs.readFileSync(refP, 'utf8'));
const model = JSON.parse(fs.readFileSync(gotP, 'utf8')).model;
const got = model.merges.map(m => (Array.isArray(m) ? m : m.split(' ')));
const merged = Object.entries(model.vocab).sort((a, b) => a[1] - b[1]).map(e => e[0]).filter(t => [...t].length > 1);
let same = 0;
while (same < Math.min(got.length, ref.merges.length) && got[same][0] === ref.merges[same][0] &&
       got[same][1] === ref.merges[same][1]) same++;
console.log(`merges: ${same}/${ref.merges.length} equal (ftune learned ${got.length})`);
if (same < Math.max(got.length, ref.merges.length))
  console.log(`  first difference at ${same}: ref ${JSON.stringify(ref.merges[same])} ftune ${JSON.stringify(got[same])}`);
const tokOk = JSON.stringify(merged) === JSON.stringify(ref.merged_tokens);
console.log(`merged tokens in id order: ${tokOk ? 'equal' : 'differ'} (${merged.length} vs ${ref.merged_tokens.length})`);
process.exit(same === ref.merges.length && got.length === ref.merges.length && tokOk ? 0 : 1);
