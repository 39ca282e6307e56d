/* Byte-level BPE training (src/tokenizer/tok_train.c): hand-worked merges, stop reasons, determinism
 * across thread counts, special tokens, the written files loading back, and bad input. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "ft_test.h"
#include "tokenizer/tok_train.h"
#include "tokenizer/tokenizer.h"

/* Sennrich et al.'s example: low x5, lower x2, newest x6, widest x3 (one word per line). */
static char *classic_corpus(size_t *len) {
    static const char *const w[] = {"low", "lower", "newest", "widest"};
    static const int n[] = {5, 2, 6, 3};
    size_t cap = 256, l = 0;
    char *s = malloc(cap);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < n[i]; k++)
            l += (size_t)snprintf(s + l, cap - l, "%s\n", w[i]);
    *len = l;
    return s;
}

static ft_tok_trainer *train_classic(size_t vocab, uint64_t minf, int threads) {
    ft_tok_train_opts o;
    ft_tok_train_opts_default(&o);
    o.vocab_size = vocab;
    o.min_frequency = minf;
    o.threads = threads;
    ft_tok_trainer *t = NULL;
    size_t len;
    char *text = classic_corpus(&len);
    FT_CHECK_OK(ft_tok_train_new(&o, &t));
    if (t) {
        FT_CHECK_OK(ft_tok_train_add_text(t, text, len, "classic"));
        FT_CHECK_OK(ft_tok_train_run(t));
    }
    free(text);
    return t;
}

/* "left right" of merge i (byte-level strings), in buf. */
static const char *merge_str(const ft_tok_trainer *t, size_t i, char *buf, size_t n) {
    int32_t a, b, z;
    ft_tok_train_merge(t, i, &a, &b, &z);
    size_t la = 0, lb = 0;
    const char *sa = ft_tok_train_token(t, a, &la), *sb = ft_tok_train_token(t, b, &lb);
    snprintf(buf, n, "%.*s %.*s", (int)la, sa ? sa : "?", (int)lb, sb ? sb : "?");
    return buf;
}

/* Worked by hand: pair counts es 9, st 9 -> tie to the smaller ids (e < s): "e s"; then "es t" 9;
 * lo/ow 7 -> "l o", "lo w"; ne/ew/w-est 6 -> "e w" (e smallest), "n ew" (n, an alphabet id, is below
 * ew), "new est"; wi/id/d-est 3 -> "d est", "i dest", "w idest"; low-e/er 2 -> "e r", "low er". */
static const char *const classic_merges[] = {"e s",     "es t",  "l o",    "lo w",    "e w", "n ew",
                                             "new est", "d est", "i dest", "w idest", "e r", "low er"};

FT_TEST(classic_merges_in_order) {
    ft_tok_trainer *t = train_classic(1000, 0, 1);
    if (!t)
        return;
    size_t n = ft_tok_train_n_merges(t);
    FT_CHECKF(n == 12, "%zu merges", n);
    char buf[128];
    for (size_t i = 0; i < n && i < 12; i++)
        FT_CHECKF(!strcmp(merge_str(t, i, buf, sizeof buf), classic_merges[i]), "merge %zu: '%s' want '%s'",
                  i, buf, classic_merges[i]);
    const ft_tok_train_stats *s = ft_tok_train_stats_get(t);
    FT_CHECK(!strcmp(s->stop, "no pair left"));
    FT_CHECK(s->vocab_size == 256 + 12);
    FT_CHECK(s->sequences == 16 && s->distinct_words == 5 && s->words == 32); /* 4 words + "Ċ", each line 2 */
    ft_tok_train_free(t);
}

