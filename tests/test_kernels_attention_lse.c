/* The tiled attention kernel (ft_attention_forward_lse / ft_attention_backward_lse) against the
 * probs kernel it replaces in training, on shapes the small finite-difference cases in
 * test_kernels_attention.c cannot reach: T across the tile edges (1, 7, 33, 64, 130, 200 with
 * 64-row / 128-key tiles), D = 64 and 24, GQA 6/2, left and right padding, a batch that is all
 * padding, causal and bidirectional, dropout 0.1 on and off. Both kernels run on the same inputs;
 * out must agree to 1e-5 and every gradient (accumulated into pre-filled buffers) to 1e-5 of the
 * largest gradient magnitude of the call. A data-parallel shard keyed on its rows in the whole batch draws
 * that batch's dropout masks. Then bad shapes and arguments. */
#include <stdbool.h>

#include "kernel_check.h"
#include "kernels/kernels.h"

/* max |got − want| ≤ tol · max(max |want|, floor) (want in float, widened). */
static int close_ff(const char *what, const float *got, const float *want, int64_t n, double tol, double floor) {
    double *w = kc_dalloc(n);
    kc_to_double(w, want, n);
    int ok = kc_close_ex(what, got, w, n, tol, floor, __FILE__, __LINE__);
    free(w);
    return ok;
}

typedef struct {
    int B, T, H, Hkv, D;
    bool causal, fused, pad;
    float dropout;
} cmp_cfg;

