/* TEMPORARY weak fallbacks for src/data/dataset.h (implemented by the data module). The real, strong
 * definitions win at link time. This one reads only pre-tokenized JSONL (ft_dataset_load_pretok).
 * Delete this file once src/data/ implements dataset.h. */
#include <string.h>

#include "data/dataset.h"

__attribute__((weak)) void ft_data_cfg_default(ft_data_cfg *c) {
    memset(c, 0, sizeof *c);
    c->format = "auto";
    c->text_field = "text";
    c->label_field = "label";
    c->prompt_field = "prompt";
    c->response_field = "response";
    c->messages_field = "messages";
    c->val_ratio = 0.1f;
    c->test_ratio = 0.1f;
    c->max_len = 128;
}

__attribute__((weak)) ft_status ft_data_build(const ft_data_cfg *cfg, ft_task task, ft_tokenizer *tok,
                                              ft_dataset *train, ft_dataset *val, ft_dataset *test, FILE *summary) {
    (void)task;
    (void)tok;
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    memset(test, 0, sizeof *test);
    if (!cfg->train)
        return ft_fail(FT_ERR_CONFIG, "data.train is required");
    ft_status s = ft_dataset_load_pretok(cfg->train, train);
    if (s == FT_OK && cfg->validation)
        s = ft_dataset_load_pretok(cfg->validation, val);
    if (s == FT_OK && cfg->test)
        s = ft_dataset_load_pretok(cfg->test, test);
    if (s != FT_OK) {
        ft_dataset_free(train);
        ft_dataset_free(val);
        ft_dataset_free(test);
        return s; /* this build reads pre-tokenized JSONL only (data.format=pretokenized) */
    }
    if (summary)
        fprintf(summary, "data: %zu train, %zu validation, %zu test examples (pre-tokenized)\n", train->n, val->n,
                test->n);
    return FT_OK;
}
