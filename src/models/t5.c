/* T5 (HF T5ForConditionalGeneration, MT5ForConditionalGeneration) forward and backward with PEFT hooks.
 * embeddings: x = drop(shared[input_ids]) (encoder), y = drop(shared[decoder ids]) (decoder); no positions.
 * norm (T5LayerNorm): n(x) = w ⊙ x / √(mean(x²) + ε): no mean, no bias.
 * self-attention: s = q·kᵀ + bias[h,i,j] (no 1/√d), bias = rel_table[bucket(j − i), h], one table per stack
 *   (on its block 0) shared by its blocks, bidirectional buckets in the encoder, causal ones (and j ≤ i) in
 *   the decoder; padded keys hidden. cross-attention: q from the decoder, k, v from the encoder output, no
 *   bias, padded source keys hidden.
 * block: x += drop(O(attn(n1 x))); decoder: x += drop(XO(xattn(n2 x, enc))); x += drop(wo(drop(act(wi n x))))
 *   (gated: act(wi_0 n x) ⊙ wi_1 n x). A stack ends in drop(n_final(x)).
 * head: logits = lm_head(dec · d_model^−½ when tied to shared, else dec); loss = mean CE over labels ≠ −100.
 * Teacher forcing: decoder ids from the batch, or the labels shifted right after decoder_start_token_id with
 * −100 → pad_token_id (HF _shift_right). Encoder blocks are layers [0, n_enc), decoder blocks the rest. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "models/family.h"
#include "models/model.h"
#include "nn/linear.h"

typedef struct {
    float *x_in;                     /* [N,C] block input (kept, also with checkpointing) */
    float *n1, *r1;                  /* self-attention's norm output, rstd */
    float *q, *k, *v, *att, *P;      /* [N,HD] each; P [B,H,T,T] */
    float *x1;                       /* after the self-attention residual */
    float *n2, *r2, *x2;             /* decoder cross-attention: its norm, rstd, the stream after it */
    float *xq, *xk, *xv, *xatt, *xP; /* xq, xatt [N,HD], xk, xv [Ne,HD], xP [B,H,Td,Te] */
    float *n3, *r3, *fc, *up, *act;  /* FF: its norm, wi / wi_0 [N,I], wi_1, the (dropped) input of wo */
    ft_lin_cache lc[FT_N_SITES];
    ft_adapter_cache ad[2]; /* bottleneck adapters after the self-attention and the FF outputs */
} t5_layer;

typedef struct {
    const ft_family *fam;        /* &ft_t5_family: first, as models/family.h requires */
    int B, Te, Td, n_enc, T_src; /* Te = n_virtual + T_src (the source tokens) */
    int64_t Ne, Nd, V, count;
    ft_fwd_opts opts;
    int32_t *enc_ids, *enc_mask, *dec_ids, *dec_mask, *labels; /* enc_ids [B·T_src]; masks NULL = all real */
    float *bias[2];                                            /* [H,Te,Te] encoder, [H,Td,Td] decoder */
    float *attn_work; /* the attention kernel's scratch, 2·max(Te, Td)² floats, shared by every call */
    t5_layer *L;
    float *enc_last, *enc_r, *enc_out; /* the encoder's last block output, final rstd, drop(n_final) [Ne,C] */
    float *dec_last, *dec_r, *dec_out; /* the same for the decoder; dec_out is the head's input (scaled) */
    float *logits;                     /* [Nd,V] */
} t5_acts;

int ft_t5_bucket(int rel, bool bidirectional, int num_buckets, int max_distance) {
    int base = 0;
    if (bidirectional) {
        num_buckets /= 2;
        base = rel > 0 ? num_buckets : 0;
        rel = rel < 0 ? -rel : rel;
    } else {
        rel = rel < 0 ? -rel : 0;
    }
    const int max_exact = num_buckets / 2;
    if (rel < max_exact)
        return base + rel;
    /* HF in float32: max_exact + log(rel / max_exact) / log(max_distance / max_exact) · (buckets −
     * max_exact), truncated, at most buckets − 1 */
    const float v = logf((float)rel / (float)max_exact) /
                    (float)log((double)max_distance / (double)max_exact) * (float)(num_buckets - max_exact);
    const int large = max_exact + (int)v;
    return base + (large < num_buckets - 1 ? large : num_buckets - 1);
}

static bool is_dec(const t5_acts *a, int l) {
    return l >= a->n_enc;
}

/* The stack's bias [H,Tq,Tk] from its table [buckets, H]. */
static void bias_fill(const ft_model *m, int st, int T, float *bias) {
    const ft_model_config *c = &m->cfg;
    const float *tab = W(m->rel_bias[st]);
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) {
            const int bk = ft_t5_bucket(j - i, st == 0, c->rel_buckets, c->rel_max_dist);
            for (int h = 0; h < c->n_heads; h++)
                bias[((int64_t)h * T + i) * T + j] = tab[(int64_t)bk * c->n_heads + h];
        }
}

