/* bench/train_step: training tokens/s and peak RSS of one full training step (forward, backward,
 * clipping, AdamW) at a model shape, on random weights and tokens. Median of the timed steps.
 * --checkpoint: activation checkpointing (the arena is sized for it, so the RSS shows the saving). */
#include <dirent.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "models/model.h"
#include "models/stream.h"
#include "peft/peft.h"
#include "train/optim.h"
#include "train/trainer.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The GEMM peak this run is measured against: the fastest of 15 products at the GPT-2 MLP shape
 * [512, 768]·[768, 3072] (fp32 ft_gemm or the bf16 handle), in GFLOP/s: what the library reaches at a
 * training shape when nothing else runs (the fastest, not the median, so that a neighbour's load
 * during the measurement does not inflate the fraction). */
static double gemm_peak(bool bf16, ft_matmul *mm) {
    const int64_t M = 512, N = 3072, K = 768;
    float *a = calloc((size_t)(M * K), sizeof(float)), *b = calloc((size_t)(K * N), sizeof(float));
    float *c = calloc((size_t)(M * N), sizeof(float));
    uint16_t *a16 = calloc((size_t)(M * K), 2), *b16 = calloc((size_t)(K * N), 2);
    double t[16];
    for (int i = 0; i < 16; i++) {
        double t0 = ft_now();
        if (bf16)
            (void)ft_matmul_bf16(mm, false, false, M, N, K, 1.0f, a16, K, b16, N, 0.0f, c, N);
        else
            ft_gemm(false, false, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
        t[i] = ft_now() - t0;
    }
    qsort(t + 1, 15, sizeof *t, cmp_d); /* t[0] is the warm-up (primitive creation) */
    free(a), free(b), free(c), free(a16), free(b16);
    return 2.0 * (double)M * (double)N * (double)K / t[1] / 1e9;
}

/* The int8 × int8 → int32 rate of the same product (train.int8_matmul's GEMMs), GOP/s. */
static double gemm_peak_s8(ft_matmul *mm) {
    const int64_t M = 512, N = 3072, K = 768;
    int8_t *a = calloc((size_t)(M * K), 1), *b = calloc((size_t)(K * N), 1);
    int32_t *c = calloc((size_t)(M * N), sizeof(int32_t));
    double t[16];
    for (int i = 0; i < 16; i++) {
        double t0 = ft_now();
        (void)ft_matmul_s8(mm, false, M, N, K, a, K, b, N, c, N);
        t[i] = ft_now() - t0;
    }
    qsort(t + 1, 15, sizeof *t, cmp_d);
    free(a), free(b), free(c);
    return 2.0 * (double)M * (double)N * (double)K / t[1] / 1e9;
}

int main(int argc, char **argv) {
    const char *shape = "gpt2", *method = "full", *precision = "fp32", *base_dtype = NULL, *model_dir = NULL,
               *targets = NULL;
    int lora_r = 8;
    int B = 4, T = 128, T_dec = 32, steps = 5, warmup = 1, threads = 2;
    bool from_file = true;
    bool ckpt = false, no_prefetch = false, int8_mm = false, stream = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shape") && i + 1 < argc)
            shape = argv[++i];
        else if (!strcmp(argv[i], "--method") && i + 1 < argc)
            method = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seq") && i + 1 < argc)
            T = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dec-seq") && i + 1 < argc)
            T_dec = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
            warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc)
            precision = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model_dir = argv[++i];
        else if (!strcmp(argv[i], "--targets") && i + 1 < argc)
            targets = argv[++i];
        else if (!strcmp(argv[i], "--lora-r") && i + 1 < argc)
            lora_r = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--base-dtype") && i + 1 < argc)
            base_dtype = argv[++i];
        else if (!strcmp(argv[i], "--in-memory"))
            from_file = false;
        else if (!strcmp(argv[i], "--checkpoint"))
            ckpt = true;
        else if (!strcmp(argv[i], "--no-prefetch"))
            no_prefetch = true;
        else if (!strcmp(argv[i], "--int8-matmul"))
            int8_mm = true;
        else if (!strcmp(argv[i], "--stream"))
            stream = true;
        else {
            fprintf(
                stderr,
                "usage: train_step [--shape "
                "gpt2|smollm2|bert-base|vit-base|t5-small|llama-7b|mistral-7b|tiny] "
                "[--method full|lora|ia3|bitfit|adapter|prompt] [--batch 4] [--seq 128]\n"
                "                  [--dec-seq 32] [--steps 5] [--warmup 1] [--threads 2] [--precision "
                "fp32|bf16] "
                "[--checkpoint]\n"
                "                  [--in-memory] [--base-dtype fp32|file|int8] [--model DIR] [--targets "
                "q_proj,v_proj]\n"
                "                  [--lora-r 8] [--no-prefetch] [--int8-matmul] [--stream]\n"
                "--stream: train.stream_base: the mapped base's layers read ahead into two slots by a "
                "reader\n"
                "thread (pread, O_DIRECT) instead of faulted in from the mapping (bench/prefetch_tight.sh).\n"
                "--int8-matmul: with --base-dtype int8 (or an int8 checkpoint), train.int8_matmul: the "
                "base's\n"
                "products as int8 x int8 (VNNI/AMX-INT8).\n"
                "--no-prefetch: no madvise(WILLNEED) of the next layer's mapped weights (to measure what it\n"
                "gains when the page cache cannot hold the base: bench/prefetch_tight.sh).\n"
                "--base-dtype: the checkpoint is written in bf16 (initialized in bf16: a 7B shape never "
                "exists in\n"
                "fp32) and loaded with train.base_dtype fp32 (converted) or file (used in place, widened "
                "inside\n"
                "the products). --model DIR: train that checkpoint instead (e.g. one written by ftune init\n"
                "--dtype bf16; --shape is then only the label). Shapes llama-7b (Llama-2-7B) and mistral-7b\n"
                "(GQA 32/8, 14336 MLP) are meant for --base-dtype file --method lora --checkpoint.\n"
                "The random model is written to a temporary checkpoint and loaded back (mmapped), as\n"
                "`ftune train` loads a real one; --in-memory trains the in-memory init instead.\n"
                "--checkpoint turns on activation checkpointing. vit-base: ViTForImageClassification\n"
                "(1000 classes) on --batch images of 224x224 (197 tokens each; --seq is ignored).\n"
                "t5-small: T5ForConditionalGeneration (60.5M, relu, tied head) on --batch sources of --seq\n"
                "tokens with targets of --dec-seq tokens; tokens/s counts both (B x (seq + dec-seq)).\n");
            return 2;
        }
    }
    ft_precision prec;
    if (ft_precision_parse(precision, &prec) != FT_OK) {
        fprintf(stderr, "train_step: %s\n", ft_last_error());
        return 2;
    }
    ft_peft_cfg pc;
    ft_peft_cfg_default(&pc);
    if (ft_method_parse(method, &pc.method) != FT_OK) {
        fprintf(stderr, "train_step: %s\n", ft_last_error());
        return 2;
    }
    omp_set_num_threads(threads);
    const char *cfg_txt;
    if (!strcmp(shape, "gpt2"))
        cfg_txt = "{\"model_type\": \"gpt2\", \"vocab_size\": 50257, \"n_embd\": 768, \"n_layer\": 12, \"n_head\": 12,"
                  " \"n_positions\": 1024, \"resid_pdrop\": 0.0, \"embd_pdrop\": 0.0, \"attn_pdrop\": 0.0}";
    else if (!strcmp(shape, "smollm2"))
        cfg_txt = "{\"model_type\": \"llama\", \"vocab_size\": 49152, \"hidden_size\": 576, \"intermediate_size\": 1536,"
                  " \"num_hidden_layers\": 30, \"num_attention_heads\": 9, \"num_key_value_heads\": 3,"
                  " \"max_position_embeddings\": 2048, \"tie_word_embeddings\": true, \"rms_norm_eps\": 1e-5,"
                  " \"rope_theta\": 100000}";
    else if (!strcmp(shape,
                     "bert-base")) /* BertForSequenceClassification, 2 labels; dropout off as the others */
        cfg_txt =
            "{\"model_type\": \"bert\", \"vocab_size\": 30522, \"hidden_size\": 768, \"num_hidden_layers\": "
            "12,"
            " \"num_attention_heads\": 12, \"intermediate_size\": 3072, \"max_position_embeddings\": 512,"
            " \"type_vocab_size\": 2, \"hidden_act\": \"gelu\", \"layer_norm_eps\": 1e-12,"
            " \"hidden_dropout_prob\": 0.0, \"attention_probs_dropout_prob\": 0.0}";
    else if (!strcmp(shape, "vit-base")) /* google/vit-base-patch16-224's shape, dropout off */
        cfg_txt = "{\"model_type\": \"vit\", \"hidden_size\": 768, \"num_hidden_layers\": 12, \"num_attention_heads\": 12,"
                  " \"intermediate_size\": 3072, \"image_size\": 224, \"patch_size\": 16, \"num_channels\": 3}";
    else if (!strcmp(shape, "t5-small")) /* google-t5/t5-small's shape (v1.0: relu, tied), dropout off */
        cfg_txt = "{\"model_type\": \"t5\", \"vocab_size\": 32128, \"d_model\": 512, \"d_kv\": 64, \"d_ff\": 2048,"
                  " \"num_layers\": 6, \"num_decoder_layers\": 6, \"num_heads\": 8,"
                  " \"relative_attention_num_buckets\": 32, \"relative_attention_max_distance\": 128,"
                  " \"feed_forward_proj\": \"relu\", \"dropout_rate\": 0.0, \"tie_word_embeddings\": true,"
                  " \"decoder_start_token_id\": 0, \"pad_token_id\": 0, \"eos_token_id\": 1}";
    else if (!strcmp(shape, "llama-7b")) /* meta-llama/Llama-2-7b-hf's shape */
        cfg_txt =
            "{\"model_type\": \"llama\", \"vocab_size\": 32000, \"hidden_size\": 4096, "
            "\"intermediate_size\": 11008,"
            " \"num_hidden_layers\": 32, \"num_attention_heads\": 32, \"num_key_value_heads\": 32,"
            " \"max_position_embeddings\": 4096, \"tie_word_embeddings\": false, \"rms_norm_eps\": 1e-5}";
    else if (!strcmp(shape, "mistral-7b")) /* mistralai/Mistral-7B-v0.1's shape (GQA) */
        cfg_txt =
            "{\"model_type\": \"mistral\", \"vocab_size\": 32000, \"hidden_size\": 4096, "
            "\"intermediate_size\": 14336,"
            " \"num_hidden_layers\": 32, \"num_attention_heads\": 32, \"num_key_value_heads\": 8,"
            " \"max_position_embeddings\": 32768, \"tie_word_embeddings\": false, \"rms_norm_eps\": 1e-5,"
            " \"rope_theta\": 1000000, \"sliding_window\": 4096}";
    else if (!strcmp(shape, "tiny"))
        cfg_txt = "{\"model_type\": \"gpt2\", \"vocab_size\": 512, \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4,"
                  " \"n_positions\": 256}";
    else {
        fprintf(stderr, "train_step: unknown shape '%s'\n", shape);
        return 2;
    }
    ft_model_config cfg;
    ft_model *m = NULL;
    ft_base_dtype bd0 = FT_BASE_FP32;
    if (base_dtype && ft_base_dtype_parse(base_dtype, &bd0) != FT_OK) {
        fprintf(stderr, "train_step: %s\n", ft_last_error());
        return 2;
    }
    if (base_dtype && !model_dir && !from_file) {
        fprintf(stderr, "train_step: --base-dtype needs the checkpoint (not --in-memory)\n");
        return 2;
    }
    if (model_dir) { /* an existing checkpoint, loaded as train.base_dtype says (auto when not given) */
        if (ft_model_load_base(model_dir, base_dtype ? bd0 : FT_BASE_AUTO, &m) != FT_OK) {
            fprintf(stderr, "train_step: %s\n", ft_last_error());
            return 1;
        }
        from_file = false;
    } else if (ft_config_parse(cfg_txt, shape, &cfg) != FT_OK ||
               (base_dtype ? ft_model_init_random_bf16(&cfg, 1, &m) : ft_model_init_random(&cfg, 1, &m)) !=
                   FT_OK) {
        fprintf(stderr, "train_step: %s\n", ft_last_error());
        return 1;
    }
    if (from_file) { /* through a checkpoint, as a real run: frozen fp32 weights stay in the file mapping */
        char dir[] = "/tmp/ftune-bench-XXXXXX", path[512];
        const ft_base_dtype bd =
            bd0; /* --base-dtype: the checkpoint in bf16, loaded as train.base_dtype says */
        if (!mkdtemp(dir) || ft_model_save(m, dir, base_dtype ? FT_DT_BF16 : FT_DT_F32) != FT_OK) {
            fprintf(stderr, "train_step: cannot write the temporary checkpoint: %s\n", ft_last_error());
            return 1;
        }
        ft_model_free(m);
        if (ft_model_load_base(dir, bd, &m) != FT_OK) {
            fprintf(stderr, "train_step: %s\n", ft_last_error());
            return 1;
        }
        DIR *d =
            opendir(dir); /* the mapping keeps the data alive: config, the file or the shards and index */
        for (struct dirent *e = d ? readdir(d) : NULL; e; e = readdir(d))
            if (e->d_name[0] != '.' &&
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
                unlink(path);
        if (d)
            closedir(d);
        rmdir(dir);
    }
    const bool vit = !strcmp(shape, "vit-base"), encoder = vit || !strcmp(shape, "bert-base"),
               t5 = !strcmp(shape, "t5-small");
    if (!t5)
        T_dec = 0;
    if (vit)
        T = m->cfg.max_pos; /* 1 + 14² */
    if (encoder && ft_model_set_task(m, FT_TASK_SEQ_CLS, vit ? 1000 : 2, NULL, 1) !=
                       FT_OK) { /* the new head, as `ftune train` */
        fprintf(stderr, "train_step: %s\n", ft_last_error());
        return 1;
    }
    ft_peak_rss_reset(); /* the random init is not part of the figure */
    /* LoRA r=8 (--lora-r) on PEFT's default targets (--targets) (GPT-2 c_attn; Llama q_proj, v_proj; BERT
     * query, value; a new head trains in full as modules_to_save), other methods' defaults */
    pc.lora_r = lora_r;
    if (targets)
        pc.target_modules = targets;
    if (ft_peft_apply(m, &pc) != FT_OK) {
        fprintf(stderr, "train_step: %s\n", ft_last_error());
        return 1;
    }
    if (prec == FT_PREC_BF16 && ft_model_set_precision(m, FT_PREC_BF16) != FT_OK) {
        fprintf(stderr, "train_step: %s\n", ft_last_error());
        return 1;
    }
    if (int8_mm && ft_model_set_int8_matmul(m, true) != FT_OK) {
        fprintf(stderr, "train_step: %s\n", ft_last_error());
        return 1;
    }
    ft_optim_cfg ac;
    ft_optim_cfg_default(&ac);
    ft_optim opt;
    ft_arena arena;
    if (ft_optim_init(&opt, m, &ac) != FT_OK || ft_arena_init(&arena, ft_train_act_bytes(m, B, 0, T > T_dec ? T : T_dec, ckpt, 0.0f) + (1 << 20)) != FT_OK) {
        fprintf(stderr, "train_step: %s\n", ft_last_error());
        return 1;
    }
    int32_t *ids = malloc((size_t)B * (size_t)T * sizeof *ids);
    for (int i = 0; !vit && i < B * T; i++)
        ids[i] = (int32_t)(ft_rng_u64(5, 0, (uint64_t)i) % (uint64_t)m->cfg.vocab_size);
    const int S = m->cfg.image_size, npix = vit ? B * 3 * S * S : 1;
    float *pix = malloc((size_t)npix * sizeof *pix);
    for (int i = 0; vit && i < npix; i++)
        pix[i] = ft_rng_normal(6, 0, (uint64_t)i);
    int32_t *labels = malloc((size_t)B * sizeof *labels);
    for (int i = 0; i < B; i++)
        labels[i] = i % 2;
    int32_t *dec_labels = malloc((size_t)(B * (T_dec > 0 ? T_dec : 1)) * sizeof *dec_labels);
    for (int i = 0; i < B * T_dec; i++) /* random target ids: the decoder's inputs are them shifted right */
        dec_labels[i] = (int32_t)(ft_rng_u64(7, 0, (uint64_t)i) % (uint64_t)m->cfg.vocab_size);
    ft_batch b = {.B = B, .T = T, .input_ids = ids, .cls_labels = encoder ? labels : NULL};
    if (t5)
        b = (ft_batch){.B = B, .T = T, .input_ids = ids, .T_dec = T_dec, .labels = dec_labels};
    if (vit)
        b = (ft_batch){.B = B, .pixel_values = pix, .img_c = 3, .img_h = S, .img_w = S, .cls_labels = labels};
    m->no_prefetch = no_prefetch;
    if (stream && ft_model_stream_open(m) != FT_OK) {
        fprintf(stderr, "train_step: --stream: %s\n", ft_last_error());
        return 1;
    }
    double *times = malloc((size_t)(steps + warmup) * sizeof *times);
    double loss = 0;
    long majflt0 = 0;
    for (int s = 0; s < steps + warmup; s++) {
        if (s == warmup) {
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            majflt0 = ru.ru_majflt;
        }
        double t0 = ft_now();
        ft_arena_reset(&arena);
        ft_model_zero_grad(m);
        ft_fwd_opts o = {.training = true, .seed = 1, .step = (uint64_t)s, .fused_head = true, .checkpoint = ckpt};
        ft_acts *a;
        int64_t cnt;
        if (ft_model_forward(m, &b, &o, &arena, &a, &loss, &cnt) != FT_OK ||
            ft_model_backward(m, a, &arena, 1.0f) != FT_OK) {
            fprintf(stderr, "train_step: %s\n", ft_last_error());
            return 1;
        }
        /* as the trainer: the clipping factor is applied inside the optimizer pass */
        ft_optim_update_scaled(&opt, m, 1e-5f, ft_clip_scale(ft_grad_norm(m), 1.0));
        times[s] = ft_now() - t0;
    }
    struct rusage ru_end;
    getrusage(RUSAGE_SELF, &ru_end);
    const double majflt = (double)(ru_end.ru_majflt - majflt0) / (steps > 0 ? steps : 1);
    qsort(times + warmup, (size_t)steps, sizeof *times, cmp_d);
    double med = times[warmup + steps / 2];
    const ft_model_config *c = &m->cfg;
    /* FLOPs per token: 2 per matrix weight forward, 2 for the input gradient, 2 more for the weight
     * gradient of trained matrices (lm_head counted once; position table and norms excluded), plus
     * attention scores/values 2·2·T·D·H per layer forward (half of it when causal), ×3 with backward.
     * An encoder's token-type table, pooler and head act on one row per sequence or are lookups: left out;
     * ViT's patch projection is counted as a matrix on every token (its input gradient is not computed). */
    double n_mat = 0, n_mat_tr = 0, n_head = 0;
    for (int i = 0; i < m->n_params; i++) {
        const ft_param *p = &m->params[i];
        if ((p->ndim != 2 && i != m->patch_w) || i == m->wpe || (i == m->wte && m->lm_head != m->wte))
            continue; /* an untied embedding lookup costs no matmul */
        if (encoder && (i == m->tte || i == m->pool_w || ft_model_is_head(m, i)))
            continue;
        n_mat += (double)p->numel;
        if (p->trainable)
            n_mat_tr += (double)p->numel;
        if (i == m->lm_head || ft_model_is_head(m, i))
            n_head += (double)p->numel;
    }
    double flops = (4.0 * n_mat + 2.0 * n_mat_tr) * B * T + 3.0 * 4.0 * (double)B * T * T * c->head_dim *
                                                                c->n_heads * c->n_layers /
                                                                (encoder ? 1.0 : 2.0);
    if (t5) { /* each matrix on the rows it multiplies: the encoder's and the cross-attention keys/values on
               * B·T source rows, the rest of the decoder and the tied head on B·T_dec target rows */
        flops = 0.0;
        for (int i = 0; i < m->n_params; i++) {
            const ft_param *p = &m->params[i];
            if (p->ndim != 2 || strstr(p->name, "relative_attention_bias"))
                continue;
            const bool src = !strncmp(p->name, "encoder.", 8) || strstr(p->name, "EncDecAttention.k.") ||
                             strstr(p->name, "EncDecAttention.v.");
            flops += (p->trainable ? 6.0 : 4.0) * (double)p->numel * B * (src ? T : T_dec);
        }
        const double inner = (double)c->head_dim * c->n_heads, ne = c->n_layers - c->n_dec_layers,
                     nd = c->n_dec_layers; /* scores and values: encoder self, causal decoder self, cross */
        flops += 3.0 * 4.0 * B * inner * (ne * T * T + nd * (0.5 * T_dec * T_dec + (double)T_dec * T));
    }
    char summary[200];
    ft_peft_summary(m, summary, sizeof summary);
    printf("train_step shape=%s method=%s precision=%s batch=%dx%d threads=%d checkpoint=%s params=%.1fM%s\n", shape,
           method, ft_precision_name(m->precision), B, T, threads, ckpt ? "on" : "off",
           (double)ft_model_param_count(m, false) / 1e6, from_file ? "" : " (in memory)");
    if (m->precision == FT_PREC_BF16 || m->int8_matmul)
        printf("  %s matmul (last call): %s\n", m->int8_matmul ? "int8 / bf16" : "bf16",
               ft_matmul_backend(m->mm));
    printf("  %s\n", summary);
    printf("  step median %.3f s (min %.3f, max %.3f over %d)\n", med, times[warmup], times[warmup + steps - 1], steps);
    printf("  tokens/s %.1f\n", (double)(B * (T + T_dec)) / med);
    if (vit)
        printf("  images/s %.2f\n", (double)B / med);
    const double peak = gemm_peak(m->precision == FT_PREC_BF16, m->mm);
    printf("  GFLOP/s %.1f (%.0f%% of the measured %s GEMM peak, %.0f GFLOP/s)\n", flops / med / 1e9,
           100.0 * flops / med / 1e9 / peak, ft_precision_name(m->precision), peak);
    if (m->int8_matmul)
        printf("  int8 x int8 GEMM rate of the same product: %.0f GOP/s (the base's products run there)\n",
               gemm_peak_s8(m->mm));
    if (ckpt &&
        !t5) { /* the model FLOPs above leave out what checkpointing runs twice: every block's forward */
        const double re = 2.0 * (n_mat - n_head) * B * T + 4.0 * (double)B * T * T * c->head_dim *
                                                               c->n_heads * c->n_layers /
                                                               (encoder ? 1.0 : 2.0);
        printf("  with the recompute of activation checkpointing: GFLOP/s %.1f (%.0f%% of the peak)\n",
               (flops + re) / med / 1e9, 100.0 * (flops + re) / med / 1e9 / peak);
    }
    ft_stream_stats sst;
    if (ft_model_stream_stats(m, &sst))
        printf("  major page faults per step %.0f (base streamed, %s reads: %.2f GB read in %.1f s = %.2f "
               "GB/s, %lld "
               "layer reads, %lld uses waited %.1f s in all)\n",
               majflt, sst.direct ? "O_DIRECT" : "buffered", (double)sst.bytes / 1e9, sst.read_s,
               sst.read_s > 0 ? (double)sst.bytes / 1e9 / sst.read_s : 0.0, (long long)sst.loads,
               (long long)sst.waits, sst.wait_s);
    else
        printf("  major page faults per step %.0f (prefetch of the mapped base %s)\n", majflt,
               no_prefetch ? "off" : "on");
    printf("  peak RSS %.2f GiB\n", (double)ft_peak_rss_bytes() / (1024.0 * 1024.0 * 1024.0));
    printf("  activation arena: peak %.1f MiB of %.1f MiB estimated (activation checkpointing %s)\n",
           (double)arena.peak / 1048576.0, (double)arena.cap / 1048576.0, ckpt ? "on" : "off");
    printf("  loss %.4f\n", loss);
    free(times);
    free(ids);
    free(pix);
    free(labels);
    free(dec_labels);
    ft_arena_free(&arena);
    ft_optim_free(&opt);
    ft_model_free(m);
    return 0;
}
