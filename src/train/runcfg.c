/* train/runcfg: a recipe → the configs of a training run, and the files an output directory starts
 * with. Shared by `ftune train` (cli/cmd_train.c) and the C API (api/ftune_api.c). */
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "data/pretok.h"
#include "io/json.h"
#include "train/memory.h"
#include "train/runcfg.h"

static const char *const TOK_FILES[] = {"tokenizer.json",
                                        "tokenizer_config.json",
                                        "special_tokens_map.json",
                                        "vocab.json",
                                        "merges.txt",
                                        "vocab.txt",
                                        "encoder.json",
                                        "vocab.bpe",
                                        "tokenizer.model",
                                        "added_tokens.json"};

/* Copy the tokenizer's files into out; *copied counts them. */
ft_status ft_runcfg_copy_tokenizer(const char *src, const char *out, int *copied) {
    *copied = 0;
    char dir[4096], p[4096], q[4096];
    snprintf(dir, sizeof dir, "%s", src);
    if (ft_file_exists(dir) && !ft_file_exists(ft_path_join(p, sizeof p, dir, "."))) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", src);
        snprintf(dir, sizeof dir, "%s", dirname(tmp));
    }
    for (size_t i = 0; i < sizeof TOK_FILES / sizeof *TOK_FILES; i++) {
        ft_path_join(p, sizeof p, dir, TOK_FILES[i]);
        if (!ft_file_exists(p))
            continue;
        char *text;
        size_t len;
        FT_TRY(ft_read_file(p, &text, &len));
        ft_status s = ft_write_file_atomic(ft_path_join(q, sizeof q, out, TOK_FILES[i]), text, len);
        free(text);
        FT_TRY(s);
        (*copied)++;
    }
    return FT_OK;
}

static void add_str(cJSON *j, const char *k, const char *v) {
    if (v)
        cJSON_AddStringToObject(j, k, v);
    else
        cJSON_AddNullToObject(j, k);
}

/* ftune_train.json: what other commands need to use the output (task, labels, fields, tokenizer). */
ft_status ft_runcfg_write_info(const ft_recipe *r, const ft_dataset *tr, const char *tok_dir) {
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    add_str(j, "task", r->task);
    add_str(j, "method", r->method);
    char abs_model[PATH_MAX];
    /* absolute, so `ftune eval --model OUT` finds the base of an adapter from any directory */
    add_str(j, "base_model", realpath(r->model, abs_model) ? abs_model : r->model);
    add_str(j, "tokenizer", tok_dir);
    cJSON *labels = cJSON_AddArrayToObject(j, "label_names");
    for (int i = 0; tr->label_names && i < tr->n_labels; i++)
        cJSON_AddItemToArray(labels, cJSON_CreateString(tr->label_names[i]));
    add_str(j, "data_format", r->data_format);
    add_str(j, "text_field", r->data_text_field);
    add_str(j, "text_pair_field", r->data_text_pair_field);
    add_str(j, "label_field", r->data_label_field);
    add_str(j, "prompt_field", r->data_prompt_field);
    add_str(j, "response_field", r->data_response_field);
    add_str(j, "messages_field", r->data_messages_field);
    add_str(j, "chat_template", r->data_chat_template);
    cJSON_AddNumberToObject(j, "seq_len", (double)r->train_seq_len);
    if (ft_runcfg_task(r->task) == FT_TASK_SEQ2SEQ) { /* what eval needs to read pairs as training did */
        int src, tgt;
        ft_runcfg_s2s_lengths(r, &src, &tgt);
        add_str(j, "source_field", r->data_source_field);
        add_str(j, "target_field", r->data_target_field);
        add_str(j, "prefix", r->data_prefix);
        cJSON_AddNumberToObject(j, "max_source_length", (double)src);
        cJSON_AddNumberToObject(j, "max_target_length", (double)tgt);
    }
    if (ft_runcfg_task(r->task) == FT_TASK_TOKEN_CLS) { /* the reader's fields (also in recipe.yaml) */
        add_str(j, "tokens_field", r->data_tokens_field);
        add_str(j, "tags_field", r->data_tags_field);
    }
    char p[4096];
    ft_status s = ft_json_write_file(ft_path_join(p, sizeof p, r->output_dir, "ftune_train.json"), j, true);
    cJSON_Delete(j);
    return s;
}

