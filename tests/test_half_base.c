/* A frozen base kept in its file dtype (train.base_dtype file/auto): the converting GEMM against fp32 ft_gemm
 * on the widened weights and against a double-precision product (odd shapes, strides, both layouts, bf16 and
 * f16, several panel widths); a tiny GPT-2 and Llama saved in bf16 (and f16) and loaded both ways: LoRA loss,
 * gradients and generation equal, fewer bytes held; what must refuse (merge, families without the path) and
 * what must widen (DoRA, full fine-tuning). */
#include <stdlib.h>
#include <unistd.h>

#include "ft_test.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "models/infer.h"
#include "models/model.h"
#include "models/stream.h"
#include "nn/linear.h"
#include "peft/peft.h"

static char tmpdir[64];

static float rnd(uint64_t stream, uint64_t i) {
    return 2.0f * ft_rng_uniform(17, stream, i) - 1.0f;
}

/* |a − b| / max|b| over n values; *bits counts the exactly equal ones */
static double rel(const float *a, const float *b, int64_t n, int64_t *bits) {
    double e = 0, mx = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - (double)b[i]));
        mx = fmax(mx, fabs((double)b[i]));
        if (bits)
            *bits += memcmp(&a[i], &b[i], sizeof(float)) == 0;
    }
    return e / mx;
}

FT_TEST(test_gemm_half_matches_fp32_gemm) {
    const int64_t Ms[] = {1, 3, 37}, Ns[] = {1, 17, 70, 333}, Ks[] = {1, 5, 129};
    int64_t total = 0, same = 0;
    for (int f16 = 0; f16 < 2; f16++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t a = 0; a < 3; a++)
                for (size_t b = 0; b < 4; b++)
                    for (size_t c = 0; c < 3; c++) {
                        const int64_t M = Ms[a], N = Ns[b], K = Ks[c];
                        const int64_t lda = K + 2, ldb = tb ? K + 3 : N + 2, ldc = N + 1;
                        const int64_t nb_rows = tb ? N : K;
                        float *A = malloc(sizeof(float) * (size_t)(M * lda));
                        uint16_t *Bh = malloc(sizeof(uint16_t) * (size_t)(nb_rows * ldb));
                        float *Bf = malloc(sizeof(float) * (size_t)(nb_rows * ldb));
                        float *C0 = malloc(sizeof(float) * (size_t)(M * ldc)),
                              *C1 = malloc(sizeof(float) * (size_t)(M * ldc));
                        float *C2 = malloc(sizeof(float) * (size_t)(M * ldc));
                        double *R = malloc(sizeof(double) * (size_t)(M * N));
                        double *S =
                            malloc(sizeof(double) * (size_t)(M * N)); /* Σ|terms|: fp32 rounding scale */
                        float *panel =
                            malloc(sizeof(float) * (size_t)(K * (N + 16) + ft_gemm_half_panel_floats(K, N)));
                        for (int64_t i = 0; i < M * lda; i++)
                            A[i] = rnd(1, (uint64_t)i);
                        for (int64_t i = 0; i < nb_rows * ldb; i++) {
                            const float v = 0.3f * rnd(2, (uint64_t)i);
                            Bh[i] = f16 ? ft_f32_to_f16(v) : ft_f32_to_bf16(v);
                        }
                        ft_half_to_f32_n(Bf, Bh, nb_rows * ldb, f16);
                        for (int64_t i = 0; i < M * ldc; i++)
                            C0[i] = rnd(3, (uint64_t)i);
                        const float alpha = 0.75f, beta = c == 1 ? 0.0f : 0.5f;
                        for (int64_t i = 0; i < M; i++)
                            for (int64_t j = 0; j < N; j++) {
                                double s = 0, sa = 0;
                                for (int64_t k = 0; k < K; k++) {
                                    const double t = (double)A[i * lda + k] *
                                                     (double)(tb ? Bf[j * ldb + k] : Bf[k * ldb + j]);
                                    s += t;
                                    sa += fabs(t);
                                }
                                R[i * N + j] = alpha * s + (double)beta * C0[i * ldc + j];
                                S[i * N + j] = alpha * sa + fabs((double)beta * C0[i * ldc + j]);
                            }
                        memcpy(C1, C0, sizeof(float) * (size_t)(M * ldc));
                        ft_gemm(false, tb, M, N, K, alpha, A, lda, Bf, ldb, beta, C1, ldc);
                        const int64_t nbs[] = {16, 0, N + 5};
                        for (int q = 0; q < 3; q++) {
                            memcpy(C2, C0, sizeof(float) * (size_t)(M * ldc));
                            ft_gemm_half(tb, f16, M, N, K, alpha, A, lda, Bh, ldb, beta, C2, ldc, panel,
                                         nbs[q]);
                            double e_ref = 0, mx = 1e-30;
                            for (int64_t i = 0; i < M; i++)
                                for (int64_t j = 0; j < N; j++) {
                                    e_ref = fmax(e_ref, fabs((double)C2[i * ldc + j] - R[i * N + j]));
                                    mx = fmax(mx, fabs(R[i * N + j]));
                                    total++;
                                    same += memcmp(&C2[i * ldc + j], &C1[i * ldc + j], sizeof(float)) == 0;
                                    FT_CHECKF(
                                        fabs((double)C2[i * ldc + j] - (double)C1[i * ldc + j]) <=
                                            1e-6 * S[i * N + j] + 1e-30, /* another summation order */
                                        "M%lld N%lld K%lld tb%d f16%d nb%lld at %lld,%lld: %.9g vs %.9g",
                                        (long long)M, (long long)N, (long long)K, tb, f16, (long long)nbs[q],
                                        (long long)i, (long long)j, (double)C2[i * ldc + j],
                                        (double)C1[i * ldc + j]);
                                }
                            FT_CHECK(e_ref / mx < 1e-5);    /* the widening itself is right */
                            for (int64_t i = 0; i < M; i++) /* the padding of C is never written */
                                FT_CHECK(C2[i * ldc + N] == C0[i * ldc + N]);
                        }
                        free(A), free(Bh), free(Bf), free(C0), free(C1), free(C2), free(R), free(S),
                            free(panel);
                    }
    printf("  %lld of %lld outputs bit-identical to ft_gemm on the widened weights\n", (long long)same,
           (long long)total);
    FT_CHECK(same > 0);
}

static const char *CFGS[] = {
    "{\"model_type\": \"gpt2\", \"vocab_size\": 97, \"n_embd\": 48, \"n_layer\": 2, \"n_head\": 4, "
    "\"n_positions\": 32, \"resid_pdrop\": 0.0, \"embd_pdrop\": 0.0, \"attn_pdrop\": 0.0}",
    "{\"model_type\": \"llama\", \"vocab_size\": 89, \"hidden_size\": 48, \"intermediate_size\": 80, "
    "\"num_hidden_layers\": 2, \"num_attention_heads\": 6, \"num_key_value_heads\": 2, "
    "\"max_position_embeddings\": 32, \"tie_word_embeddings\": true}",
    "{\"model_type\": \"llama\", \"vocab_size\": 301, \"hidden_size\": 64, \"intermediate_size\": 96, "
    "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 4, "
    "\"max_position_embeddings\": 32, \"tie_word_embeddings\": false}",
    /* deeper ones for streaming (more layers than its two slots) */
    "{\"model_type\": \"gpt2\", \"vocab_size\": 97, \"n_embd\": 48, \"n_layer\": 5, \"n_head\": 4, "
    "\"n_positions\": 32, \"resid_pdrop\": 0.0, \"embd_pdrop\": 0.0, \"attn_pdrop\": 0.0}",
    "{\"model_type\": \"llama\", \"vocab_size\": 89, \"hidden_size\": 48, \"intermediate_size\": 80, "
    "\"num_hidden_layers\": 4, \"num_attention_heads\": 6, \"num_key_value_heads\": 2, "
    "\"max_position_embeddings\": 32, \"tie_word_embeddings\": false}",
};

/* Save config `which` with random weights to tmpdir/<name> as bf16 (f16: rewritten as F16 tensors). */
static bool save_tiny(int which, const char *name, bool f16, char *dir, size_t n) {
    snprintf(dir, n, "%s/%s", tmpdir, name);
    ft_model_config cfg;
    ft_model *m = NULL;
    if (ft_config_parse(CFGS[which], "cfg", &cfg) != FT_OK || ft_model_init_random(&cfg, 5, &m) != FT_OK)
        return false;
    ft_status s = ft_model_save(m, dir, f16 ? FT_DT_F32 : FT_DT_BF16);
    ft_model_free(m);
    if (s != FT_OK || !f16)
        return s == FT_OK;
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ft_st_file *f = NULL;
    if (ft_st_open(path, &f) != FT_OK)
        return false;
    ft_st_writer *w = ft_st_writer_new();
    uint16_t **bufs = calloc(ft_st_count(f), sizeof *bufs);
    for (size_t i = 0; s == FT_OK && i < ft_st_count(f); i++) {
        const ft_st_tensor *t = ft_st_at(f, i);
        bufs[i] = malloc(sizeof(uint16_t) * (size_t)t->numel);
        for (int64_t j = 0; j < t->numel; j++) {
            float v;
            memcpy(&v, (const char *)t->data + 4 * j, 4);
            bufs[i][j] = ft_f32_to_f16(v);
        }
        s = ft_st_writer_add(w, t->name, FT_DT_F16, t->ndim, t->shape, bufs[i]);
    }
    char tmp[520];
    snprintf(tmp, sizeof tmp, "%s.f16", path);
    if (s == FT_OK)
        s = ft_st_writer_write(w, tmp);
    for (size_t i = 0; i < ft_st_count(f); i++)
        free(bufs[i]);
    free(bufs);
    ft_st_writer_free(w);
    ft_st_close(f);
    return s == FT_OK && rename(tmp, path) == 0;
}

/* LoRA on every site of the model in dir; stream_first: the base streamed before the adapter is attached (the
 * parameter table grows under an open stream). */
