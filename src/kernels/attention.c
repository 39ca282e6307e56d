/* Scaled dot-product attention with causal and padding masks, grouped-query heads and dropout on
 * the probabilities. P = softmax(q·kᵀ·scale + mask), out = dropout(P)·v.
 * Work is split into tasks per (b, head) and, inside a task, into blocks of ATT_RB query rows that
 * go through ft_gemm (oneDNN runs it single-threaded inside our parallel region): under the causal
 * mask a block of rows [t0, t1) only needs keys [0, t1), so blocks above the diagonal are skipped. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/core.h"
#include "kernels/kernels.h"
#include "kernels/vecmath.h"

#define ATT_RB 32 /* query rows per block: 32×T scratch floats on the stack */

/* The dropout counter of probability (b, h, t, key 0): ((row·H + h)·Tk + t)·Tk with row = drop_row0 + b and
 * Tk = T + drop_pad, so a shard of a larger batch draws that batch's masks ((b·H + h)·T + t)·T alone. */
static inline int64_t rng_row(const ft_attn_shape *s, int b, int h, int t) {
    const int64_t Tk = (int64_t)s->T + s->drop_pad;
    return (((s->drop_row0 + b) * s->H + h) * Tk + t) * Tk;
}

static inline float keep_scale(const ft_attn_shape *s, int64_t idx) {
    if (s->dropout <= 0.0f)
        return 1.0f;
    return ft_rng_uniform(s->seed, s->stream, (uint64_t)idx) >= s->dropout ? 1.0f / (1.0f - s->dropout) : 0.0f;
}

/* Softmax of one row of scores pr[0..kend) in place over its visible keys; pr[kend..T) = 0. */
static void softmax_row(float *pr, const ft_attn_shape *s, const int32_t *mrow, int t, int kend) {
    const int T = s->T;
    int vis_end = s->causal ? (t + 1 < kend ? t + 1 : kend) : kend;
    float mx = -INFINITY;
    for (int j = 0; j < vis_end; j++) {
        if (mrow && mrow[j] == 0)
            pr[j] = -INFINITY;
        mx = pr[j] > mx ? pr[j] : mx;
    }
    if (mx == -INFINITY) /* no visible key: zero probabilities (and zero output) */
        vis_end = 0;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < vis_end; j++) {
        float e = pr[j] == -INFINITY ? 0.0f : ft_vexpf(pr[j] - mx);
        pr[j] = e;
        sum += e;
    }
    const float inv = vis_end > 0 ? 1.0f / sum : 0.0f;
#pragma omp simd
    for (int j = 0; j < vis_end; j++)
        pr[j] *= inv;
    for (int j = vis_end; j < T; j++)
        pr[j] = 0.0f;
}

void ft_attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                          const int32_t *mask, const ft_attn_shape *s) {
    const int B = s->B, T = s->T, H = s->H, D = s->D, rep = s->H / s->Hkv;
    const int64_t HD = (int64_t)H * D;
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if (B * H > 1)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const int g = h / rep;
            const float *qb = q + (int64_t)b * T * s->q_stride + (int64_t)h * D;
            const float *kb = k + (int64_t)b * T * s->kv_stride + (int64_t)g * D;
            const float *vb = v + (int64_t)b * T * s->kv_stride + (int64_t)g * D;
            float *ob = out + (int64_t)b * T * HD + (int64_t)h * D;
            float *pb = probs + ((int64_t)b * H + h) * T * T;
            const int32_t *mrow = mask ? mask + (int64_t)b * T : NULL;
            for (int t0 = 0; t0 < T; t0 += ATT_RB) {
                const int t1 = t0 + ATT_RB < T ? t0 + ATT_RB : T, rb = t1 - t0;
                const int kend = s->causal ? t1 : T;
                float *P = pb + (int64_t)t0 * T;
                /* S = scale · Q[t0:t1] K[0:kend]ᵀ, straight into the probs rows */
                ft_gemm(false, true, rb, kend, D, s->scale, qb + (int64_t)t0 * s->q_stride, s->q_stride, kb,
                        s->kv_stride, 0.0f, P, T);
                for (int t = t0; t < t1; t++)
                    softmax_row(P + (int64_t)(t - t0) * T, s, mrow, t, kend);
                if (s->dropout <= 0.0f) {
                    ft_gemm(false, false, rb, D, kend, 1.0f, P, T, vb, s->kv_stride, 0.0f,
                            ob + (int64_t)t0 * HD, HD);
                } else {
                    float pk[ATT_RB * T]; /* dropout(P) for this block */
                    for (int r = 0; r < rb; r++) {
                        const int64_t key = rng_row(s, b, h, t0 + r);
                        for (int j = 0; j < kend; j++) {
                            const int64_t idx = (int64_t)(t0 + r) * T + j;
                            pk[r * kend + j] = pb[idx] == 0.0f ? 0.0f : pb[idx] * keep_scale(s, key + j);
                        }
                    }
                    ft_gemm(false, false, rb, D, kend, 1.0f, pk, kend, vb, s->kv_stride, 0.0f,
                            ob + (int64_t)t0 * HD, HD);
                }
            }
        }
    }
}

