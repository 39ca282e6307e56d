/* models: decoder-only transformers (GPT-2, Llama family) and BERT-family encoders (BERT, RoBERTa,
 * XLM-RoBERTa, DistilBERT) built from HF config.json + safetensors, parameters held under their exact
 * HF names, forward/backward with an explicit activation cache. */
#ifndef FT_MODEL_H
#define FT_MODEL_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "core/core.h"
#include "io/safetensors.h"
#include "kernels/kernels.h" /* ft_act */
#include "nn/linear.h"

typedef enum {
    FT_ARCH_GPT2 = 0,
    FT_ARCH_LLAMA,
    FT_ARCH_BERT,
    FT_ARCH_DISTILBERT,
    FT_ARCH_VIT,
    FT_ARCH_T5
} ft_arch;
/* FT_ARCH_T5: the T5 encoder-decoder (models/t5.c, HF T5ForConditionalGeneration, also mt5): n_layers counts
 * the blocks of both stacks, encoder blocks first (layers[0, n_layers − n_dec_layers)), then the decoder's.
 */
/* FT_ARCH_VIT: the Vision Transformer (models/vit.c, HF ViTModel / ViTForImageClassification): pixels in
 * (ft_batch.pixel_values), patch embedding + [CLS] + learned positions, pre-LN blocks, no vocabulary. */
/* The encoder variants sharing FT_ARCH_BERT's block (models/encoder.c): RoBERTa's position ids start
 * past the padding index and its head is dense+tanh+out_proj on <s>. */
typedef enum { FT_ENC_BERT = 0, FT_ENC_ROBERTA, FT_ENC_DISTILBERT } ft_enc_variant;
/* What the model's output is trained for: next-token CE (causal LM / instruction tuning), a class
 * from the last non-padding token (HF *ForSequenceClassification), a regression value (MSE), or a class
 * per token (encoders' HF *ForTokenClassification: `classifier` on every final hidden state, CE over the
 * batch's per-token labels ≠ −100). */
typedef enum {
    FT_TASK_CAUSAL_LM = 0,
    FT_TASK_SEQ_CLS,
    FT_TASK_REGRESSION,
    FT_TASK_QA,
    FT_TASK_TOKEN_CLS,
    FT_TASK_MASKED_LM, /* encoders: CE on the labelled (masked) positions, HF *ForMaskedLM */
    FT_TASK_SEQ2SEQ    /* data and runs only: source -> target pairs for an encoder-decoder (T5), whose
                          head is its LM head (m->task stays FT_TASK_CAUSAL_LM) */
} ft_task;
/* FT_TASK_QA: extractive question answering (HF *ForQuestionAnswering, encoders only): qa_outputs
 * [2, hidden] + bias on every token gives start and end logits; loss (CE(start) + CE(end)) / 2. */

typedef struct {
    char model_type[32]; /* "gpt2", "llama", "qwen2", "mistral" */
    ft_arch arch;
    int vocab_size, hidden, n_layers, n_heads, n_kv_heads, head_dim, intermediate, max_pos;
    float norm_eps, rope_theta, init_range;
    bool tie_embeddings, qkv_bias, o_bias, mlp_bias;
    ft_act act;
    float resid_dropout, embd_dropout, attn_dropout;
    int sliding_window; /* 0 = none */
    int pad_token_id;   /* -1 = none */
    /* encoders (FT_ARCH_BERT / FT_ARCH_DISTILBERT) */
    ft_enc_variant enc;
    int type_vocab_size; /* token-type rows (0 = none: DistilBERT) */
    float cls_dropout;   /* the classification head's dropout (classifier_dropout / seq_classif_dropout) */
    float qa_dropout;    /* DistilBERT's dropout before qa_outputs (qa_dropout); BERT/RoBERTa have none */
    /* ViT (FT_ARCH_VIT): square images of image_size pixels cut into patch_size² patches of num_channels;
     * max_pos = 1 + (image_size / patch_size)², vocab_size 0 */
    int image_size, patch_size, num_channels;
    /* T5 (FT_ARCH_T5): decoder blocks (num_decoder_layers), relative-position buckets and their max distance,
     * decoder_start_token_id (-1: null in config.json), eos_token_id (-1 none), a gated feed-forward
     * (gated-gelu / gated-silu) */
    int n_dec_layers, rel_buckets, rel_max_dist, decoder_start_id, eos_id;
    bool gated_ff;
    cJSON *raw;         /* the config.json as read; written back on save */
} ft_model_config;

