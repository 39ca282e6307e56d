#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/stream.h"
#include "train/memory.h"
#include "train/trainer.h"

void ft_mem_estimate_run(const ft_model *m, int train_batch, int eval_batch, int seq_len, int optim_slots,
                         bool checkpoint, float label_smoothing, ft_mem_estimate *e) {
    memset(e, 0, sizeof *e);
    for (int i = 0; i < m->n_params; i++) {
        const ft_param *p = &m->params[i];
        size_t b = (size_t)p->numel * sizeof(float);
        if (p->data16)
            e->weights_bf16 += (size_t)p->numel * sizeof(uint16_t);
        if (p->half)
            e->weights_half += (size_t)p->numel * sizeof(uint16_t);
        else if (p->q8)
            e->weights_int8 += ft_param_q8_size(p);
        else if (p->owned)
            e->weights_owned += b;
        else if (!(p->data16 && !p->trainable)) /* a frozen mapped tensor with a bf16 copy is released */
            e->weights_mapped += b;
        if (p->trainable) {
            e->grads += b;
            e->optim += (size_t)optim_slots * b;
        }
    }
    e->acts = ft_train_act_bytes(m, train_batch, eval_batch, seq_len, checkpoint, label_smoothing) + ((size_t)1 << 20);
    e->total = e->weights_mapped + e->weights_half + e->weights_int8 + e->weights_owned + e->weights_bf16 +
               e->grads + e->optim + e->acts;
}

/* The estimate with the base streamed: the layers' mapped bytes out, two slots in. */
static ft_mem_estimate streamed_estimate(const ft_model *m, ft_mem_estimate e, size_t slot, size_t streamed) {
    bool q8 = false;
    for (int i = 0; i < m->n_params && !q8; i++)
        q8 = m->params[i].q8_mapped;
    size_t *from = q8 ? &e.weights_int8 : &e.weights_half;
    streamed = streamed < *from ? streamed : *from;
    *from -= streamed;
    e.stream_slots = 2 * slot;
    e.total = e.total - streamed + e.stream_slots;
    return e;
}

static double gib(size_t b) { return (double)b / (1024.0 * 1024.0 * 1024.0); }

void ft_mem_estimate_format(const ft_mem_estimate *e, char *buf, size_t n) {
    char slots[64] = "";
    if (e->stream_slots)
        snprintf(slots, sizeof slots, ", %.2f stream slots", gib(e->stream_slots));
    snprintf(
        buf, n,
        "memory estimate: %.2f GiB = weights %.2f (%.2f fp32 mapped in place, %.2f bf16/f16 mapped in place, "
        "%.2f int8, %.2f bf16 copies%s) + gradients %.2f + optimizer %.2f + activations %.2f",
        gib(e->total),
        gib(e->weights_mapped + e->weights_half + e->weights_int8 + e->weights_owned + e->weights_bf16 +
            e->stream_slots),
        gib(e->weights_mapped), gib(e->weights_half), gib(e->weights_int8), gib(e->weights_bf16), slots,
        gib(e->grads), gib(e->optim), gib(e->acts));
}

static ft_status tristate(const char *key, const char *s, ft_ckpt_mode *out) {
    static const char *const T[] = {"true", "yes", "on", "1", "True", "TRUE"};
    static const char *const F[] = {"false", "no", "off", "0", "False", "FALSE"};
    for (size_t i = 0; i < sizeof T / sizeof *T; i++) {
        if (!strcmp(s, T[i])) {
            *out = FT_CKPT_ON;
            return FT_OK;
        }
        if (!strcmp(s, F[i])) {
            *out = FT_CKPT_OFF;
            return FT_OK;
        }
    }
    if (!strcmp(s, "auto")) {
        *out = FT_CKPT_AUTO;
        return FT_OK;
    }
    return ft_fail(FT_ERR_CONFIG, "%s: expected true, false or auto, got '%s'", key, s);
}

ft_status ft_ckpt_mode_parse(const char *s, ft_ckpt_mode *out) {
    return tristate("train.activation_checkpointing", s, out);
}

