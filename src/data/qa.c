/* data/qa: SQuAD-format readers and run_qa-style windows (data/qa.h). */
#include "data/qa.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define QA_REPORT_MAX 5 /* bad answers named in the report; the rest only counted */

static void example_free(ft_qa_example *e) {
    free(e->id);
    free(e->question);
    free(e->context);
    free(e->cbyte);
    for (int k = 0; k < e->n_answers; k++)
        free(e->answers[k]);
    free(e->answers);
    free(e->answer_start);
    free(e->where);
}

void ft_qa_set_free(ft_qa_set *s) {
    for (size_t i = 0; i < s->n; i++)
        example_free(&s->ex[i]);
    free(s->ex);
    memset(s, 0, sizeof *s);
}

char *ft_qa_context_span(const ft_qa_example *e, size_t cs, size_t ce) {
    cs = cs < e->n_chars ? cs : e->n_chars;
    ce = ce < e->n_chars ? ce : e->n_chars;
    ce = ce > cs ? ce : cs;
    const size_t b0 = e->cbyte[cs], b1 = e->cbyte[ce];
    char *t = malloc(b1 - b0 + 1);
    if (t) {
        memcpy(t, e->context + b0, b1 - b0);
        t[b1 - b0] = 0;
    }
    return t;
}

/* Byte offset of every code point of s (UTF-8; a stray byte counts as one), n + 1 entries. */
static ft_status char_index(const char *s, size_t **out, size_t *n_chars) {
    const size_t len = strlen(s);
    size_t *cb = malloc((len + 1) * sizeof *cb), n = 0;
    if (!cb)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < len; n++) {
        cb[n] = i;
        const unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        i += k;
        i = i > len ? len : i;
    }
    cb[n] = len;
    *out = cb;
    *n_chars = n;
    return FT_OK;
}

static size_t utf8_chars(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static const char *str_field(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Append one example; texts/starts: its answers (n of them; validated here). */
static ft_status add_example(ft_qa_set *set, const char *id, const char *question, const char *context,
                             const char *const *texts, const double *starts, int n, const char *where,
                             FILE *report) {
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 64;
        ft_qa_example *ex = realloc(set->ex, cap * sizeof *ex);
        if (!ex)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        set->ex = ex;
        set->cap = cap;
    }
    ft_qa_example e = {0};
    while (*question == ' ' || *question == '\t' || *question == '\n' || *question == '\r')
        question++; /* run_qa: question.lstrip() */
    e.id = ft_strdup(id);
    e.question = ft_strdup(question);
    e.context = ft_strdup(context);
    e.where = ft_strdup(where);
    e.answers = calloc((size_t)(n > 0 ? n : 1), sizeof *e.answers);
    e.answer_start = calloc((size_t)(n > 0 ? n : 1), sizeof *e.answer_start);
    ft_status s = e.id && e.question && e.context && e.where && e.answers && e.answer_start
                      ? char_index(context, &e.cbyte, &e.n_chars)
                      : ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int k = 0; s == FT_OK && k < n; k++) {
        const double st = starts[k];
        const size_t nc = utf8_chars(texts[k]);
        bool ok = st >= 0 && st == (double)(size_t)st && (size_t)st + nc <= e.n_chars;
        if (ok) {
            const size_t b0 = e.cbyte[(size_t)st], b1 = e.cbyte[(size_t)st + nc];
            ok = b1 - b0 == strlen(texts[k]) && !memcmp(context + b0, texts[k], b1 - b0);
        }
        if (!ok) {
            if (report && set->n_bad_answers < QA_REPORT_MAX)
                fprintf(report, "%s: answer '%s' is not at answer_start %.0f of the context: skipped\n",
                        where, texts[k], st);
            set->n_bad_answers++;
            continue;
        }
        if (!(e.answers[e.n_answers] = ft_strdup(texts[k])))
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        else
            e.answer_start[e.n_answers++] = (size_t)st;
    }
    const bool none_left = s == FT_OK && n > 0 && e.n_answers == 0; /* answerable, no answer left: skipped */
    if (s != FT_OK || none_left) {
        set->n_dropped += none_left;
        example_free(&e);
        return s;
    }
    set->ex[set->n++] = e;
    return FT_OK;
}

