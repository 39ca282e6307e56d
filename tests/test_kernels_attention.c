/* Attention and RoPE kernel tests: fp32 forward (the probs kernel and the tiled lse kernel) against a
 * double-precision scalar reference written from kernels.h, backward against central finite
 * differences of that reference on L = Σ r ⊙ out.
 * Attention layouts: GPT-2 fused qkv rows (q_stride = kv_stride = 3·H·D, k and v at column offsets),
 * a Llama-style fused row with fewer KV heads, and separate q/k/v buffers; masks: causal, padding,
 * rows with no visible key; GQA with H/Hkv = 1, 2, 3; dropout with the kernel's mask.
 * Tolerances: see kernel_check.h. */
#include <stdbool.h>

#include "kernel_check.h"
#include "kernels/kernels.h"

/* ------------------------------------------------------------------ attention */

typedef struct {
    const char *name;
    ft_attn_shape s;
    bool fused;           /* one buffer per row: [q (H·D) | k (Hkv·D) | v (Hkv·D)] */
    const int32_t *mask;  /* [B·T] or NULL */
} attn_cfg;

/* Sizes of the q/k/v storage and the column offsets of k and v inside it. */
typedef struct {
    int64_t rows, nq, nk, nv, koff, voff;
} attn_layout;
static attn_layout attn_layout_of(const attn_cfg *c) {
    const ft_attn_shape *s = &c->s;
    attn_layout l = {(int64_t)s->B * s->T, 0, 0, 0, 0, 0};
    if (c->fused) {
        l.nq = l.rows * s->q_stride;
        l.koff = (int64_t)s->H * s->D;
        l.voff = l.koff + (int64_t)s->Hkv * s->D;
    } else {
        l.nq = l.rows * s->q_stride;
        l.nk = l.rows * s->kv_stride;
        l.nv = l.rows * s->kv_stride;
    }
    return l;
}

/* keep[((b·H + h)·T + t)·T + j] = 1/(1−p) if uniform(seed, stream, that index) ≥ p else 0 (1 if p = 0):
 * the kernel's documented index rule, rebuilt here from the RNG. */
static double *attn_keep(const ft_attn_shape *s, int64_t *dropped) {
    const int64_t n = (int64_t)s->B * s->H * s->T * s->T;
    double *keep = kc_dalloc(n);
    *dropped = 0;
    for (int64_t i = 0; i < n; i++) {
        if (s->dropout <= 0.0f) {
            keep[i] = 1.0;
        } else if (ft_rng_uniform(s->seed, s->stream, (uint64_t)i) >= s->dropout) {
            keep[i] = 1.0 / (1.0 - (double)s->dropout);
        } else {
            keep[i] = 0.0;
            (*dropped)++;
        }
    }
    return keep;
}

/* P[b,h,t,:] = softmax over visible keys j (causal: j ≤ t; mask[b,j] ≠ 0) of scale·q_t·k_j,
 * with k, v from KV head h / (H/Hkv); out[b,t,h,:] = Σ_j P·keep·v_j; no visible key: P = 0, out = 0. */
