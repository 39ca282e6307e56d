/* ftune — fine-tuning pretrained models in C. The public API of libftune.
 *
 * Everything a program needs is declared here: opaque handles (a context, models, tokenizers,
 * trainers), each with a function that frees it; every fallible call returns an ftune_status and
 * leaves a one-line message naming the file, tensor, key or line at fault in its context
 * (ftune_last_error). Internal headers are not installed; no struct of the library's internals is
 * visible here. docs/api.md walks through it in C and in Python.
 *
 * Threads: a context and every handle made from it belong together; use them from one thread at a
 * time (the library parallelizes inside a call with OpenMP). Separate contexts are independent and may
 * be used from separate threads at once. The exceptions: ftune_trainer_request_stop may be called from
 * any thread or a signal handler; ftune_version, ftune_abi_version and ftune_status_name anywhere.
 *
 * Memory: strings and arrays the library returns through a pointer-to-pointer are the caller's, freed
 * with ftune_free. `const char *` results point into the handle they came from and live as long as it.
 *
 * Versions: FTUNE_VERSION is the release; FTUNE_ABI_VERSION (also the shared library's soname,
 * libftune.so.<ABI>) changes whenever a release breaks binary compatibility: a function removed or its
 * signature changed, a public struct's layout or an enum's values changed. Within one ABI version,
 * releases only add functions, enum values at the end, and recipe keys; a program built against an
 * older header of the same ABI keeps working. ftune_abi_version() tells a program what it runs on. */
#ifndef FTUNE_H
#define FTUNE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FTUNE_VERSION "0.1.0"
#define FTUNE_ABI_VERSION 1

#if defined(__GNUC__) || defined(__clang__)
#define FTUNE_API __attribute__((visibility("default")))
#else
#define FTUNE_API
#endif

/* Every fallible call returns one of these; on failure ftune_last_error() holds the message. */
typedef enum {
    FT_OK = 0,
    FT_ERR_IO,      /* open/read/write/mmap failed */
    FT_ERR_FORMAT,  /* a file's content is malformed or lies about itself */
    FT_ERR_CONFIG,  /* a config/recipe field is missing or wrong */
    FT_ERR_SHAPE,   /* a tensor has the wrong shape or dtype */
    FT_ERR_MISSING, /* something required does not exist (tensor, key) */
    FT_ERR_RANGE,   /* a value is out of range (token id, sequence length) */
    FT_ERR_NOMEM,   /* allocation failed */
    FT_ERR_ARG,     /* bad argument from the caller */
    FT_ERR_UNSUPPORTED,
    FT_ERR_NUMERIC, /* NaN/Inf where a number was expected */
    FT_ERR_INTERNAL
} ft_status;
typedef ft_status ftune_status;

/* ---- version, status names, memory ---- */
FTUNE_API const char *ftune_version(void); /* FTUNE_VERSION of the library actually loaded */
FTUNE_API int ftune_abi_version(void);     /* FTUNE_ABI_VERSION of the library actually loaded */
FTUNE_API const char *ftune_status_name(ftune_status s);
FTUNE_API void ftune_free(void *p); /* what the library returned through a pointer-to-pointer */

/* ---- context: error message and settings of the handles made from it ---- */
typedef struct ftune_ctx ftune_ctx;
FTUNE_API ftune_status ftune_ctx_new(ftune_ctx **out);
/* Free the context after every handle made from it. */
FTUNE_API void ftune_ctx_free(ftune_ctx *ctx);
/* OpenMP threads of the calls made through this context (0 = all cores, the default). */
FTUNE_API ftune_status ftune_ctx_set_threads(ftune_ctx *ctx, int threads);
/* The message of the context's last call ("" when it succeeded) and its status. */
FTUNE_API const char *ftune_last_error(const ftune_ctx *ctx);
FTUNE_API ftune_status ftune_last_status(const ftune_ctx *ctx);

/* ---- models ---- */
typedef struct ftune_model ftune_model;

/* Load a model directory: a Hugging Face checkpoint (config.json + safetensors + tokenizer files), or
 * what `ftune train` / ftune_trainer wrote (a full checkpoint, or an adapter directory whose
 * ftune_train.json names its base). adapter_dir (may be NULL): a PEFT adapter directory to load onto
 * it. The task, labels, text cleaning and chat template come from ftune_train.json when there is one,
 * else from the model's own head (a *ForSequenceClassification checkpoint classifies). */
FTUNE_API ftune_status ftune_model_load(ftune_ctx *ctx, const char *dir, const char *adapter_dir,
                                        ftune_model **out);
FTUNE_API void ftune_model_free(ftune_model *m);
/* ftune_model_load_with: ftune_model_load with the task rules of the `ftune` commands. Since ABI 1 minor
 * addition (FTUNE_HAS_MODEL_LOAD_OPTS). */
#define FTUNE_HAS_MODEL_LOAD_OPTS 1
typedef struct {
    size_t struct_size; /* sizeof(ftune_model_load_opts), set by ftune_model_load_opts_init: fields may be
                           added */
    const char *task; /* NULL (or "auto"): ftune_train.json's task; a task name ("classification", "seq2seq",
                         ...): that one instead (the commands' --task) */
    int head_task; /* without ftune_train.json and task: 1 (the default, ftune_model_load's rule) the task of
                      the model's own head; 0 causal_lm (a vit: image_classification, a T5: seq2seq), as
                      the commands without --task */
    int need_task; /* 1: a directory without ftune_train.json fails unless task is given (0) */
    int tokenizer_optional; /* 1: a model without tokenizer files loads (0: it fails naming the directory):
                               ftune_generate_ids works, calls that read text fail saying so. Since
                               FTUNE_HAS_GEN_RESULT */
} ftune_model_load_opts;
FTUNE_API void ftune_model_load_opts_init(ftune_model_load_opts *o);
FTUNE_API ftune_status ftune_model_load_with(ftune_ctx *ctx, const char *dir, const char *adapter_dir,
                                             const ftune_model_load_opts *o, ftune_model **out);

typedef struct {
    char model_type[32]; /* config.json's model_type: "gpt2", "llama", "bert", ... */
    char task[32];       /* "causal_lm", "classification", "regression", ... */
    char method[16];     /* the attached PEFT method ("full" when none) */
    int64_t n_params;    /* every parameter, adapters included */
    int64_t n_trainable; /* those a training run would update */
    int vocab_size, hidden_size, n_layers, n_heads, max_positions;
    int n_labels; /* classification: classes (ftune_model_label names them); else 0 */
} ftune_model_info;
FTUNE_API ftune_status ftune_model_get_info(ftune_model *m, ftune_model_info *out);
/* Class i's name (classification), NULL when i is out of range. */
FTUNE_API const char *ftune_model_label(const ftune_model *m, int i);

/* Save the whole model as a Hugging Face checkpoint (config.json + model.safetensors) in dir;
 * dtype "f32", "bf16" or "int8" (NULL = f32). A merged adapter is saved as part of the weights. "int8"
 * (GPT-2 and the Llama family) stores each attention/MLP projection's weight as I8 with per-row F32 scales
 * ('<name>_scale', as train.base_dtype int8 quantizes it) and the rest as bf16: loading it keeps the
 * projections int8 in place (docs/big-models.md). */
FTUNE_API ftune_status ftune_model_save(ftune_model *m, const char *dir, const char *dtype);

/* ---- adapters (PEFT) on a model ---- */
/* Load a PEFT adapter directory (adapter_config.json + adapter_model.safetensors) onto the model. */
FTUNE_API ftune_status ftune_adapter_load(ftune_model *m, const char *dir);
/* Attach a new adapter: method "lora", "ia3", "adapter", "prompt", "bitfit" (or "full": mark the model
 * trainable), options as recipe key=value pairs of that method (docs/training.md, `ftune train --help`):
 * "lora.r=8", "lora.alpha=16", "lora.target_modules=c_attn,c_proj", "lora.dropout=0.05", "seed=1". */
FTUNE_API ftune_status ftune_adapter_create(ftune_model *m, const char *method, const char *const *options,
                                            size_t n_options);
