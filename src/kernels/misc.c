/* Rotary embeddings, embeddings, cross-entropy, dropout, AdamW and small vector helpers. */
#include <math.h>

#include "core/core.h"
#include "kernels/kernels.h"
#include "kernels/vecmath.h"

/* (x_i, x_{i+D/2}) rotated by angle pos·θ^(−2i/D); sign = +1 forward, −1 inverse (backward). */
static void rope_apply(float *x, const int32_t *pos, int64_t N, int n_heads, int D, int64_t stride, float theta,
                       float sign) {
    const int half = D / 2;
#pragma omp parallel for schedule(static) if (N * n_heads * D >= FT_PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        for (int i = 0; i < half; i++) {
            /* inv_freq in fp32 as HF computes it: 1 / θ^(2i/D) */
            float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)D);
            float ang = (float)pos[n] * inv_freq;
            float c = cosf(ang), sn = sign * sinf(ang);
            for (int h = 0; h < n_heads; h++) {
                float *xr = x + n * stride + (int64_t)h * D;
                float a = xr[i], b = xr[i + half];
                xr[i] = a * c - b * sn;
                xr[i + half] = b * c + a * sn;
            }
        }
    }
}

void ft_rope_forward(float *x, const int32_t *pos, int64_t N, int n_heads, int D, int64_t stride, float theta) {
    rope_apply(x, pos, N, n_heads, D, stride, theta, 1.0f);
}

void ft_rope_backward(float *dx, const int32_t *pos, int64_t N, int n_heads, int D, int64_t stride, float theta) {
    rope_apply(dx, pos, N, n_heads, D, stride, theta, -1.0f); /* rotation is orthogonal: Rᵀ = R(−θ) */
}

void ft_embedding_forward(float *y, const float *table, const int32_t *ids, const float *pos_table,
                          const int32_t *pos, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        const float *er = table + (int64_t)ids[n] * C;
        float *yr = y + n * C;
        if (pos_table) {
            const float *pr = pos_table + (int64_t)pos[n] * C;
            for (int64_t j = 0; j < C; j++)
                yr[j] = er[j] + pr[j];
        } else {
            for (int64_t j = 0; j < C; j++)
                yr[j] = er[j];
        }
    }
}

void ft_embedding_backward(float *dtable, const float *dy, const int32_t *ids, int64_t N, int64_t C,
                           int32_t padding_idx) {
    /* Parallel over columns so two rows with the same id never race. */
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
    for (int64_t j0 = 0; j0 < C; j0 += 64) {
        int64_t j1 = j0 + 64 < C ? j0 + 64 : C;
        for (int64_t n = 0; n < N; n++) {
            if (ids[n] == padding_idx)
                continue;
            float *dr = dtable + (int64_t)ids[n] * C;
            const float *gr = dy + n * C;
            for (int64_t j = j0; j < j1; j++)
                dr[j] += gr[j];
        }
    }
}

void ft_embedding_lora_forward(float *y, const float *A, const float *B, const int32_t *ids, int64_t N,
                               int64_t C, int64_t V, int r, float s) {
#pragma omp parallel for schedule(static) if (N * C * r >= FT_PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        float *yr = y + n * C;
        for (int k = 0; k < r; k++) {
            const float u = s * A[(int64_t)k * V + ids[n]];
            for (int64_t j = 0; j < C; j++)
                yr[j] += u * B[j * r + k];
        }
    }
}

void ft_embedding_lora_backward(float *dA, float *dB, const float *dy, const float *A, const float *B,
                                const int32_t *ids, int64_t N, int64_t C, int64_t V, int r, float s,
                                int32_t padding_idx) {
    /* dA[k, ids[n]] += s·dy[n]·B[:, k]: parallel over k, so two rows with the same id never race */
    if (dA) {
#pragma omp parallel for schedule(static) if (N * C * r >= FT_PAR_MIN)
        for (int k = 0; k < r; k++)
            for (int64_t n = 0; n < N; n++) {
                if (ids[n] == padding_idx)
                    continue;
                const float *g = dy + n * C;
                float acc = 0.0f;
                for (int64_t j = 0; j < C; j++)
                    acc += g[j] * B[j * r + k];
                dA[(int64_t)k * V + ids[n]] += s * acc;
            }
    }
    /* dB[j, k] += s·Σ_n dy[n, j]·A[k, ids[n]] */
    if (dB) {
#pragma omp parallel for schedule(static) if (N * C * r >= FT_PAR_MIN)
        for (int64_t j = 0; j < C; j++)
            for (int k = 0; k < r; k++) {
                float acc = 0.0f;
                for (int64_t n = 0; n < N; n++)
                    acc += dy[n * C + j] * A[(int64_t)k * V + ids[n]];
                dB[j * r + k] += s * acc;
            }
    }
}

