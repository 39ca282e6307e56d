#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ft_test.h"
#include "io/safetensors.h"

static char g_dir[64]; /* per-run temp dir under /tmp */

static const char *tpath(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", g_dir, name);
    return buf;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    if (n)
        fwrite(p, 1, n, f);
    fclose(f);
}

/* A safetensors file by hand: u64 LE length (hlen, normally strlen(json)), json, data. */
static void write_st_raw(const char *path, uint64_t hlen, const char *json, const void *data, size_t dlen) {
    size_t jl = strlen(json);
    uint8_t *buf = malloc(8 + jl + dlen + 1);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(buf + 8, json, jl);
    if (dlen)
        memcpy(buf + 8 + jl, data, dlen);
    write_bytes(path, buf, 8 + jl + dlen);
    free(buf);
}

static void write_st(const char *path, const char *json, size_t dlen) {
    uint8_t *data = calloc(dlen + 1, 1);
    for (size_t i = 0; i < dlen; i++)
        data[i] = (uint8_t)i;
    write_st_raw(path, strlen(json), json, data, dlen);
    free(data);
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    uint8_t *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

FT_TEST(test_dtypes) {
    const char *names[] = {"F32", "F16", "BF16", "I64", "I32", "U8", "I8", "BOOL"};
    size_t sizes[] = {4, 2, 2, 8, 4, 1, 1, 1};
    for (int i = 0; i < 8; i++) {
        ft_dtype d;
        FT_CHECK_OK(ft_dtype_parse(names[i], &d));
        FT_CHECK((int)d == i);
        FT_CHECK(strcmp(ft_dtype_name(d), names[i]) == 0);
        FT_CHECK(ft_dtype_size(d) == sizes[i]);
    }
    ft_dtype d;
    FT_CHECK_FAILS(ft_dtype_parse("F64", &d), FT_ERR_FORMAT, "'F64'");
    FT_CHECK_FAILS(ft_dtype_parse("f32", &d), FT_ERR_FORMAT, "'f32'");
}

/* Every dtype, a scalar, zero-size tensors, metadata; names added out of order. */
FT_TEST(test_roundtrip) {
    float f32[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e30f};
    uint16_t f16[4] = {0x3c00, 0xc000, 0x7c00, 0x0001};
    uint16_t bf16[3] = {0x3f80, 0xbf80, 0x7fc0};
    int64_t i64[2] = {INT64_MIN, INT64_MAX};
    int32_t i32[5] = {-1, 0, 1, INT32_MAX, INT32_MIN};
    uint8_t u8[3] = {0, 128, 255};
    int8_t i8[4] = {-128, -1, 0, 127};
    uint8_t bools[2] = {1, 0};
    float scalar = 42.0f;
    int64_t s23[] = {2, 3}, s4[] = {4}, s3[] = {3}, s2[] = {2}, s5[] = {5}, s22[] = {2, 2}, s03[] = {0, 3},
            s0[] = {0}, s11111111[] = {1, 1, 1, 1, 1, 1, 1, 1};
    ft_st_writer *w = ft_st_writer_new();
    FT_CHECK(w != NULL);
    FT_CHECK_OK(ft_st_writer_add(w, "z.f32", FT_DT_F32, 2, s23, f32));
    FT_CHECK_OK(ft_st_writer_add(w, "a.f16", FT_DT_F16, 1, s4, f16));
    FT_CHECK_OK(ft_st_writer_add(w, "m.bf16", FT_DT_BF16, 1, s3, bf16));
    FT_CHECK_OK(ft_st_writer_add(w, "b.i64", FT_DT_I64, 1, s2, i64));
    FT_CHECK_OK(ft_st_writer_add(w, "c.i32", FT_DT_I32, 1, s5, i32));
    FT_CHECK_OK(ft_st_writer_add(w, "d.u8", FT_DT_U8, 1, s3, u8));
    FT_CHECK_OK(ft_st_writer_add(w, "e.i8", FT_DT_I8, 2, s22, i8));
    FT_CHECK_OK(ft_st_writer_add(w, "f.bool", FT_DT_BOOL, 1, s2, bools));
    FT_CHECK_OK(ft_st_writer_add(w, "g.scalar", FT_DT_F32, 0, NULL, &scalar));
    FT_CHECK_OK(ft_st_writer_add(w, "h.empty", FT_DT_F32, 2, s03, NULL));
    FT_CHECK_OK(ft_st_writer_add(w, "h.empty1", FT_DT_I64, 1, s0, NULL));
    FT_CHECK_OK(ft_st_writer_add(w, "n.8d", FT_DT_U8, 8, s11111111, u8));
    FT_CHECK_OK(ft_st_writer_set_metadata(w, "format", "pt"));
    FT_CHECK_OK(ft_st_writer_set_metadata(w, "note", "quote\" back\\slash\nnewline \x01 ünï"));
    FT_CHECK_OK(ft_st_writer_set_metadata(w, "format", "pt2")); /* replaces */
    char p[256];
    FT_CHECK_OK(ft_st_writer_write(w, tpath(p, sizeof p, "rt.safetensors")));
    ft_st_writer_free(w);

    /* no temp file left behind */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", p, (int)getpid());
    FT_CHECK(access(tmp, F_OK) != 0);

    /* raw layout: header length multiple of 8, metadata first */
    size_t n;
    uint8_t *raw = slurp(p, &n);
    FT_CHECK(raw && n > 8);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | raw[i];
    FT_CHECK(hl % 8 == 0 && 8 + hl <= n);
    FT_CHECK(memcmp(raw + 8, "{\"__metadata__\":", 16) == 0);
    size_t data_bytes = 24 + 8 + 6 + 16 + 20 + 3 + 4 + 2 + 4 + 0 + 0 + 1;
    FT_CHECK(n == 8 + hl + data_bytes);
    free(raw);

    ft_st_file *f;
    FT_CHECK_OK(ft_st_open(p, &f));
    if (!f)
        return;
    FT_CHECK(strcmp(ft_st_path(f), p) == 0);
    FT_CHECK(ft_st_count(f) == 12);
    FT_CHECK(strcmp(ft_st_metadata(f, "format"), "pt2") == 0);
    FT_CHECK(strcmp(ft_st_metadata(f, "note"), "quote\" back\\slash\nnewline \x01 ünï") == 0);
    FT_CHECK(ft_st_metadata(f, "absent") == NULL);
    /* file order = name order as written; offsets contiguous */
    const char *prev = "";
    const uint8_t *end = NULL;
    for (size_t i = 0; i < ft_st_count(f); i++) {
        const ft_st_tensor *t = ft_st_at(f, i);
        FT_CHECKF(strcmp(prev, t->name) < 0, "%s then %s", prev, t->name);
        if (end)
            FT_CHECK((const uint8_t *)t->data == end);
        end = (const uint8_t *)t->data + t->nbytes;
        prev = t->name;
        FT_CHECK(ft_st_find(f, t->name) == t);
    }
    FT_CHECK(ft_st_at(f, 12) == NULL);
    const ft_st_tensor *t = ft_st_find(f, "z.f32");
    FT_CHECK(t && t->dtype == FT_DT_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->numel == 6 &&
             t->nbytes == 24 && memcmp(t->data, f32, 24) == 0);
    t = ft_st_find(f, "a.f16");
    FT_CHECK(t && t->dtype == FT_DT_F16 && t->numel == 4 && memcmp(t->data, f16, 8) == 0);
    t = ft_st_find(f, "m.bf16");
    FT_CHECK(t && t->dtype == FT_DT_BF16 && memcmp(t->data, bf16, 6) == 0);
    t = ft_st_find(f, "b.i64");
    FT_CHECK(t && t->dtype == FT_DT_I64 && memcmp(t->data, i64, 16) == 0);
    t = ft_st_find(f, "c.i32");
    FT_CHECK(t && t->dtype == FT_DT_I32 && memcmp(t->data, i32, 20) == 0);
    t = ft_st_find(f, "d.u8");
    FT_CHECK(t && t->dtype == FT_DT_U8 && memcmp(t->data, u8, 3) == 0);
    t = ft_st_find(f, "e.i8");
    FT_CHECK(t && t->dtype == FT_DT_I8 && t->ndim == 2 && memcmp(t->data, i8, 4) == 0);
    t = ft_st_find(f, "f.bool");
    FT_CHECK(t && t->dtype == FT_DT_BOOL && memcmp(t->data, bools, 2) == 0);
    t = ft_st_find(f, "g.scalar");
    FT_CHECK(t && t->ndim == 0 && t->numel == 1 && t->nbytes == 4 && memcmp(t->data, &scalar, 4) == 0);
    t = ft_st_find(f, "h.empty");
    FT_CHECK(t && t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 3 && t->numel == 0 && t->nbytes == 0);
    t = ft_st_find(f, "h.empty1");
    FT_CHECK(t && t->dtype == FT_DT_I64 && t->ndim == 1 && t->numel == 0);
    t = ft_st_find(f, "n.8d");
    FT_CHECK(t && t->ndim == 8 && t->numel == 1 && ((const uint8_t *)t->data)[0] == 0);
    FT_CHECK(ft_st_find(f, "nope") == NULL);
    FT_CHECK(ft_st_find(f, "z.f3") == NULL);
    ft_st_close(f);
}

/* Re-writing what was read gives the same bytes (writer is deterministic and the reader lossless). */
FT_TEST(test_bit_identical) {
    float a[3] = {1, 2, 3};
    double b[2] = {1.25, -7.5}; /* stored as I64 bits: any 8-byte payload must survive untouched */
    int64_t s3[] = {3}, s2[] = {2}, s11[] = {1, 1};
    uint8_t c = 7;
    ft_st_writer *w = ft_st_writer_new();
    FT_CHECK_OK(ft_st_writer_add(w, "tok\"q", FT_DT_F32, 1, s3, a));
    FT_CHECK_OK(ft_st_writer_add(w, "b", FT_DT_I64, 1, s2, b));
    FT_CHECK_OK(ft_st_writer_add(w, "c", FT_DT_U8, 2, s11, &c));
    FT_CHECK_OK(ft_st_writer_set_metadata(w, "format", "pt"));
    char p1[256], p2[256];
    FT_CHECK_OK(ft_st_writer_write(w, tpath(p1, sizeof p1, "bi1.safetensors")));
    ft_st_writer_free(w);

    ft_st_file *f;
    FT_CHECK_OK(ft_st_open(p1, &f));
    if (!f)
        return;
    w = ft_st_writer_new();
    for (size_t i = ft_st_count(f); i-- > 0;) { /* reverse order on purpose */
        const ft_st_tensor *t = ft_st_at(f, i);
        FT_CHECK_OK(ft_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data));
    }
    FT_CHECK_OK(ft_st_writer_set_metadata(w, "format", ft_st_metadata(f, "format")));
    FT_CHECK_OK(ft_st_writer_write(w, tpath(p2, sizeof p2, "bi2.safetensors")));
    ft_st_writer_free(w);
    ft_st_close(f);
    size_t n1, n2;
    uint8_t *r1 = slurp(p1, &n1), *r2 = slurp(p2, &n2);
    FT_CHECK(r1 && r2 && n1 == n2 && memcmp(r1, r2, n1) == 0);
    /* The header is exactly what the spec layout implies. */
    const char *want = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"b\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                       "\"c\":{\"dtype\":\"U8\",\"shape\":[1,1],\"data_offsets\":[16,17]},"
                       "\"tok\\\"q\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[17,29]}}";
    size_t wl = strlen(want), padded = (wl + 7) / 8 * 8;
    FT_CHECK(n1 == 8 + padded + 29);
    FT_CHECK(r1[0] == padded && r1[1] == 0 && r1[7] == 0);
    FT_CHECK(memcmp(r1 + 8, want, wl) == 0);
    for (size_t i = wl; i < padded; i++)
        FT_CHECK(r1[8 + i] == ' ');
    FT_CHECK(memcmp(r1 + 8 + padded, b, 16) == 0 && r1[8 + padded + 16] == 7 &&
             memcmp(r1 + 8 + padded + 17, a, 12) == 0);
    free(r1);
    free(r2);
}