/* Fold the adapter (LoRA, DoRA, IA3) into the base weights for inference; unmerge restores them. */
FTUNE_API ftune_status ftune_adapter_merge(ftune_model *m);
FTUNE_API ftune_status ftune_adapter_unmerge(ftune_model *m);
/* Several adapters over one base, switched by name (one base model serving several tasks; PEFT's
 * load_adapter / set_adapter). ftune_adapter_add loads a PEFT directory (an `ftune train` output: its
 * ftune_train.json gives the task, labels, sequence length and text cleaning, as ftune_model_load reads
 * them) as the named adapter and makes it active; the one active before stays loaded. The model must have
 * been loaded without an adapter. ftune_adapter_activate switches by name, or to the bare base with NULL;
 * ftune_adapter_active names the active one (NULL: the base). Classification, generation, evaluation,
 * ftune_model_get_info and ftune_model_label follow the active adapter. Names: 1 to 64 characters of A-Z a-z
 * 0-9 _ . -, not "." or "..". Adapters that change base tensors (BitFit, LoRA with bias) cannot share a base
 * and are refused; while named adapters are loaded, ftune_adapter_load / _create / _merge / _unmerge are
 * refused. Since ABI 1 minor addition (FTUNE_HAS_NAMED_ADAPTERS). */
#define FTUNE_HAS_NAMED_ADAPTERS 1
FTUNE_API ftune_status ftune_adapter_add(ftune_model *m, const char *dir, const char *name);
FTUNE_API ftune_status ftune_adapter_activate(ftune_model *m, const char *name);
FTUNE_API const char *ftune_adapter_active(const ftune_model *m);
/* Write the adapter in PEFT's format (adapter_config.json + adapter_model.safetensors) into dir. */
FTUNE_API ftune_status ftune_adapter_save(ftune_model *m, const char *dir);

/* ---- tokenizers ---- */
typedef struct ftune_tokenizer ftune_tokenizer;
/* A tokenizer directory (tokenizer.json, or vocab.json + merges.txt, or vocab.txt) or one such file. */
FTUNE_API ftune_status ftune_tokenizer_load(ftune_ctx *ctx, const char *path, ftune_tokenizer **out);
FTUNE_API void ftune_tokenizer_free(ftune_tokenizer *t);
FTUNE_API size_t ftune_tokenizer_vocab_size(const ftune_tokenizer *t);
/* text[0..len) → *n ids (*ids, ftune_free). offsets (may be NULL): *offsets gets 2·n byte offsets into
 * text, token i covering [offsets[2i], offsets[2i+1]) (an added special token: an empty range).
 * add_special: let the post-processor add BOS/EOS/CLS/SEP as Hugging Face's add_special_tokens. */
FTUNE_API ftune_status ftune_tokenize(ftune_tokenizer *t, const char *text, size_t len, int add_special,
                                      int32_t **ids, size_t **offsets, size_t *n);
/* ids → *text (NUL-terminated, ftune_free); skip_special drops special tokens. */
FTUNE_API ftune_status ftune_detokenize(ftune_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                                        char **text);

/* The whole encoding `ftune tokenize` shows: a text or a pair (pair NULL: none), special tokens, type ids,
 * offsets in characters or bytes, truncation. ftune_encode_opts_init sets the defaults (no special tokens,
 * no offsets, no truncation). out (overwritten: free a previous result first with ftune_encoding_free) gets n
 * ids, their type ids (0 = the text, 1 = the pair) and, with offsets, 2n offsets into the token's own text
 * ((0, 0) for added special tokens). max_length > 0 cuts as Hugging Face's truncation does (longest_first,
 * right; the special tokens count and stay). ftune_token_text: an id's token string (valid while t lives;
 * byte-level tokens in their mapped form, "Ġhello"), NULL if the id has none. ftune_decode: ftune_detokenize
 * with the text's length (a decoded text may hold NUL bytes). Since ABI 1 minor addition (FTUNE_HAS_ENCODE).
 */
#define FTUNE_HAS_ENCODE 1
enum { FTUNE_OFFSETS_NONE = 0, FTUNE_OFFSETS_CHARS = 1, FTUNE_OFFSETS_BYTES = 2 };
typedef struct {
    int add_special;   /* 1: the post-processor's BOS/EOS/CLS/SEP (HF add_special_tokens) */
    int offsets;       /* FTUNE_OFFSETS_NONE, _CHARS (code points, as HF's Python/Node bindings) or _BYTES */
    size_t max_length; /* 0 = no truncation */
} ftune_encode_opts;
typedef struct {
    size_t n;
    int32_t *ids;      /* [n] */
    int32_t *type_ids; /* [n] */
    size_t *offsets;   /* [2n], or NULL without offsets */
} ftune_encoding;
FTUNE_API void ftune_encode_opts_init(ftune_encode_opts *o);
FTUNE_API ftune_status ftune_encode(ftune_tokenizer *t, const char *text, size_t len, const char *pair,
                                    size_t pair_len, const ftune_encode_opts *o, ftune_encoding *out);
FTUNE_API void ftune_encoding_free(ftune_encoding *e);
FTUNE_API const char *ftune_token_text(const ftune_tokenizer *t, int32_t id, size_t *len);
FTUNE_API ftune_status ftune_decode(ftune_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                                    char **text, size_t *len);

/* Chat templates, the ones instruction tuning uses (docs/instruction-tuning.md): "chatml", "llama3",
 * "llama2", "alpaca". Messages are n pairs roles[i] ("system", "user" or "assistant") / contents[i].
 * ftune_chat_formats: the names, NULL-terminated (static, not freed). ftune_chat_render: the text (*text,
 * ftune_free); add_generation_prompt ends it with the header that asks for the next assistant reply.
 * ftune_chat_encode: that text encoded once by t (*ids, *n_ids, ftune_free); mask (may be NULL) gets one byte
 * per id, 1 on the tokens of each assistant reply and its end-of-turn token (what instruction tuning
 * trains on). Since ABI 1 minor addition (present when FTUNE_HAS_CHAT is defined). */
#define FTUNE_HAS_CHAT 1
FTUNE_API const char *const *ftune_chat_formats(void);
FTUNE_API ftune_status ftune_chat_render(ftune_ctx *ctx, const char *format, const char *const *roles,
                                         const char *const *contents, size_t n, int add_generation_prompt,
                                         char **text);
FTUNE_API ftune_status ftune_chat_encode(ftune_tokenizer *t, const char *format, const char *const *roles,
                                         const char *const *contents, size_t n, int add_generation_prompt,
                                         int32_t **ids, uint8_t **mask, size_t *n_ids);

/* Training a tokenizer, as `ftune tokenizer train`: a byte-level BPE vocabulary (GPT-2's ByteLevel
 * pre-tokenizer, add_prefix_space false) learned from text, written as DIR/tokenizer.json +
 * DIR/tokenizer_config.json, which ftune_tokenizer_load and Hugging Face `tokenizers` load alike. Merges
 * follow HF's BpeTrainer (ties to the smaller (left id, right id) pair); the result depends only on the text,
 * never on the thread count. Text is added as sequences: each line of a text (newline included), or the
 * string field of each JSONL record; input must be UTF-8 (a bad line fails naming file:line, or "text:LINE"
 * for ftune_tokenizer_trainer_add_text). ftune_tokenizer_trainer_run learns the merges once, after every add;
 * stats (after run) say what was read and learned (stop: "vocab size reached", "no pair left", "min
 * frequency", a static string); save writes the directory (created; files replaced atomically). Since ABI 1
 * minor addition (FTUNE_HAS_TOKENIZER_TRAINING). */
#define FTUNE_HAS_TOKENIZER_TRAINING 1
typedef struct {
    size_t struct_size;         /* sizeof(ftune_tokenizer_train_opts), set by _init: fields may be added */
    size_t vocab_size;          /* 16000: special tokens + 256 byte characters + merged tokens */
    uint64_t min_frequency;     /* 2: a pair seen fewer times is never merged */
    const char *const *special; /* special tokens, ids 0..n_special-1 in this order; never split, never
                                   learned from (may be NULL) */
    size_t n_special;
    int threads; /* reading and counting (0 = all cores); the result never depends on it */
    const char *bos, *eos, *pad, *unk; /* roles written to tokenizer_config.json; NULL = guessed from the
                                          usual names (<s>, <|endoftext|>, </s>, <pad>, <unk>, ...) */
    int add_bos;                       /* 1: the post-processor prepends bos (TemplateProcessing) */
    size_t model_max_length;           /* tokenizer_config.json's model_max_length; 2048 */
} ftune_tokenizer_train_opts;
typedef struct {
    size_t struct_size; /* sizeof(ftune_tokenizer_train_stats): the caller sets it; fields may be added */
    uint64_t bytes, sequences, words; /* input read; words: pre-tokenized words counted */
    size_t distinct_words;
    size_t merges;     /* merges learned */
    size_t vocab_size; /* the final vocabulary */
    const char *stop;  /* why merging stopped */
    double count_seconds, merge_seconds;
} ftune_tokenizer_train_stats;
typedef struct ftune_tokenizer_trainer ftune_tokenizer_trainer;
FTUNE_API void ftune_tokenizer_train_opts_init(ftune_tokenizer_train_opts *o);
FTUNE_API ftune_status ftune_tokenizer_trainer_new(ftune_ctx *ctx, const ftune_tokenizer_train_opts *o,
                                                   ftune_tokenizer_trainer **out);
