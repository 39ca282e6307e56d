/* bf16 kernels: f32↔bf16 array conversions (round to nearest even, NaN/Inf kept, agreement with the
 * scalar core helpers) and ft_matmul_bf16 against a double reference on the bf16-rounded inputs
 * (only fp32 accumulation error remains, so KC_FWD_TOL applies) and against fp32 ft_gemm on the
 * unrounded inputs with a bf16 tolerance; transposes, leading dimensions, alpha/beta, primitive
 * cache reuse and eviction, bad shapes. Runs on any CPU (the fp32 fallback covers CPUs without
 * native bf16). */
#include <stdbool.h>

#include "kernel_check.h"
#include "kernels/kernels.h"

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

FT_TEST(test_bf16_convert) {
    /* 1 + 2^-8 is a tie → even (down); 1 + 3·2^-8 is a tie → even (up); 1 + 2^-8 + 2^-20 rounds up */
    const float in[] = {1.0f, float_of(0x3F808000u), float_of(0x3F818000u), float_of(0x3F808001u), -2.5f,
                        INFINITY, -INFINITY, NAN, 3.0e38f, 0.0f, -0.0f, 1e-40f};
    const uint16_t want[] = {0x3F80, 0x3F80, 0x3F82, 0x3F81, 0xC020, 0x7F80, 0xFF80, 0, 0x7F62, 0, 0x8000, 0};
    const int n = (int)(sizeof in / sizeof *in);
    uint16_t out[12];
    float back[12];
    ft_f32_to_bf16_n(out, in, n);
    ft_bf16_to_f32_n(back, out, n);
    for (int i = 0; i < n; i++) {
        if (isnan(in[i])) {
            FT_CHECKF(isnan(back[i]), "NaN became %g", (double)back[i]);
            continue;
        }
        if (i == 8 || i == 11) /* large / subnormal: compare with the scalar helper only */
            FT_CHECKF(out[i] == ft_f32_to_bf16(in[i]), "bf16(%g) = %#x, scalar %#x", (double)in[i], out[i],
                      ft_f32_to_bf16(in[i]));
        else
            FT_CHECKF(out[i] == want[i], "bf16(%a) = %#x want %#x", (double)in[i], out[i], want[i]);
    }
    /* a large random array (goes parallel) agrees with the scalar helpers both ways */
    const int64_t m = 100000;
    float *x = kc_falloc(m), *y = kc_falloc(m);
    uint16_t *h = malloc((size_t)m * sizeof *h);
    kc_fill_normal(x, m, 400, 100.0f);
    ft_f32_to_bf16_n(h, x, m);
    ft_bf16_to_f32_n(y, h, m);
    int64_t bad = 0;
    for (int64_t i = 0; i < m; i++)
        bad += h[i] != ft_f32_to_bf16(x[i]) || bits_of(y[i]) != bits_of(ft_bf16_to_f32(h[i])) ||
               fabsf(y[i] - x[i]) > fabsf(x[i]) * 0x1p-8f;
    FT_CHECKF(bad == 0, "%lld of %lld conversions differ", (long long)bad, (long long)m);
    free(x), free(y), free(h);
}

