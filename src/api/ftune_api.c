/* api/ftune_api: the public C API (include/ftune.h) over the internal modules. Each call clears the
 * thread's error, does its work, and copies the outcome into the caller's ftune_ctx (api_end), so a
 * context's message belongs to its last call whatever other contexts do meanwhile. Prefix ftune_. */
#include <math.h>
#include <stddef.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_ctx.h"
#include "api/api_dataset.h"
#include "api/api_trainer.h"
#include "api/api_model.h"
#include "eval/generate.h"
#include "eval/qa_post.h"
#include "models/infer.h"
#include "peft/peft.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/img_task.h"
#include "train/memory.h"
#include "train/runcfg.h"
#include "train/task_data.h"
#include "train/trained.h"
#include "train/trainer.h"

/* A named adapter (ftune_adapter_add): its slot in the model (peft/slots.c) and its view of the base. */
typedef struct {
    char *name;
    ft_trained view;
} named_adapter;

struct ftune_model {
    ftune_ctx *ctx;
    ft_trained t;
    ft_recipe opts; /* ftune_adapter_create's method and options (the PEFT config points into it) */
    bool have_opts;
    named_adapter *named; /* ftune_adapter_add's, in load order */
    int n_named, active;  /* active: index into named, -1 = t (the model as loaded) */
};

/* What classify / generate / evaluate run on: the active named adapter's view, else the model as loaded. */
static ft_trained *cur(ftune_model *m) {
    return m->active >= 0 ? &m->named[m->active].view : &m->t;
}
static const ft_trained *cur_c(const ftune_model *m) {
    return m->active >= 0 ? &m->named[m->active].view : &m->t;
}
/* The same for the other API files (api/api_model.h). */
ft_trained *api_model_trained(ftune_model *m) {
    return cur(m);
}
ftune_ctx *api_model_ctx(const ftune_model *m) {
    return m->ctx;
}

struct ftune_tokenizer {
    ftune_ctx *ctx;
    ft_tokenizer *tok;
};


/* ---- context and errors (api_begin / api_end: api/api_ctx.h) ---- */

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

static ftune_status model_load(ftune_ctx *ctx, const char *fn, const char *dir, const char *adapter_dir,
                               const char *task, unsigned flags, ftune_model **out) {
    if (!dir)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "%s: no model directory (NULL)", fn));
    ftune_model *m = calloc(1, sizeof *m);
    if (!m)
        return api_end(ctx, ft_fail(FT_ERR_NOMEM, "out of memory"));
    m->ctx = ctx;
    m->active = -1;
    ft_status s = ft_trained_load(dir, adapter_dir, task, flags, &m->t);
    if (s != FT_OK) {
        free(m);
        return api_end(ctx, s);
    }
    *out = m;
    return api_end(ctx, FT_OK);
}

ftune_status ftune_model_load(ftune_ctx *ctx, const char *dir, const char *adapter_dir, ftune_model **out) {
    if (!ctx || !out)
        return FT_ERR_ARG;
    *out = NULL;
    api_begin(ctx);
    return model_load(ctx, "ftune_model_load", dir, adapter_dir, "auto", 0, out);
}

void ftune_model_load_opts_init(ftune_model_load_opts *o) {
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->head_task = 1;
}

ftune_status ftune_model_load_with(ftune_ctx *ctx, const char *dir, const char *adapter_dir,
                                   const ftune_model_load_opts *o, ftune_model **out) {
    if (!ctx || !out)
        return FT_ERR_ARG;
    *out = NULL;
    api_begin(ctx);
    ftune_model_load_opts u;
    ftune_model_load_opts_init(&u);
    ft_status s = api_opts(&u, sizeof u, o, offsetof(ftune_model_load_opts, need_task) + sizeof u.need_task,
                           "ftune_model_load_opts");
    if (s != FT_OK)
        return api_end(ctx, s);
    const char *task = u.task && strcmp(u.task, "auto") != 0 ? u.task : u.head_task ? "auto" : NULL;
    const unsigned flags =
        (u.need_task ? FT_TRAINED_NEED_TASK : 0u) | (u.tokenizer_optional ? FT_TRAINED_TOK_OPTIONAL : 0u);
    return model_load(ctx, "ftune_model_load_with", dir, adapter_dir, task, flags, out);
}

void ftune_model_free(ftune_model *m) {
    if (!m)
        return;
    for (int i = 0; i < m->n_named; i++) { /* views before the base they share */
        ft_trained_free(&m->named[i].view);
        free(m->named[i].name);
    }
    free(m->named);
    ft_trained_free(&m->t);
    if (m->have_opts)
        ft_recipe_free(&m->opts);
    free(m);
}

