/* bench/kernels: per-kernel timings at a training shape (default GPT-2-124M, batch 4×128):
 * LM head + cross-entropy unfused vs fused (per chunk size), attention forward/backward,
 * GELU, the fused elementwise kernels against their unfused compositions (and the gradient averaging
 * pass with its norm against the two passes it replaces), and the bf16 matmul against
 * fp32 ft_gemm. Median of --reps runs, milliseconds. --fused: only the fused-kernel rows. --gemms: every
 * fp32 GEMM of one transformer layer's training step at its shape (nn.Linear layout, the layer of
 * bert-base / gpt2: C 768, 4C MLP), the Q, K, V products also as one fused QKV GEMM, and the layer's
 * GEMM time for full fine-tuning (forward, dx, dW) and for LoRA (forward, dx): with bench/gemm_torch.py
 * (the same shapes through torch.matmul) the ceiling of a training step's speed-up over PyTorch. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "kernels/kernels.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static float *falloc(int64_t n, uint64_t stream, float sd) {
    float *p = malloc((size_t)n * sizeof(float));
    if (!p)
        abort();
    for (int64_t i = 0; i < n; i++)
        p[i] = sd * (ft_rng_uniform(3, stream, (uint64_t)i) - 0.5f);
    return p;
}
/* Time body reps times after one warm-up run; var gets the median (seconds), printed with its rate. */
#define TIMED(var, label, flops, reps, body)                                                                      \
    do {                                                                                                          \
        double ts_[64];                                                                                           \
        body;                                                                                                     \
        for (int r_ = 0; r_ < (reps); r_++) {                                                                     \
            double t0_ = ft_now();                                                                                \
            body;                                                                                                 \
            ts_[r_] = ft_now() - t0_;                                                                             \
        }                                                                                                         \
        qsort(ts_, (size_t)(reps), sizeof *ts_, cmp_d);                                                           \
        (var) = ts_[(reps) / 2];                                                                                  \
        printf("  %-44s %9.2f ms %8.1f GFLOP/s\n", label, (var) * 1e3, (flops) / (var) / 1e9);                  \
    } while (0)
/* The median of reps timed runs after one warm-up, printed with its rate. */
#define TIME(label, flops, reps, body)                                                                            \
    do {                                                                                                          \
        double med_;                                                                                              \
        TIMED(med_, label, flops, reps, body);                                                                    \
    } while (0)

/* The bias pass of ft_linear_forward. */
static void add_bias(float *y, const float *b, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < C; j++)
            y[i * C + j] += b[j];
}

/* Fused elementwise kernels vs the passes they replace, at the GPT-2 MLP / residual shapes. */
static int bench_fused(int64_t N, int64_t C, int reps) {
    const int64_t I = 4 * C;
    float *pre = falloc(N * I, 21, 4.0f), *act = falloc(N * I, 22, 0.0f), *b = falloc(I, 23, 0.01f);
    float *dact = falloc(N * I, 24, 1.0f), *dpre = falloc(N * I, 25, 0.0f), *db = falloc(I, 26, 0.0f);
    TIME("bias + gelu_tanh [N, 4C]: 2 passes", 0.0, reps, {
        add_bias(pre, b, N, I);
        ft_gelu_tanh_forward(act, pre, N * I);
    });
    TIME("bias + gelu_tanh [N, 4C]: ft_bias_act_forward", 0.0, reps,
         ft_bias_act_forward(FT_ACT_GELU_TANH, act, pre, b, N, I));
    TIME("gelu_tanh bwd + bias grad: 3 passes", 0.0, reps, {
        memset(dpre, 0, (size_t)(N * I) * sizeof(float));
        ft_gelu_tanh_backward(dpre, dact, pre, N * I);
        ft_linear_backward(NULL, NULL, db, dpre, NULL, NULL, N, C, I, true);
    });
    TIME("gelu_tanh bwd + bias grad: ft_act_backward_bias", 0.0, reps,
         ft_act_backward_bias(FT_ACT_GELU_TANH, dpre, db, dact, pre, N, I));
    float *r = falloc(N * C, 28, 2.0f), *xo = falloc(N * C, 29, 0.0f);
    float *y = falloc(N * C, 30, 0.0f), *w = falloc(C, 31, 1.0f), *mean = falloc(N, 32, 0.0f),
          *rstd = falloc(N, 33, 0.0f);
    TIME("residual + layernorm [N, C]: add, then norm", 0.0, reps, {
        ft_add_inplace(xo, r, N * C); /* in place, as branch_out does without an adapter */
        ft_layernorm_forward(y, mean, rstd, xo, w, b, N, C, 1e-5f);
    });
    TIME("residual + layernorm [N, C]: fused", 0.0, reps,
         ft_residual_layernorm_forward(xo, y, mean, rstd, xo, r, w, b, N, C, 1e-5f));
    TIME("residual + rmsnorm [N, C]: add, then norm", 0.0, reps, {
        ft_add_inplace(xo, r, N * C); /* in place, as branch_out does without an adapter */
        ft_rmsnorm_forward(y, rstd, xo, w, N, C, 1e-5f);
    });
    TIME("residual + rmsnorm [N, C]: fused", 0.0, reps,
         ft_residual_rmsnorm_forward(xo, y, rstd, xo, r, w, N, C, 1e-5f));
    free(pre), free(act), free(b), free(dact), free(dpre), free(db), free(r), free(xo), free(y), free(w),
        free(mean), free(rstd);
    /* the step's gradient averaging (×1/count) and its norm, over GPT-2-124M's 124,439,808 values (the
     * factor is 1 here so that the values stay put across repeats; the passes are the same) */
    const int64_t np = 124439808;
    float *g = falloc(np, 34, 1e-3f);
    double sink = 0.0;
    TIME("grad mean + norm [124M]: scale, then norm", 0.0, reps, {
        ft_scale_inplace(g, np, 1.0f);
        sink += ft_sum_sq(g, np);
    });
    TIME("grad mean + norm [124M]: ft_scale_sum_sq", 0.0, reps, sink += ft_scale_sum_sq(g, np, 1.0f));
    free(g);
    return sink > 0.0 ? 0 : 1;
}