typedef struct {
    const attn_cfg *c;
    const double *q, *k, *v, *keep, *r;
} attn_ctx;
static void attn_ref_lse(const attn_ctx *a, double *out, double *probs, double *lse) {
    const ft_attn_shape *s = &a->c->s;
    const int B = s->B, T = s->T, H = s->H, D = s->D, rep = s->H / s->Hkv;
    double logit[64];
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const int g = h / rep;
                const double *qr = a->q + ((int64_t)b * T + t) * s->q_stride + h * D;
                double mx = -INFINITY;
                for (int j = 0; j < T; j++) {
                    bool vis = !(s->causal && j > t) && (!a->c->mask || a->c->mask[b * T + j] != 0);
                    logit[j] = -INFINITY;
                    if (!vis)
                        continue;
                    const double *kr = a->k + ((int64_t)b * T + j) * s->kv_stride + g * D;
                    double dot = 0.0;
                    for (int d = 0; d < D; d++)
                        dot += qr[d] * kr[d];
                    logit[j] = dot * (double)s->scale;
                    mx = fmax(mx, logit[j]);
                }
                double sum = 0.0;
                for (int j = 0; j < T; j++)
                    sum += logit[j] == -INFINITY ? 0.0 : exp(logit[j] - mx);
                if (lse) /* ln Σ e^{logit} over visible keys; −∞ when there is none */
                    lse[((int64_t)b * H + h) * T + t] = mx == -INFINITY ? -INFINITY : mx + log(sum);
                double *orow = out + ((int64_t)b * T + t) * H * D + h * D;
                for (int d = 0; d < D; d++)
                    orow[d] = 0.0;
                for (int j = 0; j < T; j++) {
                    double p = logit[j] == -INFINITY ? 0.0 : exp(logit[j] - mx) / sum;
                    int64_t idx = (((int64_t)b * H + h) * T + t) * T + j;
                    if (probs)
                        probs[idx] = p;
                    const double *vr = a->v + ((int64_t)b * T + j) * s->kv_stride + g * D;
                    for (int d = 0; d < D; d++)
                        orow[d] += p * a->keep[idx] * vr[d];
                }
            }
}
static void attn_ref(const attn_ctx *a, double *out, double *probs) { attn_ref_lse(a, out, probs, NULL); }
static double attn_obj(void *p) {
    attn_ctx *a = p;
    const ft_attn_shape *s = &a->c->s;
    const int64_t n = (int64_t)s->B * s->T * s->H * s->D;
    double *out = kc_dalloc(n);
    attn_ref(a, out, NULL);
    double l = kc_dot(a->r, out, n);
    free(out);
    return l;
}

