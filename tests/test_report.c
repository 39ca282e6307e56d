/* report/: TensorBoard event files read back by an independent reader written here (framing,
 * bitwise CRC32C, hand protobuf decoding), CRC32C test vectors, metrics.jsonl round trip, progress
 * line formatting and redraw pacing, report.html content.
 * `test_report --write-events DIR` writes the fixed event set that tests/tfevents_py.sh checks. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "ft_test.h"
#include "report/metrics_log.h"
#include "report/progress.h"
#include "report/report_html.h"
#include "report/tfevents.h"

/* ---------- independent reference pieces ---------- */

/* CRC32C by its definition: reflected, polynomial 0x82F63B78, one bit at a time. */
static uint32_t ref_crc32c(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    }
    return c ^ 0xffffffffu;
}
static uint32_t ref_masked(const uint8_t *p, size_t n) {
    uint32_t c = ref_crc32c(p, n);
    uint32_t rot = (c >> 15) | (c << 17);
    return rot + 0xa282ead8u;
}
static uint64_t rd_le(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#define MAXV 8
typedef struct {
    double wall;
    int64_t step;
    int has_step, has_summary;
    char version[64];
    int nvals;
    char tags[MAXV][64];
    float vals[MAXV];
    int has_val[MAXV];
} tb_event;

typedef struct {
    const uint8_t *p, *end;
} pb;
static int pb_varint(pb *b, uint64_t *v) {
    *v = 0;
    for (int sh = 0; sh < 64; sh += 7) {
        if (b->p >= b->end)
            return -1;
        uint8_t c = *b->p++;
        *v |= (uint64_t)(c & 0x7f) << sh;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}
/* one field: number, wire type, and for wt 2 the sub-range, else the scalar bits */
static int pb_field(pb *b, unsigned *field, unsigned *wt, uint64_t *val, pb *sub) {
    uint64_t key;
    if (pb_varint(b, &key))
        return -1;
    *field = (unsigned)(key >> 3);
    *wt = (unsigned)(key & 7);
    switch (*wt) {
    case 0: return pb_varint(b, val);
    case 1:
        if (b->end - b->p < 8) return -1;
        *val = rd_le(b->p, 8);
        b->p += 8;
        return 0;
    case 5:
        if (b->end - b->p < 4) return -1;
        *val = rd_le(b->p, 4);
        b->p += 4;
        return 0;
    case 2: {
        uint64_t len;
        if (pb_varint(b, &len) || len > (uint64_t)(b->end - b->p)) return -1;
        sub->p = b->p;
        sub->end = b->p + len;
        b->p += len;
        return 0;
    }
    default: return -1;
    }
}

static int decode_value(pb b, tb_event *e) {
    if (e->nvals >= MAXV)
        return -1;
    int i = e->nvals++;
    e->tags[i][0] = 0;
    while (b.p < b.end) {
        unsigned f, wt;
        uint64_t v = 0;
        pb sub = {0};
        if (pb_field(&b, &f, &wt, &v, &sub))
            return -1;
        if (f == 1 && wt == 2) {
            size_t n = (size_t)(sub.end - sub.p);
            if (n >= sizeof e->tags[i]) return -1;
            memcpy(e->tags[i], sub.p, n);
            e->tags[i][n] = 0;
        } else if (f == 2 && wt == 5) {
            uint32_t u = (uint32_t)v;
            memcpy(&e->vals[i], &u, 4);
            e->has_val[i] = 1;
        }
    }
    return 0;
}

static int decode_event(pb b, tb_event *e) {
    memset(e, 0, sizeof *e);
    while (b.p < b.end) {
        unsigned f, wt;
        uint64_t v = 0;
        pb sub = {0};
        if (pb_field(&b, &f, &wt, &v, &sub))
            return -1;
        if (f == 1 && wt == 1) {
            memcpy(&e->wall, &v, 8);
        } else if (f == 2 && wt == 0) {
            e->step = (int64_t)v;
            e->has_step = 1;
        } else if (f == 3 && wt == 2) {
            size_t n = (size_t)(sub.end - sub.p);
            if (n >= sizeof e->version) return -1;
            memcpy(e->version, sub.p, n);
        } else if (f == 5 && wt == 2) {
            e->has_summary = 1;
            while (sub.p < sub.end) {
                unsigned f2, wt2;
                pb vsub = {0};
                if (pb_field(&sub, &f2, &wt2, &v, &vsub))
                    return -1;
                if (f2 == 1 && wt2 == 2 && decode_value(vsub, e))
                    return -1;
            }
        }
    }
    return 0;
}

/* Parse the TFRecord framing of a whole file; returns the number of events, or -1 when any length,
 * CRC or protobuf is wrong (*why says which). */
static int read_events(const uint8_t *d, size_t n, tb_event *ev, int max, const char **why) {
    size_t off = 0;
    int k = 0;
    while (off < n) {
        if (n - off < 12) { *why = "truncated header"; return -1; }
        uint64_t len = rd_le(d + off, 8);
        if ((uint32_t)rd_le(d + off + 8, 4) != ref_masked(d + off, 8)) { *why = "length crc"; return -1; }
        if (len > n - off - 12 || n - off - 12 - len < 4) { *why = "truncated record"; return -1; }
        const uint8_t *data = d + off + 12;
        if ((uint32_t)rd_le(data + len, 4) != ref_masked(data, (size_t)len)) { *why = "data crc"; return -1; }
        if (k >= max) { *why = "too many events"; return -1; }
        if (decode_event((pb){data, data + len}, &ev[k])) { *why = "protobuf"; return -1; }
        k++;
        off += 12 + (size_t)len + 4;
    }
    return k;
}

/* ---------- helpers ---------- */

static void make_tmpdir(char *buf, size_t n, const char *tag) {
    snprintf(buf, n, "/tmp/ft_report_%s_XXXXXX", tag);
    if (!mkdtemp(buf))
        buf[0] = 0;
}
static void rm_tree(const char *dir) { /* one level: our tests make flat directories */
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[4096];
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            unlink(ft_path_join(p, sizeof p, dir, de->d_name));
    closedir(d);
    rmdir(dir);
}
static int count_files(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int k = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            k++;
    closedir(d);
    return k;
}

static int float_bits_eq(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---------- CRC32C ---------- */

FT_TEST(test_crc32c_vectors) {
    uint8_t zeros[32], ones[32], inc[32], dec[32];
    for (int i = 0; i < 32; i++) {
        zeros[i] = 0;
        ones[i] = 0xff;
        inc[i] = (uint8_t)i;
        dec[i] = (uint8_t)(31 - i);
    }
    /* the check value of the CRC-32C catalogue entry, and RFC 3720 appendix B.4 */
    struct { const void *d; size_t n; uint32_t want; } v[] = {
        {"123456789", 9, 0xE3069283u}, {zeros, 32, 0x8A9136AAu}, {ones, 32, 0x62A8AB43u},
        {inc, 32, 0x46DD794Eu},        {dec, 32, 0x113FDB5Cu},   {"", 0, 0u},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        FT_CHECKF(ref_crc32c(v[i].d, v[i].n) == v[i].want, "ref vector %zu", i);
        FT_CHECKF(ft_tb_crc32c(0, v[i].d, v[i].n) == v[i].want, "vector %zu: %08x", i,
                  ft_tb_crc32c(0, v[i].d, v[i].n));
        FT_CHECKF(ft_tb_crc32c_sw(0, v[i].d, v[i].n) == v[i].want, "sw vector %zu", i);
    }
}

FT_TEST(test_crc32c_random_lengths) {
    /* every length 0..300 at several misalignments: the 8-byte hardware loop and its byte tail,
     * the table version and the bitwise definition must agree; chaining must equal one pass */
    uint8_t buf[320];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)ft_rng_u64(5, 0, i);
    int bad = 0;
    for (size_t off = 0; off < 8; off += 3)
        for (size_t n = 0; n + off <= 300; n++) {
            uint32_t want = ref_crc32c(buf + off, n);
            uint32_t split = ft_tb_crc32c(ft_tb_crc32c(0, buf + off, n / 3), buf + off + n / 3, n - n / 3);
            if (ft_tb_crc32c(0, buf + off, n) != want || ft_tb_crc32c_sw(0, buf + off, n) != want ||
                split != want)
                bad++;
        }
    FT_CHECKF(bad == 0, "%d mismatches", bad);
    /* mask: known rotation + offset of one value, spelled out */
    FT_CHECK(ft_tb_crc_mask(0x00000000u) == 0xa282ead8u);
    FT_CHECK(ft_tb_crc_mask(0x00008000u) == 0xa282ead9u);
    FT_CHECK(ft_tb_crc_mask(0x00000001u) == 0xa284ead8u);
}

/* ---------- event files ---------- */

/* The fixed set written by --write-events; tests/tfevents_py.sh expects exactly these. */
static ft_status write_fixed_events(const char *dir, char *path, size_t pathcap) {
    ft_tb_writer *w;
    FT_TRY(ft_tb_open(dir, &w));
    snprintf(path, pathcap, "%s", ft_tb_path(w));
    const char *tags[] = {"train/loss", "train/lr", "eval/accuracy"};
    const float vals[] = {1.25f, 3e-5f, 0.875f};
    ft_status s = ft_tb_scalar(w, "train/loss", 1, 2.5f, 1700000000.25);
    if (s == FT_OK) s = ft_tb_scalar(w, "train/loss", 2, 2.0f, 1700000001.5);
    if (s == FT_OK) s = ft_tb_scalars(w, 10, 1700000002.75, tags, vals, 3);
    if (s == FT_OK) s = ft_tb_scalar(w, "neg", -3, -0.1f, 1700000003.0);
    if (s == FT_OK) s = ft_tb_scalar(w, "big", (int64_t)1 << 40, 1e30f, 1700000004.0);
    if (s == FT_OK) s = ft_tb_flush(w);
    ft_status c = ft_tb_close(w);
    return s != FT_OK ? s : c;
}

/* the writer's clock (CLOCK_REALTIME); time() may read a coarser clock that lags it */
static double real_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

FT_TEST(test_tb_roundtrip) {
    char dir[256], path[4096];
    make_tmpdir(dir, sizeof dir, "tb");
    FT_CHECK(dir[0]);
    double t_before = real_now();
    FT_CHECK_OK(write_fixed_events(dir, path, sizeof path));
    double t_after = real_now();

    /* name: events.out.tfevents.<unix seconds>.<hostname> */
    char host[256] = "";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = 0;
    const char *base = strrchr(path, '/') + 1;
    long long secs = 0;
    int used = 0;
    FT_CHECK(sscanf(base, "events.out.tfevents.%lld.%n", &secs, &used) == 1 && used > 0);
    FT_CHECKF(secs >= (long long)t_before && secs <= (long long)t_after,
              "name's seconds %lld outside [%.3f, %.3f]", secs, t_before, t_after);
    FT_CHECKF(strcmp(base + used, host) == 0, "host part '%s' vs '%s'", base + used, host);

    char *data = NULL;
    size_t n = 0;
    FT_CHECK_OK(ft_read_file(path, &data, &n));
    tb_event ev[16];
    const char *why = "";
    int k = data ? read_events((const uint8_t *)data, n, ev, 16, &why) : -1;
    FT_CHECKF(k == 6, "read %d events (%s)", k, why);
    if (k == 6) {
        FT_CHECK(strcmp(ev[0].version, "brain.Event:2") == 0);
        FT_CHECK(!ev[0].has_summary && ev[0].nvals == 0);
        FT_CHECKF(ev[0].wall >= t_before - 1 && ev[0].wall <= t_after + 1,
                  "version record's wall %.6f outside [%.6f, %.6f]", ev[0].wall, t_before, t_after);
        struct { int64_t step; double wall; int nv; const char *tag[3]; float val[3]; } want[] = {
            {1, 1700000000.25, 1, {"train/loss"}, {2.5f}},
            {2, 1700000001.5, 1, {"train/loss"}, {2.0f}},
            {10, 1700000002.75, 3, {"train/loss", "train/lr", "eval/accuracy"}, {1.25f, 3e-5f, 0.875f}},
            {-3, 1700000003.0, 1, {"neg"}, {-0.1f}},
            {(int64_t)1 << 40, 1700000004.0, 1, {"big"}, {1e30f}},
        };
        for (int i = 0; i < 5; i++) {
            tb_event *e = &ev[i + 1];
            FT_CHECKF(e->has_step && e->step == want[i].step, "event %d step %lld", i + 1, (long long)e->step);
            FT_CHECKF(e->wall == want[i].wall, "event %d wall %.17g", i + 1, e->wall);
            FT_CHECKF(e->has_summary && e->nvals == want[i].nv, "event %d: %d values", i + 1, e->nvals);
            for (int j = 0; j < want[i].nv && j < e->nvals; j++) {
                FT_CHECKF(strcmp(e->tags[j], want[i].tag[j]) == 0, "event %d tag '%s'", i + 1, e->tags[j]);
                FT_CHECKF(e->has_val[j] && float_bits_eq(e->vals[j], want[i].val[j]), "event %d value %g",
                          i + 1, (double)e->vals[j]);
            }
        }
        /* the reader is not blind: one flipped bit in a payload or a length fails its CRC */
        data[20] ^= 0x04;
        FT_CHECK(read_events((const uint8_t *)data, n, ev, 16, &why) < 0 && strcmp(why, "data crc") == 0);
        data[20] ^= 0x04;
        data[2] ^= 0x01;
        FT_CHECK(read_events((const uint8_t *)data, n, ev, 16, &why) < 0 && strcmp(why, "length crc") == 0);
        data[2] ^= 0x01;
        FT_CHECK(read_events((const uint8_t *)data, n - 1, ev, 16, &why) < 0);
    }
    free(data);
    rm_tree(dir);
}

FT_TEST(test_tb_nan_and_empty_batch) {
    char dir[256], path[4096] = "";
    make_tmpdir(dir, sizeof dir, "tbnan");
    ft_tb_writer *w = NULL;
    FT_CHECK_OK(ft_tb_open(dir, &w));
    if (!w)
        return;
    snprintf(path, sizeof path, "%s", ft_tb_path(w));
    FT_CHECK_OK(ft_tb_scalars(w, 5, 1.0, NULL, NULL, 0)); /* nothing to write: no record */
    FT_CHECK_OK(ft_tb_scalar(w, "loss", 0, NAN, -1));     /* negative wall time: now */
    double now = real_now();
    FT_CHECK_OK(ft_tb_close(w));
    char *data = NULL;
    size_t n = 0;
    FT_CHECK_OK(ft_read_file(path, &data, &n));
    tb_event ev[4];
    const char *why = "";
    int k = data ? read_events((const uint8_t *)data, n, ev, 4, &why) : -1;
    FT_CHECKF(k == 2, "%d events (%s)", k, why);
    if (k == 2) {
        FT_CHECK(ev[1].step == 0 && ev[1].nvals == 1 && isnan(ev[1].vals[0]));
        FT_CHECKF(fabs(ev[1].wall - now) < 5, "wall %.6f, now %.6f", ev[1].wall, now);
    }
    free(data);
    rm_tree(dir);
}

FT_TEST(test_tb_two_writers) {
    /* two writers in one directory within the same second must not share (and clobber) a file */
    char dir[256];
    make_tmpdir(dir, sizeof dir, "tb2");
    ft_tb_writer *a = NULL, *b = NULL;
    FT_CHECK_OK(ft_tb_open(dir, &a));
    FT_CHECK_OK(ft_tb_open(dir, &b));
    if (a && b)
        FT_CHECK(strcmp(ft_tb_path(a), ft_tb_path(b)) != 0);
    FT_CHECK_OK(ft_tb_scalar(a, "x", 1, 1.0f, 1.0));
    FT_CHECK_OK(ft_tb_scalar(b, "x", 1, 2.0f, 1.0));
    FT_CHECK_OK(ft_tb_close(a));
    FT_CHECK_OK(ft_tb_close(b));
    FT_CHECK(count_files(dir, "events.out.tfevents.") == 2);
    rm_tree(dir);
}

FT_TEST(test_tb_errors) {
    char dir[256], blocker[512];
    make_tmpdir(dir, sizeof dir, "tberr");
    /* a directory path that runs through a regular file cannot be created */
    ft_path_join(blocker, sizeof blocker, dir, "afile");
    FILE *f = fopen(blocker, "w");
    if (f)
        fclose(f);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/sub", blocker);
    ft_tb_writer *w = (ft_tb_writer *)1;
    FT_CHECK_FAILS(ft_tb_open(bad, &w), FT_ERR_IO, "afile");
    FT_CHECK(w == NULL);
    FT_CHECK_FAILS(ft_tb_open("", &w), FT_ERR_ARG, "empty");
    FT_CHECK_OK(ft_tb_open(dir, &w));
    if (w) {
        FT_CHECK_FAILS(ft_tb_scalar(w, "", 3, 1.0f, 1.0), FT_ERR_ARG, "empty tag");
        FT_CHECK_FAILS(ft_tb_scalar(w, NULL, 3, 1.0f, 1.0), FT_ERR_ARG, "step 3");
        FT_CHECK_FAILS(ft_tb_scalars(w, 3, 1.0, NULL, NULL, 2), FT_ERR_ARG, "NULL");
    }
    FT_CHECK_OK(ft_tb_close(w));
    FT_CHECK_OK(ft_tb_close(NULL));
    unlink(blocker);
    rm_tree(dir);
}

/* ---------- metrics.jsonl ---------- */

FT_TEST(test_metrics_log_roundtrip) {
    char dir[256], path[512];
    make_tmpdir(dir, sizeof dir, "log");
    ft_path_join(path, sizeof path, dir, "metrics.jsonl");
    ft_log *l = NULL;
    FT_CHECK_OK(ft_log_open(path, &l));
    const char *k1[] = {"loss", "lr", "grad_norm"};
    const double v1[] = {2.302585092994046, 3e-5, 0.1};
    FT_CHECK_OK(ft_log_write(l, 10, 12.5, k1, v1, 3));
    const char *k2[] = {"loss", "bad"};
    const double v2[] = {1.0 / 3.0, NAN};
    FT_CHECK_OK(ft_log_write(l, 20, 25.125, k2, v2, 2));
    /* rejected lines write nothing */
    const char *kdup[] = {"loss", "loss"};
    FT_CHECK_FAILS(ft_log_write(l, 30, 1, kdup, v1, 2), FT_ERR_ARG, "\"loss\" given twice");
    const char *kres[] = {"step"};
    FT_CHECK_FAILS(ft_log_write(l, 30, 1, kres, v1, 1), FT_ERR_ARG, "step 30");
    FT_CHECK_OK(ft_log_close(l));
    /* reopening appends (a resumed run) */
    FT_CHECK_OK(ft_log_open(path, &l));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", "checkpoint");
    cJSON_AddNumberToObject(o, "eval_accuracy", 0.75);
    FT_CHECK_OK(ft_log_write_obj(l, 30, 40.0, o));
    cJSON_AddNumberToObject(o, "time", 1);
    FT_CHECK_FAILS(ft_log_write_obj(l, 31, 41.0, o), FT_ERR_ARG, "\"time\"");
    cJSON_Delete(o);
    FT_CHECK_OK(ft_log_close(l));

    char *text = NULL;
    size_t n = 0;
    FT_CHECK_OK(ft_read_file(path, &text, &n));
    int lines = 0;
    for (char *line = text, *nl; line && (nl = strchr(line, '\n')); line = nl + 1, lines++) {
        *nl = 0;
        cJSON *j = cJSON_Parse(line);
        FT_CHECKF(j != NULL, "line %d not JSON: %s", lines, line);
        if (!j)
            continue;
        /* step, then time, come first */
        FT_CHECK(j->child && strcmp(j->child->string, "step") == 0 && j->child->next &&
                 strcmp(j->child->next->string, "time") == 0);
        double step = cJSON_GetObjectItem(j, "step")->valuedouble;
        double t = cJSON_GetObjectItem(j, "time")->valuedouble;
        if (lines == 0) {
            FT_CHECK(step == 10 && t == 12.5);
            FT_CHECK(cJSON_GetObjectItem(j, "loss")->valuedouble == v1[0]); /* exact round trip */
            FT_CHECK(cJSON_GetObjectItem(j, "lr")->valuedouble == v1[1]);
            FT_CHECK(cJSON_GetObjectItem(j, "grad_norm")->valuedouble == v1[2]);
            FT_CHECK(cJSON_GetArraySize(j) == 5);
        } else if (lines == 1) {
            FT_CHECK(step == 20 && t == 25.125);
            FT_CHECK(cJSON_GetObjectItem(j, "loss")->valuedouble == v2[0]);
            FT_CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "bad")));
        } else if (lines == 2) {
            FT_CHECK(step == 30 && t == 40.0);
            FT_CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "event")), "checkpoint") == 0);
            FT_CHECK(cJSON_GetObjectItem(j, "eval_accuracy")->valuedouble == 0.75);
        }
        cJSON_Delete(j);
    }
    FT_CHECKF(lines == 3, "%d lines", lines);
    FT_CHECK(n > 0 && text[n - 1] == 0); /* the last newline was replaced above: file ended with \n */
    free(text);

    char nodir[600];
    snprintf(nodir, sizeof nodir, "%s/missing/metrics.jsonl", dir);
    l = (ft_log *)1;
    FT_CHECK_FAILS(ft_log_open(nodir, &l), FT_ERR_IO, "missing/metrics.jsonl");
    FT_CHECK(l == NULL);
    rm_tree(dir);
}

