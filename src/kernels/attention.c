/* Scaled dot-product attention with causal and padding masks, grouped-query heads and dropout on
 * the probabilities. P = softmax(q·kᵀ·scale + mask), out = dropout(P)·v.
 * Work is split into tasks per (b, head) and, inside a task, into blocks of ATT_RB query rows that
 * go through ft_gemm (oneDNN runs it single-threaded inside our parallel region): under the causal
 * mask a block of rows [t0, t1) only needs keys [0, t1), so blocks above the diagonal are skipped. */
#include <math.h>

#include "core/core.h"
#include "kernels/kernels.h"
#include "kernels/vecmath.h"

#define ATT_RB 32 /* query rows per block: 32×T scratch floats on the stack */

static inline float keep_scale(const ft_attn_shape *s, int64_t idx) {
    if (s->dropout <= 0.0f)
        return 1.0f;
    return ft_rng_uniform(s->seed, s->stream, (uint64_t)idx) >= s->dropout ? 1.0f / (1.0f - s->dropout) : 0.0f;
}

/* Softmax of one row of scores pr[0..kend) in place over its visible keys; pr[kend..T) = 0. */
static void softmax_row(float *pr, const ft_attn_shape *s, const int32_t *mrow, int t, int kend) {
    const int T = s->T;
    int vis_end = s->causal ? (t + 1 < kend ? t + 1 : kend) : kend;
    float mx = -INFINITY;
    for (int j = 0; j < vis_end; j++) {
        if (mrow && mrow[j] == 0)
            pr[j] = -INFINITY;
        mx = pr[j] > mx ? pr[j] : mx;
    }
    if (mx == -INFINITY) /* no visible key: zero probabilities (and zero output) */
        vis_end = 0;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < vis_end; j++) {
        float e = pr[j] == -INFINITY ? 0.0f : ft_vexpf(pr[j] - mx);
        pr[j] = e;
        sum += e;
    }
    const float inv = vis_end > 0 ? 1.0f / sum : 0.0f;
#pragma omp simd
    for (int j = 0; j < vis_end; j++)
        pr[j] *= inv;
    for (int j = vis_end; j < T; j++)
        pr[j] = 0.0f;
}

void ft_attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                          const int32_t *mask, const ft_attn_shape *s) {
    const int B = s->B, T = s->T, H = s->H, D = s->D, rep = s->H / s->Hkv;
    const int64_t HD = (int64_t)H * D;
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if (B * H > 1)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const int g = h / rep;
            const float *qb = q + (int64_t)b * T * s->q_stride + (int64_t)h * D;
            const float *kb = k + (int64_t)b * T * s->kv_stride + (int64_t)g * D;
            const float *vb = v + (int64_t)b * T * s->kv_stride + (int64_t)g * D;
            float *ob = out + (int64_t)b * T * HD + (int64_t)h * D;
            float *pb = probs + ((int64_t)b * H + h) * T * T;
            const int32_t *mrow = mask ? mask + (int64_t)b * T : NULL;
            for (int t0 = 0; t0 < T; t0 += ATT_RB) {
                const int t1 = t0 + ATT_RB < T ? t0 + ATT_RB : T, rb = t1 - t0;
                const int kend = s->causal ? t1 : T;
                float *P = pb + (int64_t)t0 * T;
                /* S = scale · Q[t0:t1] K[0:kend]ᵀ, straight into the probs rows */
                ft_gemm(false, true, rb, kend, D, s->scale, qb + (int64_t)t0 * s->q_stride, s->q_stride, kb,
                        s->kv_stride, 0.0f, P, T);
                for (int t = t0; t < t1; t++)
                    softmax_row(P + (int64_t)(t - t0) * T, s, mrow, t, kend);
                if (s->dropout <= 0.0f) {
                    ft_gemm(false, false, rb, D, kend, 1.0f, P, T, vb, s->kv_stride, 0.0f,
                            ob + (int64_t)t0 * HD, HD);
                } else {
                    float pk[ATT_RB * T]; /* dropout(P) for this block */
                    const int64_t base = ((int64_t)b * H + h) * T * T;
                    for (int r = 0; r < rb; r++)
                        for (int j = 0; j < kend; j++) {
                            const int64_t idx = (int64_t)(t0 + r) * T + j;
                            pk[r * kend + j] = pb[idx] == 0.0f ? 0.0f : pb[idx] * keep_scale(s, base + idx);
                        }
                    ft_gemm(false, false, rb, D, kend, 1.0f, pk, kend, vb, s->kv_stride, 0.0f,
                            ob + (int64_t)t0 * HD, HD);
                }
            }
        }
    }
}

