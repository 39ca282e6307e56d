/* The public API calls behind `ftune data`, `ftune baseline` and the checkpoint commands (init, inspect,
 * dump, merge), as a client sees them: only ftune.h is included. Each is checked on small files made here,
 * against what it must compute and against the command where the command prints the same thing. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
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

static void path(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", W, name);
}

/* A whole file of the work directory ("" when absent; free). */
static char *slurp(const char *name) {
    char p[512];
    path(p, sizeof p, name);
    FILE *f = fopen(p, "rb");
    char *b = calloc(1, 1 << 20);
    if (f && b) {
        size_t n = fread(b, 1, (1 << 20) - 1, f);
        b[n] = '\0';
    }
    if (f)
        fclose(f);
    return b;
}

static double metric(const ftune_metric *m, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].name, name))
            return m[i].value;
    return NAN;
}

typedef struct {
    int n;
    char first[256];
} lines;

static void on_line(void *user, const char *line) {
    lines *l = user;
    if (l->n++ == 0)
        snprintf(l->first, sizeof l->first, "%s", line);
}

FT_TEST(data_read_clean_write) {
    FT_CHECK(sh("printf '%s\\n' '{\"text\": \"good film\", \"label\": \"pos\"}' '{\"text\": \"good film\", "
                "\"label\": "
                "\"pos\"}' '{\"text\": \"<b>bad</b> &amp; sad\", \"label\": \"neg\", \"body\": \"x\"}' "
                "'{\"text\": \"\", \"label\": \"neg\"}' '{\"text\": \"a   b  c\", \"label\": \"pos\"}' > "
                "d.jsonl") == 0);
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    ftune_data_opts o;
    ftune_data_opts_init(&o);
    FT_CHECK(o.struct_size == sizeof o && !strcmp(o.format, "auto") && !strcmp(o.text_field, "text"));
    FT_CHECK(o.clean_unicode && o.clean_whitespace && !o.clean_html && o.dedup_exact && !o.dedup_near &&
             o.drop_garbled && o.near_dup_threshold > 0.79 && o.near_dup_threshold < 0.81 && o.seed == 42);
    ftune_dataset *d;
    FT_CHECK(ftune_dataset_new(c, &d) == FT_OK);
    char p[512];
    path(p, sizeof p, "d.jsonl");
    FT_CHECK(ftune_dataset_read_with(d, p, &o) == FT_OK && ftune_dataset_size(d) == 5);
    o.clean_html = 1;
    ftune_clean_stats st = {.struct_size = sizeof st};
    char *summary = NULL;
    FT_CHECKF(ftune_dataset_clean(d, &o, "mine", &st, &summary) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECKF(st.in == 5 && st.out == 3 && st.dup_exact == 1 && st.garbled == 1 && st.changed_html == 1 &&
                  st.changed_whitespace >= 1,
              "in %zu out %zu dup %zu garbled %zu html %zu ws %zu", st.in, st.out, st.dup_exact, st.garbled,
              st.changed_html, st.changed_whitespace);
    FT_CHECKF(summary && !strncmp(summary, "cleaning mine: 5 rows in, 3 out\n", 32), "%s", summary);
    ftune_free(summary);
    ftune_example e;
    ftune_example_init(&e);
    FT_CHECK(ftune_dataset_get(d, 1, &e) == FT_OK && !strcmp(e.text, "bad & sad") && !strcmp(e.label, "neg"));
    FT_CHECK(ftune_dataset_get(d, 2, &e) == FT_OK && !strcmp(e.text, "a b c"));
    FT_CHECK(ftune_dataset_get(d, 3, &e) == FT_ERR_RANGE &&
             strstr(ftune_last_error(c), "row 3 of a dataset of 3"));
    path(p, sizeof p, "o.jsonl");
    FT_CHECK(ftune_dataset_write_jsonl(d, p) == FT_OK);
    char *txt = slurp("o.jsonl");
    FT_CHECKF(txt && strstr(txt, "{\"text\":\"bad & sad\",\"label\":\"neg\"}\n"), "%s", txt);
    free(txt);
    /* the command writes the same file */
    const char *ftb = getenv("FT_BIN");
    if (ftb) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "%s data --input d.jsonl --out c.jsonl --html > /dev/null && cmp -s c.jsonl o.jsonl", ftb);
        FT_CHECK(sh(cmd) == 0);
    }
    /* another text field, a CSV */
    ftune_dataset *d2;
    FT_CHECK(ftune_dataset_new(c, &d2) == FT_OK);
    o.text_field = "body";
    path(p, sizeof p, "d.jsonl");
    FT_CHECKF(ftune_dataset_read_with(d2, p, &o) == FT_OK && ftune_dataset_size(d2) == 5, "%s",
              ftune_last_error(c));
    FT_CHECK(ftune_dataset_get(d2, 2, &e) == FT_OK && !strcmp(e.text, "x"));
    FT_CHECK(ftune_dataset_get(d2, 0, &e) == FT_OK && !e.text); /* a row without the field */
    FT_CHECK(sh("printf 'text,label\\nx y,1\\nz w,2\\n' > d.csv") == 0);
    path(p, sizeof p, "d.csv");
    o.text_field = NULL; /* NULL: the default */
    FT_CHECK(ftune_dataset_read_with(d2, p, &o) == FT_OK && ftune_dataset_size(d2) == 7);
    o.format = "bogus";
    FT_CHECK(ftune_dataset_read_with(d2, p, &o) == FT_ERR_CONFIG && strstr(ftune_last_error(c), "'bogus'"));
    FT_CHECK(ftune_dataset_size(d2) == 7); /* a failed read adds nothing */
    path(p, sizeof p, "missing.jsonl");
    o.format = "auto";
    FT_CHECK(ftune_dataset_read_with(d2, p, &o) == FT_ERR_IO && strstr(ftune_last_error(c), "missing.jsonl"));
    /* bad options */
    o.near_dup_threshold = 0;
    FT_CHECK(ftune_dataset_clean(d2, &o, NULL, NULL, NULL) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "near_dup_threshold"));
    ftune_data_opts_init(&o);
    o.struct_size = 8;
    FT_CHECK(ftune_dataset_clean(d2, &o, NULL, NULL, NULL) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "ftune_data_opts_init"));
    ftune_clean_stats bad = {.struct_size = 3};
    FT_CHECK(ftune_dataset_clean(d2, NULL, NULL, &bad, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_dataset_clean(d2, NULL, NULL, NULL, NULL) == FT_OK); /* NULL options: the defaults */
    FT_CHECK(ftune_dataset_read_with(NULL, p, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_dataset_read_with(d2, NULL, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_dataset_get(d2, 0, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_dataset_write_jsonl(d2, NULL) == FT_ERR_ARG);
    path(p, sizeof p, "no/such/dir/o.jsonl");
    FT_CHECK(ftune_dataset_write_jsonl(d2, p) == FT_ERR_IO && strstr(ftune_last_error(c), "no/such/dir"));
    ftune_dataset_free(d2);
    ftune_dataset_free(d);
    ftune_ctx_free(c);
}

FT_TEST(data_augment_split) {
    FT_CHECK(sh("for i in $(seq 20); do echo \"{\\\"text\\\": \\\"the quick brown fox number $i jumps\\\", "
                "\\\"label\\\": \\\"l$((i % 2))\\\"}\"; done > a.jsonl") == 0);
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    ftune_dataset *d, *sp[3];
    FT_CHECK(ftune_dataset_new(c, &d) == FT_OK);
    for (int k = 0; k < 3; k++)
        FT_CHECK(ftune_dataset_new(c, &sp[k]) == FT_OK);
    char p[512];
    path(p, sizeof p, "a.jsonl");
    FT_CHECK(ftune_dataset_read_with(d, p, NULL) == FT_OK && ftune_dataset_size(d) == 20);
    /* a split: 20 rows by 0.2 / 0.2, per label */
    FT_CHECK(ftune_dataset_split(d, 0.2, 0.2, 1, 7, sp[0], sp[1], sp[2]) == FT_OK);
    FT_CHECKF(ftune_dataset_size(sp[0]) == 12 && ftune_dataset_size(sp[1]) == 4 &&
                  ftune_dataset_size(sp[2]) == 4,
              "%zu %zu %zu", ftune_dataset_size(sp[0]), ftune_dataset_size(sp[1]), ftune_dataset_size(sp[2]));
    FT_CHECK(ftune_dataset_size(d) == 20); /* the source stays */
    int l0 = 0;
    for (size_t i = 0; i < ftune_dataset_size(sp[1]); i++) {
        ftune_example e;
        ftune_example_init(&e);
        FT_CHECK(ftune_dataset_get(sp[1], i, &e) == FT_OK);
        l0 += !strcmp(e.label, "l0");
    }
    FT_CHECK(l0 == 2); /* stratified: two of each label */
    FT_CHECK(ftune_dataset_split(d, 0.6, 0.5, 0, 7, NULL, NULL, NULL) == FT_ERR_CONFIG &&
             strstr(ftune_last_error(c), "must be >= 0 and < 1"));
    /* augmentation without WordNet (deletion and swaps only) */
    ftune_data_opts o;
    ftune_data_opts_init(&o);
    o.augment_factor = 1;
    o.aug_p_insert = o.aug_p_synonym = 0;
    size_t added = 0;
    FT_CHECKF(ftune_dataset_augment(sp[0], &o, &added) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECKF(added > 0 && ftune_dataset_size(sp[0]) == 12 + added, "added %zu", added);
    o.aug_p_synonym = 0.1;
    o.wordnet_dir = "/nonexistent/wordnet";
    FT_CHECK(ftune_dataset_augment(sp[0], &o, &added) != FT_OK &&
             strstr(ftune_last_error(c), "/nonexistent/wordnet"));
    o.augment_factor = 0; /* off: nothing happens, WordNet is not read */
    FT_CHECK(ftune_dataset_augment(sp[0], &o, &added) == FT_OK && added == 0);
    /* a length limit beyond int: longer than any text */
    ftune_data_opts_init(&o);
    o.min_chars = (int64_t)1 << 40;
    ftune_clean_stats st = {.struct_size = sizeof st};
    FT_CHECK(ftune_dataset_clean(sp[2], &o, NULL, &st, NULL) == FT_OK && st.in == 4 && st.too_short == 4 &&
             ftune_dataset_size(sp[2]) == 0);
    o.min_chars = -1;
    FT_CHECK(ftune_dataset_clean(sp[1], &o, NULL, NULL, NULL) == FT_ERR_ARG &&
             ftune_dataset_size(sp[1]) == 4);
    for (int k = 0; k < 3; k++)
        ftune_dataset_free(sp[k]);
    ftune_dataset_free(d);
    ftune_ctx_free(c);
}

FT_TEST(data_recipe_splits_and_mail) {
    FT_CHECK(sh("printf 'model: none\\ntask: classification\\noutput_dir: out\\ndata: {train: "
                "a.jsonl}\\nseed: 3\\n' > "
                "r.yaml") == 0);
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    ftune_dataset *sp[3];
    for (int k = 0; k < 3; k++)
        FT_CHECK(ftune_dataset_new(c, &sp[k]) == FT_OK);
    char rp[512];
    path(rp, sizeof rp, "r.yaml");
    lines l = {0};
    const char *kv[] = {"data.val_ratio=0.25"};
    /* relative data paths are the recipe's own: run from the work directory as the command is */
    char cwd[1024];
    FT_CHECK(getcwd(cwd, sizeof cwd) != NULL);
    FT_CHECK(chdir(W) == 0);
    FT_CHECKF(ftune_dataset_recipe_splits(c, rp, kv, 1, on_line, &l, sp[0], sp[1], sp[2]) == FT_OK, "%s",
              ftune_last_error(c));
    FT_CHECKF(l.n >= 1 && !strcmp(l.first, "read a.jsonl: 20 rows"), "%d '%s'", l.n, l.first);
    FT_CHECKF(ftune_dataset_size(sp[0]) == 12 && ftune_dataset_size(sp[1]) == 6 &&
                  ftune_dataset_size(sp[2]) == 2,
              "%zu %zu %zu", ftune_dataset_size(sp[0]), ftune_dataset_size(sp[1]), ftune_dataset_size(sp[2]));
    const char *ftb = getenv("FT_BIN");
    if (ftb) { /* the command's split is the same */
        FT_CHECK(ftune_dataset_write_jsonl(sp[1], "api.validation.jsonl") == FT_OK);
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "%s data --recipe r.yaml --splits-out cli data.val_ratio=0.25 > /dev/null && cmp -s "
                 "cli.validation.jsonl api.validation.jsonl",
                 ftb);
        FT_CHECK(sh(cmd) == 0);
    }
    const char *bad[] = {"nosuch.key=1"};
    FT_CHECK(ftune_dataset_recipe_splits(c, rp, bad, 1, NULL, NULL, NULL, NULL, NULL) != FT_OK &&
             strstr(ftune_last_error(c), "nosuch.key"));
    FT_CHECK(ftune_dataset_recipe_splits(c, "/nonexistent/r.yaml", NULL, 0, NULL, NULL, NULL, NULL, NULL) !=
                 FT_OK &&
             strstr(ftune_last_error(c), "/nonexistent/r.yaml"));
    FT_CHECK(ftune_dataset_recipe_splits(c, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL) == FT_ERR_ARG);
    FT_CHECK(chdir(cwd) == 0);
    for (int k = 0; k < 3; k++)
        ftune_dataset_free(sp[k]);

    /* mail directories: rows with labels from the folder names; subject pairs of one label */
    FT_CHECK(sh("mkdir -p mail/easy-ham-1 mail/spam-2 && printf 'Subject: Re: hello\\n\\nthe body\\n' > "
                "mail/easy-ham-1/1.txt && printf 'Subject: buy\\n\\ncheap things\\n' > mail/spam-2/2.txt && "
                "printf 'From: x\\n\\nno subject\\n' > mail/easy-ham-1/3.txt") == 0);
    char md[512];
    path(md, sizeof md, "mail");
    ftune_dataset *m;
    FT_CHECK(ftune_dataset_new(c, &m) == FT_OK);
    size_t recoded = 9;
    FT_CHECKF(ftune_dataset_read_mail(m, md, 0, &recoded) == FT_OK && ftune_dataset_size(m) == 3 &&
                  recoded == 0,
              "%s", ftune_last_error(c));
    int ham = 0;
    for (size_t i = 0; i < 3; i++) {
        ftune_example e;
        ftune_example_init(&e);
        FT_CHECK(ftune_dataset_get(m, i, &e) == FT_OK);
        ham += e.label && !strcmp(e.label, "ham");
    }
    FT_CHECK(ham == 2);
    ftune_dataset_free(m);
    FT_CHECK(ftune_dataset_new(c, &m) == FT_OK);
    ftune_mail_subject_stats st = {.struct_size = sizeof st};
    FT_CHECKF(ftune_dataset_read_mail_subjects(m, md, "ham", 4000, &st) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECKF(st.mails == 3 && st.pairs == 1 && st.other_label == 1 && st.no_subject == 1 && st.markers == 1,
              "mails %zu pairs %zu other %zu nosub %zu markers %zu", st.mails, st.pairs, st.other_label,
              st.no_subject, st.markers);
    ftune_example e;
    ftune_example_init(&e);
    FT_CHECK(ftune_dataset_get(m, 0, &e) == FT_OK && !strcmp(e.response, "hello") &&
             !strcmp(e.text, "the body\n"));
    char pp[512];
    path(pp, sizeof pp, "pairs.jsonl");
    FT_CHECK(ftune_dataset_write_pairs(m, pp, md) == FT_OK);
    char *txt = slurp("pairs.jsonl");
    FT_CHECKF(
        txt &&
            !strcmp(txt, "{\"source\":\"the body\\n\",\"target\":\"hello\",\"file\":\"easy-ham-1/1.txt\"}\n"),
        "%s", txt);
    free(txt);
    path(pp, sizeof pp, "nomail");
    FT_CHECK(ftune_dataset_read_mail(m, pp, 0, NULL) != FT_OK && strstr(ftune_last_error(c), "nomail"));
    FT_CHECK(ftune_dataset_read_mail_subjects(m, md, NULL, 10, NULL) == FT_ERR_ARG);
    ftune_dataset_free(m);
    ftune_ctx_free(c);
}

FT_TEST(baseline) {
    FT_CHECK(sh("for i in $(seq 40); do echo '{\"text\": \"good great fine\", \"label\": \"pos\"}'; echo "
                "'{\"text\": \"bad awful poor\", \"label\": \"neg\"}'; done > b.jsonl && printf 'model: "
                "none\\ntask: classification\\noutput_dir: out\\ndata: {train: b.jsonl}\\n' > b.yaml") == 0);
    FT_CHECK(
        sh("for i in $(seq 30); do echo '{\"tokens\": [\"alice\", \"met\", \"bob\", \"in\", \"paris\"], "
           "\"tags\": [\"B-PER\", \"O\", \"B-PER\", \"O\", \"B-LOC\"]}'; done > t.jsonl && printf 'model: "
           "none\\ntask: token_classification\\noutput_dir: out\\ndata: {train: t.jsonl}\\n' > t.yaml") == 0);
    char cwd[1024];
    FT_CHECK(getcwd(cwd, sizeof cwd) != NULL);
    FT_CHECK(chdir(W) == 0);
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    ftune_baseline_opts o;
    ftune_baseline_opts_init(&o);
    FT_CHECK(o.struct_size == sizeof o && o.alpha == 1.0 && !o.on_log);
    lines l = {0};
    o.on_log = on_line;
    o.user = &l;
    ftune_metric *m = NULL;
    size_t n = 0;
    char *json = NULL, *report = NULL;
    FT_CHECKF(ftune_baseline(c, "b.yaml", NULL, 0, &o, &m, &n, &json, &report) == FT_OK, "%s",
              ftune_last_error(c));
    FT_CHECKF(!strcmp(l.first, "read b.jsonl: 80 rows"), "%s", l.first);
    FT_CHECKF(metric(m, n, "train.documents") == 64 && metric(m, n, "train.classes.pos") == 32 &&
                  metric(m, n, "validation.accuracy") == 1 && metric(m, n, "test.n") == 8 &&
                  metric(m, n, "train.alpha") == 1,
              "%zu metrics", n);
    FT_CHECKF(report &&
                  !strncmp(report,
                           "naive Bayes (bag of words, alpha 1): 64 training documents, 6 words; neg 32 "
                           "pos 32\nbaseline validation: 8 examples, accuracy 1.0000",
                           100),
              "%s", report);
    FT_CHECK(json && !strncmp(json, "{\"train\":{\"documents\":64,", 25));
    const char *ftb = getenv("FT_BIN");
    if (ftb && json) { /* the command prints the same object */
        char cmd[1024];
        FILE *f = fopen("api.json", "w");
        FT_CHECK(f && fprintf(f, "%s\n", json) > 0 && fclose(f) == 0);
        snprintf(cmd, sizeof cmd, "%s baseline --recipe b.yaml --json > cli.json && cmp -s cli.json api.json",
                 ftb);
        FT_CHECK(sh(cmd) == 0);
    }
    ftune_free(m);
    ftune_free(json);
    ftune_free(report);
    /* an override, and the results each optional */
    const char *kv[] = {"data.test_ratio=0"};
    o.alpha = 0.5;
    FT_CHECK(ftune_baseline(c, "b.yaml", kv, 1, &o, &m, &n, NULL, NULL) == FT_OK &&
             isnan(metric(m, n, "test.n")) && metric(m, n, "train.alpha") == 0.5);
    ftune_free(m);
    /* token classification: the most frequent tag of each word */
    FT_CHECKF(ftune_baseline(c, "t.yaml", NULL, 0, NULL, &m, &n, &json, &report) == FT_OK, "%s",
              ftune_last_error(c));
    FT_CHECK(metric(m, n, "test.accuracy") == 1 && metric(m, n, "train.words") == 5 &&
             metric(m, n, "train.tags") == 3);
    FT_CHECKF(report &&
                  !strncmp(report,
                           "most-frequent-tag baseline: 24 training sentences, 5 distinct words, 3 tags", 70),
              "%s", report);
    FT_CHECK(json && strstr(json, "\"most_frequent_tag\":\"B-PER\""));
    ftune_free(m);
    ftune_free(json);
    ftune_free(report);
    /* errors */
    FT_CHECK(sh("printf 'model: none\\ntask: causal_lm\\noutput_dir: out\\ndata: {train: b.jsonl}\\n' > "
                "lm.yaml") == 0);
    FT_CHECK(ftune_baseline(c, "lm.yaml", NULL, 0, NULL, NULL, NULL, &json, NULL) == FT_ERR_CONFIG &&
             strstr(ftune_last_error(c), "for classification recipes") && json == NULL);
    o.alpha = -1;
    FT_CHECK(ftune_baseline(c, "b.yaml", NULL, 0, &o, NULL, NULL, NULL, NULL) != FT_OK &&
             strstr(ftune_last_error(c), "alpha"));
    o.struct_size = 4;
    FT_CHECK(ftune_baseline(c, "b.yaml", NULL, 0, &o, NULL, NULL, NULL, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_baseline(c, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_baseline(NULL, "b.yaml", NULL, 0, NULL, NULL, NULL, NULL, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_baseline(c, "missing.yaml", NULL, 0, NULL, NULL, NULL, NULL, NULL) != FT_OK &&
             strstr(ftune_last_error(c), "missing.yaml"));
    ftune_ctx_free(c);
    FT_CHECK(chdir(cwd) == 0);
}

/* The header of a safetensors file of the work directory (its JSON, NUL-terminated; free), NULL if
 * unreadable. */
static char *st_header(const char *name) {
    char p[512];
    path(p, sizeof p, name);
    FILE *f = fopen(p, "rb");
    unsigned char n8[8];
    char *h = NULL;
    if (f && fread(n8, 1, 8, f) == 8) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--)
            n = n << 8 | n8[i];
        if (n < (1u << 24) && (h = calloc(1, (size_t)n + 1)) && fread(h, 1, (size_t)n, f) != (size_t)n) {
            free(h);
            h = NULL;
        }
    }
    if (f)
        fclose(f);
    return h;
}

static const char *G_JSON =
    "{\"vocab_size\": 64, \"n_embd\": 32, \"n_layer\": 2, \"n_head\": 4, \"n_positions\": 32}";

FT_TEST(checkpoint_init_inspect) {
    const char *const *a = ftune_checkpoint_archs();
    size_t na = 0;
    bool gpt2 = false, mt5 = false;
    for (; a[na]; na++) {
        gpt2 |= !strcmp(a[na], "gpt2");
        mt5 |= !strcmp(a[na], "mt5");
    }
    FT_CHECK(na == 11 && gpt2 && mt5);
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    ftune_init_opts o;
    ftune_init_opts_init(&o);
    FT_CHECK(o.struct_size == sizeof o && o.seed == 42 && !strcmp(o.dtype, "f32") && !o.arch);
    o.arch = "gpt2";
    o.config_json = G_JSON;
    char d1[512], d2[512], d3[512];
    path(d1, sizeof d1, "g1");
    path(d2, sizeof d2, "g2");
    path(d3, sizeof d3, "g3");
    ftune_model_info info;
    FT_CHECKF(ftune_checkpoint_init(c, &o, d1, &info) == FT_OK, "%s", ftune_last_error(c));
    /* 64·32 + 32·32 tokens and positions, 2 blocks of 12·32² + 13·32, the final norm */
    FT_CHECKF(!strcmp(info.model_type, "gpt2") && !strcmp(info.task, "causal_lm") && info.n_params == 28544 &&
                  info.n_layers == 2 && info.hidden_size == 32 && info.vocab_size == 64 && info.n_labels == 0,
              "%s %s %lld", info.model_type, info.task, (long long)info.n_params);
    FT_CHECK(ftune_checkpoint_init(c, &o, d2, NULL) == FT_OK);
    o.seed = 7;
    FT_CHECK(ftune_checkpoint_init(c, &o, d3, NULL) == FT_OK);
    FT_CHECK(sh("cmp -s g1/model.safetensors g2/model.safetensors && ! cmp -s g1/model.safetensors "
                "g3/model.safetensors && test -f g1/config.json") == 0);
    /* a classification head from the config, bf16 storage */
    o.config_json = "{\"vocab_size\": 64, \"n_embd\": 32, \"n_layer\": 1, \"n_head\": 4, \"n_positions\": "
                    "16, \"num_labels\": 3}";
    o.dtype = "bf16";
    FT_CHECKF(ftune_checkpoint_init(c, &o, d2, &info) == FT_OK, "%s", ftune_last_error(c));
    FT_CHECK(!strcmp(info.task, "classification") && info.n_labels == 3);
    char *h = st_header("g2/model.safetensors");
    FT_CHECKF(h && strstr(h, "\"score.weight\":{\"dtype\":\"BF16\",\"shape\":[3,32]"), "%s",
              h ? h : "(none)");
    free(h);
    /* a vit writes its image processor too */
    ftune_init_opts_init(&o);
    o.arch = "vit";
    o.config_json = "{\"image_size\": 16, \"patch_size\": 8, \"hidden_size\": 32, \"num_hidden_layers\": 1, "
                    "\"num_attention_heads\": 4, \"intermediate_size\": 64}";
    FT_CHECK(ftune_checkpoint_init(c, &o, d3, NULL) == FT_OK);
    FT_CHECK(sh("grep -q '\"size\"' g3/preprocessor_config.json") == 0);
    /* bad options */
    o.arch = "gpt3";
    FT_CHECK(ftune_checkpoint_init(c, &o, d3, NULL) == FT_ERR_ARG && strstr(ftune_last_error(c), "'gpt3'"));
    o.arch = "gpt2";
    o.dtype = "f16";
    FT_CHECK(ftune_checkpoint_init(c, &o, d3, NULL) == FT_ERR_ARG && strstr(ftune_last_error(c), "'f16'"));
    o.dtype = NULL; /* f32 */
    o.config_json = "[1, 2]";
    FT_CHECK(ftune_checkpoint_init(c, &o, d3, NULL) != FT_OK && strstr(ftune_last_error(c), "config_json"));
    o.config = "/nonexistent/small.json";
    FT_CHECK(ftune_checkpoint_init(c, &o, d3, NULL) == FT_ERR_IO &&
             strstr(ftune_last_error(c), "/nonexistent/small.json"));
    o.struct_size = 8;
    FT_CHECK(ftune_checkpoint_init(c, &o, d3, NULL) == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "ftune_init_opts_init"));
    FT_CHECK(ftune_checkpoint_init(c, NULL, d3, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_checkpoint_init(NULL, NULL, d3, NULL) == FT_ERR_ARG);

    /* inspect: what the command prints */
    char *r = NULL;
    FT_CHECKF(ftune_checkpoint_inspect(c, d1, 0, &r) == FT_OK, "%s", ftune_last_error(c));
    char want[600];
    snprintf(want, sizeof want, "model: %s\narchitecture: gpt2\nlayers 2, hidden 32, heads 4", d1);
    FT_CHECKF(r && !strncmp(r, want, strlen(want)) && strstr(r, "parameters: 28544 (0.03 M)\n  F32: 28544\n"),
              "%s", r);
    FT_CHECK(r && !strstr(r, "wte.weight"));
    ftune_free(r);
    FT_CHECK(ftune_checkpoint_inspect(c, d1, 1, &r) == FT_OK && r && strstr(r, "wte.weight") &&
             strstr(r, "[64, 32]"));
    const char *ftb = getenv("FT_BIN");
    if (ftb && r) {
        char p[512], cmd[1200];
        path(p, sizeof p, "inspect.api");
        FILE *f = fopen(p, "w");
        FT_CHECK(f && fputs(r, f) >= 0 && fclose(f) == 0);
        snprintf(cmd, sizeof cmd, "%s inspect %s --tensors > inspect.cli && cmp -s inspect.cli inspect.api",
                 ftb, d1);
        FT_CHECK(sh(cmd) == 0);
    }
    ftune_free(r);
    FT_CHECK(ftune_checkpoint_inspect(c, "/nonexistent/model", 0, &r) != FT_OK && r == NULL &&
             strstr(ftune_last_error(c), "/nonexistent/model"));
    FT_CHECK(ftune_checkpoint_inspect(c, d1, 0, NULL) == FT_ERR_ARG);
    ftune_ctx_free(c);
}

FT_TEST(checkpoint_dump_merge) {
    ftune_ctx *c;
    FT_CHECK(ftune_ctx_new(&c) == FT_OK);
    ftune_init_opts o;
    ftune_init_opts_init(&o);
    o.arch = "gpt2";
    o.config_json = G_JSON;
    char base[512], ad[512], batch[512], out[512], merged[512];
    path(base, sizeof base, "base");
    path(ad, sizeof ad, "lora");
    path(batch, sizeof batch, "batch.json");
    path(out, sizeof out, "d.safetensors");
    path(merged, sizeof merged, "merged");
    FT_CHECK(ftune_checkpoint_init(c, &o, base, NULL) == FT_OK);
    FT_CHECK(sh("echo '{\"input_ids\": [[1,2,3,4,5],[6,7,8,9,10]], \"attention_mask\": "
                "[[1,1,1,1,1],[1,1,1,0,0]]}' > "
                "batch.json") == 0);
    double loss = 0;
    int64_t n = 0;
    FT_CHECKF(ftune_checkpoint_dump(c, base, NULL, batch, out, &loss, &n) == FT_OK, "%s",
              ftune_last_error(c));
    /* a fresh model's next-token loss is about ln(vocab) */
    FT_CHECKF(n > 0 && fabs(loss - log(64.0)) < 0.3, "loss %g over %lld", loss, (long long)n);
    char *h = st_header("d.safetensors");
    FT_CHECKF(h && strstr(h, "\"logits\":{\"dtype\":\"F32\",\"shape\":[2,5,64]") &&
                  strstr(h, "\"loss\":{\"dtype\":\"F32\",\"shape\":[1]") &&
                  strstr(h, "\"grad.transformer.wte.weight\":{\"dtype\":\"F32\",\"shape\":[64,32]") &&
                  strstr(h, "\"grad.transformer.h.1.mlp.c_fc.weight\""),
              "%s", h ? h : "(none)");
    free(h);
    const char *ftb = getenv("FT_BIN");
    if (ftb) { /* the command writes the same file and prints the same numbers */
        char cmd[1600], line[200];
        snprintf(line, sizeof line, "loss %.6f over %lld targets", loss, (long long)n);
        snprintf(cmd, sizeof cmd,
                 "%s dump --model base --batch batch.json --out cli.safetensors | grep -q '^%s' && cmp -s "
                 "cli.safetensors d.safetensors",
                 ftb, line);
        FT_CHECK(sh(cmd) == 0);
    }
    /* an adapter: only its tensors get gradients, under PEFT's names */
    FT_CHECK(sh("(printf '[PAD]\\n[UNK]\\n'; for i in $(seq 62); do echo w$i; done) > base/vocab.txt") == 0);
    ftune_model *m = NULL;
    FT_CHECKF(ftune_model_load(c, base, NULL, &m) == FT_OK, "%s", ftune_last_error(c));
    const char *lo[] = {"lora.r=4", "lora.target_modules=c_attn", "seed=3"};
    FT_CHECK(m && ftune_adapter_create(m, "lora", lo, 3) == FT_OK && ftune_adapter_save(m, ad) == FT_OK);
    ftune_model_free(m);
    FT_CHECKF(ftune_checkpoint_dump(c, base, ad, batch, out, NULL, NULL) == FT_OK, "%s", ftune_last_error(c));
    h = st_header("d.safetensors");
    FT_CHECKF(
        h &&
            strstr(h,
                   "\"grad.base_model.model.transformer.h.0.attn.c_attn.lora_A.weight\":{\"dtype\":\"F32\","
                   "\"shape\":[4,32]") &&
            !strstr(h, "grad.transformer.wte.weight"),
        "%s", h ? h : "(none)");
    free(h);
    /* merge: a fresh LoRA (B = 0) leaves the weights as they were */
    FT_CHECKF(ftune_checkpoint_merge(c, base, ad, merged, NULL) == FT_OK, "%s", ftune_last_error(c));
    double loss2 = 0;
    FT_CHECK(ftune_checkpoint_dump(c, merged, NULL, batch, out, &loss2, NULL) == FT_OK && loss2 == loss);
    FT_CHECK(ftune_checkpoint_merge(c, base, ad, merged, "bf16") == FT_OK);
    h = st_header("merged/model.safetensors");
    FT_CHECK(h && strstr(h, "\"transformer.wte.weight\":{\"dtype\":\"BF16\""));
    free(h);
    /* errors name what is wrong */
    FT_CHECK(ftune_checkpoint_merge(c, base, ad, merged, "f16") == FT_ERR_ARG &&
             strstr(ftune_last_error(c), "'f16'"));
    FT_CHECK(ftune_checkpoint_merge(c, base, "/nonexistent/adapter", merged, NULL) != FT_OK &&
             strstr(ftune_last_error(c), "/nonexistent/adapter"));
    FT_CHECK(ftune_checkpoint_merge(c, base, NULL, merged, NULL) == FT_ERR_ARG);
    FT_CHECK(sh("echo '{\"input_ids\": [[1,2,3]], \"labels\": [[1,2]]' > bad.json") == 0);
    char bad[512];
    path(bad, sizeof bad, "bad.json");
    FT_CHECK(ftune_checkpoint_dump(c, base, NULL, bad, out, NULL, NULL) != FT_OK &&
             strstr(ftune_last_error(c), "bad.json"));
    FT_CHECK(ftune_checkpoint_dump(c, "/nonexistent/m", NULL, batch, out, NULL, NULL) != FT_OK &&
             strstr(ftune_last_error(c), "/nonexistent/m"));
    FT_CHECK(ftune_checkpoint_dump(c, base, NULL, NULL, out, NULL, NULL) == FT_ERR_ARG);
    FT_CHECK(ftune_checkpoint_dump(NULL, base, NULL, batch, out, NULL, NULL) == FT_ERR_ARG);
    ftune_ctx_free(c);
}

int main(void) {
    snprintf(W, sizeof W, "/tmp/ft_test_api_model.%d", (int)getpid());
    char cmd[512];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", W);
    if (system(cmd) != 0)
        return 1;
    FT_RUN(data_read_clean_write);
    FT_RUN(data_augment_split);
    FT_RUN(data_recipe_splits_and_mail);
    FT_RUN(baseline);
    FT_RUN(checkpoint_init_inspect);
    FT_RUN(checkpoint_dump_merge);
    snprintf(cmd, sizeof cmd, "rm -rf %s", W);
    if (system(cmd) != 0)
        return 1;
    FT_DONE();
}
