/* io/safetensors: reader (mmap + full header validation), sharded sets, streaming atomic writer.
 *
 * File layout (safetensors spec): u64 little-endian N, then N bytes of JSON header, then the data
 * section. Each header entry gives dtype, shape and data_offsets [begin, end) relative to the data
 * section. Nothing from the header is trusted until it has been checked against the file. */
#define _GNU_SOURCE
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER 100000000ull
#define ST_MAX_TENSORS 1000000 /* per file; the largest real checkpoints have a few thousand per shard */
#define ST_MAX_JSON_INT 9007199254740992.0 /* 2^53: larger JSON numbers are not exact doubles */
#define ST_INDEX_NAME "model.safetensors.index.json"
#define ST_SINGLE_NAME "model.safetensors"

/* ---------------------------------------------------------------- dtypes */

static const struct {
    const char *name;
    size_t size;
} st_dtypes[] = {
    [FT_DT_F32] = {"F32", 4}, [FT_DT_F16] = {"F16", 2}, [FT_DT_BF16] = {"BF16", 2}, [FT_DT_I64] = {"I64", 8},
    [FT_DT_I32] = {"I32", 4}, [FT_DT_U8] = {"U8", 1},   [FT_DT_I8] = {"I8", 1},     [FT_DT_BOOL] = {"BOOL", 1},
};
#define ST_NDTYPES (sizeof st_dtypes / sizeof *st_dtypes)

static bool dtype_valid(ft_dtype dt) { return (unsigned)dt < ST_NDTYPES; }

size_t ft_dtype_size(ft_dtype dt) { return dtype_valid(dt) ? st_dtypes[dt].size : 0; }

const char *ft_dtype_name(ft_dtype dt) { return dtype_valid(dt) ? st_dtypes[dt].name : "?"; }

ft_status ft_dtype_parse(const char *s, ft_dtype *out) {
    for (size_t i = 0; i < ST_NDTYPES; i++)
        if (strcmp(s, st_dtypes[i].name) == 0) {
            *out = (ft_dtype)i;
            return FT_OK;
        }
    return ft_fail(FT_ERR_FORMAT, "unknown dtype '%s' (expected one of F32 F16 BF16 I64 I32 U8 I8 BOOL)", s);
}

/* ---------------------------------------------------------------- name hash (open addressing) */

/* Maps a name to an index into a caller-owned array; the names themselves are not copied. */
typedef struct {
    uint32_t *slots; /* index + 1; 0 = empty */
    size_t cap;      /* power of two */
    size_t n;
} st_hash;

static uint64_t st_hash_str(const char *s) { /* FNV-1a 64 */
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

typedef const char *(*st_name_fn)(const void *ctx, size_t i);

static void st_hash_free(st_hash *h) {
    free(h->slots);
    h->slots = NULL;
    h->cap = h->n = 0;
}

/* Returns the stored index for name, or SIZE_MAX. */
static size_t st_hash_get(const st_hash *h, const char *name, st_name_fn fn, const void *ctx) {
    if (!h->cap)
        return SIZE_MAX;
    size_t mask = h->cap - 1;
    for (size_t j = (size_t)st_hash_str(name) & mask;; j = (j + 1) & mask) {
        uint32_t v = h->slots[j];
        if (!v)
            return SIZE_MAX;
        if (strcmp(fn(ctx, v - 1u), name) == 0)
            return v - 1u;
    }
}

static void st_hash_place(uint32_t *slots, size_t cap, uint64_t hv, uint32_t v) {
    size_t mask = cap - 1;
    size_t j = (size_t)hv & mask;
    while (slots[j])
        j = (j + 1) & mask;
    slots[j] = v;
}

/* Insert index i (name fn(ctx, i)); *dup gets the existing index when the name is already there. */
static ft_status st_hash_put(st_hash *h, size_t i, st_name_fn fn, const void *ctx, size_t *dup) {
    *dup = SIZE_MAX;
    if (i >= UINT32_MAX)
        return ft_fail(FT_ERR_RANGE, "too many tensors (%zu)", i);
    const char *name = fn(ctx, i);
    size_t have = st_hash_get(h, name, fn, ctx);
    if (have != SIZE_MAX) {
        *dup = have;
        return FT_OK;
    }
    if ((h->n + 1) * 2 > h->cap) { /* keep load <= 1/2 */
        size_t ncap = h->cap ? h->cap * 2 : 16;
        uint32_t *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return ft_fail(FT_ERR_NOMEM, "out of memory growing the tensor name table to %zu", ncap);
        for (size_t j = 0; j < h->cap; j++)
            if (h->slots[j])
                st_hash_place(ns, ncap, st_hash_str(fn(ctx, h->slots[j] - 1u)), h->slots[j]);
        free(h->slots);
        h->slots = ns;
        h->cap = ncap;
    }
    st_hash_place(h->slots, h->cap, st_hash_str(name), (uint32_t)(i + 1));
    h->n++;
    return FT_OK;
}

/* ---------------------------------------------------------------- reader */

typedef struct {
    char *key, *value;
} st_kv;

struct ft_st_file {
    char *path;
    uint8_t *map;
    size_t map_len;
    size_t n;
    ft_st_tensor *t; /* sorted by data offset: file order */
    st_hash index;
    st_kv *meta;
    size_t nmeta;
};

static const char *st_file_name_at(const void *ctx, size_t i) { return ((const ft_st_tensor *)ctx)[i].name; }

const char *ft_st_path(const ft_st_file *f) { return f->path; }
size_t ft_st_count(const ft_st_file *f) { return f->n; }
const ft_st_tensor *ft_st_at(const ft_st_file *f, size_t i) { return i < f->n ? &f->t[i] : NULL; }

const ft_st_tensor *ft_st_find(const ft_st_file *f, const char *name) {
    size_t i = st_hash_get(&f->index, name, st_file_name_at, f->t);
    return i == SIZE_MAX ? NULL : &f->t[i];
}

const char *ft_st_metadata(const ft_st_file *f, const char *key) {
    for (size_t i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta[i].key, key) == 0)
            return f->meta[i].value;
    return NULL;
}

