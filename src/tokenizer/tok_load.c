/* tokenizer loading: tokenizer.json (+ tokenizer_config.json), GPT-2 encoder.json + vocab.bpe, vocab.txt. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

typedef struct {
    const char *path; /* for messages */
} ctx;

static char *dupn(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static bool jbool(const cJSON *o, const char *k, bool dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v);
    return dflt;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A JSON number that must be an integer in 0..hi (ids, type ids, counts): checked before any cast, so a
 * fuzzed 4e59 is an error, not undefined behaviour. */
static ft_status jint(const ctx *c, const cJSON *v, const char *what, double hi, double *out) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= hi) ||
        v->valuedouble != floor(v->valuedouble))
        return ft_fail(FT_ERR_FORMAT, "%s: %s must be an integer in 0..%.0f", c->path, what, hi);
    *out = v->valuedouble;
    return FT_OK;
}

static uint32_t first_cp(const char *s) {
    uint32_t c = 0;
    if (s && *s)
        ft_tok_u8dec((const unsigned char *)s, strlen(s), 0, &c);
    return c;
}

static ft_status parse_pattern(const ctx *c, const cJSON *o, ft_tok_pattern *p, const char *what) {
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const char *s;
    if (cJSON_IsObject(pat) && (s = jstr(pat, "String"))) {
        p->kind = FT_TOK_PAT_STRING;
        p->str_len = strlen(s);
        p->str = dupn(s, p->str_len);
        return p->str ? FT_OK : ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
    }
    if (cJSON_IsObject(pat) && (s = jstr(pat, "Regex"))) {
        char where[256];
        snprintf(where, sizeof where, "%s: %s", c->path, what);
        return ft_tok_pattern_regex(p, s, strlen(s), where);
    }
    return ft_fail(FT_ERR_FORMAT, "%s: %s: 'pattern' must be {\"String\": ...} or {\"Regex\": ...}", c->path, what);
}

static ft_status set_content(char **dst, size_t *len, const char *s) {
    *len = s ? strlen(s) : 0;
    *dst = dupn(s ? s : "", *len);
    return *dst ? FT_OK : ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
}

/* A string a normalizer inserts into the text: it must be valid UTF-8 like the text (the regexes that
 * run after it rely on that). */
static ft_status norm_content(const ctx *c, ft_tok_norm *n, const cJSON *o, const char *key,
                              const char *what) {
    const char *s = jstr(o, key);
    size_t bad;
    if (s && !ft_tok_utf8_valid(s, strlen(s), &bad))
        return ft_fail(FT_ERR_FORMAT, "%s: normalizer %s: '%s' is not valid UTF-8 (byte %zu)", c->path, what,
                       key, bad);
    return set_content(&n->content, &n->content_len, s);
}

static const char *jtype(const cJSON *o) {
    const char *t = jstr(o, "type");
    return t ? t : "(missing)";
}

/* ---- normalizers ---- */
static ft_status parse_norm(const ctx *c, const cJSON *o, ft_tok_norm *n) {
    memset(n, 0, sizeof *n);
    const char *t = jtype(o);
    if (!strcmp(t, "NFC")) n->kind = FT_TOK_N_NFC;
    else if (!strcmp(t, "NFD")) n->kind = FT_TOK_N_NFD;
    else if (!strcmp(t, "NFKC")) n->kind = FT_TOK_N_NFKC;
    else if (!strcmp(t, "NFKD")) n->kind = FT_TOK_N_NFKD;
    else if (!strcmp(t, "Lowercase")) n->kind = FT_TOK_N_LOWER;
    else if (!strcmp(t, "StripAccents")) n->kind = FT_TOK_N_STRIP_ACCENTS;
    else if (!strcmp(t, "Nmt"))
        n->kind = FT_TOK_N_NMT;
    else if (!strcmp(t, "Strip")) {
        n->kind = FT_TOK_N_STRIP;
        n->left = jbool(o, "strip_left", true);
        n->right = jbool(o, "strip_right", true);
    } else if (!strcmp(t, "Replace")) {
        n->kind = FT_TOK_N_REPLACE;
        FT_TRY(parse_pattern(c, o, &n->pat, "normalizer Replace"));
        FT_TRY(norm_content(c, n, o, "content", "Replace"));
    } else if (!strcmp(t, "Prepend")) {
        n->kind = FT_TOK_N_PREPEND;
        FT_TRY(norm_content(c, n, o, "prepend", "Prepend"));
    } else if (!strcmp(t, "Precompiled")) {
        n->kind = FT_TOK_N_PRECOMPILED;
        const char *m = jstr(o, "precompiled_charsmap");
        if (!m)
            return ft_fail(FT_ERR_FORMAT,
                           "%s: normalizer Precompiled: 'precompiled_charsmap' must be a base64 string",
                           c->path);
        char what[300];
        snprintf(what, sizeof what, "%s: normalizer Precompiled: precompiled_charsmap", c->path);
        FT_TRY(ft_tok_charsmap_parse(&n->map, m, strlen(m), what));
    } else if (!strcmp(t, "BertNormalizer")) {
        n->kind = FT_TOK_N_BERT;
        n->clean_text = jbool(o, "clean_text", true);
        n->chinese = jbool(o, "handle_chinese_chars", true);
        n->lowercase = jbool(o, "lowercase", true);
        n->strip_accents = jbool(o, "strip_accents", n->lowercase); /* null follows lowercase */
    } else if (!strcmp(t, "Sequence")) {
        n->kind = FT_TOK_N_SEQ;
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "normalizers");
        if (!cJSON_IsArray(arr))
            return ft_fail(FT_ERR_FORMAT, "%s: normalizer Sequence: missing 'normalizers' array", c->path);
        size_t k = (size_t)cJSON_GetArraySize(arr);
        n->sub = calloc(k ? k : 1, sizeof *n->sub);
        if (!n->sub)
            return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
        const cJSON *e;
        cJSON_ArrayForEach(e, arr) {
            n->nsub++; /* counted first so a failure frees what the item took */
            FT_TRY(parse_norm(c, e, &n->sub[n->nsub - 1]));
        }
    } else
        return ft_fail(FT_ERR_UNSUPPORTED, "%s: unknown normalizer type '%s'", c->path, t);
    return FT_OK;
}

