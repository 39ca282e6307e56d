/* Adapter slots: several PEFT adapters attached to one base model, one active at a time.
 * A detached slot keeps its tensors in the parameter table under "<slot>::<PEFT name>" (so names
 * never collide) together with the attachment state the decoder reads (sites, adapters, prompt, head). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peft/peft.h"

typedef struct {
    char *name;
    int method;
    ft_site_peft *sites;
    ft_emb_peft emb[FT_N_EMB];
    ft_adapter_idx *adapters;
    ft_act adapter_act;
    int prompt, n_virtual;
    int score, n_labels;
    ft_task task;
    char **label_names;
    cJSON *config;
    int *params; /* extra params owned by this slot */
    int n_params;
} slot;

typedef struct {
    slot *s;
    int n;
    int active; /* index or -1 (bare base) */
} slots;

static void slots_free(void *p) {
    slots *S = p;
    for (int i = 0; i < S->n; i++) {
        slot *x = &S->s[i];
        free(x->name);
        free(x->sites);
        free(x->adapters);
        cJSON_Delete(x->config);
        free(x->params);
        for (int k = 0; x->label_names && k < x->n_labels; k++)
            free(x->label_names[k]);
        free(x->label_names);
    }
    free(S->s);
    free(S);
}

static slots *get_slots(ft_model *m) {
    if (!m->ext) {
        slots *S = calloc(1, sizeof *S);
        if (!S)
            return NULL;
        S->active = -1;
        m->ext = S;
        m->ext_free = slots_free;
    }
    return m->ext;
}

static ft_status rename_param(ft_param *p, const char *prefix, bool add) {
    char buf[600];
    if (add)
        snprintf(buf, sizeof buf, "%s::%s", prefix, p->name);
    else {
        const char *sep = strstr(p->name, "::");
        snprintf(buf, sizeof buf, "%s", sep ? sep + 2 : p->name);
    }
    char *n = ft_strdup(buf);
    if (!n)
        return FT_ERR_NOMEM;
    free(p->name);
    p->name = n;
    return FT_OK;
}

/* Move the model's live attachment state into slot x and leave the base bare. */
static ft_status detach(ft_model *m, slot *x) {
    const size_t ns = (size_t)m->cfg.n_layers * FT_N_SITES, na = (size_t)m->cfg.n_layers * 2;
    if (!x->sites && !(x->sites = malloc(ns * sizeof *x->sites)))
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    if (!x->adapters && !(x->adapters = malloc(na * sizeof *x->adapters)))
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    memcpy(x->sites, m->sites, ns * sizeof *x->sites);
    memcpy(x->adapters, m->adapters, na * sizeof *x->adapters);
    memcpy(x->emb, m->emb, sizeof x->emb);
    x->adapter_act = m->adapter_act;
    x->prompt = m->prompt;
    x->n_virtual = m->n_virtual;
    x->method = m->peft_method;
    cJSON_Delete(x->config);
    x->config = m->peft_config;
    m->peft_config = NULL;
    x->score = m->score;
    x->task = m->task;
    x->n_labels = m->n_labels;
    x->label_names = m->label_names;
    m->label_names = NULL;
    for (int i = 0; i < x->n_params; i++) {
        FT_TRY(ft_model_set_trainable(m, x->params[i], false));
        FT_TRY(rename_param(&m->params[x->params[i]], x->name, true));
    }
    for (size_t i = 0; i < ns; i++)
        m->sites[i] = (ft_site_peft){.lora_a = -1, .lora_b = -1, .dora_m = -1, .ia3 = -1};
    for (size_t i = 0; i < na; i++)
        m->adapters[i] = (ft_adapter_idx){-1, -1, -1, -1};
    for (int e = 0; e < FT_N_EMB; e++)
        m->emb[e] = (ft_emb_peft){.lora_a = -1, .lora_b = -1};
    m->prompt = -1;
    m->n_virtual = 0;
    m->peft_method = FT_METHOD_FULL;
    m->score = -1;
    m->task = FT_TASK_CAUSAL_LM;
    m->n_labels = 0;
    return FT_OK;
}

static ft_status attach(ft_model *m, slot *x) {
    const size_t ns = (size_t)m->cfg.n_layers * FT_N_SITES, na = (size_t)m->cfg.n_layers * 2;
    memcpy(m->sites, x->sites, ns * sizeof *x->sites);
    memcpy(m->adapters, x->adapters, na * sizeof *x->adapters);
    memcpy(m->emb, x->emb, sizeof m->emb);
    m->adapter_act = x->adapter_act;
    m->prompt = x->prompt;
    m->n_virtual = x->n_virtual;
    m->peft_method = x->method;
    m->peft_config = x->config;
    x->config = NULL;
    m->score = x->score;
    m->task = x->task;
    m->n_labels = x->n_labels;
    m->label_names = x->label_names;
    x->label_names = NULL;
    for (int i = 0; i < x->n_params; i++)
        FT_TRY(rename_param(&m->params[x->params[i]], x->name, false));
    return FT_OK;
}

