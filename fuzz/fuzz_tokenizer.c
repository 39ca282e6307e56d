/* Fuzz target: a tokenizer.json through ft_tok_load_cjson; a tokenizer that loads then encodes a few
 * texts (ASCII, accents, CJK, emoji, controls, added-token look-alikes, invalid UTF-8), with and without
 * special tokens, with offsets, as a pair, and decodes what it produced. */
#include <cjson/cJSON.h>

#include "fuzz_util.h"
#include "tokenizer/tok_internal.h"

static const char *const TEXTS[] = {
    "Hello, world! It's 2024.",
    "  leading  and trailing  ",
    "caf\xc3\xa9 na\xc3\xafve \xe4\xbd\xa0\xe5\xa5\xbd",
    "emoji \xf0\x9f\x98\x80 tab\tnew\nline",
    "<s> [CLS] <|endoftext|> [MASK] <unk>",
    "bad \xff\xfe utf8 \xc3",
    "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    if (!root)
        return 0;
    ft_tokenizer *tok = NULL;
    if (ft_tok_load_cjson(root, NULL, "tokenizer.json", &tok) != FT_OK) {
        cJSON_Delete(root);
        return 0;
    }
    cJSON_Delete(root);
    for (size_t i = 0; i < sizeof TEXTS / sizeof *TEXTS; i++) {
        const char *s = TEXTS[i];
        ft_tok_ids ids = {0};
        if (ft_tok_encode(tok, s, strlen(s), i % 2 == 0, &ids) == FT_OK) {
            char *out = NULL;
            size_t n = 0;
            if (ft_tok_decode(tok, ids.ids, ids.n, i % 3 == 0, &out, &n) == FT_OK)
                free(out);
        }
        ft_tok_ids_free(&ids);
        ft_tok_ids o = {0};
        (void)ft_tok_encode_offsets(tok, s, strlen(s), true, FT_TOK_OFFSETS_CHARS, &o);
        ft_tok_ids_free(&o);
    }
    ft_tok_ids p = {0};
    (void)ft_tok_encode_pair(tok, TEXTS[0], strlen(TEXTS[0]), TEXTS[2], strlen(TEXTS[2]), true, &p);
    ft_tok_ids_free(&p);
    ft_tok_free(tok);
    return 0;
}
