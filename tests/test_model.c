/* Model loading, saving and bad input: every failure names the file and the field/tensor. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "data/pretok.h"
#include "ft_test.h"
#include "models/model.h"

static char tmpdir[64];

static void write_text(const char *name, const char *txt) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    fputs(txt, f);
    fclose(f);
}

static const char *GPT2_CFG = "{\"model_type\": \"gpt2\", \"vocab_size\": 50, \"n_embd\": 16, \"n_layer\": 2, "
                              "\"n_head\": 2, \"n_positions\": 32}";
static const char *LLAMA_CFG = "{\"model_type\": \"llama\", \"vocab_size\": 60, \"hidden_size\": 24, "
                               "\"intermediate_size\": 40, \"num_hidden_layers\": 2, \"num_attention_heads\": 6, "
                               "\"num_key_value_heads\": 3, \"max_position_embeddings\": 32}";

static ft_model *make_model(const char *cfg_txt, const char *dir, ft_dtype dt) {
    ft_model_config cfg;
    if (ft_config_parse(cfg_txt, "cfg", &cfg) != FT_OK)
        return NULL;
    ft_model *m = NULL;
    if (ft_model_init_random(&cfg, 7, &m) != FT_OK)
        return NULL;
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmpdir, dir);
    if (ft_model_save(m, p, dt) != FT_OK) {
        ft_model_free(m);
        return NULL;
    }
    return m;
}

static bool files_equal(const char *a, const char *b) {
    char *x, *y;
    size_t nx, ny;
    if (ft_read_file(a, &x, &nx) != FT_OK)
        return false;
    if (ft_read_file(b, &y, &ny) != FT_OK) {
        free(x);
        return false;
    }
    bool eq = nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return eq;
}

FT_TEST(test_save_load_roundtrip) {
    const char *cfgs[] = {GPT2_CFG, LLAMA_CFG};
    for (int c = 0; c < 2; c++) {
        ft_model *m = make_model(cfgs[c], "rt", FT_DT_F32);
        FT_CHECK(m != NULL);
        if (!m)
            return;
        char p[256], p2[256], f1[300], f2[300];
        snprintf(p, sizeof p, "%s/rt", tmpdir);
        snprintf(p2, sizeof p2, "%s/rt2", tmpdir);
        ft_model *l = NULL;
        FT_CHECK_OK(ft_model_load(p, &l));
        if (!l) {
            ft_model_free(m);
            return;
        }
        FT_CHECK(l->n_params == m->n_params);
        for (int i = 0; i < m->n_params && i < l->n_params; i++) {
            FT_CHECK(!strcmp(l->params[i].name, m->params[i].name));
            FT_CHECK(memcmp(l->params[i].data, m->params[i].data, (size_t)m->params[i].numel * 4) == 0);
            FT_CHECK(!l->params[i].owned); /* fp32 file: used in place from the mapping */
        }
        FT_CHECK_OK(ft_model_save(l, p2, FT_DT_F32));
        snprintf(f1, sizeof f1, "%s/model.safetensors", p);
        snprintf(f2, sizeof f2, "%s/model.safetensors", p2);
        FT_CHECK(files_equal(f1, f2)); /* load → save is bit-identical */
        ft_model_free(l);
        ft_model_free(m);
    }
}

FT_TEST(test_tied_weights_saved_once) {
    ft_model *m = make_model(GPT2_CFG, "tied", FT_DT_F32);
    FT_CHECK(m && m->lm_head == m->wte);
    char p[256];
    snprintf(p, sizeof p, "%s/tied/model.safetensors", tmpdir);
    ft_st_file *f;
    FT_CHECK_OK(ft_st_open(p, &f));
    FT_CHECK(ft_st_find(f, "transformer.wte.weight") != NULL);
    FT_CHECK(ft_st_find(f, "lm_head.weight") == NULL);
    FT_CHECK(ft_st_count(f) == (size_t)m->n_params);
    ft_st_close(f);
    ft_model_free(m);
}

