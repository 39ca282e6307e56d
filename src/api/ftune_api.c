/* api/ftune_api: the public C API (include/ftune.h) over the internal modules. Each call clears the
 * thread's error, does its work, and copies the outcome into the caller's ftune_ctx (api_end), so a
 * context's message belongs to its last call whatever other contexts do meanwhile. Prefix ftune_. */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval/generate.h"
#include "models/infer.h"
#include "peft/peft.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/img_task.h"
#include "train/runcfg.h"
#include "train/trained.h"
#include "train/trainer.h"

struct ftune_ctx {
    int threads;
    ft_status last;
    char err[1024];
};

struct ftune_model {
    ftune_ctx *ctx;
    ft_trained t;
    ft_recipe opts; /* ftune_adapter_create's method and options (the PEFT config points into it) */
    bool have_opts;
};

struct ftune_tokenizer {
    ftune_ctx *ctx;
    ft_tokenizer *tok;
};

struct ftune_trainer {
    ftune_ctx *ctx;
    ft_recipe r;
    volatile sig_atomic_t stop;
    ftune_progress_fn on_progress;
    ftune_log_fn on_log;
    ftune_eval_fn on_eval;
    void *user;
    bool prepared, done, failed;
    ft_model *m;
    ft_tokenizer *tok;
    ft_dataset tr, va, te;
    ft_imgtask img; /* task image_classification: the images behind tr/va/te */
    ft_s2s_eval s2s, s2s_test; /* task seq2seq: how validation (eval.generate_limit) and test (every
                                  example) generate, with eval.generate */
    ft_log *log;
    ft_tb_writer *tb;
    char *yaml;
    ft_train_cfg tc;
    char ckroot[4096], resume[4096];
    ft_train_result res;
    ft_train_run *run;
};

/* ---- context and errors ---- */

static void api_begin(const ftune_ctx *c) {
    ft_clear_error();
    if (c && c->threads > 0) {
        ft_ctx x;
        ft_ctx_default(&x);
        x.threads = c->threads;
        ft_ctx_apply(&x);
    }
}

static ft_status api_end(ftune_ctx *c, ft_status s) {
    if (!c)
        return s;
    c->last = s;
    if (s == FT_OK)
        c->err[0] = '\0';
    else
        snprintf(c->err, sizeof c->err, "%s", ft_last_error()[0] ? ft_last_error() : ft_status_name(s));
    return s;
}

const char *ftune_version(void) {
    return FTUNE_VERSION;
}
int ftune_abi_version(void) {
    return FTUNE_ABI_VERSION;
}
const char *ftune_status_name(ftune_status s) {
    return ft_status_name(s);
}
void ftune_free(void *p) {
    free(p);
}

ftune_status ftune_ctx_new(ftune_ctx **out) {
    if (!out)
        return FT_ERR_ARG;
    *out = calloc(1, sizeof **out);
    return *out ? FT_OK : FT_ERR_NOMEM;
}

void ftune_ctx_free(ftune_ctx *ctx) {
    free(ctx);
}

ftune_status ftune_ctx_set_threads(ftune_ctx *ctx, int threads) {
    if (!ctx)
        return FT_ERR_ARG;
    api_begin(NULL);
    if (threads < 0)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "threads %d: must be >= 0 (0 = all cores)", threads));
    ctx->threads = threads;
    return api_end(ctx, FT_OK);
}

const char *ftune_last_error(const ftune_ctx *ctx) {
    return ctx ? ctx->err : "no context (NULL)";
}
ftune_status ftune_last_status(const ftune_ctx *ctx) {
    return ctx ? ctx->last : FT_ERR_ARG;
}

/* ---- models and adapters ---- */

ftune_status ftune_model_load(ftune_ctx *ctx, const char *dir, const char *adapter_dir, ftune_model **out) {
    if (!ctx || !out)
        return FT_ERR_ARG;
    *out = NULL;
    api_begin(ctx);
    if (!dir)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_model_load: no model directory (NULL)"));
    ftune_model *m = calloc(1, sizeof *m);
    if (!m)
        return api_end(ctx, ft_fail(FT_ERR_NOMEM, "out of memory"));
    m->ctx = ctx;
    ft_status s = ft_trained_load(dir, adapter_dir, "auto", false, &m->t);
    if (s != FT_OK) {
        free(m);
        return api_end(ctx, s);
    }
    *out = m;
    return api_end(ctx, FT_OK);
}