FTUNE_API void ftune_tokenizer_trainer_free(ftune_tokenizer_trainer *t);
FTUNE_API ftune_status ftune_tokenizer_trainer_add_file(ftune_tokenizer_trainer *t, const char *path);
FTUNE_API ftune_status ftune_tokenizer_trainer_add_jsonl(ftune_tokenizer_trainer *t, const char *path,
                                                         const char *field);
FTUNE_API ftune_status ftune_tokenizer_trainer_add_text(ftune_tokenizer_trainer *t, const char *text,
                                                        size_t len);
FTUNE_API ftune_status ftune_tokenizer_trainer_run(ftune_tokenizer_trainer *t);
FTUNE_API ftune_status ftune_tokenizer_trainer_get_stats(ftune_tokenizer_trainer *t,
                                                         ftune_tokenizer_train_stats *out);
FTUNE_API ftune_status ftune_tokenizer_trainer_save(ftune_tokenizer_trainer *t, const char *dir);

/* ---- generation (causal language models; T5 encoder-decoders) ---- */
typedef struct {
    int max_new_tokens;       /* 64 */
    int do_sample;            /* 0 = greedy */
    float temperature;        /* 1 (0 = greedy) */
    int top_k;                /* 0 = off */
    float top_p;              /* 1 = off */
    float repetition_penalty; /* 1 = off */
    uint64_t seed;            /* 42: the same seed gives the same text */
    const char *const *stop;  /* stop strings: the text ends before the first (may be NULL) */
    size_t n_stop;
    const char *chat_template; /* NULL = what training used; "none", "chatml", "llama3", ... */
    const char *system;        /* a system message for the chat template (may be NULL) */
} ftune_gen_opts;
FTUNE_API void ftune_gen_opts_init(ftune_gen_opts *o);
/* Streaming: called with each new token id and the text it adds (complete UTF-8; "" while a character
 * is still incomplete, and for special tokens). Return 0 to go on, non-zero to stop there. */
typedef int (*ftune_token_fn)(void *user, int32_t id, const char *piece);
/* Generate a continuation of prompt. on_token (may be NULL) streams; text (may be NULL) gets the whole
 * new text (special tokens skipped, cut at a stop string; ftune_free); ids/n_ids (may be NULL) the new
 * ids; finish (may be NULL) "eos", "stop", "length", "context" or "callback". */
FTUNE_API ftune_status ftune_generate(ftune_model *m, const char *prompt, const ftune_gen_opts *o,
                                      ftune_token_fn on_token, void *user, char **text, int32_t **ids,
                                      size_t *n_ids, const char **finish);

/* Beam search and Hugging Face generate()'s length constraints, for causal LMs and T5 (whose prompt is the
 * encoder's input). Since ABI 1 minor addition (present when FTUNE_HAS_BEAM_SEARCH is defined); a struct of
 * its own so that ftune_gen_opts keeps its layout. struct_size (set by ftune_beam_opts_init) lets later
 * releases add fields at the end: the library reads only the fields the caller's struct has. */
#define FTUNE_HAS_BEAM_SEARCH 1
typedef struct {
    size_t struct_size;   /* sizeof(ftune_beam_opts), set by ftune_beam_opts_init */
    int num_beams;        /* 1 = off (greedy or sampling, as ftune_gen_opts says); > 1 needs do_sample 0 */
    float length_penalty; /* 1: a hypothesis scores sum(log p) / generated_length^length_penalty */
    int early_stopping;   /* 0 = HF's False (a heuristic), 1 = True, 2 = "never" (docs/seq2seq.md) */
    int no_repeat_ngram_size; /* 0 = off; every mode: never repeat an n-gram of the sequence */
    int min_new_tokens;       /* 0; every mode: no eos before this many new tokens (<= max_new_tokens) */
    int num_return_sequences; /* 1 (0 reads as 1): beam search keeps this many best (<= num_beams) for a
                                 ftune_gen_result (since FTUNE_HAS_GEN_RESULT) */
} ftune_beam_opts;
FTUNE_API void ftune_beam_opts_init(ftune_beam_opts *b);
/* ftune_generate with beam options (b NULL: as ftune_generate). score (may be NULL): the best hypothesis'
 * score (HF's sequences_scores), NaN without beam search. With beam search on_token is called with the
 * result's ids after the search (the best sequence is known only at the end). Bad options (num_beams above
 * the vocabulary, min_new_tokens above max_new_tokens, beam search with do_sample, ...) fail naming them. */
FTUNE_API ftune_status ftune_generate_beam(ftune_model *m, const char *prompt, const ftune_gen_opts *o,
                                           const ftune_beam_opts *b, ftune_token_fn on_token, void *user,
                                           char **text, int32_t **ids, size_t *n_ids, const char **finish,
                                           double *score);

/* Generation into a result: beam search's n best, the prompt as token ids, the time it took. Since ABI 1
 * minor addition (present when FTUNE_HAS_GEN_RESULT is defined).
 * ftune_generate_text: as ftune_generate_beam (the chat template, the stop strings, on_token streaming).
 * ftune_generate_ids: the prompt as token ids, given as they are (no chat template; a T5 model's encoder
 * input); the model needs no tokenizer: without one the texts are NULL, pieces are "" and only the config's
 * eos ends the output. An id outside the vocabulary fails naming its position.
 * The result (ftune_gen_result_free) holds ftune_gen_result_count sequences: num_return_sequences with beam
 * search (best first), else 1. Sequence i's new text (special tokens skipped, cut at a stop string; NULL
 * without a tokenizer), new ids (*n of them; eos included when it finished), score (beam search's
 * sequences_scores, else NaN) and finish ("eos", "stop", "length", "context" or "callback"); an i out of
 * range gives NULL (ids: *n = 0) and NaN. The pointers live as long as the result.
 * ftune_gen_check: the options' own checks (ranges, beam search with sampling, ...) without a model: a
 * host can refuse bad options before it loads one; the vocabulary bound is checked when the model runs. */
#define FTUNE_HAS_GEN_RESULT 1
typedef struct ftune_gen_result ftune_gen_result;
typedef struct {
    size_t struct_size;   /* sizeof(ftune_gen_stats), set by ftune_gen_stats_init: fields may be added */
    size_t prompt_tokens; /* the prompt's ids as the model read them (cut from the left to fit) */
    size_t new_tokens;    /* the best sequence's new ids */
    size_t steps;         /* decoding steps run (beam search may stop early) */
    double prefill_s, decode_s; /* seconds: the prompt's pass, then the new tokens */
} ftune_gen_stats;
FTUNE_API ftune_status ftune_gen_check(ftune_ctx *ctx, const ftune_gen_opts *o, const ftune_beam_opts *b);
FTUNE_API ftune_status ftune_generate_text(ftune_model *m, const char *prompt, const ftune_gen_opts *o,
                                           const ftune_beam_opts *b, ftune_token_fn on_token, void *user,
                                           ftune_gen_result **out);
FTUNE_API ftune_status ftune_generate_ids(ftune_model *m, const int32_t *prompt, size_t n_prompt,
                                          const ftune_gen_opts *o, const ftune_beam_opts *b,
                                          ftune_token_fn on_token, void *user, ftune_gen_result **out);