static ft_status parse_behavior(const ctx *c, const cJSON *o, ft_tok_behavior *b) {
    const char *s = jstr(o, "behavior");
    if (!s || !strcmp(s, "Isolated")) *b = FT_TOK_SPLIT_ISOLATED;
    else if (!strcmp(s, "Removed")) *b = FT_TOK_SPLIT_REMOVED;
    else if (!strcmp(s, "MergedWithPrevious")) *b = FT_TOK_SPLIT_PREV;
    else if (!strcmp(s, "MergedWithNext")) *b = FT_TOK_SPLIT_NEXT;
    else if (!strcmp(s, "Contiguous")) *b = FT_TOK_SPLIT_CONTIGUOUS;
    else return ft_fail(FT_ERR_FORMAT, "%s: unknown split behavior '%s'", c->path, s);
    return FT_OK;
}

static ft_status parse_prepend(const ctx *c, const cJSON *o, ft_tok_prepend *p) {
    const char *s = jstr(o, "prepend_scheme");
    if (!s) /* older files: add_prefix_space */
        *p = jbool(o, "add_prefix_space", true) ? FT_TOK_PREPEND_ALWAYS : FT_TOK_PREPEND_NEVER;
    else if (!strcmp(s, "always")) *p = FT_TOK_PREPEND_ALWAYS;
    else if (!strcmp(s, "first")) *p = FT_TOK_PREPEND_FIRST;
    else if (!strcmp(s, "never")) *p = FT_TOK_PREPEND_NEVER;
    else return ft_fail(FT_ERR_FORMAT, "%s: unknown prepend_scheme '%s'", c->path, s);
    return FT_OK;
}

static ft_status parse_pre(const ctx *c, const cJSON *o, ft_tok_pre *p, bool *byte_level) {
    memset(p, 0, sizeof *p);
    const char *t = jtype(o);
    if (!strcmp(t, "ByteLevel")) {
        p->kind = FT_TOK_P_BYTELEVEL;
        p->add_prefix_space = jbool(o, "add_prefix_space", true);
        p->use_regex = jbool(o, "use_regex", true);
        *byte_level = true;
        if (p->use_regex)
            FT_TRY(ft_tok_pattern_regex(&p->pat, ft_tok_gpt2_regex, strlen(ft_tok_gpt2_regex), "ByteLevel"));
    } else if (!strcmp(t, "Split")) {
        p->kind = FT_TOK_P_SPLIT;
        FT_TRY(parse_pattern(c, o, &p->pat, "pre-tokenizer Split"));
        FT_TRY(parse_behavior(c, o, &p->behavior));
        p->invert = jbool(o, "invert", false);
    } else if (!strcmp(t, "Metaspace")) {
        p->kind = FT_TOK_P_METASPACE;
        p->replacement = first_cp(jstr(o, "replacement"));
        if (!p->replacement)
            p->replacement = 0x2581;
        p->split = jbool(o, "split", true);
        FT_TRY(parse_prepend(c, o, &p->prepend));
    } else if (!strcmp(t, "BertPreTokenizer")) {
        p->kind = FT_TOK_P_BERT;
    } else if (!strcmp(t, "Whitespace")) {
        p->kind = FT_TOK_P_WHITESPACE;
        /* HF Whitespace, \w+|[^\w\s]+ with Rust regex's Unicode classes: \w = Alphabetic, marks, decimal
         * digits, connector punctuation, ZWNJ/ZWJ; \s = White_Space (PCRE2's UCP \w leaves marks out, its \s
         * takes U+180E). Checked code point by code point against `tokenizers` (docs/tokenizers.md). */
        static const char ws_re[] =
            "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]+|"
            "[^\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}"
            "\\t\\n\\x{0B}\\f\\r "
            "\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}]+";
        FT_TRY(ft_tok_pattern_regex(&p->pat, ws_re, sizeof ws_re - 1, "Whitespace"));
    } else if (!strcmp(t, "WhitespaceSplit")) {
        p->kind = FT_TOK_P_WSSPLIT;
    } else if (!strcmp(t, "Digits")) {
        p->kind = FT_TOK_P_DIGITS;
        p->individual_digits = jbool(o, "individual_digits", false);
    } else if (!strcmp(t, "Punctuation")) {
        p->kind = FT_TOK_P_PUNCT;
        FT_TRY(parse_behavior(c, o, &p->behavior));
    } else if (!strcmp(t, "Sequence")) {
        p->kind = FT_TOK_P_SEQ;
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "pretokenizers");
        if (!cJSON_IsArray(arr))
            return ft_fail(FT_ERR_FORMAT, "%s: pre-tokenizer Sequence: missing 'pretokenizers' array", c->path);
        size_t k = (size_t)cJSON_GetArraySize(arr);
        p->sub = calloc(k ? k : 1, sizeof *p->sub);
        if (!p->sub)
            return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
        const cJSON *e;
        cJSON_ArrayForEach(e, arr) {
            p->nsub++;
            FT_TRY(parse_pre(c, e, &p->sub[p->nsub - 1], byte_level));
        }
    } else
        return ft_fail(FT_ERR_UNSUPPORTED, "%s: unknown pre-tokenizer type '%s'", c->path, t);
    return FT_OK;
}