void ftune_model_free(ftune_model *m) {
    if (!m)
        return;
    ft_trained_free(&m->t);
    if (m->have_opts)
        ft_recipe_free(&m->opts);
    free(m);
}

/* Classify and generate read text: a model trained on pre-tokenized data may have no tokenizer. */
static ft_status need_tokenizer(const ftune_model *m) {
    return m->t.tok
               ? FT_OK
               : ft_fail(FT_ERR_MISSING, "the model has no tokenizer (trained on pre-tokenized data); put "
                                         "the tokenizer files next to it");
}

static void copy_name(char *dst, size_t n, const char *src) {
    snprintf(dst, n, "%s", src ? src : "");
}

ftune_status ftune_model_get_info(ftune_model *m, ftune_model_info *out) {
    if (!m || !out)
        return FT_ERR_ARG;
    api_begin(NULL);
    const ft_model *fm = m->t.m;
    memset(out, 0, sizeof *out);
    copy_name(out->model_type, sizeof out->model_type, fm->cfg.model_type);
    copy_name(out->task, sizeof out->task, m->t.task);
    copy_name(out->method, sizeof out->method, ft_method_name((ft_method)fm->peft_method));
    out->n_params = ft_model_param_count(fm, false);
    out->n_trainable = ft_model_param_count(fm, true);
    out->vocab_size = fm->cfg.vocab_size;
    out->hidden_size = fm->cfg.hidden;
    out->n_layers = fm->cfg.n_layers;
    out->n_heads = fm->cfg.n_heads;
    out->max_positions = fm->cfg.max_pos;
    out->n_labels = m->t.n_labels;
    return api_end(m->ctx, FT_OK);
}

const char *ftune_model_label(const ftune_model *m, int i) {
    return m && i >= 0 && i < m->t.n_labels ? m->t.label_names[i] : NULL;
}

ftune_status ftune_model_save(ftune_model *m, const char *dir, const char *dtype) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    if (!dir)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "ftune_model_save: no directory (NULL)"));
    if (dtype && strcmp(dtype, "f32") && strcmp(dtype, "bf16"))
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "ftune_model_save: dtype '%s' is not f32 or bf16", dtype));
    ft_status s = ft_mkdir_p(dir);
    if (s == FT_OK)
        s = ft_model_save(m->t.m, dir, dtype && !strcmp(dtype, "bf16") ? FT_DT_BF16 : FT_DT_F32);
    int copied = 0; /* the base's tokenizer files, so the checkpoint loads on its own */
    if (s == FT_OK && m->t.m->dir)
        s = ft_runcfg_copy_tokenizer(m->t.m->dir, dir, &copied);
    return api_end(m->ctx, s);
}

ftune_status ftune_adapter_load(ftune_model *m, const char *dir) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    if (!dir)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "ftune_adapter_load: no directory (NULL)"));
    ft_status s = ft_peft_load(m->t.m, dir);
    if (s != FT_OK)
        s = ft_fail_ctx(s, "adapter %s", dir);
    return api_end(m->ctx, s);
}

/* Recipe keys an adapter's options may set: the methods' own, and the seed of their init. */
static bool adapter_key(const char *kv) {
    static const char *const P[] = {
        "lora.", "ia3.", "adapter.", "prompt.", "freeze.", "peft.modules_to_save=", "seed="};
    for (size_t i = 0; i < sizeof P / sizeof *P; i++)
        if (!strncmp(kv, P[i], strlen(P[i])))
            return true;
    return false;
}

ftune_status ftune_adapter_create(ftune_model *m, const char *method, const char *const *options,
                                  size_t n_options) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    if (!method)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "ftune_adapter_create: no method (NULL)"));
    if (m->have_opts || m->t.m->peft_method != FT_METHOD_FULL)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "ftune_adapter_create: the model already has a %s adapter",
                                       ft_method_name((ft_method)m->t.m->peft_method)));
    ft_recipe *r = &m->opts;
    ft_status s = ft_recipe_init(r);
    if (s != FT_OK)
        return api_end(m->ctx, s);
    m->have_opts = true;
    s = ft_recipe_set(r, "method", method, "ftune_adapter_create");
    for (size_t i = 0; s == FT_OK && i < n_options; i++) {
        if (!options[i] || !adapter_key(options[i]))
            s = ft_fail(
                FT_ERR_ARG,
                "ftune_adapter_create: option %zu '%s' is not a method key (lora.*, ia3.*, adapter.*, "
                "prompt.*, freeze.*, peft.modules_to_save, seed)",
                i, options[i] ? options[i] : "(NULL)");
        else
            s = ft_recipe_override(r, options[i]);
    }
    ft_peft_cfg pc;
    if (s == FT_OK)
        s = ft_runcfg_peft(r, &pc);
    if (s == FT_OK)
        s = ft_peft_apply(m->t.m, &pc);
    if (s != FT_OK) { /* nothing attached: the model stays as it was */
        ft_recipe_free(r);
        m->have_opts = false;
    }
    return api_end(m->ctx, s);
}