FT_TEST(stops_at_vocab_size_and_min_frequency) {
    ft_tok_trainer *t = train_classic(256 + 5, 0, 1);
    if (t) {
        FT_CHECK(ft_tok_train_n_merges(t) == 5);
        FT_CHECK(!strcmp(ft_tok_train_stats_get(t)->stop, "vocab size reached"));
        FT_CHECK(ft_tok_train_stats_get(t)->vocab_size == 261);
    }
    ft_tok_train_free(t);
    t = train_classic(1000, 3, 1); /* the last two merges occur twice: below 3 */
    if (t) {
        FT_CHECKF(ft_tok_train_n_merges(t) == 10, "%zu", ft_tok_train_n_merges(t));
        FT_CHECK(!strcmp(ft_tok_train_stats_get(t)->stop, "min frequency"));
    }
    ft_tok_train_free(t);
    t = train_classic(1000, 7, 1); /* es, est (9), lo, low (7) */
    if (t)
        FT_CHECK(ft_tok_train_n_merges(t) == 4);
    ft_tok_train_free(t);
}

static char *tmpdir(void) {
    char tmpl[] = "/tmp/ft_tok_train_XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static char *slurp(const char *dir, const char *name) {
    char p[512];
    char *s = NULL;
    ft_path_join(p, sizeof p, dir, name);
    if (ft_read_file(p, &s, NULL) != FT_OK)
        return NULL;
    return s;
}

/* A pseudo-random corpus with many distinct words, ties, digits, punctuation and non-ASCII. */
static char *mixed_corpus(size_t *len) {
    static const char *const syl[] = {"ka", "lo", "mi", "ne", "su", "ta", "ré", "zö", "th", "e", "qu", "ing"};
    size_t cap = 1 << 20, l = 0;
    char *s = malloc(cap);
    uint64_t x = 12345;
    for (int line = 0; line < 3000; line++) {
        int words = 3 + (int)(x % 9);
        for (int w = 0; w < words; w++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            int ns = 1 + (int)((x >> 33) % 4);
            if (w)
                s[l++] = (x >> 40) % 7 == 0 ? '\t' : ' ';
            for (int k = 0; k < ns; k++) {
                const char *y = syl[(x >> (20 + 3 * k)) % 12];
                memcpy(s + l, y, strlen(y));
                l += strlen(y);
            }
            if ((x >> 50) % 11 == 0)
                l += (size_t)snprintf(s + l, cap - l, " %u,", (unsigned)(x >> 54));
        }
        s[l++] = '\n';
    }
    *len = l;
    return s;
}

FT_TEST(deterministic_across_threads_and_runs) {
    size_t len;
    char *text = mixed_corpus(&len);
    char *dirs[3] = {tmpdir(), tmpdir(), tmpdir()};
    int threads[3] = {1, 2, 3};
    for (int r = 0; r < 3; r++) {
        ft_tok_train_opts o;
        ft_tok_train_opts_default(&o);
        o.vocab_size = 600;
        o.min_frequency = 2;
        o.threads = threads[r];
        const char *sp[] = {"<|endoftext|>", "<pad>"};
        o.special = sp;
        o.n_special = 2;
        ft_tok_trainer *t = NULL;
        FT_CHECK_OK(ft_tok_train_new(&o, &t));
        if (!t)
            continue;
        FT_CHECK_OK(ft_tok_train_add_text(t, text, len / 2, "part1"));
        FT_CHECK_OK(ft_tok_train_add_text(t, text + len / 2, len - len / 2, "part2"));
        FT_CHECK_OK(ft_tok_train_run(t));
        FT_CHECK(ft_tok_train_stats_get(t)->vocab_size == 600);
        FT_CHECK_OK(ft_tok_train_save(t, dirs[r]));
        ft_tok_train_free(t);
    }
    char *a = slurp(dirs[0], "tokenizer.json");
    for (int r = 1; r < 3; r++) {
        char *b = slurp(dirs[r], "tokenizer.json");
        FT_CHECKF(a && b && !strcmp(a, b), "threads %d differs from threads 1", threads[r]);
        free(b);
    }
    free(a);
    for (int r = 0; r < 3; r++) {
        char p[512];
        unlink(ft_path_join(p, sizeof p, dirs[r], "tokenizer.json"));
        unlink(ft_path_join(p, sizeof p, dirs[r], "tokenizer_config.json"));
        rmdir(dirs[r]);
        free(dirs[r]);
    }
    free(text);
}

