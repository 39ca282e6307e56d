/* models/t5.c and kernels/attention_bias.c: the relative position buckets against hand-worked values, the
 * additive-bias attention's backward and the whole model's gradients against finite differences (dropout on),
 * activation checkpointing giving the same gradients bit for bit inside the arena the estimate sizes (every
 * method; prompt tuning's table in PEFT's seq2seq shape), the decoder ids derived from the labels as HF's
 * _shift_right, and bad input refused by name. The math against PyTorch is tests/t5_parity.sh. */
#include <unistd.h>

#include "data/pretok.h"
#include "eval/generate.h"
#include "ft_test.h"
#include "kernels/kernels.h"
#include "models/infer.h"
#include "models/model.h"
#include "peft/peft.h"

/* v1.1-style: gated-gelu (smooth, for finite differences), untied head, heads × d_kv ≠ d_model */
static const char *CFG =
    "{\"model_type\": \"t5\", \"vocab_size\": 20, \"d_model\": 12, \"d_kv\": 5, \"d_ff\": 16, "
    "\"num_layers\": 2, \"num_decoder_layers\": 2, \"num_heads\": 2, "
    "\"relative_attention_num_buckets\": 8, \"relative_attention_max_distance\": 10, "
    "\"feed_forward_proj\": \"gated-gelu\", \"tie_word_embeddings\": false, "
    "\"dropout_rate\": 0.1}";
static char tmpdir[64];

FT_TEST(bucket_matches_hand_worked_values) {
    /* HF defaults (32 buckets, max distance 128). Bidirectional: 16 a side, exact below 8, then
     * 8 + ⌊ln(r/8)/ln(16)·8⌋ (r = 20: 8 + ⌊2.644⌋ = 10), at most 15; keys after the query add 16. */
    static const int bi[][2] = {{0, 0},   {-1, 1},    {1, 17},    {-7, 7},     {-8, 8},   {-20, 10},
                                {20, 26}, {-127, 15}, {-128, 15}, {-1000, 15}, {1000, 31}};
    for (size_t k = 0; k < sizeof bi / sizeof *bi; k++)
        FT_CHECKF(ft_t5_bucket(bi[k][0], true, 32, 128) == bi[k][1], "bidirectional %d: %d, expected %d",
                  bi[k][0], ft_t5_bucket(bi[k][0], true, 32, 128), bi[k][1]);
    /* Causal: future keys in bucket 0, exact below 16, then 16 + ⌊ln(r/16)/ln(8)·16⌋ (r = 32: 16 + ⌊5.33⌋ =
     * 21; r = 100: 16 + ⌊14.1⌋ = 30), at most 31. */
    static const int ca[][2] = {{3, 0},    {0, 0},    {-5, 5},    {-15, 15},
                                {-16, 16}, {-32, 21}, {-100, 30}, {-128, 31}};
    for (size_t k = 0; k < sizeof ca / sizeof *ca; k++)
        FT_CHECKF(ft_t5_bucket(ca[k][0], false, 32, 128) == ca[k][1], "causal %d: %d, expected %d", ca[k][0],
                  ft_t5_bucket(ca[k][0], false, 32, 128), ca[k][1]);
    /* 8 buckets, max distance 12 (the parity test's): exact below 2, r = 3: 2 + ⌊ln 1.5 / ln 6 · 2⌋ = 2 */
    FT_CHECK(ft_t5_bucket(-3, true, 8, 12) == 2);
    FT_CHECK(ft_t5_bucket(-5, true, 8, 12) == 3);
    FT_CHECK(ft_t5_bucket(4, true, 8, 12) == 6);
}

/* Σ out ⊙ R of the kernel, in double, for the finite differences. */
static double attn_objective(const ft_attn_bias_shape *s, const float *q, const float *k, const float *v,
                             const float *bias, const int32_t *mask, const float *R) {
    float out[2 * 4 * 2 * 3], P[2 * 2 * 4 * 5], work[2 * 4 * 5];
    ft_attention_bias_forward(out, P, q, k, v, bias, mask, s, work);
    double o = 0.0;
    for (int i = 0; i < s->B * s->Tq * s->H * s->D; i++)
        o += (double)out[i] * R[i];
    return o;
}

