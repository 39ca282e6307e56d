/* Fuzz target: a Hugging Face config.json through ft_config_parse (every model_type it knows). */
#include "fuzz_util.h"
#include "models/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *txt = ftfz_str(data, size);
    ft_model_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (ft_config_parse(txt, "config.json", &cfg) == FT_OK)
        ft_config_free(&cfg);
    free(txt);
    return 0;
}
