/* T5 decoding with caches (the math of models/t5.c without dropout): the encoder runs once per source
 * (ft_t5_encode), each decoder layer's cross-attention K/V = XK/XV(enc) [Te, HD] are computed once from its
 * output, and the decoder's self-attention K/V [rows, max_len, HD] grow by one position per step. The new
 * query at position p sees the cached keys j ≤ p with the causal relative bias table[bucket(j − p), h]. Rows
 * are beams of one source: they share the cross-attention K/V. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "models/family.h"
#include "models/t5_infer.h"

struct ft_t5c {
    int rows, max_len, len, n_dec, n_enc, Te;
    int64_t HD;
    float **k, **v;   /* per decoder layer [rows, max_len, HD] */
    float **xk, **xv; /* per decoder layer [Te, HD] (after ft_t5c_encode) */
    float *swap;      /* [rows, max_len, HD]: reordering goes through it */
    ft_arena arena;   /* one step's scratch, for keys up to arena_T */
    int arena_T;
};

/* A step's scratch for attention over up to T keys: one layer's rows (the arena is rewound per layer), the
 * residual stream, the bias [H, T] and the attention's [rows, H, T] scores, the PEFT hooks' caches. */
static size_t step_bytes(const ft_model *m, int rows, int T) {
    const ft_model_config *mc = &m->cfg;
    const int64_t R = rows, C = mc->hidden, I = mc->intermediate, HD = (int64_t)mc->n_heads * mc->head_dim;
    size_t peft, peft_max, peft_tmp;
    ft_model_peft_bytes(m, (size_t)R, &peft, &peft_max, &peft_tmp);
    return (size_t)(R * (12 * C + 6 * HD + 3 * I) + (R + 1) * (int64_t)mc->n_heads * T) * 4 + peft_max +
           peft_tmp + 64 * FT_ALIGN;
}

static void free_cross(ft_t5c *c) {
    for (int l = 0; l < c->n_dec; l++) {
        ft_free(c->xk[l]);
        ft_free(c->xv[l]);
        c->xk[l] = c->xv[l] = NULL;
    }
    c->Te = 0;
}

void ft_t5c_free(ft_t5c *c) {
    if (!c)
        return;
    if (c->xk && c->xv)
        free_cross(c);
    for (int l = 0; c->k && c->v && l < c->n_dec; l++) {
        ft_free(c->k[l]);
        ft_free(c->v[l]);
    }
    free(c->k);
    free(c->v);
    free(c->xk);
    free(c->xv);
    ft_free(c->swap);
    ft_arena_free(&c->arena);
    free(c);
}

ft_status ft_t5c_new(const ft_model *m, int rows, int max_len, ft_t5c **out) {
    const ft_model_config *mc = &m->cfg;
    if (rows <= 0 || max_len <= 0)
        return ft_fail(FT_ERR_RANGE, "t5 decoder cache: %d rows of %d positions (both must be >= 1)", rows,
                       max_len);
    ft_t5c *c = calloc(1, sizeof *c);
    if (!c)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    c->rows = rows;
    c->max_len = max_len;
    c->n_dec = mc->n_dec_layers;
    c->n_enc = mc->n_layers - mc->n_dec_layers;
    c->HD = (int64_t)mc->n_heads * mc->head_dim;
    const size_t kv_bytes = (size_t)rows * (size_t)max_len * (size_t)c->HD * sizeof(float);
    c->k = calloc((size_t)c->n_dec, sizeof *c->k);
    c->v = calloc((size_t)c->n_dec, sizeof *c->v);
    c->xk = calloc((size_t)c->n_dec, sizeof *c->xk);
    c->xv = calloc((size_t)c->n_dec, sizeof *c->xv);
    ft_status s = c->k && c->v && c->xk && c->xv ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int l = 0; s == FT_OK && l < c->n_dec; l++)
        if (!(c->k[l] = ft_alloc(kv_bytes)) || !(c->v[l] = ft_alloc(kv_bytes)))
            s = FT_ERR_NOMEM;
    if (s == FT_OK && rows > 1 && !(c->swap = ft_alloc(kv_bytes)))
        s = FT_ERR_NOMEM;
    if (s == FT_OK) { /* ft_t5c_encode grows it for a longer source */
        c->arena_T = max_len;
        s = ft_arena_init(&c->arena, step_bytes(m, rows, max_len));
    }
    if (s != FT_OK) {
        ft_t5c_free(c);
        return s;
    }
    *out = c;
    return FT_OK;
}

