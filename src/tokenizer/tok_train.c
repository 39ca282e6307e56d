/* tokenizer training: byte-level BPE (see tok_train.h for the algorithm and its tie-break). */
#define _GNU_SOURCE
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tok_train.h"

/* ---- word counts: byte-level word string -> count ---- */
typedef struct {
    ft_tok_map map; /* word -> index into cnt */
    uint64_t *cnt;
    size_t cap;
    uint64_t words;
} wcount;

static ft_status wc_init(wcount *w, size_t expected) {
    memset(w, 0, sizeof *w);
    return ft_tok_map_init(&w->map, expected);
}

static void wc_free(wcount *w) {
    ft_tok_map_free(&w->map);
    free(w->cnt);
    memset(w, 0, sizeof *w);
}

static ft_status wc_add(wcount *w, const char *s, size_t n, uint64_t c) {
    int32_t i = ft_tok_map_get(&w->map, s, n);
    if (i < 0) {
        if (w->map.n >= (size_t)INT32_MAX)
            return ft_fail(FT_ERR_RANGE, "tokenizer train: more than %d distinct words", INT32_MAX);
        if (w->map.n == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 1024;
            uint64_t *p = realloc(w->cnt, cap * sizeof *p);
            if (!p)
                return ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory counting words");
            w->cnt = p;
            w->cap = cap;
        }
        i = (int32_t)w->map.n;
        FT_TRY(ft_tok_map_put(&w->map, s, n, i));
        w->cnt[i] = 0;
    }
    w->cnt[i] += c;
    return FT_OK;
}

/* ---- pairs (a, b) -> record: count, the words it may occur in (a superset, pruned lazily) ---- */
typedef struct {
    int64_t count;
    uint32_t a, b;
    uint32_t *w; /* word indices; a word can repeat, or no longer hold the pair */
    uint32_t n, cap;
    uint32_t touched; /* iteration in which the count last grew (queue it once per iteration) */
    uint8_t merged;
} pair_rec;

typedef struct {
    uint64_t *key; /* (a << 32 | b) + 1, 0 = empty */
    uint32_t *idx;
    size_t mask, used;
    pair_rec *rec;
    size_t n, cap;
} pair_tab;

typedef struct {
    int64_t count;
    uint32_t a, b;
} heap_item;

typedef struct {
    heap_item *v;
    size_t n, cap;
} heap;

struct ft_tok_trainer {
    ft_tok_train_opts o;
    char **special; /* copies of o.special */
    int nthreads;
    ft_tokenizer **tok; /* one per thread: the skeleton of the tokenizer.json that will be written */
    wcount words;
    ft_tok_train_stats stats;
    bool trained;
    /* vocabulary: id -> byte-level string (pool offsets), string -> id */
    ft_tok_buf pool;
    size_t *voff;
    uint32_t *vlen;
    size_t nvocab, vcap;
    ft_tok_map vmap;
    int32_t byte_id[256];
    /* merges learned: (left, right, result) */
    int32_t *merges;
    size_t nmerges, mcap;
};

/* ---- helpers ---- */
static uint64_t pair_key(uint32_t a, uint32_t b) {
    return (((uint64_t)a << 32) | b) + 1;
}

static size_t pair_slot(const pair_tab *p, uint64_t k) {
    size_t i = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20) & p->mask;
    while (p->key[i] && p->key[i] != k)
        i = (i + 1) & p->mask;
    return i;
}

static ft_status pair_tab_init(pair_tab *p, size_t expected) {
    memset(p, 0, sizeof *p);
    size_t cap = 1024;
    while (cap < expected * 2)
        cap *= 2;
    p->key = calloc(cap, sizeof *p->key);
    p->idx = malloc(cap * sizeof *p->idx);
    p->mask = cap - 1;
    if (!p->key || !p->idx)
        return ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory for %zu pairs", expected);
    return FT_OK;
}

static void pair_tab_free(pair_tab *p) {
    for (size_t i = 0; i < p->n; i++)
        free(p->rec[i].w);
    free(p->rec);
    free(p->key);
    free(p->idx);
    memset(p, 0, sizeof *p);
}

static ft_status pair_tab_grow(pair_tab *p) {
    size_t cap = (p->mask + 1) * 2;
    uint64_t *key = calloc(cap, sizeof *key), *old_key = p->key;
    uint32_t *idx = malloc(cap * sizeof *idx), *old_idx = p->idx;
    if (!key || !idx) {
        free(key);
        free(idx);
        return ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory for the pair table");
    }
    size_t old_cap = p->mask + 1;
    p->key = key;
    p->idx = idx;
    p->mask = cap - 1;
    for (size_t i = 0; i < old_cap; i++)
        if (old_key[i]) {
            size_t s = pair_slot(p, old_key[i]);
            p->key[s] = old_key[i];
            p->idx[s] = old_idx[i];
        }
    free(old_key);
    free(old_idx);
    return FT_OK;
}