ft_status ft_runcfg_peft(const ft_recipe *r, ft_peft_cfg *c) {
    ft_peft_cfg_default(c);
    FT_TRY(ft_method_parse(r->method, &c->method));
    c->train_top_layers = (int)r->freeze_top_layers;
    c->train_pattern = r->freeze_pattern;
    c->freeze_embeddings = r->freeze_embeddings;
    c->lora_r = (int)r->lora_r;
    c->lora_alpha = (float)r->lora_alpha;
    c->lora_dropout = (float)r->lora_dropout;
    c->target_modules = r->lora_target_modules;
    c->target_regex = c->target_modules && ft_peft_spec_is_regex(c->target_modules);
    if (c->method == FT_METHOD_LORA) { /* lora.* keys; a recipe's pattern keys are tried in sorted order */
        c->exclude_modules = r->lora_exclude_modules;
        c->exclude_regex = c->exclude_modules && ft_peft_spec_is_regex(c->exclude_modules);
        c->layers_to_transform = r->lora_layers_to_transform;
        c->layers_pattern = r->lora_layers_pattern;
        c->rank_pattern = r->lora_rank_pattern;
        c->alpha_pattern = r->lora_alpha_pattern;
        c->pattern_sorted = true;
    }
    c->use_rslora = r->lora_use_rslora;
    c->use_dora = r->lora_use_dora;
    c->lora_bias = r->lora_bias;
    c->lora_init = r->lora_init;
    c->adapter_size = (int)r->adapter_size;
    c->adapter_placement = r->adapter_placement;
    c->adapter_act = r->adapter_act;
    c->num_virtual_tokens = (int)r->prompt_num_virtual_tokens;
    c->prompt_init_text = r->prompt_init_text;
    c->ia3_feedforward_modules = r->ia3_feedforward_modules;
    c->modules_to_save = r->modules_to_save;
    c->seed = (uint64_t)r->seed;
    return FT_OK;
}

void ft_runcfg_data(const ft_recipe *r, ft_data_cfg *c) {
    ft_data_cfg_default(c);
    c->train = r->data_train;
    c->validation = r->data_validation;
    c->test = r->data_test;
    c->format = r->data_format;
    c->text_field = r->data_text_field;
    c->text_pair_field = r->data_text_pair_field;
    c->label_field = r->data_label_field;
    c->prompt_field = r->data_prompt_field;
    c->response_field = r->data_response_field;
    c->messages_field = r->data_messages_field;
    c->chat_template = r->data_chat_template;
    c->val_ratio = (float)r->data_val_ratio;
    c->test_ratio = (float)r->data_test_ratio;
    c->stratify = r->data_stratify;
    c->max_len = (int)r->train_seq_len;
    c->pack = r->data_pack;
    c->append_eos = r->data_append_eos;
    c->max_windows = (int)r->data_max_windows;
    c->window_overlap = (int)r->data_window_overlap;
    c->train_limit = r->data_train_limit > 0 ? (size_t)r->data_train_limit : 0;
    c->train_limit_seed = r->data_train_limit_seed;
    c->split_seed = r->data_split_seed;
    c->replay = r->data_replay;
    c->replay_ratio = (float)r->data_replay_ratio;
    c->clean_unicode = r->data_clean_unicode;
    c->clean_whitespace = r->data_clean_whitespace;
    c->clean_html = r->data_clean_html;
    c->clean_email_headers = r->data_clean_email_headers;
    c->dedup_exact = r->data_dedup_exact;
    c->dedup_near = r->data_dedup_near;
    c->min_chars = (int)r->data_min_chars;
    c->max_chars = (int)r->data_max_chars;
    c->augment_factor = (float)r->data_augment_factor;
    c->aug_p_delete = (float)r->data_aug_p_delete;
    c->aug_p_swap = (float)r->data_aug_p_swap;
    c->aug_p_insert = (float)r->data_aug_p_insert;
    c->aug_p_synonym = (float)r->data_aug_p_synonym;
    c->wordnet_dir = r->data_wordnet_dir;
    c->seed = (uint64_t)r->seed;
    if (ft_runcfg_task(r->task) == FT_TASK_SEQ2SEQ)
        ft_runcfg_data_s2s(r, c);
}

