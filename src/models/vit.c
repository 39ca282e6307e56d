/* The Vision Transformer (HF ViTModel / ViTForImageClassification) forward and backward with PEFT hooks.
 * patches: X [B·n, ch·p·p] = im2col(pixel_values [B][ch][H][W]), columns (c, ky, kx) as the Conv2d weight,
 *   E = X·Wᵀ + b: the strided convolution as one product; n = gh·gw, gh = H/p, gw = W/p.
 * embeddings: x0 = drop([cls; E] + pos), pos = position_embeddings; when the batch's grid differs from the
 *   checkpoint's G×G, its patch rows are resized bicubically to gh×gw first (HF interpolate_pos_encoding).
 * block (pre-LN): x1 = x + drop(O(attn(Q h, K h, V h))), h = LN1(x) (no mask); x' = x1 + drop(P(act(F
 * LN2(x1)))). head: logits = classifier(LN_f(x_L)[:, 0]); loss CE (single_label_classification) or MSE
 * (regression). Linear layers carry LoRA / DoRA / IA3 through nn/linear; a bottleneck adapter o ↦ o +
 * up(act(down(o))) on a branch output before its dropout (models/step.c), as in the BERT family. */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "models/family.h"
#include "models/model.h"
#include "nn/linear.h"

typedef ft_block_cache vit_layer;

typedef struct {
    const ft_family *fam; /* &ft_vit_family: first, as models/family.h requires */
    int B, T, gh, gw;
    int64_t N, NP; /* B·T rows, B·n patch rows */
    ft_fwd_opts opts;
    float *X;   /* [NP, ch·p·p] patches */
    float *pos; /* [T,C] the position embeddings added (resized, or the parameter itself) */
    bool resized;
    vit_layer *L;
    float *x_final;                           /* [N,C] */
    float *cls_in, *cls_ln, *f_mean, *f_rstd; /* [B,C] x_L[:, 0], its final LayerNorm, statistics */
    float *logits, *logits_copy;              /* [B,K] */
    int64_t K, count;
    int32_t *cls;
    float *reg;
} vit_acts;

/* The checkpoint's patch grid side G (position_embeddings holds 1 + G² rows). */
static int grid_side(const ft_model *m) {
    return m->cfg.image_size / m->cfg.patch_size;
}

/* T: tokens per image (ft_model_batch_seq_len); below 2 (a caller that knows no image size, the trainer's
 * seq_len 0): the config's image_size. */
static size_t vit_act_bytes(const ft_model *m, int B, int T, const ft_fwd_opts *o) {
    const ft_model_config *c = &m->cfg;
    if (T < 2)
        T = c->max_pos;
    const size_t N = (size_t)B * (size_t)T, C = (size_t)c->hidden, I = (size_t)c->intermediate, A = FT_ALIGN;
    const size_t NP = (size_t)B * (size_t)(T - 1),
                 Kp = (size_t)c->num_channels * (size_t)c->patch_size * (size_t)c->patch_size;
    const size_t K = (size_t)(m->n_labels > 0 ? m->n_labels : 1), HT = (size_t)B * (size_t)c->n_heads * T;
    /* kept per block: h1, q, k, v, atty, o, x1, h2, mo, the block output, fc, act, lse, statistics */
    const size_t per_layer = (11 * N * C + 2 * N * I + HT + 4 * N) * 4 + 24 * A;
    size_t peft, peft_max, peft_tmp;
    ft_model_peft_bytes(m, N, &peft, &peft_max, &peft_tmp);
    /* patches, their projection, the resized positions, x0; the head's rows; the layer table */
    const size_t fixed =
        (NP * Kp + NP * C + (size_t)T * C + N * C + 4 * (size_t)B * C + 2 * B + 3 * B * K) * 4 +
        (size_t)c->n_layers * sizeof(vit_layer) + 16 * A;
    size_t bwd = ft_attention_lse_scratch_bytes(c->head_dim);
    if (!o->no_loss) /* ft_block_grads (9 [N,C], 2 [N,I]), the head's, the embeddings' d(positions),
                        d(patches) */
        bwd += (9 * N * C + 2 * N * I + 3 * (size_t)B * C + (size_t)B * K + (size_t)T * C + NP * C) * 4 +
               20 * A + peft_tmp;
    if (o->checkpoint)
        return (size_t)c->n_layers * (N * C * 4 + A) + per_layer + peft_max + fixed + bwd;
    return (size_t)c->n_layers * per_layer + peft + fixed + bwd;
}

