/* api/api_score: `ftune score` as a library call (include/ftune.h, FTUNE_HAS_SCORE): predictions scored
 * against references read from files (ft_score_read) or given in memory, through eval/score.c's
 * ft_score_compute, so the numbers, the JSON and the report are the command's. Prefix ftune_score_. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_ctx.h"
#include "eval/metrics.h"

void ftune_score_opts_init(ftune_score_opts *o) {
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

const char *const *ftune_score_metrics(void) {
    return ft_score_metrics;
}

/* The caller's options, reading only the fields its struct has (struct_size). */
static ft_status read_opts(const ftune_score_opts *o, ft_score_opts *out) {
    ftune_score_opts u;
    ftune_score_opts_init(&u);
    FT_TRY(api_opts(&u, sizeof u, o, offsetof(ftune_score_opts, stem) + sizeof u.stem, "ftune_score_opts"));
    memset(out, 0, sizeof *out);
    ft_bleu_opts_default(&out->bleu);
    out->stem = u.stem != 0;
    return FT_OK;
}

/* The numbers of the JSON object as name/value pairs in one allocation: the array, then the names. An array
 * value (BLEU's precisions) becomes precision_1.., a null NaN. */
static ft_status metrics_of_json(const cJSON *j, ftune_metric **out, size_t *n_out) {
    size_t n = 0, chars = 0;
    for (const cJSON *c = j->child; c; c = c->next) {
        if (cJSON_IsArray(c)) {
            int k = cJSON_GetArraySize(c);
            n += (size_t)k;
            chars += (size_t)k * 24;
        } else {
            n++;
            chars += strlen(c->string) + 1;
        }
    }
    ftune_metric *m = malloc((n ? n : 1) * sizeof *m + chars + 1);
    if (!m)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    char *names = (char *)(m + (n ? n : 1)), *end = names + chars + 1;
    size_t i = 0;
    for (const cJSON *c = j->child; c; c = c->next) {
        if (cJSON_IsArray(c)) {
            int k = 0;
            for (const cJSON *e = c->child; e; e = e->next, k++) {
                int w = snprintf(names, (size_t)(end - names), "precision_%d", k + 1);
                m[i++] = (ftune_metric){names, cJSON_IsNumber(e) ? e->valuedouble : NAN};
                names += w + 1;
            }
        } else {
            size_t l = strlen(c->string);
            memcpy(names, c->string, l + 1);
            m[i++] = (ftune_metric){names, cJSON_IsNumber(c) ? c->valuedouble : NAN};
            names += l + 1;
        }
    }
    *out = m;
    *n_out = n;
    return FT_OK;
}

static ft_status score(const char *metric, const ft_score_data *d, const ftune_score_opts *opts,
                       ftune_metric **metrics, size_t *n, char **json, char **report) {
    ft_score_opts o;
    FT_TRY(read_opts(opts, &o));
    cJSON *j = NULL;
    char *text = NULL, *js = NULL;
    ftune_metric *m = NULL;
    size_t nm = 0;
    ft_status s = ft_score_compute(metric, d, &o, &j, &text);
    if (s == FT_OK && json && !(js = cJSON_PrintUnformatted(j)))
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK && metrics)
        s = metrics_of_json(j, &m, &nm);
    if (s == FT_OK && json) { /* cJSON's allocator may not be ours: the caller frees with ftune_free */
        char *c = strdup(js);
        if (!c)
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        cJSON_free(js);
        js = c;
    }
    cJSON_Delete(j);
    if (s != FT_OK) {
        free(text);
        free(js);
        free(m);
        return s;
    }
    if (metrics)
        *metrics = m, *n = nm;
    if (json)
        *json = js;
    if (report)
        *report = text;
    else
        free(text);
    return FT_OK;
}

static void clear_out(ftune_metric **metrics, size_t *n, char **json, char **report) {
    if (metrics)
        *metrics = NULL;
    if (n)
        *n = 0;
    if (json)
        *json = NULL;
    if (report)
        *report = NULL;
}

