/* Incremental decoder forward with a KV cache; same math as decoder.c without dropout. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "models/infer.h"
#include "models/t5_infer.h"
#include "nn/linear.h"

struct ft_kv {
    int max_len, len, n_layers;
    int rows, row;  /* sequences (beams) held, and the one ft_infer feeds */
    int64_t kvd;    /* Hkv * D */
    float **k, **v; /* per layer [rows, max_len, kvd] (after RoPE) */
    float *swap;    /* [rows, max_len, kvd] when rows > 1: ft_kv_reorder gathers through it */
    ft_arena arena; /* scratch for one call */
    int chunk;      /* max positions per internal step */
    ft_t5c *t5;     /* the encoder-decoder's caches (models/t5_infer.c), else NULL */
};

#define W(i) ((i) >= 0 ? m->params[(i)].data : NULL)

ft_status ft_kv_new(const ft_model *m, int max_len, ft_kv **out) {
    return ft_kv_new_rows(m, 1, max_len, out);
}

ft_status ft_kv_new_rows(const ft_model *m, int rows, int max_len, ft_kv **out) {
    const ft_model_config *c = &m->cfg;
    if (max_len <= 0 || max_len > c->max_pos)
        return ft_fail(FT_ERR_RANGE, "KV cache length %d must be in [1, %d] (the model's positions)", max_len,
                       c->max_pos);
    if (rows <= 0 || (rows > 1 && ft_model_is_encoder(m)))
        return ft_fail(FT_ERR_ARG, "KV cache of %d rows: must be 1%s", rows,
                       ft_model_is_encoder(m) ? " for an encoder" : " or more");
    ft_kv *kv = calloc(1, sizeof *kv);
    if (!kv)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    kv->max_len = max_len;
    kv->rows = rows;
    if (ft_model_is_t5(m)) {
        ft_status s = ft_t5c_new(m, rows, max_len, &kv->t5);
        if (s != FT_OK) {
            free(kv);
            return s;
        }
        *out = kv;
        return FT_OK;
    }
    kv->n_layers = c->n_layers;
    kv->kvd = (int64_t)c->n_kv_heads * c->head_dim;
    kv->chunk = 64;
    kv->k = calloc((size_t)c->n_layers, sizeof *kv->k);
    kv->v = calloc((size_t)c->n_layers, sizeof *kv->v);
    ft_status s = kv->k && kv->v ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    const size_t kv_bytes = (size_t)rows * (size_t)max_len * (size_t)kv->kvd * sizeof(float);
    for (int l = 0; s == FT_OK && l < c->n_layers; l++) {
        kv->k[l] = ft_alloc(kv_bytes);
        kv->v[l] = ft_alloc(kv_bytes);
        if (!kv->k[l] || !kv->v[l])
            s = FT_ERR_NOMEM;
    }
    if (s == FT_OK && rows > 1 && !(kv->swap = ft_alloc(kv_bytes)))
        s = FT_ERR_NOMEM;
    if (s == FT_OK) {
        const int64_t n = kv->chunk, C = c->hidden, I = c->intermediate;
        const int64_t HD = (int64_t)c->n_heads * c->head_dim;
        /* per layer: PEFT caches (≤ n·(in+out) each site) come from the arena too */
        size_t bytes = (size_t)(n * (10 * C + 3 * HD + 2 * kv->kvd + 4 * I + c->vocab_size) +
                                n * c->n_heads * (int64_t)max_len) *
                           4 +
                       (ft_model_half_bytes(m)
                            ? ft_lmhead_ce_half_panel_floats(C, c->vocab_size > I ? c->vocab_size : I) * 4
                            : 0) +
                       (size_t)c->n_layers * (size_t)(n * (8 * C + 4 * I + 64)) * 4 + ((size_t)8 << 20);
        s = ft_arena_init(&kv->arena, bytes);
    }
    if (s != FT_OK) {
        ft_kv_free(kv);
        return s;
    }
    *out = kv;
    return FT_OK;
}

void ft_kv_free(ft_kv *kv) {
    if (!kv)
        return;
    for (int l = 0; kv->k && kv->v && l < kv->n_layers; l++) {
        ft_free(kv->k[l]);
        ft_free(kv->v[l]);
    }
    free(kv->k);
    free(kv->v);
    ft_free(kv->swap);
    ft_t5c_free(kv->t5);
    ft_arena_free(&kv->arena);
    free(kv);
}

