/* models/stream: the mapped base read ahead layer by layer into two owned slots (see stream.h). */
#define _GNU_SOURCE /* O_DIRECT */
#include "models/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ST_ALIGN ((uint64_t)4096) /* O_DIRECT: buffer, offset and length multiples of the logical block */

typedef struct {
    int param;          /* index into m->params */
    int file;           /* index into ft_stream.fds */
    uint64_t off;       /* the tensor's first byte in its file */
    size_t bytes;       /* its size */
    size_t slot_off;    /* where its aligned read starts in a slot */
    const void *mapped; /* its place in the mapping (what the parameter points at when not in a slot) */
    char *name;         /* the parameter's name (for messages from the reader thread) */
} st_entry;

typedef enum { SLOT_EMPTY = 0, SLOT_QUEUED, SLOT_LOADING, SLOT_READY, SLOT_FAILED } slot_state;

typedef struct {
    uint8_t *buf;
    int layer; /* the layer read (or being read) into it, −1 none */
    slot_state state;
    bool bound; /* the layer's parameters point into buf */
    char err[384];
} st_slot;

typedef struct ft_stream ft_stream;
struct ft_stream {
    ft_model *m; /* the model (the stream rebinds its parameters' half / q8 pointers: through m, as the table
                    may be reallocated when tensors are attached after the stream opened) */
    int n_layers;
    st_entry *e;  /* every layer's entries, layer by layer */
    int n_e;      /* how many (all layers)*/
    int *first;   /* [n_layers + 1]: layer l's entries are e[first[l] .. first[l + 1]) */
    char **paths; /* [nfiles] */
    int *fds;     /* [nfiles] */
    bool *direct; /* [nfiles]: opened with O_DIRECT */
    int nfiles;
    size_t slot_bytes;
    st_slot slot[2];
    int cur; /* the slot of the layer in use, −1 none */
    bool cancel, quit;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started;
    ft_stream_stats stats;
};

/* The streamable weight of one site: in place from the mapping (not an owned half / quantized copy). */
static bool streamable(const ft_param *p) {
    return (p->half && !p->half_owned) || (p->q8 && p->q8_mapped);
}
static const void *mapped_ptr(const ft_param *p) {
    return p->half ? (const void *)p->half : (const void *)p->q8;
}
static size_t param_bytes(const ft_param *p) {
    return p->half ? (size_t)p->numel * sizeof(uint16_t) : (size_t)p->numel;
}
static uint64_t align_up(uint64_t x) {
    return (x + ST_ALIGN - 1) & ~(ST_ALIGN - 1);
}
/* Bytes a tensor at file offset off takes in a slot: from the block holding its first byte to the end of the
 * block holding its last. */
static size_t span(uint64_t off, size_t bytes) {
    return (size_t)(align_up(off + bytes) - (off & ~(ST_ALIGN - 1)));
}

/* Calls fn for each streamable site weight of layer l, with its file and offset (false: stop). */
typedef bool (*site_fn)(void *ctx, int l, int wi, const char *path, uint64_t off);
static bool each_site(const ft_model *m, int l, site_fn fn, void *ctx) {
    for (int s = 0; s < FT_N_SITES; s++) {
        int wi = -1;
        if (!ft_model_site(m, l, (ft_site)s, &wi, NULL, NULL, NULL, NULL, NULL, 0) || wi < 0)
            continue;
        const ft_param *p = &m->params[wi];
        const char *path = NULL;
        uint64_t off = 0;
        if (!streamable(p) || !ft_st_set_locate(m->st, mapped_ptr(p), &path, &off))
            continue;
        if (!fn(ctx, l, wi, path, off))
            return false;
    }
    return true;
}

typedef struct {
    const ft_model *m;
    size_t layer, slot, streamed;
} size_ctx;
static bool size_site(void *ctx, int l, int wi, const char *path, uint64_t off) {
    (void)l, (void)path;
    size_ctx *c = ctx;
    const size_t b = param_bytes(&c->m->params[wi]);
    c->layer += span(off, b);
    c->streamed += b;
    return true;
}

void ft_model_stream_sizes(const ft_model *m, size_t *slot, size_t *streamed) {
    size_ctx c = {.m = m};
    if (m->st && !ft_model_is_encoder(m) && !ft_model_is_vit(m) && !ft_model_is_t5(m))
        for (int l = 0; l < m->cfg.n_layers; l++) {
            c.layer = 0;
            each_site(m, l, size_site, &c);
            c.slot = c.layer > c.slot ? c.layer : c.slot;
        }
    *slot = c.slot;
    *streamed = c.streamed;
}

