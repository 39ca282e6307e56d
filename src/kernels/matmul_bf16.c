/* bf16 GEMM through oneDNN's matmul primitive: bf16 A and B, fp32 C, fp32 accumulation.
 * oneDNN picks brgemm kernels on AVX512-BF16 (vdpbf16ps) or AMX (tdpbf16ps) CPUs. Primitives are
 * created once per (shape, transposes, strides, alpha, beta) and kept in the caller's handle; on CPUs
 * without native bf16 (oneDNN would run a slow emulation/reference kernel) the handle widens the
 * inputs to fp32 in its own scratch and calls ft_gemm.
 * The same handle runs int8 × int8 → int32 products (ft_matmul_s8: oneDNN's VNNI / AMX-INT8 brgemm),
 * with an exact integer loop where the CPU has no VNNI. */
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "kernels/kernels.h"
#include "kernels/vecmath.h"

#define MM_CACHE 48

typedef struct {
    bool used, ta, tb, s8; /* s8: an int8 × int8 → int32 primitive (ft_matmul_s8) */
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
    char impl[64];
} mm_entry;

struct ft_matmul {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    bool native;       /* CPU has AVX512-BF16 or AMX */
    int next_evict;    /* round-robin victim when the cache is full */
    mm_entry cache[MM_CACHE];
    const char *last;  /* implementation name of the last call */
    float *scratch;    /* fp32 fallback: widened A and B */
    size_t scratch_n;
    uint16_t *conv[FT_MATMUL_SLOTS]; /* callers' bf16 conversion buffers (ft_matmul_scratch) */
    size_t conv_n[FT_MATMUL_SLOTS];
};

uint16_t *ft_matmul_scratch(ft_matmul *mm, int slot, size_t n) {
    if (slot < 0 || slot >= FT_MATMUL_SLOTS) {
        ft_fail(FT_ERR_ARG, "matmul: scratch slot %d out of range", slot);
        return NULL;
    }
    if (n > mm->conv_n[slot]) {
        ft_free(mm->conv[slot]);
        mm->conv_n[slot] = 0;
        mm->conv[slot] = ft_alloc(n * sizeof(uint16_t));
        if (!mm->conv[slot]) {
            ft_fail(FT_ERR_NOMEM, "matmul: no memory for %zu bf16 values of scratch", n);
            return NULL;
        }
        mm->conv_n[slot] = n;
    }
    return mm->conv[slot];
}

