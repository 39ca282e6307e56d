/* Sampling: exact distributions on hand-made logits (penalty, temperature, top-k, top-p, greedy),
 * seeded determinism, draw frequencies, and the KV-cache generation loop against a recomputed forward. */
#include <stdlib.h>

#include "eval/generate.h"
#include "ft_test.h"
#include "models/infer.h"

static void softmax(const double *z, int n, double *p) {
    double mx = z[0], s = 0;
    for (int i = 1; i < n; i++)
        mx = z[i] > mx ? z[i] : mx;
    for (int i = 0; i < n; i++)
        s += (p[i] = exp(z[i] - mx));
    for (int i = 0; i < n; i++)
        p[i] /= s;
}

FT_TEST(test_greedy) {
    const float lg[5] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f};
    ft_gen_opts o;
    ft_gen_opts_default(&o);
    double p[5];
    FT_CHECK_OK(ft_gen_probs(lg, 5, NULL, 0, &o, p));
    FT_CHECK(p[1] == 1.0 && p[0] == 0 && p[3] == 0); /* ties: the lowest id, as torch.argmax */
    ft_gen_rng r;
    ft_gen_rng_init(&r, 1);
    int32_t id;
    FT_CHECK_OK(ft_gen_next(lg, 5, NULL, 0, &o, &r, &id));
    FT_CHECK(id == 1);
    FT_CHECK(r.counter == 0); /* greedy draws nothing */
    /* do_sample with temperature 0 is greedy too */
    o.do_sample = true;
    o.temperature = 0;
    FT_CHECK_OK(ft_gen_next(lg, 5, NULL, 0, &o, &r, &id));
    FT_CHECK(id == 1);
    /* penalty 2 on ids 1 and 3: 2.0 -> 1.0, so 4 (1.9) wins; a negative logit is multiplied */
    o.repetition_penalty = 2;
    const int32_t seen[3] = {1, 3, 1};
    FT_CHECK_OK(ft_gen_next(lg, 5, seen, 3, &o, &r, &id));
    FT_CHECK(id == 4);
}

FT_TEST(test_penalty_and_temperature_exact) {
    const float lg[4] = {1.0f, -2.0f, 0.5f, 3.0f};
    ft_gen_opts o;
    ft_gen_opts_default(&o);
    o.do_sample = true;
    o.temperature = 0.7f;
    o.repetition_penalty = 1.5f;
    const int32_t seen[4] = {1, 3, 3, 99}; /* 99 outside the vocabulary is ignored */
    double p[4], want[4];
    FT_CHECK_OK(ft_gen_probs(lg, 4, seen, 4, &o, p));
    /* HF: seen logits z -> z / 1.5 when z > 0, z * 1.5 when z < 0; then / T */
    double t = (double)0.7f, pen = 1.5;
    double z[4] = {1.0 / t, -2.0 * pen / t, 0.5 / t, 3.0 / pen / t};
    softmax(z, 4, want);
    for (int i = 0; i < 4; i++)
        FT_CHECK_NEAR(p[i], want[i], 1e-12);
    /* penalty < 1 encourages repeats: a positive seen logit grows */
    o.repetition_penalty = 0.5f;
    o.temperature = 1;
    FT_CHECK_OK(ft_gen_probs(lg, 4, seen, 4, &o, p));
    double z2[4] = {1.0, -2.0 * 0.5, 0.5, 3.0 / 0.5};
    softmax(z2, 4, want);
    for (int i = 0; i < 4; i++)
        FT_CHECK_NEAR(p[i], want[i], 1e-12);
}

