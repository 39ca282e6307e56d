/* Decoder-only transformer forward and backward for GPT-2 and the Llama family, with PEFT hooks.
 * GPT-2 layer:  x += drop(A(c_proj(attn(c_attn(LN1(x)))))); x += drop(A(mlp_proj(gelu(c_fc(LN2(x))))))
 * Llama layer:  x += A(o_proj(attn(rope(q), rope(k), v)(RMS1 x)));  x += A(down(silu(gate(RMS2 x)) ⊙ up(RMS2 x)))
 * A = optional bottleneck adapter o ↦ o + up(act(down(o))). Linear layers may carry LoRA / IA3 (nn/linear).
 * Prompt tuning prepends n virtual token embeddings (positions 0..n−1, mask 1, labels −100).
 * Causal LM loss: logits = norm_f(x)·W_lmᵀ; position t predicts labels[t+1]; mean CE over labels ≠ −100.
 * SEQ_CLS / REGRESSION: score(norm_f(x) at the last non-padding token); CE or MSE over the batch. */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "models/family.h"
#include "models/model.h"
#include "nn/linear.h"

typedef ft_adapter_cache adapter_cache;

typedef struct {
    float *x_in;                 /* [N,C] residual stream entering the layer */
    float *n1, *n1_mean, *n1_rstd;
    float *q, *k, *v;            /* GPT-2: views into one [N,3C] buffer; Llama: [N,HD], [N,KD], [N,KD] */
    float *lse;                  /* [B,H,T] attention row log-sum-exp (backward recomputes P) */
    float *atty;                 /* [N,HD] */
    float *x_mid;                /* [N,C] after the attention residual */
    float *n2, *n2_mean, *n2_rstd;
    float *fc, *up, *act;        /* [N,I]: pre-activation (GPT-2 c_fc / Llama gate), up, activated */
    ft_lin_cache lc[FT_N_SITES];
    adapter_cache ad[2];
} layer_acts;

struct ft_acts {
    const ft_family *fam;      /* &ft_decoder_family (models/family.h) */
    int B, T, T_in, n_virtual; /* T = n_virtual + T_in */
    int64_t N;
    ft_fwd_opts opts;
    int32_t *ids, *mask, *pos, *targets; /* [N] (ids: 0 at virtual positions) */
    layer_acts *L;
    float *x_final, *nf, *nf_mean, *nf_rstd;
    /* !opts.keep_recomputable: one [N,C] norm output, one [N,I] MLP activation and [N] statistics shared by
     * every block (the forward's n1, n2, act live here only until the block's next product has read them) */
    float *s_norm, *s_act, *s_mean, *s_rstd;
    float *logits;      /* causal LM [N,V] (becomes dlogits); head tasks [B, n_labels] */
    float *logits_copy; /* when keep_logits */
    float *dnf;         /* [N,C] head gradient computed by the fused forward, or NULL */
    float head_scale;   /* the per-target scale the fused forward used */
    int64_t logit_rows, logit_cols;
    int32_t *pool_idx;  /* [B] row index of the pooled token (head tasks) */
    int32_t *cls;       /* [B] class labels (SEQ_CLS) */
    float *reg;         /* [B] targets (REGRESSION) */
    int64_t count;
};


static bool is_gpt2(const ft_model *m) { return m->cfg.arch == FT_ARCH_GPT2; }

