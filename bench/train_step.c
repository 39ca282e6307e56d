/* bench/train_step: training tokens/s and peak RSS of one full training step (forward, backward,
 * clipping, AdamW) at a model shape, on random weights and tokens. Median of the timed steps. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "train/optim.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *shape = "gpt2", *method = "full";
    int B = 4, T = 128, steps = 5, warmup = 1, threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shape") && i + 1 < argc)
            shape = argv[++i];
        else if (!strcmp(argv[i], "--method") && i + 1 < argc)
            method = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seq") && i + 1 < argc)
            T = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
            warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: train_step [--shape gpt2|smollm2|tiny] [--method full] [--batch 4] [--seq 128]\n"
                            "                  [--steps 5] [--warmup 1] [--threads 2]\n");
            return 2;
        }
    }
    if (strcmp(method, "full") != 0) {
        fprintf(stderr, "train_step: method '%s' not available yet (full)\n", method);
        return 2;
    }
    omp_set_num_threads(threads);
    const char *cfg_txt;
    if (!strcmp(shape, "gpt2"))
        cfg_txt = "{\"model_type\": \"gpt2\", \"vocab_size\": 50257, \"n_embd\": 768, \"n_layer\": 12, \"n_head\": 12,"
                  " \"n_positions\": 1024, \"resid_pdrop\": 0.0, \"embd_pdrop\": 0.0, \"attn_pdrop\": 0.0}";
    else if (!strcmp(shape, "smollm2"))
        cfg_txt = "{\"model_type\": \"llama\", \"vocab_size\": 49152, \"hidden_size\": 576, \"intermediate_size\": 1536,"
                  " \"num_hidden_layers\": 30, \"num_attention_heads\": 9, \"num_key_value_heads\": 3,"
                  " \"max_position_embeddings\": 2048, \"tie_word_embeddings\": true, \"rms_norm_eps\": 1e-5,"
                  " \"rope_theta\": 100000}";
    else if (!strcmp(shape, "tiny"))
        cfg_txt = "{\"model_type\": \"gpt2\", \"vocab_size\": 512, \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4,"
                  " \"n_positions\": 256}";
    else {
        fprintf(stderr, "train_step: unknown shape '%s'\n", shape);
        return 2;
    }
    ft_model_config cfg;
    ft_model *m;
    if (ft_config_parse(cfg_txt, shape, &cfg) != FT_OK || ft_model_init_random(&cfg, 1, &m) != FT_OK) {
        fprintf(stderr, "train_step: %s\n", ft_last_error());
        return 1;
    }
    for (int i = 0; i < m->n_params; i++)
        ft_model_set_trainable(m, i, true);
    ft_optim_cfg ac;
    ft_optim_cfg_default(&ac);
    ft_optim opt;
    ft_arena arena;
    if (ft_optim_init(&opt, m, &ac) != FT_OK || ft_arena_init(&arena, ft_model_act_bytes(m, B, T) + (1 << 20)) != FT_OK) {
        fprintf(stderr, "train_step: %s\n", ft_last_error());
        return 1;
    }
    int32_t *ids = malloc((size_t)B * (size_t)T * sizeof *ids);
    for (int i = 0; i < B * T; i++)
        ids[i] = (int32_t)(ft_rng_u64(5, 0, (uint64_t)i) % (uint64_t)m->cfg.vocab_size);
    ft_batch b = {.B = B, .T = T, .input_ids = ids};
    double *times = malloc((size_t)(steps + warmup) * sizeof *times);
    double loss = 0;
    for (int s = 0; s < steps + warmup; s++) {
        double t0 = ft_now();
        ft_arena_reset(&arena);
        ft_model_zero_grad(m);
        ft_fwd_opts o = {.training = true, .seed = 1, .step = (uint64_t)s};
        ft_acts *a;
        int64_t cnt;
        if (ft_model_forward(m, &b, &o, &arena, &a, &loss, &cnt) != FT_OK ||
            ft_model_backward(m, a, &arena, 1.0f) != FT_OK) {
            fprintf(stderr, "train_step: %s\n", ft_last_error());
            return 1;
        }
        ft_clip_grad_norm(m, 1.0);
        ft_optim_update(&opt, m, 1e-5f);
        times[s] = ft_now() - t0;
    }
    qsort(times + warmup, (size_t)steps, sizeof *times, cmp_d);
    double med = times[warmup + steps / 2];
    const ft_model_config *c = &m->cfg;
    /* FLOPs: 6 per parameter-token for the matmuls with trainable weights (2 fwd + 4 bwd), counting the
     * lm_head once, plus attention scores/values 2·2·T·D·H per token per layer forward, ×3 with backward. */
    double n_mat = (double)ft_model_param_count(m, false) - (double)c->hidden * (c->arch == FT_ARCH_GPT2 ? c->max_pos : 0);
    double flops = 6.0 * n_mat * B * T + 3.0 * 4.0 * (double)B * T * T * c->head_dim * c->n_heads * c->n_layers / 2.0;
    printf("train_step shape=%s method=%s batch=%dx%d threads=%d params=%.1fM\n", shape, method, B, T, threads,
           (double)ft_model_param_count(m, false) / 1e6);
    printf("  step median %.3f s (min %.3f, max %.3f over %d)\n", med, times[warmup], times[warmup + steps - 1], steps);
    printf("  tokens/s %.1f\n", (double)(B * T) / med);
    printf("  GFLOP/s %.1f\n", flops / med / 1e9);
    printf("  peak RSS %.2f GiB\n", (double)ft_peak_rss_bytes() / (1024.0 * 1024.0 * 1024.0));
    printf("  loss %.4f\n", loss);
    free(times);
    free(ids);
    ft_arena_free(&arena);
    ft_optim_free(&opt);
    ft_model_free(m);
    return 0;
}
