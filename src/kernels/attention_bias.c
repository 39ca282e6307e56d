/* Attention with an additive score bias (T5's relative position bias) and separate query / key lengths
 * (cross-attention): s = scale·q·kᵀ + bias[h], keys masked by padding and causality, P = softmax(s) kept,
 * out = drop(P)·v. Plain loops, one query row at a time, parallel over heads (so the bias gradient summed
 * over the batch has one writer per head and the result does not depend on the thread count). */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"

/* Everything a row needs, forward or backward (unused pointers NULL). */
typedef struct {
    const ft_attn_bias_shape *s;
    const float *q, *k, *v, *bias, *dout;
    const int32_t *kmask;
    float *out, *probs, *dq, *dk, *dv, *dbias;
} attn_args;

typedef void (*row_fn)(const attn_args *a, int b, int h, int i, int64_t row, int64_t qo);

/* f on every query row (b, h, i) with the offsets of its P row [Tk] and of q's / out's head slice. */
static void for_rows(const attn_args *a, row_fn f) {
    const ft_attn_bias_shape *s = a->s;
#pragma omp parallel for schedule(static)
    for (int h = 0; h < s->H; h++)
        for (int b = 0; b < s->B; b++)
            for (int i = 0; i < s->Tq; i++)
                f(a, b, h, i, (((int64_t)b * s->H + h) * s->Tq + i) * s->Tk,
                  ((int64_t)b * s->Tq + i) * s->q_stride + (int64_t)h * s->D);
}

/* Key j's head slice of k / v. */
static int64_t key_at(const ft_attn_bias_shape *s, int b, int h, int j) {
    return ((int64_t)b * s->Tk + j) * s->kv_stride + (int64_t)h * s->D;
}

/* The dropout factor of P[b,h,i,j]: 0 (dropped) or 1/(1−p). */
static float keep_factor(const ft_attn_bias_shape *s, int64_t idx) {
    if (s->dropout <= 0.0f)
        return 1.0f;
    return ft_rng_uniform(s->seed, s->stream, (uint64_t)idx) >= s->dropout ? 1.0f / (1.0f - s->dropout)
                                                                           : 0.0f;
}

static void fwd_row(const attn_args *a, int b, int h, int i, int64_t row, int64_t qo) {
    const ft_attn_bias_shape *s = a->s;
    const int Tk = s->Tk, D = s->D;
    float *p = a->probs + row, *oi = a->out + qo;
    const float *qi = a->q + qo, *bi = a->bias ? a->bias + ((int64_t)h * s->Tq + i) * Tk : NULL;
    float mx = -INFINITY;
    for (int j = 0; j < Tk; j++) {
        if ((a->kmask && !a->kmask[(int64_t)b * Tk + j]) || (s->causal && j > i)) {
            p[j] = -INFINITY;
            continue;
        }
        const float *kj = a->k + key_at(s, b, h, j);
        float dot = 0.0f;
        for (int d = 0; d < D; d++)
            dot += qi[d] * kj[d];
        p[j] = dot * s->scale + (bi ? bi[j] : 0.0f);
        mx = p[j] > mx ? p[j] : mx;
    }
    memset(oi, 0, (size_t)D * sizeof(float));
    if (mx == -INFINITY) { /* no visible key: zeros */
        memset(p, 0, (size_t)Tk * sizeof(float));
        return;
    }
    double sum = 0.0;
    for (int j = 0; j < Tk; j++) {
        p[j] = p[j] == -INFINITY ? 0.0f : expf(p[j] - mx);
        sum += p[j];
    }
    const float inv = (float)(1.0 / sum);
    for (int j = 0; j < Tk; j++) {
        p[j] *= inv;
        const float w = p[j] * keep_factor(s, row + j);
        if (w == 0.0f)
            continue;
        const float *vj = a->v + key_at(s, b, h, j);
        for (int d = 0; d < D; d++)
            oi[d] += w * vj[d];
    }
}

void ft_attention_bias_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                               const float *bias, const int32_t *kmask, const ft_attn_bias_shape *s) {
    const attn_args a = {
        .s = s, .q = q, .k = k, .v = v, .bias = bias, .kmask = kmask, .out = out, .probs = probs};
    for_rows(&a, fwd_row);
}

/* dO_i·v_j (the gradient of the dropped probability). */
static float dout_dot_v(const attn_args *a, int64_t qo, int64_t ko) {
    float g = 0.0f;
    for (int d = 0; d < a->s->D; d++)
        g += a->dout[qo + d] * a->v[ko + d];
    return g;
}

static void bwd_row(const attn_args *a, int b, int h, int i, int64_t row, int64_t qo) {
    const ft_attn_bias_shape *s = a->s;
    const int Tk = s->Tk, D = s->D;
    const float *p = a->probs + row, *doi = a->dout + qo;
    /* dP_ij = keep_ij · dO_i·v_j; the softmax's backward needs Σ_j P_ij dP_ij first */
    double dot_pdp = 0.0;
    for (int j = 0; j < Tk; j++)
        if (p[j] != 0.0f)
            dot_pdp +=
                (double)p[j] * (double)(dout_dot_v(a, qo, key_at(s, b, h, j)) * keep_factor(s, row + j));
    for (int j = 0; j < Tk; j++) {
        if (p[j] == 0.0f) /* a hidden key (or an underflow): no gradient */
            continue;
        const int64_t ko = key_at(s, b, h, j);
        const float kf = keep_factor(s, row + j), ds = p[j] * (dout_dot_v(a, qo, ko) * kf - (float)dot_pdp);
        if (a->dv && kf != 0.0f)
            for (int d = 0; d < D; d++)
                a->dv[ko + d] += p[j] * kf * doi[d];
        if (a->dbias)
            a->dbias[((int64_t)h * s->Tq + i) * Tk + j] += ds;
        const float dss = ds * s->scale;
        for (int d = 0; a->dq && d < D; d++)
            a->dq[qo + d] += dss * a->k[ko + d];
        for (int d = 0; a->dk && d < D; d++)
            a->dk[ko + d] += dss * a->q[qo + d];
    }
}

void ft_attention_bias_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout,
                                const float *probs, const float *q, const float *k, const float *v,
                                const ft_attn_bias_shape *s) {
    const attn_args a = {.s = s,
                         .q = q,
                         .k = k,
                         .v = v,
                         .dout = dout,
                         .probs = (float *)(uintptr_t)probs,
                         .dq = dq,
                         .dk = dk,
                         .dv = dv,
                         .dbias = dbias};
    for_rows(&a, bwd_row);
}
