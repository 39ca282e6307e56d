/* bench/prepack: what oneDNN weight prepacking would buy the bf16 LoRA step.
 * For every bf16 GEMM of one GPT-2-124M LoRA training step (batch 4×128: the frozen linear layers'
 * forward x·W and input gradient dy·Wᵀ, the tied LM head's h·Wᵀ and dL·W per 256-row chunk), time
 * oneDNN's matmul with the weight in its plain layout (what ftune runs) and with the weight reordered
 * once into the blocked layout the primitive asks for (format_tag any). Prints best and median
 * GFLOP/s of --reps runs per shape, the step's GEMM time both ways, and the memory the packed copies
 * would add. Uses the oneDNN C API directly (ftune's ft_matmul handle has no packed mode). */
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define CHECK(call)                                                                                          \
    do {                                                                                                     \
        if ((call) != dnnl_success) {                                                                        \
            fprintf(stderr, "prepack: oneDNN call failed: %s (line %d)\n", #call, __LINE__);                 \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const char *what;
    int64_t M, N, K;
    bool tb;   /* B given as [N,K] (transposed) */
    int count; /* calls per training step */
} shape;

typedef struct {
    double best, median; /* seconds */
    size_t packed_bytes;
} timing;

static timing run(dnnl_engine_t eng, dnnl_stream_t str, const shape *s, bool pack, int reps) {
    dnnl_memory_desc_t amd, bmd, bplain, cmd;
    const dnnl_dims_t ad = {s->M, s->K}, bd = {s->K, s->N}, cd = {s->M, s->N};
    const dnnl_dims_t as = {s->K, 1}, bs = {s->tb ? 1 : s->N, s->tb ? s->K : 1}, cs = {s->N, 1};
    CHECK(dnnl_memory_desc_init_by_strides(&amd, 2, ad, dnnl_bf16, as));
    CHECK(dnnl_memory_desc_init_by_strides(&bplain, 2, bd, dnnl_bf16, bs));
    if (pack)
        CHECK(dnnl_memory_desc_init_by_tag(&bmd, 2, bd, dnnl_bf16, dnnl_format_tag_any));
    else
        bmd = bplain;
    CHECK(dnnl_memory_desc_init_by_strides(&cmd, 2, cd, dnnl_f32, cs));
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_matmul_desc_init(&md, &amd, &bmd, NULL, &cmd));
    CHECK(dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL));
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    uint16_t *A = malloc((size_t)(s->M * s->K) * 2), *B = malloc((size_t)(s->K * s->N) * 2);
    float *C = malloc((size_t)(s->M * s->N) * 4);
    if (!A || !B || !C)
        abort();
    for (int64_t i = 0; i < s->M * s->K; i++) /* bf16 values in [1, 2) and [2^-6, 2^-5): finite products */
        A[i] = (uint16_t)(0x3f80 + (ft_rng_u64(1, 0, (uint64_t)i) & 0x7f));
    for (int64_t i = 0; i < s->K * s->N; i++)
        B[i] = (uint16_t)(0x3c80 + (ft_rng_u64(2, 0, (uint64_t)i) & 0x7f));
    dnnl_memory_t ma, mb, mbp, mc;
    CHECK(dnnl_memory_create(&ma, &amd, eng, A));
    CHECK(dnnl_memory_create(&mc, &cmd, eng, C));
    CHECK(dnnl_memory_create(&mbp, &bplain, eng, B));
    timing t = {0, 0, 0};
    if (pack) { /* the one-time reorder a packed mode would do when the weight is frozen */
        dnnl_primitive_desc_t rpd;
        dnnl_primitive_t r;
        CHECK(dnnl_memory_create(&mb, wmd, eng, DNNL_MEMORY_ALLOCATE));
        CHECK(dnnl_reorder_primitive_desc_create(&rpd, &bplain, eng, wmd, eng, NULL));
        CHECK(dnnl_primitive_create(&r, rpd));
        const dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, mbp}, {DNNL_ARG_TO, mb}};
        CHECK(dnnl_primitive_execute(r, str, 2, ra));
        CHECK(dnnl_stream_wait(str));
        dnnl_primitive_destroy(r);
        dnnl_primitive_desc_destroy(rpd);
        t.packed_bytes = dnnl_memory_desc_get_size(wmd);
    } else {
        mb = mbp;
    }
    dnnl_primitive_t p;
    CHECK(dnnl_primitive_create(&p, pd));
    const dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
    double ts[128];
    for (int i = -2; i < reps; i++) {
        const double t0 = ft_now();
        CHECK(dnnl_primitive_execute(p, str, 3, args));
        CHECK(dnnl_stream_wait(str));
        if (i >= 0)
            ts[i] = ft_now() - t0;
    }
    qsort(ts, (size_t)reps, sizeof *ts, cmp_d);
    t.best = ts[0];
    t.median = ts[reps / 2];
    dnnl_primitive_destroy(p);
    dnnl_primitive_desc_destroy(pd);
    if (pack)
        dnnl_memory_destroy(mb);
    dnnl_memory_destroy(mbp);
    dnnl_memory_destroy(ma);
    dnnl_memory_destroy(mc);
    free(A);
    free(B);
    free(C);
    return t;
}