int ft_t5c_len(const ft_t5c *c) {
    return c->len;
}

void ft_t5c_reset(ft_t5c *c) {
    c->len = 0;
}

ft_status ft_t5c_encode(ft_model *m, ft_t5c *c, const int32_t *src, int n) {
    const ft_fwd_opts o = {.no_loss = true};
    ft_arena arena = {0};
    float *enc = NULL;
    int Te = 0;
    free_cross(c);
    c->len = 0;
    const int T = m->n_virtual + (n > 0 ? n : 1);
    ft_status s = ft_arena_init(&arena, ft_model_act_bytes_opts(m, 1, T, &o) + ((size_t)1 << 20));
    if (s == FT_OK)
        s = ft_t5_encode(m, src, n, &arena, &enc, &Te);
    ft_lin_cache lc[FT_N_SITES];
    for (int l = 0; s == FT_OK && l < c->n_dec; l++) {
        const size_t bytes = (size_t)Te * (size_t)c->HD * sizeof(float);
        if (!(c->xk[l] = ft_alloc(bytes)) || !(c->xv[l] = ft_alloc(bytes))) {
            s = FT_ERR_NOMEM;
            break;
        }
        const size_t mark = ft_arena_mark(&arena);
        s = ft_model_site_forward(m, &o, c->n_enc + l, FT_SITE_XK, Te, c->xk[l], enc, lc, &arena);
        if (s == FT_OK)
            s = ft_model_site_forward(m, &o, c->n_enc + l, FT_SITE_XV, Te, c->xv[l], enc, lc, &arena);
        ft_arena_rewind(&arena, mark);
    }
    ft_arena_free(&arena);
    if (s == FT_OK && Te > c->arena_T) { /* the cross-attention's scores [rows, H, Te] */
        ft_arena_free(&c->arena);
        c->arena_T = Te;
        s = ft_arena_init(&c->arena, step_bytes(m, c->rows, Te));
    }
    if (s != FT_OK) {
        free_cross(c);
        return s;
    }
    c->Te = Te;
    return FT_OK;
}

/* out [R, HD] = softmax(q·kᵀ + bias)·v for one query per row over Tk keys / values (row r's at k + r·kv_row,
 * or shared when kv_row is 0) with the bias [H, Tk] or none (no 1/√d: T5). The softmax is the attention
 * kernel's (expf of the shifted scores, their sum in double, one reciprocal); the products are plain loops,
 * one parallel region for every (row, head) pair: a query row is too small for a GEMM call per head. P: [R,
 * H, Tk] scratch. */
static void attend(const ft_model *m, float *out, const float *q, const float *k, const float *v,
                   int64_t kv_row, int R, int Tk, const float *bias, float *P) {
    const int H = m->cfg.n_heads, D = m->cfg.head_dim;
    const int64_t HD = (int64_t)H * D;
#pragma omp parallel for collapse(2) schedule(static)
    for (int r = 0; r < R; r++)
        for (int h = 0; h < H; h++) {
            float *s = P + ((int64_t)r * H + h) * Tk, *o = out + r * HD + (int64_t)h * D;
            const float *qr = q + r * HD + (int64_t)h * D, *kb = k + r * kv_row + (int64_t)h * D,
                        *vb = v + r * kv_row + (int64_t)h * D;
            float mx = -INFINITY;
            for (int j = 0; j < Tk; j++) {
                float d = 0.0f;
                for (int e = 0; e < D; e++)
                    d += qr[e] * kb[(int64_t)j * HD + e];
                s[j] = d + (bias ? bias[(int64_t)h * Tk + j] : 0.0f);
                mx = s[j] > mx ? s[j] : mx;
            }
            double sum = 0.0;
            for (int j = 0; j < Tk; j++) {
                s[j] = expf(s[j] - mx);
                sum += s[j];
            }
            const float inv = (float)(1.0 / sum);
            for (int e = 0; e < D; e++)
                o[e] = 0.0f;
            for (int j = 0; j < Tk; j++) {
                const float p = s[j] * inv;
                for (int e = 0; e < D; e++)
                    o[e] += p * vb[(int64_t)j * HD + e];
            }
        }
}

