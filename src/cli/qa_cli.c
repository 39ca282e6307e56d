/* cli/qa_cli: question answering in train, eval and predict (cli/qa_cli.h). */
#include "cli/qa_cli.h"
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer.h"

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
        ft_taskdata_qa_max_length(&t->rec) < t->seq_len ? ft_taskdata_qa_max_length(&t->rec) : t->seq_len;
    if (s == FT_OK)
        s = ft_qa_features(t->tok, &set, max_len, (int)t->rec.data_doc_stride, &ds, &f);
    if (s == FT_OK)
        ft_taskdata_qa_post_from(&t->rec, &f.post);
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
