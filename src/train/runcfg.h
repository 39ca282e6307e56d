/* train/runcfg: what a recipe means for a training run, shared by `ftune train` and the C API
 * (ftune_trainer): the task, the data / PEFT / trainer configs, steps and warm-up, the pad id, the
 * adopted config of a continued adapter, and the files an output directory starts with (tokenizer
 * copies, ftune_train.json). Prefix ft_runcfg_. */
#ifndef FT_RUNCFG_H
#define FT_RUNCFG_H

#include "data/dataset.h"
#include "eval/seq2seq.h"
#include "models/model.h"
#include "peft/peft.h"
#include "tokenizer/tokenizer.h"
#include "train/recipe.h"
#include "train/trainer.h"

/* The task a recipe's `task` names (causal_lm for instruction and unknown names). */
ft_task ft_runcfg_task(const char *task);
/* The recipe name of a model head's task ("causal_lm", "classification", ...). */
const char *ft_runcfg_task_name(ft_task task);
/* The data config of a recipe (strings point into r). */
void ft_runcfg_data(const ft_recipe *r, ft_data_cfg *c);
/* task seq2seq: the source and target lengths (data.max_source_length / max_target_length, 0 =
 * train.seq_len), the data fields and lengths of c (source -> text_field, target -> response_field, prefix),
 * and the evaluation's generation settings (greedy or eval.num_beams, eval.length_penalty,
 * eval.no_repeat_ngram_size, eval.max_new_tokens, eval.generate_limit; tok borrowed). */
void ft_runcfg_s2s_lengths(const ft_recipe *r, int *src, int *tgt);
/* The sequence length the memory plan (and train.activation_checkpointing auto) sizes a step for:
 * train.seq_len, for task seq2seq the longer of the source and target lengths. `ftune train` and the API's
 * trainer both plan with it. */
int ft_runcfg_plan_seq_len(const ft_recipe *r);
void ft_runcfg_data_s2s(const ft_recipe *r, ft_data_cfg *c);
void ft_runcfg_s2s_eval(const ft_recipe *r, ft_tokenizer *tok, ft_s2s_eval *e);
/* The PEFT config of a recipe's method and its keys (strings point into r). */
ft_status ft_runcfg_peft(const ft_recipe *r, ft_peft_cfg *c);
/* peft.init_from: the adapter's adapter_config.json decides the method and its options; a recipe key
 * that says otherwise is an error; r then records the adapter's values. */
ft_status ft_runcfg_adopt_adapter(ft_recipe *r, ft_model *m, const char *dir);
/* Optimizer steps (train.max_steps, else train.epochs over n_train examples in global batches of world ×
 * batch_size × grad_accum) and warm-up steps. */
void ft_runcfg_steps(const ft_recipe *r, size_t n_train, int world, int64_t *steps, int64_t *warmup);
/* The trainer config of a recipe: everything but the output-dependent fields (ckpt_root, recipe_yaml,
 * resume, stop, observers), which the caller sets. */
ft_status ft_runcfg_train(const ft_recipe *r, int64_t steps, int64_t warmup, int32_t pad_id,
                          ft_train_cfg *tc);
/* dropout.* overrides of the model config's rates. */
void ft_runcfg_dropout(const ft_recipe *r, ft_model *m);
/* The recipe's compute settings on m: precision bf16, train.int8_matmul. What this CPU lacks is not an error:
 * the model keeps the fp32 / widened products and warn (may be NULL) gets one line saying so ("precision bf16
 * not available (why); training in fp32"); other failures (int8_matmul without int8 weights) are returned. */
typedef void (*ft_runcfg_warn_fn)(void *user, const char *msg);
ft_status ft_runcfg_compute(const ft_recipe *r, ft_model *m, ft_runcfg_warn_fn warn, void *user);
/* The datasets of the recipe's data keys: pre-tokenized JSONL (data.format pretokenized; the other files'
 * labels mapped onto the training file's), else ft_data_build for the task with tok. Not question
 * answering or token classification (their readers live with the CLI). summary may be NULL. */
ft_status ft_runcfg_datasets(const ft_recipe *r, ft_tokenizer *tok, ft_dataset *tr, ft_dataset *va,
                             ft_dataset *te, FILE *summary);
/* The same with rows given in memory for some splits (rows[k] NULL: the recipe's file; the C API's
 * datasets): cleaned, split and tokenized as a file's rows would be. Not with data.format pretokenized. */
ft_status ft_runcfg_datasets_rows(const ft_recipe *r, const ft_data_recs *const rows[3], ft_tokenizer *tok,
                                  ft_dataset *tr, ft_dataset *va, ft_dataset *te, FILE *summary);
/* The recipe's task fits the model: task seq2seq needs an encoder-decoder (t5, mt5), which trains on no
 * other task; data.pack is refused with seq2seq. ft_runcfg_head checks it too. */
ft_status ft_runcfg_task_fits(const ft_recipe *r, const ft_model *m);
/* The head the task needs (classification: as many classes as the training labels; regression; token
 * classification), kept when the model already has it. */
ft_status ft_runcfg_head(const ft_recipe *r, ft_model *m, const ft_dataset *tr);
/* Attach the recipe's method (or continue peft.init_from's adapter, adopting its config). */
ft_status ft_runcfg_method(ft_recipe *r, ft_model *m);
/* What output_dir starts with: recipe.yaml (*yaml: its text, malloc'd), the tokenizer's files (from
 * tok_src), ftune_train.json, metrics.jsonl (*log) and, with report.tensorboard, event files (*tb). */
ft_status ft_runcfg_outputs(const ft_recipe *r, const ft_dataset *tr, const char *tok_src, bool has_tok,
                            char **yaml, ft_log **log, ft_tb_writer **tb);
/* The trained model into output_dir: an HF checkpoint (method full, save_dtype) or the PEFT adapter. */
ft_status ft_runcfg_save(const ft_recipe *r, const ft_model *m);
/* The id batches are padded with: the tokenizer's pad, else its eos, else config pad_token_id, else 0
 * (pads are masked; any valid id will do). tok may be NULL. */
int32_t ft_runcfg_pad_id(const ft_model *m, const ft_tokenizer *tok);
/* Copy the tokenizer's files (src: a directory or one of its files) into out; *copied counts them. */
ft_status ft_runcfg_copy_tokenizer(const char *src, const char *out, int *copied);
/* output_dir/ftune_train.json: what eval, classify, generate and the API need to use the output (task,
 * labels in class-id order, fields, tokenizer directory, base model). */
ft_status ft_runcfg_write_info(const ft_recipe *r, const ft_dataset *tr, const char *tok_dir);

#endif
