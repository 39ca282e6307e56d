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
/* Beam search's stopping rule, HF's early_stopping: HEURISTIC (False) stops when the best running score over
 * the current length cannot beat the worst kept hypothesis, TRUE as soon as num_beams hypotheses are
 * finished, NEVER when no running beam can beat them even at max length (the canonical rule). */
typedef enum { FT_EARLY_HEURISTIC = 0, FT_EARLY_TRUE = 1, FT_EARLY_NEVER = 2 } ft_early_stop;
/* "false" / "true" / "never" (case-insensitive) → *out; an error naming early_stopping otherwise. */
ft_status ft_gen_early_parse(const char *s, ft_early_stop *out);
const char *ft_gen_early_name(ft_early_stop e);

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
    /* beam search (HF generate(num_beams=…), eval/beam.c): num_beams 1 = off; with more, the ids of the best
     * hypothesis (on_token then gets them after the search) */
    int num_beams;        /* 1 */
    float length_penalty; /* 1: a hypothesis scores sum_logprobs / generated_len^length_penalty */
    ft_early_stop early_stopping;
    int num_return_sequences; /* 1; beam search: the n best hypotheses (<= num_beams) in out->seqs */
    /* every mode (HF logits processors, before the penalty / sampling): */
    int no_repeat_ngram_size; /* 0 = off: an id completing an n-gram already in the sequence is banned */
    int min_new_tokens;       /* 0: eos is banned until this many ids are new */
} ft_gen_cfg;
void ft_gen_cfg_default(ft_gen_cfg *c);
/* The options against a vocabulary of V ids: the sampling options, num_beams in [1, V], num_return_sequences
 * in [1, num_beams], min_new_tokens in [0, max_new_tokens], no beam sampling; messages name the option. */
ft_status ft_gen_cfg_check(const ft_gen_cfg *c, int V);
/* The processors of every mode on scores[V] of a sequence seq[n] (HF's input_ids: the prompt or the decoder
 * start token, then the new ids; n_new of them): eos (>= 0) set to -inf while n_new < min_new_tokens, and
 * every id that would complete an n-gram (no_repeat_ngram_size) already in seq. */
void ft_gen_ban(float *scores, int V, const int32_t *seq, size_t n, int n_new, const ft_gen_cfg *c,
                int32_t eos);

/* One returned sequence of beam search. */
typedef struct {
    int32_t *ids; /* the generated ids (eos included when it finished) */
    int n_ids;
    char *text;         /* decoded as ft_gen_out.text (NULL without a tokenizer) */
    double score;       /* HF's sequences_scores: sum of log-probs / generated_len^length_penalty */
    const char *finish; /* "eos", "length" or "context" */
} ft_gen_seq;

typedef struct {
    char *text;               /* the decoded new text, special tokens skipped, cut at a stop string */
    int32_t *ids;             /* the generated ids (stop/eos token included) */
    int n_ids, n_prompt;
    const char *finish;         /* "stop", "eos", "length" (max_new_tokens), "context" (model's positions) or
                                   "callback" (on_token said stop) */
    double prefill_s, decode_s; /* seconds: the prompt's pass, then the new tokens */
    double score;               /* beam search: the best hypothesis' score (seqs[0].score); NAN otherwise */
    int n_steps;                /* beam search: the decoding steps run (fewer than max_new_tokens when the
                                   early_stopping rule ended it) */
    ft_gen_seq *seqs;           /* beam search: num_return_sequences hypotheses, best first, else NULL */
    int n_seqs;
} ft_gen_out;
void ft_gen_out_free(ft_gen_out *o);

/* Generate from prompt ids with a KV cache (each new token one position). The prompt is cut from the
 * left when it leaves no room for one new token in the model's positions. tok (may be NULL: no text,
 * no eos, no stop strings) also bounds the ids drawn to its vocabulary.
 * Encoder-decoder (T5): the prompt is the encoder's input (run once, cross-attention K/V cached); decoding
 * starts from decoder_start_token_id, which the repetition penalty sees (HF's decoder input_ids) but out->ids
 * does not hold; the config's eos_token_id ends the output (else the tokenizer's); no position limit.
 * num_beams > 1: beam search (eval/beam.c) on either kind of model. */
ft_status ft_gen_run(ft_model *m, ft_tokenizer *tok, const int32_t *prompt, int n_prompt, const ft_gen_cfg *c,
                     ft_gen_out *out);

/* Beam search (eval/beam.c), called by ft_gen_run with the checked options: V ids allowed, max_new tokens at
 * most (finish `limit` when they run out), eos (-1 none). */
ft_status ft_gen_beam(ft_model *m, ft_tokenizer *tok, const int32_t *prompt, int n_prompt,
                      const ft_gen_cfg *c, int V, int max_new, const char *limit, int32_t eos,
                      ft_gen_out *out);

#endif
