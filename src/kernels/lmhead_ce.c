/* Fused LM head + cross-entropy, chunked over rows: for each chunk of rows the logits
 * L = h·Wᵀ live only in a [chunk, V] workspace, are turned into (softmax − onehot)·scale in place,
 * and are consumed right away by dh += dL·W and dW += dLᵀ·h. One exp per logit (vectorized),
 * no [N, V] buffer, no second pass over the logits. */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/vecmath.h"

int64_t ft_ce_count(const int32_t *targets, int64_t N) {
    int64_t c = 0;
    for (int64_t i = 0; i < N; i++)
        c += targets[i] >= 0;
    return c;
}

size_t ft_lmhead_ce_work_floats(int64_t chunk, int64_t V) { return (size_t)chunk * (size_t)V; }

/* Row r of L (length V) → its loss term (returned) and, in place, (softmax − onehot)·scale. */
static double ce_row(float *lr, int32_t target, int64_t V, float scale) {
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < V; j++)
        mx = lr[j] > mx ? lr[j] : mx;
    const float lt = lr[target];
    float sum = 0.0f; /* ≤ V terms in (0, 1]: float partial sums per SIMD lane are exact enough */
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < V; j++) {
        const float e = ft_vexpf(lr[j] - mx);
        lr[j] = e;
        sum += e;
    }
    const float inv = scale / sum;
#pragma omp simd
    for (int64_t j = 0; j < V; j++)
        lr[j] *= inv;
    lr[target] -= scale;
    // cppcheck-suppress invalidFunctionArg ; sum ≥ 1 (the max term is exp(0))
    return log((double)sum) + (double)mx - (double)lt;
}

void ft_lmhead_ce_forward_backward(const float *h, const float *W, const int32_t *targets, int64_t N, int64_t C,
                                   int64_t V, float scale, float *dh, float *dW, double *loss_sum, int64_t *count,
                                   float *logits_out, float *work, int64_t chunk) {
    double total = 0.0;
    int64_t cnt = 0;
    if (chunk <= 0 || chunk > N)
        chunk = N;
    for (int64_t r0 = 0; r0 < N; r0 += chunk) {
        const int64_t rows = r0 + chunk < N ? chunk : N - r0;
        const int32_t *tg = targets + r0;
        int64_t kept = 0;
        for (int64_t r = 0; r < rows; r++)
            kept += tg[r] >= 0;
        if (kept == 0 && !logits_out)
            continue; /* nothing to learn from and nobody wants the logits */
        /* L[rows, V] = h[r0:r0+rows] · Wᵀ */
        ft_gemm(false, true, rows, V, C, 1.0f, h + r0 * C, C, W, C, 0.0f, work, V);
        if (logits_out)
            memcpy(logits_out + r0 * V, work, (size_t)(rows * V) * sizeof(float));
        if (kept == 0)
            continue;
        double part = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : part) if (rows * V >= FT_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            float *lr = work + r * V;
            if (tg[r] < 0)
                memset(lr, 0, (size_t)V * sizeof(float));
            else
                part += ce_row(lr, tg[r], V, scale);
        }
        total += part;
        cnt += kept;
        if (dh) /* dh[rows, C] += dL · W */
            ft_gemm(false, false, rows, C, V, 1.0f, work, V, W, C, 1.0f, dh + r0 * C, C);
        if (dW) /* dW[V, C] += dLᵀ · h */
            ft_gemm(true, false, V, C, rows, 1.0f, work, V, h + r0 * C, C, 1.0f, dW, C);
    }
    if (loss_sum)
        *loss_sum = total;
    if (count)
        *count = cnt;
}
