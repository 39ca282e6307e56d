/* peft: method selection, target matching, attaching LoRA / IA3 / prompt / adapter / BitFit tensors,
 * PEFT-format save and load, merge. Tensor names follow Hugging Face PEFT:
 *   base_model.model.<module>.lora_A.weight [r,in], .lora_B.weight [out,r], <module>.ia3_l,
 *   prompt_embeddings [n, hidden]; our own BITFIT / BOTTLENECK_ADAPTER use the same layout. */
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "peft/peft.h"
#include "tokenizer/tokenizer.h"

#define PREFIX "base_model.model."

void ft_peft_cfg_default(ft_peft_cfg *c) {
    memset(c, 0, sizeof *c);
    c->method = FT_METHOD_FULL;
    c->lora_r = 8;
    c->lora_alpha = 8.0f;
    c->lora_bias = "none";
    c->lora_init = "default";
    c->adapter_size = 64;
    c->adapter_placement = "houlsby";
    c->adapter_act = "relu";
    c->num_virtual_tokens = 20;
    c->seed = 42;
}

static const char *METHOD_NAMES[] = {"full", "lora", "adapter", "prompt", "bitfit", "ia3"};

ft_status ft_method_parse(const char *name, ft_method *out) {
    for (int i = 0; i < 6; i++)
        if (!strcmp(name, METHOD_NAMES[i])) {
            *out = (ft_method)i;
            return FT_OK;
        }
    return ft_fail(FT_ERR_ARG, "unknown method '%s' (full, lora, adapter, prompt, bitfit, ia3)", name);
}

const char *ft_method_name(ft_method m) { return (unsigned)m < 6 ? METHOD_NAMES[m] : "?"; }

/* ---------- target matching (PEFT's check_target_module_exists) ---------- */

typedef struct {
    bool all_linear, regex;
    char names[FT_PEFT_MAX_TARGETS * 2][64];
    int n;
    pcre2_code *re;
} target_set;

static ft_status targets_parse(target_set *t, const char *spec, bool regex) {
    memset(t, 0, sizeof *t);
    if (!strcmp(spec, "all-linear")) {
        t->all_linear = true;
        return FT_OK;
    }
    if (regex) {
        int err;
        PCRE2_SIZE off;
        t->re = pcre2_compile((PCRE2_SPTR)spec, PCRE2_ZERO_TERMINATED, PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF,
                              &err, &off, NULL);
        if (!t->re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            return ft_fail(FT_ERR_CONFIG, "target_modules regex '%s': %s at offset %zu", spec, (char *)msg, (size_t)off);
        }
        t->regex = true;
        return FT_OK;
    }
    const char *p = spec;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, ", ");
        if (t->n >= (int)(sizeof t->names / sizeof *t->names) || len >= sizeof t->names[0])
            return ft_fail(FT_ERR_CONFIG, "target_modules '%s': too many or too long names", spec);
        memcpy(t->names[t->n], p, len);
        t->names[t->n][len] = 0;
        t->n++;
        p += len;
    }
    if (t->n == 0)
        return ft_fail(FT_ERR_CONFIG, "target_modules is empty");
    return FT_OK;
}

static void targets_free(target_set *t) { pcre2_code_free(t->re); }

static bool name_matches(const char *path, const char *name) {
    size_t lp = strlen(path), ln = strlen(name);
    if (!strcmp(path, name))
        return true;
    return lp > ln && path[lp - ln - 1] == '.' && !strcmp(path + lp - ln, name);
}

static bool targets_match(const target_set *t, const char *path) {
    if (t->all_linear)
        return true;
    if (t->regex) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->re, NULL);
        int rc = pcre2_match(t->re, (PCRE2_SPTR)path, strlen(path), 0, 0, md, NULL);
        pcre2_match_data_free(md);
        return rc >= 0;
    }
    for (int i = 0; i < t->n; i++)
        if (name_matches(path, t->names[i]))
            return true;
    return false;
}

static const char *default_targets(const ft_model *m, ft_method meth) {
    const bool g = m->cfg.arch == FT_ARCH_GPT2, qwen = !strcmp(m->cfg.model_type, "qwen2");
    if (meth == FT_METHOD_IA3)
        return g ? "c_attn,mlp.c_proj" : qwen ? "q_proj,v_proj,down_proj" : "k_proj,v_proj,down_proj";
    return g ? "c_attn" : "q_proj,v_proj";
}

