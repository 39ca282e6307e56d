/* eval/tagging: token-classification metrics. Token accuracy over the evaluated words, and for a BIO /
 * IOB2 / IOBES tag set the entity-level precision / recall / F1 exactly as seqeval's default (non-strict)
 * mode computes them (chunks from get_entities over the sentences joined with an 'O' between them, micro
 * over every entity and per entity type); for any other tag set (POS tags) macro-F1 over the tags. */
#ifndef FT_EVAL_TAGGING_H
#define FT_EVAL_TAGGING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core.h"

/* One chunk: its type (the tag after "B-"/"I-"..., "_" when none) and first/last position (inclusive). */
typedef struct {
    char *type;
    size_t begin, end;
} ft_tag_chunk;

/* seqeval's get_entities (suffix = false) over tags[0..n): a chunk ends and starts by its begin/end-of-chunk
 * rules (a chunk ends after E/S, before B/S/O after B/I, and on a type change; it starts at B/S, at I/E after
 * O/E/S, and on a type change). *out malloc'd (free with ft_tag_chunks_free). */
ft_status ft_tag_chunks(const char *const *tags, size_t n, ft_tag_chunk **out, size_t *n_out);
void ft_tag_chunks_free(ft_tag_chunk *c, size_t n);

/* Whether every tag is "O" or starts with "B-", "I-", "E-" or "S-" (and one is not "O"): entity metrics
 * apply. */
bool ft_tag_set_is_bio(const char *const *tags, size_t n);

typedef struct {
    char *type;
    int64_t n_true, n_pred, n_correct;
    double precision, recall, f1;
} ft_tag_type_score;

typedef struct {
    int64_t n_words, n_correct; /* evaluated words (first pieces with a known tag) */
    double accuracy;
    bool entities; /* the tag set is BIO-like: the entity fields below are set */
    int64_t n_true, n_pred, n_correct_ent;
    double precision, recall, f1; /* micro over all entities (seqeval's default average) */
    ft_tag_type_score *types;     /* per entity type, sorted by name (the union of true and predicted) */
    size_t n_types;
    double f1_macro_tags; /* not BIO-like: macro-F1 over the tags present in truth or prediction */
} ft_metric_tag;

/* y_true / y_pred: tag ids into names[0..n_names) of the words, sentence s = [off[s], off[s+1]). */
ft_status ft_metric_tagging(const int32_t *y_true, const int32_t *y_pred, const size_t *off, size_t n_sent,
                            char *const *names, int n_names, ft_metric_tag *out);
void ft_metric_tag_free(ft_metric_tag *m);
/* A result as `ftune eval` shows it: the table (word accuracy, entity P/R/F1 and the per-type rows, or the
 * tags' macro-F1) on f; its --json fields (accuracy, n_words, then f1_macro or precision / recall / f1, the
 * entity counts and per_type) added to j. */
void ft_metric_tag_print(const ft_metric_tag *m, FILE *f);
struct cJSON;
void ft_metric_tag_json(const ft_metric_tag *m, struct cJSON *j);

#endif
