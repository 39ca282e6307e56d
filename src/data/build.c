/* data/build: rows -> tokenized examples per task (classification, regression, causal LM with packing,
 * instruction tuning with the loss only on response tokens), label discovery, length-grouped batches. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "data/dataset.h"

void ft_data_cfg_default(ft_data_cfg *c) {
    memset(c, 0, sizeof *c);
    c->format = "auto";
    c->text_field = "text";
    c->label_field = "label";
    c->prompt_field = "prompt";
    c->response_field = "response";
    c->messages_field = "messages";
    c->val_ratio = 0.1f;
    c->test_ratio = 0.1f;
    c->stratify = true;
    c->max_len = 512;
    c->pack = true;
    c->truncation = "head";
    c->clean_unicode = true;
    c->clean_whitespace = true;
    c->dedup_exact = true;
    c->drop_garbled = true;
    c->near_dup_threshold = 0.8f;
    c->aug_p_delete = c->aug_p_swap = c->aug_p_insert = c->aug_p_synonym = 0.1f;
    c->replay_ratio = 0.25f;
    c->train_limit_seed = -1;
    c->split_seed = -1;
    c->seed = 42;
}

/* The end-of-document id: the declared eos, else GPT-2's "<|endoftext|>" or SentencePiece's "</s>" when
 * the vocabulary has them (the legacy encoder.json + vocab.bpe pair declares no special tokens). */
static int32_t lm_eos(const ft_tokenizer *tok) {
    ft_tok_special sp = ft_tok_special_ids(tok);
    if (sp.eos >= 0)
        return sp.eos;
    int32_t id = ft_tok_token_to_id(tok, "<|endoftext|>", 13);
    return id >= 0 ? id : ft_tok_token_to_id(tok, "</s>", 4);
}

ft_status ft_data_append_eos(const ft_tokenizer *tok, ft_tok_ids *ids) {
    int32_t eos = lm_eos(tok);
    if (eos < 0)
        return ft_fail(FT_ERR_CONFIG, "data.append_eos: the tokenizer has no end-of-sequence token");
    if (ids->n > 0 && ids->ids[ids->n - 1] == eos)
        return FT_OK;
    return ft_tok_ids_push(ids, eos, ids->n && ids->type_ids ? ids->type_ids[ids->n - 1] : 0);
}

int32_t ft_data_pad_id(const ft_tokenizer *tok) {
    ft_tok_special sp = ft_tok_special_ids(tok);
    int32_t eos = lm_eos(tok);
    return sp.pad >= 0 ? sp.pad : eos >= 0 ? eos : 0;
}

/* ---- growable example list ---- */
static ft_status push_ex(ft_dataset *d, size_t *cap, ft_example *e) {
    if (d->n == *cap) {
        size_t nc = *cap ? 2 * *cap : 256;
        ft_example *x = realloc(d->ex, nc * sizeof *x);
        if (!x) {
            free(e->ids);
            free(e->labels);
            free(e->type_ids);
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        }
        d->ex = x;
        *cap = nc;
    }
    d->ex[d->n++] = *e;
    return FT_OK;
}

static int32_t *dup_ids(const int32_t *src, size_t n) {
    int32_t *p = malloc((n ? n : 1) * sizeof *p);
    if (p && n)
        memcpy(p, src, n * sizeof *p);
    return p;
}

/* Cut ids to max_len: keep the special tokens at both ends, drop content from the end ("head") or the
 * start ("tail"). Returns the kept count; ids are moved in place. */
/* Truncate to max_len keeping the leading and trailing special tokens; types (token types, may be NULL) moves
 * with ids. */
static size_t truncate_ids(const ft_tokenizer *tok, int32_t *ids, int32_t *types, size_t n, size_t max_len,
                           bool keep_tail) {
    if (n <= max_len)
        return n;
    size_t lead = 0, trail = 0;
    while (lead < n && ft_tok_is_special(tok, ids[lead]) && lead + 1 < max_len)
        lead++;
    while (trail < n - lead && ft_tok_is_special(tok, ids[n - 1 - trail]) && lead + trail + 1 < max_len)
        trail++;
    size_t keep = max_len - lead - trail;
    size_t from = keep_tail ? n - trail - keep : lead;
    memmove(ids + lead, ids + from, keep * sizeof *ids);
    memmove(ids + lead + keep, ids + n - trail, trail * sizeof *ids);
    if (types) {
        memmove(types + lead, types + from, keep * sizeof *types);
        memmove(types + lead + keep, types + n - trail, trail * sizeof *types);
    }
    return max_len;
}

ft_status ft_data_fit(const ft_tokenizer *tok, ft_tok_ids *ids, size_t max_len, bool keep_tail,
                      bool append_eos, bool *truncated) {
    *truncated = false;
    if (append_eos && max_len > 1) { /* room for eos first, so that it stays last */
        int32_t eos = lm_eos(tok);
        if (ids->n >= max_len && !(ids->n == max_len && ids->ids[ids->n - 1] == eos)) {
            *truncated = true;
            ids->n = truncate_ids(tok, ids->ids, ids->type_ids, ids->n, max_len - 1, keep_tail);
        }
        FT_TRY(ft_data_append_eos(tok, ids));
    }
    if (ids->n > max_len) {
        *truncated = true;
        ids->n = truncate_ids(tok, ids->ids, ids->type_ids, ids->n, max_len, keep_tail);
    }
    return FT_OK;
}

