/* api/api_dataset: the dataset handle behind ftune_dataset (rows as data/dataset.h holds them), shared by
 * ftune_api.c (datasets for a trainer) and api_data.c (reading, cleaning, splitting, writing). Internal. */
#ifndef FT_API_DATASET_H
#define FT_API_DATASET_H

#include <string.h>

#include "data/dataset.h"
#include "ftune.h"

struct ftune_dataset {
    ftune_ctx *ctx;
    ft_data_recs recs;
};

/* Each line of text (a summary written to a memory stream; may be NULL) to on_log, without its newline. */
static inline void api_log_lines(char *text, ftune_log_fn on_log, void *user) {
    for (char *line = text, *nl; on_log && line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        on_log(user, line);
    }
}

#endif
