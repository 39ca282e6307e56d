/* tokenizer: encode (added tokens -> normalize -> pre-tokenize -> model -> post-process) and decode. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

/* Cut added tokens out of s[0..n) (a span of buf at base): leftmost-longest trie matches with
 * single_word / lstrip / rstrip as HF applies them. Appends spans (offsets into buf) to out. */
static ft_status find_added(const ft_tokenizer *t, const ft_tok_trie *tr, const ft_tok_buf *buf, size_t base,
                            size_t n, uint8_t first, ft_tok_spans *out) {
    const unsigned char *s = (const unsigned char *)buf->p + base;
    size_t start_off = 0, i = 0;
    if (tr->n)
        while (i < n) {
            if (!tr->first[s[i]]) {
                i++;
                continue;
            }
            int32_t node = 0, best = -1;
            size_t best_end = 0;
            for (size_t k = i; k < n; k++) {
                node = ft_tok_trie_child(tr, node, s[k]);
                if (node < 0)
                    break;
                if (tr->tok[node] >= 0)
                    best = tr->tok[node], best_end = k + 1;
            }
            if (best < 0) {
                i++;
                continue;
            }
            const ft_tok_added *a = &t->added[best];
            size_t start = i, stop = best_end;
            i = best_end; /* the matcher resumes after the raw match, whatever happens to it */
            if (a->single_word) {
                bool ok_l = true, ok_r = true;
                if (start > 0) { /* previous character must not be a word character */
                    size_t p = start - 1;
                    while (p > 0 && (s[p] & 0xC0) == 0x80)
                        p--;
                    uint32_t c;
                    ft_tok_u8dec(s, n, p, &c);
                    ok_l = !ft_tok_is_word_char(c);
                }
                if (stop < n) {
                    uint32_t c;
                    ft_tok_u8dec(s, n, stop, &c);
                    ok_r = !ft_tok_is_word_char(c);
                }
                if (!ok_l || !ok_r)
                    continue;
            }
            if (a->lstrip) {
                size_t ns = start;
                while (ns > 0) {
                    size_t p = ns - 1;
                    while (p > 0 && (s[p] & 0xC0) == 0x80)
                        p--;
                    uint32_t c;
                    ft_tok_u8dec(s, n, p, &c);
                    if (!ft_tok_is_whitespace(c))
                        break;
                    ns = p;
                }
                start = ns > start_off ? ns : start_off;
            }
            if (a->rstrip)
                while (stop < n) {
                    uint32_t c;
                    int cl = ft_tok_u8dec(s, n, stop, &c);
                    if (!ft_tok_is_whitespace(c))
                        break;
                    stop += (size_t)cl;
                }
            if (start_off < start)
                FT_TRY(ft_tok_spans_add(out, base + start_off, start - start_off, -1, (uint8_t)(first && start_off == 0)));
            FT_TRY(ft_tok_spans_add(out, base + start, stop - start, a->id, 0));
            start_off = stop;
            if (i < stop)
                i = stop; /* rstrip ate past the match */
        }
    if (start_off < n || n == 0)
        FT_TRY(ft_tok_spans_add(out, base + start_off, n - start_off, -1, (uint8_t)(first && start_off == 0)));
    return FT_OK;
}