/* Index of pair (a, b), created with count 0 when absent. */
static ft_status pair_get(pair_tab *p, uint32_t a, uint32_t b, uint32_t *out) {
    uint64_t k = pair_key(a, b);
    size_t s = pair_slot(p, k);
    if (p->key[s]) {
        *out = p->idx[s];
        return FT_OK;
    }
    if ((p->used + 1) * 2 > p->mask + 1) {
        FT_TRY(pair_tab_grow(p));
        s = pair_slot(p, k);
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4096;
        pair_rec *r = realloc(p->rec, cap * sizeof *r);
        if (!r)
            return ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory for the pair table");
        p->rec = r;
        p->cap = cap;
    }
    if (p->n >= UINT32_MAX)
        return ft_fail(FT_ERR_RANGE, "tokenizer train: too many distinct pairs");
    p->rec[p->n] = (pair_rec){.a = a, .b = b};
    p->key[s] = k;
    p->idx[s] = (uint32_t)p->n;
    p->used++;
    *out = (uint32_t)p->n++;
    return FT_OK;
}

static ft_status pair_add_word(pair_rec *r, uint32_t w) {
    if (r->n && r->w[r->n - 1] == w)
        return FT_OK;
    if (r->n == r->cap) {
        uint32_t cap = r->cap ? r->cap * 2 : 4;
        uint32_t *v = realloc(r->w, (size_t)cap * sizeof *v);
        if (!v)
            return ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory for a pair's word list");
        r->w = v;
        r->cap = cap;
    }
    r->w[r->n++] = w;
    return FT_OK;
}

/* Max-heap order: larger count first, then the smaller (a, b) (HF BpeTrainer's tie-break). */
static bool heap_before(const heap_item *x, const heap_item *y) {
    if (x->count != y->count)
        return x->count > y->count;
    return x->a != y->a ? x->a < y->a : x->b < y->b;
}

static ft_status heap_push(heap *h, heap_item it) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 4096;
        heap_item *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory for the pair queue");
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!heap_before(&it, &h->v[up]))
            break;
        h->v[i] = h->v[up];
        i = up;
    }
    h->v[i] = it;
    return FT_OK;
}

static heap_item heap_pop(heap *h) {
    heap_item top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && heap_before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!heap_before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = last;
    return top;
}

/* ---- vocabulary ---- */
static ft_status vocab_add(ft_tok_trainer *t, const char *s, size_t n, int32_t *id) {
    if (t->nvocab == t->vcap) {
        size_t cap = t->vcap ? t->vcap * 2 : 1024;
        size_t *o = realloc(t->voff, cap * sizeof *o);
        if (!o)
            return ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory for the vocabulary");
        t->voff = o;
        uint32_t *l = realloc(t->vlen, cap * sizeof *l);
        if (!l)
            return ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory for the vocabulary");
        t->vlen = l;
        t->vcap = cap;
    }
    *id = (int32_t)t->nvocab;
    t->voff[t->nvocab] = t->pool.len;
    t->vlen[t->nvocab] = (uint32_t)n;
    FT_TRY(ft_tok_buf_add(&t->pool, s, n));
    FT_TRY(ft_tok_map_put(&t->vmap, s, n, *id));
    t->nvocab++;
    return FT_OK;
}

static const char *vocab_str(const ft_tok_trainer *t, int32_t id) {
    return t->pool.p + t->voff[id];
}

