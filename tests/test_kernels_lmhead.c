/* Fused LM head + cross-entropy (ft_lmhead_ce_forward_backward): loss, count and raw logits against a
 * double reference of h·Wᵀ and logsumexp; dh and dW against central finite differences of
 * scale · Σ loss, into pre-filled buffers (must accumulate); every chunk size gives the same; the
 * unfused path (linear + cross-entropy kernels) agrees; ignored rows, all-ignored batches and
 * extreme logits. Tolerances: see kernel_check.h. */
#include <stdbool.h>

#include "kernel_check.h"
#include "kernels/kernels.h"

typedef struct {
    double *h, *W;
    const int32_t *targets;
    int64_t N, C, V;
    double scale;
} lm_ctx;

/* scale · Σ_{targets ≥ 0} (logsumexp(h_n·Wᵀ) − h_n·W_target); logits[N·V] written if given. */
static double lm_ref(const lm_ctx *c, double *logits, int64_t *count) {
    double total = 0.0;
    int64_t cnt = 0;
    double *row = kc_dalloc(c->V);
    for (int64_t n = 0; n < c->N; n++) {
        double mx = -INFINITY;
        for (int64_t v = 0; v < c->V; v++) {
            double s = 0.0;
            for (int64_t k = 0; k < c->C; k++)
                s += c->h[n * c->C + k] * c->W[v * c->C + k];
            row[v] = s;
            if (logits)
                logits[n * c->V + v] = s;
            mx = s > mx ? s : mx;
        }
        if (c->targets[n] < 0)
            continue;
        double se = 0.0;
        for (int64_t v = 0; v < c->V; v++)
            se += exp(row[v] - mx);
        total += log(se) + mx - row[c->targets[n]];
        cnt++;
    }
    free(row);
    if (count)
        *count = cnt;
    return c->scale * total;
}
static double lm_obj(void *p) { return lm_ref(p, NULL, NULL); }

FT_TEST(test_lmhead_ce_fd) {
    const int64_t N = 7, C = 5, V = 13;
    static const int32_t targets[] = {3, -100, 0, 12, -100, 5, 7};
    const float scale = 0.3f;
    float *h = kc_falloc(N * C), *W = kc_falloc(V * C), *logits = kc_falloc(N * V);
    kc_fill_normal(h, N * C, 300, 1.0f);
    kc_fill_normal(W, V * C, 301, 1.0f);
    lm_ctx c = {kc_dalloc(N * C), kc_dalloc(V * C), targets, N, C, V, scale};
    kc_to_double(c.h, h, N * C);
    kc_to_double(c.W, W, V * C);
    double *lw = kc_dalloc(N * V), *gh = kc_dalloc(N * C), *gW = kc_dalloc(V * C);
    int64_t cnt_ref = 0;
    const double want = lm_ref(&c, lw, &cnt_ref) / (double)scale;
    kc_fd(gh, c.h, N * C, lm_obj, &c);
    kc_fd(gW, c.W, V * C, lm_obj, &c);
    FT_CHECK(cnt_ref == 5 && ft_ce_count(targets, N) == 5);

    static const int64_t chunks[] = {0, 1, 3, 7, 100};
    float *work = kc_falloc((int64_t)ft_lmhead_ce_work_floats(N, V));
    float *dh_first = kc_falloc(N * C), *dW_first = kc_falloc(V * C);
    for (size_t ci = 0; ci < sizeof chunks / sizeof *chunks; ci++) {
        char what[80];
        kc_gradbuf dh = kc_gradbuf_new(N * C, 40), dW = kc_gradbuf_new(V * C, 41);
        for (int64_t i = 0; i < N * V; i++)
            logits[i] = NAN;
        double loss = -1.0;
        int64_t cnt = -1;
        ft_lmhead_ce_forward_backward(h, W, targets, N, C, V, scale, dh.buf, dW.buf, &loss, &cnt, logits, work,
                                      chunks[ci]);
        FT_CHECKF(cnt == 5, "chunk %lld: count %lld", (long long)chunks[ci], (long long)cnt);
        FT_CHECKF(fabs(loss - want) <= 1e-5 * fabs(want), "chunk %lld: loss %.9g want %.9g", (long long)chunks[ci],
                  loss, want);
        snprintf(what, sizeof what, "chunk %lld logits", (long long)chunks[ci]);
        KC_CLOSE(what, logits, lw, N * V, KC_FWD_TOL);
        snprintf(what, sizeof what, "chunk %lld dh", (long long)chunks[ci]);
        KC_GRAD(what, dh.buf, dh.pre, gh, N * C);
        snprintf(what, sizeof what, "chunk %lld dW", (long long)chunks[ci]);
        KC_GRAD(what, dW.buf, dW.pre, gW, V * C);
        if (ci == 0) {
            memcpy(dh_first, dh.buf, (size_t)(N * C) * sizeof(float));
            memcpy(dW_first, dW.buf, (size_t)(V * C) * sizeof(float));
        } else { /* chunking changes only the order of dW's sums */
            for (int64_t i = 0; i < N * C; i++)
                FT_CHECKF(fabsf(dh.buf[i] - dh_first[i]) <= 1e-6f, "chunk %lld dh[%lld] differs",
                          (long long)chunks[ci], (long long)i);
            for (int64_t i = 0; i < V * C; i++)
                FT_CHECKF(fabsf(dW.buf[i] - dW_first[i]) <= 1e-6f, "chunk %lld dW[%lld] differs",
                          (long long)chunks[ci], (long long)i);
        }
        kc_gradbuf_free(&dh);
        kc_gradbuf_free(&dW);
    }
    /* dW = NULL (frozen head, e.g. LoRA) and no outputs requested: dh still right */
    kc_gradbuf dh = kc_gradbuf_new(N * C, 42);
    ft_lmhead_ce_forward_backward(h, W, targets, N, C, V, scale, dh.buf, NULL, NULL, NULL, NULL, work, 2);
    KC_GRAD("dh without dW", dh.buf, dh.pre, gh, N * C);
    kc_gradbuf_free(&dh);
    free(h), free(W), free(logits), free(c.h), free(c.W), free(lw), free(gh), free(gW), free(work);
    free(dh_first), free(dW_first);
}

