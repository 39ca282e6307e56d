/* What every family's forward and backward share (models/family.h): dropout RNG streams, a linear site with
 * its PEFT hooks set up for the step, LoRA on the embedding tables, the bytes the PEFT hooks keep, zeroed
 * arena buffers. */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "models/family.h"
#include "nn/linear.h"


uint64_t ft_model_drop_stream(const ft_fwd_opts *o, int layer, int site) {
    return o->step * 4096u + (uint64_t)(layer + 1) * 32u + (uint64_t)site;
}

ft_drop_rows ft_model_drop_rows(const ft_fwd_opts *o) {
    return (ft_drop_rows){o->drop_row0, o->drop_T, o->drop_pad};
}

ft_drop_rows ft_model_drop_examples(const ft_fwd_opts *o) {
    return (ft_drop_rows){o->drop_row0, 1, 0};
}

ft_lin ft_model_step_lin(const ft_model *m, const ft_fwd_opts *o, int layer, ft_site site) {
    ft_lin L = ft_model_site_lin(m, layer, site, true);
    L.training = o->training;
    L.seed = o->seed;
    L.stream = ft_model_drop_stream(o, layer, 8 + (int)site);
    L.drop_rows = ft_model_drop_rows(o);
    return L;
}

void ft_model_emb_lora(const ft_model *m, const int32_t *ids, const int32_t *pos, int64_t N, float *x,
                       const float *dx) {
    for (int e = 0; e < FT_N_EMB; e++) {
        const ft_emb_peft *ep = &m->emb[e];
        int64_t V;
        int32_t pad;
        if (ep->lora_a < 0 || !ft_model_emb(m, (ft_emb)e, NULL, &V, &pad, NULL, 0))
            continue;
        const int32_t *rows = e == FT_EMB_TOKENS ? ids : pos;
        if (x)
            ft_embedding_lora_forward(x, W(ep->lora_a), W(ep->lora_b), rows, N, m->cfg.hidden, V, ep->r,
                                      ep->lora_scale);
        else if (G(ep->lora_a) || G(ep->lora_b))
            ft_embedding_lora_backward(G(ep->lora_a), G(ep->lora_b), dx, W(ep->lora_a), W(ep->lora_b), rows,
                                       N, m->cfg.hidden, V, ep->r, ep->lora_scale, pad);
    }
}

bool ft_model_emb_lora_trains(const ft_model *m) {
    for (int e = 0; e < FT_N_EMB; e++)
        if (G(m->emb[e].lora_a) || G(m->emb[e].lora_b))
            return true;
    return false;
}

static int64_t adapter_size(const ft_model *m) {
    for (int i = 0; i < m->cfg.n_layers * 2; i++)
        if (m->adapters[i].down_w >= 0)
            return m->params[m->adapters[i].down_w].shape[0];
    return 0;
}

void ft_model_peft_layer_bytes(const ft_model *m, int layer, size_t N, size_t *keep, size_t *tmp) {
    const size_t A = FT_ALIGN, C = (size_t)m->cfg.hidden, k = (size_t)adapter_size(m);
    size_t pl = 0, pt = 0;
    for (int s = 0; s < FT_N_SITES; s++) {
        const ft_site_peft *sp = &m->sites[layer * FT_N_SITES + s];
        int64_t in64 = 0, out64 = 0;
        if (!ft_model_site(m, layer, (ft_site)s, NULL, NULL, &in64, &out64, NULL, NULL, 0))
            continue;
        const size_t in = (size_t)in64, out = (size_t)out64, r = (size_t)(sp->lora_a >= 0 ? sp->r : 0);
        if (sp->lora_a >= 0) {
            pl += (N * r + N * in) * 4 + 2 * A;
            pt += (N * r + 2 * N * in) * 4 + 3 * A;
            if (sp->dora_m >= 0) {
                pl += (N * out + out) * 4 + 2 * A;
                pt += N * out * 4 + A;
            }
        }
        if (sp->ia3 >= 0) {
            pl += N * (in > out ? in : out) * 4 + A;
            pt += N * (in > out ? in : out) * 4 + A;
        }
    }
    for (int w = 0; w < 2; w++)
        if (m->adapters[layer * 2 + w].down_w >= 0) {
            pl += (N * C + 2 * N * k) * 4 + 3 * A;
            pt += 2 * N * k * 4 + 2 * A;
        }
    *keep = pl;
    *tmp = pt;
}