/* ---------- progress ---------- */

FT_TEST(test_progress_time_si) {
    struct { double s; const char *want; } t[] = {
        {0, "00:00"},      {59.9, "00:59"},      {61, "01:01"},   {3599.99, "59:59"},
        {3600, "1:00:00"}, {3725, "1:02:05"},    {90061, "25:01:01"}, {-1, "?"},
        {NAN, "?"},        {1e13, "?"},
    };
    char b[32];
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        ft_progress_fmt_time(b, sizeof b, t[i].s);
        FT_CHECKF(strcmp(b, t[i].want) == 0, "%g s -> '%s', want '%s'", t[i].s, b, t[i].want);
    }
    struct { double x; const char *want; } r[] = {
        {0, "0.00"},     {5.234, "5.23"},   {9.996, "10.0"},   {52.34, "52.3"},  {99.96, "100"},
        {523.4, "523"},  {999.4, "999"},    {999.6, "1.00k"},  {1234.5, "1.23k"}, {12345, "12.3k"},
        {123456, "123k"}, {1.5e6, "1.50M"}, {2.5e9, "2.50G"},  {-1, "?"},        {INFINITY, "?"},
    };
    for (size_t i = 0; i < sizeof r / sizeof *r; i++) {
        ft_progress_fmt_si(b, sizeof b, r[i].x);
        FT_CHECKF(strcmp(b, r[i].want) == 0, "%g -> '%s', want '%s'", r[i].x, b, r[i].want);
    }
}