const char *ft_bf16_isa_name(void) {
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    if ((isa & (unsigned)dnnl_cpu_isa_avx512_core_amx) == (unsigned)dnnl_cpu_isa_avx512_core_amx)
        return "avx512_core_amx";
    if ((isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16)
        return "avx512_core_bf16";
    if ((isa & (unsigned)dnnl_cpu_isa_avx512_core) == (unsigned)dnnl_cpu_isa_avx512_core)
        return "avx512_core (no bf16)";
    if ((isa & (unsigned)dnnl_cpu_isa_avx2) == (unsigned)dnnl_cpu_isa_avx2)
        return "avx2 (no bf16)";
    return "a pre-AVX2 ISA";
}

/* FTUNE_NO_BF16=1 makes the CPU look bf16-less: the fallback paths can be exercised on any machine. */
bool ft_bf16_native(void) {
    const char *off = getenv("FTUNE_NO_BF16");
    if (off && *off && strcmp(off, "0") != 0)
        return false;
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

bool ft_bf16_amx(void) {
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & (unsigned)dnnl_cpu_isa_avx512_core_amx) == (unsigned)dnnl_cpu_isa_avx512_core_amx;
}

ft_status ft_matmul_create(ft_matmul **out) {
    *out = NULL;
    ft_matmul *mm = calloc(1, sizeof *mm);
    if (!mm)
        return ft_fail(FT_ERR_NOMEM, "matmul: out of memory");
    if (dnnl_engine_create(&mm->engine, dnnl_cpu, 0) != dnnl_success) {
        free(mm);
        return ft_fail(FT_ERR_INTERNAL, "matmul: oneDNN CPU engine creation failed");
    }
    if (dnnl_stream_create(&mm->stream, mm->engine, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(mm->engine);
        free(mm);
        return ft_fail(FT_ERR_INTERNAL, "matmul: oneDNN stream creation failed");
    }
    mm->native = ft_bf16_native();
    mm->last = mm->native ? "onednn (no call yet)" : "fp32 fallback (no native bf16)";
    *out = mm;
    return FT_OK;
}

static void entry_clear(mm_entry *e) {
    if (e->prim)
        dnnl_primitive_destroy(e->prim);
    if (e->a)
        dnnl_memory_destroy(e->a);
    if (e->b)
        dnnl_memory_destroy(e->b);
    if (e->c)
        dnnl_memory_destroy(e->c);
    memset(e, 0, sizeof *e);
}

void ft_matmul_free(ft_matmul *mm) {
    if (!mm)
        return;
    for (int i = 0; i < MM_CACHE; i++)
        entry_clear(&mm->cache[i]);
    dnnl_stream_destroy(mm->stream);
    dnnl_engine_destroy(mm->engine);
    for (int i = 0; i < FT_MATMUL_SLOTS; i++)
        ft_free(mm->conv[i]);
    free(mm->scratch);
    free(mm);
}

const char *ft_matmul_backend(const ft_matmul *mm) { return mm->last; }

/* One primitive for this exact call shape; memory objects are created once and re-pointed per call. */
static ft_status entry_build(ft_matmul *mm, mm_entry *e) {
    dnnl_memory_desc_t amd, bmd, cmd;
    const dnnl_dims_t ad = {e->M, e->K}, bd = {e->K, e->N}, cd = {e->M, e->N};
    /* transposes are just strides: op(A)[i,k] sits at A[k·lda + i] when transposed */
    const dnnl_dims_t as = {e->ta ? 1 : e->lda, e->ta ? e->lda : 1};
    const dnnl_dims_t bs = {e->tb ? 1 : e->ldb, e->tb ? e->ldb : 1};
    const dnnl_dims_t cs = {e->ldc, 1};
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_matmul_desc_t md;
    ft_status st = FT_OK;
    const dnnl_data_type_t in_t = e->s8 ? dnnl_s8 : dnnl_bf16, out_t = e->s8 ? dnnl_s32 : dnnl_f32;
    if (dnnl_memory_desc_init_by_strides(&amd, 2, ad, in_t, as) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&bmd, 2, bd, in_t, bs) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&cmd, 2, cd, out_t, cs) != dnnl_success ||
        dnnl_matmul_desc_init(&md, &amd, &bmd, NULL, &cmd) != dnnl_success ||
        dnnl_primitive_attr_create(&attr) != dnnl_success) {
        st = ft_fail(FT_ERR_UNSUPPORTED, "matmul: oneDNN rejects %s %lldx%lldx%lld", e->s8 ? "int8" : "bf16",
                     (long long)e->M, (long long)e->N, (long long)e->K);
        goto done;
    }
    if (e->alpha != 1.0f && dnnl_primitive_attr_set_output_scales(attr, 1, 0, &e->alpha) != dnnl_success) {
        st = ft_fail(FT_ERR_UNSUPPORTED, "matmul: oneDNN rejects alpha %g", (double)e->alpha);
        goto done;
    }
    if (e->beta != 0.0f) { /* C = alpha·AB + beta·C as a sum post-op */
        if (dnnl_post_ops_create(&po) != dnnl_success || dnnl_post_ops_append_sum(po, e->beta) != dnnl_success ||
            dnnl_primitive_attr_set_post_ops(attr, po) != dnnl_success) {
            st = ft_fail(FT_ERR_UNSUPPORTED, "matmul: oneDNN rejects beta %g", (double)e->beta);
            goto done;
        }
    }
    if (dnnl_primitive_desc_create(&pd, &md, attr, mm->engine, NULL) != dnnl_success ||
        dnnl_primitive_create(&e->prim, pd) != dnnl_success ||
        dnnl_memory_create(&e->a, &amd, mm->engine, DNNL_MEMORY_NONE) != dnnl_success ||
        dnnl_memory_create(&e->b, &bmd, mm->engine, DNNL_MEMORY_NONE) != dnnl_success ||
        dnnl_memory_create(&e->c, &cmd, mm->engine, DNNL_MEMORY_NONE) != dnnl_success) {
        st = ft_fail(FT_ERR_UNSUPPORTED, "matmul: oneDNN primitive for %s %lldx%lldx%lld not created",
                     e->s8 ? "int8" : "bf16", (long long)e->M, (long long)e->N, (long long)e->K);
        goto done;
    }
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(e->impl, sizeof e->impl, "%s", impl);
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* The cached primitive of this call shape, built on first use (the oldest slot evicted when full). */
static ft_status entry_get(ft_matmul *mm, bool s8, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                           int64_t lda, int64_t ldb, int64_t ldc, float alpha, float beta, mm_entry **out) {
    mm_entry *e = NULL;
    for (int i = 0; i < MM_CACHE && !e; i++) {
        mm_entry *x = &mm->cache[i];
        if (x->used && x->s8 == s8 && x->ta == ta && x->tb == tb && x->M == M && x->N == N && x->K == K &&
            x->lda == lda && x->ldb == ldb && x->ldc == ldc && x->alpha == alpha && x->beta == beta)
            e = x;
    }
    if (!e) {
        for (int i = 0; i < MM_CACHE && !e; i++)
            if (!mm->cache[i].used)
                e = &mm->cache[i];
        if (!e) {
            e = &mm->cache[mm->next_evict];
            mm->next_evict = (mm->next_evict + 1) % MM_CACHE;
            entry_clear(e);
        }
        *e = (mm_entry){.used = true,
                        .s8 = s8,
                        .ta = ta,
                        .tb = tb,
                        .M = M,
                        .N = N,
                        .K = K,
                        .lda = lda,
                        .ldb = ldb,
                        .ldc = ldc,
                        .alpha = alpha,
                        .beta = beta};
        ft_status st = entry_build(mm, e);
        if (st != FT_OK) {
            entry_clear(e);
            return st;
        }
    }
    *out = e;
    return FT_OK;
}

static ft_status fallback_f32(ft_matmul *mm, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                              const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb, float beta, float *C,
                              int64_t ldc) {
    const int64_t na = (ta ? K : M) * lda, nb = (tb ? N : K) * ldb;
    if ((size_t)(na + nb) > mm->scratch_n) {
        float *p = realloc(mm->scratch, (size_t)(na + nb) * sizeof(float));
        if (!p)
            return ft_fail(FT_ERR_NOMEM, "matmul: no memory for the fp32 fallback (%lld floats)", (long long)(na + nb));
        mm->scratch = p;
        mm->scratch_n = (size_t)(na + nb);
    }
    ft_bf16_to_f32_n(mm->scratch, A, na);
    ft_bf16_to_f32_n(mm->scratch + na, B, nb);
    ft_gemm(ta, tb, M, N, K, alpha, mm->scratch, lda, mm->scratch + na, ldb, beta, C, ldc);
    mm->last = "fp32 fallback (ft_gemm)";
    return FT_OK;
}

ft_status ft_matmul_bf16(ft_matmul *mm, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                         const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb, float beta, float *C,
                         int64_t ldc) {
    if (M <= 0 || N <= 0 || K <= 0 || lda < (ta ? M : K) || ldb < (tb ? K : N) || ldc < N)
        return ft_fail(FT_ERR_ARG, "matmul: bad bf16 shape M=%lld N=%lld K=%lld lda=%lld ldb=%lld ldc=%lld",
                       (long long)M, (long long)N, (long long)K, (long long)lda, (long long)ldb, (long long)ldc);
    if (!mm->native)
        return fallback_f32(mm, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    mm_entry *e = NULL;
    FT_TRY(entry_get(mm, false, ta, tb, M, N, K, lda, ldb, ldc, alpha, beta, &e));
    if (strncmp(e->impl, "ref", 3) == 0) /* oneDNN found no optimized kernel: ft_gemm is faster */
        return fallback_f32(mm, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    dnnl_memory_set_data_handle(e->a, (void *)(uintptr_t)A);
    dnnl_memory_set_data_handle(e->b, (void *)(uintptr_t)B);
    dnnl_memory_set_data_handle(e->c, C);
    const dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
    if (dnnl_primitive_execute(e->prim, mm->stream, 3, args) != dnnl_success || dnnl_stream_wait(mm->stream) != dnnl_success)
        return ft_fail(FT_ERR_INTERNAL, "matmul: oneDNN bf16 %lldx%lldx%lld execution failed", (long long)M,
                       (long long)N, (long long)K);
    mm->last = e->impl;
    return FT_OK;
}

/* Round to nearest even on the upper 16 bits; NaN stays a (quiet) NaN. */
void ft_f32_to_bf16_n(uint16_t *dst, const float *src, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], sizeof u);
        const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
        const bool nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
        dst[i] = nan ? (uint16_t)((u >> 16) | 0x40u) : (uint16_t)rounded;
    }
}

