/* train/schedule: learning-rate schedules with linear warm-up (Hugging Face transformers' semantics:
 * the factor is evaluated at the number of optimizer steps already taken, so step 0 is the first update). */
#ifndef FT_SCHEDULE_H
#define FT_SCHEDULE_H

#include "core/core.h"

typedef enum { FT_SCHED_CONSTANT = 0, FT_SCHED_LINEAR, FT_SCHED_COSINE } ft_sched_kind;

typedef struct {
    ft_sched_kind kind;
    int64_t warmup_steps; /* linear ramp 0 → 1 over these steps */
    int64_t total_steps;  /* last step + 1 (linear/cosine reach min_ratio here) */
    double min_ratio;     /* floor of the decay as a fraction of the peak (0 = decay to zero, as HF) */
} ft_sched;

ft_status ft_sched_parse(const char *name, ft_sched_kind *out); /* "constant" | "linear" | "cosine" */
const char *ft_sched_name(ft_sched_kind k);
/* Multiplier of the peak learning rate at step s (0-based):
 *   s < W:      s / W
 *   constant:   1
 *   linear:     r + (1−r)·max(0, (S−s)/(S−W))
 *   cosine:     r + (1−r)·max(0, ½(1 + cos(π·(s−W)/(S−W))))        (W warm-up, S total, r min_ratio) */
double ft_sched_factor(const ft_sched *c, int64_t step);

#endif
