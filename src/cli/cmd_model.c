/* ftune init / inspect / dump */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "data/pretok.h"
#include "image/image.h"
#include "io/json.h"
#include "models/model.h"
#include "peft/peft.h"

static const char *INIT_USAGE =
    "usage: ftune init --arch ARCH --config small.json --out DIR [--seed N] [--dtype f32|bf16]\n"
    "       ARCH: gpt2, llama, qwen2, mistral, bert, roberta, xlm-roberta, distilbert, vit, t5, mt5\n"
    "\n"
    "Writes a randomly initialized model in exact Hugging Face layout: DIR/config.json + "
    "DIR/model.safetensors.\n"
    "small.json holds HF config fields (e.g. {\"n_embd\": 64, \"n_layer\": 2, ...}); missing optional fields "
    "get\n"
    "the architecture's defaults. Weights ~ N(0, initializer_range), norms 1, biases 0 (GPT-2 residual\n"
    "projections scaled by 1/sqrt(2*n_layer); an encoder's padding rows 0), as transformers initializes\n"
    "them. With \"num_labels\": K (or \"id2label\") in small.json the model gets a sequence-classification\n"
    "head under its HF names (score.weight; encoders classifier.*, RoBERTa classifier.dense/out_proj,\n"
    "DistilBERT pre_classifier + classifier); \"problem_type\": \"regression\" makes it a regression head;\n"
    "an encoder with \"architectures\": [\"BertForTokenClassification\"] (Roberta/XLMRoberta/DistilBert...) "
    "gets a\n"
    "token-classification head (classifier.weight/bias on every token; BERT then has no pooler).\n"
    "vit (image_size, patch_size, num_channels, hidden_size, ...): a ViTModel (with its pooler), or with\n"
    "num_labels a ViTForImageClassification (classifier on [CLS], no pooler); DIR also gets a\n"
    "preprocessor_config.json (ViTImageProcessor: resize to image_size, rescale 1/255, mean = std = 0.5).\n"
    "t5 / mt5 (d_model, d_kv, d_ff, num_layers, num_decoder_layers, num_heads, vocab_size,\n"
    "relative_attention_num_buckets, relative_attention_max_distance, feed_forward_proj relu | gated-gelu |\n"
    "gated-silu, tie_word_embeddings): a T5ForConditionalGeneration, initialized as HF's T5 "
    "(initializer_factor).\n"
    "  --seed N        RNG seed (default 42)\n"
    "  --dtype f32|bf16  stored weight dtype (default f32); bf16 holds the model in bf16 only while "
    "writing,\n"
    "                  so a 7B checkpoint (13.5 GB, written as 5 GiB shards + model.safetensors.index.json)\n"
    "                  needs about 14 GiB of memory\n";

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

