/* bench/generate: greedy generation tokens/s against prompt length, with the KV cache (ft_gen_run: one
 * position per new token) and without (a full forward over the whole sequence for every new token).
 * With the cache the rate should stay roughly flat as the prompt grows; without it it falls ~1/length.
 * Random weights and prompt ids; the two must produce the same tokens (checked).
 * --shape t5-small: the encoder-decoder (source lengths instead of prompt lengths), rates end to end (the
 * source's encoding included): greedy with the caches and without (encoder and decoder rerun over the source
 * and all decoder ids per token), beam search with 4 beams (steps/s: one new position of every beam), and the
 * cost of a beam step's cache reordering (ft_kv_reorder) against the step itself (ft_infer_rows). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/generate.h"
#include "models/infer.h"

static const char *SHAPES[][2] = {
    {"tiny", "{\"model_type\": \"gpt2\", \"vocab_size\": 512, \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
             "\"n_positions\": 1024}"},
    {"gpt2",
     "{\"model_type\": \"gpt2\", \"vocab_size\": 50257, \"n_embd\": 768, \"n_layer\": 12, \"n_head\": 12, "
     "\"n_positions\": 1024}"},
    /* t5-small's shape (60.5M parameters); no eos, so every run writes all its tokens */
    {"t5-small",
     "{\"model_type\": \"t5\", \"vocab_size\": 32128, \"d_model\": 512, \"d_kv\": 64, \"d_ff\": 2048, "
     "\"num_layers\": 6, \"num_heads\": 8, \"eos_token_id\": null}"},
    {"t5-tiny", "{\"model_type\": \"t5\", \"vocab_size\": 512, \"d_model\": 64, \"d_kv\": 16, \"d_ff\": 128, "
                "\"num_layers\": 2, \"num_heads\": 4, \"eos_token_id\": null}"},
};

/* T5 greedy without caches: for every new token the whole forward (encoder over the source, decoder over
 * [start, ids so far]); seconds, ids into out. */
static double t5_no_cache(ft_model *m, const int32_t *src, int ns, int n_new, int32_t *out) {
    int32_t *dec = malloc((size_t)(n_new + 1) * sizeof *dec);
    ft_arena ar;
    const ft_fwd_opts o = {.keep_logits = true, .no_loss = true};
    if (!dec || ft_arena_init(&ar, ft_model_act_bytes_opts(m, 1, ns > n_new ? ns : n_new, &o) +
                                       ((size_t)16 << 20)) != FT_OK) {
        free(dec);
        return -1;
    }
    dec[0] = (int32_t)m->cfg.decoder_start_id;
    const int V = m->cfg.vocab_size;
    double t0 = ft_now();
    for (int t = 0; t < n_new; t++) {
        ft_arena_reset(&ar);
        ft_batch b = {.B = 1, .T = ns, .input_ids = (int32_t *)src, .T_dec = t + 1, .decoder_input_ids = dec};
        ft_acts *a;
        double loss;
        if (ft_model_forward(m, &b, &o, &ar, &a, &loss, NULL) != FT_OK) {
            fprintf(stderr, "forward: %s\n", ft_last_error());
            break;
        }
        const float *lg = ft_acts_logits(a, NULL, NULL) + (size_t)t * (size_t)V;
        int best = 0;
        for (int k = 1; k < V; k++)
            best = lg[k] > lg[best] ? k : best;
        dec[t + 1] = out[t] = best;
    }
    double dt = ft_now() - t0;
    ft_arena_free(&ar);
    free(dec);
    return dt;
}

/* A beam step's parts at position n_new of 4 rows: the step (ft_infer_rows) and the reordering of the caches
 * (ft_kv_reorder with a permutation), mean milliseconds over the n_new steps. */
