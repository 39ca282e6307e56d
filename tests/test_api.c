/* The public C API (include/ftune.h) as a client sees it: only ftune.h is included. Versions, argument
 * checks, per-context error messages, and a tiny run (a model made with `ftune init`) stepped through
 * ftune_trainer_step with callbacks, a stop request, evaluation, then classification, tokenization and
 * generation through the handles it leaves. Runs under the sanitizers too (the memory of every
 * handle). */
#include <math.h>
#include <stddef.h>
#include <stdbool.h>
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

FT_TEST(version_and_abi) {
    FT_CHECK(!strcmp(ftune_version(), FTUNE_VERSION));
    FT_CHECK(ftune_abi_version() == FTUNE_ABI_VERSION);
    FT_CHECK(!strcmp(ftune_status_name(FT_ERR_CONFIG), "config error"));
}

FT_TEST(null_arguments) {
    FT_CHECK(ftune_ctx_new(NULL) == FT_ERR_ARG);
    ftune_model *m = (ftune_model *)1;
    FT_CHECK(ftune_model_load(NULL, "x", NULL, &m) == FT_ERR_ARG);
    FT_CHECK(ftune_classify(NULL, "x", NULL, NULL, 0) == FT_ERR_ARG);
    FT_CHECK(ftune_trainer_step(NULL, NULL) == FT_ERR_ARG);
    ftune_model_free(NULL);
    ftune_tokenizer_free(NULL);
    ftune_trainer_free(NULL);
    ftune_ctx_free(NULL);
    ftune_trainer_request_stop(NULL);
    FT_CHECK(!strcmp(ftune_last_error(NULL), "no context (NULL)"));
}

FT_TEST(errors_per_context) {
    ftune_ctx *a, *b;
    FT_CHECK(ftune_ctx_new(&a) == FT_OK && ftune_ctx_new(&b) == FT_OK);
    ftune_model *m = NULL;
    ftune_tokenizer *t = NULL;
    FT_CHECK(ftune_model_load(a, "/nonexistent/model-a", NULL, &m) != FT_OK && m == NULL);
    FT_CHECK(ftune_tokenizer_load(b, "/nonexistent/tok-b", &t) != FT_OK && t == NULL);
    FT_CHECKF(strstr(ftune_last_error(a), "model-a") != NULL, "%s", ftune_last_error(a));
    FT_CHECKF(strstr(ftune_last_error(b), "tok-b") != NULL, "%s", ftune_last_error(b));
    FT_CHECK(ftune_last_status(a) != FT_OK);
    FT_CHECK(ftune_ctx_set_threads(a, -1) == FT_ERR_ARG && strstr(ftune_last_error(a), "threads -1"));
    FT_CHECK(ftune_ctx_set_threads(a, 1) == FT_OK && ftune_last_error(a)[0] == '\0' &&
             ftune_last_status(a) == FT_OK);
    FT_CHECKF(strstr(ftune_last_error(b), "tok-b") != NULL, "%s", ftune_last_error(b));
    ftune_ctx_free(a);
    ftune_ctx_free(b);
}

FT_TEST(recipe_errors) {
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    ftune_trainer *t = NULL;
    const char *bad[] = {"lora.rr=3"};
    FT_CHECK(ftune_trainer_new(c, NULL, "model: m\n", bad, 1, &t) != FT_OK && !t);
    FT_CHECKF(strstr(ftune_last_error(c), "lora.rr") && strstr(ftune_last_error(c), "lora.r"), "%s",
              ftune_last_error(c));
    const char *tc[] = {"model=m", "data.train=d", "output_dir=o", "task=token_classification"};
    FT_CHECK(ftune_trainer_new(c, NULL, NULL, tc, 4, &t) == FT_OK && t); /* every task: the model loads later */
    ftune_trainer_free(t);
    t = NULL;
    const char *bad_task[] = {"model=m", "data.train=d", "output_dir=o", "task=token_clasification"};
    FT_CHECK(ftune_trainer_new(c, NULL, NULL, bad_task, 4, &t) != FT_OK && !t);
    FT_CHECKF(strstr(ftune_last_error(c), "token_clasification"), "%s", ftune_last_error(c));
    FT_CHECK(ftune_trainer_new(c, "/nonexistent/recipe.yaml", NULL, NULL, 0, &t) == FT_ERR_IO);
    FT_CHECK(ftune_trainer_new(c, NULL, "model: [unclosed\n", NULL, 0, &t) != FT_OK);
    FT_CHECKF(strstr(ftune_last_error(c), "recipe text"), "%s", ftune_last_error(c));
    ftune_ctx_free(c);
}

typedef struct {
    int n_progress, n_eval, n_log, stop_at;
    int64_t last_step, eval_steps[8];
    double last_eval_loss;
    ftune_trainer *t;
} seen;

static void on_progress(void *user, const ftune_progress *p) {
    seen *s = user;
    s->n_progress++;
    s->last_step = p->step;
    if (s->stop_at && p->step == s->stop_at)
        ftune_trainer_request_stop(s->t);
}

static void on_eval(void *user, int64_t step, const ftune_metric *m, size_t n) {
    seen *s = user;
    if (s->n_eval < 8)
        s->eval_steps[s->n_eval] = step;
    s->n_eval++;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].name, "loss"))
            s->last_eval_loss = m[i].value;
}

static void on_log(void *user, const char *line) {
    seen *s = user;
    s->n_log += line[0] != '\0';
}

static int count_pieces(void *user, int32_t id, const char *piece) {
    (void)id;
    ((size_t *)user)[0] += strlen(piece);
    ((size_t *)user)[1]++;
    return 0;
}