/* Same numbers as the unfused path the decoder uses today. */
FT_TEST(test_lmhead_ce_matches_unfused) {
    const int64_t N = 9, C = 16, V = 37;
    int32_t targets[9] = {1, 36, -100, 0, 5, 5, -100, 20, 11};
    const float scale = 1.0f / 7.0f;
    float *h = kc_falloc(N * C), *W = kc_falloc(V * C), *L = kc_falloc(N * V);
    kc_fill_normal(h, N * C, 310, 1.0f);
    kc_fill_normal(W, V * C, 311, 0.5f);
    float *dh1 = kc_falloc(N * C), *dW1 = kc_falloc(V * C), *dh2 = kc_falloc(N * C), *dW2 = kc_falloc(V * C);
    ft_linear_forward(L, h, W, NULL, N, C, V, false);
    int64_t cnt1, cnt2;
    double l1 = ft_cross_entropy_forward(L, targets, N, V, &cnt1), l2;
    ft_cross_entropy_backward(L, L, targets, N, V, scale);
    ft_linear_backward(dh1, dW1, NULL, L, h, W, N, C, V, false);
    float *work = kc_falloc((int64_t)ft_lmhead_ce_work_floats(4, V));
    ft_lmhead_ce_forward_backward(h, W, targets, N, C, V, scale, dh2, dW2, &l2, &cnt2, NULL, work, 4);
    FT_CHECK(cnt1 == cnt2 && cnt1 == 7);
    FT_CHECK_NEAR(l2, l1, 1e-5 * fabs(l1));
    double *d = kc_dalloc(V * C);
    kc_to_double(d, dh1, N * C);
    KC_CLOSE("dh vs unfused", dh2, d, N * C, KC_FWD_TOL);
    kc_to_double(d, dW1, V * C);
    KC_CLOSE("dW vs unfused", dW2, d, V * C, KC_FWD_TOL);
    free(h), free(W), free(L), free(dh1), free(dW1), free(dh2), free(dW2), free(work), free(d);
}