/* Parse config.json text (path is for messages). Fills cfg and keeps the JSON in cfg->raw. */
ft_status ft_config_parse(const char *json_text, const char *path, ft_model_config *cfg);
/* Fill defaults of model_type for a partial config (used by `ftune init`), then parse. */
ft_status ft_config_from_partial(const char *json_text, const char *path, const char *arch, ft_model_config *cfg);
void ft_config_free(ft_model_config *cfg);

#define FT_PARAM_MAX_DIMS 4
typedef struct {
    char *name; /* exact HF name, e.g. transformer.h.0.attn.c_attn.weight */
    int ndim;
    int64_t shape[FT_PARAM_MAX_DIMS];
    int64_t numel;
    float *data;  /* fp32 view: into the mapping (frozen, fp32 file) or owned */
    float *grad;  /* NULL unless trainable */
    bool trainable, owned;
    bool extra;   /* not a base-model weight: a head or a PEFT tensor attached after load */
    char *alias;  /* the name it had in a loaded adapter file when that differs (NULL = canonical) */
    ft_dtype file_dtype;
    uint16_t *data16; /* bf16 copy for the bf16 compute path (GEMM weights only), owned, or NULL */
    /* A frozen base weight used in place from the checkpoint's read-only mapping in its file dtype
     * (file_dtype BF16 or F16), data NULL: train.base_dtype file / auto (ft_model_load_base). Readers go
     * through ft_lin (wh), ft_param_rows or ft_model_param_widen. */
    const uint16_t *half;
    bool half_owned; /* half is an owned buffer (ft_model_init_random_bf16), not the mapping */
    /* A frozen base weight quantized at load (train.base_dtype int8), data and half NULL: q8 [numel] owned,
     * symmetric per stored row (an nn.Linear's output channel; GPT-2 Conv1D's input row): value =
     * (float)q8[r·cols + j]·q8_scale[r], q8 in [-127, 127], q8_scale[r] = max|row r| / 127. Readers go
     * through ft_lin (wq), ft_param_at / ft_param_rows or ft_model_param_widen, like half. */
    int8_t *q8;
    float *q8_scale;
    bool q8_mapped; /* q8 points into the mapping of a saved int8 checkpoint (not owned; scales owned) */
} ft_param;

/* A saved int8 checkpoint (ft_model_save with FT_DT_I8) stores each linear site's weight W as I8 under its
 * own name and its per-row scales as F32 [rows, 1] under W's name + this suffix. */
#define FT_Q8_SCALE_SUFFIX "_scale"

/* Indices into ft_model.params per layer (-1 when the architecture has no such tensor). */
typedef struct {
    int ln1_w, ln1_b, ln2_w, ln2_b;
    int qkv_w, qkv_b;                  /* GPT-2 fused c_attn */
    int q_w, q_b, k_w, k_b, v_w, v_b;  /* Llama family */
    int o_w, o_b;
    int fc_w, fc_b, proj_w, proj_b;    /* GPT-2 MLP */
    int gate_w, gate_b, up_w, up_b, down_w, down_b; /* SwiGLU MLP */
    int xq_w, xk_w, xv_w, xo_w, ln3_w; /* T5 decoder: cross-attention (EncDecAttention), the FF's norm */
} ft_layer_idx;

/* The linear layers of a block where PEFT methods hook in. */
typedef enum {
    FT_SITE_QKV = 0, /* GPT-2 attn.c_attn */
    FT_SITE_Q, FT_SITE_K, FT_SITE_V,
    FT_SITE_O,       /* GPT-2 attn.c_proj, Llama self_attn.o_proj */
    FT_SITE_FC,      /* GPT-2 mlp.c_fc */
    FT_SITE_PROJ,    /* GPT-2 mlp.c_proj */
    FT_SITE_GATE, FT_SITE_UP, FT_SITE_DOWN,
    FT_SITE_XQ, FT_SITE_XK, FT_SITE_XV, FT_SITE_XO, /* T5 decoder cross-attention (EncDecAttention.q/k/v/o) */
    FT_N_SITES
} ft_site;