/* One pre-LN block: x [N,C] → x_out [N,C] (caller's buffer), the rest from the arena into a->L[l]. The
 * forward, the checkpointed forward and the backward's recompute all run this: the same bits. */
static ft_status layer_fwd(const ft_model *m, void *acts, int l, const float *x, float *x_out,
                           ft_arena *arena) {
    vit_acts *a = acts;
    const ft_model_config *c = &m->cfg;
    const int64_t N = a->N, C = c->hidden;
    const ft_layer_idx *P = &m->layers[l];
    vit_layer *L = &a->L[l];
    memset(L, 0, sizeof *L);
    L->x_in = (float *)(uintptr_t)x;
    AL(L->h1, N * C);
    AL(L->m1, N);
    AL(L->r1, N);
    ft_layernorm_forward(L->h1, L->m1, L->r1, x, W(P->ln1_w), W(P->ln1_b), N, C, c->norm_eps);
    float *ob;
    FT_TRY(
        ft_model_attn_forward(m, &a->opts, l, a->B, a->T, NULL, L->h1, &L->at, L->lc, &L->ad[0], &ob, arena));
    FT_TRY(ft_model_add_norm(m, N, x, ob, P->ln2_w, P->ln2_b, &L->s1, &L->h2, &L->m2, &L->r2, arena));
    float *mb;
    FT_TRY(ft_model_mlp_forward(m, &a->opts, l, N, L->h2, L, &mb, arena));
    for (int64_t j = 0; j < N * C; j++)
        x_out[j] = L->s1[j] + mb[j];
    return FT_OK;
}

/* The batch's pixels against the config: channels, a size the patches tile. */
static ft_status check_pixels(const ft_model *m, const ft_batch *b) {
    const ft_model_config *c = &m->cfg;
    if (!b->pixel_values)
        return ft_fail(FT_ERR_ARG, "the vit model needs pixel_values [B][%d][H][W] (the batch has none)",
                       c->num_channels);
    if (b->B <= 0 || b->img_h <= 0 || b->img_w <= 0)
        return ft_fail(FT_ERR_ARG, "empty image batch (%d images of %dx%d)", b->B, b->img_h, b->img_w);
    if (b->img_c != c->num_channels)
        return ft_fail(FT_ERR_SHAPE, "pixel_values have %d channels, the model's config has num_channels %d",
                       b->img_c, c->num_channels);
    if (b->img_h % c->patch_size || b->img_w % c->patch_size)
        return ft_fail(FT_ERR_SHAPE, "image size %dx%d is not a multiple of the patch size %d", b->img_h,
                       b->img_w, c->patch_size);
    const int64_t n = (int64_t)(b->img_h / c->patch_size) * (b->img_w / c->patch_size);
    if (n + 1 > (1 << 24))
        return ft_fail(FT_ERR_RANGE, "image size %dx%d gives %lld patches (at most %d)", b->img_h, b->img_w,
                       (long long)n, (1 << 24) - 1);
    return FT_OK;
}

