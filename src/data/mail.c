/* data/mail: raw RFC 822 / MIME mail -> UTF-8 text (Subject + body), with the declared charsets decoded
 * through iconv; and a reader for a directory of mails grouped in labelled subdirectories. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#include "core/core.h"
#include "data/dataset.h"

typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} mbuf;

static void mb_put(mbuf *b, const char *s, size_t n) {
    if (b->oom || n == 0)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
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

static bool valid_utf8(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0)
            return false;
        i += (size_t)k;
    }
    return true;
}

/* windows-1252 0x80..0x9F (the rest of the byte range is Latin-1); 0 = undefined there. */
static const uint16_t cp1252_hi[32] = {0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
                                       0x2039, 0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
                                       0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178};

static void put_cp(mbuf *b, int32_t cp) {
    uint8_t u[4];
    utf8proc_ssize_t k = utf8proc_encode_char(cp, u);
    mb_put(b, (const char *)u, (size_t)k);
}

static void from_cp1252(mbuf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i];
        if (c < 0x80)
            mb_put(b, s + i, 1);
        else
            put_cp(b, c < 0xA0 ? (cp1252_hi[c - 0x80] ? cp1252_hi[c - 0x80] : 0xFFFD) : (int32_t)c);
    }
}

/* s[0..n) in charset -> UTF-8 appended to b. Returns false if the charset is unknown to iconv (nothing
 * appended then); bytes iconv rejects become U+FFFD. */
static bool via_iconv(mbuf *b, const char *charset, const char *s, size_t n) {
    iconv_t cd = iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1)
        return false;
    char out[4096];
    char *in = (char *)s;
    size_t left = n;
    while (left > 0 && !b->oom) {
        char *o = out;
        size_t ol = sizeof out;
        size_t r = iconv(cd, &in, &left, &o, &ol);
        mb_put(b, out, (size_t)(o - out));
        if (r == (size_t)-1 && errno != E2BIG) { /* EILSEQ / EINVAL: skip one byte */
            put_cp(b, 0xFFFD);
            in++;
            left--;
        }
    }
    iconv(cd, NULL, NULL, NULL, NULL);
    iconv_close(cd);
    return true;
}

/* Decode s in the declared charset (may be NULL); *recoded when non-UTF-8 bytes were converted. */
static void decode_charset(mbuf *b, const char *charset, const char *s, size_t n, bool *recoded) {
    if (valid_utf8(s, n)) { /* ASCII, UTF-8, or a declared 8-bit charset used only for its ASCII part */
        bool ascii = true;
        for (size_t i = 0; i < n && ascii; i++)
            ascii = !((unsigned char)s[i] & 0x80);
        if (ascii || !charset || !strcasecmp(charset, "utf-8") || !strcasecmp(charset, "utf8") ||
            !strcasecmp(charset, "us-ascii") || !strncasecmp(charset, "default", 7)) {
            mb_put(b, s, n);
            return;
        }
    }
    *recoded = true;
    /* Latin-1 mail is in practice windows-1252 (what browsers and mail readers do, WHATWG encoding spec) */
    if (!charset || !strcasecmp(charset, "iso-8859-1") || !strcasecmp(charset, "latin1") ||
        !strcasecmp(charset, "windows-1252") || !strcasecmp(charset, "us-ascii") || !strcasecmp(charset, "utf-8") ||
        !strncasecmp(charset, "default", 7) || !strcasecmp(charset, "iso8859-1")) {
        from_cp1252(b, s, n);
        return;
    }
    if (!via_iconv(b, charset, s, n))
        from_cp1252(b, s, n);
}

/* ---- transfer encodings ---- */
static int hexv(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static size_t qp_decode(const char *s, size_t n, char *o, bool underscore_space) {
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=' && i + 1 < n && (s[i + 1] == '\n' || s[i + 1] == '\r')) { /* soft line break */
            i++;
            if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
                i++;
        } else if (s[i] == '=' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            o[w++] = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            i += 2;
        } else
            o[w++] = underscore_space && s[i] == '_' ? ' ' : s[i];
    }
    return w;
}

static int b64v(int c) {
    return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
           : c == '+' ? 62 : c == '/' ? 63 : -1;
}

static size_t b64_decode(const char *s, size_t n, char *o) {
    uint32_t acc = 0;
    int bits = 0;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64v((unsigned char)s[i]);
        if (v < 0)
            continue; /* whitespace, padding */
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[w++] = (char)((acc >> bits) & 0xFF);
        }
    }
    return w;
}

