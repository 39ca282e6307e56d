/* models/t5_infer: the T5 decoder's cached inference (internal to models/infer.c, which dispatches to it).
 * Prefix ft_t5c_. */
#ifndef FT_T5_INFER_H
#define FT_T5_INFER_H

#include "models/model.h"

typedef struct ft_t5c ft_t5c;

/* A cache of `rows` decoder sequences (beams) of up to max_len positions each. */
ft_status ft_t5c_new(const ft_model *m, int rows, int max_len, ft_t5c **out);
void ft_t5c_free(ft_t5c *c);
/* Encode the source (the encoder runs once) and compute every decoder layer's cross-attention K/V from its
 * output; the decoder positions restart at 0. */
ft_status ft_t5c_encode(ft_model *m, ft_t5c *c, const int32_t *src, int n);
/* One decoder token per row at the next position: logits [rows, vocab]. */
ft_status ft_t5c_step(ft_model *m, ft_t5c *c, const int32_t *ids, float *logits);
/* Row r takes row src[r]'s self-attention cache. */
ft_status ft_t5c_reorder(ft_t5c *c, const int32_t *src);

/* Shared with models/infer.c: row r of each per-layer cache k[l], v[l] ([rows, row] floats, the first `used`
 * of a row in use) becomes row src[r]: gathered into *swap, which then takes the layer's old buffer. */
ft_status ft_kv_gather_rows(float **k, float **v, int n_layers, float **swap, const int32_t *src, int rows,
                            int64_t row, int64_t used);
int ft_t5c_len(const ft_t5c *c);
void ft_t5c_reset(ft_t5c *c);

#endif