/* Classify and generate read text: a model trained on pre-tokenized data may have no tokenizer. */
static ft_status need_tokenizer(const ftune_model *m) {
    return cur_c(m)->tok
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
    copy_name(out->task, sizeof out->task, cur(m)->task);
    copy_name(out->method, sizeof out->method, ft_method_name((ft_method)fm->peft_method));
    out->n_params = ft_model_param_count(fm, false);
    out->n_trainable = ft_model_param_count(fm, true);
    out->vocab_size = fm->cfg.vocab_size;
    out->hidden_size = fm->cfg.hidden;
    out->n_layers = fm->cfg.n_layers;
    out->n_heads = fm->cfg.n_heads;
    out->max_positions = fm->cfg.max_pos;
    out->n_labels = cur(m)->n_labels;
    return api_end(m->ctx, FT_OK);
}

const char *ftune_model_label(const ftune_model *m, int i) {
    return m && i >= 0 && i < cur_c(m)->n_labels && cur_c(m)->label_names ? cur_c(m)->label_names[i] : NULL;
}

ftune_status ftune_model_save(ftune_model *m, const char *dir, const char *dtype) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    if (!dir)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "ftune_model_save: no directory (NULL)"));
    ft_dtype dt = FT_DT_F32;
    if (dtype && ft_save_dtype_parse(dtype, &dt) != FT_OK)
        return api_end(m->ctx,
                       ft_fail(FT_ERR_ARG, "ftune_model_save: dtype '%s' is not f32, bf16 or int8", dtype));
    ft_status s = ft_mkdir_p(dir);
    if (s == FT_OK)
        s = ft_model_save(m->t.m, dir, dt);
    int copied = 0; /* the base's tokenizer files, so the checkpoint loads on its own */
    if (s == FT_OK && m->t.m->dir)
        s = ft_runcfg_copy_tokenizer(m->t.m->dir, dir, &copied);
    return api_end(m->ctx, s);
}

/* Calls that change the model's one adapter in place refuse while named adapters share the base. */
static ft_status no_named(const ftune_model *m, const char *fn) {
    return m->n_named ? ft_fail(FT_ERR_ARG,
                                "%s: %d named adapter%s share this base (ftune_adapter_add); load the "
                                "base again for this",
                                fn, m->n_named, m->n_named > 1 ? "s" : "")
                      : FT_OK;
}

/* 1-64 characters of [A-Za-z0-9_.-], not "." or "..": PEFT saves a named adapter under DIR/<name>/. */
static ft_status adapter_name_ok(const char *name) {
    const size_t n = name ? strlen(name) : 0;
    bool ok = n >= 1 && n <= 64 && strcmp(name, ".") && strcmp(name, "..");
    for (size_t i = 0; ok && i < n; i++) {
        const char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
             c == '-' || c == '.';
    }
    return ok ? FT_OK
              : ft_fail(FT_ERR_ARG,
                        "adapter name '%s': 1 to 64 characters of A-Z a-z 0-9 _ . -, not '.' or '..'",
                        name ? name : "(NULL)");
}

ftune_status ftune_adapter_add(ftune_model *m, const char *dir, const char *name) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    if (!dir)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "ftune_adapter_add: no directory (NULL)"));
    ft_status s = adapter_name_ok(name);
    if (s == FT_OK && m->have_opts)
        s = ft_fail(FT_ERR_ARG,
                    "ftune_adapter_add: the model carries an adapter made by ftune_adapter_create");
    named_adapter *grown = s == FT_OK ? realloc(m->named, (size_t)(m->n_named + 1) * sizeof *grown) : NULL;
    if (s == FT_OK && !grown)
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s != FT_OK)
        return api_end(m->ctx, s);
    m->named = grown;
    const char *before = ft_peft_active(m->t.m);
    char *keep = before ? ft_strdup(before) : NULL;
    named_adapter *a = &m->named[m->n_named];
    memset(a, 0, sizeof *a);
    s = ft_peft_add(m->t.m, dir, name); /* attached and active */
    if (s == FT_OK)
        s = (a->name = ft_strdup(name)) ? ft_trained_view(&m->t, dir, &a->view)
                                        : ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK) {
        m->active = m->n_named++;
    } else { /* the previous adapter stays active (the slot itself may stay loaded under its name) */
        free(a->name);
        if (ft_peft_active(m->t.m) && (!keep || strcmp(ft_peft_active(m->t.m), keep)))
            (void)ft_peft_activate(m->t.m, keep);
        s = ft_fail_ctx(s, "adapter %s as '%s'", dir, name);
    }
    free(keep);
    return api_end(m->ctx, s);
}

