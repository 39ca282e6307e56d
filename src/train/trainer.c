#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/dataset.h"
#include "data/mlm.h"
#include "train/trainer.h"

void ft_train_cfg_default(ft_train_cfg *c) {
    memset(c, 0, sizeof *c);
    c->max_steps = 100;
    c->batch_size = 8;
    c->grad_accum = 1;
    c->seq_len = 128;
    c->lr = 5e-5f;
    c->sched.kind = FT_SCHED_CONSTANT;
    ft_optim_cfg_default(&c->optim);
    c->max_grad_norm = 1.0;
    c->metric = "loss";
    c->log_every = 1;
    c->seed = 42;
    c->keep_last = 2;
    c->keep_best = true;
}

int64_t ft_train_steps_for_epochs(double epochs, size_t n, int batch_size, int grad_accum) {
    double per_step = (double)batch_size * (double)grad_accum;
    double s = ceil(epochs * (double)n / per_step);
    return s < 1 ? 1 : (int64_t)s;
}

/* ---- evaluation ---- */

void ft_eval_result_free(ft_eval_result *r) {
    if (r->has_cls)
        ft_metric_cls_free(&r->cls);
    memset(r, 0, sizeof *r);
}

typedef struct {
    const char *name;
    int sign;
} metric_info;
static const metric_info METRICS[] = {
    {"loss", -1},           {"perplexity", -1},      {"accuracy", 1},     {"f1_macro", 1},
    {"f1_micro", 1},        {"f1_weighted", 1},      {"precision_macro", 1}, {"recall_macro", 1},
    {"mse", -1},            {"mae", -1},             {"r2", 1},
};

int ft_eval_metric_sign(const char *name) {
    for (size_t i = 0; i < sizeof METRICS / sizeof *METRICS; i++)
        if (!strcmp(METRICS[i].name, name))
            return METRICS[i].sign;
    return 0;
}

double ft_eval_metric(const ft_eval_result *r, const char *n) {
    if (!strcmp(n, "loss"))
        return r->loss;
    if (!strcmp(n, "perplexity"))
        return r->perplexity;
    if (r->has_cls) {
        const ft_metric_cls *c = &r->cls;
        if (!strcmp(n, "accuracy")) return c->accuracy;
        if (!strcmp(n, "f1_macro")) return c->f1_macro;
        if (!strcmp(n, "f1_micro")) return c->f1_micro;
        if (!strcmp(n, "f1_weighted")) return c->f1_weighted;
        if (!strcmp(n, "precision_macro")) return c->precision_macro;
        if (!strcmp(n, "recall_macro")) return c->recall_macro;
    }
    if (r->has_reg) {
        if (!strcmp(n, "mse")) return r->reg.mse;
        if (!strcmp(n, "mae")) return r->reg.mae;
        if (!strcmp(n, "r2")) return r->reg.r2;
    }
    return NAN;
}

/* The evaluation forward: no backward follows, so it keeps no block's activations; the logits of a
 * classification or regression head are kept for the metrics. */
static ft_fwd_opts eval_opts(const ft_model *m) {
    return (ft_fwd_opts){.keep_logits = m->task == FT_TASK_SEQ_CLS || m->task == FT_TASK_REGRESSION,
                         .checkpoint = true};
}

/* A training micro-batch's forward from the step's options: the fused head, gradient of the summed loss. */
static ft_fwd_opts micro_opts(const ft_fwd_opts *base, int mb) {
    ft_fwd_opts o = *base;
    o.step = base->step + (uint64_t)mb; /* dropout stream: one per micro-batch */
    o.fused_head = true;                /* head gradient of the summed loss, chunked */
    o.head_grad_scale = 1.0f;
    return o;
}

size_t ft_train_act_bytes(const ft_model *m, int train_batch, int eval_batch, int seq_len, bool checkpoint,
                          float label_smoothing) {
    const ft_fwd_opts base = {.training = true, .label_smoothing = label_smoothing, .checkpoint = checkpoint};
    const ft_fwd_opts tr = micro_opts(&base, 0);
    ft_fwd_opts ev = eval_opts(m);
    ev.no_loss = true; /* sizes it without a backward (it runs none) */
    const size_t a = ft_model_act_bytes_opts(m, train_batch, seq_len, &tr);
    const size_t b = eval_batch > 0 ? ft_model_act_bytes_opts(m, eval_batch, seq_len, &ev) : 0;
    return a > b ? a : b;
}