ftune_status ftune_adapter_merge(ftune_model *m) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    return api_end(m->ctx, ft_peft_merge(m->t.m));
}

ftune_status ftune_adapter_unmerge(ftune_model *m) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    return api_end(m->ctx, ft_peft_unmerge(m->t.m));
}

ftune_status ftune_adapter_save(ftune_model *m, const char *dir) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    if (!dir)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "ftune_adapter_save: no directory (NULL)"));
    if (m->t.m->peft_method == FT_METHOD_FULL)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "ftune_adapter_save: the model has no adapter (use "
                                                   "ftune_model_save for a full checkpoint)"));
    ft_status s = ft_mkdir_p(dir);
    return api_end(m->ctx, s == FT_OK ? ft_model_save_output(m->t.m, dir) : s);
}

/* ---- tokenizers ---- */

ftune_status ftune_tokenizer_load(ftune_ctx *ctx, const char *path, ftune_tokenizer **out) {
    if (!ctx || !out)
        return FT_ERR_ARG;
    *out = NULL;
    api_begin(ctx);
    if (!path)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_tokenizer_load: no path (NULL)"));
    ftune_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return api_end(ctx, ft_fail(FT_ERR_NOMEM, "out of memory"));
    t->ctx = ctx;
    ft_status s = ft_tok_load(path, &t->tok);
    if (s != FT_OK) {
        free(t);
        return api_end(ctx, s);
    }
    *out = t;
    return api_end(ctx, FT_OK);
}

void ftune_tokenizer_free(ftune_tokenizer *t) {
    if (!t)
        return;
    ft_tok_free(t->tok);
    free(t);
}

size_t ftune_tokenizer_vocab_size(const ftune_tokenizer *t) {
    return t ? ft_tok_vocab_size(t->tok) : 0;
}

ftune_status ftune_tokenize(ftune_tokenizer *t, const char *text, size_t len, int add_special, int32_t **ids,
                            size_t **offsets, size_t *n) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    if (!text || !ids || !n)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "ftune_tokenize: text, ids and n are required"));
    *ids = NULL;
    *n = 0;
    if (offsets)
        *offsets = NULL;
    ft_tok_ids r = {0};
    ft_status s = offsets
                      ? ft_tok_encode_offsets(t->tok, text, len, add_special != 0, FT_TOK_OFFSETS_BYTES, &r)
                      : ft_tok_encode(t->tok, text, len, add_special != 0, &r);
    int32_t *a = NULL;
    size_t *o = NULL;
    if (s == FT_OK) {
        a = malloc((r.n ? r.n : 1) * sizeof *a);
        o = offsets ? malloc((r.n ? 2 * r.n : 1) * sizeof *o) : NULL;
        if (!a || (offsets && !o))
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    if (s == FT_OK) {
        memcpy(a, r.ids, r.n * sizeof *a);
        for (size_t i = 0; o && i < r.n; i++) {
            o[2 * i] = r.offsets[i].start;
            o[2 * i + 1] = r.offsets[i].end;
        }
        *ids = a;
        *n = r.n;
        if (offsets)
            *offsets = o;
    } else {
        free(a);
        free(o);
    }
    ft_tok_ids_free(&r);
    return api_end(t->ctx, s);
}

ftune_status ftune_detokenize(ftune_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                              char **text) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    if ((!ids && n) || !text)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "ftune_detokenize: ids and text are required"));
    size_t len; /* *text stays NULL on failure */
    return api_end(t->ctx, ft_tok_decode(t->tok, ids, n, skip_special != 0, text, &len));
}

/* ---- generation ---- */

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

