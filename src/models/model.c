/* Model parameter table: names and shapes per architecture, load from safetensors, random init, save. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "models/family.h"
#include "models/model.h"
#include "models/stream.h"

typedef struct {
    ft_model *m;
    int cap;
} builder;

static int add_param(builder *b, const char *name, int ndim, int64_t d0, int64_t d1) {
    ft_model *m = b->m;
    if (m->n_params == b->cap) {
        int nc = b->cap ? b->cap * 2 : 64;
        ft_param *np = realloc(m->params, (size_t)nc * sizeof *np);
        if (!np)
            return -2;
        m->params = np;
        b->cap = nc;
    }
    ft_param *p = &m->params[m->n_params];
    memset(p, 0, sizeof *p);
    p->name = ft_strdup(name);
    if (!p->name)
        return -2;
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = d1;
    p->numel = ndim == 1 ? d0 : d0 * d1;
    p->file_dtype = FT_DT_F32;
    return m->n_params++;
}

/* A parameter of up to FT_PARAM_MAX_DIMS dims (ViT's [1,1,C] token, [1,N+1,C] positions, [C,ch,p,p] conv). */
static int add_param_nd(builder *b, const char *name, int ndim, const int64_t *shape) {
    const int i = add_param(b, name, ndim == 1 ? 1 : 2, shape[0], ndim > 1 ? shape[1] : 0);
    if (i < 0)
        return i;
    ft_param *p = &b->m->params[i];
    p->ndim = ndim;
    p->numel = 1;
    for (int d = 0; d < ndim; d++)
        p->numel *= (p->shape[d] = shape[d]);
    return i;
}

#define ADD_ND(var, ndim, shape, name)                                                                       \
    do {                                                                                                     \
        if (((var) = add_param_nd(&b, name, ndim, shape)) == -2)                                             \
            return ft_fail(FT_ERR_NOMEM, "out of memory building the parameter table");                      \
    } while (0)

#define ADD(var, ndim, d0, d1, ...)                                         \
    do {                                                                    \
        snprintf(nm, sizeof nm, __VA_ARGS__);                               \
        (var) = add_param(&b, nm, ndim, d0, d1);                            \
        if ((var) == -2)                                                    \
            return ft_fail(FT_ERR_NOMEM, "out of memory building the parameter table"); \
    } while (0)

/* An encoder block's tensors (BERT family, ViT) as LP.l.<name>.{weight,bias}, names in the order q, k, v, o,
 * the norm after attention (BERT) or before it (ViT), FC, PROJ, the other norm; [out, in]; no q/k/v biases
 * unless qkv_bias. */
static ft_status add_block(builder *b, int l, const char *LP, const char *const n[8], bool qkv_bias) {
    const int64_t C = b->m->cfg.hidden, I = b->m->cfg.intermediate;
    ft_layer_idx *L = &b->m->layers[l];
    memset(L, -1, sizeof *L);
    int *wv[] = {&L->q_w, &L->k_w, &L->v_w, &L->o_w, &L->ln1_w, &L->fc_w, &L->proj_w, &L->ln2_w};
    int *bv[] = {&L->q_b, &L->k_b, &L->v_b, &L->o_b, &L->ln1_b, &L->fc_b, &L->proj_b, &L->ln2_b};
    const int64_t rows[] = {C, C, C, C, C, I, C, C}, cols[] = {C, C, C, C, 0, C, I, 0};
    char nm[256];
    for (int k = 0; k < 8; k++)
        for (int bias = 0; bias < 2; bias++) {
            if (bias && k < 3 && !qkv_bias)
                continue;
            snprintf(nm, sizeof nm, "%s.%d.%s.%s", LP, l, n[k], bias ? "bias" : "weight");
            int *dst = bias ? bv[k] : wv[k];
            if ((*dst = add_param(b, nm, bias || !cols[k] ? 1 : 2, rows[k], bias ? 0 : cols[k])) == -2)
                return ft_fail(FT_ERR_NOMEM, "out of memory building the parameter table");
        }
    return FT_OK;
}

/* config.json names an image classifier (architectures[0] ends in "ForImageClassification"). */
static bool vit_is_classifier(const cJSON *raw) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(raw, "architectures");
    const cJSON *a0 = cJSON_IsArray(a) ? cJSON_GetArrayItem(a, 0) : NULL;
    return cJSON_IsString(a0) && strstr(a0->valuestring, "ForImageClassification") != NULL;
}

/* T5ForConditionalGeneration: shared, then each stack's blocks (self-attention with the relative bias table
 * on block 0, the decoder's EncDecAttention, the DenseReluDense FF, their RMS norms) and final norm, lm_head
 * when untied. Encoder blocks are layers [0, n_enc), decoder blocks [n_enc, n_layers). */
static ft_status t5_table(ft_model *m, builder *bp) {
    const ft_model_config *c = &m->cfg;
    builder b = *bp;
    char nm[256];
    const int64_t C = c->hidden, V = c->vocab_size, I = c->intermediate;
    const int64_t HD = (int64_t)c->n_heads * c->head_dim;
    const int n_enc = c->n_layers - c->n_dec_layers;
    ADD(m->wte, 2, V, C, "shared.weight");
    for (int st = 0; st < 2; st++) {
        const char *S = st ? "decoder" : "encoder";
        const int first = st ? n_enc : 0, n = st ? c->n_dec_layers : n_enc;
        for (int k = 0; k < n; k++) {
            ft_layer_idx *L = &m->layers[first + k];
            memset(L, -1, sizeof *L);
            ADD(L->q_w, 2, HD, C, "%s.block.%d.layer.0.SelfAttention.q.weight", S, k);
            ADD(L->k_w, 2, HD, C, "%s.block.%d.layer.0.SelfAttention.k.weight", S, k);
            ADD(L->v_w, 2, HD, C, "%s.block.%d.layer.0.SelfAttention.v.weight", S, k);
            ADD(L->o_w, 2, C, HD, "%s.block.%d.layer.0.SelfAttention.o.weight", S, k);
            if (k == 0)
                ADD(m->rel_bias[st], 2, c->rel_buckets, c->n_heads,
                    "%s.block.0.layer.0.SelfAttention.relative_attention_bias.weight", S);
            ADD(L->ln1_w, 1, C, 0, "%s.block.%d.layer.0.layer_norm.weight", S, k);
            if (st) {
                ADD(L->xq_w, 2, HD, C, "decoder.block.%d.layer.1.EncDecAttention.q.weight", k);
                ADD(L->xk_w, 2, HD, C, "decoder.block.%d.layer.1.EncDecAttention.k.weight", k);
                ADD(L->xv_w, 2, HD, C, "decoder.block.%d.layer.1.EncDecAttention.v.weight", k);
                ADD(L->xo_w, 2, C, HD, "decoder.block.%d.layer.1.EncDecAttention.o.weight", k);
                ADD(L->ln2_w, 1, C, 0, "decoder.block.%d.layer.1.layer_norm.weight", k);
            }
            const int f = st ? 2 : 1;
            if (c->gated_ff) {
                ADD(L->gate_w, 2, I, C, "%s.block.%d.layer.%d.DenseReluDense.wi_0.weight", S, k, f);
                ADD(L->up_w, 2, I, C, "%s.block.%d.layer.%d.DenseReluDense.wi_1.weight", S, k, f);
                ADD(L->down_w, 2, C, I, "%s.block.%d.layer.%d.DenseReluDense.wo.weight", S, k, f);
            } else {
                ADD(L->fc_w, 2, I, C, "%s.block.%d.layer.%d.DenseReluDense.wi.weight", S, k, f);
                ADD(L->proj_w, 2, C, I, "%s.block.%d.layer.%d.DenseReluDense.wo.weight", S, k, f);
            }
            int *ffn = st ? &L->ln3_w : &L->ln2_w;
            ADD(*ffn, 1, C, 0, "%s.block.%d.layer.%d.layer_norm.weight", S, k, f);
        }
        int *fin = st ? &m->lnf_w : &m->enc_lnf;
        ADD(*fin, 1, C, 0, "%s.final_layer_norm.weight", S);
    }
    if (c->tie_embeddings)
        m->lm_head = m->wte;
    else
        ADD(m->lm_head, 2, V, C, "lm_head.weight");
    *bp = b;
    return FT_OK;
}

/* T5's layer index and site → (weight, in, out, HF module path); false for a site the block lacks. */
static bool t5_site(const ft_model *m, int layer, ft_site site, int *wi, int64_t *in, int64_t *out,
                    char *path, size_t path_n) {
    const ft_model_config *c = &m->cfg;
    const ft_layer_idx *L = &m->layers[layer];
    const int n_enc = c->n_layers - c->n_dec_layers;
    const bool dec = layer >= n_enc, g = c->gated_ff;
    const int64_t C = c->hidden, I = c->intermediate, HD = (int64_t)c->n_heads * c->head_dim;
    const int f = dec ? 2 : 1;
    const char *sub = NULL, *mod = NULL;
    int w = -1, sub_i = 0;
    int64_t i = C, o = HD;
    /* clang-format off */
    switch (site) {
    case FT_SITE_Q: w = L->q_w; sub = "SelfAttention"; mod = "q"; break;
    case FT_SITE_K: w = L->k_w; sub = "SelfAttention"; mod = "k"; break;
    case FT_SITE_V: w = L->v_w; sub = "SelfAttention"; mod = "v"; break;
    case FT_SITE_O: w = L->o_w; sub = "SelfAttention"; mod = "o"; i = HD; o = C; break;
    case FT_SITE_XQ: w = L->xq_w; sub = "EncDecAttention"; mod = "q"; sub_i = 1; break;
    case FT_SITE_XK: w = L->xk_w; sub = "EncDecAttention"; mod = "k"; sub_i = 1; break;
    case FT_SITE_XV: w = L->xv_w; sub = "EncDecAttention"; mod = "v"; sub_i = 1; break;
    case FT_SITE_XO: w = L->xo_w; sub = "EncDecAttention"; mod = "o"; sub_i = 1; i = HD; o = C; break;
    case FT_SITE_FC: if (!g) { w = L->fc_w; mod = "wi"; o = I; } break;
    case FT_SITE_PROJ: if (!g) { w = L->proj_w; mod = "wo"; i = I; o = C; } break;
    case FT_SITE_GATE: if (g) { w = L->gate_w; mod = "wi_0"; o = I; } break;
    case FT_SITE_UP: if (g) { w = L->up_w; mod = "wi_1"; o = I; } break;
    case FT_SITE_DOWN: if (g) { w = L->down_w; mod = "wo"; i = I; o = C; } break;
    case FT_SITE_QKV: case FT_N_SITES: break;
    }
    /* clang-format on */
    if (w < 0 || !mod)
        return false;
    if (!sub) {
        sub = "DenseReluDense";
        sub_i = f;
    }
    *wi = w;
    *in = i;
    *out = o;
    if (path)
        snprintf(path, path_n, "%s.block.%d.layer.%d.%s.%s", dec ? "decoder" : "encoder",
                 dec ? layer - n_enc : layer, sub_i, sub, mod);
    return true;
}

