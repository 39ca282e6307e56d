/* tokenizer models: BPE (merges by rank) and WordPiece (greedy longest match), with a word cache. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

/* ---- merges map ---- */
ft_status ft_tok_merges_init(ft_tok_merges *m, size_t expected) {
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap < expected * 2)
        cap *= 2;
    m->key = calloc(cap, sizeof *m->key);
    m->rank = malloc(cap * sizeof *m->rank);
    m->out = malloc(cap * sizeof *m->out);
    m->mask = cap - 1;
    if (!m->key || !m->rank || !m->out) {
        ft_tok_merges_free(m);
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory for %zu merges", expected);
    }
    return FT_OK;
}

ft_status ft_tok_merges_put(ft_tok_merges *m, int32_t a, int32_t b, int32_t rank, int32_t out) {
    if ((m->n + 1) * 2 > m->mask + 1) { /* grow: rehash into twice the slots */
        ft_tok_merges g;
        FT_TRY(ft_tok_merges_init(&g, (m->mask + 1)));
        for (size_t i = 0; i <= m->mask; i++)
            if (m->key[i]) {
                uint64_t k = m->key[i] - 1;
                ft_status s = ft_tok_merges_put(&g, (int32_t)(k >> 32), (int32_t)(uint32_t)k, m->rank[i], m->out[i]);
                if (s != FT_OK) {
                    ft_tok_merges_free(&g);
                    return s;
                }
            }
        ft_tok_merges_free(m);
        *m = g;
    }
    uint64_t k = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    size_t i = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20) & m->mask;
    while (m->key[i] && m->key[i] != k)
        i = (i + 1) & m->mask;
    if (m->key[i]) /* a repeated merge keeps its first (best) rank, as HF does */
        return FT_OK;
    m->key[i] = k;
    m->rank[i] = rank;
    m->out[i] = out;
    m->n++;
    return FT_OK;
}

void ft_tok_merges_free(ft_tok_merges *m) {
    free(m->key);
    free(m->rank);
    free(m->out);
    memset(m, 0, sizeof *m);
}

/* ---- word cache ---- */
#define CACHE_MAX_WORD 256
#define CACHE_MAX_ENTRIES 65536

static void cache_clear(ft_tok_cache *c) {
    if (c->slot)
        memset(c->slot, 0, (c->mask + 1) * sizeof *c->slot);
    c->n = 0;
    c->keys.len = 0;
    c->ids_len = 0;
}

static const int32_t *cache_get(const ft_tok_cache *c, const char *w, size_t n, uint64_t h, size_t *nids,
                                const uint32_t **lens) {
    if (!c->slot)
        return NULL;
    size_t i = h & c->mask;
    for (;;) {
        uint32_t e = c->slot[i];
        if (!e)
            return NULL;
        e--;
        if (c->key_len[e] == n && !memcmp(c->keys.p + c->key_off[e], w, n)) {
            *nids = c->ids_n[e];
            *lens = c->lens + c->ids_off[e];
            return c->ids + c->ids_off[e];
        }
        i = (i + 1) & c->mask;
    }
}

