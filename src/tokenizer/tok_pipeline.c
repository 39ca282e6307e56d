/* tokenizer pipeline components: normalizers, pre-tokenizers, decoders (HF `tokenizers` semantics). */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

/* GPT-2's pre-tokenization regex (ByteLevel use_regex). */
const char ft_tok_gpt2_regex[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* GPT-2 byte-level alphabet: printable Latin-1 bytes map to themselves, the other 68 bytes to
 * U+0100.. in byte order. */
static bool byte_printable(unsigned b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174; }

uint32_t ft_tok_byte_to_cp(uint8_t b) {
    if (byte_printable(b))
        return b;
    uint32_t k = 0;
    for (unsigned x = 0; x < b; x++)
        k += !byte_printable(x);
    return 256 + k;
}

int ft_tok_cp_to_byte(uint32_t cp) {
    if (cp < 256)
        return byte_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68)
        return -1;
    uint32_t k = 0;
    for (unsigned x = 0; x < 256; x++)
        if (!byte_printable(x) && k++ == cp - 256)
            return (int)x;
    return -1;
}

void ft_tok_pattern_free(ft_tok_pattern *p) {
    free(p->str);
    if (p->re)
        pcre2_code_free(p->re);
    if (p->mctx)
        pcre2_match_context_free(p->mctx);
    memset(p, 0, sizeof *p);
}

ft_status ft_tok_pattern_regex(ft_tok_pattern *p, const char *re, size_t len, const char *what) {
    int err;
    PCRE2_SIZE eoff;
    p->kind = FT_TOK_PAT_REGEX;
    /* No PCRE2_NO_UTF_CHECK here: the pattern comes from the file, and PCRE2 reads an invalid UTF-8
     * pattern compiled with that flag out of bounds (fuzz/regress/tokenizer/pcre2-invalid-utf8-pattern).
     * Checked, it is a compile error naming the offset. */
    p->re = pcre2_compile((PCRE2_SPTR)re, len, PCRE2_UTF | PCRE2_UCP, &err, &eoff, NULL);
    if (!p->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        return ft_fail(FT_ERR_FORMAT, "%s: regex %.*s: %s at offset %zu", what, (int)(len > 200 ? 200 : len), re,
                       (const char *)msg, (size_t)eoff);
    }
    pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is unavailable */
    p->mctx = pcre2_match_context_create(NULL);
    if (!p->mctx)
        return ft_fail(FT_ERR_NOMEM, "%s: out of memory", what);
    pcre2_set_match_limit(p->mctx, FT_TOK_REGEX_MATCH_LIMIT);
    return FT_OK;
}

/* All non-overlapping matches of a pattern in s[0..n), as spans (off relative to s). */
static ft_status find_all(const ft_tok_pattern *p, const char *s, size_t n, ft_tok_spans *m, pcre2_match_data *md) {
    m->n = 0;
    if (p->kind == FT_TOK_PAT_STRING) {
        if (!p->str_len)
            return FT_OK;
        size_t i = 0;
        while (i + p->str_len <= n) {
            const char *f = memmem(s + i, n - i, p->str, p->str_len);
            if (!f)
                break;
            size_t at = (size_t)(f - s);
            FT_TRY(ft_tok_spans_add(m, at, p->str_len, -1, 0));
            i = at + p->str_len;
        }
        return FT_OK;
    }
    /* Matched with PCRE2_NO_UTF_CHECK (checking each call would rescan the rest of the text: quadratic),
     * so the text is checked once here: invalid UTF-8 would be undefined behaviour inside PCRE2. Input
     * text is checked on entry, but the tokenizer's own strings (a vocab token a decoder rewrites)
     * reach here too. */
    size_t bad;
    if (!ft_tok_utf8_valid(s, n, &bad))
        return ft_fail(FT_ERR_FORMAT, "tokenizer: text given to a regex is not valid UTF-8 (byte %zu of %zu)",
                       bad, n);
    size_t i = 0;
    while (i <= n) {
        int rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, i, PCRE2_NO_UTF_CHECK, md, p->mctx);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT)
            return ft_fail(FT_ERR_RANGE,
                           "tokenizer: regex gave up on a %zu-byte piece of text at PCRE2's limit of %d "
                           "steps (catastrophic backtracking in the tokenizer's pattern?)",
                           n, FT_TOK_REGEX_MATCH_LIMIT);
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return ft_fail(FT_ERR_INTERNAL, "tokenizer: regex match failed: %s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        FT_TRY(ft_tok_spans_add(m, a, b - a, -1, 0));
        if (b > a)
            i = b;
        else { /* empty match: step over one character */
            i = b + 1;
            while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
                i++;
        }
    }
    return FT_OK;
}

/* ---- normalizers ---- */

/* Offsets mode: the bytes out gained since oal last caught up come from one source character, whose
 * alignment is x. */
static inline ft_status al_emit(ft_tok_als *oal, const ft_tok_buf *out, ft_tok_al x) {
    return oal ? ft_tok_als_fill(oal, out->len, x) : FT_OK;
}

/* The alignment HF gives a character inserted before position pos: the one of the character before it,
 * or an empty range at the start. */
static ft_tok_al al_before(const ft_tok_al *ial, size_t len, size_t pos) {
    if (pos)
        return ial[pos - 1];
    return len ? (ft_tok_al){ial[0].a, ial[0].a} : (ft_tok_al){0, 0};
}

static ft_status unicode_form(const char *s, size_t len, ft_tok_buf *out, int flags) {
    size_t i = 0;
    while (i < len && (unsigned char)s[i] < 0x80)
        i++;
    if (i == len) /* ASCII is fixed by every normalization form */
        return ft_tok_buf_add(out, s, len);
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &dst,
                                      (utf8proc_option_t)(UTF8PROC_STABLE | flags));
    if (r < 0) {
        free(dst);
        return ft_fail(FT_ERR_ARG, "tokenizer: Unicode normalization failed: %s", utf8proc_errmsg(r));
    }
    ft_status st = ft_tok_buf_add(out, dst, (size_t)r);
    free(dst);
    return st;
}