ft_status ft_stream_mode_parse(const char *s, ft_ckpt_mode *out) {
    return tristate("train.stream_base", s, out);
}

typedef struct {
    const char *name;
    size_t bytes;
} mem_item;

static int item_cmp(const void *a, const void *b) {
    const size_t x = ((const mem_item *)a)->bytes, y = ((const mem_item *)b)->bytes;
    return (x < y) - (x > y);
}

/* The plan's items, biggest first; returns their number. */
static int plan_items(const ft_mem_plan *p, mem_item *it) {
    const ft_mem_estimate *e = &p->e;
    int n = 0;
    it[n++] = (mem_item){"base weights bf16/f16 mapped in place", e->weights_half};
    it[n++] = (mem_item){"fp32 weights mapped in place", e->weights_mapped};
    it[n++] = (mem_item){"base weights quantized to int8", e->weights_int8};
    it[n++] = (mem_item){"fp32 weights owned (converted, trained, attached)", e->weights_owned};
    it[n++] = (mem_item){"bf16 copies (precision bf16)", e->weights_bf16};
    it[n++] = (mem_item){"two layer slots of the streamed base", e->stream_slots};
    it[n++] = (mem_item){"gradients", e->grads};
    it[n++] = (mem_item){"optimizer state", e->optim};
    it[n++] = (mem_item){p->checkpoint ? "activations (checkpointing on)" : "activations (checkpointing off)",
                         e->acts};
    qsort(it, (size_t)n, sizeof *it, item_cmp);
    return n;
}

static double mib(size_t b) {
    return (double)b / (1024.0 * 1024.0);
}

void ft_mem_plan_format(const ft_mem_plan *p, char *buf, size_t n) {
    mem_item it[10];
    const int k = plan_items(p, it);
    size_t o =
        (size_t)snprintf(buf, n, "memory plan: %.1f MiB of %.1f MiB (%s)%s\n", mib(p->e.total), mib(p->limit),
                         p->limit_src ? p->limit_src : "unknown", p->fits ? "" : ": does NOT fit");
    for (int i = 0; i < k && o < n; i++)
        if (it[i].bytes)
            o += (size_t)snprintf(buf + o, n - o, "  %-52s %10.1f MiB\n", it[i].name, mib(it[i].bytes));
    if (o < n)
        o += (size_t)snprintf(
            buf + o, n - o,
            "  activations without / with checkpointing %.1f / %.1f MiB (LM head chunk %.1f MiB "
            "inside); checkpointing %s%s\n",
            mib(p->acts_full), mib(p->acts_ckpt), mib(p->logits), p->checkpoint ? "on" : "off",
            p->auto_on ? " (auto: needed to fit)" : "");
    if (o < n && p->stream_slot)
        o += (size_t)snprintf(
            buf + o, n - o,
            "  base streamed layer by layer: %.1f MiB of mapped layers read ahead into 2 slots of "
            "%.1f MiB; streaming %s%s\n",
            mib(p->streamed), mib(p->stream_slot), p->stream ? "on" : "off",
            p->stream_auto ? " (auto: needed to fit)" : "");
    if (o < n)
        snprintf(buf + o, n - o,
                 "  KV cache for generating seq_len positions: %.1f MiB per sequence (not part of "
                 "training)\n",
                 mib(p->kv_cache));
}

