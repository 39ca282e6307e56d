/* tokenizer model Unigram (SentencePiece's unigram language model as HF `tokenizers` runs it): the best
 * segmentation of a word into vocabulary pieces by summed score (Viterbi over the pieces a byte trie finds
 * at each character), unknown characters as the unk piece, consecutive unknowns fused, byte fallback. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

/* HF's kUnkPenalty: an unknown character scores the lowest piece score minus this. */
#define UNK_PENALTY 10.0

typedef struct {
    double score;  /* best score of a path ending here */
    int64_t start; /* where the last piece of that path starts; -1: no path yet */
    int32_t id;
} uni_node;

/* Offer a path ending at node x: taken when x has none or the score is strictly higher, so among equal
 * scores the first offered wins (pieces in order of start, shorter first, the unknown last), as in HF. */
static void offer(uni_node *x, double score, size_t start, int32_t id) {
    if (x->start < 0 || score > x->score) {
        x->score = score;
        x->start = (int64_t)start;
        x->id = id;
    }
}

/* Push the token(s) of the piece w[a..b): the piece's own id; else (a fused unknown run) one <0xNN> token
 * per byte when byte_fallback has them all, all spanning the piece; else the unk piece. */
static ft_status emit(ft_tokenizer *t, const char *w, size_t a, size_t b, ft_tok_ids *out, uint32_t *lens,
                      size_t *k) {
    uint32_t len = (uint32_t)(b - a);
    int32_t id = ft_tok_map_get(&t->vocab, w + a, b - a);
    if (id < 0 && t->byte_fallback) {
        bool all = true;
        for (size_t i = a; i < b && all; i++)
            all = t->byte_ids[(uint8_t)w[i]] >= 0;
        if (all) {
            for (size_t i = a; i < b; i++) {
                FT_TRY(ft_tok_ids_push(out, t->byte_ids[(uint8_t)w[i]], 0));
                lens[(*k)++] = i + 1 < b ? (len | FT_TOK_LEN_SHARED) : len;
            }
            return FT_OK;
        }
    }
    if (id < 0)
        id = t->unk_id;
    if (id < 0)
        return ft_fail(FT_ERR_ARG, "tokenizer: Unigram: no piece for '%.*s' and the model has no unk_id",
                       (int)(b - a), w + a);
    FT_TRY(ft_tok_ids_push(out, id, 0));
    lens[(*k)++] = len;
    return FT_OK;
}

ft_status ft_tok_unigram_word(ft_tokenizer *t, const char *w, size_t n, ft_tok_ids *out, uint32_t *lens) {
    uni_node *best = malloc((n + 1) * sizeof *best);
    size_t *seg = malloc((2 * n + 2) * sizeof *seg); /* [start, end) of each piece, last piece first */
    if (!best || !seg) {
        free(best), free(seg);
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory for a word of %zu bytes", n);
    }
    for (size_t i = 0; i <= n; i++)
        best[i] = (uni_node){0, -1, 0};
    const unsigned char *u = (const unsigned char *)w;
    const double unk_score = t->uni_min - UNK_PENALTY;
    for (size_t at = 0; at < n;) {
        uint32_t cp;
        size_t cl = (size_t)ft_tok_u8dec(u, n, at, &cp);
        double here = best[at].score;
        bool single = false; /* a piece covers exactly this character */
        int32_t node = 0;
        for (size_t e = at; e < n && t->uni_trie.tok; e++) {
            if ((node = ft_tok_trie_child(&t->uni_trie, node, u[e])) < 0)
                break;
            int32_t id = t->uni_trie.tok[node];
            if (id < 0)
                continue;
            offer(&best[e + 1], t->uni_score[id] + here, at, id);
            single = single || e + 1 - at == cl;
        }
        if (!single) {
            uni_node *x = &best[at + cl];
            if (t->unk_id < 0 && (x->start < 0 || unk_score + here > x->score)) { /* HF fails here */
                free(best), free(seg);
                return ft_fail(FT_ERR_ARG,
                               "tokenizer: Unigram: '%.*s' matches no piece and the model has no unk_id",
                               (int)cl, w + at);
            }
            offer(x, unk_score + here, at, t->unk_id);
        }
        at += cl;
    }
    /* back from the end; consecutive unknowns (pieces whose id is the unk id) become one piece */
    size_t ns = 0, end = n, fuse_end = 0;
    bool fusing = false;
    while (end > 0) {
        const uni_node *x = &best[end];
        size_t start = x->start < 0 ? 0 : (size_t)x->start; /* every character end has a path */
        if (t->unk_id >= 0 && x->id == t->unk_id) {
            if (!fusing)
                fuse_end = end, fusing = true;
        } else {
            if (fusing)
                seg[2 * ns] = end, seg[2 * ns + 1] = fuse_end, ns++, fusing = false;
            seg[2 * ns] = start, seg[2 * ns + 1] = end, ns++;
        }
        end = start;
    }
    if (fusing)
        seg[2 * ns] = 0, seg[2 * ns + 1] = fuse_end, ns++;
    ft_status st = FT_OK;
    size_t k = 0;
    for (size_t i = ns; i-- > 0 && st == FT_OK;)
        st = emit(t, w, seg[2 * i], seg[2 * i + 1], out, lens, &k);
    free(best), free(seg);
    return st;
}
