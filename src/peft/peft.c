/* peft: method selection, target matching, attaching LoRA / IA3 / prompt / adapter / BitFit tensors,
 * PEFT-format save and load, merge. Tensor names follow Hugging Face PEFT:
 *   base_model.model.<module>.lora_A.weight [r,in], .lora_B.weight [out,r], <module>.ia3_l,
 *   prompt_embeddings [n, hidden]; our own BITFIT / BOTTLENECK_ADAPTER use the same layout. */
#include <ctype.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "peft/peft.h"
#include "tokenizer/tokenizer.h"

#define PREFIX "base_model.model."

void ft_peft_cfg_default(ft_peft_cfg *c) {
    memset(c, 0, sizeof *c);
    c->method = FT_METHOD_FULL;
    c->lora_r = 8;
    c->lora_alpha = 8.0f;
    c->lora_bias = "none";
    c->lora_init = "default";
    c->adapter_size = 64;
    c->adapter_placement = "houlsby";
    c->adapter_act = "relu";
    c->num_virtual_tokens = 20;
    c->seed = 42;
}

static const char *METHOD_NAMES[] = {"full", "lora", "adapter", "prompt", "bitfit", "ia3"};

ft_status ft_method_parse(const char *name, ft_method *out) {
    for (int i = 0; i < 6; i++)
        if (!strcmp(name, METHOD_NAMES[i])) {
            *out = (ft_method)i;
            return FT_OK;
        }
    return ft_fail(FT_ERR_ARG, "unknown method '%s' (full, lora, adapter, prompt, bitfit, ia3)", name);
}

const char *ft_method_name(ft_method m) { return (unsigned)m < 6 ? METHOD_NAMES[m] : "?"; }

/* ---------- target matching (PEFT 0.21: check_target_module_exists, get_pattern_key) ---------- */

/* Items of a list text: separated by newlines when it has any, else by commas (then trimmed of spaces).
 * *out: malloc'd array of malloc'd strings (free with items_free). */
static ft_status items_split(const char *text, char ***out, int *n) {
    *out = NULL;
    *n = 0;
    const char sep = strchr(text, '\n') ? '\n' : ',';
    int cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == sep;
    char **v = calloc((size_t)cap, sizeof *v);
    if (!v)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    int k = 0;
    for (const char *p = text;;) {
        const char *e = strchr(p, sep);
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *q = p;
        if (sep == ',')
            while (len && (*q == ' ' || q[len - 1] == ' ')) {
                if (*q == ' ')
                    q++;
                len--;
            }
        if (len) {
            if (!(v[k] = malloc(len + 1))) {
                for (int i = 0; i < k; i++)
                    free(v[i]);
                free(v);
                return ft_fail(FT_ERR_NOMEM, "out of memory");
            }
            memcpy(v[k], q, len);
            v[k++][len] = 0;
        }
        if (!e)
            break;
        p = e + 1;
    }
    *out = v;
    *n = k;
    return FT_OK;
}

static void items_free(char **v, int n) {
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

bool ft_peft_spec_is_regex(const char *spec) {
    for (const unsigned char *p = (const unsigned char *)spec; *p; p++)
        if (!(isalnum(*p) || *p == '_' || *p == '.' || *p == '-' || *p == ',' || *p == ' '))
            return true;
    return false;
}

static pcre2_code *re_compile(const char *pat, uint32_t opts, const char *what, const char *item,
                              ft_status *s) {
    int err;
    PCRE2_SIZE off;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts | PCRE2_UTF, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        *s = ft_fail(FT_ERR_CONFIG, "%s '%s': %s", what, item, (char *)msg);
    }
    return re;
}

/* Whether re matches path (anchored as compiled); group 1 as an int in *g1 when g1 is not NULL. */
static bool re_match(const pcre2_code *re, const char *path, long *g1) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md)
        return false;
    int rc = pcre2_match(re, (PCRE2_SPTR)path, strlen(path), 0, 0, md, NULL);
    if (rc > 1 && g1) {
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        *g1 = strtol(path + ov[2], NULL, 10);
    }
    pcre2_match_data_free(md);
    return rc >= 0;
}

/* target_modules / exclude_modules: "all-linear", names, or one regex (fullmatch). */
typedef struct {
    bool all_linear, regex;
    char **names;
    int n;
    pcre2_code *re;
} target_set;

static ft_status targets_parse(target_set *t, const char *spec, bool regex, const char *what) {
    memset(t, 0, sizeof *t);
    if (!regex && !strcmp(spec, "all-linear")) {
        t->all_linear = true;
        return FT_OK;
    }
    if (regex) {
        ft_status s = FT_OK;
        t->re = re_compile(spec, PCRE2_ANCHORED | PCRE2_ENDANCHORED, what, spec, &s);
        t->regex = true;
        return s;
    }
    FT_TRY(items_split(spec, &t->names, &t->n));
    if (t->n == 0)
        return ft_fail(FT_ERR_CONFIG, "%s is empty", what);
    return FT_OK;
}

static void targets_free(target_set *t) {
    pcre2_code_free(t->re);
    items_free(t->names, t->n);
    memset(t, 0, sizeof *t);
}

static bool name_matches(const char *path, const char *name) {
    size_t lp = strlen(path), ln = strlen(name);
    if (!strcmp(path, name))
        return true;
    return lp > ln && path[lp - ln - 1] == '.' && !strcmp(path + lp - ln, name);
}

/* 0 no match, 1 the exact path is listed (or all-linear, a regex), 2 matched as a ".name" suffix */
static int targets_match(const target_set *t, const char *path) {
    if (t->all_linear)
        return 1;
    if (t->regex)
        return re_match(t->re, path, NULL);
    int how = 0;
    for (int i = 0; i < t->n && how != 1; i++)
        if (!strcmp(path, t->names[i]))
            how = 1;
        else if (name_matches(path, t->names[i]))
            how = 2;
    return how;
}

/* rank_pattern / alpha_pattern: key, value and the key's regex (.*\.)?(key)$ anchored at the start */
typedef struct {
    char *key;
    double value;
    pcre2_code *re;
} pattern_item;

static int cmp_pattern(const void *a, const void *b) {
    return strcmp(((const pattern_item *)a)->key, ((const pattern_item *)b)->key);
}