FT_TEST(test_progress_format) {
    ft_progress_stats s = {.step = 450, .total = 1000, .loss = 2.34567, .lr = 3e-5,
                           .tokens_per_s = 1234.5, .elapsed = 83.2, .eta = 101.7};
    char b[512];
    /* right part " 450/1000 [01:23<01:41] loss 2.3457 lr 3.00e-05 1.23k tok/s" is 59 wide, so at
     * width 80 the bar has 80 - 5 - 1 - 59 = 15 cells, floor(0.45 * 15) = 6 of them filled */
    size_t n = ft_progress_format(b, sizeof b, &s, 80);
    const char *w80 = " 45%|######         | 450/1000 [01:23<01:41] loss 2.3457 lr 3.00e-05 1.23k tok/s";
    FT_CHECKF(strcmp(b, w80) == 0, "'%s'", b);
    FT_CHECK(n == 80 && strlen(w80) == 80);
    /* wider: only the bar grows */
    n = ft_progress_format(b, sizeof b, &s, 120);
    FT_CHECK(n == 120 && strncmp(b, " 45%|", 5) == 0 && b[5 + 55] == '|');
    int hashes = 0;
    for (size_t i = 0; i < n; i++)
        hashes += b[i] == '#';
    FT_CHECK(hashes == 24); /* floor(0.45 * 55) */
    /* too narrow for a 5-cell bar: no bar, then cut to the width */
    n = ft_progress_format(b, sizeof b, &s, 64);
    FT_CHECKF(strcmp(b, " 45% 450/1000 [01:23<01:41] loss 2.3457 lr 3.00e-05 1.23k tok/s") == 0, "'%s'", b);
    n = ft_progress_format(b, sizeof b, &s, 30);
    FT_CHECKF(n == 30 && strcmp(b, " 45% 450/1000 [01:23<01:41] lo") == 0, "'%s'", b);
    /* plain form for logs */
    ft_progress_format(b, sizeof b, &s, 0);
    FT_CHECKF(strcmp(b, "step 450/1000 (45%) loss 2.3457 lr 3.00e-05 1.23k tok/s elapsed 01:23 eta 01:41") == 0,
              "'%s'", b);
    /* missing values are left out; unknown total has no bar/percent/eta */
    ft_progress_stats u = {.step = 7, .total = 0, .loss = 1.0, .lr = NAN, .tokens_per_s = NAN,
                           .elapsed = 5, .eta = NAN};
    ft_progress_format(b, sizeof b, &u, 80);
    FT_CHECKF(strcmp(b, "step 7 [00:05] loss 1.0000") == 0, "'%s'", b);
    ft_progress_format(b, sizeof b, &u, 0);
    FT_CHECKF(strcmp(b, "step 7 loss 1.0000 elapsed 00:05") == 0, "'%s'", b);
    /* done: full bar, 100%; tiny/huge losses switch to exponent form; unknown ETA is "?" */
    ft_progress_stats d = {.step = 1000, .total = 1000, .loss = 1.5e-4, .lr = NAN, .tokens_per_s = -1,
                           .elapsed = 3725, .eta = NAN};
    ft_progress_format(b, sizeof b, &d, 50);
    FT_CHECKF(strcmp(b, "100%|#######| 1000/1000 [1:02:05<?] loss 1.500e-04") == 0, "'%s'", b);
    /* step beyond total or negative clamps the bar; percent floors (99.9% is not 100%) */
    ft_progress_stats e = {.step = 999, .total = 1000, .loss = NAN, .lr = NAN, .tokens_per_s = NAN,
                           .elapsed = 1, .eta = 0};
    ft_progress_format(b, sizeof b, &e, 0);
    FT_CHECKF(strcmp(b, "step 999/1000 (99%) elapsed 00:01 eta 00:00") == 0, "'%s'", b);
    /* the buffer bound holds */
    char small[10];
    n = ft_progress_format(small, sizeof small, &s, 80);
    FT_CHECK(n == 9 && small[9] == 0 && strncmp(small, w80, 9) == 0);
}

