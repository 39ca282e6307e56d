#include <limits.h>
#include <stdlib.h>
/* ftune train: a run from a YAML recipe with key=value overrides (and the older flag form). */
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/qa_cli.h"
#include "cli/tokcls.h"
#include "cli/trained.h"
#include "train/memory.h"
#include "io/json.h"
#include "data/dataset.h"
#include "data/mlm.h"
#include "peft/peft.h"
#include "tokenizer/tokenizer.h"
#include "train/dist.h"
#include "train/img_task.h"
#include "train/recipe.h"
#include "train/run_report.h"
#include "train/trainer.h"

static const char *TRAIN_USAGE =
    "usage: ftune train RECIPE.yaml [key=value ...] [--quiet]\n"
    "       ftune train --model DIR --data train.jsonl --out DIR [flags]\n"
    "       (pre-tokenized JSONL; full fine-tuning unless --method or --adapter says otherwise)\n"
    "\n"
    "A run is a YAML recipe; any key can be overridden as key=value (e.g. optim.lr=3e-4 lora.r=16);\n"
    "resume=DIR continues from a checkpoint (or an output_dir's latest one). Ctrl-C (or SIGUSR1) writes a\n"
    "checkpoint and stops (exit 130). Data-parallel over MPI: mpirun -np N ftune train ...; there Ctrl-C on\n"
    "mpirun reaches the ranks as SIGTERM, which stops them the same way within odls_base_sigkill_timeout\n"
    "(mpirun --mca odls_base_sigkill_timeout 60 ...: docs/distributed.md).\n"
    "Everything lands in output_dir: the model or adapter, recipe.yaml, ftune_train.json, tokenizer\n"
    "files, metrics.jsonl, TensorBoard events, report.html, checkpoints/. Documentation: docs/training.md.\n"
    "\n"
    "Flags (each maps onto a key):\n"
    "  --model DIR (model)  --data FILE (data.train, data.format=pretokenized)  --eval-data FILE "
    "(data.validation)\n"
    "  --out DIR (output_dir)  --steps N (train.max_steps)  --batch-size N  --seq-len N  --lr X (optim.lr)\n"
    "  --warmup N (optim.warmup_steps)  --min-lr-ratio X (< 1: cosine decay to lr*X)  --weight-decay X\n"
    "  --clip X (train.max_grad_norm)  --eval-every N  --threads N  --seed N  --save-dtype f32|bf16\n"
    "  --quiet (report.progress=quiet)  --activation-checkpointing (train.activation_checkpointing=true)\n"
    "  --dry-run: load, attach the method, print the memory plan (weights by storage, gradients, optimizer,\n"
    "  activations with and without checkpointing, LM head chunk, KV cache) and stop; exit 1 if it does not\n"
    "  fit (FTUNE_MEM_LIMIT=6G fakes the memory size, else MemAvailable)\n"
    "Also with a recipe (a key=value override wins over them):\n"
    "  --precision fp32|bf16 (precision)  --method M (method)  --task T (task)\n"
    "  --adapter DIR (peft.init_from: continue training that PEFT adapter; its adapter_config.json sets the\n"
    "  method and its options, recipe keys may only repeat them)\n"
    "Flag-form defaults: 100 steps, batch 4, seq-len 128, lr 1e-4, constant schedule.\n"
    "\n"
    "Recipe keys:\n";

static volatile sig_atomic_t g_stop; /* set by SIGINT, SIGUSR1 or SIGTERM; the handler touches nothing else */

/* SIGINT (Ctrl-C), SIGUSR1 (what mpirun forwards to every rank), and under an MPI launcher SIGTERM (what
 * mpirun sends every rank on Ctrl-C, odls_base_sigkill_timeout seconds before its SIGKILL:
 * docs/distributed.md) */
static void on_sigint(int sig) {
    g_stop = 1;
    signal(sig, SIG_DFL); /* a second one kills at once */
}