static void patterns_free(pattern_item *p, int n) {
    for (int i = 0; i < n; i++) {
        free(p[i].key);
        pcre2_code_free(p[i].re);
    }
    free(p);
}

static ft_status patterns_parse(const char *text, const char *what, bool integer, bool sorted,
                                pattern_item **out, int *n_out) {
    *out = NULL;
    *n_out = 0;
    if (!text || !*text)
        return FT_OK;
    char **it;
    int n;
    FT_TRY(items_split(text, &it, &n));
    pattern_item *p = calloc((size_t)(n ? n : 1), sizeof *p);
    if (!p) {
        items_free(it, n);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    ft_status s = FT_OK;
    for (int k = 0; s == FT_OK && k < n; k++) {
        char *colon = strrchr(it[k], ':'); /* the value has no ':', a key (a regex) may */
        char *end = NULL;
        double v = colon ? strtod(colon + 1, &end) : 0.0;
        if (!colon || colon == it[k] || end == colon + 1 || *end || !isfinite(v) || v <= 0 ||
            (integer && (v != floor(v) || v > 1e9))) {
            s = ft_fail(FT_ERR_CONFIG, "%s item '%s': expected key:%s", what, it[k],
                        integer ? "positive integer" : "positive number");
            break;
        }
        *colon = 0;
        p[k].key = it[k];
        it[k] = NULL;
        p[k].value = v;
        for (int j = 0; j < k; j++)
            if (!strcmp(p[j].key, p[k].key))
                s = ft_fail(FT_ERR_CONFIG, "%s: key '%s' is given twice", what, p[k].key);
        char *re = malloc(strlen(p[k].key) + 16);
        if (!re) {
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
            break;
        }
        sprintf(re, "(.*\\.)?(%s)$", p[k].key);
        if (s == FT_OK)
            p[k].re = re_compile(re, PCRE2_ANCHORED, what, p[k].key, &s);
        free(re);
    }
    items_free(it, n);
    if (s != FT_OK) {
        patterns_free(p, n);
        return s;
    }
    if (sorted)
        qsort(p, (size_t)n, sizeof *p, cmp_pattern);
    *out = p;
    *n_out = n;
    return FT_OK;
}

/* PEFT's get_pattern_key: the first key k (in order) with re.match(rf"(.*\.)?({k})$", path); else def */
static double pattern_value(const pattern_item *p, int n, const char *path, double def) {
    for (int i = 0; i < n; i++)
        if (re_match(p[i].re, path, NULL))
            return p[i].value;
    return def;
}

/* Everything that decides which modules a LoRA / IA3 adapter wraps, and their ranks. */
typedef struct {
    target_set targets, exclude;
    bool has_exclude;
    long *layers; /* layers_to_transform, NULL = every layer */
    int n_layers;
    pcre2_code **layer_re; /* how the layer index is read from a path */
    int n_layer_re;
    pattern_item *rank, *alpha;
    int n_rank, n_alpha;
    int n_excluded, n_layer_out; /* targeted modules that exclude_modules / the layer check removed */
} selector;

static void selector_free(selector *sel) {
    targets_free(&sel->targets);
    targets_free(&sel->exclude);
    free(sel->layers);
    for (int i = 0; i < sel->n_layer_re; i++)
        pcre2_code_free(sel->layer_re[i]);
    free(sel->layer_re);
    patterns_free(sel->rank, sel->n_rank);
    patterns_free(sel->alpha, sel->n_alpha);
    memset(sel, 0, sizeof *sel);
}

static ft_status selector_layers(selector *sel, const ft_peft_cfg *c) {
    char **it;
    int n;
    FT_TRY(items_split(c->layers_to_transform, &it, &n));
    ft_status s = FT_OK;
    if (n > 0 && !(sel->layers = malloc((size_t)n * sizeof *sel->layers)))
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int i = 0; s == FT_OK && i < n; i++) {
        char *end;
        long v = strtol(it[i], &end, 10);
        if (end == it[i] || *end || v < 0)
            s = ft_fail(FT_ERR_CONFIG, "layers_to_transform item '%s' is not a layer index (0, 1, ...)",
                        it[i]);
        else
            sel->layers[sel->n_layers++] = v;
    }
    items_free(it, n);
    if (s != FT_OK || sel->n_layers == 0) /* PEFT: an empty list selects every layer */
        return s;
    /* PEFT 0.21: re.match(r".*?\.[^.]*\.(\d+)\.", key) — the number after the first ".<x>."; with
     * layers_pattern, re.match(rf".*?\.{p}\.(\d+)\.", key) for each p in turn (p inserted as is) */
    char **pat = NULL;
    int np = 0;
    if (c->layers_pattern && *c->layers_pattern)
        FT_TRY(items_split(c->layers_pattern, &pat, &np));
    if (!(sel->layer_re = calloc((size_t)(np ? np : 1), sizeof *sel->layer_re)))
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int i = 0; s == FT_OK && i < (np ? np : 1); i++) {
        char *re = malloc((np ? strlen(pat[i]) : 5) + 24);
        if (!re) {
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
            break;
        }
        sprintf(re, ".*?\\.%s\\.(\\d+)\\.", np ? pat[i] : "[^.]*");
        sel->layer_re[i] = re_compile(re, PCRE2_ANCHORED, "layers_pattern", np ? pat[i] : "", &s);
        free(re);
        if (sel->layer_re[i])
            sel->n_layer_re++;
    }
    items_free(pat, np);
    return s;
}

