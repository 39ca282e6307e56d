/* ftune baseline: a bag-of-words multinomial naive-Bayes classifier trained on exactly the training
 * split `ftune train RECIPE` uses, scored on its validation and test splits (eval/naive_bayes.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/tokcls.h"
#include "cli/trained.h"
#include "data/dataset.h"
#include "eval/metrics.h"
#include "eval/naive_bayes.h"

static const char BASELINE_USAGE[] =
    "usage: ftune baseline --recipe R.yaml [key=value ...] [--alpha X] [--json]\n"
    "\n"
    "Trains a multinomial naive-Bayes classifier on bags of words (scikit-learn's CountVectorizer() +\n"
    "MultinomialNB(alpha): lower-cased words of two or more letters/digits/_, additive smoothing) on the\n"
    "training split of a classification recipe -- the same rows, cleaning, split ratios, stratification and\n"
    "seed as `ftune train R.yaml` -- and prints accuracy and F1 on its validation and test splits: the\n"
    "baseline a fine-tuned model should beat. key=value overrides apply as for `ftune train`.\n"
    "A token_classification recipe gets the most-frequent-tag baseline instead: each word form's most "
    "frequent\n"
    "tag in the training split (ties: the first in tag order), the training split's most frequent tag for\n"
    "words never seen, scored like `ftune eval` (word accuracy; entity P/R/F1 for BIO tags).\n"
    "  --alpha X   smoothing (default 1)\n"
    "  --json      one JSON object: {\"train\": {...}, \"validation\": {metrics}, \"test\": {metrics}}\n"
    "See docs/evaluation.md (\"Baseline\").\n";

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

static ft_status run_baseline(const char *recipe, const char **kv, int nkv, double alpha, bool json) {
    ft_recipe r;
    ft_data_recs rs[3] = {{0}};
    char **names = NULL;
    size_t n_classes = 0;
    ft_nb *nb = NULL;
    ft_metric_cls m[2];
    memset(m, 0, sizeof m);
    cJSON *j = NULL;
    ft_status s = ft_recipe_init(&r);
    if (s == FT_OK)
        s = ft_recipe_load_yaml(&r, recipe);
    for (int i = 0; i < nkv && s == FT_OK; i++)
        s = ft_recipe_override(&r, kv[i]);
    if (s == FT_OK && ft_runcfg_task(r.task) == FT_TASK_TOKEN_CLS) { /* most frequent tag per word */
        s = ft_cli_baseline_tokens(&r, json);
        ft_recipe_free(&r);
        return s;
    }
    if (s == FT_OK && ft_runcfg_task(r.task) != FT_TASK_SEQ_CLS)
        s = ft_fail(FT_ERR_CONFIG, "%s: task '%s': the naive-Bayes baseline is for classification recipes",
                    recipe, r.task);
    if (s == FT_OK && !r.data_train)
        s = ft_fail(FT_ERR_CONFIG, "%s: 'data.train' is required", recipe);
    if (s == FT_OK) {
        ft_data_cfg c;
        ft_runcfg_data(&r, &c);
        s = ft_data_splits(&c, FT_TASK_SEQ_CLS, rs, json ? NULL : stdout);
    }
    if (s == FT_OK)
        s = class_names(&rs[0], &names, &n_classes);
    if (s == FT_OK && n_classes < 2)
        s = ft_fail(FT_ERR_CONFIG, "%s: the training split has %zu label(s); classification needs two",
                    r.data_train, n_classes);
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
    if (s == FT_OK && json) {
        j = cJSON_CreateObject();
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
        char *txt = cJSON_PrintUnformatted(j);
        if (txt)
            printf("%s\n", txt);
        else
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        cJSON_free(txt);
    } else if (s == FT_OK) {
        printf("naive Bayes (bag of words, alpha %g): %zu training documents, %zu words;", alpha, rs[0].n,
               ft_nb_vocab_size(nb));
        for (size_t c = 0; c < n_classes; c++)
            printf(" %s %zu", names[c], ft_nb_n_docs(nb, c));
        printf("\n");
        for (int k = 0; k < 2; k++)
            if (rs[k + 1].n > 0)
                printf("baseline %s: %zu examples, accuracy %.4f, f1_macro %.4f\n", split[k], rs[k + 1].n,
                       m[k].accuracy, m[k].f1_macro);
    }
    cJSON_Delete(j);
    for (int k = 0; k < 2; k++)
        ft_metric_cls_free(&m[k]);
    ft_nb_free(nb);
    free(names);
    for (int k = 0; k < 3; k++)
        ft_data_recs_free(&rs[k]);
    ft_recipe_free(&r);
    return s;
}

int ft_cmd_baseline(int argc, char **argv) {
    const char *recipe = NULL, *kv[64];
    int nkv = 0;
    double alpha = 1.0;
    bool json = false, help;
    ft_opt opts[] = {
        {"recipe", FT_OPT_STR, &recipe}, {"alpha", FT_OPT_FLOAT, &alpha}, {"json", FT_OPT_FLAG, &json}};
    int rc = ft_cli_parse("baseline", argc, argv, opts, sizeof opts / sizeof *opts, BASELINE_USAGE, kv, 64,
                          &nkv, &help);
    if (rc || help)
        return rc;
    if (!recipe) {
        fprintf(stderr, "ftune baseline: --recipe is required\n%s", BASELINE_USAGE);
        return 2;
    }
    ft_status s = run_baseline(recipe, kv, nkv, alpha, json);
    return s == FT_OK ? 0 : ft_cli_fail("baseline", s);
}
