#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

void ft_ctx_default(ft_ctx *ctx) {
    ctx->threads = omp_get_max_threads();
    ctx->seed = 42;
}

void ft_ctx_apply(const ft_ctx *ctx) {
    if (ctx->threads > 0)
        omp_set_num_threads(ctx->threads);
}

double ft_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ft_release_mapped_pages(const void *p, size_t bytes) {
    const long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0 || !p)
        return;
    const uintptr_t b = (uintptr_t)p, e = b + bytes, m = (uintptr_t)pg - 1;
    const uintptr_t lo = (b + m) & ~m, hi = e & ~m;
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED); /* failure costs memory, not correctness */
}

void ft_prefetch_mapped_pages(const void *p, size_t bytes) {
    const long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0 || !p || !bytes)
        return;
    const uintptr_t m = (uintptr_t)pg - 1, lo = (uintptr_t)p & ~m, hi = ((uintptr_t)p + bytes + m) & ~m;
    (void)madvise((void *)lo, hi - lo, MADV_WILLNEED); /* starts the reads, returns at once; advice only */
}

/* VmHWM of /proc/self/status (resettable, see ft_peak_rss_reset); getrusage where it is missing. */
size_t ft_peak_rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = (size_t)strtoull(line + 6, NULL, 10);
    if (f)
        fclose(f);
    if (kb)
        return kb * 1024u;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (size_t)ru.ru_maxrss * 1024u;
}

void ft_peak_rss_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w"); /* "5" resets VmHWM (Linux ≥ 4.0) */
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

ft_status ft_read_file(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return ft_fail(FT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return ft_fail(FT_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    }
    long n = ftell(f);
    if (n < 0) {
        fclose(f);
        return ft_fail(FT_ERR_IO, "%s: not a regular file", path);
    }
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    if (!buf) {
        fclose(f);
        return ft_fail(FT_ERR_NOMEM, "%s: out of memory reading %ld bytes", path, n);
    }
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    if (got != (size_t)n) {
        free(buf);
        return ft_fail(FT_ERR_IO, "%s: short read (%zu of %ld bytes)", path, got, n);
    }
    buf[n] = 0;
    *out = buf;
    if (len)
        *len = (size_t)n;
    return FT_OK;
}

static void fsync_dir_of(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

ft_status ft_tmp_create(const char *path, char *tmp, size_t tmp_n, int *fd) {
    if ((size_t)snprintf(tmp, tmp_n, "%s.tmp.%d", path, (int)getpid()) >= tmp_n)
        return ft_fail(FT_ERR_ARG, "%s: path too long", path);
    if (unlink(tmp) != 0 && errno != ENOENT)
        return ft_fail(FT_ERR_IO, "%s: cannot remove the old temporary: %s", tmp, strerror(errno));
    *fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (*fd < 0)
        return ft_fail(FT_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    return FT_OK;
}

ft_status ft_write_file_atomic(const char *path, const void *data, size_t len) {
    char tmp[4200];
    int fd;
    FT_TRY(ft_tmp_create(path, tmp, sizeof tmp, &fd));
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return ft_fail(FT_ERR_IO, "%s: write failed: %s", tmp, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return ft_fail(FT_ERR_IO, "%s: fsync/close failed: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ft_fail(FT_ERR_IO, "%s: rename failed: %s", path, strerror(e));
    }
    fsync_dir_of(path);
    return FT_OK;
}

bool ft_pid_dead(long pid) {
    return pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

bool ft_tmp_name_pid(const char *name, long *pid) {
    const char *t = strstr(name, ".tmp.");
    if (!t || t == name)
        return false;
    while (strstr(t + 1, ".tmp."))
        t = strstr(t + 1, ".tmp.");
    const char *d = t + 5;
    size_t k = strspn(d, "0123456789");
    if (!k || k > 10 || d[k])
        return false;
    *pid = strtol(d, NULL, 10);
    return true;
}

ft_status ft_clean_stale_tmp(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? FT_OK : ft_fail(FT_ERR_IO, "%s: %s", dir, strerror(errno));
    ft_status s = FT_OK;
    struct dirent *e;
    while (s == FT_OK && (e = readdir(d))) {
        long pid;
        char p[4096];
        struct stat st;
        if (!ft_tmp_name_pid(e->d_name, &pid) || !ft_pid_dead(pid))
            continue;
        ft_path_join(p, sizeof p, dir, e->d_name);
        if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && unlink(p) != 0 && errno != ENOENT)
            s = ft_fail(FT_ERR_IO, "%s: cannot remove a killed run's temporary: %s", p, strerror(errno));
    }
    closedir(d);
    return s;
}

ft_status ft_mkdir_p(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return ft_fail(FT_ERR_ARG, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return ft_fail(FT_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return ft_fail(FT_ERR_IO, "%s: not a directory", path);
    return FT_OK;
}

bool ft_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

char *ft_path_join(char *buf, size_t n, const char *dir, const char *name) {
    size_t dl = strlen(dir);
    if (dl > 0 && dir[dl - 1] == '/')
        snprintf(buf, n, "%s%s", dir, name);
    else
        snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

float ft_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: renormalize */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 112u) << 23) | (man << 13);
    }
    union { uint32_t u; float f; } v;
    v.u = u;
    return v.f;
}

uint16_t ft_f32_to_f16(float f) {
    union { uint32_t u; float f; } v;
    v.f = f;
    uint32_t sign = (v.u >> 16) & 0x8000u;
    int32_t exp = (int32_t)((v.u >> 23) & 0xff) - 127 + 15;
    uint32_t man = v.u & 0x7fffffu;
    if (((v.u >> 23) & 0xff) == 0xff)
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (exp <= 0) {
        if (exp < -10)
            return (uint16_t)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1)))
        half++;
    return (uint16_t)half;
}

size_t ft_mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (size_t)kb * 1024u;
}

