/* train/trained: open what `ftune train` wrote (a full checkpoint or a PEFT adapter dir, with its
 * ftune_train.json) for eval, classify and generate (the CLI and the C API). Prefix ft_trained_. */
#ifndef FT_TRAINED_H
#define FT_TRAINED_H

#include <cjson/cJSON.h>

#include "data/dataset.h"
#include "eval/seq2seq.h"
#include "image/image.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"
#include "train/recipe.h"

typedef struct {
    ft_model *m;
    ft_tokenizer *tok;
    cJSON *info; /* ftune_train.json, or NULL */
    char info_path[4096];
    const char *task;   /* "causal_lm" | "instruction" | "classification" | "regression" |
                           "token_classification" */
    char **label_names; /* classification: class-id order (owned copies) */
    int n_labels;
    int seq_len;
    int32_t pad_id;
    const char *chat_template; /* NULL = none */
    ft_data_cfg data;          /* field names and the text cleaning training used (strings point into info) */
    bool pretok;               /* trained on pre-tokenized JSONL: evaluation data is read the same way */
    ft_recipe rec;             /* OUT/recipe.yaml when present, else the defaults */
    bool image;                /* an image model (vit): no tokenizer; inputs go through img_proc */
    ft_img_proc img_proc; /* the output's preprocessor_config.json, else the base model's / ViT's defaults */
    bool s2s_generate;    /* seq2seq: evaluation generates and scores text (default true) */
    ft_s2s_eval s2s;      /* seq2seq: its settings (the recipe's eval.max_new_tokens; every row: limit 0) */
    bool shared_m, shared_tok; /* a view (ft_trained_view): m / tok belong to another ft_trained */
} ft_trained;

/* ft_trained_load's flags: FT_TRAINED_NEED_TASK fail without ftune_train.json or --task;
 * FT_TRAINED_TOK_OPTIONAL a model without a tokenizer loads (tok NULL: generation from ids only). */
enum { FT_TRAINED_NEED_TASK = 1, FT_TRAINED_TOK_OPTIONAL = 2 };
/* model_dir: a full checkpoint or an adapter dir; adapter_dir (may be NULL): an adapter for the base;
 * task (may be NULL): overrides ftune_train.json; "auto": ftune_train.json's, else the task of the model's
 * own head (a plain HF checkpoint). flags: FT_TRAINED_*. */
ft_status ft_trained_load(const char *model_dir, const char *adapter_dir, const char *task, unsigned flags,
                          ft_trained *t);
void ft_trained_free(ft_trained *t);
/* A named adapter's view of a loaded base (several adapters over one base, models/peft slots): what
 * adapter_dir's ftune_train.json and recipe.yaml say (task, labels, sequence length, text cleaning, chat
 * template), over base->m with that adapter's slot active (the caller attached it: ft_peft_add) and
 * base->tok (or the tokenizer copy next to the adapter). The view shares m (and tok) with base: free it
 * before base. Checks the task against the active head as ft_trained_load does. */
ft_status ft_trained_view(const ft_trained *base, const char *adapter_dir, ft_trained *view);
/* The text cleaning training applied (unicode, whitespace, HTML, mail headers); malloc'd. */
ft_status ft_trained_clean(const ft_trained *t, const char *text, char **out);
/* One text through a classification / regression head as `ftune classify` does it: cleaned, encoded and
 * cut to seq_len as training did (the start kept, a trailing special token last; with data.max_windows,
 * the windows training made, their logits averaged), one forward per window through kv (reset each
 * time; room for seq_len + the virtual tokens). logits[n_labels] gets the head's (mean) output; probs
 * (n_labels) the softmax (classification) or the value (regression, probs[0]); *best the argmax class
 * (-1 for regression). ids is scratch (start zeroed, free with ft_tok_ids_free). */
struct ft_kv;
struct ft_eval_result;
ft_status ft_trained_classify(ft_trained *t, struct ft_kv *kv, const char *text, ft_tok_ids *ids,
                              float *logits, double *probs, int *best);
/* A generation prompt's ids: the chat template's turns (system, msgs, then prompt as the user's, and
 * the assistant header), or the plain text (a trailing special token the post-processor appends, e.g.
 * EOS/SEP, is dropped: the model continues the text; a seq2seq model's source keeps it: see
 * ft_trained_encode_source). tmpl NULL = no template. */
ft_status ft_trained_encode_prompt(ft_trained *t, const char *tmpl, const char *system,
                                   const ft_data_msg *msgs, int n_msgs, const char *prompt, ft_tok_ids *ids);
/* seq2seq: a source as training encoded it (cleaned, data.prefix before it, the post-processor's special
 * tokens, ending with the eos, cut to the source length); ft_trained_encode_prompt does this for a seq2seq
 * model given a plain prompt. */
ft_status ft_trained_encode_source(ft_trained *t, const char *text, ft_tok_ids *ids);
/* The id of the template's end-of-turn token (<|im_end|>, <|eot_id|>) that ends a reply, -1 if none. */
int32_t ft_trained_turn_end_id(const ft_trained *t, const char *tmpl);

/* One image file through an image classifier (the processor training used, no augmentation): logits and
 * probs [n_labels] (softmax), *best the argmax. */
ft_status ft_trained_classify_image(ft_trained *t, const char *path, float *logits, double *probs, int *best);
/* t's image classifier on an image set (class folder, CSV/JSONL list, IDX pair by name, pixel CSV as the
 * run's data.format said), labels mapped onto the model's by name (data.labels renames numbered classes as
 * in training): ft_trained_eval_file's image path. */
ft_status ft_trained_eval_images(ft_trained *t, const char *data, int batch_size, struct ft_eval_result *res,
                                 size_t *n_examples);

/* The task of t as the model's task id (classification, regression, masked_lm; causal LM otherwise). */
ft_task ft_trained_task(const ft_trained *t);
/* t's model on a data file as `ftune eval` scores it: the file read, cleaned and tokenized as training did
 * (or pre-tokenized JSONL for a model trained on it), class labels checked against the model's (an unknown
 * one fails naming file:line) and mapped onto its ids, masked LM with the run's fixed masks. *res (free
 * with ft_eval_result_free) and *n_examples on success. Token classification and question answering:
 * FT_ERR_UNSUPPORTED (the CLI's own readers, cli/tokcls.c and cli/qa_cli.c). */
struct ft_eval_result;
ft_status ft_trained_eval_file(ft_trained *t, const char *data, int batch_size, struct ft_eval_result *res,
                               size_t *n_examples);

#endif