static ft_status selector_init(selector *sel, const ft_peft_cfg *c, const char *targets, bool lora) {
    memset(sel, 0, sizeof *sel);
    ft_status s = targets_parse(&sel->targets, targets, c->target_regex, "target_modules");
    const bool layered = lora && c->layers_to_transform && *c->layers_to_transform;
    /* LoraConfig.__post_init__ refuses these combinations */
    if (s == FT_OK && lora && (sel->targets.regex || sel->targets.all_linear) &&
        (layered || c->layers_pattern))
        s = ft_fail(FT_ERR_CONFIG,
                    "layers_to_transform / layers_pattern cannot be used when target_modules is a "
                    "string ('%s'): PEFT refuses that config",
                    targets);
    if (s == FT_OK && lora && c->layers_pattern && *c->layers_pattern && !layered)
        s = ft_fail(FT_ERR_CONFIG, "layers_pattern '%s' needs layers_to_transform (as in PEFT)",
                    c->layers_pattern);
    if (s == FT_OK && c->exclude_modules && *c->exclude_modules) {
        s = targets_parse(&sel->exclude, c->exclude_modules, c->exclude_regex, "exclude_modules");
        sel->exclude.all_linear = false; /* "all-linear" is a plain name here */
        sel->has_exclude = true;
        if (s == FT_OK && !sel->exclude.regex && sel->exclude.n == 0)
            s = items_split(c->exclude_modules, &sel->exclude.names, &sel->exclude.n);
    }
    if (s == FT_OK && layered)
        s = selector_layers(sel, c);
    if (s == FT_OK && lora)
        s = patterns_parse(c->rank_pattern, "rank_pattern", true, c->pattern_sorted, &sel->rank,
                           &sel->n_rank);
    if (s == FT_OK && lora)
        s = patterns_parse(c->alpha_pattern, "alpha_pattern", false, c->pattern_sorted, &sel->alpha,
                           &sel->n_alpha);
    if (s != FT_OK)
        selector_free(sel);
    return s;
}

/* PEFT's check_target_module_exists for one module path. */
static bool selector_match(selector *sel, const char *path) {
    const int how = targets_match(&sel->targets, path); /* 1 exact (or a string target), 2 a ".name" suffix */
    if (sel->has_exclude && targets_match(&sel->exclude, path)) { /* exclude_modules is checked first */
        sel->n_excluded += how != 0;
        return false;
    }
    if (how != 2 || !sel->layers) /* the layer check applies only to a list entry matched as a suffix */
        return how != 0;
    long idx = -1;
    for (int i = 0; i < sel->n_layer_re && idx < 0; i++)
        if (!re_match(sel->layer_re[i], path, &idx))
            idx = -1;
    for (int i = 0; idx >= 0 && i < sel->n_layers; i++)
        if (sel->layers[i] == idx)
            return true;
    sel->n_layer_out++;
    return false;
}

static const char *default_targets(const ft_model *m, ft_method meth) {
    /* encoders: PEFT's bert/roberta/xlm-roberta defaults; PEFT has none for distilbert (ftune's choice) nor for
     * vit (its LoRA guide's query,value; IA3 as BERT, whose module names ViT shares: ftune's choice) */
    if (ft_model_is_vit(m))
        return meth == FT_METHOD_IA3 ? "key,value,output.dense" : "query,value";
    if (ft_model_is_t5(m)) /* PEFT's t5 / mt5 defaults */
        return meth == FT_METHOD_IA3 ? "k,v,wo" : "q,v";
    if (ft_model_is_encoder(m)) {
        const bool d = m->cfg.arch == FT_ARCH_DISTILBERT;
        if (meth == FT_METHOD_IA3)
            return d ? "k_lin,v_lin,ffn.lin2" : "key,value,output.dense";
        return d ? "q_lin,v_lin" : "query,value";
    }
    const bool g = m->cfg.arch == FT_ARCH_GPT2, qwen = !strcmp(m->cfg.model_type, "qwen2");
    if (meth == FT_METHOD_IA3)
        return g ? "c_attn,mlp.c_proj" : qwen ? "q_proj,v_proj,down_proj" : "k_proj,v_proj,down_proj";
    return g ? "c_attn" : "q_proj,v_proj";
}

/* An embedding for freezing: the token and position tables (ViT: positions, [CLS], the patch projection). */
static bool is_embedding(const ft_model *m, int i) {
    return i >= 0 && (i == m->wte || i == m->wpe || i == m->cls_tok || i == m->patch_w || i == m->patch_b);
}

static const char *default_ff(const ft_model *m) {
    if (ft_model_is_t5(m))
        return "wo";
    if (ft_model_is_encoder(m) || ft_model_is_vit(m)) /* a suffix: for BERT it also matches attention.output.dense, as in PEFT */
        return m->cfg.arch == FT_ARCH_DISTILBERT ? "ffn.lin2" : "output.dense";
    return m->cfg.arch == FT_ARCH_GPT2 ? "mlp.c_proj" : "down_proj";
}

/* A list text for a message: "a\nb\n" (read from a file) → "a,b". */
static const char *printable(char *buf, size_t n, const char *text) {
    snprintf(buf, n, "%s", text ? text : "(none)");
    for (char *p = buf; *p; p++)
        if (*p == '\n')
            *p = p[1] ? ',' : 0;
    return buf;
}

/* Error listing the module names that exist, when targets match nothing. */
static ft_status no_match(const ft_model *m, const ft_peft_cfg *c, const selector *sel,
                          const char *spec_text) {
    char list[1024], spec[512], ex[512], lt[256], lp[256];
    printable(spec, sizeof spec, spec_text);
    printable(ex, sizeof ex, c->exclude_modules);
    printable(lt, sizeof lt, c->layers_to_transform);
    printable(lp, sizeof lp, c->layers_pattern);
    size_t o = 0;
    list[0] = 0;
    for (int s = 0; s < FT_N_SITES; s++) {
        char path[256];
        if (!ft_model_site(m, 0, (ft_site)s, NULL, NULL, NULL, NULL, NULL, path, sizeof path))
            continue;
        const char *leaf = strchr(path + strlen(ft_model_layer_prefix(m)) + 1, '.');
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "", leaf ? leaf + 1 : path);
        if (o >= sizeof list)
            break;
    }
    if (sel->n_excluded > 0 && sel->n_layer_out == 0)
        return ft_fail(FT_ERR_CONFIG,
                       "no module is left to adapt: every module target_modules '%s' selects is "
                       "excluded by exclude_modules '%s'",
                       spec, ex);
    if (sel->layers)
        return ft_fail(FT_ERR_CONFIG,
                       "target_modules '%s' with layers_to_transform '%s' and layers_pattern '%s' "
                       "selects no module of this %s model (the layer index is read after '.%s.'; "
                       "its layers are %s.N, its linear modules per layer: %s)",
                       spec, lt, lp, m->cfg.model_type, c->layers_pattern ? lp : "<any name>",
                       ft_model_layer_prefix(m), list);
    return ft_fail(FT_ERR_CONFIG,
                   "target_modules '%s' matches no module of this %s model; its linear modules "
                   "are (per layer): %s; embeddings (LoRA): %s",
                   spec, m->cfg.model_type, list,
                   m->cfg.arch == FT_ARCH_GPT2 ? "wte, wpe"
                   : ft_model_is_vit(m)        ? "none"
                   : ft_model_is_encoder(m)    ? "word_embeddings, position_embeddings"
                                               : "embed_tokens");
}

