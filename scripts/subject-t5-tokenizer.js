// A T5-layout Unigram tokenizer for the subject-line task (docs/seq2seq.md "Real data: subject lines"),
// trained with Hugging Face `tokenizers` (npm binding; its default UnigramTrainer: 8000 pieces) on the
// source and target texts of the training split only, and written as OUT/tokenizer.json +
// tokenizer_config.json in t5-small's layout: <pad> </s> <unk> as ids 0, 1, 2, the Precompiled nmt_nfkc
// character map (taken from ALBERT's real SentencePiece tokenizer.json in the fixtures) then runs of spaces
// squeezed, WhitespaceSplit + Metaspace, the post-processor "$A </s>", the Metaspace decoder.
// usage: node subject-t5-tokenizer.js NPM_DIR ALBERT_TOKENIZER_JSON TRAIN.jsonl OUT_DIR
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const [npmDir, albertJson, trainJsonl, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node subject-t5-tokenizer.js NPM_DIR ALBERT_TOKENIZER_JSON TRAIN.jsonl OUT_DIR');
  process.exit(2);
}
const tk = require(path.resolve(npmDir, 'node_modules', 'tokenizers'));

// one training sequence per text: every body and every subject of the training split
const texts = [];
for (const line of fs.readFileSync(trainJsonl, 'utf8').split('\n')) {
  if (!line) continue;
  const row = JSON.parse(line);
  texts.push(row.source.replace(/\s+/g, ' '), row.target.replace(/\s+/g, ' '));
}
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'subjtok-'));
const corpus = path.join(scratch, 'corpus.txt');
fs.writeFileSync(corpus, texts.map(t => t.replace(/\u0000/g, '')).join('\n') + '\n');
const trainer = new tk.Tokenizer(tk.Unigram.empty());
trainer.setPreTokenizer(tk.metaspacePreTokenizer());
trainer.train([corpus]);
trainer.save(path.join(scratch, 'trained.json'), false);
const specials = ['<pad>', '</s>', '<unk>'];
const pieces = JSON.parse(fs.readFileSync(path.join(scratch, 'trained.json'), 'utf8'))
  .model.vocab.filter(([piece]) => !specials.includes(piece));
fs.rmSync(scratch, { recursive: true });

const albert = JSON.parse(fs.readFileSync(albertJson, 'utf8'));
const charsmap = albert.normalizer.normalizers.find(n => n.type === 'Precompiled').precompiled_charsmap;
const metaspace = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true };
const eos = { SpecialToken: { id: '</s>', type_id: 0 } };
const tokenizer = {
  version: '1.0', truncation: null, padding: null,
  added_tokens: specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false,
                                                 normalized: false, special: true })),
  normalizer: { type: 'Sequence', normalizers: [
    { type: 'Precompiled', precompiled_charsmap: charsmap },
    { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' } ] },
  pre_tokenizer: { type: 'Sequence', pretokenizers: [ { type: 'WhitespaceSplit' }, metaspace ] },
  post_processor: { type: 'TemplateProcessing', single: [ { Sequence: { id: 'A', type_id: 0 } }, eos ],
                    pair: [ { Sequence: { id: 'A', type_id: 0 } }, eos, { Sequence: { id: 'B', type_id: 0 } }, eos ],
                    special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } } },
  decoder: metaspace,
  model: { type: 'Unigram', unk_id: 2, vocab: [ ...specials.map(t => [t, 0]), ...pieces ], byte_fallback: false },
};
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'tokenizer.json'), JSON.stringify(tokenizer));
fs.writeFileSync(path.join(outDir, 'tokenizer_config.json'), JSON.stringify({
  eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>', model_max_length: 512,
  tokenizer_class: 'T5TokenizerFast' }, null, 2) + '\n');
console.log(`${outDir}: ${specials.length + pieces.length} pieces (${pieces.length} trained on ${texts.length} texts)`);
