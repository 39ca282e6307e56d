/* Beam search as Hugging Face generate(num_beams=…) (transformers 4.37–4.47: _beam_search with
 * BeamSearchScorer / BeamHypotheses), for one input, on an encoder-decoder or a decoder-only model:
 *   scores[b, v] = processors(log_softmax(logits[b]))[v] + beam_score[b]   (float32, as torch)
 *   the 2·num_beams best (beam, v) over all beams (value descending, then flat index b·V + v ascending);
 *   in rank order, an eos among the first num_beams ranks closes its beam's sequence as a finished hypothesis
 *   scored sum_logprobs / generated_len^length_penalty (generated_len: the new ids with the eos), any other
 *   candidate continues as the next beam until num_beams are taken; the kept hypotheses are the num_beams
 *   best (the worst goes out when one more comes in).
 *   Stop when early_stopping says so (num_beams finished and: true; false: the best candidate's score over
 * the current generated length cannot beat the worst kept; never: not even at max_new_tokens when
 *   length_penalty > 0) or at max_new_tokens; the running beams then join as hypotheses (their length
 *   without eos), and the best hypotheses are returned. The processors are ft_gen_ban's (min_new_tokens,
 *   no_repeat_ngram_size) and the repetition penalty on the log-probabilities.
 * Beam 0 starts alone: the other beams' scores begin at -1e9 (HF), so the first step picks among its
 * candidates. The caches keep one row per beam; ft_kv_reorder copies the parents' rows each step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/generate.h"
#include "models/infer.h"

typedef struct {
    float v;
    int64_t idx; /* b·V + id */
} cand;

typedef struct {
    double score;
    int32_t *ids; /* new ids (eos included when finished) */
    int n;
    bool eos;
} hyp;

typedef struct {
    hyp *h; /* up to num_beams + 1 while adding */
    int n, nb;
    double worst;
    double lp;
} hyps;

/* BeamHypotheses.add: a sequence of new ids ids[n] (+ eos when eos >= 0) with its summed log-probability and
 * generated length. */
static ft_status hyps_add(hyps *H, const int32_t *ids, int n, int32_t eos, float sum_lp, int gen_len) {
    const double score = (double)sum_lp / pow((double)gen_len, H->lp);
    if (H->n >= H->nb && !(score > H->worst))
        return FT_OK;
    hyp *x = &H->h[H->n];
    x->ids = malloc((size_t)(n + 1) * sizeof *x->ids);
    if (!x->ids)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    memcpy(x->ids, ids, (size_t)n * sizeof *ids);
    x->n = n;
    x->eos = eos >= 0;
    if (x->eos)
        x->ids[x->n++] = eos;
    x->score = score;
    H->n++;
    if (H->n > H->nb) { /* drop the lowest (score, index); the next lowest is the new worst */
        int lo = 0, lo2 = -1;
        for (int i = 1; i < H->n; i++)
            if (H->h[i].score < H->h[lo].score)
                lo = i;
        for (int i = 0; i < H->n; i++)
            if (i != lo && (lo2 < 0 || H->h[i].score < H->h[lo2].score))
                lo2 = i;
        H->worst = H->h[lo2].score;
        free(H->h[lo].ids);
        memmove(&H->h[lo], &H->h[lo + 1], (size_t)(H->n - lo - 1) * sizeof *H->h);
        H->n--;
    } else {
        H->worst = score < H->worst ? score : H->worst;
    }
    return FT_OK;
}

/* BeamHypotheses.is_done after a step that reached gen_len new ids (the eos included), best the best
 * candidate's summed log-probability. */
static bool hyps_done(const hyps *H, float best, int gen_len, int max_new, ft_early_stop es) {
    if (H->n < H->nb)
        return false;
    if (es == FT_EARLY_TRUE)
        return true;
    const int len = es == FT_EARLY_NEVER && H->lp > 0 ? max_new : gen_len;
    return H->worst >= (double)best / pow((double)len, H->lp);
}

/* scores[V] = log_softmax(logits[0..V)) in float32 (x − max − log Σ exp(x − max)). */
static void log_softmax(float *scores, const float *logits, int V) {
    float mx = logits[0];
    for (int i = 1; i < V; i++)
        mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0.0;
    for (int i = 0; i < V; i++)
        sum += exp((double)(logits[i] - mx));
    const float lse = sum > 0.0 ? (float)log(sum) : 0.0f; /* sum >= 1 (the max term) whenever V >= 1 */
    for (int i = 0; i < V; i++)
        scores[i] = (logits[i] - mx) - lse;
}

