/* data/mlm: masked-LM masking (HF DataCollatorForLanguageModeling / DataCollatorForWholeWordMask). */
#include "data/mlm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define EVAL_SEED 0x6d6c6d2d6576616cULL /* "mlm-eval": the evaluation's masks come from another seed */
#define WORD_STREAM 0x5757ULL           /* the whole-word shuffle's stream key */

static bool has_prefix(const char *s, size_t n, const char *p) {
    const size_t k = strlen(p);
    return s && n >= k && !memcmp(s, p, k);
}

ft_status ft_mlm_init(ft_mlm *x, const ft_tokenizer *tok, const char *tok_path, int32_t vocab, float prob,
                      bool whole_word, uint64_t seed) {
    memset(x, 0, sizeof *x);
    if (!(prob > 0.0f && prob < 1.0f))
        return ft_fail(FT_ERR_CONFIG, "data.mlm_probability: %g is not in (0, 1)", (double)prob);
    int32_t mask = ft_tok_special_ids(tok).mask;
    if (mask < 0) /* RoBERTa-style vocabularies without a tokenizer_config.json saying so */
        mask = ft_tok_token_to_id(tok, "<mask>", 6);
    if (mask < 0)
        return ft_fail(FT_ERR_CONFIG,
                       "%s: the tokenizer has no mask token ([MASK] or <mask>); task masked_lm needs one",
                       tok_path);
    if (mask >= vocab)
        return ft_fail(FT_ERR_CONFIG, "%s: the mask token's id %d is outside the model's vocabulary (%d)",
                       tok_path, mask, vocab);
    const size_t tv = ft_tok_vocab_size(tok);
    x->n_random = (int32_t)(tv < (size_t)vocab ? tv : (size_t)vocab);
    x->n_kind = vocab;
    x->kind = calloc((size_t)vocab, 1);
    if (!x->kind)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    /* word boundaries: WordPiece continues a word with "##"; byte-level BPE and SentencePiece start one with
     * "Ġ" / "▁" (whichever the vocabulary uses) */
    const bool wp = !strcmp(ft_tok_model_type(tok), "WordPiece");
    size_t n_g = 0, n_u = 0;
    for (int32_t id = 0; !wp && id < x->n_random; id++) {
        size_t n = 0;
        const char *s = ft_tok_id_to_token(tok, id, &n);
        n_g += has_prefix(s, n, "\xC4\xA0");
        n_u += has_prefix(s, n, "\xE2\x96\x81");
    }
    const char *start = n_g >= n_u ? "\xC4\xA0" : "\xE2\x96\x81";
    if (whole_word && !wp && n_g == 0 && n_u == 0) {
        ft_mlm_free(x);
        return ft_fail(
            FT_ERR_CONFIG,
            "%s: data.whole_word_mask: the vocabulary marks no word boundaries (no '##' WordPiece, no "
            "'Ġ' or '▁' word starts)",
            tok_path);
    }
    for (int32_t id = 0; id < vocab; id++) {
        size_t n = 0;
        const char *s = id < (int32_t)tv ? ft_tok_id_to_token(tok, id, &n) : NULL;
        if (id < (int32_t)tv && ft_tok_is_special(tok, id))
            x->kind[id] = FT_MLM_SPECIAL;
        else if (s && (wp ? has_prefix(s, n, "##") : !has_prefix(s, n, start)))
            x->kind[id] = FT_MLM_CONT;
    }
    x->mask_id = mask;
    x->prob = prob;
    x->whole_word = whole_word;
    x->seed = seed;
    return FT_OK;
}

void ft_mlm_free(ft_mlm *x) {
    free(x->kind);
    memset(x, 0, sizeof *x);
}

static bool maskable(const ft_mlm *x, const ft_batch *b, int64_t i) {
    const int32_t id = b->input_ids[i];
    return (!b->mask || b->mask[i]) && id >= 0 && id < x->n_kind && x->kind[id] != FT_MLM_SPECIAL;
}

/* HF's word draw for one row: chosen[t] = 1 for the positions of the words taken. */
static void choose_words(const ft_mlm *x, const ft_batch *b, int r, uint64_t seed, uint64_t stream,
                         uint8_t *chosen, int32_t *word_start, int32_t *order) {
    const int T = b->T;
    const int64_t o = (int64_t)r * T;
    int n_words = 0, len = 0;
    for (int t = 0; t < T; t++) {
        len += !b->mask || b->mask[o + t];
        if (!maskable(x, b, o + t))
            continue;
        const bool cont = t > 0 && maskable(x, b, o + t - 1) && x->kind[b->input_ids[o + t]] == FT_MLM_CONT;
        if (!cont)
            word_start[n_words++] = t;
    }
    for (int k = 0; k < n_words; k++)
        order[k] = k;
    for (int k = n_words - 1; k > 0; k--) { /* Fisher-Yates */
        const int j = (int)(ft_rng_u64(seed, stream ^ (WORD_STREAM << 40), (uint64_t)k) % (uint64_t)(k + 1));
        const int32_t tmp = order[k];
        order[k] = order[j];
        order[j] = tmp;
    }
    const double want = nearbyint((double)len * (double)x->prob); /* Python's round: half to even */
    const int budget = want < 1.0 ? 1 : (int)want;
    int taken = 0;
    for (int k = 0; k < n_words && taken < budget; k++) {
        const int w = order[k], t0 = word_start[w];
        int t1 = t0 + 1;
        while (t1 < T && maskable(x, b, o + t1) && x->kind[b->input_ids[o + t1]] == FT_MLM_CONT)
            t1++;
        if (taken + (t1 - t0) > budget)
            continue;
        for (int t = t0; t < t1; t++)
            chosen[t] = 1;
        taken += t1 - t0;
    }
}

ft_status ft_mlm_mask(const ft_mlm *x, ft_batch *b, bool eval, uint64_t stream0) {
    if (!b->labels)
        return ft_fail(FT_ERR_ARG, "masked-LM masking: the batch has no labels array");
    const uint64_t seed = eval ? x->seed ^ EVAL_SEED : x->seed;
    const int T = b->T;
    uint8_t *chosen = x->whole_word ? malloc((size_t)T) : NULL;
    int32_t *ws = x->whole_word ? malloc((size_t)T * sizeof *ws) : NULL;
    int32_t *ord = x->whole_word ? malloc((size_t)T * sizeof *ord) : NULL;
    if (x->whole_word && (!chosen || !ws || !ord)) {
        free(chosen);
        free(ws);
        free(ord);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    const bool ww = x->whole_word;
    for (int r = 0; r < b->B; r++) {
        const uint64_t stream = stream0 + (uint64_t)r;
        const int64_t o = (int64_t)r * T;
        if (ww) {
            memset(chosen, 0, (size_t)T);
            choose_words(x, b, r, seed, stream, chosen, ws, ord);
        }
        for (int t = 0; t < T; t++) {
            const int64_t i = o + t;
            const uint64_t c = 4 * (uint64_t)t;
            const bool pick =
                maskable(x, b, i) && (ww ? chosen[t] : ft_rng_uniform(seed, stream, c) < x->prob);
            b->labels[i] = pick ? b->input_ids[i] : -100;
            if (!pick)
                continue;
            if (ft_rng_uniform(seed, stream, c + 1) < 0.8f)
                b->input_ids[i] = x->mask_id;
            else if (ft_rng_uniform(seed, stream, c + 2) < 0.5f)
                b->input_ids[i] = (int32_t)(ft_rng_u64(seed, stream, c + 3) % (uint64_t)x->n_random);
        }
    }
    free(chosen);
    free(ws);
    free(ord);
    return FT_OK;
}
