/* Generation through the public C API (include/ftune.h) as `ftune generate` uses it: results holding beam
 * search's n best, prompts given as token ids (a model without a tokenizer loaded with tokenizer_optional),
 * the options checked without a model, and a data file's rows with their reference scores (checked against
 * ftune_score_texts on the same outputs). A tiny GPT-2 made with `ftune init` (FT_BIN). Only ftune.h. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ftune.h"
#include "ft_test.h"

static char W[256]; /* the work directory */

static int sh(const char *cmd) {
    char b[2048];
    snprintf(b, sizeof b, "cd %s && %s", W, cmd);
    return system(b);
}

/* The streamed ids and pieces. */
typedef struct {
    int32_t ids[64];
    size_t n, empty;
} streamed;

static int on_token(void *user, int32_t id, const char *piece) {
    streamed *s = user;
    if (s->n < 64)
        s->ids[s->n] = id;
    s->n++;
    s->empty += piece[0] == '\0';
    return 0;
}

/* The rows a data file gave: outputs and references kept for scoring them independently. */
typedef struct {
    int n, stop_after;
    long lines[8];
    char *out[8], *ref[8], *prompt[8];
} rows;

static char *dup_or_null(const char *s) {
    if (!s)
        return NULL;
    char *d = malloc(strlen(s) + 1);
    return d ? strcpy(d, s) : NULL;
}

static int on_row(void *user, const ftune_gen_row *r) {
    rows *rs = user;
    if (rs->n < 8 && r->struct_size >= sizeof *r) {
        rs->lines[rs->n] = r->line;
        rs->out[rs->n] = dup_or_null(r->output);
        rs->ref[rs->n] = dup_or_null(r->reference);
        rs->prompt[rs->n] = dup_or_null(r->prompt);
    }
    rs->n++;
    return rs->stop_after && rs->n >= rs->stop_after;
}

static void rows_free(rows *rs) {
    for (int i = 0; i < rs->n && i < 8; i++) {
        free(rs->out[i]);
        free(rs->ref[i]);
        free(rs->prompt[i]);
    }
    memset(rs, 0, sizeof *rs);
}

static double metric(const ftune_metric *m, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].name, name))
            return m[i].value;
    return NAN;
}

