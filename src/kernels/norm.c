/* LayerNorm and RMSNorm, forward and backward; statistics in fp32 per row. */
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/vecmath.h"

void ft_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                          int64_t N, int64_t C, float eps) {
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
    for (int64_t i = 0; i < N; i++) {
        const float *xr = x + i * C;
        float *yr = y + i * C;
        float m = 0.0f;
        for (int64_t j = 0; j < C; j++)
            m += xr[j];
        m /= (float)C;
        float v = 0.0f;
        for (int64_t j = 0; j < C; j++) {
            float d = xr[j] - m;
            v += d * d;
        }
        v /= (float)C;
        float s = 1.0f / sqrtf(v + eps);
        for (int64_t j = 0; j < C; j++)
            yr[j] = (xr[j] - m) * s * w[j] + (b ? b[j] : 0.0f);
        mean[i] = m;
        rstd[i] = s;
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
    for (int64_t i = 0; i < N; i++) {
        const float *xr = x + i * C;
        float *yr = y + i * C;
        float ss = 0.0f;
        for (int64_t j = 0; j < C; j++)
            ss += xr[j] * xr[j];
        float s = 1.0f / sqrtf(ss / (float)C + eps);
        for (int64_t j = 0; j < C; j++)
            yr[j] = w[j] * (xr[j] * s);
        rstd[i] = s;
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
