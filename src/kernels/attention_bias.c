/* Attention with an additive score bias (T5's relative position bias) and separate query / key lengths
 * (cross-attention): s = scale·q·kᵀ + bias[h], keys masked by padding and causality, P = softmax(s) kept,
 * out = drop(P)·v. Plain loops (parallel over heads, so the bias gradient summed over the batch has one
 * writer per head and the result does not depend on the thread count). */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"

static bool key_visible(const ft_attn_bias_shape *s, const int32_t *kmask, int b, int i, int j) {
    return (!kmask || kmask[(int64_t)b * s->Tk + j]) && (!s->causal || j <= i);
}

/* The dropout factor of P[b,h,i,j]: 0 (dropped) or 1/(1−p). */
static float keep_factor(const ft_attn_bias_shape *s, int64_t idx) {
    if (s->dropout <= 0.0f)
        return 1.0f;
    return ft_rng_uniform(s->seed, s->stream, (uint64_t)idx) >= s->dropout ? 1.0f / (1.0f - s->dropout)
                                                                           : 0.0f;
}

void ft_attention_bias_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                               const float *bias, const int32_t *kmask, const ft_attn_bias_shape *s) {
    const int B = s->B, H = s->H, Tq = s->Tq, Tk = s->Tk, D = s->D;
#pragma omp parallel for schedule(static)
    for (int h = 0; h < H; h++)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < Tq; i++) {
                const int64_t row = (((int64_t)b * H + h) * Tq + i) * Tk;
                float *p = probs + row;
                const float *qi = q + ((int64_t)b * Tq + i) * s->q_stride + (int64_t)h * D;
                const float *bi = bias ? bias + ((int64_t)h * Tq + i) * Tk : NULL;
                float mx = -INFINITY;
                for (int j = 0; j < Tk; j++) {
                    if (!key_visible(s, kmask, b, i, j)) {
                        p[j] = -INFINITY;
                        continue;
                    }
                    const float *kj = k + ((int64_t)b * Tk + j) * s->kv_stride + (int64_t)h * D;
                    float dot = 0.0f;
                    for (int d = 0; d < D; d++)
                        dot += qi[d] * kj[d];
                    p[j] = dot * s->scale + (bi ? bi[j] : 0.0f);
                    mx = p[j] > mx ? p[j] : mx;
                }
                float *oi = out + ((int64_t)b * Tq + i) * s->q_stride + (int64_t)h * D;
                memset(oi, 0, (size_t)D * sizeof(float));
                if (mx == -INFINITY) { /* no visible key: zeros */
                    memset(p, 0, (size_t)Tk * sizeof(float));
                    continue;
                }
                double sum = 0.0;
                for (int j = 0; j < Tk; j++) {
                    p[j] = p[j] == -INFINITY ? 0.0f : expf(p[j] - mx);
                    sum += p[j];
                }
                const float inv = (float)(1.0 / sum);
                for (int j = 0; j < Tk; j++) {
                    p[j] *= inv;
                    const float w = p[j] * keep_factor(s, row + j);
                    if (w == 0.0f)
                        continue;
                    const float *vj = v + ((int64_t)b * Tk + j) * s->kv_stride + (int64_t)h * D;
                    for (int d = 0; d < D; d++)
                        oi[d] += w * vj[d];
                }
            }
}

void ft_attention_bias_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout,
                                const float *probs, const float *q, const float *k, const float *v,
                                const ft_attn_bias_shape *s) {
    const int B = s->B, H = s->H, Tq = s->Tq, Tk = s->Tk, D = s->D;
#pragma omp parallel for schedule(static)
    for (int h = 0; h < H; h++)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < Tq; i++) {
                const int64_t row = (((int64_t)b * H + h) * Tq + i) * Tk;
                const float *p = probs + row;
                const int64_t qo = ((int64_t)b * Tq + i) * s->q_stride + (int64_t)h * D;
                const float *doi = dout + qo;
                /* dP_ij = keep_ij · dO_i·v_j; Σ_j P_ij dP_ij for the softmax's backward */
                double dot_pdp = 0.0;
                for (int j = 0; j < Tk; j++) {
                    if (p[j] == 0.0f)
                        continue;
                    const float *vj = v + ((int64_t)b * Tk + j) * s->kv_stride + (int64_t)h * D;
                    float g = 0.0f;
                    for (int d = 0; d < D; d++)
                        g += doi[d] * vj[d];
                    dot_pdp += (double)p[j] * (double)(g * keep_factor(s, row + j));
                }
                for (int j = 0; j < Tk; j++) {
                    if (p[j] == 0.0f)
                        continue;
                    const int64_t ko = ((int64_t)b * Tk + j) * s->kv_stride + (int64_t)h * D;
                    const float kf = keep_factor(s, row + j);
                    float g = 0.0f;
                    for (int d = 0; d < D; d++)
                        g += doi[d] * v[ko + d];
                    if (dv && kf != 0.0f)
                        for (int d = 0; d < D; d++)
                            dv[ko + d] += p[j] * kf * doi[d];
                    const float ds = p[j] * (g * kf - (float)dot_pdp); /* d(score) */
                    if (dbias)
                        dbias[((int64_t)h * Tq + i) * Tk + j] += ds;
                    const float dss = ds * s->scale;
                    if (dq)
                        for (int d = 0; d < D; d++)
                            dq[qo + d] += dss * k[ko + d];
                    if (dk)
                        for (int d = 0; d < D; d++)
                            dk[ko + d] += dss * q[qo + d];
                }
            }
}
