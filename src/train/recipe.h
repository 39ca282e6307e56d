/* train/recipe: a training run described by a YAML recipe (nested mappings flatten to dotted keys:
 * `optim: {lr: 3e-4}` ≡ `optim.lr: 3e-4`) with `key=value` overrides. Every key, its type, default
 * and help live in one table (FT_RECIPE_KEYS), so the struct, the parser, `--help`, the resolved
 * recipe.yaml and docs/training.md cannot drift apart. Unknown keys are errors naming the nearest key. */
#ifndef FT_RECIPE_H
#define FT_RECIPE_H

#include <stdio.h>

#include "core/core.h"

/* X(field, "key", TYPE, "default" or NULL, "choices|..." or NULL, "help") */
#define FT_RECIPE_KEYS(X)                                                                                    \
    X(model, "model", STR, NULL, NULL, "base model directory (config.json + safetensors); required")         \
    X(tokenizer, "tokenizer", STR, NULL, NULL, "tokenizer directory or file (default: the model directory)") \
    X(task, "task", ENUM, "causal_lm",                                                                       \
      "classification|regression|causal_lm|instruction|question_answering|token_classification|masked_lm|"   \
      "image_classification|seq2seq",                                                                        \
      "what is trained (question_answering, token_classification, masked_lm: encoders, docs/encoders.md; "   \
      "image_classification: vit, docs/vision.md; seq2seq: t5/mt5, source -> target, docs/seq2seq.md)")      \
    X(method, "method", ENUM, "full", "full|lora|adapter|prompt|bitfit|ia3", "fine-tuning method")           \
    X(seed, "seed", INT, "42", NULL, "seed for shuffling, dropout, head and adapter init, data splits")      \
    X(output_dir, "output_dir", STR, NULL, NULL,                                                             \
      "where the final model/adapter, logs and checkpoints go; required")                                    \
    X(resume, "resume", STR, NULL, NULL,                                                                     \
      "checkpoint directory (or an output_dir: its latest checkpoint) to resume")                            \
    X(threads, "threads", INT, "0", NULL, "OpenMP threads (0 = all cores)")                                  \
    X(save_dtype, "save_dtype", ENUM, "f32", "f32|bf16|int8", "dtype of saved full-model weights")           \
    X(precision, "precision", ENUM, "fp32", "fp32|bf16",                                                     \
      "matrix products in fp32, or bf16 (AVX512-BF16/AMX via oneDNN, fp32 accumulation and master weights; " \
      "falls back to fp32 with a warning where the CPU lacks bf16)")                                         \
    X(data_train, "data.train", STR, NULL, NULL, "training file (JSONL, CSV/TSV, text); required")           \
    X(data_validation, "data.validation", STR, NULL, NULL,                                                   \
      "validation file (default: split from data.train)")                                                    \
    X(data_test, "data.test", STR, NULL, NULL, "test file (default: split from data.train)")                 \
    X(data_format, "data.format", ENUM, "auto", "auto|jsonl|csv|tsv|text|pretokenized|conll|brown|pixels",   \
      "file format; pretokenized = JSONL of {input_ids, labels?, label?} read as is; token_classification: " \
      "jsonl, conll (word ... tag columns) or brown (data.train = the corpus directory, split by file); "    \
      "image_classification: a class folder, a CSV/JSONL list of image,label, or an IDX file are found "     \
      "without it, pixels = a CSV of label and w*w gray values per row (sklearn digits, Kaggle MNIST)")      \
    X(data_text_field, "data.text_field", STR, "text", NULL, "field holding the text")                       \
    X(data_text_pair_field, "data.text_pair_field", STR, NULL, NULL, "second text of a pair (optional)")     \
    X(data_label_field, "data.label_field", STR, "label", NULL, "field holding the class or value")          \
    X(data_prompt_field, "data.prompt_field", STR, "prompt", NULL, "instruction: field holding the prompt")  \
    X(data_response_field, "data.response_field", STR, "response", NULL,                                     \
      "instruction: field holding the answer")                                                               \
    X(data_messages_field, "data.messages_field", STR, "messages", NULL, "chat: list of {role, content}")    \
    X(data_chat_template, "data.chat_template", STR, NULL, NULL,                                             \
      "chatml|llama3|llama2|alpaca (default: plain)")                                                        \
    X(data_val_ratio, "data.val_ratio", FLOAT, "0.1", NULL, "validation share when splitting data.train")    \
    X(data_test_ratio, "data.test_ratio", FLOAT, "0.1", NULL, "test share when splitting data.train")        \
    X(data_stratify, "data.stratify", BOOL, "true", NULL, "split per label (classification)")                \
    X(data_pack, "data.pack", BOOL, "false", NULL,                                                           \
      "causal / masked LM: pack texts into train.seq_len blocks")                                            \
    X(data_append_eos, "data.append_eos", BOOL, "false", NULL,                                               \
      "classification/regression: end each example with the eos token (kept last when truncating), so the "  \
      "head always reads the same token")                                                                    \
    X(data_max_windows, "data.max_windows", INT, "0", NULL,                                                  \
      "classification/regression: a text longer than train.seq_len becomes up to this many windows (each "   \
      "trained on with the text's label; evaluation and prediction average their logits); 0/1 = truncate")   \
    X(data_window_overlap, "data.window_overlap", INT, "32", NULL,                                           \
      "data.max_windows: text tokens shared by consecutive windows")                                         \
    X(data_train_limit, "data.train_limit", INT, "0", NULL,                                                  \
      "keep only this many training rows, stratified by label and seeded (few-shot); 0 = all")               \
    X(data_train_limit_seed, "data.train_limit_seed", INT, "-1", NULL,                                       \
      "seed of the data.train_limit draw (-1 = seed); the splits stay those of seed")                        \
    X(data_split_seed, "data.split_seed", INT, "-1", NULL,                                                   \
      "seed of the train/validation/test split (-1 = seed): vary seed with the split held fixed")            \
    X(data_replay, "data.replay", STR, NULL, NULL,                                                           \
      "causal LM: general text mixed into the training examples against forgetting (docs/forgetting.md)")    \
    X(data_replay_ratio, "data.replay_ratio", FLOAT, "0.25", NULL,                                           \
      "share of the training examples taken from data.replay")                                               \
    X(data_mlm_probability, "data.mlm_probability", FLOAT, "0.15", NULL,                                     \
      "masked LM: share of tokens chosen (80 % [MASK], 10 % random, 10 % kept; specials and pads never)")    \
    X(data_whole_word_mask, "data.whole_word_mask", BOOL, "false", NULL,                                     \
      "masked LM: choose whole words (all their pieces together), as HF DataCollatorForWholeWordMask")       \
    X(data_train_labels, "data.train_labels", STR, NULL, NULL,                                               \
      "image_classification: the IDX label file of an IDX data.train (default: its name with "               \
      "images-idx3 -> labels-idx1)")                                                                         \
    X(data_validation_labels, "data.validation_labels", STR, NULL, NULL,                                     \
      "image_classification: the IDX label file of data.validation")                                         \
    X(data_test_labels, "data.test_labels", STR, NULL, NULL,                                                 \
      "image_classification: the IDX label file of data.test")                                               \
    X(data_pixel_max, "data.pixel_max", FLOAT, "255", NULL,                                                  \
      "image_classification, data.format pixels: the value of white (16 for sklearn's digits)")              \
    X(data_augment_crop, "data.augment_crop", BOOL, "true", NULL,                                            \
      "image_classification: random resized crop of the training images (torchvision RandomResizedCrop)")    \
    X(data_crop_scale_min, "data.crop_scale_min", FLOAT, "0.08", NULL,                                       \
      "image_classification: smallest crop area, as a share of the image")                                   \
    X(data_crop_scale_max, "data.crop_scale_max", FLOAT, "1", NULL,                                          \
      "image_classification: largest crop area, as a share of the image")                                    \
    X(data_crop_ratio_min, "data.crop_ratio_min", FLOAT, "0.75", NULL,                                       \
      "image_classification: smallest crop aspect ratio (width/height)")                                     \
    X(data_crop_ratio_max, "data.crop_ratio_max", FLOAT, "1.3333333333333333", NULL,                         \
      "image_classification: largest crop aspect ratio (width/height)")                                      \
    X(data_hflip, "data.hflip", FLOAT, "0.5", NULL,                                                          \
      "image_classification: probability of a horizontal flip of a training image (0 = off)")                \
    X(data_clean_unicode, "data.clean_unicode", BOOL, "true", NULL,                                          \
      "normalize Unicode (NFC), drop control chars")                                                         \
    X(data_clean_whitespace, "data.clean_whitespace", BOOL, "true", NULL, "collapse runs of whitespace")     \
    X(data_clean_html, "data.clean_html", BOOL, "false", NULL, "strip HTML tags and entities")               \
    X(data_clean_email_headers, "data.clean_email_headers", BOOL, "false", NULL, "drop e-mail headers")      \
    X(data_dedup_exact, "data.dedup_exact", BOOL, "false", NULL, "drop exact duplicate texts")               \
    X(data_dedup_near, "data.dedup_near", BOOL, "false", NULL, "drop near-duplicate texts")                  \
    X(data_min_chars, "data.min_chars", INT, "0", NULL, "drop texts shorter than this (0 = no limit)")       \
    X(data_max_chars, "data.max_chars", INT, "0", NULL, "drop texts longer than this (0 = no limit)")        \
    X(data_augment_factor, "data.augment_factor", FLOAT, "0", NULL,                                          \
      "augmented copies per training example (0 = off)")                                                     \
    X(data_aug_p_delete, "data.aug_p_delete", FLOAT, "0.1", NULL, "augmentation: word deletion probability") \
    X(data_aug_p_swap, "data.aug_p_swap", FLOAT, "0.1", NULL, "augmentation: word swap probability")         \
    X(data_aug_p_insert, "data.aug_p_insert", FLOAT, "0", NULL,                                              \
      "augmentation: synonym insertion probability")                                                         \
    X(data_aug_p_synonym, "data.aug_p_synonym", FLOAT, "0.1", NULL,                                          \
      "augmentation: synonym replacement probability")                                                       \
    X(data_wordnet_dir, "data.wordnet_dir", STR, NULL, NULL,                                                 \
      "WordNet directory for synonyms (default /usr/share/wordnet)")                                         \
    X(data_max_length, "data.max_length", INT, "0", NULL,                                                    \
      "question answering: tokens per window, question and special tokens included (0 = train.seq_len)")     \
    X(data_doc_stride, "data.doc_stride", INT, "128", NULL,                                                  \
      "question answering: context tokens shared by consecutive windows of a long context")                  \
    X(qa_n_best, "qa.n_best", INT, "20", NULL,                                                               \
      "question answering: start and end logits searched per window")                                        \
    X(qa_max_answer_length, "qa.max_answer_length", INT, "30", NULL,                                         \
      "question answering: longest answer in tokens")                                                        \
    X(qa_version_2_with_negative, "qa.version_2_with_negative", BOOL, "false", NULL,                         \
      "question answering: SQuAD 2.0 style, the answer may be empty (null score)")                           \
    X(qa_null_score_diff_threshold, "qa.null_score_diff_threshold", FLOAT, "0", NULL,                        \
      "question answering: predict no answer when null score - best span score exceeds this")                \
    X(data_tokens_field, "data.tokens_field", STR, "tokens", NULL,                                           \
      "token_classification: JSONL field holding the list of words")                                         \
    X(data_tags_field, "data.tags_field", STR, "tags", NULL,                                                 \
      "token_classification: JSONL field holding the list of tags (one per word)")                           \
    X(data_tag_column, "data.tag_column", INT, "-1", NULL,                                                   \
      "token_classification, conll: 0-based column of the tag (-1 = the last; the word is column 0)")        \
    X(data_labels, "data.labels", STR, NULL, NULL,                                                           \
      "token_classification: the tag set in id order, comma-separated (default: the training tags, "         \
      "sorted); "                                                                                            \
      "image_classification: names of the numbered classes of IDX / pixel data, in id order")                \
    X(data_source_field, "data.source_field", STR, "source", NULL,                                           \
      "seq2seq: field holding the input text (the encoder's)")                                               \
    X(data_target_field, "data.target_field", STR, "target", NULL,                                           \
      "seq2seq: field holding the text to generate (the decoder's labels)")                                  \
    X(data_prefix, "data.prefix", STR, NULL, NULL,                                                           \
      "seq2seq: text put before every source, e.g. \"summarize: \" (T5's task prefixes)")                    \
    X(data_max_source_length, "data.max_source_length", INT, "0", NULL,                                      \
      "seq2seq: source tokens kept, eos included (longer ones cut and counted; 0 = train.seq_len)")          \
    X(data_max_target_length, "data.max_target_length", INT, "0", NULL,                                      \
      "seq2seq: target tokens kept, eos included (longer ones cut and counted; 0 = train.seq_len)")          \
    X(data_label_all_tokens, "data.label_all_tokens", BOOL, "false", NULL,                                   \
      "token_classification: label every piece of a word (B- as I-), not only the first")                    \
    X(data_val_limit, "data.val_limit", INT, "0", NULL,                                                      \
      "token_classification: evaluate during training on the first N validation sentences only (0 = all)")   \
    X(train_epochs, "train.epochs", FLOAT, "1", NULL,                                                        \
      "passes over the training data (when train.max_steps = 0)")                                            \
    X(train_max_steps, "train.max_steps", INT, "0", NULL, "optimizer steps; > 0 overrides train.epochs")     \
    X(train_batch_size, "train.batch_size", INT, "8", NULL, "examples per micro-batch")                      \
    X(train_grad_accum, "train.grad_accum", INT, "1", NULL, "micro-batches per optimizer step")              \
    X(train_seq_len, "train.seq_len", INT, "128", NULL, "tokens per example (longer ones are truncated)")    \
    X(train_max_grad_norm, "train.max_grad_norm", FLOAT, "1.0", NULL,                                        \
      "global gradient-norm clipping (0 = off)")                                                             \
    X(train_label_smoothing, "train.label_smoothing", FLOAT, "0", NULL,                                      \
      "label smoothing of the cross-entropy")                                                                \
    X(train_activation_checkpointing, "train.activation_checkpointing", ENUM, "false",                       \
      "false|true|auto|no|yes|off|on|0|1|False|True|FALSE|TRUE",                                             \
      "keep only each block's input, recompute its forward in the backward (less memory, ~1/3 more "         \
      "compute); auto: only when the memory plan says the run does not fit without it")                      \
    X(train_base_dtype, "train.base_dtype", ENUM, "auto", "auto|fp32|file|int8",                             \
      "frozen base weights stored as bf16/f16: kept in place in their file dtype and widened inside the "    \
      "products (file; GPT-2/Llama family), converted to fp32 at load (fp32), or file where supported "      \
      "(auto); int8: the linear layers' weights quantized to int8 per output channel at load (half of "      \
      "bf16; tables and LM head as file; GPT-2/Llama family)")                                               \
    X(train_stream_base, "train.stream_base", ENUM, "auto",                                                  \
      "auto|false|true|no|yes|off|on|0|1|False|True|FALSE|TRUE",                                             \
      "a decoder's base used in place from its file (bf16/f16, or an int8 checkpoint): read layer by layer " \
      "into two slots by a background thread ahead of use instead of held in the page cache, for a memory "  \
      "limit below the base; auto: only when the memory plan says the run does not fit otherwise")           \
    X(train_int8_matmul, "train.int8_matmul", BOOL, "false", NULL,                                           \
      "with an int8 base (train.base_dtype int8 or an int8 checkpoint): its products run as int8 x int8 "    \
      "(activations and output gradients quantized per row each step; oneDNN VNNI/AMX-INT8, about twice "    \
      "the bf16 rate) instead of widening the weights; needs AVX512-VNNI, AVX-VNNI or AMX")                  \
    X(train_group_by_length, "train.group_by_length", BOOL, "false", NULL,                                   \
      "batches of similar lengths (less padding; HF LengthGroupedSampler order)")                            \
    X(train_on_nonfinite, "train.on_nonfinite", ENUM, "stop", "stop|skip",                                   \
      "a NaN/Inf loss or gradient: stop with an error, or skip that step")                                   \
    X(train_zero, "train.zero", ENUM, "0", "0|1",                                                            \
      "under mpirun: 1 = ZeRO stage 1, each rank keeps the optimizer state of its slice "                    \
      "(docs/distributed.md)")                                                                               \
    X(dist_timeout, "dist.timeout", FLOAT, "1800", NULL,                                                     \
      "under mpirun: seconds a rank waits for the others before aborting the job (0 = forever)")             \
    X(optim_name, "optim.name", ENUM, "adamw", "adamw|sgd", "optimizer")                                     \
    X(optim_lr, "optim.lr", FLOAT, "5e-5", NULL, "peak learning rate")                                       \
    X(optim_weight_decay, "optim.weight_decay", FLOAT, "0", NULL,                                            \
      "AdamW: decoupled decay; SGD: L2 added to the gradient")                                               \
    X(optim_decay_norms_and_biases, "optim.decay_norms_and_biases", BOOL, "false", NULL,                     \
      "apply weight decay to 1-D tensors (biases, norm weights) too")                                        \
    X(optim_beta1, "optim.beta1", FLOAT, "0.9", NULL, "AdamW beta1")                                         \
    X(optim_beta2, "optim.beta2", FLOAT, "0.999", NULL, "AdamW beta2")                                       \
    X(optim_eps, "optim.eps", FLOAT, "1e-8", NULL, "AdamW epsilon")                                          \
    X(optim_momentum, "optim.momentum", FLOAT, "0.9", NULL, "SGD momentum (0 = plain SGD)")                  \
    X(optim_dampening, "optim.dampening", FLOAT, "0", NULL, "SGD dampening")                                 \
    X(optim_nesterov, "optim.nesterov", BOOL, "false", NULL, "SGD Nesterov momentum")                        \
    X(optim_schedule, "optim.schedule", ENUM, "linear", "constant|linear|cosine", "learning-rate schedule")  \
    X(optim_warmup_steps, "optim.warmup_steps", INT, "0", NULL,                                              \
      "linear warm-up steps (> 0 overrides warmup_ratio)")                                                   \
    X(optim_warmup_ratio, "optim.warmup_ratio", FLOAT, "0", NULL, "warm-up as a share of all steps")         \
    X(optim_min_lr_ratio, "optim.min_lr_ratio", FLOAT, "0", NULL, "linear/cosine decay ends at lr * this")   \
    X(dropout_resid, "dropout.resid", FLOAT, "-1", NULL, "residual dropout (-1 = as the model config says)") \
    X(dropout_embd, "dropout.embd", FLOAT, "-1", NULL, "embedding dropout (-1 = as the model config says)")  \
    X(dropout_attn, "dropout.attn", FLOAT, "-1", NULL, "attention dropout (-1 = as the model config says)")  \
    X(eval_every, "eval.every", INT, "0", NULL,                                                              \
      "evaluate on the validation set every N steps (0 = at the end only)")                                  \
    X(eval_batch_size, "eval.batch_size", INT, "0", NULL, "evaluation batch size (0 = train.batch_size)")    \
    X(eval_metric, "eval.metric", STR, "loss", NULL,                                                         \
      "metric for the best checkpoint and early stopping: loss, perplexity, accuracy, f1_macro, f1_micro, "  \
      "f1_weighted, precision_macro, recall_macro, mse, mae, r2, exact_match, f1 (question answering; "      \
      "seq2seq's generated text too), rouge1, rouge2, rougeL, rougeLsum, bleu (seq2seq)")                    \
    X(eval_generate, "eval.generate", BOOL, "true", NULL,                                                    \
      "seq2seq: generate for the validation/test examples at each evaluation and score the text (rouge1, "   \
      "rouge2, rougeL, rougeLsum, bleu, exact_match, f1) besides the loss")                                  \
    X(eval_max_new_tokens, "eval.max_new_tokens", INT, "0", NULL,                                            \
      "seq2seq: generated tokens at most, eos included (0 = data.max_target_length)")                        \
    X(eval_num_beams, "eval.num_beams", INT, "1", NULL,                                                      \
      "seq2seq: beam search width of the evaluation's generation (1 = greedy; HF generate(num_beams))")      \
    X(eval_length_penalty, "eval.length_penalty", FLOAT, "1", NULL,                                          \
      "seq2seq, beam search: a hypothesis scores sum log-probs / length^length_penalty")                     \
    X(eval_no_repeat_ngram_size, "eval.no_repeat_ngram_size", INT, "0", NULL,                                \
      "seq2seq: no n-gram of this size twice in a generated text (0 = off)")                                 \
    X(eval_generate_limit, "eval.generate_limit", INT, "0", NULL,                                            \
      "seq2seq: generate for the first N examples of the set only (0 = all; the loss uses all)")             \
    X(eval_mode, "eval.mode", ENUM, "auto", "auto|min|max",                                                  \
      "whether lower or higher eval.metric is better (auto: by name)")                                       \
    X(early_stopping_patience, "early_stopping.patience", INT, "0", NULL,                                    \
      "stop after this many evaluations without improvement (0 = off)")                                      \
    X(early_stopping_min_delta, "early_stopping.min_delta", FLOAT, "0", NULL,                                \
      "smallest change that counts as improvement")                                                          \
    X(checkpoint_every, "checkpoint.every", INT, "0", NULL,                                                  \
      "write a checkpoint every N steps (0 = only at the end)")                                              \
    X(checkpoint_keep_last, "checkpoint.keep_last", INT, "2", NULL,                                          \
      "checkpoints kept besides the best (0 = all)")                                                         \
    X(checkpoint_keep_best, "checkpoint.keep_best", BOOL, "true", NULL,                                      \
      "also keep the checkpoint with the best eval.metric")                                                  \
    X(checkpoint_save_model, "checkpoint.save_model", BOOL, "true", NULL,                                    \
      "write the loadable adapter/model into each checkpoint too (resume needs only the trainer state)")     \
    X(lora_r, "lora.r", INT, "8", NULL, "LoRA rank")                                                         \
    X(lora_alpha, "lora.alpha", FLOAT, "8", NULL, "LoRA alpha (scale alpha/r)")                              \
    X(lora_dropout, "lora.dropout", FLOAT, "0", NULL, "dropout on the LoRA input")                           \
    X(lora_target_modules, "lora.target_modules", STR, NULL, NULL,                                           \
      "module names (a list or \"a,b\"; embeddings wte/wpe/embed_tokens too), a regex or all-linear "        \
      "(default: "                                                                                           \
      "the architecture's PEFT default)")                                                                    \
    X(lora_exclude_modules, "lora.exclude_modules", STR, NULL, NULL,                                         \
      "modules never adapted, checked first: names (a list or \"a,b\": the module or a .name suffix) or a "  \
      "regex")                                                                                               \
    X(lora_layers_to_transform, "lora.layers_to_transform", STR, NULL, NULL,                                 \
      "adapt only these layer indices (a list or \"0,2\"; default all; not with a regex or all-linear "      \
      "target)")                                                                                             \
    X(lora_layers_pattern, "lora.layers_pattern", STR, NULL, NULL,                                           \
      "where the layer index is read: the number after .NAME. (h, layers; default: after any .name.)")       \
    X(lora_rank_pattern, "lora.rank_pattern", STR, NULL, NULL,                                               \
      "per-module rank: a mapping {key: r} or \"key:r,key:r\"; the first key in sorted order that ends the " \
      "module's name (regex (.*\\.)?key$) wins, else lora.r")                                                \
    X(lora_alpha_pattern, "lora.alpha_pattern", STR, NULL, NULL,                                             \
      "per-module alpha, as lora.rank_pattern ({key: alpha} or \"key:alpha,...\"), else lora.alpha")         \
    X(lora_use_rslora, "lora.use_rslora", BOOL, "false", NULL, "scale alpha/sqrt(r)")                        \
    X(lora_use_dora, "lora.use_dora", BOOL, "false", NULL, "weight-decomposed LoRA")                         \
    X(lora_bias, "lora.bias", ENUM, "none", "none|all|lora_only", "which biases train")                      \
    X(lora_init, "lora.init", ENUM, "default", "default|gaussian", "initialization of A")                    \
    X(adapter_size, "adapter.size", INT, "64", NULL, "bottleneck adapter width")                             \
    X(adapter_placement, "adapter.placement", ENUM, "houlsby", "houlsby|pfeiffer", "where adapters sit")     \
    X(adapter_act, "adapter.act", ENUM, "relu", "relu|gelu|silu", "adapter activation")                      \
    X(prompt_num_virtual_tokens, "prompt.num_virtual_tokens", INT, "20", NULL,                               \
      "prompt tuning: virtual tokens")                                                                       \
    X(prompt_init_text, "prompt.init_text", STR, NULL, NULL,                                                 \
      "prompt tuning: initialize from this text's embeddings")                                               \
    X(ia3_feedforward_modules, "ia3.feedforward_modules", STR, NULL, NULL,                                   \
      "IA3 feed-forward modules (default: PEFT's)")                                                          \
    X(freeze_top_layers, "freeze.train_top_layers", INT, "0", NULL,                                          \
      "full: train only the top N layers (0 = all)")                                                         \
    X(freeze_pattern, "freeze.train_pattern", STR, NULL, NULL,                                               \
      "full: train only params whose name matches this regex")                                               \
    X(freeze_embeddings, "freeze.embeddings", BOOL, "false", NULL, "full: keep the embeddings frozen")       \
    X(modules_to_save, "peft.modules_to_save", STR, NULL, NULL,                                              \
      "modules trained in full beside a PEFT method (default: the head)")                                    \
    X(head_reset, "head.reset", BOOL, "false", NULL,                                                         \
      "classification/regression: start a new head even when the checkpoint has one of the right size "      \
      "(transfer to other classes)")                                                                         \
    X(peft_init_from, "peft.init_from", STR, NULL, NULL,                                                     \
      "continue training this PEFT adapter directory (its adapter_config.json sets method and options)")     \
    X(report_progress, "report.progress", ENUM, "auto", "auto|tty|plain|quiet", "console progress display")  \
    X(report_plain_interval, "report.plain_interval", FLOAT, "30", NULL,                                     \
      "seconds between plain progress lines")                                                                \
    X(report_log_every, "report.log_every", INT, "1", NULL, "steps between metrics.jsonl/TensorBoard lines") \
    X(report_tensorboard, "report.tensorboard", BOOL, "true", NULL,                                          \
      "write TensorBoard event files into output_dir")                                                       \
    X(report_html, "report.html", BOOL, "true", NULL, "write report.html into output_dir")

