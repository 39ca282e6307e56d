#define _GNU_SOURCE /* renameat2 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "io/safetensors.h"
#include "peft/peft.h"
#include "train/checkpoint.h"

#define STATE_FORMAT 1

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(p) : unlink(p)) ? -1 : 0;
}

ft_status ft_rm_tree(const char *path) {
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        return ft_fail(FT_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    return FT_OK;
}

static void fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* A kill between two renames must never leave a checkpoint under no name, and a temporary left by a
 * killed run must never be taken for a checkpoint (only step-NNNNNNNN names are, and `latest` names one
 * of those). Temporaries carry the writer's pid: <root>/.tmp-step-N-<pid> (being written), .old-step-N-<pid>
 * (moved aside), .del-step-N-<pid> (being pruned), latest.tmp.<pid> / best.tmp.<pid>. */
/* "<digits>" to the end of s: the pid in a temporary's name. */
static bool tail_pid(const char *s, long *pid) {
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    *pid = strtol(s, &end, 10);
    return !*end;
}

/* ".tmp-step-00000042-<pid>" (or .old-, .del-): kind "tmp", the checkpoint name "step-00000042", the pid. */
static bool temp_dir_name(const char *nm, char kind[4], char name[64], long *pid) {
    if (nm[0] != '.' || nm[4] != '-' || strncmp(nm + 5, "step-", 5))
        return false;
    memcpy(kind, nm + 1, 3);
    kind[3] = 0;
    size_t k = strspn(nm + 10, "0123456789");
    if (!k || k > 40 || nm[10 + k] != '-')
        return false;
    memcpy(name, nm + 5, 5 + k);
    name[5 + k] = 0;
    return tail_pid(nm + 11 + k, pid);
}

/* Clean what a killed writer left in root: a half-written .tmp- or half-pruned .del- directory goes; an
 * .old- one whose name is free again (killed between moving it aside and putting the new one in place,
 * only where the atomic exchange is unsupported) is moved back, else removed. Entries of live processes
 * stay. */
static ft_status clean_stale(const char *root) {
    DIR *d = opendir(root);
    if (!d)
        return errno == ENOENT ? FT_OK : ft_fail(FT_ERR_IO, "%s: %s", root, strerror(errno));
    ft_status s = ft_clean_stale_tmp(root); /* latest.tmp.<pid>, best.tmp.<pid> */
    struct dirent *e;
    while (s == FT_OK && (e = readdir(d))) {
        const char *nm = e->d_name;
        char kind[4], name[64], p[4096], back[4096];
        long pid;
        ft_path_join(p, sizeof p, root, nm);
        if (!temp_dir_name(nm, kind, name, &pid) || !ft_pid_dead(pid))
            continue;
        if (!strcmp(kind, "old") && !ft_file_exists(ft_path_join(back, sizeof back, root, name)) &&
            rename(p, back) == 0)
            continue;
        if (!strcmp(kind, "tmp") || !strcmp(kind, "old") || !strcmp(kind, "del"))
            s = ft_rm_tree(p);
    }
    closedir(d);
    return s;
}

static ft_status write_tensors(const ft_model *m, const ft_optim *o, const char *dir) {
    char path[4096];
    ft_st_writer *w = ft_st_writer_new();
    if (!w)
        return FT_ERR_NOMEM;
    ft_status s = FT_OK;
    for (int i = 0; s == FT_OK && i < m->n_params; i++) {
        const ft_param *p = &m->params[i];
        if (p->trainable)
            s = ft_st_writer_add(w, p->name, FT_DT_F32, p->ndim, p->shape, p->data);
    }
    if (s == FT_OK)
        s = ft_st_writer_set_metadata(w, "format", "ftune-trainable");
    if (s == FT_OK)
        s = ft_st_writer_write(w, ft_path_join(path, sizeof path, dir, "trainable.safetensors"));
    ft_st_writer_free(w);
    if (s != FT_OK)
        return s;
    if (!(w = ft_st_writer_new()))
        return FT_ERR_NOMEM;
    char name[1024];
    for (int i = 0; s == FT_OK && i < m->n_params; i++) {
        const ft_param *p = &m->params[i];
        if (!p->trainable)
            continue;
        if (o->m[i]) {
            snprintf(name, sizeof name, "m/%s", p->name);
            s = ft_st_writer_add(w, name, FT_DT_F32, p->ndim, p->shape, o->m[i]);
        }
        if (s == FT_OK && o->v[i]) {
            snprintf(name, sizeof name, "v/%s", p->name);
            s = ft_st_writer_add(w, name, FT_DT_F32, p->ndim, p->shape, o->v[i]);
        }
    }
    if (s == FT_OK)
        s = ft_st_writer_set_metadata(w, "optimizer", ft_optim_name(o->cfg.kind));
    if (s == FT_OK)
        s = ft_st_writer_write(w, ft_path_join(path, sizeof path, dir, "optimizer.safetensors"));
    ft_st_writer_free(w);
    return s;
}

static ft_status write_state(const ft_optim *o, const ft_train_state *st, const char *dir) {
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    cJSON_AddNumberToObject(j, "format", STATE_FORMAT);
    cJSON_AddNumberToObject(j, "step", (double)st->step);
    cJSON_AddNumberToObject(j, "epoch", (double)st->epoch);
    cJSON_AddNumberToObject(j, "cursor", (double)st->cursor);
    cJSON_AddNumberToObject(j, "skipped", (double)st->skipped);
    cJSON_AddNumberToObject(j, "tokens", (double)st->tokens);
    if (isfinite(st->best_metric))
        cJSON_AddNumberToObject(j, "best_metric", st->best_metric);
    else
        cJSON_AddNullToObject(j, "best_metric");
    cJSON_AddNumberToObject(j, "best_step", (double)st->best_step);
    cJSON_AddNumberToObject(j, "bad_evals", (double)st->bad_evals);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)st->seed); /* exact beyond 2^53 */
    cJSON_AddStringToObject(j, "seed", seed);
    cJSON_AddStringToObject(j, "optimizer", ft_optim_name(o->cfg.kind));
    cJSON_AddNumberToObject(j, "optimizer_step", (double)o->t);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    char path[4096];
    ft_status s = ft_write_file_atomic(ft_path_join(path, sizeof path, dir, "trainer_state.json"), text, strlen(text));
    free(text);
    return s;
}

