/* api/api_trainer: the trainer behind ftune_trainer, shared by ftune_api.c (ftune_trainer_new's run) and
 * api_train.c (`ftune train`'s run: ftune_trainer_create with opts.command). Internal. */
#ifndef FT_API_TRAINER_H
#define FT_API_TRAINER_H

#include <signal.h>

#include "api/api_ctx.h"
#include "data/dataset.h"
#include "data/mlm.h"
#include "report/progress.h"
#include "train/dist.h"
#include "train/img_task.h"
#include "train/memory.h"
#include "train/recipe.h"
#include "train/task_data.h"
#include "train/trainer.h"

struct ftune_trainer {
    ftune_ctx *ctx;
    ft_recipe r;
    volatile sig_atomic_t stop;
    ftune_progress_fn on_progress;
    ftune_log_fn on_log;
    ftune_eval_fn on_eval;
    void *user;
    bool prepared, done, failed;
    ft_model *m;
    ft_tokenizer *tok;
    ft_dataset tr, va, te;
    ft_imgtask img;            /* task image_classification: the images behind tr/va/te */
    ft_s2s_eval s2s, s2s_test; /* task seq2seq: how validation (eval.generate_limit) and test (every
                                  example) generate, with eval.generate */
    ft_log *log;
    ft_tb_writer *tb;
    char *yaml;
    ft_train_cfg tc;
    char ckroot[4096], resume[4096];
    ft_train_result res;
    ft_train_run *run;
    ft_qa_data qa;        /* task question_answering: the examples behind tr/va/te's windows */
    ft_mlm mlm;           /* task masked_lm: the masker of every split */
    ft_data_recs rows[3]; /* ftune_trainer_set_data's copies (train, validation, test) */
    bool have_rows[3];
    /* ftune_trainer_create's (api_train.c) */
    ftune_trainer_opts o; /* o.command: `ftune train`'s run */
    bool checked;         /* the recipe was validated (ftune_trainer_new: at once; create: by prepare) */
    ft_dist *dist;        /* o.distributed under an MPI launcher with several ranks; NULL otherwise */
    int rank, world;
    ft_progress prog; /* o.progress's display */
    int64_t n_all, n_tr, plan_steps;
    int32_t pad_id;
    bool finished; /* the end (test split, save) done */
};

/* The command's run (o.command), called by ftune_api.c's prepare / step / free: everything before the loop
 * (prepared, the loop not begun: api_train_begin starts it); the end after the loop; what free adds. */
ft_status api_train_prepare(ftune_trainer *t);
ft_status api_train_begin(ftune_trainer *t);
ft_status api_train_finish(ftune_trainer *t);
void api_train_free(ftune_trainer *t);
/* The end of the run (ftune_api.c): the test split and the save (o.command: api_train_finish). */
ft_status api_trainer_end(ftune_trainer *t);
/* What both runs share (api_train.c): the recipe's model and tokenizer, the checkpoint to resume resolved
 * first; the memory plan of the recipe's step with the optimizer state sharded over `shards` ranks; the
 * ft_train_cfg's outputs (checkpoints, recipe, resume, stop flag, logs, callbacks). */
ft_status api_trainer_load(ftune_trainer *t);
ft_status api_trainer_mem_plan(const ftune_trainer *t, ft_ckpt_mode ckm, int shards, ft_mem_plan *mp);
/* The plan's streaming (train.stream_base): opens the model's stream when the plan chose it, a line for the
 * log in note ("" when off); refuses `true` on a model with nothing to stream. */
ft_status api_trainer_stream(ftune_trainer *t, const ft_mem_plan *mp, char *note, size_t n);
void api_trainer_cfg_outputs(ftune_trainer *t);
/* The run's callbacks (ftune_trainer_set_callbacks) hooked into its ft_train_cfg (ftune_api.c). */
void api_trainer_observe(ftune_trainer *t);

#endif
