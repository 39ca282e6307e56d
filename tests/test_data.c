/* data pipeline: readers, cleaning, augmentation, splits, build (labels, truncation, packing, masking). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "data/dataset.h"
#include "ft_test.h"

static char tmpdir[256];

static const char *write_tmp(const char *name, const char *content) {
    static char path[8][512];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    fwrite(content, 1, strlen(content), f);
    fclose(f);
    return p;
}

static ft_data_cfg cfg0(void) {
    ft_data_cfg c;
    ft_data_cfg_default(&c);
    return c;
}

FT_TEST(jsonl_reader) {
    ft_data_cfg c = cfg0();
    c.text_field = "sentence";
    const char *p = write_tmp("a.jsonl", "{\"sentence\": \"good film\", \"label\": 1}\n\n"
                                         "{\"sentence\": \"bad\", \"label\": \"neg\"}\r\n"
                                         "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, "
                                         "{\"role\": \"assistant\", \"content\": \"hello\"}]}\n");
    ft_data_recs rs = {0};
    FT_CHECK_OK(ft_data_read(p, &c, &rs));
    FT_CHECK(rs.n == 3);
    if (rs.n == 3) {
        FT_CHECK(!strcmp(rs.r[0].text, "good film") && !strcmp(rs.r[0].label, "1"));
        FT_CHECK(!strcmp(rs.r[1].label, "neg") && rs.r[1].line == 3);
        FT_CHECK(rs.r[2].n_msgs == 2 && !strcmp(rs.r[2].msgs[1].content, "hello") && rs.r[2].text == NULL);
    }
    ft_data_recs_free(&rs);
    p = write_tmp("b.jsonl", "{\"text\": \"x\"}\n{\"text\": \"y\"\n");
    FT_CHECK_FAILS(ft_data_read(p, &c, &rs), FT_ERR_FORMAT, "b.jsonl:2");
    ft_data_recs_free(&rs);
    p = write_tmp("c.jsonl", "{\"text\": \"x\", \"messages\": [{\"role\": \"bot\", \"content\": \"y\"}]}\n");
    FT_CHECK_FAILS(ft_data_read(p, &c, &rs), FT_ERR_FORMAT, "c.jsonl:1");
    ft_data_recs_free(&rs);
    p = write_tmp("d.jsonl", "{\"text\": [1]}\n");
    c.text_field = "text";
    FT_CHECK_FAILS(ft_data_read(p, &c, &rs), FT_ERR_FORMAT, "field 'text'");
    ft_data_recs_free(&rs);
}

FT_TEST(csv_reader) {
    ft_data_cfg c = cfg0();
    /* BOM, CRLF, quoted delimiter, doubled quotes, embedded newline, empty field */
    const char *p = write_tmp("a.csv", "\xEF\xBB\xBFid,text,label\r\n"
                                       "1,\"hello, world\",pos\r\n"
                                       "2,\"she said \"\"hi\"\"\nand left\",neg\r\n"
                                       "3,,pos\r\n"
                                       "4,plain,neg");
    ft_data_recs rs = {0};
    FT_CHECK_OK(ft_data_read(p, &c, &rs));
    FT_CHECK(rs.n == 4);
    if (rs.n == 4) {
        FT_CHECK(!strcmp(rs.r[0].text, "hello, world") && !strcmp(rs.r[0].label, "pos"));
        FT_CHECK(!strcmp(rs.r[1].text, "she said \"hi\"\nand left") && !strcmp(rs.r[1].label, "neg"));
        FT_CHECK(!strcmp(rs.r[2].text, "") && rs.r[3].line == 6 && !strcmp(rs.r[3].label, "neg"));
    }
    ft_data_recs_free(&rs);
    /* the row after an embedded newline is on line 4 of the file */
    p = write_tmp("b.csv", "text,label\n\"a\nb\",x\nc,d,e\n");
    FT_CHECK_FAILS(ft_data_read(p, &c, &rs), FT_ERR_FORMAT, "b.csv:4: 3 fields, the header has 2");
    ft_data_recs_free(&rs);
    p = write_tmp("c.csv", "text,label\nok,1\n\"never closed,1\n");
    FT_CHECK_FAILS(ft_data_read(p, &c, &rs), FT_ERR_FORMAT, "c.csv:3: unterminated");
    ft_data_recs_free(&rs);
    p = write_tmp("d.csv", "text,label\nab\"c,1\n");
    FT_CHECK_FAILS(ft_data_read(p, &c, &rs), FT_ERR_FORMAT, "d.csv:2: stray quote");
    ft_data_recs_free(&rs);
    p = write_tmp("e.csv", "sentence,label\nab,1\n");
    FT_CHECK_FAILS(ft_data_read(p, &c, &rs), FT_ERR_FORMAT, "no column 'text'");
    ft_data_recs_free(&rs);
}

FT_TEST(tsv_and_text_readers) {
    ft_data_cfg c = cfg0();
    const char *p = write_tmp("a.tsv", "label\ttext\n0\ta, b\n1\t\"tab\there\"\n");
    ft_data_recs rs = {0};
    FT_CHECK_OK(ft_data_read(p, &c, &rs));
    FT_CHECK(rs.n == 2 && !strcmp(rs.r[0].text, "a, b") && !strcmp(rs.r[1].text, "tab\there"));
    ft_data_recs_free(&rs);
    p = write_tmp("a.txt", "first line\n\nsecond line\r\n");
    FT_CHECK_OK(ft_data_read(p, &c, &rs));
    FT_CHECK(rs.n == 2 && !strcmp(rs.r[1].text, "second line") && rs.r[1].line == 3);
    ft_data_recs_free(&rs);
    c.format = "xml";
    FT_CHECK_FAILS(ft_data_read(p, &c, &rs), FT_ERR_CONFIG, "data.format");
    ft_data_recs_free(&rs);
    c.format = "auto";
    FT_CHECK_FAILS(ft_data_read("/nonexistent/x.csv", &c, &rs), FT_ERR_IO, "/nonexistent/x.csv");
}

FT_TEST(text_cleaning_steps) {
    char *s = ft_data_norm_unicode("\xEF\xAC\x81le \xEF\xBC\xA1 caf\x65\xCC\x81 \xFF");
    FT_CHECKF(s && !strcmp(s, "file A caf\xC3\xA9 \xEF\xBF\xBD"), "%s", s); /* NFKC; bad byte -> U+FFFD */
    free(s);
    s = ft_data_norm_whitespace("  a\t\tb\x01 c\xE2\x80\x8B" "d\r\n\n\n\ne  \n");
    FT_CHECKF(s && !strcmp(s, "a b c" "d\n\ne"), "[%s]", s);
    free(s);
    s = ft_data_strip_html("<p>Tom &amp; Jerry&#33;</p><script>var x=1;</script><!-- c -->mail <a@b.org> x&lt;y");
    FT_CHECKF(s && strstr(s, "Tom & Jerry!") && !strstr(s, "var x") && !strstr(s, "c --") &&
                  strstr(s, "<a@b.org>") && strstr(s, "x<y"), "[%s]", s);
    free(s);
    s = ft_data_strip_email_headers("From: a@b\nSubject: Cheap\n offers\nX-Y: z\n\nBody here\n");
    FT_CHECKF(s && !strcmp(s, "Cheap offers\n\nBody here\n"), "[%s]", s);
    free(s);
    s = ft_data_strip_email_headers("Note: this is not a mail\nplain text\n");
    FT_CHECK(s && !strcmp(s, "Note: this is not a mail\nplain text\n"));
    free(s);
    FT_CHECK(ft_data_is_garbled(""));
    FT_CHECK(ft_data_is_garbled("   \n "));
    FT_CHECK(ft_data_is_garbled("\xFF\xFE\xFD\xFC ab"));
    FT_CHECK(ft_data_is_garbled("@@@@ #### $$$$ %%%% ^^^^ &&&&"));
    FT_CHECK(!ft_data_is_garbled("A normal sentence, with punctuation!"));
    FT_CHECK(!ft_data_is_garbled("Ünïcödé ок 中文"));
}

