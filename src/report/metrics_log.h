/* report/metrics_log: metrics.jsonl, one JSON object per line:
 *   {"step": N, "time": seconds, "<tag>": value, ...}
 * appended (a resumed run continues the same file) and flushed line by line, so `tail -f` and a
 * crashed run both see every finished line. Prefix ft_log_. */
#ifndef FT_METRICS_LOG_H
#define FT_METRICS_LOG_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/core.h"

typedef struct ft_log ft_log;

/* Open path for appending (created if absent; its directory must exist). */
ft_status ft_log_open(const char *path, ft_log **out);
/* One line: step, time (seconds, as the caller measures them: wall-clock since the epoch or since
 * the run began), then n numeric fields in order. Keys must be non-empty, distinct and not "step"
 * or "time". Non-finite values are written as null (JSON has no NaN). */
ft_status ft_log_write(ft_log *l, int64_t step, double time, const char *const *keys,
                       const double *values, size_t n);
/* One line from a caller-built object (any values: strings, nested objects); "step" and "time"
 * are put first and must not be in obj. obj is not modified or freed. */
ft_status ft_log_write_obj(ft_log *l, int64_t step, double time, const cJSON *obj);
/* Close and free (NULL is fine); reports a failed final flush. */
ft_status ft_log_close(ft_log *l);
const char *ft_log_path(const ft_log *l);

#endif
