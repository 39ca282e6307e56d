/* tokenizer: Hugging Face tokenizers in C — text to the exact ids a model was trained on.
 *
 * Loads `tokenizer.json` (+ `tokenizer_config.json` for the special tokens' roles), the legacy GPT-2
 * pair `encoder.json` + `vocab.bpe`, or a BERT `vocab.txt`. Supported pieces:
 *   models:          BPE (byte-level and SentencePiece-style with byte_fallback, ignore_merges), WordPiece,
 *                    Unigram (T5, mT5, ALBERT, XLNet; byte_fallback)
 *   normalizers:     NFC NFD NFKC NFKD Lowercase Strip StripAccents Replace Prepend BertNormalizer
 *                    Precompiled (SentencePiece's charsmap) Sequence
 *   pre-tokenizers:  ByteLevel Split Metaspace BertPreTokenizer Whitespace WhitespaceSplit Digits
 *                    Punctuation Sequence
 *   post-processors: TemplateProcessing BertProcessing RobertaProcessing ByteLevel Sequence
 *   decoders:        ByteLevel ByteFallback Fuse Strip Replace Metaspace WordPiece Sequence
 * Anything else fails to load with an error naming the type.
 *
 * Pipeline of ft_tok_encode (the same as HF `tokenizers`): added tokens with normalized=false are cut
 * out of the raw text first (leftmost-longest, lstrip/rstrip/single_word honoured); each remaining
 * segment is normalized, then added tokens with normalized=true are cut out of it; the pre-tokenizer
 * splits the rest into words, the model turns each word into ids, and with add_special the
 * post-processor adds BOS/EOS/CLS/SEP. ft_tok_encode_offsets also tracks, through every step, which
 * characters of the original text each token comes from (HF's encoding.offsets; docs/tokenizers.md).
 *
 * Input text must be valid UTF-8: invalid input fails with FT_ERR_ARG naming the byte offset (the CLI
 * reports the line). NUL and other control characters are ordinary characters.
 *
 * Threads: a tokenizer keeps a word cache, so one ft_tokenizer must not be used by two threads at
 * once; load one per thread (loading is cheap next to training) or serialize the calls. */
#ifndef FT_TOKENIZER_H
#define FT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ftune.h"

typedef struct ft_tokenizer ft_tokenizer;

/* Where a token comes from: [start, end) in its own sequence's original text (for a pair, each sequence
 * counts from its own start), as Hugging Face `tokenizers` reports encoding.offsets: the range of the
 * original characters the token's normalized characters were made from; (0, 0) for the special tokens
 * the post-processor adds. */
typedef struct {
    size_t start, end;
} ft_tok_offset;
/* Units of offsets: Unicode code points (what HF's Python and Node bindings give, = Python str indices,
 * e.g. SQuAD's answer_start), or bytes of the UTF-8 text (HF's Rust encode). */
typedef enum { FT_TOK_OFFSETS_CHARS, FT_TOK_OFFSETS_BYTES } ft_tok_offset_unit;

/* A growable list of token ids. type_ids[i] is the segment (0 = first sequence, 1 = second) as the
 * post-processor assigns it; mask is NULL except after ft_tok_chat_encode, where mask[i] = 1 marks a
 * token written by the assistant (the tokens the loss is taken on); offsets is NULL except after
 * ft_tok_encode_offsets / ft_tok_encode_pair_offsets. Start zeroed ({0}); each encode call replaces the
 * content; free with ft_tok_ids_free. */
typedef struct {
    int32_t *ids;
    int32_t *type_ids;
    uint8_t *mask;
    size_t n, cap;
    ft_tok_offset *offsets;
} ft_tok_ids;
void ft_tok_ids_free(ft_tok_ids *ids);
/* Append one id (type type_id; mask 0 and offsets (0,0) where those arrays exist), growing every array. */
ft_status ft_tok_ids_push(ft_tok_ids *ids, int32_t id, int32_t type_id);

/* Load from a directory (tokenizer.json, else encoder.json + vocab.bpe, else vocab.txt) or from one
 * of those files. tokenizer_config.json next to it, when present, names bos/eos/pad/unk/cls/sep. */
ft_status ft_tok_load(const char *dir_or_file, ft_tokenizer **out);
void ft_tok_free(ft_tokenizer *tok);

/* text[0..len) -> ids. add_special: let the post-processor add BOS/EOS/CLS/SEP (HF
 * add_special_tokens=True). Special-token strings inside text ("<|im_end|>") always become their id. */
ft_status ft_tok_encode(ft_tokenizer *tok, const char *text, size_t len, bool add_special, ft_tok_ids *out);
/* A pair of sequences (BERT-style); type_ids tell them apart as the post-processor says. */
ft_status ft_tok_encode_pair(ft_tokenizer *tok, const char *a, size_t alen, const char *b, size_t blen,
                             bool add_special, ft_tok_ids *out);

