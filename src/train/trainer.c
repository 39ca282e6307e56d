#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/dataset.h"
#include "data/mlm.h"
#include "train/img_task.h"
#include "train/dist.h"
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
    if (r->has_tag)
        ft_metric_tag_free(&r->tag);
    memset(r, 0, sizeof *r);
}

typedef struct {
    const char *name;
    int sign;
} metric_info;
static const metric_info METRICS[] = {
    {"loss", -1},       {"perplexity", -1},     {"accuracy", 1},     {"f1_macro", 1},  {"f1_micro", 1},
    {"f1_weighted", 1}, {"precision_macro", 1}, {"recall_macro", 1}, {"mse", -1},      {"mae", -1},
    {"r2", 1},          {"exact_match", 1},     {"precision", 1},    {"recall", 1},    {"f1", 1},
    {"rouge1", 1},      {"rouge2", 1},          {"rougeL", 1},       {"rougeLsum", 1}, {"bleu", 1},
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
    if (r->has_tag) {
        const ft_metric_tag *t = &r->tag;
        if (!strcmp(n, "accuracy"))
            return t->accuracy;
        if (!strcmp(n, "f1_macro"))
            return t->entities ? NAN : t->f1_macro_tags;
        if (!strcmp(n, "precision"))
            return t->entities ? t->precision : NAN;
        if (!strcmp(n, "recall"))
            return t->entities ? t->recall : NAN;
        if (!strcmp(n, "f1"))
            return t->entities ? t->f1 : NAN;
    }
    if (r->has_cls) {
        const ft_metric_cls *c = &r->cls;
        if (!strcmp(n, "accuracy")) return c->accuracy;
        if (!strcmp(n, "f1_macro")) return c->f1_macro;
        if (!strcmp(n, "f1_micro")) return c->f1_micro;
        if (!strcmp(n, "f1_weighted")) return c->f1_weighted;
        if (!strcmp(n, "precision_macro")) return c->precision_macro;
        if (!strcmp(n, "recall_macro")) return c->recall_macro;
    }
    if (r->has_qa) {
        if (!strcmp(n, "exact_match")) return r->qa.exact_match;
        if (!strcmp(n, "f1")) return r->qa.f1;
    }
    if (r->has_gen) {
        const ft_s2s_score *g = &r->gen;
        if (!strcmp(n, "rouge1"))
            return g->rouge1;
        if (!strcmp(n, "rouge2"))
            return g->rouge2;
        if (!strcmp(n, "rougeL"))
            return g->rougeL;
        if (!strcmp(n, "rougeLsum"))
            return g->rougeLsum;
        if (!strcmp(n, "bleu"))
            return g->bleu;
        if (!strcmp(n, "exact_match"))
            return g->exact_match;
        if (!strcmp(n, "f1"))
            return g->f1;
    }
    if (r->has_reg) {
        if (!strcmp(n, "mse")) return r->reg.mse;
        if (!strcmp(n, "mae")) return r->reg.mae;
        if (!strcmp(n, "r2")) return r->reg.r2;
    }
    return NAN;
}

/* The evaluation forward: no backward follows, so it keeps no block's activations; the logits of a
 * classification, regression, token-classification or QA head are kept for the metrics (not a language
 * model's [rows, V]: its metric is the loss). */
