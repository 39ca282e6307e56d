/* ROUGE-1/2/L/Lsum as rouge-score's RougeScorer (F-measure reported; several references: the best
 * F per type, as score_multi). Tokens are interned to ids so n-grams are byte slices of id arrays. */
#include <stdlib.h>
#include <string.h>

#include "eval/eval_internal.h"
#include "eval/metrics.h"

/* rouge-score's tokenize(): lower(), non-[a-z0-9] runs → space, split, stem tokens longer than 3
 * characters. Python's lower() maps two non-ASCII letters onto ASCII ones: U+212A KELVIN SIGN → 'k'
 * and U+0130 'İ' → 'i' + U+0307; every other non-ASCII character is a separator. */
ft_status ft_rouge_tokenize(const char *text, bool stem, char **buf, size_t *n_tokens) {
    size_t n = strlen(text);
    char *o = malloc(n + 2);
    if (!o)
        return ft_fail(FT_ERR_NOMEM, "rouge: out of memory tokenizing %zu bytes", n);
    size_t w = 0, cnt = 0, start = 0;
    int in_tok = 0, end_after = 0;
    for (size_t i = 0; i <= n;) {
        char c = 0;
        size_t adv = 1;
        if (end_after) { /* the U+0307 that followed the 'i' of a lowered U+0130 ends the token */
            end_after = 0;
            adv = 0;
        } else if (i < n) {
            unsigned char u = (unsigned char)text[i];
            if (u < 0x80) {
                c = (char)u;
                if (c >= 'A' && c <= 'Z')
                    c = (char)(c - 'A' + 'a');
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
                    c = 0;
            } else {
                uint32_t cp = ft_eval_utf8_next((const unsigned char *)text + i, n - i, &adv);
                c = cp == 0x212a ? 'k' : cp == 0x130 ? 'i' : 0;
                end_after = cp == 0x130;
            }
        }
        if (c) {
            if (!in_tok)
                start = w, in_tok = 1;
            o[w++] = c;
        } else if (in_tok) { /* token o[start..w) ends */
            in_tok = 0;
            if (stem && w - start > 3)
                w = start + ft_porter_stem(o + start, w - start, o + start);
            o[w++] = 0;
            cnt++;
        }
        i += adv;
    }
    *buf = o;
    *n_tokens = cnt;
    return FT_OK;
}

typedef struct {
    uint32_t *ids;
    size_t len;
} toks;

/* Tokenize and intern into vocab; the token strings live in *store (freed by the caller). */
static ft_status tok_ids(const char *text, bool stem, ft_emap *vocab, char **store, toks *t) {
    size_t cnt;
    t->ids = NULL;
    t->len = 0;
    FT_TRY(ft_rouge_tokenize(text, stem, store, &cnt));
    t->ids = malloc((cnt + 1) * sizeof *t->ids);
    if (!t->ids)
        return ft_fail(FT_ERR_NOMEM, "rouge: out of memory");
    const char *p = *store;
    for (size_t k = 0; k < cnt; k++) {
        size_t l = strlen(p);
        int64_t *v = ft_emap_get(vocab, p, l, (int64_t)vocab->used);
        if (!v)
            return FT_ERR_NOMEM;
        t->ids[t->len++] = (uint32_t)*v;
        p += l + 1;
    }
    return FT_OK;
}