/* ---- headers ---- */
typedef struct {
    const char *hdr, *hdr_end, *body, *end;
} part_t;

static void split_part(const char *s, const char *end, part_t *p) {
    p->hdr = s;
    p->end = end;
    const char *q = s;
    while (q < end) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        if (!nl) {
            q = end;
            break;
        }
        const char *le = nl > q && nl[-1] == '\r' ? nl - 1 : nl;
        if (le == q) { /* blank line */
            p->hdr_end = q;
            p->body = nl + 1;
            return;
        }
        q = nl + 1;
    }
    p->hdr_end = q;
    p->body = end;
}

/* The unfolded value of header `name` (malloc'd) or NULL. */
static char *header(const part_t *p, const char *name) {
    size_t nl = strlen(name);
    for (const char *q = p->hdr; q < p->hdr_end;) {
        const char *e = memchr(q, '\n', (size_t)(p->hdr_end - q));
        e = e ? e : p->hdr_end;
        if ((size_t)(e - q) > nl && !strncasecmp(q, name, nl) && q[nl] == ':') {
            mbuf b = {0};
            const char *v = q + nl + 1;
            for (;;) {
                while (v < e && (*v == ' ' || *v == '\t'))
                    v++;
                const char *ve = e > v && e[-1] == '\r' ? e - 1 : e;
                if (b.n)
                    mb_put(&b, " ", 1);
                mb_put(&b, v, (size_t)(ve - v));
                if (e + 1 >= p->hdr_end || (e[1] != ' ' && e[1] != '\t'))
                    break;
                v = e + 1; /* folded continuation */
                const char *ne = memchr(v, '\n', (size_t)(p->hdr_end - v));
                e = ne ? ne : p->hdr_end;
            }
            if (b.oom) {
                free(b.p);
                return NULL;
            }
            return b.p ? b.p : strdup("");
        }
        q = e + 1;
    }
    return NULL;
}

/* A parameter of a structured header value (charset=, boundary=), malloc'd, quotes removed. */
static char *param(const char *v, const char *name) {
    size_t nl = strlen(name);
    for (const char *q = v; q && *q; q++) {
        if (strncasecmp(q, name, nl) || q[nl] != '=' || (q > v && (isalnum((unsigned char)q[-1]) || q[-1] == '-')))
            continue;
        const char *s = q + nl + 1, *e;
        if (*s == '"') {
            s++;
            e = strchr(s, '"');
            e = e ? e : s + strlen(s);
        } else
            for (e = s; *e && *e != ';' && !isspace((unsigned char)*e); e++) {
            }
        return strndup(s, (size_t)(e - s));
    }
    return NULL;
}

/* RFC 2047: =?charset?B|Q?text?= words decoded; other bytes through the fallback charset. */
static void decode_words(mbuf *b, const char *v, const char *fallback, bool *recoded) {
    const char *p = v;
    bool last_word = false;
    while (*p) {
        const char *w = strstr(p, "=?");
        const char *q1 = w ? strchr(w + 2, '?') : NULL;
        const char *q2 = q1 && q1[1] && q1[2] == '?' ? q1 + 2 : NULL;
        const char *end = q2 ? strstr(q2 + 1, "?=") : NULL;
        if (!end) {
            decode_charset(b, fallback, p, strlen(p), recoded);
            return;
        }
        /* whitespace between two encoded words is dropped */
        const char *gap = p;
        while (gap < w && isspace((unsigned char)*gap))
            gap++;
        if (!(last_word && gap == w))
            decode_charset(b, fallback, p, (size_t)(w - p), recoded);
        char *cs = strndup(w + 2, (size_t)(q1 - w - 2));
        char *star = cs ? strchr(cs, '*') : NULL; /* RFC 2231 language suffix */
        if (star)
            *star = 0;
        size_t tl = (size_t)(end - q2 - 1);
        char *tmp = malloc(tl + 1);
        if (cs && tmp) {
            size_t n = (q1[1] == 'B' || q1[1] == 'b') ? b64_decode(q2 + 1, tl, tmp) : qp_decode(q2 + 1, tl, tmp, true);
            bool dummy = false;
            decode_charset(b, cs, tmp, n, &dummy);
            *recoded |= dummy;
        } else
            b->oom = true;
        free(cs);
        free(tmp);
        p = end + 2;
        last_word = true;
    }
}

/* The text of one MIME entity: text/plain preferred over text/html inside multiparts. want_html picks
 * the html pass. Appends to b; returns whether anything was found. */