/* ---------- attaching ---------- */

static int add_extra(ft_model *m, const char *name, int ndim, int64_t d0, int64_t d1) {
    int i = ft_model_add_param(m, name, ndim, d0, d1);
    if (i >= 0 && ft_model_set_trainable(m, i, true) != FT_OK)
        return -1;
    return i;
}

static void freeze_all(ft_model *m) {
    for (int i = 0; i < m->n_params; i++)
        if (!ft_model_is_head(m, i))
            ft_model_set_trainable(m, i, false);
}

static bool is_bias(const char *name) {
    size_t l = strlen(name);
    return l > 5 && !strcmp(name + l - 5, ".bias");
}

/* r and scale of the LoRA pair on a module (the one place a per-module rank / alpha would come from). */
static void lora_rank_scale(const ft_peft_cfg *c, const selector *sel, const char *path, int *r, float *scale) {
    /* LoraModel._create_and_replace: r and alpha from the first matching pattern key, else r / lora_alpha;
     * this module's scale alpha/r (rsLoRA alpha/√r) */
    *r = (int)pattern_value(sel->rank, sel->n_rank, path, c->lora_r);
    const float alpha = (float)pattern_value(sel->alpha, sel->n_alpha, path, c->lora_alpha);
    *scale = c->use_rslora ? alpha / sqrtf((float)*r) : alpha / (float)*r;
}

static ft_status attach_lora(ft_model *m, const ft_peft_cfg *c, selector *sel, uint64_t seed,
                             int *n_matched) {
    const bool gauss = c->lora_init && !strcmp(c->lora_init, "gaussian");
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int s = 0; s < FT_N_SITES; s++) {
            char path[256], name[320];
            int64_t in, out;
            int bi;
            if (!ft_model_site(m, l, (ft_site)s, NULL, &bi, &in, &out, NULL, path, sizeof path) ||
                !selector_match(sel, path))
                continue;
            ft_site_peft *sp = &m->sites[l * FT_N_SITES + s];
            int r;
            float scale;
            lora_rank_scale(c, sel, path, &r, &scale);
            snprintf(name, sizeof name, PREFIX "%s.lora_A.weight", path);
            sp->lora_a = add_extra(m, name, 2, r, in);
            snprintf(name, sizeof name, PREFIX "%s.lora_B.weight", path);
            sp->lora_b = add_extra(m, name, 2, out, r);
            if (sp->lora_a < 0 || sp->lora_b < 0)
                return FT_ERR_NOMEM;
            sp->r = r;
            sp->lora_scale = scale;
            sp->lora_dropout = c->lora_dropout;
            float *A = m->params[sp->lora_a].data;
            /* A: Kaiming-uniform(a=√5) = U(−1/√in, 1/√in); gaussian: N(0, 1/r). B = 0. */
            const float bound = 1.0f / sqrtf((float)in);
            for (int64_t j = 0; j < (int64_t)r * in; j++)
                A[j] = gauss ? ft_rng_normal(seed, 1000u + (uint64_t)sp->lora_a, (uint64_t)j) / (float)r
                             : (2.0f * ft_rng_uniform(seed, 1000u + (uint64_t)sp->lora_a, (uint64_t)j) - 1.0f) * bound;
            if (c->use_dora) { /* magnitude = ‖W‖ per output row (B = 0), so training starts from the base */
                snprintf(name, sizeof name, PREFIX "%s.lora_magnitude_vector", path);
                sp->dora_m = add_extra(m, name, 1, out, 0);
                if (sp->dora_m < 0)
                    return FT_ERR_NOMEM;
                int wi;
                bool io;
                ft_model_site(m, l, (ft_site)s, &wi, NULL, NULL, NULL, &io, NULL, 0);
                FT_TRY(ft_model_param_widen(m, wi)); /* DoRA's row norms read W as fp32 every step */
                const float *W = m->params[wi].data;
                float *mag = m->params[sp->dora_m].data;
                for (int64_t o = 0; o < out; o++) {
                    double ss = 0.0;
                    for (int64_t i = 0; i < in; i++) {
                        double w = io ? W[i * out + o] : W[o * in + i];
                        ss += w * w;
                    }
                    mag[o] = (float)sqrt(ss);
                }
            }
            if (c->lora_bias && !strcmp(c->lora_bias, "lora_only") && bi >= 0)
                FT_TRY(ft_model_set_trainable(m, bi, true));
            (*n_matched)++;
        }
    if (c->lora_bias && !strcmp(c->lora_bias, "all"))
        for (int i = 0; i < m->n_params; i++)
            if (!m->params[i].extra && is_bias(m->params[i].name))
                FT_TRY(ft_model_set_trainable(m, i, true));
    return FT_OK;
}

/* LoRA on embedding tables named in target_modules (PEFT lora.Embedding): lora_embedding_A [r, V] = 0 and
 * lora_embedding_B [C, r] ~ N(0, 1) (PEFT's init for embeddings, whatever init_lora_weights says), saved
 * without ".weight". "all-linear" never selects an embedding. IA3 has no embedding form. */
