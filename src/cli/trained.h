/* The CLI's view of a training output and of a recipe's run configs: library modules now
 * (train/trained.h, train/runcfg.h), shared with the C API. */
#ifndef FT_CLI_TRAINED_H
#define FT_CLI_TRAINED_H

#include "train/runcfg.h"
#include "train/trained.h"

/* `ftune predict` on a seq2seq model (predict_s2s.c): greedy generation from text, or from each row of the
 * JSONL file jsonl (its source field); json: one {"source", "output"} object per input. */
ft_status ft_cli_predict_s2s(ft_trained *t, const char *text, const char *jsonl, bool json);

#endif
