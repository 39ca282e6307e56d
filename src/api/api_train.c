/* api/api_train: `ftune train`'s run behind the public API (issue 17): ftune_trainer_create with
 * opts.command does what the command did itself (cli/cmd_train.c before it became a client): join the MPI
 * job, check the recipe, load the model and data, print the summary and the memory plan, train with the
 * progress display, then the end-of-run lines, the test split, the save and report.html; every text goes to
 * the caller's on_output. Also the recipe calls of ftune_trainer_create (load, set, override) and
 * ftune_recipe_help. Prefix ftune_ (public), api_train_ (ftune_api.c's hooks). */
#define _GNU_SOURCE /* vasprintf */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "api/api_trainer.h"
#include "io/json.h"
#include "models/stream.h"
#include "report/report_html.h"
#include "peft/peft.h"
#include "tokenizer/tokenizer.h"
#include "train/memory.h"
#include "train/run_report.h"
#include "train/runcfg.h"

/* ---- output: the command's texts to on_output (stdout's on rank 0 only) ---- */

static void out_text(ftune_trainer *t, int stream, const char *text) {
    if (t->o.on_output && text && text[0] && (stream == FTUNE_STDERR || t->rank == 0))
        t->o.on_output(t->o.output_user, stream, text);
}

static void outf(ftune_trainer *t, int stream, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void outf(ftune_trainer *t, int stream, const char *fmt, ...) {
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    const int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n >= 0)
        out_text(t, stream, text);
    free(text);
}

/* A memory stream for what an internal call writes to a FILE * (a data summary); its text to stdout after. */
typedef struct {
    char *text;
    size_t len;
    FILE *f;
} memout;

static FILE *mo_open(memout *mo) {
    mo->text = NULL;
    mo->len = 0;
    mo->f = open_memstream(&mo->text, &mo->len);
    return mo->f ? mo->f : NULL;
}

static ft_status mo_flush(ftune_trainer *t, memout *mo) {
    if (!mo->f)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    fclose(mo->f);
    mo->f = NULL;
    out_text(t, FTUNE_STDOUT, mo->text);
    free(mo->text);
    mo->text = NULL;
    return FT_OK;
}

/* An internal call that writes a summary: run it into a memory stream, its text out even when it fails. */
#define WITH_SUMMARY(t, call)                                                                                \
    do {                                                                                                     \
        memout mo_;                                                                                          \
        FILE *sf = mo_open(&mo_);                                                                            \
        ft_status s_ = sf ? (call) : FT_OK;                                                                  \
        ft_status f_ = mo_flush(t, &mo_);                                                                    \
        FT_TRY(s_);                                                                                          \
        FT_TRY(f_);                                                                                          \
    } while (0)

/* ---- the recipe of ftune_trainer_create ---- */

void ftune_trainer_opts_init(ftune_trainer_opts *o) {
    if (o)
        *o = (ftune_trainer_opts){.struct_size = sizeof *o};
}

void ftune_trainer_state_init(ftune_trainer_state *s) {
    if (s)
        *s = (ftune_trainer_state){.struct_size = sizeof *s};
}

ftune_status ftune_trainer_create(ftune_ctx *ctx, const ftune_trainer_opts *o, ftune_trainer **out) {
    if (!ctx || !out)
        return FT_ERR_ARG;
    *out = NULL;
    api_begin(ctx);
    ftune_trainer_opts opts;
    ftune_trainer_opts_init(&opts);
    ft_status s = api_opts(&opts, sizeof opts, o, sizeof opts, "ftune_trainer_opts");
    opts.struct_size = sizeof opts;
    if (s != FT_OK)
        return api_end(ctx, s);
    ftune_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return api_end(ctx, ft_fail(FT_ERR_NOMEM, "out of memory"));
    t->ctx = ctx;
    t->o = opts;
    t->world = 1;
    s = ft_recipe_init(&t->r);
    if (s != FT_OK) {
        free(t);
        return api_end(ctx, s);
    }
    *out = t;
    return api_end(ctx, FT_OK);
}

static ft_status recipe_open(ftune_trainer *t, const char *what) {
    return t->prepared || t->failed ? ft_fail(FT_ERR_ARG, "%s: the run has started", what) : FT_OK;
}

ftune_status ftune_trainer_load_recipe(ftune_trainer *t, const char *path) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    ft_status s = recipe_open(t, "ftune_trainer_load_recipe");
    if (s == FT_OK)
        s = path ? ft_recipe_load_yaml(&t->r, path)
                 : ft_fail(FT_ERR_ARG, "ftune_trainer_load_recipe: no file (NULL)");
    t->checked = t->checked && s == FT_OK;
    return api_end(t->ctx, s);
}