/* One layer's GEMMs: y = x·Wᵀ (NT), dx = dy·W (NN), dW = dyᵀ·x (TN) for q, k, v, o [C,C], fc [4C,C],
 * proj [C,4C]; then Q, K, V fused ([3C,C]). */
static int bench_gemms(int64_t N, int64_t C, int reps) {
    const int64_t I = 4 * C;
    float *x = falloc(N * I, 31, 1.0f), *W = falloc(I * I, 32, 0.1f), *y = falloc(N * I, 33, 0.0f),
          *dW = falloc(I * I, 34, 0.0f);
    static const struct {
        const char *name;
        int64_t out, in, count;
    } site[] = {{"q|k|v|o", 768, 768, 4}, {"fc (C→4C)", 3072, 768, 1}, {"proj (4C→C)", 768, 3072, 1}};
    double fwd = 0.0, dx = 0.0, dw = 0.0, flops_site = 0.0;
    for (size_t k = 0; k < sizeof site / sizeof *site; k++) {
        const int64_t out = site[k].out * C / 768, in = site[k].in * C / 768, cnt = site[k].count;
        const double f = 2.0 * (double)N * (double)out * (double)in;
        char lab[3][96];
        snprintf(lab[0], sizeof lab[0], "%s fwd  NT %lldx%lldx%lld", site[k].name, (long long)N, (long long)out,
                 (long long)in);
        snprintf(lab[1], sizeof lab[1], "%s dx   NN %lldx%lldx%lld", site[k].name, (long long)N, (long long)in,
                 (long long)out);
        snprintf(lab[2], sizeof lab[2], "%s dW   TN %lldx%lldx%lld", site[k].name, (long long)out,
                 (long long)in, (long long)N);
        double t[3];
        TIMED(t[0], lab[0], f, reps, ft_gemm(false, true, N, out, in, 1.0f, x, in, W, in, 0.0f, y, out));
        TIMED(t[1], lab[1], f, reps, ft_gemm(false, false, N, in, out, 1.0f, y, out, W, in, 1.0f, x, in));
        TIMED(t[2], lab[2], f, reps, ft_gemm(true, false, out, in, N, 1.0f, y, out, x, in, 1.0f, dW, in));
        fwd += t[0] * (double)cnt, dx += t[1] * (double)cnt, dw += t[2] * (double)cnt;
        flops_site += f * (double)cnt;
    }
    double tq[2];
    const double fq = 2.0 * (double)N * 3.0 * (double)C * (double)C;
    TIMED(tq[0], "fused QKV fwd NT", fq, reps, ft_gemm(false, true, N, 3 * C, C, 1.0f, x, C, W, C, 0.0f, y, 3 * C));
    TIMED(tq[1], "fused QKV dx  NN", fq, reps, ft_gemm(false, false, N, C, 3 * C, 1.0f, y, 3 * C, W, C, 1.0f, x, C));
    printf("  one layer, GEMMs only: forward %.2f ms, dx %.2f ms, dW %.2f ms\n", fwd * 1e3, dx * 1e3, dw * 1e3);
    printf("  full fine-tuning (fwd+dx+dW) %.2f ms = %.1f GFLOP/s; LoRA (fwd+dx) %.2f ms = %.1f GFLOP/s\n",
           (fwd + dx + dw) * 1e3, 3.0 * flops_site / (fwd + dx + dw) / 1e9, (fwd + dx) * 1e3,
           2.0 * flops_site / (fwd + dx) / 1e9);
    free(x), free(W), free(y), free(dW);
    return 0;
}

