/* HF config.json → ft_model_config, for gpt2, the Llama family (llama, qwen2, mistral) and the BERT-family
 * encoders (bert, roberta, xlm-roberta, distilbert). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"

typedef struct {
    const char *path;
    const cJSON *j;
} cfg_src;

/* Required integer field, > 0 unless allow_zero. */
static ft_status get_int(const cfg_src *s, const char *key, int *out, bool required, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->j, key);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return ft_fail(FT_ERR_CONFIG, "%s: missing required field '%s'", s->path, key);
        *out = def;
        return FT_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > 2147483647.0)
        return ft_fail(FT_ERR_CONFIG, "%s: field '%s' must be a non-negative integer", s->path, key);
    *out = (int)v->valuedouble;
    return FT_OK;
}

static ft_status get_float(const cfg_src *s, const char *key, float *out, float def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->j, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return FT_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return ft_fail(FT_ERR_CONFIG, "%s: field '%s' must be a number", s->path, key);
    *out = (float)v->valuedouble;
    return FT_OK;
}

static ft_status get_bool(const cfg_src *s, const char *key, bool *out, bool def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->j, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return FT_OK;
    }
    if (!cJSON_IsBool(v))
        return ft_fail(FT_ERR_CONFIG, "%s: field '%s' must be true or false", s->path, key);
    *out = cJSON_IsTrue(v);
    return FT_OK;
}

static ft_status parse_act(const cfg_src *s, const char *key, const char *def, ft_act *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->j, key);
    const char *name = def;
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v))
            return ft_fail(FT_ERR_CONFIG, "%s: field '%s' must be a string", s->path, key);
        name = v->valuestring;
    }
    if (!strcmp(name, "gelu_new") || !strcmp(name, "gelu_pytorch_tanh") || !strcmp(name, "gelu_fast"))
        *out = FT_ACT_GELU_TANH;
    else if (!strcmp(name, "gelu"))
        *out = FT_ACT_GELU_ERF;
    else if (!strcmp(name, "silu") || !strcmp(name, "swish"))
        *out = FT_ACT_SILU;
    else if (!strcmp(name, "relu"))
        *out = FT_ACT_RELU;
    else
        return ft_fail(FT_ERR_CONFIG, "%s: field '%s' = \"%s\" is not supported (gelu_new, gelu, silu, relu)",
                       s->path, key, name);
    return FT_OK;
}

/* Upper bounds on a config's sizes (docs/reliability.md): every tensor's element count (at most
 * CFG_MAX_VOCAB x CFG_MAX_WIDTH = 2^44) and its bytes then fit in 64 bits. Real models are far below. */
#define CFG_MAX_VOCAB (1 << 24)
#define CFG_MAX_WIDTH (1 << 20)
#define CFG_MAX_LAYERS 1024
#define CFG_MAX_POSITIONS (1 << 24)

static ft_status parse_gpt2(const cfg_src *s, ft_model_config *c) {
    FT_TRY(get_int(s, "vocab_size", &c->vocab_size, true, 0));
    FT_TRY(get_int(s, "n_embd", &c->hidden, true, 0));
    FT_TRY(get_int(s, "n_layer", &c->n_layers, true, 0));
    FT_TRY(get_int(s, "n_head", &c->n_heads, true, 0));
    FT_TRY(get_int(s, "n_positions", &c->max_pos, true, 0));
    /* 4·n_embd, saturated so that an oversized n_embd meets the size limits below instead of overflowing */
    FT_TRY(
        get_int(s, "n_inner", &c->intermediate, false, c->hidden > CFG_MAX_WIDTH ? INT_MAX : 4 * c->hidden));
    FT_TRY(get_float(s, "layer_norm_epsilon", &c->norm_eps, 1e-5f));
    FT_TRY(get_float(s, "resid_pdrop", &c->resid_dropout, 0.1f));
    FT_TRY(get_float(s, "embd_pdrop", &c->embd_dropout, 0.1f));
    FT_TRY(get_float(s, "attn_pdrop", &c->attn_dropout, 0.1f));
    FT_TRY(get_float(s, "initializer_range", &c->init_range, 0.02f));
    FT_TRY(get_bool(s, "tie_word_embeddings", &c->tie_embeddings, true));
    FT_TRY(parse_act(s, "activation_function", "gelu_new", &c->act));
    bool scale_attn = true, by_layer = false;
    FT_TRY(get_bool(s, "scale_attn_weights", &scale_attn, true));
    FT_TRY(get_bool(s, "scale_attn_by_inverse_layer_idx", &by_layer, false));
    if (!scale_attn || by_layer)
        return ft_fail(FT_ERR_UNSUPPORTED, "%s: scale_attn_weights=false or scale_attn_by_inverse_layer_idx=true "
                                           "is not supported", s->path);
    c->n_kv_heads = c->n_heads;
    c->qkv_bias = c->o_bias = c->mlp_bias = true;
    c->arch = FT_ARCH_GPT2;
    return FT_OK;
}