FT_TEST(train_step_by_step_and_use) {
    const char *ftb = getenv("FT_BIN");
    if (!ftb) {
        fprintf(stderr, "  (FT_BIN not set: skipped)\n");
        return;
    }
    snprintf(W, sizeof W, "/tmp/ft_test_api.%d", (int)getpid());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", W);
    FT_CHECK(system(cmd) == 0);
    FT_CHECK(
        sh("printf '[PAD]\\n[UNK]\\n[CLS]\\n[SEP]\\ngood\\nbad\\nfine\\nawful\\nthe\\nit\\n' > vocab.txt") ==
        0);
    FT_CHECK(sh("for i in $(seq 60); do echo '{\"text\": \"good fine the it\", \"label\": \"pos\"}'; "
                "echo '{\"text\": \"bad awful it the\", \"label\": \"neg\"}'; done > train.jsonl") == 0);
    /* a test file with two labels flipped (accuracy below 1) and one with a label the model never saw */
    FT_CHECK(sh("for i in $(seq 5); do echo '{\"text\": \"good the fine\", \"label\": \"pos\"}'; "
                "echo '{\"text\": \"awful bad\", \"label\": \"neg\"}'; done > test.jsonl && "
                "echo '{\"text\": \"good fine\", \"label\": \"neg\"}' >> test.jsonl && "
                "echo '{\"text\": \"bad it\", \"label\": \"pos\"}' >> test.jsonl && "
                "sed '2s/\"neg\"/\"meh\"/' test.jsonl > test_unk.jsonl") == 0);
    FT_CHECK(
        sh("echo '{\"vocab_size\": 16, \"n_embd\": 16, \"n_layer\": 1, \"n_head\": 2, \"n_positions\": 16}' "
           "> g.json") == 0);
    snprintf(cmd, sizeof cmd,
             "%s init --arch gpt2 --config g.json --out base --seed 1 > /dev/null && cp vocab.txt base/",
             ftb);
    FT_CHECK(sh(cmd) == 0);
    char base[300], out[300], over_model[320], over_data[320], over_out[320], over_test[340], test_file[310];
    snprintf(base, sizeof base, "%s/base", W);
    snprintf(out, sizeof out, "%s/out", W);
    snprintf(over_model, sizeof over_model, "model=%s", base);
    snprintf(over_data, sizeof over_data, "data.train=%s/train.jsonl", W);
    snprintf(over_out, sizeof over_out, "output_dir=%s", out);
    snprintf(test_file, sizeof test_file, "%s/test.jsonl", W);
    snprintf(over_test, sizeof over_test, "data.test=%s", test_file);
    const char *over[] = {over_model, over_data, over_out, over_test};
    const char *recipe = "task: classification\nmethod: lora\nlora: {r: 2, alpha: 4}\n"
                         "train: {max_steps: 6, batch_size: 4, seq_len: 8}\neval: {every: 3}\n"
                         "optim: {lr: 1e-2}\nreport: {tensorboard: false}\n";
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    FT_CHECK(ftune_ctx_set_threads(c, 1) == FT_OK);

    /* a run stopped at step 2: a checkpoint, no adapter */
    ftune_trainer *t = NULL;
    seen s = {.stop_at = 2};
    snprintf(over_out, sizeof over_out, "output_dir=%s/stopped", W);
    FT_CHECK(ftune_trainer_new(c, NULL, recipe, over, 4, &t) == FT_OK);
    s.t = t;
    FT_CHECK(ftune_trainer_set_callbacks(t, on_progress, NULL, NULL, &s) == FT_OK);
    FT_CHECKF(ftune_trainer_run(t) == FT_OK, "%s", ftune_last_error(c));
    ftune_trainer_info ti;
    FT_CHECK(ftune_trainer_get_info(t, &ti) == FT_OK);
    FT_CHECK(ti.done && ti.stopped && ti.step == 2 && s.n_progress == 2);
    FT_CHECK(sh("ls stopped/checkpoints | grep -q step-") == 0 &&
             sh("[ ! -e stopped/adapter_model.safetensors ]") == 0);
    ftune_trainer_free(t);

    /* the whole run, a step at a time */
    snprintf(over_out, sizeof over_out, "output_dir=%s", out);
    seen s2 = {0};
    FT_CHECK(ftune_trainer_new(c, NULL, recipe, over, 4, &t) == FT_OK);
    s2.t = t;
    FT_CHECK(ftune_trainer_set_callbacks(t, on_progress, on_log, on_eval, &s2) == FT_OK);
    FT_CHECK(ftune_trainer_get_info(t, &ti) == FT_OK && ti.step == 0 && !ti.done && isnan(ti.first_loss));
    int done = 0, calls = 0;
    while (!done && calls < 20) {
        FT_CHECKF(ftune_trainer_step(t, &done) == FT_OK, "%s", ftune_last_error(c));
        calls++;
    }
    FT_CHECK(calls == 6 && s2.n_progress == 6 && s2.last_step == 6);
    FT_CHECK(s2.n_eval == 3 && s2.eval_steps[0] == 0 && s2.eval_steps[1] == 3 && s2.eval_steps[2] == 6);
    FT_CHECK(s2.n_log > 0);
    FT_CHECK(ftune_trainer_set_callbacks(t, NULL, NULL, NULL, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_trainer_step(t, &done) == FT_OK && done == 1 && s2.n_progress == 6); /* a no-op now */
    FT_CHECK(ftune_trainer_get_info(t, &ti) == FT_OK && ti.done && !ti.stopped && ti.step == 6 &&
             ti.n_train > 0);
    FT_CHECK(!strcmp(ti.output_dir, out) && isfinite(ti.last_loss));
    ftune_metric *ms = NULL;
    size_t nm = 0;
    FT_CHECK(ftune_trainer_evaluate(t, "validation", &ms, &nm) == FT_OK && nm >= 2);
    bool have_loss = false;
    for (size_t i = 0; i < nm; i++)
        if (!strcmp(ms[i].name, "loss")) {
            have_loss = true;
            FT_CHECK_NEAR(ms[i].value, s2.last_eval_loss, 1e-9); /* the model is the one evaluated last */
        }
    FT_CHECK(have_loss);
    ftune_free(ms);
    FT_CHECK(ftune_trainer_evaluate(t, "dev", &ms, &nm) == FT_ERR_ARG && strstr(ftune_last_error(c), "dev"));
    ftune_metric *tms = NULL; /* the run's test split (test.jsonl): ftune_model_evaluate must agree below */
    size_t ntm = 0;
    FT_CHECKF(ftune_trainer_evaluate(t, "test", &tms, &ntm) == FT_OK, "%s", ftune_last_error(c));
    ftune_trainer_free(t);

    /* the adapter it saved: classify, tokenize, and generation refused on a classifier */
    ftune_model *m = NULL;
    FT_CHECKF(ftune_model_load(c, base, out, &m) == FT_OK, "%s", ftune_last_error(c));
    if (m) {
        ftune_model_info mi;
        FT_CHECK(ftune_model_get_info(m, &mi) == FT_OK);
        FT_CHECK(!strcmp(mi.task, "classification") && !strcmp(mi.method, "lora") && mi.n_labels == 2);
        FT_CHECK(!strcmp(ftune_model_label(m, 0), "neg") && !strcmp(ftune_model_label(m, 1), "pos") &&
                 !ftune_model_label(m, 2) && !ftune_model_label(m, -1));
        int label = -2;
        float p[2];
        FT_CHECK(ftune_classify(m, "good fine good", &label, p, 2) == FT_OK);
        FT_CHECK(label >= 0 && label < 2 && fabsf(p[0] + p[1] - 1.0f) < 1e-5f && p[label] >= p[1 - label]);
        FT_CHECK(ftune_classify(m, "good", &label, p, 1) == FT_ERR_ARG &&
                 strstr(ftune_last_error(c), "2 classes"));
        /* the double probabilities: the same label, the floats their rounding */
        double pd[2] = {-1, -1};
        int label_d = -2;
        FT_CHECK(ftune_classify_f64(m, "good fine good", &label_d, pd, 2) == FT_OK);
        FT_CHECK(label_d == label && (float)pd[0] == p[0] && (float)pd[1] == p[1] &&
                 fabs(pd[0] + pd[1] - 1) < 1e-12);
        FT_CHECK(ftune_classify_f64(m, "good", &label_d, pd, 1) == FT_ERR_ARG &&
                 strstr(ftune_last_error(c), "ftune_classify_f64: room for 1 probabilities"));
        FT_CHECK(ftune_classify_image_f64(m, "x.png", &label_d, pd, 2) == FT_ERR_ARG &&
                 strstr(ftune_last_error(c), "not an image classifier (task classification)"));
        /* the whole model saved (no ftune_train.json): its head's task by default, the commands' rule on
         * request */
        char full[320];
        snprintf(full, sizeof full, "%s/full", W);
        FT_CHECKF(ftune_model_save(m, full, NULL) == FT_OK, "%s", ftune_last_error(c));
        ftune_model *mf = NULL;
        { /* int8: the projections quantized per row, loaded back (fp32 here: dequantized), nearly the same */
            char q8[320];
            snprintf(q8, sizeof q8, "%s/full8", W);
            FT_CHECKF(ftune_model_save(m, q8, "int8") == FT_OK, "%s", ftune_last_error(c));
            FT_CHECKF(ftune_model_load(c, q8, NULL, &mf) == FT_OK, "%s", ftune_last_error(c));
            int l8 = -2;
            float p8[2] = {-1, -1};
            FT_CHECK(mf && ftune_classify(mf, "good fine good", &l8, p8, 2) == FT_OK);
            FT_CHECKF(l8 == label && fabsf(p8[0] - p[0]) < 2e-2f && p8[0] != p[0], "int8 %g vs %g",
                      (double)p8[0], (double)p[0]);
            ftune_model_free(mf);
            mf = NULL;
            FT_CHECK(ftune_model_save(m, q8, "int4") == FT_ERR_ARG &&
                     strstr(ftune_last_error(c), "'int4' is not f32, bf16 or int8"));
        }
        ftune_model_load_opts lo;
        ftune_model_load_opts_init(&lo);
        FT_CHECK(lo.struct_size == sizeof lo && lo.head_task == 1 && !lo.task && !lo.need_task);
        FT_CHECKF(ftune_model_load_with(c, full, NULL, &lo, &mf) == FT_OK, "%s", ftune_last_error(c));
        ftune_model_info fi;
        FT_CHECK(mf && ftune_model_get_info(mf, &fi) == FT_OK && !strcmp(fi.task, "classification"));
        ftune_model_free(mf);
        mf = NULL;
        lo.head_task = 0; /* causal_lm, which a classification head contradicts */
        FT_CHECK(ftune_model_load_with(c, full, NULL, &lo, &mf) == FT_ERR_CONFIG && !mf &&
                 strstr(ftune_last_error(c), "task causal_lm, but the model has a classification head"));
        lo.task = "classification";
        FT_CHECK(ftune_model_load_with(c, full, NULL, &lo, &mf) == FT_OK && mf);
        ftune_model_free(mf);
        mf = NULL;
        lo.task = NULL, lo.need_task = 1;
        FT_CHECK(ftune_model_load_with(c, full, NULL, &lo, &mf) != FT_OK && !mf &&
                 strstr(ftune_last_error(c), "no ftune_train.json"));
        lo.task = "regression"; /* overrides ftune_train.json: the head says otherwise */
        FT_CHECK(ftune_model_load_with(c, base, out, &lo, &mf) == FT_ERR_CONFIG && !mf &&
                 strstr(ftune_last_error(c), "task regression"));
        lo.task = "poetry";
        FT_CHECK(ftune_model_load_with(c, base, out, &lo, &mf) != FT_OK &&
                 strstr(ftune_last_error(c), "poetry"));
        lo.struct_size = 4;
        FT_CHECK(ftune_model_load_with(c, base, out, &lo, &mf) == FT_ERR_ARG &&
                 strstr(ftune_last_error(c), "struct_size"));
        FT_CHECK(ftune_model_load_with(c, NULL, out, NULL, &mf) == FT_ERR_ARG);
        char *txt = NULL;
        FT_CHECK(ftune_generate(m, "good", NULL, NULL, NULL, &txt, NULL, NULL, NULL) != FT_OK && !txt);
        FT_CHECK(ftune_adapter_create(m, "lora", NULL, 0) == FT_ERR_ARG);
        /* evaluation on a data file: the trainer's test metrics, every one, from another path through the
         * data (the file read, cleaned and tokenized as `ftune eval` does, labels mapped by name) */
        ftune_metric *em = NULL;
        size_t nem = 0, nex = 0;
        FT_CHECKF(ftune_model_evaluate(m, test_file, 0, &em, &nem, &nex) == FT_OK, "%s", ftune_last_error(c));
        FT_CHECK(nex == 12 && nem == ntm && nem >= 5);
        double acc = -1;
        for (size_t i = 0; i < nem && i < ntm; i++) {
            FT_CHECK(!strcmp(em[i].name, tms[i].name));
            FT_CHECK_NEAR(em[i].value, tms[i].value, 1e-6);
            if (!strcmp(em[i].name, "accuracy"))
                acc = em[i].value;
        }
        FT_CHECKF(acc >= 0 && acc <= 1, "accuracy %g", acc);
        ftune_free(em);
        char unk[340];
        snprintf(unk, sizeof unk, "%s/test_unk.jsonl", W);
        FT_CHECKF(ftune_model_evaluate(m, unk, 4, &em, &nem, NULL) == FT_ERR_FORMAT && !em &&
                      strstr(ftune_last_error(c),
                             "test_unk.jsonl:2: label 'meh' is not one the model was trained on"),
                  "%s", ftune_last_error(c));
        FT_CHECK(ftune_model_evaluate(m, NULL, 4, &em, &nem, NULL) == FT_ERR_ARG);
        ftune_model_free(m);
    }
    ftune_free(tms);
    ftune_tokenizer *tok = NULL;
    FT_CHECK(ftune_tokenizer_load(c, base, &tok) == FT_OK);
    if (tok) {
        int32_t *ids = NULL;
        size_t *offs = NULL, n = 0;
        const char *text = "good bad";
        FT_CHECK(ftune_tokenize(tok, text, strlen(text), 0, &ids, &offs, &n) == FT_OK && n == 2);
        FT_CHECK(n == 2 && ids[0] == 4 && ids[1] == 5 && offs[0] == 0 && offs[1] == 4 && offs[2] == 5 &&
                 offs[3] == 8);
        char *back = NULL;
        FT_CHECK(ftune_detokenize(tok, ids, n, 1, &back) == FT_OK && back && !strcmp(back, "good bad"));
        ftune_free(back);
        const int32_t oob = 999;
        char *none = (char *)1;
        FT_CHECK(ftune_detokenize(tok, &oob, 1, 1, &none) == FT_ERR_RANGE && none == NULL);
        ftune_free(ids);
        ftune_free(offs);
        /* the whole encoding: a pair with type ids and character offsets, truncation, token texts */
        ftune_encode_opts eo;
        ftune_encode_opts_init(&eo);
        eo.offsets = FTUNE_OFFSETS_CHARS;
        ftune_encoding e = {0};
        FT_CHECK(ftune_encode(tok, "good bad", 8, "bad", 3, &eo, &e) == FT_OK);
        FT_CHECKF(e.n == 3 && e.ids[0] == 4 && e.ids[1] == 5 && e.ids[2] == 5 && e.type_ids[0] == 0 &&
                      e.type_ids[2] == 1 && e.offsets[2] == 5 && e.offsets[3] == 8 && e.offsets[4] == 0 &&
                      e.offsets[5] == 3,
                  "%zu tokens", e.n);
        ftune_encoding_free(&e); /* out is overwritten by the next call */
        size_t tl = 0;
        const char *tt = ftune_token_text(tok, 4, &tl);
        FT_CHECK(tt && tl == 4 && !memcmp(tt, "good", 4));
        FT_CHECK(ftune_token_text(tok, 1 << 30, &tl) == NULL && tl == 0);
        eo.max_length = 2; /* longest_first: one token from each text */
        FT_CHECK(ftune_encode(tok, "good bad", 8, "bad", 3, &eo, &e) == FT_OK && e.n == 2 && e.ids[0] == 4 &&
                 e.ids[1] == 5 && e.type_ids[1] == 1);
        ftune_encoding_free(&e);
        eo.offsets = 7;
        FT_CHECKF(ftune_encode(tok, "good", 4, NULL, 0, &eo, &e) == FT_ERR_ARG && e.n == 0 && !e.ids &&
                      strstr(ftune_last_error(c), "offsets 7"),
                  "%s", ftune_last_error(c));
        ftune_encoding_free(&e);
        eo.offsets = FTUNE_OFFSETS_BYTES; /* an empty text: no tokens, no arrays read (UBSan in CI) */
        FT_CHECK(ftune_encode(tok, "", 0, NULL, 0, &eo, &e) == FT_OK && e.n == 0);
        ftune_encoding_free(&e);
        int32_t *eids = NULL;
        size_t *eoffs = NULL, en = 1;
        FT_CHECK(ftune_tokenize(tok, "", 0, 0, &eids, &eoffs, &en) == FT_OK && en == 0);
        ftune_free(eids), ftune_free(eoffs);
        uint8_t *emask = NULL;
        FT_CHECK(ftune_chat_encode(tok, "alpaca", NULL, NULL, 0, 0, &eids, &emask, &en) == FT_OK && en == 0);
        ftune_free(eids), ftune_free(emask);
        char *dtext = NULL;
        size_t dlen = 0;
        const int32_t two[] = {4, 5};
        FT_CHECK(ftune_decode(tok, two, 2, 1, &dtext, &dlen) == FT_OK && dtext && dlen == 8 &&
                 !strcmp(dtext, "good bad"));
        ftune_free(dtext);
        /* chat templates: the rendered text, its ids (one encoding of that text) and the assistant mask */
        const char *roles[] = {"user", "assistant"}, *contents[] = {"good", "bad"};
        char *txt = NULL;
        FT_CHECK(ftune_chat_render(c, "chatml", roles, contents, 2, 0, &txt) == FT_OK && txt);
        const char *want = "<|im_start|>user\ngood<|im_end|>\n<|im_start|>assistant\nbad<|im_end|>\n";
        FT_CHECKF(txt && !strcmp(txt, want), "%s", txt ? txt : "(null)");
        int32_t *cids = NULL, *pids = NULL;
        uint8_t *mask = NULL;
        size_t cn = 0, pn = 0;
        FT_CHECK(ftune_chat_encode(tok, "chatml", roles, contents, 2, 0, &cids, &mask, &cn) == FT_OK);
        FT_CHECK(txt && ftune_tokenize(tok, txt, strlen(txt), 0, &pids, NULL, &pn) == FT_OK);
        FT_CHECKF(cn == pn && cn > 0 && !memcmp(cids, pids, cn * sizeof *cids), "%zu ids vs %zu", cn, pn);
        size_t on = 0;
        bool bad_masked = false, good_masked = false;
        for (size_t i = 0; mask && i < cn; i++) {
            on += mask[i];
            bad_masked |= mask[i] && cids[i] == 5;
            good_masked |= mask[i] && cids[i] == 4;
        }
        FT_CHECKF(on > 0 && on < cn && bad_masked && !good_masked, "%zu of %zu masked", on, cn);
        ftune_free(txt), ftune_free(cids), ftune_free(pids), ftune_free(mask);
        FT_CHECK(ftune_chat_render(c, "chatml", roles, contents, 1, 1, &txt) == FT_OK && txt &&
                 !strcmp(txt, "<|im_start|>user\ngood<|im_end|>\n<|im_start|>assistant\n"));
        ftune_free(txt);
        bool chatml = false;
        for (const char *const *f = ftune_chat_formats(); *f; f++)
            chatml |= !strcmp(*f, "chatml");
        FT_CHECK(chatml);
        FT_CHECKF(ftune_chat_render(c, "nope", roles, contents, 2, 0, &txt) == FT_ERR_ARG && !txt &&
                      strstr(ftune_last_error(c), "unknown format 'nope'"),
                  "%s", ftune_last_error(c));
        const char *noroles[] = {"user", NULL};
        FT_CHECKF(ftune_chat_encode(tok, "chatml", noroles, contents, 2, 0, &cids, NULL, &cn) == FT_ERR_ARG &&
                      !cids && strstr(ftune_last_error(c), "message 1"),
                  "%s", ftune_last_error(c));
        FT_CHECK(ftune_chat_render(c, NULL, roles, contents, 2, 0, &txt) == FT_ERR_ARG);
        ftune_tokenizer_free(tok);
    }
    /* the bare base is a causal LM: generation, streamed, greedy and deterministic */
    FT_CHECK(ftune_model_load(c, base, NULL, &m) == FT_OK);
    if (m) {
        ftune_gen_opts o;
        ftune_gen_opts_init(&o);
        o.max_new_tokens = 5;
        size_t streamed[2] = {0, 0}, n1 = 0, n2 = 0;
        char *t1 = NULL, *t2 = NULL;
        int32_t *i1 = NULL, *i2 = NULL;
        const char *fin = NULL;
        FT_CHECK(ftune_generate(m, "good", &o, count_pieces, streamed, &t1, &i1, &n1, &fin) == FT_OK);
        FT_CHECK(ftune_generate(m, "good", &o, NULL, NULL, &t2, &i2, &n2, NULL) == FT_OK);
        FT_CHECK(t1 && t2 && !strcmp(t1, t2) && n1 == n2 && n1 >= 1 && !memcmp(i1, i2, n1 * sizeof *i1));
        FT_CHECK(streamed[1] == n1 && fin && (!strcmp(fin, "length") || !strcmp(fin, "eos")));
        /* beam search: 1 beam is the greedy answer; 2 beams give a score and stream the result's ids */
        ftune_beam_opts bo;
        ftune_beam_opts_init(&bo);
        FT_CHECK(bo.struct_size == sizeof bo && bo.num_beams == 1 && bo.length_penalty == 1.0f);
        char *t3 = NULL;
        int32_t *i3 = NULL;
        size_t n3 = 0, streamed3[2] = {0, 0};
        double sc = 0;
        FT_CHECK(ftune_generate_beam(m, "good", &o, &bo, NULL, NULL, &t3, NULL, NULL, NULL, &sc) == FT_OK);
        FT_CHECK(t3 && t1 && !strcmp(t3, t1) && isnan(sc));
        ftune_free(t3);
        bo.num_beams = 2;
        bo.no_repeat_ngram_size = 1;
        FT_CHECK(ftune_generate_beam(m, "good", &o, &bo, count_pieces, streamed3, NULL, &i3, &n3, &fin,
                                     &sc) == FT_OK);
        FT_CHECK(n3 >= 1 && streamed3[1] == n3 && sc < 0 && fin);
        for (size_t a = 0; i3 && a < n3; a++) /* no 1-gram repeats: every id once */
            for (size_t q = 0; q < a; q++)
                FT_CHECK(i3[a] != i3[q]);
        ftune_free(i3);
        bo.min_new_tokens = 6; /* > max_new_tokens 5 */
        FT_CHECK(ftune_generate_beam(m, "good", &o, &bo, NULL, NULL, NULL, NULL, NULL, NULL, NULL) ==
                     FT_ERR_ARG &&
                 strstr(ftune_last_error(c), "min_new_tokens 6"));
        bo.min_new_tokens = 0;
        bo.num_beams = 100000;
        FT_CHECK(ftune_generate_beam(m, "good", &o, &bo, NULL, NULL, NULL, NULL, NULL, NULL, NULL) ==
                     FT_ERR_ARG &&
                 strstr(ftune_last_error(c), "num_beams 100000 is larger than the vocabulary"));
        bo.num_beams = 2;
        bo.struct_size = 4;
        FT_CHECK(ftune_generate_beam(m, "good", &o, &bo, NULL, NULL, NULL, NULL, NULL, NULL, NULL) ==
                     FT_ERR_ARG &&
                 strstr(ftune_last_error(c), "struct_size 4"));
        o.temperature = -1;
        FT_CHECK(ftune_generate(m, "good", &o, NULL, NULL, NULL, NULL, NULL, NULL) == FT_ERR_ARG);
        ftune_free(t1);
        ftune_free(t2);
        ftune_free(i1);
        ftune_free(i2);
        /* an adapter created here, saved, and loaded back */
        const char *opts[] = {"lora.r=2", "lora.target_modules=c_attn"};
        const char *badopt[] = {"optim.lr=1"};
        FT_CHECK(ftune_adapter_create(m, "lora", badopt, 1) == FT_ERR_ARG &&
                 strstr(ftune_last_error(c), "optim.lr"));
        FT_CHECKF(ftune_adapter_create(m, "lora", opts, 2) == FT_OK, "%s", ftune_last_error(c));
        char ad[320];
        snprintf(ad, sizeof ad, "%s/made", W);
        FT_CHECK(ftune_adapter_save(m, ad) == FT_OK);
        FT_CHECK(ftune_adapter_merge(m) == FT_OK && ftune_adapter_unmerge(m) == FT_OK);
        ftune_model_free(m);
        FT_CHECK(sh("grep -q '\"r\": 2' made/adapter_config.json") == 0);
        FT_CHECK(ftune_model_load(c, base, ad, &m) == FT_OK);
        ftune_model_free(m);
    }
    /* a dataset of the same rows given by the program: the run ends with the same adapter bytes */
    ftune_dataset *ds = NULL, *ds2 = NULL;
    FT_CHECK(ftune_dataset_new(c, &ds) == FT_OK && ftune_dataset_new(c, &ds2) == FT_OK);
    ftune_example ex;
    ftune_example_init(&ex);
    for (int i = 0; ds && i < 60; i++) {
        ex.text = "good fine the it", ex.label = "pos";
        FT_CHECK(ftune_dataset_add(ds, &ex) == FT_OK);
        ex.text = "bad awful it the", ex.label = "neg";
        FT_CHECK(ftune_dataset_add(ds, &ex) == FT_OK);
    }
    char train_file[320];
    snprintf(train_file, sizeof train_file, "%s/train.jsonl", W);
    FT_CHECK(ftune_dataset_read(ds2, train_file, NULL, 0) == FT_OK && ftune_dataset_size(ds2) == 120 &&
             ftune_dataset_size(ds) == 120);
    const char *bad_opt[] = {"lora.r=4"};
    FT_CHECK(ftune_dataset_read(ds2, train_file, bad_opt, 1) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "not a data.* recipe key"));
    ex.text = NULL, ex.prompt = NULL;
    FT_CHECK(ftune_dataset_add(ds, &ex) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "neither text nor prompt"));
    char over_out3[320];
    snprintf(over_out3, sizeof over_out3, "output_dir=%s/from_ds", W);
    const char *over3[] = {over_model, over_out3, over_test};
    FT_CHECK(ftune_trainer_new(c, NULL, recipe, over3, 3, &t) == FT_OK);
    FT_CHECK(ftune_trainer_set_data(t, "training", ds) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "'training'"));
    FT_CHECK(ftune_trainer_set_data(t, "train", ds) == FT_OK);
    ftune_dataset_free(ds); /* the run holds its copy */
    FT_CHECKF(ftune_trainer_run(t) == FT_OK, "%s", ftune_last_error(c));
    ftune_trainer_free(t);
    FT_CHECK(sh("cmp -s out/adapter_model.safetensors from_ds/adapter_model.safetensors") == 0);
    snprintf(over_out3, sizeof over_out3, "output_dir=%s/no_data", W);
    FT_CHECK(ftune_trainer_new(c, NULL, recipe, over3, 3, &t) == FT_OK);
    FT_CHECKF(ftune_trainer_run(t) == FT_ERR_CONFIG && strstr(ftune_last_error(c), "ftune_trainer_set_data"),
              "%s", ftune_last_error(c));
    ftune_trainer_free(t);
    ftune_dataset_free(ds2);

    /* several adapters over one base: a second classifier (3 classes, IA3) trained on the same base, both
     * added by name; each gives what loading it alone gives, switching back and forth */
    FT_CHECK(sh("for i in $(seq 40); do echo '{\"text\": \"good good\", \"label\": \"a\"}'; "
                "echo '{\"text\": \"bad awful\", \"label\": \"b\"}'; "
                "echo '{\"text\": \"the it\", \"label\": \"c\"}'; done > abc.jsonl") == 0);
    char out2[300], over_out2[320], over_data2[320];
    snprintf(out2, sizeof out2, "%s/abc", W);
    snprintf(over_out2, sizeof over_out2, "output_dir=%s", out2);
    snprintf(over_data2, sizeof over_data2, "data.train=%s/abc.jsonl", W);
    const char *over2[] = {over_model, over_data2, over_out2};
    const char *recipe2 =
        "task: classification\nmethod: ia3\ntrain: {max_steps: 4, batch_size: 6, seq_len: 8}\n"
        "optim: {lr: 1e-2}\nreport: {tensorboard: false}\n";
    FT_CHECK(ftune_trainer_new(c, NULL, recipe2, over2, 3, &t) == FT_OK);
    FT_CHECKF(t && ftune_trainer_run(t) == FT_OK, "%s", ftune_last_error(c));
    ftune_trainer_free(t);
    float pa[3], pb[3], qa[3], qb[3];
    int la = -1, lb = -1, ka = -2, kb = -2;
    ftune_model *ma = NULL, *mb = NULL, *mm = NULL;
    FT_CHECK(ftune_model_load(c, base, out, &ma) == FT_OK && ftune_model_load(c, base, out2, &mb) == FT_OK);
    FT_CHECK(ma && ftune_classify(ma, "good fine", &la, pa, 3) == FT_OK);
    FT_CHECK(mb && ftune_classify(mb, "bad awful", &lb, pb, 3) == FT_OK);
    FT_CHECK(ftune_model_load(c, base, NULL, &mm) == FT_OK);
    if (mm) {
        FT_CHECK(ftune_adapter_active(mm) == NULL);
        FT_CHECKF(ftune_adapter_add(mm, out, "sentiment") == FT_OK, "%s", ftune_last_error(c));
        FT_CHECKF(ftune_adapter_add(mm, out2, "abc") == FT_OK, "%s", ftune_last_error(c));
        FT_CHECK(ftune_adapter_active(mm) && !strcmp(ftune_adapter_active(mm), "abc"));
        ftune_model_info mi;
        FT_CHECK(ftune_model_get_info(mm, &mi) == FT_OK && mi.n_labels == 3 &&
                 !strcmp(mi.task, "classification"));
        FT_CHECK(ftune_classify(mm, "bad awful", &kb, qb, 3) == FT_OK && kb == lb &&
                 !memcmp(qb, pb, sizeof pb));
        FT_CHECK(ftune_model_label(mm, kb) && !strcmp(ftune_model_label(mm, kb), ftune_model_label(mb, lb)));
        FT_CHECK(ftune_adapter_activate(mm, "sentiment") == FT_OK);
        FT_CHECK(ftune_model_get_info(mm, &mi) == FT_OK && mi.n_labels == 2);
        FT_CHECK(ftune_classify(mm, "good fine", &ka, qa, 3) == FT_OK && ka == la &&
                 !memcmp(qa, pa, 2 * sizeof *pa));
        FT_CHECK(!strcmp(ftune_model_label(mm, 0), ftune_model_label(ma, 0)));
        FT_CHECK(ftune_adapter_activate(mm, "abc") == FT_OK &&
                 ftune_classify(mm, "bad awful", &kb, qb, 3) == FT_OK && !memcmp(qb, pb, sizeof pb));
        FT_CHECK(ftune_adapter_activate(mm, NULL) == FT_OK && ftune_adapter_active(mm) == NULL);
        FT_CHECK(ftune_model_get_info(mm, &mi) == FT_OK && !strcmp(mi.task, "causal_lm") && mi.n_labels == 0);
        FT_CHECKF(ftune_adapter_activate(mm, "nope") == FT_ERR_MISSING &&
                      strstr(ftune_last_error(c), "'nope'"),
                  "%s", ftune_last_error(c));
        const char *bad_names[] = {"../up", "", "a/b", "..", NULL};
        for (int i = 0; i < 5; i++)
            FT_CHECKF(ftune_adapter_add(mm, out, bad_names[i]) == FT_ERR_ARG &&
                          strstr(ftune_last_error(c), "1 to 64 characters"),
                      "%s: %s", bad_names[i] ? bad_names[i] : "NULL", ftune_last_error(c));
        FT_CHECKF(ftune_adapter_add(mm, out, "sentiment") != FT_OK && strstr(ftune_last_error(c), "already"),
                  "%s", ftune_last_error(c));
        FT_CHECKF(ftune_adapter_merge(mm) == FT_ERR_ARG &&
                      strstr(ftune_last_error(c), "named adapters share"),
                  "%s", ftune_last_error(c));
        ftune_model_free(mm);
    }
    ftune_model_free(ma);
    ftune_model_free(mb);
    /* named adapters need a bare base */
    FT_CHECK(ftune_model_load(c, base, out, &mm) == FT_OK);
    FT_CHECKF(mm && ftune_adapter_add(mm, out2, "abc") != FT_OK, "%s", ftune_last_error(c));
    ftune_model_free(mm);
    ftune_ctx_free(c);
    snprintf(cmd, sizeof cmd, "rm -rf %s", W);
    FT_CHECK(system(cmd) == 0);
}