ft_status ft_tok_words(ft_tokenizer *t, const char *text, size_t len, ft_tok_buf *buf, ft_tok_spans *words,
                       ft_tok_als *al) {
    size_t bad;
    if (!ft_tok_utf8_valid(text, len, &bad))
        return ft_fail(FT_ERR_ARG, "tokenizer: input is not valid UTF-8 (byte %zu)", bad);
    ft_tok_buf norm = {0};
    ft_tok_als nal = {0};
    ft_tok_spans segs = {0}, pieces = {0};
    buf->len = 0;
    words->n = 0;
    ft_status st = ft_tok_buf_add(buf, text, len);
    if (al) { /* each byte of the text: its character's range */
        al->n = 0;
        st = ft_tok_als_fill(al, len, (ft_tok_al){0, 0});
        for (size_t i = 0; i < len && st == FT_OK;) {
            uint32_t c;
            size_t k = (size_t)ft_tok_u8dec((const unsigned char *)text, len, i, &c);
            for (size_t j = 0; j < k; j++)
                al->v[i + j] = (ft_tok_al){i, i + k};
            i += k;
        }
    }
    if (st == FT_OK)
        st = find_added(t, &t->trie_raw, buf, 0, len, 1, &segs);
    for (size_t i = 0; i < segs.n && st == FT_OK; i++) {
        ft_tok_span sg = segs.v[i];
        if (sg.id >= 0) {
            st = ft_tok_spans_add(&pieces, sg.off, sg.len, sg.id, 0);
            continue;
        }
        size_t off = sg.off, n = sg.len;
        if (t->norm) {
            st = ft_tok_normalize(t->norm, buf->p + sg.off, sg.len, &norm, t->md, al ? al->v + sg.off : NULL,
                                  al ? &nal : NULL);
            off = buf->len;
            n = norm.len;
            if (st == FT_OK)
                st = ft_tok_buf_add(buf, norm.p, norm.len);
            if (st == FT_OK && al)
                st = nal.n == norm.len
                         ? ft_tok_als_add(al, nal.v, nal.n)
                         : ft_fail(FT_ERR_INTERNAL, "tokenizer: normalizer lost its alignments");
        }
        if (st == FT_OK)
            st = find_added(t, &t->trie_norm, buf, off, n, sg.first, &pieces);
    }
    if (st == FT_OK && t->pre)
        st = ft_tok_pretokenize(t->pre, buf, &pieces, words, t->md, al);
    else
        for (size_t i = 0; i < pieces.n && st == FT_OK; i++)
            st = ft_tok_spans_add(words, pieces.v[i].off, pieces.v[i].len, pieces.v[i].id, pieces.v[i].first);
    ft_tok_buf_free(&norm);
    ft_tok_als_free(&nal);
    ft_tok_spans_free(&segs);
    ft_tok_spans_free(&pieces);
    return st;
}

/* Offsets mode: make o->offsets exist (ft_tok_ids_reserve then keeps it as long as the ids). */
static ft_status want_offsets(ft_tok_ids *o) {
    if (o->offsets)
        return FT_OK;
    o->offsets = malloc((o->cap ? o->cap : 1) * sizeof *o->offsets);
    return o->offsets ? FT_OK : ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory for offsets");
}

/* Byte offsets into text -> code point offsets (HF's BytesToCharOffsetConverter; ours always fall on
 * character boundaries). */
static ft_status offsets_to_chars(const char *text, size_t len, ft_tok_ids *o) {
    size_t *ci = malloc((len + 1) * sizeof *ci);
    if (!ci)
        return ft_fail(FT_ERR_NOMEM, "tokenizer: out of memory for offsets");
    size_t c = 0;
    for (size_t i = 0; i < len; i++) {
        c += ((unsigned char)text[i] & 0xC0) != 0x80;
        ci[i] = c - 1;
    }
    ci[len] = c;
    for (size_t i = 0; i < o->n; i++) {
        ft_tok_offset *f = &o->offsets[i];
        *f = (ft_tok_offset){f->start < len ? ci[f->start] : c, f->end < len ? ci[f->end] : c};
    }
    free(ci);
    return FT_OK;
}

/* Leading and trailing spaces of each token's value, the counts HF's ByteLevel trim_offsets (also
 * RobertaProcessing's) takes off its range: characters that are 'Ġ' or Unicode whitespace. */
typedef struct {
    uint32_t *v; /* lead, trail per token */
    size_t n, cap;
} tok_spaces;

static ft_status spaces_add(tok_spaces *sp, const char *s, size_t n) {
    uint32_t *v = ft_tok_grow(sp->v, &sp->cap, sp->n + 2, sizeof *v, "token offsets");
    if (!v)
        return FT_ERR_NOMEM;
    sp->v = v;
    uint32_t lead = 0, run = 0;
    bool leading = true;
    for (size_t pos = 0; pos < n;) {
        uint32_t c;
        pos += (size_t)ft_tok_u8dec((const unsigned char *)s, n, pos, &c);
        bool space = c == 0x120 || ft_tok_is_whitespace(c);
        leading = leading && space;
        lead += leading;
        run = space ? run + 1 : 0;
    }
    sp->v[sp->n++] = lead;
    sp->v[sp->n++] = run;
    return FT_OK;
}

/* HF process_offsets: the spaces leave the range; the first token keeps one leading space when
 * add_prefix_space put it there. */
static void trim_offsets(ft_tok_ids *o, const tok_spaces *sp, bool add_prefix_space) {
    for (size_t i = 0; i < o->n && 2 * i + 1 < sp->n; i++) {
        size_t lead = sp->v[2 * i], trail = sp->v[2 * i + 1];
        ft_tok_offset *f = &o->offsets[i];
        if (lead) {
            if ((i == 0 || f->start == 0) && add_prefix_space && lead == 1)
                lead = 0;
            f->start = f->start + lead < f->end ? f->start + lead : f->end;
        }
        if (trail && f->end >= trail)
            f->end = f->end - trail > f->start ? f->end - trail : f->start;
    }
}