FT_TEST(special_tokens_first_never_split_never_learned) {
    /* "<|endoftext|>" repeated often: were it learned from, "<|", "endoftext", "|>" would be merged */
    size_t cap = 1 << 16, l = 0;
    char *text = malloc(cap);
    for (int i = 0; i < 200; i++)
        l += (size_t)snprintf(text + l, cap - l, "the cat sat<|endoftext|>on the mat<pad>\n");
    ft_tok_train_opts o;
    ft_tok_train_opts_default(&o);
    o.vocab_size = 400;
    const char *sp[] = {"<|endoftext|>", "<pad>", "<s>"};
    o.special = sp;
    o.n_special = 3;
    o.add_bos = true;
    ft_tok_trainer *t = NULL;
    FT_CHECK_OK(ft_tok_train_new(&o, &t));
    if (!t) {
        free(text);
        return;
    }
    FT_CHECK_OK(ft_tok_train_add_text(t, text, l, "sp"));
    FT_CHECK_OK(ft_tok_train_run(t));
    for (int i = 0; i < 3; i++) {
        size_t n;
        const char *s = ft_tok_train_token(t, i, &n);
        FT_CHECK(s && n == strlen(sp[i]) && !memcmp(s, sp[i], n));
    }
    for (size_t i = 0; i < ft_tok_train_n_merges(t); i++) {
        int32_t z;
        ft_tok_train_merge(t, i, NULL, NULL, &z);
        size_t n;
        const char *s = ft_tok_train_token(t, z, &n);
        FT_CHECKF(!memmem(s, n, "endof", 5) && !memmem(s, n, "<|", 2) && !memmem(s, n, "pad", 3),
                  "learned '%.*s'", (int)n, s);
    }
    /* 3 distinct words per half line + "Ċ": "the", "Ġcat", "Ġsat", "on", "Ġthe", "Ġmat" */
    FT_CHECKF(ft_tok_train_stats_get(t)->distinct_words == 7, "%zu",
              ft_tok_train_stats_get(t)->distinct_words);
    char *dir = tmpdir();
    FT_CHECK_OK(ft_tok_train_save(t, dir));
    ft_tokenizer *tok = NULL;
    FT_CHECK_OK(ft_tok_load(dir, &tok));
    if (tok) {
        ft_tok_ids ids = {0};
        const char *in = "the cat<|endoftext|><pad> sat<s>";
        FT_CHECK_OK(ft_tok_encode(tok, in, strlen(in), true, &ids));
        /* <s> (BOS, added by the template) the Ġcat <|endoftext|> <pad> Ġsat <s> */
        FT_CHECKF(ids.n == 7 && ids.ids[0] == 2 && ids.ids[3] == 0 && ids.ids[4] == 1 && ids.ids[6] == 2,
                  "n=%zu", ids.n);
        ft_tok_special sids = ft_tok_special_ids(tok);
        FT_CHECK(sids.bos == 2 && sids.eos == 0 && sids.pad == 1 && sids.unk == -1);
        FT_CHECK(ft_tok_is_special(tok, 0) && ft_tok_is_special(tok, 1) && !ft_tok_is_special(tok, 3));
        FT_CHECK(ft_tok_vocab_size(tok) == ft_tok_train_stats_get(t)->vocab_size);
        char *dec = NULL;
        size_t dl = 0;
        FT_CHECK_OK(ft_tok_decode(tok, ids.ids, ids.n, true, &dec, &dl));
        FT_CHECK(dec && !strcmp(dec, "the cat sat"));
        free(dec);
        ft_tok_ids_free(&ids);
        /* every training word is one token now (the vocabulary was large enough) */
        const char *words[] = {"the", " cat", " sat", "on", " the", " mat"};
        for (int i = 0; i < 6; i++) {
            FT_CHECK_OK(ft_tok_encode(tok, words[i], strlen(words[i]), false, &ids));
            FT_CHECKF(ids.n == 1, "'%s' -> %zu tokens", words[i], ids.n);
        }
        ft_tok_ids_free(&ids);
    }
    ft_tok_free(tok);
    char *cfg = slurp(dir, "tokenizer_config.json");
    FT_CHECK(cfg && strstr(cfg, "\"tokenizer_class\": \"PreTrainedTokenizerFast\"") &&
             strstr(cfg, "\"model_max_length\": 2048") && strstr(cfg, "\"bos_token\": \"<s>\""));
    free(cfg);
    char *tj = slurp(dir, "tokenizer.json");
    FT_CHECK(tj && strstr(tj, "\"version\": \"1.0\"") && strstr(tj, "\"type\": \"TemplateProcessing\""));
    free(tj);
    char p[512];
    unlink(ft_path_join(p, sizeof p, dir, "tokenizer.json"));
    unlink(ft_path_join(p, sizeof p, dir, "tokenizer_config.json"));
    rmdir(dir);
    free(dir);
    ft_tok_train_free(t);
    free(text);
}