int ft_cmd_init(int argc, char **argv) {
    const char *arch = NULL, *config = NULL, *outdir = NULL, *dtype = "f32";
    long seed = 42;
    bool help;
    ft_opt opts[] = {{"arch", FT_OPT_STR, &arch},
                     {"config", FT_OPT_STR, &config},
                     {"out", FT_OPT_STR, &outdir},
                     {"seed", FT_OPT_INT, &seed},
                     {"dtype", FT_OPT_STR, &dtype}};
    int rc = ft_cli_parse("init", argc, argv, opts, 5, INIT_USAGE, NULL, 0, NULL, &help);
    if (rc || help)
        return rc;
    if (!arch || !config || !outdir) {
        fprintf(stderr, "ftune init: --arch, --config and --out are required\n%s", INIT_USAGE);
        return 2;
    }
    static const char *archs[] = {"gpt2",        "llama",      "qwen2", "mistral", "bert", "roberta",
                                  "xlm-roberta", "distilbert", "vit",   "t5",      "mt5"};
    bool known = false;
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
        known |= !strcmp(arch, archs[i]);
    if (!known) {
        fprintf(stderr,
                "ftune init: unknown --arch '%s' (gpt2, llama, qwen2, mistral, bert, roberta, xlm-roberta, "
                "distilbert, vit, t5, mt5)\n",
                arch);
        return 2;
    }
    ft_dtype dt = !strcmp(dtype, "bf16") ? FT_DT_BF16 : FT_DT_F32;
    if (strcmp(dtype, "bf16") && strcmp(dtype, "f32")) {
        fprintf(stderr, "ftune init: --dtype must be f32 or bf16\n");
        return 2;
    }
    char *txt;
    ft_status s = ft_read_file(config, &txt, NULL);
    if (s != FT_OK)
        return ft_cli_fail("init", s);
    ft_model_config cfg;
    s = ft_config_from_partial(txt, config, arch, &cfg);
    free(txt);
    if (s != FT_OK)
        return ft_cli_fail("init", s);
    ft_model *m;
    /* bf16: the model is held in bf16 only (a 7B checkpoint fits in memory), the same bytes are written */
    s = dt == FT_DT_BF16 ? ft_model_init_random_bf16(&cfg, (uint64_t)seed, &m)
                         : ft_model_init_random(&cfg, (uint64_t)seed, &m);
    if (s == FT_OK)
        s = init_head(m, config, (uint64_t)seed);
    if (s == FT_OK) {
        s = ft_model_save(m, outdir, dt);
        if (s == FT_OK && ft_model_is_vit(m))
            s = write_preprocessor(m, outdir);
        if (s == FT_OK)
            printf("wrote %s: %s, %lld parameters\n", outdir, m->cfg.model_type,
                   (long long)ft_model_param_count(m, false));
        ft_model_free(m);
    }
    return s == FT_OK ? 0 : ft_cli_fail("init", s);
}

static const char *INSPECT_USAGE =
    "usage: ftune inspect DIR [--tensors]\n"
    "\n"
    "Prints the architecture, parameter count, dtypes and file sizes of a Hugging Face checkpoint\n"
    "(config.json + model.safetensors or sharded model-*.safetensors); --tensors lists every tensor.\n";

