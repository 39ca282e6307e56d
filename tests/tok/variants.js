// Build tokenizer.json variants from the fetched fixtures, for pipelines the published files do not
// exercise (offsets parity): OUT/<name>/tokenizer.json for
//   roberta      RoBERTa's layout on GPT-2's vocabulary: ByteLevel pre-tokenizer, RobertaProcessing with
//                trim_offsets (add_prefix_space false, as roberta-base), <s> </s> <pad> <unk> and an
//                lstrip <mask> appended after GPT-2's ids
//   roberta-aps  the same with add_prefix_space true (pre-tokenizer and post-processor)
//   metaspace    Mistral's vocabulary with a Metaspace pre-tokenizer (prepend_scheme first, no split)
//                instead of the Prepend+Replace normalizers (Llama/T5-style SentencePiece files)
//   wp-nfc       bert-base-uncased's WordPiece behind Sequence[NFD, Lowercase, NFC, Replace(regex
//                digits -> "0"), Strip] and WhitespaceSplit+Punctuation+Digits
//   wp-nfkd      the same vocabulary behind Sequence[Replace(regex \s+ -> " "), NFKD, StripAccents,
//                Lowercase, Prepend("x")] and BertPreTokenizer
//   wl-nmt       a WordLevel model over bert-base-uncased's whole words (no ## pieces) behind
//                Sequence[Nmt, NFKC, Lowercase] and Whitespace, BertProcessing, no decoder (ids joined
//                by spaces when decoding); unknown words become [UNK]
//   wl-ws        the same vocabulary, cased (most capitalized words unknown), the Nmt normalizer alone,
//                Whitespace, no post-processor
// usage: node variants.js TOK_DIR OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const [tokDir, outDir] = process.argv.slice(2);

function write(name, j) {
  fs.mkdirSync(path.join(outDir, name), { recursive: true });
  fs.writeFileSync(path.join(outDir, name, 'tokenizer.json'), JSON.stringify(j));
}
const added = (id, content, o = {}) => ({ id, content, single_word: false, lstrip: false, rstrip: false,
  normalized: false, special: true, ...o });

function roberta(aps) {
  const vocab = JSON.parse(fs.readFileSync(path.join(tokDir, 'gpt2', 'encoder.json'), 'utf8'));
  const merges = fs.readFileSync(path.join(tokDir, 'gpt2', 'vocab.bpe'), 'utf8').split('\n')
    .filter((l, i) => l.length && !(i === 0 && l.startsWith('#version')));
  const n = Object.keys(vocab).length;
  const sp = ['<s>', '<pad>', '</s>', '<unk>', '<mask>'];
  sp.forEach((t, i) => { vocab[t] = n + i; });
  const bl = { add_prefix_space: aps, trim_offsets: true, use_regex: true };
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: sp.map((t, i) => added(n + i, t, t === '<mask>' ? { lstrip: true } : {})),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...bl },
    post_processor: { type: 'RobertaProcessing', sep: ['</s>', n + 2], cls: ['<s>', n], trim_offsets: true,
                      add_prefix_space: aps },
    decoder: { type: 'ByteLevel', ...bl },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
             fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

function metaspace() {
  const j = JSON.parse(fs.readFileSync(path.join(tokDir, 'mistral', 'tokenizer.json'), 'utf8'));
  j.normalizer = null;
  j.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false };
  return j;
}

function wordpiece(normalizer, pre_tokenizer) {
  const lines = fs.readFileSync(path.join(tokDir, 'bert', 'vocab.txt'), 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const vocab = {};
  lines.forEach((t, i) => { if (!(t in vocab)) vocab[t] = i; });
  const sp = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: sp.map(c => added(vocab[c], c)),
    normalizer, pre_tokenizer,
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', vocab['[SEP]']], cls: ['[CLS]', vocab['[CLS]']] },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

function wordlevel(normalizer, post) {
  const lines = fs.readFileSync(path.join(tokDir, 'bert', 'vocab.txt'), 'utf8').split('\n');
  const vocab = {};
  let n = 0;
  for (const t of lines) if (t && !t.startsWith('##') && !(t in vocab)) vocab[t] = n++;
  const sp = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: sp.map(c => added(vocab[c], c)),
    normalizer, pre_tokenizer: { type: 'Whitespace' },
    post_processor: post ? { type: 'BertProcessing', sep: ['[SEP]', vocab['[SEP]']], cls: ['[CLS]', vocab['[CLS]']] }
      : null,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '[UNK]' },
  };
}

write('roberta', roberta(false));
write('roberta-aps', roberta(true));
write('metaspace', metaspace());
write('wp-nfc', wordpiece(
  { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'Lowercase' }, { type: 'NFC' },
    { type: 'Replace', pattern: { Regex: '[0-9]+' }, content: '0' }, { type: 'Strip', strip_left: true, strip_right: true }] },
  { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Punctuation', behavior: 'Isolated' },
    { type: 'Digits', individual_digits: true }] }));
write('wp-nfkd', wordpiece(
  { type: 'Sequence', normalizers: [{ type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'NFKD' },
    { type: 'StripAccents' }, { type: 'Lowercase' }, { type: 'Prepend', prepend: 'x' }] },
  { type: 'BertPreTokenizer' }));
write('wl-nmt', wordlevel({ type: 'Sequence', normalizers: [{ type: 'Nmt' }, { type: 'NFKC' }, { type: 'Lowercase' }] },
  true));
write('wl-ws', wordlevel({ type: 'Nmt' }, false));