static void compare_case(const cmp_cfg *c) {
    ft_attn_shape s = {c->B,       c->T, c->H, c->Hkv, c->D, 0, 0, c->causal, 1.0f / sqrtf((float)c->D),
                       c->dropout, 17,   3,    0,      0};
    const int64_t N = (int64_t)c->B * c->T, HD = (int64_t)c->H * c->D, KD = (int64_t)c->Hkv * c->D;
    int64_t nq, nk, koff, voff;
    if (c->fused) { /* one row [q | k | v] per token */
        s.q_stride = s.kv_stride = HD + 2 * KD;
        nq = N * s.q_stride, nk = 0, koff = HD, voff = HD + KD;
    } else {
        s.q_stride = HD, s.kv_stride = KD;
        nq = N * HD, nk = N * KD, koff = voff = 0;
    }
    float *qf = kc_falloc(nq), *kf = c->fused ? qf + koff : kc_falloc(nk), *vf = c->fused ? qf + voff : kc_falloc(nk);
    kc_fill_normal(qf, nq, 400, 1.5f);
    if (!c->fused) {
        kc_fill_normal(kf, nk, 401, 1.5f);
        kc_fill_normal(vf, nk, 402, 1.0f);
    }
    /* batch 0 left-padded by 3, batch 1 right-padded by T/3, batch 2 (if any) all padding */
    int32_t *mask = NULL;
    if (c->pad) {
        mask = calloc((size_t)N, sizeof *mask);
        for (int b = 0; b < c->B; b++)
            for (int t = 0; t < c->T; t++)
                mask[b * c->T + t] = b == 0 ? t >= 3 : b == 1 ? t < c->T - c->T / 3 : 0;
    }
    float *out = kc_falloc(N * HD), *outl = kc_falloc(N * HD), *dout = kc_falloc(N * HD);
    float *probs = kc_falloc((int64_t)c->B * c->H * c->T * c->T), *lse = kc_falloc((int64_t)c->B * c->H * c->T);
    kc_fill(dout, N * HD, 403, -1.0f, 1.0f);
    char what[160], name[96];
    snprintf(name, sizeof name, "B%d T%d H%d/%d D%d %s%s%s p%.1f", c->B, c->T, c->H, c->Hkv, c->D,
             c->causal ? "causal" : "bidir", c->fused ? " fused" : "", c->pad ? " padded" : "", (double)c->dropout);
    ft_attention_forward(out, probs, qf, kf, vf, mask, &s);
    FT_CHECK_OK(ft_attention_forward_lse(outl, lse, qf, kf, vf, mask, &s));
    snprintf(what, sizeof what, "%s: out", name);
    close_ff(what, outl, out, N * HD, 1e-5, 1e-30);
    /* lse agrees with the probs kernel: P[t, j] = e^{s_tj − lse_t}, so Σ_j P = 1 on rows with a key */
    int lse_ok = 1;
    for (int64_t i = 0; i < (int64_t)c->B * c->H * c->T; i++) {
        double sum = 0.0;
        for (int j = 0; j < c->T; j++)
            sum += probs[i * c->T + j];
        lse_ok &= sum == 0.0 ? lse[i] == -INFINITY : isfinite(lse[i]) && fabs(sum - 1.0) < 1e-4;
    }
    FT_CHECKF(lse_ok, "%s: lse is -inf exactly on the rows with no visible key", name);

    const int64_t ng = c->fused ? nq : nq + 2 * nk;
    kc_gradbuf g_old = kc_gradbuf_new(ng, 30), g_new = kc_gradbuf_new(ng, 30);
    float *dq0 = g_old.buf, *dk0 = c->fused ? dq0 + koff : dq0 + nq, *dv0 = c->fused ? dq0 + voff : dq0 + nq + nk;
    float *dq1 = g_new.buf, *dk1 = c->fused ? dq1 + koff : dq1 + nq, *dv1 = c->fused ? dq1 + voff : dq1 + nq + nk;
    ft_attention_backward(dq0, dk0, dv0, dout, probs, qf, kf, vf, mask, &s);
    FT_CHECK_OK(ft_attention_backward_lse(dq1, dk1, dv1, dout, outl, lse, qf, kf, vf, mask, &s));
    for (int64_t i = 0; i < ng; i++) /* compare what each added to the pre-fill */
        g_old.buf[i] -= g_old.pre[i], g_new.buf[i] -= g_new.pre[i];
    /* one scale for all three: at T = 1 dq and dk are 0 in exact arithmetic, and the two kernels
     * round dP − Σ P·dP differently (~1e-7 of |dv|) */
    double gmax = 1e-30;
    for (int64_t i = 0; i < ng; i++)
        gmax = fabs(g_old.buf[i]) > gmax ? fabs(g_old.buf[i]) : gmax;
    if (c->fused) {
        snprintf(what, sizeof what, "%s: d(qkv)", name);
        close_ff(what, g_new.buf, g_old.buf, ng, 1e-5, gmax);
    } else {
        snprintf(what, sizeof what, "%s: dq", name);
        close_ff(what, dq1, dq0, nq, 1e-5, gmax);
        snprintf(what, sizeof what, "%s: dk", name);
        close_ff(what, dk1, dk0, nk, 1e-5, gmax);
        snprintf(what, sizeof what, "%s: dv", name);
        close_ff(what, dv1, dv0, nk, 1e-5, gmax);
    }
    /* deterministic: a second run gives the same bits */
    float *out2 = kc_falloc(N * HD);
    FT_CHECK_OK(ft_attention_forward_lse(out2, lse, qf, kf, vf, mask, &s));
    FT_CHECKF(memcmp(out2, outl, (size_t)(N * HD) * sizeof(float)) == 0, "%s: forward not deterministic", name);
    kc_gradbuf_free(&g_old), kc_gradbuf_free(&g_new);
    if (!c->fused)
        free(kf), free(vf);
    free(qf), free(mask), free(out), free(outl), free(out2), free(dout), free(probs), free(lse);
}

FT_TEST(test_lse_matches_probs_kernel) {
    static const int Ts[] = {1, 7, 33, 64, 130};
    for (size_t i = 0; i < sizeof Ts / sizeof *Ts; i++)
        for (int v = 0; v < 4; v++) {
            const bool causal = v != 1, pad = v >= 1;
            const float p = v == 3 ? 0.1f : 0.0f;
            cmp_cfg gqa = {3, Ts[i], 6, 2, 24, causal, false, pad, p};
            compare_case(&gqa);
            cmp_cfg gpt2 = {2, Ts[i], 3, 3, 64, causal, true, pad, p};
            compare_case(&gpt2);
        }
    /* several key blocks per query tile, bidirectional dropout with padding, MQA */
    cmp_cfg a = {2, 200, 2, 1, 24, true, true, true, 0.1f};
    compare_case(&a);
    cmp_cfg b = {2, 200, 4, 4, 64, false, false, true, 0.1f};
    compare_case(&b);
}