static char *run_progress(ft_progress_mode mode, size_t *len) {
    char *out = NULL;
    FILE *f = open_memstream(&out, len);
    if (!f)
        return NULL;
    ft_progress p;
    ft_progress_init(&p, f, mode, 0, 100, 1000.0);
    p.width = 60;
    ft_progress_update(&p, 1, 3.0, 1e-4, 100, 1000.00);  /* first: printed */
    ft_progress_update(&p, 2, 2.9, 1e-4, 200, 1000.05);  /* 50 ms later: not on a tty */
    ft_progress_update(&p, 3, 2.8, 1e-4, 300, 1000.11);  /* 110 ms after the first: tty redraw */
    ft_progress_update(&p, 50, 2.0, 1e-4, 5000, 1010.0); /* half way after 10 s: eta 10 s */
    ft_progress_note(&p, "eval: accuracy 0.5");
    ft_progress_update(&p, 60, 1.9, 1e-4, 6000, 1031.0); /* 31 s after the first print */
    ft_progress_update(&p, 61, 1.8, 1e-4, 6100, 1031.05);
    ft_progress_finish(&p, 1031.1);
    fclose(f);
    return out;
}

static int count_char(const char *s, char c) {
    int k = 0;
    for (; *s; s++)
        k += *s == c;
    return k;
}