/* answers as a list of {text, answer_start} (SQuAD JSON) or {text: [...], answer_start: [...]} (HF). */
static ft_status parse_answers(const cJSON *ans, const char *where, const char ***texts, double **starts,
                               int *n) {
    *texts = NULL;
    *starts = NULL;
    *n = 0;
    if (!ans)
        return FT_OK;
    const bool hf = cJSON_IsObject(ans);
    const cJSON *tl = hf ? cJSON_GetObjectItemCaseSensitive(ans, "text") : ans;
    const cJSON *sl = hf ? cJSON_GetObjectItemCaseSensitive(ans, "answer_start") : NULL;
    if (!cJSON_IsArray(tl) ||
        (hf && (!cJSON_IsArray(sl) || cJSON_GetArraySize(sl) != cJSON_GetArraySize(tl))))
        return ft_fail(FT_ERR_FORMAT,
                       "%s: 'answers' must be a list of {text, answer_start} or {text: [...], answer_start: "
                       "[...]} of the same length",
                       where);
    const int k = cJSON_GetArraySize(tl);
    *texts = calloc((size_t)(k ? k : 1), sizeof **texts);
    *starts = calloc((size_t)(k ? k : 1), sizeof **starts);
    if (!*texts || !*starts)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < k; i++) {
        const cJSON *t = cJSON_GetArrayItem(tl, i);
        const cJSON *st =
            hf ? cJSON_GetArrayItem(sl, i) : cJSON_GetObjectItemCaseSensitive(t, "answer_start");
        if (!hf)
            t = cJSON_GetObjectItemCaseSensitive(t, "text");
        if (!cJSON_IsString(t) || !cJSON_IsNumber(st))
            return ft_fail(FT_ERR_FORMAT, "%s: answer %d needs a string text and a number answer_start",
                           where, i);
        (*texts)[i] = t->valuestring;
        (*starts)[i] = st->valuedouble;
    }
    *n = k;
    return FT_OK;
}

ft_status ft_qa_set_add(ft_qa_set *set, const char *id, const char *question, const char *context,
                        const char *where) {
    return add_example(set, id, question, context, NULL, NULL, 0, where, NULL);
}

/* One question object q (id, question, answers, is_impossible) over context. */
static ft_status add_question(ft_qa_set *set, const cJSON *q, const char *context, const char *where,
                              FILE *report) {
    const char *id = str_field(q, "id"), *question = str_field(q, "question");
    if (!id || !question || !context)
        return ft_fail(FT_ERR_FORMAT, "%s: an example needs string fields id, question and context", where);
    char w[512];
    snprintf(w, sizeof w, "%s (id %s)", where, id);
    const char **texts;
    double *starts;
    int n;
    const cJSON *imp = cJSON_GetObjectItemCaseSensitive(q, "is_impossible");
    ft_status s = parse_answers(cJSON_GetObjectItemCaseSensitive(q, "answers"), w, &texts, &starts, &n);
    if (s == FT_OK && cJSON_IsTrue(imp))
        n = 0; /* SQuAD 2.0: no answer (plausible_answers are not answers) */
    if (s == FT_OK)
        s = add_example(set, id, question, context, texts, starts, n, w, report);
    free(texts);
    free(starts);
    return s;
}

static ft_status read_squad_json(const cJSON *root, const char *path, ft_qa_set *out, FILE *report) {
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data"), *art;
    if (!cJSON_IsArray(data))
        return ft_fail(FT_ERR_FORMAT, "%s: a SQuAD file needs a 'data' list of articles", path);
    int ai = 0;
    cJSON_ArrayForEach(art, data) {
        const cJSON *paras = cJSON_GetObjectItemCaseSensitive(art, "paragraphs"), *p;
        if (!cJSON_IsArray(paras))
            return ft_fail(FT_ERR_FORMAT, "%s: data[%d] has no 'paragraphs' list", path, ai);
        int pi = 0;
        cJSON_ArrayForEach(p, paras) {
            const char *ctx = str_field(p, "context");
            const cJSON *qas = cJSON_GetObjectItemCaseSensitive(p, "qas"), *q;
            char where[4200];
            snprintf(where, sizeof where, "%s: data[%d].paragraphs[%d]", path, ai, pi);
            if (!ctx || !cJSON_IsArray(qas))
                return ft_fail(FT_ERR_FORMAT, "%s needs a string 'context' and a 'qas' list", where);
            cJSON_ArrayForEach(q, qas) FT_TRY(add_question(out, q, ctx, where, report));
            pi++;
        }
        ai++;
    }
    return FT_OK;
}

static ft_status read_jsonl(char *txt, const char *path, ft_qa_set *out, FILE *report) {
    long line = 0;
    for (char *p = txt; p && *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        line++;
        const char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r')
            q++;
        if (*q) {
            char where[4200];
            snprintf(where, sizeof where, "%s:%ld", path, line);
            cJSON *row = cJSON_Parse(q);
            ft_status s = cJSON_IsObject(row)
                              ? add_question(out, row, str_field(row, "context"), where, report)
                              : ft_fail(FT_ERR_FORMAT, "%s: not a JSON object", where);
            cJSON_Delete(row);
            FT_TRY(s);
        }
        p = nl ? nl + 1 : NULL;
    }
    return FT_OK;
}

