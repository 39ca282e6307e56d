#include <limits.h>
#include <stdlib.h>
/* ftune train: a run from a YAML recipe with key=value overrides (and the older flag form). */
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/qa_cli.h"
#include "cli/tokcls.h"
#include "cli/trained.h"
#include "train/memory.h"
#include "io/json.h"
#include "data/dataset.h"
#include "data/mlm.h"
#include "peft/peft.h"
#include "tokenizer/tokenizer.h"
#include "train/recipe.h"
#include "train/run_report.h"
#include "train/trainer.h"

static const char *TRAIN_USAGE =
    "usage: ftune train RECIPE.yaml [key=value ...] [--quiet]\n"
    "       ftune train --model DIR --data train.jsonl --out DIR [flags]\n"
    "       (pre-tokenized JSONL; full fine-tuning unless --method or --adapter says otherwise)\n"
    "\n"
    "A run is a YAML recipe; any key can be overridden as key=value (e.g. optim.lr=3e-4 lora.r=16);\n"
    "resume=DIR continues from a checkpoint (or an output_dir's latest one). Ctrl-C writes a checkpoint and\n"
    "stops. Everything lands in output_dir: the model or adapter, recipe.yaml, ftune_train.json, tokenizer\n"
    "files, metrics.jsonl, TensorBoard events, report.html, checkpoints/. Documentation: docs/training.md.\n"
    "\n"
    "Flags (each maps onto a key):\n"
    "  --model DIR (model)  --data FILE (data.train, data.format=pretokenized)  --eval-data FILE (data.validation)\n"
    "  --out DIR (output_dir)  --steps N (train.max_steps)  --batch-size N  --seq-len N  --lr X (optim.lr)\n"
    "  --warmup N (optim.warmup_steps)  --min-lr-ratio X (< 1: cosine decay to lr*X)  --weight-decay X\n"
    "  --clip X (train.max_grad_norm)  --eval-every N  --threads N  --seed N  --save-dtype f32|bf16\n"
    "  --quiet (report.progress=quiet)  --activation-checkpointing (train.activation_checkpointing=true)\n"
    "Also with a recipe (a key=value override wins over them):\n"
    "  --precision fp32|bf16 (precision)  --method M (method)  --task T (task)\n"
    "  --adapter DIR (peft.init_from: continue training that PEFT adapter; its adapter_config.json sets the\n"
    "  method and its options, recipe keys may only repeat them)\n"
    "Flag-form defaults: 100 steps, batch 4, seq-len 128, lr 1e-4, constant schedule.\n"
    "\n"
    "Recipe keys:\n";

static volatile sig_atomic_t g_stop; /* set by SIGINT; the handler may touch nothing else */

static void on_sigint(int sig) {
    (void)sig;
    g_stop = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C kills at once */
}

static ft_status set_num(ft_recipe *r, const char *key, double v) {
    char b[64];
    snprintf(b, sizeof b, "%.17g", v);
    return ft_recipe_set(r, key, b, "command line");
}

/* Legacy flags → recipe keys (flag-form defaults first). */
static ft_status apply_flags(ft_recipe *r, const char *model, const char *data, const char *eval, const char *out,
                             long steps, long bs, long seq, double lr, long warmup, double min_lr, double wd,
                             double clip, long eval_every, long threads, long seed, const char *save_dtype) {
    if (model)
        FT_TRY(ft_recipe_set(r, "model", model, "--model"));
    if (data) {
        FT_TRY(ft_recipe_set(r, "data.train", data, "--data"));
        FT_TRY(ft_recipe_set(r, "data.format", "pretokenized", "--data"));
    }
    if (eval)
        FT_TRY(ft_recipe_set(r, "data.validation", eval, "--eval-data"));
    if (out)
        FT_TRY(ft_recipe_set(r, "output_dir", out, "--out"));
    FT_TRY(set_num(r, "train.max_steps", (double)steps));
    FT_TRY(set_num(r, "train.batch_size", (double)bs));
    FT_TRY(set_num(r, "train.seq_len", (double)seq));
    FT_TRY(set_num(r, "optim.lr", lr));
    FT_TRY(set_num(r, "optim.warmup_steps", (double)warmup));
    FT_TRY(ft_recipe_set(r, "optim.schedule", min_lr < 1.0 ? "cosine" : "constant", "--min-lr-ratio"));
    FT_TRY(set_num(r, "optim.min_lr_ratio", min_lr < 1.0 ? min_lr : 0.0));
    FT_TRY(set_num(r, "optim.weight_decay", wd));
    FT_TRY(set_num(r, "train.max_grad_norm", clip));
    FT_TRY(set_num(r, "eval.every", (double)eval_every));
    FT_TRY(set_num(r, "threads", (double)threads));
    FT_TRY(set_num(r, "seed", (double)seed));
    return ft_recipe_set(r, "save_dtype", save_dtype, "--save-dtype");
}

