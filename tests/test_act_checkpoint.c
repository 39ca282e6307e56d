/* Activation checkpointing (ft_fwd_opts.checkpoint): the recomputed forward repeats the same arithmetic and
 * the same dropout streams, so loss and every gradient must equal the normal path's bit for bit — for GPT-2
 * and Llama, with embedding/attention/residual dropout on, full fine-tuning, LoRA (with LoRA dropout), DoRA,
 * IA3, bottleneck adapters, prompt tuning, the causal LM head (plain and fused) and the classification head —
 * while the step arena peaks lower and the estimate (ft_model_act_bytes_ckpt) is smaller and still enough.
 * The same for the default recompute of n1/n2/act in the backward against keep_recomputable. */
#include <stdlib.h>

#include "ft_test.h"
#include "peft/peft.h"

static const char *GPT2_CFG = "{\"model_type\": \"gpt2\", \"vocab_size\": 40, \"n_embd\": 16, \"n_layer\": 3, "
                              "\"n_head\": 2, \"n_positions\": 32}";
static const char *LLAMA_CFG = "{\"model_type\": \"llama\", \"vocab_size\": 40, \"hidden_size\": 24, "
                               "\"intermediate_size\": 40, \"num_hidden_layers\": 3, \"num_attention_heads\": 6, "
                               "\"num_key_value_heads\": 3, \"max_position_embeddings\": 32}";

enum { B = 2, T = 7 };
static int32_t IDS[B * T] = {1, 5, 9, 2, 33, 7, 11, 4, 4, 8, 15, 21, 0, 0};
static int32_t MASK[B * T] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
static int32_t LABELS[B * T] = {1, 5, -100, 2, 33, 7, 11, 4, 4, 8, 15, 21, -100, -100};
static int32_t CLS[B] = {2, 0};

typedef struct {
    const char *name;
    ft_method method;
    bool dora;
    float lora_dropout;
    ft_task task;
    bool fused; /* the fused LM head (the trainer's path) */
    const char *adapter_act; /* NULL = relu */
} tcase;

static const tcase CASES[] = {
    {"full", FT_METHOD_FULL, false, 0.0f, FT_TASK_CAUSAL_LM, false, NULL},
    {"full fused head", FT_METHOD_FULL, false, 0.0f, FT_TASK_CAUSAL_LM, true, NULL},
    {"lora + lora dropout", FT_METHOD_LORA, false, 0.2f, FT_TASK_CAUSAL_LM, true, NULL},
    {"dora", FT_METHOD_LORA, true, 0.0f, FT_TASK_CAUSAL_LM, false, NULL},
    {"ia3", FT_METHOD_IA3, false, 0.0f, FT_TASK_CAUSAL_LM, true, NULL},
    {"adapter", FT_METHOD_ADAPTER, false, 0.0f, FT_TASK_CAUSAL_LM, false, "gelu"},
    {"prompt", FT_METHOD_PROMPT, false, 0.0f, FT_TASK_CAUSAL_LM, true, NULL},
    {"full seq-cls", FT_METHOD_FULL, false, 0.0f, FT_TASK_SEQ_CLS, false, NULL},
    {"lora seq-cls", FT_METHOD_LORA, false, 0.2f, FT_TASK_SEQ_CLS, false, NULL},
    {"adapter seq-cls", FT_METHOD_ADAPTER, false, 0.0f, FT_TASK_SEQ_CLS, false, NULL},
};

static ft_model *build(const char *cfg_txt, const tcase *tc) {
    ft_model_config cfg;
    ft_model *m = NULL;
    if (ft_config_parse(cfg_txt, "cfg", &cfg) != FT_OK || ft_model_init_random(&cfg, 3, &m) != FT_OK)
        return NULL;
    m->cfg.embd_dropout = m->cfg.attn_dropout = m->cfg.resid_dropout = 0.1f; /* every dropout site on */
    static const char *const names[3] = {"a", "b", "c"};
    ft_peft_cfg pc;
    ft_peft_cfg_default(&pc);
    pc.method = tc->method;
    pc.use_dora = tc->dora;
    pc.lora_r = 4;
    pc.lora_dropout = tc->lora_dropout;
    pc.adapter_size = 6;
    if (tc->adapter_act)
        pc.adapter_act = tc->adapter_act;
    pc.num_virtual_tokens = 3;
    pc.seed = 2;
    if ((tc->task != FT_TASK_CAUSAL_LM && ft_model_set_task(m, tc->task, 3, names, 4) != FT_OK) ||
        ft_peft_apply(m, &pc) != FT_OK) {
        ft_model_free(m);
        return NULL;
    }
    /* move attached tensors off their identity init (zero LoRA B, zero adapter up, unit IA3) so that every
     * path carries signal and every gradient is non-trivial */
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].extra)
            for (int64_t j = 0; j < m->params[i].numel; j++)
                m->params[i].data[j] += 0.1f * ft_rng_normal(9, (uint64_t)i, (uint64_t)j);
    return m;
}

