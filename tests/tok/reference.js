// Reference tokenization with Hugging Face `tokenizers` (Rust, npm binding): for each corpus line,
// writes {"ids", "tokens", "ids_special", "dec", "dec_skip", "offsets", "offsets_special", "pair"} as
// JSONL. Offsets are getOffsets(): [start, end) in code points of the line (the binding asks the Rust core
// for char offsets, not JS UTF-16 units). "pair" encodes (line i, line i+1 (wrapping)) with special tokens:
// {ids, type_ids, offsets}; "trunc" the same pair cut by truncation (longest_first) to 12 and 40 tokens:
// {"12": {ids, type_ids, offsets}, "40": ...}.
// usage: node reference.js NPM_DIR TOKENIZER_DIR KIND CORPUS OUT
//   KIND: json (DIR/tokenizer.json), gpt2 (DIR/encoder.json + vocab.bpe), bert (DIR/vocab.txt)
// gpt2 and bert are turned into the tokenizer.json that Hugging Face publishes for gpt2 and
// bert-base-uncased, so the reference runs the same pipeline those models use.
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');
const [npmDir, dir, kind, corpus, outPath] = process.argv.slice(2);
const { Tokenizer } = require(path.resolve(npmDir, 'node_modules', 'tokenizers'));

function gpt2Json(d) {
  const vocab = JSON.parse(fs.readFileSync(path.join(d, 'encoder.json'), 'utf8'));
  const merges = fs.readFileSync(path.join(d, 'vocab.bpe'), 'utf8').split('\n')
    .filter((l, i) => l.length && !(i === 0 && l.startsWith('#version')));
  const bl = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...bl },
    post_processor: { type: 'ByteLevel', ...bl, trim_offsets: false },
    decoder: { type: 'ByteLevel', ...bl },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
             fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

function bertJson(d) {
  const lines = fs.readFileSync(path.join(d, 'vocab.txt'), 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const vocab = {};
  lines.forEach((t, i) => { if (!(t in vocab)) vocab[t] = i; });
  const sp = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const st = (id, t) => ({ SpecialToken: { id, type_id: t } });
  const sq = (id, t) => ({ Sequence: { id, type_id: t } });
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: sp.map(c => ({ id: vocab[c], content: c, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [st('[CLS]', 0), sq('A', 0), st('[SEP]', 0)],
      pair: [st('[CLS]', 0), sq('A', 0), st('[SEP]', 0), sq('B', 1), st('[SEP]', 1)],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [vocab['[CLS]']], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [vocab['[SEP]']], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

(async () => {
  let file = path.join(dir, 'tokenizer.json');
  if (kind !== 'json') {
    const j = kind === 'gpt2' ? gpt2Json(dir) : bertJson(dir);
    file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fttok-')), 'tokenizer.json');
    fs.writeFileSync(file, JSON.stringify(j));
  }
  const tok = Tokenizer.fromFile(file);
  // Pin the unit: the binding's offsets count code points (U+1F600 is 1), not UTF-16 units (2) or bytes (4).
  const probe = (await tok.encode('\u{1F600}', null, { addSpecialTokens: false })).getOffsets();
  const probeEnd = Math.max(0, ...probe.map(o => o[1]));
  if (probe.length && probeEnd !== 1) {
    console.error(`reference.js: offsets of U+1F600 end at ${probeEnd}, not 1: the binding no longer counts code points`);
    process.exit(1);
  }
  // Truncation (longest_first, right), as `ftune tokenize --max-length L` cuts: pairs at these lengths.
  const TRUNC = [ 12, 40 ];
  const truncTok = TRUNC.map(L => {
      const t = Tokenizer.fromFile(file);
      t.setTruncation(L, {strategy : 'LongestFirst'});
      return t;
  });
  const out = [];
  const texts = fs.readFileSync(corpus, 'utf8').split('\n').filter(l => l.length).map(l => JSON.parse(l).text);
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i];
    const e = await tok.encode(text, null, { addSpecialTokens: false });
    const es = await tok.encode(text, null, { addSpecialTokens: true });
    const ep = await tok.encode(text, texts[(i + 1) % texts.length], { addSpecialTokens: true });
    const ids = Array.from(es.getIds());
    const trunc = {};
    for (let k = 0; k < TRUNC.length; k++) {
        const et = await truncTok[k].encode(text, texts[(i + 1) % texts.length], {addSpecialTokens : true});
        trunc[TRUNC[k]] = {
            ids : Array.from(et.getIds()),
            type_ids : Array.from(et.getTypeIds()),
            offsets : et.getOffsets()
        };
    }
    out.push(JSON.stringify({
        ids : Array.from(e.getIds()),
        tokens : e.getTokens(),
        ids_special : ids,
        dec : await tok.decode(ids, false),
        dec_skip : await tok.decode(ids, true),
        offsets : e.getOffsets(),
        offsets_special : es.getOffsets(),
        pair : {
            ids : Array.from(ep.getIds()),
            type_ids : Array.from(ep.getTypeIds()),
            offsets : ep.getOffsets()
        },
        trunc,
    }));
  }
  fs.writeFileSync(outPath, out.join('\n') + '\n');
})().catch(e => { console.error(e); process.exit(1); });
