/* train/checkpoint: everything needed to continue a run bit for bit, written atomically.
 *
 * <root>/step-00000042/            one checkpoint (made as .tmp-step-…-<pid>, then renamed)
 *     trainable.safetensors        every trainable tensor, fp32, under its parameter name
 *     optimizer.safetensors        "m/<name>", "v/<name>" (AdamW moments; SGD momentum in m/)
 *     trainer_state.json           step, data position (epoch, cursor), optimizer step count,
 *                                  early-stopping state, tokens, seed (the RNG is counter-based:
 *                                  its whole state is the seed and the step)
 *     recipe.yaml                  the resolved recipe (when given)
 *     config.json + model / adapter files (optional): the loadable output at that step
 * <root>/latest, <root>/best       the directory name of the newest / best checkpoint */
#ifndef FT_CHECKPOINT_H
#define FT_CHECKPOINT_H

#include "train/optim.h"

typedef struct {
    int64_t step;        /* optimizer steps done (skipped ones included) */
    uint64_t epoch;      /* shuffles done: the current order is shuffle(seed, epoch − 1) */
    uint64_t cursor;     /* next position in that order */
    int64_t skipped;     /* steps skipped for a non-finite loss/gradient */
    int64_t tokens;      /* tokens trained on */
    double best_metric;  /* NaN: no evaluation yet */
    int64_t best_step;   /* -1: none */
    int64_t bad_evals;   /* evaluations since the last improvement */
    uint64_t seed;
} ft_train_state;

/* Write a checkpoint of step state->step under root; *out (may be NULL) gets its path. save_model:
 * also write the loadable output (ft_model_save_output). */
ft_status ft_ckpt_save(const char *root, const ft_model *m, const ft_optim *o, const ft_train_state *st,
                       const char *recipe_yaml, bool save_model, char *out, size_t out_n);
/* Restore trainable tensors, optimizer state and trainer state. The model must have the same trainable
 * tensors (same method) and the optimizer the same kind as when saved. */
ft_status ft_ckpt_load(const char *dir, ft_model *m, ft_optim *o, ft_train_state *st);
/* A checkpoint directory as given, or an output_dir / checkpoints root: its latest checkpoint. */
ft_status ft_ckpt_resolve(const char *path, char *out, size_t n);
/* Record root/<name> (a file holding the directory name), atomically. */
ft_status ft_ckpt_mark(const char *root, const char *name, const char *dir);
/* Delete all checkpoints but the newest keep_last (0 = keep all) and the one at keep_step (-1: none). */
ft_status ft_ckpt_prune(const char *root, int64_t keep_last, int64_t keep_step);
/* Remove a directory tree (used for pruning; symlinks are removed, not followed). */
ft_status ft_rm_tree(const char *path);

#endif
