#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "train/recipe.h"

static const ft_recipe_key KEYS[] = {
#define FT_RECIPE_ROW(field, key, type, def, choices, help) \
    {key, FT_RK_##type, offsetof(ft_recipe, field), def, choices, help},
    FT_RECIPE_KEYS(FT_RECIPE_ROW)
#undef FT_RECIPE_ROW
};
#define NKEYS (sizeof KEYS / sizeof *KEYS)

const ft_recipe_key *ft_recipe_keys(size_t *n) {
    *n = NKEYS;
    return KEYS;
}

const ft_recipe_key *ft_recipe_find_key(const char *key) {
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(KEYS[i].key, key))
            return &KEYS[i];
    return NULL;
}

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return (size_t)-1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *last_part(const char *k) {
    const char *d = strrchr(k, '.');
    return d ? d + 1 : k;
}

const char *ft_recipe_nearest(const char *key) {
    const char *best = NULL;
    size_t bd = (size_t)-1;
    for (size_t i = 0; i < NKEYS; i++) {
        size_t d = edit_distance(key, KEYS[i].key);
        /* "lr" → "optim.lr": the same last component counts as one edit */
        size_t d2 = edit_distance(last_part(key), last_part(KEYS[i].key));
        if (d2 != (size_t)-1 && d2 + 1 < d)
            d = d2 + 1;
        /* "optim.warmup" → "optim.warmup_steps": a prefix of a key is close */
        if (strlen(key) >= 4 && !strncmp(KEYS[i].key, key, strlen(key)) && d > 1)
            d = 1;
        if (d < bd) {
            bd = d;
            best = KEYS[i].key;
        }
    }
    size_t len = strlen(key);
    return bd <= (len < 6 ? 2 : len / 3 + 1) ? best : NULL;
}

static void *field(ft_recipe *r, const ft_recipe_key *k) { return (char *)r + k->offset; }
static const void *cfield(const ft_recipe *r, const ft_recipe_key *k) { return (const char *)r + k->offset; }

static bool enum_ok(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *c = choices; *c;) {
        const char *bar = strchr(c, '|');
        size_t l = bar ? (size_t)(bar - c) : strlen(c);
        if (l == n && !strncmp(c, v, n))
            return true;
        if (!bar)
            break;
        c = bar + 1;
    }
    return false;
}

static bool is_null(const char *v) { return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null"); }

ft_status ft_recipe_set(ft_recipe *r, const char *key, const char *value, const char *origin) {
    const ft_recipe_key *k = ft_recipe_find_key(key);
    if (!k) {
        const char *near = ft_recipe_nearest(key);
        if (near)
            return ft_fail(FT_ERR_CONFIG, "%s: unknown key '%s' (did you mean '%s'?)", origin, key, near);
        return ft_fail(FT_ERR_CONFIG, "%s: unknown key '%s' (ftune train --help lists every key)", origin, key);
    }
    void *f = field(r, k);
    switch (k->kind) {
    case FT_RK_STR:
    case FT_RK_ENUM: {
        char **sp = f;
        if (is_null(value)) {
            if (k->kind == FT_RK_ENUM)
                return ft_fail(FT_ERR_CONFIG, "%s: %s needs one of %s", origin, key, k->choices);
            free(*sp);
            *sp = NULL;
            return FT_OK;
        }
        if (k->kind == FT_RK_ENUM && !enum_ok(k->choices, value))
            return ft_fail(FT_ERR_CONFIG, "%s: %s = '%s' is not one of %s", origin, key, value, k->choices);
        if (k->kind == FT_RK_ENUM && enum_ok(k->choices, "true") && enum_ok(k->choices, "false")) {
            /* a boolean with more choices: YAML's spellings of true and false are stored as those two */
            static const char *const T[] = {"yes", "on", "1", "True", "TRUE"}, *const F[] = {"no", "off", "0",
                                                                                             "False",
                                                                                             "FALSE"};
            for (size_t i = 0; i < 5; i++)
                value = !strcmp(value, T[i]) ? "true" : !strcmp(value, F[i]) ? "false" : value;
        }
        char *d = ft_strdup(value);
        if (!d)
            return FT_ERR_NOMEM;
        free(*sp);
        *sp = d;
        return FT_OK;
    }
    case FT_RK_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (end == value || *end || errno)
            return ft_fail(FT_ERR_CONFIG, "%s: %s expects an integer, got '%s'", origin, key, value);
        *(int64_t *)f = v;
        return FT_OK;
    }
    case FT_RK_FLOAT: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(v))
            return ft_fail(FT_ERR_CONFIG, "%s: %s expects a number, got '%s'", origin, key, value);
        *(double *)f = v;
        return FT_OK;
    }
    case FT_RK_BOOL: {
        static const char *const T[] = {"true", "yes", "on", "1", "True", "TRUE"};
        static const char *const F[] = {"false", "no", "off", "0", "False", "FALSE"};
        for (size_t i = 0; i < 6; i++) {
            if (!strcmp(value, T[i])) {
                *(bool *)f = true;
                return FT_OK;
            }
            if (!strcmp(value, F[i])) {
                *(bool *)f = false;
                return FT_OK;
            }
        }
        return ft_fail(FT_ERR_CONFIG, "%s: %s expects true or false, got '%s'", origin, key, value);
    }
    }
    return ft_fail(FT_ERR_INTERNAL, "bad key kind");
}

