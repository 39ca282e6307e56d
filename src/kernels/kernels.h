/* kernels: pure functions on raw float arrays, forward and backward side by side.
 * Conventions: row-major; activations are [N, C] with N = B*T rows; backward functions ACCUMULATE
 * into gradient buffers (+=) unless their comment says "writes"; nothing here allocates. */
#ifndef FT_KERNELS_H
#define FT_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h" /* ft_status */

/* ---- GEMM (oneDNN dnnl_sgemm, row-major) ----
 * C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C; op(X) = X or X^T per flag. */
void ft_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
             int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* ---- bf16 GEMM (oneDNN matmul: bf16 A, B; fp32 C and accumulation) ----
 * C[M,N] = alpha·op(A)·op(B) + beta·C like ft_gemm, A and B as raw bf16 (uint16_t) row-major with
 * leading dimensions. An ft_matmul handle owns the oneDNN engine/stream and a cache of primitives
 * keyed by (transposes, M, N, K, lda, ldb, ldc, alpha, beta): the first call of a shape builds one
 * (~ms), later calls reuse it. One handle per thread (it is not thread-safe). Without native bf16
 * (AVX512-BF16/AMX) the handle widens to fp32 and calls ft_gemm, so results stay correct anywhere.
 * ft_matmul_backend names the implementation of the last call (e.g. "brg:avx512_core_amx_bf16"). */
typedef struct ft_matmul ft_matmul;
ft_status ft_matmul_create(ft_matmul **out);
void ft_matmul_free(ft_matmul *mm);
ft_status ft_matmul_bf16(ft_matmul *mm, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb, float beta, float *C,
                         int64_t ldc);
const char *ft_matmul_backend(const ft_matmul *mm);
bool ft_bf16_native(void); /* CPU has AVX512-BF16 (or better) as oneDNN sees it; false if FTUNE_NO_BF16=1 */
const char *ft_bf16_isa_name(void); /* oneDNN's effective ISA, for messages */
/* A bf16 buffer of ≥ n values owned by the handle (grows, never shrinks; slots are independent),
 * for callers that round activations to bf16 before a call. NULL on failure (message set). */
#define FT_MATMUL_SLOTS 3
uint16_t *ft_matmul_scratch(ft_matmul *mm, int slot, size_t n);
/* ft_linear_forward / ft_linear_backward with a bf16 copy of W: x and dy are rounded to bf16 in the
 * handle's scratch (slots 0 and 1), products accumulate in fp32; the bias and its gradient stay fp32. */
ft_status ft_linear_forward_bf16(ft_matmul *mm, float *y, const float *x, const uint16_t *w16, const float *b,
                                 int64_t N, int64_t in, int64_t out, bool w_in_out);
ft_status ft_linear_backward_bf16(ft_matmul *mm, float *dx, float *dw, float *db, const float *dy, const float *x,
                                  const uint16_t *w16, int64_t N, int64_t in, int64_t out, bool w_in_out);
bool ft_bf16_amx(void);    /* CPU has AMX-BF16 */
/* fp32 → bf16 rounding to nearest even (NaN stays NaN); bf16 → fp32 exact. */
void ft_f32_to_bf16_n(uint16_t *dst, const float *src, int64_t n);
void ft_bf16_to_f32_n(float *dst, const uint16_t *src, int64_t n);

/* ---- GEMM on a half-precision B (a frozen base weight used in place from the checkpoint mapping) ----
 * C[M,N] = alpha·A[M,K]·op(B) + beta·C with A fp32 row-major and B raw bf16 (f16 = false) or IEEE f16
 * (f16 = true), leading dimension ldb; op(B) = Bᵀ when trans_b (B [N,K], nn.Linear's W[out,in]).
 * B is widened to fp32 (exact: bf16/f16 ⊂ fp32) nb columns of op(B) at a time into panel [nb·K floats] and
 * each panel goes through ft_gemm for those columns of C, so no fp32 copy of B exists and every output is one
 * ft_gemm sum over the whole K (the same as ft_gemm on the widened B except where the library's blocking
 * depends on the column count). nb ≤ 0: ft_gemm_half_nb(K) (≈ 32 MiB panels), panel then
 * ft_gemm_half_panel_floats(K, N) floats. */
int64_t ft_gemm_half_nb(int64_t K);
size_t ft_gemm_half_panel_floats(int64_t K, int64_t N);
void ft_gemm_half(bool trans_b, bool f16, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                  int64_t lda, const uint16_t *B, int64_t ldb, float beta, float *C, int64_t ldc,
                  float *panel, int64_t nb);
