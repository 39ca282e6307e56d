/* Token classification in the CLI: recipe data, eval, the most-frequent-tag baseline, ftune predict. */
#include "cli/tokcls.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "train/trainer.h"

void ft_cli_print_tag_metrics(const ft_metric_tag *m, FILE *f) {
    fprintf(f, "accuracy     %.4f  (%lld of %lld words)\n", m->accuracy, (long long)m->n_correct,
            (long long)m->n_words);
    if (!m->entities) {
        fprintf(f, "f1_macro     %.4f  (over the tags; not a BIO tag set: no entity scores)\n",
                m->f1_macro_tags);
        return;
    }
    fprintf(f,
            "entities     precision %.4f  recall %.4f  f1 %.4f  (%lld true, %lld predicted, %lld correct)\n",
            m->precision, m->recall, m->f1, (long long)m->n_true, (long long)m->n_pred,
            (long long)m->n_correct_ent);
    fprintf(f, "%-16s %9s %9s %9s %9s\n", "type", "precision", "recall", "f1", "support");
    for (size_t i = 0; i < m->n_types; i++) {
        const ft_tag_type_score *t = &m->types[i];
        fprintf(f, "%-16s %9.4f %9.4f %9.4f %9lld\n", t->type, t->precision, t->recall, t->f1,
                (long long)t->n_true);
    }
}

static void add_tag_json(cJSON *j, const ft_metric_tag *m) {
    cJSON_AddNumberToObject(j, "accuracy", m->accuracy);
    cJSON_AddNumberToObject(j, "n_words", (double)m->n_words);
    if (!m->entities) {
        cJSON_AddNumberToObject(j, "f1_macro", m->f1_macro_tags);
        return;
    }
    cJSON_AddNumberToObject(j, "precision", m->precision);
    cJSON_AddNumberToObject(j, "recall", m->recall);
    cJSON_AddNumberToObject(j, "f1", m->f1);
    cJSON_AddNumberToObject(j, "n_entities_true", (double)m->n_true);
    cJSON_AddNumberToObject(j, "n_entities_pred", (double)m->n_pred);
    cJSON *ty = cJSON_AddObjectToObject(j, "per_type");
    for (size_t i = 0; ty && i < m->n_types; i++) {
        const ft_tag_type_score *t = &m->types[i];
        cJSON *o = cJSON_AddObjectToObject(ty, t->type);
        cJSON_AddNumberToObject(o, "precision", t->precision);
        cJSON_AddNumberToObject(o, "recall", t->recall);
        cJSON_AddNumberToObject(o, "f1", t->f1);
        cJSON_AddNumberToObject(o, "support", (double)t->n_true);
    }
}

/* The sentences of an evaluation input: a Brown directory's split files, else one file read as training read
 * its files. */
static ft_status eval_sents(const ft_trained *t, const char *data, const char *split, ft_tag_sents *out) {
    memset(out, 0, sizeof *out);
    if (!strcmp(t->rec.data_format, "brown")) {
        const bool tr = !strcmp(split, "train"), va = !strcmp(split, "validation"),
                   te = !strcmp(split, "test");
        if (!tr && !va && !te)
            return ft_fail(FT_ERR_ARG, "--split must be train, validation or test (got '%s')", split);
        return ft_tag_read_brown(data, tr ? out : NULL, va ? out : NULL, te ? out : NULL);
    }
    ft_tag_read_cfg c;
    ft_taskdata_tag_read_cfg(&t->rec, &c);
    return ft_tag_read(data, &c, out);
}

