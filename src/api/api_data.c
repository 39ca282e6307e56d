/* api/api_data: `ftune data` as library calls (include/ftune.h, FTUNE_HAS_DATA_PREP): a dataset's rows read
 * from files or mail directories, cleaned, augmented, split and written through data/dataset.h, with the
 * options of the command in one struct (ftune_data_opts) and the summary lines it prints. Prefix ftune_. */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/api_ctx.h"
#include "api/api_dataset.h"
#include "train/runcfg.h"

void ftune_data_opts_init(ftune_data_opts *o) {
    if (!o)
        return;
    ft_data_cfg c;
    ft_data_cfg_default(&c);
    *o = (ftune_data_opts){.struct_size = sizeof *o,
                           .format = c.format,
                           .text_field = c.text_field,
                           .label_field = c.label_field,
                           .prompt_field = c.prompt_field,
                           .response_field = c.response_field,
                           .clean_unicode = c.clean_unicode,
                           .clean_whitespace = c.clean_whitespace,
                           .clean_html = c.clean_html,
                           .clean_email_headers = c.clean_email_headers,
                           .dedup_exact = c.dedup_exact,
                           .dedup_near = c.dedup_near,
                           .near_dup_threshold = c.near_dup_threshold,
                           .drop_garbled = c.drop_garbled,
                           .min_chars = c.min_chars,
                           .max_chars = c.max_chars,
                           .augment_factor = c.augment_factor,
                           .aug_p_delete = c.aug_p_delete,
                           .aug_p_swap = c.aug_p_swap,
                           .aug_p_insert = c.aug_p_insert,
                           .aug_p_synonym = c.aug_p_synonym,
                           .wordnet_dir = c.wordnet_dir,
                           .seed = c.seed};
}

/* The caller's options (the fields its struct has) as the data module's config, range-checked. */
static ft_status data_cfg(const ftune_data_opts *o, ft_data_cfg *c) {
    ftune_data_opts u;
    ftune_data_opts_init(&u);
    FT_TRY(api_opts(&u, sizeof u, o, sizeof u, "ftune_data_opts"));
    if (!(u.near_dup_threshold > 0 && u.near_dup_threshold <= 1) || !(u.augment_factor >= 0) ||
        u.min_chars < 0 || u.max_chars < 0 || !(u.aug_p_delete >= 0 && u.aug_p_delete < 1) ||
        !(u.aug_p_swap >= 0) || !(u.aug_p_insert >= 0) || !(u.aug_p_synonym >= 0))
        return ft_fail(FT_ERR_ARG,
                       "ftune_data_opts: out of range (0 < near_dup_threshold <= 1, augment_factor "
                       ">= 0, min/max_chars >= 0, rates >= 0, aug_p_delete < 1)");
    ft_data_cfg_default(c);
    c->format = u.format ? u.format : "auto";
    c->text_field = u.text_field ? u.text_field : "text";
    c->label_field = u.label_field ? u.label_field : "label";
    c->prompt_field = u.prompt_field ? u.prompt_field : "prompt";
    c->response_field = u.response_field ? u.response_field : "response";
    c->clean_unicode = u.clean_unicode != 0;
    c->clean_whitespace = u.clean_whitespace != 0;
    c->clean_html = u.clean_html != 0;
    c->clean_email_headers = u.clean_email_headers != 0;
    c->dedup_exact = u.dedup_exact != 0;
    c->dedup_near = u.dedup_near != 0;
    c->near_dup_threshold = (float)u.near_dup_threshold;
    c->drop_garbled = u.drop_garbled != 0;
    c->min_chars = u.min_chars < INT_MAX ? (int)u.min_chars : INT_MAX; /* longer than any text */
    c->max_chars = u.max_chars < INT_MAX ? (int)u.max_chars : INT_MAX;
    c->augment_factor = (float)u.augment_factor;
    c->aug_p_delete = (float)u.aug_p_delete;
    c->aug_p_swap = (float)u.aug_p_swap;
    c->aug_p_insert = (float)u.aug_p_insert;
    c->aug_p_synonym = (float)u.aug_p_synonym;
    c->wordnet_dir = u.wordnet_dir;
    c->seed = u.seed;
    return FT_OK;
}

