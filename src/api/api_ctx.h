/* api/api_ctx: what the files of the public API (src/api/) share: the context behind ftune_ctx and the
 * bracket of every call (api_begin clears the thread's error and applies the context's thread count;
 * api_end copies the outcome into the context, so its message belongs to its last call). Internal. */
#ifndef FT_API_CTX_H
#define FT_API_CTX_H

#include <stdio.h>

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

#endif
