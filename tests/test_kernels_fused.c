/* Fused elementwise kernels (kernels.h: ft_bias_act_forward, ft_act_backward_bias,
 * ft_residual_layernorm_forward, ft_residual_rmsnorm_forward), each checked three ways:
 *  - against the unfused composition of the existing kernels (bias in ft_linear_forward then the
 *    activation; activation backward then ft_linear_backward's bias sum; ft_add_inplace then the norm):
 *    the fused kernels use the same per-element formulas (no libm call: the erf is kernels/vecmath.h's)
 *    and the same summation orders, so the results are the same bits;
 *  - against a double-precision reference (KC_FWD_TOL, kernel_check.h);
 *  - backward against central finite differences of the double reference (KC_BWD_TOL).
 * Odd sizes throughout (C not a multiple of 16, N = 1) and one size large enough for the threaded path;
 * the bias gradient is the same bits for 1, 2 and 3 threads. Everything runs twice: on the AVX2+FMA twin of
 * the erf GELU's loops where the CPU has it, and on the portable code (FTUNE_NO_AVX2=1). */
#include <omp.h>
#include <stdbool.h>

#include "kernel_check.h"
#include "kernels/kernels.h"

static const ft_act ACTS[] = {FT_ACT_GELU_TANH, FT_ACT_GELU_ERF, FT_ACT_SILU, FT_ACT_RELU, FT_ACT_IDENTITY};
static const char *ACT_NAMES[] = {"gelu_tanh", "gelu_erf", "silu", "relu", "identity"};

static const int64_t SHAPES[][2] = {{1, 1}, {1, 17}, {3, 33}, {2, 300}, {7, 129}, {40, 515}};
#define N_SHAPES (int)(sizeof SHAPES / sizeof SHAPES[0])

static double act_ref(ft_act f, double v) {
    switch (f) {
    case FT_ACT_GELU_TANH: return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    case FT_ACT_GELU_ERF: return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    case FT_ACT_SILU: return v / (1.0 + exp(-v));
    case FT_ACT_RELU: return v > 0.0 ? v : 0.0;
    case FT_ACT_IDENTITY: return v;
    }
    return NAN;
}

/* Largest |a − b| relative to max |b| (≥ 1e-30). */
static double rel_diff(const float *a, const float *b, int64_t n) {
    double d = 0.0, s = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return d / s;
}

/* ------------------------------------------------------------------ bias + activation forward */

static void bias_act_fwd_case(ft_act f, const char *name, int64_t N, int64_t C, bool bias) {
    const int64_t K = 19; /* the GEMM in front: y = x·W */
    float *x = kc_falloc(N * K), *w = kc_falloc(K * C), *b = kc_falloc(C);
    float *yu = kc_falloc(N * C), *au = kc_falloc(N * C), *yf = kc_falloc(N * C), *af = kc_falloc(N * C);
    kc_fill(x, N * K, 30, -1.0f, 1.0f);
    kc_fill(w, K * C, 31, -0.8f, 0.8f);
    kc_fill(b, C, 32, -1.0f, 1.0f);
    for (int64_t i = 0; i < N * C; i++)
        af[i] = NAN; /* the fused kernel writes act */
    ft_linear_forward(yu, x, w, bias ? b : NULL, N, K, C, true);
    ft_act_forward(f, au, yu, N * C);
    ft_linear_forward(yf, x, w, NULL, N, K, C, true);
    ft_bias_act_forward(f, af, yf, bias ? b : NULL, N, C);
    char what[96];
    snprintf(what, sizeof what, "%s fwd N=%lld C=%lld bias=%d", name, (long long)N, (long long)C, bias);
    FT_CHECKF(!memcmp(yu, yf, (size_t)(N * C) * sizeof(float)), "%s: pre-activation differs from the unfused",
              what);
    FT_CHECKF(!memcmp(au, af, (size_t)(N * C) * sizeof(float)), "%s: act differs from the unfused (%.3g)",
              what, rel_diff(af, au, N * C));
    /* double reference from the same fp32 GEMM output (the GEMM itself is tested in test_kernels) */
    double *pw = kc_dalloc(N * C), *aw = kc_dalloc(N * C);
    ft_linear_forward(yu, x, w, NULL, N, K, C, true);
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < C; j++) {
            pw[i * C + j] = (double)yu[i * C + j] + (bias ? (double)b[j] : 0.0);
            aw[i * C + j] = act_ref(f, pw[i * C + j]);
        }
    KC_CLOSE(what, yf, pw, N * C, KC_FWD_TOL);
    KC_CLOSE(what, af, aw, N * C, KC_FWD_TOL);
    free(x), free(w), free(b), free(yu), free(au), free(yf), free(af), free(pw), free(aw);
}