/* Lists every parameter of the architecture under its HF name with its HF shape. */
static ft_status build_table(ft_model *m) {
    const ft_model_config *c = &m->cfg;
    builder b = {m, 0};
    char nm[256];
    const int64_t C = c->hidden, V = c->vocab_size, I = c->intermediate;
    const int64_t HD = (int64_t)c->n_heads * c->head_dim, KD = (int64_t)c->n_kv_heads * c->head_dim;
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    m->wpe = m->lnf_b = m->score = m->prompt = -1;
    m->tte = m->eln_w = m->eln_b = m->pool_w = m->pool_b = m->score_b = m->head_w = m->head_b = -1;
    m->mlm_w = m->mlm_b = m->mlm_ln_w = m->mlm_ln_b = m->mlm_bias = -1;
    m->cls_tok = m->patch_w = m->patch_b = -1;
    m->rel_bias[0] = m->rel_bias[1] = m->enc_lnf = -1;
    m->sites = malloc((size_t)c->n_layers * FT_N_SITES * sizeof *m->sites);
    m->adapters = malloc((size_t)c->n_layers * 2 * sizeof *m->adapters);
    if (!m->sites || !m->adapters)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->n_layers * FT_N_SITES; i++)
        m->sites[i] = (ft_site_peft){.lora_a = -1, .lora_b = -1, .dora_m = -1, .ia3 = -1};
    for (int i = 0; i < c->n_layers * 2; i++)
        m->adapters[i] = (ft_adapter_idx){-1, -1, -1, -1};
    for (int e = 0; e < FT_N_EMB; e++)
        m->emb[e] = m->merged_emb[e] = (ft_emb_peft){.lora_a = -1, .lora_b = -1};
    if (ft_model_is_t5(m))
        return t5_table(m, &b);
    if (ft_model_is_vit(m)) {
        m->wte = m->lnf_w = m->lm_head = -1;
        const int64_t ch = c->num_channels, p = c->patch_size;
        const int64_t s_cls[] = {1, 1, C}, s_pos[] = {1, c->max_pos, C}, s_w[] = {C, ch, p, p};
        ADD_ND(m->cls_tok, 3, s_cls, "vit.embeddings.cls_token");
        ADD_ND(m->wpe, 3, s_pos, "vit.embeddings.position_embeddings");
        ADD_ND(m->patch_w, 4, s_w, "vit.embeddings.patch_embeddings.projection.weight");
        ADD(m->patch_b, 1, C, 0, "vit.embeddings.patch_embeddings.projection.bias");
        static const char *n[] = {"attention.attention.query", "attention.attention.key",
                                  "attention.attention.value", "attention.output.dense",
                                  "layernorm_before",          "intermediate.dense",
                                  "output.dense",              "layernorm_after"};
        for (int l = 0; l < c->n_layers; l++)
            FT_TRY(add_block(&b, l, "vit.encoder.layer", n, c->qkv_bias));
        ADD(m->lnf_w, 1, C, 0, "vit.layernorm.weight");
        ADD(m->lnf_b, 1, C, 0, "vit.layernorm.bias");
        /* ViTModel's pooler (tanh(dense(h[:, 0]))), the table's last base params: ViTForImageClassification
         * has none (ft_model_set_task drops it; so does a checkpoint without it) */
        if (!vit_is_classifier(c->raw)) {
            ADD(m->pool_w, 2, C, C, "vit.pooler.dense.weight");
            ADD(m->pool_b, 1, C, 0, "vit.pooler.dense.bias");
        }
    } else if (ft_model_is_encoder(m)) {
        const char *P = c->enc == FT_ENC_BERT ? "bert" : c->enc == FT_ENC_ROBERTA ? "roberta" : "distilbert";
        const bool d = c->enc == FT_ENC_DISTILBERT;
        m->lnf_w = m->lm_head = -1;
        ADD(m->wte, 2, V, C, "%s.embeddings.word_embeddings.weight", P);
        ADD(m->wpe, 2, c->max_pos, C, "%s.embeddings.position_embeddings.weight", P);
        if (c->type_vocab_size > 0)
            ADD(m->tte, 2, c->type_vocab_size, C, "%s.embeddings.token_type_embeddings.weight", P);
        ADD(m->eln_w, 1, C, 0, "%s.embeddings.LayerNorm.weight", P);
        ADD(m->eln_b, 1, C, 0, "%s.embeddings.LayerNorm.bias", P);
        /* ln1: after attention (attention.output.LayerNorm / sa_layer_norm), ln2: after the FFN */
        static const char *bn[] = {"attention.self.query",
                                   "attention.self.key",
                                   "attention.self.value",
                                   "attention.output.dense",
                                   "attention.output.LayerNorm",
                                   "intermediate.dense",
                                   "output.dense",
                                   "output.LayerNorm"};
        static const char *dn[] = {"attention.q_lin",   "attention.k_lin",  "attention.v_lin",
                                   "attention.out_lin", "sa_layer_norm",    "ffn.lin1",
                                   "ffn.lin2",          "output_layer_norm"};
        const char **n = d ? dn : bn;
        const char *LP = d                       ? "distilbert.transformer.layer"
                         : c->enc == FT_ENC_BERT ? "bert.encoder.layer"
                                                 : "roberta.encoder.layer";
        for (int l = 0; l < c->n_layers; l++)
            FT_TRY(add_block(&b, l, LP, n, true));
        /* BertForSequenceClassification reads the pooler; RoBERTa's head does not, nor does a token
         * classifier (BertForTokenClassification is built without one) */
        if (c->enc == FT_ENC_BERT && !ft_config_is_token_cls(c->raw)) {
            ADD(m->pool_w, 2, C, C, "bert.pooler.dense.weight");
            ADD(m->pool_b, 1, C, 0, "bert.pooler.dense.bias");
        }
    } else if (c->arch == FT_ARCH_GPT2) {
        ADD(m->wte, 2, V, C, "transformer.wte.weight");
        ADD(m->wpe, 2, c->max_pos, C, "transformer.wpe.weight");
        for (int l = 0; l < c->n_layers; l++) {
            ft_layer_idx *L = &m->layers[l];
            memset(L, -1, sizeof *L);
            ADD(L->ln1_w, 1, C, 0, "transformer.h.%d.ln_1.weight", l);
            ADD(L->ln1_b, 1, C, 0, "transformer.h.%d.ln_1.bias", l);
            ADD(L->qkv_w, 2, C, 3 * C, "transformer.h.%d.attn.c_attn.weight", l);
            ADD(L->qkv_b, 1, 3 * C, 0, "transformer.h.%d.attn.c_attn.bias", l);
            ADD(L->o_w, 2, C, C, "transformer.h.%d.attn.c_proj.weight", l);
            ADD(L->o_b, 1, C, 0, "transformer.h.%d.attn.c_proj.bias", l);
            ADD(L->ln2_w, 1, C, 0, "transformer.h.%d.ln_2.weight", l);
            ADD(L->ln2_b, 1, C, 0, "transformer.h.%d.ln_2.bias", l);
            ADD(L->fc_w, 2, C, I, "transformer.h.%d.mlp.c_fc.weight", l);
            ADD(L->fc_b, 1, I, 0, "transformer.h.%d.mlp.c_fc.bias", l);
            ADD(L->proj_w, 2, I, C, "transformer.h.%d.mlp.c_proj.weight", l);
            ADD(L->proj_b, 1, C, 0, "transformer.h.%d.mlp.c_proj.bias", l);
        }
        ADD(m->lnf_w, 1, C, 0, "transformer.ln_f.weight");
        ADD(m->lnf_b, 1, C, 0, "transformer.ln_f.bias");
        if (c->tie_embeddings)
            m->lm_head = m->wte;
        else
            ADD(m->lm_head, 2, V, C, "lm_head.weight");
    } else {
        ADD(m->wte, 2, V, C, "model.embed_tokens.weight");
        for (int l = 0; l < c->n_layers; l++) {
            ft_layer_idx *L = &m->layers[l];
            memset(L, -1, sizeof *L);
            ADD(L->ln1_w, 1, C, 0, "model.layers.%d.input_layernorm.weight", l);
            ADD(L->q_w, 2, HD, C, "model.layers.%d.self_attn.q_proj.weight", l);
            ADD(L->k_w, 2, KD, C, "model.layers.%d.self_attn.k_proj.weight", l);
            ADD(L->v_w, 2, KD, C, "model.layers.%d.self_attn.v_proj.weight", l);
            if (c->qkv_bias) {
                ADD(L->q_b, 1, HD, 0, "model.layers.%d.self_attn.q_proj.bias", l);
                ADD(L->k_b, 1, KD, 0, "model.layers.%d.self_attn.k_proj.bias", l);
                ADD(L->v_b, 1, KD, 0, "model.layers.%d.self_attn.v_proj.bias", l);
            }
            ADD(L->o_w, 2, C, HD, "model.layers.%d.self_attn.o_proj.weight", l);
            if (c->o_bias)
                ADD(L->o_b, 1, C, 0, "model.layers.%d.self_attn.o_proj.bias", l);
            ADD(L->ln2_w, 1, C, 0, "model.layers.%d.post_attention_layernorm.weight", l);
            ADD(L->gate_w, 2, I, C, "model.layers.%d.mlp.gate_proj.weight", l);
            ADD(L->up_w, 2, I, C, "model.layers.%d.mlp.up_proj.weight", l);
            ADD(L->down_w, 2, C, I, "model.layers.%d.mlp.down_proj.weight", l);
            if (c->mlp_bias) {
                ADD(L->gate_b, 1, I, 0, "model.layers.%d.mlp.gate_proj.bias", l);
                ADD(L->up_b, 1, I, 0, "model.layers.%d.mlp.up_proj.bias", l);
                ADD(L->down_b, 1, C, 0, "model.layers.%d.mlp.down_proj.bias", l);
            }
        }
        ADD(m->lnf_w, 1, C, 0, "model.norm.weight");
        if (c->tie_embeddings)
            m->lm_head = m->wte;
        else
            ADD(m->lm_head, 2, V, C, "lm_head.weight");
    }
    return FT_OK;
}

int ft_model_add_param(ft_model *m, const char *name, int ndim, int64_t d0, int64_t d1) {
    if (ft_model_find_param(m, name) >= 0) {
        ft_fail(FT_ERR_ARG, "parameter '%s' already exists", name);
        return -1;
    }
    ft_param *np = realloc(m->params, (size_t)(m->n_params + 1) * sizeof *np);
    if (!np) {
        ft_fail(FT_ERR_NOMEM, "out of memory");
        return -1;
    }
    m->params = np;
    ft_param *p = &m->params[m->n_params];
    memset(p, 0, sizeof *p);
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = d1;
    p->numel = ndim == 1 ? d0 : d0 * d1;
    p->name = ft_strdup(name);
    p->data = ft_calloc((size_t)p->numel * sizeof(float));
    if (!p->name || !p->data) {
        free(p->name);
        ft_free(p->data);
        ft_fail(FT_ERR_NOMEM, "out of memory");
        return -1;
    }
    p->owned = true;
    p->extra = true;
    p->file_dtype = FT_DT_F32;
    return m->n_params++;
}

bool ft_model_emb(const ft_model *m, ft_emb e, int *w, int64_t *rows, int32_t *padding_idx, char *path,
                  size_t path_n) {
    if (ft_model_is_t5(m)) /* `shared` feeds both stacks through their embed_tokens: no LoRA form (yet) */
        return false;
    const bool g = m->cfg.arch == FT_ARCH_GPT2, enc = ft_model_is_encoder(m);
    const int wi = e == FT_EMB_TOKENS ? m->wte : e == FT_EMB_POSITIONS && (g || enc) ? m->wpe : -1;
    if (wi < 0)
        return false;
    if (enc) { /* word_embeddings has padding_idx = pad_token_id; so has RoBERTa's position table */
        const char *P = m->cfg.enc == FT_ENC_BERT      ? "bert"
                        : m->cfg.enc == FT_ENC_ROBERTA ? "roberta"
                                                       : "distilbert";
        if (w)
            *w = wi;
        if (rows)
            *rows = m->params[wi].shape[0];
        if (padding_idx)
            *padding_idx = e == FT_EMB_TOKENS || m->cfg.enc == FT_ENC_ROBERTA ? m->cfg.pad_token_id : -1;
        if (path)
            snprintf(path, path_n, "%s.embeddings.%s", P,
                     e == FT_EMB_TOKENS ? "word_embeddings" : "position_embeddings");
        return true;
    }
    if (w)
        *w = wi;
    if (rows)
        *rows = m->params[wi].shape[0];
    if (padding_idx) /* HF: Llama-family embed_tokens has padding_idx = pad_token_id, GPT-2's tables none */
        *padding_idx = g ? -1 : m->cfg.pad_token_id;
    if (path)
        snprintf(path, path_n, "%s",
                 e == FT_EMB_POSITIONS ? "transformer.wpe"
                 : g                   ? "transformer.wte"
                                       : "model.embed_tokens");
    return true;
}

/* An encoder block's linear sites (nn.Linear layout, every product with a bias; ViT's q/k/v without one when
 * qkv_bias is false), BERT family and ViT; *name stays NULL for a site
 * the encoder does not have. */
static void encoder_site(const ft_model *m, const ft_layer_idx *L, ft_site site, int *wi, int *bi,
                         int64_t *in, int64_t *out, const char **name) {
    static const char *bn[] = {"attention.self.query",   "attention.self.key", "attention.self.value",
                               "attention.output.dense", "intermediate.dense", "output.dense"};
    static const char *dn[] = {"attention.q_lin",   "attention.k_lin", "attention.v_lin",
                               "attention.out_lin", "ffn.lin1",        "ffn.lin2"};
    static const char *vn[] = {"attention.attention.query", "attention.attention.key",
                               "attention.attention.value", "attention.output.dense",
                               "intermediate.dense",        "output.dense"};
    if (site < FT_SITE_Q || site > FT_SITE_PROJ)
        return;
    const int k = (int)site - (int)FT_SITE_Q; /* Q, K, V, O, FC, PROJ */
    const int ws[] = {L->q_w, L->k_w, L->v_w, L->o_w, L->fc_w, L->proj_w};
    const int bs[] = {L->q_b, L->k_b, L->v_b, L->o_b, L->fc_b, L->proj_b};
    const int64_t C = m->cfg.hidden, I = m->cfg.intermediate;
    *wi = ws[k];
    *bi = bs[k];
    *in = site == FT_SITE_PROJ ? I : C;
    *out = site == FT_SITE_FC ? I : C;
    *name = ft_model_is_vit(m) ? vn[k] : m->cfg.enc == FT_ENC_DISTILBERT ? dn[k] : bn[k];
}

