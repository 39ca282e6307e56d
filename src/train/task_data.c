/* train/task_data: token classification, question answering and masked-LM data of a recipe (task_data.h). */
#include "train/task_data.h"

#include <stdlib.h>
#include <string.h>

void ft_taskdata_tag_read_cfg(const ft_recipe *r, ft_tag_read_cfg *c) {
    ft_tag_read_cfg_default(c);
    c->format = r->data_format;
    c->tokens_field = r->data_tokens_field;
    c->tags_field = r->data_tags_field;
    c->tag_column = (int)r->data_tag_column;
}

ft_status ft_taskdata_tag_sents(const ft_recipe *r, ft_tag_sents sp[3]) {
    memset(sp, 0, 3 * sizeof *sp);
    if (!r->data_train)
        return ft_fail(FT_ERR_CONFIG, "'data.train' is required");
    ft_status s;
    if (!strcmp(r->data_format, "brown")) {
        if (r->data_validation || r->data_test)
            return ft_fail(FT_ERR_CONFIG, "data.format brown splits the corpus directory by file: leave "
                                          "data.validation and data.test out");
        s = ft_tag_read_brown(r->data_train, &sp[0], &sp[1], &sp[2]);
    } else {
        ft_tag_read_cfg c;
        ft_taskdata_tag_read_cfg(r, &c);
        const char *files[3] = {r->data_train, r->data_validation, r->data_test};
        s = FT_OK;
        for (int k = 0; s == FT_OK && k < 3; k++)
            if (files[k])
                s = ft_tag_read(files[k], &c, &sp[k]);
    }
    if (s != FT_OK)
        for (int k = 0; k < 3; k++)
            ft_tag_sents_free(&sp[k]);
    return s;
}

ft_status ft_taskdata_tag_datasets(const ft_recipe *r, ft_tokenizer *tok, ft_dataset ds[3], FILE *summary) {
    ft_tag_sents sp[3];
    FT_TRY(ft_taskdata_tag_sents(r, sp));
    const ft_tag_build_cfg c = {.label_all = r->data_label_all_tokens,
                                .max_len = (int)r->train_seq_len,
                                .labels = r->data_labels,
                                .val_ratio = (float)r->data_val_ratio,
                                .test_ratio = (float)r->data_test_ratio,
                                .seed = (uint64_t)r->seed};
    size_t unknown[3];
    if (summary) {
        size_t empty = sp[0].n_empty + sp[1].n_empty + sp[2].n_empty;
        if (empty)
            fprintf(summary, "token classification: %zu empty sentence(s) skipped\n", empty);
    }
    ft_status s = ft_tag_build(tok, sp, &c, ds, unknown, summary);
    for (int k = 0; k < 3; k++)
        ft_tag_sents_free(&sp[k]);
    if (s == FT_OK && r->data_val_limit > 0 &&
        ds[1].n > (size_t)r->data_val_limit) { /* a cheaper evaluation */
        for (size_t i = (size_t)r->data_val_limit; i < ds[1].n; i++) {
            free(ds[1].ex[i].ids);
            free(ds[1].ex[i].labels);
            free(ds[1].ex[i].word_ids);
        }
        if (summary)
            fprintf(summary, "validation: the first %lld of %zu sentences (data.val_limit)\n",
                    (long long)r->data_val_limit, ds[1].n);
        ds[1].n = (size_t)r->data_val_limit;
    }
    return s;
}

void ft_taskdata_qa_free(ft_qa_data *q) {
    for (int i = 0; i < 3; i++) {
        ft_qa_feats_free(&q->f[i]);
        ft_qa_set_free(&q->set[i]);
    }
}

int ft_taskdata_qa_max_length(const ft_recipe *r) {
    return r->data_max_length > 0 ? (int)r->data_max_length : (int)r->train_seq_len;
}