/* Files by other writers: no metadata, no padding, out-of-order offsets, gaps. */
FT_TEST(test_foreign_layout) {
    char p[256];
    /* data section: 8 bytes of "y" at offset 0, 4 bytes of "x" at offset 8 */
    uint8_t data[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const char *ok = "{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]},"
                     "\"y\":{\"shape\":[2,2],\"dtype\":\"BF16\",\"data_offsets\":[0,8],\"extra\":1}} \n";
    write_st_raw(tpath(p, sizeof p, "foreign.safetensors"), strlen(ok), ok, data, 12);
    ft_st_file *f;
    FT_CHECK_OK(ft_st_open(p, &f));
    if (!f)
        return;
    FT_CHECK(ft_st_count(f) == 2);
    FT_CHECK(strcmp(ft_st_at(f, 0)->name, "y") == 0 && strcmp(ft_st_at(f, 1)->name, "x") == 0);
    FT_CHECK(((const uint8_t *)ft_st_find(f, "x")->data)[0] == 9);
    FT_CHECK(ft_st_find(f, "x")->ndim == 0 && ft_st_find(f, "x")->numel == 1);
    FT_CHECK(ft_st_metadata(f, "format") == NULL);
    ft_st_close(f);
    /* empty header object: a file with no tensors */
    write_st_raw(p, 2, "{}", NULL, 0);
    FT_CHECK_OK(ft_st_open(p, &f));
    if (f) {
        FT_CHECK(ft_st_count(f) == 0);
        ft_st_close(f);
    }
}

/* Thousands of tensors: every name found, by hash lookup. */
FT_TEST(test_many_tensors) {
    enum { N = 5000 };
    static int32_t vals[N];
    static char names[N][32];
    ft_st_writer *w = ft_st_writer_new();
    int64_t s1[] = {1};
    for (int i = 0; i < N; i++) {
        vals[i] = i * 7;
        snprintf(names[i], sizeof names[i], "layers.%d.w", i);
        FT_CHECK_OK(ft_st_writer_add(w, names[i], FT_DT_I32, 1, s1, &vals[i]));
    }
    FT_CHECK_FAILS(ft_st_writer_add(w, "layers.17.w", FT_DT_I32, 1, s1, &vals[0]), FT_ERR_ARG, "'layers.17.w'");
    char p[256];
    FT_CHECK_OK(ft_st_writer_write(w, tpath(p, sizeof p, "many.safetensors")));
    ft_st_writer_free(w);
    ft_st_file *f;
    FT_CHECK_OK(ft_st_open(p, &f));
    if (!f)
        return;
    FT_CHECK(ft_st_count(f) == N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        const ft_st_tensor *t = ft_st_find(f, names[i]);
        if (!t || *(const int32_t *)t->data != i * 7)
            bad++;
    }
    FT_CHECK(bad == 0);
    ft_st_close(f);
}

FT_TEST(test_writer_errors) {
    ft_st_writer *w = ft_st_writer_new();
    float x = 1;
    int64_t neg[] = {2, -1}, one[] = {1};
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    FT_CHECK_FAILS(ft_st_writer_add(w, "t", FT_DT_F32, 2, neg, &x), FT_ERR_ARG, "tensor 't': shape[1] = -1");
    FT_CHECK_FAILS(ft_st_writer_add(w, "t", FT_DT_F32, 9, nine, &x), FT_ERR_ARG, "tensor 't': ndim 9");
    FT_CHECK_FAILS(ft_st_writer_add(w, "__metadata__", FT_DT_F32, 1, one, &x), FT_ERR_ARG, "'__metadata__'");
    FT_CHECK_FAILS(ft_st_writer_add(w, "t", FT_DT_F32, 1, one, NULL), FT_ERR_ARG, "tensor 't': NULL data");
    FT_CHECK_FAILS(ft_st_writer_add(w, "t", (ft_dtype)99, 1, one, &x), FT_ERR_ARG, "tensor 't': bad dtype");
    FT_CHECK_OK(ft_st_writer_add(w, "t", FT_DT_F32, 1, one, &x));
    FT_CHECK_FAILS(ft_st_writer_add(w, "t", FT_DT_F32, 1, one, &x), FT_ERR_ARG, "tensor 't' added twice");
    FT_CHECK_FAILS(ft_st_writer_write(w, "/nonexistent-dir/x.safetensors"), FT_ERR_IO, "/nonexistent-dir/x.safetensors");
    ft_st_writer_free(w);
}

/* Files in <g_dir>/sh named like shards (model-NNNNN-of-NNNNN.safetensors). */
static int count_shards(void) {
    char p[256];
    DIR *d = opendir(tpath(p, sizeof p, "sh"));
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        unsigned a, b;
        char tail[32] = "";
        if (strlen(de->d_name) == 32 && sscanf(de->d_name, "model-%5u-of-%5u%31s", &a, &b, tail) == 3 &&
            strcmp(tail, ".safetensors") == 0)
            n++;
    }
    closedir(d);
    return n;
}