void ft_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs,
                           const float *q, const float *k, const float *v, const int32_t *mask,
                           const ft_attn_shape *s) {
    const int B = s->B, T = s->T, H = s->H, Hkv = s->Hkv, D = s->D, rep = s->H / s->Hkv;
    const int64_t HD = (int64_t)H * D;
    (void)mask; /* invisible keys already carry probability 0 */
    /* Tasks over (b, kv head): each writes only its own dk/dv rows and its group's dq heads. */
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if (B * Hkv > 1)
    for (int b = 0; b < B; b++) {
        for (int g = 0; g < Hkv; g++) {
            float buf[ATT_RB * T];
            const float *kb = k + (int64_t)b * T * s->kv_stride + (int64_t)g * D;
            const float *vb = v + (int64_t)b * T * s->kv_stride + (int64_t)g * D;
            float *dkb = dk + (int64_t)b * T * s->kv_stride + (int64_t)g * D;
            float *dvb = dv + (int64_t)b * T * s->kv_stride + (int64_t)g * D;
            for (int h = g * rep; h < (g + 1) * rep; h++) {
                const float *qb = q + (int64_t)b * T * s->q_stride + (int64_t)h * D;
                float *dqb = dq + (int64_t)b * T * s->q_stride + (int64_t)h * D;
                const float *dob = dout + (int64_t)b * T * HD + (int64_t)h * D;
                const float *pb = probs + ((int64_t)b * H + h) * T * T;
                for (int t0 = 0; t0 < T; t0 += ATT_RB) {
                    const int t1 = t0 + ATT_RB < T ? t0 + ATT_RB : T, rb = t1 - t0;
                    const int kend = s->causal ? t1 : T;
                    const float *P = pb + (int64_t)t0 * T;
                    const float *dO = dob + (int64_t)t0 * HD;
                    /* dV[0:kend] += dropout(P)ᵀ dO */
                    if (s->dropout <= 0.0f) {
                        ft_gemm(true, false, kend, D, rb, 1.0f, P, T, dO, HD, 1.0f, dvb, s->kv_stride);
                    } else {
                        for (int r = 0; r < rb; r++) {
                            const int64_t key = rng_row(s, b, h, t0 + r);
                            for (int j = 0; j < kend; j++) {
                                const int64_t idx = (int64_t)(t0 + r) * T + j;
                                buf[r * kend + j] = pb[idx] == 0.0f ? 0.0f : pb[idx] * keep_scale(s, key + j);
                            }
                        }
                        ft_gemm(true, false, kend, D, rb, 1.0f, buf, kend, dO, HD, 1.0f, dvb, s->kv_stride);
                    }
                    /* dP = (dO Vᵀ) ⊙ keep; dS = P ⊙ (dP − Σ_j P·dP) · scale */
                    ft_gemm(false, true, rb, kend, D, 1.0f, dO, HD, vb, s->kv_stride, 0.0f, buf, kend);
                    for (int r = 0; r < rb; r++) {
                        const float *pr = P + (int64_t)r * T;
                        float *br = buf + (int64_t)r * kend;
                        if (s->dropout > 0.0f)
                            for (int j = 0; j < kend; j++)
                                br[j] = pr[j] == 0.0f ? 0.0f
                                                      : br[j] * keep_scale(s, rng_row(s, b, h, t0 + r) + j);
                        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                        for (int j = 0; j < kend; j++)
                            dot += pr[j] * br[j];
#pragma omp simd
                        for (int j = 0; j < kend; j++)
                            br[j] = pr[j] * (br[j] - dot) * s->scale;
                    }
                    /* dQ[t0:t1] += dS K[0:kend];  dK[0:kend] += dSᵀ Q[t0:t1] */
                    ft_gemm(false, false, rb, D, kend, 1.0f, buf, kend, kb, s->kv_stride, 1.0f,
                            dqb + (int64_t)t0 * s->q_stride, s->q_stride);
                    ft_gemm(true, false, kend, D, rb, 1.0f, buf, kend, qb + (int64_t)t0 * s->q_stride, s->q_stride,
                            1.0f, dkb, s->kv_stride);
                }
            }
        }
    }
}

