/* tokenizer internals: buffers, hash maps, pipeline components. */
#ifndef FT_TOK_INTERNAL_H
#define FT_TOK_INTERNAL_H

/* Token ids (vocabulary and added tokens) and merges a tokenizer.json may declare: ids index arrays,
 * so an id of 10^9 would allocate gigabytes (the largest real vocabularies have ~2^18 entries). */
#define FT_TOK_MAX_IDS (1 << 24)
/* PCRE2's match limit for one match call, set explicitly (its default) so that a pattern that backtracks
 * catastrophically ends in a clear error naming the limit (real pre-tokenizer patterns need a few steps
 * per character). */
#define FT_TOK_REGEX_MATCH_LIMIT 10000000

#include <cjson/cJSON.h>
#include <pcre2.h>

#include "core/core.h"
#include "tokenizer/tokenizer.h"

/* ---- byte buffer ---- */
typedef struct {
    char *p;
    size_t len, cap;
} ft_tok_buf;
ft_status ft_tok_buf_reserve(ft_tok_buf *b, size_t extra);
ft_status ft_tok_buf_add(ft_tok_buf *b, const void *s, size_t n);
ft_status ft_tok_buf_cp(ft_tok_buf *b, uint32_t cp); /* append one code point as UTF-8 */
void ft_tok_buf_free(ft_tok_buf *b);

/* ---- spans: a list of pieces of one text buffer; id >= 0 marks an added token already decided ---- */
typedef struct {
    size_t off, len;
    int32_t id;
    uint8_t first; /* starts at offset 0 of the original text (Metaspace prepend_scheme "first") */
} ft_tok_span;
typedef struct {
    ft_tok_span *v;
    size_t n, cap;
} ft_tok_spans;
ft_status ft_tok_spans_add(ft_tok_spans *s, size_t off, size_t len, int32_t id, uint8_t first);
void ft_tok_spans_free(ft_tok_spans *s);

/* ---- alignments (offsets mode only): for each byte of a buffer, the [a, b) byte range of the original
 * text it comes from; every byte of one character carries that character's range, as in HF's
 * NormalizedString. A character a normalizer makes from one source character gets that character's
 * range; one it inserts gets the range of the character before it. ---- */
typedef struct {
    size_t a, b;
} ft_tok_al;
typedef struct {
    ft_tok_al *v;
    size_t n, cap;
} ft_tok_als;
/* The array p (of *cap elements of elem bytes) grown to hold at least need (at least 1), doubling; NULL
 * when out of memory (p untouched, the error set naming `what`). */
void *ft_tok_grow(void *p, size_t *cap, size_t need, size_t elem, const char *what);
/* Extend s to n entries, the new ones = x (no-op when s->n >= n). */
ft_status ft_tok_als_fill(ft_tok_als *s, size_t n, ft_tok_al x);
ft_status ft_tok_als_add(ft_tok_als *s, const ft_tok_al *v, size_t n);
void ft_tok_als_free(ft_tok_als *s);

/* ---- string -> id hash map (open addressing; keys copied into a pool) ---- */
typedef struct {
    uint32_t *slot; /* entry index + 1, 0 = empty */
    size_t mask;
    size_t *key_off;
    uint32_t *key_len;
    int32_t *val;
    size_t n, cap;
    ft_tok_buf pool;
} ft_tok_map;
ft_status ft_tok_map_init(ft_tok_map *m, size_t expected);
ft_status ft_tok_map_put(ft_tok_map *m, const char *k, size_t len, int32_t val); /* overwrites */
int32_t ft_tok_map_get(const ft_tok_map *m, const char *k, size_t len);          /* -1 if absent */
void ft_tok_map_free(ft_tok_map *m);
uint64_t ft_tok_hash(const char *s, size_t n);

/* ---- pair (a,b) -> (rank, merged id) ---- */
typedef struct {
    uint64_t *key; /* (a << 32 | b) + 1, 0 = empty */
    int32_t *rank, *out;
    size_t mask, n;
} ft_tok_merges;

ft_status ft_tok_merges_init(ft_tok_merges *m, size_t expected);
ft_status ft_tok_merges_put(ft_tok_merges *m, int32_t a, int32_t b, int32_t rank, int32_t out);
/* index of the pair's slot or -1 */
static inline int64_t ft_tok_merges_find(const ft_tok_merges *m, int32_t a, int32_t b) {
    if (!m->key)
        return -1;
    uint64_t k = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint64_t h = k * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 20) & m->mask;
    for (;;) {
        if (m->key[i] == k)
            return (int64_t)i;
        if (!m->key[i])
            return -1;
        i = (i + 1) & m->mask;
    }
}
void ft_tok_merges_free(ft_tok_merges *m);

