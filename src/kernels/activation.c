/* Elementwise activations: GELU (tanh and erf forms), SiLU, SwiGLU, softmax. */
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/vecmath.h"

#define GELU_K 0.7978845608028654f /* √(2/π) */

/* Per-element f and f' shared by the plain and the fused kernels (one formula, the same bits). */
static inline float gelu_tanh_f(float v) {
    return 0.5f * v * (1.0f + ft_vtanhf(GELU_K * (v + 0.044715f * v * v * v)));
}

static inline float gelu_tanh_d(float v) {
    float u = GELU_K * (v + 0.044715f * v * v * v);
    float t = ft_vtanhf(u);
    float du = GELU_K * (1.0f + 3.0f * 0.044715f * v * v);
    return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du;
}

/* Φ(v) = ½(1 + erf(z)), z = v/√2, from the pieces of ft_verff (vecmath.h) with e = e^{−z²}; the left
 * tail as ½·erfc(|z|) keeps its relative accuracy where 1 + erf(z) would cancel. */
static inline float gelu_erf_cdf(float z, float e) {
    const float a = __builtin_fabsf(z), tail = 0.5f * ft_verfc_big(a, e);
    const float big = z < 0.0f ? tail : 1.0f - tail;
    return a < FT_ERF_SPLIT ? 0.5f + 0.5f * ft_verf_small(z) : big;
}

/* ±∞ and NaN give what the formulas give with libm's erff/expf: f(+∞) = +∞, f(−∞) = NaN (−∞·0),
 * f'(±∞) = NaN (∞·0), NaN → NaN; the density's e^{−z²} is exactly 0 from |z| = 9 on. */
static inline float gelu_erf_f(float v) {
    const float z = v * 0.7071067811865476f;
    return v * gelu_erf_cdf(z, ft_vexp_negsq(__builtin_fabsf(z)));
}

static inline float gelu_erf_d(float v) {
    const float z = v * 0.7071067811865476f, e = ft_vexp_negsq(__builtin_fabsf(z));
    return gelu_erf_cdf(z, e) + v * (0.3989422804014327f * e);
}

static inline float silu_f(float v) {
    return v / (1.0f + ft_vexpf_rn(-v));
}

static inline float silu_d(float v) {
    float s = 1.0f / (1.0f + ft_vexpf_rn(-v));
    return s * (1.0f + v * (1.0f - s));
}

static inline float relu_f(float v) {
    return v > 0.0f ? v : 0.0f;
}
static inline float ident_f(float v) {
    return v;
}

/* The backward's per-element term dy·f'(v). ReLU passes dy where v > 0 and gives 0 elsewhere (also for a
 * non-finite dy, as torch's threshold backward); identity passes dy. */
static inline float gelu_tanh_b(float dy, float v) {
    return dy * gelu_tanh_d(v);
}
static inline float gelu_erf_b(float dy, float v) {
    return dy * gelu_erf_d(v);
}
static inline float silu_b(float dy, float v) {
    return dy * silu_d(v);
}
static inline float relu_b(float dy, float v) {
    return v > 0.0f ? dy : 0.0f;
}
static inline float ident_b(float dy, float v) {
    return (void)v, dy;
}

/* M(stem) for the activation f, stems as above (stem_f, stem_b): one loop per activation, the switch
 * outside the vector loop. */
#define ACT_CASES(f, M)                                                                                      \
    switch (f) {                                                                                             \
    case FT_ACT_GELU_TANH: M(gelu_tanh); break;                                                              \
    case FT_ACT_GELU_ERF: M(gelu_erf); break;                                                                \
    case FT_ACT_SILU: M(silu); break;                                                                        \
    case FT_ACT_RELU: M(relu); break;                                                                        \
    case FT_ACT_IDENTITY: M(ident); break;                                                                   \
    }

void ft_gelu_tanh_forward(float *y, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] = gelu_tanh_f(x[i]);
}

void ft_gelu_tanh_backward(float *dx, const float *dy, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        dx[i] += dy[i] * gelu_tanh_d(x[i]);
}

void ft_silu_forward(float *y, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        y[i] = silu_f(x[i]);
}

void ft_silu_backward(float *dx, const float *dy, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        dx[i] += dy[i] * silu_d(x[i]);
}

void ft_act_forward(ft_act a, float *y, const float *x, int64_t n) {
    switch (a) {
    case FT_ACT_GELU_TANH: ft_gelu_tanh_forward(y, x, n); break;
    case FT_ACT_GELU_ERF: ft_gelu_erf_forward(y, x, n); break;
    case FT_ACT_SILU: ft_silu_forward(y, x, n); break;
    case FT_ACT_RELU:
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
        for (int64_t i = 0; i < n; i++)
            y[i] = relu_f(x[i]);
        break;
    case FT_ACT_IDENTITY:
        if (y != x)
            memcpy(y, x, (size_t)n * sizeof(float));
        break;
    }
}

void ft_act_backward(ft_act a, float *dx, const float *dy, const float *x, int64_t n) {
    switch (a) {
    case FT_ACT_GELU_TANH: ft_gelu_tanh_backward(dx, dy, x, n); break;
    case FT_ACT_GELU_ERF: ft_gelu_erf_backward(dx, dy, x, n); break;
    case FT_ACT_SILU: ft_silu_backward(dx, dy, x, n); break;
    case FT_ACT_RELU:
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
        for (int64_t i = 0; i < n; i++)
            dx[i] += relu_b(dy[i], x[i]);
        break;
    case FT_ACT_IDENTITY: ft_add_inplace(dx, dy, n); break;
    }
}