/* dst = base + adapter(o) (the block's bottleneck adapter `which`, when it has one). */
static ft_status branch_add(const ft_model *m, int l, int which, int64_t R, float *o, const float *base,
                            float *dst, ft_arena *arena) {
    static const ft_fwd_opts inference = {.no_loss = true};
    ft_adapter_cache ad;
    float *ob = o;
    if (m->adapters[l * 2 + which].down_w >= 0)
        AL(ob, R * m->cfg.hidden);
    FT_TRY(ft_model_branch_out(m, &inference, l, which, R, &ad, ob, o, arena));
    for (int64_t j = 0; j < R * m->cfg.hidden; j++)
        dst[j] = base[j] + ob[j];
    return FT_OK;
}

/* Decoder block l (i-th of the stack) on the R new rows x [R, C] at position p, in place. */
static ft_status dec_block(ft_model *m, ft_t5c *c, int i, float *x, const float *bias, ft_arena *arena) {
    static const ft_fwd_opts o = {.no_loss = true};
    const ft_model_config *mc = &m->cfg;
    const int l = c->n_enc + i, p = c->len, R = c->rows;
    const int64_t C = mc->hidden, I = mc->intermediate, HD = c->HD, H = mc->n_heads;
    const int64_t row = (int64_t)c->max_len * HD; /* one row's cache */
    const ft_layer_idx *P = &m->layers[l];
    ft_lin_cache lc[FT_N_SITES];
    float *h, *r, *q, *kk, *vv, *att, *o1, *x1, *pr;
    AL(h, R * C);
    AL(r, R);
    AL(q, R * HD);
    AL(kk, R * HD);
    AL(vv, R * HD);
    AL(att, R * HD);
    AL(o1, R * C);
    AL(x1, R * C);
    AL(pr, R * H * (p + 1 > c->Te ? p + 1 : c->Te));
    /* self-attention: the new K/V go to position p of each row */
    ft_rmsnorm_forward(h, r, x, W(P->ln1_w), R, C, mc->norm_eps);
    FT_TRY(ft_model_site_forward(m, &o, l, FT_SITE_Q, R, q, h, lc, arena));
    FT_TRY(ft_model_site_forward(m, &o, l, FT_SITE_K, R, kk, h, lc, arena));
    FT_TRY(ft_model_site_forward(m, &o, l, FT_SITE_V, R, vv, h, lc, arena));
    for (int b = 0; b < R; b++) {
        memcpy(c->k[i] + b * row + (int64_t)p * HD, kk + b * HD, (size_t)HD * sizeof(float));
        memcpy(c->v[i] + b * row + (int64_t)p * HD, vv + b * HD, (size_t)HD * sizeof(float));
    }
    attend(m, att, q, c->k[i], c->v[i], row, R, p + 1, bias, pr);
    FT_TRY(ft_model_site_forward(m, &o, l, FT_SITE_O, R, o1, att, lc, arena));
    FT_TRY(branch_add(m, l, 0, R, o1, x, x1, arena));
    /* cross-attention over the encoder output (no bias, no padding: one source) */
    ft_rmsnorm_forward(h, r, x1, W(P->ln2_w), R, C, mc->norm_eps);
    FT_TRY(ft_model_site_forward(m, &o, l, FT_SITE_XQ, R, q, h, lc, arena));
    attend(m, att, q, c->xk[i], c->xv[i], 0, R, c->Te, NULL, pr);
    FT_TRY(ft_model_site_forward(m, &o, l, FT_SITE_XO, R, o1, att, lc, arena));
    ft_add_inplace(x1, o1, R * C);
    /* feed-forward */
    float *fc, *act;
    AL(fc, R * I);
    AL(act, R * I);
    ft_rmsnorm_forward(h, r, x1, W(P->ln3_w), R, C, mc->norm_eps);
    FT_TRY(ft_model_site_forward(m, &o, l, mc->gated_ff ? FT_SITE_GATE : FT_SITE_FC, R, fc, h, lc, arena));
    ft_act_forward(mc->act, act, fc, R * I);
    if (mc->gated_ff) {
        FT_TRY(ft_model_site_forward(m, &o, l, FT_SITE_UP, R, fc, h, lc, arena));
        for (int64_t j = 0; j < R * I; j++)
            act[j] *= fc[j];
    }
    FT_TRY(
        ft_model_site_forward(m, &o, l, mc->gated_ff ? FT_SITE_DOWN : FT_SITE_PROJ, R, o1, act, lc, arena));
    return branch_add(m, l, 1, R, o1, x1, x, arena);
}