FT_TEST(test_bf16_checkpoint) {
    ft_model *m = make_model(LLAMA_CFG, "bf", FT_DT_BF16);
    char p[256];
    snprintf(p, sizeof p, "%s/bf", tmpdir);
    ft_model *l = NULL;
    FT_CHECK_OK(ft_model_load(p, &l));
    if (m && l) {
        for (int i = 0; i < m->n_params; i++) {
            FT_CHECK(l->params[i].file_dtype == FT_DT_BF16);
            for (int64_t j = 0; j < m->params[i].numel; j++)
                if (l->params[i].data[j] != ft_bf16_to_f32(ft_f32_to_bf16(m->params[i].data[j]))) {
                    FT_CHECKF(0, "%s[%lld]", m->params[i].name, (long long)j);
                    break;
                }
        }
    }
    ft_model_free(l);
    ft_model_free(m);
}

FT_TEST(test_config_errors) {
    ft_model_config c;
    FT_CHECK_FAILS(ft_config_parse("{\"model_type\": \"bloom\"}", "x/config.json", &c), FT_ERR_UNSUPPORTED,
                   "x/config.json: unknown model_type 'bloom'");
    FT_CHECK_FAILS(ft_config_parse("{\"vocab_size\": 3}", "x/config.json", &c), FT_ERR_CONFIG,
                   "missing required field 'model_type'");
    FT_CHECK_FAILS(ft_config_parse("{\"model_type\": \"gpt2\", \"vocab_size\": 50, \"n_embd\": 16, \"n_layer\": 2, "
                                   "\"n_positions\": 32}", "c.json", &c),
                   FT_ERR_CONFIG, "c.json: missing required field 'n_head'");
    FT_CHECK_FAILS(ft_config_parse("{\"model_type\": \"gpt2\", \"vocab_size\": \"50\", \"n_embd\": 16, "
                                   "\"n_layer\": 2, \"n_head\": 2, \"n_positions\": 32}", "c.json", &c),
                   FT_ERR_CONFIG, "'vocab_size' must be a non-negative integer");
    FT_CHECK_FAILS(ft_config_parse("{\"model_type\": \"gpt2\", \"vocab_size\": 50, \"n_embd\": 15, \"n_layer\": 2, "
                                   "\"n_head\": 2, \"n_positions\": 32}", "c.json", &c),
                   FT_ERR_CONFIG, "not divisible by 2 heads");
    FT_CHECK_FAILS(ft_config_parse("{\"model_type\": \"llama\", \"vocab_size\": 60, \"hidden_size\": 24, "
                                   "\"intermediate_size\": 40, \"num_hidden_layers\": 2, \"num_attention_heads\": 6, "
                                   "\"num_key_value_heads\": 4}", "c.json", &c),
                   FT_ERR_CONFIG, "not a multiple of num_key_value_heads 4");
    FT_CHECK_FAILS(ft_config_parse("{\"model_type\": \"llama\", \"vocab_size\": 60, \"hidden_size\": 24, "
                                   "\"intermediate_size\": 40, \"num_hidden_layers\": 2, \"num_attention_heads\": 6, "
                                   "\"hidden_act\": \"tanh\"}", "c.json", &c),
                   FT_ERR_CONFIG, "'hidden_act' = \"tanh\" is not supported");
    FT_CHECK_FAILS(ft_config_parse("{\"model_type\": \"llama\", \"vocab_size\": 60, \"hidden_size\": 24, "
                                   "\"intermediate_size\": 40, \"num_hidden_layers\": 2, \"num_attention_heads\": 6, "
                                   "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}", "c.json", &c),
                   FT_ERR_UNSUPPORTED, "rope_scaling of type 'yarn'");
    FT_CHECK_FAILS(ft_config_parse("{not json", "c.json", &c), FT_ERR_FORMAT, "c.json: not valid JSON");
    FT_CHECK_FAILS(ft_config_parse("[1]", "c.json", &c), FT_ERR_FORMAT, "expected a JSON object");
    /* defaults that change the math */
    FT_CHECK_OK(ft_config_parse("{\"model_type\": \"qwen2\", \"vocab_size\": 60, \"hidden_size\": 24, "
                                "\"intermediate_size\": 40, \"num_hidden_layers\": 2, \"num_attention_heads\": 6}",
                                "q.json", &c));
    FT_CHECK(c.qkv_bias && !c.o_bias && !c.tie_embeddings && c.n_kv_heads == 6 && c.head_dim == 4);
    FT_CHECK_NEAR(c.rope_theta, 10000.0, 0);
    ft_config_free(&c);
    FT_CHECK_OK(ft_config_parse("{\"model_type\": \"llama\", \"vocab_size\": 60, \"hidden_size\": 24, "
                                "\"intermediate_size\": 40, \"num_hidden_layers\": 2, \"num_attention_heads\": 2, "
                                "\"head_dim\": 16, \"attention_bias\": true, \"tie_word_embeddings\": true, "
                                "\"rms_norm_eps\": 1e-5, \"rope_theta\": 500000}", "l.json", &c));
    FT_CHECK(c.qkv_bias && c.o_bias && c.tie_embeddings && c.head_dim == 16);
    FT_CHECK_NEAR(c.norm_eps, 1e-5, 1e-12);
    FT_CHECK_NEAR(c.rope_theta, 500000.0, 0);
    ft_config_free(&c);
}