ftune_status ftune_adapter_activate(ftune_model *m, const char *name) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    int k = -1;
    for (int i = 0; name && i < m->n_named; i++)
        if (!strcmp(m->named[i].name, name))
            k = i;
    ft_status s = ft_peft_activate(m->t.m, name); /* names what is loaded when the name is unknown */
    if (s == FT_OK && name && k < 0)
        s = ft_fail(FT_ERR_MISSING, "no adapter named '%s' was added with ftune_adapter_add", name);
    if (s == FT_OK)
        m->active = k;
    return api_end(m->ctx, s);
}

const char *ftune_adapter_active(const ftune_model *m) {
    return m && m->active >= 0 ? m->named[m->active].name : NULL;
}

ftune_status ftune_adapter_load(ftune_model *m, const char *dir) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    if (!dir)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "ftune_adapter_load: no directory (NULL)"));
    if (no_named(m, "ftune_adapter_load") != FT_OK)
        return api_end(m->ctx, FT_ERR_ARG);
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
    if (no_named(m, "ftune_adapter_create") != FT_OK)
        return api_end(m->ctx, FT_ERR_ARG);
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
    ft_status s = no_named(m, "ftune_adapter_merge");
    return api_end(m->ctx, s == FT_OK ? ft_peft_merge(m->t.m) : s);
}

ftune_status ftune_adapter_unmerge(ftune_model *m) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    ft_status s = no_named(m, "ftune_adapter_unmerge");
    return api_end(m->ctx, s == FT_OK ? ft_peft_unmerge(m->t.m) : s);
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
    /* ftune_encode's ids and byte offsets, handed over; the type ids (all 0 for one text) are dropped */
    ftune_encode_opts o;
    ftune_encode_opts_init(&o);
    o.add_special = add_special;
    o.offsets = offsets ? FTUNE_OFFSETS_BYTES : FTUNE_OFFSETS_NONE;
    ftune_encoding e;
    ftune_status s = ftune_encode(t, text, len, NULL, 0, &o, &e);
    if (s == FT_OK) {
        *ids = e.ids;
        *n = e.n;
        if (offsets)
            *offsets = e.offsets;
        free(e.type_ids);
    }
    return s;
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

/* ---- encodings ---- */

void ftune_encode_opts_init(ftune_encode_opts *o) {
    if (o)
        *o = (ftune_encode_opts){0, FTUNE_OFFSETS_NONE, 0};
}

void ftune_encoding_free(ftune_encoding *e) {
    if (!e)
        return;
    free(e->ids);
    free(e->type_ids);
    free(e->offsets);
    memset(e, 0, sizeof *e);
}

ftune_status ftune_encode(ftune_tokenizer *t, const char *text, size_t len, const char *pair, size_t pair_len,
                          const ftune_encode_opts *o, ftune_encoding *out) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    if (!out || (!text && len) || (!pair && pair_len))
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "ftune_encode: text (or len 0) and out are required"));
    memset(out, 0, sizeof *out);
    ftune_encode_opts d;
    ftune_encode_opts_init(&d);
    if (!o)
        o = &d;
    if (o->offsets < FTUNE_OFFSETS_NONE || o->offsets > FTUNE_OFFSETS_BYTES)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG,
                                       "ftune_encode: offsets %d is not FTUNE_OFFSETS_NONE, _CHARS "
                                       "or _BYTES",
                                       o->offsets));
    const bool offs = o->offsets != FTUNE_OFFSETS_NONE, sp = o->add_special != 0;
    const ft_tok_offset_unit unit =
        o->offsets == FTUNE_OFFSETS_BYTES ? FT_TOK_OFFSETS_BYTES : FT_TOK_OFFSETS_CHARS;
    const char *a = text ? text : "";
    ft_tok_ids r = {0};
    ft_status s;
    if (o->max_length)
        s = ft_tok_encode_truncated(t->tok, a, len, pair, pair ? pair_len : 0, sp, o->max_length, offs, unit,
                                    &r);
    else if (offs)
        s = pair ? ft_tok_encode_pair_offsets(t->tok, a, len, pair, pair_len, sp, unit, &r)
                 : ft_tok_encode_offsets(t->tok, a, len, sp, unit, &r);
    else
        s = pair ? ft_tok_encode_pair(t->tok, a, len, pair, pair_len, sp, &r)
                 : ft_tok_encode(t->tok, a, len, sp, &r);
    const size_t n = r.n ? r.n : 1;
    if (s == FT_OK) {
        out->ids = malloc(n * sizeof *out->ids);
        out->type_ids = malloc(n * sizeof *out->type_ids);
        out->offsets = offs ? malloc(2 * n * sizeof *out->offsets) : NULL;
        if (!out->ids || !out->type_ids || (offs && !out->offsets))
            s = ft_fail(FT_ERR_NOMEM, "ftune_encode: out of memory for %zu tokens", r.n);
    }
    if (s == FT_OK) {
        out->n = r.n;
        if (r.n) { /* an empty text has no arrays to copy */
            memcpy(out->ids, r.ids, r.n * sizeof *r.ids);
            memcpy(out->type_ids, r.type_ids, r.n * sizeof *r.type_ids);
        }
        for (size_t i = 0; offs && i < r.n; i++) {
            out->offsets[2 * i] = r.offsets[i].start;
            out->offsets[2 * i + 1] = r.offsets[i].end;
        }
    } else
        ftune_encoding_free(out);
    ft_tok_ids_free(&r);
    return api_end(t->ctx, s);
}