static ft_fwd_opts eval_opts(const ft_model *m) {
    return (ft_fwd_opts){.keep_logits = m->task != FT_TASK_CAUSAL_LM && m->task != FT_TASK_MASKED_LM,
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

/* Question answering: the windows' start/end logits ([len][2] each, from rows of T tokens) into the answers
 * of their examples, scored with SQuAD EM / F1. */
typedef struct {
    float *buf;    /* every window's logits, one after the other */
    size_t *at;    /* [n windows] where each begins */
} qa_logits;

static ft_status qa_logits_init(const ft_dataset *d, qa_logits *q) {
    q->at = malloc((d->n + 1) * sizeof *q->at);
    if (!q->at)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    q->at[0] = 0;
    for (size_t i = 0; i < d->n; i++)
        q->at[i + 1] = q->at[i] + 2 * (size_t)d->ex[i].len;
    q->buf = malloc((q->at[d->n] + 1) * sizeof *q->buf);
    return q->buf ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
}

static void qa_logits_put(const ft_dataset *d, qa_logits *q, size_t ex, const float *rows, int T) {
    for (int t = 0; t < d->ex[ex].len; t++) /* a token cut by seq_len never wins */
        for (int k = 0; k < 2; k++)
            q->buf[q->at[ex] + 2 * (size_t)t + (size_t)k] = t < T ? rows[2 * t + k] : -1e30f;
}

static ft_status qa_logits_score(const ft_dataset *d, qa_logits *q, ft_eval_result *out) {
    const ft_qa_feats *f = d->qa;
    const float **lg = malloc(d->n * sizeof *lg);
    ft_qa_answer *ans = calloc(f->set->n, sizeof *ans);
    ft_status s = lg && ans ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; s == FT_OK && i < d->n; i++)
        lg[i] = q->buf + q->at[i];
    if (s == FT_OK)
        s = ft_qa_postprocess(f, lg, NULL, ans);
    if (s == FT_OK)
        s = ft_qa_score_answers(f->set, ans, &out->qa);
    out->has_qa = s == FT_OK;
    if (ans)
        ft_qa_answers_free(ans, f->set->n);
    free(ans);
    free(lg);
    return s;
}

/* One evaluation batch: the examples d[i .. i + batch_size) (indices in idx[0..n)), collated into b (freed
 * by the caller) and run forward; a = NULL when the batch has no target (not an error), else its loss sum is
 * added to *total and its target count to *count. */
typedef struct {
    int n;
    ft_batch b;
    ft_acts *a;
} eval_step;

static ft_status eval_batch(ft_model *m, const ft_dataset *d, size_t i, int batch_size, int seq_len,
                            int32_t pad_id, ft_arena *arena, size_t *idx, eval_step *e, double *total,
                            int64_t *count) {
    e->n = 0;
    e->a = NULL;
    for (size_t j = i; j < d->n && e->n < batch_size; j++)
        idx[e->n++] = j;
    FT_TRY(ft_batch_collate(d, idx, e->n, seq_len, pad_id, &e->b));
    if (d->mlm || d->img) { /* masked LM: the fixed evaluation masks, one RNG stream per example; images */
        ft_status ms = d->img ? ft_img_source_fill(d->img, d, idx, e->n, false, 0, &e->b)
                              : ft_mlm_mask(d->mlm, &e->b, true, (uint64_t)i);
        if (ms != FT_OK) {
            ft_batch_free(&e->b);
            return ms;
        }
    }
    ft_arena_reset(arena);
    ft_fwd_opts o = eval_opts(m);
    double l = 0.0;
    int64_t c = -1;
    ft_status s = ft_model_forward(m, &e->b, &o, arena, &e->a, &l, &c);
    if (s == FT_ERR_ARG && c == 0) { /* nothing to predict in this batch (no label / single-token examples) */
        e->a = NULL;
        ft_clear_error();
        return FT_OK;
    }
    if (s != FT_OK) {
        ft_batch_free(&e->b);
        return s;
    }
    *total += l * (double)c;
    *count += c;
    return FT_OK;
}

/* The index of the largest of row[0..K) (the first on ties). */
static int argmax(const float *row, int K) {
    int best = 0;
    for (int k = 1; k < K; k++)
        if (row[k] > row[best])
            best = k;
    return best;
}

/* The mean loss of an evaluation (an error naming `what` when nothing counted). */
static ft_status eval_mean(double total, int64_t count, const char *what, ft_eval_result *out) {
    if (count == 0)
        return ft_fail(FT_ERR_ARG, "evaluation data has no %s", what);
    out->loss = total / (double)count;
    out->perplexity = exp(out->loss);
    out->count = count;
    return FT_OK;
}

/* Token classification: the loss over the labelled pieces, and each word's tag at its first piece (words
 * whose label is -100 — unknown tags, truncated away — are not scored) for the tagging metrics. */
static ft_status evaluate_tokens(ft_model *m, const ft_dataset *d, int batch_size, int seq_len,
                                 int32_t pad_id, ft_arena *arena, ft_eval_result *out) {
    size_t pieces = 0;
    for (size_t i = 0; i < d->n; i++)
        pieces += (size_t)d->ex[i].len;
    size_t *idx = malloc((size_t)batch_size * sizeof *idx), *off = malloc((d->n + 1) * sizeof *off);
    int32_t *yt = malloc((pieces ? pieces : 1) * sizeof *yt),
            *yp = malloc((pieces ? pieces : 1) * sizeof *yp);
    char **names = m->label_names, **made = NULL;
    ft_status s = idx && off && yt && yp ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK && !names &&
        (made = calloc((size_t)m->n_labels, sizeof *made))) /* LABEL_k as HF names them */
        for (int k = 0; k < m->n_labels; k++) {
            char nm[32];
            snprintf(nm, sizeof nm, "LABEL_%d", k);
            made[k] = ft_strdup(nm);
        }
    if (s == FT_OK && !names && !made)
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    names = names ? names : made;
    double total = 0.0;
    int64_t count = 0;
    size_t nw = 0, ns = 0;
    if (off)
        off[0] = 0;
    for (size_t i = 0; s == FT_OK && i < d->n; i += (size_t)batch_size) {
        eval_step e;
        s = eval_batch(m, d, i, batch_size, seq_len, pad_id, arena, idx, &e, &total, &count);
        if (s != FT_OK)
            break;
        const int n = e.n;
        const int T = e.b.T;
        const float *lg = e.a ? ft_acts_logits(e.a, NULL, NULL) : NULL;
        for (int r = 0; lg && r < n; r++) {
            const ft_example *ex = &d->ex[idx[r]];
            for (int t = 0; ex->word_ids && t < ex->len && t < T; t++) {
                const int32_t w = ex->word_ids[t];
                if (w < 0 || (t > 0 && ex->word_ids[t - 1] == w) || ex->labels[t] < 0)
                    continue;
                yt[nw] = ex->labels[t];
                yp[nw++] =
                    argmax(lg + ((size_t)r * (size_t)T + (size_t)t) * (size_t)m->n_labels, m->n_labels);
            }
            off[++ns] = nw;
        }
        ft_batch_free(&e.b);
    }
    if (s == FT_OK)
        s = eval_mean(total, count, "labelled token", out);
    if (s == FT_OK) {
        s = ft_metric_tagging(yt, yp, off, ns, names, m->n_labels, &out->tag);
        out->has_tag = s == FT_OK;
    }
    for (int k = 0; made && k < m->n_labels; k++)
        free(made[k]);
    free(made);
    free(idx);
    free(off);
    free(yt);
    free(yp);
    return s;
}

