/* io/safetensors: memory-mapped reader (validated before use), sharded checkpoints
 * (model.safetensors.index.json), atomic writer. Prefix ft_st_. */
#ifndef FT_SAFETENSORS_H
#define FT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

typedef enum { FT_DT_F32 = 0, FT_DT_F16, FT_DT_BF16, FT_DT_I64, FT_DT_I32, FT_DT_U8, FT_DT_I8, FT_DT_BOOL } ft_dtype;
size_t ft_dtype_size(ft_dtype dt);
const char *ft_dtype_name(ft_dtype dt); /* "F32", "BF16", ... as safetensors spells them */
/* Parse a safetensors dtype string; FT_ERR_FORMAT naming it when unknown. */
ft_status ft_dtype_parse(const char *s, ft_dtype *out);

#define FT_MAX_DIMS 8
typedef struct {
    const char *name;
    ft_dtype dtype;
    int ndim;
    int64_t shape[FT_MAX_DIMS];
    int64_t numel;
    const void *data; /* points into the mapping; valid until the file is closed */
    size_t nbytes;
} ft_st_tensor;

/* ---- one file ---- */
typedef struct ft_st_file ft_st_file;
/* mmap + validate: header size sane (2 <= n <= 100 MB and inside the file), JSON well-formed,
 * every entry has a known dtype, shape, data_offsets; shape x dtype size == byte span; spans inside
 * the data section and not overlapping. Errors name the file and the tensor. */
ft_status ft_st_open(const char *path, ft_st_file **out);
void ft_st_close(ft_st_file *f);
const char *ft_st_path(const ft_st_file *f);
size_t ft_st_count(const ft_st_file *f);
const ft_st_tensor *ft_st_at(const ft_st_file *f, size_t i); /* in file order */
const ft_st_tensor *ft_st_find(const ft_st_file *f, const char *name); /* NULL if absent */
const char *ft_st_metadata(const ft_st_file *f, const char *key); /* "__metadata__" entry or NULL */

/* ---- a checkpoint directory: model.safetensors or the shards listed in
 * model.safetensors.index.json (every listed tensor must be in the shard the index names) ---- */
typedef struct ft_st_set ft_st_set;
ft_status ft_st_set_open_dir(const char *dir, ft_st_set **out);
/* Open a set from one explicit file (no index). */
ft_status ft_st_set_open_file(const char *path, ft_st_set **out);
void ft_st_set_close(ft_st_set *s);
size_t ft_st_set_count(const ft_st_set *s);
const ft_st_tensor *ft_st_set_at(const ft_st_set *s, size_t i);
/* Find a tensor by name; *file_out (optional) gets the path of the file holding it. */
const ft_st_tensor *ft_st_set_find(const ft_st_set *s, const char *name, const char **file_out);
size_t ft_st_set_total_bytes(const ft_st_set *s); /* sum of file sizes */
/* Where a pointer into one of the set's mappings lies: the file's path and the byte offset in it (for
 * reading the same bytes with pread). false when p is in none of them. */
bool ft_st_set_locate(const ft_st_set *s, const void *p, const char **path, uint64_t *offset);

/* ---- writer: collects tensors (data referenced, not copied, until write) and writes them
 * atomically (stream to <path>.tmp.<pid>, fsync, rename). Header JSON padded with spaces to a
 * multiple of 8; metadata written under "__metadata__". ---- */
typedef struct ft_st_writer ft_st_writer;
ft_st_writer *ft_st_writer_new(void); /* NULL on OOM (message set) */
void ft_st_writer_free(ft_st_writer *w);
/* Add a tensor; name copied; data must stay valid until write. Duplicate names are an error. */
ft_status ft_st_writer_add(ft_st_writer *w, const char *name, ft_dtype dt, int ndim, const int64_t *shape,
                           const void *data);
ft_status ft_st_writer_set_metadata(ft_st_writer *w, const char *key, const char *value);
ft_status ft_st_writer_write(ft_st_writer *w, const char *path);
/* Write as shards of at most max_shard_bytes each: <dir>/model-00001-of-0000N.safetensors and
 * <dir>/model.safetensors.index.json (as HF writes them); a single file model.safetensors when it fits. */
ft_status ft_st_writer_write_dir(ft_st_writer *w, const char *dir, size_t max_shard_bytes);

#endif
