/* rng.h: small deterministic random streams.
 * Every random quantity in ijepa.c is a pure function of (seed, purpose, index)
 * through a splitmix64 hash, so runs resume bit-exactly without saving RNG state.
 */
#ifndef IJEPA_CORE_RNG_H
#define IJEPA_CORE_RNG_H

#include <stdint.h>

typedef struct { uint64_t s; } IjRng;

/* Hash of up to three words (splitmix64 finaliser chain). */
uint64_t ij_hash3(uint64_t a, uint64_t b, uint64_t c);
/* A stream seeded from (seed, purpose, index). */
static inline IjRng ij_rng(uint64_t seed, uint64_t purpose, uint64_t index)
{
    IjRng r = {ij_hash3(seed, purpose, index)};
    return r;
}
uint64_t ij_rng_u64(IjRng *r);
/* Uniform in [0, 1) with 53 random bits. */
double ij_rng_uniform(IjRng *r);
/* Uniform integer in [0, n). */
uint64_t ij_rng_below(IjRng *r, uint64_t n);
/* Standard normal (Box-Muller, one value per call). */
double ij_rng_normal(IjRng *r);

#endif