ft_status ft_train_evaluate(ft_model *m, const ft_dataset *d, int batch_size, int seq_len, int32_t pad_id,
                            ft_arena *arena, ft_eval_result *out) {
    memset(out, 0, sizeof *out);
    if (m->task == FT_TASK_TOKEN_CLS)
        return evaluate_tokens(m, d, batch_size, seq_len, pad_id, arena, out);
    const bool qa = m->task == FT_TASK_QA && d->qa && d->qa->n == d->n;
    qa_logits ql = {0};
    if (qa) {
        ft_status qs = qa_logits_init(d, &ql);
        if (qs != FT_OK) {
            free(ql.at);
            return qs;
        }
    }
    const bool cls = m->task == FT_TASK_SEQ_CLS, reg = m->task == FT_TASK_REGRESSION;
    double total = 0.0;
    int64_t count = 0;
    size_t *idx = malloc((size_t)batch_size * sizeof *idx);
    int *yt = (cls || reg) ? malloc(d->n * sizeof *yt) : NULL;
    int *yp = (cls || reg) ? malloc(d->n * sizeof *yp) : NULL;
    double *rt = reg ? malloc(d->n * sizeof *rt) : NULL, *rp = reg ? malloc(d->n * sizeof *rp) : NULL;
    size_t npred = 0;
    bool have_logits = cls || reg || qa;
    /* windowed texts (data.max_windows): a text's prediction comes from the mean of its windows' logits */
    const bool docs = (cls || reg) && d->n_docs > 0;
    const int nl = cls ? m->n_labels : 1;
    double *dsum = docs ? calloc(d->n_docs * (size_t)nl, sizeof *dsum) : NULL;
    double *dtgt = docs ? calloc(d->n_docs, sizeof *dtgt) : NULL;
    int *dcnt = docs ? calloc(d->n_docs, sizeof *dcnt) : NULL,
        *dlab = docs ? calloc(d->n_docs, sizeof *dlab) : NULL;
    ft_status s = FT_OK;
    if (!idx || ((cls || reg) && (!yt || !yp)) || (reg && (!rt || !rp)) ||
        (docs && (!dsum || !dtgt || !dcnt || !dlab)))
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; s == FT_OK && i < d->n; i += (size_t)batch_size) {
        eval_step e;
        s = eval_batch(m, d, i, batch_size, seq_len, pad_id, arena, idx, &e, &total, &count);
        if (s != FT_OK)
            break;
        const int n = e.n;
        if (e.a) {
            const float *lg = ft_acts_logits(e.a, NULL, NULL);
            if (!lg)
                have_logits = false;
            for (int r = 0; qa && lg && r < n; r++)
                qa_logits_put(d, &ql, idx[r], lg + (size_t)r * (size_t)e.b.T * 2, e.b.T);
            for (int r = 0; have_logits && docs && r < n; r++) { /* windows: sum logits per text */
                const ft_example *ex = &d->ex[idx[r]];
                const size_t k = (size_t)ex->doc;
                if (ex->doc < 0 || k >= d->n_docs) {
                    s = ft_fail(FT_ERR_RANGE, "evaluation: window %zu names text %d of %zu", idx[r], ex->doc,
                                d->n_docs);
                    break;
                }
                for (int j = 0; j < nl; j++)
                    dsum[k * (size_t)nl + (size_t)j] += lg[(size_t)r * (size_t)nl + (size_t)j];
                dcnt[k]++;
                dlab[k] = ex->cls_label;
                dtgt[k] = ex->reg_target;
            }
            for (int r = 0; have_logits && !docs && r < n; r++) {
                const ft_example *ex = &d->ex[idx[r]];
                if (cls && ex->cls_label != -100) {
                    yt[npred] = ex->cls_label;
                    yp[npred++] = argmax(lg + (size_t)r * (size_t)m->n_labels, m->n_labels);
                } else if (reg) {
                    rt[npred] = ex->reg_target;
                    rp[npred++] = lg[r];
                }
            }
        }
        ft_batch_free(&e.b);
    }
    for (size_t k = 0; s == FT_OK && docs && have_logits && k < d->n_docs; k++) {
        if (!dcnt[k])
            continue;
        const double *v = dsum + k * (size_t)nl;
        if (cls && dlab[k] != -100) {
            int best = 0;
            for (int j = 1; j < nl; j++)
                best = v[j] > v[best] ? j : best;
            yt[npred] = dlab[k];
            yp[npred++] = best;
        } else if (reg) {
            rt[npred] = dtgt[k];
            rp[npred++] = v[0] / dcnt[k];
        }
    }
    if (s == FT_OK)
        s = eval_mean(total, count, "target", out);
    if (s == FT_OK) {
        if (cls && have_logits && npred > 0) {
            s = ft_metric_classification_ids(yt, yp, npred, (size_t)m->n_labels, &out->cls);
            out->has_cls = s == FT_OK;
        }
        if (s == FT_OK && reg && have_logits && npred > 0) {
            s = ft_metric_regression(rt, rp, npred, &out->reg);
            out->has_reg = s == FT_OK;
        }
        if (s == FT_OK && qa && have_logits)
            s = qa_logits_score(d, &ql, out);
        if (s == FT_OK && d->s2s) { /* seq2seq: generate from the sources, score against the targets */
            s = ft_s2s_generate_score(m, d, d->s2s, &out->gen, NULL);
            out->has_gen = s == FT_OK;
        }
    }
    free(ql.buf);
    free(ql.at);
    free(dsum);
    free(dtgt);
    free(dcnt);
    free(dlab);
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