const char *ftune_token_text(const ftune_tokenizer *t, int32_t id, size_t *len) {
    if (len)
        *len = 0;
    return t ? ft_tok_id_to_token(t->tok, id, len) : NULL;
}

ftune_status ftune_decode(ftune_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **text,
                          size_t *len) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    if ((!ids && n) || !text)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "ftune_decode: ids and text are required"));
    size_t l = 0;
    ft_status s = ft_tok_decode(t->tok, ids, n, skip_special != 0, text, &l);
    if (len)
        *len = s == FT_OK ? l : 0;
    return api_end(t->ctx, s);
}

/* ---- chat templates ---- */

const char *const *ftune_chat_formats(void) {
    return ft_tok_chat_formats();
}

/* The caller's parallel arrays as messages (malloc'd); roles and contents must be non-NULL. */
static ft_status chat_msgs(const char *fn, const char *format, const char *const *roles,
                           const char *const *contents, size_t n, ft_tok_msg **out) {
    *out = NULL;
    if (!format)
        return ft_fail(FT_ERR_ARG, "%s: a format is required (ftune_chat_formats lists them)", fn);
    if (n && (!roles || !contents))
        return ft_fail(FT_ERR_ARG, "%s: roles and contents are required", fn);
    ft_tok_msg *m = malloc((n ? n : 1) * sizeof *m);
    if (!m)
        return ft_fail(FT_ERR_NOMEM, "%s: out of memory", fn);
    for (size_t i = 0; i < n; i++) /* a NULL role or content is refused by the renderer, naming the message */
        m[i] = (ft_tok_msg){roles[i], contents[i]};
    *out = m;
    return FT_OK;
}

ftune_status ftune_chat_render(ftune_ctx *ctx, const char *format, const char *const *roles,
                               const char *const *contents, size_t n, int add_generation_prompt,
                               char **text) {
    if (!ctx)
        return FT_ERR_ARG;
    api_begin(ctx);
    if (!text)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_chat_render: text is required"));
    *text = NULL;
    ft_tok_msg *m;
    ft_status s = chat_msgs("ftune_chat_render", format, roles, contents, n, &m);
    if (s == FT_OK)
        s = ft_tok_chat_render(format, m, n, add_generation_prompt != 0, text);
    free(m);
    return api_end(ctx, s);
}

ftune_status ftune_chat_encode(ftune_tokenizer *t, const char *format, const char *const *roles,
                               const char *const *contents, size_t n, int add_generation_prompt,
                               int32_t **ids, uint8_t **mask, size_t *n_ids) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    if (!ids || !n_ids)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "ftune_chat_encode: ids and n_ids are required"));
    *ids = NULL;
    *n_ids = 0;
    if (mask)
        *mask = NULL;
    ft_tok_msg *m;
    ft_tok_ids r = {0};
    ft_status s = chat_msgs("ftune_chat_encode", format, roles, contents, n, &m);
    if (s == FT_OK)
        s = ft_tok_chat_encode(t->tok, format, m, n, add_generation_prompt != 0, &r);
    free(m);
    int32_t *a = NULL;
    uint8_t *k = NULL;
    if (s == FT_OK) {
        a = malloc((r.n ? r.n : 1) * sizeof *a);
        k = mask ? malloc(r.n ? r.n : 1) : NULL;
        if (!a || (mask && !k))
            s = ft_fail(FT_ERR_NOMEM, "ftune_chat_encode: out of memory");
    }
    if (s == FT_OK) {
        if (r.n) /* an empty text: no ids (r.ids may be NULL) */
            memcpy(a, r.ids, r.n * sizeof *a);
        for (size_t i = 0; k && i < r.n; i++)
            k[i] = r.mask ? r.mask[i] : 0;
        *ids = a;
        *n_ids = r.n;
        if (mask)
            *mask = k;
    } else {
        free(a);
        free(k);
    }
    ft_tok_ids_free(&r);
    return api_end(t->ctx, s);
}

/* ---- classification ---- */