FT_TEST(test_progress_pacing) {
    size_t len = 0;
    char *tty = run_progress(FT_PROGRESS_TTY, &len);
    FT_CHECK(tty != NULL);
    if (tty) {
        /* redraws: steps 1, 3, 50, the one after the note, 60, and the final 61 by finish */
        FT_CHECKF(count_char(tty, '\r') == 6 + 2, "%d CRs in '%s'", count_char(tty, '\r'), tty);
        FT_CHECK(strstr(tty, "eval: accuracy 0.5\n") != NULL);
        FT_CHECK(strstr(tty, " 50/100 [00:10<00:10] loss 2.0000 lr 1.00e-04 500 tok/s") != NULL);
        FT_CHECK(!strstr(tty, " 2/100 ")); /* the 50 ms update was skipped */
        FT_CHECK(len > 0 && tty[len - 1] == '\n' && strstr(tty, " 61/100 ") != NULL);
        FT_CHECK(count_char(tty, '\n') == 2);
    }
    free(tty);
    char *plain = run_progress(FT_PROGRESS_PLAIN, &len);
    FT_CHECK(plain != NULL);
    if (plain) {
        FT_CHECK(count_char(plain, '\r') == 0);
        /* lines: step 1 (first), the note, step 60 (30 s passed), step 61 (finish: newer values) */
        FT_CHECKF(count_char(plain, '\n') == 4, "'%s'", plain);
        FT_CHECK(strncmp(plain, "step 1/100 (1%) loss 3.0000 lr 1.00e-04", 39) == 0);
        FT_CHECK(strstr(plain, "\neval: accuracy 0.5\nstep 60/100 (60%) loss 1.9000") != NULL);
        FT_CHECK(strstr(plain, "\nstep 61/100 (61%)") != NULL);
    }
    free(plain);
    char *quiet = run_progress(FT_PROGRESS_QUIET, &len);
    FT_CHECK(quiet && len == 0);
    free(quiet);
}

