/* train/optim: optimizers over a model's trainable parameters (fp32 state) and global-norm clipping.
 * AdamW follows torch.optim.AdamW (decoupled decay, eps outside the square root); SGD follows
 * torch.optim.SGD (L2 decay added to the gradient, momentum buffer = g on the first step). */
#ifndef FT_OPTIM_H
#define FT_OPTIM_H

#include "models/model.h"

typedef enum { FT_OPTIM_ADAMW = 0, FT_OPTIM_SGD } ft_optim_kind;

typedef struct {
    ft_optim_kind kind;
    float beta1, beta2, eps;   /* AdamW (0.9, 0.999, 1e-8) */
    float momentum, dampening; /* SGD (0.9, 0) */
    bool nesterov;             /* SGD */
    float weight_decay;        /* 0 */
    bool decay_1d; /* decay biases and norm weights (1-D tensors) too; off by default, as HF's Trainer */
} ft_optim_cfg;
void ft_optim_cfg_default(ft_optim_cfg *c);
ft_status ft_optim_parse(const char *name, ft_optim_kind *out); /* "adamw" | "sgd" */
const char *ft_optim_name(ft_optim_kind k);

typedef struct {
    ft_optim_cfg cfg;
    int n;     /* model->n_params */
    float **m; /* per parameter (NULL when frozen): AdamW first moment / SGD momentum buffer */
    float **v; /* AdamW second moment (NULL for SGD) */
    int64_t t; /* updates taken */
    /* ZeRO stage 1 (train/dist): this process keeps state for and updates only [lo[i], hi[i]) of parameter
     * i, and m[i] / v[i] hold those hi − lo values (NULL lo/hi: every value of every parameter) */
    int64_t *lo, *hi;
} ft_optim;

ft_status ft_optim_init(ft_optim *o, const ft_model *m, const ft_optim_cfg *cfg);
/* ZeRO-1 shard `rank` of `size`: the trainable values flattened in parameter order are cut into size
 * contiguous slices (rank r: [⌊T·r/size⌋, ⌊T·(r+1)/size⌋) of T); the part of parameter i inside it. */
void ft_optim_shard_range(const ft_model *m, int rank, int size, int i, int64_t *lo, int64_t *hi);
/* ft_optim_init keeping state for the shard `rank` of `size` only (size 1: ft_optim_init). */
ft_status ft_optim_init_shard(ft_optim *o, const ft_model *m, const ft_optim_cfg *cfg, int rank, int size);
void ft_optim_free(ft_optim *o);
/* ZeRO-1 resume: a sharded optimizer's part of an unsharded one's state (same model and kind). */
void ft_optim_copy_shard(const ft_optim *full, ft_optim *shard);
/* One update of every trainable parameter (of its shard, under ZeRO-1) from its grad at learning rate lr. */
void ft_optim_update(ft_optim *o, ft_model *m, float lr);
/* The same update from grad·gscale (each grad rounded to float after the product, as ft_grad_scale would
 * leave it): clipping folded into the optimizer pass, the stored grads untouched. gscale 1 = ft_optim_update. */
void ft_optim_update_scaled(ft_optim *o, ft_model *m, float lr, float gscale);
/* Whether parameter p gets weight decay under cfg (matrices yes; biases/norms only with decay_1d). */
bool ft_optim_decays(const ft_optim_cfg *cfg, const ft_param *p);

/* Global L2 norm of all trainable grads (double accumulation). */
double ft_grad_norm(const ft_model *m);
/* Scale grads so the global norm is at most max_norm (no-op when max_norm <= 0 or the norm is not
 * finite): g *= max_norm / (norm + 1e-6) when that factor is < 1 (torch clip_grad_norm_). Returns the norm before. */
double ft_clip_grad_norm(ft_model *m, double max_norm);
/* The factor ft_clip_grad_norm would scale by for this norm: max_norm / (norm + 1e-6) as a float, or 1. */
float ft_clip_scale(double norm, double max_norm);
/* Multiply every trainable grad by s. */
void ft_grad_scale(ft_model *m, float s);
/* ft_grad_scale, returning the global L2 norm of the scaled grads (ft_grad_norm) from the same pass. */
double ft_grad_scale_norm(ft_model *m, float s);

#endif