/* Move every row of src to the end of dst (src left empty). */
static ft_status take_rows(ft_data_recs *dst, ft_data_recs *src) {
    ft_status s = FT_OK;
    for (size_t i = 0; i < src->n; i++)
        if (s == FT_OK)
            s = ft_data_recs_push(dst, &src->r[i]);
    ft_data_recs_free(src);
    return s;
}

/* After a split that ended with s: its three parts moved to the datasets (a NULL one drops its part), all
 * freed. */
static ft_status take_splits(ft_status s, ft_data_recs sp[3], ftune_dataset *train, ftune_dataset *validation,
                             ftune_dataset *test) {
    ftune_dataset *const to[3] = {train, validation, test};
    for (int k = 0; k < 3; k++) {
        if (s == FT_OK && to[k])
            s = take_rows(&to[k]->recs, &sp[k]);
        ft_data_recs_free(&sp[k]);
    }
    return s;
}

ftune_status ftune_dataset_read_with(ftune_dataset *d, const char *path, const ftune_data_opts *o) {
    if (!d)
        return FT_ERR_ARG;
    api_begin(d->ctx);
    if (!path)
        return api_end(d->ctx, ft_fail(FT_ERR_ARG, "ftune_dataset_read_with: no file (NULL)"));
    ft_data_cfg c;
    ft_data_recs rs = {0};
    ft_status s = data_cfg(o, &c);
    if (s == FT_OK)
        s = ft_data_read(path, &c, &rs);
    if (s == FT_OK)
        s = take_rows(&d->recs, &rs);
    ft_data_recs_free(&rs);
    return api_end(d->ctx, s);
}

ftune_status ftune_dataset_read_mail(ftune_dataset *d, const char *dir, int keep_headers, size_t *n_recoded) {
    if (!d)
        return FT_ERR_ARG;
    api_begin(d->ctx);
    if (!dir)
        return api_end(d->ctx, ft_fail(FT_ERR_ARG, "ftune_dataset_read_mail: no directory (NULL)"));
    ft_data_recs rs = {0};
    size_t recoded = 0;
    ft_status s = ft_data_read_mail_dir(dir, !keep_headers, &rs, &recoded);
    if (s == FT_OK)
        s = take_rows(&d->recs, &rs);
    ft_data_recs_free(&rs);
    if (s == FT_OK && n_recoded)
        *n_recoded = recoded;
    return api_end(d->ctx, s);
}

ftune_status ftune_dataset_read_mail_subjects(ftune_dataset *d, const char *dir, const char *label,
                                              size_t max_body_bytes, ftune_mail_subject_stats *st) {
    if (!d)
        return FT_ERR_ARG;
    api_begin(d->ctx);
    if (!dir || !label)
        return api_end(d->ctx, ft_fail(FT_ERR_ARG, "ftune_dataset_read_mail_subjects: no %s (NULL)",
                                       dir ? "label" : "directory"));
    if (st && st->struct_size < offsetof(ftune_mail_subject_stats, markers) + sizeof st->markers)
        return api_end(d->ctx, ft_fail(FT_ERR_ARG,
                                       "ftune_mail_subject_stats.struct_size %zu: set it to "
                                       "sizeof(ftune_mail_subject_stats)",
                                       st->struct_size));
    ft_data_recs rs = {0};
    ft_data_subject_stats x;
    ft_status s = ft_data_read_mail_subjects(dir, label, max_body_bytes, &rs, &x);
    if (s == FT_OK)
        s = take_rows(&d->recs, &rs);
    ft_data_recs_free(&rs);
    if (s == FT_OK && st) {
        ftune_mail_subject_stats v = {sizeof v,      x.mails,      x.pairs,      x.recoded,
                                      x.other_label, x.no_subject, x.empty_body, x.markers};
        const size_t n = st->struct_size < sizeof v ? st->struct_size : sizeof v;
        memcpy(st, &v, n);
        st->struct_size = n;
    }
    return api_end(d->ctx, s);
}