static ft_model *load_lora_opt(const char *dir, ft_base_dtype bd, bool dora, bool stream_first) {
    ft_model *m = NULL;
    if (ft_model_load_base(dir, bd, &m) != FT_OK) {
        printf("  load: %s\n", ft_last_error());
        return NULL;
    }
    if (stream_first && ft_model_stream_open(m) != FT_OK) {
        printf("  stream: %s\n", ft_last_error());
        ft_model_free(m);
        return NULL;
    }
    ft_peft_cfg pc;
    ft_peft_cfg_default(&pc);
    pc.method = FT_METHOD_LORA;
    pc.target_modules = "all-linear";
    pc.use_dora = dora;
    if (ft_peft_apply(m, &pc) != FT_OK) {
        printf("  peft: %s\n", ft_last_error());
        ft_model_free(m);
        return NULL;
    }
    for (int i = 0; i < m->n_params; i++) /* B = 0 would leave A's gradient zero: give it values */
        if (strstr(m->params[i].name, "lora_B"))
            for (int64_t j = 0; j < m->params[i].numel; j++)
                m->params[i].data[j] = 0.1f * rnd(40 + (uint64_t)i, (uint64_t)j);
    return m;
}

static ft_model *load_lora(const char *dir, ft_base_dtype bd, bool dora) {
    return load_lora_opt(dir, bd, dora, false);
}

/* One forward + backward; loss, and the gradients of what trains concatenated into *g (malloc'd); g NULL: the
 * forward alone. */
static double step(ft_model *m, const ft_fwd_opts *o, float **g, int64_t *ng) {
    const int B = 2, T = 9;
    int32_t ids[18];
    for (int i = 0; i < B * T; i++)
        ids[i] = (int32_t)((i * 7 + 3) % m->cfg.vocab_size);
    ft_batch b = {.B = B, .T = T, .input_ids = ids};
    ft_arena ar;
    if (ft_arena_init(&ar, ft_model_act_bytes_opts(m, B, T, o) + (1 << 20)) != FT_OK)
        return NAN;
    if (g)
        ft_model_zero_grad(m);
    ft_acts *a;
    double loss = NAN;
    int64_t cnt;
    ft_status s = ft_model_forward(m, &b, o, &ar, &a, &loss, &cnt);
    if (s == FT_OK && g)
        s = ft_model_backward(m, a, &ar, 1.0f);
    ft_arena_free(&ar);
    if (s != FT_OK) {
        printf("  step: %s\n", ft_last_error());
        return NAN;
    }
    if (!g) /* a forward only (evaluation) */
        return loss;
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++)
        n += m->params[i].grad ? m->params[i].numel : 0;
    *g = malloc(sizeof(float) * (size_t)(n ? n : 1));
    n = 0;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].grad) {
            memcpy(*g + n, m->params[i].grad, sizeof(float) * (size_t)m->params[i].numel);
            n += m->params[i].numel;
        }
    *ng = n;
    return loss;
}

static size_t owned_bytes(const ft_model *m) {
    size_t b = 0;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].owned)
            b += (size_t)m->params[i].numel * sizeof(float);
    return b;
}

/* LoRA on every linear site: the base in its file dtype gives the fp32-converted base's loss and gradients
 * (bf16/f16 → fp32 is exact, so only the order of the panel products could differ), with the fused LM head,
 * the unfused one (label smoothing), activation checkpointing and DoRA (which widens its sites). */
FT_TEST(test_decoder_half_base_equals_fp32_base) {
    for (int which = 0; which < 3; which++)
        for (int f16 = 0; f16 < 2; f16++) {
            char dir[256], name[32];
            snprintf(name, sizeof name, "m%d_%s", which, f16 ? "f16" : "bf16");
            FT_CHECK(save_tiny(which, name, f16, dir, sizeof dir));
            for (int variant = 0; variant < 4; variant++) {
                const bool dora = variant == 3;
                ft_model *a = load_lora(dir, FT_BASE_FP32, dora), *b = load_lora(dir, FT_BASE_FILE, dora);
                FT_CHECK(a && b);
                if (!a || !b) {
                    ft_model_free(a), ft_model_free(b);
                    return;
                }
                FT_CHECK(ft_model_half_bytes(a) == 0 && ft_model_half_bytes(b) > 0);
                if (variant == 0)
                    printf(
                        "  %-9s fp32 base: %zu bytes owned; file-dtype base: %zu owned + %zu in place (%s)\n",
                        name, owned_bytes(a), owned_bytes(b), ft_model_half_bytes(b), f16 ? "f16" : "bf16");
                if (!dora)
                    FT_CHECK(owned_bytes(b) + ft_model_half_bytes(b) / 2 < owned_bytes(a));
                ft_fwd_opts o = {.training = true,
                                 .seed = 1,
                                 .fused_head = variant != 1,
                                 .checkpoint = variant == 2,
                                 .label_smoothing = variant == 1 ? 0.1f : 0.0f};
                float *ga = NULL, *gb = NULL;
                int64_t na = 0, nb = 0, bits = 0;
                const double la = step(a, &o, &ga, &na), lb = step(b, &o, &gb, &nb);
                FT_CHECK(isfinite(la) && na == nb && na > 0);
                FT_CHECKF(fabs(la - lb) <= 1e-6 * fabs(la), "%s variant %d: loss %.12g vs %.12g", name,
                          variant, la, lb);
                const double e = na == nb ? rel(gb, ga, na, &bits) : 1.0;
                FT_CHECKF(e <= 1e-6, "%s variant %d: gradient relative error %.3g", name, variant, e);
                if (variant == 0 || la != lb)
                    printf("  %-9s variant %d: loss %s, %lld of %lld gradient values bit-identical (max rel "
                           "%.2g)\n",
                           name, variant, la == lb ? "bit-identical" : "differs", (long long)bits,
                           (long long)na, e);
                free(ga), free(gb);
                ft_model_free(a), ft_model_free(b);
            }
        }
}

/* Greedy generation through the KV cache (ft_infer) from models a and b: logits within 1e-6 and the same
 * tokens for 4 steps after a 4-token prompt. */
static void check_same_greedy(ft_model *a, ft_model *b) {
    ft_kv *ka = NULL, *kb = NULL;
    FT_CHECK_OK(ft_kv_new(a, 24, &ka));
    FT_CHECK_OK(ft_kv_new(b, 24, &kb));
    const int V = a->cfg.vocab_size;
    float *la = malloc(sizeof(float) * (size_t)V), *lb = malloc(sizeof(float) * (size_t)V);
    int32_t ta[8] = {1, 5, 9, 2}, tb[8] = {1, 5, 9, 2};
    int same_tokens = 1;
    FT_CHECK_OK(ft_infer(a, ka, ta, 4, la));
    FT_CHECK_OK(ft_infer(b, kb, tb, 4, lb));
    for (int t = 0; t < 4; t++) {
        FT_CHECK(rel(lb, la, V, NULL) <= 1e-6);
        int32_t xa = 0, xb = 0;
        for (int v = 1; v < V; v++) {
            xa = la[v] > la[xa] ? v : xa;
            xb = lb[v] > lb[xb] ? v : xb;
        }
        same_tokens &= xa == xb;
        FT_CHECK_OK(ft_infer(a, ka, &xa, 1, la));
        FT_CHECK_OK(ft_infer(b, kb, &xb, 1, lb));
    }
    FT_CHECK(same_tokens);
    free(la), free(lb);
    ft_kv_free(ka), ft_kv_free(kb);
}

/* Both bases (fp32 conversion, file dtype in place) generate the same. */
FT_TEST(test_generation_half_base_identical) {
    for (int which = 0; which < 3; which++) {
        char dir[256], name[32];
        snprintf(name, sizeof name, "g%d", which);
        FT_CHECK(save_tiny(which, name, false, dir, sizeof dir));
        ft_model *a = load_lora(dir, FT_BASE_FP32, false), *b = load_lora(dir, FT_BASE_FILE, false);
        FT_CHECK(a && b);
        if (a && b)
            check_same_greedy(a, b);
        ft_model_free(a), ft_model_free(b);
    }
}

/* What cannot use a read-only base refuses or widens: merge refuses naming the tensor; full fine-tuning
 * widens what trains; base_dtype file on an encoder refuses naming the family; an fp32 file keeps nothing as
 * half. */
FT_TEST(test_half_base_refusals_and_widening) {
    char dir[256];
    FT_CHECK(save_tiny(1, "r_bf16", false, dir, sizeof dir));
    ft_model *m = load_lora(dir, FT_BASE_FILE, false);
    FT_CHECK(m != NULL);
    if (!m)
        return;
    FT_CHECK_FAILS(ft_peft_merge(m), FT_ERR_UNSUPPORTED, "held read-only in its file dtype (BF16");
    const size_t before = ft_model_half_bytes(m);
    const int q = ft_model_find_param(m, "model.layers.0.self_attn.q_proj.weight");
    FT_CHECK(q >= 0 && m->params[q].half);
    FT_CHECK_OK(ft_model_set_trainable(m, q, true));
    FT_CHECK(!m->params[q].half && m->params[q].owned && m->params[q].data);
    FT_CHECK(ft_model_half_bytes(m) == before - (size_t)m->params[q].numel * 2);
    ft_model_free(m);

    ft_model *f = NULL;
    ft_model_config cfg;
    FT_CHECK_OK(ft_config_parse(CFGS[1], "cfg", &cfg));
    FT_CHECK_OK(ft_model_init_random(&cfg, 5, &f));
    char d32[256];
    snprintf(d32, sizeof d32, "%s/r_f32", tmpdir);
    FT_CHECK_OK(ft_model_save(f, d32, FT_DT_F32));
    ft_model_free(f);
    f = NULL;
    FT_CHECK_OK(ft_model_load_base(d32, FT_BASE_FILE, &f));
    FT_CHECK(f && ft_model_half_bytes(f) == 0);
    ft_model_free(f);

    const char *bert =
        "{\"model_type\": \"bert\", \"vocab_size\": 50, \"hidden_size\": 32, \"num_hidden_layers\": 1, "
        "\"num_attention_heads\": 2, \"intermediate_size\": 40, \"max_position_embeddings\": 16}";
    ft_model *e = NULL;
    FT_CHECK_OK(ft_config_parse(bert, "cfg", &cfg));
    FT_CHECK_OK(ft_model_init_random(&cfg, 5, &e));
    char db[256];
    snprintf(db, sizeof db, "%s/r_bert", tmpdir);
    FT_CHECK_OK(ft_model_save(e, db, FT_DT_BF16));
    ft_model_free(e);
    e = NULL;
    FT_CHECK_FAILS(ft_model_load_base(db, FT_BASE_FILE, &e), FT_ERR_UNSUPPORTED, "not bert");
    FT_CHECK_OK(ft_model_load_base(db, FT_BASE_AUTO, &e)); /* auto: fp32 where the family has no such path */
    FT_CHECK(e && ft_model_half_bytes(e) == 0);
    ft_model_free(e);
    ft_base_dtype bd;
    FT_CHECK_FAILS(ft_base_dtype_parse("int4", &bd), FT_ERR_ARG, "expected auto, fp32, file or int8");
}

