/* train/trained: load a training output for eval / classify / generate. The task, label set, fields and
 * tokenizer come from ftune_train.json (written by `ftune train`); --task overrides the task. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/infer.h"
#include "models/stream.h"
#include "peft/peft.h"
#include "train/img_task.h"
#include "train/memory.h"
#include "train/runcfg.h"
#include "train/trained.h"

static const char *jstr(const cJSON *j, const char *k) {
    const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, k) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool is_adapter_dir(const char *dir) {
    char p[4096];
    return dir && ft_file_exists(ft_path_join(p, sizeof p, dir, "adapter_config.json"));
}

static ft_status read_json(const char *path, cJSON **out) {
    char *text;
    size_t len;
    FT_TRY(ft_read_file(path, &text, &len));
    *out = cJSON_ParseWithLength(text, len);
    free(text);
    if (!*out || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return ft_fail(FT_ERR_FORMAT, "%s: not a JSON object", path);
    }
    return FT_OK;
}

static ft_status load_info(const char *dir, ft_trained *t) {
    if (!dir || t->info)
        return FT_OK;
    ft_path_join(t->info_path, sizeof t->info_path, dir, "ftune_train.json");
    if (!ft_file_exists(t->info_path)) {
        t->info_path[0] = '\0';
        return FT_OK;
    }
    return read_json(t->info_path, &t->info);
}

static bool known_task(const char *s) {
    return !strcmp(s, "causal_lm") || !strcmp(s, "instruction") || !strcmp(s, "classification") ||
           !strcmp(s, "regression") || !strcmp(s, "question_answering") ||
           !strcmp(s, "token_classification") || !strcmp(s, "masked_lm") ||
           !strcmp(s, "image_classification") || !strcmp(s, "seq2seq");
}

static ft_status trained_load(const char *model_dir, const char *adapter_dir, const char *task,
                              unsigned flags, const ft_trained *shared, ft_trained *t);

/* train.stream_base of the run: true streams the base read in place (models/stream.h), auto streams it when
 * the bytes held in place exceed the memory this process may use (the page cache could not keep them), false
 * never; a base with nothing in place is left as it is. */
static ft_status stream_base(ft_trained *t) {
    ft_ckpt_mode sm = FT_CKPT_AUTO;
    if (t->rec.train_stream_base && ft_stream_mode_parse(t->rec.train_stream_base, &sm) != FT_OK)
        return FT_ERR_CONFIG;
    size_t slot = 0, streamed = 0;
    ft_model_stream_sizes(t->m, &slot, &streamed);
    if (!slot || sm == FT_CKPT_OFF)
        return FT_OK;
    const size_t lim = ft_mem_limit(NULL);
    if (sm == FT_CKPT_ON || (lim && ft_model_half_bytes(t->m) + ft_model_q8_bytes(t->m) > lim))
        return ft_model_stream_open(t->m);
    return FT_OK;
}

ft_status ft_trained_load(const char *model_dir, const char *adapter_dir, const char *task, unsigned flags,
                          ft_trained *t) {
    return trained_load(model_dir, adapter_dir, task, flags, NULL, t);
}

ft_status ft_trained_view(const ft_trained *base, const char *adapter_dir, ft_trained *view) {
    if (!base->m || !adapter_dir)
        return ft_fail(FT_ERR_ARG, "adapter view: a loaded base and an adapter directory are required");
    const char *base_dir = base->m->dir ? base->m->dir : ".";
    return trained_load(base_dir, adapter_dir, "auto", 0, base, view);
}

