/* Token classification: seqeval-style chunks and metrics, the JSONL / CoNLL / Brown readers, the
 * word-to-piece alignment (WordPiece and byte-level BPE), bad input. `test_tagging --cases FILE` prints the
 * metrics of each JSONL case {"true": [[tags]...], "pred": [[tags]...]} for tests/seqeval_parity.sh. */
#include <cjson/cJSON.h>
#include <unistd.h>

#include "core/core.h"
#include "data/tagging.h"
#include "eval/tagging.h"
#include "ft_test.h"

static char tmpdir[256];

/* tmpdir/name with that content; the path stays valid for the next 7 calls. */
static const char *write_tmp(const char *name, const char *content) {
    static char paths[8][512];
    static unsigned calls;
    char *dst = paths[calls++ % 8];
    snprintf(dst, sizeof paths[0], "%s/%s", tmpdir, name);
    return ft_write_file_atomic(dst, content, strlen(content)) == FT_OK ? dst : "(unwritable)";
}

/* The chunks of tags as "TYPE:b-e TYPE:b-e". */
static void chunks_text(const char *const *tags, size_t n, char *out, size_t cap) {
    ft_tag_chunk *c = NULL;
    size_t k = 0;
    out[0] = '\0';
    if (ft_tag_chunks(tags, n, &c, &k) != FT_OK)
        return;
    size_t l = 0;
    for (size_t i = 0; i < k && l < cap; i++)
        l +=
            (size_t)snprintf(out + l, cap - l, "%s%s:%zu-%zu", i ? " " : "", c[i].type, c[i].begin, c[i].end);
    ft_tag_chunks_free(c, k);
}

FT_TEST(chunks_follow_seqeval_rules) {
    struct {
        const char *tags[8];
        size_t n;
        const char *want;
    } cases[] = {
        {{"B-PER", "I-PER", "O", "B-LOC"}, 4, "PER:0-1 LOC:3-3"},
        {{"O", "I-PER", "I-PER", "O"}, 4, "PER:1-2"},        /* I- after O starts a chunk */
        {{"B-PER", "I-LOC", "O"}, 3, "PER:0-0 LOC:1-1"},     /* a type change ends and starts one */
        {{"B-PER", "B-PER", "I-PER"}, 3, "PER:0-0 PER:1-2"}, /* B after B */
        {{"S-LOC", "B-ORG", "E-ORG", "E-ORG"}, 4, "LOC:0-0 ORG:1-2 ORG:3-3"}, /* IOBES */
        {{"I-X", "I-X", "B-X"}, 3, "X:0-1 X:2-2"},
        {{"B", "I", "O", "I"}, 4, "_:0-1 _:3-3"}, /* no type: '_' */
        {{"O", "O"}, 2, ""},
        {{"B-A-B", "I-A-B"}, 2, "A-B:0-1"}, /* the type is all after the first '-' */
        {{"I-PER"}, 1, "PER:0-0"},
    };
    char got[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        chunks_text(cases[i].tags, cases[i].n, got, sizeof got);
        FT_CHECKF(!strcmp(got, cases[i].want), "case %zu: '%s', want '%s'", i, got, cases[i].want);
    }
}

