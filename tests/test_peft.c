/* PEFT methods: linear-layer hooks against finite differences, LoRA/IA3 merge equivalence, adapter
 * save/load round trips in PEFT's format, freezing, and bad adapters. */
#include <stdlib.h>
#include <unistd.h>

#include "ft_test.h"
#include "models/infer.h"
#include "nn/linear.h"
#include "peft/peft.h"

static char tmpdir[64];

static void fill(float *x, int64_t n, uint64_t seed, float scale) {
    for (int64_t i = 0; i < n; i++)
        x[i] = ft_rng_normal(seed, 0, (uint64_t)i) * scale;
}

/* L = Σ r ⊙ lin(x); every output is linear in each single parameter, so central differences are
 * exact up to float rounding: tolerance 2e-3 of the largest gradient. */
static double lin_loss(const ft_lin *L, const float *x, const float *r, int64_t N) {
    ft_arena ar;
    ft_arena_init(&ar, 1 << 20);
    float *y = ft_arena_alloc(&ar, (size_t)(N * L->out) * sizeof(float));
    ft_lin_cache c;
    ft_lin_forward(L, y, x, N, &ar, &c);
    double s = 0;
    for (int64_t i = 0; i < N * L->out; i++)
        s += (double)r[i] * y[i];
    ft_arena_free(&ar);
    return s;
}

static void check_fd(const char *what, ft_lin *L, float *param, const float *grad, int64_t n, const float *x,
                     const float *r, int64_t N) {
    double gmax = 1e-12, err = 0;
    for (int64_t i = 0; i < n; i++)
        gmax = fmax(gmax, fabs(grad[i]));
    for (int64_t i = 0; i < n; i++) {
        float keep = param[i], h = 1e-2f;
        param[i] = keep + h;
        double lp = lin_loss(L, x, r, N);
        param[i] = keep - h;
        double lm = lin_loss(L, x, r, N);
        param[i] = keep;
        err = fmax(err, fabs((lp - lm) / (2.0 * h) - grad[i]));
    }
    FT_CHECKF(err <= 2e-3 * gmax, "%s: max FD error %g vs max grad %g", what, err, gmax);
}

FT_TEST(test_lin_hooks_fd) {
    const int64_t N = 5, in = 7, out = 6;
    const int r = 3;
    for (int variant = 0; variant < 6; variant++) { /* 0 LoRA Linear, 1 LoRA Conv1D, 2 IA3 in, 3 IA3 out,
                                                      4 DoRA Linear, 5 DoRA Conv1D */
        float w[42], b[6], A[21], B[18], g3[7], x[35], rr[30];
        float dw[42] = {0}, db[6] = {0}, dA[21] = {0}, dB[18] = {0}, dg[7] = {0}, dx[35] = {0}, mag[6], dmag[6] = {0};
        fill(w, 42, 1, 0.5f);
        fill(b, 6, 2, 0.5f);
        fill(A, 21, 3, 0.5f);
        fill(B, 18, 4, 0.5f);
        fill(g3, 7, 5, 0.5f);
        fill(x, 35, 6, 1.0f);
        fill(rr, 30, 7, 1.0f);
        for (int i = 0; i < 7; i++)
            g3[i] += 1.0f;
        fill(mag, 6, 8, 0.3f);
        for (int i = 0; i < 6; i++)
            mag[i] += 1.0f;
        const bool dora = variant >= 4;
        ft_lin L = {.w = w, .dw = dora ? NULL : dw, .b = b, .db = db, .in = in, .out = out,
                    .w_in_out = variant == 1 || variant == 5};
        if (dora) {
            L.lora_a = A, L.lora_b = B, L.dlora_a = dA, L.dlora_b = dB, L.r = r, L.scale = 0.75f;
            L.dora_m = mag, L.ddora_m = dmag;
        } else if (variant <= 1) {
            L.lora_a = A, L.lora_b = B, L.dlora_a = dA, L.dlora_b = dB, L.r = r, L.scale = 0.75f;
        } else {
            L.ia3 = g3, L.dia3 = dg, L.ia3_in = variant == 2;
        }
        ft_arena ar;
        ft_arena_init(&ar, 1 << 20);
        float y[30];
        ft_lin_cache c;
        FT_CHECK_OK(ft_lin_forward(&L, y, x, N, &ar, &c));
        FT_CHECK_OK(ft_lin_backward(&L, dx, rr, x, N, &c, &ar));
        ft_arena_free(&ar);
        if (dora) { /* the norm is detached (PEFT), so only m, b and x follow the forward exactly */
            check_fd("b", &L, b, db, 6, x, rr, N);
            check_fd("x", &L, x, dx, 35, x, rr, N);
            check_fd("dora_m", &L, mag, dmag, 6, x, rr, N);
            continue;
        }
        check_fd("W", &L, w, dw, 42, x, rr, N);
        check_fd("b", &L, b, db, 6, x, rr, N);
        check_fd("x", &L, x, dx, 35, x, rr, N);
        if (variant <= 1) {
            check_fd("lora_A", &L, A, dA, 21, x, rr, N);
            check_fd("lora_B", &L, B, dB, 18, x, rr, N);
        } else {
            check_fd("ia3", &L, g3, dg, variant == 2 ? 7 : 6, x, rr, N);
        }
    }
}

static const char *GPT2_CFG = "{\"model_type\": \"gpt2\", \"vocab_size\": 40, \"n_embd\": 16, \"n_layer\": 2, "
                              "\"n_head\": 2, \"n_positions\": 32, \"eos_token_id\": 0}";
static const char *LLAMA_CFG = "{\"model_type\": \"llama\", \"vocab_size\": 40, \"hidden_size\": 24, "
                               "\"intermediate_size\": 40, \"num_hidden_layers\": 2, \"num_attention_heads\": 6, "
                               "\"num_key_value_heads\": 3, \"max_position_embeddings\": 32}";

static ft_model *load_fresh(const char *cfg_txt, const char *dir) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmpdir, dir);
    if (!ft_file_exists(p)) {
        ft_model_config cfg;
        ft_model *m;
        if (ft_config_parse(cfg_txt, "cfg", &cfg) != FT_OK || ft_model_init_random(&cfg, 11, &m) != FT_OK)
            return NULL;
        ft_model_save(m, p, FT_DT_F32);
        ft_model_free(m);
    }
    ft_model *m = NULL;
    return ft_model_load(p, &m) == FT_OK ? m : NULL;
}

static int32_t IDS[2 * 6] = {1, 5, 9, 2, 33, 7, 4, 4, 8, 15, 0, 0};
static int32_t MASK[2 * 6] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};

/* logits of the batch into out (caller frees); NULL on failure */
static float *logits(ft_model *m, int64_t *n) {
    ft_batch b = {.B = 2, .T = 6, .input_ids = IDS, .mask = MASK};
    ft_arena ar;
    if (ft_arena_init(&ar, ft_model_act_bytes(m, 2, 6) + (1 << 20)) != FT_OK)
        return NULL;
    ft_fwd_opts o = {.keep_logits = true};
    ft_acts *a;
    double loss;
    int64_t cnt, rows, cols;
    float *res = NULL;
    if (ft_model_forward(m, &b, &o, &ar, &a, &loss, &cnt) == FT_OK) {
        const float *lg = ft_acts_logits(a, &rows, &cols);
        *n = rows * cols;
        res = malloc((size_t)*n * sizeof(float));
        memcpy(res, lg, (size_t)*n * sizeof(float));
    } else {
        fprintf(stderr, "forward: %s\n", ft_last_error());
    }
    ft_arena_free(&ar);
    return res;
}

static double max_diff(const float *a, const float *b, int64_t n) {
    double d = 0;
    for (int64_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static void randomize_extras(ft_model *m, uint64_t seed, float scale, float offset) {
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].extra && i != m->score)
            for (int64_t j = 0; j < m->params[i].numel; j++)
                m->params[i].data[j] = offset + scale * ft_rng_normal(seed, (uint64_t)i, (uint64_t)j);
}