static ft_status attach_lora_embedding(ft_model *m, const ft_peft_cfg *c, selector *sel, uint64_t seed,
                                       int *n_matched) {
    for (int e = 0; e < FT_N_EMB; e++) {
        char path[64], name[160];
        int64_t V;
        if (sel->targets.all_linear || !ft_model_emb(m, (ft_emb)e, NULL, &V, NULL, path, sizeof path) ||
            !selector_match(sel, path))
            continue;
        if (c->method != FT_METHOD_LORA)
            return ft_fail(FT_ERR_UNSUPPORTED,
                           "target_modules selects the embedding %s: %s on an embedding is not "
                           "supported (PEFT has none either)",
                           path, ft_method_name(c->method));
        if (c->use_dora)
            return ft_fail(FT_ERR_UNSUPPORTED, "use_dora on the embedding %s is not supported yet", path);
        ft_emb_peft *ep = &m->emb[e];
        const int64_t C = m->cfg.hidden;
        lora_rank_scale(c, sel, path, &ep->r, &ep->lora_scale);
        snprintf(name, sizeof name, PREFIX "%s.lora_embedding_A", path);
        ep->lora_a = add_extra(m, name, 2, ep->r, V);
        snprintf(name, sizeof name, PREFIX "%s.lora_embedding_B", path);
        ep->lora_b = add_extra(m, name, 2, C, ep->r);
        if (ep->lora_a < 0 || ep->lora_b < 0)
            return FT_ERR_NOMEM;
        float *B = m->params[ep->lora_b].data;
        for (int64_t j = 0; j < C * ep->r; j++)
            B[j] = ft_rng_normal(seed, 4000u + (uint64_t)ep->lora_b, (uint64_t)j);
        (*n_matched)++;
    }
    return FT_OK;
}

static ft_status attach_ia3(ft_model *m, selector *sel, const target_set *ff, int *n_matched) {
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int s = 0; s < FT_N_SITES; s++) {
            char path[256], name[320];
            int64_t in, out;
            if (!ft_model_site(m, l, (ft_site)s, NULL, NULL, &in, &out, NULL, path, sizeof path) ||
                !selector_match(sel, path))
                continue;
            ft_site_peft *sp = &m->sites[l * FT_N_SITES + s];
            sp->ia3_in = targets_match(ff, path) != 0;
            snprintf(name, sizeof name, PREFIX "%s.ia3_l", path);
            sp->ia3 = sp->ia3_in ? add_extra(m, name, 2, 1, in) : add_extra(m, name, 2, out, 1);
            if (sp->ia3 < 0)
                return FT_ERR_NOMEM;
            float *v = m->params[sp->ia3].data;
            for (int64_t j = 0; j < m->params[sp->ia3].numel; j++)
                v[j] = 1.0f;
            (*n_matched)++;
        }
    return FT_OK;
}

static ft_status attach_adapter(ft_model *m, const ft_peft_cfg *c, uint64_t seed) {
    const bool pfeiffer = c->adapter_placement && !strcmp(c->adapter_placement, "pfeiffer");
    if (c->adapter_placement && !pfeiffer && strcmp(c->adapter_placement, "houlsby"))
        return ft_fail(FT_ERR_CONFIG, "adapter placement '%s' (houlsby or pfeiffer)", c->adapter_placement);
    const char *act = c->adapter_act ? c->adapter_act : "relu";
    if (!strcmp(act, "relu"))
        m->adapter_act = FT_ACT_RELU;
    else if (!strcmp(act, "gelu"))
        m->adapter_act = FT_ACT_GELU_ERF;
    else if (!strcmp(act, "silu"))
        m->adapter_act = FT_ACT_SILU;
    else
        return ft_fail(FT_ERR_CONFIG, "adapter non-linearity '%s' (relu, gelu, silu)", act);
    const int64_t C = m->cfg.hidden, k = c->adapter_size;
    if (k <= 0)
        return ft_fail(FT_ERR_CONFIG, "adapter size must be positive");
    const bool g = m->cfg.arch == FT_ARCH_GPT2;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int w = pfeiffer ? 1 : 0; w < 2; w++) {
            char base[200], name[320];
            const int n_enc = m->cfg.n_layers - m->cfg.n_dec_layers;
            if (g)
                snprintf(base, sizeof base, PREFIX "transformer.h.%d.%s.adapter", l, w ? "mlp" : "attn");
            else if (ft_model_is_t5(
                         m)) /* after the self-attention (layer.0) and the FF (layer.1 / layer.2) */
                snprintf(base, sizeof base, PREFIX "%s.block.%d.layer.%d.adapter",
                         l < n_enc ? "encoder" : "decoder", l < n_enc ? l : l - n_enc,
                         w ? (l < n_enc ? 1 : 2) : 0);
            else if (ft_model_is_encoder(m) || ft_model_is_vit(m)) /* after the attention output / FFN output */
                snprintf(base, sizeof base, PREFIX "%s.%d.%s.adapter", ft_model_layer_prefix(m), l,
                         m->cfg.arch == FT_ARCH_DISTILBERT ? (w ? "ffn" : "attention")
                                                           : (w ? "output" : "attention.output"));
            else
                snprintf(base, sizeof base, PREFIX "model.layers.%d.%s.adapter", l, w ? "mlp" : "self_attn");
            ft_adapter_idx *A = &m->adapters[l * 2 + w];
            snprintf(name, sizeof name, "%s.down.weight", base);
            A->down_w = add_extra(m, name, 2, k, C);
            snprintf(name, sizeof name, "%s.down.bias", base);
            A->down_b = add_extra(m, name, 1, k, 0);
            snprintf(name, sizeof name, "%s.up.weight", base);
            A->up_w = add_extra(m, name, 2, C, k);
            snprintf(name, sizeof name, "%s.up.bias", base);
            A->up_b = add_extra(m, name, 1, C, 0);
            if (A->down_w < 0 || A->down_b < 0 || A->up_w < 0 || A->up_b < 0)
                return FT_ERR_NOMEM;
            /* near-identity: down ~ N(0, init_range), up = 0, so the block starts as the base model */
            float *d = m->params[A->down_w].data;
            for (int64_t j = 0; j < k * C; j++)
                d[j] = ft_rng_normal(seed, 2000u + (uint64_t)A->down_w, (uint64_t)j) * m->cfg.init_range;
        }
    return FT_OK;
}

/* PEFT's num_transformer_submodules: T5 (SEQ_2_SEQ_LM) 2 unless the config says 1, decoders 1. */
static int prompt_submodules(const ft_model *m, const ft_peft_cfg *c) {
    return ft_model_is_t5(m) ? (c->prompt_submodules == 1 ? 1 : 2) : 1;
}

