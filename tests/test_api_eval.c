/* The public API's prediction and evaluation calls (FTUNE_HAS_TAGGING, FTUNE_HAS_SEQ2SEQ_PREDICT,
 * FTUNE_HAS_EVALUATE_REPORT), as a client sees them (only ftune.h is included): a token classifier, a T5
 * seq2seq model and a question-answering model trained by `ftune train`, each used through the calls and
 * compared with what `ftune predict` / `ftune eval` print for the same input; options that leave the model as
 * it was; refusals naming what is wrong. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ftune.h"
#include "ft_test.h"

static char W[256]; /* the work directory */

static int sh(const char *cmd) {
    char b[4096];
    snprintf(b, sizeof b, "cd %s && %s", W, cmd);
    return system(b);
}

/* A command's whole stdout (malloc'd; "" when it printed nothing), run in W. */
static char *out_of(const char *cmd) {
    char b[4096];
    snprintf(b, sizeof b, "cd %s && %s", W, cmd);
    FILE *p = popen(b, "r");
    size_t n = 0, cap = 4096;
    char *s = malloc(cap);
    if (!p || !s) {
        free(s);
        if (p)
            pclose(p);
        return NULL;
    }
    size_t got;
    while ((got = fread(s + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (cap - n < 2) {
            char *t = realloc(s, cap *= 2);
            if (!t)
                break;
            s = t;
        }
    }
    s[n] = '\0';
    pclose(p);
    return s;
}

static double metric(const ftune_metric *m, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].name, name))
            return m[i].value;
    return NAN;
}

static const char *path_in(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", W, name);
    return buf;
}

/* ---- token classification ---- */

typedef struct {
    ftune_model *m;
    size_t calls, stop_after, words, cut;
    char first_where[512];
    char *text; /* what `ftune predict --jsonl` prints, rebuilt */
    size_t len, cap;
} tag_seen;

static void append(tag_seen *s, const char *a, const char *b) {
    const size_t need = strlen(a) + strlen(b) + 2;
    if (s->len + need + 1 > s->cap) {
        s->cap = (s->len + need + 1) * 2;
        s->text = realloc(s->text, s->cap);
    }
    if (s->text)
        s->len += (size_t)sprintf(s->text + s->len, "%s%s", a, b);
}

static int on_tags(void *user, const char *where, const char *const *words, size_t n, const int32_t *tags) {
    tag_seen *s = user;
    if (s->calls++ == 0)
        snprintf(s->first_where, sizeof s->first_where, "%s", where);
    for (size_t w = 0; w < n; w++) {
        append(s, words[w], "\t");
        append(s, tags[w] >= 0 ? ftune_model_label(s->m, tags[w]) : "?", "\n");
        s->cut += tags[w] < 0;
    }
    append(s, "", "\n");
    s->words += n;
    return s->stop_after && s->calls >= s->stop_after;
}