ft_status ft_ckpt_mark(const char *root, const char *name, const char *dir) {
    char path[4096];
    return ft_write_file_atomic(ft_path_join(path, sizeof path, root, name), dir, strlen(dir));
}

ft_status ft_ckpt_save(const char *root, const ft_model *m, const ft_optim *o, const ft_train_state *st,
                       const char *recipe_yaml, bool save_model, char *out, size_t out_n) {
    if (o->lo) /* a checkpoint is complete: the trainer gathers a ZeRO-1 shard's state first */
        return ft_fail(FT_ERR_INTERNAL, "%s: a sharded (ZeRO-1) optimizer state cannot be saved as is", root);
    FT_TRY(ft_mkdir_p(root));
    FT_TRY(clean_stale(root));
    char name[64], tmp[4096], final[4096], old[4096], path[4096];
    snprintf(name, sizeof name, "step-%08lld", (long long)st->step);
    snprintf(tmp, sizeof tmp, "%s/.tmp-%s-%ld", root, name, (long)getpid());
    snprintf(old, sizeof old, "%s/.old-%s-%ld", root, name, (long)getpid());
    ft_path_join(final, sizeof final, root, name);
    ft_status s = ft_rm_tree(tmp);
    if (s == FT_OK)
        s = ft_mkdir_p(tmp);
    if (s == FT_OK)
        s = write_tensors(m, o, tmp);
    if (s == FT_OK)
        s = write_state(o, st, tmp);
    if (s == FT_OK && recipe_yaml)
        s = ft_write_file_atomic(ft_path_join(path, sizeof path, tmp, "recipe.yaml"), recipe_yaml, strlen(recipe_yaml));
    if (s == FT_OK && save_model)
        s = ft_model_save_output(m, tmp);
    if (s == FT_OK) {
        fsync_dir(tmp);
        /* a checkpoint of the same step already there (a resumed run re-saving): swap the two in one
         * step, so a kill never finds the name empty; where the file system cannot exchange, move the old
         * one aside first (clean_stale puts it back after a kill in between) */
        bool had = ft_file_exists(final), swapped = false;
        if (had && renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
            swapped = true;
            fsync_dir(root);
            s = ft_rm_tree(tmp); /* now the old checkpoint */
        }
        if (!swapped && had && rename(final, old) != 0)
            s = ft_fail(FT_ERR_IO, "%s: cannot move aside: %s", final, strerror(errno));
        if (!swapped && s == FT_OK && rename(tmp, final) != 0)
            s = ft_fail(FT_ERR_IO, "%s: cannot rename to %s: %s", tmp, final, strerror(errno));
        if (!swapped && s == FT_OK) {
            fsync_dir(root);
            if (had)
                s = ft_rm_tree(old);
        }
    }
    if (s != FT_OK) {
        ft_status keep = s;
        (void)ft_rm_tree(tmp);
        return ft_fail_ctx(keep, "writing checkpoint %s", final);
    }
    FT_TRY(ft_ckpt_mark(root, "latest", name));
    if (out)
        snprintf(out, out_n, "%s", final);
    return FT_OK;
}

