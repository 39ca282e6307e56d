/* data/dataset: text datasets → tokenized examples for a task. Readers (JSONL, CSV/TSV, text) with
 * field mapping, cleaning, augmentation, deterministic splits, tokenization, packing, prompt masking. */
#ifndef FT_DATASET_H
#define FT_DATASET_H

#include <stdio.h>

#include "data/pretok.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    const char *train, *validation, *test; /* files; validation/test NULL = split from train */
    /* rows given in memory (the C API's datasets) instead of those files, each NULL = the file; the rows are
     * copied, then cleaned and split exactly as a file's */
    const struct ft_data_recs_s *rows[3];
    const char *format;          /* "auto" (by extension) | "jsonl" | "csv" | "tsv" | "text" */
    const char *text_field;      /* "text" */
    const char *text_pair_field; /* NULL */
    const char *label_field;     /* "label" */
    const char *prompt_field;    /* "prompt" (instruction) */
    const char *response_field;  /* "response" */
    const char *messages_field;  /* "messages" (chat list of {role, content}) */
    const char *chat_template;   /* NULL = plain prompt+response; "chatml" | "llama3" | "llama2" | "alpaca" */
    float val_ratio, test_ratio; /* when splitting one file (0.1, 0.1) */
    bool stratify;               /* split per label (classification) */
    int max_len;                 /* truncate to this many tokens */
    const char *truncation;      /* "head" (keep the start; default) | "tail" (keep the end); special
                                    tokens the post-processor adds (CLS/SEP/BOS/EOS) are kept either way */
    bool pack;                   /* causal LM: pack texts into max_len blocks */
    bool append_eos;             /* classification/regression: end every example with the eos token,
                                    kept last by truncation (a fixed position for the pooled head) */
    int max_windows;             /* classification/regression: > 1 = a text longer than max_len becomes up to
                                    this many windows of max_len tokens, all with the text's label; evaluation
                                    averages their logits per text (data.max_windows); 0/1 = truncate */
    int window_overlap;          /* content tokens shared by consecutive windows (data.window_overlap, 32) */
    size_t train_limit;          /* > 0: keep this many training rows (stratified when stratify, seeded);
                                    validation and test are untouched (few-shot runs) */
    int64_t train_limit_seed;    /* the draw's seed; < 0 = seed (the split stays seed's either way) */
    int64_t split_seed;          /* the train/validation/test split's seed; < 0 = seed */
    /* seq2seq (task FT_TASK_SEQ2SEQ): the source is read from text_field and the target from response_field
       (the recipe maps data.source_field / data.target_field onto them); max_len cuts the source */
    const char *prefix;          /* put before every source ("summarize: "), NULL = none */
    int max_target_len;          /* target tokens kept, eos included (0 = max_len) */
    const char *replay;          /* causal LM: general text mixed into the training examples */
    float replay_ratio;          /* share of the training examples that come from replay (0.25) */
    /* cleaning (each switchable) */
    bool clean_unicode, clean_whitespace, clean_html, clean_email_headers, dedup_exact, dedup_near;
    bool drop_garbled;           /* drop empty rows, invalid UTF-8, rows mostly U+FFFD/control/symbols */
    float near_dup_threshold;    /* MinHash Jaccard estimate at or above which a later row is dropped (0.8) */
    int min_chars, max_chars;    /* 0 = no limit */
    /* augmentation (training split only) */
    float augment_factor;        /* 0 = off; k = k augmented copies per example on average */
    float aug_p_delete, aug_p_swap, aug_p_insert, aug_p_synonym;
    const char *wordnet_dir;     /* NULL = /usr/share/wordnet */
    uint64_t seed;
} ft_data_cfg;
void ft_data_cfg_default(ft_data_cfg *c);

/* Build the train/validation/test datasets for a task (labels discovered on the training split and
 * stored in train->label_names; the same ids used for the other splits). summary (may be NULL) gets a
 * human-readable account of what each cleaning step removed and the split sizes. */
ft_status ft_data_build(const ft_data_cfg *cfg, ft_task task, ft_tokenizer *tok, ft_dataset *train,
                        ft_dataset *val, ft_dataset *test, FILE *summary);

/* Length-grouped batch order (HF LengthGroupedSampler): a seeded shuffle, cut into mega-batches of
 * 50*batch_size, each sorted by length (longest first), cut into batches whose order is shuffled again.
 * order_out[ds->n] gets a permutation of 0..n-1; consecutive runs of batch_size are the batches. */
ft_status ft_data_length_groups(const ft_dataset *ds, int batch_size, uint64_t seed, size_t *order_out);
/* Append the end-of-sequence id (declared eos, else "<|endoftext|>" or "</s>") unless ids already end
 * with it: data.append_eos. Truncation then keeps it last, as any trailing special token. */
