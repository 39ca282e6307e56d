// Unigram test tokenizers: train a Unigram model with Hugging Face `tokenizers` (npm binding, its default
// UnigramTrainer behind a Metaspace pre-tokenizer) on the even lines of the corpus, so that characters
// found only in the odd lines (CJK, emoji, ...) are unknown, and write OUT/<name>/tokenizer.json for
//   uni-t5  T5's layout: <pad> </s> <unk> first (unk_id 2), normalizer Sequence[Precompiled(ALBERT's
//           nmt_nfkc charsmap), Replace(/ {2,}/ -> " ")], pre-tokenizer Sequence[WhitespaceSplit,
//           Metaspace], post-processor $A </s> / $A </s> $B </s>, decoder Metaspace
//   uni-bf  byte_fallback: <unk> <s> </s> and the 256 <0xNN> pieces first, no normalizer, Metaspace
//           (prepend_scheme first, no split: a line is one word), post-processor <s> $A, decoder
//           Sequence[Replace(▁ -> " "), ByteFallback, Fuse, Strip(" ", 1, 0)] (Llama's)
// usage: node unigram.js NPM_DIR TOK_DIR CORPUS OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');
const [npmDir, tokDir, corpus, outDir] = process.argv.slice(2);
const tk = require(path.resolve(npmDir, 'node_modules', 'tokenizers'));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ftuni-'));
const lines = fs.readFileSync(corpus, 'utf8').split('\n').filter(l => l).map(l => JSON.parse(l).text);
// U+0000 left out of training: a piece holding it could not be read back (a C JSON string ends at NUL).
fs.writeFileSync(path.join(tmp, 'train.txt'),
                 lines.filter((_, i) => i % 2 === 0).join('\n').replace(/\u0000/g, '') + '\n');
const tok = new tk.Tokenizer(tk.Unigram.empty());
tok.setPreTokenizer(tk.metaspacePreTokenizer());
tok.train([path.join(tmp, 'train.txt')]);
tok.save(path.join(tmp, 'trained.json'), false);
// The corpus holds "<s>" and "</s>", so the trained vocab has them as pieces: dropped, as the special pieces
// put first take those strings (a repeated piece is not something a real vocabulary has).
const trained = JSON.parse(fs.readFileSync(path.join(tmp, 'trained.json'), 'utf8')).model.vocab
  .filter(([p]) => !['<s>', '</s>', '<pad>', '<unk>'].includes(p));
fs.rmSync(tmp, { recursive: true });
const albert = JSON.parse(fs.readFileSync(path.join(tokDir, 'albert', 'tokenizer.json'), 'utf8'));
const charsmap = albert.normalizer.normalizers.find(n => n.type === 'Precompiled').precompiled_charsmap;

function write(name, j) {
  fs.mkdirSync(path.join(outDir, name), { recursive: true });
  fs.writeFileSync(path.join(outDir, name, 'tokenizer.json'), JSON.stringify(j));
}
const added = (id, content) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false,
                                  special: true });
const st = (t, ty) => ({ SpecialToken: { id: t, type_id: ty } });
const sq = (t, ty) => ({ Sequence: { id: t, type_id: ty } });
const special = (t, id) => ({ [t]: { id: t, ids: [id], tokens: [t] } });

{
  const sp = ['<pad>', '</s>', '<unk>'];
  write('uni-t5', {
    version: '1.0', truncation: null, padding: null, added_tokens: sp.map((t, i) => added(i, t)),
    normalizer: { type: 'Sequence', normalizers: [
      { type: 'Precompiled', precompiled_charsmap: charsmap },
      { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' } ] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [ { type: 'WhitespaceSplit' },
      { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true } ] },
    post_processor: { type: 'TemplateProcessing', single: [sq('A', 0), st('</s>', 0)],
      pair: [sq('A', 0), st('</s>', 0), sq('B', 0), st('</s>', 0)], special_tokens: special('</s>', 1) },
    decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 2, vocab: [...sp.map(t => [t, 0]), ...trained], byte_fallback: false },
  });
}
{
  const sp = ['<unk>', '<s>', '</s>'];
  const bytes = Array.from({ length: 256 }, (_, b) => [`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0]);
  write('uni-bf', {
    version: '1.0', truncation: null, padding: null, added_tokens: sp.map((t, i) => added(i, t)),
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false },
    post_processor: { type: 'TemplateProcessing', single: [st('<s>', 0), sq('A', 0)],
      pair: [st('<s>', 0), sq('A', 0), st('<s>', 1), sq('B', 1)], special_tokens: special('<s>', 1) },
    decoder: { type: 'Sequence', decoders: [ { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
      { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 } ] },
    model: { type: 'Unigram', unk_id: 0, vocab: [...sp.map(t => [t, 0]), ...bytes, ...trained], byte_fallback: true },
  });
}
