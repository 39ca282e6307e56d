/* The bf16 compute path: bf16 linear / LM-head kernels against a double-precision reference that
 * rounds the same operands to bf16 (so the only allowed difference is fp32 accumulation order), the
 * decoder in bf16 against fp32 (loss and gradients within bf16 tolerance), the refresh of the bf16
 * copies after an optimizer step, the release of mapped fp32 weights, and the fallback. */
#include <stdlib.h>
#include <unistd.h>

#include "ft_test.h"
#include "kernels/kernels.h"
#include "models/model.h"
#include "peft/peft.h"
#include "train/optim.h"

static float bf(float x) { /* round through bf16 */
    uint16_t h;
    float y;
    ft_f32_to_bf16_n(&h, &x, 1);
    ft_bf16_to_f32_n(&y, &h, 1);
    return y;
}

static void fill(float *x, int64_t n, uint64_t stream, float s) {
    for (int64_t i = 0; i < n; i++)
        x[i] = s * (float)ft_rng_normal(11, stream, (uint64_t)i);
}

/* max |a − b| / max |b| */
static double rel_err(const float *a, const double *b, int64_t n) {
    double e = 0, mx = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        mx = fmax(mx, fabs(b[i]));
    }
    return e / mx;
}

static bool native(void) {
    if (ft_bf16_native())
        return true;
    printf("  (no native bf16 on this CPU: %s; numeric bf16 checks not run)\n", ft_bf16_isa_name());
    return false;
}

FT_TEST(test_linear_bf16_matches_rounded_reference) {
    if (!native())
        return;
    ft_matmul *mm;
    FT_CHECK_OK(ft_matmul_create(&mm));
    const int64_t N = 37, in = 70, out = 45;
    for (int layout = 0; layout < 2; layout++) {
        const bool io = layout == 1;
        float *x = malloc(sizeof(float) * (size_t)(N * in)), *w = malloc(sizeof(float) * (size_t)(in * out));
        float *b = malloc(sizeof(float) * (size_t)out), *y = malloc(sizeof(float) * (size_t)(N * out));
        float *dy = malloc(sizeof(float) * (size_t)(N * out)), *dx = calloc((size_t)(N * in), sizeof(float));
        float *dw = calloc((size_t)(in * out), sizeof(float)), *db = calloc((size_t)out, sizeof(float));
        uint16_t *w16 = malloc(sizeof(uint16_t) * (size_t)(in * out));
        double *ry = malloc(sizeof(double) * (size_t)(N * out)),
               *rdx = malloc(sizeof(double) * (size_t)(N * in));
        double *rdw = malloc(sizeof(double) * (size_t)(in * out));
        fill(x, N * in, 1, 1.0f);
        fill(w, in * out, 2, 0.2f);
        fill(b, out, 3, 0.5f);
        fill(dy, N * out, 4, 1.0f);
        ft_f32_to_bf16_n(w16, w, in * out);
        FT_CHECK_OK(ft_linear_forward_bf16(mm, y, x, w16, b, N, in, out, io));
        for (int64_t n = 0; n < N; n++)
            for (int64_t o = 0; o < out; o++) {
                double s = b[o];
                for (int64_t i = 0; i < in; i++)
                    s += (double)bf(x[n * in + i]) * (double)bf(io ? w[i * out + o] : w[o * in + i]);
                ry[n * out + o] = s;
            }
        FT_CHECK(rel_err(y, ry, N * out) < 1e-5);
        /* dx accumulates onto 1; dW, db onto 0 */
        for (int64_t i = 0; i < N * in; i++)
            dx[i] = 1.0f;
        FT_CHECK_OK(ft_linear_backward_bf16(mm, dx, dw, db, dy, x, w16, N, in, out, io));
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < in; i++) {
                double s = 1.0;
                for (int64_t o = 0; o < out; o++)
                    s += (double)bf(dy[n * out + o]) * (double)bf(io ? w[i * out + o] : w[o * in + i]);
                rdx[n * in + i] = s;
            }
        for (int64_t i = 0; i < in; i++)
            for (int64_t o = 0; o < out; o++) {
                double s = 0;
                for (int64_t n = 0; n < N; n++)
                    s += (double)bf(dy[n * out + o]) * (double)bf(x[n * in + i]);
                rdw[io ? i * out + o : o * in + i] = s;
            }
        FT_CHECK(rel_err(dx, rdx, N * in) < 1e-5);
        FT_CHECK(rel_err(dw, rdw, in * out) < 1e-5);
        for (int64_t o = 0; o < out; o++) {
            double s = 0;
            for (int64_t n = 0; n < N; n++)
                s += dy[n * out + o];
            FT_CHECK_NEAR(db[o], s, 1e-4);
        }
        /* and it really is bf16: an fp32 product of the unrounded operands differs */
        double full = 0, got = 0;
        for (int64_t i = 0; i < in; i++)
            full += (double)x[i] * (double)(io ? w[i * out] : w[i]);
        got = (double)y[0] - b[0];
        FT_CHECK(fabs(full - got) > 1e-6);
        free(x), free(w), free(b), free(y), free(dy), free(dx), free(dw), free(db), free(w16), free(ry),
            free(rdx), free(rdw);
    }
    ft_matmul_free(mm);
}

