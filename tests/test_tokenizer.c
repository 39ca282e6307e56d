/* tokenizer unit tests: hand-made vocabularies (BPE merges, byte fallback, WordPiece), normalizers,
 * added tokens, post-processors, decoders, chat templates, offsets (alignment through normalizers that
 * change lengths, byte-level trimming, model ranges) and bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "ft_test.h"
#include "tokenizer/tokenizer.h"

static char tmpdir[256];

static const char *write_tmp(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static ft_tokenizer *load_json(const char *json) {
    ft_tokenizer *t = NULL;
    const char *p = write_tmp("tokenizer.json", json);
    ft_status s = ft_tok_load(p, &t);
    if (s != FT_OK)
        fprintf(stderr, "  load failed: %s\n", ft_last_error());
    return t;
}

/* ids of text as a space-separated string, for compact checks */
static const char *enc(ft_tokenizer *t, const char *text, bool special) {
    static char buf[1024];
    ft_tok_ids ids = {0};
    buf[0] = 0;
    if (ft_tok_encode(t, text, strlen(text), special, &ids) != FT_OK) {
        snprintf(buf, sizeof buf, "ERR %s", ft_last_error());
        return buf;
    }
    size_t o = 0;
    for (size_t i = 0; i < ids.n && o < sizeof buf - 16; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, i ? " %d" : "%d", (int)ids.ids[i]);
    ft_tok_ids_free(&ids);
    return buf;
}

static const char *dec(ft_tokenizer *t, const int32_t *ids, size_t n, bool skip) {
    static char buf[1024];
    char *s;
    size_t len;
    if (ft_tok_decode(t, ids, n, skip, &s, &len) != FT_OK) {
        snprintf(buf, sizeof buf, "ERR %s", ft_last_error());
        return buf;
    }
    snprintf(buf, sizeof buf, "%s", s);
    free(s);
    return buf;
}

/* Char-level BPE: a b c d, merges "a b" (rank 0) -> ab, "b c" (rank 1), "ab c" (rank 2) -> abc. */
static const char *bpe_json =
    "{\"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"vocab\": {\"<unk>\": 0, \"a\": 1, \"b\": 2, \"c\": 3,"
    " \"d\": 4, \"ab\": 5, \"bc\": 6, \"abc\": 7, \"<s>\": 8, \"</s>\": 9, \"\\u2581\": 10, \"\\u2581a\": 11},"
    " \"merges\": [\"a b\", [\"b\", \"c\"], \"ab c\", \"\\u2581 a\"]},"
    " \"added_tokens\": [{\"id\": 8, \"content\": \"<s>\", \"special\": true, \"normalized\": false},"
    "                  {\"id\": 9, \"content\": \"</s>\", \"special\": true, \"normalized\": false}],"
    " \"post_processor\": {\"type\": \"TemplateProcessing\","
    "   \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}],"
    "   \"pair\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}},"
    "              {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}, {\"SpecialToken\": {\"id\": \"</s>\", \"type_id\": 1}}],"
    "   \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [8], \"tokens\": [\"<s>\"]},"
    "                      \"</s>\": {\"id\": \"</s>\", \"ids\": [9], \"tokens\": [\"</s>\"]}}}}";

FT_TEST(bpe_merges_by_rank) {
    ft_tokenizer *t = load_json(bpe_json);
    FT_CHECK(t != NULL);
    if (!t)
        return;
    /* "abc": a b (rank 0) before b c (rank 1), then ab c (rank 2) */
    FT_CHECK(!strcmp(enc(t, "abc", false), "7"));
    /* "bcd": only b c applies */
    FT_CHECK(!strcmp(enc(t, "bcd", false), "6 4"));
    /* "abab": two ab, leftmost first among equal ranks */
    FT_CHECK(!strcmp(enc(t, "abab", false), "5 5"));
    /* unknown characters become <unk>, not fused (fuse_unk false) */
    FT_CHECK(!strcmp(enc(t, "axyb", false), "1 0 0 2"));
    /* special token in text, and the template adds <s> */
    FT_CHECK(!strcmp(enc(t, "ab</s>c", true), "8 5 9 3"));
    ft_tok_ids ids = {0};
    FT_CHECK_OK(ft_tok_encode_pair(t, "ab", 2, "c", 1, true, &ids));
    FT_CHECK(ids.n == 4 && ids.ids[0] == 8 && ids.ids[1] == 5 && ids.ids[2] == 3 && ids.ids[3] == 9);
    FT_CHECK(ids.n == 4 && ids.type_ids[1] == 0 && ids.type_ids[2] == 1 && ids.type_ids[3] == 1);
    ft_tok_ids_free(&ids);
    ft_tok_special sp = ft_tok_special_ids(t);
    FT_CHECK(sp.bos == 8 && sp.unk == 0);
    FT_CHECK(ft_tok_vocab_size(t) == 12);
    FT_CHECK(ft_tok_token_to_id(t, "abc", 3) == 7);
    size_t len;
    FT_CHECK(!strcmp(ft_tok_id_to_token(t, 6, &len), "bc") && len == 2);
    FT_CHECK(ft_tok_id_to_token(t, 99, NULL) == NULL);
    /* no decoder: tokens joined by spaces; skip_special drops <s> */
    int32_t d[] = {8, 5, 3};
    FT_CHECK(!strcmp(dec(t, d, 3, false), "<s> ab c"));
    FT_CHECK(!strcmp(dec(t, d, 3, true), "ab c"));
    int32_t badid[] = {5, 1000};
    FT_CHECK(!strncmp(dec(t, badid, 2, false), "ERR", 3));
    ft_tok_free(t);
}

FT_TEST(bpe_ignore_merges_and_fuse_unk) {
    ft_tokenizer *t = load_json(
        "{\"model\": {\"type\": \"BPE\", \"unk_token\": \"?\", \"fuse_unk\": true, \"ignore_merges\": true,"
        " \"vocab\": {\"?\": 0, \"a\": 1, \"b\": 2, \"ab\": 3, \"aab\": 4}, \"merges\": [\"a b\"]}}");
    FT_CHECK(t != NULL);
    if (!t)
        return;
    FT_CHECK(!strcmp(enc(t, "aab", false), "4"));       /* whole word in vocab: no merging */
    FT_CHECK(!strcmp(enc(t, "abxyz", false), "3 0"));   /* consecutive unknowns fuse */
    ft_tok_free(t);
}