ft_status ft_recipe_init(ft_recipe *r) {
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < NKEYS; i++)
        if (KEYS[i].def) {
            ft_status s = ft_recipe_set(r, KEYS[i].key, KEYS[i].def, "default");
            if (s != FT_OK) {
                ft_recipe_free(r);
                return s;
            }
        }
    return FT_OK;
}

void ft_recipe_free(ft_recipe *r) {
    for (size_t i = 0; i < NKEYS; i++)
        if (KEYS[i].kind == FT_RK_STR || KEYS[i].kind == FT_RK_ENUM) {
            char **sp = field(r, &KEYS[i]);
            free(*sp);
            *sp = NULL;
        }
}

ft_status ft_recipe_override(ft_recipe *r, const char *kv) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return ft_fail(FT_ERR_ARG, "command line: '%s' is not key=value", kv);
    char key[128];
    size_t kl = (size_t)(eq - kv);
    if (kl >= sizeof key)
        return ft_fail(FT_ERR_CONFIG, "command line: key too long in '%s'", kv);
    memcpy(key, kv, kl);
    key[kl] = 0;
    return ft_recipe_set(r, key, eq + 1, "command line");
}

/* ---- YAML ---- */

typedef struct {
    yaml_parser_t p;
    const char *name;
    ft_recipe *r;
} yreader;

static ft_status ynext(yreader *y, yaml_event_t *ev) {
    if (!yaml_parser_parse(&y->p, ev))
        return ft_fail(FT_ERR_FORMAT, "%s:%zu: %s", y->name, y->p.problem_mark.line + 1,
                       y->p.problem ? y->p.problem : "YAML syntax error");
    return FT_OK;
}

static ft_status read_mapping(yreader *y, const char *prefix, int depth);

/* A sequence of scalars → "a,b,c". */
static ft_status read_list(yreader *y, const char *key, size_t line) {
    char buf[2048];
    size_t n = 0;
    buf[0] = 0;
    for (;;) {
        yaml_event_t ev;
        FT_TRY(ynext(y, &ev));
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            size_t l = ev.start_mark.line + 1;
            yaml_event_delete(&ev);
            return ft_fail(FT_ERR_CONFIG, "%s:%zu: %s: a list may hold only plain values", y->name, l, key);
        }
        size_t vl = ev.data.scalar.length;
        if (n + vl + 2 > sizeof buf) {
            yaml_event_delete(&ev);
            return ft_fail(FT_ERR_CONFIG, "%s:%zu: %s: list too long", y->name, line, key);
        }
        if (n)
            buf[n++] = ',';
        memcpy(buf + n, ev.data.scalar.value, vl);
        n += vl;
        buf[n] = 0;
        yaml_event_delete(&ev);
    }
    char origin[512];
    snprintf(origin, sizeof origin, "%s:%zu", y->name, line);
    return ft_recipe_set(y->r, key, buf, origin);
}

