/* peft_io: adapter directories in Hugging Face PEFT's format (load, save), merge into the base,
 * and the output of a training run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/json.h"
#include "peft/peft.h"

static const char *jstr(const cJSON *j, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jnum(const cJSON *j, const char *k, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!cJSON_IsNumber(v))
        return false;
    *out = v->valuedouble;
    return true;
}

/* A number field k (absent: *have = false) that must lie in [lo, hi] and, when integer, be whole: else
 * FT_ERR_FORMAT naming the file and field (a number beyond int or float would otherwise be cast). */
static ft_status jnum_in(const cJSON *j, const char *cpath, const char *k, double lo, double hi, bool integer,
                         bool *have, double *out) {
    *have = jnum(j, k, out);
    if (*have && (!(*out >= lo && *out <= hi) || (integer && *out != floor(*out))))
        return ft_fail(FT_ERR_FORMAT, "%s: '%s' is %.10g, expected %s in [%.10g, %.10g]", cpath, k, *out,
                       integer ? "an integer" : "a number", lo, hi);
    return FT_OK;
}

static bool jtrue(const cJSON *j, const char *k) { return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, k)); }

/* A JSON list of strings (or numbers: ints) → "a\nb\n" (every item ends in a newline, so the
 * list rule of peft.h splits on newlines and an item may hold commas); a string → itself with
 * *is_string set (a regex); null, [] → NULL. *out is malloc'd or NULL. */
static ft_status json_list_text(const cJSON *v, const char *path, const char *key, bool ints, char **out,
                                bool *is_string) {
    *out = NULL;
    if (is_string)
        *is_string = false;
    if (!v || cJSON_IsNull(v))
        return FT_OK;
    if (cJSON_IsString(v) && is_string) {
        *is_string = true;
        *out = ft_strdup(v->valuestring);
        return *out ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    if (ints && cJSON_IsNumber(v)) { /* layers_to_transform: an int is one layer */
        if (v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0)
            return ft_fail(FT_ERR_CONFIG, "%s: '%s' must be a layer index or a list of them", path, key);
        char buf[32];
        snprintf(buf, sizeof buf, "%.0f\n", v->valuedouble);
        *out = ft_strdup(buf);
        return *out ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    if (!cJSON_IsArray(v))
        return ft_fail(FT_ERR_CONFIG, "%s: '%s' must be %s", path, key,
                       ints ? "a layer index or a list of them" : "a list of names or a regex string");
    size_t n = 1;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (ints ? !cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0
                 : !cJSON_IsString(e) || !*e->valuestring || strchr(e->valuestring, '\n'))
            return ft_fail(FT_ERR_CONFIG, "%s: '%s' must hold %s", path, key,
                           ints ? "layer indices" : "names");
        n += (ints ? 24 : strlen(e->valuestring)) + 1;
    }
    if (cJSON_GetArraySize(v) == 0)
        return FT_OK;
    char *buf = malloc(n);
    if (!buf)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    size_t o = 0;
    cJSON_ArrayForEach(e, v) {
        o += ints ? (size_t)snprintf(buf + o, n - o, "%.0f\n", e->valuedouble)
                  : (size_t)snprintf(buf + o, n - o, "%s\n", e->valuestring);
    }
    *out = buf;
    return FT_OK;
}

/* rank_pattern / alpha_pattern {key: value} → "key:value\n..." in the file's order (PEFT reads the JSON
 * into a dict and tries its keys in that order). NULL when absent or empty. */
static ft_status json_pattern_text(const cJSON *v, const char *path, const char *key, bool integer,
                                   char **out) {
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return FT_OK;
    if (!cJSON_IsObject(v))
        return ft_fail(FT_ERR_CONFIG, "%s: '%s' must be an object {module key: value}", path, key);
    size_t n = 1;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble > 0) ||
            (integer && e->valuedouble != floor(e->valuedouble)) || !*e->string || strchr(e->string, '\n'))
            return ft_fail(FT_ERR_CONFIG, "%s: %s['%s'] must be a positive %s", path, key, e->string,
                           integer ? "integer" : "number");
        n += strlen(e->string) + 34;
    }
    if (!v->child)
        return FT_OK;
    char *buf = malloc(n);
    if (!buf)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    size_t o = 0;
    cJSON_ArrayForEach(e, v) {
        o += (size_t)snprintf(buf + o, n - o, "%s:%.17g\n", e->string, e->valuedouble);
    }
    *out = buf;
    return FT_OK;
}