ft_status ft_data_fit_eos(const ft_tokenizer *tok, ft_tok_ids *ids, size_t max_len, bool *truncated) {
    const int32_t eos = lm_eos(tok);
    const bool has = ids->n > 0 && eos >= 0 && ids->ids[ids->n - 1] == eos; /* the post-processor's: kept */
    return ft_data_fit(tok, ids, max_len, false, !has, truncated);
}

void ft_data_windows_free(ft_tok_ids *w, size_t n) {
    for (size_t i = 0; w && i < n; i++)
        ft_tok_ids_free(&w[i]);
    free(w);
}

/* window = ids[0..lead) + ids[lead+from .. lead+from+len) + ids[n-trail..n), then fitted (eos) */
static ft_status window_of(const ft_tokenizer *tok, const ft_tok_ids *ids, size_t lead, size_t from,
                           size_t len, size_t trail, size_t max_len, bool keep_tail, bool append_eos,
                           ft_tok_ids *w) {
    for (size_t part = 0; part < 3; part++) {
        size_t a = part == 0 ? 0 : part == 1 ? lead + from : ids->n - trail;
        size_t k = part == 0 ? lead : part == 1 ? len : trail;
        for (size_t i = a; i < a + k; i++)
            FT_TRY(ft_tok_ids_push(w, ids->ids[i], ids->type_ids ? ids->type_ids[i] : 0));
    }
    bool cut;
    return ft_data_fit(tok, w, max_len, keep_tail, append_eos, &cut);
}

ft_status ft_data_windows(const ft_tokenizer *tok, const ft_tok_ids *ids, size_t max_len, bool keep_tail,
                          bool append_eos, int overlap, int max_windows, ft_tok_ids **out, size_t *n_out,
                          bool *truncated) {
    *out = NULL;
    *n_out = 0;
    *truncated = false;
    const size_t n = ids->n;
    size_t lead = 0, trail = 0; /* the special tokens at both ends, counted as truncate_ids counts them */
    while (lead < n && ft_tok_is_special(tok, ids->ids[lead]) && lead + 1 < max_len)
        lead++;
    while (trail < n - lead && ft_tok_is_special(tok, ids->ids[n - 1 - trail]) && lead + trail + 1 < max_len)
        trail++;
    const size_t content = n - lead - trail;
    const int32_t eos = append_eos ? lm_eos(tok) : -1;
    const size_t extra = append_eos && !(trail > 0 && ids->ids[n - 1] == eos) ? 1 : 0;
    const size_t room = max_len > lead + trail + extra ? max_len - lead - trail - extra : 0;
    size_t nw = 1, step = 0;
    if (max_windows > 1 && content > room) {
        if (room == 0 || overlap < 0 || (size_t)overlap >= room)
            return ft_fail(FT_ERR_CONFIG,
                           "data.window_overlap %d: a window of %zu tokens holds %zu text tokens, so windows "
                           "overlapping by that much cannot advance (lower data.window_overlap)",
                           overlap, max_len, room);
        step = room - (size_t)overlap;
        nw = 1 + (content - room + step - 1) / step;
    }
    const size_t cap = (size_t)(max_windows > 1 ? max_windows : 1), keep = nw < cap ? nw : cap;
    const size_t first = keep_tail ? nw - keep : 0;
    *truncated = keep < nw || (nw == 1 && content > room);
    ft_tok_ids *w = calloc(keep, sizeof *w);
    if (!w)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    ft_status s = FT_OK;
    for (size_t k = 0; k < keep && s == FT_OK; k++) {
        if (nw == 1) { /* one window: exactly what ft_data_fit makes of the whole text */
            s = window_of(tok, ids, lead, 0, content, trail, max_len, keep_tail, append_eos, &w[k]);
            continue;
        }
        size_t from = (first + k) * step;
        if (from + room > content) /* the last window ends where the text ends */
            from = content - room;
        s = window_of(tok, ids, lead, from, room, trail, max_len, keep_tail, append_eos, &w[k]);
    }
    if (s != FT_OK) {
        ft_data_windows_free(w, keep);
        return s;
    }
    *out = w;
    *n_out = keep;
    return FT_OK;
}

typedef struct {
    size_t tokens, truncated, dropped_no_target, blocks;
    size_t tgt_tokens, tgt_truncated, empty; /* seq2seq: target tokens, targets cut, rows skipped as empty */
} tok_stats;

/* ---- labels ---- */
/* The label set of the training rows (ft_data_label_set's order); a row without a label fails. */
static ft_status discover_labels(const ft_data_recs *rs, char ***names, int *n_labels) {
    const char **l = malloc((rs->n ? rs->n : 1) * sizeof *l);
    if (!l)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < rs->n; i++) {
        if (!rs->r[i].label) {
            free(l);
            return ft_fail(FT_ERR_FORMAT, "%s:%ld: missing label field", rs->r[i].file, rs->r[i].line);
        }
        l[i] = rs->r[i].label;
    }
    ft_status s = ft_data_label_set(l, rs->n, names, n_labels);
    free(l);
    return s;
}