/* ftune_classify and its f64 form: probabilities into pf (float) or pd (double), either may be NULL. */
static ftune_status classify_text(ftune_model *m, const char *fn, const char *text, int *label, float *pf,
                                  double *pd, size_t n_probs) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    ft_trained *t = cur(m);
    const int nl = t->m->n_labels;
    const bool reg = t->m->task == FT_TASK_REGRESSION;
    if (!text || !label)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "%s: text and label are required", fn));
    if (t->m->task != FT_TASK_SEQ_CLS && !reg)
        return api_end(
            m->ctx,
            ft_fail(FT_ERR_ARG, "%s: the model's task is %s, not classification or regression", fn, t->task));
    if ((pf || pd) && n_probs < (size_t)nl)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "%s: room for %zu probabilities, the model has %d classes",
                                       fn, n_probs, nl));
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
    for (int k = 0; s == FT_OK && k < (reg ? 1 : nl); k++) {
        if (pf)
            pf[k] = (float)pr[k];
        if (pd)
            pd[k] = pr[k];
    }
    free(pr);
    free(lg);
    ft_kv_free(kv);
    ft_tok_ids_free(&ids);
    return api_end(m->ctx, s);
}

ftune_status ftune_classify(ftune_model *m, const char *text, int *label, float *probs, size_t n_probs) {
    return classify_text(m, "ftune_classify", text, label, probs, NULL, n_probs);
}
ftune_status ftune_classify_f64(ftune_model *m, const char *text, int *label, double *probs, size_t n_probs) {
    return classify_text(m, "ftune_classify_f64", text, label, NULL, probs, n_probs);
}

static ftune_status classify_image(ftune_model *m, const char *fn, const char *path, int *label, float *pf,
                                   double *pd, size_t n_probs) {
    if (!m)
        return FT_ERR_ARG;
    api_begin(m->ctx);
    ft_trained *t = cur(m);
    const int nl = t->m->n_labels;
    if (!path || !label)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "%s: path and label are required", fn));
    if (!t->image || t->m->task != FT_TASK_SEQ_CLS)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "%s: not an image classifier (task %s)", fn, t->task));
    if ((pf || pd) && n_probs < (size_t)nl)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG, "%s: room for %zu probabilities, the model has %d classes",
                                       fn, n_probs, nl));
    float *lg = malloc((size_t)(nl > 0 ? nl : 1) * sizeof *lg);
    double *pr = malloc((size_t)(nl > 0 ? nl : 1) * sizeof *pr);
    ft_status s =
        lg && pr ? ft_trained_classify_image(t, path, lg, pr, label) : ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int k = 0; s == FT_OK && k < nl; k++) {
        if (pf)
            pf[k] = (float)pr[k];
        if (pd)
            pd[k] = pr[k];
    }
    free(pr);
    free(lg);
    return api_end(m->ctx, s);
}

ftune_status ftune_classify_image(ftune_model *m, const char *path, int *label, float *probs,
                                  size_t n_probs) {
    return classify_image(m, "ftune_classify_image", path, label, probs, NULL, n_probs);
}
ftune_status ftune_classify_image_f64(ftune_model *m, const char *path, int *label, double *probs,
                                      size_t n_probs) {
    return classify_image(m, "ftune_classify_image_f64", path, label, NULL, probs, n_probs);
}

/* ---- question answering ---- */

int ftune_model_has_tokenizer(const ftune_model *m) {
    return m && cur_c(m)->tok ? 1 : 0;
}

void ftune_qa_opts_init(ftune_qa_opts *o) {
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
}

/* Every window of the one example in a batch, no loss: their start/end logits, post-processed. */
static ft_status qa_answer(ft_trained *t, ft_qa_feats *f, ft_dataset *ds, ft_qa_answer *ans) {
    size_t *idx = malloc(ds->n * sizeof *idx);
    const float **lg = calloc(ds->n, sizeof *lg);
    float *buf = NULL;
    ft_batch b = {0};
    ft_arena arena = {0};
    ft_status s = idx && lg ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; s == FT_OK && i < ds->n; i++)
        idx[i] = i;
    if (s == FT_OK)
        s = ft_batch_collate(ds, idx, (int)ds->n, t->seq_len, t->pad_id, &b);
    if (s == FT_OK)
        s = ft_arena_init(&arena, ft_model_act_bytes(t->m, b.B, b.T) + ((size_t)4 << 20));
    if (s == FT_OK) {
        ft_fwd_opts o = {.keep_logits = true, .no_loss = true, .checkpoint = true};
        ft_acts *a = NULL;
        double loss;
        s = ft_model_forward(t->m, &b, &o, &arena, &a, &loss, NULL);
        const float *rows = s == FT_OK ? ft_acts_logits(a, NULL, NULL) : NULL;
        if (s == FT_OK && !(buf = malloc((size_t)b.B * (size_t)b.T * 2 * sizeof *buf)))
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        for (int r = 0; s == FT_OK && r < b.B; r++) {
            memcpy(buf + (size_t)r * (size_t)b.T * 2, rows + (size_t)r * (size_t)b.T * 2,
                   (size_t)b.T * 2 * sizeof *buf);
            lg[r] = buf + (size_t)r * (size_t)b.T * 2;
        }
    }
    if (s == FT_OK)
        s = ft_qa_postprocess(f, lg, NULL, ans);
    ft_arena_free(&arena);
    ft_batch_free(&b);
    free(buf);
    free(lg);
    free(idx);
    return s;
}

