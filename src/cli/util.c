/* The command line's own helpers (option parsing, errors, contexts, JSON lines) and `ftune version`: on the
 * public API alone (issue 17). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"

int ft_cli_fail_ctx(const char *cmd, const ftune_ctx *ctx) {
    const char *e = ftune_last_error(ctx);
    fprintf(stderr, "ftune %s: %s\n", cmd, e[0] ? e : ftune_status_name(ftune_last_status(ctx)));
    return 1;
}

ftune_ctx *ft_cli_ctx(const char *cmd, long threads) {
    ftune_ctx *ctx = NULL;
    if (ftune_ctx_new(&ctx) != FT_OK) {
        fprintf(stderr, "ftune %s: out of memory\n", cmd);
        return NULL;
    }
    if (threads > 0 && (threads > 1 << 20 || ftune_ctx_set_threads(ctx, (int)threads) != FT_OK)) {
        fprintf(stderr, "ftune %s: --threads %ld: out of range\n", cmd, threads);
        ftune_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

ftune_model *ft_cli_model(const char *cmd, ftune_ctx *ctx, const char *dir, const char *adapter,
                          const ftune_model_load_opts *lo, ftune_model_info *info) {
    ftune_model *m = NULL;
    if (ftune_model_load_with(ctx, dir, adapter, lo, &m) != FT_OK ||
        (info && ftune_model_get_info(m, info) != FT_OK)) {
        ft_cli_fail_ctx(cmd, ctx);
        ftune_model_free(m);
        return NULL;
    }
    return m;
}

int ft_cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("ftune %s\n", FTUNE_VERSION);
    return 0;
}

int ft_cli_parse(const char *cmd, int argc, char **argv, const ft_opt *opts, size_t n_opts, const char *usage,
                 const char **pos, int max_pos, int *n_pos, bool *help_shown) {
    *help_shown = false;
    if (n_pos)
        *n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            *help_shown = true;
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (!n_pos || *n_pos >= max_pos) {
                fprintf(stderr, "ftune %s: unexpected argument '%s' (see ftune %s --help)\n", cmd, a, cmd);
                return 2;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const ft_opt *o = NULL;
        for (size_t k = 0; k < n_opts; k++)
            if (strlen(opts[k].name) == nl && !strncmp(opts[k].name, name, nl))
                o = &opts[k];
        if (!o) {
            fprintf(stderr, "ftune %s: unknown option '--%.*s' (see ftune %s --help)\n", cmd, (int)nl, name, cmd);
            return 2;
        }
        if (o->kind == FT_OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "ftune %s: option --%s takes no value\n", cmd, o->name);
                return 2;
            }
            *(bool *)o->out = true;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            fprintf(stderr, "ftune %s: option --%s needs a value\n", cmd, o->name);
            return 2;
        }
        char *end = NULL;
        errno = 0;
        switch (o->kind) {
        case FT_OPT_STR: *(const char **)o->out = val; break;
        case FT_OPT_INT:
            *(long *)o->out = strtol(val, &end, 10);
            if (errno || !*val || *end) {
                fprintf(stderr, "ftune %s: option --%s expects an integer, got '%s'\n", cmd, o->name, val);
                return 2;
            }
            break;
        case FT_OPT_FLOAT:
            *(double *)o->out = strtod(val, &end);
            if (errno || !*val || *end) {
                fprintf(stderr, "ftune %s: option --%s expects a number, got '%s'\n", cmd, o->name, val);
                return 2;
            }
            break;
        case FT_OPT_FLAG: break;
        }
    }
    return 0;
}

int ft_cli_json(const char *cmd, cJSON *j) {
    char *out = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!out) {
        fprintf(stderr, "ftune %s: out of memory\n", cmd);
        return 1;
    }
    printf("%s\n", out);
    cJSON_free(out);
    return 0;
}

int ft_cli_read_file(const char *cmd, const char *path, char **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "ftune %s: %s: cannot open: %s\n", cmd, path, strerror(errno));
        return 1;
    }
    size_t n = 0, cap = 4096;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - 1 - n, f);
        if (n < cap - 1 || ferror(f))
            break;
        char *g = realloc(b, cap *= 2);
        if (!g)
            free(b);
        b = g;
    }
    const bool bad = !b || ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "ftune %s: %s: %s\n", cmd, path, b ? "cannot read it" : "out of memory");
        free(b);
        return 1;
    }
    b[n] = '\0';
    *out = b;
    return 0;
}
