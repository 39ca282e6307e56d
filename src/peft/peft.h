/* peft: parameter-efficient methods over a loaded model. A method decides what trains and attaches
 * its tensors to the model's parameter table (as `extra` params with PEFT's own names), so the
 * trainer and the optimizer treat every method alike: they train whatever is marked trainable. */
#ifndef FT_PEFT_H
#define FT_PEFT_H

#include "models/model.h"

typedef enum {
    FT_METHOD_FULL = 0,
    FT_METHOD_LORA,
    FT_METHOD_ADAPTER,
    FT_METHOD_PROMPT,
    FT_METHOD_BITFIT,
    FT_METHOD_IA3
} ft_method;

typedef struct {
    ft_method method;
    /* freezing (full fine-tuning): train only the top N layers (0 = all), only params whose HF name
     * matches this regex (NULL = all), and whether the embeddings train */
    int train_top_layers;
    const char *train_pattern;
    bool freeze_embeddings;
    /* LoRA */
    int lora_r;               /* 8 */
    float lora_alpha;         /* 8 */
    float lora_dropout;       /* 0 */
    const char *target_modules; /* NULL = the architecture's PEFT default; "a,b" names, or "all-linear" */
    bool target_regex;          /* target_modules is one regex fully matched against module paths (PEFT str form) */
    bool use_rslora, use_dora;
    /* Which modules (PEFT's check_target_module_exists, in this order): exclude_modules first (names
     * "a,b": the path equals a name or ends in ".name"; exclude_regex: one regex fully matched); then
     * target_modules; for a name matched as a suffix (not an exact path, not a regex target) the layer
     * index must be in layers_to_transform ("0,2"; NULL = every layer): the number after the first
     * ".<x>." of the path, or after ".<p>." for the first p of layers_pattern ("h" or "a,b") that matches. */
    const char *exclude_modules;
    bool exclude_regex;
    const char *layers_to_transform, *layers_pattern;
    /* Per-module rank and alpha (PEFT rank_pattern / alpha_pattern): items "key:value"; a module takes
     * the value of the first key k with (.*\.)?(k)$ matching its whole path, else lora_r / lora_alpha.
     * pattern_sorted: try the keys in sorted order (how the saved adapter_config.json lists them, so
     * PEFT rebuilds the same ranks from it) rather than in the order given. */
    const char *rank_pattern, *alpha_pattern;
    bool pattern_sorted;
    const char *lora_bias;    /* "none" | "all" | "lora_only" */
    const char *lora_init;    /* "default" (Kaiming-uniform A, zero B) | "gaussian" */
    /* Adapter (bottleneck) */
    int adapter_size;         /* 64 */
    const char *adapter_placement; /* "houlsby" | "pfeiffer" */
    const char *adapter_act;  /* "relu" | "gelu" | "silu" */
    /* Prompt tuning */
    int num_virtual_tokens;   /* 20 */
    int prompt_submodules; /* PEFT num_transformer_submodules; 0 = the model's (T5 2: the table has 2n rows,
                              the encoder's input takes the first n; decoders 1) */
    const char *prompt_init_text; /* NULL = random N(0,1)... */
    /* IA3 */
    const char *ia3_feedforward_modules; /* NULL = default */
    /* modules trained in full alongside (e.g. the classification head "score"); NULL = PEFT default */
    const char *modules_to_save;
    uint64_t seed;
} ft_peft_cfg;
void ft_peft_cfg_default(ft_peft_cfg *c);
/* Lists in ft_peft_cfg (module names, layers, patterns) are items separated by newlines when the text
 * has any, else by commas (a regex read from an adapter file may hold commas). */
/* True when a target_modules / exclude_modules value from a recipe is a regex rather than a list of
 * names: it holds a character no module name or list has (anything but letters, digits, "_.-", ","
 * and spaces), e.g. ".*\.h\.[01]\.attn\.c_attn". */
bool ft_peft_spec_is_regex(const char *spec);
ft_status ft_method_parse(const char *name, ft_method *out); /* "full", "lora", ... */
const char *ft_method_name(ft_method m);

/* Apply a method to a freshly loaded model (marks trainable params, attaches tensors). Prints nothing;
 * ft_peft_summary() gives PEFT's print_trainable_parameters line. */
ft_status ft_peft_apply(ft_model *m, const ft_peft_cfg *cfg);
/* "trainable params: N || all params: M || trainable%: P" (PEFT's wording). */
void ft_peft_summary(const ft_model *m, char *buf, size_t n);
/* Load an adapter directory in PEFT's format (adapter_config.json + adapter_model.safetensors) onto
 * the model: attaches the method and binds its tensors; the adapter's tensors train, the base is frozen. */
ft_status ft_peft_load(ft_model *m, const char *dir);
/* Several adapters over one base, switched by name (one base model, many tasks). ft_peft_add loads
 * an adapter directory as a named slot and makes it active (the previously active one is kept,
 * detached); ft_peft_activate switches to another slot, or to the bare base model with NULL. Slots
 * are for inference: activation leaves the adapter frozen. Adapters that change base tensors (BitFit,
 * LoRA with bias != none) cannot share a base and are refused. */
ft_status ft_peft_add(ft_model *m, const char *dir, const char *name);
ft_status ft_peft_activate(ft_model *m, const char *name);
const char *ft_peft_active(const ft_model *m); /* NULL when the base model runs bare */
int ft_peft_slot_count(const ft_model *m);

/* Fold LoRA / DoRA / IA3 into the base weights and detach them (zero-latency inference);
 * ft_peft_unmerge restores the base weights bit-exactly from the checkpoint and re-attaches the adapter. */
ft_status ft_peft_merge(ft_model *m);
ft_status ft_peft_unmerge(ft_model *m);
/* The name a trainable tensor has in adapter_model.safetensors (PEFT names; base biases and heads
 * get the "base_model.model." prefix). */
void ft_peft_tensor_name(const ft_model *m, int idx, char *buf, size_t n);
/* The output of training: an HF checkpoint (full/freezing) or a PEFT adapter directory
 * (adapter_config.json + adapter_model.safetensors). */
ft_status ft_model_save_output(const ft_model *m, const char *dir);

#endif
