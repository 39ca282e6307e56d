/* bench/gemm_half: the GEMM on a bf16 weight widened panel by panel inside the product (ft_gemm_half)
 * against fp32 ft_gemm on the already widened weight, at the linear shapes of a 7B Llama step
 * (x·Wᵀ forward, dy·W backward; M rows), for several panel widths. Median of --reps, ms and GFLOP/s,
 * and the fraction of the fp32 rate, by wall time and by the process's CPU time (the median of each). Usage:
 * gemm_half [--rows M] [--reps R] [--small] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "kernels/kernels.h"

/* CPU seconds of the whole process (all threads): on a shared machine the wall time measures the neighbours,
 * the CPU time what the product itself cost (OpenMP's spin-waits included) */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const char *name;
    bool tb;
    int64_t N, K;
} shape;

int main(int argc, char **argv) {
    int64_t M = 512;
    int reps = 5;
    bool small = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rows") && i + 1 < argc)
            M = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--small"))
            small = true;
        else {
            fprintf(stderr, "usage: gemm_half [--rows M] [--reps R] [--small]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 64 || M < 1)
        return 2;
    /* 7B: q/k/v/o 4096×4096, gate/up 11008×4096, down 4096×11008; --small: a 768-wide model */
    const shape big[] = {{"x·Wqᵀ   (4096x4096)", true, 4096, 4096},
                         {"x·Wupᵀ  (11008x4096)", true, 11008, 4096},
                         {"dy·Wq   (4096x4096)", false, 4096, 4096},
                         {"dy·Wdown(4096x11008)", false, 11008, 4096}};
    const shape sm[] = {{"x·Wᵀ  (768x768)", true, 768, 768}, {"dy·W  (768x3072)", false, 3072, 768}};
    const shape *S = small ? sm : big;
    const int ns = small ? 2 : 4;
    const int64_t nbs[] = {0, 256, 1024, 2048};
    printf("gemm_half: M = %lld rows, median of %d; fraction = fp32 time / half time\n", (long long)M, reps);
    for (int s = 0; s < ns; s++) {
        const int64_t N = S[s].N, K = S[s].K;
        float *A = malloc((size_t)(M * K) * sizeof(float)), *C = malloc((size_t)(M * N) * sizeof(float));
        float *Bf = malloc((size_t)(N * K) * sizeof(float));
        uint16_t *Bh = malloc((size_t)(N * K) * sizeof(uint16_t));
        float *panel = malloc((size_t)(2048 * K > N * K ? N * K : 2048 * K) * sizeof(float) +
                              ft_gemm_half_panel_floats(K, N) * sizeof(float));
        if (!A || !C || !Bf || !Bh || !panel)
            return 1;
        for (int64_t i = 0; i < M * K; i++)
            A[i] = ft_rng_uniform(1, 1, (uint64_t)i) - 0.5f;
        for (int64_t i = 0; i < N * K; i++)
            Bf[i] = 0.02f * (ft_rng_uniform(1, 2, (uint64_t)i) - 0.5f);
        ft_f32_to_bf16_n(Bh, Bf, N * K);
        ft_bf16_to_f32_n(Bf, Bh, N * K);
        const double flops = 2.0 * (double)M * (double)N * (double)K;
        double ts[64], cs[64], t32, c32;
        /* op(B) is [K,N]: trans_b B [N,K] (ldb K) or B [K,N] (ldb N) */
        const int64_t ldb = S[s].tb ? K : N;
        for (int r = -1; r < reps; r++) {
            const double t0 = ft_now(), c0 = cpu_now();
            ft_gemm(false, S[s].tb, M, N, K, 1.0f, A, K, Bf, ldb, 0.0f, C, N);
            if (r >= 0)
                ts[r] = ft_now() - t0, cs[r] = cpu_now() - c0;
        }
        qsort(ts, (size_t)reps, sizeof *ts, cmp_d);
        qsort(cs, (size_t)reps, sizeof *cs, cmp_d);
        t32 = ts[reps / 2];
        c32 = cs[reps / 2];
        printf("  %-22s fp32 ft_gemm       %8.2f ms %7.1f GFLOP/s | cpu %8.2f ms\n", S[s].name, t32 * 1e3,
               flops / t32 / 1e9, c32 * 1e3);
        fflush(stdout);
        for (size_t k = 0; k < sizeof nbs / sizeof *nbs; k++) {
            const int64_t nb = nbs[k] ? nbs[k] : ft_gemm_half_nb(K);
            if (nb > N)
                continue;
            for (int r = -1; r < reps; r++) {
                const double t0 = ft_now(), c0 = cpu_now();
                ft_gemm_half(S[s].tb, false, M, N, K, 1.0f, A, K, Bh, ldb, 0.0f, C, N, panel, nb);
                if (r >= 0)
                    ts[r] = ft_now() - t0, cs[r] = cpu_now() - c0;
            }
            qsort(ts, (size_t)reps, sizeof *ts, cmp_d);
            qsort(cs, (size_t)reps, sizeof *cs, cmp_d);
            const double th = ts[reps / 2], ch = cs[reps / 2];
            printf(
                "  %-22s bf16 nb=%-5lld%s %8.2f ms %7.1f GFLOP/s  %5.1f %% of fp32 | cpu %8.2f ms %5.1f %%\n",
                S[s].name, (long long)nb, nbs[k] ? "    " : "(def)", th * 1e3, flops / th / 1e9,
                100.0 * t32 / th, ch * 1e3, 100.0 * c32 / ch);
            fflush(stdout);
        }
        free(A);
        free(C);
        free(Bf);
        free(Bh);
        free(panel);
    }
    return 0;
}
