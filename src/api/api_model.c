/* api/api_model: the checkpoint commands as library calls (include/ftune.h, FTUNE_HAS_CHECKPOINT_TOOLS): a
 * random model in Hugging Face layout (`ftune init`), the description of a checkpoint (`ftune inspect`), one
 * forward and backward pass written to safetensors (`ftune dump`, the parity tests' contract) and an adapter
 * folded into its base (`ftune merge`). Prefix ftune_checkpoint_. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_ctx.h"
#include "data/pretok.h"
#include "image/image.h"
#include "io/json.h"
#include "models/model.h"
#include "peft/peft.h"
#include "train/runcfg.h"

static const char *const ARCHS[] = {"gpt2",        "llama",      "qwen2", "mistral", "bert", "roberta",
                                    "xlm-roberta", "distilbert", "vit",   "t5",      "mt5",  NULL};

const char *const *ftune_checkpoint_archs(void) {
    return ARCHS;
}

void ftune_init_opts_init(ftune_init_opts *o) {
    if (o)
        *o = (ftune_init_opts){.struct_size = sizeof *o, .seed = 42, .dtype = "f32"};
}

/* A classification / regression head when the config asks for one (num_labels, id2label, problem_type). */
static ft_status init_head(ft_model *m, const char *path, uint64_t seed) {
    const cJSON *j = m->cfg.raw, *nl = cJSON_GetObjectItemCaseSensitive(j, "num_labels");
    const cJSON *i2l = cJSON_GetObjectItemCaseSensitive(j, "id2label"),
                *pt = cJSON_GetObjectItemCaseSensitive(j, "problem_type");
    const bool reg = cJSON_IsString(pt) && !strcmp(pt->valuestring, "regression");
    if (cJSON_IsString(pt) && !reg && strcmp(pt->valuestring, "single_label_classification"))
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "%s: problem_type '%s' is not supported (single_label_classification, "
                       "regression)",
                       path, pt->valuestring);
    int k = cJSON_IsNumber(nl) ? (int)nl->valuedouble : cJSON_IsObject(i2l) ? cJSON_GetArraySize(i2l) : 0;
    if (k <= 0 && !reg)
        return FT_OK;
    char **names = NULL;
    if (cJSON_IsObject(i2l) && cJSON_GetArraySize(i2l) == k && (names = calloc((size_t)k, sizeof *names)))
        for (int i = 0; i < k; i++) {
            char key[32];
            snprintf(key, sizeof key, "%d", i);
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(i2l, key);
            names[i] = cJSON_IsString(v) ? v->valuestring : NULL;
            if (!names[i]) {
                free(names);
                return ft_fail(FT_ERR_CONFIG, "%s: id2label has no string for id %d", path, i);
            }
        }
    const bool tok = ft_config_is_token_cls(j); /* "architectures": ["BertForTokenClassification"] */
    ft_status s = ft_model_set_task(m,
                                    tok   ? FT_TASK_TOKEN_CLS
                                    : reg ? FT_TASK_REGRESSION
                                          : FT_TASK_SEQ_CLS,
                                    k, (const char *const *)names, seed);
    free(names);
    cJSON_DeleteItemFromObjectCaseSensitive(m->cfg.raw, "num_labels"); /* HF keeps it as id2label */
    return s;
}

/* A default ViTImageProcessor preprocessor_config.json for a fresh vit (HF's ViTImageProcessor defaults, the
 * size the config's image_size; image/image.h). */
static ft_status write_preprocessor(const ft_model *m, const char *dir) {
    ft_img_proc p;
    ft_img_proc_default(&p, m->cfg.image_size, m->cfg.num_channels);
    char path[4096];
    return ft_img_proc_save(ft_path_join(path, sizeof path, dir, "preprocessor_config.json"), &p);
}

static void copy_name(char *dst, size_t n, const char *src) {
    snprintf(dst, n, "%s", src ? src : "");
}

