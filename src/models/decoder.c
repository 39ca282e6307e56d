/* Decoder-only transformer forward and backward for GPT-2 and the Llama family.
 * GPT-2 layer:  x += drop(c_proj(attn(c_attn(LN1(x))))); x += drop(mlp_proj(gelu(c_fc(LN2(x)))))
 * Llama layer:  x += o_proj(attn(rope(q), rope(k), v)(RMS1(x)));  x += down(silu(gate(RMS2 x)) ⊙ up(RMS2 x))
 * Loss: logits = norm_f(x)·W_lmᵀ; position t predicts labels[t+1]; mean CE over labels ≠ −100. */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "models/model.h"

typedef struct {
    float *x_in;                 /* [N,C] residual stream entering the layer */
    float *n1, *n1_mean, *n1_rstd;
    float *q, *k, *v;            /* GPT-2: views into one [N,3C] buffer; Llama: [N,HD], [N,KD], [N,KD] */
    float *probs;                /* [B,H,T,T] */
    float *atty;                 /* [N,HD] */
    float *x_mid;                /* [N,C] after the attention residual */
    float *n2, *n2_mean, *n2_rstd;
    float *fc, *up, *act;        /* [N,I]: pre-activation (GPT-2 c_fc / Llama gate), up, activated */
} layer_acts;

struct ft_acts {
    int B, T;
    int64_t N;
    ft_fwd_opts opts;
    const int32_t *ids, *mask;
    int32_t *pos, *targets;
    layer_acts *L;
    float *x_final, *nf, *nf_mean, *nf_rstd;
    float *logits;      /* [N,V]; becomes dlogits in backward */
    float *logits_copy; /* when keep_logits */
    int64_t count;
};

#define W(i) ((i) >= 0 ? m->params[(i)].data : NULL)
#define G(i) ((i) >= 0 ? m->params[(i)].grad : NULL)

static bool is_gpt2(const ft_model *m) { return m->cfg.arch == FT_ARCH_GPT2; }

size_t ft_model_act_bytes(const ft_model *m, int B, int T) {
    const ft_model_config *c = &m->cfg;
    const size_t N = (size_t)B * (size_t)T, C = (size_t)c->hidden, I = (size_t)c->intermediate;
    const size_t HD = (size_t)c->n_heads * (size_t)c->head_dim, KD = (size_t)c->n_kv_heads * (size_t)c->head_dim;
    const size_t V = (size_t)c->vocab_size, A = FT_ALIGN;
    size_t per_layer = (3 * N * C + 4 * N + N * (HD + 2 * KD) + (size_t)B * (size_t)c->n_heads * (size_t)T * (size_t)T +
                        N * HD + 3 * N * I) * 4 + 20 * A;
    size_t fixed = (3 * N * C + 2 * N + 2 * N * V) * 4 + 4 * N * 4 + (size_t)c->n_layers * sizeof(layer_acts) + 20 * A;
    /* backward scratch: dres, dn, dbranch [N,C]; dqkv; datty; dact, dfc, dup [N,I] */
    size_t bwd = (3 * N * C + N * (HD + 2 * KD) + N * HD + 3 * N * I) * 4 + 10 * A;
    return (size_t)c->n_layers * per_layer + fixed + bwd;
}

#define AL(ptr, count)                                                          \
    do {                                                                        \
        (ptr) = ft_arena_alloc(arena, (size_t)(count) * sizeof(*(ptr)));       \
        if (!(ptr))                                                             \
            return FT_ERR_NOMEM;                                                \
    } while (0)

static void norm_fwd(const ft_model *m, float *y, float *mean, float *rstd, const float *x, int wi, int bi, int64_t N) {
    const int64_t C = m->cfg.hidden;
    if (is_gpt2(m))
        ft_layernorm_forward(y, mean, rstd, x, W(wi), W(bi), N, C, m->cfg.norm_eps);
    else
        ft_rmsnorm_forward(y, rstd, x, W(wi), N, C, m->cfg.norm_eps);
}