float *ft_model_zeroed(ft_arena *arena, int64_t n) {
    float *p = ft_arena_alloc(arena, (size_t)n * sizeof(float));
    if (p)
        memset(p, 0, (size_t)n * sizeof(float));
    return p;
}

ft_status ft_model_head_loss(const ft_model *m, const ft_batch *b, const float *logits, int64_t K,
                             ft_arena *arena, int32_t **cls, float **reg, double *sum, int64_t *count) {
    const int B = b->B;
    *sum = 0.0;
    if (m->task == FT_TASK_SEQ_CLS) {
        if (!(*cls = ft_arena_alloc(arena, (size_t)B * sizeof(int32_t))))
            return FT_ERR_NOMEM;
        for (int r = 0; r < B; r++) {
            const int32_t y = b->cls_labels[r];
            if (y != -100 && (y < 0 || y >= K))
                return ft_fail(FT_ERR_RANGE, "class label %d of row %d is outside [0, %lld)", y, r,
                               (long long)K);
            (*cls)[r] = y;
        }
        *sum = ft_cross_entropy_forward(logits, *cls, B, K, count);
        return FT_OK;
    }
    if (!(*reg = ft_arena_alloc(arena, (size_t)B * sizeof(float))))
        return FT_ERR_NOMEM;
    for (int r = 0; r < B; r++) { /* HF MSELoss on the squeezed logits */
        (*reg)[r] = b->reg_targets[r];
        const double d = (double)logits[r] - (double)(*reg)[r];
        *sum += d * d;
    }
    *count = B;
    return FT_OK;
}

ft_status ft_model_mean_loss(const ft_fwd_opts *o, double sum, int64_t count, const char *empty,
                             double *loss) {
    if (o->no_loss) {
        *loss = NAN;
        return FT_OK;
    }
    if (count == 0)
        return ft_fail(FT_ERR_ARG, "%s", empty);
    *loss = sum / (double)count;
    if (!isfinite(*loss))
        return ft_fail(FT_ERR_NUMERIC, "the loss is %s", isnan(*loss) ? "NaN" : "infinite");
    return FT_OK;
}

ft_status ft_model_adapter_forward(const ft_model *m, const ft_adapter_idx *A, ft_adapter_cache *c, int64_t N,
                                   float *y, const float *o, ft_arena *arena) {
    const int64_t C = m->cfg.hidden, k = m->params[A->down_w].shape[0];
    c->z = ft_arena_alloc(arena, (size_t)(N * k) * sizeof(float));
    c->h = ft_arena_alloc(arena, (size_t)(N * k) * sizeof(float));
    if (!c->z || !c->h)
        return FT_ERR_NOMEM;
    c->in = (float *)(uintptr_t)o;
    ft_linear_forward(c->z, o, W(A->down_w), W(A->down_b), N, C, k, false);
    ft_act_forward(m->adapter_act, c->h, c->z, N * k);
    ft_linear_forward(y, c->h, W(A->up_w), W(A->up_b), N, k, C, false);
    ft_add_inplace(y, o, N * C);
    return FT_OK;
}

ft_status ft_model_adapter_backward(const ft_model *m, const ft_adapter_idx *A, const ft_adapter_cache *c,
                                    int64_t N, float *dout, const float *dy, ft_arena *arena) {
    const int64_t C = m->cfg.hidden, k = m->params[A->down_w].shape[0];
    float *dh = ft_model_zeroed(arena, N * k), *dz = ft_model_zeroed(arena, N * k);
    if (!dh || !dz)
        return FT_ERR_NOMEM;
    ft_linear_backward(dh, G(A->up_w), G(A->up_b), dy, c->h, W(A->up_w), N, k, C, false);
    ft_act_backward(m->adapter_act, dz, dh, c->z, N * k);
    memcpy(dout, dy, (size_t)(N * C) * sizeof(float));
    ft_linear_backward(dout, G(A->down_w), G(A->down_b), dz, c->in, W(A->down_w), N, C, k, false);
    return FT_OK;
}