static int64_t jint(const cJSON *j, const char *k, bool *ok) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!cJSON_IsNumber(v)) {
        *ok = false;
        return 0;
    }
    return (int64_t)v->valuedouble;
}

static ft_status read_state(const char *dir, ft_optim *o, ft_train_state *st) {
    char path[4096], *text;
    size_t len;
    FT_TRY(ft_read_file(ft_path_join(path, sizeof path, dir, "trainer_state.json"), &text, &len));
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return ft_fail(FT_ERR_FORMAT, "%s: not a JSON object", path);
    }
    bool ok = true;
    ft_status s = FT_OK;
    if (jint(j, "format", &ok) != STATE_FORMAT || !ok)
        s = ft_fail(FT_ERR_FORMAT, "%s: unknown trainer_state format", path);
    st->step = jint(j, "step", &ok);
    st->epoch = (uint64_t)jint(j, "epoch", &ok);
    st->cursor = (uint64_t)jint(j, "cursor", &ok);
    st->skipped = jint(j, "skipped", &ok);
    st->tokens = jint(j, "tokens", &ok);
    st->best_step = jint(j, "best_step", &ok);
    st->bad_evals = jint(j, "bad_evals", &ok);
    int64_t t = jint(j, "optimizer_step", &ok);
    const cJSON *bm = cJSON_GetObjectItemCaseSensitive(j, "best_metric");
    st->best_metric = cJSON_IsNumber(bm) ? bm->valuedouble : NAN;
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(j, "seed");
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(j, "optimizer");
    if (s == FT_OK && (!ok || !cJSON_IsString(seed) || !cJSON_IsString(opt) || st->step < 0 || t < 0))
        s = ft_fail(FT_ERR_FORMAT, "%s: a field is missing or not a number", path);
    if (s == FT_OK && strcmp(opt->valuestring, ft_optim_name(o->cfg.kind)))
        s = ft_fail(FT_ERR_CONFIG, "%s: the checkpoint was made with optimizer %s, the recipe says %s", path,
                    opt->valuestring, ft_optim_name(o->cfg.kind));
    if (s == FT_OK) {
        st->seed = strtoull(seed->valuestring, NULL, 10);
        o->t = t;
    }
    cJSON_Delete(j);
    return s;
}

static ft_status load_tensor(ft_st_file *f, const char *name, const ft_param *p, float *dst) {
    const ft_st_tensor *t = ft_st_find(f, name);
    if (!t)
        return ft_fail(FT_ERR_MISSING, "%s: no tensor '%s' (was the checkpoint made with another method?)",
                       ft_st_path(f), name);
    bool same = t->dtype == FT_DT_F32 && t->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++)
        same = t->shape[d] == p->shape[d];
    if (!same)
        return ft_fail(FT_ERR_SHAPE, "%s: tensor '%s' has another shape or dtype than the model's", ft_st_path(f),
                       name);
    memcpy(dst, t->data, (size_t)p->numel * sizeof(float));
    return FT_OK;
}

ft_status ft_ckpt_load(const char *dir, ft_model *m, ft_optim *o, ft_train_state *st) {
    char path[4096];
    if (o->lo) /* the trainer loads a ZeRO-1 run into a whole optimizer and keeps its shard */
        return ft_fail(FT_ERR_INTERNAL, "%s: cannot load into a sharded (ZeRO-1) optimizer state", dir);
    FT_TRY(read_state(dir, o, st));
    ft_st_file *f = NULL;
    FT_TRY(ft_st_open(ft_path_join(path, sizeof path, dir, "trainable.safetensors"), &f));
    ft_status s = FT_OK;
    size_t n_train = 0;
    for (int i = 0; s == FT_OK && i < m->n_params; i++)
        if (m->params[i].trainable) {
            s = load_tensor(f, m->params[i].name, &m->params[i], m->params[i].data);
            n_train++;
        }
    if (s == FT_OK && ft_st_count(f) != n_train)
        s = ft_fail(FT_ERR_CONFIG, "%s: holds %zu trainable tensors, the model now trains %zu (another method?)",
                    ft_st_path(f), ft_st_count(f), n_train);
    ft_st_close(f);
    ft_model_mark_dirty(m, false);
    if (s != FT_OK)
        return s;
    FT_TRY(ft_st_open(ft_path_join(path, sizeof path, dir, "optimizer.safetensors"), &f));
    char name[1024];
    for (int i = 0; s == FT_OK && i < m->n_params; i++) {
        if (!m->params[i].trainable)
            continue;
        if (o->m[i]) {
            snprintf(name, sizeof name, "m/%s", m->params[i].name);
            s = load_tensor(f, name, &m->params[i], o->m[i]);
        }
        if (s == FT_OK && o->v[i]) {
            snprintf(name, sizeof name, "v/%s", m->params[i].name);
            s = load_tensor(f, name, &m->params[i], o->v[i]);
        }
    }
    ft_st_close(f);
    return s;
}

