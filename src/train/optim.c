#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "train/optim.h"

void ft_optim_cfg_default(ft_optim_cfg *c) {
    memset(c, 0, sizeof *c);
    c->kind = FT_OPTIM_ADAMW;
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->eps = 1e-8f;
    c->momentum = 0.9f;
}

ft_status ft_optim_parse(const char *name, ft_optim_kind *out) {
    if (!strcmp(name, "adamw"))
        *out = FT_OPTIM_ADAMW;
    else if (!strcmp(name, "sgd"))
        *out = FT_OPTIM_SGD;
    else
        return ft_fail(FT_ERR_CONFIG, "unknown optimizer '%s' (adamw or sgd)", name);
    return FT_OK;
}

const char *ft_optim_name(ft_optim_kind k) { return k == FT_OPTIM_SGD ? "sgd" : "adamw"; }

void ft_optim_shard_range(const ft_model *m, int rank, int size, int i, int64_t *lo, int64_t *hi) {
    int64_t total = 0, at = 0;
    for (int k = 0; k < m->n_params; k++)
        if (m->params[k].trainable) {
            if (k < i)
                at += m->params[k].numel;
            total += m->params[k].numel;
        }
    /* the slice [s0, s1) of the flat order, intersected with the parameter's [at, at + numel) */
    const int64_t s0 = (int64_t)((__int128)total * rank / size),
                  s1 = (int64_t)((__int128)total * (rank + 1) / size);
    const int64_t n = m->params[i].trainable ? m->params[i].numel : 0;
    int64_t a = s0 - at, b = s1 - at;
    a = a < 0 ? 0 : a > n ? n : a;
    b = b < 0 ? 0 : b > n ? n : b;
    *lo = a;
    *hi = b > a ? b : a;
}

ft_status ft_optim_init(ft_optim *o, const ft_model *m, const ft_optim_cfg *cfg) {
    return ft_optim_init_shard(o, m, cfg, 0, 1);
}

ft_status ft_optim_init_shard(ft_optim *o, const ft_model *m, const ft_optim_cfg *cfg, int rank, int size) {
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->n = m->n_params;
    o->m = calloc((size_t)m->n_params, sizeof *o->m);
    o->v = calloc((size_t)m->n_params, sizeof *o->v);
    if (size > 1) {
        o->lo = calloc((size_t)m->n_params, sizeof *o->lo);
        o->hi = calloc((size_t)m->n_params, sizeof *o->hi);
    }
    if (!o->m || !o->v || (size > 1 && (!o->lo || !o->hi))) {
        ft_optim_free(o);
        return ft_fail(FT_ERR_NOMEM, "out of memory for optimizer state");
    }
    const bool need_m = cfg->kind == FT_OPTIM_ADAMW || cfg->momentum != 0.0f;
    const bool need_v = cfg->kind == FT_OPTIM_ADAMW;
    for (int i = 0; i < m->n_params; i++) {
        if (!m->params[i].trainable)
            continue;
        int64_t lo = 0, hi = m->params[i].numel;
        if (o->lo) {
            ft_optim_shard_range(m, rank, size, i, &lo, &hi);
            o->lo[i] = lo;
            o->hi[i] = hi;
        }
        if (hi == lo)
            continue;
        size_t bytes = (size_t)(hi - lo) * sizeof(float);
        if (need_m && !(o->m[i] = ft_calloc(bytes))) {
            ft_optim_free(o);
            return ft_fail(FT_ERR_NOMEM, "out of memory for optimizer state of '%s'", m->params[i].name);
        }
        if (need_v && !(o->v[i] = ft_calloc(bytes))) {
            ft_optim_free(o);
            return ft_fail(FT_ERR_NOMEM, "out of memory for optimizer state of '%s'", m->params[i].name);
        }
    }
    return FT_OK;
}

void ft_optim_free(ft_optim *o) {
    for (int i = 0; i < o->n; i++) {
        if (o->m)
            ft_free(o->m[i]);
        if (o->v)
            ft_free(o->v[i]);
    }
    free(o->m);
    free(o->v);
    free(o->lo);
    free(o->hi);
    memset(o, 0, sizeof *o);
}

void ft_optim_copy_shard(const ft_optim *full, ft_optim *shard) {
    shard->t = full->t;
    for (int i = 0; i < shard->n && i < full->n; i++) {
        const int64_t lo = shard->lo ? shard->lo[i] : 0, hi = shard->hi ? shard->hi[i] : 0;
        if (hi <= lo && shard->lo)
            continue;
        if (!shard->lo) /* unsharded: nothing to cut */
            return;
        if (shard->m[i] && full->m[i])
            memcpy(shard->m[i], full->m[i] + lo, (size_t)(hi - lo) * sizeof(float));
        if (shard->v[i] && full->v[i])
            memcpy(shard->v[i], full->v[i] + lo, (size_t)(hi - lo) * sizeof(float));
    }
}

