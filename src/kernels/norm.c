/* LayerNorm and RMSNorm, forward and backward; statistics in fp32 per row. */
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/vecmath.h"

/* Row statistics use the fixed-lane sums of vecmath.h (ft_row_sum, ft_lanes_reduce): a row's bits do not
 * depend on its address (batch vs micro-batch, recomputed blocks). Columns per block of the backward's parameter-gradient sums (1 KiB of partial sums per array). */
#define COLS 256

/* Σ (x − m)² */
static inline float row_sq_dev(const float *x, float m, int64_t C) {
    float acc[FT_LANES] = {0};
    int64_t j = 0;
    for (; j + FT_LANES <= C; j += FT_LANES)
#pragma omp simd
        for (int k = 0; k < FT_LANES; k++) {
            const float d = x[j + k] - m;
            acc[k] += d * d;
        }
    float tail = 0.0f;
    for (; j < C; j++) {
        const float d = x[j] - m;
        tail += d * d;
    }
    return ft_lanes_reduce(acc, tail);
}

/* One LayerNorm row: two passes for the statistics (mean, then Σ(x−m)²: no cancellation), then y. */
static inline void ln_row(float *yr, float *mean, float *rstd, const float *xr, const float *w,
                          const float *b, int64_t C, float eps) {
    const float m = ft_row_sum(xr, C) / (float)C;
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
    float acc[FT_LANES] = {0};
    int64_t j = 0;
    for (; j + FT_LANES <= C; j += FT_LANES)
#pragma omp simd
        for (int k = 0; k < FT_LANES; k++)
            acc[k] += xr[j + k] * xr[j + k];
    float tail = 0.0f;
    for (; j < C; j++)
        tail += xr[j] * xr[j];
    const float s = 1.0f / sqrtf(ft_lanes_reduce(acc, tail) / (float)C + eps);
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
            const float m = mean[i], s = rstd[i];
            /* lane sums as in the forward */
            float ag[FT_LANES] = {0}, agx[FT_LANES] = {0}, tg = 0.0f, tgx = 0.0f;
            int64_t j = 0;
            for (; j + FT_LANES <= C; j += FT_LANES)
#pragma omp simd
                for (int k = 0; k < FT_LANES; k++) {
                    const float g = dyr[j + k] * w[j + k];
                    ag[k] += g;
                    agx[k] += g * (xr[j + k] - m) * s;
                }
            for (; j < C; j++) {
                const float g = dyr[j] * w[j];
                tg += g;
                tgx += g * (xr[j] - m) * s;
            }
            const float gmean = ft_lanes_reduce(ag, tg) / (float)C;
            const float gxmean = ft_lanes_reduce(agx, tgx) / (float)C;
            float *dxr = dx + i * C;
#pragma omp simd
            for (j = 0; j < C; j++) {
                float xh = (xr[j] - m) * s;
                dxr[j] += s * (dyr[j] * w[j] - gmean - xh * gxmean);
            }
        }
    }
    if (dw || db) { /* column blocks walking the rows in order: each column's sums in row order, as a
                     * per-column loop would, with contiguous vector loads instead of a stride-C walk */
        const int64_t nb = (C + COLS - 1) / COLS;
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
        for (int64_t cb = 0; cb < nb; cb++) {
            const int64_t j0 = cb * COLS, nj = C - j0 < COLS ? C - j0 : COLS;
            float sw[COLS], sb[COLS];
            for (int64_t j = 0; j < nj; j++)
                sw[j] = sb[j] = 0.0f;
            for (int64_t i = 0; i < N; i++) {
                const float *dr = dy + i * C + j0, *xr = x + i * C + j0;
                const float m = mean[i], s = rstd[i];
#pragma omp simd
                for (int64_t j = 0; j < nj; j++) {
                    sw[j] += dr[j] * (xr[j] - m) * s;
                    sb[j] += dr[j];
                }
            }
            for (int64_t j = 0; j < nj; j++) {
                if (dw)
                    dw[j0 + j] += sw[j];
                if (db)
                    db[j0 + j] += sb[j];
            }
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
            const float s = rstd[i];
            float acc[FT_LANES] = {0}, tail = 0.0f;
            int64_t j = 0;
            for (; j + FT_LANES <= C; j += FT_LANES)
#pragma omp simd
                for (int k = 0; k < FT_LANES; k++)
                    acc[k] += dyr[j + k] * w[j + k] * xr[j + k] * s;
            for (; j < C; j++)
                tail += dyr[j] * w[j] * xr[j] * s;
            const float gx = ft_lanes_reduce(acc, tail) / (float)C;
            float *dxr = dx + i * C;
#pragma omp simd
            for (j = 0; j < C; j++)
                dxr[j] += s * (dyr[j] * w[j] - xr[j] * s * gx);
        }
    }
    if (dw) { /* column blocks, rows in order (as in ft_layernorm_backward) */
        const int64_t nb = (C + COLS - 1) / COLS;
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
        for (int64_t cb = 0; cb < nb; cb++) {
            const int64_t j0 = cb * COLS, nj = C - j0 < COLS ? C - j0 : COLS;
            float sw[COLS];
            for (int64_t j = 0; j < nj; j++)
                sw[j] = 0.0f;
            for (int64_t i = 0; i < N; i++) {
                const float *dr = dy + i * C + j0, *xr = x + i * C + j0;
                const float s = rstd[i];
#pragma omp simd
                for (int64_t j = 0; j < nj; j++)
                    sw[j] += dr[j] * xr[j] * s;
            }
            for (int64_t j = 0; j < nj; j++)
                dw[j0 + j] += sw[j];
        }
    }
}
