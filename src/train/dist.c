#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "train/dist.h"
#include "train/dist_plugin.h"

#ifndef FT_MPI_PLUGIN_RELDIR
#define FT_MPI_PLUGIN_RELDIR "../lib"
#endif
#define PLUGIN_NAME "libftune_mpi.so"
enum { BUCKET = 1 << 20 }; /* floats per collective call: 4 MiB */

struct ft_dist {
    void *lib;
    const ft_dist_ops *ops;
    void *ctx;
    int rank, size;
    float *bucket;
};

static int env_int(const char *name) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : 0;
}

int ft_dist_launched_size(void) {
    int n = env_int("OMPI_COMM_WORLD_SIZE");
    if (n <= 0)
        n = env_int("PMI_SIZE");
    if (n <= 0 && getenv("PMIX_RANK"))
        n = env_int("PMIX_SIZE") > 0 ? env_int("PMIX_SIZE") : 2; /* PMIx alone: MPI says how many */
    return n > 0 ? n : 1;
}

bool ft_dist_launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

int ft_dist_sigkill_timeout(void) {
    if (!getenv("OMPI_COMM_WORLD_SIZE"))
        return 0;
    const char *v = getenv("OMPI_MCA_odls_base_sigkill_timeout");
    return v && *v ? atoi(v) : 1;
}

/* FTUNE_MPI_PLUGIN, else next to the executable, else <exe>/../lib, else the loader's search path. */
static void *open_plugin(char *tried, size_t n) {
    char path[PATH_MAX + 64];
    const char *env = getenv("FTUNE_MPI_PLUGIN");
    void *h = NULL;
    tried[0] = '\0';
    const int flags = RTLD_NOW | RTLD_GLOBAL; /* OpenMPI's own components need libmpi's symbols global */
    if (env && *env) {
        snprintf(tried, n, "%s (FTUNE_MPI_PLUGIN): %s", env, (h = dlopen(env, flags)) ? "" : dlerror());
        return h;
    }
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        const char *dirs[] = {"", "/" FT_MPI_PLUGIN_RELDIR};
        for (size_t i = 0; i < 2 && !h; i++) {
            snprintf(path, sizeof path, "%s%s/%s", exe, dirs[i], PLUGIN_NAME);
            if (access(path, F_OK) == 0) {
                h = dlopen(path, flags);
                snprintf(tried, n, "%s: %s", path, h ? "" : dlerror());
            }
        }
    }
    if (!h) {
        h = dlopen(PLUGIN_NAME, flags);
        if (!h && !tried[0])
            snprintf(tried, n, "%s", dlerror());
    }
    return h;
}