/* LoraConfig keys that would change the computation and that ftune does not implement: refused when
 * set to anything but their default (null / false / {} / []). */
static const char *const LORA_REFUSED[][2] = {
    {"use_qalora", "QA-LoRA pools the input of lora_A"},
    {"lora_bias", "a bias on lora_B"},
    {"layer_replication", "replicated layers"},
    {"target_parameters", "LoRA on nn.Parameters"},
    {"trainable_token_indices", "trainable token embeddings"},
    {"alora_invocation_tokens", "activated LoRA (applies after the invocation tokens only)"},
    {"arrow_config", "Arrow routing over several LoRA experts"},
    {"use_bdlora", "block-diagonal LoRA"},
    {"velora_config", "VeLoRA"},
    {"monteclora_config", "MonteCLoRA"},
    {"kasa_config", "KaSA"},
};

static bool json_is_default(const cJSON *v) {
    return !v || cJSON_IsNull(v) || cJSON_IsFalse(v) ||
           ((cJSON_IsArray(v) || cJSON_IsObject(v)) && !v->child);
}

/* Everything of a LoRA adapter_config.json that the computation depends on → c; text buffers in bufs. */
static ft_status load_lora_cfg(const cJSON *j, const char *cpath, ft_peft_cfg *c, char *bufs[5]) {
    for (size_t i = 0; i < sizeof LORA_REFUSED / sizeof *LORA_REFUSED; i++)
        if (!json_is_default(cJSON_GetObjectItemCaseSensitive(j, LORA_REFUSED[i][0])))
            return ft_fail(FT_ERR_UNSUPPORTED, "%s: '%s' (%s) is not supported", cpath, LORA_REFUSED[i][0],
                           LORA_REFUSED[i][1]);
    const char *init = jstr(j, "init_lora_weights");
    /* these initializations also rewrite the base weights (W - s·B₀A₀ or a quantized W), which PEFT redoes
     * when it loads the adapter */
    if (init && (!strncmp(init, "pissa", 5) || !strncmp(init, "corda", 5) || !strcmp(init, "olora") ||
                 !strcmp(init, "loftq") || !strcmp(init, "lora_ga")))
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "%s: init_lora_weights '%s' changes the base weights; it is not "
                       "supported (convert the adapter to plain LoRA first)",
                       cpath, init);
    double v = 0.0;
    bool have;
    FT_TRY(jnum_in(j, cpath, "r", 1, 1 << 20, true, &have, &v));
    if (have)
        c->lora_r = (int)v;
    FT_TRY(jnum_in(j, cpath, "lora_alpha", -1e30, 1e30, false, &have, &v));
    if (have)
        c->lora_alpha = (float)v;
    FT_TRY(jnum_in(j, cpath, "lora_dropout", 0, 1, false, &have, &v));
    if (have)
        c->lora_dropout = (float)v;
    c->use_rslora = jtrue(j, "use_rslora");
    c->use_dora = jtrue(j, "use_dora");
    if (jstr(j, "bias"))
        c->lora_bias = jstr(j, "bias");
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(j, "layers_to_transform");
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(j, "layers_pattern");
    bool str;
    FT_TRY(json_list_text(lt, cpath, "layers_to_transform", true, &bufs[0], NULL));
    FT_TRY(json_list_text(lp, cpath, "layers_pattern", false, &bufs[1], &str));
    if (str) { /* one pattern; "" is none */
        char *t = bufs[1];
        bufs[1] = *t ? malloc(strlen(t) + 2) : NULL;
        if (bufs[1])
            sprintf(bufs[1], "%s\n", t);
        free(t);
    }
    /* LoraConfig.__post_init__ refuses a str target_modules with a layers_to_transform or layers_pattern
     * that is not None, and a layers_pattern (truthy) with layers_to_transform None */
    const bool lt_set = lt && !cJSON_IsNull(lt), lp_set = lp && !cJSON_IsNull(lp);
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "target_modules")) && (lt_set || lp_set))
        return ft_fail(FT_ERR_CONFIG,
                       "%s: layers_to_transform / layers_pattern cannot be used when target_modules "
                       "is a string (PEFT refuses that config)",
                       cpath);
    if (bufs[1] && !lt_set)
        return ft_fail(FT_ERR_CONFIG,
                       "%s: layers_pattern is set but layers_to_transform is not (PEFT refuses that)", cpath);
    if (!bufs[0]) { /* layers_to_transform [] selects every layer: the pattern has no effect */
        free(bufs[1]);
        bufs[1] = NULL;
    }
    c->layers_to_transform = bufs[0];
    c->layers_pattern = bufs[1];
    FT_TRY(json_pattern_text(cJSON_GetObjectItemCaseSensitive(j, "rank_pattern"), cpath, "rank_pattern", true,
                             &bufs[2]));
    FT_TRY(json_pattern_text(cJSON_GetObjectItemCaseSensitive(j, "alpha_pattern"), cpath, "alpha_pattern",
                             false, &bufs[3]));
    c->rank_pattern = bufs[2];
    c->alpha_pattern = bufs[3];
    return FT_OK;
}

