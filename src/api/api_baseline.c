/* api/api_baseline: `ftune baseline` as a library call (include/ftune.h, FTUNE_HAS_BASELINE): on a recipe's
 * own train/validation/test split, a bag-of-words multinomial naive Bayes (eval/naive_bayes.h) for task
 * classification, each word's most frequent training tag for token_classification; the JSON, the text and
 * the numbers the command prints. Prefix ftune_baseline. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/api_ctx.h"
#include "api/api_dataset.h"
#include "data/tagging.h"
#include "eval/metrics.h"
#include "eval/naive_bayes.h"
#include "eval/tagging.h"
#include "train/runcfg.h"
#include "train/task_data.h"

void ftune_baseline_opts_init(ftune_baseline_opts *o) {
    if (o)
        *o = (ftune_baseline_opts){.struct_size = sizeof *o, .alpha = 1.0};
}

/* What a baseline made: its JSON object and its text (after the data summary). */
typedef struct {
    cJSON *json;
    FILE *text;
} result;

/* ---- naive Bayes on a classification recipe ---- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted distinct labels of the training rows. */
static ft_status class_names(const ft_data_recs *tr, char ***names, size_t *n) {
    *names = NULL;
    *n = 0;
    char **v = malloc((tr->n ? tr->n : 1) * sizeof *v);
    if (!v)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < tr->n; i++) {
        if (!tr->r[i].label) {
            free(v);
            return ft_fail(FT_ERR_FORMAT, "%s:%ld: missing label field", tr->r[i].file, tr->r[i].line);
        }
        v[k++] = tr->r[i].label;
    }
    qsort(v, k, sizeof *v, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || strcmp(v[u - 1], v[i]))
            v[u++] = v[i];
    *names = v;
    *n = u;
    return FT_OK;
}

static ft_status class_of(const ft_data_rec *r, char *const *names, size_t n, size_t *c) {
    if (!r->text)
        return ft_fail(FT_ERR_FORMAT, "%s:%ld: missing text field", r->file, r->line);
    if (!r->label)
        return ft_fail(FT_ERR_FORMAT, "%s:%ld: missing label field", r->file, r->line);
    char *const *hit = bsearch(&r->label, names, n, sizeof *names, cmp_str);
    if (!hit)
        return ft_fail(FT_ERR_FORMAT, "%s:%ld: label '%s' does not occur in the training split", r->file,
                       r->line, r->label);
    *c = (size_t)(hit - names);
    return FT_OK;
}

static ft_status score_split(const ft_nb *nb, const ft_data_recs *rs, char *const *names, size_t n_classes,
                             ft_metric_cls *m) {
    int *yt = malloc((rs->n ? rs->n : 1) * sizeof *yt), *yp = malloc((rs->n ? rs->n : 1) * sizeof *yp);
    ft_status s = yt && yp ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < rs->n && s == FT_OK; i++) {
        const ft_data_rec *r = &rs->r[i];
        size_t c = 0, p = 0;
        s = class_of(r, names, n_classes, &c);
        if (s == FT_OK && (s = ft_nb_predict(nb, r->text, strlen(r->text), NULL, &p)) != FT_OK)
            s = ft_fail_ctx(s, "%s:%ld: ", r->file, r->line);
        yt[i] = (int)c;
        yp[i] = (int)p;
    }
    if (s == FT_OK)
        s = ft_metric_classification_ids(yt, yp, rs->n, n_classes, m);
    free(yt);
    free(yp);
    return s;
}