/* PEFT tensors attached to one linear site (param indices, -1 = none). */
typedef struct {
    int lora_a, lora_b, r;
    int dora_m; /* DoRA magnitude [out], -1 = plain LoRA */
    float lora_scale, lora_dropout;
    int ia3;
    bool ia3_in; /* feed-forward module: scales the input */
} ft_site_peft;

/* The embedding tables PEFT's LoRA can wrap (lora.Embedding): the token table (GPT-2 transformer.wte,
 * Llama model.embed_tokens) and GPT-2's position table (transformer.wpe). */
typedef enum { FT_EMB_TOKENS = 0, FT_EMB_POSITIONS, FT_N_EMB } ft_emb;

/* LoRA on an embedding table E [V, C]: y = E[x] + s·Aᵀ[x]·Bᵀ, A [r, V], B [C, r] (param indices, -1 none). */
typedef struct {
    int lora_a, lora_b, r;
    float lora_scale;
} ft_emb_peft;

/* A bottleneck adapter on a block's branch output: o + up(act(down(o))). */
typedef struct {
    int down_w, down_b, up_w, up_b; /* -1 when absent */
} ft_adapter_idx;

/* Compute precision of the matrix products (models/precision.c). */
typedef enum { FT_PREC_FP32 = 0, FT_PREC_BF16 } ft_precision;
struct ft_matmul;

typedef struct ft_model {
    ft_model_config cfg;
    ft_param *params;
    int n_params;
    ft_layer_idx *layers;
    int wte, wpe, lnf_w, lnf_b, lm_head; /* lm_head == wte when tied; ft_peft_merge of an embedding LoRA
                                            unties it (lm_head becomes an extra "lm_head.weight") */
    /* PEFT attachments (see peft/peft.h) */
    ft_site_peft *sites;                  /* [n_layers * FT_N_SITES] */
    ft_adapter_idx *adapters;             /* [n_layers * 2]: 0 after attention, 1 after the MLP */
    ft_act adapter_act;
    int prompt;                           /* "prompt_embeddings" [n_virtual, hidden], -1 = none */
    int n_virtual;
    int peft_method;                      /* ft_method of the attached adapter (0 = full) */
    ft_site_peft *merged_sites;           /* what ft_peft_merge folded in (for unmerge), or NULL */
    ft_emb_peft emb[FT_N_EMB];            /* LoRA on the embedding tables */
    ft_emb_peft merged_emb[FT_N_EMB];     /* what ft_peft_merge folded into them (valid with merged_sites) */
    int merged_method;
    cJSON *peft_config;                   /* adapter_config.json to save with the adapter, or NULL */
    ft_task task;
    int n_labels;                         /* SEQ_CLS: classes; REGRESSION: 1 */
    char **label_names;                   /* [n_labels] or NULL */
    int score;                            /* head output weight [n_labels, hidden], -1 = none: decoders
                                             "score.weight"; encoders "classifier.weight" (RoBERTa
                                             "classifier.out_proj.weight") */
    /* encoders: the token-type table, the embedding LayerNorm, BERT's pooler (a base weight) and the rest
     * of the head: its output bias and the dense layer before it (RoBERTa classifier.dense, DistilBERT
     * pre_classifier; -1 = none) */
    int tte, eln_w, eln_b, pool_w, pool_b, score_b, head_w, head_b;
    ft_st_set *st;                        /* keeps the mapping alive */
    bool no_prefetch;                     /* ft_model_prefetch_layer off (to measure what it gains) */
    struct ft_stream *stream; /* the base read layer by layer into slots (models/stream.h), or NULL */
    char *dir;
    ft_precision precision;               /* FT_PREC_BF16: GEMM weights have data16 and run through mm */
    struct ft_matmul *mm;                 /* oneDNN matmul handle (bf16 compute, int8 products) */
    bool int8_matmul;                     /* int8 sites multiply as int8 × int8 (ft_model_set_int8_matmul) */
    int bf16_dirty;                       /* 0 clean, 1 trainable weights changed, 2 any weight changed */
    void *ext;                            /* owned by an upper layer (peft's adapter slots) */
    void (*ext_free)(void *ext);
    /* encoders' masked-LM head (task FT_TASK_MASKED_LM; base weights, the last params of the table, -1 =
     * none): transform dense, its LayerNorm and the decoder's output bias; the decoder weight is the word
     * embedding table (tied). BERT cls.predictions.*, RoBERTa lm_head.*, DistilBERT vocab_*. */
    int mlm_w, mlm_b, mlm_ln_w, mlm_ln_b, mlm_bias;
    bool
        pooler_init; /* BERT's pooler was missing from the checkpoint (a *ForMaskedLM save) and initialized */
    /* ViT: [CLS] token [1,1,C] and the patch projection (Conv2d [C, ch, p, p] + bias); wpe is
     * vit.embeddings.position_embeddings [1, N+1, C] (-1 for the other families) */
    int cls_tok, patch_w, patch_b;
    /* T5: each stack's relative_attention_bias [buckets, heads] (0 encoder, 1 decoder; on block 0) and
     * encoder.final_layer_norm (lnf_w is decoder.final_layer_norm, wte is shared.weight); -1 otherwise */
    int rel_bias[2], enc_lnf;
} ft_model;

