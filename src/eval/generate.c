/* eval/generate: logits -> next id (HF's repetition penalty, temperature, top-k, top-p) and the
 * KV-cache generation loop with stop strings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eval/generate.h"
#include "models/infer.h"

#define FT_GEN_STREAM 0x67656e6572617465ull /* "generate": keeps the draws apart from dropout/shuffle streams */

void ft_gen_opts_default(ft_gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->temperature = 1.0f;
    o->top_p = 1.0f;
    o->repetition_penalty = 1.0f;
}

ft_status ft_gen_opts_check(const ft_gen_opts *o) {
    if (!(o->temperature >= 0) || !isfinite(o->temperature))
        return ft_fail(FT_ERR_ARG, "temperature %g must be a finite number >= 0", (double)o->temperature);
    if (o->top_k < 0)
        return ft_fail(FT_ERR_ARG, "top_k %d must be >= 0 (0 = off)", o->top_k);
    if (!(o->top_p > 0 && o->top_p <= 1))
        return ft_fail(FT_ERR_ARG, "top_p %g must be in (0, 1]", (double)o->top_p);
    if (!(o->repetition_penalty > 0) || !isfinite(o->repetition_penalty))
        return ft_fail(FT_ERR_ARG, "repetition_penalty %g must be > 0 (1 = off)", (double)o->repetition_penalty);
    return FT_OK;
}

void ft_gen_rng_init(ft_gen_rng *r, uint64_t seed) {
    r->seed = seed;
    r->counter = 0;
}

static bool is_greedy(const ft_gen_opts *o) { return !o->do_sample || o->temperature == 0; }

typedef struct {
    double v;
    int id;
} vid;

/* descending by value, then ascending id (a stable, deterministic order for ties) */
static int vid_desc(const void *a, const void *b) {
    const vid *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

ft_status ft_gen_probs(const float *logits, int V, const int32_t *seen, size_t n_seen, const ft_gen_opts *o,
                       double *probs) {
    if (V <= 0)
        return ft_fail(FT_ERR_ARG, "ft_gen_probs: empty vocabulary");
    FT_TRY(ft_gen_opts_check(o));
    vid *w = malloc((size_t)V * sizeof *w);
    if (!w)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < V; i++) {
        w[i].v = (double)logits[i];
        w[i].id = i;
        if (isnan(w[i].v)) {
            free(w);
            return ft_fail(FT_ERR_NUMERIC, "logit of token %d is NaN", i);
        }
    }
    /* repetition penalty: each seen id once (HF gathers the scores, then scatters them back) */
    const double pen = (double)o->repetition_penalty;
    if (pen != 1.0)
        for (size_t k = 0; k < n_seen; k++) {
            int32_t id = seen[k];
            if (id < 0 || id >= V)
                continue;
            bool dup = false;
            for (size_t q = 0; q < k && !dup; q++)
                dup = seen[q] == id;
            if (!dup)
                w[id].v = w[id].v < 0 ? w[id].v * pen : w[id].v / pen;
        }
    memset(probs, 0, (size_t)V * sizeof *probs);
    if (is_greedy(o)) {
        int best = 0;
        for (int i = 1; i < V; i++)
            if (w[i].v > w[best].v)
                best = i;
        probs[best] = 1.0;
        free(w);
        return FT_OK;
    }
    const double inv_t = 1.0 / (double)o->temperature;
    for (int i = 0; i < V; i++)
        w[i].v *= inv_t;
    qsort(w, (size_t)V, sizeof *w, vid_desc);
    int keep = V;
    if (o->top_k > 0 && o->top_k < V) { /* everything below the k-th value goes */
        double kth = w[o->top_k - 1].v;
        keep = o->top_k;
        while (keep < V && w[keep].v >= kth)
            keep++;
    }
    /* softmax over the kept set: p_i = exp(z_i - z_max) / sum */
    double zmax = w[0].v, sum = 0;
    if (isinf(zmax) && zmax < 0) {
        free(w);
        return ft_fail(FT_ERR_NUMERIC, "every logit is -inf");
    }
    for (int i = 0; i < keep; i++)
        sum += exp(w[i].v - zmax);
    if (o->top_p < 1) {
        /* smallest prefix (in descending order) whose mass reaches p; at least one token */
        double c = 0, target = (double)o->top_p * sum;
        int n = 0;
        while (n < keep) {
            c += exp(w[n].v - zmax);
            n++;
            if (c >= target)
                break;
        }
        keep = n;
        sum = c;
    }
    for (int i = 0; i < keep; i++)
        probs[w[i].id] = exp(w[i].v - zmax) / sum;
    free(w);
    return FT_OK;
}