/* The streaming state: the text of the ids so far, and how much of it the caller has seen. */
typedef struct {
    ftune_model *m;
    ftune_token_fn fn;
    void *user;
    int32_t *ids;
    size_t n, cap, sent;
    ft_status err;
} stream;

static bool stream_token(void *user, int32_t id) {
    stream *st = user;
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
    if ((st->err = ft_tok_decode(st->m->t.tok, st->ids, st->n, true, &txt, &len)) != FT_OK)
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

ftune_status ftune_generate(ftune_model *m, const char *prompt, const ftune_gen_opts *o,
                            ftune_token_fn on_token, void *user, char **text, int32_t **ids, size_t *n_ids,
                            const char **finish) {
    return ftune_generate_beam(m, prompt, o, NULL, on_token, user, text, ids, n_ids, finish, NULL);
}

void ftune_beam_opts_init(ftune_beam_opts *b) {
    if (!b)
        return;
    memset(b, 0, sizeof *b);
    b->struct_size = sizeof *b;
    b->num_beams = 1;
    b->length_penalty = 1.0f;
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
    return FT_OK;
}

ftune_status ftune_generate_beam(ftune_model *m, const char *prompt, const ftune_gen_opts *o,
                                 const ftune_beam_opts *b, ftune_token_fn on_token, void *user, char **text,
                                 int32_t **ids, size_t *n_ids, const char **finish, double *score) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
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
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "ftune_generate: no prompt (NULL)"));
    if (need_tokenizer(m) != FT_OK)
        return api_end(m->ctx, FT_ERR_MISSING);
    ftune_gen_opts dflt;
    ftune_gen_opts_init(&dflt);
    if (!o)
        o = &dflt;
    ft_gen_cfg gc;
    ft_gen_cfg_default(&gc);
    gc.max_new_tokens = o->max_new_tokens;
    gc.sample.do_sample = o->do_sample != 0;
    gc.sample.temperature = o->temperature;
    gc.sample.top_k = o->top_k;
    gc.sample.top_p = o->top_p;
    gc.sample.repetition_penalty = o->repetition_penalty;
    gc.sample.seed = o->seed;
    gc.stop = o->stop;
    gc.n_stop = o->stop ? o->n_stop : 0;
    ft_trained *t = &m->t;
    const char *tmpl =
        o->chat_template ? (!strcmp(o->chat_template, "none") ? NULL : o->chat_template) : t->chat_template;
    gc.extra_eos = ft_trained_turn_end_id(t, tmpl);
    stream st = {.m = m, .fn = on_token, .user = user};
    if (on_token) {
        gc.on_token = stream_token;
        gc.user = &st;
    }
    ft_tok_ids pids = {0};
    ft_gen_out g = {0};
    ft_status s = beam_opts_read(b, &gc);
    if (s == FT_OK)
        s = ft_gen_opts_check(&gc.sample);
    if (s == FT_OK)
        s = ft_trained_encode_prompt(t, tmpl, o->system, NULL, 0, prompt, &pids);
    if (s == FT_OK)
        s = ft_gen_run(t->m, t->tok, pids.ids, (int)pids.n, &gc, &g);
    if (s == FT_OK && st.err != FT_OK)
        s = st.err;
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
    free(st.ids);
    ft_gen_out_free(&g);
    ft_tok_ids_free(&pids);
    return api_end(m->ctx, s);
}

/* ---- classification ---- */

ftune_status ftune_classify(ftune_model *m, const char *text, int *label, float *probs, size_t n_probs) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    ft_trained *t = &m->t;
    const int nl = t->m->n_labels;
    const bool reg = t->m->task == FT_TASK_REGRESSION;
    if (!text || !label)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "ftune_classify: text and label are required"));
    if (t->m->task != FT_TASK_SEQ_CLS && !reg)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG,
                                       "ftune_classify: the model's task is %s, not classification "
                                       "or regression",
                                       t->task));
    if (probs && n_probs < (size_t)nl)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG,
                                       "ftune_classify: room for %zu probabilities, the model has %d "
                                       "classes",
                                       n_probs, nl));
    ft_tok_ids ids = {0};
    ft_kv *kv = NULL;
    float *lg = malloc((size_t)(nl > 0 ? nl : 1) * sizeof *lg);
    double *pr = malloc((size_t)(nl > 0 ? nl : 1) * sizeof *pr);
    ft_status s = need_tokenizer(m);
    if (s == FT_OK)
        s = lg && pr ? ft_kv_new(t->m, t->seq_len + t->m->n_virtual, &kv)
                     : ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK)
        s = ft_trained_classify(t, kv, text, &ids, lg, pr, label);
    for (int k = 0; s == FT_OK && probs && k < (reg ? 1 : nl); k++)
        probs[k] = (float)pr[k];
    free(pr);
    free(lg);
    ft_kv_free(kv);
    ft_tok_ids_free(&ids);
    return api_end(m->ctx, s);
}

