/* image/dataset: class folders (torchvision ImageFolder order), CSV/JSONL lists, IDX pairs; batches of
 * preprocessed images filled in parallel. */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/dataset.h"
#include "image/image.h"

void ft_img_dataset_free(ft_img_dataset *ds) {
    if (!ds)
        return;
    for (long i = 0; ds->paths && i < ds->n; i++)
        free(ds->paths[i]);
    for (int i = 0; ds->classes && i < ds->n_classes; i++)
        free(ds->classes[i]);
    free(ds->paths);
    free(ds->labels);
    free(ds->classes);
    ft_img_idx_free(&ds->idx);
    *ds = (ft_img_dataset){0};
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* os.walk order as torchvision sorts it: by directory path (a string), then by file name */
static int cmp_walk(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    const char *sx = strrchr(x, '/'), *sy = strrchr(y, '/');
    size_t lx = (size_t)(sx - x), ly = (size_t)(sy - y);
    int c = memcmp(x, y, lx < ly ? lx : ly);
    if (c == 0 && lx != ly)
        c = lx < ly ? -1 : 1;
    return c ? c : strcmp(sx + 1, sy + 1);
}

static bool is_image_name(const char *n) {
    static const char *const ext[] = {".png", ".jpg", ".jpeg"};
    size_t l = strlen(n);
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t e = strlen(ext[i]);
        if (l > e && !strcasecmp(n + l - e, ext[i]))
            return true;
    }
    return false;
}

typedef struct {
    char **v;
    size_t n, cap;
} strvec;

static ft_status sv_push(strvec *s, char *x) {
    if (!x)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            free(x);
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        }
        s->v = v, s->cap = cap;
    }
    s->v[s->n++] = x;
    return FT_OK;
}
static void sv_free(strvec *s) {
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    *s = (strvec){0};
}

static ft_status join(char *buf, size_t n, const char *a, const char *b) {
    int k = snprintf(buf, n, "%s/%s", a, b);
    return k < 0 || (size_t)k >= n ? ft_fail(FT_ERR_RANGE, "%s/%s: path too long", a, b) : FT_OK;
}

/* Entries of dir (no "." / hidden names), sorted; dirs or files only. */
static ft_status list_dir(const char *dir, bool want_dirs, strvec *out) {
    DIR *d = opendir(dir);
    if (!d)
        return ft_fail(FT_ERR_IO, "%s: cannot open directory", dir);
    struct dirent *e;
    ft_status st = FT_OK;
    while (st == FT_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        struct stat sb;
        if ((st = join(p, sizeof p, dir, e->d_name)) != FT_OK)
            break;
        if (stat(p, &sb) != 0)
            continue;
        if (want_dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode))
            st = sv_push(out, strdup(e->d_name));
    }
    closedir(d);
    if (st == FT_OK && out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return st;
}

/* The image files under dir, recursively (sorted afterwards by cmp_walk). */
static ft_status walk(const char *dir, strvec *files, int depth) {
    if (depth > 32)
        return ft_fail(FT_ERR_RANGE, "%s: directories nested too deep", dir);
    strvec f = {0}, d = {0};
    ft_status st = list_dir(dir, false, &f);
    for (size_t i = 0; st == FT_OK && i < f.n; i++)
        if (is_image_name(f.v[i])) {
            char *p = NULL;
            st = asprintf(&p, "%s/%s", dir, f.v[i]) < 0 ? ft_fail(FT_ERR_NOMEM, "out of memory")
                                                        : sv_push(files, p);
        }
    if (st == FT_OK)
        st = list_dir(dir, true, &d);
    for (size_t i = 0; st == FT_OK && i < d.n; i++) {
        char p[4096];
        st = join(p, sizeof p, dir, d.v[i]);
        if (st == FT_OK)
            st = walk(p, files, depth + 1);
    }
    sv_free(&f);
    sv_free(&d);
    return st;
}

static ft_status ds_alloc(ft_img_dataset *ds, long n, bool paths) {
    ds->n = n;
    ds->labels = calloc((size_t)(n ? n : 1), sizeof(int));
    ds->paths = paths ? calloc((size_t)(n ? n : 1), sizeof(char *)) : NULL;
    if (!ds->labels || (paths && !ds->paths))
        return ft_fail(FT_ERR_NOMEM, "out of memory for %ld images", n);
    return FT_OK;
}