/* Patches, their projection, [CLS] and the positions (resized to the batch's grid when it differs). */
static ft_status embed_fwd(const ft_model *m, const ft_batch *b, vit_acts *a, float *x0, ft_arena *arena) {
    const ft_model_config *c = &m->cfg;
    const int64_t C = c->hidden, T = a->T, n = T - 1,
                  Kp = (int64_t)c->num_channels * c->patch_size * c->patch_size;
    AL(a->X, a->NP * Kp);
    ft_patchify(a->X, b->pixel_values, a->B, c->num_channels, b->img_h, b->img_w, c->patch_size);
    float *E;
    AL(E, a->NP * C);
    ft_linear_forward(E, a->X, W(m->patch_w), W(m->patch_b), a->NP, Kp, C, false);
    const int g = grid_side(m);
    const float *pos = m->params[m->wpe].data;
    a->resized = a->gh != g || a->gw != g;
    a->pos = (float *)(uintptr_t)pos;
    if (a->resized) {
        AL(a->pos, T * C);
        memcpy(a->pos, pos, (size_t)C * sizeof(float));
        ft_bicubic_resize_forward(a->pos + C, pos + C, g, g, a->gh, a->gw, C);
    }
    for (int r = 0; r < a->B; r++) {
        float *xr = x0 + (int64_t)r * T * C;
        for (int64_t j = 0; j < C; j++)
            xr[j] = m->params[m->cls_tok].data[j] + a->pos[j];
        for (int64_t t = 1; t < T; t++)
            for (int64_t j = 0; j < C; j++)
                xr[t * C + j] = E[((int64_t)r * n + t - 1) * C + j] + a->pos[t * C + j];
    }
    if (a->opts.training && c->embd_dropout > 0.0f)
        ft_dropout_rows_forward(x0, x0, a->N, C, c->embd_dropout, a->opts.seed,
                                ft_model_drop_stream(&a->opts, -1, 0), ft_model_drop_rows(&a->opts));
    return FT_OK;
}

static ft_status vit_forward(ft_model *m, const ft_batch *b, const ft_fwd_opts *o, ft_arena *arena,
                             ft_acts **out, double *loss, int64_t *count) {
    if (count)
        *count = 0;
    const ft_model_config *c = &m->cfg;
    if (m->task != FT_TASK_SEQ_CLS && m->task != FT_TASK_REGRESSION)
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "the vit model has no head: give it an image-classification head (task classification "
                       "or regression; a checkpoint with classifier.weight)");
    if (m->n_virtual > 0)
        return ft_fail(FT_ERR_UNSUPPORTED, "prompt tuning is not supported for vit");
    if (o->label_smoothing > 0.0f && !o->no_loss)
        return ft_fail(FT_ERR_UNSUPPORTED, "label smoothing on vit is not supported yet");
    FT_TRY(check_pixels(m, b));
    FT_TRY(ft_model_check_targets(m, b, o));
    FT_TRY(ft_model_sync_bf16(m));
    const int B = b->B, gh = b->img_h / c->patch_size, gw = b->img_w / c->patch_size, T = 1 + gh * gw;
    const int64_t N = (int64_t)B * T, C = c->hidden;
    vit_acts *a;
    AL(a, 1);
    *a = (vit_acts){.fam = &ft_vit_family,
                    .B = B,
                    .T = T,
                    .gh = gh,
                    .gw = gw,
                    .N = N,
                    .NP = (int64_t)B * (T - 1),
                    .K = m->n_labels,
                    .opts = *o};
    a->opts.drop_T = T;
    a->opts.drop_pad = 0; /* images are never padded: a shard's rows have the whole batch's length */
    AL(a->L, c->n_layers);
    memset(a->L, 0, (size_t)c->n_layers * sizeof *a->L);
    float *x;
    AL(x, N * C);
    FT_TRY(embed_fwd(m, b, a, x, arena));
    FT_TRY(ft_model_blocks_forward(m, o->checkpoint, N, layer_fwd, a, a->L, &x, arena));
    a->x_final = x;
    /* the head reads [CLS] after the final LayerNorm: only those rows are normalized */
    const int64_t K = a->K;
    AL(a->cls_in, B * C);
    AL(a->cls_ln, B * C);
    AL(a->f_mean, B);
    AL(a->f_rstd, B);
    AL(a->logits, B * K);
    for (int r = 0; r < B; r++)
        memcpy(a->cls_in + r * C, x + (int64_t)r * T * C, (size_t)C * sizeof(float));
    ft_layernorm_forward(a->cls_ln, a->f_mean, a->f_rstd, a->cls_in, W(m->lnf_w), W(m->lnf_b), B, C,
                         c->norm_eps);
    ft_linear_forward(a->logits, a->cls_ln, W(m->score), W(m->score_b), B, C, K, false);
    if (o->keep_logits) {
        AL(a->logits_copy, B * K);
        memcpy(a->logits_copy, a->logits, (size_t)(B * K) * sizeof(float));
    }
    double sum = 0.0;
    int64_t cnt = 0;
    if (!o->no_loss)
        FT_TRY(ft_model_head_loss(m, b, a->logits, K, arena, &a->cls, &a->reg, &sum, &cnt));
    a->count = cnt;
    *out = (ft_acts *)(void *)a;
    if (count)
        *count = cnt;
    return ft_model_mean_loss(o, sum, cnt, "the batch has no target (every class label is -100)", loss);
}