ftune_status ftune_classify_image(ftune_model *m, const char *path, int *label, float *probs,
                                  size_t n_probs) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    ft_trained *t = &m->t;
    const int nl = t->m->n_labels;
    if (!path || !label)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "ftune_classify_image: path and label are required"));
    if (!t->image || t->m->task != FT_TASK_SEQ_CLS)
        return api_end(
            m->ctx, ft_fail(FT_ERR_ARG, "ftune_classify_image: not an image classifier (task %s)", t->task));
    if (probs && n_probs < (size_t)nl)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG,
                                       "ftune_classify_image: room for %zu probabilities, the model has %d "
                                       "classes",
                                       n_probs, nl));
    float *lg = malloc((size_t)(nl > 0 ? nl : 1) * sizeof *lg);
    double *pr = malloc((size_t)(nl > 0 ? nl : 1) * sizeof *pr);
    ft_status s =
        lg && pr ? ft_trained_classify_image(t, path, lg, pr, label) : ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int k = 0; s == FT_OK && probs && k < nl; k++)
        probs[k] = (float)pr[k];
    free(pr);
    free(lg);
    return api_end(m->ctx, s);
}

/* ---- training ---- */

static const char *const METRICS[] = {
    "loss",         "perplexity", "accuracy",    "f1_macro", "f1_micro", "f1_weighted", "precision_macro",
    "recall_macro", "mse",        "mae",         "r2",       "rouge1",   "rouge2",      "rougeL",
    "rougeLsum",    "bleu",       "exact_match", "f1"};

/* The metrics an evaluation has (NaN ones left out) into out[] (room for every name); returns the count. */
static size_t metrics_of(const ft_eval_result *ev, ftune_metric *out) {
    size_t n = 0;
    for (size_t i = 0; i < sizeof METRICS / sizeof *METRICS; i++) {
        double v = ft_eval_metric(ev, METRICS[i]);
        if (!isnan(v))
            out[n++] = (ftune_metric){METRICS[i], v};
    }
    return n;
}

/* A malloc'd copy of an evaluation's metrics for the caller (ftune_free). */
static ft_status metrics_out(const ft_eval_result *ev, ftune_metric **metrics, size_t *n) {
    ftune_metric ms[sizeof METRICS / sizeof *METRICS];
    size_t k = metrics_of(ev, ms);
    *metrics = malloc((k ? k : 1) * sizeof **metrics);
    if (!*metrics)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    memcpy(*metrics, ms, k * sizeof *ms);
    *n = k;
    return FT_OK;
}

ftune_status ftune_model_evaluate(ftune_model *m, const char *data_path, int batch_size,
                                  ftune_metric **metrics, size_t *n, size_t *n_examples) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    if (!data_path || !metrics || !n)
        return api_end(m->ctx,
                       ft_fail(FT_ERR_ARG, "ftune_model_evaluate: data_path, metrics and n are required"));
    *metrics = NULL;
    *n = 0;
    if (batch_size < 0)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "batch_size %d is negative", batch_size));
    ft_eval_result ev;
    size_t nx = 0;
    ft_status s = ft_trained_eval_file(&m->t, data_path, batch_size ? batch_size : 16, &ev, &nx);
    if (s == FT_OK) {
        s = metrics_out(&ev, metrics, n);
        ft_eval_result_free(&ev);
    }
    if (s == FT_OK && n_examples)
        *n_examples = nx;
    return api_end(m->ctx, s);
}

static void on_step_cb(void *user, const ft_train_step_info *si) {
    ftune_trainer *t = user;
    if (t->on_progress) {
        ftune_progress p = {.step = si->step,
                            .max_steps = si->max_steps,
                            .loss = si->loss,
                            .lr = si->lr,
                            .grad_norm = si->grad_norm,
                            .tokens_per_s = si->tokens_per_s};
        t->on_progress(t->user, &p);
    }
}

