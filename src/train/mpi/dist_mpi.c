/* libftune_mpi.so: the only code compiled against MPI (train/dist_plugin.h). Every collective is the
 * non-blocking form waited on with MPI_Test and short sleeps, so that a wait longer than the timeout ends
 * the job with a message instead of hanging (MPI has no timeout of its own), and so that oversubscribed
 * ranks give the cores back while they wait. Errors return (MPI_ERRORS_RETURN) with MPI's own text. */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "train/dist_plugin.h"

#define FT_EXPORT __attribute__((visibility("default")))

typedef struct {
    MPI_Comm comm;
    double timeout_s;
    int rank;
} mpi_ctx;

static int mpi_err(int rc, const char *what, char *err, size_t n) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "error %d", rc);
    snprintf(err, n, "%s: %s (a rank has probably died)", what, msg);
    return 1;
}

/* Wait for req: poll, sleeping 50 µs at first and up to 1 ms; past the timeout abort the whole job. */
static int wait_req(mpi_ctx *c, MPI_Request *req, const char *what, char *err, size_t n) {
    const double t0 = MPI_Wtime();
    long ns = 50000;
    for (;;) {
        int done = 0;
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_err(rc, what, err, n);
        if (done)
            return 0;
        if (c->timeout_s > 0 && MPI_Wtime() - t0 > c->timeout_s) {
            /* the job cannot continue: say why on this rank's stderr, then take every rank down */
            fprintf(stderr,
                    "ftune: rank %d: %s waited %.0f s for the other ranks (dist.timeout): a rank has died or "
                    "hangs; aborting the job\n",
                    c->rank, what, c->timeout_s);
            fflush(stderr);
            MPI_Abort(c->comm, 3);
            snprintf(err, n, "%s: timed out", what);
            return 1;
        }
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
        ns = ns < 1000000 ? ns * 2 : ns;
    }
}

static int p_init(double timeout_s, void **ctx, int *rank, int *size, char *err, size_t n) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        snprintf(err, n, "MPI_Init failed");
        return 1;
    }
    mpi_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, n, "out of memory");
        return 1;
    }
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &c->comm);
    if (rc != MPI_SUCCESS) {
        free(c);
        return mpi_err(rc, "MPI_Comm_dup", err, n);
    }
    MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(c->comm, &c->rank);
    MPI_Comm_size(c->comm, size);
    c->timeout_s = timeout_s;
    *rank = c->rank;
    *ctx = c;
    return 0;
}

enum { CHUNK = 1 << 28 }; /* elements per MPI call (counts are int) */

static int p_allreduce(void *ctx, void *buf, size_t count, int type, int op, char *err, size_t n) {
    mpi_ctx *c = ctx;
    const MPI_Datatype dt = type == FT_DIST_F64 ? MPI_DOUBLE : MPI_FLOAT;
    const size_t es = type == FT_DIST_F64 ? sizeof(double) : sizeof(float);
    for (size_t at = 0; at < count; at += CHUNK) {
        const size_t k = count - at < CHUNK ? count - at : CHUNK;
        MPI_Request req;
        int rc = MPI_Iallreduce(MPI_IN_PLACE, (char *)buf + at * es, (int)k, dt,
                                op == FT_DIST_MAX ? MPI_MAX : MPI_SUM, c->comm, &req);
        if (rc != MPI_SUCCESS)
            return mpi_err(rc, "MPI_Iallreduce", err, n);
        if (wait_req(c, &req, "an allreduce", err, n))
            return 1;
    }
    return 0;
}

static int p_bcast(void *ctx, void *buf, size_t bytes, int root, char *err, size_t n) {
    mpi_ctx *c = ctx;
    for (size_t at = 0; at < bytes; at += CHUNK) {
        const size_t k = bytes - at < CHUNK ? bytes - at : CHUNK;
        MPI_Request req;
        int rc = MPI_Ibcast((char *)buf + at, (int)k, MPI_BYTE, root, c->comm, &req);
        if (rc != MPI_SUCCESS)
            return mpi_err(rc, "MPI_Ibcast", err, n);
        if (wait_req(c, &req, "a broadcast", err, n))
            return 1;
    }
    return 0;
}

static int p_barrier(void *ctx, char *err, size_t n) {
    mpi_ctx *c = ctx;
    MPI_Request req;
    int rc = MPI_Ibarrier(c->comm, &req);
    if (rc != MPI_SUCCESS)
        return mpi_err(rc, "MPI_Ibarrier", err, n);
    return wait_req(c, &req, "a barrier", err, n);
}

static void p_abort(void *ctx, int code) {
    mpi_ctx *c = ctx;
    MPI_Abort(c ? c->comm : MPI_COMM_WORLD, code);
}

static void p_finalize(void *ctx) {
    mpi_ctx *c = ctx;
    if (c)
        MPI_Comm_free(&c->comm);
    free(c);
    MPI_Finalize();
}

static const ft_dist_ops OPS = {FT_DIST_PLUGIN_ABI, p_init,  p_allreduce, p_bcast,
                                p_barrier,          p_abort, p_finalize};

FT_EXPORT const ft_dist_ops *ft_dist_mpi_ops(void) {
    return &OPS;
}