FT_TEST(attention_bias_backward_matches_finite_differences) {
    enum {
        Bn = 2,
        TQ = 4,
        TK = 5,
        H = 2,
        D = 3,
        QN = Bn * TQ * H * D,
        KN = Bn * TK * H * D,
        BN = H * TQ * TK
    };
    float q[QN], k[KN], v[KN], bias[BN], R[QN];
    const int32_t mask[Bn * TK] = {1, 1, 1, 1, 1, 1, 1, 0, 1, 0}; /* padded keys, one inside the row */
    for (int i = 0; i < QN; i++) {
        q[i] = ft_rng_normal(11, 0, (uint64_t)i);
        R[i] = ft_rng_normal(11, 1, (uint64_t)i);
    }
    for (int i = 0; i < KN; i++) {
        k[i] = ft_rng_normal(11, 2, (uint64_t)i);
        v[i] = ft_rng_normal(11, 3, (uint64_t)i);
    }
    for (int i = 0; i < BN; i++)
        bias[i] = ft_rng_normal(11, 4, (uint64_t)i);
    for (int run = 0; run < 3; run++) { /* padding; causal; padding with dropout on the probabilities */
        const int causal = run == 1;
        const ft_attn_bias_shape s = {.B = Bn,
                                      .Tq = TQ,
                                      .Tk = causal ? TQ : TK,
                                      .H = H,
                                      .D = D,
                                      .q_stride = H * D,
                                      .kv_stride = H * D,
                                      .causal = causal,
                                      .scale = 0.7f,
                                      .dropout = run == 2 ? 0.3f : 0.0f,
                                      .seed = 5,
                                      .stream = 9};
        float out[QN], P[Bn * H * TQ * TK], work[2 * TQ * TK], dq[QN] = {0}, dk[KN] = {0}, dv[KN] = {0},
                                                               db[BN] = {0};
        FT_CHECK(ft_attention_bias_work_floats(&s) <= sizeof work / sizeof *work);
        ft_attention_bias_forward(out, P, q, k, v, bias, causal ? NULL : mask, &s, work);
        ft_attention_bias_backward(dq, dk, dv, db, R, P, q, k, v, &s, work);
        float *xs[] = {q, k, v, bias}, *gs[] = {dq, dk, dv, db};
        const int ns[] = {QN, causal ? Bn * TQ * H * D : KN, causal ? Bn * TQ * H * D : KN,
                          causal ? H * TQ * TQ : BN};
        const char *names[] = {"q", "k", "v", "bias"};
        double worst = 0.0;
        for (int t = 0; t < 4; t++)
            for (int i = 0; i < ns[t]; i++) {
                const float x0 = xs[t][i], eps = 1e-2f;
                xs[t][i] = x0 + eps;
                const double up = attn_objective(&s, q, k, v, bias, causal ? NULL : mask, R);
                xs[t][i] = x0 - eps;
                const double dn = attn_objective(&s, q, k, v, bias, causal ? NULL : mask, R);
                xs[t][i] = x0;
                const double fd = (up - dn) / (2.0 * eps), err = fabs(fd - gs[t][i]) / (1e-2 + fabs(fd));
                FT_CHECKF(err < 2e-2, "run %d: d%s[%d] = %g, finite differences %g", run, names[t], i,
                          (double)gs[t][i], fd);
                worst = err > worst ? err : worst;
            }
        /* a padded key gets no weight and no gradient */
        for (int h = 0; !causal && h < H; h++)
            for (int i = 0; i < TQ; i++)
                FT_CHECK(P[((1 * H + h) * TQ + i) * TK + 2] == 0.0f);
        for (int d = 0; !causal && d < H * D; d++)
            FT_CHECK(dk[(1 * TK + 2) * H * D + d] == 0.0f && dv[(1 * TK + 4) * H * D + d] == 0.0f);
    }
}