static void push_text(ft_data_recs *rs, const char *t, const char *label) {
    ft_data_rec r = {0};
    r.text = strdup(t);
    r.label = label ? strdup(label) : NULL;
    r.file = strdup("mem");
    r.line = (long)rs->n + 1;
    ft_data_recs_push(rs, &r);
}

FT_TEST(minhash_near_duplicates) {
    const char *base = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat near "
                       "the old red barn and the farmer counts his sheep in the green field before the rain";
    char near[512];
    snprintf(near, sizeof near, "%s today", base); /* one word added: Jaccard of 3-grams ~ 0.97 */
    char far[512] = "a completely different sentence about stock markets interest rates and bonds that shares "
                    "almost no phrases with the other text at all";
    uint64_t a[128], b[128], d[128];
    ft_data_minhash(base, a);
    ft_data_minhash(near, b);
    ft_data_minhash(far, d);
    FT_CHECK(ft_data_minhash_sim(a, b) > 0.8);
    FT_CHECK(ft_data_minhash_sim(a, d) < 0.2);
    ft_data_recs rs = {0};
    push_text(&rs, base, "x");
    push_text(&rs, far, "y");
    push_text(&rs, near, "x");
    push_text(&rs, base, "x");                        /* exact */
    push_text(&rs, "Short", "y");                     /* too short */
    push_text(&rs, "\xFF\xFF\xFF\xFF", "y");          /* garbled */
    push_text(&rs, "<b>the quick brown</b>", "y");    /* html */
    ft_data_cfg c = cfg0();
    c.dedup_near = true;
    c.clean_html = true;
    c.min_chars = 8;
    ft_data_clean_stats st;
    FT_CHECK_OK(ft_data_clean(&c, &rs, &st));
    FT_CHECK(st.in == 7 && st.out == 3 && st.dup_exact == 1 && st.dup_near == 1 && st.too_short == 1 &&
             st.garbled == 1 && st.changed_html == 1);
    FT_CHECK(rs.n == 3 && !strcmp(rs.r[0].text, base) && !strcmp(rs.r[1].text, far) &&
             !strcmp(rs.r[2].text, "the quick brown"));
    char buf[1024] = {0};
    FILE *f = fmemopen(buf, sizeof buf, "w");
    ft_data_clean_print(&st, "t", f);
    fclose(f);
    FT_CHECK(strstr(buf, "exact duplicates 1") && strstr(buf, "near duplicates 1"));
    ft_data_recs_free(&rs);
    /* switched off, nothing is removed */
    push_text(&rs, base, "x");
    push_text(&rs, base, "x");
    push_text(&rs, near, "x");
    ft_data_cfg off = cfg0();
    off.dedup_exact = false;
    FT_CHECK_OK(ft_data_clean(&off, &rs, &st));
    FT_CHECK(rs.n == 3);
    ft_data_recs_free(&rs);
}

static ft_wordnet *load_wn(void) {
    ft_wordnet *wn = NULL;
    if (ft_wordnet_load(NULL, &wn) != FT_OK) {
        printf("  (WordNet not installed: %s; skipping its checks)\n", ft_last_error());
        return NULL;
    }
    return wn;
}

FT_TEST(wordnet_lexicon) {
    ft_wordnet *bad = NULL;
    FT_CHECK_FAILS(ft_wordnet_load("/nonexistent", &bad), FT_ERR_IO, "wordnet-base");
    ft_wordnet *wn = load_wn();
    if (!wn)
        return;
    const char *syn[64];
    size_t n = ft_wordnet_synonyms(wn, "car", syn, 64);
    bool automobile = false;
    for (size_t i = 0; i < n; i++)
        automobile |= !strcmp(syn[i], "automobile");
    FT_CHECK(n > 0 && automobile);
    FT_CHECK(ft_wordnet_has_pair(wn, "happy", "felicitous"));
    FT_CHECK(!ft_wordnet_has_pair(wn, "car", "banana"));
    FT_CHECK(ft_wordnet_synonyms(wn, "qwzxv", syn, 64) == 0);
    ft_wordnet_free(wn);
}

FT_TEST(augmentation) {
    ft_wordnet *wn = load_wn();
    const char *text = "the happy child quickly bought a small car and a big house near the old river";
    ft_data_cfg c = cfg0();
    c.aug_p_delete = c.aug_p_swap = c.aug_p_insert = 0;
    c.aug_p_synonym = 0.3f;
    char *a = NULL, *b = NULL, *d = NULL;
    if (wn) {
        FT_CHECK_OK(ft_data_augment_text(text, &c, wn, 7, 1, &a));
        FT_CHECK_OK(ft_data_augment_text(text, &c, wn, 7, 1, &b));
        FT_CHECK_OK(ft_data_augment_text(text, &c, wn, 8, 1, &d));
        FT_CHECK(a && b && !strcmp(a, b)); /* same seed, same copy */
        FT_CHECK(a && d && strcmp(a, d));  /* another seed, another copy */
        FT_CHECK(a && strcmp(a, text));
        /* every changed word is a WordNet synonym of the word it replaced (words align: synonyms may
         * hold spaces, so compare the text around each replacement) */
        const char *orig[32], *got[64];
        char *o2 = strdup(text), *a2 = strdup(a), *sv;
        int no = 0, ng = 0;
        for (char *t = strtok_r(o2, " ", &sv); t; t = strtok_r(NULL, " ", &sv))
            orig[no++] = t;
        for (char *t = strtok_r(a2, " ", &sv); t && ng < 64; t = strtok_r(NULL, " ", &sv))
            got[ng++] = t;
        int i = 0, j = 0, replaced = 0;
        while (i < no && j < ng) {
            if (!strcmp(orig[i], got[j])) {
                i++;
                j++;
                continue;
            }
            /* the replacement is got[j..k) for the shortest k whose words form a WordNet synonym */
            char rep[256] = "";
            int k = j;
            bool ok = false;
            while (!ok && k < ng && k < j + 4) {
                if (k > j)
                    strcat(rep, " ");
                strncat(rep, got[k++], 60);
                ok = ft_wordnet_has_pair(wn, orig[i], rep);
            }
            FT_CHECKF(ok, "'%s' -> no synonym at '%s'", orig[i], got[j]);
            replaced++;
            i++;
            j = k;
        }
        FT_CHECK(replaced >= 1);
        free(o2);
        free(a2);
        free(a);
        free(b);
        free(d);
    }
    /* swap keeps the words, deletion only removes */
    ft_data_cfg sw = cfg0();
    sw.aug_p_delete = sw.aug_p_insert = sw.aug_p_synonym = 0;
    sw.aug_p_swap = 0.2f;
    FT_CHECK_OK(ft_data_augment_text(text, &sw, NULL, 3, 0, &a));
    FT_CHECK(a && strlen(a) == strlen(text) && strcmp(a, text));
    free(a);
    ft_data_cfg del = cfg0();
    del.aug_p_swap = del.aug_p_insert = del.aug_p_synonym = 0;
    del.aug_p_delete = 0.99f;
    FT_CHECK_OK(ft_data_augment_text(text, &del, NULL, 3, 0, &a));
    FT_CHECK(a && strlen(a) > 0 && strlen(a) < strlen(text) && strstr(text, a)); /* one word left */
    free(a);
    /* factor: 2 copies per row, labels copied, deterministic */
    ft_data_recs rs = {0};
    push_text(&rs, text, "pos");
    push_text(&rs, "another short sentence about a dog", "neg");
    ft_data_cfg f = cfg0();
    f.augment_factor = 2;
    f.seed = 5;
    size_t added;
    FT_CHECK_OK(ft_data_augment(&f, wn, &rs, &added));
    FT_CHECK(added == 4 && rs.n == 6 && !strcmp(rs.r[2].label, "pos") && !strcmp(rs.r[5].label, "neg"));
    ft_data_recs rs2 = {0};
    push_text(&rs2, text, "pos");
    push_text(&rs2, "another short sentence about a dog", "neg");
    FT_CHECK_OK(ft_data_augment(&f, wn, &rs2, &added));
    for (size_t i = 0; i < rs.n && i < rs2.n; i++)
        FT_CHECK(!strcmp(rs.r[i].text, rs2.r[i].text));
    ft_data_recs_free(&rs);
    ft_data_recs_free(&rs2);
    ft_wordnet_free(wn);
}

