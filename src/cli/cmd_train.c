/* ftune train: full fine-tuning on pre-tokenized JSONL (the recipe-driven trainer extends this). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "train/trainer.h"

static const char *TRAIN_USAGE =
    "usage: ftune train --model DIR --data train.jsonl --out DIR [options]\n"
    "\n"
    "Full fine-tuning with AdamW on pre-tokenized JSONL: one {\"input_ids\": [...], \"labels\": [...]} per line\n"
    "(labels optional, default input_ids; -100 = no loss). Saves config.json + model.safetensors in --out.\n"
    "  --eval-data FILE   held-out JSONL: mean loss printed before and after training\n"
    "  --steps N          optimizer steps (default 100)\n"
    "  --batch-size N     examples per step (default 4)\n"
    "  --seq-len N        truncate examples to N tokens (default 128)\n"
    "  --lr X             peak learning rate (default 1e-4)\n"
    "  --warmup N         linear warm-up steps (default 0)\n"
    "  --min-lr-ratio X   cosine decay to lr*X after warm-up (default 1 = constant)\n"
    "  --weight-decay X   AdamW decoupled weight decay on matrices (default 0)\n"
    "  --clip X           global gradient-norm clipping (default 1.0, 0 = off)\n"
    "  --eval-every N     evaluate every N steps (default: only before and after)\n"
    "  --threads N        OpenMP threads (default: all cores)\n"
    "  --seed N           seed for shuffling and dropout (default 42)\n"
    "  --save-dtype f32|bf16  dtype of the saved weights (default f32)\n"
    "  --quiet            no per-step lines\n";

int ft_cmd_train(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *eval = NULL, *outdir = NULL, *save_dtype = "f32";
    long steps = 100, bs = 4, seq = 128, warmup = 0, threads = 0, seed = 42, eval_every = 0;
    double lr = 1e-4, wd = 0.0, clip = 1.0, min_lr = 1.0;
    bool quiet = false, help;
    ft_opt opts[] = {{"model", FT_OPT_STR, &model},        {"data", FT_OPT_STR, &data},
                     {"eval-data", FT_OPT_STR, &eval},     {"out", FT_OPT_STR, &outdir},
                     {"steps", FT_OPT_INT, &steps},        {"batch-size", FT_OPT_INT, &bs},
                     {"seq-len", FT_OPT_INT, &seq},        {"lr", FT_OPT_FLOAT, &lr},
                     {"warmup", FT_OPT_INT, &warmup},      {"min-lr-ratio", FT_OPT_FLOAT, &min_lr},
                     {"weight-decay", FT_OPT_FLOAT, &wd},  {"clip", FT_OPT_FLOAT, &clip},
                     {"eval-every", FT_OPT_INT, &eval_every}, {"threads", FT_OPT_INT, &threads},
                     {"seed", FT_OPT_INT, &seed},          {"save-dtype", FT_OPT_STR, &save_dtype},
                     {"quiet", FT_OPT_FLAG, &quiet}};
    int rc = ft_cli_parse("train", argc, argv, opts, sizeof opts / sizeof *opts, TRAIN_USAGE, NULL, 0, NULL, &help);
    if (rc || help)
        return rc;
    if (!model || !data || !outdir) {
        fprintf(stderr, "ftune train: --model, --data and --out are required\n%s", TRAIN_USAGE);
        return 2;
    }
    if (steps <= 0 || bs <= 0 || bs > 1024 || seq < 2 || lr <= 0 || warmup < 0 || threads < 0 || min_lr < 0 ||
        min_lr > 1 || wd < 0 || clip < 0) {
        fprintf(stderr, "ftune train: out-of-range option (steps>0, 0<batch-size<=1024, seq-len>=2, lr>0, ...)\n");
        return 2;
    }
    if (strcmp(save_dtype, "f32") && strcmp(save_dtype, "bf16")) {
        fprintf(stderr, "ftune train: --save-dtype must be f32 or bf16\n");
        return 2;
    }
    ft_ctx ctx;
    ft_ctx_default(&ctx);
    if (threads > 0)
        ctx.threads = (int)threads;
    ctx.seed = (uint64_t)seed;
    ft_ctx_apply(&ctx);

    ft_model *m = NULL;
    ft_dataset tr = {0}, ev = {0};
    ft_status s = ft_model_load(model, &m);
    if (s == FT_OK)
        s = ft_dataset_load_pretok(data, &tr);
    if (s == FT_OK && eval)
        s = ft_dataset_load_pretok(eval, &ev);
    for (int i = 0; s == FT_OK && i < m->n_params; i++)
        s = ft_model_set_trainable(m, i, true);
    if (s != FT_OK) {
        ft_dataset_free(&tr);
        ft_dataset_free(&ev);
        ft_model_free(m);
        return ft_cli_fail("train", s);
    }
    printf("model %s (%s), %lld parameters, all trainable; %zu training examples%s\n", model, m->cfg.model_type,
           (long long)ft_model_param_count(m, false), tr.n, eval ? "" : ", no evaluation data");
    ft_train_cfg cfg;
    ft_train_cfg_default(&cfg);
    cfg.steps = (int)steps;
    cfg.batch_size = (int)bs;
    cfg.seq_len = (int)seq;
    cfg.lr = (float)lr;
    cfg.warmup_steps = (int)warmup;
    cfg.min_lr_ratio = (float)min_lr;
    cfg.clip_norm = (float)clip;
    cfg.eval_every = (int)eval_every;
    cfg.seed = (uint64_t)seed;
    cfg.adamw.weight_decay = (float)wd;
    cfg.log = quiet ? NULL : stdout;
    ft_train_result res;
    s = ft_train(m, &tr, eval ? &ev : NULL, &cfg, &res);
    if (s == FT_OK) {
        if (eval)
            printf("eval loss: %.4f before, %.4f after\n", res.eval_before, res.eval_after);
        printf("trained %d steps, %lld tokens, %.0f tok/s; train loss %.4f -> %.4f\n", cfg.steps,
               (long long)res.tokens, res.tokens_per_s, res.first_loss, res.last_loss);
        s = ft_model_save(m, outdir, !strcmp(save_dtype, "bf16") ? FT_DT_BF16 : FT_DT_F32);
        if (s == FT_OK)
            printf("saved %s\n", outdir);
    }
    ft_dataset_free(&tr);
    ft_dataset_free(&ev);
    ft_model_free(m);
    return s == FT_OK ? 0 : ft_cli_fail("train", s);
}