/* A model saved in bf16 from a file-dtype base writes the mapped values unchanged. */
FT_TEST(test_half_base_save_roundtrip) {
    char dir[256], out[256];
    FT_CHECK(save_tiny(0, "s_bf16", false, dir, sizeof dir));
    ft_model *m = NULL;
    FT_CHECK_OK(ft_model_load_base(dir, FT_BASE_FILE, &m));
    if (!m)
        return;
    snprintf(out, sizeof out, "%s/s_out", tmpdir);
    FT_CHECK_OK(ft_model_save(m, out, FT_DT_BF16));
    ft_model *r = NULL;
    FT_CHECK_OK(ft_model_load(out, &r));
    ft_model *a = NULL;
    FT_CHECK_OK(ft_model_load(dir, &a));
    for (int i = 0; r && a && i < a->n_params; i++)
        FT_CHECK(memcmp(a->params[i].data, r->params[i].data, sizeof(float) * (size_t)a->params[i].numel) ==
                 0);
    ft_model_free(m), ft_model_free(r), ft_model_free(a);
}

static bool files_equal(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    bool eq = ft_read_file(a, &x, &nx) == FT_OK && ft_read_file(b, &y, &ny) == FT_OK && nx == ny &&
              memcmp(x, y, nx) == 0;
    free(x), free(y);
    return eq;
}

/* ft_model_init_random_bf16 (ftune init --dtype bf16, the model held in bf16 only) writes the bytes the fp32
 * init writes when saved as bf16: GPT-2, Llama, BERT (its padding rows zeroed). */
FT_TEST(test_init_bf16_writes_the_same_checkpoint) {
    const char *bert =
        "{\"model_type\": \"bert\", \"vocab_size\": 50, \"hidden_size\": 32, \"num_hidden_layers\": 1, "
        "\"num_attention_heads\": 2, \"intermediate_size\": 40, \"max_position_embeddings\": 16, "
        "\"pad_token_id\": 3}";
    const char *cfgs[3] = {CFGS[0], CFGS[2], bert};
    for (int k = 0; k < 3; k++) {
        char d1[256], d2[256], f1[300], f2[300];
        snprintf(d1, sizeof d1, "%s/i32_%d", tmpdir, k);
        snprintf(d2, sizeof d2, "%s/i16_%d", tmpdir, k);
        ft_model_config c1, c2;
        ft_model *a = NULL, *b = NULL;
        FT_CHECK_OK(ft_config_parse(cfgs[k], "cfg", &c1));
        FT_CHECK_OK(ft_config_parse(cfgs[k], "cfg", &c2));
        FT_CHECK_OK(ft_model_init_random(&c1, 9, &a));
        FT_CHECK_OK(ft_model_init_random_bf16(&c2, 9, &b));
        if (!a || !b) {
            ft_model_free(a), ft_model_free(b);
            return;
        }
        FT_CHECK(ft_model_half_bytes(b) == (size_t)ft_model_param_count(b, false) * 2);
        FT_CHECK_OK(ft_model_save(a, d1, FT_DT_BF16));
        FT_CHECK_OK(ft_model_save(b, d2, FT_DT_BF16));
        snprintf(f1, sizeof f1, "%s/model.safetensors", d1);
        snprintf(f2, sizeof f2, "%s/model.safetensors", d2);
        FT_CHECK(files_equal(f1, f2));
        ft_model_free(a), ft_model_free(b);
    }
}

/* A sharded bf16 set (model.safetensors.index.json) loads in place like one file; a truncated shard and an
 * index that lacks a tensor are refused naming the file / the tensor. */
FT_TEST(test_half_base_sharded_set_and_bad_shards) {
    char dir[256], sh[256], path[512];
    FT_CHECK(save_tiny(1, "sh_src", false, dir, sizeof dir));
    snprintf(sh, sizeof sh, "%s/sharded", tmpdir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ft_st_file *f = NULL;
    FT_CHECK_OK(ft_st_open(path, &f));
    if (!f)
        return;
    ft_st_writer *w = ft_st_writer_new();
    for (size_t i = 0; i < ft_st_count(f); i++) {
        const ft_st_tensor *t = ft_st_at(f, i);
        FT_CHECK_OK(ft_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data));
    }
    FT_CHECK_OK(ft_st_writer_write_dir(w, sh, 40000)); /* several shards */
    ft_st_writer_free(w);
    ft_st_close(f);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp %s/config.json %s/", dir, sh);
    FT_CHECK(system(cmd) == 0);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", sh);
    FT_CHECK(ft_file_exists(path));
    ft_model *a = NULL, *b = NULL;
    FT_CHECK_OK(ft_model_load_base(dir, FT_BASE_FILE, &a));
    FT_CHECK_OK(ft_model_load_base(sh, FT_BASE_FILE, &b));
    FT_CHECK(a && b && ft_model_half_bytes(a) == ft_model_half_bytes(b) && ft_model_half_bytes(b) > 0);
    for (int i = 0; a && b && i < a->n_params; i++)
        for (int64_t j = 0; j < a->params[i].numel; j++)
            if (ft_param_at(&a->params[i], j) != ft_param_at(&b->params[i], j)) {
                FT_CHECK(!"sharded values differ");
                break;
            }
    ft_model_free(a), ft_model_free(b);
    /* a missing index entry: the index no longer lists the down projection of layer 1 */
    snprintf(cmd, sizeof cmd,
             "cp -r %s %s_noidx && sed -i '/model.layers.1.mlp.down_proj.weight/d' %s_noidx/%s", sh, sh, sh,
             "model.safetensors.index.json");
    FT_CHECK(system(cmd) == 0);
    char d3[300];
    snprintf(d3, sizeof d3, "%s_noidx", sh);
    b = NULL;
    FT_CHECK_FAILS(ft_model_load_base(d3, FT_BASE_FILE, &b), FT_ERR_FORMAT,
                   "tensor 'model.layers.1.mlp.down_proj.weight' of shard 'model-0000");
    /* a truncated shard: the last shard cut in half */
    snprintf(cmd, sizeof cmd,
             "cp -r %s %s_trunc && f=$(ls %s_trunc/model-*.safetensors | tail -1) && truncate -s $(( $(stat "
             "-c %%s $f) / 2 )) $f",
             sh, sh, sh);
    FT_CHECK(system(cmd) == 0);
    snprintf(d3, sizeof d3, "%s_trunc", sh);
    b = NULL;
    FT_CHECK_FAILS(ft_model_load_base(d3, FT_BASE_FILE, &b), FT_ERR_FORMAT, "_trunc/model-0000");
}

/* ---- train.base_dtype int8: the linear sites quantized per stored row at load ---- */

/* The quantizer: |x − q·s| ≤ s/2 on every value, the largest magnitude maps to ±127, ties to even, a zero row
 * has scale 0, a non-finite value refuses. */
FT_TEST(test_q8_quantize_row) {
    const float t[5] = {127.0f, 0.5f, 1.5f, -2.5f, -127.0f};
    int8_t q[64];
    float s = -1;
    FT_CHECK(ft_q8_quantize_row(t, 5, q, &s));
    FT_CHECK(s == 1.0f && q[0] == 127 && q[1] == 0 && q[2] == 2 && q[3] == -2 && q[4] == -127);
    float x[64];
    for (int r = 0; r < 50; r++) {
        const float mag = (float)pow(10.0, (double)(r % 10) - 6.0);
        for (int j = 0; j < 64; j++)
            x[j] = mag * rnd(60 + (uint64_t)r, (uint64_t)j);
        FT_CHECK(ft_q8_quantize_row(x, 64, q, &s));
        float amax = 0;
        int qmax = 0;
        for (int j = 0; j < 64; j++) {
            amax = fmaxf(amax, fabsf(x[j]));
            qmax = abs(q[j]) > qmax ? abs(q[j]) : qmax;
            FT_CHECKF(fabsf(x[j] - (float)q[j] * s) <= 0.5f * s * (1.0f + 1e-5f),
                      "row %d value %d: %g vs %d*%g", r, j, (double)x[j], q[j], (double)s);
        }
        FT_CHECK(qmax == 127 && s == amax / 127.0f);
    }
    memset(x, 0, sizeof x);
    FT_CHECK(ft_q8_quantize_row(x, 64, q, &s) && s == 0.0f && q[0] == 0 && q[63] == 0);
    x[7] = NAN;
    FT_CHECK(!ft_q8_quantize_row(x, 64, q, &s));
    x[7] = INFINITY;
    FT_CHECK(!ft_q8_quantize_row(x, 64, q, &s));
}

/* ft_gemm_q8 against ft_gemm on the dequantized B (the same values, so equal up to the library's blocking)
 * and against a double product: odd shapes, strides, both layouts, three panel widths. */