/* n rows "row i", ham for ham_in_10 of every 10 (in order), spam for the rest */
static void push_ham_spam(ft_data_recs *rs, int n, int ham_in_10) {
    char t[64];
    for (int i = 0; i < n; i++) {
        snprintf(t, sizeof t, "row %d", i);
        push_text(rs, t, i % 10 < ham_in_10 ? "ham" : "spam");
    }
}

FT_TEST(split_deterministic_stratified) {
    ft_data_recs a = {0}, b = {0};
    char t[64];
    push_ham_spam(&a, 1000, 8); /* 80/20 */
    push_ham_spam(&b, 1000, 8);
    ft_data_recs tr = {0}, va = {0}, te = {0}, tr2 = {0}, va2 = {0}, te2 = {0};
    FT_CHECK_OK(ft_data_split(&a, 0.1f, 0.2f, true, 11, &tr, &va, &te));
    FT_CHECK_OK(ft_data_split(&b, 0.1f, 0.2f, true, 11, &tr2, &va2, &te2));
    FT_CHECK(a.n == 0 && tr.n == 700 && va.n == 100 && te.n == 200);
    FT_CHECK(tr.n == tr2.n && va.n == va2.n && te.n == te2.n);
    for (size_t i = 0; i < te.n && i < te2.n; i++)
        FT_CHECK(!strcmp(te.r[i].text, te2.r[i].text));
    size_t spam = 0;
    for (size_t i = 0; i < te.n; i++)
        spam += !strcmp(te.r[i].label, "spam");
    FT_CHECK(spam == 40); /* exactly 20% of the test split, as in the whole */
    spam = 0;
    for (size_t i = 0; i < va.n; i++)
        spam += !strcmp(va.r[i].label, "spam");
    FT_CHECK(spam == 20);
    ft_data_recs_free(&tr);
    ft_data_recs_free(&va);
    ft_data_recs_free(&te);
    ft_data_recs_free(&tr2);
    ft_data_recs_free(&va2);
    ft_data_recs_free(&te2);
    /* another seed gives another test set; bad ratios fail */
    for (int i = 0; i < 100; i++) {
        snprintf(t, sizeof t, "row %d", i);
        push_text(&a, t, "x");
        push_text(&b, t, "x");
    }
    FT_CHECK_OK(ft_data_split(&a, 0.1f, 0.1f, false, 1, &tr, &va, &te));
    FT_CHECK_OK(ft_data_split(&b, 0.1f, 0.1f, false, 2, &tr2, &va2, &te2));
    bool same = true;
    for (size_t i = 0; i < te.n; i++)
        same &= !strcmp(te.r[i].text, te2.r[i].text);
    FT_CHECK(!same);
    ft_data_recs x = {0};
    FT_CHECK_FAILS(ft_data_split(&x, 0.5f, 0.5f, false, 1, &tr, &va, &te), FT_ERR_CONFIG, "val_ratio");
    ft_data_recs_free(&tr);
    ft_data_recs_free(&va);
    ft_data_recs_free(&te);
    ft_data_recs_free(&tr2);
    ft_data_recs_free(&va2);
    ft_data_recs_free(&te2);
}

static ft_tokenizer *load_tok(const char *name) {
    const char *src = getenv("FT_SRC");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/.cache/tok/%s", src ? src : "..", name);
    ft_tokenizer *t = NULL;
    if (ft_tok_load(dir, &t) != FT_OK) {
        printf("  (tokenizer %s not fetched (scripts/fetch-fixtures.sh): skipping its checks)\n", name);
        return NULL;
    }
    return t;
}

/* data.text_pair_field: the pair encoding's token types reach the examples and the batch (pads 0); a
 * truncated pair keeps its types aligned with its ids; a single text has none. */
FT_TEST(build_text_pair) {
    ft_tokenizer *tok = NULL;
    FT_CHECK_OK(ft_tok_load(
        write_tmp("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\ndog\nran\n"), &tok));
    if (!tok)
        return;
    ft_data_cfg c = cfg0();
    c.text_pair_field = "b";
    c.val_ratio = c.test_ratio = 0;
    c.train = write_tmp("pair.jsonl", "{\"text\": \"the cat\", \"b\": \"dog ran\", \"label\": \"x\"}\n"
                                      "{\"text\": \"sat\", \"b\": \"the dog ran\", \"label\": \"y\"}\n"
                                      "{\"text\": \"cat\", \"label\": \"y\"}\n");
    ft_dataset tr;
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_SEQ_CLS, tok, &tr, NULL, NULL, NULL));
    FT_CHECK(tr.n == 3);
    if (tr.n != 3) {
        ft_tok_free(tok);
        return;
    }
    /* [CLS] the cat [SEP] dog ran [SEP] = 2 5 6 3 8 9 3, types 0 0 0 0 1 1 1 */
    const int32_t ids0[] = {2, 5, 6, 3, 8, 9, 3}, ty0[] = {0, 0, 0, 0, 1, 1, 1};
    FT_CHECK(tr.ex[0].len == 7 && tr.ex[0].type_ids && !memcmp(tr.ex[0].ids, ids0, sizeof ids0) &&
             !memcmp(tr.ex[0].type_ids, ty0, sizeof ty0));
    FT_CHECK(tr.ex[2].type_ids == NULL); /* no pair: all type 0 */
    size_t idx[3] = {0, 1, 2};
    ft_batch b;
    FT_CHECK_OK(ft_batch_collate(&tr, idx, 3, 16, 0, &b));
    FT_CHECK(b.T == 7 && b.type_ids);
    if (b.type_ids && b.T == 7) {
        /* row 1: [CLS] sat [SEP] the dog ran [SEP]; row 2: [CLS] cat [SEP] + 4 pads, all type 0 */
        const int32_t ty1[] = {0, 0, 0, 1, 1, 1, 1};
        FT_CHECK(!memcmp(b.type_ids + 7, ty1, sizeof ty1));
        for (int t = 0; t < 7; t++)
            FT_CHECK(b.type_ids[14 + t] == 0);
    }
    ft_batch_free(&b);
    ft_dataset_free(&tr);
    /* a pair too long is cut as HF tokenizers' longest_first: 5 tokens leave 2 for text; "the cat" +
       "dog ran" (2 + 2) keep one each, [CLS] the [SEP] dog [SEP]; "sat" + "the dog ran" (1 + 3): the
       longer gives up tokens first, [CLS] sat [SEP] the [SEP] */
    c.max_len = 5;
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_SEQ_CLS, tok, &tr, NULL, NULL, NULL));
    const int32_t ids5[] = {2, 5, 3, 8, 3}, ty5[] = {0, 0, 0, 1, 1}, ids5b[] = {2, 7, 3, 5, 3};
    FT_CHECK(tr.n == 3 && tr.ex[0].len == 5 && !memcmp(tr.ex[0].ids, ids5, sizeof ids5) &&
             tr.ex[0].type_ids && !memcmp(tr.ex[0].type_ids, ty5, sizeof ty5));
    FT_CHECK(tr.n == 3 && tr.ex[1].len == 5 && !memcmp(tr.ex[1].ids, ids5b, sizeof ids5b) &&
             tr.ex[1].type_ids && !memcmp(tr.ex[1].type_ids, ty5, sizeof ty5));
    ft_dataset_free(&tr);
    ft_tok_free(tok);
}

/* data.max_windows: a long text becomes overlapping windows, each with the special tokens of both ends
 * (and the eos), the last ending where the text ends; max_windows keeps the first (head) or last (tail)
 * ones; one window when the text fits or windows are off, equal to ft_data_fit; the windows of a split's
 * texts carry their text's index and label. */
static bool window_is(const ft_tok_ids *w, const int32_t *want, size_t n) {
    return w->n == n && !memcmp(w->ids, want, n * sizeof *want);
}