static void attention_case(const attn_cfg *c) {
    const ft_attn_shape *s = &c->s;
    const attn_layout l = attn_layout_of(c);
    const int64_t nout = l.rows * s->H * s->D, np = (int64_t)s->B * s->H * s->T * s->T;
    char what[128];
    /* storage: fused → one buffer; separate → three */
    float *qf = kc_falloc(l.nq), *kf = c->fused ? qf + l.koff : kc_falloc(l.nk),
          *vf = c->fused ? qf + l.voff : kc_falloc(l.nv);
    kc_fill_normal(qf, l.nq, 200, 1.2f);
    if (!c->fused) {
        kc_fill_normal(kf, l.nk, 201, 1.2f);
        kc_fill_normal(vf, l.nv, 202, 1.0f);
    }
    float *out = kc_falloc(nout), *probs = kc_falloc(np), *r = kc_falloc(nout);
    kc_fill(r, nout, 203, -1.0f, 1.0f);
    double *qd = kc_dalloc(l.nq), *kd = c->fused ? qd + l.koff : kc_dalloc(l.nk),
           *vd = c->fused ? qd + l.voff : kc_dalloc(l.nv);
    kc_to_double(qd, qf, l.nq);
    if (!c->fused) {
        kc_to_double(kd, kf, l.nk);
        kc_to_double(vd, vf, l.nv);
    }
    int64_t dropped;
    double *keep = attn_keep(s, &dropped), *rd = kc_dalloc(nout);
    kc_to_double(rd, r, nout);
    if (s->dropout > 0.0f) /* the mask must actually drop something for the test to mean anything */
        FT_CHECKF(dropped > np / 10, "%s: only %lld of %lld dropped", c->name, (long long)dropped, (long long)np);
    attn_ctx a = {c, qd, kd, vd, keep, rd};

    double *ow = kc_dalloc(nout), *pw = kc_dalloc(np);
    attn_ref(&a, ow, pw);
    for (int64_t i = 0; i < nout; i++)
        out[i] = NAN; /* forward writes out and probs */
    for (int64_t i = 0; i < np; i++)
        probs[i] = NAN;
    ft_attention_forward(out, probs, qf, kf, vf, c->mask, s);
    snprintf(what, sizeof what, "%s: out", c->name);
    KC_CLOSE(what, out, ow, nout, KC_FWD_TOL);
    snprintf(what, sizeof what, "%s: probs", c->name);
    KC_CLOSE(what, probs, pw, np, KC_FWD_TOL);
    /* invisible keys get exactly 0 probability; rows with no visible key output exact zeros */
    int exact = 1;
    for (int64_t i = 0; i < np; i++)
        exact &= pw[i] != 0.0 || probs[i] == 0.0f;
    for (int b = 0; b < s->B; b++)
        for (int t = 0; t < s->T; t++) {
            bool any = false;
            for (int j = 0; j < s->T; j++)
                any |= !(s->causal && j > t) && (!c->mask || c->mask[b * s->T + j] != 0);
            if (!any)
                for (int64_t e = 0; e < (int64_t)s->H * s->D; e++)
                    exact &= out[((int64_t)b * s->T + t) * s->H * s->D + e] == 0.0f;
        }
    FT_CHECKF(exact, "%s: masked probabilities / empty rows must be exact zeros", c->name);
    /* deterministic (same dropout mask on a second call) */
    float *out2 = kc_falloc(nout);
    ft_attention_forward(out2, probs, qf, kf, vf, c->mask, s);
    FT_CHECKF(memcmp(out, out2, (size_t)nout * sizeof(float)) == 0, "%s: forward not deterministic", c->name);
    free(out2);

    /* the tiled kernel: same output, lse against the reference's, exact zeros for empty rows */
    const int64_t nl = (int64_t)s->B * s->H * s->T;
    float *outl = kc_falloc(nout), *lse = kc_falloc(nl);
    double *lw = kc_dalloc(nl);
    attn_ref_lse(&a, ow, NULL, lw);
    for (int64_t i = 0; i < nout; i++)
        outl[i] = NAN;
    FT_CHECK_OK(ft_attention_forward_lse(outl, lse, qf, kf, vf, c->mask, s));
    snprintf(what, sizeof what, "%s: tiled out", c->name);
    KC_CLOSE(what, outl, ow, nout, KC_FWD_TOL);
    int lse_ok = 1;
    for (int64_t i = 0; i < nl; i++)
        lse_ok &= lw[i] == -INFINITY ? lse[i] == -INFINITY : fabs((double)lse[i] - lw[i]) <= 1e-5 * (1 + fabs(lw[i]));
    FT_CHECKF(lse_ok, "%s: tiled lse differs from the reference", c->name);
    exact = 1;
    for (int64_t i = 0; i < nout; i++)
        exact &= ow[i] != 0.0 || outl[i] == 0.0f;
    FT_CHECKF(exact, "%s: tiled output of rows with no visible key must be exact zeros", c->name);

    /* backward into pre-filled buffers laid out like q, k, v; the tiled backward checked alike */
    if (c->fused) {
        double *g = kc_dalloc(l.nq);
        kc_fd(g, qd, l.nq, attn_obj, &a);
        kc_gradbuf dqkv = kc_gradbuf_new(l.nq, 20);
        ft_attention_backward(dqkv.buf, dqkv.buf + l.koff, dqkv.buf + l.voff, r, probs, qf, kf, vf, c->mask, s);
        snprintf(what, sizeof what, "%s: d(fused qkv)", c->name);
        KC_GRAD(what, dqkv.buf, dqkv.pre, g, l.nq);
        kc_gradbuf_reset(&dqkv);
        FT_CHECK_OK(ft_attention_backward_lse(dqkv.buf, dqkv.buf + l.koff, dqkv.buf + l.voff, r, outl, lse, qf, kf,
                                              vf, c->mask, s));
        snprintf(what, sizeof what, "%s: tiled d(fused qkv)", c->name);
        KC_GRAD(what, dqkv.buf, dqkv.pre, g, l.nq);
        kc_gradbuf_free(&dqkv);
        free(g);
    } else {
        double *gq = kc_dalloc(l.nq), *gk = kc_dalloc(l.nk), *gv = kc_dalloc(l.nv);
        kc_fd(gq, qd, l.nq, attn_obj, &a);
        kc_fd(gk, kd, l.nk, attn_obj, &a);
        kc_fd(gv, vd, l.nv, attn_obj, &a);
        kc_gradbuf dq = kc_gradbuf_new(l.nq, 21), dk = kc_gradbuf_new(l.nk, 22), dv = kc_gradbuf_new(l.nv, 23);
        for (int tiled = 0; tiled < 2; tiled++) { /* the probs kernel, then the lse kernel */
            if (tiled) {
                kc_gradbuf_reset(&dq), kc_gradbuf_reset(&dk), kc_gradbuf_reset(&dv);
                FT_CHECK_OK(ft_attention_backward_lse(dq.buf, dk.buf, dv.buf, r, outl, lse, qf, kf, vf, c->mask, s));
            } else {
                ft_attention_backward(dq.buf, dk.buf, dv.buf, r, probs, qf, kf, vf, c->mask, s);
            }
            const char *tag = tiled ? "tiled " : "";
            snprintf(what, sizeof what, "%s: %sdq", c->name, tag);
            KC_GRAD(what, dq.buf, dq.pre, gq, l.nq);
            snprintf(what, sizeof what, "%s: %sdk", c->name, tag);
            KC_GRAD(what, dk.buf, dk.pre, gk, l.nk);
            snprintf(what, sizeof what, "%s: %sdv", c->name, tag);
            KC_GRAD(what, dv.buf, dv.pre, gv, l.nv);
        }
        kc_gradbuf_free(&dq);
        kc_gradbuf_free(&dk);
        kc_gradbuf_free(&dv);
        free(gq), free(gk), free(gv);
    }
    if (!c->fused)
        free(kf), free(vf), free(kd), free(vd);
    free(qf), free(qd), free(out), free(probs), free(r), free(keep), free(rd), free(ow), free(pw);
    free(outl), free(lse), free(lw);
}

