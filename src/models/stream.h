/* models/stream: a decoder's frozen base read layer by layer from its checkpoint files into owned slots,
 * ahead of use, for a page cache smaller than the base (train.stream_base, issue 19).
 *
 * The layers' linear-site weights held in place from the mapping (bf16/f16 `half`, a saved int8 checkpoint's
 * `q8`) are read with pread (O_DIRECT where the file system takes it, so the reads neither fill nor evict the
 * page cache) by one background thread into one of two layer-sized slots while the other slot's layer
 * computes. While a layer is in a slot its parameters point into the slot; otherwise they point at the
 * mapping as before, so any reader outside the forward/backward sees the same values (slower). Nothing else
 * changes: the products read the same bytes, so a streamed run is bit-identical to a mapped one. */
#ifndef FT_MODEL_STREAM_H
#define FT_MODEL_STREAM_H

#include "models/model.h"

/* What streaming m would hold and replace: *slot the bytes of one slot (the largest layer's streamable
 * tensors, page-aligned; two are allocated), *streamed the mapped bytes of all layers it takes off the page
 * cache. Both 0 when nothing is streamable (no in-place mapped base weights, not a decoder). */
void ft_model_stream_sizes(const ft_model *m, size_t *slot, size_t *streamed);
/* Start streaming (m->stream): opens the shard files, allocates the two slots and starts the reader thread.
 * FT_ERR_UNSUPPORTED when nothing is streamable; no-op when already on. */
ft_status ft_model_stream_open(ft_model *m);
/* Stop: joins the thread, points every parameter back at the mapping, frees the slots (ft_model_free calls
 * it). */
void ft_model_stream_close(ft_model *m);

typedef struct {
    int64_t loads;  /* layers read into a slot */
    int64_t waits;  /* uses that had to wait for their layer's read (a stall) */
    double wait_s;  /* time spent in those waits */
    double read_s;  /* reader thread's time in pread */
    uint64_t bytes; /* read */
    bool direct;    /* O_DIRECT reads (else buffered pread, dropped from the cache after) */
} ft_stream_stats;
/* Counters since ft_model_stream_open; false when not streaming. */
bool ft_model_stream_stats(const ft_model *m, ft_stream_stats *st);

#endif
