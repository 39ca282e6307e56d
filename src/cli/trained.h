/* cli/trained: open what `ftune train` wrote (a full checkpoint or a PEFT adapter dir, with its
 * ftune_train.json) for eval, classify and generate. CLI-private. */
#ifndef FT_CLI_TRAINED_H
#define FT_CLI_TRAINED_H

#include <cjson/cJSON.h>

#include "data/dataset.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"
#include "train/recipe.h"

typedef struct {
    ft_model *m;
    ft_tokenizer *tok;
    cJSON *info;              /* ftune_train.json, or NULL */
    char info_path[4096];
    const char *task;         /* "causal_lm" | "instruction" | "classification" | "regression" |
                                 "token_classification" */
    char **label_names;       /* classification: class-id order (owned copies) */
    int n_labels;
    int seq_len;
    int32_t pad_id;
    const char *chat_template; /* NULL = none */
    ft_data_cfg data;         /* field names and the text cleaning training used (strings point into info) */
    bool pretok;              /* trained on pre-tokenized JSONL: evaluation data is read the same way */
    ft_recipe rec;            /* OUT/recipe.yaml when present, else the defaults */
} ft_trained;

/* model_dir: a full checkpoint or an adapter dir; adapter_dir (may be NULL): an adapter for the base;
 * task (may be NULL): overrides ftune_train.json. need_task: fail without ftune_train.json or --task. */
ft_status ft_trained_load(const char *model_dir, const char *adapter_dir, const char *task, bool need_task,
                          ft_trained *t);
void ft_trained_free(ft_trained *t);
/* The text cleaning training applied (unicode, whitespace, HTML, mail headers); malloc'd. */
ft_status ft_trained_clean(const ft_trained *t, const char *text, char **out);

/* The data config and task a recipe gives `ftune train` (cmd_train.c); `ftune data --recipe` uses the
 * same, so the splits it writes are the ones training sees. */
void ft_cli_data_cfg_from(const ft_recipe *r, ft_data_cfg *c);
ft_task ft_cli_task_of(const char *task);

#endif
