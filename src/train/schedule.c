#include <math.h>
#include <string.h>

#include "train/schedule.h"

static const char *const NAMES[] = {"constant", "linear", "cosine"};

ft_status ft_sched_parse(const char *name, ft_sched_kind *out) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, NAMES[i])) {
            *out = (ft_sched_kind)i;
            return FT_OK;
        }
    return ft_fail(FT_ERR_CONFIG, "unknown schedule '%s' (constant, linear or cosine)", name);
}

const char *ft_sched_name(ft_sched_kind k) { return (unsigned)k < 3 ? NAMES[k] : "?"; }

double ft_sched_factor(const ft_sched *c, int64_t step) {
    if (step < c->warmup_steps)
        return (double)step / (double)c->warmup_steps;
    if (c->kind == FT_SCHED_CONSTANT)
        return 1.0;
    int64_t span = c->total_steps - c->warmup_steps;
    if (span < 1)
        span = 1;
    double prog = (double)(step - c->warmup_steps) / (double)span;
    double f = c->kind == FT_SCHED_LINEAR ? 1.0 - prog : 0.5 * (1.0 + cos(M_PI * prog));
    if (f < 0.0 || prog > 1.0)
        f = 0.0;
    return c->min_ratio + (1.0 - c->min_ratio) * f;
}
