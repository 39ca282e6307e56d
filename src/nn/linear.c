#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/vecmath.h"
#include "nn/linear.h"

static float *take(ft_arena *a, int64_t n) { return ft_arena_alloc(a, (size_t)n * sizeof(float)); }

/* y = x·op(W) (+ b) or dx += dy·op(W)ᵀ with W in its file dtype: widened panel by panel (arena scratch, given
 * back) unless oneDNN takes the mapped bf16 W directly (mm on a CPU with native bf16). */
static ft_status half_product(const ft_lin *L, float *y, const float *x, bool back, int64_t N,
                              ft_arena *arena) {
    /* forward: y[N,out] = x·Wᵀ (W [out,in]: trans) or x·W (W [in,out]); backward: dx[N,in] += dy·W or dy·Wᵀ
     */
    const int64_t n = back ? L->in : L->out, k = back ? L->out : L->in;
    const bool trans = back ? L->w_in_out : !L->w_in_out;
    const size_t mark = ft_arena_mark(arena);
    float *panel = ft_arena_alloc(arena, ft_gemm_half_panel_floats(k, n) * sizeof(float));
    if (!panel)
        return FT_ERR_NOMEM;
    if (L->wq)
        ft_gemm_q8(trans, N, n, k, 1.0f, x, k, L->wq, L->wq_scale, L->w_in_out ? L->out : L->in,
                   back ? 1.0f : 0.0f, y, n, panel, 0);
    else
        ft_gemm_half(trans, L->wh_f16, N, n, k, 1.0f, x, k, L->wh, L->w_in_out ? L->out : L->in,
                     back ? 1.0f : 0.0f, y, n, panel, 0);
    ft_arena_rewind(arena, mark);
    return FT_OK;
}

static bool half_native(const ft_lin *L) {
    return L->wh && !L->wh_f16 && L->mm && ft_bf16_native();
}

/* An int8 W under precision bf16 on a CPU with native bf16: the whole weight widened to bf16 (q·scale rounded
 * to nearest even) in arena scratch, then the bf16 product the bf16 path runs on a bf16 copy; the scratch is
 * given back after the product. Forward y = x·op(W) + b; backward dx += dy·op(W)ᵀ. */
static bool q8_native(const ft_lin *L) {
    return L->wq && L->mm && !L->q8_int8 && ft_bf16_native();
}

static ft_status q8_product_bf16(const ft_lin *L, float *y, const float *x, bool back, int64_t N,
                                 ft_arena *arena) {
    const int64_t rows = L->w_in_out ? L->in : L->out, cols = L->w_in_out ? L->out : L->in;
    const size_t mark = ft_arena_mark(arena);
    uint16_t *w16 = ft_arena_alloc(arena, (size_t)(rows * cols) * sizeof(uint16_t));
    if (!w16)
        return FT_ERR_NOMEM;
#pragma omp parallel for schedule(static) if (rows * cols >= FT_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const int8_t *q = L->wq + r * cols;
        const float sc = L->wq_scale[r];
        uint16_t *d = w16 + r * cols;
        for (int64_t j = 0; j < cols; j++)
            d[j] = ft_f32_to_bf16((float)q[j] * sc);
    }
    const ft_status st =
        back ? ft_linear_backward_bf16(L->mm, y, NULL, NULL, x, NULL, w16, N, L->in, L->out, L->w_in_out)
             : ft_linear_forward_bf16(L->mm, y, x, w16, L->b, N, L->in, L->out, L->w_in_out);
    ft_arena_rewind(arena, mark);
    return st;
}

/* train.int8_matmul: y = x·op(W) (+ b) or dx += dy·op(W)ᵀ as int8 × int8 → int32 (ft_matmul_s8). W's scales
 * sit on its stored rows: when those index the product's output (forward of an nn.Linear W [out,in], backward
 * of a Conv1D W [in,out]) they scale the int32 sums afterwards; when they index the reduction they are folded
 * into x first, so that x's per-row quantization sees them. Scratch from the arena, given back. */