/* The dropout mask follows the documented index rule: a query whose only visible key is j = 0
 * (causal, t = 0) outputs v_0·keep(((b·H + h)·T + 0)·T + 0). */
FT_TEST(test_lse_dropout_index_rule) {
    const int B = 2, T = 3, H = 4, D = 2;
    ft_attn_shape s = {B, T, H, H, D, (int64_t)H * D, (int64_t)H * D, true, 0.5f, 0.5f, 11, 4, 0, 0};
    float q[2 * 3 * 8], k[2 * 3 * 8], v[2 * 3 * 8], out[2 * 3 * 8], lse[2 * 4 * 3];
    kc_fill(q, 48, 410, -1, 1), kc_fill(k, 48, 411, -1, 1), kc_fill(v, 48, 412, -1, 1);
    FT_CHECK_OK(ft_attention_forward_lse(out, lse, q, k, v, NULL, &s));
    int dropped = 0, kept = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const int64_t idx = ((int64_t)b * H + h) * T * T;
            const float keep = ft_rng_uniform(11, 4, (uint64_t)idx) >= 0.5f ? 2.0f : 0.0f;
            for (int d = 0; d < D; d++)
                FT_CHECK_NEAR(out[(b * T) * H * D + h * D + d], keep * v[(b * T) * H * D + h * D + d], 1e-6);
            dropped += keep == 0.0f, kept += keep != 0.0f;
            FT_CHECK_NEAR(lse[(b * H + h) * T], 0.5 * (q[(b * T) * H * D + h * D] * k[(b * T) * H * D + h * D] +
                                                       q[(b * T) * H * D + h * D + 1] * k[(b * T) * H * D + h * D + 1]),
                          1e-6);
        }
    FT_CHECK(dropped > 0 && kept > 0); /* both branches of the rule were exercised */
}

/* One attention call (kernel 0: probs, 1: lse) on q/k/v [B·T, H·D] / [B·T, Hkv·D]: out, then dq/dk/dv from
 * dout. */
static void attn_call(int kernel, const ft_attn_shape *s, const float *q, const float *k, const float *v,
                      const int32_t *mask, const float *dout, float *out, float *dq, float *dk, float *dv) {
    const int64_t N = (int64_t)s->B * s->T;
    float *aux = kc_falloc(kernel == 0 ? (int64_t)s->B * s->H * s->T * s->T : (int64_t)s->B * s->H * s->T);
    memset(dq, 0, (size_t)(N * s->q_stride) * sizeof(float));
    memset(dk, 0, (size_t)(N * s->kv_stride) * sizeof(float));
    memset(dv, 0, (size_t)(N * s->kv_stride) * sizeof(float));
    if (kernel == 0) {
        ft_attention_forward(out, aux, q, k, v, mask, s);
        ft_attention_backward(dq, dk, dv, dout, aux, q, k, v, mask, s);
    } else {
        FT_CHECK_OK(ft_attention_forward_lse(out, aux, q, k, v, mask, s));
        FT_CHECK_OK(ft_attention_backward_lse(dq, dk, dv, dout, out, aux, q, k, v, mask, s));
    }
    free(aux);
}

/* Data parallelism: a shard (rows 2..3 of a batch of 4, right-padded to its own 6 positions where the batch
 * has 9) with drop_row0 = 2, drop_pad = 3 draws the whole batch's attention-dropout masks, so its outputs and
 * q/k/v gradients at the real positions are the whole batch's (dout 0 at pads, as a loss gives). Both
 * kernels, causal and bidirectional. The same shard keyed as a batch of its own differs (the test can fail).
 */