void ft_runcfg_s2s_lengths(const ft_recipe *r, int *src, int *tgt) {
    *src = (int)(r->data_max_source_length > 0 ? r->data_max_source_length : r->train_seq_len);
    *tgt = (int)(r->data_max_target_length > 0 ? r->data_max_target_length : r->train_seq_len);
}

int ft_runcfg_plan_seq_len(const ft_recipe *r) {
    int src = (int)r->train_seq_len, tgt = src;
    if (ft_runcfg_task(r->task) == FT_TASK_SEQ2SEQ)
        ft_runcfg_s2s_lengths(r, &src, &tgt);
    return src > tgt ? src : tgt;
}

void ft_runcfg_data_s2s(const ft_recipe *r, ft_data_cfg *c) {
    c->text_field = r->data_source_field;
    c->response_field = r->data_target_field;
    c->prefix = r->data_prefix;
    ft_runcfg_s2s_lengths(r, &c->max_len, &c->max_target_len);
    c->pack = false;
}

void ft_runcfg_s2s_eval(const ft_recipe *r, ft_tokenizer *tok, ft_s2s_eval *e) {
    memset(e, 0, sizeof *e);
    int src, tgt;
    ft_runcfg_s2s_lengths(r, &src, &tgt);
    e->tok = tok;
    ft_gen_cfg_default(&e->gen); /* greedy, stops at the eos */
    e->gen.max_new_tokens = (int)(r->eval_max_new_tokens > 0 ? r->eval_max_new_tokens : tgt);
    e->gen.num_beams = (int)r->eval_num_beams; /* > 1: beam search (eval/beam.c) */
    e->gen.length_penalty = (float)r->eval_length_penalty;
    e->gen.no_repeat_ngram_size = (int)r->eval_no_repeat_ngram_size;
    e->limit = r->eval_generate_limit > 0 ? (size_t)r->eval_generate_limit : 0;
}

/* peft.init_from: the adapter's adapter_config.json decides the method and its options. A recipe key
 * that says otherwise (changed from its default and different from the adapter's value) is an error;
 * the resolved recipe then records the adapter's values, so recipe.yaml describes the run. */
static const struct {
    const char *key, *json;
    int method; /* -1: any method */
} ADOPT[] = {{"lora.r", "r", FT_METHOD_LORA},
             {"lora.alpha", "lora_alpha", FT_METHOD_LORA},
             {"lora.dropout", "lora_dropout", FT_METHOD_LORA},
             {"lora.target_modules", "target_modules", FT_METHOD_LORA},
             {"lora.use_rslora", "use_rslora", FT_METHOD_LORA},
             {"lora.use_dora", "use_dora", FT_METHOD_LORA},
             {"lora.bias", "bias", FT_METHOD_LORA},
             {"lora.target_modules", "target_modules", FT_METHOD_IA3},
             {"ia3.feedforward_modules", "feedforward_modules", FT_METHOD_IA3},
             {"prompt.num_virtual_tokens", "num_virtual_tokens", FT_METHOD_PROMPT},
             {"adapter.size", "adapter_size", FT_METHOD_ADAPTER},
             {"adapter.placement", "adapter_placement", FT_METHOD_ADAPTER},
             {"adapter.act", "adapter_act", FT_METHOD_ADAPTER},
             {"peft.modules_to_save", "modules_to_save", -1}};

/* A JSON config value in recipe text form (lists joined by commas); NULL for null or absent. */
static const char *json_as_text(const cJSON *v, char *buf, size_t n) {
    if (cJSON_IsNumber(v))
        snprintf(buf, n, "%.17g", v->valuedouble);
    else if (cJSON_IsBool(v))
        snprintf(buf, n, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsString(v))
        return v->valuestring;
    else if (cJSON_IsArray(v)) {
        size_t o = 0;
        buf[0] = '\0';
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            if (cJSON_IsString(e) && o < n)
                o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? "," : "", e->valuestring);
        }
    } else
        return NULL;
    return buf;
}

static bool same_text(const char *a, const char *b) {
    return a == b || (a && b && !strcmp(a, b));
}

