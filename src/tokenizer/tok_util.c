/* tokenizer: buffers, hash map, UTF-8 and Unicode classes, the added-token trie. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

ft_status ft_tok_buf_reserve(ft_tok_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap)
        return FT_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory (%zu bytes)", cap);
    b->p = p;
    b->cap = cap;
    return FT_OK;
}

ft_status ft_tok_buf_add(ft_tok_buf *b, const void *s, size_t n) {
    FT_TRY(ft_tok_buf_reserve(b, n));
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return FT_OK;
}

ft_status ft_tok_buf_cp(ft_tok_buf *b, uint32_t cp) {
    uint8_t u[4];
    utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)cp, u);
    return ft_tok_buf_add(b, u, (size_t)n);
}

void ft_tok_buf_free(ft_tok_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

ft_status ft_tok_spans_add(ft_tok_spans *s, size_t off, size_t len, int32_t id, uint8_t first) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        ft_tok_span *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (ft_tok_span){off, len, id, first};
    return FT_OK;
}

void ft_tok_spans_free(ft_tok_spans *s) {
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* FNV-1a over 8-byte words then a final mix: fast enough for vocabulary strings. */
uint64_t ft_tok_hash(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

ft_status ft_tok_map_init(ft_tok_map *m, size_t expected) {
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap < expected * 2)
        cap *= 2;
    m->slot = calloc(cap, sizeof *m->slot);
    m->mask = cap - 1;
    m->cap = expected > 8 ? expected : 8;
    m->key_off = malloc(m->cap * sizeof *m->key_off);
    m->key_len = malloc(m->cap * sizeof *m->key_len);
    m->val = malloc(m->cap * sizeof *m->val);
    if (!m->slot || !m->key_off || !m->key_len || !m->val) {
        ft_tok_map_free(m);
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory for a map of %zu entries", expected);
    }
    return FT_OK;
}

static size_t map_find(const ft_tok_map *m, const char *k, size_t len, uint64_t h) {
    size_t i = h & m->mask;
    for (;;) {
        uint32_t e = m->slot[i];
        if (!e)
            return i;
        e--;
        if (m->key_len[e] == len && !memcmp(m->pool.p + m->key_off[e], k, len))
            return i;
        i = (i + 1) & m->mask;
    }
}

static ft_status map_grow(ft_tok_map *m) {
    size_t cap = (m->mask + 1) * 2;
    uint32_t *slot = calloc(cap, sizeof *slot);
    if (!slot)
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
    free(m->slot);
    m->slot = slot;
    m->mask = cap - 1;
    for (size_t e = 0; e < m->n; e++) {
        size_t i = ft_tok_hash(m->pool.p + m->key_off[e], m->key_len[e]) & m->mask;
        while (m->slot[i])
            i = (i + 1) & m->mask;
        m->slot[i] = (uint32_t)(e + 1);
    }
    return FT_OK;
}

ft_status ft_tok_map_put(ft_tok_map *m, const char *k, size_t len, int32_t val) {
    if ((m->n + 1) * 2 > m->mask + 1)
        FT_TRY(map_grow(m));
    size_t i = map_find(m, k, len, ft_tok_hash(k, len));
    if (m->slot[i]) {
        m->val[m->slot[i] - 1] = val;
        return FT_OK;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap * 2;
        size_t *ko = realloc(m->key_off, cap * sizeof *ko);
        if (ko)
            m->key_off = ko;
        uint32_t *kl = realloc(m->key_len, cap * sizeof *kl);
        if (kl)
            m->key_len = kl;
        int32_t *v = realloc(m->val, cap * sizeof *v);
        if (v)
            m->val = v;
        if (!ko || !kl || !v)
            return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
        m->cap = cap;
    }
    m->key_off[m->n] = m->pool.len;
    m->key_len[m->n] = (uint32_t)len;
    m->val[m->n] = val;
    FT_TRY(ft_tok_buf_add(&m->pool, k, len));
    m->slot[i] = (uint32_t)(++m->n);
    return FT_OK;
}