static const char *default_ff(const ft_model *m) { return m->cfg.arch == FT_ARCH_GPT2 ? "mlp.c_proj" : "down_proj"; }

/* Error listing the module names that exist, when targets match nothing. */
static ft_status no_match(const ft_model *m, const char *spec) {
    char list[1024];
    size_t o = 0;
    list[0] = 0;
    for (int s = 0; s < FT_N_SITES; s++) {
        char path[256];
        if (!ft_model_site(m, 0, (ft_site)s, NULL, NULL, NULL, NULL, NULL, path, sizeof path))
            continue;
        const char *leaf = strchr(path + strlen(m->cfg.arch == FT_ARCH_GPT2 ? "transformer.h." : "model.layers."), '.');
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "", leaf ? leaf + 1 : path);
        if (o >= sizeof list)
            break;
    }
    return ft_fail(FT_ERR_CONFIG,
                   "target_modules '%s' matches no module of this %s model; its linear modules "
                   "are (per layer): %s; embeddings (LoRA): %s",
                   spec, m->cfg.model_type, list, m->cfg.arch == FT_ARCH_GPT2 ? "wte, wpe" : "embed_tokens");
}

/* ---------- attaching ---------- */

static int add_extra(ft_model *m, const char *name, int ndim, int64_t d0, int64_t d1) {
    int i = ft_model_add_param(m, name, ndim, d0, d1);
    if (i >= 0 && ft_model_set_trainable(m, i, true) != FT_OK)
        return -1;
    return i;
}

static void freeze_all(ft_model *m) {
    for (int i = 0; i < m->n_params; i++)
        if (i != m->score)
            ft_model_set_trainable(m, i, false);
}

static bool is_bias(const char *name) {
    size_t l = strlen(name);
    return l > 5 && !strcmp(name + l - 5, ".bias");
}

static ft_status attach_lora(ft_model *m, const ft_peft_cfg *c, const target_set *ts, uint64_t seed, int *n_matched) {
    const int r = c->lora_r;
    const float scale = c->use_rslora ? c->lora_alpha / sqrtf((float)r) : c->lora_alpha / (float)r;
    const bool gauss = c->lora_init && !strcmp(c->lora_init, "gaussian");
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int s = 0; s < FT_N_SITES; s++) {
            char path[256], name[320];
            int64_t in, out;
            int bi;
            if (!ft_model_site(m, l, (ft_site)s, NULL, &bi, &in, &out, NULL, path, sizeof path) ||
                !targets_match(ts, path))
                continue;
            ft_site_peft *sp = &m->sites[l * FT_N_SITES + s];
            snprintf(name, sizeof name, PREFIX "%s.lora_A.weight", path);
            sp->lora_a = add_extra(m, name, 2, r, in);
            snprintf(name, sizeof name, PREFIX "%s.lora_B.weight", path);
            sp->lora_b = add_extra(m, name, 2, out, r);
            if (sp->lora_a < 0 || sp->lora_b < 0)
                return FT_ERR_NOMEM;
            sp->r = r;
            sp->lora_scale = scale;
            sp->lora_dropout = c->lora_dropout;
            float *A = m->params[sp->lora_a].data;
            /* A: Kaiming-uniform(a=√5) = U(−1/√in, 1/√in); gaussian: N(0, 1/r). B = 0. */
            const float bound = 1.0f / sqrtf((float)in);
            for (int64_t j = 0; j < (int64_t)r * in; j++)
                A[j] = gauss ? ft_rng_normal(seed, 1000u + (uint64_t)sp->lora_a, (uint64_t)j) / (float)r
                             : (2.0f * ft_rng_uniform(seed, 1000u + (uint64_t)sp->lora_a, (uint64_t)j) - 1.0f) * bound;
            if (c->use_dora) { /* magnitude = ‖W‖ per output row (B = 0), so training starts from the base */
                snprintf(name, sizeof name, PREFIX "%s.lora_magnitude_vector", path);
                sp->dora_m = add_extra(m, name, 1, out, 0);
                if (sp->dora_m < 0)
                    return FT_ERR_NOMEM;
                int wi;
                bool io;
                ft_model_site(m, l, (ft_site)s, &wi, NULL, NULL, NULL, &io, NULL, 0);
                const float *W = m->params[wi].data;
                float *mag = m->params[sp->dora_m].data;
                for (int64_t o = 0; o < out; o++) {
                    double ss = 0.0;
                    for (int64_t i = 0; i < in; i++) {
                        double w = io ? W[i * out + o] : W[o * in + i];
                        ss += w * w;
                    }
                    mag[o] = (float)sqrt(ss);
                }
            }
            if (c->lora_bias && !strcmp(c->lora_bias, "lora_only") && bi >= 0)
                FT_TRY(ft_model_set_trainable(m, bi, true));
            (*n_matched)++;
        }
    if (c->lora_bias && !strcmp(c->lora_bias, "all"))
        for (int i = 0; i < m->n_params; i++)
            if (!m->params[i].extra && is_bias(m->params[i].name))
                FT_TRY(ft_model_set_trainable(m, i, true));
    return FT_OK;
}

