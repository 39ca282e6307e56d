/* ftune eval: the metrics that fit a trained model's task on a data file; ftune classify: label and
 * probability for each line of stdin. Both read the task, labels and fields from ftune_train.json. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/qa_cli.h"
#include "cli/tokcls.h"
#include "cli/trained.h"
#include "models/infer.h"
#include "train/trainer.h"

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

static void set_threads(long threads) {
    ft_ctx ctx;
    ft_ctx_default(&ctx);
    if (threads > 0)
        ctx.threads = (int)threads;
    ft_ctx_apply(&ctx);
}

static void add_cls_json(cJSON *j, const ft_metric_cls *c, char *const *names) {
    ft_metric_cls_json(c, j); /* the same fixed keys as `ftune score --json` */
    cJSON *labels = cJSON_AddArrayToObject(j, "labels");
    cJSON *cm = cJSON_AddArrayToObject(j, "confusion_matrix");
    cJSON *per = cJSON_AddObjectToObject(j, "per_class");
    for (size_t a = 0; a < c->n_classes; a++) {
        cJSON_AddItemToArray(labels, cJSON_CreateString(names[a]));
        cJSON *row = cJSON_CreateArray();
        for (size_t b = 0; b < c->n_classes; b++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber((double)c->confusion[a * c->n_classes + b]));
        cJSON_AddItemToArray(cm, row);
        cJSON *pc = cJSON_AddObjectToObject(per, names[a]);
        cJSON_AddNumberToObject(pc, "precision", c->precision[a]);
        cJSON_AddNumberToObject(pc, "recall", c->recall[a]);
        cJSON_AddNumberToObject(pc, "f1", c->f1[a]);
        cJSON_AddNumberToObject(pc, "support", (double)c->support[a]);
    }
}