static ft_status step(ft_model *m, ft_t5c *c, const int32_t *ids, float *logits) {
    const ft_model_config *mc = &m->cfg;
    ft_arena *arena = &c->arena;
    const int64_t R = c->rows, C = mc->hidden, H = mc->n_heads, Tk = c->len + 1;
    ft_arena_reset(arena);
    float *x, *bias, *h, *r;
    AL(x, R * C);
    AL(bias, H * Tk);
    ft_embedding_forward(x, W(m->wte), ids, NULL, NULL, R, C);
    /* the new query (position p = len) against keys j ≤ p: causal buckets of j − p */
    const float *tab = W(m->rel_bias[1]);
    for (int64_t j = 0; j < Tk; j++) {
        const int bk = ft_t5_bucket((int)(j - c->len), false, mc->rel_buckets, mc->rel_max_dist);
        for (int64_t hh = 0; hh < H; hh++)
            bias[hh * Tk + j] = tab[(int64_t)bk * H + hh];
    }
    for (int i = 0; i < c->n_dec; i++) {
        const size_t mark = ft_arena_mark(arena);
        FT_TRY(dec_block(m, c, i, x, bias, arena));
        ft_arena_rewind(arena, mark);
    }
    AL(h, R * C);
    AL(r, R);
    ft_rmsnorm_forward(h, r, x, W(m->lnf_w), R, C, mc->norm_eps);
    if (m->lm_head == m->wte) /* the tied head's input is rescaled by d_model^−½ */
        ft_scale_inplace(h, R * C, 1.0f / sqrtf((float)C));
    ft_linear_forward(logits, h, W(m->lm_head), NULL, R, C, mc->vocab_size, false);
    return FT_OK;
}

ft_status ft_t5c_step(ft_model *m, ft_t5c *c, const int32_t *ids, float *logits) {
    if (c->Te <= 0)
        return ft_fail(FT_ERR_ARG, "t5: decoding before the source was encoded (ft_kv_encode)");
    if (c->len >= c->max_len)
        return ft_fail(FT_ERR_RANGE, "t5: decoding reached the cache length %d", c->max_len);
    for (int r = 0; r < c->rows; r++)
        if (ids[r] < 0 || ids[r] >= m->cfg.vocab_size)
            return ft_fail(FT_ERR_RANGE, "decoder token id %d (row %d) is outside the vocabulary [0, %d)",
                           ids[r], r, m->cfg.vocab_size);
    FT_TRY(ft_model_sync_bf16(m));
    FT_TRY(step(m, c, ids, logits));
    c->len++;
    return FT_OK;
}

ft_status ft_t5c_reorder(ft_t5c *c, const int32_t *src) {
    return ft_kv_gather_rows(c->k, c->v, c->n_dec, &c->swap, src, c->rows, (int64_t)c->max_len * c->HD,
                             (int64_t)c->len * c->HD);
}