/* GPT-2 shape: H = Hkv, one fused qkv row of 3·H·D per token (q_stride = kv_stride = 3·H·D). */
static ft_attn_shape gpt2_shape(int B, int T, int H, int D, bool causal) {
    ft_attn_shape s = {B,    T, H, H, D, 3LL * H * D, 3LL * H * D, causal, 1.0f / sqrtf((float)D),
                       0.0f, 0, 0, 0, 0};
    return s;
}

FT_TEST(test_attention_gpt2_fused) {
    /* batch 1 is left-padded: with the causal mask its rows t = 0, 1 see no real key */
    static const int32_t mask[] = {1, 1, 1, 1, 1, 0, 0, 1, 1, 1};
    attn_cfg c = {"gpt2 fused causal+padding", gpt2_shape(2, 5, 3, 4, true), true, mask};
    attention_case(&c);
    attn_cfg c2 = {"gpt2 fused causal, no mask", gpt2_shape(1, 6, 2, 8, true), true, NULL};
    attention_case(&c2);
    attn_cfg c3 = {"gpt2 fused bidirectional+padding", gpt2_shape(2, 5, 3, 4, false), true, mask};
    attention_case(&c3);
}

FT_TEST(test_attention_gqa) {
    /* H/Hkv = 2, separate buffers, bidirectional, right padding, non-default scale */
    static const int32_t mask2[] = {1, 1, 1, 0, 1, 1, 1, 1};
    attn_cfg c = {
        "gqa rep2 separate", {2, 4, 4, 2, 3, 4 * 3, 2 * 3, false, 0.37f, 0.0f, 0, 0, 0, 0}, false, mask2};
    attention_case(&c);
    /* H/Hkv = 3 in a Llama-style fused row [q 6·4 | k 2·4 | v 2·4], causal */
    attn_cfg c3 = {
        "gqa rep3 fused", {1, 6, 6, 2, 4, 10 * 4, 10 * 4, true, 0.5f, 0.0f, 0, 0, 0, 0}, true, NULL};
    attention_case(&c3);
    /* H/Hkv = 3 with one KV head (MQA), batch 1 entirely padding: every one of its rows sees nothing */
    static const int32_t mask3[] = {1, 1, 0, 0, 0, 0};
    attn_cfg c4 = {
        "mqa rep3 all-padded batch", {2, 3, 3, 1, 5, 3 * 5, 5, false, 0.45f, 0.0f, 0, 0, 0, 0}, false, mask3};
    attention_case(&c4);
    /* H/Hkv = 2 causal with padding in the middle of the sequence */
    static const int32_t mask4[] = {1, 1, 0, 1, 1, 1, 1, 1, 1, 0};
    attn_cfg c5 = {
        "gqa rep2 causal+padding", {2, 5, 4, 2, 4, 4 * 4, 2 * 4, true, 0.5f, 0.0f, 0, 0, 0, 0}, false, mask4};
    attention_case(&c5);
}