void ft_kv_reset(ft_kv *kv) {
    kv->len = 0;
    if (kv->t5)
        ft_t5c_reset(kv->t5);
}
int ft_kv_len(const ft_kv *kv) {
    return kv->t5 ? ft_t5c_len(kv->t5) : kv->len;
}
int ft_kv_rows(const ft_kv *kv) {
    return kv->rows;
}

ft_status ft_kv_encode(ft_model *m, ft_kv *kv, const int32_t *src, int n) {
    if (!kv->t5)
        return ft_fail(FT_ERR_ARG, "ft_kv_encode: %s has no encoder-decoder (its prompt goes to ft_infer)",
                       m->cfg.model_type);
    return ft_t5c_encode(m, kv->t5, src, n);
}

ft_status ft_kv_gather_rows(float **k, float **v, int n_layers, float **swap, const int32_t *src, int rows,
                            int64_t row, int64_t used) {
    bool identity = true;
    for (int r = 0; r < rows; r++) {
        if (src[r] < 0 || src[r] >= rows)
            return ft_fail(FT_ERR_RANGE, "cache reorder: source row %d of row %d is outside [0, %d)", src[r],
                           r, rows);
        identity &= src[r] == r;
    }
    if (identity || used == 0)
        return FT_OK;
    float **kv[2] = {k, v};
    for (int t = 0; t < 2; t++)
        for (int l = 0; l < n_layers; l++) { /* gather into the spare buffer, then swap the two */
            float *from = kv[t][l], *to = *swap;
            for (int r = 0; r < rows; r++)
                memcpy(to + r * row, from + src[r] * row, (size_t)used * sizeof(float));
            kv[t][l] = to;
            *swap = from;
        }
    return FT_OK;
}

ft_status ft_kv_reorder(ft_kv *kv, const int32_t *src) {
    if (kv->t5)
        return ft_t5c_reorder(kv->t5, src);
    return ft_kv_gather_rows(kv->k, kv->v, kv->n_layers, &kv->swap, src, kv->rows,
                             (int64_t)kv->max_len * kv->kvd, (int64_t)kv->len * kv->kvd);
}

static ft_status lin(const ft_model *m, int l, ft_site site, float *y, const float *x, int64_t n, ft_arena *ar) {
    ft_lin L = ft_model_site_lin(m, l, site, false); /* inference: no gradients, no dropout */
    ft_lin_cache c;
    return ft_lin_forward(&L, y, x, n, ar, &c);
}

static void norm(const ft_model *m, float *y, const float *x, int wi, int bi, int64_t n, ft_arena *ar) {
    float *mean = ft_arena_alloc(ar, (size_t)n * 4), *rstd = ft_arena_alloc(ar, (size_t)n * 4);
    if (m->cfg.arch == FT_ARCH_GPT2)
        ft_layernorm_forward(y, mean, rstd, x, W(wi), W(bi), n, m->cfg.hidden, m->cfg.norm_eps);
    else
        ft_rmsnorm_forward(y, rstd, x, W(wi), n, m->cfg.hidden, m->cfg.norm_eps);
}

/* o ← o + up(act(down(o))) when the block has an adapter there. */
static void adapter(const ft_model *m, int l, int which, float *o, int64_t n, ft_arena *ar) {
    const ft_adapter_idx *A = &m->adapters[l * 2 + which];
    if (A->down_w < 0)
        return;
    const int64_t C = m->cfg.hidden, k = m->params[A->down_w].shape[0];
    float *z = ft_arena_alloc(ar, (size_t)(n * k) * 4), *h = ft_arena_alloc(ar, (size_t)(n * k) * 4);
    float *u = ft_arena_alloc(ar, (size_t)(n * C) * 4);
    ft_linear_forward(z, o, W(A->down_w), W(A->down_b), n, C, k, false);
    ft_act_forward(m->adapter_act, h, z, n * k);
    ft_linear_forward(u, h, W(A->up_w), W(A->up_b), n, k, C, false);
    ft_add_inplace(o, u, n * C);
}

