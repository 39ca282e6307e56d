/* Scaled dot-product attention with causal and padding masks, grouped-query heads and dropout on
 * the probabilities. P = softmax(q·kᵀ·scale + mask), out = dropout(P)·v. */
#include <math.h>

#include "core/core.h"
#include "kernels/kernels.h"

static inline bool key_visible(const ft_attn_shape *s, const int32_t *mask, int b, int t, int j) {
    if (s->causal && j > t)
        return false;
    return !mask || mask[(int64_t)b * s->T + j] != 0;
}

static inline float keep_scale(const ft_attn_shape *s, int64_t idx) {
    if (s->dropout <= 0.0f)
        return 1.0f;
    return ft_rng_uniform(s->seed, s->stream, (uint64_t)idx) >= s->dropout ? 1.0f / (1.0f - s->dropout) : 0.0f;
}

void ft_attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                          const int32_t *mask, const ft_attn_shape *s) {
    const int B = s->B, T = s->T, H = s->H, D = s->D, rep = s->H / s->Hkv;
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const int g = h / rep;
            for (int t = 0; t < T; t++) {
                const float *qr = q + ((int64_t)b * T + t) * s->q_stride + (int64_t)h * D;
                float *pr = probs + (((int64_t)b * H + h) * T + t) * T;
                float mx = -INFINITY;
                for (int j = 0; j < T; j++) {
                    if (!key_visible(s, mask, b, t, j)) {
                        pr[j] = -INFINITY;
                        continue;
                    }
                    const float *kr = k + ((int64_t)b * T + j) * s->kv_stride + (int64_t)g * D;
                    float dot = 0.0f;
                    for (int d = 0; d < D; d++)
                        dot += qr[d] * kr[d];
                    pr[j] = dot * s->scale;
                    mx = pr[j] > mx ? pr[j] : mx;
                }
                float *orow = out + ((int64_t)b * T + t) * ((int64_t)H * D) + (int64_t)h * D;
                for (int d = 0; d < D; d++)
                    orow[d] = 0.0f;
                if (mx == -INFINITY) { /* no visible key: zero output, zero probabilities */
                    for (int j = 0; j < T; j++)
                        pr[j] = 0.0f;
                    continue;
                }
                float sum = 0.0f;
                for (int j = 0; j < T; j++) {
                    float e = pr[j] == -INFINITY ? 0.0f : expf(pr[j] - mx);
                    pr[j] = e;
                    sum += e;
                }
                const float inv = 1.0f / sum;
                const int64_t base = (((int64_t)b * H + h) * T + t) * T;
                for (int j = 0; j < T; j++) {
                    pr[j] *= inv;
                    if (pr[j] == 0.0f)
                        continue;
                    float p = pr[j] * keep_scale(s, base + j);
                    const float *vr = v + ((int64_t)b * T + j) * s->kv_stride + (int64_t)g * D;
                    for (int d = 0; d < D; d++)
                        orow[d] += p * vr[d];
                }
            }
        }
    }
}

void ft_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs,
                           const float *q, const float *k, const float *v, const int32_t *mask,
                           const ft_attn_shape *s) {
    const int B = s->B, T = s->T, H = s->H, Hkv = s->Hkv, D = s->D, rep = s->H / s->Hkv;
    (void)mask; /* invisible keys already carry probability 0 */
    /* Tasks over (b, kv head): each writes only its own dk/dv rows and its group's dq heads. */
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++) {
        for (int g = 0; g < Hkv; g++) {
            float dp[T]; /* T is bounded by the model's positions */
            for (int h = g * rep; h < (g + 1) * rep; h++) {
                for (int t = 0; t < T; t++) {
                    const float *pr = probs + (((int64_t)b * H + h) * T + t) * T;
                    const float *dor = dout + ((int64_t)b * T + t) * ((int64_t)H * D) + (int64_t)h * D;
                    const float *qr = q + ((int64_t)b * T + t) * s->q_stride + (int64_t)h * D;
                    float *dqr = dq + ((int64_t)b * T + t) * s->q_stride + (int64_t)h * D;
                    const int64_t base = (((int64_t)b * H + h) * T + t) * T;
                    float dot = 0.0f;
                    for (int j = 0; j < T; j++) {
                        if (pr[j] == 0.0f) {
                            dp[j] = 0.0f;
                            continue;
                        }
                        const float ks = keep_scale(s, base + j);
                        const float *vr = v + ((int64_t)b * T + j) * s->kv_stride + (int64_t)g * D;
                        float *dvr = dv + ((int64_t)b * T + j) * s->kv_stride + (int64_t)g * D;
                        float a = 0.0f;
                        const float pk = pr[j] * ks;
                        for (int d = 0; d < D; d++) {
                            a += dor[d] * vr[d];
                            dvr[d] += pk * dor[d];
                        }
                        dp[j] = a * ks;
                        dot += dp[j] * pr[j];
                    }
                    for (int j = 0; j < T; j++) {
                        if (pr[j] == 0.0f)
                            continue;
                        const float ds = pr[j] * (dp[j] - dot) * s->scale;
                        const float *kr = k + ((int64_t)b * T + j) * s->kv_stride + (int64_t)g * D;
                        float *dkr = dk + ((int64_t)b * T + j) * s->kv_stride + (int64_t)g * D;
                        for (int d = 0; d < D; d++) {
                            dqr[d] += ds * kr[d];
                            dkr[d] += ds * qr[d];
                        }
                    }
                }
            }
        }
    }
}