static ft_status parse_dec(const ctx *c, const cJSON *o, ft_tok_dec *d) {
    memset(d, 0, sizeof *d);
    const char *t = jtype(o);
    if (!strcmp(t, "ByteLevel")) d->kind = FT_TOK_D_BYTELEVEL;
    else if (!strcmp(t, "ByteFallback")) d->kind = FT_TOK_D_BYTEFALLBACK;
    else if (!strcmp(t, "Fuse")) d->kind = FT_TOK_D_FUSE;
    else if (!strcmp(t, "Strip")) {
        d->kind = FT_TOK_D_STRIP;
        d->strip_char = first_cp(jstr(o, "content"));
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "start"), *b = cJSON_GetObjectItemCaseSensitive(o, "stop");
        double x = 0, y = 0;
        if (a)
            FT_TRY(jint(c, a, "decoder Strip: 'start'", INT32_MAX, &x));
        if (b)
            FT_TRY(jint(c, b, "decoder Strip: 'stop'", INT32_MAX, &y));
        d->start = (size_t)x;
        d->stop = (size_t)y;
    } else if (!strcmp(t, "Replace")) {
        d->kind = FT_TOK_D_REPLACE;
        FT_TRY(parse_pattern(c, o, &d->pat, "decoder Replace"));
        FT_TRY(set_content(&d->content, &d->content_len, jstr(o, "content")));
    } else if (!strcmp(t, "Metaspace")) {
        d->kind = FT_TOK_D_METASPACE;
        d->replacement = first_cp(jstr(o, "replacement"));
        if (!d->replacement)
            d->replacement = 0x2581;
        FT_TRY(parse_prepend(c, o, &d->prepend));
    } else if (!strcmp(t, "WordPiece")) {
        d->kind = FT_TOK_D_WORDPIECE;
        const char *pf = jstr(o, "prefix");
        FT_TRY(set_content(&d->content, &d->content_len, pf ? pf : "##"));
        d->cleanup = jbool(o, "cleanup", true);
    } else if (!strcmp(t, "BPEDecoder")) {
        d->kind = FT_TOK_D_BPE;
        const char *sf = jstr(o, "suffix");
        FT_TRY(set_content(&d->content, &d->content_len, sf ? sf : "</w>"));
    } else if (!strcmp(t, "Sequence")) {
        d->kind = FT_TOK_D_SEQ;
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "decoders");
        if (!cJSON_IsArray(arr))
            return ft_fail(FT_ERR_FORMAT, "%s: decoder Sequence: missing 'decoders' array", c->path);
        size_t k = (size_t)cJSON_GetArraySize(arr);
        d->sub = calloc(k ? k : 1, sizeof *d->sub);
        if (!d->sub)
            return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
        const cJSON *e;
        cJSON_ArrayForEach(e, arr) {
            d->nsub++;
            FT_TRY(parse_dec(c, e, &d->sub[d->nsub - 1]));
        }
    } else
        return ft_fail(FT_ERR_UNSUPPORTED, "%s: unknown decoder type '%s'", c->path, t);
    return FT_OK;
}

/* ---- vocabulary helpers ---- */
static int32_t tok_id(const ft_tokenizer *t, const char *s) {
    if (!s)
        return -1;
    return ft_tok_token_to_id(t, s, strlen(s));
}

/* A [token, id] pair as BertProcessing writes cls/sep. */
static ft_status parse_tok_pair(const ctx *c, const cJSON *o, const char *k, int32_t *id) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(a, 1)))
        return ft_fail(FT_ERR_FORMAT, "%s: post_processor: '%s' must be [token, id]", c->path, k);
    char what[64];
    snprintf(what, sizeof what, "post_processor: the id of '%s'", k);
    double x = 0;
    FT_TRY(jint(c, cJSON_GetArrayItem(a, 1), what, FT_TOK_MAX_IDS - 1, &x));
    *id = (int32_t)x;
    return FT_OK;
}

static ft_status parse_template(const ctx *c, const cJSON *arr, const cJSON *specials, ft_tok_tpl_item **out,
                                size_t *nout) {
    if (!cJSON_IsArray(arr))
        return ft_fail(FT_ERR_FORMAT, "%s: TemplateProcessing: 'single'/'pair' must be arrays", c->path);
    size_t k = (size_t)cJSON_GetArraySize(arr);
    *out = calloc(k ? k : 1, sizeof **out);
    if (!*out)
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        ft_tok_tpl_item *it = &(*out)[*nout];
        const cJSON *sq = cJSON_GetObjectItemCaseSensitive(e, "Sequence");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "SpecialToken");
        const cJSON *body = sq ? sq : sp;
        if (!body)
            return ft_fail(FT_ERR_FORMAT, "%s: TemplateProcessing: item is neither Sequence nor SpecialToken", c->path);
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(body, "type_id");
        double tid = 0;
        if (ty)
            FT_TRY(jint(c, ty, "TemplateProcessing: type_id", FT_TOK_MAX_IDS - 1, &tid));
        it->type_id = (int32_t)tid;
        const char *id = jstr(body, "id");
        if (!id)
            return ft_fail(FT_ERR_FORMAT, "%s: TemplateProcessing: item without 'id'", c->path);
        if (sq) {
            if (strcmp(id, "A") && strcmp(id, "B"))
                return ft_fail(FT_ERR_FORMAT, "%s: TemplateProcessing: sequence id '%s' is not A or B", c->path, id);
            it->seq = id[0] == 'A' ? 0 : 1;
        } else {
            it->seq = -1;
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(specials, id);
            const cJSON *ids = st ? cJSON_GetObjectItemCaseSensitive(st, "ids") : NULL;
            if (!cJSON_IsArray(ids))
                return ft_fail(FT_ERR_FORMAT, "%s: TemplateProcessing: special token '%s' not in special_tokens", c->path, id);
            size_t m = (size_t)cJSON_GetArraySize(ids);
            it->ids = calloc(m ? m : 1, sizeof *it->ids);
            if (!it->ids)
                return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
            (*nout)++; /* counted now so a failure below frees what the item took */
            const cJSON *x;
            cJSON_ArrayForEach(x, ids) {
                double v = 0;
                FT_TRY(jint(c, x, "TemplateProcessing: special_tokens ids", FT_TOK_MAX_IDS - 1, &v));
                it->ids[it->nids++] = (int32_t)v;
            }
            continue;
        }
        (*nout)++;
    }
    return FT_OK;
}

