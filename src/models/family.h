/* models/family: the interface each model family implements (decoder.c: GPT-2 and the Llama family;
 * encoder.c: BERT, RoBERTa, DistilBERT). ft_model_forward / backward / act_bytes and the ft_acts
 * accessors (model.c) dispatch through it, so callers never test the family. Every family's activation
 * cache begins with a pointer to its family (ft_acts is opaque outside the family's file). */
#ifndef FT_MODELS_FAMILY_H
#define FT_MODELS_FAMILY_H

#include "models/model.h"

/* Shorthands of the family files (m and arena in scope): a parameter's data or gradient (NULL for index -1 or
 * a frozen tensor), and an arena allocation that returns FT_ERR_NOMEM from the caller when it fails (AL:
 * uninitialized, ZA: zeroed floats). */
#define W(i) ((i) >= 0 ? m->params[(i)].data : NULL)
#define G(i) ((i) >= 0 ? m->params[(i)].grad : NULL)
#define AL(ptr, count)                                                                                       \
    do {                                                                                                     \
        (ptr) = ft_arena_alloc(arena, (size_t)(count) * sizeof(*(ptr)));                                     \
        if (!(ptr))                                                                                          \
            return FT_ERR_NOMEM;                                                                             \
    } while (0)
#define ZA(ptr, count)                                                                                       \
    do {                                                                                                     \
        (ptr) = ft_model_zeroed(arena, (count));                                                             \
        if (!(ptr))                                                                                          \
            return FT_ERR_NOMEM;                                                                             \
    } while (0)

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
extern const ft_family ft_t5_family;

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
/* The dropout keys of an [B·T', C] activation (o->drop_T positions per example) and of a [B, C] one (one row
 * per example): (example in the whole batch, position, channel), ft_fwd_opts.drop_row0 / drop_pad. */
ft_drop_rows ft_model_drop_rows(const ft_fwd_opts *o);
ft_drop_rows ft_model_drop_examples(const ft_fwd_opts *o);
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
/* A linear site's forward / backward over N rows with the step's PEFT hooks and dropout (ft_model_step_lin),
 * its cache lc[site]. */
ft_status ft_model_site_forward(const ft_model *m, const ft_fwd_opts *o, int l, ft_site site, int64_t N, float *y,
                                const float *x, ft_lin_cache *lc, ft_arena *arena);
ft_status ft_model_site_backward(const ft_model *m, const ft_fwd_opts *o, int l, ft_site site, int64_t N, float *dx,
                                 const float *dy, const float *x, const ft_lin_cache *lc, ft_arena *arena);
/* Bytes the PEFT tensors of all layers keep (*all), of the largest layer (*max, with checkpointing) and the
 * largest backward scratch of a layer (*tmp), for N rows. */
void ft_model_peft_bytes(const ft_model *m, size_t N, size_t *all, size_t *max, size_t *tmp);
/* The bidirectional self-attention branch of an encoder block (BERT family, ViT), rows [B·T, hidden]:
 * q, k, v = Q/K/V(x), atty = attention(q, k, v; padding mask or NULL), *ob = O(atty) through the block's
 * adapter and residual dropout (ft_model_branch_out); everything from the arena. */
typedef struct {
    float *q, *k, *v; /* [N,C] */
    float *lse;       /* [B,H,T] attention row log-sum-exp */
    float *atty;      /* [N,C] */
} ft_attn_cache;
ft_status ft_model_attn_forward(const ft_model *m, const ft_fwd_opts *o, int l, int B, int T, const int32_t *mask,
                                const float *x, ft_attn_cache *c, ft_lin_cache *lc, ft_adapter_cache *ad,
                                float **ob, ft_arena *arena);