void ft_bf16_to_f32_n(float *dst, const uint16_t *src, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= FT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const uint32_t u = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &u, sizeof u);
    }
}

/* ---- linear layers on bf16 weights (the bf16 compute path of nn/linear) ---- */

ft_status ft_linear_forward_bf16(ft_matmul *mm, float *y, const float *x, const uint16_t *w16, const float *b,
                                 int64_t N, int64_t in, int64_t out, bool w_in_out) {
    uint16_t *x16 = ft_matmul_scratch(mm, 0, (size_t)(N * in));
    if (!x16)
        return FT_ERR_NOMEM;
    ft_f32_to_bf16_n(x16, x, N * in);
    /* y = x·W (W [in,out]) or x·Wᵀ (W [out,in]) */
    FT_TRY(ft_matmul_bf16(mm, false, !w_in_out, N, out, in, 1.0f, x16, in, w16, w_in_out ? out : in, 0.0f, y, out));
    if (b) {
#pragma omp parallel for schedule(static) if (N * out >= FT_PAR_MIN)
        for (int64_t n = 0; n < N; n++) {
            float *yr = y + n * out;
#pragma omp simd
            for (int64_t o = 0; o < out; o++)
                yr[o] += b[o];
        }
    }
    return FT_OK;
}

ft_status ft_linear_backward_bf16(ft_matmul *mm, float *dx, float *dw, float *db, const float *dy, const float *x,
                                  const uint16_t *w16, int64_t N, int64_t in, int64_t out, bool w_in_out) {
    if (db)
        ft_linear_backward(NULL, NULL, db, dy, x, NULL, N, in, out, w_in_out);
    if (!dx && !dw)
        return FT_OK;
    uint16_t *dy16 = ft_matmul_scratch(mm, 1, (size_t)(N * out));
    if (!dy16)
        return FT_ERR_NOMEM;
    ft_f32_to_bf16_n(dy16, dy, N * out);
    if (dx) /* dx += dy·Wᵀ (W [in,out]) or dy·W (W [out,in]) */
        FT_TRY(ft_matmul_bf16(mm, false, w_in_out, N, in, out, 1.0f, dy16, out, w16, w_in_out ? out : in, 1.0f, dx,
                              in));
    if (dw) {
        uint16_t *x16 = ft_matmul_scratch(mm, 0, (size_t)(N * in));
        if (!x16)
            return FT_ERR_NOMEM;
        ft_f32_to_bf16_n(x16, x, N * in);
        if (w_in_out) /* dW[in,out] += xᵀ·dy */
            FT_TRY(ft_matmul_bf16(mm, true, false, in, out, N, 1.0f, x16, in, dy16, out, 1.0f, dw, out));
        else /* dW[out,in] += dyᵀ·x */
            FT_TRY(ft_matmul_bf16(mm, true, false, out, in, N, 1.0f, dy16, out, x16, in, 1.0f, dw, in));
    }
    return FT_OK;
}