/* A metric of that name in m[0..n), or NaN. */
static double metric(const ftune_metric *m, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].name, name))
            return m[i].value;
    return NAN;
}

static void on_eval_s2s(void *user, int64_t step, const ftune_metric *m, size_t n) {
    (void)step;
    double *v = user;
    v[0] = metric(m, n, "rougeL");
    v[1] = metric(m, n, "bleu");
    v[2] = metric(m, n, "exact_match");
}

/* task seq2seq through the API: a tiny T5 trained by ftune_trainer_run on string reversal; its evaluations
 * report the generated text's scores, ftune_model_evaluate agrees with the trainer's test split, and
 * ftune_generate writes from a source (encoded as training did). */
FT_TEST(train_seq2seq) {
    const char *ftb = getenv("FT_BIN");
    if (!ftb) {
        fprintf(stderr, "  (FT_BIN not set: skipped)\n");
        return;
    }
    snprintf(W, sizeof W, "/tmp/ft_test_api_s2s.%d", (int)getpid());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/tok", W);
    FT_CHECK(system(cmd) == 0);
    char path[400];
    snprintf(path, sizeof path, "%s/tok/tokenizer.json", W);
    FILE *f = fopen(path, "w");
    FT_CHECK(f && fputs(FT_TEST_T5_CHAR_TOKENIZER, f) >= 0 && fclose(f) == 0);
    FT_CHECK(sh("echo '{\"eos_token\": \"</s>\", \"pad_token\": \"<pad>\"}' > tok/tokenizer_config.json && "
                "for i in $(seq 30); do echo '{\"source\": \"ab cd\", \"target\": \"dc ba\"}'; "
                "echo '{\"source\": \"bad\", \"target\": \"dab\"}'; echo '{\"source\": \"e ca\", \"target\": "
                "\"ac e\"}'; done > s2s.jsonl && head -6 s2s.jsonl > s2s_test.jsonl") == 0);
    FT_CHECK(
        sh("echo '{\"vocab_size\": 16, \"d_model\": 32, \"d_kv\": 8, \"d_ff\": 48, \"num_layers\": 1, "
           "\"num_heads\": 4, \"relative_attention_num_buckets\": 8, \"relative_attention_max_distance\": "
           "16, \"dropout_rate\": 0}' > t5.json") == 0);
    snprintf(cmd, sizeof cmd, "%s init --arch t5 --config t5.json --out base --seed 2 > /dev/null", ftb);
    FT_CHECK(sh(cmd) == 0);
    char over[4][400];
    snprintf(over[0], sizeof over[0], "model=%s/base", W);
    snprintf(over[1], sizeof over[1], "tokenizer=%s/tok", W);
    snprintf(over[2], sizeof over[2], "data.train=%s/s2s.jsonl", W);
    snprintf(over[3], sizeof over[3], "output_dir=%s/out", W);
    const char *ov[] = {over[0], over[1], over[2], over[3]};
    const char *recipe =
        "task: seq2seq\ndata: {max_source_length: 12, max_target_length: 12, val_ratio: 0.1, "
        "test_ratio: 0.1}\ntrain: {max_steps: 60, batch_size: 8}\noptim: {lr: 1e-2}\n"
        "eval: {every: 30, generate_limit: 4}\nreport: {tensorboard: false, html: false}\n";
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    FT_CHECK(ftune_ctx_set_threads(c, 1) == FT_OK);
    ftune_trainer *t = NULL;
    double v[3] = {NAN, NAN, NAN};
    FT_CHECKF(ftune_trainer_new(c, NULL, recipe, ov, 4, &t) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECK(ftune_trainer_set_callbacks(t, NULL, NULL, on_eval_s2s, v) == FT_OK);
    FT_CHECKF(ftune_trainer_run(t) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECKF(v[0] >= 0 && v[0] <= 1 && v[1] >= 0 && v[2] >= 0, "rougeL %g bleu %g em %g", v[0], v[1], v[2]);
    ftune_metric *tm = NULL;
    size_t ntm = 0;
    FT_CHECKF(ftune_trainer_evaluate(t, "test", &tm, &ntm) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECK(!isnan(metric(tm, ntm, "rouge1")) && !isnan(metric(tm, ntm, "f1")) &&
             !isnan(metric(tm, ntm, "loss")));
    ftune_free(tm);
    ftune_trainer_free(t);

    /* the saved model: evaluation on a file and generation from a source */
    ftune_model *m = NULL;
    char out[320], test_file[320];
    snprintf(out, sizeof out, "%s/out", W);
    snprintf(test_file, sizeof test_file, "%s/s2s_test.jsonl", W);
    FT_CHECKF(ftune_model_load(c, out, NULL, &m) == FT_OK, "%s", ftune_last_error(c));
    if (m) {
        ftune_metric *em = NULL;
        size_t nem = 0, nex = 0;
        FT_CHECKF(ftune_model_evaluate(m, test_file, 0, &em, &nem, &nex) == FT_OK, "%s", ftune_last_error(c));
        FT_CHECK(nex == 6 && !isnan(metric(em, nem, "rougeL")) && !isnan(metric(em, nem, "bleu")));
        ftune_free(em);
        char *txt = NULL;
        const char *fin = NULL;
        FT_CHECKF(ftune_generate(m, "ab cd", NULL, NULL, NULL, &txt, NULL, NULL, &fin) == FT_OK, "%s",
                  ftune_last_error(c));
        FT_CHECK(txt && fin);
        ftune_free(txt);
        ftune_model_free(m);
    }
    ftune_ctx_free(c);
    snprintf(cmd, sizeof cmd, "rm -rf %s", W);
    FT_CHECK(system(cmd) == 0);
}

/* Write text to dir/name; returns the path in buf. */
static const char *put_file(char *buf, size_t n, const char *dir, const char *name, const char *text) {
    snprintf(buf, n, "%s/%s", dir, name);
    FILE *f = fopen(buf, "w");
    FT_CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0);
    return buf;
}

/* ftune score as a library call: sacreBLEU's README example (two references per sentence) from files and
 * from memory give the same numbers, JSON and report; the metrics' names and order; bad input named. */
FT_TEST(score) {
    char dir[64], hyp[128], r1[128], r2[128], num[128], bad[128];
    snprintf(dir, sizeof dir, "/tmp/ft_test_api_score.%d", (int)getpid());
    char cmd[160];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    FT_CHECK(system(cmd) == 0);
    const char *H[] = {"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."};
    const char *R[] = {"The dog bit the man.",  "The dog had bit the man.", "It was not unexpected.",
                       "No one was surprised.", "The man bit him first.",   "The man had bitten the dog."};
    put_file(hyp, sizeof hyp, dir, "hyp.txt",
             "The dog bit the man.\nIt wasn't surprising.\nThe man had just bitten him.\n");
    put_file(r1, sizeof r1, dir, "r1.txt",
             "The dog bit the man.\nIt was not unexpected.\nThe man bit him first.\n");
    put_file(r2, sizeof r2, dir, "r2.txt",
             "The dog had bit the man.\nNo one was surprised.\nThe man had bitten the dog.\n");
    put_file(num, sizeof num, dir, "num.txt", "1\n2\nthree\n");
    put_file(bad, sizeof bad, dir, "bad.jsonl", "\"ok\"\n\"broken\n\"ok\"\n");
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);

    const char *const *names = ftune_score_metrics();
    size_t nn = 0;
    while (names[nn])
        nn++;
    FT_CHECK(nn == 5 && !strcmp(names[0], "bleu") && !strcmp(names[4], "regression"));

    /* files: two reference files; memory: the same references through ref_off */
    const char *refs[] = {r1, r2};
    ftune_metric *fm = NULL, *mm = NULL;
    size_t nf = 0, nm = 0;
    char *fj = NULL, *fr = NULL, *mj = NULL, *mr = NULL;
    FT_CHECKF(ftune_score_files(c, "bleu", hyp, refs, 2, NULL, &fm, &nf, &fj, &fr) == FT_OK, "%s",
              ftune_last_error(c));
    const size_t off[] = {0, 2, 4, 6};
    FT_CHECKF(ftune_score_texts(c, "bleu", H, 3, R, off, NULL, &mm, &nm, &mj, &mr) == FT_OK, "%s",
              ftune_last_error(c));
    FT_CHECKF(fm && nf == 8 && fabs(metric(fm, nf, "bleu") - 48.530827) < 1e-5, "n %zu bleu %g", nf,
              fm ? metric(fm, nf, "bleu") : NAN);
    /* the JSON's keys in order, the 4 precisions expanded */
    const char *order[] = {"bleu",        "precision_1", "precision_2", "precision_3",
                           "precision_4", "bp",          "sys_len",     "ref_len"};
    for (size_t i = 0; fm && i < nf && i < 8; i++)
        FT_CHECKF(!strcmp(fm[i].name, order[i]), "%zu: %s", i, fm[i].name);
    FT_CHECK(nm == nf && mm && fm);
    for (size_t i = 0; mm && fm && i < nm && i < nf; i++)
        FT_CHECK(!strcmp(mm[i].name, fm[i].name) && mm[i].value == fm[i].value);
    FT_CHECK(fj && mj && !strcmp(fj, mj) && strstr(fj, "\"bleu\":48.5308270") && fj[0] == '{');
    FT_CHECK(fr && mr && !strcmp(fr, mr) && !strncmp(fr, "BLEU = 48.53 ", 13));
    ftune_free(fm), ftune_free(mm), ftune_free(fj), ftune_free(fr), ftune_free(mj), ftune_free(mr);

    /* every result is optional; one reference each without ref_off; options read up to struct_size */
    const char *R1[] = {R[0], R[2], R[4]};
    ftune_score_opts o;
    ftune_score_opts_init(&o);
    FT_CHECK(o.struct_size == sizeof o && o.stem == 0);
    double plain = NAN, stemmed = NAN;
    ftune_metric *x = NULL;
    size_t nx = 0;
    const char *S[] = {"the cats are running"}, *S_ref[] = {"a cat runs"};
    FT_CHECK(ftune_score_texts(c, "rouge", S, 1, S_ref, NULL, &o, &x, &nx, NULL, NULL) == FT_OK && nx == 4);
    plain = x ? metric(x, nx, "rouge1") : NAN;
    ftune_free(x);
    o.stem = 1; /* cats, running, runs: cat, run, run */
    FT_CHECK(ftune_score_texts(c, "rouge", S, 1, S_ref, NULL, &o, &x, &nx, NULL, NULL) == FT_OK);
    stemmed = x ? metric(x, nx, "rouge1") : NAN;
    ftune_free(x);
    FT_CHECKF(plain == 0 && stemmed > 0.5, "rouge1 %g, stemmed %g", plain, stemmed);
    FT_CHECK(ftune_score_texts(c, "rouge", H, 3, R1, NULL, &o, NULL, NULL, NULL, NULL) == FT_OK);
    o.struct_size = sizeof(size_t); /* an older caller's struct without stem */
    FT_CHECK(ftune_score_texts(c, "rouge", H, 3, R1, NULL, &o, &x, &nx, NULL, NULL) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "struct_size"));
    FT_CHECK(ftune_score_texts(c, "squad", H, 3, R1, NULL, NULL, NULL, NULL, NULL, NULL) == FT_OK);
    const char *P[] = {"b", "a", "a", "b"}, *T[] = {"a", "a", "b", "b"};
    FT_CHECK(ftune_score_texts(c, "classification", P, 4, T, NULL, NULL, &x, &nx, NULL, NULL) == FT_OK);
    FT_CHECK(nx == 10 && metric(x, nx, "accuracy") == 0.5 && !strcmp(x[0].name, "accuracy"));
    ftune_free(x);
    const char *Y[] = {"1", "2", "3"}, *Z[] = {"1", "2", "5"}, *Y1[] = {"4"};
    FT_CHECK(ftune_score_texts(c, "regression", Y, 3, Z, NULL, NULL, &x, &nx, NULL, NULL) == FT_OK);
    FT_CHECK(nx == 3 && fabs(metric(x, nx, "mse") - 4.0 / 3) < 1e-12 &&
             fabs(metric(x, nx, "mae") - 2.0 / 3) < 1e-12);
    ftune_free(x);
    /* r2 is undefined with one sample: NaN in the metrics, null in the JSON */
    char *j1 = NULL;
    FT_CHECK(ftune_score_texts(c, "regression", Y1, 1, Y1, NULL, NULL, &x, &nx, &j1, NULL) == FT_OK);
    FT_CHECK(nx == 3 && isnan(metric(x, nx, "r2")) && metric(x, nx, "mse") == 0 && j1 &&
             strstr(j1, "\"r2\":null"));
    ftune_free(x), ftune_free(j1);

    /* bad input: named, the outputs left NULL */
    x = (ftune_metric *)1;
    FT_CHECK(ftune_score_files(c, "blue", hyp, refs, 2, NULL, &x, &nx, NULL, NULL) == FT_ERR_ARG &&
             x == NULL);
    FT_CHECKF(strstr(ftune_last_error(c), "unknown metric 'blue' (known: bleu, rouge, squad, classification, "
                                          "regression)"),
              "%s", ftune_last_error(c));
    FT_CHECK(ftune_score_files(c, "regression", hyp, (const char *[]){num}, 1, NULL, NULL, NULL, NULL,
                               NULL) == FT_ERR_FORMAT &&
             strstr(ftune_last_error(c), "hyp.txt:1: not a number"));
    FT_CHECK(ftune_score_files(c, "rouge", hyp, (const char *[]){bad}, 1, NULL, NULL, NULL, NULL, NULL) !=
                 FT_OK &&
             strstr(ftune_last_error(c), "bad.jsonl:2: not a JSON value"));
    FT_CHECK(ftune_score_files(c, "bleu", "/nonexistent/p.txt", refs, 2, NULL, NULL, NULL, NULL, NULL) !=
                 FT_OK &&
             strstr(ftune_last_error(c), "/nonexistent/p.txt"));
    const char *N3[] = {"1", "x", "3"};
    FT_CHECK(ftune_score_texts(c, "regression", N3, 3, Y, NULL, NULL, NULL, NULL, NULL, NULL) ==
                 FT_ERR_FORMAT &&
             strstr(ftune_last_error(c), "predictions:2: not a number: 'x'"));
    FT_CHECK(ftune_score_texts(c, "regression", Y, 3, N3, NULL, NULL, NULL, NULL, NULL, NULL) ==
                 FT_ERR_FORMAT &&
             strstr(ftune_last_error(c), "references:2: not a number"));
    FT_CHECK(ftune_score_texts(c, "classification", H, 3, R, off, NULL, NULL, NULL, NULL, NULL) ==
                 FT_ERR_FORMAT &&
             strstr(ftune_last_error(c), "exactly one reference"));
    const size_t off_empty[] = {0, 2, 2, 4};
    FT_CHECK(ftune_score_texts(c, "bleu", H, 3, R, off_empty, NULL, NULL, NULL, NULL, NULL) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "example 2 has no reference"));
    const char *Hn[] = {"a", NULL};
    FT_CHECK(ftune_score_texts(c, "bleu", Hn, 2, R, NULL, NULL, NULL, NULL, NULL, NULL) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "prediction 2 is NULL"));
    FT_CHECK(ftune_score_texts(c, "bleu", H, 0, R, NULL, NULL, NULL, NULL, NULL, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_score_texts(c, "bleu", H, 3, R, NULL, NULL, &x, NULL, NULL, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_score_texts(NULL, "bleu", H, 3, R, NULL, NULL, NULL, NULL, NULL, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_score_files(c, NULL, hyp, refs, 2, NULL, NULL, NULL, NULL, NULL) == FT_ERR_ARG);
    ftune_ctx_free(c);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    FT_CHECK(system(cmd) == 0);
}

/* `ftune image` as library calls: probe a PNG (a 1x1 RGBA pixel, 0 0 255 127) and IDX images and labels, an
 * older caller's shorter info struct, preprocessing with a config file and with a written default config, an
 * IDX file's second image, the float file, and the errors. */
FT_TEST(image_files) {
    static const unsigned char png[] = {
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
        0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
        0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78,
        0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f, 0x0f, 0x00, 0x02, 0x87, 0x01, 0x80, 0xeb, 0x47,
        0xba, 0x92, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
    /* idx3: two 4x3 images, bytes 0..23; idx1: three labels */
    unsigned char idx3[16 + 24] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 3},
                            idx1[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3};
    for (int i = 0; i < 24; i++)
        idx3[16 + i] = (unsigned char)i;
    char dir[64], pp[128], xp[128], lp[128], cp[128], dp[128], op[128];
    snprintf(dir, sizeof dir, "/tmp/ft_test_api_img.%d", (int)getpid());
    char cmd[160];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    FT_CHECK(system(cmd) == 0);
    struct {
        char *path;
        const char *name;
        const unsigned char *b;
        size_t n;
    } files[] = {{pp, "a.png", png, sizeof png},
                 {xp, "two.idx3", idx3, sizeof idx3},
                 {lp, "l.idx1", idx1, sizeof idx1}};
    for (size_t i = 0; i < 3; i++) {
        snprintf(files[i].path, 128, "%s/%s", dir, files[i].name);
        FILE *f = fopen(files[i].path, "wb");
        FT_CHECK(f && fwrite(files[i].b, 1, files[i].n, f) == files[i].n && fclose(f) == 0);
    }
    put_file(cp, sizeof cp, dir, "raw.json",
             "{\"size\": {\"height\": 4, \"width\": 3}, \"do_rescale\": false, "
             "\"do_normalize\": false}\n");
    snprintf(dp, sizeof dp, "%s/pp.json", dir);
    snprintf(op, sizeof op, "%s/px.bin", dir);
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);

    ftune_image_info in;
    ftune_image_info_init(&in);
    FT_CHECK(in.struct_size == sizeof in);
    FT_CHECKF(ftune_image_probe(c, pp, &in) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECK(!strcmp(in.format, "PNG") && !strcmp(in.mode, "RGBA") && in.width == 1 && in.height == 1 &&
             in.bit_depth == 8 && in.alpha == 1 && in.interlaced == 0 && in.count == 1 &&
             in.struct_size == sizeof in);
    FT_CHECK(ftune_image_probe(c, xp, &in) == FT_OK);
    FT_CHECK(!strcmp(in.format, "IDX") && !strcmp(in.mode, "L") && in.width == 3 && in.height == 4 &&
             in.count == 2);
    FT_CHECK(ftune_image_probe(c, lp, &in) == FT_OK && !strcmp(in.mode, "labels") && in.count == 3);
    /* an older caller's struct ends after mode: nothing beyond it is written */
    in.struct_size = offsetof(ftune_image_info, width);
    in.width = -7;
    FT_CHECK(ftune_image_probe(c, pp, &in) == FT_OK && !strcmp(in.mode, "RGBA") && in.width == -7 &&
             in.struct_size == offsetof(ftune_image_info, width));
    in.struct_size = 4;
    FT_CHECK(ftune_image_probe(c, pp, &in) == FT_ERR_ARG && strstr(ftune_last_error(c), "struct_size"));
    ftune_image_info_init(&in);
    FT_CHECK(ftune_image_probe(c, cp, &in) == FT_ERR_UNSUPPORTED &&
             strstr(ftune_last_error(c), "raw.json: not a PNG"));

    /* the IDX file's second image through a config without rescaling: its bytes come back, also in the file
     */
    ftune_image_opts o;
    ftune_image_opts_init(&o);
    FT_CHECK(o.struct_size == sizeof o && o.channels == 3 && o.resample == -1 && o.size == 0 && !o.config);
    o.config = cp, o.channels = 1, o.index = 1, o.out = op;
    float *px = NULL;
    int shape[3] = {0, 0, 0};
    FT_CHECKF(ftune_image_preprocess(c, xp, &o, &px, shape) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECK(px && shape[0] == 1 && shape[1] == 4 && shape[2] == 3);
    for (int i = 0; px && i < 12; i++)
        FT_CHECKF(px[i] == (float)(12 + i), "%d: %g", i, (double)px[i]);
    float fbuf[13];
    FILE *f = fopen(op, "rb");
    FT_CHECK(f && fread(fbuf, sizeof(float), 13, f) == 12 && fclose(f) == 0);
    FT_CHECK(px && !memcmp(fbuf, px, 12 * sizeof(float)));
    ftune_free(px);
    o.index = 2;
    px = (float *)1;
    FT_CHECK(ftune_image_preprocess(c, xp, &o, &px, shape) == FT_ERR_RANGE && px == NULL &&
             strstr(ftune_last_error(c), "two.idx3: image index 2 out of range (2 images)"));
    o.index = 1, o.out = NULL;
    FT_CHECK(ftune_image_preprocess(c, pp, &o, NULL, NULL) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "a.png: image index 1 of a single image"));

    /* the default config, written, then used: the pixel as RGB (alpha dropped), resized 1 -> 2, normalized */
    FT_CHECKF(ftune_image_config_write(c, dp, 2, 3, 2) == FT_OK, "%s", ftune_last_error(c));
    ftune_image_opts_init(&o);
    o.config = dp;
    FT_CHECKF(ftune_image_preprocess(c, pp, &o, &px, shape) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECK(shape[0] == 3 && shape[1] == 2 && shape[2] == 2);
    for (int i = 0; i < 4; i++)
        FT_CHECK(px[i] == -1.0f && px[4 + i] == -1.0f && px[8 + i] == 1.0f);
    ftune_free(px);
    o.size = 5, o.resample = 0; /* overrides of the config */
    FT_CHECK(ftune_image_preprocess(c, pp, &o, &px, shape) == FT_OK && shape[1] == 5 && shape[2] == 5 &&
             px[24] == -1.0f && px[74] == 1.0f);
    ftune_free(px);
    o.augment = 1, o.seed = 3; /* a 1x1 image: every crop is the pixel */
    FT_CHECK(ftune_image_preprocess(c, pp, &o, &px, shape) == FT_OK && px[0] == -1.0f && px[50] == 1.0f);
    ftune_free(px);

    /* errors */
    o.resample = 9;
    FT_CHECK(ftune_image_preprocess(c, pp, &o, &px, shape) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "resample 9"));
    ftune_image_opts_init(&o);
    o.channels = 2;
    FT_CHECK(ftune_image_preprocess(c, pp, &o, &px, shape) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "channels 2"));
    ftune_image_opts_init(&o);
    o.config = "/nonexistent/pp.json";
    FT_CHECK(ftune_image_preprocess(c, pp, &o, &px, shape) == FT_ERR_IO &&
             strstr(ftune_last_error(c), "/nonexistent/pp.json"));
    o.struct_size = 8;
    FT_CHECK(ftune_image_preprocess(c, pp, &o, &px, shape) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "struct_size"));
    FT_CHECK(ftune_image_preprocess(c, NULL, NULL, &px, shape) == FT_ERR_ARG);
    FT_CHECK(ftune_image_preprocess(NULL, pp, NULL, &px, shape) == FT_ERR_ARG);
    FT_CHECK(ftune_image_config_write(c, dp, 0, 3, 2) == FT_ERR_ARG && strstr(ftune_last_error(c), "size 0"));
    FT_CHECK(ftune_image_config_write(c, dp, 2, 3, 6) == FT_ERR_ARG);
    FT_CHECK(ftune_image_config_write(c, "/nonexistent/dir/pp.json", 2, 3, 2) == FT_ERR_IO);
    FT_CHECK(ftune_image_probe(c, "/nonexistent/x.png", &in) == FT_ERR_IO &&
             strstr(ftune_last_error(c), "/nonexistent/x.png"));
    ftune_ctx_free(c);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    FT_CHECK(system(cmd) == 0);
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    long len = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (b = malloc((size_t)len + 1)) && fread(b, 1, (size_t)len, f) == (size_t)len)
        b[len] = '\0';
    else
        free(b), b = NULL;
    if (f)
        fclose(f);
    *n = b ? (size_t)len : 0;
    return b;
}