/* Element e of a float tensor of the file as fp32 (dtype checked by the caller: F32, BF16 or F16). */
static float st_elem(const ft_st_tensor *t, int64_t e) {
    const uint8_t *src = t->data;
    if (t->dtype == FT_DT_F32) {
        float v;
        memcpy(&v, src + 4 * e, 4);
        return v;
    }
    uint16_t h;
    memcpy(&h, src + 2 * e, 2);
    return t->dtype == FT_DT_BF16 ? ft_bf16_to_f32(h) : ft_f16_to_f32(h);
}

static bool st_float(const ft_st_tensor *t) {
    return t->dtype == FT_DT_F32 || t->dtype == FT_DT_BF16 || t->dtype == FT_DT_F16;
}

/* PEFT also saves a targeted embed_tokens' own table, as <module>.base_layer.weight (save_embedding_layers
 * "auto"). *is: t is such a table of an embedding this adapter wraps; it must equal the base model's. */
static ft_status saved_base_embedding(const ft_model *m, const ft_st_tensor *t, const char *wpath, bool *is) {
    *is = false;
    for (int e = 0; e < FT_N_EMB; e++) {
        char path[64], nm[160];
        int wi;
        if (m->emb[e].lora_a < 0 || !ft_model_emb(m, (ft_emb)e, &wi, NULL, NULL, path, sizeof path))
            continue;
        snprintf(nm, sizeof nm, "base_model.model.%s.base_layer.weight", path);
        if (strcmp(nm, t->name))
            continue;
        const ft_param *p = &m->params[wi];
        bool same = st_float(t) && t->numel == p->numel && t->ndim == 2 && t->shape[0] == p->shape[0];
        for (int64_t i = 0; same && i < p->numel; i++)
            same = st_elem(t, i) == ft_param_at(p, i);
        if (!same)
            return ft_fail(FT_ERR_UNSUPPORTED,
                           "%s: tensor '%s' differs from the base model's %s (a resized or "
                           "trained embedding table is not supported)",
                           wpath, t->name, p->name);
        *is = true;
    }
    return FT_OK;
}