int main(int argc, char **argv) {
    int reps = 15, threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: prepack [--reps 15] [--threads 2]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 128)
        reps = 15;
    omp_set_num_threads(threads);
    /* GPT-2 Conv1D weights are [in,out]: forward x·W is NN, the input gradient dy·Wᵀ is NT */
    const shape shapes[] = {
        {"c_attn  fwd  x·W", 512, 2304, 768, false, 12},
        {"c_attn  bwd dy·Wt", 512, 768, 2304, true, 12},
        {"attn.c_proj fwd", 512, 768, 768, false, 12},
        {"attn.c_proj bwd", 512, 768, 768, true, 12},
        {"c_fc    fwd  x·W", 512, 3072, 768, false, 12},
        {"c_fc    bwd dy·Wt", 512, 768, 3072, true, 12},
        {"mlp.c_proj fwd", 512, 768, 3072, false, 12},
        {"mlp.c_proj bwd", 512, 3072, 768, true, 12},
        {"lm head fwd h·Wt (chunk)", 256, 50257, 768, true, 2},
        {"lm head bwd dL·W (chunk)", 256, 768, 50257, false, 2},
    };
    dnnl_engine_t eng;
    dnnl_stream_t str;
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&str, eng, dnnl_stream_default_flags));
    printf("bench/prepack: bf16 GEMMs of a GPT-2-124M LoRA step (4x128), %d threads, %d reps, GFLOP/s best / "
           "median\n",
           threads, reps);
    printf("  %-26s %6s %6s %6s %3s  %15s  %15s\n", "gemm", "M", "N", "K", "B", "plain", "packed");
    double plain_s = 0, packed_s = 0;
    size_t extra = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        const double fl = 2.0 * (double)s->M * (double)s->N * (double)s->K;
        /* alternate plain and packed so that load changes hit both alike */
        timing a = run(eng, str, s, false, reps), b = run(eng, str, s, true, reps);
        printf("  %-26s %6lld %6lld %6lld %3s  %6.0f / %6.0f  %6.0f / %6.0f\n", s->what, (long long)s->M,
               (long long)s->N, (long long)s->K, s->tb ? "T" : "N", fl / a.best / 1e9, fl / a.median / 1e9,
               fl / b.best / 1e9, fl / b.median / 1e9);
        plain_s += s->count * a.best;
        packed_s += s->count * b.best;
        extra +=
            (size_t)(s->count == 12 ? 12 : 1) * b.packed_bytes; /* a layer weight per layer; the head once */
    }
    printf("  step GEMM time from best runs: plain %.1f ms, packed %.1f ms (%.1f %% less)\n", plain_s * 1e3,
           packed_s * 1e3, 100.0 * (1.0 - packed_s / plain_s));
    printf("  packed copies (forward and backward layouts, every frozen weight): %.0f MiB on top of the "
           "plain bf16 "
           "weights\n",
           (double)extra / 1048576.0);
    dnnl_stream_destroy(str);
    dnnl_engine_destroy(eng);
    return 0;
}
