/* `ftune score` behind the command line: read predictions and references from files and compute one
 * metric as a JSON object with fixed keys plus a readable report. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/metrics.h"

const char *const ft_score_metrics[] = {"bleu", "rouge", "squad", "classification", "regression", NULL};

void ft_score_data_free(ft_score_data *d) {
    for (size_t i = 0; d->pred && i < d->n; i++)
        free(d->pred[i]);
    for (size_t i = 0; d->refs && d->off && i < d->off[d->n]; i++)
        free(d->refs[i]);
    free(d->pred);
    free(d->pred_line);
    free(d->refs);
    free(d->off);
    free(d->ref_line);
    free(d->ref_path);
    memset(d, 0, sizeof *d);
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* One example of a file: 1 string, or k strings from a JSONL list. */
typedef struct {
    char **s;
    size_t k;
    size_t line;
} item;
typedef struct {
    item *it;
    size_t n;
} items;

static void items_free(items *v) {
    for (size_t i = 0; i < v->n; i++) {
        for (size_t j = 0; j < v->it[i].k; j++)
            free(v->it[i].s[j]);
        free(v->it[i].s);
    }
    free(v->it);
    v->it = NULL;
    v->n = 0;
}

static char *num_text(double x) {
    char b[64];
    if (x == floor(x) && fabs(x) < 9007199254740992.0)
        snprintf(b, sizeof b, "%.0f", x);
    else
        snprintf(b, sizeof b, "%.17g", x);
    return ft_strdup(b);
}

/* JSONL value → strings (a string or number; lists only where allowed). */
static ft_status json_item(const char *path, size_t line, const char *text, int allow_list, item *it) {
    cJSON *j = cJSON_ParseWithOpts(text, NULL, 1);
    if (!j)
        return ft_fail(FT_ERR_FORMAT, "%s:%zu: not a JSON value", path, line);
    ft_status st = FT_OK;
    if (cJSON_IsString(j) || cJSON_IsNumber(j)) {
        it->s = calloc(1, sizeof *it->s);
        if (it->s) {
            it->s[0] = cJSON_IsString(j) ? ft_strdup(j->valuestring) : num_text(j->valuedouble);
            it->k = it->s[0] ? 1 : 0;
        }
        if (!it->s || !it->k)
            st = ft_fail(FT_ERR_NOMEM, "%s:%zu: out of memory", path, line);
    } else if (cJSON_IsArray(j) && allow_list) {
        int k = cJSON_GetArraySize(j);
        if (k == 0)
            st = ft_fail(FT_ERR_FORMAT, "%s:%zu: empty list of references", path, line);
        else if (!(it->s = calloc((size_t)k, sizeof *it->s)))
            st = ft_fail(FT_ERR_NOMEM, "%s:%zu: out of memory", path, line);
        for (int e = 0; e < k && st == FT_OK; e++) {
            cJSON *x = cJSON_GetArrayItem(j, e);
            if (!cJSON_IsString(x)) {
                st = ft_fail(FT_ERR_FORMAT, "%s:%zu: list element %d is not a string", path, line, e + 1);
                break;
            }
            if (!(it->s[e] = ft_strdup(x->valuestring)))
                st = ft_fail(FT_ERR_NOMEM, "%s:%zu: out of memory", path, line);
            else
                it->k++;
        }
    } else {
        st = ft_fail(FT_ERR_FORMAT, "%s:%zu: expected a JSON string%s", path, line,
                     allow_list ? " or a list of strings" : "");
    }
    cJSON_Delete(j);
    return st;
}

/* Reads a text file (one example per line, a final newline optional, CR before LF dropped) or a
 * JSONL file (one JSON value per line). */
