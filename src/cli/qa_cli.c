/* cli/qa_cli: question answering in train (cli/qa_cli.h). */
#include "cli/qa_cli.h"

#include <stdio.h>

void ft_cli_qa_print_score(const ft_qa_score *s, FILE *f) {
    fprintf(f, " exact_match %.2f f1 %.2f", s->exact_match, s->f1);
    if (s->n_no_ans)
        fprintf(f, " (HasAns %zu: EM %.2f F1 %.2f; NoAns %zu: EM %.2f)", s->n_has_ans, s->has_ans_em,
                s->has_ans_f1, s->n_no_ans, s->no_ans_em);
}
