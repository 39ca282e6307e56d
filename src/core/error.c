#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

#define FT_ERRMSG_MAX 1024
static _Thread_local char ft_errmsg[FT_ERRMSG_MAX];

const char *ft_last_error(void) { return ft_errmsg; }
void ft_clear_error(void) { ft_errmsg[0] = 0; }

ft_status ft_fail(ft_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ft_errmsg, sizeof ft_errmsg, fmt, ap);
    va_end(ap);
    return s;
}

ft_status ft_fail_ctx(ft_status s, const char *fmt, ...) {
    char old[FT_ERRMSG_MAX];
    memcpy(old, ft_errmsg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ft_errmsg, sizeof ft_errmsg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n + 2 < sizeof ft_errmsg) {
        size_t room = sizeof ft_errmsg - (size_t)n;
        memcpy(ft_errmsg + n, ": ", 2);
        size_t ol = strlen(old);
        if (ol > room - 3)
            ol = room - 3;
        memcpy(ft_errmsg + n + 2, old, ol);
        ft_errmsg[(size_t)n + 2 + ol] = 0;
    }
    return s;
}

const char *ft_status_name(ft_status s) {
    switch (s) {
    case FT_OK: return "ok";
    case FT_ERR_IO: return "I/O error";
    case FT_ERR_FORMAT: return "format error";
    case FT_ERR_CONFIG: return "config error";
    case FT_ERR_SHAPE: return "shape error";
    case FT_ERR_MISSING: return "missing";
    case FT_ERR_RANGE: return "out of range";
    case FT_ERR_NOMEM: return "out of memory";
    case FT_ERR_ARG: return "bad argument";
    case FT_ERR_UNSUPPORTED: return "unsupported";
    case FT_ERR_NUMERIC: return "numeric error";
    case FT_ERR_INTERNAL: return "internal error";
    }
    return "unknown";
}
