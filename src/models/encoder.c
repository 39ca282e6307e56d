/* BERT-family encoder forward and backward (BERT, RoBERTa, XLM-RoBERTa, DistilBERT) with PEFT hooks.
 * embeddings: x0 = drop(LN_e(word[ids] + pos[p] + type[tt]));  p = 0..T−1 (BERT, DistilBERT), RoBERTa:
 *   p = pad + cumsum_t(id ≠ pad) at non-pad ids and pad at pad ids (HF create_position_ids_from_input_ids).
 * block (post-LN): h = LN1(x + drop(O(attn(Qx, Kx, Vx; padding mask)))); x' = LN2(h + drop(P(act(F h)))).
 * head on row 0 (h0 = x_L[:, 0]): BERT logits = W·drop(tanh(pool(h0))) + b; RoBERTa W·drop(tanh(D·drop(h0)))
 *   + b; DistilBERT W·drop(relu(D·h0)) + b. Loss: mean CE (single_label_classification) or MSE (regression).
 * token classification (every variant): logits[t] = W·drop(x_L[t]) + b, mean CE over the labels ≠ −100;
 * masked LM (every labelled row): logits = LN(act(D·x_L + d))·Eᵀ + bias, E the word embeddings (tied); mean
 * CE over labels ≠ −100 (not shifted). Linear layers carry LoRA / DoRA / IA3 through nn/linear; LoRA on
 * word/position embeddings as decoder.c; a bottleneck adapter o ↦ o + up(act(down(o))) on a branch output
 * before its dropout (Houlsby: both, Pfeiffer: the FFN's); prompt tuning prepends n virtual rows (the head
 * then reads the first of them, as in PEFT). */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "models/family.h"
#include "models/model.h"
#include "nn/linear.h"

typedef ft_block_cache enc_layer;

typedef struct {
    const ft_family *fam; /* &ft_encoder_family: first, as models/family.h requires */
    int B, T;
    int64_t N;
    ft_fwd_opts opts;
    int32_t *ids, *mask, *pos, *tt; /* [N] */
    float *e, *e_mean, *e_rstd;     /* embedding sum [N,C] (LN_e input) and statistics */
    enc_layer *L;
    float *x_final; /* [N,C] last block's output */
    float *cls_in, *pre, *hid,
        *hid_d;                  /* head [B,C]: dense input, pre-activation, activation, after dropout */
    float *logits, *logits_copy; /* [B,K] */
    int64_t K;
    int32_t *cls;
    float *reg;
    int64_t count;
    ft_qa_head_cache qa; /* FT_TASK_QA: the span head on every token */
    float *tok_in;    /* token head [N,C]: x_final after dropout (x_final itself without) */
    int32_t *tok_lab; /* [N] its labels (−100 ignored) */
    /* masked LM: the head runs on S rows (the labelled ones; all with keep_logits), logits [S,V] */
    int64_t S;
    int64_t *mrow;                        /* [S] row of x_final */
    int32_t *mtgt;                        /* [S] label (-100 = none) */
    float *m_in, *m_pre, *m_act, *m_norm; /* [S,C] transform input, dense output, activation, LayerNorm */
    float *m_mean, *m_rstd;               /* [S] */
} enc_acts;

#define ZERO(ptr, count) memset((ptr), 0, (size_t)(count) * sizeof(float))

/* Dropout streams: layer −1 the embeddings, n_layers the head (models/step.c). */
#define drop_stream ft_model_drop_stream

static bool dropping(const enc_acts *a, float p) {
    return a->opts.training && p > 0.0f;
}