static ft_model *build(const char *cfg_text, ft_method method, bool dora) {
    ft_model_config cfg;
    ft_model *m = NULL;
    if (ft_config_parse(cfg_text, "cfg", &cfg) != FT_OK || ft_model_init_random(&cfg, 3, &m) != FT_OK)
        return NULL;
    for (int i = 0; i < m->n_params; i++) /* norms off 1 */
        if (strstr(m->params[i].name, "layer_norm"))
            for (int64_t j = 0; j < m->params[i].numel; j++)
                m->params[i].data[j] += 0.3f * ft_rng_normal(8, (uint64_t)i, (uint64_t)j);
    ft_peft_cfg pc;
    ft_peft_cfg_default(&pc);
    pc.method = method;
    pc.use_dora = dora;
    pc.lora_r = 3;
    pc.num_virtual_tokens = 2;
    pc.adapter_size = 4;
    pc.seed = 2;
    if (method != FT_METHOD_FULL && ft_peft_apply(m, &pc) != FT_OK) {
        fprintf(stderr, "  peft: %s\n", ft_last_error());
        ft_model_free(m);
        return NULL;
    }
    for (int i = 0; i < m->n_params; i++) { /* attached tensors off their identity init; full: all train */
        if (m->params[i].extra)
            for (int64_t j = 0; j < m->params[i].numel; j++)
                m->params[i].data[j] += 0.2f * ft_rng_normal(9, (uint64_t)i, (uint64_t)j);
        if (method == FT_METHOD_FULL && ft_model_set_trainable(m, i, true) != FT_OK) {
            ft_model_free(m);
            return NULL;
        }
    }
    return m;
}

