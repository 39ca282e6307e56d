#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "train/optim.h"

void ft_adamw_cfg_default(ft_adamw_cfg *c) {
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->eps = 1e-8f;
    c->weight_decay = 0.0f;
    c->decay_1d = false;
}

ft_status ft_adamw_init(ft_adamw *o, const ft_model *m, const ft_adamw_cfg *cfg) {
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->n = m->n_params;
    o->m = calloc((size_t)m->n_params, sizeof *o->m);
    o->v = calloc((size_t)m->n_params, sizeof *o->v);
    if (!o->m || !o->v) {
        ft_adamw_free(o);
        return ft_fail(FT_ERR_NOMEM, "out of memory for optimizer state");
    }
    for (int i = 0; i < m->n_params; i++) {
        if (!m->params[i].trainable)
            continue;
        size_t bytes = (size_t)m->params[i].numel * sizeof(float);
        o->m[i] = ft_calloc(bytes);
        o->v[i] = ft_calloc(bytes);
        if (!o->m[i] || !o->v[i]) {
            ft_adamw_free(o);
            return ft_fail(FT_ERR_NOMEM, "out of memory for optimizer state of '%s'", m->params[i].name);
        }
    }
    return FT_OK;
}

void ft_adamw_free(ft_adamw *o) {
    for (int i = 0; i < o->n; i++) {
        if (o->m)
            ft_free(o->m[i]);
        if (o->v)
            ft_free(o->v[i]);
    }
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

void ft_adamw_update(ft_adamw *o, ft_model *m, float lr) {
    o->t++;
    for (int i = 0; i < m->n_params; i++) {
        ft_param *p = &m->params[i];
        if (!p->trainable || !o->m[i])
            continue;
        float wd = (p->ndim >= 2 || o->cfg.decay_1d) ? o->cfg.weight_decay : 0.0f;
        ft_adamw_step(p->data, p->grad, o->m[i], o->v[i], p->numel, lr, o->cfg.beta1, o->cfg.beta2, o->cfg.eps, wd,
                      o->t);
    }
}

double ft_grad_norm(const ft_model *m) {
    double s = 0.0;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].grad)
            s += ft_sum_sq(m->params[i].grad, m->params[i].numel);
    return sqrt(s);
}

double ft_clip_grad_norm(ft_model *m, double max_norm) {
    double norm = ft_grad_norm(m);
    if (max_norm > 0.0 && norm > max_norm) {
        float scale = (float)(max_norm / (norm + 1e-6));
        for (int i = 0; i < m->n_params; i++)
            if (m->params[i].grad)
                ft_scale_inplace(m->params[i].grad, m->params[i].numel, scale);
    }
    return norm;
}