static void on_eval_cb(void *user, int64_t step, const ft_eval_result *ev) {
    ftune_trainer *t = user;
    if (t->on_eval) {
        ftune_metric ms[sizeof METRICS / sizeof *METRICS];
        t->on_eval(t->user, step, ms, metrics_of(ev, ms));
    }
}

static void on_note_cb(void *user, const char *line) {
    ftune_trainer *t = user;
    if (t->on_log)
        t->on_log(t->user, line);
}

/* Lines of text (a data summary written to a memory stream) to the log callback, one by one. */
static void log_lines(ftune_trainer *t, char *text) {
    for (char *line = text, *nl; t->on_log && line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        t->on_log(t->user, line);
    }
}

static void logf_(ftune_trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(ftune_trainer *t, const char *fmt, ...) {
    if (!t->on_log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    t->on_log(t->user, line);
}

ftune_status ftune_trainer_new(ftune_ctx *ctx, const char *recipe_path, const char *recipe_yaml,
                               const char *const *overrides, size_t n_overrides, ftune_trainer **out) {
    if (!ctx || !out)
        return FT_ERR_ARG;
    *out = NULL;
    api_begin(ctx);
    ftune_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return api_end(ctx, ft_fail(FT_ERR_NOMEM, "out of memory"));
    t->ctx = ctx;
    ft_status s = ft_recipe_init(&t->r);
    if (s != FT_OK) {
        free(t);
        return api_end(ctx, s);
    }
    if (recipe_path)
        s = ft_recipe_load_yaml(&t->r, recipe_path);
    if (s == FT_OK && recipe_yaml)
        s = ft_recipe_load_yaml_text(&t->r, recipe_yaml, strlen(recipe_yaml), "recipe text");
    for (size_t i = 0; s == FT_OK && i < n_overrides; i++)
        s = overrides[i] ? ft_recipe_override(&t->r, overrides[i])
                         : ft_fail(FT_ERR_ARG, "ftune_trainer_new: override %zu is NULL", i);
    if (s == FT_OK)
        s = ft_recipe_validate(&t->r);
    if (s == FT_OK) {
        const ft_task task = ft_runcfg_task(t->r.task);
        if (task == FT_TASK_QA || task == FT_TASK_TOKEN_CLS || task == FT_TASK_MASKED_LM)
            s = ft_fail(FT_ERR_UNSUPPORTED, "task %s is not in the C API yet (use `ftune train`)", t->r.task);
    }
    if (s != FT_OK) {
        ft_recipe_free(&t->r);
        free(t);
        return api_end(ctx, s);
    }
    *out = t;
    return api_end(ctx, FT_OK);
}

void ftune_trainer_free(ftune_trainer *t) {
    if (!t)
        return;
    ft_train_run_free(t->run);
    if (t->prepared)
        ft_train_result_free(&t->res);
    ft_dataset_free(&t->tr);
    ft_dataset_free(&t->va);
    ft_dataset_free(&t->te);
    ft_imgtask_free(&t->img);
    ft_tok_free(t->tok);
    ft_model_free(t->m);
    (void)ft_log_close(t->log);
    (void)ft_tb_close(t->tb);
    free(t->yaml);
    ft_recipe_free(&t->r);
    free(t);
}

ftune_status ftune_trainer_set_callbacks(ftune_trainer *t, ftune_progress_fn on_progress, ftune_log_fn on_log,
                                         ftune_eval_fn on_eval, void *user) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(NULL);
    if (t->prepared)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "ftune_trainer_set_callbacks: the run has started"));
    t->on_progress = on_progress;
    t->on_log = on_log;
    t->on_eval = on_eval;
    t->user = user;
    return api_end(t->ctx, FT_OK);
}