static ft_status q8_product_int8(const ft_lin *L, float *y, const float *x, bool back, int64_t N,
                                 ft_arena *arena) {
    const int64_t n = back ? L->in : L->out, k = back ? L->out : L->in;
    const bool trans = back ? L->w_in_out : !L->w_in_out; /* also: the stored rows index the output */
    const size_t mark = ft_arena_mark(arena);
    int8_t *xq = ft_arena_alloc(arena, (size_t)(N * k));
    float *sx = ft_arena_alloc(arena, (size_t)N * sizeof(float));
    int32_t *acc = ft_arena_alloc(arena, (size_t)(N * n) * sizeof(int32_t));
    if (!xq || !sx || !acc)
        return FT_ERR_NOMEM;
    ft_q8_quantize_act(xq, sx, x, trans ? NULL : L->wq_scale, N, k);
    const ft_status st =
        ft_matmul_s8(L->mm, trans, N, n, k, xq, k, L->wq, L->w_in_out ? L->out : L->in, acc, n);
    if (st == FT_OK)
        ft_q8_dequant_acc(y, acc, sx, trans ? L->wq_scale : NULL, back ? NULL : L->b, N, n, back);
    ft_arena_rewind(arena, mark);
    return st;
}

/* The base product y = x·op(W) + b, in bf16 when the layer carries a bf16 copy of W. */
static ft_status base_forward(const ft_lin *L, float *y, const float *x, int64_t N, ft_arena *arena) {
    if (half_native(L))
        return ft_linear_forward_bf16(L->mm, y, x, L->wh, L->b, N, L->in, L->out, L->w_in_out);
    if (L->wq && L->q8_int8 && L->mm)
        return q8_product_int8(L, y, x, false, N, arena);
    if (q8_native(L))
        return q8_product_bf16(L, y, x, false, N, arena);
    if (L->w16 && L->mm)
        return ft_linear_forward_bf16(L->mm, y, x, L->w16, L->b, N, L->in, L->out, L->w_in_out);
    if (L->wh || L->wq) {
        FT_TRY(half_product(L, y, x, false, N, arena));
        if (L->b) {
#pragma omp parallel for schedule(static) if (N * L->out >= FT_PAR_MIN)
            for (int64_t n = 0; n < N; n++)
                for (int64_t o = 0; o < L->out; o++)
                    y[n * L->out + o] += L->b[o];
        }
        return FT_OK;
    }
    ft_linear_forward(y, x, L->w, L->b, N, L->in, L->out, L->w_in_out);
    return FT_OK;
}

static ft_status base_backward(const ft_lin *L, float *dx, float *dw, float *db, const float *dy,
                               const float *x, int64_t N, ft_arena *arena) {
    if (half_native(L))
        return ft_linear_backward_bf16(L->mm, dx, NULL, db, dy, x, L->wh, N, L->in, L->out, L->w_in_out);
    if (L->w16 && L->mm)
        return ft_linear_backward_bf16(L->mm, dx, dw, db, dy, x, L->w16, N, L->in, L->out, L->w_in_out);
    if (L->wh || L->wq) {
        if (db)
            ft_linear_backward(NULL, NULL, db, dy, x, NULL, N, L->in, L->out, L->w_in_out);
        if (L->q8_int8 && L->mm)
            return dx ? q8_product_int8(L, dx, dy, true, N, arena) : FT_OK;
        if (q8_native(L))
            return dx ? q8_product_bf16(L, dx, dy, true, N, arena) : FT_OK;
        return dx ? half_product(L, dx, dy, true, N, arena) : FT_OK;
    }
    ft_linear_backward(dx, dw, db, dy, x, L->w, N, L->in, L->out, L->w_in_out);
    return FT_OK;
}

/* inv[o] = 1 / ‖W_o + s·(B A)_o‖ over the input dimension (W in either layout); g = m ⊙ inv. */
static void dora_inv_norm(const ft_lin *L, float *inv) {
#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < L->out; o++) {
        double ss = 0.0;
        for (int64_t i = 0; i < L->in; i++) {
            float ba = 0.0f;
            for (int k = 0; k < L->r; k++)
                ba += L->lora_b[o * L->r + k] * L->lora_a[(int64_t)k * L->in + i];
            double w = (double)(L->w_in_out ? L->w[i * L->out + o] : L->w[o * L->in + i]) + (double)L->scale * ba;
            ss += w * w;
        }
        inv[o] = (float)(1.0 / sqrt(ss > 0.0 ? ss : 1e-30));
    }
}

static ft_status dora_forward(const ft_lin *L, float *y, const float *x, int64_t N, ft_arena *arena,
                              ft_lin_cache *c) {
    if (!(c->dora_inner = take(arena, N * L->out)) || !(c->dora_g = take(arena, L->out)) ||
        !(c->lora_h = take(arena, N * L->r)))
        return FT_ERR_NOMEM;
    dora_inv_norm(L, c->dora_g);
    ft_linear_forward(c->dora_inner, x, L->w, NULL, N, L->in, L->out, L->w_in_out);
    ft_gemm(false, true, N, L->r, L->in, 1.0f, x, L->in, L->lora_a, L->in, 0.0f, c->lora_h, L->r);
    ft_gemm(false, true, N, L->out, L->r, L->scale, c->lora_h, L->r, L->lora_b, L->r, 1.0f, c->dora_inner, L->out);
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < L->out; o++)
            y[n * L->out + o] = L->dora_m[o] * c->dora_g[o] * c->dora_inner[n * L->out + o] + (L->b ? L->b[o] : 0.0f);
    return FT_OK;
}