ft_status ft_model_branch_out(const ft_model *m, const ft_fwd_opts *o, int l, int which, int64_t N,
                              ft_adapter_cache *ad, float *dst, const float *src, ft_arena *arena) {
    const int64_t n = N * m->cfg.hidden;
    const ft_adapter_idx *A = &m->adapters[l * 2 + which];
    if (A->down_w >= 0)
        FT_TRY(ft_model_adapter_forward(m, A, ad, N, dst, src, arena));
    else if (dst != src)
        memcpy(dst, src, (size_t)n * sizeof(float));
    if (o->training && m->cfg.resid_dropout > 0.0f)
        ft_dropout_rows_forward(dst, dst, N, m->cfg.hidden, m->cfg.resid_dropout, o->seed,
                                ft_model_drop_stream(o, l, 1 + which), ft_model_drop_rows(o));
    return FT_OK;
}

ft_status ft_model_branch_grad(const ft_model *m, const ft_fwd_opts *o, int l, int which, int64_t N,
                               const ft_adapter_cache *ad, float *buf, float *buf2, const float *dres,
                               const float **dout, ft_arena *arena) {
    const int64_t n = N * m->cfg.hidden;
    const float *d = dres;
    if (o->training && m->cfg.resid_dropout > 0.0f) {
        memset(buf, 0, (size_t)n * sizeof(float));
        ft_dropout_rows_backward(buf, dres, N, m->cfg.hidden, m->cfg.resid_dropout, o->seed,
                                 ft_model_drop_stream(o, l, 1 + which), ft_model_drop_rows(o));
        d = buf;
    }
    const ft_adapter_idx *A = &m->adapters[l * 2 + which];
    if (A->down_w >= 0) {
        FT_TRY(ft_model_adapter_backward(m, A, ad, N, buf2, d, arena));
        d = buf2;
    }
    *dout = d;
    return FT_OK;
}

void ft_model_peft_bytes(const ft_model *m, size_t N, size_t *all, size_t *max, size_t *tmp) {
    *all = *max = *tmp = 0;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        size_t pl, pt;
        ft_model_peft_layer_bytes(m, l, N, &pl, &pt);
        *all += pl;
        *max = pl > *max ? pl : *max;
        *tmp = pt > *tmp ? pt : *tmp;
    }
}

static ft_attn_shape bidir_shape(const ft_model *m, const ft_fwd_opts *o, int B, int T, int l) {
    const ft_model_config *c = &m->cfg;
    return (ft_attn_shape){.B = B,
                           .T = T,
                           .H = c->n_heads,
                           .Hkv = c->n_heads,
                           .D = c->head_dim,
                           .q_stride = c->hidden,
                           .kv_stride = c->hidden,
                           .causal = false,
                           .scale = 1.0f / sqrtf((float)c->head_dim),
                           .dropout = o->training ? c->attn_dropout : 0.0f,
                           .seed = o->seed,
                           .stream = ft_model_drop_stream(o, l, 0),
                           .drop_row0 = o->drop_row0,
                           .drop_pad = o->drop_pad};
}

ft_status ft_model_site_forward(const ft_model *m, const ft_fwd_opts *o, int l, ft_site site, int64_t N, float *y,
                          const float *x, ft_lin_cache *lc, ft_arena *arena) {
    ft_lin L = ft_model_step_lin(m, o, l, site);
    return ft_lin_forward(&L, y, x, N, arena, &lc[site]);
}

ft_status ft_model_site_backward(const ft_model *m, const ft_fwd_opts *o, int l, ft_site site, int64_t N, float *dx,
                          const float *dy, const float *x, const ft_lin_cache *lc, ft_arena *arena) {
    ft_lin L = ft_model_step_lin(m, o, l, site);
    return ft_lin_backward(&L, dx, dy, x, N, &lc[site], arena);
}

