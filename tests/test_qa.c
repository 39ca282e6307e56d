/* Extractive question answering: SQuAD readers (bad answers counted and skipped), run_qa windows (overlap,
 * answer token positions from character offsets, CLS when the answer is not in the window, masked offsets),
 * post-processing (n-best spans, max_answer_length, null answers) and EM / F1 with the HasAns / NoAns split.
 * `test_qa --post-cases CASES.json OUT.json` runs the post-processing on tests/ref/qa_post.py's random cases
 * (tests/qa_post.sh compares the answers with the Python reference). */
#include <cjson/cJSON.h>
#include <unistd.h>

#include "data/qa.h"
#include "eval/qa_post.h"
#include "models/model.h"
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

/* ids: [PAD]0 [UNK]1 [CLS]2 [SEP]3 [MASK]4 where5 was6 ada7 born8 ?9 in10 paris11 .12 bo13 lived14 rome15 */
static ft_tokenizer *tiny_tok(void) {
    ft_tokenizer *tok = NULL;
    FT_CHECK_OK(
        ft_tok_load(write_tmp("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nwhere\nwas\nada\nborn\n?\n"
                                           "in\nparis\n.\nbo\nlived\nrome\n"),
                    &tok));
    return tok;
}

FT_TEST(read_squad_json_and_jsonl) {
    FILE *rep = tmpfile();
    ft_qa_set s = {0};
    /* SQuAD JSON: one good answer, one not at its answer_start (skipped, counted), an is_impossible one, and
     * an answerable question whose only answer is bad (dropped) */
    const char *j = write_tmp(
        "a.json",
        "{\"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": \"Ada was born in Paris.\", \"qas\": ["
        "{\"id\": \"q1\", \"question\": \"  Where was Ada born?\", \"answers\": [{\"text\": \"Paris\", "
        "\"answer_start\": 16}, {\"text\": \"Paris\", \"answer_start\": 3}]},"
        "{\"id\": \"q2\", \"question\": \"Where was Bo born?\", \"answers\": [], \"is_impossible\": true, "
        "\"plausible_answers\": [{\"text\": \"Paris\", \"answer_start\": 16}]},"
        "{\"id\": \"q3\", \"question\": \"x?\", \"answers\": [{\"text\": \"Rome\", \"answer_start\": "
        "0}]}]}]}]}");
    FT_CHECK_OK(ft_qa_read(j, &s, rep));
    FT_CHECK(s.n == 2 && s.n_bad_answers == 2 && s.n_dropped == 1);
    if (s.n == 2) {
        FT_CHECK(!strcmp(s.ex[0].id, "q1") && !strcmp(s.ex[0].question, "Where was Ada born?"));
        FT_CHECK(s.ex[0].n_answers == 1 && s.ex[0].answer_start[0] == 16);
        FT_CHECK(s.ex[1].n_answers == 0); /* plausible answers are not answers */
    }
    ft_qa_set_free(&s);
    /* JSONL (HF datasets' squad rows); character offsets count code points, not bytes */
    const char *l =
        write_tmp("b.jsonl", "{\"id\": \"u1\", \"question\": \"Wo?\", \"context\": \"Zürich und Köln\", "
                             "\"answers\": {\"text\": [\"Köln\"], \"answer_start\": [11]}}\n\n"
                             "{\"id\": \"u2\", \"question\": \"x\", \"context\": \"y\", \"answers\": "
                             "{\"text\": [], \"answer_start\": []}}\n");
    FT_CHECK_OK(ft_qa_read(l, &s, rep));
    FT_CHECK(s.n == 2 && s.n_bad_answers == 0 && s.ex[0].n_chars == 15);
    if (s.n == 2) {
        char *t = ft_qa_context_span(&s.ex[0], 11, 15);
        FT_CHECK(t && !strcmp(t, "Köln"));
        free(t);
        FT_CHECK(s.ex[1].n_answers == 0);
    }
    ft_qa_set_free(&s);
    /* malformed rows fail naming the line */
    const char *b =
        write_tmp("c.jsonl", "{\"id\": \"1\", \"question\": \"q\", \"context\": \"c\"}\n{\"id\": 2}\n");
    FT_CHECK_FAILS(ft_qa_read(b, &s, NULL), FT_ERR_FORMAT, "c.jsonl:2");
    ft_qa_set_free(&s);
    const char *b2 =
        write_tmp("d.jsonl", "{\"id\": \"1\", \"question\": \"q\", \"context\": \"c\", \"answers\": "
                             "{\"text\": [\"c\"], \"answer_start\": []}}\n");
    FT_CHECK_FAILS(ft_qa_read(b2, &s, NULL), FT_ERR_FORMAT, "d.jsonl:1 (id 1)");
    ft_qa_set_free(&s);
    fclose(rep);
}