FT_TEST(bias_act_forward_matches_unfused_and_reference) {
    for (int a = 0; a < 5; a++)
        for (int s = 0; s < N_SHAPES; s++) {
            bias_act_fwd_case(ACTS[a], ACT_NAMES[a], SHAPES[s][0], SHAPES[s][1], true);
            bias_act_fwd_case(ACTS[a], ACT_NAMES[a], SHAPES[s][0], SHAPES[s][1], false);
        }
}

/* ------------------------------------------------------------------ activation backward + bias grad */

typedef struct {
    ft_act f;
    int64_t N, C;
    double *g, *b, *r; /* pre = g + b (per column), L = Σ r ⊙ f(pre) */
} act_ctx;

static double act_obj(void *p) {
    const act_ctx *c = p;
    double s = 0.0;
    for (int64_t i = 0; i < c->N; i++)
        for (int64_t j = 0; j < c->C; j++)
            s += c->r[i * c->C + j] * act_ref(c->f, c->g[i * c->C + j] + c->b[j]);
    return s;
}

static void act_bwd_case(ft_act f, const char *name, int64_t N, int64_t C) {
    float *pre = kc_falloc(N * C), *dact = kc_falloc(N * C), *b = kc_falloc(C);
    float *du = kc_falloc(N * C), *df = kc_falloc(N * C);
    kc_fill(pre, N * C, 40, -3.0f, 3.0f);
    kc_fill(dact, N * C, 41, -1.0f, 1.0f);
    kc_fill(b, C, 42, -0.5f, 0.5f);
    kc_gradbuf dbu = kc_gradbuf_new(C, 43), dbf = kc_gradbuf_new(C, 43);
    /* unfused: dfc zeroed, act backward accumulates into it, the linear backward sums its columns */
    ft_act_backward(f, du, dact, pre, N * C);
    ft_linear_backward(NULL, NULL, dbu.buf, du, NULL, NULL, N, 1, C, true);
    for (int64_t i = 0; i < N * C; i++)
        df[i] = NAN; /* written, not accumulated */
    ft_act_backward_bias(f, df, dbf.buf, dact, pre, N, C);
    char what[96];
    snprintf(what, sizeof what, "%s bwd N=%lld C=%lld", name, (long long)N, (long long)C);
    FT_CHECKF(!memcmp(df, du, (size_t)(N * C) * sizeof(float)) &&
                  !memcmp(dbf.buf, dbu.buf, (size_t)C * sizeof(float)),
              "%s: differs from the unfused: dpre by %.3g, db by %.3g", what, rel_diff(df, du, N * C),
              rel_diff(dbf.buf, dbu.buf, C));
    /* the bias gradient alone: without db the kernel still writes dpre */
    float *dn = kc_falloc(N * C);
    ft_act_backward_bias(f, dn, NULL, dact, pre, N, C);
    FT_CHECKF(!memcmp(dn, df, (size_t)(N * C) * sizeof(float)), "%s: dpre depends on whether db is given",
              what);
    /* finite differences of the double reference: dL/dpre (via g) and dL/db with pre = g + b, dact = r */
    act_ctx c = {f, N, C, kc_dalloc(N * C), kc_dalloc(C), kc_dalloc(N * C)};
    for (int64_t i = 0; i < N * C; i++) {
        c.g[i] = (double)pre[i];
        c.r[i] = (double)dact[i];
    }
    double *gpre = kc_dalloc(N * C), *gb = kc_dalloc(C);
    kc_fd(gpre, c.g, N * C, act_obj, &c);
    kc_fd(gb, c.b, C, act_obj, &c);
    KC_CLOSE(what, df, gpre, N * C, KC_BWD_TOL);
    KC_GRAD(what, dbf.buf, dbf.pre, gb, C);
    kc_gradbuf_free(&dbu), kc_gradbuf_free(&dbf);
    free(pre), free(dact), free(b), free(du), free(df), free(dn), free(c.g), free(c.b), free(c.r), free(gpre),
        free(gb);
}

FT_TEST(act_backward_bias_matches_unfused_and_finite_differences) {
    for (int a = 0; a < 5; a++)
        for (int s = 0; s < N_SHAPES - 1; s++) /* the largest shape is for the thread test (FD is O(n²)) */
            act_bwd_case(ACTS[a], ACT_NAMES[a], SHAPES[s][0], SHAPES[s][1]);
}

/* db (and dpre) are the same bits for any thread count and on every repeat: each column's sum runs over
 * the rows in order whatever the split (checkpoint resume and batch-vs-micro-batch rely on this). */