/* ---- tiled attention with the row log-sum-exp (FlashAttention-2 style, memory linear in T) ----
 * Forward walks a tile of ATT_QB query rows over key blocks of ATT_KB with an online softmax:
 * per row the running max m and sum l of e^{s−m}; a new block with max m' rescales l and the output
 * accumulator by e^{m−m'}. Only lse = m + ln l is kept; backward recomputes P = e^{s − lse} block by
 * block. Scratch (a few tiles) lives on each thread's stack. */
#ifndef ATT_QB
#define ATT_QB 64 /* query rows per tile */
#endif
#ifndef ATT_KB
#define ATT_KB 128 /* keys per tile */
#endif
#define ATT_DMAX 512

static ft_status attn_check(const char *fn, const ft_attn_shape *s) {
    if (!s)
        return ft_fail(FT_ERR_ARG, "%s: no shape", fn);
    if (s->B < 1 || s->T < 1 || s->H < 1 || s->Hkv < 1 || s->D < 1)
        return ft_fail(FT_ERR_SHAPE, "%s: B=%d T=%d H=%d Hkv=%d D=%d must all be positive", fn, s->B, s->T, s->H,
                       s->Hkv, s->D);
    if (s->H % s->Hkv != 0)
        return ft_fail(FT_ERR_SHAPE, "%s: H=%d is not a multiple of Hkv=%d", fn, s->H, s->Hkv);
    if (s->D > ATT_DMAX)
        return ft_fail(FT_ERR_UNSUPPORTED, "%s: head dim D=%d over %d", fn, s->D, ATT_DMAX);
    if (s->q_stride < (int64_t)s->H * s->D || s->kv_stride < (int64_t)s->Hkv * s->D)
        return ft_fail(FT_ERR_SHAPE, "%s: q_stride %lld / kv_stride %lld below H*D = %lld / Hkv*D = %lld", fn,
                       (long long)s->q_stride, (long long)s->kv_stride, (long long)s->H * s->D,
                       (long long)s->Hkv * s->D);
    if (!(s->dropout >= 0.0f && s->dropout < 1.0f))
        return ft_fail(FT_ERR_RANGE, "%s: dropout %g outside [0, 1)", fn, (double)s->dropout);
    if (!isfinite(s->scale))
        return ft_fail(FT_ERR_RANGE, "%s: scale %g is not finite", fn, (double)s->scale);
    return FT_OK;
}

size_t ft_attention_lse_scratch_bytes(int D) {
    /* backward: three QB×KB tiles + Di; forward: one tile + the QB×D accumulator + m, l */
    const size_t bwd = (3 * (size_t)ATT_QB * ATT_KB + ATT_QB) * sizeof(float);
    const size_t dd = (size_t)(D > 0 ? D : 0);
    const size_t fwd = ((size_t)ATT_QB * ATT_KB + (size_t)ATT_QB * dd + 2 * ATT_QB) * sizeof(float);
    return (size_t)omp_get_max_threads() * (bwd > fwd ? bwd : fwd);
}

