/* train/optim: AdamW over a model's trainable parameters (fp32 state), global-norm clipping. */
#ifndef FT_OPTIM_H
#define FT_OPTIM_H

#include "models/model.h"

typedef struct {
    float beta1, beta2, eps, weight_decay;
    bool decay_1d; /* weight decay on biases and norm weights too (off by default, as HF scripts do) */
} ft_adamw_cfg;
void ft_adamw_cfg_default(ft_adamw_cfg *c);

typedef struct {
    ft_adamw_cfg cfg;
    int n;     /* model->n_params */
    float **m; /* per parameter (NULL when frozen) */
    float **v;
    int64_t t; /* steps taken */
} ft_adamw;

ft_status ft_adamw_init(ft_adamw *o, const ft_model *m, const ft_adamw_cfg *cfg);
void ft_adamw_free(ft_adamw *o);
/* One update of every trainable parameter from its grad at learning rate lr. */
void ft_adamw_update(ft_adamw *o, ft_model *m, float lr);
/* Global L2 norm of all trainable grads (double accumulation). */
double ft_grad_norm(const ft_model *m);
/* Scale grads so the global norm is at most max_norm (no-op when max_norm <= 0); returns the norm before. */
double ft_clip_grad_norm(ft_model *m, double max_norm);

#endif