/* n rows of embeddings x [n,C] at positions p0.. through every layer; head logits of the last row. */
static ft_status step(ft_model *m, ft_kv *kv, float *x, int n, float *logits) {
    const ft_model_config *c = &m->cfg;
    ft_arena *ar = &kv->arena;
    const int64_t C = c->hidden, I = c->intermediate, D = c->head_dim, H = c->n_heads, Hk = c->n_kv_heads;
    const int64_t HD = H * D, KD = kv->kvd;
    const int p0 = kv->len;
    const int64_t roff = (int64_t)kv->row * kv->max_len * KD; /* the fed row's cache */
    const bool g = c->arch == FT_ARCH_GPT2;
    int32_t *pos = ft_arena_alloc(ar, (size_t)n * 4);
    float *h = ft_arena_alloc(ar, (size_t)(n * C) * 4), *q = ft_arena_alloc(ar, (size_t)(n * HD) * 4);
    float *kk = ft_arena_alloc(ar, (size_t)(n * KD) * 4), *vv = ft_arena_alloc(ar, (size_t)(n * KD) * 4);
    float *qkv = g ? ft_arena_alloc(ar, (size_t)(n * 3 * C) * 4) : NULL;
    float *att = ft_arena_alloc(ar, (size_t)(n * HD) * 4), *o = ft_arena_alloc(ar, (size_t)(n * C) * 4);
    float *f1 = ft_arena_alloc(ar, (size_t)(n * I) * 4), *f2 = ft_arena_alloc(ar, (size_t)(n * I) * 4);
    float *sc = ft_arena_alloc(ar, (size_t)(p0 + n) * 4 * (size_t)n * (size_t)H);
    if (!pos || !h || !q || !kk || !vv || (g && !qkv) || !att || !o || !f1 || !f2 || !sc)
        return FT_ERR_NOMEM;
    for (int i = 0; i < n; i++)
        pos[i] = p0 + i;
    const float scale = 1.0f / sqrtf((float)D);
    for (int l = 0; l < c->n_layers; l++) {
        const ft_layer_idx *P = &m->layers[l];
        FT_TRY(ft_model_layer_begin(m, l, l + 1 < c->n_layers ? l + 1 : 0)); /* the next token starts again */
        norm(m, h, x, P->ln1_w, P->ln1_b, n, ar);
        if (g) {
            FT_TRY(lin(m, l, FT_SITE_QKV, qkv, h, n, ar));
            for (int i = 0; i < n; i++) {
                memcpy(q + i * HD, qkv + i * 3 * C, (size_t)C * 4);
                memcpy(kk + i * KD, qkv + i * 3 * C + C, (size_t)C * 4);
                memcpy(vv + i * KD, qkv + i * 3 * C + 2 * C, (size_t)C * 4);
            }
        } else {
            FT_TRY(lin(m, l, FT_SITE_Q, q, h, n, ar));
            FT_TRY(lin(m, l, FT_SITE_K, kk, h, n, ar));
            FT_TRY(lin(m, l, FT_SITE_V, vv, h, n, ar));
            ft_rope_forward(q, pos, n, (int)H, (int)D, HD, c->rope_theta);
            ft_rope_forward(kk, pos, n, (int)Hk, (int)D, KD, c->rope_theta);
        }
        memcpy(kv->k[l] + roff + (int64_t)p0 * KD, kk, (size_t)(n * KD) * 4);
        memcpy(kv->v[l] + roff + (int64_t)p0 * KD, vv, (size_t)(n * KD) * 4);
        /* attention of query i (position p0+i) over cached keys 0..p0+i */
        const float *K = kv->k[l] + roff, *Vc = kv->v[l] + roff;
#pragma omp parallel for collapse(2) schedule(static)
        for (int i = 0; i < n; i++)
            for (int64_t hh = 0; hh < H; hh++) {
                const int64_t gk = hh / (H / Hk);
                const int L = p0 + i + 1;
                float *s = sc + ((int64_t)i * H + hh) * (p0 + n);
                const float *qr = q + i * HD + hh * D;
                float mx = -INFINITY;
                for (int j = 0; j < L; j++) {
                    const float *kr = K + (int64_t)j * KD + gk * D;
                    float d = 0.0f;
                    for (int64_t e = 0; e < D; e++)
                        d += qr[e] * kr[e];
                    s[j] = d * scale;
                    mx = s[j] > mx ? s[j] : mx;
                }
                float sum = 0.0f;
                for (int j = 0; j < L; j++) {
                    s[j] = expf(s[j] - mx);
                    sum += s[j];
                }
                float *orow = att + i * HD + hh * D;
                for (int64_t e = 0; e < D; e++)
                    orow[e] = 0.0f;
                for (int j = 0; j < L; j++) {
                    const float p = s[j] / sum;
                    const float *vr = Vc + (int64_t)j * KD + gk * D;
                    for (int64_t e = 0; e < D; e++)
                        orow[e] += p * vr[e];
                }
            }
        FT_TRY(lin(m, l, FT_SITE_O, o, att, n, ar));
        adapter(m, l, 0, o, n, ar);
        ft_add_inplace(x, o, n * C);
        norm(m, h, x, P->ln2_w, P->ln2_b, n, ar);
        if (g) {
            FT_TRY(lin(m, l, FT_SITE_FC, f1, h, n, ar));
            ft_act_forward(c->act, f2, f1, n * I);
            FT_TRY(lin(m, l, FT_SITE_PROJ, o, f2, n, ar));
        } else {
            FT_TRY(lin(m, l, FT_SITE_GATE, f1, h, n, ar));
            FT_TRY(lin(m, l, FT_SITE_UP, f2, h, n, ar));
            ft_swiglu_forward(f1, f1, f2, n * I);
            FT_TRY(lin(m, l, FT_SITE_DOWN, o, f1, n, ar));
        }
        adapter(m, l, 1, o, n, ar);
        ft_add_inplace(x, o, n * C);
    }
    kv->len += n;
    if (logits) {
        const float *last = x + (int64_t)(n - 1) * C;
        norm(m, h, last, m->lnf_w, m->lnf_b, 1, ar);
        if (m->task == FT_TASK_CAUSAL_LM && m->params[m->lm_head].half) { /* in its file dtype */
            ft_lin L;
            memset(&L, 0, sizeof L);
            ft_model_lin_weight(m, m->lm_head, &L);
            L.in = C;
            L.out = c->vocab_size;
            ft_lin_cache lc;
            FT_TRY(ft_lin_forward(&L, logits, h, 1, ar, &lc));
        } else if (m->task == FT_TASK_CAUSAL_LM)
            ft_linear_forward(logits, h, W(m->lm_head), NULL, 1, C, c->vocab_size, false);
        else
            ft_linear_forward(logits, h, W(m->score), NULL, 1, C, m->n_labels, false);
    }
    return FT_OK;
}

