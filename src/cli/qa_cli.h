/* cli/qa_cli: extractive question answering in `ftune train` (eval and predict are on the public API).
 * CLI-private. */
#ifndef FT_CLI_QA_CLI_H
#define FT_CLI_QA_CLI_H

#include "cli/trained.h"
#include "data/qa.h"
#include "eval/qa_post.h"
#include "train/task_data.h" /* the recipe's QA data: ft_taskdata_qa */
/* A test line's "test: ..." metrics (after the loss). */
void ft_cli_qa_print_score(const ft_qa_score *s, FILE *f);

#endif