/* Byte-level: every byte has a token, so any text (non-ASCII, controls, bytes never seen in training)
 * encodes and decodes back exactly. */
FT_TEST(round_trip_unseen_text) {
    ft_tok_trainer *t = train_classic(300, 0, 2);
    if (!t)
        return;
    char *dir = tmpdir();
    FT_CHECK_OK(ft_tok_train_save(t, dir));
    ft_tokenizer *tok = NULL;
    FT_CHECK_OK(ft_tok_load(dir, &tok));
    if (tok) {
        const char *in = "lowest newer widest \xE4\xBD\xA0\xE5\xA5\xBD \x01\x7F  tabs\t\n\xF0\x9F\x98\x80!";
        ft_tok_ids ids = {0};
        FT_CHECK_OK(ft_tok_encode(tok, in, strlen(in), false, &ids));
        char *dec = NULL;
        FT_CHECK_OK(ft_tok_decode(tok, ids.ids, ids.n, false, &dec, NULL));
        FT_CHECK(dec && !strcmp(dec, in));
        free(dec);
        FT_CHECK_OK(ft_tok_encode(tok, "newest", 6, false, &ids));
        FT_CHECK(ids.n == 1);
        ft_tok_ids_free(&ids);
    }
    ft_tok_free(tok);
    char p[512];
    unlink(ft_path_join(p, sizeof p, dir, "tokenizer.json"));
    unlink(ft_path_join(p, sizeof p, dir, "tokenizer_config.json"));
    rmdir(dir);
    free(dir);
    ft_tok_train_free(t);
}