static ft_status parse_post(const ctx *c, const cJSON *o, ft_tok_post *p) {
    const char *t = jtype(o);
    /* offsets trimming (serde defaults: true) */
    if (!strcmp(t, "ByteLevel") || !strcmp(t, "RobertaProcessing")) {
        p->trim_offsets = jbool(o, "trim_offsets", true);
        p->trim_prefix_space = jbool(o, "add_prefix_space", true);
    }
    if (!strcmp(t, "ByteLevel"))
        p->kind = FT_TOK_PP_NONE; /* only adjusts offsets */
    else if (!strcmp(t, "TemplateProcessing")) {
        p->kind = FT_TOK_PP_TEMPLATE;
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "special_tokens");
        FT_TRY(parse_template(c, cJSON_GetObjectItemCaseSensitive(o, "single"), sp, &p->single, &p->nsingle));
        FT_TRY(parse_template(c, cJSON_GetObjectItemCaseSensitive(o, "pair"), sp, &p->pair, &p->npair));
    } else if (!strcmp(t, "BertProcessing") || !strcmp(t, "RobertaProcessing")) {
        p->kind = t[0] == 'B' ? FT_TOK_PP_BERT : FT_TOK_PP_ROBERTA;
        FT_TRY(parse_tok_pair(c, o, "cls", &p->cls));
        FT_TRY(parse_tok_pair(c, o, "sep", &p->sep));
    } else if (!strcmp(t, "Sequence")) {
        /* Sequence of processors: ByteLevel parts only touch offsets; keep the one that adds tokens */
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "processors"), *e;
        if (!cJSON_IsArray(arr))
            return ft_fail(FT_ERR_FORMAT, "%s: post_processor Sequence: missing 'processors' array", c->path);
        int adders = 0;
        cJSON_ArrayForEach(e, arr) {
            if (!strcmp(jtype(e), "ByteLevel")) {
                p->trim_offsets = jbool(e, "trim_offsets", true);
                p->trim_prefix_space = jbool(e, "add_prefix_space", true);
                continue;
            }
            if (adders++)
                return ft_fail(FT_ERR_UNSUPPORTED, "%s: post_processor Sequence with two token-adding processors", c->path);
            FT_TRY(parse_post(c, e, p));
        }
    } else
        return ft_fail(FT_ERR_UNSUPPORTED, "%s: unknown post_processor type '%s'", c->path, t);
    return FT_OK;
}

static ft_status set_id(ft_tokenizer *t, int32_t id, const char *s, size_t n) {
    if (id < 0 || (size_t)id >= t->nid)
        return ft_fail(FT_ERR_RANGE, "tokenizer: id %d out of range", (int)id);
    char *d = dupn(s, n);
    if (!d)
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
    free(t->id_str[id]);
    t->id_str[id] = d;
    t->id_len[id] = (uint32_t)n;
    return FT_OK;
}

/* One merge "a b" or ["a", "b"] at rank r. */
static ft_status add_merge(const ctx *c, ft_tokenizer *t, const char *a, size_t al, const char *b, size_t bl, int32_t r,
                           ft_tok_buf *tmp) {
    int32_t ia = ft_tok_map_get(&t->vocab, a, al), ib = ft_tok_map_get(&t->vocab, b, bl);
    tmp->len = 0;
    FT_TRY(ft_tok_buf_add(tmp, a, al));
    FT_TRY(ft_tok_buf_add(tmp, b, bl));
    int32_t io = ft_tok_map_get(&t->vocab, tmp->p, tmp->len);
    if (ia < 0 || ib < 0 || io < 0)
        return ft_fail(FT_ERR_FORMAT, "%s: merge %d '%.*s %.*s': %s not in the vocabulary", c->path, (int)r, (int)al, a,
                       (int)bl, b, ia < 0 ? "first part" : ib < 0 ? "second part" : "merged token");
    return ft_tok_merges_put(&t->merges, ia, ib, r, io);
}

/* "Unigram": vocab [[piece, score], ...] (id = index), unk_id (index or null), byte_fallback. */
static ft_status parse_unigram(const ctx *c, const cJSON *m, ft_tokenizer *t) {
    t->model = FT_TOK_M_UNIGRAM;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(m, "vocab"), *e;
    if (!cJSON_IsArray(vocab) || cJSON_GetArraySize(vocab) == 0)
        return ft_fail(FT_ERR_FORMAT,
                       "%s: model.vocab of a Unigram model must be a non-empty array of [piece, score]",
                       c->path);
    size_t n = (size_t)cJSON_GetArraySize(vocab);
    if (n > FT_TOK_MAX_IDS)
        return ft_fail(FT_ERR_RANGE, "%s: model.vocab has %zu pieces, beyond the limit of %d ids", c->path, n,
                       FT_TOK_MAX_IDS);
    t->uni_score = malloc(n * sizeof *t->uni_score);
    if (!t->uni_score)
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory for %zu pieces", n);
    FT_TRY(ft_tok_map_init(&t->vocab, n));
    FT_TRY(ft_tok_trie_init(&t->uni_trie, 4 * n));
    t->nid = n;
    t->uni_min = 0;
    size_t i = 0;
    cJSON_ArrayForEach(e, vocab) {
        const cJSON *p = cJSON_GetArrayItem(e, 0), *sc = cJSON_GetArrayItem(e, 1);
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsString(p))
            return ft_fail(FT_ERR_FORMAT, "%s: model.vocab[%zu] must be [piece, score]", c->path, i);
        if (!cJSON_IsNumber(sc) || !isfinite(sc->valuedouble))
            return ft_fail(FT_ERR_FORMAT, "%s: model.vocab[%zu] ('%s'): the score is not a number", c->path,
                           i, p->valuestring);
        size_t len = strlen(p->valuestring);
        FT_TRY(
            ft_tok_map_put(&t->vocab, p->valuestring, len, (int32_t)i)); /* a repeated piece: the last id */
        if (len)
            FT_TRY(ft_tok_trie_insert(&t->uni_trie, p->valuestring, len, (int32_t)i));
        t->uni_score[i] = sc->valuedouble;
        if (!i || sc->valuedouble < t->uni_min)
            t->uni_min = sc->valuedouble;
        i++;
    }
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(m, "unk_id");
    t->unk_id = -1;
    if (unk && !cJSON_IsNull(unk)) {
        if (!cJSON_IsNumber(unk) || !(unk->valuedouble >= 0 && unk->valuedouble < (double)n) ||
            unk->valuedouble != floor(unk->valuedouble))
            return ft_fail(FT_ERR_FORMAT,
                           "%s: model.unk_id must be the index of a piece of model.vocab (0..%zu)", c->path,
                           n - 1);
        t->unk_id = (int32_t)unk->valuedouble;
    }
    t->byte_fallback = jbool(m, "byte_fallback", false);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_ids[b] = ft_tok_map_get(&t->vocab, name, 6);
    }
    return FT_OK;
}

