/* data/augment: EDA-style augmentation (Wei & Zou 2019): synonym replacement and random insertion from
 * WordNet, random swap, random deletion; every choice from the counter-based RNG so a copy depends only on
 * (seed, row, copy). WordNet is read from its data.{noun,verb,adj,adv} files (Debian wordnet-base). */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "data/dataset.h"

typedef struct {
    const char *word; /* lower-case, '_' as ' ' */
    uint32_t syn;
} wpair;

struct ft_wordnet {
    char *pool;         /* all lemmas, NUL-separated, '_' replaced by ' ' */
    size_t pool_n;
    char **lemma;       /* [n_lemma] pointers into pool */
    uint32_t *syn_start; /* [n_syn + 1] lemma ranges per synset */
    size_t n_lemma, n_syn;
    wpair *index;        /* sorted by word: the synsets each word is in */
    size_t n_index;
    char *lower;         /* lower-cased copy of pool, for the index */
};

void ft_wordnet_free(ft_wordnet *wn) {
    if (!wn)
        return;
    free(wn->pool);
    free(wn->lower);
    free(wn->lemma);
    free(wn->syn_start);
    free(wn->index);
    free(wn);
}

static int wpair_cmp(const void *a, const void *b) {
    const wpair *x = a, *y = b;
    int c = strcmp(x->word, y->word);
    return c ? c : (x->syn > y->syn) - (x->syn < y->syn);
}

/* Grow-by-doubling helper. */
static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return true;
    size_t nc = *cap ? *cap : 1024;
    while (nc < need)
        nc *= 2;
    void *x = realloc(*p, nc * elem);
    if (!x)
        return false;
    *p = x;
    *cap = nc;
    return true;
}