/* One sequence -> ids (type_id 0) appended to out; with offsets, out->offsets[i] = [start, end) in bytes
 * of text, and with sp each token's spaces (an added token's value is the text it matched, whitespace
 * taken by lstrip/rstrip included, as in HF). */
static ft_status encode_seq(ft_tokenizer *t, const char *text, size_t len, ft_tok_ids *out, bool offsets,
                            tok_spaces *sp) {
    ft_tok_buf buf = {0};
    ft_tok_spans words = {0};
    ft_tok_als al = {0};
    ft_status st = offsets ? want_offsets(out) : FT_OK;
    if (st == FT_OK)
        st = ft_tok_words(t, text, len, &buf, &words, offsets ? &al : NULL);
    for (size_t i = 0; i < words.n && st == FT_OK; i++) {
        const ft_tok_span *w = &words.v[i];
        size_t first = out->n;
        if (w->id >= 0) {
            st = ft_tok_ids_push(out, w->id, 0);
            if (st == FT_OK && offsets)
                out->offsets[first] = (ft_tok_offset){0, w->len};
        } else if (w->len)
            st = ft_tok_model_word(t, buf.p + w->off, w->len, out);
        /* a token's range: from the start of its first normalized byte's source to the end of its last's */
        for (size_t k = first; offsets && k < out->n && st == FT_OK; k++) {
            ft_tok_offset r = out->offsets[k];
            if (r.end > r.start && r.end <= w->len)
                out->offsets[k] = (ft_tok_offset){al.v[w->off + r.start].a, al.v[w->off + r.end - 1].b};
            else
                out->offsets[k] = (ft_tok_offset){al.v[w->off].a, al.v[w->off].a};
            if (sp)
                st = w->id >= 0 ? spaces_add(sp, buf.p + w->off, w->len)
                                : spaces_add(sp, t->id_str[out->ids[k]], t->id_len[out->ids[k]]);
        }
    }
    ft_tok_buf_free(&buf);
    ft_tok_spans_free(&words);
    ft_tok_als_free(&al);
    return st;
}

static ft_status push_range(ft_tok_ids *out, const ft_tok_ids *src, int32_t type_id) {
    FT_TRY(ft_tok_ids_reserve(out, src->n));
    for (size_t i = 0; i < src->n; i++) {
        FT_TRY(ft_tok_ids_push(out, src->ids[i], type_id));
        if (out->offsets)
            out->offsets[out->n - 1] = src->offsets ? src->offsets[i] : (ft_tok_offset){0, 0};
    }
    return FT_OK;
}

static ft_status post_process(const ft_tokenizer *t, const ft_tok_ids *a, const ft_tok_ids *b, bool add_special,
                              ft_tok_ids *out) {
    out->n = 0;
    const ft_tok_post *p = &t->post;
    switch (p->kind) {
    case FT_TOK_PP_TEMPLATE: {
        const ft_tok_tpl_item *items = b ? p->pair : p->single;
        size_t n = b ? p->npair : p->nsingle;
        for (size_t i = 0; i < n; i++) {
            if (items[i].seq >= 0) {
                const ft_tok_ids *sq = items[i].seq == 0 ? a : b;
                if (sq)
                    FT_TRY(push_range(out, sq, items[i].type_id));
            } else if (add_special)
                for (size_t k = 0; k < items[i].nids; k++)
                    FT_TRY(ft_tok_ids_push(out, items[i].ids[k], items[i].type_id));
        }
        return FT_OK;
    }
    case FT_TOK_PP_BERT:
    case FT_TOK_PP_ROBERTA: {
        bool rob = p->kind == FT_TOK_PP_ROBERTA;
        int32_t tb = rob ? 0 : 1;
        if (!add_special) {
            FT_TRY(push_range(out, a, 0));
            return b ? push_range(out, b, rob ? 0 : 1) : FT_OK;
        }
        FT_TRY(ft_tok_ids_push(out, p->cls, 0));
        FT_TRY(push_range(out, a, 0));
        FT_TRY(ft_tok_ids_push(out, p->sep, 0));
        if (b) {
            if (rob)
                FT_TRY(ft_tok_ids_push(out, p->sep, 0));
            FT_TRY(push_range(out, b, tb));
            FT_TRY(ft_tok_ids_push(out, p->sep, tb));
        }
        return FT_OK;
    }
    case FT_TOK_PP_NONE:
        FT_TRY(push_range(out, a, 0));
        return b ? push_range(out, b, 1) : FT_OK;
    }
    return ft_fail(FT_ERR_INTERNAL, "tokenizer: bad post-processor kind");
}

