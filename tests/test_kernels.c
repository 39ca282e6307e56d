/* Kernel tests (GEMM, linear, norms, activations, softmax, embedding, cross-entropy, dropout, AdamW,
 * helpers): every fp32 forward against an independent double-precision scalar reference written from
 * the math in kernels.h, every backward against central finite differences of that reference on the
 * objective L = Σ r ⊙ y (so dy = r), into pre-filled gradient buffers (backward must accumulate).
 * Attention and RoPE live in test_kernels_attention.c. Tolerances: see kernel_check.h.
 * `test_kernels --adamw-driver FILE` runs AdamW steps from FILE for tests/adamw_torch.sh. */
#include <stdbool.h>

#include "kernel_check.h"
#include "kernels/kernels.h"

/* ------------------------------------------------------------------ GEMM */

/* C = alpha·op(A)·op(B) + beta·C for one shape and transpose pair, with every leading dimension
 * wider than the row (the extra columns of C must stay untouched). beta = 0 starts from NaN in C:
 * BLAS semantics say C is then not read, and ft_linear_forward relies on it (its y is uninitialized). */
static void gemm_case(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, float beta) {
    const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
    const int64_t arows = ta ? K : M, brows = tb ? N : K;
    float *A = kc_falloc(arows * lda), *B = kc_falloc(brows * ldb), *C = kc_falloc(M * ldc);
    double *want = kc_dalloc(M * N);
    float *got = kc_falloc(M * N);
    kc_fill(A, arows * lda, 1, -1.0f, 1.0f);
    kc_fill(B, brows * ldb, 2, -1.0f, 1.0f);
    kc_fill(C, M * ldc, 3, -1.0f, 1.0f);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = N; j < ldc; j++)
            C[i * ldc + j] = 777.0f; /* sentinel outside the N columns */
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k];
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                s += a * b;
            }
            want[i * N + j] = (double)alpha * s + (beta != 0.0f ? (double)beta * C[i * ldc + j] : 0.0);
            if (beta == 0.0f)
                C[i * ldc + j] = NAN;
        }
    }
    ft_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    int untouched = 1;
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++)
            got[i * N + j] = C[i * ldc + j];
        for (int64_t j = N; j < ldc; j++)
            untouched &= C[i * ldc + j] == 777.0f;
    }
    char what[96];
    snprintf(what, sizeof what, "gemm(ta=%d,tb=%d,M=%lld,N=%lld,K=%lld,beta=%g)", ta, tb, (long long)M,
             (long long)N, (long long)K, (double)beta);
    KC_CLOSE(what, got, want, M * N, KC_FWD_TOL);
    FT_CHECKF(untouched, "%s wrote past N columns", what);
    free(A);
    free(B);
    free(C);
    free(want);
    free(got);
}

FT_TEST(test_gemm) {
    static const int64_t shapes[][3] = {{13, 9, 11}, {4, 17, 30}, {1, 5, 7}};
    for (int s = 0; s < 3; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                gemm_case(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 0.0f);
                gemm_case(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 1.0f);
                gemm_case(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 0.75f, 1.0f);
            }
    /* K = 0: C = beta·C (beta 0 must clear even NaN) */
    gemm_case(false, false, 3, 4, 0, 1.0f, 0.0f);
    gemm_case(true, true, 3, 4, 0, 1.0f, 1.0f);
}

/* ------------------------------------------------------------------ linear */

typedef struct {
    int64_t N, in, out;
    bool w_in_out;
    double *x, *w, *b, *r; /* b may be NULL */
} lin_ctx;

static void lin_ref(const lin_ctx *c, double *y) {
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t o = 0; o < c->out; o++) {
            double s = c->b ? c->b[o] : 0.0;
            for (int64_t i = 0; i < c->in; i++)
                s += c->x[n * c->in + i] * (c->w_in_out ? c->w[i * c->out + o] : c->w[o * c->in + i]);
            y[n * c->out + o] = s;
        }
}
static double lin_obj(void *p) {
    lin_ctx *c = p;
    double y[64];
    lin_ref(c, y);
    return kc_dot(c->r, y, c->N * c->out);
}