/* Its transpose: the table's gradient from d(bias). */
static void bias_grad(const ft_model *m, int st, int T, const float *dbias) {
    const ft_model_config *c = &m->cfg;
    float *g = G(m->rel_bias[st]);
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) {
            const int bk = ft_t5_bucket(j - i, st == 0, c->rel_buckets, c->rel_max_dist);
            for (int h = 0; h < c->n_heads; h++)
                g[(int64_t)bk * c->n_heads + h] += dbias[((int64_t)h * T + i) * T + j];
        }
}

static ft_attn_bias_shape attn_shape(const ft_model *m, const t5_acts *a, int l, bool cross) {
    const ft_model_config *c = &m->cfg;
    const bool dec = is_dec(a, l);
    const int64_t HD = (int64_t)c->n_heads * c->head_dim;
    return (ft_attn_bias_shape){.B = a->B,
                                .Tq = dec ? a->Td : a->Te,
                                .Tk = dec && !cross ? a->Td : a->Te,
                                .H = c->n_heads,
                                .D = c->head_dim,
                                .q_stride = HD,
                                .kv_stride = HD,
                                .causal = dec && !cross,
                                .scale = 1.0f,
                                .dropout = a->opts.training ? c->attn_dropout : 0.0f,
                                .seed = a->opts.seed,
                                .stream = ft_model_drop_stream(&a->opts, l, cross ? 3 : 0)};
}

/* Dropout of rate dropout_rate in place (training), stream (layer, site). */
static void drop_fwd(const ft_model *m, const t5_acts *a, int l, int site, float *x, int64_t n) {
    if (a->opts.training && m->cfg.resid_dropout > 0.0f)
        ft_dropout_forward(x, x, n, m->cfg.resid_dropout, a->opts.seed,
                           ft_model_drop_stream(&a->opts, l, site));
}

/* Its backward: d(x before) from dy; buf when dropout is on (written), else dy itself. */
static const float *drop_bwd(const ft_model *m, const t5_acts *a, int l, int site, const float *dy,
                             float *buf, int64_t n) {
    if (!a->opts.training || m->cfg.resid_dropout <= 0.0f)
        return dy;
    memset(buf, 0, (size_t)n * sizeof(float));
    ft_dropout_backward(buf, dy, n, m->cfg.resid_dropout, a->opts.seed,
                        ft_model_drop_stream(&a->opts, l, site));
    return buf;
}

static ft_status site_fwd(const ft_model *m, t5_acts *a, int l, ft_site site, int64_t N, float *y,
                          const float *x, ft_arena *arena) {
    return ft_model_site_forward(m, &a->opts, l, site, N, y, x, a->L[l].lc, arena);
}

static ft_status site_bwd(const ft_model *m, t5_acts *a, int l, ft_site site, int64_t N, float *dx,
                          const float *dy, const float *x, ft_arena *arena) {
    return ft_model_site_backward(m, &a->opts, l, site, N, dx, dy, x, a->L[l].lc, arena);
}

/* dst = base + drop(adapter(o)) for a block's self-attention (which 0) or FF (1) output o [N,C]
 * (models/step.c: the adapter when there is one, the residual dropout of stream (l, 1 + which)). */
static ft_status branch_add(const ft_model *m, t5_acts *a, int l, int which, int64_t N, float *o,
                            const float *base, float *dst, ft_arena *arena) {
    float *ob = o;
    if (m->adapters[l * 2 + which].down_w >= 0) /* the adapter keeps its input */
        AL(ob, N * m->cfg.hidden);
    FT_TRY(ft_model_branch_out(m, &a->opts, l, which, N, &a->L[l].ad[which], ob, o, arena));
    for (int64_t j = 0; j < N * m->cfg.hidden; j++)
        dst[j] = base[j] + ob[j];
    return FT_OK;
}

/* One block: x [N,C] → x_out (caller's buffer); the rest from the arena into a->L[l]. The forward, the
 * checkpointed forward and the backward's recompute all run this: the same bits. */