/* Best effort: a failed allocation only means no caching. */
static void cache_put(ft_tok_cache *c, const char *w, size_t n, uint64_t h, const int32_t *ids,
                      const uint32_t *lens, size_t nids) {
    if (!c->slot) {
        size_t cap = 2 * CACHE_MAX_ENTRIES;
        c->slot = calloc(cap, sizeof *c->slot);
        c->key_off = malloc(CACHE_MAX_ENTRIES * sizeof *c->key_off);
        c->key_len = malloc(CACHE_MAX_ENTRIES * sizeof *c->key_len);
        c->ids_off = malloc(CACHE_MAX_ENTRIES * sizeof *c->ids_off);
        c->ids_n = malloc(CACHE_MAX_ENTRIES * sizeof *c->ids_n);
        c->mask = cap - 1;
        c->max_entries = CACHE_MAX_ENTRIES;
        if (!c->slot || !c->key_off || !c->key_len || !c->ids_off || !c->ids_n) {
            ft_tok_cache_free(c);
            return;
        }
    }
    if (c->n == c->max_entries || c->ids_len + nids > (size_t)UINT32_MAX)
        cache_clear(c);
    if (c->ids_len + nids > c->ids_cap) {
        size_t cap = c->ids_cap ? c->ids_cap * 2 : 65536;
        while (cap < c->ids_len + nids)
            cap *= 2;
        int32_t *p = realloc(c->ids, cap * sizeof *p);
        if (!p)
            return;
        c->ids = p;
        uint32_t *q = realloc(c->lens, cap * sizeof *q);
        if (!q)
            return;
        c->lens = q;
        c->ids_cap = cap;
    }
    size_t koff = c->keys.len;
    if (ft_tok_buf_add(&c->keys, w, n) != FT_OK) {
        ft_clear_error();
        return;
    }
    size_t i = h & c->mask;
    while (c->slot[i])
        i = (i + 1) & c->mask;
    c->key_off[c->n] = koff;
    c->key_len[c->n] = (uint32_t)n;
    c->ids_off[c->n] = (uint32_t)c->ids_len;
    c->ids_n[c->n] = (uint32_t)nids;
    memcpy(c->ids + c->ids_len, ids, nids * sizeof *ids);
    memcpy(c->lens + c->ids_len, lens, nids * sizeof *lens);
    c->ids_len += nids;
    c->slot[i] = (uint32_t)(++c->n);
}

void ft_tok_cache_free(ft_tok_cache *c) {
    free(c->slot);
    free(c->key_off);
    free(c->key_len);
    free(c->ids_off);
    free(c->ids_n);
    free(c->ids);
    free(c->lens);
    ft_tok_buf_free(&c->keys);
    memset(c, 0, sizeof *c);
}

/* ---- BPE ---- */
typedef struct {
    int32_t rank, pos;
} heap_ent;

