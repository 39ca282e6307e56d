/* report/tfevents: a TensorBoard event-file writer (scalars only), written from the record and
 * protobuf formats; no TensorFlow or protobuf library involved. Prefix ft_tb_.
 *
 * File: <dir>/events.out.tfevents.<unix_seconds>.<hostname> (".<n>" appended if that name is
 * taken). Each record: uint64 LE length, masked CRC32C of those 8 bytes, the data, masked CRC32C
 * of the data; mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8. The first record is the Event
 * {wall_time, file_version = "brain.Event:2"}; each later one is
 * Event {wall_time = 1 (double), step = 2 (int64), summary = 5 {value = 1 {tag = 1, simple_value = 2}}}. */
#ifndef FT_TFEVENTS_H
#define FT_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

typedef struct ft_tb_writer ft_tb_writer;

/* Create dir (and parents) if needed and open a new event file in it; writes the version record. */
ft_status ft_tb_open(const char *dir, ft_tb_writer **out);
/* One scalar at a step. wall_time: seconds since the Unix epoch; negative = now. The record
 * reaches the kernel before return (fflush), so a crash of the process loses nothing written. */
ft_status ft_tb_scalar(ft_tb_writer *w, const char *tag, int64_t step, float value, double wall_time);
/* n scalars at one step, as one Event with n values (one write). NaN/Inf values are written as is. */
ft_status ft_tb_scalars(ft_tb_writer *w, int64_t step, double wall_time, const char *const *tags,
                        const float *values, size_t n);
/* fflush + fsync: the data survives a machine crash too (call at checkpoints). */
ft_status ft_tb_flush(ft_tb_writer *w);
/* Flush, close and free (always frees; NULL is fine). Reports a failed final write. */
ft_status ft_tb_close(ft_tb_writer *w);
const char *ft_tb_path(const ft_tb_writer *w);

/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor ~0): continue a CRC
 * over more data; start with crc = 0. Uses SSE4.2 crc32 when the CPU has it. */
uint32_t ft_tb_crc32c(uint32_t crc, const void *data, size_t n);
/* The portable table-driven version (same results; exposed so tests can compare both paths). */
uint32_t ft_tb_crc32c_sw(uint32_t crc, const void *data, size_t n);
static inline uint32_t ft_tb_crc_mask(uint32_t crc) {
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

#endif