static ft_status attach_prompt(ft_model *m, const ft_peft_cfg *c, uint64_t seed) {
    if (ft_model_is_vit(m)) /* visual prompt tokens have no PEFT format: refused rather than invented */
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "prompt tuning is not supported for vit (PEFT has no format for visual prompt tokens); "
                       "use lora, ia3, bitfit, adapter or full");
    const int n = c->num_virtual_tokens;
    const int64_t C = m->cfg.hidden;
    if (n <= 0 || n >= m->cfg.max_pos)
        return ft_fail(FT_ERR_CONFIG, "num_virtual_tokens %d must be in [1, %d)", n, m->cfg.max_pos);
    const int rows = n * prompt_submodules(m, c); /* T5: the decoder's half is in the file, unused (PEFT) */
    m->prompt = add_extra(m, "prompt_embeddings", 2, rows, C);
    if (m->prompt < 0)
        return FT_ERR_NOMEM;
    m->n_virtual = n;
    float *p = m->params[m->prompt].data;
    if (c->prompt_init_text && *c->prompt_init_text) {
        /* PEFT: the text's token ids, repeated to length n and truncated; their embeddings */
        if (!m->dir)
            return ft_fail(FT_ERR_CONFIG, "prompt_tuning_init_text needs the model's tokenizer");
        ft_tokenizer *tok;
        FT_TRY(ft_tok_load(m->dir, &tok));
        ft_tok_ids ids = {0};
        ft_status s = ft_tok_encode(tok, c->prompt_init_text, strlen(c->prompt_init_text), false, &ids);
        ft_tok_free(tok);
        if (s != FT_OK)
            return s;
        if (ids.n == 0) {
            ft_tok_ids_free(&ids);
            return ft_fail(FT_ERR_CONFIG, "prompt_tuning_init_text encodes to no token");
        }
        for (int t = 0; t < rows; t++)
            ft_param_rows(&m->params[m->wte], &ids.ids[t % (int)ids.n], 1, p + (int64_t)t * C, false);
        ft_tok_ids_free(&ids);
    } else {
        for (int64_t j = 0; j < rows * C; j++)
            p[j] = ft_rng_normal(seed, 3000u, (uint64_t)j);
    }
    return FT_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A list text as a JSON value: one item as a string (or a number), several as an array; NULL → null. */
static cJSON *json_items(const char *text, bool numbers, bool one_as_scalar) {
    char **it;
    int n;
    if (!text || !*text || items_split(text, &it, &n) != FT_OK)
        return cJSON_CreateNull();
    cJSON *v = NULL;
    if (n == 1 && one_as_scalar)
        v = numbers ? cJSON_CreateNumber(atof(it[0])) : cJSON_CreateString(it[0]);
    else if ((v = cJSON_CreateArray()))
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(v, numbers ? cJSON_CreateNumber(atof(it[i])) : cJSON_CreateString(it[i]));
    items_free(it, n);
    return v;
}

/* rank_pattern / alpha_pattern as a JSON object (the writer sorts its keys, as PEFT's json.dumps does). */
static cJSON *json_patterns(const char *text, bool integer) {
    cJSON *o = cJSON_CreateObject();
    pattern_item *p;
    int n;
    if (o &&
        patterns_parse(text, integer ? "rank_pattern" : "alpha_pattern", integer, true, &p, &n) == FT_OK) {
        for (int i = 0; i < n; i++)
            cJSON_AddNumberToObject(o, p[i].key, p[i].value);
        patterns_free(p, n);
    }
    return o;
}

/* What PEFT writes for target_modules "all-linear" (tuners_utils._maybe_include_all_linear_layers): the
 * full names of every linear module but the output head, in a set (so in no set order: ftune sorts
 * them). With only = a target set, the names it matches (IA3's feedforward_modules: PEFT's IA3Config
 * requires them to be a subset of target_modules, so they are resolved to full names too). */
static cJSON *json_linear_names(const ft_model *m, const target_set *only) {
    const int ns = m->cfg.n_layers * FT_N_SITES;
    char **names = calloc((size_t)ns, sizeof *names);
    cJSON *a = cJSON_CreateArray();
    if (!names || !a) {
        free(names);
        return a;
    }
    int n = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int s = 0; s < FT_N_SITES; s++) {
            char path[256];
            if (ft_model_site(m, l, (ft_site)s, NULL, NULL, NULL, NULL, NULL, path, sizeof path) &&
                (!only || targets_match(only, path)))
                names[n++] = ft_strdup(path);
        }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++)
        if (names[i])
            cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
    items_free(names, n);
    return a;
}