static bool entity_text(const part_t *p, mbuf *b, bool want_html, bool *recoded, int depth) {
    char *ct = header(p, "Content-Type");
    char *cte = header(p, "Content-Transfer-Encoding");
    bool found = false;
    if (ct && !strncasecmp(ct, "multipart/", 10) && depth < 8) {
        char *bd = param(ct, "boundary");
        if (bd) {
            size_t bl = strlen(bd);
            const char *q = p->body, *start = NULL;
            while (q < p->end) {
                const char *nl = memchr(q, '\n', (size_t)(p->end - q));
                const char *le = nl ? nl : p->end;
                if (le - q >= (ptrdiff_t)(bl + 2) && q[0] == '-' && q[1] == '-' && !strncmp(q + 2, bd, bl)) {
                    if (start) {
                        part_t sub;
                        split_part(start, q, &sub);
                        if (entity_text(&sub, b, want_html, recoded, depth + 1))
                            found = true;
                        if (found && !want_html)
                            break; /* the first text/plain part is the message */
                    }
                    if (le - q >= (ptrdiff_t)(bl + 4) && q[bl + 2] == '-' && q[bl + 3] == '-')
                        break; /* closing delimiter */
                    start = nl ? nl + 1 : p->end;
                }
                q = nl ? nl + 1 : p->end;
            }
            free(bd);
        }
    } else if (!ct || !strncasecmp(ct, want_html ? "text/html" : "text/plain", want_html ? 9 : 10) ||
               (!want_html && depth == 0 && strncasecmp(ct, "text/", 5) == 0)) {
        size_t n = (size_t)(p->end - p->body);
        char *raw = malloc(n + 1), *cs = ct ? param(ct, "charset") : NULL;
        if (raw) {
            if (cte && !strncasecmp(cte, "quoted-printable", 16))
                n = qp_decode(p->body, n, raw, false);
            else if (cte && !strncasecmp(cte, "base64", 6))
                n = b64_decode(p->body, n, raw);
            else
                memcpy(raw, p->body, n);
            if (b->n && b->p[b->n - 1] != '\n')
                mb_put(b, "\n", 1);
            decode_charset(b, cs, raw, n, recoded);
            found = true;
        } else
            b->oom = true;
        free(raw);
        free(cs);
    }
    free(ct);
    free(cte);
    return found;
}

/* A mail's parts, decoded: the Subject (whole_header false; *has_subject = the header exists) or the whole
 * header block (whole_header) into head, the body text (text/plain, else text/html) into body. */
static void mail_decode(const char *raw, size_t len, bool whole_header, mbuf *head, bool *has_subject,
                        mbuf *body, bool *recoded) {
    *recoded = false;
    *has_subject = false;
    part_t top;
    split_part(raw, raw + len, &top);
    char *ct = header(&top, "Content-Type");
    char *top_cs = ct ? param(ct, "charset") : NULL;
    free(ct);
    if (!whole_header) {
        char *subj = header(&top, "Subject");
        if (subj) {
            decode_words(head, subj, top_cs, recoded);
            *has_subject = true;
        }
        free(subj);
    } else {
        char *h = strndup(top.hdr, (size_t)(top.hdr_end - top.hdr));
        if (h)
            decode_words(head, h, top_cs, recoded);
        else
            head->oom = true;
        free(h);
    }
    if (!entity_text(&top, body, false, recoded, 0) || body->n == 0)
        entity_text(&top, body, true, recoded, 0);
    free(top_cs);
}

/* The malloc'd text of b ("" when empty), or NULL when out of memory (b freed either way). */
static char *mb_take(mbuf *b) {
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    return b->p ? b->p : strdup("");
}

ft_status ft_data_mail_text(const char *raw, size_t len, bool strip_headers, char **out, bool *recoded) {
    *out = NULL;
    mbuf h = {0}, body = {0};
    bool has_subject;
    mail_decode(raw, len, !strip_headers, &h, &has_subject, &body, recoded);
    if (strip_headers && has_subject) /* "Subject\n\nbody"; the header block then "\n" */
        mb_put(&h, "\n\n", 2);
    else if (!strip_headers)
        mb_put(&h, "\n", 1);
    if (body.p)
        mb_put(&h, body.p, body.n);
    h.oom |= body.oom;
    free(body.p);
    *out = mb_take(&h);
    return *out ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
}

