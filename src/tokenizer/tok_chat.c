/* tokenizer: built-in chat / instruction templates with the assistant's token positions. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

static const char *const formats[] = {"chatml", "llama3", "llama2", "alpaca", NULL};

const char *const *ft_tok_chat_formats(void) { return formats; }

/* Rendered text plus the byte ranges [a, b) that the assistant wrote (reply + end-of-turn). */
typedef struct {
    ft_tok_buf text;
    size_t *rng;
    size_t nrng, caprng;
} rendered;

static ft_status add(rendered *r, const char *s) { return ft_tok_buf_add(&r->text, s, strlen(s)); }

static ft_status mark(rendered *r, size_t a, size_t b) {
    if (r->nrng + 2 > r->caprng) {
        size_t cap = r->caprng ? r->caprng * 2 : 16;
        size_t *p = realloc(r->rng, cap * sizeof *p);
        if (!p)
            return ft_fail(FT_ERR_NOMEM, "chat template: out of memory");
        r->rng = p;
        r->caprng = cap;
    }
    r->rng[r->nrng++] = a;
    r->rng[r->nrng++] = b;
    return FT_OK;
}

/* Assistant reply followed by its end-of-turn text, both marked. */
static ft_status reply(rendered *r, const char *content, const char *eot) {
    size_t a = r->text.len;
    FT_TRY(add(r, content));
    FT_TRY(add(r, eot));
    return mark(r, a, r->text.len);
}

static ft_status render(const char *fmt, const ft_tok_msg *m, size_t n, bool gen, rendered *r) {
    for (size_t i = 0; i < n; i++) {
        if (!m[i].role || !m[i].content)
            return ft_fail(FT_ERR_ARG, "chat template: message %zu has no role or content", i);
        if (strcmp(m[i].role, "system") && strcmp(m[i].role, "user") && strcmp(m[i].role, "assistant"))
            return ft_fail(FT_ERR_ARG, "chat template: message %zu: unknown role '%s'", i, m[i].role);
    }
    FT_TRY(ft_tok_buf_reserve(&r->text, 64));
    if (!strcmp(fmt, "chatml")) {
        for (size_t i = 0; i < n; i++) {
            FT_TRY(add(r, "<|im_start|>"));
            FT_TRY(add(r, m[i].role));
            FT_TRY(add(r, "\n"));
            if (!strcmp(m[i].role, "assistant"))
                FT_TRY(reply(r, m[i].content, "<|im_end|>"));
            else {
                FT_TRY(add(r, m[i].content));
                FT_TRY(add(r, "<|im_end|>"));
            }
            FT_TRY(add(r, "\n"));
        }
        if (gen)
            FT_TRY(add(r, "<|im_start|>assistant\n"));
        return FT_OK;
    }
    if (!strcmp(fmt, "llama3")) {
        FT_TRY(add(r, "<|begin_of_text|>"));
        for (size_t i = 0; i < n; i++) {
            FT_TRY(add(r, "<|start_header_id|>"));
            FT_TRY(add(r, m[i].role));
            FT_TRY(add(r, "<|end_header_id|>\n\n"));
            if (!strcmp(m[i].role, "assistant"))
                FT_TRY(reply(r, m[i].content, "<|eot_id|>"));
            else {
                FT_TRY(add(r, m[i].content));
                FT_TRY(add(r, "<|eot_id|>"));
            }
        }
        if (gen)
            FT_TRY(add(r, "<|start_header_id|>assistant<|end_header_id|>\n\n"));
        return FT_OK;
    }
    if (!strcmp(fmt, "llama2")) {
        /* <s>[INST] <<SYS>>\n{sys}\n<</SYS>>\n\n{user} [/INST] {assistant} </s> per exchange */
        const char *sys = NULL;
        size_t i = 0;
        if (n && !strcmp(m[0].role, "system"))
            sys = m[0].content, i = 1;
        for (; i < n; i++) {
            if (!strcmp(m[i].role, "user")) {
                FT_TRY(add(r, "<s>[INST] "));
                if (sys) {
                    FT_TRY(add(r, "<<SYS>>\n"));
                    FT_TRY(add(r, sys));
                    FT_TRY(add(r, "\n<</SYS>>\n\n"));
                    sys = NULL;
                }
                FT_TRY(add(r, m[i].content));
                FT_TRY(add(r, " [/INST]"));
            } else if (!strcmp(m[i].role, "assistant")) {
                FT_TRY(add(r, " "));
                FT_TRY(reply(r, m[i].content, " </s>"));
            } else
                return ft_fail(FT_ERR_ARG, "chat template llama2: a system message may only come first (message %zu)", i);
        }
        (void)gen; /* the prompt already ends with [/INST] */
        return FT_OK;
    }
    if (!strcmp(fmt, "alpaca")) {
        size_t i = 0;
        if (n && !strcmp(m[0].role, "system")) {
            FT_TRY(add(r, m[0].content));
            FT_TRY(add(r, "\n\n"));
            i = 1;
        }
        for (; i < n; i++) {
            if (!strcmp(m[i].role, "user")) {
                FT_TRY(add(r, "### Instruction:\n"));
                FT_TRY(add(r, m[i].content));
                FT_TRY(add(r, "\n\n### Response:\n"));
            } else if (!strcmp(m[i].role, "assistant")) {
                FT_TRY(reply(r, m[i].content, ""));
                FT_TRY(add(r, "\n\n"));
            } else
                return ft_fail(FT_ERR_ARG, "chat template alpaca: a system message may only come first (message %zu)", i);
        }
        (void)gen;
        return FT_OK;
    }
    return ft_fail(FT_ERR_ARG, "chat template: unknown format '%s' (chatml, llama3, llama2, alpaca)", fmt ? fmt : "(null)");
}