/* Keys whose value may be a mapping {key: value}, read as "key:value" items (PEFT's rank_pattern and
 * alpha_pattern); items are joined by commas, or by newlines when a key holds a comma. */
static bool takes_mapping(const char *key) {
    return !strcmp(key, "lora.rank_pattern") || !strcmp(key, "lora.alpha_pattern");
}

static ft_status read_pairs(yreader *y, const char *key, size_t line) {
    char buf[8192];
    size_t n = 0;
    bool comma_in_key = false;
    buf[0] = 0;
    for (int half = 0;; half ^= 1) {
        yaml_event_t ev;
        FT_TRY(ynext(y, &ev));
        if (ev.type == YAML_MAPPING_END_EVENT && !half) {
            yaml_event_delete(&ev);
            break;
        }
        size_t l = ev.start_mark.line + 1;
        if (ev.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&ev);
            return ft_fail(FT_ERR_CONFIG, "%s:%zu: %s: a mapping of plain keys to numbers is expected",
                           y->name, l, key);
        }
        const char *v = (const char *)ev.data.scalar.value;
        size_t vl = ev.data.scalar.length;
        if (n + vl + 2 > sizeof buf || memchr(v, '\n', vl) ||
            (half && (memchr(v, ',', vl) || memchr(v, ':', vl)))) {
            yaml_event_delete(&ev);
            return ft_fail(FT_ERR_CONFIG, "%s:%zu: %s: bad or too long entry", y->name, l, key);
        }
        comma_in_key |= !half && memchr(v, ',', vl) != NULL;
        if (!half && n)
            buf[n++] = '\x1f'; /* item separator, decided below */
        memcpy(buf + n, v, vl);
        n += vl;
        if (!half)
            buf[n++] = ':';
        buf[n] = 0;
        yaml_event_delete(&ev);
    }
    for (char *p = buf; *p; p++)
        if (*p == '\x1f')
            *p = comma_in_key ? '\n' : ',';
    char origin[512];
    snprintf(origin, sizeof origin, "%s:%zu", y->name, line);
    return ft_recipe_set(y->r, key, buf, origin);
}

static ft_status read_mapping(yreader *y, const char *prefix, int depth) {
    if (depth > 8)
        return ft_fail(FT_ERR_CONFIG, "%s: nesting too deep", y->name);
    for (;;) {
        yaml_event_t ev;
        FT_TRY(ynext(y, &ev));
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return FT_OK;
        }
        size_t line = ev.start_mark.line + 1;
        if (ev.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&ev);
            return ft_fail(FT_ERR_CONFIG, "%s:%zu: a key must be a plain name", y->name, line);
        }
        char key[256];
        int kl = snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", (const char *)ev.data.scalar.value);
        yaml_event_delete(&ev);
        if (kl < 0 || (size_t)kl >= sizeof key)
            return ft_fail(FT_ERR_CONFIG, "%s:%zu: key too long", y->name, line);
        FT_TRY(ynext(y, &ev));
        char origin[512];
        snprintf(origin, sizeof origin, "%s:%zu", y->name, line);
        ft_status s = FT_OK;
        if (ev.type == YAML_SCALAR_EVENT) {
            const char *v = (const char *)ev.data.scalar.value;
            /* a quoted "" or "null" is a string; a plain null/~/empty unsets */
            bool plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            if (!plain && is_null(v) && *v) {
                const ft_recipe_key *k = ft_recipe_find_key(key);
                if (k && k->kind == FT_RK_STR) {
                    char **sp = field(y->r, k);
                    char *d = ft_strdup(v);
                    if (!d)
                        s = FT_ERR_NOMEM;
                    else {
                        free(*sp);
                        *sp = d;
                    }
                } else
                    s = ft_recipe_set(y->r, key, v, origin);
            } else
                s = ft_recipe_set(y->r, key, v, origin);
            yaml_event_delete(&ev);
        } else if (ev.type == YAML_MAPPING_START_EVENT) {
            yaml_event_delete(&ev);
            s = takes_mapping(key) ? read_pairs(y, key, line) : read_mapping(y, key, depth + 1);
        } else if (ev.type == YAML_SEQUENCE_START_EVENT) {
            yaml_event_delete(&ev);
            s = read_list(y, key, line);
        } else {
            yaml_event_delete(&ev);
            s = ft_fail(FT_ERR_CONFIG, "%s:%zu: %s: unexpected value (aliases are not supported)", y->name, line, key);
        }
        if (s != FT_OK)
            return s;
    }
}