/* A fresh base with LoRA (r, alpha) on targets; *base gets the bare base's logits first. NULL on failure. */
static ft_model *fresh_lora(const char *cfg, const char *dir, int r, float alpha, const char *targets,
                            float **base, int64_t *n) {
    ft_model *m = load_fresh(cfg, dir);
    FT_CHECK(m != NULL);
    if (!m)
        return NULL;
    *base = logits(m, n);
    ft_peft_cfg c;
    ft_peft_cfg_default(&c);
    c.method = FT_METHOD_LORA;
    c.lora_r = r;
    c.lora_alpha = alpha;
    c.target_modules = targets;
    FT_CHECK_OK(ft_peft_apply(m, &c));
    return m;
}

/* Saves m's adapter to tmpdir/<dir>_<tag> and loads it onto a fresh base: the logits equal want (returned in
 * *re, caller frees) and a re-save (<dir>_<tag>2) is byte-identical. Returns the loaded model. */
static ft_model *save_reload(const ft_model *m, const char *cfg, const char *dir, const char *tag,
                             const float *want, int64_t n, float **re) {
    char ad[256], ad2[256], f1[300], f2[300];
    snprintf(ad, sizeof ad, "%s/%s_%s", tmpdir, dir, tag);
    snprintf(ad2, sizeof ad2, "%s/%s_%s2", tmpdir, dir, tag);
    FT_CHECK_OK(ft_model_save_output(m, ad));
    ft_model *m2 = load_fresh(cfg, dir);
    FT_CHECK_OK(ft_peft_load(m2, ad));
    int64_t n2;
    *re = logits(m2, &n2);
    FT_CHECK(*re && n2 == n && memcmp(*re, want, (size_t)n * sizeof(float)) == 0);
    FT_CHECK_OK(ft_model_save_output(m2, ad2));
    snprintf(f1, sizeof f1, "%s/adapter_model.safetensors", ad);
    snprintf(f2, sizeof f2, "%s/adapter_model.safetensors", ad2);
    char *b1, *b2;
    size_t l1, l2;
    FT_CHECK_OK(ft_read_file(f1, &b1, &l1));
    FT_CHECK_OK(ft_read_file(f2, &b2, &l2));
    FT_CHECK(l1 == l2 && memcmp(b1, b2, l1) == 0);
    free(b1);
    free(b2);
    return m2;
}

FT_TEST(test_lora_identity_merge_roundtrip) {
    const char *cfgs[2] = {GPT2_CFG, LLAMA_CFG};
    const char *dirs[2] = {"g", "l"};
    for (int k = 0; k < 2; k++) {
        int64_t n, n2;
        float *base;
        ft_model *m = fresh_lora(cfgs[k], dirs[k], 4, 8,
                                 k == 0 ? "c_attn,mlp.c_proj" : "q_proj,v_proj,down_proj", &base, &n);
        if (!m)
            return;
        float *init = logits(m, &n2);
        FT_CHECK(init && n2 == n && memcmp(base, init, (size_t)n * sizeof(float)) == 0); /* B = 0: the base */
        char sum[200];
        ft_peft_summary(m, sum, sizeof sum);
        FT_CHECK(strstr(sum, "trainable params: ") != NULL);
        /* only the LoRA tensors train */
        for (int i = 0; i < m->n_params; i++)
            FT_CHECK(m->params[i].trainable == (strstr(m->params[i].name, ".lora_") != NULL));
        randomize_extras(m, 5, 0.3f, 0.0f);
        float *lora = logits(m, &n2);
        FT_CHECK(max_diff(lora, base, n) > 1e-3); /* the adapter changes the model */
        float *re;
        ft_model *m2 = save_reload(m, cfgs[k], dirs[k], "lora", lora, n, &re);
        /* merged: same logits to 1e-5 */
        FT_CHECK_OK(ft_peft_merge(m2));
        float *mg = logits(m2, &n2);
        FT_CHECKF(mg && max_diff(mg, lora, n) < 1e-5, "merged vs unmerged %g", mg ? max_diff(mg, lora, n) : -1.0);
        /* unmerge: the base weights come back bit-exactly and the adapter runs again */
        FT_CHECK_FAILS(ft_peft_merge(m2), FT_ERR_ARG, "already merged");
        FT_CHECK_OK(ft_peft_unmerge(m2));
        float *um = logits(m2, &n2);
        FT_CHECK(um && memcmp(um, re, (size_t)n * sizeof(float)) == 0);
        FT_CHECK_FAILS(ft_peft_unmerge(m2), FT_ERR_ARG, "nothing is merged");
        free(um);
        free(base);
        free(init);
        free(lora);
        free(re);
        free(mg);
        ft_model_free(m2);
        ft_model_free(m);
    }
}

FT_TEST(test_dora_identity_merge) {
    const char *cfgs[2] = {GPT2_CFG, LLAMA_CFG};
    const char *dirs[2] = {"g", "l"};
    for (int k = 0; k < 2; k++) {
        ft_model *m = load_fresh(cfgs[k], dirs[k]);
        if (!m)
            return;
        int64_t n, n2;
        float *base = logits(m, &n);
        ft_peft_cfg c;
        ft_peft_cfg_default(&c);
        c.method = FT_METHOD_LORA;
        c.use_dora = true;
        c.lora_r = 4;
        FT_CHECK_OK(ft_peft_apply(m, &c));
        float *init = logits(m, &n2); /* m = ‖W‖ and B = 0: the base, up to rounding of the norm */
        FT_CHECKF(max_diff(init, base, n) < 1e-5, "DoRA at init differs from the base by %g", max_diff(init, base, n));
        for (int i = 0; i < m->n_params; i++)
            if (m->params[i].extra)
                for (int64_t j = 0; j < m->params[i].numel; j++)
                    m->params[i].data[j] *= strstr(m->params[i].name, "magnitude")
                                                ? 1.0f + 0.3f * ft_rng_normal(7, (uint64_t)i, (uint64_t)j)
                                                : 1.0f;
        for (int i = 0; i < m->n_params; i++)
            if (m->params[i].extra && strstr(m->params[i].name, "lora_B"))
                for (int64_t j = 0; j < m->params[i].numel; j++)
                    m->params[i].data[j] = 0.3f * ft_rng_normal(8, (uint64_t)i, (uint64_t)j);
        float *dora = logits(m, &n2);
        FT_CHECK(max_diff(dora, base, n) > 1e-3);
        FT_CHECK_OK(ft_peft_merge(m));
        float *mg = logits(m, &n2);
        FT_CHECKF(max_diff(mg, dora, n) < 1e-5, "DoRA merged vs unmerged %g", max_diff(mg, dora, n));
        free(base);
        free(init);
        free(dora);
        free(mg);
        ft_model_free(m);
    }
}

FT_TEST(test_ia3_merge) {
    const char *cfgs[2] = {GPT2_CFG, LLAMA_CFG};
    const char *dirs[2] = {"g", "l"};
    for (int k = 0; k < 2; k++) {
        ft_model *m = load_fresh(cfgs[k], dirs[k]);
        if (!m)
            return;
        int64_t n, n2;
        float *base = logits(m, &n);
        ft_peft_cfg c;
        ft_peft_cfg_default(&c);
        c.method = FT_METHOD_IA3;
        FT_CHECK_OK(ft_peft_apply(m, &c));
        float *init = logits(m, &n2);
        FT_CHECK(memcmp(base, init, (size_t)n * sizeof(float)) == 0); /* ones: the base */
        /* feed-forward targets scale the input ([1, in]); the others the output ([out, 1]) */
        int ff = ft_model_find_param(m, k == 0 ? "base_model.model.transformer.h.0.mlp.c_proj.ia3_l"
                                               : "base_model.model.model.layers.0.mlp.down_proj.ia3_l");
        int nf = ft_model_find_param(m, k == 0 ? "base_model.model.transformer.h.0.attn.c_attn.ia3_l"
                                               : "base_model.model.model.layers.0.self_attn.k_proj.ia3_l");
        FT_CHECK(ff >= 0 && nf >= 0 && m->params[ff].shape[0] == 1 && m->params[nf].shape[1] == 1);
        randomize_extras(m, 9, 0.3f, 1.0f);
        float *ia = logits(m, &n2);
        FT_CHECK(max_diff(ia, base, n) > 1e-3);
        FT_CHECK_OK(ft_peft_merge(m));
        float *mg = logits(m, &n2);
        FT_CHECKF(max_diff(mg, ia, n) < 1e-5, "merged vs unmerged %g", max_diff(mg, ia, n));
        FT_CHECK_OK(ft_peft_unmerge(m));
        float *um = logits(m, &n2);
        FT_CHECK(memcmp(um, ia, (size_t)n * sizeof(float)) == 0);
        free(um);
        free(base);
        free(init);
        free(ia);
        free(mg);
        ft_model_free(m);
    }
}

