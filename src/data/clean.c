/* data/clean: text cleaning steps (each switchable) and row filters with a count of what each removed. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#include "core/core.h"
#include "data/dataset.h"

/* Growable output buffer; a failed allocation sets oom and later appends do nothing. */
typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->n + n + 1)
            nc *= 2;
        char *x = realloc(b->p, nc);
        if (!x) {
            b->oom = true;
            return;
        }
        b->p = x;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_ch(sbuf *b, char c) { sb_put(b, &c, 1); }
static void sb_cp(sbuf *b, int32_t cp) {
    uint8_t u[4];
    utf8proc_ssize_t n = utf8proc_encode_char(cp, u);
    sb_put(b, (const char *)u, (size_t)n);
}
static char *sb_done(sbuf *b) {
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    if (!b->p)
        sb_put(b, "", 0);
    return b->oom ? NULL : b->p;
}

/* Next code point of s at *i; invalid bytes come back as U+FFFD one byte at a time. */
static int32_t next_cp(const char *s, size_t len, size_t *i) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate((const uint8_t *)s + *i, (utf8proc_ssize_t)(len - *i), &cp);
    if (n <= 0) {
        (*i)++;
        return 0xFFFD;
    }
    *i += (size_t)n;
    return cp;
}

char *ft_data_norm_unicode(const char *s) {
    size_t len = strlen(s), i = 0;
    sbuf b = {0};
    while (i < len) /* make it valid UTF-8 first: NFKC needs that */
        sb_cp(&b, next_cp(s, len, &i));
    char *valid = sb_done(&b);
    if (!valid)
        return NULL;
    uint8_t *r = utf8proc_NFKC((const uint8_t *)valid);
    free(valid);
    return (char *)r; /* malloc'd by utf8proc */
}

char *ft_data_norm_whitespace(const char *s) {
    size_t len = strlen(s), i = 0;
    sbuf b = {0};
    int pend_space = 0, pend_nl = 0; /* collapsed separators waiting for the next visible character */
    while (i < len) {
        int32_t cp = next_cp(s, len, &i);
        if (cp == '\r')
            continue;
        if (cp == '\n' || cp == 0x2028 || cp == 0x2029 || cp == 0x85) {
            pend_nl++;
            continue;
        }
        utf8proc_category_t k = utf8proc_category(cp);
        if (cp == '\t' || k == UTF8PROC_CATEGORY_ZS) {
            pend_space = 1;
            continue;
        }
        /* control (Cc) and format (Cf: zero-width, BOM, bidi marks) characters carry no text */
        if (k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CS)
            continue;
        if (b.n > 0) {
            if (pend_nl >= 2)
                sb_put(&b, "\n\n", 2);
            else if (pend_nl == 1)
                sb_ch(&b, '\n');
            else if (pend_space)
                sb_ch(&b, ' ');
        }
        pend_nl = pend_space = 0;
        sb_cp(&b, cp);
    }
    return sb_done(&b);
}

/* Named entities common in mail and web text; numeric ones are decoded in general. */
static const struct {
    const char *name;
    int32_t cp;
} entities[] = {{"amp", '&'},     {"lt", '<'},       {"gt", '>'},      {"quot", '"'},    {"apos", '\''},
                {"nbsp", 0xA0},   {"copy", 0xA9},    {"reg", 0xAE},    {"trade", 0x2122}, {"mdash", 0x2014},
                {"ndash", 0x2013}, {"hellip", 0x2026}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C},
                {"rdquo", 0x201D}, {"euro", 0x20AC},  {"pound", 0xA3},  {"eacute", 0xE9}, {"bull", 0x2022}};

static bool tag_is(const char *p, const char *name) {
    size_t n = strlen(name);
    return !strncasecmp(p, name, n) && !isalnum((unsigned char)p[n]);
}

/* "<name" / "</name" / "<!" followed by a blank, '>' or '/': a tag; "<joe@example.com>" is not. */
static bool looks_like_tag(const char *p) {
    if (p[1] == '!')
        return true;
    const char *q = p + 1 + (p[1] == '/');
    if (!isalpha((unsigned char)*q))
        return false;
    while (isalnum((unsigned char)*q))
        q++;
    return *q == '>' || *q == '/' || isspace((unsigned char)*q);
}