static void linear_case(bool w_in_out, bool bias) {
    const int64_t N = 5, in = 7, out = 6, nw = in * out;
    float *x = kc_falloc(N * in), *w = kc_falloc(nw), *b = kc_falloc(out), *r = kc_falloc(N * out);
    float *y = kc_falloc(N * out);
    kc_fill(x, N * in, 10, -1.0f, 1.0f);
    kc_fill(w, nw, 11, -1.0f, 1.0f);
    kc_fill(b, out, 12, -1.0f, 1.0f);
    kc_fill(r, N * out, 13, -1.0f, 1.0f);
    lin_ctx c = {N, in, out, w_in_out, kc_dalloc(N * in), kc_dalloc(nw), bias ? kc_dalloc(out) : NULL,
                 kc_dalloc(N * out)};
    kc_to_double(c.x, x, N * in);
    kc_to_double(c.w, w, nw);
    if (bias)
        kc_to_double(c.b, b, out);
    kc_to_double(c.r, r, N * out);
    double *yw = kc_dalloc(N * out), *gx = kc_dalloc(N * in), *gw = kc_dalloc(nw), *gb = kc_dalloc(out);
    lin_ref(&c, yw);
    for (int64_t i = 0; i < N * out; i++)
        y[i] = NAN; /* forward must not read y */
    ft_linear_forward(y, x, w, bias ? b : NULL, N, in, out, w_in_out);
    KC_CLOSE(w_in_out ? "linear y (w [in,out])" : "linear y (w [out,in])", y, yw, N * out, KC_FWD_TOL);

    kc_fd(gx, c.x, N * in, lin_obj, &c);
    kc_fd(gw, c.w, nw, lin_obj, &c);
    for (int64_t o = 0; o < out; o++) { /* dL/db = Σ_n r: the bias gradient exists even if no bias */
        gb[o] = 0.0;
        for (int64_t n = 0; n < N; n++)
            gb[o] += c.r[n * out + o];
    }
    if (bias) {
        double *gbfd = kc_dalloc(out);
        kc_fd(gbfd, c.b, out, lin_obj, &c);
        float *gbf = kc_falloc(out);
        for (int64_t o = 0; o < out; o++)
            gbf[o] = (float)gbfd[o];
        KC_CLOSE("linear db (FD vs column sums)", gbf, gb, out, KC_BWD_TOL);
        free(gbf);
        free(gbfd);
    }
    kc_gradbuf dx = kc_gradbuf_new(N * in, 1), dw = kc_gradbuf_new(nw, 2), db = kc_gradbuf_new(out, 3);
    ft_linear_backward(dx.buf, dw.buf, db.buf, r, x, w, N, in, out, w_in_out);
    KC_GRAD("linear dx", dx.buf, dx.pre, gx, N * in);
    KC_GRAD("linear dw", dw.buf, dw.pre, gw, nw);
    KC_GRAD("linear db", db.buf, db.pre, gb, out);
    /* optional gradients: each NULL alone, then only one requested */
    kc_gradbuf_reset(&dw);
    kc_gradbuf_reset(&db);
    ft_linear_backward(NULL, dw.buf, db.buf, r, x, w, N, in, out, w_in_out);
    KC_GRAD("linear dw (dx NULL)", dw.buf, dw.pre, gw, nw);
    KC_GRAD("linear db (dx NULL)", db.buf, db.pre, gb, out);
    kc_gradbuf_reset(&dx);
    kc_gradbuf_reset(&db);
    ft_linear_backward(dx.buf, NULL, db.buf, r, x, w, N, in, out, w_in_out);
    KC_GRAD("linear dx (dw NULL)", dx.buf, dx.pre, gx, N * in);
    KC_GRAD("linear db (dw NULL)", db.buf, db.pre, gb, out);
    kc_gradbuf_reset(&dx);
    ft_linear_backward(dx.buf, NULL, NULL, r, x, w, N, in, out, w_in_out);
    KC_GRAD("linear dx (dw, db NULL)", dx.buf, dx.pre, gx, N * in);
    /* accumulation twice: the second call adds the same gradient again */
    kc_gradbuf_reset(&dw);
    ft_linear_backward(NULL, dw.buf, NULL, r, x, w, N, in, out, w_in_out);
    ft_linear_backward(NULL, dw.buf, NULL, r, x, w, N, in, out, w_in_out);
    for (int64_t i = 0; i < nw; i++)
        gw[i] *= 2.0;
    KC_GRAD("linear dw (two calls)", dw.buf, dw.pre, gw, nw);

    kc_gradbuf_free(&dx);
    kc_gradbuf_free(&dw);
    kc_gradbuf_free(&db);
    free(c.x), free(c.w), free(c.b), free(c.r);
    free(yw), free(gx), free(gw), free(gb);
    free(x), free(w), free(b), free(r), free(y);
}

FT_TEST(test_linear) {
    for (int layout = 0; layout < 2; layout++)
        for (int bias = 0; bias < 2; bias++)
            linear_case(layout, bias);
}

/* ------------------------------------------------------------------ LayerNorm / RMSNorm */

typedef struct {
    int64_t N, C;
    double eps;
    bool rms;
    double *x, *w, *b, *r; /* b NULL: no bias */
} norm_ctx;

/* LayerNorm: y = (x − mean)/√(var + eps)·w + b (biased var); RMSNorm: y = x/√(mean(x²) + eps)·w */
static void norm_ref(const norm_ctx *c, double *y, double *mean, double *rstd) {
    for (int64_t n = 0; n < c->N; n++) {
        const double *xr = c->x + n * c->C;
        double m = 0.0, v = 0.0;
        if (!c->rms) {
            for (int64_t j = 0; j < c->C; j++)
                m += xr[j];
            m /= (double)c->C;
        }
        for (int64_t j = 0; j < c->C; j++)
            v += (xr[j] - m) * (xr[j] - m);
        double s = 1.0 / sqrt(v / (double)c->C + c->eps);
        for (int64_t j = 0; j < c->C; j++)
            y[n * c->C + j] = (xr[j] - m) * s * c->w[j] + (c->b ? c->b[j] : 0.0);
        if (mean)
            mean[n] = m;
        if (rstd)
            rstd[n] = s;
    }
}
static double norm_obj(void *p) {
    norm_ctx *c = p;
    double y[256];
    norm_ref(c, y, NULL, NULL);
    return kc_dot(c->r, y, c->N * c->C);
}