FT_TEST(test_lmhead_bf16_matches_fp32_within_bf16) {
    if (!native())
        return;
    ft_matmul *mm;
    FT_CHECK_OK(ft_matmul_create(&mm));
    const int64_t N = 21, C = 32, V = 300, chunk = 8;
    float *h = malloc(sizeof(float) * (size_t)(N * C)), *W = malloc(sizeof(float) * (size_t)(V * C));
    float *Wr = malloc(sizeof(float) * (size_t)(V * C)), *hr = malloc(sizeof(float) * (size_t)(N * C));
    uint16_t *W16 = malloc(sizeof(uint16_t) * (size_t)(V * C));
    int32_t *tg = malloc(sizeof(int32_t) * (size_t)N);
    float *dh = calloc((size_t)(N * C), sizeof(float)), *dW = calloc((size_t)(V * C), sizeof(float));
    float *dh_r = calloc((size_t)(N * C), sizeof(float)), *dW_r = calloc((size_t)(V * C), sizeof(float));
    float *work = malloc(sizeof(float) * ft_lmhead_ce_work_floats(chunk, V));
    fill(h, N * C, 5, 1.0f);
    fill(W, V * C, 6, 0.3f);
    for (int64_t i = 0; i < N; i++)
        tg[i] = i % 5 == 3 ? -100 : (int32_t)((i * 37) % V);
    ft_f32_to_bf16_n(W16, W, V * C);
    for (int64_t i = 0; i < V * C; i++)
        Wr[i] = bf(W[i]);
    for (int64_t i = 0; i < N * C; i++)
        hr[i] = bf(h[i]);
    double loss, loss_r;
    int64_t cnt, cnt_r;
    const float scale = 1.0f / (float)ft_ce_count(tg, N);
    FT_CHECK_OK(ft_lmhead_ce_forward_backward_bf16(mm, h, W16, tg, N, C, V, scale, dh, dW, &loss, &cnt, NULL,
                                                   work, chunk));
    /* fp32 kernel on the bf16-rounded operands: same logits up to accumulation order; the only other
     * difference is the rounding of dL to bf16 before the two gradient products (≤ 2^-9 relative) */
    ft_lmhead_ce_forward_backward(hr, Wr, tg, N, C, V, scale, dh_r, dW_r, &loss_r, &cnt_r, NULL, work, chunk);
    FT_CHECK(cnt == cnt_r && cnt == ft_ce_count(tg, N));
    FT_CHECK_NEAR(loss / (double)cnt, loss_r / (double)cnt_r, 1e-5);
    double *r = malloc(sizeof(double) * (size_t)(V * C));
    for (int64_t i = 0; i < N * C; i++)
        r[i] = dh_r[i];
    FT_CHECK(rel_err(dh, r, N * C) < 1e-2);
    for (int64_t i = 0; i < V * C; i++)
        r[i] = dW_r[i];
    FT_CHECK(rel_err(dW, r, V * C) < 1e-2);
    free(r), free(h), free(W), free(Wr), free(hr), free(W16), free(tg), free(dh), free(dW), free(dh_r),
        free(dW_r), free(work);
    ft_matmul_free(mm);
}

