/* ftune train: a run from a YAML recipe with key=value overrides (and the older flag form), on the public
 * API (issue 17): the trainer of ftune_trainer_create with opts.command does the run and hands this command
 * every text it prints. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

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
    "  --clip X (train.max_grad_norm)  --eval-every N  --threads N  --seed N  --save-dtype f32|bf16|int8\n"
    "  --quiet (report.progress=quiet)  --activation-checkpointing (train.activation_checkpointing=true)\n"
    "  --dry-run: load, attach the method, print the memory plan (weights by storage, gradients, optimizer,\n"
    "  activations with and without checkpointing, LM head chunk, KV cache) and stop; exit 1 if it does not\n"
    "  fit (FTUNE_MEM_LIMIT=6G fakes the memory size, else MemAvailable or the memory cgroup's limit);\n"
    "  a base larger than that is streamed layer by layer from its file (train.stream_base=auto)\n"
    "Also with a recipe (a key=value override wins over them):\n"
    "  --precision fp32|bf16 (precision)  --method M (method)  --task T (task)\n"
    "  --adapter DIR (peft.init_from: continue training that PEFT adapter; its adapter_config.json sets the\n"
    "  method and its options, recipe keys may only repeat them)\n"
    "Flag-form defaults: 100 steps, batch 4, seq-len 128, lr 1e-4, constant schedule.\n"
    "\n"
    "Recipe keys:\n";

/* The run a signal stops: SIGINT (Ctrl-C), SIGUSR1 (what mpirun forwards to every rank), and under an MPI
 * launcher SIGTERM (what mpirun sends every rank on Ctrl-C, odls_base_sigkill_timeout seconds before its
 * SIGKILL: docs/distributed.md). The handler only asks it to stop (async-signal-safe) and restores the
 * default, so a second signal kills at once. */
static ftune_trainer *volatile g_run;

static void on_sigint(int sig) {
    ftune_trainer *t = g_run;
    if (t)
        ftune_trainer_request_stop(t);
    signal(sig, SIG_DFL);
}

static void on_output(void *user, int stream, const char *text) {
    (void)user;
    fputs(text, stream == FTUNE_STDERR ? stderr : stdout);
}

static int set_num(ftune_trainer *t, const char *key, double v) {
    char b[64];
    snprintf(b, sizeof b, "%.17g", v);
    return ftune_trainer_set_key(t, key, b, NULL);
}

#define TRY(x)                                                                                               \
    do {                                                                                                     \
        ft_status s_ = (x);                                                                                  \
        if (s_ != FT_OK)                                                                                     \
            return s_;                                                                                       \
    } while (0)

/* Legacy flags → recipe keys (flag-form defaults first). */
static ft_status apply_flags(ftune_trainer *t, const char *model, const char *data, const char *eval,
                             const char *out, long steps, long bs, long seq, double lr, long warmup,
                             double min_lr, double wd, double clip, long eval_every, long threads, long seed,
                             const char *save_dtype) {
    if (model)
        TRY(ftune_trainer_set_key(t, "model", model, "--model"));
    if (data) {
        TRY(ftune_trainer_set_key(t, "data.train", data, "--data"));
        TRY(ftune_trainer_set_key(t, "data.format", "pretokenized", "--data"));
    }
    if (eval)
        TRY(ftune_trainer_set_key(t, "data.validation", eval, "--eval-data"));
    if (out)
        TRY(ftune_trainer_set_key(t, "output_dir", out, "--out"));
    TRY(set_num(t, "train.max_steps", (double)steps));
    TRY(set_num(t, "train.batch_size", (double)bs));
    TRY(set_num(t, "train.seq_len", (double)seq));
    TRY(set_num(t, "optim.lr", lr));
    TRY(set_num(t, "optim.warmup_steps", (double)warmup));
    TRY(ftune_trainer_set_key(t, "optim.schedule", min_lr < 1.0 ? "cosine" : "constant", "--min-lr-ratio"));
    TRY(set_num(t, "optim.min_lr_ratio", min_lr < 1.0 ? min_lr : 0.0));
    TRY(set_num(t, "optim.weight_decay", wd));
    TRY(set_num(t, "train.max_grad_norm", clip));
    TRY(set_num(t, "eval.every", (double)eval_every));
    TRY(set_num(t, "threads", (double)threads));
    TRY(set_num(t, "seed", (double)seed));
    return ftune_trainer_set_key(t, "save_dtype", save_dtype, "--save-dtype");
}

/* The run: prepare (the summary and the memory plan), the loop under the signal handlers, then its end (the
 * test split, the save, report.html). *exit_code: 130 when a signal stopped it. */