FTUNE_API size_t ftune_gen_result_count(const ftune_gen_result *r);
FTUNE_API const char *ftune_gen_result_text(const ftune_gen_result *r, size_t i);
FTUNE_API const int32_t *ftune_gen_result_ids(const ftune_gen_result *r, size_t i, size_t *n);
FTUNE_API double ftune_gen_result_score(const ftune_gen_result *r, size_t i);
FTUNE_API const char *ftune_gen_result_finish(const ftune_gen_result *r, size_t i);
FTUNE_API void ftune_gen_stats_init(ftune_gen_stats *s);
FTUNE_API ftune_status ftune_gen_result_stats(const ftune_gen_result *r, ftune_gen_stats *out);
FTUNE_API void ftune_gen_result_free(ftune_gen_result *r);

/* ---- classification ---- */
/* Classify one text as `ftune classify` does (the text cleaning and truncation of training). label: the
 * class id (ftune_model_label names it); probs (may be NULL): n_probs >= the model's n_labels softmax
 * probabilities. A regression model gives *label = -1 and its value in probs[0]. */
FTUNE_API ftune_status ftune_classify(ftune_model *m, const char *text, int *label, float *probs,
                                      size_t n_probs);

/* Classify one image file (PNG, JPEG; an IDX file: its first image) with an image classifier (a vit with a
 * classification head), as `ftune predict --image` does: the processor the model was trained with
 * (preprocessor_config.json: resize, rescale, normalize), no augmentation. label and probs as
 * ftune_classify. Since ABI 1 minor addition (present when FTUNE_HAS_CLASSIFY_IMAGE is defined). */
#define FTUNE_HAS_CLASSIFY_IMAGE 1
FTUNE_API ftune_status ftune_classify_image(ftune_model *m, const char *path, int *label, float *probs,
                                            size_t n_probs);
/* ftune_classify and ftune_classify_image with the probabilities in double, the values `ftune classify` and
 * `ftune predict --image` print (the float forms round them to float). Since ABI 1 minor addition
 * (FTUNE_HAS_CLASSIFY_F64). */
#define FTUNE_HAS_CLASSIFY_F64 1
FTUNE_API ftune_status ftune_classify_f64(ftune_model *m, const char *text, int *label, double *probs,
                                          size_t n_probs);
FTUNE_API ftune_status ftune_classify_image_f64(ftune_model *m, const char *path, int *label, double *probs,
                                                size_t n_probs);

/* ---- image files (`ftune image`; docs/vision.md) ----
 * ftune_image_probe: what an image file is (PNG and JPEG by decoding them, IDX by its header; recognized by
 * the first bytes, not the name). ftune_image_preprocess: the model input Hugging Face's ViTImageProcessor
 * makes of one image: converted to o->channels, resized with the config's resampling (PIL's Image.resize bit
 * for bit), rescaled, normalized; *pixels (ftune_free) gets channels × height × width floats, channel-first,
 * their shape in shape[3] (C, H, W) (either may be NULL, with o->out say). The library fills an info struct
 * up to the struct_size its caller set (ftune_image_info_init), so a program built against an older header
 * gets the fields it knows. ftune_image_config_write: a preprocessor_config.json with
 * ViTImageProcessor's defaults for a size × size model (the one `ftune init --arch vit` writes; resample:
 * PIL's code, 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming). Since ABI 1 minor addition
 * (FTUNE_HAS_IMAGE_FILES). */
#define FTUNE_HAS_IMAGE_FILES 1
typedef struct {
    size_t struct_size; /* sizeof(ftune_image_info), set by ftune_image_info_init: fields may be added */
    char format[8];     /* "PNG", "JPEG", "IDX" */
    char mode[8];       /* as PIL names it: "1", "L", "LA", "P", "RGB", "RGBA", "I;16", "CMYK"; an IDX label
                           file: "labels" */
    int width, height;  /* after the EXIF orientation */
    int bit_depth;      /* per sample in the file */
    int orientation;    /* EXIF orientation 1..8 (JPEG), 0 when absent */
    int interlaced;     /* PNG Adam7 or progressive JPEG */
    int alpha;          /* the decoded image carries an alpha channel (RGBA/LA, palette or tRNS) */
    int64_t count;      /* IDX: images (or labels); 1 for PNG/JPEG */
} ftune_image_info;
FTUNE_API void ftune_image_info_init(ftune_image_info *i);
FTUNE_API ftune_status ftune_image_probe(ftune_ctx *ctx, const char *path, ftune_image_info *out);
typedef struct {
    size_t struct_size; /* sizeof(ftune_image_opts), set by ftune_image_opts_init: fields may be added */
    const char *config; /* a preprocessor_config.json; NULL: ViT's defaults (224 × 224 bilinear, rescale
                           1/255, mean = std = 0.5) */
    int size;           /* > 0: a size × size resize instead of the config's (0) */
    int resample;       /* >= 0: PIL's resampling code instead of the config's (-1) */
    int channels;       /* 3 (RGB), or 1 for a grayscale model */
    int64_t index;      /* an IDX file's image (0; a PNG or JPEG has only 0) */
    int augment;        /* 1: the training augmentation (random resized crop, horizontal flip) drawn for
                           (seed, epoch, index) */
    uint64_t seed, epoch;
    const char *out; /* may be NULL: also write the floats there (little-endian float32, atomically) */
} ftune_image_opts;
FTUNE_API void ftune_image_opts_init(ftune_image_opts *o);
FTUNE_API ftune_status ftune_image_preprocess(ftune_ctx *ctx, const char *path, const ftune_image_opts *o,
                                              float **pixels, int shape[3]);
FTUNE_API ftune_status ftune_image_config_write(ftune_ctx *ctx, const char *path, int size, int channels,
                                                int resample);

/* ---- question answering ----
 * The answer to a question about a context from an extractive question-answering model (task
 * question_answering), as `ftune predict --question Q --context C` gives it: the context cut into windows as
 * training cut them (data.max_length tokens overlapping by data.doc_stride), the best span over all of them
 * after HF run_qa's post-processing with the run's qa.* keys (docs/encoders.md); o->n_best /
 * max_answer_length > 0 replace the recipe's. *answer (ftune_free) gets the span's text ("" for no answer,
 * SQuAD 2.0 models), *score its start + end logit, *prob its softmax probability over the n-best list,
 * *null_score the no-answer score (each may be NULL). ftune_model_has_tokenizer: 1 when the model came with a
 * tokenizer (text tasks need it). Since ABI 1 minor addition (FTUNE_HAS_QUESTION_ANSWERING). */
#define FTUNE_HAS_QUESTION_ANSWERING 1
typedef struct {
    size_t struct_size;    /* sizeof(ftune_qa_opts), set by ftune_qa_opts_init: fields may be added */
    int n_best;            /* start/end logits searched per window; 0 = the recipe's (qa.n_best_size, 20) */
    int max_answer_length; /* longest answer in tokens; 0 = the recipe's (qa.max_answer_length, 30) */
} ftune_qa_opts;
FTUNE_API void ftune_qa_opts_init(ftune_qa_opts *o);
FTUNE_API ftune_status ftune_answer_question(ftune_model *m, const char *question, const char *context,
                                             const ftune_qa_opts *o, char **answer, double *score,
                                             double *prob, double *null_score);
FTUNE_API int ftune_model_has_tokenizer(const ftune_model *m);

/* ---- metrics ---- */
typedef struct {
    const char *name; /* "loss", "perplexity", "accuracy", "f1_macro", "mse", ... (static strings) */
    double value;
} ftune_metric;

/* The model's task metrics on a data file, as `ftune eval --model DIR --data FILE` computes them: the file
 * read, cleaned and tokenized as training did, class labels checked against the model's (an unknown one
 * fails naming file:line). batch_size 0 = 16. *metrics (ftune_free) gets *n name/value pairs (loss,
 * perplexity, accuracy, f1_macro, ..., mse, mae, r2: those the task has); *n_examples (may be NULL) the
 * examples scored. Tasks: classification, regression, causal_lm, instruction, masked_lm, image_classification
 * (data_path: a class folder, an image,label list, an IDX file or a pixel CSV as training read it). */
FTUNE_API ftune_status ftune_model_evaluate(ftune_model *m, const char *data_path, int batch_size,
                                            ftune_metric **metrics, size_t *n, size_t *n_examples);

