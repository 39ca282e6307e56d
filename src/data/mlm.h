/* data/mlm: masked-LM masking of collated batches (Hugging Face DataCollatorForLanguageModeling and
 * DataCollatorForWholeWordMask semantics) from the counter-based RNG: a row's masks depend only on (seed,
 * stream), so reruns, resumed runs and any thread count give the same masks. */
#ifndef FT_DATA_MLM_H
#define FT_DATA_MLM_H

#include "models/model.h"
#include "tokenizer/tokenizer.h"

/* What a token id is for masking. */
enum { FT_MLM_START = 0, FT_MLM_CONT = 1, FT_MLM_SPECIAL = 2 };

typedef struct ft_mlm {
    float prob;       /* share of a row's tokens chosen (data.mlm_probability, 0.15) */
    bool whole_word;  /* choose whole words (data.whole_word_mask) */
    int32_t mask_id;  /* [MASK] / <mask> */
    int32_t n_random; /* random replacements are drawn from [0, n_random) (HF: len(tokenizer)) */
    int32_t n_kind;
    uint8_t *kind; /* [n_kind] per id: FT_MLM_START, FT_MLM_CONT (continues the previous token's word:
                      WordPiece "##x", byte-level BPE without a leading "Ġ", SentencePiece without "▁"),
                      FT_MLM_SPECIAL (never chosen) */
    uint64_t seed;
} ft_mlm;

/* The masker of a tokenizer (tok_path names it in errors: a tokenizer without a mask token fails) for a model
 * vocabulary of vocab ids. */
ft_status ft_mlm_init(ft_mlm *x, const ft_tokenizer *tok, const char *tok_path, int32_t vocab, float prob,
                      bool whole_word, uint64_t seed);
void ft_mlm_free(ft_mlm *x);

/* Mask a collated batch in place (labels required: the ids at chosen positions, -100 elsewhere). Row r uses
 * RNG stream stream0 + r; eval = the fixed evaluation masks (another seed), else the training ones. Chosen
 * (never a special token or a pad): 80 % become the mask id, 10 % a random id, 10 % stay. Per token with
 * probability prob, or (whole_word) HF's word draw: words shuffled, taken while the count stays within
 * max(1, round(len · prob)) with len the row's real tokens. */
ft_status ft_mlm_mask(const ft_mlm *x, ft_batch *b, bool eval, uint64_t stream0);

#endif