FT_TEST(test_top_k_top_p_exact) {
    const float lg[6] = {2.0f, 1.0f, 3.0f, 0.0f, 1.0f, -1.0f};
    ft_gen_opts o;
    ft_gen_opts_default(&o);
    o.do_sample = true;
    double p[6], want[6];
    /* top-k 2: ids 2 and 0 */
    o.top_k = 2;
    FT_CHECK_OK(ft_gen_probs(lg, 6, NULL, 0, &o, p));
    double z[2] = {3.0, 2.0};
    softmax(z, 2, want);
    FT_CHECK_NEAR(p[2], want[0], 1e-12);
    FT_CHECK_NEAR(p[0], want[1], 1e-12);
    FT_CHECK(p[1] == 0 && p[3] == 0 && p[4] == 0 && p[5] == 0);
    /* top-k 3 with a tie at the third value (1.0 twice): both kept, as torch's threshold does */
    o.top_k = 3;
    FT_CHECK_OK(ft_gen_probs(lg, 6, NULL, 0, &o, p));
    FT_CHECK(p[1] > 0 && p[4] > 0 && p[3] == 0);
    FT_CHECK_NEAR(p[1], p[4], 1e-15);
    /* top-p: full softmax = q; sorted q2 > q0 > q1 = q4 > ...; p just above q2 keeps {2, 0} */
    o.top_k = 0;
    double all[6], zz[6] = {2, 1, 3, 0, 1, -1};
    softmax(zz, 6, all);
    o.top_p = (float)(all[2] + 0.01);
    FT_CHECK_OK(ft_gen_probs(lg, 6, NULL, 0, &o, p));
    FT_CHECK_NEAR(p[2], all[2] / (all[2] + all[0]), 1e-12);
    FT_CHECK_NEAR(p[0], all[0] / (all[2] + all[0]), 1e-12);
    FT_CHECK(p[1] == 0 && p[4] == 0);
    /* p below the top token's mass: exactly one token survives */
    o.top_p = 0.05f;
    FT_CHECK_OK(ft_gen_probs(lg, 6, NULL, 0, &o, p));
    FT_CHECK(p[2] == 1.0);
    /* top-k then top-p: k = 3 renormalizes first, then p on that set */
    o.top_k = 2;
    o.top_p = 0.9f;
    FT_CHECK_OK(ft_gen_probs(lg, 6, NULL, 0, &o, p));
    /* among {2, 0}: e/(1+e) = 0.731 < 0.9, so both stay */
    FT_CHECK(p[2] > 0 && p[0] > 0);
    FT_CHECK_NEAR(p[2] + p[0], 1.0, 1e-12);
}

FT_TEST(test_seeded_draws) {
    const float lg[4] = {0.0f, 1.0f, 0.5f, -0.5f};
    ft_gen_opts o;
    ft_gen_opts_default(&o);
    o.do_sample = true;
    ft_gen_rng a, b, c;
    ft_gen_rng_init(&a, 7);
    ft_gen_rng_init(&b, 7);
    ft_gen_rng_init(&c, 8);
    int same = 1, differ = 0;
    int counts[4] = {0};
    const int N = 20000;
    for (int i = 0; i < N; i++) {
        int32_t x, y, z;
        FT_CHECK_OK(ft_gen_next(lg, 4, NULL, 0, &o, &a, &x));
        FT_CHECK_OK(ft_gen_next(lg, 4, NULL, 0, &o, &b, &y));
        FT_CHECK_OK(ft_gen_next(lg, 4, NULL, 0, &o, &c, &z));
        same &= x == y;
        differ += x != z;
        counts[x]++;
    }
    FT_CHECK(same);
    FT_CHECK(differ > N / 4); /* another seed gives another sequence */
    double want[4], z4[4] = {0, 1, 0.5, -0.5};
    softmax(z4, 4, want);
    for (int i = 0; i < 4; i++) /* 5 standard deviations of a binomial */
        FT_CHECKF(fabs(counts[i] / (double)N - want[i]) < 5 * sqrt(want[i] * (1 - want[i]) / N),
                  "id %d drawn %d times, p %g", i, counts[i], want[i]);
    /* a token outside the top-k is never drawn */
    o.top_k = 1;
    for (int i = 0; i < 100; i++) {
        int32_t x;
        FT_CHECK_OK(ft_gen_next(lg, 4, NULL, 0, &o, &a, &x));
        FT_CHECK(x == 1);
    }
}

FT_TEST(test_bad_options) {
    const float lg[2] = {0, 1};
    double p[2];
    ft_gen_opts o;
    ft_gen_opts_default(&o);
    o.do_sample = true;
    o.top_p = 0;
    FT_CHECK_FAILS(ft_gen_probs(lg, 2, NULL, 0, &o, p), FT_ERR_ARG, "top_p");
    o.top_p = 1;
    o.temperature = -1;
    FT_CHECK_FAILS(ft_gen_probs(lg, 2, NULL, 0, &o, p), FT_ERR_ARG, "temperature");
    o.temperature = 1;
    o.repetition_penalty = 0;
    FT_CHECK_FAILS(ft_gen_probs(lg, 2, NULL, 0, &o, p), FT_ERR_ARG, "repetition_penalty");
    o.repetition_penalty = 1;
    o.top_k = -2;
    FT_CHECK_FAILS(ft_gen_probs(lg, 2, NULL, 0, &o, p), FT_ERR_ARG, "top_k");
    o.top_k = 0;
    const float bad[2] = {0, NAN};
    FT_CHECK_FAILS(ft_gen_probs(bad, 2, NULL, 0, &o, p), FT_ERR_NUMERIC, "NaN");
}

