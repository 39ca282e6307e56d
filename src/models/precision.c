/* models/precision: the bf16 compute path's weight copies (see model.h, "compute precision").
 * Which tensors: the weight of every linear site (GPT-2 c_attn/c_proj/c_fc/mlp.c_proj, Llama
 * q/k/v/o/gate/up/down) and the LM head matrix (wte when tied): exactly the operands of the
 * GEMMs that dominate a step. Trainable ones are re-rounded after every optimizer step (fp32 master
 * copies stay the truth); frozen ones once. */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "models/model.h"

const char *ft_precision_name(ft_precision p) {
    return p == FT_PREC_BF16 ? "bf16" : "fp32";
}

ft_status ft_precision_parse(const char *s, ft_precision *out) {
    if (!strcmp(s, "fp32") || !strcmp(s, "float32"))
        *out = FT_PREC_FP32;
    else if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16"))
        *out = FT_PREC_BF16;
    else
        return ft_fail(FT_ERR_ARG, "precision '%s': expected fp32 or bf16", s);
    return FT_OK;
}

/* Mark the GEMM weights: wants[i] = 1 for each param index that gets a bf16 copy. */
static void gemm_weights(const ft_model *m, unsigned char *wants) {
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int s = 0; s < FT_N_SITES; s++) {
            int wi = -1;
            if (ft_model_site(m, l, (ft_site)s, &wi, NULL, NULL, NULL, NULL, NULL, 0) && wi >= 0)
                wants[wi] = 1;
        }
    if (m->lm_head >= 0 && m->task == FT_TASK_CAUSAL_LM)
        wants[m->lm_head] = 1;
}

/* A frozen tensor read in place from the checkpoint's read-only mapping: after its bf16 copy the fp32
 * pages are dropped, so the process holds the weights once, in bf16 (a later read faults them back). */
static void release_mapped(const ft_param *p) {
    if (!p->owned && !p->trainable && p->data)
        ft_release_mapped_pages(p->data, (size_t)p->numel * sizeof(float));
}

void ft_model_precision_free(ft_model *m) {
    for (int i = 0; i < m->n_params; i++) {
        ft_free(m->params[i].data16);
        m->params[i].data16 = NULL;
    }
    if (!m->int8_matmul) { /* the int8 products keep the handle */
        ft_matmul_free(m->mm);
        m->mm = NULL;
    }
    m->precision = FT_PREC_FP32;
    m->bf16_dirty = 0;
}

ft_status ft_model_set_precision(ft_model *m, ft_precision p) {
    if (p == FT_PREC_FP32) {
        ft_model_precision_free(m);
        return FT_OK;
    }
    if (!ft_bf16_native())
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "bf16 compute needs a CPU with AVX512-BF16 or AMX-BF16 (oneDNN sees %s)%s",
                       ft_bf16_isa_name(), getenv("FTUNE_NO_BF16") ? "; FTUNE_NO_BF16 is set" : "");
    unsigned char *wants = calloc((size_t)m->n_params, 1);
    if (!wants)
        return ft_fail(FT_ERR_NOMEM, "precision: out of memory");
    gemm_weights(m, wants);
    ft_status st = FT_OK;
    if (!m->mm)
        st = ft_matmul_create(&m->mm);
    for (int i = 0; st == FT_OK && i < m->n_params; i++) {
        ft_param *q = &m->params[i];
        /* a bf16 weight in place is its own bf16 operand; f16 and int8 ones are widened panel by panel
         * (nn/linear) */
        if (!wants[i] || q->data16 || q->half || q->q8)
            continue;
        q->data16 = ft_alloc((size_t)q->numel * sizeof(uint16_t));
        if (!q->data16) {
            st = ft_fail(FT_ERR_NOMEM, "precision: no memory for the bf16 copy of '%s' (%lld values)",
                         q->name, (long long)q->numel);
            break;
        }
        ft_f32_to_bf16_n(q->data16, q->data, q->numel);
        release_mapped(q);
    }
    free(wants);
    if (st != FT_OK) {
        ft_model_precision_free(m);
        return st;
    }
    m->precision = FT_PREC_BF16;
    m->bf16_dirty = 0;
    return FT_OK;
}

void ft_model_mark_dirty(ft_model *m, bool all) {
    if (m->precision != FT_PREC_BF16)
        return;
    const int level = all ? 2 : 1;
    if (m->bf16_dirty < level)
        m->bf16_dirty = level;
}

ft_status ft_model_sync_bf16(ft_model *m) {
    if (m->precision != FT_PREC_BF16 || m->bf16_dirty == 0)
        return FT_OK;
    for (int i = 0; i < m->n_params; i++) {
        ft_param *q = &m->params[i];
        if (q->data16 && (q->trainable || m->bf16_dirty == 2)) {
            ft_f32_to_bf16_n(q->data16, q->data, q->numel);
            release_mapped(q);
        }
    }
    m->bf16_dirty = 0;
    return FT_OK;
}

ft_status ft_model_set_int8_matmul(ft_model *m, bool on) {
    if (!on) {
        m->int8_matmul = false;
        if (m->precision != FT_PREC_BF16) {
            ft_matmul_free(m->mm);
            m->mm = NULL;
        }
        return FT_OK;
    }
    bool any = false;
    for (int i = 0; i < m->n_params && !any; i++)
        any = m->params[i].q8 != NULL;
    if (!any)
        return ft_fail(FT_ERR_CONFIG,
                       "train.int8_matmul: the model has no int8 weights (use train.base_dtype "
                       "int8, or a checkpoint saved with save_dtype int8)");
    if (!ft_int8_native())
        return ft_fail(
            FT_ERR_UNSUPPORTED,
            "train.int8_matmul needs a CPU with AVX512-VNNI, AVX-VNNI or AMX-INT8 (oneDNN sees %s)%s",
            ft_int8_isa_name(), getenv("FTUNE_NO_VNNI") ? "; FTUNE_NO_VNNI is set" : "");
    if (!m->mm)
        FT_TRY(ft_matmul_create(&m->mm));
    m->int8_matmul = true;
    return FT_OK;
}