static void norm_case(bool rms, bool bias, float offset) {
    const int64_t N = 5, C = 37;
    const float eps = 1e-5f;
    float *x = kc_falloc(N * C), *w = kc_falloc(C), *b = kc_falloc(C), *r = kc_falloc(N * C);
    float *y = kc_falloc(N * C), *mean = kc_falloc(N), *rstd = kc_falloc(N);
    kc_fill(x, N * C, 20, offset - 1.0f, offset + 1.0f);
    kc_fill(w, C, 21, 0.5f, 1.5f);
    kc_fill(b, C, 22, -1.0f, 1.0f);
    kc_fill(r, N * C, 23, -1.0f, 1.0f);
    norm_ctx c = {N, C, eps, rms, kc_dalloc(N * C), kc_dalloc(C), bias ? kc_dalloc(C) : NULL, kc_dalloc(N * C)};
    kc_to_double(c.x, x, N * C);
    kc_to_double(c.w, w, C);
    if (bias)
        kc_to_double(c.b, b, C);
    kc_to_double(c.r, r, N * C);
    double *yw = kc_dalloc(N * C), *mw = kc_dalloc(N), *sw = kc_dalloc(N);
    double *gx = kc_dalloc(N * C), *gw = kc_dalloc(C), *gb = kc_dalloc(C);
    norm_ref(&c, yw, mw, sw);
    for (int64_t i = 0; i < N * C; i++)
        y[i] = NAN;
    if (rms) {
        ft_rmsnorm_forward(y, rstd, x, w, N, C, eps);
        KC_CLOSE("rmsnorm y", y, yw, N * C, KC_FWD_TOL);
        KC_CLOSE("rmsnorm rstd", rstd, sw, N, KC_FWD_TOL);
    } else {
        ft_layernorm_forward(y, mean, rstd, x, w, bias ? b : NULL, N, C, eps);
        KC_CLOSE("layernorm y", y, yw, N * C, KC_FWD_TOL);
        KC_CLOSE("layernorm mean", mean, mw, N, KC_FWD_TOL);
        KC_CLOSE("layernorm rstd", rstd, sw, N, KC_FWD_TOL);
    }
    kc_fd(gx, c.x, N * C, norm_obj, &c);
    kc_fd(gw, c.w, C, norm_obj, &c);
    for (int64_t j = 0; j < C; j++) { /* dL/db = Σ_n r */
        gb[j] = 0.0;
        for (int64_t n = 0; n < N; n++)
            gb[j] += c.r[n * C + j];
    }
    kc_gradbuf dx = kc_gradbuf_new(N * C, 4), dw = kc_gradbuf_new(C, 5), db = kc_gradbuf_new(C, 6);
    if (rms) {
        ft_rmsnorm_backward(dx.buf, dw.buf, r, x, w, rstd, N, C);
        KC_GRAD("rmsnorm dx", dx.buf, dx.pre, gx, N * C);
        KC_GRAD("rmsnorm dw", dw.buf, dw.pre, gw, C);
        kc_gradbuf_reset(&dx);
        ft_rmsnorm_backward(dx.buf, NULL, r, x, w, rstd, N, C);
        KC_GRAD("rmsnorm dx (dw NULL)", dx.buf, dx.pre, gx, N * C);
        kc_gradbuf_reset(&dw);
        ft_rmsnorm_backward(NULL, dw.buf, r, x, w, rstd, N, C);
        KC_GRAD("rmsnorm dw (dx NULL)", dw.buf, dw.pre, gw, C);
    } else {
        ft_layernorm_backward(dx.buf, dw.buf, db.buf, r, x, w, mean, rstd, N, C);
        KC_GRAD("layernorm dx", dx.buf, dx.pre, gx, N * C);
        KC_GRAD("layernorm dw", dw.buf, dw.pre, gw, C);
        KC_GRAD("layernorm db", db.buf, db.pre, gb, C);
        kc_gradbuf_reset(&dw);
        kc_gradbuf_reset(&db);
        ft_layernorm_backward(NULL, dw.buf, db.buf, r, x, w, mean, rstd, N, C);
        KC_GRAD("layernorm dw (dx NULL)", dw.buf, dw.pre, gw, C);
        KC_GRAD("layernorm db (dx NULL)", db.buf, db.pre, gb, C);
        kc_gradbuf_reset(&dx);
        kc_gradbuf_reset(&db);
        ft_layernorm_backward(dx.buf, NULL, db.buf, r, x, w, mean, rstd, N, C);
        KC_GRAD("layernorm dx (dw NULL)", dx.buf, dx.pre, gx, N * C);
        KC_GRAD("layernorm db (dw NULL)", db.buf, db.pre, gb, C);
        kc_gradbuf_reset(&dw);
        ft_layernorm_backward(NULL, dw.buf, NULL, r, x, w, mean, rstd, N, C);
        KC_GRAD("layernorm dw (dx, db NULL)", dw.buf, dw.pre, gw, C);
        kc_gradbuf_reset(&dx);
        ft_layernorm_backward(dx.buf, NULL, NULL, r, x, w, mean, rstd, N, C);
        KC_GRAD("layernorm dx (dw, db NULL)", dx.buf, dx.pre, gx, N * C);
    }
    kc_gradbuf_free(&dx);
    kc_gradbuf_free(&dw);
    kc_gradbuf_free(&db);
    free(c.x), free(c.w), free(c.b), free(c.r);
    free(yw), free(mw), free(sw), free(gx), free(gw), free(gb);
    free(x), free(w), free(b), free(r), free(y), free(mean), free(rstd);
}

FT_TEST(test_layernorm) {
    norm_case(false, true, 0.0f);
    norm_case(false, false, 0.0f);
    norm_case(false, true, 3.0f); /* a mean far from 0 */
}

FT_TEST(test_rmsnorm) {
    norm_case(true, false, 0.0f);
    norm_case(true, false, 2.0f);
}

/* ------------------------------------------------------------------ activations */