/* ---------- report.html ---------- */

static int count_str(const char *s, const char *needle) {
    int k = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        k++;
    return k;
}

FT_TEST(test_html_report) {
    /* chart 1 spans x exactly [0,10]; its y data 0..3 gets 0.5 ticks, so y is [0,3] exactly:
     * (0,0) -> (ML, MT+PH) = (64, 280), (10,1) -> (ML+PW, MT+PH*(1-1/3)) = (624, 192) */
    const double x2[] = {0, 10}, y2[] = {0, 1};
    const double x4[] = {0, 1, 2, 3}, y4[] = {1, NAN, 2, 3}; /* NaN splits the line in two */
    const double xl[] = {0, 1, 2}, yl[] = {1e-5, 0, 1e-3};  /* log axis: 0 is left out */
    enum { M = 20000 };
    double *xm = malloc(M * sizeof *xm), *ym = malloc(M * sizeof *ym);
    for (int i = 0; i < M; i++) {
        xm[i] = i;
        ym[i] = i == 12345 ? 100.0 : sin(i / 500.0);
    }
    ft_html_series s1[] = {{"exact", x2, y2, 2}, {"gap <&>", x4, y4, 4}};
    ft_html_series s2[] = {{"lr", xl, yl, 3}};
    ft_html_series s3[] = {{"many", xm, ym, M}};
    ft_html_chart charts[] = {{"Loss", "step", "loss", s1, 2, false}, {"LR", "step", "lr", s2, 1, true},
                              {"Thin", "step", "v", s3, 1, false}, {"Empty", "step", "v", NULL, 0, false}};
    ft_html_kv kv[] = {{"model", "a \"quoted\" <name>"}, {"steps", "500"}};
    const char *labels[] = {"neg", "pos"};
    int64_t counts[] = {80, 20, 10, 30};
    ft_html_confusion cm = {NULL, 2, labels, counts};
    ft_html_kv kv2[] = {{"optim.lr", "0.001"}};
    ft_html_report r = {"run <1>", kv, 2, charts, 4, &cm, "Recipe <resolved>", kv2, 1};
    char *html = NULL;
    size_t n = 0;
    FT_CHECK_OK(ft_html_render(&r, &html, &n));
    if (html) {
        FT_CHECK(n == strlen(html));
        FT_CHECK(strstr(html, "<title>run &lt;1&gt;</title>") && strstr(html, "<h1>run &lt;1&gt;</h1>"));
        FT_CHECK(strstr(html, "<th>model</th><td>a &quot;quoted&quot; &lt;name&gt;</td>") != NULL);
        /* the second table comes after the charts and the confusion matrix */
        const char *h2 = strstr(html, "<h2>Recipe &lt;resolved&gt;</h2>");
        FT_CHECK(h2 && strstr(h2, "<th>optim.lr</th><td>0.001</td>") && strstr(html, "<svg") < h2);
        FT_CHECK(strstr(html, ">gap &lt;&amp;&gt;</text>") != NULL);
        FT_CHECK(strstr(html, "points=\"64.0,280.0 624.0,192.0\"") != NULL);
        FT_CHECK(count_str(html, "<svg") == 4);
        /* 1 (exact) + 2 (gap) + 2 (log: the 0 breaks it) + 1 (thin) polylines */
        FT_CHECKF(count_str(html, "<polyline") == 6, "%d polylines", count_str(html, "<polyline"));
        FT_CHECK(strstr(html, ">1e-05</text>") && strstr(html, ">0.001</text>") && strstr(html, "lr (log)"));
        FT_CHECK(strstr(html, ">no data</text>") != NULL);
        /* the 20000-point series is thinned to at most 2 points per pixel column, spike kept:
         * y range widens to [-20, 100] (step 20), so 100 sits on the top edge, y = 16.0 */
        const char *thin = strstr(html, "<figcaption>Thin");
        const char *pl = thin ? strstr(thin, "points=\"") : NULL;
        if (pl) {
            const char *end = strchr(pl + 8, '"');
            int pts = 0;
            for (const char *q = pl + 8; q < end; q++)
                pts += *q == ',';
            FT_CHECKF(pts >= 561 && pts <= 2 * 561, "%d points", pts);
            char spike[32];
            snprintf(spike, sizeof spike, "%.1f,16.0", 64 + 12345.0 / 19999.0 * 560);
            char *hit = strstr(pl, spike);
            FT_CHECKF(hit && hit < end, "spike point %s missing", spike);
        } else {
            FT_CHECK(pl != NULL);
        }
        /* confusion: shade is the share of the true class; totals per row */
        FT_CHECK(strstr(html, "<h2>Confusion matrix</h2>") != NULL);
        FT_CHECK(strstr(html, "<td style=\"background:rgba(31,119,180,0.80);color:#fff\">80</td>") != NULL);
        FT_CHECK(strstr(html, "<td style=\"background:rgba(31,119,180,0.25);color:#000\">10</td>") != NULL);
        FT_CHECK(strstr(html, "<td>100</td></tr>") && strstr(html, "<td>40</td></tr>"));
        FT_CHECK(strstr(html, "</html>\n") == html + n - 8);
    }

    /* written file = rendered page; bad input is refused */
    char dir[256], path[512];
    make_tmpdir(dir, sizeof dir, "html");
    ft_path_join(path, sizeof path, dir, "report.html");
    FT_CHECK_OK(ft_html_write(path, &r));
    char *back = NULL;
    size_t bn = 0;
    FT_CHECK_OK(ft_read_file(path, &back, &bn));
    FT_CHECK(html && back && bn == n && memcmp(back, html, n) == 0);
    free(back);
    free(html);
    counts[3] = -1;
    FT_CHECK_FAILS(ft_html_render(&r, &html, &n), FT_ERR_RANGE, "cell (1,1)");
    FT_CHECK(html == NULL);
    counts[3] = 30;
    s1[1].y = NULL;
    FT_CHECK_FAILS(ft_html_render(&r, &html, &n), FT_ERR_ARG, "chart 'Loss' series 1");
    s1[1].y = y4;
    char bad[600];
    snprintf(bad, sizeof bad, "%s/missing/report.html", dir);
    FT_CHECK(ft_html_write(bad, &r) == FT_ERR_IO);
    rm_tree(dir);
    free(xm);
    free(ym);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write-events") == 0) {
        char path[4096];
        if (write_fixed_events(argv[2], path, sizeof path) != FT_OK) {
            fprintf(stderr, "%s\n", ft_last_error());
            return 1;
        }
        printf("%s\n", path);
        return 0;
    }
    FT_RUN(test_crc32c_vectors);
    FT_RUN(test_crc32c_random_lengths);
    FT_RUN(test_tb_roundtrip);
    FT_RUN(test_tb_nan_and_empty_batch);
    FT_RUN(test_tb_two_writers);
    FT_RUN(test_tb_errors);
    FT_RUN(test_metrics_log_roundtrip);
    FT_RUN(test_progress_time_si);
    FT_RUN(test_progress_format);
    FT_RUN(test_progress_pacing);
    FT_RUN(test_html_report);
    FT_DONE();
}
