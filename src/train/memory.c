#include <stdio.h>
#include <string.h>

#include "train/memory.h"

size_t ft_train_act_bytes(const ft_model *m, int train_batch, int eval_batch, int seq_len, bool checkpoint,
                          float label_smoothing) {
    /* as ft_train_accumulate and the trainer's evaluation run their forwards */
    const ft_fwd_opts tr = {.training = true, .fused_head = true, .label_smoothing = label_smoothing,
                            .checkpoint = checkpoint};
    const ft_fwd_opts ev = {.keep_logits = m->task != FT_TASK_CAUSAL_LM, .checkpoint = true, .no_loss = true};
    const size_t a = ft_model_act_bytes_opts(m, train_batch, seq_len, &tr);
    const size_t b = eval_batch > 0 ? ft_model_act_bytes_opts(m, eval_batch, seq_len, &ev) : 0;
    return a > b ? a : b;
}

void ft_mem_estimate_run(const ft_model *m, int train_batch, int eval_batch, int seq_len, int optim_slots,
                         bool checkpoint, float label_smoothing, ft_mem_estimate *e) {
    memset(e, 0, sizeof *e);
    for (int i = 0; i < m->n_params; i++) {
        const ft_param *p = &m->params[i];
        size_t b = (size_t)p->numel * sizeof(float);
        if (p->data16)
            e->weights_bf16 += (size_t)p->numel * sizeof(uint16_t);
        if (p->owned)
            e->weights_owned += b;
        else if (!(p->data16 && !p->trainable)) /* a frozen mapped tensor with a bf16 copy is released */
            e->weights_mapped += b;
        if (p->trainable) {
            e->grads += b;
            e->optim += (size_t)optim_slots * b;
        }
    }
    e->acts = ft_train_act_bytes(m, train_batch, eval_batch, seq_len, checkpoint, label_smoothing) + ((size_t)1 << 20);
    e->total = e->weights_mapped + e->weights_owned + e->weights_bf16 + e->grads + e->optim + e->acts;
}

size_t ft_mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (size_t)kb * 1024u;
}

static double gib(size_t b) { return (double)b / (1024.0 * 1024.0 * 1024.0); }

void ft_mem_estimate_format(const ft_mem_estimate *e, char *buf, size_t n) {
    snprintf(buf, n,
             "memory estimate: %.2f GiB = weights %.2f (%.2f mapped in place, %.2f bf16 copies) + gradients %.2f + "
             "optimizer %.2f + activations %.2f",
             gib(e->total), gib(e->weights_mapped + e->weights_owned + e->weights_bf16), gib(e->weights_mapped),
             gib(e->weights_bf16), gib(e->grads), gib(e->optim), gib(e->acts));
}