/* Scoring predictions against references, as `ftune score` does (docs/metrics.md): metric "bleu" (sacreBLEU's
 * corpus BLEU: 13a, 4-gram, exp smoothing), "rouge" (rouge-score's mean F-measures, best reference per type),
 * "squad" (SQuAD v1.1 exact match and F1), "classification" (scikit-learn's accuracy and P/R/F1 macro, micro,
 * weighted) or "regression" (mse, mae, r2 of numbers); ftune_score_metrics lists them (NULL-terminated,
 * static). Results (each may be NULL): *metrics (ftune_free; the names live in the same allocation) gets *n
 * name/value pairs in the order of the JSON's keys, BLEU's n-gram precisions as "precision_1".."precision_4",
 * a value the metric leaves undefined (JSON null) as NaN; *json the one-line object `ftune score --json`
 * prints; *report the text `ftune score` prints (both ftune_free). ftune_score_files reads one example per
 * line (a .jsonl file: one JSON string per line, in a reference file also a list of strings), each
 * reference file giving one more reference per example; errors name file:line. ftune_score_texts takes them
 * from memory: preds[0..n), example i's references refs[ref_off[i]] .. refs[ref_off[i+1]-1] (ref_off NULL:
 * exactly one each, refs[i]); errors name "predictions:LINE" / "references:LINE" (1-based example and
 * reference index). Classification and regression take exactly one reference per example. Since ABI 1 minor
 * addition (FTUNE_HAS_SCORE). */
#define FTUNE_HAS_SCORE 1
typedef struct {
    size_t struct_size; /* sizeof(ftune_score_opts), set by ftune_score_opts_init: fields may be added */
    int stem;           /* ROUGE: Porter-stem tokens (rouge-score's use_stemmer); 0 */
} ftune_score_opts;
FTUNE_API void ftune_score_opts_init(ftune_score_opts *o);
FTUNE_API const char *const *ftune_score_metrics(void);
FTUNE_API ftune_status ftune_score_files(ftune_ctx *ctx, const char *metric, const char *pred_path,
                                         const char *const *ref_paths, size_t n_ref_paths,
                                         const ftune_score_opts *o, ftune_metric **metrics, size_t *n,
                                         char **json, char **report);
FTUNE_API ftune_status ftune_score_texts(ftune_ctx *ctx, const char *metric, const char *const *preds,
                                         size_t n, const char *const *refs, const size_t *ref_off,
                                         const ftune_score_opts *o, ftune_metric **metrics, size_t *n_metrics,
                                         char **json, char **report);

/* ---- training ---- */
typedef struct ftune_trainer ftune_trainer;

/* A training run from a YAML recipe: recipe_path (a file) or recipe_yaml (the text), either may be NULL,
 * then key=value overrides in order (the same keys and forms as `ftune train RECIPE key=value ...`).
 * Only parses and checks the recipe; the model and data are loaded by the first step (or
 * ftune_trainer_prepare). The run writes what `ftune train` writes into output_dir (the model or
 * adapter, recipe.yaml, ftune_train.json, tokenizer files, metrics.jsonl, checkpoints), but never prints.
 * Every task `ftune train` runs: causal_lm, instruction, classification, regression, token_classification,
 * question_answering, masked_lm, seq2seq, image_classification (evaluation metrics by task: accuracy, f1,
 * precision, recall for tagging; exact_match and f1 for QA; rouge/bleu for seq2seq). */
FTUNE_API ftune_status ftune_trainer_new(ftune_ctx *ctx, const char *recipe_path, const char *recipe_yaml,
                                         const char *const *overrides, size_t n_overrides,
                                         ftune_trainer **out);
FTUNE_API void ftune_trainer_free(ftune_trainer *t);

/* Datasets: examples given by the program instead of (or besides) the recipe's data files. A dataset is a
 * list of raw rows; ftune_trainer_set_data(t, "train" | "validation" | "test", d) hands a copy to a run
 * before it starts, which then cleans, splits (a "train" dataset alone is split by data.val_ratio /
 * test_ratio, as a data.train file is) and tokenizes them exactly as it would the same rows read from a
 * file; data.train may then be left out of the recipe. The fields an example needs are the task's:
 * classification / regression text and label (text_pair for pairs), causal_lm text, instruction prompt
 * and response, seq2seq the source in text and the target in response. ftune_dataset_read appends a file's
 * rows (JSONL, CSV, TSV or text, as data.train reads them; options: data.* recipe keys such as
 * "data.text_field=review"). Not for image_classification (image files) or data.format pretokenized.
 * Since ABI 1 minor addition (FTUNE_HAS_DATASETS). */
#define FTUNE_HAS_DATASETS 1
typedef struct ftune_dataset ftune_dataset;
typedef struct {
    size_t struct_size; /* sizeof(ftune_example), set by ftune_example_init: fields may be added at the end */
    const char *text, *label, *text_pair, *prompt, *response; /* NULL: not given */
} ftune_example;
FTUNE_API void ftune_example_init(ftune_example *e);
FTUNE_API ftune_status ftune_dataset_new(ftune_ctx *ctx, ftune_dataset **out);
FTUNE_API void ftune_dataset_free(ftune_dataset *d);
FTUNE_API ftune_status ftune_dataset_add(ftune_dataset *d, const ftune_example *e);
FTUNE_API ftune_status ftune_dataset_read(ftune_dataset *d, const char *path, const char *const *options,
                                          size_t n_options);
FTUNE_API size_t ftune_dataset_size(const ftune_dataset *d);
FTUNE_API ftune_status ftune_trainer_set_data(ftune_trainer *t, const char *split, const ftune_dataset *d);

typedef struct {
    int64_t step, max_steps;
    double loss, lr, grad_norm, tokens_per_s;
} ftune_progress;
typedef void (*ftune_progress_fn)(void *user, const ftune_progress *p);
typedef void (*ftune_log_fn)(void *user, const char *line);
typedef void (*ftune_eval_fn)(void *user, int64_t step, const ftune_metric *metrics, size_t n);
/* Callbacks (each may be NULL), called on the thread that steps the trainer: on_progress after every
 * optimizer step; on_log with each line the command would print (data summary, evaluation lines,
 * skipped steps, early stopping); on_eval with the validation metrics of every evaluation (step 0, every
 * eval.every steps, the end). Set them before the first step. */
FTUNE_API ftune_status ftune_trainer_set_callbacks(ftune_trainer *t, ftune_progress_fn on_progress,
                                                   ftune_log_fn on_log, ftune_eval_fn on_eval, void *user);
/* Load the model, tokenizer and data, attach the method, create output_dir and run the evaluation at
 * step 0 (done by the first step when not called). */
FTUNE_API ftune_status ftune_trainer_prepare(ftune_trainer *t);
/* One optimizer step. *done (may be NULL) becomes 1 with the call that ends the run (the last step,
 * early stopping, or a stop request), which also evaluates, checkpoints, evaluates the test split and
 * saves the model or adapter into output_dir (not after a stop request: the checkpoint is then written
 * and resume=output_dir continues). Stepping a finished run does nothing. */
FTUNE_API ftune_status ftune_trainer_step(ftune_trainer *t, int *done);
/* Step until done. */
FTUNE_API ftune_status ftune_trainer_run(ftune_trainer *t);
/* Ask the run to stop before its next step (any thread, a callback, a signal handler: async-signal-safe, it
 * only stores a sig_atomic_t). */
FTUNE_API void ftune_trainer_request_stop(ftune_trainer *t);

typedef struct {
    int64_t step, max_steps;
    int done, stopped, early_stopped;      /* stopped: by ftune_trainer_request_stop */
    double first_loss, last_loss;          /* NaN before the first step */
    int64_t n_train, n_validation, n_test; /* examples */
    const char *output_dir;                /* lives as long as the trainer */
} ftune_trainer_info;
FTUNE_API ftune_status ftune_trainer_get_info(ftune_trainer *t, ftune_trainer_info *out);
/* The metrics of the trainer's current model on its "validation" or "test" split: *metrics (ftune_free)
 * gets *n name/value pairs. */
FTUNE_API ftune_status ftune_trainer_evaluate(ftune_trainer *t, const char *split, ftune_metric **metrics,
                                              size_t *n);

