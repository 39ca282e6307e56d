/* Token classification in the CLI: the most-frequent-tag baseline of `ftune baseline`, and the metrics table
 * `ftune train` prints (ftune eval and ftune predict are on the public API: api/api_eval.c, cmd_predict.c).
 */
#include "cli/tokcls.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "train/trainer.h"

void ft_cli_print_tag_metrics(const ft_metric_tag *m, FILE *f) {
    ft_metric_tag_print(m, f);
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
                ft_metric_tag_json(&m[k], o);
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
