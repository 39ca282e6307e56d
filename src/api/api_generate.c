/* api/api_generate: generation through the public API (include/ftune.h): one prompt as text or as token ids,
 * streamed through a callback, into a result that holds beam search's n best; a data file's rows with the
 * BLEU / ROUGE / exact-match scores of their references. Over eval/generate (the decoding) and the loaded
 * model's training settings (chat template, data fields: train/trained). */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_ctx.h"
#include "api/api_model.h"
#include "data/dataset.h"
#include "eval/generate.h"
#include "eval/seq2seq.h"
#include "tokenizer/tokenizer.h"

void ftune_gen_opts_init(ftune_gen_opts *o) {
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    ft_gen_cfg c;
    ft_gen_cfg_default(&c);
    o->max_new_tokens = c.max_new_tokens;
    o->do_sample = c.sample.do_sample;
    o->temperature = c.sample.temperature;
    o->top_k = c.sample.top_k;
    o->top_p = c.sample.top_p;
    o->repetition_penalty = c.sample.repetition_penalty;
    o->seed = c.sample.seed;
}

void ftune_beam_opts_init(ftune_beam_opts *b) {
    if (!b)
        return;
    memset(b, 0, sizeof *b);
    b->struct_size = sizeof *b;
    b->num_beams = 1;
    b->length_penalty = 1.0f;
    b->num_return_sequences = 1;
}

/* The beam options a caller's struct holds (struct_size: fields past it keep their defaults). */
static ft_status beam_opts_read(const ftune_beam_opts *b, ft_gen_cfg *gc) {
    if (!b)
        return FT_OK;
    if (b->struct_size < offsetof(ftune_beam_opts, min_new_tokens) + sizeof b->min_new_tokens)
        return ft_fail(FT_ERR_ARG,
                       "ftune_beam_opts: struct_size %zu is not a size this library knows (call "
                       "ftune_beam_opts_init first)",
                       b->struct_size);
    if ((unsigned)b->early_stopping > 2)
        return ft_fail(FT_ERR_ARG,
                       "ftune_beam_opts: early_stopping %d must be 0 (false), 1 (true) or 2 (never)",
                       b->early_stopping);
    gc->num_beams = b->num_beams;
    gc->length_penalty = b->length_penalty;
    gc->early_stopping = (ft_early_stop)b->early_stopping;
    gc->no_repeat_ngram_size = b->no_repeat_ngram_size;
    gc->min_new_tokens = b->min_new_tokens;
    /* a first-release struct ends before num_return_sequences (its padding may be there: 0 means 1) */
    if (b->struct_size >= offsetof(ftune_beam_opts, num_return_sequences) + sizeof b->num_return_sequences)
        gc->num_return_sequences = b->num_return_sequences ? b->num_return_sequences : 1;
    return FT_OK;
}

/* The decoding configuration of o and b (either NULL: the defaults); stop strings point into o. */
static ft_status gen_cfg(const ftune_gen_opts *o, const ftune_beam_opts *b, ft_gen_cfg *gc) {
    ftune_gen_opts dflt;
    ftune_gen_opts_init(&dflt);
    if (!o)
        o = &dflt;
    ft_gen_cfg_default(gc);
    gc->max_new_tokens = o->max_new_tokens;
    gc->sample.do_sample = o->do_sample != 0;
    gc->sample.temperature = o->temperature;
    gc->sample.top_k = o->top_k;
    gc->sample.top_p = o->top_p;
    gc->sample.repetition_penalty = o->repetition_penalty;
    gc->sample.seed = o->seed;
    gc->stop = o->stop;
    gc->n_stop = o->stop ? o->n_stop : 0;
    FT_TRY(beam_opts_read(b, gc));
    return ft_gen_cfg_check(gc, INT32_MAX); /* the vocabulary bound: when the model runs */
}

