/* ftune predict: runs a trained model on new input and prints what its task predicts (token classification:
 * each word's tag; seq2seq: the generated text, predict_s2s.c); question answering (cmd_predict_qa.c) and
 * image classification (predict_image.c) have modes of their own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"

static const char *PREDICT_USAGE =
    "usage: ftune predict --model DIR [--adapter DIR] (--text \"...\" | --jsonl FILE) [--json] [--threads "
    "N]\n"
    "\n"
    "Runs a trained model on new input and prints what its task predicts:\n"
    "  token_classification  each word with its tag (the prediction at the word's first piece), one\n"
    "                        'word<TAB>tag' line per word and a blank line after each sentence; --json: one\n"
    "                        {\"tokens\": [...], \"tags\": [...]} object per sentence.\n"
    "  --text \"...\"   one sentence; words are split on whitespace\n"
    "  --jsonl FILE   one sentence per row, its words in the list field the model was trained with\n"
    "                 (data.tokens_field, default \"tokens\"); a tags field, if present, is ignored\n"
    "Words beyond the training seq_len (after the tokenizer's pieces) get the tag '?' and a warning.\n"
    "  question_answering    --question TEXT (--context TEXT | --context-file F): the answer span (see\n"
    "                        ftune predict --question x --help)\n"
    "  image_classification  --image FILE [FILE ...]: the top classes with probabilities (see\n"
    "                        ftune predict --image x --help)\n"
    "  seq2seq               the text the model generates (greedy, up to the training target length) from\n"
    "                        --text, or from each --jsonl row's source field; --json: one {\"source\",\n"
    "                        \"output\"} object per input (docs/seq2seq.md)\n"
    "See docs/encoders.md.\n";

/* Split text on whitespace into words (malloc'd copies; *words NULL when there are none). Returns 0, or 1
 * when out of memory. */
static int split_words(const char *text, char ***words, size_t *n) {
    size_t cap = 0;
    *words = NULL;
    *n = 0;
    for (const char *p = text; *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (!*p)
            break;
        const char *st = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            p++;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nw = realloc(*words, cap * sizeof *nw);
            if (!nw)
                return 1;
            *words = nw;
        }
        char *w = malloc((size_t)(p - st) + 1);
        if (!w)
            return 1;
        memcpy(w, st, (size_t)(p - st));
        w[p - st] = '\0';
        (*words)[(*n)++] = w;
    }
    return 0;
}

typedef struct {
    ftune_model *m;
    bool json;
    size_t cut; /* words past seq_len (tag -1) */
    int rc;
} tag_out;

/* One sentence's words and tags: 'word<TAB>tag' lines and a blank line, or {"tokens", "tags"}. */
static int print_tags(void *user, const char *where, const char *const *words, size_t n,
                      const int32_t *tags) {
    (void)where;
    tag_out *o = user;
    if (o->json) {
        cJSON *j = cJSON_CreateObject(), *tk = cJSON_AddArrayToObject(j, "tokens"),
              *tg = cJSON_AddArrayToObject(j, "tags");
        for (size_t w = 0; w < n; w++) {
            cJSON_AddItemToArray(tk, cJSON_CreateString(words[w]));
            cJSON_AddItemToArray(tg,
                                 cJSON_CreateString(tags[w] >= 0 ? ftune_model_label(o->m, tags[w]) : "?"));
        }
        if ((o->rc = ft_cli_json("predict", j)) != 0)
            return 1;
    } else {
        for (size_t w = 0; w < n; w++)
            printf("%s\t%s\n", words[w], tags[w] >= 0 ? ftune_model_label(o->m, tags[w]) : "?");
        printf("\n");
    }
    for (size_t w = 0; w < n; w++)
        o->cut += tags[w] < 0;
    return 0;
}