ft_status ft_tok_chat_render(const char *format, const ft_tok_msg *msgs, size_t n, bool gen, char **out) {
    rendered r = {0};
    *out = NULL;
    ft_status st = render(format ? format : "", msgs, n, gen, &r);
    free(r.rng);
    if (st != FT_OK) {
        ft_tok_buf_free(&r.text);
        return st;
    }
    *out = r.text.p;
    return FT_OK;
}

/* Encode the whole rendered text once; a token is the assistant's when the ids of the text up to
 * the range start are a prefix of it and the token lies before the end's prefix length. Ranges end
 * on an end-of-turn special token (or before "\n\n" for alpaca), so prefixes tokenize consistently. */
ft_status ft_tok_chat_encode(ft_tokenizer *tok, const char *format, const ft_tok_msg *msgs, size_t n, bool gen,
                             ft_tok_ids *out) {
    rendered r = {0};
    ft_tok_ids pre = {0};
    ft_status st = render(format ? format : "", msgs, n, gen, &r);
    if (st == FT_OK)
        st = ft_tok_encode(tok, r.text.p, r.text.len, false, out);
    if (st == FT_OK) {
        free(out->mask);
        out->mask = calloc(out->cap ? out->cap : 1, 1);
        if (!out->mask)
            st = ft_fail(FT_ERR_NOMEM, "chat template: out of memory");
    }
    /* alpaca: the eos ends each reply (the model must learn to stop) */
    bool alpaca = format && !strcmp(format, "alpaca");
    size_t shift = 0; /* eos tokens inserted so far (alpaca) */
    for (size_t k = 0; k + 1 < r.nrng && st == FT_OK; k += 2) {
        size_t lo, hi;
        st = ft_tok_encode(tok, r.text.p, r.rng[k], false, &pre);
        lo = pre.n;
        if (st == FT_OK)
            st = ft_tok_encode(tok, r.text.p, r.rng[k + 1], false, &pre);
        hi = pre.n;
        lo += shift;
        hi += shift;
        for (size_t i = lo; i < hi && i < out->n && st == FT_OK; i++)
            out->mask[i] = 1;
        if (alpaca && st == FT_OK && tok->special.eos >= 0) {
            /* insert eos after the reply */
            st = ft_tok_ids_push(out, 0, 0);
            if (st == FT_OK) {
                memmove(out->ids + hi + 1, out->ids + hi, (out->n - 1 - hi) * sizeof *out->ids);
                memmove(out->type_ids + hi + 1, out->type_ids + hi, (out->n - 1 - hi) * sizeof *out->type_ids);
                memmove(out->mask + hi + 1, out->mask + hi, out->n - 1 - hi);
                out->ids[hi] = tok->special.eos;
                out->type_ids[hi] = 0;
                out->mask[hi] = 1;
                shift++; /* prefixes re-encoded later do not contain the inserted eos */
            }
        }
    }
    ft_tok_ids_free(&pre);
    free(r.rng);
    ft_tok_buf_free(&r.text);
    return st;
}