/* ---- tokenizing one split ---- */
typedef struct {
    const ft_data_cfg *cfg;
    ft_task task;
    ft_tokenizer *tok;
    char **names;
    int n_labels;
} build_ctx;

static ft_status add_pair_example(const build_ctx *b, ft_dataset *d, size_t *cap, const ft_tok_ids *t,
                                  const int32_t *labels, tok_stats *ts) {
    size_t n = t->n, max = (size_t)b->cfg->max_len;
    ft_example e = {.cls_label = -100};
    e.ids = dup_ids(t->ids, n);
    e.labels = dup_ids(labels, n);
    if (!e.ids || !e.labels) {
        free(e.ids);
        free(e.labels);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    if (n > max) { /* instruction data keeps the head: prompt and the start of the answer */
        n = max;
        ts->truncated++;
    }
    bool any = false;
    for (size_t i = 0; i < n; i++)
        any |= e.labels[i] != -100;
    if (!any) {
        free(e.ids);
        free(e.labels);
        ts->dropped_no_target++;
        return FT_OK;
    }
    e.len = (int)n;
    ts->tokens += n;
    return push_ex(d, cap, &e);
}

static ft_status instruction_example(const build_ctx *b, const ft_data_rec *r, ft_dataset *d, size_t *cap,
                                     tok_stats *ts) {
    ft_tok_ids t = {0};
    ft_status s = FT_OK;
    int32_t *labels = NULL;
    if (r->n_msgs > 0 || b->cfg->chat_template) {
        ft_tok_msg two[2] = {{"user", r->prompt}, {"assistant", r->response}};
        ft_tok_msg *m = two;
        size_t nm = 2;
        if (r->n_msgs > 0) {
            m = malloc((size_t)r->n_msgs * sizeof *m);
            if (!m)
                return ft_fail(FT_ERR_NOMEM, "out of memory");
            for (int i = 0; i < r->n_msgs; i++)
                m[i] = (ft_tok_msg){r->msgs[i].role, r->msgs[i].content};
            nm = (size_t)r->n_msgs;
        }
        s = ft_tok_chat_encode(b->tok, b->cfg->chat_template ? b->cfg->chat_template : "chatml", m, nm, false, &t);
        if (m != two)
            free(m);
        if (s == FT_OK && !(labels = malloc((t.n ? t.n : 1) * sizeof *labels)))
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; s == FT_OK && i < t.n; i++)
            labels[i] = t.mask && t.mask[i] ? t.ids[i] : -100;
    } else {
        /* plain: prompt (with the tokenizer's BOS) then response + EOS; loss on the response part only */
        ft_tok_special sp = ft_tok_special_ids(b->tok);
        sp.eos = lm_eos(b->tok);
        ft_tok_ids rt = {0};
        s = ft_tok_encode(b->tok, r->prompt, strlen(r->prompt), true, &t);
        if (s == FT_OK && t.n > 0 && sp.eos >= 0 && t.ids[t.n - 1] == sp.eos && sp.eos != sp.bos)
            t.n--; /* a post-processor that closes with EOS would end the text before the answer */
        if (s == FT_OK)
            s = ft_tok_encode(b->tok, r->response, strlen(r->response), false, &rt);
        size_t np = t.n, total = t.n + rt.n + (sp.eos >= 0);
        if (s == FT_OK) {
            int32_t *ni = realloc(t.ids, (total ? total : 1) * sizeof *ni);
            labels = malloc((total ? total : 1) * sizeof *labels);
            if (ni)
                t.ids = ni;
            if (!ni || !labels)
                s = ft_fail(FT_ERR_NOMEM, "out of memory");
        }
        if (s == FT_OK) {
            memcpy(t.ids + np, rt.ids, rt.n * sizeof *rt.ids);
            if (sp.eos >= 0)
                t.ids[total - 1] = sp.eos;
            t.n = total;
            for (size_t i = 0; i < total; i++)
                labels[i] = i < np ? -100 : t.ids[i];
        }
        ft_tok_ids_free(&rt);
    }
    if (s == FT_OK)
        s = add_pair_example(b, d, cap, &t, labels, ts);
    free(labels);
    ft_tok_ids_free(&t);
    return s;
}

static bool blank(const char *t) {
    return t[strspn(t, " \t\r\n\f\v")] == '\0';
}

/* seq2seq: ids = prefix + source, encoded with the post-processor's special tokens and ending with eos
 * (T5's tokenizer appends </s>), cut to max_len with the eos kept last; labels = the target's ids + eos,
 * cut to max_target_len the same way (HF's text_target encoding; the decoder start token is never in
 * them). A missing field fails naming the line; an empty source or target skips the row (counted). */
