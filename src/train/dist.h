/* train/dist: data-parallel training over MPI (docs/distributed.md). libftune itself never links MPI: when
 * the process was started by an MPI launcher with more than one rank (OMPI_COMM_WORLD_SIZE, PMI_SIZE,
 * PMIX_RANK in the environment), ft_dist_init dlopens the plugin libftune_mpi.so (train/mpi/dist_mpi.c,
 * built with FT_MPI) and calls MPI_Init through it; otherwise there is no ft_dist (NULL) and every function
 * below acts as the one-rank identity. The trainer is the only caller: it shards each global batch, sums
 * the trainable gradients over the ranks (ft_dist_allreduce_grads, bucketed), agrees on decisions through
 * ft_dist_allreduce_f64 / ft_dist_bcast, and for ZeRO-1 all-gathers the updated parameter slices. */
#ifndef FT_DIST_H
#define FT_DIST_H

#include "train/optim.h"

typedef struct ft_dist ft_dist;

/* Ranks the launcher announced in the environment (1 when none). */
int ft_dist_launched_size(void);
/* Whether an MPI launcher (mpirun, srun) started this process, with any number of ranks. */
bool ft_dist_launched(void);
/* OpenMPI's delay between its SIGTERM to the ranks and its SIGKILL (MCA odls_base_sigkill_timeout, as
 * mpirun passes it to the ranks' environment): its value, 1 (OpenMPI's default) when not set there, 0 when
 * the launcher is not OpenMPI's. */
int ft_dist_sigkill_timeout(void);
/* Join the job: *out = NULL for a single process (no launcher, or one rank); an error when a launcher
 * asked for more ranks and the plugin cannot be loaded. timeout_s > 0: a collective waiting longer aborts
 * the job with a message (a rank died or hangs). */
ft_status ft_dist_init(double timeout_s, ft_dist **out);
/* Leave the job: MPI_Finalize; failed: MPI_Abort instead, so the other ranks stop rather than wait. */
void ft_dist_end(ft_dist *d, bool failed);
int ft_dist_rank(const ft_dist *d); /* 0 without MPI */
int ft_dist_size(const ft_dist *d); /* 1 without MPI */

/* v[0..n) summed (max = false) or maximised over the ranks, in place. */
ft_status ft_dist_allreduce_f64(ft_dist *d, double *v, size_t n, bool max);
ft_status ft_dist_bcast(ft_dist *d, void *buf, size_t bytes, int root);
ft_status ft_dist_barrier(ft_dist *d);
/* Every trainable gradient summed over the ranks, a bucket (4 MiB) at a time; *bytes += the payload. */
ft_status ft_dist_allreduce_grads(ft_dist *d, ft_model *m, uint64_t *bytes);
/* ZeRO-1 after the update: each rank's slice of the trainable values (ft_optim_shard_range) to every
 * rank, and the bf16 copies of what arrived refreshed; *bytes += the payload. */
ft_status ft_dist_gather_params(ft_dist *d, ft_model *m, uint64_t *bytes);
/* *same = whether every rank holds the same bits in every trainable tensor (a 52-bit hash of each rank's
 * values, compared by one allreduce); true without MPI. */
ft_status ft_dist_same_params(ft_dist *d, const ft_model *m, bool *same);
/* ZeRO-1: the moments of every rank's shard into full (an unsharded optimizer) on rank 0, for a
 * checkpoint; full is only written on rank 0 and may be NULL elsewhere. */
ft_status ft_dist_gather_optim(ft_dist *d, const ft_model *m, const ft_optim *shard, ft_optim *full);

#endif