static size_t enc_act_bytes(const ft_model *m, int B, int T, const ft_fwd_opts *o) {
    const ft_model_config *c = &m->cfg;
    const size_t N = (size_t)B * (size_t)T, C = (size_t)c->hidden, I = (size_t)c->intermediate, A = FT_ALIGN;
    const size_t K = (size_t)(m->n_labels > 0 ? m->n_labels : 1),
                 HT = (size_t)B * (size_t)c->n_heads * (size_t)T;
    /* kept per block: q, k, v, atty, s1, h, s2, its output, the O/P outputs, fc and act, lse, statistics */
    const size_t per_layer = (10 * N * C + 2 * N * I + HT + 4 * N) * 4 + 24 * A;
    /* PEFT: what nn/linear keeps per site (LoRA h and dropped input, DoRA's inner product, IA3's buffer) and
     * the scratch its backward takes and gives back at the end of the block */
    size_t peft, peft_max, peft_tmp;
    ft_model_peft_bytes(m, N, &peft, &peft_max, &peft_tmp);
    size_t head = (6 * (size_t)B * C + 3 * (size_t)B * K) * 4 + 12 * A;
    if (m->task ==
        FT_TASK_TOKEN_CLS) /* logits, copy, d(logits) [N,K]; dropped input, d(input) [N,C]; labels */
        head = (3 * N * K + 2 * N * C + N) * 4 + 8 * A;
    if (m->task == FT_TASK_MASKED_LM) { /* ≤ N rows: index, label, 4 [S,C], statistics, logits (+ copy) */
        const size_t V = (size_t)c->vocab_size;
        head = (N * 2 + N + 4 * N * C + 2 * N + N * V * (o->keep_logits ? 2 : 1)) * 4 + 12 * A;
        if (!o->no_loss) /* d(logits), d(norm), d(act), d(pre), d(in) */
            head += (N * V + 4 * N * C) * 4 + 6 * A;
    }
    const size_t fixed =
        (2 * N * C + 2 * N) * 4 + 4 * N * 4 + (size_t)c->n_layers * sizeof(enc_layer) + 16 * A + head;
    size_t bwd = ft_attention_lse_scratch_bytes(c->head_dim);
    if (!o->no_loss) /* d(x), d(s), d(h), two branch buffers, dq/dk/dv, d(atty), d(act), d(fc), the head's */
        bwd += (9 * N * C + 2 * N * I + 6 * (size_t)B * C + (size_t)B * K) * 4 + 20 * A + peft_tmp;
    if (m->task == FT_TASK_QA)
        bwd += ft_model_qa_head_bytes(m, B, T, o);
    if (o->checkpoint)
        return (size_t)c->n_layers * (N * C * 4 + A) + per_layer + peft_max + N * C * 4 + A + fixed + bwd;
    return (size_t)c->n_layers * per_layer + peft + fixed + bwd;
}

/* One post-LN block: x [N,C] → x_out [N,C] (caller's buffer), the rest from the arena into a->L[l]. The
 * forward, the checkpointed forward and the backward's recompute all run this: the same bits. */
static ft_status layer_fwd(const ft_model *m, void *acts, int l, const float *x, float *x_out, ft_arena *arena) {
    enc_acts *a = acts;
    const int64_t N = a->N;
    const ft_layer_idx *P = &m->layers[l];
    enc_layer *L = &a->L[l];
    memset(L, 0, sizeof *L);
    L->x_in = (float *)x;
    float *ob;
    FT_TRY(ft_model_attn_forward(m, &a->opts, l, a->B, a->T, a->mask, x, &L->at, L->lc, &L->ad[0], &ob, arena));
    FT_TRY(ft_model_add_norm(m, N, ob, x, P->ln1_w, P->ln1_b, &L->s1, &L->h1, &L->m1, &L->r1, arena));
    float *mb;
    FT_TRY(ft_model_mlp_forward(m, &a->opts, l, N, L->h1, L, &mb, arena));
    return ft_model_add_norm(m, N, mb, L->h1, P->ln2_w, P->ln2_b, &L->s2, &x_out, &L->m2, &L->r2, arena);
}

/* ids, mask, position ids and token types of the batch. */
/* ids, mask, position ids and token types of the batch, after n_virtual prompt-tuning rows (mask 1, type 0).
 * PEFT then feeds inputs_embeds: positions 0..T−1, and RoBERTa's pad+1..pad+T whatever the padding. */