bool ft_optim_decays(const ft_optim_cfg *cfg, const ft_param *p) { return p->ndim >= 2 || cfg->decay_1d; }

/* torch.optim.SGD: g += wd·p; buf = g (first step) or μ·buf + (1−dampening)·g; g = nesterov ? g + μ·buf : buf;
 * p −= lr·g. g is grad·gs rounded to float: each block of g·gs goes through a small buffer so that no FMA
 * can absorb that rounding into g + wd·p (the same bits as scaling the grad in place first). */
static void sgd_step(float *p, const float *g, float gs, float *buf, int64_t n, float lr, const ft_optim_cfg *c,
                     float wd, bool first) {
    const float mu = c->momentum;
    enum { BLK = 512 };
    const int64_t nb = (n + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t bi = 0; bi < nb; bi++) {
        const int64_t i0 = bi * BLK, cnt = n - i0 < BLK ? n - i0 : BLK;
        float gb[BLK];
        for (int64_t k = 0; k < cnt; k++)
            gb[k] = g[i0 + k] * gs;
        for (int64_t k = 0; k < cnt; k++) {
            const int64_t i = i0 + k;
            float d = gb[k] + wd * p[i];
            if (buf) {
                float b = first ? d : mu * buf[i] + (1.0f - c->dampening) * d;
                buf[i] = b;
                d = c->nesterov ? d + mu * b : b;
            }
            p[i] -= lr * d;
        }
    }
}

/* One parameter's update over [off, off+n) from grad·gs; its state starts at value s0 (the shard's lo). */
static void update_range(ft_optim *o, ft_param *p, int i, int64_t off, int64_t n, float lr, float wd,
                         float gs, int64_t s0) {
    float *mm = o->m[i] ? o->m[i] + (off - s0) : NULL;
    if (o->cfg.kind == FT_OPTIM_ADAMW)
        ft_adamw_step_scaled(p->data + off, p->grad + off, gs, mm, o->v[i] + (off - s0), n, lr, o->cfg.beta1,
                             o->cfg.beta2, o->cfg.eps, wd, o->t);
    else
        sgd_step(p->data + off, p->grad + off, gs, mm, n, lr, &o->cfg, wd, o->t == 1);
}

void ft_optim_update(ft_optim *o, ft_model *m, float lr) { ft_optim_update_scaled(o, m, lr, 1.0f); }

void ft_optim_update_scaled(ft_optim *o, ft_model *m, float lr, float gscale) {
    o->t++;
    /* bf16 compute: a trained weight's bf16 copy is re-rounded right after each cache-sized chunk of
     * its update, while the new values are still in cache (one pass over memory instead of two) */
    const int64_t chunk = (int64_t)1 << 16;
    for (int i = 0; i < m->n_params; i++) {
        ft_param *p = &m->params[i];
        if (!p->trainable || !p->grad)
            continue;
        float wd = ft_optim_decays(&o->cfg, p) ? o->cfg.weight_decay : 0.0f;
        const int64_t lo = o->lo ? o->lo[i] : 0, hi = o->hi ? o->hi[i] : p->numel;
        if (m->precision == FT_PREC_BF16 && p->data16) {
            for (int64_t off = lo; off < hi; off += chunk) {
                const int64_t n = hi - off < chunk ? hi - off : chunk;
                update_range(o, p, i, off, n, lr, wd, gscale, lo);
                ft_f32_to_bf16_n(p->data16 + off, p->data + off, n);
            }
        } else if (hi > lo) {
            update_range(o, p, i, lo, hi - lo, lr, wd, gscale, lo);
        }
    }
}

double ft_grad_norm(const ft_model *m) {
    double s = 0.0;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].trainable && m->params[i].grad)
            s += ft_sum_sq(m->params[i].grad, m->params[i].numel);
    return sqrt(s);
}

void ft_grad_scale(ft_model *m, float s) {
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].trainable && m->params[i].grad)
            ft_scale_inplace(m->params[i].grad, m->params[i].numel, s);
}

double ft_grad_scale_norm(ft_model *m, float s) {
    double acc = 0.0;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].trainable && m->params[i].grad)
            acc += ft_scale_sum_sq(m->params[i].grad, m->params[i].numel, s);
    return sqrt(acc);
}

float ft_clip_scale(double norm, double max_norm) {
    const double coef = max_norm / (norm + 1e-6);
    return max_norm > 0.0 && isfinite(norm) && coef < 1.0 ? (float)coef : 1.0f;
}

double ft_clip_grad_norm(ft_model *m, double max_norm) {
    const double norm = ft_grad_norm(m);
    const float s = ft_clip_scale(norm, max_norm);
    if (s != 1.0f)
        ft_grad_scale(m, s);
    return norm;
}
