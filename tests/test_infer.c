/* KV-cache inference equals the full forward pass, token by token, with and without PEFT hooks. */
#include <stdlib.h>
#include <unistd.h>

#include "ft_test.h"
#include "models/infer.h"
#include "peft/peft.h"

static const char *CFGS[2] = {
    "{\"model_type\": \"gpt2\", \"vocab_size\": 40, \"n_embd\": 16, \"n_layer\": 2, \"n_head\": 2, \"n_positions\": 32}",
    "{\"model_type\": \"llama\", \"vocab_size\": 40, \"hidden_size\": 24, \"intermediate_size\": 40, "
    "\"num_hidden_layers\": 2, \"num_attention_heads\": 6, \"num_key_value_heads\": 3, \"max_position_embeddings\": 32}"};

static void check_model(ft_model *m, const char *what) {
    const int T = 7;
    int32_t ids[7] = {3, 17, 5, 39, 0, 22, 8};
    ft_batch b = {.B = 1, .T = T, .input_ids = ids};
    ft_arena ar;
    ft_arena_init(&ar, ft_model_act_bytes(m, 1, T) + (1 << 20));
    ft_fwd_opts o = {.keep_logits = true, .no_loss = true};
    ft_acts *a;
    double loss;
    int64_t cnt, rows, cols;
    FT_CHECK_OK(ft_model_forward(m, &b, &o, &ar, &a, &loss, &cnt));
    const float *full = ft_acts_logits(a, &rows, &cols);
    ft_kv *kv;
    FT_CHECK_OK(ft_kv_new(m, 32, &kv));
    float *lg = malloc((size_t)cols * sizeof(float));
    double err = 0;
    /* prefill 3 tokens, then one at a time */
    FT_CHECK_OK(ft_infer(m, kv, ids, 3, lg));
    int nv = m->n_virtual;
    for (int64_t j = 0; j < cols; j++)
        err = fmax(err, fabs(lg[j] - full[(int64_t)(nv + 2) * cols + j]));
    for (int t = 3; t < T; t++) {
        FT_CHECK_OK(ft_infer(m, kv, ids + t, 1, lg));
        for (int64_t j = 0; j < cols; j++)
            err = fmax(err, fabs(lg[j] - full[(int64_t)(nv + t) * cols + j]));
    }
    FT_CHECK(ft_kv_len(kv) == T + nv);
    FT_CHECKF(err < 1e-4, "%s: KV-cache logits differ from the full forward by %g", what, err);
    ft_kv_free(kv);
    free(lg);
    ft_arena_free(&ar);
}

FT_TEST(test_kv_matches_forward) {
    for (int k = 0; k < 2; k++) {
        for (int meth = 0; meth < 4; meth++) {
            ft_model_config cfg;
            ft_model *m;
            FT_CHECK_OK(ft_config_parse(CFGS[k], "cfg", &cfg));
            FT_CHECK_OK(ft_model_init_random(&cfg, 3, &m));
            ft_peft_cfg c;
            ft_peft_cfg_default(&c);
            c.method = meth == 0 ? FT_METHOD_FULL : meth == 1 ? FT_METHOD_LORA : meth == 2 ? FT_METHOD_IA3 : FT_METHOD_PROMPT;
            c.num_virtual_tokens = 2;
            FT_CHECK_OK(ft_peft_apply(m, &c));
            for (int i = 0; i < m->n_params; i++) /* non-trivial adapter values */
                if (m->params[i].extra)
                    for (int64_t j = 0; j < m->params[i].numel; j++)
                        m->params[i].data[j] += 0.2f * ft_rng_normal(4, (uint64_t)i, (uint64_t)j);
            check_model(m, ft_method_name(c.method));
            ft_model_free(m);
        }
    }
}

FT_TEST(test_kv_errors) {
    ft_model_config cfg;
    ft_model *m;
    FT_CHECK_OK(ft_config_parse(CFGS[0], "cfg", &cfg));
    FT_CHECK_OK(ft_model_init_random(&cfg, 3, &m));
    ft_kv *kv;
    FT_CHECK_FAILS(ft_kv_new(m, 100, &kv), FT_ERR_RANGE, "must be in [1, 32]");
    FT_CHECK_OK(ft_kv_new(m, 4, &kv));
    int32_t ids[5] = {1, 2, 3, 4, 5}, bad = 40;
    float lg[40];
    FT_CHECK_FAILS(ft_infer(m, kv, &bad, 1, lg), FT_ERR_RANGE, "token id 40 is outside");
    FT_CHECK_FAILS(ft_infer(m, kv, ids, 5, lg), FT_ERR_RANGE, "cache length 4");
    ft_kv_free(kv);
    ft_model_free(m);
}

int main(void) {
    FT_RUN(test_kv_matches_forward);
    FT_RUN(test_kv_errors);
    FT_DONE();
}