/* One character of a normalization in progress and its change as HF's alignment-aware Unicode
 * normalization reports it: 0 replaces the next source character, 1 is inserted after the previous one,
 * -k replaces the next source character and removes k more. */
typedef struct {
    uint32_t cp;
    int32_t change;
    uint8_t ccc;
} uni_ch;
typedef struct {
    uni_ch *v;
    size_t n, cap;
} uni_chs;

static ft_status uni_push(uni_chs *l, uint32_t cp, int32_t change, uint8_t ccc) {
    uni_ch *v = ft_tok_grow(l->v, &l->cap, l->n + 1, sizeof *v, "characters in Unicode normalization");
    if (!v)
        return FT_ERR_NOMEM;
    l->v = v;
    l->v[l->n++] = (uni_ch){cp, change, ccc};
    return FT_OK;
}

static uint8_t ccc_of(uint32_t c) {
    return c < 0x300 ? 0 : (uint8_t)utf8proc_get_property((utf8proc_int32_t)c)->combining_class;
}

/* Canonical ordering: stable sort of the pending marks by combining class (runs are short). */
static void uni_sort(uni_chs *l, size_t from) {
    for (size_t i = from + 1; i < l->n; i++) {
        uni_ch x = l->v[i];
        size_t j = i;
        while (j > from && l->v[j - 1].ccc > x.ccc) {
            l->v[j] = l->v[j - 1];
            j--;
        }
        l->v[j] = x;
    }
}

/* The primary composite of a starter and a following character, or -1. */
static int32_t uni_compose(uint32_t a, uint32_t b) {
    utf8proc_int32_t p[2] = {(utf8proc_int32_t)a, (utf8proc_int32_t)b};
    utf8proc_ssize_t n =
        utf8proc_normalize_utf32(p, 2, (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    return n == 1 ? p[0] : -1;
}

/* Canonical composition of d into c, with changes: a composite's change is its starter's plus the
 * absorbed character's minus one (the order of unicode-normalization's recomposition, which HF uses). */
static ft_status uni_recompose(const uni_chs *d, uni_chs *c) {
    uni_chs held = {0}; /* marks blocked from the starter, emitted after it */
    uni_ch starter = {0};
    bool have = false;
    int last_ccc = -1; /* -1: nothing held */
    ft_status st = FT_OK;
    for (size_t i = 0; i < d->n && st == FT_OK; i++) {
        uni_ch x = d->v[i];
        if (!have) {
            if (x.ccc)
                st = uni_push(c, x.cp, x.change, x.ccc);
            else
                starter = x, have = true;
            continue;
        }
        if (last_ccc >= 0 && last_ccc >= x.ccc) { /* blocked */
            if (x.ccc == 0) {
                st = uni_push(c, starter.cp, starter.change, 0);
                for (size_t k = 0; k < held.n && st == FT_OK; k++)
                    st = uni_push(c, held.v[k].cp, held.v[k].change, held.v[k].ccc);
                held.n = 0;
                starter = x;
                last_ccc = -1;
            } else {
                st = uni_push(&held, x.cp, x.change, x.ccc);
                last_ccc = x.ccc;
            }
            continue;
        }
        int32_t r = uni_compose(starter.cp, x.cp);
        if (r >= 0) {
            starter.cp = (uint32_t)r;
            starter.change += x.change - 1;
        } else if (last_ccc < 0 && x.ccc == 0) {
            st = uni_push(c, starter.cp, starter.change, 0);
            starter = x;
        } else {
            st = uni_push(&held, x.cp, x.change, x.ccc);
            last_ccc = x.ccc;
        }
    }
    if (have && st == FT_OK)
        st = uni_push(c, starter.cp, starter.change, 0);
    for (size_t k = 0; k < held.n && st == FT_OK; k++)
        st = uni_push(c, held.v[k].cp, held.v[k].change, held.v[k].ccc);
    free(held.v);
    return st;
}

/* unicode_form with alignments: decompose each character (the first piece replaces it, the others are
 * inserted), order the marks, compose if asked, then hand out the source characters' alignments by
 * position as HF's NormalizedString::transform does. Same text as unicode_form. */
static ft_status unicode_form_al(const char *s, size_t len, const ft_tok_al *ial, ft_tok_buf *out,
                                 ft_tok_als *oal, int flags) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len && u[i] < 0x80)
        i++;
    if (i == len) {
        FT_TRY(ft_tok_buf_add(out, s, len));
        return ft_tok_als_add(oal, ial, len);
    }
    uni_chs d = {0}, c = {0};
    ft_tok_al *src = malloc((len ? len : 1) * sizeof *src); /* alignment of each source character */
    size_t nsrc = 0, ready = 0;
    ft_status st = src ? FT_OK : ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory in Unicode normalization");
    utf8proc_option_t opt =
        (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | (flags & UTF8PROC_COMPAT));
    for (i = 0; i < len && st == FT_OK;) {
        uint32_t cp;
        size_t k = (size_t)ft_tok_u8dec(u, len, i, &cp);
        src[nsrc++] = ial[i];
        i += k;
        utf8proc_int32_t dec[32];
        utf8proc_ssize_t nd = utf8proc_decompose_char((utf8proc_int32_t)cp, dec, 32, opt, NULL);
        if (nd < 0 || nd > 32) {
            st = ft_fail(FT_ERR_ARG, "tokenizer: Unicode normalization failed at U+%04X", (unsigned)cp);
            break;
        }
        for (utf8proc_ssize_t j = 0; j < nd && st == FT_OK; j++) {
            uint8_t cc = ccc_of((uint32_t)dec[j]);
            if (!cc) {
                uni_sort(&d, ready);
                ready = d.n;
            }
            st = uni_push(&d, (uint32_t)dec[j], j > 0, cc);
        }
    }
    uni_sort(&d, ready);
    const uni_chs *res = &d;
    if (st == FT_OK && (flags & UTF8PROC_COMPOSE)) {
        st = uni_recompose(&d, &c);
        res = &c;
    }
    size_t k = 0; /* next source character */
    for (size_t j = 0; j < res->n && st == FT_OK; j++) {
        int32_t ch = res->v[j].change;
        ft_tok_al x = ch > 0 ? al_before(src, nsrc, k) : src[k < nsrc ? k : nsrc - 1];
        if (ch <= 0)
            k += 1 + (size_t)(-ch);
        st = ft_tok_buf_cp(out, res->v[j].cp);
        if (st == FT_OK)
            st = ft_tok_als_fill(oal, out->len, x);
    }
    free(src);
    free(d.v);
    free(c.v);
    return st;
}