ft_status ft_peft_load(ft_model *m, const char *dir) {
    char cpath[4096], wpath[4096];
    ft_path_join(cpath, sizeof cpath, dir, "adapter_config.json");
    ft_path_join(wpath, sizeof wpath, dir, "adapter_model.safetensors");
    char *txt;
    FT_TRY(ft_read_file(cpath, &txt, NULL));
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return ft_fail(FT_ERR_FORMAT, "%s: not a JSON object", cpath);
    }
    ft_peft_cfg c;
    ft_peft_cfg_default(&c);
    char *bufs[8] = {0}; /* text forms of the lists (freed at the end) */
    ft_status s = FT_OK;
    const char *type = jstr(j, "peft_type");
    double v = 0.0;
    if (!type)
        s = ft_fail(FT_ERR_CONFIG, "%s: missing 'peft_type'", cpath);
    else if (!strcmp(type, "LORA")) {
        c.method = FT_METHOD_LORA;
        s = load_lora_cfg(j, cpath, &c, bufs);
    } else if (!strcmp(type, "IA3")) {
        c.method = FT_METHOD_IA3;
        bool rx;
        s = json_list_text(cJSON_GetObjectItemCaseSensitive(j, "feedforward_modules"), cpath,
                           "feedforward_modules", false, &bufs[4], &rx);
        if (s == FT_OK && rx)
            s = ft_fail(FT_ERR_UNSUPPORTED, "%s: a regex feedforward_modules is not supported (give a list)",
                        cpath);
        c.ia3_feedforward_modules = bufs[4];
    } else if (!strcmp(type, "PROMPT_TUNING")) {
        c.method = FT_METHOD_PROMPT;
        bool have = false;
        s = jnum_in(j, cpath, "num_virtual_tokens", 1, 1 << 20, true, &have, &v);
        if (s == FT_OK && !have)
            s = ft_fail(FT_ERR_CONFIG, "%s: missing 'num_virtual_tokens'", cpath);
        if (s == FT_OK)
            c.num_virtual_tokens = (int)v;
        if (s == FT_OK && jnum(j, "num_transformer_submodules", &v) && v != 1 &&
            !(ft_model_is_t5(m) && v == 2))
            s = ft_fail(FT_ERR_UNSUPPORTED,
                        "%s: num_transformer_submodules %g (decoder models use 1, T5 1 or 2)", cpath, v);
        else if (s == FT_OK && jnum(j, "num_transformer_submodules", &v))
            c.prompt_submodules = (int)v;
    } else if (!strcmp(type, "BITFIT")) {
        c.method = FT_METHOD_BITFIT;
    } else if (!strcmp(type, "BOTTLENECK_ADAPTER")) {
        c.method = FT_METHOD_ADAPTER;
        bool have = false;
        s = jnum_in(j, cpath, "adapter_size", 1, 1 << 20, true, &have, &v);
        if (s == FT_OK && have)
            c.adapter_size = (int)v;
        if (jstr(j, "adapter_placement"))
            c.adapter_placement = jstr(j, "adapter_placement");
        if (jstr(j, "adapter_act"))
            c.adapter_act = jstr(j, "adapter_act");
    } else {
        s = ft_fail(FT_ERR_UNSUPPORTED, "%s: unknown peft_type '%s' (LORA, IA3, PROMPT_TUNING, BITFIT, "
                                        "BOTTLENECK_ADAPTER)", cpath, type);
    }
    if (s == FT_OK && (c.method == FT_METHOD_LORA || c.method == FT_METHOD_IA3)) {
        s = json_list_text(cJSON_GetObjectItemCaseSensitive(j, "target_modules"), cpath, "target_modules",
                           false, &bufs[5], &c.target_regex);
        c.target_modules = bufs[5];
        if (s == FT_OK && c.target_regex && !strcasecmp(bufs[5], "all-linear")) { /* PEFT lower-cases it */
            c.target_regex = false;
            c.target_modules = "all-linear";
        } else if (s == FT_OK && !c.target_regex && bufs[5] && !strcmp(bufs[5], "all-linear\n"))
            c.target_modules =
                "all-linear"; /* ["all-linear"]: what ftune wrote before it resolved the list */
        if (s == FT_OK)
            s = json_list_text(cJSON_GetObjectItemCaseSensitive(j, "exclude_modules"), cpath,
                               "exclude_modules", false, &bufs[6], &c.exclude_regex);
        c.exclude_modules = bufs[6];
    }
    ft_st_file *f = NULL;
    if (s == FT_OK)
        s = ft_st_open(wpath, &f);
    /* a trained head (modules_to_save) sets the task before the method attaches */
    if (s == FT_OK && m->score < 0) {
        const cJSON *tt = cJSON_GetObjectItemCaseSensitive(j, "task_type");
        const bool tok =
            ft_model_is_encoder(m) && cJSON_IsString(tt) && !strcmp(tt->valuestring, "TOKEN_CLS");
        char hn[160];
        snprintf(hn, sizeof hn, "base_model.model.%s",
                 tok ? "classifier.weight" : ft_model_head_weight_name(m));
        const ft_st_tensor *h = ft_st_find(f, hn);
        if (h && h->ndim == 2 && h->shape[1] == m->cfg.hidden)
            s = ft_model_set_task(m,
                                  tok                ? FT_TASK_TOKEN_CLS
                                  : h->shape[0] == 1 ? FT_TASK_REGRESSION
                                                     : FT_TASK_SEQ_CLS,
                                  (int)h->shape[0], NULL, 0);
        else if (ft_model_is_encoder(m) && ft_st_find(f, "base_model.model.qa_outputs.weight"))
            s = ft_model_set_task(m, FT_TASK_QA, 2, NULL, 0); /* a question-answering head */
    }
    if (s == FT_OK)
        s = ft_peft_apply(m, &c);
    /* ensure_weight_tying: PEFT then also adapts the head tied to a targeted token embedding; ftune adapts
     * the input lookup only (docs/peft.md), so such a file would compute differently */
    if (s == FT_OK && jtrue(j, "ensure_weight_tying") && m->emb[FT_EMB_TOKENS].lora_a >= 0 && m->lm_head == m->wte)
        s = ft_fail(FT_ERR_UNSUPPORTED,
                    "%s: 'ensure_weight_tying' true with LoRA on the tied token embedding (PEFT then adapts the "
                    "tied head too) is not supported",
                    cpath);
    if (s == FT_OK) { /* keep the adapter's own config for saving */
        cJSON_Delete(m->peft_config);
        m->peft_config = cJSON_Duplicate(j, 1);
    }
    /* bind every tensor of the file to a trainable parameter of the same PEFT name and shape */
    int bound = 0;
    for (size_t i = 0; s == FT_OK && i < ft_st_count(f); i++) {
        const ft_st_tensor *t = ft_st_at(f, i);
        int idx = -1;
        char nm[512];
        for (int p = 0; p < m->n_params && idx < 0; p++) {
            if (!m->params[p].trainable)
                continue;
            ft_peft_tensor_name(m, p, nm, sizeof nm);
            if (!strcmp(nm, t->name))
                idx = p;
            /* older PEFT files name a wrapped layer's bias without ".base_layer" */
            char plain[512];
            snprintf(plain, sizeof plain, "base_model.model.%s", m->params[p].name);
            if (!m->params[p].extra && !strcmp(plain, t->name) && strcmp(nm, plain)) {
                idx = p;
                free(m->params[p].alias);
                m->params[p].alias = ft_strdup(plain); /* keep the file's naming for dump and save */
            }
        }
        if (idx < 0) {
            bool base_table = false;
            s = saved_base_embedding(m, t, wpath, &base_table);
            if (s == FT_OK && base_table)
                continue;
            if (s == FT_OK)
                s = ft_fail(FT_ERR_SHAPE,
                            "%s: tensor '%s' does not belong to this %s model with this adapter config "
                            "(wrong base architecture or target modules?)",
                            wpath, t->name, m->cfg.model_type);
            break;
        }
        ft_param *p = &m->params[idx];
        if (t->numel != p->numel || t->ndim != p->ndim || t->shape[0] != p->shape[0]) {
            s = ft_fail(FT_ERR_SHAPE, "%s: tensor '%s' has shape [%lld%s%lld], the model expects [%lld%s%lld]", wpath,
                        t->name, (long long)t->shape[0], t->ndim > 1 ? ", " : "", t->ndim > 1 ? (long long)t->shape[1] : 0LL,
                        (long long)p->shape[0], p->ndim > 1 ? ", " : "", p->ndim > 1 ? (long long)p->shape[1] : 0LL);
            break;
        }
        if (!st_float(t)) {
            s = ft_fail(FT_ERR_SHAPE, "%s: tensor '%s' has dtype %s, expected F32/BF16/F16", wpath, t->name,
                        ft_dtype_name(t->dtype));
            break;
        }
        for (int64_t e = 0; e < p->numel; e++)
            p->data[e] = st_elem(t, e);
        bound++;
    }
    if (s == FT_OK) { /* every attached tensor must come from the file */
        for (int p = 0; p < m->n_params; p++) {
            if (!m->params[p].trainable)
                continue;
            char nm[512];
            ft_peft_tensor_name(m, p, nm, sizeof nm);
            char plain[512];
            snprintf(plain, sizeof plain, "base_model.model.%s", m->params[p].name);
            if (!ft_st_find(f, nm) && (m->params[p].extra || !ft_st_find(f, plain))) {
                s = ft_fail(FT_ERR_MISSING, "%s: adapter tensor '%s' is missing", wpath, nm);
                break;
            }
        }
    }
    ft_st_close(f);
    cJSON_Delete(j);
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
    return s;
}