static double ref_gelu_tanh(double x) {
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
static double ref_gelu_erf(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double ref_silu(double x) { return x / (1.0 + exp(-x)); }

typedef struct {
    const char *name;
    void (*fwd)(float *, const float *, int64_t);
    void (*bwd)(float *, const float *, const float *, int64_t);
    double (*ref)(double);
} act_def;

typedef struct {
    double (*f)(double);
    double *x, *r;
    int64_t n;
} act_ctx;
static double act_obj(void *p) {
    act_ctx *c = p;
    double s = 0.0;
    for (int64_t i = 0; i < c->n; i++)
        s += c->r[i] * c->f(c->x[i]);
    return s;
}

FT_TEST(test_activations) {
    static const act_def acts[] = {
        {"gelu_tanh", ft_gelu_tanh_forward, ft_gelu_tanh_backward, ref_gelu_tanh},
        {"gelu_erf", ft_gelu_erf_forward, ft_gelu_erf_backward, ref_gelu_erf},
        {"silu", ft_silu_forward, ft_silu_backward, ref_silu},
    };
    /* 200 values in [-6, 6] plus extremes where exp/tanh saturate (must not give NaN) */
    static const float extremes[] = {-100.0f, -88.5f, -30.0f, -1e-4f, 0.0f, 1e-4f, 30.0f, 100.0f};
    const int64_t nx = 8, n = 200 + nx;
    float *x = kc_falloc(n), *y = kc_falloc(n), *r = kc_falloc(n);
    kc_fill(x, 200, 30, -6.0f, 6.0f);
    memcpy(x + 200, extremes, sizeof extremes);
    kc_fill(r, n, 31, -1.0f, 1.0f);
    double *xd = kc_dalloc(n), *rd = kc_dalloc(n), *yw = kc_dalloc(n), *g = kc_dalloc(n);
    kc_to_double(xd, x, n);
    kc_to_double(rd, r, n);
    for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
        char what[64];
        for (int64_t i = 0; i < n; i++)
            yw[i] = acts[a].ref(xd[i]);
        acts[a].fwd(y, x, n);
        snprintf(what, sizeof what, "%s y", acts[a].name);
        KC_CLOSE(what, y, yw, n, KC_FWD_TOL);
        /* near zero the outputs are tiny: check those relative to themselves too (x·Φ(x) ≈ x/2) */
        FT_CHECKF(fabs((double)y[203] - yw[203]) <= 1e-6 * fabs(yw[203]), "%s(-1e-4) = %.9g want %.9g",
                  acts[a].name, (double)y[203], yw[203]);
        /* in place (y aliasing x) gives the same */
        float *xi = kc_falloc(n);
        memcpy(xi, x, (size_t)n * sizeof(float));
        acts[a].fwd(xi, xi, n);
        FT_CHECKF(memcmp(xi, y, (size_t)n * sizeof(float)) == 0, "%s in place differs", acts[a].name);
        free(xi);

        act_ctx c = {acts[a].ref, xd, rd, n};
        kc_fd(g, xd, n, act_obj, &c);
        kc_gradbuf dx = kc_gradbuf_new(n, 7);
        acts[a].bwd(dx.buf, r, x, n);
        snprintf(what, sizeof what, "%s dx", acts[a].name);
        KC_GRAD(what, dx.buf, dx.pre, g, n);
        for (int64_t i = 0; i < n; i++)
            FT_CHECKF(isfinite(y[i]) && isfinite(dx.buf[i]), "%s at x=%g: y=%g dx=%g", acts[a].name, (double)x[i],
                      (double)y[i], (double)dx.buf[i]);
        kc_gradbuf_free(&dx);
    }
    free(x), free(y), free(r), free(xd), free(rd), free(yw), free(g);
}

typedef struct {
    double *gate, *up, *r;
    int64_t n;
} swiglu_ctx;
static double swiglu_obj(void *p) {
    swiglu_ctx *c = p;
    double s = 0.0;
    for (int64_t i = 0; i < c->n; i++)
        s += c->r[i] * ref_silu(c->gate[i]) * c->up[i];
    return s;
}

FT_TEST(test_swiglu) {
    const int64_t n = 150;
    float *gate = kc_falloc(n), *up = kc_falloc(n), *r = kc_falloc(n), *h = kc_falloc(n);
    kc_fill(gate, n, 40, -6.0f, 6.0f);
    gate[0] = -100.0f, gate[1] = 100.0f;
    kc_fill(up, n, 41, -2.0f, 2.0f);
    kc_fill(r, n, 42, -1.0f, 1.0f);
    swiglu_ctx c = {kc_dalloc(n), kc_dalloc(n), kc_dalloc(n), n};
    kc_to_double(c.gate, gate, n);
    kc_to_double(c.up, up, n);
    kc_to_double(c.r, r, n);
    double *hw = kc_dalloc(n), *gg = kc_dalloc(n), *gu = kc_dalloc(n);
    for (int64_t i = 0; i < n; i++)
        hw[i] = ref_silu(c.gate[i]) * c.up[i];
    ft_swiglu_forward(h, gate, up, n);
    KC_CLOSE("swiglu h", h, hw, n, KC_FWD_TOL);
    kc_fd(gg, c.gate, n, swiglu_obj, &c);
    kc_fd(gu, c.up, n, swiglu_obj, &c);
    kc_gradbuf dg = kc_gradbuf_new(n, 8), du = kc_gradbuf_new(n, 9);
    ft_swiglu_backward(dg.buf, du.buf, r, gate, up, n);
    KC_GRAD("swiglu dgate", dg.buf, dg.pre, gg, n);
    KC_GRAD("swiglu dup", du.buf, du.pre, gu, n);
    kc_gradbuf_reset(&dg);
    ft_swiglu_backward(dg.buf, NULL, r, gate, up, n);
    KC_GRAD("swiglu dgate (dup NULL)", dg.buf, dg.pre, gg, n);
    kc_gradbuf_reset(&du);
    ft_swiglu_backward(NULL, du.buf, r, gate, up, n);
    KC_GRAD("swiglu dup (dgate NULL)", du.buf, du.pre, gu, n);
    kc_gradbuf_free(&dg);
    kc_gradbuf_free(&du);
    free(c.gate), free(c.up), free(c.r), free(hw), free(gg), free(gu);
    free(gate), free(up), free(r), free(h);
}

/* ------------------------------------------------------------------ softmax */

typedef struct {
    double *x, *r;
    int64_t N, C;
} sm_ctx;
/* y = exp(x − max) / Σ exp(x − max), in double */
static void softmax_ref(const double *x, double *y, int64_t N, int64_t C) {
    for (int64_t n = 0; n < N; n++) {
        double mx = -INFINITY, s = 0.0;
        for (int64_t j = 0; j < C; j++)
            mx = fmax(mx, x[n * C + j]);
        for (int64_t j = 0; j < C; j++)
            s += exp(x[n * C + j] - mx);
        for (int64_t j = 0; j < C; j++)
            y[n * C + j] = exp(x[n * C + j] - mx) / s;
    }
}
static double sm_obj(void *p) {
    sm_ctx *c = p;
    double y[128];
    softmax_ref(c->x, y, c->N, c->C);
    return kc_dot(c->r, y, c->N * c->C);
}

FT_TEST(test_softmax) {
    const int64_t N = 6, C = 13;
    float *x = kc_falloc(N * C), *y = kc_falloc(N * C), *r = kc_falloc(N * C);
    kc_fill(x, N * C, 50, -5.0f, 5.0f);
    for (int64_t j = 0; j < C; j++) {
        x[3 * C + j] += 1000.0f;                           /* exp(1000) overflows without the max shift */
        x[4 * C + j] -= 1000.0f;                           /* and exp(−1000) underflows */
        x[5 * C + j] = j % 2 ? 3e4f + (float)j : -3e4f; /* huge spread: half the row is exactly 0 */
    }
    kc_fill(r, N * C, 51, -1.0f, 1.0f);
    sm_ctx c = {kc_dalloc(N * C), kc_dalloc(N * C), N, C};
    kc_to_double(c.x, x, N * C);
    kc_to_double(c.r, r, N * C);
    double *yw = kc_dalloc(N * C), *g = kc_dalloc(N * C);
    softmax_ref(c.x, yw, N, C);
    ft_softmax_forward(y, x, N, C);
    /* per row: a softmax row sums to 1, so the max-normalized check is a relative check per row */
    KC_CLOSE("softmax y", y, yw, N * C, KC_FWD_TOL);
    for (int64_t i = 0; i < N * C; i++)
        FT_CHECKF(isfinite(y[i]), "softmax y[%lld] = %g", (long long)i, (double)y[i]);
    kc_fd(g, c.x, N * C, sm_obj, &c);
    kc_gradbuf dx = kc_gradbuf_new(N * C, 10);
    ft_softmax_backward(dx.buf, r, y, N, C);
    KC_GRAD("softmax dx", dx.buf, dx.pre, g, N * C);
    kc_gradbuf_free(&dx);
    free(c.x), free(c.r), free(yw), free(g), free(x), free(y), free(r);
}

/* ------------------------------------------------------------------ embedding */

typedef struct {
    double *table, *pos_table, *r;
    const int32_t *ids, *pos;
    int64_t N, C;
} emb_ctx;
static double emb_obj(void *p) {
    emb_ctx *c = p;
    double s = 0.0;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t j = 0; j < c->C; j++)
            s += c->r[n * c->C + j] * (c->table[(int64_t)c->ids[n] * c->C + j] +
                                       (c->pos_table ? c->pos_table[(int64_t)c->pos[n] * c->C + j] : 0.0));
    return s;
}