ft_status ft_qa_read(const char *path, ft_qa_set *out, FILE *report) {
    char *txt;
    size_t len;
    FT_TRY(ft_read_file(path, &txt, &len));
    const size_t pl = strlen(path);
    const bool jsonl = pl > 6 && !strcmp(path + pl - 6, ".jsonl");
    cJSON *root = jsonl ? NULL : cJSON_Parse(txt);
    const size_t before_bad = out->n_bad_answers, before_n = out->n;
    ft_status s = cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "data")
                      ? read_squad_json(root, path, out, report)
                      : read_jsonl(txt, path, out, report);
    cJSON_Delete(root);
    free(txt);
    if (s == FT_OK && out->n == before_n)
        s = ft_fail(FT_ERR_FORMAT, "%s: no question-answering examples", path);
    if (s == FT_OK && report && out->n_bad_answers > before_bad)
        fprintf(report, "%s: %zu answers not at their answer_start skipped (%zu examples left without one)\n",
                path, out->n_bad_answers - before_bad, out->n_dropped);
    return s;
}

/* ---- windows ---- */

void ft_qa_feats_free(ft_qa_feats *f) {
    for (size_t i = 0; i < f->n; i++) {
        free(f->w[i].off_start);
        free(f->w[i].off_end);
    }
    free(f->w);
    memset(f, 0, sizeof *f);
}

static bool same_ids(const int32_t *a, const int32_t *b, size_t n) {
    return n == 0 || !memcmp(a, b, n * sizeof *a);
}

/* Where the question (nq ids Q) and the context (nc ids X) sit in the pair encoding P: *a special tokens
 * before the question, *b between them (the rest after the context). */
static bool pair_layout(const ft_tok_ids *P, const ft_tok_ids *Q, const ft_tok_ids *X, size_t *a, size_t *b) {
    if (P->n < Q->n + X->n)
        return false;
    const size_t spec = P->n - Q->n - X->n;
    for (size_t i = 0; i <= spec; i++)
        for (size_t j = 0; i + j <= spec; j++)
            if (same_ids(P->ids + i, Q->ids, Q->n) && same_ids(P->ids + i + Q->n + j, X->ids, X->n)) {
                *a = i;
                *b = j;
                return true;
            }
    return false;
}

typedef struct {
    ft_tok_ids P, Q, X;
} enc3;