/* Train a tokenizer (2 specials, 15 merges at most) with `threads` threads from text in memory and a JSONL
 * file into dir; returns the stats. */
static ftune_status train_tok(ftune_ctx *c, const char *text, const char *jsonl, const char *dir, int threads,
                              ftune_tokenizer_train_stats *st) {
    const char *sp[] = {"<|endoftext|>", "<pad>"};
    ftune_tokenizer_train_opts o;
    ftune_tokenizer_train_opts_init(&o);
    o.vocab_size = 256 + 2 + 15;
    o.special = sp, o.n_special = 2, o.threads = threads, o.model_max_length = 77;
    ftune_tokenizer_trainer *t = NULL;
    ftune_status s = ftune_tokenizer_trainer_new(c, &o, &t);
    if (s == FT_OK)
        s = ftune_tokenizer_trainer_add_text(t, text, strlen(text));
    if (s == FT_OK)
        s = ftune_tokenizer_trainer_add_jsonl(t, jsonl, NULL);
    if (s == FT_OK)
        s = ftune_tokenizer_trainer_run(t);
    if (s == FT_OK)
        s = ftune_tokenizer_trainer_save(t, dir);
    st->struct_size = sizeof *st;
    if (s == FT_OK)
        s = ftune_tokenizer_trainer_get_stats(t, st);
    ftune_tokenizer_trainer_free(t);
    return s;
}

