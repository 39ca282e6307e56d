#include <cjson/cJSON.h>
#include <errno.h>
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

static bool parse_int(const char *s, long long *v) {
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return *s && !*end && errno == 0;
}

typedef struct {
    const char *name;
    long long v;
} lab_t;
static int lab_cmp_str(const void *a, const void *b) {
    return strcmp(((const lab_t *)a)->name, ((const lab_t *)b)->name);
}
static int lab_cmp_int(const void *a, const void *b) {
    long long x = ((const lab_t *)a)->v, y = ((const lab_t *)b)->v;
    return (x > y) - (x < y);
}

/* The label set of labels[0..n): integers (every label one) in numeric order, else strings in byte order. */
ft_status ft_data_label_set(const char *const *labels, size_t n, char ***names, int *n_labels) {
    lab_t *l = malloc((n ? n : 1) * sizeof *l);
    if (!l)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    bool all_int = true;
    for (size_t i = 0; i < n; i++) {
        l[i].name = labels[i];
        all_int = all_int && parse_int(l[i].name, &l[i].v);
    }
    qsort(l, n, sizeof *l, all_int ? lab_cmp_int : lab_cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || (all_int ? l[i].v != l[k - 1].v : strcmp(l[i].name, l[k - 1].name) != 0))
            l[k++] = l[i];
    char **nm = calloc(k ? k : 1, sizeof *nm);
    for (size_t i = 0; nm && i < k; i++)
        if (!(nm[i] = strdup(l[i].name))) {
            for (size_t j = 0; j < i; j++)
                free(nm[j]);
            free(nm);
            nm = NULL;
        }
    free(l);
    if (!nm)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    *names = nm;
    *n_labels = (int)k;
    return FT_OK;
}

int ft_data_label_id(char *const *names, int n, const char *lab) {
    long long a, b;
    bool ai = parse_int(lab, &a);
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], lab) || (ai && parse_int(names[i], &b) && a == b))
            return i;
    return -1;
}

void ft_batch_free(ft_batch *b) {
    free(b->input_ids);
    free(b->mask);
    free(b->type_ids);
    free(b->labels);
    free(b->cls_labels);
    free(b->reg_targets);
    free(b->start_positions);
    free(b->end_positions);
    free(b->pixel_values);
    free(b->decoder_input_ids);
    free(b->decoder_mask);
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

/* "pixel_values": [B][C][H][W] numbers (rectangular) → out->pixel_values and its sizes. */
static ft_status pixels(const cJSON *arr, const char *path, ft_batch *out) {
    int dims[4] = {0};
    const cJSON *e = arr;
    for (int d = 0; d < 4; d++, e = cJSON_GetArrayItem(e, 0)) {
        if (!cJSON_IsArray(e) || (dims[d] = cJSON_GetArraySize(e)) == 0)
            return ft_fail(FT_ERR_FORMAT, "%s: 'pixel_values' must be a non-empty [B][C][H][W] array of numbers",
                           path);
    }
    const int64_t n = (int64_t)dims[0] * dims[1] * dims[2] * dims[3];
    if (n > ((int64_t)1 << 28))
        return ft_fail(FT_ERR_RANGE, "%s: 'pixel_values' [%d][%d][%d][%d] holds more than 2^28 values", path,
                       dims[0], dims[1], dims[2], dims[3]);
    float *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    int64_t k = 0;
    int idx[3];
    const cJSON *img, *chan, *row, *x;
    idx[0] = 0;
    cJSON_ArrayForEach(img, arr) {
        idx[1] = 0;
        bool ok = cJSON_IsArray(img) && cJSON_GetArraySize(img) == dims[1];
        const cJSON *img_ok = ok ? img : NULL;
        cJSON_ArrayForEach(chan, img_ok) {
            idx[2] = 0;
            ok = ok && cJSON_IsArray(chan) && cJSON_GetArraySize(chan) == dims[2];
            const cJSON *chan_ok = ok ? chan : NULL;
            cJSON_ArrayForEach(row, chan_ok) {
                ok = ok && cJSON_IsArray(row) && cJSON_GetArraySize(row) == dims[3];
                const cJSON *row_ok = ok ? row : NULL;
                cJSON_ArrayForEach(x, row_ok) {
                    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble)) {
                        free(v);
                        return ft_fail(FT_ERR_FORMAT, "%s: pixel_values[%d][%d][%d][%lld] is not a finite number",
                                       path, idx[0], idx[1], idx[2], (long long)(k % dims[3]));
                    }
                    v[k++] = (float)x->valuedouble;
                }
                idx[2]++;
            }
            idx[1]++;
        }
        if (!ok) {
            free(v);
            return ft_fail(FT_ERR_SHAPE,
                           "%s: pixel_values[%d] is not a [%d][%d][%d] array like pixel_values[0] (images must "
                           "all have one size)",
                           path, idx[0], dims[1], dims[2], dims[3]);
        }
        idx[0]++;
    }
    out->pixel_values = v;
    out->B = dims[0];
    out->img_c = dims[1];
    out->img_h = dims[2];
    out->img_w = dims[3];
    return FT_OK;
}