/* Windows of "where was ada born ?" over a 9-token context at max_length 12: [CLS] q(5) [SEP] ctx [SEP]
 * leaves 4 context tokens; doc_stride 2 gives windows starting at context tokens 0, 2, 4, 6 (the last one
 * reaching the end). */
FT_TEST(windows_offsets_positions) {
    ft_tokenizer *tok = tiny_tok();
    if (!tok)
        return;
    const char *ctx = "ada lived in rome. bo was born in paris.";
    char json[1024];
    snprintf(json, sizeof json,
             "{\"id\": \"w\", \"question\": \"where was ada born?\", \"context\": \"%s\", \"answers\": "
             "{\"text\": [\"paris\"], \"answer_start\": [34]}}\n"
             "{\"id\": \"v\", \"question\": \"where was bo born?\", \"context\": \"%s\", \"answers\": "
             "{\"text\": [\"in rome\"], \"answer_start\": [10]}}\n",
             ctx, ctx);
    ft_qa_set s = {0};
    FT_CHECK_OK(ft_qa_read(write_tmp("w.jsonl", json), &s, NULL));
    ft_dataset ds;
    ft_qa_feats f;
    FT_CHECK_OK(ft_qa_features(tok, &s, 12, 2, &ds, &f));
    /* example 0: question 5 tokens, context "ada lived in rome . bo was born in paris ." = 11 tokens, room 4:
     * starts 0, 2, 4, 6, 8 (8 + 4 >= 11) */
    FT_CHECK(f.n == 10 && ds.n == 10 && ds.qa == &f);
    if (f.n == 10) {
        const int32_t w0[] = {2, 5, 6, 7, 8, 9, 3, 7, 14, 10, 15, 3};
        FT_CHECK(ds.ex[0].len == 12 && !memcmp(ds.ex[0].ids, w0, sizeof w0));
        FT_CHECK(ds.ex[0].type_ids[6] == 0 && ds.ex[0].type_ids[7] == 1 && ds.ex[0].type_ids[11] == 1);
        /* offsets: question and special tokens masked, context tokens in characters of the context */
        FT_CHECK(f.w[0].off_start[0] == -1 && f.w[0].off_start[5] == -1 && f.w[0].off_start[11] == -1);
        FT_CHECK(f.w[0].off_start[7] == 0 && f.w[0].off_end[7] == 3 && f.w[0].off_start[10] == 13 &&
                 f.w[0].off_end[10] == 17);
        /* the second window starts two context tokens later: "in rome . bo" */
        FT_CHECK(ds.ex[1].ids[7] == 10 && f.w[1].off_start[7] == 10);
        /* "paris" (34..39) is context token 9: only the windows starting at 6 and 8 hold it */
        for (int w = 0; w < 5; w++) {
            const int want = w == 3 ? 7 + 3 : w == 4 ? 7 + 1 : 0;
            FT_CHECKF(ds.ex[w].start_pos == want && ds.ex[w].end_pos == want, "window %d: %d %d, want %d", w,
                      ds.ex[w].start_pos, ds.ex[w].end_pos, want);
        }
        FT_CHECK(ds.ex[4].len == 7 + 3 + 1); /* the last window: 3 context tokens left */
        /* example 1: "in rome" = context tokens 2..3, in windows 0 (7+2, 7+3) and 1 (7, 8) */
        FT_CHECK(f.w[5].example == 1 && ds.ex[5].start_pos == 9 && ds.ex[5].end_pos == 10);
        FT_CHECK(ds.ex[6].start_pos == 7 && ds.ex[6].end_pos == 8 && ds.ex[7].start_pos == 0);
        /* the collated batch carries the positions */
        size_t idx[2] = {3, 5};
        ft_batch b;
        FT_CHECK_OK(ft_batch_collate(&ds, idx, 2, 12, 0, &b));
        FT_CHECK(b.start_positions && b.start_positions[0] == 10 && b.end_positions[1] == 10);
        ft_batch_free(&b);
    }
    FT_CHECK(f.n_cut == 0);
    ft_dataset_free(&ds);
    ft_qa_feats_free(&f);
    /* no room: a question of 5 tokens + 3 specials at max_length 8; a stride not below the room */
    FT_CHECK_FAILS(ft_qa_features(tok, &s, 8, 2, &ds, &f), FT_ERR_CONFIG,
                   "w.jsonl:1 (id w): the question takes 8");
    FT_CHECK_FAILS(ft_qa_features(tok, &s, 12, 4, &ds, &f), FT_ERR_CONFIG, "doc_stride");
    /* one window holds everything: no stride needed, the answer found */
    FT_CHECK_OK(ft_qa_features(tok, &s, 64, 128, &ds, &f));
    FT_CHECK(f.n == 2 && ds.ex[0].start_pos == 7 + 9 && ds.ex[1].start_pos == 7 + 2 &&
             ds.ex[1].end_pos == 7 + 3);
    ft_dataset_free(&ds);
    ft_qa_feats_free(&f);
    ft_qa_set_free(&s);
    ft_tok_free(tok);
}

