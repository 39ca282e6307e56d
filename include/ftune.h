/* ftune — fine-tuning pretrained models in C. Public API of libftune. */
#ifndef FTUNE_H
#define FTUNE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FTUNE_VERSION "0.1.0"

/* Every fallible call returns an ft_status; on failure ft_last_error() holds a
 * one-line message naming the file, tensor, field or line at fault. */
typedef enum {
    FT_OK = 0,
    FT_ERR_IO,      /* open/read/write/mmap failed */
    FT_ERR_FORMAT,  /* a file's content is malformed or lies about itself */
    FT_ERR_CONFIG,  /* a config/recipe field is missing or wrong */
    FT_ERR_SHAPE,   /* a tensor has the wrong shape or dtype */
    FT_ERR_MISSING, /* something required does not exist (tensor, key) */
    FT_ERR_RANGE,   /* a value is out of range (token id, sequence length) */
    FT_ERR_NOMEM,   /* allocation failed */
    FT_ERR_ARG,     /* bad argument from the caller */
    FT_ERR_UNSUPPORTED,
    FT_ERR_NUMERIC, /* NaN/Inf where a number was expected */
    FT_ERR_INTERNAL
} ft_status;

/* The message of the last failure on this thread ("" when none). */
const char *ft_last_error(void);
const char *ft_status_name(ft_status s);

#ifdef __cplusplus
}
#endif
#endif
