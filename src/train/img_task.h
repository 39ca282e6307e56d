/* train/img_task: task image_classification. The images of a recipe's data keys (class folders, CSV/JSONL
 * lists of image,label, IDX pairs, pixel CSVs) become ft_datasets of label-only examples whose batches the
 * trainer fills with preprocessed pixels (ft_img_source_fill), with the training split's seeded
 * augmentation. Prefix ft_imgtask_ / ft_img_source_. docs/vision.md. */
#ifndef FT_IMG_TASK_H
#define FT_IMG_TASK_H

#include <stdio.h>

#include "data/pretok.h"
#include "image/image.h"
#include "models/model.h"
#include "train/recipe.h"

/* Where a dataset's pixels come from: example i is image ex[i].image of set. */
typedef struct ft_img_source {
    const ft_img_dataset *set;
    ft_img_proc proc; /* the model's preprocessor_config.json (or ViT's defaults at its size) */
    int channels;     /* the model's num_channels */
    bool augment;     /* training split: random resized crop / flip from aug */
    ft_img_aug aug;
    uint64_t seed;
} ft_img_source;

/* Give a collated batch of d's examples idx[0..n) its pixels: b->pixel_values [n][C][H][W] (the token fields
 * freed, T = 0; cls_labels kept). With training and s->augment, each image's crop and flip are drawn from
 * (seed, stream, image index): the trainer passes the global micro-batch number as stream, so a resumed or
 * data-parallel run draws the same ones. */
ft_status ft_img_source_fill(const ft_img_source *s, const ft_dataset *d, const size_t *idx, int n,
                             bool training, uint64_t stream, ft_batch *b);

typedef struct {
    ft_img_dataset sets[3]; /* data.train, data.validation, data.test files (unused ones empty) */
    ft_img_source src[3];   /* train, validation, test; the datasets point here: do not move */
} ft_imgtask;

/* The processor of a model directory: its preprocessor_config.json, else ViT's defaults at the model's
 * image_size and num_channels. */
ft_status ft_imgtask_proc(const char *model_dir, const ft_model *m, ft_img_proc *p);
/* One image file, or a folder/list/IDX/pixel-CSV set, by the recipe's data keys (path for messages is the
 * file). labels_file: the IDX label file (NULL: derived from an IDX image file's name as
 * train-images-idx3 → train-labels-idx1). */
ft_status ft_imgtask_read(const ft_recipe *r, const char *path, const char *labels_file, ft_img_dataset *out);
/* data.labels: names for the numbered classes ("0".."max") of an IDX / pixel-CSV set, in id order (an error
 * for a set whose classes have names, or when data.labels names fewer classes than the set has). */
ft_status ft_imgtask_name_classes(const ft_recipe *r, const char *path, ft_img_dataset *ds);
/* Every image of set as an example of d (labels: set's class names looked up in classes[0..n_classes): a
 * class not among them is an error naming path); d->img = src. */
ft_status ft_imgtask_dataset(const ft_img_dataset *set, char *const *classes, int n_classes, const char *path,
                             const ft_img_source *src, ft_dataset *d);
/* Read data.train (and data.validation / data.test when given; else split from data.train by the ratios,
 * stratified, with data.split_seed), name the classes (data.labels for numbered classes), keep
 * data.train_limit training images, and build tr/va/te with their sources. The model must be a ViT. */
ft_status ft_imgtask_datasets(const ft_recipe *r, const ft_model *m, ft_imgtask *t, ft_dataset *tr,
                              ft_dataset *va, ft_dataset *te, FILE *summary);
/* What a run of task image_classification does before training (`ftune train` and the C API): the datasets
 * as above, train.seq_len set to the model's sequence ([CLS] + the patches of the processor's size). */
ft_status ft_imgtask_setup(ft_recipe *r, const ft_model *m, ft_imgtask *t, ft_dataset *tr, ft_dataset *va,
                           ft_dataset *te, FILE *summary);
/* output_dir/preprocessor_config.json: the processor the run used (eval and predict --image read it). */
ft_status ft_imgtask_save_proc(const ft_recipe *r, const ft_imgtask *t);
void ft_imgtask_free(ft_imgtask *t);

#endif
