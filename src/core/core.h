/* core: errors, aligned memory, step arena, counter-based RNG, timers. */
#ifndef FT_CORE_H
#define FT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ftune.h"

/* ---- errors ---- */
/* The message of the last failure on this thread ("" when none); the C API copies it into the
 * caller's ftune_ctx (ftune_last_error). */
const char *ft_last_error(void);
const char *ft_status_name(ft_status s);
/* Record a failure message on this thread and return the status (for `return ft_fail(...)`). */
ft_status ft_fail(ft_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message with context ("loading X: " + old message); returns s. */
ft_status ft_fail_ctx(ft_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ft_clear_error(void);

#define FT_TRY(expr)                    \
    do {                                \
        ft_status ft_try_s_ = (expr);   \
        if (ft_try_s_ != FT_OK)         \
            return ft_try_s_;           \
    } while (0)

/* ---- memory ---- */
#define FT_ALIGN 64
void *ft_alloc(size_t bytes);  /* 64-byte aligned, NULL on failure (message set) */
void *ft_calloc(size_t bytes); /* zeroed */
void ft_free(void *p);
char *ft_strdup(const char *s);

/* A bump allocator reset once per step: blocks take their activations from it. */
typedef struct {
    uint8_t *base;
    size_t cap, used, peak;
} ft_arena;
ft_status ft_arena_init(ft_arena *a, size_t cap);
void *ft_arena_alloc(ft_arena *a, size_t bytes); /* 64-aligned; NULL if full (message set) */
void ft_arena_reset(ft_arena *a);
/* Scoped scratch: ft_arena_mark gives the current fill; ft_arena_rewind(a, mark) frees everything taken
 * after it (a mark above the current fill is ignored). peak keeps the high-water mark. */
size_t ft_arena_mark(const ft_arena *a);
void ft_arena_rewind(ft_arena *a, size_t mark);
void ft_arena_free(ft_arena *a);

/* ---- RNG: counter-based (splitmix64 over (seed, stream, counter)), so any element's
 * random number depends only on its coordinates, not on thread scheduling. ---- */
uint64_t ft_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter);
float ft_rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter); /* [0,1) */
float ft_rng_normal(uint64_t seed, uint64_t stream, uint64_t counter);  /* N(0,1) */

/* ---- execution context: passed down, never global ---- */
typedef struct {
    int threads;   /* OpenMP threads for our loops and the GEMM library */
    uint64_t seed; /* base seed for init, dropout, shuffling */
} ft_ctx;
void ft_ctx_default(ft_ctx *ctx);
void ft_ctx_apply(const ft_ctx *ctx); /* sets the OpenMP thread count */

/* ---- time / memory stats ---- */
double ft_now(void);            /* monotonic seconds */
size_t ft_peak_rss_bytes(void); /* peak resident set size (VmHWM) */
/* MemAvailable of /proc/meminfo in bytes, 0 when unknown. */
size_t ft_mem_available(void);
/* The room left under this process's memory cgroup limit (v1 hierarchical_memory_limit − total_rss, v2 the
 * smallest memory.max up the tree − anon; page cache counts as free, as in MemAvailable): 0 when there is no
 * limit. A container's limit, which MemAvailable does not show. */
size_t ft_mem_cgroup_room(void);
/* Bytes this process may plan for: FTUNE_MEM_LIMIT (bytes, or with K/M/G/T suffix: a fake memory size for
 * tests and for leaving room to other processes) when set, else the smaller of MemAvailable and the cgroup's
 * room; *src names which (optional). */
size_t ft_mem_limit(const char **src);
void ft_peak_rss_reset(void);     /* start the peak over from the current RSS (best effort) */
/* Drop the whole pages inside [p, p+bytes) of a read-only, never-written file mapping from memory
 * (MADV_DONTNEED): a later read faults the same bytes back in from the file. Advice only. */
void ft_release_mapped_pages(const void *p, size_t bytes);
/* Ask the kernel to read the pages of [p, p+bytes) of a file mapping in now (MADV_WILLNEED, asynchronous):
 * the next layer's weights arrive while this one computes. Advice only. */
void ft_prefetch_mapped_pages(const void *p, size_t bytes);

/* ---- files ---- */
/* Read a whole file into a NUL-terminated buffer. */
ft_status ft_read_file(const char *path, char **out, size_t *len);
/* Write atomically: path.tmp.<pid>, fsync, rename, fsync dir. The temporary is created afresh (O_EXCL,
 * O_NOFOLLOW after removing whatever had its name), so a file or link planted under it is never written
 * through; the rename replaces a link at path itself, never its target. */
ft_status ft_write_file_atomic(const char *path, const void *data, size_t len);
/* Create path's temporary "<path>.tmp.<pid>" for writing as above: *fd open, tmp (size tmp_n) its name. */
ft_status ft_tmp_create(const char *path, char *tmp, size_t tmp_n, int *fd);
/* Temporaries of killed writers: true when pid is no process now (and not ours). */
bool ft_pid_dead(long pid);
/* "<name>.tmp.<digits>": true with the pid when name has that shape. */
bool ft_tmp_name_pid(const char *name, long *pid);
/* Remove the regular files "<x>.tmp.<pid>" in dir whose writer is dead (what a kill during an atomic
 * write leaves); links, directories and live writers' files stay. */
ft_status ft_clean_stale_tmp(const char *dir);
ft_status ft_mkdir_p(const char *path);
bool ft_file_exists(const char *path);
/* Join a directory and a name into buf (size n); returns buf. */
char *ft_path_join(char *buf, size_t n, const char *dir, const char *name);

/* ---- half precision ---- */
static inline float ft_bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v;
    v.u = (uint32_t)h << 16;
    return v.f;
}
static inline uint16_t ft_f32_to_bf16(float f) { /* round to nearest even; NaN kept */
    union { uint32_t u; float f; } v;
    v.f = f;
    if ((v.u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((v.u >> 16) | 0x40);
    uint32_t r = 0x7fffu + ((v.u >> 16) & 1u);
    return (uint16_t)((v.u + r) >> 16);
}
float ft_f16_to_f32(uint16_t h);
uint16_t ft_f32_to_f16(float f);

#endif