ft_status ft_train_evaluate(ft_model *m, const ft_dataset *d, int batch_size, int seq_len, int32_t pad_id,
                            ft_arena *arena, ft_eval_result *out) {
    memset(out, 0, sizeof *out);
    const bool cls = m->task == FT_TASK_SEQ_CLS, reg = m->task == FT_TASK_REGRESSION;
    double total = 0.0;
    int64_t count = 0;
    size_t *idx = malloc((size_t)batch_size * sizeof *idx);
    int *yt = (cls || reg) ? malloc(d->n * sizeof *yt) : NULL;
    int *yp = (cls || reg) ? malloc(d->n * sizeof *yp) : NULL;
    double *rt = reg ? malloc(d->n * sizeof *rt) : NULL, *rp = reg ? malloc(d->n * sizeof *rp) : NULL;
    size_t npred = 0;
    bool have_logits = cls || reg;
    ft_status s = FT_OK;
    if (!idx || ((cls || reg) && (!yt || !yp)) || (reg && (!rt || !rp)))
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; s == FT_OK && i < d->n; i += (size_t)batch_size) {
        int n = 0;
        for (size_t j = i; j < d->n && n < batch_size; j++)
            idx[n++] = j;
        ft_batch b;
        s = ft_batch_collate(d, idx, n, seq_len, pad_id, &b);
        if (s == FT_OK && d->mlm) /* masked LM: the fixed evaluation masks, one RNG stream per example */
            s = ft_mlm_mask(d->mlm, &b, true, (uint64_t)i);
        if (s != FT_OK) {
            ft_batch_free(&b);
            break;
        }
        ft_arena_reset(arena);
        ft_fwd_opts o = eval_opts(m);
        ft_acts *a = NULL;
        double l = 0.0;
        int64_t c = -1;
        s = ft_model_forward(m, &b, &o, arena, &a, &l, &c);
        if (s == FT_ERR_ARG && c == 0) { /* nothing to predict in this batch (single-token examples) */
            s = FT_OK;
            ft_clear_error();
        } else if (s == FT_OK) {
            total += l * (double)c;
            count += c;
            const float *lg = a ? ft_acts_logits(a, NULL, NULL) : NULL;
            if (!lg)
                have_logits = false;
            for (int r = 0; have_logits && r < n; r++) {
                const ft_example *ex = &d->ex[idx[r]];
                if (cls && ex->cls_label != -100) {
                    const float *row = lg + (size_t)r * (size_t)m->n_labels;
                    int best = 0;
                    for (int k = 1; k < m->n_labels; k++)
                        if (row[k] > row[best])
                            best = k;
                    yt[npred] = ex->cls_label;
                    yp[npred++] = best;
                } else if (reg) {
                    rt[npred] = ex->reg_target;
                    rp[npred++] = lg[r];
                }
            }
        }
        ft_batch_free(&b);
    }
    if (s == FT_OK && count == 0)
        s = ft_fail(FT_ERR_ARG, "evaluation data has no target");
    if (s == FT_OK) {
        out->loss = total / (double)count;
        out->perplexity = exp(out->loss);
        out->count = count;
        if (cls && have_logits && npred > 0) {
            s = ft_metric_classification_ids(yt, yp, npred, (size_t)m->n_labels, &out->cls);
            out->has_cls = s == FT_OK;
        }
        if (s == FT_OK && reg && have_logits && npred > 0) {
            s = ft_metric_regression(rt, rp, npred, &out->reg);
            out->has_reg = s == FT_OK;
        }
    }
    free(idx);
    free(yt);
    free(yp);
    free(rt);
    free(rp);
    return s;
}

/* ---- the loop ---- */

void ft_train_result_free(ft_train_result *r) { ft_eval_result_free(&r->eval); }

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    ft_model *m;
    const ft_dataset *train, *val;
    const ft_train_cfg *cfg;
    ft_train_result *res;
    ft_optim opt;
    ft_arena arena;
    size_t *order;
    ft_train_state st;
    int eval_bs;
} run;