ft_status ft_data_append_eos(const ft_tokenizer *tok, ft_tok_ids *ids);
/* Cut ids to max_len as ft_data_build cuts an example: special tokens at both ends kept, content dropped
 * from the end (head) or the start (keep_tail); with append_eos, room is made for the eos first and it
 * is appended, so it is always last. *truncated: content was dropped. type_ids move with the ids. */
ft_status ft_data_fit(const ft_tokenizer *tok, ft_tok_ids *ids, size_t max_len, bool keep_tail,
                      bool append_eos, bool *truncated);
/* Seq2seq's cut: ids end with the eos within max_len (the head kept), as HF's T5 tokenizer truncates: an eos
 * the post-processor put last stays last, else one is appended (room made first). */
ft_status ft_data_fit_eos(const ft_tokenizer *tok, ft_tok_ids *ids, size_t max_len, bool *truncated);
/* data.max_windows: cut encoded ids (special tokens at both ends as the post-processor added them) into
 * windows that each fit max_len as ft_data_fit fits one text: the same leading/trailing special tokens (and
 * the eos with append_eos) in every window, consecutive windows sharing `overlap` content tokens, the last
 * reaching the end of the text. More than max_windows windows: the first ones are kept (the last ones with
 * keep_tail); *truncated = text was dropped. max_windows <= 1, or a text that fits: one window, equal to
 * ft_data_fit's result. *out (malloc'd, *n_out entries) is freed with ft_data_windows_free. Fails when
 * overlap leaves no room to advance. */
ft_status ft_data_windows(const ft_tokenizer *tok, const ft_tok_ids *ids, size_t max_len, bool keep_tail,
                          bool append_eos, int overlap, int max_windows, ft_tok_ids **out, size_t *n_out,
                          bool *truncated);
void ft_data_windows_free(ft_tok_ids *w, size_t n);
/* The id to pad input_ids with: pad, else eos, else 0 (pads are masked out anyway). */
int32_t ft_data_pad_id(const ft_tokenizer *tok);

/* ---- the stages, for `ftune data` and tests ---- */
typedef struct {
    char *role, *content;
} ft_data_msg;
/* One raw row: the mapped fields (NULL when absent) and where it came from. */
typedef struct {
    char *text, *text_pair, *label, *prompt, *response;
    ft_data_msg *msgs;
    int n_msgs;
    char *file;
    long line;
} ft_data_rec;
typedef struct ft_data_recs_s {
    ft_data_rec *r;
    size_t n, cap;
} ft_data_recs;
void ft_data_recs_free(ft_data_recs *rs);
void ft_data_rec_free(ft_data_rec *r);
ft_status ft_data_recs_push(ft_data_recs *rs, ft_data_rec *r); /* takes ownership of *r (zeroed) */
/* Set a zeroed row's fields to copies of the given strings (NULL: not given). */
ft_status ft_data_rec_fill(ft_data_rec *r, const char *text, const char *text_pair, const char *label,
                           const char *prompt, const char *response, const char *file);
/* Append deep copies of src's rows to dst. */
ft_status ft_data_recs_append(ft_data_recs *dst, const ft_data_recs *src);
/* Where the training rows come from, for messages: the file, or "(the caller's rows)". */
const char *ft_data_train_name(const ft_data_cfg *cfg);

/* Append the rows of one file (format by cfg->format; "auto" by extension: .jsonl/.json, .csv, .tsv,
 * else text = one row per non-empty line). Malformed rows fail naming file:line. A UTF-8 BOM is skipped. */
ft_status ft_data_read(const char *path, const ft_data_cfg *cfg, ft_data_recs *out);

/* Raw RFC 822 mail -> UTF-8 text: "Subject\n\nbody" (strip_headers) or the decoded header block then the
 * body. MIME: the text/plain parts (else text/html), quoted-printable/base64, declared charsets through
 * iconv (RFC 2047 encoded words in Subject too); undeclared or unknown charsets: UTF-8 if valid, else
 * windows-1252. *recoded = the bytes were not UTF-8 and went through a charset. */
ft_status ft_data_mail_text(const char *raw, size_t len, bool strip_headers, char **out, bool *recoded);
/* Every DIR/<group>/ *.txt as one mail row; label = the group name without an "easy-"/"hard-" prefix and a
 * "-<digits>" suffix (easy-ham-1 -> ham). n_recoded counts mails decoded from a non-UTF-8 charset. */
ft_status ft_data_read_mail_dir(const char *dir, bool strip_headers, ft_data_recs *out, size_t *n_recoded);

/* A mail's decoded Subject (NULL when the header is absent) and body text, as ft_data_mail_text decodes them.
 */
ft_status ft_data_mail_subject_body(const char *raw, size_t len, char **subject, char **body, bool *recoded);
/* Subject-line pairs (task seq2seq, docs/seq2seq.md "Real data"): every mail of DIR/<group>/ *.txt whose
 * group label (as ft_data_read_mail_dir names it) is `label` becomes a row with text = its body (lines
 * holding a "Subject:" header, quoted or not, removed; cut to max_bytes at a character boundary, 0 = whole)
 * and response = its Subject (ft_data_subject_clean). Mails without a subject left, or with an empty body,
 * are skipped and counted. */