ftune_status ftune_trainer_set_key(ftune_trainer *t, const char *key, const char *value, const char *origin) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    ft_status s = recipe_open(t, "ftune_trainer_set_key");
    if (s == FT_OK)
        s = key && value ? ft_recipe_set(&t->r, key, value, origin ? origin : "command line")
                         : ft_fail(FT_ERR_ARG, "ftune_trainer_set_key: key and value are required");
    t->checked = false;
    return api_end(t->ctx, s);
}

ftune_status ftune_trainer_override(ftune_trainer *t, const char *key_value) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    ft_status s = recipe_open(t, "ftune_trainer_override");
    if (s == FT_OK)
        s = key_value ? ft_recipe_override(&t->r, key_value)
                      : ft_fail(FT_ERR_ARG, "ftune_trainer_override: no key=value (NULL)");
    t->checked = false;
    return api_end(t->ctx, s);
}

ftune_status ftune_recipe_help(ftune_ctx *ctx, char **text) {
    if (!ctx || !text)
        return FT_ERR_ARG;
    api_begin(ctx);
    *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(text, &len);
    if (!f)
        return api_end(ctx, ft_fail(FT_ERR_NOMEM, "out of memory"));
    ft_recipe_print_help(f);
    if (fclose(f) != 0 || !*text) {
        free(*text);
        *text = NULL;
        return api_end(ctx, ft_fail(FT_ERR_NOMEM, "out of memory"));
    }
    return api_end(ctx, FT_OK);
}

ftune_status ftune_trainer_get_state(ftune_trainer *t, ftune_trainer_state *out) {
    if (!t || !out)
        return FT_ERR_ARG;
    if (out->struct_size < sizeof(ftune_trainer_state)) /* the first release's size */
        return FT_ERR_ARG;
    ftune_trainer_state st;
    ftune_trainer_state_init(&st);
    st.rank = t->rank;
    st.world = t->world > 0 ? t->world : 1;
    st.launched = ft_dist_launched();
    st.prepared = t->prepared;
    st.done = t->done;
    st.finished = t->finished;
    st.stopped = t->run && t->res.end == FT_TRAIN_INTERRUPTED;
    st.step = t->run ? t->res.steps : 0;
    st.checkpoint = t->run ? t->res.checkpoint : "";
    const size_t n = out->struct_size < sizeof st ? out->struct_size : sizeof st;
    st.struct_size = out->struct_size;
    memcpy(out, &st, n);
    return FT_OK;
}

ftune_status ftune_trainer_finish(ftune_trainer *t) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    if (t->failed)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "the run failed earlier; make a new trainer"));
    if (!t->done)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "ftune_trainer_finish: the run has not ended"));
    if (t->finished || !t->o.separate_finish || !t->run)
        return api_end(t->ctx, FT_OK);
    ft_status s = api_trainer_end(t);
    t->failed = s != FT_OK;
    t->finished = s == FT_OK;
    return api_end(t->ctx, s);
}

void api_train_free(ftune_trainer *t) {
    if (t->dist)
        ft_dist_end(t->dist, t->failed && t->world > 1);
    t->dist = NULL;
}

/* ---- what both runs share (ftune_api.c's prepare and the command's) ---- */

ft_status api_trainer_load(ftune_trainer *t) {
    const ft_recipe *r = &t->r;
    /* resolve the checkpoint first: a wrong resume= should fail before any work */
    if (r->resume)
        FT_TRY(ft_ckpt_resolve(r->resume, t->resume, sizeof t->resume));
    ft_base_dtype bd;
    FT_TRY(ft_base_dtype_parse(r->train_base_dtype, &bd));
    FT_TRY(ft_model_load_base(r->model, bd, &t->m));
    FT_TRY(ft_runcfg_task_fits(r, t->m)); /* seq2seq <-> encoder-decoder, before any data is read */
    ft_runcfg_dropout(r, t->m);
    const char *tok_src = r->tokenizer ? r->tokenizer : r->model;
    const bool image = !strcmp(r->task, "image_classification");
    if ((strcmp(r->data_format, "pretokenized") && !image) || r->tokenizer) {
        ft_status s = ft_tok_load(tok_src, &t->tok);
        if (s != FT_OK)
            return ft_fail_ctx(s, "tokenizer (set the 'tokenizer' key)");
    }
    return FT_OK;
}

