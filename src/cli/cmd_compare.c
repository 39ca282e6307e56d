/* ftune compare: one recipe, several fine-tuning methods, one table. Each method trains in a child
 * process (this binary's `train` with method=X output_dir=OUT/X), so its peak memory is its own:
 * wait4's ru_maxrss. On the public API (issue 17): the recipe checked through a trainer's recipe calls, the
 * report and the JSON file written by ftune_html_report_write / ftune_json_file_write. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"

static const char *COMPARE_USAGE =
    "usage: ftune compare RECIPE.yaml [key=value ...] [METHOD:key=value ...]\n"
    "       [--methods full,lora,dora,adapter,prompt,bitfit,ia3]\n"
    "       [--task T] [--precision P] [--json]\n"
    "\n"
    "Trains the recipe once per method, each in a child process (`ftune train RECIPE ... method=X\n"
    "output_dir=OUT/X`, OUT = the recipe's output_dir), and prints one table: trainable parameters (count\n"
    "and %), peak memory (the child's max RSS), training tokens/s, wall time and the validation metric\n"
    "(eval.metric) at the end, and the test split's accuracy and macro-F1 (classification) or loss when the\n"
    "run has a test split. Writes OUT/compare.json and OUT/compare.html (the table, validation and\n"
    "training-loss curves of every method, links to each run's report.html); OUT/X/train.log holds each\n"
    "run's output. A method that fails is reported as failed and the others still run (exit status 1).\n"
    "An override prefixed with a method name applies to that method's run only, after the plain ones:\n"
    "  ftune compare R.yaml --methods full,lora full:optim.lr=5e-4 lora:optim.lr=3e-3 lora:lora.r=16\n"
    "`dora` is LoRA with lora.use_dora=true (its own row; dora:key=value scopes to it, lora:key=value does "
    "not).\n"
    "\n"
    "options:\n"
    "  --methods LIST   comma-separated methods (default: full,lora,adapter,prompt,bitfit,ia3); --method "
    "LIST\n"
    "                   is the same\n"
    "  --task TASK      the recipe's task (as ftune train --task; a key=value override wins)\n"
    "  --precision P    fp32 | bf16 (as ftune train --precision)\n"
    "  --json           print the table as one JSON object {\"methods\": [...]}\n"
    "See docs/evaluation.md.\n";

typedef struct {
    char method[16];
    bool ok;
    int exit_code;
    long long params, trainable;
    double pct, peak_mb, tok_s, wall_s, metric;
    double test_loss, test_acc, test_f1; /* NAN when the run had no test split */
    double *ex, *ey, *tx, *ty; /* validation metric and training loss curves */
    size_t ne, nt;
} run_t;

static void run_free(run_t *r) {
    free(r->ex);
    free(r->ey);
    free(r->tx);
    free(r->ty);
}

/* The command's own failures: "ftune compare: <message>" (the message formatted into err). */
typedef struct {
    char msg[1200];
} cmp_err;

static bool fail(cmp_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(cmp_err *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return false;
}

/* An API call's failure in e (the context's message). */
static bool api_ok(cmp_err *e, const ftune_ctx *ctx, ftune_status s) {
    if (s == FT_OK)
        return true;
    const char *m = ftune_last_error(ctx);
    return fail(e, "%s", m[0] ? m : ftune_status_name(s));
}

/* dir/name (one '/' between them) into buf */
static char *path_join(char *buf, size_t n, const char *dir, const char *name) {
    const size_t dl = strlen(dir);
    snprintf(buf, n, dl > 0 && dir[dl - 1] == '/' ? "%s%s" : "%s/%s", dir, name);
    return buf;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A whole file (NUL-terminated, free), NULL when it cannot be read: the callers go on without it. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = NULL;
    size_t len = 0, cap = 0, got;
    char buf[65536];
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        if (len + got + 1 > cap) {
            cap = 2 * (len + got + 1);
            char *p = realloc(text, cap);
            if (!p) {
                free(text);
                fclose(f);
                return NULL;
            }
            text = p;
        }
        memcpy(text + len, buf, got);
        len += got;
    }
    const bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) {
        free(text);
        return NULL;
    }
    if (!text)
        text = calloc(1, 1);
    else
        text[len] = '\0';
    return text;
}