ft_status ft_model_attn_forward(const ft_model *m, const ft_fwd_opts *o, int l, int B, int T, const int32_t *mask,
                                const float *x, ft_attn_cache *c, ft_lin_cache *lc, ft_adapter_cache *ad,
                                float **ob, ft_arena *arena) {
    const int64_t N = (int64_t)B * T, C = m->cfg.hidden;
    float **bufs[] = {&c->q, &c->k, &c->v, &c->atty};
    for (int k = 0; k < 4; k++)
        if (!(*bufs[k] = ft_arena_alloc(arena, (size_t)(N * C) * sizeof(float))))
            return FT_ERR_NOMEM;
    if (!(c->lse = ft_arena_alloc(arena, (size_t)B * (size_t)m->cfg.n_heads * (size_t)T * sizeof(float))))
        return FT_ERR_NOMEM;
    FT_TRY(ft_model_site_forward(m, o, l, FT_SITE_Q, N, c->q, x, lc, arena));
    FT_TRY(ft_model_site_forward(m, o, l, FT_SITE_K, N, c->k, x, lc, arena));
    FT_TRY(ft_model_site_forward(m, o, l, FT_SITE_V, N, c->v, x, lc, arena));
    ft_attn_shape as = bidir_shape(m, o, B, T, l);
    FT_TRY(ft_attention_forward_lse(c->atty, c->lse, c->q, c->k, c->v, mask, &as));
    float *out = ft_arena_alloc(arena, (size_t)(N * C) * sizeof(float)), *dst = out;
    if (!out)
        return FT_ERR_NOMEM;
    FT_TRY(ft_model_site_forward(m, o, l, FT_SITE_O, N, out, c->atty, lc, arena));
    if (m->adapters[l * 2].down_w >= 0 && /* the adapter keeps its input: its output goes elsewhere */
        !(dst = ft_arena_alloc(arena, (size_t)(N * C) * sizeof(float))))
        return FT_ERR_NOMEM;
    FT_TRY(ft_model_branch_out(m, o, l, 0, N, ad, dst, out, arena));
    *ob = dst;
    return FT_OK;
}

ft_status ft_model_attn_backward(const ft_model *m, const ft_fwd_opts *o, int l, int B, int T,
                                 const int32_t *mask, const float *x, const ft_attn_cache *c,
                                 const ft_lin_cache *lc, const ft_adapter_cache *ad, const float *dob, float *dx,
                                 float *const buf[6], ft_arena *arena) {
    const int64_t N = (int64_t)B * T, n = N * m->cfg.hidden;
    const float *dbr;
    FT_TRY(ft_model_branch_grad(m, o, l, 0, N, ad, buf[0], buf[1], dob, &dbr, arena));
    for (int k = 2; k < 6; k++)
        memset(buf[k], 0, (size_t)n * sizeof(float));
    FT_TRY(ft_model_site_backward(m, o, l, FT_SITE_O, N, buf[2], dbr, c->atty, lc, arena));
    ft_attn_shape as = bidir_shape(m, o, B, T, l);
    FT_TRY(ft_attention_backward_lse(buf[3], buf[4], buf[5], buf[2], c->atty, c->lse, c->q, c->k, c->v, mask, &as));
    FT_TRY(ft_model_site_backward(m, o, l, FT_SITE_Q, N, dx, buf[3], x, lc, arena));
    FT_TRY(ft_model_site_backward(m, o, l, FT_SITE_K, N, dx, buf[4], x, lc, arena));
    return ft_model_site_backward(m, o, l, FT_SITE_V, N, dx, buf[5], x, lc, arena);
}

ft_status ft_model_blocks_forward(const ft_model *m, bool checkpoint, int64_t N, ft_block_fn block, void *acts,
                                  ft_block_cache *L, float **x, ft_arena *arena) {
    for (int l = 0; l < m->cfg.n_layers; l++) {
        float *x_out;
        AL(x_out, N * m->cfg.hidden);
        const size_t mark = ft_arena_mark(arena);
        FT_TRY(block(m, acts, l, *x, x_out, arena));
        if (checkpoint) { /* keep the block's input only; the backward recomputes the rest */
            ft_arena_rewind(arena, mark);
            memset(&L[l], 0, sizeof L[l]);
            L[l].x_in = *x;
        }
        *x = x_out;
    }
    return FT_OK;
}

ft_status ft_model_block_recompute(const ft_model *m, bool checkpoint, int64_t N, ft_block_fn block, void *acts,
                                   const ft_block_cache *L, int l, ft_arena *arena) {
    if (!checkpoint)
        return FT_OK;
    float *x_out;
    AL(x_out, N * m->cfg.hidden);
    return block(m, acts, l, L[l].x_in, x_out, arena);
}