ft_status ft_gen_next(const float *logits, int V, const int32_t *seen, size_t n_seen, const ft_gen_opts *o,
                      ft_gen_rng *rng, int32_t *out) {
    double *p = malloc((size_t)(V > 0 ? V : 1) * sizeof *p);
    if (!p)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    ft_status s = ft_gen_probs(logits, V, seen, n_seen, o, p);
    if (s != FT_OK) {
        free(p);
        return s;
    }
    int pick = -1;
    if (is_greedy(o)) {
        for (int i = 0; i < V && pick < 0; i++)
            if (p[i] == 1.0)
                pick = i;
    } else {
        /* u in [0,1) with 53 random bits; the first id whose cumulative probability exceeds u */
        double u = (double)(ft_rng_u64(rng->seed, FT_GEN_STREAM, rng->counter++) >> 11) * 0x1p-53, c = 0;
        int last = -1;
        for (int i = 0; i < V && pick < 0; i++) {
            if (p[i] <= 0)
                continue;
            last = i;
            c += p[i];
            if (u < c)
                pick = i;
        }
        if (pick < 0)
            pick = last; /* rounding left u just above the total */
    }
    free(p);
    *out = pick;
    return FT_OK;
}

/* ---- the loop ---- */

void ft_gen_cfg_default(ft_gen_cfg *c) {
    memset(c, 0, sizeof *c);
    ft_gen_opts_default(&c->sample);
    c->max_new_tokens = 64;
    c->stop_at_eos = true;
    c->extra_eos = -1;
    c->num_beams = 1;
    c->length_penalty = 1.0f;
    c->num_return_sequences = 1;
}

void ft_gen_out_free(ft_gen_out *o) {
    free(o->text);
    free(o->ids);
    for (int i = 0; o->seqs && i < o->n_seqs; i++) {
        free(o->seqs[i].ids);
        free(o->seqs[i].text);
    }
    free(o->seqs);
    memset(o, 0, sizeof *o);
}

ft_status ft_gen_early_parse(const char *s, ft_early_stop *out) {
    static const char *names[] = {"false", "true", "never"};
    for (int i = 0; s && i < 3; i++)
        if (!strcasecmp(s, names[i])) {
            *out = (ft_early_stop)i;
            return FT_OK;
        }
    return ft_fail(FT_ERR_ARG, "early_stopping '%s' must be true, false or never", s ? s : "(null)");
}

const char *ft_gen_early_name(ft_early_stop e) {
    return e == FT_EARLY_TRUE ? "true" : e == FT_EARLY_NEVER ? "never" : "false";
}

ft_status ft_gen_cfg_check(const ft_gen_cfg *c, int V) {
    FT_TRY(ft_gen_opts_check(&c->sample));
    if (c->max_new_tokens < 0)
        return ft_fail(FT_ERR_ARG, "max_new_tokens %d must be >= 0", c->max_new_tokens);
    if (c->num_beams < 1)
        return ft_fail(FT_ERR_ARG, "num_beams %d must be >= 1 (1 = no beam search)", c->num_beams);
    if (c->num_beams > V)
        return ft_fail(FT_ERR_ARG, "num_beams %d is larger than the vocabulary (%d ids)", c->num_beams, V);
    if (c->num_return_sequences < 1 || c->num_return_sequences > c->num_beams)
        return ft_fail(FT_ERR_ARG, "num_return_sequences %d must be in [1, num_beams %d]",
                       c->num_return_sequences, c->num_beams);
    if (c->min_new_tokens < 0 || c->min_new_tokens > c->max_new_tokens)
        return ft_fail(FT_ERR_ARG, "min_new_tokens %d must be in [0, max_new_tokens %d]", c->min_new_tokens,
                       c->max_new_tokens);
    if (c->no_repeat_ngram_size < 0)
        return ft_fail(FT_ERR_ARG, "no_repeat_ngram_size %d must be >= 0 (0 = off)", c->no_repeat_ngram_size);
    if (!isfinite(c->length_penalty))
        return ft_fail(FT_ERR_ARG, "length_penalty %g must be a finite number", (double)c->length_penalty);
    if ((unsigned)c->early_stopping > FT_EARLY_NEVER)
        return ft_fail(FT_ERR_ARG, "early_stopping %d must be false (0), true (1) or never (2)",
                       (int)c->early_stopping);
    if (c->num_beams > 1 && c->sample.do_sample && c->sample.temperature > 0)
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "num_beams %d with do_sample: beam sampling is not supported (greedy "
                       "beam search, or num_beams 1 to sample)",
                       c->num_beams);
    return FT_OK;
}

