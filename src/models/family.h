/* models/family: the interface each model family implements (decoder.c: GPT-2 and the Llama family;
 * encoder.c: BERT, RoBERTa, DistilBERT). ft_model_forward / backward / act_bytes and the ft_acts
 * accessors (model.c) dispatch through it, so callers never test the family. Every family's activation
 * cache begins with a pointer to its family (ft_acts is opaque outside the family's file). */
#ifndef FT_MODELS_FAMILY_H
#define FT_MODELS_FAMILY_H

#include "models/model.h"

typedef struct ft_family {
    ft_status (*forward)(ft_model *m, const ft_batch *b, const ft_fwd_opts *o, ft_arena *arena,
                         ft_acts **acts, double *loss, int64_t *count);
    ft_status (*backward)(ft_model *m, ft_acts *acts, ft_arena *arena, float loss_scale);
    size_t (*act_bytes)(const ft_model *m, int B, int T, const ft_fwd_opts *o);
    const float *(*logits)(const ft_acts *a, int64_t *rows, int64_t *cols);
    int (*seq_len)(const ft_acts *a);
} ft_family;

extern const ft_family ft_decoder_family;
extern const ft_family ft_encoder_family;
extern const ft_family ft_vit_family;

/* ---- shared by the families (models/step.c) ---- */
/* A bottleneck adapter on a branch output o [N,C]: y = o + up(act(down(o))); the cache keeps o (not copied),
 * the pre-activation z and the activation h [N,k] from the arena. */
typedef struct {
    float *in, *z, *h;
} ft_adapter_cache;
ft_status ft_model_adapter_forward(const ft_model *m, const ft_adapter_idx *A, ft_adapter_cache *c, int64_t N,
                                   float *y, const float *o, ft_arena *arena);
/* Its backward: dout = dy + d(up(act(down(o))))/do (written), the adapter's gradients accumulated. */
ft_status ft_model_adapter_backward(const ft_model *m, const ft_adapter_idx *A, const ft_adapter_cache *c,
                                    int64_t N, float *dout, const float *dy, ft_arena *arena);
/* The dropout RNG stream of a step's layer (−1 embeddings) and site: distinct for each. */
uint64_t ft_model_drop_stream(const ft_fwd_opts *o, int layer, int site);
/* A linear site with its PEFT hooks, the gradients of what trains and the step's dropout settings. */
ft_lin ft_model_step_lin(const ft_model *m, const ft_fwd_opts *o, int layer, ft_site site);
/* LoRA on the embedding tables (PEFT lora.Embedding, no dropout): x += s·Aᵀ[ids]·Bᵀ (token ids for the token
 * table, position ids pos for the position table) when x is given; else the gradients of A (not of the
 * padding row) and B from dx, when they train. */
void ft_model_emb_lora(const ft_model *m, const int32_t *ids, const int32_t *pos, int64_t N, float *x,
                       const float *dx);
bool ft_model_emb_lora_trains(const ft_model *m);
/* Bytes the PEFT tensors of a layer keep through the step (*keep: LoRA h and its dropped input, DoRA's inner
 * product, IA3's buffer, a bottleneck adapter's z/h and its separate branch output) and the scratch their
 * backward takes and gives back (*tmp). */
void ft_model_peft_layer_bytes(const ft_model *m, int layer, size_t N, size_t *keep, size_t *tmp);
/* A block's branch output (which: 0 attention, 1 MLP): dst = adapter(src) (or src) with residual dropout; dst
 * may be src when there is no adapter. Its backward: *dout = d(src) from dres (d(dst)), through the dropout
 * (into buf) and the adapter (into buf2). */
ft_status ft_model_branch_out(const ft_model *m, const ft_fwd_opts *o, int l, int which, int64_t N,
                              ft_adapter_cache *ad, float *dst, const float *src, ft_arena *arena);
ft_status ft_model_branch_grad(const ft_model *m, const ft_fwd_opts *o, int l, int which, int64_t N,
                               const ft_adapter_cache *ad, float *buf, float *buf2, const float *dres,
                               const float **dout, ft_arena *arena);
/* A pooled head's summed loss over logits [B, K] (SEQ_CLS: cross-entropy over the class labels ≠ −100,
 * checked against K; REGRESSION: squared error); the labels go to the arena (*cls or *reg) for the backward.
 */
ft_status ft_model_head_loss(const ft_model *m, const ft_batch *b, const float *logits, int64_t K,
                             ft_arena *arena, int32_t **cls, float **reg, double *sum, int64_t *count);
/* The step's loss sum / count (NaN for an inference forward), or the error `empty` when nothing counted, or
 * the error of a non-finite loss. */
ft_status ft_model_mean_loss(const ft_fwd_opts *o, double sum, int64_t count, const char *empty,
                             double *loss);
/* n zeroed floats from the arena (NULL when it is full, message set). */
float *ft_model_zeroed(ft_arena *arena, int64_t n);

/* ---- the question-answering span head (models/qa_head.c) ---- */
typedef struct {
    const float *in;  /* [N,C] the head's input (x, or in_d) */
    float *in_d;      /* DistilBERT: dropped input, else NULL */
    float *logits;    /* [N,2] start, end */
    int32_t *sp, *ep; /* [B] clamped positions (T = ignored) */
    int64_t n_s, n_e; /* rows counted by each CE */
    int B, T;
} ft_qa_head_cache;
/* Logits [B*T, 2] from x; unless o->no_loss, the loss ((CE(start) + CE(end)) / 2, HF) as *sum / *count
 * (count = rows with a start target; 0 when either CE has none). */
ft_status ft_model_qa_head_forward(const ft_model *m, const ft_batch *b, const ft_fwd_opts *o, const float *x,
                                   int B, int T, ft_arena *arena, ft_qa_head_cache *c, double *sum,
                                   int64_t *count);
/* dx [N,C] = d(loss·loss_scale)/dx (written), the head's gradients accumulated. */
ft_status ft_model_qa_head_backward(ft_model *m, const ft_fwd_opts *o, const ft_qa_head_cache *c, float *dx,
                                    float loss_scale, ft_arena *arena);
size_t ft_model_qa_head_bytes(const ft_model *m, int B, int T, const ft_fwd_opts *o);

#endif