ft_status ft_recipe_load_yaml_text(ft_recipe *r, const char *text, size_t len, const char *name) {
    yreader y = {.name = name, .r = r};
    if (!yaml_parser_initialize(&y.p))
        return ft_fail(FT_ERR_NOMEM, "out of memory for the YAML parser");
    yaml_parser_set_input_string(&y.p, (const unsigned char *)text, len);
    ft_status s = FT_OK;
    bool done = false, seen_doc = false;
    while (s == FT_OK && !done) {
        yaml_event_t ev;
        s = ynext(&y, &ev);
        if (s != FT_OK)
            break;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = true; break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT: break;
        case YAML_DOCUMENT_START_EVENT:
            if (seen_doc)
                s = ft_fail(FT_ERR_CONFIG, "%s:%zu: only one YAML document is allowed", name, ev.start_mark.line + 1);
            seen_doc = true;
            break;
        case YAML_MAPPING_START_EVENT: s = read_mapping(&y, "", 0); break;
        case YAML_SCALAR_EVENT:
            if (ev.data.scalar.length == 0 && ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
                break; /* empty document */
            /* fallthrough */
        default:
            s = ft_fail(FT_ERR_CONFIG, "%s:%zu: a recipe is a mapping of keys to values", name,
                        ev.start_mark.line + 1);
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&y.p);
    return s;
}

ft_status ft_recipe_load_yaml(ft_recipe *r, const char *path) {
    char *text;
    size_t len;
    FT_TRY(ft_read_file(path, &text, &len));
    ft_status s = ft_recipe_load_yaml_text(r, text, len, path);
    free(text);
    return s;
}

/* ---- validation ---- */

#define NEED(cond, ...)                                 \
    do {                                                \
        if (!(cond))                                    \
            return ft_fail(FT_ERR_CONFIG, __VA_ARGS__); \
    } while (0)

ft_status ft_recipe_validate(const ft_recipe *r) {
    NEED(r->model, "recipe: 'model' is required (a model directory)");
    NEED(r->output_dir, "recipe: 'output_dir' is required");
    NEED(r->data_train, "recipe: 'data.train' is required");
    return ft_recipe_validate_keys(r);
}

ft_status ft_recipe_validate_keys(const ft_recipe *r) {
    NEED(r->model, "recipe: 'model' is required (a model directory)");
    NEED(r->output_dir, "recipe: 'output_dir' is required");
    NEED(r->train_batch_size > 0 && r->train_batch_size <= 4096, "recipe: train.batch_size must be in 1..4096");
    NEED(r->train_grad_accum > 0 && r->train_grad_accum <= 4096, "recipe: train.grad_accum must be in 1..4096");
    NEED(r->train_seq_len >= 2, "recipe: train.seq_len must be at least 2");
    NEED(r->train_max_steps >= 0, "recipe: train.max_steps must be >= 0");
    NEED(r->train_max_steps > 0 || r->train_epochs > 0, "recipe: train.epochs must be > 0 (or set train.max_steps)");
    NEED(r->train_max_grad_norm >= 0, "recipe: train.max_grad_norm must be >= 0");
    NEED(r->dist_timeout >= 0, "recipe: dist.timeout must be >= 0 (seconds; 0 = no timeout)");
    NEED(r->train_label_smoothing >= 0 && r->train_label_smoothing < 1, "recipe: train.label_smoothing must be in [0, 1)");
    NEED(r->optim_lr > 0, "recipe: optim.lr must be > 0");
    NEED(r->optim_weight_decay >= 0, "recipe: optim.weight_decay must be >= 0");
    NEED(r->optim_beta1 >= 0 && r->optim_beta1 < 1 && r->optim_beta2 >= 0 && r->optim_beta2 < 1,
         "recipe: optim.beta1 and optim.beta2 must be in [0, 1)");
    NEED(r->optim_eps > 0, "recipe: optim.eps must be > 0");
    NEED(r->optim_momentum >= 0 && r->optim_dampening >= 0 && r->optim_dampening <= 1,
         "recipe: optim.momentum must be >= 0 and optim.dampening in [0, 1]");
    NEED(!r->optim_nesterov || (r->optim_momentum > 0 && r->optim_dampening == 0),
         "recipe: optim.nesterov needs optim.momentum > 0 and optim.dampening = 0");
    NEED(r->optim_warmup_steps >= 0, "recipe: optim.warmup_steps must be >= 0");
    NEED(r->optim_warmup_ratio >= 0 && r->optim_warmup_ratio <= 1, "recipe: optim.warmup_ratio must be in [0, 1]");
    NEED(r->optim_min_lr_ratio >= 0 && r->optim_min_lr_ratio <= 1, "recipe: optim.min_lr_ratio must be in [0, 1]");
    NEED(r->dropout_resid < 1 && r->dropout_embd < 1 && r->dropout_attn < 1,
         "recipe: dropout.* must be < 1 (-1 = the model's own value)");
    NEED(r->eval_every >= 0 && r->eval_batch_size >= 0, "recipe: eval.every and eval.batch_size must be >= 0");
    NEED(r->early_stopping_patience >= 0 && r->early_stopping_min_delta >= 0,
         "recipe: early_stopping.patience and min_delta must be >= 0");
    NEED(r->checkpoint_every >= 0 && r->checkpoint_keep_last >= 0,
         "recipe: checkpoint.every and checkpoint.keep_last must be >= 0");
    NEED(r->report_log_every > 0, "recipe: report.log_every must be > 0");
    NEED(r->report_plain_interval >= 0, "recipe: report.plain_interval must be >= 0");
    NEED(r->threads >= 0, "recipe: threads must be >= 0");
    NEED(r->lora_r > 0 && r->adapter_size > 0 && r->prompt_num_virtual_tokens > 0,
         "recipe: lora.r, adapter.size and prompt.num_virtual_tokens must be > 0");
    NEED(r->data_train_limit >= 0, "recipe: data.train_limit must be >= 0 (0 = every training row)");
    NEED(!r->data_replay || (r->data_replay_ratio > 0 && r->data_replay_ratio < 1),
         "recipe: data.replay_ratio must be in (0, 1)");
    NEED(
        r->data_max_source_length >= 0 && r->data_max_target_length >= 0 && r->eval_max_new_tokens >= 0 &&
            r->eval_generate_limit >= 0,
        "recipe: data.max_source_length, data.max_target_length, eval.max_new_tokens and eval.generate_limit "
        "must be >= 0");
    NEED(r->eval_num_beams >= 1 && r->eval_no_repeat_ngram_size >= 0,
         "recipe: eval.num_beams must be >= 1 and eval.no_repeat_ngram_size >= 0");
    NEED(
        r->data_max_source_length != 1 && r->data_max_target_length != 1,
        "recipe: data.max_source_length and data.max_target_length must be at least 2 (a token and the eos)");
    NEED(r->data_val_ratio >= 0 && r->data_test_ratio >= 0 && r->data_val_ratio + r->data_test_ratio < 1,
         "recipe: data.val_ratio and data.test_ratio must be >= 0 with a sum below 1");
    return FT_OK;
}

/* ---- output ---- */

const char *ft_recipe_get(const ft_recipe *r, const ft_recipe_key *k, char *buf, size_t n) {
    const void *f = cfield(r, k);
    switch (k->kind) {
    case FT_RK_STR:
    case FT_RK_ENUM: return *(char *const *)f;
    case FT_RK_INT: snprintf(buf, n, "%lld", (long long)*(const int64_t *)f); return buf;
    case FT_RK_FLOAT: /* the shortest text that reads back as the same double */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, n, "%.*g", prec, *(const double *)f);
            if (strtod(buf, NULL) == *(const double *)f)
                break;
        }
        return buf;
    case FT_RK_BOOL: snprintf(buf, n, "%s", *(const bool *)f ? "true" : "false"); return buf;
    }
    return NULL;
}

typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t l) {
    if (b->oom)
        return;
    if (b->n + l + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 1024) + l;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, l);
    b->n += l;
    b->p[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* A double-quoted YAML scalar. */
static void sb_quoted(sbuf *b, const char *s) {
    sb_str(b, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char e[8];
        if (*c == '"' || *c == '\\') {
            e[0] = '\\';
            e[1] = (char)*c;
            sb_put(b, e, 2);
        } else if (*c < 0x20) {
            snprintf(e, sizeof e, "\\x%02x", *c);
            sb_str(b, e);
        } else
            sb_put(b, (const char *)c, 1);
    }
    sb_str(b, "\"");
}

ft_status ft_recipe_to_yaml(const ft_recipe *r, char **out) {
    sbuf b = {0};
    sb_str(&b, "# resolved ftune training recipe (every key; ftune train --help explains them)\n");
    char group[64] = "";
    for (size_t i = 0; i < NKEYS; i++) {
        const ft_recipe_key *k = &KEYS[i];
        const char *dot = strchr(k->key, '.');
        const char *name = k->key;
        if (dot) {
            size_t gl = (size_t)(dot - k->key);
            if (strlen(group) != gl || strncmp(group, k->key, gl)) {
                snprintf(group, sizeof group, "%.*s", (int)gl, k->key);
                sb_str(&b, group);
                sb_str(&b, ":\n");
            }
            sb_str(&b, "  ");
            name = dot + 1;
        } else
            group[0] = 0;
        sb_str(&b, name);
        sb_str(&b, ": ");
        char num[64];
        const char *v = ft_recipe_get(r, k, num, sizeof num);
        if (!v)
            sb_str(&b, "null");
        else if (k->kind == FT_RK_ENUM && (!strcmp(v, "true") || !strcmp(v, "false")))
            sb_str(&b,
                   v); /* a yes/no/auto choice (train.activation_checkpointing) writes its booleans plain */
        else if (k->kind == FT_RK_STR || k->kind == FT_RK_ENUM)
            sb_quoted(&b, v);
        else
            sb_str(&b, v);
        sb_str(&b, "\n");
    }
    if (b.oom) {
        free(b.p);
        return ft_fail(FT_ERR_NOMEM, "out of memory writing the recipe");
    }
    *out = b.p;
    return FT_OK;
}

void ft_recipe_print_help(FILE *f) {
    static const char *const KIND[] = {"string", "choice", "int", "number", "bool"};
    for (size_t i = 0; i < NKEYS; i++) {
        const ft_recipe_key *k = &KEYS[i];
        fprintf(f, "  %-32s %-6s default %s%s%s\n      %s\n", k->key, KIND[k->kind], k->def ? k->def : "(none)",
                k->choices ? "  one of " : "", k->choices ? k->choices : "", k->help);
    }
}
