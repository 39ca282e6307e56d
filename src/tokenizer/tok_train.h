/* tokenizer training: learn a byte-level BPE vocabulary from text and write a standard
 * tokenizer.json + tokenizer_config.json. Prefix ft_tok_train_.
 *
 * Pipeline (the same one the written tokenizer.json declares, so training and encoding agree):
 *   text -> special-token strings cut out -> ByteLevel pre-tokenizer (GPT-2 regex, add_prefix_space
 *   false) -> words (byte-level strings) counted in a hash table -> BPE merges.
 * The words are produced by the tokenizer pipeline itself (a tokenizer built from the skeleton of the
 * tokenizer.json that will be written), never by a second copy of the regex.
 *
 * Merges follow Hugging Face `tokenizers`' BpeTrainer: repeatedly merge the most frequent adjacent pair;
 * ties go to the pair with the smaller (left id, right id), ids being: special tokens first (in the
 * given order), then the 256 byte-level characters sorted by code point, then merged tokens in the
 * order they were learned. Stops when the vocabulary (specials + 256 + merged tokens) reaches
 * vocab_size, when no pair is left, or when the best pair occurs fewer than min_frequency times.
 * The result depends only on the multiset of (word, count): the thread count never changes it.
 *
 * Input units ("sequences"): each line of a text file, newline included (HF train_from_files reads
 * lines the same way), or the text field of each JSONL record. Input must be valid UTF-8; a bad line
 * fails naming file:line. */
#ifndef FT_TOK_TRAIN_H
#define FT_TOK_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ftune.h"

typedef struct {
    size_t vocab_size;          /* total size: special tokens + 256 byte characters + merged tokens */
    uint64_t min_frequency;     /* a pair seen fewer times is never merged (0 or 1: any pair) */
    const char *const *special; /* special tokens, ids 0..n_special-1 in this order (may be NULL) */
    size_t n_special;
    int threads;                       /* threads for reading and counting words; 0 = OpenMP default */
    const char *bos, *eos, *pad, *unk; /* roles in tokenizer_config.json; NULL = guess from the names */
    bool add_bos;                      /* post_processor prepends bos (TemplateProcessing) instead of none */
    size_t model_max_length;           /* tokenizer_config.json; 0 = 2048 */
} ft_tok_train_opts;
void ft_tok_train_opts_default(ft_tok_train_opts *o); /* vocab 16000, min_frequency 2, no specials */

typedef struct {
    uint64_t bytes, sequences, words; /* input read so far; words = pre-tokenized words counted */
    size_t distinct_words;
    size_t merges;     /* merges learned (= vocab entries added, unless two merges built one string) */
    size_t vocab_size; /* final vocabulary size */
    const char *stop;  /* why merging stopped: "vocab size reached", "no pair left", "min frequency" */
    double count_seconds, merge_seconds;
} ft_tok_train_stats;

typedef struct ft_tok_trainer ft_tok_trainer;

ft_status ft_tok_train_new(const ft_tok_train_opts *o, ft_tok_trainer **out);
void ft_tok_train_free(ft_tok_trainer *t);

/* Count the words of a UTF-8 text file, one sequence per line (newline included). */
ft_status ft_tok_train_add_file(ft_tok_trainer *t, const char *path);
/* Count the words of the string field `field` of each record of a JSONL file (blank lines skipped). */
ft_status ft_tok_train_add_jsonl(ft_tok_trainer *t, const char *path, const char *field);
/* Count the words of text[0..len), one sequence per line; `name` is used in error messages. */
ft_status ft_tok_train_add_text(ft_tok_trainer *t, const char *text, size_t len, const char *name);

/* Learn the merges from everything added (once). */
ft_status ft_tok_train_run(ft_tok_trainer *t);
const ft_tok_train_stats *ft_tok_train_stats_get(const ft_tok_trainer *t);

/* After run: the learned merges in order (ids into the vocabulary) and the token strings (byte-level
 * form, e.g. "Ġthe"); NULL for an id out of range. */
size_t ft_tok_train_n_merges(const ft_tok_trainer *t);
void ft_tok_train_merge(const ft_tok_trainer *t, size_t i, int32_t *left, int32_t *right, int32_t *result);
const char *ft_tok_train_token(const ft_tok_trainer *t, int32_t id, size_t *len);

/* Write DIR/tokenizer.json and DIR/tokenizer_config.json (atomically; DIR is created). */
ft_status ft_tok_train_save(const ft_tok_trainer *t, const char *dir);

#endif