/* ---- JSON written (and, as a skeleton without merges, used for pre-tokenizing while counting) ---- */
static cJSON *tok_json(const ft_tok_trainer *t) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (size_t i = 0; i < t->o.n_special; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", (double)i);
        cJSON_AddStringToObject(a, "content", t->special[i]);
        cJSON_AddFalseToObject(a, "single_word");
        cJSON_AddFalseToObject(a, "lstrip");
        cJSON_AddFalseToObject(a, "rstrip");
        cJSON_AddFalseToObject(a, "normalized");
        cJSON_AddTrueToObject(a, "special");
        cJSON_AddItemToArray(added, a);
    }
    cJSON_AddNullToObject(root, "normalizer");
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "ByteLevel");
    cJSON_AddFalseToObject(pre, "add_prefix_space");
    cJSON_AddTrueToObject(pre, "trim_offsets");
    cJSON_AddTrueToObject(pre, "use_regex");
    cJSON *post = cJSON_AddObjectToObject(root, "post_processor");
    if (t->o.add_bos && t->o.bos) { /* "<s> $A" and "<s> $A <s> $B" (Llama's template) */
        cJSON_AddStringToObject(post, "type", "TemplateProcessing");
        const char *names[2] = {"single", "pair"};
        for (int k = 0; k < 2; k++) {
            cJSON *arr = cJSON_AddArrayToObject(post, names[k]);
            for (int seq = 0; seq <= k; seq++) {
                cJSON *sp = cJSON_CreateObject(), *spi = cJSON_AddObjectToObject(sp, "SpecialToken");
                cJSON_AddStringToObject(spi, "id", t->o.bos);
                cJSON_AddNumberToObject(spi, "type_id", seq);
                cJSON_AddItemToArray(arr, sp);
                cJSON *sq = cJSON_CreateObject(), *sqi = cJSON_AddObjectToObject(sq, "Sequence");
                cJSON_AddStringToObject(sqi, "id", seq ? "B" : "A");
                cJSON_AddNumberToObject(sqi, "type_id", seq);
                cJSON_AddItemToArray(arr, sq);
            }
        }
        cJSON *sts = cJSON_AddObjectToObject(post, "special_tokens"),
              *b = cJSON_AddObjectToObject(sts, t->o.bos);
        cJSON_AddStringToObject(b, "id", t->o.bos);
        cJSON *ids = cJSON_AddArrayToObject(b, "ids"), *toks = cJSON_AddArrayToObject(b, "tokens");
        cJSON_AddItemToArray(
            ids, cJSON_CreateNumber((double)ft_tok_map_get(&t->vmap, t->o.bos, strlen(t->o.bos))));
        cJSON_AddItemToArray(toks, cJSON_CreateString(t->o.bos));
    } else { /* what GPT-2's tokenizer.json has: offsets only, no tokens added */
        cJSON_AddStringToObject(post, "type", "ByteLevel");
        cJSON_AddTrueToObject(post, "add_prefix_space");
        cJSON_AddFalseToObject(post, "trim_offsets");
        cJSON_AddTrueToObject(post, "use_regex");
    }
    cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
    cJSON_AddStringToObject(dec, "type", "ByteLevel");
    cJSON_AddTrueToObject(dec, "add_prefix_space");
    cJSON_AddTrueToObject(dec, "trim_offsets");
    cJSON_AddTrueToObject(dec, "use_regex");
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddFalseToObject(model, "fuse_unk");
    cJSON_AddFalseToObject(model, "byte_fallback");
    cJSON_AddFalseToObject(model, "ignore_merges");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    ft_tok_buf tmp = {0};
    for (size_t i = 0; i < t->nvocab; i++) {
        tmp.len = 0;
        if (ft_tok_buf_add(&tmp, vocab_str(t, (int32_t)i), t->vlen[i]) != FT_OK)
            break;
        cJSON_AddItemToObject(vocab, tmp.p, cJSON_CreateNumber((double)i));
    }
    ft_tok_buf_free(&tmp);
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    for (size_t i = 0; i < t->nmerges; i++) {
        cJSON *m = cJSON_CreateArray();
        for (int k = 0; k < 2; k++) {
            int32_t id = t->merges[3 * i + (size_t)k];
            char *s = strndup(vocab_str(t, id), t->vlen[id]);
            cJSON_AddItemToArray(m, cJSON_CreateString(s ? s : ""));
            free(s);
        }
        cJSON_AddItemToArray(merges, m);
    }
    return root;
}

/* ---- construction ---- */
void ft_tok_train_opts_default(ft_tok_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->vocab_size = 16000;
    o->min_frequency = 2;
}

static bool is_special(const ft_tok_trainer *t, const char *s) {
    for (size_t i = 0; s && i < t->o.n_special; i++)
        if (!strcmp(t->special[i], s))
            return true;
    return false;
}

/* The role's token: the one given (must be special), else the first of the usual names present. */
static ft_status pick_role(ft_tok_trainer *t, const char *role, const char **slot, const char *const *guess) {
    if (*slot) {
        if (!is_special(t, *slot))
            return ft_fail(FT_ERR_ARG, "tokenizer train: %s token '%s' is not one of the special tokens",
                           role, *slot);
        return FT_OK;
    }
    for (; *guess; guess++)
        for (size_t i = 0; i < t->o.n_special; i++)
            if (!strcmp(t->special[i], *guess)) {
                *slot = t->special[i];
                return FT_OK;
            }
    return FT_OK;
}