/* Visible keys of row t inside block [j0, j1): [j0, j0 + vis) (causal cut), padding aside. */
static inline int block_vis(const ft_attn_shape *s, int t, int j0, int j1) {
    const int e = s->causal && t + 1 < j1 ? t + 1 : j1;
    return e > j0 ? e - j0 : 0;
}

/* x ← e^{x − c} over a whole tile row (elementwise, so the trip count changes no bits) */
static void exp_shift(float *restrict x, int n, float c) {
#pragma omp simd
    for (int j = 0; j < n; j++)
        x[j] = ft_vexpf_rn(x[j] - c);
}

/* One query tile [t0, t1) of head h in batch b: out rows and lse. */
static void fwd_tile(float *out, float *lse, const float *q, const float *k, const float *v, const int32_t *mask,
                     const ft_attn_shape *s, int b, int h, int t0, int t1) {
    const int T = s->T, H = s->H, D = s->D, g = h / (s->H / s->Hkv), rb = t1 - t0;
    const int64_t HD = (int64_t)H * D, qs = s->q_stride, ks = s->kv_stride;
    const float *qb = q + ((int64_t)b * T + t0) * qs + (int64_t)h * D;
    const float *kb = k + (int64_t)b * T * ks + (int64_t)g * D;
    const float *vb = v + (int64_t)b * T * ks + (int64_t)g * D;
    const int32_t *mrow = mask ? mask + (int64_t)b * T : NULL;
    const int kend = s->causal ? t1 : T;
    _Alignas(64) float S[ATT_QB * ATT_KB];
    float O[ATT_QB * D], m[ATT_QB], l[ATT_QB];
    memset(O, 0, (size_t)rb * (size_t)D * sizeof(float));
    for (int r = 0; r < rb; r++)
        m[r] = -INFINITY, l[r] = 0.0f;
    for (int j0 = 0; j0 < kend; j0 += ATT_KB) {
        const int j1 = j0 + ATT_KB < kend ? j0 + ATT_KB : kend, cb = j1 - j0;
        /* S = scale · Q[t0:t1] K[j0:j1]ᵀ */
        ft_gemm(false, true, rb, cb, D, s->scale, qb, qs, kb + (int64_t)j0 * ks, ks, 0.0f, S, ATT_KB);
        for (int r = 0; r < rb; r++) {
            const int t = t0 + r, vis = block_vis(s, t, j0, j1);
            float *sr = S + (int64_t)r * ATT_KB;
            float mx = m[r];
            for (int j = 0; j < vis; j++) {
                if (mrow && mrow[j0 + j] == 0)
                    sr[j] = -INFINITY;
                mx = sr[j] > mx ? sr[j] : mx;
            }
            if (mx == -INFINITY) { /* nothing visible so far: this block adds nothing */
                memset(sr, 0, (size_t)cb * sizeof(float));
                continue;
            }
            for (int j = vis; j < cb; j++)
                sr[j] = -INFINITY;
#pragma omp simd
            for (int j = 0; j < cb; j++) {
                const float x = sr[j], e = ft_vexpf_rn(x - mx);
                sr[j] = x == -INFINITY ? 0.0f : e;
            }
            /* summed over the visible prefix only: its rounding then does not depend on how much
             * padding T adds after it (a micro-batch and the full batch give the same bits) */
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < vis; j++)
                sum += sr[j];
            if (mx != m[r]) { /* rescale what earlier blocks accumulated: e^{m − m'} */
                const float corr = m[r] == -INFINITY ? 0.0f : ft_vexpf_rn(m[r] - mx);
                l[r] *= corr;
                float *orow = O + (int64_t)r * D;
#pragma omp simd
                for (int d = 0; d < D; d++)
                    orow[d] *= corr;
                m[r] = mx;
            }
            l[r] += sum;
            if (s->dropout > 0.0f) { /* l sums P before dropout; the output gets P ⊙ keep */
                const int64_t rbase = rng_row(s, b, h, t) + j0;
                for (int j = 0; j < vis; j++)
                    if (sr[j] != 0.0f)
                        sr[j] *= keep_scale(s, rbase + j);
            }
        }
        ft_gemm(false, false, rb, D, cb, 1.0f, S, ATT_KB, vb + (int64_t)j0 * ks, ks, 1.0f, O, D);
    }
    float *lb = lse + ((int64_t)b * H + h) * T + t0;
    for (int r = 0; r < rb; r++) {
        const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        float *orow = out + ((int64_t)b * T + t0 + r) * HD + (int64_t)h * D;
        const float *arow = O + (int64_t)r * D;
#pragma omp simd
        for (int d = 0; d < D; d++)
            orow[d] = arow[d] * inv;
        lb[r] = l[r] > 0.0f ? m[r] + logf(l[r]) : -INFINITY;
    }
}