/* ---- word cache: word bytes -> ids, cleared when full ---- */
typedef struct {
    uint32_t *slot;
    size_t mask, n, max_entries;
    size_t *key_off;
    uint32_t *key_len, *ids_off, *ids_n;
    ft_tok_buf keys;
    int32_t *ids;
    uint32_t *lens; /* byte length in the word of each cached token */
    size_t ids_len, ids_cap;
} ft_tok_cache;

/* ---- UTF-8 / Unicode ---- */
/* Decode one code point at s[i] (valid UTF-8 assumed); returns its byte length. */
static inline int ft_tok_u8dec(const unsigned char *s, size_t n, size_t i, uint32_t *cp) {
    unsigned c = s[i];
    if (c < 0x80) { *cp = c; return 1; }
    if (c < 0xE0 && i + 1 < n) { *cp = ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu); return 2; }
    if (c < 0xF0 && i + 2 < n) { *cp = ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu); return 3; }
    if (i + 3 < n) {
        *cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu);
        return 4;
    }
    *cp = 0xFFFD;
    return 1;
}
/* Length of the first invalid UTF-8 sequence start, or n if all valid; *bad set to its offset. */
bool ft_tok_utf8_valid(const char *s, size_t n, size_t *bad);
/* Append s with each maximal invalid subsequence replaced by U+FFFD (Rust from_utf8_lossy). */
ft_status ft_tok_utf8_lossy(ft_tok_buf *out, const unsigned char *s, size_t n);
bool ft_tok_is_whitespace(uint32_t cp); /* Unicode White_Space (Rust char::is_whitespace) */
bool ft_tok_is_punct(uint32_t cp);      /* ASCII punctuation or a P* category */
bool ft_tok_is_alnum(uint32_t cp);      /* L*, N* */
bool ft_tok_is_word_char(uint32_t cp);  /* regex \w: alnum, marks, Pc */

/* ---- pipeline components ---- */
typedef enum {
    FT_TOK_PAT_NONE,
    FT_TOK_PAT_STRING,
    FT_TOK_PAT_REGEX
} ft_tok_pat_kind;
typedef struct {
    ft_tok_pat_kind kind;
    char *str;
    size_t str_len;
    pcre2_code *re;
    pcre2_match_context *mctx; /* match and depth limits (catastrophic backtracking ends in an error) */
} ft_tok_pattern;

typedef enum {
    FT_TOK_N_NFC,
    FT_TOK_N_NFD,
    FT_TOK_N_NFKC,
    FT_TOK_N_NFKD,
    FT_TOK_N_LOWER,
    FT_TOK_N_STRIP,
    FT_TOK_N_STRIP_ACCENTS,
    FT_TOK_N_REPLACE,
    FT_TOK_N_PREPEND,
    FT_TOK_N_BERT,
    FT_TOK_N_PRECOMPILED,
    FT_TOK_N_SEQ,
    FT_TOK_N_NMT
} ft_tok_norm_kind;
/* SentencePiece's precompiled character map (normalizer Precompiled): a double-array trie over UTF-8
 * byte strings (darts-clone units) whose values index a blob of NUL-terminated replacements. */
typedef struct {
    uint32_t *units;
    size_t nunits;
    char *blob; /* the replacements, valid UTF-8 */
    size_t blob_len;
} ft_tok_charsmap;
typedef struct ft_tok_norm {
    ft_tok_norm_kind kind;
    ft_tok_pattern pat;
    char *content; /* Replace content / Prepend text */
    size_t content_len;
    bool left, right;                                     /* Strip */
    bool clean_text, chinese, strip_accents, lowercase;   /* BertNormalizer */
    ft_tok_charsmap map;                                  /* Precompiled */
    struct ft_tok_norm *sub;
    size_t nsub;
} ft_tok_norm;

typedef enum {
    FT_TOK_SPLIT_REMOVED, FT_TOK_SPLIT_ISOLATED, FT_TOK_SPLIT_PREV, FT_TOK_SPLIT_NEXT, FT_TOK_SPLIT_CONTIGUOUS
} ft_tok_behavior;
typedef enum {
    FT_TOK_P_BYTELEVEL, FT_TOK_P_SPLIT, FT_TOK_P_METASPACE, FT_TOK_P_BERT, FT_TOK_P_WHITESPACE,
    FT_TOK_P_WSSPLIT, FT_TOK_P_DIGITS, FT_TOK_P_PUNCT, FT_TOK_P_SEQ
} ft_tok_pre_kind;
typedef enum { FT_TOK_PREPEND_ALWAYS, FT_TOK_PREPEND_FIRST, FT_TOK_PREPEND_NEVER } ft_tok_prepend;
typedef struct ft_tok_pre {
    ft_tok_pre_kind kind;
    ft_tok_pattern pat; /* Split; ByteLevel use_regex uses the GPT-2 pattern */
    ft_tok_behavior behavior;
    bool invert, add_prefix_space, use_regex, split, individual_digits;
    uint32_t replacement; /* Metaspace */
    ft_tok_prepend prepend;
    struct ft_tok_pre *sub;
    size_t nsub;
} ft_tok_pre;