bool ft_model_site(const ft_model *m, int layer, ft_site site, int *w, int *b, int64_t *in, int64_t *out,
                   bool *w_in_out, char *path, size_t path_n) {
    const ft_model_config *c = &m->cfg;
    const ft_layer_idx *L = &m->layers[layer];
    const int64_t C = c->hidden, I = c->intermediate;
    const int64_t HD = (int64_t)c->n_heads * c->head_dim, KD = (int64_t)c->n_kv_heads * c->head_dim;
    const bool g = c->arch == FT_ARCH_GPT2;
    int wi = -1, bi = -1;
    int64_t i = 0, o = 0;
    const char *name = NULL;
    const bool t5 = ft_model_is_t5(m); /* t5_site writes the path itself (two stacks) */
    if (t5)
        name = t5_site(m, layer, site, &wi, &i, &o, path, path_n) ? "" : NULL;
    else if (ft_model_is_encoder(m) || ft_model_is_vit(m))
        encoder_site(m, L, site, &wi, &bi, &i, &o, &name);
    else /* the decoders' sites (the switch below keeps its compact, unformatted layout) */
    switch (site) {
    case FT_SITE_QKV: if (g) { wi = L->qkv_w; bi = L->qkv_b; i = C; o = 3 * C; name = "attn.c_attn"; } break;
    case FT_SITE_Q: if (!g) { wi = L->q_w; bi = L->q_b; i = C; o = HD; name = "self_attn.q_proj"; } break;
    case FT_SITE_K: if (!g) { wi = L->k_w; bi = L->k_b; i = C; o = KD; name = "self_attn.k_proj"; } break;
    case FT_SITE_V: if (!g) { wi = L->v_w; bi = L->v_b; i = C; o = KD; name = "self_attn.v_proj"; } break;
    case FT_SITE_O: wi = L->o_w; bi = L->o_b; i = HD; o = C; name = g ? "attn.c_proj" : "self_attn.o_proj"; break;
    case FT_SITE_FC: if (g) { wi = L->fc_w; bi = L->fc_b; i = C; o = I; name = "mlp.c_fc"; } break;
    case FT_SITE_PROJ: if (g) { wi = L->proj_w; bi = L->proj_b; i = I; o = C; name = "mlp.c_proj"; } break;
    case FT_SITE_GATE: if (!g) { wi = L->gate_w; bi = L->gate_b; i = C; o = I; name = "mlp.gate_proj"; } break;
    case FT_SITE_UP: if (!g) { wi = L->up_w; bi = L->up_b; i = C; o = I; name = "mlp.up_proj"; } break;
    case FT_SITE_DOWN: if (!g) { wi = L->down_w; bi = L->down_b; i = I; o = C; name = "mlp.down_proj"; } break;
    case FT_SITE_XQ:
    case FT_SITE_XK:
    case FT_SITE_XV:
    case FT_SITE_XO:
    case FT_N_SITES: break;
    }
    if (!name)
        return false;
    if (w)
        *w = wi;
    if (b)
        *b = bi;
    if (in)
        *in = i;
    if (out)
        *out = o;
    if (w_in_out)
        *w_in_out = g;
    if (path && !t5)
        snprintf(path, path_n, "%s.%d.%s", ft_model_layer_prefix(m), layer, name);
    return true;
}

bool ft_config_is_token_cls(const cJSON *raw) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(raw, "architectures");
    const cJSON *a0 = cJSON_IsArray(a) ? cJSON_GetArrayItem(a, 0) : NULL;
    const char *suf = "ForTokenClassification";
    const size_t n = cJSON_IsString(a0) ? strlen(a0->valuestring) : 0, k = strlen(suf);
    return n > k && !strcmp(a0->valuestring + n - k, suf);
}

bool ft_model_is_encoder(const ft_model *m) {
    return m->cfg.arch == FT_ARCH_BERT || m->cfg.arch == FT_ARCH_DISTILBERT;
}

const char *ft_model_layer_prefix(const ft_model *m) {
    switch (m->cfg.arch) {
    case FT_ARCH_GPT2: return "transformer.h";
    case FT_ARCH_LLAMA: return "model.layers";
    case FT_ARCH_DISTILBERT: return "distilbert.transformer.layer";
    case FT_ARCH_BERT: return m->cfg.enc == FT_ENC_ROBERTA ? "roberta.encoder.layer" : "bert.encoder.layer";
    case FT_ARCH_VIT: return "vit.encoder.layer";
    case FT_ARCH_T5: return "encoder.block"; /* and decoder.block: ft_model_site names each */
    }
    return "";
}

bool ft_model_is_head(const ft_model *m, int idx) {
    return idx >= 0 && (idx == m->score || idx == m->score_b || idx == m->head_w || idx == m->head_b);
}

/* ---- the family interface (models/family.h): each call goes to the model's family ---- */
static const ft_family *family_of(const ft_model *m) {
    return ft_model_is_t5(m)        ? &ft_t5_family
           : ft_model_is_vit(m)     ? &ft_vit_family
           : ft_model_is_encoder(m) ? &ft_encoder_family
                                    : &ft_decoder_family;
}

bool ft_model_is_t5(const ft_model *m) {
    return m->cfg.arch == FT_ARCH_T5;
}

bool ft_model_is_vit(const ft_model *m) {
    return m->cfg.arch == FT_ARCH_VIT;
}

int ft_model_batch_seq_len(const ft_model *m, const ft_batch *b) {
    const int p = m->cfg.patch_size;
    if (ft_model_is_vit(m) && b->pixel_values && p > 0)
        return 1 + (b->img_h / p) * (b->img_w / p);
    if (ft_model_is_t5(m)) /* the prompt goes before the encoder's input */
        return b->T_dec > m->n_virtual + b->T ? b->T_dec : m->n_virtual + b->T;
    return m->n_virtual + b->T;
}

static const ft_family *acts_family(const ft_acts *a) {
    const ft_family *f;
    memcpy(&f, (const void *)a, sizeof f); /* every family's cache begins with its family pointer */
    return f;
}

ft_status ft_model_forward(ft_model *m, const ft_batch *b, const ft_fwd_opts *o, ft_arena *arena,
                           ft_acts **acts, double *loss, int64_t *count) {
    return family_of(m)->forward(m, b, o, arena, acts, loss, count);
}

ft_status ft_model_backward(ft_model *m, ft_acts *acts, ft_arena *arena, float loss_scale) {
    return family_of(m)->backward(m, acts, arena, loss_scale);
}

size_t ft_model_act_bytes(const ft_model *m, int B, int T) {
    return ft_model_act_bytes_ckpt(m, B, T, false);
}

size_t ft_model_act_bytes_ckpt(const ft_model *m, int B, int T, bool checkpoint) {
    /* any forward + backward at this size: unfused causal head with a logits copy (the largest head) */
    const ft_fwd_opts o = {.keep_logits = true, .checkpoint = checkpoint};
    return ft_model_act_bytes_opts(m, B, T, &o);
}

size_t ft_model_act_bytes_opts(const ft_model *m, int B, int T, const ft_fwd_opts *o) {
    return family_of(m)->act_bytes(m, B, T, o);
}

const float *ft_acts_logits(const ft_acts *a, int64_t *rows, int64_t *cols) {
    return acts_family(a)->logits(a, rows, cols);
}

int ft_acts_seq_len(const ft_acts *a) {
    return acts_family(a)->seq_len(a);
}

int ft_model_find_param(const ft_model *m, const char *name) {
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->params[i].name, name))
            return i;
    return -1;
}

int64_t ft_model_param_count(const ft_model *m, bool trainable_only) {
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++)
        if (!trainable_only || m->params[i].trainable)
            n += m->params[i].numel;
    return n;
}

/* p's int8 values (owned, or the mapping of a saved int8 checkpoint: not freed) and scales let go. */
static void q8_release(ft_param *p) {
    if (!p->q8_mapped)
        ft_free(p->q8);
    ft_free(p->q8_scale);
    p->q8 = NULL;
    p->q8_scale = NULL;
    p->q8_mapped = false;
}

void ft_model_free(ft_model *m) {
    if (!m)
        return;
    ft_model_stream_close(m); /* the parameters point at the mapping again */
    if (m->ext && m->ext_free)
        m->ext_free(m->ext);
    m->int8_matmul = false; /* the matmul handle goes with the precision's */
    ft_model_precision_free(m);
    for (int i = 0; i < m->n_params; i++) {
        if (m->params[i].owned)
            ft_free(m->params[i].data);
        if (m->params[i].half_owned)
            ft_free((void *)(uintptr_t)m->params[i].half);
        q8_release(&m->params[i]);
        ft_free(m->params[i].grad);
        free(m->params[i].name);
        free(m->params[i].alias);
    }
    free(m->params);
    free(m->layers);
    free(m->sites);
    free(m->merged_sites);
    free(m->adapters);
    cJSON_Delete(m->peft_config);
    for (int i = 0; m->label_names && i < m->n_labels; i++)
        free(m->label_names[i]);
    free(m->label_names);
    ft_st_set_close(m->st);
    ft_config_free(&m->cfg);
    free(m->dir);
    free(m);
}

static void fmt_shape(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

/* Row r of a float tensor (F32/BF16/F16 bytes, any alignment) or of a parameter, as fp32. */
typedef void (*q8_row_fn)(const void *src, int64_t r, int64_t cols, float *row);
static void tensor_row(const void *src, int64_t r, int64_t cols, float *row) {
    const ft_st_tensor *t = src;
    const uint8_t *b = (const uint8_t *)t->data + (size_t)(r * cols) * ft_dtype_size(t->dtype);
    if (t->dtype == FT_DT_F32) {
        memcpy(row, b, (size_t)cols * sizeof(float));
        return;
    }
    for (int64_t j = 0; j < cols; j++) { /* 2-byte alignment is not guaranteed: copy the raw values first */
        uint16_t h;
        memcpy(&h, b + 2 * j, 2);
        row[j] = t->dtype == FT_DT_BF16 ? ft_bf16_to_f32(h) : ft_f16_to_f32(h);
    }
}
static void param_row(const void *src, int64_t r, int64_t cols, float *row) {
    (void)cols;
    const int32_t id = (int32_t)r;
    ft_param_rows(src, &id, 1, row, false);
}

/* rows × cols values quantized to int8 per row into q / scale (ft_q8_quantize_row), each row fetched by
 * row_at, rows in parallel: the first row holding a non-finite value, -1 when none, -2 when out of memory. */
static int64_t quantize_rows(const void *src, q8_row_fn row_at, int64_t rows, int64_t cols, int8_t *q,
                             float *scale) {
    int64_t bad = INT64_MAX;
    int nomem = 0;
#pragma omp parallel reduction(min : bad) reduction(| : nomem)
    {
        float *row = malloc((size_t)(cols > 0 ? cols : 1) * sizeof(float));
        nomem |= !row;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            if (!row)
                continue;
            row_at(src, r, cols, row);
            if (!ft_q8_quantize_row(row, cols, q + r * cols, &scale[r]) && r < bad)
                bad = r;
        }
        free(row);
    }
    return nomem ? -2 : bad == INT64_MAX ? -1 : bad;
}

/* p ← tensor t quantized to int8 per stored row (owned q8 + q8_scale); the mapped source pages are released
 * afterwards so that the file's copy does not stay resident beside the quantized one. */
static ft_status quantize_tensor(ft_param *p, const ft_st_tensor *t, const char *file) {
    const int64_t cols = p->ndim == 2 ? p->shape[1] : p->numel, rows = p->numel / (cols > 0 ? cols : 1);
    p->q8 = ft_alloc((size_t)p->numel);
    p->q8_scale = ft_alloc((size_t)(rows > 0 ? rows : 1) * sizeof(float));
    if (!p->q8 || !p->q8_scale)
        return ft_fail(FT_ERR_NOMEM, "no memory to quantize '%s' (%lld values) to int8", p->name,
                       (long long)p->numel);
    const size_t es = ft_dtype_size(t->dtype);
    const int64_t bad = quantize_rows(t, tensor_row, rows, cols, p->q8, p->q8_scale);
    if (bad == -2)
        return ft_fail(FT_ERR_NOMEM, "no memory to quantize '%s'", p->name);
    if (bad >= 0)
        return ft_fail(FT_ERR_FORMAT,
                       "%s: tensor '%s' (%s) holds a non-finite value in row %lld: it cannot be quantized to "
                       "int8 (the file is damaged)",
                       file, t->name, ft_dtype_name(t->dtype), (long long)bad);
    ft_release_mapped_pages(t->data, (size_t)p->numel * es);
    p->data = NULL;
    p->owned = false;
    return FT_OK;
}

/* The per-row scales of an int8 tensor t from a saved int8 checkpoint (ft_model_save with FT_DT_I8): the
 * tensor '<t's name>_scale', F32/BF16/F16 [rows] or [rows, 1], finite and >= 0, into an owned fp32 array. */