void ft_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs,
                           const float *q, const float *k, const float *v, const int32_t *mask,
                           const ft_attn_shape *s) {
    const int B = s->B, T = s->T, H = s->H, Hkv = s->Hkv, D = s->D, rep = s->H / s->Hkv;
    const int64_t HD = (int64_t)H * D;
    (void)mask; /* invisible keys already carry probability 0 */
    /* Tasks over (b, kv head): each writes only its own dk/dv rows and its group's dq heads. */
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if (B * Hkv > 1)
    for (int b = 0; b < B; b++) {
        for (int g = 0; g < Hkv; g++) {
            float buf[ATT_RB * T];
            const float *kb = k + (int64_t)b * T * s->kv_stride + (int64_t)g * D;
            const float *vb = v + (int64_t)b * T * s->kv_stride + (int64_t)g * D;
            float *dkb = dk + (int64_t)b * T * s->kv_stride + (int64_t)g * D;
            float *dvb = dv + (int64_t)b * T * s->kv_stride + (int64_t)g * D;
            for (int h = g * rep; h < (g + 1) * rep; h++) {
                const float *qb = q + (int64_t)b * T * s->q_stride + (int64_t)h * D;
                float *dqb = dq + (int64_t)b * T * s->q_stride + (int64_t)h * D;
                const float *dob = dout + (int64_t)b * T * HD + (int64_t)h * D;
                const float *pb = probs + ((int64_t)b * H + h) * T * T;
                const int64_t base = ((int64_t)b * H + h) * T * T;
                for (int t0 = 0; t0 < T; t0 += ATT_RB) {
                    const int t1 = t0 + ATT_RB < T ? t0 + ATT_RB : T, rb = t1 - t0;
                    const int kend = s->causal ? t1 : T;
                    const float *P = pb + (int64_t)t0 * T;
                    const float *dO = dob + (int64_t)t0 * HD;
                    /* dV[0:kend] += dropout(P)ᵀ dO */
                    if (s->dropout <= 0.0f) {
                        ft_gemm(true, false, kend, D, rb, 1.0f, P, T, dO, HD, 1.0f, dvb, s->kv_stride);
                    } else {
                        for (int r = 0; r < rb; r++)
                            for (int j = 0; j < kend; j++) {
                                const int64_t idx = (int64_t)(t0 + r) * T + j;
                                buf[r * kend + j] = pb[idx] == 0.0f ? 0.0f : pb[idx] * keep_scale(s, base + idx);
                            }
                        ft_gemm(true, false, kend, D, rb, 1.0f, buf, kend, dO, HD, 1.0f, dvb, s->kv_stride);
                    }
                    /* dP = (dO Vᵀ) ⊙ keep; dS = P ⊙ (dP − Σ_j P·dP) · scale */
                    ft_gemm(false, true, rb, kend, D, 1.0f, dO, HD, vb, s->kv_stride, 0.0f, buf, kend);
                    for (int r = 0; r < rb; r++) {
                        const float *pr = P + (int64_t)r * T;
                        float *br = buf + (int64_t)r * kend;
                        if (s->dropout > 0.0f)
                            for (int j = 0; j < kend; j++)
                                br[j] = pr[j] == 0.0f ? 0.0f
                                                      : br[j] * keep_scale(s, base + (int64_t)(t0 + r) * T + j);
                        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                        for (int j = 0; j < kend; j++)
                            dot += pr[j] * br[j];
#pragma omp simd
                        for (int j = 0; j < kend; j++)
                            br[j] = pr[j] * (br[j] - dot) * s->scale;
                    }
                    /* dQ[t0:t1] += dS K[0:kend];  dK[0:kend] += dSᵀ Q[t0:t1] */
                    ft_gemm(false, false, rb, D, kend, 1.0f, buf, kend, kb, s->kv_stride, 1.0f,
                            dqb + (int64_t)t0 * s->q_stride, s->q_stride);
                    ft_gemm(true, false, kend, D, rb, 1.0f, buf, kend, qb + (int64_t)t0 * s->q_stride, s->q_stride,
                            1.0f, dkb, s->kv_stride);
                }
            }
        }
    }
}