FT_TEST(metrics_seqeval_example) {
    /* seqeval's documented example: f1 0.50, accuracy 0.80 */
    char *names[] = {"B-MISC", "B-PER", "I-MISC", "I-PER", "O"};
    const int32_t yt[] = {4, 4, 4, 0, 2, 2, 4, 1, 3, 4}, yp[] = {4, 4, 0, 2, 2, 2, 4, 1, 3, 4};
    const size_t off[] = {0, 7, 10};
    ft_metric_tag m;
    FT_CHECK_OK(ft_metric_tagging(yt, yp, off, 2, names, 5, &m));
    FT_CHECK(m.entities);
    FT_CHECK_NEAR(m.accuracy, 0.8, 1e-12);
    FT_CHECK_NEAR(m.f1, 0.5, 1e-12);
    FT_CHECK_NEAR(m.precision, 0.5, 1e-12);
    FT_CHECK_NEAR(m.recall, 0.5, 1e-12);
    FT_CHECK(m.n_types == 2 && !strcmp(m.types[0].type, "MISC") && !strcmp(m.types[1].type, "PER"));
    FT_CHECK(m.n_types == 2 && m.types[0].f1 == 0.0 && m.types[1].f1 == 1.0 && m.types[1].n_true == 1);
    ft_metric_tag_free(&m);
    /* a chunk may not run across a sentence boundary: the 'O' between sentences ends it */
    const int32_t a[] = {0, 2, 2}, b[] = {0, 2, 2};
    const size_t off2[] = {0, 2, 3};
    FT_CHECK_OK(ft_metric_tagging(a, b, off2, 2, names, 5, &m));
    FT_CHECK(m.n_true == 2 && m.n_correct_ent == 2);
    ft_metric_tag_free(&m);
    /* POS tags: no entities, macro-F1 over the tags present */
    char *pos[] = {"DT", "NN", "VB", "JJ"};
    const int32_t pt[] = {0, 1, 2, 0, 1}, pp[] = {0, 1, 1, 0, 1};
    const size_t off3[] = {0, 5};
    FT_CHECK_OK(ft_metric_tagging(pt, pp, off3, 1, pos, 4, &m));
    FT_CHECK(!m.entities);
    FT_CHECK_NEAR(m.accuracy, 0.8, 1e-12);
    /* DT f1 1, NN p 2/3 r 1 → 0.8, VB 0 (JJ absent: not counted) */
    FT_CHECK_NEAR(m.f1_macro_tags, (1.0 + 0.8 + 0.0) / 3.0, 1e-12);
    ft_metric_tag_free(&m);
    FT_CHECK(ft_tag_set_is_bio((const char *const *)names, 5));
    FT_CHECK(!ft_tag_set_is_bio((const char *const *)pos, 4));
}

FT_TEST(jsonl_reader) {
    ft_tag_read_cfg c;
    ft_tag_read_cfg_default(&c);
    ft_tag_sents s = {0};
    const char *p =
        write_tmp("a.jsonl", "{\"tokens\": [\"EU\", \"rejects\"], \"tags\": [\"B-ORG\", \"O\"]}\n\n"
                             "{\"tokens\": [], \"tags\": []}\n"
                             "{\"tokens\": [\"x\"], \"tags\": [3]}\n");
    FT_CHECK_OK(ft_tag_read(p, &c, &s));
    FT_CHECK(s.n == 2 && s.n_empty == 1);
    FT_CHECK(s.n == 2 && s.s[0].n == 2 && !strcmp(s.s[0].words[1], "rejects") &&
             !strcmp(s.s[0].tags[0], "B-ORG"));
    FT_CHECK(s.n == 2 && !strcmp(s.s[1].tags[0], "3") && s.s[1].line == 4);
    ft_tag_sents_free(&s);
    /* field names */
    c.tokens_field = "words";
    c.tags_field = "ner";
    p = write_tmp("b.jsonl", "{\"words\": [\"a\"], \"ner\": [\"O\"]}\n");
    FT_CHECK_OK(ft_tag_read(p, &c, &s));
    FT_CHECK(s.n == 1);
    ft_tag_sents_free(&s);
    /* bad input names file and line */
    ft_tag_read_cfg_default(&c);
    p = write_tmp(
        "c.jsonl",
        "{\"tokens\": [\"a\"], \"tags\": [\"O\"]}\n{\"tokens\": [\"a\", \"b\"], \"tags\": [\"O\"]}\n");
    FT_CHECK_FAILS(ft_tag_read(p, &c, &s), FT_ERR_FORMAT, "c.jsonl:2: 2 tokens but 1 tags");
    ft_tag_sents_free(&s);
    p = write_tmp("d.jsonl", "{\"tokens\": [\"a\"]}\n");
    FT_CHECK_FAILS(ft_tag_read(p, &c, &s), FT_ERR_FORMAT, "d.jsonl:1: missing list field 'tags'");
    ft_tag_sents_free(&s);
    c.need_tags = false; /* prediction input */
    FT_CHECK_OK(ft_tag_read(p, &c, &s));
    FT_CHECK(s.n == 1 && s.s[0].tags == NULL);
    ft_tag_sents_free(&s);
    c.need_tags = true;
    p = write_tmp("e.jsonl", "{\"tokens\": [\"a\", \"\"], \"tags\": [\"O\", \"O\"]}\n");
    FT_CHECK_FAILS(ft_tag_read(p, &c, &s), FT_ERR_FORMAT, "e.jsonl:1: 'tokens' element 1");
    ft_tag_sents_free(&s);
}