/* shared != NULL: a view over shared->m (the adapter already attached and active), no model loaded. */
static ft_status trained_load(const char *model_dir, const char *adapter_dir, const char *task,
                              unsigned flags, const ft_trained *shared, ft_trained *t) {
    const bool need_task = flags & FT_TRAINED_NEED_TASK;
    memset(t, 0, sizeof *t);
    FT_TRY(ft_recipe_init(&t->rec));
    ft_status s = FT_OK;
#define CHECK(x)                                                                                                     \
    do {                                                                                                             \
        if ((s = (x)) != FT_OK)                                                                                      \
            goto fail;                                                                                               \
    } while (0)
    if (!model_dir) {
        s = ft_fail(FT_ERR_ARG, "--model DIR is required");
        goto fail;
    }
    /* ftune_train.json: the adapter's (it describes the run that made it), else the model's */
    CHECK(load_info(adapter_dir, t));
    const char *info_dir = t->info ? adapter_dir : NULL;
    if (!t->info) {
        CHECK(load_info(model_dir, t));
        info_dir = t->info ? model_dir : NULL;
    }
    const bool auto_task = task && !strcmp(task, "auto"); /* the model's own head decides */
    if (auto_task)
        task = NULL;
    if (task) {
        if (!known_task(task)) {
            s = ft_fail(
                FT_ERR_ARG,
                "--task '%s' is not causal_lm, instruction, classification, regression, "
                "question_answering, token_classification, masked_lm, image_classification or seq2seq",
                task);
            goto fail;
        }
        t->task = task;
    } else if (t->info) {
        t->task = jstr(t->info, "task");
        if (!t->task || !known_task(t->task)) {
            s = ft_fail(FT_ERR_FORMAT, "%s: 'task' is missing or unknown", t->info_path);
            goto fail;
        }
    } else if (need_task && !auto_task) {
        s = ft_fail(FT_ERR_MISSING,
                    "%s: no ftune_train.json (not an `ftune train` output directory); give --task "
                    "(and the labels come from the model's config.json)",
                    model_dir);
        goto fail;
    } else {
        t->task = "causal_lm";
    }
    /* the recipe the run used: its text cleaning and packing apply to evaluation data too */
    if (info_dir) {
        char p[4096];
        if (ft_file_exists(ft_path_join(p, sizeof p, info_dir, "recipe.yaml")))
            CHECK(ft_recipe_load_yaml(&t->rec, p));
    }

    /* model: model_dir is the checkpoint, or an adapter whose base ftune_train.json names */
    const char *base = model_dir, *adapter = adapter_dir;
    if (is_adapter_dir(model_dir)) {
        if (adapter_dir) {
            s = ft_fail(FT_ERR_ARG, "%s is an adapter directory; give the base model as --model and it as --adapter",
                        model_dir);
            goto fail;
        }
        adapter = model_dir;
        base = jstr(t->info, "base_model");
        if (!base) {
            s = ft_fail(FT_ERR_MISSING, "%s: an adapter without ftune_train.json naming its base model; give "
                        "--model BASE --adapter %s", model_dir, model_dir);
            goto fail;
        }
    }
    if (shared) {
        t->m = shared->m;
        t->shared_m = true;
    } else {
        /* a run trained with train.base_dtype file keeps its base in the file dtype for evaluation and
         * generation too (a 7B base in bf16), one trained on an int8 base is evaluated on the same int8
         * base (the adapter learned against its rounding); auto and fp32 load it as fp32, so merging keeps
         * working */
        ft_base_dtype bd = FT_BASE_FP32;
        if (t->rec.train_base_dtype && !strcmp(t->rec.train_base_dtype, "file"))
            bd = FT_BASE_FILE;
        else if (t->rec.train_base_dtype && !strcmp(t->rec.train_base_dtype, "int8"))
            bd = FT_BASE_INT8;
        CHECK(ft_model_load_base(base, bd, &t->m));
        if (bd == FT_BASE_INT8 && t->rec.train_int8_matmul) { /* its products as training ran them */
            const ft_status is = ft_model_set_int8_matmul(t->m, true);
            if (is == FT_ERR_UNSUPPORTED)
                ft_clear_error(); /* no VNNI here: the widened products (the same weights) */
            else
                CHECK(is);
        }
        CHECK(stream_base(t));
    }
    if (adapter && !shared) {
        s = ft_peft_load(t->m, adapter);
        if (s != FT_OK) {
            s = ft_fail_ctx(s, "adapter %s on base %s", adapter, base);
            goto fail;
        }
    }

    t->image = t->m->cfg.arch == FT_ARCH_VIT;
    if (t->image) { /* pixels, no tokenizer: the processor training saved, else the base model's */
        char pp[4096];
        if (info_dir && ft_file_exists(ft_path_join(pp, sizeof pp, info_dir, "preprocessor_config.json")))
            CHECK(ft_img_proc_load(pp, &t->img_proc));
        else
            CHECK(ft_imgtask_proc(base, t->m, &t->img_proc));
        if (!task && !t->info)
            t->task = "image_classification";
    }
    /* tokenizer: the copy training left next to its outputs, else the one it names, else the base's */
    const char *f0;
    const char *cands[3] = {info_dir, adapter, jstr(t->info, "tokenizer")};
    for (int i = 0; i < 3 && !t->tok && !t->image; i++) {
        char p1[4096], p2[4096], p3[4096];
        if (!cands[i] || (!ft_file_exists(ft_path_join(p1, sizeof p1, cands[i], "tokenizer.json")) &&
                          !ft_file_exists(ft_path_join(p2, sizeof p2, cands[i], "vocab.json")) &&
                          !ft_file_exists(ft_path_join(p3, sizeof p3, cands[i], "encoder.json"))))
            continue;
        if (ft_tok_load(cands[i], &t->tok) != FT_OK) {
            ft_clear_error();
            t->tok = NULL;
        }
    }
    if (shared && !t->tok && !t->image) { /* the base's tokenizer, unless the adapter brought its own */
        t->tok = shared->tok;
        t->shared_tok = true;
    }
    t->pretok = (f0 = jstr(t->info, "data_format")) != NULL && !strcmp(f0, "pretokenized");
    if (!t->tok && !t->image && (s = ft_tok_load(base, &t->tok)) != FT_OK &&
        (t->pretok || (flags & FT_TRAINED_TOK_OPTIONAL))) {
        ft_clear_error(); /* pre-tokenized data needs no tokenizer (classify and generate do) */
        t->tok = NULL;
        s = FT_OK;
    } else if (!t->tok && s != FT_OK) {
        s = ft_fail_ctx(s, "no tokenizer next to %s or its base", model_dir);
        goto fail;
    }
    t->pad_id = ft_runcfg_pad_id(t->m, t->tok);

    if (auto_task && !t->info)
        t->task = ft_runcfg_task_name(t->m->task);
    /* task vs model head */
    if (t->image && strcmp(t->task, "image_classification") && strcmp(t->task, "classification") &&
        strcmp(t->task, "regression")) {
        s = ft_fail(FT_ERR_CONFIG, "%s: an image model (vit) does image_classification or regression, not %s",
                    adapter ? adapter : base, t->task);
        goto fail;
    }
    const bool cls = !strcmp(t->task, "classification") || !strcmp(t->task, "image_classification"),
               reg = !strcmp(t->task, "regression"), tok = !strcmp(t->task, "token_classification");
    if (tok && t->m->task != FT_TASK_TOKEN_CLS) {
        s = ft_fail(FT_ERR_CONFIG,
                    "%s: task token_classification, but the model has no token-classification head",
                    adapter ? adapter : base);
        goto fail;
    }
    if (cls && t->m->task != FT_TASK_SEQ_CLS) {
        s = ft_fail(FT_ERR_CONFIG, "%s: task classification, but the model has no classification head (score.weight)",
                    adapter ? adapter : base);
        goto fail;
    }
    if (reg && t->m->task != FT_TASK_REGRESSION) {
        s = ft_fail(FT_ERR_CONFIG, "%s: task regression, but the model has no one-output regression head",
                    adapter ? adapter : base);
        goto fail;
    }
    const bool qa = !strcmp(t->task, "question_answering");
    if (qa != (t->m->task == FT_TASK_QA)) {
        s = ft_fail(FT_ERR_CONFIG, "%s: task %s, but the model %s a question-answering head (qa_outputs)",
                    adapter ? adapter : base, t->task, qa ? "has no" : "has");
        goto fail;
    }
    if (ft_model_is_t5(t->m) && !task && !t->info) /* a plain T5 checkpoint: what it does is seq2seq */
        t->task = "seq2seq";
    const bool s2s = !strcmp(t->task, "seq2seq");
    if (s2s != ft_model_is_t5(t->m)) {
        s = ft_fail(FT_ERR_CONFIG,
                    s2s ? "%s: task seq2seq needs an encoder-decoder model (t5, mt5), not a %s"
                        : "%s: an encoder-decoder (%s) does task seq2seq only",
                    adapter ? adapter : base, t->m->cfg.model_type);
        goto fail;
    }
    const bool mlm = !strcmp(t->task, "masked_lm");
    if (mlm && t->m->task != FT_TASK_MASKED_LM) {
        s = ft_fail(FT_ERR_CONFIG, "%s: task masked_lm, but the model has no masked-LM head",
                    adapter ? adapter : base);
        goto fail;
    }
    if (!cls && !reg && !qa && !tok && !mlm && t->m->task != FT_TASK_CAUSAL_LM) {
        s = ft_fail(FT_ERR_CONFIG, "%s: task %s, but the model has a %s head", adapter ? adapter : base,
                    t->task,
                    t->m->task == FT_TASK_SEQ_CLS      ? "classification"
                    : t->m->task == FT_TASK_REGRESSION ? "regression"
                    : t->m->task == FT_TASK_TOKEN_CLS  ? "token-classification"
                    : t->m->task == FT_TASK_QA         ? "question-answering"
                                                       : "masked-LM");
        goto fail;
    }
    if (cls || tok) { /* label names: ftune_train.json (class-id order), else the config's id2label */
        const cJSON *ln = t->info ? cJSON_GetObjectItemCaseSensitive(t->info, "label_names") : NULL;
        int n = cJSON_IsArray(ln) ? cJSON_GetArraySize(ln) : 0;
        if (n == 0 && t->m->label_names)
            n = t->m->n_labels;
        if (n != t->m->n_labels) {
            s = ft_fail(FT_ERR_SHAPE, "%s: %d label names, but the model's head has %d classes", t->info_path, n,
                        t->m->n_labels);
            goto fail;
        }
        t->label_names = calloc((size_t)(n ? n : 1), sizeof *t->label_names);
        if (!t->label_names) {
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
            goto fail;
        }
        t->n_labels = n;
        for (int i = 0; i < n; i++) {
            const cJSON *v = cJSON_IsArray(ln) && cJSON_GetArraySize(ln) ? cJSON_GetArrayItem(ln, i) : NULL;
            char num[32];
            snprintf(num, sizeof num, "LABEL_%d", i);
            const char *nm = cJSON_IsString(v) ? v->valuestring
                             : t->m->label_names && t->m->label_names[i] ? t->m->label_names[i] : num;
            if (!(t->label_names[i] = ft_strdup(nm))) {
                s = ft_fail(FT_ERR_NOMEM, "out of memory");
                goto fail;
            }
        }
    }
    const cJSON *sl = t->info ? cJSON_GetObjectItemCaseSensitive(t->info, "seq_len") : NULL;
    t->seq_len = cJSON_IsNumber(sl) && sl->valuedouble >= 2 ? (int)sl->valuedouble : (int)t->rec.train_seq_len;
    if (t->seq_len > t->m->cfg.max_pos - t->m->n_virtual)
        t->seq_len = t->m->cfg.max_pos - t->m->n_virtual;
    if (t->image) /* [CLS] + the patches of the processor's image size */
        t->seq_len =
            1 + (t->img_proc.height / t->m->cfg.patch_size) * (t->img_proc.width / t->m->cfg.patch_size);
    t->chat_template = jstr(t->info, "chat_template");

    ft_data_cfg *d = &t->data;
    ft_data_cfg_default(d);
    const char *f;
#define FIELD(key, member)                                                                                           \
    if ((f = jstr(t->info, key)) != NULL)                                                                            \
        d->member = f;
    FIELD("text_field", text_field)
    FIELD("label_field", label_field)
    FIELD("prompt_field", prompt_field)
    FIELD("response_field", response_field)
    FIELD("messages_field", messages_field)
    d->text_pair_field = jstr(t->info, "text_pair_field");
    d->chat_template = t->chat_template;
    if ((f = jstr(t->info, "data_format")) != NULL && strcmp(f, "pretokenized"))
        d->format = f;
    /* the text transforms training applied, but no row may go: evaluation sees every row, in file order */
    d->clean_unicode = t->rec.data_clean_unicode;
    d->clean_whitespace = t->rec.data_clean_whitespace;
    d->clean_html = t->rec.data_clean_html;
    d->clean_email_headers = t->rec.data_clean_email_headers;
    d->dedup_exact = d->dedup_near = d->drop_garbled = false;
    d->min_chars = d->max_chars = 0;
    d->augment_factor = 0;
    d->val_ratio = d->test_ratio = 0;
    d->stratify = false;
    d->pack = t->rec.data_pack;
    d->append_eos = t->rec.data_append_eos;
    d->max_windows = (int)t->rec.data_max_windows;
    d->window_overlap = (int)t->rec.data_window_overlap;
    d->max_len = t->seq_len;
    if (s2s) { /* the pairs as training read them: fields, prefix, source and target lengths */
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(t->info, "max_source_length"),
                    *mt = cJSON_GetObjectItemCaseSensitive(t->info, "max_target_length");
        ft_runcfg_data_s2s(&t->rec, d);
        FIELD("source_field", text_field)
        FIELD("target_field", response_field)
        FIELD("prefix", prefix)
        if (cJSON_IsNumber(ms) && ms->valuedouble >= 2)
            d->max_len = (int)ms->valuedouble;
        if (cJSON_IsNumber(mt) && mt->valuedouble >= 2)
            d->max_target_len = (int)mt->valuedouble;
        t->seq_len = d->max_len > d->max_target_len ? d->max_len : d->max_target_len;
        ft_runcfg_s2s_eval(&t->rec, t->tok, &t->s2s);
        if (!(t->rec.eval_max_new_tokens > 0))
            t->s2s.gen.max_new_tokens = d->max_target_len;
        t->s2s.limit = 0;
        t->s2s_generate = true;
    }
#undef FIELD
    return FT_OK;
#undef CHECK
fail:
    ft_trained_free(t);
    return s;
}

