/* LayerNorm and RMSNorm, forward and backward; statistics in fp32 per row. */
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/vecmath.h"

/* Row sums in 16 fixed lanes (lane k takes j ≡ k mod 16, the tail after them, then a fixed tree):
 * vectorizes, and the order is set here, not by the compiler's alignment peeling, so a row's bits do
 * not depend on its address (batch vs micro-batch, recomputed blocks). */
#define LANES 16

static inline float lanes_reduce(float *acc, float tail) {
    for (int w = LANES / 2; w >= 1; w /= 2)
        for (int k = 0; k < w; k++)
            acc[k] += acc[k + w];
    return acc[0] + tail;
}

static inline float row_sum(const float *x, int64_t C) {
    float acc[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= C; j += LANES)
#pragma omp simd
        for (int k = 0; k < LANES; k++)
            acc[k] += x[j + k];
    float tail = 0.0f;
    for (; j < C; j++)
        tail += x[j];
    return lanes_reduce(acc, tail);
}

/* Σ (x − m)² */
static inline float row_sq_dev(const float *x, float m, int64_t C) {
    float acc[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= C; j += LANES)
#pragma omp simd
        for (int k = 0; k < LANES; k++) {
            const float d = x[j + k] - m;
            acc[k] += d * d;
        }
    float tail = 0.0f;
    for (; j < C; j++) {
        const float d = x[j] - m;
        tail += d * d;
    }
    return lanes_reduce(acc, tail);
}

/* One LayerNorm row: two passes for the statistics (mean, then Σ(x−m)²: no cancellation), then y. */
static inline void ln_row(float *yr, float *mean, float *rstd, const float *xr, const float *w,
                          const float *b, int64_t C, float eps) {
    const float m = row_sum(xr, C) / (float)C;
    const float s = 1.0f / sqrtf(row_sq_dev(xr, m, C) / (float)C + eps);
    if (b) {
#pragma omp simd
        for (int64_t j = 0; j < C; j++)
            yr[j] = (xr[j] - m) * s * w[j] + b[j];
    } else {
#pragma omp simd
        for (int64_t j = 0; j < C; j++)
            yr[j] = (xr[j] - m) * s * w[j];
    }
    *mean = m;
    *rstd = s;
}

static inline void rms_row(float *yr, float *rstd, const float *xr, const float *w, int64_t C, float eps) {
    float acc[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= C; j += LANES)
#pragma omp simd
        for (int k = 0; k < LANES; k++)
            acc[k] += xr[j + k] * xr[j + k];
    float tail = 0.0f;
    for (; j < C; j++)
        tail += xr[j] * xr[j];
    const float s = 1.0f / sqrtf(lanes_reduce(acc, tail) / (float)C + eps);
#pragma omp simd
    for (j = 0; j < C; j++)
        yr[j] = w[j] * (xr[j] * s);
    *rstd = s;
}

void ft_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                          int64_t N, int64_t C, float eps) {
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
    for (int64_t i = 0; i < N; i++)
        ln_row(y + i * C, mean + i, rstd + i, x + i * C, w, b, C, eps);
}

void ft_residual_layernorm_forward(float *xo, float *y, float *mean, float *rstd, const float *x,
                                   const float *r, const float *w, const float *b, int64_t N, int64_t C,
                                   float eps) {
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
    for (int64_t i = 0; i < N; i++) {
        float *xo_r = xo + i * C;
        const float *xr = x + i * C, *rr = r + i * C;
#pragma omp simd
        for (int64_t j = 0; j < C; j++)
            xo_r[j] = xr[j] + rr[j];
        ln_row(y + i * C, mean + i, rstd + i, xo_r, w, b, C, eps);
    }
}

/* dx = rstd * (g − mean(g) − x̂·mean(g·x̂)), g = dy⊙w; dw += Σ dy⊙x̂; db += Σ dy */
void ft_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                           const float *mean, const float *rstd, int64_t N, int64_t C) {
    if (dx) {
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
        for (int64_t i = 0; i < N; i++) {
            const float *dyr = dy + i * C, *xr = x + i * C;
            float m = mean[i], s = rstd[i];
            float gmean = 0.0f, gxmean = 0.0f;
            for (int64_t j = 0; j < C; j++) {
                float g = dyr[j] * w[j];
                gmean += g;
                gxmean += g * (xr[j] - m) * s;
            }
            gmean /= (float)C;
            gxmean /= (float)C;
            float *dxr = dx + i * C;
            for (int64_t j = 0; j < C; j++) {
                float xh = (xr[j] - m) * s;
                dxr[j] += s * (dyr[j] * w[j] - gmean - xh * gxmean);
            }
        }
    }
    if (dw || db) {
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
        for (int64_t j = 0; j < C; j++) {
            float sw = 0.0f, sb = 0.0f;
            for (int64_t i = 0; i < N; i++) {
                float d = dy[i * C + j];
                sw += d * (x[i * C + j] - mean[i]) * rstd[i];
                sb += d;
            }
            if (dw)
                dw[j] += sw;
            if (db)
                db[j] += sb;
        }
    }
}

void ft_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int64_t N, int64_t C, float eps) {
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
    for (int64_t i = 0; i < N; i++)
        rms_row(y + i * C, rstd + i, x + i * C, w, C, eps);
}

void ft_residual_rmsnorm_forward(float *xo, float *y, float *rstd, const float *x, const float *r,
                                 const float *w, int64_t N, int64_t C, float eps) {
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
    for (int64_t i = 0; i < N; i++) {
        float *xo_r = xo + i * C;
        const float *xr = x + i * C, *rr = r + i * C;
#pragma omp simd
        for (int64_t j = 0; j < C; j++)
            xo_r[j] = xr[j] + rr[j];
        rms_row(y + i * C, rstd + i, xo_r, w, C, eps);
    }
}

/* dx = s·(g − x̂·mean(g·x̂)), g = dy⊙w, x̂ = x·s; dw += Σ dy⊙x̂ */
void ft_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, const float *rstd,
                         int64_t N, int64_t C) {
    if (dx) {
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
        for (int64_t i = 0; i < N; i++) {
            const float *dyr = dy + i * C, *xr = x + i * C;
            float s = rstd[i], gx = 0.0f;
            for (int64_t j = 0; j < C; j++)
                gx += dyr[j] * w[j] * xr[j] * s;
            gx /= (float)C;
            float *dxr = dx + i * C;
            for (int64_t j = 0; j < C; j++)
                dxr[j] += s * (dyr[j] * w[j] - xr[j] * s * gx);
        }
    }
    if (dw) {
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
        for (int64_t j = 0; j < C; j++) {
            float sw = 0.0f;
            for (int64_t i = 0; i < N; i++)
                sw += dy[i * C + j] * x[i * C + j] * rstd[i];
            dw[j] += sw;
        }
    }
}