/* d(head) → dx [N,C] (written: the [CLS] rows, zero elsewhere). */
static ft_status head_bwd(ft_model *m, vit_acts *a, float *dx, float loss_scale, ft_arena *arena) {
    const int B = a->B;
    const int64_t C = m->cfg.hidden, K = a->K;
    float *dlog, *dln, *din;
    ZA(dlog, B * K);
    ZA(dln, B * C);
    ZA(din, B * C);
    if (m->task == FT_TASK_SEQ_CLS)
        ft_cross_entropy_backward(dlog, a->logits, a->cls, B, K, loss_scale / (float)a->count);
    else
        for (int r = 0; r < B; r++) /* d/dp mean (p − y)² = 2(p − y)/B */
            dlog[r] = 2.0f * (a->logits[r] - a->reg[r]) * loss_scale / (float)a->count;
    ft_linear_backward(dln, G(m->score), G(m->score_b), dlog, a->cls_ln, W(m->score), B, C, K, false);
    ft_layernorm_backward(din, G(m->lnf_w), G(m->lnf_b), dln, a->cls_in, W(m->lnf_w), a->f_mean, a->f_rstd, B,
                          C);
    memset(dx, 0, (size_t)(a->N * C) * sizeof(float));
    for (int r = 0; r < B; r++)
        memcpy(dx + (int64_t)r * a->T * C, din + (int64_t)r * C, (size_t)C * sizeof(float));
    return FT_OK;
}

static bool embeddings_train(const ft_model *m) {
    return G(m->cls_tok) || G(m->wpe) || G(m->patch_w) || G(m->patch_b);
}

/* d(x0) → the [CLS] token, the positions (through the resize's transpose) and the patch projection. */
static ft_status embed_bwd(ft_model *m, vit_acts *a, float *dx0, ft_arena *arena) {
    const ft_model_config *c = &m->cfg;
    const int64_t C = c->hidden, T = a->T, n = T - 1,
                  Kp = (int64_t)c->num_channels * c->patch_size * c->patch_size;
    for (int r = 0; G(m->cls_tok) && r < a->B; r++)
        ft_add_inplace(G(m->cls_tok), dx0 + (int64_t)r * T * C, C);
    if (G(m->wpe)) {
        float *dpos = G(m->wpe);
        if (a->resized)
            ZA(dpos, T * C);
        for (int r = 0; r < a->B; r++)
            ft_add_inplace(dpos, dx0 + (int64_t)r * T * C, T * C);
        if (a->resized) {
            const int g = grid_side(m);
            ft_add_inplace(G(m->wpe), dpos, C);
            ft_bicubic_resize_backward(G(m->wpe) + C, dpos + C, g, g, a->gh, a->gw, C);
        }
    }
    if (!G(m->patch_w) && !G(m->patch_b))
        return FT_OK;
    float *dE;
    AL(dE, a->NP * C);
    for (int r = 0; r < a->B; r++)
        memcpy(dE + (int64_t)r * n * C, dx0 + ((int64_t)r * T + 1) * C, (size_t)(n * C) * sizeof(float));
    ft_linear_backward(NULL, G(m->patch_w), G(m->patch_b), dE, a->X, W(m->patch_w), a->NP, Kp, C, false);
    return FT_OK;
}