ft_status ft_img_dataset_folder(const char *root, ft_img_dataset *ds) {
    *ds = (ft_img_dataset){0};
    strvec cls = {0}, files = {0};
    int *lab = NULL;
    ft_status st = list_dir(root, true, &cls);
    if (st == FT_OK && cls.n == 0)
        st = ft_fail(FT_ERR_FORMAT, "%s: no class folders", root);
    size_t nl = 0;
    for (size_t c = 0; st == FT_OK && c < cls.n; c++) {
        char p[4096];
        size_t before = files.n;
        st = join(p, sizeof p, root, cls.v[c]);
        if (st == FT_OK)
            st = walk(p, &files, 0);
        if (st == FT_OK && files.n > before)
            qsort(files.v + before, files.n - before, sizeof *files.v, cmp_walk);
        if (st == FT_OK && files.n == before)
            st =
                ft_fail(FT_ERR_FORMAT, "%s: class folder '%s' has no image (.png, .jpg, .jpeg)", p, cls.v[c]);
        if (st == FT_OK) {
            int *nlab = realloc(lab, files.n * sizeof(int));
            if (!nlab)
                st = ft_fail(FT_ERR_NOMEM, "out of memory");
            else
                lab = nlab;
        }
        for (; st == FT_OK && nl < files.n; nl++)
            lab[nl] = (int)c;
    }
    if (st == FT_OK) {
        ds->n = (long)files.n;
        ds->paths = files.v;
        ds->labels = lab;
        ds->n_classes = (int)cls.n;
        ds->classes = cls.v;
        return FT_OK;
    }
    free(lab);
    sv_free(&files);
    sv_free(&cls);
    return st;
}

static int find_label(char *const *set, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(set[i], s))
            return i;
    return -1;
}

ft_status ft_img_dataset_list(const char *path, const char *const *labels, int n_labels, ft_img_dataset *ds) {
    *ds = (ft_img_dataset){0};
    ft_data_cfg cfg;
    ft_data_cfg_default(&cfg);
    cfg.text_field = "image";
    cfg.label_field = "label";
    ft_data_recs rs = {0};
    FT_TRY(ft_data_read(path, &cfg, &rs));
    strvec set = {0};
    ft_status st = FT_OK;
    for (int i = 0; st == FT_OK && labels && i < n_labels; i++)
        st = sv_push(&set, strdup(labels[i]));
    for (size_t i = 0; st == FT_OK && i < rs.n; i++) {
        const ft_data_rec *r = &rs.r[i];
        if (!r->text || !r->text[0])
            st = ft_fail(FT_ERR_FORMAT, "%s:%ld: no \"image\" path", path, r->line);
        else if (!r->label || !r->label[0])
            st = ft_fail(FT_ERR_FORMAT, "%s:%ld: no \"label\"", path, r->line);
        else if (find_label(set.v, (int)set.n, r->label) < 0) {
            if (labels)
                st = ft_fail(FT_ERR_FORMAT, "%s:%ld: unknown label '%s' (not in the model's %d labels)", path,
                             r->line, r->label, n_labels);
            else
                st = sv_push(&set, strdup(r->label));
        }
    }
    if (st == FT_OK && !labels && set.n > 1)
        qsort(set.v, set.n, sizeof *set.v, cmp_str);
    if (st == FT_OK)
        st = ds_alloc(ds, (long)rs.n, true);
    /* image paths relative to the list's directory */
    const char *slash = strrchr(path, '/');
    int dl = slash ? (int)(slash - path) : 0;
    for (size_t i = 0; st == FT_OK && i < rs.n; i++) {
        const ft_data_rec *r = &rs.r[i];
        ds->labels[i] = find_label(set.v, (int)set.n, r->label);
        int rc = r->text[0] == '/' || !slash ? asprintf(&ds->paths[i], "%s", r->text)
                                             : asprintf(&ds->paths[i], "%.*s/%s", dl, path, r->text);
        if (rc < 0) {
            ds->paths[i] = NULL;
            st = ft_fail(FT_ERR_NOMEM, "out of memory");
        }
    }
    ft_data_recs_free(&rs);
    if (st != FT_OK) {
        sv_free(&set);
        ft_img_dataset_free(ds);
        return st;
    }
    ds->classes = set.v;
    ds->n_classes = (int)set.n;
    return FT_OK;
}