static ft_status parse_llama(const cfg_src *s, ft_model_config *c) {
    const bool qwen2 = !strcmp(c->model_type, "qwen2"), mistral = !strcmp(c->model_type, "mistral");
    FT_TRY(get_int(s, "vocab_size", &c->vocab_size, true, 0));
    FT_TRY(get_int(s, "hidden_size", &c->hidden, true, 0));
    FT_TRY(get_int(s, "intermediate_size", &c->intermediate, true, 0));
    FT_TRY(get_int(s, "num_hidden_layers", &c->n_layers, true, 0));
    FT_TRY(get_int(s, "num_attention_heads", &c->n_heads, true, 0));
    FT_TRY(get_int(s, "num_key_value_heads", &c->n_kv_heads, false, c->n_heads));
    FT_TRY(get_int(s, "max_position_embeddings", &c->max_pos, false, 2048));
    FT_TRY(get_float(s, "rms_norm_eps", &c->norm_eps, 1e-6f));
    FT_TRY(get_float(s, "rope_theta", &c->rope_theta, 10000.0f));
    FT_TRY(get_float(s, "initializer_range", &c->init_range, 0.02f));
    FT_TRY(get_float(s, "attention_dropout", &c->attn_dropout, 0.0f));
    FT_TRY(get_bool(s, "tie_word_embeddings", &c->tie_embeddings, false));
    FT_TRY(parse_act(s, "hidden_act", "silu", &c->act));
    if (c->act != FT_ACT_SILU)
        return ft_fail(FT_ERR_UNSUPPORTED, "%s: hidden_act must be silu for %s (SwiGLU MLP)", s->path,
                       c->model_type);
    bool attn_bias = false;
    FT_TRY(get_bool(s, "attention_bias", &attn_bias, false));
    FT_TRY(get_bool(s, "mlp_bias", &c->mlp_bias, false));
    c->qkv_bias = qwen2 ? true : attn_bias;
    c->o_bias = qwen2 ? false : attn_bias;
    if (qwen2 || mistral) /* these configs do not have the llama-only keys */
        c->mlp_bias = false;
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(s->j, "head_dim");
    if (hd && !cJSON_IsNull(hd))
        FT_TRY(get_int(s, "head_dim", &c->head_dim, true, 0));
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(s->j, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
        if (!t)
            t = cJSON_GetObjectItemCaseSensitive(rs, "type");
        if (!cJSON_IsString(t) || strcmp(t->valuestring, "default") != 0)
            return ft_fail(FT_ERR_UNSUPPORTED, "%s: rope_scaling of type '%s' is not supported yet", s->path,
                           cJSON_IsString(t) ? t->valuestring : "?");
    }
    int sw = 0;
    bool use_sw = mistral;
    if (qwen2)
        FT_TRY(get_bool(s, "use_sliding_window", &use_sw, false));
    if (use_sw)
        FT_TRY(get_int(s, "sliding_window", &sw, false, 0));
    c->sliding_window = sw;
    c->arch = FT_ARCH_LLAMA;
    return FT_OK;
}

static ft_status get_str(const cfg_src *s, const char *key, const char **out, const char *def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->j, key);
    *out = def;
    if (!v || cJSON_IsNull(v))
        return FT_OK;
    if (!cJSON_IsString(v))
        return ft_fail(FT_ERR_CONFIG, "%s: field '%s' must be a string", s->path, key);
    *out = v->valuestring;
    return FT_OK;
}

/* BERT, RoBERTa, XLM-RoBERTa (BertConfig / RobertaConfig fields); post-LN blocks, learned absolute positions.
 */