ft_status ft_tok_train_new(const ft_tok_train_opts *o, ft_tok_trainer **out) {
    *out = NULL;
    if (!o)
        return ft_fail(FT_ERR_ARG, "tokenizer train: no options");
    if (o->vocab_size < o->n_special + 256)
        return ft_fail(
            FT_ERR_ARG,
            "tokenizer train: vocab size %zu is smaller than the %zu special tokens + 256 byte characters",
            o->vocab_size, o->n_special);
    if (o->vocab_size > (size_t)INT32_MAX)
        return ft_fail(FT_ERR_ARG, "tokenizer train: vocab size %zu too large", o->vocab_size);
    ft_tok_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory");
    t->o = *o;
    if (!t->o.model_max_length)
        t->o.model_max_length = 2048;
    ft_status st = FT_OK;
    t->special = calloc(o->n_special ? o->n_special : 1, sizeof *t->special);
    if (!t->special)
        st = ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory");
    if (st == FT_OK)
        st = ft_tok_map_init(&t->vmap, o->vocab_size);
    if (st == FT_OK)
        st = wc_init(&t->words, 1 << 16);
    for (size_t i = 0; i < o->n_special && st == FT_OK; i++) {
        const char *s = o->special[i];
        size_t bad;
        if (!s || !*s)
            st = ft_fail(FT_ERR_ARG, "tokenizer train: special token %zu is empty", i + 1);
        else if (!ft_tok_utf8_valid(s, strlen(s), &bad))
            st = ft_fail(FT_ERR_ARG, "tokenizer train: special token %zu is not valid UTF-8 (byte %zu)",
                         i + 1, bad);
        else if (ft_tok_map_get(&t->vmap, s, strlen(s)) >= 0)
            st = ft_fail(FT_ERR_ARG, "tokenizer train: special token '%s' given twice", s);
        else if (!(t->special[i] = ft_strdup(s)))
            st = FT_ERR_NOMEM;
        int32_t id;
        if (st == FT_OK)
            st = vocab_add(t, s, strlen(s), &id);
    }
    t->o.special = (const char *const *)t->special;
    /* the 256 byte characters, sorted by the code point they are written as */
    uint32_t order[256];
    for (unsigned b = 0; b < 256; b++)
        order[b] = ft_tok_byte_to_cp((uint8_t)b) << 8 | b;
    for (size_t i = 1; i < 256; i++) /* insertion sort of 256 keys */
        for (size_t j = i; j > 0 && order[j - 1] > order[j]; j--) {
            uint32_t x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
    ft_tok_buf ch = {0};
    for (size_t i = 0; i < 256 && st == FT_OK; i++) {
        ch.len = 0;
        st = ft_tok_buf_cp(&ch, order[i] >> 8);
        if (st == FT_OK && ft_tok_map_get(&t->vmap, ch.p, ch.len) >= 0)
            st = ft_fail(FT_ERR_ARG, "tokenizer train: special token '%s' is a byte-level character", ch.p);
        if (st == FT_OK)
            st = vocab_add(t, ch.p, ch.len, &t->byte_id[order[i] & 255]);
    }
    ft_tok_buf_free(&ch);
    static const char *const g_bos[] = {"<s>", "<|begin_of_text|>", "<|endoftext|>", "<bos>", NULL};
    static const char *const g_eos[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>", NULL};
    static const char *const g_pad[] = {"<pad>", "<|pad|>", "[PAD]", NULL};
    static const char *const g_unk[] = {"<unk>", "[UNK]", NULL};
    if (st == FT_OK)
        st = pick_role(t, "bos", &t->o.bos, g_bos);
    if (st == FT_OK)
        st = pick_role(t, "eos", &t->o.eos, g_eos);
    if (st == FT_OK)
        st = pick_role(t, "pad", &t->o.pad, g_pad);
    if (st == FT_OK)
        st = pick_role(t, "unk", &t->o.unk, g_unk);
    if (st == FT_OK && t->o.add_bos && !t->o.bos)
        st = ft_fail(FT_ERR_ARG, "tokenizer train: add_bos needs a bos token among the special tokens");
    /* one skeleton tokenizer per thread: its pipeline splits the training text into words */
    t->nthreads = o->threads > 0 ? o->threads : omp_get_max_threads();
    if (t->nthreads < 1)
        t->nthreads = 1;
    if (st == FT_OK && !(t->tok = calloc((size_t)t->nthreads, sizeof *t->tok)))
        st = ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory");
    if (st == FT_OK) {
        cJSON *sk = tok_json(t);
        for (int i = 0; i < t->nthreads && st == FT_OK; i++)
            st = ft_tok_load_cjson(sk, NULL, "tokenizer train (skeleton tokenizer.json)", &t->tok[i]);
        cJSON_Delete(sk);
    }
    if (st != FT_OK) {
        ft_tok_train_free(t);
        return st;
    }
    *out = t;
    return FT_OK;
}

void ft_tok_train_free(ft_tok_trainer *t) {
    if (!t)
        return;
    for (size_t i = 0; t->special && i < t->o.n_special; i++)
        free(t->special[i]);
    free(t->special);
    for (int i = 0; t->tok && i < t->nthreads; i++)
        ft_tok_free(t->tok[i]);
    free(t->tok);
    wc_free(&t->words);
    ft_tok_buf_free(&t->pool);
    free(t->voff);
    free(t->vlen);
    ft_tok_map_free(&t->vmap);
    free(t->merges);
    free(t);
}

/* ---- counting ---- */
typedef struct {
    size_t off, len; /* bytes of the input */
    size_t line;     /* 1-based number of its first line */
    ft_status st;
    char msg[320];
} chunk;

/* Count the words of one sequence into w. */
static ft_status count_seq(ft_tokenizer *tok, const char *s, size_t n, ft_tok_buf *buf, ft_tok_spans *words,
                           wcount *w) {
    FT_TRY(ft_tok_words(tok, s, n, buf, words, NULL));
    for (size_t i = 0; i < words->n; i++)
        if (words->v[i].id < 0 && words->v[i].len) {
            FT_TRY(wc_add(w, buf->p + words->v[i].off, words->v[i].len, 1));
            w->words++;
        }
    return FT_OK;
}

/* One chunk of lines: each line (newline kept) or each JSONL record's field is a sequence. */
static ft_status count_chunk(ft_tokenizer *tok, const char *name, const char *text, const chunk *c,
                             const char *field, wcount *w, uint64_t *nseq) {
    ft_tok_buf buf = {0};
    ft_tok_spans words = {0};
    ft_status st = FT_OK;
    size_t line = c->line;
    for (size_t i = c->off, end = c->off + c->len; i < end && st == FT_OK; line++) {
        const char *nl = memchr(text + i, '\n', end - i);
        size_t stop = nl ? (size_t)(nl - text) + 1 : end, bad;
        const char *s = text + i;
        size_t n = stop - i;
        i = stop;
        if (!ft_tok_utf8_valid(s, n, &bad)) {
            st =
                ft_fail(FT_ERR_FORMAT, "%s:%zu: not valid UTF-8 (byte %zu of the line)", name, line, bad + 1);
            break;
        }
        if (!field) {
            st = count_seq(tok, s, n, &buf, &words, w);
            (*nseq)++;
            continue;
        }
        size_t k = 0;
        while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r' || s[k] == '\n'))
            k++;
        if (k == n)
            continue; /* blank line */
        cJSON *j = cJSON_ParseWithLength(s, n);
        const cJSON *f = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, field) : NULL;
        if (!j)
            st = ft_fail(FT_ERR_FORMAT, "%s:%zu: not valid JSON", name, line);
        else if (!cJSON_IsString(f))
            st = ft_fail(FT_ERR_FORMAT, "%s:%zu: no string field '%s'", name, line, field);
        else {
            st = count_seq(tok, f->valuestring, strlen(f->valuestring), &buf, &words, w);
            (*nseq)++;
        }
        cJSON_Delete(j);
    }
    ft_tok_buf_free(&buf);
    ft_tok_spans_free(&words);
    return st;
}

static ft_status merge_counts(wcount *dst, const wcount *src) {
    for (size_t e = 0; e < src->map.n; e++)
        FT_TRY(wc_add(dst, src->map.pool.p + src->map.key_off[e], src->map.key_len[e],
                      src->cnt[src->map.val[e]]));
    dst->words += src->words;
    return FT_OK;
}

static ft_status add_buffer(ft_tok_trainer *t, const char *text, size_t len, const char *name,
                            const char *field) {
    if (t->trained)
        return ft_fail(FT_ERR_ARG, "tokenizer train: text added after training");
    double t0 = ft_now();
    /* chunks of whole lines, ~256 KiB each */
    size_t nch = 0, cap = len / (256u << 10) + 2, line = 1;
    chunk *ch = calloc(cap, sizeof *ch);
    if (!ch)
        return ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory");
    for (size_t i = 0; i < len;) {
        size_t want = i + (256u << 10) < len ? i + (256u << 10) : len, stop = want, lines = 0;
        const char *nl = want < len ? memchr(text + want, '\n', len - want) : NULL;
        if (want < len)
            stop = nl ? (size_t)(nl - text) + 1 : len;
        for (const char *p = text + i; (p = memchr(p, '\n', (size_t)(text + stop - p))) != NULL; p++)
            lines++;
        if (nch == cap) {
            chunk *c2 = realloc(ch, 2 * cap * sizeof *ch);
            if (!c2) {
                free(ch);
                return ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory");
            }
            ch = c2;
            cap *= 2;
        }
        ch[nch++] = (chunk){.off = i, .len = stop - i, .line = line};
        line += lines;
        i = stop;
    }
    int nt = t->nthreads;
    wcount *local = calloc((size_t)nt, sizeof *local);
    uint64_t *nseq = calloc((size_t)nt, sizeof *nseq);
    ft_status st = local && nseq ? FT_OK : ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory");
    for (int k = 0; k < nt && st == FT_OK; k++)
        st = wc_init(&local[k], 1 << 14);
    if (st == FT_OK) {
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (size_t c = 0; c < nch; c++) {
            int me = omp_get_thread_num();
            ch[c].st = count_chunk(t->tok[me], name, text, &ch[c], field, &local[me], &nseq[me]);
            if (ch[c].st != FT_OK)
                snprintf(ch[c].msg, sizeof ch[c].msg, "%s", ft_last_error());
        }
        for (size_t c = 0; c < nch && st == FT_OK; c++) /* the first bad line in input order */
            if (ch[c].st != FT_OK)
                st = ft_fail(ch[c].st, "%s", ch[c].msg);
    }
    for (int k = 0; k < nt && st == FT_OK; k++) {
        st = merge_counts(&t->words, &local[k]);
        t->stats.sequences += nseq[k];
    }
    for (int k = 0; local && k < nt; k++)
        wc_free(&local[k]);
    free(local);
    free(nseq);
    free(ch);
    if (st == FT_OK) {
        t->stats.bytes += len;
        t->stats.words = t->words.words;
        t->stats.distinct_words = t->words.map.n;
    }
    t->stats.count_seconds += ft_now() - t0;
    return st;
}

ft_status ft_tok_train_add_text(ft_tok_trainer *t, const char *text, size_t len, const char *name) {
    return add_buffer(t, text ? text : "", text ? len : 0, name ? name : "text", NULL);
}

static ft_status add_path(ft_tok_trainer *t, const char *path, const char *field) {
    char *text = NULL;
    size_t len = 0;
    FT_TRY(ft_read_file(path, &text, &len));
    ft_status st = add_buffer(t, text, len, path, field);
    free(text);
    return st;
}

ft_status ft_tok_train_add_file(ft_tok_trainer *t, const char *path) {
    return add_path(t, path, NULL);
}

ft_status ft_tok_train_add_jsonl(ft_tok_trainer *t, const char *path, const char *field) {
    return add_path(t, path, field && *field ? field : "text");
}

/* ---- merging ---- */
typedef struct {
    uint32_t *sym; /* all words' symbols */
    size_t *off;
    uint32_t *len, *stamp;
    uint64_t *cnt;
    size_t n;
    pair_tab pairs;
    heap q;
    uint32_t *touched; /* pairs whose count grew in this iteration */
    size_t ntouched, tcap;
    uint32_t iter;
} merge_state;

static ft_status grow_pair(merge_state *m, uint32_t a, uint32_t b, int64_t c, uint32_t w) {
    uint32_t p;
    FT_TRY(pair_get(&m->pairs, a, b, &p));
    pair_rec *r = &m->pairs.rec[p];
    r->count += c;
    FT_TRY(pair_add_word(r, w));
    if (r->touched != m->iter) {
        r->touched = m->iter;
        if (m->ntouched == m->tcap) {
            size_t cap = m->tcap ? m->tcap * 2 : 256;
            uint32_t *v = realloc(m->touched, cap * sizeof *v);
            if (!v)
                return ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory");
            m->touched = v;
            m->tcap = cap;
        }
        m->touched[m->ntouched++] = p;
    }
    return FT_OK;
}

static void shrink_pair(merge_state *m, uint32_t a, uint32_t b, int64_t c) {
    size_t s = pair_slot(&m->pairs, pair_key(a, b));
    if (m->pairs.key[s]) /* always present: the pair was counted when it formed */
        m->pairs.rec[m->pairs.idx[s]].count -= c;
}

/* Replace every non-overlapping (a, b) of word w, left to right, by z; update the neighbours' pair
 * counts: (x, a) -> (x, z) on the left, (b, y) -> (z, y) on the right. */
static ft_status merge_word(merge_state *m, uint32_t w, uint32_t a, uint32_t b, uint32_t z) {
    uint32_t *s = m->sym + m->off[w];
    size_t n = m->len[w], o = 0;
    int64_t c = (int64_t)m->cnt[w];
    for (size_t r = 0; r < n;) {
        if (r + 1 < n && s[r] == a && s[r + 1] == b) {
            if (o > 0) {
                shrink_pair(m, s[o - 1], a, c);
                FT_TRY(grow_pair(m, s[o - 1], z, c, w));
            }
            if (r + 2 < n) {
                shrink_pair(m, b, s[r + 2], c);
                FT_TRY(grow_pair(m, z, s[r + 2], c, w));
            }
            s[o++] = z;
            r += 2;
        } else
            s[o++] = s[r++];
    }
    m->len[w] = (uint32_t)o;
    return FT_OK;
}

static void merge_state_free(merge_state *m) {
    free(m->sym);
    free(m->off);
    free(m->len);
    free(m->stamp);
    free(m->cnt);
    pair_tab_free(&m->pairs);
    free(m->q.v);
    free(m->touched);
}

/* Words -> symbol ids (the byte characters of each word), pair counts and the initial queue. */
static ft_status merge_setup(ft_tok_trainer *t, merge_state *m) {
    const wcount *wc = &t->words;
    m->n = wc->map.n;
    size_t nsym = 0;
    for (size_t e = 0; e < m->n; e++)
        nsym += wc->map.key_len[e]; /* >= the number of bytes: each byte is 1-2 UTF-8 bytes here */
    m->sym = malloc((nsym ? nsym : 1) * sizeof *m->sym);
    m->off = malloc((m->n ? m->n : 1) * sizeof *m->off);
    m->len = malloc((m->n ? m->n : 1) * sizeof *m->len);
    m->stamp = calloc(m->n ? m->n : 1, sizeof *m->stamp);
    m->cnt = malloc((m->n ? m->n : 1) * sizeof *m->cnt);
    if (!m->sym || !m->off || !m->len || !m->stamp || !m->cnt)
        return ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory for %zu words", m->n);
    FT_TRY(pair_tab_init(&m->pairs, m->n * 2));
    size_t at = 0;
    for (size_t w = 0; w < m->n; w++) {
        const unsigned char *s = (const unsigned char *)wc->map.pool.p + wc->map.key_off[w];
        size_t n = wc->map.key_len[w];
        m->off[w] = at;
        m->cnt[w] = wc->cnt[wc->map.val[w]];
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            i += (size_t)ft_tok_u8dec(s, n, i, &cp);
            int byte = ft_tok_cp_to_byte(cp);
            if (byte < 0)
                return ft_fail(FT_ERR_INTERNAL,
                               "tokenizer train: word holds U+%04X, not a byte-level character", cp);
            m->sym[at++] = (uint32_t)t->byte_id[byte];
        }
        m->len[w] = (uint32_t)(at - m->off[w]);
        for (size_t i = 1; i < m->len[w]; i++) {
            uint32_t p;
            FT_TRY(pair_get(&m->pairs, m->sym[m->off[w] + i - 1], m->sym[m->off[w] + i], &p));
            m->pairs.rec[p].count += (int64_t)m->cnt[w];
            FT_TRY(pair_add_word(&m->pairs.rec[p], (uint32_t)w));
        }
    }
    for (size_t p = 0; p < m->pairs.n; p++) {
        const pair_rec *r = &m->pairs.rec[p];
        if (r->count > 0)
            FT_TRY(heap_push(&m->q, (heap_item){r->count, r->a, r->b}));
    }
    return FT_OK;
}