FT_TEST(test_checkpoint_errors) {
    char p[256];
    /* missing tensor: write a checkpoint with one tensor dropped */
    ft_model *m = make_model(GPT2_CFG, "bad", FT_DT_F32);
    if (!m)
        return;
    ft_st_writer *w = ft_st_writer_new();
    for (int i = 0; i < m->n_params; i++) {
        if (!strcmp(m->params[i].name, "transformer.h.1.mlp.c_fc.bias"))
            continue;
        if (!strcmp(m->params[i].name, "transformer.h.0.ln_1.weight")) {
            int64_t shp[1] = {15};
            ft_st_writer_add(w, m->params[i].name, FT_DT_F32, 1, shp, m->params[i].data);
            continue;
        }
        ft_st_writer_add(w, m->params[i].name, FT_DT_F32, m->params[i].ndim, m->params[i].shape,
                         m->params[i].data);
    }
    snprintf(p, sizeof p, "%s/bad/model.safetensors", tmpdir);
    FT_CHECK_OK(ft_st_writer_write(w, p));
    ft_st_writer_free(w);
    snprintf(p, sizeof p, "%s/bad", tmpdir);
    ft_model *l = NULL;
    FT_CHECK_FAILS(ft_model_load(p, &l), FT_ERR_SHAPE,
                   "tensor 'transformer.h.0.ln_1.weight' has shape [15], expected [16]");
    /* fix the shape, keep the missing tensor */
    w = ft_st_writer_new();
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, "transformer.h.1.mlp.c_fc.bias"))
            ft_st_writer_add(w, m->params[i].name, FT_DT_F32, m->params[i].ndim, m->params[i].shape,
                             m->params[i].data);
    snprintf(p, sizeof p, "%s/bad/model.safetensors", tmpdir);
    FT_CHECK_OK(ft_st_writer_write(w, p));
    ft_st_writer_free(w);
    snprintf(p, sizeof p, "%s/bad", tmpdir);
    FT_CHECK_FAILS(ft_model_load(p, &l), FT_ERR_MISSING, "tensor 'transformer.h.1.mlp.c_fc.bias' is missing");
    /* truncated safetensors */
    snprintf(p, sizeof p, "%s/bad/model.safetensors", tmpdir);
    FT_CHECK(truncate(p, 1000) == 0);
    snprintf(p, sizeof p, "%s/bad", tmpdir);
    FT_CHECK_FAILS(ft_model_load(p, &l), FT_ERR_FORMAT, "model.safetensors");
    /* no config */
    snprintf(p, sizeof p, "%s/nonexistent", tmpdir);
    FT_CHECK_FAILS(ft_model_load(p, &l), FT_ERR_IO, "nonexistent/config.json");
    ft_model_free(m);
}