typedef struct {
    double loss;
    float **g; /* [n_params], NULL where frozen */
    size_t peak, cap;
} step_out;

static void step_free(const ft_model *m, step_out *s) {
    for (int i = 0; s->g && i < m->n_params; i++)
        free(s->g[i]);
    free(s->g);
}

/* One forward + backward with the arena sized exactly by the estimate: a step that needs more fails.
 * keep: ft_fwd_opts.keep_recomputable (the estimate does not cover it: twice the estimate). */
static bool step_k(ft_model *m, const tcase *tc, bool ckpt, bool training, bool keep, step_out *s) {
    memset(s, 0, sizeof *s);
    ft_batch b = {.B = B, .T = T, .input_ids = IDS, .mask = MASK, .labels = LABELS, .cls_labels = CLS};
    ft_arena ar;
    s->cap = ft_model_act_bytes_ckpt(m, B, T, ckpt) * (keep ? 2 : 1);
    if (ft_arena_init(&ar, s->cap) != FT_OK)
        return false;
    ft_model_zero_grad(m);
    ft_fwd_opts o = {.training = training, .seed = 77, .step = 5, .fused_head = tc->fused, .checkpoint = ckpt,
                     .keep_recomputable = keep};
    ft_acts *a;
    int64_t cnt;
    bool ok = ft_model_forward(m, &b, &o, &ar, &a, &s->loss, &cnt) == FT_OK &&
              ft_model_backward(m, a, &ar, 1.0f) == FT_OK;
    if (!ok)
        fprintf(stderr, "  %s (checkpoint %d): %s\n", tc->name, ckpt, ft_last_error());
    s->peak = ar.peak;
    ft_arena_free(&ar);
    s->g = calloc((size_t)m->n_params, sizeof *s->g);
    for (int i = 0; ok && i < m->n_params; i++)
        if (m->params[i].grad) {
            s->g[i] = malloc((size_t)m->params[i].numel * sizeof(float));
            memcpy(s->g[i], m->params[i].grad, (size_t)m->params[i].numel * sizeof(float));
        }
    return ok;
}

static bool step(ft_model *m, const tcase *tc, bool ckpt, bool training, step_out *s) {
    return step_k(m, tc, ckpt, training, false, s);
}

