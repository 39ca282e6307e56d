/* The exact (erf) GELU: the vectorized erf under it (kernels/vecmath.h: ft_verff and its pieces) against
 * double-precision erf/erfc, and ft_gelu_erf_forward / ft_gelu_erf_backward on both code paths (the AVX2+FMA
 * twin picked at run time, and the portable one that FTUNE_NO_AVX2=1 selects) against
 *  - the double-precision GELU x·Φ(x) = 0.5x(1 + erf(x/√2)) and its derivative Φ(x) + x·φ(x) on a dense grid
 * over [−14, 14] plus ±0, tiny, large and huge values: absolute error ≤ GELU_TOL·|x| (the erf is good to
 *    ~1e-7, the product adds half an ulp), and, in the left tail where the GELU is tiny, relative error ≤
 *    TAIL_TOL (1 + erf(x/√2) would cancel there; the kernel takes ½·erfc);
 *  - central finite differences of the double GELU (the backward);
 *  - the scalar libm formulas the kernels replaced (erff, expf in float): the same within GELU_TOL, and
 *    the same ±∞/NaN results (f(+∞) = +∞, f(−∞) = NaN, f'(±∞) = NaN, NaN → NaN).
 * The fused bias+GELU kernels on both paths are in test_kernels_fused.c. */
#include <float.h>
#include <omp.h>
#include <stdbool.h>

#include "kernel_check.h"
#include "kernels/kernels.h"
#include "kernels/vecmath.h"

#define ERF_TOL 2e-7  /* |erf − exact| for every x */
#define GELU_TOL 3e-7 /* |f − exact| ≤ GELU_TOL·max(|x|, 1e-30); f' likewise with max(|x|, 1) */
#define TAIL_TOL                                                                                             \
    2e-5 /* relative, left tail x ∈ [−12.7, −1.31]: ≈ 2z²·2^-24 from the rounding of z = x/√2 and z² */
#define ERFC_TOL 1e-5 /* relative, erfc on [0.921875, 9) */

/* Φ(x) = ½(1 + erf(x/√2)) as ½·erfc(−x/√2): the same in exact arithmetic, no cancellation in double. */
static double ref_cdf(double x) {
    return 0.5 * erfc(-x / sqrt(2.0));
}
static double ref_f(double x) {
    return x * ref_cdf(x);
}
static double ref_d(double x) {
    return ref_cdf(x) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
}

/* The scalar formulas of the kernels before vectorization (libm erff/expf in float). */
static float libm_f(float v) {
    return 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));
}
static float libm_d(float v) {
    return 0.5f * (1.0f + erff(v * 0.7071067811865476f)) + v * (0.3989422804014327f * expf(-0.5f * v * v));
}

/* The grid: [−14, 14] in steps of 2^-10 (28673 points: above FT_PAR_MIN, so the threaded path), then the
 * special values. */
static const float SPECIAL[] = {0.0f,    -0.0f,    1e-30f,  -1e-30f,  1e-6f, -1e-6f, 0.921875f, -0.921875f,
                                1.3f,    -1.3f,    10.0f,   -10.0f,   40.0f, -40.0f, 1e30f,     -1e30f,
                                FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN, 12.7f, -12.7f, 13.0f,     -13.0f};
#define N_SPECIAL (int64_t)(sizeof SPECIAL / sizeof SPECIAL[0])
#define N_GRID (28 * 1024 + 1)

static float *grid(int64_t *n) {
    *n = N_GRID + N_SPECIAL;
    float *x = kc_falloc(*n);
    for (int64_t i = 0; i < N_GRID; i++)
        x[i] = -14.0f + (float)i / 1024.0f;
    memcpy(x + N_GRID, SPECIAL, sizeof SPECIAL);
    return x;
}

static void set_path(bool portable) {
    if (portable)
        setenv("FTUNE_NO_AVX2", "1", 1);
    else
        unsetenv("FTUNE_NO_AVX2");
}
static const char *path_name(bool portable) {
    return portable ? "portable" : "avx2 (if the CPU has it)";
}