ftune_status ftune_answer_question(ftune_model *m, const char *question, const char *context,
                                   const ftune_qa_opts *opts, char **answer, double *score, double *prob,
                                   double *null_score) {
    if (!m)
        return FT_ERR_ARG;
    if (answer)
        *answer = NULL;
    api_begin(m->ctx);
    ftune_qa_opts u;
    ftune_qa_opts_init(&u);
    ft_status s =
        api_opts(&u, sizeof u, opts, offsetof(ftune_qa_opts, max_answer_length) + sizeof u.max_answer_length,
                 "ftune_qa_opts");
    if (s != FT_OK)
        return api_end(m->ctx, s);
    ft_trained *t = cur(m);
    if (!question || !context)
        return api_end(m->ctx,
                       ft_fail(FT_ERR_ARG, "ftune_answer_question: question and context are required"));
    if (u.n_best < 0 || u.max_answer_length < 0)
        return api_end(m->ctx,
                       ft_fail(FT_ERR_ARG, "ftune_answer_question: n_best %d, max_answer_length %d (>= 0)",
                               u.n_best, u.max_answer_length));
    if (t->m->task != FT_TASK_QA)
        return api_end(m->ctx, ft_fail(FT_ERR_ARG,
                                       "ftune_answer_question: the model's task is %s, not "
                                       "question_answering",
                                       t->task));
    s = need_tokenizer(m);
    ft_qa_set set = {0};
    ft_qa_feats f = {0};
    ft_dataset ds = {0};
    ft_qa_answer ans = {0};
    if (s == FT_OK)
        s = ft_qa_set_add(&set, "predict", question, context, "question/context");
    if (s == FT_OK) {
        const int ml = ft_taskdata_qa_max_length(&t->rec);
        s = ft_qa_features(t->tok, &set, ml < t->seq_len ? ml : t->seq_len, (int)t->rec.data_doc_stride, &ds,
                           &f);
    }
    if (s == FT_OK) {
        ft_taskdata_qa_post_from(&t->rec, &f.post);
        if (u.n_best > 0)
            f.post.n_best = u.n_best;
        if (u.max_answer_length > 0)
            f.post.max_answer_length = u.max_answer_length;
        s = qa_answer(t, &f, &ds, &ans);
    }
    if (s == FT_OK && answer && !(*answer = strdup(ans.text ? ans.text : "")))
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK) {
        if (score)
            *score = ans.start_logit + ans.end_logit;
        if (prob)
            *prob = ans.prob;
        if (null_score)
            *null_score = ans.null_score;
    }
    ft_qa_answers_free(&ans, set.n ? 1 : 0);
    ft_dataset_free(&ds);
    ft_qa_feats_free(&f);
    ft_qa_set_free(&set);
    return api_end(m->ctx, s);
}

/* ---- training ---- */