static const char *CFGS[] = {
    "{\"model_type\": \"gpt2\", \"vocab_size\": 97, \"n_embd\": 48, \"n_layer\": 2, \"n_head\": 4, "
    "\"n_positions\": 32, \"resid_pdrop\": 0.0, \"embd_pdrop\": 0.0, \"attn_pdrop\": 0.0}",
    "{\"model_type\": \"llama\", \"vocab_size\": 89, \"hidden_size\": 48, \"intermediate_size\": 80, "
    "\"num_hidden_layers\": 2, \"num_attention_heads\": 6, \"num_key_value_heads\": 2, "
    "\"max_position_embeddings\": 32, \"tie_word_embeddings\": true}",
};

static ft_model *tiny(int which, uint64_t seed) {
    ft_model_config cfg;
    ft_model *m = NULL;
    if (ft_config_parse(CFGS[which], "cfg", &cfg) != FT_OK || ft_model_init_random(&cfg, seed, &m) != FT_OK)
        return NULL;
    return m;
}

/* loss and all gradients of one forward/backward */
static double step(ft_model *m, ft_arena *ar, float **grads, int *n_tr) {
    const int B = 3, T = 11;
    int32_t ids[33];
    for (int i = 0; i < B * T; i++)
        ids[i] = (int32_t)((i * 7 + 3) % m->cfg.vocab_size);
    ft_batch b = {.B = B, .T = T, .input_ids = ids};
    ft_fwd_opts o = {.training = true, .seed = 1, .fused_head = true};
    ft_arena_reset(ar);
    ft_model_zero_grad(m);
    ft_acts *a;
    double loss = NAN;
    int64_t cnt;
    if (ft_model_forward(m, &b, &o, ar, &a, &loss, &cnt) != FT_OK ||
        ft_model_backward(m, a, ar, 1.0f) != FT_OK)
        return NAN;
    int k = 0;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].grad) {
            if (grads) {
                grads[k] = malloc(sizeof(float) * (size_t)m->params[i].numel);
                memcpy(grads[k], m->params[i].grad, sizeof(float) * (size_t)m->params[i].numel);
            }
            k++;
        }
    *n_tr = k;
    return loss;
}

/* The same model in fp32 and bf16: loss within 1 %, every gradient tensor within 3 % (relative L2),
 * full fine-tuning and LoRA, GPT-2 (Conv1D, biases) and Llama (GQA, SwiGLU, tied head). */
