/* What every family's forward and backward share (models/family.h): dropout RNG streams, a linear site with
 * its PEFT hooks set up for the step, LoRA on the embedding tables, the bytes the PEFT hooks keep, zeroed
 * arena buffers. */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "models/family.h"

#define W(i) ((i) >= 0 ? m->params[(i)].data : NULL)
#define G(i) ((i) >= 0 ? m->params[(i)].grad : NULL)

uint64_t ft_model_drop_stream(const ft_fwd_opts *o, int layer, int site) {
    return o->step * 4096u + (uint64_t)(layer + 1) * 32u + (uint64_t)site;
}

ft_lin ft_model_step_lin(const ft_model *m, const ft_fwd_opts *o, int layer, ft_site site) {
    ft_lin L = ft_model_site_lin(m, layer, site, true);
    L.training = o->training;
    L.seed = o->seed;
    L.stream = ft_model_drop_stream(o, layer, 8 + (int)site);
    return L;
}

void ft_model_emb_lora(const ft_model *m, const int32_t *ids, const int32_t *pos, int64_t N, float *x,
                       const float *dx) {
    for (int e = 0; e < FT_N_EMB; e++) {
        const ft_emb_peft *ep = &m->emb[e];
        int64_t V;
        int32_t pad;
        if (ep->lora_a < 0 || !ft_model_emb(m, (ft_emb)e, NULL, &V, &pad, NULL, 0))
            continue;
        const int32_t *rows = e == FT_EMB_TOKENS ? ids : pos;
        if (x)
            ft_embedding_lora_forward(x, W(ep->lora_a), W(ep->lora_b), rows, N, m->cfg.hidden, V, ep->r,
                                      ep->lora_scale);
        else if (G(ep->lora_a) || G(ep->lora_b))
            ft_embedding_lora_backward(G(ep->lora_a), G(ep->lora_b), dx, W(ep->lora_a), W(ep->lora_b), rows,
                                       N, m->cfg.hidden, V, ep->r, ep->lora_scale, pad);
    }
}

bool ft_model_emb_lora_trains(const ft_model *m) {
    for (int e = 0; e < FT_N_EMB; e++)
        if (G(m->emb[e].lora_a) || G(m->emb[e].lora_b))
            return true;
    return false;
}

void ft_model_site_peft_bytes(const ft_model *m, int layer, size_t N, size_t *keep, size_t *tmp) {
    const size_t A = FT_ALIGN;
    size_t pl = 0, pt = 0;
    for (int s = 0; s < FT_N_SITES; s++) {
        const ft_site_peft *sp = &m->sites[layer * FT_N_SITES + s];
        int64_t in64 = 0, out64 = 0;
        if (!ft_model_site(m, layer, (ft_site)s, NULL, NULL, &in64, &out64, NULL, NULL, 0))
            continue;
        const size_t in = (size_t)in64, out = (size_t)out64, r = (size_t)(sp->lora_a >= 0 ? sp->r : 0);
        if (sp->lora_a >= 0) {
            pl += (N * r + N * in) * 4 + 2 * A;
            pt += (N * r + 2 * N * in) * 4 + 3 * A;
            if (sp->dora_m >= 0) {
                pl += (N * out + out) * 4 + 2 * A;
                pt += N * out * 4 + A;
            }
        }
        if (sp->ia3 >= 0) {
            pl += N * (in > out ? in : out) * 4 + A;
            pt += N * (in > out ? in : out) * 4 + A;
        }
    }
    *keep = pl;
    *tmp = pt;
}

float *ft_model_zeroed(ft_arena *arena, int64_t n) {
    float *p = ft_arena_alloc(arena, (size_t)n * sizeof(float));
    if (p)
        memset(p, 0, (size_t)n * sizeof(float));
    return p;
}

ft_status ft_model_head_loss(const ft_model *m, const ft_batch *b, const float *logits, int64_t K,
                             ft_arena *arena, int32_t **cls, float **reg, double *sum, int64_t *count) {
    const int B = b->B;
    *sum = 0.0;
    if (m->task == FT_TASK_SEQ_CLS) {
        if (!(*cls = ft_arena_alloc(arena, (size_t)B * sizeof(int32_t))))
            return FT_ERR_NOMEM;
        for (int r = 0; r < B; r++) {
            const int32_t y = b->cls_labels[r];
            if (y != -100 && (y < 0 || y >= K))
                return ft_fail(FT_ERR_RANGE, "class label %d of row %d is outside [0, %lld)", y, r,
                               (long long)K);
            (*cls)[r] = y;
        }
        *sum = ft_cross_entropy_forward(logits, *cls, B, K, count);
        return FT_OK;
    }
    if (!(*reg = ft_arena_alloc(arena, (size_t)B * sizeof(float))))
        return FT_ERR_NOMEM;
    for (int r = 0; r < B; r++) { /* HF MSELoss on the squeezed logits */
        (*reg)[r] = b->reg_targets[r];
        const double d = (double)logits[r] - (double)(*reg)[r];
        *sum += d * d;
    }
    *count = B;
    return FT_OK;
}

ft_status ft_model_mean_loss(const ft_fwd_opts *o, double sum, int64_t count, const char *empty,
                             double *loss) {
    if (o->no_loss) {
        *loss = NAN;
        return FT_OK;
    }
    if (count == 0)
        return ft_fail(FT_ERR_ARG, "%s", empty);
    *loss = sum / (double)count;
    if (!isfinite(*loss))
        return ft_fail(FT_ERR_NUMERIC, "the loss is %s", isnan(*loss) ? "NaN" : "infinite");
    return FT_OK;
}