static void check_case(const char *arch, const char *cfg_txt, const tcase *tc) {
    ft_model *m = build(cfg_txt, tc);
    FT_CHECKF(m != NULL, "%s %s: %s", arch, tc->name, ft_last_error());
    if (!m)
        return;
    step_out ref, ck, nodrop, kept, kept_nd; /* no dropout: the fused residual+norm and bias+GELU paths */
    bool ok_ref = step(m, tc, false, true, &ref), ok_ck = step(m, tc, true, true, &ck);
    bool ok_nd = step(m, tc, false, false, &nodrop), ok_kp = step_k(m, tc, false, true, true, &kept);
    bool ok_knd = step_k(m, tc, false, false, true, &kept_nd);
    FT_CHECKF(ok_ref && ok_ck && ok_nd && ok_kp && ok_knd, "%s %s: a step failed", arch, tc->name);
    if (ok_ref && ok_ck && ok_nd && ok_kp && ok_knd) {
        FT_CHECKF(nodrop.loss == kept_nd.loss, "%s %s: no dropout: loss %.17g vs %.17g keeping", arch, tc->name,
                  nodrop.loss, kept_nd.loss);
        FT_CHECKF(ref.loss == ck.loss, "%s %s: loss %.17g vs %.17g with checkpointing", arch, tc->name, ref.loss,
                  ck.loss);
        FT_CHECKF(ref.loss == kept.loss, "%s %s: loss %.17g vs %.17g keeping the recomputable buffers", arch,
                  tc->name, ref.loss, kept.loss);
        FT_CHECKF(ref.peak < kept.peak, "%s %s: arena peak %zu recomputing, %zu keeping", arch, tc->name, ref.peak,
                  kept.peak);
        FT_CHECKF(ref.loss != nodrop.loss, "%s %s: dropout changed nothing (the test would not see masks)", arch,
                  tc->name);
        int n_tr = 0, n_nonzero = 0;
        for (int i = 0; i < m->n_params; i++) {
            if (!ref.g[i])
                continue;
            n_tr++;
            const int64_t n = m->params[i].numel;
            double gmax = 0.0, dmax = 0.0;
            for (int64_t j = 0; j < n; j++) {
                gmax = fmax(gmax, fabs(ref.g[i][j]));
                dmax = fmax(dmax, fabs((double)ref.g[i][j] - ck.g[i][j]));
            }
            n_nonzero += gmax > 0.0;
            FT_CHECKF(memcmp(ref.g[i], ck.g[i], (size_t)n * sizeof(float)) == 0,
                      "%s %s: gradient of %s differs with checkpointing (max |diff| %g, max |g| %g)", arch, tc->name,
                      m->params[i].name, dmax, gmax);
            FT_CHECKF(memcmp(ref.g[i], kept.g[i], (size_t)n * sizeof(float)) == 0,
                      "%s %s: gradient of %s differs between recomputing and keeping n1/n2/act", arch, tc->name,
                      m->params[i].name);
            FT_CHECKF(memcmp(nodrop.g[i], kept_nd.g[i], (size_t)n * sizeof(float)) == 0,
                      "%s %s: no dropout: gradient of %s differs between recomputing and keeping", arch, tc->name,
                      m->params[i].name);
        }
        /* an untied lm_head gets no gradient under a classification head; ReLU adapters may have dead units */
        FT_CHECKF(n_tr > 0 && n_nonzero * 10 >= n_tr * 9, "%s %s: %d of %d trained tensors have a gradient", arch,
                  tc->name, n_nonzero, n_tr);
        FT_CHECKF(ck.cap < ref.cap, "%s %s: estimate %zu with checkpointing, %zu without", arch, tc->name, ck.cap,
                  ref.cap);
        FT_CHECKF(ck.peak < ref.peak, "%s %s: arena peak %zu with checkpointing, %zu without", arch, tc->name,
                  ck.peak, ref.peak);
    }
    step_free(m, &ref);
    step_free(m, &ck);
    step_free(m, &nodrop);
    step_free(m, &kept);
    step_free(m, &kept_nd);
    ft_model_free(m);
}

FT_TEST(gradients_equal_with_checkpointing) {
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        check_case("gpt2", GPT2_CFG, &CASES[i]);
        check_case("llama", LLAMA_CFG, &CASES[i]);
    }
}

/* Inference / eval (no backward): the same logits, no block's activations kept. */
FT_TEST(inference_forward_keeps_no_block) {
    const char *cfgs[2] = {GPT2_CFG, LLAMA_CFG};
    for (int c = 0; c < 2; c++) {
        tcase tc = {"lora", FT_METHOD_LORA, false, 0.0f, FT_TASK_CAUSAL_LM, false, NULL};
        ft_model *m = build(cfgs[c], &tc);
        FT_CHECK(m != NULL);
        if (!m)
            continue;
        ft_batch b = {.B = B, .T = T, .input_ids = IDS, .mask = MASK};
        float *lg[2] = {NULL, NULL};
        size_t peak[2] = {0, 0};
        int64_t rows = 0, cols = 0;
        for (int k = 0; k < 2; k++) {
            ft_arena ar;
            FT_CHECK_OK(ft_arena_init(&ar, ft_model_act_bytes_ckpt(m, B, T, k == 1)));
            ft_fwd_opts o = {.keep_logits = true, .no_loss = true, .checkpoint = k == 1};
            ft_acts *a;
            double loss;
            int64_t cnt;
            FT_CHECK_OK(ft_model_forward(m, &b, &o, &ar, &a, &loss, &cnt));
            const float *l = ft_acts_logits(a, &rows, &cols);
            lg[k] = malloc((size_t)(rows * cols) * sizeof(float));
            memcpy(lg[k], l, (size_t)(rows * cols) * sizeof(float));
            peak[k] = ar.peak;
            ft_arena_free(&ar);
        }
        FT_CHECK(rows == B * T && cols == 40);
        FT_CHECK(memcmp(lg[0], lg[1], (size_t)(rows * cols) * sizeof(float)) == 0);
        FT_CHECKF(peak[1] < peak[0], "arena peak %zu with checkpointing, %zu without", peak[1], peak[0]);
        free(lg[0]);
        free(lg[1]);
        ft_model_free(m);
    }
}