static ft_status parse_bert(const cfg_src *s, ft_model_config *c) {
    const bool roberta = strcmp(c->model_type, "bert") != 0;
    FT_TRY(get_int(s, "vocab_size", &c->vocab_size, true, 0));
    FT_TRY(get_int(s, "hidden_size", &c->hidden, false, 768));
    FT_TRY(get_int(s, "num_hidden_layers", &c->n_layers, false, 12));
    FT_TRY(get_int(s, "num_attention_heads", &c->n_heads, false, 12));
    FT_TRY(get_int(s, "intermediate_size", &c->intermediate, false, 3072));
    FT_TRY(get_int(s, "max_position_embeddings", &c->max_pos, false, 512));
    FT_TRY(get_int(s, "type_vocab_size", &c->type_vocab_size, false, 2));
    FT_TRY(get_int(s, "pad_token_id", &c->pad_token_id, false, roberta ? 1 : 0));
    FT_TRY(get_float(s, "layer_norm_eps", &c->norm_eps, 1e-12f));
    FT_TRY(get_float(s, "hidden_dropout_prob", &c->resid_dropout, 0.1f));
    FT_TRY(get_float(s, "attention_probs_dropout_prob", &c->attn_dropout, 0.1f));
    FT_TRY(get_float(s, "classifier_dropout", &c->cls_dropout, c->resid_dropout));
    FT_TRY(get_float(s, "initializer_range", &c->init_range, 0.02f));
    FT_TRY(parse_act(s, "hidden_act", "gelu", &c->act));
    const char *pet;
    bool dec = false, cross = false;
    FT_TRY(get_str(s, "position_embedding_type", &pet, "absolute"));
    FT_TRY(get_bool(s, "is_decoder", &dec, false));
    FT_TRY(get_bool(s, "add_cross_attention", &cross, false));
    if (strcmp(pet, "absolute") != 0)
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "%s: position_embedding_type '%s' is not supported (only absolute)", s->path, pet);
    if (dec || cross)
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "%s: is_decoder / add_cross_attention %s is not supported (encoders only)", s->path,
                       c->model_type);
    c->embd_dropout = c->resid_dropout;
    c->n_kv_heads = c->n_heads;
    c->qkv_bias = c->o_bias = c->mlp_bias = true;
    c->enc = roberta ? FT_ENC_ROBERTA : FT_ENC_BERT;
    c->arch = FT_ARCH_BERT;
    return FT_OK;
}

/* DistilBERT (DistilBertConfig fields): BERT's block under other names, no token types, no pooler. */
static ft_status parse_distilbert(const cfg_src *s, ft_model_config *c) {
    FT_TRY(get_int(s, "vocab_size", &c->vocab_size, true, 0));
    FT_TRY(get_int(s, "dim", &c->hidden, false, 768));
    FT_TRY(get_int(s, "n_layers", &c->n_layers, false, 6));
    FT_TRY(get_int(s, "n_heads", &c->n_heads, false, 12));
    FT_TRY(get_int(s, "hidden_dim", &c->intermediate, false, 3072));
    FT_TRY(get_int(s, "max_position_embeddings", &c->max_pos, false, 512));
    FT_TRY(get_int(s, "pad_token_id", &c->pad_token_id, false, 0));
    FT_TRY(get_float(s, "dropout", &c->resid_dropout, 0.1f));
    FT_TRY(get_float(s, "attention_dropout", &c->attn_dropout, 0.1f));
    FT_TRY(get_float(s, "seq_classif_dropout", &c->cls_dropout, 0.2f));
    FT_TRY(get_float(s, "qa_dropout", &c->qa_dropout, 0.1f)); /* before qa_outputs (QA head) */
    FT_TRY(get_float(s, "initializer_range", &c->init_range, 0.02f));
    FT_TRY(parse_act(s, "activation", "gelu", &c->act));
    bool sinus = false;
    FT_TRY(get_bool(s, "sinusoidal_pos_embds", &sinus, false));
    if (sinus)
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "%s: sinusoidal_pos_embds true is not supported (learned positions only)", s->path);
    c->norm_eps = 1e-12f; /* DistilBERT's LayerNorms use eps 1e-12, not a config field */
    c->embd_dropout = c->resid_dropout;
    c->n_kv_heads = c->n_heads;
    c->qkv_bias = c->o_bias = c->mlp_bias = true;
    c->enc = FT_ENC_DISTILBERT;
    c->arch = FT_ARCH_DISTILBERT;
    return FT_OK;
}

/* A square size given as an integer or a pair [n, n] (HF ViTConfig accepts both); a non-square pair is refused. */
static ft_status get_square(const cfg_src *s, const char *key, int *out, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->j, key);
    if (cJSON_IsArray(v)) {
        const cJSON *a = cJSON_GetArrayItem(v, 0), *b = cJSON_GetArrayItem(v, 1);
        if (cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(a) || !cJSON_IsNumber(b))
            return ft_fail(FT_ERR_CONFIG, "%s: field '%s' must be an integer or a pair [height, width]", s->path,
                           key);
        if (a->valuedouble != b->valuedouble)
            return ft_fail(FT_ERR_UNSUPPORTED, "%s: field '%s' = [%g, %g]: non-square sizes are not supported",
                           s->path, key, a->valuedouble, b->valuedouble);
        v = a;
    }
    if (v && !cJSON_IsNull(v) &&
        (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 ||
         v->valuedouble > 65536))
        return ft_fail(FT_ERR_CONFIG, "%s: field '%s' must be an integer in [1, 65536]", s->path, key);
    *out = v && !cJSON_IsNull(v) ? (int)v->valuedouble : def;
    return FT_OK;
}