static ft_status parse_model(const ctx *c, const cJSON *m, ft_tokenizer *t) {
    if (!cJSON_IsObject(m))
        return ft_fail(FT_ERR_FORMAT, "%s: missing 'model' object", c->path);
    const char *type = jstr(m, "type");
    if (type && !strcmp(type, "Unigram"))
        return parse_unigram(c, m, t);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(m, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(m, "merges");
    if (!type) /* old files leave the type out */
        type = merges ? "BPE" : "WordPiece";
    if (!strcmp(type, "BPE"))
        t->model = FT_TOK_M_BPE;
    else if (!strcmp(type, "WordPiece"))
        t->model = FT_TOK_M_WORDPIECE;
    else if (!strcmp(type, "WordLevel"))
        t->model = FT_TOK_M_WORDLEVEL;
    else
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "%s: unknown model type '%s' (supported: BPE, WordPiece, Unigram, WordLevel)", c->path,
                       type);
    if (!cJSON_IsObject(vocab))
        return ft_fail(FT_ERR_FORMAT, "%s: model.vocab must be an object of token -> id", c->path);
    FT_TRY(ft_tok_map_init(&t->vocab, (size_t)cJSON_GetArraySize(vocab)));
    const cJSON *e;
    int32_t maxid = -1;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble != floor(e->valuedouble))
            return ft_fail(FT_ERR_FORMAT, "%s: model.vocab['%s'] is not a valid id", c->path, e->string);
        if (e->valuedouble >= FT_TOK_MAX_IDS) /* ids index arrays of that size */
            return ft_fail(FT_ERR_RANGE, "%s: model.vocab['%s'] has id %.0f, beyond the limit of %d ids",
                           c->path, e->string, e->valuedouble, FT_TOK_MAX_IDS);
        int32_t id = (int32_t)e->valuedouble;
        FT_TRY(ft_tok_map_put(&t->vocab, e->string, strlen(e->string), id));
        if (id > maxid)
            maxid = id;
    }
    t->nid = (size_t)(maxid + 1);
    const char *unk = jstr(m, "unk_token");
    t->unk_id = unk ? ft_tok_map_get(&t->vocab, unk, strlen(unk)) : -1;
    if (t->model == FT_TOK_M_WORDLEVEL) /* HF: a missing unk_token fails only when a word needs it */
        return set_content(&t->unk_token, &t->unk_token_len, unk ? unk : "<unk>");
    if (unk && t->unk_id < 0)
        return ft_fail(FT_ERR_FORMAT, "%s: model.unk_token '%s' is not in the vocabulary", c->path, unk);
    const char *pf = jstr(m, "continuing_subword_prefix");
    if (t->model == FT_TOK_M_WORDPIECE) {
        FT_TRY(set_content(&t->cont_prefix, &t->cont_prefix_len, pf ? pf : "##"));
        const cJSON *mx = cJSON_GetObjectItemCaseSensitive(m, "max_input_chars_per_word");
        double x = 100;
        if (mx)
            FT_TRY(jint(c, mx, "model.max_input_chars_per_word", INT32_MAX, &x));
        t->max_chars = (size_t)x;
        if (t->unk_id < 0)
            return ft_fail(FT_ERR_FORMAT, "%s: WordPiece model needs an unk_token in the vocabulary", c->path);
        return FT_OK;
    }
    FT_TRY(set_content(&t->cont_prefix, &t->cont_prefix_len, pf));
    FT_TRY(set_content(&t->end_suffix, &t->end_suffix_len, jstr(m, "end_of_word_suffix")));
    t->byte_fallback = jbool(m, "byte_fallback", false);
    t->fuse_unk = jbool(m, "fuse_unk", false);
    t->ignore_merges = jbool(m, "ignore_merges", false);
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(m, "dropout");
    if (cJSON_IsNumber(drop) && drop->valuedouble > 0)
        return ft_fail(FT_ERR_UNSUPPORTED, "%s: BPE dropout %g is not supported (training-time only)", c->path,
                       drop->valuedouble);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_ids[b] = ft_tok_map_get(&t->vocab, name, 6);
    }
    if (!cJSON_IsArray(merges))
        return ft_fail(FT_ERR_FORMAT, "%s: model.merges must be an array", c->path);
    if (cJSON_GetArraySize(merges) > FT_TOK_MAX_IDS)
        return ft_fail(FT_ERR_RANGE, "%s: model.merges has %d merges, beyond the limit of %d", c->path,
                       cJSON_GetArraySize(merges), FT_TOK_MAX_IDS);
    FT_TRY(ft_tok_merges_init(&t->merges, (size_t)cJSON_GetArraySize(merges)));
    ft_tok_buf tmp = {0};
    ft_status st = FT_OK;
    int32_t r = 0;
    cJSON_ArrayForEach(e, merges) {
        if (cJSON_IsString(e)) {
            const char *s = e->valuestring, *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                st = ft_fail(FT_ERR_FORMAT, "%s: merge %d '%s' is not two tokens separated by one space", c->path, (int)r, s);
                break;
            }
            st = add_merge(c, t, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), r, &tmp);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            const char *a = cJSON_GetArrayItem(e, 0)->valuestring, *b = cJSON_GetArrayItem(e, 1)->valuestring;
            st = add_merge(c, t, a, strlen(a), b, strlen(b), r, &tmp);
        } else
            st = ft_fail(FT_ERR_FORMAT, "%s: merge %d is neither \"a b\" nor [\"a\", \"b\"]", c->path, (int)r);
        if (st != FT_OK)
            break;
        r++;
    }
    ft_tok_buf_free(&tmp);
    return st;
}

