/* api/api_eval: `ftune predict` (token classification, seq2seq) and `ftune eval` (every task, with its
 * options, table and JSON) as calls of the public API (include/ftune.h, FTUNE_HAS_TAGGING,
 * FTUNE_HAS_SEQ2SEQ_PREDICT, FTUNE_HAS_EVALUATE_REPORT). Prefix ftune_. */
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/api_ctx.h"
#include "api/api_model.h"
#include "data/qa.h"
#include "data/tagging.h"
#include "eval/generate.h"
#include "eval/qa_post.h"
#include "eval/tagging.h"
#include "train/task_data.h"

/* ---- token classification ---- */

int ftune_model_seq_len(const ftune_model *m) {
    return m ? api_model_trained((ftune_model *)m)->seq_len : 0;
}

static ft_status tag_ready(const ft_trained *t, const char *fn) {
    if (t->m->task != FT_TASK_TOKEN_CLS)
        return ft_fail(FT_ERR_ARG, "%s: the model's task is %s, not token_classification", fn, t->task);
    if (!t->label_names)
        return ft_fail(FT_ERR_MISSING, "%s: the token classifier has no tag names", fn);
    if (!t->tok)
        return ft_fail(FT_ERR_MISSING, "no tokenizer for the token classifier");
    return FT_OK;
}

/* One sentence's word tags: one forward, the argmax at each word's first piece (-1: its pieces were cut). */
static ft_status tag_sentence(ft_trained *t, char *const *words, int n, int32_t *pred) {
    if (n == 0)
        return FT_OK;
    ft_example ex;
    FT_TRY(ft_tag_encode(t->tok, words, n, NULL, false, NULL, 0, t->seq_len, &ex));
    ft_batch b = {.B = 1, .T = ex.len, .input_ids = ex.ids};
    ft_arena arena = {0};
    ft_status s = ft_arena_init(&arena, ft_model_act_bytes(t->m, 1, ex.len) + ((size_t)1 << 20));
    ft_acts *a = NULL;
    double loss;
    int64_t cnt;
    ft_fwd_opts o = {.keep_logits = true, .no_loss = true, .checkpoint = true};
    if (s == FT_OK)
        s = ft_model_forward(t->m, &b, &o, &arena, &a, &loss, &cnt);
    if (s == FT_OK)
        ft_tag_word_preds(&ex, ft_acts_logits(a, NULL, NULL), t->m->n_labels, n, pred);
    ft_arena_free(&arena);
    free(ex.ids);
    free(ex.labels);
    free(ex.word_ids);
    return s;
}

ftune_status ftune_tag_words(ftune_model *m, const char *const *words, size_t n_words, int32_t *tags) {
    if (!m)
        return FT_ERR_ARG;
    ftune_ctx *ctx = api_model_ctx(m);
    api_begin(ctx);
    ft_trained *t = api_model_trained(m);
    if ((!words && n_words) || (!tags && n_words))
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_tag_words: words and tags are required"));
    if (n_words > INT_MAX)
        return api_end(ctx, ft_fail(FT_ERR_RANGE, "ftune_tag_words: %zu words", n_words));
    for (size_t w = 0; w < n_words; w++)
        if (!words[w] || !words[w][0])
            return api_end(
                ctx, ft_fail(FT_ERR_ARG, "ftune_tag_words: word %zu is %s", w, words[w] ? "empty" : "NULL"));
    ft_status s = tag_ready(t, "ftune_tag_words");
    if (s == FT_OK)
        s = tag_sentence(t, (char *const *)words, (int)n_words, tags);
    return api_end(ctx, s);
}