ft_status ft_batch_load_json(const char *path, ft_batch *out) {
    return ft_batch_load_json_seq2seq(path, false, out);
}

ft_status ft_batch_load_json_seq2seq(const char *path, bool seq2seq, ft_batch *out) {
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
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(root, "pixel_values");
    ft_status s = FT_OK;
    if (pv && (s = pixels(pv, path, out)) == FT_OK)
        B = out->B;
    if (s == FT_OK && (!pv || cJSON_GetObjectItemCaseSensitive(root, "input_ids")))
        s = matrix(root, path, "input_ids", &B, &T, &out->input_ids);
    if (s == FT_OK && cJSON_GetObjectItemCaseSensitive(root, "attention_mask"))
        s = matrix(root, path, "attention_mask", &B, &T, &out->mask);
    if (s == FT_OK && cJSON_GetObjectItemCaseSensitive(root, "token_type_ids"))
        s = matrix(root, path, "token_type_ids", &B, &T, &out->type_ids);
    /* encoder-decoder: decoder_input_ids / decoder_attention_mask / labels [B][T_dec] (a model without a
     * decoder refuses T_dec); else labels are [B][T] */
    int Td = 0;
    const bool dec = cJSON_GetObjectItemCaseSensitive(root, "decoder_input_ids") != NULL;
    if (s == FT_OK && dec)
        s = matrix(root, path, "decoder_input_ids", &B, &Td, &out->decoder_input_ids);
    if (s == FT_OK && cJSON_GetObjectItemCaseSensitive(root, "decoder_attention_mask"))
        s = matrix(root, path, "decoder_attention_mask", &B, &Td, &out->decoder_mask);
    const bool dec_labels = seq2seq || dec || out->decoder_mask;
    if (s == FT_OK && cJSON_GetObjectItemCaseSensitive(root, "labels"))
        s = matrix(root, path, "labels", &B, dec_labels ? &Td : &T, &out->labels);
    out->T_dec = dec_labels ? Td : 0;
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
            if (!out->reg_targets)
                s = ft_fail(FT_ERR_NOMEM, "out of memory");
            int i = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, tg) {
                if (s != FT_OK)
                    break;
                if (!cJSON_IsNumber(e)) {
                    s = ft_fail(FT_ERR_FORMAT, "%s: 'targets' element %d is not a number", path, i);
                    break;
                }
                out->reg_targets[i++] = (float)e->valuedouble;
            }
        }
    }
    const char *span[2] = {"start_positions", "end_positions"};
    int32_t **span_out[2] = {&out->start_positions, &out->end_positions};
    for (int k = 0; s == FT_OK && k < 2; k++) { /* QA: [B] token positions */
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, span[k]);
        if (!arr && !cJSON_GetObjectItemCaseSensitive(root, span[1 - k]))
            continue;
        int n = 0;
        if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != B)
            s = ft_fail(FT_ERR_SHAPE, "%s: '%s' must be an array of %d values (one per row)", path, span[k],
                        B);
        else
            s = int_array(arr, path, span[k], span_out[k], &n);
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
        free(d->ex[i].type_ids);
        free(d->ex[i].word_ids);
    }
    free(d->ex);
    for (int i = 0; d->label_names && i < d->n_labels; i++)
        free(d->label_names[i]);
    free(d->label_names);
    memset(d, 0, sizeof *d);
}

ft_status ft_dataset_copy_labels(ft_dataset *d, char *const *names, int n) {
    if (!names || !d)
        return FT_OK;
    d->label_names = calloc((size_t)(n ? n : 1), sizeof *d->label_names);
    if (!d->label_names)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    d->n_labels = n;
    for (int i = 0; i < n; i++)
        if (!(d->label_names[i] = strdup(names[i])))
            return ft_fail(FT_ERR_NOMEM, "out of memory");
    return FT_OK;
}