static ft_status block_fwd(const ft_model *m, void *acts, int l, const float *x, float *x_out,
                           ft_arena *arena) {
    t5_acts *a = acts;
    const ft_model_config *c = &m->cfg;
    const bool dec = is_dec(a, l);
    const int64_t N = dec ? a->Nd : a->Ne, C = c->hidden, I = c->intermediate, T = dec ? a->Td : a->Te;
    const int64_t HD = (int64_t)c->n_heads * c->head_dim, H = c->n_heads;
    const ft_layer_idx *P = &m->layers[l];
    t5_layer *L = &a->L[l];
    memset(L, 0, sizeof *L);
    L->x_in = (float *)(uintptr_t)x;
    /* self-attention */
    AL(L->n1, N * C);
    AL(L->r1, N);
    ft_rmsnorm_forward(L->n1, L->r1, x, W(P->ln1_w), N, C, c->norm_eps);
    AL(L->q, N * HD);
    AL(L->k, N * HD);
    AL(L->v, N * HD);
    AL(L->att, N * HD);
    AL(L->P, a->B * H * T * T);
    FT_TRY(site_fwd(m, a, l, FT_SITE_Q, N, L->q, L->n1, arena));
    FT_TRY(site_fwd(m, a, l, FT_SITE_K, N, L->k, L->n1, arena));
    FT_TRY(site_fwd(m, a, l, FT_SITE_V, N, L->v, L->n1, arena));
    ft_attn_bias_shape as = attn_shape(m, a, l, false);
    ft_attention_bias_forward(L->att, L->P, L->q, L->k, L->v, a->bias[dec], dec ? a->dec_mask : a->enc_mask,
                              &as, a->attn_work);
    float *o, *xo, *fo; /* the three branch outputs */
    AL(o, N * C);
    AL(L->x1, N * C);
    FT_TRY(site_fwd(m, a, l, FT_SITE_O, N, o, L->att, arena));
    FT_TRY(branch_add(m, a, l, 0, N, o, x, L->x1, arena));
    const float *h = L->x1;
    if (dec) { /* cross-attention over the encoder output */
        AL(L->n2, N * C);
        AL(L->r2, N);
        ft_rmsnorm_forward(L->n2, L->r2, L->x1, W(P->ln2_w), N, C, c->norm_eps);
        AL(L->xq, N * HD);
        AL(L->xk, a->Ne * HD);
        AL(L->xv, a->Ne * HD);
        AL(L->xatt, N * HD);
        AL(L->xP, a->B * H * a->Td * a->Te);
        FT_TRY(site_fwd(m, a, l, FT_SITE_XQ, N, L->xq, L->n2, arena));
        FT_TRY(site_fwd(m, a, l, FT_SITE_XK, a->Ne, L->xk, a->enc_out, arena));
        FT_TRY(site_fwd(m, a, l, FT_SITE_XV, a->Ne, L->xv, a->enc_out, arena));
        as = attn_shape(m, a, l, true);
        ft_attention_bias_forward(L->xatt, L->xP, L->xq, L->xk, L->xv, NULL, a->enc_mask, &as, a->attn_work);
        AL(L->x2, N * C);
        AL(xo, N * C);
        FT_TRY(site_fwd(m, a, l, FT_SITE_XO, N, xo, L->xatt, arena));
        drop_fwd(m, a, l, 4, xo, N * C);
        for (int64_t j = 0; j < N * C; j++)
            L->x2[j] = L->x1[j] + xo[j];
        h = L->x2;
    }
    /* feed-forward */
    AL(L->n3, N * C);
    AL(L->r3, N);
    ft_rmsnorm_forward(L->n3, L->r3, h, W(dec ? P->ln3_w : P->ln2_w), N, C, c->norm_eps);
    AL(L->fc, N * I);
    AL(L->act, N * I);
    FT_TRY(site_fwd(m, a, l, c->gated_ff ? FT_SITE_GATE : FT_SITE_FC, N, L->fc, L->n3, arena));
    ft_act_forward(c->act, L->act, L->fc, N * I);
    if (c->gated_ff) {
        AL(L->up, N * I);
        FT_TRY(site_fwd(m, a, l, FT_SITE_UP, N, L->up, L->n3, arena));
        for (int64_t j = 0; j < N * I; j++)
            L->act[j] *= L->up[j];
    }
    drop_fwd(m, a, l, 5, L->act, N * I);
    AL(fo, N * C);
    FT_TRY(site_fwd(m, a, l, c->gated_ff ? FT_SITE_DOWN : FT_SITE_PROJ, N, fo, L->act, arena));
    return branch_add(m, a, l, 1, N, fo, h, x_out, arena);
}

/* The scratch of a block's backward ([N,C] ×3, [N,I] ×4, [N,HD] ×4 with N the larger stack's rows). */
typedef struct {
    float *dn, *dbr, *dtmp, *dact, *dact2, *dfc, *dup, *datt, *dq, *dk, *dv;
} t5_grads;

/* Block l's backward: dres = d(x_out) on entry, d(x_in) on return; d(enc_out) accumulates into denc (decoder
 * blocks), the stack's d(bias) into dbias (NULL when the table is frozen). */