static ft_status save_adapter(const ft_model *m, const char *dir) {
    FT_TRY(ft_mkdir_p(dir));
    ft_st_writer *w = ft_st_writer_new();
    if (!w)
        return FT_ERR_NOMEM;
    char (*names)[512] = calloc((size_t)m->n_params, sizeof *names);
    ft_status s = names ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int i = 0; s == FT_OK && i < m->n_params; i++) {
        const ft_param *p = &m->params[i];
        if (!p->trainable)
            continue;
        ft_peft_tensor_name(m, i, names[i], sizeof names[i]);
        s = ft_st_writer_add(w, names[i], FT_DT_F32, p->ndim, p->shape, p->data);
    }
    char path[4096];
    if (s == FT_OK)
        s = ft_st_writer_set_metadata(w, "format", "pt");
    if (s == FT_OK)
        s = ft_st_writer_write(w, ft_path_join(path, sizeof path, dir, "adapter_model.safetensors"));
    if (s == FT_OK)
        s = ft_json_write_file(ft_path_join(path, sizeof path, dir, "adapter_config.json"), m->peft_config, true);
    free(names);
    ft_st_writer_free(w);
    return s;
}

ft_status ft_model_save_output(const ft_model *m, const char *dir) {
    if (m->peft_method == FT_METHOD_FULL || !m->peft_config)
        return ft_model_save(m, dir, FT_DT_F32);
    return save_adapter(m, dir);
}