/* SentencePiece-style: Prepend + Replace normalizers, byte fallback, ByteFallback/Fuse/Strip decoders */
FT_TEST(sentencepiece_byte_fallback) {
    char json[16384];
    char bytes[8192] = "";
    size_t o = 0;
    for (int b = 0; b < 256; b++)
        o += (size_t)snprintf(bytes + o, sizeof bytes - o, ", \"<0x%02X>\": %d", b, 10 + b);
    snprintf(json, sizeof json,
             "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\\u2581\"},"
             " {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\\u2581\"}]},"
             " \"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": {\"String\": \"\\u2581\"},"
             " \"content\": \" \"}, {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \","
             " \"start\": 1, \"stop\": 0}]},"
             " \"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"byte_fallback\": true, \"fuse_unk\": true,"
             " \"vocab\": {\"<unk>\": 0, \"\\u2581\": 1, \"h\": 2, \"i\": 3, \"\\u2581h\": 4, \"\\u2581hi\": 5%s},"
             " \"merges\": [\"\\u2581 h\", \"\\u2581h i\"]}}",
             bytes);
    ft_tokenizer *t = load_json(json);
    FT_CHECK(t != NULL);
    if (!t)
        return;
    FT_CHECK(!strcmp(enc(t, "hi hi", false), "5 5"));
    /* é = C3 A9 is not in the vocab: bytes <0xC3> <0xA9> */
    FT_CHECK(!strcmp(enc(t, "hé", false), "4 205 179"));
    int32_t ids[] = {5, 1, 205, 179};
    FT_CHECK(!strcmp(dec(t, ids, 4, false), "hi é"));
    int32_t broken[] = {5, 205}; /* a lone lead byte decodes to U+FFFD */
    FT_CHECK(!strcmp(dec(t, broken, 2, false), "hi\xEF\xBF\xBD"));
    FT_CHECK(!strcmp(enc(t, "", false), ""));
    ft_tok_free(t);
}

FT_TEST(byte_level_roundtrip) {
    /* every byte is a token of the byte-level alphabet: ids = byte values mapped */
    char json[16384] = "{\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},"
                       " \"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {";
    size_t o = strlen(json);
    /* GPT-2 alphabet: printable bytes map to themselves, the rest to U+0100 + k */
    int k = 0;
    for (int b = 0; b < 256; b++) {
        bool pr = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
        unsigned cp = pr ? (unsigned)b : 256u + (unsigned)k++;
        o += (size_t)snprintf(json + o, sizeof json - o, "%s\"\\u%04x\": %d", b ? ", " : "", cp, b);
    }
    snprintf(json + o, sizeof json - o, "}, \"merges\": []}}");
    ft_tokenizer *t = load_json(json);
    FT_CHECK(t != NULL);
    if (!t)
        return;
    FT_CHECK(!strcmp(enc(t, "a b\n", false), "97 32 98 10"));
    const char *s = "tab\there \xE2\x82\xAC 1's";
    ft_tok_ids ids = {0};
    FT_CHECK_OK(ft_tok_encode(t, s, strlen(s), false, &ids));
    FT_CHECK(!strcmp(dec(t, ids.ids, ids.n, false), s));
    size_t len;
    FT_CHECK(!strcmp(ft_tok_id_to_token(t, 32, &len), "\xC4\xA0")); /* space is Ġ */
    ft_tok_ids_free(&ids);
    ft_tok_free(t);
}

static const char *bert_vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nun\n##aff\n##able\n,\n.\n中\ncafe\n##s\n";

FT_TEST(wordpiece_bert) {
    write_tmp("vocab.txt", bert_vocab);
    char p[512];
    snprintf(p, sizeof p, "%s/vocab.txt", tmpdir);
    ft_tokenizer *t = NULL;
    FT_CHECK_OK(ft_tok_load(p, &t));
    if (!t)
        return;
    FT_CHECK(!strcmp(ft_tok_model_type(t), "WordPiece"));
    /* lowercase, split punctuation, ## continuation, accents stripped (Café -> cafe) */
    FT_CHECK(!strcmp(enc(t, "The CAT, unaffable.", false), "5 6 10 7 8 9 11"));
    FT_CHECK(!strcmp(enc(t, "Caf\xC3\xA9s", false), "13 14"));
    FT_CHECK(!strcmp(enc(t, "Cafe\xCC\x81", false), "13")); /* NFD accent stripped too */
    /* an unknown piece makes the whole word [UNK]; Chinese characters become words */
    FT_CHECK(!strcmp(enc(t, "unxyz the", false), "1 5"));
    FT_CHECK(!strcmp(enc(t, "the\xE4\xB8\xAD" "cat", false), "5 12 6"));
    /* control characters vanish, special tokens match on raw text */
    FT_CHECK(!strcmp(enc(t, "the\x01 [SEP] cat", true), "2 5 3 6 3"));
    /* a word longer than 100 characters is [UNK] even when its pieces exist */
    char longw[512] = "un";
    for (int i = 0; i < 40; i++)
        strcat(longw, "##aff" + 2);
    FT_CHECK(!strcmp(enc(t, longw, false), "1"));
    ft_tok_ids ids = {0};
    FT_CHECK_OK(ft_tok_encode_pair(t, "the", 3, "cat", 3, true, &ids));
    FT_CHECK(ids.n == 5 && ids.ids[0] == 2 && ids.ids[2] == 3 && ids.ids[4] == 3 && ids.type_ids[1] == 0 &&
             ids.type_ids[3] == 1 && ids.type_ids[4] == 1);
    ft_tok_ids_free(&ids);
    int32_t d[] = {2, 5, 6, 10, 7, 8, 9, 11, 3};
    FT_CHECK(!strcmp(dec(t, d, 9, true), "the cat, unaffable."));
    FT_CHECK(!strcmp(dec(t, d, 9, false), "[CLS] the cat, unaffable. [SEP]"));
    ft_tok_special sp = ft_tok_special_ids(t);
    FT_CHECK(sp.cls == 2 && sp.sep == 3 && sp.pad == 0 && sp.unk == 1 && sp.mask == 4);
    ft_tok_free(t);
}

FT_TEST(normalizers_unicode) {
    ft_tokenizer *t = load_json(
        "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFKC\"}, {\"type\": \"Lowercase\"}]},"
        " \"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"},"
        " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"?\", \"vocab\": {\"?\": 0, \"fi\": 1, \"caf\\u00e9\": 2,"
        " \"i\\u0307stanbul\": 3, \"abc\": 4}}}");
    FT_CHECK(t != NULL);
    if (!t)
        return;
    FT_CHECK(!strcmp(enc(t, "\xEF\xAC\x81", false), "1"));          /* ﬁ ligature -> fi (NFKC) */
    FT_CHECK(!strcmp(enc(t, "CAFE\xCC\x81", false), "2"));          /* NFD input composes, then lowercases */
    FT_CHECK(!strcmp(enc(t, "\xC4\xB0stanbul", false), "3"));       /* İ -> i + combining dot */
    FT_CHECK(!strcmp(enc(t, "\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3", false), "4")); /* fullwidth ABC */
    ft_tok_free(t);
}