/* B = 2, source 6 tokens (row 1 padded after 4), decoder 5 tokens (labels -100 at the end of row 0) */
static int32_t IDS[12] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0},
               MASK[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
static int32_t LAB[10] = {5, 6, 7, -100, -100, 13, 14, 15, 16, 17};

static ft_batch batch(void) {
    return (ft_batch){.B = 2, .T = 6, .input_ids = IDS, .mask = MASK, .labels = LAB, .T_dec = 5};
}

/* The loss of one forward (training: dropout on with a fixed seed and step) in an arena the estimate sizes.
 */
static ft_status run(ft_model *m, const ft_batch *b, bool training, bool ckpt, bool backward, double *loss,
                     float *logits) {
    ft_arena ar;
    FT_TRY(ft_arena_init(&ar, ft_model_act_bytes_ckpt(m, b->B, ft_model_batch_seq_len(m, b), ckpt)));
    ft_fwd_opts o = {.training = training, .seed = 77, .step = 5, .checkpoint = ckpt, .keep_logits = true};
    ft_acts *a;
    int64_t cnt;
    ft_status s = ft_model_forward(m, b, &o, &ar, &a, loss, &cnt);
    if (s == FT_OK && logits) {
        int64_t rows, cols;
        const float *lg = ft_acts_logits(a, &rows, &cols);
        memcpy(logits, lg, (size_t)(rows * cols) * sizeof(float));
    }
    if (s == FT_OK && backward)
        s = ft_model_backward(m, a, &ar, 1.0f);
    ft_arena_free(&ar);
    return s;
}

FT_TEST(model_gradients_match_finite_differences) {
    ft_model *m = build(CFG, FT_METHOD_FULL, false);
    FT_CHECK(m != NULL);
    if (!m)
        return;
    const ft_batch b = batch();
    double loss;
    ft_model_zero_grad(m);
    FT_CHECK_OK(run(m, &b, true, false, true, &loss, NULL));
    /* a few elements of tensors of every kind, both relative bias tables included */
    static const char *names[] = {"shared.weight",
                                  "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                  "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                  "encoder.block.1.layer.0.SelfAttention.k.weight",
                                  "encoder.block.0.layer.1.DenseReluDense.wi_1.weight",
                                  "decoder.block.1.layer.1.EncDecAttention.k.weight",
                                  "decoder.block.0.layer.1.EncDecAttention.q.weight",
                                  "decoder.block.1.layer.2.DenseReluDense.wo.weight",
                                  "decoder.block.0.layer.1.layer_norm.weight",
                                  "encoder.final_layer_norm.weight",
                                  "decoder.final_layer_norm.weight",
                                  "lm_head.weight"};
    int checked = 0;
    for (size_t t = 0; t < sizeof names / sizeof *names; t++) {
        const int i = ft_model_find_param(m, names[t]);
        FT_CHECKF(i >= 0, "no parameter %s", names[t]);
        if (i < 0)
            continue;
        ft_param *p = &m->params[i];
        for (int e = 0; e < 6; e++) {
            const int64_t j = (int64_t)((uint64_t)(e * 7919 + 13) % (uint64_t)p->numel);
            const float x0 = p->data[j], eps = 1e-2f;
            double up, dn;
            p->data[j] = x0 + eps;
            FT_CHECK_OK(run(m, &b, true, false, false, &up, NULL));
            p->data[j] = x0 - eps;
            FT_CHECK_OK(run(m, &b, true, false, false, &dn, NULL));
            p->data[j] = x0;
            const double fd = (up - dn) / (2.0 * eps), g = p->grad[j];
            FT_CHECKF(fabs(fd - g) <= 2e-3 + 3e-2 * fabs(fd), "%s[%lld]: gradient %g, finite differences %g",
                      names[t], (long long)j, g, fd);
            checked += fabs(g) > 1e-4;
        }
    }
    FT_CHECKF(checked > 40, "only %d of the checked elements have a gradient", checked);
    ft_model_free(m);
}

/* One training step's loss and every trained gradient, concatenated in parameter order (*n floats; NULL on
 * failure). */
static float *step_grads(ft_model *m, bool ckpt, double *loss, int64_t *n) {
    const ft_batch b = batch();
    ft_model_zero_grad(m);
    if (run(m, &b, true, ckpt, true, loss, NULL) != FT_OK) {
        fprintf(stderr, "  checkpoint %d: %s\n", ckpt, ft_last_error());
        return NULL;
    }
    *n = ft_model_param_count(m, true);
    float *all = malloc((size_t)*n * sizeof(float)), *at = all;
    for (int i = 0; all && i < m->n_params; i++)
        if (m->params[i].grad) {
            memcpy(at, m->params[i].grad, (size_t)m->params[i].numel * sizeof(float));
            at += m->params[i].numel;
        }
    return all;
}

FT_TEST(checkpointing_gives_the_same_gradients) {
    static const struct {
        const char *name;
        ft_method method;
        bool dora;
    } cases[] = {{"full", FT_METHOD_FULL, false},     {"lora", FT_METHOD_LORA, false},
                 {"dora", FT_METHOD_LORA, true},      {"ia3", FT_METHOD_IA3, false},
                 {"prompt", FT_METHOD_PROMPT, false}, {"adapter", FT_METHOD_ADAPTER, false}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        ft_model *m = build(CFG, cases[k].method, cases[k].dora);
        FT_CHECKF(m != NULL, "%s: %s", cases[k].name, ft_last_error());
        if (!m)
            continue;
        double l0 = 0, l1 = 1;
        int64_t n0 = 0, n1 = 0;
        float *g0 = step_grads(m, false, &l0, &n0), *g1 = step_grads(m, true, &l1, &n1);
        FT_CHECKF(g0 && g1 && n0 == n1 && l0 == l1, "%s: loss %.9g vs %.9g", cases[k].name, l0, l1);
        if (cases[k].method ==
            FT_METHOD_PROMPT) { /* PEFT's seq2seq table: 2n rows, the decoder's half unused */
            const ft_param *p = &m->params[m->prompt];
            FT_CHECK(m->n_virtual == 2 && p->shape[0] == 4 && p->shape[1] == 12);
            for (int64_t j = 2 * 12; g0 && j < 4 * 12; j++)
                FT_CHECK(g0[j] == 0.0f);
            const cJSON *sub = cJSON_GetObjectItem(m->peft_config, "num_transformer_submodules");
            FT_CHECK(cJSON_IsNumber(sub) && sub->valueint == 2);
        }
        /* each trained tensor: a gradient, the same bits with checkpointing */
        int64_t off = 0;
        for (int i = 0; g0 && g1 && n0 == n1 && i < m->n_params; i++) {
            const ft_param *p = &m->params[i];
            if (!p->grad)
                continue;
            bool nz = false;
            for (int64_t j = 0; j < p->numel; j++)
                nz |= g0[off + j] != 0.0f;
            FT_CHECKF(nz, "%s: %s has no gradient", cases[k].name, p->name);
            FT_CHECKF(!memcmp(g0 + off, g1 + off, (size_t)p->numel * sizeof(float)),
                      "%s: gradient of %s differs with checkpointing", cases[k].name, p->name);
            off += p->numel;
        }
        free(g0);
        free(g1);
        ft_model_free(m);
    }
}

FT_TEST(decoder_ids_are_the_labels_shifted_right) {
    ft_model *m = build(CFG, FT_METHOD_FULL, false);
    FT_CHECK(m != NULL);
    if (!m)
        return;
    ft_batch b = batch();
    double l0, l1;
    float lg0[10 * 20], lg1[10 * 20];
    FT_CHECK_OK(run(m, &b, false, false, false, &l0, lg0));
    /* HF _shift_right: decoder_start_token_id (0) first, -100 → pad_token_id (0) */
    int32_t dec[10] = {0, 5, 6, 7, 0, 0, 13, 14, 15, 16};
    b.decoder_input_ids = dec;
    FT_CHECK_OK(run(m, &b, false, false, false, &l1, lg1));
    FT_CHECK(l0 == l1 && !memcmp(lg0, lg1, sizeof lg0));
    dec[4] = 19; /* the last decoder input sees no label of its own row: only row 0's last logits change */
    FT_CHECK_OK(run(m, &b, false, false, false, &l1, lg1));
    FT_CHECK(l0 == l1 && !memcmp(lg0, lg1, 4 * 20 * sizeof(float)) &&
             memcmp(lg0 + 80, lg1 + 80, 20 * sizeof(float)));
    ft_model_free(m);
}

/* v1.0-style: relu, tied head (input scaled by d_model^-1/2), 3 decoder blocks over 2 */
static const char *CFG10 =
    "{\"model_type\": \"t5\", \"vocab_size\": 20, \"d_model\": 12, \"d_kv\": 4, \"d_ff\": 16, "
    "\"num_layers\": 2, \"num_decoder_layers\": 3, \"num_heads\": 3, "
    "\"relative_attention_num_buckets\": 8, \"relative_attention_max_distance\": 10}";

/* Teacher-forced logits [B·T_dec, V] of decoder ids dec [B][T] after the same source src [n] in every row. */
static ft_status teacher_forced(ft_model *m, const int32_t *src, int n, const int32_t *dec, int B, int T,
                                float *logits) {
    int32_t *ids = malloc((size_t)(B * n) * sizeof *ids);
    if (!ids)
        return FT_ERR_NOMEM;
    for (int r = 0; r < B; r++)
        memcpy(ids + r * n, src, (size_t)n * sizeof *ids);
    const ft_batch b = {.B = B, .T = n, .input_ids = ids, .T_dec = T, .decoder_input_ids = (int32_t *)dec};
    const ft_fwd_opts o = {.no_loss = true, .keep_logits = true};
    ft_arena ar;
    ft_acts *a;
    double loss;
    ft_status s = ft_arena_init(&ar, ft_model_act_bytes_opts(m, B, n > T ? n : T, &o));
    if (s == FT_OK)
        s = ft_model_forward(m, &b, &o, &ar, &a, &loss, NULL);
    if (s == FT_OK) {
        int64_t rows, cols;
        const float *lg = ft_acts_logits(a, &rows, &cols);
        memcpy(logits, lg, (size_t)(rows * cols) * sizeof(float));
    }
    ft_arena_free(&ar);
    free(ids);
    return s;
}

FT_TEST(cached_decoding_matches_teacher_forcing) {
    static const struct {
        const char *name;
        ft_method method;
        bool dora;
    } cases[] = {{"full", FT_METHOD_FULL, false},     {"lora", FT_METHOD_LORA, false},
                 {"dora", FT_METHOD_LORA, true},      {"ia3", FT_METHOD_IA3, false},
                 {"prompt", FT_METHOD_PROMPT, false}, {"adapter", FT_METHOD_ADAPTER, false}};
    enum { N = 7, T = 12, V = 20 }; /* decoder lengths past the exact buckets and the cap (max distance 10) */
    const int32_t src[N] = {3, 9, 4, 17, 5, 11, 1};
    int32_t dec[2 * T];
    for (int t = 0; t < T; t++) { /* row 0 and row 1 start alike, then part */
        dec[t] = t == 0 ? 0 : (int32_t)(2 + (t * 7) % 17);
        dec[T + t] = t < 4 ? dec[t] : (int32_t)(2 + (t * 5 + 3) % 17);
    }
    const char *cfgs[] = {CFG10, CFG}, *cfg_names[] = {"v1.0", "v1.1"};
    for (int ci = 0; ci < 2; ci++)
        for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
            ft_model *m = build(cfgs[ci], cases[k].method, cases[k].dora);
            FT_CHECKF(m != NULL, "%s %s: %s", cfg_names[ci], cases[k].name, ft_last_error());
            if (!m)
                continue;
            float tf[2 * T * V], lg[2 * V], one[V];
            FT_CHECK_OK(teacher_forced(m, src, N, dec, 2, T, tf));
            /* two rows stepped together; at t = 6 both take row 1's cache, then follow row 1's ids */
            ft_kv *kv = NULL, *kv1 = NULL;
            FT_CHECK_OK(ft_kv_new_rows(m, 2, T, &kv));
            FT_CHECK_OK(ft_kv_new(m, T, &kv1));
            FT_CHECK_OK(ft_kv_encode(m, kv, src, N));
            FT_CHECK_OK(ft_kv_encode(m, kv1, src, N));
            double worst = 0.0;
            bool moved = false;
            for (int t = 0; kv && kv1 && t < T; t++) {
                if (t == 6) {
                    const int32_t parents[2] = {1, 1};
                    FT_CHECK_OK(ft_kv_reorder(kv, parents));
                    moved = true;
                }
                const int32_t ids[2] = {dec[(moved ? T : 0) + t], dec[T + t]};
                FT_CHECK_OK(ft_infer_rows(m, kv, ids, lg));
                FT_CHECK_OK(ft_infer(m, kv1, &dec[t], 1, one));
                for (int r = 0; r < 2; r++)
                    for (int j = 0; j < V; j++) {
                        const float want = tf[((moved || r == 1 ? T : 0) + t) * V + j];
                        const double e = fabs((double)lg[r * V + j] - want);
                        worst = e > worst ? e : worst;
                    }
                for (int j = 0; j < V; j++) {
                    const double e = fabs((double)one[j] - tf[t * V + j]);
                    worst = e > worst ? e : worst;
                }
            }
            FT_CHECKF(worst <= 1e-5, "%s %s: cached logits differ from teacher forcing by %g", cfg_names[ci],
                      cases[k].name, worst);
            FT_CHECK(kv && ft_kv_len(kv) == T);
            if (kv) /* the cache is full */
                FT_CHECK_FAILS(ft_infer_rows(m, kv, dec, lg), FT_ERR_RANGE,
                               "t5: decoding reached the cache length 12");
            /* several tokens in one ft_infer call: the logits of the last */
            ft_kv_reset(kv1);
            FT_CHECK_OK(ft_infer(m, kv1, dec, 5, one));
            double e5 = 0.0;
            for (int j = 0; j < V; j++)
                e5 = fmax(e5, fabs((double)one[j] - tf[4 * V + j]));
            FT_CHECKF(e5 <= 1e-5, "%s %s: 5 tokens in one call: %g", cfg_names[ci], cases[k].name, e5);
            ft_kv_free(kv);
            ft_kv_free(kv1);
            ft_model_free(m);
        }
}

