#include <stdio.h>
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
    e->total = e->weights_mapped + e->weights_half + e->weights_owned + e->weights_bf16 + e->grads +
               e->optim + e->acts;
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
    snprintf(
        buf, n,
        "memory estimate: %.2f GiB = weights %.2f (%.2f fp32 mapped in place, %.2f bf16/f16 mapped in place, "
        "%.2f bf16 copies) + gradients %.2f + optimizer %.2f + activations %.2f",
        gib(e->total), gib(e->weights_mapped + e->weights_half + e->weights_owned + e->weights_bf16),
        gib(e->weights_mapped), gib(e->weights_half), gib(e->weights_bf16), gib(e->grads), gib(e->optim),
        gib(e->acts));
}