static bool is_chinese(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* What BertNormalizer's clean_text removes besides U+0000 and U+FFFD: control (Cc), format (Cf) and
 * private-use (Co) characters. Unassigned code points (Cn, noncharacters such as U+FFFF and U+FDD0
 * included) stay and end as [UNK], as in HF `tokenizers`, whose category tables are Unicode 8.0's: the
 * format characters assigned since (U+0890-0891, U+08E2, U+110CD, U+13430-1343F) stay too. */
static bool bert_clean_drops(uint32_t c) {
    if (c == 0x890 || c == 0x891 || c == 0x8E2 || c == 0x110CD || (c >= 0x13430 && c <= 0x1343F))
        return false;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CS ||
           k == UTF8PROC_CATEGORY_CO;
}

/* Lowercase like Rust's char::to_lowercase: simple mappings plus U+0130 -> "i\u0307". */
static ft_status lower_cp(ft_tok_buf *o, uint32_t c) {
    if (c < 128)
        return ft_tok_buf_cp(o, (c >= 'A' && c <= 'Z') ? c + 32 : c);
    if (c == 0x130)
        return ft_tok_buf_add(o, "i\xCC\x87", 3);
    return ft_tok_buf_cp(o, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
}

static ft_status lower_all(const char *s, size_t len, const ft_tok_al *ial, ft_tok_buf *out,
                           ft_tok_als *oal) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t k = (size_t)ft_tok_u8dec(u, len, i, &c);
        FT_TRY(lower_cp(out, c));
        FT_TRY(al_emit(oal, out, oal ? ial[i] : (ft_tok_al){0, 0}));
        i += k;
    }
    return FT_OK;
}

/* SentencePiece's NMT normalization (HF normalizer Nmt): C0 controls other than tab/newlines, DEL and
 * U+008F/U+009F go; tab, LF, FF, CR, U+1680, U+200B..U+200F, U+2028/9, U+2581, U+FEFF and U+FFFD become a
 * space aligned to the character it replaces. (Checked code point by code point against `tokenizers`.) */
static ft_status nmt_all(const char *s, size_t len, const ft_tok_al *ial, ft_tok_buf *out, ft_tok_als *oal) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t k = (size_t)ft_tok_u8dec(u, len, i, &c);
        const bool drop = (c >= 0x1 && c <= 0x8) || c == 0xB || (c >= 0xE && c <= 0x1F) || c == 0x7F ||
                          c == 0x8F || c == 0x9F;
        const bool space = c == 0x9 || c == 0xA || c == 0xC || c == 0xD || c == 0x1680 ||
                           (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581 ||
                           c == 0xFEFF || c == 0xFFFD;
        if (!drop) {
            FT_TRY(space ? ft_tok_buf_add(out, " ", 1) : ft_tok_buf_add(out, s + i, k));
            FT_TRY(al_emit(oal, out, oal ? ial[i] : (ft_tok_al){0, 0}));
        }
        i += k;
    }
    return FT_OK;
}

typedef bool (*cp_pred)(uint32_t);
static bool is_combining(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME;
}
static bool is_mn(uint32_t c) { return utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_MN; }

static ft_status filter_cps(const char *s, size_t len, const ft_tok_al *ial, ft_tok_buf *out, ft_tok_als *oal,
                            cp_pred drop) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        int k = ft_tok_u8dec(u, len, i, &c);
        if (!drop(c)) {
            FT_TRY(ft_tok_buf_add(out, s + i, (size_t)k));
            FT_TRY(al_emit(oal, out, oal ? ial[i] : (ft_tok_al){0, 0}));
        }
        i += (size_t)k;
    }
    return FT_OK;
}

/* HF BertNormalizer: clean_text, handle_chinese_chars (" c " all aligned to c), strip_accents (NFD, then
 * drop Mn), lowercase; each stage keeps the alignments when oal is set. */
static ft_status bert_normalize(const ft_tok_norm *n, const char *s, size_t len, ft_tok_buf *out,
                                const ft_tok_al *ial, ft_tok_als *oal) {
    ft_tok_buf a = {0}, b = {0}, d = {0};
    ft_tok_als aal = {0}, bal = {0}, dal = {0};
    ft_tok_als *pa = oal ? &aal : NULL, *pb = oal ? &bal : NULL, *pd = oal ? &dal : NULL;
    const unsigned char *u = (const unsigned char *)s;
    ft_status st = FT_OK;
    for (size_t i = 0; i < len && st == FT_OK;) {
        uint32_t c;
        size_t at = i;
        int k = ft_tok_u8dec(u, len, i, &c);
        i += (size_t)k;
        if (n->clean_text) {
            if (c == 0 || c == 0xFFFD || (c != '\t' && c != '\n' && c != '\r' && bert_clean_drops(c)))
                continue;
            if (ft_tok_is_whitespace(c))
                c = ' ';
        }
        if (n->chinese && is_chinese(c)) {
            st = ft_tok_buf_add(&a, " ", 1);
            if (st == FT_OK)
                st = ft_tok_buf_cp(&a, c);
            if (st == FT_OK)
                st = ft_tok_buf_add(&a, " ", 1);
        } else
            st = ft_tok_buf_cp(&a, c);
        if (st == FT_OK)
            st = al_emit(pa, &a, oal ? ial[at] : (ft_tok_al){0, 0});
    }
    const char *cur = a.p ? a.p : "";
    size_t cur_len = a.len;
    const ft_tok_al *cal = aal.v;
    if (st == FT_OK && n->strip_accents) {
        st = oal ? unicode_form_al(cur, cur_len, cal, &d, pd, UTF8PROC_DECOMPOSE)
                 : unicode_form(cur, cur_len, &d, UTF8PROC_DECOMPOSE);
        if (st == FT_OK)
            st = filter_cps(d.p ? d.p : "", d.len, dal.v, &b, pb, is_mn);
        cur = b.p ? b.p : "";
        cur_len = b.len;
        cal = bal.v;
    }
    if (st == FT_OK && n->lowercase)
        st = lower_all(cur, cur_len, cal, out, oal);
    else if (st == FT_OK) {
        st = ft_tok_buf_add(out, cur, cur_len);
        if (st == FT_OK && oal)
            st = ft_tok_als_add(oal, cal, cur_len);
    }
    ft_tok_buf_free(&a);
    ft_tok_buf_free(&b);
    ft_tok_buf_free(&d);
    ft_tok_als_free(&aal);
    ft_tok_als_free(&bal);
    ft_tok_als_free(&dal);
    return st;
}

