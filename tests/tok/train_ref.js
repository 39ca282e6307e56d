// Train a byte-level BPE with Hugging Face `tokenizers` (npm binding) on text files, the way
// `ftune tokenizer train` does: ByteLevel pre-tokenizer (add_prefix_space false, GPT-2 regex), each line
// one sequence. The binding exposes only the model's default BpeTrainer (vocab 30000, min_frequency 0,
// no special tokens, alphabet = the characters seen), so the caller trains ftune with
// --min-frequency 0 and the vocab size printed here. Writes {"merges": [[a, b], ...],
// "merged_tokens": [token by id, merged tokens only], "ftune_vocab_size": 256 + merged tokens}.
// usage: node train_ref.js NPM_DIR OUT.json FILE...
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');
const [npmDir, outPath, ...files] = process.argv.slice(2);
const tk = require(path.resolve(npmDir, 'node_modules', 'tokenizers'));
const tok = new tk.Tokenizer(tk.BPE.empty());
tok.setPreTokenizer(tk.byteLevelPreTokenizer(false, true));
tok.train(files);
const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fttrain-')), 'tokenizer.json');
tok.save(tmp, false);
const model = JSON.parse(fs.readFileSync(tmp, 'utf8')).model;
fs.rmSync(path.dirname(tmp), { recursive: true });
const merges = model.merges.map(m => (Array.isArray(m) ? m : m.split(' ')));
const byId = Object.entries(model.vocab).sort((a, b) => a[1] - b[1]).map(e => e[0]);
const merged = byId.filter(t => [...t].length > 1);
fs.writeFileSync(outPath, JSON.stringify({ merges, merged_tokens: merged, ftune_vocab_size: 256 + merged.length }));