/* T5's attention with the relative position bias (kernels/attention_bias.c) at t5-small's heads (8 × 64):
 * self-attention over T tokens (bidirectional with padding as the encoder, causal as the decoder) and the
 * decoder's cross-attention of T/4 queries over T keys, batch 4; forward and backward. */
static void bench_attention_bias(int T, int reps) {
    const int B = 4, H = 8, D = 64, HD = H * D, Tq = T / 4 > 0 ? T / 4 : 1;
    float *q = falloc((int64_t)B * T * HD, 21, 1.0f), *k = falloc((int64_t)B * T * HD, 22, 1.0f),
          *v = falloc((int64_t)B * T * HD, 23, 1.0f), *o = falloc((int64_t)B * T * HD, 24, 0.0f),
          *dq = falloc((int64_t)B * T * HD, 25, 0.0f), *dk = falloc((int64_t)B * T * HD, 26, 0.0f),
          *dv = falloc((int64_t)B * T * HD, 27, 0.0f), *dout = falloc((int64_t)B * T * HD, 28, 1.0f),
          *bias = falloc((int64_t)H * T * T, 29, 1.0f), *dbias = falloc((int64_t)H * T * T, 30, 0.0f),
          *P = falloc((int64_t)B * H * T * T, 31, 0.0f), *work = falloc(2 * (int64_t)T * T, 32, 0.0f);
    int32_t *mask = malloc((size_t)B * (size_t)T * sizeof *mask);
    for (int i = 0; i < B * T; i++) /* the last row padded over its last quarter */
        mask[i] = !(i / T == B - 1 && i % T >= T - T / 4);
    const double fl = 4.0 * B * H * (double)T * T * D, flx = 4.0 * B * H * (double)Tq * T * D;
    const ft_attn_bias_shape enc = {
        .B = B, .Tq = T, .Tk = T, .H = H, .D = D, .q_stride = HD, .kv_stride = HD, .scale = 1.0f};
    ft_attn_bias_shape dec = enc, xat = enc;
    dec.causal = true;
    xat.Tq = Tq;
    printf("  t5 attention with bias: B=%d H=%d D=%d T=%d (cross: %d queries)\n", B, H, D, T, Tq);
    TIME("attention_bias fwd (encoder, padding)", fl, reps,
         ft_attention_bias_forward(o, P, q, k, v, bias, mask, &enc, work));
    TIME("attention_bias bwd (encoder, padding)", 2.0 * fl, reps,
         ft_attention_bias_backward(dq, dk, dv, dbias, dout, P, q, k, v, &enc, work));
    TIME("attention_bias fwd (decoder, causal)", fl, reps,
         ft_attention_bias_forward(o, P, q, k, v, bias, NULL, &dec, work));
    TIME("attention_bias bwd (decoder, causal)", 2.0 * fl, reps,
         ft_attention_bias_backward(dq, dk, dv, dbias, dout, P, q, k, v, &dec, work));
    TIME("attention_bias fwd (cross, no bias)", flx, reps,
         ft_attention_bias_forward(o, P, q, k, v, NULL, mask, &xat, work));
    TIME("attention_bias bwd (cross, no bias)", 2.0 * flx, reps,
         ft_attention_bias_backward(dq, dk, dv, NULL, dout, P, q, k, v, &xat, work));
    free(q), free(k), free(v), free(o), free(dq), free(dk), free(dv), free(dout), free(bias), free(dbias);
    free(P), free(work), free(mask);
}