static ft_status window_push(ft_dataset *ds, ft_qa_feats *f, const ft_example *ex, const ft_qa_window *w) {
    if ((ds->n & (ds->n - 1)) == 0) { /* n a power of two (or 0): room for 2n */
        size_t cap = ds->n ? ds->n * 2 : 1;
        ft_example *e = realloc(ds->ex, cap * sizeof *e);
        ft_qa_window *ww = realloc(f->w, cap * sizeof *ww);
        if (e)
            ds->ex = e;
        if (ww)
            f->w = ww;
        if (!e || !ww)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    ds->ex[ds->n++] = *ex;
    f->w[f->n++] = *w;
    return FT_OK;
}

/* run_qa's labels of a window whose context tokens are [ts, te]: the answer's token span, or (0, 0) when
 * the window does not hold [cs, ce) whole. The walk stays inside the context (HF's may run past its end
 * when the answer starts at the last context token: its comment calls it an edge case). */
static void span_positions(const ft_qa_window *w, int ts, int te, size_t cs, size_t ce, int32_t *sp,
                           int32_t *ep) {
    *sp = *ep = 0;
    if (ts > te || !(w->off_start[ts] <= (int64_t)cs && w->off_end[te] >= (int64_t)ce))
        return;
    int i = ts;
    while (i <= te && w->off_start[i] <= (int64_t)cs)
        i++;
    int j = te;
    while (j >= ts && w->off_end[j] >= (int64_t)ce)
        j--;
    *sp = i - 1;
    *ep = j + 1;
}

static ft_status example_windows(ft_tokenizer *tok, const ft_qa_set *set, size_t xi, int max_len, int stride,
                                 enc3 *e, ft_dataset *ds, ft_qa_feats *f) {
    const ft_qa_example *x = &set->ex[xi];
    FT_TRY(ft_tok_encode_pair(tok, x->question, strlen(x->question), x->context, strlen(x->context), true,
                              &e->P));
    FT_TRY(ft_tok_encode_offsets(tok, x->question, strlen(x->question), false, FT_TOK_OFFSETS_CHARS, &e->Q));
    FT_TRY(ft_tok_encode_offsets(tok, x->context, strlen(x->context), false, FT_TOK_OFFSETS_CHARS, &e->X));
    size_t a, b;
    if (!pair_layout(&e->P, &e->Q, &e->X, &a, &b))
        return ft_fail(
            FT_ERR_UNSUPPORTED,
            "%s: the tokenizer's pair encoding is not [special] question [special] context [special]",
            x->where);
    const size_t nq = e->Q.n, nc = e->X.n, n = e->P.n, ctx0 = a + nq + b, fixed = n - nc;
    const long room = (long)max_len - (long)fixed; /* context tokens a window can hold */
    if (room <= 0 || (nc > (size_t)room && room <= stride))
        return ft_fail(
            FT_ERR_CONFIG,
            "%s: the question takes %zu tokens with the special tokens, leaving %ld for the context at "
            "max_length %d%s; raise data.max_length or shorten the question",
            x->where, fixed, room, max_len,
            room > 0 ? " (not more than doc_stride: lower data.doc_stride)" : "");
    const int32_t ctype = nc ? e->P.type_ids[ctx0] : 1;
    size_t start = 0;
    for (;;) {
        const size_t end = start + (size_t)room < nc ? start + (size_t)room : nc, wl = fixed + end - start;
        ft_example ex = {0};
        ft_qa_window w = {.example = xi, .len = (int)wl};
        ex.len = (int)wl;
        ex.cls_label = -100;
        ex.ids = malloc(wl * sizeof *ex.ids);
        ex.type_ids = malloc(wl * sizeof *ex.type_ids);
        w.off_start = malloc(wl * sizeof *w.off_start);
        w.off_end = malloc(wl * sizeof *w.off_end);
        if (!ex.ids || !ex.type_ids || !w.off_start || !w.off_end) {
            free(ex.ids);
            free(ex.type_ids);
            free(w.off_start);
            free(w.off_end);
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) { /* P with the context part replaced by X[start, end) */
            if (i == ctx0)
                for (size_t c = start; c < end; c++, k++) {
                    ex.ids[k] = e->X.ids[c];
                    ex.type_ids[k] = ctype;
                    w.off_start[k] = (int64_t)e->X.offsets[c].start;
                    w.off_end[k] = (int64_t)e->X.offsets[c].end;
                }
            if (i >= ctx0 && i < ctx0 + nc)
                continue;
            ex.ids[k] = e->P.ids[i];
            ex.type_ids[k] = e->P.type_ids[i];
            w.off_start[k] = w.off_end[k] = -1;
            k++;
        }
        if (ctx0 == n) /* no special token after the context */
            for (size_t c = start; c < end; c++, k++) {
                ex.ids[k] = e->X.ids[c];
                ex.type_ids[k] = ctype;
                w.off_start[k] = (int64_t)e->X.offsets[c].start;
                w.off_end[k] = (int64_t)e->X.offsets[c].end;
            }
        if (x->n_answers > 0) {
            const size_t cs = x->answer_start[0], ce = cs + utf8_chars(x->answers[0]);
            span_positions(&w, (int)ctx0, (int)(ctx0 + (end - start)) - 1, cs, ce, &ex.start_pos,
                           &ex.end_pos);
        }
        ft_status s = window_push(ds, f, &ex, &w);
        if (s != FT_OK) {
            free(ex.ids);
            free(ex.type_ids);
            free(w.off_start);
            free(w.off_end);
            return s;
        }
        if (end >= nc)
            break;
        start += (size_t)(room - stride);
    }
    return FT_OK;
}

ft_status ft_qa_features(ft_tokenizer *tok, const ft_qa_set *set, int max_len, int doc_stride, ft_dataset *ds,
                         ft_qa_feats *f) {
    memset(ds, 0, sizeof *ds);
    memset(f, 0, sizeof *f);
    f->set = set;
    f->post = (ft_qa_post_cfg){20, 30, false, 0.0};
    if (max_len < 2 || doc_stride < 0)
        return ft_fail(FT_ERR_CONFIG, "question answering: max_length %d and doc_stride %d are not usable",
                       max_len, doc_stride);
    enc3 e = {0};
    ft_status s = FT_OK;
    for (size_t i = 0; s == FT_OK && i < set->n; i++) {
        const size_t first = f->n;
        s = example_windows(tok, set, i, max_len, doc_stride, &e, ds, f);
        bool found = set->ex[i].n_answers == 0;
        for (size_t w = first; s == FT_OK && w < f->n; w++)
            found |= ds->ex[w].start_pos != 0;
        f->n_cut += !found;
    }
    ft_tok_ids_free(&e.P);
    ft_tok_ids_free(&e.Q);
    ft_tok_ids_free(&e.X);
    if (s != FT_OK) {
        ft_dataset_free(ds);
        ft_qa_feats_free(f);
        return s;
    }
    ds->qa = f;
    return FT_OK;
}
