/* data/readers: JSONL, CSV/TSV (RFC 4180 quoting, embedded newlines) and plain text -> raw rows with the
 * configured field mapping; JSONL writer for cleaned rows. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "data/dataset.h"

void ft_data_rec_free(ft_data_rec *r) {
    free(r->text);
    free(r->text_pair);
    free(r->label);
    free(r->prompt);
    free(r->response);
    for (int i = 0; i < r->n_msgs; i++) {
        free(r->msgs[i].role);
        free(r->msgs[i].content);
    }
    free(r->msgs);
    free(r->file);
    memset(r, 0, sizeof *r);
}

void ft_data_recs_free(ft_data_recs *rs) {
    for (size_t i = 0; i < rs->n; i++)
        ft_data_rec_free(&rs->r[i]);
    free(rs->r);
    memset(rs, 0, sizeof *rs);
}

static ft_status dup_field(char **dst, const char *src) {
    if (src && !(*dst = ft_strdup(src)))
        return ft_fail(FT_ERR_NOMEM, "out of memory copying a row");
    return FT_OK;
}

ft_status ft_data_rec_fill(ft_data_rec *r, const char *text, const char *text_pair, const char *label,
                           const char *prompt, const char *response, const char *file) {
    const char *src[6] = {text, text_pair, label, prompt, response, file};
    char **dst[6] = {&r->text, &r->text_pair, &r->label, &r->prompt, &r->response, &r->file};
    for (int k = 0; k < 6; k++)
        FT_TRY(dup_field(dst[k], src[k]));
    return FT_OK;
}

ft_status ft_data_recs_append(ft_data_recs *dst, const ft_data_recs *src) {
    for (size_t i = 0; src && i < src->n; i++) {
        const ft_data_rec *a = &src->r[i];
        ft_data_rec b = {.line = a->line};
        ft_status s = ft_data_rec_fill(&b, a->text, a->text_pair, a->label, a->prompt, a->response, a->file);
        if (s == FT_OK && a->n_msgs > 0) {
            if (!(b.msgs = calloc((size_t)a->n_msgs, sizeof *b.msgs)))
                s = ft_fail(FT_ERR_NOMEM, "out of memory copying a row");
            for (int k = 0; s == FT_OK && k < a->n_msgs; k++) {
                b.n_msgs = k + 1;
                s = dup_field(&b.msgs[k].role, a->msgs[k].role);
                if (s == FT_OK)
                    s = dup_field(&b.msgs[k].content, a->msgs[k].content);
            }
        }
        if (s == FT_OK)
            s = ft_data_recs_push(dst, &b); /* frees b on failure */
        else
            ft_data_rec_free(&b);
        FT_TRY(s);
    }
    return FT_OK;
}

const char *ft_data_train_name(const ft_data_cfg *cfg) {
    return cfg->rows[0] ? "(the caller's rows)" : cfg->train ? cfg->train : "(no training data)";
}

ft_status ft_data_recs_push(ft_data_recs *rs, ft_data_rec *r) {
    if (rs->n == rs->cap) {
        size_t nc = rs->cap ? 2 * rs->cap : 64;
        ft_data_rec *nr = realloc(rs->r, nc * sizeof *nr);
        if (!nr) {
            ft_data_rec_free(r);
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        }
        rs->r = nr;
        rs->cap = nc;
    }
    rs->r[rs->n++] = *r;
    memset(r, 0, sizeof *r);
    return FT_OK;
}

static const char *or_default(const char *s, const char *d) { return s ? s : d; }

/* A label or text cell from JSON: strings as they are, integers as "%lld", other numbers as "%.17g". */
static ft_status json_scalar(const cJSON *v, const char *where, const char *field, char **out) {
    char buf[64];
    if (cJSON_IsString(v))
        *out = strdup(v->valuestring);
    else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d > -1e15 && d < 1e15 && d == (double)(long long)d) /* range first: the cast of 1e20 is UB */
            snprintf(buf, sizeof buf, "%lld", (long long)d);
        else
            snprintf(buf, sizeof buf, "%.17g", d);
        *out = strdup(buf);
    } else if (cJSON_IsBool(v))
        *out = strdup(cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNull(v)) {
        *out = NULL;
        return FT_OK;
    } else
        return ft_fail(FT_ERR_FORMAT, "%s: field '%s' must be a string or number", where, field);
    return *out ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
}

static ft_status json_field(const cJSON *o, const char *name, const char *where, char **out) {
    *out = NULL;
    if (!name)
        return FT_OK;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return v ? json_scalar(v, where, name, out) : FT_OK;
}