static bool push_pt(double **x, double **y, size_t *n, double vx, double vy) {
    double *a = realloc(*x, (*n + 1) * sizeof *a);
    if (!a)
        return false;
    *x = a;
    double *b = realloc(*y, (*n + 1) * sizeof *b);
    if (!b)
        return false;
    *y = b;
    a[*n] = vx;
    b[*n] = vy;
    (*n)++;
    return true;
}

/* The run's log line "... N parameters, M trainable (P%) ..." and "..., T tok/s; ..." */
static void parse_log(const char *path, run_t *r) {
    char *text = slurp(path);
    if (!text)
        return;
    const char *p = strstr(text, " parameters, ");
    if (p) {
        const char *q = p;
        while (q > text && q[-1] >= '0' && q[-1] <= '9')
            q--;
        r->params = atoll(q);
        sscanf(p, " parameters, %lld trainable (%lf%%)", &r->trainable, &r->pct);
    }
    const char *t = strstr(text, " tok/s;");
    if (t) {
        const char *q = t;
        while (q > text && ((q[-1] >= '0' && q[-1] <= '9') || q[-1] == '.'))
            q--;
        r->tok_s = atof(q);
    }
    free(text);
}

/* The run's metrics.jsonl: the validation metric and training loss curves, the test split's metrics; a
 * file that cannot be read (or memory that runs out) leaves what was read so far. */
static void read_metrics(const char *path, const char *metric, run_t *r) {
    char *text = slurp(path);
    if (!text)
        return;
    char key[96];
    snprintf(key, sizeof key, "eval/%s", metric);
    bool s = true;
    for (char *line = strtok(text, "\n"); line && s; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        if (!j)
            continue;
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "step"), *e = cJSON_GetObjectItemCaseSensitive(j, key),
                    *l = cJSON_GetObjectItemCaseSensitive(j, "train/loss");
        const cJSON *tl = cJSON_GetObjectItemCaseSensitive(j, "test/loss"),
                    *ta = cJSON_GetObjectItemCaseSensitive(j, "test/accuracy"),
                    *tf = cJSON_GetObjectItemCaseSensitive(j, "test/f1_macro");
        if (cJSON_IsNumber(tl))
            r->test_loss = tl->valuedouble;
        if (cJSON_IsNumber(ta))
            r->test_acc = ta->valuedouble;
        if (cJSON_IsNumber(tf))
            r->test_f1 = tf->valuedouble;
        double step = cJSON_IsNumber(st) ? st->valuedouble : 0;
        if (cJSON_IsNumber(e)) {
            r->metric = e->valuedouble;
            s = push_pt(&r->ex, &r->ey, &r->ne, step, e->valuedouble);
        }
        if (s && cJSON_IsNumber(l))
            s = push_pt(&r->tx, &r->ty, &r->nt, step, l->valuedouble);
        cJSON_Delete(j);
    }
    free(text);
}

