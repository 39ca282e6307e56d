/* bench/generate: greedy generation tokens/s against prompt length, with the KV cache (ft_gen_run: one
 * position per new token) and without (a full forward over the whole sequence for every new token).
 * With the cache the rate should stay roughly flat as the prompt grows; without it it falls ~1/length.
 * Random weights and prompt ids; the two must produce the same tokens (checked). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/generate.h"

static const char *SHAPES[][2] = {
    {"tiny", "{\"model_type\": \"gpt2\", \"vocab_size\": 512, \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
             "\"n_positions\": 1024}"},
    {"gpt2", "{\"model_type\": \"gpt2\", \"vocab_size\": 50257, \"n_embd\": 768, \"n_layer\": 12, \"n_head\": 12, "
             "\"n_positions\": 1024}"},
};

/* new tokens by recomputing the whole prefix each step; returns seconds, ids into out */
static double no_cache(ft_model *m, const int32_t *prompt, int np, int n_new, int32_t *out) {
    int32_t *seq = malloc((size_t)(np + n_new) * sizeof *seq);
    memcpy(seq, prompt, (size_t)np * sizeof *seq);
    ft_arena ar;
    if (ft_arena_init(&ar, ft_model_act_bytes(m, 1, np + n_new) + ((size_t)16 << 20)) != FT_OK) {
        free(seq);
        return -1;
    }
    const int V = m->cfg.vocab_size;
    double t0 = ft_now();
    for (int t = 0; t < n_new; t++) {
        int n = np + t;
        ft_arena_reset(&ar);
        ft_batch b = {.B = 1, .T = n, .input_ids = seq};
        ft_fwd_opts o = {.keep_logits = true, .no_loss = true};
        ft_acts *a;
        double loss;
        int64_t cnt;
        if (ft_model_forward(m, &b, &o, &ar, &a, &loss, &cnt) != FT_OK) {
            fprintf(stderr, "forward: %s\n", ft_last_error());
            break;
        }
        const float *lg = ft_acts_logits(a, NULL, NULL) + (size_t)(n - 1) * (size_t)V;
        int best = 0;
        for (int k = 1; k < V; k++)
            best = lg[k] > lg[best] ? k : best;
        seq[n] = out[t] = best;
    }
    double dt = ft_now() - t0;
    ft_arena_free(&ar);
    free(seq);
    return dt;
}

int main(int argc, char **argv) {
    const char *shape = "tiny", *lens = "16,64,256,512";
    int n_new = 32, threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shape") && i + 1 < argc)
            shape = argv[++i];
        else if (!strcmp(argv[i], "--prompt-lens") && i + 1 < argc)
            lens = argv[++i];
        else if (!strcmp(argv[i], "--new") && i + 1 < argc)
            n_new = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: generate [--shape tiny|gpt2] [--prompt-lens 16,64,256,512] [--new 32] [--threads 1]\n");
            return 2;
        }
    }
    const char *cfg_json = NULL;
    for (size_t k = 0; k < sizeof SHAPES / sizeof *SHAPES; k++)
        if (!strcmp(shape, SHAPES[k][0]))
            cfg_json = SHAPES[k][1];
    if (!cfg_json || n_new <= 0) {
        fprintf(stderr, "unknown shape '%s' or --new <= 0\n", shape);
        return 2;
    }
    omp_set_num_threads(threads);
    ft_model_config cfg;
    ft_model *m;
    if (ft_config_parse(cfg_json, shape, &cfg) != FT_OK || ft_model_init_random(&cfg, 1, &m) != FT_OK) {
        fprintf(stderr, "%s\n", ft_last_error());
        return 1;
    }
    printf("shape %s, %d new tokens, %d thread(s)\n", shape, n_new, threads);
    printf("%10s %14s %14s %8s\n", "prompt", "cache tok/s", "no-cache tok/s", "same");
    int rc = 0;
    for (const char *p = lens; *p;) {
        int np = atoi(p);
        const char *c = strchr(p, ',');
        p = c ? c + 1 : p + strlen(p);
        if (np <= 0 || np + n_new > m->cfg.max_pos) {
            fprintf(stderr, "prompt length %d + %d new exceeds the %d positions\n", np, n_new, m->cfg.max_pos);
            rc = 1;
            continue;
        }
        int32_t *prompt = malloc((size_t)np * sizeof *prompt), *ref = malloc((size_t)n_new * sizeof *ref);
        for (int i = 0; i < np; i++)
            prompt[i] = (int32_t)(ft_rng_u64(7, 1, (uint64_t)i) % (uint64_t)m->cfg.vocab_size);
        ft_gen_cfg gc;
        ft_gen_cfg_default(&gc);
        gc.max_new_tokens = n_new;
        ft_gen_out g;
        if (ft_gen_run(m, NULL, prompt, np, &gc, &g) != FT_OK) {
            fprintf(stderr, "%s\n", ft_last_error());
            free(prompt);
            free(ref);
            rc = 1;
            break;
        }
        double nc = no_cache(m, prompt, np, n_new, ref);
        /* the decode rate: tokens after the first (which the prompt's pass yields) over the decode time */
        double cache_rate = g.decode_s > 0 ? g.n_ids / g.decode_s : 0;
        bool same = g.n_ids == n_new && !memcmp(g.ids, ref, (size_t)n_new * sizeof *ref);
        printf("%10d %14.1f %14.1f %8s\n", np, cache_rate, nc > 0 ? n_new / nc : 0, same ? "yes" : "NO");
        rc |= !same;
        ft_gen_out_free(&g);
        free(prompt);
        free(ref);
    }
    ft_model_free(m);
    return rc;
}