/* A number from a cgroup file ("max" and absurd v1 "no limit" values read as 0 = none); key: a memory.stat
 * line's name, or NULL for a one-value file. */
static size_t cg_read(const char *dir, const char *file, const char *key) {
    char path[600], line[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    unsigned long long v = 0;
    const size_t kn = key ? strlen(key) : 0;
    while (fgets(line, sizeof line, f)) {
        if (key && (strncmp(line, key, kn) || line[kn] != ' '))
            continue;
        v = strtoull(line + kn, NULL, 10); /* "max" gives 0 */
        break;
    }
    fclose(f);
    return v >= (1ull << 60) ? 0 : (size_t)v;
}

/* The cgroup directory of this process under mount for a /proc/self/cgroup path: the path itself, or (inside
 * a cgroup namespace or a container whose paths are relative to another root) its longest tail that exists.
 */
static bool cg_dir(const char *mount, const char *path, char *dir, size_t n) {
    for (const char *p = path; p; p = strchr(p + 1, '/')) {
        snprintf(dir, n, "%s%s", mount, p);
        if (access(dir, R_OK) == 0)
            return true;
    }
    snprintf(dir, n, "%s", mount);
    return access(dir, R_OK) == 0;
}

size_t ft_mem_cgroup_room(void) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f)
        return 0;
    char line[512], v1[512] = "", v2[512] = "";
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
        if (!a || !b)
            continue;
        *b = 0;
        if (!strcmp(a + 1, "") && line[0] == '0')
            snprintf(v2, sizeof v2, "%s", b + 1);
        char *save = NULL;
        for (char *c = strtok_r(a + 1, ",", &save); c; c = strtok_r(NULL, ",", &save))
            if (!strcmp(c, "memory"))
                snprintf(v1, sizeof v1, "%s", b + 1);
    }
    fclose(f);
    char dir[600];
    size_t limit = 0, anon = 0;
    if (v1[0] && cg_dir("/sys/fs/cgroup/memory", v1, dir, sizeof dir)) { /* v1: the hierarchy's limit */
        limit = cg_read(dir, "memory.stat", "hierarchical_memory_limit");
        anon = cg_read(dir, "memory.stat", "total_rss");
    } else if (v2[0] && cg_dir("/sys/fs/cgroup", v2, dir, sizeof dir)) { /* v2: the smallest memory.max up */
        anon = cg_read(dir, "memory.stat", "anon");
        for (size_t len = strlen(dir); len > strlen("/sys/fs/cgroup"); len = strlen(dir)) {
            const size_t l = cg_read(dir, "memory.max", NULL);
            if (l && (!limit || l < limit))
                limit = l;
            char *slash = strrchr(dir, '/');
            if (!slash)
                break;
            *slash = 0;
        }
    }
    if (!limit)
        return 0;
    return limit > anon ? limit - anon : 1; /* 1: a limit with no room left (0 means none) */
}

size_t ft_mem_limit(const char **src) {
    const char *v = getenv("FTUNE_MEM_LIMIT");
    if (v && *v) {
        char *end;
        double x = strtod(v, &end);
        const double k = *end == 'K' || *end == 'k'   ? 1024.0
                         : *end == 'M' || *end == 'm' ? 1024.0 * 1024.0
                         : *end == 'G' || *end == 'g' ? 1024.0 * 1024.0 * 1024.0
                         : *end == 'T' || *end == 't' ? 1024.0 * 1024.0 * 1024.0 * 1024.0
                                                      : 1.0;
        if (end != v && x > 0) {
            if (src)
                *src = "FTUNE_MEM_LIMIT";
            return (size_t)(x * k);
        }
    }
    const size_t avail = ft_mem_available(), room = ft_mem_cgroup_room();
    if (src)
        *src = room && (!avail || room < avail) ? "the memory cgroup's limit less its anonymous memory"
                                                : "MemAvailable";
    return room && (!avail || room < avail) ? room : avail;
}