ftune_status ftune_tag_file(ftune_model *m, const char *path, ftune_tag_fn fn, void *user) {
    if (!m)
        return FT_ERR_ARG;
    ftune_ctx *ctx = api_model_ctx(m);
    api_begin(ctx);
    ft_trained *t = api_model_trained(m);
    if (!path || !fn)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_tag_file: path and fn are required"));
    ft_status s = tag_ready(t, "ftune_tag_file");
    ft_tag_sents sp = {0};
    if (s == FT_OK) {
        ft_tag_read_cfg c;
        ft_taskdata_tag_read_cfg(&t->rec, &c);
        c.format = "jsonl";
        c.need_tags = false;
        s = ft_tag_read(path, &c, &sp);
    }
    int32_t *pred = NULL;
    for (size_t i = 0; s == FT_OK && i < sp.n; i++) {
        const ft_tag_sent *st = &sp.s[i];
        int32_t *np = realloc(pred, (size_t)(st->n > 0 ? st->n : 1) * sizeof *np);
        if (!np) {
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
            break;
        }
        pred = np;
        char where[4200];
        snprintf(where, sizeof where, "%s:%ld", st->file, st->line);
        if ((s = tag_sentence(t, st->words, st->n, pred)) != FT_OK)
            s = ft_fail_ctx(s, "%s", where);
        else if (fn(user, where, (const char *const *)st->words, (size_t)st->n, pred) != 0)
            break;
    }
    free(pred);
    ft_tag_sents_free(&sp);
    return api_end(ctx, s);
}

/* ---- seq2seq prediction ---- */

static ft_status s2s_ready(const ft_trained *t, const char *fn) {
    if (strcmp(t->task, "seq2seq") != 0)
        return ft_fail(FT_ERR_ARG, "%s: the model's task is %s, not seq2seq", fn, t->task);
    if (!t->tok)
        return ft_fail(FT_ERR_MISSING, "seq2seq prediction needs the tokenizer the model was trained with");
    return FT_OK;
}

/* One source, encoded as training encoded it, through the run's decoding settings: *out (malloc'd). */
static ft_status s2s_one(ft_trained *t, const char *src, ft_tok_ids *ids, char **out) {
    ft_tok_ids_free(ids);
    FT_TRY(ft_trained_encode_source(t, src, ids));
    ft_gen_out g;
    FT_TRY(ft_gen_run(t->m, t->tok, ids->ids, (int)ids->n, &t->s2s.gen, &g));
    *out = ft_strdup(g.text ? g.text : "");
    ft_gen_out_free(&g);
    return *out ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
}

ftune_status ftune_generate_seq2seq(ftune_model *m, const char *source, char **text) {
    if (!m)
        return FT_ERR_ARG;
    ftune_ctx *ctx = api_model_ctx(m);
    api_begin(ctx);
    if (text)
        *text = NULL;
    if (!source || !text)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_generate_seq2seq: source and text are required"));
    ft_trained *t = api_model_trained(m);
    ft_tok_ids ids = {0};
    ft_status s = s2s_ready(t, "ftune_generate_seq2seq");
    if (s == FT_OK)
        s = s2s_one(t, source, &ids, text);
    ft_tok_ids_free(&ids);
    return api_end(ctx, s);
}

ftune_status ftune_generate_seq2seq_file(ftune_model *m, const char *path, ftune_text_fn fn, void *user) {
    if (!m)
        return FT_ERR_ARG;
    ftune_ctx *ctx = api_model_ctx(m);
    api_begin(ctx);
    if (!path || !fn)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_generate_seq2seq_file: path and fn are required"));
    ft_trained *t = api_model_trained(m);
    ft_tok_ids ids = {0};
    ft_data_recs rs = {0};
    ft_status s = s2s_ready(t, "ftune_generate_seq2seq_file");
    if (s == FT_OK)
        s = ft_data_read(path, &t->data, &rs);
    for (size_t i = 0; s == FT_OK && i < rs.n; i++) {
        const ft_data_rec *r = &rs.r[i];
        char *out = NULL;
        if (!r->text)
            s = ft_fail(FT_ERR_FORMAT, "%s:%ld: missing field '%s'", r->file, r->line, t->data.text_field);
        else if ((s = s2s_one(t, r->text, &ids, &out)) != FT_OK)
            s = ft_fail_ctx(s, "%s:%ld", r->file, r->line);
        const int stop = s == FT_OK ? fn(user, r->text, out) : 0;
        free(out);
        if (stop)
            break;
    }
    ft_data_recs_free(&rs);
    ft_tok_ids_free(&ids);
    return api_end(ctx, s);
}

/* ---- evaluation ---- */

void ftune_eval_opts_init(ftune_eval_opts *o) {
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->pack = -1;
    o->generate = 1;
}

void ftune_eval_report_init(ftune_eval_report *r) {
    if (!r)
        return;
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
}

