/* Corpus BLEU as sacreBLEU's BLEU.corpus_score: 13a tokenization, n-gram counts clipped by the
 * maximum count over a segment's references, closest reference length (ties to the shorter) for
 * the brevity penalty, smoothing 'exp' by default. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_internal.h"
#include "eval/metrics.h"

void ft_bleu_opts_default(ft_bleu_opts *o) {
    o->max_order = 4;
    o->smooth = FT_BLEU_SMOOTH_EXP;
    o->smooth_value = -1;
    o->tokenize = FT_BLEU_TOK_13A;
    o->effective_order = false;
}

/* A growable byte buffer. */
typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static int sb_reserve(sbuf *b, size_t extra) {
    if (b->n + extra + 1 <= b->cap)
        return 1;
    size_t nc = b->cap ? b->cap : 64;
    while (nc < b->n + extra + 1)
        nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np)
        return 0;
    b->p = np;
    b->cap = nc;
    return 1;
}
static int sb_put(sbuf *b, const char *s, size_t n) {
    if (!sb_reserve(b, n))
        return 0;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 1;
}

/* Python str.replace(from, to) over the whole buffer (non-overlapping, left to right). */
static int replace_all(sbuf *b, const char *from, const char *to) {
    size_t fl = strlen(from), tl = strlen(to);
    if (!strstr(b->p, from))
        return 1;
    sbuf o = {0};
    const char *s = b->p, *hit;
    while ((hit = strstr(s, from))) {
        if (!sb_put(&o, s, (size_t)(hit - s)) || !sb_put(&o, to, tl)) {
            free(o.p);
            return 0;
        }
        s = hit + fl;
    }
    if (!sb_put(&o, s, strlen(s))) {
        free(o.p);
        return 0;
    }
    free(b->p);
    *b = o;
    return 1;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* 13a's first rule: these ASCII symbols get spaces around them. */
static int is_13a_sym(unsigned char c) {
    return (c >= 0x7b && c <= 0x7e) || (c >= 0x5b && c <= 0x60) || (c >= 0x20 && c <= 0x26) ||
           (c >= 0x28 && c <= 0x2b) || (c >= 0x3a && c <= 0x40) || c == '/';
}

/* One regex pass `(X)(Y)` → replacement built from the pair, scanned like re.sub (a match consumes
 * both characters). Working on bytes gives the same result as on code points here: every pattern
 * needs an ASCII character ('.', ',', '-' or a digit) that cannot occur inside a multi-byte one. */
enum pass { P_PUNCT_AFTER_NONDIGIT, P_PUNCT_BEFORE_NONDIGIT, P_DASH_AFTER_DIGIT };
static int regex_pass(sbuf *b, enum pass kind) {
    sbuf o = {0};
    size_t n = b->n;
    const char *s = b->p;
    if (!sb_reserve(&o, n * 2 + 8))
        return 0;
    for (size_t i = 0; i < n;) {
        char c = s[i], d = i + 1 < n ? s[i + 1] : 0;
        int hit = 0;
        if (i + 1 < n) {
            if (kind == P_PUNCT_AFTER_NONDIGIT)
                hit = !is_digit(c) && (d == '.' || d == ',');
            else if (kind == P_PUNCT_BEFORE_NONDIGIT)
                hit = (c == '.' || c == ',') && !is_digit(d);
            else
                hit = is_digit(c) && d == '-';
        }
        if (!hit) {
            o.p[o.n++] = c;
            i++;
            continue;
        }
        if (!sb_reserve(&o, 4)) {
            free(o.p);
            return 0;
        }
        if (kind == P_PUNCT_BEFORE_NONDIGIT) { /* r' \1 \2' */
            o.p[o.n++] = ' ';
            o.p[o.n++] = c;
            o.p[o.n++] = ' ';
            o.p[o.n++] = d;
        } else { /* r'\1 \2 ' */
            o.p[o.n++] = c;
            o.p[o.n++] = ' ';
            o.p[o.n++] = d;
            o.p[o.n++] = ' ';
        }
        i += 2;
        if (!sb_reserve(&o, n - i + 8)) {
            free(o.p);
            return 0;
        }
    }
    o.p[o.n] = 0;
    free(b->p);
    *b = o;
    return 1;
}

/* ' '.join(s.split()) with Python's notion of whitespace. */
static int squeeze_spaces(sbuf *b) {
    sbuf o = {0};
    if (!sb_reserve(&o, b->n + 1))
        return 0;
    const char *s = b->p;
    size_t i = 0;
    while (i < b->n) {
        size_t sp = ft_eval_space_len(s + i);
        if (sp) {
            i += sp;
            continue;
        }
        if (o.n)
            o.p[o.n++] = ' ';
        while (i < b->n && !ft_eval_space_len(s + i))
            o.p[o.n++] = s[i++];
    }
    o.p[o.n] = 0;
    free(b->p);
    *b = o;
    return 1;
}

/* Length of s after Python's rstrip(). */
static size_t rstrip_len(const char *s) {
    size_t n = strlen(s), end = 0, i = 0;
    while (i < n) {
        size_t sp = ft_eval_space_len(s + i);
        if (sp) {
            i += sp;
        } else {
            size_t adv;
            ft_eval_utf8_next((const unsigned char *)s + i, n - i, &adv);
            i += adv;
            end = i;
        }
    }
    return end;
}

ft_status ft_bleu_tokenize_13a(const char *s, char **out) {
    *out = NULL;
    sbuf b = {0};
    size_t n = rstrip_len(s);
    int ok = sb_put(&b, " ", 1) && sb_put(&b, s, n);
    /* mteval-v13a's language-independent part */
    ok = ok && replace_all(&b, "<skipped>", "") && replace_all(&b, "-\n", "") && replace_all(&b, "\n", " ");
    if (ok && strchr(b.p, '&'))
        ok = replace_all(&b, "&quot;", "\"") && replace_all(&b, "&amp;", "&") && replace_all(&b, "&lt;", "<") &&
             replace_all(&b, "&gt;", ">");
    ok = ok && sb_put(&b, " ", 1);
    if (ok) { /* symbols → " c " */
        sbuf o = {0};
        ok = sb_reserve(&o, b.n * 3);
        for (size_t i = 0; ok && i < b.n; i++) {
            unsigned char c = (unsigned char)b.p[i];
            if (is_13a_sym(c)) {
                o.p[o.n++] = ' ';
                o.p[o.n++] = (char)c;
                o.p[o.n++] = ' ';
            } else {
                o.p[o.n++] = (char)c;
            }
        }
        if (ok) {
            o.p[o.n] = 0;
            free(b.p);
            b = o;
        } else {
            free(o.p);
        }
    }
    ok = ok && regex_pass(&b, P_PUNCT_AFTER_NONDIGIT) && regex_pass(&b, P_PUNCT_BEFORE_NONDIGIT) &&
         regex_pass(&b, P_DASH_AFTER_DIGIT) && squeeze_spaces(&b);
    if (!ok) {
        free(b.p);
        return ft_fail(FT_ERR_NOMEM, "bleu: out of memory tokenizing a %zu-byte segment", n);
    }
    *out = b.p;
    return FT_OK;
}

/* A tokenized segment as token ids (interned per segment) so n-grams are byte slices of ids. */
typedef struct {
    char *text;     /* tokenized text, split in place into NUL-terminated tokens */
    uint32_t *ids;
    size_t len;
} seg;

static ft_status tokenize_seg(const char *s, ft_bleu_tok tok, ft_emap *vocab, seg *out) {
    memset(out, 0, sizeof *out);
    if (tok == FT_BLEU_TOK_13A) {
        FT_TRY(ft_bleu_tokenize_13a(s, &out->text));
    } else { /* 'none': the segment is only rstripped, then split on whitespace */
        size_t n = rstrip_len(s);
        sbuf b = {0};
        if (!sb_put(&b, s, n) || !squeeze_spaces(&b)) {
            free(b.p);
            return ft_fail(FT_ERR_NOMEM, "bleu: out of memory");
        }
        out->text = b.p;
    }
    size_t cnt = 0, tl = strlen(out->text);
    for (size_t i = 0; i < tl; i++)
        cnt += out->text[i] == ' ';
    out->ids = malloc((cnt + 1) * sizeof *out->ids);
    if (!out->ids) {
        free(out->text);
        return ft_fail(FT_ERR_NOMEM, "bleu: out of memory");
    }
    char *p = out->text;
    while (*p) {
        char *sp = strchr(p, ' ');
        size_t l = sp ? (size_t)(sp - p) : strlen(p);
        int64_t *v = ft_emap_get(vocab, p, l, (int64_t)vocab->used);
        if (!v) {
            free(out->text);
            free(out->ids);
            return FT_ERR_NOMEM;
        }
        out->ids[out->len++] = (uint32_t)*v;
        p += l;
        if (*p == ' ')
            p++;
    }
    return FT_OK;
}

static void seg_free(seg *s) {
    free(s->text);
    free(s->ids);
}

/* Adds the n-grams (orders 1..max) of s to m, counting occurrences. */
static ft_status count_ngrams(const seg *s, int max_order, ft_emap *m) {
    for (int n = 1; n <= max_order; n++)
        for (size_t i = 0; i + (size_t)n <= s->len; i++) {
            int64_t *v = ft_emap_get(m, s->ids + i, (size_t)n * sizeof(uint32_t), 0);
            if (!v)
                return FT_ERR_NOMEM;
            (*v)++;
        }
    return FT_OK;
}

static double my_log(double x) { return x == 0.0 ? -9999999999.0 : log(x); } /* sacreBLEU's floored log */

/* BLEU.compute_bleu from the corpus statistics. */
static void compute_bleu(ft_bleu_score *r, const ft_bleu_opts *o) {
    int N = o->max_order;
    double sv = o->smooth_value;
    if (sv < 0)
        sv = o->smooth == FT_BLEU_SMOOTH_FLOOR ? 0.1 : 1.0;
    r->bp = 1.0;
    if (r->sys_len < r->ref_len)
        r->bp = r->sys_len > 0 ? exp(1.0 - (double)r->ref_len / (double)r->sys_len) : 0.0;
    r->bleu = 0.0;
    int any = 0;
    for (int n = 0; n < N; n++)
        any |= r->counts[n] != 0;
    if (!any) /* sacreBLEU #141: no matches at all scores 0 */
        return;
    double smooth_mteval = 1.0;
    int eff = N;
    for (int n = 1; n <= N; n++) {
        if (o->smooth == FT_BLEU_SMOOTH_ADD_K && n > 1) {
            r->counts[n - 1] += sv;
            r->totals[n - 1] += sv;
        }
        if (r->totals[n - 1] == 0)
            break;
        if (o->effective_order)
            eff = n;
        if (r->counts[n - 1] == 0) {
            if (o->smooth == FT_BLEU_SMOOTH_EXP) {
                smooth_mteval *= 2;
                r->precisions[n - 1] = 100.0 / (smooth_mteval * r->totals[n - 1]);
            } else if (o->smooth == FT_BLEU_SMOOTH_FLOOR) {
                r->precisions[n - 1] = 100.0 * sv / r->totals[n - 1];
            }
        } else {
            r->precisions[n - 1] = 100.0 * r->counts[n - 1] / r->totals[n - 1];
        }
    }
    double s = 0;
    for (int n = 0; n < eff; n++)
        s += my_log(r->precisions[n]);
    r->bleu = r->bp * exp(s / eff);
}

ft_status ft_metric_bleu(const char *const *hyps, size_t n, const char *const *refs, const size_t *off,
                         const ft_bleu_opts *o, ft_bleu_score *out) {
    memset(out, 0, sizeof *out);
    if (o->max_order < 1 || o->max_order > FT_BLEU_MAX_ORDER)
        return ft_fail(FT_ERR_ARG, "bleu: max n-gram order %d outside 1..%d", o->max_order, FT_BLEU_MAX_ORDER);
    if (n == 0)
        return ft_fail(FT_ERR_ARG, "bleu: no hypotheses");
    out->max_order = o->max_order;
    ft_emap vocab, refmax, tmp, hypc;
    ft_emap_init(&vocab), ft_emap_init(&refmax), ft_emap_init(&tmp), ft_emap_init(&hypc);
    size_t max_refs = 0;
    for (size_t i = 0; i < n; i++)
        if (off[i + 1] - off[i] > max_refs)
            max_refs = off[i + 1] - off[i];
    seg *rs = calloc(max_refs ? max_refs : 1, sizeof *rs);
    if (!rs)
        return ft_fail(FT_ERR_NOMEM, "bleu: out of memory");
    ft_status st = FT_OK;
    for (size_t i = 0; i < n && st == FT_OK; i++) {
        size_t nr = off[i + 1] - off[i];
        if (nr == 0) {
            st = ft_fail(FT_ERR_ARG, "bleu: example %zu has no reference", i + 1);
            break;
        }
        ft_emap_clear(&vocab), ft_emap_clear(&refmax), ft_emap_clear(&hypc);
        seg h;
        size_t got = 0;
        st = tokenize_seg(hyps[i], o->tokenize, &vocab, &h);
        if (st != FT_OK)
            break;
        for (; got < nr && st == FT_OK; got++)
            st = tokenize_seg(refs[off[i] + got], o->tokenize, &vocab, &rs[got]);
        if (st != FT_OK)
            got--;
        /* reference side: each n-gram's maximum count over the references; closest length */
        int64_t best_len = -1, best_diff = -1, hl = (int64_t)h.len;
        for (size_t r = 0; r < got && st == FT_OK; r++) {
            ft_emap_clear(&tmp);
            st = count_ngrams(&rs[r], o->max_order, &tmp);
            for (size_t k = 0; k < tmp.cap && st == FT_OK; k++) {
                if (!tmp.slots[k].key)
                    continue;
                int64_t *v = ft_emap_get(&refmax, tmp.slots[k].key, tmp.slots[k].len, 0);
                if (!v)
                    st = FT_ERR_NOMEM;
                else if (tmp.slots[k].val > *v)
                    *v = tmp.slots[k].val;
            }
            int64_t rl = (int64_t)rs[r].len, d = rl > hl ? rl - hl : hl - rl;
            if (best_diff < 0 || d < best_diff || (d == best_diff && rl < best_len))
                best_diff = d, best_len = rl;
        }
        if (st == FT_OK)
            st = count_ngrams(&h, o->max_order, &hypc);
        for (size_t k = 0; k < hypc.cap && st == FT_OK; k++) {
            const ft_em_slot *sl = &hypc.slots[k];
            if (!sl->key)
                continue;
            size_t order = sl->len / sizeof(uint32_t);
            int64_t rm = ft_emap_find(&refmax, sl->key, sl->len, 0);
            out->totals[order - 1] += (double)sl->val;
            out->counts[order - 1] += (double)(sl->val < rm ? sl->val : rm);
        }
        out->sys_len += hl;
        out->ref_len += best_len;
        seg_free(&h);
        for (size_t r = 0; r < got; r++)
            seg_free(&rs[r]);
        if (st == FT_ERR_NOMEM && !ft_last_error()[0])
            st = ft_fail(FT_ERR_NOMEM, "bleu: out of memory");
    }
    free(rs);
    ft_emap_free(&vocab), ft_emap_free(&refmax), ft_emap_free(&tmp), ft_emap_free(&hypc);
    if (st != FT_OK) {
        memset(out, 0, sizeof *out);
        return st;
    }
    compute_bleu(out, o);
    return FT_OK;
}