int ft_cmd_inspect(int argc, char **argv) {
    bool help, tensors = false;
    const char *pos[1];
    int npos;
    ft_opt opts[] = {{"tensors", FT_OPT_FLAG, &tensors}};
    int rc = ft_cli_parse("inspect", argc, argv, opts, 1, INSPECT_USAGE, pos, 1, &npos, &help);
    if (rc || help)
        return rc;
    if (npos != 1) {
        fprintf(stderr, "%s", INSPECT_USAGE);
        return 2;
    }
    ft_model *m;
    ft_status s = ft_model_load(pos[0], &m);
    if (s != FT_OK)
        return ft_cli_fail("inspect", s);
    const ft_model_config *c = &m->cfg;
    printf("model: %s\narchitecture: %s\n", pos[0], c->model_type);
    printf("layers %d, hidden %d, heads %d (kv %d, head_dim %d), intermediate %d, vocab %d, positions %d\n",
           c->n_layers, c->hidden, c->n_heads, c->n_kv_heads, c->head_dim, c->intermediate, c->vocab_size,
           c->max_pos);
    if (ft_model_is_vit(m))
        printf("vit: image %dx%d, patch %d, %d channels (%d positions), pre-LayerNorm blocks, norm eps %g, "
               "q/k/v bias %s; head: %s\n",
               c->image_size, c->image_size, c->patch_size, c->num_channels, c->max_pos, (double)c->norm_eps,
               c->qkv_bias ? "yes" : "no",
               m->task == FT_TASK_SEQ_CLS      ? "image classification"
               : m->task == FT_TASK_REGRESSION ? "regression"
               : m->pool_w >= 0                ? "none (ViTModel, pooler)"
                                               : "none");
    else if (ft_model_is_t5(m))
        printf("encoder-decoder: %d encoder + %d decoder blocks, feed-forward %s (%s), relative positions %d "
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
        printf("encoder: post-LayerNorm blocks, norm eps %g, token types %d, pad_token_id %d%s; head: %s\n",
               (double)c->norm_eps, c->type_vocab_size, c->pad_token_id,
               c->enc == FT_ENC_ROBERTA ? " (positions start at pad_token_id + 1)" : "",
               m->task == FT_TASK_SEQ_CLS      ? "sequence classification"
               : m->task == FT_TASK_REGRESSION ? "regression"
               : m->task == FT_TASK_QA         ? "question answering (qa_outputs)"
               : m->task == FT_TASK_TOKEN_CLS  ? "token classification"
                                               : "none");
    else
        printf("tied embeddings: %s, norm eps %g%s\n", c->tie_embeddings ? "yes" : "no", (double)c->norm_eps,
               c->arch == FT_ARCH_LLAMA ? "" : " (LayerNorm)");
    if (c->arch == FT_ARCH_LLAMA)
        printf("rope_theta %g, q/k/v bias %s, o_proj bias %s, mlp bias %s\n", (double)c->rope_theta,
               c->qkv_bias ? "yes" : "no", c->o_bias ? "yes" : "no", c->mlp_bias ? "yes" : "no");
    int64_t by_dt[8] = {0};
    for (int i = 0; i < m->n_params; i++)
        by_dt[m->params[i].file_dtype] += m->params[i].numel;
    printf("parameters: %lld (%.2f M)\n", (long long)ft_model_param_count(m, false),
           (double)ft_model_param_count(m, false) / 1e6);
    for (int d = 0; d < 8; d++)
        if (by_dt[d])
            printf("  %s: %lld\n", ft_dtype_name((ft_dtype)d), (long long)by_dt[d]);
    printf("files: %zu tensors, %.2f MB on disk\n", ft_st_set_count(m->st),
           (double)ft_st_set_total_bytes(m->st) / 1e6);
    if (tensors) {
        for (size_t i = 0; i < ft_st_set_count(m->st); i++) {
            const ft_st_tensor *t = ft_st_set_at(m->st, i);
            printf("  %-60s %-5s [", t->name, ft_dtype_name(t->dtype));
            for (int d = 0; d < t->ndim; d++)
                printf("%s%lld", d ? ", " : "", (long long)t->shape[d]);
            char full[600];
            snprintf(full, sizeof full, "transformer.%s", t->name);
            bool used = ft_model_find_param(m, t->name) >= 0 || ft_model_tensor_used(m, t->name) ||
                        (m->cfg.arch == FT_ARCH_GPT2 && ft_model_find_param(m, full) >= 0);
            printf("]%s\n", used ? "" : "  (not used by the model)");
        }
    }
    ft_model_free(m);
    return 0;
}

static const char *DUMP_USAGE =
    "usage: ftune dump --model DIR [--adapter ADIR] --batch batch.json --out out.safetensors\n"
    "\n"
    "Runs one forward and backward pass (dropout off) on batch.json =\n"
    "{\"input_ids\": [[...], ...], \"attention_mask\": [[...], ...], \"labels\": [[...], ...]} (mask and "
    "labels\n"
    "optional; labels default to input_ids, shifted inside the loss, -100 ignored) and writes F32 tensors\n"
    "'logits' [B, T, V], 'loss' [1] and 'grad.<HF name>' for every trainable tensor in its HF shape.\n"
    "Without --adapter every parameter trains (full fine-tuning). With --adapter ADIR (a PEFT adapter:\n"
    "adapter_config.json + adapter_model.safetensors) the base is frozen and the gradients are those of\n"
    "the adapter's tensors, under their names in adapter_model.safetensors; with prompt tuning the\n"
    "logits cover the virtual tokens too ([B, n_virtual + T, V]). A classification model's logits are\n"
    "[B, num_labels] (batch.json then needs \"cls_labels\": [...] or \"targets\": [...]); a question-\n"
    "answering model's [B, T, 2] (start, end; batch.json needs \"start_positions\", \"end_positions\"). An\n"
    "encoder (bert, roberta, xlm-roberta, distilbert) also takes \"token_type_ids\": [[...], ...] (default "
    "all 0).\n"
    "A token classifier's labels are \"labels\": [[...], ...] [B][T] (class ids, -100 ignored, not "
    "shifted);\n"
    "its logits are [B, T, num_labels].\n"
    "A vit image classifier takes \"pixel_values\": [B][C][H][W] floats (already preprocessed, "
    "channel-first)\n"
    "instead of input_ids, with \"cls_labels\" (or \"targets\" for regression); an image size other than "
    "the\n"
    "config's image_size resizes the position embeddings bicubically (HF interpolate_pos_encoding=True).\n"
    "A masked-LM encoder (a checkpoint with its *ForMaskedLM head) needs \"labels\": [[...], ...], the ids\n"
    "at the masked positions and -100 elsewhere (not shifted; input_ids already masked), and its logits are\n"
    "[B, T, V].\n"
    "A t5 / mt5 encoder-decoder takes input_ids / attention_mask for the encoder, \"labels\": [B][T_dec] "
    "(-100\n"
    "ignored, not shifted) and optionally \"decoder_input_ids\" [B][T_dec] (else the labels shifted right "
    "after\n"
    "decoder_start_token_id, -100 -> pad_token_id, as HF) and \"decoder_attention_mask\"; its logits are\n"
    "[B, T_dec, V].\n";

int ft_cmd_dump(int argc, char **argv) {
    const char *model = NULL, *batch = NULL, *outp = NULL, *adapter = NULL;
    bool help;
    ft_opt opts[] = {{"model", FT_OPT_STR, &model},
                     {"batch", FT_OPT_STR, &batch},
                     {"out", FT_OPT_STR, &outp},
                     {"adapter", FT_OPT_STR, &adapter}};
    int rc = ft_cli_parse("dump", argc, argv, opts, 4, DUMP_USAGE, NULL, 0, NULL, &help);
    if (rc || help)
        return rc;
    if (!model || !batch || !outp) {
        fprintf(stderr, "ftune dump: --model, --batch and --out are required\n%s", DUMP_USAGE);
        return 2;
    }
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
    if (s == FT_OK)
        printf("loss %.6f over %lld targets; wrote %s\n", loss, (long long)cnt, outp);
    for (int i = 0; names && i < m->n_params; i++)
        free(names[i]);
    free(names);
    ft_st_writer_free(w);
    ft_arena_free(&arena);
    ft_batch_free(&b);
    ft_model_free(m);
    return s == FT_OK ? 0 : ft_cli_fail("dump", s);
}

static const char *MERGE_USAGE =
    "usage: ftune merge --model DIR --adapter ADIR --out DIR [--dtype f32|bf16]\n"
    "\n"
    "Folds a LoRA (DoRA included) or IA3 adapter (PEFT format) into the base weights and writes a plain HF\n"
    "checkpoint (config.json + model.safetensors): inference then costs exactly what the base model costs.\n"
    "BitFit adapters merge too (their biases replace the base's). Prompt tuning and bottleneck adapters\n"
    "add computation and cannot be merged.\n";

int ft_cmd_merge(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *outdir = NULL, *dtype = "f32";
    bool help;
    ft_opt opts[] = {{"model", FT_OPT_STR, &model},
                     {"adapter", FT_OPT_STR, &adapter},
                     {"out", FT_OPT_STR, &outdir},
                     {"dtype", FT_OPT_STR, &dtype}};
    int rc = ft_cli_parse("merge", argc, argv, opts, 4, MERGE_USAGE, NULL, 0, NULL, &help);
    if (rc || help)
        return rc;
    if (!model || !adapter || !outdir) {
        fprintf(stderr, "ftune merge: --model, --adapter and --out are required\n%s", MERGE_USAGE);
        return 2;
    }
    if (strcmp(dtype, "f32") && strcmp(dtype, "bf16")) {
        fprintf(stderr, "ftune merge: --dtype must be f32 or bf16\n");
        return 2;
    }
    ft_model *m = NULL;
    ft_status s = ft_model_load(model, &m);
    if (s == FT_OK)
        s = ft_peft_load(m, adapter);
    if (s == FT_OK)
        s = ft_peft_merge(m);
    if (s == FT_OK)
        s = ft_model_save(m, outdir, strcmp(dtype, "bf16") ? FT_DT_F32 : FT_DT_BF16);
    if (s == FT_OK)
        printf("merged %s into %s: wrote %s\n", adapter, model, outdir);
    ft_model_free(m);
    return s == FT_OK ? 0 : ft_cli_fail("merge", s);
}
