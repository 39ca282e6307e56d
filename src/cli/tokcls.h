/* cli/tokcls: token classification in the CLI — the recipe's data (train), evaluation (eval), the
 * most-frequent-tag baseline (baseline) and `ftune predict`. CLI-private. */
#ifndef FT_CLI_TOKCLS_H
#define FT_CLI_TOKCLS_H

#include <stdio.h>

#include "cli/trained.h"
#include "data/tagging.h"
#include "eval/tagging.h"

/* The reader settings a recipe gives (data.format, data.tokens_field, data.tags_field, data.tag_column). */
void ft_cli_tag_read_cfg(const ft_recipe *r, ft_tag_read_cfg *c);
/* sp[0..2] = the recipe's train / validation / test sentences (Brown: the corpus directory split by file). */
ft_status ft_cli_tag_sents(const ft_recipe *r, ft_tag_sents sp[3]);
/* ds[0..2] for `ftune train`: the sentences aligned to the tokenizer's pieces, the tag set in ds[0]. */
ft_status ft_cli_tag_datasets(const ft_recipe *r, ft_tokenizer *tok, ft_dataset ds[3], FILE *summary);
/* `ftune eval` of a token classifier on a file (a Brown directory: its `split` files). */
int ft_cli_eval_tokens(ft_trained *t, const char *data, const char *split, int batch_size, bool json,
                       const char *label);
/* `ftune baseline` of a token-classification recipe: the most frequent training tag of each word. */
ft_status ft_cli_baseline_tokens(const ft_recipe *r, bool json);
/* Print a token-classification result (table or the fields of a JSON object). */
void ft_cli_print_tag_metrics(const ft_metric_tag *m, FILE *f);

#endif