/* LoRA on the embedding tables for n new tokens at positions kv->len.. (see decoder.c emb_lora). */
static ft_status emb_lora_rows(const ft_model *m, ft_kv *kv, float *x, const int32_t *ids, int n) {
    for (int e = 0; e < FT_N_EMB; e++) {
        const ft_emb_peft *ep = &m->emb[e];
        int64_t V;
        if (ep->lora_a < 0 || !ft_model_emb(m, (ft_emb)e, NULL, &V, NULL, NULL, 0))
            continue;
        const int32_t *rows = ids;
        if (e == FT_EMB_POSITIONS) {
            int32_t *pos = ft_arena_alloc(&kv->arena, (size_t)n * sizeof *pos);
            if (!pos)
                return FT_ERR_NOMEM;
            for (int i = 0; i < n; i++)
                pos[i] = kv->len + i;
            rows = pos;
        }
        ft_embedding_lora_forward(x, W(ep->lora_a), W(ep->lora_b), rows, n, m->cfg.hidden, V, ep->r,
                                  ep->lora_scale);
    }
    return FT_OK;
}

/* An encoder sees the whole sequence at once (bidirectional): one full forward of the row, no cache. */
static ft_status encoder_infer(ft_model *m, ft_kv *kv, const int32_t *ids, int n, float *logits) {
    if (kv->len > 0)
        return ft_fail(FT_ERR_ARG,
                       "ft_infer: an encoder reads the whole sequence in one call (reset the cache)");
    if (n <= 0)
        return ft_fail(FT_ERR_ARG, "ft_infer: no token to feed");
    const ft_batch b = {.B = 1, .T = n, .input_ids = (int32_t *)(uintptr_t)ids};
    const ft_fwd_opts o = {.no_loss = true, .keep_logits = true};
    ft_arena ar = {0};
    ft_acts *a = NULL;
    double loss;
    ft_status s = ft_arena_init(&ar, ft_model_act_bytes_opts(m, 1, n, &o) + ((size_t)1 << 20));
    if (s == FT_OK)
        s = ft_model_forward(m, &b, &o, &ar, &a, &loss, NULL);
    int64_t cols = 0;
    const float *lg = s == FT_OK ? ft_acts_logits(a, NULL, &cols) : NULL;
    if (lg)
        memcpy(logits, lg, (size_t)cols * sizeof(float));
    ft_arena_free(&ar);
    return s;
}

