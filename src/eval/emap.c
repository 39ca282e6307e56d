/* Byte-string hash map and text helpers shared by the text metrics. */
#include <stdlib.h>
#include <string.h>

#include "eval/eval_internal.h"

static uint64_t hash_bytes(const void *p, size_t n) { /* FNV-1a, then a 64-bit finalizer */
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

void ft_emap_init(ft_emap *m) { memset(m, 0, sizeof *m); }

void ft_emap_clear(ft_emap *m) {
    if (m->slots)
        memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->used = 0;
}

void ft_emap_free(ft_emap *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static ft_em_slot *probe(ft_em_slot *slots, size_t cap, const void *key, size_t len, uint64_t h) {
    size_t i = (size_t)h & (cap - 1);
    for (;;) {
        ft_em_slot *s = &slots[i];
        if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
            return s;
        i = (i + 1) & (cap - 1);
    }
}

static int grow(ft_emap *m) {
    size_t ncap = m->cap ? m->cap * 2 : 64;
    ft_em_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            *probe(ns, ncap, m->slots[i].key, m->slots[i].len, m->slots[i].hash) = m->slots[i];
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 1;
}

int64_t *ft_emap_get(ft_emap *m, const void *key, size_t len, int64_t init) {
    static const char empty_key = 0; /* zero-length keys still need a non-NULL pointer */
    if (!key)
        key = &empty_key;
    if ((m->used + 1) * 4 > m->cap * 3 && !grow(m)) {
        ft_fail(FT_ERR_NOMEM, "metrics: out of memory in hash map");
        return NULL;
    }
    uint64_t h = hash_bytes(key, len);
    ft_em_slot *s = probe(m->slots, m->cap, key, len, h);
    if (!s->key) {
        s->key = key;
        s->len = len;
        s->hash = h;
        s->val = init;
        m->used++;
    }
    return &s->val;
}

int64_t ft_emap_find(const ft_emap *m, const void *key, size_t len, int64_t missing) {
    static const char empty_key = 0;
    if (!m->cap)
        return missing;
    if (!key)
        key = &empty_key;
    const ft_em_slot *s = probe(m->slots, m->cap, key, len, hash_bytes(key, len));
    return s->key ? s->val : missing;
}

uint32_t ft_eval_utf8_next(const unsigned char *s, size_t n, size_t *adv) {
    unsigned c = s[0];
    size_t need;
    uint32_t cp, min;
    if (c < 0x80) {
        *adv = 1;
        return c;
    } else if ((c & 0xe0) == 0xc0) {
        need = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        need = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        need = 3, cp = c & 0x07, min = 0x10000;
    } else {
        *adv = 1;
        return 0xdc00u + c;
    }
    if (need >= n) {
        *adv = 1;
        return 0xdc00u + c;
    }
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *adv = 1;
            return 0xdc00u + c;
        }
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        *adv = 1;
        return 0xdc00u + c;
    }
    *adv = need + 1;
    return cp;
}

size_t ft_eval_utf8_put(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp >= 0xdc80 && cp <= 0xdcff) { /* an undecodable byte goes back out unchanged */
        o[0] = (unsigned char)(cp - 0xdc00);
        return 1;
    }
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Python's str.isspace(): bidi classes WS, B, S and category Zs. */
static int py_space_cp(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

size_t ft_eval_space_len(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    if (!u[0])
        return 0;
    if (u[0] < 0x80)
        return py_space_cp(u[0]) ? 1 : 0;
    size_t adv, n = strnlen(s, 4);
    uint32_t cp = ft_eval_utf8_next(u, n, &adv);
    return (cp < 0xdc80 || cp > 0xdcff) && py_space_cp(cp) ? adv : 0;
}
