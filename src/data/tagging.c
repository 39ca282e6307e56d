/* Token-classification data: readers (JSONL, CoNLL columns, Brown), tag set, word-to-piece alignment. */
#include "data/tagging.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

void ft_tag_read_cfg_default(ft_tag_read_cfg *c) {
    *c = (ft_tag_read_cfg){.format = "auto",
                           .tokens_field = "tokens",
                           .tags_field = "tags",
                           .tag_column = -1,
                           .need_tags = true};
}

static void sent_free(ft_tag_sent *t) {
    for (int i = 0; i < t->n; i++) {
        free(t->words[i]);
        if (t->tags)
            free(t->tags[i]);
    }
    free(t->words);
    free(t->tags);
}

void ft_tag_sents_free(ft_tag_sents *s) {
    for (size_t i = 0; s->s && i < s->n; i++)
        sent_free(&s->s[i]);
    free(s->s);
    for (size_t i = 0; i < s->n_paths; i++)
        free(s->paths[i]);
    free(s->paths);
    memset(s, 0, sizeof *s);
}

/* A growing sentence: words and tags pushed one by one. */
typedef struct {
    ft_tag_sent t;
    int cap;
} sent_buf;

static ft_status buf_push(sent_buf *b, const char *w, size_t wn, const char *tag, size_t tn) {
    if (b->t.n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        char **nw = realloc(b->t.words, (size_t)b->cap * sizeof *nw);
        if (nw)
            b->t.words = nw;
        char **nt = nw ? realloc(b->t.tags, (size_t)b->cap * sizeof *nt) : NULL;
        if (nt)
            b->t.tags = nt;
        if (!nw || !nt)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    char *ws = malloc(wn + 1), *ts = tag ? malloc(tn + 1) : NULL;
    if (!ws || (tag && !ts)) {
        free(ws);
        free(ts);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    memcpy(ws, w, wn);
    ws[wn] = '\0';
    if (ts) {
        memcpy(ts, tag, tn);
        ts[tn] = '\0';
    }
    b->t.words[b->t.n] = ws;
    b->t.tags[b->t.n] = ts;
    b->t.n++;
    return FT_OK;
}

/* Move the sentence into out (an empty one is counted and dropped); the buffer starts afresh. */
static ft_status buf_flush(sent_buf *b, ft_tag_sents *out, bool tagged) {
    if (b->t.n == 0) {
        sent_free(&b->t);
        memset(b, 0, sizeof *b);
        return FT_OK;
    }
    if (!tagged) {
        for (int i = 0; i < b->t.n; i++)
            free(b->t.tags[i]);
        free(b->t.tags);
        b->t.tags = NULL;
    }
    if (out->n == out->cap) {
        size_t cap = out->cap ? 2 * out->cap : 64;
        ft_tag_sent *ns = realloc(out->s, cap * sizeof *ns);
        if (!ns) {
            sent_free(&b->t);
            memset(b, 0, sizeof *b);
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        }
        out->s = ns;
        out->cap = cap;
    }
    out->s[out->n++] = b->t;
    memset(b, 0, sizeof *b);
    return FT_OK;
}

/* A JSON string, or an integer written in decimal (HF datasets store ner_tags as class ids). */
static ft_status json_text(const cJSON *v, const char *path, long line, const char *field, int i, char *num,
                           size_t nn, const char **out) {
    if (cJSON_IsString(v) && v->valuestring[0]) {
        *out = v->valuestring;
        return FT_OK;
    }
    if (cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble) {
        snprintf(num, nn, "%lld", (long long)v->valuedouble);
        *out = num;
        return FT_OK;
    }
    return ft_fail(FT_ERR_FORMAT, "%s:%ld: '%s' element %d is not a non-empty string", path, line, field, i);
}

static ft_status jsonl_line(const char *path, long line, const char *txt, const ft_tag_read_cfg *c,
                            ft_tag_sents *out) {
    cJSON *j = cJSON_Parse(txt);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return ft_fail(FT_ERR_FORMAT, "%s:%ld: not a JSON object", path, line);
    }
    const cJSON *tk = cJSON_GetObjectItemCaseSensitive(j, c->tokens_field);
    const cJSON *tg = cJSON_GetObjectItemCaseSensitive(j, c->tags_field);
    ft_status s = FT_OK;
    if (!cJSON_IsArray(tk))
        s = ft_fail(FT_ERR_FORMAT, "%s:%ld: missing list field '%s' (data.tokens_field)", path, line,
                    c->tokens_field);
    else if (tg && !cJSON_IsArray(tg))
        s = ft_fail(FT_ERR_FORMAT, "%s:%ld: field '%s' is not a list", path, line, c->tags_field);
    else if (!tg && c->need_tags)
        s = ft_fail(FT_ERR_FORMAT, "%s:%ld: missing list field '%s' (data.tags_field)", path, line,
                    c->tags_field);
    else if (tg && cJSON_GetArraySize(tg) != cJSON_GetArraySize(tk))
        s = ft_fail(FT_ERR_FORMAT, "%s:%ld: %d tokens but %d tags (the lists must have the same length)",
                    path, line, cJSON_GetArraySize(tk), cJSON_GetArraySize(tg));
    sent_buf b = {0};
    b.t.line = line;
    b.t.file = path;
    for (int i = 0; s == FT_OK && i < cJSON_GetArraySize(tk); i++) {
        char n1[32], n2[32];
        const char *w = NULL, *t = NULL;
        s = json_text(cJSON_GetArrayItem(tk, i), path, line, c->tokens_field, i, n1, sizeof n1, &w);
        if (s == FT_OK && tg)
            s = json_text(cJSON_GetArrayItem(tg, i), path, line, c->tags_field, i, n2, sizeof n2, &t);
        if (s == FT_OK)
            s = buf_push(&b, w, strlen(w), t ? t : "", t ? strlen(t) : 0);
    }
    if (s == FT_OK) {
        if (b.t.n == 0)
            out->n_empty++;
        s = buf_flush(&b, out, tg != NULL);
    } else {
        sent_free(&b.t);
    }
    cJSON_Delete(j);
    return s;
}

/* One CoNLL line's columns (whitespace-separated), up to max. */
static int split_cols(const char *l, const char **col, size_t *len, int max) {
    int n = 0;
    while (*l) {
        while (*l && isspace((unsigned char)*l))
            l++;
        if (!*l)
            break;
        const char *st = l;
        while (*l && !isspace((unsigned char)*l))
            l++;
        if (n < max) {
            col[n] = st;
            len[n] = (size_t)(l - st);
        }
        n++;
    }
    return n;
}

static ft_status conll_line(const char *path, long line, const char *l, const ft_tag_read_cfg *c, sent_buf *b,
                            ft_tag_sents *out) {
    const char *col[64];
    size_t len[64];
    const int n = split_cols(l, col, len, 64);
    if (n == 0) { /* a blank line ends the sentence */
        if (b->t.n == 0 && b->t.line > 0)
            out->n_empty++;
        return buf_flush(b, out, true);
    }
    if (len[0] == 10 && !memcmp(col[0], "-DOCSTART-", 10))
        return FT_OK;
    if (n > 64)
        return ft_fail(FT_ERR_FORMAT, "%s:%ld: more than 64 columns", path, line);
    const int tc = c->tag_column < 0 ? n - 1 : c->tag_column;
    if (n < 2 || tc == 0 || tc >= n)
        return ft_fail(FT_ERR_FORMAT, "%s:%ld: %d column(s), no tag column %d (the word is column 0%s)", path,
                       line, n, c->tag_column < 0 ? n - 1 : c->tag_column,
                       c->tag_column < 0 ? ", the tag the last" : "");
    if (b->t.n == 0) {
        b->t.line = line;
        b->t.file = path;
    }
    return buf_push(b, col[0], len[0], col[tc], len[tc]);
}

static bool ends_with(const char *s, const char *suf) {
    const size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

ft_status ft_tag_read(const char *path, const ft_tag_read_cfg *c, ft_tag_sents *out) {
    const bool jsonl =
        !strcmp(c->format, "jsonl") ||
        (!strcmp(c->format, "auto") && (ends_with(path, ".jsonl") || ends_with(path, ".json")));
    if (strcmp(c->format, "auto") && strcmp(c->format, "jsonl") && strcmp(c->format, "conll"))
        return ft_fail(FT_ERR_CONFIG,
                       "%s: token classification reads data.format auto, jsonl or conll (brown: a "
                       "directory), not '%s'",
                       path, c->format);
    char *txt = NULL;
    size_t len = 0;
    FT_TRY(ft_read_file(path, &txt, &len));
    ft_status s = FT_OK;
    sent_buf b = {0};
    long line = 0;
    char *p = txt;
    if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        p += 3;
    while (s == FT_OK && *p) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        line++;
        if (nl > p && nl[-1] == '\r')
            nl[-1] = '\0';
        if (jsonl) {
            const char *q = p;
            while (isspace((unsigned char)*q))
                q++;
            if (*q)
                s = jsonl_line(path, line, q, c, out);
        } else {
            s = conll_line(path, line, p, c, &b, out);
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    if (s == FT_OK && !jsonl)
        s = buf_flush(&b, out, true);
    else
        sent_free(&b.t);
    free(txt);
    return s;
}

void ft_tag_brown_base(const char *tag, char *out, size_t n) {
    size_t k = strlen(tag);
    if (strcmp(tag, "--") != 0)
        for (size_t i = 1; tag[i]; i++)
            if (tag[i] == '-' || tag[i] == '+' || tag[i] == '*') {
                k = i;
                break;
            }
    if (k >= n)
        k = n - 1;
    memcpy(out, tag, k);
    out[k] = '\0';
}

/* Append a copy of str to the list v[0..*n) (capacity *cap, grown by doubling). */
static ft_status str_push(char ***v, size_t *n, size_t *cap, const char *str) {
    if (*n == *cap) {
        const size_t c = *cap ? 2 * *cap : 64;
        char **nv = realloc(*v, c * sizeof *nv);
        if (!nv)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        *v = nv;
        *cap = c;
    }
    if (!((*v)[*n] = ft_strdup(str)))
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    (*n)++;
    return FT_OK;
}

static int str_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One Brown file: a sentence per non-blank line of word/tag tokens (out keeps the path they point at). */
static ft_status brown_file(const char *path, ft_tag_sents *out) {
    char **np = realloc(out->paths, (out->n_paths + 1) * sizeof *np);
    if (!np)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    out->paths = np;
    if (!(np[out->n_paths] = ft_strdup(path)))
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    const char *name = np[out->n_paths++];
    char *txt = NULL;
    FT_TRY(ft_read_file(path, &txt, NULL));
    ft_status s = FT_OK;
    long line = 0;
    char *p = txt;
    while (s == FT_OK && *p) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        line++;
        sent_buf b = {0};
        b.t.file = name;
        b.t.line = line;
        for (char *q = p; s == FT_OK && *q;) {
            while (*q && isspace((unsigned char)*q))
                q++;
            if (!*q)
                break;
            char *st = q;
            while (*q && !isspace((unsigned char)*q))
                q++;
            const size_t tl = (size_t)(q - st);
            char *slash = NULL;
            for (char *r = st; r < q; r++)
                if (*r == '/')
                    slash = r;
            if (!slash || slash == st || slash + 1 == q) {
                s = ft_fail(FT_ERR_FORMAT, "%s:%ld: token '%.*s' is not word/tag", path, line,
                            (int)(tl > 60 ? 60 : tl), st);
                break;
            }
            char tag[64], base[64];
            const size_t tn =
                (size_t)(q - slash - 1) < sizeof tag - 1 ? (size_t)(q - slash - 1) : sizeof tag - 1;
            memcpy(tag, slash + 1, tn);
            tag[tn] = '\0';
            ft_tag_brown_base(tag, base, sizeof base);
            s = buf_push(&b, st, (size_t)(slash - st), base, strlen(base));
        }
        if (s == FT_OK)
            s = buf_flush(&b, out, true);
        else
            sent_free(&b.t);
        if (!nl)
            break;
        p = nl + 1;
    }
    free(txt);
    return s;
}

ft_status ft_tag_read_brown(const char *dir, ft_tag_sents *train, ft_tag_sents *val, ft_tag_sents *test) {
    DIR *d = opendir(dir);
    if (!d)
        return ft_fail(FT_ERR_IO, "%s: cannot open the Brown corpus directory", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    ft_status s = FT_OK;
    for (struct dirent *e; s == FT_OK && (e = readdir(d));) {
        const char *nm = e->d_name; /* c + genre letter + two digits */
        if (!(strlen(nm) == 4 && nm[0] == 'c' && islower((unsigned char)nm[1]) &&
              isdigit((unsigned char)nm[2]) && isdigit((unsigned char)nm[3])))
            continue;
        s = str_push(&names, &n, &cap, nm);
    }
    closedir(d);
    if (s == FT_OK && n == 0)
        s = ft_fail(FT_ERR_MISSING, "%s: no Brown corpus files (c<genre><nn>, e.g. ca01) in the directory",
                    dir);
    if (s == FT_OK)
        qsort(names, n, sizeof *names, str_cmp);
    for (size_t i = 0; s == FT_OK && i < n; i++) {
        ft_tag_sents *to = i % 10 == 0 ? test : i % 10 == 1 ? val : train;
        if (!to)
            continue;
        char path[4096];
        s = brown_file(ft_path_join(path, sizeof path, dir, names[i]), to);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return s;
}

ft_status ft_tag_label_set(const ft_tag_sents *s, const char *list, char ***names, int *n) {
    if (list) { /* the given order */
        char *copy = ft_strdup(list);
        if (!copy)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        size_t k = 0, cap = 0;
        char **nm = NULL;
        ft_status st = FT_OK;
        for (char *save = NULL, *t = strtok_r(copy, ", \t", &save); st == FT_OK && t;
             t = strtok_r(NULL, ", \t", &save)) {
            for (size_t i = 0; i < k; i++)
                if (!strcmp(nm[i], t))
                    st = ft_fail(FT_ERR_CONFIG, "data.labels: tag '%s' is listed twice", t);
            if (st == FT_OK)
                st = str_push(&nm, &k, &cap, t);
        }
        free(copy);
        if (st == FT_OK && k < 2)
            st = ft_fail(FT_ERR_CONFIG, "data.labels lists %zu tag(s); token classification needs at least 2",
                         k);
        if (st != FT_OK) {
            for (size_t i = 0; nm && i < k; i++)
                free(nm[i]);
            free(nm);
            return st;
        }
        *names = nm;
        *n = (int)k;
        return FT_OK;
    }
    size_t total = 0;
    for (size_t i = 0; i < s->n; i++)
        total += s->s[i].tags ? (size_t)s->s[i].n : 0;
    const char **all = malloc((total ? total : 1) * sizeof *all);
    if (!all)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        for (int w = 0; s->s[i].tags && w < s->s[i].n; w++)
            all[k++] = s->s[i].tags[w];
    ft_status st = ft_data_label_set(all, k, names, n);
    free(all);
    return st;
}

static size_t utf8_chars(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* The I- tag of a B- tag when the tag set has it (HF run_ner's label_all_tokens), else the tag itself. */
static int32_t inside_of(int32_t id, char *const *names, int n) {
    if (id < 0 || !names || strncmp(names[id], "B-", 2) != 0)
        return id;
    for (int k = 0; k < n; k++)
        if (names[k][0] == 'I' && names[k][1] == '-' && !strcmp(names[k] + 2, names[id] + 2))
            return k;
    return id;
}

ft_status ft_tag_encode(ft_tokenizer *tok, char *const *words, int n, const int32_t *word_tags,
                        bool label_all, char *const *names, int n_names, int max_len, ft_example *ex) {
    memset(ex, 0, sizeof *ex);
    ex->cls_label = -100;
    const bool prefix = ft_tok_is_byte_level(tok);
    size_t bytes = 1;
    for (int i = 0; i < n; i++)
        bytes += strlen(words[i]) + 1;
    char *text = malloc(bytes);
    size_t *ws = malloc(((size_t)n + 1) * sizeof *ws), *we = malloc(((size_t)n + 1) * sizeof *we);
    if (!text || !ws || !we) {
        free(text);
        free(ws);
        free(we);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    size_t b = 0, ch = 0; /* bytes and characters written */
    for (int i = 0; i < n; i++) {
        if (i > 0 || prefix) {
            text[b++] = ' ';
            ch++;
        }
        const size_t l = strlen(words[i]);
        memcpy(text + b, words[i], l);
        b += l;
        ws[i] = ch;
        ch += utf8_chars(words[i]);
        we[i] = ch;
    }
    text[b] = '\0';
    ft_tok_ids ids = {0};
    ft_status s = ft_tok_encode_offsets(tok, text, b, true, FT_TOK_OFFSETS_CHARS, &ids);
    free(text);
    const size_t P = s == FT_OK ? ids.n : 0;
    int32_t *wid = malloc((P ? P : 1) * sizeof *wid);
    if (s == FT_OK && !wid)
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    /* each piece's word: the one holding its last character (a leading space belongs to no word); the
     * post-processor's special tokens have empty offsets (an [UNK] inside the text keeps its word) */
    int w = 0;
    for (size_t p = 0; s == FT_OK && p < P; p++) {
        const ft_tok_offset o = ids.offsets[p];
        wid[p] = -1;
        if (o.end <= o.start)
            continue;
        const size_t last = o.end - 1;
        while (w < n && we[w] <= last)
            w++;
        if (w < n && ws[w] <= last)
            wid[p] = w;
    }
    free(ws);
    free(we);
    /* truncation: keep the leading and trailing special tokens, cut pieces from the end */
    size_t lead = 0, trail = 0;
    while (s == FT_OK && lead < P && ids.offsets[lead].end <= ids.offsets[lead].start)
        lead++;
    while (s == FT_OK && trail < P - lead &&
           ids.offsets[P - 1 - trail].end <= ids.offsets[P - 1 - trail].start)
        trail++;
    size_t keep = P;
    if (s == FT_OK && max_len > 0 && P > (size_t)max_len) {
        if ((size_t)max_len < lead + trail + 1)
            s = ft_fail(FT_ERR_RANGE, "seq_len %d leaves no room for a word between the special tokens",
                        max_len);
        keep = (size_t)max_len;
    }
    if (s == FT_OK) {
        ex->ids = malloc((keep ? keep : 1) * sizeof *ex->ids);
        ex->labels = malloc((keep ? keep : 1) * sizeof *ex->labels);
        ex->word_ids = malloc((keep ? keep : 1) * sizeof *ex->word_ids);
        if (!ex->ids || !ex->labels || !ex->word_ids)
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    for (size_t k = 0; s == FT_OK && k < keep; k++) {
        const size_t p =
            k < keep - trail || keep == P ? k : P - (keep - k); /* the last `trail` from the end */
        ex->ids[k] = ids.ids[p];
        ex->word_ids[k] = wid[p];
        int32_t lab = -100;
        if (word_tags && wid[p] >= 0) {
            const bool first = p == 0 || wid[p - 1] != wid[p];
            const int32_t t = word_tags[wid[p]];
            lab = first ? t : label_all && t >= 0 ? inside_of(t, names, n_names) : -100;
        }
        ex->labels[k] = lab;
    }
    ex->len = (int)keep;
    free(wid);
    ft_tok_ids_free(&ids);
    if (s != FT_OK) {
        free(ex->ids);
        free(ex->labels);
        free(ex->word_ids);
        memset(ex, 0, sizeof *ex);
    }
    return s;
}

void ft_tag_word_preds(const ft_example *ex, const float *logits, int K, int n_words, int32_t *pred) {
    for (int w = 0; w < n_words; w++)
        pred[w] = -1;
    for (int t = 0; t < ex->len; t++) {
        const int32_t w = ex->word_ids[t];
        if (w < 0 || w >= n_words || (t > 0 && ex->word_ids[t - 1] == w))
            continue;
        const float *row = logits + (size_t)t * (size_t)K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > row[best])
                best = k;
        pred[w] = best;
    }
}

ft_status ft_tag_split(ft_tag_sents sp[3], float vr, float tr, uint64_t seed) {
    const size_t n = sp[0].n;
    const size_t nv = (size_t)((double)n * vr + 0.5), nt = (size_t)((double)n * tr + 0.5);
    if (nv + nt >= n && n > 0)
        return ft_fail(FT_ERR_CONFIG,
                       "%zu sentences leave none for training after the validation (%zu) and test "
                       "(%zu) shares",
                       n, nv, nt);
    size_t *ord = malloc((n ? n : 1) * sizeof *ord);
    ft_tag_sent *src = sp[0].s;
    ft_tag_sent *dst[3] = {malloc((n ? n : 1) * sizeof **dst), malloc((nv ? nv : 1) * sizeof **dst),
                           malloc((nt ? nt : 1) * sizeof **dst)};
    if (!ord || !dst[0] || !dst[1] || !dst[2]) {
        free(ord);
        for (int k = 0; k < 3; k++)
            free(dst[k]);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        ord[i] = i;
    for (size_t i = n; i > 1; i--) {
        const size_t j = (size_t)(ft_rng_u64(seed, 0x7a6, i) % i), t = ord[i - 1];
        ord[i - 1] = ord[j];
        ord[j] = t;
    }
    /* the drawn test and validation rows, then the rest, each in file order */
    bool *to_t = calloc(n ? n : 1, 1), *to_v = calloc(n ? n : 1, 1);
    if (!to_t || !to_v) {
        free(ord);
        free(to_t);
        free(to_v);
        for (int k = 0; k < 3; k++)
            free(dst[k]);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < nt; i++)
        to_t[ord[i]] = true;
    for (size_t i = nt; i < nt + nv; i++)
        to_v[ord[i]] = true;
    size_t c[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        const int k = to_t[i] ? 2 : to_v[i] ? 1 : 0;
        dst[k][c[k]++] = src[i];
    }
    free(src);
    free(ord);
    free(to_t);
    free(to_v);
    for (int k = 0; k < 3; k++) {
        if (k > 0)
            ft_tag_sents_free(&sp[k]);
        sp[k].s = dst[k];
        sp[k].n = sp[k].cap = c[k];
    }
    return FT_OK;
}

ft_status ft_tag_build(ft_tokenizer *tok, ft_tag_sents sp[3], const ft_tag_build_cfg *c, ft_dataset ds[3],
                       size_t unknown[3], FILE *summary) {
    for (int k = 0; k < 3; k++) {
        memset(&ds[k], 0, sizeof ds[k]);
        unknown[k] = 0;
    }
    if (sp[0].n == 0)
        return ft_fail(FT_ERR_CONFIG, "the training data has no sentence");
    if (sp[1].n == 0 && sp[2].n == 0)
        FT_TRY(ft_tag_split(sp, c->val_ratio, c->test_ratio, c->seed));
    char **names = NULL;
    int nn = 0;
    if (c->names) { /* a model's tag set */
        if (!(names = calloc((size_t)c->n_names + 1, sizeof *names)))
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        for (nn = 0; nn < c->n_names; nn++)
            if (!(names[nn] = ft_strdup(c->names[nn]))) {
                for (int i = 0; i < nn; i++)
                    free(names[i]);
                free(names);
                return ft_fail(FT_ERR_NOMEM, "out of memory");
            }
    } else {
        FT_TRY(ft_tag_label_set(&sp[0], c->labels, &names, &nn));
    }
    if (nn < 2) {
        for (int i = 0; i < nn; i++)
            free(names[i]);
        free(names);
        return ft_fail(FT_ERR_CONFIG,
                       "the training data has %d distinct tag(s); token classification needs at "
                       "least 2",
                       nn);
    }
    ds[0].label_names = names;
    ds[0].n_labels = nn;
    ft_status s = FT_OK;
    size_t truncated = 0;
    for (int k = 0; s == FT_OK && k < 3; k++) {
        ds[k].ex = calloc(sp[k].n ? sp[k].n : 1, sizeof *ds[k].ex);
        if (!ds[k].ex) {
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
            break;
        }
        int32_t *tags = NULL;
        int tcap = 0;
        for (size_t i = 0; s == FT_OK && i < sp[k].n; i++) {
            const ft_tag_sent *t = &sp[k].s[i];
            if (!t->tags) {
                s = ft_fail(FT_ERR_FORMAT, "%s:%ld: the sentence has no tags", t->file, t->line);
                break;
            }
            if (t->n > tcap) {
                tcap = t->n;
                int32_t *nt = realloc(tags, (size_t)tcap * sizeof *nt);
                if (!nt) {
                    s = ft_fail(FT_ERR_NOMEM, "out of memory");
                    break;
                }
                tags = nt;
            }
            for (int w = 0; w < t->n; w++) {
                tags[w] = ft_data_label_id(names, nn, t->tags[w]);
                if (tags[w] < 0) {
                    tags[w] = -100;
                    unknown[k]++;
                }
            }
            s = ft_tag_encode(tok, t->words, t->n, tags, c->label_all, names, nn, c->max_len, &ds[k].ex[i]);
            if (s != FT_OK) {
                s = ft_fail_ctx(s, "%s:%ld", t->file, t->line);
                break;
            }
            ds[k].n++;
            const ft_example *e = &ds[k].ex[i];
            int last = -1;
            for (int p = 0; p < e->len; p++)
                last = e->word_ids[p] > last ? e->word_ids[p] : last;
            truncated += last < t->n - 1;
        }
        free(tags);
    }
    if (s != FT_OK) {
        for (int k = 0; k < 3; k++)
            ft_dataset_free(&ds[k]);
        return s;
    }
    if (summary) {
        fprintf(summary,
                "token classification: %zu / %zu / %zu sentences (train / validation / test), %d tags",
                ds[0].n, ds[1].n, ds[2].n, nn);
        if (truncated)
            fprintf(summary,
                    "; %zu sentence(s) cut to seq_len %d (their last words are not trained or scored)",
                    truncated, c->max_len);
        fputc('\n', summary);
        for (int k = 0; k < 3; k++)
            if (unknown[k])
                fprintf(summary,
                        "warning: %zu %s word(s) carry a tag outside the tag set: ignored (label -100)\n",
                        unknown[k],
                        k == 0   ? "training"
                        : k == 1 ? "validation"
                                 : "test");
    }
    return FT_OK;
}