/* A row's class label as text: an integer in decimal, or the string itself. */
static ft_status label_text(const cJSON *cl, const char *where, char *buf, size_t n, const char **out) {
    if (cJSON_IsString(cl) && cl->valuestring[0]) {
        *out = cl->valuestring;
        return FT_OK;
    }
    if (!cJSON_IsNumber(cl))
        return ft_fail(FT_ERR_FORMAT, "%s: 'label' must be an integer or a non-empty string", where);
    double v = cl->valuedouble;
    if (v != floor(v) || fabs(v) > 9007199254740992.0)
        return ft_fail(FT_ERR_FORMAT,
                       "%s: 'label' %.17g is not an integer (class labels are integers or strings; "
                       "a regression value goes in 'target')",
                       where, v);
    snprintf(buf, n, "%lld", (long long)v);
    *out = buf;
    return FT_OK;
}

static ft_status copy_label_names(char *const *names, int n, ft_dataset *d) {
    d->label_names = calloc((size_t)(n ? n : 1), sizeof *d->label_names);
    if (!d->label_names)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    d->n_labels = n;
    for (int i = 0; i < n; i++)
        if (!(d->label_names[i] = ft_strdup(names[i])))
            return ft_fail(FT_ERR_NOMEM, "out of memory");
    return FT_OK;
}

ft_status ft_dataset_load_pretok(const char *path, ft_dataset *out) {
    return ft_dataset_load_pretok_labels(path, NULL, 0, out);
}

ft_status ft_dataset_load_pretok_labels(const char *path, char *const *label_names, int n_labels,
                                        ft_dataset *out) {
    memset(out, 0, sizeof *out);
    char **labs = NULL; /* without label_names: each row's label text (NULL: none), mapped at the end */
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
        const cJSON *tti = cJSON_GetObjectItemCaseSensitive(j, "token_type_ids");
        if (s == FT_OK && tti) {
            int ln;
            s = int_array(tti, where, "token_type_ids", &ex.type_ids, &ln);
            if (s == FT_OK && ln != ex.len)
                s = ft_fail(FT_ERR_SHAPE, "%s: 'token_type_ids' has %d entries, 'input_ids' has %d", where,
                            ln, ex.len);
        }
        const cJSON *cl = cJSON_GetObjectItemCaseSensitive(j, "label");
        char lb[32];
        const char *cls = NULL;
        if (s == FT_OK && cl && !cJSON_IsNull(cl))
            s = label_text(cl, where, lb, sizeof lb, &cls);
        if (s == FT_OK && cls && label_names) {
            ex.cls_label = ft_data_label_id(label_names, n_labels, cls);
            if (ex.cls_label < 0) {
                ex.cls_label = -100;
                char known[512] = "";
                for (int k = 0; k < n_labels && strlen(known) < 400; k++)
                    snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
                             label_names[k]);
                s = ft_fail(FT_ERR_FORMAT, "%s: label '%s' does not occur in the training data (%s)", where,
                            cls, known);
            }
        }
        const cJSON *tg = cJSON_GetObjectItemCaseSensitive(j, "target");
        if (s == FT_OK && tg) {
            if (!cJSON_IsNumber(tg) || !isfinite(tg->valuedouble))
                s = ft_fail(FT_ERR_FORMAT, "%s: 'target' must be a finite number", where);
            else
                ex.reg_target = (float)tg->valuedouble;
        }
        char *lab_copy = NULL;
        if (s == FT_OK && cls && !label_names && !(lab_copy = ft_strdup(cls)))
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        cJSON_Delete(j);
        if (s == FT_OK && out->n == n_cap) {
            n_cap = n_cap ? 2 * n_cap : 256;
            ft_example *ne = realloc(out->ex, n_cap * sizeof *ne);
            char **nl = ne ? realloc(labs, n_cap * sizeof *nl) : NULL;
            if (ne)
                out->ex = ne;
            if (nl)
                labs = nl;
            if (!ne || !nl)
                s = ft_fail(FT_ERR_NOMEM, "out of memory");
        }
        if (s != FT_OK) {
            free(lab_copy);
            free(ex.ids);
            free(ex.labels);
            free(ex.type_ids);
            break;
        }
        labs[out->n] = lab_copy;
        out->ex[out->n++] = ex;
    }
    free(line);
    fclose(f);
    if (s == FT_OK && out->n == 0)
        s = ft_fail(FT_ERR_FORMAT, "%s: no examples", path);
    if (s == FT_OK && label_names)
        s = copy_label_names(label_names, n_labels, out);
    else if (s == FT_OK) { /* the file's own label set; rows without a label stay -100 */
        const char **present = malloc(out->n * sizeof *present);
        size_t k = 0;
        if (!present)
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; s == FT_OK && i < out->n; i++)
            if (labs[i])
                present[k++] = labs[i];
        if (s == FT_OK && k > 0)
            s = ft_data_label_set(present, k, &out->label_names, &out->n_labels);
        for (size_t i = 0; s == FT_OK && i < out->n; i++)
            if (labs[i])
                out->ex[i].cls_label = ft_data_label_id(out->label_names, out->n_labels, labs[i]);
        free(present);
    }
    for (size_t i = 0; labs && i < out->n; i++)
        free(labs[i]);
    free(labs);
    if (s != FT_OK)
        ft_dataset_free(out);
    return s;
}