static const char *const TOK_FILES[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                        "vocab.json", "merges.txt", "vocab.txt", "encoder.json", "vocab.bpe",
                                        "tokenizer.model", "added_tokens.json"};

/* Copy the tokenizer's files into out; *copied counts them. */
static ft_status copy_tokenizer(const char *src, const char *out, int *copied) {
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
static ft_status write_run_info(const ft_recipe *r, const ft_dataset *tr, const char *tok_dir) {
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
    if (ft_cli_task_of(r->task) == FT_TASK_TOKEN_CLS) { /* the reader's fields (also in recipe.yaml) */
        add_str(j, "tokens_field", r->data_tokens_field);
        add_str(j, "tags_field", r->data_tags_field);
    }
    char p[4096];
    ft_status s = ft_json_write_file(ft_path_join(p, sizeof p, r->output_dir, "ftune_train.json"), j, true);
    cJSON_Delete(j);
    return s;
}

static ft_status peft_cfg_from(const ft_recipe *r, ft_peft_cfg *c) {
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

void ft_cli_data_cfg_from(const ft_recipe *r, ft_data_cfg *c) {
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

static ft_status adopt_adapter_config(ft_recipe *r, ft_model *m, const char *dir) {
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

ft_task ft_cli_task_of(const char *t) {
    if (!strcmp(t, "classification"))
        return FT_TASK_SEQ_CLS;
    if (!strcmp(t, "regression"))
        return FT_TASK_REGRESSION;
    if (!strcmp(t, "question_answering"))
        return FT_TASK_QA;
    if (!strcmp(t, "token_classification"))
        return FT_TASK_TOKEN_CLS;
    if (!strcmp(t, "masked_lm"))
        return FT_TASK_MASKED_LM;
    return FT_TASK_CAUSAL_LM;
}

typedef struct {
    ft_recipe r;
    ft_model *m;
    ft_tokenizer *tok;
    ft_dataset tr, va, te;
    ft_log *log;
    ft_tb_writer *tb;
    ft_progress prog;
    char *yaml;
    ft_train_result res;
    bool have_res;
    ft_cli_qa qa; /* question answering: the examples behind tr/va/te's windows */
    ft_mlm mlm; /* task masked_lm: the datasets' masker */
} job;

static void job_free(job *j) {
    if (j->have_res)
        ft_train_result_free(&j->res);
    ft_dataset_free(&j->tr);
    ft_dataset_free(&j->va);
    ft_dataset_free(&j->te);
    ft_cli_qa_free(&j->qa);
    ft_mlm_free(&j->mlm);
    ft_tok_free(j->tok);
    ft_model_free(j->m);
    (void)ft_log_close(j->log);
    (void)ft_tb_close(j->tb);
    free(j->yaml);
    ft_recipe_free(&j->r);
}

/* task masked_lm: the masker every split's batches go through, and the model's masked-LM head. */
static ft_status setup_mlm(job *j, const char *tok_src) {
    ft_model *m = j->m;
    const ft_recipe *r = &j->r;
    if (!j->tok)
        return ft_fail(FT_ERR_CONFIG,
                       "task masked_lm needs the tokenizer (its mask token): set the 'tokenizer' key");
    FT_TRY(ft_mlm_init(&j->mlm, j->tok, tok_src, m->cfg.vocab_size, (float)r->data_mlm_probability,
                       r->data_whole_word_mask, (uint64_t)r->seed));
    j->tr.mlm = j->va.mlm = j->te.mlm = &j->mlm;
    const bool had = m->task == FT_TASK_MASKED_LM;
    if (!had && (strcmp(r->method, "full") || r->peft_init_from))
        return ft_fail(
            FT_ERR_CONFIG,
            "%s has no masked-LM head: under method %s the head is part of the frozen base model (as in "
            "PEFT), so a new one would stay at its random init and not be saved with the adapter; train "
            "masked_lm with method full first (or start from a *ForMaskedLM checkpoint)",
            r->model, r->method);
    FT_TRY(ft_model_set_task(m, FT_TASK_MASKED_LM, 0, NULL, (uint64_t)r->seed));
    if (!had)
        printf("note: %s has no masked-LM head (%s...): initialized\n", r->model, ft_model_mlm_name(m, 0));
    return FT_OK;
}

/* Another task on a masked-LM checkpoint: its head is dropped. */
static void mlm_notes(const ft_model *m, const char *task) {
    if (m->task == FT_TASK_MASKED_LM)
        printf("note: the checkpoint's masked-LM head (%s...) is not used by task %s: dropped\n",
               ft_model_mlm_name(m, 0), task);
}

static ft_status run_job(job *j, int *exit_code) {
    ft_recipe *r = &j->r;
    FT_TRY(ft_recipe_validate(r));
    const bool pretok = !strcmp(r->data_format, "pretokenized");
    const ft_task task = ft_cli_task_of(r->task);
    ft_ctx ctx;
    ft_ctx_default(&ctx);
    if (r->threads > 0)
        ctx.threads = (int)r->threads;
    ctx.seed = (uint64_t)r->seed;
    ft_ctx_apply(&ctx);

    /* resolve the checkpoint first: a wrong resume= should fail before any work */
    char resume[4096] = "";
    if (r->resume)
        FT_TRY(ft_ckpt_resolve(r->resume, resume, sizeof resume));

    FT_TRY(ft_model_load(r->model, &j->m));
    ft_model *m = j->m;
    if (r->dropout_resid >= 0)
        m->cfg.resid_dropout = (float)r->dropout_resid;
    if (r->dropout_embd >= 0)
        m->cfg.embd_dropout = (float)r->dropout_embd;
    if (r->dropout_attn >= 0)
        m->cfg.attn_dropout = (float)r->dropout_attn;
    const char *tok_src = r->tokenizer ? r->tokenizer : r->model;
    if (!pretok || r->tokenizer) {
        ft_status s = ft_tok_load(tok_src, &j->tok);
        if (s != FT_OK)
            return ft_fail_ctx(s, "tokenizer (set the 'tokenizer' key)");
    }
    int32_t pad_id = m->cfg.pad_token_id >= 0 ? m->cfg.pad_token_id : 0;
    if (j->tok) {
        ft_tok_special sp = ft_tok_special_ids(j->tok);
        if (sp.pad >= 0 && sp.pad < m->cfg.vocab_size)
            pad_id = sp.pad;
        else if (sp.eos >= 0 && sp.eos < m->cfg.vocab_size)
            pad_id = sp.eos; /* pads are masked; any valid id will do */
    }

    if (pretok) {
        FT_TRY(ft_dataset_load_pretok(r->data_train, &j->tr));
        /* the other files' labels map onto the training file's label set */
        if (r->data_validation)
            FT_TRY(
                ft_dataset_load_pretok_labels(r->data_validation, j->tr.label_names, j->tr.n_labels, &j->va));
        if (r->data_test)
            FT_TRY(ft_dataset_load_pretok_labels(r->data_test, j->tr.label_names, j->tr.n_labels, &j->te));
    } else if (task == FT_TASK_QA) {
        FT_TRY(ft_cli_qa_data(r, j->tok, &j->qa, &j->tr, &j->va, &j->te, stdout));
        if (m->task != FT_TASK_QA)
            FT_TRY(ft_model_set_task(m, task, 2, NULL, (uint64_t)r->seed));
    } else if (task == FT_TASK_TOKEN_CLS) { /* words and tags aligned to the pieces (cli/tokcls.c) */
        ft_dataset ds[3];
        FT_TRY(ft_cli_tag_datasets(r, j->tok, ds, stdout));
        j->tr = ds[0];
        j->va = ds[1];
        j->te = ds[2];
    } else {
        ft_data_cfg dc;
        ft_cli_data_cfg_from(r, &dc);
        FT_TRY(ft_data_build(&dc, task, j->tok, &j->tr, &j->va, &j->te, stdout));
    }
    if (task == FT_TASK_MASKED_LM)
        FT_TRY(setup_mlm(j, tok_src));
    else
        mlm_notes(m, r->task);
    if (task == FT_TASK_CAUSAL_LM && m->task == FT_TASK_MASKED_LM) /* the encoder then refuses by name */
        FT_TRY(ft_model_set_task(m, FT_TASK_CAUSAL_LM, 0, NULL, 0));
    if (task == FT_TASK_SEQ_CLS) {
        if (j->tr.n_labels < 2)
            return ft_fail(FT_ERR_CONFIG, "%s: classification needs at least two labels in the training data",
                           r->data_train);
        if (!(m->task == FT_TASK_SEQ_CLS && m->n_labels == j->tr.n_labels))
            FT_TRY(ft_model_set_task(m, task, j->tr.n_labels, (const char *const *)j->tr.label_names,
                                     (uint64_t)r->seed));
    } else if (task == FT_TASK_REGRESSION && m->task != FT_TASK_REGRESSION) {
        FT_TRY(ft_model_set_task(m, task, 1, NULL, (uint64_t)r->seed));
    } else if (task == FT_TASK_TOKEN_CLS && !(m->task == task && m->n_labels == j->tr.n_labels)) {
        FT_TRY(ft_model_set_task(m, task, j->tr.n_labels, (const char *const *)j->tr.label_names,
                                 (uint64_t)r->seed));
    }
    if (m->pooler_init && (task == FT_TASK_SEQ_CLS || task == FT_TASK_REGRESSION))
        printf("note: bert.pooler.dense is not in %s (a masked-LM save has none): initialized%s\n", r->model,
               strcmp(r->method, "full") && strcmp(r->method, "bitfit")
                   ? "; part of the base model, it stays "
                     "frozen under this method, as in PEFT"
                   : "");
    /* continue training an adapter (PEFT's from_pretrained(..., is_trainable=True)) */
    if (r->peft_init_from) {
        ft_status ls = ft_peft_load(m, r->peft_init_from);
        if (ls != FT_OK)
            return ft_fail_ctx(ls, "peft.init_from %s", r->peft_init_from);
        FT_TRY(adopt_adapter_config(r, m, r->peft_init_from));
        if (m->task != task)
            return ft_fail(FT_ERR_CONFIG, "peft.init_from %s: the adapter %s, but task is %s",
                           r->peft_init_from,
                           m->task == FT_TASK_SEQ_CLS      ? "has a classification head"
                           : m->task == FT_TASK_REGRESSION ? "has a regression head"
                           : m->task == FT_TASK_TOKEN_CLS  ? "has a token-classification head"
                                                           : "has no classification or regression head",
                           r->task);
    } else {
        ft_peft_cfg pc;
        FT_TRY(peft_cfg_from(r, &pc));
        FT_TRY(ft_peft_apply(m, &pc));
    }
    const int64_t n_all = ft_model_param_count(m, false), n_tr = ft_model_param_count(m, true);
    if (n_tr == 0)
        return ft_fail(FT_ERR_CONFIG, "method '%s' leaves nothing to train on this model", r->method);

    /* steps and warm-up */
    int64_t steps = r->train_max_steps > 0
                        ? r->train_max_steps
                        : ft_train_steps_for_epochs(r->train_epochs, j->tr.n, (int)r->train_batch_size,
                                                    (int)r->train_grad_accum);
    int64_t warmup = r->optim_warmup_steps > 0 ? r->optim_warmup_steps
                                               : (int64_t)ceil(r->optim_warmup_ratio * (double)steps);

    /* outputs that exist from the start: recipe, run info, tokenizer files */
    FT_TRY(ft_mkdir_p(r->output_dir));
    char p[4096];
    FT_TRY(ft_recipe_to_yaml(r, &j->yaml));
    FT_TRY(ft_write_file_atomic(ft_path_join(p, sizeof p, r->output_dir, "recipe.yaml"), j->yaml, strlen(j->yaml)));
    int copied = 0;
    FT_TRY(copy_tokenizer(tok_src, r->output_dir, &copied));
    FT_TRY(write_run_info(r, &j->tr, copied ? r->output_dir : (j->tok ? tok_src : NULL)));
    FT_TRY(ft_log_open(ft_path_join(p, sizeof p, r->output_dir, "metrics.jsonl"), &j->log));
    if (r->report_tensorboard)
        FT_TRY(ft_tb_open(r->output_dir, &j->tb));

    printf("model %s (%s): %lld parameters, %lld trainable (%.2f%%), method %s, task %s\n", r->model,
           m->cfg.model_type, (long long)n_all, (long long)n_tr, 100.0 * (double)n_tr / (double)n_all, r->method,
           r->task);
    printf("data: %zu training, %zu validation, %zu test examples; %lld steps of %lld x %lld examples\n", j->tr.n,
           j->va.n, j->te.n, (long long)steps, (long long)r->train_batch_size, (long long)r->train_grad_accum);
    if (resume[0])
        printf("resuming from %s\n", resume);
    if (!strcmp(r->precision, "bf16")) {
        ft_status ps = ft_model_set_precision(m, FT_PREC_BF16);
        if (ps == FT_ERR_UNSUPPORTED)
            fprintf(stderr, "ftune train: warning: precision bf16 not available (%s); training in fp32\n",
                    ft_last_error());
        else if (ps != FT_OK)
            return ps;
    }
    printf("precision %s%s\n", ft_precision_name(m->precision),
           m->precision == FT_PREC_BF16 ? " (bf16 GEMMs, fp32 accumulation and master weights)" : "");
    { /* a run that cannot fit fails now, with the numbers, not after an hour */
        ft_mem_estimate me;
        const int64_t eb = r->eval_batch_size > 0 ? r->eval_batch_size : r->train_batch_size;
        ft_mem_estimate_run(m, (int)r->train_batch_size, (int)eb, (int)r->train_seq_len,
                            !strcmp(r->optim_name, "sgd") ? (r->optim_momentum > 0 ? 1 : 0) : 2,
                            r->train_activation_checkpointing, (float)r->train_label_smoothing, &me);
        char line[400];
        ft_mem_estimate_format(&me, line, sizeof line);
        size_t avail = ft_mem_available();
        printf("%s; %.2f GiB available\n", line, (double)avail / (1024.0 * 1024.0 * 1024.0));
        if (avail > 0 && me.total > avail)
            return ft_fail(FT_ERR_NOMEM, "this run needs about %.2f GiB but %.2f GiB are available (%s); lower "
                                         "train.batch_size or train.seq_len, or use a PEFT method",
                           (double)me.total / 1073741824.0, (double)avail / 1073741824.0, line);
    }
    fflush(stdout);

    ft_train_cfg tc;
    ft_train_cfg_default(&tc);
    tc.max_steps = steps;
    tc.label_smoothing = (float)r->train_label_smoothing;
    tc.activation_checkpointing = r->train_activation_checkpointing;
    tc.group_by_length = r->train_group_by_length;
    tc.batch_size = (int)r->train_batch_size;
    tc.grad_accum = (int)r->train_grad_accum;
    tc.seq_len = (int)r->train_seq_len;
    tc.eval_batch_size = (int)r->eval_batch_size;
    tc.pad_id = pad_id;
    tc.lr = (float)r->optim_lr;
    FT_TRY(ft_sched_parse(r->optim_schedule, &tc.sched.kind));
    tc.sched.warmup_steps = warmup;
    tc.sched.total_steps = steps;
    tc.sched.min_ratio = r->optim_min_lr_ratio;
    FT_TRY(ft_optim_parse(r->optim_name, &tc.optim.kind));
    tc.optim.beta1 = (float)r->optim_beta1;
    tc.optim.beta2 = (float)r->optim_beta2;
    tc.optim.eps = (float)r->optim_eps;
    tc.optim.momentum = (float)r->optim_momentum;
    tc.optim.dampening = (float)r->optim_dampening;
    tc.optim.nesterov = r->optim_nesterov;
    tc.optim.weight_decay = (float)r->optim_weight_decay;
    tc.optim.decay_1d = r->optim_decay_norms_and_biases;
    tc.max_grad_norm = r->train_max_grad_norm;
    tc.skip_nonfinite = !strcmp(r->train_on_nonfinite, "skip");
    tc.eval_every = r->eval_every;
    tc.eval_at_start = true;
    tc.metric = r->eval_metric;
    tc.metric_sign = !strcmp(r->eval_mode, "min") ? -1 : !strcmp(r->eval_mode, "max") ? 1 : 0;
    tc.patience = r->early_stopping_patience;
    tc.min_delta = r->early_stopping_min_delta;
    tc.log_every = r->report_log_every;
    tc.seed = (uint64_t)r->seed;
    char ckroot[4096];
    tc.ckpt_root = ft_path_join(ckroot, sizeof ckroot, r->output_dir, "checkpoints");
    tc.ckpt_every = r->checkpoint_every;
    tc.keep_last = r->checkpoint_keep_last;
    tc.keep_best = r->checkpoint_keep_best;
    tc.ckpt_save_model = r->checkpoint_save_model;
    tc.recipe_yaml = j->yaml;
    tc.resume = resume[0] ? resume : NULL;
    tc.stop = &g_stop;
    tc.log = j->log;
    tc.tb = j->tb;
    ft_progress_mode pm = !strcmp(r->report_progress, "quiet") ? FT_PROGRESS_QUIET
                          : !strcmp(r->report_progress, "tty") ? FT_PROGRESS_TTY
                          : !strcmp(r->report_progress, "plain") ? FT_PROGRESS_PLAIN
                                                                  : FT_PROGRESS_AUTO;
    ft_progress_init(&j->prog, stderr, pm, 0, steps, ft_now());
    j->prog.plain_interval = r->report_plain_interval;
    tc.progress = &j->prog;

    g_stop = 0;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    ft_status s = ft_train(m, &j->tr, j->va.n ? &j->va : NULL, &tc, &j->res);
    sigaction(SIGINT, &old, NULL);
    j->have_res = true;
    if (s != FT_OK)
        return s;
    ft_train_result *res = &j->res;
    if (!isnan(res->eval_before) && res->has_eval)
        printf("eval loss: %.4f before, %.4f after\n", res->eval_before, res->eval.loss);
    printf("trained steps %lld..%lld, %lld tokens, %.0f tok/s; train loss %.4f -> %.4f%s\n",
           (long long)res->start_step, (long long)res->steps, (long long)res->tokens, res->tokens_per_s,
           res->first_loss, res->last_loss,
           res->end == FT_TRAIN_EARLY_STOPPED ? " (early stopping)" : "");
    if (res->skipped)
        printf("%lld steps skipped for a non-finite loss or gradient\n", (long long)res->skipped);
    if (res->has_eval && !isnan(res->best_metric))
        printf("best %s %.4f at step %lld\n", r->eval_metric, res->best_metric, (long long)res->best_step);

    /* test set */
    ft_eval_result test = {0};
    bool has_test = false;
    if (res->end != FT_TRAIN_INTERRUPTED && j->te.n > 0) {
        ft_arena arena;
        int bs = r->eval_batch_size > 0 ? (int)r->eval_batch_size : (int)r->train_batch_size;
        FT_TRY(ft_arena_init(&arena, ft_model_act_bytes(m, bs, (int)r->train_seq_len) + ((size_t)4 << 20)));
        s = ft_train_evaluate(m, &j->te, bs, (int)r->train_seq_len, pad_id, &arena, &test);
        ft_arena_free(&arena);
        FT_TRY(s);
        has_test = true;
        printf("test: loss %.4f", test.loss);
        if (task == FT_TASK_MASKED_LM)
            printf(" perplexity %.4f (masked tokens, fixed masks)", test.perplexity);
        if (test.has_cls)
            printf(" accuracy %.4f f1_macro %.4f", test.cls.accuracy, test.cls.f1_macro);
        if (test.has_reg)
            printf(" mse %.4f mae %.4f r2 %.4f", test.reg.mse, test.reg.mae, test.reg.r2);
        if (test.has_qa)
            ft_cli_qa_print_score(&test.qa, stdout);
        printf("\n");
        if (test.has_tag)
            ft_cli_print_tag_metrics(&test.tag, stdout);
        const char *keys[] = {"test/loss", "test/accuracy", "test/f1_macro", "test/mse"};
        double vals[] = {test.loss, ft_eval_metric(&test, "accuracy"), ft_eval_metric(&test, "f1_macro"),
                         ft_eval_metric(&test, "mse")};
        if (test.has_tag) { /* words: accuracy; entities' F1 (BIO tags) or the tags' macro-F1 */
            keys[2] = test.tag.entities ? "test/f1" : "test/f1_macro";
            vals[2] = ft_eval_metric(&test, test.tag.entities ? "f1" : "f1_macro");
        }
        s = ft_log_write(j->log, res->steps, (double)time(NULL), keys, vals,
                         test.has_cls || test.has_tag ? 3
                         : test.has_reg               ? 4
                                                      : 1);
    }
    if (s == FT_OK && res->end != FT_TRAIN_INTERRUPTED) {
        if (!strcmp(r->method, "full"))
            s = ft_model_save(m, r->output_dir, !strcmp(r->save_dtype, "bf16") ? FT_DT_BF16 : FT_DT_F32);
        else
            s = ft_model_save_output(m, r->output_dir);
        if (s == FT_OK)
            printf("saved %s\n", r->output_dir);
    }
    if (s == FT_OK && r->report_html) {
        char trainable[64], ckpt[4160];
        snprintf(trainable, sizeof trainable, "%lld of %lld (%.3f%%)", (long long)n_tr, (long long)n_all,
                 100.0 * (double)n_tr / (double)n_all);
        snprintf(ckpt, sizeof ckpt, "%s", res->checkpoint[0] ? res->checkpoint : "(none)");
        char ev[160] = "(no validation data)";
        if (res->has_eval)
            snprintf(ev, sizeof ev, "loss %.4f, %s %.4f (best %.4f at step %lld)", res->eval.loss, r->eval_metric,
                     ft_eval_metric(&res->eval, r->eval_metric), res->best_metric, (long long)res->best_step);
        char steps_s[96];
        snprintf(steps_s, sizeof steps_s, "%lld of %lld%s", (long long)res->steps, (long long)steps,
                 res->end == FT_TRAIN_EARLY_STOPPED ? " (early stopping)"
                 : res->end == FT_TRAIN_INTERRUPTED ? " (interrupted)" : "");
        ft_html_kv extra[] = {{"trainable parameters", trainable}, {"steps", steps_s},
                              {"validation", ev}, {"last checkpoint", ckpt}};
        const ft_metric_cls *cls = has_test && test.has_cls ? &test.cls : res->eval.has_cls ? &res->eval.cls : NULL;
        s = ft_run_report_write(r->output_dir, ft_log_path(j->log), r, extra, 4, cls,
                                cls && j->tr.label_names && (size_t)j->tr.n_labels == cls->n_classes
                                    ? (const char *const *)j->tr.label_names : NULL);
    }
    if (has_test)
        ft_eval_result_free(&test);
    if (s == FT_OK && res->end == FT_TRAIN_INTERRUPTED) {
        fprintf(stderr, "ftune train: interrupted at step %lld; checkpoint %s (continue with resume=%s)\n",
                (long long)res->steps, res->checkpoint, r->output_dir);
        *exit_code = 130;
    }
    return s;
}

int ft_cmd_train(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(TRAIN_USAGE, stdout);
            ft_recipe_print_help(stdout);
            return 0;
        }
    const char *model = NULL, *data = NULL, *eval = NULL, *outdir = NULL, *save_dtype = "f32",
               *precision = NULL, *method = NULL, *task = NULL, *adapter = NULL;
    long steps = 100, bs = 4, seq = 128, warmup = 0, threads = 0, seed = 42, eval_every = 0;
    double lr = 1e-4, wd = 0.0, clip = 1.0, min_lr = 1.0;
    bool quiet = false, act_ckpt = false, help;
    ft_opt opts[] = {{"model", FT_OPT_STR, &model},        {"data", FT_OPT_STR, &data},
                     {"eval-data", FT_OPT_STR, &eval},     {"out", FT_OPT_STR, &outdir},
                     {"steps", FT_OPT_INT, &steps},        {"batch-size", FT_OPT_INT, &bs},
                     {"seq-len", FT_OPT_INT, &seq},        {"lr", FT_OPT_FLOAT, &lr},
                     {"warmup", FT_OPT_INT, &warmup},      {"min-lr-ratio", FT_OPT_FLOAT, &min_lr},
                     {"weight-decay", FT_OPT_FLOAT, &wd},  {"clip", FT_OPT_FLOAT, &clip},
                     {"eval-every", FT_OPT_INT, &eval_every}, {"threads", FT_OPT_INT, &threads},
                     {"seed", FT_OPT_INT, &seed},          {"save-dtype", FT_OPT_STR, &save_dtype},
                     {"quiet", FT_OPT_FLAG, &quiet},       {"precision", FT_OPT_STR, &precision},
                     {"activation-checkpointing", FT_OPT_FLAG, &act_ckpt},
                     {"method", FT_OPT_STR, &method},      {"task", FT_OPT_STR, &task},
                     {"adapter", FT_OPT_STR, &adapter}};
    const char *pos[256];
    int npos = 0;
    int rc = ft_cli_parse("train", argc, argv, opts, sizeof opts / sizeof *opts, TRAIN_USAGE, pos, 256, &npos, &help);
    if (rc || help)
        return rc;
    const bool flag_form = model || data || outdir;
    const char *recipe_path = NULL;
    job j;
    memset(&j, 0, sizeof j);
    ft_status s = ft_recipe_init(&j.r);
    if (s != FT_OK)
        return ft_cli_fail("train", s);
    for (int i = 0; s == FT_OK && i < npos; i++) {
        if (strchr(pos[i], '='))
            continue;
        if (recipe_path) {
            fprintf(stderr, "ftune train: one recipe file only ('%s' and '%s'); overrides are key=value\n",
                    recipe_path, pos[i]);
            ft_recipe_free(&j.r);
            return 2;
        }
        recipe_path = pos[i];
    }
    if (!recipe_path && !flag_form) {
        fprintf(stderr, "ftune train: give a recipe file (or --model, --data and --out); see ftune train --help\n");
        ft_recipe_free(&j.r);
        return 2;
    }
    if (recipe_path)
        s = ft_recipe_load_yaml(&j.r, recipe_path);
    if (s == FT_OK && flag_form) {
        if (!model || !data || !outdir) {
            fprintf(stderr, "ftune train: --model, --data and --out are required together\n");
            ft_recipe_free(&j.r);
            return 2;
        }
        if (steps <= 0 || bs <= 0 || seq < 2 || lr <= 0 || warmup < 0 || threads < 0 || min_lr < 0 || min_lr > 1 ||
            wd < 0 || clip < 0) {
            fprintf(stderr, "ftune train: out-of-range option (steps>0, batch-size>0, seq-len>=2, lr>0, ...)\n");
            ft_recipe_free(&j.r);
            return 2;
        }
        s = apply_flags(&j.r, model, data, eval, outdir, steps, bs, seq, lr, warmup, min_lr, wd, clip, eval_every,
                        threads, seed, save_dtype);
    }
    if (s == FT_OK && precision)
        s = ft_recipe_set(&j.r, "precision", precision, "--precision");
    if (s == FT_OK && method)
        s = ft_recipe_set(&j.r, "method", method, "--method");
    if (s == FT_OK && task)
        s = ft_recipe_set(&j.r, "task", task, "--task");
    if (s == FT_OK && adapter)
        s = ft_recipe_set(&j.r, "peft.init_from", adapter, "--adapter");
    for (int i = 0; s == FT_OK && i < npos; i++)
        if (strchr(pos[i], '='))
            s = ft_recipe_override(&j.r, pos[i]);
    if (s == FT_OK && quiet)
        s = ft_recipe_set(&j.r, "report.progress", "quiet", "--quiet");
    if (s == FT_OK && act_ckpt)
        s = ft_recipe_set(&j.r, "train.activation_checkpointing", "true", "--activation-checkpointing");
    int code = 0;
    if (s == FT_OK)
        s = run_job(&j, &code);
    job_free(&j);
    return s == FT_OK ? code : ft_cli_fail("train", s);
}
