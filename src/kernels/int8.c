/* int8 quantization for the int8 products (kernels.h, "int8 × int8 products"): symmetric per-row
 * quantization of weights (at load) and of activations / output gradients (each call), and the epilogue that
 * scales the int32 sums back to fp32. */
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/vecmath.h"

/* One row of n values, each times col_scale[j] first when col_scale is not NULL (the product recomputed
 * rather than stored): scale = max|v| / 127, q = v / scale rounded to nearest even in [-127, 127]; false when
 * a v is NaN or Inf. */
static bool quantize_scaled(const float *x, const float *col_scale, int64_t n, int8_t *q, float *scale) {
    float amax = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        const float v = col_scale ? x[j] * col_scale[j] : x[j];
        if (!isfinite(v))
            return false;
        amax = fmaxf(amax, fabsf(v));
    }
    *scale = amax / 127.0f;
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int64_t j = 0; j < n; j++) {
        const float r = nearbyintf((col_scale ? x[j] * col_scale[j] : x[j]) * inv);
        q[j] = (int8_t)(r > 127.0f ? 127 : r < -127.0f ? -127 : (int)r);
    }
    return true;
}

bool ft_q8_quantize_row(const float *x, int64_t n, int8_t *q, float *scale) {
    return quantize_scaled(x, NULL, n, q, scale);
}

void ft_q8_quantize_act(int8_t *q, float *scale, const float *x, const float *col_scale, int64_t rows,
                        int64_t cols) {
#pragma omp parallel for schedule(static) if (rows * cols >= FT_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int8_t *qr = q + r * cols;
        if (!quantize_scaled(x + r * cols, col_scale, cols, qr, &scale[r])) {
            for (int64_t j = 0; j < cols; j++)
                qr[j] = 0;
            scale[r] = NAN;
        }
    }
}

void ft_q8_dequant_acc(float *y, const int32_t *acc, const float *row_scale, const float *col_scale,
                       const float *bias, int64_t rows, int64_t cols, bool accumulate) {
#pragma omp parallel for schedule(static) if (rows * cols >= FT_PAR_MIN)
    for (int64_t i = 0; i < rows; i++) {
        const float rs = row_scale[i];
        float *yr = y + i * cols;
        const int32_t *ar = acc + i * cols;
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) {
            float v = (float)ar[j] * rs * (col_scale ? col_scale[j] : 1.0f) + (bias ? bias[j] : 0.0f);
            yr[j] = accumulate ? yr[j] + v : v;
        }
    }
}