void ftune_eval_report_free(ftune_eval_report *r) {
    if (!r || r->struct_size < offsetof(ftune_eval_report, notes) + sizeof r->notes)
        return;
    free(r->json);
    free(r->table);
    free(r->notes);
    r->json = r->table = r->notes = NULL;
}

/* What one evaluation produced, before it is written out. */
typedef struct {
    ft_eval_result res;
    bool have_res;
    size_t n_ex, n_windows, unknown, n_bad_answers;
    double secs;
    char *notes;
    size_t notes_len;
} eval_run;

/* The sentences of a token-classification input: a Brown directory's split files, else one file read as
 * training read its files. */
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

static ft_status eval_tokens(ft_trained *t, const char *data, const char *split, int bs, eval_run *e) {
    ft_tag_sents sp[3] = {{0}};
    ft_dataset ds[3];
    memset(ds, 0, sizeof ds);
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
        s = ft_arena_init(&arena, ft_model_act_bytes(t->m, bs, t->seq_len) + ((size_t)4 << 20));
        if (s == FT_OK) {
            s = ft_train_evaluate(t->m, &ds[0], bs, t->seq_len, t->pad_id, &arena, &e->res);
            e->have_res = s == FT_OK;
            ft_arena_free(&arena);
        }
    }
    e->secs = ft_now() - t0;
    e->n_ex = ds[0].n;
    e->unknown = unknown[0];
    for (int k = 0; k < 3; k++) {
        ft_dataset_free(&ds[k]);
        ft_tag_sents_free(&sp[k]);
    }
    return s;
}

static ft_status eval_qa(ft_trained *t, const char *data, int bs, eval_run *e) {
    if (!t->tok)
        return ft_fail(FT_ERR_MISSING, "question answering needs the model's tokenizer");
    ft_qa_set set = {0};
    ft_qa_feats f = {0};
    ft_dataset ds = {0};
    FILE *notes = open_memstream(&e->notes, &e->notes_len);
    ft_status s = notes ? ft_qa_read(data, &set, notes) : ft_fail(FT_ERR_NOMEM, "out of memory");
    if (notes && fclose(notes) != 0 && s == FT_OK)
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    const int ml = ft_taskdata_qa_max_length(&t->rec), max_len = ml < t->seq_len ? ml : t->seq_len;
    if (s == FT_OK)
        s = ft_qa_features(t->tok, &set, max_len, (int)t->rec.data_doc_stride, &ds, &f);
    if (s == FT_OK)
        ft_taskdata_qa_post_from(&t->rec, &f.post);
    const double t0 = ft_now();
    if (s == FT_OK) {
        ft_arena arena;
        s = ft_arena_init(&arena, ft_model_act_bytes(t->m, bs, max_len) + ((size_t)4 << 20));
        if (s == FT_OK) {
            s = ft_train_evaluate(t->m, &ds, bs, max_len, t->pad_id, &arena, &e->res);
            e->have_res = s == FT_OK;
            ft_arena_free(&arena);
        }
    }
    if (s == FT_OK && !e->res.has_qa)
        s = ft_fail(FT_ERR_INTERNAL, "no answers were predicted");
    e->secs = ft_now() - t0;
    e->n_ex = set.n;
    e->n_windows = f.n;
    e->n_bad_answers = set.n_bad_answers;
    ft_dataset_free(&ds);
    ft_qa_feats_free(&f);
    ft_qa_set_free(&set);
    return s;
}