/* The Vision Transformer family (models/vit.c). */
bool ft_model_is_vit(const ft_model *m);
/* The T5 encoder-decoder (models/t5.c). */
bool ft_model_is_t5(const ft_model *m);
/* T5's relative position bucket of key position j − query position i (HF _relative_position_bucket):
 * bidirectional (encoder) or causal (decoder), num_buckets buckets, max_distance. */
int ft_t5_bucket(int rel, bool bidirectional, int num_buckets, int max_distance);
/* The T5 encoder alone (generation): *out [*T_enc, hidden] = the encoder's output for source ids [n] (prompt
 * tuning's virtual tokens first: *T_enc = n_virtual + n), no dropout, from the arena. */
ft_status ft_t5_encode(ft_model *m, const int32_t *ids, int n, ft_arena *arena, float **out, int *T_enc);

/* Encoder families (models/encoder.c); the HF prefix of the base model ("bert", "roberta", "distilbert")
 * and of its layers ("bert.encoder.layer", "transformer.h", ...). */
bool ft_model_is_encoder(const ft_model *m);
const char *ft_model_layer_prefix(const ft_model *m);
/* Parameter idx belongs to the task head (trained in full, saved as modules_to_save). */
bool ft_model_is_head(const ft_model *m, int idx);
/* The HF name of the head's [num_labels, hidden] output weight ("score.weight", "classifier.weight",
 * RoBERTa "classifier.out_proj.weight"): its presence in a checkpoint or adapter marks a classifier. */
const char *ft_model_head_weight_name(const ft_model *m);
/* config.json names a token classifier (architectures[0] ends in "ForTokenClassification"). */
bool ft_config_is_token_cls(const cJSON *raw);

/* Load DIR/config.json + safetensors. Tensors are checked for presence and exact shape. */
ft_status ft_model_load(const char *dir, ft_model **out);
/* Where a frozen base weight stored as bf16/f16 lives (train.base_dtype): FP32 converts every tensor at load
 * (ft_model_load); FILE keeps the GEMM weights of a decoder (linear sites, token/position tables, LM head)
 * in place in the mapping in their file dtype (half) and widens them only when something trains or writes
 * them (refused for other families); AUTO is FILE where the family supports it, else FP32; INT8 is FILE for
 * the token/position tables and the LM head, and quantizes the weights of every linear site (attention and
 * MLP projections) to int8 at load, per stored row (ft_param.q8), whatever the file dtype (decoders only). */