FT_TEST(test_sharded) {
    enum { N = 10 };
    static float data[N][16];
    char names[N][16];
    int64_t s44[] = {4, 4};
    ft_st_writer *w = ft_st_writer_new();
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < 16; j++)
            data[i][j] = (float)(i * 100 + j);
        snprintf(names[i], sizeof names[i], "w%02d", N - 1 - i);
        FT_CHECK_OK(ft_st_writer_add(w, names[i], FT_DT_F32, 2, s44, data[i]));
    }
    FT_CHECK_OK(ft_st_writer_set_metadata(w, "format", "pt"));
    char dir[256], p[256];
    tpath(dir, sizeof dir, "sh");
    /* 64 bytes per tensor, 200 per shard -> 3 tensors per shard -> 4 shards */
    FT_CHECK_OK(ft_st_writer_write_dir(w, dir, 200));
    FT_CHECK(count_shards() == 4);
    FT_CHECK(access(tpath(p, sizeof p, "sh/model.safetensors"), F_OK) != 0);
    size_t n;
    char *idx = (char *)slurp(tpath(p, sizeof p, "sh/model.safetensors.index.json"), &n);
    FT_CHECK(idx != NULL);
    if (idx) {
        idx[n] = 0;
        cJSON *j = cJSON_Parse(idx);
        FT_CHECK(j != NULL);
        cJSON *tot = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "total_size");
        FT_CHECK(cJSON_IsNumber(tot) && tot->valuedouble == N * 64);
        cJSON *wm = cJSON_GetObjectItem(j, "weight_map");
        FT_CHECK(cJSON_GetArraySize(wm) == N);
        const char *prev = "";
        for (cJSON *e = wm ? wm->child : NULL; e; e = e->next) {
            FT_CHECK(strcmp(prev, e->string) < 0);
            prev = e->string;
        }
        FT_CHECK(strcmp(cJSON_GetObjectItem(wm, "w00")->valuestring, "model-00001-of-00004.safetensors") == 0);
        FT_CHECK(strcmp(cJSON_GetObjectItem(wm, "w03")->valuestring, "model-00002-of-00004.safetensors") == 0);
        FT_CHECK(strcmp(cJSON_GetObjectItem(wm, "w09")->valuestring, "model-00004-of-00004.safetensors") == 0);
        FT_CHECK(idx[n - 1] == '\n' && strstr(idx, "{\n  \"metadata\": {\n    \"total_size\": 640\n  },") == idx);
        cJSON_Delete(j);
        free(idx);
    }
    ft_st_set *s;
    FT_CHECK_OK(ft_st_set_open_dir(dir, &s));
    if (s) {
        FT_CHECK(ft_st_set_count(s) == N);
        for (int i = 0; i < N; i++) {
            const char *file = NULL;
            const ft_st_tensor *t = ft_st_set_find(s, names[i], &file);
            FT_CHECK(t && t->numel == 16 && memcmp(t->data, data[i], 64) == 0);
            int k = (N - 1 - i) / 3 + 1;
            char want[64];
            snprintf(want, sizeof want, "model-%05d-of-00004.safetensors", k);
            FT_CHECKF(file && strstr(file, want), "%s in %s", names[i], file ? file : "?");
        }
        for (size_t i = 0; i < ft_st_set_count(s); i++) { /* shard order, then file order = name order */
            char want[32];
            snprintf(want, sizeof want, "w%02zu", i);
            FT_CHECK(strcmp(ft_st_set_at(s, i)->name, want) == 0);
        }
        FT_CHECK(ft_st_set_at(s, N) == NULL);
        FT_CHECK(ft_st_set_find(s, "zz", NULL) == NULL);
        FT_CHECK(ft_st_set_total_bytes(s) > N * 64);
        ft_st_set_close(s);
    }
    /* Re-shard coarser: stale shards of the old layout disappear. */
    FT_CHECK_OK(ft_st_writer_write_dir(w, dir, 400));
    FT_CHECK(count_shards() == 2);
    FT_CHECK_OK(ft_st_set_open_dir(dir, &s));
    if (s) {
        FT_CHECK(ft_st_set_count(s) == N);
        ft_st_set_close(s);
    }
    /* Everything fits: a single model.safetensors; the index and shards go. */
    FT_CHECK_OK(ft_st_writer_write_dir(w, dir, 0));
    FT_CHECK(count_shards() == 0);
    FT_CHECK(access(tpath(p, sizeof p, "sh/model.safetensors.index.json"), F_OK) != 0);
    FT_CHECK_OK(ft_st_set_open_dir(dir, &s));
    if (s) {
        const char *file = NULL;
        FT_CHECK(ft_st_set_count(s) == N && ft_st_set_find(s, "w05", &file) && strstr(file, "sh/model.safetensors"));
        ft_st_set_close(s);
    }
    FT_CHECK_OK(ft_st_writer_write_dir(w, dir, N * 64)); /* exactly fits */
    FT_CHECK(count_shards() == 0);
    /* Sharded again: the single file goes. */
    FT_CHECK_OK(ft_st_writer_write_dir(w, dir, 64));
    FT_CHECK(count_shards() == N);
    FT_CHECK(access(tpath(p, sizeof p, "sh/model.safetensors"), F_OK) != 0);
    ft_st_writer_free(w);

    /* A tensor larger than the limit still gets written (alone in its shard): one shard -> one file. */
    w = ft_st_writer_new();
    FT_CHECK_OK(ft_st_writer_add(w, "big", FT_DT_F32, 2, s44, data[0]));
    FT_CHECK_OK(ft_st_writer_write_dir(w, dir, 10));
    FT_CHECK(count_shards() == 0);
    FT_CHECK(access(tpath(p, sizeof p, "sh/model.safetensors"), F_OK) == 0);
    ft_st_writer_free(w);
}

