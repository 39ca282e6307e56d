/* train/trainer: the training loop. Gradient accumulation, clipping, LR schedule, evaluation cadence,
 * early stopping, non-finite guard, checkpoints every N steps, resume, stop request (Ctrl-C), and the
 * run log (metrics.jsonl, TensorBoard, progress) through the report module.
 *
 * Accumulation: a step takes grad_accum micro-batches of batch_size examples. Each micro-batch's
 * backward runs with loss_scale = its target count c_i (giving the gradient of the summed loss), and
 * the accumulated gradient is then multiplied by 1/Σc_i: the gradient of the mean loss over every
 * target token (or labelled example) of the whole step, as HF's num_items_in_batch. So N micro-batches
 * of b examples equal one batch of N·b, up to float rounding. */
#ifndef FT_TRAINER_H
#define FT_TRAINER_H

#include <signal.h>
#include <stdio.h>

#include "data/pretok.h"
#include "eval/metrics.h"
#include "eval/qa_post.h"
#include "eval/seq2seq.h"
#include "eval/tagging.h"
#include "report/metrics_log.h"
#include "report/progress.h"
#include "report/tfevents.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/schedule.h"

/* What an observer hears after each optimizer step. */
typedef struct {
    int64_t step, max_steps;
    double loss, lr, grad_norm; /* the step's mean loss, its learning rate, the norm before clipping */
    double tokens_per_s;        /* this run so far (all ranks) */
    int64_t tokens;             /* real tokens trained on by this run so far (all ranks) */
    uint64_t comm_bytes; /* bytes all-reduced / all-gathered by this rank in the step (0: one process) */
} ft_train_step_info;
struct ft_eval_result;
struct ft_dist;

typedef struct {
    int64_t max_steps;    /* optimizer steps (> 0) */
    int batch_size;       /* examples per micro-batch */
    int grad_accum;       /* micro-batches per step */
    int seq_len;          /* truncation length */
    int eval_batch_size;  /* 0 = batch_size */
    int32_t pad_id;
    float lr;             /* peak learning rate */
    ft_sched sched;       /* factor of lr per step (total_steps = max_steps) */
    ft_optim_cfg optim;
    double max_grad_norm; /* 0 = no clipping */
    float label_smoothing; /* ε of the cross-entropy (0 = off) */
    bool activation_checkpointing; /* recompute each block's forward in the backward (ft_fwd_opts.checkpoint) */
    bool group_by_length;  /* epoch order from ft_data_length_groups instead of a plain shuffle */
    bool skip_nonfinite;  /* a NaN/Inf loss or gradient: skip the step (true) or stop with an error */
    int64_t eval_every;   /* 0 = at the end only */
    bool eval_at_start;
    const char *metric;   /* eval metric for best/early stopping ("loss", "accuracy", ...) */
    int metric_sign;      /* +1 higher is better, -1 lower; 0 = by the metric's name */
    int64_t patience;     /* early stopping: evaluations without improvement (0 = off) */
    double min_delta;
    int64_t log_every;    /* steps between log lines (metrics.jsonl, TensorBoard) */
    uint64_t seed;
    /* checkpoints: none when ckpt_root is NULL */
    const char *ckpt_root;
    int64_t ckpt_every;   /* 0 = at the end only */
    int64_t keep_last;
    bool keep_best, ckpt_save_model;
    const char *recipe_yaml; /* saved into each checkpoint (may be NULL) */
    const char *resume;      /* checkpoint directory to continue from (NULL = fresh) */
    const volatile sig_atomic_t *stop; /* set (e.g. by SIGINT) to checkpoint and return; may be NULL */
    /* data parallelism (train/dist.h, docs/distributed.md; NULL = one process): batch_size is per rank, each
     * rank takes its rows of every global batch of size·batch_size rows, gradients are summed over the
     * ranks; rank 0 alone evaluates, logs, calls the observers and writes checkpoints, and every decision
     * (stop request, non-finite step, early stopping) is agreed by all ranks. */
    struct ft_dist *dist;
    bool zero1; /* ZeRO stage 1 with dist: each rank keeps the optimizer state of its slice only */
    /* observers, each NULL = off */
    ft_log *log;
    ft_tb_writer *tb;
    ft_progress *progress;
    /* callbacks (each NULL = off), called on the training thread with observer as their first argument:
     * after every step; after every evaluation (validation set); with each note line (evaluation
     * summaries, skipped steps, early stopping) the progress display also shows */
    void *observer;
    void (*on_step)(void *observer, const ft_train_step_info *info);
    void (*on_eval)(void *observer, int64_t step, const struct ft_eval_result *ev);
    void (*on_note)(void *observer, const char *line);
} ft_train_cfg;
void ft_train_cfg_default(ft_train_cfg *c);