static ft_status json_row(const cJSON *o, const ft_data_cfg *c, const char *where, ft_data_rec *r) {
    FT_TRY(json_field(o, or_default(c->text_field, "text"), where, &r->text));
    FT_TRY(json_field(o, c->text_pair_field, where, &r->text_pair));
    FT_TRY(json_field(o, or_default(c->label_field, "label"), where, &r->label));
    FT_TRY(json_field(o, or_default(c->prompt_field, "prompt"), where, &r->prompt));
    FT_TRY(json_field(o, or_default(c->response_field, "response"), where, &r->response));
    const char *mf = or_default(c->messages_field, "messages");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, mf);
    if (!m || cJSON_IsNull(m))
        return FT_OK;
    if (!cJSON_IsArray(m))
        return ft_fail(FT_ERR_FORMAT, "%s: field '%s' must be a list of {role, content}", where, mf);
    int n = cJSON_GetArraySize(m);
    r->msgs = calloc((size_t)(n ? n : 1), sizeof *r->msgs);
    if (!r->msgs)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, m) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(e, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!cJSON_IsString(role) || !cJSON_IsString(content))
            return ft_fail(FT_ERR_FORMAT, "%s: %s[%d] needs string 'role' and 'content'", where, mf, r->n_msgs);
        const char *rl = role->valuestring;
        if (strcmp(rl, "system") && strcmp(rl, "user") && strcmp(rl, "assistant"))
            return ft_fail(FT_ERR_FORMAT, "%s: %s[%d]: role '%s' is not system, user or assistant", where, mf,
                           r->n_msgs, rl);
        ft_data_msg *dm = &r->msgs[r->n_msgs++];
        dm->role = strdup(rl);
        dm->content = strdup(content->valuestring);
        if (!dm->role || !dm->content)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    return FT_OK;
}

static ft_status set_file(ft_data_rec *r, const char *path, long line) {
    r->file = strdup(path);
    r->line = line;
    return r->file ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
}

/* Limits on one row (docs/reliability.md): a JSONL/text line or a CSV record (quoted newlines included)
 * longer than this, or a CSV record with more fields, is an error rather than a huge allocation. */
#define DATA_MAX_LINE (16 << 20)
#define DATA_MAX_FIELDS 10000

static ft_status line_too_long(const char *path, long line) {
    return ft_fail(FT_ERR_FORMAT, "%s:%ld: row is longer than %d bytes (the limit)", path, line,
                   DATA_MAX_LINE);
}

static ft_status read_jsonl(const char *path, const char *buf, size_t len, const ft_data_cfg *c,
                            ft_data_recs *out) {
    const char *p = buf, *end = buf + len;
    long lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        if (le - p > DATA_MAX_LINE)
            return line_too_long(path, lineno);
        const char *s = p, *e = le;
        p = nl ? nl + 1 : end;
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (s == e)
            continue;
        char where[4200];
        snprintf(where, sizeof where, "%s:%ld", path, lineno);
        cJSON *j = cJSON_ParseWithLength(s, (size_t)(e - s));
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            return ft_fail(FT_ERR_FORMAT, "%s: not a JSON object", where);
        }
        ft_data_rec r = {0};
        ft_status st = json_row(j, c, where, &r);
        cJSON_Delete(j);
        if (st == FT_OK)
            st = set_file(&r, path, lineno);
        if (st != FT_OK) {
            ft_data_rec_free(&r);
            return st;
        }
        FT_TRY(ft_data_recs_push(out, &r));
    }
    return FT_OK;
}

/* ---- CSV / TSV ---- */
typedef struct {
    char **cell;
    size_t n, cap;
} row_t;

static void row_clear(row_t *r) {
    for (size_t i = 0; i < r->n; i++)
        free(r->cell[i]);
    r->n = 0;
}

static ft_status row_add(row_t *r, const char *s, size_t n) {
    if (r->n == r->cap) {
        size_t nc = r->cap ? 2 * r->cap : 16;
        char **x = realloc(r->cell, nc * sizeof *x);
        if (!x)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        r->cell = x;
        r->cap = nc;
    }
    char *c = malloc(n + 1);
    if (!c)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    if (n) /* s is NULL for an empty quoted field read before any other */
        memcpy(c, s, n);
    c[n] = 0;
    r->cell[r->n++] = c;
    return FT_OK;
}

/* Parse one record starting at *pp; *line advances over the newlines consumed (also inside quotes).
 * Returns FT_OK with row->n == 0 at end of input. */