static ft_status set_num(ft_recipe *r, const char *key, double v) {
    char b[64];
    snprintf(b, sizeof b, "%.17g", v);
    return ft_recipe_set(r, key, b, "command line");
}

/* Legacy flags → recipe keys (flag-form defaults first). */
static ft_status apply_flags(ft_recipe *r, const char *model, const char *data, const char *eval, const char *out,
                             long steps, long bs, long seq, double lr, long warmup, double min_lr, double wd,
                             double clip, long eval_every, long threads, long seed, const char *save_dtype) {
    if (model)
        FT_TRY(ft_recipe_set(r, "model", model, "--model"));
    if (data) {
        FT_TRY(ft_recipe_set(r, "data.train", data, "--data"));
        FT_TRY(ft_recipe_set(r, "data.format", "pretokenized", "--data"));
    }
    if (eval)
        FT_TRY(ft_recipe_set(r, "data.validation", eval, "--eval-data"));
    if (out)
        FT_TRY(ft_recipe_set(r, "output_dir", out, "--out"));
    FT_TRY(set_num(r, "train.max_steps", (double)steps));
    FT_TRY(set_num(r, "train.batch_size", (double)bs));
    FT_TRY(set_num(r, "train.seq_len", (double)seq));
    FT_TRY(set_num(r, "optim.lr", lr));
    FT_TRY(set_num(r, "optim.warmup_steps", (double)warmup));
    FT_TRY(ft_recipe_set(r, "optim.schedule", min_lr < 1.0 ? "cosine" : "constant", "--min-lr-ratio"));
    FT_TRY(set_num(r, "optim.min_lr_ratio", min_lr < 1.0 ? min_lr : 0.0));
    FT_TRY(set_num(r, "optim.weight_decay", wd));
    FT_TRY(set_num(r, "train.max_grad_norm", clip));
    FT_TRY(set_num(r, "eval.every", (double)eval_every));
    FT_TRY(set_num(r, "threads", (double)threads));
    FT_TRY(set_num(r, "seed", (double)seed));
    return ft_recipe_set(r, "save_dtype", save_dtype, "--save-dtype");
}

typedef struct {
    ft_recipe r;
    ft_model *m;
    ft_tokenizer *tok;
    ft_dataset tr, va, te;
    ft_log *log;
    ft_tb_writer *tb;
    ft_progress prog;
    char *yaml;
    ft_train_result res;
    bool have_res;
    ft_qa_data qa; /* question answering: the examples behind tr/va/te's windows */
    ft_mlm mlm; /* task masked_lm: the datasets' masker */
    ft_imgtask img; /* task image_classification: the images behind tr/va/te */
    ft_s2s_eval s2s, s2s_test; /* task seq2seq: how validation (eval.generate_limit) and test (every
                                  example) generate, with eval.generate */
    ft_dist *dist; /* under mpirun with several ranks (train/dist.h); NULL otherwise */
    bool dry_run;  /* --dry-run: print the memory plan and stop */
} job;

static void job_free(job *j) {
    if (j->have_res)
        ft_train_result_free(&j->res);
    ft_dataset_free(&j->tr);
    ft_dataset_free(&j->va);
    ft_dataset_free(&j->te);
    ft_taskdata_qa_free(&j->qa);
    ft_mlm_free(&j->mlm);
    ft_imgtask_free(&j->img);
    ft_tok_free(j->tok);
    ft_model_free(j->m);
    (void)ft_log_close(j->log);
    (void)ft_tb_close(j->tb);
    free(j->yaml);
    ft_recipe_free(&j->r);
}

/* Another task on a masked-LM checkpoint: its head is dropped. */
static void mlm_notes(const ft_model *m, const char *task) {
    if (m->task == FT_TASK_MASKED_LM)
        printf("note: the checkpoint's masked-LM head (%s...) is not used by task %s: dropped\n",
               ft_model_mlm_name(m, 0), task);
}