static size_t dec_act_bytes(const ft_model *m, int B, int T, const ft_fwd_opts *o) {
    const ft_model_config *c = &m->cfg;
    T += m->n_virtual;
    const size_t N = (size_t)B * (size_t)T, C = (size_t)c->hidden, I = (size_t)c->intermediate;
    const size_t HD = (size_t)c->n_heads * (size_t)c->head_dim, KD = (size_t)c->n_kv_heads * (size_t)c->head_dim;
    const size_t V = (size_t)c->vocab_size, A = FT_ALIGN;
    /* a block keeps x_mid, its output, q/k/v, lse, the attention output, fc (and Llama's up) and four
     * statistics rows; n1, n2 and the MLP activation live in scratch shared by the blocks unless
     * keep_recomputable keeps them too */
    const size_t n_up = c->arch == FT_ARCH_GPT2 ? 1 : 2;
    const size_t kept = o->keep_recomputable ? 2 * N * C + N * I : 0;
    size_t per_layer = (2 * N * C + 4 * N + N * (HD + 2 * KD) + (size_t)B * (size_t)c->n_heads * (size_t)T +
                        N * HD + n_up * N * I + kept) * 4 + 40 * A;
    const size_t scratch = o->keep_recomputable ? 0 : (N * C + N * I + 2 * N) * 4 + 4 * A;
    /* PEFT: what a layer's forward keeps (LoRA h [N,r] and its dropped input, DoRA's inner product, IA3's
     * buffer, an adapter's z/h and its separate branch output) and the scratch its backward takes and gives
     * back at the end of the layer (LoRA dh and dropout buffers, DoRA's scaled dy, IA3's, adapter dz/dh) */
    size_t peft = 0, peft_max = 0, peft_tmp = 0;
    for (int l = 0; l < c->n_layers; l++) {
        size_t pl, pt;
        ft_model_peft_layer_bytes(m, l, N, &pl, &pt);
        peft += pl;
        peft_max = pl > peft_max ? pl : peft_max;
        peft_tmp = pt > peft_tmp ? pt : peft_tmp;
    }
    /* the head: what stays through the backward, and (fused LM head) the [chunk, V] workspace that is
     * given back before the backward, so the step needs the larger of it and the backward's buffers */
    const bool causal = m->task == FT_TASK_CAUSAL_LM;
    const bool fused = causal && o->fused_head && !o->no_loss && o->label_smoothing <= 0.0f;
    const size_t K = (size_t)(m->n_labels > 0 ? m->n_labels : 1), chunk = N < 256 ? N : 256;
    size_t head = 0, transient = 0;
    if (fused) {
        head = (N * C + (o->keep_logits ? N * V : 0)) * 4 + 2 * A;
        transient = chunk * V * 4 + A;
    } else if (causal) {
        head = (N * V + (o->keep_logits ? N * V : 0)) * 4 + 2 * A;
    } else {
        head = (2 * (size_t)B * (K + 2) + 2 * (size_t)B * C + N * C) * 4 + 8 * A;
    }
    size_t fixed = (3 * N * C + 2 * N) * 4 + 6 * N * 4 + (size_t)c->n_layers * sizeof(layer_acts) + 40 * A + scratch +
                   head;
    size_t bwd = ft_attention_lse_scratch_bytes(c->head_dim); /* attention tiles (thread stacks) */
    if (!o->no_loss) /* a backward may follow: its gradient buffers (and a pooled head's) */
        bwd += (4 * N * C + N * (HD + 2 * KD) + N * HD + 3 * N * I + (size_t)B * (K + 2 * C)) * 4 + 16 * A + peft_tmp;
    if (ft_model_half_bytes(m) || ft_model_q8_bytes(m)) { /* weights in their file dtype or int8: one widened
                     panel at a time (a site's or the LM head's, given back after each product): the largest
                     over every shape; an int8 site under precision bf16 widens its whole weight to bf16 */
        size_t ps = ft_lmhead_ce_half_panel_floats((int64_t)C, (int64_t)V);
        for (int s = 0; s < FT_N_SITES; s++) {
            int64_t in, out;
            if (!ft_model_site(m, 0, (ft_site)s, NULL, NULL, &in, &out, NULL, NULL, 0))
                continue;
            const size_t f = ft_gemm_half_panel_floats(in, out), b = ft_gemm_half_panel_floats(out, in);
            const size_t w = ft_model_q8_bytes(m) ? (size_t)(in * out + 1) / 2 : 0; /* bf16 = half a float */
            ps = f > ps ? f : ps;
            ps = b > ps ? b : ps;
            ps = w > ps ? w : ps;
        }
        fixed += ps * 4 + A;
    }
    const size_t tail = fixed + (transient > bwd ? transient : bwd);
    if (o->checkpoint) /* kept: every block's output [N,C]; live: one block, plus the recompute's output */
        return (size_t)c->n_layers * (N * C * 4 + A) + per_layer + peft_max + N * C * 4 + A + tail;
    return (size_t)c->n_layers * per_layer + peft + tail;
}


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

/* The unfused LM head logits[N,V] = h·W_lmᵀ and its backward (dh += dL·W, dW when it trains), with W in fp32
 * or in its file dtype (nn/linear). */
static ft_lin head_lin(const ft_model *m) {
    ft_lin L;
    memset(&L, 0, sizeof L);
    ft_model_lin_weight(m, m->lm_head, &L);
    L.w16 = NULL; /* the unfused head runs in fp32, as before */
    L.mm = NULL;
    L.in = m->cfg.hidden;
    L.out = m->cfg.vocab_size;
    L.dw = G(m->lm_head);
    return L;
}

static ft_status head_product(const ft_model *m, float *logits, const float *h, int64_t N, ft_arena *arena) {
    const ft_lin L = head_lin(m);
    ft_lin_cache c;
    return ft_lin_forward(&L, logits, h, N, arena, &c);
}

static ft_status head_product_backward(const ft_model *m, float *dh, const float *dlogits, const float *h,
                                       int64_t N, ft_arena *arena) {
    const ft_lin L = head_lin(m);
    ft_lin_cache c;
    memset(&c, 0, sizeof c);
    return ft_lin_backward(&L, dh, dlogits, h, N, &c, arena);
}

/* Dropout RNG streams: distinct per step, layer and site. */
static uint64_t drop_stream(const ft_fwd_opts *o, int layer, int site) {
    return ft_model_drop_stream(o, layer, site);
}

ft_lin ft_model_site_lin(const ft_model *m, int l, ft_site site, bool grads) {
    ft_lin L;
    memset(&L, 0, sizeof L);
    int wi, bi;
    ft_model_site(m, l, site, &wi, &bi, &L.in, &L.out, &L.w_in_out, NULL, 0);
    ft_model_lin_weight(m, wi, &L);
    L.b = W(bi);
    const ft_site_peft *sp = &m->sites[l * FT_N_SITES + site];
    if (sp->lora_a >= 0) {
        L.lora_a = W(sp->lora_a);
        L.lora_b = W(sp->lora_b);
        L.r = sp->r;
        L.scale = sp->lora_scale;
        L.lora_dropout = sp->lora_dropout;
        L.dora_m = W(sp->dora_m);
    }
    if (sp->ia3 >= 0) {
        L.ia3 = W(sp->ia3);
        L.ia3_in = sp->ia3_in;
    }
    if (grads) {
        L.dw = G(wi);
        L.db = G(bi);
        if (sp->lora_a >= 0) {
            L.dlora_a = G(sp->lora_a);
            L.dlora_b = G(sp->lora_b);
            L.ddora_m = G(sp->dora_m);
        }
        if (sp->ia3 >= 0)
            L.dia3 = G(sp->ia3);
    }
    return L;
}

static ft_lin make_lin(const ft_model *m, const ft_acts *a, int l, ft_site site) {
    return ft_model_step_lin(m, &a->opts, l, site);
}