/* What `ftune train` does before its loop (cli/cmd_train.c run_job), through the same train/runcfg steps. */
static ft_status prepare(ftune_trainer *t) {
    ft_recipe *r = &t->r;
    if (r->threads > 0) {
        ft_ctx x;
        ft_ctx_default(&x);
        x.threads = (int)r->threads;
        ft_ctx_apply(&x);
    }
    if (r->resume)
        FT_TRY(ft_ckpt_resolve(r->resume, t->resume, sizeof t->resume));
    FT_TRY(ft_model_load(r->model, &t->m));
    FT_TRY(ft_runcfg_task_fits(r, t->m));
    ft_runcfg_dropout(r, t->m);
    const char *tok_src = r->tokenizer ? r->tokenizer : r->model;
    const bool image = !strcmp(r->task, "image_classification");
    if ((strcmp(r->data_format, "pretokenized") && !image) || r->tokenizer) {
        ft_status s = ft_tok_load(tok_src, &t->tok);
        if (s != FT_OK)
            return ft_fail_ctx(s, "tokenizer (set the 'tokenizer' key)");
    }
    char *summary = NULL;
    size_t summary_len = 0;
    FILE *sf = open_memstream(&summary, &summary_len);
    ft_status s = image ? ft_imgtask_setup(r, t->m, &t->img, &t->tr, &t->va, &t->te, sf)
                        : ft_runcfg_datasets(r, t->tok, &t->tr, &t->va, &t->te, sf);
    if (sf)
        fclose(sf);
    log_lines(t, summary);
    free(summary);
    FT_TRY(s);
    if (ft_runcfg_task(r->task) == FT_TASK_SEQ2SEQ && r->eval_generate) { /* evaluations generate text too */
        ft_runcfg_s2s_eval(r, t->tok, &t->s2s);
        t->s2s_test = t->s2s;
        t->s2s_test.limit = 0;
        t->va.s2s = &t->s2s;
        t->te.s2s = &t->s2s_test;
    }
    FT_TRY(ft_runcfg_head(r, t->m, &t->tr));
    FT_TRY(ft_runcfg_method(r, t->m));
    const int64_t n_all = ft_model_param_count(t->m, false), n_tr = ft_model_param_count(t->m, true);
    if (n_tr == 0)
        return ft_fail(FT_ERR_CONFIG, "method '%s' leaves nothing to train on this model", r->method);
    int64_t steps, warmup;
    ft_runcfg_steps(r, t->tr.n, 1, &steps, &warmup);
    FT_TRY(ft_runcfg_outputs(r, &t->tr, tok_src, t->tok != NULL, &t->yaml, &t->log, &t->tb));
    if (image)
        FT_TRY(ft_imgtask_save_proc(r, &t->img));
    logf_(t, "model %s (%s): %lld parameters, %lld trainable, method %s, task %s", r->model,
          t->m->cfg.model_type, (long long)n_all, (long long)n_tr, r->method, r->task);
    if (!strcmp(r->precision, "bf16")) {
        ft_status ps = ft_model_set_precision(t->m, FT_PREC_BF16);
        if (ps == FT_ERR_UNSUPPORTED)
            logf_(t, "warning: precision bf16 not available (%s); training in fp32", ft_last_error());
        else if (ps != FT_OK)
            return ps;
    }
    ft_train_cfg *tc = &t->tc;
    FT_TRY(ft_runcfg_train(r, steps, warmup, ft_runcfg_pad_id(t->m, t->tok), tc));
    tc->ckpt_root = ft_path_join(t->ckroot, sizeof t->ckroot, r->output_dir, "checkpoints");
    tc->recipe_yaml = t->yaml;
    tc->resume = t->resume[0] ? t->resume : NULL;
    tc->stop = &t->stop;
    tc->log = t->log;
    tc->tb = t->tb;
    tc->observer = t;
    tc->on_step = on_step_cb;
    tc->on_eval = on_eval_cb;
    tc->on_note = on_note_cb;
    t->prepared = true; /* res is ft_train_begin's from here on */
    return ft_train_begin(t->m, &t->tr, t->va.n ? &t->va : NULL, tc, &t->res, &t->run);
}

ftune_status ftune_trainer_prepare(ftune_trainer *t) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    if (t->failed)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "the run failed earlier; make a new trainer"));
    if (t->prepared)
        return api_end(t->ctx, FT_OK);
    ft_status s = prepare(t);
    t->failed = s != FT_OK;
    return api_end(t->ctx, s);
}

static ft_status evaluate_split(ftune_trainer *t, const ft_dataset *d, ft_eval_result *ev) {
    const ft_train_cfg *tc = &t->tc;
    const int bs = tc->eval_batch_size > 0 ? tc->eval_batch_size : tc->batch_size;
    ft_arena arena;
    FT_TRY(ft_arena_init(&arena, ft_model_act_bytes(t->m, bs, tc->seq_len) + ((size_t)4 << 20)));
    ft_status s = ft_train_evaluate(t->m, d, bs, tc->seq_len, tc->pad_id, &arena, ev);
    ft_arena_free(&arena);
    return s;
}