FT_TEST(added_token_options) {
    ft_tokenizer *t = load_json(
        "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"?\", \"vocab\": {\"?\": 0, \"x\": 1, \"y\": 2}},"
        " \"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"},"
        " \"added_tokens\": [{\"id\": 5, \"content\": \"<m>\", \"lstrip\": true, \"rstrip\": true, \"special\": true},"
        "   {\"id\": 6, \"content\": \"w\", \"single_word\": true, \"normalized\": false},"
        "   {\"id\": 7, \"content\": \"<m>long\", \"special\": true}]}");
    FT_CHECK(t != NULL);
    if (!t)
        return;
    FT_CHECK(!strcmp(enc(t, "x  <m>  y", false), "1 5 2"));
    FT_CHECK(!strcmp(enc(t, "x <m>long y", false), "1 7 2")); /* longest match wins */
    FT_CHECK(!strcmp(enc(t, "x w y", false), "1 6 2"));
    FT_CHECK(!strcmp(enc(t, "xw", false), "0"));              /* w inside a word is not the added token */
    ft_tok_free(t);
}

FT_TEST(chat_templates) {
    ft_tok_msg m[] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}};
    char *s = NULL;
    FT_CHECK_OK(ft_tok_chat_render("chatml", m, 3, false, &s));
    FT_CHECK(s && !strcmp(s, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                             "<|im_start|>assistant\nHello!<|im_end|>\n"));
    free(s);
    FT_CHECK_OK(ft_tok_chat_render("llama2", m, 3, false, &s));
    FT_CHECK(s && !strcmp(s, "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s>"));
    free(s);
    FT_CHECK_FAILS(ft_tok_chat_render("vicuna", m, 3, false, &s), FT_ERR_ARG, "vicuna");
    ft_tok_msg bad[] = {{"robot", "x"}};
    FT_CHECK_FAILS(ft_tok_chat_render("chatml", bad, 1, false, &s), FT_ERR_ARG, "robot");
    /* assistant mask on a byte-level vocabulary with the chatml specials */
    char json[16384] = "{\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},"
                       " \"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {";
    size_t o = strlen(json);
    int k = 0;
    for (int b = 0; b < 256; b++) {
        bool pr = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
        unsigned cp = pr ? (unsigned)b : 256u + (unsigned)k++;
        o += (size_t)snprintf(json + o, sizeof json - o, "%s\"\\u%04x\": %d", b ? ", " : "", cp, b);
    }
    snprintf(json + o, sizeof json - o,
             "}, \"merges\": []}, \"added_tokens\": [{\"id\": 300, \"content\": \"<|im_start|>\", \"special\": true},"
             " {\"id\": 301, \"content\": \"<|im_end|>\", \"special\": true}]}");
    ft_tokenizer *t = load_json(json);
    FT_CHECK(t != NULL);
    if (!t)
        return;
    ft_tok_ids ids = {0};
    FT_CHECK_OK(ft_tok_chat_encode(t, "chatml", m + 1, 2, false, &ids));
    /* <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n */
    size_t first = 0, count = 0;
    for (size_t i = 0; i < ids.n; i++)
        if (ids.mask[i]) {
            if (!count)
                first = i;
            count++;
        }
    FT_CHECK(count == 7); /* "Hello!" (6 bytes) + <|im_end|> */
    FT_CHECK(ids.ids[first] == 'H' && ids.ids[first + 6] == 301 && !ids.mask[first - 1] && !ids.mask[ids.n - 1]);
    ft_tok_ids_free(&ids);
    ft_tok_free(t);
}

/* ---- offsets: every expected value below is what Hugging Face tokenizers 0.23 (npm binding) gives for
 * the same tokenizer.json and text ---- */

/* "id@start:end ..." of an encoding with offsets, for compact checks */
static const char *offs(ft_tokenizer *t, const char *a, const char *b, bool special,
                        ft_tok_offset_unit unit) {
    static char buf[1024];
    ft_tok_ids ids = {0};
    buf[0] = 0;
    ft_status st = b ? ft_tok_encode_pair_offsets(t, a, strlen(a), b, strlen(b), special, unit, &ids)
                     : ft_tok_encode_offsets(t, a, strlen(a), special, unit, &ids);
    if (st != FT_OK) {
        snprintf(buf, sizeof buf, "ERR %s", ft_last_error());
        return buf;
    }
    size_t o = 0;
    for (size_t i = 0; i < ids.n && o < sizeof buf - 48; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, i ? " %d@%zu:%zu" : "%d@%zu:%zu", (int)ids.ids[i],
                              ids.offsets[i].start, ids.offsets[i].end);
    ft_tok_ids_free(&ids);
    return buf;
}

/* A BPE whose vocabulary is single characters (no merges): each normalized character is one token, so
 * the offsets show each character's alignment. vocab: JSON members after "[UNK]": 0. */
static ft_tokenizer *char_bpe(const char *normalizer, const char *pre, const char *post, const char *vocab,
                              bool byte_fallback) {
    char json[4096];
    snprintf(
        json, sizeof json,
        "{\"normalizer\": %s, \"pre_tokenizer\": %s, \"post_processor\": %s, \"model\": {\"type\": \"BPE\","
        " \"unk_token\": \"[UNK]\", \"byte_fallback\": %s, \"vocab\": {\"[UNK]\": 0, %s}, \"merges\": []}}",
        normalizer, pre, post, byte_fallback ? "true" : "false", vocab);
    return load_json(json);
}

#define CHECK_OFFS(t, a, b, special, unit, want)                                                             \
    do {                                                                                                     \
        const char *got_ = offs(t, a, b, special, unit);                                                     \
        FT_CHECKF(!strcmp(got_, want), "offsets of \"%s\": got %s, want %s", a, got_, want);                 \
    } while (0)

/* Char-level BPE cases: pipeline pieces, then texts and the offsets wanted (chars, and bytes when given). */
typedef struct {
    const char *what, *normalizer, *pre, *post, *vocab;
    bool byte_fallback;
    const char *text, *pair;
    bool special;
    const char *chars, *bytes;
} offs_case;

#define BL_PRE(aps)                                                                                          \
    "{\"type\": \"ByteLevel\", \"add_prefix_space\": " aps ", \"trim_offsets\": true, \"use_regex\": true}"
#define ROBERTA(trim)                                                                                        \
    "{\"type\": \"RobertaProcessing\", \"sep\": [\"b\", 2], \"cls\": [\"a\", 1], \"trim_offsets\": " trim "}"
#define BL_VOCAB "\"a\": 1, \"b\": 2, \"\\u0120\": 3"