static ft_status run_job(job *j, int *exit_code) {
    ft_recipe *r = &j->r;
    FT_TRY(ft_recipe_validate(r));
    /* data parallelism: join the MPI job first; rank 0 alone prints, logs and writes (docs/distributed.md) */
    FT_TRY(ft_dist_init(r->dist_timeout, &j->dist));
    const int rank = ft_dist_rank(j->dist), world = ft_dist_size(j->dist);
    if (rank > 0 && !freopen("/dev/null", "w", stdout))
        return ft_fail(FT_ERR_IO, "rank %d: cannot silence stdout", rank);
    const bool pretok = !strcmp(r->data_format, "pretokenized");
    const ft_task task = ft_runcfg_task(r->task);
    ft_ctx ctx;
    ft_ctx_default(&ctx);
    if (r->threads > 0)
        ctx.threads = (int)r->threads;
    ctx.seed = (uint64_t)r->seed;
    ft_ctx_apply(&ctx);

    /* resolve the checkpoint first: a wrong resume= should fail before any work */
    char resume[4096] = "";
    if (r->resume)
        FT_TRY(ft_ckpt_resolve(r->resume, resume, sizeof resume));

    ft_base_dtype bd;
    FT_TRY(ft_base_dtype_parse(r->train_base_dtype, &bd));
    FT_TRY(ft_model_load_base(r->model, bd, &j->m));
    ft_model *m = j->m;
    FT_TRY(ft_runcfg_task_fits(r, m)); /* seq2seq <-> encoder-decoder, before any data is read */
    ft_runcfg_dropout(r, m);
    const char *tok_src = r->tokenizer ? r->tokenizer : r->model;
    const bool image = !strcmp(r->task, "image_classification");
    if ((!pretok && !image) || r->tokenizer) {
        ft_status s = ft_tok_load(tok_src, &j->tok);
        if (s != FT_OK)
            return ft_fail_ctx(s, "tokenizer (set the 'tokenizer' key)");
    }
    const int32_t pad_id = ft_runcfg_pad_id(m, j->tok);

    if (image) { /* images (train/img_task.c): one example per image, pixels made per batch */
        FT_TRY(ft_imgtask_setup(r, m, &j->img, &j->tr, &j->va, &j->te, stdout));
    } else if (pretok) {
        FT_TRY(ft_runcfg_datasets(r, NULL, &j->tr, &j->va, &j->te, stdout));
    } else if (task == FT_TASK_QA) {
        FT_TRY(ft_taskdata_qa(r, j->tok, &j->qa, &j->tr, &j->va, &j->te, stdout));
        if (m->task != FT_TASK_QA)
            FT_TRY(ft_model_set_task(m, task, 2, NULL, (uint64_t)r->seed));
    } else if (task == FT_TASK_TOKEN_CLS) { /* words and tags aligned to the pieces (cli/tokcls.c) */
        ft_dataset ds[3];
        FT_TRY(ft_taskdata_tag_datasets(r, j->tok, ds, stdout));
        j->tr = ds[0];
        j->va = ds[1];
        j->te = ds[2];
    } else {
        FT_TRY(ft_runcfg_datasets(r, j->tok, &j->tr, &j->va, &j->te, stdout));
    }
    if (task == FT_TASK_SEQ2SEQ && r->eval_generate) { /* evaluations generate and score text too */
        ft_runcfg_s2s_eval(r, j->tok, &j->s2s);
        j->s2s_test = j->s2s;
        j->s2s_test.limit = 0;
        j->va.s2s = &j->s2s;
        j->te.s2s = &j->s2s_test;
    }
    ft_dataset *const splits[3] = {&j->tr, &j->va, &j->te};
    if (task == FT_TASK_MASKED_LM)
        FT_TRY(ft_taskdata_mlm(r, m, j->tok, tok_src, &j->mlm, splits, stdout));
    else
        mlm_notes(m, r->task);
    if (task == FT_TASK_CAUSAL_LM && m->task == FT_TASK_MASKED_LM) /* the encoder then refuses by name */
        FT_TRY(ft_model_set_task(m, FT_TASK_CAUSAL_LM, 0, NULL, 0));
    const bool had_head = m->task == FT_TASK_SEQ_CLS || m->task == FT_TASK_REGRESSION;
    FT_TRY(ft_runcfg_head(r, m, &j->tr));
    if (had_head && r->head_reset && (task == FT_TASK_SEQ_CLS || task == FT_TASK_REGRESSION))
        printf("note: head.reset: the checkpoint's head is replaced by a new one (%d outputs)\n",
               m->n_labels);
    if (m->pooler_init && (task == FT_TASK_SEQ_CLS || task == FT_TASK_REGRESSION))
        printf("note: bert.pooler.dense is not in %s (a masked-LM save has none): initialized%s\n", r->model,
               strcmp(r->method, "full") && strcmp(r->method, "bitfit")
                   ? "; part of the base model, it stays "
                     "frozen under this method, as in PEFT"
                   : "");
    FT_TRY(ft_runcfg_method(r, m));
    const int64_t n_all = ft_model_param_count(m, false), n_tr = ft_model_param_count(m, true);
    if (n_tr == 0)
        return ft_fail(FT_ERR_CONFIG, "method '%s' leaves nothing to train on this model", r->method);

    int64_t steps, warmup;
    ft_runcfg_steps(r, j->tr.n, world, &steps, &warmup);

    /* outputs that exist from the start: recipe, run info, tokenizer files (rank 0's) */
    if (rank == 0)
        FT_TRY(ft_runcfg_outputs(r, &j->tr, tok_src, j->tok != NULL, &j->yaml, &j->log, &j->tb));
    if (rank == 0 && image) /* the processor the model was trained with, for eval and predict --image */
        FT_TRY(ft_imgtask_save_proc(r, &j->img));

    printf("model %s (%s): %lld parameters, %lld trainable (%.2f%%), method %s, task %s\n", r->model,
           m->cfg.model_type, (long long)n_all, (long long)n_tr, 100.0 * (double)n_tr / (double)n_all, r->method,
           r->task);
    printf("data: %zu training, %zu validation, %zu test examples; %lld steps of %lld x %lld examples\n", j->tr.n,
           j->va.n, j->te.n, (long long)steps, (long long)r->train_batch_size, (long long)r->train_grad_accum);
    if (world > 1)
        printf("data parallel: %d ranks (MPI), global batch %lld = %d x %lld x %lld%s\n", world,
               (long long)(world * r->train_batch_size * r->train_grad_accum), world,
               (long long)r->train_batch_size, (long long)r->train_grad_accum,
               !strcmp(r->train_zero, "1") ? ", ZeRO-1 optimizer-state sharding" : "");
    if (resume[0])
        printf("resuming from %s\n", resume);
    if (!strcmp(r->precision, "bf16")) {
        ft_status ps = ft_model_set_precision(m, FT_PREC_BF16);
        if (ps == FT_ERR_UNSUPPORTED)
            fprintf(stderr, "ftune train: warning: precision bf16 not available (%s); training in fp32\n",
                    ft_last_error());
        else if (ps != FT_OK)
            return ps;
    }
    printf("precision %s%s\n", ft_precision_name(m->precision),
           m->precision == FT_PREC_BF16 ? " (bf16 GEMMs, fp32 accumulation and master weights)" : "");
    ft_ckpt_mode ckm;
    FT_TRY(ft_ckpt_mode_parse(r->train_activation_checkpointing, &ckm));
    bool ckpt_on = false;
    { /* the memory plan: a run that cannot fit fails now, with the numbers, not after an hour */
        ft_mem_plan mp;
        const int64_t eb = r->eval_batch_size > 0 ? r->eval_batch_size : r->train_batch_size;
        ft_status ms = ft_mem_plan_run(m, (int)r->train_batch_size, (int)eb, ft_runcfg_plan_seq_len(r),
                                       !strcmp(r->optim_name, "sgd") ? (r->optim_momentum > 0 ? 1 : 0) : 2,
                                       ckm, (float)r->train_label_smoothing,
                                       world > 1 && !strcmp(r->train_zero, "1") ? world : 1, &mp);
        char line[400], plan[2048];
        ft_mem_estimate_format(&mp.e, line, sizeof line);
        ft_mem_plan_format(&mp, plan, sizeof plan);
        printf("%s; %.2f GiB available (%s)\n%s", line, (double)mp.limit / (1024.0 * 1024.0 * 1024.0),
               mp.limit_src, plan);
        if (ms != FT_OK)
            return ms;
        ckpt_on = mp.checkpoint;
        if (mp.auto_on)
            printf("activation checkpointing: on (train.activation_checkpointing auto: the run needs it to "
                   "fit)\n");
    }
    if (j->dry_run) {
        printf("dry run: the plan fits; nothing trained\n");
        return FT_OK;
    }
    fflush(stdout);

    ft_train_cfg tc;
    FT_TRY(ft_runcfg_train(r, steps, warmup, pad_id, &tc));
    tc.activation_checkpointing = ckpt_on;
    char ckroot[4096];
    tc.ckpt_root = ft_path_join(ckroot, sizeof ckroot, r->output_dir, "checkpoints");
    tc.recipe_yaml = j->yaml;
    tc.resume = resume[0] ? resume : NULL;
    tc.stop = &g_stop;
    tc.dist = j->dist;
    tc.log = j->log;
    tc.tb = j->tb;
    ft_progress_mode pm = !strcmp(r->report_progress, "quiet") ? FT_PROGRESS_QUIET
                          : !strcmp(r->report_progress, "tty") ? FT_PROGRESS_TTY
                          : !strcmp(r->report_progress, "plain") ? FT_PROGRESS_PLAIN
                                                                  : FT_PROGRESS_AUTO;
    if (rank > 0)
        pm = FT_PROGRESS_QUIET;
    ft_progress_init(&j->prog, stderr, pm, 0, steps, ft_now());
    j->prog.plain_interval = r->report_plain_interval;
    tc.progress = &j->prog;

    const bool launched = ft_dist_launched();
    const int kill_s = ft_dist_sigkill_timeout();
    if (world > 1 && kill_s > 0 && kill_s < 30)
        printf("Ctrl-C on mpirun leaves the ranks %d s to checkpoint (odls_base_sigkill_timeout): for longer "
               "steps give mpirun --mca odls_base_sigkill_timeout 60, or send it SIGUSR1\n",
               kill_s);
    fflush(stdout);
    g_stop = 0;
    struct sigaction sa, old, old_usr1, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    sigaction(SIGUSR1, &sa, &old_usr1);
    if (launched)
        sigaction(SIGTERM, &sa, &old_term);
    ft_status s = ft_train(m, &j->tr, j->va.n ? &j->va : NULL, &tc, &j->res);
    sigaction(SIGINT, &old, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
    if (launched)
        sigaction(SIGTERM, &old_term, NULL);
    j->have_res = true;
    if (s != FT_OK)
        return s;
    ft_train_result *res = &j->res;
    if (rank > 0) { /* the test set, the outputs and the report are rank 0's */
        if (res->end == FT_TRAIN_INTERRUPTED)
            *exit_code = 130;
        return FT_OK;
    }
    if (!isnan(res->eval_before) && res->has_eval)
        printf("eval loss: %.4f before, %.4f after\n", res->eval_before, res->eval.loss);
    printf("trained steps %lld..%lld, %lld tokens, %.0f tok/s; train loss %.4f -> %.4f%s\n",
           (long long)res->start_step, (long long)res->steps, (long long)res->tokens, res->tokens_per_s,
           res->first_loss, res->last_loss,
           res->end == FT_TRAIN_EARLY_STOPPED ? " (early stopping)" : "");
    if (world > 1)
        printf("data parallel: %d ranks, %.3f MB exchanged per step by each rank (gradients all-reduced%s); "
               "%s%s\n",
               world, (double)res->comm_bytes_per_step / 1e6,
               !strcmp(r->train_zero, "1") ? ", updated ZeRO-1 slices all-gathered" : "",
               res->ranks_agree ? "parameters bit-identical on every rank"
                                : "WARNING: the ranks' parameters differ (the output is rank 0's)",
               res->eval_sharded ? "; validation loss evaluated by every rank, batches sharded" : "");
    if (res->skipped)
        printf("%lld steps skipped for a non-finite loss or gradient\n", (long long)res->skipped);
    if (res->has_eval && !isnan(res->best_metric))
        printf("best %s %.4f at step %lld\n", r->eval_metric, res->best_metric, (long long)res->best_step);

    /* test set */
    ft_eval_result test = {0};
    bool has_test = false;
    if (res->end != FT_TRAIN_INTERRUPTED && j->te.n > 0) {
        ft_arena arena;
        int bs = r->eval_batch_size > 0 ? (int)r->eval_batch_size : (int)r->train_batch_size;
        FT_TRY(ft_arena_init(&arena, ft_model_act_bytes(m, bs, (int)tc.seq_len) + ((size_t)4 << 20)));
        s = ft_train_evaluate(m, &j->te, bs, (int)tc.seq_len, pad_id, &arena, &test);
        ft_arena_free(&arena);
        FT_TRY(s);
        has_test = true;
        printf("test: loss %.4f", test.loss);
        if (task == FT_TASK_MASKED_LM)
            printf(" perplexity %.4f (masked tokens, fixed masks)", test.perplexity);
        if (test.has_cls)
            printf(" accuracy %.4f f1_macro %.4f", test.cls.accuracy, test.cls.f1_macro);
        if (test.has_reg)
            printf(" mse %.4f mae %.4f r2 %.4f", test.reg.mse, test.reg.mae, test.reg.r2);
        if (test.has_qa)
            ft_cli_qa_print_score(&test.qa, stdout);
        if (test.has_gen)
            printf(" (%zu generated) rouge1 %.4f rouge2 %.4f rougeL %.4f bleu %.2f exact_match %.2f f1 %.2f",
                   test.gen.n, test.gen.rouge1, test.gen.rouge2, test.gen.rougeL, test.gen.bleu,
                   test.gen.exact_match, test.gen.f1);
        printf("\n");
        if (test.has_tag)
            ft_cli_print_tag_metrics(&test.tag, stdout);
        const char *keys[] = {"test/loss", "test/accuracy", "test/f1_macro", "test/mse"};
        double vals[] = {test.loss, ft_eval_metric(&test, "accuracy"), ft_eval_metric(&test, "f1_macro"),
                         ft_eval_metric(&test, "mse")};
        if (test.has_tag) { /* words: accuracy; entities' F1 (BIO tags) or the tags' macro-F1 */
            keys[2] = test.tag.entities ? "test/f1" : "test/f1_macro";
            vals[2] = ft_eval_metric(&test, test.tag.entities ? "f1" : "f1_macro");
        }
        if (test.has_gen) { /* seq2seq: the generated text's scores */
            const char *gk[] = {"test/loss",      "test/rouge1", "test/rouge2",      "test/rougeL",
                                "test/rougeLsum", "test/bleu",   "test/exact_match", "test/f1"};
            double gv[] = {test.loss,          test.gen.rouge1, test.gen.rouge2,      test.gen.rougeL,
                           test.gen.rougeLsum, test.gen.bleu,   test.gen.exact_match, test.gen.f1};
            s = ft_log_write(j->log, res->steps, (double)time(NULL), gk, gv, 8);
        } else
            s = ft_log_write(j->log, res->steps, (double)time(NULL), keys, vals,
                             test.has_cls || test.has_tag ? 3
                             : test.has_reg               ? 4
                                                          : 1);
    }
    if (s == FT_OK && res->end != FT_TRAIN_INTERRUPTED) {
        s = ft_runcfg_save(r, m);
        if (s == FT_OK)
            printf("saved %s\n", r->output_dir);
    }
    if (s == FT_OK && r->report_html) {
        char trainable[64], ckpt[4160];
        snprintf(trainable, sizeof trainable, "%lld of %lld (%.3f%%)", (long long)n_tr, (long long)n_all,
                 100.0 * (double)n_tr / (double)n_all);
        snprintf(ckpt, sizeof ckpt, "%s", res->checkpoint[0] ? res->checkpoint : "(none)");
        char ev[160] = "(no validation data)";
        if (res->has_eval)
            snprintf(ev, sizeof ev, "loss %.4f, %s %.4f (best %.4f at step %lld)", res->eval.loss, r->eval_metric,
                     ft_eval_metric(&res->eval, r->eval_metric), res->best_metric, (long long)res->best_step);
        char steps_s[96];
        snprintf(steps_s, sizeof steps_s, "%lld of %lld%s", (long long)res->steps, (long long)steps,
                 res->end == FT_TRAIN_EARLY_STOPPED ? " (early stopping)"
                 : res->end == FT_TRAIN_INTERRUPTED ? " (interrupted)" : "");
        ft_html_kv extra[] = {{"trainable parameters", trainable}, {"steps", steps_s},
                              {"validation", ev}, {"last checkpoint", ckpt}};
        const ft_metric_cls *cls = has_test && test.has_cls ? &test.cls : res->eval.has_cls ? &res->eval.cls : NULL;
        s = ft_run_report_write(r->output_dir, ft_log_path(j->log), r, extra, 4, cls,
                                cls && j->tr.label_names && (size_t)j->tr.n_labels == cls->n_classes
                                    ? (const char *const *)j->tr.label_names : NULL);
    }
    if (has_test)
        ft_eval_result_free(&test);
    if (s == FT_OK && res->end == FT_TRAIN_INTERRUPTED) {
        fprintf(stderr, "ftune train: interrupted at step %lld; checkpoint %s (continue with resume=%s)\n",
                (long long)res->steps, res->checkpoint, r->output_dir);
        *exit_code = 130;
    }
    return s;
}

int ft_cmd_train(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(TRAIN_USAGE, stdout);
            ft_recipe_print_help(stdout);
            return 0;
        }
    const char *model = NULL, *data = NULL, *eval = NULL, *outdir = NULL, *save_dtype = "f32",
               *precision = NULL, *method = NULL, *task = NULL, *adapter = NULL;
    long steps = 100, bs = 4, seq = 128, warmup = 0, threads = 0, seed = 42, eval_every = 0;
    double lr = 1e-4, wd = 0.0, clip = 1.0, min_lr = 1.0;
    bool quiet = false, act_ckpt = false, dry_run = false, help;
    ft_opt opts[] = {{"model", FT_OPT_STR, &model},
                     {"data", FT_OPT_STR, &data},
                     {"eval-data", FT_OPT_STR, &eval},
                     {"out", FT_OPT_STR, &outdir},
                     {"steps", FT_OPT_INT, &steps},
                     {"batch-size", FT_OPT_INT, &bs},
                     {"seq-len", FT_OPT_INT, &seq},
                     {"lr", FT_OPT_FLOAT, &lr},
                     {"warmup", FT_OPT_INT, &warmup},
                     {"min-lr-ratio", FT_OPT_FLOAT, &min_lr},
                     {"weight-decay", FT_OPT_FLOAT, &wd},
                     {"clip", FT_OPT_FLOAT, &clip},
                     {"eval-every", FT_OPT_INT, &eval_every},
                     {"threads", FT_OPT_INT, &threads},
                     {"seed", FT_OPT_INT, &seed},
                     {"save-dtype", FT_OPT_STR, &save_dtype},
                     {"quiet", FT_OPT_FLAG, &quiet},
                     {"precision", FT_OPT_STR, &precision},
                     {"activation-checkpointing", FT_OPT_FLAG, &act_ckpt},
                     {"dry-run", FT_OPT_FLAG, &dry_run},
                     {"method", FT_OPT_STR, &method},
                     {"task", FT_OPT_STR, &task},
                     {"adapter", FT_OPT_STR, &adapter}};
    const char *pos[256];
    int npos = 0;
    int rc = ft_cli_parse("train", argc, argv, opts, sizeof opts / sizeof *opts, TRAIN_USAGE, pos, 256, &npos, &help);
    if (rc || help)
        return rc;
    const bool flag_form = model || data || outdir;
    const char *recipe_path = NULL;
    job j;
    memset(&j, 0, sizeof j);
    ft_status s = ft_recipe_init(&j.r);
    if (s != FT_OK)
        return ft_cli_fail("train", s);
    for (int i = 0; s == FT_OK && i < npos; i++) {
        if (strchr(pos[i], '='))
            continue;
        if (recipe_path) {
            fprintf(stderr, "ftune train: one recipe file only ('%s' and '%s'); overrides are key=value\n",
                    recipe_path, pos[i]);
            ft_recipe_free(&j.r);
            return 2;
        }
        recipe_path = pos[i];
    }
    if (!recipe_path && !flag_form) {
        fprintf(stderr, "ftune train: give a recipe file (or --model, --data and --out); see ftune train --help\n");
        ft_recipe_free(&j.r);
        return 2;
    }
    if (recipe_path)
        s = ft_recipe_load_yaml(&j.r, recipe_path);
    if (s == FT_OK && flag_form) {
        if (!model || !data || !outdir) {
            fprintf(stderr, "ftune train: --model, --data and --out are required together\n");
            ft_recipe_free(&j.r);
            return 2;
        }
        if (steps <= 0 || bs <= 0 || seq < 2 || lr <= 0 || warmup < 0 || threads < 0 || min_lr < 0 || min_lr > 1 ||
            wd < 0 || clip < 0) {
            fprintf(stderr, "ftune train: out-of-range option (steps>0, batch-size>0, seq-len>=2, lr>0, ...)\n");
            ft_recipe_free(&j.r);
            return 2;
        }
        s = apply_flags(&j.r, model, data, eval, outdir, steps, bs, seq, lr, warmup, min_lr, wd, clip, eval_every,
                        threads, seed, save_dtype);
    }
    if (s == FT_OK && precision)
        s = ft_recipe_set(&j.r, "precision", precision, "--precision");
    if (s == FT_OK && method)
        s = ft_recipe_set(&j.r, "method", method, "--method");
    if (s == FT_OK && task)
        s = ft_recipe_set(&j.r, "task", task, "--task");
    if (s == FT_OK && adapter)
        s = ft_recipe_set(&j.r, "peft.init_from", adapter, "--adapter");
    for (int i = 0; s == FT_OK && i < npos; i++)
        if (strchr(pos[i], '='))
            s = ft_recipe_override(&j.r, pos[i]);
    if (s == FT_OK && quiet)
        s = ft_recipe_set(&j.r, "report.progress", "quiet", "--quiet");
    if (s == FT_OK && act_ckpt)
        s = ft_recipe_set(&j.r, "train.activation_checkpointing", "true", "--activation-checkpointing");
    int code = 0;
    j.dry_run = dry_run;
    if (s == FT_OK)
        s = run_job(&j, &code);
    ft_dist *dist = j.dist;
    job_free(&j);
    if (s != FT_OK && ft_dist_size(dist) > 1) { /* say which rank failed, then stop the others */
        fprintf(stderr, "ftune train: rank %d of %d: %s\n", ft_dist_rank(dist), ft_dist_size(dist),
                ft_last_error()[0] ? ft_last_error() : ft_status_name(s));
        fflush(stderr);
        ft_dist_end(dist, true);
    }
    ft_dist_end(dist, false);
    return s == FT_OK ? code : ft_cli_fail("train", s);
}