ft_status api_trainer_mem_plan(const ftune_trainer *t, ft_ckpt_mode ckm, int shards, ft_mem_plan *mp) {
    const ft_recipe *r = &t->r;
    const int64_t eb = r->eval_batch_size > 0 ? r->eval_batch_size : r->train_batch_size;
    ft_ckpt_mode sm;
    FT_TRY(ft_stream_mode_parse(r->train_stream_base, &sm));
    return ft_mem_plan_run(t->m, (int)r->train_batch_size, (int)eb, ft_runcfg_plan_seq_len(r),
                           !strcmp(r->optim_name, "sgd") ? (r->optim_momentum > 0 ? 1 : 0) : 2, ckm, sm,
                           (float)r->train_label_smoothing, shards, mp);
}

ft_status api_trainer_stream(ftune_trainer *t, const ft_mem_plan *mp, char *note, size_t n) {
    note[0] = 0;
    ft_ckpt_mode sm;
    FT_TRY(ft_stream_mode_parse(t->r.train_stream_base, &sm));
    if (sm == FT_CKPT_ON && !mp->stream_slot)
        return ft_fail(
            FT_ERR_CONFIG,
            "train.stream_base: true needs a decoder whose layer weights are used in place from the "
            "checkpoint (a bf16/f16 file with train.base_dtype auto or file, or a saved int8 "
            "checkpoint); %s has none",
            t->r.model);
    if (!mp->stream)
        return FT_OK;
    FT_TRY(ft_model_stream_open(t->m));
    snprintf(note, n,
             "base streaming: on%s: %.1f MiB of layers read ahead into 2 slots of %.1f MiB (a reader thread, "
             "pread)",
             mp->stream_auto ? " (train.stream_base auto: the run needs it to fit)" : "",
             (double)mp->streamed / 1048576.0, (double)mp->stream_slot / 1048576.0);
    return FT_OK;
}

void api_trainer_cfg_outputs(ftune_trainer *t) {
    ft_train_cfg *tc = &t->tc;
    tc->ckpt_root = ft_path_join(t->ckroot, sizeof t->ckroot, t->r.output_dir, "checkpoints");
    tc->recipe_yaml = t->yaml;
    tc->resume = t->resume[0] ? t->resume : NULL;
    tc->stop = &t->stop;
    tc->log = t->log;
    tc->tb = t->tb;
    api_trainer_observe(t);
}

/* ---- `ftune train`'s run ---- */

static const char *prec_note(const ft_model *m) {
    return m->precision == FT_PREC_BF16 ? " (bf16 GEMMs, fp32 accumulation and master weights)" : "";
}

/* The notes on the model the command prints (a dropped masked-LM head, a new classification head, a
 * pooler initialized); call before ft_runcfg_head with had_head = the model's head before it. */
static void model_notes(ftune_trainer *t, bool had_head) {
    const ft_recipe *r = &t->r;
    const ft_model *m = t->m;
    const ft_task task = ft_runcfg_task(r->task);
    const bool cls = task == FT_TASK_SEQ_CLS || task == FT_TASK_REGRESSION;
    if (had_head && r->head_reset && cls)
        outf(t, FTUNE_STDOUT,
             "note: head.reset: the checkpoint's head is replaced by a new one (%d outputs)\n", m->n_labels);
    if (m->pooler_init && cls)
        outf(t, FTUNE_STDOUT,
             "note: bert.pooler.dense is not in %s (a masked-LM save has none): initialized%s\n", r->model,
             strcmp(r->method, "full") && strcmp(r->method, "bitfit") ? "; part of the base model, it stays "
                                                                        "frozen under this method, as in PEFT"
                                                                      : "");
}