static ft_status csv_record(const char *path, const char **pp, const char *end, char delim, long *line, row_t *row,
                            char **scratch, size_t *scap) {
    const char *p = *pp, *rec = *pp;
    long start = *line;
    row_clear(row);
    if (p >= end)
        return FT_OK;
    for (;;) {
        size_t n = 0;
        if (p - rec > DATA_MAX_LINE)
            return line_too_long(path, start);
        if (row->n >= DATA_MAX_FIELDS)
            return ft_fail(FT_ERR_FORMAT, "%s:%ld: more than %d fields in one record (the limit)", path,
                           start, DATA_MAX_FIELDS);
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p >= end)
                    return ft_fail(FT_ERR_FORMAT, "%s:%ld: unterminated quoted field", path, start);
                if (p - rec > DATA_MAX_LINE)
                    return line_too_long(path, start);
                char ch = *p++;
                if (ch == '"') {
                    if (p < end && *p == '"')
                        p++;
                    else
                        break;
                } else if (ch == '\n')
                    (*line)++;
                if (n + 1 >= *scap) {
                    size_t nc = *scap ? 2 * *scap : 256;
                    char *x = realloc(*scratch, nc);
                    if (!x)
                        return ft_fail(FT_ERR_NOMEM, "out of memory");
                    *scratch = x;
                    *scap = nc;
                }
                (*scratch)[n++] = ch;
            }
            if (p < end && *p != delim && *p != '\n' && *p != '\r')
                return ft_fail(FT_ERR_FORMAT, "%s:%ld: unexpected character '%c' after a closing quote", path,
                               *line, *p);
            FT_TRY(row_add(row, *scratch, n));
        } else {
            const char *s = p;
            while (p < end && *p != delim && *p != '\n' && !(*p == '\r' && p + 1 < end && p[1] == '\n')) {
                if (*p == '"')
                    return ft_fail(FT_ERR_FORMAT, "%s:%ld: stray quote inside an unquoted field", path, *line);
                p++;
            }
            if (p - rec > DATA_MAX_LINE)
                return line_too_long(path, start);
            size_t l = (size_t)(p - s);
            if (p >= end || *p == '\n')
                while (l > 0 && s[l - 1] == '\r')
                    l--;
            FT_TRY(row_add(row, s, l));
        }
        if (p < end && *p == delim) {
            p++;
            continue;
        }
        if (p < end && *p == '\r')
            p++;
        if (p < end && *p == '\n') {
            p++;
            (*line)++;
        }
        break;
    }
    *pp = p;
    return FT_OK;
}

static ft_status cell_dup(const row_t *row, int col, char **out) {
    *out = NULL;
    if (col < 0)
        return FT_OK;
    *out = strdup(row->cell[col]);
    return *out ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
}

static ft_status read_csv(const char *path, const char *buf, size_t len, char delim, const ft_data_cfg *c,
                          ft_data_recs *out) {
    const char *p = buf, *end = buf + len;
    long line = 1;
    row_t head = {0}, row = {0};
    char *scratch = NULL;
    size_t scap = 0;
    ft_status s = csv_record(path, &p, end, delim, &line, &head, &scratch, &scap);
    if (s == FT_OK && head.n == 0)
        s = ft_fail(FT_ERR_FORMAT, "%s: no header row", path);
    const char *names[5] = {or_default(c->text_field, "text"), c->text_pair_field, or_default(c->label_field, "label"),
                            or_default(c->prompt_field, "prompt"), or_default(c->response_field, "response")};
    int col[5] = {-1, -1, -1, -1, -1};
    for (int k = 0; s == FT_OK && k < 5; k++)
        for (size_t i = 0; names[k] && i < head.n; i++)
            if (!strcmp(head.cell[i], names[k]))
                col[k] = (int)i;
    if (s == FT_OK && col[0] < 0 && col[3] < 0)
        s = ft_fail(FT_ERR_FORMAT, "%s:1: no column '%s' (nor '%s') in the header", path, names[0], names[3]);
    while (s == FT_OK) {
        long at = line;
        s = csv_record(path, &p, end, delim, &line, &row, &scratch, &scap);
        if (s != FT_OK || row.n == 0)
            break;
        if (row.n == 1 && row.cell[0][0] == 0)
            continue; /* blank line */
        if (row.n != head.n) {
            s = ft_fail(FT_ERR_FORMAT, "%s:%ld: %zu fields, the header has %zu", path, at, row.n, head.n);
            break;
        }
        ft_data_rec r = {0};
        s = cell_dup(&row, col[0], &r.text);
        if (s == FT_OK)
            s = cell_dup(&row, col[1], &r.text_pair);
        if (s == FT_OK)
            s = cell_dup(&row, col[2], &r.label);
        if (s == FT_OK)
            s = cell_dup(&row, col[3], &r.prompt);
        if (s == FT_OK)
            s = cell_dup(&row, col[4], &r.response);
        if (s == FT_OK)
            s = set_file(&r, path, at);
        if (s == FT_OK)
            s = ft_data_recs_push(out, &r);
        else
            ft_data_rec_free(&r);
    }
    row_clear(&head);
    row_clear(&row);
    free(head.cell);
    free(row.cell);
    free(scratch);
    return s;
}