static ft_status lin_fwd(const ft_model *m, ft_acts *a, int l, ft_site site, float *y, const float *x, ft_arena *arena) {
    ft_lin L = make_lin(m, a, l, site);
    return ft_lin_forward(&L, y, x, a->N, arena, &a->L[l].lc[site]);
}

static ft_status lin_bwd(const ft_model *m, ft_acts *a, int l, ft_site site, float *dx, const float *dy, const float *x,
                         ft_arena *arena) {
    ft_lin L = make_lin(m, a, l, site);
    return ft_lin_backward(&L, dx, dy, x, a->N, &a->L[l].lc[site], arena);
}

/* A site whose output is the plain base product (no LoRA / DoRA / IA3): its bias can move into the fused
 * epilogue that follows (ft_bias_act_forward / ft_act_backward_bias). */
static bool site_plain(const ft_model *m, int l, ft_site site) {
    const ft_site_peft *sp = &m->sites[l * FT_N_SITES + site];
    return sp->lora_a < 0 && sp->ia3 < 0;
}

/* y = f(x·W + b) with the bias and f in one pass over y; pre (= x·W + b) kept for the backward. */
static ft_status lin_act_fwd(const ft_model *m, ft_acts *a, int l, ft_site site, ft_act f, float *act,
                             float *pre, const float *x, ft_arena *arena) {
    ft_lin L = make_lin(m, a, l, site);
    const float *b = L.b;
    L.b = NULL;
    FT_TRY(ft_lin_forward(&L, pre, x, a->N, arena, &a->L[l].lc[site]));
    ft_bias_act_forward(f, act, pre, b, a->N, L.out);
    return FT_OK;
}

/* Backward of lin_act_fwd: dpre = dact ⊙ f'(pre) and the bias gradient in one pass (dpre written), then the
 * products. */
static ft_status lin_act_bwd(const ft_model *m, ft_acts *a, int l, ft_site site, ft_act f, float *dx,
                             float *dpre, const float *dact, const float *pre, const float *x,
                             ft_arena *arena) {
    ft_lin L = make_lin(m, a, l, site);
    ft_act_backward_bias(f, dpre, L.db, dact, pre, a->N, L.out);
    L.db = NULL;
    return ft_lin_backward(&L, dx, dpre, x, a->N, &a->L[l].lc[site], arena);
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
    s.drop_row0 = a->opts.drop_row0;
    s.drop_pad = a->opts.drop_pad;
    return s;
}

/* Branch output o → (adapter) → dropout → + residual, into dst. o may be overwritten. */
static ft_status branch_out(const ft_model *m, ft_acts *a, int l, int which, float *dst, float *o, const float *res,
                            ft_arena *arena) {
    FT_TRY(ft_model_branch_out(m, &a->opts, l, which, a->N, &a->L[l].ad[which], dst, o, arena));
    ft_add_inplace(dst, res, a->N * m->cfg.hidden);
    return FT_OK;
}

/* One block: x [N,C] → x_out [N,C] (caller's buffer), every other activation of the block taken from the
 * arena into a->L[l]. The normal forward, the checkpointed forward and the backward's recompute all run
 * this, so a recomputed block repeats the same arithmetic (and the same dropout streams) bit for bit. */
