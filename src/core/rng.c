#include <math.h>

#include "core/core.h"

static inline uint64_t mix64(uint64_t z) { /* splitmix64 finalizer */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t ft_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter) {
    uint64_t z = mix64(seed + 0x9e3779b97f4a7c15ULL);
    z = mix64(z ^ (stream * 0xd1b54a32d192ed03ULL + 0x9e3779b97f4a7c15ULL));
    return mix64(z ^ (counter * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL));
}

float ft_rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter) {
    return (float)(ft_rng_u64(seed, stream, counter) >> 40) * (1.0f / 16777216.0f);
}

float ft_rng_normal(uint64_t seed, uint64_t stream, uint64_t counter) {
    /* Box-Muller on two independent draws from the same coordinates. */
    uint64_t r = ft_rng_u64(seed, stream, counter);
    double u1 = ((double)(r >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(ft_rng_u64(seed ^ 0x5851f42d4c957f2dULL, stream, counter) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