/* `ftune tokenizer train` as library calls: a vocabulary learned from memory and a JSONL file, the same bytes
 * with 1 and 3 threads, the written tokenizer loaded and used (special tokens first, merges applied), the
 * stats, and the refusals. */
FT_TEST(tokenizer_training) {
    char dir[64], jl[128], d1[128], d3[128], cfg[160], cmd[160];
    snprintf(dir, sizeof dir, "/tmp/ft_test_api_toktrain.%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    FT_CHECK(system(cmd) == 0);
    put_file(jl, sizeof jl, dir, "t.jsonl",
             "{\"text\": \"the theme of the thesis\"}\n\n{\"text\": \"then\"}\n");
    snprintf(d1, sizeof d1, "%s/t1", dir);
    snprintf(d3, sizeof d3, "%s/t3", dir);
    char text[4096] = "";
    for (int i = 0; i < 40; i++)
        strcat(text, i % 2 ? "the cat sat on the mat<|endoftext|>\n" : "then the rat ate the hat\n");
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    ftune_tokenizer_train_stats s1, s3;
    FT_CHECKF(train_tok(c, text, jl, d1, 1, &s1) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECKF(train_tok(c, text, jl, d3, 3, &s3) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECK(s1.sequences == 42 && s1.merges == 15 && s1.vocab_size == 273 && s1.bytes == strlen(text) + 54 &&
             !strcmp(s1.stop, "vocab size reached") && s1.words > s1.distinct_words && s1.distinct_words > 5);
    FT_CHECK(s3.sequences == s1.sequences && s3.words == s1.words && s3.merges == s1.merges);
    const char *names[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        char p1[200], p3[200];
        snprintf(p1, sizeof p1, "%s/%s", d1, names[i]);
        snprintf(p3, sizeof p3, "%s/%s", d3, names[i]);
        size_t n1, n3;
        char *b1 = slurp(p1, &n1), *b3 = slurp(p3, &n3);
        FT_CHECKF(b1 && b3 && n1 == n3 && !memcmp(b1, b3, n1), "%s differs between 1 and 3 threads",
                  names[i]);
        if (i == 1)
            FT_CHECK(b1 && strstr(b1, "\"model_max_length\": 77") && strstr(b1, "\"pad_token\": \"<pad>\""));
        free(b1), free(b3);
    }
    ftune_tokenizer *tok = NULL;
    FT_CHECKF(ftune_tokenizer_load(c, d1, &tok) == FT_OK, "%s", ftune_last_error(c));
    if (tok) {
        FT_CHECK(ftune_tokenizer_vocab_size(tok) == 273);
        size_t len;
        const char *t0 = ftune_token_text(tok, 0, &len);
        FT_CHECK(t0 && !strcmp(t0, "<|endoftext|>"));
        int32_t *ids = NULL;
        size_t n = 0;
        const char *in = "the cat<|endoftext|>";
        FT_CHECK(ftune_tokenize(tok, in, strlen(in), 0, &ids, NULL, &n) == FT_OK);
        FT_CHECKF(n >= 3 && n < 8 && ids[n - 1] == 0, "%zu ids", n); /* merged: fewer ids than bytes */
        char *back = NULL;
        FT_CHECK(ftune_detokenize(tok, ids, n, 0, &back) == FT_OK && back && !strcmp(back, in));
        ftune_free(back);
        ftune_free(ids);
        ftune_tokenizer_free(tok);
    }

    /* refusals */
    ftune_tokenizer_train_opts o;
    ftune_tokenizer_train_opts_init(&o);
    FT_CHECK(o.struct_size == sizeof o && o.vocab_size == 16000 && o.min_frequency == 2 &&
             o.model_max_length == 2048);
    ftune_tokenizer_trainer *t = NULL;
    o.vocab_size = 100;
    FT_CHECK(ftune_tokenizer_trainer_new(c, &o, &t) == FT_ERR_ARG && t == NULL &&
             strstr(ftune_last_error(c), "vocab size 100"));
    o.vocab_size = 300;
    o.struct_size = 8;
    FT_CHECK(ftune_tokenizer_trainer_new(c, &o, &t) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "struct_size"));
    ftune_tokenizer_train_opts_init(&o);
    char role[8] = "<s>";
    const char *sp[] = {"<s>"};
    o.special = sp, o.n_special = 1, o.bos = role, o.add_bos = 1, o.vocab_size = 270;
    FT_CHECKF(ftune_tokenizer_trainer_new(c, &o, &t) == FT_OK, "%s", ftune_last_error(c));
    strcpy(role, "xx"); /* the role was copied */
    ftune_tokenizer_train_stats st;
    st.struct_size = sizeof st;
    FT_CHECK(ftune_tokenizer_trainer_save(t, d1) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "save before run"));
    FT_CHECK(ftune_tokenizer_trainer_add_text(t, "ok\n\xff bad\n", 8) != FT_OK &&
             strstr(ftune_last_error(c), "text:2"));
    FT_CHECK(ftune_tokenizer_trainer_add_file(t, "/nonexistent/c.txt") == FT_ERR_IO &&
             strstr(ftune_last_error(c), "/nonexistent/c.txt"));
    FT_CHECK(ftune_tokenizer_trainer_add_jsonl(t, jl, "body") != FT_OK &&
             strstr(ftune_last_error(c), "'body'"));
    FT_CHECK(ftune_tokenizer_trainer_add_text(t, "aa bb aa bb\n", 12) == FT_OK);
    FT_CHECK(ftune_tokenizer_trainer_run(t) == FT_OK);
    FT_CHECK(ftune_tokenizer_trainer_run(t) == FT_ERR_ARG && strstr(ftune_last_error(c), "already trained"));
    FT_CHECK(ftune_tokenizer_trainer_add_text(t, "x\n", 2) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "after"));
    st.struct_size = 0;
    FT_CHECK(ftune_tokenizer_trainer_get_stats(t, &st) == FT_ERR_ARG);
    FT_CHECK(ftune_tokenizer_trainer_get_stats(t, NULL) == FT_ERR_ARG);
    st.struct_size = sizeof st;
    FT_CHECK(ftune_tokenizer_trainer_get_stats(t, &st) == FT_OK && st.sequences == 1 &&
             !strcmp(st.stop, "min frequency"));
    FT_CHECK(ftune_tokenizer_trainer_save(t, d1) == FT_OK);
    ftune_tokenizer_trainer_free(t);
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", d1);
    size_t n;
    char *b = slurp(cfg, &n);
    FT_CHECK(b && strstr(b, "\"bos_token\": \"<s>\""));
    free(b);
    FT_CHECK(ftune_tokenizer_trainer_add_text(NULL, "x", 1) == FT_ERR_ARG);
    FT_CHECK(ftune_tokenizer_trainer_new(NULL, NULL, &t) == FT_ERR_ARG);
    ftune_tokenizer_trainer_free(NULL);
    ftune_ctx_free(c);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    FT_CHECK(system(cmd) == 0);
}