FT_TEST(test_embedding) {
    /* C = 70 spans two of the backward's 64-column blocks; ids repeat (gradients must add up) */
    const int64_t V = 7, P = 10, N = 9, C = 70;
    static const int32_t ids[] = {3, 1, 3, 6, 0, 3, 2, 1, 5};
    static const int32_t pos[] = {0, 1, 2, 3, 4, 0, 1, 9, 2};
    float *table = kc_falloc(V * C), *ptab = kc_falloc(P * C), *r = kc_falloc(N * C), *y = kc_falloc(N * C);
    kc_fill(table, V * C, 60, -1.0f, 1.0f);
    kc_fill(ptab, P * C, 61, -1.0f, 1.0f);
    kc_fill(r, N * C, 62, -1.0f, 1.0f);
    emb_ctx c = {kc_dalloc(V * C), kc_dalloc(P * C), kc_dalloc(N * C), ids, pos, N, C};
    kc_to_double(c.table, table, V * C);
    kc_to_double(c.pos_table, ptab, P * C);
    kc_to_double(c.r, r, N * C);
    double *yw = kc_dalloc(N * C), *gt = kc_dalloc(V * C), *gp = kc_dalloc(P * C);
    for (int64_t n = 0; n < N; n++)
        for (int64_t j = 0; j < C; j++)
            yw[n * C + j] = c.table[ids[n] * C + j] + c.pos_table[pos[n] * C + j];
    ft_embedding_forward(y, table, ids, ptab, pos, N, C);
    KC_CLOSE("embedding y (with positions)", y, yw, N * C, 1e-7); /* one fp32 add: ≤ 2^-24 relative */
    ft_embedding_forward(y, table, ids, NULL, NULL, N, C);
    int same = 1;
    for (int64_t n = 0; n < N; n++)
        same &= memcmp(y + n * C, table + ids[n] * C, (size_t)C * sizeof(float)) == 0;
    FT_CHECKF(same, "embedding without positions must copy rows exactly");

    kc_fd(gt, c.table, V * C, emb_obj, &c);
    kc_fd(gp, c.pos_table, P * C, emb_obj, &c);
    kc_gradbuf dt = kc_gradbuf_new(V * C, 11), dp = kc_gradbuf_new(P * C, 12);
    ft_embedding_backward(dt.buf, r, ids, N, C, -1);
    ft_embedding_backward(dp.buf, r, pos, N, C, -1);
    KC_GRAD("embedding dtable", dt.buf, dt.pre, gt, V * C);
    KC_GRAD("embedding dpos_table", dp.buf, dp.pre, gp, P * C);
    /* padding_idx = 3: that row gets no gradient (nn.Embedding(padding_idx=3)), others unchanged */
    kc_gradbuf_reset(&dt);
    ft_embedding_backward(dt.buf, r, ids, N, C, 3);
    for (int64_t j = 0; j < C; j++)
        gt[3 * C + j] = 0.0;
    KC_GRAD("embedding dtable (padding_idx 3)", dt.buf, dt.pre, gt, V * C);
    FT_CHECK(memcmp(dt.buf + 3 * C, dt.pre + 3 * C, (size_t)C * sizeof(float)) == 0);
    kc_gradbuf_free(&dt);
    kc_gradbuf_free(&dp);
    free(c.table), free(c.pos_table), free(c.r), free(yw), free(gt), free(gp);
    free(table), free(ptab), free(r), free(y);
}

/* ------------------------------------------------------------------ cross-entropy */

typedef struct {
    double *logits;
    const int32_t *targets;
    int64_t N, V;
    double scale;
} ce_ctx;
/* Σ over kept rows of logsumexp(x) − x[target], times scale */
static double ce_ref(const double *x, const int32_t *t, int64_t N, int64_t V, int64_t *count) {
    double total = 0.0;
    int64_t cnt = 0;
    for (int64_t n = 0; n < N; n++) {
        if (t[n] == -100)
            continue;
        double mx = -INFINITY, s = 0.0;
        for (int64_t j = 0; j < V; j++)
            mx = fmax(mx, x[n * V + j]);
        for (int64_t j = 0; j < V; j++)
            s += exp(x[n * V + j] - mx);
        total += mx + log(s) - x[n * V + t[n]];
        cnt++;
    }
    if (count)
        *count = cnt;
    return total;
}
static double ce_obj(void *p) {
    ce_ctx *c = p;
    return c->scale * ce_ref(c->logits, c->targets, c->N, c->V, NULL);
}

