/* Fuzz target: a PEFT adapter_config.json through ft_peft_load on a tiny random model (Llama for inputs
 * of even length, GPT-2 for odd: the two layouts of linear sites). The adapter's safetensors file is
 * empty, so a config that parses and attaches ends in "adapter tensor ... is missing"; what is fuzzed is
 * the config (lists, regexes, rank/alpha patterns, refused keys) and the selector that applies it. */
#include "fuzz_util.h"
#include "models/model.h"
#include "peft/peft.h"

static const char *const CFGS[2] = {
    "{\"model_type\": \"llama\", \"vocab_size\": 40, \"hidden_size\": 24, \"intermediate_size\": 40, "
    "\"num_hidden_layers\": 2, \"num_attention_heads\": 6, \"num_key_value_heads\": 3, "
    "\"max_position_embeddings\": 32}",
    "{\"model_type\": \"gpt2\", \"vocab_size\": 40, \"n_embd\": 16, \"n_layer\": 2, \"n_head\": 2, "
    "\"n_positions\": 32, \"eos_token_id\": 0}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t EMPTY_ST[16] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    ftfz_write("adapter_model.safetensors", EMPTY_ST, sizeof EMPTY_ST);
    ftfz_write("adapter_config.json", data, size);
    ft_model_config cfg;
    ft_model *m = NULL;
    if (ft_config_parse(CFGS[size % 2], "config.json", &cfg) != FT_OK ||
        ft_model_init_random(&cfg, 1, &m) != FT_OK)
        abort();
    (void)ft_peft_load(m, ftfz_tmpdir());
    ft_model_free(m);
    return 0;
}