static ft_status setup_inputs(const ft_model *m, const ft_batch *b, enc_acts *a, ft_arena *arena) {
    const int T = a->T, nv = m->n_virtual;
    const int32_t pad = m->cfg.pad_token_id;
    const bool roberta = m->cfg.enc == FT_ENC_ROBERTA;
    AL(a->ids, a->N);
    AL(a->mask, a->N);
    AL(a->pos, a->N);
    AL(a->tt, a->N);
    for (int r = 0; r < a->B; r++) {
        int32_t seen = 0;
        for (int t = 0; t < T; t++) {
            const int64_t i = (int64_t)r * T + t, src = (int64_t)r * b->T + (t - nv);
            const bool virt = t < nv;
            a->ids[i] = virt ? 0 : b->input_ids[src];
            a->mask[i] = virt || !b->mask ? 1 : b->mask[src];
            a->tt[i] = virt || !b->type_ids ? 0 : b->type_ids[src];
            if (roberta && nv > 0)
                a->pos[i] = pad + 1 + t;
            else if (roberta) /* from the ids, not the attention mask, as HF does */
                a->pos[i] = a->ids[i] != pad ? pad + ++seen : pad;
            else
                a->pos[i] = t;
        }
    }
    return FT_OK;
}

/* The dense layer of the head: BERT's pooler (a base weight), RoBERTa classifier.dense, DistilBERT
 * pre_classifier; its activation is tanh, except DistilBERT's ReLU. */
static int head_dense_w(const ft_model *m) {
    return m->cfg.enc == FT_ENC_BERT ? m->pool_w : m->head_w;
}
static int head_dense_b(const ft_model *m) {
    return m->cfg.enc == FT_ENC_BERT ? m->pool_b : m->head_b;
}

static ft_status head_fwd(const ft_model *m, enc_acts *a, ft_arena *arena) {
    const ft_model_config *c = &m->cfg;
    const int B = a->B;
    const int64_t C = c->hidden, K = a->K;
    const bool roberta = c->enc == FT_ENC_ROBERTA, distil = c->enc == FT_ENC_DISTILBERT;
    AL(a->cls_in, (int64_t)B * C);
    AL(a->pre, (int64_t)B * C);
    AL(a->hid, (int64_t)B * C);
    AL(a->logits, (int64_t)B * K);
    for (int r = 0; r < B; r++) /* the first token: [CLS] / <s> */
        memcpy(a->cls_in + (int64_t)r * C, a->x_final + (int64_t)r * a->T * C, (size_t)C * sizeof(float));
    const int layer = c->n_layers;
    if (roberta && dropping(a, c->cls_dropout))
        ft_dropout_rows_forward(a->cls_in, a->cls_in, B, C, c->cls_dropout, a->opts.seed,
                                drop_stream(&a->opts, layer, 1), ft_model_drop_examples(&a->opts));
    ft_linear_forward(a->pre, a->cls_in, W(head_dense_w(m)), W(head_dense_b(m)), B, C, C, false);
    for (int64_t j = 0; j < B * C; j++)
        a->hid[j] = distil ? (a->pre[j] > 0.0f ? a->pre[j] : 0.0f) : tanhf(a->pre[j]);
    a->hid_d = a->hid;
    if (dropping(a, c->cls_dropout)) { /* classifier_dropout (or hidden_dropout_prob), DistilBERT
                                          seq_classif_dropout */
        AL(a->hid_d, (int64_t)B * C);
        ft_dropout_rows_forward(a->hid_d, a->hid, B, C, c->cls_dropout, a->opts.seed,
                                drop_stream(&a->opts, layer, 2), ft_model_drop_examples(&a->opts));
    }
    ft_linear_forward(a->logits, a->hid_d, W(m->score), W(m->score_b), B, C, K, false);
    return FT_OK;
}

/* The QA head after the last block: logits [N,2] (copied when kept) and the loss. */
static ft_status qa_forward_end(const ft_model *m, const ft_batch *b, enc_acts *a, ft_arena *arena,
                                ft_acts **out, double *loss, int64_t *count) {
    double sum = 0.0;
    int64_t cnt = 0;
    FT_TRY(ft_model_qa_head_forward(m, b, &a->opts, a->x_final, a->B, a->T, arena, &a->qa, &sum, &cnt));
    a->K = 2;
    if (a->opts.keep_logits) {
        AL(a->logits_copy, a->N * 2);
        memcpy(a->logits_copy, a->qa.logits, (size_t)(a->N * 2) * sizeof(float));
    }
    a->count = cnt;
    *out = (ft_acts *)(void *)a;
    if (count)
        *count = cnt;
    return ft_model_mean_loss(&a->opts, sum, cnt, "the batch has no answer position inside the sequence",
                              loss);
}