typedef enum {
    FT_TOK_D_BYTELEVEL, FT_TOK_D_BYTEFALLBACK, FT_TOK_D_FUSE, FT_TOK_D_STRIP, FT_TOK_D_REPLACE,
    FT_TOK_D_METASPACE, FT_TOK_D_WORDPIECE, FT_TOK_D_BPE, FT_TOK_D_SEQ
} ft_tok_dec_kind;
typedef struct ft_tok_dec {
    ft_tok_dec_kind kind;
    ft_tok_pattern pat;
    char *content; /* Replace content, WordPiece prefix, BPE suffix */
    size_t content_len;
    uint32_t strip_char, replacement;
    size_t start, stop;
    bool cleanup;
    ft_tok_prepend prepend;
    struct ft_tok_dec *sub;
    size_t nsub;
} ft_tok_dec;

/* Post-processor template item: a special token (key into the special map) or sequence A/B. */
typedef struct {
    int seq; /* -1: special token; 0: A; 1: B */
    int32_t type_id;
    int32_t *ids; /* special token ids */
    size_t nids;
} ft_tok_tpl_item;
typedef enum { FT_TOK_PP_NONE, FT_TOK_PP_TEMPLATE, FT_TOK_PP_BERT, FT_TOK_PP_ROBERTA } ft_tok_pp_kind;
typedef struct {
    ft_tok_pp_kind kind;
    bool trim_offsets, trim_prefix_space; /* ByteLevel / RobertaProcessing trim_offsets, add_prefix_space */
    ft_tok_tpl_item *single, *pair;
    size_t nsingle, npair;
    int32_t cls, sep; /* Bert/Roberta */
} ft_tok_post;

typedef struct {
    char *content;
    size_t len;
    int32_t id;
    bool special, lstrip, rstrip, single_word, normalized;
} ft_tok_added;

/* Byte trie over added-token contents, for leftmost-longest matching. */
typedef struct {
    ft_tok_merges edges; /* (node, byte) -> child node (rank unused); node 0 is the root */
    int32_t *tok;        /* node -> index into added[] ending here, -1 */
    size_t n, cap;
    uint8_t first[256]; /* bytes that can start a match */
} ft_tok_trie;
int32_t ft_tok_trie_child(const ft_tok_trie *t, int32_t node, uint8_t b); /* -1 if none */

/* WordLevel: one id per pre-tokenized word (its vocabulary entry, else unk_token; neither: an error). */
typedef enum { FT_TOK_M_BPE, FT_TOK_M_WORDPIECE, FT_TOK_M_UNIGRAM, FT_TOK_M_WORDLEVEL } ft_tok_model_kind;

struct ft_tokenizer {
    ft_tok_model_kind model;
    /* vocabulary (model + added) */
    ft_tok_map vocab;   /* model vocab: token -> id */
    char **id_str;      /* id -> token (model or added), NULL for holes */
    uint32_t *id_len;
    uint8_t *id_special;
    size_t nid;
    /* BPE */
    ft_tok_merges merges;
    int32_t unk_id;
    bool byte_fallback, fuse_unk, ignore_merges, byte_level;
    char *cont_prefix, *end_suffix;
    size_t cont_prefix_len, end_suffix_len;
    char
        *unk_token; /* WordLevel: its unk_token (named by the error when a word needs it and it is missing) */
    size_t unk_token_len;
    int32_t byte_ids[256]; /* <0xNN> ids for byte_fallback, -1 */
    /* WordPiece */
    size_t max_chars;
    /* Unigram: score of each id (vocab order), the lowest score, a byte trie of the pieces (tok[node] =
     * id ending there) */
    double *uni_score, uni_min;
    ft_tok_trie uni_trie;
    /* pipeline */
    ft_tok_norm *norm;
    ft_tok_pre *pre;
    ft_tok_dec *dec;
    ft_tok_post post;
    ft_tok_added *added;
    size_t nadded;
    ft_tok_trie trie_raw, trie_norm;
    ft_tok_special special;
    ft_tok_cache cache;
    uint32_t *wlens; /* scratch: byte length of each token of the word being encoded */
    size_t wlens_cap;
    pcre2_match_data *md;
};

/* Build a tokenizer from a parsed tokenizer.json (root) and optional tokenizer_config.json (cfg);
 * `what` names the source in messages (tok_load.c). */