/* The loop's greedy ids equal argmax of a full forward over the growing sequence (no cache). */
FT_TEST(test_run_matches_full_forward) {
    ft_model_config cfg;
    ft_model *m;
    FT_CHECK_OK(ft_config_parse("{\"model_type\": \"gpt2\", \"vocab_size\": 30, \"n_embd\": 16, \"n_layer\": 2, "
                                "\"n_head\": 2, \"n_positions\": 24}", "cfg", &cfg));
    FT_CHECK_OK(ft_model_init_random(&cfg, 5, &m));
    for (int i = 0; i < m->n_params; i++) /* larger weights: logits far apart, argmax stable */
        if (m->params[i].ndim == 2)
            for (int64_t k = 0; k < m->params[i].numel; k++)
                m->params[i].data[k] *= 8;
    ft_gen_cfg c;
    ft_gen_cfg_default(&c);
    c.max_new_tokens = 10;
    int32_t prompt[3] = {4, 9, 2};
    ft_gen_out g;
    FT_CHECK_OK(ft_gen_run(m, NULL, prompt, 3, &c, &g));
    FT_CHECK(g.n_ids == 10 && !strcmp(g.finish, "length"));
    int32_t seq[24];
    memcpy(seq, prompt, sizeof prompt);
    int n = 3;
    ft_arena ar;
    FT_CHECK_OK(ft_arena_init(&ar, ft_model_act_bytes(m, 1, 24) + (1 << 20)));
    for (int t = 0; t < g.n_ids; t++) {
        ft_arena_reset(&ar);
        ft_batch b = {.B = 1, .T = n, .input_ids = seq};
        ft_fwd_opts fo = {.keep_logits = true, .no_loss = true};
        ft_acts *a;
        double loss;
        int64_t cnt, rows, cols;
        FT_CHECK_OK(ft_model_forward(m, &b, &fo, &ar, &a, &loss, &cnt));
        const float *lg = ft_acts_logits(a, &rows, &cols) + (int64_t)(n - 1) * 30;
        int best = 0;
        for (int k = 1; k < 30; k++)
            best = lg[k] > lg[best] ? k : best;
        FT_CHECKF(g.ids[t] == best, "token %d: cache %d, full forward %d", t, g.ids[t], best);
        seq[n++] = best;
    }
    ft_gen_out_free(&g);
    /* the model's positions bound the output */
    c.max_new_tokens = 100;
    FT_CHECK_OK(ft_gen_run(m, NULL, prompt, 3, &c, &g));
    FT_CHECK(g.n_ids == 21 && !strcmp(g.finish, "context"));
    ft_gen_out_free(&g);
    FT_CHECK_FAILS(ft_gen_run(m, NULL, prompt, 0, &c, &g), FT_ERR_ARG, "prompt");
    ft_arena_free(&ar);
    ft_model_free(m);
}

/* T5: the source goes through the encoder, decoding starts at decoder_start_token_id; each new id is what
 * ft_gen_next picks from a teacher-forced forward (no cache) over [start, ids so far], same draws. */
static void t5_replay(ft_model *m, const int32_t *src, int n_src, const ft_gen_cfg *c, const ft_gen_out *g) {
    enum { V = 24 };
    int32_t dec[40], ids[8];
    memcpy(ids, src, (size_t)n_src * sizeof *ids);
    dec[0] = (int32_t)m->cfg.decoder_start_id;
    ft_gen_rng rng;
    ft_gen_rng_init(&rng, c->sample.seed);
    ft_arena ar;
    FT_CHECK_OK(ft_arena_init(&ar, ft_model_act_bytes(m, 1, 40) + (1 << 20)));
    for (int t = 0; t < g->n_ids; t++) {
        ft_arena_reset(&ar);
        ft_batch b = {.B = 1, .T = n_src, .input_ids = ids, .T_dec = t + 1, .decoder_input_ids = dec};
        ft_fwd_opts fo = {.keep_logits = true, .no_loss = true};
        ft_acts *a;
        double loss;
        int64_t rows, cols;
        FT_CHECK_OK(ft_model_forward(m, &b, &fo, &ar, &a, &loss, NULL));
        const float *lg = ft_acts_logits(a, &rows, &cols) + (int64_t)t * V;
        int32_t want;
        FT_CHECK_OK(ft_gen_next(lg, V, dec, (size_t)t + 1, &c->sample, &rng, &want));
        FT_CHECKF(g->ids[t] == want, "token %d: generated %d, teacher-forced %d", t, g->ids[t], want);
        dec[t + 1] = want;
    }
    ft_arena_free(&ar);
}