/* ---- model ---- */
/* Preparing data, as `ftune data` does: the options of reading, cleaning and augmenting rows (one struct,
 * ftune_data_opts_init sets `ftune data`'s defaults: format auto, fields text / label / prompt / response,
 * Unicode NFKC and whitespace cleanup, exact duplicates and empty/garbled rows dropped, no augmentation with
 * EDA rates 0.1 each, seed 42). ftune_dataset_read_with appends a file's rows (JSONL, CSV, TSV or text) read
 * with o's format and fields; ftune_dataset_read_mail a directory of raw mails (DIR/<group>/ *.txt; label =
 * group without easy-/hard- and -N; text = Subject + body, or with keep_headers the decoded header block
 * too; *n_recoded (may be NULL): mails decoded from a non-UTF-8 charset); ftune_dataset_read_mail_subjects
 * the body -> Subject pairs of one label's mails (text = body cut to max_body_bytes, response = subject,
 * the counts in *st, may be NULL). ftune_dataset_clean cleans and filters the rows in place with o's cleaning
 * fields; *st (may be NULL; its struct_size set by the caller) gets the counts and *summary (may be NULL,
 * ftune_free) the lines `ftune data` prints for them, naming the rows `name`. ftune_dataset_augment adds
 * o->augment_factor EDA copies per row on average (deletion, swap, WordNet insertion and synonyms from
 * o->wordnet_dir, default /usr/share/wordnet; drawn from o->seed); *added (may be NULL) counts them.
 * ftune_dataset_get: row i's fields (pointers into d, valid until d changes; NULL where absent; a pair's
 * second text in text_pair). ftune_dataset_split: d's rows split as training splits a file (seeded, per label
 * when stratify) and appended to train / validation / test (each may be NULL: those rows dropped).
 * ftune_dataset_recipe_splits: the train / validation / test rows `ftune train RECIPE key=value...` would use
 * (read, cleaned, split, train_limit; before augmentation and tokenization), each line of its data summary
 * passed to on_log (may be NULL). ftune_dataset_write_jsonl writes one {"text", "label", ...} object per row;
 * ftune_dataset_write_pairs one {"source": text, "target": response, "file"} per row, file relative to
 * base_dir when inside it (a seq2seq file). Since ABI 1 minor addition (FTUNE_HAS_DATA_PREP). */
#define FTUNE_HAS_DATA_PREP 1
typedef struct {
    size_t struct_size; /* sizeof(ftune_data_opts), set by ftune_data_opts_init: fields may be added */
    const char *format; /* "auto" (by extension), "jsonl", "csv", "tsv", "text" */
    const char *text_field, *label_field, *prompt_field, *response_field;
    int clean_unicode, clean_whitespace, clean_html, clean_email_headers; /* 1, 1, 0, 0 */
    int dedup_exact, dedup_near;                                          /* 1, 0 */
    double near_dup_threshold;    /* 0.8: MinHash Jaccard estimate of a near duplicate, in (0, 1] */
    int drop_garbled;             /* 1: empty rows, invalid UTF-8, rows mostly U+FFFD/control/symbols */
    int64_t min_chars, max_chars; /* 0 = no limit */
    double augment_factor;        /* 0 = off */
    double aug_p_delete, aug_p_swap, aug_p_insert, aug_p_synonym;
    const char *wordnet_dir; /* NULL = /usr/share/wordnet */
    uint64_t seed;
} ftune_data_opts;
typedef struct {
    size_t struct_size; /* sizeof(ftune_clean_stats): the caller sets it; fields may be added */
    size_t in, out;     /* rows */
    size_t garbled, too_short, too_long, dup_exact, dup_near;                        /* removed */
    size_t changed_unicode, changed_whitespace, changed_html, changed_email_headers; /* changed */
} ftune_clean_stats;
typedef struct {
    size_t struct_size; /* sizeof(ftune_mail_subject_stats): the caller sets it; fields may be added */
    size_t mails, pairs, recoded;               /* mails read, pairs kept, decoded from a non-UTF-8 charset */
    size_t other_label, no_subject, empty_body; /* skipped */
    size_t markers;                             /* subjects that lost a Re:/Fwd: marker */
} ftune_mail_subject_stats;
FTUNE_API void ftune_data_opts_init(ftune_data_opts *o);
FTUNE_API ftune_status ftune_dataset_read_with(ftune_dataset *d, const char *path, const ftune_data_opts *o);
FTUNE_API ftune_status ftune_dataset_read_mail(ftune_dataset *d, const char *dir, int keep_headers,
                                               size_t *n_recoded);
FTUNE_API ftune_status ftune_dataset_read_mail_subjects(ftune_dataset *d, const char *dir, const char *label,
                                                        size_t max_body_bytes, ftune_mail_subject_stats *st);
FTUNE_API ftune_status ftune_dataset_clean(ftune_dataset *d, const ftune_data_opts *o, const char *name,
                                           ftune_clean_stats *st, char **summary);
FTUNE_API ftune_status ftune_dataset_augment(ftune_dataset *d, const ftune_data_opts *o, size_t *added);
FTUNE_API ftune_status ftune_dataset_get(const ftune_dataset *d, size_t i, ftune_example *e);
FTUNE_API ftune_status ftune_dataset_split(const ftune_dataset *d, double val_ratio, double test_ratio,
                                           int stratify, uint64_t seed, ftune_dataset *train,
                                           ftune_dataset *validation, ftune_dataset *test);
FTUNE_API ftune_status ftune_dataset_recipe_splits(ftune_ctx *ctx, const char *recipe_path,
                                                   const char *const *overrides, size_t n_overrides,
                                                   ftune_log_fn on_log, void *user, ftune_dataset *train,
                                                   ftune_dataset *validation, ftune_dataset *test);
FTUNE_API ftune_status ftune_dataset_write_jsonl(const ftune_dataset *d, const char *path);
FTUNE_API ftune_status ftune_dataset_write_pairs(const ftune_dataset *d, const char *path,
                                                 const char *base_dir);

/* The baseline a fine-tuned model should beat, as `ftune baseline` computes it on a recipe's own split (the
 * rows, cleaning, ratios, stratification and seed of `ftune train RECIPE key=value...`): task classification
 * gets a bag-of-words multinomial naive Bayes (scikit-learn's CountVectorizer() + MultinomialNB(alpha)),
 * token_classification each word form's most frequent training tag. on_log (may be NULL) gets each line of
 * the data summary as it is made. Results (each may be NULL): *json (ftune_free) the one-line object `ftune
 * baseline --json` prints, *report (ftune_free) the text `ftune baseline` prints after the summary, *metrics
 * (ftune_free, the names in the same allocation) the JSON's numbers as *n_metrics pairs named by their path
 * ("train.documents", "validation.accuracy", "test.f1_macro", ...). Since ABI 1 minor addition
 * (FTUNE_HAS_BASELINE). */
#define FTUNE_HAS_BASELINE 1
typedef struct {
    size_t
        struct_size; /* sizeof(ftune_baseline_opts), set by ftune_baseline_opts_init: fields may be added */
    double alpha;    /* naive Bayes' additive smoothing, 1 */
    ftune_log_fn on_log;
    void *user;
} ftune_baseline_opts;
FTUNE_API void ftune_baseline_opts_init(ftune_baseline_opts *o);
FTUNE_API ftune_status ftune_baseline(ftune_ctx *ctx, const char *recipe_path, const char *const *overrides,
                                      size_t n_overrides, const ftune_baseline_opts *o,
                                      ftune_metric **metrics, size_t *n_metrics, char **json, char **report);

/* Checkpoint tools, as `ftune init`, `inspect`, `dump` and `merge` (`ftune CMD --help`; docs/parity.md).
 * ftune_checkpoint_init writes a randomly initialized model in Hugging Face layout into out_dir
 * (config.json + model.safetensors, sharded when large; a vit also a preprocessor_config.json): o->arch one
 * of ftune_checkpoint_archs() (NULL-terminated, static), o->config a JSON file of HF config fields (or
 * o->config_json the text; missing optional fields get the architecture's defaults; num_labels / id2label /
 * problem_type / architectures ask for a task head), weights drawn from o->seed, stored as o->dtype ("f32" or
 * "bf16"). *info (may be NULL) describes what was written (model_type, task, n_params, sizes).
 * ftune_checkpoint_inspect: *report (ftune_free) the description `ftune inspect DIR` prints (architecture,
 * shapes, parameters by dtype, files; with tensors every tensor of the files, marking those the model does
 * not use). ftune_checkpoint_dump: one forward and backward pass (dropout off) of the model in model_dir
 * (with the PEFT adapter adapter_dir frozen base, may be NULL: full fine-tuning) on the batch of batch_json,
 * written to out as safetensors: F32 'logits', 'loss' [1] and 'grad.<name>' of every trainable tensor (the
 * batch format and the shapes: `ftune dump --help`); *loss and *n_targets (each may be NULL) the loss and the
 * targets it averages. ftune_checkpoint_merge: the LoRA / DoRA / IA3 / BitFit adapter in adapter_dir folded
 * into the model in model_dir, written to out_dir as a plain checkpoint in dtype ("f32", "bf16", "int8" as
 * ftune_model_save writes it; NULL f32).
 * Since ABI 1 minor addition (FTUNE_HAS_CHECKPOINT_TOOLS). */
