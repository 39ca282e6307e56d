/* Elementwise activations: GELU (tanh and erf forms), SiLU, SwiGLU, softmax. */
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/vecmath.h"

#define GELU_K 0.7978845608028654f /* √(2/π) */

void ft_gelu_tanh_forward(float *y, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + ft_vtanhf(GELU_K * (v + 0.044715f * v * v * v)));
    }
}

void ft_gelu_tanh_backward(float *dx, const float *dy, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float u = GELU_K * (v + 0.044715f * v * v * v);
        float t = ft_vtanhf(u);
        float du = GELU_K * (1.0f + 3.0f * 0.044715f * v * v);
        dx[i] += dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
    }
}

void ft_gelu_erf_forward(float *y, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.7071067811865476f));
}

void ft_gelu_erf_backward(float *dx, const float *dy, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erff(v * 0.7071067811865476f));
        float pdf = 0.3989422804014327f * expf(-0.5f * v * v);
        dx[i] += dy[i] * (cdf + v * pdf);
    }
}

void ft_silu_forward(float *y, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] / (1.0f + ft_vexpf_rn(-x[i]));
}

void ft_silu_backward(float *dx, const float *dy, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + ft_vexpf_rn(-x[i]));
        dx[i] += dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

void ft_swiglu_forward(float *h, const float *gate, const float *up, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        h[i] = gate[i] / (1.0f + ft_vexpf_rn(-gate[i])) * up[i];
}

void ft_swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        float s = 1.0f / (1.0f + ft_vexpf_rn(-g));
        if (dup)
            dup[i] += dh[i] * g * s;
        if (dgate)
            dgate[i] += dh[i] * up[i] * s * (1.0f + g * (1.0f - s));
    }
}

void ft_softmax_forward(float *y, const float *x, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
    for (int64_t i = 0; i < N; i++) {
        const float *xr = x + i * C;
        float *yr = y + i * C;
        float mx = -INFINITY;
        for (int64_t j = 0; j < C; j++)
            mx = xr[j] > mx ? xr[j] : mx;
        float s = 0.0f;
        for (int64_t j = 0; j < C; j++) {
            yr[j] = expf(xr[j] - mx);
            s += yr[j];
        }
        float inv = 1.0f / s;
        for (int64_t j = 0; j < C; j++)
            yr[j] *= inv;
    }
}

void ft_softmax_backward(float *dx, const float *dy, const float *y, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)
    for (int64_t i = 0; i < N; i++) {
        const float *dyr = dy + i * C, *yr = y + i * C;
        float dot = 0.0f;
        for (int64_t j = 0; j < C; j++)
            dot += dyr[j] * yr[j];
        float *dxr = dx + i * C;
        for (int64_t j = 0; j < C; j++)
            dxr[j] += yr[j] * (dyr[j] - dot);
    }
}