#define BIAS_ACT_ROWS(S)                                                                                     \
    _Pragma("omp parallel for schedule(static) if (N * C >= FT_PAR_MIN)") for (int64_t i = 0; i < N; i++) {  \
        float *pr = pre + i * C, *ar = act + i * C;                                                          \
        if (b) {                                                                                             \
            _Pragma("omp simd") for (int64_t j = 0; j < C; j++) {                                            \
                const float v = pr[j] + b[j];                                                                \
                pr[j] = v;                                                                                   \
                ar[j] = S##_f(v);                                                                            \
            }                                                                                                \
        } else {                                                                                             \
            _Pragma("omp simd") for (int64_t j = 0; j < C; j++) ar[j] = S##_f(pr[j]);                        \
        }                                                                                                    \
    }

/* Column block of the backward: ≤ 1024 columns (4 KiB of each row: a page per stream and row, and the
 * partial sums stay in L1 while the rows stream past). */
#define ACT_COLS 1024

/* Each thread takes an even, contiguous share of the columns and walks all rows in order over it, so every
 * column sum has the order of ft_linear_backward's bias loop (s = Σ_{i=0..N−1}, then db += s) whatever the
 * thread count. */
#define ACT_BWD(S)                                                                                           \
    _Pragma("omp parallel if (N * C >= FT_PAR_MIN)") {                                                       \
        const int64_t nt = omp_get_num_threads(), per = ((C + nt - 1) / nt + 15) / 16 * 16;                  \
        const int64_t c0 = omp_get_thread_num() * per, c1 = c0 + per < C ? c0 + per : C;                     \
        for (int64_t j0 = c0; j0 < c1; j0 += ACT_COLS) {                                                     \
            const int64_t w = c1 - j0 < ACT_COLS ? c1 - j0 : ACT_COLS;                                       \
            float acc[ACT_COLS];                                                                             \
            for (int64_t j = 0; j < w; j++)                                                                  \
                acc[j] = 0.0f;                                                                               \
            for (int64_t i = 0; i < N; i++) {                                                                \
                const float *dr = dact + i * C + j0, *pr = pre + i * C + j0;                                 \
                float *gr = dpre + i * C + j0;                                                               \
                _Pragma("omp simd") for (int64_t j = 0; j < w; j++) {                                        \
                    const float g = S##_b(dr[j], pr[j]);                                                     \
                    gr[j] = g;                                                                               \
                    acc[j] += g;                                                                             \
                }                                                                                            \
            }                                                                                                \
            for (int64_t j = 0; db && j < w; j++)                                                            \
                db[j0 + j] += acc[j];                                                                        \
        }                                                                                                    \
    }

/* The erf GELU's loops, compiled twice: for the build's ISA and, on x86-64, for AVX2+FMA (the same source
 * under a target attribute), picked at run time when the CPU has both and FTUNE_NO_AVX2 is unset or "0"
 * (set it to run the portable twin on any machine, as the tests do). A build for the x86-64 baseline
 * (FT_NATIVE=OFF) then still runs the erf 8 lanes wide. Where the build's ISA already has AVX-512 its own
 * code is the wider one, and the AVX2 twin is not built. */
#define GELU_ERF_FWD_LOOP                                                                                    \
    _Pragma("omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)") for (int64_t i = 0; i < n; i++)   \
        y[i] = gelu_erf_f(x[i]);
#define GELU_ERF_BWD_LOOP                                                                                    \
    _Pragma("omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)") for (int64_t i = 0; i < n; i++)   \
        dx[i] += dy[i] * gelu_erf_d(x[i]);

#if defined(__x86_64__) && !defined(__AVX512F__)
#define GELU_AVX2 __attribute__((target("avx2,fma")))
static bool gelu_use_avx2(void) {
    const char *off = getenv("FTUNE_NO_AVX2");
    if (off && *off && strcmp(off, "0") != 0)
        return false;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define GELU_AVX2
static bool gelu_use_avx2(void) {
    return false;
}
#endif

GELU_AVX2 static void gelu_erf_forward_avx2(float *y, const float *x, int64_t n){GELU_ERF_FWD_LOOP} GELU_AVX2
    static void gelu_erf_backward_avx2(float *dx, const float *dy, const float *x,
                                       int64_t n){GELU_ERF_BWD_LOOP} GELU_AVX2
    static void gelu_erf_bias_forward_avx2(float *act, float *pre, const float *b, int64_t N,
                                           int64_t C){BIAS_ACT_ROWS(gelu_erf)} GELU_AVX2
    static void gelu_erf_backward_bias_avx2(float *dpre, float *db, const float *dact, const float *pre,
                                            int64_t N, int64_t C) {
    ACT_BWD(gelu_erf)
}

void ft_gelu_erf_forward(float *y, const float *x, int64_t n) {
    if (gelu_use_avx2()) {
        gelu_erf_forward_avx2(y, x, n);
        return;
    }
    GELU_ERF_FWD_LOOP
}

void ft_gelu_erf_backward(float *dx, const float *dy, const float *x, int64_t n) {
    if (gelu_use_avx2()) {
        gelu_erf_backward_avx2(dx, dy, x, n);
        return;
    }
    GELU_ERF_BWD_LOOP
}

void ft_bias_act_forward(ft_act f, float *act, float *pre, const float *b, int64_t N, int64_t C) {
    if (f == FT_ACT_GELU_ERF && gelu_use_avx2()) {
        gelu_erf_bias_forward_avx2(act, pre, b, N, C);
        return;
    }
    ACT_CASES(f, BIAS_ACT_ROWS)
}

void ft_act_backward_bias(ft_act f, float *dpre, float *db, const float *dact, const float *pre, int64_t N,
                          int64_t C) {
    if (f == FT_ACT_GELU_ERF && gelu_use_avx2()) {
        gelu_erf_backward_bias_avx2(dpre, db, dact, pre, N, C);
        return;
    }
    ACT_CASES(f, ACT_BWD)
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