FT_TEST(test_gemm_q8_matches_fp32_gemm) {
    const int64_t Ms[] = {1, 3, 37}, Ns[] = {1, 17, 70, 333}, Ks[] = {1, 5, 129}, NBs[] = {16, 48, 0};
    int64_t total = 0, same = 0;
    for (int tb = 0; tb < 2; tb++)
        for (size_t a = 0; a < 3; a++)
            for (size_t b = 0; b < 4; b++)
                for (size_t c = 0; c < 3; c++)
                    for (size_t d = 0; d < 3; d++) {
                        const int64_t M = Ms[a], N = Ns[b], K = Ks[c];
                        const int64_t lda = K + 2, ldb = tb ? K + 3 : N + 2, ldc = N + 1;
                        const int64_t rows = tb ? N : K, cols = tb ? K : N;
                        float *A = malloc(sizeof(float) * (size_t)(M * lda));
                        int8_t *Bq = malloc((size_t)(rows * ldb));
                        float *sc = malloc(sizeof(float) * (size_t)rows);
                        float *Bf = calloc((size_t)(rows * ldb), sizeof(float));
                        float *C0 = malloc(sizeof(float) * (size_t)(M * ldc)),
                              *C1 = malloc(sizeof(float) * (size_t)(M * ldc));
                        float *row = malloc(sizeof(float) * (size_t)cols);
                        float *panel = malloc(sizeof(float) * (size_t)(K * (N + 64)));
                        for (int64_t i = 0; i < M * lda; i++)
                            A[i] = rnd(1, (uint64_t)i);
                        for (int64_t r = 0; r < rows; r++) {
                            for (int64_t j = 0; j < cols; j++)
                                row[j] = 0.3f * (float)(r + 1) * rnd(3, (uint64_t)(r * cols + j));
                            FT_CHECK(ft_q8_quantize_row(row, cols, Bq + r * ldb, &sc[r]));
                            ft_q8_to_f32_n(Bf + r * ldb, Bq + r * ldb, sc[r], cols);
                        }
                        for (int64_t i = 0; i < M * ldc; i++)
                            C0[i] = C1[i] = rnd(4, (uint64_t)i);
                        ft_gemm(false, tb, M, N, K, 0.7f, A, lda, Bf, ldb, 0.5f, C0, ldc);
                        ft_gemm_q8(tb, M, N, K, 0.7f, A, lda, Bq, sc, ldb, 0.5f, C1, ldc, panel, NBs[d]);
                        double emax = 0;
                        for (int64_t i = 0; i < M; i++)
                            for (int64_t j = 0; j < N; j++) {
                                double ref = 0.5 * (double)rnd(4, (uint64_t)(i * ldc + j)), mag = fabs(ref);
                                for (int64_t k = 0; k < K; k++) {
                                    const double bv = tb ? Bf[j * ldb + k] : Bf[k * ldb + j];
                                    ref += 0.7 * (double)A[i * lda + k] * bv;
                                    mag += fabs(0.7 * (double)A[i * lda + k] * bv);
                                }
                                const float v0 = C0[i * ldc + j], v1 = C1[i * ldc + j];
                                emax = fmax(emax, fabs((double)v1 - ref) / (mag + 1e-30));
                                FT_CHECK(fabs((double)v1 - (double)v0) <= 1e-6 * (mag + 1e-30));
                                same += v0 == v1;
                                total++;
                            }
                        FT_CHECKF(emax <= 1e-6, "M %lld N %lld K %lld trans %d: rel error %.3g", (long long)M,
                                  (long long)N, (long long)K, tb, emax);
                        free(A), free(Bq), free(sc), free(Bf), free(C0), free(C1), free(row), free(panel);
                    }
    printf("  ft_gemm_q8: %lld of %lld outputs bit-identical to ft_gemm on the dequantized B\n",
           (long long)same, (long long)total);
}

static size_t q8_params(const ft_model *m) {
    size_t n = 0;
    for (int i = 0; i < m->n_params; i++)
        n += m->params[i].q8 != NULL;
    return n;
}

/* Every int8 parameter of m widened to its dequantized fp32 values (ft_model_param_widen). */
static void dequantize_all(ft_model *m) {
    for (int i = 0; m && i < m->n_params; i++)
        if (m->params[i].q8)
            FT_CHECK_OK(ft_model_param_widen(m, i));
}

/* LoRA on every linear site of an int8 base: the same loss and gradients as the fp32 model holding the
 * dequantized weights (the int8 model widened in place: exact), close to the unquantized base, the tables and
 * LM head still in their file dtype, fewer bytes held; greedy generation equal to the widened model's. */
FT_TEST(test_decoder_int8_base_equals_dequantized) {
    for (int which = 0; which < 3; which++)
        for (int f16 = 0; f16 < 2; f16++) {
            char dir[256], name[32];
            snprintf(name, sizeof name, "q%d_%s", which, f16 ? "f16" : "bf16");
            FT_CHECK(save_tiny(which, name, f16, dir, sizeof dir));
            for (int variant = 0; variant < 3; variant++) {
                ft_model *q = load_lora(dir, FT_BASE_INT8, false), *f = load_lora(dir, FT_BASE_FP32, false);
                ft_model *h = load_lora(dir, FT_BASE_FILE, false);
                FT_CHECK(q && f && h);
                if (!q || !f || !h) {
                    ft_model_free(q), ft_model_free(f), ft_model_free(h);
                    return;
                }
                FT_CHECK(q8_params(q) == (size_t)(q->cfg.n_layers * (which == 0 ? 4 : 7)));
                FT_CHECK(ft_model_q8_bytes(q) > 0 && ft_model_half_bytes(q) > 0); /* tables / head in place */
                FT_CHECK(ft_model_q8_bytes(q) + ft_model_half_bytes(q) < ft_model_half_bytes(h));
                ft_fwd_opts o = {.training = true,
                                 .seed = 1,
                                 .fused_head = variant != 1,
                                 .checkpoint = variant == 2,
                                 .label_smoothing = variant == 1 ? 0.1f : 0.0f};
                float *gq = NULL, *gw = NULL, *gf = NULL;
                int64_t nq = 0, nw = 0, nf = 0, bits = 0;
                const size_t q8b = ft_model_q8_bytes(q), hb = ft_model_half_bytes(q);
                const double lq = step(q, &o, &gq, &nq), lf = step(f, &o, &gf, &nf);
                dequantize_all(q);
                FT_CHECK(q8_params(q) == 0 && ft_model_q8_bytes(q) == 0);
                const double lw = step(q, &o, &gw, &nw);
                FT_CHECK(isfinite(lq) && nq == nw && nq == nf && nq > 0);
                FT_CHECKF(fabs(lq - lw) <= 1e-6 * fabs(lw), "%s variant %d: loss %.12g vs dequantized %.12g",
                          name, variant, lq, lw);
                const double e = nq == nw ? rel(gq, gw, nq, &bits) : 1.0;
                FT_CHECKF(e <= 1e-6, "%s variant %d: gradient relative error %.3g", name, variant, e);
                /* and the quantization itself is small: within 1 % of the unquantized loss */
                FT_CHECKF(fabs(lq - lf) <= 1e-2 * fabs(lf) && lq != lf, "%s: int8 loss %.9g vs base %.9g",
                          name, lq, lf);
                if (variant == 0)
                    printf(
                        "  %-9s int8 base: loss %.6f (dequantized fp32 %s, unquantized %.6f), %lld of %lld "
                        "gradient values bit-identical; %zu bytes int8 + %zu in place vs %zu in place\n",
                        name, lq, lq == lw ? "bit-identical" : "differs", lf, (long long)bits, (long long)nq,
                        q8b, hb, ft_model_half_bytes(h));
                free(gq), free(gw), free(gf);
                ft_model_free(q), ft_model_free(f), ft_model_free(h);
            }
        }
}

/* The int8 base generates as the fp32 model holding its dequantized weights. */
FT_TEST(test_generation_int8_base_identical) {
    for (int which = 0; which < 3; which++) {
        char dir[256], name[32];
        snprintf(name, sizeof name, "qg%d", which);
        FT_CHECK(save_tiny(which, name, false, dir, sizeof dir));
        ft_model *a = load_lora(dir, FT_BASE_INT8, false), *b = load_lora(dir, FT_BASE_INT8, false);
        FT_CHECK(a && b);
        dequantize_all(b);
        if (a && b)
            check_same_greedy(a, b);
        ft_model_free(a), ft_model_free(b);
    }
}

/* What an int8 base refuses or widens: merge refuses naming the tensor; training a site widens it to the
 * dequantized values; DoRA widens its sites; a reload keeps it int8; saving writes the dequantized values; an
 * encoder refuses; a non-finite value in a site's file tensor refuses naming it; an fp32 file quantizes too.
 */