typedef enum { FT_BASE_AUTO = 0, FT_BASE_FP32, FT_BASE_FILE, FT_BASE_INT8 } ft_base_dtype;
ft_status ft_base_dtype_parse(const char *s, ft_base_dtype *out);
const char *ft_base_dtype_name(ft_base_dtype b);
ft_status ft_model_load_base(const char *dir, ft_base_dtype base, ft_model **out);
/* An in-place half tensor (param.half) becomes an owned fp32 copy (exact), for what writes it or reads it
 * as fp32 (training it, a merge, DoRA's norm); no-op otherwise. */
ft_status ft_model_param_widen(ft_model *m, int idx);
/* Rows ids[0..n) of a 2-D parameter [rows, cols] as fp32 into dst [n, cols] (add: dst += instead), whatever
 * its storage (fp32 or in-place half). */
void ft_param_rows(const ft_param *p, const int32_t *ids, int64_t n, float *dst, bool add);
/* Value j of a parameter as fp32, whatever its storage. */
static inline float ft_param_at(const ft_param *p, int64_t j) {
    if (p->q8)
        return (float)p->q8[j] * p->q8_scale[j / (p->ndim == 2 ? p->shape[1] : p->numel)];
    if (!p->half)
        return p->data[j];
    return p->file_dtype == FT_DT_F16 ? ft_f16_to_f32(p->half[j]) : ft_bf16_to_f32(p->half[j]);
}
/* Prefetch the weights of a layer used in place from the mapping (bf16/f16 half, a saved int8 checkpoint's
 * q8: ft_prefetch_mapped_pages on each): the forward calls it for layer l+1 before computing l, the backward
 * for l-1; no-op for other weights, an out-of-range layer, or m->no_prefetch (models/stream.c, which walks
 * the same in-place sites). */
void ft_model_prefetch_layer(const ft_model *m, int layer);
/* Before a block computes: `layer` is used now and `next` (−1: none known) after it. With the base streamed
 * (m->stream, models/stream.h) it waits for layer's slot, points its weights there and starts reading next;
 * otherwise it is ft_model_prefetch_layer(m, next). An error is a failed read (file and tensor named). */
ft_status ft_model_layer_begin(const ft_model *m, int layer, int next);
/* Bytes of the base held in place from the mapping as half (bf16/f16) values. */
size_t ft_model_half_bytes(const ft_model *m);
/* Bytes an int8 copy of p takes: its values and one fp32 scale per stored row. */
static inline size_t ft_param_q8_size(const ft_param *p) {
    const int64_t cols = p->ndim == 2 && p->shape[1] > 0 ? p->shape[1] : (p->numel > 0 ? p->numel : 1);
    return (size_t)p->numel + (size_t)(p->numel / cols) * sizeof(float);
}
/* Bytes of the base held quantized (int8 values and their row scales). */
size_t ft_model_q8_bytes(const ft_model *m);
/* Every parameter (base weights and attached head / PEFT tensors) is finite: else FT_ERR_FORMAT naming the
 * first tensor holding NaN or Inf, with the count and the first index. Training calls it: HF loads such a
 * file silently, and every step would then be skipped by the non-finite guard. */
ft_status ft_model_check_finite(const ft_model *m);
/* Random init from a config (HF initializer: N(0, initializer_range), norms 1/0). */
ft_status ft_model_init_random(ft_model_config *cfg, uint64_t seed, ft_model **out);
/* The same values rounded to bf16 and held as bf16 only (owned param.half; one tensor in fp32 at a time): a
 * 7B model in 13.5 GB instead of 27, for writing a bf16 checkpoint (ft_model_save with FT_DT_BF16 writes
 * the same bytes as from ft_model_init_random). For saving, not for running. */
ft_status ft_model_init_random_bf16(ft_model_config *cfg, uint64_t seed, ft_model **out);
void ft_model_free(ft_model *m);
int ft_model_find_param(const ft_model *m, const char *name);
/* A checkpoint tensor of that name is what some base parameter was loaded from (under another name too:
 * gpt2 without "transformer.", a bare BertModel file, old LayerNorm gamma/beta). */