void ft_st_close(ft_st_file *f) {
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free((char *)f->t[i].name);
    free(f->t);
    for (size_t i = 0; i < f->nmeta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->meta);
    st_hash_free(&f->index);
    if (f->map)
        munmap(f->map, f->map_len);
    free(f->path);
    free(f);
}

/* A tensor while parsing: byte range in the data section. */
typedef struct {
    uint64_t begin, end;
} st_span;

/* JSON number that must be an exact non-negative integer. */
static bool st_json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > ST_MAX_JSON_INT || d != (double)(uint64_t)d)
        return false;
    *out = (uint64_t)d;
    return true;
}

/* Format a shape as "[a,b,c]" into buf. */
static const char *st_shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t at = 0;
    buf[0] = 0;
    at += (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && at < n; d++)
        at += (size_t)snprintf(buf + at, n - at, d ? ",%" PRId64 : "%" PRId64, shape[d]);
    if (at < n)
        snprintf(buf + at, n - at, "]");
    return buf;
}

static ft_status st_parse_metadata(ft_st_file *f, const cJSON *m) {
    if (!cJSON_IsObject(m))
        return ft_fail(FT_ERR_FORMAT, "%s: '__metadata__' must be an object of strings", f->path);
    size_t n = 0;
    for (const cJSON *e = m->child; e; e = e->next)
        n++;
    f->meta = calloc(n ? n : 1, sizeof *f->meta);
    if (!f->meta)
        return ft_fail(FT_ERR_NOMEM, "%s: out of memory for metadata", f->path);
    for (const cJSON *e = m->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return ft_fail(FT_ERR_FORMAT, "%s: '__metadata__' entry '%s' must be a string", f->path, e->string);
        st_kv *kv = &f->meta[f->nmeta];
        kv->key = strdup(e->string);
        kv->value = strdup(e->valuestring);
        f->nmeta++;
        if (!kv->key || !kv->value)
            return ft_fail(FT_ERR_NOMEM, "%s: out of memory for metadata", f->path);
    }
    return FT_OK;
}

/* Validate one tensor entry and fill t / span. */
static ft_status st_parse_entry(const ft_st_file *f, const cJSON *e, uint64_t data_len, ft_st_tensor *t,
                                st_span *span) {
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return ft_fail(FT_ERR_FORMAT, "%s: tensor '%s': entry must be an object with dtype, shape, data_offsets",
                       f->path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!dt)
        return ft_fail(FT_ERR_FORMAT, "%s: tensor '%s': missing 'dtype'", f->path, name);
    if (!cJSON_IsString(dt))
        return ft_fail(FT_ERR_FORMAT, "%s: tensor '%s': 'dtype' must be a string", f->path, name);
    if (ft_dtype_parse(dt->valuestring, &t->dtype) != FT_OK)
        return ft_fail(FT_ERR_FORMAT,
                       "%s: tensor '%s': unknown dtype '%s' (expected one of F32 F16 BF16 I64 I32 U8 I8 BOOL)",
                       f->path, name, dt->valuestring);

    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    if (!sh)
        return ft_fail(FT_ERR_FORMAT, "%s: tensor '%s': missing 'shape'", f->path, name);
    if (!cJSON_IsArray(sh))
        return ft_fail(FT_ERR_FORMAT, "%s: tensor '%s': 'shape' must be an array of non-negative integers",
                       f->path, name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > FT_MAX_DIMS)
        return ft_fail(FT_ERR_FORMAT, "%s: tensor '%s': shape has %d dimensions, at most %d supported", f->path,
                       name, nd, FT_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    bool overflow = false;
    int d = 0;
    for (const cJSON *v = sh->child; v; v = v->next, d++) {
        uint64_t dim;
        if (!st_json_uint(v, &dim)) {
            char *txt = cJSON_PrintUnformatted(v);
            ft_status s = ft_fail(FT_ERR_FORMAT,
                                  "%s: tensor '%s': shape[%d] is %s, expected a non-negative integer", f->path,
                                  name, d, txt ? txt : "?");
            free(txt);
            return s;
        }
        t->shape[d] = (int64_t)dim;
        if (__builtin_mul_overflow(numel, dim, &numel))
            overflow = true;
    }
    char shbuf[200];
    st_shape_str(shbuf, sizeof shbuf, t->ndim, t->shape);
    uint64_t nbytes = 0;
    if (overflow || numel > (uint64_t)INT64_MAX || __builtin_mul_overflow(numel, (uint64_t)ft_dtype_size(t->dtype), &nbytes))
        return ft_fail(FT_ERR_FORMAT, "%s: tensor '%s': shape %s x %s overflows 64 bits", f->path, name, shbuf,
                       ft_dtype_name(t->dtype));
    t->numel = (int64_t)numel;

    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!off)
        return ft_fail(FT_ERR_FORMAT, "%s: tensor '%s': missing 'data_offsets'", f->path, name);
    uint64_t b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !st_json_uint(off->child, &b) ||
        !st_json_uint(off->child->next, &en))
        return ft_fail(FT_ERR_FORMAT, "%s: tensor '%s': 'data_offsets' must be [begin, end] of non-negative integers",
                       f->path, name);
    if (b > en)
        return ft_fail(FT_ERR_FORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ",%" PRIu64 "] has begin > end",
                       f->path, name, b, en);
    if (en > data_len)
        return ft_fail(FT_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets [%" PRIu64 ",%" PRIu64 "] run past the data section (%" PRIu64
                       " bytes)",
                       f->path, name, b, en, data_len);
    if (nbytes != en - b)
        return ft_fail(FT_ERR_FORMAT,
                       "%s: tensor '%s': shape %s x %s = %" PRIu64 " bytes but data_offsets span %" PRIu64, f->path,
                       name, shbuf, ft_dtype_name(t->dtype), nbytes, en - b);
    t->nbytes = (size_t)nbytes;
    span->begin = b;
    span->end = en;
    return FT_OK;
}