ft_status ft_data_mail_subject_body(const char *raw, size_t len, char **subject, char **body, bool *recoded) {
    *subject = *body = NULL;
    mbuf h = {0}, b = {0};
    bool has_subject;
    mail_decode(raw, len, false, &h, &has_subject, &b, recoded);
    char *sj = has_subject ? mb_take(&h) : (free(h.p), NULL), *bd = mb_take(&b);
    if ((has_subject && !sj) || !bd) {
        free(sj);
        free(bd);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    *subject = sj;
    *body = bd;
    return FT_OK;
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names in a directory (regular files ending in suffix, or subdirectories when suffix is NULL). */
static ft_status list_dir(const char *dir, const char *suffix, char ***names, size_t *n) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return ft_fail(FT_ERR_IO, "%s: cannot open directory", dir);
    size_t cap = 0;
    struct dirent *e;
    ft_status s = FT_OK;
    while ((e = readdir(d)) && s == FT_OK) {
        if (e->d_name[0] == '.')
            continue;
        size_t l = strlen(e->d_name);
        if (suffix ? (l < strlen(suffix) || strcmp(e->d_name + l - strlen(suffix), suffix)) : e->d_type != DT_DIR)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **x = realloc(*names, cap * sizeof *x);
            if (!x) {
                s = ft_fail(FT_ERR_NOMEM, "out of memory");
                break;
            }
            *names = x;
        }
        if (!((*names)[*n] = strdup(e->d_name)))
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        else
            (*n)++;
    }
    closedir(d);
    if (s == FT_OK)
        qsort(*names, *n, sizeof **names, str_cmp);
    return s;
}

static void free_names(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Every DIR/<group>/ *.txt in name order, handed to fn with its group's label (easy-ham-1 -> ham). */
typedef ft_status (*mail_fn)(void *ctx, const char *path, const char *label, size_t label_len,
                             const char *raw, size_t len);

static ft_status walk_mail_dir(const char *dir, mail_fn fn, void *ctx) {
    char **groups;
    size_t ng;
    FT_TRY(list_dir(dir, NULL, &groups, &ng));
    ft_status s = ng ? FT_OK : ft_fail(FT_ERR_FORMAT, "%s: no subdirectories (one per label group)", dir);
    for (size_t g = 0; g < ng && s == FT_OK; g++) {
        char gdir[4096];
        ft_path_join(gdir, sizeof gdir, dir, groups[g]);
        /* label: easy-ham-1 -> ham */
        const char *lab = groups[g];
        if (!strncmp(lab, "easy-", 5) || !strncmp(lab, "hard-", 5))
            lab += 5;
        size_t ll = strlen(lab);
        const char *dash = strrchr(lab, '-');
        if (dash && dash[1] && strspn(dash + 1, "0123456789") == strlen(dash + 1))
            ll = (size_t)(dash - lab);
        char **files;
        size_t nf;
        if ((s = list_dir(gdir, ".txt", &files, &nf)) != FT_OK)
            break;
        for (size_t i = 0; i < nf && s == FT_OK; i++) {
            char path[8192], *buf;
            size_t len;
            ft_path_join(path, sizeof path, gdir, files[i]);
            if ((s = ft_read_file(path, &buf, &len)) != FT_OK)
                break;
            s = fn(ctx, path, lab, ll, buf, len);
            free(buf);
        }
        free_names(files, nf);
    }
    free_names(groups, ng);
    return s;
}

typedef struct {
    bool strip_headers;
    ft_data_recs *out;
    size_t *n_recoded;
} text_ctx;

static ft_status mail_row(void *ctx, const char *path, const char *label, size_t label_len, const char *raw,
                          size_t len) {
    text_ctx *c = ctx;
    ft_data_rec r = {0};
    bool rec;
    ft_status s = ft_data_mail_text(raw, len, c->strip_headers, &r.text, &rec);
    *c->n_recoded += rec;
    r.label = strndup(label, label_len);
    r.file = strdup(path);
    r.line = 1;
    if (s == FT_OK && (!r.label || !r.file))
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK)
        return ft_data_recs_push(c->out, &r);
    ft_data_rec_free(&r);
    return s;
}

ft_status ft_data_read_mail_dir(const char *dir, bool strip_headers, ft_data_recs *out, size_t *n_recoded) {
    *n_recoded = 0;
    text_ctx c = {strip_headers, out, n_recoded};
    return walk_mail_dir(dir, mail_row, &c);
}

