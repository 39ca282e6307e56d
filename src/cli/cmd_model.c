/* ftune init / inspect / dump / merge: the checkpoint tools of the public API (ftune_checkpoint_*). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

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
    const char *const *archs = ftune_checkpoint_archs();
    bool known = false;
    char list[256] = "";
    for (size_t i = 0; archs[i]; i++) {
        known |= !strcmp(arch, archs[i]);
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", archs[i]);
    }
    if (!known) {
        fprintf(stderr, "ftune init: unknown --arch '%s' (%s)\n", arch, list);
        return 2;
    }
    if (strcmp(dtype, "bf16") && strcmp(dtype, "f32")) {
        fprintf(stderr, "ftune init: --dtype must be f32 or bf16\n");
        return 2;
    }
    ftune_ctx *ctx = ft_cli_ctx("init", 0);
    if (!ctx)
        return 1;
    ftune_init_opts o;
    ftune_init_opts_init(&o);
    o.arch = arch;
    o.config = config;
    o.seed = (uint64_t)seed;
    o.dtype = dtype;
    ftune_model_info info;
    rc = ftune_checkpoint_init(ctx, &o, outdir, &info) == FT_OK ? 0 : ft_cli_fail_ctx("init", ctx);
    if (rc == 0)
        printf("wrote %s: %s, %lld parameters\n", outdir, info.model_type, (long long)info.n_params);
    ftune_ctx_free(ctx);
    return rc;
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
    ftune_ctx *ctx = ft_cli_ctx("inspect", 0);
    if (!ctx)
        return 1;
    char *report = NULL;
    rc = ftune_checkpoint_inspect(ctx, pos[0], tensors, &report) == FT_OK ? 0
                                                                          : ft_cli_fail_ctx("inspect", ctx);
    if (rc == 0)
        printf("%s", report);
    ftune_free(report);
    ftune_ctx_free(ctx);
    return rc;
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
    ftune_ctx *ctx = ft_cli_ctx("dump", 0);
    if (!ctx)
        return 1;
    double loss = 0;
    int64_t cnt = 0;
    rc = ftune_checkpoint_dump(ctx, model, adapter, batch, outp, &loss, &cnt) == FT_OK
             ? 0
             : ft_cli_fail_ctx("dump", ctx);
    if (rc == 0)
        printf("loss %.6f over %lld targets; wrote %s\n", loss, (long long)cnt, outp);
    ftune_ctx_free(ctx);
    return rc;
}

static const char *MERGE_USAGE =
    "usage: ftune merge --model DIR --adapter ADIR --out DIR [--dtype f32|bf16|int8]\n"
    "\n"
    "Folds a LoRA (DoRA included) or IA3 adapter (PEFT format) into the base weights and writes a plain HF\n"
    "checkpoint (config.json + model.safetensors): inference then costs exactly what the base model costs.\n"
    "BitFit adapters merge too (their biases replace the base's). Prompt tuning and bottleneck adapters\n"
    "add computation and cannot be merged.\n"
    "--dtype int8 (GPT-2, Llama family): the merged attention/MLP projections quantized per output row (I8\n"
    "with F32 '<name>_scale'), the rest bf16: what train.base_dtype auto/int8 then maps in place\n"
    "(docs/big-models.md). A base saved as int8 is read back dequantized, so it merges too.\n";

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
    if (strcmp(dtype, "f32") && strcmp(dtype, "bf16") && strcmp(dtype, "int8")) {
        fprintf(stderr, "ftune merge: --dtype must be f32, bf16 or int8\n");
        return 2;
    }
    ftune_ctx *ctx = ft_cli_ctx("merge", 0);
    if (!ctx)
        return 1;
    rc = ftune_checkpoint_merge(ctx, model, adapter, outdir, dtype) == FT_OK ? 0
                                                                             : ft_cli_fail_ctx("merge", ctx);
    if (rc == 0)
        printf("merged %s into %s: wrote %s\n", adapter, model, outdir);
    ftune_ctx_free(ctx);
    return rc;
}