static ft_status layer_fwd(const ft_model *m, ft_acts *a, int l, const float *x, float *x_out, ft_arena *arena) {
    const ft_model_config *c = &m->cfg;
    const int B = a->B, T = a->T;
    const int64_t N = a->N, C = c->hidden, I = c->intermediate;
    const int64_t HD = (int64_t)c->n_heads * c->head_dim, KD = (int64_t)c->n_kv_heads * c->head_dim;
    const bool gpt2 = is_gpt2(m);
    const ft_layer_idx *P = &m->layers[l];
    layer_acts *L = &a->L[l];
    memset(L, 0, sizeof *L);
    L->x_in = (float *)x;
    const bool keep = a->opts.keep_recomputable;
    if (keep)
        AL(L->n1, N * C);
    else
        L->n1 = a->s_norm;
    AL(L->n1_mean, N);
    AL(L->n1_rstd, N);
    norm_fwd(m, L->n1, L->n1_mean, L->n1_rstd, x, P->ln1_w, P->ln1_b, N);
    if (gpt2) {
        float *qkv;
        AL(qkv, N * 3 * C);
        FT_TRY(lin_fwd(m, a, l, FT_SITE_QKV, qkv, L->n1, arena));
        L->q = qkv;
        L->k = qkv + C;
        L->v = qkv + 2 * C;
    } else {
        AL(L->q, N * HD);
        AL(L->k, N * KD);
        AL(L->v, N * KD);
        FT_TRY(lin_fwd(m, a, l, FT_SITE_Q, L->q, L->n1, arena));
        FT_TRY(lin_fwd(m, a, l, FT_SITE_K, L->k, L->n1, arena));
        FT_TRY(lin_fwd(m, a, l, FT_SITE_V, L->v, L->n1, arena));
        ft_rope_forward(L->q, a->pos, N, c->n_heads, c->head_dim, HD, c->rope_theta);
        ft_rope_forward(L->k, a->pos, N, c->n_kv_heads, c->head_dim, KD, c->rope_theta);
    }
    AL(L->lse, (int64_t)B * c->n_heads * T);
    AL(L->atty, N * HD);
    ft_attn_shape as = attn_shape(m, a, l);
    FT_TRY(ft_attention_forward_lse(L->atty, L->lse, L->q, L->k, L->v, a->mask, &as));
    AL(L->x_mid, N * C);
    float *ob = L->x_mid;
    if (m->adapters[l * 2].down_w >= 0)
        AL(ob, N * C);
    FT_TRY(lin_fwd(m, a, l, FT_SITE_O, ob, L->atty, arena));
    if (keep)
        AL(L->n2, N * C);
    else
        L->n2 = a->s_norm; /* n1 is dead: the q/k/v products have read it */
    AL(L->n2_mean, N);
    AL(L->n2_rstd, N);
    /* no adapter, no residual dropout: x_mid = o + x and its norm in one pass (ft_residual_*norm_forward) */
    if (m->adapters[l * 2].down_w < 0 && !(a->opts.training && c->resid_dropout > 0.0f)) {
        if (gpt2)
            ft_residual_layernorm_forward(L->x_mid, L->n2, L->n2_mean, L->n2_rstd, ob, x, W(P->ln2_w),
                                          W(P->ln2_b), N, C, c->norm_eps);
        else
            ft_residual_rmsnorm_forward(L->x_mid, L->n2, L->n2_rstd, ob, x, W(P->ln2_w), N, C, c->norm_eps);
    } else {
        FT_TRY(branch_out(m, a, l, 0, L->x_mid, ob, x, arena));
        norm_fwd(m, L->n2, L->n2_mean, L->n2_rstd, L->x_mid, P->ln2_w, P->ln2_b, N);
    }
    AL(L->fc, N * I);
    if (keep)
        AL(L->act, N * I);
    else
        L->act = a->s_act;
    float *mo = x_out;
    if (m->adapters[l * 2 + 1].down_w >= 0)
        AL(mo, N * C);
    if (gpt2) {
        if (site_plain(m, l, FT_SITE_FC)) {
            FT_TRY(lin_act_fwd(m, a, l, FT_SITE_FC, c->act, L->act, L->fc, L->n2, arena));
        } else {
            FT_TRY(lin_fwd(m, a, l, FT_SITE_FC, L->fc, L->n2, arena));
            ft_act_forward(c->act, L->act, L->fc, N * I);
        }
        FT_TRY(lin_fwd(m, a, l, FT_SITE_PROJ, mo, L->act, arena));
    } else {
        AL(L->up, N * I);
        FT_TRY(lin_fwd(m, a, l, FT_SITE_GATE, L->fc, L->n2, arena));
        FT_TRY(lin_fwd(m, a, l, FT_SITE_UP, L->up, L->n2, arena));
        ft_swiglu_forward(L->act, L->fc, L->up, N * I);
        FT_TRY(lin_fwd(m, a, l, FT_SITE_DOWN, mo, L->act, arena));
    }
    FT_TRY(branch_out(m, a, l, 1, x_out, mo, L->x_mid, arena));
    if (!keep) /* the shared scratch is the next block's: the backward recomputes what it needs */
        L->n1 = L->n2 = L->act = NULL;
    return FT_OK;
}

/* LoRA on the embedding tables (PEFT lora.Embedding, no dropout): x += s·Aᵀ[ids]·Bᵀ, token ids for the
 * token table, position ids for GPT-2's position table. backward: the gradients of A (not of the padding row)
 * and B from d(x), when they train. */
static void emb_lora(const ft_model *m, const ft_acts *a, float *x, const float *dx) {
    ft_model_emb_lora(m, a->ids, a->pos, a->N, x, dx);
}

static bool emb_lora_trains(const ft_model *m) {
    return ft_model_emb_lora_trains(m);
}

static ft_status setup_inputs(const ft_model *m, const ft_batch *b, ft_acts *a, ft_arena *arena) {
    const int nv = m->n_virtual, T = a->T, Ti = a->T_in;
    const int64_t N = a->N;
    AL(a->ids, N);
    AL(a->mask, N);
    AL(a->pos, N);
    AL(a->targets, N);
    for (int r = 0; r < a->B; r++)
        for (int t = 0; t < T; t++) {
            int64_t i = (int64_t)r * T + t, src = (int64_t)r * Ti + (t - nv);
            bool virt = t < nv;
            a->ids[i] = virt ? 0 : b->input_ids[src];
            a->mask[i] = virt ? 1 : (b->mask ? b->mask[src] : 1);
            a->pos[i] = t; /* HF position ids 0..T−1 regardless of padding */
            /* target of position t = label of position t+1 (virtual positions carry −100) */
            int nt = t + 1;
            if (nt >= T || nt < nv)
                a->targets[i] = -100;
            else {
                const int32_t *lab = b->labels ? b->labels : b->input_ids;
                a->targets[i] = lab[(int64_t)r * Ti + (nt - nv)];
            }
        }
    return FT_OK;
}

/* Σ over kept rows of mean_j(−log softmax(x)_j) = logsumexp(x) − mean(x): the smoothing term. */
static double smooth_term(const float *logits, const int32_t *targets, int64_t N, int64_t V) {
    double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total)
    for (int64_t n = 0; n < N; n++) {
        if (targets[n] < 0)
            continue;
        const float *r = logits + n * V;
        float mx = -INFINITY;
        for (int64_t j = 0; j < V; j++)
            mx = r[j] > mx ? r[j] : mx;
        double se = 0.0, sum = 0.0;
        for (int64_t j = 0; j < V; j++) {
            se += exp((double)(r[j] - mx));
            sum += (double)r[j];
        }
        // cppcheck-suppress invalidFunctionArg ; se ≥ 1 (the max term is exp(0))
        total += log(se) + (double)mx - sum / (double)V;
    }
    return total;
}