FT_TEST(tagging) {
    const char *ftb = getenv("FT_BIN");
    if (!ftb) {
        fprintf(stderr, "  (FT_BIN not set: skipped)\n");
        return;
    }
    snprintf(W, sizeof W, "/tmp/ft_test_api_eval_tag.%d", (int)getpid());
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", W);
    FT_CHECK(system(cmd) == 0);
    /* people (B-PER I-PER), places (B-LOC), other words (O); "johnson" splits into two pieces */
    FT_CHECK(sh("printf '[PAD]\\n[UNK]\\n[CLS]\\n[SEP]\\n[MASK]\\n' > vocab.txt && for w in alice bob carol "
                "paris london rome the met in visited smith jones john; do echo $w; done >> vocab.txt && "
                "echo '##son' >> vocab.txt") == 0);
    FT_CHECK(
        sh("awk 'BEGIN { srand(4); split(\"alice bob carol\",P,\" \"); split(\"smith jones johnson\",S,\" "
           "\"); "
           "split(\"paris london rome\",L,\" \"); split(\"the met in visited\",O,\" \"); "
           "for (i=0;i<200;i++) { k=0; s=\"\"; u=\"\"; len=4+int(rand()*5); while (k<len) { r=rand(); "
           "if (r<0.25) { w=P[1+int(rand()*3)]; t=\"B-PER\" } else if (r<0.4) { w=L[1+int(rand()*3)]; "
           "t=\"B-LOC\" } else if (r<0.55 && k>0) { w=S[1+int(rand()*3)]; t=\"I-PER\" } else { "
           "w=O[1+int(rand()*4)]; t=\"O\" } s=s (k?\", \":\"\") \"\\\"\" w \"\\\"\"; u=u (k?\", \":\"\") "
           "\"\\\"\" t \"\\\"\"; k++ } print \"{\\\"tokens\\\": [\" s \"], \\\"tags\\\": [\" u \"]}\" } }' "
           "> all.jsonl && head -160 all.jsonl > train.jsonl && tail -40 all.jsonl > test.jsonl") == 0);
    FT_CHECK(
        sh("V=$(wc -l < vocab.txt) && echo \"{\\\"vocab_size\\\": $V, \\\"hidden_size\\\": 32, "
           "\\\"num_hidden_layers\\\": 1, \\\"num_attention_heads\\\": 4, \\\"intermediate_size\\\": 64, "
           "\\\"max_position_embeddings\\\": 40}\" > bert.json") == 0);
    snprintf(
        cmd, sizeof cmd,
        "%s init --arch bert --config bert.json --out base --seed 3 > /dev/null && cp vocab.txt base/ && "
        "printf 'model: base\\ntask: token_classification\\noutput_dir: out\\ndata: {train: train.jsonl}\\n"
        "train: {max_steps: 30, batch_size: 8, seq_len: 12}\\noptim: {lr: 3e-3}\\nreport: {progress: "
        "quiet, tensorboard: false, html: false}\\n' > r.yaml && %s train r.yaml > train.log 2>&1",
        ftb, ftb);
    FT_CHECK(sh(cmd) == 0);
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    ftune_model *m = NULL;
    char p[400], p2[400];
    FT_CHECKF(ftune_model_load(c, path_in(p, sizeof p, "out"), NULL, &m) == FT_OK, "%s", ftune_last_error(c));
    if (!m) {
        ftune_ctx_free(c);
        return;
    }
    FT_CHECK(ftune_model_seq_len(m) == 12 && ftune_model_seq_len(NULL) == 0);

    /* one sentence: the tags ftune predict prints */
    const char *words[] = {"alice", "johnson", "visited", "paris"};
    int32_t tags[16];
    FT_CHECKF(ftune_tag_words(m, words, 4, tags) == FT_OK, "%s", ftune_last_error(c));
    char want[512] = "";
    for (int w = 0; w < 4; w++) {
        FT_CHECK(tags[w] >= 0 && ftune_model_label(m, tags[w]));
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s\t%s\n", words[w],
                 tags[w] >= 0 ? ftune_model_label(m, tags[w]) : "?");
    }
    strcat(want, "\n");
    snprintf(cmd, sizeof cmd, "%s predict --model out --text 'alice johnson visited paris'", ftb);
    char *got = out_of(cmd);
    FT_CHECKF(got && !strcmp(got, want), "predict printed:\n%s\nthe API:\n%s", got ? got : "(null)", want);
    free(got);
    /* more pieces than seq_len 12 holds: the last words get -1 */
    const char *many[12] = {"alice", "johnson", "visited", "paris", "the",   "met",
                            "bob",   "johnson", "in",      "rome",  "carol", "johnson"};
    FT_CHECK(ftune_tag_words(m, many, 12, tags) == FT_OK && tags[0] >= 0 && tags[11] == -1);
    FT_CHECK(ftune_tag_words(m, NULL, 0, NULL) == FT_OK); /* no words: nothing to do */

    /* a file: every sentence, as ftune predict --jsonl prints it, with where = FILE:LINE */
    tag_seen s = {.m = m};
    FT_CHECKF(ftune_tag_file(m, path_in(p, sizeof p, "test.jsonl"), on_tags, &s) == FT_OK, "%s",
              ftune_last_error(c));
    snprintf(want, sizeof want, "%s:1", p);
    FT_CHECKF(s.calls == 40 && !strcmp(s.first_where, want), "%zu calls, first %s", s.calls, s.first_where);
    snprintf(cmd, sizeof cmd, "%s predict --model out --jsonl test.jsonl 2> /dev/null", ftb);
    got = out_of(cmd);
    FT_CHECK(got && s.text && !strcmp(got, s.text));
    free(got);
    free(s.text);
    tag_seen s2 = {.m = m, .stop_after = 3};
    FT_CHECK(ftune_tag_file(m, p, on_tags, &s2) == FT_OK && s2.calls == 3); /* fn stops it */
    free(s2.text);
    FT_CHECK(sh("head -2 test.jsonl > bad.jsonl && echo '{\"tokens\": [\"alice\", ' >> bad.jsonl") == 0);
    tag_seen s3 = {.m = m};
    FT_CHECK(ftune_tag_file(m, path_in(p2, sizeof p2, "bad.jsonl"), on_tags, &s3) != FT_OK &&
             strstr(ftune_last_error(c), "bad.jsonl:3"));
    free(s3.text);
    /* refusals */
    const char *empty[] = {"alice", ""};
    FT_CHECK(ftune_tag_words(m, empty, 2, tags) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "word 1 is empty"));
    FT_CHECK(ftune_tag_words(m, NULL, 2, tags) == FT_ERR_ARG);
    FT_CHECK(ftune_tag_file(m, p, NULL, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_tag_words(NULL, words, 4, tags) == FT_ERR_ARG);
    char *txt = NULL;
    FT_CHECK(ftune_generate_seq2seq(m, "x", &txt) == FT_ERR_ARG && !txt &&
             strstr(ftune_last_error(c), "not seq2seq"));

    /* evaluation: ftune_model_evaluate has the tagging metrics; the report is what ftune eval prints */
    ftune_metric *ms = NULL;
    size_t nm = 0, nx = 0;
    FT_CHECKF(ftune_model_evaluate(m, p, 0, &ms, &nm, &nx) == FT_OK, "%s", ftune_last_error(c));
    const double acc = metric(ms, nm, "accuracy"), loss = metric(ms, nm, "loss");
    FT_CHECK(nx == 40 && acc > 0 && acc <= 1 && !isnan(metric(ms, nm, "f1")) &&
             !isnan(metric(ms, nm, "precision")) && !isnan(metric(ms, nm, "loss")));
    ftune_free(ms);
    ftune_eval_opts o;
    ftune_eval_opts_init(&o);
    FT_CHECK(o.struct_size == sizeof o && o.pack == -1 && o.generate == 1 && o.batch_size == 0);
    ftune_eval_report r;
    ftune_eval_report_init(&r);
    FT_CHECKF(ftune_model_evaluate_with(m, p, &o, &ms, &nm, &r) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECK(!strcmp(r.task, "token_classification") && r.n_examples == 40 && r.unknown_tags == 0 &&
             r.seconds >= 0 && r.notes && !r.notes[0] && metric(ms, nm, "accuracy") == acc);
    ftune_free(ms);
    snprintf(cmd, sizeof cmd, "%s eval --model out --data test.jsonl --batch-size 16 --json", ftb);
    got = out_of(cmd);
    FT_CHECKF(got && r.json && !strncmp(got, r.json, strlen(r.json)) && got[strlen(r.json)] == '\n',
              "eval --json: %s\nthe API: %s", got ? got : "", r.json ? r.json : "");
    free(got);
    snprintf(cmd, sizeof cmd, "%s eval --model out --data test.jsonl --batch-size 16 | tail -n +2", ftb);
    got = out_of(cmd);
    FT_CHECKF(got && r.table && !strcmp(got, r.table), "eval: %s\nthe API: %s", got ? got : "",
              r.table ? r.table : "");
    FT_CHECK(r.table && strstr(r.table, "entities     precision"));
    free(got);
    ftune_eval_report_free(&r);
    FT_CHECK(!r.json && !r.table && !r.notes);
    /* options for this call only: a shorter seq_len cuts words, then the model is as it was */
    o.seq_len = 4;
    o.batch_size = 3;
    FT_CHECK(ftune_model_evaluate_with(m, p, &o, &ms, &nm, NULL) == FT_OK && metric(ms, nm, "loss") != loss);
    ftune_free(ms);
    FT_CHECK(ftune_model_seq_len(m) == 12);
    FT_CHECK(ftune_model_evaluate(m, p, 0, &ms, &nm, &nx) == FT_OK && metric(ms, nm, "accuracy") == acc &&
             metric(ms, nm, "loss") == loss);
    ftune_free(ms);
    /* a tag the model does not know: counted, not scored */
    FT_CHECK(sh("sed 's/B-LOC/B-ORG/g' test.jsonl > org.jsonl") == 0);
    ftune_eval_report_init(&r);
    FT_CHECK(ftune_model_evaluate_with(m, path_in(p2, sizeof p2, "org.jsonl"), NULL, NULL, NULL, &r) ==
                 FT_OK &&
             r.unknown_tags > 0 && r.json && strstr(r.json, "\"unknown_tags\":"));
    ftune_eval_report_free(&r);
    /* refusals */
    o.seq_len = 0;
    o.predictions = "preds.jsonl";
    FT_CHECK(ftune_model_evaluate_with(m, p, &o, NULL, NULL, NULL) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "seq2seq"));
    o.predictions = NULL;
    o.seq_len = 1;
    FT_CHECK(ftune_model_evaluate_with(m, p, &o, NULL, NULL, NULL) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "seq_len 1"));
    o.seq_len = 0;
    o.struct_size = 3;
    FT_CHECK(ftune_model_evaluate_with(m, p, &o, NULL, NULL, NULL) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "struct_size"));
    ftune_eval_report_init(&r);
    r.struct_size = 8;
    FT_CHECK(ftune_model_evaluate_with(m, p, NULL, NULL, NULL, &r) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "ftune_eval_report.struct_size"));
    FT_CHECK(ftune_model_evaluate_with(m, NULL, NULL, NULL, NULL, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_model_evaluate_with(m, "/nonexistent.jsonl", NULL, NULL, NULL, NULL) != FT_OK &&
             strstr(ftune_last_error(c), "/nonexistent.jsonl"));
    FT_CHECK(ftune_model_evaluate_with(NULL, p, NULL, NULL, NULL, NULL) == FT_ERR_ARG);
    ftune_model_free(m);
    ftune_ctx_free(c);
    snprintf(cmd, sizeof cmd, "rm -rf %s", W);
    FT_CHECK(getenv("FT_KEEP") || system(cmd) == 0);
}