/* NaN where the libm formula gives NaN, the same infinity where it gives one. */
static bool same_special(float got, float want) {
    return isnan(want) ? isnan(got) : got == want;
}

FT_TEST(erf_matches_double_erf) {
    double worst = 0.0, worst_rel = 0.0, worst_erfc = 0.0;
    float wx = 0.0f, wrx = 0.0f, wcx = 0.0f;
    /* every 7th float from 1e-7 to 12 (≈ 1.4e8 / 7), both signs, then the specials */
    uint32_t lo, hi;
    const float flo = 1e-7f, fhi = 12.0f;
    memcpy(&lo, &flo, 4);
    memcpy(&hi, &fhi, 4);
    for (uint32_t b = lo; b <= hi; b += 7)
        for (int s = 0; s < 2; s++) {
            float x;
            memcpy(&x, &b, 4);
            x = s ? -x : x;
            const double want = erf((double)x), e = fabs((double)ft_verff(x) - want);
            if (!(e <= worst)) /* NaN too */
                worst = e, wx = x;
            if (fabsf(x) < FT_ERF_SPLIT && !(e / fabs(want) <= worst_rel))
                worst_rel = e / fabs(want), wrx = x;
            const float a = fabsf(x);
            if (a >= FT_ERF_SPLIT && a < 9.0f) {
                const double c = erfc((double)a),
                             ec = fabs((double)ft_verfc_big(a, ft_vexp_negsq(a)) - c) / c;
                if (!(ec <= worst_erfc))
                    worst_erfc = ec, wcx = a;
            }
        }
    if (getenv("FT_KC_VERBOSE"))
        fprintf(stderr,
                "  erf: max abs %.3g at %.9g, rel (|x| < split) %.3g at %.9g, erfc rel %.3g at %.9g\n", worst,
                (double)wx, worst_rel, (double)wrx, worst_erfc, (double)wcx);
    FT_CHECKF(worst <= ERF_TOL, "erf max abs error %.3g at x = %.9g > %g", worst, (double)wx, ERF_TOL);
    FT_CHECKF(worst_rel <= ERF_TOL, "erf max relative error below the split %.3g at x = %.9g", worst_rel,
              (double)wrx);
    FT_CHECKF(worst_erfc <= ERFC_TOL, "erfc max relative error %.3g at a = %.9g > %g", worst_erfc,
              (double)wcx, ERFC_TOL);
    /* signed zeros, tiny values relative to themselves, saturation, non-finite */
    FT_CHECK(ft_verff(0.0f) == 0.0f && !signbit(ft_verff(0.0f)));
    FT_CHECK(ft_verff(-0.0f) == 0.0f && signbit(ft_verff(-0.0f)));
    FT_CHECK(fabs(ft_verff(1e-30f) - erf(1e-30)) <= 2e-7 * erf(1e-30));
    FT_CHECK(fabs(ft_verff(-FLT_MIN) - erf(-(double)FLT_MIN)) <= 2e-7 * erf((double)FLT_MIN));
    FT_CHECK(ft_verff(9.0f) == 1.0f && ft_verff(-40.0f) == -1.0f && ft_verff(FLT_MAX) == 1.0f);
    FT_CHECK(ft_verff(INFINITY) == 1.0f && ft_verff(-INFINITY) == -1.0f && isnan(ft_verff(NAN)));
}

