/* train/img_task: image datasets of a recipe → label-only ft_datasets whose batches get pixels. */
#define _GNU_SOURCE
#include "train/img_task.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "data/dataset.h"

ft_status ft_img_source_fill(const ft_img_source *s, const ft_dataset *d, const size_t *idx, int n,
                             bool training, uint64_t stream, ft_batch *b) {
    free(b->input_ids);
    free(b->mask);
    free(b->labels);
    free(b->type_ids);
    b->input_ids = b->mask = b->labels = b->type_ids = NULL;
    b->T = 0;
    const int C = s->channels, H = s->proc.height, W = s->proc.width;
    long *ii = malloc((size_t)(n > 0 ? n : 1) * sizeof *ii);
    b->pixel_values = malloc((size_t)(n > 0 ? n : 1) * (size_t)C * (size_t)H * (size_t)W * sizeof(float));
    if (!ii || !b->pixel_values) {
        free(ii);
        return ft_fail(FT_ERR_NOMEM, "out of memory for a batch of %d images of %dx%dx%d", n, C, H, W);
    }
    for (int i = 0; i < n; i++)
        ii[i] = d->ex[idx[i]].image;
    ft_status st = ft_img_dataset_batch(s->set, ii, n, &s->proc, C, training && s->augment ? &s->aug : NULL,
                                        s->seed, stream, b->pixel_values, NULL);
    free(ii);
    b->img_c = C;
    b->img_h = H;
    b->img_w = W;
    return st;
}

ft_status ft_imgtask_proc(const char *model_dir, const ft_model *m, ft_img_proc *p) {
    char path[4096];
    struct stat st;
    ft_path_join(path, sizeof path, model_dir, "preprocessor_config.json");
    if (stat(path, &st) == 0)
        return ft_img_proc_load(path, p);
    ft_img_proc_default(p, m->cfg.image_size, m->cfg.num_channels);
    return FT_OK;
}

/* train-images-idx3-ubyte[.gz] → train-labels-idx1-ubyte[.gz] (the MNIST family's names) */
static bool idx_labels_name(const char *images, char *out, size_t n) {
    const char *k = strstr(images, "images-idx3");
    if (!k || strlen(images) >= n)
        return false;
    size_t pre = (size_t)(k - images);
    snprintf(out, n, "%.*slabels-idx1%s", (int)pre, images, k + strlen("images-idx3"));
    return true;
}

ft_status ft_imgtask_read(const ft_recipe *r, const char *path, const char *labels_file,
                          ft_img_dataset *out) {
    const bool pixels = !strcmp(r->data_format, "pixels");
    struct stat st;
    if (stat(path, &st) != 0)
        return ft_fail(FT_ERR_IO, "%s: no such file or folder (image data)", path);
    if (S_ISDIR(st.st_mode))
        return ft_img_dataset_folder(path, out);
    FILE *f = fopen(path, "rb");
    uint8_t head[16] = {0};
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    if (!f)
        return ft_fail(FT_ERR_IO, "%s: cannot open", path);
    const bool gz = got >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    if (pixels && (gz || ft_img_sniff(head, got) == FT_IMG_NONE)) /* a pixel CSV, plain or gzip'd */
        return ft_img_dataset_pixels(path, r->data_pixel_max, r->data_label_field, -1, out);
    if (ft_img_sniff(head, got) == FT_IMG_IDX) {
        char lab[4096];
        if (!labels_file) {
            if (!idx_labels_name(path, lab, sizeof lab))
                return ft_fail(FT_ERR_CONFIG,
                               "%s: an IDX image file needs its label file: set data.train_labels (or "
                               "data.validation_labels / data.test_labels)",
                               path);
            labels_file = lab;
        }
        return ft_img_dataset_idx(path, labels_file, out);
    }
    if (ft_img_sniff(head, got) != FT_IMG_NONE)
        return ft_fail(FT_ERR_FORMAT,
                       "%s: a single image; image_classification reads a class folder, a CSV/JSONL list of "
                       "image,label, an IDX pair or a pixel CSV (data.format: pixels)",
                       path);
    return ft_img_dataset_list(path, NULL, 0, out);
}

