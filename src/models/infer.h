/* models/infer: inference with a KV cache (batch 1): each new token costs one position, not the whole
 * prefix. PEFT hooks (LoRA, IA3, adapters, prompt tuning) apply as in training. Prefix ft_kv_ / ft_infer_. */
#ifndef FT_INFER_H
#define FT_INFER_H

#include "models/model.h"

typedef struct ft_kv ft_kv;

/* A cache for up to max_len positions (virtual tokens of prompt tuning included); for T5 (models/t5_infer.c)
 * max_len decoder positions, the source is given to ft_kv_encode. */
ft_status ft_kv_new(const ft_model *m, int max_len, ft_kv **out);
/* The same for `rows` sequences of equal length (beams), stepped together by ft_infer_rows. */
ft_status ft_kv_new_rows(const ft_model *m, int rows, int max_len, ft_kv **out);
void ft_kv_free(ft_kv *kv);
void ft_kv_reset(ft_kv *kv);
int ft_kv_len(const ft_kv *kv);
int ft_kv_rows(const ft_kv *kv);

/* Encoder-decoder only: run the encoder on the source once and keep each decoder layer's cross-attention K/V
 * (the decoder positions restart at 0). */
ft_status ft_kv_encode(ft_model *m, ft_kv *kv, const int32_t *src, int n);

/* Feed n tokens at the next positions (on an empty cache, prompt-tuning virtual tokens go first) and
 * write the logits of the last one: [vocab] for a causal LM, [n_labels] for a head task. A decoder-only cache
 * of several rows: this feeds row 0 (the prompt; ft_kv_reorder copies it to the others). T5: decoder tokens
 * (one row only), after ft_kv_encode. */
ft_status ft_infer(ft_model *m, ft_kv *kv, const int32_t *ids, int n, float *logits);
/* One token per row (ids [rows]) at the next position; logits [rows, vocab]. */
ft_status ft_infer_rows(ft_model *m, ft_kv *kv, const int32_t *ids, float *logits);
/* Row r takes the cache of row src[r] (beam search: the beams' parents); the rows copy (measured in
 * docs/seq2seq.md). */
ft_status ft_kv_reorder(ft_kv *kv, const int32_t *src);

#endif