ft_status ft_infer(ft_model *m, ft_kv *kv, const int32_t *ids, int n, float *logits) {
    if (ft_model_is_t5(m) != (kv->t5 != NULL))
        return ft_fail(FT_ERR_ARG, "ft_infer: the cache was made for another kind of model than %s",
                       m->cfg.model_type);
    if (kv->t5) { /* decoder tokens one position at a time; the logits of the last */
        if (kv->rows != 1)
            return ft_fail(FT_ERR_ARG, "ft_infer: a cache of %d rows is fed by ft_infer_rows", kv->rows);
        if (n <= 0)
            return ft_fail(FT_ERR_ARG, "ft_infer: no token to feed");
        for (int i = 0; i < n; i++)
            FT_TRY(ft_t5c_step(m, kv->t5, ids + i, logits));
        return FT_OK;
    }
    if (ft_model_is_vit(m))
        return ft_fail(FT_ERR_UNSUPPORTED, "the vit model reads images, not token ids: no token inference");
    if (ft_model_is_encoder(m))
        return encoder_infer(m, kv, ids, n, logits);
    const ft_model_config *c = &m->cfg;
    const int64_t C = c->hidden;
    int virt = kv->len == 0 ? m->n_virtual : 0;
    if (n <= 0 && virt == 0)
        return ft_fail(FT_ERR_ARG, "ft_infer: no token to feed");
    if (kv->len + virt + n > kv->max_len)
        return ft_fail(FT_ERR_RANGE, "generation reached the cache length %d (positions used %d + %d new)",
                       kv->max_len, kv->len, virt + n);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return ft_fail(FT_ERR_RANGE, "token id %d is outside the vocabulary [0, %d)", ids[i], c->vocab_size);
    FT_TRY(ft_model_sync_bf16(m)); /* a bf16 model's linear sites use its bf16 copies here too */
    int done = 0;
    while (virt > 0 || done < n) {
        ft_arena_reset(&kv->arena);
        bool is_virt = virt > 0;
        int take = is_virt ? (virt < kv->chunk ? virt : kv->chunk) : (n - done < kv->chunk ? n - done : kv->chunk);
        float *x = ft_arena_alloc(&kv->arena, (size_t)(take * C) * 4);
        if (!x)
            return FT_ERR_NOMEM;
        for (int i = 0; i < take; i++) { /* token (or virtual token) row + position row, as fp32 whatever the
                                          * tables' storage (ft_param_rows) */
            const int32_t p = kv->len + i;
            if (is_virt)
                memcpy(x + i * C, W(m->prompt) + (int64_t)(m->n_virtual - virt + i) * C,
                       (size_t)C * sizeof(float));
            else
                ft_param_rows(&m->params[m->wte], ids + done + i, 1, x + i * C, false);
            if (c->arch == FT_ARCH_GPT2)
                ft_param_rows(&m->params[m->wpe], &p, 1, x + i * C, true);
        }
        if (!is_virt)
            FT_TRY(emb_lora_rows(m, kv, x, ids + done, take));
        bool last = !is_virt && done + take == n;
        FT_TRY(step(m, kv, x, take, last ? logits : NULL));
        if (is_virt)
            virt -= take;
        else
            done += take;
    }
    return FT_OK;
}

ft_status ft_infer_rows(ft_model *m, ft_kv *kv, const int32_t *ids, float *logits) {
    if (ft_model_is_t5(m) != (kv->t5 != NULL))
        return ft_fail(FT_ERR_ARG, "ft_infer_rows: the cache was made for another kind of model than %s",
                       m->cfg.model_type);
    if (kv->t5)
        return ft_t5c_step(m, kv->t5, ids, logits);
    if (ft_model_is_encoder(m) || ft_model_is_vit(m))
        return ft_fail(FT_ERR_ARG, "ft_infer_rows: %s is not a decoder", m->cfg.model_type);
    if (kv->len == 0 && m->n_virtual > 0)
        return ft_fail(FT_ERR_ARG, "ft_infer_rows: feed the prompt first (ft_infer, then ft_kv_reorder)");
    /* each row one token at the same position, one after the other (the decoder's step is one sequence) */
    const int len = kv->len;
    const int64_t V = m->task == FT_TASK_CAUSAL_LM ? m->cfg.vocab_size : m->n_labels;
    ft_status s = FT_OK;
    for (int r = 0; s == FT_OK && r < kv->rows; r++) {
        kv->row = r;
        kv->len = len;
        s = ft_infer(m, kv, ids + r, 1, logits + r * V);
    }
    kv->row = 0;
    kv->len = s == FT_OK ? len + 1 : len;
    return s;
}