static ft_status naive_bayes(const char *recipe, const ft_recipe *r, double alpha, FILE *summary,
                             result *out) {
    ft_data_recs rs[3] = {{0}};
    char **names = NULL;
    size_t n_classes = 0;
    ft_nb *nb = NULL;
    ft_metric_cls m[2];
    memset(m, 0, sizeof m);
    ft_status s = FT_OK;
    if (!r->data_train)
        s = ft_fail(FT_ERR_CONFIG, "%s: 'data.train' is required", recipe);
    if (s == FT_OK) {
        ft_data_cfg c;
        ft_runcfg_data(r, &c);
        s = ft_data_splits(&c, FT_TASK_SEQ_CLS, rs, summary);
    }
    if (s == FT_OK)
        s = class_names(&rs[0], &names, &n_classes);
    if (s == FT_OK && n_classes < 2)
        s = ft_fail(FT_ERR_CONFIG, "%s: the training split has %zu label(s); classification needs two",
                    r->data_train, n_classes);
    if (s == FT_OK)
        s = ft_nb_new(n_classes, alpha, &nb);
    for (size_t i = 0; i < rs[0].n && s == FT_OK; i++) {
        const ft_data_rec *x = &rs[0].r[i];
        size_t c = 0;
        s = class_of(x, names, n_classes, &c);
        if (s == FT_OK && (s = ft_nb_add(nb, x->text, strlen(x->text), c)) != FT_OK)
            s = ft_fail_ctx(s, "%s:%ld: ", x->file, x->line);
    }
    for (int k = 0; k < 2 && s == FT_OK; k++)
        if (rs[k + 1].n > 0)
            s = score_split(nb, &rs[k + 1], names, n_classes, &m[k]);
    static const char *split[2] = {"validation", "test"};
    if (s == FT_OK) {
        cJSON *j = out->json;
        cJSON *t = cJSON_AddObjectToObject(j, "train");
        cJSON_AddNumberToObject(t, "documents", (double)rs[0].n);
        cJSON_AddNumberToObject(t, "vocabulary", (double)ft_nb_vocab_size(nb));
        cJSON_AddNumberToObject(t, "alpha", alpha);
        cJSON *cl = cJSON_AddObjectToObject(t, "classes");
        for (size_t c = 0; c < n_classes; c++)
            cJSON_AddNumberToObject(cl, names[c], (double)ft_nb_n_docs(nb, c));
        for (int k = 0; k < 2; k++)
            if (rs[k + 1].n > 0) {
                cJSON *o = cJSON_AddObjectToObject(j, split[k]);
                cJSON_AddNumberToObject(o, "n", (double)rs[k + 1].n);
                ft_metric_cls_json(&m[k], o);
            }
        FILE *f = out->text;
        fprintf(f, "naive Bayes (bag of words, alpha %g): %zu training documents, %zu words;", alpha, rs[0].n,
                ft_nb_vocab_size(nb));
        for (size_t c = 0; c < n_classes; c++)
            fprintf(f, " %s %zu", names[c], ft_nb_n_docs(nb, c));
        fprintf(f, "\n");
        for (int k = 0; k < 2; k++)
            if (rs[k + 1].n > 0)
                fprintf(f, "baseline %s: %zu examples, accuracy %.4f, f1_macro %.4f\n", split[k], rs[k + 1].n,
                        m[k].accuracy, m[k].f1_macro);
    }
    for (int k = 0; k < 2; k++)
        ft_metric_cls_free(&m[k]);
    ft_nb_free(nb);
    free(names);
    for (int k = 0; k < 3; k++)
        ft_data_recs_free(&rs[k]);
    return s;
}

/* ---- the most frequent tag of each word, on a token-classification recipe ---- */

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

/* The lexicon: one entry per distinct word with its most frequent tag (ties: the first in tag order);
 * overall: the most frequent tag, for words never seen. */
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