typedef struct {
    ft_st_tensor t;
    st_span span;
} st_entry;

static int st_entry_cmp(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->span.begin != y->span.begin)
        return x->span.begin < y->span.begin ? -1 : 1;
    if (x->span.end != y->span.end)
        return x->span.end < y->span.end ? -1 : 1;
    return strcmp(x->t.name, y->t.name);
}

static ft_status st_parse_header(ft_st_file *f, const char *hdr, size_t hlen, uint64_t data_len,
                                 const uint8_t *data) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, hlen, &end, 0);
    if (!root) {
        /* cJSON reports the failure position through end (its global error pointer is not thread-safe) */
        size_t pos = (end && end >= hdr && end <= hdr + hlen) ? (size_t)(end - hdr) : 0;
        return ft_fail(FT_ERR_FORMAT, "%s: header is not valid JSON (error near byte %zu of %zu)", f->path, pos,
                       hlen);
    }
    /* Only whitespace padding may follow the JSON value. */
    for (const char *p = end; p && p < hdr + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return ft_fail(FT_ERR_FORMAT, "%s: header has trailing garbage after the JSON object at byte %zu",
                           f->path, (size_t)(p - hdr));
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ft_fail(FT_ERR_FORMAT, "%s: header JSON must be an object of tensor entries", f->path);
    }
    ft_status s = FT_OK;
    size_t n = 0;
    bool seen_meta = false;
    st_entry *ents = NULL;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (seen_meta) {
                s = ft_fail(FT_ERR_FORMAT, "%s: '__metadata__' appears twice", f->path);
                goto out;
            }
            seen_meta = true;
            if ((s = st_parse_metadata(f, e)) != FT_OK)
                goto out;
        } else if (++n > ST_MAX_TENSORS) {
            s = ft_fail(FT_ERR_FORMAT, "%s: header declares more than %d tensors (the limit)", f->path,
                        ST_MAX_TENSORS);
            goto out;
        }
    }
    ents = calloc(n ? n : 1, sizeof *ents);
    if (!ents) {
        s = ft_fail(FT_ERR_NOMEM, "%s: out of memory for %zu tensor entries", f->path, n);
        goto out;
    }
    size_t k = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0)
            continue;
        if ((s = st_parse_entry(f, e, data_len, &ents[k].t, &ents[k].span)) != FT_OK)
            goto out;
        ents[k].t.name = e->string; /* borrowed until copied below */
        k++;
    }
    qsort(ents, n, sizeof *ents, st_entry_cmp);
    /* Overlap: sorted by begin, each non-empty span must start at or after the furthest end so far. */
    size_t far = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (ents[i].span.begin == ents[i].span.end)
            continue;
        if (far != SIZE_MAX && ents[i].span.begin < ents[far].span.end) {
            s = ft_fail(FT_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%" PRIu64 ",%" PRIu64 "] overlap tensor '%s' [%" PRIu64
                        ",%" PRIu64 "]",
                        f->path, ents[i].t.name, ents[i].span.begin, ents[i].span.end, ents[far].t.name,
                        ents[far].span.begin, ents[far].span.end);
            goto out;
        }
        if (far == SIZE_MAX || ents[i].span.end > ents[far].span.end)
            far = i;
    }
    f->t = calloc(n ? n : 1, sizeof *f->t);
    if (!f->t) {
        s = ft_fail(FT_ERR_NOMEM, "%s: out of memory for %zu tensors", f->path, n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        ft_st_tensor *t = &f->t[i];
        *t = ents[i].t;
        t->data = data + ents[i].span.begin;
        t->name = strdup(ents[i].t.name);
        if (!t->name) {
            s = ft_fail(FT_ERR_NOMEM, "%s: out of memory for tensor names", f->path);
            goto out;
        }
        f->n++;
        size_t dup;
        if ((s = st_hash_put(&f->index, i, st_file_name_at, f->t, &dup)) != FT_OK)
            goto out;
        if (dup != SIZE_MAX) {
            s = ft_fail(FT_ERR_FORMAT, "%s: tensor '%s' appears twice in the header", f->path, t->name);
            goto out;
        }
    }
out:
    free(ents);
    cJSON_Delete(root);
    return s;
}