ftune_status ftune_score_files(ftune_ctx *ctx, const char *metric, const char *pred_path,
                               const char *const *ref_paths, size_t n_ref_paths, const ftune_score_opts *o,
                               ftune_metric **metrics, size_t *n, char **json, char **report) {
    if (!ctx)
        return FT_ERR_ARG;
    clear_out(metrics, n, json, report);
    api_begin(ctx);
    if (!metric || !pred_path || (!ref_paths && n_ref_paths) || (metrics && !n))
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_score_files: NULL metric, pred_path, ref_paths or n"));
    for (size_t i = 0; i < n_ref_paths; i++)
        if (!ref_paths[i])
            return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_score_files: reference path %zu is NULL", i));
    int known = 0; /* before reading any file */
    for (size_t i = 0; ft_score_metrics[i]; i++)
        known |= !strcmp(metric, ft_score_metrics[i]);
    if (!known) { /* its message lists the known ones */
        cJSON *j;
        char *t;
        return api_end(ctx, ft_score_compute(metric, NULL, NULL, &j, &t));
    }
    ft_score_data d;
    ft_status s = ft_score_read(pred_path, ref_paths, n_ref_paths, &d);
    if (s != FT_OK)
        return api_end(ctx, s);
    s = score(metric, &d, o, metrics, n, json, report);
    ft_score_data_free(&d);
    return api_end(ctx, s);
}

ftune_status ftune_score_texts(ftune_ctx *ctx, const char *metric, const char *const *preds, size_t n,
                               const char *const *refs, const size_t *ref_off, const ftune_score_opts *o,
                               ftune_metric **metrics, size_t *n_metrics, char **json, char **report) {
    if (!ctx)
        return FT_ERR_ARG;
    clear_out(metrics, n_metrics, json, report);
    api_begin(ctx);
    if (!metric || (n && (!preds || !refs)) || (metrics && !n_metrics))
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_score_texts: NULL metric, preds, refs or n_metrics"));
    if (n == 0)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_score_texts: no examples (n = 0)"));
    if (ref_off && ref_off[0] != 0)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_score_texts: ref_off[0] is %zu, not 0", ref_off[0]));
    for (size_t i = 0; i < n; i++) {
        if (!preds[i])
            return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_score_texts: prediction %zu is NULL", i + 1));
        if (ref_off && ref_off[i + 1] <= ref_off[i])
            return api_end(ctx, ft_fail(FT_ERR_ARG,
                                        "ftune_score_texts: example %zu has no reference (ref_off "
                                        "%zu then %zu)",
                                        i + 1, ref_off[i], ref_off[i + 1]));
    }
    size_t n_refs = ref_off ? ref_off[n] : n;
    for (size_t r = 0; r < n_refs; r++)
        if (!refs[r])
            return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_score_texts: reference %zu is NULL", r + 1));
    ft_score_data d;
    memset(&d, 0, sizeof d);
    d.n = n;
    d.pred = (char **)(uintptr_t)preds; /* read only by ft_score_compute */
    d.refs = (char **)(uintptr_t)refs;
    d.pred_path = "predictions";
    d.pred_line = malloc(n * sizeof *d.pred_line);
    d.off = malloc((n + 1) * sizeof *d.off);
    d.ref_line = malloc(n_refs * sizeof *d.ref_line);
    d.ref_path = malloc(n_refs * sizeof *d.ref_path);
    ft_status s = FT_OK;
    if (!d.pred_line || !d.off || !d.ref_line || !d.ref_path)
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK) {
        for (size_t i = 0; i < n; i++)
            d.pred_line[i] = i + 1;
        for (size_t i = 0; i <= n; i++)
            d.off[i] = ref_off ? ref_off[i] : i;
        for (size_t r = 0; r < n_refs; r++)
            d.ref_line[r] = r + 1, d.ref_path[r] = "references";
        s = score(metric, &d, o, metrics, n_metrics, json, report);
    }
    free(d.pred_line);
    free(d.off);
    free(d.ref_line);
    free(d.ref_path);
    return api_end(ctx, s);
}