static ft_status block_bwd(ft_model *m, t5_acts *a, int l, float *dres, float *denc, float *dbias,
                           const t5_grads *g, ft_arena *arena) {
    const ft_model_config *c = &m->cfg;
    const bool dec = is_dec(a, l);
    const int64_t N = dec ? a->Nd : a->Ne, C = c->hidden, I = c->intermediate;
    const int64_t HD = (int64_t)c->n_heads * c->head_dim;
    const ft_layer_idx *P = &m->layers[l];
    const t5_layer *L = &a->L[l];
    const float *h = dec ? L->x2 : L->x1;
    /* feed-forward: x_out = h + drop(wo(drop(act))) */
    const float *dff;
    FT_TRY(ft_model_branch_grad(m, &a->opts, l, 1, N, &L->ad[1], g->dbr, g->dtmp, dres, &dff, arena));
    memset(g->dact, 0, (size_t)(N * I) * sizeof(float));
    FT_TRY(site_bwd(m, a, l, c->gated_ff ? FT_SITE_DOWN : FT_SITE_PROJ, N, g->dact, dff, L->act, arena));
    const float *dpre = g->dact; /* d(act(fc) [⊙ up]) */
    if (a->opts.training && c->resid_dropout > 0.0f) {
        memset(g->dact2, 0, (size_t)(N * I) * sizeof(float));
        ft_dropout_backward(g->dact2, g->dact, N * I, c->resid_dropout, a->opts.seed,
                            ft_model_drop_stream(&a->opts, l, 5));
        dpre = g->dact2;
    }
    memset(g->dfc, 0, (size_t)(N * I) * sizeof(float));
    memset(g->dn, 0, (size_t)(N * C) * sizeof(float));
    if (c->gated_ff) {      /* d(act(fc)) = dpre ⊙ up, d(up) = dpre ⊙ act(fc) */
        float *ga = g->dup; /* act(fc) recomputed, then d(up) in place */
        ft_act_forward(c->act, ga, L->fc, N * I);
        float *dg = g->dact == dpre ? g->dact2 : g->dact;
        for (int64_t j = 0; j < N * I; j++) {
            dg[j] = dpre[j] * L->up[j];
            ga[j] *= dpre[j];
        }
        ft_act_backward(c->act, g->dfc, dg, L->fc, N * I);
        FT_TRY(site_bwd(m, a, l, FT_SITE_UP, N, g->dn, g->dup, L->n3, arena));
        FT_TRY(site_bwd(m, a, l, FT_SITE_GATE, N, g->dn, g->dfc, L->n3, arena));
    } else {
        ft_act_backward(c->act, g->dfc, dpre, L->fc, N * I);
        FT_TRY(site_bwd(m, a, l, FT_SITE_FC, N, g->dn, g->dfc, L->n3, arena));
    }
    const int ffn_w = dec ? P->ln3_w : P->ln2_w;
    ft_rmsnorm_backward(dres, G(ffn_w), g->dn, h, W(ffn_w), L->r3, N, C);
    if (dec) { /* cross-attention: x2 = x1 + drop(XO(xattn(XQ n2, XK enc, XV enc))) */
        const float *dxo = drop_bwd(m, a, l, 4, dres, g->dbr, N * C);
        memset(g->datt, 0, (size_t)(N * HD) * sizeof(float));
        FT_TRY(site_bwd(m, a, l, FT_SITE_XO, N, g->datt, dxo, L->xatt, arena));
        float *dxk, *dxv;
        ZA(dxk, a->Ne * HD);
        ZA(dxv, a->Ne * HD);
        memset(g->dq, 0, (size_t)(N * HD) * sizeof(float));
        ft_attn_bias_shape as = attn_shape(m, a, l, true);
        ft_attention_bias_backward(g->dq, dxk, dxv, NULL, g->datt, L->xP, L->xq, L->xk, L->xv, &as,
                                   a->attn_work);
        FT_TRY(site_bwd(m, a, l, FT_SITE_XK, a->Ne, denc, dxk, a->enc_out, arena));
        FT_TRY(site_bwd(m, a, l, FT_SITE_XV, a->Ne, denc, dxv, a->enc_out, arena));
        memset(g->dn, 0, (size_t)(N * C) * sizeof(float));
        FT_TRY(site_bwd(m, a, l, FT_SITE_XQ, N, g->dn, g->dq, L->n2, arena));
        ft_rmsnorm_backward(dres, G(P->ln2_w), g->dn, L->x1, W(P->ln2_w), L->r2, N, C);
    }
    /* self-attention: x1 = x + drop(O(attn(Q n1, K n1, V n1) + bias)) */
    const float *dob;
    FT_TRY(ft_model_branch_grad(m, &a->opts, l, 0, N, &L->ad[0], g->dbr, g->dtmp, dres, &dob, arena));
    memset(g->datt, 0, (size_t)(N * HD) * sizeof(float));
    FT_TRY(site_bwd(m, a, l, FT_SITE_O, N, g->datt, dob, L->att, arena));
    memset(g->dq, 0, (size_t)(N * HD) * sizeof(float));
    memset(g->dk, 0, (size_t)(N * HD) * sizeof(float));
    memset(g->dv, 0, (size_t)(N * HD) * sizeof(float));
    ft_attn_bias_shape as = attn_shape(m, a, l, false);
    ft_attention_bias_backward(g->dq, g->dk, g->dv, dbias, g->datt, L->P, L->q, L->k, L->v, &as,
                               a->attn_work);
    memset(g->dn, 0, (size_t)(N * C) * sizeof(float));
    FT_TRY(site_bwd(m, a, l, FT_SITE_Q, N, g->dn, g->dq, L->n1, arena));
    FT_TRY(site_bwd(m, a, l, FT_SITE_K, N, g->dn, g->dk, L->n1, arena));
    FT_TRY(site_bwd(m, a, l, FT_SITE_V, N, g->dn, g->dv, L->n1, arena));
    ft_rmsnorm_backward(dres, G(P->ln1_w), g->dn, L->x_in, W(P->ln1_w), L->r1, N, C);
    return FT_OK;
}