FT_TEST(test_t5_run_matches_teacher_forcing) {
    ft_model_config cfg;
    ft_model *m;
    FT_CHECK_OK(
        ft_config_parse("{\"model_type\": \"t5\", \"vocab_size\": 24, \"d_model\": 16, \"d_kv\": 4, "
                        "\"d_ff\": 20, \"num_layers\": 2, \"num_heads\": 2, "
                        "\"relative_attention_num_buckets\": 8, \"relative_attention_max_distance\": 10, "
                        "\"feed_forward_proj\": \"gated-gelu\", \"tie_word_embeddings\": false, "
                        "\"eos_token_id\": -1}",
                        "cfg", &cfg));
    FT_CHECK_OK(ft_model_init_random(&cfg, 5, &m));
    for (int i = 0; i < m->n_params; i++) /* larger weights: logits far apart */
        if (m->params[i].ndim == 2)
            for (int64_t k = 0; k < m->params[i].numel; k++)
                m->params[i].data[k] *= 4;
    const int32_t src[5] = {7, 3, 12, 9, 1};
    ft_gen_cfg c;
    ft_gen_cfg_default(&c);
    c.max_new_tokens = 20;
    ft_gen_out g;
    FT_CHECK_OK(ft_gen_run(m, NULL, src, 5, &c, &g)); /* greedy, no eos: runs to the length */
    FT_CHECK(g.n_ids == 20 && !strcmp(g.finish, "length") && g.n_prompt == 5);
    t5_replay(m, src, 5, &c, &g);
    const int32_t third = g.n_ids >= 3 ? g.ids[2] : 0;
    ft_gen_out_free(&g);
    /* sampling with every transform and a penalty that sees the start token and the generated ids */
    c.sample.do_sample = true;
    c.sample.temperature = 0.8f;
    c.sample.top_k = 10;
    c.sample.top_p = 0.9f;
    c.sample.repetition_penalty = 1.3f;
    c.sample.seed = 99;
    FT_CHECK_OK(ft_gen_run(m, NULL, src, 5, &c, &g));
    FT_CHECK(g.n_ids == 20);
    t5_replay(m, src, 5, &c, &g);
    ft_gen_out_free(&g);
    /* the config's eos ends the output (eos included), before the length */
    m->cfg.eos_id = third;
    ft_gen_cfg_default(&c);
    c.max_new_tokens = 20;
    FT_CHECK_OK(ft_gen_run(m, NULL, src, 5, &c, &g));
    FT_CHECKF(!strcmp(g.finish, "eos") && g.n_ids <= 3 && g.ids[g.n_ids - 1] == third,
              "finish %s after %d ids", g.finish, g.n_ids);
    ft_gen_out_free(&g);
    c.max_new_tokens = 0;
    FT_CHECK_OK(ft_gen_run(m, NULL, src, 5, &c, &g));
    FT_CHECK(g.n_ids == 0 && !strcmp(g.finish, "length"));
    ft_gen_out_free(&g);
    FT_CHECK_FAILS(ft_gen_run(m, NULL, src, 0, &c, &g), FT_ERR_ARG,
                   "a source (encoder input) of at least one");
    ft_model_free(m);
}

/* The processors of every mode, hand-worked (HF NoRepeatNGramLogitsProcessor, MinNewTokens), and the
 * beam options' checks naming the option. */