ft_status ft_img_dataset_idx(const char *images, const char *labels, ft_img_dataset *ds) {
    *ds = (ft_img_dataset){0};
    ft_img_idx lab;
    FT_TRY(ft_img_idx_load(images, &ds->idx));
    ft_status st = FT_OK;
    if (ds->idx.dims != 3)
        st = ft_fail(FT_ERR_FORMAT, "%s: an IDX label file (idx1) where images (idx3) were expected", images);
    if (st == FT_OK && (st = ft_img_idx_load(labels, &lab)) == FT_OK) {
        if (lab.dims != 1)
            st = ft_fail(FT_ERR_FORMAT, "%s: an IDX image file (idx3) where labels (idx1) were expected",
                         labels);
        else if (lab.n != ds->idx.n)
            st = ft_fail(FT_ERR_FORMAT, "%s: %ld labels for the %ld images of %s", labels, lab.n, ds->idx.n,
                         images);
        int maxl = 0;
        for (long i = 0; st == FT_OK && i < lab.n; i++)
            maxl = lab.data[i] > maxl ? lab.data[i] : maxl;
        if (st == FT_OK)
            st = ds_alloc(ds, lab.n, false);
        if (st == FT_OK && !(ds->classes = calloc((size_t)maxl + 1, sizeof(char *))))
            st = ft_fail(FT_ERR_NOMEM, "out of memory");
        for (int c = 0; st == FT_OK && c <= maxl; c++, ds->n_classes = c)
            if (asprintf(&ds->classes[c], "%d", c) < 0)
                st = ft_fail(FT_ERR_NOMEM, "out of memory");
        for (long i = 0; st == FT_OK && i < lab.n; i++)
            ds->labels[i] = lab.data[i];
        ft_img_idx_free(&lab);
    }
    if (st != FT_OK)
        ft_img_dataset_free(ds);
    return st;
}

ft_status ft_img_dataset_get(const ft_img_dataset *ds, long i, ft_img *out) {
    if (i < 0 || i >= ds->n)
        return ft_fail(FT_ERR_RANGE, "image index %ld out of range (%ld images)", i, ds->n);
    if (!ds->paths) {
        size_t sz = (size_t)ds->idx.h * (size_t)ds->idx.w;
        *out = (ft_img){
            .w = ds->idx.w, .h = ds->idx.h, .c = 1, .px = ds->idx.data + (size_t)i * sz, .owned = false};
        return FT_OK;
    }
    return ft_img_load(ds->paths[i], out, NULL);
}

ft_status ft_img_dataset_batch(const ft_img_dataset *ds, const long *idx, int B, const ft_img_proc *p,
                               int channels, const ft_img_aug *aug, uint64_t seed, uint64_t epoch, float *out,
                               int *labels) {
    if (channels != 1 && channels != 3)
        return ft_fail(FT_ERR_ARG, "image batch: %d channels (1 or 3)", channels);
    size_t per = (size_t)channels * (size_t)p->height * (size_t)p->width;
    int bad = B; /* the first failing position */
    ft_status bad_st = FT_OK;
    char msg[512] = "";
#pragma omp parallel for schedule(dynamic)
    for (int b = 0; b < B; b++) {
        ft_img im;
        ft_status st = ft_img_dataset_get(ds, idx[b], &im);
        if (st == FT_OK) {
            st = ft_img_preprocess(&im, p, channels, aug, seed, epoch, (uint64_t)idx[b],
                                   out + (size_t)b * per);
            if (st != FT_OK && ds->paths)
                ft_fail_ctx(st, "%s", ds->paths[idx[b]]);
            ft_img_free(&im);
        }
        if (st != FT_OK) {
#pragma omp critical
            if (b < bad) {
                bad = b, bad_st = st;
                snprintf(msg, sizeof msg, "%s", ft_last_error());
            }
        }
    }
    if (bad < B)
        return ft_fail(bad_st, "%s", msg);
    for (int b = 0; labels && b < B; b++)
        labels[b] = ds->labels[idx[b]];
    return FT_OK;
}

/* ---------------- pixel CSV (sklearn digits, Kaggle MNIST) ---------------- */
/* The fields of one line (commas; surrounding blanks and double quotes dropped), written over it. */
static int split_csv(char *line, char **f, int max) {
    int n = 0;
    for (char *p = line;;) {
        char *e = strchr(p, ',');
        if (e)
            *e = 0;
        while (*p == ' ' || *p == '\t' || *p == '"')
            p++;
        size_t l = strlen(p);
        while (l && (p[l - 1] == ' ' || p[l - 1] == '\t' || p[l - 1] == '"' || p[l - 1] == '\r'))
            p[--l] = 0;
        if (n < max)
            f[n] = p;
        n++;
        if (!e)
            return n;
        p = e + 1;
    }
}

static bool parse_num(const char *s, double *v) {
    char *end;
    if (!*s)
        return false;
    *v = strtod(s, &end);
    return *end == 0 && *v == *v;
}