/* n half values (bf16 or f16) → fp32, exact. */
void ft_half_to_f32_n(float *dst, const uint16_t *src, int64_t n, bool f16);
/* The same on an int8 B with one fp32 scale per stored row (B [N,K] when trans_b: per column of op(B), an
 * nn.Linear's output channel; B [K,N] otherwise: per row k): op(B) = q·scale widened panel by panel, each
 * value (float)q·scale exactly as ft_q8_to_f32_n gives it (a frozen base quantized at load, train.base_dtype
 * int8). The panel is ft_gemm_half_panel_floats(K, N) floats. */
void ft_gemm_q8(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                const int8_t *B, const float *scale, int64_t ldb, float beta, float *C, int64_t ldc,
                float *panel, int64_t nb);
/* n int8 values → fp32: dst[i] = (float)src[i]·scale. */
void ft_q8_to_f32_n(float *dst, const int8_t *src, float scale, int64_t n);
/* Symmetric int8 quantization of one row of n values: scale = max|x| / 127 (0 for a zero row), q = x / scale
 * rounded to nearest (ties to even), in [-127, 127]. false when the row holds NaN or Inf. */
bool ft_q8_quantize_row(const float *x, int64_t n, int8_t *q, float *scale);

/* ---- int8 × int8 products (train.int8_matmul; kernels/int8.c, ft_matmul_s8 in matmul_bf16.c) ----
 * ft_matmul_s8: C[M,N] (int32) = A[M,K] (int8, row-major, lda) · op(B) (int8; B [N,K] when tb, else [K,N]),
 * exact, through the handle's oneDNN primitive cache (brgemm on AVX512-VNNI / AVX-VNNI / AMX-INT8), or an
 * exact integer loop on a CPU without VNNI (where oneDNN's u8·s8 pairs could saturate). ft_int8_native: the
 * CPU has VNNI as oneDNN sees it (false when FTUNE_NO_VNNI=1); ft_int8_isa_name names what it sees. */
ft_status ft_matmul_s8(ft_matmul *mm, bool tb, int64_t M, int64_t N, int64_t K, const int8_t *A, int64_t lda,
                       const int8_t *B, int64_t ldb, int32_t *C, int64_t ldc);
bool ft_int8_native(void);
const char *ft_int8_isa_name(void);
/* Activations for an int8 product: each row of x [rows, cols], times col_scale[j] first when col_scale is
 * not NULL, quantized as ft_q8_quantize_row into q [rows, cols] and scale [rows]; a row holding NaN or Inf
 * gets scale NaN (q 0), so the product's row is NaN and the non-finite guards see it. Rows in parallel. */
void ft_q8_quantize_act(int8_t *q, float *scale, const float *x, const float *col_scale, int64_t rows,
                        int64_t cols);
/* The fp32 result of an int8 product: y[i,j] (+)= acc[i,j]·row_scale[i]·col_scale[j] (col_scale may be NULL:
 * 1) + bias[j] (bias may be NULL); accumulate: add to y, else write it. */
void ft_q8_dequant_acc(float *y, const int32_t *acc, const float *row_scale, const float *col_scale,
                       const float *bias, int64_t rows, int64_t cols, bool accumulate);

/* ---- linear layer: y[N,out] = x[N,in] W + b, with W stored either as [out,in] (nn.Linear,
 * w_in_out=false) or [in,out] (GPT-2 Conv1D, w_in_out=true). ---- */
void ft_linear_forward(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t in,
                       int64_t out, bool w_in_out);
/* dx += dy W^T (if dx), dW += x^T dy in W's layout (if dw), db += sum_rows dy (if db). */
void ft_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        int64_t N, int64_t in, int64_t out, bool w_in_out);

/* ---- LayerNorm: y = (x - mean) * rstd * w + b; mean/rstd [N] saved for backward (writes y, mean, rstd) ---- */
void ft_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                          int64_t N, int64_t C, float eps);
void ft_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                           const float *mean, const float *rstd, int64_t N, int64_t C);

/* ---- RMSNorm (Llama): y = x * rsqrt(mean(x^2) + eps) * w; rstd [N] saved ---- */
void ft_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int64_t N, int64_t C, float eps);
void ft_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, const float *rstd,
                         int64_t N, int64_t C);