/* CE backward with smoothing ε: d = p − (1−ε)·onehot − ε/V (times scale) on kept rows. */
static void smoothed_ce_backward(float *d, const float *logits, const int32_t *targets, int64_t N, int64_t V,
                                 float scale, float eps) {
    ft_cross_entropy_backward(d, logits, targets, N, V, scale);
    if (eps <= 0.0f)
        return;
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        if (targets[n] < 0)
            continue;
        float *r = d + n * V;
        const float u = eps * scale / (float)V;
        for (int64_t j = 0; j < V; j++)
            r[j] -= u;
        r[targets[n]] += eps * scale;
    }
}

static ft_status dec_forward(ft_model *m, const ft_batch *b, const ft_fwd_opts *o, ft_arena *arena,
                             ft_acts **out, double *loss, int64_t *count) {
    if (count)
        *count = 0;
    FT_TRY(ft_batch_validate(m, b));
    FT_TRY(ft_model_sync_bf16(m));
    const ft_model_config *c = &m->cfg;
    const int B = b->B, T = b->T + m->n_virtual;
    if (T > c->max_pos)
        return ft_fail(FT_ERR_RANGE, "sequence length %d + %d virtual tokens exceeds the model's %d positions", b->T,
                       m->n_virtual, c->max_pos);
    const int64_t N = (int64_t)B * T, C = c->hidden, V = c->vocab_size;
    const bool gpt2 = is_gpt2(m);
    if (m->task == FT_TASK_SEQ_CLS && !b->cls_labels && !o->no_loss)
        return ft_fail(FT_ERR_ARG, "the batch has no class labels for the classification head");
    if (m->task == FT_TASK_REGRESSION && !b->reg_targets && !o->no_loss)
        return ft_fail(FT_ERR_ARG, "the batch has no regression targets");
    ft_acts *a;
    AL(a, 1);
    memset(a, 0, sizeof *a);
    a->fam = &ft_decoder_family;
    a->B = B;
    a->T = T;
    a->T_in = b->T;
    a->n_virtual = m->n_virtual;
    a->N = N;
    a->opts = *o;
    a->opts.drop_T = T;
    AL(a->L, c->n_layers);
    memset(a->L, 0, (size_t)c->n_layers * sizeof *a->L);
    FT_TRY(setup_inputs(m, b, a, arena));
    if (!o->keep_recomputable) {
        AL(a->s_norm, N * C);
        AL(a->s_act, N * c->intermediate);
        AL(a->s_mean, N);
        AL(a->s_rstd, N);
    }

    /* embeddings (+ virtual tokens) */
    float *x;
    AL(x, N * C);
    if (m->params[m->wte].half || (gpt2 && m->params[m->wpe].half)) { /* tables in their file dtype */
        ft_param_rows(&m->params[m->wte], a->ids, N, x, false);
        if (gpt2)
            ft_param_rows(&m->params[m->wpe], a->pos, N, x, true);
    } else {
        ft_embedding_forward(x, W(m->wte), a->ids, gpt2 ? W(m->wpe) : NULL, a->pos, N, C);
    }
    emb_lora(m, a, x, NULL);
    for (int r = 0; m->prompt >= 0 && r < B; r++)
        for (int t = 0; t < m->n_virtual; t++) {
            float *xr = x + ((int64_t)r * T + t) * C;
            memcpy(xr, W(m->prompt) + (int64_t)t * C, (size_t)C * sizeof(float));
            if (gpt2) { /* virtual token t sits at position t */
                const int32_t pt = t;
                ft_param_rows(&m->params[m->wpe], &pt, 1, xr, true);
            }
        }
    if (o->training && c->embd_dropout > 0.0f)
        ft_dropout_rows_forward(x, x, N, C, c->embd_dropout, o->seed, drop_stream(o, -1, 0),
                                ft_model_drop_rows(&a->opts));

    /* checkpoint: keep only each block's input (and the last output); the rest of a block lives between a
     * mark and a rewind, and the backward recomputes it */
    for (int l = 0; l < c->n_layers; l++) {
        float *x_out;
        AL(x_out, N * C);
        const size_t mark = ft_arena_mark(arena);
        /* a base in its file dtype: the next block's weights are read now (a training forward's backward
         * starts with this last block; an evaluation's next forward with the first) */
        FT_TRY(ft_model_layer_begin(m, l, l + 1 < c->n_layers ? l + 1 : o->training ? -1 : 0));
        FT_TRY(layer_fwd(m, a, l, x, x_out, arena));
        if (o->checkpoint) {
            ft_arena_rewind(arena, mark);
            memset(&a->L[l], 0, sizeof a->L[l]);
            a->L[l].x_in = x;
        }
        x = x_out;
    }
    a->x_final = x;
    AL(a->nf, N * C);
    AL(a->nf_mean, N);
    AL(a->nf_rstd, N);
    norm_fwd(m, a->nf, a->nf_mean, a->nf_rstd, x, m->lnf_w, m->lnf_b, N);

    double sum = 0.0;
    int64_t cnt = 0;
    const bool fused = m->task == FT_TASK_CAUSAL_LM && o->fused_head && !o->no_loss && o->label_smoothing <= 0.0f;
    if (fused) { /* LM head + CE + their gradient in row chunks (kernels: ft_lmhead_ce_forward_backward) */
        const int64_t chunk = N < 256 ? N : 256;
        int64_t n_t = ft_ce_count(a->targets, N);
        a->head_scale = o->head_grad_scale > 0.0f ? o->head_grad_scale : (n_t ? 1.0f / (float)n_t : 0.0f);
        AL(a->dnf, N * C);
        memset(a->dnf, 0, (size_t)(N * C) * sizeof(float));
        a->logit_rows = N;
        a->logit_cols = V;
        if (o->keep_logits)
            AL(a->logits_copy, N * V);
        /* the [chunk, V] workspace is dead once the head is done: taken last and given back, so the
         * backward's buffers reuse its space (the step's peak is the larger of the two, not their sum) */
        const size_t head_mark = ft_arena_mark(arena);
        float *work;
        AL(work, (int64_t)ft_lmhead_ce_work_floats(chunk, V));
        const ft_param *hp = &m->params[m->lm_head];
        const uint16_t *h16 = hp->data16 ? hp->data16 : hp->file_dtype == FT_DT_BF16 ? hp->half : NULL;
        if (m->precision == FT_PREC_BF16 && h16) {
            FT_TRY(ft_lmhead_ce_forward_backward_bf16(m->mm, a->nf, h16, a->targets, N, C, V, a->head_scale,
                                                      a->dnf, G(m->lm_head), &sum, &cnt, a->logits_copy, work,
                                                      chunk));
        } else if (hp->half) { /* frozen, in its file dtype: widened panel by panel */
            float *panel;
            AL(panel, (int64_t)ft_lmhead_ce_half_panel_floats(C, V));
            ft_lmhead_ce_forward_backward_half(a->nf, hp->half, hp->file_dtype == FT_DT_F16, a->targets, N, C,
                                               V, a->head_scale, a->dnf, &sum, &cnt, a->logits_copy, work,
                                               chunk, panel);
        } else
            ft_lmhead_ce_forward_backward(a->nf, W(m->lm_head), a->targets, N, C, V, a->head_scale, a->dnf,
                                          G(m->lm_head), &sum, &cnt, a->logits_copy, work, chunk);
        ft_arena_rewind(arena, head_mark);
    } else if (m->task == FT_TASK_CAUSAL_LM) {
        AL(a->logits, N * V);
        FT_TRY(head_product(m, a->logits, a->nf, N, arena));
        a->logit_rows = N;
        a->logit_cols = V;
        if (o->keep_logits) {
            AL(a->logits_copy, N * V);
            memcpy(a->logits_copy, a->logits, (size_t)(N * V) * sizeof(float));
        }
        if (!o->no_loss) {
            sum = ft_cross_entropy_forward(a->logits, a->targets, N, V, &cnt);
            if (o->label_smoothing > 0.0f)
                sum = (1.0 - o->label_smoothing) * sum +
                      o->label_smoothing * smooth_term(a->logits, a->targets, N, V);
        }
    } else { /* pooled head: the last non-padding token of each row */
        const int64_t K = m->n_labels;
        float *pooled;
        AL(a->pool_idx, B);
        AL(pooled, (int64_t)B * C);
        AL(a->logits, (int64_t)B * K);
        for (int r = 0; r < B; r++) {
            int last = T - 1;
            while (last > 0 && !a->mask[(int64_t)r * T + last])
                last--;
            a->pool_idx[r] = (int32_t)((int64_t)r * T + last);
            memcpy(pooled + (int64_t)r * C, a->nf + (int64_t)a->pool_idx[r] * C, (size_t)C * sizeof(float));
        }
        ft_linear_forward(a->logits, pooled, W(m->score), NULL, B, C, K, false);
        a->logit_rows = B;
        a->logit_cols = K;
        if (o->keep_logits) {
            AL(a->logits_copy, (int64_t)B * K);
            memcpy(a->logits_copy, a->logits, (size_t)(B * K) * sizeof(float));
        }
        if (o->no_loss) {
            /* inference only */
        } else {
            FT_TRY(ft_model_head_loss(m, b, a->logits, K, arena, &a->cls, &a->reg, &sum, &cnt));
            if (m->task == FT_TASK_SEQ_CLS && o->label_smoothing > 0.0f)
                sum = (1.0 - o->label_smoothing) * sum +
                      o->label_smoothing * smooth_term(a->logits, a->cls, B, K);
        }
    }
    a->count = cnt;
    *out = a;
    if (count)
        *count = cnt;
    return ft_model_mean_loss(o, sum, cnt, "the batch has no target token (every shifted label is -100)",
                              loss);
}