FT_TEST(conll_reader) {
    ft_tag_read_cfg c;
    ft_tag_read_cfg_default(&c);
    ft_tag_sents s = {0};
    const char *p =
        write_tmp("a.conll", "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\r\n\n\n"
                             "Peter NNP B-NP B-PER\n");
    FT_CHECK_OK(ft_tag_read(p, &c, &s));
    FT_CHECK(s.n == 2);
    FT_CHECK(s.n == 2 && s.s[0].n == 2 && !strcmp(s.s[0].tags[0], "B-ORG") && !strcmp(s.s[0].tags[1], "O"));
    FT_CHECK(s.n == 2 && s.s[1].n == 1 && !strcmp(s.s[1].words[0], "Peter") && s.s[1].line == 7);
    ft_tag_sents_free(&s);
    c.tag_column = 1; /* the POS column */
    FT_CHECK_OK(ft_tag_read(p, &c, &s));
    FT_CHECK(s.n == 2 && !strcmp(s.s[0].tags[1], "VBZ"));
    ft_tag_sents_free(&s);
    ft_tag_read_cfg_default(&c);
    p = write_tmp("b.conll", "EU B-ORG\nrejects\n");
    FT_CHECK_FAILS(ft_tag_read(p, &c, &s), FT_ERR_FORMAT, "b.conll:2: 1 column(s)");
    ft_tag_sents_free(&s);
}

FT_TEST(brown_reader_and_split) {
    char base[16];
    ft_tag_brown_base("nn-tl", base, sizeof base);
    FT_CHECK(!strcmp(base, "nn"));
    ft_tag_brown_base("ppss+md", base, sizeof base);
    FT_CHECK(!strcmp(base, "ppss"));
    ft_tag_brown_base("bedz*", base, sizeof base);
    FT_CHECK(!strcmp(base, "bedz"));
    ft_tag_brown_base("np$", base, sizeof base);
    FT_CHECK(!strcmp(base, "np$"));
    ft_tag_brown_base("--", base, sizeof base);
    FT_CHECK(!strcmp(base, "--"));
    ft_tag_brown_base("(-hl", base, sizeof base);
    FT_CHECK(!strcmp(base, "("));
    char dir[512];
    snprintf(dir, sizeof dir, "%s/brown", tmpdir);
    FT_CHECK_OK(ft_mkdir_p(dir));
    for (int i = 1; i <= 12; i++) { /* ca01..ca12: index 0 and 10 test, 1 and 11 validation */
        char name[32], body[128];
        snprintf(name, sizeof name, "brown/ca%02d", i);
        snprintf(body, sizeof body, "\n\n\tThe/at file/nn-tl %d/cd ./.\n\n\n\tIt/pps is/bez ./.\n", i);
        write_tmp(name, body);
    }
    write_tmp("brown/README", "not a corpus file\n");
    ft_tag_sents tr = {0}, va = {0}, te = {0};
    FT_CHECK_OK(ft_tag_read_brown(dir, &tr, &va, &te));
    FT_CHECK(tr.n == 16 && va.n == 4 && te.n == 4);
    FT_CHECK(te.n == 4 && !strcmp(te.s[0].words[2], "1") && !strcmp(te.s[2].words[2], "11"));
    FT_CHECK(va.n == 4 && !strcmp(va.s[0].words[2], "2") && !strcmp(va.s[2].words[2], "12"));
    FT_CHECK(tr.n == 16 && !strcmp(tr.s[0].tags[1], "nn") && !strcmp(tr.s[0].tags[0], "at") &&
             tr.s[0].line == 3);
    FT_CHECK(te.n == 4 && strstr(te.s[0].file, "ca01") != NULL);
    ft_tag_sents_free(&tr);
    ft_tag_sents_free(&va);
    ft_tag_sents_free(&te);
    write_tmp("brown/ca13", "\tgood/jj bad\n");
    FT_CHECK_FAILS(ft_tag_read_brown(dir, &tr, NULL, NULL), FT_ERR_FORMAT,
                   "ca13:1: token 'bad' is not word/tag");
    ft_tag_sents_free(&tr);
}