/* ---- activations (elementwise over n; backward accumulates dx += dy * f'(x)) ----
 * ft_act names one for the fused kernels below and the models' config (hidden_act). */
typedef enum { FT_ACT_GELU_TANH = 0, FT_ACT_GELU_ERF, FT_ACT_SILU, FT_ACT_RELU, FT_ACT_IDENTITY } ft_act;
void ft_gelu_tanh_forward(float *y, const float *x, int64_t n); /* gelu_new: 0.5x(1+tanh(√(2/π)(x+0.044715x³))) */
void ft_gelu_tanh_backward(float *dx, const float *dy, const float *x, int64_t n);
/* exact: 0.5x(1+erf(x/√2)), with a vectorized erf (absolute error ≤ 1.1e-7; the left tail as ½·erfc, so
 * relatively accurate too) instead of libm's scalar erff. These loops and the fused ones below for
 * FT_ACT_GELU_ERF run an AVX2+FMA twin when the CPU has both (FTUNE_NO_AVX2=1: the build's portable code). */
void ft_gelu_erf_forward(float *y, const float *x, int64_t n);
void ft_gelu_erf_backward(float *dx, const float *dy, const float *x, int64_t n);
void ft_silu_forward(float *y, const float *x, int64_t n); /* x·σ(x) */
void ft_silu_backward(float *dx, const float *dy, const float *x, int64_t n);
/* Any ft_act by name (the models' configured activation): forward writes y (y may be x), backward
 * accumulates dx += dy·f'(x). The same per-element formulas as the fused kernels below. */
void ft_act_forward(ft_act a, float *y, const float *x, int64_t n);
void ft_act_backward(ft_act a, float *dx, const float *dy, const float *x, int64_t n);
/* SwiGLU: h = silu(gate) * up (writes h) */
void ft_swiglu_forward(float *h, const float *gate, const float *up, int64_t n);
void ft_swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up, int64_t n);

/* ---- fused bias + activation (the MLP's c_fc epilogue), rows of C features ----
 * Forward: pre[i,j] += b[j] (b may be NULL) in place, act[i,j] = f(pre[i,j]) (writes act), one pass;
 * pre stays the pre-activation the backward needs. Same arithmetic as adding the bias in
 * ft_linear_forward then ft_act_forward, so the bits agree with that composition.
 * Backward: dpre = dact ⊙ f'(pre) (WRITES dpre) and db[j] += Σ_i dpre[i,j] (if db) in the same pass,
 * column block by column block: each column's sum runs over the rows in order 0..N−1 as in
 * ft_linear_backward, so the result does not depend on the thread count. */
void ft_bias_act_forward(ft_act f, float *act, float *pre, const float *b, int64_t N, int64_t C);
void ft_act_backward_bias(ft_act f, float *dpre, float *db, const float *dact, const float *pre, int64_t N,
                          int64_t C);

/* ---- fused residual add + norm (one read of x and r per row; the row then sits in L1) ----
 * xo = x + r (writes; xo may alias x or r), y = LayerNorm(xo) / RMSNorm(xo) with mean/rstd saved, the
 * statistics as in ft_layernorm_forward / ft_rmsnorm_forward (the same row routine, so the bits agree
 * with ft_add_inplace followed by those). */
void ft_residual_layernorm_forward(float *xo, float *y, float *mean, float *rstd, const float *x,
                                   const float *r, const float *w, const float *b, int64_t N, int64_t C,
                                   float eps);
void ft_residual_rmsnorm_forward(float *xo, float *y, float *rstd, const float *x, const float *r,
                                 const float *w, int64_t N, int64_t C, float eps);

/* ---- softmax over rows of length C (writes y); backward: dx += y ⊙ (dy − Σ dy⊙y) ---- */
void ft_softmax_forward(float *y, const float *x, int64_t N, int64_t C);
void ft_softmax_backward(float *dx, const float *dy, const float *y, int64_t N, int64_t C);

/* ---- attention ----
 * q at q[(b*T+t)*q_stride + h*D + d], k/v at [(b*T+t)*kv_stride + g*D + d] with KV head g = h / (H/Hkv)
 * (grouped-query attention). out [B*T, H*D] (writes). probs [B, H, T, T] (writes) keeps the softmax
 * (before dropout) for backward. mask [B*T] (1 real, 0 padding) or NULL: padded keys get no weight.
 * causal: key s > t gets no weight. A row with no visible key outputs zeros. scale usually 1/√D.
 * Dropout on the probabilities with rate p (0 = off) from the counter RNG (seed, stream). */