FT_TEST(test_int8_base_refusals_and_widening) {
    char dir[256];
    FT_CHECK(save_tiny(1, "qr_bf16", false, dir, sizeof dir));
    ft_model *m = load_lora(dir, FT_BASE_INT8, false);
    FT_CHECK(m != NULL);
    if (!m)
        return;
    FT_CHECK_FAILS(ft_peft_merge(m), FT_ERR_UNSUPPORTED, "quantized to int8");
    const int qi = ft_model_find_param(m, "model.layers.0.self_attn.q_proj.weight");
    FT_CHECK(qi >= 0 && m->params[qi].q8 && !m->params[qi].data && !m->params[qi].half);
    float *deq = malloc(sizeof(float) * (size_t)m->params[qi].numel);
    ft_param_rows(&m->params[qi], NULL, m->params[qi].shape[0], deq, false);
    for (int64_t j = 0; j < m->params[qi].numel; j += 7)
        FT_CHECK(ft_param_at(&m->params[qi], j) == deq[j]);
    const size_t before = ft_model_q8_bytes(m);
    FT_CHECK_OK(ft_model_reload_param(m, qi));
    FT_CHECK(m->params[qi].q8 && ft_model_q8_bytes(m) == before);
    char out[256];
    snprintf(out, sizeof out, "%s/qr_out", tmpdir);
    FT_CHECK_OK(ft_model_save(m, out, FT_DT_F32));
    ft_model *r = NULL;
    FT_CHECK_OK(ft_model_load(out, &r));
    const int ri = r ? ft_model_find_param(r, "model.layers.0.self_attn.q_proj.weight") : -1;
    FT_CHECK(ri >= 0 && memcmp(r->params[ri].data, deq, sizeof(float) * (size_t)r->params[ri].numel) == 0);
    ft_model_free(r);
    FT_CHECK_OK(ft_model_set_trainable(m, qi, true));
    FT_CHECK(!m->params[qi].q8 && m->params[qi].owned &&
             memcmp(m->params[qi].data, deq, sizeof(float) * (size_t)m->params[qi].numel) == 0);
    FT_CHECK(ft_model_q8_bytes(m) < before);
    free(deq);
    ft_model_free(m);

    ft_model *d = load_lora(dir, FT_BASE_INT8, true); /* DoRA: its sites widened */
    FT_CHECK(d && q8_params(d) == 0);
    float *g = NULL;
    int64_t ng = 0;
    ft_fwd_opts o = {.training = true, .seed = 1, .fused_head = true};
    FT_CHECK(d && isfinite(step(d, &o, &g, &ng)));
    free(g);
    ft_model_free(d);

    ft_model_config cfg;
    ft_model *f = NULL;
    FT_CHECK_OK(ft_config_parse(CFGS[2], "cfg", &cfg));
    FT_CHECK_OK(ft_model_init_random(&cfg, 5, &f));
    char d32[256];
    snprintf(d32, sizeof d32, "%s/qr_f32", tmpdir);
    const int bad = f ? ft_model_find_param(f, "model.layers.1.mlp.up_proj.weight") : -1;
    FT_CHECK(bad >= 0);
    FT_CHECK_OK(ft_model_save(f, d32, FT_DT_F32));
    ft_model *g32 = NULL;
    FT_CHECK_OK(ft_model_load_base(d32, FT_BASE_INT8, &g32)); /* fp32 file: sites int8, tables fp32 */
    FT_CHECK(g32 && q8_params(g32) == 14 && ft_model_half_bytes(g32) == 0);
    ft_model_free(g32);
    f->params[bad].data[3 * f->params[bad].shape[1] + 5] = NAN; /* row 3 */
    char dn[256];
    snprintf(dn, sizeof dn, "%s/qr_nan", tmpdir);
    FT_CHECK_OK(ft_model_save(f, dn, FT_DT_BF16));
    ft_model_free(f);
    ft_model *n = NULL;
    FT_CHECK_FAILS(ft_model_load_base(dn, FT_BASE_INT8, &n), FT_ERR_FORMAT,
                   "'model.layers.1.mlp.up_proj.weight' (BF16) holds a non-finite value in row 3");

    const char *bert =
        "{\"model_type\": \"bert\", \"vocab_size\": 50, \"hidden_size\": 32, \"num_hidden_layers\": 1, "
        "\"num_attention_heads\": 2, \"intermediate_size\": 40, \"max_position_embeddings\": 16}";
    ft_model *e = NULL;
    FT_CHECK_OK(ft_config_parse(bert, "cfg", &cfg));
    FT_CHECK_OK(ft_model_init_random(&cfg, 5, &e));
    char db[256];
    snprintf(db, sizeof db, "%s/qr_bert", tmpdir);
    FT_CHECK_OK(ft_model_save(e, db, FT_DT_BF16));
    ft_model_free(e);
    e = NULL;
    FT_CHECK_FAILS(ft_model_load_base(db, FT_BASE_INT8, &e), FT_ERR_UNSUPPORTED, "train.base_dtype int8");
    ft_base_dtype bd;
    FT_CHECK_OK(ft_base_dtype_parse("int8", &bd));
    FT_CHECK(bd == FT_BASE_INT8 && !strcmp(ft_base_dtype_name(bd), "int8"));
}

/* precision bf16 on a CPU with native bf16: an int8 site's product widens the weight to bf16 and runs the
 * bf16 GEMM; the same loss and gradients as the model whose sites were widened to the dequantized fp32 values
 * and then given their bf16 copies by the bf16 path (the same bf16 bits). */
FT_TEST(test_int8_base_bf16_compute) {
    if (!ft_bf16_native()) {
        printf("  skipped: no native bf16 on this CPU\n");
        return;
    }
    for (int which = 0; which < 3; which++) {
        char dir[256], name[32];
        snprintf(name, sizeof name, "qb%d", which);
        FT_CHECK(save_tiny(which, name, false, dir, sizeof dir));
        ft_model *a = load_lora(dir, FT_BASE_INT8, false), *b = load_lora(dir, FT_BASE_INT8, false);
        FT_CHECK(a && b);
        if (!a || !b) {
            ft_model_free(a), ft_model_free(b);
            return;
        }
        dequantize_all(b);
        FT_CHECK_OK(ft_model_set_precision(a, FT_PREC_BF16));
        FT_CHECK_OK(ft_model_set_precision(b, FT_PREC_BF16));
        FT_CHECK(q8_params(a) > 0 && q8_params(b) == 0);
        for (int variant = 0; variant < 2; variant++) {
            ft_fwd_opts o = {.training = true, .seed = 1, .fused_head = true, .checkpoint = variant == 1};
            float *ga = NULL, *gb = NULL;
            int64_t na = 0, nb = 0, bits = 0;
            const double la = step(a, &o, &ga, &na), lb = step(b, &o, &gb, &nb);
            FT_CHECK(isfinite(la) && na == nb && na > 0);
            FT_CHECKF(fabs(la - lb) <= 1e-6 * fabs(lb), "%s: loss %.12g vs %.12g", name, la, lb);
            const double e = na == nb ? rel(ga, gb, na, &bits) : 1.0;
            FT_CHECKF(e <= 1e-5, "%s: gradient relative error %.3g", name, e);
            printf("  %-4s precision bf16, int8 base: loss %.6f vs %.6f, %lld of %lld gradient values "
                   "bit-identical\n",
                   name, la, lb, (long long)bits, (long long)na);
            free(ga), free(gb);
        }
        ft_model_free(a), ft_model_free(b);
    }
}

/* ft_matmul_s8 is exact: against an int64 reference on odd shapes, both layouts of B, strided A/B/C, through
 * oneDNN (VNNI) and through the integer loop (FTUNE_NO_VNNI=1); extreme values (±127 everywhere) too. */
FT_TEST(test_matmul_s8_exact) {
    ft_matmul *mm = NULL;
    FT_CHECK_OK(ft_matmul_create(&mm));
    const int64_t shapes[][3] = {{1, 1, 1}, {7, 33, 70}, {64, 96, 256}, {5, 128, 1000}, {130, 17, 64}};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            setenv("FTUNE_NO_VNNI", "1", 1);
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
            for (int tb = 0; tb < 2; tb++)
                for (int extreme = 0; extreme < 2; extreme++) {
                    const int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
                    const int64_t lda = K + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
                    int8_t *A = malloc((size_t)(M * lda)), *B = malloc((size_t)((tb ? N : K) * ldb));
                    int32_t *C = malloc(sizeof(int32_t) * (size_t)(M * ldc));
                    for (int64_t i = 0; i < M * lda; i++)
                        A[i] = (int8_t)(extreme ? (i % 2 ? 127 : -127) : (i * 37 + 11) % 255 - 127);
                    for (int64_t i = 0; i < (tb ? N : K) * ldb; i++)
                        B[i] = (int8_t)(extreme ? (i % 3 ? -127 : 127) : (i * 53 + 5) % 255 - 127);
                    FT_CHECK_OK(ft_matmul_s8(mm, tb, M, N, K, A, lda, B, ldb, C, ldc));
                    int64_t bad = 0;
                    for (int64_t i = 0; i < M; i++)
                        for (int64_t j = 0; j < N; j++) {
                            int64_t acc = 0;
                            for (int64_t k = 0; k < K; k++)
                                acc += (int64_t)A[i * lda + k] * (tb ? B[j * ldb + k] : B[k * ldb + j]);
                            bad += acc != C[i * ldc + j];
                        }
                    FT_CHECKF(bad == 0, "%lldx%lldx%lld tb %d extreme %d (%s): %lld wrong sums", (long long)M,
                              (long long)N, (long long)K, tb, extreme, ft_matmul_backend(mm), (long long)bad);
                    free(A), free(B), free(C);
                }
        printf("  int8 products exact through %s\n", ft_matmul_backend(mm));
    }
    unsetenv("FTUNE_NO_VNNI");
    FT_CHECK(ft_matmul_s8(mm, true, 2, 2, 4, (int8_t[8]){0}, 3, (int8_t[8]){0}, 4, (int32_t[4]){0}, 2) ==
             FT_ERR_ARG);
    ft_matmul_free(mm);
}

/* Activations quantized per row as the weights are (ft_q8_quantize_row), with a column scale folded in
 * first; a row with NaN/Inf gets scale NaN; the epilogue writes or accumulates sums × row × column scales. */
FT_TEST(test_q8_quantize_act_and_epilogue) {
    const int64_t R = 5, C = 37;
    float x[5 * 37], cs[37], tmp[37], sc[5], sref;
    int8_t q[5 * 37], qref[37];
    for (int64_t i = 0; i < R * C; i++)
        x[i] = rnd(70, (uint64_t)i) * (float)(1 + i % 7);
    for (int64_t j = 0; j < C; j++)
        cs[j] = 0.01f * (float)(1 + j % 5);
    for (int with = 0; with < 2; with++) {
        ft_q8_quantize_act(q, sc, x, with ? cs : NULL, R, C);
        for (int64_t r = 0; r < R; r++) {
            for (int64_t j = 0; j < C; j++)
                tmp[j] = x[r * C + j] * (with ? cs[j] : 1.0f);
            FT_CHECK(ft_q8_quantize_row(tmp, C, qref, &sref));
            FT_CHECK(sc[r] == sref && !memcmp(q + r * C, qref, (size_t)C));
            for (int64_t j = 0; j < C; j++) /* |v − q·s| ≤ s/2 */
                FT_CHECK(fabsf(tmp[j] - (float)qref[j] * sref) <= 0.5f * sref * (1 + 1e-5f));
        }
    }
    x[2 * C + 3] = NAN;
    x[4 * C] = INFINITY;
    ft_q8_quantize_act(q, sc, x, cs, R, C);
    FT_CHECK(isnan(sc[2]) && isnan(sc[4]) && !isnan(sc[1]) && q[2 * C + 5] == 0 && q[4 * C + 1] == 0);
    int32_t acc[6] = {1, -2, 3, 100, 0, -7};
    const float rs[2] = {0.5f, 2.0f}, col[3] = {1.0f, 0.25f, 4.0f}, bias[3] = {1, 2, 3};
    float y[6] = {10, 10, 10, 10, 10, 10};
    ft_q8_dequant_acc(y, acc, rs, col, NULL, 2, 3, true);
    FT_CHECK(y[0] == 10.5f && y[1] == 9.75f && y[2] == 16.0f && y[3] == 210.0f && y[4] == 10.0f &&
             y[5] == -46.0f);
    ft_q8_dequant_acc(y, acc, rs, NULL, bias, 2, 3, false);
    FT_CHECK(y[0] == 1.5f && y[1] == 1.0f && y[2] == 4.5f && y[3] == 201.0f && y[4] == 2.0f &&
             y[5] == -11.0f);
}

