/* cli/qa_cli: extractive question answering in the commands (train, eval, predict). CLI-private. */
#ifndef FT_CLI_QA_CLI_H
#define FT_CLI_QA_CLI_H

#include "cli/trained.h"
#include "data/qa.h"
#include "eval/qa_post.h"

/* The examples and windows of the train / validation / test files of a recipe (the sets are owned here, the
 * datasets point at the windows). */
typedef struct {
    ft_qa_set set[3];
    ft_qa_feats f[3];
} ft_cli_qa;
void ft_cli_qa_free(ft_cli_qa *q);
/* The window length (data.max_length, else train.seq_len) and the post-processing keys of a recipe. */
int ft_cli_qa_max_length(const ft_recipe *r);
void ft_cli_qa_post_from(const ft_recipe *r, ft_qa_post_cfg *c);
/* Read data.train (and data.validation / data.test when given: QA files are not split) into windows;
 * what was skipped is reported on report. */
ft_status ft_cli_qa_data(const ft_recipe *r, ft_tokenizer *tok, ft_cli_qa *q, ft_dataset *tr, ft_dataset *va,
                         ft_dataset *te, FILE *report);
/* `ftune eval` of a question-answering model on a SQuAD JSON / JSONL file: EM, F1 (and the HasAns / NoAns
 * split when some questions have no answer), printed as a table or one JSON object. */
ft_status ft_cli_qa_eval(ft_trained *t, const char *data, int batch_size, bool json);
/* A test line's "test: ..." metrics (after the loss). */
void ft_cli_qa_print_score(const ft_qa_score *s, FILE *f);

#endif