int main(int argc, char **argv) {
    int B = 4, T = 128, C = 768, V = 50257, H = 12, reps = 5, threads = 2, attn_only = 0, fused_only = 0,
        gemms_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seq") && i + 1 < argc)
            T = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--attention"))
            attn_only = 1;
        else if (!strcmp(argv[i], "--fused"))
            fused_only = 1;
        else if (!strcmp(argv[i], "--gemms"))
            gemms_only = 1;
        else {
            fprintf(stderr, "usage: kernels [--reps 5] [--threads 2] [--seq 128] [--attention | --fused | --gemms "
                            "(only those rows)]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 64)
        reps = 5;
    omp_set_num_threads(threads);
    const int64_t N = (int64_t)B * T, D = C / H;
    const double dN = (double)N, dD = (double)D;
    printf("bench/kernels N=%lld C=%d V=%d H=%d T=%d threads=%d\n", (long long)N, C, V, H, T, threads);
    if (fused_only)
        return bench_fused(N, C, reps);
    if (gemms_only)
        return bench_gemms(N, C, reps);
    float *h = falloc(N * C, 1, 1.0f), *W = falloc((int64_t)V * C, 2, 0.1f), *dh = falloc(N * C, 3, 0.0f),
          *dW = falloc((int64_t)V * C, 4, 0.0f), *L = falloc(N * V, 5, 0.0f);
    int32_t *tg = malloc((size_t)N * sizeof *tg);
    for (int64_t i = 0; i < N; i++)
        tg[i] = (int32_t)(ft_rng_u64(9, 0, (uint64_t)i) % (uint64_t)V);
    const double lm_flops = 6.0 * dN * C * V;
    int64_t cnt;
    if (!attn_only) {
        TIME("lm head + CE unfused (fwd+bwd)", lm_flops, reps, {
            ft_linear_forward(L, h, W, NULL, N, C, V, false);
            (void)ft_cross_entropy_forward(L, tg, N, V, &cnt);
            ft_cross_entropy_backward(L, L, tg, N, V, 1.0f / (float)N);
            ft_linear_backward(dh, dW, NULL, L, h, W, N, C, V, false);
        });
    }
    static const int64_t chunks[] = {64, 128, 256, 512};
    for (size_t c = 0; c < (attn_only ? 0 : sizeof chunks / sizeof *chunks); c++) {
        float *work = malloc(ft_lmhead_ce_work_floats(chunks[c], V) * sizeof(float));
        double loss;
        char label[64];
        snprintf(label, sizeof label, "lm head + CE fused, chunk %lld", (long long)chunks[c]);
        TIME(label, lm_flops, reps,
             ft_lmhead_ce_forward_backward(h, W, tg, N, C, V, 1.0f / (float)N, dh, dW, &loss, &cnt, NULL, work,
                                           chunks[c]));
        free(work);
    }
    free(L);

    /* attention on a fused GPT-2 qkv buffer */
    float *qkv = falloc(N * 3 * C, 6, 2.0f), *dqkv = falloc(N * 3 * C, 7, 0.0f), *out = falloc(N * C, 8, 0.0f),
          *dout = falloc(N * C, 9, 1.0f), *probs = falloc((int64_t)B * H * T * T, 10, 0.0f);
    ft_attn_shape s = {B, T, H, H, (int)D, 3LL * C, 3LL * C, true, 1.0f / 8.0f, 0.0f, 0, 0, 0, 0};
    const double att_flops = 4.0 * dN * H * T * dD / 2.0; /* causal half */
    TIME("attention forward", att_flops, reps, ft_attention_forward(out, probs, qkv, qkv + C, qkv + 2 * C, NULL, &s));
    TIME("attention backward", 2.0 * att_flops, reps,
         ft_attention_backward(dqkv, dqkv + C, dqkv + 2 * C, dout, probs, qkv, qkv + C, qkv + 2 * C, NULL, &s));
    /* tiled form: keeps lse [B,H,T] instead of probs [B,H,T,T] for backward */
    float *lse = falloc((int64_t)B * H * T, 13, 0.0f);
    ft_status ast = FT_OK;
    TIME("attention forward, tiled (lse)", att_flops, reps,
         ast |= ft_attention_forward_lse(out, lse, qkv, qkv + C, qkv + 2 * C, NULL, &s));
    TIME("attention backward, tiled (lse)", 2.5 * att_flops, reps,
         ast |= ft_attention_backward_lse(dqkv, dqkv + C, dqkv + 2 * C, dout, out, lse, qkv, qkv + C, qkv + 2 * C,
                                          NULL, &s));
    TIME("attention fwd+bwd", 3.0 * att_flops, reps, {
        ft_attention_forward(out, probs, qkv, qkv + C, qkv + 2 * C, NULL, &s);
        ft_attention_backward(dqkv, dqkv + C, dqkv + 2 * C, dout, probs, qkv, qkv + C, qkv + 2 * C, NULL, &s);
    });
    TIME("attention fwd+bwd, tiled (lse)", 3.5 * att_flops, reps, {
        ast |= ft_attention_forward_lse(out, lse, qkv, qkv + C, qkv + 2 * C, NULL, &s);
        ast |= ft_attention_backward_lse(dqkv, dqkv + C, dqkv + 2 * C, dout, out, lse, qkv, qkv + C, qkv + 2 * C,
                                         NULL, &s);
    });
    if (ast != FT_OK)
        printf("  tiled attention failed: %s\n", ft_last_error());
    printf("  attention kept for backward: probs %.1f MiB, tiled lse %.3f MiB (+ %.2f MiB stack tiles)\n",
           (double)B * H * T * T * 4 / 1048576.0, (double)B * H * T * 4 / 1048576.0,
           (double)ft_attention_lse_scratch_bytes((int)D) / 1048576.0);
    free(lse);
    bench_attention_bias(T, reps);
    if (attn_only) {
        free(h), free(W), free(dh), free(dW), free(tg), free(qkv), free(dqkv), free(out), free(dout), free(probs);
        return 0;
    }
    float *fc = falloc(N * 4 * C, 11, 4.0f), *act = falloc(N * 4 * C, 12, 0.0f);
    TIME("gelu_tanh forward [N, 4C]", 0.0, reps, ft_gelu_tanh_forward(act, fc, N * 4 * C));
    TIME("gelu_tanh backward [N, 4C]", 0.0, reps, ft_gelu_tanh_backward(act, fc, fc, N * 4 * C));
    TIME("gelu_erf forward [N, 4C]", 0.0, reps, ft_gelu_erf_forward(act, fc, N * 4 * C));
    TIME("gelu_erf backward [N, 4C]", 0.0, reps, ft_gelu_erf_backward(act, fc, fc, N * 4 * C));

    /* GEMM at the MLP shape, fp32 vs bf16 */
    const int64_t M = N, K = C, Nn = 4 * C;
    TIME("ft_gemm f32 NN 512x3072x768", 2.0 * (double)M * (double)Nn * (double)K, reps,
         ft_gemm(false, false, M, Nn, K, 1.0f, h, K, W, Nn, 0.0f, act, Nn));
    ft_matmul *mm;
    if (ft_matmul_create(&mm) == FT_OK) {
        uint16_t *a16 = malloc((size_t)(M * K) * 2), *b16 = malloc((size_t)(K * Nn) * 2),
                 *l16 = malloc((size_t)V * (size_t)C * 2);
        ft_f32_to_bf16_n(a16, h, M * K);
        ft_f32_to_bf16_n(b16, W, K * Nn);
        ft_f32_to_bf16_n(l16, W, (int64_t)V * C);

        ft_status st = FT_OK;
        TIME("ft_matmul_bf16 NN 512x3072x768", 2.0 * (double)M * (double)Nn * (double)K, reps,
             st |= ft_matmul_bf16(mm, false, false, M, Nn, K, 1.0f, a16, K, b16, Nn, 0.0f, act, Nn));
        TIME("ft_matmul_bf16 NT 512x50257x768 (lm head)", 2.0 * (double)M * V * (double)K, reps,
             st |= ft_matmul_bf16(mm, false, true, M, V, K, 1.0f, a16, K, l16, K, 0.0f, dW, V));
        TIME("ft_gemm f32 NT 512x50257x768 (lm head)", 2.0 * (double)M * V * (double)K, reps,
             ft_gemm(false, true, M, V, K, 1.0f, h, K, W, K, 0.0f, dW, V));
        TIME("ft_f32_to_bf16 (V x C)", 0.0, reps, ft_f32_to_bf16_n(l16, W, (int64_t)V * C));
        printf("  bf16 matmul backend: %s (native bf16: %s, AMX: %s)\n", ft_matmul_backend(mm),
               ft_bf16_native() ? "yes" : "no", ft_bf16_amx() ? "yes" : "no");
        if (st != FT_OK)
            printf("  bf16 matmul failed: %s\n", ft_last_error());
        free(a16), free(b16), free(l16);
        ft_matmul_free(mm);
    }
    free(h), free(W), free(dh), free(dW), free(tg), free(qkv), free(dqkv), free(out), free(dout), free(probs);
    free(fc), free(act);
    return 0;
}
