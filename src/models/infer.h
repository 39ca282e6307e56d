/* models/infer: inference with a KV cache (batch 1): each new token costs one position, not the whole
 * prefix. PEFT hooks (LoRA, IA3, adapters, prompt tuning) apply as in training. Prefix ft_kv_ / ft_infer_. */
#ifndef FT_INFER_H
#define FT_INFER_H

#include "models/model.h"

typedef struct ft_kv ft_kv;

/* A cache for up to max_len positions (virtual tokens of prompt tuning included). */
ft_status ft_kv_new(const ft_model *m, int max_len, ft_kv **out);
void ft_kv_free(ft_kv *kv);
void ft_kv_reset(ft_kv *kv);
int ft_kv_len(const ft_kv *kv);

/* Feed n tokens at the next positions (on an empty cache, prompt-tuning virtual tokens go first) and
 * write the logits of the last one: [vocab] for a causal LM, [n_labels] for a head task. */
ft_status ft_infer(ft_model *m, ft_kv *kv, const int32_t *ids, int n, float *logits);

#endif