FT_TEST(test_decoder_bf16_close_to_fp32) {
    if (!native())
        return;
    for (int which = 0; which < 2; which++)
        for (int lora = 0; lora < 2; lora++) {
            ft_model *m = tiny(which, 3);
            FT_CHECK(m != NULL);
            if (!m)
                return;
            if (lora) {
                ft_peft_cfg pc;
                ft_peft_cfg_default(&pc);
                pc.method = FT_METHOD_LORA;
                FT_CHECK_OK(ft_peft_apply(m, &pc));
                /* B starts at 0 (no signal through A): give it values so both LoRA gradients are tested */
                for (int i = 0; i < m->n_params; i++)
                    if (strstr(m->params[i].name, "lora_B"))
                        fill(m->params[i].data, m->params[i].numel, 40 + (uint64_t)i, 0.1f);
            } else {
                for (int i = 0; i < m->n_params; i++)
                    FT_CHECK_OK(ft_model_set_trainable(m, i, true));
            }
            ft_arena ar;
            FT_CHECK_OK(ft_arena_init(&ar, ft_model_act_bytes(m, 3, 11) + (1 << 20)));
            float *g32[64], *g16[64];
            int n32 = 0, n16 = 0;
            double l32 = step(m, &ar, g32, &n32);
            FT_CHECK_OK(ft_model_set_precision(m, FT_PREC_BF16));
            FT_CHECK(m->precision == FT_PREC_BF16 && m->mm != NULL);
            double l16 = step(m, &ar, g16, &n16);
            FT_CHECK(n32 == n16 && n32 > 0);
            FT_CHECK(isfinite(l16) && fabs(l16 - l32) <= 1e-2 * fabs(l32));
            FT_CHECK(l16 != l32); /* bf16 really ran */
            int k = 0;
            for (int i = 0; i < m->n_params && k < n32; i++) {
                if (!m->params[i].grad)
                    continue;
                double num = 0, den = 1e-30;
                for (int64_t j = 0; j < m->params[i].numel; j++) {
                    double d = (double)g16[k][j] - (double)g32[k][j];
                    num += d * d;
                    den += (double)g32[k][j] * g32[k][j];
                }
                if (!(sqrt(num / den) < 3e-2))
                    printf("  %s: relative L2 error %.3g\n", m->params[i].name, sqrt(num / den));
                FT_CHECK(sqrt(num / den) < 3e-2);
                free(g32[k]);
                free(g16[k]);
                k++;
            }
            /* back to fp32: bit-identical to the first run */
            FT_CHECK_OK(ft_model_set_precision(m, FT_PREC_FP32));
            FT_CHECK(m->mm == NULL);
            int n_again = 0;
            FT_CHECK(step(m, &ar, NULL, &n_again) == l32);
            ft_arena_free(&ar);
            ft_model_free(m);
        }
}

/* An optimizer step leaves the trained weights' bf16 copies equal to the rounded new weights;
 * frozen weights' copies are not touched; a weight changed otherwise is picked up via mark_dirty. */
FT_TEST(test_bf16_copies_follow_optimizer_steps) {
    if (!native())
        return;
    ft_model *m = tiny(1, 4);
    FT_CHECK(m != NULL);
    if (!m)
        return;
    ft_peft_cfg pc;
    ft_peft_cfg_default(&pc);
    pc.method = FT_METHOD_LORA;
    FT_CHECK_OK(ft_peft_apply(m, &pc));
    const int qw = m->layers[0].q_w, ow = m->layers[0].o_w;
    FT_CHECK_OK(ft_model_set_trainable(m, qw, true)); /* one base weight trains beside LoRA */
    FT_CHECK_OK(ft_model_set_precision(m, FT_PREC_BF16));
    FT_CHECK(m->params[qw].data16 && m->params[ow].data16);
    uint16_t *o_before = malloc(sizeof(uint16_t) * (size_t)m->params[ow].numel);
    memcpy(o_before, m->params[ow].data16, sizeof(uint16_t) * (size_t)m->params[ow].numel);
    ft_arena ar;
    FT_CHECK_OK(ft_arena_init(&ar, ft_model_act_bytes(m, 3, 11) + (1 << 20)));
    ft_optim_cfg oc;
    ft_optim_cfg_default(&oc);
    ft_optim opt;
    FT_CHECK_OK(ft_optim_init(&opt, m, &oc));
    int n;
    FT_CHECK(isfinite(step(m, &ar, NULL, &n)));
    ft_optim_update(&opt, m, 1e-2f); /* re-rounds the trained weights' copies as it updates them */
    FT_CHECK(m->bf16_dirty == 0);
    const ft_param *q = &m->params[qw];
    int64_t bad = 0;
    for (int64_t j = 0; j < q->numel; j++) {
        uint16_t want;
        ft_f32_to_bf16_n(&want, &q->data[j], 1);
        bad += want != q->data16[j];
    }
    FT_CHECK(bad == 0);
    FT_CHECK(!memcmp(o_before, m->params[ow].data16, sizeof(uint16_t) * (size_t)m->params[ow].numel));
    /* a weight changed behind the optimizer's back is picked up after mark_dirty(all) */
    FT_CHECK_OK(ft_model_set_trainable(m, ow, true));
    m->params[ow].data[0] += 1.0f;
    ft_model_mark_dirty(m, true);
    FT_CHECK_OK(ft_model_sync_bf16(m));
    uint16_t want0;
    ft_f32_to_bf16_n(&want0, &m->params[ow].data[0], 1);
    FT_CHECK(m->params[ow].data16[0] == want0);
    free(o_before);
    ft_optim_free(&opt);
    ft_arena_free(&ar);
    ft_model_free(m);
}