static void forward_case(bool portable) {
    set_path(portable);
    int64_t n;
    float *x = grid(&n), *y = kc_falloc(n);
    ft_gelu_erf_forward(y, x, n);
    double worst = 0.0, worst_tail = 0.0, worst_libm = 0.0;
    int64_t wi = 0, wti = 0, wli = 0;
    for (int64_t i = 0; i < n; i++) {
        const double v = x[i], want = ref_f(v), e = fabs((double)y[i] - want) / fmax(fabs(v), 1e-30);
        if (!(e <= worst))
            worst = e, wi = i;
        if (v >= -12.7 && v <= -1.31 && !(fabs((double)y[i] - want) / fabs(want) <= worst_tail))
            worst_tail = fabs((double)y[i] - want) / fabs(want), wti = i;
        const double el = fabs((double)y[i] - (double)libm_f(x[i])) / fmax(fabs(v), 1e-30);
        if (!(el <= worst_libm))
            worst_libm = el, wli = i;
    }
    if (getenv("FT_KC_VERBOSE"))
        fprintf(stderr, "  gelu_erf fwd [%s]: err/|x| %.3g, tail rel %.3g, vs libm %.3g\n",
                path_name(portable), worst, worst_tail, worst_libm);
    FT_CHECKF(worst <= GELU_TOL, "[%s] f(%.9g) = %.9g, want %.9g (err/|x| %.3g)", path_name(portable),
              (double)x[wi], (double)y[wi], ref_f(x[wi]), worst);
    FT_CHECKF(worst_tail <= TAIL_TOL, "[%s] left tail f(%.9g) = %.9g, want %.9g (relative %.3g)",
              path_name(portable), (double)x[wti], (double)y[wti], ref_f(x[wti]), worst_tail);
    FT_CHECKF(worst_libm <= GELU_TOL, "[%s] f(%.9g) = %.9g, libm's formula %.9g", path_name(portable),
              (double)x[wli], (double)y[wli], (double)libm_f(x[wli]));
    FT_CHECK(y[N_GRID + 1] == 0.0f && signbit(y[N_GRID + 1])); /* f(−0) = −0 */
    /* the same bits for a sub-range at an odd, unaligned offset (vector body vs remainder, thread split) */
    float *ys = kc_falloc(n);
    ft_gelu_erf_forward(ys, x + 3, 4001);
    FT_CHECKF(!memcmp(ys, y + 3, 4001 * sizeof(float)), "[%s] bits depend on the offset",
              path_name(portable));
    /* in place */
    memcpy(ys, x, (size_t)n * sizeof(float));
    ft_gelu_erf_forward(ys, ys, n);
    FT_CHECKF(!memcmp(ys, y, (size_t)n * sizeof(float)), "[%s] in place differs", path_name(portable));
    /* ±∞ and NaN as the libm formula */
    const float nf[] = {INFINITY, -INFINITY, NAN, -NAN};
    float ny[4];
    ft_gelu_erf_forward(ny, nf, 4);
    for (int i = 0; i < 4; i++)
        FT_CHECKF(same_special(ny[i], libm_f(nf[i])), "[%s] f(%g) = %g, libm's formula %g",
                  path_name(portable), (double)nf[i], (double)ny[i], (double)libm_f(nf[i]));
    free(x), free(y), free(ys);
    set_path(false);
}

FT_TEST(gelu_erf_forward_on_both_paths) {
    forward_case(false);
    forward_case(true);
}