ft_status ft_runcfg_adopt_adapter(ft_recipe *r, ft_model *m, const char *dir) {
    const char *method = ft_method_name(m->peft_method);
    char where[4200];
    snprintf(where, sizeof where, "peft.init_from %s/adapter_config.json", dir);
    if (strcmp(r->method, "full") && strcmp(r->method, method))
        return ft_fail(FT_ERR_CONFIG,
                       "%s: the adapter is %s, but the recipe says method %s (leave method out, or "
                       "set it to %s)",
                       where, method, r->method, method);
    ft_recipe dflt, ad;
    FT_TRY(ft_recipe_init(&dflt));
    ft_status s = ft_recipe_init(&ad);
    for (size_t i = 0; s == FT_OK && i < sizeof ADOPT / sizeof *ADOPT; i++) {
        if (ADOPT[i].method >= 0 && ADOPT[i].method != (int)m->peft_method)
            continue;
        const ft_recipe_key *k = ft_recipe_find_key(ADOPT[i].key);
        char jb[2048], b1[64], b2[64], b3[64];
        const char *jv =
            json_as_text(cJSON_GetObjectItemCaseSensitive(m->peft_config, ADOPT[i].json), jb, sizeof jb);
        if (jv && (s = ft_recipe_set(&ad, k->key, jv, where)) != FT_OK)
            break;
        const char *want = ft_recipe_get(&ad, k, b1, sizeof b1), *cur = ft_recipe_get(r, k, b2, sizeof b2);
        if (!same_text(cur, ft_recipe_get(&dflt, k, b3, sizeof b3)) && !same_text(cur, want)) {
            s = ft_fail(FT_ERR_CONFIG,
                        "%s: the recipe sets %s = %s, the adapter has %s = %s (the adapter decides: "
                        "leave the key out)",
                        where, k->key, cur, ADOPT[i].json, want ? want : "null");
            break;
        }
        s = ft_recipe_set(r, k->key, want ? want : "", where);
    }
    if (s == FT_OK)
        s = ft_recipe_set(r, "method", method, where);
    ft_recipe_free(&ad);
    ft_recipe_free(&dflt);
    /* the saved adapter keeps every field of the one it started from; its base is the one trained on */
    if (s == FT_OK && m->dir)
        cJSON_ReplaceItemInObjectCaseSensitive(m->peft_config, "base_model_name_or_path",
                                               cJSON_CreateString(m->dir));
    return s;
}

ft_task ft_runcfg_task(const char *t) {
    if (!strcmp(t, "classification") || !strcmp(t, "image_classification"))
        return FT_TASK_SEQ_CLS;
    if (!strcmp(t, "regression"))
        return FT_TASK_REGRESSION;
    if (!strcmp(t, "question_answering"))
        return FT_TASK_QA;
    if (!strcmp(t, "token_classification"))
        return FT_TASK_TOKEN_CLS;
    if (!strcmp(t, "masked_lm"))
        return FT_TASK_MASKED_LM;
    if (!strcmp(t, "seq2seq"))
        return FT_TASK_SEQ2SEQ;
    return FT_TASK_CAUSAL_LM;
}
void ft_runcfg_steps(const ft_recipe *r, size_t n_train, int world, int64_t *steps, int64_t *warmup) {
    *steps = r->train_max_steps > 0
                 ? r->train_max_steps
                 : ft_train_steps_for_epochs(r->train_epochs, n_train, (int)r->train_batch_size * world,
                                             (int)r->train_grad_accum);
    *warmup = r->optim_warmup_steps > 0 ? r->optim_warmup_steps
                                        : (int64_t)ceil(r->optim_warmup_ratio * (double)*steps);
}

int32_t ft_runcfg_pad_id(const ft_model *m, const ft_tokenizer *tok) {
    int32_t pad_id = m->cfg.pad_token_id >= 0 ? m->cfg.pad_token_id : 0;
    if (tok) {
        ft_tok_special sp = ft_tok_special_ids(tok);
        if (sp.pad >= 0 && sp.pad < m->cfg.vocab_size)
            pad_id = sp.pad;
        else if (sp.eos >= 0 && sp.eos < m->cfg.vocab_size)
            pad_id = sp.eos; /* pads are masked; any valid id will do */
    }
    return pad_id;
}