typedef struct ft_eval_result {
    double loss, perplexity; /* mean loss over targets; exp(loss) */
    int64_t count;           /* targets (tokens or labelled examples) */
    bool has_cls, has_reg;
    ft_metric_cls cls;       /* classification (from the head's logits) */
    ft_metric_reg reg;
    bool has_qa;
    ft_qa_score qa; /* question answering: SQuAD EM / F1 of the post-processed spans */
    bool has_tag;   /* token classification: word accuracy, entity P/R/F1 or macro-F1 over tags */
    ft_metric_tag tag;
    bool has_gen; /* seq2seq with d->s2s: the generated text's BLEU, ROUGE, exact match, F1 */
    ft_s2s_score gen;
} ft_eval_result;
void ft_eval_result_free(ft_eval_result *r);
/* A metric by name (loss, perplexity, accuracy, f1_macro, ..., mse, mae, r2; question answering:
 * exact_match, f1; token classification: accuracy (words), precision / recall / f1 (entities, micro),
 * f1_macro (tags); seq2seq: rouge1, rouge2, rougeL, rougeLsum, bleu, exact_match, f1 of the generated
 * text); NaN when not available. */
double ft_eval_metric(const ft_eval_result *r, const char *name);
/* +1 when higher is better, -1 when lower is, 0 for an unknown name. */
int ft_eval_metric_sign(const char *name);

/* Evaluate a model over a whole dataset (no dropout). Classification metrics need the SEQ_CLS head's
 * logits from ft_acts_logits as [B, n_labels]; regression the [B, 1] predictions. Seq2seq examples: the
 * loss over the target tokens, and with d->s2s the scores of generated text (eval/seq2seq.h). */
ft_status ft_train_evaluate(ft_model *m, const ft_dataset *d, int batch_size, int seq_len, int32_t pad_id,
                            ft_arena *arena, ft_eval_result *out);

typedef enum { FT_TRAIN_COMPLETED = 0, FT_TRAIN_EARLY_STOPPED, FT_TRAIN_INTERRUPTED } ft_train_end;

typedef struct {
    ft_train_end end;
    int64_t start_step, steps, skipped;   /* steps: the last step done */
    double first_loss, last_loss;         /* of this process's first and last step (NaN if none) */
    double eval_before;                   /* validation loss before training (NaN if not measured) */
    int64_t tokens;                       /* this run (all ranks) */
    double tokens_per_s;
    int world;                    /* ranks (1: one process) */
    uint64_t comm_bytes_per_step; /* bytes exchanged per step by each rank (last step) */
    bool ranks_agree;             /* at the end every rank held the same parameters, bit for bit */
    bool eval_sharded;            /* the validation loss was evaluated by all ranks, batches sharded */
    bool has_eval;
    ft_eval_result eval;                  /* the last evaluation */
    double best_metric;
    int64_t best_step;
    char checkpoint[4096];                /* last checkpoint written ("" if none) */
} ft_train_result;
void ft_train_result_free(ft_train_result *r);

/* The gradient of one step (grads zeroed first): n_micro micro-batches of micro_bs examples, idx[mb·micro_bs + i];
 * forward options from base (its step is the first micro-batch's dropout stream, +1 per micro-batch).
 * Leaves grads = d(mean loss over all targets of the step); see the convention at the top. */
typedef struct {
    double loss;     /* mean over all targets (NaN if none or non-finite) */
    int64_t count;   /* targets */
    int64_t tokens;  /* real (unpadded) tokens */
    bool nonfinite;  /* a micro-batch's loss was NaN/Inf (grads then partial: do not use) */
    double grad_norm; /* global L2 norm of the step's (mean) gradient, before clipping; NaN if none */
} ft_accum_result;
ft_status ft_train_accumulate(ft_model *m, const ft_dataset *d, const size_t *idx, int n_micro, int micro_bs,
                              int seq_len, int32_t pad_id, const ft_fwd_opts *base, ft_arena *arena,
                              ft_accum_result *out);

/* The step arena a training run needs: the larger of a training step (ft_train_accumulate's forward with
 * the fused head + backward, at train_batch) and an evaluation forward (ft_train_evaluate: no block kept,
 * at eval_batch; 0 = none), each sized by ft_model_act_bytes_opts from the options those functions use. */
size_t ft_train_act_bytes(const ft_model *m, int train_batch, int eval_batch, int seq_len, bool checkpoint,
                          float label_smoothing);

/* Steps for a number of epochs: ceil(epochs · n / (batch_size · grad_accum)), at least 1. */
int64_t ft_train_steps_for_epochs(double epochs, size_t n, int batch_size, int grad_accum);

ft_status ft_train(ft_model *m, const ft_dataset *train, const ft_dataset *val, const ft_train_cfg *cfg,
                   ft_train_result *res);

/* The same loop a step at a time (ft_train is begin; next until done; free). ft_train_begin checks the
 * config, resumes, and runs the evaluation at step 0; each ft_train_next does one optimizer step (or
 * honours the stop request) and, on the call that sets *done, the final evaluation and checkpoint.
 * m, the datasets, cfg and res must outlive the run. */
typedef struct ft_train_run ft_train_run;
ft_status ft_train_begin(ft_model *m, const ft_dataset *train, const ft_dataset *val, const ft_train_cfg *cfg,
                         ft_train_result *res, ft_train_run **out);
ft_status ft_train_next(ft_train_run *r, bool *done);
void ft_train_run_free(ft_train_run *r);

#endif
