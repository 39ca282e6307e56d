#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static double gib(size_t b) { return (double)b / (1024.0 * 1024.0 * 1024.0); }

void ft_mem_estimate_format(const ft_mem_estimate *e, char *buf, size_t n) {
    snprintf(
        buf, n,
        "memory estimate: %.2f GiB = weights %.2f (%.2f fp32 mapped in place, %.2f bf16/f16 mapped in place, "
        "%.2f int8, %.2f bf16 copies) + gradients %.2f + optimizer %.2f + activations %.2f",
        gib(e->total),
        gib(e->weights_mapped + e->weights_half + e->weights_int8 + e->weights_owned + e->weights_bf16),
        gib(e->weights_mapped), gib(e->weights_half), gib(e->weights_int8), gib(e->weights_bf16),
        gib(e->grads), gib(e->optim), gib(e->acts));
}

ft_status ft_ckpt_mode_parse(const char *s, ft_ckpt_mode *out) {
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
    return ft_fail(FT_ERR_CONFIG, "train.activation_checkpointing: expected true, false or auto, got '%s'",
                   s);
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
    mem_item it[9];
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
    if (o < n)
        snprintf(buf + o, n - o,
                 "  KV cache for generating seq_len positions: %.1f MiB per sequence (not part of "
                 "training)\n",
                 mib(p->kv_cache));
}

ft_status ft_mem_plan_run(const ft_model *m, int train_batch, int eval_batch, int seq_len, int optim_slots,
                          ft_ckpt_mode mode, float label_smoothing, int zero_world, ft_mem_plan *p) {
    memset(p, 0, sizeof *p);
    ft_mem_estimate off, on;
    ft_mem_estimate_run(m, train_batch, eval_batch, seq_len, optim_slots, false, label_smoothing, &off);
    ft_mem_estimate_run(m, train_batch, eval_batch, seq_len, optim_slots, true, label_smoothing, &on);
    if (zero_world > 1) { /* ZeRO-1: this rank's slice of the state */
        off.total -= off.optim - off.optim / (size_t)zero_world;
        off.optim /= (size_t)zero_world;
        on.total -= on.optim - on.optim / (size_t)zero_world;
        on.optim /= (size_t)zero_world;
    }
    p->acts_full = off.acts;
    p->acts_ckpt = on.acts;
    const ft_model_config *c = &m->cfg;
    const size_t N = (size_t)train_batch * (size_t)(seq_len + m->n_virtual);
    if (m->task == FT_TASK_CAUSAL_LM && c->vocab_size > 0)
        p->logits = (N < 256 ? N : 256) * (size_t)c->vocab_size * sizeof(float);
    if (!ft_model_is_encoder(m) && !ft_model_is_vit(m))
        p->kv_cache = 2 * (size_t)c->n_layers * (size_t)(seq_len + m->n_virtual) * (size_t)c->n_kv_heads *
                      (size_t)c->head_dim * sizeof(float);
    p->limit = ft_mem_limit(&p->limit_src);
    p->checkpoint = mode == FT_CKPT_ON;
    if (mode == FT_CKPT_AUTO && p->limit > 0 && off.total > p->limit && on.total <= p->limit)
        p->checkpoint = p->auto_on = true;
    p->e = p->checkpoint ? on : off;
    p->fits = p->limit == 0 || p->e.total <= p->limit;
    if (p->fits)
        return FT_OK;
    mem_item it[9];
    plan_items(p, it);
    char help[256];
    size_t o = 0;
    help[0] = 0;
    if (!p->checkpoint && on.total < off.total)
        o += (size_t)snprintf(help + o, sizeof help - o,
                              "train.activation_checkpointing: true (or auto) saves %.2f GiB; ",
                              gib(off.total - on.total));
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