static int t5_reorder_cost(ft_model *m, const int32_t *src, int ns, int n_new, double *step_ms,
                           double *reorder_ms) {
    ft_kv *kv = NULL;
    float *lg = malloc((size_t)4 * (size_t)m->cfg.vocab_size * sizeof *lg);
    const int32_t perm[4] = {1, 0, 0, 2};
    int32_t ids[4] = {0, 0, 0, 0};
    double ts = 0, tr = 0;
    ft_status s = lg ? ft_kv_new_rows(m, 4, n_new, &kv) : FT_ERR_NOMEM;
    if (s == FT_OK)
        s = ft_kv_encode(m, kv, src, ns);
    for (int t = 0; s == FT_OK && t < n_new; t++) {
        double t0 = ft_now();
        s = ft_infer_rows(m, kv, ids, lg);
        ts += ft_now() - t0;
        t0 = ft_now();
        if (s == FT_OK)
            s = ft_kv_reorder(kv, perm);
        tr += ft_now() - t0;
        for (int r = 0; r < 4; r++)
            ids[r] = (int32_t)(3 + (t * 7 + r) % 100);
    }
    ft_kv_free(kv);
    free(lg);
    *step_ms = ts / n_new * 1e3;
    *reorder_ms = tr / n_new * 1e3;
    return s == FT_OK ? 0 : 1;
}

static int bench_t5(ft_model *m, const char *lens, int n_new) {
    printf("%10s %14s %14s %8s %14s %12s %12s\n", "source", "greedy tok/s", "no-cache tok/s", "same",
           "beam4 steps/s", "step ms", "reorder ms");
    int rc = 0;
    for (const char *p = lens; *p;) {
        int ns = atoi(p);
        const char *c = strchr(p, ',');
        p = c ? c + 1 : p + strlen(p);
        if (ns <= 0)
            continue;
        int32_t *src = malloc((size_t)ns * sizeof *src), *ref = malloc((size_t)n_new * sizeof *ref);
        for (int i = 0; i < ns; i++)
            src[i] = (int32_t)(2 + ft_rng_u64(7, 1, (uint64_t)i) % (uint64_t)(m->cfg.vocab_size - 2));
        ft_gen_cfg gc;
        ft_gen_cfg_default(&gc);
        gc.max_new_tokens = n_new;
        ft_gen_out g = {0}, gb = {0};
        ft_status s = ft_gen_run(m, NULL, src, ns, &gc, &g);
        gc.num_beams = 4;
        if (s == FT_OK)
            s = ft_gen_run(m, NULL, src, ns, &gc, &gb);
        double step_ms = 0, reorder_ms = 0;
        if (s != FT_OK || t5_reorder_cost(m, src, ns, n_new, &step_ms, &reorder_ms)) {
            fprintf(stderr, "%s\n", ft_last_error());
            rc = 1;
        } else {
            double nc = t5_no_cache(m, src, ns, n_new, ref);
            bool same = g.n_ids == n_new && !memcmp(g.ids, ref, (size_t)n_new * sizeof *ref);
            /* end to end (the source's encoding included): new ids over all the time; beam: its steps */
            printf("%10d %14.1f %14.1f %8s %14.1f %12.2f %12.3f\n", ns, g.n_ids / (g.prefill_s + g.decode_s),
                   nc > 0 ? n_new / nc : 0, same ? "yes" : "NO",
                   gb.decode_s > 0 ? gb.n_steps / (gb.decode_s + gb.prefill_s) : 0, step_ms, reorder_ms);
            rc |= !same;
        }
        ft_gen_out_free(&g);
        ft_gen_out_free(&gb);
        free(src);
        free(ref);
    }
    return rc;
}

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
            fprintf(stderr,
                    "usage: generate [--shape tiny|gpt2|t5-small|t5-tiny] [--prompt-lens 16,64,256,512] "
                    "[--new 32] [--threads 1]\n");
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
    if (ft_model_is_t5(m)) {
        int rc = bench_t5(m, lens, n_new);
        ft_model_free(m);
        return rc;
    }
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