/* The batch against the model: ids in the vocabulary, masks 0/1, labels in range or −100; the decoder's ids
 * (given, or the labels shifted right) into a->dec_ids. */
static ft_status prepare_batch(const ft_model *m, const ft_batch *b, const ft_fwd_opts *o, t5_acts *a,
                               ft_arena *arena) {
    const ft_model_config *c = &m->cfg;
    const int V = c->vocab_size;
    if (b->B <= 0 || b->T <= 0 || !b->input_ids)
        return ft_fail(FT_ERR_ARG, "empty batch (%d rows of %d source tokens)", b->B, b->T);
    if (b->T_dec <= 0 && (b->decoder_input_ids || b->decoder_mask))
        return ft_fail(FT_ERR_ARG, "the batch has decoder fields but no decoder length (T_dec 0)");
    const int Td = b->T_dec > 0 ? b->T_dec : b->T;
    if (!b->decoder_input_ids && !b->labels)
        return ft_fail(FT_ERR_ARG, "t5: the batch needs labels [B][T_dec] or decoder_input_ids");
    if (!b->labels && !o->no_loss)
        return ft_fail(FT_ERR_ARG, "t5: the batch has no labels (the loss needs them)");
    if (!b->decoder_input_ids && c->decoder_start_id < 0)
        return ft_fail(FT_ERR_CONFIG,
                       "t5: deriving decoder_input_ids from the labels needs decoder_start_token_id "
                       "(config.json has null)");
    if (!b->decoder_input_ids && c->pad_token_id < 0)
        return ft_fail(FT_ERR_CONFIG, "t5: deriving decoder_input_ids from the labels needs pad_token_id");
    /* prompt tuning (PEFT): n virtual tokens before each source, unmasked */
    const int n = m->n_virtual, Te = n + b->T;
    const int64_t Ns = (int64_t)b->B * b->T, Ne = (int64_t)b->B * Te, Nd = (int64_t)b->B * Td;
    AL(a->enc_ids, Ns);
    AL(a->dec_ids, Nd);
    for (int64_t i = 0; i < Ns; i++) {
        const int32_t id = b->input_ids[i];
        if (id < 0 || id >= V)
            return ft_fail(FT_ERR_RANGE, "input_ids[%lld][%lld] = %d is outside the vocabulary [0, %d)",
                           (long long)(i / b->T), (long long)(i % b->T), id, V);
        if (b->mask && b->mask[i] != 0 && b->mask[i] != 1)
            return ft_fail(FT_ERR_RANGE, "attention_mask[%lld][%lld] = %d must be 0 or 1",
                           (long long)(i / b->T), (long long)(i % b->T), b->mask[i]);
        a->enc_ids[i] = id;
    }
    if (b->mask) {
        AL(a->enc_mask, Ne);
        for (int r = 0; r < b->B; r++) {
            for (int t = 0; t < n; t++)
                a->enc_mask[(int64_t)r * Te + t] = 1;
            memcpy(a->enc_mask + (int64_t)r * Te + n, b->mask + (int64_t)r * b->T,
                   (size_t)b->T * sizeof(int32_t));
        }
    }
    if (b->labels) {
        AL(a->labels, Nd);
        for (int64_t i = 0; i < Nd; i++) {
            const int32_t y = b->labels[i];
            if (y != -100 && (y < 0 || y >= V))
                return ft_fail(FT_ERR_RANGE,
                               "labels[%lld][%lld] = %d is outside the vocabulary [0, %d) and not -100",
                               (long long)(i / Td), (long long)(i % Td), y, V);
            a->labels[i] = y;
        }
    }
    for (int64_t i = 0; i < Nd; i++) {
        const int64_t r = i / Td, t = i % Td;
        int32_t id;
        if (b->decoder_input_ids) {
            id = b->decoder_input_ids[i];
            if (id < 0 || id >= V)
                return ft_fail(FT_ERR_RANGE,
                               "decoder_input_ids[%lld][%lld] = %d is outside the vocabulary [0, %d)",
                               (long long)r, (long long)t, id, V);
        } else { /* HF _shift_right */
            id = t == 0 ? c->decoder_start_id : a->labels[i - 1];
            if (id == -100)
                id = c->pad_token_id;
        }
        a->dec_ids[i] = id;
        if (b->decoder_mask && b->decoder_mask[i] != 0 && b->decoder_mask[i] != 1)
            return ft_fail(FT_ERR_RANGE, "decoder_attention_mask[%lld][%lld] = %d must be 0 or 1",
                           (long long)r, (long long)t, b->decoder_mask[i]);
    }
    if (b->decoder_mask) {
        AL(a->dec_mask, Nd);
        memcpy(a->dec_mask, b->decoder_mask, (size_t)Nd * sizeof(int32_t));
    }
    a->B = b->B;
    a->T_src = b->T;
    a->Te = Te;
    a->Td = Td;
    a->Ne = Ne;
    a->Nd = Nd;
    return FT_OK;
}

