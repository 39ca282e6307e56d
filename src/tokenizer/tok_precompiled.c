/* tokenizer normalizer Precompiled: SentencePiece's character map (`precompiled_charsmap`, base64 in
 * tokenizer.json), applied as HF `tokenizers` does (its spm_precompiled crate and
 * normalizers/precompiled.rs).
 *
 * Layout of the decoded bytes: u32 little-endian T (bytes of trie), T/4 little-endian u32 units of a
 * darts-clone double array over UTF-8 keys, then the replacements, NUL-terminated strings the trie's
 * values point into. A unit holds a label (bits 0-7, and bit 31 on value units), a has-leaf flag (bit 8)
 * and the offset to its children (bits 10-31, shifted left by 8 more when bit 9 is set); the value of a
 * node with a leaf sits in the unit at node ^ offset (bits 0-30). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

static int b64_val(unsigned char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 with padding (what HF writes and reads); *out malloc'd. */
static ft_status b64_decode(const char *s, size_t len, uint8_t **out, size_t *n, const char *what) {
    if (len % 4)
        return ft_fail(FT_ERR_FORMAT, "%s: not base64 (length %zu is not a multiple of 4)", what, len);
    size_t pad = len && s[len - 1] == '=' ? (len > 1 && s[len - 2] == '=' ? 2 : 1) : 0;
    uint8_t *p = malloc(len / 4 * 3 + 1);
    if (!p)
        return ft_fail(FT_ERR_NOMEM, "%s: out of memory", what);
    size_t k = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = b64_val((unsigned char)s[i + j]);
            bool padding = i + 4 == len && j >= 4 - pad;
            if (d < 0 && !padding) {
                free(p);
                return ft_fail(FT_ERR_FORMAT, "%s: not base64 (byte %zu is '%c')", what, i + j,
                               s[i + j] >= 32 && s[i + j] < 127 ? s[i + j] : '?');
            }
            v = v << 6 | (uint32_t)(d < 0 ? 0 : d);
        }
        p[k++] = (uint8_t)(v >> 16);
        p[k++] = (uint8_t)(v >> 8);
        p[k++] = (uint8_t)v;
    }
    *out = p;
    *n = k - pad;
    return FT_OK;
}

