/* The CLI's view of a training output and of a recipe's run configs: library modules now
 * (train/trained.h, train/runcfg.h), shared with the C API. */
#ifndef FT_CLI_TRAINED_H
#define FT_CLI_TRAINED_H

#include "train/runcfg.h"
#include "train/trained.h"

#endif