static const char *const METRICS[] = {
    "loss",         "perplexity", "accuracy",    "f1_macro", "f1_micro",  "f1_weighted", "precision_macro",
    "recall_macro", "mse",        "mae",         "r2",       "rouge1",    "rouge2",      "rougeL",
    "rougeLsum",    "bleu",       "exact_match", "f1",       "precision", "recall"};

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
ft_status api_metrics_out(const ft_eval_result *ev, ftune_metric **metrics, size_t *n) {
    ftune_metric ms[sizeof METRICS / sizeof *METRICS];
    size_t k = metrics_of(ev, ms);
    *metrics = malloc((k ? k : 1) * sizeof **metrics);
    if (!*metrics)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    memcpy(*metrics, ms, k * sizeof *ms);
    *n = k;
    return FT_OK;
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

void api_trainer_observe(ftune_trainer *t) {
    t->tc.observer = t;
    t->tc.on_step = on_step_cb;
    t->tc.on_eval = on_eval_cb;
    t->tc.on_note = on_note_cb;
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
    if (s == FT_OK) /* data.train may come later, as a dataset (ftune_trainer_set_data); prepare checks */
        s = ft_recipe_validate_keys(&t->r);
    t->checked = true;
    if (s != FT_OK) {
        ft_recipe_free(&t->r);
        free(t);
        return api_end(ctx, s);
    }
    *out = t;
    return api_end(ctx, FT_OK);
}

/* ---- datasets ---- */

ftune_status ftune_dataset_new(ftune_ctx *ctx, ftune_dataset **out) {
    if (!ctx || !out)
        return FT_ERR_ARG;
    api_begin(ctx);
    *out = calloc(1, sizeof **out);
    if (!*out)
        return api_end(ctx, ft_fail(FT_ERR_NOMEM, "out of memory"));
    (*out)->ctx = ctx;
    return api_end(ctx, FT_OK);
}

void ftune_dataset_free(ftune_dataset *d) {
    if (!d)
        return;
    ft_data_recs_free(&d->recs);
    free(d);
}

size_t ftune_dataset_size(const ftune_dataset *d) {
    return d ? d->recs.n : 0;
}

ftune_status ftune_dataset_add(ftune_dataset *d, const ftune_example *e) {
    if (!d)
        return FT_ERR_ARG;
    api_begin(d->ctx);
    if (!e || e->struct_size < sizeof(size_t) + 5 * sizeof(const char *))
        return api_end(d->ctx, ft_fail(FT_ERR_ARG, "ftune_dataset_add: an ftune_example made by "
                                                   "ftune_example_init is required"));
    if (!e->text && !e->prompt)
        return api_end(
            d->ctx,
            ft_fail(FT_ERR_ARG, "ftune_dataset_add: example %zu has neither text nor prompt", d->recs.n));
    ft_data_rec r = {.line = (long)d->recs.n + 1};
    ft_status s = ft_data_rec_fill(&r, e->text, e->text_pair, e->label, e->prompt, e->response, "(dataset)");
    if (s == FT_OK)
        s = ft_data_recs_push(&d->recs, &r);
    else
        ft_data_rec_free(&r);
    return api_end(d->ctx, s);
}

void ftune_example_init(ftune_example *e) {
    if (e)
        *e = (ftune_example){.struct_size = sizeof *e};
}

ftune_status ftune_dataset_read(ftune_dataset *d, const char *path, const char *const *options,
                                size_t n_options) {
    if (!d)
        return FT_ERR_ARG;
    api_begin(d->ctx);
    if (!path)
        return api_end(d->ctx, ft_fail(FT_ERR_ARG, "ftune_dataset_read: no file (NULL)"));
    ft_recipe r;
    ft_status s = ft_recipe_init(&r);
    if (s != FT_OK)
        return api_end(d->ctx, s);
    for (size_t i = 0; s == FT_OK && i < n_options; i++)
        s = options[i] && !strncmp(options[i], "data.", 5)
                ? ft_recipe_override(&r, options[i])
                : ft_fail(FT_ERR_ARG, "ftune_dataset_read: option %zu '%s' is not a data.* recipe key", i,
                          options[i] ? options[i] : "(NULL)");
    ft_data_cfg dc;
    if (s == FT_OK) {
        ft_runcfg_data(&r, &dc);
        s = ft_data_read(path, &dc, &d->recs);
    }
    ft_recipe_free(&r);
    return api_end(d->ctx, s);
}

ftune_status ftune_trainer_set_data(ftune_trainer *t, const char *split, const ftune_dataset *d) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    const int k = !split                         ? -1
                  : !strcmp(split, "train")      ? 0
                  : !strcmp(split, "validation") ? 1
                  : !strcmp(split, "test")       ? 2
                                                 : -1;
    if (k < 0)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG,
                                       "ftune_trainer_set_data: split '%s' is not train, validation or test",
                                       split ? split : "(NULL)"));
    if (t->prepared)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "ftune_trainer_set_data: the run has started"));
    if (!d)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "ftune_trainer_set_data: no dataset (NULL)"));
    ft_data_recs_free(&t->rows[k]);
    t->have_rows[k] = true;
    return api_end(t->ctx, ft_data_recs_append(&t->rows[k], &d->recs));
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
    for (int k = 0; k < 3; k++)
        ft_data_recs_free(&t->rows[k]);
    ft_taskdata_qa_free(&t->qa);
    ft_mlm_free(&t->mlm);
    ft_imgtask_free(&t->img);
    ft_tok_free(t->tok);
    ft_model_free(t->m);
    (void)ft_log_close(t->log);
    (void)ft_tb_close(t->tb);
    free(t->yaml);
    ft_recipe_free(&t->r);
    api_train_free(t);
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
/* ft_runcfg_compute's warnings, to the log callback. */
static void warn_log(void *user, const char *msg) {
    logf_(user, "warning: %s", msg);
}