FT_TEST(test_other_methods) {
    ft_model *m = load_fresh(GPT2_CFG, "g");
    if (!m)
        return;
    int64_t n, n2;
    float *base = logits(m, &n);
    ft_peft_cfg c;
    ft_peft_cfg_default(&c);
    /* adapters start as the identity */
    c.method = FT_METHOD_ADAPTER;
    c.adapter_size = 4;
    FT_CHECK_OK(ft_peft_apply(m, &c));
    float *ad = logits(m, &n2);
    FT_CHECK(memcmp(base, ad, (size_t)n * sizeof(float)) == 0);
    FT_CHECK(m->adapters[0].down_w >= 0 && m->adapters[1].down_w >= 0);
    FT_CHECK_FAILS(ft_peft_merge(m), FT_ERR_UNSUPPORTED, "cannot be merged");
    free(ad);
    ft_model_free(m);
    /* prompt tuning: logits cover the virtual tokens; only the prompt trains */
    m = load_fresh(GPT2_CFG, "g");
    c.method = FT_METHOD_PROMPT;
    c.num_virtual_tokens = 3;
    FT_CHECK_OK(ft_peft_apply(m, &c));
    float *pr = logits(m, &n2);
    FT_CHECK(n2 == 2 * 9 * 40);
    for (int i = 0; i < m->n_params; i++)
        FT_CHECK(m->params[i].trainable == !strcmp(m->params[i].name, "prompt_embeddings"));
    free(pr);
    ft_model_free(m);
    /* BitFit: biases only; none in a Llama model → clear error */
    m = load_fresh(GPT2_CFG, "g");
    c.method = FT_METHOD_BITFIT;
    FT_CHECK_OK(ft_peft_apply(m, &c));
    for (int i = 0; i < m->n_params; i++)
        FT_CHECK(m->params[i].trainable == (strstr(m->params[i].name, ".bias") != NULL));
    ft_model_free(m);
    m = load_fresh(LLAMA_CFG, "l");
    FT_CHECK_FAILS(ft_peft_apply(m, &c), FT_ERR_UNSUPPORTED, "has none");
    ft_model_free(m);
    /* freezing: only the top layer (and the final norm) trains */
    m = load_fresh(GPT2_CFG, "g");
    c.method = FT_METHOD_FULL;
    c.train_top_layers = 1;
    FT_CHECK_OK(ft_peft_apply(m, &c));
    FT_CHECK(!m->params[ft_model_find_param(m, "transformer.h.0.attn.c_attn.weight")].trainable);
    FT_CHECK(m->params[ft_model_find_param(m, "transformer.h.1.attn.c_attn.weight")].trainable);
    FT_CHECK(m->params[ft_model_find_param(m, "transformer.ln_f.weight")].trainable);
    FT_CHECK(!m->params[m->wte].trainable);
    ft_model_free(m);
    free(base);
}

static ft_peft_cfg lora_cfg(const char *targets) {
    ft_peft_cfg c;
    ft_peft_cfg_default(&c);
    c.method = FT_METHOD_LORA;
    c.target_modules = targets;
    return c;
}

/* the rank of each LoRA site, layer-major ("-" where none), e.g. "2 6 - - | 8 - ..." per FT_N_SITES */
static void site_ranks(const ft_model *m, char *buf, size_t n) {
    size_t o = 0;
    buf[0] = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int s = 0; s < FT_N_SITES; s++) {
            if (!ft_model_site(m, l, (ft_site)s, NULL, NULL, NULL, NULL, NULL, NULL, 0))
                continue;
            const ft_site_peft *sp = &m->sites[l * FT_N_SITES + s];
            if (sp->lora_a >= 0)
                o += (size_t)snprintf(buf + o, n - o, "%s%d", o ? " " : "", sp->r);
            else
                o += (size_t)snprintf(buf + o, n - o, "%s-", o ? " " : "");
        }
}