/* r and scale of the LoRA pair on a module (the one place a per-module rank / alpha would come from). */
static void lora_rank_scale(const ft_peft_cfg *c, const char *path, int *r, float *scale) {
    (void)path;
    *r = c->lora_r;
    *scale = c->use_rslora ? c->lora_alpha / sqrtf((float)*r) : c->lora_alpha / (float)*r;
}

/* LoRA on embedding tables named in target_modules (PEFT lora.Embedding): lora_embedding_A [r, V] = 0 and
 * lora_embedding_B [C, r] ~ N(0, 1) (PEFT's init for embeddings, whatever init_lora_weights says), saved
 * without ".weight". "all-linear" never selects an embedding. IA3 has no embedding form. */
static ft_status attach_lora_embedding(ft_model *m, const ft_peft_cfg *c, const target_set *ts, uint64_t seed,
                                       int *n_matched) {
    for (int e = 0; e < FT_N_EMB; e++) {
        char path[64], name[160];
        int64_t V;
        if (ts->all_linear || !ft_model_emb(m, (ft_emb)e, NULL, &V, NULL, path, sizeof path) ||
            !targets_match(ts, path))
            continue;
        if (c->method != FT_METHOD_LORA)
            return ft_fail(FT_ERR_UNSUPPORTED,
                           "target_modules selects the embedding %s: %s on an embedding is not "
                           "supported (PEFT has none either)",
                           path, ft_method_name(c->method));
        if (c->use_dora)
            return ft_fail(FT_ERR_UNSUPPORTED, "use_dora on the embedding %s is not supported yet", path);
        ft_emb_peft *ep = &m->emb[e];
        const int64_t C = m->cfg.hidden;
        lora_rank_scale(c, path, &ep->r, &ep->lora_scale);
        snprintf(name, sizeof name, PREFIX "%s.lora_embedding_A", path);
        ep->lora_a = add_extra(m, name, 2, ep->r, V);
        snprintf(name, sizeof name, PREFIX "%s.lora_embedding_B", path);
        ep->lora_b = add_extra(m, name, 2, C, ep->r);
        if (ep->lora_a < 0 || ep->lora_b < 0)
            return FT_ERR_NOMEM;
        float *B = m->params[ep->lora_b].data;
        for (int64_t j = 0; j < C * ep->r; j++)
            B[j] = ft_rng_normal(seed, 4000u + (uint64_t)ep->lora_b, (uint64_t)j);
        (*n_matched)++;
    }
    return FT_OK;
}

static ft_status attach_ia3(ft_model *m, const target_set *ts, const target_set *ff, int *n_matched) {
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int s = 0; s < FT_N_SITES; s++) {
            char path[256], name[320];
            int64_t in, out;
            if (!ft_model_site(m, l, (ft_site)s, NULL, NULL, &in, &out, NULL, path, sizeof path) ||
                !targets_match(ts, path))
                continue;
            ft_site_peft *sp = &m->sites[l * FT_N_SITES + s];
            sp->ia3_in = targets_match(ff, path);
            snprintf(name, sizeof name, PREFIX "%s.ia3_l", path);
            sp->ia3 = sp->ia3_in ? add_extra(m, name, 2, 1, in) : add_extra(m, name, 2, out, 1);
            if (sp->ia3 < 0)
                return FT_ERR_NOMEM;
            float *v = m->params[sp->ia3].data;
            for (int64_t j = 0; j < m->params[sp->ia3].numel; j++)
                v[j] = 1.0f;
            (*n_matched)++;
        }
    return FT_OK;
}