FT_TEST(test_cross_entropy) {
    const int64_t N = 7, V = 11;
    static const int32_t targets[] = {3, -100, 0, 10, -100, 5, 7};
    float *logits = kc_falloc(N * V), *dl = kc_falloc(N * V);
    kc_fill(logits, N * V, 70, -4.0f, 4.0f);
    ce_ctx c = {kc_dalloc(N * V), targets, N, V, 0.2};
    kc_to_double(c.logits, logits, N * V);
    int64_t cnt = -1, cnt_ref = 0;
    double loss = ft_cross_entropy_forward(logits, targets, N, V, &cnt);
    double want = ce_ref(c.logits, targets, N, V, &cnt_ref);
    FT_CHECK(cnt == 5 && cnt_ref == 5);
    FT_CHECK_NEAR(loss, want, 1e-6 * fabs(want));
    double *g = kc_dalloc(N * V);
    kc_fd(g, c.logits, N * V, ce_obj, &c);
    for (int64_t i = 0; i < N * V; i++)
        dl[i] = NAN; /* "writes": ignored rows must become 0, not keep old contents */
    ft_cross_entropy_backward(dl, logits, targets, N, V, 0.2f);
    KC_CLOSE("cross-entropy dlogits", dl, g, N * V, KC_BWD_TOL);
    for (int64_t j = 0; j < V; j++)
        FT_CHECK(dl[1 * V + j] == 0.0f && dl[4 * V + j] == 0.0f);
    /* dlogits may alias logits */
    float *alias = kc_falloc(N * V);
    memcpy(alias, logits, (size_t)(N * V) * sizeof(float));
    ft_cross_entropy_backward(alias, alias, targets, N, V, 0.2f);
    FT_CHECK(memcmp(alias, dl, (size_t)(N * V) * sizeof(float)) == 0);
    free(alias);

    /* all rows ignored: zero loss, zero count */
    static const int32_t none[] = {-100, -100, -100, -100, -100, -100, -100};
    FT_CHECK(ft_cross_entropy_forward(logits, none, N, V, &cnt) == 0.0 && cnt == 0);

    /* extreme logits: no NaN or Inf; the loss of a target 2e30 below the max is 2e30 */
    float ex[3 * 4] = {1e30f, -1e30f, 0.0f, 5.0f,     /* target 1: loss ≈ 2e30 */
                       88.0f, 89.0f, -88.0f, 3e38f,   /* target 3: loss ≈ 0 */
                       -1e4f, -1e4f, -1e4f, -1e4f}; /* uniform at −1e4: loss = log 4 */
    static const int32_t ext[] = {1, 3, 2};
    double l = ft_cross_entropy_forward(ex, ext, 3, 4, &cnt);
    FT_CHECKF(isfinite(l) && fabs(l - 2e30) <= 1e-6 * 2e30, "extreme-logit loss %g", l);
    double l2 = ft_cross_entropy_forward(ex + 4, ext + 1, 2, 4, &cnt);
    FT_CHECK_NEAR(l2, log(4.0), 1e-6);
    float dex[12];
    ft_cross_entropy_backward(dex, ex, ext, 3, 4, 1.0f);
    static const float dwant[12] = {1, -1, 0, 0, 0, 0, 0, 0, 0.25f, 0.25f, -0.75f, 0.25f};
    for (int i = 0; i < 12; i++)
        FT_CHECKF(isfinite(dex[i]) && fabsf(dex[i] - dwant[i]) <= 1e-6f, "extreme dlogits[%d] = %g want %g", i,
                  (double)dex[i], (double)dwant[i]);
    free(c.logits), free(g), free(logits), free(dl);
}

/* ------------------------------------------------------------------ dropout */

FT_TEST(test_dropout) {
    const int64_t n = 100000;
    float *x = kc_falloc(n), *y = kc_falloc(n), *y2 = kc_falloc(n), *dy = kc_falloc(n);
    kc_fill(x, n, 80, 1.0f, 2.0f); /* nonzero everywhere, so y == 0 means dropped */
    kc_fill(dy, n, 81, 1.0f, 2.0f);
    /* p = 0: identity forward and backward */
    ft_dropout_forward(y, x, n, 0.0f, 1, 2);
    FT_CHECK(memcmp(y, x, (size_t)n * sizeof(float)) == 0);
    kc_gradbuf dx = kc_gradbuf_new(n, 13);
    ft_dropout_backward(dx.buf, dy, n, 0.0f, 1, 2);
    int ok = 1;
    for (int64_t i = 0; i < n; i++)
        ok &= dx.buf[i] == dx.pre[i] + dy[i];
    FT_CHECKF(ok, "p=0 backward must add dy");

    /* p = 0.3: ~70% kept, kept ones scaled by 1/0.7. The kept count is Binomial(1e5, 0.7): σ ≈ 145,
     * so ±600 is > 4σ (and the data are fixed, so the test is deterministic anyway). */
    const float p = 0.3f;
    ft_dropout_forward(y, x, n, p, 42, 5);
    int64_t kept = 0;
    ok = 1;
    for (int64_t i = 0; i < n; i++) {
        if (y[i] != 0.0f) {
            kept++;
            ok &= fabs((double)y[i] - (double)x[i] / 0.7) <= 2e-7 * (double)x[i];
        }
    }
    FT_CHECKF(llabs(kept - 70000) <= 600, "kept %lld of 100000", (long long)kept);
    FT_CHECKF(ok, "kept values must be x/0.7");
    ft_dropout_forward(y2, x, n, p, 42, 5);
    FT_CHECK(memcmp(y, y2, (size_t)n * sizeof(float)) == 0); /* same seed, stream: same mask */
    int64_t differ = 0, differ_seed = 0;
    ft_dropout_forward(y2, x, n, p, 42, 6);
    for (int64_t i = 0; i < n; i++)
        differ += (y[i] == 0.0f) != (y2[i] == 0.0f);
    ft_dropout_forward(y2, x, n, p, 43, 5);
    for (int64_t i = 0; i < n; i++)
        differ_seed += (y[i] == 0.0f) != (y2[i] == 0.0f);
    /* independent masks disagree with probability 2·0.3·0.7 = 0.42 */
    FT_CHECKF(differ > 38000 && differ_seed > 38000, "masks differ in %lld / %lld places", (long long)differ,
              (long long)differ_seed);
    /* in place */
    memcpy(y2, x, (size_t)n * sizeof(float));
    ft_dropout_forward(y2, y2, n, p, 42, 5);
    FT_CHECK(memcmp(y, y2, (size_t)n * sizeof(float)) == 0);
    /* backward: the same mask, dx += dy/0.7 where kept */
    kc_gradbuf_reset(&dx);
    ft_dropout_backward(dx.buf, dy, n, p, 42, 5);
    ok = 1;
    for (int64_t i = 0; i < n; i++) {
        double want = y[i] != 0.0f ? (double)dy[i] / 0.7 : 0.0;
        ok &= fabs((double)dx.buf[i] - (double)dx.pre[i] - want) <= 1e-6;
    }
    FT_CHECKF(ok, "dropout backward must use the forward's mask and scale");
    /* p = 1 drops everything without NaN (1/(1−p) is inf but never multiplied) */
    ft_dropout_forward(y2, x, 1000, 1.0f, 42, 5);
    ok = 1;
    for (int64_t i = 0; i < 1000; i++)
        ok &= y2[i] == 0.0f;
    FT_CHECKF(ok, "p=1 must drop everything");
    kc_gradbuf_free(&dx);
    free(x), free(y), free(y2), free(dy);
}