typedef struct {
    int B, T, H, Hkv, D;
    int64_t q_stride, kv_stride;
    bool causal;
    float scale;
    float dropout;
    uint64_t seed, stream;
    /* Dropout keys: these B rows are rows drop_row0.. of a batch padded drop_pad positions longer (a
     * data-parallel shard), whose masks they draw: probability (b, h, t, j) takes counter
     * (((drop_row0 + b)·H + h)·Tk + t)·Tk + j, Tk = T + drop_pad; 0, 0 is the batch alone. */
    int64_t drop_row0;
    int drop_pad;
} ft_attn_shape;
void ft_attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                          const int32_t *mask, const ft_attn_shape *s);
/* dq, dk, dv (same strides as q, k, v) accumulate. */
void ft_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs,
                           const float *q, const float *k, const float *v, const int32_t *mask,
                           const ft_attn_shape *s);
/* Tiled attention (FlashAttention-2 style on CPU): memory linear in T. Same semantics as above
 * (masks, GQA, dropout mask and its RNG index rule ((b·H + h)·T + t)·T + j, scale), but instead of
 * probs it writes lse [B, H, T]: ln Σ_j e^{s_tj} over the visible keys of the scaled, masked scores
 * s; -INFINITY for a row with no visible key (its output is zeros). Scratch is a few 64×128 tiles
 * on each thread's stack. Fails (FT_ERR_SHAPE/RANGE/ARG/UNSUPPORTED) on a bad shape, dropout outside
 * [0, 1), a non-finite scale, D > 512 or a NULL buffer; writes nothing then. */
ft_status ft_attention_forward_lse(float *out, float *lse, const float *q, const float *k, const float *v,
                                   const int32_t *mask, const ft_attn_shape *s);
/* Recomputes P = e^{scale·q·kᵀ − lse} per tile; out is the forward's output (for Di = Σ dO ⊙ O).
 * dq, dk, dv (same strides as q, k, v) accumulate. */
ft_status ft_attention_backward_lse(float *dq, float *dk, float *dv, const float *dout, const float *out,
                                    const float *lse, const float *q, const float *k, const float *v,
                                    const int32_t *mask, const ft_attn_shape *s);
/* Bytes of tile scratch the two functions above use on the stacks of all threads together. */
size_t ft_attention_lse_scratch_bytes(int D);

/* ---- attention with an additive score bias, query / key lengths apart (T5; attention_bias.c) ----
 * s[b,h,i,j] = scale·q_i·k_j + bias[h,i,j] (bias [H, Tq, Tk] shared by the batch, or NULL) over the keys j
 * that kmask [B*Tk] (1 real, 0 padding; NULL = all) and causality (j ≤ i) leave visible; probs [B,H,Tq,Tk]
 * = softmax(s) (writes; 0 for hidden keys, a row with none is all 0 and outputs zeros); out (q's layout,
 * writes) = drop(P)·v with dropout on P as ft_attention_forward's (element index ((b·H + h)·Tq + i)·Tk + j).
 * q / out at [(b*Tq + i)*q_stride + h*D + d], k / v at [(b*Tk + j)*kv_stride + h*D + d]. */
typedef struct {
    int B, Tq, Tk, H, D;
    int64_t q_stride, kv_stride;
    bool causal;
    float scale, dropout;
    uint64_t seed, stream;
} ft_attn_bias_shape;
void ft_attention_bias_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                               const float *bias, const int32_t *kmask, const ft_attn_bias_shape *s,
                               float *work);
/* dq, dk, dv (q's / k's layouts) and dbias [H, Tq, Tk] (summed over the batch) accumulate; any may be NULL.
 * The hidden keys are those with probs 0 (no mask needed). */
void ft_attention_bias_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout,
                                const float *probs, const float *q, const float *k, const float *v,
                                const ft_attn_bias_shape *s, float *work);
/* Floats of the scratch both take (work): two [Tq, Tk] blocks. */
size_t ft_attention_bias_work_floats(const ft_attn_bias_shape *s);

/* ---- rotary embeddings (HF rotate_half: dim i pairs with i + D/2), in place on x rows laid out
 * [B*T, stride] with n_heads heads of size D at offset 0. pos [B*T] position ids.
 * inv_freq[i] = theta^(-2i/D) in fp32. backward applies the inverse rotation to dx in place. ---- */