/* Question answering: a tiny BERT trained through the API on generated SQuAD-style data, then
 * ftune_answer_question against `ftune predict --json` on the same model (the same answer and numbers). */
FT_TEST(question_answering) {
    const char *ftb = getenv("FT_BIN"), *src = getenv("FT_SRC");
    if (!ftb || !src) {
        fprintf(stderr, "  (FT_BIN / FT_SRC not set: skipped)\n");
        return;
    }
    snprintf(W, sizeof W, "/tmp/ft_test_api_qa.%d", (int)getpid());
    char cmd[1400];
    snprintf(
        cmd, sizeof cmd,
        "mkdir -p %s && cd %s && /usr/bin/python3 %s/scripts/gen_qa_data.py d --train 300 --validation 20 "
        "--test 20 --people-min 1 --people-max 1 > /dev/null && V=$(wc -l < d/vocab.txt) && echo "
        "\"{\\\"vocab_size\\\": $V, \\\"hidden_size\\\": 32, \\\"num_hidden_layers\\\": 1, "
        "\\\"num_attention_heads\\\": 4, \\\"intermediate_size\\\": 64, \\\"max_position_embeddings\\\": 64, "
        "\\\"type_vocab_size\\\": 2}\" > bert.json && %s init --arch bert --config bert.json --out base "
        "--seed 3 > /dev/null && cp d/vocab.txt base/",
        W, W, src, ftb);
    FT_CHECK(system(cmd) == 0);
    char over[3][400];
    snprintf(over[0], sizeof over[0], "model=%s/base", W);
    snprintf(over[1], sizeof over[1], "data.train=%s/d/train.json", W);
    snprintf(over[2], sizeof over[2], "output_dir=%s/out", W);
    const char *ov[] = {over[0], over[1], over[2]};
    const char *recipe =
        "task: question_answering\ndata: {doc_stride: 16}\ntrain: {max_steps: 20, batch_size: "
        "16, seq_len: 40}\noptim: {lr: 1e-3}\neval: {every: 0}\nreport: {tensorboard: false, "
        "html: false}\n";
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    ftune_trainer *t = NULL;
    FT_CHECKF(ftune_trainer_new(c, NULL, recipe, ov, 3, &t) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECKF(ftune_trainer_run(t) == FT_OK, "%s", ftune_last_error(c));
    ftune_trainer_free(t);
    char out[320];
    snprintf(out, sizeof out, "%s/out", W);
    ftune_model *m = NULL;
    FT_CHECKF(ftune_model_load(c, out, NULL, &m) == FT_OK, "%s", ftune_last_error(c));
    const char *q = "In which city was Ada Keller born?",
               *ctxt = "Ada Keller was born in Paris in 1950. Ada Keller works as a pilot in Oslo.";
    if (m) {
        FT_CHECK(ftune_model_has_tokenizer(m) == 1 && ftune_model_has_tokenizer(NULL) == 0);
        char *ans = NULL;
        double score = NAN, prob = NAN, null_score = NAN;
        FT_CHECKF(ftune_answer_question(m, q, ctxt, NULL, &ans, &score, &prob, &null_score) == FT_OK, "%s",
                  ftune_last_error(c));
        FT_CHECK(ans && strstr(ctxt, ans) && prob > 0 && prob <= 1 && isfinite(score) &&
                 isfinite(null_score));
        /* the command on the same model */
        snprintf(cmd, sizeof cmd, "%s predict --model out --question '%s' --context '%s' --json > qa.json",
                 ftb, q, ctxt);
        FT_CHECK(sh(cmd) == 0);
        char path[400], line[2048] = "";
        snprintf(path, sizeof path, "%s/qa.json", W);
        FILE *f = fopen(path, "r");
        FT_CHECK(f && fgets(line, sizeof line, f));
        if (f)
            fclose(f);
        char want[600];
        snprintf(want, sizeof want, "{\"answer\":\"%s\",", ans ? ans : "");
        const char *sc = strstr(line, "\"score\":"), *pr = strstr(line, "\"prob\":");
        FT_CHECKF(!strncmp(line, want, strlen(want)) && sc && pr &&
                      fabs(strtod(sc + 8, NULL) - score) <= 1e-13 * fabs(score) &&
                      fabs(strtod(pr + 7, NULL) - prob) <=
                          1e-13 * prob, /* cJSON: 15 digits when they read back close */
                  "%s vs answer '%s' score %.17g prob %.17g", line, ans ? ans : "", score, prob);
        ftune_free(ans);
        /* a one-token answer at most; every output optional */
        ftune_qa_opts o;
        ftune_qa_opts_init(&o);
        FT_CHECK(o.struct_size == sizeof o && o.n_best == 0 && o.max_answer_length == 0);
        o.max_answer_length = 1, o.n_best = 5;
        FT_CHECK(ftune_answer_question(m, q, ctxt, &o, &ans, NULL, NULL, NULL) == FT_OK && ans &&
                 !strchr(ans, ' ') && strstr(ctxt, ans));
        ftune_free(ans);
        FT_CHECK(ftune_answer_question(m, q, ctxt, &o, NULL, NULL, NULL, NULL) == FT_OK);
        /* refusals */
        o.n_best = -1;
        FT_CHECK(ftune_answer_question(m, q, ctxt, &o, &ans, NULL, NULL, NULL) == FT_ERR_ARG && !ans);
        o.struct_size = 4;
        FT_CHECK(ftune_answer_question(m, q, ctxt, &o, &ans, NULL, NULL, NULL) == FT_ERR_ARG &&
                 strstr(ftune_last_error(c), "struct_size"));
        FT_CHECK(ftune_answer_question(m, NULL, ctxt, NULL, &ans, NULL, NULL, NULL) == FT_ERR_ARG);
        FT_CHECK(ftune_answer_question(NULL, q, ctxt, NULL, &ans, NULL, NULL, NULL) == FT_ERR_ARG);
        int label;
        FT_CHECK(ftune_classify(m, q, &label, NULL, 0) == FT_ERR_ARG);
        ftune_model_free(m);
    }
    char base[320];
    snprintf(base, sizeof base, "%s/base", W);
    FT_CHECK(ftune_model_load(c, base, NULL, &m) == FT_OK);
    if (m) {
        char *ans = NULL;
        FT_CHECK(ftune_answer_question(m, q, ctxt, NULL, &ans, NULL, NULL, NULL) == FT_ERR_ARG && !ans &&
                 strstr(ftune_last_error(c), "not question_answering"));
        ftune_model_free(m);
    }
    ftune_ctx_free(c);
    snprintf(cmd, sizeof cmd, "rm -rf %s", W);
    FT_CHECK(system(cmd) == 0);
}

int main(void) {
    FT_RUN(version_and_abi);
    FT_RUN(null_arguments);
    FT_RUN(errors_per_context);
    FT_RUN(recipe_errors);
    FT_RUN(train_step_by_step_and_use);
    FT_RUN(train_seq2seq);
    FT_RUN(score);
    FT_RUN(image_files);
    FT_RUN(tokenizer_training);
    FT_RUN(question_answering);
    FT_DONE();
}
