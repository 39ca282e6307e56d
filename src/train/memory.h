/* train/memory: what a training run will hold in memory, estimated before it starts. */
#ifndef FT_TRAIN_MEMORY_H
#define FT_TRAIN_MEMORY_H

#include "models/model.h"

typedef struct {
    size_t weights_mapped; /* fp32 tensors used in place from the checkpoint mapping */
    size_t
        weights_half; /* bf16/f16 frozen base weights used in place in their file dtype (train.base_dtype) */
    size_t
        weights_int8; /* frozen base weights quantized at load (train.base_dtype int8), with their scales */
    size_t weights_owned;  /* converted (bf16/f16 → fp32), trained or attached tensors */
    size_t weights_bf16;   /* bf16 copies of the GEMM weights (precision bf16) */
    size_t stream_slots;   /* streamed base (train.stream_base): the two layer slots, owned; the streamed
                              layers' bytes are then left out of weights_half / weights_int8 */
    size_t grads;          /* one fp32 gradient per trainable value */
    size_t optim;          /* optimizer state: 2 per trainable value (AdamW), 1 (SGD momentum) */
    size_t acts;           /* the step arena: activations and backward scratch */
    size_t total;
} ft_mem_estimate;

/* optim_slots: fp32 values of optimizer state per trainable value (2 AdamW, 1 SGD with momentum);
 * checkpoint: activation checkpointing (train.activation_checkpointing); eval_batch 0 = no evaluation. */
void ft_mem_estimate_run(const ft_model *m, int train_batch, int eval_batch, int seq_len, int optim_slots,
                         bool checkpoint, float label_smoothing, ft_mem_estimate *e);
/* One line: "memory estimate: 2.3 GiB = weights …". */
void ft_mem_estimate_format(const ft_mem_estimate *e, char *buf, size_t n);

/* ---- the plan made before anything big is allocated ---- */
typedef enum { FT_CKPT_OFF = 0, FT_CKPT_ON, FT_CKPT_AUTO } ft_ckpt_mode;
/* train.activation_checkpointing: true/yes/on/1, false/no/off/0, auto. */
ft_status ft_ckpt_mode_parse(const char *s, ft_ckpt_mode *out);
/* train.stream_base: the same words (off, on, auto). */
ft_status ft_stream_mode_parse(const char *s, ft_ckpt_mode *out);
typedef struct {
    ft_mem_estimate e; /* with the chosen checkpointing */
    size_t acts_full;  /* the step arena without checkpointing */
    size_t acts_ckpt;  /* and with it */
    size_t logits;     /* the fused LM head's [chunk, V] workspace (part of the arena) */
    size_t kv_cache;   /* a KV cache of seq_len positions (generation after training; not part of total) */
    size_t limit;      /* what may be used: FTUNE_MEM_LIMIT, else MemAvailable; 0 unknown */
    const char *limit_src;
    size_t stream_slot; /* one layer slot if the base were streamed (models/stream.h), 0: not streamable */
    size_t streamed;    /* the mapped bytes streaming takes off the page cache */
    bool checkpoint; /* what the run will use */
    bool auto_on;    /* checkpointing turned on by auto */
    bool stream;     /* the base streamed (ft_model_stream_open) */
    bool stream_auto; /* streaming turned on by auto */
    bool fits;
} ft_mem_plan;
/* Plan a run: the estimate without and with activation checkpointing and with and without streaming the
 * base, the choice for mode and stream (auto: on only when needed to fit; checkpointing is tried before
 * streaming, as it does not depend on the disk), the limit. zero_world > 1: ZeRO-1 over that many ranks
 * (this rank's slice of the optimizer state). FT_ERR_NOMEM when it does not fit, the message giving the
 * total, the limit, the biggest items and what would help; *p is filled either way (with the smallest
 * choice). */
ft_status ft_mem_plan_run(const ft_model *m, int train_batch, int eval_batch, int seq_len, int optim_slots,
                          ft_ckpt_mode mode, ft_ckpt_mode stream, float label_smoothing, int zero_world,
                          ft_mem_plan *p);
/* The plan as lines ("memory plan: ..."), biggest item first, ending in a newline. */
void ft_mem_plan_format(const ft_mem_plan *p, char *buf, size_t n);

#endif