char *ft_data_strip_html(const char *s) {
    sbuf b = {0};
    const char *p = s;
    while (*p) {
        if (p[0] == '<' && !strncmp(p, "<!--", 4)) {
            const char *e = strstr(p + 4, "-->");
            p = e ? e + 3 : p + strlen(p);
            continue;
        }
        if (p[0] == '<' && looks_like_tag(p)) {
            const char *e = strchr(p, '>');
            if (!e) { /* not a tag after all */
                sb_ch(&b, *p++);
                continue;
            }
            const char *name = p + 1 + (p[1] == '/');
            bool block = tag_is(name, "p") || tag_is(name, "br") || tag_is(name, "div") || tag_is(name, "tr") ||
                         tag_is(name, "li") || tag_is(name, "h1") || tag_is(name, "h2") || tag_is(name, "h3") ||
                         tag_is(name, "table");
            if (p[1] != '/' && (tag_is(name, "script") || tag_is(name, "style"))) {
                const char *close = strcasestr(e, tag_is(name, "script") ? "</script" : "</style");
                const char *ce = close ? strchr(close, '>') : NULL;
                p = ce ? ce + 1 : p + strlen(p);
                continue;
            }
            sb_ch(&b, block ? '\n' : ' ');
            p = e + 1;
            continue;
        }
        if (*p == '&') {
            const char *semi = strchr(p, ';');
            if (semi && semi - p <= 10) {
                int32_t cp = -1;
                if (p[1] == '#') {
                    char *end;
                    long v = (p[2] == 'x' || p[2] == 'X') ? strtol(p + 3, &end, 16) : strtol(p + 2, &end, 10);
                    if (end == semi && v > 0 && v < 0x110000 && !(v >= 0xD800 && v < 0xE000))
                        cp = (int32_t)v;
                } else
                    for (size_t k = 0; k < sizeof entities / sizeof *entities; k++)
                        if ((size_t)(semi - p - 1) == strlen(entities[k].name) &&
                            !strncmp(p + 1, entities[k].name, (size_t)(semi - p - 1)))
                            cp = entities[k].cp;
                if (cp >= 0) {
                    sb_cp(&b, cp);
                    p = semi + 1;
                    continue;
                }
            }
        }
        sb_ch(&b, *p++);
    }
    return sb_done(&b);
}

/* "Name: value" with an RFC 822 field name (printable ASCII, no space or colon), or the mbox "From " line. */
static bool header_line(const char *p, const char *e) {
    if (e - p >= 5 && !strncmp(p, "From ", 5))
        return true;
    const char *q = p;
    while (q < e && *q > 32 && *q < 127 && *q != ':')
        q++;
    return q > p && q < e && *q == ':';
}

char *ft_data_strip_email_headers(const char *s) {
    /* The block counts as mail headers only if its first two lines are header lines. */
    const char *p = s, *subject = NULL, *subj_end = NULL;
    int n_head = 0;
    bool in_subject = false;
    for (;;) {
        const char *e = strchr(p, '\n');
        if (!e)
            e = p + strlen(p);
        const char *le = (e > p && e[-1] == '\r') ? e - 1 : e;
        if (le == p)
            break; /* blank line: end of headers */
        bool cont = (*p == ' ' || *p == '\t') && n_head > 0;
        if (!cont && !header_line(p, le)) {
            if (n_head < 2)
                return strdup(s);
            break;
        }
        if (!cont) {
            n_head++;
            in_subject = !subject && !strncasecmp(p, "Subject:", 8);
            if (in_subject) {
                subject = p + 8;
                while (subject < le && (*subject == ' ' || *subject == '\t'))
                    subject++;
                subj_end = le;
            }
        } else if (in_subject)
            subj_end = le; /* folded subject continues */
        if (!*e)
            return n_head >= 2 ? strdup("") : strdup(s);
        p = e + 1;
    }
    if (n_head < 2)
        return strdup(s);
    const char *body = strchr(p, '\n');
    body = body ? body + 1 : p + strlen(p);
    sbuf b = {0};
    if (subject) {
        for (const char *q = subject; q < subj_end; q++)
            if (*q != '\r' && *q != '\n')
                sb_ch(&b, *q);
        sb_put(&b, "\n\n", 2);
    }
    sb_put(&b, body, strlen(body));
    return sb_done(&b);
}