static ft_status vit_backward(ft_model *m, ft_acts *acts, ft_arena *arena, float loss_scale) {
    vit_acts *a = (vit_acts *)(void *)acts;
    const ft_model_config *c = &m->cfg;
    const int64_t N = a->N, C = c->hidden;
    ft_block_grads g;
    FT_TRY(ft_model_block_grads(m, &a->opts, a->count, N, &g, arena));
    float *dres = g.dres, *dh = g.dh;
    FT_TRY(head_bwd(m, a, dres, loss_scale, arena));
    const bool need_dx0 = embeddings_train(m);
    for (int l = c->n_layers - 1; l >= 0; l--) {
        const ft_layer_idx *P = &m->layers[l];
        vit_layer *L = &a->L[l];
        const size_t mark = ft_arena_mark(arena);
        FT_TRY(ft_model_block_recompute(m, a->opts.checkpoint, N, layer_fwd, a, a->L, l, arena));
        /* MLP branch: d(mb) = dres; then dres += LN2ᵀ(d(h2)): d(x1) */
        memset(dh, 0, (size_t)(N * C) * sizeof(float));
        FT_TRY(ft_model_mlp_backward(m, &a->opts, l, N, L->h2, L, dres, dh, &g, arena));
        ft_layernorm_backward(dres, G(P->ln2_w), G(P->ln2_b), dh, L->s1, W(P->ln2_w), L->m2, L->r2, N, C);
        /* attention branch: d(ob) = dres; then dres += LN1ᵀ(d(h1)): d(x_in) */
        /* the first block's input feeds only the embeddings: no d(h1) unless they or LN1 train */
        const bool need_dh = l > 0 || need_dx0 || G(P->ln1_w) || G(P->ln1_b);
        memset(dh, 0, (size_t)(N * C) * sizeof(float));
        FT_TRY(ft_model_attn_backward(m, &a->opts, l, a->B, a->T, NULL, L->h1, &L->at, L->lc, &L->ad[0], dres,
                                      need_dh ? dh : NULL, g.att, arena));
        if (need_dh)
            ft_layernorm_backward(l > 0 || need_dx0 ? dres : NULL, G(P->ln1_w), G(P->ln1_b), dh, L->x_in,
                                  W(P->ln1_w), L->m1, L->r1, N, C);
        ft_arena_rewind(arena, mark);
    }
    if (!need_dx0)
        return FT_OK;
    const float *dx0 = dres;
    if (a->opts.training && c->embd_dropout > 0.0f) {
        float *dbuf = g.ds;
        memset(dbuf, 0, (size_t)(N * C) * sizeof(float));
        ft_dropout_rows_backward(dbuf, dres, N, C, c->embd_dropout, a->opts.seed,
                                 ft_model_drop_stream(&a->opts, -1, 0), ft_model_drop_rows(&a->opts));
        dx0 = dbuf;
    }
    return embed_bwd(m, a, (float *)(uintptr_t)dx0, arena);
}

static const float *vit_logits(const ft_acts *acts, int64_t *rows, int64_t *cols) {
    const vit_acts *a = (const vit_acts *)(const void *)acts;
    if (rows)
        *rows = a->B;
    if (cols)
        *cols = a->K;
    return a->logits_copy;
}

static int vit_seq_len(const ft_acts *acts) {
    return ((const vit_acts *)(const void *)acts)->T;
}

const ft_family ft_vit_family = {vit_forward, vit_backward, vit_act_bytes, vit_logits, vit_seq_len};
