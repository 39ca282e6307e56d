/* train/trainer: the training loop over a pre-tokenized dataset (full fine-tuning for now). */
#ifndef FT_TRAINER_H
#define FT_TRAINER_H

#include <stdio.h>

#include "data/pretok.h"
#include "train/optim.h"

typedef struct {
    int steps;        /* optimizer steps */
    int batch_size;   /* examples per step */
    int seq_len;      /* truncation length */
    float lr;         /* peak learning rate */
    int warmup_steps; /* linear warm-up from 0 */
    float min_lr_ratio; /* cosine decay to lr·ratio after warm-up; 1 = constant */
    float clip_norm;  /* global-norm clipping, 0 = off */
    int eval_every;   /* evaluate every N steps (0 = only at start and end) */
    uint64_t seed;
    ft_adamw_cfg adamw;
    FILE *log;        /* one line per step, or NULL */
} ft_train_cfg;
void ft_train_cfg_default(ft_train_cfg *c);

typedef struct {
    double first_loss, last_loss;           /* training loss of the first and last step */
    double eval_before, eval_after;         /* mean held-out loss (NaN without eval data) */
    double tokens_per_s;                    /* over the whole run */
    int64_t tokens;
} ft_train_result;

/* Learning rate at step (0-based) under warm-up + cosine decay. */
float ft_train_lr_at(const ft_train_cfg *c, int step);
/* Mean loss per target token over a whole dataset, no dropout. */
ft_status ft_evaluate_loss(ft_model *m, const ft_dataset *d, int batch_size, int seq_len, ft_arena *arena,
                           double *loss);
ft_status ft_train(ft_model *m, const ft_dataset *train, const ft_dataset *eval, const ft_train_cfg *cfg,
                   ft_train_result *res);

#endif
