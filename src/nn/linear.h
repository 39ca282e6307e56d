/* nn/linear: a linear layer with its PEFT hooks — y = IA3_out ⊙ ((IA3_in ⊙ x) W + b) + s·(drop(x) Aᵀ) Bᵀ.
 * Only gradients of what trains are computed (NULL gradient pointers are skipped). Prefix ft_lin_. */
#ifndef FT_NN_LINEAR_H
#define FT_NN_LINEAR_H

#include "core/core.h"

typedef struct {
    const float *w; /* [out,in] (nn.Linear) or [in,out] (Conv1D, w_in_out) */
    float *dw;
    const float *b; /* [out] or NULL */
    float *db;
    int64_t in, out;
    bool w_in_out;
    /* LoRA: A [r,in], B [out,r] (always this layout, also for Conv1D) */
    const float *lora_a, *lora_b;
    float *dlora_a, *dlora_b;
    int r;
    float scale, lora_dropout;
    /* DoRA: magnitude m [out]; y = m/‖W + s·B·A‖_row ⊙ (x Wᵀ + s·x Aᵀ Bᵀ) + b, the norm detached (PEFT) */
    const float *dora_m;
    float *ddora_m;
    /* IA3: ia3 [in] scaling the input (ia3_in) or [out] scaling the output */
    const float *ia3;
    float *dia3;
    bool ia3_in;
    /* bf16 compute path: a bf16 copy of w and the matmul handle; when both are set the base products
     * (x·W, dy·Wᵀ, the weight gradient) run in bf16 with fp32 accumulation. DoRA keeps fp32. */
    const uint16_t *w16;
    struct ft_matmul *mm;
    /* A frozen W in its file dtype, read in place (w NULL): bf16 (wh_f16 false) or f16, same layout as w. The
     * products widen it panel by panel inside the GEMM (ft_gemm_half, scratch from the arena); with mm on a
     * CPU with native bf16 a bf16 wh goes straight to oneDNN. Never trained (no dw), no DoRA. */
    const uint16_t *wh;
    bool wh_f16;
    /* A frozen W quantized to int8 (w and wh NULL): wq [same layout as w] with one scale per stored row
     * (train.base_dtype int8); products widen it panel by panel (ft_gemm_q8). Never trained, no DoRA. */
    const int8_t *wq;
    const float *wq_scale;
    /* train.int8_matmul: wq's products run as int8 × int8 through mm (ft_matmul_s8), x / dy quantized per
     * row each call (ft_q8_quantize_act) */
    bool q8_int8;
    /* dropout RNG; LoRA dropout keys on (example, position, channel) of x by drop_rows (kernels.h) */
    bool training;
    uint64_t seed, stream;
    ft_drop_rows drop_rows;
} ft_lin;

typedef struct {
    float *lora_h;  /* [N,r]  drop(x) Aᵀ */
    float *dora_inner; /* [N,out] x Wᵀ + s·h Bᵀ (DoRA) */
    float *dora_g;     /* [out] 1 / ‖W'‖_row (DoRA; the scale is m ⊙ this) */
    float *ia3_buf; /* [N,in] scaled input (ia3_in) or [N,out] output before scaling */
} ft_lin_cache;

/* Forward: y [N,out] written; cache filled from the arena. */
ft_status ft_lin_forward(const ft_lin *L, float *y, const float *x, int64_t N, ft_arena *arena, ft_lin_cache *c);
/* Backward: dx (may be NULL) accumulates; parameter grads accumulate where non-NULL. Scratch from arena. */
ft_status ft_lin_backward(const ft_lin *L, float *dx, const float *dy, const float *x, int64_t N,
                          const ft_lin_cache *c, ft_arena *arena);

#endif