static ft_status dora_backward(const ft_lin *L, float *dx, const float *dy, const float *x, int64_t N,
                               const ft_lin_cache *c, ft_arena *arena) {
    float *dyg = take(arena, N * L->out);
    if (!dyg)
        return FT_ERR_NOMEM;
    if (L->ddora_m) { /* dm = Σ_n dy ⊙ inner / ‖W'‖ */
#pragma omp parallel for schedule(static)
        for (int64_t o = 0; o < L->out; o++) {
            double acc = 0.0;
            for (int64_t n = 0; n < N; n++)
                acc += (double)dy[n * L->out + o] * c->dora_inner[n * L->out + o];
            L->ddora_m[o] += (float)(acc * c->dora_g[o]);
        }
    }
    if (L->db)
        ft_linear_backward(NULL, NULL, L->db, dy, x, L->w, N, L->in, L->out, L->w_in_out);
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < L->out; o++)
            dyg[n * L->out + o] = dy[n * L->out + o] * L->dora_m[o] * c->dora_g[o];
    /* the inner term is plain LoRA on dy ⊙ g (norm detached) */
    if (L->dlora_b)
        ft_gemm(true, false, L->out, L->r, N, L->scale, dyg, L->out, c->lora_h, L->r, 1.0f, L->dlora_b, L->r);
    if (L->dlora_a || dx) {
        float *dh = take(arena, N * L->r);
        if (!dh)
            return FT_ERR_NOMEM;
        ft_gemm(false, false, N, L->r, L->out, L->scale, dyg, L->out, L->lora_b, L->r, 0.0f, dh, L->r);
        if (L->dlora_a)
            ft_gemm(true, false, L->r, L->in, N, 1.0f, dh, L->r, x, L->in, 1.0f, L->dlora_a, L->in);
        if (dx)
            ft_gemm(false, false, N, L->in, L->r, 1.0f, dh, L->r, L->lora_a, L->in, 1.0f, dx, L->in);
    }
    ft_linear_backward(dx, L->dw, NULL, dyg, x, L->w, N, L->in, L->out, L->w_in_out);
    return FT_OK;
}

ft_status ft_lin_forward(const ft_lin *L, float *y, const float *x, int64_t N, ft_arena *arena, ft_lin_cache *c) {
    memset(c, 0, sizeof *c);
    if ((L->wh || L->wq) && (L->dw || (L->dora_m && L->lora_a)))
        return ft_fail(FT_ERR_INTERNAL,
                       "linear: a weight held in its file dtype or int8 cannot train or carry DoRA "
                       "(widen it first: ft_model_param_widen)");
    if (L->dora_m && L->lora_a)
        return dora_forward(L, y, x, N, arena, c);
    const float *xin = x;
    if (L->ia3 && L->ia3_in) { /* x' = x ⊙ l */
        if (!(c->ia3_buf = take(arena, N * L->in)))
            return FT_ERR_NOMEM;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < L->in; j++)
                c->ia3_buf[i * L->in + j] = x[i * L->in + j] * L->ia3[j];
        xin = c->ia3_buf;
    }
    FT_TRY(base_forward(L, y, xin, N, arena));
    if (L->ia3 && !L->ia3_in) { /* y = y_pre ⊙ l; keep y_pre */
        if (!(c->ia3_buf = take(arena, N * L->out)))
            return FT_ERR_NOMEM;
        memcpy(c->ia3_buf, y, (size_t)(N * L->out) * sizeof(float));
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < L->out; j++)
                y[i * L->out + j] *= L->ia3[j];
    }
    if (L->lora_a) {
        const float *u = x;
        float *ubuf = NULL;
        if (L->training && L->lora_dropout > 0.0f) {
            if (!(ubuf = take(arena, N * L->in)))
                return FT_ERR_NOMEM;
            ft_dropout_rows_forward(ubuf, x, N, L->in, L->lora_dropout, L->seed, L->stream, L->drop_rows);
            u = ubuf;
        }
        if (!(c->lora_h = take(arena, N * L->r)))
            return FT_ERR_NOMEM;
        ft_gemm(false, true, N, L->r, L->in, 1.0f, u, L->in, L->lora_a, L->in, 0.0f, c->lora_h, L->r); /* h = u Aᵀ */
        ft_gemm(false, true, N, L->out, L->r, L->scale, c->lora_h, L->r, L->lora_b, L->r, 1.0f, y, L->out); /* y += s h Bᵀ */
    }
    return FT_OK;
}