/* ViT (ViTConfig fields): patch embedding, [CLS], learned positions, pre-LN blocks (models/vit.c). */
static ft_status parse_vit(const cfg_src *s, ft_model_config *c) {
    FT_TRY(get_int(s, "hidden_size", &c->hidden, false, 768));
    FT_TRY(get_int(s, "num_hidden_layers", &c->n_layers, false, 12));
    FT_TRY(get_int(s, "num_attention_heads", &c->n_heads, false, 12));
    FT_TRY(get_int(s, "intermediate_size", &c->intermediate, false, 3072));
    FT_TRY(get_int(s, "num_channels", &c->num_channels, false, 3));
    FT_TRY(get_square(s, "image_size", &c->image_size, 224));
    FT_TRY(get_square(s, "patch_size", &c->patch_size, 16));
    FT_TRY(get_float(s, "layer_norm_eps", &c->norm_eps, 1e-12f));
    FT_TRY(get_float(s, "hidden_dropout_prob", &c->resid_dropout, 0.0f));
    FT_TRY(get_float(s, "attention_probs_dropout_prob", &c->attn_dropout, 0.0f));
    FT_TRY(get_float(s, "initializer_range", &c->init_range, 0.02f));
    FT_TRY(get_bool(s, "qkv_bias", &c->qkv_bias, true));
    FT_TRY(parse_act(s, "hidden_act", "gelu", &c->act));
    int pool = 0;
    const char *pact;
    FT_TRY(get_int(s, "pooler_output_size", &pool, false, c->hidden));
    FT_TRY(get_str(s, "pooler_act", &pact, "tanh"));
    if (pool != c->hidden || strcmp(pact, "tanh") != 0)
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "%s: pooler_output_size %d / pooler_act '%s' are not supported (hidden_size, tanh)", s->path,
                       pool, pact);
    if (c->num_channels < 1 || c->num_channels > 64)
        return ft_fail(FT_ERR_CONFIG, "%s: num_channels %d must be in [1, 64]", s->path, c->num_channels);
    if (c->image_size % c->patch_size != 0)
        return ft_fail(FT_ERR_UNSUPPORTED, "%s: image_size %d is not a multiple of patch_size %d", s->path,
                       c->image_size, c->patch_size);
    const int64_t g = c->image_size / c->patch_size;
    if (g * g + 1 > CFG_MAX_POSITIONS)
        return ft_fail(FT_ERR_CONFIG, "%s: %lld patches exceed ftune's limit of %d positions", s->path,
                       (long long)(g * g), CFG_MAX_POSITIONS);
    c->max_pos = (int)(g * g) + 1;
    c->embd_dropout = c->resid_dropout;
    c->cls_dropout = 0.0f; /* ViTForImageClassification: no dropout before the classifier */
    c->n_kv_heads = c->n_heads;
    c->o_bias = c->mlp_bias = true;
    c->arch = FT_ARCH_VIT;
    return FT_OK;
}

/* T5 / mT5 (T5Config fields): encoder-decoder, RMS norms without bias, relative position buckets
 * (models/t5.c). n_layers = num_layers + num_decoder_layers; init_range holds initializer_factor. */