ft_status ft_img_dataset_pixels(const char *path, double pixel_max, const char *label_field, int label_col,
                                ft_img_dataset *ds) {
    *ds = (ft_img_dataset){0};
    if (!(pixel_max > 0))
        return ft_fail(FT_ERR_CONFIG, "%s: data.pixel_max must be > 0 (got %g)", path, pixel_max);
    char *raw;
    size_t n;
    FT_TRY(ft_read_file(path, &raw, &n));
    char *text = raw;
    if (n >= 2 && (uint8_t)raw[0] == 0x1f && (uint8_t)raw[1] == 0x8b) {
        uint8_t *unz;
        size_t un;
        ft_status gs = ft_img_gunzip((const uint8_t *)raw, n, path, &unz, &un);
        free(raw);
        FT_TRY(gs);
        text = realloc(unz, un + 1);
        if (!text) {
            free(unz);
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        }
        text[un] = 0;
        n = un;
    }
    enum { MAXF = 1 << 16 };
    char **f = malloc(MAXF * sizeof *f);
    ft_status st = f ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    long cap = 0, line = 0;
    int ncol = -1, side = 0, lc = -1, maxl = -1;
    size_t px = 0;
    for (char *p = text; st == FT_OK && p < text + n;) {
        char *e = memchr(p, '\n', (size_t)(text + n - p));
        if (e)
            *e = 0;
        line++;
        char *cur = p;
        p = e ? e + 1 : text + n;
        if (!cur[strspn(cur, " \t\r")])
            continue; /* blank line */
        int k = split_csv(cur, f, MAXF);
        if (k > MAXF) {
            st = ft_fail(FT_ERR_RANGE, "%s:%ld: %d columns (at most %d)", path, line, k, MAXF);
            break;
        }
        double v;
        if (ncol < 0) { /* the first line: a header when a field is not a number */
            ncol = k;
            bool header = false;
            for (int i = 0; i < k; i++)
                header |= !parse_num(f[i], &v);
            lc = label_col < 0 ? k + label_col : label_col;
            if (header) {
                lc = -1;
                for (int i = 0; i < k; i++)
                    if (!strcmp(f[i], label_field))
                        lc = i;
                if (lc < 0) {
                    st = ft_fail(FT_ERR_FORMAT, "%s:1: the header has no '%s' column (data.label_field)",
                                 path, label_field);
                    break;
                }
            }
            if (lc < 0 || lc >= k) {
                st = ft_fail(FT_ERR_CONFIG, "%s: label column %d out of range (%d columns)", path, label_col,
                             k);
                break;
            }
            side = 1;
            while ((long)(side + 1) * (side + 1) <= k - 1)
                side++;
            if (k < 2 || side * side != k - 1) {
                st = ft_fail(FT_ERR_FORMAT,
                             "%s:%ld: %d pixel columns besides the label: not a square image (w*w values)",
                             path, line, k - 1);
                break;
            }
            if (header)
                continue;
        }
        if (k != ncol) {
            st = ft_fail(FT_ERR_FORMAT, "%s:%ld: %d columns, the first line has %d", path, line, k, ncol);
            break;
        }
        if (ds->n == cap) {
            long nc = cap ? cap * 2 : 1024;
            uint8_t *nd = realloc(ds->idx.data, (size_t)nc * (size_t)side * (size_t)side);
            int *nl = realloc(ds->labels, (size_t)nc * sizeof(int));
            if (nd)
                ds->idx.data = nd;
            if (nl)
                ds->labels = nl;
            if (!nd || !nl) {
                st = ft_fail(FT_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            cap = nc;
        }
        uint8_t *dst = ds->idx.data + px;
        for (int i = 0, o = 0; st == FT_OK && i < k; i++) {
            if (!parse_num(f[i], &v))
                st = ft_fail(FT_ERR_FORMAT, "%s:%ld: column %d: '%s' is not a number", path, line, i + 1,
                             f[i]);
            else if (i == lc) {
                if (!(v >= 0 && v <= 65535) || v != floor(v))
                    st = ft_fail(FT_ERR_FORMAT, "%s:%ld: label '%s' is not a class number (0, 1, ...)", path,
                                 line, f[i]);
                else
                    ds->labels[ds->n] = (int)v, maxl = (int)v > maxl ? (int)v : maxl;
            } else if (v < 0 || v > pixel_max)
                st = ft_fail(FT_ERR_RANGE,
                             "%s:%ld: column %d: pixel value %g outside [0, %g] (data.pixel_max)", path, line,
                             i + 1, v, pixel_max);
            else
                dst[o++] = (uint8_t)lround(v * 255.0 / pixel_max);
        }
        px += (size_t)side * (size_t)side;
        ds->n++;
    }
    if (st == FT_OK && ds->n == 0)
        st = ft_fail(FT_ERR_FORMAT, "%s: no image rows", path);
    if (st == FT_OK && !(ds->classes = calloc((size_t)maxl + 1, sizeof(char *))))
        st = ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int c = 0; st == FT_OK && c <= maxl; c++, ds->n_classes = c)
        if (asprintf(&ds->classes[c], "%d", c) < 0)
            st = ft_fail(FT_ERR_NOMEM, "out of memory");
    if (st == FT_OK)
        ds->idx = (ft_img_idx){.dims = 3, .n = ds->n, .h = side, .w = side, .data = ds->idx.data};
    free(f);
    free(text);
    if (st != FT_OK)
        ft_img_dataset_free(ds);
    return st;
}