ft_status ft_tok_load_cjson(const cJSON *root, const cJSON *cfg, const char *what, ft_tokenizer **out);
/* The words the model would see for text[0..len): added tokens cut out (spans with id >= 0), the rest
 * normalized and pre-tokenized, as ft_tok_encode does before the model runs; spans index buf
 * (tok_encode.c). al (NULL: not tracked) receives one alignment per byte of buf. */
ft_status ft_tok_words(ft_tokenizer *t, const char *text, size_t len, ft_tok_buf *buf, ft_tok_spans *words,
                       ft_tok_als *al);

/* components (tok_pipeline.c) */
/* s[0..len) -> out. With oal != NULL (offsets mode) ial[i] is the alignment of s[i] and oal receives one
 * per byte of out. */
ft_status ft_tok_normalize(const ft_tok_norm *n, const char *s, size_t len, ft_tok_buf *out,
                           pcre2_match_data *md, const ft_tok_al *ial, ft_tok_als *oal);
/* Pre-tokenize spans of buf (spans with id >= 0 pass through); result in *out (buf may grow; al, when not
 * NULL, grows with it). */
ft_status ft_tok_pretokenize(const ft_tok_pre *p, ft_tok_buf *buf, const ft_tok_spans *in, ft_tok_spans *out,
                             pcre2_match_data *md, ft_tok_als *al);
ft_status ft_tok_decode_chain(const ft_tok_dec *d, ft_tok_buf *buf, ft_tok_spans *toks, pcre2_match_data *md);
void ft_tok_norm_free(ft_tok_norm *n);
void ft_tok_pre_free(ft_tok_pre *p);
void ft_tok_dec_free(ft_tok_dec *d);
void ft_tok_pattern_free(ft_tok_pattern *p);
ft_status ft_tok_pattern_regex(ft_tok_pattern *p, const char *re, size_t len, const char *what);
extern const char ft_tok_gpt2_regex[];
/* byte <-> char of the GPT-2 byte-level alphabet */
uint32_t ft_tok_byte_to_cp(uint8_t b);
int ft_tok_cp_to_byte(uint32_t cp); /* -1 if not in the alphabet */

/* models (tok_model.c) */
/* Word w[0..n) -> ids appended to out; when out->offsets is set, each new token's [start, end) byte range
 * within w goes there (HF's model offsets: BPE symbols laid end to end, WordPiece pieces; a word that
 * becomes [UNK] spans all of it). */
ft_status ft_tok_model_word(ft_tokenizer *t, const char *w, size_t n, ft_tok_ids *out);
void ft_tok_cache_free(ft_tok_cache *c);

/* ids helpers (ft_tok_ids_push is public: tokenizer.h) */
ft_status ft_tok_ids_reserve(ft_tok_ids *o, size_t extra);

/* Unigram (tok_unigram.c): Viterbi segmentation of w[0..n) as HF's Unigram::encode_optimized, tokens to
 * out; lens[k] = byte length in w of the k-th token, FT_TOK_LEN_SHARED set on byte-fallback tokens that
 * share the range of the token after them (HF gives every byte token of a piece the whole piece). */
#define FT_TOK_LEN_SHARED 0x80000000u
ft_status ft_tok_unigram_word(ft_tokenizer *t, const char *w, size_t n, ft_tok_ids *out, uint32_t *lens);

/* Precompiled normalizer (tok_precompiled.c) */
/* Decode the base64 precompiled_charsmap and check its layout; `what` names the field in messages. */
ft_status ft_tok_charsmap_parse(ft_tok_charsmap *m, const char *b64, size_t len, const char *what);
void ft_tok_charsmap_free(ft_tok_charsmap *m);
/* The replacement of the shortest key that prefixes s[0..n) (HF's spm_precompiled `transform`): *rep and
 * *rep_len set and 1 returned, 0 when no key matches; an error when the map points outside its blob. */
ft_status ft_tok_charsmap_find(const ft_tok_charsmap *m, const char *s, size_t n, const char **rep,
                               size_t *rep_len, int *found);
ft_status ft_tok_precompiled(const ft_tok_charsmap *m, const char *s, size_t len, const ft_tok_al *ial,
                             ft_tok_buf *out, ft_tok_als *oal);

/* trie */
/* Insert s[0..len) (len >= 1) with value v (tok[] of its last node); the root must exist. */
ft_status ft_tok_trie_insert(ft_tok_trie *t, const char *s, size_t len, int32_t v);
ft_status ft_tok_trie_init(ft_tok_trie *t, size_t expected);
ft_status ft_tok_trie_build(ft_tok_trie *t, const ft_tok_added *added, size_t n, bool normalized);
void ft_tok_trie_free(ft_tok_trie *t);

#endif
