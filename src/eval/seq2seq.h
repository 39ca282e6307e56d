/* eval/seq2seq: what an encoder-decoder's generated text scores against its targets (task seq2seq). The
 * model generates from each example's source ids (ft_gen_run with the T5 model: the prompt is the encoder's
 * input, the output the decoder's ids), the text is decoded with the special tokens skipped, and the
 * reference is the example's label ids decoded the same way (what Hugging Face's run_summarization scores:
 * the tokenized, possibly truncated target). Metrics: corpus BLEU (sacreBLEU defaults), ROUGE-1/2/L/Lsum
 * F-measures (rouge-score, no stemming), SQuAD exact match and token F1 (0..100) — the definitions of
 * `ftune score` (docs/metrics.md). Prefix ft_s2s_. */
#ifndef FT_EVAL_SEQ2SEQ_H
#define FT_EVAL_SEQ2SEQ_H

#include <stdio.h>

#include "data/pretok.h"
#include "eval/generate.h"

typedef struct {
    double bleu;                              /* 0..100 */
    double rouge1, rouge2, rougeL, rougeLsum; /* mean F over examples, 0..1 */
    double exact_match, f1;                   /* SQuAD normalisation, 0..100 */
    size_t n;                                 /* examples generated and scored */
} ft_s2s_score;

/* How an evaluation generates (borrowed by ft_dataset.s2s for the trainer's evaluations). */
typedef struct ft_s2s_eval {
    ft_tokenizer *tok; /* decodes outputs and references, bounds the ids drawn, gives the eos */
    ft_gen_cfg gen;    /* decoding settings: max_new_tokens, greedy or sampling, ... */
    size_t limit;      /* score the first `limit` examples only (0 = all) */
    FILE *out;         /* each example's {"prediction", "reference"} as a JSON line, in order (NULL = none) */
} ft_s2s_eval;

/* The scores of n generated texts against their references (n ≥ 1). */
ft_status ft_s2s_score_texts(const char *const *hyps, const char *const *refs, size_t n, ft_s2s_score *out);

/* Generate for the examples of d (ex[i].ids = source, ex[i].labels[0..dec_len) = target; the first
 * e->limit of them, or all) and score. hyps (may be NULL) gets the n generated texts (malloc'd array of
 * malloc'd strings, free with ft_s2s_texts_free). */
ft_status ft_s2s_generate_score(ft_model *m, const ft_dataset *d, const ft_s2s_eval *e, ft_s2s_score *out,
                                char ***hyps);
void ft_s2s_texts_free(char **texts, size_t n);

#endif