static ft_status prepare(ftune_trainer *t) {
    if (t->o.command)
        return api_train_prepare(t);
    ft_recipe *r = &t->r;
    if (!t->checked) /* ftune_trainer_create's recipe (ftune_trainer_new checked it at once) */
        FT_TRY(ft_recipe_validate_keys(r));
    if (r->threads > 0) {
        ft_ctx x;
        ft_ctx_default(&x);
        x.threads = (int)r->threads;
        ft_ctx_apply(&x);
    }
    FT_TRY(api_trainer_load(t));
    const char *tok_src = r->tokenizer ? r->tokenizer : r->model;
    const bool image = !strcmp(r->task, "image_classification");
    char *summary = NULL;
    size_t summary_len = 0;
    FILE *sf = open_memstream(&summary, &summary_len);
    const ft_data_recs *const rows[3] = {t->have_rows[0] ? &t->rows[0] : NULL,
                                         t->have_rows[1] ? &t->rows[1] : NULL,
                                         t->have_rows[2] ? &t->rows[2] : NULL};
    ft_status s = FT_OK;
    const ft_task task = ft_runcfg_task(r->task);
    const bool own_reader = image || task == FT_TASK_QA || task == FT_TASK_TOKEN_CLS; /* not text rows */
    if (!r->data_train && !rows[0])
        s = ft_fail(FT_ERR_CONFIG,
                    "recipe: 'data.train' is required (or give the rows: ftune_trainer_set_data)");
    else if (own_reader && (rows[0] || rows[1] || rows[2]))
        s = ft_fail(FT_ERR_UNSUPPORTED,
                    "task %s reads its own files (images, SQuAD, tagged words): datasets of text rows do not "
                    "apply",
                    r->task);
    else if (image)
        s = ft_imgtask_setup(r, t->m, &t->img, &t->tr, &t->va, &t->te, sf);
    else if (task == FT_TASK_QA) { /* as `ftune train` (train/task_data.c) */
        s = ft_taskdata_qa(r, t->tok, &t->qa, &t->tr, &t->va, &t->te, sf);
        if (s == FT_OK && t->m->task != FT_TASK_QA)
            s = ft_model_set_task(t->m, task, 2, NULL, (uint64_t)r->seed);
    } else if (task == FT_TASK_TOKEN_CLS) {
        ft_dataset ds[3];
        s = ft_taskdata_tag_datasets(r, t->tok, ds, sf);
        if (s == FT_OK)
            t->tr = ds[0], t->va = ds[1], t->te = ds[2];
    } else
        s = ft_runcfg_datasets_rows(r, rows, t->tok, &t->tr, &t->va, &t->te, sf);
    ft_dataset *const splits[3] = {&t->tr, &t->va, &t->te};
    if (s == FT_OK && task == FT_TASK_MASKED_LM)
        s = ft_taskdata_mlm(r, t->m, t->tok, tok_src, &t->mlm, splits, sf);
    if (s == FT_OK && task == FT_TASK_CAUSAL_LM && t->m->task == FT_TASK_MASKED_LM)
        s = ft_model_set_task(t->m, FT_TASK_CAUSAL_LM, 0, NULL, 0);
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
    FT_TRY(ft_runcfg_compute(r, t->m, warn_log, t));
    ft_train_cfg *tc = &t->tc;
    FT_TRY(ft_runcfg_train(r, steps, warmup, ft_runcfg_pad_id(t->m, t->tok), tc));
    ft_ckpt_mode ckm, sm;
    FT_TRY(ft_ckpt_mode_parse(r->train_activation_checkpointing, &ckm));
    FT_TRY(ft_stream_mode_parse(r->train_stream_base, &sm));
    if (ckm == FT_CKPT_AUTO || sm != FT_CKPT_OFF) { /* the memory plan decides, as in ftune train (which also
                                                       refuses a run over it) */
        ft_mem_plan mp;
        (void)api_trainer_mem_plan(t, ckm, 1, &mp);
        if (ckm == FT_CKPT_AUTO) {
            tc->activation_checkpointing = mp.checkpoint;
            logf_(
                t,
                "activation checkpointing %s (train.activation_checkpointing auto: plan %.1f MiB, limit %.1f "
                "MiB, %s)",
                mp.checkpoint ? "on" : "off", (double)mp.e.total / 1048576.0, (double)mp.limit / 1048576.0,
                mp.limit_src);
        }
        char note[256];
        FT_TRY(api_trainer_stream(t, &mp, note, sizeof note));
        if (note[0])
            logf_(t, "%s", note);
    }
    api_trainer_cfg_outputs(t);
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
ft_status api_trainer_end(ftune_trainer *t) {
    if (t->o.command)
        return api_train_finish(t);
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
    if (s == FT_OK && !t->done) { /* done here: a dry run */
        bool d = false;
        if (!t->run) /* `ftune train`'s run begins after prepare (api_train.c) */
            s = api_train_begin(t);
        if (s == FT_OK)
            s = ft_train_next(t->run, &d);
        if (s == FT_OK && d) {
            if (!t->o.separate_finish)
                s = api_trainer_end(t);
            t->finished = s == FT_OK && !t->o.separate_finish;
            t->done = true;
        }
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
        s = api_metrics_out(&ev, metrics, n);
        ft_eval_result_free(&ev);
    }
    return api_end(t->ctx, s);
}