/* One int8 linear site with train.int8_matmul against the fp32 product of its dequantized weight, both
 * layouts (nn.Linear [out,in]: scales on the output; Conv1D [in,out]: scales folded into x), forward and the
 * input gradient: every value within the bound that x's (dy's) per-row rounding allows, |Σ δ·W| ≤
 * ½·s_row·Σ|W|, and not all equal to it (the int8 path ran). */
FT_TEST(test_int8_matmul_linear_within_bound) {
    ft_matmul *mm = NULL;
    FT_CHECK_OK(ft_matmul_create(&mm));
    const int64_t N = 13, in = 72, out = 40;
    for (int layout = 0; layout < 2; layout++) {
        const bool w_in_out = layout == 1;
        const int64_t rows = w_in_out ? in : out, cols = w_in_out ? out : in;
        int8_t *wq = malloc((size_t)(rows * cols));
        float *ws = malloc(sizeof(float) * (size_t)rows), *wd = malloc(sizeof(float) * (size_t)(rows * cols));
        float *x = malloc(sizeof(float) * (size_t)(N * in)), *dy = malloc(sizeof(float) * (size_t)(N * out));
        float *y = malloc(sizeof(float) * (size_t)(N * out)), *yr = malloc(sizeof(float) * (size_t)(N * out));
        float *dx = calloc((size_t)(N * in), sizeof(float)), *dxr = calloc((size_t)(N * in), sizeof(float));
        float *b = malloc(sizeof(float) * (size_t)out);
        for (int64_t r = 0; r < rows; r++) {
            float row[72];
            for (int64_t j = 0; j < cols; j++)
                row[j] = rnd(80 + (uint64_t)layout, (uint64_t)(r * cols + j)) * (float)(1 + r % 3);
            FT_CHECK(ft_q8_quantize_row(row, cols, wq + r * cols, &ws[r]));
            ft_q8_to_f32_n(wd + r * cols, wq + r * cols, ws[r], cols);
        }
        for (int64_t i = 0; i < N * in; i++)
            x[i] = rnd(90, (uint64_t)i) * (i % 11 == 0 ? 6.0f : 1.0f); /* a few outliers */
        for (int64_t i = 0; i < N * out; i++)
            dy[i] = rnd(91, (uint64_t)i) * 1e-3f;
        for (int64_t o = 0; o < out; o++)
            b[o] = 0.1f * rnd(92, (uint64_t)o);
        ft_lin L;
        memset(&L, 0, sizeof L);
        L.in = in, L.out = out, L.w_in_out = w_in_out, L.wq = wq, L.wq_scale = ws, L.b = b, L.mm = mm;
        L.q8_int8 = true;
        ft_arena ar;
        FT_CHECK_OK(ft_arena_init(&ar, 1 << 20));
        ft_lin_cache c;
        FT_CHECK_OK(ft_lin_forward(&L, y, x, N, &ar, &c));
        FT_CHECK_OK(ft_lin_backward(&L, dx, dy, x, N, &c, &ar));
        ft_linear_forward(yr, x, wd, b, N, in, out, w_in_out);
        ft_linear_backward(dxr, NULL, NULL, dy, x, wd, N, in, out, w_in_out);
        /* the bounds: forward, rows of x (times the scale of its input channel for Conv1D) */
        int64_t over = 0, equal = 0;
        for (int64_t n = 0; n < N; n++) {
            float amax = 0;
            for (int64_t k = 0; k < in; k++)
                amax = fmaxf(amax, fabsf(x[n * in + k] * (w_in_out ? ws[k] : 1.0f)));
            const double s = amax / 127.0;
            for (int64_t o = 0; o < out; o++) {
                double absw = 0; /* Σ_k |q| (Conv1D: the scale went into x) or Σ_k |W| */
                for (int64_t k = 0; k < in; k++)
                    absw += w_in_out ? fabs((double)wq[k * out + o]) : fabs((double)wd[o * in + k]);
                const double err = fabs((double)y[n * out + o] - yr[n * out + o]);
                over += err > 0.5 * s * absw * (1 + 1e-4) + 1e-5 * fabs(yr[n * out + o]) + 1e-7;
                equal += y[n * out + o] == yr[n * out + o];
            }
            /* backward: dy's rows (times the scale of its output channel for nn.Linear) */
            amax = 0;
            for (int64_t o = 0; o < out; o++)
                amax = fmaxf(amax, fabsf(dy[n * out + o] * (w_in_out ? 1.0f : ws[o])));
            const double sd = amax / 127.0;
            for (int64_t k = 0; k < in; k++) {
                double absw = 0;
                for (int64_t o = 0; o < out; o++)
                    absw += w_in_out ? fabs((double)wd[k * out + o]) : fabs((double)wq[o * in + k]);
                const double err = fabs((double)dx[n * in + k] - dxr[n * in + k]);
                over += err > 0.5 * sd * absw * (1 + 1e-4) + 1e-5 * fabs(dxr[n * in + k]) + 1e-9;
                equal += dx[n * in + k] == dxr[n * in + k];
            }
        }
        int64_t bits = 0;
        const double ey = rel(y, yr, N * out, &bits), ed = rel(dx, dxr, N * in, &bits);
        FT_CHECKF(over == 0, "layout %d: %lld values outside the rounding bound", layout, (long long)over);
        FT_CHECK(equal < N * (in + out) / 2 && ey > 0 && ey < 0.05 && ed > 0 && ed < 0.05);
        printf(
            "  %s layout: int8 x int8 forward within %.2g, input gradient within %.2g of fp32 (relative to "
            "the largest value)\n",
            w_in_out ? "Conv1D [in,out]" : "nn.Linear [out,in]", ey, ed);
        ft_arena_free(&ar);
        free(wq), free(ws), free(wd), free(x), free(dy), free(y), free(yr), free(dx), free(dxr), free(b);
    }
    ft_matmul_free(mm);
}

/* train.int8_matmul on the three tiny decoders with LoRA everywhere: loss and gradients close to the int8
 * base whose products widen the weights (the same weights; only the activations' rounding differs), not
 * identical; with bf16 compute too; refused without int8 weights and without VNNI. A CPU without VNNI runs
 * the exact integer loop here (the handle is set by hand: ft_model_set_int8_matmul refuses it). */
FT_TEST(test_int8_matmul_model) {
    for (int which = 0; which < 3; which++) {
        char dir[256], name[32];
        snprintf(name, sizeof name, "qm%d", which);
        FT_CHECK(save_tiny(which, name, false, dir, sizeof dir));
        ft_model *a = load_lora(dir, FT_BASE_INT8, false), *b = load_lora(dir, FT_BASE_INT8, false);
        FT_CHECK(a && b);
        if (!a || !b) {
            ft_model_free(a), ft_model_free(b);
            return;
        }
        if (ft_int8_native())
            FT_CHECK_OK(ft_model_set_int8_matmul(a, true));
        else {
            FT_CHECK_OK(ft_matmul_create(&a->mm));
            a->int8_matmul = true;
        }
        for (int variant = 0; variant < 3; variant++) {
            if (variant == 2) {
                if (!ft_bf16_native())
                    break;
                FT_CHECK_OK(ft_model_set_precision(a, FT_PREC_BF16));
                FT_CHECK_OK(ft_model_set_precision(b, FT_PREC_BF16));
                FT_CHECK(a->int8_matmul && a->mm);
            }
            ft_fwd_opts o = {.training = true, .seed = 1, .fused_head = true, .checkpoint = variant == 1};
            float *ga = NULL, *gb = NULL;
            int64_t na = 0, nb = 0, bits = 0;
            const double la = step(a, &o, &ga, &na), lb = step(b, &o, &gb, &nb);
            FT_CHECK(isfinite(la) && na == nb && na > 0);
            const double e = na == nb ? rel(ga, gb, na, &bits) : 1.0;
            FT_CHECKF(fabs(la - lb) <= 2e-3 * fabs(lb) && la != lb, "%s: loss %.9g vs %.9g", name, la, lb);
            FT_CHECKF(e > 0 && e <= 5e-2, "%s: gradient relative error %.3g", name, e);
            printf("  %-4s %s: int8 x int8 loss %.6f vs %.6f widened, gradients within %.2g\n", name,
                   variant == 2   ? "bf16 compute"
                   : variant == 1 ? "checkpointing"
                                  : "fp32 compute",
                   la, lb, e);
            free(ga), free(gb);
        }
        FT_CHECK_OK(ft_model_set_int8_matmul(a, false));
        FT_CHECK(!a->int8_matmul);
        ft_model_free(a), ft_model_free(b);
    }
    char dir[256];
    FT_CHECK(save_tiny(1, "qm_plain", false, dir, sizeof dir));
    ft_model *p = load_lora(dir, FT_BASE_FILE, false);
    FT_CHECK(p && ft_model_set_int8_matmul(p, true) == FT_ERR_CONFIG &&
             strstr(ft_last_error(), "no int8 weights"));
    ft_model_free(p);
    p = load_lora(dir, FT_BASE_INT8, false);
    setenv("FTUNE_NO_VNNI", "1", 1);
    FT_CHECK(p && ft_model_set_int8_matmul(p, true) == FT_ERR_UNSUPPORTED && strstr(ft_last_error(), "VNNI"));
    unsetenv("FTUNE_NO_VNNI");
    FT_CHECK(p && !p->int8_matmul);
    ft_model_free(p);
}

