/* ftune predict, question answering: the answer to a question about a context from a trained QA model
 * (the context cut into windows as training cut them, the best span over all of them). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

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
    char *ctext = NULL;
    if (cfile && ft_cli_read_file("predict", cfile, &ctext) != 0)
        return 1;
    ftune_ctx *ctx = ft_cli_ctx("predict", threads);
    if (!ctx) {
        free(ctext);
        return 1;
    }
    ftune_model *m = NULL;
    ftune_model_load_opts lo;
    ftune_model_load_opts_init(&lo);
    lo.task = task, lo.head_task = 0, lo.need_task = 1; /* an `ftune train` output, or --task */
    ftune_model_info info;
    ftune_status s = ftune_model_load_with(ctx, model, adapter, &lo, &m);
    if (s == FT_OK)
        s = ftune_model_get_info(m, &info);
    rc = s == FT_OK ? 0 : ft_cli_fail_ctx("predict", ctx);
    if (!rc && strcmp(info.task, "question_answering") != 0) {
        fprintf(stderr,
                "ftune predict: %s: task %s; ftune predict answers questions with a question-answering "
                "model\n",
                model, info.task);
        rc = 1;
    } else if (!rc && !ftune_model_has_tokenizer(m)) {
        fprintf(stderr, "ftune predict: %s: no tokenizer next to the model\n", model);
        rc = 1;
    }
    ftune_qa_opts qo;
    ftune_qa_opts_init(&qo);
    qo.n_best = n_best > 1 << 20 ? 1 << 20 : (int)n_best;
    qo.max_answer_length = max_ans > 1 << 20 ? 1 << 20 : (int)max_ans;
    char *answer = NULL;
    double score = 0, prob = 0, null_score = 0;
    if (!rc && ftune_answer_question(m, question, ctext ? ctext : context, &qo, &answer, &score, &prob,
                                     &null_score) != FT_OK)
        rc = ft_cli_fail_ctx("predict", ctx);
    if (!rc && json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "answer", answer);
        cJSON_AddNumberToObject(j, "score", score);
        cJSON_AddNumberToObject(j, "prob", prob);
        cJSON_AddNumberToObject(j, "null_score", null_score);
        rc = ft_cli_json("predict", j);
    } else if (!rc) {
        printf("%s\nscore %.4f  prob %.4f\n", answer, score, prob);
    }
    ftune_free(answer);
    ftune_model_free(m);
    ftune_ctx_free(ctx);
    free(ctext);
    return rc;
}
