/* The public API of `ftune train`'s run (include/ftune.h, FTUNE_HAS_TRAINER_OPTS), as a client sees it:
 * ftune_trainer_create with its options, the recipe built key by key (origins in the messages, a later key
 * fixing an earlier one), ftune_recipe_help, the command's texts through on_output (summary, memory plan,
 * test line, saved), a dry run, the end of the run by ftune_trainer_finish, a stop requested from a signal
 * handler, a plan that does not fit, and ftune_trainer_get_state; the report files `ftune compare` writes
 * (ftune_html_report_write, ftune_json_file_write, ftune_mkdir_p, ftune_trainer_get_key). Only ftune.h is
 * included. */
#include <math.h>
#include <signal.h>
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

static bool exists(const char *dir, const char *name) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s/%s", W, dir, name);
    return access(p, F_OK) == 0;
}

/* on_output's texts, by stream */
typedef struct {
    char out[16384], err[4096];
    int n_calls, bad_stream, not_line;
    ftune_trainer *stop_t; /* with stop_at: raise SIGUSR1 at that step */
    int64_t stop_at;
} texts;

static void on_output(void *user, int stream, const char *text) {
    texts *x = user;
    x->n_calls++;
    char *b = stream == FTUNE_STDOUT ? x->out : stream == FTUNE_STDERR ? x->err : NULL;
    if (!b) {
        x->bad_stream++;
        return;
    }
    const size_t cap = stream == FTUNE_STDOUT ? sizeof x->out : sizeof x->err, n = strlen(b);
    snprintf(b + n, cap - n, "%s", text);
    x->not_line += text[0] == '\0' || text[strlen(text) - 1] != '\n';
}

static ftune_trainer *volatile g_t;
static void on_usr1(int sig) {
    (void)sig;
    ftune_trainer_request_stop(g_t); /* async-signal-safe */
}
static void on_progress(void *user, const ftune_progress *p) {
    texts *x = user;
    if (x->stop_at && p->step == x->stop_at)
        raise(SIGUSR1);
}

static const char *RECIPE = "model: base\ntask: classification\noutput_dir: %s\n"
                            "data: {train: train.jsonl, validation: val.jsonl, test: test.jsonl}\n"
                            "train: {max_steps: 6, batch_size: 4, seq_len: 8}\neval: {every: 3}\n"
                            "optim: {lr: 1e-2}\nreport: {tensorboard: false, progress: quiet}\n";

/* a trainer of `ftune train`'s run on RECIPE with output_dir out, from the work directory */
static ftune_trainer *cmd_trainer(ftune_ctx *c, texts *x, const char *out, int dry_run, int separate) {
    ftune_trainer_opts o;
    ftune_trainer_opts_init(&o);
    o.command = 1;
    o.on_output = on_output;
    o.output_user = x;
    o.dry_run = dry_run;
    o.separate_finish = separate;
    ftune_trainer *t = NULL;
    if (ftune_trainer_create(c, &o, &t) != FT_OK)
        return NULL;
    char path[400], yaml[1024];
    snprintf(path, sizeof path, "%s/r.yaml", W);
    snprintf(yaml, sizeof yaml, RECIPE, out);
    FILE *f = fopen(path, "w");
    if (!f) {
        ftune_trainer_free(t);
        return NULL;
    }
    fputs(yaml, f);
    fclose(f);
    if (ftune_trainer_load_recipe(t, path) != FT_OK) {
        ftune_trainer_free(t);
        return NULL;
    }
    return t;
}