/* One sequence with offsets in the unit asked for, trimmed as the post-processor says. */
static ft_status encode_seq_offsets(ft_tokenizer *t, const char *text, size_t len, ft_tok_offset_unit unit,
                                    ft_tok_ids *out) {
    tok_spaces sp = {0};
    ft_status st = encode_seq(t, text, len, out, true, t->post.trim_offsets ? &sp : NULL);
    if (st == FT_OK && unit == FT_TOK_OFFSETS_CHARS)
        st = offsets_to_chars(text, len, out);
    if (st == FT_OK && t->post.trim_offsets)
        trim_offsets(out, &sp, t->post.trim_prefix_space);
    free(sp.v);
    return st;
}

/* Hugging Face tokenizers' truncation, strategy longest_first, direction right, on the sequences before the
 * post-processor: budget = max_len minus the special tokens it adds. One sequence keeps its first budget
 * tokens. Of two, with n1 the shorter: the longer gets max(n1, budget - n1), and if both still do not fit
 * each gets half of the budget (the longer one the odd token; the second one when they are equally long).
 * This is the tokenizers library's algorithm (and its unit tests' expectations); its npm binding agrees on
 * every pair for byte-level BPE, SentencePiece-style BPE and Metaspace tokenizers, and for WordPiece
 * sometimes gives the odd token to the other sequence (tests/tokenizer_parity.sh). */
static ft_status truncate_longest_first(const ft_tokenizer *t, ft_tok_ids *a, ft_tok_ids *b, bool add_special,
                                        size_t max_len) {
    size_t added = 0;
    if (add_special) {
        ft_tok_ids ea = {0}, eb = {0}, sp = {0};
        ft_status st = post_process(t, &ea, b ? &eb : NULL, true, &sp);
        added = sp.n;
        ft_tok_ids_free(&sp);
        FT_TRY(st);
    }
    if (max_len < added)
        return ft_fail(FT_ERR_ARG,
                       "truncation: max_length %zu leaves no room: the post-processor adds %zu "
                       "special tokens",
                       max_len, added);
    const size_t budget = max_len - added;
    if (!b) {
        if (a->n > budget)
            a->n = budget;
        return FT_OK;
    }
    if (a->n + b->n <= budget)
        return FT_OK;
    const bool swap = a->n > b->n;
    size_t n1 = swap ? b->n : a->n, n2 = swap ? a->n : b->n;
    n2 = n1 > budget ? n1 : (n1 > budget - n1 ? n1 : budget - n1);
    if (n1 + n2 > budget) {
        n1 = budget / 2;
        n2 = n1 + budget % 2;
    }
    size_t na = swap ? n2 : n1, nb = swap ? n1 : n2;
    if (a->n > na)
        a->n = na;
    if (b->n > nb)
        b->n = nb;
    return FT_OK;
}

static ft_status encode_any(ft_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                            bool add_special, bool offsets, ft_tok_offset_unit unit, size_t max_len,
                            ft_tok_ids *out) {
    if (!t || !out || (!a && alen) || (!b && blen) ||
        (offsets && unit != FT_TOK_OFFSETS_CHARS && unit != FT_TOK_OFFSETS_BYTES))
        return ft_fail(FT_ERR_ARG, "ft_tok_encode: bad arguments");
    ft_tok_ids ea = {0}, eb = {0};
    ft_status st = offsets ? encode_seq_offsets(t, a ? a : "", alen, unit, &ea)
                           : encode_seq(t, a ? a : "", alen, &ea, false, NULL);
    if (st == FT_OK && b)
        st = offsets ? encode_seq_offsets(t, b, blen, unit, &eb) : encode_seq(t, b, blen, &eb, false, NULL);
    if (st == FT_OK) {
        free(out->mask);
        out->mask = NULL;
        free(out->offsets);
        out->offsets = NULL;
        if (offsets)
            st = want_offsets(out);
        if (st == FT_OK && max_len > 0)
            st = truncate_longest_first(t, &ea, b ? &eb : NULL, add_special, max_len);
        if (st == FT_OK)
            st = post_process(t, &ea, b ? &eb : NULL, add_special, out);
    }
    ft_tok_ids_free(&ea);
    ft_tok_ids_free(&eb);
    return st;
}