/* Rewrite dir/model.safetensors with tensor `name` changed by edit (NULL: dropped): for the damaged-file
 * refusals. edit gets a malloc'd copy of the tensor's bytes and may change its shape. */
typedef void (*tensor_edit)(void *bytes, ft_st_tensor *t);
static bool rewrite_tensor(const char *dir, const char *name, tensor_edit edit) {
    char path[512], tmp[520];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s.new", path);
    ft_st_file *f = NULL;
    if (ft_st_open(path, &f) != FT_OK)
        return false;
    ft_st_writer *w = ft_st_writer_new();
    void *copy = NULL;
    ft_status s = FT_OK;
    for (size_t i = 0; s == FT_OK && i < ft_st_count(f); i++) {
        const ft_st_tensor *t = ft_st_at(f, i);
        if (strcmp(t->name, name)) {
            s = ft_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
        } else if (edit) {
            ft_st_tensor e = *t;
            copy = malloc((size_t)t->numel * ft_dtype_size(t->dtype));
            memcpy(copy, t->data, (size_t)t->numel * ft_dtype_size(t->dtype));
            edit(copy, &e);
            s = ft_st_writer_add(w, e.name, e.dtype, e.ndim, e.shape, copy);
        }
    }
    if (s == FT_OK)
        s = ft_st_writer_write(w, tmp);
    ft_st_writer_free(w);
    ft_st_close(f);
    free(copy);
    return s == FT_OK && rename(tmp, path) == 0;
}
static void edit_flat(void *bytes, ft_st_tensor *t) { /* [rows, 1] -> [rows / 2, 2]: the wrong shape */
    (void)bytes;
    t->shape[0] /= 2;
    t->shape[1] = 2;
}
static void edit_negative(void *bytes, ft_st_tensor *t) { /* row 2's scale < 0 */
    (void)t;
    const float v = -0.5f;
    memcpy((float *)bytes + 2, &v, sizeof v);
}

/* A saved int8 checkpoint (ft_model_save with FT_DT_I8): the sites as I8 + '_scale' F32 [rows, 1], the rest
 * bf16, config.json's quantization_config; loaded with base int8 / file / auto its sites are the int8 values
 * of the quantize-at-load model, bit for bit, used in place from the mapping (no int8 copy), with the same
 * loss and gradients; with fp32 their dequantized values; saved again byte-identical; training a site widens
 * it without touching the mapping; damaged scales are refused naming the tensor; an encoder refuses. */
FT_TEST(test_int8_checkpoint_roundtrip) {
    for (int which = 0; which < 3; which++) {
        char dir[256], name[32], q8dir[288], again[288];
        snprintf(name, sizeof name, "qs%d", which);
        FT_CHECK(save_tiny(which, name, false, dir, sizeof dir));
        ft_model *src = NULL; /* a bf16 file model in place: quantized while saving */
        FT_CHECK_OK(ft_model_load_base(dir, FT_BASE_FILE, &src));
        snprintf(q8dir, sizeof q8dir, "%s/%s_int8", tmpdir, name);
        FT_CHECK_OK(ft_model_save(src, q8dir, FT_DT_I8));
        ft_model_free(src);
        char path[320];
        snprintf(path, sizeof path, "%s/model.safetensors", q8dir);
        ft_st_file *f = NULL;
        FT_CHECK_OK(ft_st_open(path, &f));
        size_t n_i8 = 0, n_scale = 0, n_bf16 = 0;
        for (size_t i = 0; f && i < ft_st_count(f); i++) {
            const ft_st_tensor *t = ft_st_at(f, i);
            const bool sc = strstr(t->name, "weight_scale") != NULL;
            n_i8 += t->dtype == FT_DT_I8;
            n_scale += sc && t->dtype == FT_DT_F32 && t->ndim == 2 && t->shape[1] == 1;
            n_bf16 += t->dtype == FT_DT_BF16;
        }
        ft_st_close(f);
        const size_t sites = (size_t)(2 * (which == 0 ? 4 : 7));
        FT_CHECKF(n_i8 == sites && n_scale == sites && n_bf16 > 0, "%s: %zu I8, %zu scales, %zu BF16", name,
                  n_i8, n_scale, n_bf16);
        snprintf(path, sizeof path, "%s/config.json", q8dir);
        char *cfg = NULL;
        FT_CHECK_OK(ft_read_file(path, &cfg, NULL));
        FT_CHECK(cfg && strstr(cfg, "\"quant_method\"") && strstr(cfg, "\"ftune-int8\"") &&
                 strstr(cfg, "\"bfloat16\""));
        free(cfg);

        ft_model *ref = load_lora(dir, FT_BASE_INT8, false); /* quantized at load */
        ft_model *ld[3] = {load_lora(q8dir, FT_BASE_INT8, false), load_lora(q8dir, FT_BASE_FILE, false),
                           load_lora(q8dir, FT_BASE_AUTO, false)};
        FT_CHECK(ref && ld[0] && ld[1] && ld[2]);
        if (!ref || !ld[0] || !ld[1] || !ld[2]) {
            ft_model_free(ref), ft_model_free(ld[0]), ft_model_free(ld[1]), ft_model_free(ld[2]);
            return;
        }
        ft_fwd_opts o = {.training = true, .seed = 1, .fused_head = true, .checkpoint = which == 2};
        float *gr = NULL;
        int64_t nr = 0;
        const double lr = step(ref, &o, &gr, &nr);
        for (int k = 0; k < 3; k++) {
            ft_model *m = ld[k];
            FT_CHECK(q8_params(m) == sites && ft_model_q8_bytes(m) == ft_model_q8_bytes(ref));
            for (int i = 0; i < m->n_params; i++) {
                const ft_param *p = &m->params[i], *q = &ref->params[i];
                if (!q->q8)
                    continue;
                FT_CHECK(p->q8 && p->q8_mapped && !q->q8_mapped);
                const int64_t rows = p->numel / p->shape[1];
                FT_CHECKF(p->q8 && memcmp(p->q8, q->q8, (size_t)p->numel) == 0 &&
                              memcmp(p->q8_scale, q->q8_scale, sizeof(float) * (size_t)rows) == 0,
                          "%s: '%s' differs from the quantize-at-load values", name, p->name);
            }
            float *g = NULL;
            int64_t ng = 0, bits = 0;
            const double l = step(m, &o, &g, &ng);
            FT_CHECKF(l == lr && ng == nr && rel(g, gr, ng, &bits) == 0.0, "%s base %d: loss %.12g vs %.12g",
                      name, k, l, lr);
            free(g);
        }
        printf("  %-4s int8 checkpoint: %zu I8 sites + scales, loss %.6f as quantized at load, in place\n",
               name, n_i8, lr);
        free(gr);
        /* saved again from the mapped int8: the same bytes */
        snprintf(again, sizeof again, "%s/%s_int8b", tmpdir, name);
        FT_CHECK_OK(ft_model_save(ld[0], again, FT_DT_I8));
        char a[320], b[320];
        snprintf(a, sizeof a, "%s/model.safetensors", q8dir);
        snprintf(b, sizeof b, "%s/model.safetensors", again);
        FT_CHECK(files_equal(a, b));
        /* fp32: the dequantized values */
        ft_model *w = NULL;
        FT_CHECK_OK(ft_model_load(q8dir, &w));
        dequantize_all(ref);
        for (int i = 0; w && i < w->n_params; i++)
            if (w->params[i].file_dtype == FT_DT_I8)
                FT_CHECK(w->params[i].data && !w->params[i].q8 &&
                         memcmp(w->params[i].data, ref->params[i].data,
                                sizeof(float) * (size_t)w->params[i].numel) == 0);
        ft_model_free(w);
        /* training a site: widened to the dequantized values; the mapping is not freed (ASan) */
        const int qi = ft_model_find_param(ld[1], which == 0 ? "transformer.h.0.attn.c_attn.weight"
                                                             : "model.layers.0.self_attn.q_proj.weight");
        FT_CHECK(qi >= 0);
        if (qi >= 0) {
            FT_CHECK_OK(ft_model_set_trainable(ld[1], qi, true));
            FT_CHECK(!ld[1]->params[qi].q8 && !ld[1]->params[qi].q8_mapped &&
                     memcmp(ld[1]->params[qi].data, ref->params[qi].data,
                            sizeof(float) * (size_t)ref->params[qi].numel) == 0);
        }
        ft_model_free(ref), ft_model_free(ld[0]), ft_model_free(ld[1]), ft_model_free(ld[2]);
    }
    /* damaged files */
    char dir[256], q8dir[288];
    FT_CHECK(save_tiny(1, "qsbad", false, dir, sizeof dir));
    ft_model *src = NULL;
    FT_CHECK_OK(ft_model_load_base(dir, FT_BASE_INT8, &src));
    const char *sc = "model.layers.1.mlp.down_proj.weight_scale";
    struct {
        tensor_edit edit;
        ft_status want;
        const char *msg;
    } cases[] = {
        {NULL, FT_ERR_MISSING,
         "'model.layers.1.mlp.down_proj.weight' is int8 (I8) but "
         "'model.layers.1.mlp.down_proj.weight_scale', its per-row scales, is missing"},
        {edit_flat, FT_ERR_SHAPE, "'model.layers.1.mlp.down_proj.weight_scale' (F32, 2 dims) must be"},
        {edit_negative, FT_ERR_FORMAT, "'model.layers.1.mlp.down_proj.weight_scale' row 2 holds -0.5"},
    };
    for (int c = 0; c < 3; c++) {
        snprintf(q8dir, sizeof q8dir, "%s/qsbad_%d", tmpdir, c);
        FT_CHECK_OK(ft_model_save(src, q8dir, FT_DT_I8));
        FT_CHECK(rewrite_tensor(q8dir, sc, cases[c].edit));
        for (int base = 0; base < 2; base++) {
            ft_model *m = NULL;
            FT_CHECK_FAILS(ft_model_load_base(q8dir, base ? FT_BASE_INT8 : FT_BASE_FP32, &m), cases[c].want,
                           cases[c].msg);
            FT_CHECK(m == NULL);
        }
    }
    ft_model_free(src);
    const char *bert =
        "{\"model_type\": \"bert\", \"vocab_size\": 50, \"hidden_size\": 32, \"num_hidden_layers\": 1, "
        "\"num_attention_heads\": 2, \"intermediate_size\": 40, \"max_position_embeddings\": 16}";
    ft_model_config cfg;
    ft_model *e = NULL;
    FT_CHECK_OK(ft_config_parse(bert, "cfg", &cfg));
    FT_CHECK_OK(ft_model_init_random(&cfg, 5, &e));
    snprintf(q8dir, sizeof q8dir, "%s/qs_bert", tmpdir);
    FT_CHECK_FAILS(ft_model_save(e, q8dir, FT_DT_I8), FT_ERR_UNSUPPORTED, "int8 checkpoint");
    ft_model_free(e);
    ft_dtype dt;
    FT_CHECK(ft_save_dtype_parse("int8", &dt) == FT_OK && dt == FT_DT_I8);
    FT_CHECK_FAILS(ft_save_dtype_parse("int4", &dt), FT_ERR_ARG, "expected f32, bf16 or int8");
}