ft_status ft_tok_normalize(const ft_tok_norm *n, const char *s, size_t len, ft_tok_buf *out,
                           pcre2_match_data *md, const ft_tok_al *ial, ft_tok_als *oal) {
    out->len = 0;
    FT_TRY(ft_tok_buf_reserve(out, len));
    out->p[0] = 0;
    if (oal)
        oal->n = 0;
    const unsigned char *u = (const unsigned char *)s;
    int form = -1;
    switch (n->kind) {
    case FT_TOK_N_NFC: form = UTF8PROC_COMPOSE; break;
    case FT_TOK_N_NFD: form = UTF8PROC_DECOMPOSE; break;
    case FT_TOK_N_NFKC: form = UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case FT_TOK_N_NFKD: form = UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    case FT_TOK_N_LOWER: return lower_all(s, len, ial, out, oal);
    case FT_TOK_N_NMT: return nmt_all(s, len, ial, out, oal);
    case FT_TOK_N_STRIP: {
        size_t a = 0, b = len;
        if (n->left)
            while (a < b) {
                uint32_t c;
                int k = ft_tok_u8dec(u, len, a, &c);
                if (!ft_tok_is_whitespace(c))
                    break;
                a += (size_t)k;
            }
        if (n->right)
            while (b > a) {
                size_t p = b - 1;
                while (p > a && (u[p] & 0xC0) == 0x80)
                    p--;
                uint32_t c;
                ft_tok_u8dec(u, len, p, &c);
                if (!ft_tok_is_whitespace(c))
                    break;
                b = p;
            }
        FT_TRY(ft_tok_buf_add(out, s + a, b - a));
        return oal ? ft_tok_als_add(oal, ial + a, b - a) : FT_OK;
    }
    case FT_TOK_N_STRIP_ACCENTS: return filter_cps(s, len, ial, out, oal, is_combining);
    case FT_TOK_N_REPLACE: {
        /* the content takes the alignment of the match's last character (HF inserts it after the match) */
        ft_tok_spans m = {0};
        ft_status st = find_all(&n->pat, s, len, &m, md);
        size_t prev = 0;
        for (size_t i = 0; i <= m.n && st == FT_OK; i++) {
            size_t at = i < m.n ? m.v[i].off : len, end = i < m.n ? at + m.v[i].len : len;
            st = ft_tok_buf_add(out, s + prev, at - prev);
            if (st == FT_OK && oal)
                st = ft_tok_als_add(oal, ial + prev, at - prev);
            if (st == FT_OK && i < m.n) {
                st = ft_tok_buf_add(out, n->content, n->content_len);
                if (st == FT_OK)
                    st = al_emit(oal, out, oal ? al_before(ial, len, end) : (ft_tok_al){0, 0});
            }
            prev = end;
        }
        ft_tok_spans_free(&m);
        return st;
    }
    case FT_TOK_N_PREPEND: /* HF prepends to a non-empty string only, aligned to its first character */
        if (len) {
            FT_TRY(ft_tok_buf_add(out, n->content, n->content_len));
            FT_TRY(al_emit(oal, out, oal ? ial[0] : (ft_tok_al){0, 0}));
        }
        FT_TRY(ft_tok_buf_add(out, s, len));
        return oal ? ft_tok_als_add(oal, ial, len) : FT_OK;
    case FT_TOK_N_BERT: return bert_normalize(n, s, len, out, ial, oal);
    case FT_TOK_N_PRECOMPILED: return ft_tok_precompiled(&n->map, s, len, ial, out, oal);
    case FT_TOK_N_SEQ: {
        ft_tok_buf tmp = {0};
        ft_tok_als tal = {0};
        ft_status st = ft_tok_buf_add(out, s, len);
        if (st == FT_OK && oal)
            st = ft_tok_als_add(oal, ial, len);
        for (size_t i = 0; i < n->nsub && st == FT_OK; i++) {
            st = ft_tok_normalize(&n->sub[i], out->p, out->len, &tmp, md, oal ? oal->v : NULL,
                                  oal ? &tal : NULL);
            ft_tok_buf sw = *out;
            *out = tmp;
            tmp = sw;
            if (oal) {
                ft_tok_als sa = *oal;
                *oal = tal;
                tal = sa;
            }
        }
        ft_tok_buf_free(&tmp);
        ft_tok_als_free(&tal);
        return st;
    }
    }
    if (form >= 0)
        return oal ? unicode_form_al(s, len, ial, out, oal, form) : unicode_form(s, len, out, form);
    return ft_fail(FT_ERR_INTERNAL, "tokenizer: bad normalizer kind");
}

/* ---- pre-tokenizers ---- */

/* Split span sp (of buf) at the pattern matches m (relative to the span) with HF's behaviours;
 * non-empty pieces go to out. */