FT_TEST(opts_state_and_arguments) {
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    ftune_trainer_opts o;
    ftune_trainer_opts_init(&o);
    FT_CHECK(o.struct_size == sizeof o && !o.command && !o.on_output && !o.progress && !o.distributed &&
             !o.dry_run && !o.separate_finish);
    ftune_trainer *t = (ftune_trainer *)1;
    FT_CHECK(ftune_trainer_create(NULL, &o, &t) == FT_ERR_ARG);
    o.struct_size = 0;
    FT_CHECK(ftune_trainer_create(c, &o, &t) == FT_ERR_ARG && !t);
    FT_CHECKF(strstr(ftune_last_error(c), "ftune_trainer_opts.struct_size 0"), "%s", ftune_last_error(c));
    FT_CHECK(ftune_trainer_create(c, NULL, &t) == FT_OK && t); /* NULL: the defaults */
    ftune_trainer_state st;
    ftune_trainer_state_init(&st);
    FT_CHECK(st.struct_size == sizeof st);
    FT_CHECK(ftune_trainer_get_state(t, &st) == FT_OK && st.world == 1 && st.rank == 0 && !st.prepared &&
             !st.done && !st.finished && !st.stopped && st.step == 0 && st.checkpoint && !st.checkpoint[0]);
    st.struct_size = 4;
    FT_CHECK(ftune_trainer_get_state(t, &st) == FT_ERR_ARG);
    FT_CHECK(ftune_trainer_get_state(NULL, &st) == FT_ERR_ARG &&
             ftune_trainer_get_state(t, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_trainer_load_recipe(NULL, "x") == FT_ERR_ARG &&
             ftune_trainer_set_key(NULL, "a", "b", NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_trainer_override(NULL, "a=b") == FT_ERR_ARG && ftune_trainer_finish(NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_trainer_load_recipe(t, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_trainer_set_key(t, "model", NULL, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_trainer_override(t, NULL) == FT_ERR_ARG);
    /* finishing a run that has not ended */
    FT_CHECK(ftune_trainer_finish(t) == FT_ERR_ARG && strstr(ftune_last_error(c), "has not ended"));
    ftune_trainer_free(t);
    FT_CHECK(ftune_recipe_help(NULL, NULL) == FT_ERR_ARG);
    char *help = NULL;
    FT_CHECK(ftune_recipe_help(c, &help) == FT_OK && help);
    FT_CHECK(help && strstr(help, "optim.lr") && strstr(help, "train.max_steps") && strstr(help, "lora.r"));
    ftune_free(help);
    ftune_ctx_free(c);
}

FT_TEST(recipe_key_by_key) {
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    ftune_trainer *t = NULL;
    FT_CHECK(ftune_trainer_create(c, NULL, &t) == FT_OK);
    /* the origin names the key's source; NULL: "command line" */
    FT_CHECK(ftune_trainer_set_key(t, "optim.lrr", "1", "--lr") == FT_ERR_CONFIG);
    FT_CHECKF(strstr(ftune_last_error(c), "--lr: unknown key 'optim.lrr' (did you mean 'optim.lr'?)"), "%s",
              ftune_last_error(c));
    FT_CHECK(ftune_trainer_set_key(t, "precision", "fp16", "--precision") != FT_OK);
    FT_CHECKF(strstr(ftune_last_error(c), "--precision"), "%s", ftune_last_error(c));
    FT_CHECK(ftune_trainer_override(t, "bogus.key=1") == FT_ERR_CONFIG);
    FT_CHECKF(strstr(ftune_last_error(c), "command line: unknown key 'bogus.key'"), "%s",
              ftune_last_error(c));
    FT_CHECK(ftune_trainer_load_recipe(t, "/nonexistent/r.yaml") == FT_ERR_IO);
    /* nothing is checked before the run: a bad value may be fixed by a later key */
    FT_CHECK(ftune_trainer_set_key(t, "optim.lr", "-1", NULL) == FT_OK);
    FT_CHECK(ftune_trainer_override(t, "optim.lr=1e-3") == FT_OK);
    FT_CHECK(ftune_trainer_set_key(t, "output_dir", "/nonexistent/out", NULL) == FT_OK);
    /* prepare checks the recipe: the model is missing */
    FT_CHECK(ftune_trainer_prepare(t) == FT_ERR_CONFIG);
    FT_CHECKF(strstr(ftune_last_error(c), "'model' is required"), "%s", ftune_last_error(c));
    FT_CHECK(ftune_trainer_set_key(t, "model", "m", NULL) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "the run has started"));
    ftune_trainer_free(t);

    /* a bad value no later key fixes fails the prepare, naming it */
    FT_CHECK(ftune_trainer_create(c, NULL, &t) == FT_OK);
    FT_CHECK(ftune_trainer_override(t, "model=/nonexistent/m") == FT_OK);
    FT_CHECK(ftune_trainer_override(t, "output_dir=/nonexistent/o") == FT_OK);
    FT_CHECK(ftune_trainer_override(t, "optim.lr=-1") == FT_OK);
    FT_CHECK(ftune_trainer_prepare(t) == FT_ERR_CONFIG);
    FT_CHECKF(strstr(ftune_last_error(c), "optim.lr must be > 0"), "%s", ftune_last_error(c));
    ftune_trainer_free(t);

    /* the command's check: data.train is required, in its words (ftune_trainer_new's names set_data) */
    ftune_trainer_opts o;
    ftune_trainer_opts_init(&o);
    o.command = 1;
    FT_CHECK(ftune_trainer_create(c, &o, &t) == FT_OK);
    FT_CHECK(ftune_trainer_override(t, "model=/nonexistent/m") == FT_OK &&
             ftune_trainer_override(t, "output_dir=/nonexistent/o") == FT_OK);
    FT_CHECK(ftune_trainer_prepare(t) == FT_ERR_CONFIG);
    FT_CHECKF(!strcmp(ftune_last_error(c), "recipe: 'data.train' is required"), "%s", ftune_last_error(c));
    /* get_state leaves the context's error as it is */
    ftune_trainer_state st;
    ftune_trainer_state_init(&st);
    FT_CHECK(ftune_trainer_get_state(t, &st) == FT_OK && !st.prepared);
    FT_CHECK(!strcmp(ftune_last_error(c), "recipe: 'data.train' is required"));
    FT_CHECK(ftune_trainer_step(t, NULL) == FT_ERR_ARG && strstr(ftune_last_error(c), "failed earlier"));
    ftune_trainer_free(t);
    ftune_ctx_free(c);
}

FT_TEST(command_run) {
    const char *ftb = getenv("FT_BIN");
    if (!ftb) {
        fprintf(stderr, "  (FT_BIN not set: skipped)\n");
        return;
    }
    snprintf(W, sizeof W, "/tmp/ft_test_api_train.%d", (int)getpid());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", W, W);
    FT_CHECK(system(cmd) == 0);
    FT_CHECK(
        sh("printf '[PAD]\\n[UNK]\\n[CLS]\\n[SEP]\\ngood\\nbad\\nfine\\nawful\\nthe\\nit\\n' > vocab.txt") ==
        0);
    FT_CHECK(sh("for i in $(seq 30); do echo '{\"text\": \"good fine the it\", \"label\": \"pos\"}'; "
                "echo '{\"text\": \"bad awful it the\", \"label\": \"neg\"}'; done > train.jsonl && "
                "head -8 train.jsonl > val.jsonl && head -6 train.jsonl > test.jsonl") == 0);
    FT_CHECK(
        sh("echo '{\"vocab_size\": 16, \"n_embd\": 16, \"n_layer\": 1, \"n_head\": 2, \"n_positions\": 16}' "
           "> g.json") == 0);
    snprintf(cmd, sizeof cmd,
             "%s init --arch gpt2 --config g.json --out base --seed 1 > /dev/null && cp vocab.txt base/",
             ftb);
    FT_CHECK(sh(cmd) == 0);
    char cwd[1024];
    FT_CHECK(getcwd(cwd, sizeof cwd) != NULL);
    FT_CHECK(chdir(W) == 0); /* the recipe's paths are relative to it */
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    FT_CHECK(ftune_ctx_set_threads(c, 1) == FT_OK);

    /* a dry run: the summary and the plan, then done; nothing trained or saved */
    static texts x;
    memset(&x, 0, sizeof x);
    ftune_trainer *t = cmd_trainer(c, &x, "dry", 1, 0);
    FT_CHECK(t != NULL);
    FT_CHECKF(ftune_trainer_prepare(t) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECKF(strstr(x.out, "model base (gpt2): ") && strstr(x.out, " trainable (") &&
                  strstr(x.out, "method full, task classification\n"),
              "%s", x.out);
    FT_CHECKF(strstr(x.out, "data: 60 training, 8 validation, 6 test examples; 6 steps of 4 x 1 examples\n"),
              "%s", x.out);
    FT_CHECK(strstr(x.out, "precision fp32\n") && strstr(x.out, " GiB available ("));
    FT_CHECK(strstr(x.out, "dry run: the plan fits; nothing trained\n") != NULL);
    FT_CHECK(x.bad_stream == 0 && x.not_line == 0 && x.err[0] == '\0');
    ftune_trainer_state st;
    ftune_trainer_state_init(&st);
    FT_CHECK(ftune_trainer_get_state(t, &st) == FT_OK && st.prepared && st.done && st.step == 0);
    int done = 0;
    FT_CHECK(ftune_trainer_step(t, &done) == FT_OK && done == 1);
    FT_CHECK(!exists("dry", "model.safetensors") && !exists("dry", "checkpoints"));
    ftune_trainer_free(t);

    /* a whole run, its end by ftune_trainer_finish */
    memset(&x, 0, sizeof x);
    t = cmd_trainer(c, &x, "out", 0, 1);
    FT_CHECK(t != NULL);
    FT_CHECKF(ftune_trainer_run(t) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECK(ftune_trainer_get_state(t, &st) == FT_OK && st.done && !st.finished && !st.stopped &&
             st.step == 6);
    FT_CHECK(st.checkpoint && strstr(st.checkpoint, "checkpoints/step-00000006"));
    FT_CHECK(!strstr(x.out, "trained steps") && !strstr(x.out, "test: loss")); /* the end's lines */
    FT_CHECK(!exists("out", "model.safetensors"));                             /* not saved before finish */
    FT_CHECKF(ftune_trainer_finish(t) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECK(ftune_trainer_get_state(t, &st) == FT_OK && st.finished);
    FT_CHECK(strstr(x.out, "trained steps 0..6, ") != NULL);
    const char *tl = strstr(x.out, "test: loss ");
    FT_CHECKF(tl && strstr(tl, " accuracy ") && strstr(tl, " f1_macro "), "%s", x.out);
    FT_CHECK(strstr(x.out, "saved out\n") != NULL);
    FT_CHECK(exists("out", "model.safetensors") && exists("out", "report.html") &&
             exists("out", "metrics.jsonl"));
    FT_CHECK(sh("grep -q '\"test/accuracy\"' out/metrics.jsonl && grep -q '\"test/f1_macro\"' "
                "out/metrics.jsonl") == 0);
    FT_CHECK(ftune_trainer_finish(t) == FT_OK); /* once */
    FT_CHECK(x.bad_stream == 0 && x.not_line == 0);
    ftune_trainer_free(t);

    /* a stop requested by a signal handler at step 2: a checkpoint, no model, finish does nothing */
    memset(&x, 0, sizeof x);
    t = cmd_trainer(c, &x, "stopped", 0, 1);
    FT_CHECK(t != NULL);
    g_t = t;
    x.stop_at = 2;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old);
    FT_CHECK(ftune_trainer_set_callbacks(t, on_progress, NULL, NULL, &x) == FT_OK);
    FT_CHECKF(ftune_trainer_run(t) == FT_OK, "%s", ftune_last_error(c));
    sigaction(SIGUSR1, &old, NULL);
    FT_CHECK(ftune_trainer_finish(t) == FT_OK);
    FT_CHECK(ftune_trainer_get_state(t, &st) == FT_OK && st.done && st.stopped && st.step == 2);
    FT_CHECK(strstr(st.checkpoint, "checkpoints/step-00000002") != NULL);
    FT_CHECK(strstr(x.out, "trained steps 0..2, ") && !strstr(x.out, "test: loss") &&
             !strstr(x.out, "saved"));
    FT_CHECK(!exists("stopped", "model.safetensors") && exists("stopped", "checkpoints/latest"));
    ftune_trainer_free(t);

    /* the resumed run says where it resumes from and ends where the plain one did */
    memset(&x, 0, sizeof x);
    t = cmd_trainer(c, &x, "stopped", 0, 0);
    FT_CHECK(t && ftune_trainer_override(t, "resume=stopped") == FT_OK);
    FT_CHECKF(ftune_trainer_run(t) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECK(ftune_trainer_get_state(t, &st) == FT_OK && st.finished && st.step == 6);
    FT_CHECKF(strstr(x.out, "resuming from ") && strstr(x.out, "trained steps 2..6, "), "%s", x.out);
    FT_CHECK(sh("cmp -s out/model.safetensors stopped/model.safetensors") == 0);
    ftune_trainer_free(t);

    /* a plan over the memory: prepare prints it, then fails */
    memset(&x, 0, sizeof x);
    setenv("FTUNE_MEM_LIMIT", "1K", 1);
    t = cmd_trainer(c, &x, "nofit", 0, 0);
    FT_CHECK(t != NULL);
    FT_CHECK(ftune_trainer_prepare(t) != FT_OK && ftune_last_error(c)[0]);
    FT_CHECKF(strstr(x.out, " GiB available (FTUNE_MEM_LIMIT)"), "%s", x.out);
    unsetenv("FTUNE_MEM_LIMIT");
    ftune_trainer_free(t);

    /* without command the options are ftune_trainer_new's trainer: no on_output text */
    memset(&x, 0, sizeof x);
    ftune_trainer_opts o;
    ftune_trainer_opts_init(&o);
    o.on_output = on_output;
    o.output_user = &x;
    FT_CHECK(ftune_trainer_create(c, &o, &t) == FT_OK);
    FT_CHECK(ftune_trainer_load_recipe(t, "r.yaml") == FT_OK &&
             ftune_trainer_override(t, "output_dir=plain") == FT_OK);
    FT_CHECKF(ftune_trainer_run(t) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECK(x.n_calls == 0 && exists("plain", "model.safetensors"));
    FT_CHECK(ftune_trainer_get_state(t, &st) == FT_OK && st.done && st.finished);
    ftune_trainer_free(t);

    ftune_ctx_free(c);
    FT_CHECK(chdir(cwd) == 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", W);
    FT_CHECK(system(cmd) == 0);
}

FT_TEST(report_files) {
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    char dir[300], p[400];
    snprintf(dir, sizeof dir, "/tmp/ft_test_api_train_rep.%d/a/b", (int)getpid());
    /* mkdir -p, twice; a file in the way fails naming it */
    FT_CHECK(ftune_mkdir_p(c, dir) == FT_OK && ftune_mkdir_p(c, dir) == FT_OK && access(dir, F_OK) == 0);
    FT_CHECK(ftune_mkdir_p(c, NULL) == FT_ERR_ARG && ftune_mkdir_p(NULL, dir) == FT_ERR_ARG);
    snprintf(p, sizeof p, "%s/f", dir);
    FILE *f = fopen(p, "w");
    FT_CHECK(f != NULL);
    if (f)
        fclose(f);
    snprintf(p, sizeof p, "%s/f/g", dir);
    FT_CHECK(ftune_mkdir_p(c, p) == FT_ERR_IO);
    FT_CHECKF(strstr(ftune_last_error(c), "/f"), "%s", ftune_last_error(c));
    /* JSON in Python's layout, keys sorted on request; a text that is not JSON is refused */
    snprintf(p, sizeof p, "%s/x.json", dir);
    FT_CHECK(ftune_json_file_write(c, p, "{\"b\":[1,2.5],\"a\":\"t\\u00e9\",\"n\":null}", 1) == FT_OK);
    char text[256] = "";
    f = fopen(p, "r");
    FT_CHECK(f != NULL);
    if (f) {
        text[fread(text, 1, sizeof text - 1, f)] = '\0';
        fclose(f);
    }
    FT_CHECKF(
        !strcmp(text, "{\n  \"a\": \"t\\u00e9\",\n  \"b\": [\n    1,\n    2.5\n  ],\n  \"n\": null\n}\n"),
        "%s", text);
    FT_CHECK(ftune_json_file_write(c, p, "{oops", 0) == FT_ERR_FORMAT &&
             strstr(ftune_last_error(c), "x.json"));
    FT_CHECK(ftune_json_file_write(c, NULL, "{}", 0) == FT_ERR_ARG);
    /* an HTML page: title, the table, a chart per curve set */
    snprintf(p, sizeof p, "%s/r.html", dir);
    const double x[3] = {1, 2, 3}, y1[3] = {0.5, 0.25, 0.125}, y2[3] = {1, NAN, 0.5};
    const ftune_series se[2] = {{"full", x, y1, 3}, {"lora", x, y2, 3}};
    const ftune_chart ch[2] = {{"validation loss", "step", "loss", se, 2, 0},
                               {"log", "step", "loss", se, 1, 1}};
    const char *keys[2] = {"full", "lora <b>"}, *vals[2] = {"trainable 10", "a & b"};
    FT_CHECK(ftune_html_report_write(c, p, "my report", keys, vals, 2, ch, 2) == FT_OK);
    char html[65536] = "";
    f = fopen(p, "r");
    FT_CHECK(f != NULL);
    if (f) {
        html[fread(html, 1, sizeof html - 1, f)] = '\0';
        fclose(f);
    }
    FT_CHECK(strstr(html, "my report") && strstr(html, "trainable 10") && strstr(html, "validation loss"));
    FT_CHECK(strstr(html, "lora &lt;b&gt;") && strstr(html, "a &amp; b") && !strstr(html, "<script"));
    int svgs = 0;
    for (const char *q = html; (q = strstr(q, "<svg")); q++)
        svgs++;
    FT_CHECK(svgs == 2);
    const ftune_chart bad = {"t", "x", "y", NULL, 1, 0};
    FT_CHECK(ftune_html_report_write(c, p, "t", NULL, NULL, 0, &bad, 1) == FT_ERR_ARG);
    FT_CHECK(ftune_html_report_write(c, p, "t", NULL, NULL, 2, NULL, 0) == FT_ERR_ARG);
    /* a recipe key's value as text, before the run */
    ftune_trainer *t = NULL;
    FT_CHECK(ftune_trainer_create(c, NULL, &t) == FT_OK);
    FT_CHECK(ftune_trainer_override(t, "optim.lr=3e-4") == FT_OK &&
             ftune_trainer_override(t, "eval.metric=f1") == FT_OK);
    char *v = NULL;
    FT_CHECK(ftune_trainer_get_key(t, "optim.lr", &v) == FT_OK && v && !strcmp(v, "0.0003"));
    ftune_free(v);
    FT_CHECK(ftune_trainer_get_key(t, "eval.metric", &v) == FT_OK && v && !strcmp(v, "f1"));
    ftune_free(v);
    FT_CHECK(ftune_trainer_get_key(t, "output_dir", &v) == FT_OK && v && !strcmp(v, "")); /* unset */
    ftune_free(v);
    FT_CHECK(ftune_trainer_get_key(t, "train.max_step", &v) == FT_ERR_CONFIG && !v);
    FT_CHECKF(strstr(ftune_last_error(c), "did you mean 'train.max_steps'"), "%s", ftune_last_error(c));
    ftune_trainer_free(t);
    snprintf(p, sizeof p, "rm -rf /tmp/ft_test_api_train_rep.%d", (int)getpid());
    FT_CHECK(system(p) == 0);
    ftune_ctx_free(c);
}

int main(void) {
    FT_RUN(opts_state_and_arguments);
    FT_RUN(recipe_key_by_key);
    FT_RUN(command_run);
    FT_RUN(report_files);
    FT_DONE();
}