static ft_status seq2seq_example(const build_ctx *b, const ft_data_rec *r, ft_dataset *d, size_t *cap,
                                 tok_stats *ts) {
    const ft_data_cfg *c = b->cfg;
    if (!r->text || !r->response)
        return ft_fail(FT_ERR_FORMAT, "%s:%ld: missing field '%s'", r->file, r->line,
                       !r->text ? (c->text_field ? c->text_field : "source")
                                : (c->response_field ? c->response_field : "target"));
    if (blank(r->text) || blank(r->response)) {
        ts->empty++;
        return FT_OK;
    }
    const size_t np = c->prefix ? strlen(c->prefix) : 0, ns = strlen(r->text);
    char *src = malloc(np + ns + 1);
    if (!src)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    memcpy(src, c->prefix ? c->prefix : "", np);
    memcpy(src + np, r->text, ns + 1);
    ft_tok_ids si = {0}, ti = {0};
    bool cut_s = false, cut_t = false;
    const size_t max_t = (size_t)(c->max_target_len > 0 ? c->max_target_len : c->max_len);
    ft_status s = ft_tok_encode(b->tok, src, np + ns, true, &si);
    if (s == FT_OK)
        s = ft_data_fit_eos(b->tok, &si, (size_t)c->max_len, &cut_s);
    if (s == FT_OK)
        s = ft_tok_encode(b->tok, r->response, strlen(r->response), false, &ti);
    const bool no_target = s == FT_OK && ti.n == 0; /* nothing the tokenizer keeps (only spaces, say) */
    if (s == FT_OK && !no_target)
        s = ft_data_fit_eos(b->tok, &ti, max_t, &cut_t);
    free(src);
    ft_example e = {.cls_label = -100};
    if (s == FT_OK && !no_target) {
        e.ids = dup_ids(si.ids, si.n);
        e.labels = dup_ids(ti.ids, ti.n);
        e.len = (int)si.n;
        e.dec_len = (int)ti.n;
        if (!e.ids || !e.labels) {
            free(e.ids);
            free(e.labels);
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        }
    }
    ft_tok_ids_free(&si);
    ft_tok_ids_free(&ti);
    if (s != FT_OK)
        return ft_fail_ctx(s, "%s:%ld", r->file, r->line);
    if (no_target) {
        ts->empty++;
        return FT_OK;
    }
    ts->truncated += cut_s;
    ts->tgt_truncated += cut_t;
    ts->tokens += (size_t)e.len;
    ts->tgt_tokens += (size_t)e.dec_len;
    return push_ex(d, cap, &e);
}

/* Append a text's ids (and eos when ≥ 0) to the packing stream. */
static ft_status stream_push(int32_t **stream, size_t *sn, size_t *scap, const ft_tok_ids *t, int32_t eos) {
    const size_t ne = t->n + (eos >= 0);
    if (*sn + ne > *scap) {
        size_t nc = *scap ? *scap : 4096;
        while (nc < *sn + ne)
            nc *= 2;
        int32_t *x = realloc(*stream, nc * sizeof *x);
        if (!x)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        *stream = x;
        *scap = nc;
    }
    memcpy(*stream + *sn, t->ids, t->n * sizeof *t->ids);
    *sn += t->n;
    if (eos >= 0)
        (*stream)[(*sn)++] = eos;
    return FT_OK;
}

/* data.max_windows: the windows of one text, each an example with the text's label and its doc index */
static ft_status push_windows(const build_ctx *b, ft_dataset *d, size_t *cap, const ft_tok_ids *t,
                              const ft_example *proto, bool keep_tail, tok_stats *ts) {
    ft_tok_ids *w;
    size_t nw;
    bool cut;
    FT_TRY(ft_data_windows(b->tok, t, (size_t)b->cfg->max_len, keep_tail, b->cfg->append_eos,
                           b->cfg->window_overlap, b->cfg->max_windows, &w, &nw, &cut));
    ft_status s = FT_OK;
    bool pushed = false;
    for (size_t k = 0; k < nw && s == FT_OK; k++) {
        if (w[k].n == 0)
            continue;
        ft_example e = *proto;
        e.doc = (int32_t)d->n_docs;
        e.len = (int)w[k].n;
        if (!(e.ids = dup_ids(w[k].ids, w[k].n))) {
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
            break;
        }
        ts->tokens += w[k].n;
        s = push_ex(d, cap, &e);
        pushed = true;
    }
    ft_data_windows_free(w, nw);
    ts->truncated += cut;
    if (s == FT_OK && pushed)
        d->n_docs++;
    return s;
}

