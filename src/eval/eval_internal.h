/* eval internals: a byte-string hash map, Python-compatible whitespace, UTF-8 decoding. */
#ifndef FT_EVAL_INTERNAL_H
#define FT_EVAL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Open-addressing map from byte strings to int64 values. Keys are NOT copied: the caller keeps the
 * bytes alive while they are in the map (n-gram keys point into token-id arrays). */
typedef struct {
    const void *key;
    size_t len;
    uint64_t hash;
    int64_t val;
} ft_em_slot;
typedef struct {
    ft_em_slot *slots;
    size_t cap, used;   /* cap is a power of two; key == NULL marks a free slot */
} ft_emap;

void ft_emap_init(ft_emap *m);
void ft_emap_clear(ft_emap *m); /* keeps the allocation */
void ft_emap_free(ft_emap *m);
/* Pointer to the value of key (inserted with value `init` if absent); NULL on allocation failure. */
int64_t *ft_emap_get(ft_emap *m, const void *key, size_t len, int64_t init);
/* Value of key, or `missing`. */
int64_t ft_emap_find(const ft_emap *m, const void *key, size_t len, int64_t missing);

/* Byte length of the whitespace character at s (as Python's str.isspace()), 0 if none. */
size_t ft_eval_space_len(const char *s);
/* Decode one UTF-8 code point at s (n bytes left); invalid bytes decode as 0xDC00 + byte (like
 * Python's surrogateescape), so nothing is lost. Sets *adv to the bytes consumed. */
uint32_t ft_eval_utf8_next(const unsigned char *s, size_t n, size_t *adv);
/* Append the UTF-8 encoding of cp to out (at least 4 bytes room); returns bytes written. */
size_t ft_eval_utf8_put(uint32_t cp, char *out);

#endif