/* What this model does not do (yet): refused by name. */
static ft_status check_supported(const ft_model *m, const ft_fwd_opts *o) {
    if (o->label_smoothing > 0.0f && !o->no_loss)
        return ft_fail(FT_ERR_UNSUPPORTED, "label smoothing on %s is not supported yet", m->cfg.model_type);
    if (m->task != FT_TASK_CAUSAL_LM)
        return ft_fail(FT_ERR_UNSUPPORTED, "%s runs its LM head only", m->cfg.model_type);
    return FT_OK;
}

/* One stack: x0 = drop(shared[ids]), its blocks (checkpointed or not), *last = the last block's output, out =
 * drop(n_final(last)) with rstd r. */
static ft_status stack_fwd(ft_model *m, t5_acts *a, int st, ft_arena *arena) {
    const ft_model_config *c = &m->cfg;
    const int64_t C = c->hidden, N = st ? a->Nd : a->Ne;
    const int first = st ? a->n_enc : 0, last = st ? c->n_layers : a->n_enc;
    float *x;
    AL(x, N * C);
    if (st == 0 && m->n_virtual > 0) /* [prompt; shared[ids]] per row */
        for (int r = 0; r < a->B; r++) {
            float *xr = x + (int64_t)r * a->Te * C;
            memcpy(xr, m->params[m->prompt].data, (size_t)(m->n_virtual * C) * sizeof(float));
            ft_embedding_forward(xr + m->n_virtual * C, W(m->wte), a->enc_ids + (int64_t)r * a->T_src, NULL,
                                 NULL, a->T_src, C);
        }
    else
        ft_embedding_forward(x, W(m->wte), st ? a->dec_ids : a->enc_ids, NULL, NULL, N, C);
    drop_fwd(m, a, -1, st, x, N * C);
    for (int l = first; l < last; l++) {
        float *x_out;
        AL(x_out, N * C);
        const size_t mark = ft_arena_mark(arena);
        FT_TRY(block_fwd(m, a, l, x, x_out, arena));
        if (a->opts.checkpoint) { /* keep the block's input only; the backward recomputes the rest */
            ft_arena_rewind(arena, mark);
            memset(&a->L[l], 0, sizeof a->L[l]);
            a->L[l].x_in = x;
        }
        x = x_out;
    }
    float *out, *r;
    AL(out, N * C);
    AL(r, N);
    const int lnf = st ? m->lnf_w : m->enc_lnf;
    ft_rmsnorm_forward(out, r, x, W(lnf), N, C, c->norm_eps);
    drop_fwd(m, a, -1, 2 + st, out, N * C);
    *(st ? &a->dec_last : &a->enc_last) = x;
    *(st ? &a->dec_r : &a->enc_r) = r;
    *(st ? &a->dec_out : &a->enc_out) = out;
    return FT_OK;
}

/* The encoder alone, for generation: *out [n_virtual + n, C] = n_final(encoder(ids)) without dropout, the
 * forward's enc_out bit for bit (the same stack_fwd); everything from the arena. */
ft_status ft_t5_encode(ft_model *m, const int32_t *ids, int n, ft_arena *arena, float **out, int *T_enc) {
    const ft_model_config *c = &m->cfg;
    if (!ft_model_is_t5(m))
        return ft_fail(FT_ERR_ARG, "ft_t5_encode: %s is not an encoder-decoder", c->model_type);
    if (n <= 0)
        return ft_fail(FT_ERR_ARG, "t5: the encoder needs at least one source token (the source is empty)");
    FT_TRY(ft_model_sync_bf16(m));
    t5_acts *a;
    AL(a, 1);
    *a = (t5_acts){.fam = &ft_t5_family,
                   .opts = {.no_loss = true},
                   .n_enc = c->n_layers - c->n_dec_layers,
                   .V = c->vocab_size,
                   .B = 1,
                   .T_src = n,
                   .Te = m->n_virtual + n,
                   .Ne = m->n_virtual + n};
    AL(a->enc_ids, n);
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return ft_fail(FT_ERR_RANGE, "source token %d (position %d) is outside the vocabulary [0, %d)",
                           ids[i], i, c->vocab_size);
        a->enc_ids[i] = ids[i];
    }
    AL(a->L, c->n_layers);
    memset(a->L, 0, (size_t)c->n_layers * sizeof *a->L);
    AL(a->attn_work, 2 * (int64_t)a->Te * a->Te);
    AL(a->bias[0], (int64_t)c->n_heads * a->Te * a->Te);
    bias_fill(m, 0, a->Te, a->bias[0]);
    FT_TRY(stack_fwd(m, a, 0, arena));
    *out = a->enc_out;
    *T_enc = a->Te;
    return FT_OK;
}