static void norm_bwd(const ft_model *m, float *dx, const float *dy, const float *x, const float *mean,
                     const float *rstd, int wi, int bi, int64_t N) {
    const int64_t C = m->cfg.hidden;
    if (is_gpt2(m))
        ft_layernorm_backward(dx, G(wi), G(bi), dy, x, W(wi), mean, rstd, N, C);
    else
        ft_rmsnorm_backward(dx, G(wi), dy, x, W(wi), rstd, N, C);
}

static void act_fwd(ft_act a, float *y, const float *x, int64_t n) {
    switch (a) {
    case FT_ACT_GELU_TANH: ft_gelu_tanh_forward(y, x, n); break;
    case FT_ACT_GELU_ERF: ft_gelu_erf_forward(y, x, n); break;
    case FT_ACT_SILU: ft_silu_forward(y, x, n); break;
    case FT_ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    }
}

static void act_bwd(ft_act a, float *dx, const float *dy, const float *x, int64_t n) {
    switch (a) {
    case FT_ACT_GELU_TANH: ft_gelu_tanh_backward(dx, dy, x, n); break;
    case FT_ACT_GELU_ERF: ft_gelu_erf_backward(dx, dy, x, n); break;
    case FT_ACT_SILU: ft_silu_backward(dx, dy, x, n); break;
    case FT_ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
        break;
    }
}

/* Dropout RNG streams: distinct per step, layer and site. */
static uint64_t drop_stream(const ft_fwd_opts *o, int layer, int site) {
    return o->step * 4096u + (uint64_t)(layer + 1) * 8u + (uint64_t)site;
}

static ft_attn_shape attn_shape(const ft_model *m, const ft_acts *a, int layer) {
    const ft_model_config *c = &m->cfg;
    ft_attn_shape s;
    s.B = a->B;
    s.T = a->T;
    s.H = c->n_heads;
    s.Hkv = c->n_kv_heads;
    s.D = c->head_dim;
    s.q_stride = is_gpt2(m) ? 3 * (int64_t)c->hidden : (int64_t)c->n_heads * c->head_dim;
    s.kv_stride = is_gpt2(m) ? 3 * (int64_t)c->hidden : (int64_t)c->n_kv_heads * c->head_dim;
    s.causal = true;
    s.scale = 1.0f / sqrtf((float)c->head_dim);
    s.dropout = a->opts.training ? c->attn_dropout : 0.0f;
    s.seed = a->opts.seed;
    s.stream = drop_stream(&a->opts, layer, 0);
    return s;
}