static ft_status parse_t5(const cfg_src *s, ft_model_config *c) {
    int n_enc = 0;
    const bool mt5 = !strcmp(c->model_type, "mt5"); /* MT5Config's defaults differ (mt5-small's shape) */
    FT_TRY(get_int(s, "vocab_size", &c->vocab_size, false, mt5 ? 250112 : 32128));
    FT_TRY(get_int(s, "d_model", &c->hidden, false, 512));
    FT_TRY(get_int(s, "d_kv", &c->head_dim, false, 64));
    FT_TRY(get_int(s, "d_ff", &c->intermediate, false, mt5 ? 1024 : 2048));
    FT_TRY(get_int(s, "num_layers", &n_enc, false, mt5 ? 8 : 6));
    FT_TRY(get_int(s, "num_decoder_layers", &c->n_dec_layers, false, n_enc));
    FT_TRY(get_int(s, "num_heads", &c->n_heads, false, mt5 ? 6 : 8));
    FT_TRY(get_int(s, "relative_attention_num_buckets", &c->rel_buckets, false, 32));
    FT_TRY(get_int(s, "relative_attention_max_distance", &c->rel_max_dist, false, 128));
    FT_TRY(get_int(s, "decoder_start_token_id", &c->decoder_start_id, false, 0));
    /* HF None: neither generation nor the labels' shift can start (refused there) */
    if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(s->j, "decoder_start_token_id")))
        c->decoder_start_id = -1;
    FT_TRY(get_float(s, "dropout_rate", &c->resid_dropout, 0.1f));
    FT_TRY(get_float(s, "layer_norm_epsilon", &c->norm_eps, 1e-6f));
    FT_TRY(get_float(s, "initializer_factor", &c->init_range, 1.0f));
    FT_TRY(get_bool(s, "tie_word_embeddings", &c->tie_embeddings, !mt5));
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(s->j, "eos_token_id");
    if (cJSON_IsNumber(eos) && !(eos->valuedouble >= -1 && eos->valuedouble <= (double)(1 << 24)))
        return ft_fail(FT_ERR_CONFIG, "%s: eos_token_id %g is not a token id", s->path, eos->valuedouble);
    c->eos_id = cJSON_IsNumber(eos) ? (int)eos->valuedouble : eos ? -1 : 1;
    const char *ff;
    FT_TRY(get_str(s, "feed_forward_proj", &ff, mt5 ? "gated-gelu" : "relu"));
    /* HF: "ACT" or "gated-ACT"; gated-gelu means gelu_new (tanh) */
    const char *dash = strchr(ff, '-');
    c->gated_ff = dash != NULL;
    const char *act = dash ? dash + 1 : ff;
    if ((dash && (strncmp(ff, "gated-", 6) != 0 || strchr(act, '-'))) ||
        (strcmp(act, "relu") && strcmp(act, "gelu") && strcmp(act, "silu") && strcmp(act, "gelu_new")))
        return ft_fail(
            FT_ERR_UNSUPPORTED,
            "%s: feed_forward_proj '%s' is not supported (relu, gelu, silu, gelu_new, or gated-<one of "
            "them>: gated-gelu, gated-silu)",
            s->path, ff);
    c->act = !strcmp(act, "relu")                                                ? FT_ACT_RELU
             : !strcmp(act, "silu")                                              ? FT_ACT_SILU
             : !strcmp(act, "gelu_new") || (c->gated_ff && !strcmp(act, "gelu")) ? FT_ACT_GELU_TANH
                                                                                 : FT_ACT_GELU_ERF;
    if (n_enc < 1 || c->n_dec_layers < 1)
        return ft_fail(FT_ERR_CONFIG, "%s: num_layers %d and num_decoder_layers %d must be at least 1",
                       s->path, n_enc, c->n_dec_layers);
    if (n_enc > CFG_MAX_LAYERS || c->n_dec_layers > CFG_MAX_LAYERS)
        return ft_fail(FT_ERR_CONFIG, "%s: num_layers %d / num_decoder_layers %d exceed ftune's limit of %d",
                       s->path, n_enc, c->n_dec_layers, CFG_MAX_LAYERS);
    /* the causal bucket rule needs max_exact = buckets/2 ≥ 1 (bidirectional: buckets/4) below max_distance */
    if (c->rel_buckets < 4 || c->rel_buckets > 65536 || c->rel_max_dist <= c->rel_buckets / 2)
        return ft_fail(FT_ERR_CONFIG,
                       "%s: relative_attention_num_buckets %d must be in [4, 65536] and "
                       "relative_attention_max_distance %d above half of it",
                       s->path, c->rel_buckets, c->rel_max_dist);
    if (c->decoder_start_id >= c->vocab_size)
        return ft_fail(FT_ERR_CONFIG, "%s: decoder_start_token_id %d is outside the vocabulary of %d",
                       s->path, c->decoder_start_id, c->vocab_size);
    if (c->head_dim < 1)
        return ft_fail(FT_ERR_CONFIG, "%s: d_kv must be positive", s->path);
    c->n_layers = n_enc + c->n_dec_layers;
    c->n_kv_heads = c->n_heads;
    c->max_pos = CFG_MAX_POSITIONS; /* relative positions: no table bounds the length */
    c->embd_dropout = c->attn_dropout = c->resid_dropout;
    c->pad_token_id = 0; /* T5Config's default */
    c->arch = FT_ARCH_T5;
    return FT_OK;
}