int ft_batch_collate_len(const ft_dataset *d, const size_t *idx, int n, int max_len) {
    int T = 1;
    for (int i = 0; i < n; i++) {
        int l = d->ex[idx[i]].len < max_len ? d->ex[idx[i]].len : max_len;
        T = l > T ? l : T;
    }
    return T;
}

ft_status ft_batch_collate(const ft_dataset *d, const size_t *idx, int n, int max_len, int32_t pad_id,
                           ft_batch *out) {
    memset(out, 0, sizeof *out);
    const int T = ft_batch_collate_len(d, idx, n, max_len);
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
    if (d->qa && (!(out->start_positions = malloc((size_t)n * sizeof(int32_t))) ||
                  !(out->end_positions = malloc((size_t)n * sizeof(int32_t))))) {
        ft_batch_free(out);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; d->qa && i < n; i++) { /* a window cut by max_len loses its span: HF ignores it (T) */
        const ft_example *e = &d->ex[idx[i]];
        out->start_positions[i] = e->start_pos < max_len ? e->start_pos : max_len;
        out->end_positions[i] = e->end_pos < max_len ? e->end_pos : max_len;
    }
    bool types = false;
    for (int i = 0; i < n; i++)
        types |= d->ex[idx[i]].type_ids != NULL;
    if (types && !(out->type_ids = calloc(cells, sizeof(int32_t)))) {
        ft_batch_free(out);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    out->B = n;
    out->T = T;
    int Td = 0; /* seq2seq: the decoder's length */
    for (int i = 0; i < n; i++)
        Td = d->ex[idx[i]].dec_len > Td ? d->ex[idx[i]].dec_len : Td;
    if (Td > 0) {
        const size_t dcells = (size_t)n * (size_t)Td;
        int32_t *lab = malloc(dcells * sizeof *lab);
        if (!lab || !(out->decoder_mask = malloc(dcells * sizeof(int32_t)))) {
            free(lab);
            ft_batch_free(out);
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        }
        free(out->labels);
        out->labels = lab;
        out->T_dec = Td;
        for (int i = 0; i < n; i++) {
            const ft_example *e = &d->ex[idx[i]];
            for (int t = 0; t < Td; t++) {
                const size_t c = (size_t)i * (size_t)Td + (size_t)t;
                const bool real = t < e->dec_len;
                out->labels[c] = real ? e->labels[t] : -100;
                out->decoder_mask[c] = real ? 1 : 0;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        const ft_example *e = &d->ex[idx[i]];
        for (int t = 0; e->type_ids && t < T && t < e->len; t++) /* pads keep type 0 */
            out->type_ids[(size_t)i * (size_t)T + (size_t)t] = e->type_ids[t];
        out->cls_labels[i] = e->cls_label;
        out->reg_targets[i] = e->reg_target;
        for (int t = 0; t < T; t++) {
            size_t c = (size_t)i * (size_t)T + (size_t)t;
            bool real = t < e->len && t < max_len;
            out->input_ids[c] = real ? e->ids[t] : pad_id;
            out->mask[c] = real ? 1 : 0;
            if (Td == 0)
                out->labels[c] = real ? (e->labels ? e->labels[t] : e->ids[t]) : -100;
        }
    }
    return FT_OK;
}