FT_TEST(classification_windows) {
    ft_tokenizer *tok = NULL;
    FT_CHECK_OK(ft_tok_load(
        write_tmp("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\ndog\nran\n"), &tok));
    if (!tok)
        return;
    /* [CLS] the cat sat dog ran the cat sat dog ran [SEP]: 10 text tokens */
    const char *text = "the cat sat dog ran the cat sat dog ran";
    ft_tok_ids ids = {0}, *w = NULL;
    size_t nw = 0;
    bool cut = false;
    FT_CHECK_OK(ft_tok_encode(tok, text, strlen(text), true, &ids));
    FT_CHECK(ids.n == 12);
    /* 6 tokens per window = 4 text tokens; overlap 1 -> starts 0, 3, 6 */
    FT_CHECK_OK(ft_data_windows(tok, &ids, 6, false, false, 1, 8, &w, &nw, &cut));
    const int32_t w0[] = {2, 5, 6, 7, 8, 3}, w1[] = {2, 8, 9, 5, 6, 3}, w2[] = {2, 6, 7, 8, 9, 3};
    FT_CHECK(nw == 3 && !cut);
    if (nw == 3)
        FT_CHECK(window_is(&w[0], w0, 6) && window_is(&w[1], w1, 6) && window_is(&w[2], w2, 6));
    ft_data_windows_free(w, nw);
    /* at most 2: the first two (head), the last two (tail); the text lost is reported */
    FT_CHECK_OK(ft_data_windows(tok, &ids, 6, false, false, 1, 2, &w, &nw, &cut));
    FT_CHECK(nw == 2 && cut && window_is(&w[0], w0, 6) && window_is(&w[1], w1, 6));
    ft_data_windows_free(w, nw);
    FT_CHECK_OK(ft_data_windows(tok, &ids, 6, true, false, 1, 2, &w, &nw, &cut));
    FT_CHECK(nw == 2 && cut && window_is(&w[0], w1, 6) && window_is(&w[1], w2, 6));
    ft_data_windows_free(w, nw);
    /* overlap 0, 3 text tokens per window: starts 0, 3, 6 and the last moved back to 7 to end at the end */
    FT_CHECK_OK(ft_data_windows(tok, &ids, 5, false, false, 0, 8, &w, &nw, &cut));
    const int32_t last[] = {2, 7, 8, 9, 3};
    FT_CHECK(nw == 4 && !cut && w[0].n == 5 && w[0].ids[1] == 5 && w[3].n == 5);
    if (nw == 4)
        FT_CHECK(window_is(&w[3], last, 5));
    ft_data_windows_free(w, nw);
    /* windows off, or a text that fits: one window, exactly what ft_data_fit makes */
    for (int mw = 0; mw <= 1; mw++) {
        ft_tok_ids fit = {0};
        FT_CHECK_OK(ft_tok_encode(tok, text, strlen(text), true, &fit));
        FT_CHECK_OK(ft_data_fit(tok, &fit, 6, false, false, &cut));
        FT_CHECK_OK(ft_data_windows(tok, &ids, 6, false, false, 1, mw, &w, &nw, &cut));
        FT_CHECK(nw == 1 && cut && window_is(&w[0], fit.ids, fit.n));
        ft_data_windows_free(w, nw);
        ft_tok_ids_free(&fit);
    }
    FT_CHECK_OK(ft_data_windows(tok, &ids, 64, false, false, 1, 8, &w, &nw, &cut));
    FT_CHECK(nw == 1 && !cut && window_is(&w[0], ids.ids, ids.n));
    ft_data_windows_free(w, nw);
    /* an overlap as large as a window's text cannot advance */
    FT_CHECK_FAILS(ft_data_windows(tok, &ids, 6, false, false, 4, 8, &w, &nw, &cut), FT_ERR_CONFIG,
                   "data.window_overlap 4");
    ft_tok_ids_free(&ids);
    /* the split: texts -> windows with doc index and label; 2 + 1 windows, n_docs 2 */
    ft_data_cfg c = cfg0();
    c.val_ratio = c.test_ratio = 0;
    c.max_len = 6;
    c.max_windows = 4;
    c.window_overlap = 2;
    c.train = write_tmp("win.jsonl", "{\"text\": \"the cat sat dog ran the\", \"label\": \"a\"}\n"
                                     "{\"text\": \"dog ran\", \"label\": \"b\"}\n");
    ft_dataset tr;
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_SEQ_CLS, tok, &tr, NULL, NULL, NULL));
    FT_CHECK(tr.n == 3 && tr.n_docs == 2);
    if (tr.n == 3) {
        const int32_t x0[] = {2, 5, 6, 7, 8, 3}, x1[] = {2, 7, 8, 9, 5, 3}, x2[] = {2, 8, 9, 3};
        FT_CHECK(tr.ex[0].doc == 0 && tr.ex[1].doc == 0 && tr.ex[2].doc == 1);
        FT_CHECK(tr.ex[0].cls_label == 0 && tr.ex[1].cls_label == 0 && tr.ex[2].cls_label == 1);
        FT_CHECK(tr.ex[0].len == 6 && !memcmp(tr.ex[0].ids, x0, sizeof x0));
        FT_CHECK(tr.ex[1].len == 6 && !memcmp(tr.ex[1].ids, x1, sizeof x1));
        FT_CHECK(tr.ex[2].len == 4 && !memcmp(tr.ex[2].ids, x2, sizeof x2));
    }
    ft_dataset_free(&tr);
    /* not for other tasks, not with text pairs */
    FT_CHECK_FAILS(ft_data_build(&c, FT_TASK_CAUSAL_LM, tok, &tr, NULL, NULL, NULL), FT_ERR_CONFIG,
                   "data.max_windows: only for tasks classification and regression");
    c.text_pair_field = "b";
    FT_CHECK_FAILS(ft_data_build(&c, FT_TASK_SEQ_CLS, tok, &tr, NULL, NULL, NULL), FT_ERR_CONFIG,
                   "text pairs");
    ft_tok_free(tok);
    /* append_eos (GPT-2: no post-processor specials): every window ends with <|endoftext|> */
    ft_tokenizer *g = load_tok("gpt2");
    if (!g)
        return;
    FT_CHECK_OK(ft_tok_encode(g, "one two three four five six seven", 33, true, &ids));
    FT_CHECK(ids.n == 7);
    int32_t eot = ft_tok_token_to_id(g, "<|endoftext|>", 13);
    FT_CHECK_OK(ft_data_windows(g, &ids, 4, false, true, 1, 8, &w, &nw, &cut));
    FT_CHECK(nw == 3 && !cut); /* 3 text tokens + eos each: starts 0, 2, 4 */
    for (size_t k = 0; k < nw; k++) {
        FT_CHECK(w[k].n == 4 && w[k].ids[3] == eot);
        FT_CHECK(w[k].n == 4 && !memcmp(w[k].ids, ids.ids + 2 * k, 3 * sizeof(int32_t)));
    }
    ft_data_windows_free(w, nw);
    ft_tok_ids_free(&ids);
    ft_tok_free(g);
}

/* Two datasets hold the same examples in the same order (ids and labels). */
static bool same_examples(const ft_dataset *a, const ft_dataset *b) {
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->ex[i].len != b->ex[i].len || a->ex[i].cls_label != b->ex[i].cls_label ||
            memcmp(a->ex[i].ids, b->ex[i].ids, (size_t)a->ex[i].len * sizeof(int32_t)))
            return false;
    return true;
}