static void backward_case(bool portable) {
    set_path(portable);
    int64_t n;
    float *x = grid(&n), *ones = kc_falloc(n), *dx = kc_falloc(n);
    for (int64_t i = 0; i < n; i++)
        ones[i] = 1.0f; /* dx = 0 + 1·f'(x) = f'(x) */
    ft_gelu_erf_backward(dx, ones, x, n);
    double worst = 0.0, worst_fd = 0.0, worst_libm = 0.0;
    int64_t wi = 0, wfi = 0, wli = 0;
    const double h = 1e-5;
    for (int64_t i = 0; i < n; i++) {
        const double v = x[i], s = fmax(fabs(v), 1.0), e = fabs((double)dx[i] - ref_d(v)) / s;
        if (!(e <= worst))
            worst = e, wi = i;
        if (fabs(v) < 1e3) { /* the difference quotient of the double GELU (an independent derivative) */
            const double fd = (ref_f(v + h) - ref_f(v - h)) / (2.0 * h), ef = fabs((double)dx[i] - fd) / s;
            if (!(ef <= worst_fd))
                worst_fd = ef, wfi = i;
        }
        const double el = fabs((double)dx[i] - (double)libm_d(x[i])) / s;
        if (!(el <= worst_libm))
            worst_libm = el, wli = i;
    }
    if (getenv("FT_KC_VERBOSE"))
        fprintf(stderr, "  gelu_erf bwd [%s]: err/max(|x|,1) %.3g, vs FD %.3g, vs libm %.3g\n",
                path_name(portable), worst, worst_fd, worst_libm);
    FT_CHECKF(worst <= GELU_TOL, "[%s] f'(%.9g) = %.9g, want %.9g", path_name(portable), (double)x[wi],
              (double)dx[wi], ref_d(x[wi]));
    FT_CHECKF(worst_fd <= 1e-6, "[%s] f'(%.9g) = %.9g, finite differences %.9g", path_name(portable),
              (double)x[wfi], (double)dx[wfi], (ref_f(x[wfi] + h) - ref_f(x[wfi] - h)) / (2.0 * h));
    FT_CHECKF(worst_libm <= GELU_TOL, "[%s] f'(%.9g) = %.9g, libm's formula %.9g", path_name(portable),
              (double)x[wli], (double)dx[wli], (double)libm_d(x[wli]));
    /* accumulation with a random dy into a pre-filled buffer: dx = pre + dy·f'(x) */
    float *dy = kc_falloc(n);
    kc_fill(dy, n, 61, -2.0f, 2.0f);
    kc_gradbuf g = kc_gradbuf_new(n, 62);
    ft_gelu_erf_backward(g.buf, dy, x, n);
    double worst_acc = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double want = (double)g.pre[i] + (double)dy[i] * ref_d(x[i]);
        const double e =
            fabs((double)g.buf[i] - want) / (fabs(want) + fabs((double)dy[i]) * fmax(fabs(x[i]), 1.0));
        worst_acc = fmax(worst_acc, isnan(e) ? INFINITY : e);
    }
    FT_CHECKF(worst_acc <= GELU_TOL, "[%s] accumulating backward: relative error %.3g", path_name(portable),
              worst_acc);
    /* ±∞ and NaN as the libm formula: NaN (∞·0) */
    const float nf[] = {INFINITY, -INFINITY, NAN}, one[] = {1.0f, 1.0f, 1.0f};
    float nd[3] = {0.0f, 0.0f, 0.0f};
    ft_gelu_erf_backward(nd, one, nf, 3);
    for (int i = 0; i < 3; i++)
        FT_CHECKF(same_special(nd[i], libm_d(nf[i])), "[%s] f'(%g) = %g, libm's formula %g",
                  path_name(portable), (double)nf[i], (double)nd[i], (double)libm_d(nf[i]));
    kc_gradbuf_free(&g);
    free(x), free(ones), free(dx), free(dy);
    set_path(false);
}

FT_TEST(gelu_erf_backward_on_both_paths) {
    backward_case(false);
    backward_case(true);
}

/* The two paths on one machine: within the kernels' error bound of each other (the same bits where the
 * build's own ISA has AVX2+FMA, a few ulps apart otherwise), and independent of the thread count. */
FT_TEST(gelu_erf_paths_and_threads_agree) {
    int64_t n;
    float *x = grid(&n), *a = kc_falloc(n), *p = kc_falloc(n), *t1 = kc_falloc(n);
    ft_gelu_erf_forward(a, x, n);
    set_path(true);
    ft_gelu_erf_forward(p, x, n);
    set_path(false);
    double d = 0.0;
    for (int64_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - (double)p[i]) / fmax(fabs((double)x[i]), 1e-30));
    FT_CHECKF(d <= 2.0 * GELU_TOL, "paths differ by %.3g·|x|", d);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    ft_gelu_erf_forward(t1, x, n);
    omp_set_num_threads(saved);
    FT_CHECK(!memcmp(t1, a, (size_t)n * sizeof(float)));
#if defined(__x86_64__)
    if (getenv("FT_KC_VERBOSE"))
        fprintf(stderr, "  CPU avx2+fma: %d; paths differ by %.3g·|x|\n",
                __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"), d);
#endif
    free(x), free(a), free(p), free(t1);
}

int main(void) {
    FT_RUN(erf_matches_double_erf);
    FT_RUN(gelu_erf_forward_on_both_paths);
    FT_RUN(gelu_erf_backward_on_both_paths);
    FT_RUN(gelu_erf_paths_and_threads_agree);
    FT_DONE();
}
