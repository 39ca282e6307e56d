/* api/api_ctx: what the files of the public API (src/api/) share: the context behind ftune_ctx and the
 * bracket of every call (api_begin clears the thread's error and applies the context's thread count;
 * api_end copies the outcome into the context, so its message belongs to its last call). Internal. */
#ifndef FT_API_CTX_H
#define FT_API_CTX_H

#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "ftune.h"

struct ftune_ctx {
    int threads;
    ft_status last;
    char err[1024];
};

static inline void api_begin(const ftune_ctx *c) {
    ft_clear_error();
    if (c && c->threads > 0) {
        ft_ctx x;
        ft_ctx_default(&x);
        x.threads = c->threads;
        ft_ctx_apply(&x);
    }
}

static inline ft_status api_end(ftune_ctx *c, ft_status s) {
    if (!c)
        return s;
    c->last = s;
    if (s == FT_OK)
        c->err[0] = '\0';
    else
        snprintf(c->err, sizeof c->err, "%s", ft_last_error()[0] ? ft_last_error() : ft_status_name(s));
    return s;
}

/* A caller's growable options struct (its first field the size_t struct_size its _init set) over dst, which
 * holds the defaults: the fields the caller's struct has (struct_size bytes, at most dst_size) replace them;
 * first is the first release's size, below which struct_size was not set (refused, naming `what`). src NULL:
 * the defaults. */
static inline ft_status api_opts(void *dst, size_t dst_size, const void *src, size_t first,
                                 const char *what) {
    if (!src)
        return FT_OK;
    const size_t have = *(const size_t *)src;
    if (have < first)
        return ft_fail(FT_ERR_ARG, "%s.struct_size %zu: set it with %s_init", what, have, what);
    memcpy(dst, src, have < dst_size ? have : dst_size);
    return FT_OK;
}

#endif