ft_status ft_model_block_grads(const ft_model *m, const ft_fwd_opts *o, int64_t count, int64_t N, ft_block_grads *g,
                               ft_arena *arena) {
    if (o->no_loss)
        return ft_fail(FT_ERR_ARG, "backward after an inference-only forward");
    if (count == 0)
        return ft_fail(FT_ERR_ARG, "backward: the batch has no target");
    const int64_t C = m->cfg.hidden, I = m->cfg.intermediate;
    float **nc[] = {&g->dres, &g->ds, &g->dh, &g->att[0], &g->att[1], &g->att[2], &g->att[3], &g->att[4], &g->att[5]};
    for (size_t k = 0; k < sizeof nc / sizeof *nc; k++)
        ZA(*nc[k], N * C);
    ZA(g->dact, N * I);
    ZA(g->dfc, N * I);
    return FT_OK;
}

ft_status ft_model_mlp_forward(const ft_model *m, const ft_fwd_opts *o, int l, int64_t N, const float *h,
                               ft_block_cache *L, float **ob, ft_arena *arena) {
    const int64_t C = m->cfg.hidden, I = m->cfg.intermediate;
    AL(L->fc, N * I);
    AL(L->act, N * I);
    FT_TRY(ft_model_site_forward(m, o, l, FT_SITE_FC, N, L->fc, h, L->lc, arena));
    ft_act_forward(m->cfg.act, L->act, L->fc, N * I);
    float *mo, *mb;
    AL(mo, N * C);
    FT_TRY(ft_model_site_forward(m, o, l, FT_SITE_PROJ, N, mo, L->act, L->lc, arena));
    mb = mo;
    if (m->adapters[l * 2 + 1].down_w >= 0) /* the adapter keeps its input: its output goes elsewhere */
        AL(mb, N * C);
    FT_TRY(ft_model_branch_out(m, o, l, 1, N, &L->ad[1], mb, mo, arena));
    *ob = mb;
    return FT_OK;
}

ft_status ft_model_mlp_backward(const ft_model *m, const ft_fwd_opts *o, int l, int64_t N, const float *h,
                                const ft_block_cache *L, const float *dob, float *dh, const ft_block_grads *g,
                                ft_arena *arena) {
    const int64_t NI = N * m->cfg.intermediate;
    const float *dbr;
    FT_TRY(ft_model_branch_grad(m, o, l, 1, N, &L->ad[1], g->att[0], g->att[1], dob, &dbr, arena));
    memset(g->dact, 0, (size_t)NI * sizeof(float));
    FT_TRY(ft_model_site_backward(m, o, l, FT_SITE_PROJ, N, g->dact, dbr, L->act, L->lc, arena));
    memset(g->dfc, 0, (size_t)NI * sizeof(float));
    ft_act_backward(m->cfg.act, g->dfc, g->dact, L->fc, NI);
    return ft_model_site_backward(m, o, l, FT_SITE_FC, N, dh, g->dfc, h, L->lc, arena);
}

ft_status ft_model_add_norm(const ft_model *m, int64_t N, const float *x, const float *r, int w, int b, float **s,
                            float **y, float **mean, float **rstd, ft_arena *arena) {
    const int64_t C = m->cfg.hidden;
    AL(*s, N * C);
    if (!*y)
        AL(*y, N * C);
    AL(*mean, N);
    AL(*rstd, N);
    ft_residual_layernorm_forward(*s, *y, *mean, *rstd, x, r, W(w), W(b), N, C, m->cfg.norm_eps);
    return FT_OK;
}

ft_status ft_model_check_targets(const ft_model *m, const ft_batch *b, const ft_fwd_opts *o) {
    if (m->task == FT_TASK_SEQ_CLS && !b->cls_labels && !o->no_loss)
        return ft_fail(FT_ERR_ARG, "the batch has no class labels for the classification head");
    if (m->task == FT_TASK_REGRESSION && !b->reg_targets && !o->no_loss)
        return ft_fail(FT_ERR_ARG, "the batch has no regression targets");
    return FT_OK;
}
