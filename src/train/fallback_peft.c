/* TEMPORARY weak fallbacks for src/peft (declared in peft/peft.h, implemented by the peft module).
 * The real definitions are strong and win at link time (they sit earlier in the archive than this
 * file, and a strong symbol overrides a weak one). These support only full fine-tuning.
 * Delete this file once src/peft/ implements peft.h. */
#include <string.h>

#include "peft/peft.h"

__attribute__((weak)) void ft_peft_cfg_default(ft_peft_cfg *c) {
    memset(c, 0, sizeof *c);
    c->method = FT_METHOD_FULL;
    c->lora_r = 8;
    c->lora_alpha = 8.0f;
    c->lora_bias = "none";
    c->lora_init = "default";
    c->adapter_size = 64;
    c->adapter_placement = "houlsby";
    c->adapter_act = "relu";
    c->num_virtual_tokens = 20;
}

static const char *const METHOD_NAMES[] = {"full", "lora", "adapter", "prompt", "bitfit", "ia3"};

__attribute__((weak)) ft_status ft_method_parse(const char *name, ft_method *out) {
    for (int i = 0; i < 6; i++)
        if (!strcmp(name, METHOD_NAMES[i])) {
            *out = (ft_method)i;
            return FT_OK;
        }
    return ft_fail(FT_ERR_CONFIG, "unknown method '%s' (full, lora, adapter, prompt, bitfit, ia3)", name);
}

__attribute__((weak)) const char *ft_method_name(ft_method m) { return (unsigned)m < 6 ? METHOD_NAMES[m] : "?"; }

__attribute__((weak)) ft_status ft_peft_apply(ft_model *m, const ft_peft_cfg *cfg) {
    if (cfg->method != FT_METHOD_FULL)
        return ft_fail(FT_ERR_UNSUPPORTED, "method '%s' is not available in this build (only full)",
                       ft_method_name(cfg->method));
    for (int i = 0; i < m->n_params; i++)
        FT_TRY(ft_model_set_trainable(m, i, true));
    return FT_OK;
}

__attribute__((weak)) ft_status ft_model_save_output(const ft_model *m, const char *dir) {
    return ft_model_save(m, dir, FT_DT_F32);
}