/* ---- int8 × int8 → int32 ---- */

/* FTUNE_NO_VNNI=1 makes the CPU look VNNI-less (the exact integer loop runs): tests reach it anywhere. */
bool ft_int8_native(void) {
    const char *off = getenv("FTUNE_NO_VNNI");
    if (off && *off && strcmp(off, "0") != 0)
        return false;
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & (unsigned)dnnl_cpu_isa_avx512_core_vnni) == (unsigned)dnnl_cpu_isa_avx512_core_vnni ||
           (isa & (unsigned)dnnl_cpu_isa_avx2_vnni) == (unsigned)dnnl_cpu_isa_avx2_vnni;
}

const char *ft_int8_isa_name(void) {
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    if ((isa & (unsigned)dnnl_cpu_isa_avx512_core_amx) == (unsigned)dnnl_cpu_isa_avx512_core_amx)
        return "avx512_core_amx (AMX-INT8)";
    if ((isa & (unsigned)dnnl_cpu_isa_avx512_core_vnni) == (unsigned)dnnl_cpu_isa_avx512_core_vnni)
        return "avx512_core_vnni";
    if ((isa & (unsigned)dnnl_cpu_isa_avx2_vnni) == (unsigned)dnnl_cpu_isa_avx2_vnni)
        return "avx2_vnni";
    return "no VNNI";
}