/* adapter_config.json fields as PEFT writes them for the method. */
static cJSON *make_peft_config(const ft_model *m, const ft_peft_cfg *c, const char *targets) {
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    const char *task = ft_model_is_t5(m)              ? "SEQ_2_SEQ_LM"
                       : m->task == FT_TASK_CAUSAL_LM ? "CAUSAL_LM"
                       : m->task == FT_TASK_QA        ? "QUESTION_ANS"
                       : m->task == FT_TASK_TOKEN_CLS ? "TOKEN_CLS"
                                                      : "SEQ_CLS";
    cJSON_AddStringToObject(j, "base_model_name_or_path", m->dir ? m->dir : "");
    if (m->task ==
        FT_TASK_MASKED_LM) /* PEFT has no masked-LM task type: a plain PeftModel, head in the base */
        cJSON_AddNullToObject(j, "task_type");
    else
        cJSON_AddStringToObject(j, "task_type", task);
    cJSON_AddBoolToObject(j, "inference_mode", true);
    cJSON_AddNullToObject(j, "revision");
    cJSON *mts = cJSON_CreateArray();
    if (m->score >= 0) /* PEFT's QUESTION_ANS adds qa_outputs, SEQ_CLS classifier / score */
        cJSON_AddItemToArray(mts, cJSON_CreateString(m->task == FT_TASK_QA    ? "qa_outputs"
                                                     : ft_model_is_encoder(m) || ft_model_is_vit(m)
                                                         ? "classifier"
                                                                              : "score"));
    if (m->score >= 0 && m->task != FT_TASK_QA &&
        m->cfg.arch == FT_ARCH_DISTILBERT) /* PEFT matches it as a suffix of "classifier" too */
        cJSON_AddItemToArray(mts, cJSON_CreateString("pre_classifier"));
    const bool all_linear = targets && !c->target_regex && !strcmp(targets, "all-linear");
    cJSON *targ = NULL;
    if (targets && c->target_regex)
        targ = cJSON_CreateString(targets);
    else if (all_linear)
        targ = json_linear_names(m, NULL);
    else if (targets)
        targ = json_items(targets, false, false);
    if (c->method == FT_METHOD_LORA || c->method == FT_METHOD_IA3) {
        if (c->exclude_modules && *c->exclude_modules)
            cJSON_AddItemToObject(j, "exclude_modules",
                                  c->exclude_regex ? cJSON_CreateString(c->exclude_modules)
                                                   : json_items(c->exclude_modules, false, false));
        else
            cJSON_AddNullToObject(j, "exclude_modules");
    }
    switch (c->method) {
    case FT_METHOD_LORA:
        cJSON_AddStringToObject(j, "peft_type", "LORA");
        cJSON_AddNumberToObject(j, "r", c->lora_r);
        cJSON_AddNumberToObject(j, "lora_alpha", c->lora_alpha);
        cJSON_AddNumberToObject(j, "lora_dropout", c->lora_dropout);
        cJSON_AddBoolToObject(j, "fan_in_fan_out", m->cfg.arch == FT_ARCH_GPT2);
        cJSON_AddStringToObject(j, "bias", c->lora_bias ? c->lora_bias : "none");
        cJSON_AddBoolToObject(j, "use_rslora", c->use_rslora);
        cJSON_AddBoolToObject(j, "use_dora", c->use_dora);
        if (c->lora_init && !strcmp(c->lora_init, "gaussian"))
            cJSON_AddStringToObject(j, "init_lora_weights", "gaussian");
        else
            cJSON_AddBoolToObject(j, "init_lora_weights", true);
        cJSON_AddItemToObject(j, "layers_to_transform", json_items(c->layers_to_transform, true, true));
        cJSON_AddItemToObject(j, "layers_pattern", json_items(c->layers_pattern, false, true));
        cJSON_AddItemToObject(j, "rank_pattern", json_patterns(c->rank_pattern, true));
        cJSON_AddItemToObject(j, "alpha_pattern", json_patterns(c->alpha_pattern, false));
        break;
    case FT_METHOD_IA3: {
        cJSON_AddStringToObject(j, "peft_type", "IA3");
        cJSON_AddBoolToObject(j, "fan_in_fan_out", m->cfg.arch == FT_ARCH_GPT2);
        cJSON_AddBoolToObject(j, "init_ia3_weights", true);
        const char *ffs = c->ia3_feedforward_modules ? c->ia3_feedforward_modules : default_ff(m);
        cJSON *ff = NULL;
        target_set t;
        if (all_linear && targets_parse(&t, ffs, false, "feedforward_modules") == FT_OK)
            ff = json_linear_names(m, &t);
        else if (!all_linear)
            ff = json_items(ffs, false, false);
        if (all_linear)
            targets_free(&t);
        cJSON_AddItemToObject(j, "feedforward_modules", ff ? ff : cJSON_CreateArray());
        break;
    }
    case FT_METHOD_PROMPT:
        cJSON_AddStringToObject(j, "peft_type", "PROMPT_TUNING");
        cJSON_AddNumberToObject(j, "num_virtual_tokens", c->num_virtual_tokens);
        cJSON_AddNumberToObject(j, "token_dim", m->cfg.hidden);
        cJSON_AddNumberToObject(j, "num_transformer_submodules", prompt_submodules(m, c));
        cJSON_AddNumberToObject(j, "num_attention_heads", m->cfg.n_heads);
        cJSON_AddNumberToObject(j, "num_layers", m->cfg.n_layers - m->cfg.n_dec_layers); /* T5: num_layers */
        if (c->prompt_init_text && *c->prompt_init_text) {
            cJSON_AddStringToObject(j, "prompt_tuning_init", "TEXT");
            cJSON_AddStringToObject(j, "prompt_tuning_init_text", c->prompt_init_text);
            cJSON_AddStringToObject(j, "tokenizer_name_or_path", m->dir ? m->dir : "");
        } else {
            cJSON_AddStringToObject(j, "prompt_tuning_init", "RANDOM");
            cJSON_AddNullToObject(j, "prompt_tuning_init_text");
            cJSON_AddNullToObject(j, "tokenizer_name_or_path");
        }
        break;
    case FT_METHOD_BITFIT:
        cJSON_AddStringToObject(j, "peft_type", "BITFIT");
        break;
    case FT_METHOD_ADAPTER:
        cJSON_AddStringToObject(j, "peft_type", "BOTTLENECK_ADAPTER");
        cJSON_AddNumberToObject(j, "adapter_size", c->adapter_size);
        cJSON_AddStringToObject(j, "adapter_placement", c->adapter_placement ? c->adapter_placement : "houlsby");
        cJSON_AddStringToObject(j, "adapter_act", c->adapter_act ? c->adapter_act : "relu");
        break;
    case FT_METHOD_FULL: break;
    }
    if (targ && (c->method == FT_METHOD_LORA || c->method == FT_METHOD_IA3))
        cJSON_AddItemToObject(j, "target_modules", targ);
    else
        cJSON_Delete(targ);
    if (cJSON_GetArraySize(mts) > 0)
        cJSON_AddItemToObject(j, "modules_to_save", mts);
    else {
        cJSON_Delete(mts);
        cJSON_AddNullToObject(j, "modules_to_save");
    }
    return j;
}