ft_status ft_st_open(const char *path, ft_st_file **out) {
    *out = NULL;
    ft_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return ft_fail(FT_ERR_NOMEM, "%s: out of memory", path);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ft_status s = ft_fail(errno == ENOENT ? FT_ERR_MISSING : FT_ERR_IO, "%s: cannot open: %s", path,
                              strerror(errno));
        ft_st_close(f);
        return s;
    }
    struct stat st;
    ft_status s = FT_OK;
    if (fstat(fd, &st) != 0) {
        s = ft_fail(FT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        s = ft_fail(FT_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    uint64_t fsize = (uint64_t)st.st_size;
    if (fsize < 8) {
        s = ft_fail(FT_ERR_FORMAT, "%s: truncated: %" PRIu64 " bytes, a safetensors file needs at least 8", path,
                    fsize);
        goto fail;
    }
    if (fsize > SIZE_MAX) {
        s = ft_fail(FT_ERR_RANGE, "%s: too large to map (%" PRIu64 " bytes)", path, fsize);
        goto fail;
    }
    void *m = mmap(NULL, (size_t)fsize, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        s = ft_fail(FT_ERR_IO, "%s: mmap of %" PRIu64 " bytes failed: %s", path, fsize, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    f->map = m;
    f->map_len = (size_t)fsize;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | f->map[i];
    if (hlen < 2 || hlen > ST_MAX_HEADER) {
        s = ft_fail(FT_ERR_FORMAT, "%s: header length %" PRIu64 " is not sane (expected 2..%llu)", path, hlen,
                    ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > fsize - 8) {
        s = ft_fail(FT_ERR_FORMAT, "%s: header length %" PRIu64 " runs past the end of the file (%" PRIu64
                    " bytes); file truncated?",
                    path, hlen, fsize);
        goto fail;
    }
    if ((s = st_parse_header(f, (const char *)f->map + 8, (size_t)hlen, fsize - 8 - hlen, f->map + 8 + hlen)) !=
        FT_OK)
        goto fail;
    *out = f;
    return FT_OK;
fail:
    if (fd >= 0)
        close(fd);
    ft_st_close(f);
    return s;
}

/* ---------------------------------------------------------------- sets */

struct ft_st_set {
    ft_st_file **files;
    size_t nfiles;
    const ft_st_tensor **t; /* all tensors: file by file, each in file order */
    uint32_t *file_of;      /* t[i] lives in files[file_of[i]] */
    size_t n;
    st_hash index;
    size_t total_bytes;
};

static const char *st_set_name_at(const void *ctx, size_t i) { return ((const ft_st_tensor *const *)ctx)[i]->name; }

void ft_st_set_close(ft_st_set *s) {
    if (!s)
        return;
    for (size_t i = 0; i < s->nfiles; i++)
        ft_st_close(s->files[i]);
    free(s->files);
    free(s->t);
    free(s->file_of);
    st_hash_free(&s->index);
    free(s);
}

size_t ft_st_set_count(const ft_st_set *s) { return s->n; }
const ft_st_tensor *ft_st_set_at(const ft_st_set *s, size_t i) { return i < s->n ? s->t[i] : NULL; }
size_t ft_st_set_total_bytes(const ft_st_set *s) { return s->total_bytes; }

bool ft_st_set_locate(const ft_st_set *s, const void *p, const char **path, uint64_t *offset) {
    const uintptr_t a = (uintptr_t)p;
    for (size_t i = 0; s && i < s->nfiles; i++) {
        const ft_st_file *f = s->files[i];
        const uintptr_t b = (uintptr_t)f->map;
        if (a >= b && a < b + f->map_len) {
            *path = f->path;
            *offset = (uint64_t)(a - b);
            return true;
        }
    }
    return false;
}

const ft_st_tensor *ft_st_set_find(const ft_st_set *s, const char *name, const char **file_out) {
    size_t i = st_hash_get(&s->index, name, st_set_name_at, s->t);
    if (i == SIZE_MAX)
        return NULL;
    if (file_out)
        *file_out = s->files[s->file_of[i]]->path;
    return s->t[i];
}

/* Build the combined tensor list of a set whose files are already open. */
static ft_status st_set_build(ft_st_set *s) {
    size_t n = 0;
    for (size_t i = 0; i < s->nfiles; i++) {
        n += ft_st_count(s->files[i]);
        s->total_bytes += s->files[i]->map_len;
    }
    s->t = calloc(n ? n : 1, sizeof *s->t);
    s->file_of = calloc(n ? n : 1, sizeof *s->file_of);
    if (!s->t || !s->file_of)
        return ft_fail(FT_ERR_NOMEM, "out of memory for a set of %zu tensors", n);
    for (size_t i = 0; i < s->nfiles; i++) {
        const ft_st_file *f = s->files[i];
        for (size_t j = 0; j < f->n; j++) {
            size_t k = s->n++;
            s->t[k] = &f->t[j];
            s->file_of[k] = (uint32_t)i;
            size_t dup;
            FT_TRY(st_hash_put(&s->index, k, st_set_name_at, s->t, &dup));
            if (dup != SIZE_MAX)
                return ft_fail(FT_ERR_FORMAT, "tensor '%s' is in two shards: %s and %s", f->t[j].name,
                               s->files[s->file_of[dup]]->path, f->path);
        }
    }
    return FT_OK;
}

ft_status ft_st_set_open_file(const char *path, ft_st_set **out) {
    *out = NULL;
    ft_st_set *s = calloc(1, sizeof *s);
    if (!s || !(s->files = calloc(1, sizeof *s->files))) {
        free(s);
        return ft_fail(FT_ERR_NOMEM, "%s: out of memory", path);
    }
    ft_status st = ft_st_open(path, &s->files[0]);
    if (st == FT_OK) {
        s->nfiles = 1;
        st = st_set_build(s);
    }
    if (st != FT_OK) {
        ft_st_set_close(s);
        return st;
    }
    *out = s;
    return FT_OK;
}

static int st_strptr_cmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* A shard name from the index must stay inside the directory. */
static bool st_shard_name_ok(const char *n) {
    if (!n[0] || n[0] == '/')
        return false;
    for (const char *p = n; *p;) {
        const char *q = strchr(p, '/');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += len + (q ? 1 : 0);
    }
    return true;
}

static ft_status st_set_open_index(const char *dir, const char *ipath, ft_st_set **out) {
    char *text;
    size_t tlen;
    FT_TRY(ft_read_file(ipath, &text, &tlen));
    cJSON *root = cJSON_ParseWithLength(text, tlen);
    free(text);
    if (!root)
        return ft_fail(FT_ERR_FORMAT, "%s: not valid JSON", ipath);
    ft_status s = FT_OK;
    ft_st_set *set = NULL;
    const char **shards = NULL;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(root) || !cJSON_IsObject(wm)) {
        s = ft_fail(FT_ERR_FORMAT, "%s: expected an object with a 'weight_map' object {tensor: shard file}", ipath);
        goto out;
    }
    size_t nw = 0;
    for (const cJSON *e = wm->child; e; e = e->next, nw++) {
        if (!cJSON_IsString(e) || !st_shard_name_ok(e->valuestring)) {
            s = ft_fail(FT_ERR_FORMAT, "%s: weight_map entry for tensor '%s' must be a shard file name inside %s",
                        ipath, e->string, dir);
            goto out;
        }
    }
    /* Distinct shards, sorted so the set order is stable (model-00001 before model-00002). */
    shards = calloc(nw ? nw : 1, sizeof *shards);
    set = calloc(1, sizeof *set);
    if (!shards || !set) {
        s = ft_fail(FT_ERR_NOMEM, "%s: out of memory", ipath);
        goto out;
    }
    size_t k = 0;
    for (const cJSON *e = wm->child; e; e = e->next)
        shards[k++] = e->valuestring;
    qsort(shards, nw, sizeof *shards, st_strptr_cmp);
    size_t ns = 0;
    for (size_t i = 0; i < nw; i++)
        if (ns == 0 || strcmp(shards[ns - 1], shards[i]) != 0)
            shards[ns++] = shards[i];
    set->files = calloc(ns ? ns : 1, sizeof *set->files);
    if (!set->files) {
        s = ft_fail(FT_ERR_NOMEM, "%s: out of memory", ipath);
        goto out;
    }
    for (size_t i = 0; i < ns; i++) {
        char p[4096];
        if ((size_t)snprintf(p, sizeof p, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/",
                             shards[i]) >= sizeof p) {
            s = ft_fail(FT_ERR_ARG, "%s: shard path too long for '%s'", ipath, shards[i]);
            goto out;
        }
        if (!ft_file_exists(p)) {
            const char *who = "?";
            for (const cJSON *e = wm->child; e; e = e->next)
                if (strcmp(e->valuestring, shards[i]) == 0) {
                    who = e->string;
                    break;
                }
            s = ft_fail(FT_ERR_MISSING, "%s: shard '%s' (holding tensor '%s') does not exist in %s", ipath,
                        shards[i], who, dir);
            goto out;
        }
        if ((s = ft_st_open(p, &set->files[i])) != FT_OK)
            goto out;
        set->nfiles++;
    }
    /* Every listed tensor must really be in the shard the index names. */
    for (const cJSON *e = wm->child; e; e = e->next) {
        const char **hit = bsearch(&e->valuestring, shards, ns, sizeof *shards, st_strptr_cmp);
        const ft_st_file *f = set->files[hit - shards];
        if (!ft_st_find(f, e->string)) {
            s = ft_fail(FT_ERR_FORMAT, "%s: tensor '%s' is listed in shard '%s' but %s does not contain it", ipath,
                        e->string, e->valuestring, f->path);
            goto out;
        }
    }
    if ((s = st_set_build(set)) != FT_OK)
        goto out;
    /* ... and every tensor of a shard listed: a tensor the index lacks is one a loader going by the index
     * (as HF's does) would never find, so the index is incomplete */
    for (size_t i = 0; i < ns; i++)
        for (size_t t = 0; t < ft_st_count(set->files[i]); t++) {
            const char *nm = ft_st_at(set->files[i], t)->name;
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(wm, nm);
            if (!e || strcmp(e->valuestring, shards[i]) != 0) {
                s = ft_fail(FT_ERR_FORMAT, "%s: tensor '%s' of shard '%s' is %s", ipath, nm, shards[i],
                            e ? "listed under another shard" : "missing from the index's weight_map");
                goto out;
            }
        }
out:
    free(shards);
    cJSON_Delete(root);
    if (s != FT_OK) {
        ft_st_set_close(set);
        return s;
    }
    *out = set;
    return FT_OK;
}

ft_status ft_st_set_open_dir(const char *dir, ft_st_set **out) {
    *out = NULL;
    char p[4096];
    ft_path_join(p, sizeof p, dir, ST_INDEX_NAME);
    if (ft_file_exists(p))
        return st_set_open_index(dir, p, out);
    ft_path_join(p, sizeof p, dir, ST_SINGLE_NAME);
    if (ft_file_exists(p))
        return ft_st_set_open_file(p, out);
    return ft_fail(FT_ERR_MISSING, "%s: neither %s nor %s exists in this directory", dir, ST_INDEX_NAME,
                   ST_SINGLE_NAME);
}

/* ---------------------------------------------------------------- writer */

typedef struct {
    char *name;
    ft_dtype dtype;
    int ndim;
    int64_t shape[FT_MAX_DIMS];
    const void *data;
    size_t nbytes;
} st_wentry;

struct ft_st_writer {
    st_wentry *e;
    size_t n, cap;
    st_hash index;
    st_kv *meta;
    size_t nmeta;
};

static const char *st_w_name_at(const void *ctx, size_t i) { return ((const st_wentry *)ctx)[i].name; }

ft_st_writer *ft_st_writer_new(void) {
    ft_st_writer *w = calloc(1, sizeof *w);
    if (!w)
        ft_fail(FT_ERR_NOMEM, "out of memory for a safetensors writer");
    return w;
}

void ft_st_writer_free(ft_st_writer *w) {
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->e[i].name);
    free(w->e);
    for (size_t i = 0; i < w->nmeta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->meta);
    st_hash_free(&w->index);
    free(w);
}

ft_status ft_st_writer_add(ft_st_writer *w, const char *name, ft_dtype dt, int ndim, const int64_t *shape,
                           const void *data) {
    if (!name || !name[0] || strcmp(name, "__metadata__") == 0)
        return ft_fail(FT_ERR_ARG, "safetensors writer: bad tensor name '%s'", name ? name : "(null)");
    if (!dtype_valid(dt))
        return ft_fail(FT_ERR_ARG, "safetensors writer: tensor '%s': bad dtype %d", name, (int)dt);
    if (ndim < 0 || ndim > FT_MAX_DIMS)
        return ft_fail(FT_ERR_ARG, "safetensors writer: tensor '%s': ndim %d not in 0..%d", name, ndim, FT_MAX_DIMS);
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return ft_fail(FT_ERR_ARG, "safetensors writer: tensor '%s': shape[%d] = %" PRId64 " is negative", name,
                           d, shape[d]);
        if (__builtin_mul_overflow(numel, (uint64_t)shape[d], &numel))
            return ft_fail(FT_ERR_ARG, "safetensors writer: tensor '%s': shape overflows", name);
    }
    uint64_t nb;
    if (__builtin_mul_overflow(numel, (uint64_t)ft_dtype_size(dt), &nb) || nb > (uint64_t)ST_MAX_JSON_INT)
        return ft_fail(FT_ERR_ARG, "safetensors writer: tensor '%s': size overflows", name);
    if (nb && !data)
        return ft_fail(FT_ERR_ARG, "safetensors writer: tensor '%s': NULL data for %" PRIu64 " bytes", name, nb);
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 64;
        st_wentry *ne = realloc(w->e, nc * sizeof *ne);
        if (!ne)
            return ft_fail(FT_ERR_NOMEM, "safetensors writer: out of memory adding '%s'", name);
        w->e = ne;
        w->cap = nc;
    }
    st_wentry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name)))
        return ft_fail(FT_ERR_NOMEM, "safetensors writer: out of memory adding '%s'", name);
    e->dtype = dt;
    e->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        e->shape[d] = shape[d];
    e->data = data;
    e->nbytes = (size_t)nb;
    size_t dup;
    ft_status s = st_hash_put(&w->index, w->n, st_w_name_at, w->e, &dup);
    if (s == FT_OK && dup != SIZE_MAX)
        s = ft_fail(FT_ERR_ARG, "safetensors writer: tensor '%s' added twice", name);
    if (s != FT_OK) {
        free(e->name);
        return s;
    }
    w->n++;
    return FT_OK;
}

