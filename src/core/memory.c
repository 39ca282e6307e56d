#include <stdlib.h>
#include <string.h>

#include "core/core.h"

void *ft_alloc(size_t bytes) {
    if (bytes == 0)
        bytes = FT_ALIGN;
    size_t rounded = (bytes + FT_ALIGN - 1) / FT_ALIGN * FT_ALIGN;
    void *p = aligned_alloc(FT_ALIGN, rounded);
    if (!p)
        ft_fail(FT_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *ft_calloc(size_t bytes) {
    void *p = ft_alloc(bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void ft_free(void *p) { free(p); }

char *ft_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d) {
        ft_fail(FT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(d, s, n);
    return d;
}

ft_status ft_arena_init(ft_arena *a, size_t cap) {
    memset(a, 0, sizeof *a);
    a->base = ft_alloc(cap);
    if (!a->base)
        return FT_ERR_NOMEM;
    a->cap = cap;
    return FT_OK;
}

void *ft_arena_alloc(ft_arena *a, size_t bytes) {
    size_t off = (a->used + FT_ALIGN - 1) / FT_ALIGN * FT_ALIGN;
    if (off + bytes > a->cap) {
        ft_fail(FT_ERR_NOMEM, "step arena exhausted: need %zu more bytes, capacity %zu", bytes, a->cap);
        return NULL;
    }
    a->used = off + bytes;
    if (a->used > a->peak)
        a->peak = a->used;
    return a->base + off;
}

void ft_arena_reset(ft_arena *a) { a->used = 0; }

size_t ft_arena_mark(const ft_arena *a) { return a->used; }

void ft_arena_rewind(ft_arena *a, size_t mark) {
    if (mark <= a->used)
        a->used = mark;
}

void ft_arena_free(ft_arena *a) {
    ft_free(a->base);
    memset(a, 0, sizeof *a);
}