/* HF's RepetitionPenaltyLogitsProcessor on log-probabilities: each id of seq once, x·p when x < 0, else x/p.
 */
static void penalize(float *scores, int V, const int32_t *seq, size_t n, float pen) {
    if (pen == 1.0f)
        return;
    for (size_t k = 0; k < n; k++) {
        const int32_t id = seq[k];
        bool dup = id < 0 || id >= V;
        for (size_t q = 0; q < k && !dup; q++)
            dup = seq[q] == id;
        if (!dup)
            scores[id] = scores[id] < 0 ? scores[id] * pen : scores[id] / pen;
    }
}

/* The k best of n scores (value descending, index ascending on ties: the order of torch.topk here). */
static void top_k(const float *s, int64_t n, int k, cand *out) {
    int have = 0;
    for (int64_t i = 0; i < n; i++) {
        if (have == k && !(s[i] > out[k - 1].v))
            continue;
        int at = have < k ? have++ : k - 1;
        while (at > 0 && s[i] > out[at - 1].v) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = (cand){s[i], i};
    }
}

typedef struct {
    int nb, V, Vm, max_new, prefix;
    int32_t *seq, *seq2; /* [nb, prefix + max_new]: prompt or start token, then the new ids */
    float *logits;       /* [nb, Vm] */
    float *scores;       /* [nb, V] */
    float *beam_score;   /* [nb] */
    cand *top;           /* [2·nb] */
    int32_t *next_id, *parent;
    float *next_score;
    hyps H;
} beam_state;

static void state_free(beam_state *b) {
    free(b->seq);
    free(b->seq2);
    free(b->logits);
    free(b->scores);
    free(b->beam_score);
    free(b->top);
    free(b->next_id);
    free(b->parent);
    free(b->next_score);
    for (int i = 0; b->H.h && i < b->H.n; i++)
        free(b->H.h[i].ids);
    free(b->H.h);
}

static ft_status state_init(beam_state *b, int nb, int V, int Vm, int max_new, int prefix, float lp) {
    memset(b, 0, sizeof *b);
    *b = (beam_state){.nb = nb, .V = V, .Vm = Vm, .max_new = max_new, .prefix = prefix};
    const size_t L = (size_t)(prefix + max_new);
    b->seq = malloc((size_t)nb * L * sizeof *b->seq);
    b->seq2 = malloc((size_t)nb * L * sizeof *b->seq2);
    b->logits = malloc((size_t)nb * (size_t)Vm * sizeof *b->logits);
    b->scores = malloc((size_t)nb * (size_t)V * sizeof *b->scores);
    b->beam_score = malloc((size_t)nb * sizeof *b->beam_score);
    b->top = malloc((size_t)(2 * nb) * sizeof *b->top);
    b->next_id = malloc((size_t)nb * sizeof *b->next_id);
    b->parent = malloc((size_t)nb * sizeof *b->parent);
    b->next_score = malloc((size_t)nb * sizeof *b->next_score);
    b->H = (hyps){.h = calloc((size_t)nb + 1, sizeof(hyp)), .nb = nb, .worst = 1e9, .lp = (double)lp};
    if (!b->seq || !b->seq2 || !b->logits || !b->scores || !b->beam_score || !b->top || !b->next_id ||
        !b->parent || !b->next_score || !b->H.h)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < nb; i++) /* HF: only the first beam is live at the start */
        b->beam_score[i] = i == 0 ? 0.0f : -1e9f;
    return FT_OK;
}

/* One step from the logits of the k-th new position: the candidates, the finished hypotheses, the next beams
 * (next_id / parent / next_score) and whether the search is done. */