/* The datasets of every task, as the command reads them; their summary lines to stdout. */
static ft_status load_data(ftune_trainer *t, const char *tok_src) {
    ft_recipe *r = &t->r;
    ft_model *m = t->m;
    const ft_task task = ft_runcfg_task(r->task);
    if (!strcmp(r->task, "image_classification")) /* one example per image, pixels made per batch */
        WITH_SUMMARY(t, ft_imgtask_setup(r, m, &t->img, &t->tr, &t->va, &t->te, sf));
    else if (!strcmp(r->data_format, "pretokenized"))
        WITH_SUMMARY(t, ft_runcfg_datasets(r, NULL, &t->tr, &t->va, &t->te, sf));
    else if (task == FT_TASK_QA) {
        WITH_SUMMARY(t, ft_taskdata_qa(r, t->tok, &t->qa, &t->tr, &t->va, &t->te, sf));
        if (m->task != FT_TASK_QA)
            FT_TRY(ft_model_set_task(m, task, 2, NULL, (uint64_t)r->seed));
    } else if (task == FT_TASK_TOKEN_CLS) { /* words and tags aligned to the pieces */
        ft_dataset ds[3];
        WITH_SUMMARY(t, ft_taskdata_tag_datasets(r, t->tok, ds, sf));
        t->tr = ds[0];
        t->va = ds[1];
        t->te = ds[2];
    } else
        WITH_SUMMARY(t, ft_runcfg_datasets(r, t->tok, &t->tr, &t->va, &t->te, sf));
    if (task == FT_TASK_SEQ2SEQ && r->eval_generate) { /* evaluations generate and score text too */
        ft_runcfg_s2s_eval(r, t->tok, &t->s2s);
        t->s2s_test = t->s2s;
        t->s2s_test.limit = 0;
        t->va.s2s = &t->s2s;
        t->te.s2s = &t->s2s_test;
    }
    ft_dataset *const splits[3] = {&t->tr, &t->va, &t->te};
    if (task == FT_TASK_MASKED_LM)
        WITH_SUMMARY(t, ft_taskdata_mlm(r, m, t->tok, tok_src, &t->mlm, splits, sf));
    else if (m->task == FT_TASK_MASKED_LM) /* another task on a masked-LM checkpoint: its head is dropped */
        outf(t, FTUNE_STDOUT,
             "note: the checkpoint's masked-LM head (%s...) is not used by task %s: dropped\n",
             ft_model_mlm_name(m, 0), r->task);
    if (task == FT_TASK_CAUSAL_LM && m->task == FT_TASK_MASKED_LM) /* the encoder then refuses by name */
        FT_TRY(ft_model_set_task(m, FT_TASK_CAUSAL_LM, 0, NULL, 0));
    return FT_OK;
}

/* The summary lines before training: model, data, data parallelism, resume, precision. */
/* ft_runcfg_compute's warnings, as the command prints them. */
static void warn_stderr(void *user, const char *msg) {
    outf(user, FTUNE_STDERR, "ftune train: warning: %s\n", msg);
}

static ft_status summary(ftune_trainer *t) {
    const ft_recipe *r = &t->r;
    ft_model *m = t->m;
    outf(t, FTUNE_STDOUT, "model %s (%s): %lld parameters, %lld trainable (%.2f%%), method %s, task %s\n",
         r->model, m->cfg.model_type, (long long)t->n_all, (long long)t->n_tr,
         100.0 * (double)t->n_tr / (double)t->n_all, r->method, r->task);
    outf(t, FTUNE_STDOUT,
         "data: %zu training, %zu validation, %zu test examples; %lld steps of %lld x %lld examples\n",
         t->tr.n, t->va.n, t->te.n, (long long)t->plan_steps, (long long)r->train_batch_size,
         (long long)r->train_grad_accum);
    const int world = t->world;
    if (world > 1)
        outf(t, FTUNE_STDOUT, "data parallel: %d ranks (MPI), global batch %lld = %d x %lld x %lld%s\n",
             world, (long long)(world * r->train_batch_size * r->train_grad_accum), world,
             (long long)r->train_batch_size, (long long)r->train_grad_accum,
             !strcmp(r->train_zero, "1") ? ", ZeRO-1 optimizer-state sharding" : "");
    if (t->resume[0])
        outf(t, FTUNE_STDOUT, "resuming from %s\n", t->resume);
    FT_TRY(ft_runcfg_compute(r, m, warn_stderr, t));
    outf(t, FTUNE_STDOUT, "precision %s%s%s\n", ft_precision_name(m->precision), prec_note(m),
         m->int8_matmul ? "; int8 x int8 products for the int8 base" : "");
    return FT_OK;
}

