/* ftune eval: the metrics that fit a trained model's task on a data file; ftune classify: label and
 * probability for each line of stdin. Both read the task, labels and fields from ftune_train.json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"

static const char *EVAL_USAGE =
    "usage: ftune eval --model DIR [--adapter DIR] --data FILE [--task TASK] [--json] [options]\n"
    "\n"
    "Evaluates a model on a data file with the metrics of its task:\n"
    "  causal_lm / instruction  loss (mean next-token cross-entropy over target tokens), perplexity\n"
    "  classification           accuracy; precision, recall, F1 (macro, micro, weighted); confusion matrix\n"
    "  regression               mse, mae, r2 (and loss = mse as trained)\n"
    "  question_answering       SQuAD exact_match and f1 of the post-processed spans (SQuAD JSON or JSONL;\n"
    "                           HasAns / NoAns split when some questions have no answer; docs/encoders.md)\n"
    "  masked_lm                loss (cross-entropy over the masked tokens), perplexity = exp(loss), on a\n"
    "                           fixed masking of the data (the run's seed, data.mlm_probability and\n"
    "                           data.whole_word_mask), so two evaluations see the same masks\n"
    "  seq2seq                  loss over the target tokens, perplexity; then greedy generation from every\n"
    "                           source, scored against the target: rouge1, rouge2, rougeL, rougeLsum (F),\n"
    "                           bleu (sacreBLEU), exact_match and f1 (SQuAD normalisation, 0-100)\n"
    "The task, label set (class-id order), data fields, chat template and text cleaning come from the\n"
    "ftune_train.json and recipe.yaml that `ftune train` wrote in DIR (or in the adapter directory), so\n"
    "`ftune eval --model OUT --data test.jsonl` needs nothing else. DIR may be a full checkpoint or an "
    "adapter\n"
    "directory (its base model is ftune_train.json's base_model).\n"
    "A model trained on pre-tokenized JSONL is evaluated on pre-tokenized JSONL\n"
    "({\"input_ids\": [...], \"label\": ...} rows; see docs/data.md).\n"
    "\n"
    "options:\n"
    "  --adapter DIR     a PEFT adapter to load onto --model\n"
    "  --task TASK       causal_lm | instruction | classification | regression | question_answering |\n"
    "                    token_classification | masked_lm | seq2seq (overrides ftune_train.json;\n"
    "                    required for a model `ftune train` did not write)\n"
    "  --json            print one JSON object, the metrics at top level\n"
    "  --batch-size N    examples per forward pass (8)\n"
    "  --seq-len N       truncation length (default: the training seq_len; seq2seq: the source's)\n"
    "  --pack            causal LM: join the documents (each ending with EOS) and cut them into seq-len\n"
    "                    blocks, as training with data.pack does, so every token is scored (perplexity of\n"
    "                    a whole held-out text); --no-pack: each document alone, truncated. Default: what\n"
    "                    the run's recipe said (data.pack), else no packing\n"
    "  --threads N       OpenMP threads (0 = all cores)\n"
    "  --max-new-tokens N  seq2seq: generated tokens at most (default: eval.max_new_tokens of the run, else\n"
    "                    its data.max_target_length)\n"
    "  --num-beams N     seq2seq: beam search of width N (default: the run's eval.num_beams, else greedy)\n"
    "  --no-generate     seq2seq: the loss only\n"
    "  --predictions F   seq2seq: write each example's {\"prediction\", \"reference\"} as a JSON line to F\n"
    "                    (the reference is the target as the model saw it: tokenized, cut, decoded)\n"
    "  --split S         token classification on a Brown corpus directory (data.format brown): which files,\n"
    "                    train | validation | test (default test; the split is docs/encoders.md's)\n"
    "token_classification: word accuracy (each word's first piece), and for BIO/IOB2/IOBES tags entity\n"
    "precision / recall / F1 as seqeval computes them (micro and per type), else macro-F1 over the tags;\n"
    "tags the model does not know are not scored (counted in a warning, \"unknown_tags\" in --json).\n"
    "See docs/evaluation.md and docs/encoders.md.\n";

static const char *CLASSIFY_USAGE =
    "usage: ftune classify --model DIR [--adapter DIR] [--json] [--threads N] < lines.txt\n"
    "\n"
    "Reads one text per line from stdin and prints, per line, the predicted label and its probability\n"
    "(softmax of the head's logits), tab-separated; for a regression model the predicted value. The text is\n"
    "cleaned as training cleaned it. --json prints one object per line: {\"label\", \"prob\", \"probs\"}.\n"
    "A line that tokenizes to nothing (empty, with no special tokens added) is an error. See docs/evaluation.md.\n";

/* A model for eval and classify: ftune_train.json's task, or --task ("auto": the model's own head); NULL
 * after printing why. */
