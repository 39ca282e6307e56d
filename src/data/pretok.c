#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/pretok.h"

/* Read a JSON array of integers into a fresh int32 array. */
static ft_status int_array(const cJSON *arr, const char *where, const char *field, int32_t **out, int *len) {
    if (!cJSON_IsArray(arr))
        return ft_fail(FT_ERR_FORMAT, "%s: field '%s' must be an array of integers", where, field);
    int n = cJSON_GetArraySize(arr);
    int32_t *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || fabs(e->valuedouble) > 2147483647.0) {
            free(v);
            return ft_fail(FT_ERR_FORMAT, "%s: field '%s' element %d is not an integer", where, field, i);
        }
        v[i++] = (int32_t)e->valuedouble;
    }
    *out = v;
    *len = n;
    return FT_OK;
}

void ft_batch_free(ft_batch *b) {
    free(b->input_ids);
    free(b->mask);
    free(b->labels);
    free(b->cls_labels);
    free(b->reg_targets);
    memset(b, 0, sizeof *b);
}

static ft_status matrix(const cJSON *root, const char *path, const char *field, int *B, int *T, int32_t **out) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, field);
    char where[4200];
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return ft_fail(FT_ERR_FORMAT, "%s: field '%s' must be a non-empty array of rows", path, field);
    int rows = cJSON_GetArraySize(arr), cols = -1;
    int32_t *m = NULL;
    int r = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, arr) {
        snprintf(where, sizeof where, "%s: row %d", path, r);
        int32_t *v;
        int n;
        ft_status s = int_array(row, where, field, &v, &n);
        if (s != FT_OK) {
            free(m);
            return s;
        }
        if (cols < 0) {
            cols = n;
            if (n == 0 || (*T > 0 && n != *T)) {
                free(v);
                return ft_fail(FT_ERR_SHAPE, "%s: field '%s' has rows of %d tokens, expected %d", path, field, n,
                               *T > 0 ? *T : 1);
            }
            m = malloc((size_t)rows * (size_t)cols * sizeof *m);
            if (!m) {
                free(v);
                return ft_fail(FT_ERR_NOMEM, "out of memory");
            }
        } else if (n != cols) {
            free(v);
            free(m);
            return ft_fail(FT_ERR_SHAPE, "%s: field '%s' row %d has %d tokens, row 0 has %d (rows must be equal)",
                           path, field, r, n, cols);
        }
        memcpy(m + (size_t)r * (size_t)cols, v, (size_t)cols * sizeof *v);
        free(v);
        r++;
    }
    if (*B > 0 && rows != *B) {
        free(m);
        return ft_fail(FT_ERR_SHAPE, "%s: field '%s' has %d rows, input_ids has %d", path, field, rows, *B);
    }
    *B = rows;
    *T = cols;
    *out = m;
    return FT_OK;
}

ft_status ft_batch_load_json(const char *path, ft_batch *out) {
    memset(out, 0, sizeof *out);
    char *txt;
    FT_TRY(ft_read_file(path, &txt, NULL));
    cJSON *root = cJSON_Parse(txt);
    free(txt);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ft_fail(FT_ERR_FORMAT, "%s: not a JSON object", path);
    }
    int B = 0, T = 0;
    ft_status s = matrix(root, path, "input_ids", &B, &T, &out->input_ids);
    if (s == FT_OK && cJSON_GetObjectItemCaseSensitive(root, "attention_mask"))
        s = matrix(root, path, "attention_mask", &B, &T, &out->mask);
    if (s == FT_OK && cJSON_GetObjectItemCaseSensitive(root, "labels"))
        s = matrix(root, path, "labels", &B, &T, &out->labels);
    const cJSON *cl = cJSON_GetObjectItemCaseSensitive(root, "cls_labels");
    const cJSON *tg = cJSON_GetObjectItemCaseSensitive(root, "targets");
    if (s == FT_OK && (cl || tg)) {
        const cJSON *arr = cl ? cl : tg;
        if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != B)
            s = ft_fail(FT_ERR_SHAPE, "%s: '%s' must be an array of %d values (one per row)", path,
                        cl ? "cls_labels" : "targets", B);
        else if (cl) {
            int n;
            s = int_array(cl, path, "cls_labels", &out->cls_labels, &n);
        } else {
            out->reg_targets = malloc((size_t)B * sizeof(float));
            int i = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, tg) {
                if (!cJSON_IsNumber(e)) {
                    s = ft_fail(FT_ERR_FORMAT, "%s: 'targets' element %d is not a number", path, i);
                    break;
                }
                out->reg_targets[i++] = (float)e->valuedouble;
            }
        }
    }
    cJSON_Delete(root);
    out->B = B;
    out->T = T;
    if (s != FT_OK)
        ft_batch_free(out);
    return s;
}

