/* Token-classification metrics: token accuracy, seqeval-style entity P/R/F1, macro-F1 over tags. */
#include "eval/tagging.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>

/* The chunk tag (first character) and type (after the first '-' of the rest, else the rest; "_" when empty)
 * of one label, as seqeval reads a prefix-style tag. */
static char tag_of(const char *s) {
    return s[0] ? s[0] : 'O';
}
static void type_of(const char *s, const char **t, size_t *n) {
    const char *rest = s[0] ? s + 1 : s, *dash = strchr(rest, '-');
    *t = dash ? dash + 1 : rest;
    *n = strlen(*t);
    if (*n == 0) {
        *t = "_";
        *n = 1;
    }
}

static bool same_type(const char *a, size_t an, const char *b, size_t bn) {
    return an == bn && memcmp(a, b, an) == 0;
}

static bool chunk_ends(char pt, char t, bool type_changed) {
    if (pt == 'E' || pt == 'S')
        return true;
    if ((pt == 'B' || pt == 'I') && (t == 'B' || t == 'S' || t == 'O'))
        return true;
    return pt != 'O' && pt != '.' && type_changed;
}

static bool chunk_starts(char pt, char t, bool type_changed) {
    if (t == 'B' || t == 'S')
        return true;
    if ((pt == 'E' || pt == 'S' || pt == 'O') && (t == 'E' || t == 'I'))
        return true;
    return t != 'O' && t != '.' && type_changed;
}

void ft_tag_chunks_free(ft_tag_chunk *c, size_t n) {
    for (size_t i = 0; c && i < n; i++)
        free(c[i].type);
    free(c);
}

ft_status ft_tag_chunks(const char *const *tags, size_t n, ft_tag_chunk **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    ft_tag_chunk *c = NULL;
    size_t k = 0, cap = 0, begin = 0;
    char pt = 'O';
    const char *ptype = "";
    size_t ptn = 0;
    for (size_t i = 0; i <= n; i++) { /* one 'O' past the end closes the last chunk */
        const char *lab = i < n ? tags[i] : "O";
        const char t = tag_of(lab);
        const char *ty;
        size_t tn;
        type_of(lab, &ty, &tn);
        const bool changed = !same_type(ptype, ptn, ty, tn);
        if (chunk_ends(pt, t, changed)) {
            if (k == cap) {
                cap = cap ? 2 * cap : 16;
                ft_tag_chunk *nc = realloc(c, cap * sizeof *c);
                if (!nc) {
                    ft_tag_chunks_free(c, k);
                    return ft_fail(FT_ERR_NOMEM, "out of memory");
                }
                c = nc;
            }
            c[k].type = malloc(ptn + 1);
            if (!c[k].type) {
                ft_tag_chunks_free(c, k);
                return ft_fail(FT_ERR_NOMEM, "out of memory");
            }
            memcpy(c[k].type, ptype, ptn);
            c[k].type[ptn] = '\0';
            c[k].begin = begin;
            c[k].end = i - 1;
            k++;
        }
        if (chunk_starts(pt, t, changed))
            begin = i;
        pt = t;
        ptype = ty;
        ptn = tn;
    }
    *out = c;
    *n_out = k;
    return FT_OK;
}

bool ft_tag_set_is_bio(const char *const *tags, size_t n) {
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        const char *s = tags[i];
        if (!strcmp(s, "O"))
            continue;
        if (!(strchr("BIES", s[0]) && s[0] && s[1] == '-' && s[2]))
            return false;
        any = true;
    }
    return any;
}

void ft_metric_tag_free(ft_metric_tag *m) {
    for (size_t i = 0; m->types && i < m->n_types; i++)
        free(m->types[i].type);
    free(m->types);
    memset(m, 0, sizeof *m);
}

static int chunk_cmp(const void *a, const void *b) {
    const ft_tag_chunk *x = a, *y = b;
    int c = strcmp(x->type, y->type);
    if (c)
        return c;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end ? 1 : 0;
}

static void prf(int64_t correct, int64_t pred, int64_t truth, double *p, double *r, double *f) {
    *p = pred > 0 ? (double)correct / (double)pred : 0.0;
    *r = truth > 0 ? (double)correct / (double)truth : 0.0;
    *f = *p + *r > 0 ? 2.0 * *p * *r / (*p + *r) : 0.0;
}

/* The chunks of the sentences' tags joined with an 'O' after each (seqeval's nested-list form). */
static ft_status flat_chunks(const int32_t *y, const size_t *off, size_t n_sent, char *const *names,
                             ft_tag_chunk **out, size_t *n_out) {
    const size_t total = off[n_sent] + n_sent;
    const char **flat = malloc((total ? total : 1) * sizeof *flat);
    if (!flat)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t s = 0; s < n_sent; s++) {
        for (size_t i = off[s]; i < off[s + 1]; i++)
            flat[k++] = names[y[i]];
        flat[k++] = "O";
    }
    ft_status st = ft_tag_chunks(flat, k, out, n_out);
    free(flat);
    if (st == FT_OK && *n_out > 1) /* qsort wants a non-NULL array even for none */
        qsort(*out, *n_out, sizeof **out, chunk_cmp);
    return st;
}