/* The same ids, and out->offsets[i] for every token (see ft_tok_offset). Plain ft_tok_encode does not
 * track offsets and costs nothing extra. */
ft_status ft_tok_encode_offsets(ft_tokenizer *tok, const char *text, size_t len, bool add_special,
                                ft_tok_offset_unit unit, ft_tok_ids *out);
ft_status ft_tok_encode_pair_offsets(ft_tokenizer *tok, const char *a, size_t alen, const char *b,
                                     size_t blen, bool add_special, ft_tok_offset_unit unit, ft_tok_ids *out);

/* a (and the pair b, or NULL) cut to max_len tokens as Hugging Face tokenizers' truncation (strategy
 * longest_first, direction right, stride 0) cuts them: the special tokens the post-processor adds count
 * against max_len and are kept; one text keeps its first tokens; of a pair, the shorter keeps all its
 * tokens when the longer can take the rest (the longer then keeps max(shorter, budget - shorter)), else each
 * keeps half of the budget (the longer one the odd token, the second one when they are equally long).
 * Checked against the tokenizers npm binding (tests/tokenizer_parity.sh; for WordPiece it sometimes gives
 * the odd token to the other text). max_len 0 = no cut; offsets as
 * ft_tok_encode_offsets when offsets is true. A max_len below the number of special tokens fails. */
ft_status ft_tok_encode_truncated(ft_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                                  bool add_special, size_t max_len, bool offsets, ft_tok_offset_unit unit,
                                  ft_tok_ids *out);

/* ids -> text. *out is malloc'd and NUL-terminated (free with free()); *out_len excludes the NUL (the
 * text may contain NUL bytes). skip_special drops special added tokens. An id outside the vocabulary
 * fails with FT_ERR_RANGE. */
ft_status ft_tok_decode(const ft_tokenizer *tok, const int32_t *ids, size_t n, bool skip_special, char **out,
                        size_t *out_len);

/* The token string of an id (NULL if unknown; *len set when len != NULL). Byte-level tokens come back
 * in their mapped form ("Ġhello"). */
const char *ft_tok_id_to_token(const ft_tokenizer *tok, int32_t id, size_t *len);
/* The id of a token string, or -1. */
int32_t ft_tok_token_to_id(const ft_tokenizer *tok, const char *token, size_t len);
/* 1 + the largest id (model vocabulary and added tokens together). */
size_t ft_tok_vocab_size(const ft_tokenizer *tok);
bool ft_tok_is_special(const ft_tokenizer *tok, int32_t id);

/* Special ids, -1 when the tokenizer has none. From tokenizer_config.json (bos_token, eos_token,
 * pad_token, unk_token, cls_token, sep_token), else from the post-processor and model. */
typedef struct {
    int32_t bos, eos, pad, unk, cls, sep, mask;
} ft_tok_special;
ft_tok_special ft_tok_special_ids(const ft_tokenizer *tok);
/* "BPE", "WordPiece" or "Unigram"; and whether the BPE is byte-level. */
const char *ft_tok_model_type(const ft_tokenizer *tok);
/* A byte-level BPE (GPT-2 / RoBERTa alphabet, "Ġ" for a leading space). */
bool ft_tok_is_byte_level(const ft_tokenizer *tok);

/* ---- chat / instruction templates ----
 * Built-in formats, selected by name:
 *   "chatml"  <|im_start|>{role}\n{content}<|im_end|>\n            (Qwen, many others)
 *   "llama3"  <|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>, after <|begin_of_text|>
 *   "llama2"  <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s>
 *   "alpaca"  "### Instruction:\n{user}\n\n### Response:\n{assistant}" + eos, after an optional system line
 * Messages are rendered to one string and encoded once (so ids equal encoding the rendered text);
 * out->mask[i] = 1 for the tokens of each assistant reply and its end-of-turn token. With
 * add_generation_prompt the text ends with the header that asks for the next assistant reply. */
typedef struct {
    const char *role; /* "system", "user" or "assistant" */
    const char *content;
} ft_tok_msg;
/* Render only (malloc'd NUL-terminated text into *out). */
ft_status ft_tok_chat_render(const char *format, const ft_tok_msg *msgs, size_t n, bool add_generation_prompt,
                             char **out);
ft_status ft_tok_chat_encode(ft_tokenizer *tok, const char *format, const ft_tok_msg *msgs, size_t n,
                             bool add_generation_prompt, ft_tok_ids *out);
/* Names of the built-in formats, NULL-terminated. */
const char *const *ft_tok_chat_formats(void);

#endif
