/* data/dataset: text datasets → tokenized examples for a task. Readers (JSONL, CSV/TSV, text) with
 * field mapping, cleaning, augmentation, deterministic splits, tokenization, packing, prompt masking. */
#ifndef FT_DATASET_H
#define FT_DATASET_H

#include <stdio.h>

#include "data/pretok.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    const char *train, *validation, *test; /* files; validation/test NULL = split from train */
    const char *format;          /* "auto" (by extension) | "jsonl" | "csv" | "tsv" | "text" */
    const char *text_field;      /* "text" */
    const char *text_pair_field; /* NULL */
    const char *label_field;     /* "label" */
    const char *prompt_field;    /* "prompt" (instruction) */
    const char *response_field;  /* "response" */
    const char *messages_field;  /* "messages" (chat list of {role, content}) */
    const char *chat_template;   /* NULL = plain prompt+response; "chatml" | "llama3" | "llama2" | "alpaca" */
    float val_ratio, test_ratio; /* when splitting one file (0.1, 0.1) */
    bool stratify;               /* split per label (classification) */
    int max_len;                 /* truncate to this many tokens */
    bool pack;                   /* causal LM: pack texts into max_len blocks */
    /* cleaning (each switchable) */
    bool clean_unicode, clean_whitespace, clean_html, clean_email_headers, dedup_exact, dedup_near;
    int min_chars, max_chars;    /* 0 = no limit */
    /* augmentation (training split only) */
    float augment_factor;        /* 0 = off; k = k augmented copies per example on average */
    float aug_p_delete, aug_p_swap, aug_p_insert, aug_p_synonym;
    const char *wordnet_dir;     /* NULL = /usr/share/wordnet */
    uint64_t seed;
} ft_data_cfg;
void ft_data_cfg_default(ft_data_cfg *c);

/* Build the train/validation/test datasets for a task (labels discovered on the training split and
 * stored in train->label_names; the same ids used for the other splits). summary (may be NULL) gets a
 * human-readable account of what each cleaning step removed and the split sizes. */
ft_status ft_data_build(const ft_data_cfg *cfg, ft_task task, ft_tokenizer *tok, ft_dataset *train,
                        ft_dataset *val, ft_dataset *test, FILE *summary);

#endif