/* Order of epoch e (0-based): Fisher–Yates driven by the counter RNG, so it depends only on (seed, e). */
static void shuffle(run *r, uint64_t e) {
    size_t n = r->train->n;
    if (r->cfg->group_by_length &&
        ft_data_length_groups(r->train, r->cfg->batch_size, ft_rng_u64(r->cfg->seed, 0x6e0, e), r->order) == FT_OK)
        return;
    for (size_t k = 0; k < n; k++)
        r->order[k] = k;
    for (size_t k = n; k > 1; k--) {
        size_t j = (size_t)(ft_rng_u64(r->cfg->seed, 0x5eed + e, k) % k);
        size_t t = r->order[k - 1];
        r->order[k - 1] = r->order[j];
        r->order[j] = t;
    }
}

static size_t next_example(run *r) {
    if (r->st.epoch == 0 || r->st.cursor >= r->train->n) {
        shuffle(r, r->st.epoch);
        r->st.epoch++;
        r->st.cursor = 0;
    }
    return r->order[r->st.cursor++];
}

static void note(run *r, const char *msg) {
    if (r->cfg->progress)
        ft_progress_note(r->cfg->progress, msg);
}

static ft_status log_scalars(run *r, int64_t step, const char *const *keys, const double *vals, size_t n) {
    double now = wall_now();
    if (r->cfg->log)
        FT_TRY(ft_log_write(r->cfg->log, step, now, keys, vals, n));
    if (r->cfg->tb) {
        float f[16];
        for (size_t i = 0; i < n && i < 16; i++)
            f[i] = (float)vals[i];
        FT_TRY(ft_tb_scalars(r->cfg->tb, step, now, keys, f, n < 16 ? n : 16));
    }
    return FT_OK;
}

static ft_status checkpoint(run *r) {
    const ft_train_cfg *c = r->cfg;
    if (!c->ckpt_root)
        return FT_OK;
    FT_TRY(ft_ckpt_save(c->ckpt_root, r->m, &r->opt, &r->st, c->recipe_yaml, c->ckpt_save_model, r->res->checkpoint,
                        sizeof r->res->checkpoint));
    if (c->tb)
        FT_TRY(ft_tb_flush(c->tb));
    return ft_ckpt_prune(c->ckpt_root, c->keep_last, c->keep_best ? r->st.best_step : -1);
}

/* Evaluate, log, update best / early-stopping state; *stop_early set when patience ran out. */
static ft_status evaluate(run *r, bool *stop_early) {
    const ft_train_cfg *c = r->cfg;
    ft_eval_result ev;
    FT_TRY(ft_train_evaluate(r->m, r->val, r->eval_bs, c->seq_len, c->pad_id, &r->arena, &ev));
    ft_eval_result_free(&r->res->eval);
    r->res->eval = ev;
    r->res->has_eval = true;
    const char *keys[16];
    double vals[16];
    size_t n = 0;
    static const char *const NAMES[] = {"loss", "perplexity", "accuracy", "f1_macro", "f1_weighted",
                                        "precision_macro", "recall_macro", "mse", "mae", "r2"};
    static const char *const TAGS[] = {"eval/loss", "eval/perplexity", "eval/accuracy", "eval/f1_macro",
                                       "eval/f1_weighted", "eval/precision_macro", "eval/recall_macro", "eval/mse",
                                       "eval/mae", "eval/r2"};
    char line[512];
    int ll = snprintf(line, sizeof line, "eval step %lld:", (long long)r->st.step);
    for (size_t i = 0; i < sizeof NAMES / sizeof *NAMES; i++) {
        double v = ft_eval_metric(&ev, NAMES[i]);
        if (isnan(v) && i >= 2)
            continue;
        keys[n] = TAGS[i];
        vals[n++] = v;
        if (ll > 0 && (size_t)ll < sizeof line)
            ll += snprintf(line + ll, sizeof line - (size_t)ll, " %s %.4f", NAMES[i], v);
    }
    FT_TRY(log_scalars(r, r->st.step, keys, vals, n));
    double v = ft_eval_metric(&ev, c->metric);
    int sign = c->metric_sign ? c->metric_sign : ft_eval_metric_sign(c->metric);
    bool improved = false;
    if (isfinite(v)) {
        improved = isnan(r->st.best_metric) || sign * (v - r->st.best_metric) > c->min_delta;
        if (improved) {
            r->st.best_metric = v;
            r->st.best_step = r->st.step;
            r->st.bad_evals = 0;
        } else
            r->st.bad_evals++;
    }
    if (improved && ll > 0 && (size_t)ll < sizeof line)
        snprintf(line + ll, sizeof line - (size_t)ll, " (best %s)", c->metric);
    note(r, line);
    r->res->best_metric = r->st.best_metric;
    r->res->best_step = r->st.best_step;
    /* the best must exist as a checkpoint to be kept */
    if (improved && c->keep_best && c->ckpt_root && r->st.step > 0) {
        FT_TRY(checkpoint(r));
        FT_TRY(ft_ckpt_mark(c->ckpt_root, "best", strrchr(r->res->checkpoint, '/') + 1));
    }
    *stop_early = c->patience > 0 && r->st.bad_evals >= c->patience;
    return FT_OK;
}