static void heap_push(heap_ent *h, size_t *n, heap_ent e) {
    size_t i = (*n)++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (h[p].rank < e.rank || (h[p].rank == e.rank && h[p].pos < e.pos))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static heap_ent heap_pop(heap_ent *h, size_t *n) {
    heap_ent top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && (h[c + 1].rank < h[c].rank || (h[c + 1].rank == h[c].rank && h[c + 1].pos < h[c].pos)))
            c++;
        if (last.rank < h[c].rank || (last.rank == h[c].rank && last.pos < h[c].pos))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

/* Symbols a word of n bytes can start as: at most one per byte of each character with its prefix/suffix
 * (byte fallback). */
static size_t bpe_max_symbols(const ft_tokenizer *t, size_t n) {
    return n * (1 + t->cont_prefix_len) + t->end_suffix_len + 2;
}

/* Word -> initial symbols (one per character; prefix/suffix; byte fallback; unk, fused if asked),
 * then apply merges lowest rank first, leftmost among equals. lens[k]: bytes of w behind the k-th token
 * (HF lays the symbols end to end in the order they were made, a deferred unk included). */
static ft_status bpe_word(ft_tokenizer *t, const char *w, size_t n, ft_tok_ids *out, uint32_t *lens) {
    size_t cap = bpe_max_symbols(t, n);
    int32_t *sym = malloc(cap * 4 * sizeof *sym);    /* id, prev, next, byte length per symbol */
    heap_ent *heap = malloc(3 * cap * sizeof *heap); /* initial pairs + 2 per merge */
    char *tmp = malloc(n + t->cont_prefix_len + t->end_suffix_len + 8);
    if (!sym || !heap || !tmp) {
        free(sym), free(heap), free(tmp);
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory for a word of %zu bytes", n);
    }
    int32_t *id = sym, *prev = sym + cap, *next = sym + 2 * cap, *len = sym + 3 * cap;
    int32_t ns = 0, unk_pending = 0, unk_len = 0;
    const unsigned char *u = (const unsigned char *)w;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t cl = (size_t)ft_tok_u8dec(u, n, i, &cp);
        bool first = i == 0, last = i + cl >= n;
        size_t tl = 0;
        if (!first && t->cont_prefix_len) {
            memcpy(tmp, t->cont_prefix, t->cont_prefix_len);
            tl = t->cont_prefix_len;
        }
        memcpy(tmp + tl, w + i, cl);
        tl += cl;
        if (last && t->end_suffix_len) {
            memcpy(tmp + tl, t->end_suffix, t->end_suffix_len);
            tl += t->end_suffix_len;
        }
        int32_t v = ft_tok_map_get(&t->vocab, tmp, tl);
        if (v >= 0) {
            if (unk_pending)
                len[ns] = unk_len, id[ns++] = t->unk_id, unk_pending = 0;
            len[ns] = (int32_t)cl, id[ns++] = v;
        } else {
            bool done = false;
            if (t->byte_fallback) {
                bool all = true;
                for (size_t k = 0; k < tl; k++)
                    all = all && t->byte_ids[(uint8_t)tmp[k]] >= 0;
                if (all) {
                    /* HF pushes byte tokens without flushing a pending unk first */
                    for (size_t k = 0; k < tl; k++)
                        len[ns] = 1, id[ns++] = t->byte_ids[(uint8_t)tmp[k]];
                    done = true;
                }
            }
            if (!done && t->unk_id >= 0) {
                if (unk_pending && !t->fuse_unk)
                    len[ns] = unk_len, id[ns++] = t->unk_id, unk_len = 0;
                else if (!unk_pending)
                    unk_len = 0;
                unk_len += (int32_t)cl;
                unk_pending = 1;
            }
        }
        i += cl;
    }
    if (unk_pending)
        len[ns] = unk_len, id[ns++] = t->unk_id;
    size_t nh = 0;
    for (int32_t i = 0; i < ns; i++) {
        prev[i] = i - 1;
        next[i] = i + 1 < ns ? i + 1 : -1;
        if (i + 1 < ns) {
            int64_t m = ft_tok_merges_find(&t->merges, id[i], id[i + 1]);
            if (m >= 0)
                heap_push(heap, &nh, (heap_ent){t->merges.rank[m], i});
        }
    }
    while (nh) {
        heap_ent e = heap_pop(heap, &nh);
        int32_t p = e.pos, q = next[p];
        if (id[p] < 0 || q < 0)
            continue;
        int64_t m = ft_tok_merges_find(&t->merges, id[p], id[q]);
        if (m < 0 || t->merges.rank[m] != e.rank)
            continue;
        id[p] = t->merges.out[m];
        len[p] += len[q];
        id[q] = -1;
        next[p] = next[q];
        if (next[q] >= 0)
            prev[next[q]] = p;
        if (prev[p] >= 0) {
            int64_t m2 = ft_tok_merges_find(&t->merges, id[prev[p]], id[p]);
            if (m2 >= 0)
                heap_push(heap, &nh, (heap_ent){t->merges.rank[m2], prev[p]});
        }
        if (next[p] >= 0) {
            int64_t m2 = ft_tok_merges_find(&t->merges, id[p], id[next[p]]);
            if (m2 >= 0)
                heap_push(heap, &nh, (heap_ent){t->merges.rank[m2], p});
        }
    }
    ft_status s = FT_OK;
    size_t k = 0;
    for (int32_t i = ns ? 0 : -1; i >= 0 && s == FT_OK; i = next[i]) {
        s = ft_tok_ids_push(out, id[i], 0);
        lens[k++] = (uint32_t)len[i];
    }
    free(sym), free(heap), free(tmp);
    return s;
}

/* ---- WordPiece ---- */
static ft_status wordpiece_word(ft_tokenizer *t, const char *w, size_t n, ft_tok_ids *out, uint32_t *lens) {
    const unsigned char *u = (const unsigned char *)w;
    size_t nchars = 0;
    for (size_t i = 0; i < n; i++)
        nchars += (u[i] & 0xC0) != 0x80;
    lens[0] = (uint32_t)n; /* [UNK] for the whole word */
    if (nchars > t->max_chars)
        return ft_tok_ids_push(out, t->unk_id, 0);
    char *tmp = malloc(n + t->cont_prefix_len + 1);
    if (!tmp)
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
    size_t start_n = out->n, start = 0;
    ft_status s = FT_OK;
    while (start < n) {
        size_t end = n;
        int32_t found = -1;
        while (end > start) {
            size_t tl = 0;
            if (start > 0) {
                memcpy(tmp, t->cont_prefix, t->cont_prefix_len);
                tl = t->cont_prefix_len;
            }
            memcpy(tmp + tl, w + start, end - start);
            tl += end - start;
            found = ft_tok_map_get(&t->vocab, tmp, tl);
            if (found >= 0)
                break;
            do /* back up one character */
                end--;
            while (end > start && (u[end] & 0xC0) == 0x80);
        }
        if (found < 0) { /* a piece matched nothing: the whole word is unknown */
            out->n = start_n;
            lens[0] = (uint32_t)n;
            s = ft_tok_ids_push(out, t->unk_id, 0);
            break;
        }
        lens[out->n - start_n] = (uint32_t)(end - start);
        if ((s = ft_tok_ids_push(out, found, 0)) != FT_OK)
            break;
        start = end;
    }
    free(tmp);
    return s;
}