static ft_status int8_scales(const ft_st_set *st, const ft_st_tensor *t, const char *file, int64_t rows,
                             float **out) {
    char name[512];
    snprintf(name, sizeof name, "%s%s", t->name, FT_Q8_SCALE_SUFFIX);
    const ft_st_tensor *sc = st ? ft_st_set_find(st, name, NULL) : NULL;
    if (!sc)
        return ft_fail(FT_ERR_MISSING,
                       "%s: tensor '%s' is int8 (I8) but '%s', its per-row scales, is missing (ftune reads "
                       "int8 checkpoints that ftune saved: docs/big-models.md)",
                       file, t->name, name);
    if (!(sc->ndim == 1 || (sc->ndim == 2 && sc->shape[1] == 1)) || sc->shape[0] != rows ||
        (sc->dtype != FT_DT_F32 && sc->dtype != FT_DT_BF16 && sc->dtype != FT_DT_F16))
        return ft_fail(FT_ERR_SHAPE,
                       "%s: tensor '%s' (%s, %d dims) must be F32, BF16 or F16 [%lld] or [%lld, 1]", file,
                       name, ft_dtype_name(sc->dtype), sc->ndim, (long long)rows, (long long)rows);
    float *f = ft_alloc((size_t)(rows > 0 ? rows : 1) * sizeof(float));
    if (!f)
        return ft_fail(FT_ERR_NOMEM, "out of memory reading '%s'", name);
    tensor_row(sc, 0, rows, f); /* the scales as one row */
    for (int64_t r = 0; r < rows; r++) {
        if (!isfinite(f[r]) || f[r] < 0.0f) {
            const double v = (double)f[r];
            ft_free(f);
            return ft_fail(FT_ERR_FORMAT,
                           "%s: tensor '%s' row %lld holds %g: a scale must be finite and >= 0", file, name,
                           (long long)r, v);
        }
    }
    *out = f;
    return FT_OK;
}

/* An int8 tensor (a saved int8 checkpoint): keep 2 uses it in place from the read-only mapping (p->q8,
 * q8_mapped) with its scales; otherwise its dequantized values become an owned fp32 tensor. */
static ft_status bind_int8(const ft_st_set *st, ft_param *p, const ft_st_tensor *t, const char *file,
                           int keep) {
    const int64_t cols = p->ndim == 2 ? p->shape[1] : p->numel, rows = p->numel / (cols > 0 ? cols : 1);
    float *scale = NULL;
    FT_TRY(int8_scales(st, t, file, rows, &scale));
    const int8_t *q = (const int8_t *)t->data;
    if (keep == 2) {
        p->q8 = (int8_t *)(uintptr_t)q; /* read-only mapping: never written (training widens to fp32) */
        p->q8_mapped = true;
        p->q8_scale = scale;
        p->data = NULL;
        p->owned = false;
        return FT_OK;
    }
    p->data = ft_alloc((size_t)p->numel * sizeof(float));
    if (!p->data) {
        ft_free(scale);
        return ft_fail(FT_ERR_NOMEM, "no memory to dequantize '%s' (%lld values) to fp32", p->name,
                       (long long)p->numel);
    }
    p->owned = true;
    for (int64_t r = 0; r < rows; r++)
        ft_q8_to_f32_n(p->data + r * cols, q + r * cols, scale[r], cols);
    ft_free(scale);
    return FT_OK;
}

/* Point p at tensor t: in place for aligned fp32 (and, keep 1, for 2-byte-aligned bf16/f16: p->half), else
 * an owned fp32 conversion; keep 2 quantizes it to int8 (p->q8) whatever its float dtype; an int8 tensor
 * (with its scales from st) goes through bind_int8. */
static ft_status bind_tensor_as(const ft_st_set *st, ft_param *p, const ft_st_tensor *t, const char *file,
                                int keep) {
    bool ok = t->ndim == p->ndim;
    for (int i = 0; ok && i < p->ndim; i++)
        ok = t->shape[i] == p->shape[i];
    if (!ok) {
        char want[96], got[96];
        fmt_shape(want, sizeof want, p->ndim, p->shape);
        fmt_shape(got, sizeof got, t->ndim, t->shape);
        return ft_fail(FT_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", file, t->name, got, want);
    }
    p->file_dtype = t->dtype;
    if (t->dtype == FT_DT_I8)
        return bind_int8(st, p, t, file, keep);
    if (keep == 2 && (t->dtype == FT_DT_F32 || t->dtype == FT_DT_BF16 || t->dtype == FT_DT_F16))
        return quantize_tensor(p, t, file);
    if (t->dtype == FT_DT_F32 && ((uintptr_t)t->data % 4) == 0) {
        p->data = (float *)(uintptr_t)t->data; /* read-only mapping: never written (trainable → copied) */
        p->owned = false;
        return FT_OK;
    }
    if (t->dtype != FT_DT_F32 && t->dtype != FT_DT_BF16 && t->dtype != FT_DT_F16)
        return ft_fail(FT_ERR_SHAPE, "%s: tensor '%s' has dtype %s, expected F32, BF16, F16 or I8", file,
                       t->name, ft_dtype_name(t->dtype));
    if (keep == 1 && t->dtype != FT_DT_F32 && ((uintptr_t)t->data % 2) == 0) {
        p->half = (const uint16_t *)t->data; /* read-only mapping, used in its file dtype */
        p->data = NULL;
        p->owned = false;
        return FT_OK;
    }
    p->data = ft_alloc((size_t)p->numel * sizeof(float));
    if (!p->data)
        return FT_ERR_NOMEM;
    p->owned = true;
    const uint8_t *src = t->data;
    for (int64_t i = 0; i < p->numel; i++) {
        if (t->dtype == FT_DT_F32) {
            memcpy(&p->data[i], src + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            p->data[i] = t->dtype == FT_DT_BF16 ? ft_bf16_to_f32(h) : ft_f16_to_f32(h);
        }
    }
    return FT_OK;
}

static ft_status bind_tensor(const ft_model *m, ft_param *p, const ft_st_tensor *t, const char *file) {
    return bind_tensor_as(m->st, p, t, file, 0);
}

const char *ft_base_dtype_name(ft_base_dtype b) {
    return b == FT_BASE_FP32 ? "fp32" : b == FT_BASE_FILE ? "file" : b == FT_BASE_INT8 ? "int8" : "auto";
}

ft_status ft_base_dtype_parse(const char *s, ft_base_dtype *out) {
    if (!strcmp(s, "auto"))
        *out = FT_BASE_AUTO;
    else if (!strcmp(s, "fp32") || !strcmp(s, "float32"))
        *out = FT_BASE_FP32;
    else if (!strcmp(s, "file"))
        *out = FT_BASE_FILE;
    else if (!strcmp(s, "int8"))
        *out = FT_BASE_INT8;
    else
        return ft_fail(FT_ERR_ARG, "base_dtype '%s': expected auto, fp32, file or int8", s);
    return FT_OK;
}

void ft_param_rows(const ft_param *p, const int32_t *ids, int64_t n, float *dst, bool add) {
    const int64_t C = p->ndim == 2 ? p->shape[1] : p->numel;
    const bool f16 = p->file_dtype == FT_DT_F16;
#pragma omp parallel for schedule(static) if (n * C >= 16384)
    for (int64_t i = 0; i < n; i++) {
        float *y = dst + i * C;
        const int64_t r = ids ? ids[i] : i;
        if (p->q8 && !add) {
            ft_q8_to_f32_n(y, p->q8 + r * C, p->q8_scale[r], C);
        } else if (p->q8) {
            for (int64_t j = 0; j < C; j++)
                y[j] += (float)p->q8[r * C + j] * p->q8_scale[r];
        } else if (p->half && !add) {
            ft_half_to_f32_n(y, p->half + r * C, C, f16);
        } else if (p->half) {
            for (int64_t j = 0; j < C; j++)
                y[j] += f16 ? ft_f16_to_f32(p->half[r * C + j]) : ft_bf16_to_f32(p->half[r * C + j]);
        } else if (add) {
            for (int64_t j = 0; j < C; j++)
                y[j] += p->data[r * C + j];
        } else {
            memcpy(y, p->data + r * C, (size_t)C * sizeof(float));
        }
    }
}

ft_status ft_model_param_widen(ft_model *m, int idx) {
    ft_param *p = &m->params[idx];
    if (p->q8) { /* the dequantized values become the weight (what every product used) */
        float *d = ft_alloc((size_t)p->numel * sizeof(float));
        if (!d)
            return ft_fail(FT_ERR_NOMEM, "no memory to widen '%s' (%lld values) to fp32", p->name,
                           (long long)p->numel);
        ft_param_rows(p, NULL, p->numel / (p->ndim == 2 ? p->shape[1] : p->numel), d, false);
        q8_release(p);
        p->data = d;
        p->owned = true;
        ft_model_mark_dirty(m, true);
        return FT_OK;
    }
    if (!p->half)
        return FT_OK;
    float *d = ft_alloc((size_t)p->numel * sizeof(float));
    if (!d)
        return ft_fail(FT_ERR_NOMEM, "no memory to widen '%s' (%lld values) to fp32", p->name,
                       (long long)p->numel);
    ft_half_to_f32_n(d, p->half, p->numel, p->file_dtype == FT_DT_F16);
    if (p->half_owned)
        ft_free((void *)(uintptr_t)p->half);
    else
        ft_release_mapped_pages(p->half, (size_t)p->numel * sizeof(uint16_t)); /* not the weights twice */
    p->half_owned = false;
    p->data = d;
    p->owned = true;
    p->half = NULL;
    ft_model_mark_dirty(m, true);
    return FT_OK;
}

size_t ft_model_half_bytes(const ft_model *m) {
    size_t b = 0;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].half)
            b += (size_t)m->params[i].numel * sizeof(uint16_t);
    return b;
}

size_t ft_model_q8_bytes(const ft_model *m) {
    size_t b = 0;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].q8)
            b += ft_param_q8_size(&m->params[i]);
    return b;
}

void ft_model_lin_weight(const ft_model *m, int wi, ft_lin *L) {
    if (wi < 0)
        return;
    const ft_param *p = &m->params[wi];
    L->w = p->data;
    L->wq = p->q8;
    L->wq_scale = p->q8_scale;
    if ((m->precision == FT_PREC_BF16 || m->int8_matmul) && p->q8) /* int8 × int8, or widened to bf16 for the
                                                                      bf16 product (nn/linear) */
        L->mm = m->mm;
    L->q8_int8 = m->int8_matmul && p->q8;
    L->wh = p->half;
    L->wh_f16 = p->half && p->file_dtype == FT_DT_F16;
    if (m->precision == FT_PREC_BF16 && (p->data16 || (p->half && !L->wh_f16))) { /* base product in bf16 */
        L->w16 = p->data16;
        L->mm = m->mm;
    }
}

/* The GEMM weights a decoder may keep in their file dtype: linear sites, token/position tables, LM head. */
/* Which base tensors stay compact: 1 in place in their file dtype, 2 quantized to int8 (the linear sites
 * under base_dtype int8; the tables and the LM head stay in their file dtype, as QLoRA keeps them). */
static void half_eligible(const ft_model *m, unsigned char *ok, bool int8) {
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int s = 0; s < FT_N_SITES; s++) {
            int wi = -1;
            if (ft_model_site(m, l, (ft_site)s, &wi, NULL, NULL, NULL, NULL, NULL, 0) && wi >= 0)
                ok[wi] = int8 ? 2 : 1;
        }
    if (m->wte >= 0)
        ok[m->wte] = 1;
    if (m->wpe >= 0)
        ok[m->wpe] = 1;
    if (m->lm_head >= 0)
        ok[m->lm_head] = 1;
}

/* Under train.base_dtype file/auto, a linear site stored as int8 (a saved int8 checkpoint) is used in place
 * as int8 (keep 2); its fp32 conversion would be four times the file. */
static const ft_st_tensor *find_base_tensor(const ft_model *m, const char *name, const char **file);
static void int8_sites_in_place(const ft_model *m, unsigned char *keep) {
    unsigned char *site = calloc((size_t)m->n_params, 1);
    if (!site)
        return; /* then such a tensor is dequantized to fp32: more memory, same values */
    half_eligible(m, site, true);
    for (int i = 0; i < m->n_params; i++) {
        const ft_st_tensor *t = site[i] == 2 ? find_base_tensor(m, m->params[i].name, NULL) : NULL;
        if (t && t->dtype == FT_DT_I8)
            keep[i] = 2;
    }
    free(site);
}

/* A base tensor under its HF name, or the names other checkpoints use for it: the official gpt2 file has no
 * "transformer." prefix; a bare BertModel / DistilBertModel file has no "bert." / "distilbert." prefix; old
 * BERT checkpoints name LayerNorm parameters gamma / beta. */
static const ft_st_tensor *find_base_tensor(const ft_model *m, const char *name, const char **file) {
    const ft_st_tensor *t = ft_st_set_find(m->st, name, file);
    if (!t && !strncmp(name, "transformer.", 12))
        t = ft_st_set_find(m->st, name + 12, file);
    if (!t && ft_model_is_vit(m) && !strncmp(name, "vit.", 4)) /* a bare ViTModel file */
        return ft_st_set_find(m->st, name + 4, file);
    if (!t && ft_model_is_t5(m) && !strcmp(name, "shared.weight")) /* the stacks' aliases of `shared` */
        if (!(t = ft_st_set_find(m->st, "encoder.embed_tokens.weight", file)))
            t = ft_st_set_find(m->st, "decoder.embed_tokens.weight", file);
    if (t || !ft_model_is_encoder(m))
        return t;
    if (!strcmp(name, "cls.predictions.bias") || !strcmp(name, "lm_head.bias")) /* the decoder's bias, tied */
        return ft_st_set_find(m->st, name[0] == 'c' ? "cls.predictions.decoder.bias" : "lm_head.decoder.bias",
                              file);
    const char *bare = strchr(name, '.'), *P = strstr(name, ".LayerNorm.");
    if (bare && (t = ft_st_set_find(m->st, bare + 1, file)))
        return t;
    if (P && (!strcmp(P, ".LayerNorm.weight") || !strcmp(P, ".LayerNorm.bias"))) {
        char old[512];
        snprintf(old, sizeof old, "%.*s.LayerNorm.%s", (int)(P - name), name,
                 P[11] == 'w' ? "gamma" : "beta");
        if (!(t = ft_st_set_find(m->st, old, file)) && bare)
            t = ft_st_set_find(m->st, old + (bare + 1 - name), file);
    }
    return t;
}