/* The memory plan, printed; a run that cannot fit fails now, with the numbers, not after an hour. */
static ft_status memory_plan(ftune_trainer *t, bool *ckpt_on) {
    const ft_recipe *r = &t->r;
    ft_ckpt_mode ckm;
    FT_TRY(ft_ckpt_mode_parse(r->train_activation_checkpointing, &ckm));
    ft_mem_plan mp;
    ft_status ms =
        api_trainer_mem_plan(t, ckm, t->world > 1 && !strcmp(r->train_zero, "1") ? t->world : 1, &mp);
    char line[400], plan[2048];
    ft_mem_estimate_format(&mp.e, line, sizeof line);
    ft_mem_plan_format(&mp, plan, sizeof plan);
    outf(t, FTUNE_STDOUT, "%s; %.2f GiB available (%s)\n%s", line,
         (double)mp.limit / (1024.0 * 1024.0 * 1024.0), mp.limit_src, plan);
    if (ms != FT_OK)
        return ms;
    *ckpt_on = mp.checkpoint;
    if (mp.auto_on)
        outf(t, FTUNE_STDOUT,
             "activation checkpointing: on (train.activation_checkpointing auto: the run needs it to fit)\n");
    char note[256];
    FT_TRY(api_trainer_stream(t, &mp, note, sizeof note));
    if (note[0])
        outf(t, FTUNE_STDOUT, "%s\n", note);
    return FT_OK;
}

static ft_status prepare_cmd(ftune_trainer *t) {
    ft_recipe *r = &t->r;
    FT_TRY(ft_recipe_validate(r));
    t->checked = true;
    /* data parallelism: join the MPI job first; rank 0 alone prints, logs and writes (docs/distributed.md) */
    if (t->o.distributed) {
        FT_TRY(ft_dist_init(r->dist_timeout, &t->dist));
        t->rank = ft_dist_rank(t->dist);
        t->world = ft_dist_size(t->dist);
    }
    ft_ctx ctx;
    ft_ctx_default(&ctx);
    if (r->threads > 0)
        ctx.threads = (int)r->threads;
    ctx.seed = (uint64_t)r->seed;
    ft_ctx_apply(&ctx);
    FT_TRY(api_trainer_load(t));
    ft_model *m = t->m;
    const char *tok_src = r->tokenizer ? r->tokenizer : r->model;
    const bool image = !strcmp(r->task, "image_classification");
    t->pad_id = ft_runcfg_pad_id(m, t->tok);
    FT_TRY(load_data(t, tok_src));
    const bool had_head = m->task == FT_TASK_SEQ_CLS || m->task == FT_TASK_REGRESSION;
    FT_TRY(ft_runcfg_head(r, m, &t->tr));
    model_notes(t, had_head);
    FT_TRY(ft_runcfg_method(r, m));
    t->n_all = ft_model_param_count(m, false);
    t->n_tr = ft_model_param_count(m, true);
    if (t->n_tr == 0)
        return ft_fail(FT_ERR_CONFIG, "method '%s' leaves nothing to train on this model", r->method);
    int64_t warmup;
    ft_runcfg_steps(r, t->tr.n, t->world, &t->plan_steps, &warmup);
    FT_TRY(summary(t));
    bool ckpt_on = false;
    FT_TRY(
        memory_plan(t, &ckpt_on)); /* a run that cannot fit stops here, before its output directory exists */
    if (t->o.dry_run) {
        outf(t, FTUNE_STDOUT, "dry run: the plan fits; nothing trained\n");
        t->done = true;
        return FT_OK;
    }
    /* outputs that exist from the start: recipe, run info, tokenizer files (rank 0's) */
    if (t->rank == 0)
        FT_TRY(ft_runcfg_outputs(r, &t->tr, tok_src, t->tok != NULL, &t->yaml, &t->log, &t->tb));
    if (t->rank == 0 && image) /* the processor the model was trained with, for eval and predict --image */
        FT_TRY(ft_imgtask_save_proc(r, &t->img));
    ft_train_cfg *tc = &t->tc;
    FT_TRY(ft_runcfg_train(r, t->plan_steps, warmup, t->pad_id, tc));
    tc->activation_checkpointing = ckpt_on;
    api_trainer_cfg_outputs(t);
    tc->dist = t->dist;
    if (t->o.progress) {
        ft_progress_mode pm = !strcmp(r->report_progress, "quiet")   ? FT_PROGRESS_QUIET
                              : !strcmp(r->report_progress, "tty")   ? FT_PROGRESS_TTY
                              : !strcmp(r->report_progress, "plain") ? FT_PROGRESS_PLAIN
                                                                     : FT_PROGRESS_AUTO;
        if (t->rank > 0)
            pm = FT_PROGRESS_QUIET;
        ft_progress_init(&t->prog, (FILE *)t->o.progress, pm, 0, t->plan_steps, ft_now());
        t->prog.plain_interval = r->report_plain_interval;
        tc->progress = &t->prog;
    }
    const int kill_s = ft_dist_sigkill_timeout();
    if (t->world > 1 && kill_s > 0 && kill_s < 30)
        outf(t, FTUNE_STDOUT,
             "Ctrl-C on mpirun leaves the ranks %d s to checkpoint (odls_base_sigkill_timeout): for longer "
             "steps give mpirun --mca odls_base_sigkill_timeout 60, or send it SIGUSR1\n",
             kill_s);
    return FT_OK;
}