ft_status ft_train_accumulate(ft_model *m, const ft_dataset *d, const size_t *idx, int n_micro, int micro_bs,
                              int seq_len, int32_t pad_id, const ft_fwd_opts *base, ft_arena *arena,
                              ft_accum_result *out) {
    memset(out, 0, sizeof *out);
    out->loss = out->grad_norm = NAN;
    ft_model_zero_grad(m);
    double sum = 0.0;
    ft_status s = FT_OK;
    for (int mb = 0; s == FT_OK && mb < n_micro; mb++) {
        ft_batch b;
        s = ft_batch_collate(d, idx + (size_t)mb * (size_t)micro_bs, micro_bs, seq_len, pad_id, &b);
        if (s == FT_OK && d->mlm) /* masked LM: this micro-batch's masks, from its step (resume-safe) */
            s = ft_mlm_mask(d->mlm, &b, false, (base->step + (uint64_t)mb) * (uint64_t)micro_bs);
        if (s != FT_OK) {
            ft_batch_free(&b);
            break;
        }
        for (int64_t i = 0; i < (int64_t)b.B * b.T; i++)
            out->tokens += b.mask ? b.mask[i] : 1;
        ft_arena_reset(arena);
        ft_fwd_opts o = micro_opts(base, mb);
        ft_acts *a = NULL;
        double loss = 0.0;
        int64_t cnt = -1;
        s = ft_model_forward(m, &b, &o, arena, &a, &loss, &cnt);
        if (s == FT_ERR_ARG && cnt == 0) { /* no target in this micro-batch: it adds nothing */
            ft_clear_error();
            s = FT_OK;
        } else if (s == FT_ERR_NUMERIC) {
            ft_clear_error();
            out->nonfinite = true;
            s = FT_OK;
            ft_batch_free(&b);
            break;
        } else if (s == FT_OK) {
            s = ft_model_backward(m, a, arena, (float)cnt); /* gradient of the summed loss */
            sum += loss * (double)cnt;
            out->count += cnt;
        }
        ft_batch_free(&b);
    }
    if (s != FT_OK || out->nonfinite || out->count == 0)
        return s;
    /* Σ over targets → mean over all targets of the step, and that gradient's norm in the same pass */
    out->grad_norm = ft_grad_scale_norm(m, (float)(1.0 / (double)out->count));
    out->loss = sum / (double)out->count;
    return FT_OK;
}

/* One optimizer step's gradient. *nonfinite set (status OK) when the loss or gradient was NaN/Inf. */
/* *gscale_out: the clipping factor the update applies to the grads (they stay unscaled in memory). */
static ft_status train_step(run *r, double *loss_out, double *gnorm_out, float *gscale_out, int64_t *tokens_out,
                            bool *nonfinite, bool *empty) {
    const ft_train_cfg *c = r->cfg;
    const size_t n = (size_t)c->batch_size * (size_t)c->grad_accum;
    size_t *idx = malloc(n * sizeof *idx);
    if (!idx)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) /* the data position moves past the whole step, whatever happens */
        idx[i] = next_example(r);
    ft_fwd_opts o = {.training = true, .seed = c->seed, .step = (uint64_t)r->st.step * (uint64_t)c->grad_accum,
                     .label_smoothing = c->label_smoothing, .checkpoint = c->activation_checkpointing};
    ft_accum_result ar;
    ft_status s = ft_train_accumulate(r->m, r->train, idx, c->grad_accum, c->batch_size, c->seq_len, c->pad_id, &o,
                                      &r->arena, &ar);
    free(idx);
    *tokens_out = ar.tokens;
    *nonfinite = ar.nonfinite;
    *empty = !ar.nonfinite && ar.count == 0;
    if (s != FT_OK || *nonfinite || *empty)
        return s;
    *loss_out = ar.loss;
    *gnorm_out = ar.grad_norm; /* logged: the norm before clipping */
    *gscale_out = ft_clip_scale(*gnorm_out, c->max_grad_norm);
    if (!isfinite(*gnorm_out))
        *nonfinite = true;
    return FT_OK;
}