bool ft_model_tensor_used(const ft_model *m, const char *name) {
    for (int i = 0; m->st && i < m->n_params; i++) {
        const ft_st_tensor *t = m->params[i].extra ? NULL : find_base_tensor(m, m->params[i].name, NULL);
        if (t && !strcmp(t->name, name))
            return true;
    }
    return false;
}

ft_status ft_model_reload_param(ft_model *m, int idx) {
    ft_param *p = &m->params[idx];
    if (!m->st || p->extra)
        return ft_fail(FT_ERR_ARG, "'%s' has no checkpoint tensor to reload", p->name);
    const char *file = NULL;
    const ft_st_tensor *t = find_base_tensor(m, p->name, &file);
    if (!t)
        return ft_fail(FT_ERR_MISSING, "%s: tensor '%s' is missing from the checkpoint", m->dir ? m->dir : "?", p->name);
    const int keep = p->q8 ? 2 : p->half != NULL;
    if (p->owned)
        ft_free(p->data);
    if (p->half_owned)
        ft_free((void *)(uintptr_t)p->half);
    q8_release(p);
    p->half_owned = false;
    p->data = NULL;
    p->half = NULL;
    p->owned = false;
    ft_model_mark_dirty(m, true);
    return bind_tensor_as(m->st, p, t, file, keep);
}

static ft_status model_new(ft_model_config *cfg, ft_model **out) {
    ft_model *m = calloc(1, sizeof *m);
    if (!m)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    m->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg); /* ownership of raw moves into the model */
    ft_status s = build_table(m);
    if (s != FT_OK) {
        ft_model_free(m);
        return s;
    }
    *out = m;
    return FT_OK;
}

/* BERT's pooler absent from the checkpoint: HF's init (weight N(0, initializer_range), bias 0). */
static ft_status init_pooler(ft_model *m, int i) {
    ft_param *p = &m->params[i];
    if (!p->data && !(p->data = ft_calloc((size_t)p->numel * sizeof(float))))
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    p->owned = true;
    for (int64_t j = 0; i == m->pool_w && j < p->numel; j++)
        p->data[j] = ft_rng_normal(0x9001, (uint64_t)i, (uint64_t)j) * m->cfg.init_range;
    m->pooler_init = true;
    return FT_OK;
}

/* ---- the encoders' masked-LM head ---- */
const char *ft_model_mlm_name(const ft_model *m, int k) {
    static const char *const names[3][5] = {
        {"cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
         "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
         "cls.predictions.bias"},
        {"lm_head.dense.weight", "lm_head.dense.bias", "lm_head.layer_norm.weight", "lm_head.layer_norm.bias",
         "lm_head.bias"},
        {"vocab_transform.weight", "vocab_transform.bias", "vocab_layer_norm.weight", "vocab_layer_norm.bias",
         "vocab_projector.bias"}};
    if (!ft_model_is_encoder(m) || k < 0 || k > 4)
        return NULL;
    return names[m->cfg.enc == FT_ENC_BERT ? 0 : m->cfg.enc == FT_ENC_ROBERTA ? 1 : 2][k];
}

bool ft_model_mlm_in_checkpoint(const ft_model *m) {
    const char *nm = ft_model_mlm_name(m, 0);
    return nm && m->st && find_base_tensor(m, nm, NULL);
}

/* The masked-LM head's five tensors appended as base weights: bound to the checkpoint's when it has the
 * head (every one must then be there), else HF's init. */
static ft_status mlm_attach(ft_model *m, uint64_t seed) {
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(m->cfg.raw, "tie_word_embeddings");
    if (cJSON_IsFalse(tie))
        return ft_fail(
            FT_ERR_UNSUPPORTED,
            "%s: tie_word_embeddings false: a masked-LM decoder of its own is not supported (ftune ties "
            "it to the word embeddings, as HF's default)",
            m->dir ? m->dir : m->cfg.model_type);
    const int64_t C = m->cfg.hidden, V = m->cfg.vocab_size;
    int *idx[5] = {&m->mlm_w, &m->mlm_b, &m->mlm_ln_w, &m->mlm_ln_b, &m->mlm_bias};
    const bool have = ft_model_mlm_in_checkpoint(m);
    for (int k = 0; k < 5; k++) {
        const char *nm = ft_model_mlm_name(m, k);
        const int i = ft_model_add_param(m, nm, k == 0 ? 2 : 1, k == 4 ? V : C, k == 0 ? C : 0);
        if (i < 0)
            return FT_ERR_NOMEM;
        *idx[k] = i;
        ft_param *p = &m->params[i];
        p->extra = false; /* part of the base model (HF *ForMaskedLM): saved with it, frozen under PEFT */
        if (have) {
            const char *file = NULL;
            const ft_st_tensor *t = find_base_tensor(m, nm, &file);
            if (!t)
                return ft_fail(FT_ERR_MISSING,
                               "%s: tensor '%s' of the masked-LM head is missing from the checkpoint",
                               m->dir ? m->dir : "?", nm);
            ft_free(p->data);
            p->data = NULL;
            p->owned = false;
            FT_TRY(bind_tensor(m, p, t, file));
        } else {
            for (int64_t j = 0; j < p->numel; j++)
                p->data[j] = k == 0   ? ft_rng_normal(seed, 790, (uint64_t)j) * m->cfg.init_range
                             : k == 2 ? 1.0f
                                      : 0.0f;
        }
    }
    return FT_OK;
}

/* Remove params [first, n_params): the table's tail (a head switched for another before anything else is
 * attached after it). */
static ft_status drop_tail(ft_model *m, int first, const char *what) {
    if (first < 0 || first > m->n_params)
        return ft_fail(FT_ERR_ARG, "the %s can only be dropped before anything is attached after it", what);
    for (int i = first; i < m->n_params; i++) {
        ft_param *p = &m->params[i];
        if (p->owned)
            ft_free(p->data);
        ft_free(p->grad);
        free(p->name);
        free(p->alias);
    }
    m->n_params = first;
    return FT_OK;
}

/* Another task: the masked-LM head (the table's last five params) goes. */
static ft_status mlm_drop(ft_model *m) {
    if (m->mlm_w < 0)
        return FT_OK;
    FT_TRY(drop_tail(m, m->mlm_w == m->n_params - 5 ? m->mlm_w : -1, "masked-LM head"));
    m->mlm_w = m->mlm_b = m->mlm_ln_w = m->mlm_ln_b = m->mlm_bias = -1;
    return FT_OK;
}

/* BERT's pooler (the last base params of its table) is not part of BertForMaskedLM: masked_lm drops it, a
 * classification head brings it back (from the checkpoint, else initialized). */
static ft_status pooler_drop(ft_model *m) {
    if (m->pool_w < 0)
        return FT_OK;
    FT_TRY(drop_tail(m, m->pool_w == m->n_params - 2 && m->pool_b == m->n_params - 1 ? m->pool_w : -1,
                     "pooler"));
    m->pool_w = m->pool_b = -1;
    m->pooler_init = false;
    return FT_OK;
}

static ft_status pooler_add(ft_model *m) {
    if (!ft_model_is_encoder(m) || m->cfg.enc != FT_ENC_BERT || m->pool_w >= 0)
        return FT_OK;
    static const char *const names[2] = {"bert.pooler.dense.weight", "bert.pooler.dense.bias"};
    for (int k = 0; k < 2; k++) {
        const int i = ft_model_add_param(m, names[k], 2 - k, m->cfg.hidden, k ? 0 : m->cfg.hidden);
        if (i < 0)
            return FT_ERR_NOMEM;
        *(k ? &m->pool_b : &m->pool_w) = i;
        ft_param *p = &m->params[i];
        p->extra = false;
        const char *file = NULL;
        const ft_st_tensor *t = m->st ? find_base_tensor(m, names[k], &file) : NULL;
        if (t) {
            ft_free(p->data);
            p->data = NULL;
            p->owned = false;
            FT_TRY(bind_tensor(m, p, t, file));
        } else {
            FT_TRY(init_pooler(m, i));
        }
    }
    return FT_OK;
}

/* The tensor whose presence marks a sequence-classification checkpoint (its [num_labels, hidden] output). */
const char *ft_model_head_weight_name(const ft_model *m) {
    if (ft_model_is_vit(m))
        return "classifier.weight";
    if (!ft_model_is_encoder(m))
        return "score.weight";
    if (m->task == FT_TASK_TOKEN_CLS || ft_config_is_token_cls(m->cfg.raw))
        return "classifier.weight"; /* every variant's token head is one Linear */
    return m->cfg.enc == FT_ENC_ROBERTA ? "classifier.out_proj.weight" : "classifier.weight";
}

/* A question-answering checkpoint (HF *ForQuestionAnswering): qa_outputs.{weight,bias} [2, hidden]. */
static ft_status load_qa_head(ft_model *m, const char *dir) {
    FT_TRY(ft_model_set_task(m, FT_TASK_QA, 2, NULL, 0));
    const int hp[2] = {m->score, m->score_b};
    for (int k = 0; k < 2; k++) {
        ft_param *p = &m->params[hp[k]];
        const ft_st_tensor *t = ft_st_set_find(m->st, p->name, NULL);
        if (!t)
            return ft_fail(FT_ERR_MISSING, "%s: tensor '%s' of the question-answering head is missing", dir,
                           p->name);
        ft_free(p->data);
        p->owned = false;
        FT_TRY(bind_tensor(m, p, t, dir));
        FT_TRY(ft_model_set_trainable(m, hp[k], false));
    }
    return FT_OK;
}

ft_status ft_model_load(const char *dir, ft_model **out) {
    return ft_model_load_base(dir, FT_BASE_FP32, out);
}

/* What binding the checkpoint will allocate (fp32 conversions of tensors not used in place, int8 copies with
 * their scales), checked against FTUNE_MEM_LIMIT / MemAvailable before anything is allocated: a model that
 * cannot be loaded this way is refused with the numbers, not killed by the OOM killer halfway through. */
static ft_status check_load_bytes(const ft_model *m, const char *dir, ft_base_dtype base,
                                  const unsigned char *keep) {
    size_t need = 0;
    for (int i = 0; i < m->n_params; i++) {
        const ft_param *p = &m->params[i];
        const ft_st_tensor *t = find_base_tensor(m, p->name, NULL);
        if (!t)
            continue;
        const size_t q8 = ft_param_q8_size(p);
        const size_t f32 = t->dtype == FT_DT_F32 ? 0 : (size_t)p->numel * sizeof(float);
        const bool half = t->dtype == FT_DT_BF16 || t->dtype == FT_DT_F16;
        const size_t b = keep[i] == 2           ? (t->dtype == FT_DT_I8 ? q8 - (size_t)p->numel : q8)
                         : keep[i] == 1 && half ? 0
                                                : f32;
        need += b;
    }
    const char *src = NULL;
    const size_t limit = ft_mem_limit(&src);
    if (!limit || need <= limit)
        return FT_OK;
    const double g = 1024.0 * 1024.0 * 1024.0;
    const bool decoder = m->cfg.arch == FT_ARCH_GPT2 || m->cfg.arch == FT_ARCH_LLAMA;
    return ft_fail(
        FT_ERR_NOMEM,
        "%s: loading this model with train.base_dtype %s needs %.2f GiB (weights converted to fp32%s) "
        "but %.2f GiB are available (%s)%s",
        dir, ft_base_dtype_name(base), (double)need / g, base == FT_BASE_INT8 ? " or int8" : "",
        (double)limit / g, src,
        !decoder               ? ""
        : base == FT_BASE_FP32 ? "; a bf16/f16 checkpoint stays in place with train.base_dtype auto "
                                 "(or int8: about half of that)"
                               : "");
}