ft_status api_train_prepare(ftune_trainer *t) {
    ft_status s = prepare_cmd(t);
    t->prepared = s == FT_OK; /* the loop begins with the first step (api_train_begin) */
    return s;
}

ft_status api_train_begin(ftune_trainer *t) {
    return ft_train_begin(t->m, &t->tr, t->va.n ? &t->va : NULL, &t->tc, &t->res, &t->run);
}

/* The lines after the loop: evaluation, steps and throughput, data parallelism, skipped steps, best. */
static void end_lines(ftune_trainer *t) {
    const ft_recipe *r = &t->r;
    const ft_train_result *res = &t->res;
    if (!isnan(res->eval_before) && res->has_eval)
        outf(t, FTUNE_STDOUT, "eval loss: %.4f before, %.4f after\n", res->eval_before, res->eval.loss);
    outf(t, FTUNE_STDOUT, "trained steps %lld..%lld, %lld tokens, %.0f tok/s; train loss %.4f -> %.4f%s\n",
         (long long)res->start_step, (long long)res->steps, (long long)res->tokens, res->tokens_per_s,
         res->first_loss, res->last_loss, res->end == FT_TRAIN_EARLY_STOPPED ? " (early stopping)" : "");
    if (t->world > 1)
        outf(t, FTUNE_STDOUT,
             "data parallel: %d ranks, %.3f MB exchanged per step by each rank (gradients all-reduced%s); "
             "%s%s\n",
             t->world, (double)res->comm_bytes_per_step / 1e6,
             !strcmp(r->train_zero, "1") ? ", updated ZeRO-1 slices all-gathered" : "",
             res->ranks_agree ? "parameters bit-identical on every rank"
                              : "WARNING: the ranks' parameters differ (the output is rank 0's)",
             res->eval_sharded ? "; validation loss evaluated by every rank, batches sharded" : "");
    if (res->skipped)
        outf(t, FTUNE_STDOUT, "%lld steps skipped for a non-finite loss or gradient\n",
             (long long)res->skipped);
    if (res->has_eval && !isnan(res->best_metric))
        outf(t, FTUNE_STDOUT, "best %s %.4f at step %lld\n", r->eval_metric, res->best_metric,
             (long long)res->best_step);
}

/* "test: loss ..." with the task's metrics (and token classification's table after it). */
static void test_line(FILE *f, const ft_eval_result *test, bool mlm) {
    fprintf(f, "test: loss %.4f", test->loss);
    if (mlm)
        fprintf(f, " perplexity %.4f (masked tokens, fixed masks)", test->perplexity);
    if (test->has_cls)
        fprintf(f, " accuracy %.4f f1_macro %.4f", test->cls.accuracy, test->cls.f1_macro);
    if (test->has_reg)
        fprintf(f, " mse %.4f mae %.4f r2 %.4f", test->reg.mse, test->reg.mae, test->reg.r2);
    if (test->has_qa) {
        const ft_qa_score *q = &test->qa;
        fprintf(f, " exact_match %.2f f1 %.2f", q->exact_match, q->f1);
        if (q->n_no_ans)
            fprintf(f, " (HasAns %zu: EM %.2f F1 %.2f; NoAns %zu: EM %.2f)", q->n_has_ans, q->has_ans_em,
                    q->has_ans_f1, q->n_no_ans, q->no_ans_em);
    }
    if (test->has_gen)
        fprintf(f, " (%zu generated) rouge1 %.4f rouge2 %.4f rougeL %.4f bleu %.2f exact_match %.2f f1 %.2f",
                test->gen.n, test->gen.rouge1, test->gen.rouge2, test->gen.rougeL, test->gen.bleu,
                test->gen.exact_match, test->gen.f1);
    fprintf(f, "\n");
    if (test->has_tag)
        ft_metric_tag_print(&test->tag, f); /* the table `ftune eval` prints */
}

/* The test split's metrics. */
static ft_status test_eval(ftune_trainer *t, ft_eval_result *test) {
    const ft_train_cfg *tc = &t->tc;
    const int bs = tc->eval_batch_size > 0 ? tc->eval_batch_size : tc->batch_size;
    ft_arena arena;
    FT_TRY(ft_arena_init(&arena, ft_model_act_bytes(t->m, bs, tc->seq_len) + ((size_t)4 << 20)));
    ft_status s = ft_train_evaluate(t->m, &t->te, bs, tc->seq_len, t->pad_id, &arena, test);
    ft_arena_free(&arena);
    return s;
}