static const offs_case offs_cases[] = {
    {"NFKD + StripAccents + Lowercase: U+FB01 -> f, i (both from the ligature); É -> E U+0301 -> e; İ -> I "
     "U+0307 -> i",
     "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFKD\"}, {\"type\": \"StripAccents\"},"
     " {\"type\": \"Lowercase\"}]}",
     "null", "null", "\"f\": 1, \"i\": 2, \" \": 3, \"e\": 4, \"x\": 5", false, "\uFB01 \u00C9 \u0130x", NULL,
     false, "1@0:1 2@0:1 3@1:2 4@2:3 3@3:4 2@4:5 5@5:6", "1@0:3 2@0:3 3@3:4 4@4:6 3@6:7 2@7:9 5@9:10"},
    {"Lowercase changing byte lengths: İ (2 bytes) -> i U+0307 (3), ẞ (3) -> ß (2)",
     "{\"type\": \"Lowercase\"}", "null", "null", "\"i\": 1, \"\\u0307\": 2, \"\\u00df\": 3, \"a\": 4", false,
     "\u0130\u1E9EA", NULL, false, "1@0:1 2@0:1 3@1:2 4@2:3", "1@0:2 2@0:2 3@2:5 4@5:6"},
    {"Replace: the content takes the range of the match's last character (ab -> X is b's)",
     "{\"type\": \"Sequence\", \"normalizers\": ["
     "{\"type\": \"Replace\", \"pattern\": {\"String\": \"ab\"}, \"content\": \"X\"},"
     "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\\u2581\"}]}",
     "null", "null", "\"z\": 1, \"X\": 2, \"\\u2581\": 3, \"b\": 4", false, "zab b", NULL, false,
     "1@0:1 2@2:3 3@3:4 4@4:5", NULL},
    {"NFC: a composite keeps its starter's range (e U+0301 -> é is 0:1); a U+0323 U+0302 -> ậ (from a), "
     "U+0301 stays",
     "{\"type\": \"NFC\"}", "null", "null",
     "\"\\u00e9\": 1, \"x\": 2, \"a\": 3, \"\\u1ea5\": 4, \"\\u0323\": 5", false,
     "e\u0301x a\u0323\u0302\u0301", NULL, false, "1@0:1 2@2:3 0@3:4 0@4:5 0@7:8",
     "1@0:1 2@3:4 0@4:5 0@5:6 0@10:12"},
    {"Prepend: the prefix belongs to the first character",
     "{\"type\": \"Prepend\", \"prepend\": \"\\u2581\"}", "null", "null",
     "\"\\u2581\": 1, \"a\": 2, \"b\": 3", false, "ab", NULL, false, "1@0:1 2@0:1 3@1:2", NULL},
    {"Prepend: nothing on empty text", "{\"type\": \"Prepend\", \"prepend\": \"\\u2581\"}", "null", "null",
     "\"\\u2581\": 1", false, "", NULL, false, "", NULL},
    {"BertNormalizer: the spaces around a Chinese character come from it",
     "{\"type\": \"BertNormalizer\", \"clean_text\": true, \"handle_chinese_chars\": true,"
     " \"strip_accents\": false, \"lowercase\": false}",
     "null", "null", "\"a\": 1, \" \": 2, \"\\u4e2d\": 3, \"b\": 4", false, "a\u4E2Db", NULL, false,
     "1@0:1 2@1:2 3@1:2 2@1:2 4@2:3", "1@0:1 2@1:4 3@1:4 2@1:4 4@4:5"},
    {"RobertaProcessing trim_offsets: spaces leave the range (a lone Ġ becomes empty)", "null",
     BL_PRE("false"), ROBERTA("true"), BL_VOCAB, false, "a  b", NULL, true,
     "1@0:0 1@0:1 3@2:2 3@3:3 2@3:4 2@0:0", NULL},
    {"a pair: each sequence counts from its own start", "null", BL_PRE("false"), ROBERTA("true"), BL_VOCAB,
     false, "a b", "b a", true, "1@0:0 1@0:1 3@2:2 2@2:3 2@0:0 2@0:0 2@0:1 3@2:2 1@2:3 2@0:0", NULL},
    {"without trimming the space stays", "null", BL_PRE("false"), ROBERTA("false"), BL_VOCAB, false, "a  b",
     NULL, false, "1@0:1 3@1:2 3@2:3 2@3:4", NULL},
    {"add_prefix_space: the space belongs to the first character; trimming keeps one leading space of the "
     "first token (this one is only that space, so its trailing space empties it)",
     "null", BL_PRE("true"), BL_PRE("true"), BL_VOCAB, false, "a b", NULL, true, "3@0:0 1@0:1 3@2:2 2@2:3",
     NULL},
    {"add_prefix_space: nothing prepended to empty text", "null", BL_PRE("true"), BL_PRE("true"), BL_VOCAB,
     false, "", NULL, true, "", NULL},
    {"byte fallback: byte tokens span their character; an [UNK] is laid after the byte tokens that follow it "
     "(HF defers it), so its range shifts",
     "null", "null", "null", "\"<0xC3>\": 1, \"<0xA9>\": 2, \"x\": 3", true, "Q\u00E9x", NULL, false,
     "1@0:1 2@1:2 0@1:2 3@2:3", "1@0:1 2@1:3 0@1:3 3@3:4"},
    {"Metaspace: the prepended ▁ belongs to the first character, a replaced space to itself", "null",
     "{\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", \"prepend_scheme\": \"first\", \"split\": "
     "true}",
     "null", "\"\\u2581\": 1, \"a\": 2, \"b\": 3", false, "a b", NULL, false, "1@0:1 2@0:1 1@1:2 3@2:3",
     NULL},
};

FT_TEST(offsets_char_bpe) {
    for (size_t i = 0; i < sizeof offs_cases / sizeof *offs_cases; i++) {
        const offs_case *c = &offs_cases[i];
        ft_tokenizer *t = char_bpe(c->normalizer, c->pre, c->post, c->vocab, c->byte_fallback);
        FT_CHECKF(t != NULL, "%s: does not load", c->what);
        if (!t)
            continue;
        const char *got = offs(t, c->text, c->pair, c->special, FT_TOK_OFFSETS_CHARS);
        FT_CHECKF(!strcmp(got, c->chars), "%s: got %s, want %s", c->what, got, c->chars);
        if (c->bytes) {
            got = offs(t, c->text, c->pair, c->special, FT_TOK_OFFSETS_BYTES);
            FT_CHECKF(!strcmp(got, c->bytes), "%s (bytes): got %s, want %s", c->what, got, c->bytes);
        }
        ft_tok_free(t);
    }
}