static void print_cls_table(const ft_metric_cls *c, char *const *names) {
    printf("accuracy     %.4f\n\n", c->accuracy);
    printf("%-12s %9s %9s %9s %9s\n", "", "precision", "recall", "f1", "support");
    for (size_t a = 0; a < c->n_classes; a++)
        printf("%-12.12s %9.4f %9.4f %9.4f %9lld\n", names[a], c->precision[a], c->recall[a], c->f1[a],
               (long long)c->support[a]);
    printf("%-12s %9.4f %9.4f %9.4f\n", "macro", c->precision_macro, c->recall_macro, c->f1_macro);
    printf("%-12s %9.4f %9.4f %9.4f\n", "micro", c->precision_micro, c->recall_micro, c->f1_micro);
    printf("%-12s %9.4f %9.4f %9.4f\n", "weighted", c->precision_weighted, c->recall_weighted, c->f1_weighted);
    printf("\nconfusion matrix (rows: true, columns: predicted)\n%-12s", "");
    for (size_t b = 0; b < c->n_classes; b++)
        printf(" %9.9s", names[b]);
    printf("\n");
    for (size_t a = 0; a < c->n_classes; a++) {
        printf("%-12.12s", names[a]);
        for (size_t b = 0; b < c->n_classes; b++)
            printf(" %9lld", (long long)c->confusion[a * c->n_classes + b]);
        printf("\n");
    }
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
    set_threads(threads);
    ft_trained t;
    ft_status s = ft_trained_load(model, adapter, task, true, &t);
    if (s != FT_OK)
        return ft_cli_fail("eval", s);
    if (preds && strcmp(t.task, "seq2seq")) {
        fprintf(stderr, "ftune eval: --predictions is for a seq2seq model (this one's task is %s)\n", t.task);
        ft_trained_free(&t);
        return 2;
    }
    if (seq > 0) { /* seq2seq: the source length; the arena's T still covers the longer side */
        t.data.max_len = (int)seq;
        t.seq_len = (int)seq > t.data.max_target_len ? (int)seq : t.data.max_target_len;
    }
    if (max_new > 0)
        t.s2s.gen.max_new_tokens = (int)max_new;
    if (beams > 0)
        t.s2s.gen.num_beams = (int)beams;
    if (no_gen)
        t.s2s_generate = false;
    FILE *pf = NULL;
    if (preds && !(pf = fopen(preds, "w"))) {
        ft_trained_free(&t);
        fprintf(stderr, "ftune eval: %s: cannot write\n", preds);
        return 1;
    }
    t.s2s.out = pf;
    if (!strcmp(t.task, "token_classification")) { /* words and tags (cli/tokcls.c) */
        char label[8300];
        snprintf(label, sizeof label, "%s%s%s", model, adapter ? " + " : "", adapter ? adapter : "");
        rc = ft_cli_eval_tokens(&t, data, split, (int)bs, json, label);
        ft_trained_free(&t);
        return rc;
    }
    const ft_task tk = ft_trained_task(&t);
    if (!strcmp(t.task, "question_answering")) { /* SQuAD-format data, windows and span post-processing */
        s = ft_cli_qa_eval(&t, data, (int)bs, json);
        ft_trained_free(&t);
        return s == FT_OK ? 0 : ft_cli_fail("eval", s);
    }
    if (pack && no_pack) {
        ft_trained_free(&t);
        fprintf(stderr, "ftune eval: --pack and --no-pack together\n");
        return 2;
    }
    if (pack || no_pack)
        t.data.pack = pack;
    ft_eval_result res = {0};
    size_t n_ex = 0;
    double t0 = ft_now();
    s = ft_trained_eval_file(&t, data, (int)bs, &res, &n_ex);
    const bool have_res = s == FT_OK;
    double wall = ft_now() - t0;
    if (pf && fclose(pf) != 0 && s == FT_OK)
        s = ft_fail(FT_ERR_IO, "%s: write failed", preds);
    if (s == FT_OK && json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "task", t.task);
        cJSON_AddNumberToObject(j, "n_examples", (double)n_ex);
        cJSON_AddNumberToObject(j, "loss", res.loss);
        if (tk == FT_TASK_CAUSAL_LM || tk == FT_TASK_MASKED_LM || tk == FT_TASK_SEQ2SEQ) {
            cJSON_AddNumberToObject(j, "perplexity", res.perplexity);
            cJSON_AddNumberToObject(j, "n_tokens", (double)res.count);
            if (res.has_gen) {
                const ft_s2s_score *g = &res.gen;
                cJSON_AddNumberToObject(j, "n_generated", (double)g->n);
                cJSON_AddNumberToObject(j, "bleu", g->bleu);
                cJSON_AddNumberToObject(j, "rouge1", g->rouge1);
                cJSON_AddNumberToObject(j, "rouge2", g->rouge2);
                cJSON_AddNumberToObject(j, "rougeL", g->rougeL);
                cJSON_AddNumberToObject(j, "rougeLsum", g->rougeLsum);
                cJSON_AddNumberToObject(j, "exact_match", g->exact_match);
                cJSON_AddNumberToObject(j, "f1", g->f1);
            }
        } else if (tk == FT_TASK_SEQ_CLS) {
            add_cls_json(j, &res.cls, t.label_names);
        } else {
            cJSON_AddNumberToObject(j, "mse", res.reg.mse);
            cJSON_AddNumberToObject(j, "mae", res.reg.mae);
            if (isnan(res.reg.r2))
                cJSON_AddNullToObject(j, "r2");
            else
                cJSON_AddNumberToObject(j, "r2", res.reg.r2);
        }
        char *out = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (!out)
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        else {
            printf("%s\n", out);
            cJSON_free(out);
        }
    } else if (s == FT_OK) {
        printf("model %s%s%s, task %s, %zu examples (%.1f s)\n", model, adapter ? " + " : "",
               adapter ? adapter : "", t.task, n_ex, wall);
        printf("loss         %.4f\n", res.loss);
        if (tk == FT_TASK_CAUSAL_LM || tk == FT_TASK_MASKED_LM || tk == FT_TASK_SEQ2SEQ)
            printf("perplexity   %.4f\ntokens       %lld%s\n", res.perplexity, (long long)res.count,
                   tk == FT_TASK_MASKED_LM ? " (masked)"
                   : tk == FT_TASK_SEQ2SEQ ? " (target)"
                                           : "");
        else if (tk == FT_TASK_SEQ_CLS)
            print_cls_table(&res.cls, t.label_names);
        else
            printf("mse          %.6g\nmae          %.6g\nr2           %.6g\n", res.reg.mse, res.reg.mae, res.reg.r2);
        if (res.has_gen)
            printf("generated    %zu\nbleu         %.2f\nrouge1       %.4f\nrouge2       %.4f\nrougeL       "
                   "%.4f\n"
                   "rougeLsum    %.4f\nexact_match  %.2f\nf1           %.2f\n",
                   res.gen.n, res.gen.bleu, res.gen.rouge1, res.gen.rouge2, res.gen.rougeL, res.gen.rougeLsum,
                   res.gen.exact_match, res.gen.f1);
    }
    if (have_res)
        ft_eval_result_free(&res);
    ft_trained_free(&t);
    return s == FT_OK ? 0 : ft_cli_fail("eval", s);
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
    set_threads(threads);
    ft_trained t;
    ft_status s = ft_trained_load(model, adapter, task, true, &t);
    if (s != FT_OK)
        return ft_cli_fail("classify", s);
    const bool reg = t.m->task == FT_TASK_REGRESSION;
    if (!t.tok)
        s = ft_fail(FT_ERR_MISSING,
                    "%s: no tokenizer (the model was trained on pre-tokenized data); put the "
                    "tokenizer files next to it",
                    model);
    if (s == FT_OK && t.m->task == FT_TASK_CAUSAL_LM)
        s = ft_fail(FT_ERR_ARG, "%s: task %s has no classes to predict (use ftune generate)", model, t.task);
    if (s == FT_OK && t.m->task == FT_TASK_MASKED_LM)
        s = ft_fail(FT_ERR_ARG,
                    "%s: task %s has no classes to predict (fine-tune it for classification first)", model,
                    t.task);
    const int nl = t.m->n_labels;
    ft_kv *kv = NULL;
    float *lg = malloc((size_t)(nl > 0 ? nl : 1) * sizeof *lg);
    double *pr = malloc((size_t)(nl > 0 ? nl : 1) * sizeof *pr);
    if (s == FT_OK && (!lg || !pr))
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK)
        s = ft_kv_new(t.m, t.seq_len + t.m->n_virtual, &kv);
    char *line = NULL;
    size_t cap = 0;
    ft_tok_ids ids = {0};
    long ln = 0;
    ssize_t got;
    while (s == FT_OK && (got = getline(&line, &cap, stdin)) >= 0) {
        ln++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = '\0';
        int best;
        s = ft_trained_classify(&t, kv, line, &ids, lg, pr, &best);
        if (s != FT_OK) {
            s = ft_fail_ctx(s, "stdin:%ld", ln);
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
            cJSON_AddStringToObject(j, "label", t.label_names[best]);
            cJSON_AddNumberToObject(j, "prob", pr[best]);
            cJSON *p = cJSON_AddObjectToObject(j, "probs");
            for (int k = 0; k < nl; k++)
                cJSON_AddNumberToObject(p, t.label_names[k], pr[k]);
            char *o = cJSON_PrintUnformatted(j);
            cJSON_Delete(j);
            if (!o) {
                s = ft_fail(FT_ERR_NOMEM, "out of memory");
                break;
            }
            printf("%s\n", o);
            cJSON_free(o);
        } else {
            printf("%s\t%.6f\n", t.label_names[best], pr[best]);
        }
    }
    fflush(stdout);
    free(line);
    ft_tok_ids_free(&ids);
    free(lg);
    free(pr);
    ft_kv_free(kv);
    ft_trained_free(&t);
    return s == FT_OK ? 0 : ft_cli_fail("classify", s);
}