double ft_cross_entropy_forward(const float *logits, const int32_t *targets, int64_t N, int64_t V,
                                int64_t *count) {
    double total = 0.0;
    int64_t cnt = 0;
#pragma omp parallel for schedule(static) reduction(+ : total, cnt) if (N * V >= FT_PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        if (targets[n] < 0)
            continue;
        const float *lr = logits + n * V;
        float mx = -INFINITY;
        for (int64_t j = 0; j < V; j++)
            mx = lr[j] > mx ? lr[j] : mx;
        double s = 0.0;
        for (int64_t j = 0; j < V; j++)
            s += exp((double)(lr[j] - mx));
        // cppcheck-suppress invalidFunctionArg ; s ≥ 1 (the max term is exp(0))
        total += log(s) + (double)mx - (double)lr[targets[n]];
        cnt++;
    }
    *count = cnt;
    return total;
}

void ft_cross_entropy_backward(float *dlogits, const float *logits, const int32_t *targets, int64_t N, int64_t V,
                               float scale) {
#pragma omp parallel for schedule(static) if (N * V >= FT_PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        const float *lr = logits + n * V;
        float *dr = dlogits + n * V;
        if (targets[n] < 0) {
            for (int64_t j = 0; j < V; j++)
                dr[j] = 0.0f;
            continue;
        }
        float mx = -INFINITY;
        for (int64_t j = 0; j < V; j++)
            mx = lr[j] > mx ? lr[j] : mx;
        float s = 0.0f;
        for (int64_t j = 0; j < V; j++) {
            float e = expf(lr[j] - mx);
            dr[j] = e;
            s += e;
        }
        float inv = scale / s;
        for (int64_t j = 0; j < V; j++)
            dr[j] *= inv;
        dr[targets[n]] -= scale;
    }
}

void ft_dropout_forward(float *y, const float *x, int64_t n, float p, uint64_t seed, uint64_t stream) {
    ft_dropout_rows_forward(y, x, n, 1, p, seed, stream, (ft_drop_rows){0, 0, 0});
}

void ft_dropout_backward(float *dx, const float *dy, int64_t n, float p, uint64_t seed, uint64_t stream) {
    ft_dropout_rows_backward(dx, dy, n, 1, p, seed, stream, (ft_drop_rows){0, 0, 0});
}

/* The counter of row n's first channel (ft_drop_rows). */
static inline uint64_t drop_row_key(ft_drop_rows k, int64_t n, int64_t C) {
    if (k.T <= 0)
        return (uint64_t)(n * C);
    return (uint64_t)(((k.row0 + n / k.T) * (k.T + k.pad) + n % k.T) * C);
}

/* out = in·keep/(1−p) (add: out += that, the backward) over an [N, C] buffer keyed by k. */
static void dropout_rows(float *out, const float *in, int64_t N, int64_t C, float p, uint64_t seed,
                         uint64_t stream, ft_drop_rows k, bool add) {
    const float ks = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        const uint64_t key = drop_row_key(k, n, C);
        for (int64_t c = 0; c < C; c++) {
            const int64_t i = n * C + c;
            const bool keep = p <= 0.0f || ft_rng_uniform(seed, stream, key + (uint64_t)c) >= p;
            if (add) {
                if (keep)
                    out[i] += in[i] * ks;
            } else
                out[i] = keep ? in[i] * ks : 0.0f;
        }
    }
}

void ft_dropout_rows_forward(float *y, const float *x, int64_t N, int64_t C, float p, uint64_t seed,
                             uint64_t stream, ft_drop_rows k) {
    dropout_rows(y, x, N, C, p, seed, stream, k, false);
}

void ft_dropout_rows_backward(float *dx, const float *dy, int64_t N, int64_t C, float p, uint64_t seed,
                              uint64_t stream, ft_drop_rows k) {
    dropout_rows(dx, dy, N, C, p, seed, stream, k, true);
}

void ft_adamw_step(float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1, float beta2,
                   float eps, float weight_decay, int64_t t) {
    ft_adamw_step_scaled(p, g, 1.0f, m, v, n, lr, beta1, beta2, eps, weight_decay, t);
}

/* The gradient is g·gscale rounded to float, then used as before: the same bits as scaling g in place
 * first (g·s only ever feeds products here, so no FMA can absorb its rounding), without that pass. */
void ft_adamw_step_scaled(float *p, const float *g, float gscale, float *m, float *v, int64_t n, float lr,
                          float beta1, float beta2, float eps, float weight_decay, int64_t t) {
    const float bc1 = 1.0f - powf(beta1, (float)t), bc2 = 1.0f - powf(beta2, (float)t);
    const float step = lr / bc1, bc2_sqrt = sqrtf(bc2);
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] * gscale;
        float pi = p[i] * (1.0f - lr * weight_decay);
        m[i] = beta1 * m[i] + (1.0f - beta1) * gi;
        v[i] = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        /* torch: p −= (lr/bc1) · m / (√v/√bc2 + eps) */
        p[i] = pi - step * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
    }
}

void ft_add_inplace(float *y, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}

double ft_sum_sq(const float *x, int64_t n) {
    double s = 0.0;
#pragma omp parallel for simd schedule(static) reduction(+ : s) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * (double)x[i];
    return s;
}

double ft_scale_sum_sq(float *x, int64_t n, float s) {
    double acc = 0.0;
#pragma omp parallel for simd schedule(static) reduction(+ : acc) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i] * s;
        x[i] = v;
        acc += (double)v * (double)v;
    }
    return acc;
}

void ft_scale_inplace(float *x, int64_t n, float s) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        x[i] *= s;
}