/* T > 32 spans several of the kernel's 32-row blocks (the last one partial), where the causal block
 * skipping and the per-block GEMMs' offsets matter; mask zeros fall in both blocks. */
FT_TEST(test_attention_blocks) {
    int32_t mask[2 * 45];
    for (int i = 0; i < 90; i++)
        mask[i] = (i % 45 == 3 || i % 45 == 40 || i == 45 + 1) ? 0 : 1;
    attn_cfg c = {"blocks T=45 gqa rep2 causal+padding",
                  {2, 45, 2, 1, 4, 2 * 4, 4, true, 0.5f, 0.0f, 0, 0, 0, 0},
                  false,
                  mask};
    attention_case(&c);
    attn_cfg c2 = {"blocks T=45 bidirectional+padding",
                   {1, 45, 2, 2, 3, 2 * 3, 2 * 3, false, 0.6f, 0.0f, 0, 0, 0, 0},
                   false,
                   mask};
    attention_case(&c2);
    attn_cfg c3 = {"blocks T=40 causal dropout 0.2",
                   {1, 40, 2, 1, 3, 2 * 3, 3, true, 0.6f, 0.2f, 3, 9, 0, 0},
                   false,
                   mask + 45};
    attention_case(&c3);
    ft_attn_shape s = gpt2_shape(1, 64, 1, 4, true);
    attn_cfg c4 = {"blocks T=64 gpt2 fused causal", s, true, NULL};
    attention_case(&c4);
}

FT_TEST(test_attention_dropout) {
    static const int32_t mask[] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    attn_cfg c = {
        "dropout 0.3 gqa rep2", {2, 6, 4, 2, 4, 4 * 4, 2 * 4, true, 0.5f, 0.3f, 99, 7, 0, 0}, false, mask};
    attention_case(&c);
    ft_attn_shape s = gpt2_shape(2, 5, 3, 4, true);
    s.dropout = 0.25f, s.seed = 5, s.stream = 123;
    attn_cfg c2 = {"dropout 0.25 gpt2 fused", s, true, NULL};
    attention_case(&c2);
    /* a different stream changes the output (it is the mask that differs) */
    const attn_layout l = attn_layout_of(&c2);
    const int64_t nout = l.rows * s.H * s.D, np = (int64_t)s.B * s.H * s.T * s.T;
    float *qkv = kc_falloc(l.nq), *o1 = kc_falloc(nout), *o2 = kc_falloc(nout), *p = kc_falloc(np);
    kc_fill_normal(qkv, l.nq, 210, 1.0f);
    ft_attention_forward(o1, p, qkv, qkv + l.koff, qkv + l.voff, NULL, &s);
    s.stream = 124;
    ft_attention_forward(o2, p, qkv, qkv + l.koff, qkv + l.voff, NULL, &s);
    FT_CHECK(memcmp(o1, o2, (size_t)nout * sizeof(float)) != 0);
    free(qkv), free(o1), free(o2), free(p);
}

/* ------------------------------------------------------------------ RoPE */

/* HF rotate_half: for i < D/2, (x_i, x_{i+D/2}) → (x_i cos − x_{i+D/2} sin, x_{i+D/2} cos + x_i sin),
 * angle = pos · θ^(−2i/D); columns beyond n_heads·D in a row are untouched. */
typedef struct {
    double *x, *r;
    const int32_t *pos;
    int64_t N, stride;
    int n_heads, D;
    double theta;
} rope_ctx;
static void rope_ref(const rope_ctx *c, double *y) {
    memcpy(y, c->x, (size_t)(c->N * c->stride) * sizeof(double));
    const int half = c->D / 2;
    for (int64_t n = 0; n < c->N; n++)
        for (int h = 0; h < c->n_heads; h++)
            for (int i = 0; i < half; i++) {
                double ang = c->pos[n] * pow(c->theta, -2.0 * i / c->D);
                const double *xr = c->x + n * c->stride + h * c->D;
                double *yr = y + n * c->stride + h * c->D;
                yr[i] = xr[i] * cos(ang) - xr[i + half] * sin(ang);
                yr[i + half] = xr[i + half] * cos(ang) + xr[i] * sin(ang);
            }
}
static double rope_obj(void *p) {
    rope_ctx *c = p;
    double *y = kc_dalloc(c->N * c->stride);
    rope_ref(c, y);
    double l = kc_dot(c->r, y, c->N * c->stride);
    free(y);
    return l;
}