static ft_status add_type(ft_metric_tag *m, const char *type, size_t *cap) {
    if (m->n_types && !strcmp(m->types[m->n_types - 1].type, type))
        return FT_OK;
    if (m->n_types == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        ft_tag_type_score *nt = realloc(m->types, *cap * sizeof *nt);
        if (!nt)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        m->types = nt;
    }
    ft_tag_type_score *t = &m->types[m->n_types];
    memset(t, 0, sizeof *t);
    if (!(t->type = ft_strdup(type)))
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    m->n_types++;
    return FT_OK;
}

/* Entity counts: walk the two sorted chunk lists together (types in name order). */
static ft_status entity_scores(const ft_tag_chunk *tc, size_t nt, const ft_tag_chunk *pc, size_t np,
                               ft_metric_tag *m) {
    size_t i = 0, j = 0, cap = 0;
    while (i < nt || j < np) {
        int c = i == nt ? 1 : j == np ? -1 : chunk_cmp(&tc[i], &pc[j]);
        const char *type = c <= 0 ? tc[i].type : pc[j].type;
        FT_TRY(add_type(m, type, &cap));
        ft_tag_type_score *t = &m->types[m->n_types - 1];
        if (c <= 0)
            t->n_true++;
        if (c >= 0)
            t->n_pred++;
        if (c == 0)
            t->n_correct++;
        i += c <= 0;
        j += c >= 0;
    }
    for (size_t k = 0; k < m->n_types; k++) {
        ft_tag_type_score *t = &m->types[k];
        prf(t->n_correct, t->n_pred, t->n_true, &t->precision, &t->recall, &t->f1);
        m->n_true += t->n_true;
        m->n_pred += t->n_pred;
        m->n_correct_ent += t->n_correct;
    }
    prf(m->n_correct_ent, m->n_pred, m->n_true, &m->precision, &m->recall, &m->f1);
    return FT_OK;
}

ft_status ft_metric_tagging(const int32_t *y_true, const int32_t *y_pred, const size_t *off, size_t n_sent,
                            char *const *names, int n_names, ft_metric_tag *out) {
    memset(out, 0, sizeof *out);
    const size_t n = off[n_sent];
    for (size_t i = 0; i < n; i++)
        if (y_true[i] < 0 || y_true[i] >= n_names || y_pred[i] < 0 || y_pred[i] >= n_names)
            return ft_fail(FT_ERR_RANGE, "tag id of word %zu outside the %d tags", i, n_names);
    for (size_t i = 0; i < n; i++)
        out->n_correct += y_true[i] == y_pred[i];
    out->n_words = (int64_t)n;
    out->accuracy = n ? (double)out->n_correct / (double)n : 0.0;
    out->entities = ft_tag_set_is_bio((const char *const *)names, (size_t)n_names);
    if (out->entities) {
        ft_tag_chunk *tc = NULL, *pc = NULL;
        size_t nt = 0, np = 0;
        ft_status s = flat_chunks(y_true, off, n_sent, names, &tc, &nt);
        if (s == FT_OK)
            s = flat_chunks(y_pred, off, n_sent, names, &pc, &np);
        if (s == FT_OK)
            s = entity_scores(tc, nt, pc, np, out);
        ft_tag_chunks_free(tc, nt);
        ft_tag_chunks_free(pc, np);
        if (s != FT_OK)
            ft_metric_tag_free(out);
        return s;
    }
    /* macro-F1 over the tags that occur in the truth or the prediction */
    int64_t *cnt = calloc((size_t)n_names * 3, sizeof *cnt); /* tp, predicted, true per tag */
    if (!cnt)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        cnt[3 * y_pred[i] + 1]++;
        cnt[3 * y_true[i] + 2]++;
        if (y_true[i] == y_pred[i])
            cnt[3 * y_true[i]]++;
    }
    double sum = 0.0;
    int used = 0;
    for (int k = 0; k < n_names; k++) {
        if (!cnt[3 * k + 1] && !cnt[3 * k + 2])
            continue;
        double p, r, f;
        prf(cnt[3 * k], cnt[3 * k + 1], cnt[3 * k + 2], &p, &r, &f);
        sum += f;
        used++;
    }
    out->f1_macro_tags = used ? sum / used : 0.0;
    free(cnt);
    return FT_OK;
}

void ft_metric_tag_print(const ft_metric_tag *m, FILE *f) {
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

void ft_metric_tag_json(const ft_metric_tag *m, cJSON *j) {
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