static ft_status parse_added(const ctx *c, const cJSON *arr, ft_tokenizer *t) {
    if (!arr || cJSON_IsNull(arr))
        return FT_OK;
    if (!cJSON_IsArray(arr))
        return ft_fail(FT_ERR_FORMAT, "%s: added_tokens must be an array", c->path);
    size_t k = (size_t)cJSON_GetArraySize(arr);
    t->added = calloc(k ? k : 1, sizeof *t->added);
    if (!t->added)
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const char *s = jstr(e, "content");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (!s || !cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble != floor(id->valuedouble))
            return ft_fail(FT_ERR_FORMAT, "%s: added_tokens[%zu] needs 'content' and a valid 'id'", c->path, t->nadded);
        if (id->valuedouble >= FT_TOK_MAX_IDS)
            return ft_fail(FT_ERR_RANGE, "%s: added_tokens[%zu] has id %.0f, beyond the limit of %d ids",
                           c->path, t->nadded, id->valuedouble, FT_TOK_MAX_IDS);
        ft_tok_added *a = &t->added[t->nadded];
        a->len = strlen(s);
        a->content = dupn(s, a->len);
        if (!a->content)
            return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
        t->nadded++;
        a->id = (int32_t)id->valuedouble;
        a->special = jbool(e, "special", false);
        a->lstrip = jbool(e, "lstrip", false);
        a->rstrip = jbool(e, "rstrip", false);
        a->single_word = jbool(e, "single_word", false);
        a->normalized = jbool(e, "normalized", !a->special);
        if ((size_t)a->id + 1 > t->nid)
            t->nid = (size_t)a->id + 1;
    }
    return FT_OK;
}

/* bos_token etc. in tokenizer_config.json: a string or {"content": ...}. */
static int32_t config_token(const ft_tokenizer *t, const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsString(v))
        return tok_id(t, v->valuestring);
    if (cJSON_IsObject(v))
        return tok_id(t, jstr(v, "content"));
    return -2; /* absent: keep the inferred value */
}

static void special_roles(ft_tokenizer *t, const cJSON *cfg) {
    ft_tok_special *s = &t->special;
    *s = (ft_tok_special){-1, -1, -1, -1, -1, -1, -1};
    s->unk = t->unk_id;
    if (t->post.kind == FT_TOK_PP_BERT || t->post.kind == FT_TOK_PP_ROBERTA) {
        s->cls = t->post.cls;
        s->sep = t->post.sep;
        if (t->post.kind == FT_TOK_PP_ROBERTA)
            s->bos = t->post.cls, s->eos = t->post.sep;
    }
    if (t->post.kind == FT_TOK_PP_TEMPLATE) { /* special tokens before/after $A are BOS/EOS (CLS/SEP for BERT) */
        bool seen_a = false;
        for (size_t i = 0; i < t->post.nsingle; i++) {
            const ft_tok_tpl_item *it = &t->post.single[i];
            if (it->seq == 0)
                seen_a = true;
            else if (it->nids == 1 && !seen_a && s->bos < 0)
                s->bos = it->ids[0];
            else if (it->nids == 1 && seen_a && s->eos < 0)
                s->eos = it->ids[0];
        }
    }
    static const char *const names[][2] = {{"[CLS]", "c"}, {"[SEP]", "s"}, {"[PAD]", "p"}, {"[MASK]", "m"}};
    for (size_t i = 0; i < 4; i++) {
        int32_t id = tok_id(t, names[i][0]);
        if (id < 0 || !ft_tok_is_special(t, id))
            continue;
        int32_t *slot = names[i][1][0] == 'c' ? &s->cls : names[i][1][0] == 's' ? &s->sep : names[i][1][0] == 'p' ? &s->pad : &s->mask;
        if (*slot < 0)
            *slot = id;
    }
    if (t->model == FT_TOK_M_WORDPIECE && s->cls >= 0 && s->bos == s->cls) /* BERT: template [CLS] $A [SEP] */
        s->bos = -1;
    if (t->model == FT_TOK_M_WORDPIECE && s->sep >= 0 && s->eos == s->sep)
        s->eos = -1;
    if (!cfg)
        return;
    static const char *const keys[] = {"bos_token", "eos_token", "pad_token", "unk_token", "cls_token", "sep_token", "mask_token"};
    int32_t *slots[] = {&s->bos, &s->eos, &s->pad, &s->unk, &s->cls, &s->sep, &s->mask};
    for (size_t i = 0; i < 7; i++) {
        int32_t id = config_token(t, cfg, keys[i]);
        if (id != -2)
            *slots[i] = id;
    }
}

