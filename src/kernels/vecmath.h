/* Internal to src/kernels: branch-free float math that GCC vectorizes inside `omp simd` loops
 * (libm's expf/tanhf are scalar calls and cost ~10% of a GPT-2 training step). */
#ifndef FT_KERNELS_VECMATH_H
#define FT_KERNELS_VECMATH_H

#include <stdint.h>
#include <string.h>

/* Below this many elements an elementwise loop runs on one thread: a parallel region costs
 * ~1–5 µs of fork/join, about the time of 16K simple float ops on one core. */
#define FT_PAR_MIN 16384

/* e^x = 2^n · e^r for x already clamped to [−87.3, 88.7] and n ≈ x·log2 e an integer (as a float):
 * r = x − n·ln2 (ln2 split in two for an exact first product), e^r by a degree-6 Taylor polynomial,
 * 2^n from the exponent bits. */
static inline float ft_vexp_scaled(float x, float n) {
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float ft_vexp_clamp(float x) { return x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x); }

/* e^x with ≤ 2 ulp error for x in [−87.3, 88.7] (clamped outside: exp(−∞) gives ~1e−38, not 0),
 * n = floor(x·log2 e + ½). */
static inline float ft_vexpf(float x) {
    x = ft_vexp_clamp(x);
    return ft_vexp_scaled(x, __builtin_floorf(x * 1.44269504088896341f + 0.5f));
}

/* ft_vexpf with n = round(x·log2 e) by the 1.5·2^23 trick (exact for |x·log2 e| < 2^22) instead of
 * floorf: GCC 12 vectorizes floorf only with -fno-trapping-math, so loops calling ft_vexpf stay
 * scalar. Used by the elementwise kernels and the attention tiles, whose rows sit at fixed 64-byte-
 * aligned strides (a vector reduction's order then does not depend on the address). Same accuracy. */
static inline float ft_vexpf_rn(float x) {
    x = ft_vexp_clamp(x);
    return ft_vexp_scaled(x, (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f);
}

/* tanh(u) = 1 − 2/(e^{2u} + 1): absolute error ~1e−7, exact ±1 in the tails; vectorizes (elementwise
 * kernels only: no reduction, so the bits do not depend on alignment). */
static inline float ft_vtanhf(float u) { return 1.0f - 2.0f / (ft_vexpf_rn(2.0f * u) + 1.0f); }

/* erf in two pieces, branch-free so that `omp simd` loops vectorize (libm's erff is a scalar call: ~9 %
 * of a bert-base step). Coefficients fitted for ftune in double precision by Lawson's iteratively
 * reweighted least squares (a minimax fit) and rounded to float:
 *  - |x| < FT_ERF_SPLIT: erf(x) = x + x·P(x²), P of degree 5, relative error of 1 + P 1.6e-8 (the
 *    exact leading x keeps the rounding of P's evaluation small);
 *  - a = |x| ≥ FT_ERF_SPLIT: erfc(a) = e^{−a²}·t·Q(t) with t = 1/(1 + 0.46875·a), Q of degree 7 fitted to
 *    e^{a²}·erfc(a) on [0.921875, 9] (relative error 2.7e-9); erfc is taken as 0 from a = 9 on (erfc(9)
 *    = 4e-37), so e^{−a²} is never clamped nor subnormal.
 * Evaluated in float, erf is within 1.05e-7 of the exact value (every float in [1e-7, 10] checked once,
 * with and without FMA; tests/test_kernels.c checks 2e-7 on a dense grid), erfc(a) within 4.3e-6 relative
 * on [0.92, 9) (the rounding of a² inside e^{−a²}). NaN stays NaN, erf(±∞) = ±1. */
#define FT_ERF_SPLIT 0.921875f

/* x + x·P(x²) for |x| < FT_ERF_SPLIT. */
static inline float ft_verf_small(float x) {
    const float s = x * x;
    float p = -5.990846548e-04f;
    p = p * s + 4.993178882e-03f;
    p = p * s + -2.676661499e-02f;
    p = p * s + 1.128181592e-01f;
    p = p * s + -3.761249483e-01f;
    p = p * s + 1.283791512e-01f;
    return x + x * p;
}

/* e^{−a²} for a = |x| < 9, else 0 (also for a = ∞; NaN gives 0 here and NaN in ft_verfc_big through t). */
static inline float ft_vexp_negsq(float a) {
    return a < 9.0f ? ft_vexpf_rn(-(a * a)) : 0.0f;
}

/* erfc(a) for a ≥ FT_ERF_SPLIT given e = ft_vexp_negsq(a). */
static inline float ft_verfc_big(float a, float e) {
    const float t = 1.0f / (1.0f + 0.46875f * a);
    float q = 9.080896527e-02f;
    q = q * t + -2.830902338e-01f;
    q = q * t + 2.206118405e-01f;
    q = q * t + 8.419439197e-03f;
    q = q * t + 2.031034231e-01f;
    q = q * t + 2.309710979e-01f;
    q = q * t + 2.648901641e-01f;
    q = q * t + 2.644463480e-01f;
    return e * (t * q);
}

static inline float ft_verff(float x) {
    const float a = __builtin_fabsf(x);
    const float big = __builtin_copysignf(1.0f - ft_verfc_big(a, ft_vexp_negsq(a)), x);
    return a < FT_ERF_SPLIT ? ft_verf_small(x) : big;
}

/* Σ x[0..n) in FT_LANES fixed lanes (lane k takes j ≡ k mod FT_LANES), the tail after them, then a fixed
 * tree: vectorizes, and the order is set here, not by the compiler's alignment peeling, so a row's bits
 * depend only on its values, never on its address (batch vs micro-batch, recomputed blocks). */
#define FT_LANES 16

static inline float ft_lanes_reduce(float *acc, float tail) {
    for (int w = FT_LANES / 2; w >= 1; w /= 2)
        for (int k = 0; k < w; k++)
            acc[k] += acc[k + w];
    return acc[0] + tail;
}

static inline float ft_row_sum(const float *x, int64_t n) {
    float acc[FT_LANES] = {0};
    int64_t j = 0;
    for (; j + FT_LANES <= n; j += FT_LANES)
#pragma omp simd
        for (int k = 0; k < FT_LANES; k++)
            acc[k] += x[j + k];
    float tail = 0.0f;
    for (; j < n; j++)
        tail += x[j];
    return ft_lanes_reduce(acc, tail);
}

#endif