#define FTUNE_HAS_CHECKPOINT_TOOLS 1
typedef struct {
    size_t struct_size;      /* sizeof(ftune_init_opts), set by ftune_init_opts_init: fields may be added */
    const char *arch;        /* "gpt2", "llama", "bert", "vit", "t5", ... */
    const char *config;      /* a JSON file of config fields, or NULL and config_json */
    const char *config_json; /* the JSON text (used when config is NULL) */
    uint64_t seed;           /* 42 */
    const char *dtype;       /* "f32" (default) or "bf16" (the model held in bf16 only while writing) */
} ftune_init_opts;
FTUNE_API void ftune_init_opts_init(ftune_init_opts *o);
FTUNE_API const char *const *ftune_checkpoint_archs(void);
FTUNE_API ftune_status ftune_checkpoint_init(ftune_ctx *ctx, const ftune_init_opts *o, const char *out_dir,
                                             ftune_model_info *info);
FTUNE_API ftune_status ftune_checkpoint_inspect(ftune_ctx *ctx, const char *dir, int tensors, char **report);
FTUNE_API ftune_status ftune_checkpoint_dump(ftune_ctx *ctx, const char *model_dir, const char *adapter_dir,
                                             const char *batch_json, const char *out, double *loss,
                                             int64_t *n_targets);
FTUNE_API ftune_status ftune_checkpoint_merge(ftune_ctx *ctx, const char *model_dir, const char *adapter_dir,
                                              const char *out_dir, const char *dtype);
/* ---- train ---- */
/* `ftune train`'s whole run (issue 17: the command is a client of these calls). ftune_trainer_create makes
 * a trainer whose recipe starts at the defaults and options o (NULL: ftune_trainer_opts_init's); the recipe
 * is then built, in the caller's order and before the run starts, by ftune_trainer_load_recipe (a YAML file:
 * its keys replace earlier values), ftune_trainer_set_key (one key; origin names where it came from in an
 * error message, "--lr: ..."; NULL: "command line") and ftune_trainer_override ("key=value", as
 * ftune_trainer_new's overrides). Nothing is checked before the run starts (ftune_trainer_prepare, or the
 * first step, checks the whole recipe), so a later key may fix an earlier one. ftune_recipe_help: the text
 * `ftune train --help` lists the recipe keys with (*text, ftune_free).
 *
 * Options (struct_size set by ftune_trainer_opts_init; fields may be added):
 *  - command = 1: the run is exactly `ftune train`'s (else the trainer is ftune_trainer_new's and the other
 *    options below are ignored): on_output gets every text the command prints, in order, stream 1 (stdout:
 *    notes, the data summary, the model and data lines, the memory plan, "resuming from", the end of run
 *    lines, "test: loss ... accuracy ... f1_macro ...", "saved DIR") or 2 (stderr: warnings, each starting
 *    "ftune train: "); each text is one or more whole lines. The recipe is checked as the command checks it
 *    (model, output_dir and data.train required; rows given by ftune_trainer_set_data do not apply); a memory
 *    plan that does not fit fails the prepare (after its text); the end also writes report.html
 *    (report.html key) and the test split's metrics to metrics.jsonl under the command's keys.
 *  - progress: a `FILE *` (stdio) the progress display and the notes above it (evaluation lines, skipped
 *    steps, early stopping) are drawn on, as report.progress says (auto: redrawn in place on a terminal,
 *    plain lines every report.plain_interval seconds elsewhere; quiet: nothing); NULL: none. The only
 *    output the library writes itself; with command only.
 *  - distributed = 1: join the MPI job when the process was started by an MPI launcher with several ranks
 *    (mpirun -np N; docs/distributed.md); one process otherwise. Rank 0 alone gets the stdout texts, writes
 *    the outputs and evaluates the test split; every rank steps. Freeing a trainer whose run failed on a
 *    rank stops the other ranks (MPI_Abort) rather than leave them waiting; otherwise free leaves the job
 *    (MPI_Finalize). With command only.
 *  - dry_run = 1: prepare stops after the memory plan (with command: prints "dry run: the plan fits; nothing
 *    trained"); the run is then done, nothing trained or saved.
 *  - separate_finish = 1: the step that ends the training loop does not evaluate the test split nor save;
 *    ftune_trainer_finish does (so a program can restore its signal handlers in between). Without it
 *    ftune_trainer_finish does nothing.
 *
 * ftune_trainer_request_stop is async-signal-safe (it stores one sig_atomic_t): a SIGINT / SIGTERM handler
 * may call it; the run then checkpoints at the end of its current step and ends as a stopped run (resume=
 * output_dir continues it). ftune_trainer_get_state: where the run stands (struct_size set by
 * ftune_trainer_state_init; the library fills the fields the caller's struct has; it leaves the context's
 * last error as it is, so it may be called after a failure). Since ABI 1 minor addition
 * (FTUNE_HAS_TRAINER_OPTS). */
#define FTUNE_HAS_TRAINER_OPTS 1
enum { FTUNE_STDOUT = 1, FTUNE_STDERR = 2 };
typedef void (*ftune_output_fn)(void *user, int stream, const char *text);
typedef struct {
    size_t struct_size; /* sizeof(ftune_trainer_opts), set by ftune_trainer_opts_init: fields may be added */
    int command;        /* 1: `ftune train`'s run (0) */
    ftune_output_fn on_output; /* command: the texts it prints (may be NULL: none) */
    void *output_user;         /* on_output's first argument */
    void *progress;            /* command: a FILE * for the progress display (NULL: none) */
    int distributed;           /* command: join the MPI job under an MPI launcher (0) */
    int dry_run;               /* stop after the memory plan (0) */
    int separate_finish;       /* the end of the run (test split, save) by ftune_trainer_finish (0) */
} ftune_trainer_opts;
FTUNE_API void ftune_trainer_opts_init(ftune_trainer_opts *o);
FTUNE_API ftune_status ftune_trainer_create(ftune_ctx *ctx, const ftune_trainer_opts *o, ftune_trainer **out);
FTUNE_API ftune_status ftune_trainer_load_recipe(ftune_trainer *t, const char *path);
FTUNE_API ftune_status ftune_trainer_set_key(ftune_trainer *t, const char *key, const char *value,
                                             const char *origin);
FTUNE_API ftune_status ftune_trainer_override(ftune_trainer *t, const char *key_value);
FTUNE_API ftune_status ftune_trainer_finish(ftune_trainer *t);
FTUNE_API ftune_status ftune_recipe_help(ftune_ctx *ctx, char **text);
typedef struct {
    size_t
        struct_size; /* sizeof(ftune_trainer_state), set by ftune_trainer_state_init: fields may be added */
    int rank, world; /* this process's rank and the ranks of a distributed run (0 and 1: one process) */
    int launched;    /* an MPI launcher (mpirun, srun) started this process, with any number of ranks */
    int prepared;    /* the model and data are loaded */
    int done;        /* the run has ended (the last step, early stopping, a stop request, a dry run) */
    int finished;    /* and its end (test split, save) is done */
    int stopped;     /* it ended by a stop request: the checkpoint below continues it */
    int64_t step;    /* the last step done */
    const char *checkpoint; /* the last checkpoint written ("" none), lives as long as the trainer */
} ftune_trainer_state;
FTUNE_API void ftune_trainer_state_init(ftune_trainer_state *s);
FTUNE_API ftune_status ftune_trainer_get_state(ftune_trainer *t, ftune_trainer_state *out);

/* What `ftune compare` writes besides its runs. ftune_trainer_get_key: a recipe key's value as text (*value,
 * ftune_free; "" when unset), as the recipe stands (before or after the run starts). ftune_html_report_write:
 * a self-contained HTML page (no scripts, no external files; the form of a run's report.html) written
 * atomically to path: a title, a table of n keys / values, and line charts as inline SVG (each series n
 * points x[i], y[i]; a non-finite y breaks its line; log_y: a log10 y axis, values <= 0 left out).
 * ftune_json_file_write: a JSON text written atomically in the layout of Python's json.dump(indent=2)
 * (sort_keys: ordered by key), as the library writes its own JSON files. ftune_mkdir_p: a directory and its
 * parents (mkdir -p). Since ABI 1 minor addition (FTUNE_HAS_REPORT_FILES). */