/* The cache of an encoder block (BERT family: post-LN; ViT: pre-LN), kept by the forward for the backward. */
typedef struct {
    float *x_in;                 /* [N,C] block input (kept, also with checkpointing) */
    ft_attn_cache at;            /* q, k, v, lse, attention output */
    float *s1, *h1, *m1, *r1;    /* the first residual sum (BERT x + o: LN1's input; ViT x + o), the first
                                    LayerNorm's output (BERT LN1(s1), ViT LN_before(x)), its statistics */
    float *h2, *s2, *m2, *r2;    /* ViT: LN_after(s1); BERT: LN2's input h1 + mo; the second statistics */
    float *fc, *act;             /* [N,I] pre-activation and activation */
    ft_lin_cache lc[FT_N_SITES];
    ft_adapter_cache ad[2];      /* bottleneck adapters after the attention output and the FFN output */
} ft_block_cache;
/* The blocks' forward from *x [N,C] (then the last block's output): block(m, acts, l, x, x_out, arena) writes
 * x_out (from the arena here) and fills L[l]; with checkpointing the block's arena is given back after it
 * and L[l] keeps only its input (the backward reruns the block from it: the same bits). */
typedef ft_status (*ft_block_fn)(const ft_model *m, void *acts, int l, const float *x, float *x_out,
                                 ft_arena *arena);
ft_status ft_model_blocks_forward(const ft_model *m, bool checkpoint, int64_t N, ft_block_fn block, void *acts,
                                  ft_block_cache *L, float **x, ft_arena *arena);
/* A fused residual add + LayerNorm of an encoder block: *s = x + r, *y = LayerNorm(*s) with weight / bias
 * params w, b and the statistics *mean, *rstd; all from the arena except *y when given (non-NULL). */
ft_status ft_model_add_norm(const ft_model *m, int64_t N, const float *x, const float *r, int w, int b, float **s,
                            float **y, float **mean, float **rstd, ft_arena *arena);
/* The start of an encoder's backward: refused after an inference forward (o->no_loss) or without a target
 * (count 0); else the zeroed [N,C] / [N,I] gradient buffers its blocks work in: the residual stream's, two
 * more of [N,C], the attention branch's six (ft_model_attn_backward) and the MLP's two. */
typedef struct {
    float *dres, *ds, *dh, *att[6], *dact, *dfc;
} ft_block_grads;
ft_status ft_model_block_grads(const ft_model *m, const ft_fwd_opts *o, int64_t count, int64_t N, ft_block_grads *g,
                               ft_arena *arena);
/* The MLP branch of an encoder block from its input h [N,C]: L->fc, L->act from the arena, *ob = P(act(F h))
 * through the block's second adapter and residual dropout. Its backward from dob: dh += d(h) (scratch:
 * g->att[0..1], g->dact, g->dfc). */
ft_status ft_model_mlp_forward(const ft_model *m, const ft_fwd_opts *o, int l, int64_t N, const float *h,
                               ft_block_cache *L, float **ob, ft_arena *arena);
ft_status ft_model_mlp_backward(const ft_model *m, const ft_fwd_opts *o, int l, int64_t N, const float *h,
                                const ft_block_cache *L, const float *dob, float *dh, const ft_block_grads *g,
                                ft_arena *arena);
/* Block l's forward again before its backward, from the kept input, when the forward checkpointed. */
ft_status ft_model_block_recompute(const ft_model *m, bool checkpoint, int64_t N, ft_block_fn block, void *acts,
                                   const ft_block_cache *L, int l, ft_arena *arena);
/* Its backward from dob = d(ob): dx += d(x) (dx may be NULL: only the parameters' gradients); the scratch
 * buf[0..5] ([N,C] each): two branch buffers, d(atty), dq, dk, dv. */
ft_status ft_model_attn_backward(const ft_model *m, const ft_fwd_opts *o, int l, int B, int T,
                                 const int32_t *mask, const float *x, const ft_attn_cache *c,
                                 const ft_lin_cache *lc, const ft_adapter_cache *ad, const float *dob, float *dx,
                                 float *const buf[6], ft_arena *arena);
/* A pooled head's summed loss over logits [B, K] (SEQ_CLS: cross-entropy over the class labels ≠ −100,
 * checked against K; REGRESSION: squared error); the labels go to the arena (*cls or *reg) for the backward.
 */
ft_status ft_model_head_loss(const ft_model *m, const ft_batch *b, const float *logits, int64_t K,
                             ft_arena *arena, int32_t **cls, float **reg, double *sum, int64_t *count);
/* A pooled head's targets are in the batch (SEQ_CLS: cls_labels, REGRESSION: reg_targets) unless o->no_loss. */
ft_status ft_model_check_targets(const ft_model *m, const ft_batch *b, const ft_fwd_opts *o);
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