/* The end of a run as `ftune train` ends it: the test split's metrics (logged), then the model or
 * adapter saved (not after a stop request: the checkpoint is what continues it). */
static ft_status finish(ftune_trainer *t) {
    if (t->res.end == FT_TRAIN_INTERRUPTED)
        return FT_OK;
    if (t->te.n > 0) {
        ft_eval_result ev;
        FT_TRY(evaluate_split(t, &t->te, &ev));
        ftune_metric ms[sizeof METRICS / sizeof *METRICS];
        const size_t n = metrics_of(&ev, ms);
        const char *keys[sizeof METRICS / sizeof *METRICS];
        double vals[sizeof METRICS / sizeof *METRICS];
        char names[sizeof METRICS / sizeof *METRICS][32];
        for (size_t i = 0; i < n; i++) {
            snprintf(names[i], sizeof names[i], "test/%s", ms[i].name);
            keys[i] = names[i];
            vals[i] = ms[i].value;
        }
        ft_eval_result_free(&ev);
        FT_TRY(ft_log_write(t->log, t->res.steps, (double)time(NULL), keys, vals, n));
    }
    FT_TRY(ft_runcfg_save(&t->r, t->m));
    logf_(t, "saved %s", t->r.output_dir);
    return FT_OK;
}

ftune_status ftune_trainer_step(ftune_trainer *t, int *done) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    if (done)
        *done = t->done;
    if (t->failed)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "the run failed earlier; make a new trainer"));
    if (t->done)
        return api_end(t->ctx, FT_OK);
    ft_status s = t->prepared ? FT_OK : prepare(t);
    bool d = false;
    if (s == FT_OK)
        s = ft_train_next(t->run, &d);
    if (s == FT_OK && d) {
        s = finish(t);
        t->done = true;
    }
    t->failed = s != FT_OK;
    if (done)
        *done = t->done;
    return api_end(t->ctx, s);
}

ftune_status ftune_trainer_run(ftune_trainer *t) {
    if (!t)
        return FT_ERR_ARG;
    int done = 0;
    ft_status s = FT_OK;
    while (s == FT_OK && !done)
        s = ftune_trainer_step(t, &done);
    return s;
}

void ftune_trainer_request_stop(ftune_trainer *t) {
    if (t)
        t->stop = 1;
}

ftune_status ftune_trainer_get_info(ftune_trainer *t, ftune_trainer_info *out) {
    if (!t || !out)
        return FT_ERR_ARG;
    api_begin(NULL);
    memset(out, 0, sizeof *out);
    out->output_dir = t->r.output_dir;
    out->first_loss = out->last_loss = NAN;
    out->done = t->done;
    if (t->prepared) {
        out->step = t->res.steps;
        out->max_steps = t->tc.max_steps;
        out->stopped = t->res.end == FT_TRAIN_INTERRUPTED;
        out->early_stopped = t->res.end == FT_TRAIN_EARLY_STOPPED;
        out->first_loss = t->res.first_loss;
        out->last_loss = t->res.last_loss;
        out->n_train = (int64_t)t->tr.n;
        out->n_validation = (int64_t)t->va.n;
        out->n_test = (int64_t)t->te.n;
    }
    return api_end(t->ctx, FT_OK);
}

ftune_status ftune_trainer_evaluate(ftune_trainer *t, const char *split, ftune_metric **metrics, size_t *n) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    if (!split || !metrics || !n)
        return api_end(t->ctx,
                       ft_fail(FT_ERR_ARG, "ftune_trainer_evaluate: split, metrics and n are required"));
    *metrics = NULL;
    *n = 0;
    const bool val = !strcmp(split, "validation"), test = !strcmp(split, "test");
    if (!val && !test)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "split '%s' is not validation or test", split));
    ft_status s = t->failed     ? ft_fail(FT_ERR_ARG, "the run failed earlier; make a new trainer")
                  : t->prepared ? FT_OK
                                : prepare(t);
    t->failed = s != FT_OK;
    const ft_dataset *d = val ? &t->va : &t->te;
    if (s == FT_OK && d->n == 0)
        s = ft_fail(FT_ERR_MISSING, "the run has no %s examples", split);
    ft_eval_result ev;
    if (s == FT_OK)
        s = evaluate_split(t, d, &ev);
    if (s == FT_OK) {
        s = metrics_out(&ev, metrics, n);
        ft_eval_result_free(&ev);
    }
    return api_end(t->ctx, s);
}