struct ft_train_run {
    ft_model *m;
    const ft_dataset *train, *val;
    const ft_train_cfg *cfg;
    ft_train_result *res;
    ft_optim opt;
    ft_arena arena;
    size_t *order;
    ft_train_state st;
    int eval_bs;
    /* the loop's state between ft_train_next calls */
    double t0;
    int64_t run_tokens;
    bool evaluated_last, stop_early, done, finished;
    /* data parallelism (cfg->dist): this rank, the ranks, the bytes exchanged in the last step */
    int rank, world;
    uint64_t comm_bytes;
};
typedef struct ft_train_run run;

/* Order of epoch e (0-based): Fisher–Yates driven by the counter RNG, so it depends only on (seed, e).
 * Length groups are of a global micro-batch (all ranks' rows), so N ranks walk 1 rank × N·b's order. */
static void shuffle(run *r, uint64_t e) {
    size_t n = r->train->n;
    if (r->cfg->group_by_length &&
        ft_data_length_groups(r->train, r->cfg->batch_size * r->world, ft_rng_u64(r->cfg->seed, 0x6e0, e),
                              r->order) == FT_OK)
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
    if (r->rank != 0) /* rank 0 alone reports */
        return;
    if (r->cfg->progress)
        ft_progress_note(r->cfg->progress, msg);
    if (r->cfg->on_note)
        r->cfg->on_note(r->cfg->observer, msg);
}

static ft_status log_scalars(run *r, int64_t step, const char *const *keys, const double *vals, size_t n) {
    if (r->rank != 0)
        return FT_OK;
    double now = wall_now();
    if (r->cfg->log)
        FT_TRY(ft_log_write(r->cfg->log, step, now, keys, vals, n));
    if (r->cfg->tb) {
        float f[24];
        for (size_t i = 0; i < n && i < 24; i++)
            f[i] = (float)vals[i];
        FT_TRY(ft_tb_scalars(r->cfg->tb, step, now, keys, f, n < 24 ? n : 24));
    }
    return FT_OK;
}

/* A checkpoint: every rank calls it (a ZeRO-1 state is gathered from the shards first), rank 0 writes. */
static ft_status checkpoint(run *r) {
    const ft_train_cfg *c = r->cfg;
    if (!c->ckpt_root)
        return FT_OK;
    const ft_optim *o = &r->opt;
    ft_optim full;
    bool gathered = r->opt.lo != NULL;
    if (gathered) {
        if (r->rank == 0)
            FT_TRY(ft_optim_init(&full, r->m, &c->optim));
        ft_status s = ft_dist_gather_optim(c->dist, r->m, &r->opt, r->rank == 0 ? &full : NULL);
        if (s != FT_OK) {
            if (r->rank == 0)
                ft_optim_free(&full);
            return s;
        }
        o = &full;
    }
    ft_status s = FT_OK;
    if (r->rank == 0) {
        s = ft_ckpt_save(c->ckpt_root, r->m, o, &r->st, c->recipe_yaml, c->ckpt_save_model,
                         r->res->checkpoint, sizeof r->res->checkpoint);
        if (s == FT_OK && c->tb)
            s = ft_tb_flush(c->tb);
        if (s == FT_OK)
            s = ft_ckpt_prune(c->ckpt_root, c->keep_last, c->keep_best ? r->st.best_step : -1);
        if (gathered)
            ft_optim_free(&full);
    }
    return s;
}

/* Rank 0's evaluation outcome to every rank: whether it improved, early stopping, the best-so-far state. */
static ft_status share_eval(run *r, bool *improved, bool *stop_early) {
    if (r->world <= 1)
        return FT_OK;
    double v[5] = {*improved, *stop_early, r->st.best_metric, (double)r->st.best_step,
                   (double)r->st.bad_evals};
    FT_TRY(ft_dist_bcast(r->cfg->dist, v, sizeof v, 0));
    *improved = v[0] != 0.0;
    *stop_early = v[1] != 0.0;
    r->st.best_metric = v[2];
    r->st.best_step = (int64_t)v[3];
    r->st.bad_evals = (int64_t)v[4];
    r->res->best_metric = r->st.best_metric;
    r->res->best_step = r->st.best_step;
    return FT_OK;
}

