#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}
static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

static void indent(sbuf *b, int level) {
    put(b, "\n", 1);
    for (int i = 0; i < level; i++)
        put(b, "  ", 2);
}

/* UTF-8 → \uXXXX (surrogate pairs above the BMP), as ensure_ascii does. */
static void put_string(sbuf *b, const char *s) {
    put(b, "\"", 1);
    const unsigned char *u = (const unsigned char *)s;
    char tmp[16];
    while (*u) {
        unsigned c = *u;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            put(b, tmp, 2);
            u++;
        } else if (c == '\n') {
            puts_(b, "\\n"), u++;
        } else if (c == '\r') {
            puts_(b, "\\r"), u++;
        } else if (c == '\t') {
            puts_(b, "\\t"), u++;
        } else if (c == '\b') {
            puts_(b, "\\b"), u++;
        } else if (c == '\f') {
            puts_(b, "\\f"), u++;
        } else if (c < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            puts_(b, tmp);
            u++;
        } else if (c < 0x80) {
            put(b, (const char *)u, 1);
            u++;
        } else {
            unsigned cp;
            int n;
            if ((c & 0xe0) == 0xc0)
                cp = c & 0x1f, n = 1;
            else if ((c & 0xf0) == 0xe0)
                cp = c & 0x0f, n = 2;
            else
                cp = c & 0x07, n = 3;
            u++;
            for (int i = 0; i < n && (*u & 0xc0) == 0x80; i++, u++)
                cp = (cp << 6) | (*u & 0x3f);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
            } else {
                snprintf(tmp, sizeof tmp, "\\u%04x", cp);
            }
            puts_(b, tmp);
        }
    }
    put(b, "\"", 1);
}

static void put_number(sbuf *b, double v) {
    char tmp[40];
    if (isnan(v))
        snprintf(tmp, sizeof tmp, "NaN");
    else if (isinf(v))
        snprintf(tmp, sizeof tmp, v > 0 ? "Infinity" : "-Infinity");
    else if (v == floor(v) && fabs(v) < 1e16)
        snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    else {
        for (int prec = 1; prec <= 17; prec++) { /* shortest repr that round-trips */
            snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
        /* Python writes 1e-05 / 1e+20 like %g; a plain mantissa with exponent needs no ".0" */
    }
    puts_(b, tmp);
}

static int cmp_items(const void *a, const void *b) {
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static void dump(sbuf *b, const cJSON *v, int level, bool sort) {
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        bool obj = cJSON_IsObject(v);
        int n = cJSON_GetArraySize(v);
        if (n == 0) {
            puts_(b, obj ? "{}" : "[]");
            return;
        }
        const cJSON **items = malloc((size_t)n * sizeof *items);
        if (!items) {
            b->oom = true;
            return;
        }
        int i = 0;
        for (const cJSON *c = v->child; c; c = c->next)
            items[i++] = c;
        if (obj && sort)
            qsort(items, (size_t)n, sizeof *items, cmp_items);
        put(b, obj ? "{" : "[", 1);
        for (i = 0; i < n; i++) {
            if (i)
                put(b, ",", 1);
            indent(b, level + 1);
            if (obj) {
                put_string(b, items[i]->string);
                put(b, ": ", 2);
            }
            dump(b, items[i], level + 1, sort);
        }
        indent(b, level);
        put(b, obj ? "}" : "]", 1);
        free(items);
    } else if (cJSON_IsString(v)) {
        put_string(b, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        put_number(b, v->valuedouble);
    } else if (cJSON_IsTrue(v)) {
        puts_(b, "true");
    } else if (cJSON_IsFalse(v)) {
        puts_(b, "false");
    } else {
        puts_(b, "null");
    }
}

char *ft_json_dump_py(const cJSON *v, bool sort_keys) {
    sbuf b = {0};
    dump(&b, v, 0, sort_keys);
    put(&b, "\n", 1);
    if (b.oom) {
        free(b.p);
        ft_fail(FT_ERR_NOMEM, "out of memory writing JSON");
        return NULL;
    }
    return b.p;
}

ft_status ft_json_write_file(const char *path, const cJSON *v, bool sort_keys) {
    char *txt = ft_json_dump_py(v, sort_keys);
    if (!txt)
        return FT_ERR_NOMEM;
    ft_status s = ft_write_file_atomic(path, txt, strlen(txt));
    free(txt);
    return s;
}