static ft_status split_span(const ft_tok_span *sp, const ft_tok_spans *m, ft_tok_behavior beh, bool invert,
                            ft_tok_spans *out) {
    /* build (piece, is_match) covering the span */
    size_t cap = 2 * m->n + 1, np = 0;
    struct piece { size_t a, b; bool match; } *p = malloc(cap * sizeof *p);
    if (!p)
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
    size_t prev = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (m->v[i].off > prev)
            p[np++] = (struct piece){prev, m->v[i].off, invert};
        p[np++] = (struct piece){m->v[i].off, m->v[i].off + m->v[i].len, !invert};
        prev = m->v[i].off + m->v[i].len;
    }
    if (prev < sp->len)
        p[np++] = (struct piece){prev, sp->len, invert};
    /* merge according to the behaviour; keep[i] false = removed */
    size_t nq = 0;
    struct piece *q = p; /* in place: q[nq] never overtakes p[i] */
    switch (beh) {
    case FT_TOK_SPLIT_ISOLATED:
        for (size_t i = 0; i < np; i++)
            q[nq++] = (struct piece){p[i].a, p[i].b, false};
        break;
    case FT_TOK_SPLIT_REMOVED:
        for (size_t i = 0; i < np; i++)
            q[nq++] = p[i]; /* match = removed */
        break;
    case FT_TOK_SPLIT_CONTIGUOUS: {
        bool prevm = false;
        for (size_t i = 0; i < np; i++) {
            bool im = p[i].match;
            if (im == prevm && nq)
                q[nq - 1].b = p[i].b;
            else
                q[nq++] = (struct piece){p[i].a, p[i].b, false};
            prevm = im;
        }
        break;
    }
    case FT_TOK_SPLIT_PREV: {
        bool prevm = false;
        for (size_t i = 0; i < np; i++) {
            bool im = p[i].match;
            if (im && !prevm && nq)
                q[nq - 1].b = p[i].b;
            else
                q[nq++] = (struct piece){p[i].a, p[i].b, false};
            prevm = im;
        }
        break;
    }
    case FT_TOK_SPLIT_NEXT: { /* walk backwards, merging a match into the piece after it */
        bool prevm = false;
        size_t w = np; /* write from the end: q region [w, np) */
        for (size_t i = np; i-- > 0;) {
            bool im = p[i].match;
            struct piece cur = p[i];
            if (im && !prevm && w < np)
                p[w].a = cur.a;
            else
                p[--w] = (struct piece){cur.a, cur.b, false};
            prevm = im;
        }
        for (size_t i = w; i < np; i++)
            q[nq++] = p[i];
        break;
    }
    }
    ft_status st = FT_OK;
    for (size_t i = 0; i < nq && st == FT_OK; i++)
        if (!q[i].match && q[i].b > q[i].a)
            st = ft_tok_spans_add(out, sp->off + q[i].a, q[i].b - q[i].a, -1, (uint8_t)(sp->first && q[i].a == 0));
    free(p);
    return st;
}

/* Matches of a character predicate, each character its own match. */
static ft_status find_pred(const char *s, size_t n, cp_pred pred, ft_tok_spans *m) {
    m->n = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        int k = ft_tok_u8dec(u, n, i, &c);
        if (pred(c))
            FT_TRY(ft_tok_spans_add(m, i, (size_t)k, -1, 0));
        i += (size_t)k;
    }
    return FT_OK;
}

