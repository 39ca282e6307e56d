/* cli/qa_cli: question answering in train, eval and predict (cli/qa_cli.h). */
#include "cli/qa_cli.h"
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer.h"

void ft_cli_qa_free(ft_cli_qa *q) {
    for (int i = 0; i < 3; i++) {
        ft_qa_feats_free(&q->f[i]);
        ft_qa_set_free(&q->set[i]);
    }
}

int ft_cli_qa_max_length(const ft_recipe *r) {
    return r->data_max_length > 0 ? (int)r->data_max_length : (int)r->train_seq_len;
}

void ft_cli_qa_post_from(const ft_recipe *r, ft_qa_post_cfg *c) {
    c->n_best = (int)r->qa_n_best;
    c->max_answer_length = (int)r->qa_max_answer_length;
    c->version_2_with_negative = r->qa_version_2_with_negative;
    c->null_score_diff_threshold = r->qa_null_score_diff_threshold;
}

/* One file into windows of ds. */
static ft_status qa_file(const ft_recipe *r, ft_tokenizer *tok, const char *path, ft_qa_set *set,
                         ft_qa_feats *f, ft_dataset *ds, FILE *report) {
    FT_TRY(ft_qa_read(path, set, report));
    FT_TRY(ft_qa_features(tok, set, ft_cli_qa_max_length(r), (int)r->data_doc_stride, ds, f));
    ft_cli_qa_post_from(r, &f->post);
    size_t none = 0;
    for (size_t i = 0; i < set->n; i++)
        none += set->ex[i].n_answers == 0;
    if (report)
        fprintf(report,
                "%s: %zu questions (%zu without an answer) in %zu windows of at most %d tokens (%zu answers "
                "outside every window)\n",
                path, set->n, none, f->n, ft_cli_qa_max_length(r), f->n_cut);
    return FT_OK;
}

ft_status ft_cli_qa_data(const ft_recipe *r, ft_tokenizer *tok, ft_cli_qa *q, ft_dataset *tr, ft_dataset *va,
                         ft_dataset *te, FILE *report) {
    if (!tok)
        return ft_fail(FT_ERR_CONFIG, "question answering needs a tokenizer (data.format pretokenized is not "
                                      "supported for it)");
    if (!strcmp(r->data_format, "pretokenized"))
        return ft_fail(FT_ERR_CONFIG, "task question_answering reads SQuAD JSON / JSONL, not data.format "
                                      "pretokenized");
    if (ft_cli_qa_max_length(r) > r->train_seq_len)
        return ft_fail(FT_ERR_CONFIG, "data.max_length %lld is longer than train.seq_len %lld",
                       (long long)r->data_max_length, (long long)r->train_seq_len);
    const char *files[3] = {r->data_train, r->data_validation, r->data_test};
    ft_dataset *ds[3] = {tr, va, te};
    for (int i = 0; i < 3; i++)
        if (files[i])
            FT_TRY(qa_file(r, tok, files[i], &q->set[i], &q->f[i], ds[i], report));
    return FT_OK;
}

void ft_cli_qa_print_score(const ft_qa_score *s, FILE *f) {
    fprintf(f, " exact_match %.2f f1 %.2f", s->exact_match, s->f1);
    if (s->n_no_ans)
        fprintf(f, " (HasAns %zu: EM %.2f F1 %.2f; NoAns %zu: EM %.2f)", s->n_has_ans, s->has_ans_em,
                s->has_ans_f1, s->n_no_ans, s->no_ans_em);
}

ft_status ft_cli_qa_eval(ft_trained *t, const char *data, int batch_size, bool json) {
    if (!t->tok)
        return ft_fail(FT_ERR_MISSING, "question answering needs the model's tokenizer");
    ft_qa_set set = {0};
    ft_qa_feats f = {0};
    ft_dataset ds = {0};
    ft_eval_result res = {0};
    FILE *rep = json ? stderr : stdout;
    ft_status s = ft_qa_read(data, &set, rep);
    const int max_len =
        ft_cli_qa_max_length(&t->rec) < t->seq_len ? ft_cli_qa_max_length(&t->rec) : t->seq_len;
    if (s == FT_OK)
        s = ft_qa_features(t->tok, &set, max_len, (int)t->rec.data_doc_stride, &ds, &f);
    if (s == FT_OK)
        ft_cli_qa_post_from(&t->rec, &f.post);
    const double t0 = ft_now();
    if (s == FT_OK) {
        ft_arena arena;
        s = ft_arena_init(&arena, ft_model_act_bytes(t->m, batch_size, max_len) + ((size_t)4 << 20));
        if (s == FT_OK) {
            s = ft_train_evaluate(t->m, &ds, batch_size, max_len, t->pad_id, &arena, &res);
            ft_arena_free(&arena);
        }
    }
    if (s == FT_OK && !res.has_qa)
        s = ft_fail(FT_ERR_INTERNAL, "no answers were predicted");
    const ft_qa_score *q = &res.qa;
    if (s == FT_OK && json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "task", "question_answering");
        cJSON_AddNumberToObject(j, "n_examples", (double)set.n);
        cJSON_AddNumberToObject(j, "n_windows", (double)f.n);
        cJSON_AddNumberToObject(j, "loss", res.loss);
        cJSON_AddNumberToObject(j, "exact_match", q->exact_match);
        cJSON_AddNumberToObject(j, "f1", q->f1);
        cJSON_AddNumberToObject(j, "n_has_ans", (double)q->n_has_ans);
        cJSON_AddNumberToObject(j, "n_no_ans", (double)q->n_no_ans);
        if (q->n_has_ans && q->n_no_ans) {
            cJSON_AddNumberToObject(j, "HasAns_exact", q->has_ans_em);
            cJSON_AddNumberToObject(j, "HasAns_f1", q->has_ans_f1);
            cJSON_AddNumberToObject(j, "NoAns_exact", q->no_ans_em);
            cJSON_AddNumberToObject(j, "NoAns_f1", q->no_ans_f1);
        }
        cJSON_AddNumberToObject(j, "n_bad_answers", (double)set.n_bad_answers);
        s = ft_cli_print_json(j);
    } else if (s == FT_OK) {
        printf("task question_answering, %zu questions in %zu windows (%.1f s)\n", set.n, f.n, ft_now() - t0);
        printf("loss         %.4f\nexact_match  %.2f\nf1           %.2f\n", res.loss, q->exact_match, q->f1);
        if (q->n_has_ans && q->n_no_ans)
            printf("HasAns       %zu: exact %.2f f1 %.2f\nNoAns        %zu: exact %.2f\n", q->n_has_ans,
                   q->has_ans_em, q->has_ans_f1, q->n_no_ans, q->no_ans_em);
    }
    ft_eval_result_free(&res);
    ft_dataset_free(&ds);
    ft_qa_feats_free(&f);
    ft_qa_set_free(&set);
    return s;
}
