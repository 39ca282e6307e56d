/* Attention with an additive score bias (T5's relative position bias) and separate query / key lengths
 * (cross-attention): s = scale·q·kᵀ + bias[h], keys masked by padding and causality, P = softmax(s) kept,
 * out = drop(P)·v. One (row, head) pair at a time: its products as GEMMs (each threaded inside), the softmax
 * and its backward row-parallel, so every sum runs in the same order whatever the thread count. */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"

size_t ft_attention_bias_work_floats(const ft_attn_bias_shape *s) {
    return 2 * (size_t)s->Tq * (size_t)s->Tk;
}

/* The dropout factor of P[b,h,i,j] (element index idx): 0 (dropped) or 1/(1−p). */
static float keep_factor(const ft_attn_bias_shape *s, int64_t idx) {
    if (s->dropout <= 0.0f)
        return 1.0f;
    return ft_rng_uniform(s->seed, s->stream, (uint64_t)idx) >= s->dropout ? 1.0f / (1.0f - s->dropout)
                                                                           : 0.0f;
}

/* drop(P) of one (b, h) block into pd (P's element indices start at base). */
static void dropped(const ft_attn_bias_shape *s, const float *P, float *pd, int64_t base) {
    const int64_t n = (int64_t)s->Tq * s->Tk;
#pragma omp parallel for schedule(static)
    for (int64_t e = 0; e < n; e++)
        pd[e] = P[e] * keep_factor(s, base + e);
}

/* Row i of a (b, h) block: the scaled scores in p [Tk] get the bias and the masks, then become softmax
 * probabilities (hidden keys 0; a row with no visible key all 0). */
static void softmax_row(const ft_attn_bias_shape *s, float *p, const float *bias_row, const int32_t *kmask_b,
                        int i) {
    float mx = -INFINITY;
    for (int j = 0; j < s->Tk; j++) {
        if ((kmask_b && !kmask_b[j]) || (s->causal && j > i)) {
            p[j] = -INFINITY;
            continue;
        }
        p[j] += bias_row ? bias_row[j] : 0.0f;
        mx = p[j] > mx ? p[j] : mx;
    }
    if (mx == -INFINITY) {
        memset(p, 0, (size_t)s->Tk * sizeof(float));
        return;
    }
    double sum = 0.0;
    for (int j = 0; j < s->Tk; j++) {
        p[j] = p[j] == -INFINITY ? 0.0f : expf(p[j] - mx);
        sum += p[j];
    }
    const float inv = (float)(1.0 / sum);
    for (int j = 0; j < s->Tk; j++)
        p[j] *= inv;
}

void ft_attention_bias_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                               const float *bias, const int32_t *kmask, const ft_attn_bias_shape *s,
                               float *work) {
    const int Tq = s->Tq, Tk = s->Tk, D = s->D;
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->H; h++) {
            const int64_t qo = (int64_t)b * Tq * s->q_stride + (int64_t)h * D,
                          ko = (int64_t)b * Tk * s->kv_stride + (int64_t)h * D,
                          base = ((int64_t)b * s->H + h) * Tq * Tk;
            float *P = probs + base;
            ft_gemm(false, true, Tq, Tk, D, s->scale, q + qo, s->q_stride, k + ko, s->kv_stride, 0.0f, P, Tk);
#pragma omp parallel for schedule(static)
            for (int i = 0; i < Tq; i++)
                softmax_row(s, P + (int64_t)i * Tk, bias ? bias + ((int64_t)h * Tq + i) * Tk : NULL,
                            kmask ? kmask + (int64_t)b * Tk : NULL, i);
            const float *pd = P;
            if (s->dropout > 0.0f) {
                dropped(s, P, work, base);
                pd = work;
            }
            ft_gemm(false, false, Tq, D, Tk, 1.0f, pd, Tk, v + ko, s->kv_stride, 0.0f, out + qo, s->q_stride);
        }
}

void ft_attention_bias_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout,
                                const float *probs, const float *q, const float *k, const float *v,
                                const ft_attn_bias_shape *s, float *work) {
    const int Tq = s->Tq, Tk = s->Tk, D = s->D;
    float *dp = work, *pd = work + (int64_t)Tq * Tk;
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->H; h++) {
            const int64_t qo = (int64_t)b * Tq * s->q_stride + (int64_t)h * D,
                          ko = (int64_t)b * Tk * s->kv_stride + (int64_t)h * D,
                          base = ((int64_t)b * s->H + h) * Tq * Tk;
            const float *P = probs + base;
            /* d(drop(P)) = dO·vᵀ; dv += drop(P)ᵀ·dO */
            ft_gemm(false, true, Tq, Tk, D, 1.0f, dout + qo, s->q_stride, v + ko, s->kv_stride, 0.0f, dp, Tk);
            if (dv) {
                const float *pdv = P;
                if (s->dropout > 0.0f) {
                    dropped(s, P, pd, base);
                    pdv = pd;
                }
                ft_gemm(true, false, Tk, D, Tq, 1.0f, pdv, Tk, dout + qo, s->q_stride, 1.0f, dv + ko,
                        s->kv_stride);
            }
            /* d(score) = P ⊙ (dP − Σ_j P dP), dP = keep ⊙ d(drop(P)); written over dp */
#pragma omp parallel for schedule(static)
            for (int i = 0; i < Tq; i++) {
                const float *pr = P + (int64_t)i * Tk;
                float *g = dp + (int64_t)i * Tk;
                double dot = 0.0;
                for (int j = 0; j < Tk; j++) {
                    g[j] *= keep_factor(s, base + (int64_t)i * Tk + j);
                    dot += (double)pr[j] * (double)g[j];
                }
                for (int j = 0; j < Tk; j++)
                    g[j] = pr[j] * (g[j] - (float)dot);
                if (dbias) /* one writer per row; the batch's blocks in order */
                    for (int j = 0; j < Tk; j++)
                        dbias[((int64_t)h * Tq + i) * Tk + j] += g[j];
            }
            if (dq)
                ft_gemm(false, false, Tq, D, Tk, s->scale, dp, Tk, k + ko, s->kv_stride, 1.0f, dq + qo,
                        s->q_stride);
            if (dk)
                ft_gemm(true, false, Tk, D, Tq, s->scale, dp, Tk, q + qo, s->q_stride, 1.0f, dk + ko,
                        s->kv_stride);
        }
}
