/* cli/qa_cli: extractive question answering in the commands (train, eval, predict). CLI-private. */
#ifndef FT_CLI_QA_CLI_H
#define FT_CLI_QA_CLI_H

#include "cli/trained.h"
#include "data/qa.h"
#include "eval/qa_post.h"
#include "train/task_data.h" /* the recipe's QA data: ft_taskdata_qa */
/* `ftune eval` of a question-answering model on a SQuAD JSON / JSONL file: EM, F1 (and the HasAns / NoAns
 * split when some questions have no answer), printed as a table or one JSON object. */
ft_status ft_cli_qa_eval(ft_trained *t, const char *data, int batch_size, bool json);
/* A test line's "test: ..." metrics (after the loss). */
void ft_cli_qa_print_score(const ft_qa_score *s, FILE *f);

#endif