static ft_tokenizer *wordpiece(void) {
    ft_tokenizer *tok = NULL;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/wp", tmpdir);
    ft_mkdir_p(dir);
    write_tmp("wp/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\njohn\n##son\nmet\nparis\n##ian\nthe\n");
    FT_CHECK_OK(ft_tok_load(dir, &tok));
    return tok;
}

FT_TEST(alignment_wordpiece) {
    ft_tokenizer *tok = wordpiece();
    if (!tok)
        return;
    char *words[] = {"johnson", "met", "the", "parisian", "zzz"};
    char *names[] = {"B-PER", "I-PER", "O", "B-LOC", "I-LOC"};
    const int32_t tags[] = {0, 2, 2, 3, -100};
    ft_example ex;
    FT_CHECK_OK(ft_tag_encode(tok, words, 5, tags, false, names, 5, 0, &ex));
    /* [CLS] john ##son met the paris ##ian [UNK] [SEP] */
    const int32_t ids[] = {2, 5, 6, 7, 10, 8, 9, 1, 3}, lab[] = {-100, 0, -100, 2, 2, 3, -100, -100, -100},
                  wid[] = {-1, 0, 0, 1, 2, 3, 3, 4, -1};
    FT_CHECK(ex.len == 9);
    for (int i = 0; ex.len == 9 && i < 9; i++)
        FT_CHECKF(ex.ids[i] == ids[i] && ex.labels[i] == lab[i] && ex.word_ids[i] == wid[i],
                  "piece %d: id %d label %d word %d", i, ex.ids[i], ex.labels[i], ex.word_ids[i]);
    FT_CHECK(ex.cls_label == -100);
    free(ex.ids), free(ex.labels), free(ex.word_ids);
    /* label_all: every piece its word's tag, B- as I- after the first */
    FT_CHECK_OK(ft_tag_encode(tok, words, 5, tags, true, names, 5, 0, &ex));
    const int32_t lab2[] = {-100, 0, 1, 2, 2, 3, 4, -100, -100};
    for (int i = 0; ex.len == 9 && i < 9; i++)
        FT_CHECKF(ex.labels[i] == lab2[i], "label_all piece %d: %d want %d", i, ex.labels[i], lab2[i]);
    free(ex.ids), free(ex.labels), free(ex.word_ids);
    /* truncation to 5: [CLS] john ##son met [SEP] */
    FT_CHECK_OK(ft_tag_encode(tok, words, 5, tags, false, names, 5, 5, &ex));
    FT_CHECK(ex.len == 5 && ex.ids[0] == 2 && ex.ids[3] == 7 && ex.ids[4] == 3 && ex.word_ids[4] == -1);
    /* the predictions of words: argmax at the first piece, -1 for the words cut away */
    float logits[5 * 2] = {0, 0, 5, 1, 0, 9, 1, 2, 0, 0};
    int32_t pred[5];
    ft_tag_word_preds(&ex, logits, 2, 5, pred);
    FT_CHECK(pred[0] == 0 && pred[1] == 1 && pred[2] == -1 && pred[4] == -1);
    free(ex.ids), free(ex.labels), free(ex.word_ids);
    FT_CHECK_FAILS(ft_tag_encode(tok, words, 5, tags, false, names, 5, 2, &ex), FT_ERR_RANGE,
                   "no room for a word");
    ft_tok_free(tok);
}