/* Dropout keyed on (example, position, channel): with row0 = pad = 0 it draws ft_dropout_forward's counters;
 * a shard (rows 2..3 of 4, padded to its own 5 positions where the whole batch has 8) draws, for each of its
 * elements, the whole batch's decision at that example, position and channel; the backward adds dy/(1−p)
 * exactly where the forward kept. A shard keyed as a batch of its own draws other masks (the test can fail).
 */
FT_TEST(test_dropout_rows) {
    const int64_t B = 4, Tw = 8, C = 37, Ts = 5, row0 = 2, Bs = 2, nw = B * Tw * C, ns = Bs * Ts * C;
    const float p = 0.4f;
    float *x = kc_falloc(nw), *yw = kc_falloc(nw), *yf = kc_falloc(nw), *xs = kc_falloc(ns),
          *ys = kc_falloc(ns), *dy = kc_falloc(ns);
    kc_fill(x, nw, 82, 1.0f, 2.0f); /* nonzero: y == 0 means dropped */
    kc_fill(dy, ns, 83, 1.0f, 2.0f);
    ft_dropout_rows_forward(yw, x, B * Tw, C, p, 42, 7, (ft_drop_rows){0, Tw, 0});
    ft_dropout_forward(yf, x, nw, p, 42, 7);
    FT_CHECKF(memcmp(yw, yf, (size_t)nw * sizeof(float)) == 0, "row0 = pad = 0 must keep the flat counters");
    for (int64_t b = 0; b < Bs; b++) /* the shard: rows row0.., positions 0..Ts−1 */
        memcpy(xs + b * Ts * C, x + (row0 + b) * Tw * C, (size_t)(Ts * C) * sizeof(float));
    ft_dropout_rows_forward(ys, xs, Bs * Ts, C, p, 42, 7, (ft_drop_rows){row0, Ts, Tw - Ts});
    int same = 1, dropped = 0;
    for (int64_t b = 0; b < Bs; b++)
        for (int64_t i = 0; i < Ts * C; i++) {
            same &= ys[b * Ts * C + i] == yw[(row0 + b) * Tw * C + i];
            dropped += ys[b * Ts * C + i] == 0.0f;
        }
    FT_CHECKF(same, "a shard's masks must be the whole batch's at the same example, position, channel");
    FT_CHECKF(dropped > ns / 5 && dropped < ns * 3 / 5, "dropped %d of %lld", dropped, (long long)ns);
    kc_gradbuf dx = kc_gradbuf_new(ns, 14);
    ft_dropout_rows_backward(dx.buf, dy, Bs * Ts, C, p, 42, 7, (ft_drop_rows){row0, Ts, Tw - Ts});
    int ok = 1;
    for (int64_t i = 0; i < ns; i++)
        ok &=
            fabs((double)dx.buf[i] - (double)dx.pre[i] - (ys[i] != 0.0f ? (double)dy[i] / 0.6 : 0.0)) <= 1e-6;
    FT_CHECKF(ok, "the backward must add dy/(1-p) where the forward kept, nothing elsewhere");
    ft_dropout_rows_forward(ys, xs, Bs * Ts, C, p, 42, 7, (ft_drop_rows){0, Ts, 0});
    int differ = 0;
    for (int64_t b = 0; b < Bs; b++)
        for (int64_t i = 0; i < Ts * C; i++)
            differ += (ys[b * Ts * C + i] == 0.0f) != (yw[(row0 + b) * Tw * C + i] == 0.0f);
    FT_CHECKF(differ > ns / 4, "a shard keyed as its own batch must draw other masks (%d differ)", differ);
    kc_gradbuf_free(&dx);
    free(x), free(yw), free(yf), free(xs), free(ys), free(dy);
}

/* ------------------------------------------------------------------ AdamW */

typedef struct {
    double lr, beta1, beta2, eps, wd;
} adamw_hp;

/* torch.optim.AdamW (single-tensor path): p ← p·(1 − lr·wd); m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²;
 * p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps). All in double. */
static void adamw_ref(double *p, const double *g, double *m, double *v, int64_t n, adamw_hp h, int64_t t) {
    double bc1 = 1.0 - pow(h.beta1, (double)t), bc2 = 1.0 - pow(h.beta2, (double)t);
    for (int64_t i = 0; i < n; i++) {
        p[i] *= 1.0 - h.lr * h.wd;
        m[i] = h.beta1 * m[i] + (1.0 - h.beta1) * g[i];
        v[i] = h.beta2 * v[i] + (1.0 - h.beta2) * g[i] * g[i];
        p[i] -= h.lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + h.eps);
    }
}