/* Own a writable fp32 copy of a base weight (it may live in the read-only mapping). */
static ft_status own(ft_model *m, int idx) {
    ft_param *p = &m->params[idx];
    if (p->owned)
        return FT_OK;
    float *d = ft_alloc((size_t)p->numel * sizeof(float));
    if (!d)
        return FT_ERR_NOMEM;
    memcpy(d, p->data, (size_t)p->numel * sizeof(float));
    p->data = d;
    p->owned = true;
    return FT_OK;
}

/* A tied LM head keeps the embedding's original matrix when an embedding LoRA is merged: the head becomes its
 * own "lm_head.weight" (saved, with tie_word_embeddings false), so merged logits equal unmerged ones (PEFT's
 * in-place merge would change the head too). The bf16 copy of the original matrix moves with it. */
static ft_status untie_head(ft_model *m) {
    const ft_param *E = &m->params[m->wte];
    int h = ft_model_find_param(m, "lm_head.weight");
    if (h < 0 && (h = ft_model_add_param(m, "lm_head.weight", 2, E->shape[0], E->shape[1])) < 0)
        return FT_ERR_NOMEM;
    ft_param *H = &m->params[h], *W = &m->params[m->wte];
    memcpy(H->data, W->data, (size_t)W->numel * sizeof(float));
    H->data16 = W->data16;
    W->data16 = NULL;
    m->lm_head = h;
    return FT_OK;
}