/* One ft_matmul_bf16 call against double references; returns nothing, records failures. */
static void mm_case(ft_matmul *mm, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, float beta) {
    const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
    const int64_t na = (ta ? K : M) * lda, nb = (tb ? N : K) * ldb;
    float *A = kc_falloc(na), *B = kc_falloc(nb), *C = kc_falloc(M * ldc), *C32 = kc_falloc(M * ldc);
    float *got = kc_falloc(M * N), *got32 = kc_falloc(M * N);
    uint16_t *A16 = malloc((size_t)na * 2), *B16 = malloc((size_t)nb * 2);
    kc_fill(A, na, 410, -1.0f, 1.0f);
    kc_fill(B, nb, 411, -1.0f, 1.0f);
    kc_fill(C, M * ldc, 412, -1.0f, 1.0f);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = N; j < ldc; j++)
            C[i * ldc + j] = 777.0f;
    memcpy(C32, C, (size_t)(M * ldc) * sizeof(float));
    ft_f32_to_bf16_n(A16, A, na);
    ft_f32_to_bf16_n(B16, B, nb);
    double *want = kc_dalloc(M * N);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < K; k++)
                s += (double)ft_bf16_to_f32(ta ? A16[k * lda + i] : A16[i * lda + k]) *
                     (double)ft_bf16_to_f32(tb ? B16[j * ldb + k] : B16[k * ldb + j]);
            want[i * N + j] = (double)alpha * s + (beta != 0.0f ? (double)beta * C[i * ldc + j] : 0.0);
        }
    ft_status st = ft_matmul_bf16(mm, ta, tb, M, N, K, alpha, A16, lda, B16, ldb, beta, C, ldc);
    ft_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C32, ldc);
    char what[128];
    snprintf(what, sizeof what, "bf16 matmul ta=%d tb=%d %lldx%lldx%lld a=%g b=%g [%s]", ta, tb, (long long)M,
             (long long)N, (long long)K, (double)alpha, (double)beta, ft_matmul_backend(mm));
    FT_CHECKF(st == FT_OK, "%s: %s", what, ft_last_error());
    int untouched = 1;
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            got[i * N + j] = C[i * ldc + j];
            got32[i * N + j] = C32[i * ldc + j];
        }
        for (int64_t j = N; j < ldc; j++)
            untouched &= C[i * ldc + j] == 777.0f;
    }
    FT_CHECKF(untouched, "%s wrote past N columns", what);
    KC_CLOSE(what, got, want, M * N, KC_FWD_TOL);
    /* against fp32 on the unrounded inputs: each product carries ≤ 2·2^-9 relative error, the sum of
     * K terms ~ √K of them, so 2^-7·√K relative to √K·max|term| ⇒ 1e-2 of the output scale */
    double *w32 = kc_dalloc(M * N);
    kc_to_double(w32, got32, M * N);
    KC_CLOSE(what, got, w32, M * N, 1e-2);
    free(A), free(B), free(C), free(C32), free(got), free(got32), free(A16), free(B16), free(want), free(w32);
}

FT_TEST(test_bf16_matmul) {
    ft_matmul *mm;
    FT_CHECK(ft_matmul_create(&mm) == FT_OK);
    mm_case(mm, false, false, 17, 33, 64, 1.0f, 0.0f);
    mm_case(mm, false, true, 5, 70, 19, 1.0f, 1.0f);  /* lm-head form, accumulate */
    mm_case(mm, true, false, 40, 9, 31, 0.5f, 1.0f);   /* dW form */
    mm_case(mm, true, true, 8, 8, 8, -2.0f, 0.25f);
    mm_case(mm, false, false, 1, 1, 1, 1.0f, 0.0f);
    mm_case(mm, false, false, 17, 33, 64, 1.0f, 0.0f); /* cached primitive again */
    if (ft_bf16_native())
        FT_CHECKF(strncmp(ft_matmul_backend(mm), "fp32", 4) != 0, "native bf16 CPU but backend %s",
                  ft_matmul_backend(mm));
    else
        FT_CHECK(strncmp(ft_matmul_backend(mm), "fp32", 4) == 0);
    /* more shapes than the cache holds: eviction keeps results right */
    for (int i = 0; i < 60; i++)
        mm_case(mm, false, i % 2 == 1, 2 + i % 5, 3 + i, 4, 1.0f, 0.0f);
    mm_case(mm, false, true, 5, 70, 19, 1.0f, 1.0f);
    /* bad shapes */
    uint16_t a[16] = {0};
    float c[16];
    FT_CHECK_FAILS(ft_matmul_bf16(mm, false, false, 0, 2, 2, 1.0f, a, 2, a, 2, 0.0f, c, 2), FT_ERR_ARG, "bad bf16 shape");
    FT_CHECK_FAILS(ft_matmul_bf16(mm, false, false, 2, 2, 4, 1.0f, a, 2, a, 2, 0.0f, c, 2), FT_ERR_ARG, "bad bf16 shape");
    FT_CHECK_FAILS(ft_matmul_bf16(mm, false, true, 2, 3, 2, 1.0f, a, 2, a, 2, 0.0f, c, 2), FT_ERR_ARG, "bad bf16 shape");
    ft_matmul_free(mm);
    ft_matmul_free(NULL);
}

int main(void) {
    FT_RUN(test_bf16_convert);
    FT_RUN(test_bf16_matmul);
    FT_DONE();
}