/* data.labels: names for numbered classes ("0".."max" of IDX / pixel CSVs), in id order. */
ft_status ft_imgtask_name_classes(const ft_recipe *r, const char *path, ft_img_dataset *ds) {
    if (!r->data_labels)
        return FT_OK;
    if (ds->paths)
        return ft_fail(FT_ERR_CONFIG,
                       "%s: data.labels names numbered classes (IDX, pixel CSV); this set's classes already "
                       "have names (folders or list labels)",
                       path);
    int k = 0;
    char *names = strdup(r->data_labels);
    if (!names)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    ft_status s = FT_OK;
    char *save = NULL;
    for (char *t = strtok_r(names, ",", &save); s == FT_OK && t; t = strtok_r(NULL, ",", &save), k++) {
        while (*t == ' ')
            t++;
        if (k < ds->n_classes) {
            char *c = strdup(t);
            if (!c) {
                s = ft_fail(FT_ERR_NOMEM, "out of memory");
                break;
            }
            free(ds->classes[k]);
            ds->classes[k] = c;
        }
    }
    free(names);
    if (s == FT_OK && k < ds->n_classes)
        s = ft_fail(FT_ERR_CONFIG, "%s: data.labels names %d classes, the data has %d (0..%d)", path, k,
                    ds->n_classes, ds->n_classes - 1);
    return s;
}

/* d = the images recs[k].line of set (recs NULL: all of them), labelled by the training classes. */
static ft_status build(const ft_img_dataset *set, const ft_data_recs *recs, char *const *classes,
                       int n_classes, const char *path, const ft_img_source *src, ft_dataset *d) {
    *d = (ft_dataset){0};
    size_t n = recs ? recs->n : (size_t)set->n;
    d->ex = calloc(n ? n : 1, sizeof *d->ex);
    if (!d->ex)
        return ft_fail(FT_ERR_NOMEM, "out of memory for %zu images", n);
    d->n = n;
    d->img = src;
    int *map = calloc((size_t)(set->n_classes ? set->n_classes : 1), sizeof *map);
    if (!map)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    ft_status s = FT_OK;
    for (int c = 0; c < set->n_classes; c++) { /* this set's classes → the training ids */
        map[c] = -1;
        for (int k = 0; k < n_classes; k++)
            if (!strcmp(set->classes[c], classes[k]))
                map[c] = k;
    }
    for (size_t i = 0; s == FT_OK && i < n; i++) {
        long im = recs ? recs->r[i].line : (long)i;
        int c = set->labels[im];
        if (map[c] < 0)
            s = ft_fail(FT_ERR_FORMAT, "%s: class '%s' is not among the %d training classes", path,
                        set->classes[c], n_classes);
        d->ex[i] = (ft_example){.image = (int32_t)im, .cls_label = map[c >= 0 ? c : 0]};
    }
    free(map);
    return s;
}

ft_status ft_imgtask_dataset(const ft_img_dataset *set, char *const *classes, int n_classes, const char *path,
                             const ft_img_source *src, ft_dataset *d) {
    ft_status s = build(set, NULL, classes, n_classes, path, src, d);
    if (s != FT_OK)
        ft_dataset_free(d);
    return s;
}