static int find_slot(const slots *S, const char *name) {
    for (int i = 0; i < S->n; i++)
        if (!strcmp(S->s[i].name, name))
            return i;
    return -1;
}

ft_status ft_peft_add(ft_model *m, const char *dir, const char *name) {
    if (!name || !*name || strstr(name, "::"))
        return ft_fail(FT_ERR_ARG, "adapter slot name '%s' must be non-empty and without '::'", name ? name : "");
    if (ft_model_is_encoder(m) ||
        ft_model_is_vit(m)) /* a slot keeps one head tensor (score.weight); an encoder's head has several */
        return ft_fail(FT_ERR_UNSUPPORTED, "several adapters over the %s encoder are not supported yet",
                       m->cfg.model_type);
    slots *S = get_slots(m);
    if (!S)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    if (find_slot(S, name) >= 0)
        return ft_fail(FT_ERR_ARG, "an adapter named '%s' is already loaded", name);
    for (int i = 0; i < m->n_params; i++)
        if (!m->params[i].extra && m->params[i].trainable)
            return ft_fail(FT_ERR_UNSUPPORTED, "the active adapter trains base tensor '%s' (BitFit or LoRA bias): "
                                               "adapters that change the base cannot share it", m->params[i].name);
    if (S->active < 0)
        for (int i = 0; i < m->n_params; i++)
            if (m->params[i].extra && !strstr(m->params[i].name, "::"))
                return ft_fail(FT_ERR_ARG, "an adapter attached without a name holds '%s': load every adapter "
                                           "of a shared base with ft_peft_add", m->params[i].name);
    if (S->active >= 0)
        FT_TRY(detach(m, &S->s[S->active]));
    S->active = -1;
    const int first = m->n_params;
    ft_status s = ft_peft_load(m, dir);
    for (int i = 0; s == FT_OK && i < m->n_params; i++)
        if (!m->params[i].extra && m->params[i].trainable)
            s = ft_fail(FT_ERR_UNSUPPORTED, "%s trains base tensor '%s' (BitFit or LoRA bias): adapters that change "
                                            "the base cannot share it", dir, m->params[i].name);
    slot *ns = NULL;
    if (s == FT_OK) {
        slot *grown = realloc(S->s, (size_t)(S->n + 1) * sizeof *grown);
        if (!grown)
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        else {
            S->s = grown;
            ns = &S->s[S->n];
            memset(ns, 0, sizeof *ns);
            ns->name = ft_strdup(name);
            ns->params = malloc((size_t)(m->n_params - first + 1) * sizeof *ns->params);
            if (!ns->name || !ns->params)
                s = ft_fail(FT_ERR_NOMEM, "out of memory");
        }
    }
    if (s != FT_OK) {
        if (ns) {
            free(ns->name);
            free(ns->params);
        }
        return s;
    }
    for (int i = first; i < m->n_params; i++)
        ns->params[ns->n_params++] = i;
    for (int i = 0; i < m->n_params; i++) /* slots run frozen */
        FT_TRY(ft_model_set_trainable(m, i, false));
    S->n++;
    S->active = S->n - 1;
    return FT_OK;
}

ft_status ft_peft_activate(ft_model *m, const char *name) {
    slots *S = m->ext;
    if (!S)
        return name ? ft_fail(FT_ERR_MISSING, "no adapter named '%s' is loaded (none are)", name) : FT_OK;
    int want = -1;
    if (name && (want = find_slot(S, name)) < 0) {
        char list[512];
        size_t o = 0;
        list[0] = 0;
        for (int i = 0; i < S->n && o < sizeof list; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", S->s[i].name);
        return ft_fail(FT_ERR_MISSING, "no adapter named '%s' is loaded (loaded: %s)", name, list);
    }
    if (want == S->active)
        return FT_OK;
    if (S->active >= 0)
        FT_TRY(detach(m, &S->s[S->active]));
    S->active = -1;
    if (want >= 0) {
        FT_TRY(attach(m, &S->s[want]));
        S->active = want;
    }
    return FT_OK;
}

const char *ft_peft_active(const ft_model *m) {
    const slots *S = m->ext;
    return S && S->active >= 0 ? S->s[S->active].name : NULL;
}

int ft_peft_slot_count(const ft_model *m) {
    const slots *S = m->ext;
    return S ? S->n : 0;
}