static ft_status t5_forward(ft_model *m, const ft_batch *b, const ft_fwd_opts *o, ft_arena *arena,
                            ft_acts **out, double *loss, int64_t *count) {
    if (count)
        *count = 0;
    const ft_model_config *c = &m->cfg;
    FT_TRY(check_supported(m, o));
    FT_TRY(ft_model_sync_bf16(m));
    t5_acts *a;
    AL(a, 1);
    *a = (t5_acts){
        .fam = &ft_t5_family, .opts = *o, .n_enc = c->n_layers - c->n_dec_layers, .V = c->vocab_size};
    FT_TRY(prepare_batch(m, b, o, a, arena));
    AL(a->L, c->n_layers);
    memset(a->L, 0, (size_t)c->n_layers * sizeof *a->L);
    const int64_t C = c->hidden, V = c->vocab_size, H = c->n_heads, Nd = a->Nd;
    const int64_t Tm = a->Te > a->Td ? a->Te : a->Td;
    AL(a->attn_work, 2 * Tm * Tm);
    AL(a->bias[0], H * a->Te * a->Te);
    AL(a->bias[1], H * a->Td * a->Td);
    bias_fill(m, 0, a->Te, a->bias[0]);
    bias_fill(m, 1, a->Td, a->bias[1]);
    FT_TRY(stack_fwd(m, a, 0, arena));
    FT_TRY(stack_fwd(m, a, 1, arena));
    if (m->lm_head == m->wte) /* the tied head's input is rescaled by d_model^−½ */
        ft_scale_inplace(a->dec_out, Nd * C, 1.0f / sqrtf((float)C));
    AL(a->logits, Nd * V);
    ft_linear_forward(a->logits, a->dec_out, W(m->lm_head), NULL, Nd, C, V, false);
    double sum = 0.0;
    int64_t cnt = 0;
    if (!o->no_loss)
        sum = ft_cross_entropy_forward(a->logits, a->labels, Nd, V, &cnt);
    a->count = cnt;
    *out = (ft_acts *)(void *)a;
    if (count)
        *count = cnt;
    return ft_model_mean_loss(o, sum, cnt, "the batch has no target (every label is -100)", loss);
}

/* The stack's embedding backward from d(x0) (through its dropout): shared, and the prompt's first n rows. */
static ft_status embed_bwd(ft_model *m, t5_acts *a, int st, const float *dx0, float *buf) {
    const int n = st ? 0 : m->n_virtual;
    if (!G(m->wte) && !(n > 0 && G(m->prompt)))
        return FT_OK;
    const int64_t C = m->cfg.hidden, N = st ? a->Nd : a->Ne;
    const float *d = drop_bwd(m, a, -1, st, dx0, buf, N * C);
    if (n == 0) {
        ft_embedding_backward(G(m->wte), d, st ? a->dec_ids : a->enc_ids, N, C, -1);
        return FT_OK;
    }
    for (int r = 0; r < a->B; r++) {
        const float *dr = d + (int64_t)r * a->Te * C;
        if (G(m->prompt))
            ft_add_inplace(G(m->prompt), dr, n * C);
        if (G(m->wte))
            ft_embedding_backward(G(m->wte), dr + n * C, a->enc_ids + (int64_t)r * a->T_src, a->T_src, C, -1);
    }
    return FT_OK;
}

/* The blocks [first, last) backward from dres = d(last block output); d(bias) of the stack's table. */
static ft_status blocks_bwd(ft_model *m, t5_acts *a, int st, float *dres, float *denc, const t5_grads *g,
                            ft_arena *arena) {
    const ft_model_config *c = &m->cfg;
    const int T = st ? a->Td : a->Te;
    const int first = st ? a->n_enc : 0, last = st ? c->n_layers : a->n_enc;
    float *dbias = NULL;
    if (G(m->rel_bias[st]))
        ZA(dbias, (int64_t)c->n_heads * T * T);
    for (int l = last - 1; l >= first; l--) {
        const size_t mark = ft_arena_mark(arena);
        if (a->opts.checkpoint) {
            float *x_out;
            AL(x_out, (st ? a->Nd : a->Ne) * c->hidden);
            FT_TRY(block_fwd(m, a, l, a->L[l].x_in, x_out, arena));
        }
        FT_TRY(block_bwd(m, a, l, dres, denc, dbias, g, arena));
        ft_arena_rewind(arena, mark);
    }
    if (dbias)
        bias_grad(m, st, T, dbias);
    return FT_OK;
}