ftune_status ftune_dataset_clean(ftune_dataset *d, const ftune_data_opts *o, const char *name,
                                 ftune_clean_stats *st, char **summary) {
    if (!d)
        return FT_ERR_ARG;
    api_begin(d->ctx);
    if (summary)
        *summary = NULL;
    if (st && st->struct_size < offsetof(ftune_clean_stats, changed_email_headers) + sizeof(size_t))
        return api_end(d->ctx, ft_fail(FT_ERR_ARG,
                                       "ftune_clean_stats.struct_size %zu: set it to "
                                       "sizeof(ftune_clean_stats)",
                                       st->struct_size));
    ft_data_cfg c;
    ft_data_clean_stats x;
    ft_status s = data_cfg(o, &c);
    if (s == FT_OK)
        s = ft_data_clean(&c, &d->recs, &x);
    if (s == FT_OK && summary) {
        size_t len = 0;
        FILE *f = open_memstream(summary, &len);
        if (!f)
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        else {
            ft_data_clean_print(&x, name ? name : "dataset", f);
            if (fclose(f) != 0)
                s = ft_fail(FT_ERR_NOMEM, "out of memory");
        }
    }
    if (s == FT_OK && st) {
        ftune_clean_stats v = {sizeof v,
                               x.in,
                               x.out,
                               x.garbled,
                               x.too_short,
                               x.too_long,
                               x.dup_exact,
                               x.dup_near,
                               x.changed_unicode,
                               x.changed_whitespace,
                               x.changed_html,
                               x.changed_headers};
        const size_t n = st->struct_size < sizeof v ? st->struct_size : sizeof v;
        memcpy(st, &v, n);
        st->struct_size = n;
    }
    if (s != FT_OK && summary) {
        free(*summary);
        *summary = NULL;
    }
    return api_end(d->ctx, s);
}

ftune_status ftune_dataset_augment(ftune_dataset *d, const ftune_data_opts *o, size_t *added) {
    if (!d)
        return FT_ERR_ARG;
    api_begin(d->ctx);
    ft_data_cfg c;
    ft_wordnet *wn = NULL;
    size_t n = 0;
    ft_status s = data_cfg(o, &c);
    if (s == FT_OK && c.augment_factor > 0 && (c.aug_p_insert > 0 || c.aug_p_synonym > 0))
        s = ft_wordnet_load(c.wordnet_dir, &wn);
    if (s == FT_OK && c.augment_factor > 0)
        s = ft_data_augment(&c, wn, &d->recs, &n);
    ft_wordnet_free(wn);
    if (s == FT_OK && added)
        *added = n;
    return api_end(d->ctx, s);
}

ftune_status ftune_dataset_get(const ftune_dataset *d, size_t i, ftune_example *e) {
    if (!d)
        return FT_ERR_ARG;
    api_begin(NULL);
    if (!e || e->struct_size < sizeof(size_t) + 5 * sizeof(const char *))
        return api_end(d->ctx, ft_fail(FT_ERR_ARG, "ftune_dataset_get: an ftune_example made by "
                                                   "ftune_example_init is required"));
    if (i >= d->recs.n)
        return api_end(d->ctx,
                       ft_fail(FT_ERR_RANGE, "ftune_dataset_get: row %zu of a dataset of %zu", i, d->recs.n));
    const ft_data_rec *r = &d->recs.r[i];
    e->text = r->text;
    e->label = r->label;
    e->text_pair = r->text_pair;
    e->prompt = r->prompt;
    e->response = r->response;
    return api_end(d->ctx, FT_OK);
}

ftune_status ftune_dataset_split(const ftune_dataset *d, double val_ratio, double test_ratio, int stratify,
                                 uint64_t seed, ftune_dataset *train, ftune_dataset *validation,
                                 ftune_dataset *test) {
    if (!d)
        return FT_ERR_ARG;
    api_begin(d->ctx);
    ft_data_recs all = {0}, sp[3] = {{0}};
    ft_status s = ft_data_recs_append(&all, &d->recs);
    if (s == FT_OK)
        s = ft_data_split(&all, (float)val_ratio, (float)test_ratio, stratify != 0, seed, &sp[0], &sp[1],
                          &sp[2]);
    s = take_splits(s, sp, train, validation, test);
    ft_data_recs_free(&all);
    return api_end(d->ctx, s);
}