ft_status ft_model_forward(ft_model *m, const ft_batch *b, const ft_fwd_opts *o, ft_arena *arena, ft_acts **out,
                           double *loss, int64_t *count) {
    FT_TRY(ft_batch_validate(m, b));
    const ft_model_config *c = &m->cfg;
    const int B = b->B, T = b->T;
    const int64_t N = (int64_t)B * T, C = c->hidden, I = c->intermediate, V = c->vocab_size;
    const int64_t HD = (int64_t)c->n_heads * c->head_dim, KD = (int64_t)c->n_kv_heads * c->head_dim;
    const bool gpt2 = is_gpt2(m);
    ft_acts *a;
    AL(a, 1);
    memset(a, 0, sizeof *a);
    a->B = B;
    a->T = T;
    a->N = N;
    a->opts = *o;
    a->ids = b->input_ids;
    a->mask = b->mask;
    AL(a->pos, N);
    AL(a->targets, N);
    AL(a->L, c->n_layers);
    for (int r = 0; r < B; r++)
        for (int t = 0; t < T; t++) {
            int64_t i = (int64_t)r * T + t;
            a->pos[i] = t; /* HF position ids 0..T−1 regardless of padding */
            const int32_t *lab = b->labels ? b->labels : b->input_ids;
            a->targets[i] = t + 1 < T ? lab[i + 1] : -100;
        }

    /* embeddings */
    float *x;
    AL(x, N * C);
    ft_embedding_forward(x, W(m->wte), b->input_ids, gpt2 ? W(m->wpe) : NULL, a->pos, N, C);
    if (o->training && c->embd_dropout > 0.0f)
        ft_dropout_forward(x, x, N * C, c->embd_dropout, o->seed, drop_stream(o, -1, 0));

    for (int l = 0; l < c->n_layers; l++) {
        const ft_layer_idx *P = &m->layers[l];
        layer_acts *L = &a->L[l];
        L->x_in = x;
        AL(L->n1, N * C);
        AL(L->n1_mean, N);
        AL(L->n1_rstd, N);
        norm_fwd(m, L->n1, L->n1_mean, L->n1_rstd, x, P->ln1_w, P->ln1_b, N);
        if (gpt2) {
            float *qkv;
            AL(qkv, N * 3 * C);
            ft_linear_forward(qkv, L->n1, W(P->qkv_w), W(P->qkv_b), N, C, 3 * C, true);
            L->q = qkv;
            L->k = qkv + C;
            L->v = qkv + 2 * C;
        } else {
            AL(L->q, N * HD);
            AL(L->k, N * KD);
            AL(L->v, N * KD);
            ft_linear_forward(L->q, L->n1, W(P->q_w), W(P->q_b), N, C, HD, false);
            ft_linear_forward(L->k, L->n1, W(P->k_w), W(P->k_b), N, C, KD, false);
            ft_linear_forward(L->v, L->n1, W(P->v_w), W(P->v_b), N, C, KD, false);
            ft_rope_forward(L->q, a->pos, N, c->n_heads, c->head_dim, HD, c->rope_theta);
            ft_rope_forward(L->k, a->pos, N, c->n_kv_heads, c->head_dim, KD, c->rope_theta);
        }
        AL(L->probs, (int64_t)B * c->n_heads * T * T);
        AL(L->atty, N * HD);
        ft_attn_shape as = attn_shape(m, a, l);
        ft_attention_forward(L->atty, L->probs, L->q, L->k, L->v, b->mask, &as);
        AL(L->x_mid, N * C);
        ft_linear_forward(L->x_mid, L->atty, W(P->o_w), W(P->o_b), N, HD, C, gpt2);
        if (o->training && c->resid_dropout > 0.0f)
            ft_dropout_forward(L->x_mid, L->x_mid, N * C, c->resid_dropout, o->seed, drop_stream(o, l, 1));
        ft_add_inplace(L->x_mid, x, N * C);

        AL(L->n2, N * C);
        AL(L->n2_mean, N);
        AL(L->n2_rstd, N);
        norm_fwd(m, L->n2, L->n2_mean, L->n2_rstd, L->x_mid, P->ln2_w, P->ln2_b, N);
        AL(L->fc, N * I);
        AL(L->act, N * I);
        float *x_out;
        AL(x_out, N * C);
        if (gpt2) {
            ft_linear_forward(L->fc, L->n2, W(P->fc_w), W(P->fc_b), N, C, I, true);
            act_fwd(c->act, L->act, L->fc, N * I);
            ft_linear_forward(x_out, L->act, W(P->proj_w), W(P->proj_b), N, I, C, true);
        } else {
            AL(L->up, N * I);
            ft_linear_forward(L->fc, L->n2, W(P->gate_w), W(P->gate_b), N, C, I, false);
            ft_linear_forward(L->up, L->n2, W(P->up_w), W(P->up_b), N, C, I, false);
            ft_swiglu_forward(L->act, L->fc, L->up, N * I);
            ft_linear_forward(x_out, L->act, W(P->down_w), W(P->down_b), N, I, C, false);
        }
        if (o->training && c->resid_dropout > 0.0f)
            ft_dropout_forward(x_out, x_out, N * C, c->resid_dropout, o->seed, drop_stream(o, l, 2));
        ft_add_inplace(x_out, L->x_mid, N * C);
        x = x_out;
    }
    a->x_final = x;
    AL(a->nf, N * C);
    AL(a->nf_mean, N);
    AL(a->nf_rstd, N);
    norm_fwd(m, a->nf, a->nf_mean, a->nf_rstd, x, m->lnf_w, m->lnf_b, N);
    AL(a->logits, N * V);
    ft_linear_forward(a->logits, a->nf, W(m->lm_head), NULL, N, C, V, false);
    if (o->keep_logits) {
        AL(a->logits_copy, N * V);
        memcpy(a->logits_copy, a->logits, (size_t)(N * V) * sizeof(float));
    }
    int64_t cnt = 0;
    double sum = ft_cross_entropy_forward(a->logits, a->targets, N, V, &cnt);
    a->count = cnt;
    *out = a;
    if (count)
        *count = cnt;
    if (cnt == 0)
        return ft_fail(FT_ERR_ARG, "the batch has no target token (every shifted label is -100)");
    *loss = sum / (double)cnt;
    if (!isfinite(*loss))
        return ft_fail(FT_ERR_NUMERIC, "the loss is %s", isnan(*loss) ? "NaN" : "infinite");
    return FT_OK;
}

