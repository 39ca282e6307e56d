/* api/api_toktrain: `ftune tokenizer train` as library calls (include/ftune.h,
 * FTUNE_HAS_TOKENIZER_TRAINING), a handle over tokenizer/tok_train.c's byte-level BPE trainer. Prefix
 * ftune_tokenizer_train. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_ctx.h"
#include "tokenizer/tok_train.h"

struct ftune_tokenizer_trainer {
    ftune_ctx *ctx;
    ft_tok_trainer *t;
    char *role[4]; /* copies of bos, eos, pad, unk: the trainer keeps pointers to them */
    bool ran;
};

void ftune_tokenizer_train_opts_init(ftune_tokenizer_train_opts *o) {
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->vocab_size = 16000;
    o->min_frequency = 2;
    o->model_max_length = 2048;
}

void ftune_tokenizer_trainer_free(ftune_tokenizer_trainer *t) {
    if (!t)
        return;
    ft_tok_train_free(t->t);
    for (int i = 0; i < 4; i++)
        free(t->role[i]);
    free(t);
}

static ft_status make(ftune_tokenizer_trainer *t, const ftune_tokenizer_train_opts *opts) {
    ftune_tokenizer_train_opts u;
    ftune_tokenizer_train_opts_init(&u);
    FT_TRY(api_opts(&u, sizeof u, opts,
                    offsetof(ftune_tokenizer_train_opts, model_max_length) + sizeof u.model_max_length,
                    "ftune_tokenizer_train_opts"));
    if (u.n_special && !u.special)
        return ft_fail(FT_ERR_ARG, "tokenizer train: %zu special tokens but no array (NULL)", u.n_special);
    if (u.threads < 0)
        return ft_fail(FT_ERR_ARG, "tokenizer train: threads %d (0 = all cores)", u.threads);
    if (u.model_max_length == 0)
        return ft_fail(FT_ERR_ARG, "tokenizer train: model_max_length 0 (must be > 0)");
    const char *roles[4] = {u.bos, u.eos, u.pad, u.unk};
    for (int i = 0; i < 4; i++)
        if (roles[i] && !(t->role[i] = strdup(roles[i])))
            return ft_fail(FT_ERR_NOMEM, "out of memory");
    ft_tok_train_opts o;
    ft_tok_train_opts_default(&o);
    o.vocab_size = u.vocab_size;
    o.min_frequency = u.min_frequency;
    o.special = u.special;
    o.n_special = u.n_special;
    o.threads = u.threads;
    o.bos = t->role[0], o.eos = t->role[1], o.pad = t->role[2], o.unk = t->role[3];
    o.add_bos = u.add_bos != 0;
    o.model_max_length = u.model_max_length;
    return ft_tok_train_new(&o, &t->t);
}

ftune_status ftune_tokenizer_trainer_new(ftune_ctx *ctx, const ftune_tokenizer_train_opts *o,
                                         ftune_tokenizer_trainer **out) {
    if (!ctx || !out)
        return FT_ERR_ARG;
    *out = NULL;
    api_begin(ctx);
    ftune_tokenizer_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return api_end(ctx, ft_fail(FT_ERR_NOMEM, "out of memory"));
    t->ctx = ctx;
    ft_status s = make(t, o);
    if (s != FT_OK) {
        ftune_tokenizer_trainer_free(t);
        return api_end(ctx, s);
    }
    *out = t;
    return api_end(ctx, FT_OK);
}

/* Adding text after the merges were learned would not change them: refused. */
static ft_status can_add(const ftune_tokenizer_trainer *t) {
    return t->ran ? ft_fail(FT_ERR_ARG, "tokenizer train: text added after ftune_tokenizer_trainer_run")
                  : FT_OK;
}

ftune_status ftune_tokenizer_trainer_add_file(ftune_tokenizer_trainer *t, const char *path) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    if (!path)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "ftune_tokenizer_trainer_add_file: no path (NULL)"));
    ft_status s = can_add(t);
    return api_end(t->ctx, s == FT_OK ? ft_tok_train_add_file(t->t, path) : s);
}

ftune_status ftune_tokenizer_trainer_add_jsonl(ftune_tokenizer_trainer *t, const char *path,
                                               const char *field) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    if (!path)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "ftune_tokenizer_trainer_add_jsonl: no path (NULL)"));
    ft_status s = can_add(t);
    return api_end(t->ctx, s == FT_OK ? ft_tok_train_add_jsonl(t->t, path, field) : s);
}

ftune_status ftune_tokenizer_trainer_add_text(ftune_tokenizer_trainer *t, const char *text, size_t len) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    if (!text && len)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "ftune_tokenizer_trainer_add_text: no text (NULL)"));
    ft_status s = can_add(t);
    return api_end(t->ctx, s == FT_OK ? ft_tok_train_add_text(t->t, text, len, "text") : s);
}

ftune_status ftune_tokenizer_trainer_run(ftune_tokenizer_trainer *t) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    ft_status s = ft_tok_train_run(t->t);
    t->ran = t->ran || s == FT_OK;
    return api_end(t->ctx, s);
}

ftune_status ftune_tokenizer_trainer_get_stats(ftune_tokenizer_trainer *t, ftune_tokenizer_train_stats *out) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    size_t first = offsetof(ftune_tokenizer_train_stats, merge_seconds) + sizeof out->merge_seconds;
    if (!out || out->struct_size < first)
        return api_end(t->ctx,
                       ft_fail(FT_ERR_ARG, "ftune_tokenizer_trainer_get_stats: no stats struct, or its "
                                           "struct_size not set to sizeof(ftune_tokenizer_train_stats)"));
    const ft_tok_train_stats *s = ft_tok_train_stats_get(t->t);
    ftune_tokenizer_train_stats r;
    memset(&r, 0, sizeof r);
    r.struct_size = out->struct_size;
    r.bytes = s->bytes, r.sequences = s->sequences, r.words = s->words;
    r.distinct_words = s->distinct_words, r.merges = s->merges, r.vocab_size = s->vocab_size;
    r.stop = s->stop ? s->stop : "";
    r.count_seconds = s->count_seconds, r.merge_seconds = s->merge_seconds;
    memcpy(out, &r, out->struct_size < sizeof r ? out->struct_size : sizeof r);
    return api_end(t->ctx, FT_OK);
}

ftune_status ftune_tokenizer_trainer_save(ftune_tokenizer_trainer *t, const char *dir) {
    if (!t)
        return FT_ERR_ARG;
    api_begin(t->ctx);
    if (!dir)
        return api_end(t->ctx, ft_fail(FT_ERR_ARG, "ftune_tokenizer_trainer_save: no directory (NULL)"));
    return api_end(t->ctx, ft_tok_train_save(t->t, dir));
}