static ft_status build_split(const build_ctx *b, const ft_data_recs *rs, ft_dataset *d, tok_stats *ts) {
    memset(ts, 0, sizeof *ts);
    size_t cap = 0, max = (size_t)b->cfg->max_len;
    bool keep_tail = b->cfg->truncation && !strcmp(b->cfg->truncation, "tail");
    ft_tok_special sp = ft_tok_special_ids(b->tok);
    sp.eos = lm_eos(b->tok);
    int32_t *stream = NULL; /* packed causal-LM tokens */
    size_t sn = 0, scap = 0;
    ft_tok_ids t = {0};
    ft_status s = FT_OK;
    for (size_t i = 0; i < rs->n && s == FT_OK; i++) {
        const ft_data_rec *r = &rs->r[i];
        if (b->task == FT_TASK_SEQ2SEQ) {
            s = seq2seq_example(b, r, d, &cap, ts);
            continue;
        }
        if (b->task == FT_TASK_CAUSAL_LM && (r->n_msgs > 0 || (r->prompt && r->response))) {
            s = instruction_example(b, r, d, &cap, ts);
            if (s != FT_OK)
                s = ft_fail_ctx(s, "%s:%ld: ", r->file, r->line);
            continue;
        }
        if (!r->text) {
            s = ft_fail(FT_ERR_FORMAT, "%s:%ld: missing field '%s'%s", r->file, r->line,
                        b->cfg->text_field ? b->cfg->text_field : "text",
                        b->task == FT_TASK_CAUSAL_LM ? " (or prompt/response, or messages)" : "");
            break;
        }
        ft_example e = {.cls_label = -100};
        if (b->task == FT_TASK_SEQ_CLS) {
            int id = r->label ? ft_data_label_id(b->names, b->n_labels, r->label) : -1;
            if (!r->label)
                s = ft_fail(FT_ERR_FORMAT, "%s:%ld: missing label field", r->file, r->line);
            else if (id < 0)
                s = ft_fail(FT_ERR_FORMAT, "%s:%ld: label '%s' does not occur in the training split", r->file,
                            r->line, r->label);
            e.cls_label = id;
        } else if (b->task == FT_TASK_REGRESSION) {
            char *end = NULL;
            double v = r->label ? strtod(r->label, &end) : NAN;
            if (!r->label || end == r->label || *end || !isfinite(v))
                s = ft_fail(FT_ERR_FORMAT, "%s:%ld: regression target '%s' is not a finite number", r->file, r->line,
                            r->label ? r->label : "(missing)");
            e.reg_target = (float)v;
        }
        if (s != FT_OK)
            break;
        if (r->text_pair)
            s = ft_tok_encode_pair(b->tok, r->text, strlen(r->text), r->text_pair, strlen(r->text_pair), true, &t);
        else
            s = ft_tok_encode(b->tok, r->text, strlen(r->text), true, &t);
        if (s != FT_OK) {
            s = ft_fail_ctx(s, "%s:%ld: ", r->file, r->line);
            break;
        }
        /* masked LM packed as HF's run_mlm groups texts: [CLS] a [SEP] [CLS] b [SEP] ... cut into blocks */
        if (b->task == FT_TASK_MASKED_LM && b->cfg->pack) {
            if ((s = stream_push(&stream, &sn, &scap, &t, -1)) != FT_OK)
                break;
            continue;
        }
        if (b->task == FT_TASK_CAUSAL_LM) {
            /* documents end with EOS so the model learns where they stop */
            bool add_eos = sp.eos >= 0 && (t.n == 0 || t.ids[t.n - 1] != sp.eos);
            size_t ne = t.n + add_eos;
            if (b->cfg->pack) {
                if ((s = stream_push(&stream, &sn, &scap, &t, add_eos ? sp.eos : -1)) != FT_OK)
                    break;
                continue;
            }
            if (ne == 0)
                continue;
            size_t n = ne < max ? ne : max;
            ts->truncated += ne > max;
            if (!(e.ids = malloc(n * sizeof *e.ids))) {
                s = ft_fail(FT_ERR_NOMEM, "out of memory");
                break;
            }
            memcpy(e.ids, t.ids, (n < t.n ? n : t.n) * sizeof *e.ids);
            if (n > t.n)
                e.ids[t.n] = sp.eos;
            e.len = (int)n;
            ts->tokens += n;
            s = push_ex(d, &cap, &e);
            continue;
        }
        if (b->cfg->max_windows > 1 && (b->task == FT_TASK_SEQ_CLS || b->task == FT_TASK_REGRESSION)) {
            if ((s = push_windows(b, d, &cap, &t, &e, keep_tail, ts)) != FT_OK)
                s = ft_fail_ctx(s, "%s:%ld: ", r->file, r->line);
            continue;
        }
        bool cut = false;
        /* a pair too long is cut as Hugging Face tokenizers cut it (longest_first: the longer text gives
           up tokens first), not as one sequence */
        if (r->text_pair && t.n > max && !keep_tail) {
            cut = true;
            s = ft_tok_encode_truncated(b->tok, r->text, strlen(r->text), r->text_pair, strlen(r->text_pair),
                                        true, max, false, FT_TOK_OFFSETS_CHARS, &t);
            if (s != FT_OK) {
                s = ft_fail_ctx(s, "%s:%ld: ", r->file, r->line);
                break;
            }
        }
        bool cut_eos = false;
        if ((s = ft_data_fit(b->tok, &t, max, keep_tail, b->cfg->append_eos, &cut_eos)) != FT_OK)
            break;
        cut |= cut_eos;
        ts->truncated += cut;
        if (t.n == 0)
            continue;
        size_t n = t.n;
        e.ids = dup_ids(t.ids, n);
        /* a text pair's token types (BERT segment ids) go with it; a single text's are all 0 */
        if (e.ids && r->text_pair && t.type_ids && !(e.type_ids = dup_ids(t.type_ids, n))) {
            free(e.ids);
            e.ids = NULL;
        }
        if (!e.ids) {
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
            break;
        }
        e.len = (int)n;
        ts->tokens += n;
        s = push_ex(d, &cap, &e);
    }
    /* packing: max_len blocks of the concatenated stream; a short tail is kept only when it is all there is */
    for (size_t at = 0; s == FT_OK && at < sn; at += max) {
        size_t n = sn - at < max ? sn - at : max;
        if (n < max && at > 0)
            break;
        ft_example e = {.cls_label = -100, .len = (int)n};
        if (!(e.ids = dup_ids(stream + at, n)))
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        else
            s = push_ex(d, &cap, &e);
        ts->tokens += n;
        ts->blocks++;
    }
    free(stream);
    ft_tok_ids_free(&t);
    return s;
}