ft_status ft_config_parse(const char *json_text, const char *path, ft_model_config *c) {
    memset(c, 0, sizeof *c);
    c->pad_token_id = -1;
    cJSON *j = cJSON_Parse(json_text);
    if (!j)
        return ft_fail(FT_ERR_FORMAT, "%s: not valid JSON (near '%.20s')", path,
                       cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "?");
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return ft_fail(FT_ERR_FORMAT, "%s: expected a JSON object", path);
    }
    cfg_src s = {path, j};
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    ft_status st;
    if (!cJSON_IsString(mt)) {
        st = ft_fail(FT_ERR_CONFIG, "%s: missing required field 'model_type'", path);
    } else if (strlen(mt->valuestring) >= sizeof c->model_type) {
        st = ft_fail(FT_ERR_CONFIG, "%s: unknown model_type '%.40s'", path, mt->valuestring);
    } else {
        snprintf(c->model_type, sizeof c->model_type, "%s", mt->valuestring);
        if (!strcmp(c->model_type, "gpt2"))
            st = parse_gpt2(&s, c);
        else if (!strcmp(c->model_type, "llama") || !strcmp(c->model_type, "qwen2") ||
                 !strcmp(c->model_type, "mistral"))
            st = parse_llama(&s, c);
        else if (!strcmp(c->model_type, "bert") || !strcmp(c->model_type, "roberta") ||
                 !strcmp(c->model_type, "xlm-roberta"))
            st = parse_bert(&s, c);
        else if (!strcmp(c->model_type, "distilbert"))
            st = parse_distilbert(&s, c);
        else if (!strcmp(c->model_type, "vit"))
            st = parse_vit(&s, c);
        else if (!strcmp(c->model_type, "t5") || !strcmp(c->model_type, "mt5"))
            st = parse_t5(&s, c);
        else
            st =
                ft_fail(FT_ERR_UNSUPPORTED,
                        "%s: unknown model_type '%s' (supported: gpt2, llama, qwen2, mistral, bert, roberta, "
                        "xlm-roberta, distilbert, vit, t5, mt5)",
                        path, c->model_type);
    }
    if (st == FT_OK) {
        int pad = c->pad_token_id; /* the family's default (encoders) or -1 */
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "pad_token_id");
        if (cJSON_IsNumber(p) && (p->valuedouble != floor(p->valuedouble) || p->valuedouble < -1.0 ||
                                  p->valuedouble > 2147483647.0))
            st = ft_fail(FT_ERR_CONFIG, "%s: pad_token_id %g is not an integer id", path, p->valuedouble);
        else if (cJSON_IsNumber(p))
            pad = (int)p->valuedouble;
        c->pad_token_id = pad;
        if (c->head_dim == 0) {
            if (c->n_heads == 0 || c->hidden % c->n_heads != 0)
                st = ft_fail(FT_ERR_CONFIG, "%s: hidden size %d is not divisible by %d heads", path, c->hidden,
                             c->n_heads);
            else
                c->head_dim = c->hidden / c->n_heads;
        }
    }
    if (st == FT_OK) {
        if ((c->vocab_size <= 0 && c->arch != FT_ARCH_VIT) || c->hidden <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->max_pos <= 0 ||
            c->intermediate <= 0)
            st = ft_fail(FT_ERR_CONFIG, "%s: sizes must be positive (vocab %d, hidden %d, layers %d, heads %d, "
                                        "positions %d, intermediate %d)",
                         path, c->vocab_size, c->hidden, c->n_layers, c->n_heads, c->max_pos, c->intermediate);
        else if (c->vocab_size > CFG_MAX_VOCAB || c->hidden > CFG_MAX_WIDTH ||
                 c->intermediate > CFG_MAX_WIDTH || (int64_t)c->n_heads * c->head_dim > CFG_MAX_WIDTH ||
                 c->n_layers > CFG_MAX_LAYERS || c->max_pos > CFG_MAX_POSITIONS ||
                 c->type_vocab_size > CFG_MAX_VOCAB)
            st = ft_fail(
                FT_ERR_CONFIG,
                "%s: sizes beyond ftune's limits (vocab %d and type vocab %d <= %d; hidden %d, intermediate "
                "%d, heads %d x head_dim %d <= %d; layers %d <= %d; positions %d <= %d)",
                path, c->vocab_size, c->type_vocab_size, CFG_MAX_VOCAB, c->hidden, c->intermediate,
                c->n_heads, c->head_dim, CFG_MAX_WIDTH, c->n_layers, CFG_MAX_LAYERS, c->max_pos,
                CFG_MAX_POSITIONS);
        else if (c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads != 0)
            st = ft_fail(FT_ERR_CONFIG, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                         path, c->n_heads, c->n_kv_heads);
        else if (c->arch == FT_ARCH_LLAMA && c->head_dim % 2 != 0)
            st = ft_fail(FT_ERR_CONFIG, "%s: head_dim %d must be even for rotary embeddings", path, c->head_dim);
        else if (c->norm_eps <= 0.0f)
            st = ft_fail(FT_ERR_CONFIG, "%s: the norm epsilon must be positive", path);
        else if ((c->arch == FT_ARCH_BERT || c->arch == FT_ARCH_DISTILBERT) &&
                 c->pad_token_id >= c->vocab_size)
            st = ft_fail(FT_ERR_CONFIG, "%s: pad_token_id %d is outside the vocabulary of %d", path,
                         c->pad_token_id, c->vocab_size);
        else if (c->cls_dropout < 0 || c->cls_dropout >= 1 || c->resid_dropout < 0 || c->resid_dropout >= 1 ||
                 c->embd_dropout < 0 || c->embd_dropout >= 1 || c->attn_dropout < 0 || c->attn_dropout >= 1)
            st = ft_fail(FT_ERR_CONFIG, "%s: dropout rates must be in [0, 1)", path);
    }
    if (st != FT_OK) {
        cJSON_Delete(j);
        c->raw = NULL;
        return st;
    }
    c->raw = j;
    return FT_OK;
}

