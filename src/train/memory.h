/* train/memory: what a training run will hold in memory, estimated before it starts. */
#ifndef FT_TRAIN_MEMORY_H
#define FT_TRAIN_MEMORY_H

#include "models/model.h"

typedef struct {
    size_t weights_mapped; /* fp32 tensors used in place from the checkpoint mapping */
    size_t
        weights_half; /* bf16/f16 frozen base weights used in place in their file dtype (train.base_dtype) */
    size_t weights_owned;  /* converted (bf16/f16 → fp32), trained or attached tensors */
    size_t weights_bf16;   /* bf16 copies of the GEMM weights (precision bf16) */
    size_t grads;          /* one fp32 gradient per trainable value */
    size_t optim;          /* optimizer state: 2 per trainable value (AdamW), 1 (SGD momentum) */
    size_t acts;           /* the step arena: activations and backward scratch */
    size_t total;
} ft_mem_estimate;

/* optim_slots: fp32 values of optimizer state per trainable value (2 AdamW, 1 SGD with momentum);
 * checkpoint: activation checkpointing (train.activation_checkpointing); eval_batch 0 = no evaluation. */
void ft_mem_estimate_run(const ft_model *m, int train_batch, int eval_batch, int seq_len, int optim_slots,
                         bool checkpoint, float label_smoothing, ft_mem_estimate *e);
/* MemAvailable of /proc/meminfo in bytes, 0 when unknown. */
size_t ft_mem_available(void);
/* One line: "memory estimate: 2.3 GiB = weights …". */
void ft_mem_estimate_format(const ft_mem_estimate *e, char *buf, size_t n);

#endif