/* PEFT 0.21's matching rules (gpt2 sites per layer: c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj). */
FT_TEST(test_lora_pattern_rules) {
    char rk[128];
    struct {
        const char *targets, *rank, *alpha, *layers, *lpat, *excl;
        bool sorted, excl_regex;
        const char *want;
    } cases[] = {
        /* the first key that ends the name wins: "c_proj" before "attn.c_proj" takes both c_proj */
        {"c_attn,c_proj", "c_proj:2,attn.c_proj:6", NULL, NULL, NULL, NULL, false, false, "8 2 - 2 8 2 - 2"},
        /* sorted (a recipe; the saved file's order): "attn.c_proj" comes first */
        {"c_attn,c_proj", "c_proj:2,attn.c_proj:6", NULL, NULL, NULL, NULL, true, false, "8 6 - 2 8 6 - 2"},
        /* a key naming one layer's module; a regex key (anchored after a "." or at the start) */
        {"c_attn,c_fc", "h.0.attn.c_attn:3,^transformer\\.h\\.1\\.mlp.*:5", NULL, NULL, NULL, NULL, false,
         false, "3 - 8 - 8 - 5 -"},
        {"c_attn,c_fc", NULL, NULL, "1", NULL, NULL, false, false, "- - - - 8 - 8 -"},
        {"c_attn,c_fc", NULL, NULL, "0,1", "h", NULL, false, false, "8 - 8 - 8 - 8 -"},
        /* an exact module name skips the layer check (PEFT checks layers only for a suffix match) */
        {"transformer.h.0.attn.c_attn,c_fc", NULL, NULL, "1", NULL, NULL, false, false, "8 - - - - - 8 -"},
        /* exclude_modules first: names (exact or suffix), or a regex fully matched */
        {"all-linear", NULL, NULL, NULL, NULL, "mlp.c_proj,transformer.h.1.attn.c_attn", false, false,
         "8 8 8 - - 8 8 -"},
        {"all-linear", NULL, NULL, NULL, NULL, ".*\\.h\\.0\\..*", false, true, "- - - - 8 8 8 8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ft_model *m = load_fresh(GPT2_CFG, "g");
        if (!m)
            return;
        ft_peft_cfg c = lora_cfg(cases[i].targets);
        c.rank_pattern = cases[i].rank;
        c.alpha_pattern = cases[i].alpha;
        c.layers_to_transform = cases[i].layers;
        c.layers_pattern = cases[i].lpat;
        c.exclude_modules = cases[i].excl;
        c.exclude_regex = cases[i].excl_regex;
        c.pattern_sorted = cases[i].sorted;
        FT_CHECK_OK(ft_peft_apply(m, &c));
        site_ranks(m, rk, sizeof rk);
        FT_CHECKF(!strcmp(rk, cases[i].want), "case %zu: ranks '%s', want '%s'", i, rk, cases[i].want);
        ft_model_free(m);
    }
    /* alpha_pattern and rsLoRA: each module's scale is its alpha / r (or / √r) */
    for (int rs = 0; rs < 2; rs++) {
        ft_model *m = load_fresh(GPT2_CFG, "g");
        ft_peft_cfg c = lora_cfg("c_attn");
        c.rank_pattern = "h.1.attn.c_attn:4";
        c.alpha_pattern = "h.0.attn.c_attn:16";
        c.use_rslora = rs;
        FT_CHECK_OK(ft_peft_apply(m, &c));
        const ft_site_peft *s0 = &m->sites[FT_SITE_QKV], *s1 = &m->sites[FT_N_SITES + FT_SITE_QKV];
        FT_CHECK(s0->r == 8 && s1->r == 4 && m->params[s1->lora_a].shape[0] == 4 &&
                 m->params[s1->lora_b].shape[1] == 4);
        FT_CHECKF(s0->lora_scale == (rs ? 16.0f / sqrtf(8.0f) : 2.0f) &&
                      s1->lora_scale == (rs ? 8.0f / 2.0f : 2.0f),
                  "scales %g %g", s0->lora_scale, s1->lora_scale);
        ft_model_free(m);
    }
    /* refused: what PEFT refuses, what selects nothing, bad items; the message says why */
    struct {
        const char *targets, *rank, *layers, *lpat, *excl;
        bool target_regex;
        ft_status code;
        const char *msg;
    } bad[] = {
        {".*c_attn", NULL, "0", NULL, NULL, true, FT_ERR_CONFIG,
         "cannot be used when target_modules is a string"},
        {"all-linear", NULL, "0", NULL, NULL, false, FT_ERR_CONFIG,
         "cannot be used when target_modules is a string"},
        {"c_attn", NULL, NULL, "h", NULL, false, FT_ERR_CONFIG,
         "layers_pattern 'h' needs layers_to_transform"},
        {"c_attn", NULL, "0", "layers", NULL, false, FT_ERR_CONFIG,
         "with layers_to_transform '0' and layers_pattern 'layers' selects no module of this gpt2 model"},
        {"c_attn", NULL, "5", NULL, NULL, false, FT_ERR_CONFIG, "selects no module"},
        {"c_attn", NULL, "x", NULL, NULL, false, FT_ERR_CONFIG,
         "layers_to_transform item 'x' is not a layer index"},
        {"c_attn", NULL, NULL, NULL, "attn.c_attn", false, FT_ERR_CONFIG,
         "every module target_modules 'c_attn' selects is excluded by exclude_modules 'attn.c_attn'"},
        {"c_attn", "c_attn=4", NULL, NULL, NULL, false, FT_ERR_CONFIG,
         "rank_pattern item 'c_attn=4': expected key:positive integer"},
        {"c_attn", "c_attn:2.5", NULL, NULL, NULL, false, FT_ERR_CONFIG, "expected key:positive integer"},
        {"c_attn", "c_attn:2,c_attn:3", NULL, NULL, NULL, false, FT_ERR_CONFIG,
         "key 'c_attn' is given twice"},
        {"c_attn", "c_(attn:2", NULL, NULL, NULL, false, FT_ERR_CONFIG, "rank_pattern 'c_(attn'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ft_model *m = load_fresh(GPT2_CFG, "g");
        ft_peft_cfg c = lora_cfg(bad[i].targets);
        c.target_regex = bad[i].target_regex;
        c.rank_pattern = bad[i].rank;
        c.layers_to_transform = bad[i].layers;
        c.layers_pattern = bad[i].lpat;
        c.exclude_modules = bad[i].excl;
        FT_CHECK_FAILS(ft_peft_apply(m, &c), bad[i].code, bad[i].msg);
        ft_model_free(m);
    }
    FT_CHECK(ft_peft_spec_is_regex(".*\\.h\\.0\\..*") && ft_peft_spec_is_regex("c_(attn|proj)") &&
             !ft_peft_spec_is_regex("q_proj, v_proj") && !ft_peft_spec_is_regex("all-linear") &&
             !ft_peft_spec_is_regex("model.layers.0.self_attn.q_proj"));
}

static bool same_file(const char *d1, const char *d2, const char *name) {
    char f1[300], f2[300], *b1, *b2;
    size_t l1, l2;
    snprintf(f1, sizeof f1, "%s/%s", d1, name);
    snprintf(f2, sizeof f2, "%s/%s", d2, name);
    if (ft_read_file(f1, &b1, &l1) != FT_OK)
        return false;
    if (ft_read_file(f2, &b2, &l2) != FT_OK) {
        free(b1);
        return false;
    }
    bool same = l1 == l2 && !memcmp(b1, b2, l1);
    free(b1);
    free(b2);
    return same;
}

/* Per-module ranks through save → load (identical logits, byte-identical re-save), the file's keys, and
 * merge; all-linear written as the resolved module names (LoRA and IA3) and loaded back. */
FT_TEST(test_lora_pattern_files) {
    const char *cfgs[2] = {GPT2_CFG, LLAMA_CFG};
    const char *dirs[2] = {"g", "l"};
    for (int k = 0; k < 2; k++) {
        ft_model *m = load_fresh(cfgs[k], dirs[k]);
        if (!m)
            return;
        ft_peft_cfg c = lora_cfg(k == 0 ? "c_attn,c_proj,c_fc" : "q_proj,v_proj,o_proj,down_proj");
        c.lora_r = 3;
        c.rank_pattern = k == 0 ? "c_proj:2,h.0.attn.c_attn:6" : "proj:2,layers.1.self_attn.q_proj:5";
        c.alpha_pattern = k == 0 ? "c_fc:4" : "v_proj:6";
        c.layers_to_transform = k == 0 ? "0,1" : "1";
        c.layers_pattern = k == 0 ? "h" : NULL;
        c.exclude_modules = k == 0 ? "transformer.h.1.mlp.c_fc" : "o_proj";
        c.pattern_sorted = true;
        c.use_dora = k == 1;
        FT_CHECK_OK(ft_peft_apply(m, &c));
        randomize_extras(m, 9, 0.3f, 0.0f);
        if (k == 1) /* DoRA: keep the magnitudes positive */
            for (int i = 0; i < m->n_params; i++)
                if (m->params[i].extra && strstr(m->params[i].name, "magnitude"))
                    for (int64_t j = 0; j < m->params[i].numel; j++)
                        m->params[i].data[j] = 1.0f + fabsf(m->params[i].data[j]);
        int64_t n, n2;
        float *want = logits(m, &n);
        char ad[256], ad2[256], rk[128], rk2[128];
        snprintf(ad, sizeof ad, "%s/%s_pat", tmpdir, dirs[k]);
        snprintf(ad2, sizeof ad2, "%s/%s_pat2", tmpdir, dirs[k]);
        FT_CHECK_OK(ft_model_save_output(m, ad));
        char p[300], *txt = NULL;
        snprintf(p, sizeof p, "%s/adapter_config.json", ad);
        FT_CHECK_OK(ft_read_file(p, &txt, NULL));
        if (k == 0 && txt)
            FT_CHECKF(
                strstr(txt, "\"rank_pattern\": {\n    \"c_proj\": 2,\n    \"h.0.attn.c_attn\": 6\n  }") &&
                    strstr(txt, "\"alpha_pattern\": {\n    \"c_fc\": 4\n  }") &&
                    strstr(txt, "\"layers_to_transform\": [\n    0,\n    1\n  ]") &&
                    strstr(txt, "\"layers_pattern\": \"h\"") &&
                    strstr(txt, "\"exclude_modules\": [\n    \"transformer.h.1.mlp.c_fc\"\n  ]"),
                "adapter_config.json:\n%s", txt);
        if (k == 1 && txt)
            FT_CHECKF(
                strstr(txt, "\"layers_to_transform\": 1,") && strstr(txt, "\"layers_pattern\": null") &&
                    strstr(txt,
                           "\"rank_pattern\": {\n    \"layers.1.self_attn.q_proj\": 5,\n    \"proj\": 2\n"),
                "adapter_config.json:\n%s", txt);
        free(txt);
        site_ranks(m, rk, sizeof rk);
        ft_model *m2 = load_fresh(cfgs[k], dirs[k]);
        FT_CHECK_OK(ft_peft_load(m2, ad));
        site_ranks(m2, rk2, sizeof rk2);
        FT_CHECKF(!strcmp(rk, rk2), "ranks after load '%s', before '%s'", rk2, rk);
        /* llama: "proj" ends no name after a "." ((.*\.)?proj$ needs the dot): v_proj, down_proj keep r = 3
         */
        FT_CHECKF(!strcmp(rk, k == 0 ? "6 2 3 2 3 2 - 2" : "- - - - - - - 5 - 3 - - - 3"), "ranks %s", rk);
        float *re = logits(m2, &n2);
        FT_CHECK(re && n2 == n && !memcmp(re, want, (size_t)n * sizeof(float)));
        FT_CHECK_OK(ft_model_save_output(m2, ad2));
        FT_CHECK(same_file(ad, ad2, "adapter_config.json") &&
                 same_file(ad, ad2, "adapter_model.safetensors"));
        FT_CHECK_OK(ft_peft_merge(m2));
        float *mg = logits(m2, &n2);
        FT_CHECKF(mg && max_diff(mg, want, n) < 1e-5, "merged vs unmerged %g",
                  mg ? max_diff(mg, want, n) : -1.0);
        free(want);
        free(re);
        free(mg);
        ft_model_free(m2);
        ft_model_free(m);
    }
    /* a file whose keys would change the math in a way ftune does not implement is refused, naming the key;
     * malformed pattern keys too (the g_pat adapter with one key replaced) */
    struct {
        const char *from, *to;
        ft_status code;
        const char *msg;
    } bad[] = {
        {"\"use_rslora\": false", "\"use_qalora\": true, \"use_rslora\": false", FT_ERR_UNSUPPORTED,
         "'use_qalora' (QA-LoRA pools the input of lora_A) is not supported"},
        {"\"init_lora_weights\": true", "\"init_lora_weights\": \"pissa_niter_4\"", FT_ERR_UNSUPPORTED,
         "init_lora_weights 'pissa_niter_4' changes the base weights"},
        {"\"use_rslora\": false", "\"layer_replication\": [[0, 1]], \"use_rslora\": false",
         FT_ERR_UNSUPPORTED, "'layer_replication'"},
        {"\"layers_to_transform\": [\n    0,\n    1\n  ]", "\"layers_to_transform\": null", FT_ERR_CONFIG,
         "layers_pattern is set but layers_to_transform is not"},
        {"\"c_fc\": 4", "\"c_fc\": \"4\"", FT_ERR_CONFIG, "alpha_pattern['c_fc'] must be a positive number"},
        {"\"h.0.attn.c_attn\": 6", "\"h.0.attn.c_attn\": 6.5", FT_ERR_CONFIG,
         "rank_pattern['h.0.attn.c_attn'] must be a positive integer"},
        {"\"layers_pattern\": \"h\"", "\"layers_pattern\": \"nomatch\"", FT_ERR_CONFIG,
         "target_modules 'c_attn,c_proj,c_fc' with layers_to_transform '0,1' and layers_pattern 'nomatch' "
         "selects "
         "no module"},
    };
    char gp[300], *gtxt = NULL;
    snprintf(gp, sizeof gp, "%s/g_pat/adapter_config.json", tmpdir);
    FT_CHECK_OK(ft_read_file(gp, &gtxt, NULL));
    for (size_t i = 0; gtxt && i < sizeof bad / sizeof *bad; i++) {
        char *at = strstr(gtxt, bad[i].from), dir[256], cmd[700];
        FT_CHECKF(at != NULL, "'%s' not in the saved config", bad[i].from);
        if (!at)
            continue;
        snprintf(dir, sizeof dir, "%s/g_bad%zu", tmpdir, i);
        snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/g_pat/adapter_model.safetensors %s/", dir, tmpdir,
                 dir);
        FT_CHECK(system(cmd) == 0);
        snprintf(gp, sizeof gp, "%s/adapter_config.json", dir);
        FILE *f = fopen(gp, "w");
        fprintf(f, "%.*s%s%s", (int)(at - gtxt), gtxt, bad[i].to, at + strlen(bad[i].from));
        fclose(f);
        ft_model *m = load_fresh(GPT2_CFG, "g");
        FT_CHECK_FAILS(ft_peft_load(m, dir), bad[i].code, bad[i].msg);
        ft_model_free(m);
    }
    free(gtxt);
    /* all-linear: PEFT writes the full names of the linear modules (a set; sorted here) */
    for (int meth = 0; meth < 2; meth++) {
        ft_model *m = load_fresh(GPT2_CFG, "g");
        ft_peft_cfg c = lora_cfg("all-linear");
        c.method = meth ? FT_METHOD_IA3 : FT_METHOD_LORA;
        FT_CHECK_OK(ft_peft_apply(m, &c));
        randomize_extras(m, 3, 0.3f, 1.0f);
        int64_t n, n2;
        float *want = logits(m, &n);
        char ad[256], p[300], *txt = NULL;
        snprintf(ad, sizeof ad, "%s/g_all_%d", tmpdir, meth);
        FT_CHECK_OK(ft_model_save_output(m, ad));
        snprintf(p, sizeof p, "%s/adapter_config.json", ad);
        FT_CHECK_OK(ft_read_file(p, &txt, NULL));
        FT_CHECKF(
            txt &&
                strstr(txt, "\"target_modules\": [\n    \"transformer.h.0.attn.c_attn\",\n    "
                            "\"transformer.h.0.attn.c_proj\",\n    \"transformer.h.0.mlp.c_fc\",\n    "
                            "\"transformer.h.0.mlp.c_proj\",\n    \"transformer.h.1.attn.c_attn\",\n    "
                            "\"transformer.h.1.attn.c_proj\",\n    \"transformer.h.1.mlp.c_fc\",\n    "
                            "\"transformer.h.1.mlp.c_proj\"\n  ]") &&
                !strstr(txt, "all-linear") &&
                (!meth || strstr(txt, "\"feedforward_modules\": [\n    \"transformer.h.0.mlp.c_proj\",\n    "
                                      "\"transformer.h.1.mlp.c_proj\"\n  ]")),
            "adapter_config.json:\n%s", txt ? txt : "");
        free(txt);
        ft_model *m2 = load_fresh(GPT2_CFG, "g");
        FT_CHECK_OK(ft_peft_load(m2, ad));
        float *re = logits(m2, &n2);
        FT_CHECK(re && n2 == n && !memcmp(re, want, (size_t)n * sizeof(float)));
        free(want);
        free(re);
        ft_model_free(m2);
        ft_model_free(m);
    }
}

FT_TEST(test_bad_adapters) {
    ft_model *m = load_fresh(GPT2_CFG, "g");
    if (!m)
        return;
    ft_peft_cfg c;
    ft_peft_cfg_default(&c);
    c.method = FT_METHOD_LORA;
    c.target_modules = "q_proj";
    FT_CHECK_FAILS(ft_peft_apply(m, &c), FT_ERR_CONFIG, "matches no module of this gpt2 model; its linear modules "
                                                        "are (per layer): attn.c_attn, attn.c_proj, mlp.c_fc");
    ft_model_free(m);
    /* a gpt2 LoRA adapter onto a llama model */
    ft_model *l = load_fresh(LLAMA_CFG, "l");
    char ad[256], cfgp[300];
    snprintf(ad, sizeof ad, "%s/g_lora", tmpdir); /* written by the round-trip test */
    FT_CHECK_FAILS(ft_peft_load(l, ad), FT_ERR_CONFIG, "matches no module of this llama model");
    ft_model_free(l);
    /* unknown peft_type */
    snprintf(ad, sizeof ad, "%s/bad_ad", tmpdir);
    ft_mkdir_p(ad);
    snprintf(cfgp, sizeof cfgp, "%s/adapter_config.json", ad);
    FILE *f = fopen(cfgp, "w");
    fputs("{\"peft_type\": \"LOHA\", \"r\": 4}", f);
    fclose(f);
    m = load_fresh(GPT2_CFG, "g");
    FT_CHECK_FAILS(ft_peft_load(m, ad), FT_ERR_UNSUPPORTED, "unknown peft_type 'LOHA'");
    ft_model_free(m);
    /* numbers out of range (fuzz_peft: r = 4.9e16 was cast to int, undefined behaviour) */
    const char *bad_nums[][2] = {
        {"{\"peft_type\": \"LORA\", \"r\": 49007199254740993, \"target_modules\": [\"c_attn\"]}",
         "'r' is 4.900719925e+16, expected an integer in [1, 1048576]"},
        {"{\"peft_type\": \"LORA\", \"r\": 2.5, \"target_modules\": [\"c_attn\"]}",
         "'r' is 2.5, expected an integer"},
        {"{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 1e300}", "'lora_alpha' is 1e+300"},
        {"{\"peft_type\": \"LORA\", \"r\": 4, \"lora_dropout\": -0.5}", "'lora_dropout' is -0.5"},
        {"{\"peft_type\": \"PROMPT_TUNING\", \"num_virtual_tokens\": 1e12}", "'num_virtual_tokens' is 1e+12"},
        {"{\"peft_type\": \"BOTTLENECK_ADAPTER\", \"adapter_size\": 0}", "'adapter_size' is 0"}};
    for (size_t i = 0; i < sizeof bad_nums / sizeof *bad_nums; i++) {
        f = fopen(cfgp, "w");
        fputs(bad_nums[i][0], f);
        fclose(f);
        m = load_fresh(GPT2_CFG, "g");
        FT_CHECK_FAILS(ft_peft_load(m, ad), FT_ERR_FORMAT, bad_nums[i][1]);
        ft_model_free(m);
    }
    /* an adapter whose tensors do not fit: r in the config differs from the file */
    snprintf(cfgp, sizeof cfgp, "%s/g_lora/adapter_config.json", tmpdir);
    char *txt;
    size_t len;
    FT_CHECK_OK(ft_read_file(cfgp, &txt, &len));
    char *rp = strstr(txt, "\"r\": 4");
    if (rp) {
        rp[5] = '2';
        snprintf(cfgp, sizeof cfgp, "%s/bad_ad/adapter_config.json", tmpdir);
        f = fopen(cfgp, "w");
        fputs(txt, f);
        fclose(f);
        char src[300], dst[300], cmd[700];
        snprintf(src, sizeof src, "%s/g_lora/adapter_model.safetensors", tmpdir);
        snprintf(dst, sizeof dst, "%s/bad_ad/adapter_model.safetensors", tmpdir);
        snprintf(cmd, sizeof cmd, "cp %s %s", src, dst);
        FT_CHECK(system(cmd) == 0);
        m = load_fresh(GPT2_CFG, "g");
        FT_CHECK_FAILS(ft_peft_load(m, ad), FT_ERR_SHAPE, "has shape [4, 16], the model expects [2, 16]");
        ft_model_free(m);
    }
    FT_CHECK(rp != NULL);
    free(txt);
}

FT_TEST(test_classification_head) {
    ft_model *m = load_fresh(GPT2_CFG, "g");
    if (!m)
        return;
    const char *names[3] = {"neg", "neu", "pos"};
    FT_CHECK_OK(ft_model_set_task(m, FT_TASK_SEQ_CLS, 3, names, 1));
    ft_peft_cfg c;
    ft_peft_cfg_default(&c);
    c.method = FT_METHOD_LORA;
    FT_CHECK_OK(ft_peft_apply(m, &c));
    FT_CHECK(m->params[m->score].trainable); /* modules_to_save */
    int64_t n;
    float *lg = logits(m, &n);
    FT_CHECK(lg == NULL); /* the batch has no class labels: clear error */
    FT_CHECK(strstr(ft_last_error(), "no class labels") != NULL);
    int32_t cls[2] = {2, 0};
    ft_batch b = {.B = 2, .T = 6, .input_ids = IDS, .mask = MASK, .cls_labels = cls};
    ft_arena ar;
    ft_arena_init(&ar, ft_model_act_bytes(m, 2, 6) + (1 << 20));
    ft_fwd_opts o = {.keep_logits = true};
    ft_acts *a;
    double loss;
    int64_t cnt, rows, cols;
    FT_CHECK_OK(ft_model_forward(m, &b, &o, &ar, &a, &loss, &cnt));
    ft_acts_logits(a, &rows, &cols);
    FT_CHECK(rows == 2 && cols == 3 && cnt == 2);
    FT_CHECK_OK(ft_model_backward(m, a, &ar, 1.0f));
    { double g = 0; for (int i = 0; i < 48; i++) g += fabs(m->params[m->score].grad[i]); FT_CHECK(g > 0); }
    ft_arena_free(&ar);
    char ad[256];
    snprintf(ad, sizeof ad, "%s/cls_lora", tmpdir);
    FT_CHECK_OK(ft_model_save_output(m, ad));
    ft_model *m2 = load_fresh(GPT2_CFG, "g");
    FT_CHECK_OK(ft_peft_load(m2, ad)); /* the head comes back from modules_to_save */
    FT_CHECK(m2->task == FT_TASK_SEQ_CLS && m2->n_labels == 3);
    ft_model_free(m2);
    free(lg);
    ft_model_free(m);
}

static ft_model *with_adapter(const char *cfg, const char *dir, ft_method meth, const char *out, uint64_t seed) {
    ft_model *m = load_fresh(cfg, dir);
    ft_peft_cfg c;
    ft_peft_cfg_default(&c);
    c.method = meth;
    c.num_virtual_tokens = 2;
    if (!m || ft_peft_apply(m, &c) != FT_OK)
        return NULL;
    randomize_extras(m, seed, 0.3f, meth == FT_METHOD_IA3 ? 1.0f : 0.0f);
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmpdir, out);
    if (ft_model_save_output(m, p) != FT_OK)
        return NULL;
    return m;
}