static ft_status run(ftune_trainer *t, bool dry_run, int *exit_code) {
    TRY(ftune_trainer_prepare(t));
    if (dry_run)
        return FT_OK;
    fflush(stdout);
    ftune_trainer_state st;
    ftune_trainer_state_init(&st);
    TRY(ftune_trainer_get_state(t, &st));
    const bool launched = st.launched;
    g_run = t;
    struct sigaction sa, old, old_usr1, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    sigaction(SIGUSR1, &sa, &old_usr1);
    if (launched)
        sigaction(SIGTERM, &sa, &old_term);
    int done = 0;
    ft_status s = FT_OK;
    while (s == FT_OK && !done)
        s = ftune_trainer_step(t, &done);
    sigaction(SIGINT, &old, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
    if (launched)
        sigaction(SIGTERM, &old_term, NULL);
    g_run = NULL;
    TRY(s);
    TRY(ftune_trainer_finish(t));
    TRY(ftune_trainer_get_state(t, &st));
    if (st.stopped) {
        if (st.rank == 0) {
            ftune_trainer_info info;
            TRY(ftune_trainer_get_info(t, &info));
            fprintf(stderr,
                    "ftune train: interrupted at step %lld; checkpoint %s (continue with resume=%s)\n",
                    (long long)st.step, st.checkpoint, info.output_dir);
        }
        *exit_code = 130;
    }
    return FT_OK;
}

int ft_cmd_train(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            ftune_ctx *ctx = ft_cli_ctx("train", 0);
            char *keys = NULL;
            if (!ctx)
                return 1;
            if (ftune_recipe_help(ctx, &keys) != FT_OK) {
                const int rc = ft_cli_fail_ctx("train", ctx);
                ftune_ctx_free(ctx);
                return rc;
            }
            fputs(TRAIN_USAGE, stdout);
            fputs(keys, stdout);
            ftune_free(keys);
            ftune_ctx_free(ctx);
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
    ftune_ctx *ctx = ft_cli_ctx("train", 0);
    if (!ctx)
        return 1;
    ftune_trainer_opts o;
    ftune_trainer_opts_init(&o);
    o.command = 1;
    o.on_output = on_output;
    o.progress = stderr;
    o.distributed = 1;
    o.dry_run = dry_run;
    o.separate_finish = 1;
    ftune_trainer *t = NULL;
    ft_status s = ftune_trainer_create(ctx, &o, &t);
    if (s != FT_OK) {
        rc = ft_cli_fail_ctx("train", ctx);
        ftune_ctx_free(ctx);
        return rc;
    }
    int usage = 0;
    for (int i = 0; i < npos; i++) {
        if (strchr(pos[i], '='))
            continue;
        if (recipe_path) {
            fprintf(stderr, "ftune train: one recipe file only ('%s' and '%s'); overrides are key=value\n",
                    recipe_path, pos[i]);
            usage = 1;
            break;
        }
        recipe_path = pos[i];
    }
    if (!usage && !recipe_path && !flag_form) {
        fprintf(stderr, "ftune train: give a recipe file (or --model, --data and --out); see ftune train --help\n");
        usage = 1;
    }
    if (!usage && recipe_path)
        s = ftune_trainer_load_recipe(t, recipe_path);
    if (!usage && s == FT_OK && flag_form) {
        if (!model || !data || !outdir) {
            fprintf(stderr, "ftune train: --model, --data and --out are required together\n");
            usage = 1;
        } else if (steps <= 0 || bs <= 0 || seq < 2 || lr <= 0 || warmup < 0 || threads < 0 || min_lr < 0 ||
                   min_lr > 1 || wd < 0 || clip < 0) {
            fprintf(stderr, "ftune train: out-of-range option (steps>0, batch-size>0, seq-len>=2, lr>0, ...)\n");
            usage = 1;
        } else
            s = apply_flags(t, model, data, eval, outdir, steps, bs, seq, lr, warmup, min_lr, wd, clip,
                            eval_every, threads, seed, save_dtype);
    }
    if (usage) {
        ftune_trainer_free(t);
        ftune_ctx_free(ctx);
        return 2;
    }
    if (s == FT_OK && precision)
        s = ftune_trainer_set_key(t, "precision", precision, "--precision");
    if (s == FT_OK && method)
        s = ftune_trainer_set_key(t, "method", method, "--method");
    if (s == FT_OK && task)
        s = ftune_trainer_set_key(t, "task", task, "--task");
    if (s == FT_OK && adapter)
        s = ftune_trainer_set_key(t, "peft.init_from", adapter, "--adapter");
    for (int i = 0; s == FT_OK && i < npos; i++)
        if (strchr(pos[i], '='))
            s = ftune_trainer_override(t, pos[i]);
    if (s == FT_OK && quiet)
        s = ftune_trainer_set_key(t, "report.progress", "quiet", "--quiet");
    if (s == FT_OK && act_ckpt)
        s = ftune_trainer_set_key(t, "train.activation_checkpointing", "true", "--activation-checkpointing");
    int code = 0;
    if (s == FT_OK)
        s = run(t, dry_run, &code);
    ftune_trainer_state st;
    ftune_trainer_state_init(&st);
    if (s != FT_OK && ftune_trainer_get_state(t, &st) == FT_OK && st.world > 1) { /* which rank failed */
        const char *e = ftune_last_error(ctx);
        fprintf(stderr, "ftune train: rank %d of %d: %s\n", st.rank, st.world,
                e[0] ? e : ftune_status_name(ftune_last_status(ctx)));
        fflush(stderr);
    }
    ftune_trainer_free(t); /* leaves the MPI job; a failed run's stops the other ranks */
    if (s != FT_OK)
        code = ft_cli_fail_ctx("train", ctx);
    ftune_ctx_free(ctx);
    return code;
}