FT_TEST(build_classification) {
    ft_tokenizer *tok = load_tok("gpt2");
    if (!tok)
        return;
    char csv[8192] = "text,label\n";
    for (int i = 0; i < 40; i++) {
        char row[128];
        snprintf(row, sizeof row, "\"review number %d, %s\",%s\n", i, i % 4 ? "fine" : "awful", i % 4 ? "pos" : "neg");
        strcat(csv, row);
    }
    ft_data_cfg c = cfg0();
    c.train = write_tmp("cls.csv", csv);
    c.max_len = 3;
    ft_dataset tr, va, te;
    char sum[4096] = {0};
    FILE *f = fmemopen(sum, sizeof sum, "w");
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_SEQ_CLS, tok, &tr, &va, &te, f));
    fclose(f);
    FT_CHECK(tr.n == 32 && va.n == 4 && te.n == 4);
    FT_CHECK(tr.n_labels == 2 && !strcmp(tr.label_names[0], "neg") && !strcmp(tr.label_names[1], "pos"));
    FT_CHECK(va.n_labels == 2 && te.label_names && !strcmp(te.label_names[1], "pos"));
    FT_CHECK(strstr(sum, "labels train: neg=8 pos=24"));
    /* head truncation keeps "review number"; tail keeps the end "fine"/"awful" */
    ft_tok_ids ids = {0};
    ft_tok_encode(tok, "review", 6, false, &ids);
    int32_t review = ids.ids[0];
    ft_tok_encode(tok, " fine", 5, false, &ids);
    int32_t fine = ids.ids[0];
    ft_tok_ids_free(&ids);
    for (size_t i = 0; i < tr.n; i++) {
        FT_CHECK(tr.ex[i].len == 3 && tr.ex[i].ids[0] == review && tr.ex[i].labels == NULL);
        FT_CHECK(tr.ex[i].cls_label == 0 || tr.ex[i].cls_label == 1);
    }
    /* data.split_seed holds the split while seed changes; without it the split follows seed */
    ft_dataset tr7, te7, tr7s, te7s;
    c.seed = 7;
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_SEQ_CLS, tok, &tr7, NULL, &te7, NULL));
    c.split_seed = 42;
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_SEQ_CLS, tok, &tr7s, NULL, &te7s, NULL));
    FT_CHECK(same_examples(&te, &te7s) && !same_examples(&te, &te7));
    c.seed = 42;
    c.split_seed = -1;
    ft_dataset_free(&tr7);
    ft_dataset_free(&te7);
    ft_dataset_free(&tr7s);
    ft_dataset_free(&te7s);
    ft_dataset_free(&tr);
    ft_dataset_free(&va);
    ft_dataset_free(&te);
    c.truncation = "tail";
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_SEQ_CLS, tok, &tr, NULL, NULL, NULL));
    size_t n_fine = 0;
    for (size_t i = 0; i < tr.n; i++)
        n_fine += tr.ex[i].ids[2] == fine && tr.ex[i].cls_label == 1;
    FT_CHECK(n_fine == 24);
    ft_dataset_free(&tr);
    /* append_eos: every example ends with <|endoftext|>, after the head (or tail) content that fits */
    c.append_eos = true;
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_SEQ_CLS, tok, &tr, NULL, NULL, NULL));
    int32_t eot = ft_tok_token_to_id(tok, "<|endoftext|>", 13);
    size_t n_eot = 0;
    for (size_t i = 0; i < tr.n; i++)
        n_eot += tr.ex[i].len == 3 && tr.ex[i].ids[2] == eot && tr.ex[i].ids[1] == fine;
    FT_CHECK(eot >= 0 && n_eot == 24);
    ft_dataset_free(&tr);
    c.truncation = "head";
    c.max_len = 64;
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_SEQ_CLS, tok, &tr, NULL, NULL, NULL));
    ft_tok_encode(tok, "review number 1, fine", 21, true, &ids);
    bool found = false;
    for (size_t i = 0; i < tr.n; i++)
        found |= tr.ex[i].len == (int)ids.n + 1 && !memcmp(tr.ex[i].ids, ids.ids, ids.n * sizeof(int32_t)) &&
                 tr.ex[i].ids[ids.n] == eot;
    FT_CHECK(found); /* a short text: its ids, then eos */
    ft_tok_ids_free(&ids);
    ft_dataset_free(&tr);
    c.append_eos = false;
    c.max_len = 3;
    c.truncation = "middle";
    FT_CHECK_FAILS(ft_data_build(&c, FT_TASK_SEQ_CLS, tok, &tr, NULL, NULL, NULL), FT_ERR_CONFIG, "truncation");
    /* unknown label in a given validation file names file:line */
    c.truncation = "head";
    c.validation = write_tmp("val.csv", "text,label\nok,pos\nhmm,maybe\n");
    FT_CHECK_FAILS(ft_data_build(&c, FT_TASK_SEQ_CLS, tok, &tr, &va, NULL, NULL), FT_ERR_FORMAT, "val.csv:3: label 'maybe'");
    /* regression: numbers, and a bad target names its line */
    ft_data_cfg r = cfg0();
    r.train = write_tmp("reg.jsonl", "{\"text\":\"a\",\"label\":0.5}\n{\"text\":\"b\",\"label\":\"2.5\"}\n");
    r.val_ratio = r.test_ratio = 0;
    FT_CHECK_OK(ft_data_build(&r, FT_TASK_REGRESSION, tok, &tr, NULL, NULL, NULL));
    FT_CHECK(tr.n == 2 && tr.ex[0].reg_target == 0.5f && tr.ex[1].reg_target == 2.5f);
    ft_dataset_free(&tr);
    r.train = write_tmp("reg2.jsonl", "{\"text\":\"a\",\"label\":0.5}\n{\"text\":\"b\",\"label\":\"high\"}\n");
    FT_CHECK_FAILS(ft_data_build(&r, FT_TASK_REGRESSION, tok, &tr, NULL, NULL, NULL), FT_ERR_FORMAT, "reg2.jsonl:2");
    /* integer labels sort numerically */
    r.train = write_tmp("int.jsonl", "{\"text\":\"a\",\"label\":10}\n{\"text\":\"b\",\"label\":2}\n{\"text\":\"c\",\"label\":2}\n");
    FT_CHECK_OK(ft_data_build(&r, FT_TASK_SEQ_CLS, tok, &tr, NULL, NULL, NULL));
    FT_CHECK(tr.n_labels == 2 && !strcmp(tr.label_names[0], "2") && tr.ex[0].cls_label == 1);
    ft_dataset_free(&tr);
    ft_tok_free(tok);
}

/* pre-tokenized JSONL: integer labels (numeric order, negatives too, "07" is 7), strings (byte order),
 * rows without a label, the training set imposed on another file, bad labels naming file:line */
FT_TEST(pretok_labels) {
    ft_dataset tr, va;
    const char *p = write_tmp("pt.jsonl", "{\"input_ids\":[1,2],\"label\":10}\n{\"input_ids\":[3],\"label\":-1}\n"
                                          "{\"input_ids\":[4]}\n\n{\"input_ids\":[5],\"label\":\"07\"}\n"
                                          "{\"input_ids\":[6],\"label\":10}\n");
    FT_CHECK_OK(ft_dataset_load_pretok(p, &tr));
    FT_CHECK(tr.n == 5 && tr.n_labels == 3);
    FT_CHECK(tr.n_labels == 3 && !strcmp(tr.label_names[0], "-1") && !strcmp(tr.label_names[1], "07") &&
             !strcmp(tr.label_names[2], "10"));
    FT_CHECK(tr.n == 5 && tr.ex[0].cls_label == 2 && tr.ex[1].cls_label == 0 && tr.ex[2].cls_label == -100 &&
             tr.ex[3].cls_label == 1 && tr.ex[4].cls_label == 2);
    /* another file maps onto the training set: 7 is "07"; 8 is unknown */
    p = write_tmp("pv.jsonl", "{\"input_ids\":[1],\"label\":7}\n{\"input_ids\":[2],\"label\":\"10\"}\n");
    FT_CHECK_OK(ft_dataset_load_pretok_labels(p, tr.label_names, tr.n_labels, &va));
    FT_CHECK(va.n == 2 && va.ex[0].cls_label == 1 && va.ex[1].cls_label == 2 && va.n_labels == 3);
    ft_dataset_free(&va);
    p = write_tmp("pv2.jsonl", "{\"input_ids\":[1],\"label\":7}\n\n{\"input_ids\":[2],\"label\":8}\n");
    FT_CHECK_FAILS(ft_dataset_load_pretok_labels(p, tr.label_names, tr.n_labels, &va), FT_ERR_FORMAT,
                   "pv2.jsonl:3: label '8' does not occur in the training data (-1, 07, 10)");
    ft_dataset_free(&tr);
    /* strings: byte order */
    p = write_tmp("ps.jsonl", "{\"input_ids\":[1],\"label\":\"spam\"}\n{\"input_ids\":[2],\"label\":\"ham\"}\n"
                              "{\"input_ids\":[3],\"label\":3}\n");
    FT_CHECK_OK(ft_dataset_load_pretok(p, &tr));
    FT_CHECK(tr.n_labels == 3 && !strcmp(tr.label_names[0], "3") && !strcmp(tr.label_names[1], "ham") &&
             tr.ex[0].cls_label == 2);
    ft_dataset_free(&tr);
    /* a non-integer number, or another JSON value, names file:line */
    p = write_tmp("pb.jsonl", "{\"input_ids\":[1],\"label\":1}\n{\"input_ids\":[2],\"label\":2.5}\n");
    FT_CHECK_FAILS(ft_dataset_load_pretok(p, &tr), FT_ERR_FORMAT, "pb.jsonl:2: 'label' 2.5 is not an integer");
    p = write_tmp("pb2.jsonl", "{\"input_ids\":[1],\"label\":true}\n");
    FT_CHECK_FAILS(ft_dataset_load_pretok(p, &tr), FT_ERR_FORMAT, "pb2.jsonl:1: 'label' must be an integer");
}