/* fork + exec of this binary's train; stdout/stderr to log; rusage of the child */
static bool run_child(char *const *args, const char *log, int *status, struct rusage *ru, double *wall,
                      cmp_err *e) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(e, "%s: %s", log, strerror(errno));
    fflush(NULL);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return fail(e, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        execv("/proc/self/exe", args);
        dprintf(2, "ftune compare: exec /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    close(fd);
    pid_t w;
    while ((w = wait4(pid, status, 0, ru)) < 0 && errno == EINTR)
        ;
    *wall = now_s() - t0;
    if (w < 0)
        return fail(e, "wait4: %s", strerror(errno));
    return true;
}

static const char *const ALL_METHODS[] = {"full", "lora", "dora", "adapter", "prompt", "bitfit", "ia3"};

static bool known_method(const char *m, size_t len) {
    for (size_t k = 0; k < sizeof ALL_METHODS / sizeof *ALL_METHODS; k++)
        if (strlen(ALL_METHODS[k]) == len && !strncmp(m, ALL_METHODS[k], len))
            return true;
    return false;
}

/* "METHOD:key=value" -> the length of METHOD (a ':' before the '='), else 0 for a plain override */
static size_t scope_len(const char *kv) {
    const char *c = strchr(kv, ':'), *e = strchr(kv, '=');
    return c && e && c < e ? (size_t)(c - kv) : 0;
}

static bool write_html(ftune_ctx *ctx, const char *out_dir, const char *metric, run_t *runs, int n,
                       cmp_err *e) {
    const char **keys = calloc((size_t)n + 1, sizeof *keys), **values = calloc((size_t)n + 1, sizeof *values);
    char (*vals)[512] = calloc((size_t)n + 1, sizeof *vals);
    ftune_series *se = calloc((size_t)n + 1, sizeof *se), *st = calloc((size_t)n + 1, sizeof *st);
    if (!keys || !values || !vals || !se || !st) {
        free(keys);
        free(values);
        free(vals);
        free(se);
        free(st);
        return fail(e, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        run_t *r = &runs[i];
        keys[i] = r->method;
        char test[96] = "";
        if (r->ok && isfinite(r->test_acc))
            snprintf(test, sizeof test, "test accuracy %.4f, macro-F1 %.4f; ", r->test_acc, r->test_f1);
        else if (r->ok && isfinite(r->test_loss))
            snprintf(test, sizeof test, "test loss %.4f; ", r->test_loss);
        if (r->ok)
            snprintf(vals[i], sizeof vals[i],
                     "trainable %lld of %lld (%.3f%%); peak memory %.1f MB; %.0f tokens/s; %.2f s; "
                     "validation %s %.4f; "
                     "%srun report: %.15s/report.html",
                     r->trainable, r->params, r->pct, r->peak_mb, r->tok_s, r->wall_s, metric, r->metric,
                     test, r->method);
        else
            snprintf(vals[i], sizeof vals[i], "failed (exit status %d): see %.15s/train.log", r->exit_code, r->method);
        values[i] = vals[i];
        se[i] = (ftune_series){r->method, r->ex, r->ey, r->ne};
        st[i] = (ftune_series){r->method, r->tx, r->ty, r->nt};
    }
    char title[160];
    snprintf(title, sizeof title, "validation %s", metric);
    const ftune_chart charts[2] = {{title, "step", metric, se, (size_t)n, 0},
                                   {"training loss", "step", "loss", st, (size_t)n, 0}};
    char p[4200];
    path_join(p, sizeof p, out_dir, "compare.html");
    const bool ok = api_ok(e, ctx,
                           ftune_html_report_write(ctx, p, "ftune compare: one recipe, several methods", keys,
                                                   values, (size_t)n, charts, 2));
    free(keys);
    free(values);
    free(vals);
    free(se);
    free(st);
    return ok;
}

int ft_cmd_compare(int argc, char **argv) {
    const char *methods = "full,lora,adapter,prompt,bitfit,ia3", *method = NULL, *task = NULL,
               *precision = NULL;
    bool json = false, help;
    ft_opt opts[] = {{"methods", FT_OPT_STR, &methods},
                     {"json", FT_OPT_FLAG, &json},
                     {"method", FT_OPT_STR, &method},
                     {"task", FT_OPT_STR, &task},
                     {"precision", FT_OPT_STR, &precision}};
    const char **pos = calloc((size_t)argc + 1, sizeof *pos);
    if (!pos) {
        fprintf(stderr, "ftune compare: out of memory\n");
        return 1;
    }
    int npos = 0;
    int rc = ft_cli_parse("compare", argc, argv, opts, sizeof opts / sizeof *opts, COMPARE_USAGE, pos, argc, &npos,
                          &help);
    if (rc || help) {
        free(pos);
        return rc;
    }
    if (method) /* --method is train's spelling; here it picks the method(s) to compare */
        methods = method;
    /* --task / --precision as in ftune train: key=value overrides placed before the user's own */
    char task_kv[64] = "", prec_kv[64] = "";
    if (task)
        snprintf(task_kv, sizeof task_kv, "task=%.40s", task);
    if (precision)
        snprintf(prec_kv, sizeof prec_kv, "precision=%.40s", precision);
    const char *flag_kv[2] = {task_kv, prec_kv};
    const char *recipe = NULL;
    for (int i = 0; i < npos; i++)
        if (!strchr(pos[i], '=')) {
            if (recipe) {
                fprintf(stderr, "ftune compare: one recipe file only ('%s' and '%s')\n", recipe, pos[i]);
                free(pos);
                return 2;
            }
            recipe = pos[i];
        }
    if (!recipe) {
        fprintf(stderr, "ftune compare: give a recipe file (see ftune compare --help)\n");
        free(pos);
        return 2;
    }
    /* the resolved recipe (a trainer's, never run): output_dir and eval.metric; errors in keys show before
     * any training */
    ftune_ctx *ctx = ft_cli_ctx("compare", 0);
    if (!ctx) {
        free(pos);
        return 1;
    }
    cmp_err e = {""};
    ftune_trainer *r = NULL;
    bool s = api_ok(&e, ctx, ftune_trainer_create(ctx, NULL, &r));
    if (s)
        s = api_ok(&e, ctx, ftune_trainer_load_recipe(r, recipe));
    for (int i = 0; s && i < 2; i++)
        if (flag_kv[i][0])
            s = api_ok(&e, ctx, ftune_trainer_override(r, flag_kv[i]));
    for (int i = 0; s && i < npos; i++)
        if (strchr(pos[i], '=') && !scope_len(pos[i]))
            s = api_ok(&e, ctx, ftune_trainer_override(r, pos[i]));
    for (int i = 0; s && i < npos; i++) { /* METHOD:key=value: the method is compared, the key valid */
        size_t sl = strchr(pos[i], '=') ? scope_len(pos[i]) : 0;
        if (!sl)
            continue;
        bool listed = false;
        char ml[256];
        snprintf(ml, sizeof ml, "%s", methods);
        for (char *t = strtok(ml, ","); t; t = strtok(NULL, ","))
            listed |= strlen(t) == sl && !strncmp(t, pos[i], sl);
        if (!known_method(pos[i], sl))
            s = fail(&e, "'%s': '%.*s' is not a method (full, lora, dora, adapter, prompt, bitfit, ia3)",
                     pos[i], (int)sl, pos[i]);
        else if (!listed)
            s = fail(&e, "'%s': %.*s is not among --methods %s", pos[i], (int)sl, pos[i], methods);
        else {
            ftune_trainer *scratch = NULL;
            s = api_ok(&e, ctx, ftune_trainer_create(ctx, NULL, &scratch));
            if (s)
                s = api_ok(&e, ctx, ftune_trainer_override(scratch, pos[i] + sl + 1));
            ftune_trainer_free(scratch);
        }
    }
    ftune_trainer_info info = {0};
    if (s)
        s = api_ok(&e, ctx, ftune_trainer_get_info(r, &info));
    if (s && !info.output_dir)
        s = fail(&e, "%s: output_dir is required (each method trains into output_dir/METHOD)", recipe);
    /* the methods */
    run_t runs[16];
    int n = 0;
    memset(runs, 0, sizeof runs);
    char list[256];
    snprintf(list, sizeof list, "%s", methods);
    for (char *tok = strtok(list, ","); s && tok; tok = strtok(NULL, ",")) {
        if (!known_method(tok, strlen(tok)))
            s = fail(&e, "--methods: unknown method '%s' (full, lora, dora, adapter, prompt, bitfit, ia3)",
                     tok);
        else if (n == 16)
            s = fail(&e, "--methods: at most 16 entries");
        else
            snprintf(runs[n++].method, sizeof runs[0].method, "%s", tok);
    }
    if (s && n == 0)
        s = fail(&e, "--methods: no method given");
    char out_dir[4096] = "", metric[64] = "loss";
    if (s) {
        char *em = NULL;
        snprintf(out_dir, sizeof out_dir, "%s", info.output_dir);
        s = api_ok(&e, ctx, ftune_trainer_get_key(r, "eval.metric", &em));
        if (s && em[0])
            snprintf(metric, sizeof metric, "%s", em);
        ftune_free(em);
    }
    if (s)
        s = api_ok(&e, ctx, ftune_mkdir_p(ctx, out_dir));
    ftune_trainer_free(r);
    if (!s) {
        free(pos);
        fprintf(stderr, "ftune compare: %s\n", e.msg);
        ftune_ctx_free(ctx);
        return 1;
    }
    int failures = 0;
    for (int i = 0; i < n && s; i++) {
        run_t *ru = &runs[i];
        char dir[4096], log[4200], mo[64], oo[4200];
        path_join(dir, sizeof dir, out_dir, ru->method);
        s = api_ok(&e, ctx, ftune_mkdir_p(ctx, dir));
        if (!s)
            break;
        snprintf(log, sizeof log, "%s/train.log", dir);
        bool dora = !strcmp(ru->method, "dora");
        snprintf(mo, sizeof mo, "method=%.15s", dora ? "lora" : ru->method);
        snprintf(oo, sizeof oo, "output_dir=%s", dir);
        /* ftune train RECIPE <user overrides> method=X output_dir=OUT/X report.progress=quiet */
        char **args = calloc((size_t)npos + 11, sizeof *args);
        if (!args) {
            s = fail(&e, "out of memory");
            break;
        }
        int a = 0;
        args[a++] = "ftune";
        args[a++] = "train";
        args[a++] = (char *)recipe;
        for (int k = 0; k < 2; k++)
            if (flag_kv[k][0])
                args[a++] = (char *)flag_kv[k];
        for (int k = 0; k < npos; k++)
            if (strchr(pos[k], '=') && !scope_len(pos[k]))
                args[a++] = (char *)pos[k];
        if (dora)
            args[a++] = "lora.use_dora=true";
        for (int k = 0; k < npos; k++) { /* this method's own overrides win over the plain ones */
            size_t sl = strchr(pos[k], '=') ? scope_len(pos[k]) : 0;
            if (sl && strlen(ru->method) == sl && !strncmp(pos[k], ru->method, sl))
                args[a++] = (char *)pos[k] + sl + 1;
        }
        args[a++] = mo;
        args[a++] = oo;
        args[a++] = "report.progress=quiet";
        args[a] = NULL;
        int status = 0;
        struct rusage rus;
        memset(&rus, 0, sizeof rus);
        fprintf(stderr, "ftune compare: training %s ...\n", ru->method);
        s = run_child(args, log, &status, &rus, &ru->wall_s, &e);
        free(args);
        if (!s)
            break;
        ru->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        ru->ok = ru->exit_code == 0;
        ru->peak_mb = (double)rus.ru_maxrss / 1024.0; /* Linux: KiB */
        ru->metric = ru->test_loss = ru->test_acc = ru->test_f1 = NAN;
        parse_log(log, ru);
        if (ru->params > 0) /* the log rounds the share to 0.01% */
            ru->pct = 100.0 * (double)ru->trainable / (double)ru->params;
        char mp[4200];
        snprintf(mp, sizeof mp, "%s/metrics.jsonl", dir);
        if (ru->ok)
            read_metrics(mp, metric, ru);
        if (!ru->ok) {
            failures++;
            fprintf(stderr, "ftune compare: %s failed (exit status %d); see %s\n", ru->method, ru->exit_code, log);
        }
    }
    free(pos);
    if (s) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "metric", metric);
        cJSON *arr = cJSON_AddArrayToObject(j, "methods");
        for (int i = 0; i < n; i++) {
            const run_t *ru = &runs[i];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "method", ru->method);
            cJSON_AddBoolToObject(o, "ok", ru->ok);
            if (ru->ok) {
                cJSON_AddNumberToObject(o, "params", (double)ru->params);
                cJSON_AddNumberToObject(o, "trainable", (double)ru->trainable);
                cJSON_AddNumberToObject(o, "trainable_pct", ru->pct);
                cJSON_AddNumberToObject(o, "peak_mb", ru->peak_mb);
                cJSON_AddNumberToObject(o, "tokens_per_s", ru->tok_s);
                cJSON_AddNumberToObject(o, "wall_s", ru->wall_s);
                if (isfinite(ru->metric))
                    cJSON_AddNumberToObject(o, metric, ru->metric);
                else
                    cJSON_AddNullToObject(o, metric);
                const char *tk[3] = {"test_loss", "test_accuracy", "test_f1_macro"};
                double tv[3] = {ru->test_loss, ru->test_acc, ru->test_f1};
                for (int q = 0; q < 3; q++)
                    if (isfinite(tv[q]))
                        cJSON_AddNumberToObject(o, tk[q], tv[q]);
            } else {
                cJSON_AddNumberToObject(o, "exit_code", ru->exit_code);
            }
            cJSON_AddItemToArray(arr, o);
        }
        char p[4200];
        char *text = cJSON_PrintUnformatted(j);
        s = text
                ? api_ok(&e, ctx,
                         ftune_json_file_write(ctx, path_join(p, sizeof p, out_dir, "compare.json"), text, 0))
                : fail(&e, "out of memory writing JSON");
        cJSON_free(text);
        if (s)
            s = write_html(ctx, out_dir, metric, runs, n, &e);
        if (s && json) {
            char *o = cJSON_PrintUnformatted(j);
            if (o)
                printf("%s\n", o);
            cJSON_free(o);
        } else if (s) {
            bool cls = false, tl = false;
            for (int i = 0; i < n; i++) {
                cls |= runs[i].ok && isfinite(runs[i].test_acc);
                tl |= runs[i].ok && isfinite(runs[i].test_loss);
            }
            printf("%-8s %12s %9s %10s %10s %9s %12s", "method", "trainable", "%", "peak MB", "tokens/s",
                   "wall s", metric);
            if (cls)
                printf(" %10s %10s", "test acc", "test F1");
            else if (tl)
                printf(" %10s", "test loss");
            printf("\n");
            for (int i = 0; i < n; i++) {
                const run_t *ru = &runs[i];
                if (ru->ok) {
                    printf("%-8s %12lld %8.3f%% %10.1f %10.0f %9.2f %12.4f", ru->method, ru->trainable,
                           ru->pct, ru->peak_mb, ru->tok_s, ru->wall_s, ru->metric);
                    if (cls)
                        printf(" %10.4f %10.4f", ru->test_acc, ru->test_f1);
                    else if (tl)
                        printf(" %10.4f", ru->test_loss);
                    printf("\n");
                } else
                    printf("%-8s failed (exit status %d): see %s/%s/train.log\n", ru->method, ru->exit_code, out_dir,
                           ru->method);
            }
            printf("report: %s/compare.html\n", out_dir);
        }
        cJSON_Delete(j);
    }
    for (int i = 0; i < n; i++)
        run_free(&runs[i]);
    ftune_ctx_free(ctx);
    if (!s) {
        fprintf(stderr, "ftune compare: %s\n", e.msg);
        return 1;
    }
    return failures ? 1 : 0;
}