ft_status ft_wordnet_load(const char *dir, ft_wordnet **out) {
    *out = NULL;
    if (!dir)
        dir = "/usr/share/wordnet";
    static const char *const files[] = {"data.noun", "data.verb", "data.adj", "data.adv"};
    ft_wordnet *wn = calloc(1, sizeof *wn);
    if (!wn)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    size_t pool_cap = 0, lemma_cap = 0, syn_cap = 0;
    size_t *lemma_off = NULL; /* offsets first: the pool moves while it grows */
    ft_status s = FT_OK;
    for (int f = 0; f < 4 && s == FT_OK; f++) {
        char path[4096], *buf;
        size_t len;
        ft_path_join(path, sizeof path, dir, files[f]);
        if ((s = ft_read_file(path, &buf, &len)) != FT_OK) {
            s = ft_fail_ctx(s, "WordNet (install Debian package wordnet-base or set data.wordnet_dir): ");
            break;
        }
        long lineno = 0;
        for (char *p = buf; *p && s == FT_OK;) {
            char *e = strchr(p, '\n');
            if (e)
                *e = 0;
            lineno++;
            char *line = p;
            p = e ? e + 1 : p + strlen(p);
            if (line[0] == ' ' || !line[0])
                continue; /* license header */
            /* offset lex_filenum ss_type w_cnt(hex) [word lex_id(hex)]... */
            char *save, *tok = strtok_r(line, " ", &save);
            for (int k = 0; k < 3 && tok; k++)
                tok = strtok_r(NULL, " ", &save);
            char *end;
            long wc = tok ? strtol(tok, &end, 16) : -1;
            if (!tok || *end || wc <= 0) {
                s = ft_fail(FT_ERR_FORMAT, "%s:%ld: bad synset line", path, lineno);
                break;
            }
            if (!grow((void **)&wn->syn_start, &syn_cap, wn->n_syn + 2, sizeof *wn->syn_start)) {
                s = ft_fail(FT_ERR_NOMEM, "out of memory");
                break;
            }
            wn->syn_start[wn->n_syn] = (uint32_t)wn->n_lemma;
            for (long k = 0; k < wc; k++) {
                char *w = strtok_r(NULL, " ", &save), *lex = strtok_r(NULL, " ", &save);
                if (!w || !lex) {
                    s = ft_fail(FT_ERR_FORMAT, "%s:%ld: synset has fewer than %ld words", path, lineno, wc);
                    break;
                }
                char *paren = strchr(w, '('); /* adjective markers: (a) (p) (ip) */
                if (paren)
                    *paren = 0;
                size_t wl = strlen(w);
                if (!grow((void **)&wn->pool, &pool_cap, wn->pool_n + wl + 1, 1) ||
                    !grow((void **)&lemma_off, &lemma_cap, wn->n_lemma + 1, sizeof *lemma_off)) {
                    s = ft_fail(FT_ERR_NOMEM, "out of memory");
                    break;
                }
                lemma_off[wn->n_lemma++] = wn->pool_n;
                for (size_t i = 0; i < wl; i++)
                    wn->pool[wn->pool_n++] = w[i] == '_' ? ' ' : w[i];
                wn->pool[wn->pool_n++] = 0;
            }
            wn->n_syn++;
        }
        free(buf);
    }
    if (s == FT_OK && wn->n_syn == 0)
        s = ft_fail(FT_ERR_FORMAT, "%s: WordNet data files hold no synsets", dir);
    if (s == FT_OK) {
        wn->syn_start[wn->n_syn] = (uint32_t)wn->n_lemma;
        wn->lemma = malloc(wn->n_lemma * sizeof *wn->lemma);
        wn->lower = malloc(wn->pool_n);
        wn->index = malloc(wn->n_lemma * sizeof *wn->index);
        if (!wn->lemma || !wn->lower || !wn->index)
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    if (s == FT_OK) {
        for (size_t i = 0; i < wn->pool_n; i++)
            wn->lower[i] = (char)tolower((unsigned char)wn->pool[i]);
        for (size_t syn = 0; syn < wn->n_syn; syn++)
            for (uint32_t l = wn->syn_start[syn]; l < wn->syn_start[syn + 1]; l++) {
                wn->lemma[l] = wn->pool + lemma_off[l];
                wn->index[l] = (wpair){wn->lower + lemma_off[l], (uint32_t)syn};
            }
        wn->n_index = wn->n_lemma;
        qsort(wn->index, wn->n_index, sizeof *wn->index, wpair_cmp);
    }
    free(lemma_off);
    if (s != FT_OK) {
        ft_wordnet_free(wn);
        return s;
    }
    *out = wn;
    return FT_OK;
}

/* First index entry of word, or n_index. */
static size_t find_word(const ft_wordnet *wn, const char *word) {
    size_t lo = 0, hi = wn->n_index;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(wn->index[mid].word, word) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < wn->n_index && !strcmp(wn->index[lo].word, word) ? lo : wn->n_index;
}

size_t ft_wordnet_synonyms(const ft_wordnet *wn, const char *word, const char **out, size_t max) {
    size_t n = 0;
    for (size_t i = find_word(wn, word); i < wn->n_index && !strcmp(wn->index[i].word, word); i++) {
        uint32_t syn = wn->index[i].syn;
        for (uint32_t l = wn->syn_start[syn]; l < wn->syn_start[syn + 1]; l++) {
            const char *c = wn->lemma[l];
            if (!strcasecmp(c, word))
                continue;
            bool dup = false;
            for (size_t k = 0; k < n && !dup; k++)
                dup = !strcasecmp(out[k], c);
            if (!dup && n < max)
                out[n++] = c;
        }
    }
    return n;
}

bool ft_wordnet_has_pair(const ft_wordnet *wn, const char *a, const char *b) {
    for (size_t i = find_word(wn, a); i < wn->n_index && !strcmp(wn->index[i].word, a); i++) {
        uint32_t syn = wn->index[i].syn;
        for (uint32_t l = wn->syn_start[syn]; l < wn->syn_start[syn + 1]; l++)
            if (!strcasecmp(wn->lemma[l], b))
                return true;
    }
    return false;
}

/* EDA's stop words are never replaced (their "synonyms" are noise). */
static const char *const stop_words[] = {
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be",
    "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do",
    "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having",
    "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it",
    "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on",
    "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should",
    "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there",
    "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we",
    "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you",
    "your", "yours", "yourself", "yourselves"};

static bool is_stop(const char *w) {
    for (size_t i = 0; i < sizeof stop_words / sizeof *stop_words; i++)
        if (!strcmp(stop_words[i], w))
            return true;
    return false;
}

typedef struct {
    char **w;
    size_t n, cap;
} words_t;

static void words_free(words_t *ws) {
    for (size_t i = 0; i < ws->n; i++)
        free(ws->w[i]);
    free(ws->w);
}

static bool words_insert(words_t *ws, size_t at, char *w) {
    if (!w || !grow((void **)&ws->w, &ws->cap, ws->n + 1, sizeof *ws->w)) {
        free(w);
        return false;
    }
    memmove(ws->w + at + 1, ws->w + at, (ws->n - at) * sizeof *ws->w);
    ws->w[at] = w;
    ws->n++;
    return true;
}

/* The lower-cased letters of a word without surrounding punctuation ("Cars," -> "cars"), in buf. */
static const char *core_of(const char *w, char *buf, size_t cap, size_t *pre, size_t *post) {
    size_t l = strlen(w), a = 0, b = l;
    while (a < b && ispunct((unsigned char)w[a]))
        a++;
    while (b > a && ispunct((unsigned char)w[b - 1]))
        b--;
    *pre = a;
    *post = l - b;
    size_t n = b - a < cap - 1 ? b - a : cap - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)tolower((unsigned char)w[a + i]);
    buf[n] = 0;
    return buf;
}