/* ---- seq2seq ---- */

typedef struct {
    size_t calls, stop_after;
    char *text;
    size_t len;
} s2s_seen;

static int on_output(void *user, const char *source, const char *output) {
    s2s_seen *s = user;
    const size_t need = strlen(output) + 2;
    char *t = realloc(s->text, s->len + need);
    if (t) {
        s->text = t;
        s->len += (size_t)sprintf(t + s->len, "%s\n", output);
    }
    (void)source;
    s->calls++;
    return s->stop_after && s->calls >= s->stop_after;
}

FT_TEST(seq2seq) {
    const char *ftb = getenv("FT_BIN");
    if (!ftb) {
        fprintf(stderr, "  (FT_BIN not set: skipped)\n");
        return;
    }
    snprintf(W, sizeof W, "/tmp/ft_test_api_eval_s2s.%d", (int)getpid());
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/tok", W);
    FT_CHECK(system(cmd) == 0);
    char p[400], p2[400];
    FILE *f = fopen(path_in(p, sizeof p, "tok/tokenizer.json"), "w");
    FT_CHECK(f && fputs(FT_TEST_T5_CHAR_TOKENIZER, f) >= 0 && fclose(f) == 0);
    FT_CHECK(sh("echo '{\"eos_token\": \"</s>\", \"pad_token\": \"<pad>\"}' > tok/tokenizer_config.json && "
                "for i in $(seq 30); do echo '{\"source\": \"ab cd\", \"target\": \"dc ba\"}'; "
                "echo '{\"source\": \"bad\", \"target\": \"dab\"}'; echo '{\"source\": \"e ca\", \"target\": "
                "\"ac e\"}'; done > s2s.jsonl && head -6 s2s.jsonl > test.jsonl && head -2 s2s.jsonl > "
                "nosrc.jsonl && echo '{\"target\": \"x\"}' >> nosrc.jsonl") == 0);
    FT_CHECK(
        sh("echo '{\"vocab_size\": 16, \"d_model\": 32, \"d_kv\": 8, \"d_ff\": 48, \"num_layers\": 1, "
           "\"num_heads\": 4, \"relative_attention_num_buckets\": 8, \"relative_attention_max_distance\": "
           "16, \"dropout_rate\": 0}' > t5.json") == 0);
    snprintf(
        cmd, sizeof cmd,
        "%s init --arch t5 --config t5.json --out base --seed 2 > /dev/null && printf 'model: base\\n"
        "tokenizer: tok\\ntask: seq2seq\\noutput_dir: out\\ndata: {train: s2s.jsonl, max_source_length: 12, "
        "max_target_length: 12}\\ntrain: {max_steps: 40, batch_size: 8}\\noptim: {lr: 1e-2}\\neval: "
        "{every: 0, generate_limit: 2}\\nreport: {progress: quiet, tensorboard: false, html: false}\\n' > "
        "r.yaml && %s train r.yaml > train.log 2>&1",
        ftb, ftb);
    FT_CHECK(sh(cmd) == 0);
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    ftune_model *m = NULL;
    FT_CHECKF(ftune_model_load(c, path_in(p, sizeof p, "out"), NULL, &m) == FT_OK, "%s", ftune_last_error(c));
    if (!m) {
        ftune_ctx_free(c);
        return;
    }
    char *txt = NULL;
    FT_CHECKF(ftune_generate_seq2seq(m, "ab cd", &txt) == FT_OK && txt, "%s", ftune_last_error(c));
    snprintf(cmd, sizeof cmd, "%s predict --model out --text 'ab cd'", ftb);
    char *got = out_of(cmd), want[600];
    snprintf(want, sizeof want, "%s\n", txt ? txt : "");
    FT_CHECKF(got && !strcmp(got, want), "predict: %s the API: %s", got ? got : "", want);
    free(got);
    /* a file: each row's output, as ftune predict --jsonl prints them */
    s2s_seen s = {0};
    FT_CHECKF(ftune_generate_seq2seq_file(m, path_in(p, sizeof p, "test.jsonl"), on_output, &s) == FT_OK,
              "%s", ftune_last_error(c));
    snprintf(cmd, sizeof cmd, "%s predict --model out --jsonl test.jsonl", ftb);
    got = out_of(cmd);
    FT_CHECK(s.calls == 6 && got && s.text && !strcmp(got, s.text));
    free(got);
    free(s.text);
    s2s_seen s1 = {.stop_after = 2};
    FT_CHECK(ftune_generate_seq2seq_file(m, p, on_output, &s1) == FT_OK && s1.calls == 2);
    free(s1.text);
    s2s_seen s3 = {0};
    FT_CHECK(ftune_generate_seq2seq_file(m, path_in(p2, sizeof p2, "nosrc.jsonl"), on_output, &s3) ==
                 FT_ERR_FORMAT &&
             s3.calls == 2 && strstr(ftune_last_error(c), "nosrc.jsonl:3: missing field 'source'"));
    free(s3.text);
    char *none = (char *)W;
    FT_CHECK(ftune_generate_seq2seq(m, NULL, &none) == FT_ERR_ARG && !none);
    FT_CHECK(ftune_generate_seq2seq_file(m, p, NULL, NULL) == FT_ERR_ARG);
    int32_t tags[2];
    const char *w1[] = {"ab"};
    FT_CHECK(ftune_tag_words(m, w1, 1, tags) == FT_ERR_ARG && strstr(ftune_last_error(c), "not token_class"));

    /* evaluation: generated-text scores, the predictions file, the loss alone, the same model after */
    ftune_eval_opts o;
    ftune_eval_opts_init(&o);
    o.predictions = path_in(p2, sizeof p2, "preds.jsonl");
    ftune_metric *ms = NULL;
    size_t nm = 0;
    ftune_eval_report r;
    ftune_eval_report_init(&r);
    FT_CHECKF(ftune_model_evaluate_with(m, p, &o, &ms, &nm, &r) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECK(r.n_examples == 6 && !isnan(metric(ms, nm, "bleu")) && r.json &&
             strstr(r.json, "\"n_generated\":6"));
    snprintf(cmd, sizeof cmd, "%s eval --model out --data test.jsonl --batch-size 16 --json", ftb);
    got = out_of(cmd);
    FT_CHECKF(got && r.json && !strncmp(got, r.json, strlen(r.json)), "eval: %s the API: %s", got ? got : "",
              r.json ? r.json : "");
    free(got);
    ftune_free(ms);
    ftune_eval_report_free(&r);
    got = out_of("wc -l < preds.jsonl && head -1 preds.jsonl");
    FT_CHECK(got && !strncmp(got, "6\n{\"prediction\":", 16));
    free(got);
    o.predictions = NULL;
    o.generate = 0;
    o.max_new_tokens = 1;
    FT_CHECK(ftune_model_evaluate_with(m, p, &o, &ms, &nm, NULL) == FT_OK && isnan(metric(ms, nm, "bleu")) &&
             !isnan(metric(ms, nm, "loss")));
    ftune_free(ms);
    char *txt2 = NULL;
    FT_CHECKF(ftune_generate_seq2seq(m, "ab cd", &txt2) == FT_OK && txt && txt2 && !strcmp(txt, txt2),
              "'%s' then '%s'", txt ? txt : "", txt2 ? txt2 : "");
    ftune_free(txt2);
    ftune_free(txt);
    o.generate = 1;
    o.predictions = "/nonexistent/dir/p.jsonl";
    FT_CHECK(ftune_model_evaluate_with(m, p, &o, NULL, NULL, NULL) == FT_ERR_IO &&
             strstr(ftune_last_error(c), "/nonexistent/dir/p.jsonl: cannot write"));
    ftune_model_free(m);
    ftune_ctx_free(c);
    snprintf(cmd, sizeof cmd, "rm -rf %s", W);
    FT_CHECK(getenv("FT_KEEP") || system(cmd) == 0);
}

/* ---- question answering ---- */

FT_TEST(question_answering) {
    const char *ftb = getenv("FT_BIN"), *src = getenv("FT_SRC");
    if (!ftb || !src) {
        fprintf(stderr, "  (FT_BIN / FT_SRC not set: skipped)\n");
        return;
    }
    snprintf(W, sizeof W, "/tmp/ft_test_api_eval_qa.%d", (int)getpid());
    char cmd[2000];
    snprintf(
        cmd, sizeof cmd,
        "mkdir -p %s && cd %s && /usr/bin/python3 %s/scripts/gen_qa_data.py d --train 200 --validation 10 "
        "--test 20 --people-min 1 --people-max 1 > /dev/null && V=$(wc -l < d/vocab.txt) && echo "
        "\"{\\\"vocab_size\\\": $V, \\\"hidden_size\\\": 32, \\\"num_hidden_layers\\\": 1, "
        "\\\"num_attention_heads\\\": 4, \\\"intermediate_size\\\": 64, \\\"max_position_embeddings\\\": 64, "
        "\\\"type_vocab_size\\\": 2}\" > bert.json && %s init --arch bert --config bert.json --out base "
        "--seed 3 > /dev/null && cp d/vocab.txt base/ && printf 'model: base\\ntask: question_answering\\n"
        "output_dir: out\\ndata: {train: d/train.json, doc_stride: 16}\\ntrain: {max_steps: 10, batch_size: "
        "16, "
        "seq_len: 40}\\neval: {every: 0}\\nreport: {progress: quiet, tensorboard: false, html: false}\\n' > "
        "r.yaml && %s train r.yaml > train.log 2>&1",
        W, W, src, ftb, ftb);
    FT_CHECK(system(cmd) == 0);
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    ftune_model *m = NULL;
    char p[400];
    FT_CHECKF(ftune_model_load(c, path_in(p, sizeof p, "out"), NULL, &m) == FT_OK, "%s", ftune_last_error(c));
    if (!m) {
        ftune_ctx_free(c);
        return;
    }
    ftune_metric *ms = NULL;
    size_t nm = 0, nx = 0;
    FT_CHECKF(ftune_model_evaluate(m, path_in(p, sizeof p, "d/test.json"), 0, &ms, &nm, &nx) == FT_OK, "%s",
              ftune_last_error(c));
    const double em = metric(ms, nm, "exact_match");
    FT_CHECK(nx == 20 && em >= 0 && em <= 100 && !isnan(metric(ms, nm, "f1")));
    ftune_free(ms);
    ftune_eval_report r;
    ftune_eval_report_init(&r);
    FT_CHECKF(ftune_model_evaluate_with(m, p, NULL, &ms, &nm, &r) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECK(!strcmp(r.task, "question_answering") && r.n_examples == 20 && r.n_windows >= 20 && r.notes &&
             !r.notes[0] && metric(ms, nm, "exact_match") == em);
    ftune_free(ms);
    snprintf(cmd, sizeof cmd, "%s eval --model out --data d/test.json --batch-size 16 --json", ftb);
    char *got = out_of(cmd);
    FT_CHECKF(got && r.json && !strncmp(got, r.json, strlen(r.json)) && strstr(r.json, "\"n_windows\":"),
              "eval: %s the API: %s", got ? got : "", r.json ? r.json : "");
    free(got);
    snprintf(cmd, sizeof cmd, "%s eval --model out --data d/test.json --batch-size 16 | tail -n +2", ftb);
    got = out_of(cmd);
    FT_CHECK(got && r.table && !strcmp(got, r.table) && !strncmp(r.table, "loss ", 5));
    free(got);
    ftune_eval_report_free(&r);
    /* an answer not where answer_start says: noted, skipped */
    FT_CHECK(sh("/usr/bin/python3 -c \"import json; d = json.load(open('d/test.json')); "
                "d['data'][0]['paragraphs'][0]['qas'][0]['answers'][0]['answer_start'] += 1; "
                "json.dump(d, open('bad.json', 'w'))\"") == 0);
    ftune_eval_report_init(&r);
    FT_CHECKF(ftune_model_evaluate_with(m, path_in(p, sizeof p, "bad.json"), NULL, NULL, NULL, &r) == FT_OK,
              "%s", ftune_last_error(c));
    FT_CHECK(r.notes && strstr(r.notes, "is not at answer_start") && r.json &&
             strstr(r.json, "\"n_bad_answers\":1"));
    ftune_eval_report_free(&r);
    ftune_model_free(m);
    ftune_ctx_free(c);
    snprintf(cmd, sizeof cmd, "rm -rf %s", W);
    FT_CHECK(getenv("FT_KEEP") || system(cmd) == 0);
}

int main(void) {
    FT_RUN(tagging);
    FT_RUN(seq2seq);
    FT_RUN(question_answering);
    FT_DONE();
}
