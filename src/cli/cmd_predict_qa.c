/* ftune predict, question answering: the answer to a question about a context from a trained QA model
 * (the context cut into windows as training cut them, the best span over all of them). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/qa_cli.h"

static const char *PREDICT_QA_USAGE =
    "usage: ftune predict --model DIR [--adapter DIR] --question TEXT --context TEXT [options]\n"
    "\n"
    "Question answering: prints the answer span taken from the context, then its score (start + end logit)\n"
    "and probability (softmax over the n-best list, as HF run_qa). The context is cut into windows of\n"
    "data.max_length tokens overlapping by data.doc_stride, and the qa.* post-processing keys apply, as the\n"
    "run's recipe.yaml says (docs/encoders.md). SQuAD 2.0 models (qa.version_2_with_negative) may answer\n"
    "nothing: an empty line.\n"
    "\n"
    "options:\n"
    "  --context-file F         read the context from a file instead\n"
    "  --n-best N               start/end logits searched per window (default: the recipe's, 20)\n"
    "  --max-answer-length N    longest answer in tokens (default: the recipe's, 30)\n"
    "  --json                   one object: {answer, score, prob, null_score}\n"
    "  --task question_answering   for a model that `ftune train` did not write\n"
    "  --threads N\n";

/* Every window of the one example in a batch, no loss: their start/end logits. */
static ft_status predict_answer(ft_trained *t, ft_qa_feats *f, ft_dataset *ds, ft_qa_answer *ans) {
    size_t *idx = malloc(ds->n * sizeof *idx);
    const float **lg = calloc(ds->n, sizeof *lg);
    float *buf = NULL;
    ft_batch b = {0};
    ft_arena arena = {0};
    ft_status s = idx && lg ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; s == FT_OK && i < ds->n; i++)
        idx[i] = i;
    if (s == FT_OK)
        s = ft_batch_collate(ds, idx, (int)ds->n, t->seq_len, t->pad_id, &b);
    if (s == FT_OK)
        s = ft_arena_init(&arena, ft_model_act_bytes(t->m, b.B, b.T) + ((size_t)4 << 20));
    if (s == FT_OK) {
        ft_fwd_opts o = {.keep_logits = true, .no_loss = true, .checkpoint = true};
        ft_acts *a = NULL;
        double loss;
        s = ft_model_forward(t->m, &b, &o, &arena, &a, &loss, NULL);
        const float *rows = s == FT_OK ? ft_acts_logits(a, NULL, NULL) : NULL;
        if (s == FT_OK && !(buf = malloc((size_t)b.B * (size_t)b.T * 2 * sizeof *buf)))
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        for (int r = 0; s == FT_OK && r < b.B; r++) {
            memcpy(buf + (size_t)r * (size_t)b.T * 2, rows + (size_t)r * (size_t)b.T * 2,
                   (size_t)b.T * 2 * sizeof *buf);
            lg[r] = buf + (size_t)r * (size_t)b.T * 2;
        }
    }
    if (s == FT_OK)
        s = ft_qa_postprocess(f, lg, NULL, ans);
    ft_arena_free(&arena);
    ft_batch_free(&b);
    free(buf);
    free(lg);
    free(idx);
    return s;
}

int ft_cmd_predict_qa(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *question = NULL, *context = NULL, *cfile = NULL, *task = NULL;
    long threads = 0, n_best = 0, max_ans = 0;
    bool json = false, help;
    ft_opt opts[] = {{"model", FT_OPT_STR, &model},        {"adapter", FT_OPT_STR, &adapter},
                     {"question", FT_OPT_STR, &question},  {"context", FT_OPT_STR, &context},
                     {"context-file", FT_OPT_STR, &cfile}, {"task", FT_OPT_STR, &task},
                     {"n-best", FT_OPT_INT, &n_best},      {"max-answer-length", FT_OPT_INT, &max_ans},
                     {"json", FT_OPT_FLAG, &json},         {"threads", FT_OPT_INT, &threads}};
    int rc = ft_cli_parse("predict", argc, argv, opts, sizeof opts / sizeof *opts, PREDICT_QA_USAGE, NULL, 0,
                          NULL, &help);
    if (rc || help)
        return rc;
    if (!model || !question || (!context == !cfile) || n_best < 0 || max_ans < 0) {
        fprintf(stderr,
                "ftune predict: --model, --question and one of --context / --context-file are required "
                "(see ftune predict --help)\n");
        return 2;
    }
    if (threads > 0) {
        ft_ctx ctx;
        ft_ctx_default(&ctx);
        ctx.threads = (int)threads;
        ft_ctx_apply(&ctx);
    }
    char *ctext = NULL;
    ft_status s = cfile ? ft_read_file(cfile, &ctext, NULL) : FT_OK;
    ft_trained t = {0};
    bool have_t = false;
    if (s == FT_OK)
        s = ft_trained_load(model, adapter, task, true, &t);
    have_t = s == FT_OK;
    if (s == FT_OK && t.m->task != FT_TASK_QA)
        s = ft_fail(FT_ERR_CONFIG,
                    "%s: task %s; ftune predict answers questions with a question-answering model", model,
                    t.task);
    if (s == FT_OK && !t.tok)
        s = ft_fail(FT_ERR_MISSING, "%s: no tokenizer next to the model", model);
    ft_qa_set set = {0};
    ft_qa_feats f = {0};
    ft_dataset ds = {0};
    ft_qa_answer ans = {0};
    if (s == FT_OK)
        s = ft_qa_set_add(&set, "predict", question, ctext ? ctext : context, "--question/--context");
    if (s == FT_OK) {
        const int ml = ft_taskdata_qa_max_length(&t.rec);
        s = ft_qa_features(t.tok, &set, ml < t.seq_len ? ml : t.seq_len, (int)t.rec.data_doc_stride, &ds, &f);
    }
    if (s == FT_OK) {
        ft_taskdata_qa_post_from(&t.rec, &f.post);
        if (n_best > 0)
            f.post.n_best = (int)n_best;
        if (max_ans > 0)
            f.post.max_answer_length = (int)max_ans;
        s = predict_answer(&t, &f, &ds, &ans);
    }
    if (s == FT_OK && json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "answer", ans.text);
        cJSON_AddNumberToObject(j, "score", ans.start_logit + ans.end_logit);
        cJSON_AddNumberToObject(j, "prob", ans.prob);
        cJSON_AddNumberToObject(j, "null_score", ans.null_score);
        s = ft_cli_print_json(j);
    } else if (s == FT_OK) {
        printf("%s\nscore %.4f  prob %.4f\n", ans.text, ans.start_logit + ans.end_logit, ans.prob);
    }
    ft_qa_answers_free(&ans, set.n ? 1 : 0);
    ft_dataset_free(&ds);
    ft_qa_feats_free(&f);
    ft_qa_set_free(&set);
    if (have_t)
        ft_trained_free(&t);
    free(ctext);
    return s == FT_OK ? 0 : ft_cli_fail("predict", s);
}