/* C = 1 with h = 1 makes the logits equal W: extreme values, all-ignored batches. */
FT_TEST(test_lmhead_ce_edges) {
    float one[3] = {1.0f, 1.0f, 1.0f};
    float W[4] = {88.0f, 89.0f, -88.0f, 1e4f};
    static const int32_t t3[] = {3, 0, -100};
    float work[12], dh[3] = {0, 0, 0}, dW[4] = {0, 0, 0, 0};
    double loss;
    int64_t cnt;
    ft_lmhead_ce_forward_backward(one, W, t3, 3, 1, 4, 1.0f, dh, dW, &loss, &cnt, NULL, work, 0);
    /* row 0: target is the max by 9912 → loss ≈ 0; row 1: loss = 1e4 − 88 */
    FT_CHECKF(cnt == 2 && isfinite(loss) && fabs(loss - (1e4 - 88.0)) <= 1e-3, "extreme loss %.9g", loss);
    /* dL row 0 ≈ 0, row 1 = onehot(3) − onehot(0) → dW = [−1, 0, 0, 1]; dh = Σ_v dL·W */
    FT_CHECKF(fabsf(dW[0] + 1.0f) < 1e-5f && fabsf(dW[1]) < 1e-5f && fabsf(dW[3] - 1.0f) < 1e-5f,
              "extreme dW %g %g %g %g", (double)dW[0], (double)dW[1], (double)dW[2], (double)dW[3]);
    FT_CHECKF(fabsf(dh[1] - (1e4f - 88.0f)) < 1e-2f && fabsf(dh[0]) < 1e-2f && dh[2] == 0.0f, "extreme dh %g %g %g",
              (double)dh[0], (double)dh[1], (double)dh[2]);
    /* all ignored: zero loss and count, gradients untouched, logits still produced on request */
    static const int32_t none[] = {-100, -100, -100};
    float dh2[3] = {5, 6, 7}, dW2[4] = {1, 2, 3, 4}, lo[12];
    ft_lmhead_ce_forward_backward(one, W, none, 3, 1, 4, 1.0f, dh2, dW2, &loss, &cnt, lo, work, 2);
    FT_CHECK(loss == 0.0 && cnt == 0);
    FT_CHECK(dh2[0] == 5 && dh2[1] == 6 && dh2[2] == 7 && dW2[0] == 1 && dW2[3] == 4);
    FT_CHECK(lo[0] == 88.0f && lo[3] == 1e4f && lo[11] == 1e4f);
    FT_CHECK(ft_ce_count(none, 3) == 0 && ft_ce_count(t3, 3) == 2);
}

/* One row's loss and gradient are the same bits wherever the row lies (every offset mod 16 floats,
 * i.e. every alignment a vectorized loop may peel for) and whatever V mod 16 leaves as a tail: a batch
 * and its micro-batches then agree row by row. Also close to a double reference. */
FT_TEST(test_ce_row_position_independent) {
    static const int64_t Vs[] = {1, 15, 16, 17, 40, 333, 50257};
    for (size_t vi = 0; vi < sizeof Vs / sizeof Vs[0]; vi++) {
        const int64_t V = Vs[vi];
        const int32_t tgt = (int32_t)(V / 3);
        float *src = kc_falloc(V), *buf = kc_falloc(V + 32), *first = kc_falloc(V);
        kc_fill_normal(src, V, 400 + (uint64_t)vi, 3.0f);
        double ref_mx = -INFINITY, ref_se = 0.0;
        for (int64_t j = 0; j < V; j++)
            ref_mx = src[j] > ref_mx ? src[j] : ref_mx;
        for (int64_t j = 0; j < V; j++)
            ref_se += exp((double)src[j] - ref_mx);
        const double ref = log(ref_se) + ref_mx - src[tgt];
        double l0 = 0.0;
        int bad = 0;
        for (int off = 0; off < 32; off++) {
            memcpy(buf + off, src, (size_t)V * sizeof(float));
            const double l = ft_ce_row(buf + off, tgt, V, 0.25f);
            if (off == 0) {
                l0 = l;
                memcpy(first, buf, (size_t)V * sizeof(float));
            } else if (memcmp(&l, &l0, sizeof l) || memcmp(first, buf + off, (size_t)V * sizeof(float))) {
                bad++;
            }
        }
        FT_CHECKF(bad == 0, "V=%lld: %d of 31 offsets give other bits than offset 0", (long long)V, bad);
        FT_CHECKF(fabs(l0 - ref) <= 1e-5 * (1.0 + fabs(ref)), "V=%lld: loss %.9g vs reference %.9g", (long long)V,
                  l0, ref);
        double gsum = 0.0; /* Σ (softmax − onehot)·scale = 0 */
        for (int64_t j = 0; j < V; j++)
            gsum += first[j];
        FT_CHECKF(fabs(gsum) <= 1e-5, "V=%lld: gradient row sums to %g", (long long)V, gsum);
        free(src), free(buf), free(first);
    }
}

int main(void) {
    FT_RUN(test_ce_row_position_independent);
    FT_RUN(test_lmhead_ce_fd);
    FT_RUN(test_lmhead_ce_matches_unfused);
    FT_RUN(test_lmhead_ce_edges);
    FT_DONE();
}