/* The token head's dropout: classifier_dropout (or hidden_dropout_prob); DistilBERT's `dropout` (HF
 * DistilBertForTokenClassification, not seq_classif_dropout). */
static float tok_dropout(const ft_model *m) {
    return m->cfg.enc == FT_ENC_DISTILBERT ? m->cfg.resid_dropout : m->cfg.cls_dropout;
}

/* Token head: logits [N,K] = drop(x_final) Wᵀ + b on every position. */
static ft_status tok_head_fwd(const ft_model *m, enc_acts *a, ft_arena *arena) {
    const int64_t N = a->N, C = m->cfg.hidden, K = a->K;
    const float p = tok_dropout(m);
    a->tok_in = a->x_final;
    if (dropping(a, p)) {
        AL(a->tok_in, N * C);
        ft_dropout_rows_forward(a->tok_in, a->x_final, N, C, p, a->opts.seed,
                                drop_stream(&a->opts, m->cfg.n_layers, 3), ft_model_drop_rows(&a->opts));
    }
    AL(a->logits, N * K);
    ft_linear_forward(a->logits, a->tok_in, W(m->score), W(m->score_b), N, C, K, false);
    return FT_OK;
}

/* Its summed CE over the batch's per-token labels (HF CrossEntropyLoss(ignore_index=−100), the mean taken by
 * the caller); labels outside [0, K) other than −100 fail naming row and column. */
static ft_status tok_head_loss(const ft_model *m, const ft_batch *b, enc_acts *a, ft_arena *arena,
                               double *sum, int64_t *cnt) {
    if (!b->labels)
        return ft_fail(FT_ERR_ARG, "the batch has no per-token labels for the token-classification head");
    AL(a->tok_lab, a->N);
    for (int r = 0; r < a->B; r++)
        for (int t = 0; t < a->T; t++) {
            const int32_t y = b->labels[(int64_t)r * b->T + t];
            if (y != -100 && (y < 0 || y >= a->K))
                return ft_fail(FT_ERR_RANGE,
                               "labels[%d][%d] = %d is outside the %lld token classes and not -100", r, t, y,
                               (long long)a->K);
            a->tok_lab[(int64_t)r * a->T + t] = y;
        }
    *sum = ft_cross_entropy_forward(a->logits, a->tok_lab, a->N, a->K, cnt);
    (void)m;
    return FT_OK;
}

/* The masked-LM head on the rows that carry a label (every row with keep_logits): BERT cls.predictions,
 * RoBERTa lm_head, DistilBERT vocab_*: logits = LN(act(D·h + d))·Eᵀ + bias with E the word embeddings (tied);
 * act = hidden_act (BERT) / activation (DistilBERT), RoBERTa's lm_head always erf GELU. No dropout. */
static ft_act mlm_act(const ft_model *m) {
    return m->cfg.enc == FT_ENC_ROBERTA ? FT_ACT_GELU_ERF : m->cfg.act;
}

static ft_status mlm_fwd(const ft_model *m, const ft_batch *b, enc_acts *a, ft_arena *arena) {
    const ft_model_config *c = &m->cfg;
    const int64_t C = c->hidden, V = c->vocab_size, N = a->N;
    const int T = a->T, nv = m->n_virtual;
    int64_t S = 0;
    for (int pass = 0; pass < 2; pass++) { /* count, then fill */
        int64_t k = 0;
        for (int64_t i = 0; i < N; i++) {
            const int r = (int)(i / T), t = (int)(i % T);
            const int32_t lab = t < nv || !b->labels ? -100 : b->labels[(int64_t)r * b->T + (t - nv)];
            if (!a->opts.keep_logits && lab == -100)
                continue;
            if (pass) {
                a->mrow[k] = i;
                a->mtgt[k] = lab;
            }
            k++;
        }
        if (!pass) {
            S = k;
            AL(a->mrow, S > 0 ? S : 1);
            AL(a->mtgt, S > 0 ? S : 1);
        }
    }
    a->S = S;
    a->K = V;
    AL(a->m_in, S * C + 1);
    AL(a->m_pre, S * C + 1);
    AL(a->m_act, S * C + 1);
    AL(a->m_norm, S * C + 1);
    AL(a->m_mean, S + 1);
    AL(a->m_rstd, S + 1);
    AL(a->logits, S * V + 1);
    for (int64_t k = 0; k < S; k++)
        memcpy(a->m_in + k * C, a->x_final + a->mrow[k] * C, (size_t)C * sizeof(float));
    ft_linear_forward(a->m_pre, a->m_in, W(m->mlm_w), W(m->mlm_b), S, C, C, false);
    ft_act_forward(mlm_act(m), a->m_act, a->m_pre, S * C);
    ft_layernorm_forward(a->m_norm, a->m_mean, a->m_rstd, a->m_act, W(m->mlm_ln_w), W(m->mlm_ln_b), S, C,
                         c->norm_eps);
    ft_linear_forward(a->logits, a->m_norm, W(m->wte), W(m->mlm_bias), S, C, V, false);
    return FT_OK;
}