ft_status ft_model_load_base(const char *dir, ft_base_dtype base, ft_model **out) {
    char path[4096];
    ft_path_join(path, sizeof path, dir, "config.json");
    char *txt = NULL;
    FT_TRY(ft_read_file(path, &txt, NULL));
    ft_model_config cfg;
    ft_status s = ft_config_parse(txt, path, &cfg);
    free(txt);
    if (s != FT_OK)
        return s;
    ft_model *m = NULL;
    FT_TRY(model_new(&cfg, &m));
    m->dir = ft_strdup(dir);
    const bool decoder = m->cfg.arch == FT_ARCH_GPT2 || m->cfg.arch == FT_ARCH_LLAMA;
    if ((base == FT_BASE_FILE || base == FT_BASE_INT8) && !decoder) {
        s = ft_fail(FT_ERR_UNSUPPORTED,
                    "%s: train.base_dtype %s (the frozen base in %s) is implemented for GPT-2 and the Llama "
                    "family, not %s: use auto or fp32",
                    dir, ft_base_dtype_name(base), base == FT_BASE_INT8 ? "int8" : "its file dtype",
                    m->cfg.model_type);
        ft_model_free(m);
        return s;
    }
    unsigned char *keep = calloc((size_t)m->n_params, 1);
    if (!keep) {
        ft_model_free(m);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    if (base != FT_BASE_FP32 && decoder)
        half_eligible(m, keep, base == FT_BASE_INT8);
    s = ft_st_set_open_dir(dir, &m->st);
    if (s == FT_OK && (base == FT_BASE_FILE || base == FT_BASE_AUTO) && decoder)
        int8_sites_in_place(m, keep); /* a saved int8 checkpoint: its file dtype is int8 */
    if (s == FT_OK)
        s = check_load_bytes(m, dir, base, keep);
    for (int i = 0; s == FT_OK && i < m->n_params; i++) {
        ft_param *p = &m->params[i];
        const char *file = NULL;
        const ft_st_tensor *t = find_base_tensor(m, p->name, &file);
        if (!t && i == m->pool_w && ft_model_is_vit(m)) { /* ViTModel(add_pooling_layer=False): none */
            s = pooler_drop(m);
            break;
        }
        if (!t && (i == m->pool_w || i == m->pool_b) && ft_st_set_find(m->st, "qa_outputs.weight", NULL)) {
            /* HF *ForQuestionAnswering has no pooler (add_pooling_layer=False): unused, zeros */
            if (!(p->data = ft_calloc((size_t)p->numel * sizeof(float))))
                s = ft_fail(FT_ERR_NOMEM, "out of memory");
            p->owned = true;
        } else if (!t &&
                   (i == m->pool_w || i == m->pool_b)) /* a BertForMaskedLM save has no pooler: HF initializes */
            s = init_pooler(m, i);
        else if (!t)
            s = ft_fail(FT_ERR_MISSING, "%s: tensor '%s' is missing from the checkpoint", dir, p->name);
        else
            s = bind_tensor_as(m->st, p, t, file, keep[i]);
    }
    free(keep);
    const char *head_name = ft_model_head_weight_name(m);
    const ft_st_tensor *head = s == FT_OK ? ft_st_set_find(m->st, head_name, NULL) : NULL;
    if (s == FT_OK && !head && ft_model_is_encoder(m) && ft_st_set_find(m->st, "qa_outputs.weight", NULL))
        s = load_qa_head(m, dir);
    if (head) { /* a sequence-classification checkpoint: its head and labels */
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(m->cfg.raw, "problem_type");
        /* HF: without problem_type one output means regression */
        bool reg = cJSON_IsString(pt) ? !strcmp(pt->valuestring, "regression") : head->shape[0] == 1;
        /* a token classifier (architectures: *ForTokenClassification) has no problem_type */
        const bool tok = ft_model_is_encoder(m) && ft_config_is_token_cls(m->cfg.raw);
        if (!tok && cJSON_IsString(pt) && !reg && strcmp(pt->valuestring, "single_label_classification"))
            s = ft_fail(FT_ERR_UNSUPPORTED,
                        "%s: problem_type '%s' is not supported (single_label_classification, "
                        "regression)",
                        dir, pt->valuestring);
        else if (head->ndim != 2 || head->shape[1] != m->cfg.hidden)
            s = ft_fail(FT_ERR_SHAPE, "%s: tensor '%s' must be [num_labels, %d]", dir, head_name,
                        m->cfg.hidden);
        else
            s = ft_model_set_task(m,
                                  tok   ? FT_TASK_TOKEN_CLS
                                  : reg ? FT_TASK_REGRESSION
                                        : FT_TASK_SEQ_CLS,
                                  (int)head->shape[0], NULL, 0);
        const int hp[4] = {m->score, m->score_b, m->head_w, m->head_b};
        for (int k = 0; s == FT_OK && k < 4; k++) {
            if (hp[k] < 0)
                continue;
            ft_param *p = &m->params[hp[k]];
            const ft_st_tensor *t = ft_st_set_find(m->st, p->name, NULL);
            if (!t) {
                s = ft_fail(FT_ERR_MISSING,
                            "%s: tensor '%s' of the classification head is missing from the checkpoint", dir,
                            p->name);
                break;
            }
            ft_free(p->data);
            p->owned = false;
            p->extra = true;
            s = bind_tensor(m, p, t, dir);
            if (s == FT_OK)
                s = ft_model_set_trainable(m, hp[k], false);
        }
        const cJSON *i2l = cJSON_GetObjectItemCaseSensitive(m->cfg.raw, "id2label");
        if (s == FT_OK && cJSON_IsObject(i2l) && cJSON_GetArraySize(i2l) == m->n_labels) {
            m->label_names = calloc((size_t)m->n_labels, sizeof *m->label_names);
            for (int k = 0; m->label_names && k < m->n_labels; k++) {
                char key[32];
                snprintf(key, sizeof key, "%d", k);
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(i2l, key);
                m->label_names[k] = ft_strdup(cJSON_IsString(v) ? v->valuestring : key);
            }
        }
    }
    if (s == FT_OK && !head && ft_model_mlm_in_checkpoint(m)) /* a *ForMaskedLM checkpoint */
        s = ft_model_set_task(m, FT_TASK_MASKED_LM, 0, NULL, 0);
    if (s != FT_OK) {
        ft_model_free(m);
        return s;
    }
    *out = m;
    return FT_OK;
}

/* HF T5PreTrainedModel._init_weights with factor f = initializer_factor: shared and an untied lm_head N(0,
 * f), q N(0, f/√(d_model·d_kv)), k, v, wi* and the relative bias N(0, f/√d_model), o N(0, f/√(heads·d_kv)),
 * wo N(0, f/√d_ff). */
static float t5_init_std(const ft_model_config *c, const char *nm) {
    const float f = c->init_range;
    const size_t n = strlen(nm);
    const char *leaf = n > 9 ? nm + n - 9 : nm; /* ".X.weight" of a projection */
    if (strstr(nm, "relative_attention_bias") || !strcmp(leaf, ".k.weight") || !strcmp(leaf, ".v.weight") ||
        strstr(nm, ".wi"))
        return f / sqrtf((float)c->hidden);
    if (!strcmp(leaf, ".q.weight"))
        return f / sqrtf((float)c->hidden * (float)c->head_dim);
    if (!strcmp(leaf, ".o.weight"))
        return f / sqrtf((float)c->n_heads * (float)c->head_dim);
    if (strstr(nm, ".wo."))
        return f / sqrtf((float)c->intermediate);
    return f; /* shared, lm_head */
}

/* Parameter i's initial values into dst [numel] (HF _init_weights; the encoders' padding rows zeroed). */
static void init_values(const ft_model *m, int i, uint64_t seed, float *dst) {
    const ft_param *p = &m->params[i];
    const float std = m->cfg.init_range;
    /* GPT-2 scales residual projections by 1/√(2·n_layer) (as HF's _init_weights does). */
    const float proj_std = std / sqrtf(2.0f * (float)m->cfg.n_layers);
    const char *nm = p->name;
    size_t len = strlen(nm);
    bool is_bias = len > 5 && !strcmp(nm + len - 5, ".bias");
    bool is_norm = strstr(nm, "ln_") || strstr(nm, "layernorm") || strstr(nm, "norm.weight") ||
                   strstr(nm, "LayerNorm.weight");
    bool is_proj = m->cfg.arch == FT_ARCH_GPT2 && strstr(nm, "c_proj.weight");
    const float sd = ft_model_is_t5(m) ? t5_init_std(&m->cfg, nm) : is_proj ? proj_std : std;
#pragma omp parallel for schedule(static) if (p->numel >= (int64_t)1 << 20)
    for (int64_t j = 0; j < p->numel; j++)
        dst[j] = is_bias ? 0.0f : is_norm ? 1.0f : ft_rng_normal(seed, (uint64_t)i, (uint64_t)j) * sd;
    for (int e = 0; ft_model_is_encoder(m) && e < FT_N_EMB; e++) { /* HF zeroes an embedding's padding row */
        int wi;
        int64_t rows;
        int32_t pad;
        if (ft_model_emb(m, (ft_emb)e, &wi, &rows, &pad, NULL, 0) && wi == i && pad >= 0 && pad < rows)
            memset(dst + (int64_t)pad * m->cfg.hidden, 0, (size_t)m->cfg.hidden * sizeof(float));
    }
}

ft_status ft_model_init_random(ft_model_config *cfg, uint64_t seed, ft_model **out) {
    ft_model *m = NULL;
    FT_TRY(model_new(cfg, &m));
    for (int i = 0; i < m->n_params; i++) {
        ft_param *p = &m->params[i];
        p->data = ft_alloc((size_t)p->numel * sizeof(float));
        if (!p->data) {
            ft_model_free(m);
            return FT_ERR_NOMEM;
        }
        p->owned = true;
        init_values(m, i, seed, p->data);
    }
    *out = m;
    return FT_OK;
}

ft_status ft_model_init_random_bf16(ft_model_config *cfg, uint64_t seed, ft_model **out) {
    ft_model *m = NULL;
    FT_TRY(model_new(cfg, &m));
    int64_t most = 0;
    for (int i = 0; i < m->n_params; i++)
        most = m->params[i].numel > most ? m->params[i].numel : most;
    float *tmp = ft_alloc((size_t)(most > 0 ? most : 1) * sizeof(float)); /* one tensor at a time in fp32 */
    ft_status s =
        tmp ? FT_OK : ft_fail(FT_ERR_NOMEM, "init: no memory for %lld fp32 values", (long long)most);
    for (int i = 0; s == FT_OK && i < m->n_params; i++) {
        ft_param *p = &m->params[i];
        uint16_t *h = ft_alloc((size_t)p->numel * sizeof(uint16_t));
        if (!h) {
            s = ft_fail(FT_ERR_NOMEM, "init: no memory for the bf16 values of '%s' (%lld)", p->name,
                        (long long)p->numel);
            break;
        }
        init_values(m, i, seed, tmp);
#pragma omp parallel for schedule(static) if (p->numel >= (int64_t)1 << 20)
        for (int64_t j = 0; j < p->numel; j++)
            h[j] = ft_f32_to_bf16(tmp[j]); /* as ft_model_save rounds */
        p->half = h;
        p->half_owned = true;
        p->file_dtype = FT_DT_BF16;
    }
    ft_free(tmp);
    if (s != FT_OK) {
        ft_model_free(m);
        return s;
    }
    *out = m;
    return FT_OK;
}

ft_status ft_model_set_trainable(ft_model *m, int idx, bool trainable) {
    ft_param *p = &m->params[idx];
    if (trainable && (p->half || p->q8))
        FT_TRY(ft_model_param_widen(m, idx));
    if (trainable && !p->owned) { /* copy out of the read-only mapping */
        float *d = ft_alloc((size_t)p->numel * sizeof(float));
        if (!d)
            return FT_ERR_NOMEM;
        memcpy(d, p->data, (size_t)p->numel * sizeof(float));
        ft_release_mapped_pages(p->data, (size_t)p->numel * sizeof(float)); /* not the weights twice */
        p->data = d;
        p->owned = true;
    }
    if (trainable && !p->grad) {
        p->grad = ft_calloc((size_t)p->numel * sizeof(float));
        if (!p->grad)
            return FT_ERR_NOMEM;
    }
    if (!trainable) {
        ft_free(p->grad);
        p->grad = NULL;
    }
    p->trainable = trainable;
    return FT_OK;
}

void ft_model_zero_grad(ft_model *m) {
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].grad)
            memset(m->params[i].grad, 0, (size_t)m->params[i].numel * sizeof(float));
}

/* An encoder's HF class name: the model type's prefix (Bert, Roberta, XLMRoberta, DistilBert) + suffix. */
static void enc_arch_name(const ft_model *m, const char *suffix, char *out, size_t n) {
    const char *mt = m->cfg.model_type;
    snprintf(out, n, "%s%s",
             !strcmp(mt, "roberta")       ? "Roberta"
             : !strcmp(mt, "xlm-roberta") ? "XLMRoberta"
             : !strcmp(mt, "distilbert")  ? "DistilBert"
                                          : "Bert",
             suffix);
}

/* config.json's architectures: [name] (replacing what was there). */
static void config_set_arch(cJSON *j, const char *name) {
    cJSON_DeleteItemFromObjectCaseSensitive(j, "architectures");
    cJSON_AddItemToObject(j, "architectures", cJSON_CreateStringArray(&name, 1));
}