bool ft_data_is_garbled(const char *s) {
    size_t len = strlen(s), i = 0, total = 0, bad = 0, letters = 0, visible = 0;
    while (i < len) {
        size_t at = i;
        int32_t cp = next_cp(s, len, &i);
        if (cp == 0xFFFD && (i - at == 1 || !strncmp(s + at, "\xEF\xBF\xBD", 3)))
            bad++;
        total++;
        utf8proc_category_t k = utf8proc_category(cp);
        if (k == UTF8PROC_CATEGORY_CC && cp != '\n' && cp != '\t' && cp != '\r')
            bad++;
        if (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO)
            letters++;
        if (k != UTF8PROC_CATEGORY_ZS && k != UTF8PROC_CATEGORY_CC)
            visible++;
    }
    if (visible == 0)
        return true; /* empty or blank */
    /* mostly replacement/control characters, or (for longer rows) hardly any letters at all */
    return bad * 10 > total || (visible >= 20 && letters * 4 < visible);
}

/* ---- MinHash over word 3-grams: sig[i] = min over shingles x of h_i(x), h_i(x) = mix(x ^ salt_i). ---- */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void ft_data_minhash(const char *s, uint64_t sig[128]) {
    for (int i = 0; i < 128; i++)
        sig[i] = UINT64_MAX;
    uint64_t w[3] = {0, 0, 0};
    int nw = 0;
    const char *p = s;
    for (;;) {
        while (*p && !isalnum((unsigned char)*p) && !((unsigned char)*p & 0x80))
            p++;
        if (!*p)
            break;
        uint64_t h = 1469598103934665603ULL; /* FNV-1a of the lower-cased word */
        while (*p && (isalnum((unsigned char)*p) || ((unsigned char)*p & 0x80)))
            h = (h ^ (uint64_t)(unsigned char)tolower((unsigned char)*p++)) * 1099511628211ULL;
        w[0] = w[1];
        w[1] = w[2];
        w[2] = h;
        if (++nw < 3)
            continue;
        uint64_t x = mix64(w[0] * 3 + mix64(w[1] * 5 + mix64(w[2])));
        for (int i = 0; i < 128; i++) {
            uint64_t v = mix64(x ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1)));
            if (v < sig[i])
                sig[i] = v;
        }
    }
    if (nw > 0 && nw < 3) { /* one or two words: the whole row is the single shingle */
        uint64_t x = mix64(w[1] * 3 + mix64(w[2]) + (uint64_t)nw);
        for (int i = 0; i < 128; i++)
            sig[i] = mix64(x ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1)));
    }
}

double ft_data_minhash_sim(const uint64_t a[128], const uint64_t b[128]) {
    int eq = 0;
    for (int i = 0; i < 128; i++)
        eq += a[i] == b[i];
    return eq / 128.0;
}

/* ---- the row pipeline ---- */
static const char *row_text(const ft_data_rec *r) { return r->text ? r->text : r->prompt; }

typedef char *(*text_fn)(const char *);

/* Apply fn to every text-bearing field of a row; *changed when any field changed. */
static ft_status apply(ft_data_rec *r, text_fn fn, bool *changed) {
    char **f[5] = {&r->text, &r->text_pair, &r->prompt, &r->response, NULL};
    *changed = false;
    for (int k = 0; k < 4; k++) {
        if (!*f[k])
            continue;
        char *n = fn(*f[k]);
        if (!n)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        *changed |= strcmp(n, *f[k]) != 0;
        free(*f[k]);
        *f[k] = n;
    }
    for (int m = 0; m < r->n_msgs; m++) {
        char *n = fn(r->msgs[m].content);
        if (!n)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        *changed |= strcmp(n, r->msgs[m].content) != 0;
        free(r->msgs[m].content);
        r->msgs[m].content = n;
    }
    return FT_OK;
}

/* The text a row is compared on for duplicates and lengths: all its fields joined. */
static char *row_key(const ft_data_rec *r) {
    sbuf b = {0};
    const char *f[4] = {r->text, r->text_pair, r->prompt, r->response};
    for (int k = 0; k < 4; k++)
        if (f[k]) {
            sb_put(&b, f[k], strlen(f[k]));
            sb_ch(&b, '\x1f');
        }
    for (int m = 0; m < r->n_msgs; m++) {
        sb_put(&b, r->msgs[m].content, strlen(r->msgs[m].content));
        sb_ch(&b, '\x1f');
    }
    return sb_done(&b);
}