/* The fused head's [chunk, V] workspace is given back when the head is done: the backward's buffers reuse
 * its space. After the forward the arena holds less than its high-water mark by at least that much. */
FT_TEST(fused_head_workspace_given_back) {
    const char *cfgs[2] = {GPT2_CFG, LLAMA_CFG};
    for (int c = 0; c < 2; c++) {
        tcase tc = {"full fused head", FT_METHOD_FULL, false, 0.0f, FT_TASK_CAUSAL_LM, true, NULL};
        ft_model *m = build(cfgs[c], &tc);
        FT_CHECK(m != NULL);
        if (!m)
            continue;
        ft_batch b = {.B = B, .T = T, .input_ids = IDS, .mask = MASK, .labels = LABELS};
        ft_arena ar;
        FT_CHECK_OK(ft_arena_init(&ar, ft_model_act_bytes(m, B, T)));
        ft_fwd_opts o = {.training = true, .seed = 77, .fused_head = true};
        ft_acts *a;
        double loss;
        int64_t cnt;
        FT_CHECK_OK(ft_model_forward(m, &b, &o, &ar, &a, &loss, &cnt));
        const size_t held = ft_arena_mark(&ar), work = ft_lmhead_ce_work_floats(B * T, 40) * sizeof(float);
        FT_CHECKF(ar.peak >= held + work, "after the forward: %zu held, peak %zu, workspace %zu bytes", held, ar.peak,
                  work);
        FT_CHECK_OK(ft_model_backward(m, a, &ar, 1.0f));
        ft_arena_free(&ar);
        ft_model_free(m);
    }
}

/* The estimate's saving grows with depth: per-layer activations are held for one block, not all. Each
 * added layer costs the checkpointed estimate only its kept input [N,C], the plain one its whole block
 * (x_mid, output, q/k/v, attention output, fc: ≥ 10·N·C). */
static size_t est(int layers, bool ckpt) {
    char cfg_txt[256];
    snprintf(cfg_txt, sizeof cfg_txt,
             "{\"model_type\": \"gpt2\", \"vocab_size\": 40, \"n_embd\": 16, \"n_layer\": %d, "
             "\"n_head\": 2, \"n_positions\": 256}",
             layers);
    ft_model_config cfg;
    ft_model *m = NULL;
    if (ft_config_parse(cfg_txt, "cfg", &cfg) != FT_OK || ft_model_init_random(&cfg, 1, &m) != FT_OK)
        return 0;
    size_t full = ft_model_act_bytes(m, 4, 128), same = ft_model_act_bytes_ckpt(m, 4, 128, false),
           ck = ft_model_act_bytes_ckpt(m, 4, 128, true);
    ft_model_free(m);
    return full == same ? (ckpt ? ck : full) : 0;
}

FT_TEST(estimate_scales_with_one_block) {
    const size_t f12 = est(12, false), f24 = est(24, false), c12 = est(12, true), c24 = est(24, true);
    FT_CHECK(f12 > 0 && f24 > f12 && c12 > 0 && c24 > c12);
    const size_t nc = 4 * 128 * 16 * sizeof(float);
    FT_CHECKF(c24 - c12 <= 12 * (nc + 4096), "12 more layers add %zu bytes with checkpointing (kept inputs: %zu)",
              c24 - c12, 12 * nc);
    FT_CHECKF(f24 - f12 >= 12 * 10 * nc, "12 more layers add %zu bytes without checkpointing", f24 - f12);
    FT_CHECKF(c12 * 2 < f12, "12 layers: %zu bytes with checkpointing vs %zu", c12, f12);
}

int main(void) {
    FT_RUN(gradients_equal_with_checkpointing);
    FT_RUN(inference_forward_keeps_no_block);
    FT_RUN(fused_head_workspace_given_back);
    FT_RUN(estimate_scales_with_one_block);
    FT_DONE();
}