static ft_status enc_forward(ft_model *m, const ft_batch *b, const ft_fwd_opts *o, ft_arena *arena,
                             ft_acts **out, double *loss, int64_t *count) {
    if (count)
        *count = 0;
    const ft_model_config *c = &m->cfg;
    if (m->task == FT_TASK_CAUSAL_LM)
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "the %s encoder has no causal language-model head: use task masked_lm, classification "
                       "or regression",
                       c->model_type);
    const bool mlm = m->task == FT_TASK_MASKED_LM;
    if (mlm && !b->labels && !o->no_loss)
        return ft_fail(FT_ERR_ARG,
                       "the batch has no masked-LM labels (labels [B][T], -100 where not masked)");
    if (o->label_smoothing > 0.0f && !o->no_loss)
        return ft_fail(FT_ERR_UNSUPPORTED, "label smoothing on the %s encoder is not supported yet",
                       c->model_type);
    if (m->task == FT_TASK_TOKEN_CLS && m->n_virtual > 0)
        return ft_fail(FT_ERR_UNSUPPORTED, "prompt tuning with a token-classification head is not supported "
                                           "(the virtual tokens would need labels)");
    FT_TRY(ft_batch_validate(m, b));
    FT_TRY(ft_model_sync_bf16(m));
    if (m->task == FT_TASK_QA && m->n_virtual > 0)
        return ft_fail(FT_ERR_UNSUPPORTED, "prompt tuning with the question-answering head is not supported");
    FT_TRY(ft_model_check_targets(m, b, o));
    const int B = b->B, T = b->T + m->n_virtual;
    const int off = c->enc == FT_ENC_ROBERTA ? c->pad_token_id + 1 : 0; /* RoBERTa's first position */
    if (T + off > c->max_pos)
        return ft_fail(FT_ERR_RANGE,
                       "sequence length %d + %d virtual tokens exceeds the model's %d positions", b->T,
                       m->n_virtual, c->max_pos - off);
    const int64_t N = (int64_t)B * T, C = c->hidden;
    enc_acts *a;
    AL(a, 1);
    memset(a, 0, sizeof *a);
    a->fam = &ft_encoder_family;
    a->B = B;
    a->T = T;
    a->N = N;
    a->K = m->n_labels;
    a->opts = *o;
    a->opts.drop_T = T;
    AL(a->L, c->n_layers);
    memset(a->L, 0, (size_t)c->n_layers * sizeof *a->L);
    FT_TRY(setup_inputs(m, b, a, arena));

    /* embeddings: word + position (+ token type), LayerNorm, dropout */
    AL(a->e, N * C);
    AL(a->e_mean, N);
    AL(a->e_rstd, N);
    ft_embedding_forward(a->e, W(m->wte), a->ids, W(m->wpe), a->pos, N, C);
    for (int r = 0; m->prompt >= 0 && r < B; r++) /* virtual rows: the prompt instead of a word */
        for (int t = 0; t < m->n_virtual; t++) {
            const int64_t i = (int64_t)r * T + t;
            float *er = a->e + i * C;
            const float *pr = W(m->prompt) + (int64_t)t * C, *wp = W(m->wpe) + (int64_t)a->pos[i] * C;
            for (int64_t j = 0; j < C; j++)
                er[j] = pr[j] + wp[j];
        }
    if (m->tte >= 0)
        for (int64_t i = 0; i < N; i++)
            ft_add_inplace(a->e + i * C, W(m->tte) + (int64_t)a->tt[i] * C, C);
    ft_model_emb_lora(m, a->ids, a->pos, N, a->e, NULL);
    float *x;
    AL(x, N * C);
    ft_layernorm_forward(x, a->e_mean, a->e_rstd, a->e, W(m->eln_w), W(m->eln_b), N, C, c->norm_eps);
    if (dropping(a, c->embd_dropout))
        ft_dropout_rows_forward(x, x, N, C, c->embd_dropout, o->seed, drop_stream(o, -1, 0),
                                ft_model_drop_rows(&a->opts));

    FT_TRY(ft_model_blocks_forward(m, o->checkpoint, N, layer_fwd, a, a->L, &x, arena));
    a->x_final = x;
    if (m->task == FT_TASK_QA)
        return qa_forward_end(m, b, a, arena, out, loss, count);
    const bool tok = m->task == FT_TASK_TOKEN_CLS;
    if (mlm)
        FT_TRY(mlm_fwd(m, b, a, arena));
    else
        FT_TRY(tok ? tok_head_fwd(m, a, arena) : head_fwd(m, a, arena));
    const int64_t K = a->K, rows = mlm ? a->S : tok ? N : B;
    if (o->keep_logits) {
        AL(a->logits_copy, rows * K + 1);
        memcpy(a->logits_copy, a->logits, (size_t)(rows * K) * sizeof(float));
    }
    double sum = 0.0;
    int64_t cnt = 0;
    if (!o->no_loss && tok)
        FT_TRY(tok_head_loss(m, b, a, arena, &sum, &cnt));
    else if (!o->no_loss && mlm)
        sum = ft_cross_entropy_forward(a->logits, a->mtgt, a->S, K, &cnt);
    else if (!o->no_loss)
        FT_TRY(ft_model_head_loss(m, b, a->logits, K, arena, &a->cls, &a->reg, &sum, &cnt));
    a->count = cnt;
    *out = (ft_acts *)(void *)a;
    if (count)
        *count = cnt;
    return ft_model_mean_loss(o, sum, cnt,
                              mlm ? "the batch has no masked token (every label is -100)"
                                  : "the batch has no target (every class label is -100)",
                              loss);
}