/* The test split's line, and its metrics in metrics.jsonl under the command's keys. */
static ft_status test_report(ftune_trainer *t, const ft_eval_result *test) {
    WITH_SUMMARY(t, (test_line(sf, test, ft_runcfg_task(t->r.task) == FT_TASK_MASKED_LM), FT_OK));
    const char *keys[] = {"test/loss", "test/accuracy", "test/f1_macro", "test/mse"};
    double vals[] = {test->loss, ft_eval_metric(test, "accuracy"), ft_eval_metric(test, "f1_macro"),
                     ft_eval_metric(test, "mse")};
    if (test->has_tag) { /* words: accuracy; entities' F1 (BIO tags) or the tags' macro-F1 */
        keys[2] = test->tag.entities ? "test/f1" : "test/f1_macro";
        vals[2] = ft_eval_metric(test, test->tag.entities ? "f1" : "f1_macro");
    }
    if (test->has_gen) { /* seq2seq: the generated text's scores */
        const char *gk[] = {"test/loss",      "test/rouge1", "test/rouge2",      "test/rougeL",
                            "test/rougeLsum", "test/bleu",   "test/exact_match", "test/f1"};
        double gv[] = {test->loss,          test->gen.rouge1, test->gen.rouge2,      test->gen.rougeL,
                       test->gen.rougeLsum, test->gen.bleu,   test->gen.exact_match, test->gen.f1};
        return ft_log_write(t->log, t->res.steps, (double)time(NULL), gk, gv, 8);
    }
    return ft_log_write(t->log, t->res.steps, (double)time(NULL), keys, vals,
                        test->has_cls || test->has_tag ? 3
                        : test->has_reg                ? 4
                                                       : 1);
}

/* report.html: the run's table (trainable parameters, steps, validation, checkpoint), its curves, and the
 * confusion matrix of the test split (else the validation's). */
static ft_status run_report(ftune_trainer *t, const ft_eval_result *test) {
    const ft_recipe *r = &t->r;
    const ft_train_result *res = &t->res;
    char trainable[64], ckpt[4160];
    snprintf(trainable, sizeof trainable, "%lld of %lld (%.3f%%)", (long long)t->n_tr, (long long)t->n_all,
             100.0 * (double)t->n_tr / (double)t->n_all);
    snprintf(ckpt, sizeof ckpt, "%s", res->checkpoint[0] ? res->checkpoint : "(none)");
    char ev[160] = "(no validation data)";
    if (res->has_eval)
        snprintf(ev, sizeof ev, "loss %.4f, %s %.4f (best %.4f at step %lld)", res->eval.loss, r->eval_metric,
                 ft_eval_metric(&res->eval, r->eval_metric), res->best_metric, (long long)res->best_step);
    char steps_s[96];
    snprintf(steps_s, sizeof steps_s, "%lld of %lld%s", (long long)res->steps, (long long)t->plan_steps,
             res->end == FT_TRAIN_EARLY_STOPPED ? " (early stopping)"
             : res->end == FT_TRAIN_INTERRUPTED ? " (interrupted)"
                                                : "");
    ft_html_kv extra[] = {{"trainable parameters", trainable},
                          {"steps", steps_s},
                          {"validation", ev},
                          {"last checkpoint", ckpt}};
    const ft_metric_cls *cls = test && test->has_cls ? &test->cls : res->eval.has_cls ? &res->eval.cls : NULL;
    return ft_run_report_write(r->output_dir, ft_log_path(t->log), r, extra, 4, cls,
                               cls && t->tr.label_names && (size_t)t->tr.n_labels == cls->n_classes
                                   ? (const char *const *)t->tr.label_names
                                   : NULL);
}

ft_status api_train_finish(ftune_trainer *t) {
    const ft_train_result *res = &t->res;
    if (t->rank > 0) /* the test set, the outputs and the report are rank 0's */
        return FT_OK;
    end_lines(t);
    ft_eval_result test = {0};
    bool has_test = false;
    ft_status s = FT_OK;
    if (res->end != FT_TRAIN_INTERRUPTED && t->te.n > 0) {
        FT_TRY(test_eval(t, &test));
        has_test = true;
        s = test_report(t, &test);
    }
    if (s == FT_OK && res->end != FT_TRAIN_INTERRUPTED) {
        s = ft_runcfg_save(&t->r, t->m);
        if (s == FT_OK)
            outf(t, FTUNE_STDOUT, "saved %s\n", t->r.output_dir);
    }
    if (s == FT_OK && t->r.report_html)
        s = run_report(t, has_test ? &test : NULL);
    if (has_test)
        ft_eval_result_free(&test);
    return s;
}