typedef struct {
    uint64_t seed, stream, ctr;
} rng_t;
static uint64_t rnd(rng_t *r, uint64_t n) { return n ? ft_rng_u64(r->seed, r->stream, r->ctr++) % n : 0; }
static float rndf(rng_t *r) { return ft_rng_uniform(r->seed, r->stream, r->ctr++); }

/* A random synonym of word i's core (NULL when none). */
static const char *pick_synonym(const ft_wordnet *wn, const words_t *ws, size_t i, rng_t *r, size_t *pre,
                                size_t *post) {
    char buf[128];
    const char *core = core_of(ws->w[i], buf, sizeof buf, pre, post);
    if (!core[0] || is_stop(core))
        return NULL;
    const char *syn[64];
    size_t n = ft_wordnet_synonyms(wn, core, syn, 64);
    return n ? syn[rnd(r, n)] : NULL;
}

static size_t n_changes(float p, size_t nw) {
    size_t n = (size_t)(p * (float)nw + 0.5f);
    return n ? n : 1;
}

ft_status ft_data_augment_text(const char *text, const ft_data_cfg *c, const ft_wordnet *wn, uint64_t seed,
                               uint64_t stream, char **out) {
    *out = NULL;
    words_t ws = {0};
    rng_t r = {seed, stream, 0};
    bool ok = true;
    for (const char *p = text; *p && ok;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        const char *s = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (p > s)
            ok = words_insert(&ws, ws.n, strndup(s, (size_t)(p - s)));
    }
    if (ok && ws.n > 0 && wn && c->aug_p_synonym > 0) {
        /* synonym replacement: n words, visited in a random order, each replaced by a random synonym */
        size_t want = n_changes(c->aug_p_synonym, ws.n), done = 0;
        size_t *ord = malloc(ws.n * sizeof *ord);
        ok = ord != NULL;
        for (size_t i = 0; ok && i < ws.n; i++)
            ord[i] = i;
        for (size_t i = ws.n; ok && i > 1; i--) {
            size_t j = (size_t)rnd(&r, i), t = ord[i - 1];
            ord[i - 1] = ord[j];
            ord[j] = t;
        }
        for (size_t k = 0; ok && k < ws.n && done < want; k++) {
            size_t i = ord[k], pre, post;
            const char *syn = pick_synonym(wn, &ws, i, &r, &pre, &post);
            if (!syn)
                continue;
            size_t sl = strlen(syn), wl = strlen(ws.w[i]);
            char *nw = malloc(pre + sl + post + 1);
            if (!nw) {
                ok = false;
                break;
            }
            memcpy(nw, ws.w[i], pre);
            memcpy(nw + pre, syn, sl);
            memcpy(nw + pre + sl, ws.w[i] + wl - post, post);
            nw[pre + sl + post] = 0;
            free(ws.w[i]);
            ws.w[i] = nw;
            done++;
        }
        free(ord);
    }
    if (ok && ws.n > 0 && wn && c->aug_p_insert > 0) {
        /* random insertion: a synonym of a random word, at a random position (up to 10 tries each) */
        size_t want = n_changes(c->aug_p_insert, ws.n);
        for (size_t k = 0; ok && k < want; k++)
            for (int tries = 0; tries < 10; tries++) {
                size_t pre, post;
                const char *syn = pick_synonym(wn, &ws, (size_t)rnd(&r, ws.n), &r, &pre, &post);
                if (syn) {
                    ok = words_insert(&ws, (size_t)rnd(&r, ws.n + 1), strdup(syn));
                    break;
                }
            }
    }
    if (ok && ws.n > 1 && c->aug_p_swap > 0) {
        size_t want = n_changes(c->aug_p_swap, ws.n);
        for (size_t k = 0; k < want; k++) {
            size_t a = (size_t)rnd(&r, ws.n), b = (size_t)rnd(&r, ws.n);
            char *t = ws.w[a];
            ws.w[a] = ws.w[b];
            ws.w[b] = t;
        }
    }
    if (ok && ws.n > 1 && c->aug_p_delete > 0) {
        size_t keep_one = (size_t)rnd(&r, ws.n), w = 0, n0 = ws.n;
        bool *del = calloc(n0, sizeof *del);
        ok = del != NULL;
        size_t kept = 0;
        for (size_t i = 0; ok && i < n0; i++)
            kept += !(del[i] = rndf(&r) < c->aug_p_delete);
        if (ok && kept == 0)
            del[keep_one] = false; /* never delete everything */
        for (size_t i = 0; ok && i < n0; i++) {
            if (del[i])
                free(ws.w[i]);
            else
                ws.w[w++] = ws.w[i];
        }
        if (ok)
            ws.n = w;
        free(del);
    }
    size_t total = 1;
    for (size_t i = 0; i < ws.n; i++)
        total += strlen(ws.w[i]) + 1;
    char *o = ok ? malloc(total) : NULL;
    if (o) {
        char *q = o;
        for (size_t i = 0; i < ws.n; i++) {
            if (i)
                *q++ = ' ';
            size_t l = strlen(ws.w[i]);
            memcpy(q, ws.w[i], l);
            q += l;
        }
        *q = 0;
    }
    words_free(&ws);
    if (!o)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    *out = o;
    return FT_OK;
}