static ft_status finish(const ctx *c, ft_tokenizer *t, const cJSON *root, const cJSON *cfg) {
    t->id_str = calloc(t->nid ? t->nid : 1, sizeof *t->id_str);
    t->id_len = calloc(t->nid ? t->nid : 1, sizeof *t->id_len);
    t->id_special = calloc(t->nid ? t->nid : 1, 1);
    if (!t->id_str || !t->id_len || !t->id_special)
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
    for (size_t e = 0; e < t->vocab.n; e++)
        FT_TRY(set_id(t, t->vocab.val[e], t->vocab.pool.p + t->vocab.key_off[e], t->vocab.key_len[e]));
    if (t->model == FT_TOK_M_UNIGRAM) { /* every id has its piece, a repeated one included */
        const cJSON *e;
        int32_t i = 0;
        cJSON_ArrayForEach(
            e, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "model"), "vocab")) {
            const char *p = cJSON_GetArrayItem(e, 0)->valuestring;
            FT_TRY(set_id(t, i++, p, strlen(p)));
        }
    }
    for (size_t i = 0; i < t->nadded; i++) {
        FT_TRY(set_id(t, t->added[i].id, t->added[i].content, t->added[i].len));
        t->id_special[t->added[i].id] = t->added[i].special;
    }
    FT_TRY(ft_tok_trie_build(&t->trie_raw, t->added, t->nadded, false));
    FT_TRY(ft_tok_trie_build(&t->trie_norm, t->added, t->nadded, true));
    (void)c;
    special_roles(t, cfg);
    t->md = pcre2_match_data_create(4, NULL);
    if (!t->md)
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
    return FT_OK;
}

static ft_status load_json(const char *path, const cJSON *root, const cJSON *cfg, ft_tokenizer *t) {
    ctx c = {path};
    if (!cJSON_IsObject(root))
        return ft_fail(FT_ERR_FORMAT, "%s: not a JSON object", path);
    FT_TRY(parse_model(&c, cJSON_GetObjectItemCaseSensitive(root, "model"), t));
    FT_TRY(parse_added(&c, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), t));
    const cJSON *o;
    if ((o = cJSON_GetObjectItemCaseSensitive(root, "normalizer")) && !cJSON_IsNull(o)) {
        t->norm = calloc(1, sizeof *t->norm);
        if (!t->norm)
            return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
        FT_TRY(parse_norm(&c, o, t->norm));
    }
    if ((o = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer")) && !cJSON_IsNull(o)) {
        t->pre = calloc(1, sizeof *t->pre);
        if (!t->pre)
            return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
        FT_TRY(parse_pre(&c, o, t->pre, &t->byte_level));
    }
    if ((o = cJSON_GetObjectItemCaseSensitive(root, "decoder")) && !cJSON_IsNull(o)) {
        t->dec = calloc(1, sizeof *t->dec);
        if (!t->dec)
            return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
        FT_TRY(parse_dec(&c, o, t->dec));
    }
    if ((o = cJSON_GetObjectItemCaseSensitive(root, "post_processor")) && !cJSON_IsNull(o))
        FT_TRY(parse_post(&c, o, &t->post));
    return finish(&c, t, root, cfg);
}

static cJSON *read_json(const char *path, ft_status *st) {
    char *text = NULL;
    size_t len = 0;
    *st = ft_read_file(path, &text, &len);
    if (*st != FT_OK)
        return NULL;
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= text && at <= text + len ? (size_t)(at - text) : 0;
        *st = ft_fail(FT_ERR_FORMAT, "%s: invalid JSON near byte %zu", path, off);
    }
    free(text);
    return j;
}

static bool is_dir(const char *p) {
    struct stat sb;
    return !stat(p, &sb) && S_ISDIR(sb.st_mode);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* GPT-2's encoder.json + vocab.bpe, rebuilt as the tokenizer.json HF's converter writes for gpt2. */
static cJSON *gpt2_json(const char *enc_path, const char *bpe_path, ft_status *st) {
    cJSON *vocab = read_json(enc_path, st);
    if (!vocab)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    if ((*st = ft_read_file(bpe_path, &text, &len)) != FT_OK) {
        cJSON_Delete(vocab);
        return NULL;
    }
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON *merges = cJSON_CreateArray();
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddItemToObject(model, "vocab", vocab);
    cJSON_AddItemToObject(model, "merges", merges);
    size_t lineno = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[--l] = 0;
        if (l && !(lineno == 1 && !strncmp(line, "#version", 8)))
            cJSON_AddItemToArray(merges, cJSON_CreateString(line));
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "ByteLevel");
    cJSON_AddFalseToObject(pre, "add_prefix_space");
    cJSON_AddTrueToObject(pre, "use_regex");
    cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
    cJSON_AddStringToObject(dec, "type", "ByteLevel");
    cJSON *eot = cJSON_GetObjectItemCaseSensitive(vocab, "<|endoftext|>");
    if (cJSON_IsNumber(eot)) {
        cJSON *added = cJSON_AddArrayToObject(root, "added_tokens"), *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", eot->valuedouble);
        cJSON_AddStringToObject(a, "content", "<|endoftext|>");
        cJSON_AddTrueToObject(a, "special");
        cJSON_AddTrueToObject(a, "normalized");
        cJSON_AddItemToArray(added, a);
    }
    *st = FT_OK;
    return root;
}