void ft_gen_ban(float *scores, int V, const int32_t *seq, size_t n, int n_new, const ft_gen_cfg *c,
                int32_t eos) {
    if (eos >= 0 && eos < V && n_new < c->min_new_tokens)
        scores[eos] = -INFINITY;
    const size_t g = (size_t)c->no_repeat_ngram_size;
    if (g == 0 || n + 1 < g)
        return;
    /* every n-gram seq[i .. i+g) whose first g-1 ids equal the last g-1 of seq bans its last id (HF) */
    const int32_t *tail = seq + n - (g - 1);
    for (size_t i = 0; i + g <= n; i++)
        if (!memcmp(seq + i, tail, (g - 1) * sizeof *seq)) {
            const int32_t id = seq[i + g - 1];
            if (id >= 0 && id < V)
                scores[id] = -INFINITY;
        }
}

/* Position of the first stop string in text (or -1). */
static long find_stop(const char *text, const ft_gen_cfg *c) {
    long best = -1;
    for (size_t k = 0; k < c->n_stop; k++) {
        if (!c->stop[k] || !c->stop[k][0])
            continue;
        const char *p = strstr(text, c->stop[k]);
        if (p && (best < 0 || p - text < best))
            best = p - text;
    }
    return best;
}

/* The model's first logits: decoder-only, the prompt through a fresh cache; T5, the prompt through the
 * encoder and decoder_start_token_id through the decoder (seen[0], the decoder's first input as in HF). */
static ft_status prefill(ft_model *m, const int32_t *prompt, int n_prompt, int max_new, ft_kv **kv, float *lg,
                         int32_t *seen, size_t *n_seen) {
    if (ft_model_is_t5(m)) {
        const int32_t start = (int32_t)m->cfg.decoder_start_id;
        FT_TRY(ft_kv_new(m, max_new > 0 ? max_new : 1, kv));
        FT_TRY(ft_kv_encode(m, *kv, prompt, n_prompt));
        seen[0] = start;
        *n_seen = 1;
        return ft_infer(m, *kv, &start, 1, lg);
    }
    FT_TRY(ft_kv_new(m, m->n_virtual + n_prompt + (max_new > 0 ? max_new : 1), kv));
    memcpy(seen, prompt, (size_t)n_prompt * sizeof *seen);
    *n_seen = (size_t)n_prompt;
    return ft_infer(m, *kv, prompt, n_prompt, lg);
}

