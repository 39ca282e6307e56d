/* train/dist_plugin: the table of functions the MPI plugin (libftune_mpi.so, src/train/mpi/) exports as
 * ft_dist_mpi_ops(); train/dist.c dlopens it and checks abi first. Plain C types only, so the plugin is the
 * one object compiled against <mpi.h>. Each call returns 0, or non-zero with a message in err[0..n). */
#ifndef FT_DIST_PLUGIN_H
#define FT_DIST_PLUGIN_H

#include <stddef.h>

#define FT_DIST_PLUGIN_ABI 1

enum { FT_DIST_F32 = 0, FT_DIST_F64 = 1 }; /* element types */
enum { FT_DIST_SUM = 0, FT_DIST_MAX = 1 }; /* reductions */

typedef struct {
    int abi; /* FT_DIST_PLUGIN_ABI */
    /* MPI_Init; *ctx the plugin's state; a collective waiting more than timeout_s (> 0) aborts the job */
    int (*init)(double timeout_s, void **ctx, int *rank, int *size, char *err, size_t n);
    int (*allreduce)(void *ctx, void *buf, size_t count, int type, int op, char *err, size_t n);
    int (*bcast)(void *ctx, void *buf, size_t bytes, int root, char *err, size_t n);
    int (*barrier)(void *ctx, char *err, size_t n);
    void (*abort_job)(void *ctx, int code); /* MPI_Abort: the other ranks stop too */
    void (*finalize)(void *ctx);            /* MPI_Finalize and free ctx */
} ft_dist_ops;

typedef const ft_dist_ops *(*ft_dist_ops_fn)(void);
#define FT_DIST_PLUGIN_SYMBOL "ft_dist_mpi_ops"

#endif