ft_status ft_runcfg_train(const ft_recipe *r, int64_t steps, int64_t warmup, int32_t pad_id,
                          ft_train_cfg *tc) {
    ft_train_cfg_default(tc);
    tc->max_steps = steps;
    tc->label_smoothing = (float)r->train_label_smoothing;
    ft_ckpt_mode ckm; /* auto: the caller's memory plan decides (ft_mem_plan_run); off until then */
    FT_TRY(ft_ckpt_mode_parse(r->train_activation_checkpointing, &ckm));
    tc->activation_checkpointing = ckm == FT_CKPT_ON;
    tc->group_by_length = r->train_group_by_length;
    tc->batch_size = (int)r->train_batch_size;
    tc->grad_accum = (int)r->train_grad_accum;
    tc->seq_len = (int)r->train_seq_len;
    if (ft_runcfg_task(r->task) == FT_TASK_SEQ2SEQ) { /* the longer side: the arena's T (t5_act_bytes) */
        int src, tgt;
        ft_runcfg_s2s_lengths(r, &src, &tgt);
        tc->seq_len = src > tgt ? src : tgt;
    }
    tc->eval_batch_size = (int)r->eval_batch_size;
    tc->pad_id = pad_id;
    tc->lr = (float)r->optim_lr;
    FT_TRY(ft_sched_parse(r->optim_schedule, &tc->sched.kind));
    tc->sched.warmup_steps = warmup;
    tc->sched.total_steps = steps;
    tc->sched.min_ratio = r->optim_min_lr_ratio;
    FT_TRY(ft_optim_parse(r->optim_name, &tc->optim.kind));
    tc->optim.beta1 = (float)r->optim_beta1;
    tc->optim.beta2 = (float)r->optim_beta2;
    tc->optim.eps = (float)r->optim_eps;
    tc->optim.momentum = (float)r->optim_momentum;
    tc->optim.dampening = (float)r->optim_dampening;
    tc->optim.nesterov = r->optim_nesterov;
    tc->optim.weight_decay = (float)r->optim_weight_decay;
    tc->optim.decay_1d = r->optim_decay_norms_and_biases;
    tc->max_grad_norm = r->train_max_grad_norm;
    tc->skip_nonfinite = !strcmp(r->train_on_nonfinite, "skip");
    tc->eval_every = r->eval_every;
    tc->eval_at_start = true;
    tc->metric = r->eval_metric;
    tc->metric_sign = !strcmp(r->eval_mode, "min") ? -1 : !strcmp(r->eval_mode, "max") ? 1 : 0;
    tc->patience = r->early_stopping_patience;
    tc->min_delta = r->early_stopping_min_delta;
    tc->log_every = r->report_log_every;
    tc->seed = (uint64_t)r->seed;
    tc->ckpt_every = r->checkpoint_every;
    tc->keep_last = r->checkpoint_keep_last;
    tc->keep_best = r->checkpoint_keep_best;
    tc->ckpt_save_model = r->checkpoint_save_model;
    tc->zero1 = !strcmp(r->train_zero, "1");
    return FT_OK;
}

const char *ft_runcfg_task_name(ft_task task) {
    switch (task) {
    case FT_TASK_SEQ_CLS: return "classification";
    case FT_TASK_REGRESSION: return "regression";
    case FT_TASK_TOKEN_CLS: return "token_classification";
    case FT_TASK_QA: return "question_answering";
    case FT_TASK_MASKED_LM: return "masked_lm";
    case FT_TASK_SEQ2SEQ: return "seq2seq";
    default: return "causal_lm";
    }
}

/* A setting the CPU cannot run: the warning, the thread's error cleared. */
static void compute_fallback(ft_runcfg_warn_fn warn, void *user, const char *what, const char *then) {
    char msg[1200];
    snprintf(msg, sizeof msg, "%s not available (%s); %s", what, ft_last_error(), then);
    ft_clear_error();
    if (warn)
        warn(user, msg);
}

ft_status ft_runcfg_compute(const ft_recipe *r, ft_model *m, ft_runcfg_warn_fn warn, void *user) {
    if (!strcmp(r->precision, "bf16")) {
        const ft_status s = ft_model_set_precision(m, FT_PREC_BF16);
        if (s == FT_ERR_UNSUPPORTED)
            compute_fallback(warn, user, "precision bf16", "training in fp32");
        else if (s != FT_OK)
            return s;
    }
    if (r->train_int8_matmul) {
        const ft_status s = ft_model_set_int8_matmul(m, true);
        if (s == FT_ERR_UNSUPPORTED)
            compute_fallback(warn, user, "train.int8_matmul", "the int8 weights are widened");
        else if (s != FT_OK)
            return s;
    }
    return FT_OK;
}