static ft_status attach_adapter(ft_model *m, const ft_peft_cfg *c, uint64_t seed) {
    const bool pfeiffer = c->adapter_placement && !strcmp(c->adapter_placement, "pfeiffer");
    if (c->adapter_placement && !pfeiffer && strcmp(c->adapter_placement, "houlsby"))
        return ft_fail(FT_ERR_CONFIG, "adapter placement '%s' (houlsby or pfeiffer)", c->adapter_placement);
    const char *act = c->adapter_act ? c->adapter_act : "relu";
    if (!strcmp(act, "relu"))
        m->adapter_act = FT_ACT_RELU;
    else if (!strcmp(act, "gelu"))
        m->adapter_act = FT_ACT_GELU_ERF;
    else if (!strcmp(act, "silu"))
        m->adapter_act = FT_ACT_SILU;
    else
        return ft_fail(FT_ERR_CONFIG, "adapter non-linearity '%s' (relu, gelu, silu)", act);
    const int64_t C = m->cfg.hidden, k = c->adapter_size;
    if (k <= 0)
        return ft_fail(FT_ERR_CONFIG, "adapter size must be positive");
    const bool g = m->cfg.arch == FT_ARCH_GPT2;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int w = pfeiffer ? 1 : 0; w < 2; w++) {
            char base[200], name[320];
            if (g)
                snprintf(base, sizeof base, PREFIX "transformer.h.%d.%s.adapter", l, w ? "mlp" : "attn");
            else
                snprintf(base, sizeof base, PREFIX "model.layers.%d.%s.adapter", l, w ? "mlp" : "self_attn");
            ft_adapter_idx *A = &m->adapters[l * 2 + w];
            snprintf(name, sizeof name, "%s.down.weight", base);
            A->down_w = add_extra(m, name, 2, k, C);
            snprintf(name, sizeof name, "%s.down.bias", base);
            A->down_b = add_extra(m, name, 1, k, 0);
            snprintf(name, sizeof name, "%s.up.weight", base);
            A->up_w = add_extra(m, name, 2, C, k);
            snprintf(name, sizeof name, "%s.up.bias", base);
            A->up_b = add_extra(m, name, 1, C, 0);
            if (A->down_w < 0 || A->down_b < 0 || A->up_w < 0 || A->up_b < 0)
                return FT_ERR_NOMEM;
            /* near-identity: down ~ N(0, init_range), up = 0, so the block starts as the base model */
            float *d = m->params[A->down_w].data;
            for (int64_t j = 0; j < k * C; j++)
                d[j] = ft_rng_normal(seed, 2000u + (uint64_t)A->down_w, (uint64_t)j) * m->cfg.init_range;
        }
    return FT_OK;
}

static ft_status attach_prompt(ft_model *m, const ft_peft_cfg *c, uint64_t seed) {
    const int n = c->num_virtual_tokens;
    const int64_t C = m->cfg.hidden;
    if (n <= 0 || n >= m->cfg.max_pos)
        return ft_fail(FT_ERR_CONFIG, "num_virtual_tokens %d must be in [1, %d)", n, m->cfg.max_pos);
    m->prompt = add_extra(m, "prompt_embeddings", 2, n, C);
    if (m->prompt < 0)
        return FT_ERR_NOMEM;
    m->n_virtual = n;
    float *p = m->params[m->prompt].data;
    if (c->prompt_init_text && *c->prompt_init_text) {
        /* PEFT: the text's token ids, repeated to length n and truncated; their embeddings */
        if (!m->dir)
            return ft_fail(FT_ERR_CONFIG, "prompt_tuning_init_text needs the model's tokenizer");
        ft_tokenizer *tok;
        FT_TRY(ft_tok_load(m->dir, &tok));
        ft_tok_ids ids = {0};
        ft_status s = ft_tok_encode(tok, c->prompt_init_text, strlen(c->prompt_init_text), false, &ids);
        ft_tok_free(tok);
        if (s != FT_OK)
            return s;
        if (ids.n == 0) {
            ft_tok_ids_free(&ids);
            return ft_fail(FT_ERR_CONFIG, "prompt_tuning_init_text encodes to no token");
        }
        for (int t = 0; t < n; t++)
            memcpy(p + (int64_t)t * C, m->params[m->wte].data + (int64_t)ids.ids[t % (int)ids.n] * C,
                   (size_t)C * sizeof(float));
        ft_tok_ids_free(&ids);
    } else {
        for (int64_t j = 0; j < n * C; j++)
            p[j] = ft_rng_normal(seed, 3000u, (uint64_t)j);
    }
    return FT_OK;
}