/* Post-processing by hand on the windows of the first example above and scoring. */
FT_TEST(postprocess_and_score) {
    ft_tokenizer *tok = tiny_tok();
    if (!tok)
        return;
    ft_qa_set s = {0};
    FT_CHECK_OK(ft_qa_read(write_tmp("p.jsonl",
                                     "{\"id\": \"a\", \"question\": \"where was ada born?\", \"context\": "
                                     "\"ada lived in rome. bo was born in paris.\", \"answers\": {\"text\": "
                                     "[\"paris\"], \"answer_start\": [34]}}\n"
                                     "{\"id\": \"b\", \"question\": \"where was bo born?\", \"context\": "
                                     "\"ada was born in paris.\", \"answers\": {\"text\": [], "
                                     "\"answer_start\": []}}\n"),
                           &s, NULL));
    ft_dataset ds;
    ft_qa_feats f;
    FT_CHECK_OK(ft_qa_features(tok, &s, 12, 2, &ds, &f));
    FT_CHECK(f.n == 7); /* a: 5 windows; b ("ada was born in paris ."): context tokens 0..3 and 2..5 */
    if (f.n != 7) {
        ft_dataset_free(&ds);
        ft_qa_feats_free(&f);
        ft_qa_set_free(&s);
        ft_tok_free(tok);
        return;
    }
    float lg[7][24];
    const float *pl[7];
    for (int w = 0; w < 7; w++) {
        for (int t = 0; t < 24; t++)
            lg[w][t] = -1.0f;
        pl[w] = lg[w];
    }
    /* example a: window 3 (context tokens 6..9: "was born in paris") says "born in paris" (3 tokens) with
     * 2 + 2; window 4 says "paris" with 1.5 + 1.5; the question token 'ada' (3) has a higher start logit but
     * is not context */
    lg[3][2 * 8] = 2.0f, lg[3][2 * 10 + 1] = 2.0f;
    lg[4][2 * 8] = 1.5f, lg[4][2 * 8 + 1] = 1.5f;
    lg[3][2 * 3] = 9.0f;
    /* example b: the null score 3 + 3 (the smaller of its windows' 3 + 3 and 4 + 3) beats "paris" 1 + 1.5 */
    lg[5][0] = 3.0f, lg[5][1] = 3.0f;
    lg[6][0] = 4.0f, lg[6][1] = 3.0f;
    lg[6][2 * 9] = 1.0f, lg[6][2 * 9 + 1] = 1.5f;
    ft_qa_post_cfg c;
    ft_qa_post_cfg_default(&c);
    ft_qa_answer a[2];
    FT_CHECK_OK(ft_qa_postprocess(&f, pl, &c, a));
    FT_CHECK(!strcmp(a[0].text, "born in paris") && a[0].start_logit == 2.0 && !strcmp(a[1].text, "paris"));
    ft_qa_score sc;
    FT_CHECK_OK(ft_qa_score_answers(&s, a, &sc));
    FT_CHECK_NEAR(sc.exact_match, 0.0, 1e-9);
    FT_CHECK_NEAR(sc.has_ans_f1, 100.0 * 2 * (1.0 / 3) / (1 + 1.0 / 3),
                  1e-9); /* P 1/3 R 1 ("born in paris") */
    ft_qa_answers_free(a, 2);
    /* max_answer_length 2 leaves window 4's "paris" for a; SQuAD 2.0 gives b no answer */
    c.max_answer_length = 2;
    c.version_2_with_negative = true;
    FT_CHECK_OK(ft_qa_postprocess(&f, pl, &c, a));
    FT_CHECK(!strcmp(a[0].text, "paris") && !strcmp(a[1].text, ""));
    FT_CHECK_NEAR(a[1].null_score, 6.0, 1e-6);
    FT_CHECK_OK(ft_qa_score_answers(&s, a, &sc));
    FT_CHECK(sc.n_has_ans == 1 && sc.n_no_ans == 1);
    FT_CHECK_NEAR(sc.exact_match, 100.0, 1e-9);
    FT_CHECK_NEAR(sc.no_ans_em, 100.0, 1e-9);
    ft_qa_answers_free(a, 2);
    /* a threshold above the gap (6 − 2.5 = 3.5) keeps the span */
    c.null_score_diff_threshold = 4.0;
    FT_CHECK_OK(ft_qa_postprocess(&f, pl, &c, a));
    FT_CHECK(!strcmp(a[1].text, "paris"));
    FT_CHECK_OK(ft_qa_score_answers(&s, a, &sc));
    FT_CHECK_NEAR(sc.no_ans_em, 0.0, 1e-9);
    FT_CHECK_NEAR(sc.exact_match, 50.0, 1e-9);
    ft_qa_answers_free(a, 2);
    ft_dataset_free(&ds);
    ft_qa_feats_free(&f);
    ft_qa_set_free(&s);
    ft_tok_free(tok);
}