/* d(token head) → d(x_final) [N,C] (written). */
static ft_status tok_head_bwd(ft_model *m, enc_acts *a, float *dx, float loss_scale, ft_arena *arena) {
    const int64_t N = a->N, C = m->cfg.hidden, K = a->K;
    float *dlog;
    AL(dlog, N * K);
    ft_cross_entropy_backward(dlog, a->logits, a->tok_lab, N, K, loss_scale / (float)a->count);
    float *din = dx;
    if (a->tok_in != a->x_final)
        ZA(din, N * C);
    else
        ZERO(dx, N * C);
    ft_linear_backward(din, G(m->score), G(m->score_b), dlog, a->tok_in, W(m->score), N, C, K, false);
    if (din != dx) {
        ZERO(dx, N * C);
        ft_dropout_rows_backward(dx, din, N, C, tok_dropout(m), a->opts.seed,
                                 drop_stream(&a->opts, m->cfg.n_layers, 3), ft_model_drop_rows(&a->opts));
    }
    return FT_OK;
}

static const float *enc_logits(const ft_acts *acts, int64_t *rows, int64_t *cols) {
    const enc_acts *a = (const enc_acts *)(const void *)acts;
    if (rows) /* masked LM: the S head rows; QA: one (start, end) row per token; a token classifier's are
                 [N = B·T, K] */
        *rows = a->mrow ? a->S : a->qa.logits || a->tok_in ? a->N : a->B;
    if (cols)
        *cols = a->K;
    return a->logits_copy;
}

static int enc_seq_len(const ft_acts *acts) {
    return ((const enc_acts *)(const void *)acts)->T;
}

