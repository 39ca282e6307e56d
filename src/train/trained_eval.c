/* train/trained_eval: a trained model's task metrics on a data file, as `ftune eval` reports them (the CLI
 * and the C API's ftune_model_evaluate). Classification, regression, causal LM / instruction and masked LM;
 * token classification and question answering have their own readers (cli/tokcls.c, cli/qa_cli.c). */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "data/mlm.h"
#include "data/pretok.h"
#include "train/trained.h"
#include "train/trainer.h"

ft_task ft_trained_task(const ft_trained *t) {
    return !strcmp(t->task, "classification") || !strcmp(t->task, "image_classification") ? FT_TASK_SEQ_CLS
           : !strcmp(t->task, "regression")                                               ? FT_TASK_REGRESSION
           : !strcmp(t->task, "masked_lm")                                                ? FT_TASK_MASKED_LM
           : !strcmp(t->task, "seq2seq")                                                  ? FT_TASK_SEQ2SEQ
                                                                                          : FT_TASK_CAUSAL_LM;
}

/* The data file's class labels are all ones the model knows (an unknown one fails naming file:line). */
static ft_status check_labels(const ft_trained *t, const char *path) {
    ft_data_recs rs = {0};
    FT_TRY(ft_data_read(path, &t->data, &rs));
    ft_status s = FT_OK;
    for (size_t i = 0; i < rs.n && s == FT_OK; i++) {
        const ft_data_rec *r = &rs.r[i];
        if (!r->label) {
            s = ft_fail(FT_ERR_FORMAT, "%s:%ld: missing label field '%s'", r->file, r->line,
                        t->data.label_field);
            break;
        }
        int k = 0;
        while (k < t->n_labels && strcmp(t->label_names[k], r->label))
            k++;
        if (k == t->n_labels) {
            char known[512] = "";
            for (int j = 0; j < t->n_labels && strlen(known) < 400; j++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", j ? ", " : "",
                         t->label_names[j]);
            s = ft_fail(FT_ERR_FORMAT, "%s:%ld: label '%s' is not one the model was trained on (%s)", r->file,
                        r->line, r->label, known);
        }
    }
    ft_data_recs_free(&rs);
    return s;
}

/* The dataset's class ids (its own label order) mapped onto the model's. */
static ft_status remap_labels(const ft_trained *t, ft_dataset *d) {
    for (size_t i = 0; i < d->n; i++) {
        int32_t c = d->ex[i].cls_label;
        if (c < 0)
            continue;
        int k = 0;
        while (k < t->n_labels && strcmp(t->label_names[k], d->label_names[c]))
            k++;
        if (k == t->n_labels)
            return ft_fail(FT_ERR_FORMAT, "label '%s' is not one the model was trained on",
                           d->label_names[c]);
        d->ex[i].cls_label = k;
    }
    return FT_OK;
}

ft_status ft_trained_eval_file(ft_trained *t, const char *data, int batch_size, ft_eval_result *res,
                               size_t *n_examples) {
    memset(res, 0, sizeof *res);
    *n_examples = 0;
    if (!strcmp(t->task, "token_classification") || !strcmp(t->task, "question_answering"))
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "evaluating a %s model on a data file: `ftune eval` (not yet in the library)",
                       t->task);
    if (batch_size < 1)
        return ft_fail(FT_ERR_ARG, "batch size %d must be at least 1", batch_size);
    if (t->image)
        return ft_trained_eval_images(t, data, batch_size, res, n_examples);
    const ft_task tk = ft_trained_task(t);
    ft_dataset ds = {0};
    ft_status s = FT_OK;
    if (t->pretok) { /* trained on pre-tokenized JSONL: the same format, labels mapped onto the model's */
        s = ft_dataset_load_pretok_labels(data, tk == FT_TASK_SEQ_CLS ? t->label_names : NULL,
                                          tk == FT_TASK_SEQ_CLS ? t->n_labels : 0, &ds);
    } else {
        if (tk == FT_TASK_SEQ_CLS)
            s = check_labels(t, data);
        if (s == FT_OK) {
            ft_data_cfg dc = t->data;
            dc.train = data;
            s = ft_data_build(&dc, tk, t->tok, &ds, NULL, NULL, NULL);
        }
        if (s == FT_OK && tk == FT_TASK_SEQ_CLS)
            s = remap_labels(t, &ds);
    }
    if (s == FT_OK && tk == FT_TASK_SEQ2SEQ && ds.n == 0)
        s = ft_fail(FT_ERR_FORMAT, "%s: no source/target pair to evaluate", data);
    if (s == FT_OK && tk == FT_TASK_SEQ2SEQ && t->s2s_generate)
        ds.s2s = &t->s2s; /* generate from every source and score the text */
    ft_mlm mlm = {0};
    if (s == FT_OK && tk == FT_TASK_MASKED_LM) { /* the run's masking settings and seed: fixed masks */
        if (!t->tok)
            s = ft_fail(FT_ERR_CONFIG, "task masked_lm needs the tokenizer (its mask token)");
        else { /* errors name the directory ftune_train.json is in (the model's or the adapter's) */
            char dir[4096];
            snprintf(dir, sizeof dir, "%s", t->info_path);
            char *slash = strrchr(dir, '/');
            if (slash)
                *slash = 0;
            s = ft_mlm_init(&mlm, t->tok, dir, t->m->cfg.vocab_size, (float)t->rec.data_mlm_probability,
                            t->rec.data_whole_word_mask, (uint64_t)t->rec.seed);
        }
        ds.mlm = &mlm;
    }
    bool have = false;
    if (s == FT_OK) {
        ft_arena arena;
        s = ft_arena_init(&arena, ft_model_act_bytes(t->m, batch_size, t->seq_len) + ((size_t)4 << 20));
        if (s == FT_OK) {
            s = ft_train_evaluate(t->m, &ds, batch_size, t->seq_len, t->pad_id, &arena, res);
            have = s == FT_OK;
            ft_arena_free(&arena);
        }
    }
    if (s == FT_OK && tk == FT_TASK_SEQ_CLS && !res->has_cls)
        s = ft_fail(FT_ERR_INTERNAL, "no classification predictions were made");
    if (s == FT_OK && ds.s2s && !res->has_gen)
        s = ft_fail(FT_ERR_INTERNAL, "no text was generated");
    if (s == FT_OK && tk == FT_TASK_REGRESSION && !res->has_reg)
        s = ft_fail(FT_ERR_INTERNAL, "no regression predictions were made");
    if (s == FT_OK)
        *n_examples = ds.n;
    else if (have)
        ft_eval_result_free(res);
    ft_dataset_free(&ds);
    ft_mlm_free(&mlm);
    return s;
}