/* The QA head under HF names: added to a bare encoder, saved (architectures) and loaded back as a QA model;
 * a classification task on it, or a second head, is refused; a decoder gets none. */
FT_TEST(qa_head_save_load) {
    ft_model_config cfg;
    ft_model *m = NULL, *m2 = NULL;
    FT_CHECK_OK(ft_config_from_partial("{\"vocab_size\": 16, \"hidden_size\": 8, \"num_hidden_layers\": 1, "
                                       "\"num_attention_heads\": 2, \"intermediate_size\": 16, "
                                       "\"max_position_embeddings\": 16}",
                                       "cfg", "bert", &cfg));
    FT_CHECK_OK(ft_model_init_random(&cfg, 3, &m));
    if (!m)
        return;
    FT_CHECK_OK(ft_model_set_task(m, FT_TASK_QA, 2, NULL, 1));
    FT_CHECK(m->task == FT_TASK_QA && m->score >= 0 &&
             !strcmp(m->params[m->score].name, "qa_outputs.weight") && m->params[m->score].shape[0] == 2 &&
             !strcmp(m->params[m->score_b].name, "qa_outputs.bias"));
    FT_CHECK(ft_model_is_head(m, m->score) && m->params[m->score].trainable);
    FT_CHECK_FAILS(ft_model_set_task(m, FT_TASK_SEQ_CLS, 2, NULL, 1), FT_ERR_CONFIG,
                   "question-answering head");
    char dir[300];
    snprintf(dir, sizeof dir, "%s/qa-model", tmpdir);
    FT_CHECK_OK(ft_model_save(m, dir, FT_DT_F32));
    char *cj = NULL;
    char cpath[400];
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    FT_CHECK_OK(ft_read_file(cpath, &cj, NULL));
    FT_CHECK(cj && strstr(cj, "BertForQuestionAnswering") && !strstr(cj, "id2label"));
    free(cj);
    FT_CHECK_OK(ft_model_load(dir, &m2));
    if (m2) {
        FT_CHECK(m2->task == FT_TASK_QA && m2->score >= 0 &&
                 m2->params[m2->score].data[3] == m->params[m->score].data[3]);
        ft_model_free(m2);
    }
    ft_model_free(m);
    FT_CHECK_OK(ft_config_from_partial("{\"vocab_size\": 16, \"n_embd\": 8, \"n_layer\": 1, \"n_head\": 2, "
                                       "\"n_positions\": 16}",
                                       "cfg", "gpt2", &cfg));
    FT_CHECK_OK(ft_model_init_random(&cfg, 3, &m));
    if (m)
        FT_CHECK_FAILS(ft_model_set_task(m, FT_TASK_QA, 2, NULL, 1), FT_ERR_UNSUPPORTED, "needs an encoder");
    ft_model_free(m);
}

/* ---- the driver for tests/qa_post.sh ---- */

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsTrue(v) ? 1.0 : cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