void ft_runcfg_dropout(const ft_recipe *r, ft_model *m) {
    if (r->dropout_resid >= 0)
        m->cfg.resid_dropout = (float)r->dropout_resid;
    if (r->dropout_embd >= 0)
        m->cfg.embd_dropout = (float)r->dropout_embd;
    if (r->dropout_attn >= 0)
        m->cfg.attn_dropout = (float)r->dropout_attn;
}

ft_status ft_runcfg_datasets(const ft_recipe *r, ft_tokenizer *tok, ft_dataset *tr, ft_dataset *va,
                             ft_dataset *te, FILE *summary) {
    const ft_data_recs *const none[3] = {NULL, NULL, NULL};
    return ft_runcfg_datasets_rows(r, none, tok, tr, va, te, summary);
}

ft_status ft_runcfg_datasets_rows(const ft_recipe *r, const ft_data_recs *const rows[3], ft_tokenizer *tok,
                                  ft_dataset *tr, ft_dataset *va, ft_dataset *te, FILE *summary) {
    const bool mem = rows[0] || rows[1] || rows[2];
    if (mem && !strcmp(r->data_format, "pretokenized"))
        return ft_fail(FT_ERR_CONFIG,
                       "data.format pretokenized reads its files: rows given in memory are text "
                       "examples");
    if (!strcmp(r->data_format, "pretokenized")) {
        FT_TRY(ft_dataset_load_pretok(r->data_train, tr));
        /* the other files' labels map onto the training file's label set */
        if (r->data_validation)
            FT_TRY(ft_dataset_load_pretok_labels(r->data_validation, tr->label_names, tr->n_labels, va));
        if (r->data_test)
            FT_TRY(ft_dataset_load_pretok_labels(r->data_test, tr->label_names, tr->n_labels, te));
        return FT_OK;
    }
    ft_data_cfg dc;
    ft_runcfg_data(r, &dc);
    for (int k = 0; k < 3; k++)
        dc.rows[k] = rows[k];
    return ft_data_build(&dc, ft_runcfg_task(r->task), tok, tr, va, te, summary);
}

ft_status ft_runcfg_task_fits(const ft_recipe *r, const ft_model *m) {
    const ft_task task = ft_runcfg_task(r->task);
    if (ft_model_is_t5(m) && task != FT_TASK_SEQ2SEQ) /* its data are source -> target pairs */
        return ft_fail(FT_ERR_CONFIG,
                       "%s: an encoder-decoder (%s) trains on source -> target pairs: set task seq2seq; task "
                       "%s does not fit it (docs/seq2seq.md)",
                       r->model, m->cfg.model_type, r->task ? r->task : "causal_lm");
    if (task == FT_TASK_SEQ2SEQ && !ft_model_is_t5(m))
        return ft_fail(
            FT_ERR_CONFIG,
            "%s: task seq2seq needs an encoder-decoder model (t5, mt5); this is a %s, which has no "
            "encoder and decoder to map a source onto a target (docs/seq2seq.md)",
            r->model, m->cfg.model_type);
    if (task == FT_TASK_SEQ2SEQ && r->data_pack)
        return ft_fail(FT_ERR_CONFIG, "data.pack: not with task seq2seq (every source has its own target)");
    if (!strcmp(r->method, "full") && !strcmp(r->save_dtype, "int8") && m->cfg.arch != FT_ARCH_GPT2 &&
        m->cfg.arch != FT_ARCH_LLAMA) /* refused now rather than after training */
        return ft_fail(FT_ERR_CONFIG,
                       "save_dtype int8: an int8 checkpoint is implemented for GPT-2 and the Llama "
                       "family, not %s: use f32 or bf16",
                       m->cfg.model_type);
    return FT_OK;
}

