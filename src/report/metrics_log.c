/* report/metrics_log: metrics.jsonl appender (see metrics_log.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/metrics_log.h"

struct ft_log {
    FILE *f;
    char *path;
    int failed; /* a write failed: the last line may be torn */
};

ft_status ft_log_open(const char *path, ft_log **out) {
    if (!out)
        return ft_fail(FT_ERR_ARG, "ft_log_open: NULL output");
    *out = NULL;
    if (!path || !path[0])
        return ft_fail(FT_ERR_ARG, "ft_log_open: empty path");
    ft_log *l = calloc(1, sizeof *l);
    char *p = ft_strdup(path);
    if (!l || !p) {
        free(l);
        ft_free(p);
        return ft_fail(FT_ERR_NOMEM, "%s: no memory for a metrics log", path);
    }
    l->f = fopen(path, "a");
    if (!l->f) {
        ft_status s = ft_fail(FT_ERR_IO, "%s: cannot open for appending: %s", path, strerror(errno));
        ft_free(p);
        free(l);
        return s;
    }
    l->path = p;
    *out = l;
    return FT_OK;
}

static int reserved_key(const char *k) { return strcmp(k, "step") == 0 || strcmp(k, "time") == 0; }

/* Print obj as one line and flush; consumes obj. */
static ft_status emit(ft_log *l, cJSON *obj) {
    char *s = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!s)
        return ft_fail(FT_ERR_NOMEM, "%s: no memory to print a metrics line", l->path);
    if (l->failed) {
        cJSON_free(s);
        return ft_fail(FT_ERR_IO, "%s: an earlier write failed; log closed for writing", l->path);
    }
    int bad = fputs(s, l->f) == EOF || fputc('\n', l->f) == EOF || fflush(l->f) != 0;
    cJSON_free(s);
    if (bad) {
        l->failed = 1;
        return ft_fail(FT_ERR_IO, "%s: writing a metrics line failed: %s", l->path, strerror(errno));
    }
    return FT_OK;
}

static cJSON *head(int64_t step, double time) {
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (!cJSON_AddNumberToObject(o, "step", (double)step) || !cJSON_AddNumberToObject(o, "time", time)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

ft_status ft_log_write(ft_log *l, int64_t step, double time, const char *const *keys,
                       const double *values, size_t n) {
    if (!l || (n > 0 && (!keys || !values)))
        return ft_fail(FT_ERR_ARG, "ft_log_write: NULL log, keys or values");
    for (size_t i = 0; i < n; i++) {
        if (!keys[i] || !keys[i][0] || reserved_key(keys[i]))
            return ft_fail(FT_ERR_ARG, "%s: step %lld: key %zu is empty, \"step\" or \"time\"", l->path,
                           (long long)step, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(keys[i], keys[j]) == 0)
                return ft_fail(FT_ERR_ARG, "%s: step %lld: key \"%s\" given twice", l->path,
                               (long long)step, keys[i]);
    }
    cJSON *o = head(step, time);
    if (!o)
        return ft_fail(FT_ERR_NOMEM, "%s: no memory for a metrics line", l->path);
    for (size_t i = 0; i < n; i++) {
        if (!cJSON_AddNumberToObject(o, keys[i], values[i])) {
            cJSON_Delete(o);
            return ft_fail(FT_ERR_NOMEM, "%s: no memory for a metrics line", l->path);
        }
    }
    return emit(l, o);
}

ft_status ft_log_write_obj(ft_log *l, int64_t step, double time, const cJSON *obj) {
    if (!l || !cJSON_IsObject(obj))
        return ft_fail(FT_ERR_ARG, "ft_log_write_obj: NULL log or obj is not a JSON object");
    for (const cJSON *c = obj->child; c; c = c->next)
        if (!c->string || reserved_key(c->string))
            return ft_fail(FT_ERR_ARG, "%s: step %lld: object has a \"step\" or \"time\" key", l->path,
                           (long long)step);
    cJSON *o = head(step, time);
    if (!o)
        return ft_fail(FT_ERR_NOMEM, "%s: no memory for a metrics line", l->path);
    for (const cJSON *c = obj->child; c; c = c->next) {
        cJSON *d = cJSON_Duplicate(c, 1);
        if (!d || !cJSON_AddItemToObject(o, c->string, d)) {
            cJSON_Delete(d);
            cJSON_Delete(o);
            return ft_fail(FT_ERR_NOMEM, "%s: no memory for a metrics line", l->path);
        }
    }
    return emit(l, o);
}

ft_status ft_log_close(ft_log *l) {
    if (!l)
        return FT_OK;
    ft_status s = FT_OK;
    if (fclose(l->f) != 0)
        s = ft_fail(FT_ERR_IO, "%s: close failed: %s", l->path, strerror(errno));
    ft_free(l->path);
    free(l);
    return s;
}

const char *ft_log_path(const ft_log *l) { return l ? l->path : NULL; }