FT_TEST(offsets_models) {
    /* WordPiece pieces, a whole-word [UNK], [CLS]/[SEP] at 0:0, and the word cache giving the same ranges
     * the second time */
    ft_tokenizer *t = load_json("{\"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true},"
                                " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
                                " \"post_processor\": {\"type\": \"BertProcessing\", \"sep\": [\"[SEP]\", "
                                "2], \"cls\": [\"[CLS]\", 1]},"
                                " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\","
                                " \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2, \"un\": 3, "
                                "\"##aff\": 4, \"##able\": 5, \"!\": 6}}}");
    FT_CHECK(t != NULL);
    if (t) {
        CHECK_OFFS(t, "Un\u00E4ffable zz UNAFFABLE!", NULL, true, FT_TOK_OFFSETS_CHARS,
                   "1@0:0 3@0:2 4@2:5 5@5:9 0@10:12 3@13:15 4@15:18 5@18:22 6@22:23 2@0:0");
        /* plain encode after an offsets encode leaves no offsets behind */
        ft_tok_ids ids = {0};
        FT_CHECK_OK(ft_tok_encode_offsets(t, "un", 2, false, FT_TOK_OFFSETS_CHARS, &ids));
        FT_CHECK(ids.offsets != NULL);
        FT_CHECK_OK(ft_tok_encode(t, "un", 2, false, &ids));
        FT_CHECK(ids.offsets == NULL && ids.n == 1);
        FT_CHECK_FAILS(ft_tok_encode_offsets(t, "a\xFF", 2, false, FT_TOK_OFFSETS_CHARS, &ids), FT_ERR_ARG,
                       "UTF-8");
        FT_CHECK_FAILS(ft_tok_encode_offsets(t, "a", 1, false, (ft_tok_offset_unit)7, &ids), FT_ERR_ARG,
                       "bad arguments");
        ft_tok_ids_free(&ids);
        ft_tok_free(t);
    }
    /* added tokens: lstrip takes the spaces before it into its range */
    t = load_json(
        "{\"added_tokens\": [{\"id\": 3, \"content\": \"<m>\", \"special\": true, \"lstrip\": true}],"
        " \"model\": {\"type\": \"BPE\", \"unk_token\": \"[UNK]\","
        " \"vocab\": {\"[UNK]\": 0, \"a\": 1, \" \": 2, \"<m>\": 3}, \"merges\": []}}");
    FT_CHECK(t != NULL);
    if (t) {
        CHECK_OFFS(t, "a  <m>a", NULL, false, FT_TOK_OFFSETS_CHARS, "1@0:1 3@1:6 1@6:7");
        ft_tok_free(t);
    }
}

/* ---- Unigram and Precompiled: every expected value is what Hugging Face tokenizers 0.23 (npm binding)
 * gives for the same tokenizer.json and text ---- */

#define FT_CHECK_STR(got, want)                                                                              \
    do {                                                                                                     \
        const char *got_s_ = (got);                                                                          \
        FT_CHECKF(!strcmp(got_s_, want), "got \"%s\", want \"%s\"", got_s_, want);                           \
    } while (0)

/* Scores worked by hand: x -2, y -2, xy -4 ("xy": x+y ties xy, the piece offered first (xy, from the
 * earlier start) wins); z -3, yz -5 ("xyz": x+yz = xy+z = -7, x+yz is offered first at position 3);
 * q -10 is the lowest, so an unknown character scores -20; wv -1 ("wv" one piece though w and v are
 * unknown alone); xyzxyz longer than every input; <0xC3> <0xB1> (the bytes of "ñ", not of "é"). */
#define UNI_VOCAB                                                                                            \
    "[[\"<unk>\", 0], [\"x\", -2], [\"y\", -2], [\"xy\", -4], [\"z\", -3], [\"yz\", -5], [\"q\", -10],"      \
    " [\"wv\", -1], [\"xyzxyz\", -1], [\"<0xC3>\", -1], [\"<0xB1>\", -1]]"

static ft_tokenizer *unigram(const char *unk_id, bool byte_fallback) {
    char json[1024];
    snprintf(
        json, sizeof json,
        "{\"model\": {\"type\": \"Unigram\", \"unk_id\": %s, \"byte_fallback\": %s, \"vocab\": " UNI_VOCAB
        "}}",
        unk_id, byte_fallback ? "true" : "false");
    return load_json(json);
}