/* HF *ForSequenceClassification config: architectures, id2label/label2id, problem_type. */
static ft_status config_add_head(const ft_model *m, cJSON *j) {
    char enc[64];
    if (ft_model_is_encoder(m))
        enc_arch_name(m,
                      m->task == FT_TASK_TOKEN_CLS ? "ForTokenClassification" : "ForSequenceClassification",
                      enc, sizeof enc);
    const char *arch = ft_model_is_encoder(m)                  ? enc
                       : ft_model_is_vit(m)                    ? "ViTForImageClassification"
                       : m->cfg.arch == FT_ARCH_GPT2           ? "GPT2ForSequenceClassification"
                       : !strcmp(m->cfg.model_type, "qwen2")   ? "Qwen2ForSequenceClassification"
                       : !strcmp(m->cfg.model_type, "mistral") ? "MistralForSequenceClassification"
                                                               : "LlamaForSequenceClassification";
    config_set_arch(j, arch);
    cJSON_DeleteItemFromObjectCaseSensitive(j, "id2label");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "label2id");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "problem_type");
    cJSON *i2l = cJSON_CreateObject(), *l2i = cJSON_CreateObject();
    for (int k = 0; k < m->n_labels; k++) {
        char key[32], def[32];
        snprintf(key, sizeof key, "%d", k);
        snprintf(def, sizeof def, "LABEL_%d", k);
        const char *nm = m->label_names && m->label_names[k] ? m->label_names[k] : def;
        cJSON_AddStringToObject(i2l, key, nm);
        cJSON_AddNumberToObject(l2i, nm, k);
    }
    cJSON_AddItemToObject(j, "id2label", i2l);
    cJSON_AddItemToObject(j, "label2id", l2i);
    if (m->task != FT_TASK_TOKEN_CLS) /* HF leaves a token classifier's problem_type unset */
        cJSON_AddStringToObject(j, "problem_type",
                                m->task == FT_TASK_REGRESSION ? "regression" : "single_label_classification");
    if (m->cfg.pad_token_id < 0 && !cJSON_GetObjectItem(j, "pad_token_id")) {
        const cJSON *eos = cJSON_GetObjectItem(j, "eos_token_id");
        if (cJSON_IsNumber(eos)) /* HF needs a pad id to find the last token; eos is the usual choice */
            cJSON_AddNumberToObject(j, "pad_token_id", eos->valuedouble);
    }
    return FT_OK;
}

/* HF *ForMaskedLM config: architectures. */
static void config_add_mlm(const ft_model *m, cJSON *j) {
    char arch[64];
    enc_arch_name(m, "ForMaskedLM", arch, sizeof arch);
    config_set_arch(j, arch);
}

/* One head tensor made new (a new one, or head.reset's): resized to d0 × d1 (d1 0: a vector), weights
 * N(0, initializer_range) from the given stream, biases 0 (HF _init_weights), trainable. */
static ft_status head_reinit(ft_model *m, int i, int64_t d0, int64_t d1, uint64_t seed, uint64_t stream) {
    ft_param *p = &m->params[i];
    const int64_t numel = d1 ? d0 * d1 : d0;
    if (numel != p->numel || !p->owned) {
        float *nd = ft_calloc((size_t)numel * sizeof(float));
        if (!nd)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        if (p->owned)
            ft_free(p->data);
        ft_free(p->grad);
        p->grad = NULL;
        p->data = nd;
        p->owned = true;
        p->numel = numel;
    }
    p->shape[0] = d0;
    p->shape[1] = d1;
    for (int64_t j = 0; j < numel; j++)
        p->data[j] = d1 ? ft_rng_normal(seed, stream, (uint64_t)j) * m->cfg.init_range : 0.0f;
    return ft_model_set_trainable(m, i, true);
}

/* A new head param, initialized as above; -1 on failure. */
static int new_head_param(ft_model *m, const char *name, int64_t d0, int64_t d1, uint64_t seed,
                          uint64_t stream) {
    const int i = ft_model_add_param(m, name, d1 ? 2 : 1, d0, d1);
    return i >= 0 && head_reinit(m, i, d0, d1, seed, stream) == FT_OK ? i : -1;
}

/* The encoders' sequence-classification heads under HF names: BERT classifier (on the pooler), RoBERTa
 * classifier.dense + classifier.out_proj, DistilBERT pre_classifier + classifier. */
static ft_status add_encoder_head(ft_model *m, int K, uint64_t seed) {
    const int64_t C = m->cfg.hidden;
    const ft_enc_variant v = m->cfg.enc;
    if (v != FT_ENC_BERT) {
        const char *d = v == FT_ENC_ROBERTA ? "classifier.dense" : "pre_classifier";
        char nm[64];
        snprintf(nm, sizeof nm, "%s.weight", d);
        m->head_w = new_head_param(m, nm, C, C, seed, 778);
        snprintf(nm, sizeof nm, "%s.bias", d);
        m->head_b = new_head_param(m, nm, C, 0, seed, 779);
    }
    const bool r = v == FT_ENC_ROBERTA;
    m->score = new_head_param(m, r ? "classifier.out_proj.weight" : "classifier.weight", K, C, seed, 777);
    m->score_b = new_head_param(m, r ? "classifier.out_proj.bias" : "classifier.bias", K, 0, seed, 780);
    if (m->score < 0 || m->score_b < 0 || (v != FT_ENC_BERT && (m->head_w < 0 || m->head_b < 0)))
        return FT_ERR_NOMEM;
    return FT_OK;
}

/* HF *ForQuestionAnswering config: architectures only (no labels, no problem_type). */
static void config_add_qa_head(const ft_model *m, cJSON *j) {
    char arch[64];
    enc_arch_name(m, "ForQuestionAnswering", arch, sizeof arch);
    config_set_arch(j, arch);
    cJSON_DeleteItemFromObjectCaseSensitive(j, "problem_type");
}

/* The span head qa_outputs [2, hidden] + bias [2] (start, end) in score / score_b. */
static ft_status add_qa_head(ft_model *m, uint64_t seed) {
    if (!ft_model_is_encoder(m))
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "task question_answering needs an encoder (bert, roberta, "
                       "xlm-roberta, distilbert); the model is %s",
                       m->cfg.model_type);
    if (m->score >= 0)
        return ft_fail(FT_ERR_CONFIG, "the model already has a %s head",
                       m->task == FT_TASK_QA ? "question-answering" : "classification");
    m->score = new_head_param(m, "qa_outputs.weight", 2, m->cfg.hidden, seed, 781);
    m->score_b = new_head_param(m, "qa_outputs.bias", 2, 0, seed, 782);
    if (m->score < 0 || m->score_b < 0)
        return FT_ERR_NOMEM;
    m->task = FT_TASK_QA;
    m->n_labels = 2;
    return FT_OK;
}

/* HF *ForTokenClassification: one Linear `classifier` [K, C] + bias on every token, in every variant. */
static ft_status add_token_head(ft_model *m, int K, uint64_t seed) {
    m->score = new_head_param(m, "classifier.weight", K, m->cfg.hidden, seed, 777);
    m->score_b = new_head_param(m, "classifier.bias", K, 0, seed, 780);
    return m->score < 0 || m->score_b < 0 ? FT_ERR_NOMEM : FT_OK;
}

/* The head's task, class count and names (copied; the old names freed; NULL = none). */
static ft_status set_head_labels(ft_model *m, ft_task task, int n_labels, const char *const *label_names) {
    for (int i = 0; m->label_names && i < m->n_labels; i++)
        free(m->label_names[i]);
    free(m->label_names);
    m->label_names = NULL;
    m->task = task;
    m->n_labels = n_labels;
    if (!label_names)
        return FT_OK;
    m->label_names = calloc((size_t)n_labels, sizeof *m->label_names);
    if (!m->label_names)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n_labels; i++)
        if (!(m->label_names[i] = ft_strdup(label_names[i])))
            return ft_fail(FT_ERR_NOMEM, "out of memory");
    return FT_OK;
}

ft_status ft_model_set_task(ft_model *m, ft_task task, int n_labels, const char *const *label_names, uint64_t seed) {
    if (ft_model_is_t5(m) && task != FT_TASK_CAUSAL_LM)
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "%s is an encoder-decoder with its LM head (sequence to sequence): other heads "
                       "(classification, regression, QA, token classification, masked LM) are not supported",
                       m->cfg.model_type);
    if (task == FT_TASK_CAUSAL_LM) {
        m->task = task;
        return FT_OK;
    }
    if (task == FT_TASK_MASKED_LM) {
        if (!ft_model_is_encoder(m))
            return ft_fail(
                FT_ERR_UNSUPPORTED,
                "task masked_lm needs an encoder (bert, roberta, xlm-roberta, distilbert); %s is a "
                "decoder",
                m->cfg.model_type);
        if (m->score >= 0)
            return ft_fail(FT_ERR_UNSUPPORTED,
                           "%s: the model has a classification head; task masked_lm needs a "
                           "bare encoder or a *ForMaskedLM checkpoint",
                           m->dir ? m->dir : m->cfg.model_type);
        if (m->mlm_w < 0) {
            FT_TRY(pooler_drop(m)); /* BertForMaskedLM has no pooler */
            FT_TRY(mlm_attach(m, seed));
        }
        m->task = task;
        return FT_OK;
    }
    if (ft_model_is_vit(m) && task != FT_TASK_SEQ_CLS && task != FT_TASK_REGRESSION)
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "the vit model has an image-classification head only: use task classification or "
                       "regression");
    FT_TRY(mlm_drop(m));
    FT_TRY(pooler_add(m));
    if (task == FT_TASK_QA)
        return m->task == FT_TASK_QA ? FT_OK : add_qa_head(m, seed);
    if (m->task == FT_TASK_QA)
        return ft_fail(FT_ERR_CONFIG, "the model has a question-answering head (qa_outputs), not a %s head",
                       task == FT_TASK_REGRESSION ? "regression" : "classification");
    if (task == FT_TASK_REGRESSION)
        n_labels = 1;
    if (n_labels < 1 || ((task == FT_TASK_SEQ_CLS || task == FT_TASK_TOKEN_CLS) && n_labels < 2))
        return ft_fail(FT_ERR_ARG, "a classification head needs at least 2 labels (got %d)", n_labels);
    if (task == FT_TASK_TOKEN_CLS && !ft_model_is_encoder(m))
        return ft_fail(
            FT_ERR_UNSUPPORTED,
            "token classification needs an encoder (bert, roberta, xlm-roberta, distilbert), not %s",
            m->cfg.model_type);
    if (m->score >= 0 && (m->task == FT_TASK_TOKEN_CLS) != (task == FT_TASK_TOKEN_CLS))
        return ft_fail(FT_ERR_CONFIG, "the model has a %s head; it cannot be trained for %s",
                       m->task == FT_TASK_TOKEN_CLS ? "token-classification" : "sequence-classification",
                       task == FT_TASK_TOKEN_CLS ? "token classification" : "sequence classification");
    if (m->score >= 0) {
        if (m->params[m->score].shape[0] != n_labels)
            return ft_fail(FT_ERR_SHAPE,
                           "the model's classification head has %lld labels, the data has %d (head.reset: true "
                           "starts a new head)",
                           (long long)m->params[m->score].shape[0], n_labels);
    } else if (task == FT_TASK_TOKEN_CLS) {
        FT_TRY(add_token_head(m, n_labels, seed));
    } else if (ft_model_is_vit(m)) { /* ViTForImageClassification: no pooler, `classifier` on [CLS] */
        FT_TRY(pooler_drop(m));
        FT_TRY(add_token_head(m, n_labels, seed));
    } else if (ft_model_is_encoder(m)) {
        FT_TRY(add_encoder_head(m, n_labels, seed));
    } else {
        m->score = new_head_param(m, "score.weight", n_labels, m->cfg.hidden, seed, 777);
        if (m->score < 0)
            return FT_ERR_NOMEM;
    }
    return set_head_labels(m, task, n_labels, label_names);
}

ft_status ft_model_reset_head(ft_model *m, ft_task task, int n_labels, const char *const *label_names,
                              uint64_t seed) {
    const bool has = m->score >= 0 && (m->task == FT_TASK_SEQ_CLS || m->task == FT_TASK_REGRESSION);
    if (!has || (task != FT_TASK_SEQ_CLS && task != FT_TASK_REGRESSION))
        return ft_model_set_task(m, task, n_labels, label_names, seed);
    if (m->precision != FT_PREC_FP32)
        return ft_fail(FT_ERR_ARG, "reset the head before choosing the precision");
    if (task == FT_TASK_REGRESSION)
        n_labels = 1;
    if (n_labels < 1 || (task == FT_TASK_SEQ_CLS && n_labels < 2))
        return ft_fail(FT_ERR_ARG, "a classification head needs at least 2 labels (got %d)", n_labels);
    const int64_t C = m->cfg.hidden;
    FT_TRY(head_reinit(m, m->score, n_labels, C, seed, 777));
    if (m->score_b >= 0)
        FT_TRY(head_reinit(m, m->score_b, n_labels, 0, seed, 780));
    if (m->head_w >= 0)
        FT_TRY(head_reinit(m, m->head_w, C, C, seed, 778));
    if (m->head_b >= 0)
        FT_TRY(head_reinit(m, m->head_b, C, 0, seed, 779));
    return set_head_labels(m, task, n_labels, label_names);
}

ft_status ft_save_dtype_parse(const char *s, ft_dtype *out) {
    if (!strcmp(s, "f32") || !strcmp(s, "float32"))
        *out = FT_DT_F32;
    else if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16"))
        *out = FT_DT_BF16;
    else if (!strcmp(s, "int8"))
        *out = FT_DT_I8;
    else
        return ft_fail(FT_ERR_ARG, "save dtype '%s': expected f32, bf16 or int8", s);
    return FT_OK;
}