/* A language model's evaluation (its metric is the loss) over every rank: batch k runs on rank k mod N, the
 * batches' loss sums and target counts are summed over the ranks in one allreduce (each slot is filled by
 * one rank, zeros elsewhere: exact) and added in batch order, as ft_train_evaluate adds them: the same bits
 * as one process evaluating alone, N times faster. The metrics of the other tasks need every prediction in
 * one place and stay rank 0's. */
static bool eval_sharded(const run *r) {
    return r->world > 1 && !r->val->s2s &&
           (r->m->task == FT_TASK_CAUSAL_LM || r->m->task == FT_TASK_MASKED_LM);
}

static ft_status evaluate_loss_sharded(run *r, ft_eval_result *out) {
    const ft_train_cfg *c = r->cfg;
    const size_t bs = (size_t)r->eval_bs, nb = (r->val->n + bs - 1) / bs;
    memset(out, 0, sizeof *out);
    double *v = calloc(2 * nb + 1, sizeof *v);
    size_t *idx = malloc(bs * sizeof *idx);
    ft_status s = v && idx ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t k = (size_t)r->rank; s == FT_OK && k < nb; k += (size_t)r->world) {
        eval_step e;
        int64_t count = 0;
        s = eval_batch(r->m, r->val, k * bs, (int)bs, c->seq_len, c->pad_id, &r->arena, idx, &e, &v[2 * k],
                       &count);
        if (s == FT_OK) {
            v[2 * k + 1] = (double)count;
            ft_batch_free(&e.b);
        }
    }
    if (s == FT_OK)
        s = ft_dist_allreduce_f64(c->dist, v, 2 * nb, false);
    double total = 0.0;
    int64_t count = 0;
    for (size_t k = 0; s == FT_OK && k < nb; k++) {
        total += v[2 * k];
        count += (int64_t)v[2 * k + 1];
    }
    if (s == FT_OK)
        s = eval_mean(total, count, "target", out);
    free(v);
    free(idx);
    return s;
}

/* Evaluate (rank 0, or every rank with eval_sharded), log, update best / early-stopping state; *stop_early
 * set when patience ran out. */
static ft_status evaluate_here(run *r, bool *improved_out, bool *stop_early) {
    const ft_train_cfg *c = r->cfg;
    ft_eval_result ev;
    if (eval_sharded(r)) {
        FT_TRY(evaluate_loss_sharded(r, &ev));
        r->res->eval_sharded = true;
        if (r->rank != 0) { /* the logging and the decisions are rank 0's (share_eval) */
            ft_eval_result_free(&ev);
            return FT_OK;
        }
    } else
        FT_TRY(ft_train_evaluate(r->m, r->val, r->eval_bs, c->seq_len, c->pad_id, &r->arena, &ev));
    ft_eval_result_free(&r->res->eval);
    r->res->eval = ev;
    r->res->has_eval = true;
    const char *keys[24];
    double vals[24];
    size_t n = 0;
    static const char *const NAMES[] = {
        "loss",   "perplexity", "accuracy", "f1_macro",    "f1_weighted", "precision_macro", "recall_macro",
        "mse",    "mae",        "r2",       "exact_match", "precision",   "recall",          "f1",
        "rouge1", "rouge2",     "rougeL",   "rougeLsum",   "bleu"};
    static const char *const TAGS[] = {"eval/loss",         "eval/perplexity",  "eval/accuracy",
                                       "eval/f1_macro",     "eval/f1_weighted", "eval/precision_macro",
                                       "eval/recall_macro", "eval/mse",         "eval/mae",
                                       "eval/r2",           "eval/exact_match", "eval/precision",
                                       "eval/recall",       "eval/f1",          "eval/rouge1",
                                       "eval/rouge2",       "eval/rougeL",      "eval/rougeLsum",
                                       "eval/bleu"};
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
    if (c->on_eval)
        c->on_eval(c->observer, r->st.step, &r->res->eval);
    *improved_out = improved;
    *stop_early = c->patience > 0 && r->st.bad_evals >= c->patience;
    return FT_OK;
}

/* The evaluation: on rank 0 (a language model's loss: on every rank, sharded), its decisions shared; a new
 * best is checkpointed (all ranks take part). */
static ft_status evaluate(run *r, bool *stop_early) {
    const ft_train_cfg *c = r->cfg;
    bool improved = false;
    *stop_early = false;
    if (r->rank == 0 || eval_sharded(r))
        FT_TRY(evaluate_here(r, &improved, stop_early));
    FT_TRY(share_eval(r, &improved, stop_early));
    /* the best must exist as a checkpoint to be kept */
    if (improved && c->keep_best && c->ckpt_root && r->st.step > 0) {
        FT_TRY(checkpoint(r));
        if (r->rank == 0)
            FT_TRY(ft_ckpt_mark(c->ckpt_root, "best", strrchr(r->res->checkpoint, '/') + 1));
    }
    return FT_OK;
}

/* The micro-batches of one step on this rank, leaving grads = the gradient of the summed loss (Σ over
 * targets), *sum = the summed loss, out->count / tokens / nonfinite. Rank `rank` of `world` holds rows
 * rank·micro_bs.. of each global micro-batch of world·micro_bs rows (all of them in gidx, NULL for one
 * rank): masked-LM and dropout masks key on the global row (the same masks whatever the number of ranks;
 * dropout also on the position, the shard being padded to its own longest row). */