FT_TEST(generate_api) {
    const char *ftb = getenv("FT_BIN");
    if (!ftb) {
        fprintf(stderr, "  (FT_BIN not set: skipped)\n");
        return;
    }
    snprintf(W, sizeof W, "/tmp/ft_test_api_gen.%d", (int)getpid());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", W);
    FT_CHECK(system(cmd) == 0);
    FT_CHECK(
        sh("printf '[PAD]\\n[UNK]\\n[CLS]\\n[SEP]\\ngood\\nbad\\nfine\\nawful\\nthe\\nit\\n' > vocab.txt") ==
        0);
    FT_CHECK(
        sh("echo '{\"vocab_size\": 16, \"n_embd\": 16, \"n_layer\": 1, \"n_head\": 2, \"n_positions\": 32}' "
           "> g.json") == 0);
    snprintf(cmd, sizeof cmd,
             "%s init --arch gpt2 --config g.json --out bare --seed 3 > /dev/null && cp -r bare base && "
             "cp vocab.txt base/",
             ftb);
    FT_CHECK(sh(cmd) == 0);
    char bare[300], base[300];
    snprintf(bare, sizeof bare, "%s/bare", W);
    snprintf(base, sizeof base, "%s/base", W);
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK && ftune_ctx_set_threads(c, 1) == FT_OK);
    ftune_gen_opts o;
    ftune_gen_opts_init(&o);
    o.max_new_tokens = 6;
    ftune_beam_opts bo;
    ftune_beam_opts_init(&bo);
    FT_CHECK(bo.num_return_sequences == 1 && bo.struct_size == sizeof bo);

    /* the options alone: refused by name before any model */
    bo.min_new_tokens = 7;
    FT_CHECKF(ftune_gen_check(c, &o, &bo) == FT_ERR_ARG && strstr(ftune_last_error(c), "min_new_tokens 7"),
              "%s", ftune_last_error(c));
    bo.min_new_tokens = 0;
    bo.num_beams = 2;
    bo.num_return_sequences = 3;
    FT_CHECKF(ftune_gen_check(c, &o, &bo) == FT_ERR_ARG &&
                  strstr(ftune_last_error(c), "num_return_sequences 3 must be in [1, num_beams 2]"),
              "%s", ftune_last_error(c));
    o.do_sample = 1;
    bo.num_return_sequences = 1;
    FT_CHECK(ftune_gen_check(c, &o, &bo) == FT_ERR_UNSUPPORTED &&
             strstr(ftune_last_error(c), "beam sampling"));
    o.do_sample = 0;
    FT_CHECK(ftune_gen_check(c, &o, &bo) == FT_OK && ftune_last_error(c)[0] == '\0');
    ftune_beam_opts_init(&bo);

    /* a checkpoint without tokenizer files: refused by default, loaded with tokenizer_optional */
    ftune_model *m = NULL;
    FT_CHECK(ftune_model_load(c, bare, NULL, &m) != FT_OK && !m &&
             strstr(ftune_last_error(c), "no tokenizer"));
    ftune_model_load_opts lo;
    ftune_model_load_opts_init(&lo);
    lo.tokenizer_optional = 1;
    FT_CHECKF(ftune_model_load_with(c, bare, NULL, &lo, &m) == FT_OK && m, "%s", ftune_last_error(c));
    if (!m) {
        ftune_ctx_free(c);
        return;
    }
    FT_CHECK(!ftune_model_has_tokenizer(m));
    ftune_gen_result *r = NULL;
    FT_CHECK(ftune_generate_text(m, "good", &o, NULL, NULL, NULL, &r) == FT_ERR_MISSING && !r &&
             strstr(ftune_last_error(c), "no tokenizer"));
    const int32_t prompt[3] = {4, 8, 9};
    streamed st = {0};
    FT_CHECKF(ftune_generate_ids(m, prompt, 3, &o, NULL, on_token, &st, &r) == FT_OK && r, "%s",
              ftune_last_error(c));
    if (r) {
        size_t n = 99;
        const int32_t *ids = ftune_gen_result_ids(r, 0, &n);
        /* no tokenizer: no eos, so every token up to max_new_tokens; no text; every piece "" */
        FT_CHECK(ftune_gen_result_count(r) == 1 && n == 6 && ids && !ftune_gen_result_text(r, 0));
        FT_CHECK(!strcmp(ftune_gen_result_finish(r, 0), "length") && isnan(ftune_gen_result_score(r, 0)));
        FT_CHECK(st.n == 6 && st.empty == 6 && ids && !memcmp(st.ids, ids, 6 * sizeof *ids));
        for (size_t i = 0; ids && i < n; i++)
            FT_CHECK(ids[i] >= 0 && ids[i] < 16);
        size_t n_out = 99;
        FT_CHECK(!ftune_gen_result_ids(r, 1, &n_out) && n_out == 0 && !ftune_gen_result_finish(r, 1) &&
                 !ftune_gen_result_text(r, 1) && isnan(ftune_gen_result_score(r, 1)));
        ftune_gen_stats gs;
        ftune_gen_stats_init(&gs);
        FT_CHECK(ftune_gen_result_stats(r, &gs) == FT_OK && gs.prompt_tokens == 3 && gs.new_tokens == 6 &&
                 gs.steps == 6 && gs.decode_s >= 0 && gs.prefill_s >= 0);
        gs.struct_size = 3;
        FT_CHECK(ftune_gen_result_stats(r, &gs) == FT_ERR_ARG);
        /* greedy is deterministic: the same ids again */
        ftune_gen_result *r2 = NULL;
        FT_CHECK(ftune_generate_ids(m, prompt, 3, &o, NULL, NULL, NULL, &r2) == FT_OK);
        size_t n2 = 0;
        const int32_t *ids2 = ftune_gen_result_ids(r2, 0, &n2);
        FT_CHECK(n2 == n && ids && ids2 && !memcmp(ids, ids2, n * sizeof *ids));
        ftune_gen_result_free(r2);
        ftune_gen_result_free(r);
        r = NULL;
    }
    const int32_t out_of_vocab[2] = {3, 40};
    FT_CHECKF(ftune_generate_ids(m, out_of_vocab, 2, &o, NULL, NULL, NULL, &r) != FT_OK && !r &&
                  strstr(ftune_last_error(c), "40"),
              "%s", ftune_last_error(c));
    FT_CHECK(ftune_generate_ids(m, NULL, 2, &o, NULL, NULL, NULL, &r) == FT_ERR_ARG && !r);
    FT_CHECK(ftune_generate_ids(m, prompt, 3, &o, NULL, NULL, NULL, NULL) == FT_ERR_ARG);
    ftune_model_free(m);
    m = NULL;

    /* with a tokenizer: the result holds what ftune_generate_beam returns; beam search's n best */
    FT_CHECKF(ftune_model_load(c, base, NULL, &m) == FT_OK && m, "%s", ftune_last_error(c));
    if (!m) {
        ftune_ctx_free(c);
        return;
    }
    char *t0 = NULL;
    int32_t *i0 = NULL;
    size_t n0 = 0;
    FT_CHECK(ftune_generate_beam(m, "good it", &o, NULL, NULL, NULL, &t0, &i0, &n0, NULL, NULL) == FT_OK);
    FT_CHECK(ftune_generate_text(m, "good it", &o, NULL, NULL, NULL, &r) == FT_OK && r);
    if (r && t0) {
        size_t n = 0;
        const int32_t *ids = ftune_gen_result_ids(r, 0, &n);
        FT_CHECK(!strcmp(ftune_gen_result_text(r, 0), t0) && n == n0 && !memcmp(ids, i0, n * sizeof *ids));
    }
    ftune_gen_result_free(r);
    r = NULL;
    bo.num_beams = 4;
    double best = 0;
    char *tb = NULL;
    int32_t *ib = NULL;
    size_t nb = 0;
    FT_CHECK(ftune_generate_beam(m, "good it", &o, &bo, NULL, NULL, &tb, &ib, &nb, NULL, &best) == FT_OK);
    bo.num_return_sequences = 3;
    FT_CHECKF(ftune_generate_text(m, "good it", &o, &bo, NULL, NULL, &r) == FT_OK && r, "%s",
              ftune_last_error(c));
    if (r && ib) {
        FT_CHECK(ftune_gen_result_count(r) == 3);
        size_t n = 0;
        const int32_t *ids = ftune_gen_result_ids(r, 0, &n);
        /* the best of three is beam search's single answer */
        FT_CHECK(n == nb && !memcmp(ids, ib, n * sizeof *ids) && ftune_gen_result_score(r, 0) == best &&
                 !strcmp(ftune_gen_result_text(r, 0), tb));
        for (size_t i = 1; i < 3; i++) {
            FT_CHECK(ftune_gen_result_score(r, i) <= ftune_gen_result_score(r, i - 1));
            FT_CHECK(ftune_gen_result_text(r, i) && ftune_gen_result_finish(r, i));
            size_t ni = 0, np = 0;
            const int32_t *a = ftune_gen_result_ids(r, i, &ni), *p = ftune_gen_result_ids(r, i - 1, &np);
            FT_CHECK(ni != np || memcmp(a, p, ni * sizeof *a) != 0); /* distinct hypotheses */
        }
        FT_CHECK(!ftune_gen_result_text(r, 3) && isnan(ftune_gen_result_score(r, 3)));
        ftune_gen_stats gs;
        ftune_gen_stats_init(&gs);
        FT_CHECK(ftune_gen_result_stats(r, &gs) == FT_OK && gs.steps >= 1 && gs.steps <= 6 &&
                 gs.new_tokens == nb);
    }
    ftune_gen_result_free(r);
    r = NULL;
    /* a first-release struct (it ends before num_return_sequences): one sequence whatever follows it */
    bo.struct_size = offsetof(ftune_beam_opts, num_return_sequences);
    FT_CHECK(ftune_generate_text(m, "good it", &o, &bo, NULL, NULL, &r) == FT_OK &&
             ftune_gen_result_count(r) == 1);
    ftune_gen_result_free(r);
    r = NULL;
    bo.struct_size = sizeof bo;
    bo.num_return_sequences = 5;
    FT_CHECK(ftune_generate_text(m, "good it", &o, &bo, NULL, NULL, &r) == FT_ERR_ARG && !r &&
             strstr(ftune_last_error(c), "num_return_sequences 5"));
    ftune_free(t0);
    ftune_free(i0);
    ftune_free(tb);
    ftune_free(ib);
    ftune_beam_opts_init(&bo);

    /* a data file: a prompt row, a chat row, a text row (no reference), then a row without a prompt */
    FT_CHECK(sh("printf '%s\\n' '{\"prompt\": \"good\", \"response\": \"fine\"}' "
                "'{\"messages\": [{\"role\": \"user\", \"content\": \"bad it\"}, "
                "{\"role\": \"assistant\", \"content\": \"awful\"}]}' "
                "'{\"text\": \"the it\"}' > gen.jsonl && cp gen.jsonl gen_bad.jsonl && "
                "echo '{\"label\": \"x\"}' >> gen_bad.jsonl") == 0);
    char data[320], data_bad[320];
    snprintf(data, sizeof data, "%s/gen.jsonl", W);
    snprintf(data_bad, sizeof data_bad, "%s/gen_bad.jsonl", W);
    rows rs = {0};
    ftune_metric *ms = NULL;
    size_t nm = 0;
    FT_CHECKF(ftune_generate_file(m, data, &o, NULL, on_row, &rs, &ms, &nm) == FT_OK, "%s",
              ftune_last_error(c));
    FT_CHECK(rs.n == 3 && rs.lines[0] == 1 && rs.lines[2] == 3 && nm == 7);
    if (rs.n == 3 && nm == 7) {
        FT_CHECK(rs.ref[0] && !strcmp(rs.ref[0], "fine") && rs.ref[1] && !strcmp(rs.ref[1], "awful") &&
                 !rs.ref[2]);
        FT_CHECK(!strcmp(rs.prompt[0], "good") && !strcmp(rs.prompt[1], "bad it") &&
                 !strcmp(rs.prompt[2], "the it"));
        /* the prompt row's output is ftune_generate's for its prompt */
        char *t = NULL;
        FT_CHECK(ftune_generate(m, "good", &o, NULL, NULL, &t, NULL, NULL, NULL) == FT_OK && t &&
                 !strcmp(t, rs.out[0]));
        ftune_free(t);
        /* the scores are those of the two referenced rows' outputs */
        const char *preds[2] = {rs.out[0], rs.out[1]}, *refs[2] = {rs.ref[0], rs.ref[1]};
        ftune_metric *sb = NULL, *sr = NULL, *sq = NULL;
        size_t nsb = 0, nsr = 0, nsq = 0;
        FT_CHECK(ftune_score_texts(c, "bleu", preds, 2, refs, NULL, NULL, &sb, &nsb, NULL, NULL) == FT_OK);
        FT_CHECK(ftune_score_texts(c, "rouge", preds, 2, refs, NULL, NULL, &sr, &nsr, NULL, NULL) == FT_OK);
        FT_CHECK(ftune_score_texts(c, "squad", preds, 2, refs, NULL, NULL, &sq, &nsq, NULL, NULL) == FT_OK);
        const char *names[] = {"bleu", "rouge1", "rouge2", "rougeL", "rougeLsum", "exact_match", "f1"};
        for (int k = 0; k < 7; k++) {
            const ftune_metric *src = k == 0 ? sb : k < 5 ? sr : sq;
            const size_t ns = k == 0 ? nsb : k < 5 ? nsr : nsq;
            const double want = metric(src, ns, names[k]), got = metric(ms, nm, names[k]);
            FT_CHECKF(!isnan(want) && fabs(got - want) <= 1e-12 * (1 + fabs(want)), "%s %.17g vs %.17g",
                      names[k], got, want);
        }
        ftune_free(sb);
        ftune_free(sr);
        ftune_free(sq);
    }
    ftune_free(ms);
    ms = NULL;
    rows_free(&rs);
    /* stopped by the callback after the first row: one row, scored alone */
    rs.stop_after = 1;
    FT_CHECK(ftune_generate_file(m, data, &o, NULL, on_row, &rs, &ms, &nm) == FT_OK && rs.n == 1 && nm == 7);
    ftune_free(ms);
    ms = NULL;
    rows_free(&rs);
    /* the row without a prompt fails naming file:line, after the rows before it */
    FT_CHECKF(ftune_generate_file(m, data_bad, &o, NULL, on_row, &rs, &ms, &nm) == FT_ERR_FORMAT &&
                  rs.n == 3 && !ms && nm == 0 && strstr(ftune_last_error(c), "gen_bad.jsonl:4: no prompt"),
              "%s", ftune_last_error(c));
    rows_free(&rs);
    /* rows without references: no metrics */
    FT_CHECK(sh("echo '{\"text\": \"good\"}' > noref.jsonl") == 0);
    snprintf(data, sizeof data, "%s/noref.jsonl", W);
    FT_CHECK(ftune_generate_file(m, data, &o, NULL, NULL, NULL, &ms, &nm) == FT_OK && !ms && nm == 0);
    FT_CHECK(ftune_generate_file(m, "/nonexistent/x.jsonl", &o, NULL, NULL, NULL, &ms, &nm) != FT_OK &&
             strstr(ftune_last_error(c), "/nonexistent/x.jsonl"));
    ftune_model_free(m);
    ftune_ctx_free(c);
    snprintf(cmd, sizeof cmd, "rm -rf %s", W);
    FT_CHECK(system(cmd) == 0);
}

int main(void) {
    FT_RUN(generate_api);
    FT_DONE();
}