/* A parameter's weight lies in the checkpoint's mapping (not in a stream slot). */
static bool in_mapping(const ft_model *m, const ft_param *p) {
    const char *path;
    uint64_t off;
    return ft_st_set_locate(m->st, p->half ? (const void *)p->half : (const void *)p->q8, &path, &off);
}

/* The base streamed layer by layer into slots (train.stream_base) gives the mapped base's loss, gradients and
 * generation bit for bit: one file, several shards, a saved int8 checkpoint; O_DIRECT and buffered reads;
 * with and without checkpointing. While streaming some weights point into the slots; after closing all point
 * at the mapping again. A shard truncated under it fails the use naming the file and the tensor. */
FT_TEST(test_stream_equals_mapped) {
    char dirs[4][320];
    FT_CHECK(save_tiny(3, "st_gpt2", false, dirs[0], sizeof dirs[0]));
    FT_CHECK(save_tiny(4, "st_llama", false, dirs[1], sizeof dirs[1]));
    { /* the Llama one again in 40 kB shards: a layer's tensors in several files */
        char path[400], cmd[1000];
        snprintf(dirs[2], sizeof dirs[2], "%s/st_sharded", tmpdir);
        snprintf(path, sizeof path, "%s/model.safetensors", dirs[1]);
        ft_st_file *f = NULL;
        FT_CHECK_OK(ft_st_open(path, &f));
        ft_st_writer *w = ft_st_writer_new();
        for (size_t i = 0; f && i < ft_st_count(f); i++) {
            const ft_st_tensor *t = ft_st_at(f, i);
            FT_CHECK_OK(ft_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data));
        }
        FT_CHECK_OK(ft_st_writer_write_dir(w, dirs[2], 40000));
        ft_st_writer_free(w);
        ft_st_close(f);
        snprintf(cmd, sizeof cmd, "cp %s/config.json %s/", dirs[1], dirs[2]);
        FT_CHECK(system(cmd) == 0);
    }
    { /* a saved int8 checkpoint: its I8 weights are mapped and streamed as well */
        char src[320];
        FT_CHECK(save_tiny(4, "st_q8src", false, src, sizeof src));
        ft_model *q = NULL;
        FT_CHECK_OK(ft_model_load_base(src, FT_BASE_FILE, &q));
        snprintf(dirs[3], sizeof dirs[3], "%s/st_int8", tmpdir);
        FT_CHECK_OK(ft_model_save(q, dirs[3], FT_DT_I8));
        ft_model_free(q);
    }
    for (int d = 0; d < 4; d++)
        for (int direct = 0; direct < 2; direct++) {
            setenv("FTUNE_STREAM_NO_DIRECT", direct ? "0" : "1", 1);
            ft_model *a = load_lora(dirs[d], FT_BASE_FILE, false),
                     *b = load_lora_opt(dirs[d], FT_BASE_FILE, false, direct == 1); /* open before LoRA */
            FT_CHECK(a && b);
            if (!a || !b) {
                ft_model_free(a), ft_model_free(b);
                continue;
            }
            size_t slot = 0, streamed = 0;
            ft_model_stream_sizes(b, &slot, &streamed);
            size_t q8_values = 0; /* a saved int8 checkpoint streams its I8 values, nothing else */
            for (int i = 0; i < b->n_params; i++)
                q8_values += b->params[i].q8_mapped ? (size_t)b->params[i].numel : 0;
            FT_CHECK(slot > 0 && slot < streamed);
            FT_CHECK(d == 3 ? streamed == q8_values : streamed < ft_model_half_bytes(b)); /* not the tables */
            FT_CHECK_OK(ft_model_stream_open(b));
            for (int ck = 0; ck < 3; ck++) { /* 2: the bf16 products, where the CPU has them (the mapped bf16
                                                 weight is oneDNN's operand: the slot's here) */
                if (ck == 2 && (ft_model_set_precision(a, FT_PREC_BF16) != FT_OK ||
                                ft_model_set_precision(b, FT_PREC_BF16) != FT_OK))
                    break;
                ft_fwd_opts o = {.training = true, .seed = 3, .fused_head = true, .checkpoint = ck >= 1};
                float *ga = NULL, *gb = NULL;
                int64_t na = 0, nb = 0;
                const double la = step(a, &o, &ga, &na), lb = step(b, &o, &gb, &nb);
                FT_CHECKF(isfinite(la) && la == lb, "%s checkpoint %d: loss %.17g streamed %.17g", dirs[d],
                          ck, la, lb);
                FT_CHECK(na == nb && na > 0 && !memcmp(ga, gb, sizeof(float) * (size_t)na));
                free(ga), free(gb);
            }
            for (int pass = 0; pass < 3;
                 pass++) { /* evaluation forwards (the last block prefetches block 0) */
                const ft_fwd_opts o = {.fused_head = true};
                const double ea = step(a, &o, NULL, NULL), eb = step(b, &o, NULL, NULL);
                FT_CHECKF(isfinite(ea) && ea == eb, "%s eval: %.17g streamed %.17g", dirs[d], ea, eb);
            }
            int in_slot = 0;
            for (int i = 0; i < b->n_params; i++)
                in_slot += (b->params[i].half || b->params[i].q8) && !in_mapping(b, &b->params[i]);
            FT_CHECK(in_slot > 0); /* the products did read slots */
            check_same_greedy(a, b);
            ft_stream_stats st;
            FT_CHECK(ft_model_stream_stats(b, &st) && st.loads > b->cfg.n_layers && st.bytes >= streamed);
            FT_CHECK(st.direct == (direct == 1));
            if (d == 0 && direct)
                printf("  gpt2: slot %zu bytes, %zu streamed per pass; %lld layer reads, %lld waited, %llu "
                       "bytes\n",
                       slot, streamed, (long long)st.loads, (long long)st.waits,
                       (unsigned long long)st.bytes);
            ft_model_stream_close(b);
            for (int i = 0; i < b->n_params; i++)
                if (b->params[i].half || b->params[i].q8)
                    FT_CHECK(in_mapping(b, &b->params[i]) || b->params[i].half_owned ||
                             !b->params[i].q8_mapped);
            FT_CHECK(!ft_model_stream_stats(b, &(ft_stream_stats){0}));
            ft_model_free(a), ft_model_free(b);
        }
    unsetenv("FTUNE_STREAM_NO_DIRECT");
    /* refusals: nothing in place to stream */
    ft_model *f = NULL;
    FT_CHECK_OK(ft_model_load_base(dirs[1], FT_BASE_FP32, &f));
    FT_CHECK_FAILS(ft_model_stream_open(f), FT_ERR_UNSUPPORTED, "in place");
    ft_model_free(f);
    /* a shard cut short after the model was opened: the read fails naming the file and the tensor */
    char cut[400], cmd[1000], path[420];
    snprintf(cut, sizeof cut, "%s/st_cut", tmpdir);
    snprintf(cmd, sizeof cmd, "cp -r %s %s", dirs[1], cut);
    FT_CHECK(system(cmd) == 0);
    ft_model *t = NULL;
    FT_CHECK_OK(ft_model_load_base(cut, FT_BASE_FILE, &t));
    if (!t)
        return;
    FT_CHECK_OK(ft_model_stream_open(t));
    snprintf(path, sizeof path, "%s/model.safetensors", cut);
    FT_CHECK(truncate(path, 1024) == 0); /* every tensor lies past this (the header alone is longer) */
    FT_CHECK_FAILS(ft_model_layer_begin(t, 1, -1), FT_ERR_IO, "model.safetensors");
    FT_CHECKF(strstr(ft_last_error(), "model.layers.1.") && strstr(ft_last_error(), "ends early"), "%s",
              ft_last_error());
    ft_model_stream_close(t); /* nothing of the mapping touched */
    ft_model_free(t);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ft_test_half_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    FT_RUN(test_gemm_half_matches_fp32_gemm);
    FT_RUN(test_decoder_half_base_equals_fp32_base);
    FT_RUN(test_generation_half_base_identical);
    FT_RUN(test_half_base_refusals_and_widening);
    FT_RUN(test_half_base_save_roundtrip);
    FT_RUN(test_init_bf16_writes_the_same_checkpoint);
    FT_RUN(test_half_base_sharded_set_and_bad_shards);
    FT_RUN(test_q8_quantize_row);
    FT_RUN(test_gemm_q8_matches_fp32_gemm);
    FT_RUN(test_decoder_int8_base_equals_dequantized);
    FT_RUN(test_generation_int8_base_identical);
    FT_RUN(test_int8_base_refusals_and_widening);
    FT_RUN(test_int8_base_bf16_compute);
    FT_RUN(test_int8_checkpoint_roundtrip);
    FT_RUN(test_matmul_s8_exact);
    FT_RUN(test_q8_quantize_act_and_epilogue);
    FT_RUN(test_int8_matmul_linear_within_bound);
    FT_RUN(test_int8_matmul_model);
    FT_RUN(test_stream_equals_mapped);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        return 1;
    FT_DONE();
}