/* config.json's quantization_config of a saved int8 checkpoint (docs/big-models.md). */
static void config_add_int8(cJSON *j) {
    cJSON *q = cJSON_AddObjectToObject(j, "quantization_config");
    if (!q)
        return;
    cJSON_AddStringToObject(q, "quant_method", "ftune-int8");
    cJSON_AddNumberToObject(q, "bits", 8);
    cJSON_AddStringToObject(q, "scheme", "symmetric per output row: W[r, j] = I8[r, j] * scale[r]");
    cJSON_AddStringToObject(q, "scale_suffix", FT_Q8_SCALE_SUFFIX);
}

/* A linear site's weight into an int8 checkpoint: its int8 values (p->q8 as they are, else each row
 * quantized now as at load) as I8 under its name, the row scales as F32 [rows, 1] under name + "_scale";
 * what this allocates goes to *qbuf / *sbuf for the caller to free after writing. */
static ft_status save_int8_site(ft_st_writer *w, const ft_param *p, uint16_t **qbuf, float **sbuf) {
    const int64_t cols = p->ndim == 2 ? p->shape[1] : p->numel, rows = p->numel / (cols > 0 ? cols : 1);
    const int8_t *q = p->q8;
    const float *sc = p->q8_scale;
    if (!q) {
        int8_t *qq = ft_alloc((size_t)p->numel);
        float *ss = ft_alloc((size_t)(rows > 0 ? rows : 1) * sizeof(float));
        *qbuf = (uint16_t *)(void *)qq;
        *sbuf = ss;
        if (!qq || !ss)
            return ft_fail(FT_ERR_NOMEM, "no memory to quantize '%s' (%lld values) to int8", p->name,
                           (long long)p->numel);
        const int64_t bad = quantize_rows(p, param_row, rows, cols, qq, ss);
        if (bad == -2)
            return ft_fail(FT_ERR_NOMEM, "no memory to quantize '%s'", p->name);
        if (bad >= 0)
            return ft_fail(FT_ERR_NUMERIC,
                           "tensor '%s' holds a non-finite value in row %lld: it cannot be "
                           "saved as int8",
                           p->name, (long long)bad);
        q = qq;
        sc = ss;
    }
    char name[512];
    snprintf(name, sizeof name, "%s%s", p->name, FT_Q8_SCALE_SUFFIX);
    const int64_t sshape[2] = {rows, 1};
    FT_TRY(ft_st_writer_add(w, p->name, FT_DT_I8, p->ndim, p->shape, q));
    return ft_st_writer_add(w, name, FT_DT_F32, 2, sshape, sc);
}

ft_status ft_model_save(const ft_model *m, const char *dir, ft_dtype dtype) {
    if (dtype != FT_DT_F32 && dtype != FT_DT_BF16 && dtype != FT_DT_I8)
        return ft_fail(FT_ERR_ARG, "model save: dtype must be F32, BF16 or I8");
    const bool int8 = dtype == FT_DT_I8;
    if (int8 && m->cfg.arch != FT_ARCH_GPT2 && m->cfg.arch != FT_ARCH_LLAMA)
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "an int8 checkpoint is implemented for GPT-2 and the Llama family, "
                       "not %s: save as f32 or bf16",
                       m->cfg.model_type);
    unsigned char *site = int8 ? calloc((size_t)m->n_params, 1) : NULL;
    if (int8 && !site)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    if (int8) { /* the linear sites in int8 (as train.base_dtype int8 quantizes them), the rest in bf16 */
        half_eligible(m, site, true);
        dtype = FT_DT_BF16;
    }
    ft_status s = ft_mkdir_p(dir);
    ft_st_writer *w = s == FT_OK ? ft_st_writer_new() : NULL;
    uint16_t **conv = calloc((size_t)m->n_params, sizeof *conv);
    float **scl = calloc((size_t)m->n_params, sizeof *scl);
    if (s == FT_OK && (!w || !conv || !scl))
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int i = 0; s == FT_OK && i < m->n_params; i++) {
        const ft_param *p = &m->params[i];
        const void *data = p->data;
        if (p->extra && !ft_model_is_head(m, i) && i != m->lm_head)
            continue; /* PEFT tensors go with the adapter, not the model (a head a merge untied does not) */
        if (m->task == FT_TASK_TOKEN_CLS && (i == m->pool_w || i == m->pool_b))
            continue; /* BertForTokenClassification has no pooler */
        if (int8 && site[i] == 2) {
            s = save_int8_site(w, p, &conv[i], &scl[i]);
            continue;
        }
        if (p->q8) {  /* a quantized base is saved as its dequantized values */
            float *f = ft_alloc((size_t)p->numel * sizeof(float));
            conv[i] = dtype == FT_DT_BF16 ? ft_alloc((size_t)p->numel * 2) : NULL;
            if (!f || (dtype == FT_DT_BF16 && !conv[i])) {
                ft_free(f);
                s = FT_ERR_NOMEM;
                break;
            }
            ft_param_rows(p, NULL, p->numel / (p->ndim == 2 ? p->shape[1] : p->numel), f, false);
            if (dtype == FT_DT_BF16) {
                ft_f32_to_bf16_n(conv[i], f, p->numel);
                ft_free(f);
            } else {
                conv[i] = (uint16_t *)(void *)f;
            }
            data = conv[i];
        } else if (p->half && p->file_dtype == dtype) {
            data = p->half; /* as the file holds it */
        } else if (p->half && dtype == FT_DT_F32) {
            float *f = ft_alloc((size_t)p->numel * sizeof(float));
            if (!f) {
                s = FT_ERR_NOMEM;
                break;
            }
            ft_half_to_f32_n(f, p->half, p->numel, p->file_dtype == FT_DT_F16);
            conv[i] = (uint16_t *)(void *)f;
            data = f;
        } else if (p->half) { /* f16 in place, saved as bf16 */
            conv[i] = ft_alloc((size_t)p->numel * 2);
            if (!conv[i]) {
                s = FT_ERR_NOMEM;
                break;
            }
            for (int64_t j = 0; j < p->numel; j++)
                conv[i][j] = ft_f32_to_bf16(ft_f16_to_f32(p->half[j]));
            data = conv[i];
        } else if (dtype == FT_DT_BF16) {
            conv[i] = ft_alloc((size_t)p->numel * 2);
            if (!conv[i]) {
                s = FT_ERR_NOMEM;
                break;
            }
            for (int64_t j = 0; j < p->numel; j++)
                conv[i][j] = ft_f32_to_bf16(p->data[j]);
            data = conv[i];
        }
        s = ft_st_writer_add(w, p->name, dtype, p->ndim, p->shape, data);
    }
    if (s == FT_OK)
        s = ft_st_writer_set_metadata(w, "format", "pt");
    if (s == FT_OK)
        s = ft_st_writer_write_dir(w, dir, (size_t)5 << 30);
    if (s == FT_OK) { /* config.json: the original fields, dtype updated */
        cJSON *j = cJSON_Duplicate(m->cfg.raw, 1);
        if (!j) {
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        } else {
            cJSON_DeleteItemFromObjectCaseSensitive(j, "torch_dtype");
            cJSON_AddStringToObject(j, "torch_dtype", dtype == FT_DT_BF16 ? "bfloat16" : "float32");
            cJSON_DeleteItemFromObjectCaseSensitive(j, "quantization_config");
            if (int8) /* our own scheme: a reader that does not know it stops here instead of misreading */
                config_add_int8(j);
            if (m->lm_head != m->wte && m->cfg.tie_embeddings) { /* untied by merging an embedding LoRA */
                cJSON_DeleteItemFromObjectCaseSensitive(j, "tie_word_embeddings");
                cJSON_AddBoolToObject(j, "tie_word_embeddings", false);
            }
            if (m->score >= 0 && m->task == FT_TASK_QA)
                config_add_qa_head(m, j);
            else if (m->score >= 0)
                s = config_add_head(m, j);
            else if (m->task == FT_TASK_MASKED_LM)
                config_add_mlm(m, j);
            char path[4096];
            ft_path_join(path, sizeof path, dir, "config.json");
            if (s == FT_OK)
                s = ft_json_write_file(path, j, true);
            cJSON_Delete(j);
        }
    }
    for (int i = 0; conv && i < m->n_params; i++)
        ft_free(conv[i]);
    for (int i = 0; scl && i < m->n_params; i++)
        ft_free(scl[i]);
    free(conv);
    free(scl);
    free(site);
    ft_st_writer_free(w);
    return s;
}

ft_status ft_batch_validate(const ft_model *m, const ft_batch *b) {
    const ft_model_config *c = &m->cfg;
    if (b->B <= 0 || b->T <= 0)
        return ft_fail(FT_ERR_ARG, "empty batch (%d rows of %d tokens)", b->B, b->T);
    if (b->T_dec > 0 || b->decoder_input_ids || b->decoder_mask)
        return ft_fail(FT_ERR_ARG,
                       "the batch has decoder fields (decoder_input_ids / decoder_attention_mask, or labels "
                       "of another length than input_ids): %s is not an encoder-decoder",
                       c->model_type);
    if (b->T > c->max_pos)
        return ft_fail(FT_ERR_RANGE, "sequence length %d exceeds the model's %d positions", b->T, c->max_pos);
    if (ft_model_is_encoder(m) && c->enc == FT_ENC_ROBERTA && b->T + c->pad_token_id + 1 > c->max_pos)
        return ft_fail(FT_ERR_RANGE,
                       "sequence length %d exceeds the model's %d positions (RoBERTa's positions start at "
                       "pad_token_id + 1 = %d)",
                       b->T, c->max_pos - c->pad_token_id - 1, c->pad_token_id + 1);
    if (c->sliding_window > 0 && b->T > c->sliding_window)
        return ft_fail(FT_ERR_UNSUPPORTED, "sequence length %d exceeds sliding_window %d (not supported yet)", b->T,
                       c->sliding_window);
    for (int r = 0; r < b->B; r++)
        for (int t = 0; t < b->T; t++) {
            int64_t i = (int64_t)r * b->T + t;
            int32_t id = b->input_ids[i];
            if (id < 0 || id >= c->vocab_size)
                return ft_fail(FT_ERR_RANGE, "input_ids[%d][%d] = %d is outside the vocabulary [0, %d)", r, t, id,
                               c->vocab_size);
            if (b->labels && m->task != FT_TASK_TOKEN_CLS) { /* token classes: checked by the loss */
                int32_t lb = b->labels[i];
                if (lb != -100 && (lb < 0 || lb >= c->vocab_size))
                    return ft_fail(FT_ERR_RANGE, "labels[%d][%d] = %d is outside the vocabulary [0, %d) and not -100",
                                   r, t, lb, c->vocab_size);
            }
            if (b->type_ids && b->type_ids[i] != 0 &&
                (b->type_ids[i] < 0 || b->type_ids[i] >= c->type_vocab_size))
                return ft_fail(FT_ERR_RANGE,
                               "token_type_ids[%d][%d] = %d is outside the model's %d token types", r, t,
                               b->type_ids[i], c->type_vocab_size > 0 ? c->type_vocab_size : 1);
            if (b->mask && b->mask[i] != 0 && b->mask[i] != 1)
                return ft_fail(FT_ERR_RANGE, "attention_mask[%d][%d] = %d must be 0 or 1", r, t, b->mask[i]);
        }
    return FT_OK;
}

ft_status ft_model_check_finite(const ft_model *m) {
    for (int i = 0; i < m->n_params; i++) {
        const ft_param *p = &m->params[i];
        if (p->half) { /* exponent all ones: bf16 0x7f80, f16 0x7c00 */
            const uint16_t e = p->file_dtype == FT_DT_F16 ? 0x7c00u : 0x7f80u;
            int64_t bad = 0, first = -1;
#pragma omp parallel for reduction(+ : bad) schedule(static)
            for (int64_t j = 0; j < p->numel; j++)
                bad += (p->half[j] & e) == e;
            if (!bad)
                continue;
            for (first = 0; first < p->numel && (p->half[first] & e) != e; first++)
                ;
            return ft_fail(
                FT_ERR_FORMAT,
                "model tensor '%s' (%s) holds %lld non-finite value%s (the first at flat index %lld): "
                "the file is damaged, and training from it would give non-finite losses",
                p->name, ft_dtype_name(p->file_dtype), (long long)bad, bad == 1 ? "" : "s", (long long)first);
        }
        if (!p->data)
            continue;
        const uint32_t *u = (const uint32_t *)(const void *)p->data;
        int64_t bad = 0, first = -1;
#pragma omp parallel for reduction(+ : bad) schedule(static)
        for (int64_t j = 0; j < p->numel; j++)
            bad += (u[j] & 0x7f800000u) == 0x7f800000u; /* exponent all ones: Inf or NaN */
        if (!bad)
            continue;
        for (first = 0; first < p->numel && (u[first] & 0x7f800000u) != 0x7f800000u; first++)
            ;
        return ft_fail(
            FT_ERR_FORMAT,
            "%s tensor '%s' holds %lld non-finite value%s (the first, %s, at flat index %lld): the "
            "file is damaged, and training from it would give non-finite losses",
            p->extra ? "attached" : "model", p->name, (long long)bad, bad == 1 ? "" : "s",
            isnan(p->data[first]) ? "NaN" : "Inf", (long long)first);
    }
    return FT_OK;
}