/* A model loaded from a checkpoint: frozen fp32 weights live in the mapping; bf16 releases their pages
 * but reading them still gives the file's values (they fault back in). */
FT_TEST(test_bf16_released_mapping_still_reads) {
    if (!native())
        return;
    char dir[] = "/tmp/ftune-prec-XXXXXX";
    FT_CHECK(mkdtemp(dir) != NULL);
    ft_model *m = tiny(0, 5), *l = NULL;
    FT_CHECK(m != NULL);
    if (!m)
        return;
    FT_CHECK_OK(ft_model_save(m, dir, FT_DT_F32));
    FT_CHECK_OK(ft_model_load(dir, &l));
    if (!l) {
        ft_model_free(m);
        return;
    }
    FT_CHECK_OK(ft_model_set_precision(l, FT_PREC_BF16));
    for (int i = 0; i < m->n_params; i++) {
        FT_CHECK(!memcmp(m->params[i].data, l->params[i].data, sizeof(float) * (size_t)m->params[i].numel));
        if (l->params[i].data16) {
            uint16_t w;
            ft_f32_to_bf16_n(&w, &m->params[i].data[m->params[i].numel - 1], 1);
            FT_CHECK(l->params[i].data16[m->params[i].numel - 1] == w);
        }
    }
    ft_model_free(l);
    ft_model_free(m);
    char p[128];
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    rmdir(dir);
}

/* No native bf16 (simulated with FTUNE_NO_BF16=1): a clear error, the model stays fp32 and usable. */
FT_TEST(test_bf16_fallback) {
    setenv("FTUNE_NO_BF16", "1", 1);
    FT_CHECK(!ft_bf16_native());
    ft_model *m = tiny(0, 6);
    FT_CHECK(m != NULL);
    if (!m)
        return;
    FT_CHECK_FAILS(ft_model_set_precision(m, FT_PREC_BF16), FT_ERR_UNSUPPORTED, "AVX512-BF16");
    FT_CHECK(m->precision == FT_PREC_FP32 && m->mm == NULL);
    for (int i = 0; i < m->n_params; i++)
        FT_CHECK(m->params[i].data16 == NULL);
    ft_arena ar;
    FT_CHECK_OK(ft_arena_init(&ar, ft_model_act_bytes(m, 3, 11) + (1 << 20)));
    int n;
    FT_CHECK(isfinite(step(m, &ar, NULL, &n)));
    ft_arena_free(&ar);
    ft_model_free(m);
    unsetenv("FTUNE_NO_BF16");
    ft_precision p;
    FT_CHECK_OK(ft_precision_parse("bf16", &p));
    FT_CHECK(p == FT_PREC_BF16);
    FT_CHECK_FAILS(ft_precision_parse("fp16", &p), FT_ERR_ARG, "fp16");
}

int main(void) {
    FT_RUN(test_linear_bf16_matches_rounded_reference);
    FT_RUN(test_lmhead_bf16_matches_fp32_within_bf16);
    FT_RUN(test_decoder_bf16_close_to_fp32);
    FT_RUN(test_bf16_copies_follow_optimizer_steps);
    FT_RUN(test_bf16_released_mapping_still_reads);
    FT_RUN(test_bf16_fallback);
    FT_DONE();
}
