/* io/json: JSON text exactly as Python's json.dumps(obj, indent=2, sort_keys=True) writes it
 * (what transformers and PEFT write for config.json / adapter_config.json). Prefix ft_json_. */
#ifndef FT_JSON_H
#define FT_JSON_H

#include <cjson/cJSON.h>

#include "core/core.h"

/* Returns a malloc'ed string ending in "\n" (NULL on OOM, message set). Integral numbers print as
 * integers, others as the shortest repr that round-trips; strings are ASCII-escaped. */
char *ft_json_dump_py(const cJSON *v, bool sort_keys);
/* Write it atomically to path. */
ft_status ft_json_write_file(const char *path, const cJSON *v, bool sort_keys);

#endif