FT_TEST(test_set_open) {
    char p[256], d[256];
    ft_st_set *s;
    tpath(d, sizeof d, "emptydir");
    mkdir(d, 0755);
    FT_CHECK_FAILS(ft_st_set_open_dir(d, &s), FT_ERR_MISSING, "emptydir: neither model.safetensors.index.json nor model.safetensors");
    FT_CHECK(s == NULL);
    write_st(tpath(p, sizeof p, "one.safetensors"), "{\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3);
    FT_CHECK_OK(ft_st_set_open_file(p, &s));
    if (s) {
        const char *file;
        FT_CHECK(ft_st_set_count(s) == 1 && ft_st_set_find(s, "a", &file) && strcmp(file, p) == 0);
        FT_CHECK(ft_st_set_total_bytes(s) == 8 + strlen("{\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}") + 3);
        ft_st_set_close(s);
    }
    FT_CHECK_FAILS(ft_st_set_open_file(tpath(p, sizeof p, "nope.safetensors"), &s), FT_ERR_MISSING, "nope.safetensors: cannot open");
}

/* Open path expecting failure with "<path>: <rest>" in the message. */
static void expect_bad(const char *name, const char *json, size_t dlen, ft_status st, const char *rest, int line) {
    char p[256], want[512];
    write_st(tpath(p, sizeof p, name), json, dlen);
    snprintf(want, sizeof want, "%s: %s", p, rest);
    ft_st_file *f = (ft_st_file *)1;
    ft_status got = ft_st_open(p, &f);
    if (got != st || !strstr(ft_last_error(), want) || f != NULL) {
        fprintf(stderr, "  FAIL line %d [%s]: %s -> '%s', wanted '%s'\n", line, name, ft_status_name(got),
                ft_last_error(), want);
        ft_t_cur_failed = 1;
    }
    if (got == FT_OK)
        ft_st_close(f);
}
#define EXPECT_BAD(name, json, dlen, st, rest) expect_bad(name, json, dlen, st, rest, __LINE__)

FT_TEST(test_bad_files) {
    char p[256], want[512];
    ft_st_file *f;
    /* truncated: shorter than the length prefix */
    write_bytes(tpath(p, sizeof p, "trunc.safetensors"), "\x10\0\0", 3);
    snprintf(want, sizeof want, "%s: truncated: 3 bytes", p);
    FT_CHECK_FAILS(ft_st_open(p, &f), FT_ERR_FORMAT, want);
    write_bytes(p, "", 0);
    snprintf(want, sizeof want, "%s: truncated: 0 bytes", p);
    FT_CHECK_FAILS(ft_st_open(p, &f), FT_ERR_FORMAT, want);
    /* header length larger than the file */
    write_st_raw(tpath(p, sizeof p, "hlong.safetensors"), 1000, "{}", NULL, 0);
    snprintf(want, sizeof want, "%s: header length 1000 runs past the end of the file (10 bytes)", p);
    FT_CHECK_FAILS(ft_st_open(p, &f), FT_ERR_FORMAT, want);
    /* header fits, but the data the header claims was cut off */
    const char *cut = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    write_st_raw(p, strlen(cut), cut, "abcd", 4);
    snprintf(want, sizeof want, "%s: tensor 'a': data_offsets [0,8] run past the data section (4 bytes)", p);
    FT_CHECK_FAILS(ft_st_open(p, &f), FT_ERR_FORMAT, want);
    /* absurdly large header length */
    write_st_raw(tpath(p, sizeof p, "hhuge.safetensors"), 1ull << 40, "{}", NULL, 0);
    snprintf(want, sizeof want, "%s: header length 1099511627776 is not sane", p);
    FT_CHECK_FAILS(ft_st_open(p, &f), FT_ERR_FORMAT, want);
    write_st_raw(p, 100000001, "{}", NULL, 0);
    snprintf(want, sizeof want, "%s: header length 100000001 is not sane", p);
    FT_CHECK_FAILS(ft_st_open(p, &f), FT_ERR_FORMAT, want);
    write_st_raw(p, 1, "{}", NULL, 0);
    snprintf(want, sizeof want, "%s: header length 1 is not sane", p);
    FT_CHECK_FAILS(ft_st_open(p, &f), FT_ERR_FORMAT, want);
    /* missing file */
    snprintf(want, sizeof want, "%s: cannot open", tpath(p, sizeof p, "missing.safetensors"));
    FT_CHECK_FAILS(ft_st_open(p, &f), FT_ERR_MISSING, want);

    EXPECT_BAD("nonjson.safetensors", "{\"a\": {\"dtype\": \"F32\",", 0, FT_ERR_FORMAT, "header is not valid JSON");
    EXPECT_BAD("garbage.safetensors", "hello world", 0, FT_ERR_FORMAT, "header is not valid JSON");
    EXPECT_BAD("trailing.safetensors", "{}  x", 0, FT_ERR_FORMAT, "header has trailing garbage after the JSON object at byte 4");
    EXPECT_BAD("array.safetensors", "[1,2,3]", 0, FT_ERR_FORMAT, "header JSON must be an object");
    EXPECT_BAD("string.safetensors", "\"abc\"", 0, FT_ERR_FORMAT, "header JSON must be an object");
    EXPECT_BAD("entry.safetensors", "{\"w\":[1,2]}", 0, FT_ERR_FORMAT, "tensor 'w': entry must be an object");
    EXPECT_BAD("dtype.safetensors", "{\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
               FT_ERR_FORMAT, "tensor 'w': unknown dtype 'F64'");
    EXPECT_BAD("nodtype.safetensors", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, FT_ERR_FORMAT,
               "tensor 'w': missing 'dtype'");
    EXPECT_BAD("dtypenum.safetensors", "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, FT_ERR_FORMAT,
               "tensor 'w': 'dtype' must be a string");
    EXPECT_BAD("noshape.safetensors", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, FT_ERR_FORMAT,
               "tensor 'w': missing 'shape'");
    EXPECT_BAD("shapeobj.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", 4,
               FT_ERR_FORMAT, "tensor 'w': 'shape' must be an array");
    EXPECT_BAD("negdim.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-2],\"data_offsets\":[0,16]}}", 16,
               FT_ERR_FORMAT, "tensor 'w': shape[1] is -2, expected a non-negative integer");
    EXPECT_BAD("fracdim.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
               FT_ERR_FORMAT, "tensor 'w': shape[0] is 1.5");
    EXPECT_BAD("strdim.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
               FT_ERR_FORMAT, "tensor 'w': shape[0] is \"2\"");
    EXPECT_BAD("ninedims.safetensors",
               "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, FT_ERR_FORMAT,
               "tensor 'w': shape has 9 dimensions, at most 8");
    EXPECT_BAD("overflow.safetensors",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
               FT_ERR_FORMAT, "tensor 'w': shape [4294967296,4294967296] x F32 overflows");
    EXPECT_BAD("overflow2.safetensors",
               "{\"w\":{\"dtype\":\"I64\",\"shape\":[4294967296,1073741824],\"data_offsets\":[0,4]}}", 4,
               FT_ERR_FORMAT, "tensor 'w': shape [4294967296,1073741824] x I64 overflows");
    EXPECT_BAD("nooffs.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, FT_ERR_FORMAT,
               "tensor 'w': missing 'data_offsets'");
    EXPECT_BAD("offs3.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
               FT_ERR_FORMAT, "tensor 'w': 'data_offsets' must be [begin, end]");
    EXPECT_BAD("offsneg.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8,
               FT_ERR_FORMAT, "tensor 'w': 'data_offsets' must be [begin, end]");
    EXPECT_BAD("offsrange.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12,
               FT_ERR_FORMAT, "tensor 'w': data_offsets [0,16] run past the data section (12 bytes)");
    EXPECT_BAD("beginend.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8,
               FT_ERR_FORMAT, "tensor 'w': data_offsets [8,4] has begin > end");
    EXPECT_BAD("mismatch.safetensors",
               "{\"h.0.attn.c_attn.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,8]}}", 8,
               FT_ERR_FORMAT, "tensor 'h.0.attn.c_attn.weight': shape [2,3] x F32 = 24 bytes but data_offsets span 8");
    EXPECT_BAD("scalarmis.safetensors", "{\"s\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
               FT_ERR_FORMAT, "tensor 's': shape [] x BF16 = 2 bytes but data_offsets span 4");
    EXPECT_BAD("overlap.safetensors",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, FT_ERR_FORMAT, "tensor 'b': data_offsets [4,12] overlap tensor 'a' [0,8]");
    EXPECT_BAD("overlap2.safetensors",
               "{\"big\":{\"dtype\":\"U8\",\"shape\":[10],\"data_offsets\":[0,10]},"
               "\"s1\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},"
               "\"s2\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[6,8]}}",
               10, FT_ERR_FORMAT, "tensor 's1': data_offsets [2,4] overlap tensor 'big' [0,10]");
    EXPECT_BAD("same.safetensors",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
               4, FT_ERR_FORMAT, "tensor 'b': data_offsets [0,4] overlap tensor 'a' [0,4]");
    EXPECT_BAD("dupname.safetensors",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               8, FT_ERR_FORMAT, "tensor 'a' appears twice");
    EXPECT_BAD("metanum.safetensors", "{\"__metadata__\":{\"format\":\"pt\",\"n\":3}}", 0, FT_ERR_FORMAT,
               "'__metadata__' entry 'n' must be a string");
    EXPECT_BAD("metaarr.safetensors", "{\"__metadata__\":[\"pt\"]}", 0, FT_ERR_FORMAT,
               "'__metadata__' must be an object of strings");
    /* empty spans may sit anywhere, even inside another tensor's span */
    write_st(tpath(p, sizeof p, "emptyspan.safetensors"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
             8);
    FT_CHECK_OK(ft_st_open(p, &f));
    if (f) {
        FT_CHECK(ft_st_count(f) == 2 && ft_st_find(f, "e")->numel == 0);
        ft_st_close(f);
    }
}

/* Writes a valid shard with tensors a (U8 [1]) and, if with_b, b (U8 [1]). */
static void make_shard(const char *path, const char *n1, const char *n2) {
    char json[256];
    if (n2)
        snprintf(json, sizeof json,
                 "{\"%s\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                 "\"%s\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                 n1, n2);
    else
        snprintf(json, sizeof json, "{\"%s\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", n1);
    write_st(path, json, n2 ? 2 : 1);
}

FT_TEST(test_bad_index) {
    char d[256], p[256], ip[256], want[1024];
    ft_st_set *s = NULL;
    tpath(d, sizeof d, "bi");
    mkdir(d, 0755);
    tpath(ip, sizeof ip, "bi/model.safetensors.index.json");
    make_shard(tpath(p, sizeof p, "bi/s1.safetensors"), "a", "b");
    make_shard(tpath(p, sizeof p, "bi/s2.safetensors"), "c", NULL);

    /* good index first, so the failures below are about the one thing changed */
    const char *good = "{\"metadata\":{\"total_size\":3},\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":"
                       "\"s1.safetensors\",\"c\":\"s2.safetensors\"}}";
    write_bytes(ip, good, strlen(good));
    FT_CHECK_OK(ft_st_set_open_dir(d, &s));
    if (s) {
        const char *file;
        FT_CHECK(ft_st_set_count(s) == 3 && ft_st_set_find(s, "c", &file) && strstr(file, "bi/s2.safetensors"));
        ft_st_set_close(s);
    }

    const char *missing = "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s9.safetensors\"}}";
    write_bytes(ip, missing, strlen(missing));
    snprintf(want, sizeof want, "%s: shard 's9.safetensors' (holding tensor 'b') does not exist", ip);
    FT_CHECK_FAILS(ft_st_set_open_dir(d, &s), FT_ERR_MISSING, want);
    FT_CHECK(s == NULL);

    const char *absent = "{\"weight_map\":{\"a\":\"s1.safetensors\",\"c\":\"s1.safetensors\"}}";
    write_bytes(ip, absent, strlen(absent));
    snprintf(want, sizeof want, "%s: tensor 'c' is listed in shard 's1.safetensors' but %s/s1.safetensors does not contain it", ip, d);
    FT_CHECK_FAILS(ft_st_set_open_dir(d, &s), FT_ERR_FORMAT, want);

    make_shard(tpath(p, sizeof p, "bi/s3.safetensors"), "a", "c");
    const char *dup = "{\"weight_map\":{\"a\":\"s1.safetensors\",\"c\":\"s3.safetensors\"}}";
    write_bytes(ip, dup, strlen(dup));
    snprintf(want, sizeof want, "tensor 'a' is in two shards: %s/s1.safetensors and %s/s3.safetensors", d, d);
    FT_CHECK_FAILS(ft_st_set_open_dir(d, &s), FT_ERR_FORMAT, want);

    const char *escape = "{\"weight_map\":{\"a\":\"../x.safetensors\"}}";
    write_bytes(ip, escape, strlen(escape));
    snprintf(want, sizeof want, "%s: weight_map entry for tensor 'a' must be a shard file name", ip);
    FT_CHECK_FAILS(ft_st_set_open_dir(d, &s), FT_ERR_FORMAT, want);

    const char *nomap = "{\"metadata\":{}}";
    write_bytes(ip, nomap, strlen(nomap));
    snprintf(want, sizeof want, "%s: expected an object with a 'weight_map'", ip);
    FT_CHECK_FAILS(ft_st_set_open_dir(d, &s), FT_ERR_FORMAT, want);

    write_bytes(ip, "{\"weight_map\":", 14);
    snprintf(want, sizeof want, "%s: not valid JSON", ip);
    FT_CHECK_FAILS(ft_st_set_open_dir(d, &s), FT_ERR_FORMAT, want);

    /* a bad shard: its own message comes through, naming the shard file */
    write_st(tpath(p, sizeof p, "bi/s4.safetensors"), "{\"z\":{\"dtype\":\"X9\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1);
    const char *badshard = "{\"weight_map\":{\"z\":\"s4.safetensors\"}}";
    write_bytes(ip, badshard, strlen(badshard));
    snprintf(want, sizeof want, "%s: tensor 'z': unknown dtype 'X9'", p);
    FT_CHECK_FAILS(ft_st_set_open_dir(d, &s), FT_ERR_FORMAT, want);
}

/* ---- cross-check with an independent numpy writer/reader (tests/safetensors_interop.py) ---- */

typedef struct {
    float f32[6];
    uint16_t f16[6], bf16[6];
    int64_t i64[3];
    int32_t i32[5];
    uint8_t u8[3];
    int8_t i8[3];
    uint8_t b[3];
    float scalar;
} interop_ref;

static void interop_values(interop_ref *r) {
    for (int i = 0; i < 6; i++) {
        r->f32[i] = (float)i * 0.5f - 1.0f;
        r->f16[i] = ft_f32_to_f16(r->f32[i]);
        r->bf16[i] = ft_f32_to_bf16(r->f32[i]);
    }
    int64_t i64[3] = {-((int64_t)1 << 40), 3, (int64_t)1 << 62};
    memcpy(r->i64, i64, sizeof i64);
    for (int i = 0; i < 5; i++)
        r->i32[i] = i - 2;
    uint8_t u8[3] = {0, 7, 255}, b[3] = {1, 0, 1};
    int8_t i8[3] = {-128, 5, 127};
    memcpy(r->u8, u8, 3);
    memcpy(r->i8, i8, 3);
    memcpy(r->b, b, 3);
    r->scalar = 3.5f;
}

/* Runs the interop script; returns its exit status, or 77 when it cannot run here. */
static int interop_run(const char *mode, const char *path) {
    const char *src = getenv("FT_SRC");
    if (!src || access("/usr/bin/python3", X_OK) != 0)
        return 77;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/safetensors_interop.py' %s '%s'", src, mode, path);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 1;
}

static bool interop_tensor_is(const ft_st_file *f, const char *name, ft_dtype dt, int ndim, const int64_t *shape,
                              const void *data) {
    const ft_st_tensor *t = ft_st_find(f, name);
    if (!t || t->dtype != dt || t->ndim != ndim)
        return false;
    size_t n = ft_dtype_size(dt);
    for (int d = 0; d < ndim; d++) {
        if (t->shape[d] != shape[d])
            return false;
        n *= (size_t)shape[d];
    }
    return t->nbytes == n && (n == 0 || memcmp(t->data, data, n) == 0);
}

FT_TEST(test_python_interop) {
    interop_ref r;
    interop_values(&r);
    char p[256];
    int rc = interop_run("write", tpath(p, sizeof p, "numpy.safetensors"));
    if (rc == 77) {
        printf("# skip test_python_interop: FT_SRC, /usr/bin/python3 or numpy missing\n");
        return;
    }
    FT_CHECK(rc == 0);
    /* numpy-written file read by ftune */
    int64_t s23[] = {2, 3}, s6[] = {6}, s32[] = {3, 2}, s3[] = {3}, s5[] = {5}, s04[] = {0, 4};
    ft_st_file *f;
    FT_CHECK_OK(ft_st_open(p, &f));
    if (f) {
        FT_CHECK(ft_st_count(f) == 10);
        FT_CHECK(strcmp(ft_st_metadata(f, "writer"), "numpy") == 0);
        FT_CHECK(interop_tensor_is(f, "f32", FT_DT_F32, 2, s23, r.f32));
        FT_CHECK(interop_tensor_is(f, "f16", FT_DT_F16, 1, s6, r.f16));
        FT_CHECK(interop_tensor_is(f, "bf16", FT_DT_BF16, 2, s32, r.bf16));
        FT_CHECK(interop_tensor_is(f, "i64", FT_DT_I64, 1, s3, r.i64));
        FT_CHECK(interop_tensor_is(f, "i32", FT_DT_I32, 1, s5, r.i32));
        FT_CHECK(interop_tensor_is(f, "u8", FT_DT_U8, 1, s3, r.u8));
        FT_CHECK(interop_tensor_is(f, "i8", FT_DT_I8, 1, s3, r.i8));
        FT_CHECK(interop_tensor_is(f, "bool", FT_DT_BOOL, 1, s3, r.b));
        FT_CHECK(interop_tensor_is(f, "scalar", FT_DT_F32, 0, NULL, &r.scalar));
        FT_CHECK(interop_tensor_is(f, "empty", FT_DT_F32, 2, s04, NULL));
        /* file order follows the data offsets (numpy wrote reverse name order) */
        FT_CHECK(strcmp(ft_st_at(f, 0)->name, "u8") == 0 && strcmp(ft_st_at(f, 9)->name, "bf16") == 0);
        ft_st_close(f);
    }
    /* ftune-written file read by numpy */
    ft_st_writer *w = ft_st_writer_new();
    FT_CHECK_OK(ft_st_writer_add(w, "scalar", FT_DT_F32, 0, NULL, &r.scalar));
    FT_CHECK_OK(ft_st_writer_add(w, "f32", FT_DT_F32, 2, s23, r.f32));
    FT_CHECK_OK(ft_st_writer_add(w, "f16", FT_DT_F16, 1, s6, r.f16));
    FT_CHECK_OK(ft_st_writer_add(w, "bf16", FT_DT_BF16, 2, s32, r.bf16));
    FT_CHECK_OK(ft_st_writer_add(w, "i64", FT_DT_I64, 1, s3, r.i64));
    FT_CHECK_OK(ft_st_writer_add(w, "i32", FT_DT_I32, 1, s5, r.i32));
    FT_CHECK_OK(ft_st_writer_add(w, "u8", FT_DT_U8, 1, s3, r.u8));
    FT_CHECK_OK(ft_st_writer_add(w, "i8", FT_DT_I8, 1, s3, r.i8));
    FT_CHECK_OK(ft_st_writer_add(w, "bool", FT_DT_BOOL, 1, s3, r.b));
    FT_CHECK_OK(ft_st_writer_add(w, "empty", FT_DT_F32, 2, s04, NULL));
    FT_CHECK_OK(ft_st_writer_set_metadata(w, "format", "pt"));
    FT_CHECK_OK(ft_st_writer_write(w, tpath(p, sizeof p, "ftune.safetensors")));
    FT_CHECK(interop_run("check", p) == 0);
    /* the sharded index is byte-identical to what transformers writes */
    char d[256];
    FT_CHECK_OK(ft_st_writer_write_dir(w, tpath(d, sizeof d, "interop_sh"), 30));
    FT_CHECK(interop_run("index", tpath(p, sizeof p, "interop_sh/model.safetensors.index.json")) == 0);
    ft_st_writer_free(w);
}

/* Limits on what a header can make us allocate (docs/reliability.md): more than 10^6 tensors is refused
 * (after the JSON parse, whose size the 100 MB header limit bounds); JSON nested 10000 deep is refused
 * by cJSON's nesting limit (1000) instead of overflowing the stack. */
FT_TEST(test_limits) {
    char p[256], want[512];
    ft_st_file *f = NULL;
    const size_t n = 1000001, cap = n * 16 + 16;
    char *h = malloc(cap);
    size_t o = 0;
    h[o++] = '{';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(h + o, cap - o, "%s\"t%zu\":{}", i ? "," : "", i);
    h[o++] = '}';
    h[o] = 0;
    write_st(tpath(p, sizeof p, "many.safetensors"), h, 0);
    snprintf(want, sizeof want, "%s: header declares more than 1000000 tensors", p);
    FT_CHECK_FAILS(ft_st_open(p, &f), FT_ERR_FORMAT, want);
    FT_CHECK(f == NULL);
    const size_t depth = 10000;
    for (size_t i = 0; i < depth; i++) {
        h[i] = '[';
        h[depth + i] = ']';
    }
    h[2 * depth] = 0;
    write_st(tpath(p, sizeof p, "deep.safetensors"), h, 0);
    snprintf(want, sizeof want, "%s: header is not valid JSON", p);
    FT_CHECK_FAILS(ft_st_open(p, &f), FT_ERR_FORMAT, want);
    free(h);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/ft_st_testXXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 2;
    }
    FT_RUN(test_dtypes);
    FT_RUN(test_roundtrip);
    FT_RUN(test_bit_identical);
    FT_RUN(test_foreign_layout);
    FT_RUN(test_many_tensors);
    FT_RUN(test_writer_errors);
    FT_RUN(test_sharded);
    FT_RUN(test_set_open);
    FT_RUN(test_bad_files);
    FT_RUN(test_bad_index);
    FT_RUN(test_limits);
    FT_RUN(test_python_interop);
    nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    FT_DONE();
}