FT_TEST(test_attention_dropout_shard) {
    const int B = 4, T = 9, H = 4, Hkv = 2, D = 8, R0 = 2, Bs = 2, Ts = 6;
    const int len[4] = {9, 5, 6, 3};
    const int64_t HD = (int64_t)H * D, KD = (int64_t)Hkv * D, N = (int64_t)B * T, Ns = (int64_t)Bs * Ts;
    float *q = kc_falloc(N * HD), *k = kc_falloc(N * KD), *v = kc_falloc(N * KD), *dout = kc_falloc(N * HD);
    float *qs = kc_falloc(Ns * HD), *ks = kc_falloc(Ns * KD), *vs = kc_falloc(Ns * KD),
          *douts = kc_falloc(Ns * HD);
    float *out = kc_falloc(N * HD), *dq = kc_falloc(N * HD), *dk = kc_falloc(N * KD), *dv = kc_falloc(N * KD);
    float *outs = kc_falloc(Ns * HD), *dqs = kc_falloc(Ns * HD), *dks = kc_falloc(Ns * KD),
          *dvs = kc_falloc(Ns * KD);
    int32_t mask[4 * 9], masks[2 * 6];
    kc_fill_normal(q, N * HD, 420, 1.5f), kc_fill_normal(k, N * KD, 421, 1.5f),
        kc_fill_normal(v, N * KD, 422, 1.0f);
    kc_fill(dout, N * HD, 423, -1.0f, 1.0f);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            mask[b * T + t] = t < len[b];
            if (t >= len[b])
                memset(dout + ((int64_t)b * T + t) * HD, 0, (size_t)HD * sizeof(float));
        }
    for (int b = 0; b < Bs; b++)
        for (int t = 0; t < Ts; t++) {
            const int64_t w = (int64_t)(R0 + b) * T + t, sh = (int64_t)b * Ts + t;
            memcpy(qs + sh * HD, q + w * HD, (size_t)HD * sizeof(float));
            memcpy(douts + sh * HD, dout + w * HD, (size_t)HD * sizeof(float));
            memcpy(ks + sh * KD, k + w * KD, (size_t)KD * sizeof(float));
            memcpy(vs + sh * KD, v + w * KD, (size_t)KD * sizeof(float));
            masks[sh] = mask[w];
        }
    for (int kernel = 0; kernel < 2; kernel++)
        for (int causal = 0; causal < 2; causal++) {
            ft_attn_shape s = {B, T, H, Hkv, D, HD, KD, causal != 0, 0.35f, 0.3f, 17, 5, 0, 0};
            attn_call(kernel, &s, q, k, v, mask, dout, out, dq, dk, dv);
            for (int keyed = 1; keyed >= 0; keyed--) {
                ft_attn_shape sh = s;
                sh.B = Bs, sh.T = Ts;
                sh.drop_row0 = keyed ? R0 : 0, sh.drop_pad = keyed ? T - Ts : 0;
                attn_call(kernel, &sh, qs, ks, vs, masks, douts, outs, dqs, dks, dvs);
                double worst = 0.0, gmax = 1e-30;
                for (int b = 0; b < Bs; b++)
                    for (int t = 0; t < len[R0 + b]; t++) {
                        const int64_t w = (int64_t)(R0 + b) * T + t, r = (int64_t)b * Ts + t;
                        for (int64_t j = 0; j < HD; j++) {
                            worst = fmax(worst, fabs((double)outs[r * HD + j] - out[w * HD + j]));
                            worst = fmax(worst, fabs((double)dqs[r * HD + j] - dq[w * HD + j]));
                            gmax =
                                fmax(gmax, fmax(fabs((double)out[w * HD + j]), fabs((double)dq[w * HD + j])));
                        }
                        for (int64_t j = 0; j < KD; j++) {
                            worst = fmax(worst, fabs((double)dks[r * KD + j] - dk[w * KD + j]));
                            worst = fmax(worst, fabs((double)dvs[r * KD + j] - dv[w * KD + j]));
                            gmax =
                                fmax(gmax, fmax(fabs((double)dk[w * KD + j]), fabs((double)dv[w * KD + j])));
                        }
                    }
                if (keyed)
                    FT_CHECKF(worst <= 1e-5 * gmax, "kernel %d causal %d: shard vs batch %.3g (of %.3g)",
                              kernel, causal, worst, gmax);
                else
                    FT_CHECKF(worst > 1e-2 * gmax,
                              "kernel %d causal %d: unkeyed shard %.3g: the masks must differ", kernel,
                              causal, worst);
            }
        }
    free(q), free(k), free(v), free(dout), free(qs), free(ks), free(vs), free(douts);
    free(out), free(dq), free(dk), free(dv), free(outs), free(dqs), free(dks), free(dvs);
}