bool ft_model_tensor_used(const ft_model *m, const char *name);
/* Append a parameter (owned, zeroed fp32, `extra`); returns its index or -1 (message set). */
int ft_model_add_param(ft_model *m, const char *name, int ndim, int64_t d0, int64_t d1);
/* The nn/linear description of a site with its PEFT hooks (and the bf16 copy of the weight under
 * precision bf16); grads: point at the gradients of what trains (dropout fields are left for the caller). */
ft_lin ft_model_site_lin(const ft_model *m, int layer, ft_site site, bool grads);
/* The weight operand of an ft_lin from parameter wi (-1: none): fp32 w, or the in-place half wh, and the bf16
 * compute path's copy (or the mapped bf16 itself) with the matmul handle under precision bf16. */
void ft_model_lin_weight(const ft_model *m, int wi, ft_lin *L);
/* Describe a linear site of a layer: weight/bias param indices (-1 if the architecture lacks it),
 * sizes, layout and the HF module path (e.g. "transformer.h.0.attn.c_attn"). false if absent. */
bool ft_model_site(const ft_model *m, int layer, ft_site site, int *w, int *b, int64_t *in, int64_t *out,
                   bool *w_in_out, char *path, size_t path_n);
/* Describe an embedding table: its param index, rows, the padding row that gets no gradient (-1 = none) and
 * the HF module path (e.g. "model.embed_tokens"). false if the architecture has no such table. */
bool ft_model_emb(const ft_model *m, ft_emb e, int *w, int64_t *rows, int32_t *padding_idx, char *path,
                  size_t path_n);
int64_t ft_model_param_count(const ft_model *m, bool trainable_only);
/* Bind a base parameter to its checkpoint tensor again (undoes in-memory changes such as a merge). */
ft_status ft_model_reload_param(ft_model *m, int idx);
/* Mark every parameter trainable (full fine-tuning): copies into owned fp32 memory, allocates grads. */
ft_status ft_model_set_trainable(ft_model *m, int idx, bool trainable);
void ft_model_zero_grad(ft_model *m);
/* Save config.json + model.safetensors (tied weights saved once, as HF saves them) into dir.
 * dtype: FT_DT_F32 or FT_DT_BF16 for the stored weights. */
ft_status ft_model_save(const ft_model *m, const char *dir, ft_dtype dtype);
/* A save dtype's name ("f32"/"float32", "bf16"/"bfloat16", "int8") → FT_DT_F32, FT_DT_BF16, FT_DT_I8. */
ft_status ft_save_dtype_parse(const char *s, ft_dtype *out);

/* Switch the model's output to a task. SEQ_CLS / REGRESSION add a fresh head "score.weight"
 * [n_labels, hidden] (no bias; HF GPT2/LlamaForSequenceClassification), trainable, N(0, init_range);
 * label_names (may be NULL) are saved as id2label/label2id in config.json. The class is read at the
 * last non-padding token of each row. Loading a checkpoint that has score.weight sets the task.
 * MASKED_LM (encoders only): the masked-LM head, from the checkpoint when it has one, else initialized as HF
 * does (dense N(0, init_range), norm 1/0, biases 0); base weights, not extra. Another task drops it. */
ft_status ft_model_set_task(ft_model *m, ft_task task, int n_labels, const char *const *label_names, uint64_t seed);
/* head.reset: a classification / regression head made new (its tensors re-initialized as a fresh head and
 * resized to n_labels outputs, the label names replaced); a model without one gets one (ft_model_set_task).
 * Call before the PEFT method and the precision are set. */
ft_status ft_model_reset_head(ft_model *m, ft_task task, int n_labels, const char *const *label_names,
                              uint64_t seed);

/* The masked-LM head's HF names for the model's variant: transform dense, LayerNorm, decoder bias (k = 0..4:
 * dense.weight, dense.bias, norm weight, norm bias, output bias); NULL for a decoder. */
const char *ft_model_mlm_name(const ft_model *m, int k);
/* The checkpoint the model was loaded from holds a masked-LM head (its transform dense weight). */
bool ft_model_mlm_in_checkpoint(const ft_model *m);