/* d(head) → d(x_final) rows 0 (written into dx, zero elsewhere). */
static ft_status head_bwd(ft_model *m, enc_acts *a, float *dx, float loss_scale, ft_arena *arena) {
    const ft_model_config *c = &m->cfg;
    const int B = a->B;
    const int64_t C = c->hidden, K = a->K;
    const int layer = c->n_layers;
    float *dlog, *dh, *dpre, *din;
    ZA(dlog, (int64_t)B * K);
    ZA(dh, (int64_t)B * C);
    ZA(dpre, (int64_t)B * C);
    ZA(din, (int64_t)B * C);
    if (m->task == FT_TASK_SEQ_CLS)
        ft_cross_entropy_backward(dlog, a->logits, a->cls, B, K, loss_scale / (float)a->count);
    else
        for (int r = 0; r < B; r++) /* d/dp mean (p − y)² = 2(p − y)/B */
            dlog[r] = 2.0f * (a->logits[r] - a->reg[r]) * loss_scale / (float)a->count;
    ft_linear_backward(dh, G(m->score), G(m->score_b), dlog, a->hid_d, W(m->score), B, C, K, false);
    if (a->hid_d != a->hid) {
        ft_dropout_rows_backward(dpre, dh, B, C, c->cls_dropout, a->opts.seed,
                                 drop_stream(&a->opts, layer, 2), ft_model_drop_examples(&a->opts));
        memcpy(dh, dpre, (size_t)(B * C) * sizeof(float));
    }
    const bool distil = c->enc == FT_ENC_DISTILBERT;
    for (int64_t j = 0; j < B * C; j++) /* tanh' = 1 − tanh², relu' = [pre > 0] */
        dpre[j] = distil ? (a->pre[j] > 0.0f ? dh[j] : 0.0f) : dh[j] * (1.0f - a->hid[j] * a->hid[j]);
    ft_linear_backward(din, G(head_dense_w(m)), G(head_dense_b(m)), dpre, a->cls_in, W(head_dense_w(m)), B, C,
                       C, false);
    if (c->enc == FT_ENC_ROBERTA && dropping(a, c->cls_dropout)) {
        ZERO(dh, B * C);
        ft_dropout_rows_backward(dh, din, B, C, c->cls_dropout, a->opts.seed, drop_stream(&a->opts, layer, 1),
                                 ft_model_drop_examples(&a->opts));
        din = dh;
    }
    ZERO(dx, a->N * C);
    for (int r = 0; r < B; r++)
        memcpy(dx + (int64_t)r * a->T * C, din + (int64_t)r * C, (size_t)C * sizeof(float));
    return FT_OK;
}

/* d(masked-LM head) → dx [N,C] (written: the selected rows, zero elsewhere); the tied word embeddings get
 * the decoder's gradient here, the lookup's later. */
static ft_status mlm_bwd(ft_model *m, enc_acts *a, float *dx, float loss_scale, ft_arena *arena) {
    const ft_model_config *c = &m->cfg;
    const int64_t C = c->hidden, V = a->K, S = a->S;
    float *dlog, *dnorm, *dact, *dpre, *din;
    ZA(dlog, S * V + 1);
    ZA(dnorm, S * C + 1);
    ZA(dact, S * C + 1);
    ZA(dpre, S * C + 1);
    ZA(din, S * C + 1);
    ft_cross_entropy_backward(dlog, a->logits, a->mtgt, S, V, loss_scale / (float)a->count);
    ft_linear_backward(dnorm, G(m->wte), G(m->mlm_bias), dlog, a->m_norm, W(m->wte), S, C, V, false);
    ft_layernorm_backward(dact, G(m->mlm_ln_w), G(m->mlm_ln_b), dnorm, a->m_act, W(m->mlm_ln_w), a->m_mean,
                          a->m_rstd, S, C);
    ft_act_backward(mlm_act(m), dpre, dact, a->m_pre, S * C);
    ft_linear_backward(din, G(m->mlm_w), G(m->mlm_b), dpre, a->m_in, W(m->mlm_w), S, C, C, false);
    ZERO(dx, a->N * C);
    for (int64_t k = 0; k < S; k++)
        ft_add_inplace(dx + a->mrow[k] * C, din + k * C, C);
    return FT_OK;
}

static bool below_trains(const ft_model *m) {
    return G(m->wte) || G(m->wpe) || G(m->tte) || G(m->eln_w) || G(m->eln_b) || G(m->prompt) ||
           ft_model_emb_lora_trains(m);
}