/* C = A·op(B) exactly, one row of C per iteration (the CPUs without VNNI, where oneDNN's u8·s8 pairs
 * could saturate 16-bit intermediate sums). */
static void s8_exact(bool tb, int64_t M, int64_t N, int64_t K, const int8_t *A, int64_t lda, const int8_t *B,
                     int64_t ldb, int32_t *C, int64_t ldc) {
#pragma omp parallel for schedule(static) if (M * N * K >= FT_PAR_MIN * 64)
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            int32_t acc = 0;
            if (tb)
                for (int64_t k = 0; k < K; k++)
                    acc += (int32_t)A[i * lda + k] * (int32_t)B[j * ldb + k];
            else
                for (int64_t k = 0; k < K; k++)
                    acc += (int32_t)A[i * lda + k] * (int32_t)B[k * ldb + j];
            C[i * ldc + j] = acc;
        }
}

ft_status ft_matmul_s8(ft_matmul *mm, bool tb, int64_t M, int64_t N, int64_t K, const int8_t *A, int64_t lda,
                       const int8_t *B, int64_t ldb, int32_t *C, int64_t ldc) {
    if (M <= 0 || N <= 0 || K <= 0 || lda < K || ldb < (tb ? K : N) || ldc < N)
        return ft_fail(FT_ERR_ARG, "matmul: bad int8 shape M=%lld N=%lld K=%lld lda=%lld ldb=%lld ldc=%lld",
                       (long long)M, (long long)N, (long long)K, (long long)lda, (long long)ldb,
                       (long long)ldc);
    if (!ft_int8_native()) {
        s8_exact(tb, M, N, K, A, lda, B, ldb, C, ldc);
        mm->last = "int8 exact loop (no VNNI)";
        return FT_OK;
    }
    mm_entry *e = NULL;
    FT_TRY(entry_get(mm, true, false, tb, M, N, K, lda, ldb, ldc, 1.0f, 0.0f, &e));
    if (strncmp(e->impl, "ref", 3) == 0) { /* no optimized kernel for this shape: the loop is as exact */
        s8_exact(tb, M, N, K, A, lda, B, ldb, C, ldc);
        mm->last = "int8 exact loop (oneDNN ref)";
        return FT_OK;
    }
    dnnl_memory_set_data_handle(e->a, (void *)(uintptr_t)A);
    dnnl_memory_set_data_handle(e->b, (void *)(uintptr_t)B);
    dnnl_memory_set_data_handle(e->c, C);
    const dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
    if (dnnl_primitive_execute(e->prim, mm->stream, 3, args) != dnnl_success ||
        dnnl_stream_wait(mm->stream) != dnnl_success)
        return ft_fail(FT_ERR_INTERNAL, "matmul: oneDNN int8 %lldx%lldx%lld execution failed", (long long)M,
                       (long long)N, (long long)K);
    mm->last = e->impl;
    return FT_OK;
}