static int predict_tokens(ftune_ctx *ctx, ftune_model *m, const char *text, const char *jsonl, bool json) {
    tag_out o = {.m = m, .json = json};
    ftune_status s = FT_OK;
    if (text) {
        char **words = NULL;
        size_t n = 0;
        int32_t *tags = NULL;
        if (split_words(text, &words, &n) || !(tags = malloc((n ? n : 1) * sizeof *tags)))
            o.rc = 1, fprintf(stderr, "ftune predict: out of memory\n");
        else if ((s = ftune_tag_words(m, (const char *const *)words, n, tags)) != FT_OK)
            fprintf(stderr, "ftune predict: --text:1: %s\n", ftune_last_error(ctx)), o.rc = 1;
        else
            print_tags(&o, "--text:1", (const char *const *)words, n, tags);
        for (size_t i = 0; i < n; i++)
            free(words[i]);
        free(words);
        free(tags);
    } else if ((s = ftune_tag_file(m, jsonl, print_tags, &o)) != FT_OK)
        o.rc = ft_cli_fail_ctx("predict", ctx);
    if (!o.rc && o.cut)
        fprintf(stderr, "ftune predict: warning: %zu word(s) past seq_len %d got no prediction ('?')\n",
                o.cut, ftune_model_seq_len(m));
    return o.rc;
}

int ft_cmd_predict(int argc, char **argv) {
    for (int i = 1; i < argc; i++) /* the question-answering mode has its own options (cmd_predict_qa.c) */
        if (!strcmp(argv[i], "--question") || !strncmp(argv[i], "--question=", 11) ||
            !strcmp(argv[i], "--context") || !strcmp(argv[i], "--context-file"))
            return ft_cmd_predict_qa(argc, argv);
    for (int i = 1; i < argc; i++) /* image classification (predict_image.c) */
        if (!strcmp(argv[i], "--image") || !strncmp(argv[i], "--image=", 8))
            return ft_cmd_predict_image(argc, argv);
    const char *model = NULL, *adapter = NULL, *text = NULL, *jsonl = NULL;
    long threads = 0;
    bool json = false, help;
    ft_opt opts[] = {{"model", FT_OPT_STR, &model}, {"adapter", FT_OPT_STR, &adapter},
                     {"text", FT_OPT_STR, &text},   {"jsonl", FT_OPT_STR, &jsonl},
                     {"json", FT_OPT_FLAG, &json},  {"threads", FT_OPT_INT, &threads}};
    int rc = ft_cli_parse("predict", argc, argv, opts, sizeof opts / sizeof *opts, PREDICT_USAGE, NULL, 0,
                          NULL, &help);
    if (rc || help)
        return rc;
    if (!model || !text == !jsonl || threads < 0) {
        fprintf(
            stderr,
            "ftune predict: --model and one of --text / --jsonl are required (see ftune predict --help)\n");
        return 2;
    }
    ftune_ctx *ctx = ft_cli_ctx("predict", threads);
    if (!ctx)
        return 1;
    ftune_model_load_opts lo;
    ftune_model_load_opts_init(&lo);
    lo.head_task = 0; /* ftune_train.json's task, else causal_lm (a T5: seq2seq) */
    ftune_model_info info;
    ftune_model *m = ft_cli_model("predict", ctx, model, adapter, &lo, &info);
    if (!m)
        rc = 1;
    else if (!strcmp(info.task, "seq2seq")) /* an encoder-decoder: the generated text (predict_s2s.c) */
        rc = ft_cli_predict_seq2seq(ctx, m, text, jsonl, json);
    else if (strcmp(info.task, "token_classification") != 0) { /* one mode per task */
        fprintf(stderr,
                "ftune predict: %s: ftune predict --text/--jsonl has no mode for this model's task "
                "(token_classification; --question/--context for question answering; ftune classify or ftune "
                "generate for the others)\n",
                model);
        rc = 1;
    } else if (!ftune_model_label(m, 0)) {
        fprintf(stderr, "ftune predict: %s: the token classifier has no tag names\n", model);
        rc = 1;
    } else if (!ftune_model_has_tokenizer(m)) {
        fprintf(stderr, "ftune predict: no tokenizer for the token classifier\n");
        rc = 1;
    } else
        rc = predict_tokens(ctx, m, text, jsonl, json);
    ftune_model_free(m);
    ftune_ctx_free(ctx);
    return rc;
}