/* ---- what `ftune compare` writes (FTUNE_HAS_REPORT_FILES) ---- */

ftune_status ftune_trainer_get_key(ftune_trainer *t, const char *key, char **value) {
    if (!t || !value)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    *value = NULL;
    const ft_recipe_key *k = key ? ft_recipe_find_key(key) : NULL;
    if (!k) {
        const char *near = key ? ft_recipe_nearest(key) : NULL;
        return api_end(t->ctx,
                       near ? ft_fail(FT_ERR_CONFIG, "unknown key '%s' (did you mean '%s'?)", key, near)
                            : ft_fail(FT_ERR_CONFIG, "unknown key '%s'", key ? key : "(NULL)"));
    }
    char buf[64];
    const char *v = ft_recipe_get(&t->r, k, buf, sizeof buf);
    *value = strdup(v ? v : "");
    return api_end(t->ctx, *value ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory"));
}

ftune_status ftune_html_report_write(ftune_ctx *ctx, const char *path, const char *title,
                                     const char *const *keys, const char *const *values, size_t n,
                                     const ftune_chart *charts, size_t n_charts) {
    if (!ctx)
        return FT_ERR_ARG;
    api_begin(ctx);
    if (!path || (n && (!keys || !values)) || (n_charts && !charts))
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_html_report_write: path, keys/values and charts are "
                                                "required"));
    size_t n_series = 0;
    for (size_t i = 0; i < n_charts; i++) {
        if (charts[i].n_series && !charts[i].series)
            return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_html_report_write: chart %zu has no series", i));
        n_series += charts[i].n_series;
    }
    ft_html_kv *kv = calloc(n + 1, sizeof *kv);
    ft_html_chart *ch = calloc(n_charts + 1, sizeof *ch);
    ft_html_series *se = calloc(n_series + 1, sizeof *se);
    ft_status s = kv && ch && se ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; s == FT_OK && i < n; i++)
        kv[i] = (ft_html_kv){keys[i] ? keys[i] : "", values[i] ? values[i] : ""};
    for (size_t i = 0, k = 0; s == FT_OK && i < n_charts; i++) {
        const ftune_chart *c = &charts[i];
        ch[i] = (ft_html_chart){c->title ? c->title : "",
                                c->x_label ? c->x_label : "",
                                c->y_label ? c->y_label : "",
                                se + k,
                                c->n_series,
                                c->log_y != 0};
        for (size_t j = 0; j < c->n_series; j++, k++) {
            const ftune_series *x = &c->series[j];
            if (x->n && (!x->x || !x->y)) {
                s = ft_fail(FT_ERR_ARG, "ftune_html_report_write: chart %zu series %zu has no points", i, j);
                break;
            }
            se[k] = (ft_html_series){x->name ? x->name : "", x->x, x->y, x->n};
        }
    }
    if (s == FT_OK) {
        ft_html_report rep = {title ? title : "", kv, n, ch, n_charts, NULL, NULL, NULL, 0};
        s = ft_html_write(path, &rep);
    }
    free(kv);
    free(ch);
    free(se);
    return api_end(ctx, s);
}

ftune_status ftune_json_file_write(ftune_ctx *ctx, const char *path, const char *json, int sort_keys) {
    if (!ctx)
        return FT_ERR_ARG;
    api_begin(ctx);
    if (!path || !json)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_json_file_write: path and json are required"));
    cJSON *j = cJSON_Parse(json);
    if (!j)
        return api_end(ctx, ft_fail(FT_ERR_FORMAT, "%s: the text to write is not JSON", path));
    ft_status s = ft_json_write_file(path, j, sort_keys != 0);
    cJSON_Delete(j);
    return api_end(ctx, s);
}

ftune_status ftune_mkdir_p(ftune_ctx *ctx, const char *path) {
    if (!ctx)
        return FT_ERR_ARG;
    api_begin(ctx);
    return api_end(ctx, path ? ft_mkdir_p(path) : ft_fail(FT_ERR_ARG, "ftune_mkdir_p: no path (NULL)"));
}