static void adamw_case(float lr, float b1, float b2, float eps, float wd, float gscale, int64_t steps) {
    const int64_t n = 64;
    float *p = kc_falloc(n), *g = kc_falloc(n), *m = kc_falloc(n), *v = kc_falloc(n);
    double *pd = kc_dalloc(n), *gd = kc_dalloc(n), *md = kc_dalloc(n), *vd = kc_dalloc(n);
    /* the kernel takes fp32 hyper-parameters: the reference uses exactly those values */
    adamw_hp h = {lr, b1, b2, eps, wd};
    kc_fill(p, n, 90, -1.0f, 1.0f);
    kc_to_double(pd, p, n);
    for (int64_t t = 1; t <= steps; t++) {
        kc_fill_normal(g, n, 100 + (uint64_t)t, gscale);
        g[0] = 0.0f; /* a parameter whose gradient is always 0: only decay moves it */
        kc_to_double(gd, g, n);
        ft_adamw_step(p, g, m, v, n, lr, b1, b2, eps, wd, t);
        adamw_ref(pd, gd, md, vd, n, h, t);
    }
    /* Each step rounds p (|p| ≤ 1) to fp32 (≤ 6e-8) and computes an update of size ~lr with ~1e-6
     * relative error, so after ≤ 10 steps |Δp| ≲ 1e-6; a wrong formula (eps inside the root, coupled
     * decay, no bias correction) changes p by O(lr·something) ≥ 1e-4 in these configurations. */
    char what[96];
    snprintf(what, sizeof what, "adamw p (lr %g, eps %g, wd %g)", (double)lr, (double)eps, (double)wd);
    KC_CLOSE(what, p, pd, n, 1e-6);
    KC_CLOSE("adamw m", m, md, n, 1e-6);
    KC_CLOSE("adamw v", v, vd, n, 1e-5); /* v ∝ g² sums ≤ 10 fp32 terms of different sizes */
    free(p), free(g), free(m), free(v), free(pd), free(gd), free(md), free(vd);
}

FT_TEST(test_adamw) {
    adamw_case(1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 1.0f, 6);  /* defaults-like */
    adamw_case(1e-3f, 0.8f, 0.99f, 1e-3f, 0.0f, 1e-3f, 5);  /* eps comparable to √v: placement matters */
    adamw_case(1e-1f, 0.9f, 0.95f, 1e-6f, 0.5f, 0.1f, 10); /* strong decoupled decay */
    /* first step from zero moments moves every parameter with g ≠ 0 by ≈ lr·sign(g) (bias correction) */
    float p[4] = {0.5f, 0.5f, 0.5f, 0.5f}, g[4] = {3.0f, -0.01f, 1e-4f, 0.0f}, m[4] = {0}, v[4] = {0};
    ft_adamw_step(p, g, m, v, 4, 0.01f, 0.9f, 0.999f, 1e-8f, 0.0f, 1);
    FT_CHECK_NEAR(p[0], 0.49, 1e-6);
    FT_CHECK_NEAR(p[1], 0.51, 1e-6);
    FT_CHECK_NEAR(p[2], 0.49, 1e-5); /* 1e-4 / (1e-4 + 1e-8): eps shifts it by 1e-4 relative */
    FT_CHECK(p[3] == 0.5f);
}

/* ------------------------------------------------------------------ helpers */

FT_TEST(test_vector_helpers) {
    const int64_t n = 1001;
    float *x = kc_falloc(n), *y = kc_falloc(n), *y0 = kc_falloc(n);
    kc_fill(x, n, 110, -2.0f, 2.0f);
    kc_fill(y0, n, 111, -2.0f, 2.0f);
    memcpy(y, y0, (size_t)n * sizeof(float));
    ft_add_inplace(y, x, n);
    int ok = 1;
    for (int64_t i = 0; i < n; i++)
        ok &= y[i] == y0[i] + x[i];
    FT_CHECK(ok);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * (double)x[i];
    FT_CHECK_NEAR(ft_sum_sq(x, n), s, 1e-12 * s);
    memcpy(y, x, (size_t)n * sizeof(float));
    ft_scale_inplace(y, n, -0.37f);
    ok = 1;
    for (int64_t i = 0; i < n; i++)
        ok &= y[i] == x[i] * -0.37f;
    FT_CHECK(ok);
    free(x), free(y), free(y0);
}

/* ------------------------------------------------------------------ AdamW driver for adamw_torch.sh */

/* FILE: "n steps lr beta1 beta2 eps wd", then n initial params, then steps·n gradients; prints the
 * final params, one per line. */
static int adamw_driver(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "adamw driver: cannot open %s\n", path);
        return 2;
    }
    long long n, steps;
    float lr, b1, b2, eps, wd;
    if (fscanf(f, "%lld %lld %f %f %f %f %f", &n, &steps, &lr, &b1, &b2, &eps, &wd) != 7 || n <= 0 || n > 100000 ||
        steps <= 0 || steps > 1000) {
        fprintf(stderr, "adamw driver: %s: bad header\n", path);
        fclose(f);
        return 2;
    }
    float *p = kc_falloc(n), *g = kc_falloc(n), *m = kc_falloc(n), *v = kc_falloc(n);
    int rc = 0;
    for (long long i = 0; i < n && rc == 0; i++)
        if (fscanf(f, "%f", &p[i]) != 1)
            rc = 2;
    for (long long t = 1; t <= steps && rc == 0; t++) {
        for (long long i = 0; i < n && rc == 0; i++)
            if (fscanf(f, "%f", &g[i]) != 1)
                rc = 2;
        if (rc == 0)
            ft_adamw_step(p, g, m, v, n, lr, b1, b2, eps, wd, t);
    }
    if (rc)
        fprintf(stderr, "adamw driver: %s: truncated\n", path);
    else
        for (long long i = 0; i < n; i++)
            printf("%.9g\n", (double)p[i]);
    fclose(f);
    free(p), free(g), free(m), free(v);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--adamw-driver") == 0)
        return adamw_driver(argv[2]);
    FT_RUN(test_gemm);
    FT_RUN(test_linear);
    FT_RUN(test_layernorm);
    FT_RUN(test_rmsnorm);
    FT_RUN(test_activations);
    FT_RUN(test_swiglu);
    FT_RUN(test_softmax);
    FT_RUN(test_embedding);
    FT_RUN(test_cross_entropy);
    FT_RUN(test_dropout);
    FT_RUN(test_dropout_rows);
    FT_RUN(test_adamw);
    FT_RUN(test_vector_helpers);
    FT_DONE();
}