static bool any_cleaning(const ft_data_cfg *c) {
    return c->clean_unicode || c->clean_whitespace || c->clean_html || c->clean_email_headers ||
           c->dedup_exact || c->dedup_near || c->drop_garbled || c->min_chars > 0 || c->max_chars > 0;
}

/* data.replay: blocks of general text mixed into a causal-LM training set, so that continued
 * pre-training on a narrow domain keeps seeing the kind of text the base model was made from (the
 * mitigation of catastrophic forgetting in docs/forgetting.md). The replay file goes through the same
 * reading, cleaning, tokenizing and packing as data.train; a seeded choice of its examples is appended
 * so that they make replay_ratio of the result (all of them, and a note, when there are fewer). */
static ft_status add_replay(const build_ctx *b, ft_dataset *train, FILE *summary) {
    const ft_data_cfg *cfg = b->cfg;
    ft_data_recs rr = {0};
    ft_dataset pool = {0};
    ft_status s = ft_data_read(cfg->replay, cfg, &rr);
    if (s == FT_OK && any_cleaning(cfg)) {
        ft_data_clean_stats st;
        s = ft_data_clean(cfg, &rr, &st);
    }
    tok_stats ts;
    if (s == FT_OK)
        s = build_split(b, &rr, &pool, &ts);
    ft_data_recs_free(&rr);
    size_t want = (size_t)((double)train->n * cfg->replay_ratio / (1.0 - cfg->replay_ratio) + 0.5);
    if (s == FT_OK && pool.n == 0)
        s = ft_fail(FT_ERR_FORMAT, "data.replay: %s gives no examples", cfg->replay);
    if (s != FT_OK) {
        ft_dataset_free(&pool);
        return s;
    }
    size_t take = want < pool.n ? want : pool.n;
    ft_example *x = realloc(train->ex, (train->n + take) * sizeof *x);
    if (!x) {
        ft_dataset_free(&pool);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    train->ex = x;
    for (size_t j = 0; j < take; j++) { /* seeded partial Fisher-Yates over the pool */
        size_t r = j + (size_t)(ft_rng_u64(cfg->seed, 0x7e91a4ULL, j) % (pool.n - j));
        ft_example t = pool.ex[j];
        pool.ex[j] = pool.ex[r];
        pool.ex[r] = t;
        train->ex[train->n++] = pool.ex[j];
        pool.ex[j] = (ft_example){0};
    }
    if (summary)
        fprintf(summary, "replay: %zu of %zu examples from %s added to train (ratio %g%s)\n", take, pool.n,
                cfg->replay, (double)cfg->replay_ratio,
                take < want ? ", fewer than asked: the file is short" : "");
    ft_dataset_free(&pool);
    return FT_OK;
}

static void print_labels(FILE *f, const char *name, const ft_dataset *d, char *const *names, int n_labels) {
    if (!f || !names)
        return;
    fprintf(f, "labels %s:", name);
    for (int k = 0; k < n_labels; k++) {
        size_t c = 0;
        for (size_t i = 0; i < d->n; i++)
            c += d->ex[i].cls_label == k;
        fprintf(f, " %s=%zu", names[k], c);
    }
    fprintf(f, "\n");
}

ft_status ft_data_splits(const ft_data_cfg *cfg, ft_task task, ft_data_recs rs[3], FILE *summary) {
    memset(rs, 0, 3 * sizeof *rs);
    if (!cfg->train && !cfg->rows[0])
        return ft_fail(FT_ERR_CONFIG, "data.train: no training file given");
    ft_data_recs raw = {0};
    const char *split_name[3] = {"train", "validation", "test"};
    /* a split of its own: a file, or the caller's rows */
    const bool own_val = cfg->validation || cfg->rows[1], own_test = cfg->test || cfg->rows[2];
    ft_status s =
        cfg->rows[0] ? ft_data_recs_append(&raw, cfg->rows[0]) : ft_data_read(cfg->train, cfg, &raw);
    if (s == FT_OK && own_val)
        s = cfg->rows[1] ? ft_data_recs_append(&rs[1], cfg->rows[1])
                         : ft_data_read(cfg->validation, cfg, &rs[1]);
    if (s == FT_OK && own_test)
        s = cfg->rows[2] ? ft_data_recs_append(&rs[2], cfg->rows[2]) : ft_data_read(cfg->test, cfg, &rs[2]);
    if (s == FT_OK && summary)
        fprintf(summary, "read %s: %zu rows\n", ft_data_train_name(cfg), raw.n);
    ft_data_recs *clean_of[3] = {&raw, &rs[1], &rs[2]};
    for (int k = 0; s == FT_OK && k < 3 && any_cleaning(cfg); k++) {
        if (k > 0 && !(k == 1 ? own_val : own_test))
            continue;
        ft_data_clean_stats st;
        s = ft_data_clean(cfg, clean_of[k], &st);
        if (s == FT_OK && summary)
            ft_data_clean_print(&st, split_name[k], summary);
    }
    if (s == FT_OK) {
        float vr = own_val ? 0 : cfg->val_ratio, tr = own_test ? 0 : cfg->test_ratio;
        uint64_t ss = cfg->split_seed >= 0 ? (uint64_t)cfg->split_seed : cfg->seed;
        s = ft_data_split(&raw, vr, tr, cfg->stratify && task == FT_TASK_SEQ_CLS, ss, &rs[0],
                          own_val ? &raw : &rs[1], own_test ? &raw : &rs[2]);
        if (s == FT_OK && raw.n && summary) /* ratios 0 for a given file: nothing may land in raw */
            fprintf(summary, "split: %zu rows unexpectedly left\n", raw.n);
    }
    if (s == FT_OK && cfg->train_limit > 0 && rs[0].n > cfg->train_limit) {
        size_t before = rs[0].n;
        uint64_t ds = cfg->train_limit_seed >= 0 ? (uint64_t)cfg->train_limit_seed : cfg->seed;
        s = ft_data_subsample(&rs[0], cfg->train_limit, cfg->stratify && task == FT_TASK_SEQ_CLS, ds);
        if (s == FT_OK && summary)
            fprintf(summary, "train_limit: %zu of %zu training rows kept%s\n", rs[0].n, before,
                    cfg->stratify && task == FT_TASK_SEQ_CLS ? " (stratified)" : "");
    }
    ft_data_recs_free(&raw);
    if (s != FT_OK)
        for (int k = 0; k < 3; k++)
            ft_data_recs_free(&rs[k]);
    return s;
}

ft_status ft_data_build(const ft_data_cfg *cfg, ft_task task, ft_tokenizer *tok, ft_dataset *train, ft_dataset *val,
                        ft_dataset *test, FILE *summary) {
    memset(train, 0, sizeof *train);
    if (val)
        memset(val, 0, sizeof *val);
    if (test)
        memset(test, 0, sizeof *test);
    if (!cfg->train && !cfg->rows[0])
        return ft_fail(FT_ERR_CONFIG, "data.train: no training file given");
    if (cfg->max_len < 2)
        return ft_fail(FT_ERR_CONFIG, "data.max_len: %d is too small", cfg->max_len);
    if (cfg->truncation && strcmp(cfg->truncation, "head") && strcmp(cfg->truncation, "tail"))
        return ft_fail(FT_ERR_CONFIG, "data.truncation: '%s' is not head or tail", cfg->truncation);
    if (cfg->max_windows > 1 && task != FT_TASK_SEQ_CLS && task != FT_TASK_REGRESSION)
        return ft_fail(FT_ERR_CONFIG,
                       "data.max_windows: only for tasks classification and regression (question "
                       "answering has its own windows: data.doc_stride)");
    if (cfg->max_windows > 1 && cfg->text_pair_field)
        return ft_fail(FT_ERR_CONFIG, "data.max_windows: not with text pairs (data.text_pair_field)");
    if (cfg->max_windows > 1 && cfg->window_overlap < 0)
        return ft_fail(FT_ERR_CONFIG, "data.window_overlap: %d is negative", cfg->window_overlap);
    if (task == FT_TASK_SEQ2SEQ && cfg->max_target_len != 0 && cfg->max_target_len < 2)
        return ft_fail(FT_ERR_CONFIG, "data.max_target_length: %d is too small (a target token and the eos)",
                       cfg->max_target_len);
    if (task == FT_TASK_SEQ2SEQ && tok && lm_eos(tok) < 0)
        return ft_fail(FT_ERR_CONFIG,
                       "task seq2seq: the tokenizer has no end-of-sequence token (</s>), which ends every "
                       "source and target");
    if (cfg->replay && task != FT_TASK_CAUSAL_LM)
        return ft_fail(FT_ERR_CONFIG,
                       "data.replay: only for task causal_lm (mixing general text into the stream)");
    if (cfg->replay && !(cfg->replay_ratio > 0 && cfg->replay_ratio < 1))
        return ft_fail(FT_ERR_CONFIG, "data.replay_ratio: %g is not in (0, 1)", (double)cfg->replay_ratio);
    ft_data_recs rs[3] = {{0}};
    const char *split_name[3] = {"train", "validation", "test"};
    ft_dataset *out[3] = {train, val, test};
    char **names = NULL;
    int n_labels = 0;
    ft_wordnet *wn = NULL;
    ft_status s = ft_data_splits(cfg, task, rs, summary);
    if (s == FT_OK && rs[0].n == 0)
        s = ft_fail(FT_ERR_FORMAT, "%s: no training rows left after cleaning", ft_data_train_name(cfg));
    if (s == FT_OK && task == FT_TASK_SEQ_CLS)
        s = discover_labels(&rs[0], &names, &n_labels);
    if (s == FT_OK && cfg->augment_factor > 0) {
        size_t added = 0;
        if ((cfg->aug_p_synonym > 0 || cfg->aug_p_insert > 0))
            s = ft_wordnet_load(cfg->wordnet_dir, &wn);
        if (s == FT_OK)
            s = ft_data_augment(cfg, wn, &rs[0], &added);
        if (s == FT_OK && summary)
            fprintf(summary, "augmentation: %zu copies added to train (factor %g)\n", added,
                    (double)cfg->augment_factor);
    }
    build_ctx b = {cfg, task, tok, names, n_labels};
    for (int k = 0; s == FT_OK && k < 3; k++) {
        if (!out[k])
            continue;
        tok_stats ts;
        s = build_split(&b, &rs[k], out[k], &ts);
        if (s == FT_OK && k == 0 && cfg->replay)
            s = add_replay(&b, out[k], summary);
        if (s == FT_OK && task == FT_TASK_SEQ_CLS)
            s = ft_dataset_copy_labels(out[k], names, n_labels);
        if (s == FT_OK && summary) {
            fprintf(summary, "%s: %zu rows -> %zu examples, %zu tokens, %zu truncated to %d", split_name[k], rs[k].n,
                    out[k]->n, ts.tokens, ts.truncated, cfg->max_len);
            if (ts.blocks)
                fprintf(summary, ", packed into %zu blocks", ts.blocks);
            if (ts.dropped_no_target)
                fprintf(summary, ", %zu dropped (no response token left after truncation)", ts.dropped_no_target);
            if (task == FT_TASK_SEQ2SEQ)
                fprintf(summary,
                        " (sources); targets: %zu tokens, %zu truncated to %d; %zu rows skipped (empty "
                        "source or target)",
                        ts.tgt_tokens, ts.tgt_truncated,
                        cfg->max_target_len > 0 ? cfg->max_target_len : cfg->max_len, ts.empty);
            fprintf(summary, "\n");
            print_labels(summary, split_name[k], out[k], names, n_labels);
        }
    }
    if (s == FT_OK && train->n == 0)
        s = ft_fail(FT_ERR_FORMAT, "%s: no training examples", ft_data_train_name(cfg));
    for (int i = 0; names && i < n_labels; i++)
        free(names[i]);
    free(names);
    ft_wordnet_free(wn);
    for (int k = 0; k < 3; k++)
        ft_data_recs_free(&rs[k]);
    if (s != FT_OK)
        for (int k = 0; k < 3; k++)
            if (out[k])
                ft_dataset_free(out[k]);
    return s;
}

/* ---- length-grouped batches ---- */
typedef struct {
    int len;
    size_t i;
} len_idx;
static int len_desc(const void *a, const void *b) {
    const len_idx *x = a, *y = b;
    return x->len != y->len ? (y->len > x->len) - (y->len < x->len) : (x->i > y->i) - (x->i < y->i);
}

ft_status ft_data_length_groups(const ft_dataset *ds, int batch_size, uint64_t seed, size_t *order_out) {
    if (batch_size < 1)
        return ft_fail(FT_ERR_ARG, "length groups: batch size %d", batch_size);
    size_t n = ds->n, bs = (size_t)batch_size, mega = 50 * bs;
    len_idx *li = malloc((n ? n : 1) * sizeof *li);
    size_t nb = (n + bs - 1) / bs;
    size_t *border = malloc((nb ? nb : 1) * sizeof *border);
    if (!li || !border) {
        free(li);
        free(border);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        li[i] = (len_idx){ds->ex[i].len, i};
    for (size_t k = n; k > 1; k--) {
        size_t j = (size_t)(ft_rng_u64(seed, 0x1E6ULL, k) % k);
        len_idx t = li[k - 1];
        li[k - 1] = li[j];
        li[j] = t;
    }
    for (size_t a = 0; a < n; a += mega)
        qsort(li + a, (n - a < mega ? n - a : mega), sizeof *li, len_desc);
    /* shuffle whole batches, but keep the batch holding the longest example first (HF does the same: an
     * out-of-memory shows up at step one) */
    size_t longest = 0;
    for (size_t i = 0; i < n; i++)
        if (li[i].len > li[longest].len)
            longest = i;
    for (size_t k = 0; k < nb; k++)
        border[k] = k;
    for (size_t k = nb; k > 1; k--) {
        size_t j = (size_t)(ft_rng_u64(seed, 0x1E7ULL, k) % k), t = border[k - 1];
        border[k - 1] = border[j];
        border[j] = t;
    }
    for (size_t k = 0; k < nb; k++)
        if (border[k] == longest / bs) {
            border[k] = border[0];
            border[0] = longest / bs;
        }
    size_t w = 0;
    for (size_t k = 0; k < nb; k++)
        for (size_t i = border[k] * bs; i < n && i < (border[k] + 1) * bs; i++)
            order_out[w++] = li[i].i;
    free(li);
    free(border);
    return FT_OK;
}