static const float *dec_logits(const ft_acts *a, int64_t *rows, int64_t *cols) {
    if (rows)
        *rows = a->logit_rows;
    if (cols)
        *cols = a->logit_cols;
    return a->logits_copy;
}

static int dec_seq_len(const ft_acts *a) {
    return a->T;
}

#define ZERO(ptr, count) memset((ptr), 0, (size_t)(count) * sizeof(float))

/* Gradient of a branch output o from d(x_after) through residual dropout and the adapter. */
static ft_status branch_grad(const ft_model *m, ft_acts *a, int l, int which, float *buf, float *buf2,
                             const float *dres, const float **dout, ft_arena *arena) {
    return ft_model_branch_grad(m, &a->opts, l, which, a->N, &a->L[l].ad[which], buf, buf2, dres, dout,
                                arena);
}

/* Does the backward of this site read its input x (weight gradient, LoRA/DoRA, IA3)? */
static bool site_needs_x(const ft_model *m, const ft_acts *a, int l, ft_site site) {
    const ft_lin L = make_lin(m, a, l, site);
    return L.dw || L.lora_a || L.ia3 || L.dora_m;
}

/* The inputs of a block's products that the forward did not keep (!keep_recomputable), recomputed by the
 * functions the forward ran on the values it ran them on: the same bits. NULL where no product needs one. */
static float *recompute_norm(const ft_model *m, ft_acts *a, int l, bool second, bool needed) {
    const ft_layer_idx *P = &m->layers[l];
    const layer_acts *L = &a->L[l];
    if (!needed)
        return NULL;
    if (second)
        norm_fwd(m, a->s_norm, a->s_mean, a->s_rstd, L->x_mid, P->ln2_w, P->ln2_b, a->N);
    else
        norm_fwd(m, a->s_norm, a->s_mean, a->s_rstd, L->x_in, P->ln1_w, P->ln1_b, a->N);
    return a->s_norm;
}