static ft_status dup_or_null(const char *s, char **out) {
    *out = s ? strdup(s) : NULL;
    return (!s || *out) ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
}

ft_status ft_data_augment(const ft_data_cfg *c, const ft_wordnet *wn, ft_data_recs *rs, size_t *added) {
    *added = 0;
    if (c->augment_factor <= 0)
        return FT_OK;
    size_t n0 = rs->n;
    float whole = (float)(int)c->augment_factor, frac = c->augment_factor - whole;
    for (size_t i = 0; i < n0; i++) {
        if (!rs->r[i].text)
            continue;
        /* k copies on average: floor(k) always, one more with probability frac(k) */
        int copies = (int)whole + (ft_rng_uniform(c->seed, 0xA06ULL, i) < frac);
        for (int k = 0; k < copies; k++) {
            ft_data_rec nr = {0};
            const ft_data_rec *o = &rs->r[i];
            ft_status s = ft_data_augment_text(o->text, c, wn, c->seed, ((uint64_t)i << 8) | (uint64_t)k, &nr.text);
            if (s == FT_OK)
                s = dup_or_null(o->text_pair, &nr.text_pair);
            if (s == FT_OK)
                s = dup_or_null(o->label, &nr.label);
            if (s == FT_OK)
                s = dup_or_null(o->file, &nr.file);
            nr.line = o->line;
            if (s != FT_OK) {
                ft_data_rec_free(&nr);
                return s;
            }
            FT_TRY(ft_data_recs_push(rs, &nr));
            (*added)++;
        }
    }
    return FT_OK;
}