static void write_text(const char *name, const char *txt) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(txt, f);
        fclose(f);
    }
}

/* CFG with one field's text replaced. */
static void replace(char *out, size_t n, const char *from, const char *to) {
    const char *at = strstr(CFG, from);
    snprintf(out, n, "%.*s%s%s", (int)(at - CFG), CFG, to, at + strlen(from));
}

FT_TEST(config_defaults_are_t5config_and_mt5config) {
    ft_model_config c;
    FT_CHECK_OK(ft_config_parse("{\"model_type\": \"t5\"}", "t5.json", &c)); /* t5-small */
    FT_CHECK(c.arch == FT_ARCH_T5 && c.vocab_size == 32128 && c.hidden == 512 && c.head_dim == 64 &&
             c.intermediate == 2048 && c.n_layers == 12 && c.n_dec_layers == 6 && c.n_heads == 8 &&
             c.rel_buckets == 32 && c.rel_max_dist == 128 && c.tie_embeddings && !c.gated_ff &&
             c.act == FT_ACT_RELU && c.pad_token_id == 0 && c.decoder_start_id == 0 && c.eos_id == 1);
    ft_config_free(&c);
    FT_CHECK_OK(ft_config_parse("{\"model_type\": \"mt5\"}", "mt5.json", &c)); /* mt5-small */
    FT_CHECK(c.vocab_size == 250112 && c.intermediate == 1024 && c.n_layers == 16 && c.n_heads == 6 &&
             !c.tie_embeddings && c.gated_ff && c.act == FT_ACT_GELU_TANH);
    ft_config_free(&c);
    /* gated-gelu is gelu_new (tanh), a plain gelu the exact one (HF's ACT2FN) */
    FT_CHECK_OK(ft_config_parse("{\"model_type\": \"t5\", \"feed_forward_proj\": \"gelu\"}", "g.json", &c));
    FT_CHECK(!c.gated_ff && c.act == FT_ACT_GELU_ERF);
    ft_config_free(&c);
}

