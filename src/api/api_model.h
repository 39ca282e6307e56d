/* api/api_model: what the API files beside ftune_api.c need of a model handle (ftune_api.c owns struct
 * ftune_model). Internal. */
#ifndef FT_API_MODEL_H
#define FT_API_MODEL_H

#include "ftune.h"
#include "train/trained.h"
#include "train/trainer.h"

/* The context the handle was made from. */
ftune_ctx *api_model_ctx(const ftune_model *m);
/* What the handle's calls run on: the active named adapter's view, else the model as loaded. */
ft_trained *api_model_trained(ftune_model *m);
/* A malloc'd copy of an evaluation's metrics for the caller (ftune_free): those the task has, NaN ones
 * left out. */
ft_status api_metrics_out(const ft_eval_result *ev, ftune_metric **metrics, size_t *n);

#endif