static ft_status record_merge(ft_tok_trainer *t, int32_t a, int32_t b, int32_t z) {
    if (t->nmerges == t->mcap) {
        size_t cap = t->mcap ? t->mcap * 2 : 1024;
        int32_t *v = realloc(t->merges, 3 * cap * sizeof *v);
        if (!v)
            return ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory");
        t->merges = v;
        t->mcap = cap;
    }
    t->merges[3 * t->nmerges] = a;
    t->merges[3 * t->nmerges + 1] = b;
    t->merges[3 * t->nmerges + 2] = z;
    t->nmerges++;
    return FT_OK;
}

static ft_status merge_loop(ft_tok_trainer *t, merge_state *m) {
    ft_tok_buf tok = {0};
    ft_status st = FT_OK;
    t->stats.stop = "no pair left";
    while (st == FT_OK) {
        if (t->nvocab >= t->o.vocab_size) {
            t->stats.stop = "vocab size reached";
            break;
        }
        if (!m->q.n)
            break;
        heap_item top = heap_pop(&m->q);
        size_t slot = pair_slot(&m->pairs, pair_key(top.a, top.b));
        uint32_t p = m->pairs.idx[slot];
        int64_t cur = m->pairs.rec[p].count;
        if (cur != top.count) { /* stale: queue again with the current count */
            if (cur > 0)
                st = heap_push(&m->q, (heap_item){cur, top.a, top.b});
            continue;
        }
        if (cur < 1 || (uint64_t)cur < t->o.min_frequency) {
            t->stats.stop = "min frequency";
            break;
        }
        /* the new token: left string + right string (an existing string keeps its id) */
        tok.len = 0;
        st = ft_tok_buf_add(&tok, vocab_str(t, (int32_t)top.a), t->vlen[top.a]);
        if (st == FT_OK)
            st = ft_tok_buf_add(&tok, vocab_str(t, (int32_t)top.b), t->vlen[top.b]);
        int32_t z = st == FT_OK ? ft_tok_map_get(&t->vmap, tok.p, tok.len) : 0;
        if (st == FT_OK && z < 0)
            st = vocab_add(t, tok.p, tok.len, &z);
        if (st == FT_OK && !m->pairs.rec[p].merged)
            st = record_merge(t, (int32_t)top.a, (int32_t)top.b, z);
        if (st != FT_OK)
            break;
        m->iter++;
        m->ntouched = 0;
        /* detach the word list: merging adds to other pairs' lists and may move the table */
        pair_rec *r = &m->pairs.rec[p];
        uint32_t *wl = r->w, nw = r->n;
        r->w = NULL;
        r->n = r->cap = 0;
        r->merged = 1;
        for (uint32_t i = 0; i < nw && st == FT_OK; i++) {
            uint32_t w = wl[i];
            if (m->stamp[w] == m->iter)
                continue;
            m->stamp[w] = m->iter;
            st = merge_word(m, w, top.a, top.b, (uint32_t)z);
        }
        free(wl);
        m->pairs.rec[p].count = 0;
        for (size_t i = 0; i < m->ntouched && st == FT_OK; i++) { /* pairs that grew: queue them */
            const pair_rec *q = &m->pairs.rec[m->touched[i]];
            if (q->count > 0)
                st = heap_push(&m->q, (heap_item){q->count, q->a, q->b});
        }
    }
    ft_tok_buf_free(&tok);
    return st;
}