static ft_status read_text(const char *path, const char *buf, size_t len, ft_data_recs *out) {
    const char *p = buf, *end = buf + len;
    long lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        const char *s = p;
        lineno++;
        if (e - s > DATA_MAX_LINE)
            return line_too_long(path, lineno);
        p = nl ? nl + 1 : end;
        if (e > s && e[-1] == '\r')
            e--;
        if (e == s)
            continue;
        ft_data_rec r = {0};
        r.text = strndup(s, (size_t)(e - s));
        ft_status st = r.text ? set_file(&r, path, lineno) : ft_fail(FT_ERR_NOMEM, "out of memory");
        if (st != FT_OK) {
            ft_data_rec_free(&r);
            return st;
        }
        FT_TRY(ft_data_recs_push(out, &r));
    }
    return FT_OK;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcasecmp(s + a - b, suf);
}

ft_status ft_data_read(const char *path, const ft_data_cfg *cfg, ft_data_recs *out) {
    const char *fmt = cfg->format ? cfg->format : "auto";
    if (!strcmp(fmt, "auto"))
        fmt = ends_with(path, ".jsonl") || ends_with(path, ".json") || ends_with(path, ".ndjson") ? "jsonl"
              : ends_with(path, ".csv")                                                        ? "csv"
              : ends_with(path, ".tsv")                                                        ? "tsv"
                                                                                                : "text";
    if (strcmp(fmt, "jsonl") && strcmp(fmt, "csv") && strcmp(fmt, "tsv") && strcmp(fmt, "text"))
        return ft_fail(FT_ERR_CONFIG, "data.format: '%s' is not auto, jsonl, csv, tsv or text", fmt);
    char *buf;
    size_t len;
    FT_TRY(ft_read_file(path, &buf, &len));
    const char *b = buf;
    if (len >= 3 && !memcmp(b, "\xEF\xBB\xBF", 3)) {
        b += 3;
        len -= 3;
    }
    size_t before = out->n;
    ft_status s = !strcmp(fmt, "jsonl") ? read_jsonl(path, b, len, cfg, out)
                  : !strcmp(fmt, "csv") ? read_csv(path, b, len, ',', cfg, out)
                  : !strcmp(fmt, "tsv") ? read_csv(path, b, len, '\t', cfg, out)
                                        : read_text(path, b, len, out);
    free(buf);
    if (s == FT_OK && out->n == before)
        s = ft_fail(FT_ERR_FORMAT, "%s: no rows", path);
    return s;
}

ft_status ft_data_write_jsonl(const char *path, const ft_data_recs *rs) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return ft_fail(FT_ERR_IO, "%s: cannot create", path);
    ft_status s = FT_OK;
    for (size_t i = 0; i < rs->n && s == FT_OK; i++) {
        const ft_data_rec *r = &rs->r[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
            break;
        }
        if (r->text)
            cJSON_AddStringToObject(o, "text", r->text);
        if (r->text_pair)
            cJSON_AddStringToObject(o, "text_pair", r->text_pair);
        if (r->prompt)
            cJSON_AddStringToObject(o, "prompt", r->prompt);
        if (r->response)
            cJSON_AddStringToObject(o, "response", r->response);
        if (r->n_msgs) {
            cJSON *a = cJSON_AddArrayToObject(o, "messages");
            for (int k = 0; a && k < r->n_msgs; k++) {
                cJSON *m = cJSON_CreateObject();
                cJSON_AddStringToObject(m, "role", r->msgs[k].role);
                cJSON_AddStringToObject(m, "content", r->msgs[k].content);
                cJSON_AddItemToArray(a, m);
            }
        }
        if (r->label)
            cJSON_AddStringToObject(o, "label", r->label);
        char *txt = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!txt || fprintf(f, "%s\n", txt) < 0)
            s = ft_fail(FT_ERR_IO, "%s: write failed", path);
        free(txt);
    }
    if (fclose(f) != 0 && s == FT_OK)
        s = ft_fail(FT_ERR_IO, "%s: write failed", path);
    return s;
}
