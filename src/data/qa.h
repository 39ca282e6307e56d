/* data/qa: extractive question answering data. SQuAD-format JSON (data[].paragraphs[].context /
 * qas[].{id, question, answers[{text, answer_start}], is_impossible}) and JSONL rows as HF datasets' squad
 * ({id, question, context, answers: {text: [...], answer_start: [...]}}); features as HF's run_qa
 * (prepare_train_features / prepare_validation_features): question first, context second, only the context
 * cut, long contexts in windows overlapping by doc_stride tokens, answer token positions from the
 * tokenizer's character offsets. */
#ifndef FT_DATA_QA_H
#define FT_DATA_QA_H

#include <stdio.h>

#include "data/pretok.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    char *id, *question, *context; /* question with leading whitespace removed (run_qa's lstrip) */
    size_t *cbyte;                 /* [n_chars + 1] byte offset of each code point of context */
    size_t n_chars;
    char **answers;       /* [n_answers] */
    size_t *answer_start; /* [n_answers] in code points (Python str indices, as SQuAD's answer_start) */
    int n_answers;        /* 0: unanswerable (is_impossible, or an empty answers list) */
    char *where;          /* "file:line" (JSONL) or "file: id" (SQuAD JSON) for messages */
} ft_qa_example;

typedef struct {
    ft_qa_example *ex;
    size_t n, cap;
    size_t n_bad_answers; /* answers whose text was not at answer_start: skipped */
    size_t n_dropped;     /* answerable examples left with no valid answer: skipped */
} ft_qa_set;

/* Read a file (".jsonl": one example per line; else a SQuAD JSON object with "data", or JSONL when the
 * file is not one JSON object) and append its examples. Each answer is checked against its context
 * (the text at answer_start); the bad ones are counted, the first few named in report (may be NULL), and
 * skipped. Malformed input fails naming file:line (JSONL) or the example id. */
ft_status ft_qa_read(const char *path, ft_qa_set *out, FILE *report);
void ft_qa_set_free(ft_qa_set *s);
/* Append one question without an answer (`ftune predict`); where names it in messages. */
ft_status ft_qa_set_add(ft_qa_set *set, const char *id, const char *question, const char *context,
                        const char *where);
/* The context text from code point cs to ce (malloc'd). */
char *ft_qa_context_span(const ft_qa_example *e, size_t cs, size_t ce);

/* A window (feature): which example, its token count, and for each token the [start, end) code points in
 * the example's context, start = -1 for the tokens that are not context (question, special tokens). */
typedef struct {
    size_t example;
    int len;
    int64_t *off_start, *off_end;
} ft_qa_window;

/* Post-processing settings (eval/qa_post.c), kept with the windows they apply to. */
typedef struct {
    int n_best;                       /* 20 */
    int max_answer_length;            /* 30 tokens */
    bool version_2_with_negative;     /* false */
    double null_score_diff_threshold; /* 0.0 */
} ft_qa_post_cfg;

typedef struct ft_qa_feats {
    ft_qa_window *w;
    size_t n;
    const ft_qa_set *set; /* not owned */
    size_t n_cut;         /* examples whose answer is not inside a window (labelled CLS there) */
    ft_qa_post_cfg post;  /* how evaluation turns their logits into answers (defaults) */
} ft_qa_feats;

/* Windows of every example of set, at most max_len tokens each, consecutive ones sharing doc_stride context
 * tokens, as examples of ds (ids, type ids, start_pos / end_pos: the first answer's first and last token,
 * or 0 (the CLS position) when the window does not hold the whole answer or the example is unanswerable)
 * with their offsets in f (ds->qa = f). A question that leaves no room for context at max_length, or for
 * more than doc_stride context tokens when the context needs several windows, fails naming the example. */
ft_status ft_qa_features(ft_tokenizer *tok, const ft_qa_set *set, int max_len, int doc_stride, ft_dataset *ds,
                         ft_qa_feats *f);
void ft_qa_feats_free(ft_qa_feats *f);

#endif