ft_status ft_gen_run(ft_model *m, ft_tokenizer *tok, const int32_t *prompt, int n_prompt, const ft_gen_cfg *c,
                     ft_gen_out *out) {
    memset(out, 0, sizeof *out);
    if (m->task != FT_TASK_CAUSAL_LM)
        return ft_fail(FT_ERR_ARG, "generation needs a causal LM (this model has a classification/regression head)");
    const bool s2s = ft_model_is_t5(m);
    if (n_prompt <= 0)
        return ft_fail(FT_ERR_ARG, s2s ? "generation needs a source (encoder input) of at least one token"
                                       : "generation needs a prompt of at least one token");
    if (s2s && m->cfg.decoder_start_id < 0)
        return ft_fail(FT_ERR_CONFIG,
                       "%s: config.json has no decoder_start_token_id (null): encoder-decoder "
                       "generation starts the decoder from it",
                       m->cfg.model_type);
    if (s2s && tok && (size_t)m->cfg.decoder_start_id >= ft_tok_vocab_size(tok))
        return ft_fail(FT_ERR_CONFIG,
                       "%s: decoder_start_token_id %d is not in the tokenizer's vocabulary (%zu ids)",
                       m->cfg.model_type, m->cfg.decoder_start_id, ft_tok_vocab_size(tok));
    int V = m->cfg.vocab_size;
    const int positions = s2s ? INT32_MAX / 2 : m->cfg.max_pos - m->n_virtual;
    if (tok && ft_tok_vocab_size(tok) < (size_t)V) /* ids past the tokenizer's (embedding padding) are never text */
        V = (int)ft_tok_vocab_size(tok);
    FT_TRY(ft_gen_cfg_check(c, V));
    if (positions < 2)
        return ft_fail(FT_ERR_RANGE, "the model has %d positions, too few to generate", m->cfg.max_pos);
    /* keep the end of the prompt: it is what the next token follows */
    if (!s2s && n_prompt > positions - 1) {
        prompt += n_prompt - (positions - 1);
        n_prompt = positions - 1;
    }
    int max_new = c->max_new_tokens;
    const char *finish = "length";
    if (!s2s && n_prompt + max_new > positions) {
        max_new = positions - n_prompt;
        finish = "context";
    }
    int32_t eos = -1;
    if (c->stop_at_eos && s2s && m->cfg.eos_id >= 0) /* HF: the model config's eos_token_id */
        eos = m->cfg.eos_id;
    else if (tok && c->stop_at_eos) {
        ft_tok_special sp = ft_tok_special_ids(tok);
        eos = sp.eos;
    }
    if (c->num_beams > 1)
        return ft_gen_beam(m, tok, prompt, n_prompt, c, V, max_new, finish, eos, out);
    out->score = NAN;
    const bool bans = c->min_new_tokens > 0 || c->no_repeat_ngram_size > 0;
    ft_kv *kv = NULL;
    int32_t *seen = malloc((size_t)(n_prompt + max_new + 1) * sizeof *seen);
    float *lg = malloc((size_t)m->cfg.vocab_size * (bans ? 2 : 1) * sizeof *lg);
    out->ids = malloc((size_t)(max_new + 1) * sizeof *out->ids);
    ft_status s = seen && lg && out->ids ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    size_t n_seen = 0;
    if (s == FT_OK) {
        out->n_prompt = n_prompt;
        double t0 = ft_now();
        s = prefill(m, prompt, n_prompt, max_new, &kv, lg, seen, &n_seen);
        out->prefill_s = ft_now() - t0;
    }
    ft_gen_rng rng;
    ft_gen_rng_init(&rng, c->sample.seed);
    double t1 = ft_now();
    bool done = false;
    while (s == FT_OK && !done && out->n_ids < max_new) {
        int32_t id;
        const float *scores = lg;
        if (bans) { /* HF's processors of every mode: on a copy, before the penalty and the draw */
            float *b = lg + m->cfg.vocab_size;
            memcpy(b, lg, (size_t)V * sizeof *b);
            ft_gen_ban(b, V, seen, n_seen, out->n_ids, c, eos);
            scores = b;
        }
        s = ft_gen_next(scores, V, seen, n_seen, &c->sample, &rng, &id);
        if (s != FT_OK)
            break;
        out->ids[out->n_ids++] = id;
        seen[n_seen++] = id;
        if (c->on_token && !c->on_token(c->user, id)) {
            finish = "callback";
            break;
        }
        if ((eos >= 0 && id == eos) || (c->stop_at_eos && c->extra_eos >= 0 && id == c->extra_eos)) {
            finish = "eos";
            break;
        }
        if (c->n_stop && tok) { /* decode so far: a stop string may span several tokens */
            char *txt;
            size_t len;
            s = ft_tok_decode(tok, out->ids, (size_t)out->n_ids, true, &txt, &len);
            if (s != FT_OK)
                break;
            done = find_stop(txt, c) >= 0;
            free(txt);
            if (done) {
                finish = "stop";
                break;
            }
        }
        if (out->n_ids < max_new)
            s = ft_infer(m, kv, &id, 1, lg);
    }
    out->decode_s = ft_now() - t1;
    out->finish = finish;
    if (s == FT_OK && tok) {
        size_t len;
        int n = out->n_ids;
        if (!strcmp(finish, "eos"))
            n--; /* the end token is not text */
        s = ft_tok_decode(tok, out->ids, (size_t)n, true, &out->text, &len);
        if (s == FT_OK) {
            long at = find_stop(out->text, c);
            if (at >= 0)
                out->text[at] = '\0';
        }
    }
    ft_kv_free(kv);
    free(seen);
    free(lg);
    if (s != FT_OK)
        ft_gen_out_free(out);
    return s;
}
