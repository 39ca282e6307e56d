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

/* Row r of L (length V) → its loss term (returned) and, in place, (softmax − onehot)·scale. Its bits
 * depend only on the row's values: not on its address, on N or on the chunk it lands in. */
double ft_ce_row(float *lr, int32_t target, int64_t V, float scale) {
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < V; j++)
        mx = lr[j] > mx ? lr[j] : mx;
    const float lt = lr[target];
#pragma omp simd
    for (int64_t j = 0; j < V; j++) /* elementwise, vectorized: no reduction here */
        lr[j] = ft_vexpf_rn(lr[j] - mx);
    /* fixed-lane sum: the same bits whatever the row's address (≤ V terms in (0, 1]: float partial sums
     * are exact enough) */
    const float sum = ft_row_sum(lr, V);
    const float inv = scale / sum;
#pragma omp simd
    for (int64_t j = 0; j < V; j++)
        lr[j] *= inv;
    lr[target] -= scale;
    // cppcheck-suppress invalidFunctionArg ; sum ≥ 1 (the max term is exp(0))
    return log((double)sum) + (double)mx - (double)lt;
}

/* Logits of one chunk → its summed loss; the chunk becomes dL (rows without a target: zeros). */
static double chunk_ce(float *work, const int32_t *tg, int64_t rows, int64_t V, float scale) {
    double part = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : part) if (rows * V >= FT_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        float *lr = work + r * V;
        if (tg[r] < 0)
            memset(lr, 0, (size_t)V * sizeof(float));
        else
            part += ft_ce_row(lr, tg[r], V, scale);
    }
    return part;
}

/* One pass for both precisions: mm == NULL → fp32 W; otherwise W16 with the rows and dL rounded to bf16
 * (handle scratch slots 0 and 2), products accumulated in fp32. */
/* Wh (mm NULL, W NULL): W in its file dtype (bf16, or f16 when f16), widened panel by panel into panel. */
typedef struct {
    const uint16_t *Wh;
    bool f16;
    float *panel;
} half_w;

static ft_status lmhead_ce(ft_matmul *mm, const float *h, const float *W, const uint16_t *W16,
                           const half_w *hw, const int32_t *targets, int64_t N, int64_t C, int64_t V,
                           float scale, float *dh, float *dW, double *loss_sum, int64_t *count,
                           float *logits_out, float *work, int64_t chunk) {
    double total = 0.0;
    int64_t cnt = 0;
    if (chunk <= 0 || chunk > N)
        chunk = N;
    uint16_t *h16 = NULL, *d16 = NULL;
    if (mm && (!(h16 = ft_matmul_scratch(mm, 0, (size_t)(chunk * C))) ||
               !(d16 = ft_matmul_scratch(mm, 2, (size_t)(chunk * V)))))
        return FT_ERR_NOMEM;
    for (int64_t r0 = 0; r0 < N; r0 += chunk) {
        const int64_t rows = r0 + chunk < N ? chunk : N - r0;
        const int32_t *tg = targets + r0;
        int64_t kept = 0;
        for (int64_t r = 0; r < rows; r++)
            kept += tg[r] >= 0;
        if (kept == 0 && !logits_out)
            continue; /* nothing to learn from and nobody wants the logits */
        /* L[rows, V] = h[r0:r0+rows] · Wᵀ */
        if (mm) {
            ft_f32_to_bf16_n(h16, h + r0 * C, rows * C);
            FT_TRY(ft_matmul_bf16(mm, false, true, rows, V, C, 1.0f, h16, C, W16, C, 0.0f, work, V));
        } else if (hw) {
            ft_gemm_half(true, hw->f16, rows, V, C, 1.0f, h + r0 * C, C, hw->Wh, C, 0.0f, work, V, hw->panel,
                         0);
        } else {
            ft_gemm(false, true, rows, V, C, 1.0f, h + r0 * C, C, W, C, 0.0f, work, V);
        }
        if (logits_out)
            memcpy(logits_out + r0 * V, work, (size_t)(rows * V) * sizeof(float));
        if (kept == 0)
            continue;
        total += chunk_ce(work, tg, rows, V, scale);
        cnt += kept;
        if (mm) {
            if (!dh && !dW)
                continue;
            ft_f32_to_bf16_n(d16, work, rows * V);
            if (dh) /* dh[rows, C] += dL · W */
                FT_TRY(ft_matmul_bf16(mm, false, false, rows, C, V, 1.0f, d16, V, W16, C, 1.0f, dh + r0 * C, C));
            if (dW) /* dW[V, C] += dLᵀ · h */
                FT_TRY(ft_matmul_bf16(mm, true, false, V, C, rows, 1.0f, d16, V, h16, C, 1.0f, dW, C));
        } else if (hw) { /* a weight in its file dtype is frozen: no dW */
            if (dh)
                ft_gemm_half(false, hw->f16, rows, C, V, 1.0f, work, V, hw->Wh, C, 1.0f, dh + r0 * C, C,
                             hw->panel, 0);
        } else {
            if (dh)
                ft_gemm(false, false, rows, C, V, 1.0f, work, V, W, C, 1.0f, dh + r0 * C, C);
            if (dW)
                ft_gemm(true, false, V, C, rows, 1.0f, work, V, h + r0 * C, C, 1.0f, dW, C);
        }
    }
    if (loss_sum)
        *loss_sum = total;
    if (count)
        *count = cnt;
    return FT_OK;
}

void ft_lmhead_ce_forward_backward(const float *h, const float *W, const int32_t *targets, int64_t N, int64_t C,
                                   int64_t V, float scale, float *dh, float *dW, double *loss_sum, int64_t *count,
                                   float *logits_out, float *work, int64_t chunk) {
    (void)lmhead_ce(NULL, h, W, NULL, NULL, targets, N, C, V, scale, dh, dW, loss_sum, count, logits_out,
                    work, chunk);
}

ft_status ft_lmhead_ce_forward_backward_bf16(ft_matmul *mm, const float *h, const uint16_t *W16,
                                             const int32_t *targets, int64_t N, int64_t C, int64_t V, float scale,
                                             float *dh, float *dW, double *loss_sum, int64_t *count,
                                             float *logits_out, float *work, int64_t chunk) {
    return lmhead_ce(mm, h, NULL, W16, NULL, targets, N, C, V, scale, dh, dW, loss_sum, count, logits_out,
                     work, chunk);
}

size_t ft_lmhead_ce_half_panel_floats(int64_t C, int64_t V) {
    const size_t a = ft_gemm_half_panel_floats(C, V), b = ft_gemm_half_panel_floats(V, C);
    return a > b ? a : b;
}

void ft_lmhead_ce_forward_backward_half(const float *h, const uint16_t *Wh, bool f16, const int32_t *targets,
                                        int64_t N, int64_t C, int64_t V, float scale, float *dh,
                                        double *loss_sum, int64_t *count, float *logits_out, float *work,
                                        int64_t chunk, float *panel) {
    const half_w hw = {Wh, f16, panel};
    (void)lmhead_ce(NULL, h, NULL, NULL, &hw, targets, N, C, V, scale, dh, NULL, loss_sum, count, logits_out,
                    work, chunk);
}
