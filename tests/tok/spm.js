// Turn a SentencePiece model file (a ModelProto protobuf) into the tokenizer.json Hugging Face's
// converter (transformers' AlbertConverter) writes for ALBERT: model Unigram (vocab [piece, score] in
// file order, a score lowered by 100 for pieces ending in digit + ",", unk_id = the UNKNOWN piece),
// normalizer Sequence[Replace("``" -> '"'), Replace("''" -> '"'), NFKD, StripAccents, Lowercase,
// Precompiled(the model's precompiled_charsmap), Replace(/ {2,}/ -> " ")], Metaspace pre-tokenizer and
// decoder (prepend_scheme always), TemplateProcessing [CLS] $A [SEP] / [CLS] $A [SEP] $B [SEP], the
// control and unknown pieces as special added tokens.
// usage: node spm.js MODEL OUT_DIR        (writes OUT_DIR/tokenizer.json)
'use strict';
const fs = require('fs');
const path = require('path');
const [modelPath, outDir] = process.argv.slice(2);
const b = fs.readFileSync(modelPath);

function varint(i) {
  let r = 0n, s = 0n;
  for (;;) {
    if (i >= b.length) throw new Error(`${modelPath}: truncated varint`);
    const c = b[i++];
    r |= BigInt(c & 127) << s;
    s += 7n;
    if (!(c & 128)) return [r, i];
  }
}
// Fields of the message in b[s..e): [number, wire type, value] (value: BigInt, [start, end) or a float).
function* fields(s, e) {
  let i = s;
  while (i < e) {
    let k;
    [k, i] = varint(i);
    const f = Number(k >> 3n), w = Number(k & 7n);
    if (w === 0) { let v; [v, i] = varint(i); yield [f, v]; }
    else if (w === 2) { let l; [l, i] = varint(i); yield [f, [i, i + Number(l)]]; i += Number(l); }
    else if (w === 5) { yield [f, b.readFloatLE(i)]; i += 4; }
    else if (w === 1) { yield [f, b.readDoubleLE(i)]; i += 8; }
    else throw new Error(`${modelPath}: wire type ${w}`);
  }
}

const pieces = []; // [piece, score, type] (type 1 normal, 2 unknown, 3 control, 4 user defined, 6 byte)
let charsmap = null, modelType = 1;
for (const [f, v] of fields(0, b.length)) {
  if (f === 1) {
    let p = '', score = 0, type = 1;
    for (const [g, x] of fields(v[0], v[1])) {
      if (g === 1) p = b.toString('utf8', x[0], x[1]);
      else if (g === 2) score = x;
      else if (g === 3) type = Number(x);
    }
    pieces.push([p, score, type]);
  } else if (f === 2) {
    for (const [g, x] of fields(v[0], v[1])) if (g === 3) modelType = Number(x);
  } else if (f === 3) {
    for (const [g, x] of fields(v[0], v[1])) if (g === 2) charsmap = b.subarray(x[0], x[1]);
  }
}
if (modelType !== 1) throw new Error(`${modelPath}: model_type ${modelType}, not unigram (1)`);
if (!charsmap || !charsmap.length) throw new Error(`${modelPath}: no precompiled_charsmap`);
const unkId = pieces.findIndex(p => p[2] === 2);
const numberComma = p => p.length >= 2 && p.endsWith(',') && /[0-9]/.test(p[p.length - 2]);
const vocab = pieces.map(([p, s]) => [p, numberComma(p) ? s - 100 : s]);
const id = t => pieces.findIndex(p => p[0] === t);
const added = pieces.map((p, i) => [p, i]).filter(([p]) => p[2] === 2 || p[2] === 3).map(([p, i]) => ({
  id: i, content: p[0], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
const st = (t, ty) => ({ SpecialToken: { id: t, type_id: ty } });
const sq = (t, ty) => ({ Sequence: { id: t, type_id: ty } });
const ms = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true };
const j = {
  version: '1.0', truncation: null, padding: null, added_tokens: added,
  normalizer: { type: 'Sequence', normalizers: [
    { type: 'Replace', pattern: { String: '``' }, content: '"' },
    { type: 'Replace', pattern: { String: "''" }, content: '"' },
    { type: 'NFKD' }, { type: 'StripAccents' }, { type: 'Lowercase' },
    { type: 'Precompiled', precompiled_charsmap: charsmap.toString('base64') },
    { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' },
  ] },
  pre_tokenizer: ms,
  post_processor: { type: 'TemplateProcessing',
    single: [st('[CLS]', 0), sq('A', 0), st('[SEP]', 0)],
    pair: [st('[CLS]', 0), sq('A', 0), st('[SEP]', 0), sq('B', 1), st('[SEP]', 1)],
    special_tokens: {
      '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
      '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
    } },
  decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
  model: { type: 'Unigram', unk_id: unkId, vocab, byte_fallback: false },
};
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'tokenizer.json'), JSON.stringify(j));