int ft_cli_eval_tokens(ft_trained *t, const char *data, const char *split, int batch_size, bool json,
                       const char *label) {
    ft_tag_sents sp[3] = {{0}};
    ft_dataset ds[3];
    memset(ds, 0, sizeof ds);
    ft_eval_result res = {0};
    size_t unknown[3] = {0, 0, 0};
    ft_status s = t->tok ? FT_OK : ft_fail(FT_ERR_MISSING, "no tokenizer for the token classifier");
    if (s == FT_OK)
        s = eval_sents(t, data, split, &sp[0]);
    const ft_tag_build_cfg c = {.label_all = t->rec.data_label_all_tokens,
                                .max_len = t->seq_len,
                                .names = t->label_names,
                                .n_names = t->n_labels};
    if (s == FT_OK)
        s = ft_tag_build(t->tok, sp, &c, ds, unknown, NULL);
    const double t0 = ft_now();
    if (s == FT_OK) {
        ft_arena arena;
        s = ft_arena_init(&arena, ft_model_act_bytes(t->m, batch_size, t->seq_len) + ((size_t)4 << 20));
        if (s == FT_OK) {
            s = ft_train_evaluate(t->m, &ds[0], batch_size, t->seq_len, t->pad_id, &arena, &res);
            ft_arena_free(&arena);
        }
    }
    const double wall = ft_now() - t0;
    if (s == FT_OK && json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "task", "token_classification");
        cJSON_AddNumberToObject(j, "n_examples", (double)ds[0].n);
        cJSON_AddNumberToObject(j, "loss", res.loss);
        add_tag_json(j, &res.tag);
        cJSON_AddNumberToObject(j, "unknown_tags", (double)unknown[0]);
        s = ft_cli_print_json(j);
    } else if (s == FT_OK) {
        printf("model %s, task token_classification, %zu sentences (%.1f s)\n", label, ds[0].n, wall);
        printf("loss         %.4f\n", res.loss);
        ft_cli_print_tag_metrics(&res.tag, stdout);
    }
    if (s == FT_OK && unknown[0])
        fprintf(stderr, "ftune eval: warning: %zu word(s) carry a tag the model does not know: not scored\n",
                unknown[0]);
    ft_eval_result_free(&res);
    for (int k = 0; k < 3; k++) {
        ft_dataset_free(&ds[k]);
        ft_tag_sents_free(&sp[k]);
    }
    return s == FT_OK ? 0 : ft_cli_fail("eval", s);
}

/* ---- baseline: the most frequent training tag of each word form, the overall most frequent one for
 * words never seen in training ---- */

typedef struct {
    const char *word;
    int32_t tag;
} word_tag;

static int wt_cmp(const void *a, const void *b) {
    const word_tag *x = a, *y = b;
    const int c = strcmp(x->word, y->word);
    return c ? c : (x->tag > y->tag) - (x->tag < y->tag);
}

static int word_cmp(const void *key, const void *e) {
    return strcmp((const char *)key, ((const word_tag *)e)->word);
}

/* The lexicon: one entry per distinct word with its most frequent tag (ties: the first in tag order). */
static ft_status build_lexicon(const ft_tag_sents *tr, char *const *names, int nn, word_tag **lex,
                               size_t *n_lex, int32_t *overall) {
    size_t n = 0;
    for (size_t i = 0; i < tr->n; i++)
        n += (size_t)tr->s[i].n;
    word_tag *all = malloc((n ? n : 1) * sizeof *all);
    int64_t *freq = calloc((size_t)nn, sizeof *freq);
    if (!all || !freq) {
        free(all);
        free(freq);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < tr->n; i++)
        for (int w = 0; w < tr->s[i].n; w++) {
            const int32_t id = ft_data_label_id(names, nn, tr->s[i].tags[w]);
            if (id < 0)
                continue;
            all[k++] = (word_tag){tr->s[i].words[w], id};
            freq[id]++;
        }
    qsort(all, k, sizeof *all, wt_cmp);
    size_t u = 0;
    for (size_t i = 0; i < k;) {
        size_t j = i, best_n = 0;
        int32_t best = all[i].tag;
        while (j < k && !strcmp(all[j].word, all[i].word)) {
            size_t e = j;
            while (e < k && !strcmp(all[e].word, all[i].word) && all[e].tag == all[j].tag)
                e++;
            if (e - j > best_n) {
                best_n = e - j;
                best = all[j].tag;
            }
            j = e;
        }
        all[u++] = (word_tag){all[i].word, best};
        i = j;
    }
    *overall = 0;
    for (int t = 1; t < nn; t++)
        if (freq[t] > freq[*overall])
            *overall = t;
    free(freq);
    *lex = all;
    *n_lex = u;
    return FT_OK;
}