static void retie_head(ft_model *m) {
    const int h = m->lm_head;
    ft_param *H = &m->params[h];
    m->params[m->wte].data16 = H->data16;
    H->data16 = NULL;
    m->lm_head = m->wte;
    if (h == m->n_params - 1) { /* drop it when nothing was added after it */
        ft_free(H->data);
        ft_free(H->grad);
        free(H->name);
        free(H->alias);
        m->n_params--;
    }
}

/* E [V, C] += s·(B·A)ᵀ: row v gains s·Σ_k A[k, v]·B[:, k]. */
static ft_status merge_embedding(ft_model *m, ft_emb e) {
    ft_emb_peft *ep = &m->emb[e];
    int wi;
    int64_t V;
    if (!ft_model_emb(m, e, &wi, &V, NULL, NULL, 0))
        return FT_OK;
    if (wi == m->lm_head)
        FT_TRY(untie_head(m));
    FT_TRY(own(m, wi));
    const int64_t C = m->cfg.hidden;
    float *E = m->params[wi].data;
    const float *A = m->params[ep->lora_a].data, *B = m->params[ep->lora_b].data;
#pragma omp parallel for schedule(static)
    for (int64_t v = 0; v < V; v++)
        for (int64_t j = 0; j < C; j++) {
            float acc = 0.0f;
            for (int k = 0; k < ep->r; k++)
                acc += B[j * ep->r + k] * A[(int64_t)k * V + v];
            E[v * C + j] += ep->lora_scale * acc;
        }
    ep->lora_a = ep->lora_b = -1;
    return FT_OK;
}

