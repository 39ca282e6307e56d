/* Helpers shared by the kernel tests: random fills, fp32-vs-double comparisons and central finite
 * differences of a double-precision reference objective. Included by tests/test_kernels*.c only. */
#ifndef FT_KERNEL_CHECK_H
#define FT_KERNEL_CHECK_H

#include <stdint.h>

#include "core/core.h"
#include "ft_test.h"

/* Forward tolerance: an fp32 kernel computes a sum of K terms with relative rounding error ≲ K·2^-24
 * worst case (≈ √K·2^-24 typical); our reductions have K ≤ ~100, so 1e-5 of the largest output
 * magnitude leaves a ~10x margin over typical error while still catching any wrong term (which
 * would be off by O(1) of a term's size). */
#define KC_FWD_TOL 1e-5
/* Backward tolerance: central differences in double with h = 1e-6 have truncation error
 * O(h²·|f'''|) ≈ 1e-12 and cancellation error ≈ 1e-16·|L|/h ≈ 1e-9 for our |L| ≲ 10, so the
 * reference gradient is good to ~1e-8; the fp32 analytic gradient carries ~1e-6 relative rounding.
 * 1e-4 of max |grad| is therefore loose on rounding but ~100x below the size of any missing or
 * wrong term (each contributes O(1e-2..1) of max |grad| here). */
#define KC_BWD_TOL 1e-4
#define KC_FD_H 1e-6

/* Deterministic test data from the core counter RNG: stream identifies the buffer. */
static inline void kc_fill(float *x, int64_t n, uint64_t stream, float lo, float hi) {
    for (int64_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * ft_rng_uniform(12345, stream, (uint64_t)i);
}
static inline void kc_fill_normal(float *x, int64_t n, uint64_t stream, float sd) {
    for (int64_t i = 0; i < n; i++)
        x[i] = sd * ft_rng_normal(777, stream, (uint64_t)i);
}
static inline void kc_to_double(double *d, const float *f, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        d[i] = (double)f[i];
}
static inline float *kc_falloc(int64_t n) {
    float *p = (float *)calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    if (!p)
        abort();
    return p;
}
static inline double *kc_dalloc(int64_t n) {
    double *p = (double *)calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    if (!p)
        abort();
    return p;
}

/* max |got − want| ≤ tol · max(max |want|, floor); reports the worst element. floor keeps an
 * all-zero reference from demanding exact zeros to the last bit. Returns 1 on success. */
static inline int kc_close_ex(const char *what, const float *got, const double *want, int64_t n, double tol,
                              double floor, const char *file, int line) {
    double scale = floor, err = 0.0;
    int64_t worst = -1;
    for (int64_t i = 0; i < n; i++)
        scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (isnan(e)) { /* a NaN anywhere fails, whatever the other errors */
            err = INFINITY;
            worst = i;
            break;
        }
        if (worst < 0 || e > err) {
            err = e;
            worst = i;
        }
    }
    if (getenv("FT_KC_VERBOSE")) /* shows the margin of every comparison */
        fprintf(stderr, "  %-50s err/scale %.2e (tol %.0e)\n", what, err / scale, tol);
    if (worst >= 0 && !(err <= tol * scale)) {
        fprintf(stderr, "  FAIL %s:%d [%s]: %s[%lld] = %.9g, want %.9g (err %.3g > %.3g = tol %.1g x scale %.3g)\n",
                file, line, ft_t_name, what, (long long)worst, (double)got[worst], want[worst], err, tol * scale,
                tol, scale);
        ft_t_cur_failed = 1;
        return 0;
    }
    return 1;
}
#define KC_CLOSE(what, got, want, n, tol) kc_close_ex(what, got, want, n, tol, 1e-30, __FILE__, __LINE__)

/* Gradient check for an accumulating backward: got = buffer after backward, pre = its fill before;
 * compares got − pre with want. */
static inline int kc_grad_ex(const char *what, const float *got, const float *pre, const double *want, int64_t n,
                             const char *file, int line) {
    float *delta = kc_falloc(n);
    for (int64_t i = 0; i < n; i++)
        delta[i] = got[i] - pre[i];
    /* Subtracting the O(1) prefill costs ≤ 2^-24 absolute: negligible against KC_BWD_TOL·scale
     * because our gradients have max |grad| ≳ 0.1. */
    int ok = kc_close_ex(what, delta, want, n, KC_BWD_TOL, 1e-30, file, line);
    free(delta);
    return ok;
}
#define KC_GRAD(what, got, pre, want, n) kc_grad_ex(what, got, pre, want, n, __FILE__, __LINE__)

/* Central finite differences: g[i] = (L(x + h e_i) − L(x − h e_i)) / 2h, where obj(ctx) evaluates the
 * double reference objective reading x (which must be one of the arrays ctx points to). */
typedef double (*kc_objective)(void *ctx);
static inline void kc_fd(double *g, double *x, int64_t n, kc_objective obj, void *ctx) {
    for (int64_t i = 0; i < n; i++) {
        double save = x[i];
        x[i] = save + KC_FD_H;
        double lp = obj(ctx);
        x[i] = save - KC_FD_H;
        double lm = obj(ctx);
        x[i] = save;
        g[i] = (lp - lm) / (2.0 * KC_FD_H);
    }
}

/* Σ r ⊙ y in double: the random scalar objective whose gradient w.r.t. y is r. */
static inline double kc_dot(const double *r, const double *y, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += r[i] * y[i];
    return s;
}

/* A float buffer pre-filled with random values (to check backward accumulates) and a copy. */
typedef struct {
    float *buf, *pre;
    int64_t n;
} kc_gradbuf;
static inline kc_gradbuf kc_gradbuf_new(int64_t n, uint64_t stream) {
    kc_gradbuf g = {kc_falloc(n), kc_falloc(n), n};
    kc_fill(g.pre, n, 9000 + stream, -1.0f, 1.0f);
    memcpy(g.buf, g.pre, (size_t)n * sizeof(float));
    return g;
}
static inline void kc_gradbuf_reset(kc_gradbuf *g) { memcpy(g->buf, g->pre, (size_t)g->n * sizeof(float)); }
static inline void kc_gradbuf_free(kc_gradbuf *g) {
    free(g->buf);
    free(g->pre);
}

#endif