static ft_status enc_backward(ft_model *m, ft_acts *acts, ft_arena *arena, float loss_scale) {
    enc_acts *a = (enc_acts *)(void *)acts;
    const ft_model_config *c = &m->cfg;
    const int64_t N = a->N, C = c->hidden;
    ft_block_grads g;
    FT_TRY(ft_model_block_grads(m, &a->opts, a->count, N, &g, arena));
    float *dres = g.dres, *ds = g.ds, *dh = g.dh, *dbuf = g.att[0];
    if (m->task == FT_TASK_QA)
        FT_TRY(ft_model_qa_head_backward(m, &a->opts, &a->qa, dres, loss_scale, arena));
    else if (m->task == FT_TASK_TOKEN_CLS)
        FT_TRY(tok_head_bwd(m, a, dres, loss_scale, arena));
    else if (a->mrow)
        FT_TRY(mlm_bwd(m, a, dres, loss_scale, arena));
    else
        FT_TRY(head_bwd(m, a, dres, loss_scale, arena));

    const bool need_dx0 = below_trains(m);
    for (int l = c->n_layers - 1; l >= 0; l--) {
        const ft_layer_idx *P = &m->layers[l];
        enc_layer *L = &a->L[l];
        const size_t mark = ft_arena_mark(arena);
        FT_TRY(ft_model_block_recompute(m, a->opts.checkpoint, N, layer_fwd, a, a->L, l, arena));
        /* LN2: dres = d(x_out) → ds = d(s2) = d(h) (residual) and d(mo) */
        ZERO(ds, N * C);
        ft_layernorm_backward(ds, G(P->ln2_w), G(P->ln2_b), dres, L->s2, W(P->ln2_w), L->m2, L->r2, N, C);
        memcpy(dh, ds, (size_t)(N * C) * sizeof(float));
        FT_TRY(ft_model_mlp_backward(m, &a->opts, l, N, L->h1, L, ds, dh, &g, arena));
        /* LN1: dh → ds = d(s1) = d(x_in) (residual) and d(o) */
        ZERO(ds, N * C);
        ft_layernorm_backward(ds, G(P->ln1_w), G(P->ln1_b), dh, L->s1, W(P->ln1_w), L->m1, L->r1, N, C);
        memcpy(dres, ds, (size_t)(N * C) * sizeof(float));
        float *dx_in =
            l == 0 && !need_dx0 ? NULL : dres; /* the first block's input feeds only the embeddings */
        FT_TRY(ft_model_attn_backward(m, &a->opts, l, a->B, a->T, a->mask, L->x_in, &L->at, L->lc, &L->ad[0], ds,
                                      dx_in, g.att, arena));
        ft_arena_rewind(arena, mark);
    }
    if (!need_dx0)
        return FT_OK;
    /* embeddings: dropout, LayerNorm, the tables (padding rows get no gradient) */
    const float *dx0 = dres;
    if (dropping(a, c->embd_dropout)) {
        ZERO(dbuf, N * C);
        ft_dropout_rows_backward(dbuf, dres, N, C, c->embd_dropout, a->opts.seed,
                                 drop_stream(&a->opts, -1, 0), ft_model_drop_rows(&a->opts));
        dx0 = dbuf;
    }
    ZERO(ds, N * C);
    ft_layernorm_backward(ds, G(m->eln_w), G(m->eln_b), dx0, a->e, W(m->eln_w), a->e_mean, a->e_rstd, N, C);
    ft_model_emb_lora(m, a->ids, a->pos, N, NULL, ds); /* LoRA and prompt tuning never coexist */
    if (G(m->wpe))
        ft_embedding_backward(G(m->wpe), ds, a->pos, N, C, c->enc == FT_ENC_ROBERTA ? c->pad_token_id : -1);
    if (G(m->tte))
        ft_embedding_backward(G(m->tte), ds, a->tt, N, C, -1);
    for (int r = 0; m->prompt >= 0 && r < a->B; r++) /* virtual rows feed the prompt, not the word table */
        for (int t = 0; t < m->n_virtual; t++) {
            float *dr = ds + ((int64_t)r * a->T + t) * C;
            if (G(m->prompt))
                ft_add_inplace(G(m->prompt) + (int64_t)t * C, dr, C);
            ZERO(dr, C);
        }
    if (G(m->wte))
        ft_embedding_backward(G(m->wte), ds, a->ids, N, C, c->pad_token_id);
    return FT_OK;
}

const ft_family ft_encoder_family = {enc_forward, enc_backward, enc_act_bytes, enc_logits, enc_seq_len};