/* adapter_config.json fields as PEFT writes them for the method. */
static cJSON *make_peft_config(const ft_model *m, const ft_peft_cfg *c, const char *targets) {
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    const char *task = m->task == FT_TASK_CAUSAL_LM ? "CAUSAL_LM" : "SEQ_CLS";
    cJSON_AddStringToObject(j, "base_model_name_or_path", m->dir ? m->dir : "");
    cJSON_AddStringToObject(j, "task_type", task);
    cJSON_AddBoolToObject(j, "inference_mode", true);
    cJSON_AddNullToObject(j, "revision");
    cJSON *mts = cJSON_CreateArray();
    if (m->score >= 0)
        cJSON_AddItemToArray(mts, cJSON_CreateString("score"));
    cJSON *targ = NULL;
    if (targets && c->target_regex) {
        targ = cJSON_CreateString(targets);
    } else if (targets) {
        targ = cJSON_CreateArray();
        target_set t;
        if (targets_parse(&t, targets, false) == FT_OK) {
            if (t.all_linear)
                cJSON_AddItemToArray(targ, cJSON_CreateString("all-linear"));
            for (int i = 0; i < t.n; i++)
                cJSON_AddItemToArray(targ, cJSON_CreateString(t.names[i]));
        }
        targets_free(&t);
    }
    switch (c->method) {
    case FT_METHOD_LORA:
        cJSON_AddStringToObject(j, "peft_type", "LORA");
        cJSON_AddNumberToObject(j, "r", c->lora_r);
        cJSON_AddNumberToObject(j, "lora_alpha", c->lora_alpha);
        cJSON_AddNumberToObject(j, "lora_dropout", c->lora_dropout);
        cJSON_AddBoolToObject(j, "fan_in_fan_out", m->cfg.arch == FT_ARCH_GPT2);
        cJSON_AddStringToObject(j, "bias", c->lora_bias ? c->lora_bias : "none");
        cJSON_AddBoolToObject(j, "use_rslora", c->use_rslora);
        cJSON_AddBoolToObject(j, "use_dora", c->use_dora);
        if (c->lora_init && !strcmp(c->lora_init, "gaussian"))
            cJSON_AddStringToObject(j, "init_lora_weights", "gaussian");
        else
            cJSON_AddBoolToObject(j, "init_lora_weights", true);
        cJSON_AddNullToObject(j, "layers_to_transform");
        cJSON_AddNullToObject(j, "layers_pattern");
        cJSON_AddItemToObject(j, "rank_pattern", cJSON_CreateObject());
        cJSON_AddItemToObject(j, "alpha_pattern", cJSON_CreateObject());
        break;
    case FT_METHOD_IA3: {
        cJSON_AddStringToObject(j, "peft_type", "IA3");
        cJSON_AddBoolToObject(j, "fan_in_fan_out", m->cfg.arch == FT_ARCH_GPT2);
        cJSON_AddBoolToObject(j, "init_ia3_weights", true);
        cJSON *ff = cJSON_CreateArray();
        target_set t;
        if (targets_parse(&t, c->ia3_feedforward_modules ? c->ia3_feedforward_modules : default_ff(m), false) == FT_OK)
            for (int i = 0; i < t.n; i++)
                cJSON_AddItemToArray(ff, cJSON_CreateString(t.names[i]));
        targets_free(&t);
        cJSON_AddItemToObject(j, "feedforward_modules", ff);
        break;
    }
    case FT_METHOD_PROMPT:
        cJSON_AddStringToObject(j, "peft_type", "PROMPT_TUNING");
        cJSON_AddNumberToObject(j, "num_virtual_tokens", c->num_virtual_tokens);
        cJSON_AddNumberToObject(j, "token_dim", m->cfg.hidden);
        cJSON_AddNumberToObject(j, "num_transformer_submodules", 1);
        cJSON_AddNumberToObject(j, "num_attention_heads", m->cfg.n_heads);
        cJSON_AddNumberToObject(j, "num_layers", m->cfg.n_layers);
        if (c->prompt_init_text && *c->prompt_init_text) {
            cJSON_AddStringToObject(j, "prompt_tuning_init", "TEXT");
            cJSON_AddStringToObject(j, "prompt_tuning_init_text", c->prompt_init_text);
            cJSON_AddStringToObject(j, "tokenizer_name_or_path", m->dir ? m->dir : "");
        } else {
            cJSON_AddStringToObject(j, "prompt_tuning_init", "RANDOM");
            cJSON_AddNullToObject(j, "prompt_tuning_init_text");
            cJSON_AddNullToObject(j, "tokenizer_name_or_path");
        }
        break;
    case FT_METHOD_BITFIT:
        cJSON_AddStringToObject(j, "peft_type", "BITFIT");
        break;
    case FT_METHOD_ADAPTER:
        cJSON_AddStringToObject(j, "peft_type", "BOTTLENECK_ADAPTER");
        cJSON_AddNumberToObject(j, "adapter_size", c->adapter_size);
        cJSON_AddStringToObject(j, "adapter_placement", c->adapter_placement ? c->adapter_placement : "houlsby");
        cJSON_AddStringToObject(j, "adapter_act", c->adapter_act ? c->adapter_act : "relu");
        break;
    case FT_METHOD_FULL: break;
    }
    if (targ && (c->method == FT_METHOD_LORA || c->method == FT_METHOD_IA3))
        cJSON_AddItemToObject(j, "target_modules", targ);
    else
        cJSON_Delete(targ);
    if (cJSON_GetArraySize(mts) > 0)
        cJSON_AddItemToObject(j, "modules_to_save", mts);
    else {
        cJSON_Delete(mts);
        cJSON_AddNullToObject(j, "modules_to_save");
    }
    return j;
}