static ft_status beam_step(beam_state *b, const ft_gen_cfg *c, int32_t eos, int k, bool *done) {
    const int nb = b->nb, V = b->V, L = b->prefix + b->max_new;
    for (int r = 0; r < nb; r++) {
        float *sc = b->scores + (int64_t)r * V;
        const int32_t *seq = b->seq + (int64_t)r * L;
        const float *lg = b->logits + (int64_t)r * b->Vm;
        for (int i = 0; i < V; i++)
            if (isnan(lg[i]))
                return ft_fail(FT_ERR_NUMERIC, "beam search: the logit of token %d (beam %d) is NaN", i, r);
        log_softmax(sc, lg, V);
        penalize(sc, V, seq, (size_t)(b->prefix + k), c->sample.repetition_penalty);
        ft_gen_ban(sc, V, seq, (size_t)(b->prefix + k), k, c, eos);
        for (int i = 0; i < V; i++)
            sc[i] += b->beam_score[r];
    }
    top_k(b->scores, (int64_t)nb * V, 2 * nb, b->top);
    int taken = 0;
    for (int rank = 0; rank < 2 * nb && taken < nb; rank++) {
        const int r = (int)(b->top[rank].idx / V);
        const int32_t id = (int32_t)(b->top[rank].idx % V);
        if (eos >= 0 && id == eos) {
            if (rank >= nb) /* an eos below the first num_beams ranks is not a hypothesis */
                continue;
            FT_TRY(hyps_add(&b->H, b->seq + (int64_t)r * L + b->prefix, k, eos, b->top[rank].v, k + 1));
        } else {
            b->next_id[taken] = id;
            b->parent[taken] = r;
            b->next_score[taken] = b->top[rank].v;
            taken++;
        }
    }
    if (taken < nb) /* at most one eos per beam among 2·num_beams candidates: cannot happen */
        return ft_fail(FT_ERR_INTERNAL, "beam search: only %d of %d beams continue", taken, nb);
    *done = *done || hyps_done(&b->H, b->top[0].v, k + 1, b->max_new, c->early_stopping);
    /* the beams grow: row i = its parent's sequence + its id */
    for (int i = 0; i < nb; i++) {
        memcpy(b->seq2 + (int64_t)i * L, b->seq + (int64_t)b->parent[i] * L,
               (size_t)(b->prefix + k) * sizeof *b->seq);
        b->seq2[(int64_t)i * L + b->prefix + k] = b->next_id[i];
        b->beam_score[i] = b->next_score[i];
    }
    int32_t *t = b->seq;
    b->seq = b->seq2;
    b->seq2 = t;
    return FT_OK;
}

/* The model's first logits for every beam: T5 encodes the prompt and feeds decoder_start_token_id to each
 * row; a decoder-only model reads the prompt into row 0, whose cache and logits the other rows copy. */
static ft_status first_logits(ft_model *m, ft_kv *kv, beam_state *b, const int32_t *prompt, int n_prompt) {
    const int nb = b->nb, L = b->prefix + b->max_new;
    int32_t *zero = calloc((size_t)nb, sizeof *zero);
    if (!zero)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    ft_status s;
    if (ft_model_is_t5(m)) {
        for (int i = 0; i < nb; i++)
            zero[i] = (int32_t)m->cfg.decoder_start_id;
        s = ft_kv_encode(m, kv, prompt, n_prompt);
        if (s == FT_OK)
            s = ft_infer_rows(m, kv, zero, b->logits);
        for (int i = 0; i < nb; i++)
            b->seq[(int64_t)i * L] = (int32_t)m->cfg.decoder_start_id;
    } else {
        s = ft_infer(m, kv, prompt, n_prompt, b->logits);
        if (s == FT_OK)
            s = ft_kv_reorder(kv, zero);
        for (int i = 0; i < nb; i++) {
            if (i > 0)
                memcpy(b->logits + (int64_t)i * b->Vm, b->logits, (size_t)b->Vm * sizeof *b->logits);
            memcpy(b->seq + (int64_t)i * L, prompt, (size_t)n_prompt * sizeof *prompt);
        }
    }
    free(zero);
    return s;
}

/* Sort the hypotheses by score, ascending and stable (Python's sorted); the best is last. */
static void hyps_sort(hyps *H) {
    for (int i = 1; i < H->n; i++) {
        hyp x = H->h[i];
        int j = i;
        while (j > 0 && H->h[j - 1].score > x.score) {
            H->h[j] = H->h[j - 1];
            j--;
        }
        H->h[j] = x;
    }
}