ft_status ft_lin_backward(const ft_lin *L, float *dx, const float *dy, const float *x, int64_t N,
                          const ft_lin_cache *c, ft_arena *arena) {
    if (L->dora_m && L->lora_a)
        return dora_backward(L, dx, dy, x, N, c, arena);
    if (L->lora_a) {
        if (L->dlora_b) /* dB[out,r] += s dyᵀ h */
            ft_gemm(true, false, L->out, L->r, N, L->scale, dy, L->out, c->lora_h, L->r, 1.0f, L->dlora_b, L->r);
        if (L->dlora_a || dx) {
            float *dh = take(arena, N * L->r);
            if (!dh)
                return FT_ERR_NOMEM;
            ft_gemm(false, false, N, L->r, L->out, L->scale, dy, L->out, L->lora_b, L->r, 0.0f, dh, L->r); /* dh = s dy B */
            const bool drop = L->training && L->lora_dropout > 0.0f;
            if (L->dlora_a) {
                const float *u = x;
                if (drop) {
                    float *ub = take(arena, N * L->in);
                    if (!ub)
                        return FT_ERR_NOMEM;
                    ft_dropout_rows_forward(ub, x, N, L->in, L->lora_dropout, L->seed, L->stream,
                                            L->drop_rows);
                    u = ub;
                }
                ft_gemm(true, false, L->r, L->in, N, 1.0f, dh, L->r, u, L->in, 1.0f, L->dlora_a, L->in); /* dA += dhᵀ u */
            }
            if (dx) {
                if (drop) {
                    float *du = take(arena, N * L->in);
                    if (!du)
                        return FT_ERR_NOMEM;
                    ft_gemm(false, false, N, L->in, L->r, 1.0f, dh, L->r, L->lora_a, L->in, 0.0f, du, L->in);
                    ft_dropout_rows_backward(dx, du, N, L->in, L->lora_dropout, L->seed, L->stream,
                                             L->drop_rows);
                } else {
                    ft_gemm(false, false, N, L->in, L->r, 1.0f, dh, L->r, L->lora_a, L->in, 1.0f, dx, L->in); /* dx += dh A */
                }
            }
        }
    }
    if (L->ia3 && !L->ia3_in) {
        float *dyp = take(arena, N * L->out);
        if (!dyp)
            return FT_ERR_NOMEM;
        if (L->dia3) {
#pragma omp parallel for schedule(static)
            for (int64_t j = 0; j < L->out; j++) {
                float s = 0.0f;
                for (int64_t i = 0; i < N; i++)
                    s += dy[i * L->out + j] * c->ia3_buf[i * L->out + j];
                L->dia3[j] += s;
            }
        }
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < L->out; j++)
                dyp[i * L->out + j] = dy[i * L->out + j] * L->ia3[j];
        return base_backward(L, dx, L->dw, L->db, dyp, x, N, arena);
    }
    if (L->ia3 && L->ia3_in) {
        FT_TRY(base_backward(L, NULL, L->dw, L->db, dy, c->ia3_buf, N, arena));
        if (dx || L->dia3) {
            float *dxp = take(arena, N * L->in);
            if (!dxp)
                return FT_ERR_NOMEM;
            memset(dxp, 0, (size_t)(N * L->in) * sizeof(float));
            FT_TRY(base_backward(L, dxp, NULL, NULL, dy, c->ia3_buf, N, arena));
            if (L->dia3) {
#pragma omp parallel for schedule(static)
                for (int64_t j = 0; j < L->in; j++) {
                    float s = 0.0f;
                    for (int64_t i = 0; i < N; i++)
                        s += dxp[i * L->in + j] * x[i * L->in + j];
                    L->dia3[j] += s;
                }
            }
            if (dx) {
#pragma omp parallel for schedule(static)
                for (int64_t i = 0; i < N; i++)
                    for (int64_t j = 0; j < L->in; j++)
                        dx[i * L->in + j] += dxp[i * L->in + j] * L->ia3[j];
            }
        }
        return FT_OK;
    }
    return base_backward(L, dx, L->dw, L->db, dy, x, N, arena);
}