ft_status ft_peft_apply(ft_model *m, const ft_peft_cfg *c) {
    const uint64_t seed = c->seed;
    m->peft_method = (int)c->method;
    if (c->method == FT_METHOD_FULL) {
        /* full fine-tuning with optional freezing: top N layers, a name pattern, embeddings */
        pcre2_code *re = NULL;
        if (c->train_pattern) {
            int err;
            PCRE2_SIZE off;
            re = pcre2_compile((PCRE2_SPTR)c->train_pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &off, NULL);
            if (!re)
                return ft_fail(FT_ERR_CONFIG, "train pattern '%s' is not a valid regex (offset %zu)", c->train_pattern,
                               (size_t)off);
        }
        int first = c->train_top_layers > 0 ? m->cfg.n_layers - c->train_top_layers : 0;
        if (first < 0)
            first = 0;
        int n_train = 0;
        ft_status s = FT_OK;
        for (int i = 0; s == FT_OK && i < m->n_params; i++) {
            const char *nm = m->params[i].name;
            bool train = true;
            if (c->train_top_layers > 0) { /* only layers ≥ first, the final norm and the head */
                int layer = -1;
                const char *p = strstr(nm, ".h.");
                if (p)
                    layer = atoi(p + 3);
                else if ((p = strstr(nm, ".layers.")))
                    layer = atoi(p + 8);
                bool embed = i == m->wte || i == m->wpe;
                train = layer >= 0 ? layer >= first : !embed || i == m->lm_head;
                if (embed && i == m->lm_head && m->lm_head == m->wte)
                    train = false; /* tied embeddings count as embeddings */
            }
            if (re && train) {
                pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
                train = pcre2_match(re, (PCRE2_SPTR)nm, strlen(nm), 0, 0, md, NULL) >= 0;
                pcre2_match_data_free(md);
            }
            if (c->freeze_embeddings && (i == m->wte || i == m->wpe))
                train = false;
            if (i == m->score)
                train = true;
            s = ft_model_set_trainable(m, i, train);
            n_train += train;
        }
        pcre2_code_free(re);
        if (s == FT_OK && n_train == 0)
            s = ft_fail(FT_ERR_CONFIG, "the freezing options leave nothing to train");
        return s;
    }
    freeze_all(m);
    if (m->score >= 0)
        FT_TRY(ft_model_set_trainable(m, m->score, true)); /* modules_to_save: the new head */
    const char *targets = NULL;
    int matched = 0;
    ft_status s = FT_OK;
    switch (c->method) {
    case FT_METHOD_LORA:
    case FT_METHOD_IA3: {
        targets = c->target_modules ? c->target_modules : default_targets(m, c->method);
        if (c->method == FT_METHOD_LORA && (c->lora_r <= 0 || c->lora_alpha <= 0 || c->lora_dropout < 0 ||
                                            c->lora_dropout >= 1))
            return ft_fail(FT_ERR_CONFIG, "LoRA needs r > 0, lora_alpha > 0 and 0 <= lora_dropout < 1");
        if (c->use_dora && c->lora_dropout > 0.0f)
            return ft_fail(FT_ERR_UNSUPPORTED, "use_dora with lora_dropout > 0 is not supported yet");
        if (c->method == FT_METHOD_LORA && c->lora_bias && strcmp(c->lora_bias, "none") &&
            strcmp(c->lora_bias, "all") && strcmp(c->lora_bias, "lora_only"))
            return ft_fail(FT_ERR_CONFIG, "LoRA bias must be none, all or lora_only (got '%s')", c->lora_bias);
        target_set ts, ff;
        FT_TRY(targets_parse(&ts, targets, c->target_regex));
        s = targets_parse(&ff, c->ia3_feedforward_modules ? c->ia3_feedforward_modules : default_ff(m), false);
        if (s == FT_OK) {
            s = c->method == FT_METHOD_LORA ? attach_lora(m, c, &ts, seed, &matched) : attach_ia3(m, &ts, &ff, &matched);
            if (s == FT_OK)
                s = attach_lora_embedding(m, c, &ts, seed, &matched);
            targets_free(&ff);
        }
        targets_free(&ts);
        if (s == FT_OK && matched == 0)
            s = no_match(m, targets);
        break;
    }
    case FT_METHOD_PROMPT: s = attach_prompt(m, c, seed); break;
    case FT_METHOD_ADAPTER: s = attach_adapter(m, c, seed); break;
    case FT_METHOD_BITFIT:
        for (int i = 0; s == FT_OK && i < m->n_params; i++)
            if (!m->params[i].extra && is_bias(m->params[i].name)) {
                s = ft_model_set_trainable(m, i, true);
                matched++;
            }
        if (s == FT_OK && matched == 0)
            s = ft_fail(FT_ERR_UNSUPPORTED, "BitFit trains bias terms, and this %s model has none (%s)%s",
                        m->cfg.model_type, m->cfg.arch == FT_ARCH_LLAMA ? "no attention_bias / mlp_bias" : "",
                        m->score >= 0 ? "; only the new head would train" : "");
        break;
    case FT_METHOD_FULL: break;
    }
    if (s != FT_OK)
        return s;
    cJSON_Delete(m->peft_config);
    m->peft_config = make_peft_config(m, c, targets);
    return m->peft_config ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
}