ftune_status ftune_checkpoint_init(ftune_ctx *ctx, const ftune_init_opts *o, const char *out_dir,
                                   ftune_model_info *info) {
    if (!ctx)
        return FT_ERR_ARG;
    api_begin(ctx);
    ftune_init_opts u;
    ftune_init_opts_init(&u);
    ft_status s = api_opts(&u, sizeof u, o, sizeof u, "ftune_init_opts");
    if (s != FT_OK)
        return api_end(ctx, s);
    if (!o || !out_dir || !u.arch || (!u.config && !u.config_json))
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_checkpoint_init: options with arch and config (or "
                                                "config_json) and an output directory are required"));
    bool known = false;
    for (size_t i = 0; ARCHS[i]; i++)
        known |= !strcmp(u.arch, ARCHS[i]);
    if (!known)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_checkpoint_init: unknown arch '%s'", u.arch));
    const char *dtype = u.dtype ? u.dtype : "f32";
    if (strcmp(dtype, "bf16") && strcmp(dtype, "f32"))
        return api_end(ctx,
                       ft_fail(FT_ERR_ARG, "ftune_checkpoint_init: dtype '%s' is not f32 or bf16", dtype));
    const ft_dtype dt = !strcmp(dtype, "bf16") ? FT_DT_BF16 : FT_DT_F32;
    char *txt = NULL;
    if (u.config && (s = ft_read_file(u.config, &txt, NULL)) != FT_OK)
        return api_end(ctx, s);
    const char *where = u.config ? u.config : "config_json";
    ft_model_config cfg;
    s = ft_config_from_partial(u.config ? txt : u.config_json, where, u.arch, &cfg);
    free(txt);
    if (s != FT_OK)
        return api_end(ctx, s);
    ft_model *m;
    /* bf16: the model is held in bf16 only (a 7B checkpoint fits in memory), the same bytes are written */
    s = dt == FT_DT_BF16 ? ft_model_init_random_bf16(&cfg, u.seed, &m)
                         : ft_model_init_random(&cfg, u.seed, &m);
    if (s != FT_OK)
        return api_end(ctx, s);
    s = init_head(m, where, u.seed);
    if (s == FT_OK)
        s = ft_model_save(m, out_dir, dt);
    if (s == FT_OK && ft_model_is_vit(m))
        s = write_preprocessor(m, out_dir);
    if (s == FT_OK && info) {
        memset(info, 0, sizeof *info);
        copy_name(info->model_type, sizeof info->model_type, m->cfg.model_type);
        copy_name(info->task, sizeof info->task, ft_runcfg_task_name(m->task));
        copy_name(info->method, sizeof info->method, "full");
        info->n_params = info->n_trainable = ft_model_param_count(m, false);
        info->vocab_size = m->cfg.vocab_size;
        info->hidden_size = m->cfg.hidden;
        info->n_layers = m->cfg.n_layers;
        info->n_heads = m->cfg.n_heads;
        info->max_positions = m->cfg.max_pos;
        info->n_labels = m->task == FT_TASK_SEQ_CLS || m->task == FT_TASK_TOKEN_CLS ? m->n_labels : 0;
    }
    ft_model_free(m);
    return api_end(ctx, s);
}