ft_status ft_dist_init(double timeout_s, ft_dist **out) {
    *out = NULL;
    const int want = ft_dist_launched_size();
    if (want <= 1)
        return FT_OK;
    char tried[PATH_MAX + 256];
    void *lib = open_plugin(tried, sizeof tried);
    if (!lib)
        return ft_fail(
            FT_ERR_UNSUPPORTED,
            "started by an MPI launcher with %d ranks, but the MPI plugin %s cannot be loaded (%s): "
            "build with FT_MPI=ON and the OpenMPI development files, or set FTUNE_MPI_PLUGIN",
            want, PLUGIN_NAME, tried);
    ft_dist_ops_fn fn;
    *(void **)&fn = dlsym(lib, FT_DIST_PLUGIN_SYMBOL);
    const ft_dist_ops *ops = fn ? fn() : NULL;
    if (!ops || ops->abi != FT_DIST_PLUGIN_ABI) {
        dlclose(lib);
        return ft_fail(FT_ERR_UNSUPPORTED,
                       "%s: not an ftune MPI plugin of ABI %d (rebuild it with this ftune)", PLUGIN_NAME,
                       FT_DIST_PLUGIN_ABI);
    }
    ft_dist *d = calloc(1, sizeof *d);
    float *bucket = ft_alloc((size_t)BUCKET * sizeof(float));
    if (!d || !bucket) {
        free(d);
        ft_free(bucket);
        dlclose(lib);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    d->lib = lib;
    d->ops = ops;
    d->bucket = bucket;
    char err[512];
    if (ops->init(timeout_s, &d->ctx, &d->rank, &d->size, err, sizeof err)) {
        ft_free(bucket);
        free(d);
        /* no dlclose: MPI may have started threads inside the library */
        return ft_fail(FT_ERR_IO, "MPI: %s", err);
    }
    *out = d;
    return FT_OK;
}

void ft_dist_end(ft_dist *d, bool failed) {
    if (!d)
        return;
    if (failed)
        d->ops->abort_job(d->ctx, 1); /* does not return */
    d->ops->finalize(d->ctx);
    ft_free(d->bucket);
    free(d); /* the library stays loaded: OpenMPI does not support being unloaded */
}

int ft_dist_rank(const ft_dist *d) {
    return d ? d->rank : 0;
}
int ft_dist_size(const ft_dist *d) {
    return d ? d->size : 1;
}

static ft_status mpi_fail(ft_dist *d, const char *err) {
    return ft_fail(FT_ERR_IO, "MPI rank %d of %d: %s", d->rank, d->size, err);
}

ft_status ft_dist_allreduce_f64(ft_dist *d, double *v, size_t n, bool max) {
    char err[512];
    if (d && d->size > 1 &&
        d->ops->allreduce(d->ctx, v, n, FT_DIST_F64, max ? FT_DIST_MAX : FT_DIST_SUM, err, sizeof err))
        return mpi_fail(d, err);
    return FT_OK;
}

ft_status ft_dist_bcast(ft_dist *d, void *buf, size_t bytes, int root) {
    char err[512];
    if (d && d->size > 1 && d->ops->bcast(d->ctx, buf, bytes, root, err, sizeof err))
        return mpi_fail(d, err);
    return FT_OK;
}

ft_status ft_dist_barrier(ft_dist *d) {
    char err[512];
    if (d && d->size > 1 && d->ops->barrier(d->ctx, err, sizeof err))
        return mpi_fail(d, err);
    return FT_OK;
}

/* Segments [lo[i], hi[i]) of the parameters 0..n, packed a bucket at a time and exchanged: an allreduce
 * (root < 0: every rank packs and unpacks) or a broadcast from root (the root packs, the others unpack).
 * at(arg, i, lo) is where value lo of parameter i's segment lives on this rank (NULL: not kept here). */
typedef float *(*seg_at)(void *arg, int i, int64_t lo);
typedef struct {
    int n;
    const int64_t *lo, *hi;
    seg_at at;
    void *arg;
} segs;

static void copy_segs(ft_dist *d, const segs *s, int i0, int64_t off0, size_t fill, bool pack) {
    size_t done = 0;
    for (int i = i0; i < s->n && done < fill; i++) {
        const int64_t a = (i == i0 ? off0 : 0) + s->lo[i], len = s->hi[i] - a;
        if (len <= 0)
            continue;
        const size_t k = (size_t)len < fill - done ? (size_t)len : fill - done;
        float *p = s->at(s->arg, i, s->lo[i]);
        if (p) {
            p += a - s->lo[i];
            if (pack)
                memcpy(d->bucket + done, p, k * sizeof *p);
            else
                memcpy(p, d->bucket + done, k * sizeof *p);
        }
        done += k;
    }
}

static ft_status exchange_segs(ft_dist *d, const segs *s, int root, uint64_t *bytes) {
    int i = 0;
    int64_t off = 0; /* next value: segment i, off past its lo */
    char err[512];
    while (i < s->n) {
        const int i0 = i;
        const int64_t off0 = off;
        size_t fill = 0;
        while (i < s->n && fill < BUCKET) { /* how much the next bucket holds */
            const int64_t left = s->hi[i] - s->lo[i] - off;
            const size_t k = left <= 0 ? 0 : (size_t)left < BUCKET - fill ? (size_t)left : BUCKET - fill;
            fill += k;
            off += (int64_t)k;
            if (off >= s->hi[i] - s->lo[i]) {
                i++;
                off = 0;
            }
        }
        if (!fill)
            break;
        if (root < 0 || d->rank == root)
            copy_segs(d, s, i0, off0, fill, true);
        int rc = root < 0
                     ? d->ops->allreduce(d->ctx, d->bucket, fill, FT_DIST_F32, FT_DIST_SUM, err, sizeof err)
                     : d->ops->bcast(d->ctx, d->bucket, fill * sizeof(float), root, err, sizeof err);
        if (rc)
            return mpi_fail(d, err);
        if (root < 0 || d->rank != root)
            copy_segs(d, s, i0, off0, fill, false);
        *bytes += fill * sizeof(float);
    }
    return FT_OK;
}

typedef struct {
    int64_t *lo, *hi;
} ranges;

static ft_status ranges_alloc(const ft_model *m, ranges *r) {
    r->lo = calloc((size_t)m->n_params + 1, sizeof *r->lo);
    r->hi = calloc((size_t)m->n_params + 1, sizeof *r->hi);
    if (r->lo && r->hi)
        return FT_OK;
    free(r->lo);
    free(r->hi);
    return ft_fail(FT_ERR_NOMEM, "out of memory");
}

static void ranges_free(ranges *r) {
    free(r->lo);
    free(r->hi);
}

static float *at_grad(void *arg, int i, int64_t lo) {
    ft_param *p = &((ft_model *)arg)->params[i];
    return p->grad ? p->grad + lo : NULL;
}

static float *at_data(void *arg, int i, int64_t lo) {
    return ((ft_model *)arg)->params[i].data + lo;
}

ft_status ft_dist_allreduce_grads(ft_dist *d, ft_model *m, uint64_t *bytes) {
    if (!d || d->size <= 1)
        return FT_OK;
    ranges r;
    FT_TRY(ranges_alloc(m, &r));
    for (int i = 0; i < m->n_params; i++)
        r.hi[i] = m->params[i].trainable && m->params[i].grad ? m->params[i].numel : 0;
    segs s = {m->n_params, r.lo, r.hi, at_grad, m};
    ft_status st = exchange_segs(d, &s, -1, bytes);
    ranges_free(&r);
    return st;
}

ft_status ft_dist_gather_params(ft_dist *d, ft_model *m, uint64_t *bytes) {
    if (!d || d->size <= 1)
        return FT_OK;
    ranges r;
    FT_TRY(ranges_alloc(m, &r));
    ft_status st = FT_OK;
    for (int q = 0; st == FT_OK && q < d->size; q++) {
        for (int i = 0; i < m->n_params; i++)
            ft_optim_shard_range(m, q, d->size, i, &r.lo[i], &r.hi[i]);
        segs s = {m->n_params, r.lo, r.hi, at_data, m};
        st = exchange_segs(d, &s, q, bytes);
        for (int i = 0; st == FT_OK && q != d->rank && i < m->n_params; i++) {
            ft_param *p = &m->params[i];
            if (m->precision == FT_PREC_BF16 && p->data16 && r.hi[i] > r.lo[i])
                ft_f32_to_bf16_n(p->data16 + r.lo[i], p->data + r.lo[i], r.hi[i] - r.lo[i]);
        }
    }
    ranges_free(&r);
    return st;
}

ft_status ft_dist_same_params(ft_dist *d, const ft_model *m, bool *same) {
    *same = true;
    if (!d || d->size <= 1)
        return FT_OK;
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the values' bits */
    for (int i = 0; i < m->n_params; i++) {
        const ft_param *p = &m->params[i];
        for (int64_t j = 0; p->trainable && j < p->numel; j++) {
            uint32_t bits;
            memcpy(&bits, &p->data[j], sizeof bits);
            h = (h ^ bits) * 1099511628211ull;
        }
    }
    double v[2] = {(double)(h >> 12), -(double)(h >> 12)}; /* 52 bits: exact in a double */
    FT_TRY(ft_dist_allreduce_f64(d, v, 2, true));
    *same = v[0] == -v[1]; /* max == min */
    return FT_OK;
}

typedef struct {
    const ft_optim *shard;
    ft_optim *full;
    bool root, second; /* this rank sends (its shard) / the v moments rather than m */
} optim_pair;

static float *at_moment(void *arg, int i, int64_t lo) {
    const optim_pair *p = arg;
    if (p->root) {
        float *const *src = p->second ? p->shard->v : p->shard->m;
        return src[i];
    }
    if (!p->full)
        return NULL;
    float *const *dst = p->second ? p->full->v : p->full->m;
    return dst[i] ? dst[i] + lo : NULL;
}

ft_status ft_dist_gather_optim(ft_dist *d, const ft_model *m, const ft_optim *shard, ft_optim *full) {
    const int me = ft_dist_rank(d), n = ft_dist_size(d);
    if (me == 0) { /* rank 0's own shard: a copy */
        full->t = shard->t;
        for (int i = 0; i < m->n_params; i++) {
            const int64_t lo = shard->lo ? shard->lo[i] : 0,
                          hi = shard->hi ? shard->hi[i] : (m->params[i].trainable ? m->params[i].numel : 0);
            if (hi <= lo)
                continue;
            if (shard->m[i] && full->m[i])
                memcpy(full->m[i] + lo, shard->m[i], (size_t)(hi - lo) * sizeof(float));
            if (shard->v[i] && full->v[i])
                memcpy(full->v[i] + lo, shard->v[i], (size_t)(hi - lo) * sizeof(float));
        }
    }
    if (n <= 1)
        return FT_OK;
    ranges r;
    FT_TRY(ranges_alloc(m, &r));
    ft_status st = FT_OK;
    uint64_t bytes = 0;
    for (int q = 1; st == FT_OK && q < n; q++)
        for (int second = 0; st == FT_OK && second < 2; second++) {
            if (second && shard->cfg.kind != FT_OPTIM_ADAMW)
                break;
            for (int i = 0; i < m->n_params; i++)
                ft_optim_shard_range(m, q, n, i, &r.lo[i], &r.hi[i]);
            optim_pair pr = {shard, me == 0 ? full : NULL, me == q, second != 0};
            segs s = {m->n_params, r.lo, r.hi, at_moment, &pr};
            st = exchange_segs(d, &s, q, &bytes);
        }
    ranges_free(&r);
    return st;
}