void ft_peft_summary(const ft_model *m, char *buf, size_t n) {
    int64_t all = 0, tr = 0;
    for (int i = 0; i < m->n_params; i++) {
        all += m->params[i].numel;
        if (m->params[i].trainable)
            tr += m->params[i].numel;
    }
    snprintf(buf, n, "trainable params: %lld || all params: %lld || trainable%%: %.4f", (long long)tr, (long long)all,
             all ? 100.0 * (double)tr / (double)all : 0.0);
}

/* True when param idx is the bias of a linear layer wrapped by LoRA/IA3 (PEFT then names it
 * <module>.base_layer.bias). */
static bool wrapped_bias(const ft_model *m, int idx) {
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int s = 0; s < FT_N_SITES; s++) {
            int bi = -1;
            const ft_site_peft *sp = &m->sites[l * FT_N_SITES + s];
            if ((sp->lora_a >= 0 || sp->ia3 >= 0) &&
                ft_model_site(m, l, (ft_site)s, NULL, &bi, NULL, NULL, NULL, NULL, 0) && bi == idx)
                return true;
        }
    return false;
}

void ft_peft_tensor_name(const ft_model *m, int idx, char *buf, size_t n) {
    const char *nm = m->params[idx].name;
    size_t l = strlen(nm);
    if (m->params[idx].alias)
        snprintf(buf, n, "%s", m->params[idx].alias);
    else if (m->params[idx].extra && idx != m->score)
        snprintf(buf, n, "%s", nm);
    else if (l > 5 && !strcmp(nm + l - 5, ".bias") && wrapped_bias(m, idx))
        snprintf(buf, n, PREFIX "%.*s.base_layer.bias", (int)(l - 5), nm);
    else
        snprintf(buf, n, PREFIX "%s", nm);
}