static ft_status t5_backward(ft_model *m, ft_acts *acts, ft_arena *arena, float loss_scale) {
    t5_acts *a = (t5_acts *)(void *)acts;
    const ft_model_config *c = &m->cfg;
    if (a->opts.no_loss)
        return ft_fail(FT_ERR_ARG, "backward after an inference-only forward");
    if (a->count == 0)
        return ft_fail(FT_ERR_ARG, "backward: the batch has no target");
    const int64_t C = c->hidden, V = c->vocab_size, I = c->intermediate,
                  HD = (int64_t)c->n_heads * c->head_dim;
    const int64_t Nd = a->Nd, Ne = a->Ne, N = Nd > Ne ? Nd : Ne;
    t5_grads g = {0};
    float **nc[] = {&g.dn, &g.dbr, &g.dtmp}, **ni[] = {&g.dact, &g.dact2, &g.dfc, &g.dup},
          **nh[] = {&g.datt, &g.dq, &g.dk, &g.dv};
    for (int k = 0; k < 4; k++) {
        if (k < 3)
            AL(*nc[k], N * C);
        AL(*ni[k], N * I);
        AL(*nh[k], N * HD);
    }
    float *ddec, *denc, *dres;
    ZA(ddec, Nd * C);
    ZA(denc, Ne * C);
    {
        const size_t mark = ft_arena_mark(arena);
        float *dlog;
        AL(dlog, Nd * V);
        ft_cross_entropy_backward(dlog, a->logits, a->labels, Nd, V, loss_scale / (float)a->count);
        ft_linear_backward(ddec, G(m->lm_head), NULL, dlog, a->dec_out, W(m->lm_head), Nd, C, V, false);
        ft_arena_rewind(arena, mark);
    }
    if (m->lm_head == m->wte)
        ft_scale_inplace(ddec, Nd * C, 1.0f / sqrtf((float)C));
    /* decoder: drop(n_final(last)) → blocks → embeddings */
    ZA(dres, Nd * C);
    const float *d = drop_bwd(m, a, -1, 3, ddec, g.dtmp, Nd * C);
    ft_rmsnorm_backward(dres, G(m->lnf_w), d, a->dec_last, W(m->lnf_w), a->dec_r, Nd, C);
    FT_TRY(blocks_bwd(m, a, 1, dres, denc, &g, arena));
    FT_TRY(embed_bwd(m, a, 1, dres, g.dtmp));
    /* encoder: d(enc_out) from every cross-attention */
    float *dres_e;
    ZA(dres_e, Ne * C);
    d = drop_bwd(m, a, -1, 2, denc, g.dtmp, Ne * C);
    ft_rmsnorm_backward(dres_e, G(m->enc_lnf), d, a->enc_last, W(m->enc_lnf), a->enc_r, Ne, C);
    FT_TRY(blocks_bwd(m, a, 0, dres_e, NULL, &g, arena));
    return embed_bwd(m, a, 0, dres_e, g.dtmp);
}

/* Bytes of one step: T stands for both lengths (ft_model_batch_seq_len gives the larger). */
static size_t t5_act_bytes(const ft_model *m, int B, int T, const ft_fwd_opts *o) {
    const ft_model_config *c = &m->cfg;
    const size_t N = (size_t)B * (size_t)T, C = (size_t)c->hidden, I = (size_t)c->intermediate,
                 HD = (size_t)c->n_heads * (size_t)c->head_dim, V = (size_t)c->vocab_size, A = FT_ALIGN;
    const size_t PT = (size_t)B * (size_t)c->n_heads * (size_t)T * (size_t)T;
    /* kept per block (decoder blocks, the larger): n1, x1, n2, x2, n3 and three branch outputs (8 [N,C]),
     * q k v att xq xk xv xatt (8 [N,HD]), fc up act (3 [N,I]), P and xP, 3 statistics; and its output */
    const size_t per_layer = (9 * N * C + 8 * N * HD + 3 * N * I + 2 * PT + 3 * N) * 4 + 30 * A;
    size_t peft, peft_max, peft_tmp;
    ft_model_peft_bytes(m, N, &peft, &peft_max, &peft_tmp);
    /* ids, masks, labels; the two bias tables and the attention's scratch; both embeddings, final norms and
     * outputs; logits; the acts */
    const size_t fixed = (6 * N + (2 * (size_t)c->n_heads + 2) * T * T + 6 * N * C + 2 * N + N * V) * 4 +
                         (size_t)c->n_layers * sizeof(t5_layer) + sizeof(t5_acts) + 24 * A;
    size_t bwd = 0;
    if (!o->no_loss) /* t5_grads, d(dec), d(enc), the residual streams, d(bias) ×2, dlogits, dxk dxv */
        bwd = (8 * N * C + 4 * N * I + 6 * N * HD + 2 * (size_t)c->n_heads * T * T + N * V) * 4 + 30 * A +
              peft_tmp;
    if (o->checkpoint)
        return (size_t)c->n_layers * (N * C * 4 + A) + 2 * per_layer + peft_max + fixed + bwd;
    return (size_t)c->n_layers * per_layer + peft + fixed + bwd;
}

static const float *t5_logits(const ft_acts *acts, int64_t *rows, int64_t *cols) {
    const t5_acts *a = (const t5_acts *)(const void *)acts;
    if (rows)
        *rows = a->Nd;
    if (cols)
        *cols = a->V;
    return a->opts.keep_logits ? a->logits : NULL;
}

static int t5_seq_len(const ft_acts *acts) {
    return ((const t5_acts *)(const void *)acts)->Td;
}

const ft_family ft_t5_family = {t5_forward, t5_backward, t5_act_bytes, t5_logits, t5_seq_len};