typedef enum { FT_RK_STR, FT_RK_ENUM, FT_RK_INT, FT_RK_FLOAT, FT_RK_BOOL } ft_recipe_kind;
typedef char *ft_rt_STR;
typedef char *ft_rt_ENUM;
typedef int64_t ft_rt_INT;
typedef double ft_rt_FLOAT;
typedef bool ft_rt_BOOL;

typedef struct {
#define FT_RECIPE_FIELD(field, key, type, def, choices, help) ft_rt_##type field;
    FT_RECIPE_KEYS(FT_RECIPE_FIELD)
#undef FT_RECIPE_FIELD
} ft_recipe;

typedef struct {
    const char *key;
    ft_recipe_kind kind;
    size_t offset;
    const char *def;     /* NULL: unset (strings) */
    const char *choices; /* "a|b|c" for enums */
    const char *help;
} ft_recipe_key;

/* The key table, in the order --help and recipe.yaml list them. */
const ft_recipe_key *ft_recipe_keys(size_t *n);
const ft_recipe_key *ft_recipe_find_key(const char *key);
/* The known key nearest to an unknown one (edit distance, or the same last component), or NULL. */
const char *ft_recipe_nearest(const char *key);

/* Fill every key with its default. */
ft_status ft_recipe_init(ft_recipe *r);
void ft_recipe_free(ft_recipe *r);
/* Set one key from its text form (origin names the source in messages: "recipe.yaml:12", "command line").
 * An empty value or null/~ unsets a string. */