FT_TEST(subsample_few_shot) {
    ft_data_recs a = {0}, b = {0};
    char t[64];
    push_ham_spam(&a, 1000, 7); /* 70/30 */
    push_ham_spam(&b, 1000, 7);
    FT_CHECK_OK(ft_data_subsample(&a, 32, true, 5));
    FT_CHECK_OK(ft_data_subsample(&b, 32, true, 5));
    size_t spam = 0;
    for (size_t i = 0; i < a.n; i++)
        spam += !strcmp(a.r[i].label, "spam");
    FT_CHECK(a.n == 32 && spam == 10); /* 9.6 -> 10 by the larger remainder; 22.4 -> 22 */
    for (size_t i = 0; i < a.n && i < b.n; i++)
        FT_CHECK(!strcmp(a.r[i].text, b.r[i].text)); /* seeded: the same rows */
    for (size_t i = 1; i < a.n; i++)                 /* file order kept */
        FT_CHECK(atoi(a.r[i - 1].text + 4) < atoi(a.r[i].text + 4));
    /* a rare label still gets one row; n smaller than the number of labels gives n rows */
    ft_data_recs c = {0};
    for (int i = 0; i < 100; i++) {
        snprintf(t, sizeof t, "row %d", i);
        push_text(&c, t, i == 50 ? "rare" : i % 2 ? "a" : "b");
    }
    FT_CHECK_OK(ft_data_subsample(&c, 8, true, 1));
    size_t rare = 0;
    for (size_t i = 0; i < c.n; i++)
        rare += !strcmp(c.r[i].label, "rare");
    FT_CHECK(c.n == 8 && rare == 1);
    FT_CHECK_OK(ft_data_subsample(&c, 2, true, 1));
    FT_CHECK(c.n == 2);
    /* another seed picks other rows; n >= size keeps everything */
    ft_data_recs d = {0};
    push_ham_spam(&d, 1000, 7);
    FT_CHECK_OK(ft_data_subsample(&d, 32, true, 6));
    bool same = d.n == a.n;
    for (size_t i = 0; same && i < a.n; i++)
        same = !strcmp(d.r[i].text, a.r[i].text);
    FT_CHECK(d.n == 32 && !same);
    FT_CHECK_OK(ft_data_subsample(&a, 100, true, 5));
    FT_CHECK(a.n == 32);
    ft_data_recs_free(&a);
    ft_data_recs_free(&d);
    ft_data_recs_free(&b);
    ft_data_recs_free(&c);
}

FT_TEST(build_causal_lm_packing_and_groups) {
    ft_tokenizer *tok = load_tok("gpt2");
    if (!tok)
        return;
    char txt[8192] = "";
    for (int i = 0; i < 60; i++) {
        char l[128];
        snprintf(l, sizeof l, "line %d of a small corpus with some words in it\n", i);
        strcat(txt, l);
    }
    ft_data_cfg c = cfg0();
    c.train = write_tmp("lm.txt", txt);
    c.max_len = 16;
    c.val_ratio = c.test_ratio = 0;
    ft_dataset tr;
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_CAUSAL_LM, tok, &tr, NULL, NULL, NULL));
    int32_t eos = ft_tok_token_to_id(tok, "<|endoftext|>", 13);
    size_t n_eos = 0;
    for (size_t i = 0; i < tr.n; i++) {
        FT_CHECK(tr.ex[i].len == 16);
        for (int t = 0; t < tr.ex[i].len; t++)
            n_eos += tr.ex[i].ids[t] == eos;
    }
    FT_CHECK(tr.n >= 40 && n_eos >= 55); /* every line ends with EOS; the last partial block is dropped */
    ft_dataset_free(&tr);
    c.pack = false;
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_CAUSAL_LM, tok, &tr, NULL, NULL, NULL));
    FT_CHECK(tr.n == 60 && tr.ex[0].ids[tr.ex[0].len - 1] == eos && tr.ex[0].len < 16);
    /* length groups on mixed lengths */
    for (size_t i = 0; i < tr.n; i++)
        tr.ex[i].len = 1 + (int)((i * 7) % 13);
    size_t o1[60], o2[60];
    FT_CHECK_OK(ft_data_length_groups(&tr, 4, 9, o1));
    FT_CHECK_OK(ft_data_length_groups(&tr, 4, 9, o2));
    FT_CHECK(!memcmp(o1, o2, sizeof o1));
    bool seen[60] = {0};
    for (int i = 0; i < 60; i++)
        seen[o1[i]] = true;
    bool perm = true;
    for (int i = 0; i < 60; i++)
        perm &= seen[i];
    FT_CHECK(perm);
    int max_len = 0;
    for (int i = 0; i < 60; i++)
        max_len = tr.ex[i].len > max_len ? tr.ex[i].len : max_len;
    FT_CHECK(tr.ex[o1[0]].len == max_len); /* the longest batch first */
    /* within-batch spread is small next to random batching: sum of (max-min) per batch */
    int spread = 0;
    for (int b = 0; b < 15; b++) {
        int lo = 99, hi = 0;
        for (int k = 0; k < 4; k++) {
            int l = tr.ex[o1[b * 4 + k]].len;
            lo = l < lo ? l : lo;
            hi = l > hi ? l : hi;
        }
        spread += hi - lo;
    }
    FT_CHECK(spread <= 15);
    FT_CHECK_FAILS(ft_data_length_groups(&tr, 0, 1, o1), FT_ERR_ARG, "batch size");
    ft_dataset_free(&tr);
    ft_tok_free(tok);
}

