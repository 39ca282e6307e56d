/* eval/qa_post: extractive QA post-processing as HF run_qa's postprocess_qa_predictions (utils_qa.py):
 * over all windows of an example, the n_best start and end logits, the spans that lie in the context with
 * end >= start and at most max_answer_length tokens, the best one's text cut from the context by character
 * offsets; SQuAD 2.0 style: the null score (min over windows of start_logit[0] + end_logit[0]) wins when it
 * exceeds the best non-null span's score by more than null_score_diff_threshold. And SQuAD EM / F1. */
#ifndef FT_EVAL_QA_POST_H
#define FT_EVAL_QA_POST_H

#include "data/qa.h"

void ft_qa_post_cfg_default(ft_qa_post_cfg *c); /* 20, 30, false, 0.0 */

typedef struct {
    char *text;                          /* "" = no answer (SQuAD 2.0) */
    double start_logit, end_logit, prob; /* prob: softmax over the n-best list's scores (HF) */
    double null_score;                   /* min over windows of start_logit[0] + end_logit[0] */
} ft_qa_answer;

/* logits[w] = window w's [len][2] (start, end) logits. The windows of an example must be consecutive (as
 * ft_qa_features makes them); out[set->n] answers (free with ft_qa_answers_free). c = NULL: f->post. */
ft_status ft_qa_postprocess(const ft_qa_feats *f, const float *const *logits, const ft_qa_post_cfg *c,
                            ft_qa_answer *out);
void ft_qa_answers_free(ft_qa_answer *a, size_t n);

/* SQuAD EM / F1 (0..100) of one answer per example: max over its gold answers (ft_squad_pair); an
 * unanswerable example's only gold is "" and counts 1 when the prediction normalizes to "" (the official
 * SQuAD 2.0 script). has_ans / no_ans: the same over the answerable / unanswerable examples. */
typedef struct {
    double exact_match, f1;
    size_t n, n_has_ans, n_no_ans;
    double has_ans_em, has_ans_f1, no_ans_em, no_ans_f1;
} ft_qa_score;
ft_status ft_qa_score_answers(const ft_qa_set *set, const ft_qa_answer *a, ft_qa_score *out);

#endif