ft_status ft_st_writer_set_metadata(ft_st_writer *w, const char *key, const char *value) {
    for (size_t i = 0; i < w->nmeta; i++)
        if (strcmp(w->meta[i].key, key) == 0) {
            char *v = strdup(value);
            if (!v)
                return ft_fail(FT_ERR_NOMEM, "safetensors writer: out of memory for metadata '%s'", key);
            free(w->meta[i].value);
            w->meta[i].value = v;
            return FT_OK;
        }
    st_kv *nm = realloc(w->meta, (w->nmeta + 1) * sizeof *nm);
    if (!nm)
        return ft_fail(FT_ERR_NOMEM, "safetensors writer: out of memory for metadata '%s'", key);
    w->meta = nm;
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return ft_fail(FT_ERR_NOMEM, "safetensors writer: out of memory for metadata '%s'", key);
    }
    w->meta[w->nmeta].key = k;
    w->meta[w->nmeta].value = v;
    w->nmeta++;
    return FT_OK;
}

/* Growable text buffer for the header JSON. */
typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} st_buf;

static void st_buf_add(st_buf *b, const char *s, size_t len) {
    if (b->oom)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + len + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void st_buf_str(st_buf *b, const char *s) { st_buf_add(b, s, strlen(s)); }

static void st_buf_printf(st_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void st_buf_printf(st_buf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0)
        st_buf_add(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

/* JSON string literal: escape quote, backslash and control characters; UTF-8 passes through. */
static void st_buf_json_str(st_buf *b, const char *s) {
    st_buf_add(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        st_buf_add(b, run, (size_t)(s - run));
        char esc[8];
        switch (c) {
        case '"': st_buf_str(b, "\\\""); break;
        case '\\': st_buf_str(b, "\\\\"); break;
        case '\n': st_buf_str(b, "\\n"); break;
        case '\t': st_buf_str(b, "\\t"); break;
        case '\r': st_buf_str(b, "\\r"); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            st_buf_str(b, esc);
        }
        run = s + 1;
    }
    st_buf_add(b, run, (size_t)(s - run));
    st_buf_add(b, "\"", 1);
}

static int st_kv_cmp(const void *a, const void *b) { return strcmp(((const st_kv *)a)->key, ((const st_kv *)b)->key); }
static int st_wentry_ptr_cmp(const void *a, const void *b) {
    return strcmp((*(const st_wentry *const *)a)->name, (*(const st_wentry *const *)b)->name);
}

static ft_status st_write_all(int fd, const void *data, size_t len, const char *tmp) {
    const uint8_t *p = data;
    while (len > 0) {
        /* Linux write() moves at most ~2 GiB per call; chunk so huge tensors go through. */
        size_t chunk = len < ((size_t)1 << 30) ? len : ((size_t)1 << 30);
        ssize_t k = write(fd, p, chunk);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return ft_fail(FT_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        }
        p += k;
        len -= (size_t)k;
    }
    return FT_OK;
}

static void st_fsync_dir_of(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Write entries e[0..n) (already sorted by name) and metadata to path, atomically. */
static ft_status st_write_file(st_wentry *const *e, size_t n, const st_kv *meta, size_t nmeta, const char *path) {
    st_buf b = {0};
    st_buf_str(&b, "{");
    bool first = true;
    if (nmeta) {
        st_buf_str(&b, "\"__metadata__\":{");
        for (size_t i = 0; i < nmeta; i++) {
            if (i)
                st_buf_str(&b, ",");
            st_buf_json_str(&b, meta[i].key);
            st_buf_str(&b, ":");
            st_buf_json_str(&b, meta[i].value);
        }
        st_buf_str(&b, "}");
        first = false;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (!first)
            st_buf_str(&b, ",");
        first = false;
        st_buf_json_str(&b, e[i]->name);
        st_buf_printf(&b, ":{\"dtype\":\"%s\",\"shape\":[", ft_dtype_name(e[i]->dtype));
        for (int d = 0; d < e[i]->ndim; d++)
            st_buf_printf(&b, d ? ",%" PRId64 : "%" PRId64, e[i]->shape[d]);
        st_buf_printf(&b, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + e[i]->nbytes);
        off += e[i]->nbytes;
    }
    st_buf_str(&b, "}");
    while (!b.oom && b.n % 8) /* pad so the data section starts 8-byte aligned */
        st_buf_str(&b, " ");
    if (b.oom) {
        free(b.p);
        return ft_fail(FT_ERR_NOMEM, "%s: out of memory building the header", path);
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)b.n >> (8 * i));

    char tmp[4200];
    int fd;
    ft_status s = ft_tmp_create(path, tmp, sizeof tmp, &fd);
    if (s != FT_OK) {
        free(b.p);
        return s;
    }
    s = st_write_all(fd, len8, 8, tmp);
    if (s == FT_OK)
        s = st_write_all(fd, b.p, b.n, tmp);
    free(b.p);
    for (size_t i = 0; s == FT_OK && i < n; i++)
        s = st_write_all(fd, e[i]->data, e[i]->nbytes, tmp);
    if (s == FT_OK && fsync(fd) != 0)
        s = ft_fail(FT_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && s == FT_OK)
        s = ft_fail(FT_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (s == FT_OK && rename(tmp, path) != 0)
        s = ft_fail(FT_ERR_IO, "%s: rename from %s failed: %s", path, tmp, strerror(errno));
    if (s != FT_OK) {
        unlink(tmp);
        return s;
    }
    st_fsync_dir_of(path);
    return FT_OK;
}

/* Entries sorted by name, and metadata sorted by key, for deterministic output. */
static ft_status st_sorted(ft_st_writer *w, st_wentry ***out) {
    st_wentry **v = malloc((w->n ? w->n : 1) * sizeof *v);
    if (!v)
        return ft_fail(FT_ERR_NOMEM, "safetensors writer: out of memory sorting %zu tensors", w->n);
    for (size_t i = 0; i < w->n; i++)
        v[i] = &w->e[i];
    qsort(v, w->n, sizeof *v, st_wentry_ptr_cmp);
    if (w->nmeta > 1)
        qsort(w->meta, w->nmeta, sizeof *w->meta, st_kv_cmp);
    *out = v;
    return FT_OK;
}

ft_status ft_st_writer_write(ft_st_writer *w, const char *path) {
    st_wentry **v;
    FT_TRY(st_sorted(w, &v));
    ft_status s = st_write_file(v, w->n, w->meta, w->nmeta, path);
    free(v);
    return s;
}

/* True for names like model-00001-of-00003.safetensors (our shard pattern). */
static bool st_is_shard_name(const char *n) {
    unsigned a, b;
    int used = 0;
    return sscanf(n, "model-%5u-of-%5u.safetensors%n", &a, &b, &used) == 2 && used > 0 && n[used] == 0 &&
           strlen(n) == strlen("model-00001-of-00001.safetensors");
}

/* Remove files a previous write left behind that the new layout does not use: stale shards
 * (other than those named in keep[0..nkeep)), and the index / single file as told. */
static ft_status st_remove_stale(const char *dir, char (*keep)[64], size_t nkeep, bool rm_index, bool rm_single) {
    char p[4096];
    if (rm_index && ft_file_exists(ft_path_join(p, sizeof p, dir, ST_INDEX_NAME)) && unlink(p) != 0)
        return ft_fail(FT_ERR_IO, "%s: cannot remove stale index: %s", p, strerror(errno));
    if (rm_single && ft_file_exists(ft_path_join(p, sizeof p, dir, ST_SINGLE_NAME)) && unlink(p) != 0)
        return ft_fail(FT_ERR_IO, "%s: cannot remove stale file: %s", p, strerror(errno));
    DIR *d = opendir(dir);
    if (!d)
        return ft_fail(FT_ERR_IO, "%s: cannot list directory: %s", dir, strerror(errno));
    ft_status s = FT_OK;
    for (struct dirent *de; s == FT_OK && (de = readdir(d));) {
        if (!st_is_shard_name(de->d_name))
            continue;
        bool kept = false;
        for (size_t i = 0; i < nkeep && !kept; i++)
            kept = strcmp(keep[i], de->d_name) == 0;
        if (!kept && unlink(ft_path_join(p, sizeof p, dir, de->d_name)) != 0)
            s = ft_fail(FT_ERR_IO, "%s: cannot remove stale shard: %s", p, strerror(errno));
    }
    closedir(d);
    if (s == FT_OK)
        st_fsync_dir_of(ft_path_join(p, sizeof p, dir, "x"));
    return s;
}

ft_status ft_st_writer_write_dir(ft_st_writer *w, const char *dir, size_t max_shard_bytes) {
    FT_TRY(ft_mkdir_p(dir));
    st_wentry **v;
    FT_TRY(st_sorted(w, &v));
    size_t *start = malloc((w->n + 2) * sizeof *start);
    if (!start) {
        free(v);
        return ft_fail(FT_ERR_NOMEM, "%s: out of memory planning shards", dir);
    }
    /* Greedy split in name order, as transformers does: a shard closes when the next tensor would
     * push it over the limit; a tensor larger than the limit gets a shard of its own. */
    size_t nsh = 1;
    uint64_t total = 0, cur = 0;
    start[0] = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (max_shard_bytes && cur > 0 && cur + v[i]->nbytes > max_shard_bytes) {
            start[nsh++] = i;
            cur = 0;
        }
        cur += v[i]->nbytes;
        total += v[i]->nbytes;
    }
    start[nsh] = w->n;
    char p[4096];
    char(*names)[64] = NULL;
    st_buf idx = {0};
    ft_status s = FT_OK;
    if (nsh == 1) { /* everything fits: one plain file, and no index that would shadow it */
        s = st_write_file(v, w->n, w->meta, w->nmeta, ft_path_join(p, sizeof p, dir, ST_SINGLE_NAME));
        if (s == FT_OK)
            s = st_remove_stale(dir, NULL, 0, true, false);
        goto out;
    }
    if (nsh > 99999) {
        s = ft_fail(FT_ERR_RANGE, "%s: %zu shards needed, at most 99999 supported; raise the shard size", dir, nsh);
        goto out;
    }
    names = calloc(nsh, sizeof *names);
    if (!names) {
        s = ft_fail(FT_ERR_NOMEM, "%s: out of memory planning shards", dir);
        goto out;
    }
    for (size_t k = 0; k < nsh; k++) {
        snprintf(names[k], sizeof names[k], "model-%05zu-of-%05zu.safetensors", k + 1, nsh);
        if ((s = st_write_file(v + start[k], start[k + 1] - start[k], w->meta, w->nmeta,
                               ft_path_join(p, sizeof p, dir, names[k]))) != FT_OK)
            goto out;
    }
    /* Index as transformers writes it: json.dumps(indent=2, sort_keys=True) + newline; written after
     * the shards so it never names a shard that is not complete. */
    st_buf_printf(&idx, "{\n  \"metadata\": {\n    \"total_size\": %" PRIu64 "\n  },\n  \"weight_map\": {", total);
    for (size_t k = 0; k < nsh; k++)
        for (size_t i = start[k]; i < start[k + 1]; i++) {
            st_buf_str(&idx, i ? ",\n    " : "\n    ");
            st_buf_json_str(&idx, v[i]->name);
            st_buf_str(&idx, ": ");
            st_buf_json_str(&idx, names[k]);
        }
    st_buf_str(&idx, "\n  }\n}\n");
    if (idx.oom) {
        s = ft_fail(FT_ERR_NOMEM, "%s: out of memory building the index", dir);
        goto out;
    }
    if ((s = ft_write_file_atomic(ft_path_join(p, sizeof p, dir, ST_INDEX_NAME), idx.p, idx.n)) != FT_OK)
        goto out;
    s = st_remove_stale(dir, names, nsh, false, true);
out:
    free(idx.p);
    free(names);
    free(start);
    free(v);
    return s;
}