ft_status ft_peft_apply(ft_model *m, const ft_peft_cfg *c) {
    const uint64_t seed = c->seed;
    m->peft_method = (int)c->method;
    if (c->method == FT_METHOD_FULL) {
        /* full fine-tuning with optional freezing: top N layers, a name pattern, embeddings */
        pcre2_code *re = NULL;
        if (c->train_pattern) {
            int err;
            PCRE2_SIZE off;
            re = pcre2_compile((PCRE2_SPTR)c->train_pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &off, NULL);
            if (!re)
                return ft_fail(FT_ERR_CONFIG, "train pattern '%s' is not a valid regex (offset %zu)", c->train_pattern,
                               (size_t)off);
        }
        int first = c->train_top_layers > 0 ? m->cfg.n_layers - c->train_top_layers : 0;
        if (first < 0)
            first = 0;
        int n_train = 0;
        ft_status s = FT_OK;
        for (int i = 0; s == FT_OK && i < m->n_params; i++) {
            const char *nm = m->params[i].name;
            bool train = true;
            if (c->train_top_layers > 0) { /* only layers ≥ first, the final norm and the head */
                int layer = -1;
                const char *p = strstr(nm, ".h.");
                if (p)
                    layer = atoi(p + 3);
                else if ((p = strstr(nm, ".layers.")))
                    layer = atoi(p + 8);
                else if ((p = strstr(nm, ".layer."))) /* the encoders' and ViT's blocks */
                    layer = atoi(p + 7);
                bool embed = is_embedding(m, i);
                train = layer >= 0 ? layer >= first : !embed || i == m->lm_head;
                if (embed && i == m->lm_head && m->lm_head == m->wte)
                    train = false; /* tied embeddings count as embeddings */
            }
            if (re && train) {
                pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
                train = pcre2_match(re, (PCRE2_SPTR)nm, strlen(nm), 0, 0, md, NULL) >= 0;
                pcre2_match_data_free(md);
            }
            if (c->freeze_embeddings && is_embedding(m, i))
                train = false;
            if (ft_model_is_head(m, i))
                train = true;
            s = ft_model_set_trainable(m, i, train);
            n_train += train;
        }
        pcre2_code_free(re);
        if (s == FT_OK && n_train == 0)
            s = ft_fail(FT_ERR_CONFIG, "the freezing options leave nothing to train");
        return s;
    }
    freeze_all(m);
    for (int i = 0; i < m->n_params; i++)
        if (ft_model_is_head(m, i))
            FT_TRY(ft_model_set_trainable(m, i, true)); /* modules_to_save: the new head */
    const char *targets = NULL;
    int matched = 0;
    ft_status s = FT_OK;
    switch (c->method) {
    case FT_METHOD_LORA:
    case FT_METHOD_IA3: {
        targets = c->target_modules ? c->target_modules : default_targets(m, c->method);
        if (c->method == FT_METHOD_LORA && (c->lora_r <= 0 || c->lora_alpha <= 0 || c->lora_dropout < 0 ||
                                            c->lora_dropout >= 1))
            return ft_fail(FT_ERR_CONFIG, "LoRA needs r > 0, lora_alpha > 0 and 0 <= lora_dropout < 1");
        if (c->use_dora && c->lora_dropout > 0.0f)
            return ft_fail(FT_ERR_UNSUPPORTED, "use_dora with lora_dropout > 0 is not supported yet");
        if (c->method == FT_METHOD_LORA && c->lora_bias && strcmp(c->lora_bias, "none") &&
            strcmp(c->lora_bias, "all") && strcmp(c->lora_bias, "lora_only"))
            return ft_fail(FT_ERR_CONFIG, "LoRA bias must be none, all or lora_only (got '%s')", c->lora_bias);
        selector sel;
        target_set ff;
        FT_TRY(selector_init(&sel, c, targets, c->method == FT_METHOD_LORA));
        s = targets_parse(&ff, c->ia3_feedforward_modules ? c->ia3_feedforward_modules : default_ff(m), false,
                          "feedforward_modules");
        if (s == FT_OK)
            s = c->method == FT_METHOD_LORA ? attach_lora(m, c, &sel, seed, &matched)
                                            : attach_ia3(m, &sel, &ff, &matched);
        if (s == FT_OK)
            s = attach_lora_embedding(m, c, &sel, seed, &matched);
        targets_free(&ff);
        if (s == FT_OK && matched == 0)
            s = no_match(m, c, &sel, targets);
        selector_free(&sel);
        break;
    }
    case FT_METHOD_PROMPT: s = attach_prompt(m, c, seed); break;
    case FT_METHOD_ADAPTER: s = attach_adapter(m, c, seed); break;
    case FT_METHOD_BITFIT:
        for (int i = 0; s == FT_OK && i < m->n_params; i++)
            if (!m->params[i].extra && is_bias(m->params[i].name)) {
                s = ft_model_set_trainable(m, i, true);
                matched++;
            }
        if (s == FT_OK && matched == 0)
            s = ft_fail(FT_ERR_UNSUPPORTED, "BitFit trains bias terms, and this %s model has none (%s)%s",
                        m->cfg.model_type,
                        m->cfg.arch == FT_ARCH_LLAMA ? "no attention_bias / mlp_bias"
                        : ft_model_is_t5(m)          ? "its projections and RMS norms are bias-free"
                                                     : "",
                        m->score >= 0 ? "; only the new head would train" : "");
        break;
    case FT_METHOD_FULL: break;
    }
    if (s != FT_OK)
        return s;
    cJSON_Delete(m->peft_config);
    m->peft_config = make_peft_config(m, c, targets);
    return m->peft_config ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
}

void ft_peft_summary(const ft_model *m, char *buf, size_t n) {
    int64_t all = 0, tr = 0;
    for (int i = 0; i < m->n_params; i++) {
        all += m->params[i].numel;
        if (m->params[i].trainable)
            tr += m->params[i].numel;
    }
    snprintf(buf, n, "trainable params: %lld || all params: %lld || trainable%%: %.4f", (long long)tr, (long long)all,
             all ? 100.0 * (double)tr / (double)all : 0.0);
}

/* True when param idx is the bias of a linear layer wrapped by LoRA/IA3 (PEFT then names it
 * <module>.base_layer.bias). */
static bool wrapped_bias(const ft_model *m, int idx) {
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int s = 0; s < FT_N_SITES; s++) {
            int bi = -1;
            const ft_site_peft *sp = &m->sites[l * FT_N_SITES + s];
            if ((sp->lora_a >= 0 || sp->ia3 >= 0) &&
                ft_model_site(m, l, (ft_site)s, NULL, &bi, NULL, NULL, NULL, NULL, 0) && bi == idx)
                return true;
        }
    return false;
}

void ft_peft_tensor_name(const ft_model *m, int idx, char *buf, size_t n) {
    const char *nm = m->params[idx].name;
    size_t l = strlen(nm);
    if (m->params[idx].alias)
        snprintf(buf, n, "%s", m->params[idx].alias);
    else if (m->params[idx].extra && !ft_model_is_head(m, idx))
        snprintf(buf, n, "%s", nm);
    else if (l > 5 && !strcmp(nm + l - 5, ".bias") && wrapped_bias(m, idx))
        snprintf(buf, n, PREFIX "%.*s.base_layer.bias", (int)(l - 5), nm);
    else
        snprintf(buf, n, PREFIX "%s", nm);
}
