/* models/vit.c and kernels/patch.c: the patch extraction against a direct convolution, the bicubic resize's
 * backward as the transpose of its forward, activation checkpointing giving the same gradients bit for bit
 * (every method, dropout on, at the checkpoint's image size and a resized one) inside the arena the estimate
 * sizes, the bf16 path near fp32, and bad input refused by name. The math against PyTorch is
 * tests/vit_parity.sh. */
#include "ft_test.h"
#include "kernels/kernels.h"
#include "models/model.h"
#include "peft/peft.h"

static const char *CFG = "{\"model_type\": \"vit\", \"hidden_size\": 16, \"num_hidden_layers\": 2, "
                         "\"num_attention_heads\": 2, \"intermediate_size\": 24, \"image_size\": 12, "
                         "\"patch_size\": 4, \"num_channels\": 3, \"initializer_range\": 0.2}";

FT_TEST(patchify_is_the_strided_convolution) {
    enum { Bn = 2, CH = 3, H = 8, Wd = 12, P = 4, O = 5, K = CH * P * P, GH = H / P, GW = Wd / P };
    float pix[Bn * CH * H * Wd], w[O * K], bias[O], X[Bn * GH * GW * K], E[Bn * GH * GW * O];
    for (int i = 0; i < Bn * CH * H * Wd; i++)
        pix[i] = ft_rng_normal(1, 0, (uint64_t)i);
    for (int i = 0; i < O * K; i++)
        w[i] = ft_rng_normal(1, 1, (uint64_t)i);
    for (int i = 0; i < O; i++)
        bias[i] = ft_rng_normal(1, 2, (uint64_t)i);
    ft_patchify(X, pix, Bn, CH, H, Wd, P);
    ft_linear_forward(E, X, w, bias, Bn * GH * GW, K, O, false);
    double worst = 0.0;
    for (int b = 0; b < Bn; b++)
        for (int i = 0; i < GH; i++)
            for (int j = 0; j < GW; j++)
                for (int o = 0; o < O; o++) {
                    double s = bias[o]; /* Conv2d(stride = kernel = P), output [b, o, i, j] */
                    for (int c = 0; c < CH; c++)
                        for (int ky = 0; ky < P; ky++)
                            for (int kx = 0; kx < P; kx++)
                                s += (double)w[((o * CH + c) * P + ky) * P + kx] *
                                     pix[((b * CH + c) * H + i * P + ky) * Wd + j * P + kx];
                    const double d = fabs(s - E[((b * GH + i) * GW + j) * O + o]);
                    worst = d > worst ? d : worst;
                }
    FT_CHECKF(worst < 1e-4, "largest difference %g", worst);
}

FT_TEST(bicubic_backward_is_the_transpose) {
    static const int sizes[][4] = {{3, 3, 4, 5}, {3, 3, 2, 2}, {4, 4, 4, 4}, {2, 5, 7, 3}};
    enum { C = 3 };
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        const int ih = sizes[k][0], iw = sizes[k][1], oh = sizes[k][2], ow = sizes[k][3];
        float x[64 * C], y[64 * C], dy[64 * C], dx[64 * C] = {0};
        for (int i = 0; i < ih * iw * C; i++)
            x[i] = ft_rng_normal(3, k, (uint64_t)i);
        for (int i = 0; i < oh * ow * C; i++)
            dy[i] = ft_rng_normal(4, k, (uint64_t)i);
        ft_bicubic_resize_forward(y, x, ih, iw, oh, ow, C);
        ft_bicubic_resize_backward(dx, dy, ih, iw, oh, ow, C);
        double a = 0.0, b = 0.0; /* <R x, dy> = <x, Rᵀ dy> */
        for (int i = 0; i < oh * ow * C; i++)
            a += (double)y[i] * dy[i];
        for (int i = 0; i < ih * iw * C; i++)
            b += (double)x[i] * dx[i];
        FT_CHECKF(fabs(a - b) < 1e-4 * (1.0 + fabs(a)), "%dx%d -> %dx%d: %g vs %g", ih, iw, oh, ow, a, b);
        if (ih == oh && iw == ow) /* the same size: the identity */
            for (int i = 0; i < ih * iw * C; i++)
                FT_CHECK(y[i] == x[i]);
        for (int i = 0; i < ih * iw * C; i++) /* the weights sum to 1: a constant grid stays constant */
            x[i] = 2.5f;
        ft_bicubic_resize_forward(y, x, ih, iw, oh, ow, C);
        for (int i = 0; i < oh * ow * C; i++)
            FT_CHECK_NEAR(y[i], 2.5, 1e-5);
    }
}