static void rope_case(int n_heads, int D, int64_t extra, float theta) {
    static const int32_t pos[] = {0, 1, 2, 17, 5, 40, 3};
    const int64_t N = 7, stride = (int64_t)n_heads * D + extra, n = N * stride;
    float *x = kc_falloc(n), *y = kc_falloc(n), *r = kc_falloc(n), *g = kc_falloc(n);
    kc_fill(x, n, 300, -1.0f, 1.0f);
    kc_fill(r, n, 301, -1.0f, 1.0f);
    rope_ctx c = {kc_dalloc(n), kc_dalloc(n), pos, N, stride, n_heads, D, theta};
    kc_to_double(c.x, x, n);
    kc_to_double(c.r, r, n);
    double *yw = kc_dalloc(n), *gw = kc_dalloc(n);
    rope_ref(&c, yw);
    memcpy(y, x, (size_t)n * sizeof(float));
    ft_rope_forward(y, pos, N, n_heads, D, stride, theta);
    /* The kernel computes the angle in fp32 like HF (pos·inv_freq, inv_freq rounded): for pos ≤ 40 the
     * angle is off by ≲ 40·2·2^-24 ≈ 5e-6 rad, so |Δy| ≲ 5e-6·|x| < KC_FWD_TOL. */
    char what[96];
    snprintf(what, sizeof what, "rope y (heads %d, D %d, theta %g)", n_heads, D, (double)theta);
    KC_CLOSE(what, y, yw, n, KC_FWD_TOL);
    int untouched = 1;
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = (int64_t)n_heads * D; j < stride; j++)
            untouched &= y[i * stride + j] == x[i * stride + j];
    FT_CHECKF(untouched, "rope touched columns past n_heads·D");
    /* backward: in place on dx (which holds dy = r on entry); rope is linear, so dL/dx = Rᵀ r */
    kc_fd(gw, c.x, n, rope_obj, &c);
    memcpy(g, r, (size_t)n * sizeof(float));
    ft_rope_backward(g, pos, N, n_heads, D, stride, theta);
    snprintf(what, sizeof what, "rope dx (heads %d, D %d)", n_heads, D);
    KC_CLOSE(what, g, gw, n, KC_BWD_TOL);
    free(c.x), free(c.r), free(yw), free(gw), free(x), free(y), free(r), free(g);
}

FT_TEST(test_rope) {
    rope_case(3, 8, 11, 10000.0f);  /* extra columns: e.g. k and v after q in a fused row */
    rope_case(2, 16, 0, 500000.0f); /* Llama-3 theta */
    rope_case(1, 2, 3, 10000.0f);
    /* HF pairs dimension i with i + D/2 (not 2i with 2i+1): with θ = 1 every frequency is 1 */
    float x[4] = {1.0f, 0.0f, 0.0f, 0.0f};
    static const int32_t p1[] = {1};
    ft_rope_forward(x, p1, 1, 1, 4, 4, 1.0f);
    FT_CHECK_NEAR(x[0], cos(1.0), 1e-6);
    FT_CHECK(x[1] == 0.0f && x[3] == 0.0f);
    FT_CHECK_NEAR(x[2], sin(1.0), 1e-6);
    /* position 0 is the identity */
    float z[8], z0[8];
    kc_fill(z0, 8, 302, -1.0f, 1.0f);
    memcpy(z, z0, sizeof z);
    static const int32_t p0[] = {0};
    ft_rope_forward(z, p0, 1, 1, 8, 8, 10000.0f);
    FT_CHECK(memcmp(z, z0, sizeof z) == 0);
}

int main(void) {
    FT_RUN(test_attention_gpt2_fused);
    FT_RUN(test_attention_gqa);
    FT_RUN(test_attention_blocks);
    FT_RUN(test_attention_dropout);
    FT_RUN(test_rope);
    FT_DONE();
}