/* out->offsets[before..] = the tokens' byte ranges in the word, laid end to end (a length marked
 * FT_TOK_LEN_SHARED does not advance: the next token spans the same bytes). */
static void lens_to_offsets(ft_tok_ids *out, size_t before, const uint32_t *lens) {
    if (!out->offsets)
        return;
    size_t pos = 0;
    for (size_t i = before; i < out->n; i++) {
        uint32_t l = lens[i - before] & ~FT_TOK_LEN_SHARED;
        out->offsets[i] = (ft_tok_offset){pos, pos + l};
        if (!(lens[i - before] & FT_TOK_LEN_SHARED))
            pos += l;
    }
}

ft_status ft_tok_model_word(ft_tokenizer *t, const char *w, size_t n, ft_tok_ids *out) {
    if (!n)
        return FT_OK;
    size_t before = out->n;
    if (t->model == FT_TOK_M_WORDLEVEL) { /* the whole word, or unk_token (HF: an error without one) */
        int32_t v = ft_tok_map_get(&t->vocab, w, n);
        if (v < 0 && t->unk_id < 0)
            return ft_fail(
                FT_ERR_FORMAT,
                "tokenizer: WordLevel: the word '%.*s' is not in the vocabulary and the unk_token '%s' is "
                "not either",
                (int)(n > 64 ? 64 : n), w, t->unk_token ? t->unk_token : "<unk>");
        FT_TRY(ft_tok_ids_push(out, v >= 0 ? v : t->unk_id, 0));
        uint32_t whole = (uint32_t)n;
        lens_to_offsets(out, before, &whole);
        return FT_OK;
    }
    if (t->model == FT_TOK_M_BPE && t->ignore_merges) {
        int32_t v = ft_tok_map_get(&t->vocab, w, n);
        if (v >= 0) {
            FT_TRY(ft_tok_ids_push(out, v, 0));
            uint32_t whole = (uint32_t)n;
            lens_to_offsets(out, before, &whole);
            return FT_OK;
        }
    }
    uint64_t h = 0;
    if (n <= CACHE_MAX_WORD) {
        h = ft_tok_hash(w, n);
        size_t nids;
        const uint32_t *lens = NULL;
        const int32_t *c = cache_get(&t->cache, w, n, h, &nids, &lens);
        if (c) {
            FT_TRY(ft_tok_ids_reserve(out, nids));
            for (size_t i = 0; i < nids; i++) {
                out->ids[out->n + i] = c[i];
                out->type_ids[out->n + i] = 0;
            }
            out->n += nids;
            lens_to_offsets(out, before, lens);
            return FT_OK;
        }
    }
    size_t need = t->model == FT_TOK_M_BPE ? bpe_max_symbols(t, n) : n + 1;
    if (need > t->wlens_cap) {
        uint32_t *l = realloc(t->wlens, need * sizeof *l);
        if (!l)
            return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory for a word of %zu bytes", n);
        t->wlens = l;
        t->wlens_cap = need;
    }
    FT_TRY(t->model == FT_TOK_M_BPE       ? bpe_word(t, w, n, out, t->wlens)
           : t->model == FT_TOK_M_UNIGRAM ? ft_tok_unigram_word(t, w, n, out, t->wlens)
                                          : wordpiece_word(t, w, n, out, t->wlens));
    /* a word may give no token at all (no unk, no byte fallback): not cached, as the cache's arrays may
     * still be NULL then */
    if (n <= CACHE_MAX_WORD && out->n > before)
        cache_put(&t->cache, w, n, h, out->ids + before, t->wlens, out->n - before);
    lens_to_offsets(out, before, t->wlens);
    return FT_OK;
}