static ft_status baseline_score(const ft_tag_sents *sp, const word_tag *lex, size_t n_lex, int32_t overall,
                                char *const *names, int nn, ft_metric_tag *m, size_t *unknown) {
    size_t n = 0;
    for (size_t i = 0; i < sp->n; i++)
        n += (size_t)sp->s[i].n;
    int32_t *yt = malloc((n ? n : 1) * sizeof *yt), *yp = malloc((n ? n : 1) * sizeof *yp);
    size_t *off = malloc((sp->n + 1) * sizeof *off);
    if (!yt || !yp || !off) {
        free(yt);
        free(yp);
        free(off);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    size_t k = 0;
    *unknown = 0;
    off[0] = 0;
    for (size_t i = 0; i < sp->n; i++) {
        for (int w = 0; w < sp->s[i].n; w++) {
            const int32_t id = ft_data_label_id(names, nn, sp->s[i].tags[w]);
            if (id < 0) { /* a tag outside the training tag set: not scored, as in `ftune eval` */
                (*unknown)++;
                continue;
            }
            const word_tag *hit = bsearch(sp->s[i].words[w], lex, n_lex, sizeof *lex, word_cmp);
            yt[k] = id;
            yp[k++] = hit ? hit->tag : overall;
        }
        off[i + 1] = k;
    }
    ft_status s = ft_metric_tagging(yt, yp, off, sp->n, names, nn, m);
    free(yt);
    free(yp);
    free(off);
    return s;
}

ft_status ft_cli_baseline_tokens(const ft_recipe *r, bool json) {
    ft_tag_sents sp[3];
    FT_TRY(ft_taskdata_tag_sents(r, sp));
    char **names = NULL;
    int nn = 0;
    word_tag *lex = NULL;
    size_t n_lex = 0;
    int32_t overall = 0;
    ft_metric_tag m[2];
    memset(m, 0, sizeof m);
    size_t unknown[2] = {0, 0};
    ft_status s = FT_OK;
    if (sp[1].n == 0 && sp[2].n == 0) /* the same split training makes */
        s = ft_tag_split(sp, (float)r->data_val_ratio, (float)r->data_test_ratio, (uint64_t)r->seed);
    if (s == FT_OK)
        s = ft_tag_label_set(&sp[0], r->data_labels, &names, &nn);
    if (s == FT_OK)
        s = build_lexicon(&sp[0], names, nn, &lex, &n_lex, &overall);
    for (int k = 0; s == FT_OK && k < 2; k++)
        if (sp[k + 1].n)
            s = baseline_score(&sp[k + 1], lex, n_lex, overall, names, nn, &m[k], &unknown[k]);
    static const char *split[2] = {"validation", "test"};
    if (s == FT_OK && json) {
        cJSON *j = cJSON_CreateObject();
        cJSON *t = cJSON_AddObjectToObject(j, "train");
        cJSON_AddNumberToObject(t, "sentences", (double)sp[0].n);
        cJSON_AddNumberToObject(t, "words", (double)n_lex);
        cJSON_AddNumberToObject(t, "tags", nn);
        cJSON_AddStringToObject(t, "most_frequent_tag", names[overall]);
        for (int k = 0; k < 2; k++)
            if (sp[k + 1].n) {
                cJSON *o = cJSON_AddObjectToObject(j, split[k]);
                add_tag_json(o, &m[k]);
                cJSON_AddNumberToObject(o, "unknown_tags", (double)unknown[k]);
            }
        s = ft_cli_print_json(j);
    } else if (s == FT_OK) {
        printf(
            "most-frequent-tag baseline: %zu training sentences, %zu distinct words, %d tags (unknown words: "
            "'%s')\n",
            sp[0].n, n_lex, nn, names[overall]);
        for (int k = 0; k < 2; k++)
            if (sp[k + 1].n) {
                printf("%s (%zu sentences):\n", split[k], sp[k + 1].n);
                ft_cli_print_tag_metrics(&m[k], stdout);
                if (unknown[k])
                    printf("(%zu word(s) with a tag not seen in training: not scored)\n", unknown[k]);
            }
    }
    for (int k = 0; k < 2; k++)
        ft_metric_tag_free(&m[k]);
    free(lex);
    for (int i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    for (int k = 0; k < 3; k++)
        ft_tag_sents_free(&sp[k]);
    return s;
}

/* ---- ftune predict ---- */

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

/* Split text on whitespace into words (malloc'd copies). */
static ft_status split_words(const char *text, ft_tag_sents *out) {
    ft_tag_sent t = {0};
    t.file = "--text";
    t.line = 1;
    int cap = 0;
    for (const char *p = text; *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (!*p)
            break;
        const char *st = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            p++;
        if (t.n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nw = realloc(t.words, (size_t)cap * sizeof *nw);
            if (!nw)
                break;
            t.words = nw;
        }
        char *w = malloc((size_t)(p - st) + 1);
        if (!w)
            break;
        memcpy(w, st, (size_t)(p - st));
        w[p - st] = '\0';
        t.words[t.n++] = w;
    }
    out->s = malloc(sizeof *out->s);
    if (!out->s) {
        for (int i = 0; i < t.n; i++)
            free(t.words[i]);
        free(t.words);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    out->s[0] = t;
    out->n = out->cap = 1;
    return FT_OK;
}

static ft_status predict_sentence(ft_trained *t, const ft_tag_sent *snt, bool json, size_t *cut) {
    if (snt->n == 0) {
        if (json)
            printf("{\"tokens\":[],\"tags\":[]}\n");
        else
            printf("\n");
        return FT_OK;
    }
    ft_example ex;
    FT_TRY(ft_tag_encode(t->tok, snt->words, snt->n, NULL, false, NULL, 0, t->seq_len, &ex));
    int32_t *pred = malloc((size_t)snt->n * sizeof *pred);
    ft_batch b = {.B = 1, .T = ex.len, .input_ids = ex.ids};
    ft_arena arena = {0};
    ft_status s = pred ? ft_arena_init(&arena, ft_model_act_bytes(t->m, 1, ex.len) + ((size_t)1 << 20))
                       : ft_fail(FT_ERR_NOMEM, "out of memory");
    ft_acts *a = NULL;
    double loss;
    int64_t cnt;
    ft_fwd_opts o = {.keep_logits = true, .no_loss = true, .checkpoint = true};
    if (s == FT_OK)
        s = ft_model_forward(t->m, &b, &o, &arena, &a, &loss, &cnt);
    if (s == FT_OK)
        ft_tag_word_preds(&ex, ft_acts_logits(a, NULL, NULL), t->m->n_labels, snt->n, pred);
    if (s == FT_OK && json) {
        cJSON *j = cJSON_CreateObject(), *tk = cJSON_AddArrayToObject(j, "tokens"),
              *tg = cJSON_AddArrayToObject(j, "tags");
        for (int w = 0; w < snt->n; w++) {
            cJSON_AddItemToArray(tk, cJSON_CreateString(snt->words[w]));
            cJSON_AddItemToArray(tg, cJSON_CreateString(pred[w] >= 0 ? t->label_names[pred[w]] : "?"));
        }
        s = ft_cli_print_json(j);
    } else if (s == FT_OK) {
        for (int w = 0; w < snt->n; w++)
            printf("%s\t%s\n", snt->words[w], pred[w] >= 0 ? t->label_names[pred[w]] : "?");
        printf("\n");
    }
    for (int w = 0; s == FT_OK && w < snt->n; w++)
        *cut += pred[w] < 0;
    ft_arena_free(&arena);
    free(pred);
    free(ex.ids);
    free(ex.labels);
    free(ex.word_ids);
    return s;
}

static ft_status predict_tokens(ft_trained *t, const char *text, const char *jsonl, bool json) {
    if (!t->tok)
        return ft_fail(FT_ERR_MISSING, "no tokenizer for the token classifier");
    ft_tag_sents sp = {0};
    ft_status s;
    if (text) {
        s = split_words(text, &sp);
    } else {
        ft_tag_read_cfg c;
        ft_taskdata_tag_read_cfg(&t->rec, &c);
        c.format = "jsonl";
        c.need_tags = false;
        s = ft_tag_read(jsonl, &c, &sp);
    }
    size_t cut = 0;
    for (size_t i = 0; s == FT_OK && i < sp.n; i++) {
        s = predict_sentence(t, &sp.s[i], json, &cut);
        if (s != FT_OK)
            s = ft_fail_ctx(s, "%s:%ld", sp.s[i].file, sp.s[i].line);
    }
    if (s == FT_OK && cut)
        fprintf(stderr, "ftune predict: warning: %zu word(s) past seq_len %d got no prediction ('?')\n", cut,
                t->seq_len);
    ft_tag_sents_free(&sp);
    return s;
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
    ft_cli_threads(threads);
    ft_trained t;
    ft_status s = ft_trained_load(model, adapter, NULL, false, &t);
    if (s != FT_OK)
        return ft_cli_fail("predict", s);
    if (!strcmp(t.task, "seq2seq")) { /* an encoder-decoder: the generated text (predict_s2s.c) */
        s = ft_cli_predict_s2s(&t, text, jsonl, json);
        ft_trained_free(&t);
        return s == FT_OK ? 0 : ft_cli_fail("predict", s);
    }
    switch (t.m->task) { /* one mode per task */
    case FT_TASK_TOKEN_CLS:
        if (!t.label_names)
            s = ft_fail(FT_ERR_MISSING, "%s: the token classifier has no tag names", model);
        else
            s = predict_tokens(&t, text, jsonl, json);
        break;
    default:
        s = ft_fail(
            FT_ERR_UNSUPPORTED,
            "%s: ftune predict --text/--jsonl has no mode for this model's task (token_classification; "
            "--question/--context for question answering; ftune classify or ftune generate for the others)",
            model);
        break;
    }
    ft_trained_free(&t);
    return s == FT_OK ? 0 : ft_cli_fail("predict", s);
}