ft_status ft_attention_forward_lse(float *out, float *lse, const float *q, const float *k, const float *v,
                                   const int32_t *mask, const ft_attn_shape *s) {
    FT_TRY(attn_check("ft_attention_forward_lse", s));
    if (!out || !lse || !q || !k || !v)
        return ft_fail(FT_ERR_ARG, "ft_attention_forward_lse: NULL out/lse/q/k/v");
    const int B = s->B, H = s->H, nqb = (s->T + ATT_QB - 1) / ATT_QB;
    /* tasks (b, h, query tile); under the causal mask the late tiles cost most, so they go first */
#pragma omp parallel for collapse(3) schedule(dynamic, 1) if ((int64_t)B * H * nqb > 1)
    for (int qi = 0; qi < nqb; qi++)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                const int t0 = (nqb - 1 - qi) * ATT_QB, t1 = t0 + ATT_QB < s->T ? t0 + ATT_QB : s->T;
                fwd_tile(out, lse, q, k, v, mask, s, b, h, t0, t1);
            }
    return FT_OK;
}

ft_status ft_attention_backward_lse(float *dq, float *dk, float *dv, const float *dout, const float *out,
                                    const float *lse, const float *q, const float *k, const float *v,
                                    const int32_t *mask, const ft_attn_shape *s) {
    FT_TRY(attn_check("ft_attention_backward_lse", s));
    if (!dq || !dk || !dv || !dout || !out || !lse || !q || !k || !v)
        return ft_fail(FT_ERR_ARG, "ft_attention_backward_lse: NULL gradient or input buffer");
    const int B = s->B, T = s->T, H = s->H, Hkv = s->Hkv, D = s->D, rep = H / Hkv;
    const int64_t HD = (int64_t)H * D, qs = s->q_stride, ks = s->kv_stride;
    const bool drop = s->dropout > 0.0f;
    /* Tasks over (b, kv head): each owns its dk/dv rows and the dq rows of its group's heads. */
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if (B * Hkv > 1)
    for (int b = 0; b < B; b++) {
        for (int g = 0; g < Hkv; g++) {
            _Alignas(64) float P[ATT_QB * ATT_KB], X[ATT_QB * ATT_KB], Y[ATT_QB * ATT_KB];
            float Di[ATT_QB];
            float *PK = drop ? X : P; /* P ⊙ keep */
            const float *kb = k + (int64_t)b * T * ks + (int64_t)g * D;
            const float *vb = v + (int64_t)b * T * ks + (int64_t)g * D;
            float *dkb = dk + (int64_t)b * T * ks + (int64_t)g * D;
            float *dvb = dv + (int64_t)b * T * ks + (int64_t)g * D;
            const int32_t *mrow = mask ? mask + (int64_t)b * T : NULL;
            for (int h = g * rep; h < (g + 1) * rep; h++) {
                const float *qb = q + (int64_t)b * T * qs + (int64_t)h * D;
                float *dqb = dq + (int64_t)b * T * qs + (int64_t)h * D;
                const int64_t obase = (int64_t)b * T * HD + (int64_t)h * D;
                const float *lb = lse + ((int64_t)b * H + h) * T;
                for (int t0 = 0; t0 < T; t0 += ATT_QB) {
                    const int t1 = t0 + ATT_QB < T ? t0 + ATT_QB : T, rb = t1 - t0;
                    const int kend = s->causal ? t1 : T;
                    const float *dO = dout + obase + (int64_t)t0 * HD;
                    /* Di = Σ_d dO·O = Σ_j P·keep·dP (the softmax backward's row term) */
                    for (int r = 0; r < rb; r++) {
                        const float *a = dO + (int64_t)r * HD, *o = out + obase + (int64_t)(t0 + r) * HD;
                        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                        for (int d = 0; d < D; d++)
                            dot += a[d] * o[d];
                        Di[r] = dot;
                    }
                    for (int j0 = 0; j0 < kend; j0 += ATT_KB) {
                        const int j1 = j0 + ATT_KB < kend ? j0 + ATT_KB : kend, cb = j1 - j0;
                        /* P = e^{scale·Q Kᵀ − lse} over visible keys, 0 elsewhere */
                        ft_gemm(false, true, rb, cb, D, s->scale, qb + (int64_t)t0 * qs, qs, kb + (int64_t)j0 * ks,
                                ks, 0.0f, P, ATT_KB);
                        for (int r = 0; r < rb; r++) {
                            const int t = t0 + r;
                            const float L = lb[t];
                            const int vis = L == -INFINITY ? 0 : block_vis(s, t, j0, j1);
                            float *pr = P + (int64_t)r * ATT_KB;
                            /* over the whole row (a fixed trip count vectorizes); cut below */
                            if (vis > 0)
                                exp_shift(pr, cb, L);
                            if (mrow)
                                for (int j = 0; j < vis; j++)
                                    pr[j] = mrow[j0 + j] == 0 ? 0.0f : pr[j];
                            for (int j = vis; j < cb; j++)
                                pr[j] = 0.0f;
                            if (drop) {
                                float *xr = X + (int64_t)r * ATT_KB;
                                const int64_t rbase = rng_row(s, b, h, t) + j0;
                                for (int j = 0; j < cb; j++)
                                    xr[j] = pr[j] == 0.0f ? 0.0f : pr[j] * keep_scale(s, rbase + j);
                            }
                        }
                        /* dV[j0:j1] += (P ⊙ keep)ᵀ dO;  dP = (dO Vᵀ) ⊙ keep */
                        ft_gemm(true, false, cb, D, rb, 1.0f, PK, ATT_KB, dO, HD, 1.0f, dvb + (int64_t)j0 * ks, ks);
                        ft_gemm(false, true, rb, cb, D, 1.0f, dO, HD, vb + (int64_t)j0 * ks, ks, 0.0f, Y, ATT_KB);
                        /* dS = (P⊙keep⊙dO Vᵀ − P·Di) · scale, in Y */
                        for (int r = 0; r < rb; r++) {
                            const float *pr = P + (int64_t)r * ATT_KB, *xr = PK + (int64_t)r * ATT_KB;
                            float *yr = Y + (int64_t)r * ATT_KB;
                            const float di = Di[r];
#pragma omp simd
                            for (int j = 0; j < cb; j++)
                                yr[j] = (xr[j] * yr[j] - pr[j] * di) * s->scale;
                        }
                        /* dQ[t0:t1] += dS K[j0:j1];  dK[j0:j1] += dSᵀ Q[t0:t1] */
                        ft_gemm(false, false, rb, D, cb, 1.0f, Y, ATT_KB, kb + (int64_t)j0 * ks, ks, 1.0f,
                                dqb + (int64_t)t0 * qs, qs);
                        ft_gemm(true, false, cb, D, rb, 1.0f, Y, ATT_KB, qb + (int64_t)t0 * qs, qs, 1.0f,
                                dkb + (int64_t)j0 * ks, ks);
                    }
                }
            }
        }
    }
    return FT_OK;
}