void ft_trained_free(ft_trained *t) {
    for (int i = 0; t->label_names && i < t->n_labels; i++)
        free(t->label_names[i]);
    free(t->label_names);
    if (!t->shared_tok)
        ft_tok_free(t->tok);
    if (!t->shared_m)
        ft_model_free(t->m);
    cJSON_Delete(t->info);
    ft_recipe_free(&t->rec);
    memset(t, 0, sizeof *t);
}

ft_status ft_trained_clean(const ft_trained *t, const char *text, char **out) {
    char *cur = ft_strdup(text);
    if (!cur)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    char *(*steps[4])(const char *) = {t->data.clean_email_headers ? ft_data_strip_email_headers : NULL,
                                       t->data.clean_html ? ft_data_strip_html : NULL,
                                       t->data.clean_unicode ? ft_data_norm_unicode : NULL,
                                       t->data.clean_whitespace ? ft_data_norm_whitespace : NULL};
    for (int i = 0; i < 4; i++) {
        // cppcheck-suppress uninitvar ; initialized above (cppcheck misreads the function-pointer array)
        if (!steps[i])
            continue;
        char *nx = steps[i](cur);
        free(cur);
        if (!nx)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        cur = nx;
    }
    *out = cur;
    return FT_OK;
}

ft_status ft_trained_encode_source(ft_trained *t, const char *text, ft_tok_ids *ids) {
    char *clean;
    FT_TRY(ft_trained_clean(t, text, &clean));
    const char *pre = t->data.prefix ? t->data.prefix : "";
    const size_t np = strlen(pre), nc = strlen(clean);
    char *src = malloc(np + nc + 1);
    if (!src) {
        free(clean);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    memcpy(src, pre, np);
    memcpy(src + np, clean, nc + 1);
    free(clean);
    bool cut;
    ft_status s = ft_tok_encode(t->tok, src, np + nc, true, ids);
    free(src);
    if (s == FT_OK) /* the eos last, cut to the source length training used */
        s = ft_data_fit_eos(t->tok, ids, (size_t)(t->data.max_len > 1 ? t->data.max_len : 2), &cut);
    return s;
}

ft_status ft_trained_encode_prompt(ft_trained *t, const char *tmpl, const char *system,
                                   const ft_data_msg *msgs, int n_msgs, const char *prompt, ft_tok_ids *ids) {
    if (!strcmp(t->task, "seq2seq") && !tmpl && n_msgs == 0) /* the encoder's input, as training made it */
        return ft_trained_encode_source(t, prompt, ids);
    if (tmpl) {
        ft_tok_msg m[64];
        size_t n = 0;
        if (system)
            m[n++] = (ft_tok_msg){"system", system};
        for (int i = 0; i < n_msgs && n < 64; i++)
            m[n++] = (ft_tok_msg){msgs[i].role, msgs[i].content};
        if (prompt && n < 64)
            m[n++] = (ft_tok_msg){"user", prompt};
        return ft_tok_chat_encode(t->tok, tmpl, m, n, true, ids);
    }
    if (n_msgs > 0) { /* no template: the conversation as plain text */
        size_t len = 1;
        for (int i = 0; i < n_msgs; i++)
            len += strlen(msgs[i].content) + 1;
        char *buf = malloc(len), *p = buf;
        if (!buf)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        for (int i = 0; i < n_msgs; i++)
            p += sprintf(p, "%s%s", i ? "\n" : "", msgs[i].content);
        ft_status s = ft_tok_encode(t->tok, buf, strlen(buf), true, ids);
        free(buf);
        FT_TRY(s);
    } else {
        FT_TRY(ft_tok_encode(t->tok, prompt, strlen(prompt), true, ids));
    }
    /* a decoder-only model continues the text: no closing special token; T5's encoder input keeps its </s>
     * (HF's tokenizer(text) for generate) */
    if (ids->n > 1 && ft_tok_is_special(t->tok, ids->ids[ids->n - 1]) && !ft_model_is_t5(t->m))
        ids->n--;
    return FT_OK;
}

int32_t ft_trained_turn_end_id(const ft_trained *t, const char *tmpl) {
    const char *tokname = !tmpl                     ? NULL
                          : !strcmp(tmpl, "chatml") ? "<|im_end|>"
                          : !strcmp(tmpl, "llama3") ? "<|eot_id|>"
                                                    : NULL;
    return tokname ? ft_tok_token_to_id(t->tok, tokname, strlen(tokname)) : -1;
}

ft_status ft_trained_classify(ft_trained *t, ft_kv *kv, const char *text, ft_tok_ids *ids, float *logits,
                              double *probs, int *best) {
    char *clean;
    FT_TRY(ft_trained_clean(t, text, &clean));
    ft_status s = ft_tok_encode(t->tok, clean, strlen(clean), true, ids);
    free(clean);
    FT_TRY(s);
    /* the windows training cut its texts into (data.max_windows; one, truncated, without it), their
       logits averaged as evaluation averages them */
    bool cut;
    ft_tok_ids *w = NULL;
    size_t nw = 0;
    FT_TRY(ft_data_windows(t->tok, ids, (size_t)t->seq_len, false, t->data.append_eos, t->data.window_overlap,
                           t->data.max_windows, &w, &nw, &cut));
    const int nl = t->m->n_labels, nv = t->m->task == FT_TASK_REGRESSION ? 1 : nl;
    for (int k = 0; k < nv; k++)
        probs[k] = 0; /* the sums, in double */
    s = nw == 0 || w[0].n == 0 ? ft_fail(FT_ERR_ARG, "empty text (no token to classify)") : FT_OK;
    for (size_t i = 0; i < nw && s == FT_OK; i++) {
        ft_kv_reset(kv);
        s = ft_infer(t->m, kv, w[i].ids, (int)w[i].n, logits);
        for (int k = 0; s == FT_OK && k < nv; k++)
            probs[k] += (double)logits[k];
    }
    ft_data_windows_free(w, nw);
    FT_TRY(s);
    for (int k = 0; k < nv; k++)
        logits[k] = (float)(probs[k] / (double)nw);
    if (t->m->task == FT_TASK_REGRESSION) {
        probs[0] = logits[0];
        *best = -1;
        return FT_OK;
    }
    int b = 0; /* softmax: p_k = exp(z_k - max) / sum */
    for (int k = 1; k < nl; k++)
        b = logits[k] > logits[b] ? k : b;
    double sum = 0;
    for (int k = 0; k < nl; k++)
        sum += exp((double)logits[k] - (double)logits[b]);
    for (int k = 0; k < nl; k++)
        probs[k] = exp((double)logits[k] - (double)logits[b]) / sum;
    *best = b;
    return FT_OK;
}