static float *recompute_act(const ft_model *m, ft_acts *a, int l, bool needed) {
    const layer_acts *L = &a->L[l];
    const int64_t N = a->N, I = m->cfg.intermediate;
    if (!needed)
        return NULL;
    if (!is_gpt2(m))
        ft_swiglu_forward(a->s_act, L->fc, L->up, N * I);
    else if (site_plain(m, l, FT_SITE_FC)) /* the forward's fused bias+activation, its bias already in fc */
        ft_bias_act_forward(m->cfg.act, a->s_act, L->fc, NULL, N, I);
    else
        ft_act_forward(m->cfg.act, a->s_act, L->fc, N * I);
    return a->s_act;
}

static ft_status dec_backward(ft_model *m, ft_acts *a, ft_arena *arena, float loss_scale) {
    const ft_model_config *c = &m->cfg;
    const int64_t N = a->N, C = c->hidden, I = c->intermediate, V = c->vocab_size;
    const int64_t HD = (int64_t)c->n_heads * c->head_dim, KD = (int64_t)c->n_kv_heads * c->head_dim;
    const bool gpt2 = is_gpt2(m);
    const ft_fwd_opts *o = &a->opts;
    if (a->count == 0)
        return ft_fail(FT_ERR_ARG, "backward: the batch has no target token");

    float *dres, *dn, *dbuf, *dbuf2, *dqkv, *datty, *dact, *dfc, *dup = NULL;
    ZA(dres, N * C);
    ZA(dn, N * C);
    ZA(dbuf, N * C);
    ZA(dbuf2, N * C);
    ZA(dqkv, N * (gpt2 ? 3 * C : HD + 2 * KD));
    ZA(datty, N * HD);
    ZA(dact, N * I);
    ZA(dfc, N * I);
    if (!gpt2)
        ZA(dup, N * I);

    /* loss → head → final norm */
    if (a->dnf) { /* fused forward already did the head */
        const float want = a->head_scale * (float)a->count;
        if (fabsf(loss_scale - want) > 1e-4f * fmaxf(1.0f, fabsf(want)))
            return ft_fail(FT_ERR_ARG, "backward: loss_scale %g does not match the fused head's scale (%g)",
                           (double)loss_scale, (double)want);
        memcpy(dn, a->dnf, (size_t)(N * C) * sizeof(float));
    } else if (m->task == FT_TASK_CAUSAL_LM) {
        float *dlogits = a->logits; /* in place */
        if (a->opts.no_loss)
            return ft_fail(FT_ERR_ARG, "backward after an inference-only forward");
        smoothed_ce_backward(dlogits, a->logits, a->targets, N, V, loss_scale / (float)a->count,
                             a->opts.label_smoothing);
        FT_TRY(head_product_backward(m, dn, dlogits, a->nf, N, arena));
    } else {
        const int B = a->B;
        const int64_t K = m->n_labels;
        float *dlog, *pooled, *dpool;
        ZA(dlog, (int64_t)B * K);
        ZA(pooled, (int64_t)B * C);
        ZA(dpool, (int64_t)B * C);
        if (m->task == FT_TASK_SEQ_CLS)
            smoothed_ce_backward(dlog, a->logits, a->cls, B, K, loss_scale / (float)a->count, a->opts.label_smoothing);
        else
            for (int r = 0; r < B; r++) /* d/dp mean (p−y)² = 2(p−y)/B */
                dlog[r] = 2.0f * (a->logits[r] - a->reg[r]) * loss_scale / (float)a->count;
        for (int r = 0; r < B; r++)
            memcpy(pooled + (int64_t)r * C, a->nf + (int64_t)a->pool_idx[r] * C, (size_t)C * sizeof(float));
        ft_linear_backward(dpool, G(m->score), NULL, dlog, pooled, W(m->score), B, C, K, false);
        for (int r = 0; r < B; r++)
            memcpy(dn + (int64_t)a->pool_idx[r] * C, dpool + (int64_t)r * C, (size_t)C * sizeof(float));
    }
    norm_bwd(m, dres, dn, a->x_final, a->nf_mean, a->nf_rstd, m->lnf_w, m->lnf_b, N);

    const bool need_dx0 = G(m->wte) || (gpt2 && G(m->wpe)) || G(m->prompt) || G(m->layers[0].ln1_w) ||
                          G(m->layers[0].ln1_b) || emb_lora_trains(m);
    for (int l = c->n_layers - 1; l >= 0; l--) {
        const ft_layer_idx *P = &m->layers[l];
        layer_acts *L = &a->L[l];
        /* everything this block's backward takes (and with checkpointing its recomputed forward) is freed at
         * the end of the iteration */
        const size_t mark = ft_arena_mark(arena);
        FT_TRY(ft_model_layer_begin(m, l, l - 1)); /* the next forward starts with block 0: no wrap */
        if (o->checkpoint) { /* recompute the block from its saved input; its output is not needed again */
            float *x_out;
            AL(x_out, N * C);
            FT_TRY(layer_fwd(m, a, l, L->x_in, x_out, arena));
        }
        const bool keep = o->keep_recomputable;
        /* MLP branch: dres is d(x_out) */
        const float *dbr;
        FT_TRY(branch_grad(m, a, l, 1, dbuf, dbuf2, dres, &dbr, arena));
        ZERO(dact, N * I);
        ZERO(dn, N * C);
        const float *act = keep ? L->act : recompute_act(m, a, l, site_needs_x(m, a, l, gpt2 ? FT_SITE_PROJ : FT_SITE_DOWN));
        const float *n2 = keep ? L->n2
                               : recompute_norm(m, a, l, true,
                                                site_needs_x(m, a, l, gpt2 ? FT_SITE_FC : FT_SITE_GATE) ||
                                                    (!gpt2 && site_needs_x(m, a, l, FT_SITE_UP)));
        if (gpt2) {
            FT_TRY(lin_bwd(m, a, l, FT_SITE_PROJ, dact, dbr, act, arena));
            if (site_plain(m, l, FT_SITE_FC)) {
                FT_TRY(lin_act_bwd(m, a, l, FT_SITE_FC, c->act, dn, dfc, dact, L->fc, n2, arena));
            } else {
                ZERO(dfc, N * I);
                ft_act_backward(c->act, dfc, dact, L->fc, N * I);
                FT_TRY(lin_bwd(m, a, l, FT_SITE_FC, dn, dfc, n2, arena));
            }
        } else {
            FT_TRY(lin_bwd(m, a, l, FT_SITE_DOWN, dact, dbr, act, arena));
            ZERO(dfc, N * I);
            ZERO(dup, N * I);
            ft_swiglu_backward(dfc, dup, dact, L->fc, L->up, N * I);
            FT_TRY(lin_bwd(m, a, l, FT_SITE_GATE, dn, dfc, n2, arena));
            FT_TRY(lin_bwd(m, a, l, FT_SITE_UP, dn, dup, n2, arena));
        }
        norm_bwd(m, dres, dn, L->x_mid, L->n2_mean, L->n2_rstd, P->ln2_w, P->ln2_b, N); /* dres = d(x_mid) */

        /* attention branch */
        FT_TRY(branch_grad(m, a, l, 0, dbuf, dbuf2, dres, &dbr, arena));
        ZERO(datty, N * HD);
        FT_TRY(lin_bwd(m, a, l, FT_SITE_O, datty, dbr, L->atty, arena));
        ZERO(dqkv, N * (gpt2 ? 3 * C : HD + 2 * KD));
        float *dq = dqkv, *dk = gpt2 ? dqkv + C : dqkv + N * HD, *dv = gpt2 ? dqkv + 2 * C : dqkv + N * (HD + KD);
        ft_attn_shape as = attn_shape(m, a, l);
        FT_TRY(ft_attention_backward_lse(dq, dk, dv, datty, L->atty, L->lse, L->q, L->k, L->v, a->mask, &as));
        /* the first block's input gradient feeds only the embeddings (and ln_1's own parameters) */
        float *dn_in = l == 0 && !need_dx0 ? NULL : dn;
        const float *n1 = keep ? L->n1
                               : recompute_norm(m, a, l, false,
                                                gpt2 ? site_needs_x(m, a, l, FT_SITE_QKV)
                                                     : site_needs_x(m, a, l, FT_SITE_Q) ||
                                                           site_needs_x(m, a, l, FT_SITE_K) ||
                                                           site_needs_x(m, a, l, FT_SITE_V));
        ZERO(dn, N * C);
        if (gpt2) {
            FT_TRY(lin_bwd(m, a, l, FT_SITE_QKV, dn_in, dqkv, n1, arena));
        } else {
            ft_rope_backward(dq, a->pos, N, c->n_heads, c->head_dim, HD, c->rope_theta);
            ft_rope_backward(dk, a->pos, N, c->n_kv_heads, c->head_dim, KD, c->rope_theta);
            FT_TRY(lin_bwd(m, a, l, FT_SITE_Q, dn_in, dq, n1, arena));
            FT_TRY(lin_bwd(m, a, l, FT_SITE_K, dn_in, dk, n1, arena));
            FT_TRY(lin_bwd(m, a, l, FT_SITE_V, dn_in, dv, n1, arena));
        }
        if (dn_in) /* dres = d(x_in) */
            norm_bwd(m, dres, dn, L->x_in, L->n1_mean, L->n1_rstd, P->ln1_w, P->ln1_b, N);
        ft_arena_rewind(arena, mark);
    }

    if (!need_dx0)
        return FT_OK; /* nothing below the first block trains */
    /* embeddings */
    float *demb = dres;
    if (o->training && c->embd_dropout > 0.0f) {
        ZERO(dbuf, N * C);
        ft_dropout_rows_backward(dbuf, dres, N, C, c->embd_dropout, o->seed, drop_stream(o, -1, 0),
                                 ft_model_drop_rows(o));
        demb = dbuf;
    }
    if (gpt2 && G(m->wpe))
        ft_embedding_backward(G(m->wpe), demb, a->pos, N, C, -1);
    emb_lora(m, a, NULL, demb); /* LoRA and prompt tuning never coexist: no virtual rows here */
    if (m->prompt >= 0) { /* virtual rows feed the prompt embeddings, not the token table */
        float *gp = G(m->prompt);
        for (int r = 0; r < a->B; r++)
            for (int t = 0; t < m->n_virtual; t++) {
                float *dr = demb + ((int64_t)r * a->T + t) * C;
                if (gp)
                    for (int64_t j = 0; j < C; j++)
                        gp[(int64_t)t * C + j] += dr[j];
                memset(dr, 0, (size_t)C * sizeof(float));
            }
    }
    if (G(m->wte))
        ft_embedding_backward(G(m->wte), demb, a->ids, N, C, gpt2 ? -1 : c->pad_token_id);
    return FT_OK;
}

const ft_family ft_decoder_family = {dec_forward, dec_backward, dec_act_bytes, dec_logits, dec_seq_len};