/* A reply or forward marker at s ("Re:", "RE :", "Fwd:", "FW:", "AW:", "Re[2]:"): its length, else 0. */
static size_t reply_marker(const char *s) {
    static const char *const M[] = {"re", "fwd", "fw", "aw"};
    for (size_t k = 0; k < sizeof M / sizeof *M; k++) {
        size_t n = strlen(M[k]);
        if (strncasecmp(s, M[k], n))
            continue;
        if (s[n] == '[') { /* Re[2]: */
            size_t d = n + 1;
            while (isdigit((unsigned char)s[d]))
                d++;
            if (d == n + 1 || s[d] != ']')
                continue;
            n = d + 1;
        }
        while (s[n] == ' ')
            n++;
        if (s[n] == ':')
            return n + 1;
    }
    return 0;
}

char *ft_data_subject_clean(const char *subject) {
    char *ws = ft_data_norm_whitespace(subject);
    if (!ws)
        return NULL;
    for (bool again = true; again;) { /* the markers at the start, or right after a leading [list] tag */
        again = false;
        size_t at = 0;
        if (ws[0] == '[') {
            const char *close = strchr(ws, ']');
            at = close ? (size_t)(close - ws) + 1 : 0;
            while (at && ws[at] == ' ')
                at++;
        }
        for (size_t m; (m = reply_marker(ws + at)) > 0; again = true) {
            while (ws[at + m] == ' ')
                m++;
            memmove(ws + at, ws + at + m, strlen(ws + at + m) + 1);
        }
    }
    size_t n = strlen(ws);
    while (n > 0 && ws[n - 1] == ' ') /* "[ILUG] Re:" leaves a trailing space */
        ws[--n] = '\0';
    return ws;
}

char *ft_data_body_clean(const char *body, size_t max_bytes) {
    mbuf b = {0};
    for (const char *p = body; *p;) {
        const char *nl = strchr(p, '\n'), *e = nl ? nl + 1 : p + strlen(p), *q = p;
        while (q < e && (*q == '>' || *q == ' ' || *q == '\t')) /* quoted header lines too */
            q++;
        if (strncasecmp(q, "subject:", 8))
            mb_put(&b, p, (size_t)(e - p));
        p = e;
    }
    if (b.n > max_bytes && max_bytes > 0) { /* cut at a character boundary */
        size_t n = max_bytes;
        while (n > 0 && ((unsigned char)b.p[n] & 0xC0) == 0x80)
            n--;
        b.p[n] = '\0';
        b.n = n;
    }
    return mb_take(&b);
}

typedef struct {
    const char *label;
    size_t max_bytes;
    ft_data_recs *out;
    ft_data_subject_stats *st;
} pair_ctx;

static ft_status subject_row(void *ctx, const char *path, const char *label, size_t label_len,
                             const char *raw, size_t len) {
    pair_ctx *c = ctx;
    ft_data_subject_stats *st = c->st;
    st->mails++;
    if (strlen(c->label) != label_len || strncmp(c->label, label, label_len)) {
        st->other_label++;
        return FT_OK;
    }
    char *subj, *body;
    bool rec;
    FT_TRY(ft_data_mail_subject_body(raw, len, &subj, &body, &rec));
    st->recoded += rec;
    ft_data_rec r = {0};
    r.response = subj ? ft_data_subject_clean(subj) : NULL;
    r.text = ft_data_body_clean(body, c->max_bytes);
    ft_status s = (subj && !r.response) || !r.text ? ft_fail(FT_ERR_NOMEM, "out of memory") : FT_OK;
    if (s == FT_OK &&
        subj) { /* a marker went: the cleaned subject differs from the whitespace-normalized one */
        char *w = ft_data_norm_whitespace(subj);
        if (!w)
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        else
            st->markers += strcmp(w, r.response) != 0;
        free(w);
    }
    free(subj);
    free(body);
    char *bw = s == FT_OK ? ft_data_norm_whitespace(r.text) : NULL;
    if (s == FT_OK && !bw)
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK && (!r.response || !r.response[0]))
        st->no_subject++;
    else if (s == FT_OK && !bw[0])
        st->empty_body++;
    else if (s == FT_OK) {
        r.label = strndup(label, label_len);
        r.file = strdup(path);
        r.line = 1;
        s = r.label && r.file ? ft_data_recs_push(c->out, &r) : ft_fail(FT_ERR_NOMEM, "out of memory");
        st->pairs += s == FT_OK;
    }
    free(bw);
    ft_data_rec_free(&r);
    return s;
}

ft_status ft_data_read_mail_subjects(const char *dir, const char *label, size_t max_bytes, ft_data_recs *out,
                                     ft_data_subject_stats *st) {
    memset(st, 0, sizeof *st);
    pair_ctx c = {label, max_bytes, out, st};
    return walk_mail_dir(dir, subject_row, &c);
}