void ft_rope_forward(float *x, const int32_t *pos, int64_t N, int n_heads, int D, int64_t stride, float theta);
void ft_rope_backward(float *dx, const int32_t *pos, int64_t N, int n_heads, int D, int64_t stride, float theta);

/* ---- embedding: y[n] = table[ids[n]] (+ pos_table[pos[n]] if given) (writes) ---- */
void ft_embedding_forward(float *y, const float *table, const int32_t *ids, const float *pos_table,
                          const int32_t *pos, int64_t N, int64_t C);
/* dtable[ids[n]] += dy[n] (rows equal to padding_idx get none; pass -1 for none). */
void ft_embedding_backward(float *dtable, const float *dy, const int32_t *ids, int64_t N, int64_t C,
                           int32_t padding_idx);

/* ---- LoRA on an embedding table (PEFT lora.Embedding): y[n] += s·Aᵀ[ids[n]]·Bᵀ with A [r, V] (column ids[n]
 * is the row's r-vector), B [C, r]. backward ACCUMULATES dA (if dA; columns equal to padding_idx get none,
 * -1 = none) and dB (if dB) from dy [N, C]. ---- */
void ft_embedding_lora_forward(float *y, const float *A, const float *B, const int32_t *ids, int64_t N,
                               int64_t C, int64_t V, int r, float s);
void ft_embedding_lora_backward(float *dA, float *dB, const float *dy, const float *A, const float *B,
                                const int32_t *ids, int64_t N, int64_t C, int64_t V, int r, float s,
                                int32_t padding_idx);

/* ---- cross-entropy over logits [N, V] with targets [N] (-100 = ignored).
 * Returns the summed loss over non-ignored rows; *count gets their number. ---- */
double ft_cross_entropy_forward(const float *logits, const int32_t *targets, int64_t N, int64_t V,
                                int64_t *count);
/* Writes dlogits (may alias logits): (softmax − onehot) * scale for kept rows, 0 for ignored. */
void ft_cross_entropy_backward(float *dlogits, const float *logits, const int32_t *targets, int64_t N, int64_t V,
                               float scale);

/* ---- fused LM head + cross-entropy (chunked over rows; never holds [N, V] logits) ----
 * For targets[n] ≥ 0 (others ignored): logits L = h Wᵀ with h [N, C], W [V, C] (nn.Linear layout,
 * e.g. the tied embedding table); loss_n = logsumexp(L_n) − L_n[target]. Writes *loss_sum = Σ loss_n
 * and *count = #kept rows (either may be NULL), and ACCUMULATES dh += dL·W (if dh), dW += dLᵀ·h (if dW)
 * with dL = (softmax(L) − onehot(target))·scale on kept rows, 0 on ignored ones. scale is the caller's
 * d(loss)/d(loss_sum), e.g. loss_scale / ft_ce_count(targets, N) for the mean. logits_out [N, V]
 * (or NULL) receives the raw logits. work: ft_lmhead_ce_work_floats(chunk, V) floats; chunk rows per
 * pass (≤ 0 or > N: all N at once). Targets must be < V. */
int64_t ft_ce_count(const int32_t *targets, int64_t N);
/* One row of the fused head (exposed for tests): lr[V] logits → in place (softmax − onehot(target))·scale,
 * returns logsumexp − lr[target]. The bits depend on the row's values only, never on its address. */
double ft_ce_row(float *lr, int32_t target, int64_t V, float scale);
size_t ft_lmhead_ce_work_floats(int64_t chunk, int64_t V);
void ft_lmhead_ce_forward_backward(const float *h, const float *W, const int32_t *targets, int64_t N, int64_t C,
                                   int64_t V, float scale, float *dh, float *dW, double *loss_sum, int64_t *count,
                                   float *logits_out, float *work, int64_t chunk);
/* The same with a bf16 copy of W through the matmul handle (rows and dL rounded to bf16; the softmax,
 * the loss and every accumulation fp32). */
ft_status ft_lmhead_ce_forward_backward_bf16(ft_matmul *mm, const float *h, const uint16_t *W16,
                                             const int32_t *targets, int64_t N, int64_t C, int64_t V, float scale,
                                             float *dh, float *dW, double *loss_sum, int64_t *count,
                                             float *logits_out, float *work, int64_t chunk);