FT_TEST(test_adapter_slots) {
    const char *names[3] = {"lora", "ia3", "prompt"};
    ft_method meths[3] = {FT_METHOD_LORA, FT_METHOD_IA3, FT_METHOD_PROMPT};
    float *want[3];
    int64_t n[3], nb;
    for (int k = 0; k < 3; k++) { /* each adapter alone: the reference logits */
        char out[64];
        snprintf(out, sizeof out, "slot_%s", names[k]);
        ft_model *m = with_adapter(GPT2_CFG, "g", meths[k], out, 20 + (uint64_t)k);
        FT_CHECK(m != NULL);
        if (!m)
            return;
        want[k] = logits(m, &n[k]);
        ft_model_free(m);
    }
    ft_model *m = load_fresh(GPT2_CFG, "g");
    float *base = logits(m, &nb);
    for (int k = 0; k < 3; k++) {
        char p[256];
        snprintf(p, sizeof p, "%s/slot_%s", tmpdir, names[k]);
        FT_CHECK_OK(ft_peft_add(m, p, names[k]));
        FT_CHECK(!strcmp(ft_peft_active(m), names[k]));
    }
    FT_CHECK(ft_peft_slot_count(m) == 3);
    const int order[5] = {0, 2, 1, 0, 2};
    for (int i = 0; i < 5; i++) { /* switching back and forth gives each adapter's own logits */
        int k = order[i];
        FT_CHECK_OK(ft_peft_activate(m, names[k]));
        int64_t nn;
        float *got = logits(m, &nn);
        FT_CHECKF(got && nn == n[k] && memcmp(got, want[k], (size_t)nn * sizeof(float)) == 0, "slot %s", names[k]);
        free(got);
    }
    FT_CHECK_OK(ft_peft_activate(m, NULL)); /* the bare base */
    int64_t nn;
    float *got = logits(m, &nn);
    FT_CHECK(got && nn == nb && memcmp(got, base, (size_t)nb * sizeof(float)) == 0);
    FT_CHECK(ft_peft_active(m) == NULL);
    free(got);
    FT_CHECK_FAILS(ft_peft_activate(m, "nope"), FT_ERR_MISSING, "no adapter named 'nope' is loaded (loaded: lora, ia3, prompt)");
    char p[256];
    snprintf(p, sizeof p, "%s/slot_lora", tmpdir);
    FT_CHECK_FAILS(ft_peft_add(m, p, "lora"), FT_ERR_ARG, "already loaded");
    ft_model_free(m);
    for (int k = 0; k < 3; k++)
        free(want[k]);
    free(base);
}