ft_status ft_peft_merge(ft_model *m) {
    if (m->merged_sites)
        return ft_fail(FT_ERR_ARG, "the adapter is already merged");
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].q8)
            return ft_fail(
                FT_ERR_UNSUPPORTED,
                "merge: '%s' is held quantized to int8 (train.base_dtype int8); merging writes the "
                "base: load it with base_dtype fp32 (ftune merge does) and merge there",
                m->params[i].name);
    for (int i = 0; i < m->n_params; i++) {
        if (m->params[i].half)
            return ft_fail(
                FT_ERR_UNSUPPORTED,
                "merge: '%s' is held read-only in its file dtype (%s, train.base_dtype auto/file); "
                "merging writes the base: load it with base_dtype fp32 (ftune merge does) and save "
                "the merged model as bf16 from there",
                m->params[i].name, ft_dtype_name(m->params[i].file_dtype));
    }
    if (m->prompt >= 0)
        return ft_fail(FT_ERR_UNSUPPORTED, "prompt tuning cannot be merged into the weights (it adds virtual tokens)");
    for (int i = 0; i < m->cfg.n_layers * 2; i++)
        if (m->adapters[i].down_w >= 0)
            return ft_fail(FT_ERR_UNSUPPORTED, "bottleneck adapters cannot be merged into the weights (they add layers)");
    const size_t ns = (size_t)m->cfg.n_layers * FT_N_SITES;
    m->merged_sites = malloc(ns * sizeof *m->merged_sites);
    if (!m->merged_sites)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    memcpy(m->merged_sites, m->sites, ns * sizeof *m->sites); /* what unmerge detaches again */
    m->merged_method = m->peft_method;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int s = 0; s < FT_N_SITES; s++) {
            ft_site_peft *sp = &m->sites[l * FT_N_SITES + s];
            int wi, bi;
            int64_t in, out;
            bool io;
            if (!ft_model_site(m, l, (ft_site)s, &wi, &bi, &in, &out, &io, NULL, 0))
                continue;
            if (sp->lora_a >= 0) { /* W += s·B·A ([out,in]); Conv1D stores Wᵀ so W += s·(B·A)ᵀ */
                FT_TRY(own(m, wi));
                float *W = m->params[wi].data;
                const float *A = m->params[sp->lora_a].data, *B = m->params[sp->lora_b].data;
                const float *mag = sp->dora_m >= 0 ? m->params[sp->dora_m].data : NULL;
#pragma omp parallel for schedule(static)
                for (int64_t o = 0; o < out; o++) {
                    double ss = 0.0;
                    for (int64_t i = 0; i < in; i++) {
                        float acc = 0.0f;
                        for (int k = 0; k < sp->r; k++)
                            acc += B[o * sp->r + k] * A[(int64_t)k * in + i];
                        float *w = &W[io ? i * out + o : o * in + i];
                        *w += sp->lora_scale * acc;
                        ss += (double)*w * *w;
                    }
                    if (mag) { /* DoRA: W' scaled per output row to magnitude m */
                        float g = (float)(mag[o] / sqrt(ss > 0.0 ? ss : 1e-30));
                        for (int64_t i = 0; i < in; i++)
                            W[io ? i * out + o : o * in + i] *= g;
                    }
                }
                sp->lora_a = sp->lora_b = sp->dora_m = -1;
            }
            if (sp->ia3 >= 0) { /* input scaling: columns over in; output scaling: rows over out and bias */
                FT_TRY(own(m, wi));
                float *W = m->params[wi].data;
                const float *g = m->params[sp->ia3].data;
                for (int64_t o = 0; o < out; o++)
                    for (int64_t i = 0; i < in; i++)
                        W[io ? i * out + o : o * in + i] *= sp->ia3_in ? g[i] : g[o];
                if (!sp->ia3_in && bi >= 0) {
                    FT_TRY(own(m, bi));
                    for (int64_t o = 0; o < out; o++)
                        m->params[bi].data[o] *= g[o];
                }
                sp->ia3 = -1;
            }
        }
    memcpy(m->merged_emb, m->emb, sizeof m->emb);
    for (int e = 0; e < FT_N_EMB; e++)
        if (m->emb[e].lora_a >= 0)
            FT_TRY(merge_embedding(m, (ft_emb)e));
    m->peft_method = FT_METHOD_FULL;
    ft_model_mark_dirty(m, true); /* base weights changed in place */
    return FT_OK;
}

ft_status ft_peft_unmerge(ft_model *m) {
    if (!m->merged_sites)
        return ft_fail(FT_ERR_ARG, "nothing is merged");
    /* the base weights come back bit-exactly from the checkpoint mapping, the adapter re-attaches */
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int s = 0; s < FT_N_SITES; s++) {
            const ft_site_peft *sp = &m->merged_sites[l * FT_N_SITES + s];
            int wi, bi;
            if (!ft_model_site(m, l, (ft_site)s, &wi, &bi, NULL, NULL, NULL, NULL, 0))
                continue;
            if (sp->lora_a >= 0 || sp->ia3 >= 0)
                FT_TRY(ft_model_reload_param(m, wi));
            if (sp->ia3 >= 0 && !sp->ia3_in && bi >= 0)
                FT_TRY(ft_model_reload_param(m, bi));
        }
    for (int e = 0; e < FT_N_EMB; e++) {
        int wi;
        if (m->merged_emb[e].lora_a < 0 || !ft_model_emb(m, (ft_emb)e, &wi, NULL, NULL, NULL, 0))
            continue;
        FT_TRY(ft_model_reload_param(m, wi));
        if (wi == m->wte && m->cfg.tie_embeddings && m->lm_head != m->wte)
            retie_head(m);
    }
    memcpy(m->emb, m->merged_emb, sizeof m->emb);
    memcpy(m->sites, m->merged_sites, (size_t)m->cfg.n_layers * FT_N_SITES * sizeof *m->sites);
    free(m->merged_sites);
    m->merged_sites = NULL;
    m->peft_method = m->merged_method;
    ft_model_mark_dirty(m, true); /* base weights changed in place */
    return FT_OK;
}