/* NaN / Inf weights in a file: loading opens it (inspection works), training refuses it naming the tensor. */
FT_TEST(test_nonfinite_weights) {
    ft_model *m = make_model(GPT2_CFG, "finite", FT_DT_F32);
    if (!m)
        return;
    FT_CHECK_OK(ft_model_check_finite(m));
    int k = -1;
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->params[i].name, "transformer.h.1.attn.c_proj.weight"))
            k = i;
    FT_CHECK(k >= 0);
    if (k < 0) {
        ft_model_free(m);
        return;
    }
    m->params[k].data[5] = NAN;
    m->params[k].data[9] = -INFINITY;
    const ft_dtype dts[2] = {FT_DT_F32, FT_DT_BF16};
    for (int d = 0; d < 2; d++) { /* NaN and Inf survive both file dtypes */
        char p[256];
        snprintf(p, sizeof p, "%s/nonfinite%d", tmpdir, d);
        FT_CHECK_OK(ft_model_save(m, p, dts[d]));
        ft_model *l = NULL;
        FT_CHECK_OK(ft_model_load(p, &l));
        if (!l)
            continue;
        FT_CHECK_FAILS(ft_model_check_finite(l), FT_ERR_FORMAT,
                       "model tensor 'transformer.h.1.attn.c_proj.weight' holds 2 non-finite values (the "
                       "first, NaN, at flat index 5)");
        ft_model_free(l);
    }
    m->params[k].data[5] = 0;
    FT_CHECK_FAILS(ft_model_check_finite(m), FT_ERR_FORMAT,
                   "1 non-finite value (the first, Inf, at flat index 9)");
    ft_model_free(m);
}

FT_TEST(test_official_gpt2_names) {
    /* The official gpt2 file has no "transformer." prefix and carries attn.bias buffers. */
    ft_model *m = make_model(GPT2_CFG, "off", FT_DT_F32);
    if (!m)
        return;
    ft_st_writer *w = ft_st_writer_new();
    static float buf[32 * 32];
    int64_t bshape[4] = {1, 1, 32, 32};
    for (int i = 0; i < m->n_params; i++)
        ft_st_writer_add(w, m->params[i].name + 12, FT_DT_F32, m->params[i].ndim, m->params[i].shape,
                         m->params[i].data);
    ft_st_writer_add(w, "h.0.attn.bias", FT_DT_F32, 4, bshape, buf);
    char p[256];
    snprintf(p, sizeof p, "%s/off/model.safetensors", tmpdir);
    FT_CHECK_OK(ft_st_writer_write(w, p));
    ft_st_writer_free(w);
    snprintf(p, sizeof p, "%s/off", tmpdir);
    ft_model *l = NULL;
    FT_CHECK_OK(ft_model_load(p, &l));
    if (l)
        FT_CHECK(memcmp(l->params[l->wte].data, m->params[m->wte].data, (size_t)m->params[m->wte].numel * 4) == 0);
    ft_model_free(l);
    ft_model_free(m);
}