const float *ft_acts_logits(const ft_acts *a) { return a->logits_copy; }

static float *zeroed(ft_arena *arena, int64_t n) {
    float *p = ft_arena_alloc(arena, (size_t)n * sizeof(float));
    if (p)
        memset(p, 0, (size_t)n * sizeof(float));
    return p;
}

#define ZA(ptr, count)                                                          \
    do {                                                                        \
        (ptr) = zeroed(arena, (count));                                         \
        if (!(ptr))                                                             \
            return FT_ERR_NOMEM;                                                \
    } while (0)
#define ZERO(ptr, count) memset((ptr), 0, (size_t)(count) * sizeof(float))

/* Residual-branch dropout backward: returns the gradient of the branch output. */
static const float *branch_grad(float *buf, const float *dres, int64_t n, float p, const ft_fwd_opts *o, int layer,
                                int site) {
    if (!o->training || p <= 0.0f)
        return dres;
    memset(buf, 0, (size_t)n * sizeof(float));
    ft_dropout_backward(buf, dres, n, p, o->seed, drop_stream(o, layer, site));
    return buf;
}

ft_status ft_model_backward(ft_model *m, ft_acts *a, ft_arena *arena, float loss_scale) {
    const ft_model_config *c = &m->cfg;
    const int64_t N = a->N, C = c->hidden, I = c->intermediate, V = c->vocab_size;
    const int64_t HD = (int64_t)c->n_heads * c->head_dim, KD = (int64_t)c->n_kv_heads * c->head_dim;
    const bool gpt2 = is_gpt2(m);
    const ft_fwd_opts *o = &a->opts;
    if (a->count == 0)
        return ft_fail(FT_ERR_ARG, "backward: the batch has no target token");

    float *dres, *dn, *dbuf, *dqkv, *datty, *dact, *dfc, *dup = NULL;
    ZA(dres, N * C);
    ZA(dn, N * C);
    ZA(dbuf, N * C);
    ZA(dqkv, N * (gpt2 ? 3 * C : HD + 2 * KD));
    ZA(datty, N * HD);
    ZA(dact, N * I);
    ZA(dfc, N * I);
    if (!gpt2)
        ZA(dup, N * I);

    /* loss → logits → final norm */
    float *dlogits = a->logits; /* in place */
    ft_cross_entropy_backward(dlogits, a->logits, a->targets, N, V, loss_scale / (float)a->count);
    ft_linear_backward(dn, G(m->lm_head), NULL, dlogits, a->nf, W(m->lm_head), N, C, V, false);
    norm_bwd(m, dres, dn, a->x_final, a->nf_mean, a->nf_rstd, m->lnf_w, m->lnf_b, N);

    for (int l = c->n_layers - 1; l >= 0; l--) {
        const ft_layer_idx *P = &m->layers[l];
        layer_acts *L = &a->L[l];
        /* MLP branch: dres is d(x_out) */
        const float *dbr = branch_grad(dbuf, dres, N * C, c->resid_dropout, o, l, 2);
        ZERO(dact, N * I);
        ZERO(dn, N * C);
        if (gpt2) {
            ft_linear_backward(dact, G(P->proj_w), G(P->proj_b), dbr, L->act, W(P->proj_w), N, I, C, true);
            ZERO(dfc, N * I);
            act_bwd(c->act, dfc, dact, L->fc, N * I);
            ft_linear_backward(dn, G(P->fc_w), G(P->fc_b), dfc, L->n2, W(P->fc_w), N, C, I, true);
        } else {
            ft_linear_backward(dact, G(P->down_w), G(P->down_b), dbr, L->act, W(P->down_w), N, I, C, false);
            ZERO(dfc, N * I);
            ZERO(dup, N * I);
            ft_swiglu_backward(dfc, dup, dact, L->fc, L->up, N * I);
            ft_linear_backward(dn, G(P->gate_w), G(P->gate_b), dfc, L->n2, W(P->gate_w), N, C, I, false);
            ft_linear_backward(dn, G(P->up_w), G(P->up_b), dup, L->n2, W(P->up_w), N, C, I, false);
        }
        norm_bwd(m, dres, dn, L->x_mid, L->n2_mean, L->n2_rstd, P->ln2_w, P->ln2_b, N); /* dres = d(x_mid) */

        /* attention branch */
        dbr = branch_grad(dbuf, dres, N * C, c->resid_dropout, o, l, 1);
        ZERO(datty, N * HD);
        ft_linear_backward(datty, G(P->o_w), G(P->o_b), dbr, L->atty, W(P->o_w), N, HD, C, gpt2);
        ZERO(dqkv, N * (gpt2 ? 3 * C : HD + 2 * KD));
        float *dq = dqkv, *dk = gpt2 ? dqkv + C : dqkv + N * HD, *dv = gpt2 ? dqkv + 2 * C : dqkv + N * (HD + KD);
        ft_attn_shape as = attn_shape(m, a, l);
        ft_attention_backward(dq, dk, dv, datty, L->probs, L->q, L->k, L->v, a->mask, &as);
        ZERO(dn, N * C);
        if (gpt2) {
            ft_linear_backward(dn, G(P->qkv_w), G(P->qkv_b), dqkv, L->n1, W(P->qkv_w), N, C, 3 * C, true);
        } else {
            ft_rope_backward(dq, a->pos, N, c->n_heads, c->head_dim, HD, c->rope_theta);
            ft_rope_backward(dk, a->pos, N, c->n_kv_heads, c->head_dim, KD, c->rope_theta);
            ft_linear_backward(dn, G(P->q_w), G(P->q_b), dq, L->n1, W(P->q_w), N, C, HD, false);
            ft_linear_backward(dn, G(P->k_w), G(P->k_b), dk, L->n1, W(P->k_w), N, C, KD, false);
            ft_linear_backward(dn, G(P->v_w), G(P->v_b), dv, L->n1, W(P->v_w), N, C, KD, false);
        }
        norm_bwd(m, dres, dn, L->x_in, L->n1_mean, L->n1_rstd, P->ln1_w, P->ln1_b, N); /* dres = d(x_in) */
    }

    /* embeddings */
    const float *demb = dres;
    if (o->training && c->embd_dropout > 0.0f)
        demb = branch_grad(dbuf, dres, N * C, c->embd_dropout, o, -1, 0);
    if (G(m->wte))
        ft_embedding_backward(G(m->wte), demb, a->ids, N, C, gpt2 ? -1 : c->pad_token_id);
    if (gpt2 && G(m->wpe))
        ft_embedding_backward(G(m->wpe), demb, a->pos, N, C, -1);
    return FT_OK;
}
