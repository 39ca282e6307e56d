#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "train/run_report.h"

#define MAX_SERIES 16

typedef struct {
    char tag[64];
    double *x, *y;
    size_t n, cap;
} series;

static series *find_series(series *s, size_t *ns, const char *tag) {
    for (size_t i = 0; i < *ns; i++)
        if (!strcmp(s[i].tag, tag))
            return &s[i];
    if (*ns == MAX_SERIES)
        return NULL;
    series *n = &s[(*ns)++];
    memset(n, 0, sizeof *n);
    snprintf(n->tag, sizeof n->tag, "%s", tag);
    return n;
}

static bool push(series *s, double x, double y) {
    while (s->n && s->x[s->n - 1] >= x) /* a resumed run re-logs steps after its checkpoint: keep the newest */
        s->n--;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        double *nx = realloc(s->x, cap * sizeof *nx);
        if (!nx)
            return false;
        s->x = nx;
        double *ny = realloc(s->y, cap * sizeof *ny);
        if (!ny)
            return false;
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n++] = y;
    return true;
}

/* Read every numeric tag of metrics.jsonl into series (missing file: no series). */
static ft_status read_metrics(const char *path, series *s, size_t *ns) {
    *ns = 0;
    if (!path || !ft_file_exists(path))
        return FT_OK;
    char *text;
    size_t len;
    FT_TRY(ft_read_file(path, &text, &len));
    ft_status st = FT_OK;
    for (char *line = text; st == FT_OK && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        cJSON *j = cJSON_Parse(line);
        const cJSON *step = j ? cJSON_GetObjectItemCaseSensitive(j, "step") : NULL;
        if (cJSON_IsNumber(step))
            for (const cJSON *it = j->child; it; it = it->next) {
                if (!it->string || !strcmp(it->string, "step") || !strcmp(it->string, "time"))
                    continue;
                if (!cJSON_IsNumber(it) && !cJSON_IsNull(it))
                    continue;
                series *se = find_series(s, ns, it->string);
                if (se && !push(se, step->valuedouble, cJSON_IsNumber(it) ? it->valuedouble : NAN))
                    st = ft_fail(FT_ERR_NOMEM, "out of memory");
            }
        cJSON_Delete(j);
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return st;
}

ft_status ft_run_report_write(const char *dir, const char *metrics_path, const ft_recipe *r, const ft_html_kv *extra,
                              size_t nextra, const ft_metric_cls *cls, const char *const *class_names) {
    series s[MAX_SERIES];
    size_t ns = 0;
    ft_status st = read_metrics(metrics_path, s, &ns);
    size_t nkeys;
    const ft_recipe_key *keys = ft_recipe_keys(&nkeys);
    ft_html_kv *kv = calloc(nextra + nkeys, sizeof *kv);
    char (*num)[64] = calloc(nkeys, sizeof *num);
    char **ids = NULL;
    if (st == FT_OK && (!kv || !num))
        st = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (st == FT_OK) {
        size_t n = 0;
        for (size_t i = 0; i < nextra; i++)
            kv[n++] = extra[i];
        for (size_t i = 0; i < nkeys; i++) {
            const char *v = ft_recipe_get(r, &keys[i], num[i], sizeof num[i]);
            kv[n].key = keys[i].key;
            kv[n++].value = v ? v : "(unset)";
        }
        /* charts: loss (train and eval), learning rate, other eval metrics */
        ft_html_series loss[2], lr[1], other[MAX_SERIES];
        size_t nl = 0, nlr = 0, no = 0;
        for (size_t i = 0; i < ns; i++) {
            ft_html_series h = {s[i].tag, s[i].x, s[i].y, s[i].n};
            if (!strcmp(s[i].tag, "train/loss") || !strcmp(s[i].tag, "eval/loss"))
                loss[nl++] = h;
            else if (!strcmp(s[i].tag, "train/lr"))
                lr[nlr++] = h;
            else if (!strncmp(s[i].tag, "eval/", 5) && strcmp(s[i].tag, "eval/perplexity"))
                other[no++] = h;
        }
        ft_html_chart charts[3];
        size_t nc = 0;
        if (nl)
            charts[nc++] = (ft_html_chart){"Loss", "step", "loss", loss, nl, false};
        if (nlr)
            charts[nc++] = (ft_html_chart){"Learning rate", "step", "lr", lr, nlr, false};
        if (no)
            charts[nc++] = (ft_html_chart){"Validation metrics", "step", "value", other, no, false};
        ft_html_confusion conf;
        if (cls && cls->n_classes > 0) {
            if (!class_names) {
                ids = calloc(cls->n_classes, sizeof *ids);
                for (size_t i = 0; ids && i < cls->n_classes; i++) {
                    char b[32];
                    snprintf(b, sizeof b, "%zu", i);
                    ids[i] = ft_strdup(b);
                }
            }
            conf = (ft_html_confusion){"Confusion matrix (validation; rows = true, columns = predicted)",
                                       cls->n_classes, class_names ? class_names : (const char *const *)ids,
                                       cls->confusion};
        }
        /* summary first, then the curves and the confusion matrix, the full recipe last */
        ft_html_report rep = {"ftune training report", kv, nextra, charts, nc,
                              cls && cls->n_classes > 0 && (class_names || ids) ? &conf : NULL,
                              "Recipe (resolved)", kv + nextra, n - nextra};
        char path[4096];
        st = ft_html_write(ft_path_join(path, sizeof path, dir, "report.html"), &rep);
    }
    for (size_t i = 0; ids && cls && i < cls->n_classes; i++)
        free(ids[i]);
    free(ids);
    free(kv);
    free(num);
    for (size_t i = 0; i < ns; i++) {
        free(s[i].x);
        free(s[i].y);
    }
    return st;
}