/* Defaults for `ftune init`: a partial JSON gets model_type and the architecture's usual fields. */
ft_status ft_config_from_partial(const char *json_text, const char *path, const char *arch, ft_model_config *cfg) {
    cJSON *j = cJSON_Parse(json_text);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return ft_fail(FT_ERR_FORMAT, "%s: not a JSON object", path);
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    const char *type = cJSON_IsString(mt) ? mt->valuestring : arch;
    if (!cJSON_IsString(mt))
        cJSON_AddStringToObject(j, "model_type", arch);
    if (!strcmp(type, "gpt2")) {
        const char *arr[] = {"GPT2LMHeadModel"};
        if (!cJSON_GetObjectItem(j, "architectures"))
            cJSON_AddItemToObject(j, "architectures", cJSON_CreateStringArray(arr, 1));
        if (!cJSON_GetObjectItem(j, "activation_function"))
            cJSON_AddStringToObject(j, "activation_function", "gelu_new");
        if (!cJSON_GetObjectItem(j, "layer_norm_epsilon"))
            cJSON_AddNumberToObject(j, "layer_norm_epsilon", 1e-5);
        if (!cJSON_GetObjectItem(j, "n_inner"))
            cJSON_AddNullToObject(j, "n_inner");
    } else if (!strcmp(type, "bert") || !strcmp(type, "roberta") || !strcmp(type, "xlm-roberta")) {
        const bool rob = strcmp(type, "bert") != 0;
        const char *arr[] = {!rob                       ? "BertModel"
                             : !strcmp(type, "roberta") ? "RobertaModel"
                                                        : "XLMRobertaModel"};
        if (!cJSON_GetObjectItem(j, "architectures"))
            cJSON_AddItemToObject(j, "architectures", cJSON_CreateStringArray(arr, 1));
        if (!cJSON_GetObjectItem(j, "hidden_act"))
            cJSON_AddStringToObject(j, "hidden_act", "gelu");
        if (!cJSON_GetObjectItem(j, "layer_norm_eps"))
            cJSON_AddNumberToObject(j, "layer_norm_eps", 1e-12);
        if (!cJSON_GetObjectItem(j, "pad_token_id"))
            cJSON_AddNumberToObject(j, "pad_token_id", rob ? 1 : 0);
        if (!cJSON_GetObjectItem(j, "type_vocab_size"))
            cJSON_AddNumberToObject(j, "type_vocab_size", rob ? 1 : 2);
        if (!cJSON_GetObjectItem(j, "position_embedding_type"))
            cJSON_AddStringToObject(j, "position_embedding_type", "absolute");
    } else if (!strcmp(type, "vit")) {
        const char *arr[] = {"ViTModel"};
        if (!cJSON_GetObjectItem(j, "architectures"))
            cJSON_AddItemToObject(j, "architectures", cJSON_CreateStringArray(arr, 1));
        static const char *const ints[][2] = {{"hidden_size", "768"}, {"num_hidden_layers", "12"},
                                              {"num_attention_heads", "12"}, {"intermediate_size", "3072"},
                                              {"image_size", "224"}, {"patch_size", "16"},
                                              {"num_channels", "3"}, {"encoder_stride", "16"}};
        for (size_t k = 0; k < sizeof ints / sizeof *ints; k++)
            if (!cJSON_GetObjectItem(j, ints[k][0]))
                cJSON_AddNumberToObject(j, ints[k][0], atoi(ints[k][1]));
        if (!cJSON_GetObjectItem(j, "hidden_act"))
            cJSON_AddStringToObject(j, "hidden_act", "gelu");
        if (!cJSON_GetObjectItem(j, "layer_norm_eps"))
            cJSON_AddNumberToObject(j, "layer_norm_eps", 1e-12);
        if (!cJSON_GetObjectItem(j, "qkv_bias"))
            cJSON_AddBoolToObject(j, "qkv_bias", true);
        if (!cJSON_GetObjectItem(j, "hidden_dropout_prob"))
            cJSON_AddNumberToObject(j, "hidden_dropout_prob", 0.0);
        if (!cJSON_GetObjectItem(j, "attention_probs_dropout_prob"))
            cJSON_AddNumberToObject(j, "attention_probs_dropout_prob", 0.0);
    } else if (!strcmp(type, "t5") || !strcmp(type, "mt5")) {
        const char *arr[] = {type[0] == 'm' ? "MT5ForConditionalGeneration" : "T5ForConditionalGeneration"};
        if (!cJSON_GetObjectItem(j, "architectures"))
            cJSON_AddItemToObject(j, "architectures", cJSON_CreateStringArray(arr, 1));
        if (!cJSON_GetObjectItem(j, "is_encoder_decoder"))
            cJSON_AddBoolToObject(j, "is_encoder_decoder", true);
        if (!cJSON_GetObjectItem(j, "feed_forward_proj")) /* T5Config's / MT5Config's defaults */
            cJSON_AddStringToObject(j, "feed_forward_proj", type[0] == 'm' ? "gated-gelu" : "relu");
        if (!cJSON_GetObjectItem(j, "tie_word_embeddings"))
            cJSON_AddBoolToObject(j, "tie_word_embeddings", type[0] != 'm');
        static const char *const t5d[][2] = {{"decoder_start_token_id", "0"},
                                             {"pad_token_id", "0"},
                                             {"eos_token_id", "1"},
                                             {"relative_attention_num_buckets", "32"},
                                             {"relative_attention_max_distance", "128"}};
        for (size_t k = 0; k < sizeof t5d / sizeof *t5d; k++)
            if (!cJSON_GetObjectItem(j, t5d[k][0]))
                cJSON_AddNumberToObject(j, t5d[k][0], atoi(t5d[k][1]));
        if (!cJSON_GetObjectItem(j, "layer_norm_epsilon"))
            cJSON_AddNumberToObject(j, "layer_norm_epsilon", 1e-6);
        if (!cJSON_GetObjectItem(j, "initializer_factor"))
            cJSON_AddNumberToObject(j, "initializer_factor", 1.0);
    } else if (!strcmp(type, "distilbert")) {
        const char *arr[] = {"DistilBertModel"};
        if (!cJSON_GetObjectItem(j, "architectures"))
            cJSON_AddItemToObject(j, "architectures", cJSON_CreateStringArray(arr, 1));
        if (!cJSON_GetObjectItem(j, "activation"))
            cJSON_AddStringToObject(j, "activation", "gelu");
        if (!cJSON_GetObjectItem(j, "pad_token_id"))
            cJSON_AddNumberToObject(j, "pad_token_id", 0);
        if (!cJSON_GetObjectItem(j, "sinusoidal_pos_embds"))
            cJSON_AddBoolToObject(j, "sinusoidal_pos_embds", false);
    } else {
        const char *arr[] = {!strcmp(type, "qwen2") ? "Qwen2ForCausalLM"
                             : !strcmp(type, "mistral") ? "MistralForCausalLM" : "LlamaForCausalLM"};
        if (!cJSON_GetObjectItem(j, "architectures"))
            cJSON_AddItemToObject(j, "architectures", cJSON_CreateStringArray(arr, 1));
        if (!cJSON_GetObjectItem(j, "hidden_act"))
            cJSON_AddStringToObject(j, "hidden_act", "silu");
        if (!cJSON_GetObjectItem(j, "rms_norm_eps"))
            cJSON_AddNumberToObject(j, "rms_norm_eps", 1e-6);
        if (!cJSON_GetObjectItem(j, "rope_theta"))
            cJSON_AddNumberToObject(j, "rope_theta", 10000.0);
    }
    if (!cJSON_GetObjectItem(j, "initializer_range") && strcmp(type, "t5") && strcmp(type, "mt5"))
        cJSON_AddNumberToObject(j, "initializer_range", 0.02); /* T5 has initializer_factor instead */
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    if (!txt)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    ft_status s = ft_config_parse(txt, path, cfg);
    cJSON_free(txt);
    return s;
}

void ft_config_free(ft_model_config *cfg) {
    cJSON_Delete(cfg->raw);
    cfg->raw = NULL;
}