static ft_status loop(run *r) {
    const ft_train_cfg *c = r->cfg;
    ft_train_result *res = r->res;
    bool stop_early = false;
    if (r->val && c->eval_at_start && r->st.step == 0) {
        FT_TRY(evaluate(r, &stop_early));
        res->eval_before = res->eval.loss;
        stop_early = false;
    }
    double t0 = ft_now();
    int64_t run_tokens = 0;
    bool evaluated_last = false;
    while (r->st.step < c->max_steps) {
        if (c->stop && *c->stop) {
            res->end = FT_TRAIN_INTERRUPTED;
            break;
        }
        ft_train_state before = r->st;
        double loss = NAN, gnorm = NAN;
        float gscale = 1.0f;
        int64_t toks = 0;
        bool nonfinite = false, empty = false;
        FT_TRY(train_step(r, &loss, &gnorm, &gscale, &toks, &nonfinite, &empty));
        const int64_t step1 = r->st.step + 1;
        double lr = (double)c->lr * ft_sched_factor(&c->sched, r->st.step);
        if (nonfinite) {
            ft_model_zero_grad(r->m);
            if (!c->skip_nonfinite) {
                /* keep the model as it was and checkpoint the position before this step */
                r->st = before;
                ft_status keep = FT_OK;
                if (c->ckpt_root)
                    keep = checkpoint(r);
                if (keep != FT_OK)
                    return keep;
                return ft_fail(FT_ERR_NUMERIC,
                               "step %lld: the %s is not finite; stopped before the update (parameters are those "
                               "after step %lld; train.on_nonfinite=skip skips such steps)",
                               (long long)step1, isfinite(loss) || isnan(loss) ? "loss or gradient" : "loss",
                               (long long)before.step);
            }
            r->st.skipped++;
            res->skipped++;
            char msg[128];
            snprintf(msg, sizeof msg, "step %lld: non-finite loss or gradient, step skipped", (long long)step1);
            note(r, msg);
        } else if (empty) {
            char msg[128];
            snprintf(msg, sizeof msg, "step %lld: no target token in the batch, step skipped", (long long)step1);
            note(r, msg);
        } else {
            ft_optim_update_scaled(&r->opt, r->m, (float)lr, gscale); /* clipping folded in */
        }
        r->st.step = step1;
        r->st.tokens += toks;
        run_tokens += toks;
        res->tokens = run_tokens;
        if (isfinite(loss)) {
            if (isnan(res->first_loss))
                res->first_loss = loss;
            res->last_loss = loss;
        }
        res->steps = step1;
        double el = ft_now() - t0;
        double tps = (double)run_tokens / (el > 0 ? el : 1e-9);
        if (c->progress)
            ft_progress_update(c->progress, step1, loss, lr, (double)run_tokens, ft_now());
        if (step1 % c->log_every == 0 || step1 == c->max_steps) {
            double epoch = (double)(r->st.epoch ? r->st.epoch - 1 : 0) + (double)r->st.cursor / (double)r->train->n;
            const char *keys[] = {"train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s", "train/epoch"};
            double vals[] = {loss, lr, gnorm, tps, epoch};
            FT_TRY(log_scalars(r, step1, keys, vals, 5));
        }
        evaluated_last = false;
        if (r->val && c->eval_every > 0 && step1 % c->eval_every == 0) {
            FT_TRY(evaluate(r, &stop_early));
            evaluated_last = true;
        }
        if (c->ckpt_root && c->ckpt_every > 0 && step1 % c->ckpt_every == 0 && step1 < c->max_steps && !stop_early)
            FT_TRY(checkpoint(r));
        if (stop_early) {
            res->end = FT_TRAIN_EARLY_STOPPED;
            char msg[160];
            snprintf(msg, sizeof msg, "early stopping at step %lld: no improvement of %s in %lld evaluations",
                     (long long)step1, c->metric, (long long)c->patience);
            note(r, msg);
            break;
        }
    }
    double el = ft_now() - t0;
    res->tokens_per_s = (double)run_tokens / (el > 0 ? el : 1e-9);
    if (res->end != FT_TRAIN_INTERRUPTED && r->val && !evaluated_last)
        FT_TRY(evaluate(r, &stop_early));
    if (c->progress)
        ft_progress_finish(c->progress, ft_now());
    return checkpoint(r);
}

