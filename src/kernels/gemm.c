/* GEMM through oneDNN's dnnl_sgemm (row-major, OpenMP-threaded: shares libgomp with our loops). */
#include <oneapi/dnnl/dnnl.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/vecmath.h"

void ft_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
             int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M == 0 || N == 0)
        return;
    if (K == 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void ft_linear_forward(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t in,
                       int64_t out, bool w_in_out) {
    /* Conv1D W[in,out]: y = x W; Linear W[out,in]: y = x W^T */
    ft_gemm(false, !w_in_out, N, out, in, 1.0f, x, in, w, w_in_out ? out : in, 0.0f, y, out);
    if (b) {
#pragma omp parallel for schedule(static) if (N * out >= FT_PAR_MIN)
        for (int64_t i = 0; i < N; i++) {
            float *yr = y + i * out;
            for (int64_t j = 0; j < out; j++)
                yr[j] += b[j];
        }
    }
}

void ft_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        int64_t N, int64_t in, int64_t out, bool w_in_out) {
    if (dx) /* Conv1D: dx = dy W^T (W [in,out]); Linear: dx = dy W (W [out,in]) */
        ft_gemm(false, w_in_out, N, in, out, 1.0f, dy, out, w, w_in_out ? out : in, 1.0f, dx, in);
    if (dw) {
        if (w_in_out) /* dW[in,out] += x^T dy */
            ft_gemm(true, false, in, out, N, 1.0f, x, in, dy, out, 1.0f, dw, out);
        else /* dW[out,in] += dy^T x */
            ft_gemm(true, false, out, in, N, 1.0f, dy, out, x, in, 1.0f, dw, in);
    }
    if (db) { /* column blocks of 256 walking the rows in order: each column's sum is Σ_{i=0..N−1} in that
               * order whatever the thread count, with contiguous vector loads instead of a stride-out walk */
        const int64_t nb = (out + 255) / 256;
#pragma omp parallel for schedule(static) if (N * out >= FT_PAR_MIN)
        for (int64_t cb = 0; cb < nb; cb++) {
            const int64_t j0 = cb * 256, nj = out - j0 < 256 ? out - j0 : 256;
            float s[256];
            for (int64_t j = 0; j < nj; j++)
                s[j] = 0.0f;
            for (int64_t i = 0; i < N; i++) {
                const float *dr = dy + i * out + j0;
#pragma omp simd
                for (int64_t j = 0; j < nj; j++)
                    s[j] += dr[j];
            }
            for (int64_t j = 0; j < nj; j++)
                db[j0 + j] += s[j];
        }
    }
}

/* ---- GEMM on a half-precision B, widened panel by panel ---- */

/* Columns of op(B) per panel: ≈ 32 MiB of fp32 panel (8 Mi values), a multiple of 16, at least 16. Large
 * panels because every ft_gemm call packs A [M,K] again: at 32 columns it costs more than the product; by CPU
 * time (bench/gemm_half, M 512, the 7B shapes) 256 columns reached 53–77 % of the fp32 GEMM, 1024 83–92 %,
 * 2048 92–97 %. */
int64_t ft_gemm_half_nb(int64_t K) {
    int64_t nb = ((int64_t)1 << 23) / (K > 0 ? K : 1);
    nb = nb / 16 * 16;
    return nb < 16 ? 16 : nb;
}

size_t ft_gemm_half_panel_floats(int64_t K, int64_t N) {
    const int64_t k = K > 0 ? K : 1, nb = ft_gemm_half_nb(k), n = N > 0 && N < nb ? N : nb;
    return (size_t)(n * k);
}

void ft_half_to_f32_n(float *dst, const uint16_t *src, int64_t n, bool f16) {
    if (f16) {
        for (int64_t i = 0; i < n; i++)
            dst[i] = ft_f16_to_f32(src[i]);
        return;
    }
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const uint32_t u = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &u, sizeof u);
    }
}

void ft_q8_to_f32_n(float *dst, const int8_t *src, float scale, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)src[i] * scale;
}

/* One loop for every compact B: the panel of columns n0.. of op(B) widened (half: exact; int8: q·scale of its
 * stored row), then ft_gemm on it. */
static void gemm_panels(bool trans_b, int kind, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                        int64_t lda, const void *B, const float *scale, int64_t ldb, float beta, float *C,
                        int64_t ldc, float *panel, int64_t nb) {
    if (M == 0 || N == 0)
        return;
    if (nb <= 0)
        nb = ft_gemm_half_nb(K);
    const uint16_t *B16 = B;
    const int8_t *B8 = B;
    for (int64_t n0 = 0; n0 < N; n0 += nb) { /* columns n0.. of op(B) → panel, columns n0.. of C */
        const int64_t w = N - n0 < nb ? N - n0 : nb;
        if (trans_b) { /* B [N,K]: rows n0.. of B, contiguous → panel [w,K] */
#pragma omp parallel for schedule(static) if (w * K >= FT_PAR_MIN)
            for (int64_t j = 0; j < w; j++) {
                if (kind == 2)
                    ft_q8_to_f32_n(panel + j * K, B8 + (n0 + j) * ldb, scale[n0 + j], K);
                else
                    ft_half_to_f32_n(panel + j * K, B16 + (n0 + j) * ldb, K, kind == 1);
            }
            ft_gemm(false, true, M, w, K, alpha, A, lda, panel, K, beta, C + n0, ldc);
        } else { /* B [K,N]: w values of each row k → panel [K,w] */
#pragma omp parallel for schedule(static) if (w * K >= FT_PAR_MIN)
            for (int64_t k = 0; k < K; k++) {
                if (kind == 2)
                    ft_q8_to_f32_n(panel + k * w, B8 + k * ldb + n0, scale[k], w);
                else
                    ft_half_to_f32_n(panel + k * w, B16 + k * ldb + n0, w, kind == 1);
            }
            ft_gemm(false, false, M, w, K, alpha, A, lda, panel, w, beta, C + n0, ldc);
        }
    }
}

void ft_gemm_half(bool trans_b, bool f16, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                  int64_t lda, const uint16_t *B, int64_t ldb, float beta, float *C, int64_t ldc,
                  float *panel, int64_t nb) {
    gemm_panels(trans_b, f16 ? 1 : 0, M, N, K, alpha, A, lda, B, NULL, ldb, beta, C, ldc, panel, nb);
}

void ft_gemm_q8(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                const int8_t *B, const float *scale, int64_t ldb, float beta, float *C, int64_t ldc,
                float *panel, int64_t nb) {
    gemm_panels(trans_b, 2, M, N, K, alpha, A, lda, B, scale, ldb, beta, C, ldc, panel, nb);
}