FT_TEST(act_backward_bias_is_thread_count_independent) {
    const int64_t N = 64,
                  C = 1000; /* ≥ FT_PAR_MIN elements: the threaded path; 4 column blocks, last one short */
    float *pre = kc_falloc(N * C), *dact = kc_falloc(N * C), *d1 = kc_falloc(N * C), *d2 = kc_falloc(N * C);
    float *db1 = kc_falloc(C), *db2 = kc_falloc(C);
    kc_fill(pre, N * C, 50, -3.0f, 3.0f);
    kc_fill(dact, N * C, 51, -1.0f, 1.0f);
    const int saved = omp_get_max_threads();
    for (int a = 0; a < 2; a++) { /* GELU tanh, GELU erf */
        omp_set_num_threads(1);
        memset(db1, 0, (size_t)C * sizeof(float));
        ft_act_backward_bias(ACTS[a], d1, db1, dact, pre, N, C);
        for (int t = 1; t <= 3; t++)
            for (int rep = 0; rep < 2; rep++) {
                omp_set_num_threads(t);
                memset(db2, 0, (size_t)C * sizeof(float));
                ft_act_backward_bias(ACTS[a], d2, db2, dact, pre, N, C);
                FT_CHECKF(!memcmp(db1, db2, (size_t)C * sizeof(float)) &&
                              !memcmp(d1, d2, (size_t)(N * C) * sizeof(float)),
                          "%s threads=%d rep=%d: bits differ from one thread", ACT_NAMES[a], t, rep);
            }
    }
    omp_set_num_threads(saved);
    free(pre), free(dact), free(d1), free(d2), free(db1), free(db2);
}

/* ReLU's backward passes dy where the input is > 0 and gives 0 elsewhere, also for a non-finite dy
 * (torch's threshold backward): fused and unfused agree, with no NaN from 0·∞. */
FT_TEST(relu_backward_zeroes_non_finite_dy_where_inactive) {
    enum { N = 2, C = 3 };
    float pre[N * C] = {-1.0f, 2.0f, -0.5f, 0.0f, 3.0f, -2.0f};
    const float dact[N * C] = {INFINITY, 0.25f, NAN, -INFINITY, -1.5f, 7.0f};
    const float want[N * C] = {0.0f, 0.25f, 0.0f, 0.0f, -1.5f, 0.0f};
    float dpre[N * C], dx[N * C] = {0}, db[C] = {0};
    ft_act_backward_bias(FT_ACT_RELU, dpre, db, dact, pre, N, C);
    ft_act_backward(FT_ACT_RELU, dx, dact, pre, N * C);
    for (int i = 0; i < N * C; i++) {
        FT_CHECKF(dpre[i] == want[i], "fused dpre[%d] = %g, want %g", i, dpre[i], want[i]);
        FT_CHECKF(dx[i] == want[i], "unfused dx[%d] = %g, want %g", i, dx[i], want[i]);
    }
    FT_CHECK(db[0] == 0.0f && db[1] == 0.25f - 1.5f && db[2] == 0.0f);
}

/* ------------------------------------------------------------------ residual + norm */

/* The pre-change LayerNorm statistics (scalar two-pass), to show the lane sums lose no accuracy. */
static void ln_stats_scalar(const float *x, int64_t C, float eps, float *mean, float *rstd) {
    float m = 0.0f;
    for (int64_t j = 0; j < C; j++)
        m += x[j];
    m /= (float)C;
    float v = 0.0f;
    for (int64_t j = 0; j < C; j++)
        v += (x[j] - m) * (x[j] - m);
    *mean = m;
    *rstd = 1.0f / sqrtf(v / (float)C + eps);
}