/* BERT vocab.txt (one token per line, id = line number), as bert-base-*'s tokenizer.json. */
static cJSON *bert_json(const char *path, const cJSON *cfg, ft_status *st) {
    char *text = NULL;
    size_t len = 0;
    if ((*st = ft_read_file(path, &text, &len)) != FT_OK)
        return NULL;
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    cJSON_AddStringToObject(model, "type", "WordPiece");
    cJSON_AddStringToObject(model, "unk_token", "[UNK]");
    double id = 0;
    for (char *line = text; line && (size_t)(line - text) < len;) {
        char *nl = memchr(line, '\n', len - (size_t)(line - text));
        if (nl)
            *nl = 0;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[--l] = 0;
        if (!cJSON_GetObjectItemCaseSensitive(vocab, line)) /* first occurrence wins */
            cJSON_AddNumberToObject(vocab, line, id);
        id++;
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    bool lower = cfg ? jbool(cfg, "do_lower_case", true) : true;
    cJSON *norm = cJSON_AddObjectToObject(root, "normalizer");
    cJSON_AddStringToObject(norm, "type", "BertNormalizer");
    cJSON_AddBoolToObject(norm, "lowercase", lower);
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "BertPreTokenizer");
    cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
    cJSON_AddStringToObject(dec, "type", "WordPiece");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    static const char *const sp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (size_t i = 0; i < 5; i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(vocab, sp[i]);
        if (!cJSON_IsNumber(v))
            continue;
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", v->valuedouble);
        cJSON_AddStringToObject(a, "content", sp[i]);
        cJSON_AddTrueToObject(a, "special");
        cJSON_AddFalseToObject(a, "normalized");
        cJSON_AddItemToArray(added, a);
    }
    cJSON *cls = cJSON_GetObjectItemCaseSensitive(vocab, "[CLS]"), *sep = cJSON_GetObjectItemCaseSensitive(vocab, "[SEP]");
    if (cJSON_IsNumber(cls) && cJSON_IsNumber(sep)) {
        cJSON *pp = cJSON_AddObjectToObject(root, "post_processor");
        cJSON_AddStringToObject(pp, "type", "BertProcessing");
        cJSON *a = cJSON_AddArrayToObject(pp, "cls"), *b = cJSON_AddArrayToObject(pp, "sep");
        cJSON_AddItemToArray(a, cJSON_CreateString("[CLS]"));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(cls->valuedouble));
        cJSON_AddItemToArray(b, cJSON_CreateString("[SEP]"));
        cJSON_AddItemToArray(b, cJSON_CreateNumber(sep->valuedouble));
    }
    return root;
}

ft_status ft_tok_load_cjson(const cJSON *root, const cJSON *cfg, const char *what, ft_tokenizer **out) {
    *out = NULL;
    ft_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory");
    t->unk_id = -1;
    ft_status st = load_json(what, root, cfg, t);
    if (st != FT_OK) {
        ft_tok_free(t);
        return st;
    }
    *out = t;
    return FT_OK;
}

ft_status ft_tok_load(const char *dir_or_file, ft_tokenizer **out) {
    *out = NULL;
    if (!dir_or_file)
        return ft_fail(FT_ERR_ARG, "ft_tok_load: no path");
    char dir[4096], p1[4200], p2[4200], cfgp[4200];
    const char *name = NULL;
    if (is_dir(dir_or_file)) {
        snprintf(dir, sizeof dir, "%s", dir_or_file);
    } else {
        if (!ft_file_exists(dir_or_file))
            return ft_fail(FT_ERR_IO, "%s: no such file or directory", dir_or_file);
        snprintf(dir, sizeof dir, "%s", dir_or_file);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
        name = base_name(dir_or_file);
    }
    ft_path_join(cfgp, sizeof cfgp, dir, "tokenizer_config.json");
    ft_status st = FT_OK;
    cJSON *cfg = NULL, *root = NULL;
    if (ft_file_exists(cfgp)) {
        cfg = read_json(cfgp, &st);
        if (!cfg)
            return st;
    }
    const char *src;
    if (name ? (strcmp(name, "encoder.json") && strcmp(name, "vocab.bpe") && strcmp(name, "vocab.txt"))
             : ft_file_exists(ft_path_join(p1, sizeof p1, dir, "tokenizer.json"))) {
        snprintf(p1, sizeof p1, "%s", name ? dir_or_file : ft_path_join(p2, sizeof p2, dir, "tokenizer.json"));
        root = read_json(p1, &st);
        src = p1;
    } else if ((!name || strcmp(name, "vocab.txt")) &&
               ft_file_exists(ft_path_join(p1, sizeof p1, dir, "encoder.json")) &&
               ft_file_exists(ft_path_join(p2, sizeof p2, dir, "vocab.bpe"))) {
        ft_path_join(p1, sizeof p1, dir, "encoder.json");
        root = gpt2_json(p1, p2, &st);
        src = p1;
    } else if (ft_file_exists(ft_path_join(p1, sizeof p1, dir, "vocab.txt"))) {
        root = bert_json(p1, cfg, &st);
        src = p1;
    } else {
        cJSON_Delete(cfg);
        return ft_fail(FT_ERR_MISSING, "%s: no tokenizer.json, encoder.json + vocab.bpe, or vocab.txt", dir_or_file);
    }
    if (!root) {
        cJSON_Delete(cfg);
        return st;
    }
    st = ft_tok_load_cjson(root, cfg, src, out);
    cJSON_Delete(cfg);
    cJSON_Delete(root);
    return st;
}

void ft_tok_free(ft_tokenizer *t) {
    if (!t)
        return;
    ft_tok_map_free(&t->vocab);
    for (size_t i = 0; t->id_str && i < t->nid; i++)
        free(t->id_str[i]);
    free(t->id_str);
    free(t->id_len);
    free(t->id_special);
    ft_tok_merges_free(&t->merges);
    free(t->cont_prefix);
    free(t->unk_token);
    free(t->end_suffix);
    free(t->uni_score);
    ft_tok_trie_free(&t->uni_trie);
    if (t->norm)
        ft_tok_norm_free(t->norm);
    free(t->norm);
    if (t->pre)
        ft_tok_pre_free(t->pre);
    free(t->pre);
    if (t->dec)
        ft_tok_dec_free(t->dec);
    free(t->dec);
    for (size_t i = 0; i < t->post.nsingle; i++)
        free(t->post.single[i].ids);
    for (size_t i = 0; i < t->post.npair; i++)
        free(t->post.pair[i].ids);
    free(t->post.single);
    free(t->post.pair);
    for (size_t i = 0; i < t->nadded; i++)
        free(t->added[i].content);
    free(t->added);
    ft_tok_trie_free(&t->trie_raw);
    ft_tok_trie_free(&t->trie_norm);
    ft_tok_cache_free(&t->cache);
    free(t->wlens);
    if (t->md)
        pcre2_match_data_free(t->md);
    free(t);
}