FT_TEST(bad_input_is_refused_by_name) {
    ft_model_config cfg;
    FT_CHECK_FAILS(
        ft_config_parse("{\"model_type\": \"t5\", \"feed_forward_proj\": \"gated-foo\"}", "c.json", &cfg),
        FT_ERR_UNSUPPORTED, "c.json: feed_forward_proj 'gated-foo' is not supported");
    FT_CHECK_FAILS(ft_config_parse("{\"model_type\": \"t5\", \"num_decoder_layers\": 0}", "c.json", &cfg),
                   FT_ERR_CONFIG, "num_layers 6 and num_decoder_layers 0 must be at least 1");
    FT_CHECK_FAILS(
        ft_config_parse("{\"model_type\": \"t5\", \"relative_attention_num_buckets\": 2}", "c.json", &cfg),
        FT_ERR_CONFIG, "relative_attention_num_buckets 2 must be in [4, 65536]");
    FT_CHECK_FAILS(
        ft_config_parse("{\"model_type\": \"t5\", \"vocab_size\": 10, \"decoder_start_token_id\": 10}",
                        "c.json", &cfg),
        FT_ERR_CONFIG, "decoder_start_token_id 10 is outside the vocabulary of 10");
    /* a checkpoint against a config that asks for more / other tensors */
    ft_model *m = build(CFG, FT_METHOD_FULL, false), *l = NULL;
    FT_CHECK(m != NULL);
    if (!m)
        return;
    FT_CHECK_OK(ft_model_save(m, tmpdir, FT_DT_F32));
    FT_CHECK_OK(ft_model_load(tmpdir, &l)); /* the round trip itself loads */
    ft_model_free(l);
    l = NULL;
    char more[1024], wide[1024];
    replace(more, sizeof more, "\"num_decoder_layers\": 2", "\"num_decoder_layers\": 3");
    write_text("config.json", more);
    FT_CHECK_FAILS(ft_model_load(tmpdir, &l), FT_ERR_MISSING,
                   "tensor 'decoder.block.2.layer.0.SelfAttention.q.weight' is missing from the checkpoint");
    replace(wide, sizeof wide, "\"d_ff\": 16", "\"d_ff\": 18");
    write_text("config.json", wide);
    FT_CHECK_FAILS(
        ft_model_load(tmpdir, &l), FT_ERR_SHAPE,
        "tensor 'encoder.block.0.layer.1.DenseReluDense.wi_0.weight' has shape [16, 12], expected [18, 12]");
    /* batches */
    ft_batch b = batch();
    double loss;
    int32_t oov[10] = {0, 5, 6, 7, 0, 0, 13, 14, 25, 16};
    b.decoder_input_ids = oov;
    FT_CHECK_FAILS(run(m, &b, false, false, false, &loss, NULL), FT_ERR_RANGE,
                   "decoder_input_ids[1][3] = 25 is outside the vocabulary [0, 20)");
    b = batch();
    b.labels = NULL;
    FT_CHECK_FAILS(run(m, &b, false, false, false, &loss, NULL), FT_ERR_ARG,
                   "t5: the batch needs labels [B][T_dec] or decoder_input_ids");
    b = batch();
    int32_t none[10] = {-100, -100, -100, -100, -100, -100, -100, -100, -100, -100};
    b.labels = none;
    FT_CHECK_FAILS(run(m, &b, false, false, false, &loss, NULL), FT_ERR_ARG, "the batch has no target");
    FT_CHECK_FAILS(ft_model_set_task(m, FT_TASK_SEQ_CLS, 2, NULL, 1), FT_ERR_UNSUPPORTED,
                   "t5 is an encoder-decoder with its LM head");
    ft_kv *kv = NULL; /* decoding before the source is encoded; an empty source */
    FT_CHECK_OK(ft_kv_new(m, 8, &kv));
    float lg[20];
    const int32_t one = 3;
    FT_CHECK_FAILS(ft_infer(m, kv, &one, 1, lg), FT_ERR_ARG, "t5: decoding before the source was encoded");
    FT_CHECK_FAILS(ft_kv_encode(m, kv, &one, 0), FT_ERR_ARG, "the source is empty");
    const int32_t oov_src[2] = {3, 20};
    FT_CHECK_FAILS(ft_kv_encode(m, kv, oov_src, 2), FT_ERR_RANGE,
                   "source token 20 (position 1) is outside the vocabulary [0, 20)");
    ft_kv_free(kv);
    ft_model_free(m);
    /* decoder_start_token_id null (HF None): neither the labels' shift nor generation can start */
    char nostart[1024];
    replace(nostart, sizeof nostart, "\"dropout_rate\": 0.1",
            "\"dropout_rate\": 0.1, \"decoder_start_token_id\": null");
    ft_model *ns = build(nostart, FT_METHOD_FULL, false);
    FT_CHECK(ns != NULL && ns->cfg.decoder_start_id == -1);
    if (ns) {
        b = batch();
        FT_CHECK_FAILS(run(ns, &b, false, false, false, &loss, NULL), FT_ERR_CONFIG,
                       "t5: deriving decoder_input_ids from the labels needs decoder_start_token_id");
        ft_gen_cfg gc;
        ft_gen_cfg_default(&gc);
        ft_gen_out go;
        FT_CHECK_FAILS(ft_gen_run(ns, NULL, IDS, 4, &gc, &go), FT_ERR_CONFIG,
                       "t5: config.json has no decoder_start_token_id (null)");
        ft_model_free(ns);
    }
    /* a decoder-only model refuses decoder fields */
    ft_model_config gc;
    ft_model *g = NULL;
    FT_CHECK_OK(
        ft_config_parse("{\"model_type\": \"gpt2\", \"vocab_size\": 20, \"n_embd\": 8, \"n_layer\": 1, "
                        "\"n_head\": 2, \"n_positions\": 16}",
                        "g.json", &gc));
    FT_CHECK_OK(ft_model_init_random(&gc, 1, &g));
    if (g) {
        b = batch();
        FT_CHECK_FAILS(ft_batch_validate(g, &b), FT_ERR_ARG, "gpt2 is not an encoder-decoder");
        ft_model_free(g);
    }
    /* batch.json: labels of the decoder's length for a seq2seq model, refused otherwise */
    write_text("b.json", "{\"input_ids\": [[1,2,3]], \"labels\": [[4,5]]}");
    char p[256];
    snprintf(p, sizeof p, "%s/b.json", tmpdir);
    ft_batch bj;
    FT_CHECK_OK(ft_batch_load_json_seq2seq(p, true, &bj));
    FT_CHECK(bj.T == 3 && bj.T_dec == 2 && bj.labels && bj.labels[1] == 5);
    ft_batch_free(&bj);
    FT_CHECK_FAILS(ft_batch_load_json(p, &bj), FT_ERR_SHAPE, "'labels' has rows of 2 tokens, expected 3");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ft_t5_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    FT_RUN(bucket_matches_hand_worked_values);
    FT_RUN(attention_bias_backward_matches_finite_differences);
    FT_RUN(model_gradients_match_finite_differences);
    FT_RUN(checkpointing_gives_the_same_gradients);
    FT_RUN(decoder_ids_are_the_labels_shifted_right);
    FT_RUN(cached_decoding_matches_teacher_forcing);
    FT_RUN(config_defaults_are_t5config_and_mt5config);
    FT_RUN(bad_input_is_refused_by_name);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    FT_DONE();
}