/* ---- the reader thread ---- */

/* Read [off, off + len) of fd into dst (len and off block-aligned for O_DIRECT); a short file is an error. */
static int read_span(int fd, uint8_t *dst, uint64_t off, size_t need, size_t len, size_t *got) {
    size_t done = 0;
    while (done < need) {
        const size_t chunk = len - done < ((size_t)64 << 20) ? len - done : ((size_t)64 << 20);
        const ssize_t r = pread(fd, dst + done, chunk, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

static void load_layer(ft_stream *s, st_slot *sl, int l, double *secs, uint64_t *bytes) {
    sl->err[0] = 0;
    for (int i = s->first[l]; i < s->first[l + 1]; i++) {
        pthread_mutex_lock(&s->mu);
        const bool cancel = s->cancel;
        pthread_mutex_unlock(&s->mu);
        if (cancel)
            return;
        const st_entry *e = &s->e[i];
        const uint64_t a = e->off & ~(ST_ALIGN - 1);
        const size_t need = (size_t)(e->off + e->bytes - a), len = span(e->off, e->bytes);
        size_t got = 0;
        const double t0 = ft_now();
        int err = read_span(s->fds[e->file], sl->buf + e->slot_off, a, need, len, &got);
        if (err == EINVAL &&
            s->direct[e->file]) { /* the file system refused O_DIRECT here: buffered from now */
            const int fd = open(s->paths[e->file], O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                close(s->fds[e->file]);
                s->fds[e->file] = fd;
                s->direct[e->file] = false;
                err = read_span(fd, sl->buf + e->slot_off, a, need, len, &got);
            }
        }
        if (!err && !s->direct[e->file]) /* keep the page cache for what is mapped */
            (void)posix_fadvise(s->fds[e->file], (off_t)a, (off_t)len, POSIX_FADV_DONTNEED);
        *secs += ft_now() - t0;
        *bytes += got;
        if (err || got < need) {
            snprintf(sl->err, sizeof sl->err,
                     "%s: reading tensor '%s' (%zu bytes at offset %llu) for layer %d: %s", s->paths[e->file],
                     e->name, e->bytes, (unsigned long long)e->off, l,
                     err ? strerror(err) : "the file ends early (truncated since it was opened?)");
            return;
        }
    }
}

static void *reader(void *arg) {
    ft_stream *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        int k = -1;
        while (!s->quit && (k = s->slot[0].state == SLOT_QUEUED   ? 0
                                : s->slot[1].state == SLOT_QUEUED ? 1
                                                                  : -1) < 0)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit)
            break;
        st_slot *sl = &s->slot[k];
        sl->state = SLOT_LOADING;
        const int l = sl->layer;
        pthread_mutex_unlock(&s->mu);
        double secs = 0;
        uint64_t bytes = 0;
        load_layer(s, sl, l, &secs, &bytes);
        pthread_mutex_lock(&s->mu);
        s->stats.read_s += secs;
        s->stats.bytes += bytes;
        if (s->cancel) { /* its layer is not wanted any more */
            sl->state = SLOT_EMPTY;
            sl->layer = -1;
            s->cancel = false;
        } else {
            sl->state = sl->err[0] ? SLOT_FAILED : SLOT_READY;
            s->stats.loads += !sl->err[0];
        }
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- the compute side (the model's thread; the lock held) ---- */

/* Point slot k's layer's parameters into it (bind) or back at the mapping (unbind). A parameter something
 * else changed since (widened, reloaded) is left alone. */
static void bind(ft_stream *s, int k, bool on) {
    st_slot *sl = &s->slot[k];
    if (sl->layer < 0 || sl->bound == on)
        return;
    for (int i = s->first[sl->layer]; i < s->first[sl->layer + 1]; i++) {
        const st_entry *e = &s->e[i];
        ft_param *p = &s->m->params[e->param];
        const void *in_slot = sl->buf + e->slot_off + (e->off & (ST_ALIGN - 1));
        const void *from = on ? e->mapped : in_slot, *to = on ? in_slot : e->mapped;
        if (p->half && (const void *)p->half == from)
            p->half = to;
        else if (p->q8 && (const void *)p->q8 == from)
            p->q8 = (int8_t *)(uintptr_t)to;
    }
    sl->bound = on;
}

/* Slot k free for another layer: an unwanted read in it cancelled and waited for, its layer unbound. */
static void evict(ft_stream *s, int k) {
    st_slot *sl = &s->slot[k];
    if (sl->state == SLOT_QUEUED)
        sl->state = SLOT_EMPTY;
    if (sl->state == SLOT_LOADING) {
        s->cancel = true;
        while (sl->state == SLOT_LOADING)
            pthread_cond_wait(&s->cv, &s->mu);
        s->cancel = false;
    }
    bind(s, k, false);
    sl->state = SLOT_EMPTY;
    sl->layer = -1;
}

static void request(ft_stream *s, int k, int layer) {
    evict(s, k);
    s->slot[k].layer = layer;
    s->slot[k].state = SLOT_QUEUED;
    pthread_cond_broadcast(&s->cv);
}

static int slot_of(const ft_stream *s, int layer) {
    for (int k = 0; k < 2; k++)
        if (s->slot[k].layer == layer && s->slot[k].state != SLOT_EMPTY)
            return k;
    return -1;
}

static ft_status use_layer(ft_stream *s, int layer, int next) {
    int k = slot_of(s, layer);
    if (k < 0) { /* not read ahead: read it now, into the slot not in use */
        k = s->cur >= 0 ? 1 - s->cur : 0;
        request(s, k, layer);
    }
    st_slot *sl = &s->slot[k];
    if (sl->state == SLOT_QUEUED || sl->state == SLOT_LOADING) {
        const double t0 = ft_now();
        while (sl->state == SLOT_QUEUED || sl->state == SLOT_LOADING)
            pthread_cond_wait(&s->cv, &s->mu);
        s->stats.waits++;
        s->stats.wait_s += ft_now() - t0;
    }
    if (sl->state == SLOT_FAILED) {
        const ft_status st = ft_fail(FT_ERR_IO, "%s", sl->err);
        sl->state = SLOT_EMPTY; /* a later use tries again */
        sl->layer = -1;
        return st;
    }
    bind(s, k, true);
    s->cur = k;
    if (next >= 0 && next < s->n_layers && next != layer && slot_of(s, next) < 0 &&
        s->first[next + 1] > s->first[next])
        request(s, 1 - k, next);
    return FT_OK;
}

static bool prefetch_site(void *ctx, int l, int wi, const char *path, uint64_t off) {
    (void)l, (void)path, (void)off;
    const ft_param *p = &((const ft_model *)ctx)->params[wi];
    ft_prefetch_mapped_pages(mapped_ptr(p), param_bytes(p));
    return true;
}

void ft_model_prefetch_layer(const ft_model *m, int layer) {
    if (layer >= 0 && layer < m->cfg.n_layers && !m->no_prefetch && m->st)
        each_site(m, layer, prefetch_site, (void *)(uintptr_t)m);
}

ft_status ft_model_layer_begin(const ft_model *m, int layer, int next) {
    ft_stream *s = m->stream;
    if (!s) {
        ft_model_prefetch_layer(m, next);
        return FT_OK;
    }
    if (layer < 0 || layer >= s->n_layers || s->first[layer + 1] == s->first[layer])
        return FT_OK; /* nothing of this layer is streamed */
    pthread_mutex_lock(&s->mu);
    const ft_status st = use_layer(s, layer, next);
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* ---- open / close ---- */

typedef struct {
    ft_stream *s;
    const ft_model *m;
    size_t cap, n, slot_off;
    ft_status st;
} open_ctx;

static int file_index(ft_stream *s, const char *path) {
    for (int i = 0; i < s->nfiles; i++)
        if (!strcmp(s->paths[i], path))
            return i;
    return -1;
}

static bool add_entry(void *ctx, int l, int wi, const char *path, uint64_t off) {
    (void)l;
    open_ctx *c = ctx;
    ft_stream *s = c->s;
    int f = file_index(s, path);
    if (f < 0) {
        char **np = realloc(s->paths, sizeof *np * (size_t)(s->nfiles + 1));
        int *nf = realloc(s->fds, sizeof *nf * (size_t)(s->nfiles + 1));
        bool *nd = realloc(s->direct, sizeof *nd * (size_t)(s->nfiles + 1));
        if (np)
            s->paths = np;
        if (nf)
            s->fds = nf;
        if (nd)
            s->direct = nd;
        if (!np || !nf || !nd || !(s->paths[s->nfiles] = strdup(path)))
            return (c->st = FT_ERR_NOMEM), false;
        f = s->nfiles++;
        const char *nd_env = getenv("FTUNE_STREAM_NO_DIRECT"); /* buffered reads (tests, odd file systems) */
        s->direct[f] = !(nd_env && *nd_env && strcmp(nd_env, "0"));
        s->fds[f] = s->direct[f] ? open(path, O_RDONLY | O_CLOEXEC | O_DIRECT) : -1;
        if (s->fds[f] < 0) { /* tmpfs and some others refuse O_DIRECT */
            s->direct[f] = false;
            s->fds[f] = open(path, O_RDONLY | O_CLOEXEC);
        }
        if (s->fds[f] < 0) {
            c->st = ft_fail(FT_ERR_IO, "%s: cannot open for streaming the base: %s", path, strerror(errno));
            return false;
        }
    }
    if (c->n == c->cap) {
        const size_t cap = c->cap ? 2 * c->cap : 64;
        st_entry *ne = realloc(s->e, sizeof *ne * cap);
        if (!ne)
            return (c->st = FT_ERR_NOMEM), false;
        s->e = ne, c->cap = cap;
    }
    const ft_param *p = &c->m->params[wi];
    char *name = strdup(p->name);
    if (!name)
        return (c->st = FT_ERR_NOMEM), false;
    s->e[c->n++] = (st_entry){.param = wi,
                              .file = f,
                              .off = off,
                              .bytes = param_bytes(p),
                              .slot_off = c->slot_off,
                              .mapped = mapped_ptr(p),
                              .name = name};
    c->slot_off += span(off, param_bytes(p));
    return true;
}

ft_status ft_model_stream_open(ft_model *m) {
    if (m->stream)
        return FT_OK;
    size_t slot = 0, streamed = 0;
    ft_model_stream_sizes(m, &slot, &streamed);
    if (!slot)
        return ft_fail(
            FT_ERR_UNSUPPORTED,
            "streaming the base needs a decoder whose layer weights are used in place from the checkpoint "
            "(a bf16/f16 file with train.base_dtype auto/file, or a saved int8 checkpoint)");
    ft_stream *s = calloc(1, sizeof *s);
    if (!s)
        return FT_ERR_NOMEM;
    s->m = m;
    s->n_layers = m->cfg.n_layers;
    s->cur = -1;
    s->slot_bytes = slot;
    s->first = calloc((size_t)m->cfg.n_layers + 1, sizeof *s->first);
    open_ctx c = {.s = s, .m = m, .st = FT_OK};
    ft_status st = s->first ? FT_OK : FT_ERR_NOMEM;
    for (int l = 0; st == FT_OK && l < m->cfg.n_layers; l++) {
        s->first[l] = (int)c.n;
        c.slot_off = 0;
        if (!each_site(m, l, add_entry, &c))
            st = c.st;
    }
    s->n_e = (int)c.n;
    if (st == FT_OK) {
        s->first[m->cfg.n_layers] = (int)c.n;
        for (int k = 0; k < 2 && st == FT_OK; k++) {
            s->slot[k].layer = -1;
            if (posix_memalign((void **)&s->slot[k].buf, ST_ALIGN, slot))
                st = ft_fail(FT_ERR_NOMEM, "streaming the base: a %.1f MiB layer slot",
                             (double)slot / 1048576.0);
        }
    }
    if (st == FT_OK) {
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, NULL);
        if (pthread_create(&s->thread, NULL, reader, s)) {
            pthread_mutex_destroy(&s->mu);
            pthread_cond_destroy(&s->cv);
            st = ft_fail(FT_ERR_IO, "streaming the base: cannot start the reader thread");
        } else
            s->started = true;
    }
    if (st != FT_OK) {
        m->stream = s;
        ft_model_stream_close(m);
        return st;
    }
    s->stats.direct = true;
    for (int i = 0; i < s->nfiles; i++)
        s->stats.direct &= s->direct[i];
    m->stream = s;
    return FT_OK;
}

void ft_model_stream_close(ft_model *m) {
    ft_stream *s = m->stream;
    if (!s)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        for (int k = 0; k < 2; k++)
            evict(s, k);
        s->quit = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
    }
    for (int k = 0; k < 2; k++)
        free(s->slot[k].buf);
    for (int i = 0; i < s->nfiles; i++) {
        if (s->fds[i] >= 0)
            close(s->fds[i]);
        free(s->paths[i]);
    }
    free(s->paths);
    free(s->fds);
    free(s->direct);
    for (int i = 0; i < s->n_e; i++)
        free(s->e[i].name);
    free(s->e);
    free(s->first);
    free(s);
    m->stream = NULL;
}

bool ft_model_stream_stats(const ft_model *m, ft_stream_stats *st) {
    ft_stream *s = m->stream;
    if (!s)
        return false;
    pthread_mutex_lock(&s->mu);
    *st = s->stats;
    pthread_mutex_unlock(&s->mu);
    return true;
}