ft_status ft_ckpt_resolve(const char *path, char *out, size_t n) {
    char p[4096], *text;
    size_t len;
    if (ft_file_exists(ft_path_join(p, sizeof p, path, "trainer_state.json"))) {
        snprintf(out, n, "%s", path);
        return FT_OK;
    }
    const char *roots[2] = {"checkpoints", "."};
    for (int r = 0; r < 2; r++) {
        char root[4096];
        snprintf(root, sizeof root, "%s/%s", path, roots[r]);
        if (ft_file_exists(ft_path_join(p, sizeof p, root, "latest"))) {
            FT_TRY(ft_read_file(p, &text, &len));
            while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
                text[--len] = 0;
            /* only what ft_ckpt_save writes: step-<digits>, so no "..", no path; and a real directory,
             * not a symbolic link out of the checkpoints directory */
            bool named = len > 5 && len < 64 && !strncmp(text, "step-", 5) &&
                         strspn(text + 5, "0123456789") == len - 5;
            if (!named) {
                ft_status st =
                    ft_fail(FT_ERR_FORMAT, "%s: '%.64s' is not a checkpoint name (step-NNNNNNNN)", p, text);
                free(text);
                return st;
            }
            snprintf(out, n, "%s/%s", r == 0 ? root : path, text);
            free(text);
            struct stat sb;
            if (lstat(out, &sb) == 0 && S_ISLNK(sb.st_mode))
                return ft_fail(
                    FT_ERR_FORMAT,
                    "%s: a symbolic link; a checkpoint named by 'latest' must be a directory in place", out);
            if (!ft_file_exists(ft_path_join(p, sizeof p, out, "trainer_state.json")))
                return ft_fail(FT_ERR_MISSING, "%s: checkpoint named by 'latest' has no trainer_state.json", out);
            return FT_OK;
        }
    }
    return ft_fail(FT_ERR_MISSING, "%s: not a checkpoint (no trainer_state.json) and no checkpoints/latest in it", path);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

ft_status ft_ckpt_prune(const char *root, int64_t keep_last, int64_t keep_step) {
    if (keep_last <= 0)
        return FT_OK;
    DIR *d = opendir(root);
    if (!d)
        return ft_fail(FT_ERR_IO, "%s: %s", root, strerror(errno));
    int64_t *steps = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    ft_status s = FT_OK;
    while ((e = readdir(d))) {
        long long v;
        char tail;
        if (sscanf(e->d_name, "step-%lld%c", &v, &tail) != 1)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *ns = realloc(steps, cap * sizeof *ns);
            if (!ns) {
                s = ft_fail(FT_ERR_NOMEM, "out of memory");
                break;
            }
            steps = ns;
        }
        steps[n++] = v;
    }
    closedir(d);
    if (s == FT_OK && n > (size_t)keep_last) {
        qsort(steps, n, sizeof *steps, cmp_i64);
        for (size_t i = 0; s == FT_OK && i + (size_t)keep_last < n; i++) {
            if (steps[i] == keep_step)
                continue;
            /* renamed first, so a kill halfway through the removal leaves no half checkpoint under a
             * real name (the next save cleans the .del- directory up) */
            char p[4096], del[4096];
            snprintf(p, sizeof p, "%s/step-%08lld", root, (long long)steps[i]);
            snprintf(del, sizeof del, "%s/.del-step-%08lld-%ld", root, (long long)steps[i], (long)getpid());
            if (rename(p, del) != 0)
                s = ft_fail(FT_ERR_IO, "%s: cannot rename for removal: %s", p, strerror(errno));
            else
                s = ft_rm_tree(del);
        }
    }
    free(steps);
    return s;
}