void ft_dataset_free(ft_dataset *d) {
    for (size_t i = 0; i < d->n; i++) {
        free(d->ex[i].ids);
        free(d->ex[i].labels);
    }
    free(d->ex);
    for (int i = 0; d->label_names && i < d->n_labels; i++)
        free(d->label_names[i]);
    free(d->label_names);
    memset(d, 0, sizeof *d);
}

ft_status ft_dataset_load_pretok(const char *path, ft_dataset *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return ft_fail(FT_ERR_IO, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0, n_cap = 0;
    ssize_t len;
    long lineno = 0;
    ft_status s = FT_OK;
    while (s == FT_OK && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0)
            continue;
        char where[4200];
        snprintf(where, sizeof where, "%s:%ld", path, lineno);
        cJSON *j = cJSON_Parse(line);
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            s = ft_fail(FT_ERR_FORMAT, "%s: not a JSON object", where);
            break;
        }
        ft_example ex = {.cls_label = -100};
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(j, "input_ids");
        if (!ids)
            s = ft_fail(FT_ERR_FORMAT, "%s: missing field 'input_ids'", where);
        else
            s = int_array(ids, where, "input_ids", &ex.ids, &ex.len);
        if (s == FT_OK && ex.len == 0)
            s = ft_fail(FT_ERR_FORMAT, "%s: 'input_ids' is empty", where);
        const cJSON *lab = cJSON_GetObjectItemCaseSensitive(j, "labels");
        if (s == FT_OK && lab) {
            int ln;
            s = int_array(lab, where, "labels", &ex.labels, &ln);
            if (s == FT_OK && ln != ex.len)
                s = ft_fail(FT_ERR_SHAPE, "%s: 'labels' has %d entries, 'input_ids' has %d", where, ln, ex.len);
        }
        const cJSON *cl = cJSON_GetObjectItemCaseSensitive(j, "label");
        if (s == FT_OK && cl) {
            if (!cJSON_IsNumber(cl) || cl->valuedouble != floor(cl->valuedouble) || cl->valuedouble < 0 ||
                cl->valuedouble > 1e9)
                s = ft_fail(FT_ERR_FORMAT, "%s: 'label' must be a non-negative integer class id", where);
            else
                ex.cls_label = (int32_t)cl->valuedouble;
        }
        const cJSON *tg = cJSON_GetObjectItemCaseSensitive(j, "target");
        if (s == FT_OK && tg) {
            if (!cJSON_IsNumber(tg) || !isfinite(tg->valuedouble))
                s = ft_fail(FT_ERR_FORMAT, "%s: 'target' must be a finite number", where);
            else
                ex.reg_target = (float)tg->valuedouble;
        }
        cJSON_Delete(j);
        if (s == FT_OK && out->n == n_cap) {
            n_cap = n_cap ? 2 * n_cap : 256;
            ft_example *ne = realloc(out->ex, n_cap * sizeof *ne);
            if (!ne)
                s = ft_fail(FT_ERR_NOMEM, "out of memory");
            else
                out->ex = ne;
        }
        if (s != FT_OK) {
            free(ex.ids);
            free(ex.labels);
            break;
        }
        out->ex[out->n++] = ex;
    }
    free(line);
    fclose(f);
    if (s == FT_OK && out->n == 0)
        s = ft_fail(FT_ERR_FORMAT, "%s: no examples", path);
    if (s != FT_OK)
        ft_dataset_free(out);
    return s;
}

ft_status ft_batch_collate(const ft_dataset *d, const size_t *idx, int n, int max_len, int32_t pad_id,
                           ft_batch *out) {
    memset(out, 0, sizeof *out);
    int T = 1;
    for (int i = 0; i < n; i++) {
        int l = d->ex[idx[i]].len < max_len ? d->ex[idx[i]].len : max_len;
        T = l > T ? l : T;
    }
    size_t cells = (size_t)n * (size_t)T;
    out->input_ids = malloc(cells * sizeof(int32_t));
    out->mask = malloc(cells * sizeof(int32_t));
    out->labels = malloc(cells * sizeof(int32_t));
    out->cls_labels = malloc((size_t)n * sizeof(int32_t));
    out->reg_targets = malloc((size_t)n * sizeof(float));
    if (!out->input_ids || !out->mask || !out->labels || !out->cls_labels || !out->reg_targets) {
        ft_batch_free(out);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    out->B = n;
    out->T = T;
    for (int i = 0; i < n; i++) {
        const ft_example *e = &d->ex[idx[i]];
        out->cls_labels[i] = e->cls_label;
        out->reg_targets[i] = e->reg_target;
        for (int t = 0; t < T; t++) {
            size_t c = (size_t)i * (size_t)T + (size_t)t;
            bool real = t < e->len && t < max_len;
            out->input_ids[c] = real ? e->ids[t] : pad_id;
            out->mask[c] = real ? 1 : 0;
            out->labels[c] = real ? (e->labels ? e->labels[t] : e->ids[t]) : -100;
        }
    }
    return FT_OK;
}