ft_status ft_imgtask_datasets(const ft_recipe *r, const ft_model *m, ft_imgtask *t, ft_dataset *tr,
                              ft_dataset *va, ft_dataset *te, FILE *summary) {
    memset(t, 0, sizeof *t);
    *tr = *va = *te = (ft_dataset){0};
    if (m->cfg.arch != FT_ARCH_VIT)
        return ft_fail(FT_ERR_CONFIG, "task image_classification needs an image model (vit); %s is %s",
                       r->model, m->cfg.model_type);
    if (!r->data_train)
        return ft_fail(FT_ERR_CONFIG, "data.train is required");
    ft_img_proc proc;
    FT_TRY(ft_imgtask_proc(r->model, m, &proc));
    if (proc.height % m->cfg.patch_size || proc.width % m->cfg.patch_size)
        return ft_fail(FT_ERR_CONFIG, "%s: preprocessor size %dx%d is not a multiple of patch_size %d",
                       r->model, proc.height, proc.width, m->cfg.patch_size);
    ft_img_aug aug;
    ft_img_aug_default(&aug);
    aug.crop = r->data_augment_crop;
    aug.scale_min = r->data_crop_scale_min;
    aug.scale_max = r->data_crop_scale_max;
    aug.ratio_min = r->data_crop_ratio_min;
    aug.ratio_max = r->data_crop_ratio_max;
    aug.hflip = r->data_hflip;
    FT_TRY(ft_img_aug_check(&aug));
    for (int k = 0; k < 3; k++)
        t->src[k] = (ft_img_source){.proc = proc,
                                    .channels = m->cfg.num_channels,
                                    .augment = k == 0 && (aug.crop || aug.hflip > 0),
                                    .aug = aug,
                                    .seed = (uint64_t)r->seed};
    const char *files[3] = {r->data_train, r->data_validation, r->data_test};
    const char *labfiles[3] = {r->data_train_labels, r->data_validation_labels, r->data_test_labels};
    for (int k = 0; k < 3; k++) {
        if (!files[k]) {
            if (labfiles[k])
                return ft_fail(FT_ERR_CONFIG, "data.%s_labels is set without its image file",
                               k == 1 ? "validation" : "test");
            continue;
        }
        FT_TRY(ft_imgtask_read(r, files[k], labfiles[k], &t->sets[k]));
        FT_TRY(ft_imgtask_name_classes(r, files[k], &t->sets[k]));
        if (t->sets[k].n == 0)
            return ft_fail(FT_ERR_FORMAT, "%s: no images", files[k]);
    }
    const ft_img_dataset *trs = &t->sets[0];
    /* the training file's images, split (validation / test taken out when they have no file) */
    ft_data_recs all = {0}, rs[3] = {{0}};
    ft_status s = FT_OK;
    for (long i = 0; s == FT_OK && i < trs->n; i++) {
        ft_data_rec rec = {.line = i};
        if (!(rec.label = strdup(trs->classes[trs->labels[i]])))
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        else
            s = ft_data_recs_push(&all, &rec);
    }
    const float vr = files[1] ? 0.0f : (float)r->data_val_ratio,
                tsr = files[2] ? 0.0f : (float)r->data_test_ratio;
    const uint64_t ss = (uint64_t)(r->data_split_seed >= 0 ? r->data_split_seed : r->seed);
    if (s == FT_OK)
        s = ft_data_split(&all, vr, tsr, r->data_stratify, ss, &rs[0], &rs[1], &rs[2]);
    const size_t before = rs[0].n;
    if (s == FT_OK && r->data_train_limit > 0 && rs[0].n > (size_t)r->data_train_limit)
        s = ft_data_subsample(&rs[0], (size_t)r->data_train_limit, r->data_stratify,
                              (uint64_t)(r->data_train_limit_seed >= 0 ? r->data_train_limit_seed : r->seed));
    for (int k = 0; s == FT_OK && k < 3; k++) {
        ft_dataset *d = k == 0 ? tr : k == 1 ? va : te;
        if (k > 0 && files[k]) {
            t->src[k].set = &t->sets[k];
            s = build(&t->sets[k], NULL, trs->classes, trs->n_classes, files[k], &t->src[k], d);
        } else {
            t->src[k].set = trs;
            s = build(trs, &rs[k], trs->classes, trs->n_classes, files[0], &t->src[k], d);
        }
    }
    if (s == FT_OK)
        s = ft_dataset_copy_labels(tr, trs->classes, trs->n_classes);
    for (int k = 0; k < 3; k++)
        ft_data_recs_free(&rs[k]);
    ft_data_recs_free(&all);
    if (s != FT_OK) {
        ft_dataset_free(tr);
        ft_dataset_free(va);
        ft_dataset_free(te);
        ft_imgtask_free(t);
        return s;
    }
    if (summary) {
        fprintf(summary, "images: %s: %ld images, %d classes", files[0], trs->n, trs->n_classes);
        if (trs->paths == NULL)
            fprintf(summary, ", %dx%d", trs->idx.w, trs->idx.h);
        fprintf(summary, "; model input %dx%dx%d (%s)\n", m->cfg.num_channels, proc.height, proc.width,
                proc.do_resize ? "resized" : "as is");
        if (r->data_train_limit > 0 && tr->n < before)
            fprintf(summary, "train_limit: %zu of %zu training images kept\n", tr->n, before);
        fprintf(summary, "split: %zu train, %zu validation, %zu test%s\n", tr->n, va->n, te->n,
                t->src[0].augment ? "; training augmentation on" : "");
    }
    return FT_OK;
}

ft_status ft_imgtask_setup(ft_recipe *r, const ft_model *m, ft_imgtask *t, ft_dataset *tr, ft_dataset *va,
                           ft_dataset *te, FILE *summary) {
    FT_TRY(ft_imgtask_datasets(r, m, t, tr, va, te, summary));
    char sl[32];
    snprintf(sl, sizeof sl, "%d",
             1 + (t->src[0].proc.height / m->cfg.patch_size) * (t->src[0].proc.width / m->cfg.patch_size));
    return ft_recipe_set(r, "train.seq_len", sl, "the image size");
}

ft_status ft_imgtask_save_proc(const ft_recipe *r, const ft_imgtask *t) {
    char p[4096];
    return ft_img_proc_save(ft_path_join(p, sizeof p, r->output_dir, "preprocessor_config.json"),
                            &t->src[0].proc);
}

void ft_imgtask_free(ft_imgtask *t) {
    for (int k = 0; k < 3; k++)
        ft_img_dataset_free(&t->sets[k]);
    memset(t, 0, sizeof *t);
}