ft_status ft_tok_encode_pair(ft_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                             bool add_special, ft_tok_ids *out) {
    return encode_any(t, a, alen, b, blen, add_special, false, FT_TOK_OFFSETS_CHARS, 0, out);
}

ft_status ft_tok_encode(ft_tokenizer *t, const char *text, size_t len, bool add_special, ft_tok_ids *out) {
    return encode_any(t, text, len, NULL, 0, add_special, false, FT_TOK_OFFSETS_CHARS, 0, out);
}

ft_status ft_tok_encode_pair_offsets(ft_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                                     bool add_special, ft_tok_offset_unit unit, ft_tok_ids *out) {
    return encode_any(t, a, alen, b, blen, add_special, true, unit, 0, out);
}

ft_status ft_tok_encode_offsets(ft_tokenizer *t, const char *text, size_t len, bool add_special,
                                ft_tok_offset_unit unit, ft_tok_ids *out) {
    return encode_any(t, text, len, NULL, 0, add_special, true, unit, 0, out);
}

ft_status ft_tok_decode(const ft_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, char **out,
                        size_t *out_len) {
    *out = NULL;
    if (out_len)
        *out_len = 0;
    ft_tok_buf buf = {0};
    ft_tok_spans toks = {0};
    ft_status st = ft_tok_buf_reserve(&buf, 16);
    for (size_t i = 0; i < n && st == FT_OK; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= t->nid || !t->id_str[id]) {
            st = ft_fail(FT_ERR_RANGE, "tokenizer: id %d at position %zu is not in the vocabulary (size %zu)", (int)id, i,
                         t->nid);
            break;
        }
        if (skip_special && t->id_special[id])
            continue;
        size_t off = buf.len;
        st = ft_tok_buf_add(&buf, t->id_str[id], t->id_len[id]);
        if (st == FT_OK)
            st = ft_tok_spans_add(&toks, off, t->id_len[id], -1, 0);
    }
    if (st == FT_OK && t->dec)
        st = ft_tok_decode_chain(t->dec, &buf, &toks, t->md);
    ft_tok_buf res = {0};
    if (st == FT_OK)
        st = ft_tok_buf_reserve(&res, 1);
    for (size_t i = 0; i < toks.n && st == FT_OK; i++) {
        if (!t->dec && i)
            st = ft_tok_buf_add(&res, " ", 1);
        if (st == FT_OK)
            st = ft_tok_buf_add(&res, buf.p + toks.v[i].off, toks.v[i].len);
    }
    ft_tok_buf_free(&buf);
    ft_tok_spans_free(&toks);
    if (st != FT_OK) {
        ft_tok_buf_free(&res);
        return st;
    }
    res.p[res.len] = 0;
    *out = res.p;
    if (out_len)
        *out_len = res.len;
    return FT_OK;
}

const char *ft_tok_id_to_token(const ft_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || (size_t)id >= t->nid || !t->id_str[id])
        return NULL;
    if (len)
        *len = t->id_len[id];
    return t->id_str[id];
}

int32_t ft_tok_token_to_id(const ft_tokenizer *t, const char *s, size_t len) {
    for (size_t i = 0; i < t->nadded; i++) /* added tokens first, as HF does */
        if (t->added[i].len == len && !memcmp(t->added[i].content, s, len))
            return t->added[i].id;
    return ft_tok_map_get(&t->vocab, s, len);
}

size_t ft_tok_vocab_size(const ft_tokenizer *t) { return t->nid; }

bool ft_tok_is_special(const ft_tokenizer *t, int32_t id) {
    return id >= 0 && (size_t)id < t->nid && t->id_special && t->id_special[id];
}

ft_tok_special ft_tok_special_ids(const ft_tokenizer *t) { return t->special; }

const char *ft_tok_model_type(const ft_tokenizer *t) {
    return t->model == FT_TOK_M_BPE         ? "BPE"
           : t->model == FT_TOK_M_UNIGRAM   ? "Unigram"
           : t->model == FT_TOK_M_WORDLEVEL ? "WordLevel"
                                            : "WordPiece";
}
bool ft_tok_is_byte_level(const ft_tokenizer *t) {
    return t->model == FT_TOK_M_BPE && t->byte_level;
}

ft_status ft_tok_encode_truncated(ft_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                                  bool add_special, size_t max_len, bool offsets, ft_tok_offset_unit unit,
                                  ft_tok_ids *out) {
    return encode_any(t, a, alen, b, blen, add_special, offsets, unit, max_len, out);
}