#define FTUNE_HAS_REPORT_FILES 1
typedef struct {
    const char *name;    /* the legend's text */
    const double *x, *y; /* n points */
    size_t n;
} ftune_series;
typedef struct {
    const char *title, *x_label, *y_label;
    const ftune_series *series;
    size_t n_series;
    int log_y;
} ftune_chart;
FTUNE_API ftune_status ftune_trainer_get_key(ftune_trainer *t, const char *key, char **value);
FTUNE_API ftune_status ftune_html_report_write(ftune_ctx *ctx, const char *path, const char *title,
                                               const char *const *keys, const char *const *values, size_t n,
                                               const ftune_chart *charts, size_t n_charts);
FTUNE_API ftune_status ftune_json_file_write(ftune_ctx *ctx, const char *path, const char *json,
                                             int sort_keys);
FTUNE_API ftune_status ftune_mkdir_p(ftune_ctx *ctx, const char *path);
/* ---- eval ---- */
/* `ftune predict` and `ftune eval` as library calls (docs/api.md "Prediction and evaluation").
 *
 * Token classification (task token_classification): ftune_tag_words tags one sentence given as words, as
 * `ftune predict` does: the words joined and encoded as training encoded them, each word's tag the argmax at
 * its first piece; tags[w] gets word w's tag id (ftune_model_label names it), -1 for a word whose pieces were
 * cut at the training seq_len. ftune_tag_file does the same for each sentence of a JSONL file (its words in
 * the list field the model was trained with, data.tokens_field; a tags field is ignored), calling fn with
 * where ("FILE:LINE"), the words and their tags; fn returns 0 to go on, non-zero to stop (the call then
 * returns FT_OK). A sentence that fails is named FILE:LINE. Since ABI 1 minor addition (FTUNE_HAS_TAGGING).
 */
#define FTUNE_HAS_TAGGING 1
/* The sequence length the model was trained with (text inputs are cut there). */
FTUNE_API int ftune_model_seq_len(const ftune_model *m);
typedef int (*ftune_tag_fn)(void *user, const char *where, const char *const *words, size_t n_words,
                            const int32_t *tags);
FTUNE_API ftune_status ftune_tag_words(ftune_model *m, const char *const *words, size_t n_words,
                                       int32_t *tags);
FTUNE_API ftune_status ftune_tag_file(ftune_model *m, const char *path, ftune_tag_fn fn, void *user);

/* `ftune generate --data`: one generation per row of a data file, read with the model's training data
 * options (data.prompt_field / response_field, messages, or text as the prompt). A chat row's last assistant
 * message is its reference and the turns before it the prompt; a prompt row's response is its reference (a
 * seq2seq model's: the target). fn (may be NULL) gets each row in order (fields valid during the call;
 * reference NULL when the row has none); it returns 0 to go on, non-zero to stop (FT_OK). With references,
 * *metrics (ftune_free; may be NULL) gets bleu, rouge1, rouge2, rougeL, rougeLsum, exact_match and f1 of the
 * rows that have one, as task seq2seq's evaluation scores them; without, *n_metrics = 0. A row without a
 * prompt fails naming FILE:LINE, after the rows before it were given. Since FTUNE_HAS_GEN_RESULT. */
typedef struct {
    size_t struct_size; /* sizeof(ftune_gen_row) of the library: fields may be added */
    const char *file;   /* the data file and the row's line */
    long line;
    const char *prompt;    /* the prompt, or the chat row's last turn before the reply */
    const char *output;    /* the generated text */
    const char *reference; /* NULL: none */
    const char *finish;    /* as ftune_gen_result_finish */
    size_t new_tokens;
} ftune_gen_row;
typedef int (*ftune_gen_row_fn)(void *user, const ftune_gen_row *row);
FTUNE_API ftune_status ftune_generate_file(ftune_model *m, const char *path, const ftune_gen_opts *o,
                                           const ftune_beam_opts *b, ftune_gen_row_fn fn, void *user,
                                           ftune_metric **metrics, size_t *n_metrics);

/* seq2seq (an encoder-decoder trained with task seq2seq): the text the model generates from a source with the
 * run's own decoding settings (greedy, or eval.num_beams; up to eval.max_new_tokens, else the training target
 * length), the source encoded as training encoded it: what `ftune predict --text` prints. *text: ftune_free.
 * ftune_generate_seq2seq_file does it for each row of a data file (its source field, data.text_field, read as
 * training read its files), calling fn(user, source, output) in order; fn returns 0 to go on, non-zero to
 * stop (FT_OK). A row without a source fails naming FILE:LINE, after the rows before it were given. Since ABI
 * 1 minor addition (FTUNE_HAS_SEQ2SEQ_PREDICT). */
#define FTUNE_HAS_SEQ2SEQ_PREDICT 1
typedef int (*ftune_text_fn)(void *user, const char *source, const char *output);
FTUNE_API ftune_status ftune_generate_seq2seq(ftune_model *m, const char *source, char **text);
FTUNE_API ftune_status ftune_generate_seq2seq_file(ftune_model *m, const char *path, ftune_text_fn fn,
                                                   void *user);

/* ftune_model_evaluate with `ftune eval`'s options and its whole output, for every task it evaluates:
 * classification, regression, causal_lm, instruction, masked_lm, seq2seq, image_classification,
 * token_classification (JSONL / CoNLL sentences, or a Brown directory's split) and question_answering (SQuAD
 * JSON or JSONL). The model's state is left as it was (the options apply to this call only). metrics / n as
 * ftune_model_evaluate (each may be NULL); report (may be NULL; set struct_size with ftune_eval_report_init,
 * free its strings with ftune_eval_report_free) gets the task, the counts, the time, and the texts `ftune
 * eval` prints: json its --json object (one line), table the lines after its first line, notes what reading
 * the data noted (QA answers not at their answer_start; "" when nothing). After a failure json and table are
 * NULL and notes holds what was noted before it. Since ABI 1 minor addition (FTUNE_HAS_EVALUATE_REPORT). */
#define FTUNE_HAS_EVALUATE_REPORT 1
typedef struct {
    size_t struct_size; /* sizeof(ftune_eval_opts), set by ftune_eval_opts_init: fields may be added */
    int batch_size;     /* examples per forward pass; 0 = 16 */
    int seq_len;        /* > 0 (>= 2): the truncation length instead of training's (seq2seq: the source's) */
    int pack;           /* causal LM: -1 (default) the recipe's data.pack, 0 each document alone, 1 packed */
    int max_new_tokens; /* seq2seq: > 0 instead of the run's eval.max_new_tokens / data.max_target_length */
    int num_beams;      /* seq2seq: > 0 instead of the run's eval.num_beams */
    int generate;       /* seq2seq: 1 (default) also generate and score the text; 0 the loss only */
    const char *predictions; /* seq2seq: write each example's {"prediction", "reference"} JSON line here */
    const char *split;       /* token classification of a Brown directory: "train", "validation" or "test"
                                (NULL: "test") */
} ftune_eval_opts;
typedef struct {
    size_t struct_size;  /* sizeof(ftune_eval_report), set by ftune_eval_report_init: fields may be added */
    char task[32];       /* the task evaluated */
    size_t n_examples;   /* examples; token classification: sentences; question answering: questions */
    size_t n_windows;    /* question answering: the windows the contexts were cut into */
    size_t unknown_tags; /* token classification: words with a tag the model does not know (not scored) */
    double seconds;      /* the evaluation's time */
    char *json, *table, *notes;
} ftune_eval_report;
FTUNE_API void ftune_eval_opts_init(ftune_eval_opts *o);
FTUNE_API void ftune_eval_report_init(ftune_eval_report *r);
FTUNE_API void ftune_eval_report_free(ftune_eval_report *r);
FTUNE_API ftune_status ftune_model_evaluate_with(ftune_model *m, const char *data_path,
                                                 const ftune_eval_opts *o, ftune_metric **metrics, size_t *n,
                                                 ftune_eval_report *report);

#ifdef __cplusplus
}
#endif
#endif