/* ---- compute precision (models/precision.c) ----
 * bf16: every GEMM weight (linear sites, the LM head) gets a bf16 copy; the matrix products of the
 * linear layers and of the fused LM head run as bf16 × bf16 with fp32 accumulation through oneDNN
 * (AVX512-BF16 / AMX), activations rounded to bf16 on the way in, everything else (norms, softmax,
 * losses, LoRA/IA3/adapter maths, gradients, optimizer state, master weights) stays fp32 — what
 * torch.autocast(bfloat16) does on CPU. Frozen fp32 weights that live in the checkpoint's mapping are
 * released from memory after the copy (they fault back in from the file if read again).
 * FT_ERR_UNSUPPORTED when the CPU has no native bf16 (or FTUNE_NO_BF16=1 is set): the model stays fp32
 * and the caller reports the fallback. Setting FT_PREC_FP32 drops the copies. */
ft_status ft_model_set_precision(ft_model *m, ft_precision p);
/* train.int8_matmul: the products of the frozen int8 sites (train.base_dtype int8, an int8 checkpoint) run as
 * int8 × int8 → int32 (oneDNN's VNNI / AMX-INT8 kernels): x (forward) and dy (backward) quantized per row,
 * symmetric, each call (ft_q8_quantize_act), the int32 sums scaled back to fp32 (W8A8 products, weight-only
 * quantization's accuracy cost plus the activations'). FT_ERR_CONFIG when the model has no int8 site,
 * FT_ERR_UNSUPPORTED on a CPU without VNNI (AVX512-VNNI, AVX-VNNI, AMX; FTUNE_NO_VNNI=1 hides it). on = false
 * turns it off. Independent of the precision (bf16 compute keeps the other products in bf16). */
ft_status ft_model_set_int8_matmul(ft_model *m, bool on);
const char *ft_precision_name(ft_precision p);
ft_status ft_precision_parse(const char *s, ft_precision *out);
/* Weights changed in place: all = false for the trainable ones (optimizer step), true for any
 * (merge, reload, checkpoint load). The next forward refreshes the bf16 copies. */
void ft_model_mark_dirty(ft_model *m, bool all);
/* Refresh stale bf16 copies now (ft_model_forward calls it). */
ft_status ft_model_sync_bf16(ft_model *m);
void ft_model_precision_free(ft_model *m);

/* ---- a batch: B rows of T tokens ---- */
typedef struct {
    int B, T;
    int32_t *input_ids;  /* [B*T] */
    int32_t *mask;       /* [B*T] 1 real / 0 pad, or NULL = all real */
    int32_t *type_ids;   /* [B*T] token types (encoders: BERT segment ids), or NULL = all 0 */
    int32_t *labels;     /* [B*T] or NULL = input_ids; -100 ignored; shifted inside the loss (causal LM);
                            TOKEN_CLS: each token's class id, not shifted */
    int32_t *cls_labels; /* [B] class ids (SEQ_CLS task), -100 = ignored */
    float *reg_targets;  /* [B] targets (REGRESSION task) */
    int32_t *start_positions, *end_positions; /* [B] answer span token indices (QA task); clamped to [0, T],
                                                 T = ignored (HF) */
    /* images (ViT): preprocessed pixels [B][img_c][img_h][img_w] (channel-first floats, as HF's image
     * processor gives them); then input_ids may be NULL and T 0 */
    float *pixel_values;
    int img_c, img_h, img_w;
    /* encoder-decoder (T5): the decoder's T_dec tokens; labels are then [B*T_dec]. decoder_input_ids NULL =
     * labels shifted right with decoder_start_token_id (-100 → pad, HF _shift_right); decoder_mask NULL =
     * all real. T_dec 0: the decoder runs on T tokens (labels [B*T]). Other families refuse these fields. */
    int T_dec;
    int32_t *decoder_input_ids, *decoder_mask;
} ft_batch;
/* The sequence length a batch runs at (for arena sizing): n_virtual + T for text, 1 + (H/p)·(W/p) for a
 * ViT's pixel batch, the longer of T and T_dec for T5. */