static size_t utf8_chars(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

typedef struct {
    uint64_t h;
    size_t i;
} hidx;
static int hidx_cmp(const void *a, const void *b) {
    const hidx *x = a, *y = b;
    return x->h < y->h ? -1 : x->h > y->h ? 1 : (x->i > y->i) - (x->i < y->i);
}

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Near duplicates: LSH with 32 bands of 4 rows finds candidate pairs (rows sharing a band); a candidate
 * whose MinHash similarity reaches thr drops the later row if the earlier one is kept. */
static ft_status near_dups(char **keys, size_t n, double thr, bool *drop) {
    uint64_t *sig = malloc(n * 128 * sizeof *sig);
    hidx *hb = malloc((n ? n : 1) * sizeof *hb);
    size_t *pairs = NULL, np = 0, pcap = 0;
    ft_status s = FT_OK;
    if (!sig || !hb) {
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        ft_data_minhash(keys[i], sig + i * 128);
    for (int band = 0; band < 32; band++) {
        for (size_t i = 0; i < n; i++) {
            const uint64_t *q = sig + i * 128 + band * 4;
            hb[i].h = mix64(q[0] ^ mix64(q[1] ^ mix64(q[2] ^ mix64(q[3] + (uint64_t)band))));
            hb[i].i = i;
        }
        qsort(hb, n, sizeof *hb, hidx_cmp);
        for (size_t a = 0; a < n;) {
            size_t e = a + 1;
            while (e < n && hb[e].h == hb[a].h)
                e++;
            /* compare each member with up to 32 earlier members of its bucket (bounded work) */
            for (size_t j = a + 1; j < e; j++)
                for (size_t k = a; k < j && k < a + 32; k++)
                    if (ft_data_minhash_sim(sig + hb[k].i * 128, sig + hb[j].i * 128) >= thr) {
                        if (np + 2 > pcap) {
                            pcap = pcap ? 2 * pcap : 256;
                            size_t *x = realloc(pairs, pcap * sizeof *x);
                            if (!x) {
                                s = ft_fail(FT_ERR_NOMEM, "out of memory");
                                goto out;
                            }
                            pairs = x;
                        }
                        pairs[np++] = hb[j].i; /* later */
                        pairs[np++] = hb[k].i; /* earlier */
                    }
            a = e;
        }
    }
    /* in row order: a row goes when some earlier, kept row is its near duplicate */
    size_t npair = np / 2;
    hidx *byj = malloc((npair ? npair : 1) * sizeof *byj);
    if (!byj) {
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < npair; k++) {
        byj[k].h = pairs[2 * k];
        byj[k].i = pairs[2 * k + 1];
    }
    qsort(byj, npair, sizeof *byj, hidx_cmp);
    for (size_t k = 0; k < npair; k++)
        if (!drop[byj[k].i])
            drop[byj[k].h] = true;
    free(byj);
out:
    free(sig);
    free(hb);
    free(pairs);
    return s;
}

ft_status ft_data_clean(const ft_data_cfg *c, ft_data_recs *rs, ft_data_clean_stats *st) {
    memset(st, 0, sizeof *st);
    st->in = rs->n;
    ft_status s = FT_OK;
    bool *drop = calloc(rs->n ? rs->n : 1, sizeof *drop);
    char **keys = calloc(rs->n ? rs->n : 1, sizeof *keys);
    if (!drop || !keys) {
        free(drop);
        free(keys);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < rs->n && s == FT_OK; i++) {
        ft_data_rec *r = &rs->r[i];
        bool ch;
        /* garbled is judged on the raw bytes, before normalization hides invalid UTF-8 */
        if (c->drop_garbled) {
            const char *t = row_text(r);
            bool g = t ? ft_data_is_garbled(t) : r->n_msgs == 0;
            for (int m = 0; !g && m < r->n_msgs; m++)
                g = ft_data_is_garbled(r->msgs[m].content) && !strcmp(r->msgs[m].role, "assistant");
            if (g) {
                drop[i] = true;
                st->garbled++;
                continue;
            }
        }
        if (c->clean_email_headers) {
            char *t = r->text;
            if (t) {
                char *n = ft_data_strip_email_headers(t);
                if (!n) {
                    s = ft_fail(FT_ERR_NOMEM, "out of memory");
                    break;
                }
                st->changed_headers += strcmp(n, t) != 0;
                free(t);
                r->text = n;
            }
        }
        if (c->clean_html && (s = apply(r, ft_data_strip_html, &ch)) == FT_OK)
            st->changed_html += ch;
        if (s == FT_OK && c->clean_unicode && (s = apply(r, ft_data_norm_unicode, &ch)) == FT_OK)
            st->changed_unicode += ch;
        if (s == FT_OK && c->clean_whitespace && (s = apply(r, ft_data_norm_whitespace, &ch)) == FT_OK)
            st->changed_whitespace += ch;
        if (s != FT_OK)
            break;
        if (c->drop_garbled) { /* cleaning may have left nothing */
            const char *t = row_text(r);
            if (t && ft_data_is_garbled(t)) {
                drop[i] = true;
                st->garbled++;
                continue;
            }
        }
        keys[i] = row_key(r);
        if (!keys[i]) {
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
            break;
        }
        size_t nc = utf8_chars(keys[i]);
        if (c->min_chars > 0 && nc < (size_t)c->min_chars) {
            drop[i] = true;
            st->too_short++;
        } else if (c->max_chars > 0 && nc > (size_t)c->max_chars) {
            drop[i] = true;
            st->too_long++;
        }
    }
    if (s == FT_OK && c->dedup_exact) {
        hidx *h = malloc((rs->n ? rs->n : 1) * sizeof *h);
        size_t m = 0;
        if (!h)
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; h && i < rs->n; i++)
            if (!drop[i])
                h[m++] = (hidx){fnv(keys[i]), i};
        if (h)
            qsort(h, m, sizeof *h, hidx_cmp);
        for (size_t a = 0; h && a < m; a++)
            for (size_t b = a + 1; b < m && h[b].h == h[a].h; b++)
                if (!drop[h[b].i] && !drop[h[a].i] && !strcmp(keys[h[a].i], keys[h[b].i])) {
                    drop[h[b].i] = true; /* sorted by (hash, row): the earlier row stays */
                    st->dup_exact++;
                }
        free(h);
    }
    if (s == FT_OK && c->dedup_near) {
        size_t m = 0;
        size_t *map = malloc((rs->n ? rs->n : 1) * sizeof *map);
        char **k2 = malloc((rs->n ? rs->n : 1) * sizeof *k2);
        bool *d2 = calloc(rs->n ? rs->n : 1, sizeof *d2);
        if (!map || !k2 || !d2)
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; s == FT_OK && i < rs->n; i++)
            if (!drop[i]) {
                map[m] = i;
                k2[m++] = keys[i];
            }
        double thr = c->near_dup_threshold > 0 ? c->near_dup_threshold : 0.8;
        if (s == FT_OK)
            s = near_dups(k2, m, thr, d2);
        for (size_t j = 0; s == FT_OK && j < m; j++)
            if (d2[j]) {
                drop[map[j]] = true;
                st->dup_near++;
            }
        free(map);
        free(k2);
        free(d2);
    }
    size_t w = 0;
    for (size_t i = 0; i < rs->n; i++) {
        free(keys[i]);
        if (s == FT_OK && drop[i])
            ft_data_rec_free(&rs->r[i]);
        else
            rs->r[w++] = rs->r[i];
    }
    rs->n = w;
    st->out = w;
    free(keys);
    free(drop);
    return s;
}

void ft_data_clean_print(const ft_data_clean_stats *st, const char *name, FILE *f) {
    fprintf(f, "cleaning %s: %zu rows in, %zu out\n", name, st->in, st->out);
    fprintf(f, "  changed: email headers %zu, html %zu, unicode %zu, whitespace %zu\n", st->changed_headers,
            st->changed_html, st->changed_unicode, st->changed_whitespace);
    fprintf(f, "  removed: empty/garbled %zu, too short %zu, too long %zu, exact duplicates %zu, near duplicates %zu\n",
            st->garbled, st->too_short, st->too_long, st->dup_exact, st->dup_near);
}
