/* The extractive question-answering head (HF BertForQuestionAnswering, RobertaForQuestionAnswering,
 * DistilBertForQuestionAnswering) on an encoder's last hidden states x [B*T, C]:
 *   [s | e] = qa_outputs(drop(x)) = drop(x)·Wᵀ + b, W [2, C] (the dropout is DistilBERT's qa_dropout only);
 *   loss = (CE_T(s, clamp(sp, 0, T)) + CE_T(e, clamp(ep, 0, T))) / 2, each CE the mean over the rows whose
 *   clamped position is not T (HF's ignored_index = the sequence length), over all T positions (pads too). */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "models/family.h"


static bool qa_dropping(const ft_model *m, const ft_fwd_opts *o) {
    return o->training && m->cfg.enc == FT_ENC_DISTILBERT && m->cfg.qa_dropout > 0.0f;
}

/* Row r's CE over T logits at stride 2 (column k) against target y, and (when d) d = softmax − onehot. */
static double row_ce(const float *lg, int T, int k, int32_t y, float *d, float scale) {
    if (T <= 0)
        return 0.0;
    double mx = lg[k];
    for (int t = 1; t < T; t++)
        mx = lg[2 * t + k] > mx ? lg[2 * t + k] : mx;
    double z = exp((double)lg[k] - mx); /* the max term adds 1: z ≥ 1 */
    for (int t = 1; t < T; t++)
        z += exp((double)lg[2 * t + k] - mx);
    const double lse = mx + log(z);
    for (int t = 0; d && t < T; t++)
        d[2 * t + k] += scale * (float)(exp((double)lg[2 * t + k] - lse) - (t == y ? 1.0 : 0.0));
    return lse - (double)lg[2 * y + k];
}

ft_status ft_model_qa_head_forward(const ft_model *m, const ft_batch *b, const ft_fwd_opts *o, const float *x,
                                   int B, int T, ft_arena *arena, ft_qa_head_cache *c, double *sum,
                                   int64_t *count) {
    const int64_t N = (int64_t)B * T, C = m->cfg.hidden;
    memset(c, 0, sizeof *c);
    c->B = B;
    c->T = T;
    c->in = x;
    if (qa_dropping(m, o)) {
        if (!(c->in_d = ft_arena_alloc(arena, (size_t)(N * C) * sizeof(float))))
            return FT_ERR_NOMEM;
        ft_dropout_rows_forward(c->in_d, x, N, C, m->cfg.qa_dropout, o->seed,
                                ft_model_drop_stream(o, m->cfg.n_layers, 3), ft_model_drop_rows(o));
        c->in = c->in_d;
    }
    if (!(c->logits = ft_arena_alloc(arena, (size_t)(N * 2) * sizeof(float))))
        return FT_ERR_NOMEM;
    ft_linear_forward(c->logits, c->in, W(m->score), W(m->score_b), N, C, 2, false);
    *sum = 0.0;
    *count = 0;
    if (o->no_loss)
        return FT_OK;
    if (!b->start_positions || !b->end_positions)
        return ft_fail(FT_ERR_ARG,
                       "the batch has no start_positions / end_positions for the question-answering "
                       "head");
    c->sp = ft_arena_alloc(arena, (size_t)B * sizeof(int32_t));
    c->ep = ft_arena_alloc(arena, (size_t)B * sizeof(int32_t));
    if (!c->sp || !c->ep)
        return FT_ERR_NOMEM;
    double ls = 0.0, le = 0.0;
    for (int r = 0; r < B; r++) { /* HF: positions.clamp(0, T); T is then ignored */
        const int32_t s = b->start_positions[r], e = b->end_positions[r];
        c->sp[r] = s < 0 ? 0 : s > T ? T : s;
        c->ep[r] = e < 0 ? 0 : e > T ? T : e;
        const float *lg = c->logits + (int64_t)r * T * 2;
        if (c->sp[r] < T) {
            ls += row_ce(lg, T, 0, c->sp[r], NULL, 0.0f);
            c->n_s++;
        }
        if (c->ep[r] < T) {
            le += row_ce(lg, T, 1, c->ep[r], NULL, 0.0f);
            c->n_e++;
        }
    }
    if (c->n_s == 0 || c->n_e == 0) /* HF's mean over no target is NaN */
        return FT_OK;
    /* the mean loss times the rows counted, so that sum / count is HF's loss */
    const double loss = 0.5 * (ls / (double)c->n_s + le / (double)c->n_e);
    *count = c->n_s;
    *sum = loss * (double)c->n_s;
    return FT_OK;
}

ft_status ft_model_qa_head_backward(ft_model *m, const ft_fwd_opts *o, const ft_qa_head_cache *c, float *dx,
                                    float loss_scale, ft_arena *arena) {
    const int B = c->B, T = c->T;
    const int64_t N = (int64_t)B * T, C = m->cfg.hidden;
    float *dlog = ft_model_zeroed(arena, N * 2);
    if (!dlog)
        return FT_ERR_NOMEM;
    const float ss = 0.5f * loss_scale / (float)c->n_s, se = 0.5f * loss_scale / (float)c->n_e;
    for (int r = 0; r < B; r++) {
        const float *lg = c->logits + (int64_t)r * T * 2;
        float *d = dlog + (int64_t)r * T * 2;
        if (c->sp[r] < T)
            (void)row_ce(lg, T, 0, c->sp[r], d, ss);
        if (c->ep[r] < T)
            (void)row_ce(lg, T, 1, c->ep[r], d, se);
    }
    float *din = dx;
    if (c->in_d && !(din = ft_model_zeroed(arena, N * C)))
        return FT_ERR_NOMEM;
    if (!c->in_d)
        memset(dx, 0, (size_t)(N * C) * sizeof(float));
    ft_linear_backward(din, G(m->score), G(m->score_b), dlog, c->in, W(m->score), N, C, 2, false);
    if (c->in_d) {
        memset(dx, 0, (size_t)(N * C) * sizeof(float));
        ft_dropout_rows_backward(dx, din, N, C, m->cfg.qa_dropout, o->seed,
                                 ft_model_drop_stream(o, m->cfg.n_layers, 3), ft_model_drop_rows(o));
    }
    return FT_OK;
}

size_t ft_model_qa_head_bytes(const ft_model *m, int B, int T, const ft_fwd_opts *o) {
    const size_t N = (size_t)B * (size_t)T, C = (size_t)m->cfg.hidden;
    size_t n = (N * 2 * 2 + 2 * (size_t)B) * 4 + 6 * FT_ALIGN; /* logits, their copy, positions */
    if (qa_dropping(m, o))
        n += N * C * 4 + FT_ALIGN;
    if (!o->no_loss) /* d(logits), d(dropped input) */
        n += (N * 2 + N * C) * 4 + 2 * FT_ALIGN;
    return n;
}
