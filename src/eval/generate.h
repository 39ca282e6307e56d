/* eval/generate: next-token selection (greedy and sampling, Hugging Face semantics) and a text
 * generation loop over the KV-cache inference of models/infer.h. Prefix ft_gen_.
 *
 * Order of the logit transforms, as HF generate(): repetition penalty, temperature, top-k, top-p;
 * then argmax (greedy) or a draw from the softmax of what is left. */
#ifndef FT_GENERATE_H
#define FT_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    bool do_sample;           /* false = greedy (argmax after the penalty) */
    float temperature;        /* 1; 0 = greedy */
    int top_k;                /* 0 = off; ties with the k-th value are kept (torch.topk threshold) */
    float top_p;              /* 1 = off; keep the smallest top set with cumulative prob >= p (at least one) */
    float repetition_penalty; /* 1 = off; seen tokens: logit / p when > 0, logit * p when < 0 (CTRL, HF) */
    uint64_t seed;            /* the draws are a function of (seed, draw number) only */
} ft_gen_opts;
void ft_gen_opts_default(ft_gen_opts *o);
/* Range checks (temperature >= 0, top_k >= 0, 0 < top_p <= 1, penalty > 0); message names the option. */
ft_status ft_gen_opts_check(const ft_gen_opts *o);

/* Counter-based RNG state: draw i uses (seed, stream FT_GEN_STREAM, counter i). */
typedef struct {
    uint64_t seed, counter;
} ft_gen_rng;
void ft_gen_rng_init(ft_gen_rng *r, uint64_t seed);

/* The distribution the next id is drawn from: probs[V] (zeros outside the kept set). With greedy
 * options it is one-hot on the argmax (lowest id on ties). seen[0..n_seen) are the ids the
 * penalty applies to (prompt and generated; repeats count once). */
ft_status ft_gen_probs(const float *logits, int V, const int32_t *seen, size_t n_seen, const ft_gen_opts *o,
                       double *probs);
/* The next id: greedy, or one draw (advancing rng) from ft_gen_probs. */
ft_status ft_gen_next(const float *logits, int V, const int32_t *seen, size_t n_seen, const ft_gen_opts *o,
                      ft_gen_rng *rng, int32_t *out);

/* ---- the generation loop ---- */
typedef struct {
    ft_gen_opts sample;
    int max_new_tokens;       /* 64 */
    const char *const *stop;  /* stop strings (output is cut before the first occurrence), may be NULL */
    size_t n_stop;
    bool stop_at_eos;         /* true: the tokenizer's eos (and the chat end-of-turn token) end the text */
    int32_t extra_eos;        /* another id that ends the text (e.g. <|im_end|>), -1 = none */
    /* streaming (NULL = off): called with every new id as it is chosen (the ending eos too); returning
     * false ends the generation there (finish "callback") */
    bool (*on_token)(void *user, int32_t id);
    void *user;
} ft_gen_cfg;
void ft_gen_cfg_default(ft_gen_cfg *c);

typedef struct {
    char *text;               /* the decoded new text, special tokens skipped, cut at a stop string */
    int32_t *ids;             /* the generated ids (stop/eos token included) */
    int n_ids, n_prompt;
    const char *finish;         /* "stop", "eos", "length" (max_new_tokens), "context" (model's positions) or
                                   "callback" (on_token said stop) */
    double prefill_s, decode_s; /* seconds: the prompt's pass, then the new tokens */
} ft_gen_out;
void ft_gen_out_free(ft_gen_out *o);

/* Generate from prompt ids with a KV cache (each new token one position). The prompt is cut from the
 * left when it leaves no room for one new token in the model's positions. tok (may be NULL: no text,
 * no eos, no stop strings) also bounds the ids drawn to its vocabulary.
 * Encoder-decoder (T5): the prompt is the encoder's input (run once, cross-attention K/V cached); decoding
 * starts from decoder_start_token_id, which the repetition penalty sees (HF's decoder input_ids) but out->ids
 * does not hold; the config's eos_token_id ends the output (else the tokenizer's); no position limit. */
ft_status ft_gen_run(ft_model *m, ft_tokenizer *tok, const int32_t *prompt, int n_prompt, const ft_gen_cfg *c,
                     ft_gen_out *out);

#endif
