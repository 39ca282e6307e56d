/* cli/tokcls: token classification in the CLI — the most-frequent-tag baseline (baseline) and the metrics
 * table of `ftune train`. CLI-private. */
#ifndef FT_CLI_TOKCLS_H
#define FT_CLI_TOKCLS_H

#include <stdio.h>

#include "cli/trained.h"
#include "data/tagging.h"
#include "eval/tagging.h"
#include "train/task_data.h" /* the recipe's sentences and datasets: ft_taskdata_tag_* */
/* `ftune baseline` of a token-classification recipe: the most frequent training tag of each word. */
ft_status ft_cli_baseline_tokens(const ft_recipe *r, bool json);
/* Print a token-classification result (table or the fields of a JSON object). */
void ft_cli_print_tag_metrics(const ft_metric_tag *m, FILE *f);

#endif