static ft_status accumulate_sum(ft_model *m, const ft_dataset *d, const size_t *idx, const size_t *gidx,
                                int n_micro, int micro_bs, int seq_len, int32_t pad_id,
                                const ft_fwd_opts *base, ft_arena *arena, int rank, int world,
                                ft_accum_result *out, double *sum_out) {
    memset(out, 0, sizeof *out);
    out->loss = out->grad_norm = NAN;
    ft_model_zero_grad(m);
    double sum = 0.0;
    ft_status s = FT_OK;
    for (int mb = 0; s == FT_OK && mb < n_micro; mb++) {
        ft_batch b;
        const uint64_t gstep = base->step + (uint64_t)mb; /* the global micro-batch */
        s = ft_batch_collate(d, idx + (size_t)mb * (size_t)micro_bs, micro_bs, seq_len, pad_id, &b);
        if (s == FT_OK && d->mlm) /* masked LM: this micro-batch's masks, from its step (resume-safe) */
            s = ft_mlm_mask(d->mlm, &b, false,
                            gstep * (uint64_t)micro_bs * (uint64_t)world +
                                (uint64_t)rank * (uint64_t)micro_bs);
        if (s == FT_OK && d->img) /* images: their pixels, augmented by (seed, global micro-batch, image) */
            s = ft_img_source_fill(d->img, d, idx + (size_t)mb * (size_t)micro_bs, micro_bs, true, gstep, &b);
        if (s != FT_OK) {
            ft_batch_free(&b);
            break;
        }
        for (int64_t i = 0; i < (int64_t)b.B * b.T; i++)
            out->tokens += b.mask ? b.mask[i] : 1;
        for (int64_t i = 0; b.decoder_mask && i < (int64_t)b.B * b.T_dec; i++) /* seq2seq: + target tokens */
            out->tokens += b.decoder_mask[i];
        if (b.pixel_values) /* images: [CLS] + patches per image */
            out->tokens += (int64_t)b.B * ft_model_batch_seq_len(m, &b);
        ft_arena_reset(arena);
        ft_fwd_opts o = micro_opts(base, mb);
        if (gidx) { /* dropout: this shard's rows where they sit in the global micro-batch */
            const size_t gb = (size_t)micro_bs * (size_t)world;
            o.drop_row0 = (int64_t)rank * micro_bs;
            o.drop_pad = ft_batch_collate_len(d, gidx + (size_t)mb * gb, (int)gb, seq_len) - b.T;
        }
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
    *sum_out = sum;
    return s;
}

ft_status ft_train_accumulate(ft_model *m, const ft_dataset *d, const size_t *idx, int n_micro, int micro_bs,
                              int seq_len, int32_t pad_id, const ft_fwd_opts *base, ft_arena *arena,
                              ft_accum_result *out) {
    double sum = 0.0;
    ft_status s =
        accumulate_sum(m, d, idx, NULL, n_micro, micro_bs, seq_len, pad_id, base, arena, 0, 1, out, &sum);
    if (s != FT_OK || out->nonfinite || out->count == 0)
        return s;
    /* Σ over targets → mean over all targets of the step, and that gradient's norm in the same pass */
    out->grad_norm = ft_grad_scale_norm(m, (float)(1.0 / (double)out->count));
    out->loss = sum / (double)out->count;
    return FT_OK;
}

/* Data parallelism: this rank's part of the step summed with the others' (targets, loss, tokens, the
 * non-finite flag, then the gradients), then scaled by 1/Σ targets as ft_train_accumulate does: the mean
 * over every target of the global batch, the same on every rank. */
static ft_status accumulate_dist(run *r, const size_t *idx, const size_t *gidx, const ft_fwd_opts *o,
                                 ft_accum_result *ar) {
    const ft_train_cfg *c = r->cfg;
    double sum = 0.0;
    FT_TRY(accumulate_sum(r->m, r->train, idx, gidx, c->grad_accum, c->batch_size, c->seq_len, c->pad_id, o,
                          &r->arena, r->rank, r->world, ar, &sum));
    double v[4] = {(double)ar->count, sum, (double)ar->tokens, ar->nonfinite ? 1.0 : 0.0};
    FT_TRY(ft_dist_allreduce_f64(c->dist, v, 4, false));
    r->comm_bytes += sizeof v;
    ar->count = (int64_t)v[0];
    ar->tokens = (int64_t)v[2];
    ar->nonfinite = v[3] != 0.0;
    if (ar->nonfinite || ar->count == 0)
        return FT_OK;
    FT_TRY(ft_dist_allreduce_grads(c->dist, r->m, &r->comm_bytes));
    ar->grad_norm = ft_grad_scale_norm(r->m, (float)(1.0 / v[0]));
    ar->loss = v[1] / v[0];
    return FT_OK;
}

/* One optimizer step's gradient. *nonfinite set (status OK) when the loss or gradient was NaN/Inf. */
/* *gscale_out: the clipping factor the update applies to the grads (they stay unscaled in memory). */
static ft_status train_step(run *r, double *loss_out, double *gnorm_out, float *gscale_out, int64_t *tokens_out,
                            bool *nonfinite, bool *empty) {
    const ft_train_cfg *c = r->cfg;
    const size_t per_rank = (size_t)c->batch_size * (size_t)c->grad_accum, n = per_rank * (size_t)r->world;
    size_t *idx = malloc((n + per_rank) * sizeof *idx);
    if (!idx)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) /* the data position moves past the whole step, whatever happens */
        idx[i] = next_example(r);
    /* this rank's rows: rank·b .. rank·b + b − 1 of each global micro-batch of world·b rows */
    size_t *mine = idx + n;
    for (size_t i = 0; i < per_rank; i++) {
        const size_t mb = i / (size_t)c->batch_size, k = i % (size_t)c->batch_size;
        mine[i] = idx[(mb * (size_t)r->world + (size_t)r->rank) * (size_t)c->batch_size + k];
    }
    ft_fwd_opts o = {.training = true, .seed = c->seed, .step = (uint64_t)r->st.step * (uint64_t)c->grad_accum,
                     .label_smoothing = c->label_smoothing, .checkpoint = c->activation_checkpointing};
    ft_accum_result ar;
    ft_status s = r->world > 1 ? accumulate_dist(r, mine, idx, &o, &ar)
                               : ft_train_accumulate(r->m, r->train, mine, c->grad_accum, c->batch_size,
                                                     c->seq_len, c->pad_id, &o, &r->arena, &ar);
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

/* Every rank reads the checkpoint (a ZeRO-1 rank keeps its slice of the whole optimizer state). */
static ft_status resume_load(run *r, const char *dir) {
    if (!r->opt.lo)
        return ft_ckpt_load(dir, r->m, &r->opt, &r->st);
    ft_optim full;
    FT_TRY(ft_optim_init(&full, r->m, &r->cfg->optim));
    ft_status s = ft_ckpt_load(dir, r->m, &full, &r->st);
    if (s == FT_OK)
        ft_optim_copy_shard(&full, &r->opt);
    ft_optim_free(&full);
    return s;
}

/* Before the first step: the evaluation at step 0. */
static ft_status loop_start(run *r) {
    const ft_train_cfg *c = r->cfg;
    if (r->val && c->eval_at_start && r->st.step == 0) {
        FT_TRY(evaluate(r, &r->stop_early));
        r->res->eval_before = r->res->eval.loss;
        r->stop_early = false;
    }
    r->t0 = ft_now();
    r->done = r->st.step >= c->max_steps;
    return FT_OK;
}

/* One optimizer step (or the stop request); r->done when the loop is over. */
static ft_status loop_step(run *r) {
    const ft_train_cfg *c = r->cfg;
    ft_train_result *res = r->res;
    double stop = c->stop && *c->stop;
    r->comm_bytes = 0;
    if (r->world > 1) { /* a stop request on any rank stops every rank at the same step */
        FT_TRY(ft_dist_allreduce_f64(c->dist, &stop, 1, true));
        r->comm_bytes += sizeof stop;
    }
    if (stop != 0.0) {
        res->end = FT_TRAIN_INTERRUPTED;
        r->done = true;
        return FT_OK;
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
        if (r->opt.lo) /* ZeRO-1: each rank updated its slice; every rank gets all of them */
            FT_TRY(ft_dist_gather_params(c->dist, r->m, &r->comm_bytes));
    }
    r->st.step = step1;
    r->st.tokens += toks;
    r->run_tokens += toks;
    res->tokens = r->run_tokens;
    if (isfinite(loss)) {
        if (isnan(res->first_loss))
            res->first_loss = loss;
        res->last_loss = loss;
    }
    res->steps = step1;
    res->comm_bytes_per_step = r->comm_bytes;
    double el = ft_now() - r->t0;
    double tps = (double)r->run_tokens / (el > 0 ? el : 1e-9);
    if (c->progress && r->rank == 0)
        ft_progress_update(c->progress, step1, loss, lr, (double)r->run_tokens, ft_now());
    if (c->on_step && r->rank == 0) {
        ft_train_step_info si = {.step = step1,
                                 .max_steps = c->max_steps,
                                 .loss = loss,
                                 .lr = lr,
                                 .grad_norm = gnorm,
                                 .tokens_per_s = tps,
                                 .tokens = r->run_tokens,
                                 .comm_bytes = r->comm_bytes};
        c->on_step(c->observer, &si);
    }
    if (step1 % c->log_every == 0 || step1 == c->max_steps) {
        double epoch =
            (double)(r->st.epoch ? r->st.epoch - 1 : 0) + (double)r->st.cursor / (double)r->train->n;
        const char *keys[] = {"train/loss",         "train/lr",    "train/grad_norm",
                              "train/tokens_per_s", "train/epoch", "dist/comm_bytes"};
        double vals[] = {loss, lr, gnorm, tps, epoch, (double)r->comm_bytes};
        FT_TRY(log_scalars(r, step1, keys, vals, r->world > 1 ? 6 : 5));
    }
    r->evaluated_last = false;
    if (r->val && c->eval_every > 0 && step1 % c->eval_every == 0) {
        FT_TRY(evaluate(r, &r->stop_early));
        r->evaluated_last = true;
    }
    if (c->ckpt_root && c->ckpt_every > 0 && step1 % c->ckpt_every == 0 && step1 < c->max_steps &&
        !r->stop_early)
        FT_TRY(checkpoint(r));
    if (r->stop_early) {
        res->end = FT_TRAIN_EARLY_STOPPED;
        char msg[160];
        snprintf(msg, sizeof msg, "early stopping at step %lld: no improvement of %s in %lld evaluations",
                 (long long)step1, c->metric, (long long)c->patience);
        note(r, msg);
        r->done = true;
    }
    if (r->st.step >= c->max_steps)
        r->done = true;
    return FT_OK;
}

/* After the last step: the final evaluation and checkpoint. */
static ft_status loop_finish(run *r) {
    const ft_train_cfg *c = r->cfg;
    ft_train_result *res = r->res;
    double el = ft_now() - r->t0;
    res->tokens_per_s = (double)r->run_tokens / (el > 0 ? el : 1e-9);
    if (res->end != FT_TRAIN_INTERRUPTED && r->val && !r->evaluated_last)
        FT_TRY(evaluate(r, &r->stop_early));
    if (c->progress && r->rank == 0)
        ft_progress_finish(c->progress, ft_now());
    FT_TRY(ft_dist_same_params(c->dist, r->m, &res->ranks_agree)); /* the same step on every rank? */
    return checkpoint(r);
}

ft_status ft_train_begin(ft_model *m, const ft_dataset *train, const ft_dataset *val, const ft_train_cfg *cfg,
                         ft_train_result *res, ft_train_run **out) {
    *out = NULL;
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
        return ft_fail(FT_ERR_CONFIG,
                       "unknown eval metric '%s' (loss, perplexity, accuracy, f1_macro, f1_micro, "
                       "f1_weighted, precision_macro, recall_macro, mse, mae, r2, exact_match, "
                       "precision, recall, f1, rouge1, rouge2, rougeL, rougeLsum, bleu)",
                       cfg->metric);
    run *rp = calloc(1, sizeof *rp);
    if (!rp)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    run r = {.m = m, .train = train, .val = val, .cfg = cfg, .res = res};
    r.eval_bs = cfg->eval_batch_size > 0 ? cfg->eval_batch_size : cfg->batch_size;
    r.st.best_metric = NAN;
    r.st.best_step = -1;
    r.st.seed = cfg->seed;
    r.rank = ft_dist_rank(cfg->dist);
    r.world = ft_dist_size(cfg->dist);
    res->world = r.world;
    ft_status s = cfg->zero1 && r.world > 1 ? ft_optim_init_shard(&r.opt, m, &cfg->optim, r.rank, r.world)
                                            : ft_optim_init(&r.opt, m, &cfg->optim);
    if (s != FT_OK) {
        free(rp);
        return s;
    }
    int bmax = cfg->batch_size > r.eval_bs ? cfg->batch_size : r.eval_bs;
    size_t extra = (size_t)bmax * (size_t)(m->n_labels > 0 ? m->n_labels : 1) * sizeof(float) + ((size_t)4 << 20);
    s = ft_arena_init(&r.arena, ft_train_act_bytes(m, cfg->batch_size, val ? r.eval_bs : 0, cfg->seq_len,
                                                   cfg->activation_checkpointing, cfg->label_smoothing) +
                                    extra);
    r.order = malloc(train->n * sizeof *r.order);
    if (s == FT_OK && !r.order)
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK && cfg->resume) {
        s = resume_load(&r, cfg->resume);
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
    if (s == FT_OK && cfg->progress &&
        r.rank == 0) { /* restart the display at the (resumed) step, keeping its settings */
        ft_progress *p = cfg->progress;
        double plain = p->plain_interval, tty = p->tty_interval;
        int width = p->width;
        ft_progress_init(p, p->out, p->mode, r.st.step, cfg->max_steps, ft_now());
        p->plain_interval = plain;
        p->tty_interval = tty;
        p->width = width;
    }
    *rp = r;
    if (s == FT_OK)
        s = loop_start(rp);
    if (s != FT_OK) {
        ft_train_run_free(rp);
        return s;
    }
    *out = rp;
    return FT_OK;
}

ft_status ft_train_next(ft_train_run *r, bool *done) {
    ft_status s = FT_OK;
    if (!r->done)
        s = loop_step(r);
    if (s == FT_OK && r->done && !r->finished) {
        r->finished = true;
        s = loop_finish(r);
    }
    *done = r->done;
    return s;
}

void ft_train_run_free(ft_train_run *r) {
    if (!r)
        return;
    free(r->order);
    ft_arena_free(&r->arena);
    ft_optim_free(&r->opt);
    free(r);
}

ft_status ft_train(ft_model *m, const ft_dataset *train, const ft_dataset *val, const ft_train_cfg *cfg,
                   ft_train_result *res) {
    ft_train_run *r;
    FT_TRY(ft_train_begin(m, train, val, cfg, res, &r));
    bool done = false;
    ft_status s = FT_OK;
    while (s == FT_OK && !done)
        s = ft_train_next(r, &done);
    ft_train_run_free(r);
    return s;
}