/* L = Σ rr ⊙ (y + lora(ids)) for the embedding-LoRA kernel alone (y = 0). */
static double emb_lora_loss(const float *A, const float *B, const int32_t *ids, const float *rr, int64_t N,
                            int64_t C, int64_t V, int r, float s) {
    float y[6 * 5] = {0};
    ft_embedding_lora_forward(y, A, B, ids, N, C, V, r, s);
    double l = 0;
    for (int64_t i = 0; i < N * C; i++)
        l += (double)rr[i] * y[i];
    return l;
}

FT_TEST(test_emb_lora_fd) {
    enum { N = 6, C = 5, V = 7, R = 3 };
    const int32_t ids[N] = {2, 0, 5, 2, 6, 0}, pad = 0; /* repeated ids, and the padding row twice */
    float A[R * V], B[C * R], rr[N * C], dA[R * V] = {0}, dB[C * R] = {0};
    const float s = 0.7f;
    fill(A, R * V, 31, 0.5f);
    fill(B, C * R, 32, 0.5f);
    fill(rr, N * C, 33, 1.0f);
    ft_embedding_lora_backward(dA, dB, rr, A, B, ids, N, C, V, R, s, pad);
    float *ps[2] = {A, B}, *gs[2] = {dA, dB};
    const int ns[2] = {R * V, C * R};
    for (int w = 0; w < 2; w++) {
        double gmax = 1e-12, err = 0;
        for (int i = 0; i < ns[w]; i++)
            gmax = fmax(gmax, fabs(gs[w][i]));
        for (int i = 0; i < ns[w]; i++) {
            if (w == 0 && i % V == pad) { /* PEFT's F.embedding(padding_idx): the pad column gets nothing */
                FT_CHECK(dA[i] == 0.0f);
                continue;
            }
            float keep = ps[w][i], h = 1e-2f;
            ps[w][i] = keep + h;
            double lp = emb_lora_loss(A, B, ids, rr, N, C, V, R, s);
            ps[w][i] = keep - h;
            double lm = emb_lora_loss(A, B, ids, rr, N, C, V, R, s);
            ps[w][i] = keep;
            err = fmax(err, fabs((lp - lm) / (2.0 * h) - gs[w][i]));
        }
        FT_CHECKF(err <= 2e-3 * gmax, "%s: max FD error %g vs max grad %g",
                  w ? "lora_embedding_B" : "lora_embedding_A", err, gmax);
    }
    /* without a padding row every column that occurs gets its gradient */
    float dA2[R * V] = {0};
    ft_embedding_lora_backward(dA2, NULL, rr, A, B, ids, N, C, V, R, s, -1);
    FT_CHECK(dA2[0] != 0.0f && dA2[2] == dA[2] && dA2[1] == 0.0f);
}