void ft_taskdata_qa_post_from(const ft_recipe *r, ft_qa_post_cfg *c) {
    c->n_best = (int)r->qa_n_best;
    c->max_answer_length = (int)r->qa_max_answer_length;
    c->version_2_with_negative = r->qa_version_2_with_negative;
    c->null_score_diff_threshold = r->qa_null_score_diff_threshold;
}

/* One file into windows of ds. */
static ft_status qa_file(const ft_recipe *r, ft_tokenizer *tok, const char *path, ft_qa_set *set,
                         ft_qa_feats *f, ft_dataset *ds, FILE *report) {
    FT_TRY(ft_qa_read(path, set, report));
    FT_TRY(ft_qa_features(tok, set, ft_taskdata_qa_max_length(r), (int)r->data_doc_stride, ds, f));
    ft_taskdata_qa_post_from(r, &f->post);
    size_t none = 0;
    for (size_t i = 0; i < set->n; i++)
        none += set->ex[i].n_answers == 0;
    if (report)
        fprintf(report,
                "%s: %zu questions (%zu without an answer) in %zu windows of at most %d tokens (%zu answers "
                "outside every window)\n",
                path, set->n, none, f->n, ft_taskdata_qa_max_length(r), f->n_cut);
    return FT_OK;
}

ft_status ft_taskdata_qa(const ft_recipe *r, ft_tokenizer *tok, ft_qa_data *q, ft_dataset *tr, ft_dataset *va,
                         ft_dataset *te, FILE *report) {
    if (!tok)
        return ft_fail(FT_ERR_CONFIG, "question answering needs a tokenizer (data.format pretokenized is not "
                                      "supported for it)");
    if (!strcmp(r->data_format, "pretokenized"))
        return ft_fail(FT_ERR_CONFIG, "task question_answering reads SQuAD JSON / JSONL, not data.format "
                                      "pretokenized");
    if (ft_taskdata_qa_max_length(r) > r->train_seq_len)
        return ft_fail(FT_ERR_CONFIG, "data.max_length %lld is longer than train.seq_len %lld",
                       (long long)r->data_max_length, (long long)r->train_seq_len);
    const char *files[3] = {r->data_train, r->data_validation, r->data_test};
    ft_dataset *ds[3] = {tr, va, te};
    for (int i = 0; i < 3; i++)
        if (files[i])
            FT_TRY(qa_file(r, tok, files[i], &q->set[i], &q->f[i], ds[i], report));
    return FT_OK;
}


ft_status ft_taskdata_mlm(const ft_recipe *r, ft_model *m, ft_tokenizer *tok, const char *tok_src, ft_mlm *mlm,
                          ft_dataset *const ds[3], FILE *notes) {
    if (!tok)
        return ft_fail(FT_ERR_CONFIG,
                       "task masked_lm needs the tokenizer (its mask token): set the 'tokenizer' key");
    FT_TRY(ft_mlm_init(mlm, tok, tok_src, m->cfg.vocab_size, (float)r->data_mlm_probability,
                       r->data_whole_word_mask, (uint64_t)r->seed));
    for (int k = 0; k < 3; k++)
        if (ds[k])
            ds[k]->mlm = mlm;
    const bool had = m->task == FT_TASK_MASKED_LM;
    if (!had && (strcmp(r->method, "full") || r->peft_init_from))
        return ft_fail(
            FT_ERR_CONFIG,
            "%s has no masked-LM head: under method %s the head is part of the frozen base model (as in "
            "PEFT), so a new one would stay at its random init and not be saved with the adapter; train "
            "masked_lm with method full first (or start from a *ForMaskedLM checkpoint)",
            r->model, r->method);
    FT_TRY(ft_model_set_task(m, FT_TASK_MASKED_LM, 0, NULL, (uint64_t)r->seed));
    if (!had && notes)
        fprintf(notes, "note: %s has no masked-LM head (%s...): initialized\n", r->model, ft_model_mlm_name(m, 0));
    return FT_OK;
}