static ft_status read_items(const char *path, int allow_list, items *out) {
    out->it = NULL;
    out->n = 0;
    char *buf;
    size_t len;
    FT_TRY(ft_read_file(path, &buf, &len));
    if (len == 0) {
        free(buf);
        return ft_fail(FT_ERR_FORMAT, "%s: empty file", path);
    }
    if (memchr(buf, 0, len)) {
        size_t line = 1;
        for (const char *p = buf; *p; p++)
            line += *p == '\n';
        free(buf);
        return ft_fail(FT_ERR_FORMAT, "%s:%zu: NUL byte in text", path, line);
    }
    int jsonl = ends_with(path, ".jsonl");
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += buf[i] == '\n';
    out->it = calloc(cap, sizeof *out->it);
    if (!out->it) {
        free(buf);
        return ft_fail(FT_ERR_NOMEM, "%s: out of memory", path);
    }
    ft_status st = FT_OK;
    size_t line = 0;
    char *p0 = buf;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        p0 += 3; /* a UTF-8 byte-order mark is not text */
    for (char *p = p0; p < buf + len && st == FT_OK;) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        char *end = nl ? nl : buf + len;
        line++;
        if (end > p && end[-1] == '\r')
            end[-1] = 0;
        *end = 0;
        item *it = &out->it[out->n];
        it->line = line;
        if (jsonl) {
            const char *q = p;
            while (*q == ' ' || *q == '\t')
                q++;
            if (!*q)
                st = ft_fail(FT_ERR_FORMAT, "%s:%zu: empty line (each JSONL line holds one JSON value)", path, line);
            else
                st = json_item(path, line, p, allow_list, it);
        } else {
            it->s = calloc(1, sizeof *it->s);
            if (it->s && (it->s[0] = ft_strdup(p)))
                it->k = 1;
            else
                st = ft_fail(FT_ERR_NOMEM, "%s: out of memory", path);
        }
        out->n++;
        p = end + 1;
    }
    free(buf);
    if (st != FT_OK)
        items_free(out);
    return st;
}

ft_status ft_score_read(const char *pred_path, const char *const *ref_paths, size_t n_ref_paths,
                        ft_score_data *out) {
    memset(out, 0, sizeof *out);
    if (n_ref_paths == 0)
        return ft_fail(FT_ERR_ARG, "score: no reference file given");
    items pv;
    FT_TRY(read_items(pred_path, 0, &pv));
    items *rv = calloc(n_ref_paths, sizeof *rv);
    if (!rv) {
        items_free(&pv);
        return ft_fail(FT_ERR_NOMEM, "score: out of memory");
    }
    ft_status st = FT_OK;
    size_t total = 0;
    for (size_t f = 0; f < n_ref_paths && st == FT_OK; f++) {
        st = read_items(ref_paths[f], 1, &rv[f]);
        if (st == FT_OK && rv[f].n != pv.n)
            st = ft_fail(FT_ERR_FORMAT, "%s has %zu examples but %s has %zu", pred_path, pv.n, ref_paths[f],
                         rv[f].n);
        for (size_t i = 0; st == FT_OK && i < rv[f].n; i++)
            total += rv[f].it[i].k;
    }
    if (st == FT_OK) {
        out->n = pv.n;
        out->pred_path = pred_path;
        out->pred = calloc(pv.n, sizeof *out->pred);
        out->pred_line = calloc(pv.n, sizeof *out->pred_line);
        out->off = calloc(pv.n + 1, sizeof *out->off);
        out->refs = calloc(total + 1, sizeof *out->refs);
        out->ref_line = calloc(total + 1, sizeof *out->ref_line);
        out->ref_path = calloc(total + 1, sizeof *out->ref_path);
        if (!out->pred || !out->pred_line || !out->off || !out->refs || !out->ref_line || !out->ref_path) {
            st = ft_fail(FT_ERR_NOMEM, "score: out of memory for %zu examples", pv.n);
        } else { /* move the strings over: example i's references from every file in order */
            size_t r = 0;
            for (size_t i = 0; i < pv.n; i++) {
                out->pred[i] = pv.it[i].s[0];
                pv.it[i].s[0] = NULL;
                out->pred_line[i] = pv.it[i].line;
                out->off[i] = r;
                for (size_t f = 0; f < n_ref_paths; f++)
                    for (size_t j = 0; j < rv[f].it[i].k; j++) {
                        out->refs[r] = rv[f].it[i].s[j];
                        rv[f].it[i].s[j] = NULL;
                        out->ref_line[r] = rv[f].it[i].line;
                        out->ref_path[r] = ref_paths[f];
                        r++;
                    }
            }
            out->off[pv.n] = r;
        }
    }
    items_free(&pv);
    for (size_t f = 0; f < n_ref_paths; f++)
        items_free(&rv[f]);
    free(rv);
    if (st != FT_OK)
        ft_score_data_free(out);
    return st;
}

/* ---- report text ---- */
typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} strb;