/* q->text from q->ids (the eos is not text). */
static ft_status decode_text(ft_tokenizer *tok, const ft_gen_cfg *c, ft_gen_seq *q, bool eos) {
    q->text = NULL;
    if (!tok)
        return FT_OK;
    size_t len;
    char **text = &q->text;
    FT_TRY(ft_tok_decode(tok, q->ids, (size_t)(eos ? q->n_ids - 1 : q->n_ids), true, text, &len));
    for (size_t k = 0; k < c->n_stop; k++) { /* stop strings cut the text (they do not steer the search) */
        const char *p = c->stop[k] && c->stop[k][0] ? strstr(*text, c->stop[k]) : NULL;
        if (p)
            (*text)[p - *text] = '\0';
    }
    return FT_OK;
}

/* out from the hypotheses: the n best, best first. */
static ft_status collect(beam_state *b, ft_tokenizer *tok, const ft_gen_cfg *c, const char *limit,
                         ft_gen_out *out) {
    hyps_sort(&b->H);
    const int n = c->num_return_sequences < b->H.n ? c->num_return_sequences : b->H.n;
    out->seqs = calloc((size_t)n, sizeof *out->seqs);
    if (!out->seqs)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    out->n_seqs = n;
    for (int j = 0; j < n; j++) {
        hyp *h = &b->H.h[b->H.n - 1 - j];
        ft_gen_seq *q = &out->seqs[j];
        q->ids = h->ids;
        h->ids = NULL;
        q->n_ids = h->n;
        q->score = h->score;
        q->finish = h->eos ? "eos" : limit;
        FT_TRY(decode_text(tok, c, q, h->eos));
    }
    const ft_gen_seq *best = &out->seqs[0];
    out->ids = malloc((size_t)(best->n_ids + 1) * sizeof *out->ids);
    if (!out->ids)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    memcpy(out->ids, best->ids, (size_t)best->n_ids * sizeof *out->ids);
    out->n_ids = best->n_ids;
    out->score = best->score;
    out->finish = best->finish;
    if (best->text && !(out->text = ft_strdup(best->text)))
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int i = 0; c->on_token && i < out->n_ids; i++) /* streaming clients get the result's ids */
        if (!c->on_token(c->user, out->ids[i]))
            break;
    return FT_OK;
}

ft_status ft_gen_beam(ft_model *m, ft_tokenizer *tok, const int32_t *prompt, int n_prompt,
                      const ft_gen_cfg *c, int V, int max_new, const char *limit, int32_t eos,
                      ft_gen_out *out) {
    const bool s2s = ft_model_is_t5(m);
    const int nb = c->num_beams, prefix = s2s ? 1 : n_prompt;
    out->n_prompt = n_prompt;
    out->score = NAN;
    if (max_new <= 0) { /* nothing to search */
        out->finish = limit;
        out->ids = malloc(sizeof *out->ids);
        return out->ids ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    beam_state b;
    ft_kv *kv = NULL;
    ft_status s = state_init(&b, nb, V, m->cfg.vocab_size, max_new, prefix, c->length_penalty);
    if (s == FT_OK)
        s = ft_kv_new_rows(m, nb, s2s ? max_new : m->n_virtual + n_prompt + max_new, &kv);
    double t0 = ft_now();
    if (s == FT_OK)
        s = first_logits(m, kv, &b, prompt, n_prompt);
    out->prefill_s = ft_now() - t0;
    t0 = ft_now();
    bool done = false;
    for (int k = 0; s == FT_OK; k++) {
        s = beam_step(&b, c, eos, k, &done);
        out->n_steps = k + 1;
        if (s != FT_OK || done || k + 1 >= max_new)
            break;
        s = ft_kv_reorder(kv, b.parent);
        if (s == FT_OK)
            s = ft_infer_rows(m, kv, b.next_id, b.logits);
    }
    if (s == FT_OK && !done) { /* the running beams join the hypotheses at full length */
        const int L = prefix + max_new;
        for (int i = 0; s == FT_OK && i < nb; i++)
            s = hyps_add(&b.H, b.seq + (int64_t)i * L + prefix, max_new, -1, b.beam_score[i], max_new);
    }
    out->decode_s = ft_now() - t0;
    if (s == FT_OK)
        s = collect(&b, tok, c, limit, out);
    ft_kv_free(kv);
    state_free(&b);
    if (s != FT_OK)
        ft_gen_out_free(out);
    return s;
}