int32_t ft_tok_map_get(const ft_tok_map *m, const char *k, size_t len) {
    if (!m->slot)
        return -1;
    size_t i = map_find(m, k, len, ft_tok_hash(k, len));
    return m->slot[i] ? m->val[m->slot[i] - 1] : -1;
}

void ft_tok_map_free(ft_tok_map *m) {
    free(m->slot);
    free(m->key_off);
    free(m->key_len);
    free(m->val);
    ft_tok_buf_free(&m->pool);
    memset(m, 0, sizeof *m);
}

/* ---- UTF-8 ---- */

/* Length of the valid sequence starting at s[i], or 0 if invalid (overlongs, surrogates, > U+10FFFF
 * rejected); *maximal = length of the maximal invalid prefix for lossy replacement. */
static size_t u8_seq(const unsigned char *s, size_t n, size_t i, size_t *maximal) {
    unsigned c = s[i];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    else if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) { need = 2; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) need = 2;
    else if (c == 0xED) { need = 2; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) need = 2;
    else if (c == 0xF0) { need = 3; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) { need = 3; hi = 0x8F; }
    else { *maximal = 1; return 0; }
    for (size_t k = 1; k <= need; k++) {
        unsigned lo_k = k == 1 ? lo : 0x80, hi_k = k == 1 ? hi : 0xBF;
        if (i + k >= n || s[i + k] < lo_k || s[i + k] > hi_k) {
            *maximal = k;
            return 0;
        }
    }
    return need + 1;
}

bool ft_tok_utf8_valid(const char *s, size_t n, size_t *bad) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t mx, k = u8_seq(u, n, i, &mx);
        if (!k) {
            if (bad)
                *bad = i;
            return false;
        }
        i += k;
    }
    return true;
}

ft_status ft_tok_utf8_lossy(ft_tok_buf *out, const unsigned char *s, size_t n) {
    size_t i = 0, run = 0;
    while (i < n) {
        size_t mx = 1, k = s[i] < 0x80 ? 1 : u8_seq(s, n, i, &mx);
        if (k) {
            i += k;
            continue;
        }
        FT_TRY(ft_tok_buf_add(out, s + run, i - run));
        FT_TRY(ft_tok_buf_add(out, "\xEF\xBF\xBD", 3));
        i += mx;
        run = i;
    }
    return ft_tok_buf_add(out, s + run, n - run);
}