typedef struct {
    size_t mails, other_label, no_subject, empty_body, markers, recoded, pairs;
} ft_data_subject_stats;
ft_status ft_data_read_mail_subjects(const char *dir, const char *label, size_t max_bytes, ft_data_recs *out,
                                     ft_data_subject_stats *st);
/* A Subject without its reply / forward markers ("Re:", "Fwd:", "FW:", "AW:", "Re[2]:", repeated, also
 * right after a leading "[list]" tag, which stays), whitespace normalized; malloc'd (NULL: out of memory). */
char *ft_data_subject_clean(const char *subject);
/* A body without its "Subject:" lines (quoted or not), cut to max_bytes (0 = whole); malloc'd. */
char *ft_data_body_clean(const char *body, size_t max_bytes);

/* Cleaning: what each step removed. */
typedef struct {
    size_t in, garbled, too_short, too_long, dup_exact, dup_near, out;
    size_t changed_unicode, changed_whitespace, changed_html, changed_headers;
} ft_data_clean_stats;
ft_status ft_data_clean(const ft_data_cfg *cfg, ft_data_recs *rs, ft_data_clean_stats *st);
void ft_data_clean_print(const ft_data_clean_stats *st, const char *name, FILE *f);
/* The single text steps (malloc'd results, NULL when out of memory). */
char *ft_data_norm_unicode(const char *s);     /* NFKC; invalid UTF-8 bytes become U+FFFD */
char *ft_data_norm_whitespace(const char *s);  /* controls dropped, runs of blanks -> one space, blank
                                                  lines collapsed to one, ends trimmed */
char *ft_data_strip_html(const char *s);       /* tags, comments, script/style bodies; entities decoded */
char *ft_data_strip_email_headers(const char *s); /* a leading RFC 822 header block -> its Subject only */
bool ft_data_is_garbled(const char *s);
/* 128 MinHash values of the lower-cased word 3-gram shingles of s. */
void ft_data_minhash(const char *s, uint64_t sig[128]);
double ft_data_minhash_sim(const uint64_t a[128], const uint64_t b[128]);

/* Augmentation (EDA): a WordNet lexicon from Debian's wordnet-base data.{noun,verb,adj,adv}. */
typedef struct ft_wordnet ft_wordnet;
ft_status ft_wordnet_load(const char *dir, ft_wordnet **out);
void ft_wordnet_free(ft_wordnet *wn);
/* Synonyms of a lower-case word (its synsets' other lemmas, '_' -> ' '), up to max; returns the count. */
size_t ft_wordnet_synonyms(const ft_wordnet *wn, const char *word, const char **out, size_t max);
bool ft_wordnet_has_pair(const ft_wordnet *wn, const char *a, const char *b); /* share a synset */
/* One augmented copy of text; the random choices depend only on (seed, stream). */
ft_status ft_data_augment_text(const char *text, const ft_data_cfg *cfg, const ft_wordnet *wn, uint64_t seed,
                               uint64_t stream, char **out);
/* Appends augmented copies of the rows with text (factor cfg->augment_factor); *added = their count. */
ft_status ft_data_augment(const ft_data_cfg *cfg, const ft_wordnet *wn, ft_data_recs *rs, size_t *added);

/* Deterministic split: the rows of all move into train/val/test (all is left empty). Stratified: each
 * label's rows are split by the ratios on their own. Sizes: round(n*ratio) per group. */
ft_status ft_data_split(ft_data_recs *all, float val_ratio, float test_ratio, bool stratify, uint64_t seed,
                        ft_data_recs *train, ft_data_recs *val, ft_data_recs *test);
/* Keep n rows of rs (all when rs->n <= n or n == 0), the rest freed; rows keep their order. Stratified:
 * each label gets its share of n by largest remainder (at least one per label when n >= the number of
 * labels), its rows picked by a seeded shuffle of that label's rows alone. */
ft_status ft_data_subsample(ft_data_recs *rs, size_t n, bool stratify, uint64_t seed);
/* What ft_data_build does before augmenting and tokenizing: read cfg->train (and validation/test when
 * given), clean each, split train by val/test_ratio (stratified by label for classification) from
 * cfg->seed, then keep cfg->train_limit training rows; rs[0..2] = train, validation, test rows (free with ft_data_recs_free). The same cfg gives
 * the same rows in the same splits as training sees. */
ft_status ft_data_splits(const ft_data_cfg *cfg, ft_task task, ft_data_recs rs[3], FILE *summary);

/* Write rows as JSONL: {"text":..,"label":..} (and prompt/response/messages when present). */
ft_status ft_data_write_jsonl(const char *path, const ft_data_recs *rs);

#endif