static ft_status tag_score(const ft_tag_sents *sp, const word_tag *lex, size_t n_lex, int32_t overall,
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

static ft_status most_frequent_tag(const ft_recipe *r, result *out) {
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
            s = tag_score(&sp[k + 1], lex, n_lex, overall, names, nn, &m[k], &unknown[k]);
    static const char *split[2] = {"validation", "test"};
    if (s == FT_OK) {
        cJSON *t = cJSON_AddObjectToObject(out->json, "train");
        cJSON_AddNumberToObject(t, "sentences", (double)sp[0].n);
        cJSON_AddNumberToObject(t, "words", (double)n_lex);
        cJSON_AddNumberToObject(t, "tags", nn);
        cJSON_AddStringToObject(t, "most_frequent_tag", names[overall]);
        fprintf(out->text,
                "most-frequent-tag baseline: %zu training sentences, %zu distinct words, %d tags (unknown "
                "words: '%s')\n",
                sp[0].n, n_lex, nn, names[overall]);
        for (int k = 0; k < 2; k++)
            if (sp[k + 1].n) {
                cJSON *o = cJSON_AddObjectToObject(out->json, split[k]);
                ft_metric_tag_json(&m[k], o);
                cJSON_AddNumberToObject(o, "unknown_tags", (double)unknown[k]);
                fprintf(out->text, "%s (%zu sentences):\n", split[k], sp[k + 1].n);
                ft_metric_tag_print(&m[k], out->text);
                if (unknown[k])
                    fprintf(out->text, "(%zu word(s) with a tag not seen in training: not scored)\n",
                            unknown[k]);
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

/* ---- the call ---- */

/* The numbers of a JSON object, depth first, as (dotted path, value) pairs in one allocation: the array of
 * pairs, then the names. Strings and arrays are skipped. */
static void count_numbers(const cJSON *j, size_t prefix, size_t *n, size_t *chars) {
    for (const cJSON *c = j->child; c; c = c->next) {
        const size_t len = prefix + strlen(c->string) + 1;
        if (cJSON_IsNumber(c)) {
            (*n)++;
            *chars += len;
        } else if (cJSON_IsObject(c))
            count_numbers(c, len, n, chars);
    }
}

static void fill_numbers(const cJSON *j, char *path, size_t plen, ftune_metric *m, size_t *i, char **names) {
    for (const cJSON *c = j->child; c; c = c->next) {
        const size_t len = strlen(c->string);
        char *p = path + plen;
        if (plen)
            *p++ = '.';
        memcpy(p, c->string, len + 1);
        const size_t full = (size_t)(p - path) + len;
        if (cJSON_IsNumber(c)) {
            memcpy(*names, path, full + 1);
            m[(*i)++] = (ftune_metric){*names, c->valuedouble};
            *names += full + 1;
        } else if (cJSON_IsObject(c))
            fill_numbers(c, path, full, m, i, names);
    }
}

static ft_status metrics_of(const cJSON *j, ftune_metric **out, size_t *n_out) {
    size_t n = 0, chars = 0;
    count_numbers(j, 0, &n, &chars);
    ftune_metric *m = malloc((n ? n : 1) * sizeof *m + chars + 1);
    char *path = malloc(chars + 1);
    if (!m || !path) {
        free(m);
        free(path);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    char *names = (char *)(m + (n ? n : 1));
    size_t i = 0;
    path[0] = '\0';
    fill_numbers(j, path, 0, m, &i, &names);
    free(path);
    *out = m;
    *n_out = i;
    return FT_OK;
}

ftune_status ftune_baseline(ftune_ctx *ctx, const char *recipe_path, const char *const *overrides,
                            size_t n_overrides, const ftune_baseline_opts *o, ftune_metric **metrics,
                            size_t *n_metrics, char **json, char **report) {
    if (!ctx)
        return FT_ERR_ARG;
    api_begin(ctx);
    if (metrics)
        *metrics = NULL;
    if (n_metrics)
        *n_metrics = 0;
    if (json)
        *json = NULL;
    if (report)
        *report = NULL;
    if (!recipe_path)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_baseline: no recipe (NULL)"));
    ftune_baseline_opts u;
    ftune_baseline_opts_init(&u);
    ft_status s = api_opts(&u, sizeof u, o, sizeof u, "ftune_baseline_opts"); /* alpha: ft_nb_new checks it */
    if (s != FT_OK)
        return api_end(ctx, s);
    ft_recipe r;
    if ((s = ft_recipe_init(&r)) != FT_OK)
        return api_end(ctx, s);
    char *summary = NULL, *text = NULL;
    size_t summary_len = 0, text_len = 0;
    FILE *sf = NULL;
    result res = {cJSON_CreateObject(), open_memstream(&text, &text_len)};
    if (!res.json || !res.text || !(sf = open_memstream(&summary, &summary_len)))
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK)
        s = ft_recipe_load_yaml(&r, recipe_path);
    for (size_t i = 0; i < n_overrides && s == FT_OK; i++)
        s = overrides && overrides[i] ? ft_recipe_override(&r, overrides[i])
                                      : ft_fail(FT_ERR_ARG, "ftune_baseline: override %zu is NULL", i);
    if (s == FT_OK && ft_runcfg_task(r.task) == FT_TASK_TOKEN_CLS)
        s = most_frequent_tag(&r, &res);
    else if (s == FT_OK && ft_runcfg_task(r.task) != FT_TASK_SEQ_CLS)
        s = ft_fail(FT_ERR_CONFIG, "%s: task '%s': the naive-Bayes baseline is for classification recipes",
                    recipe_path, r.task);
    else if (s == FT_OK)
        s = naive_bayes(recipe_path, &r, u.alpha, sf, &res);
    if (sf && fclose(sf) != 0 && s == FT_OK)
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (res.text && fclose(res.text) != 0 && s == FT_OK)
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    api_log_lines(summary, u.on_log, u.user); /* what was made before a failure too, as the command prints */
    free(summary);
    if (s == FT_OK && json && !(*json = cJSON_PrintUnformatted(res.json)))
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK && metrics && n_metrics)
        s = metrics_of(res.json, metrics, n_metrics);
    if (s == FT_OK && report) {
        *report = text;
        text = NULL;
    }
    if (s != FT_OK && json) {
        free(*json);
        *json = NULL;
    }
    free(text);
    cJSON_Delete(res.json);
    ft_recipe_free(&r);
    return api_end(ctx, s);
}