FT_TEST(test_ban_and_beam_options) {
    ft_gen_cfg c;
    ft_gen_cfg_default(&c);
    float s[8];
    /* 2-grams of 5 3 5 2 5: the last id 5 was followed by 3 and 2, so both are banned */
    const int32_t seq[5] = {5, 3, 5, 2, 5};
    c.no_repeat_ngram_size = 2;
    for (int i = 0; i < 8; i++)
        s[i] = (float)i;
    ft_gen_ban(s, 8, seq, 5, 3, &c, -1);
    FT_CHECK(isinf(s[3]) && isinf(s[2]) && s[5] == 5.0f && s[0] == 0.0f && s[7] == 7.0f);
    /* 3-grams: the last two (2 5) never came before: nothing banned */
    c.no_repeat_ngram_size = 3;
    for (int i = 0; i < 8; i++)
        s[i] = (float)i;
    ft_gen_ban(s, 8, seq, 5, 3, &c, -1);
    for (int i = 0; i < 8; i++)
        FT_CHECK(s[i] == (float)i);
    const int32_t seq3[5] = {1, 4, 6, 1, 4}; /* (1 4) was followed by 6 */
    ft_gen_ban(s, 8, seq3, 5, 3, &c, -1);
    FT_CHECK(isinf(s[6]) && s[4] == 4.0f);
    /* shorter than n - 1: nothing; 1-grams: every id seen */
    ft_gen_ban(s, 8, seq3, 1, 3, &c, -1);
    FT_CHECK(s[1] == 1.0f);
    c.no_repeat_ngram_size = 1;
    ft_gen_ban(s, 8, seq3, 5, 3, &c, -1);
    FT_CHECK(isinf(s[1]) && isinf(s[4]) && s[2] == 2.0f);
    /* min_new_tokens: eos banned while fewer new ids */
    c.no_repeat_ngram_size = 0;
    c.min_new_tokens = 2;
    s[7] = 7.0f;
    ft_gen_ban(s, 8, seq, 5, 1, &c, 7);
    FT_CHECK(isinf(s[7]));
    s[7] = 7.0f;
    ft_gen_ban(s, 8, seq, 5, 2, &c, 7);
    FT_CHECK(s[7] == 7.0f);
    /* option checks */
    ft_gen_cfg_default(&c);
    c.num_beams = 9;
    FT_CHECK_FAILS(ft_gen_cfg_check(&c, 8), FT_ERR_ARG, "num_beams 9 is larger than the vocabulary (8 ids)");
    c.num_beams = 0;
    FT_CHECK_FAILS(ft_gen_cfg_check(&c, 8), FT_ERR_ARG, "num_beams 0 must be >= 1");
    c.num_beams = 2;
    c.num_return_sequences = 3;
    FT_CHECK_FAILS(ft_gen_cfg_check(&c, 8), FT_ERR_ARG, "num_return_sequences 3 must be in [1, num_beams 2]");
    c.num_return_sequences = 2;
    c.max_new_tokens = 4;
    c.min_new_tokens = 5;
    FT_CHECK_FAILS(ft_gen_cfg_check(&c, 8), FT_ERR_ARG, "min_new_tokens 5 must be in [0, max_new_tokens 4]");
    c.min_new_tokens = 0;
    c.length_penalty = NAN;
    FT_CHECK_FAILS(ft_gen_cfg_check(&c, 8), FT_ERR_ARG, "length_penalty nan must be a finite number");
    c.length_penalty = 1;
    c.sample.do_sample = true;
    FT_CHECK_FAILS(ft_gen_cfg_check(&c, 8), FT_ERR_UNSUPPORTED, "beam sampling is not supported");
    c.sample.do_sample = false;
    FT_CHECK_OK(ft_gen_cfg_check(&c, 8));
    ft_early_stop e;
    FT_CHECK_OK(ft_gen_early_parse("Never", &e));
    FT_CHECK(e == FT_EARLY_NEVER && !strcmp(ft_gen_early_name(e), "never"));
    FT_CHECK_OK(ft_gen_early_parse("true", &e));
    FT_CHECK(e == FT_EARLY_TRUE);
    FT_CHECK_FAILS(ft_gen_early_parse("1", &e), FT_ERR_ARG,
                   "early_stopping '1' must be true, false or never");
}

int main(void) {
    FT_RUN(test_greedy);
    FT_RUN(test_penalty_and_temperature_exact);
    FT_RUN(test_top_k_top_p_exact);
    FT_RUN(test_seeded_draws);
    FT_RUN(test_bad_options);
    FT_RUN(test_run_matches_full_forward);
    FT_RUN(test_t5_run_matches_teacher_forcing);
    FT_RUN(test_ban_and_beam_options);
    FT_DONE();
}
