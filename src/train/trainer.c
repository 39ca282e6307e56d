#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer.h"

void ft_train_cfg_default(ft_train_cfg *c) {
    memset(c, 0, sizeof *c);
    c->steps = 100;
    c->batch_size = 4;
    c->seq_len = 128;
    c->lr = 1e-4f;
    c->min_lr_ratio = 1.0f;
    c->clip_norm = 1.0f;
    c->seed = 42;
    ft_adamw_cfg_default(&c->adamw);
}

float ft_train_lr_at(const ft_train_cfg *c, int step) {
    if (c->warmup_steps > 0 && step < c->warmup_steps)
        return c->lr * (float)(step + 1) / (float)c->warmup_steps;
    int decay = c->steps - c->warmup_steps;
    if (c->min_lr_ratio >= 1.0f || decay <= 1)
        return c->lr;
    double prog = (double)(step - c->warmup_steps) / (double)(decay - 1);
    double cosv = 0.5 * (1.0 + cos(M_PI * prog));
    return (float)(c->lr * (c->min_lr_ratio + (1.0 - c->min_lr_ratio) * cosv));
}

static size_t arena_bytes(const ft_model *m, int B, int T) { return ft_model_act_bytes(m, B, T) + ((size_t)1 << 20); }

ft_status ft_evaluate_loss(ft_model *m, const ft_dataset *d, int batch_size, int seq_len, ft_arena *arena,
                           double *loss) {
    double total = 0.0;
    int64_t count = 0;
    size_t *idx = malloc((size_t)batch_size * sizeof *idx);
    if (!idx)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    ft_status s = FT_OK;
    for (size_t i = 0; s == FT_OK && i < d->n; i += (size_t)batch_size) {
        int n = 0;
        for (size_t j = i; j < d->n && n < batch_size; j++)
            idx[n++] = j;
        ft_batch b;
        s = ft_batch_collate(d, idx, n, seq_len, 0, &b);
        if (s != FT_OK)
            break;
        ft_arena_reset(arena);
        ft_fwd_opts o = {0};
        ft_acts *a;
        double l = 0.0;
        int64_t c = -1;
        s = ft_model_forward(m, &b, &o, arena, &a, &l, &c);
        if (s == FT_ERR_ARG && c == 0) /* an example with a single token has no target: skip */
            s = FT_OK;
        else if (s == FT_OK) {
            total += l * (double)c;
            count += c;
        }
        ft_batch_free(&b);
    }
    free(idx);
    if (s == FT_OK && count == 0)
        s = ft_fail(FT_ERR_ARG, "evaluation data has no target token");
    if (s == FT_OK)
        *loss = total / (double)count;
    return s;
}

ft_status ft_train(ft_model *m, const ft_dataset *train, const ft_dataset *eval, const ft_train_cfg *cfg,
                   ft_train_result *res) {
    memset(res, 0, sizeof *res);
    res->eval_before = res->eval_after = NAN;
    if (cfg->batch_size <= 0 || cfg->seq_len <= 1 || cfg->steps <= 0)
        return ft_fail(FT_ERR_ARG, "batch size, steps must be positive and seq-len at least 2");
    if (cfg->seq_len > m->cfg.max_pos)
        return ft_fail(FT_ERR_RANGE, "seq-len %d exceeds the model's %d positions", cfg->seq_len, m->cfg.max_pos);
    ft_adamw opt;
    FT_TRY(ft_adamw_init(&opt, m, &cfg->adamw));
    ft_arena arena;
    ft_status s = ft_arena_init(&arena, arena_bytes(m, cfg->batch_size, cfg->seq_len));
    size_t *order = malloc(train->n * sizeof *order);
    if (s == FT_OK && !order)
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK && eval)
        s = ft_evaluate_loss(m, eval, cfg->batch_size, cfg->seq_len, &arena, &res->eval_before);
    size_t cursor = train->n; /* forces a shuffle on the first step */
    uint64_t epoch = 0;
    double t0 = ft_now();
    for (int step = 0; s == FT_OK && step < cfg->steps; step++) {
        size_t idx[1024];
        int n = cfg->batch_size < 1024 ? cfg->batch_size : 1024;
        for (int i = 0; i < n; i++) {
            if (cursor >= train->n) { /* new epoch: Fisher–Yates with the counter RNG */
                for (size_t k = 0; k < train->n; k++)
                    order[k] = k;
                for (size_t k = train->n; k > 1; k--) {
                    size_t r = (size_t)(ft_rng_u64(cfg->seed, 0x5eed + epoch, k) % k);
                    size_t tmp = order[k - 1];
                    order[k - 1] = order[r];
                    order[r] = tmp;
                }
                cursor = 0;
                epoch++;
            }
            idx[i] = order[cursor++];
        }
        ft_batch b;
        s = ft_batch_collate(train, idx, n, cfg->seq_len, 0, &b);
        if (s != FT_OK)
            break;
        ft_arena_reset(&arena);
        ft_model_zero_grad(m);
        ft_fwd_opts o = {.training = true, .seed = cfg->seed, .step = (uint64_t)step};
        ft_acts *a;
        double loss;
        int64_t cnt;
        s = ft_model_forward(m, &b, &o, &arena, &a, &loss, &cnt);
        if (s == FT_OK)
            s = ft_model_backward(m, a, &arena, 1.0f);
        int64_t toks = 0;
        for (int64_t i = 0; i < (int64_t)b.B * b.T; i++)
            toks += b.mask[i];
        ft_batch_free(&b);
        if (s != FT_OK)
            break;
        double gnorm = ft_clip_grad_norm(m, cfg->clip_norm);
        if (!isfinite(gnorm)) {
            s = ft_fail(FT_ERR_NUMERIC, "step %d: gradient norm is not finite; stopping before the update", step + 1);
            break;
        }
        float lr = ft_train_lr_at(cfg, step);
        ft_adamw_update(&opt, m, lr);
        res->tokens += toks;
        if (step == 0)
            res->first_loss = loss;
        res->last_loss = loss;
        double el = ft_now() - t0;
        if (cfg->log)
            fprintf(cfg->log, "step %d/%d loss %.4f lr %.3g grad_norm %.3f tok/s %.0f\n", step + 1, cfg->steps, loss,
                    (double)lr, gnorm, (double)res->tokens / (el > 0 ? el : 1e-9));
        if (eval && cfg->eval_every > 0 && (step + 1) % cfg->eval_every == 0 && step + 1 < cfg->steps) {
            double el2;
            s = ft_evaluate_loss(m, eval, cfg->batch_size, cfg->seq_len, &arena, &el2);
            if (s == FT_OK && cfg->log)
                fprintf(cfg->log, "eval step %d loss %.4f\n", step + 1, el2);
        }
    }
    double el = ft_now() - t0;
    res->tokens_per_s = (double)res->tokens / (el > 0 ? el : 1e-9);
    if (s == FT_OK && eval)
        s = ft_evaluate_loss(m, eval, cfg->batch_size, cfg->seq_len, &arena, &res->eval_after);
    free(order);
    ft_arena_free(&arena);
    ft_adamw_free(&opt);
    return s;
}