FT_TEST(alignment_byte_level) {
    const char *src = getenv("FT_SRC");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/models/ftune-tiny", src ? src : "..");
    ft_tokenizer *tok = NULL;
    if (ft_tok_load(dir, &tok) != FT_OK) {
        printf("  (skipped: no %s)\n", dir);
        return;
    }
    char *words[] = {"Hello", "wonderful", "world"};
    const int32_t tags[] = {0, 1, 2};
    ft_example ex;
    FT_CHECK_OK(ft_tag_encode(tok, words, 3, tags, false, NULL, 0, 0, &ex));
    /* each word's first piece carries the byte-level space 'Ġ' (add_prefix_space=True), the first word too */
    int firsts = 0;
    for (int i = 0; i < ex.len; i++) {
        if (ex.word_ids[i] < 0 || (i > 0 && ex.word_ids[i - 1] == ex.word_ids[i]))
            continue;
        size_t n = 0;
        const char *t = ft_tok_id_to_token(tok, ex.ids[i], &n);
        FT_CHECKF(t && n >= 2 && !memcmp(t, "\xC4\xA0", 2), "piece %d of word %d: '%.*s'", i, ex.word_ids[i],
                  (int)n, t ? t : "");
        FT_CHECK(ex.labels[i] == tags[ex.word_ids[i]]);
        firsts++;
    }
    FT_CHECK(firsts == 3);
    free(ex.ids), free(ex.labels), free(ex.word_ids);
    ft_tok_free(tok);
}

FT_TEST(build_splits_and_unknown_tags) {
    ft_tokenizer *tok = wordpiece();
    if (!tok)
        return;
    ft_tag_read_cfg rc;
    ft_tag_read_cfg_default(&rc);
    ft_tag_sents sp[3] = {{0}};
    const char *p =
        write_tmp("tr.jsonl", "{\"tokens\": [\"john\", \"met\"], \"tags\": [\"B-PER\", \"O\"]}\n"
                              "{\"tokens\": [\"the\", \"paris\"], \"tags\": [\"O\", \"B-LOC\"]}\n");
    const char *q =
        write_tmp("te.jsonl", "{\"tokens\": [\"john\", \"met\"], \"tags\": [\"B-ORG\", \"O\"]}\n");
    FT_CHECK_OK(ft_tag_read(p, &rc, &sp[0]));
    FT_CHECK_OK(ft_tag_read(q, &rc, &sp[2]));
    ft_tag_build_cfg c = {.max_len = 16, .val_ratio = 0.1f, .test_ratio = 0.1f, .seed = 1};
    ft_dataset ds[3];
    size_t unk[3];
    FT_CHECK_OK(ft_tag_build(tok, sp, &c, ds, unk, NULL));
    FT_CHECK(ds[0].n_labels == 3 && !strcmp(ds[0].label_names[0], "B-LOC") &&
             !strcmp(ds[0].label_names[2], "O"));
    FT_CHECK(ds[0].n == 2 && ds[1].n == 0 && ds[2].n == 1 && unk[2] == 1 && unk[0] == 0);
    FT_CHECK(ds[2].n == 1 && ds[2].ex[0].labels[1] == -100 && ds[2].ex[0].labels[2] == 2); /* B-ORG unknown */
    for (int k = 0; k < 3; k++)
        ft_dataset_free(&ds[k]);
    /* data.labels: the given order; an empty sentence list fails */
    c.labels = "O,B-PER,B-LOC";
    FT_CHECK_OK(ft_tag_build(tok, sp, &c, ds, unk, NULL));
    FT_CHECK(ds[0].n_labels == 3 && !strcmp(ds[0].label_names[0], "O") && ds[0].ex[0].labels[1] == 1);
    for (int k = 0; k < 3; k++)
        ft_dataset_free(&ds[k]);
    c.labels = "O,O";
    FT_CHECK_FAILS(ft_tag_build(tok, sp, &c, ds, unk, NULL), FT_ERR_CONFIG, "listed twice");
    for (int k = 0; k < 3; k++)
        ft_tag_sents_free(&sp[k]);
    FT_CHECK_FAILS(ft_tag_build(tok, sp, &c, ds, unk, NULL), FT_ERR_CONFIG, "no sentence");
    /* one file split by the ratios: 10 sentences → 8 / 1 / 1, each split in file order */
    char body[2048] = "";
    for (int i = 0; i < 10; i++)
        snprintf(body + strlen(body), sizeof body - strlen(body),
                 "{\"tokens\": [\"john\", \"met\"], \"tags\": [\"B-PER\", \"%s\"]}\n", i % 3 ? "O" : "B-LOC");
    FT_CHECK_OK(ft_tag_read(write_tmp("all.jsonl", body), &rc, &sp[0]));
    c.labels = NULL;
    FT_CHECK_OK(ft_tag_build(tok, sp, &c, ds, unk, NULL));
    FT_CHECK(ds[0].n == 8 && ds[1].n == 1 && ds[2].n == 1);
    for (int k = 0; k < 3; k++) {
        ft_dataset_free(&ds[k]);
        ft_tag_sents_free(&sp[k]);
    }
    ft_tok_free(tok);
}

