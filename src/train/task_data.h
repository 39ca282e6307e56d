/* train/task_data: the training data of the tasks whose readers are not ft_data_build's: token
 * classification (words and tags aligned to the pieces), extractive question answering (SQuAD examples in
 * windows) and the masked-LM masker. Used by `ftune train` and the C API's trainer alike. Prefix
 * ft_taskdata_. */
#ifndef FT_TRAIN_TASK_DATA_H
#define FT_TRAIN_TASK_DATA_H

#include <stdio.h>

#include "data/mlm.h"
#include "data/qa.h"
#include "data/tagging.h"
#include "eval/qa_post.h"
#include "models/model.h"
#include "train/recipe.h"

/* ---- token classification ---- */
/* The reader settings a recipe gives (data.format, data.tokens_field, data.tags_field, data.tag_column). */
void ft_taskdata_tag_read_cfg(const ft_recipe *r, ft_tag_read_cfg *c);
/* sp[0..2] = the recipe's train / validation / test sentences (Brown: the corpus directory split by file). */
ft_status ft_taskdata_tag_sents(const ft_recipe *r, ft_tag_sents sp[3]);
/* ds[0..2]: the sentences aligned to the tokenizer's pieces, the tag set in ds[0]; notes on summary. */
ft_status ft_taskdata_tag_datasets(const ft_recipe *r, ft_tokenizer *tok, ft_dataset ds[3], FILE *summary);

/* ---- question answering ---- */
/* The examples and windows of the train / validation / test files of a recipe (the sets are owned here, the
 * datasets point at the windows). */
typedef struct {
    ft_qa_set set[3];
    ft_qa_feats f[3];
} ft_qa_data;
void ft_taskdata_qa_free(ft_qa_data *q);
/* The window length (data.max_length, else train.seq_len) and the post-processing keys of a recipe. */
int ft_taskdata_qa_max_length(const ft_recipe *r);
void ft_taskdata_qa_post_from(const ft_recipe *r, ft_qa_post_cfg *c);
/* Read data.train (and data.validation / data.test when given: QA files are not split) into windows;
 * what was skipped is reported on report. */
ft_status ft_taskdata_qa(const ft_recipe *r, ft_tokenizer *tok, ft_qa_data *q, ft_dataset *tr, ft_dataset *va,
                         ft_dataset *te, FILE *report);

/* ---- masked LM ---- */
/* The masker every split's batches go through (data.mlm_probability, data.whole_word_mask) and the model's
 * masked-LM head (a new one only under method full: under an adapter it would stay at its init); a
 * note on notes (may be NULL) when the head is new. ds: the datasets that get the masker. */
ft_status ft_taskdata_mlm(const ft_recipe *r, ft_model *m, ft_tokenizer *tok, const char *tok_src, ft_mlm *mlm,
                          ft_dataset *const ds[3], FILE *notes);

#endif