FT_TEST(test_lse_errors) {
    float buf[64] = {0}, lse[8] = {0};
    ft_attn_shape ok = {1, 2, 2, 1, 4, 8, 4, true, 0.5f, 0.0f, 0, 0, 0, 0};
    FT_CHECK_OK(ft_attention_forward_lse(buf, lse, buf, buf, buf, NULL, &ok));
    ft_attn_shape s = ok;
    s.H = 3; /* not a multiple of Hkv = 2 */
    s.Hkv = 2;
    s.q_stride = 12, s.kv_stride = 8;
    FT_CHECK_FAILS(ft_attention_forward_lse(buf, lse, buf, buf, buf, NULL, &s), FT_ERR_SHAPE, "multiple of Hkv");
    FT_CHECK_FAILS(ft_attention_backward_lse(buf, buf, buf, buf, buf, lse, buf, buf, buf, NULL, &s), FT_ERR_SHAPE,
                   "multiple of Hkv");
    s = ok, s.T = 0;
    FT_CHECK_FAILS(ft_attention_forward_lse(buf, lse, buf, buf, buf, NULL, &s), FT_ERR_SHAPE, "positive");
    s = ok, s.q_stride = 7;
    FT_CHECK_FAILS(ft_attention_forward_lse(buf, lse, buf, buf, buf, NULL, &s), FT_ERR_SHAPE, "q_stride");
    s = ok, s.kv_stride = 3;
    FT_CHECK_FAILS(ft_attention_backward_lse(buf, buf, buf, buf, buf, lse, buf, buf, buf, NULL, &s), FT_ERR_SHAPE,
                   "kv_stride");
    s = ok, s.dropout = 1.0f;
    FT_CHECK_FAILS(ft_attention_forward_lse(buf, lse, buf, buf, buf, NULL, &s), FT_ERR_RANGE, "dropout");
    s = ok, s.dropout = NAN;
    FT_CHECK_FAILS(ft_attention_backward_lse(buf, buf, buf, buf, buf, lse, buf, buf, buf, NULL, &s), FT_ERR_RANGE,
                   "dropout");
    s = ok, s.scale = INFINITY;
    FT_CHECK_FAILS(ft_attention_forward_lse(buf, lse, buf, buf, buf, NULL, &s), FT_ERR_RANGE, "scale");
    s = ok, s.D = 1024, s.q_stride = 2048, s.kv_stride = 1024;
    FT_CHECK_FAILS(ft_attention_forward_lse(buf, lse, buf, buf, buf, NULL, &s), FT_ERR_UNSUPPORTED, "head dim");
    FT_CHECK_FAILS(ft_attention_forward_lse(buf, NULL, buf, buf, buf, NULL, &ok), FT_ERR_ARG, "NULL");
    FT_CHECK_FAILS(ft_attention_backward_lse(buf, buf, buf, buf, NULL, lse, buf, buf, buf, NULL, &ok), FT_ERR_ARG,
                   "NULL");
    FT_CHECK_FAILS(ft_attention_forward_lse(buf, lse, buf, buf, buf, NULL, NULL), FT_ERR_ARG, "shape");
    /* a failed call writes nothing */
    float o2[16];
    for (int i = 0; i < 16; i++)
        o2[i] = 7.0f;
    s = ok, s.dropout = -0.5f;
    FT_CHECK_FAILS(ft_attention_forward_lse(o2, lse, buf, buf, buf, NULL, &s), FT_ERR_RANGE, "dropout");
    FT_CHECK(o2[0] == 7.0f && o2[15] == 7.0f);
    FT_CHECK(ft_attention_lse_scratch_bytes(64) > 0);
}

int main(void) {
    FT_RUN(test_lse_matches_probs_kernel);
    FT_RUN(test_lse_dropout_index_rule);
    FT_RUN(test_attention_dropout_shard);
    FT_RUN(test_lse_errors);
    FT_DONE();
}