ft_status ft_mem_plan_run(const ft_model *m, int train_batch, int eval_batch, int seq_len, int optim_slots,
                          ft_ckpt_mode mode, ft_ckpt_mode stream, float label_smoothing, int zero_world,
                          ft_mem_plan *p) {
    memset(p, 0, sizeof *p);
    ft_mem_estimate est[2][2]; /* [checkpointing][streaming] */
    ft_model_stream_sizes(m, &p->stream_slot, &p->streamed);
    for (int ck = 0; ck < 2; ck++) {
        ft_mem_estimate *e = &est[ck][0];
        ft_mem_estimate_run(m, train_batch, eval_batch, seq_len, optim_slots, ck, label_smoothing, e);
        if (zero_world > 1) { /* ZeRO-1: this rank's slice of the state */
            e->total -= e->optim - e->optim / (size_t)zero_world;
            e->optim /= (size_t)zero_world;
        }
        est[ck][1] = streamed_estimate(m, *e, p->stream_slot, p->streamed);
    }
    p->acts_full = est[0][0].acts;
    p->acts_ckpt = est[1][0].acts;
    const ft_model_config *c = &m->cfg;
    const size_t N = (size_t)train_batch * (size_t)(seq_len + m->n_virtual);
    if (m->task == FT_TASK_CAUSAL_LM && c->vocab_size > 0)
        p->logits = (N < 256 ? N : 256) * (size_t)c->vocab_size * sizeof(float);
    if (!ft_model_is_encoder(m) && !ft_model_is_vit(m))
        p->kv_cache = 2 * (size_t)c->n_layers * (size_t)(seq_len + m->n_virtual) * (size_t)c->n_kv_heads *
                      (size_t)c->head_dim * sizeof(float);
    p->limit = ft_mem_limit(&p->limit_src);
    /* the choices allowed, cheapest first: no checkpointing before checkpointing, the mapped base before
     * the streamed one (which needs the disk to keep up); the first that fits, else the smallest */
    static const int order[4][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
    int pick = -1, last = -1;
    for (int i = 0; i < 4; i++) {
        const int ck = order[i][0], st = order[i][1];
        if ((mode == FT_CKPT_ON && !ck) || (mode == FT_CKPT_OFF && ck))
            continue;
        if ((stream == FT_CKPT_ON && !st && p->stream_slot) ||
            ((stream == FT_CKPT_OFF || !p->stream_slot) && st))
            continue;
        last = i;
        if (pick < 0 && (p->limit == 0 || est[ck][st].total <= p->limit))
            pick = i;
    }
    if (pick < 0) /* nothing fits: the smallest, for the message */
        pick = last;
    p->checkpoint = order[pick][0];
    p->stream = order[pick][1];
    p->e = est[p->checkpoint][p->stream];
    p->fits = p->limit == 0 || p->e.total <= p->limit;
    p->auto_on = mode == FT_CKPT_AUTO && p->checkpoint && p->fits; /* turned on by auto to fit */
    p->stream_auto = stream == FT_CKPT_AUTO && p->stream && p->fits;
    if (p->fits)
        return FT_OK;
    const ft_mem_estimate off = est[0][p->stream], on = est[1][p->stream];
    mem_item it[10];
    plan_items(p, it);
    char help[400];
    size_t o = 0;
    help[0] = 0;
    if (!p->checkpoint && on.total < off.total)
        o += (size_t)snprintf(help + o, sizeof help - o,
                              "train.activation_checkpointing: true (or auto) saves %.2f GiB; ",
                              gib(off.total - on.total));
    if (!p->stream && p->stream_slot && o < sizeof help)
        o +=
            (size_t)snprintf(help + o, sizeof help - o,
                             "train.stream_base: true (or auto) takes %.2f GiB of mapped layers off for %.2f "
                             "GiB of slots; ",
                             gib(p->streamed), gib(2 * p->stream_slot));
    if (p->e.weights_owned > p->e.weights_half && o < sizeof help)
        o += (size_t)snprintf(help + o, sizeof help - o,
                              "a PEFT method (LoRA) and a bf16 checkpoint with train.base_dtype auto; ");
    else if (p->e.weights_half > p->e.weights_int8 && o < sizeof help)
        o += (size_t)snprintf(help + o, sizeof help - o,
                              "train.base_dtype int8 (about half the bf16 base's bytes); ");
    if (o < sizeof help)
        snprintf(help + o, sizeof help - o, "lower train.batch_size or train.seq_len");
    return ft_fail(
        FT_ERR_NOMEM,
        "this run needs about %.2f GiB but %.2f GiB are available (%s): biggest %s %.2f GiB, %s %.2f "
        "GiB, %s %.2f GiB; to fit: %s",
        gib(p->e.total), gib(p->limit), p->limit_src, it[0].name, gib(it[0].bytes), it[1].name,
        gib(it[1].bytes), it[2].name, gib(it[2].bytes), help);
}