FT_TEST(test_batch_errors) {
    ft_model *m = make_model(GPT2_CFG, "b", FT_DT_F32);
    if (!m)
        return;
    int32_t ids[4] = {1, 2, 50, 3}, labels[4] = {1, 2, 3, -7};
    ft_batch b = {.B = 2, .T = 2, .input_ids = ids};
    FT_CHECK_FAILS(ft_batch_validate(m, &b), FT_ERR_RANGE, "input_ids[1][0] = 50 is outside the vocabulary [0, 50)");
    ids[2] = 4;
    b.labels = labels;
    FT_CHECK_FAILS(ft_batch_validate(m, &b), FT_ERR_RANGE, "labels[1][1] = -7");
    int32_t big[33] = {0};
    ft_batch b2 = {.B = 1, .T = 33, .input_ids = big};
    FT_CHECK_FAILS(ft_batch_validate(m, &b2), FT_ERR_RANGE, "sequence length 33 exceeds the model's 32 positions");
    /* batch.json errors */
    ft_batch bj;
    char p[256];
    write_text("b1.json", "{\"input_ids\": [[1,2,3],[4,5]]}");
    snprintf(p, sizeof p, "%s/b1.json", tmpdir);
    FT_CHECK_FAILS(ft_batch_load_json(p, &bj), FT_ERR_SHAPE, "row 1 has 2 tokens, row 0 has 3");
    write_text("b2.json", "{\"input_ids\": [[1,2,3]], \"labels\": [[1,2]]}");
    snprintf(p, sizeof p, "%s/b2.json", tmpdir);
    FT_CHECK_FAILS(ft_batch_load_json(p, &bj), FT_ERR_SHAPE, "'labels' has rows of 2 tokens, expected 3");
    write_text("b3.json", "{\"input_ids\": [[1,2.5,3]]}");
    snprintf(p, sizeof p, "%s/b3.json", tmpdir);
    FT_CHECK_FAILS(ft_batch_load_json(p, &bj), FT_ERR_FORMAT, "element 1 is not an integer");
    /* all labels ignored: a clear error instead of NaN */
    int32_t ids3[3] = {1, 2, 3}, lab3[3] = {-100, -100, -100};
    ft_batch b3 = {.B = 1, .T = 3, .input_ids = ids3, .labels = lab3};
    ft_arena ar;
    ft_arena_init(&ar, ft_model_act_bytes(m, 1, 3) + 4096);
    ft_acts *a;
    double loss;
    int64_t cnt;
    ft_fwd_opts o = {0};
    FT_CHECK_FAILS(ft_model_forward(m, &b3, &o, &ar, &a, &loss, &cnt), FT_ERR_ARG, "no target token");
    ft_arena_free(&ar);
    ft_model_free(m);
}

FT_TEST(test_dataset_errors) {
    char p[256];
    ft_dataset d;
    write_text("d1.jsonl", "{\"input_ids\": [1,2,3]}\n\n{\"input_ids\": [1,\"x\"]}\n");
    snprintf(p, sizeof p, "%s/d1.jsonl", tmpdir);
    FT_CHECK_FAILS(ft_dataset_load_pretok(p, &d), FT_ERR_FORMAT, "d1.jsonl:3: field 'input_ids' element 1");
    write_text("d2.jsonl", "{\"input_ids\": [1,2,3], \"labels\": [1]}\n");
    snprintf(p, sizeof p, "%s/d2.jsonl", tmpdir);
    FT_CHECK_FAILS(ft_dataset_load_pretok(p, &d), FT_ERR_SHAPE, "d2.jsonl:1: 'labels' has 1 entries");
    write_text("d3.jsonl", "{\"text\": \"hello\"}\n");
    snprintf(p, sizeof p, "%s/d3.jsonl", tmpdir);
    FT_CHECK_FAILS(ft_dataset_load_pretok(p, &d), FT_ERR_FORMAT, "d3.jsonl:1: missing field 'input_ids'");
    write_text("d4.jsonl", "{\"input_ids\": [5,6,7,8]}\n{\"input_ids\": [9], \"labels\": [-100]}\n");
    snprintf(p, sizeof p, "%s/d4.jsonl", tmpdir);
    FT_CHECK_OK(ft_dataset_load_pretok(p, &d));
    size_t idx[2] = {0, 1};
    ft_batch b;
    FT_CHECK_OK(ft_batch_collate(&d, idx, 2, 3, 0, &b));
    FT_CHECK(b.B == 2 && b.T == 3);
    int32_t want_ids[6] = {5, 6, 7, 9, 0, 0}, want_mask[6] = {1, 1, 1, 1, 0, 0}, want_lab[6] = {5, 6, 7, -100, -100, -100};
    FT_CHECK(!memcmp(b.input_ids, want_ids, sizeof want_ids) && !memcmp(b.mask, want_mask, sizeof want_mask) &&
             !memcmp(b.labels, want_lab, sizeof want_lab));
    ft_batch_free(&b);
    ft_dataset_free(&d);
}

