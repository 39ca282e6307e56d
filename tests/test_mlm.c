/* data/mlm: masked-LM masking statistics (15 %, 80/10/10, never specials or pads), whole-word groups,
 * determinism from (seed, stream), word boundaries of WordPiece and byte-level BPE vocabularies, errors; the
 * masked_lm data build (packed and per row). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "data/dataset.h"
#include "data/mlm.h"
#include "ft_test.h"

static char tmpdir[256];

/* tmpdir/name holding content (the path stays valid for the next 7 calls). */
static const char *write_tmp(const char *name, const char *content) {
    static char path[8][512];
    static int k;
    char *p = path[k++ % 8];
    if (ft_write_file_atomic(ft_path_join(p, 512, tmpdir, name), content, strlen(content)) != FT_OK)
        fprintf(stderr, "cannot write %s: %s\n", p, ft_last_error());
    return p;
}

/* A WordPiece vocabulary: 5 specials, then n words wK and, every third, a continuation ##cK. */
static ft_tokenizer *wordpiece(int n, int32_t *vocab) {
    size_t cap = 64 + (size_t)n * 16, o = 0;
    char *txt = malloc(cap);
    if (!txt)
        return NULL;
    o += (size_t)snprintf(txt, cap, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
    for (int k = 0; k < n; k++)
        o += (size_t)snprintf(txt + o, cap - o, k % 3 == 2 ? "##c%d\n" : "w%d\n", k);
    ft_tokenizer *t = NULL;
    ft_status s = ft_tok_load(write_tmp("vocab.txt", txt), &t);
    free(txt);
    *vocab = 5 + n;
    return s == FT_OK ? t : NULL;
}

/* B rows: [CLS] ids [SEP] then pads (0), row r holding T − 2 − (r % 7) real tokens; every id ≥ 5. */
static void fill_batch(ft_batch *b, int B, int T, int32_t vocab, uint64_t salt) {
    memset(b, 0, sizeof *b);
    b->B = B;
    b->T = T;
    b->input_ids = calloc((size_t)B * (size_t)T, sizeof(int32_t));
    b->mask = calloc((size_t)B * (size_t)T, sizeof(int32_t));
    b->labels = calloc((size_t)B * (size_t)T, sizeof(int32_t));
    for (int r = 0; r < B && b->input_ids && b->mask && b->labels; r++) {
        const int len = T - (r % 7);
        for (int t = 0; t < T; t++) {
            const int64_t i = (int64_t)r * T + t;
            b->mask[i] = t < len;
            b->input_ids[i] =
                t >= len ? 0
                : t == 0 ? 2
                : t == len - 1
                    ? 3
                    : 5 + (int32_t)(ft_rng_u64(salt, (uint64_t)r, (uint64_t)t) % (uint64_t)(vocab - 5));
            b->labels[i] = b->input_ids[i];
        }
    }
}

static ft_batch copy_batch(const ft_batch *a) {
    ft_batch b = *a;
    const size_t n = (size_t)a->B * (size_t)a->T * sizeof(int32_t);
    b.input_ids = malloc(n);
    b.mask = malloc(n);
    b.labels = malloc(n);
    if (b.input_ids && b.mask && b.labels) {
        memcpy(b.input_ids, a->input_ids, n);
        memcpy(b.mask, a->mask, n);
        memcpy(b.labels, a->labels, n);
    }
    return b;
}

/* 15 % of the maskable tokens chosen, 80 % of those [MASK], 10 % random, 10 % kept; specials and pads never
 * chosen and unchanged; labels = the original id where chosen, −100 elsewhere. */
FT_TEST(mask_statistics) {
    int32_t V;
    ft_tokenizer *tok = wordpiece(300, &V);
    FT_CHECK(tok != NULL);
    if (!tok)
        return;
    ft_mlm x;
    FT_CHECK_OK(ft_mlm_init(&x, tok, "vocab.txt", V, 0.15f, false, 7));
    FT_CHECK(x.mask_id == 4 && x.n_random == V);
    int64_t maskable = 0, chosen = 0, to_mask = 0, to_random = 0, kept = 0, bad = 0;
    for (int it = 0; it < 40; it++) {
        ft_batch orig;
        fill_batch(&orig, 32, 128, V, (uint64_t)it);
        ft_batch b = copy_batch(&orig);
        FT_CHECK_OK(ft_mlm_mask(&x, &b, false, (uint64_t)it * 32));
        for (int64_t i = 0; i < (int64_t)b.B * b.T; i++) {
            const int32_t id = orig.input_ids[i];
            const bool can = orig.mask[i] && id >= 5;
            maskable += can;
            if (b.labels[i] == -100) {
                bad += b.input_ids[i] != id; /* not chosen: unchanged */
                continue;
            }
            bad += !can || b.labels[i] != id; /* chosen: a maskable token, labelled with its id */
            chosen++;
            if (b.input_ids[i] == x.mask_id)
                to_mask++;
            else if (b.input_ids[i] == id)
                kept++;
            else
                to_random++;
        }
        ft_batch_free(&orig);
        ft_batch_free(&b);
    }
    FT_CHECKF(bad == 0, "%lld tokens broke the rules", (long long)bad);
    /* ≈ 150k maskable tokens: the standard error of 15 % is ≈ 0.001, of 80 % of ≈ 22k chosen ≈ 0.003 */
    const double p = (double)chosen / (double)maskable;
    const double pm = (double)to_mask / (double)chosen, pr = (double)to_random / (double)chosen,
                 pk = (double)kept / (double)chosen;
    FT_CHECKF(fabs(p - 0.15) < 0.006, "chosen share %.4f", p);
    FT_CHECKF(fabs(pm - 0.8) < 0.015, "[MASK] share %.4f", pm);
    FT_CHECKF(fabs(pr - 0.1) < 0.012, "random share %.4f", pr);
    FT_CHECKF(fabs(pk - 0.1) < 0.012, "kept share %.4f", pk);
    ft_mlm_free(&x);
    ft_tok_free(tok);
}

/* Same (seed, stream) → the same masks; another stream, seed or the evaluation's masks → others. */
FT_TEST(mask_deterministic) {
    int32_t V;
    ft_tokenizer *tok = wordpiece(100, &V);
    if (!tok)
        return;
    ft_mlm x, y;
    FT_CHECK_OK(ft_mlm_init(&x, tok, "vocab.txt", V, 0.15f, false, 7));
    FT_CHECK_OK(ft_mlm_init(&y, tok, "vocab.txt", V, 0.15f, false, 8));
    ft_batch orig;
    fill_batch(&orig, 4, 64, V, 1);
    ft_batch a = copy_batch(&orig), b = copy_batch(&orig), c = copy_batch(&orig), d = copy_batch(&orig),
             e = copy_batch(&orig);
    FT_CHECK_OK(ft_mlm_mask(&x, &a, false, 10));
    FT_CHECK_OK(ft_mlm_mask(&x, &b, false, 10));
    FT_CHECK_OK(ft_mlm_mask(&x, &c, false, 11));
    FT_CHECK_OK(ft_mlm_mask(&y, &d, false, 10));
    FT_CHECK_OK(ft_mlm_mask(&x, &e, true, 10));
    const size_t n = (size_t)orig.B * (size_t)orig.T * sizeof(int32_t);
    FT_CHECK(!memcmp(a.input_ids, b.input_ids, n) && !memcmp(a.labels, b.labels, n));
    FT_CHECK(memcmp(a.labels, c.labels, n) != 0);
    FT_CHECK(memcmp(a.labels, d.labels, n) != 0);
    FT_CHECK(memcmp(a.labels, e.labels, n) != 0);
    /* row r uses stream stream0 + r: row 1 at stream 10 is row 0 at stream 11 when the rows are equal */
    ft_batch two = copy_batch(&orig);
    memcpy(two.input_ids + two.T, two.input_ids, (size_t)two.T * sizeof(int32_t));
    memcpy(two.mask + two.T, two.mask, (size_t)two.T * sizeof(int32_t));
    ft_batch one = copy_batch(&two);
    FT_CHECK_OK(ft_mlm_mask(&x, &two, false, 10));
    FT_CHECK_OK(ft_mlm_mask(&x, &one, false, 11));
    FT_CHECK(!memcmp(two.labels + two.T, one.labels, (size_t)two.T * sizeof(int32_t)));
    ft_batch *all[] = {&orig, &a, &b, &c, &d, &e, &two, &one};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        ft_batch_free(all[k]);
    ft_mlm_free(&x);
    ft_mlm_free(&y);
    ft_tok_free(tok);
}

/* data.whole_word_mask: a word's pieces are chosen together; per row at most max(1, round(len · p)) tokens
 * (len counts the real tokens, specials included), and each word is chosen in some draws. */
FT_TEST(whole_word_groups) {
    int32_t V;
    ft_tokenizer *tok = wordpiece(30, &V);
    if (!tok)
        return;
    ft_mlm x;
    FT_CHECK_OK(ft_mlm_init(&x, tok, "vocab.txt", V, 0.2f, true, 3));
    /* ids 5 + k: k % 3 == 2 is a continuation ##cK; the row: [CLS] w0 w1 ##c2 w3 w4 ##c5 ##c8 w6 [SEP] pad */
    const int32_t row[] = {2, 5, 6, 7, 8, 9, 10, 13, 11, 3, 0};
    const int word[] = {-1, 0, 1, 1, 2, 3, 3, 3, 4, -1, -1}; /* word of each position (−1: never chosen) */
    const int T = (int)(sizeof row / sizeof *row);
    FT_CHECK(x.kind[7] == FT_MLM_CONT && x.kind[6] == FT_MLM_START && x.kind[2] == FT_MLM_SPECIAL);
    int picked[5] = {0}, bad = 0;
    for (uint64_t it = 0; it < 400; it++) {
        ft_batch b = {.B = 1, .T = T};
        b.input_ids = malloc((size_t)T * sizeof(int32_t));
        b.mask = malloc((size_t)T * sizeof(int32_t));
        b.labels = malloc((size_t)T * sizeof(int32_t));
        if (!b.input_ids || !b.mask || !b.labels) {
            ft_batch_free(&b);
            FT_CHECK(0);
            return;
        }
        for (int t = 0; t < T; t++) {
            b.input_ids[t] = row[t];
            b.mask[t] = t < T - 1;
        }
        FT_CHECK_OK(ft_mlm_mask(&x, &b, false, it));
        int n = 0, in_word[5] = {0}, size[5] = {0};
        for (int t = 0; t < T; t++) {
            if (word[t] >= 0)
                size[word[t]]++;
            if (b.labels[t] == -100)
                continue;
            n++;
            bad += word[t] < 0 || b.labels[t] != row[t];
            if (word[t] >= 0)
                in_word[word[t]]++;
        }
        /* len = 10 real tokens: round(10 · 0.2) = 2 */
        bad += n > 2 || n == 0;
        for (int w = 0; w < 5; w++) {
            bad += in_word[w] != 0 && in_word[w] != size[w];
            picked[w] += in_word[w] > 0;
        }
        ft_batch_free(&b);
    }
    FT_CHECKF(bad == 0, "%d whole-word rules broken", bad);
    /* words of ≤ 2 pieces fit the budget of 2; the 3-piece word never does */
    FT_CHECK(picked[0] > 20 && picked[1] > 20 && picked[2] > 20 && picked[4] > 20 && picked[3] == 0);
    ft_mlm_free(&x);
    ft_tok_free(tok);
}

/* A byte-level BPE vocabulary: a piece without the leading "Ġ" continues the word; "<mask>" found by name. */
FT_TEST(bpe_word_starts_and_errors) {
    static const char *json_fmt =
        "{\"added_tokens\": [%s], \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},"
        " \"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"<s>\": 0, "
        "\"</s>\": 1, \"<pad>\": 2, \"<mask>\": 3, \"\\u0120the\": 4, \"\\u0120cat\": 5, \"s\": 6, "
        "\"\\u0120un\": 7, "
        "\"aff\": 8, \"the\": 9}, \"merges\": []}}";
    static const char *sp = "{\"id\": %d, \"content\": \"%s\", \"single_word\": false, \"lstrip\": false, "
                            "\"rstrip\": false, \"normalized\": false, \"special\": true}";
    char added[1024] = "", one[256], json[4096];
    const char *names[] = {"<s>", "</s>", "<pad>", "<mask>"};
    for (int k = 0; k < 4; k++) {
        snprintf(one, sizeof one, sp, k, names[k]);
        if (k)
            strcat(added, ", ");
        strcat(added, one);
    }
    snprintf(json, sizeof json, json_fmt, added);
    ft_tokenizer *tok = NULL;
    FT_CHECK_OK(ft_tok_load(write_tmp("tokenizer.json", json), &tok));
    if (!tok)
        return;
    ft_mlm x;
    FT_CHECK_OK(ft_mlm_init(&x, tok, "tokenizer.json", 10, 0.15f, true, 1));
    FT_CHECK(x.mask_id == 3);
    FT_CHECK(x.kind[0] == FT_MLM_SPECIAL && x.kind[3] == FT_MLM_SPECIAL);
    FT_CHECK(x.kind[4] == FT_MLM_START && x.kind[5] == FT_MLM_START && x.kind[7] == FT_MLM_START);
    FT_CHECK(x.kind[6] == FT_MLM_CONT && x.kind[8] == FT_MLM_CONT && x.kind[9] == FT_MLM_CONT);
    ft_mlm_free(&x);
    FT_CHECK_FAILS(ft_mlm_init(&x, tok, "tokenizer.json", 10, 1.5f, false, 1), FT_ERR_CONFIG,
                   "data.mlm_probability");
    ft_tok_free(tok);
    /* no mask token: refused naming the tokenizer */
    snprintf(one, sizeof one, sp, 0, "<s>");
    snprintf(json, sizeof json, json_fmt, one);
    char *p = strstr(json, "\"<mask>\""); /* rename the vocabulary's <mask> */
    if (p)
        memcpy(p + 1, "<mosk>", 6);
    tok = NULL;
    FT_CHECK_OK(ft_tok_load(write_tmp("nomask.json", json), &tok));
    if (!tok)
        return;
    FT_CHECK_FAILS(ft_mlm_init(&x, tok, "some/dir/nomask.json", 10, 0.15f, false, 1), FT_ERR_CONFIG,
                   "some/dir/nomask.json: the tokenizer has no mask token");
    ft_tok_free(tok);
}

/* task masked_lm: texts become [CLS] ... [SEP] rows, or (data.pack) the concatenation of those cut into
 * blocks of max_len; no labels (the trainer masks each batch). */
FT_TEST(build_masked_lm) {
    ft_tokenizer *tok = NULL;
    FT_CHECK_OK(ft_tok_load(
        write_tmp("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\ndog\n"), &tok));
    if (!tok)
        return;
    ft_data_cfg c;
    ft_data_cfg_default(&c);
    c.val_ratio = c.test_ratio = 0;
    c.max_len = 4;
    c.train = write_tmp("mlm.txt", "the cat sat\ndog\nthe dog\n");
    c.format = "text";
    ft_dataset tr;
    c.pack = true;
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_MASKED_LM, tok, &tr, NULL, NULL, NULL));
    /* stream: 2 5 6 7 3 | 2 8 3 | 2 5 8 3 = 12 tokens → 3 blocks of 4 */
    const int32_t want[12] = {2, 5, 6, 7, 3, 2, 8, 3, 2, 5, 8, 3};
    FT_CHECK(tr.n == 3);
    for (size_t i = 0; i < tr.n && i < 3; i++) {
        FT_CHECK(tr.ex[i].len == 4 && !tr.ex[i].labels);
        FT_CHECK(!memcmp(tr.ex[i].ids, want + 4 * i, 4 * sizeof(int32_t)));
    }
    ft_dataset_free(&tr);
    c.pack = false;
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_MASKED_LM, tok, &tr, NULL, NULL, NULL));
    FT_CHECK(tr.n == 3);
    if (tr.n == 3) { /* truncated to 4 keeping [CLS] and [SEP] */
        const int32_t r0[4] = {2, 5, 6, 3}, r1[3] = {2, 8, 3};
        FT_CHECK(tr.ex[0].len == 4 && !memcmp(tr.ex[0].ids, r0, sizeof r0));
        FT_CHECK(tr.ex[1].len == 3 && !memcmp(tr.ex[1].ids, r1, sizeof r1));
    }
    ft_dataset_free(&tr);
    ft_tok_free(tok);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ft_test_mlm.%d", (int)getpid());
    ft_mkdir_p(tmpdir);
    FT_RUN(mask_statistics);
    FT_RUN(mask_deterministic);
    FT_RUN(whole_word_groups);
    FT_RUN(bpe_word_starts_and_errors);
    FT_RUN(build_masked_lm);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    FT_DONE();
}