static void sb_printf(strb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strb *b, const char *fmt, ...) {
    if (b->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) {
        b->oom = 1;
        return;
    }
    if (b->n + (size_t)need + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + (size_t)need + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

/* Each example needs exactly one reference for the label/number metrics. */
static ft_status single_refs(const ft_score_data *d, const char *metric) {
    for (size_t i = 0; i < d->n; i++)
        if (d->off[i + 1] - d->off[i] != 1) {
            size_t r = d->off[i];
            return ft_fail(FT_ERR_FORMAT, "%s:%zu: %s takes exactly one reference per example (got %zu)",
                           d->ref_path[r], d->ref_line[r], metric, d->off[i + 1] - d->off[i]);
        }
    return FT_OK;
}

static ft_status parse_number(const char *s, const char *path, size_t line, double *out) {
    const char *p = s;
    while (*p == ' ' || *p == '\t')
        p++;
    errno = 0;
    char *end;
    double v = strtod(p, &end);
    while (end != p && (*end == ' ' || *end == '\t'))
        end++;
    if (end == p || *end)
        return ft_fail(FT_ERR_FORMAT, "%s:%zu: not a number: '%.40s'", path, line, s);
    if (!isfinite(v))
        return ft_fail(FT_ERR_NUMERIC, "%s:%zu: not a finite number: '%.40s'", path, line, s);
    *out = v;
    return FT_OK;
}

static void add_num(cJSON *o, const char *k, double v) {
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

void ft_metric_cls_json(const ft_metric_cls *m, cJSON *j) {
    add_num(j, "accuracy", m->accuracy);
    add_num(j, "precision_macro", m->precision_macro);
    add_num(j, "recall_macro", m->recall_macro);
    add_num(j, "f1_macro", m->f1_macro);
    add_num(j, "precision_micro", m->precision_micro);
    add_num(j, "recall_micro", m->recall_micro);
    add_num(j, "f1_micro", m->f1_micro);
    add_num(j, "precision_weighted", m->precision_weighted);
    add_num(j, "recall_weighted", m->recall_weighted);
    add_num(j, "f1_weighted", m->f1_weighted);
}

static ft_status do_classification(const ft_score_data *d, cJSON *j, strb *t) {
    FT_TRY(single_refs(d, "classification"));
    const char **tr = malloc(d->n * sizeof *tr);
    if (!tr)
        return ft_fail(FT_ERR_NOMEM, "score: out of memory");
    for (size_t i = 0; i < d->n; i++)
        tr[i] = d->refs[d->off[i]];
    ft_metric_cls m;
    ft_status st = ft_metric_classification(tr, (const char *const *)d->pred, d->n, &m);
    free(tr);
    FT_TRY(st);
    ft_metric_cls_json(&m, j);
    sb_printf(t, "examples: %zu  classes: %zu\naccuracy: %.6f\n", m.n, m.n_classes, m.accuracy);
    sb_printf(t, "%-12s %10s %10s %10s\n", "average", "precision", "recall", "f1");
    sb_printf(t, "%-12s %10.6f %10.6f %10.6f\n", "macro", m.precision_macro, m.recall_macro, m.f1_macro);
    sb_printf(t, "%-12s %10.6f %10.6f %10.6f\n", "micro", m.precision_micro, m.recall_micro, m.f1_micro);
    sb_printf(t, "%-12s %10.6f %10.6f %10.6f\n\n", "weighted", m.precision_weighted, m.recall_weighted, m.f1_weighted);
    sb_printf(t, "%-20s %10s %10s %10s %8s\n", "class", "precision", "recall", "f1", "support");
    for (size_t c = 0; c < m.n_classes; c++)
        sb_printf(t, "%-20.20s %10.6f %10.6f %10.6f %8lld\n", m.labels[c], m.precision[c], m.recall[c], m.f1[c],
                  (long long)m.support[c]);
    sb_printf(t, "\nconfusion matrix (rows: reference, columns: prediction, in the class order above)\n");
    for (size_t r = 0; r < m.n_classes; r++) {
        for (size_t c = 0; c < m.n_classes; c++)
            sb_printf(t, "%s%lld", c ? " " : "", (long long)m.confusion[r * m.n_classes + c]);
        sb_printf(t, "\n");
    }
    ft_metric_cls_free(&m);
    return FT_OK;
}

static ft_status do_regression(const ft_score_data *d, cJSON *j, strb *t) {
    FT_TRY(single_refs(d, "regression"));
    double *yt = malloc(d->n * sizeof *yt), *yp = malloc(d->n * sizeof *yp);
    ft_status st = FT_OK;
    if (!yt || !yp)
        st = ft_fail(FT_ERR_NOMEM, "score: out of memory");
    for (size_t i = 0; i < d->n && st == FT_OK; i++) {
        st = parse_number(d->pred[i], d->pred_path, d->pred_line[i], &yp[i]);
        if (st == FT_OK) {
            size_t r = d->off[i];
            st = parse_number(d->refs[r], d->ref_path[r], d->ref_line[r], &yt[i]);
        }
    }
    ft_metric_reg m = {0};
    if (st == FT_OK)
        st = ft_metric_regression(yt, yp, d->n, &m);
    free(yt);
    free(yp);
    FT_TRY(st);
    add_num(j, "mse", m.mse);
    add_num(j, "mae", m.mae);
    add_num(j, "r2", m.r2);
    sb_printf(t, "examples: %zu\nmse: %.9g\nmae: %.9g\nr2: %.9g\n", d->n, m.mse, m.mae, m.r2);
    return FT_OK;
}

static ft_status do_bleu(const ft_score_data *d, const ft_score_opts *o, cJSON *j, strb *t) {
    ft_bleu_score b;
    FT_TRY(ft_metric_bleu((const char *const *)d->pred, d->n, (const char *const *)d->refs, d->off, &o->bleu, &b));
    add_num(j, "bleu", b.bleu);
    cJSON *p = cJSON_AddArrayToObject(j, "precisions");
    for (int n = 0; p && n < b.max_order; n++)
        cJSON_AddItemToArray(p, cJSON_CreateNumber(b.precisions[n]));
    add_num(j, "bp", b.bp);
    cJSON_AddNumberToObject(j, "sys_len", (double)b.sys_len);
    cJSON_AddNumberToObject(j, "ref_len", (double)b.ref_len);
    sb_printf(t, "BLEU = %.2f ", b.bleu);
    for (int n = 0; n < b.max_order; n++)
        sb_printf(t, "%s%.1f", n ? "/" : "", b.precisions[n]);
    sb_printf(t, " (BP = %.3f ratio = %.3f hyp_len = %lld ref_len = %lld)\n", b.bp,
              b.ref_len ? (double)b.sys_len / (double)b.ref_len : 0.0, (long long)b.sys_len, (long long)b.ref_len);
    return FT_OK;
}

static ft_status do_rouge(const ft_score_data *d, const ft_score_opts *o, cJSON *j, strb *t) {
    ft_rouge_score r;
    FT_TRY(ft_metric_rouge((const char *const *)d->pred, d->n, (const char *const *)d->refs, d->off, o->stem, &r));
    add_num(j, "rouge1", r.rouge1);
    add_num(j, "rouge2", r.rouge2);
    add_num(j, "rougeL", r.rougeL);
    add_num(j, "rougeLsum", r.rougeLsum);
    sb_printf(t, "examples: %zu%s\nrouge1: %.6f\nrouge2: %.6f\nrougeL: %.6f\nrougeLsum: %.6f\n", d->n,
              o->stem ? " (Porter stemming)" : "", r.rouge1, r.rouge2, r.rougeL, r.rougeLsum);
    return FT_OK;
}

static ft_status do_squad(const ft_score_data *d, cJSON *j, strb *t) {
    ft_squad_score s;
    FT_TRY(ft_metric_squad((const char *const *)d->pred, d->n, (const char *const *)d->refs, d->off, &s));
    add_num(j, "exact_match", s.exact_match);
    add_num(j, "f1", s.f1);
    sb_printf(t, "examples: %zu\nexact_match: %.6f\nf1: %.6f\n", d->n, s.exact_match, s.f1);
    return FT_OK;
}

ft_status ft_score_compute(const char *metric, const ft_score_data *d, const ft_score_opts *o, cJSON **json,
                           char **text) {
    *json = NULL;
    *text = NULL;
    int known = 0;
    for (size_t i = 0; ft_score_metrics[i]; i++)
        known |= strcmp(metric, ft_score_metrics[i]) == 0;
    if (!known) {
        char list[256] = "";
        for (size_t i = 0; ft_score_metrics[i]; i++) {
            strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, ft_score_metrics[i], sizeof list - strlen(list) - 1);
        }
        return ft_fail(FT_ERR_ARG, "unknown metric '%s' (known: %s)", metric, list);
    }
    cJSON *j = cJSON_CreateObject();
    strb t = {0};
    if (!j)
        return ft_fail(FT_ERR_NOMEM, "score: out of memory");
    ft_status st;
    if (!strcmp(metric, "bleu"))
        st = do_bleu(d, o, j, &t);
    else if (!strcmp(metric, "rouge"))
        st = do_rouge(d, o, j, &t);
    else if (!strcmp(metric, "squad"))
        st = do_squad(d, j, &t);
    else if (!strcmp(metric, "classification"))
        st = do_classification(d, j, &t);
    else
        st = do_regression(d, j, &t);
    if (st == FT_OK && t.oom)
        st = ft_fail(FT_ERR_NOMEM, "score: out of memory for the report");
    if (st != FT_OK) {
        cJSON_Delete(j);
        free(t.p);
        return st;
    }
    *json = j;
    *text = t.p;
    return FT_OK;
}