ftune_status ftune_gen_check(ftune_ctx *ctx, const ftune_gen_opts *o, const ftune_beam_opts *b) {
    api_begin(ctx);
    ft_gen_cfg gc;
    return api_end(ctx, gen_cfg(o, b, &gc));
}

/* The chat template a call uses: o's ("none": none), else the one training used. */
static const char *gen_template(const ft_trained *t, const ftune_gen_opts *o) {
    if (o && o->chat_template)
        return strcmp(o->chat_template, "none") ? o->chat_template : NULL;
    return t->chat_template;
}

/* The streaming state: the text of the ids so far, and how much of it the caller has seen. */
typedef struct {
    ft_tokenizer *tok; /* NULL: every piece is "" */
    ftune_token_fn fn;
    void *user;
    int32_t *ids;
    size_t n, cap, sent;
    ft_status err;
} stream;

static bool stream_token(void *user, int32_t id) {
    stream *st = user;
    if (!st->tok)
        return st->fn(st->user, id, "") == 0;
    if (st->n == st->cap) {
        size_t nc = st->cap ? 2 * st->cap : 64;
        int32_t *a = realloc(st->ids, nc * sizeof *a);
        if (!a) {
            st->err = ft_fail(FT_ERR_NOMEM, "out of memory");
            return false;
        }
        st->ids = a;
        st->cap = nc;
    }
    st->ids[st->n++] = id;
    char *txt;
    size_t len;
    if ((st->err = ft_tok_decode(st->tok, st->ids, st->n, true, &txt, &len)) != FT_OK)
        return false;
    /* a character still incomplete decodes to U+FFFD at the end: wait for its other bytes */
    const bool partial = len >= 3 && !memcmp(txt + len - 3, "\xef\xbf\xbd", 3);
    const char *piece = "";
    if (!partial && len > st->sent) {
        piece = txt + st->sent;
        st->sent = len;
    }
    int stop = st->fn(st->user, id, piece);
    free(txt);
    return stop == 0;
}

static ft_status need_tok(const ft_trained *t) {
    return t->tok ? FT_OK
                  : ft_fail(FT_ERR_MISSING, "the model has no tokenizer (trained on pre-tokenized data); put "
                                            "the tokenizer files next to it");
}

/* A text prompt (or chat turns before it) encoded as training did with template tmpl, then generated with
 * gc (its extra_eos: tmpl's end of turn). */
static ft_status gen_text(ft_trained *t, const ft_gen_cfg *gc, const char *tmpl, const char *system,
                          const ft_data_msg *msgs, int n_msgs, const char *prompt, ft_gen_out *g) {
    ft_tok_ids ids = {0};
    ft_status s = ft_trained_encode_prompt(t, tmpl, system, msgs, n_msgs, prompt, &ids);
    if (s == FT_OK)
        s = ft_gen_run(t->m, t->tok, ids.ids, (int)ids.n, gc, g);
    ft_tok_ids_free(&ids);
    return s;
}

/* One generation on the handle's current model: from text (chat template applied) or from ids (as given).
 * g is the caller's, freed by it on failure too. */
static ft_status gen_one(ftune_model *m, const char *prompt, const int32_t *pids, size_t n_pids,
                         const ftune_gen_opts *o, const ftune_beam_opts *b, ftune_token_fn on_token,
                         void *user, ft_gen_out *g) {
    ft_trained *t = api_model_trained(m);
    ft_gen_cfg gc;
    FT_TRY(gen_cfg(o, b, &gc));
    if (prompt)
        FT_TRY(need_tok(t));
    else if (n_pids > INT32_MAX)
        return ft_fail(FT_ERR_RANGE, "a prompt of %zu ids is too long", n_pids);
    const char *tmpl = gen_template(t, o);
    if (prompt)
        gc.extra_eos = ft_trained_turn_end_id(t, tmpl);
    stream st = {.tok = t->tok, .fn = on_token, .user = user};
    if (on_token) {
        gc.on_token = stream_token;
        gc.user = &st;
    }
    ft_status s = prompt ? gen_text(t, &gc, tmpl, o ? o->system : NULL, NULL, 0, prompt, g)
                         : ft_gen_run(t->m, t->tok, pids, (int)n_pids, &gc, g);
    if (s == FT_OK && st.err != FT_OK)
        s = st.err;
    free(st.ids);
    return s;
}