/* alias: 0 = separate output, 1 = xo is x, 2 = xo is r */
static void residual_norm_case(bool rms, int64_t N, int64_t C, float offset, int alias) {
    const float eps = 1e-5f;
    float *x = kc_falloc(N * C), *r = kc_falloc(N * C), *w = kc_falloc(C), *b = kc_falloc(C);
    float *xo = kc_falloc(N * C), *y = kc_falloc(N * C), *mean = kc_falloc(N), *rstd = kc_falloc(N);
    float *xu = kc_falloc(N * C), *yu = kc_falloc(N * C), *mu = kc_falloc(N), *su = kc_falloc(N);
    kc_fill(x, N * C, 60, offset - 1.0f, offset + 1.0f);
    kc_fill(r, N * C, 61, -0.5f, 0.5f);
    kc_fill(w, C, 62, 0.5f, 1.5f);
    kc_fill(b, C, 63, -1.0f, 1.0f);
    /* unfused: x_out = x; x_out += r; norm(x_out) */
    memcpy(xu, x, (size_t)(N * C) * sizeof(float));
    ft_add_inplace(xu, r, N * C);
    if (rms)
        ft_rmsnorm_forward(yu, su, xu, w, N, C, eps);
    else
        ft_layernorm_forward(yu, mu, su, xu, w, b, N, C, eps);
    float *xin = x, *rin = r;
    float *xa = kc_falloc(N * C), *ra = kc_falloc(N * C);
    memcpy(xa, x, (size_t)(N * C) * sizeof(float));
    memcpy(ra, r, (size_t)(N * C) * sizeof(float));
    float *out = alias == 1 ? xa : alias == 2 ? ra : xo;
    if (alias) {
        xin = xa;
        rin = ra;
    }
    if (rms)
        ft_residual_rmsnorm_forward(out, y, rstd, xin, rin, w, N, C, eps);
    else
        ft_residual_layernorm_forward(out, y, mean, rstd, xin, rin, w, b, N, C, eps);
    char what[112];
    snprintf(what, sizeof what, "residual %s N=%lld C=%lld offset=%g alias=%d", rms ? "rmsnorm" : "layernorm",
             (long long)N, (long long)C, (double)offset, alias);
    const size_t nb = (size_t)(N * C) * sizeof(float);
    FT_CHECKF(!memcmp(out, xu, nb), "%s: x_out differs from the unfused", what);
    FT_CHECKF(!memcmp(y, yu, nb), "%s: y differs from the unfused (%.3g)", what, rel_diff(y, yu, N * C));
    FT_CHECKF(!memcmp(rstd, su, (size_t)N * sizeof(float)), "%s: rstd differs from the unfused", what);
    if (!rms)
        FT_CHECKF(!memcmp(mean, mu, (size_t)N * sizeof(float)), "%s: mean differs from the unfused", what);
    /* double reference on the fp32 sum x + r (the sum itself is one exact-rounded add) */
    double *yw = kc_dalloc(N * C), *mw = kc_dalloc(N), *sw = kc_dalloc(N);
    double err_new = 0.0, err_old = 0.0, scale = 1e-30;
    for (int64_t i = 0; i < N; i++) {
        const float *xr = xu + i * C;
        double m = 0.0, v = 0.0;
        for (int64_t j = 0; j < C; j++)
            m += xr[j];
        m = rms ? 0.0 : m / (double)C;
        for (int64_t j = 0; j < C; j++)
            v += (xr[j] - m) * (xr[j] - m);
        const double s = 1.0 / sqrt(v / (double)C + eps);
        for (int64_t j = 0; j < C; j++)
            yw[i * C + j] = (xr[j] - m) * s * w[j] + (rms ? 0.0 : b[j]);
        mw[i] = m;
        sw[i] = s;
        if (!rms) { /* rstd error of the new statistics vs the old scalar two-pass code */
            float om, os;
            ln_stats_scalar(xr, C, eps, &om, &os);
            err_new = fmax(err_new, fabs(rstd[i] - s));
            err_old = fmax(err_old, fabs(os - s));
            scale = fmax(scale, s);
        }
    }
    KC_CLOSE(what, y, yw, N * C, KC_FWD_TOL);
    KC_CLOSE(what, rstd, sw, N, KC_FWD_TOL);
    if (!rms) {
        KC_CLOSE(what, mean, mw, N, KC_FWD_TOL);
        /* comparable accuracy: no worse than the old code by more than 2 ulps of rstd */
        FT_CHECKF(err_new <= err_old + 2.5e-7 * scale, "%s: rstd error %.3g vs the old code's %.3g", what,
                  err_new, err_old);
    }
    free(x), free(r), free(w), free(b), free(xo), free(y), free(mean), free(rstd), free(xu), free(yu),
        free(mu), free(su), free(xa), free(ra), free(yw), free(mw), free(sw);
}

FT_TEST(residual_norms_match_unfused_and_reference) {
    for (int rms = 0; rms < 2; rms++)
        for (int s = 0; s < N_SHAPES; s++)
            for (int alias = 0; alias < 3; alias++) {
                residual_norm_case(rms, SHAPES[s][0], SHAPES[s][1], 0.0f, alias);
                residual_norm_case(rms, SHAPES[s][0], SHAPES[s][1], 50.0f,
                                   alias); /* large mean: cancellation */
            }
    residual_norm_case(false, 3, 8192, 10.0f, 0); /* the largest row the brief allows */
}

int main(void) {
    for (int portable = 0; portable < 2; portable++) {
        if (portable)
            setenv("FTUNE_NO_AVX2", "1", 1);
        FT_RUN(bias_act_forward_matches_unfused_and_reference);
        FT_RUN(act_backward_bias_matches_unfused_and_finite_differences);
        FT_RUN(act_backward_bias_is_thread_count_independent);
        FT_RUN(relu_backward_zeroes_non_finite_dy_where_inactive);
        FT_RUN(residual_norms_match_unfused_and_reference);
    }
    unsetenv("FTUNE_NO_AVX2");
    FT_DONE();
}