/* The description `ftune inspect` prints of a loaded checkpoint. */
static void describe(const ft_model *m, const char *dir, bool tensors, FILE *f) {
    const ft_model_config *c = &m->cfg;
    fprintf(f, "model: %s\narchitecture: %s\n", dir, c->model_type);
    fprintf(f,
            "layers %d, hidden %d, heads %d (kv %d, head_dim %d), intermediate %d, vocab %d, positions %d\n",
            c->n_layers, c->hidden, c->n_heads, c->n_kv_heads, c->head_dim, c->intermediate, c->vocab_size,
            c->max_pos);
    if (ft_model_is_vit(m))
        fprintf(f,
                "vit: image %dx%d, patch %d, %d channels (%d positions), pre-LayerNorm blocks, norm eps %g, "
                "q/k/v bias %s; head: %s\n",
                c->image_size, c->image_size, c->patch_size, c->num_channels, c->max_pos, (double)c->norm_eps,
                c->qkv_bias ? "yes" : "no",
                m->task == FT_TASK_SEQ_CLS      ? "image classification"
                : m->task == FT_TASK_REGRESSION ? "regression"
                : m->pool_w >= 0                ? "none (ViTModel, pooler)"
                                                : "none");
    else if (ft_model_is_t5(m))
        fprintf(
            f,
            "encoder-decoder: %d encoder + %d decoder blocks, feed-forward %s (%s), relative positions %d "
            "buckets up to %d, RMS norm eps %g, head: %s, decoder_start_token_id %d, pad_token_id %d\n",
            c->n_layers - c->n_dec_layers, c->n_dec_layers, c->gated_ff ? "gated" : "plain",
            c->act == FT_ACT_RELU        ? "relu"
            : c->act == FT_ACT_SILU      ? "silu"
            : c->act == FT_ACT_GELU_TANH ? "gelu_new"
                                         : "gelu",
            c->rel_buckets, c->rel_max_dist, (double)c->norm_eps,
            c->tie_embeddings ? "tied to shared (input scaled by d_model^-0.5)" : "lm_head",
            c->decoder_start_id, c->pad_token_id);
    else if (ft_model_is_encoder(m))
        fprintf(f,
                "encoder: post-LayerNorm blocks, norm eps %g, token types %d, pad_token_id %d%s; head: %s\n",
                (double)c->norm_eps, c->type_vocab_size, c->pad_token_id,
                c->enc == FT_ENC_ROBERTA ? " (positions start at pad_token_id + 1)" : "",
                m->task == FT_TASK_SEQ_CLS      ? "sequence classification"
                : m->task == FT_TASK_REGRESSION ? "regression"
                : m->task == FT_TASK_QA         ? "question answering (qa_outputs)"
                : m->task == FT_TASK_TOKEN_CLS  ? "token classification"
                                                : "none");
    else
        fprintf(f, "tied embeddings: %s, norm eps %g%s\n", c->tie_embeddings ? "yes" : "no",
                (double)c->norm_eps, c->arch == FT_ARCH_LLAMA ? "" : " (LayerNorm)");
    if (c->arch == FT_ARCH_LLAMA)
        fprintf(f, "rope_theta %g, q/k/v bias %s, o_proj bias %s, mlp bias %s\n", (double)c->rope_theta,
                c->qkv_bias ? "yes" : "no", c->o_bias ? "yes" : "no", c->mlp_bias ? "yes" : "no");
    int64_t by_dt[8] = {0};
    for (int i = 0; i < m->n_params; i++)
        by_dt[m->params[i].file_dtype] += m->params[i].numel;
    fprintf(f, "parameters: %lld (%.2f M)\n", (long long)ft_model_param_count(m, false),
            (double)ft_model_param_count(m, false) / 1e6);
    for (int d = 0; d < 8; d++)
        if (by_dt[d])
            fprintf(f, "  %s: %lld\n", ft_dtype_name((ft_dtype)d), (long long)by_dt[d]);
    fprintf(f, "files: %zu tensors, %.2f MB on disk\n", ft_st_set_count(m->st),
            (double)ft_st_set_total_bytes(m->st) / 1e6);
    if (tensors) {
        for (size_t i = 0; i < ft_st_set_count(m->st); i++) {
            const ft_st_tensor *t = ft_st_set_at(m->st, i);
            fprintf(f, "  %-60s %-5s [", t->name, ft_dtype_name(t->dtype));
            for (int d = 0; d < t->ndim; d++)
                fprintf(f, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
            char full[600];
            snprintf(full, sizeof full, "transformer.%s", t->name);
            bool used = ft_model_find_param(m, t->name) >= 0 || ft_model_tensor_used(m, t->name) ||
                        (m->cfg.arch == FT_ARCH_GPT2 && ft_model_find_param(m, full) >= 0);
            fprintf(f, "]%s\n", used ? "" : "  (not used by the model)");
        }
    }
}

ftune_status ftune_checkpoint_inspect(ftune_ctx *ctx, const char *dir, int tensors, char **report) {
    if (!ctx)
        return FT_ERR_ARG;
    api_begin(ctx);
    if (report)
        *report = NULL;
    if (!dir || !report)
        return api_end(ctx,
                       ft_fail(FT_ERR_ARG, "ftune_checkpoint_inspect: a directory and a report pointer are "
                                           "required"));
    ft_model *m;
    ft_status s = ft_model_load(dir, &m);
    if (s != FT_OK)
        return api_end(ctx, s);
    size_t len = 0;
    FILE *f = open_memstream(report, &len);
    if (!f)
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    else {
        describe(m, dir, tensors != 0, f);
        if (fclose(f) != 0) {
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
            free(*report);
            *report = NULL;
        }
    }
    ft_model_free(m);
    return api_end(ctx, s);
}

ftune_status ftune_checkpoint_dump(ftune_ctx *ctx, const char *model_dir, const char *adapter_dir,
                                   const char *batch_json, const char *out, double *loss_out,
                                   int64_t *n_targets) {
    if (!ctx)
        return FT_ERR_ARG;
    api_begin(ctx);
    if (!model_dir || !batch_json || !out)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_checkpoint_dump: model_dir, batch_json and out are "
                                                "required"));
    const char *model = model_dir, *batch = batch_json, *outp = out, *adapter = adapter_dir;
    ft_model *m = NULL;
    ft_batch b = {0};
    ft_arena arena = {0};
    ft_st_writer *w = NULL;
    ft_status s = ft_model_load(model, &m);
    if (s == FT_OK)
        s = ft_batch_load_json_seq2seq(batch, ft_model_is_t5(m), &b);
    if (s == FT_OK && adapter)
        s = ft_peft_load(m, adapter);
    for (int i = 0; s == FT_OK && !adapter && i < m->n_params; i++)
        s = ft_model_set_trainable(m, i, true);
    if (s == FT_OK)
        s = ft_arena_init(
            &arena, ft_model_act_bytes(
                        m, b.B, b.pixel_values || ft_model_is_t5(m) ? ft_model_batch_seq_len(m, &b) : b.T) +
                        (1u << 20));
    ft_acts *a = NULL;
    double loss = 0;
    int64_t cnt;
    ft_fwd_opts o = {.keep_logits = true, .fused_head = true};
    if (s == FT_OK)
        s = ft_model_forward(m, &b, &o, &arena, &a, &loss, &cnt);
    if (s == FT_OK)
        s = ft_model_backward(m, a, &arena, 1.0f);
    float loss_f = (float)loss;
    char **names = NULL;
    if (s == FT_OK) {
        w = ft_st_writer_new();
        names = calloc((size_t)m->n_params, sizeof *names);
        if (!w || !names)
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    if (s == FT_OK) {
        int64_t rows, cols, one = 1;
        const float *lg = ft_acts_logits(a, &rows, &cols);
        int64_t lshape[3] = {b.B, ft_acts_seq_len(a), cols}, hshape[2] = {b.B, cols};
        if (m->task == FT_TASK_CAUSAL_LM || m->task == FT_TASK_QA || m->task == FT_TASK_TOKEN_CLS ||
            m->task == FT_TASK_MASKED_LM)
            s = ft_st_writer_add(w, "logits", FT_DT_F32, 3, lshape, lg);
        else
            s = ft_st_writer_add(w, "logits", FT_DT_F32, 2, hshape, lg);
        if (s == FT_OK)
            s = ft_st_writer_add(w, "loss", FT_DT_F32, 1, &one, &loss_f);
        for (int i = 0; s == FT_OK && i < m->n_params; i++) {
            const ft_param *p = &m->params[i];
            if (!p->trainable)
                continue;
            char tn[512];
            if (adapter)
                ft_peft_tensor_name(m, i, tn, sizeof tn);
            else
                snprintf(tn, sizeof tn, "%s", p->name);
            size_t n = strlen(tn) + 6;
            names[i] = malloc(n);
            if (!names[i]) {
                s = ft_fail(FT_ERR_NOMEM, "out of memory");
                break;
            }
            snprintf(names[i], n, "grad.%s", tn);
            s = ft_st_writer_add(w, names[i], FT_DT_F32, p->ndim, p->shape, p->grad);
        }
        if (s == FT_OK)
            s = ft_st_writer_write(w, outp);
    }
    if (s == FT_OK && loss_out)
        *loss_out = loss;
    if (s == FT_OK && n_targets)
        *n_targets = cnt;
    for (int i = 0; names && i < m->n_params; i++)
        free(names[i]);
    free(names);
    ft_st_writer_free(w);
    ft_arena_free(&arena);
    ft_batch_free(&b);
    ft_model_free(m);
    return api_end(ctx, s);
}

ftune_status ftune_checkpoint_merge(ftune_ctx *ctx, const char *model_dir, const char *adapter_dir,
                                    const char *out_dir, const char *dtype) {
    if (!ctx)
        return FT_ERR_ARG;
    api_begin(ctx);
    if (!model_dir || !adapter_dir || !out_dir)
        return api_end(ctx,
                       ft_fail(FT_ERR_ARG, "ftune_checkpoint_merge: model_dir, adapter_dir and out_dir are "
                                           "required"));
    ft_dtype dt = FT_DT_F32;
    if (dtype && ft_save_dtype_parse(dtype, &dt) != FT_OK)
        return api_end(
            ctx, ft_fail(FT_ERR_ARG, "ftune_checkpoint_merge: dtype '%s' is not f32, bf16 or int8", dtype));
    ft_model *m = NULL;
    ft_status s = ft_model_load(model_dir, &m);
    if (s == FT_OK)
        s = ft_peft_load(m, adapter_dir);
    if (s == FT_OK)
        s = ft_peft_merge(m);
    if (s == FT_OK)
        s = ft_model_save(m, out_dir, dt);
    ft_model_free(m);
    return api_end(ctx, s);
}