ftune_status ftune_generate(ftune_model *m, const char *prompt, const ftune_gen_opts *o,
                            ftune_token_fn on_token, void *user, char **text, int32_t **ids, size_t *n_ids,
                            const char **finish) {
    return ftune_generate_beam(m, prompt, o, NULL, on_token, user, text, ids, n_ids, finish, NULL);
}

ftune_status ftune_generate_beam(ftune_model *m, const char *prompt, const ftune_gen_opts *o,
                                 const ftune_beam_opts *b, ftune_token_fn on_token, void *user, char **text,
                                 int32_t **ids, size_t *n_ids, const char **finish, double *score) {
    if (!m)
        return FT_ERR_ARG;
    ftune_ctx *ctx = api_model_ctx(m);
    api_begin(ctx);
    if (score)
        *score = NAN;
    if (text)
        *text = NULL;
    if (ids)
        *ids = NULL;
    if (n_ids)
        *n_ids = 0;
    if (finish)
        *finish = NULL;
    if (!prompt)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_generate: no prompt (NULL)"));
    ft_gen_out g = {0};
    ft_status s = gen_one(m, prompt, NULL, 0, o, b, on_token, user, &g);
    if (s == FT_OK) {
        if (finish)
            *finish = g.finish; /* a static string */
        if (ids) {
            *ids = g.ids;
            g.ids = NULL;
        }
        if (n_ids)
            *n_ids = (size_t)g.n_ids;
        if (text) {
            *text = g.text;
            g.text = NULL;
        }
        if (score)
            *score = g.score;
    }
    ft_gen_out_free(&g);
    return api_end(ctx, s);
}

/* ---- results ---- */

struct ftune_gen_result {
    ft_gen_out g;
};

static ftune_status gen_result(ftune_model *m, const char *fn, const char *prompt, const int32_t *pids,
                               size_t n_pids, const ftune_gen_opts *o, const ftune_beam_opts *b,
                               ftune_token_fn on_token, void *user, ftune_gen_result **out) {
    if (!m)
        return FT_ERR_ARG;
    ftune_ctx *ctx = api_model_ctx(m);
    api_begin(ctx);
    if (!out)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "%s: out is required", fn));
    *out = NULL;
    if (!prompt && !pids)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "%s: no prompt (NULL)", fn));
    ftune_gen_result *r = calloc(1, sizeof *r);
    if (!r)
        return api_end(ctx, ft_fail(FT_ERR_NOMEM, "out of memory"));
    ft_status s = gen_one(m, prompt, pids, n_pids, o, b, on_token, user, &r->g);
    if (s != FT_OK) {
        ftune_gen_result_free(r);
        return api_end(ctx, s);
    }
    *out = r;
    return api_end(ctx, FT_OK);
}

ftune_status ftune_generate_text(ftune_model *m, const char *prompt, const ftune_gen_opts *o,
                                 const ftune_beam_opts *b, ftune_token_fn on_token, void *user,
                                 ftune_gen_result **out) {
    return gen_result(m, "ftune_generate_text", prompt, NULL, 0, o, b, on_token, user, out);
}

ftune_status ftune_generate_ids(ftune_model *m, const int32_t *prompt, size_t n_prompt,
                                const ftune_gen_opts *o, const ftune_beam_opts *b, ftune_token_fn on_token,
                                void *user, ftune_gen_result **out) {
    static const int32_t none[1] = {0}; /* an empty prompt may come as NULL */
    return gen_result(m, "ftune_generate_ids", NULL, prompt || n_prompt ? prompt : none, n_prompt, o, b,
                      on_token, user, out);
}