/* One case: an example (context) and its windows (offset_mapping with nulls, start/end logits). */
static ft_status run_case(const cJSON *cs, cJSON *out) {
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(cs, "context");
    const cJSON *wins = cJSON_GetObjectItemCaseSensitive(cs, "windows");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(cs, "settings");
    char *line = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&line, &n);
    cJSON *row = cJSON_CreateObject();
    cJSON_AddStringToObject(row, "id", "c");
    cJSON_AddStringToObject(row, "question", "q");
    cJSON_AddStringToObject(row, "context", ctx->valuestring);
    cJSON *ans = cJSON_AddObjectToObject(row, "answers");
    cJSON_AddArrayToObject(ans, "text");
    cJSON_AddArrayToObject(ans, "answer_start");
    char *txt = cJSON_PrintUnformatted(row);
    fprintf(m, "%s\n", txt);
    fclose(m);
    cJSON_free(txt);
    cJSON_Delete(row);
    ft_qa_set set = {0};
    ft_status s = ft_qa_read(write_tmp("case.jsonl", line), &set, NULL);
    free(line);
    if (s != FT_OK)
        return s;
    const int nw = cJSON_GetArraySize(wins);
    ft_qa_feats f = {.set = &set, .n = (size_t)nw};
    f.w = calloc((size_t)nw, sizeof *f.w);
    float **lg = calloc((size_t)nw, sizeof *lg);
    for (int w = 0; w < nw; w++) {
        const cJSON *win = cJSON_GetArrayItem(wins, w);
        const cJSON *om = cJSON_GetObjectItemCaseSensitive(win, "offset_mapping");
        const cJSON *sl = cJSON_GetObjectItemCaseSensitive(win, "start_logits");
        const cJSON *el = cJSON_GetObjectItemCaseSensitive(win, "end_logits");
        const int len = cJSON_GetArraySize(om);
        f.w[w].len = len;
        f.w[w].off_start = malloc((size_t)len * sizeof(int64_t));
        f.w[w].off_end = malloc((size_t)len * sizeof(int64_t));
        lg[w] = malloc((size_t)len * 2 * sizeof(float));
        for (int t = 0; t < len; t++) {
            const cJSON *o = cJSON_GetArrayItem(om, t);
            f.w[w].off_start[t] = cJSON_IsArray(o) ? (int64_t)cJSON_GetArrayItem(o, 0)->valuedouble : -1;
            f.w[w].off_end[t] = cJSON_IsArray(o) ? (int64_t)cJSON_GetArrayItem(o, 1)->valuedouble : -1;
            lg[w][2 * t] = (float)cJSON_GetArrayItem(sl, t)->valuedouble;
            lg[w][2 * t + 1] = (float)cJSON_GetArrayItem(el, t)->valuedouble;
        }
    }
    ft_qa_post_cfg c = {(int)num(st, "n_best"), (int)num(st, "max_answer_length"),
                        num(st, "version_2_with_negative") != 0.0, num(st, "null_score_diff_threshold")};
    ft_qa_answer a;
    s = ft_qa_postprocess(&f, (const float *const *)lg, &c, &a);
    if (s == FT_OK) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", a.text);
        cJSON_AddNumberToObject(o, "prob", a.prob);
        cJSON_AddNumberToObject(o, "null_score", a.null_score);
        cJSON_AddNumberToObject(o, "start_logit", a.start_logit);
        cJSON_AddNumberToObject(o, "end_logit", a.end_logit);
        cJSON_AddItemToArray(out, o);
        ft_qa_answers_free(&a, 1);
    }
    for (int w = 0; w < nw; w++)
        free(lg[w]);
    free(lg);
    ft_qa_feats_free(&f);
    ft_qa_set_free(&set);
    return s;
}

static int post_cases(const char *in, const char *outp) {
    char *txt;
    if (ft_read_file(in, &txt, NULL) != FT_OK) {
        fprintf(stderr, "%s\n", ft_last_error());
        return 1;
    }
    cJSON *cases = cJSON_Parse(txt), *out = cJSON_CreateArray(), *cs;
    free(txt);
    ft_status s = FT_OK;
    cJSON_ArrayForEach(cs, cases) if (s == FT_OK) s = run_case(cs, out);
    char *o = cJSON_PrintUnformatted(out);
    FILE *f = fopen(outp, "w");
    if (f) {
        fputs(o, f);
        fclose(f);
    }
    cJSON_free(o);
    cJSON_Delete(out);
    cJSON_Delete(cases);
    if (s != FT_OK || !f)
        fprintf(stderr, "test_qa: %s\n", s != FT_OK ? ft_last_error() : outp);
    return s == FT_OK && f ? 0 : 1;
}

int main(int argc, char **argv) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ft_test_qa.%d", (int)getpid());
    if (ft_mkdir_p(tmpdir) != FT_OK)
        return 1;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (argc == 4 && !strcmp(argv[1], "--post-cases")) {
        const int rc = post_cases(argv[2], argv[3]);
        if (system(cmd) != 0)
            return 1;
        return rc;
    }
    FT_RUN(read_squad_json_and_jsonl);
    FT_RUN(windows_offsets_positions);
    FT_RUN(postprocess_and_score);
    FT_RUN(qa_head_save_load);
    if (system(cmd) != 0)
        return 1;
    FT_DONE();
}