/* HF's Digits splits on Rust's char::is_numeric: Nd, Nl and No (½, Ⅳ, ² count). */
static bool is_digit(uint32_t c) {
    if (c < 128)
        return c >= '0' && c <= '9';
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

/* Append the byte-level image of buf[off..off+len) to buf; returns the new span. Each mapped character
 * keeps the alignment of the character its byte came from. */
static ft_status bytelevel_map(ft_tok_buf *buf, const ft_tok_span *sp, ft_tok_spans *out, ft_tok_als *al) {
    FT_TRY(ft_tok_buf_reserve(buf, 2 * sp->len));
    size_t start = buf->len;
    if (al) {
        FT_TRY(ft_tok_als_fill(al, start + 2 * sp->len, (ft_tok_al){0, 0}));
        size_t o = start;
        for (size_t i = 0; i < sp->len; i++) {
            ft_tok_al x = al->v[sp->off + i];
            al->v[o++] = x;
            if (ft_tok_byte_to_cp((uint8_t)buf->p[sp->off + i]) >= 128)
                al->v[o++] = x;
        }
        al->n = o;
    }
    const unsigned char *s = (const unsigned char *)buf->p + sp->off;
    char *o = buf->p + buf->len;
    for (size_t i = 0; i < sp->len; i++) {
        uint32_t c = ft_tok_byte_to_cp(s[i]);
        if (c < 128)
            *o++ = (char)c;
        else {
            *o++ = (char)(0xC0 | (c >> 6));
            *o++ = (char)(0x80 | (c & 0x3F));
        }
    }
    buf->len = (size_t)(o - buf->p);
    buf->p[buf->len] = 0;
    return ft_tok_spans_add(out, start, buf->len - start, -1, sp->first);
}

/* Offsets mode: give buf[al->n..buf->len) the alignment x. */
static ft_status al_sync(ft_tok_als *al, const ft_tok_buf *buf, ft_tok_al x) {
    return al ? ft_tok_als_fill(al, buf->len, x) : FT_OK;
}

/* Offsets mode: copy the alignments of buf[off..off+n) to the bytes just appended (a copy of them). */
static ft_status al_copy(ft_tok_als *al, size_t off, size_t n) {
    if (!al)
        return FT_OK;
    size_t at = al->n;
    FT_TRY(ft_tok_als_fill(al, at + n, (ft_tok_al){0, 0}));
    memmove(al->v + at, al->v + off, n * sizeof *al->v);
    return FT_OK;
}

static ft_status pre_one(const ft_tok_pre *p, ft_tok_buf *buf, const ft_tok_span *sp, ft_tok_spans *out,
                         ft_tok_spans *m, pcre2_match_data *md, ft_tok_als *al) {
    switch (p->kind) {
    case FT_TOK_P_BYTELEVEL: {
        ft_tok_span cur = *sp;
        if (p->add_prefix_space && cur.len && buf->p[cur.off] != ' ') { /* HF: prepend to non-empty text */
            size_t start = buf->len;
            FT_TRY(ft_tok_buf_reserve(buf, cur.len + 1)); /* the copy below reads buf itself */
            FT_TRY(ft_tok_buf_add(buf, " ", 1));
            FT_TRY(al_sync(al, buf, al ? al->v[cur.off] : (ft_tok_al){0, 0}));
            FT_TRY(ft_tok_buf_add(buf, buf->p + cur.off, cur.len));
            FT_TRY(al_copy(al, cur.off, cur.len));
            cur.off = start;
            cur.len++;
        }
        if (!p->use_regex)
            return bytelevel_map(buf, &cur, out, al);
        ft_tok_spans parts = {0};
        ft_status st = find_all(&p->pat, buf->p + cur.off, cur.len, m, md);
        if (st == FT_OK)
            st = split_span(&cur, m, FT_TOK_SPLIT_ISOLATED, false, &parts);
        for (size_t i = 0; i < parts.n && st == FT_OK; i++)
            st = bytelevel_map(buf, &parts.v[i], out, al);
        ft_tok_spans_free(&parts);
        return st;
    }
    case FT_TOK_P_SPLIT:
        FT_TRY(find_all(&p->pat, buf->p + sp->off, sp->len, m, md));
        return split_span(sp, m, p->behavior, p->invert, out);
    case FT_TOK_P_METASPACE: {
        uint8_t rep[4];
        size_t rl = (size_t)utf8proc_encode_char((utf8proc_int32_t)p->replacement, rep);
        size_t start = buf->len;
        const char *s = buf->p + sp->off;
        bool starts_rep = sp->len >= 1 && ((sp->len >= rl && !memcmp(s, rep, rl)) || (s[0] == ' '));
        /* HF replaces ' ' (the replacement keeps the space's alignment), then prepends to non-empty text
         * (aligned to its first character) */
        bool pre = sp->len && !starts_rep &&
                   (p->prepend == FT_TOK_PREPEND_ALWAYS || (p->prepend == FT_TOK_PREPEND_FIRST && sp->first));
        FT_TRY(ft_tok_buf_reserve(buf, sp->len * rl + rl));
        s = buf->p + sp->off;
        if (pre) {
            FT_TRY(ft_tok_buf_add(buf, rep, rl));
            FT_TRY(al_sync(al, buf, al ? al->v[sp->off] : (ft_tok_al){0, 0}));
        }
        for (size_t i = 0; i < sp->len; i++) {
            if (buf->p[sp->off + i] == ' ')
                FT_TRY(ft_tok_buf_add(buf, rep, rl));
            else
                FT_TRY(ft_tok_buf_add(buf, buf->p + sp->off + i, 1));
            FT_TRY(al_sync(al, buf, al ? al->v[sp->off + i] : (ft_tok_al){0, 0}));
        }
        (void)s;
        ft_tok_span cur = {start, buf->len - start, -1, sp->first};
        if (!p->split)
            return ft_tok_spans_add(out, cur.off, cur.len, -1, cur.first);
        ft_tok_pattern lit = {FT_TOK_PAT_STRING, (char *)rep, rl, NULL, NULL};
        FT_TRY(find_all(&lit, buf->p + cur.off, cur.len, m, md));
        return split_span(&cur, m, FT_TOK_SPLIT_NEXT, false, out);
    }
    case FT_TOK_P_BERT: {
        ft_tok_spans a = {0};
        ft_status st = find_pred(buf->p + sp->off, sp->len, ft_tok_is_whitespace, m);
        if (st == FT_OK)
            st = split_span(sp, m, FT_TOK_SPLIT_REMOVED, false, &a);
        for (size_t i = 0; i < a.n && st == FT_OK; i++) {
            st = find_pred(buf->p + a.v[i].off, a.v[i].len, ft_tok_is_punct, m);
            if (st == FT_OK)
                st = split_span(&a.v[i], m, FT_TOK_SPLIT_ISOLATED, false, out);
        }
        ft_tok_spans_free(&a);
        return st;
    }
    case FT_TOK_P_WHITESPACE:
        FT_TRY(find_all(&p->pat, buf->p + sp->off, sp->len, m, md));
        return split_span(sp, m, FT_TOK_SPLIT_REMOVED, true, out);
    case FT_TOK_P_WSSPLIT:
        FT_TRY(find_pred(buf->p + sp->off, sp->len, ft_tok_is_whitespace, m));
        return split_span(sp, m, FT_TOK_SPLIT_REMOVED, false, out);
    case FT_TOK_P_DIGITS:
        FT_TRY(find_pred(buf->p + sp->off, sp->len, is_digit, m));
        return split_span(sp, m, p->individual_digits ? FT_TOK_SPLIT_ISOLATED : FT_TOK_SPLIT_CONTIGUOUS, false, out);
    case FT_TOK_P_PUNCT:
        FT_TRY(find_pred(buf->p + sp->off, sp->len, ft_tok_is_punct, m));
        return split_span(sp, m, p->behavior, false, out);
    case FT_TOK_P_SEQ: break;
    }
    return ft_fail(FT_ERR_INTERNAL, "tokenizer: bad pre-tokenizer kind");
}

ft_status ft_tok_pretokenize(const ft_tok_pre *p, ft_tok_buf *buf, const ft_tok_spans *in, ft_tok_spans *out,
                             pcre2_match_data *md, ft_tok_als *al) {
    out->n = 0;
    if (p->kind == FT_TOK_P_SEQ) {
        ft_tok_spans a = {0}, b = {0};
        ft_status st = FT_OK;
        for (size_t i = 0; i < in->n && st == FT_OK; i++)
            st = ft_tok_spans_add(&a, in->v[i].off, in->v[i].len, in->v[i].id, in->v[i].first);
        for (size_t k = 0; k < p->nsub && st == FT_OK; k++) {
            st = ft_tok_pretokenize(&p->sub[k], buf, &a, &b, md, al);
            ft_tok_spans t = a;
            a = b;
            b = t;
        }
        for (size_t i = 0; i < a.n && st == FT_OK; i++)
            st = ft_tok_spans_add(out, a.v[i].off, a.v[i].len, a.v[i].id, a.v[i].first);
        ft_tok_spans_free(&a);
        ft_tok_spans_free(&b);
        return st;
    }
    ft_tok_spans m = {0};
    ft_status st = FT_OK;
    for (size_t i = 0; i < in->n && st == FT_OK; i++) {
        if (in->v[i].id >= 0)
            st = ft_tok_spans_add(out, in->v[i].off, in->v[i].len, in->v[i].id, in->v[i].first);
        else
            st = pre_one(p, buf, &in->v[i], out, &m, md, al);
    }
    ft_tok_spans_free(&m);
    return st;
}

/* ---- decoders: each maps a list of token strings (spans of buf) to a new list ---- */
static ft_status dec_one(const ft_tok_dec *d, ft_tok_buf *buf, ft_tok_spans *in, ft_tok_spans *out,
                         pcre2_match_data *md) {
    out->n = 0;
    switch (d->kind) {
    case FT_TOK_D_BYTELEVEL: {
        ft_tok_buf raw = {0};
        ft_status st = FT_OK;
        for (size_t i = 0; i < in->n && st == FT_OK; i++) {
            const unsigned char *s = (const unsigned char *)buf->p + in->v[i].off;
            size_t n = in->v[i].len, start = raw.len;
            bool all = true;
            for (size_t k = 0; k < n && st == FT_OK;) {
                uint32_t c;
                int cl = ft_tok_u8dec(s, n, k, &c);
                int b = ft_tok_cp_to_byte(c);
                if (b < 0) {
                    all = false;
                    break;
                }
                uint8_t bb = (uint8_t)b;
                st = ft_tok_buf_add(&raw, &bb, 1);
                k += (size_t)cl;
            }
            if (!all && st == FT_OK) { /* a token outside the alphabet passes through as its bytes */
                raw.len = start;
                st = ft_tok_buf_add(&raw, s, n);
            }
        }
        size_t start = buf->len;
        if (st == FT_OK)
            st = ft_tok_utf8_lossy(buf, (const unsigned char *)(raw.p ? raw.p : ""), raw.len);
        if (st == FT_OK)
            st = ft_tok_spans_add(out, start, buf->len - start, -1, 0);
        ft_tok_buf_free(&raw);
        return st;
    }
    case FT_TOK_D_BYTEFALLBACK: {
        ft_tok_buf bytes = {0};
        ft_status st = FT_OK;
        for (size_t i = 0; i <= in->n && st == FT_OK; i++) {
            const char *s = i < in->n ? buf->p + in->v[i].off : NULL;
            size_t n = i < in->n ? in->v[i].len : 0;
            int hex = -1;
            if (s && n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>') {
                char h[3] = {s[3], s[4], 0}, *e;
                long v = strtol(h, &e, 16);
                if (!*e && isxdigit((unsigned char)h[0]) && isxdigit((unsigned char)h[1]))
                    hex = (int)v;
            }
            if (hex >= 0) {
                uint8_t b = (uint8_t)hex;
                st = ft_tok_buf_add(&bytes, &b, 1);
                continue;
            }
            if (bytes.len) {
                size_t bad, start = buf->len;
                if (ft_tok_utf8_valid(bytes.p, bytes.len, &bad)) {
                    st = ft_tok_buf_add(buf, bytes.p, bytes.len);
                    if (st == FT_OK)
                        st = ft_tok_spans_add(out, start, bytes.len, -1, 0);
                } else
                    for (size_t k = 0; k < bytes.len && st == FT_OK; k++) {
                        start = buf->len;
                        st = ft_tok_buf_add(buf, "\xEF\xBF\xBD", 3);
                        if (st == FT_OK)
                            st = ft_tok_spans_add(out, start, 3, -1, 0);
                    }
                bytes.len = 0;
            }
            if (s && st == FT_OK)
                st = ft_tok_spans_add(out, in->v[i].off, n, -1, 0);
        }
        ft_tok_buf_free(&bytes);
        return st;
    }
    case FT_TOK_D_FUSE: {
        ft_tok_buf j = {0};
        ft_status st = FT_OK;
        for (size_t i = 0; i < in->n && st == FT_OK; i++)
            st = ft_tok_buf_add(&j, buf->p + in->v[i].off, in->v[i].len);
        size_t start = buf->len;
        if (st == FT_OK)
            st = ft_tok_buf_add(buf, j.p ? j.p : "", j.len);
        if (st == FT_OK)
            st = ft_tok_spans_add(out, start, j.len, -1, 0);
        ft_tok_buf_free(&j);
        return st;
    }
    case FT_TOK_D_STRIP:
        for (size_t i = 0; i < in->n; i++) {
            const unsigned char *s = (const unsigned char *)buf->p + in->v[i].off;
            size_t n = in->v[i].len, a = 0, b = n;
            for (size_t k = 0; k < d->start && a < n; k++) {
                uint32_t c;
                int cl = ft_tok_u8dec(s, n, a, &c);
                if (c != d->strip_char)
                    break;
                a += (size_t)cl;
            }
            for (size_t k = 0; k < d->stop && b > a; k++) {
                size_t p = b - 1;
                while (p > a && (s[p] & 0xC0) == 0x80)
                    p--;
                uint32_t c;
                ft_tok_u8dec(s, n, p, &c);
                if (c != d->strip_char)
                    break;
                b = p;
            }
            FT_TRY(ft_tok_spans_add(out, in->v[i].off + a, b - a, -1, 0));
        }
        return FT_OK;
    case FT_TOK_D_REPLACE: {
        ft_tok_norm rn = {.kind = FT_TOK_N_REPLACE, .pat = d->pat, .content = d->content, .content_len = d->content_len};
        ft_tok_buf tmp = {0};
        ft_status st = FT_OK;
        for (size_t i = 0; i < in->n && st == FT_OK; i++) {
            st = ft_tok_normalize(&rn, buf->p + in->v[i].off, in->v[i].len, &tmp, md, NULL, NULL);
            size_t start = buf->len;
            if (st == FT_OK)
                st = ft_tok_buf_add(buf, tmp.p, tmp.len);
            if (st == FT_OK)
                st = ft_tok_spans_add(out, start, tmp.len, -1, 0);
        }
        ft_tok_buf_free(&tmp);
        return st;
    }
    case FT_TOK_D_METASPACE:
        for (size_t i = 0; i < in->n; i++) {
            size_t start = buf->len;
            const unsigned char *s;
            size_t n = in->v[i].len;
            FT_TRY(ft_tok_buf_reserve(buf, n));
            s = (const unsigned char *)buf->p + in->v[i].off;
            for (size_t k = 0; k < n;) {
                uint32_t c;
                int cl = ft_tok_u8dec(s, n, k, &c);
                if (c == d->replacement) {
                    if (!(i == 0 && d->prepend != FT_TOK_PREPEND_NEVER))
                        FT_TRY(ft_tok_buf_add(buf, " ", 1));
                } else
                    FT_TRY(ft_tok_buf_add(buf, s + k, (size_t)cl));
                s = (const unsigned char *)buf->p + in->v[i].off;
                k += (size_t)cl;
            }
            FT_TRY(ft_tok_spans_add(out, start, buf->len - start, -1, 0));
        }
        return FT_OK;
    case FT_TOK_D_WORDPIECE: {
        static const char *const pairs[][2] = {{" .", "."},      {" ?", "?"},   {" !", "!"},   {" ,", ","},
                                               {" ' ", "'"},     {" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"},
                                               {" 's", "'s"},    {" 've", "'ve"}, {" 're", "'re"}};
        ft_tok_buf cur = {0}, nxt = {0};
        ft_status st = FT_OK;
        for (size_t i = 0; i < in->n && st == FT_OK; i++) {
            const char *s = buf->p + in->v[i].off;
            size_t n = in->v[i].len;
            cur.len = 0;
            if (i != 0 && n >= d->content_len && !memcmp(s, d->content, d->content_len))
                st = ft_tok_buf_add(&cur, s + d->content_len, n - d->content_len);
            else {
                if (i != 0)
                    st = ft_tok_buf_add(&cur, " ", 1);
                if (st == FT_OK)
                    st = ft_tok_buf_add(&cur, s, n);
            }
            if (d->cleanup)
                for (size_t r = 0; r < sizeof pairs / sizeof *pairs && st == FT_OK; r++) {
                    ft_tok_norm rn = {.kind = FT_TOK_N_REPLACE,
                                      .pat = {FT_TOK_PAT_STRING, (char *)pairs[r][0], strlen(pairs[r][0]), NULL},
                                      .content = (char *)pairs[r][1],
                                      .content_len = strlen(pairs[r][1])};
                    st = ft_tok_normalize(&rn, cur.p ? cur.p : "", cur.len, &nxt, md, NULL, NULL);
                    ft_tok_buf t = cur;
                    cur = nxt;
                    nxt = t;
                }
            size_t start = buf->len;
            if (st == FT_OK)
                st = ft_tok_buf_add(buf, cur.p ? cur.p : "", cur.len);
            if (st == FT_OK)
                st = ft_tok_spans_add(out, start, cur.len, -1, 0);
        }
        ft_tok_buf_free(&cur);
        ft_tok_buf_free(&nxt);
        return st;
    }
    case FT_TOK_D_BPE: {
        ft_tok_buf tmp = {0};
        ft_status st = FT_OK;
        for (size_t i = 0; i < in->n && st == FT_OK; i++) {
            bool last = i + 1 == in->n;
            ft_tok_norm rn = {.kind = FT_TOK_N_REPLACE,
                              .pat = {FT_TOK_PAT_STRING, d->content, d->content_len, NULL},
                              .content = (char *)(last ? "" : " "),
                              .content_len = last ? 0 : 1};
            st = ft_tok_normalize(&rn, buf->p + in->v[i].off, in->v[i].len, &tmp, md, NULL, NULL);
            size_t start = buf->len;
            if (st == FT_OK)
                st = ft_tok_buf_add(buf, tmp.p, tmp.len);
            if (st == FT_OK)
                st = ft_tok_spans_add(out, start, tmp.len, -1, 0);
        }
        ft_tok_buf_free(&tmp);
        return st;
    }
    case FT_TOK_D_SEQ: break;
    }
    return ft_fail(FT_ERR_INTERNAL, "tokenizer: bad decoder kind");
}

ft_status ft_tok_decode_chain(const ft_tok_dec *d, ft_tok_buf *buf, ft_tok_spans *toks, pcre2_match_data *md) {
    if (d->kind == FT_TOK_D_SEQ) {
        for (size_t i = 0; i < d->nsub; i++)
            FT_TRY(ft_tok_decode_chain(&d->sub[i], buf, toks, md));
        return FT_OK;
    }
    ft_tok_spans out = {0};
    ft_status st = dec_one(d, buf, toks, &out, md);
    if (st == FT_OK) {
        ft_tok_spans_free(toks);
        *toks = out;
    } else
        ft_tok_spans_free(&out);
    return st;
}

void ft_tok_norm_free(ft_tok_norm *n) {
    ft_tok_pattern_free(&n->pat);
    free(n->content);
    ft_tok_charsmap_free(&n->map);
    for (size_t i = 0; i < n->nsub; i++)
        ft_tok_norm_free(&n->sub[i]);
    free(n->sub);
    memset(n, 0, sizeof *n);
}

void ft_tok_pre_free(ft_tok_pre *p) {
    ft_tok_pattern_free(&p->pat);
    for (size_t i = 0; i < p->nsub; i++)
        ft_tok_pre_free(&p->sub[i]);
    free(p->sub);
    memset(p, 0, sizeof *p);
}

void ft_tok_dec_free(ft_tok_dec *d) {
    ft_tok_pattern_free(&d->pat);
    free(d->content);
    for (size_t i = 0; i < d->nsub; i++)
        ft_tok_dec_free(&d->sub[i]);
    free(d->sub);
    memset(d, 0, sizeof *d);
}