static double fmeasure(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

static ft_status score_ngrams(const toks *tg, const toks *pr, size_t n, ft_rouge_prf *out) {
    ft_emap tm, pm;
    ft_emap_init(&tm), ft_emap_init(&pm);
    int64_t tc = 0, pc = 0, inter = 0;
    ft_status st = FT_OK;
    for (size_t i = 0; i + n <= tg->len && st == FT_OK; i++, tc++) {
        int64_t *v = ft_emap_get(&tm, tg->ids + i, n * sizeof(uint32_t), 0);
        if (!v)
            st = FT_ERR_NOMEM;
        else
            (*v)++;
    }
    for (size_t i = 0; i + n <= pr->len && st == FT_OK; i++, pc++) {
        int64_t *v = ft_emap_get(&pm, pr->ids + i, n * sizeof(uint32_t), 0);
        if (!v)
            st = FT_ERR_NOMEM;
        else
            (*v)++;
    }
    for (size_t k = 0; k < tm.cap && st == FT_OK; k++) {
        if (!tm.slots[k].key)
            continue;
        int64_t a = tm.slots[k].val, b = ft_emap_find(&pm, tm.slots[k].key, tm.slots[k].len, 0);
        inter += a < b ? a : b;
    }
    ft_emap_free(&tm), ft_emap_free(&pm);
    if (st != FT_OK)
        return st;
    out->p = (double)inter / (double)(pc > 1 ? pc : 1);
    out->r = (double)inter / (double)(tc > 1 ? tc : 1);
    out->f = fmeasure(out->p, out->r);
    return FT_OK;
}

/* LCS table (rows = ref + 1, cols = can + 1), row-major. */
static uint32_t *lcs_table(const toks *ref, const toks *can) {
    size_t R = ref->len + 1, C = can->len + 1;
    uint32_t *t = calloc(R * C, sizeof *t);
    if (!t)
        return NULL;
    for (size_t i = 1; i < R; i++)
        for (size_t j = 1; j < C; j++) {
            if (ref->ids[i - 1] == can->ids[j - 1])
                t[i * C + j] = t[(i - 1) * C + j - 1] + 1;
            else {
                uint32_t a = t[(i - 1) * C + j], b = t[i * C + j - 1];
                t[i * C + j] = a > b ? a : b;
            }
        }
    return t;
}

static ft_status score_lcs(const toks *tg, const toks *pr, ft_rouge_prf *out) {
    memset(out, 0, sizeof *out);
    if (!tg->len || !pr->len)
        return FT_OK;
    /* only the length is needed: two rows suffice */
    size_t C = pr->len + 1;
    uint32_t *prev = calloc(C, sizeof *prev), *cur = calloc(C, sizeof *cur);
    if (!prev || !cur) {
        free(prev), free(cur);
        return ft_fail(FT_ERR_NOMEM, "rouge: out of memory for LCS");
    }
    for (size_t i = 1; i <= tg->len; i++) {
        for (size_t j = 1; j < C; j++)
            cur[j] = tg->ids[i - 1] == pr->ids[j - 1] ? prev[j - 1] + 1 : (prev[j] > cur[j - 1] ? prev[j] : cur[j - 1]);
        uint32_t *t = prev;
        prev = cur, cur = t;
    }
    double l = prev[C - 1];
    free(prev), free(cur);
    out->p = l / (double)pr->len;
    out->r = l / (double)tg->len;
    out->f = fmeasure(out->p, out->r);
    return FT_OK;
}

/* rougeLsum: summary-level LCS over newline-separated sentences (rouge-score's _summary_level_lcs):
 * for each reference sentence, the union of the reference positions in its LCS with every candidate
 * sentence (one LCS each, read back as rouge-score's backtrack does); hits are counted once per
 * token occurrence available on both sides. */
static ft_status score_lsum(const toks *rs, size_t nr, const toks *cs, size_t nc, size_t vocab, ft_rouge_prf *out) {
    memset(out, 0, sizeof *out);
    if (!nr || !nc)
        return FT_OK;
    size_t m = 0, n = 0, maxr = 0;
    for (size_t i = 0; i < nr; i++) {
        m += rs[i].len;
        if (rs[i].len > maxr)
            maxr = rs[i].len;
    }
    for (size_t i = 0; i < nc; i++)
        n += cs[i].len;
    if (!m || !n)
        return FT_OK;
    int64_t *cnt_r = calloc(vocab + 1, sizeof *cnt_r), *cnt_c = calloc(vocab + 1, sizeof *cnt_c);
    unsigned char *in_union = calloc(maxr + 1, 1);
    if (!cnt_r || !cnt_c || !in_union) {
        free(cnt_r), free(cnt_c), free(in_union);
        return ft_fail(FT_ERR_NOMEM, "rouge: out of memory for rougeLsum");
    }
    for (size_t i = 0; i < nr; i++)
        for (size_t k = 0; k < rs[i].len; k++)
            cnt_r[rs[i].ids[k]]++;
    for (size_t i = 0; i < nc; i++)
        for (size_t k = 0; k < cs[i].len; k++)
            cnt_c[cs[i].ids[k]]++;
    int64_t hits = 0;
    ft_status st = FT_OK;
    for (size_t i = 0; i < nr && st == FT_OK; i++) {
        const toks *r = &rs[i];
        memset(in_union, 0, maxr + 1);
        for (size_t c = 0; c < nc; c++) {
            uint32_t *t = lcs_table(r, &cs[c]);
            if (!t) {
                st = ft_fail(FT_ERR_NOMEM, "rouge: out of memory for LCS table");
                break;
            }
            size_t C = cs[c].len + 1, a = r->len, b = cs[c].len;
            while (a > 0 && b > 0) {
                if (r->ids[a - 1] == cs[c].ids[b - 1]) {
                    in_union[a - 1] = 1;
                    a--, b--;
                } else if (t[a * C + b - 1] > t[(a - 1) * C + b]) {
                    b--;
                } else {
                    a--;
                }
            }
            free(t);
        }
        for (size_t k = 0; k < r->len && st == FT_OK; k++) {
            uint32_t id = r->ids[k];
            if (in_union[k] && cnt_c[id] > 0 && cnt_r[id] > 0) {
                hits++;
                cnt_c[id]--;
                cnt_r[id]--;
            }
        }
    }
    free(cnt_r), free(cnt_c), free(in_union);
    if (st != FT_OK)
        return st;
    out->r = (double)hits / (double)m;
    out->p = (double)hits / (double)n;
    out->f = fmeasure(out->p, out->r);
    return FT_OK;
}

/* Sentences for rougeLsum: text.split("\n") without the empty strings, each tokenized. */
static ft_status sentences(const char *text, bool stem, ft_emap *vocab, char ***stores, toks **ts, size_t *n) {
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == '\n';
    *stores = calloc(cap, sizeof **stores);
    *ts = calloc(cap, sizeof **ts);
    *n = 0;
    if (!*stores || !*ts)
        return ft_fail(FT_ERR_NOMEM, "rouge: out of memory");
    const char *p = text;
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (l) {
            char *s = malloc(l + 1);
            if (!s)
                return ft_fail(FT_ERR_NOMEM, "rouge: out of memory");
            memcpy(s, p, l);
            s[l] = 0;
            ft_status st = tok_ids(s, stem, vocab, &(*stores)[*n], &(*ts)[*n]);
            free(s);
            (*n)++;
            if (st != FT_OK)
                return st;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    return FT_OK;
}

static void free_sents(char **stores, toks *ts, size_t n) {
    for (size_t i = 0; stores && i < n; i++)
        free(stores[i]);
    for (size_t i = 0; ts && i < n; i++)
        free(ts[i].ids);
    free(stores);
    free(ts);
}

ft_status ft_rouge_pair(const char *target, const char *prediction, bool stem, ft_rouge_prf out[4]) {
    memset(out, 0, 4 * sizeof *out);
    ft_emap vocab;
    ft_emap_init(&vocab);
    char *ts = NULL, *ps = NULL, **rst = NULL, **cst = NULL;
    toks tt = {0}, pt = {0}, *rsent = NULL, *csent = NULL;
    size_t nr = 0, nc = 0;
    ft_status st = tok_ids(target, stem, &vocab, &ts, &tt);
    if (st == FT_OK)
        st = tok_ids(prediction, stem, &vocab, &ps, &pt);
    if (st == FT_OK)
        st = score_ngrams(&tt, &pt, 1, &out[0]);
    if (st == FT_OK)
        st = score_ngrams(&tt, &pt, 2, &out[1]);
    if (st == FT_OK)
        st = score_lcs(&tt, &pt, &out[2]);
    if (st == FT_OK)
        st = sentences(target, stem, &vocab, &rst, &rsent, &nr);
    if (st == FT_OK)
        st = sentences(prediction, stem, &vocab, &cst, &csent, &nc);
    if (st == FT_OK)
        st = score_lsum(rsent, nr, csent, nc, vocab.used, &out[3]);
    free_sents(rst, rsent, nr);
    free_sents(cst, csent, nc);
    free(tt.ids), free(pt.ids), free(ts), free(ps);
    ft_emap_free(&vocab);
    if (st == FT_ERR_NOMEM && !ft_last_error()[0])
        st = ft_fail(FT_ERR_NOMEM, "rouge: out of memory");
    return st;
}

ft_status ft_metric_rouge(const char *const *preds, size_t n, const char *const *refs, const size_t *off,
                          bool stem, ft_rouge_score *out) {
    memset(out, 0, sizeof *out);
    if (n == 0)
        return ft_fail(FT_ERR_ARG, "rouge: no predictions");
    double sum[4] = {0};
    for (size_t i = 0; i < n; i++) {
        if (off[i + 1] == off[i])
            return ft_fail(FT_ERR_ARG, "rouge: example %zu has no reference", i + 1);
        double best[4] = {-1, -1, -1, -1};
        for (size_t r = off[i]; r < off[i + 1]; r++) {
            ft_rouge_prf s[4];
            FT_TRY(ft_rouge_pair(refs[r], preds[i], stem, s));
            for (int k = 0; k < 4; k++)
                if (s[k].f > best[k])
                    best[k] = s[k].f;
        }
        for (int k = 0; k < 4; k++)
            sum[k] += best[k];
    }
    out->rouge1 = sum[0] / (double)n;
    out->rouge2 = sum[1] / (double)n;
    out->rougeL = sum[2] / (double)n;
    out->rougeLsum = sum[3] / (double)n;
    return FT_OK;
}