ft_status ft_tok_charsmap_parse(ft_tok_charsmap *m, const char *b64, size_t len, const char *what) {
    memset(m, 0, sizeof *m);
    uint8_t *d = NULL;
    size_t n = 0;
    FT_TRY(b64_decode(b64, len, &d, &n, what));
    ft_status st = FT_OK;
    uint32_t tsize =
        n >= 4 ? (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24 : 0;
    size_t nunits = tsize / 4, bad;
    if (n < 4)
        st = ft_fail(FT_ERR_FORMAT, "%s: %zu bytes, too short for the trie size", what, n);
    else if (nunits > (n - 4) / 4)
        st = ft_fail(FT_ERR_FORMAT, "%s: truncated: the trie needs %zu bytes, %zu follow the size", what,
                     nunits * 4, n - 4);
    else if (!nunits)
        st = ft_fail(FT_ERR_FORMAT, "%s: the trie is empty", what);
    else if (!ft_tok_utf8_valid((const char *)d + 4 + 4 * nunits, n - 4 - 4 * nunits, &bad))
        st = ft_fail(FT_ERR_FORMAT, "%s: the replacement strings are not valid UTF-8 (byte %zu)", what, bad);
    if (st == FT_OK) {
        m->nunits = nunits;
        m->blob_len = n - 4 - 4 * nunits;
        m->units = malloc(nunits * sizeof *m->units);
        m->blob = malloc(m->blob_len + 1);
        if (!m->units || !m->blob)
            st = ft_fail(FT_ERR_NOMEM, "%s: out of memory", what);
    }
    if (st == FT_OK) {
        for (size_t i = 0; i < nunits; i++) {
            const uint8_t *u = d + 4 + 4 * i;
            m->units[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
        }
        memcpy(m->blob, d + 4 + 4 * nunits, m->blob_len);
        m->blob[m->blob_len] = 0;
    } else
        ft_tok_charsmap_free(m);
    free(d);
    return st;
}

void ft_tok_charsmap_free(ft_tok_charsmap *m) {
    free(m->units);
    free(m->blob);
    memset(m, 0, sizeof *m);
}

static size_t unit_offset(uint32_t u) {
    return (size_t)(u >> 10) << ((u & (1u << 9)) >> 6);
}

ft_status ft_tok_charsmap_find(const ft_tok_charsmap *m, const char *s, size_t n, const char **rep,
                               size_t *rep_len, int *found) {
    *found = 0;
    size_t pos = unit_offset(m->units[0]); /* positions outside the array end the search (a corrupt map) */
    for (size_t i = 0; i < n && s[i]; i++) {
        uint8_t c = (uint8_t)s[i];
        pos ^= c;
        if (pos >= m->nunits)
            return FT_OK;
        uint32_t u = m->units[pos];
        if ((u & (0x80000000u | 0xFFu)) != c)
            return FT_OK;
        pos ^= unit_offset(u);
        if (!((u >> 8) & 1))
            continue;
        if (pos >= m->nunits)
            return FT_OK;
        size_t at = m->units[pos] & 0x7FFFFFFFu;
        if (at > m->blob_len || (at < m->blob_len && ((unsigned char)m->blob[at] & 0xC0) == 0x80))
            return ft_fail(FT_ERR_FORMAT,
                           "tokenizer: Precompiled: precompiled_charsmap points at byte %zu of its %zu-byte "
                           "replacement strings, not at a character",
                           at, m->blob_len);
        *rep = m->blob + at;
        *rep_len = strlen(*rep); /* the blob is NUL-terminated */
        *found = 1;
        return FT_OK;
    }
    return FT_OK;
}

/* One output character and its change as HF's NormalizedString::transform takes it: 0 replaces the next
 * source character, 1 is inserted, -k replaces the next one and removes k more. */
typedef struct {
    uint32_t cp;
    int32_t change;
} pc_ch;
typedef struct {
    pc_ch *v;
    size_t n, cap;
} pc_chs;

static size_t u8_count(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

/* HF's replace(): the new characters replace old_count source characters one for one; extra new ones
 * (the last ones) are inserted, missing ones are removed by the last character pushed so far. */
static ft_status pc_replace(pc_chs *l, size_t old_count, const char *rep, size_t rep_len) {
    size_t new_count = u8_count(rep, rep_len);
    pc_ch *v = ft_tok_grow(l->v, &l->cap, l->n + new_count + 1, sizeof *v, "Precompiled normalization");
    if (!v)
        return FT_ERR_NOMEM;
    l->v = v;
    for (size_t i = 0; i < rep_len;) {
        uint32_t cp;
        i += (size_t)ft_tok_u8dec((const unsigned char *)rep, rep_len, i, &cp);
        l->v[l->n++] = (pc_ch){cp, 0};
    }
    if (new_count > old_count)
        for (size_t k = 0; k < new_count - old_count; k++)
            l->v[l->n - 1 - k].change = 1;
    else if (new_count < old_count && l->n)
        l->v[l->n - 1].change -= (int32_t)(old_count - new_count);
    return FT_OK;
}

/* Replace s[a..b) (old_count characters) by rep: straight to out without offsets, else into the list. */
static ft_status pc_put(const char *rep, size_t rep_len, size_t old_count, ft_tok_buf *out, pc_chs *l) {
    return l ? pc_replace(l, old_count, rep, rep_len) : ft_tok_buf_add(out, rep, rep_len);
}

/* The list applied to the source characters (alignments src[0..nsrc)) as HF's transform does: a replacing
 * character takes its source character's alignment, an inserted one the previous source character's
 * ((0, 0) at the start). */
static ft_status pc_apply(const pc_chs *l, const ft_tok_al *src, size_t nsrc, ft_tok_buf *out,
                          ft_tok_als *oal) {
    size_t k = 0;
    for (size_t j = 0; j < l->n; j++) {
        int32_t ch = l->v[j].change;
        ft_tok_al x;
        if (ch > 0)
            x = k ? src[k - 1] : (ft_tok_al){0, 0};
        else if (k < nsrc)
            x = src[k], k += 1 + (size_t)(-ch);
        else
            return ft_fail(FT_ERR_INTERNAL, "tokenizer: Precompiled: replacements past the end of the text");
        FT_TRY(ft_tok_buf_cp(out, l->v[j].cp));
        FT_TRY(ft_tok_als_fill(oal, out->len, x));
    }
    return FT_OK;
}

/* For each extended grapheme cluster: under 6 bytes, the replacement of the shortest key prefixing it
 * replaces all of it; otherwise (or when none matches) each character is looked up alone. */
ft_status ft_tok_precompiled(const ft_tok_charsmap *m, const char *s, size_t len, const ft_tok_al *ial,
                             ft_tok_buf *out, ft_tok_als *oal) {
    const unsigned char *u = (const unsigned char *)s;
    pc_chs list = {0}, *l = oal ? &list : NULL;
    ft_tok_al *src = NULL;
    size_t nsrc = 0;
    ft_status st = FT_OK;
    if (oal && !(src = malloc((len ? len : 1) * sizeof *src)))
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory in Precompiled normalization");
    /* the alignments exist even for an empty result: the next normalizer of a Sequence reads them */
    if (oal && (st = ft_tok_als_fill(oal, 0, (ft_tok_al){0, 0})) != FT_OK) {
        free(src);
        return st;
    }
    utf8proc_int32_t state = 0;
    for (size_t g = 0; g < len && st == FT_OK;) {
        uint32_t prev, cp;
        size_t e = g + (size_t)ft_tok_u8dec(u, len, g, &prev);
        for (; e < len; e += (size_t)ft_tok_u8dec(u, len, e, &cp), prev = cp) {
            ft_tok_u8dec(u, len, e, &cp);
            if (prev < 0x80 && cp < 0x80) { /* between ASCII characters only CR LF does not break (GB3) */
                if (prev == '\r' && cp == '\n')
                    continue;
                break;
            }
            if (utf8proc_grapheme_break_stateful((utf8proc_int32_t)prev, (utf8proc_int32_t)cp, &state))
                break;
        }
        state = 0;
        if (oal)
            for (size_t i = g; i < e; i += (size_t)ft_tok_u8dec(u, len, i, &cp))
                src[nsrc++] = ial[i];
        const char *rep = NULL;
        size_t rep_len = 0;
        int found = 0;
        if (e - g < 6)
            st = ft_tok_charsmap_find(m, s + g, e - g, &rep, &rep_len, &found);
        if (st == FT_OK && found) {
            st = pc_put(rep, rep_len, u8_count(s + g, e - g), out, l);
            g = e;
            continue;
        }
        for (size_t i = g; i < e && st == FT_OK;) {
            size_t cl = (size_t)ft_tok_u8dec(u, len, i, &cp);
            st = ft_tok_charsmap_find(m, s + i, cl, &rep, &rep_len, &found);
            if (st == FT_OK)
                st = found ? pc_put(rep, rep_len, 1, out, l) : pc_put(s + i, cl, 1, out, l);
            i += cl;
        }
        g = e;
    }
    if (st == FT_OK && oal)
        st = pc_apply(&list, src, nsrc, out, oal);
    free(list.v);
    free(src);
    return st;
}