/* ---- Unicode classes ---- */
bool ft_tok_is_whitespace(uint32_t c) {
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool ft_tok_is_punct(uint32_t c) {
    if (c < 128)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

bool ft_tok_is_alnum(uint32_t c) {
    if (c < 128)
        return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) || (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

bool ft_tok_is_word_char(uint32_t c) {
    if (c == '_' || ft_tok_is_alnum(c))
        return true;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return (k >= UTF8PROC_CATEGORY_MN && k <= UTF8PROC_CATEGORY_ME) || k == UTF8PROC_CATEGORY_PC;
}

/* ---- ids ---- */
ft_status ft_tok_ids_reserve(ft_tok_ids *o, size_t extra) {
    if (o->n + extra <= o->cap)
        return FT_OK;
    size_t cap = o->cap ? o->cap : 64;
    while (cap < o->n + extra)
        cap *= 2;
    int32_t *ids = realloc(o->ids, cap * sizeof *ids);
    if (ids)
        o->ids = ids;
    int32_t *ty = realloc(o->type_ids, cap * sizeof *ty);
    if (ty)
        o->type_ids = ty;
    if (!ids || !ty)
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory for %zu ids", cap);
    if (o->mask) {
        uint8_t *mk = realloc(o->mask, cap);
        if (!mk)
            return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory for %zu ids", cap);
        o->mask = mk;
    }
    if (o->offsets) {
        ft_tok_offset *of = realloc(o->offsets, cap * sizeof *of);
        if (!of)
            return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory for %zu offsets", cap);
        o->offsets = of;
    }
    o->cap = cap;
    return FT_OK;
}

ft_status ft_tok_ids_push(ft_tok_ids *o, int32_t id, int32_t type_id) {
    if (o->n == o->cap)
        FT_TRY(ft_tok_ids_reserve(o, 1));
    o->ids[o->n] = id;
    o->type_ids[o->n] = type_id;
    if (o->mask)
        o->mask[o->n] = 0;
    if (o->offsets)
        o->offsets[o->n] = (ft_tok_offset){0, 0};
    o->n++;
    return FT_OK;
}

void ft_tok_ids_free(ft_tok_ids *o) {
    free(o->ids);
    free(o->type_ids);
    free(o->mask);
    free(o->offsets);
    memset(o, 0, sizeof *o);
}

/* ---- trie ---- */
static int32_t trie_node(ft_tok_trie *t) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        int32_t *tk = realloc(t->tok, cap * sizeof *tk);
        if (!tk)
            return -1;
        t->tok = tk;
        t->cap = cap;
    }
    t->tok[t->n] = -1;
    return (int32_t)t->n++;
}

int32_t ft_tok_trie_child(const ft_tok_trie *t, int32_t node, uint8_t b) {
    int64_t i = ft_tok_merges_find(&t->edges, node, b);
    return i < 0 ? -1 : t->edges.out[i];
}

ft_status ft_tok_trie_insert(ft_tok_trie *t, const char *s, size_t len, int32_t v) {
    int32_t node = 0;
    for (size_t k = 0; k < len; k++) {
        uint8_t b = (uint8_t)s[k];
        int32_t c = ft_tok_trie_child(t, node, b);
        if (c < 0) {
            c = trie_node(t);
            if (c < 0)
                return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
            FT_TRY(ft_tok_merges_put(&t->edges, node, b, 0, c));
        }
        node = c;
    }
    t->tok[node] = v;
    t->first[(uint8_t)s[0]] = 1;
    return FT_OK;
}

ft_status ft_tok_trie_build(ft_tok_trie *t, const ft_tok_added *added, size_t n, bool normalized) {
    memset(t, 0, sizeof *t);
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        if (added[i].normalized == normalized)
            bytes += added[i].len;
    if (!bytes)
        return FT_OK;
    FT_TRY(ft_tok_merges_init(&t->edges, bytes));
    if (trie_node(t) < 0)
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < n; i++)
        if (added[i].normalized == normalized && added[i].len)
            FT_TRY(ft_tok_trie_insert(t, added[i].content, added[i].len, (int32_t)i));
    return FT_OK;
}

/* The root of an empty trie that ft_tok_trie_insert can grow (expected: about how many bytes). */
ft_status ft_tok_trie_init(ft_tok_trie *t, size_t expected) {
    memset(t, 0, sizeof *t);
    FT_TRY(ft_tok_merges_init(&t->edges, expected));
    if (trie_node(t) < 0)
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
    return FT_OK;
}

void ft_tok_trie_free(ft_tok_trie *t) {
    ft_tok_merges_free(&t->edges);
    free(t->tok);
    memset(t, 0, sizeof *t);
}

void *ft_tok_grow(void *p, size_t *cap, size_t need, size_t elem, const char *what) {
    if (need <= *cap && p)
        return p;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *v = realloc(p, c * elem);
    if (!v) {
        ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory for %zu %s", c, what);
        return NULL;
    }
    *cap = c;
    return v;
}

ft_status ft_tok_als_fill(ft_tok_als *s, size_t n, ft_tok_al x) {
    ft_tok_al *v = ft_tok_grow(s->v, &s->cap, n, sizeof *v, "alignments");
    if (!v)
        return FT_ERR_NOMEM;
    s->v = v;
    for (size_t i = s->n; i < n; i++)
        s->v[i] = x;
    if (n > s->n)
        s->n = n;
    return FT_OK;
}

ft_status ft_tok_als_add(ft_tok_als *s, const ft_tok_al *v, size_t n) {
    size_t at = s->n;
    FT_TRY(ft_tok_als_fill(s, at + n, (ft_tok_al){0, 0}));
    if (n)
        memcpy(s->v + at, v, n * sizeof *v); /* v must not point into s */
    return FT_OK;
}

void ft_tok_als_free(ft_tok_als *s) {
    free(s->v);
    memset(s, 0, sizeof *s);
}