ft_status ft_train(ft_model *m, const ft_dataset *train, const ft_dataset *val, const ft_train_cfg *cfg,
                   ft_train_result *res) {
    memset(res, 0, sizeof *res);
    res->first_loss = res->last_loss = res->eval_before = res->best_metric = NAN;
    res->best_step = -1;
    if (cfg->batch_size <= 0 || cfg->grad_accum <= 0 || cfg->seq_len <= 1 || cfg->max_steps <= 0 ||
        cfg->log_every <= 0)
        return ft_fail(FT_ERR_ARG, "batch size, grad_accum, steps must be positive and seq-len at least 2");
    if (cfg->seq_len > m->cfg.max_pos)
        return ft_fail(FT_ERR_RANGE, "seq-len %d exceeds the model's %d positions", cfg->seq_len, m->cfg.max_pos);
    if (train->n == 0)
        return ft_fail(FT_ERR_ARG, "the training set is empty");
    if (val && val->n == 0)
        val = NULL;
    if (!ft_eval_metric_sign(cfg->metric) && !cfg->metric_sign)
        return ft_fail(FT_ERR_CONFIG, "unknown eval metric '%s' (loss, perplexity, accuracy, f1_macro, f1_micro, "
                                      "f1_weighted, precision_macro, recall_macro, mse, mae, r2)", cfg->metric);
    run r = {.m = m, .train = train, .val = val, .cfg = cfg, .res = res};
    r.eval_bs = cfg->eval_batch_size > 0 ? cfg->eval_batch_size : cfg->batch_size;
    r.st.best_metric = NAN;
    r.st.best_step = -1;
    r.st.seed = cfg->seed;
    FT_TRY(ft_optim_init(&r.opt, m, &cfg->optim));
    int bmax = cfg->batch_size > r.eval_bs ? cfg->batch_size : r.eval_bs;
    size_t extra = (size_t)bmax * (size_t)(m->n_labels > 0 ? m->n_labels : 1) * sizeof(float) + ((size_t)4 << 20);
    ft_status s = ft_arena_init(&r.arena, ft_train_act_bytes(m, cfg->batch_size, val ? r.eval_bs : 0, cfg->seq_len,
                                                             cfg->activation_checkpointing, cfg->label_smoothing) +
                                              extra);
    r.order = malloc(train->n * sizeof *r.order);
    if (s == FT_OK && !r.order)
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK && cfg->resume) {
        s = ft_ckpt_load(cfg->resume, m, &r.opt, &r.st);
        if (s == FT_OK && r.st.seed != cfg->seed)
            s = ft_fail(FT_ERR_CONFIG, "%s: the checkpoint was made with seed %llu, the recipe says %llu",
                        cfg->resume, (unsigned long long)r.st.seed, (unsigned long long)cfg->seed);
        if (s == FT_OK && r.st.epoch > 0)
            shuffle(&r, r.st.epoch - 1); /* the data position continues inside that order */
        if (s != FT_OK)
            s = ft_fail_ctx(s, "resuming from %s", cfg->resume);
    }
    res->start_step = r.st.step;
    res->steps = r.st.step;
    res->best_metric = r.st.best_metric;
    res->best_step = r.st.best_step;
    if (s == FT_OK && cfg->progress) { /* restart the display at the (resumed) step, keeping its settings */
        ft_progress *p = cfg->progress;
        double plain = p->plain_interval, tty = p->tty_interval;
        int width = p->width;
        ft_progress_init(p, p->out, p->mode, r.st.step, cfg->max_steps, ft_now());
        p->plain_interval = plain;
        p->tty_interval = tty;
        p->width = width;
    }
    if (s == FT_OK)
        s = loop(&r);
    free(r.order);
    ft_arena_free(&r.arena);
    ft_optim_free(&r.opt);
    return s;
}