ft_status ft_runcfg_head(const ft_recipe *r, ft_model *m, const ft_dataset *tr) {
    const ft_task task = ft_runcfg_task(r->task);
    FT_TRY(ft_runcfg_task_fits(r, m));
    if (task == FT_TASK_SEQ_CLS) {
        if (tr->n_labels < 2)
            return ft_fail(FT_ERR_CONFIG, "%s: classification needs at least two labels in the training data",
                           r->data_train ? r->data_train : "the training rows");
        if (r->head_reset)
            FT_TRY(ft_model_reset_head(m, task, tr->n_labels, (const char *const *)tr->label_names,
                                       (uint64_t)r->seed));
        else if (!(m->task == FT_TASK_SEQ_CLS && m->n_labels == tr->n_labels))
            FT_TRY(ft_model_set_task(m, task, tr->n_labels, (const char *const *)tr->label_names,
                                     (uint64_t)r->seed));
    } else if (task == FT_TASK_REGRESSION && r->head_reset) {
        FT_TRY(ft_model_reset_head(m, task, 1, NULL, (uint64_t)r->seed));
    } else if (task == FT_TASK_REGRESSION && m->task != FT_TASK_REGRESSION) {
        FT_TRY(ft_model_set_task(m, task, 1, NULL, (uint64_t)r->seed));
    } else if (task == FT_TASK_TOKEN_CLS && !(m->task == task && m->n_labels == tr->n_labels)) {
        FT_TRY(ft_model_set_task(m, task, tr->n_labels, (const char *const *)tr->label_names,
                                 (uint64_t)r->seed));
    }
    return FT_OK;
}

ft_status ft_runcfg_method(ft_recipe *r, ft_model *m) {
    const ft_task task = ft_runcfg_task(r->task);
    /* continue training an adapter (PEFT's from_pretrained(..., is_trainable=True)) */
    if (r->peft_init_from) {
        ft_status ls = ft_peft_load(m, r->peft_init_from);
        if (ls != FT_OK)
            return ft_fail_ctx(ls, "peft.init_from %s", r->peft_init_from);
        FT_TRY(ft_runcfg_adopt_adapter(r, m, r->peft_init_from));
        if (m->task != (task == FT_TASK_SEQ2SEQ ? FT_TASK_CAUSAL_LM : task)) /* seq2seq: T5's LM head */
            return ft_fail(FT_ERR_CONFIG, "peft.init_from %s: the adapter %s, but task is %s",
                           r->peft_init_from,
                           m->task == FT_TASK_SEQ_CLS      ? "has a classification head"
                           : m->task == FT_TASK_REGRESSION ? "has a regression head"
                           : m->task == FT_TASK_TOKEN_CLS  ? "has a token-classification head"
                                                           : "has no classification or regression head",
                           r->task);
    } else {
        ft_peft_cfg pc;
        FT_TRY(ft_runcfg_peft(r, &pc));
        FT_TRY(ft_peft_apply(m, &pc));
    }
    return ft_model_check_finite(m);
}

ft_status ft_runcfg_outputs(const ft_recipe *r, const ft_dataset *tr, const char *tok_src, bool has_tok,
                            char **yaml, ft_log **log, ft_tb_writer **tb) {
    FT_TRY(ft_mkdir_p(r->output_dir));
    FT_TRY(ft_clean_stale_tmp(r->output_dir)); /* a killed run's model.safetensors.tmp.<pid> and the like */
    char p[4096];
    FT_TRY(ft_recipe_to_yaml(r, yaml));
    FT_TRY(
        ft_write_file_atomic(ft_path_join(p, sizeof p, r->output_dir, "recipe.yaml"), *yaml, strlen(*yaml)));
    int copied = 0;
    FT_TRY(ft_runcfg_copy_tokenizer(tok_src, r->output_dir, &copied));
    FT_TRY(ft_runcfg_write_info(r, tr, copied ? r->output_dir : (has_tok ? tok_src : NULL)));
    FT_TRY(ft_log_open(ft_path_join(p, sizeof p, r->output_dir, "metrics.jsonl"), log));
    if (r->report_tensorboard)
        FT_TRY(ft_tb_open(r->output_dir, tb));
    return FT_OK;
}

ft_status ft_runcfg_save(const ft_recipe *r, const ft_model *m) {
    if (!strcmp(r->method, "full")) {
        ft_dtype dt;
        FT_TRY(ft_save_dtype_parse(r->save_dtype, &dt));
        return ft_model_save(m, r->output_dir, dt);
    }
    return ft_model_save_output(m, r->output_dir);
}
