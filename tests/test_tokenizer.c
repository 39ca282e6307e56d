/* tokenizer unit tests: hand-made vocabularies (BPE merges, byte fallback, WordPiece), normalizers,
 * added tokens, post-processors, decoders, chat templates and bad input. */
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

FT_TEST(bad_input) {
    ft_tokenizer *t = NULL;
    FT_CHECK_FAILS(ft_tok_load("/nonexistent/dir/x", &t), FT_ERR_IO, "/nonexistent");
    FT_CHECK_FAILS(ft_tok_load(write_tmp("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {"), &t),
                   FT_ERR_FORMAT, "invalid JSON");
    FT_CHECK_FAILS(ft_tok_load(write_tmp("tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}"), &t),
                   FT_ERR_UNSUPPORTED, "Unigram");
    FT_CHECK_FAILS(ft_tok_load(write_tmp("tokenizer.json", "{\"normalizer\": {\"type\": \"Precompiled\"},"
                                                           " \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}"),
                               &t),
                   FT_ERR_UNSUPPORTED, "Precompiled");
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
    FT_RUN(bad_input);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    FT_DONE();
}