FT_TEST(unigram_viterbi) {
    ft_tokenizer *t = unigram("0", false);
    FT_CHECK(t != NULL);
    if (!t)
        return;
    FT_CHECK_STR(ft_tok_model_type(t), "Unigram");
    static const char *const cases[][2] = {
        {"xy", "3@0:2"},                         /* tie: the longer piece, offered first */
        {"xyz", "1@0:1 5@1:3"},                  /* tie: x+yz, offered before xy+z */
        {"xyzq", "1@0:1 5@1:3 6@3:4"},           /* the piece xyzxyz is longer than the text */
        {"", ""},                                /* nothing */
        {"wv", "7@0:2"},                         /* a piece over two characters unknown alone */
        {"w", "0@0:1"},                          /* unknown */
        {"vw", "0@0:2"},                         /* two unknowns fused into one <unk> */
        {"x\u00F1\u00F1y", "1@0:1 0@1:3 2@3:4"}, /* fused between known pieces */
        {"x<unk>\u00F1", "1@0:1 0@1:7"},         /* the piece "<unk>" in the text fuses with an unknown */
        {"qq", "6@0:1 6@1:2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK_OFFS(t, cases[i][0], NULL, false, FT_TOK_OFFSETS_CHARS, cases[i][1]);
    CHECK_OFFS(t, "x\u00F1\u00F1y", NULL, false, FT_TOK_OFFSETS_BYTES, "1@0:1 0@1:5 2@5:6");
    ft_tok_free(t);
    /* byte fallback: every byte token of a fused unknown run spans the whole run; a run with a byte
     * missing from the vocabulary stays <unk>; the second encoding comes from the word cache */
    t = unigram("0", true);
    FT_CHECK(t != NULL);
    if (t) {
        CHECK_OFFS(t, "\u00F1", NULL, false, FT_TOK_OFFSETS_CHARS, "9@0:1 10@0:1");
        CHECK_OFFS(t, "x\u00F1\u00F1y", NULL, false, FT_TOK_OFFSETS_CHARS,
                   "1@0:1 9@1:3 10@1:3 9@1:3 10@1:3 2@3:4");
        CHECK_OFFS(t, "x\u00F1\u00F1y", NULL, false, FT_TOK_OFFSETS_CHARS,
                   "1@0:1 9@1:3 10@1:3 9@1:3 10@1:3 2@3:4");
        CHECK_OFFS(t, "\u00E9\u00F1", NULL, false, FT_TOK_OFFSETS_CHARS, "0@0:2");
        FT_CHECK_STR(enc(t, "x\u00F1\u00F1y", false), "1 9 10 9 10 2");
        ft_tok_free(t);
    }
    /* no unk_id: known text encodes, an unknown character is an error (as in HF) */
    t = unigram("null", false);
    FT_CHECK(t != NULL);
    if (t) {
        FT_CHECK_STR(enc(t, "xyzq", false), "1 5 6");
        const char *got = enc(t, "wv", false);
        FT_CHECKF(strstr(got, "ERR") && strstr(got, "no unk_id"), "got %s", got);
        ft_tok_free(t);
    }
    /* T5's layout: Metaspace, "$A </s>", decoder Metaspace; roles from tokenizer_config.json */
    write_tmp("tokenizer_config.json", "{\"eos_token\": \"</s>\", \"unk_token\": \"<unk>\", \"pad_token\": "
                                       "{\"content\": \"<pad>\"}}");
    t = load_json(
        "{\"added_tokens\": [{\"id\": 1, \"content\": \"</s>\", \"special\": true, \"normalized\": false}],"
        " \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\u2581\", \"prepend_scheme\":"
        " \"always\", \"split\": true},"
        " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"A\","
        " \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"</s>\", \"type_id\": 0}}], \"pair\": "
        "[{\"Sequence\":"
        " {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"</s>\", \"type_id\": 0}},"
        " {\"Sequence\": {\"id\": \"B\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"</s>\", \"type_id\":"
        " 0}}], \"special_tokens\": {\"</s>\": {\"id\": \"</s>\", \"ids\": [1], \"tokens\": [\"</s>\"]}}},"
        " \"decoder\": {\"type\": \"Metaspace\", \"replacement\": \"\u2581\", \"prepend_scheme\": "
        "\"always\"},"
        " \"model\": {\"type\": \"Unigram\", \"unk_id\": 2, \"vocab\": [[\"<pad>\", 0], [\"</s>\", 0],"
        " [\"<unk>\", 0], [\"\u2581\", -2], [\"\u2581x\", -1], [\"y\", -2], [\"\u2581y\", -5]]}}");
    FT_CHECK(t != NULL);
    if (t) {
        CHECK_OFFS(t, "x y", NULL, true, FT_TOK_OFFSETS_CHARS, "4@0:1 3@1:2 5@2:3 1@0:0");
        CHECK_OFFS(t, "x  yy</s>x", NULL, true, FT_TOK_OFFSETS_CHARS,
                   "4@0:1 3@1:2 3@2:3 5@3:4 5@4:5 1@5:9 4@9:10 1@0:0");
        CHECK_OFFS(t, "x \u00F1y", NULL, true, FT_TOK_OFFSETS_CHARS, "4@0:1 3@1:2 2@2:3 5@3:4 1@0:0");
        CHECK_OFFS(t, "x", "y", true, FT_TOK_OFFSETS_CHARS, "4@0:1 1@0:0 3@0:1 5@0:1 1@0:0");
        ft_tok_special sp = ft_tok_special_ids(t);
        FT_CHECK(sp.eos == 1 && sp.unk == 2 && sp.pad == 0 && sp.bos == -1);
        static const int32_t ids[] = {4, 3, 3, 5, 5, 1, 4, 1};
        FT_CHECK_STR(dec(t, ids, 8, true), "x  yy x");
        FT_CHECK_STR(dec(t, ids, 8, false), "x  yy</s> x</s>");
        static const int32_t unk[] = {4, 3, 2, 5, 1};
        FT_CHECK_STR(dec(t, unk, 5, true), "x <unk>y");
        ft_tok_free(t);
    }
    unlink(write_tmp("tokenizer_config.json", ""));
}

/* tests/ref/charsmap.py's HAND_MAP: Ａ->A, ﬁ->fi, ™->TM, U+0001->"", u+U+0302->û, o->0, o+U+0302->ô,
 * CR->" " */
static const char *hand_charsmap =
    "wAMAAAAAAAABDQAACAAAgBEAAIDMOAIAzDgCAIS4AgCsNAIAghkAAIIZAACiaQAAgWkAAKF5AAANOQAADgAAgAkAAIAFAACAAgAA"
    "gAAAAIAAAAAAAAAAAAAAAAAAAAAAvOgCAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAG+d"
    "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAHXwAgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADAAAgAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAADigAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA7xABAEEAZmkAVE0AAMO7"
    "ADAAw7QAIAA=";

FT_TEST(precompiled_normalizer) {
    char norm[2048];
    snprintf(norm, sizeof norm, "{\"type\": \"Precompiled\", \"precompiled_charsmap\": \"%s\"}",
             hand_charsmap);
    ft_tokenizer *t =
        char_bpe(norm, "null", "null",
                 "\"A\": 1, \"f\": 2, \"i\": 3, \"T\": 4, \"M\": 5, \"a\": 6, \"b\": 7, \"\u00FB\": 8,"
                 " \"0\": 9, \"\u00F4\": 10, \"u\": 11, \"o\": 12, \"\u0302\": 13, \" \": 14,"
                 " \"\\n\": 15, \"x\": 16, \"\u00E9\": 17, \"e\": 18, \"\u0301\": 19",
                 false);
    FT_CHECK(t != NULL);
    if (!t)
        return;
    static const char *const cases[][2] = {
        {"\uFF21b", "1@0:1 7@1:2"},              /* one for one */
        {"a\uFB01b", "6@0:1 2@1:2 3@1:2 7@2:3"}, /* expansion: both from the ligature */
        {"\u2122x", "4@0:1 5@0:1 16@1:2"},
        {"\001ab", "6@0:1 7@1:2"},            /* removed first: HF shifts the next ranges back */
        {"a\001b", "6@0:1 7@2:3"},            /* removed after a: a takes it */
        {"\u2122\001a", "4@0:1 5@1:2 6@2:3"}, /* expansion then removal: M replaces the control */
        {"u\u0302x", "8@0:1 16@2:3"},         /* a two-character key: one grapheme */
        {"o\u0302x", "9@0:1 16@2:3"},         /* the shortest key (o) replaces the whole grapheme */
        {"ox", "9@0:1 16@1:2"},
        {"a\r\nb", "6@0:1 14@1:2 7@3:4"}, /* CR LF is one grapheme: CR's replacement for both */
        {"a\rb", "6@0:1 14@1:2 7@2:3"},
        {"e\u0301", "18@0:1 19@1:2"}, /* no key: unchanged */
        {"\uFF21\u0301", "1@0:1"},    /* a grapheme under 6 bytes whose first character is a key */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK_OFFS(t, cases[i][0], NULL, false, FT_TOK_OFFSETS_CHARS, cases[i][1]);
    /* plain encoding (no offsets) gives the same ids */
    FT_CHECK_STR(enc(t, "\u2122\001a\r\nb", false), "4 5 6 14 7");
    ft_tok_free(t);
    /* everything removed, then another normalizer (it reads the empty result's alignments; found by the
     * fuzzer on the empty text) */
    snprintf(
        norm, sizeof norm,
        "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Precompiled\", \"precompiled_charsmap\":"
        " \"%s\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \"a\"}, \"content\": \"b\"}]}",
        hand_charsmap);
    t = char_bpe(norm, "null", "null", "\"a\": 1, \"b\": 2", false);
    FT_CHECK(t != NULL);
    if (t) {
        CHECK_OFFS(t, "\001", NULL, false, FT_TOK_OFFSETS_CHARS, "");
        CHECK_OFFS(t, "", NULL, false, FT_TOK_OFFSETS_CHARS, "");
        CHECK_OFFS(t, "a\001a", NULL, false, FT_TOK_OFFSETS_CHARS, "2@0:1 2@2:3");
        ft_tok_free(t);
    }
}

/* A charsmap with the single key "a" -> "b", laid out by hand (root base 1, "a" at 1 ^ 0x61 = 0x60 with
 * base 0x62, its value at 0x62), then broken as asked: units[i] = v for each (i, v), blob replaced. */
static const char *tiny_charsmap(size_t n_units, const uint32_t *patch, size_t npatch, const char *blob,
                                 size_t blob_len, size_t cut) {
    static char out[2048];
    uint8_t raw[1024];
    uint32_t u[0x63] = {0};
    u[0] = 1u << 10;
    u[0x60] = 0x61u | 1u << 8 | (0x60u ^ 0x62u) << 10;
    u[0x62] = 0x80000000u;
    for (size_t i = 0; i + 1 < npatch * 2; i += 2)
        u[patch[i]] = patch[i + 1];
    size_t n = 0;
    uint32_t tsize = (uint32_t)(4 * n_units);
    for (int k = 0; k < 4; k++)
        raw[n++] = (uint8_t)(tsize >> (8 * k));
    for (size_t i = 0; i < n_units && i < 0x63; i++)
        for (int k = 0; k < 4; k++)
            raw[n++] = (uint8_t)(u[i] >> (8 * k));
    memcpy(raw + n, blob, blob_len);
    n += blob_len;
    n = cut && cut < n ? cut : n;
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (i + 1 < n ? (uint32_t)raw[i + 1] << 8 : 0) |
                     (i + 2 < n ? raw[i + 2] : 0);
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[o] = 0;
    return out;
}

static ft_status load_charsmap(const char *b64, ft_tokenizer **t) {
    char json[4096];
    snprintf(json, sizeof json,
             "{\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"%s\"},"
             " \"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0], [\"a\", -1], "
             "[\"b\", -1]]}}",
             b64);
    return ft_tok_load(write_tmp("tokenizer.json", json), t);
}

FT_TEST(unigram_bad_input) {
    ft_tokenizer *t = NULL;
    static const struct {
        const char *model, *want;
    } models[] = {
        {"{\"type\": \"Unigram\", \"vocab\": []}", "non-empty array"},
        {"{\"type\": \"Unigram\", \"vocab\": {\"a\": 1}}", "non-empty array"},
        {"{\"type\": \"Unigram\", \"vocab\": [[\"a\", -1], [\"b\"]]}",
         "model.vocab[1] must be [piece, score]"},
        {"{\"type\": \"Unigram\", \"vocab\": [[\"a\", -1], [\"b\", \"low\"]]}",
         "model.vocab[1] ('b'): the score is not a number"},
        {"{\"type\": \"Unigram\", \"vocab\": [[\"a\", -1], [2, -1]]}", "model.vocab[1] must be"},
        {"{\"type\": \"Unigram\", \"unk_id\": 2, \"vocab\": [[\"a\", -1], [\"b\", -1]]}", "model.unk_id"},
        {"{\"type\": \"Unigram\", \"unk_id\": -1, \"vocab\": [[\"a\", -1]]}", "model.unk_id"},
        {"{\"type\": \"Unigram\", \"unk_id\": 0.5, \"vocab\": [[\"a\", -1]]}", "model.unk_id"},
    };
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        char json[512];
        snprintf(json, sizeof json, "{\"model\": %s}", models[i].model);
        FT_CHECK_FAILS(ft_tok_load(write_tmp("tokenizer.json", json), &t), FT_ERR_FORMAT, models[i].want);
    }
    FT_CHECK_FAILS(ft_tok_load(write_tmp("tokenizer.json",
                                         "{\"normalizer\": {\"type\": \"Precompiled\"},"
                                         " \"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0]]}}"),
                               &t),
                   FT_ERR_FORMAT, "'precompiled_charsmap' must be a base64 string");
    /* the charsmap: not base64, too short, truncated, empty trie, bad UTF-8 in the replacements */
    FT_CHECK_FAILS(load_charsmap("abc", &t), FT_ERR_FORMAT, "precompiled_charsmap: not base64 (length 3");
    FT_CHECK_FAILS(load_charsmap("ab!d", &t), FT_ERR_FORMAT, "not base64 (byte 2 is '!')");
    FT_CHECK_FAILS(load_charsmap("AAA=", &t), FT_ERR_FORMAT, "too short");
    FT_CHECK_FAILS(load_charsmap(tiny_charsmap(0x63, NULL, 0, "b", 2, 40), &t), FT_ERR_FORMAT, "truncated");
    FT_CHECK_FAILS(load_charsmap(tiny_charsmap(0, NULL, 0, "b", 2, 0), &t), FT_ERR_FORMAT,
                   "the trie is empty");
    FT_CHECK_FAILS(load_charsmap(tiny_charsmap(0x63, NULL, 0, "\xFF", 2, 0), &t), FT_ERR_FORMAT,
                   "not valid UTF-8");
    FT_CHECK(t == NULL);
    /* the untouched map works: "a" -> "b" */
    FT_CHECK_OK(load_charsmap(tiny_charsmap(0x63, NULL, 0, "b", 2, 0), &t));
    if (t) {
        FT_CHECK_STR(enc(t, "aab", false), "2 2 2");
        ft_tok_free(t);
        t = NULL;
    }
    /* a value past the replacements: an error when it is used, not a read out of bounds */
    static const uint32_t past[] = {0x62, 0x80000000u | 1000};
    FT_CHECK_OK(load_charsmap(tiny_charsmap(0x63, past, 1, "b", 2, 0), &t));
    if (t) {
        const char *got = enc(t, "xa", false);
        FT_CHECKF(strstr(got, "ERR") && strstr(got, "byte 1000"), "got %s", got);
        FT_CHECK_STR(enc(t, "bb", false), "2 2");
        ft_tok_free(t);
        t = NULL;
    }
    /* offsets pointing outside the array, and a trie shorter than its offsets: no match, no crash */
    static const uint32_t wild[] = {0, 0x1FFFFFu << 10};
    FT_CHECK_OK(load_charsmap(tiny_charsmap(0x63, wild, 1, "b", 2, 0), &t));
    if (t) {
        FT_CHECK_STR(enc(t, "ab", false), "1 2");
        ft_tok_free(t);
        t = NULL;
    }
    FT_CHECK_OK(load_charsmap(tiny_charsmap(0x61, NULL, 0, "b", 2, 0), &t));
    if (t) {
        FT_CHECK_STR(enc(t, "ab", false), "1 2");
        ft_tok_free(t);
    }
}

FT_TEST(bad_input) {
    ft_tokenizer *t = NULL;
    FT_CHECK_FAILS(ft_tok_load("/nonexistent/dir/x", &t), FT_ERR_IO, "/nonexistent");
    FT_CHECK_FAILS(ft_tok_load(write_tmp("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {"), &t),
                   FT_ERR_FORMAT, "invalid JSON");
    FT_CHECK_FAILS(
        ft_tok_load(write_tmp("tokenizer.json", "{\"model\": {\"type\": \"CharLevel\", \"vocab\": {}}}"), &t),
        FT_ERR_UNSUPPORTED, "unknown model type 'CharLevel' (supported: BPE, WordPiece, Unigram, WordLevel)");
    FT_CHECK_FAILS(ft_tok_load(write_tmp("tokenizer.json",
                                         "{\"normalizer\": {\"type\": \"ByteLevel\"},"
                                         " \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}"),
                               &t),
                   FT_ERR_UNSUPPORTED, "unknown normalizer type 'ByteLevel'");
    FT_CHECK_FAILS(ft_tok_load(write_tmp("tokenizer.json", "{\"pre_tokenizer\": {\"type\": \"Fancy\"},"
                                                           " \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}"),
                               &t),
                   FT_ERR_UNSUPPORTED, "Fancy");
    FT_CHECK_FAILS(ft_tok_load(write_tmp("tokenizer.json", "{\"decoder\": {\"type\": \"CTC\"},"
                                                           " \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}"),
                               &t),
                   FT_ERR_UNSUPPORTED, "CTC");
    FT_CHECK_FAILS(ft_tok_load(write_tmp("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0},"
                                                           " \"merges\": [\"a b\"]}}"),
                               &t),
                   FT_ERR_FORMAT, "merge 0");
    FT_CHECK_FAILS(ft_tok_load(write_tmp("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0},"
                                                           " \"merges\": [\"a\"]}}"),
                               &t),
                   FT_ERR_FORMAT, "merge 0");
    FT_CHECK_FAILS(ft_tok_load(write_tmp("tokenizer.json", "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": "
                                                           "{\"Regex\": \"(unclosed\"}, \"behavior\": \"Isolated\"},"
                                                           " \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}"),
                               &t),
                   FT_ERR_FORMAT, "regex");
    FT_CHECK_FAILS(ft_tok_load(write_tmp("tokenizer.json", "[1, 2]"), &t), FT_ERR_FORMAT, "not a JSON object");
    FT_CHECK(t == NULL);
    /* invalid UTF-8 input: a clear error, never a crash */
    t = load_json(bpe_json);
    if (!t)
        return;
    ft_tok_ids ids = {0};
    FT_CHECK_FAILS(ft_tok_encode(t, "ab\xC3(", 4, false, &ids), FT_ERR_ARG, "UTF-8 (byte 2)");
    FT_CHECK_FAILS(ft_tok_encode(t, "\xED\xA0\x80", 3, false, &ids), FT_ERR_ARG, "UTF-8"); /* surrogate */
    FT_CHECK_FAILS(ft_tok_encode(t, "\xC0\xAF", 2, false, &ids), FT_ERR_ARG, "UTF-8");     /* overlong */
    /* a gigantic line: 8 MiB of one character class, and NUL bytes inside */
    size_t big = 8u << 20;
    char *s = malloc(big);
    for (size_t i = 0; i < big; i++)
        s[i] = i % 1000 == 999 ? '\0' : "abcd"[i % 4];
    FT_CHECK_OK(ft_tok_encode(t, s, big, false, &ids));
    FT_CHECK(ids.n > big / 4);
    free(s);
    ft_tok_ids_free(&ids);
    ft_tok_free(t);
}

/* WordLevel (one id per word, else unk_token), the Nmt normalizer and the Whitespace pre-tokenizer, as
 * `tokenizers` gives them (the same cases through its npm binding: tests/tokenizer_parity.sh wl-*). */
FT_TEST(wordlevel_nmt_whitespace) {
    const char *json =
        "{\"normalizer\": {\"type\": \"Nmt\"}, \"pre_tokenizer\": {\"type\": \"Whitespace\"},"
        " \"model\": {\"type\": \"WordLevel\", \"unk_token\": \"[UNK]\", \"vocab\": {\"[UNK]\": 0, "
        "\"hello\": 1,"
        " \"world\": 2, \"!\": 3, \"?!\": 4, \"caf\\u00e9\": 5, \"a\\u0301b\": 6, \"x_y\": 7}}}";
    ft_tokenizer *t = load_json(json);
    FT_CHECK(t != NULL);
    if (!t)
        return;
    FT_CHECK(!strcmp(ft_tok_model_type(t), "WordLevel"));
    /* punctuation is its own word (the Whitespace regex's second branch), runs of it one word */
    FT_CHECKF(!strcmp(enc(t, "hello world!", false), "1 2 3"), "%s", enc(t, "hello world!", false));
    FT_CHECK(!strcmp(enc(t, "world?! foo", false), "2 4 0"));
    /* Nmt: U+200B and a tab become spaces, a C0 control (U+0001) and DEL go */
    FT_CHECKF(!strcmp(enc(t, "hello\xE2\x80\x8Bworld\x01!\x7F\thello", false), "1 2 3 1"), "%s",
              enc(t, "hello\xE2\x80\x8Bworld\x01!\x7F\thello", false));
    /* Rust's \w: a combining mark and an underscore stay inside the word, an accented letter too */
    FT_CHECK(!strcmp(enc(t,
                         "caf\xC3\xA9 a\xCC\x81"
                         "b x_y",
                         false),
                     "5 6 7"));
    /* offsets of the word after the dropped/mapped characters */
    ft_tok_ids ids = {0};
    const char *s = "hello\xE2\x80\x8Bworld";
    FT_CHECK_OK(ft_tok_encode_offsets(t, s, strlen(s), false, FT_TOK_OFFSETS_BYTES, &ids));
    FT_CHECK(ids.n == 2 && ids.offsets[1].start == 8 && ids.offsets[1].end == 13);
    ft_tok_ids_free(&ids);
    /* no decoder: tokens joined by spaces */
    const int32_t back[] = {1, 2, 3, 0};
    FT_CHECK(!strcmp(dec(t, back, 4, false), "hello world ! [UNK]"));
    ft_tok_free(t);
    /* an unknown word without an unk_token in the vocabulary: an error naming the word (HF: MissingUnkToken)
     */
    t = load_json("{\"pre_tokenizer\": {\"type\": \"Whitespace\"}, \"model\": {\"type\": \"WordLevel\","
                  " \"unk_token\": \"<unk>\", \"vocab\": {\"hello\": 0}}}");
    FT_CHECK(t != NULL);
    if (t) {
        FT_CHECKF(strstr(enc(t, "hello there", false), "'there' is not in the vocabulary") != NULL, "%s",
                  enc(t, "hello there", false));
        FT_CHECK(!strcmp(enc(t, "hello", false), "0"));
        ft_tok_free(t);
    }
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ft_tok_test.%d", (int)getpid());
    ft_mkdir_p(tmpdir);
    FT_RUN(bpe_merges_by_rank);
    FT_RUN(bpe_ignore_merges_and_fuse_unk);
    FT_RUN(sentencepiece_byte_fallback);
    FT_RUN(byte_level_roundtrip);
    FT_RUN(wordpiece_bert);
    FT_RUN(normalizers_unicode);
    FT_RUN(added_token_options);
    FT_RUN(chat_templates);
    FT_RUN(offsets_char_bpe);
    FT_RUN(offsets_models);
    FT_RUN(unigram_viterbi);
    FT_RUN(precompiled_normalizer);
    FT_RUN(unigram_bad_input);
    FT_RUN(bad_input);
    FT_RUN(wordlevel_nmt_whitespace);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    FT_DONE();
}