static ft_model *build(ft_method method, bool dora) {
    ft_model_config cfg;
    ft_model *m = NULL;
    if (ft_config_parse(CFG, "cfg", &cfg) != FT_OK || ft_model_init_random(&cfg, 3, &m) != FT_OK)
        return NULL;
    m->cfg.embd_dropout = m->cfg.attn_dropout = m->cfg.resid_dropout = 0.1f; /* every dropout site on */
    ft_peft_cfg pc;
    ft_peft_cfg_default(&pc);
    pc.method = method;
    pc.use_dora = dora;
    pc.lora_r = 4;
    pc.adapter_size = 6;
    pc.seed = 2;
    if (ft_model_set_task(m, FT_TASK_SEQ_CLS, 3, NULL, 4) != FT_OK || ft_peft_apply(m, &pc) != FT_OK) {
        ft_model_free(m);
        return NULL;
    }
    for (int i = 0; i < m->n_params; i++) /* attached tensors off their identity init */
        if (m->params[i].extra)
            for (int64_t j = 0; j < m->params[i].numel; j++)
                m->params[i].data[j] += 0.1f * ft_rng_normal(9, (uint64_t)i, (uint64_t)j);
    if (method == FT_METHOD_FULL)
        for (int i = 0; i < m->n_params; i++)
            if (ft_model_set_trainable(m, i, true) != FT_OK) {
                ft_model_free(m);
                return NULL;
            }
    return m;
}

static float PIX[2 * 3 * 16 * 20];
static int32_t LAB[2] = {2, 0};

/* One training step (dropout on) with the arena sized exactly by the estimate; the gradients copied out. */
static bool step(ft_model *m, int H, int Wd, bool ckpt, float ***g, double *loss) {
    for (int i = 0; i < 2 * 3 * H * Wd; i++)
        PIX[i] = ft_rng_normal(5, 0, (uint64_t)i);
    ft_batch b = {.B = 2, .pixel_values = PIX, .img_c = 3, .img_h = H, .img_w = Wd, .cls_labels = LAB};
    ft_arena ar;
    if (ft_arena_init(&ar, ft_model_act_bytes_ckpt(m, 2, ft_model_batch_seq_len(m, &b), ckpt)) != FT_OK)
        return false;
    ft_model_zero_grad(m);
    ft_fwd_opts o = {.training = true, .seed = 77, .step = 5, .checkpoint = ckpt};
    ft_acts *a;
    int64_t cnt;
    bool ok = ft_model_forward(m, &b, &o, &ar, &a, loss, &cnt) == FT_OK &&
              ft_model_backward(m, a, &ar, 1.0f) == FT_OK;
    if (!ok)
        fprintf(stderr, "  %dx%d checkpoint %d: %s\n", H, Wd, ckpt, ft_last_error());
    ft_arena_free(&ar);
    *g = calloc((size_t)m->n_params, sizeof **g);
    for (int i = 0; ok && i < m->n_params; i++)
        if (m->params[i].grad) {
            (*g)[i] = malloc((size_t)m->params[i].numel * sizeof(float));
            memcpy((*g)[i], m->params[i].grad, (size_t)m->params[i].numel * sizeof(float));
        }
    return ok;
}