/* --cases FILE: one JSON line of metrics per case, for tests/seqeval_parity.sh */
static int run_cases(const char *path) {
    char *txt = NULL;
    if (ft_read_file(path, &txt, NULL) != FT_OK) {
        fprintf(stderr, "%s\n", ft_last_error());
        return 2;
    }
    int rc = 0;
    for (char *line = strtok(txt, "\n"); line && !rc; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *T = cJSON_GetObjectItem(j, "true"), *P = cJSON_GetObjectItem(j, "pred"),
                    *N = cJSON_GetObjectItem(j, "names");
        const int nn = cJSON_GetArraySize(N);
        char **names = calloc((size_t)nn + 1, sizeof *names);
        size_t total = 0, ns = (size_t)cJSON_GetArraySize(T);
        for (size_t s = 0; s < ns; s++)
            total += (size_t)cJSON_GetArraySize(cJSON_GetArrayItem(T, (int)s));
        int32_t *yt = malloc((total + 1) * sizeof *yt), *yp = malloc((total + 1) * sizeof *yp);
        size_t *off = malloc((ns + 1) * sizeof *off), k = 0;
        for (int i = 0; i < nn; i++)
            names[i] = cJSON_GetArrayItem(N, i)->valuestring;
        off[0] = 0;
        for (size_t s = 0; s < ns; s++) {
            const cJSON *a = cJSON_GetArrayItem(T, (int)s), *b = cJSON_GetArrayItem(P, (int)s);
            for (int i = 0; i < cJSON_GetArraySize(a); i++, k++) {
                yt[k] = (int32_t)cJSON_GetArrayItem(a, i)->valuedouble;
                yp[k] = (int32_t)cJSON_GetArrayItem(b, i)->valuedouble;
            }
            off[s + 1] = k;
        }
        ft_metric_tag m;
        if (ft_metric_tagging(yt, yp, off, ns, names, nn, &m) != FT_OK) {
            fprintf(stderr, "%s\n", ft_last_error());
            rc = 1;
        } else {
            cJSON *o = cJSON_CreateObject(), *ty = cJSON_AddObjectToObject(o, "per_type");
            cJSON_AddNumberToObject(o, "accuracy", m.accuracy);
            cJSON_AddBoolToObject(o, "entities", m.entities);
            cJSON_AddNumberToObject(o, "precision", m.precision);
            cJSON_AddNumberToObject(o, "recall", m.recall);
            cJSON_AddNumberToObject(o, "f1", m.f1);
            cJSON_AddNumberToObject(o, "f1_macro_tags", m.f1_macro_tags);
            for (size_t i = 0; i < m.n_types; i++) {
                cJSON *t = cJSON_AddObjectToObject(ty, m.types[i].type);
                cJSON_AddNumberToObject(t, "precision", m.types[i].precision);
                cJSON_AddNumberToObject(t, "recall", m.types[i].recall);
                cJSON_AddNumberToObject(t, "f1", m.types[i].f1);
                cJSON_AddNumberToObject(t, "support", (double)m.types[i].n_true);
            }
            char *out = cJSON_PrintUnformatted(o);
            printf("%s\n", out);
            cJSON_free(out);
            cJSON_Delete(o);
            ft_metric_tag_free(&m);
        }
        free(names);
        free(yt);
        free(yp);
        free(off);
        cJSON_Delete(j);
    }
    free(txt);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--cases"))
        return run_cases(argv[2]);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ft_test_tagging.%d", (int)getpid());
    ft_mkdir_p(tmpdir);
    FT_RUN(chunks_follow_seqeval_rules);
    FT_RUN(metrics_seqeval_example);
    FT_RUN(jsonl_reader);
    FT_RUN(conll_reader);
    FT_RUN(brown_reader_and_split);
    FT_RUN(alignment_wordpiece);
    FT_RUN(alignment_byte_level);
    FT_RUN(build_splits_and_unknown_tags);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    FT_DONE();
}
