/* eval: evaluation metrics (classification, regression, perplexity, BLEU, ROUGE, SQuAD) and the
 * pred/ref file reader behind `ftune score`. Definitions: docs/metrics.md. */
#ifndef FT_METRICS_H
#define FT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "core/core.h"

/* ---- classification (scikit-learn's definitions, zero_division = 0) ---- */
typedef struct {
    size_t n_classes, n;
    char **labels;        /* sorted (strcmp) union of true and predicted labels; NULL for the id form */
    int64_t *confusion;   /* [n_classes][n_classes]: row = true class, column = predicted class */
    double *precision, *recall, *f1; /* per class */
    int64_t *support;     /* per class: count in y_true */
    double accuracy;
    double precision_macro, recall_macro, f1_macro;
    double precision_micro, recall_micro, f1_micro;
    double precision_weighted, recall_weighted, f1_weighted;
} ft_metric_cls;

/* Class ids in [0, n_classes). Every class counts in the macro average, like sklearn's `labels=`. */
ft_status ft_metric_classification_ids(const int *y_true, const int *y_pred, size_t n, size_t n_classes,
                                       ft_metric_cls *out);
/* String labels; the classes are the union of both sides (sklearn's unique_labels). */
ft_status ft_metric_classification(const char *const *y_true, const char *const *y_pred, size_t n,
                                   ft_metric_cls *out);
void ft_metric_cls_free(ft_metric_cls *m);
/* The ten fixed keys of `ftune score --metric classification --json` (accuracy, precision/recall/f1
 * macro, micro, weighted) added to j; non-finite values as null. */
void ft_metric_cls_json(const ft_metric_cls *m, cJSON *j);

/* ---- regression ---- */
typedef struct {
    double mse, mae, r2; /* r2 is NaN with fewer than two samples (as sklearn) */
} ft_metric_reg;
ft_status ft_metric_regression(const double *y_true, const double *y_pred, size_t n, ft_metric_reg *out);

/* ---- perplexity: exp(nll_sum / n_tokens) ---- */
ft_status ft_metric_perplexity(double nll_sum, double n_tokens, double *out);

/* ---- references: example i has refs[off[i]] .. refs[off[i+1]-1] ---- */

/* ---- BLEU (sacreBLEU corpus_score) ---- */
#define FT_BLEU_MAX_ORDER 8
typedef enum { FT_BLEU_SMOOTH_EXP = 0, FT_BLEU_SMOOTH_NONE, FT_BLEU_SMOOTH_FLOOR, FT_BLEU_SMOOTH_ADD_K } ft_bleu_smooth;
typedef enum { FT_BLEU_TOK_13A = 0, FT_BLEU_TOK_NONE } ft_bleu_tok;
typedef struct {
    int max_order;          /* 4 */
    ft_bleu_smooth smooth;  /* exp */
    double smooth_value;    /* < 0: the method's default (floor 0.1, add-k 1) */
    ft_bleu_tok tokenize;   /* 13a */
    bool effective_order;   /* false */
} ft_bleu_opts;
void ft_bleu_opts_default(ft_bleu_opts *o);
typedef struct {
    double bleu;                           /* 0..100 */
    double precisions[FT_BLEU_MAX_ORDER];  /* 0..100 */
    double counts[FT_BLEU_MAX_ORDER], totals[FT_BLEU_MAX_ORDER];
    double bp;
    int64_t sys_len, ref_len;
    int max_order;
} ft_bleu_score;
ft_status ft_metric_bleu(const char *const *hyps, size_t n, const char *const *refs, const size_t *off,
                         const ft_bleu_opts *o, ft_bleu_score *out);
/* sacreBLEU's 13a tokenization of one segment (trailing whitespace stripped first); malloc'd result. */
ft_status ft_bleu_tokenize_13a(const char *s, char **out);

/* ---- ROUGE (rouge-score: F-measures; several references take the best F per type) ---- */
typedef struct {
    double rouge1, rouge2, rougeL, rougeLsum; /* mean F-measure over examples, 0..1 */
} ft_rouge_score;
typedef struct {
    double p, r, f;
} ft_rouge_prf;
/* One pair: out[0..3] = rouge1, rouge2, rougeL, rougeLsum. */
ft_status ft_rouge_pair(const char *target, const char *prediction, bool stem, ft_rouge_prf out[4]);
ft_status ft_metric_rouge(const char *const *preds, size_t n, const char *const *refs, const size_t *off,
                          bool stem, ft_rouge_score *out);
/* rouge-score's tokenizer: lowercase, non-[a-z0-9] runs split, optional Porter stem of tokens longer
 * than 3 characters. Returns the tokens as one malloc'd buffer of NUL-separated strings. */
ft_status ft_rouge_tokenize(const char *text, bool stem, char **buf, size_t *n_tokens);
/* NLTK's PorterStemmer (NLTK_EXTENSIONS mode) on a lowercase ASCII word of length len; out needs
 * len + 1 bytes. Returns the stem's length. */
size_t ft_porter_stem(const char *word, size_t len, char *out);

/* ---- SQuAD v1.1 exact match and token F1 (max over gold answers), 0..100 ---- */
typedef struct {
    double exact_match, f1;
} ft_squad_score;
ft_status ft_metric_squad(const char *const *preds, size_t n, const char *const *golds, const size_t *off,
                          ft_squad_score *out);
/* SQuAD's normalize_answer (lower, drop punctuation, drop articles, squeeze spaces); malloc'd. */
ft_status ft_squad_normalize(const char *s, char **out);
/* One prediction against one gold answer (0/1 and 0..1). */
ft_status ft_squad_pair(const char *pred, const char *gold, double *em, double *f1);

/* ---- `ftune score` data: predictions and references read from files ---- */
typedef struct {
    size_t n;           /* examples */
    char **pred;        /* n */
    size_t *pred_line;  /* 1-based line of each prediction */
    const char *pred_path;
    char **refs;        /* off[n] references */
    size_t *off;        /* n + 1 */
    size_t *ref_line;   /* line of each reference */
    const char **ref_path; /* file of each reference (the caller's strings) */
} ft_score_data;
/* Reads one example per line (text), or one JSON value per line for `.jsonl` (a string; in a
 * reference file also a non-empty list of strings; numbers become their text). Several reference
 * files give several references per example. */
ft_status ft_score_read(const char *pred_path, const char *const *ref_paths, size_t n_ref_paths,
                        ft_score_data *out);
void ft_score_data_free(ft_score_data *d);

typedef struct {
    bool stem;          /* ROUGE Porter stemming */
    ft_bleu_opts bleu;
} ft_score_opts;
/* The metric names `ftune score` knows, NULL-terminated. */
extern const char *const ft_score_metrics[];
/* Computes metric on d; *json (a cJSON object, free with cJSON_Delete) holds the fixed keys and
 * *text a human-readable report (malloc'd). */
struct cJSON;
ft_status ft_score_compute(const char *metric, const ft_score_data *d, const ft_score_opts *o,
                           struct cJSON **json, char **text);

#endif