FT_TEST(checkpointing_gives_the_same_gradients) {
    static const struct {
        const char *name;
        ft_method method;
        bool dora;
    } cases[] = {{"full", FT_METHOD_FULL, false},     {"lora", FT_METHOD_LORA, false},
                 {"dora", FT_METHOD_LORA, true},      {"ia3", FT_METHOD_IA3, false},
                 {"bitfit", FT_METHOD_BITFIT, false}, {"adapter", FT_METHOD_ADAPTER, false}};
    static const int sizes[][2] = {{12, 12}, {16, 20}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        for (int s = 0; s < 2; s++) {
            ft_model *m = build(cases[k].method, cases[k].dora);
            FT_CHECKF(m != NULL, "%s: %s", cases[k].name, ft_last_error());
            if (!m)
                continue;
            float **g0 = NULL, **g1 = NULL;
            double l0 = 0, l1 = 1;
            const bool ok0 = step(m, sizes[s][0], sizes[s][1], false, &g0, &l0),
                       ok1 = step(m, sizes[s][0], sizes[s][1], true, &g1, &l1);
            FT_CHECKF(ok0 && ok1 && l0 == l1, "%s %dx%d: loss %.9g vs %.9g", cases[k].name, sizes[s][0],
                      sizes[s][1], l0, l1);
            int n_tr = 0, n_nonzero = 0;
            for (int i = 0; ok0 && ok1 && i < m->n_params; i++) {
                if (!g0[i])
                    continue;
                n_tr++;
                bool nz = false;
                for (int64_t j = 0; j < m->params[i].numel; j++)
                    nz |= g0[i][j] != 0.0f;
                n_nonzero += nz;
                FT_CHECKF(!memcmp(g0[i], g1[i], (size_t)m->params[i].numel * sizeof(float)),
                          "%s %dx%d: gradient of %s differs with checkpointing", cases[k].name, sizes[s][0],
                          sizes[s][1], m->params[i].name);
            }
            FT_CHECKF(n_tr > 0 && n_nonzero >= n_tr - 2, "%s: %d of %d trained tensors have a gradient",
                      cases[k].name, n_nonzero, n_tr); /* the key biases' are zero by the math */
            for (int i = 0; i < m->n_params; i++) {
                free(g0 ? g0[i] : NULL);
                free(g1 ? g1[i] : NULL);
            }
            free(g0);
            free(g1);
            ft_model_free(m);
        }
}

FT_TEST(bf16_path_is_near_fp32) {
    ft_model *m = build(FT_METHOD_LORA, false);
    FT_CHECK(m != NULL);
    if (!m)
        return;
    m->cfg.embd_dropout = m->cfg.attn_dropout = m->cfg.resid_dropout = 0.0f;
    ft_batch b = {.B = 2, .pixel_values = PIX, .img_c = 3, .img_h = 12, .img_w = 12, .cls_labels = LAB};
    float lg[2][6];
    for (int k = 0; k < 2; k++) {
        if (k == 1 && ft_model_set_precision(m, FT_PREC_BF16) != FT_OK) {
            printf("  (no native bf16 here: the bf16 comparison is skipped)\n");
            break;
        }
        ft_arena ar;
        FT_CHECK_OK(ft_arena_init(&ar, ft_model_act_bytes(m, 2, ft_model_batch_seq_len(m, &b))));
        ft_fwd_opts o = {.keep_logits = true};
        ft_acts *a;
        double loss;
        FT_CHECK_OK(ft_model_forward(m, &b, &o, &ar, &a, &loss, NULL));
        memcpy(lg[k], ft_acts_logits(a, NULL, NULL), sizeof lg[k]);
        ft_arena_free(&ar);
        for (int j = 0; k == 1 && j < 6; j++)
            FT_CHECK_NEAR(lg[1][j], lg[0][j], 0.05);
    }
    ft_model_free(m);
}

FT_TEST(bad_input_is_refused_by_name) {
    ft_model *m = build(FT_METHOD_FULL, false);
    FT_CHECK(m != NULL);
    if (!m)
        return;
    ft_arena ar;
    FT_CHECK_OK(ft_arena_init(&ar, 1u << 22));
    ft_fwd_opts o = {0};
    ft_acts *a;
    double loss;
    ft_batch b = {.B = 2, .pixel_values = PIX, .img_c = 1, .img_h = 12, .img_w = 12, .cls_labels = LAB};
    FT_CHECK_FAILS(ft_model_forward(m, &b, &o, &ar, &a, &loss, NULL), FT_ERR_SHAPE,
                   "pixel_values have 1 channels, the model's config has num_channels 3");
    b.img_c = 3;
    b.img_w = 10;
    FT_CHECK_FAILS(ft_model_forward(m, &b, &o, &ar, &a, &loss, NULL), FT_ERR_SHAPE,
                   "image size 12x10 is not a multiple of the patch size 4");
    b.pixel_values = NULL;
    FT_CHECK_FAILS(ft_model_forward(m, &b, &o, &ar, &a, &loss, NULL), FT_ERR_ARG, "needs pixel_values");
    FT_CHECK_FAILS(ft_model_set_task(m, FT_TASK_TOKEN_CLS, 3, NULL, 1), FT_ERR_UNSUPPORTED,
                   "image-classification head only");
    ft_arena_free(&ar);
    ft_model_free(m);

    ft_model_config cfg;
    FT_CHECK_OK(ft_config_parse(CFG, "cfg", &cfg));
    FT_CHECK_OK(ft_model_init_random(&cfg, 3, &m));
    ft_peft_cfg pc;
    ft_peft_cfg_default(&pc);
    pc.method = FT_METHOD_PROMPT;
    pc.num_virtual_tokens = 2;
    FT_CHECK_FAILS(ft_peft_apply(m, &pc), FT_ERR_UNSUPPORTED, "prompt tuning is not supported for vit");
    FT_CHECK_OK(ft_arena_init(&ar, 1u << 22));
    b.pixel_values = PIX;
    b.img_w = 12;
    FT_CHECK_FAILS(ft_model_forward(m, &b, &o, &ar, &a, &loss, NULL), FT_ERR_UNSUPPORTED,
                   "the vit model has no head");
    ft_arena_free(&ar);
    ft_model_free(m);

    static const char *bad[][2] = {
        {"{\"model_type\": \"vit\", \"patch_size\": [4, 8]}", "field 'patch_size' = [4, 8]: non-square"},
        {"{\"model_type\": \"vit\", \"image_size\": 30, \"patch_size\": 4}",
         "image_size 30 is not a multiple"},
        {"{\"model_type\": \"vit\", \"pooler_act\": \"relu\"}", "pooler_act 'relu'"},
        {"{\"model_type\": \"vit\", \"hidden_act\": \"quick_gelu\"}", "'hidden_act' = \"quick_gelu\""}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        ft_status s = ft_config_parse(bad[k][0], "config.json", &cfg);
        FT_CHECKF(s != FT_OK && strstr(ft_last_error(), bad[k][1]), "%s: %s", bad[k][0], ft_last_error());
        if (s == FT_OK)
            ft_config_free(&cfg);
    }
}

FT_TEST(freezing_finds_the_blocks_and_embeddings) {
    ft_model_config cfg;
    ft_model *m = NULL;
    FT_CHECK_OK(ft_config_parse(CFG, "cfg", &cfg));
    FT_CHECK_OK(ft_model_init_random(&cfg, 3, &m));
    if (!m)
        return;
    FT_CHECK_OK(ft_model_set_task(m, FT_TASK_SEQ_CLS, 3, NULL, 4));
    ft_peft_cfg pc;
    ft_peft_cfg_default(&pc);
    pc.method = FT_METHOD_FULL;
    pc.train_top_layers = 1;
    FT_CHECK_OK(ft_peft_apply(m, &pc));
    for (int i = 0; i < m->n_params; i++) {
        const char *nm = m->params[i].name;
        const bool want =
            strstr(nm, ".layer.1.") || !strncmp(nm, "vit.layernorm.", 14) || !strncmp(nm, "classifier.", 11);
        FT_CHECKF(m->params[i].trainable == want, "top 1 layer: %s trainable %d", nm, m->params[i].trainable);
    }
    pc.train_top_layers = 0;
    pc.freeze_embeddings = true;
    FT_CHECK_OK(ft_peft_apply(m, &pc));
    for (int i = 0; i < m->n_params; i++) {
        const bool emb = !strncmp(m->params[i].name, "vit.embeddings.", 15);
        FT_CHECKF(m->params[i].trainable == !emb, "frozen embeddings: %s trainable %d", m->params[i].name,
                  m->params[i].trainable);
    }
    ft_model_free(m);
}

int main(void) {
    FT_RUN(patchify_is_the_strided_convolution);
    FT_RUN(bicubic_backward_is_the_transpose);
    FT_RUN(checkpointing_gives_the_same_gradients);
    FT_RUN(bf16_path_is_near_fp32);
    FT_RUN(bad_input_is_refused_by_name);
    FT_RUN(freezing_finds_the_blocks_and_embeddings);
    FT_DONE();
}