static ftune_model *load_model(ftune_ctx *ctx, const char *cmd, const char *model, const char *adapter,
                               const char *task, ftune_model_info *info) {
    ftune_model_load_opts lo;
    ftune_model_load_opts_init(&lo);
    lo.task = task, lo.head_task = task && !strcmp(task, "auto"), lo.need_task = 1;
    return ft_cli_model(cmd, ctx, model, adapter, &lo, info);
}

int ft_cmd_eval(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *data = NULL, *task = NULL, *split = "test", *preds = NULL;
    long bs = 8, seq = 0, threads = 0, max_new = 0, beams = 0;
    bool json = false, pack = false, no_pack = false, no_gen = false, help;
    ft_opt opts[] = {{"pack", FT_OPT_FLAG, &pack},          {"no-pack", FT_OPT_FLAG, &no_pack},
                     {"model", FT_OPT_STR, &model},         {"adapter", FT_OPT_STR, &adapter},
                     {"data", FT_OPT_STR, &data},           {"task", FT_OPT_STR, &task},
                     {"json", FT_OPT_FLAG, &json},          {"batch-size", FT_OPT_INT, &bs},
                     {"seq-len", FT_OPT_INT, &seq},         {"threads", FT_OPT_INT, &threads},
                     {"split", FT_OPT_STR, &split},         {"max-new-tokens", FT_OPT_INT, &max_new},
                     {"no-generate", FT_OPT_FLAG, &no_gen}, {"predictions", FT_OPT_STR, &preds},
                     {"num-beams", FT_OPT_INT, &beams}};
    int rc = ft_cli_parse("eval", argc, argv, opts, sizeof opts / sizeof *opts, EVAL_USAGE, NULL, 0, NULL, &help);
    if (rc || help)
        return rc;
    if (!model || !data) {
        fprintf(stderr, "ftune eval: --model and --data are required (see ftune eval --help)\n");
        return 2;
    }
    if (bs <= 0 || seq < 0 || (seq > 0 && seq < 2) || threads < 0 || max_new < 0 || beams < 0) {
        fprintf(
            stderr,
            "ftune eval: --batch-size must be > 0, --seq-len >= 2, --threads >= 0, --max-new-tokens >= 0\n");
        return 2;
    }
    if (bs > 1 << 20 || seq > 1 << 24 || max_new > 1 << 24 || beams > 1 << 20) {
        fprintf(stderr,
                "ftune eval: --batch-size, --seq-len, --max-new-tokens or --num-beams out of range\n");
        return 2;
    }
    ftune_ctx *ctx = ft_cli_ctx("eval", threads);
    if (!ctx)
        return 1;
    ftune_model_info info;
    ftune_model *m = load_model(ctx, "eval", model, adapter, task, &info);
    if (!m) {
        ftune_ctx_free(ctx);
        return 1;
    }
    const bool tagging = !strcmp(info.task, "token_classification"),
               qa = !strcmp(info.task, "question_answering");
    FILE *pf = NULL;
    if (preds && strcmp(info.task, "seq2seq") != 0) {
        fprintf(stderr, "ftune eval: --predictions is for a seq2seq model (this one's task is %s)\n",
                info.task);
        rc = 2;
    } else if (preds && !(pf = fopen(preds, "w"))) { /* the evaluation writes it; fail before it starts */
        fprintf(stderr, "ftune eval: %s: cannot write\n", preds);
        rc = 1;
    } else if (pf && fclose(pf) != 0) {
        fprintf(stderr, "ftune eval: %s: write failed\n", preds);
        rc = 1;
    } else if (!tagging && !qa && pack && no_pack) {
        fprintf(stderr, "ftune eval: --pack and --no-pack together\n");
        rc = 2;
    }
    ftune_eval_opts o;
    ftune_eval_opts_init(&o);
    o.batch_size = (int)bs, o.seq_len = (int)seq, o.max_new_tokens = (int)max_new, o.num_beams = (int)beams;
    o.pack = pack ? 1 : no_pack ? 0 : -1;
    o.generate = !no_gen;
    o.predictions = preds, o.split = split;
    ftune_eval_report r;
    ftune_eval_report_init(&r);
    const ftune_status s = rc ? FT_OK : ftune_model_evaluate_with(m, data, &o, NULL, NULL, &r);
    if (!rc && r.notes &&
        r.notes[0]) /* QA answers not where they say: before the results (stderr with --json) */
        fputs(r.notes, json ? stderr : stdout);
    if (!rc && s != FT_OK)
        rc = ft_cli_fail_ctx("eval", ctx);
    else if (!rc && json)
        printf("%s\n", r.json);
    else if (!rc) {
        if (tagging)
            printf("model %s%s%s, task token_classification, %zu sentences (%.1f s)\n", model,
                   adapter ? " + " : "", adapter ? adapter : "", r.n_examples, r.seconds);
        else if (qa)
            printf("task question_answering, %zu questions in %zu windows (%.1f s)\n", r.n_examples,
                   r.n_windows, r.seconds);
        else
            printf("model %s%s%s, task %s, %zu examples (%.1f s)\n", model, adapter ? " + " : "",
                   adapter ? adapter : "", r.task, r.n_examples, r.seconds);
        fputs(r.table, stdout);
    }
    if (!rc && r.unknown_tags)
        fprintf(stderr, "ftune eval: warning: %zu word(s) carry a tag the model does not know: not scored\n",
                r.unknown_tags);
    ftune_eval_report_free(&r);
    ftune_model_free(m);
    ftune_ctx_free(ctx);
    return rc;
}