ft_status ft_tok_train_run(ft_tok_trainer *t) {
    if (t->trained)
        return ft_fail(FT_ERR_ARG, "tokenizer train: already trained");
    double t0 = ft_now();
    merge_state m = {0};
    ft_status st = merge_setup(t, &m);
    if (st == FT_OK)
        st = merge_loop(t, &m);
    merge_state_free(&m);
    t->trained = st == FT_OK;
    t->stats.merges = t->nmerges;
    t->stats.vocab_size = t->nvocab;
    t->stats.merge_seconds = ft_now() - t0;
    return st;
}

const ft_tok_train_stats *ft_tok_train_stats_get(const ft_tok_trainer *t) {
    return &t->stats;
}

size_t ft_tok_train_n_merges(const ft_tok_trainer *t) {
    return t->nmerges;
}

void ft_tok_train_merge(const ft_tok_trainer *t, size_t i, int32_t *left, int32_t *right, int32_t *result) {
    bool ok = i < t->nmerges;
    if (left)
        *left = ok ? t->merges[3 * i] : -1;
    if (right)
        *right = ok ? t->merges[3 * i + 1] : -1;
    if (result)
        *result = ok ? t->merges[3 * i + 2] : -1;
}

const char *ft_tok_train_token(const ft_tok_trainer *t, int32_t id, size_t *len) {
    if (id < 0 || (size_t)id >= t->nvocab)
        return NULL;
    if (len)
        *len = t->vlen[id];
    return vocab_str(t, id);
}