size_t ftune_gen_result_count(const ftune_gen_result *r) {
    return !r ? 0 : r->g.seqs ? (size_t)r->g.n_seqs : 1;
}

/* Sequence i of r (NULL when out of range; i 0 without beam search: the whole output). */
static const ft_gen_seq *seq_at(const ftune_gen_result *r, size_t i) {
    return r && r->g.seqs && i < (size_t)r->g.n_seqs ? &r->g.seqs[i] : NULL;
}

const char *ftune_gen_result_text(const ftune_gen_result *r, size_t i) {
    const ft_gen_seq *q = seq_at(r, i);
    return q ? q->text : r && i == 0 && !r->g.seqs ? r->g.text : NULL;
}

const int32_t *ftune_gen_result_ids(const ftune_gen_result *r, size_t i, size_t *n) {
    const ft_gen_seq *q = seq_at(r, i);
    const bool whole = r && i == 0 && !r->g.seqs;
    if (n)
        *n = q ? (size_t)q->n_ids : whole ? (size_t)r->g.n_ids : 0;
    return q ? q->ids : whole ? r->g.ids : NULL;
}

double ftune_gen_result_score(const ftune_gen_result *r, size_t i) {
    const ft_gen_seq *q = seq_at(r, i);
    return q ? q->score : NAN;
}

const char *ftune_gen_result_finish(const ftune_gen_result *r, size_t i) {
    const ft_gen_seq *q = seq_at(r, i);
    return q ? q->finish : r && i == 0 && !r->g.seqs ? r->g.finish : NULL;
}

void ftune_gen_stats_init(ftune_gen_stats *s) {
    if (!s)
        return;
    memset(s, 0, sizeof *s);
    s->struct_size = sizeof *s;
}

ftune_status ftune_gen_result_stats(const ftune_gen_result *r, ftune_gen_stats *out) {
    if (!r || !out || out->struct_size < sizeof *out)
        return FT_ERR_ARG;
    out->prompt_tokens = (size_t)r->g.n_prompt;
    out->new_tokens = (size_t)r->g.n_ids;
    out->steps = (size_t)(r->g.seqs ? r->g.n_steps : r->g.n_ids);
    out->prefill_s = r->g.prefill_s;
    out->decode_s = r->g.decode_s;
    return FT_OK;
}

void ftune_gen_result_free(ftune_gen_result *r) {
    if (!r)
        return;
    ft_gen_out_free(&r->g);
    free(r);
}

/* ---- a data file ---- */

/* The generated texts of the rows with a reference (copies) and the references (in the data records, which
 * outlive the metrics). */
typedef struct {
    char **hyp;
    const char **ref;
    size_t n, cap;
} refs_t;

static ft_status refs_push(refs_t *r, const char *hyp, const char *ref) {
    if (r->n == r->cap) {
        const size_t nc = r->cap ? 2 * r->cap : 16;
        char **a = realloc(r->hyp, nc * sizeof *a);
        if (a)
            r->hyp = a;
        const char **b = a ? realloc(r->ref, nc * sizeof *b) : NULL;
        if (!b)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        r->ref = b;
        r->cap = nc;
    }
    if (!(r->hyp[r->n] = ft_strdup(hyp ? hyp : "")))
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    r->ref[r->n++] = ref;
    return FT_OK;
}

static void refs_free(refs_t *r) {
    for (size_t i = 0; i < r->n; i++)
        free(r->hyp[i]);
    free(r->hyp);
    free(r->ref);
}