/* The same with W [V, C] frozen in its file dtype (bf16, or f16 when f16), widened panel by panel inside each
 * product (ft_gemm_half; panel: ft_lmhead_ce_half_panel_floats(C, V) floats); no dW. */
size_t ft_lmhead_ce_half_panel_floats(int64_t C, int64_t V);
void ft_lmhead_ce_forward_backward_half(const float *h, const uint16_t *Wh, bool f16, const int32_t *targets,
                                        int64_t N, int64_t C, int64_t V, float scale, float *dh,
                                        double *loss_sum, int64_t *count, float *logits_out, float *work,
                                        int64_t chunk, float *panel);

/* ---- dropout with rate p from the counter RNG: element i kept iff uniform(seed,stream,i) >= p,
 * scaled by 1/(1−p). Forward writes y (may alias x); backward dx += dy·mask/(1−p). ---- */
void ft_dropout_forward(float *y, const float *x, int64_t n, float p, uint64_t seed, uint64_t stream);
void ft_dropout_backward(float *dx, const float *dy, int64_t n, float p, uint64_t seed, uint64_t stream);
/* Dropout on an [N, C] buffer of rows n = b·T + t (T positions of each of B examples), keyed on (example,
 * position, channel) rather than on the flat index: element (b, t, c) draws counter
 * ((row0 + b)·(T + pad) + t)·C + c. A shard holding rows row0.. of a batch padded pad positions longer
 * thus draws that batch's masks; row0 = pad = 0 gives ft_dropout_forward's counters (b·T + t)·C + c. */
typedef struct {
    int64_t row0; /* the first row's index in the whole batch */
    int64_t T;    /* positions per example in this buffer; 0: counter = flat index (row0, pad unused) */
    int64_t pad;  /* how many more positions the whole batch has */
} ft_drop_rows;
void ft_dropout_rows_forward(float *y, const float *x, int64_t N, int64_t C, float p, uint64_t seed,
                             uint64_t stream, ft_drop_rows k);
void ft_dropout_rows_backward(float *dx, const float *dy, int64_t N, int64_t C, float p, uint64_t seed,
                              uint64_t stream, ft_drop_rows k);

/* ---- AdamW (torch semantics): p −= lr·wd·p; m,v moments; p −= lr · m̂ / (√v̂ + eps), step t ≥ 1 ---- */
void ft_adamw_step(float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1, float beta2,
                   float eps, float weight_decay, int64_t t);
/* The same step from the gradient g·gscale (gradient clipping folded in): bit-identical to scaling g in
 * place by gscale and then calling ft_adamw_step, one pass over g fewer. */
void ft_adamw_step_scaled(float *p, const float *g, float gscale, float *m, float *v, int64_t n, float lr,
                          float beta1, float beta2, float eps, float weight_decay, int64_t t);

/* ---- images (kernels/patch.c) ----
 * im2col of non-overlapping p×p patches: pix [B][ch][H][W] → X [B·(H/p)·(W/p), ch·p·p], patch rows in
 * raster order (row-major over the patch grid), columns (c, ky, kx): the layout of a Conv2d weight
 * [out, ch, p, p], so the strided convolution is X·Wᵀ. H and W must be multiples of p (writes X). */
void ft_patchify(float *X, const float *pix, int B, int ch, int H, int W, int p);
/* Bicubic resize of a grid of C-vectors, channels last: x [ih·iw, C] → y [oh·ow, C] (writes y), as
 * torch.nn.functional.interpolate(mode="bicubic", align_corners=False, size=(oh, ow)) on [C, ih, iw]:
 * source coordinate (o + ½)·in/out − ½, Keys' cubic with A = −0.75, taps clamped to the border. */
void ft_bicubic_resize_forward(float *y, const float *x, int ih, int iw, int oh, int ow, int64_t C);
/* Its transpose (the map is linear): dx [ih·iw, C] += Rᵀ dy. */
void ft_bicubic_resize_backward(float *dx, const float *dy, int ih, int iw, int oh, int ow, int64_t C);

/* ---- helpers ---- */
void ft_add_inplace(float *y, const float *x, int64_t n); /* y += x */
double ft_sum_sq(const float *x, int64_t n);             /* Σ x² in double */
void ft_scale_inplace(float *x, int64_t n, float s);
/* x *= s, then Σ x² in double of the scaled values, in one pass (ft_scale_inplace + ft_sum_sq). */
double ft_scale_sum_sq(float *x, int64_t n, float s);

#endif