static cJSON *config_json(const ft_tok_trainer *t) {
    cJSON *c = cJSON_CreateObject(), *dec = cJSON_AddObjectToObject(c, "added_tokens_decoder");
    for (size_t i = 0; i < t->o.n_special; i++) {
        char key[32];
        snprintf(key, sizeof key, "%zu", i);
        cJSON *a = cJSON_AddObjectToObject(dec, key);
        cJSON_AddStringToObject(a, "content", t->special[i]);
        cJSON_AddFalseToObject(a, "lstrip");
        cJSON_AddFalseToObject(a, "normalized");
        cJSON_AddFalseToObject(a, "rstrip");
        cJSON_AddFalseToObject(a, "single_word");
        cJSON_AddTrueToObject(a, "special");
    }
    const char *role[4] = {"bos_token", "eos_token", "pad_token", "unk_token"};
    const char *val[4] = {t->o.bos, t->o.eos, t->o.pad, t->o.unk};
    for (int i = 0; i < 4; i++)
        if (val[i])
            cJSON_AddStringToObject(c, role[i], val[i]);
    cJSON_AddFalseToObject(c, "clean_up_tokenization_spaces");
    cJSON_AddNumberToObject(c, "model_max_length", (double)t->o.model_max_length);
    cJSON_AddStringToObject(c, "tokenizer_class", "PreTrainedTokenizerFast");
    return c;
}

ft_status ft_tok_train_save(const ft_tok_trainer *t, const char *dir) {
    if (!t->trained)
        return ft_fail(FT_ERR_ARG, "tokenizer train: save before run");
    FT_TRY(ft_mkdir_p(dir));
    char path[4200];
    cJSON *j = tok_json(t);
    /* key order as Hugging Face writes tokenizer.json; tokenizer_config.json sorted as transformers does */
    ft_status st = j ? ft_json_write_file(ft_path_join(path, sizeof path, dir, "tokenizer.json"), j, false)
                     : ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory");
    cJSON_Delete(j);
    if (st != FT_OK)
        return st;
    j = config_json(t);
    st = j ? ft_json_write_file(ft_path_join(path, sizeof path, dir, "tokenizer_config.json"), j, true)
           : ft_fail(FT_ERR_NOMEM, "tokenizer train: out of memory");
    cJSON_Delete(j);
    return st;
}