FT_TEST(build_instruction_masking) {
    ft_tokenizer *tok = load_tok("gpt2");
    if (tok) {
        ft_data_cfg c = cfg0();
        c.train = write_tmp("ins.jsonl", "{\"prompt\":\"Translate: cat\",\"response\":\" chat\"}\n"
                                         "{\"prompt\":\"2+2= answer this question, and show all of the work\",\"response\":\" 4\"}\n");
        c.val_ratio = c.test_ratio = 0;
        ft_dataset tr;
        FT_CHECK_OK(ft_data_build(&c, FT_TASK_CAUSAL_LM, tok, &tr, NULL, NULL, NULL));
        ft_tok_ids p = {0}, r = {0};
        ft_tok_encode(tok, "Translate: cat", 14, true, &p);
        ft_tok_encode(tok, " chat", 5, false, &r);
        int32_t eos = ft_tok_token_to_id(tok, "<|endoftext|>", 13);
        FT_CHECK(tr.n == 2 && tr.ex[0].len == (int)(p.n + r.n + 1));
        for (int i = 0; tr.n == 2 && i < tr.ex[0].len; i++) {
            bool prompt = i < (int)p.n;
            FT_CHECK(prompt ? tr.ex[0].labels[i] == -100 : tr.ex[0].labels[i] == tr.ex[0].ids[i]);
        }
        FT_CHECK(tr.ex[0].ids[tr.ex[0].len - 1] == eos);
        int pn = (int)p.n;
        ft_tok_ids_free(&p);
        ft_tok_ids_free(&r);
        ft_dataset_free(&tr);
        /* a prompt longer than max_len leaves no response token: the row is dropped, the other kept */
        c.max_len = pn + 1; /* the first prompt + one response token fits; the long second prompt alone does not */
        FT_CHECK_OK(ft_data_build(&c, FT_TASK_CAUSAL_LM, tok, &tr, NULL, NULL, NULL));
        FT_CHECK(tr.n == 1 && tr.ex[0].len == pn + 1 && tr.ex[0].labels[pn - 1] == -100 && tr.ex[0].labels[pn] != -100);
        ft_dataset_free(&tr);
        ft_tok_free(tok);
    }
    tok = load_tok("llama3");
    if (!tok)
        return;
    ft_data_cfg c = cfg0();
    c.train = write_tmp("chat.jsonl",
                        "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
                        "\"Hi there\"},{\"role\":\"assistant\",\"content\":\"Hello!\"},{\"role\":\"user\",\"content\":"
                        "\"Bye\"},{\"role\":\"assistant\",\"content\":\"Goodbye.\"}]}\n");
    c.val_ratio = c.test_ratio = 0;
    c.chat_template = "llama3";
    ft_dataset tr;
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_CAUSAL_LM, tok, &tr, NULL, NULL, NULL));
    FT_CHECK(tr.n == 1);
    if (tr.n == 1) {
        /* the loss tokens, decoded, are exactly the two replies with their end-of-turn tokens */
        int32_t kept[256];
        size_t nk = 0;
        for (int i = 0; i < tr.ex[0].len && nk < 256; i++)
            if (tr.ex[0].labels[i] != -100) {
                FT_CHECK(tr.ex[0].labels[i] == tr.ex[0].ids[i]);
                kept[nk++] = tr.ex[0].ids[i];
            }
        char *txt = NULL;
        size_t tl;
        FT_CHECK_OK(ft_tok_decode(tok, kept, nk, false, &txt, &tl));
        FT_CHECKF(txt && !strcmp(txt, "Hello!<|eot_id|>Goodbye.<|eot_id|>"), "[%s]", txt);
        free(txt);
        FT_CHECK(tr.ex[0].labels[0] == -100);
    }
    ft_dataset_free(&tr);
    c.chat_template = "nosuch";
    FT_CHECK_FAILS(ft_data_build(&c, FT_TASK_CAUSAL_LM, tok, &tr, NULL, NULL, NULL), FT_ERR_ARG, "chat.jsonl:1");
    ft_tok_free(tok);
}

FT_TEST(mail_decoding) {
    const char *m = "From: x@y\nSubject: =?iso-8859-1?Q?Caf=E9?= news\nContent-Type: multipart/alternative; "
                    "boundary=\"BB\"\n\npreamble\n--BB\nContent-Type: text/plain; charset=windows-1252\n"
                    "Content-Transfer-Encoding: quoted-printable\n\nPrice =80 5, caf=E9 open=\n now\n--BB\n"
                    "Content-Type: text/html\n\n<p>html</p>\n--BB--\n";
    char *t = NULL;
    bool rec;
    FT_CHECK_OK(ft_data_mail_text(m, strlen(m), true, &t, &rec));
    FT_CHECKF(t && !strcmp(t, "Caf\xC3\xA9 news\n\nPrice \xE2\x82\xAC 5, caf\xC3\xA9 open now\n"), "[%s]", t);
    FT_CHECK(rec);
    free(t);
    const char *b64 = "Subject: hi\nContent-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: base64\n\n"
                      "8NLJ18XU\n"; /* "Привет" in KOI8-R */
    FT_CHECK_OK(ft_data_mail_text(b64, strlen(b64), false, &t, &rec));
    FT_CHECKF(t && strstr(t, "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82") && strstr(t, "Content-Type"), "[%s]", t);
    free(t);
    const char *plain = "Subject: plain\n\nno charset \xE9t\xE9\n";
    FT_CHECK_OK(ft_data_mail_text(plain, strlen(plain), true, &t, &rec));
    FT_CHECK(t && strstr(t, "\xC3\xA9t\xC3\xA9") && rec);
    free(t);
}

/* Subject-line pairs (ftune data --subjects): the Subject apart from the body, markers dropped, quoted
 * "Subject:" lines out of the body, the body cut at a character boundary. */