ftune_status ftune_dataset_recipe_splits(ftune_ctx *ctx, const char *recipe_path,
                                         const char *const *overrides, size_t n_overrides,
                                         ftune_log_fn on_log, void *user, ftune_dataset *train,
                                         ftune_dataset *validation, ftune_dataset *test) {
    if (!ctx)
        return FT_ERR_ARG;
    api_begin(ctx);
    if (!recipe_path)
        return api_end(ctx, ft_fail(FT_ERR_ARG, "ftune_dataset_recipe_splits: no recipe (NULL)"));
    ft_recipe r;
    ft_data_recs rs[3] = {{0}};
    char *summary = NULL;
    size_t len = 0;
    FILE *sf = NULL;
    ft_status s = ft_recipe_init(&r);
    if (s != FT_OK)
        return api_end(ctx, s);
    s = ft_recipe_load_yaml(&r, recipe_path);
    for (size_t i = 0; i < n_overrides && s == FT_OK; i++)
        s = overrides && overrides[i]
                ? ft_recipe_override(&r, overrides[i])
                : ft_fail(FT_ERR_ARG, "ftune_dataset_recipe_splits: override %zu is NULL", i);
    if (s == FT_OK && !(sf = open_memstream(&summary, &len)))
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s == FT_OK) {
        ft_data_cfg c;
        ft_runcfg_data(&r, &c);
        s = ft_data_splits(&c, ft_runcfg_task(r.task), rs, sf);
    }
    if (sf && fclose(sf) != 0 && s == FT_OK)
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    api_log_lines(summary, on_log, user); /* what was made before a failure too, as the command prints it */
    free(summary);
    s = take_splits(s, rs, train, validation, test);
    ft_recipe_free(&r);
    return api_end(ctx, s);
}

ftune_status ftune_dataset_write_jsonl(const ftune_dataset *d, const char *path) {
    if (!d)
        return FT_ERR_ARG;
    api_begin(d->ctx);
    if (!path)
        return api_end(d->ctx, ft_fail(FT_ERR_ARG, "ftune_dataset_write_jsonl: no file (NULL)"));
    return api_end(d->ctx, ft_data_write_jsonl(path, &d->recs));
}

ftune_status ftune_dataset_write_pairs(const ftune_dataset *d, const char *path, const char *base_dir) {
    if (!d)
        return FT_ERR_ARG;
    api_begin(d->ctx);
    if (!path)
        return api_end(d->ctx, ft_fail(FT_ERR_ARG, "ftune_dataset_write_pairs: no file (NULL)"));
    FILE *f = fopen(path, "w");
    if (!f)
        return api_end(d->ctx, ft_fail(FT_ERR_IO, "%s: cannot write", path));
    const size_t dl = base_dir ? strlen(base_dir) : 0;
    ft_status s = FT_OK;
    for (size_t i = 0; i < d->recs.n && s == FT_OK; i++) {
        const ft_data_rec *r = &d->recs.r[i];
        const char *file = r->file ? r->file : "";
        if (dl && !strncmp(file, base_dir, dl) && file[dl] == '/')
            file += dl + 1;
        cJSON *j = cJSON_CreateObject();
        char *o = NULL;
        if (j && cJSON_AddStringToObject(j, "source", r->text ? r->text : "") &&
            cJSON_AddStringToObject(j, "target", r->response ? r->response : "") &&
            cJSON_AddStringToObject(j, "file", file))
            o = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (!o)
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        else if (fprintf(f, "%s\n", o) < 0)
            s = ft_fail(FT_ERR_IO, "%s: write failed", path);
        cJSON_free(o);
    }
    if (fclose(f) != 0 && s == FT_OK)
        s = ft_fail(FT_ERR_IO, "%s: write failed", path);
    return api_end(d->ctx, s);
}