ft_status ft_recipe_set(ft_recipe *r, const char *key, const char *value, const char *origin);
/* "key=value" from the command line. */
ft_status ft_recipe_override(ft_recipe *r, const char *kv);
/* Apply a YAML file (a mapping, nested mappings and dotted keys both allowed; a list of scalars becomes
 * "a,b,c"). Later keys win; errors name path:line. */
ft_status ft_recipe_load_yaml(ft_recipe *r, const char *path);
/* The same from text (name for messages). */
ft_status ft_recipe_load_yaml_text(ft_recipe *r, const char *text, size_t len, const char *name);
/* Required keys and value ranges. */
ft_status ft_recipe_validate(const ft_recipe *r);
/* The same checks without requiring data.train (the C API's datasets may give the training rows). */
ft_status ft_recipe_validate_keys(const ft_recipe *r);
/* The value of a key in text form (buf: at least 64 bytes for numbers; strings returned as is, NULL if unset). */
const char *ft_recipe_get(const ft_recipe *r, const ft_recipe_key *k, char *buf, size_t n);
/* The resolved recipe as YAML (every key, nested by prefix); malloc'd. */
ft_status ft_recipe_to_yaml(const ft_recipe *r, char **out);
/* Every key with type, default and help (for --help). */
void ft_recipe_print_help(FILE *f);

#endif