/* Every other task: ft_trained_eval_file, with the --predictions file of a seq2seq model. */
static ft_status eval_file(ft_trained *t, const char *data, int bs, const char *preds, eval_run *e) {
    FILE *pf = NULL;
    if (preds && !(pf = fopen(preds, "w")))
        return ft_fail(FT_ERR_IO, "%s: cannot write", preds);
    t->s2s.out = pf;
    const double t0 = ft_now();
    ft_status s = ft_trained_eval_file(t, data, bs, &e->res, &e->n_ex);
    e->have_res = s == FT_OK;
    e->secs = ft_now() - t0;
    t->s2s.out = NULL;
    if (pf && fclose(pf) != 0 && s == FT_OK)
        s = ft_fail(FT_ERR_IO, "%s: write failed", preds);
    return s;
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

static void print_cls_table(FILE *f, const ft_metric_cls *c, char *const *names) {
    fprintf(f, "accuracy     %.4f\n\n", c->accuracy);
    fprintf(f, "%-12s %9s %9s %9s %9s\n", "", "precision", "recall", "f1", "support");
    for (size_t a = 0; a < c->n_classes; a++)
        fprintf(f, "%-12.12s %9.4f %9.4f %9.4f %9lld\n", names[a], c->precision[a], c->recall[a], c->f1[a],
                (long long)c->support[a]);
    fprintf(f, "%-12s %9.4f %9.4f %9.4f\n", "macro", c->precision_macro, c->recall_macro, c->f1_macro);
    fprintf(f, "%-12s %9.4f %9.4f %9.4f\n", "micro", c->precision_micro, c->recall_micro, c->f1_micro);
    fprintf(f, "%-12s %9.4f %9.4f %9.4f\n", "weighted", c->precision_weighted, c->recall_weighted,
            c->f1_weighted);
    fprintf(f, "\nconfusion matrix (rows: true, columns: predicted)\n%-12s", "");
    for (size_t b = 0; b < c->n_classes; b++)
        fprintf(f, " %9.9s", names[b]);
    fprintf(f, "\n");
    for (size_t a = 0; a < c->n_classes; a++) {
        fprintf(f, "%-12.12s", names[a]);
        for (size_t b = 0; b < c->n_classes; b++)
            fprintf(f, " %9lld", (long long)c->confusion[a * c->n_classes + b]);
        fprintf(f, "\n");
    }
}

/* `ftune eval --json`'s object. */
static cJSON *eval_json(const ft_trained *t, const eval_run *e) {
    const ft_eval_result *res = &e->res;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "task", t->task);
    cJSON_AddNumberToObject(j, "n_examples", (double)e->n_ex);
    if (!strcmp(t->task, "token_classification")) {
        cJSON_AddNumberToObject(j, "loss", res->loss);
        ft_metric_tag_json(&res->tag, j);
        cJSON_AddNumberToObject(j, "unknown_tags", (double)e->unknown);
        return j;
    }
    if (!strcmp(t->task, "question_answering")) {
        const ft_qa_score *q = &res->qa;
        cJSON_AddNumberToObject(j, "n_windows", (double)e->n_windows);
        cJSON_AddNumberToObject(j, "loss", res->loss);
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
        cJSON_AddNumberToObject(j, "n_bad_answers", (double)e->n_bad_answers);
        return j;
    }
    const ft_task tk = ft_trained_task(t);
    cJSON_AddNumberToObject(j, "loss", res->loss);
    if (tk == FT_TASK_CAUSAL_LM || tk == FT_TASK_MASKED_LM || tk == FT_TASK_SEQ2SEQ) {
        cJSON_AddNumberToObject(j, "perplexity", res->perplexity);
        cJSON_AddNumberToObject(j, "n_tokens", (double)res->count);
        if (res->has_gen) {
            const ft_s2s_score *g = &res->gen;
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
        add_cls_json(j, &res->cls, t->label_names);
    } else {
        cJSON_AddNumberToObject(j, "mse", res->reg.mse);
        cJSON_AddNumberToObject(j, "mae", res->reg.mae);
        if (isnan(res->reg.r2))
            cJSON_AddNullToObject(j, "r2");
        else
            cJSON_AddNumberToObject(j, "r2", res->reg.r2);
    }
    return j;
}

/* `ftune eval`'s table after its first line. */
static void eval_table(FILE *f, const ft_trained *t, const eval_run *e) {
    const ft_eval_result *res = &e->res;
    fprintf(f, "loss         %.4f\n", res->loss);
    if (!strcmp(t->task, "token_classification")) {
        ft_metric_tag_print(&res->tag, f);
        return;
    }
    if (!strcmp(t->task, "question_answering")) {
        const ft_qa_score *q = &res->qa;
        fprintf(f, "exact_match  %.2f\nf1           %.2f\n", q->exact_match, q->f1);
        if (q->n_has_ans && q->n_no_ans)
            fprintf(f, "HasAns       %zu: exact %.2f f1 %.2f\nNoAns        %zu: exact %.2f\n", q->n_has_ans,
                    q->has_ans_em, q->has_ans_f1, q->n_no_ans, q->no_ans_em);
        return;
    }
    const ft_task tk = ft_trained_task(t);
    if (tk == FT_TASK_CAUSAL_LM || tk == FT_TASK_MASKED_LM || tk == FT_TASK_SEQ2SEQ)
        fprintf(f, "perplexity   %.4f\ntokens       %lld%s\n", res->perplexity, (long long)res->count,
                tk == FT_TASK_MASKED_LM ? " (masked)"
                : tk == FT_TASK_SEQ2SEQ ? " (target)"
                                        : "");
    else if (tk == FT_TASK_SEQ_CLS)
        print_cls_table(f, &res->cls, t->label_names);
    else
        fprintf(f, "mse          %.6g\nmae          %.6g\nr2           %.6g\n", res->reg.mse, res->reg.mae,
                res->reg.r2);
    if (res->has_gen)
        fprintf(f,
                "generated    %zu\nbleu         %.2f\nrouge1       %.4f\nrouge2       %.4f\nrougeL       "
                "%.4f\nrougeLsum    %.4f\nexact_match  %.2f\nf1           %.2f\n",
                res->gen.n, res->gen.bleu, res->gen.rouge1, res->gen.rouge2, res->gen.rougeL,
                res->gen.rougeLsum, res->gen.exact_match, res->gen.f1);
}

/* The report's texts, each malloc'd. */
static ft_status report_texts(const ft_trained *t, const eval_run *e, ftune_eval_report *r) {
    char *json = NULL;
    cJSON *j = eval_json(t, e);
    if (j) {
        json = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
    }
    char *table = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&table, &len);
    if (f) {
        eval_table(f, t, e);
        if (fclose(f) != 0) {
            free(table);
            table = NULL;
        }
    }
    r->json = json ? ft_strdup(json) : NULL; /* cJSON's allocator may not be ftune_free's */
    cJSON_free(json);
    r->table = table;
    if (!r->json || !r->table) {
        free(r->json);
        free(r->table);
        r->json = r->table = NULL;
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    return FT_OK;
}

/* The fields of the model a call's options change, to put back after it. */
typedef struct {
    int max_len, seq_len, max_new, beams;
    bool pack, generate;
} saved_opts;

static ft_status opts_apply(ft_trained *t, const ftune_eval_opts *o, saved_opts *sv) {
    if (o->batch_size < 0 || o->seq_len < 0 || o->seq_len == 1 || o->max_new_tokens < 0 || o->num_beams < 0)
        return ft_fail(FT_ERR_ARG,
                       "ftune_eval_opts: batch_size %d (>= 0), seq_len %d (0 or >= 2), max_new_tokens %d, "
                       "num_beams %d (>= 0)",
                       o->batch_size, o->seq_len, o->max_new_tokens, o->num_beams);
    if (o->predictions && strcmp(t->task, "seq2seq") != 0)
        return ft_fail(FT_ERR_ARG, "predictions is for a seq2seq model (this one's task is %s)", t->task);
    *sv = (saved_opts){t->data.max_len,      t->seq_len,   t->s2s.gen.max_new_tokens,
                       t->s2s.gen.num_beams, t->data.pack, t->s2s_generate};
    if (o->seq_len > 0) { /* seq2seq: the source length; the arena's T still covers the longer side */
        t->data.max_len = o->seq_len;
        t->seq_len = o->seq_len > t->data.max_target_len ? o->seq_len : t->data.max_target_len;
    }
    if (o->max_new_tokens > 0)
        t->s2s.gen.max_new_tokens = o->max_new_tokens;
    if (o->num_beams > 0)
        t->s2s.gen.num_beams = o->num_beams;
    if (!o->generate)
        t->s2s_generate = false;
    if (o->pack >= 0)
        t->data.pack = o->pack != 0;
    return FT_OK;
}

static void opts_restore(ft_trained *t, const saved_opts *sv) {
    t->data.max_len = sv->max_len;
    t->seq_len = sv->seq_len;
    t->s2s.gen.max_new_tokens = sv->max_new;
    t->s2s.gen.num_beams = sv->beams;
    t->data.pack = sv->pack;
    t->s2s_generate = sv->generate;
}

/* One evaluation of m's current model with the options u; the results in e (free its res and notes). */
static ft_status evaluate(ftune_model *m, const char *data, const ftune_eval_opts *u, eval_run *e) {
    ft_trained *t = api_model_trained(m);
    saved_opts sv = {0};
    FT_TRY(opts_apply(t, u, &sv));
    const int bs = u->batch_size ? u->batch_size : 16;
    ft_status s;
    if (!strcmp(t->task, "token_classification"))
        s = eval_tokens(t, data, u->split ? u->split : "test", bs, e);
    else if (!strcmp(t->task, "question_answering"))
        s = eval_qa(t, data, bs, e);
    else
        s = eval_file(t, data, bs, u->predictions, e);
    opts_restore(t, &sv);
    return s;
}

static void eval_run_free(eval_run *e) {
    if (e->have_res)
        ft_eval_result_free(&e->res);
    free(e->notes);
}

ftune_status ftune_model_evaluate_with(ftune_model *m, const char *data_path, const ftune_eval_opts *o,
                                       ftune_metric **metrics, size_t *n, ftune_eval_report *report) {
    if (!m)
        return FT_ERR_ARG;
    ftune_ctx *ctx = api_model_ctx(m);
    api_begin(ctx);
    if (metrics)
        *metrics = NULL;
    if (n)
        *n = 0;
    ftune_eval_report r;
    ftune_eval_report_init(&r);
    if (report && report->struct_size < offsetof(ftune_eval_report, notes) + sizeof report->notes)
        return api_end(ctx, ft_fail(FT_ERR_ARG,
                                    "ftune_eval_report.struct_size %zu: set it with "
                                    "ftune_eval_report_init",
                                    report->struct_size));
    const size_t keep = report ? report->struct_size : 0;
    if (report) { /* the library's fields, as many as the caller's struct has */
        memcpy(report, &r, keep < sizeof r ? keep : sizeof r);
        report->struct_size = keep;
    }
    if (!data_path)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_model_evaluate_with: no data file (NULL)"));
    ftune_eval_opts u;
    ftune_eval_opts_init(&u);
    ft_status s =
        api_opts(&u, sizeof u, o, offsetof(ftune_eval_opts, split) + sizeof u.split, "ftune_eval_opts");
    if (s != FT_OK)
        return api_end(ctx, s);
    const ft_trained *t = api_model_trained(m);
    eval_run e = {0};
    s = evaluate(m, data_path, &u, &e);
    snprintf(r.task, sizeof r.task, "%s", t->task);
    r.n_examples = e.n_ex;
    r.n_windows = e.n_windows;
    r.unknown_tags = e.unknown;
    r.seconds = e.secs;
    r.notes = ft_strdup(e.notes ? e.notes : ""); /* also after a failure: what was read before it */
    if (!r.notes && s == FT_OK)
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK && report)
        s = report_texts(t, &e, &r);
    if (s == FT_OK && metrics && n)
        s = api_metrics_out(&e.res, metrics, n);
    if (report) {
        memcpy(report, &r, keep < sizeof r ? keep : sizeof r);
        report->struct_size = keep;
    } else
        ftune_eval_report_free(&r);
    eval_run_free(&e);
    return api_end(ctx, s);
}

ftune_status ftune_model_evaluate(ftune_model *m, const char *data_path, int batch_size,
                                  ftune_metric **metrics, size_t *n, size_t *n_examples) {
    if (!m)
        return FT_ERR_ARG;
    ftune_ctx *ctx = api_model_ctx(m);
    api_begin(ctx);
    if (!data_path || !metrics || !n)
        return api_end(ctx,
                       ft_fail(FT_ERR_ARG, "ftune_model_evaluate: data_path, metrics and n are required"));
    *metrics = NULL;
    *n = 0;
    if (batch_size < 0)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "batch_size %d is negative", batch_size));
    ftune_eval_opts u;
    ftune_eval_opts_init(&u);
    u.batch_size = batch_size;
    eval_run e = {0};
    ft_status s = evaluate(m, data_path, &u, &e);
    if (s == FT_OK)
        s = api_metrics_out(&e.res, metrics, n);
    if (s == FT_OK && n_examples)
        *n_examples = e.n_ex;
    eval_run_free(&e);
    return api_end(ctx, s);
}