int ft_model_batch_seq_len(const ft_model *m, const ft_batch *b);
/* Check ids against the vocabulary and T against the positions; message names row and column. */
ft_status ft_batch_validate(const ft_model *m, const ft_batch *b);

typedef struct {
    bool training;     /* dropout on */
    uint64_t seed;     /* dropout RNG */
    uint64_t step;     /* dropout RNG stream */
    bool keep_logits;  /* keep a copy of the logits for the caller (dump, eval) */
    bool no_loss;      /* inference: no labels needed, *loss = NaN, no backward possible */
    float label_smoothing; /* ε: loss = (1−ε)·CE + ε·mean_j(−log p_j), as torch's CrossEntropyLoss */
    /* Fused LM head (causal LM, no label smoothing): the forward computes the head's gradient chunk by
     * chunk (never holding [N,V] logits twice). head_grad_scale is the factor on each target's CE
     * gradient: ≤ 0 = 1/count (the mean loss, backward loss_scale 1); 1 = the summed loss (backward
     * loss_scale = count). ft_model_backward checks that its loss_scale matches. */
    bool fused_head;
    float head_grad_scale;
    /* Activation checkpointing (HF gradient_checkpointing): the forward keeps only each block's input, the
     * backward recomputes a block's forward from it just before that block's backward. The same gradients
     * bit for bit, per-layer activations for one block instead of all, one more forward's compute. */
    bool checkpoint;
    /* Keep each block's norm outputs and MLP activation for the backward. Off (the default), the forward
     * writes them to scratch shared by all blocks and the backward recomputes the ones a trained weight or
     * PEFT tensor needs (a norm or an activation from the kept input: the same function on the same
     * values, so the same bits); ≈ 6 of 16 [N,C]-sized buffers per GPT-2 block fewer. */
    bool keep_recomputable;
    /* Dropout keys (data parallelism, train/trainer.c): this batch is rows drop_row0.. of a larger batch
     * padded drop_pad positions longer, and every dropout mask keys on (row there, position, channel), so a
     * row draws the same masks in either batch. 0, 0: the batch alone (the counters it always had). */
    int64_t drop_row0;
    int drop_pad;
    /* Set by the model's forward in its copy of these options (callers leave 0): the positions per example
     * of its [B·T', C] activations (n_virtual + T for text, 1 + patches for a ViT). */
    int drop_T;
} ft_fwd_opts;

typedef struct ft_acts ft_acts; /* activation cache of one step, from the arena */

/* Forward + loss. *loss = mean CE over non-ignored shifted targets; *count their number.
 * Acts allocated from arena (reset by the caller between steps). */
ft_status ft_model_forward(ft_model *m, const ft_batch *b, const ft_fwd_opts *o, ft_arena *arena, ft_acts **acts,
                           double *loss, int64_t *count);
/* Backward of the loss scaled by loss_scale (1 = mean loss gradient). Accumulates into grads. */
ft_status ft_model_backward(ft_model *m, ft_acts *acts, ft_arena *arena, float loss_scale);
/* The logits kept by forward with keep_logits, or NULL: causal LM [B, T', V] with T' = n_virtual + T,
 * SEQ_CLS/REGRESSION [B, n_labels]; *rows and *cols (optional) get the 2-D shape. */
const float *ft_acts_logits(const ft_acts *a, int64_t *rows, int64_t *cols);
/* The sequence length the model actually ran (n_virtual + T). */
int ft_acts_seq_len(const ft_acts *a);
/* Bytes the activation cache of one step needs (for arena sizing and the memory estimate). */
size_t ft_model_act_bytes(const ft_model *m, int B, int T);
/* The same for a forward/backward with ft_fwd_opts.checkpoint = checkpoint. Both assume the largest head
 * (unfused causal LM logits and their copy); ft_model_act_bytes_opts sizes one kind of forward (+ backward
 * unless o->no_loss) exactly as the options make it run: the fused head's workspace, checkpointing,
 * keep_recomputable, keep_logits. */
size_t ft_model_act_bytes_ckpt(const ft_model *m, int B, int T, bool checkpoint);
size_t ft_model_act_bytes_opts(const ft_model *m, int B, int T, const ft_fwd_opts *o);

#endif