FT_TEST(mail_subject_pairs) {
    const char *m = "From: x@y\nSubject: Re: [ILUG] =?iso-8859-1?Q?Caf=E9?=\n\nhello\n> Subject: old one\n"
                    "  SUBJECT: again\nbye \xC3\xA9t\xC3\xA9\n";
    char *subj = NULL, *body = NULL;
    bool rec;
    FT_CHECK_OK(ft_data_mail_subject_body(m, strlen(m), &subj, &body, &rec));
    FT_CHECKF(subj && !strcmp(subj, "Re: [ILUG] Caf\xC3\xA9"), "[%s]", subj);
    char *t = ft_data_body_clean(body, 0);
    FT_CHECKF(t && !strcmp(t, "hello\nbye \xC3\xA9t\xC3\xA9\n"), "[%s]", t);
    free(t);
    t = ft_data_body_clean(body, 11); /* "hello\nbye \xC3" would split the é: cut before it */
    FT_CHECKF(t && !strcmp(t, "hello\nbye "), "[%s]", t);
    free(t);
    free(subj);
    free(body);
    const char *nosub = "From: x@y\n\nbody only\n";
    FT_CHECK_OK(ft_data_mail_subject_body(nosub, strlen(nosub), &subj, &body, &rec));
    FT_CHECK(!subj && body && !strcmp(body, "body only\n"));
    free(body);
    static const char *const cases[][2] = {{"Re: Re: hello", "hello"},
                                           {"RE[2]: x  y", "x y"},
                                           {"[ILUG] Re: foo", "[ILUG] foo"},
                                           {"Fwd: Re: FW: bar", "bar"},
                                           {"AW : baz", "baz"},
                                           {"Reply all", "Reply all"},
                                           {"Re:", ""},
                                           {"[SAtalk] Re:", "[SAtalk]"},
                                           {"Re: [x] Re: y", "[x] y"},
                                           {"Regarding: z", "Regarding: z"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        t = ft_data_subject_clean(cases[i][0]);
        FT_CHECKF(t && !strcmp(t, cases[i][1]), "%s -> [%s], want [%s]", cases[i][0], t, cases[i][1]);
        free(t);
    }
}

/* The character-level T5-layout tokenizer of ft_test.h, loaded. */
static ft_tokenizer *t5_char_tok(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/t5tok", tmpdir);
    ft_mkdir_p(dir);
    write_tmp("t5tok/tokenizer.json", FT_TEST_T5_CHAR_TOKENIZER);
    ft_tokenizer *tok = NULL;
    FT_CHECK_OK(ft_tok_load(dir, &tok));
    return tok;
}

/* task seq2seq: ids = prefix + source + </s>, labels = target + </s> (no start token), both cut with the eos
 * kept last and counted; empty rows skipped; a missing field names its line; the collate pads the decoder
 * side with -100 labels and a 0 decoder mask. */
FT_TEST(build_seq2seq) {
    ft_tokenizer *tok = t5_char_tok();
    if (!tok)
        return;
    ft_data_cfg c = cfg0();
    c.train = write_tmp("s2s.jsonl",
                        "{\"src\": \"ab\", \"tgt\": \"ba\"}\n{\"src\": \"abcde\", \"tgt\": \"edcba\"}\n"
                        "{\"src\": \"cd\", \"tgt\": \" \"}\n{\"src\": \"e\", \"tgt\": \"e\"}\n");
    c.text_field = "src";
    c.response_field = "tgt";
    c.prefix = "c ";
    c.max_len = 6;
    c.max_target_len = 4;
    c.val_ratio = c.test_ratio = 0;
    c.dedup_exact = c.drop_garbled = false;
    ft_dataset tr;
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_SEQ2SEQ, tok, &tr, NULL, NULL, NULL));
    FT_CHECKF(tr.n == 3, "%zu examples (the blank target skipped)", tr.n);
    if (tr.n == 3) {
        const int32_t s0[] = {3, 6, 3, 4, 5, 1}, l0[] = {3, 5, 4, 1}; /* ▁c ▁ab </s> ; ▁ba </s> */
        FT_CHECK(tr.ex[0].len == 6 && !memcmp(tr.ex[0].ids, s0, sizeof s0));
        FT_CHECK(tr.ex[0].dec_len == 4 && !memcmp(tr.ex[0].labels, l0, sizeof l0));
        const int32_t s1[] = {3, 6, 3, 4, 5, 1}, l1[] = {3, 8, 7, 1}; /* cut: ▁c ▁ab.. </s> ; ▁ed </s> */
        FT_CHECKF(tr.ex[1].len == 6 && !memcmp(tr.ex[1].ids, s1, sizeof s1), "len %d: %d %d %d %d %d %d",
                  tr.ex[1].len, tr.ex[1].ids[0], tr.ex[1].ids[1], tr.ex[1].ids[2], tr.ex[1].ids[3],
                  tr.ex[1].ids[4], tr.ex[1].ids[5]);
        FT_CHECK(tr.ex[1].dec_len == 4 && !memcmp(tr.ex[1].labels, l1, sizeof l1));
        FT_CHECK(tr.ex[2].dec_len == 3 && tr.ex[2].labels[2] == 1);
        size_t idx[2] = {2, 0};
        ft_batch b;
        FT_CHECK_OK(ft_batch_collate(&tr, idx, 2, 6, 0, &b));
        FT_CHECK(b.B == 2 && b.T == 6 && b.T_dec == 4 && !b.decoder_input_ids && b.decoder_mask);
        const int32_t lab[] = {3, 8, 1, -100, 3, 5, 4, 1}, dm[] = {1, 1, 1, 0, 1, 1, 1, 1};
        FT_CHECK(!memcmp(b.labels, lab, sizeof lab) && !memcmp(b.decoder_mask, dm, sizeof dm));
        FT_CHECK(b.mask[5] == 0 && b.input_ids[5] == 0 && b.mask[4] == 1 && b.mask[6 + 5] == 1); /* pads */
        ft_batch_free(&b);
    }
    ft_dataset_free(&tr);
    FILE *sum = fopen(write_tmp("s2s.sum", ""), "w");
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_SEQ2SEQ, tok, &tr, NULL, NULL, sum));
    fclose(sum);
    ft_dataset_free(&tr);
    char *text = NULL;
    size_t len = 0;
    char sp[700];
    snprintf(sp, sizeof sp, "%s/s2s.sum", tmpdir);
    FT_CHECK_OK(ft_read_file(sp, &text, &len));
    FT_CHECKF(text && strstr(text, "1 truncated to 6 (sources); targets: 11 tokens, 1 truncated to 4; 1 rows "
                                   "skipped (empty source or target)"),
              "[%s]", text);
    free(text);
    c.train = write_tmp("s2s-bad.jsonl", "{\"src\": \"ab\", \"tgt\": \"ba\"}\n{\"src\": \"ab\"}\n");
    FT_CHECK_FAILS(ft_data_build(&c, FT_TASK_SEQ2SEQ, tok, &tr, NULL, NULL, NULL), FT_ERR_FORMAT,
                   "s2s-bad.jsonl:2: missing field 'tgt'");
    c.max_target_len = 1;
    FT_CHECK_FAILS(ft_data_build(&c, FT_TASK_SEQ2SEQ, tok, &tr, NULL, NULL, NULL), FT_ERR_CONFIG,
                   "data.max_target_length");
    ft_tok_free(tok);
    c.max_target_len = 4; /* a WordPiece vocabulary without an end-of-sequence token */
    FT_CHECK_OK(ft_tok_load(write_tmp("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nab\n"), &tok));
    FT_CHECK_FAILS(ft_data_build(&c, FT_TASK_SEQ2SEQ, tok, &tr, NULL, NULL, NULL), FT_ERR_CONFIG,
                   "no end-of-sequence token");
    ft_tok_free(tok);
}

FT_TEST(build_replay_mix) {
    ft_tokenizer *tok = load_tok("gpt2");
    if (!tok)
        return;
    char txt[8192] = "", gen[8192] = "";
    for (int i = 0; i < 60; i++) {
        char l[128];
        snprintf(l, sizeof l, "whale line %d of the narrow domain text here\n", i);
        strcat(txt, l);
        snprintf(l, sizeof l, "congress and congress %d\n", i);
        strcat(gen, l);
    }
    ft_data_cfg c = cfg0();
    c.train = write_tmp("dom.txt", txt);
    c.max_len = 16;
    c.val_ratio = c.test_ratio = 0;
    ft_dataset base, mix, mix2;
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_CAUSAL_LM, tok, &base, NULL, NULL, NULL));
    c.replay = write_tmp("gen.txt", gen);
    c.replay_ratio = 0.25f;
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_CAUSAL_LM, tok, &mix, NULL, NULL, NULL));
    FT_CHECK_OK(ft_data_build(&c, FT_TASK_CAUSAL_LM, tok, &mix2, NULL, NULL, NULL));
    size_t want = (size_t)((double)base.n / 3.0 + 0.5); /* 25 % of the result */
    FT_CHECKF(mix.n == base.n + want, "%zu + %zu != %zu", base.n, want, mix.n);
    int32_t congress = ft_tok_token_to_id(tok,
                                          "\xc4\xa0"
                                          "congress",
                                          10); /* "Ġcongress" */
    size_t from_replay = 0;
    for (size_t i = 0; i < mix.n; i++) {
        bool g = false;
        for (int k = 0; k < mix.ex[i].len; k++)
            g |= mix.ex[i].ids[k] == congress;
        from_replay += g;
        FT_CHECK(mix.ex[i].len == 16 && mix.ex[i].len == mix2.ex[i].len &&
                 !memcmp(mix.ex[i].ids, mix2.ex[i].ids, 16 * sizeof(int32_t)));
        if (i < base.n)
            FT_CHECK(!g && !memcmp(mix.ex[i].ids, base.ex[i].ids, 16 * sizeof(int32_t)));
    }
    FT_CHECKF(congress >= 0 && from_replay == want, "congress %d, %zu from replay, want %zu", congress,
              from_replay, want);
    ft_dataset_free(&mix);
    ft_dataset_free(&mix2);
    /* bad uses name the key */
    ft_dataset x;
    c.replay_ratio = 1.0f;
    FT_CHECK_FAILS(ft_data_build(&c, FT_TASK_CAUSAL_LM, tok, &x, NULL, NULL, NULL), FT_ERR_CONFIG,
                   "data.replay_ratio");
    c.replay_ratio = 0.25f;
    FT_CHECK_FAILS(ft_data_build(&c, FT_TASK_SEQ_CLS, tok, &x, NULL, NULL, NULL), FT_ERR_CONFIG,
                   "data.replay");
    c.replay = "/nonexistent/replay.txt";
    FT_CHECK_FAILS(ft_data_build(&c, FT_TASK_CAUSAL_LM, tok, &x, NULL, NULL, NULL), FT_ERR_IO, "replay.txt");
    ft_dataset_free(&base);
    ft_tok_free(tok);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ft_test_data.%d", (int)getpid());
    ft_mkdir_p(tmpdir);
    FT_RUN(jsonl_reader);
    FT_RUN(csv_reader);
    FT_RUN(tsv_and_text_readers);
    FT_RUN(text_cleaning_steps);
    FT_RUN(minhash_near_duplicates);
    FT_RUN(wordnet_lexicon);
    FT_RUN(augmentation);
    FT_RUN(split_deterministic_stratified);
    FT_RUN(build_classification);
    FT_RUN(classification_windows);
    FT_RUN(build_text_pair);
    FT_RUN(pretok_labels);
    FT_RUN(subsample_few_shot);
    FT_RUN(build_causal_lm_packing_and_groups);
    FT_RUN(build_replay_mix);
    FT_RUN(build_instruction_masking);
    FT_RUN(mail_decoding);
    FT_RUN(mail_subject_pairs);
    FT_RUN(build_seq2seq);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    FT_DONE();
}
