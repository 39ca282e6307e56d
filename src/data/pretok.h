/* data/pretok: pre-tokenized inputs — batch.json for `ftune dump`, JSONL examples
 * {"input_ids": [...], "labels": [...]?, "attention_mask": [...]?} for training. */
#ifndef FT_PRETOK_H
#define FT_PRETOK_H

#include "models/model.h"

/* Parse {"input_ids": [[...]...], "attention_mask"?: [[...]...], "token_type_ids"?: [[...]...],
 * "labels"?: [[...]...]} (rectangular), with "cls_labels" / "targets" / "start_positions" and
 * "end_positions" [B] when present. Images (ViT): "pixel_values": [B][C][H][W] floats, already preprocessed,
 * with "cls_labels" / "targets" [B]; input_ids then optional. */
ft_status ft_batch_load_json(const char *path, ft_batch *out);
/* The same; with seq2seq (an encoder-decoder model), or when the file has "decoder_input_ids" or
 * "decoder_attention_mask", those and "labels" are the decoder's [B][T_dec] (T_dec set, of any length). */
ft_status ft_batch_load_json_seq2seq(const char *path, bool seq2seq, ft_batch *out);
void ft_batch_free(ft_batch *b);

typedef struct {
    int32_t *ids;       /* [len] */
    int32_t *labels;    /* [len] or NULL (= ids); -100 = no loss (prompt tokens, padding) */
    int32_t *type_ids;  /* [len] token types (a text pair's second segment 1), or NULL = all 0 */
    int len;
    int32_t cls_label;  /* class id for SEQ_CLS, -100 when none */
    float reg_target;   /* value for REGRESSION */
    int32_t start_pos, end_pos; /* QA: the answer's first and last token (data/qa.c) */
    int32_t *word_ids;  /* TOKEN_CLS: [len] the word each piece comes from (-1 specials), or NULL */
    int32_t doc;        /* windowed classification/regression (data.max_windows): the text this window
                           comes from, 0..n_docs-1 in split order */
    int32_t image;      /* image classification (len 0, no ids): the image's index in d->img->set */
    int dec_len;        /* seq2seq (> 0): labels[0..dec_len) are the decoder's labels (target ids + eos), not
                           per source token; ids[0..len) the encoder's input */
} ft_example;

typedef struct {
    ft_example *ex;
    size_t n;
    char **label_names; /* [n_labels] class names in id order (SEQ_CLS), or NULL */
    int n_labels;
    const struct ft_qa_feats *qa; /* QA windows (data/qa.h), not owned: the batches then carry
                                     start/end positions, evaluation post-processes the spans */
    const struct ft_mlm
        *mlm; /* masked LM: the trainer masks each collated batch with it (data/mlm.h); borrowed */
    size_t n_docs; /* > 0: examples are windows of n_docs texts (ex[i].doc); metrics are per text, from the
                      mean of its windows' logits. 0: each example is one text */
    const struct ft_img_source *img; /* images (train/img_task.h): batches carry the pixels of ex[i].image
                                        (ft_img_source_fill after ft_batch_collate); borrowed */
    const struct ft_s2s_eval *s2s;   /* seq2seq: how evaluations generate and score text (eval/seq2seq.h);
                                        borrowed, NULL = the loss only */
} ft_dataset;

/* Read a JSONL file of pre-tokenized examples; errors name file:line and the field. A row's class
 * "label" is an integer or a string; the file's labels form out->label_names (ft_data_label_set's
 * order) and cls_label is the index into them. A non-integer number is an error. */
ft_status ft_dataset_load_pretok(const char *path, ft_dataset *out);
/* The same with a given label set (the training data's): cls_label indexes label_names, a label not
 * among them fails naming file:line; out->label_names gets a copy. */
ft_status ft_dataset_load_pretok_labels(const char *path, char *const *label_names, int n_labels,
                                        ft_dataset *out);

/* The label set of labels[0..n): when every label is an integer, the distinct values in numeric order,
 * else the distinct strings in byte order (*names malloc'd, each strdup'd). */
ft_status ft_data_label_set(const char *const *labels, size_t n, char ***names, int *n_labels);
/* The index of label in names (integers compare by value: "07" is 7), or -1. */
int ft_data_label_id(char *const *names, int n, const char *label);
void ft_dataset_free(ft_dataset *d);
/* d->label_names = copies of names[0..n) and d->n_labels = n (names NULL: nothing). */
ft_status ft_dataset_copy_labels(ft_dataset *d, char *const *names, int n);

/* Build a right-padded batch of examples idx[0..n) truncated to max_len: pads get mask 0 and label -100.
 * T = the longest (truncated) example. pad_id fills input_ids at pads. Seq2seq examples (dec_len > 0) give
 * an encoder-decoder batch: T_dec = the longest target, labels [B*T_dec] padded with -100, decoder_mask 1 on
 * the target positions (decoder_input_ids left NULL: the model shifts the labels right, as HF). */
ft_status ft_batch_collate(const ft_dataset *d, const size_t *idx, int n, int max_len, int32_t pad_id,
                           ft_batch *out);
/* The T that ft_batch_collate gives those examples (at least 1). */
int ft_batch_collate_len(const ft_dataset *d, const size_t *idx, int n, int max_len);

#endif