/* One causal-LM step: loss and (with grads) the gradients of what trains. */
static double lm_step(ft_model *m, bool backward) {
    ft_batch b = {.B = 2, .T = 6, .input_ids = IDS, .mask = MASK};
    ft_arena ar;
    if (ft_arena_init(&ar, ft_model_act_bytes(m, 2, 6) + (1 << 20)) != FT_OK)
        return NAN;
    ft_fwd_opts o = {0};
    ft_acts *a;
    double loss = NAN;
    int64_t cnt;
    ft_model_zero_grad(m);
    if (ft_model_forward(m, &b, &o, &ar, &a, &loss, &cnt) != FT_OK ||
        (backward && ft_model_backward(m, a, &ar, 1.0f) != FT_OK))
        loss = NAN;
    ft_arena_free(&ar);
    return loss;
}

static const char *LLAMA_TIED_PAD_CFG =
    "{\"model_type\": \"llama\", \"vocab_size\": 40, \"hidden_size\": 24, "
    "\"intermediate_size\": 40, \"num_hidden_layers\": 2, "
    "\"num_attention_heads\": 6, \"num_key_value_heads\": 3, "
    "\"max_position_embeddings\": 32, \"tie_word_embeddings\": true, "
    "\"pad_token_id\": 0}";

/* LoRA on the token embedding (with a linear target): init reproduces the base exactly, A trains from 0, the
 * padding column gets no gradient, save → load → re-save byte-identical, merge (untying a tied head) and
 * unmerge, a merged checkpoint, generation, a slot; refusals. */