/* loss of a batch with label smoothing eps (and optionally a class head) */
static double ls_loss(ft_model *m, ft_batch *b, float eps, bool backward, float **logits_out) {
    ft_arena ar;
    ft_arena_init(&ar, ft_model_act_bytes(m, b->B, b->T) + (1 << 20));
    ft_fwd_opts o = {.keep_logits = true, .label_smoothing = eps};
    ft_acts *a;
    double loss = NAN;
    int64_t cnt, rows, cols;
    if (ft_model_forward(m, b, &o, &ar, &a, &loss, &cnt) == FT_OK) {
        if (logits_out) {
            const float *lg = ft_acts_logits(a, &rows, &cols);
            *logits_out = malloc((size_t)(rows * cols) * sizeof(float));
            memcpy(*logits_out, lg, (size_t)(rows * cols) * sizeof(float));
        }
        if (backward)
            ft_model_backward(m, a, &ar, 1.0f);
    }
    ft_arena_free(&ar);
    return loss;
}

FT_TEST(test_label_smoothing) {
    ft_model_config cfg;
    ft_model *m;
    FT_CHECK_OK(ft_config_parse(GPT2_CFG, "cfg", &cfg));
    FT_CHECK_OK(ft_model_init_random(&cfg, 5, &m));
    for (int i = 0; i < m->n_params; i++)
        ft_model_set_trainable(m, i, true);
    int32_t ids[8] = {3, 7, 11, 2, 9, 9, 40, 1}, labels[8] = {3, 7, -100, 2, 9, 9, 40, 1};
    ft_batch b = {.B = 2, .T = 4, .input_ids = ids, .labels = labels};
    const float eps = 0.2f;
    float *lg = NULL;
    double l = ls_loss(m, &b, eps, false, &lg);
    /* by hand: rows t predict labels[t+1]; targets 7,-100,2 | 9,40,1 */
    int32_t tg[8] = {7, -100, 2, -100, 9, 40, 1, -100};
    double want = 0;
    int cnt = 0;
    for (int r = 0; r < 8; r++) {
        if (tg[r] < 0)
            continue;
        const float *x = lg + r * 50;
        double mx = -1e30, se = 0, sum = 0;
        for (int j = 0; j < 50; j++)
            mx = fmax(mx, x[j]);
        for (int j = 0; j < 50; j++)
            se += exp(x[j] - mx), sum += x[j];
        double lse = log(se) + mx;
        want += (1 - eps) * (lse - x[tg[r]]) + eps * (lse - sum / 50);
        cnt++;
    }
    FT_CHECK_NEAR(l, want / cnt, 1e-5);
    /* gradient of a few parameters against central differences of the smoothed loss */
    ft_model_zero_grad(m);
    ls_loss(m, &b, eps, true, NULL);
    int pi[3] = {m->wte, ft_model_find_param(m, "transformer.h.1.mlp.c_fc.weight"), m->lnf_w};
    for (int k = 0; k < 3; k++) {
        float *w = m->params[pi[k]].data;
        for (int e = 0; e < 3; e++) {
            int64_t j = (e * 97 + 13) % m->params[pi[k]].numel;
            float keep = w[j], h = 1e-2f;
            w[j] = keep + h;
            double lp = ls_loss(m, &b, eps, false, NULL);
            w[j] = keep - h;
            double lm = ls_loss(m, &b, eps, false, NULL);
            w[j] = keep;
            double fd = (lp - lm) / (2 * h), g = m->params[pi[k]].grad[j];
            FT_CHECKF(fabs(fd - g) <= 2e-3 + 2e-2 * fabs(g), "%s[%lld]: fd %g grad %g", m->params[pi[k]].name,
                      (long long)j, fd, g);
        }
    }
    free(lg);
    ft_model_free(m);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ft_test_model_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    FT_RUN(test_save_load_roundtrip);
    FT_RUN(test_tied_weights_saved_once);
    FT_RUN(test_bf16_checkpoint);
    FT_RUN(test_config_errors);
    FT_RUN(test_checkpoint_errors);
    FT_RUN(test_nonfinite_weights);
    FT_RUN(test_official_gpt2_names);
    FT_RUN(test_batch_errors);
    FT_RUN(test_dataset_errors);
    FT_RUN(test_label_smoothing);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        return 1;
    FT_DONE();
}
