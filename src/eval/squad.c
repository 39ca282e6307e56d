/* SQuAD v1.1 exact match and token F1 (the official evaluate-v1.1.py): normalize both sides
 * (lowercase, drop ASCII punctuation, drop the articles a/an/the as whole words, squeeze
 * whitespace), EM = normalized strings equal, F1 over the bag of tokens; max over gold answers.
 * Unicode case and word characters follow the C.UTF-8 locale (Python's str.lower() and \w) when the
 * system has it, ASCII otherwise. */
#define _GNU_SOURCE
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "eval/eval_internal.h"
#include "eval/metrics.h"

typedef struct {
    uint32_t *cp;   /* normalized code points, tokens separated by one space */
    size_t len;
    size_t *tok_start, *tok_len; /* token spans in cp */
    size_t n_tok;
} normed;

static int is_punct(uint32_t c) { /* Python's string.punctuation */
    return c < 0x80 && c > 0x20 && c != 0x7f && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

static int is_word(uint32_t c, locale_t loc) {
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (c >= 0xdc80 && c <= 0xdcff)
        return 0; /* an undecodable byte */
    return loc ? iswalnum_l((wint_t)c, loc) != 0 : 1;
}

static int is_space_cp(uint32_t c) {
    char b[5] = {0};
    ft_eval_utf8_put(c, b);
    return c < 0xdc80 || c > 0xdcff ? ft_eval_space_len(b) != 0 : 0;
}

static void normed_free(normed *n) {
    free(n->cp);
    free(n->tok_start);
    free(n->tok_len);
    memset(n, 0, sizeof *n);
}

static ft_status normalize(const char *s, locale_t loc, normed *out) {
    memset(out, 0, sizeof *out);
    size_t n = strlen(s);
    /* lower() may expand İ to two code points: 2 per byte is ample */
    uint32_t *a = malloc((2 * n + 1) * sizeof *a), *b = malloc((2 * n + 1) * sizeof *b);
    if (!a || !b) {
        free(a), free(b);
        return ft_fail(FT_ERR_NOMEM, "squad: out of memory normalizing %zu bytes", n);
    }
    size_t la = 0;
    for (size_t i = 0; i < n;) { /* lower(), then drop punctuation */
        size_t adv;
        uint32_t c = ft_eval_utf8_next((const unsigned char *)s + i, n - i, &adv);
        i += adv;
        if (c == 0x130) { /* Python: 'İ'.lower() == 'i' + U+0307 */
            a[la++] = 'i';
            a[la++] = 0x307;
            continue;
        }
        if (c < 0x80) {
            if (c >= 'A' && c <= 'Z')
                c += 'a' - 'A';
        } else if (loc && (c < 0xdc80 || c > 0xdcff)) {
            c = (uint32_t)towlower_l((wint_t)c, loc);
        }
        if (!is_punct(c))
            a[la++] = c;
    }
    /* re.sub(r'\b(a|an|the)\b', ' ', text): matched on the punctuation-free text */
    size_t lb = 0;
    for (size_t i = 0; i < la;) {
        size_t m = 0;
        if ((i == 0 || !is_word(a[i - 1], loc)) && (a[i] == 'a' || a[i] == 't')) {
            static const char *const art[] = {"a", "an", "the"};
            for (int k = 0; k < 3 && !m; k++) {
                size_t al = strlen(art[k]);
                if (i + al > la)
                    continue;
                size_t j = 0;
                while (j < al && a[i + j] == (uint32_t)art[k][j])
                    j++;
                if (j == al && (i + al == la || !is_word(a[i + al], loc)))
                    m = al;
            }
        }
        if (m) {
            b[lb++] = ' ';
            i += m;
        } else {
            b[lb++] = a[i++];
        }
    }
    free(a);
    /* ' '.join(text.split()) */
    out->tok_start = malloc((lb + 1) * sizeof(size_t));
    out->tok_len = malloc((lb + 1) * sizeof(size_t));
    if (!out->tok_start || !out->tok_len) {
        free(b);
        normed_free(out);
        return ft_fail(FT_ERR_NOMEM, "squad: out of memory");
    }
    size_t w = 0;
    for (size_t i = 0; i < lb;) {
        if (is_space_cp(b[i])) {
            i++;
            continue;
        }
        if (w)
            b[w++] = ' ';
        out->tok_start[out->n_tok] = w;
        while (i < lb && !is_space_cp(b[i]))
            b[w++] = b[i++];
        out->tok_len[out->n_tok] = w - out->tok_start[out->n_tok];
        out->n_tok++;
    }
    out->cp = b;
    out->len = w;
    return FT_OK;
}

static locale_t utf8_locale(void) {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    if (!l)
        l = newlocale(LC_CTYPE_MASK, "C.utf8", (locale_t)0);
    return l;
}

ft_status ft_squad_normalize(const char *s, char **out) {
    locale_t loc = utf8_locale();
    normed nm;
    ft_status st = normalize(s, loc, &nm);
    if (loc)
        freelocale(loc);
    if (st != FT_OK)
        return st;
    char *o = malloc(nm.len * 4 + 1);
    if (!o) {
        normed_free(&nm);
        return ft_fail(FT_ERR_NOMEM, "squad: out of memory");
    }
    size_t w = 0;
    for (size_t i = 0; i < nm.len; i++)
        w += ft_eval_utf8_put(nm.cp[i], o + w);
    o[w] = 0;
    normed_free(&nm);
    *out = o;
    return FT_OK;
}

static int same(const normed *x, const normed *y) {
    return x->len == y->len && memcmp(x->cp, y->cp, x->len * sizeof *x->cp) == 0;
}

/* f1_score: common = Counter(pred) & Counter(gold); 0 when nothing is shared. */
static ft_status token_f1(const normed *p, const normed *g, double *f1) {
    *f1 = 0;
    if (!p->n_tok || !g->n_tok)
        return FT_OK;
    ft_emap m;
    ft_emap_init(&m);
    for (size_t i = 0; i < g->n_tok; i++) {
        int64_t *v = ft_emap_get(&m, g->cp + g->tok_start[i], g->tok_len[i] * sizeof(uint32_t), 0);
        if (!v) {
            ft_emap_free(&m);
            return FT_ERR_NOMEM;
        }
        (*v)++;
    }
    int64_t same_n = 0;
    for (size_t i = 0; i < p->n_tok; i++) {
        int64_t *v = ft_emap_get(&m, p->cp + p->tok_start[i], p->tok_len[i] * sizeof(uint32_t), 0);
        if (!v) {
            ft_emap_free(&m);
            return FT_ERR_NOMEM;
        }
        if (*v > 0) {
            same_n++;
            (*v)--;
        }
    }
    ft_emap_free(&m);
    if (same_n == 0)
        return FT_OK;
    double prec = (double)same_n / (double)p->n_tok, rec = (double)same_n / (double)g->n_tok;
    *f1 = 2 * prec * rec / (prec + rec);
    return FT_OK;
}

static ft_status pair(const char *pred, const char *gold, locale_t loc, double *em, double *f1) {
    normed p, g;
    FT_TRY(normalize(pred, loc, &p));
    ft_status st = normalize(gold, loc, &g);
    if (st != FT_OK) {
        normed_free(&p);
        return st;
    }
    *em = same(&p, &g) ? 1.0 : 0.0;
    st = token_f1(&p, &g, f1);
    normed_free(&p);
    normed_free(&g);
    return st;
}

ft_status ft_squad_pair(const char *pred, const char *gold, double *em, double *f1) {
    locale_t loc = utf8_locale();
    ft_status st = pair(pred, gold, loc, em, f1);
    if (loc)
        freelocale(loc);
    return st;
}

ft_status ft_metric_squad(const char *const *preds, size_t n, const char *const *golds, const size_t *off,
                          ft_squad_score *out) {
    memset(out, 0, sizeof *out);
    if (n == 0)
        return ft_fail(FT_ERR_ARG, "squad: no predictions");
    locale_t loc = utf8_locale();
    double em_sum = 0, f1_sum = 0;
    ft_status st = FT_OK;
    for (size_t i = 0; i < n && st == FT_OK; i++) {
        if (off[i + 1] == off[i]) {
            st = ft_fail(FT_ERR_ARG, "squad: example %zu has no gold answer", i + 1);
            break;
        }
        double best_em = 0, best_f1 = 0;
        for (size_t r = off[i]; r < off[i + 1] && st == FT_OK; r++) {
            double em, f1;
            st = pair(preds[i], golds[r], loc, &em, &f1);
            if (st == FT_OK) {
                best_em = em > best_em ? em : best_em;
                best_f1 = f1 > best_f1 ? f1 : best_f1;
            }
        }
        em_sum += best_em;
        f1_sum += best_f1;
    }
    if (loc)
        freelocale(loc);
    if (st != FT_OK)
        return st == FT_ERR_NOMEM && !ft_last_error()[0] ? ft_fail(st, "squad: out of memory") : st;
    out->exact_match = 100.0 * em_sum / (double)n;
    out->f1 = 100.0 * f1_sum / (double)n;
    return FT_OK;
}