/* ---- classify ---- */

int ft_cmd_classify(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *task = NULL;
    long threads = 0;
    bool json = false, help;
    ft_opt opts[] = {{"model", FT_OPT_STR, &model}, {"adapter", FT_OPT_STR, &adapter},
                     {"task", FT_OPT_STR, &task},   {"json", FT_OPT_FLAG, &json},
                     {"threads", FT_OPT_INT, &threads}};
    int rc = ft_cli_parse("classify", argc, argv, opts, sizeof opts / sizeof *opts, CLASSIFY_USAGE, NULL, 0, NULL,
                          &help);
    if (rc || help)
        return rc;
    if (!model) {
        fprintf(stderr, "ftune classify: --model is required (see ftune classify --help)\n");
        return 2;
    }
    ftune_ctx *ctx = ft_cli_ctx("classify", threads);
    if (!ctx)
        return 1;
    ftune_model_info info;
    ftune_model *m = load_model(ctx, "classify", model, adapter, task, &info);
    if (!m) {
        ftune_ctx_free(ctx);
        return 1;
    }
    const bool reg = !strcmp(info.task, "regression");
    if (!ftune_model_has_tokenizer(m)) {
        fprintf(stderr,
                "ftune classify: %s: no tokenizer (the model was trained on pre-tokenized data); put the "
                "tokenizer files next to it\n",
                model);
        rc = 1;
    } else if (!strcmp(info.task, "causal_lm") || !strcmp(info.task, "instruction") ||
               !strcmp(info.task, "seq2seq")) {
        fprintf(stderr, "ftune classify: %s: task %s has no classes to predict (use ftune generate)\n", model,
                info.task);
        rc = 1;
    } else if (!strcmp(info.task, "masked_lm")) {
        fprintf(stderr,
                "ftune classify: %s: task %s has no classes to predict (fine-tune it for classification "
                "first)\n",
                model, info.task);
        rc = 1;
    } else if (strcmp(info.task, "classification") != 0 && !reg) { /* token classification, QA */
        fprintf(stderr,
                "ftune classify: %s: task %s: ftune classify takes a classification or regression model (use "
                "ftune predict)\n",
                model, info.task);
        rc = 1;
    }
    const int nl = info.n_labels > 0 ? info.n_labels : 1;
    double *pr = malloc((size_t)nl * sizeof *pr);
    if (!rc && !pr) {
        fprintf(stderr, "ftune classify: out of memory\n");
        rc = 1;
    }
    char *line = NULL;
    size_t cap = 0;
    long ln = 0;
    ssize_t got;
    while (!rc && (got = getline(&line, &cap, stdin)) >= 0) {
        ln++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = '\0';
        int best;
        if (ftune_classify_f64(m, line, &best, pr, (size_t)nl) != FT_OK) {
            fprintf(stderr, "ftune classify: stdin:%ld: %s\n", ln, ftune_last_error(ctx));
            rc = 1;
            break;
        }
        if (reg) {
            if (json)
                printf("{\"value\":%.9g}\n", pr[0]);
            else
                printf("%.9g\n", pr[0]);
            continue;
        }
        if (json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "label", ftune_model_label(m, best));
            cJSON_AddNumberToObject(j, "prob", pr[best]);
            cJSON *p = cJSON_AddObjectToObject(j, "probs");
            for (int k = 0; k < info.n_labels; k++)
                cJSON_AddNumberToObject(p, ftune_model_label(m, k), pr[k]);
            rc = ft_cli_json("classify", j);
        } else {
            printf("%s\t%.6f\n", ftune_model_label(m, best), pr[best]);
        }
    }
    fflush(stdout);
    free(line);
    free(pr);
    ftune_model_free(m);
    ftune_ctx_free(ctx);
    return rc;
}