FT_TEST(test_emb_lora_model) {
    const char *cfgs[3] = {GPT2_CFG, LLAMA_CFG, LLAMA_TIED_PAD_CFG};
    const char *dirs[3] = {"g", "l", "lt"};
    const char *targets[3] = {"c_attn,wte", "embed_tokens,q_proj", "embed_tokens,v_proj"};
    for (int k = 0; k < 3; k++) {
        int64_t n, n2;
        float *base;
        ft_model *m = fresh_lora(cfgs[k], dirs[k], 3, 6, targets[k], &base, &n);
        if (!m)
            return;
        const bool tied = m->lm_head == m->wte;
        const ft_emb_peft ep = m->emb[FT_EMB_TOKENS];
        FT_CHECK(ep.lora_a >= 0 && ep.lora_b >= 0 && ep.r == 3 && ep.lora_scale == 2.0f &&
                 m->emb[FT_EMB_POSITIONS].lora_a < 0);
        if (ep.lora_a < 0)
            return;
        const ft_param *pa = &m->params[ep.lora_a], *pb = &m->params[ep.lora_b];
        FT_CHECK(strstr(pa->name,
                        k ? "model.embed_tokens.lora_embedding_A" : "transformer.wte.lora_embedding_A") &&
                 pa->shape[0] == 3 && pa->shape[1] == 40 && pb->shape[0] == m->cfg.hidden &&
                 pb->shape[1] == 3);
        double asum = 0, bsum = 0; /* PEFT's init: A = 0, B ~ N(0, 1) */
        for (int64_t j = 0; j < pa->numel; j++)
            asum += fabs(pa->data[j]);
        for (int64_t j = 0; j < pb->numel; j++)
            bsum += (double)pb->data[j] * pb->data[j];
        FT_CHECKF(asum == 0.0 && fabs(bsum / (double)pb->numel - 1.0) < 0.35, "A %g, mean B² %g", asum,
                  bsum / (double)pb->numel);
        float *init = logits(m, &n2);
        FT_CHECK(init && n2 == n && memcmp(base, init, (size_t)n * sizeof(float)) == 0);
        /* a few SGD steps: A leaves 0, the loss falls, the padding column (llama pad 0) gets no gradient */
        double l0 = lm_step(m, true), l = l0;
        for (int step = 0; step < 3; step++) {
            if (k == 2)
                for (int q = 0; q < 3; q++)
                    FT_CHECK(pa->grad[q * 40 + 0] == 0.0f);
            for (int i = 0; i < m->n_params; i++)
                for (int64_t j = 0; m->params[i].trainable && j < m->params[i].numel; j++)
                    m->params[i].data[j] -= 0.05f * m->params[i].grad[j];
            l = lm_step(m, true);
        }
        asum = 0;
        for (int64_t j = 0; j < pa->numel; j++)
            asum += fabs(pa->data[j]);
        FT_CHECKF(asum > 1e-3 && l < l0, "after 3 steps: sum |A| %g, loss %g -> %g", asum, l0, l);
        randomize_extras(m, 9, 0.3f, 0.0f);
        float *lora = logits(m, &n2);
        FT_CHECK(max_diff(lora, base, n) > 1e-3);
        float *re;
        ft_model *m2 = save_reload(m, cfgs[k], dirs[k], "emb", lora, n, &re);
        if (!m2)
            return;
        /* generation with the KV cache sees the adapter: the last position's logits of row 0 */
        ft_kv *kv;
        float gl[40];
        FT_CHECK_OK(ft_kv_new(m2, 8, &kv));
        FT_CHECK_OK(ft_infer(m2, kv, IDS, 6, gl));
        FT_CHECKF(max_diff(gl, re + 5 * 40, 40) < 1e-4, "generation vs forward %g",
                  max_diff(gl, re + 5 * 40, 40));
        ft_kv_free(kv);
        /* merge: a tied head is untied and keeps the original matrix, so the logits stay */
        FT_CHECK_OK(ft_peft_merge(m2));
        FT_CHECK((tied ? m2->lm_head != m2->wte : m2->lm_head == m->lm_head) &&
                 m2->emb[FT_EMB_TOKENS].lora_a < 0);
        float *mg = logits(m2, &n2);
        FT_CHECKF(mg && max_diff(mg, lora, n) < 1e-5, "merged vs unmerged %g",
                  mg ? max_diff(mg, lora, n) : -1.0);
        char md[256];
        snprintf(md, sizeof md, "%s/%s_emb_merged", tmpdir, dirs[k]);
        FT_CHECK_OK(ft_model_save(m2, md, FT_DT_F32));
        ft_model *m3 = NULL;
        FT_CHECK_OK(ft_model_load(md, &m3));
        if (m3) {
            FT_CHECK(!m3->cfg.tie_embeddings && m3->lm_head != m3->wte);
            float *ml = logits(m3, &n2);
            FT_CHECKF(ml && max_diff(ml, lora, n) < 1e-5, "merged checkpoint vs unmerged %g",
                      ml ? max_diff(ml, lora, n) : -1.0);
            free(ml);
            ft_model_free(m3);
        }
        FT_CHECK_OK(ft_peft_unmerge(m2));
        FT_CHECK(m2->lm_head == (tied ? m2->wte : m->lm_head) && m2->emb[FT_EMB_TOKENS].lora_a >= 0);
        float *um = logits(m2, &n2);
        FT_CHECK(um && memcmp(um, re, (size_t)n * sizeof(float)) == 0);
        ft_model_free(m2);
        /* as a slot over a shared base: its own logits, and the bare base again */
        ft_model *m4 = load_fresh(cfgs[k], dirs[k]);
        char sd[256];
        snprintf(sd, sizeof sd, "%s/%s_emb", tmpdir, dirs[k]);
        FT_CHECK_OK(ft_peft_add(m4, sd, "emb"));
        float *sl = logits(m4, &n2);
        FT_CHECK(sl && memcmp(sl, lora, (size_t)n * sizeof(float)) == 0);
        FT_CHECK_OK(ft_peft_activate(m4, NULL));
        float *bare = logits(m4, &n2);
        FT_CHECK(bare && memcmp(bare, base, (size_t)n * sizeof(float)) == 0);
        ft_model_free(m4);
        free(sl);
        free(bare);
        free(um);
        free(mg);
        free(re);
        free(lora);
        free(init);
        free(base);
        ft_model_free(m);
    }
    /* ensure_weight_tying: PEFT would adapt the head tied to the targeted table as well; refused on a tied
     * model (GPT-2), no effect on an untied one (llama) */
    for (int k = 0; k < 2; k++) {
        const char *dn = k == 0 ? "g" : "l";
        char src[256], dir[256], cmd[900], cp[300], *txt = NULL;
        snprintf(src, sizeof src, "%s/%s_emb", tmpdir, dn);
        snprintf(dir, sizeof dir, "%s/%s_emb_tying", tmpdir, dn);
        snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/adapter_model.safetensors %s/", dir, src, dir);
        FT_CHECK(system(cmd) == 0);
        snprintf(cp, sizeof cp, "%s/adapter_config.json", src);
        FT_CHECK_OK(ft_read_file(cp, &txt, NULL));
        char *at = txt ? strstr(txt, "\"use_rslora\"") : NULL;
        FT_CHECK(at != NULL);
        if (!at) {
            free(txt);
            continue;
        }
        snprintf(cp, sizeof cp, "%s/adapter_config.json", dir);
        FILE *f = fopen(cp, "w");
        fprintf(f, "%.*s\"ensure_weight_tying\": true,\n  %s", (int)(at - txt), txt, at);
        fclose(f);
        free(txt);
        ft_model *m = load_fresh(k == 0 ? GPT2_CFG : LLAMA_CFG, dn);
        if (k == 0)
            FT_CHECK_FAILS(ft_peft_load(m, dir), FT_ERR_UNSUPPORTED,
                           "'ensure_weight_tying' true with LoRA on the tied token embedding");
        else
            FT_CHECK_OK(ft_peft_load(m, dir));
        ft_model_free(m);
    }
    /* bf16 compute over a tied table: merging moves the original matrix's bf16 copy to the untied head, and
     * unmerging brings back the same bits */
    if (ft_bf16_native()) {
        char gd[256];
        snprintf(gd, sizeof gd, "%s/g_emb", tmpdir);
        ft_model *m = load_fresh(GPT2_CFG, "g");
        FT_CHECK_OK(ft_peft_load(m, gd));
        FT_CHECK_OK(ft_model_set_precision(m, FT_PREC_BF16));
        int64_t n, n2;
        float *un = logits(m, &n);
        const uint16_t *head16 = m->params[m->lm_head].data16;
        FT_CHECK_OK(ft_peft_merge(m));
        FT_CHECK(m->lm_head != m->wte && m->params[m->lm_head].data16 == head16);
        float *mg = logits(m, &n2);
        FT_CHECKF(un && mg && max_diff(mg, un, n) < 3e-2, "bf16 merged vs unmerged %g", max_diff(mg, un, n));
        FT_CHECK_OK(ft_peft_unmerge(m));
        FT_CHECK(m->lm_head == m->wte && m->params[m->wte].data16 == head16);
        float *um = logits(m, &n2);
        FT_CHECK(um && memcmp(um, un, (size_t)n * sizeof(float)) == 0);
        free(un);
        free(mg);
        free(um);
        ft_model_free(m);
    }
    /* refusals: DoRA and IA3 on an embedding; all-linear never takes one */
    const struct {
        ft_method meth;
        bool dora;
        const char *targets, *err;
    } cases[3] = {{FT_METHOD_LORA, true, "c_attn,wte", "use_dora on the embedding transformer.wte"},
                  {FT_METHOD_IA3, false, "wpe", "embedding transformer.wpe: ia3"},
                  {FT_METHOD_LORA, false, "all-linear", NULL}};
    for (int i = 0; i < 3; i++) {
        ft_model *m = load_fresh(GPT2_CFG, "g");
        ft_peft_cfg c;
        ft_peft_cfg_default(&c);
        c.method = cases[i].meth;
        c.use_dora = cases[i].dora;
        c.target_modules = cases[i].targets;
        if (cases[i].err)
            FT_CHECK_FAILS(ft_peft_apply(m, &c), FT_ERR_UNSUPPORTED, cases[i].err);
        else
            FT_CHECK_OK(ft_peft_apply(m, &c));
        FT_CHECK(m->emb[FT_EMB_TOKENS].lora_a < 0 && m->emb[FT_EMB_POSITIONS].lora_a < 0);
        ft_model_free(m);
    }
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ft_test_peft_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    FT_RUN(test_lin_hooks_fd);
    FT_RUN(test_lora_identity_merge_roundtrip);
    FT_RUN(test_dora_identity_merge);
    FT_RUN(test_ia3_merge);
    FT_RUN(test_other_methods);
    FT_RUN(test_lora_pattern_rules);
    FT_RUN(test_lora_pattern_files);
    FT_RUN(test_bad_adapters);
    FT_RUN(test_classification_head);
    FT_RUN(test_adapter_slots);
    FT_RUN(test_emb_lora_fd);
    FT_RUN(test_emb_lora_model);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        return 1;
    FT_DONE();
}