/* The scores of the rows with references, as task seq2seq's evaluation computes them. */
static ft_status refs_metrics(const refs_t *r, ftune_metric **metrics, size_t *n) {
    ft_s2s_score g;
    FT_TRY(ft_s2s_score_texts((const char *const *)r->hyp, r->ref, r->n, &g));
    const ftune_metric all[] = {
        {"bleu", g.bleu},     {"rouge1", g.rouge1},       {"rouge2", g.rouge2},
        {"rougeL", g.rougeL}, {"rougeLsum", g.rougeLsum}, {"exact_match", g.exact_match},
        {"f1", g.f1}};
    if (metrics) {
        if (!(*metrics = malloc(sizeof all)))
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        memcpy(*metrics, all, sizeof all);
    }
    if (n)
        *n = sizeof all / sizeof *all;
    return FT_OK;
}

/* One row: its prompt (or chat turns) and reference, generated with gc and template tmpl; fn told. */
static ft_status gen_row(ft_trained *t, const ft_data_rec *r, const ft_gen_cfg *gc, const char *tmpl,
                         const char *system, ftune_gen_row_fn fn, void *user, refs_t *refs, bool *stop) {
    const char *ref = NULL, *p = NULL;
    int nm = r->n_msgs;
    if (nm > 0 && !strcmp(r->msgs[nm - 1].role, "assistant"))
        ref = r->msgs[--nm].content; /* the last reply is what the model should write */
    else if (nm == 0) {
        p = r->prompt ? r->prompt : r->text;
        ref = r->prompt || !strcmp(t->task, "seq2seq") ? r->response : NULL; /* seq2seq: the target */
    }
    if (!p && nm == 0)
        return ft_fail(FT_ERR_FORMAT, "%s:%ld: no prompt (fields '%s', '%s' or '%s')", r->file, r->line,
                       t->data.prompt_field, t->data.messages_field, t->data.text_field);
    ft_gen_out g = {0};
    ft_status s = gen_text(t, gc, tmpl, system, nm > 0 ? r->msgs : NULL, nm, p, &g);
    if (s != FT_OK)
        s = ft_fail_ctx(s, "%s:%ld", r->file, r->line);
    if (s == FT_OK) {
        ftune_gen_row row = {.struct_size = sizeof row,
                             .file = r->file,
                             .line = r->line,
                             .prompt = p ? p : r->msgs[nm > 0 ? nm - 1 : 0].content,
                             .output = g.text ? g.text : "",
                             .reference = ref,
                             .finish = g.finish,
                             .new_tokens = (size_t)g.n_ids};
        if (ref)
            s = refs_push(refs, g.text, ref);
        if (s == FT_OK && fn && fn(user, &row) != 0)
            *stop = true;
    }
    ft_gen_out_free(&g);
    return s;
}

ftune_status ftune_generate_file(ftune_model *m, const char *path, const ftune_gen_opts *o,
                                 const ftune_beam_opts *b, ftune_gen_row_fn fn, void *user,
                                 ftune_metric **metrics, size_t *n_metrics) {
    if (!m)
        return FT_ERR_ARG;
    ftune_ctx *ctx = api_model_ctx(m);
    api_begin(ctx);
    if (metrics)
        *metrics = NULL;
    if (n_metrics)
        *n_metrics = 0;
    if (!path)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_generate_file: no data file (NULL)"));
    ft_trained *t = api_model_trained(m);
    ft_gen_cfg gc; /* one configuration for every row; bad options fail before the file is read */
    ft_status s = need_tok(t);
    if (s == FT_OK)
        s = gen_cfg(o, b, &gc);
    const char *tmpl = gen_template(t, o);
    gc.extra_eos = ft_trained_turn_end_id(t, tmpl);
    ft_data_recs rs = {0};
    refs_t refs = {0};
    if (s == FT_OK)
        s = ft_data_read(path, &t->data, &rs);
    bool stop = false;
    for (size_t i = 0; s == FT_OK && !stop && i < rs.n; i++)
        s = gen_row(t, &rs.r[i], &gc, tmpl, o ? o->system : NULL, fn, user, &refs, &stop);
    if (s == FT_OK && refs.n)
        s = refs_metrics(&refs, metrics, n_metrics);
    refs_free(&refs);
    ft_data_recs_free(&rs);
    return api_end(ctx, s);
}