FT_TEST(bad_input) {
    ft_tok_train_opts o;
    ft_tok_train_opts_default(&o);
    ft_tok_trainer *t = NULL;
    o.vocab_size = 100;
    FT_CHECK_FAILS(ft_tok_train_new(&o, &t), FT_ERR_ARG, "smaller than the 0 special tokens + 256");
    o.vocab_size = 1000;
    const char *dup[] = {"<s>", "<s>"};
    o.special = dup;
    o.n_special = 2;
    FT_CHECK_FAILS(ft_tok_train_new(&o, &t), FT_ERR_ARG, "'<s>' given twice");
    const char *one[] = {"<s>"};
    o.special = one;
    o.n_special = 1;
    o.eos = "</s>";
    FT_CHECK_FAILS(ft_tok_train_new(&o, &t), FT_ERR_ARG, "eos token '</s>' is not one of the special tokens");
    const char *ch[] = {"a"};
    o.special = ch;
    o.eos = NULL;
    FT_CHECK_FAILS(ft_tok_train_new(&o, &t), FT_ERR_ARG, "is a byte-level character");
    o.special = NULL;
    o.n_special = 0;
    FT_CHECK_OK(ft_tok_train_new(&o, &t));
    if (!t)
        return;
    const char bad[] = "fine line\nsecond \xC3\x28 line\n";
    FT_CHECK_FAILS(ft_tok_train_add_text(t, bad, sizeof bad - 1, "corpus.txt"), FT_ERR_FORMAT,
                   "corpus.txt:2: not valid UTF-8 (byte 8 of the line)");
    char *dir = tmpdir(), p[512];
    ft_path_join(p, sizeof p, dir, "d.jsonl");
    const char jl[] = "{\"text\": \"ok\"}\n\n{\"body\": \"no text\"}\n";
    FT_CHECK_OK(ft_write_file_atomic(p, jl, sizeof jl - 1));
    FT_CHECK_FAILS(ft_tok_train_add_jsonl(t, p, "text"), FT_ERR_FORMAT, "d.jsonl:3: no string field 'text'");
    const char jl2[] = "{\"text\": \"ok\"}\n{not json\n";
    FT_CHECK_OK(ft_write_file_atomic(p, jl2, sizeof jl2 - 1));
    FT_CHECK_FAILS(ft_tok_train_add_jsonl(t, p, "text"), FT_ERR_FORMAT, "d.jsonl:2: not valid JSON");
    unlink(p);
    FT_CHECK_FAILS(ft_tok_train_add_file(t, p), FT_ERR_IO, "d.jsonl: cannot open");
    FT_CHECK_FAILS(ft_tok_train_save(t, dir), FT_ERR_ARG, "save before run");
    rmdir(dir);
    free(dir);
    ft_tok_train_free(t);
}

FT_TEST(jsonl_field_counts_like_text) {
    /* the same sequences through a JSONL field and through text lines give the same merges */
    char *dir = tmpdir(), p[512];
    ft_path_join(p, sizeof p, dir, "c.jsonl");
    size_t len;
    char *text = classic_corpus(&len);
    size_t cap = 4096, l = 0;
    char *jl = malloc(cap);
    for (char *s = text; *s;) {
        char *nl = strchr(s, '\n');
        l += (size_t)snprintf(jl + l, cap - l, "{\"id\": 1, \"body\": \"%.*s\\n\"}\n", (int)(nl - s), s);
        s = nl + 1;
    }
    FT_CHECK_OK(ft_write_file_atomic(p, jl, l));
    ft_tok_train_opts o;
    ft_tok_train_opts_default(&o);
    o.vocab_size = 1000;
    o.min_frequency = 0;
    ft_tok_trainer *t = NULL;
    FT_CHECK_OK(ft_tok_train_new(&o, &t));
    if (t) {
        FT_CHECK_OK(ft_tok_train_add_jsonl(t, p, "body"));
        FT_CHECK_OK(ft_tok_train_run(t));
        FT_CHECK(ft_tok_train_n_merges(t) == 12);
        char buf[128];
        for (size_t i = 0; i < ft_tok_train_n_merges(t) && i < 12; i++)
            FT_CHECK(!strcmp(merge_str(t, i, buf, sizeof buf), classic_merges[i]));
        FT_CHECK(ft_tok_train_stats_get(t)->sequences == 16);
    }
    ft_tok_train_free(t);
    unlink(p);
    rmdir(dir);
    free(dir);
    free(jl);
    free(text);
}

int main(void) {
    FT_RUN(classic_merges_in_order);
    FT_RUN(stops_at_vocab_size_and_min_frequency);
    FT_RUN(deterministic_across_threads_and_runs);
    FT_RUN(special_tokens_first_never_split_never_learned);
    FT_RUN(round_trip_unseen_text);
    FT_RUN(bad_input);
    FT_RUN(jsonl_field_counts_like_text);
    FT_DONE();
}
